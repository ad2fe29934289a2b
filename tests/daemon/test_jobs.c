/* Unit tests of brownoutd's sweep specs (jobs.c) and configuration
 * (config.c): what POST /jobs and --config accept and refuse, and that a
 * stored spec parses back to itself. The HTTP layer on top is tested over
 * a real socket by tests/daemon/test_api.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brownoutd.h"

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	assert_non_null(j);
	return j;
}

/* spec text -> status, and the field the error names */
static bo_status try_spec(const char *text, char *field, size_t size)
{
	struct bo_job_spec s;
	struct bo_error err;
	json_t *j = parse(text);
	bo_error_clear(&err);
	bo_status rc = bo_job_spec_parse(j, &s, &err);
	json_decref(j);
	if (rc == BO_OK)
		bo_job_spec_release(&s);
	else
		assert_true(err.text[0] != 0); /* every refusal says why */
	snprintf(field, size, "%s", err.field);
	return rc;
}

static void test_spec_defaults(void **state)
{
	(void)state;
	struct bo_job_spec s;
	struct bo_error err;
	json_t *j = parse("{\"model\": 3, \"dataset\": 4, \"p\": \"1e-4:1e-2:3\"}");
	assert_int_equal(bo_job_spec_parse(j, &s, &err), BO_OK);
	assert_int_equal(s.model, 3);
	assert_int_equal(s.dataset, 4);
	assert_int_equal(s.deviation, BO_DEV_BM);
	assert_int_equal(s.target, BO_TARGET_BOTH);
	assert_int_equal(s.sites, BO_SITES_RELU);
	assert_int_equal(s.trials, 5);
	assert_int_equal(s.bits, 8);
	assert_int_equal(s.calib, 256);
	assert_int_equal(s.seed, 1);
	assert_int_equal(s.n_p, 3);
	assert_true(s.p[0] == 1e-4 && s.p[2] == 1e-2);
	assert_true(s.p[1] > 9.99e-4 && s.p[1] < 1.001e-3); /* log-spaced */
	assert_true(s.energy_a == BO_ENERGY_A);
	assert_int_equal(bo_job_spec_first_trials(&s), 5);
	bo_job_spec_release(&s);
	json_decref(j);
}

static void test_spec_refusals(void **state)
{
	(void)state;
	char f[64];
	static const struct {
		const char *text, *field;
		bo_status st;
	} cases[] = {
		{ "{\"dataset\": 1, \"p\": [0.1]}", "model", BO_EINVAL },
		{ "{\"model\": 1, \"p\": [0.1]}", "dataset", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1}", "p", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"trails\": 3}", "trails", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [1.5]}", "p", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [-0.1]}", "p", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": []}", "p", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": \"0:1:3\"}", "p", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": \"1e-3:1e-2:0\"}", "p", BO_EINVAL },
		{ "{\"model\": 0, \"dataset\": 1, \"p\": [0.1]}", "model", BO_EINVAL },
		{ "{\"model\": \"1\", \"dataset\": 1, \"p\": [0.1]}", "model", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"bits\": 1}", "bits", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"bits\": 17}", "bits", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"trials\": 0}", "trials", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"trials\": 3, \"ci_target\": 0.01}",
		  "trials", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"ci_target\": 0.01, \"min_trials\": 9,"
		  " \"max_trials\": 4}",
		  "min_trials", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"deviation\": \"flip\"}", "deviation",
		  BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"target\": \"all\"}", "target",
		  BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"std\": [0]}", "std", BO_EINVAL },
		/* finite as a double, inf as a float (found by fuzz_jobspec) */
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"mean\": [1e39]}", "mean",
		  BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"priority\": 11}", "priority",
		  BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"blocks\": \"@/etc/passwd\"}", "blocks",
		  BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"block_p\": \"layer1\"}", "block_p",
		  BO_EINVAL },
		{ "[1, 2]", "", BO_EINVAL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bo_status st = try_spec(cases[i].text, f, sizeof(f));
		if (st != cases[i].st || strcmp(f, cases[i].field))
			fail_msg("%s: status %d field '%s', want %d '%s'", cases[i].text, st, f,
				 cases[i].st, cases[i].field);
	}
}

/* The stored (normalised) spec parses back to the same spec, adaptive
 * trials included (trials is null there). */
