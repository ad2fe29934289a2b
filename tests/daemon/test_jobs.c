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
#include "jobs.h"
#include "../unit/common_onnx.h" /* models built in memory */

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
	struct bd_job_spec s;
	struct bo_error err;
	json_t *j = parse(text);
	bo_error_clear(&err);
	bo_status rc = bd_job_spec_parse(j, &s, &err);
	json_decref(j);
	if (rc == BO_OK)
		bd_job_spec_release(&s);
	else
		assert_true(err.text[0] != 0); /* every refusal says why */
	snprintf(field, size, "%s", err.field);
	return rc;
}

static void test_spec_defaults(void **state)
{
	(void)state;
	struct bd_job_spec s;
	struct bo_error err;
	json_t *j = parse("{\"model\": 3, \"dataset\": 4, \"p\": \"1e-4:1e-2:3\"}");
	assert_int_equal(bd_job_spec_parse(j, &s, &err), BO_OK);
	assert_int_equal(s.model, 3);
	assert_int_equal(s.dataset, 4);
	assert_int_equal(s.deviation, BO_DEV_BM);
	assert_int_equal(s.target, BO_TARGET_BOTH);
	assert_int_equal(s.sites, BO_SITES_ACTIVATIONS);
	assert_int_equal(s.trials, 5);
	assert_int_equal(s.bits, 8);
	assert_int_equal(s.calib, 256);
	assert_int_equal(s.seed, 1);
	assert_int_equal(s.n_p, 3);
	assert_true(s.p[0] == 1e-4 && s.p[2] == 1e-2);
	assert_true(s.p[1] > 9.99e-4 && s.p[1] < 1.001e-3); /* log-spaced */
	assert_true(s.energy_a == BO_ENERGY_A);
	assert_int_equal(bd_job_spec_first_trials(&s), 5);
	bd_job_spec_release(&s);
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
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"activation_sites\": \"all\"}",
		  "activation_sites", BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"activation_sites\": 2}",
		  "activation_sites", BO_EINVAL },
		{ "[1, 2]", "", BO_EINVAL },
		/* finite as a double, inf as the float the sweep computes in */
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"mean\": [1e39]}", "mean",
		  BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"mean\": [0, -4e38]}", "mean",
		  BO_EINVAL },
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"std\": [1e39]}", "std",
		  BO_EINVAL },
		/* positive as a double, 0 as a float */
		{ "{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"std\": [1e-50]}", "std",
		  BO_EINVAL },
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
		("{\"model\": 2, \"dataset\": 5, \"p\": [0, 0.001, 1], \"deviation\": \"erasure\","
		 " \"target\": \"weights\", \"trials\": 7, \"seed\": 99, \"bits\": 6, \"limit\": 100,"
		 " \"references\": [3, 4], \"mean\": [0.5], \"std\": [0.25], \"priority\": -2,"
		 " \"block_p\": \"layer1=2p,*=0\", \"blocks\": \"/layer1=early,/layer2=early\"}"),
		("{\"model\": 1, \"dataset\": 1, \"p\": [0.01], \"ci_target\": 0.005,"
		 " \"min_trials\": 4, \"max_trials\": 40, \"activation_sites\": \"conv-inputs\"}"),
		"{\"model\": 1, \"dataset\": 1, \"p\": [0.01], \"activation_sites\": \"relu\"}",
		"{\"model\": 1, \"dataset\": 1, \"p\": [0.01], \"activation_sites\": \"activations\"}",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct bd_job_spec a, b;
		struct bo_error err;
		json_t *j = parse(texts[i]);
		if (bd_job_spec_parse(j, &a, &err) != BO_OK)
			fail_msg("%s: %s (field %s)", texts[i], err.text, err.field);
		json_t *norm = bd_job_spec_json(&a);
		char *t1 = json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
		if (bd_job_spec_parse(norm, &b, &err) != BO_OK)
			fail_msg("%s: %s (field %s)", t1, err.text, err.field);
		json_t *again = bd_job_spec_json(&b);
		char *t2 = json_dumps(again, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
		assert_string_equal(t1, t2);
		assert_int_equal(a.n_p, b.n_p);
		assert_memory_equal(a.p, b.p, (size_t)a.n_p * sizeof(double));
		assert_true(a.ci_target == b.ci_target);
		assert_int_equal(bd_job_spec_first_trials(&b), a.ci_target > 0 ? a.min_trials : a.trials);
		if (a.ci_target > 0)
			assert_true(json_is_null(json_object_get(norm, "trials")));
		free(t1);
		free(t2);
		json_decref(again);
		json_decref(norm);
		json_decref(j);
		bd_job_spec_release(&a);
		bd_job_spec_release(&b);
	}
}

