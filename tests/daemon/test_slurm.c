/* Unit tests of the SLURM launcher's parts (daemon/slurm.c) and what it
 * relies on: running a command without a shell (output captured and
 * capped, exit status, timeout, a missing program, the environment given,
 * signals unblocked in the child), sbatch's --parsable answer, counting an
 * array's tasks in squeue's output, the short-lived worker tokens (auth.c:
 * expiry, renewal, revocation, purge; tokens that never expire untouched)
 * and the executor's configuration keys. The real cluster is
 * tests/slurm/test_executor.py's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "brownoutd.h"
#include "slurm.h"
#include "../unit/common_tmp.h"

static char g_root[4096];

static void test_run_output_and_status(void **state)
{
	(void)state;
	char out[256];
	int status = 0;
	struct bo_error err;
	char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	bo_error_clear(&err);
	assert_int_equal(bd_slurm_run(argv, NULL, 10, out, sizeof(out), &status, &err), 0);
	assert_int_equal(status, 3);
	assert_string_equal(out, "out\nerr\n");
}

static void test_run_cap(void **state)
{
	(void)state;
	char out[64];
	int status = -5;
	struct bo_error err;
	/* 200 kB through a 64-byte buffer: read to the end, 63 bytes kept */
	char *argv[] = { "sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x", NULL };
	assert_int_equal(bd_slurm_run(argv, NULL, 10, out, sizeof(out), &status, &err), 0);
	assert_int_equal(status, 0);
	assert_int_equal(strlen(out), 63);
	assert_int_equal(strspn(out, "x"), 63);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_run_timeout(void **state)
{
	(void)state;
	char out[64];
	int status = 0;
	struct bo_error err;
	char *argv[] = { "sleep", "60", NULL };
	bo_error_clear(&err);
	double t0 = mono();
	assert_int_equal(bd_slurm_run(argv, NULL, 0.3, out, sizeof(out), &status, &err), -1);
	assert_true(mono() - t0 < 10);
	assert_int_equal(status, 128 + SIGKILL);
	assert_non_null(strstr(err.text, "sleep did not finish"));
}

static void test_run_missing(void **state)
{
	(void)state;
	char out[64];
	int status = 0;
	struct bo_error err;
	char *argv[] = { "no-such-command-brownout", NULL };
	bo_error_clear(&err);
	assert_int_equal(bd_slurm_run(argv, NULL, 5, out, sizeof(out), &status, &err), -1);
	assert_int_equal(status, -1);
	assert_non_null(strstr(err.text, "cannot run no-such-command-brownout"));
}

static void test_run_env_and_signals(void **state)
{
	(void)state;
	char out[256];
	int status = 0;
	struct bo_error err;
	sigset_t set, old;
	/* the daemon blocks SIGTERM in every thread: its children must not */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	char *env[] = { "BROWNOUT_X=42", "PATH=/usr/bin:/bin", NULL };
	char *argv[] = { "sh", "-c",
			 "echo \"$BROWNOUT_X ${HOME:-nohome}\"; grep '^SigBlk' /proc/self/status",
			 NULL };
	int r = bd_slurm_run(argv, env, 10, out, sizeof(out), &status, &err);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	assert_int_equal(r, 0);
	assert_int_equal(status, 0);
	assert_string_equal(out, "42 nohome\nSigBlk:\t0000000000000000\n");
}

static void test_parse_sbatch(void **state)
{
	(void)state;
	char id[24];
	assert_int_equal(bd_slurm_parse_sbatch("123\n", id, sizeof(id)), 0);
	assert_string_equal(id, "123");
	assert_int_equal(bd_slurm_parse_sbatch("45;lab\n", id, sizeof(id)), 0);
	assert_string_equal(id, "45");
	assert_int_equal(bd_slurm_parse_sbatch("7", id, sizeof(id)), 0);
	assert_string_equal(id, "7");
	assert_int_equal(bd_slurm_parse_sbatch("", id, sizeof(id)), -1);
	assert_int_equal(bd_slurm_parse_sbatch("sbatch: error: x\n", id, sizeof(id)), -1);
	assert_int_equal(bd_slurm_parse_sbatch("12x\n", id, sizeof(id)), -1);
	assert_int_equal(bd_slurm_parse_sbatch("123456789012345678901234567890\n", id, sizeof(id)),
			 -1);
}