static void test_spec_round_trip(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"{\"model\": 2, \"dataset\": 5, \"p\": [0, 0.001, 1], \"deviation\": \"erasure\","
		" \"target\": \"weights\", \"trials\": 7, \"seed\": 99, \"bits\": 6, \"limit\": 100,"
		" \"references\": [3, 4], \"mean\": [0.5], \"std\": [0.25], \"priority\": -2,"
		" \"block_p\": \"layer1=2p,*=0\", \"blocks\": \"/layer1=early,/layer2=early\"}",
		"{\"model\": 1, \"dataset\": 1, \"p\": [0.01], \"ci_target\": 0.005,"
		" \"min_trials\": 4, \"max_trials\": 40, \"activation_sites\": \"conv-inputs\"}",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct bo_job_spec a, b;
		struct bo_error err;
		json_t *j = parse(texts[i]);
		if (bo_job_spec_parse(j, &a, &err) != BO_OK)
			fail_msg("%s: %s (field %s)", texts[i], err.text, err.field);
		json_t *norm = bo_job_spec_json(&a);
		char *t1 = json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
		if (bo_job_spec_parse(norm, &b, &err) != BO_OK)
			fail_msg("%s: %s (field %s)", t1, err.text, err.field);
		json_t *again = bo_job_spec_json(&b);
		char *t2 = json_dumps(again, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
		assert_string_equal(t1, t2);
		assert_int_equal(a.n_p, b.n_p);
		assert_memory_equal(a.p, b.p, (size_t)a.n_p * sizeof(double));
		assert_true(a.ci_target == b.ci_target);
		assert_int_equal(bo_job_spec_first_trials(&b), a.ci_target > 0 ? a.min_trials : a.trials);
		if (a.ci_target > 0)
			assert_true(json_is_null(json_object_get(norm, "trials")));
		free(t1);
		free(t2);
		json_decref(again);
		json_decref(norm);
		json_decref(j);
		bo_job_spec_release(&a);
		bo_job_spec_release(&b);
	}
}

static void test_config(void **state)
{
	(void)state;
	struct bo_config c;
	struct bo_error err;
	char path[] = "/tmp/brownoutd-conf-XXXXXX";
	bo_config_defaults(&c);
	assert_int_equal(c.listen_port, 8080);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(bo_config_set(&c, "listen", "0.0.0.0:0", &err), 0);
	assert_int_equal(c.listen_port, 0);
	assert_string_equal(c.listen_host, "0.0.0.0");
	assert_int_equal(bo_config_set(&c, "upload-limit", "2M", &err), 0);
	assert_int_equal(c.upload_limit, 2 << 20);
	assert_int_equal(bo_config_set(&c, "workers", "0", &err), -1);
	assert_string_equal(err.field, "workers");
	assert_int_equal(bo_config_set(&c, "listen", "host:99999", &err), -1);
	assert_int_equal(bo_config_set(&c, "upload-limit", "9999999999999G", &err), -1);
	assert_int_equal(bo_config_set(&c, "upload-limit", "-1K", &err), -1);
	assert_int_equal(bo_config_set(&c, "colour", "blue", &err), -1);
	assert_non_null(strstr(err.text, "unknown option 'colour'"));
	assert_int_equal(bo_config_set(&c, "dataset-root", "/nonexistent/brownout", &err), -1);

	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# comment\n\nworkers = 3\n  public-read = true  \nweb=/srv/web\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	bo_config_defaults(&c);
	assert_int_equal(bo_config_file(&c, path, &err), 0);
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.public_read, 1);
	assert_string_equal(c.web_dir, "/srv/web");
	/* a bad line is named by file and line number */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("workers = 2\nthreads-per-worker two\n", f);
	fclose(f);
	assert_int_equal(bo_config_file(&c, path, &err), -1);
	assert_non_null(strstr(err.text, ":2:"));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("workers = 2\nqueue-limit = -1\n", f);
	fclose(f);
	assert_int_equal(bo_config_file(&c, path, &err), -1);
	assert_non_null(strstr(err.text, ":2: queue-limit"));
	unlink(path);
	assert_int_equal(bo_config_file(&c, path, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_defaults),
		cmocka_unit_test(test_spec_refusals),
		cmocka_unit_test(test_spec_round_trip),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