/* The largest float still passes: the bound is the float range, not a guess. */
static void test_spec_float_range(void **state)
{
	(void)state;
	char f[64];
	assert_int_equal(try_spec("{\"model\": 1, \"dataset\": 1, \"p\": [0.1],"
				  " \"mean\": [3.4e38], \"std\": [1e-30]}", f, sizeof(f)),
			 BO_OK);
}

#define MODEL "tests/fixtures/fmnist_preact_f4.onnx"

/* block_p against the model's blocks (layer1..4, conv1, bn, linear and
 * the nodes outside every block), under the default map and the spec's. */
static void test_spec_check_blocks(void **state)
{
	(void)state;
	static const struct {
		const char *block_p, *blocks;
		bo_status st;
	} cases[] = {
		{ "layer1=2p,layer4=0,*=p", NULL, BO_OK },
		{ "*=0", NULL, BO_OK },
		{ "linear=1e-3", NULL, BO_OK },
		{ "layer9=2p", NULL, BO_EINVAL },
		{ "layer1=p,Layer2=p", NULL, BO_EINVAL },   /* names are case-sensitive */
		{ "early=2p,*=p", "/layer1=early,/layer2=early", BO_OK },
		{ "layer1=2p", "/layer1=early,/layer2=early", BO_EINVAL }, /* renamed away */
		{ "late=2p", "/layer1=early", BO_EINVAL },
	};
	struct bo_model *m = NULL;
	struct bo_error err;
	bo_error_clear(&err);
	assert_int_equal(bo_model_load(MODEL, &m, &err), BO_OK);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bd_job_spec s;
		json_t *j = json_pack("{s:i, s:i, s:[f], s:s, s:s?}", "model", 1, "dataset", 1, "p",
				      0.1, "block_p", cases[i].block_p, "blocks", cases[i].blocks);
		assert_non_null(j);
		bo_error_clear(&err);
		assert_int_equal(bd_job_spec_parse(j, &s, &err), BO_OK);
		bo_status st = bd_job_spec_check_blocks(&s, m, &err);
		if (st != cases[i].st)
			fail_msg("block_p '%s' blocks '%s': status %d (%s), want %d", cases[i].block_p,
				 cases[i].blocks ? cases[i].blocks : "", st, err.text, cases[i].st);
		if (st) {
			/* names the field, the block and the blocks there are */
			assert_string_equal(err.field, "block_p");
			assert_non_null(strstr(err.text, "blocks: "));
		}
		bd_job_spec_release(&s);
		json_decref(j);
	}
	bo_error_clear(&err);
	struct bd_job_spec s;
	json_t *j = parse("{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"block_p\": \"layer9=p\"}");
	assert_int_equal(bd_job_spec_parse(j, &s, &err), BO_OK);
	assert_int_equal(bd_job_spec_check_blocks(&s, m, &err), BO_EINVAL);
	assert_non_null(strstr(err.text, "'layer9'"));
	assert_non_null(strstr(err.text, "layer1, layer2"));
	bd_job_spec_release(&s);
	json_decref(j);
	bo_model_free(m);
}

/* How a round is split into tasks: one trial a task while the round fits
 * under the cap, else near-equal ranges, never fewer than one per point. */