static void test_count(void **state)
{
	(void)state;
	const char *out = "12|PENDING\n12|RUNNING\n123|RUNNING\n12|RUNNING\n12|COMPLETING\n"
			  "9|CONFIGURING\n12|REQUEUED";
	int p = -1, r = -1;
	assert_int_equal(bd_slurm_count(out, "12", &p, &r), 5);
	assert_int_equal(p, 2);
	assert_int_equal(r, 2);
	assert_int_equal(bd_slurm_count(out, "123", &p, &r), 1);
	assert_int_equal(p, 0);
	assert_int_equal(r, 1);
	assert_int_equal(bd_slurm_count(out, "9", &p, &r), 1);
	assert_int_equal(r, 1);
	assert_int_equal(bd_slurm_count(out, "1", &p, &r), 0);
	assert_int_equal(bd_slurm_count("", "12", &p, &r), 0);
	assert_int_equal(p + r, 0);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_tokens(void **state)
{
	(void)state;
	char path[4200], tok[BO_TOKEN_SIZE + 1], admin[BO_TOKEN_SIZE + 1], hash[65], ahash[65];
	struct bd_store *s = NULL;
	struct bo_error err;
	struct bd_user u;
	bo_error_clear(&err);
	snprintf(path, sizeof(path), "%s/tokens.db", g_root);
	assert_int_equal(bd_store_open(path, 2, &s, &err), BO_OK);
	assert_int_equal(bd_user_add(s, "ann", 1, admin, sizeof(admin), &err), BO_OK);
	/* made with its user, a worker token, not an admin */
	assert_int_equal(bd_token_create_expiring(s, BO_SLURM_USER, now_ms() + 60000, tok,
						  sizeof(tok), hash, &err),
			 BO_OK);
	assert_int_equal(strlen(hash), 64);
	assert_int_equal(bd_auth_check(s, tok, &u, &err), BO_OK);
	assert_string_equal(u.name, BO_SLURM_USER);
	assert_true(u.worker);
	assert_false(u.admin);
	/* past its expiry: refused like an unknown token; renewed: good again */
	assert_int_equal(bd_token_expire_at(s, hash, now_ms() - 1000, &err), BO_OK);
	assert_int_equal(bd_auth_check(s, tok, &u, &err), BO_EAUTH);
	assert_int_equal(bd_token_expire_at(s, hash, now_ms() + 60000, &err), BO_OK);
	assert_int_equal(bd_auth_check(s, tok, &u, &err), BO_OK);
	/* revoked: gone */
	assert_int_equal(bd_token_revoke(s, hash, &err), BO_OK);
	assert_int_equal(bd_auth_check(s, tok, &u, &err), BO_EAUTH);
	/* a second one for the same user; purge removes only expired ones */
	char tok2[BO_TOKEN_SIZE + 1], hash2[65];
	assert_int_equal(bd_token_create_expiring(s, BO_SLURM_USER, now_ms() + 60000, tok2,
						  sizeof(tok2), hash2, &err),
			 BO_OK);
	assert_int_equal(bd_token_create_expiring(s, BO_SLURM_USER, now_ms() + 60000, tok,
						  sizeof(tok), hash, &err),
			 BO_OK);
	assert_int_equal(bd_token_expire_at(s, hash, now_ms() - 1, &err), BO_OK);
	assert_int_equal(bd_token_purge_expired(s, &err), BO_OK);
	assert_int_equal(bd_auth_check(s, tok2, &u, &err), BO_OK);
	assert_int_equal(bd_token_expire_at(s, hash, now_ms() + 60000, &err), BO_OK);
	assert_int_equal(bd_auth_check(s, tok, &u, &err), BO_EAUTH); /* purged, not renewable */
	/* tokens that never expire: revoke and expire_at leave them alone */
	bd_sha256_hex_of(admin, strlen(admin), ahash);
	assert_int_equal(bd_token_revoke(s, ahash, &err), BO_OK);
	assert_int_equal(bd_token_expire_at(s, ahash, now_ms() - 1000, &err), BO_OK);
	assert_int_equal(bd_token_purge_expired(s, &err), BO_OK);
	assert_int_equal(bd_auth_check(s, admin, &u, &err), BO_OK);
	assert_true(u.admin);
	assert_int_equal(bd_token_revoke(s, "short", &err), BO_EINVAL);
	bd_store_close(s);
}

static void test_config(void **state)
{
	(void)state;
	struct bd_config c;
	struct bo_error err;
	bd_config_defaults(&c);
	bo_error_clear(&err);
	assert_int_equal(c.executor, BO_EXECUTOR_LOCAL);
	assert_int_equal(c.slurm_poll, 5);
	assert_int_equal(c.slurm_max_workers, 4);
	assert_int_equal(c.slurm_cpus, 1);
	assert_string_equal(c.slurm_template, BO_SLURM_TEMPLATE);
	assert_false(c.workers_given);
	assert_int_equal(bd_config_set(&c, "executor", "slurm", &err), BO_OK);
	assert_int_equal(c.executor, BO_EXECUTOR_SLURM);
	assert_int_not_equal(bd_config_set(&c, "executor", "kubernetes", &err), BO_OK);
	assert_non_null(strstr(err.text, "executor must be local or slurm"));
	assert_int_equal(c.executor, BO_EXECUTOR_SLURM);
	assert_int_equal(bd_config_set(&c, "slurm-partition", "gpu_long.2", &err), BO_OK);
	assert_string_equal(c.slurm_partition, "gpu_long.2");
	assert_int_not_equal(bd_config_set(&c, "slurm-partition", "a b", &err), BO_OK);
	assert_string_equal(err.field, "slurm-partition");
	assert_int_not_equal(bd_config_set(&c, "slurm-account", "--wrap=x;y", &err), BO_OK);
	assert_int_equal(bd_config_set(&c, "slurm-time", "1-02:00:00", &err), BO_OK);
	assert_string_equal(c.slurm_time, "1-02:00:00");
	assert_int_not_equal(bd_config_set(&c, "slurm-time", "2h", &err), BO_OK);
	assert_int_not_equal(bd_config_set(&c, "slurm-server-url", "ftp://x", &err), BO_OK);
	assert_int_not_equal(bd_config_set(&c, "slurm-server-url", "http://a b", &err), BO_OK);
	assert_int_equal(bd_config_set(&c, "slurm-server-url", "https://lab:8443/", &err), BO_OK);
	assert_string_equal(c.slurm_server_url, "https://lab:8443/");
	assert_int_not_equal(bd_config_set(&c, "slurm-max-workers", "0", &err), BO_OK);
	assert_int_equal(bd_config_set(&c, "slurm-max-workers", "64", &err), BO_OK);
	assert_int_equal(c.slurm_max_workers, 64);
	assert_int_not_equal(bd_config_set(&c, "slurm-poll", "0", &err), BO_OK);
	assert_int_equal(bd_config_set(&c, "slurm-cpus-per-worker", "8", &err), BO_OK);
	assert_int_equal(c.slurm_cpus, 8);
	assert_int_equal(bd_config_set(&c, "workers", "2", &err), BO_OK);
	assert_true(c.workers_given);
}

static int group_setup(void **state)
{
	(void)state;
	return tt_mkdtemp(g_root, sizeof(g_root), "slurm");
}

static int group_teardown(void **state)
{
	(void)state;
	return tt_rmtree(g_root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_output_and_status),
		cmocka_unit_test(test_run_cap),
		cmocka_unit_test(test_run_timeout),
		cmocka_unit_test(test_run_missing),
		cmocka_unit_test(test_run_env_and_signals),
		cmocka_unit_test(test_parse_sbatch),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