static void test_task_chunks(void **state)
{
	(void)state;
	assert_int_equal(bd_job_task_chunks(3, 4, 4096), 4);        /* 12 one-trial tasks */
	assert_int_equal(bd_job_task_chunks(1024, 4, 4096), 4);     /* exactly the cap */
	assert_int_equal(bd_job_task_chunks(1024, 5, 4096), 4);     /* 4096 tasks of 1-2 trials */
	assert_int_equal(bd_job_task_chunks(1024, 10000, 4096), 4); /* the largest job */
	assert_int_equal(bd_job_task_chunks(1, 10000, 4096), 4096);
	assert_int_equal(bd_job_task_chunks(3, 40, 3), 1);          /* one 40-trial task a point */
	assert_int_equal(bd_job_task_chunks(1024, 10000, 1), 1);    /* the floor: one per point */
	assert_int_equal(bd_job_task_chunks(0, 5, 10), 1);
	for (int n_p = 1; n_p <= 1024; n_p = n_p * 3 + 1)
		for (int trials = 1; trials <= 10000; trials = trials * 7 + 1)
			for (int cap = 1; cap <= 5000; cap = cap * 5 + 3) {
				int k = bd_job_task_chunks(n_p, trials, cap);
				assert_true(k >= 1 && k <= trials);
				assert_true((int64_t)k * n_p <= cap || k == 1);
			}
}

/* bd_job_add_tasks covers [lo, hi) exactly with k disjoint ranges. */
static void test_add_tasks(void **state)
{
	(void)state;
	sqlite3 *db = NULL;
	struct bo_error err;
	bo_error_clear(&err);
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TABLE tasks (id INTEGER PRIMARY KEY, job_id INTEGER,"
				      " kind TEXT, point INTEGER, trial_lo INTEGER, trial_hi INTEGER,"
				      " state TEXT, images INTEGER, pilot INTEGER)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	static const int cases[][3] = { { 0, 10000, 4 }, { 7, 10, 3 }, { 0, 5, 9 }, { 3, 4, 1 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(sqlite3_exec(db, "DELETE FROM tasks", NULL, NULL, NULL), SQLITE_OK);
		assert_int_equal(bd_job_add_tasks(db, 5, 2, cases[i][0], cases[i][1], cases[i][2], &err),
				 BO_OK);
		sqlite3_stmt *st = NULL;
		assert_int_equal(sqlite3_prepare_v2(db,
						    "SELECT trial_lo, trial_hi, job_id, point, state"
						    " FROM tasks ORDER BY trial_lo",
						    -1, &st, NULL),
				 SQLITE_OK);
		int next = cases[i][0], n = 0, span = cases[i][1] - cases[i][0];
		while (sqlite3_step(st) == SQLITE_ROW) {
			assert_int_equal(sqlite3_column_int(st, 0), next);
			assert_true(sqlite3_column_int(st, 1) > next);
			next = sqlite3_column_int(st, 1);
			assert_int_equal(sqlite3_column_int(st, 2), 5);
			assert_int_equal(sqlite3_column_int(st, 3), 2);
			assert_string_equal((const char *)sqlite3_column_text(st, 4), "queued");
			n++;
		}
		sqlite3_finalize(st);
		assert_int_equal(next, cases[i][1]);
		assert_int_equal(n, cases[i][2] < span ? cases[i][2] : span);
	}
	sqlite3_close(db);
}

/* The brute force bd_job_first_done stands for: bo_summarize_accuracy and
 * the rule at every count, as bo_sweep_run and the old report did. */
static int first_done_brute(const struct bo_sweep_config *c, const double *acc, int n,
			    struct bo_summary *s)
{
	for (int m = 1; m <= n; m++) {
		bo_summarize_accuracy(acc, m, s);
		if (bo_sweep_point_done(c, s, m))
			return m;
	}
	return 0;
}

/* Same count and summary as the brute force, on random accuracies (some
 * runs constant, some near the CI target), fixed and adaptive. */
static void test_first_done(void **state)
{
	(void)state;
	double acc[400];
	unsigned seed = 12345;
	int hits = 0, misses = 0;
	for (int round = 0; round < 3000; round++) {
		struct bo_sweep_config c;
		bo_sweep_config_defaults(&c);
		int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 400;
		double base = 0.5 + 0.4 * (double)((seed = seed * 1103515245u + 12345u) >> 16) / 65536.0;
		double spread = round % 5 == 0 ? 0 : 0.001 * (1 + round % 7);
		for (int i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			acc[i] = base + spread * ((double)(seed >> 16) / 65536.0 - 0.5);
			if (round % 11 == 0 && i % 3)  /* repeats, as integer counts give */
				acc[i] = acc[i - 1];
		}
		if (round % 4 == 0) {
			c.ci_target = 0;
			c.trials = 1 + round % 60;
		} else {
			c.min_trials = 2 + round % 5;
			c.max_trials = round % 3 ? 1000 : c.min_trials + (round % 300);
			/* targets from far below to far above the spreads' half-widths */
			c.ci_target = spread * (0.0005 + 0.003 * (round % 40)) + 1e-9;
		}
		struct bo_summary a = { 0 }, b = { 0 };
		int ma = bd_job_first_done(&c, acc, n, &a);
		int mb = first_done_brute(&c, acc, n, &b);
		if (ma != mb)
			fail_msg("round %d: first done %d, brute force %d (n %d, target %g)", round, ma,
				 mb, n, c.ci_target);
		assert_int_equal(a.n, b.n);
		assert_memory_equal(&a.mean, &b.mean, sizeof(double));
		assert_memory_equal(&a.ci_lo, &b.ci_lo, sizeof(double));
		assert_memory_equal(&a.ci_hi, &b.ci_hi, sizeof(double));
		assert_memory_equal(&a.std, &b.std, sizeof(double));
		if (ma)
			hits++;
		else
			misses++;
	}
	/* the cases cover both answers */
	if (!(hits > 300 && misses > 300))
		fail_msg("the cases do not cover both answers: %d done, %d not", hits, misses);
	/* no trials: no summary */
	struct bo_sweep_config c;
	struct bo_summary s = { .mean = 42 };
	bo_sweep_config_defaults(&c);
	assert_int_equal(bd_job_first_done(&c, acc, 0, &s), 0);
	assert_true(s.mean == 42);
}

/* Normalisation is never silent in a job either: a model without metadata
 * (one stored before uploads required it) needs the job's mean/std, or the
 * model's stored ones; the refusal speaks the API's terms. */
static void test_job_normalisation(void **state)
{
	(void)state;
	struct tb_model *b = tb_new();
	int64_t dims[4] = { -1, 1, 2, 2 };
	tb_input(b, "x", 4, dims);
	tb_node(b, "Relu", "/r", "x", "y");
	tb_output(b, "y");
	struct bo_model *m = NULL;
	struct bo_error err;
	assert_int_equal(tb_load(b, NULL, &m, &err), BO_OK);
	struct bo_sweep_config c;
	struct bd_job_spec s;
	json_t *j = parse("{\"model\": 1, \"dataset\": 1, \"p\": [0.1]}");
	assert_int_equal(bd_job_spec_parse(j, &s, &err), BO_OK);
	assert_int_not_equal(bd_job_sweep_config(&s, m, NULL, NULL, NULL, NULL, 0, 1, &c, &err), BO_OK);
	assert_non_null(strstr(err.text, "give mean and std in the job"));
	assert_non_null(strstr(err.text, "normalize=none"));
	/* the model's stored mean/std (an upload's, or normalize=none's 0 and 1) */
	assert_int_equal(bd_job_sweep_config(&s, m, "0.25", "0.5", NULL, NULL, 0, 1, &c, &err), BO_OK);
	assert_true(c.norm.n == 1 && c.norm.mean[0] == 0.25f && c.norm.std[0] == 0.5f);
	bd_job_spec_release(&s);
	json_decref(j);
	/* the job's own */
	j = parse("{\"model\": 1, \"dataset\": 1, \"p\": [0.1], \"mean\": [0.1], \"std\": [2]}");
	assert_int_equal(bd_job_spec_parse(j, &s, &err), BO_OK);
	assert_int_equal(bd_job_sweep_config(&s, m, NULL, NULL, NULL, NULL, 0, 1, &c, &err), BO_OK);
	assert_true(c.norm.mean[0] == 0.1f && c.norm.std[0] == 2.f);
	bd_job_spec_release(&s);
	json_decref(j);
	bo_model_free(m);
	tb_free(b);
}

static void test_config(void **state)
{
	(void)state;
	struct bd_config c;
	struct bo_error err;
	char path[] = "/tmp/brownoutd-conf-XXXXXX";
	bd_config_defaults(&c);
	assert_int_equal(c.listen_port, 8080);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(bd_config_set(&c, "listen", "0.0.0.0:0", &err), BO_OK);
	assert_int_equal(c.listen_port, 0);
	assert_string_equal(c.listen_host, "0.0.0.0");
	assert_int_equal(bd_config_set(&c, "upload-limit", "2M", &err), BO_OK);
	assert_int_equal(c.upload_limit, 2 << 20);
	/* --workers 0: remote workers only (brownout worker) */
	assert_int_equal(bd_config_set(&c, "workers", "0", &err), BO_OK);
	assert_int_equal(c.workers, 0);
	assert_int_not_equal(bd_config_set(&c, "workers", "-1", &err), BO_OK);
	assert_string_equal(err.field, "workers");
	assert_int_equal(c.lease_seconds, 60);
	assert_int_equal(bd_config_set(&c, "lease-seconds", "2", &err), BO_OK);
	assert_int_equal(c.lease_seconds, 2);
	assert_int_not_equal(bd_config_set(&c, "lease-seconds", "0", &err), BO_OK);
	assert_string_equal(err.field, "lease-seconds");
	assert_int_not_equal(bd_config_set(&c, "listen", "host:99999", &err), BO_OK);
	assert_int_not_equal(bd_config_set(&c, "upload-limit", "9999999999999G", &err), BO_OK);
	assert_int_not_equal(bd_config_set(&c, "upload-limit", "-1K", &err), BO_OK);
	assert_int_not_equal(bd_config_set(&c, "colour", "blue", &err), BO_OK);
	assert_non_null(strstr(err.text, "unknown option 'colour'"));
	assert_int_not_equal(bd_config_set(&c, "dataset-root", "/nonexistent/brownout", &err), BO_OK);
	/* quotas and the task cap */
	bd_config_defaults(&c);
	assert_int_equal(c.user_queued_jobs, 100);
	assert_true(c.user_queued_trials == (int64_t)BO_MAX_POINTS * BO_TRIAL_CAP);
	assert_true(c.user_stored_bytes == (int64_t)4 << 30);
	assert_int_equal(c.job_max_tasks, 4096);
	assert_int_equal(bd_config_set(&c, "user-stored-bytes", "10G", &err), BO_OK);
	assert_true(c.user_stored_bytes == (int64_t)10 << 30);
	assert_int_equal(bd_config_set(&c, "user-stored-bytes", "0", &err), BO_OK);
	assert_int_equal(bd_config_set(&c, "user-queued-trials", "5000", &err), BO_OK);
	assert_true(c.user_queued_trials == 5000);
	assert_int_not_equal(bd_config_set(&c, "user-queued-jobs", "0", &err), BO_OK);
	assert_string_equal(err.field, "user-queued-jobs");
	assert_int_not_equal(bd_config_set(&c, "job-max-tasks", "0", &err), BO_OK);
	assert_int_equal(bd_config_set(&c, "job-max-tasks", "3", &err), BO_OK);
	assert_int_equal(c.job_max_tasks, 3);
	bd_config_defaults(&c);

	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# comment\n\nworkers = 3\n  public-read = true  \nweb=/srv/web\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	bd_config_defaults(&c);
	assert_int_equal(bd_config_file(&c, path, &err), BO_OK);
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.public_read, 1);
	assert_string_equal(c.web_dir, "/srv/web");
	/* a bad line is named by file and line number */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("workers = 2\nthreads-per-worker two\n", f);
	fclose(f);
	assert_int_not_equal(bd_config_file(&c, path, &err), BO_OK);
	assert_non_null(strstr(err.text, ":2:"));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("workers = 2\nqueue-limit = -1\n", f);
	fclose(f);
	assert_int_not_equal(bd_config_file(&c, path, &err), BO_OK);
	assert_non_null(strstr(err.text, ":2: queue-limit"));
	unlink(path);
	assert_int_not_equal(bd_config_file(&c, path, &err), BO_OK);
}

/* dataset-max-* keys, and the lexical root match of registered paths */
static void test_dataset_limits_and_roots(void **state)
{
	(void)state;
	struct bd_config c;
	struct bo_error err;
	struct bo_dataset_limits lim;
	char norm[256];
	const char *rel;
	bo_error_clear(&err);
	bd_config_defaults(&c);
	bd_dataset_limits_of(&c, &lim);
	assert_int_equal(lim.max_images, 10000000);
	assert_int_equal(lim.max_bytes, 4 * c.upload_limit); /* 2 GiB */
	assert_int_equal(lim.max_decoded_bytes, lim.max_bytes);
	assert_int_equal(bd_config_set(&c, "upload-limit", "1M", &err), BO_OK);
	bd_dataset_limits_of(&c, &lim);
	assert_int_equal(lim.max_bytes, 4 << 20);
	assert_int_equal(bd_config_set(&c, "dataset-max-bytes", "64M", &err), BO_OK);
	assert_int_equal(bd_config_set(&c, "dataset-max-images", "5000", &err), BO_OK);
	bd_dataset_limits_of(&c, &lim);
	assert_int_equal(lim.max_bytes, 64 << 20);
	assert_int_equal(lim.max_decoded_bytes, 64 << 20);
	assert_int_equal(lim.max_images, 5000);
	assert_int_not_equal(bd_config_set(&c, "dataset-max-images", "0", &err), BO_OK);
	assert_int_not_equal(bd_config_set(&c, "dataset-max-bytes", "-1", &err), BO_OK);

	/* roots as config.c stores them: real paths */
	c.n_roots = 2;
	snprintf(c.roots[0], sizeof(c.roots[0]), "/srv/data");
	snprintf(c.roots[1], sizeof(c.roots[1]), "/usr/share/datasets");
	static const struct {
		const char *path;
		int root;
		const char *rel;
	} cases[] = {
		{ "/srv/data/mnist", 0, "mnist" },
		{ "/srv/data", 0, "." },
		{ "/srv/data/", 0, "." },
		{ "//srv//data/./a/../b/", 0, "b" },
		{ "/usr/share/datasets/fashion-mnist", 1, "fashion-mnist" },
		{ "/srv/data/../../etc/shadow", -1, NULL },
		{ "/srv/data/a/../../data2/x", -1, NULL },
		{ "/srv/database", -1, NULL },
		{ "/srv", -1, NULL },
		{ "/../srv/data/x", 0, "x" },
		{ "srv/data/x", -1, NULL },
		{ "/etc/shadow", -1, NULL },
		{ "/", -1, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = bd_root_of(&c, cases[i].path, norm, sizeof(norm), &rel);
		if (got != cases[i].root || (cases[i].rel && strcmp(rel, cases[i].rel)))
			fail_msg("%s: root %d rel '%s', want %d '%s'", cases[i].path, got,
				 rel ? rel : "(null)", cases[i].root,
				 cases[i].rel ? cases[i].rel : "(null)");
	}
	/* too long for the buffer: under no root */
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = 0;
	assert_int_equal(bd_root_of(&c, big, norm, sizeof(norm), &rel), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_defaults),
		cmocka_unit_test(test_spec_refusals),
		cmocka_unit_test(test_spec_round_trip),
		cmocka_unit_test(test_spec_float_range),
		cmocka_unit_test(test_spec_check_blocks),
		cmocka_unit_test(test_task_chunks),
		cmocka_unit_test(test_add_tasks),
		cmocka_unit_test(test_first_done),
		cmocka_unit_test(test_job_normalisation),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_dataset_limits_and_roots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
