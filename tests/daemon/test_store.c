/* Tests for daemon/store.c and daemon/auth.c: migrations (fresh, reopen,
 * newer schema refused, failing migration rolled back), the writer's
 * transactions (rollback, constraint mapping, concurrent writers, snapshot
 * reads), users and tokens, SHA-256, and tools/embed_sql.sh's checks.
 * Every database lives in a temporary directory removed at the end. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "common.h"
#include "migrations.h"
#include "store.h"
#include "../unit/common_tmp.h"

static char g_root[1024];

static void tpath(char *out, const char *name)
{
	int k = snprintf(out, 4096, "%s/%s", g_root, name);
	assert_true(k > 0 && k < 4096);
}

static int group_setup(void **state)
{
	(void)state;
	return tt_mkdtemp(g_root, sizeof(g_root), "store");
}

static int group_teardown(void **state)
{
	(void)state;
	return tt_rmtree(g_root);
}

static struct bo_store *open_ok(const char *name, int readers)
{
	char path[4096];
	struct bo_store *s = NULL;
	struct bo_error err;
	tpath(path, name);
	bo_status rc = bo_store_open(path, readers, &s, &err);
	if (rc)
		print_error("bo_store_open: %s\n", err.text);
	assert_int_equal(rc, BO_OK);
	assert_non_null(s);
	return s;
}

/* ---- small callbacks ---- */

struct query {
	const char *sql;
	int64_t value; /* the first column of the first row */
	char text[256];
};

static bo_status query_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct query *q = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	int k;
	q->value = -1;
	q->text[0] = 0;
	if (sqlite3_prepare_v2(db, q->sql, -1, &st, NULL) != SQLITE_OK) {
		rc = bo_store_fail(db, err, q->sql);
		goto out;
	}
	k = sqlite3_step(st);
	if (k == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		q->value = sqlite3_column_int64(st, 0);
		snprintf(q->text, sizeof(q->text), "%s", t ? t : "");
	} else if (k != SQLITE_DONE) {
		rc = bo_store_fail(db, err, q->sql);
	}
out:
	sqlite3_finalize(st);
	return rc;
}

static int64_t read_int(struct bo_store *s, const char *sql)
{
	struct query q = {.sql = sql};
	struct bo_error err;
	assert_int_equal(bo_store_read(s, query_cb, &q, &err), BO_OK);
	return q.value;
}

static bo_status exec_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	return bo_store_exec(db, ctx, err);
}

/* a raw connection, outside the store */
static sqlite3 *raw_open(const char *name)
{
	char path[4096];
	sqlite3 *db = NULL;
	tpath(path, name);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* ---- migrations ---- */

static void test_fresh_open(void **state)
{
	(void)state;
	static const char *const tables[] = {"users", "tokens", "models", "datasets", "jobs",
					     "job_references", "tasks", "results", "events"};
	char sql[256];
	char buf[64];
	struct bo_error err;
	struct bo_store *s = open_ok("fresh.db", 2);
	assert_true(bo_store_schema_version() >= 1);
	assert_int_equal(read_int(s, "PRAGMA user_version"), bo_store_schema_version());
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'",
			 tables[i]);
		assert_int_equal(read_int(s, sql), 1);
	}
	struct query q = {.sql = "PRAGMA journal_mode"};
	assert_int_equal(bo_store_read(s, query_cb, &q, &err), BO_OK);
	assert_string_equal(q.text, "wal");
	assert_int_equal(read_int(s, "PRAGMA foreign_keys"), 1);
	assert_int_equal(bo_store_integrity(s, buf, sizeof(buf), &err), BO_OK);
	assert_string_equal(buf, "ok");
	bo_store_close(s);
}

static void test_reopen_is_noop(void **state)
{
	(void)state;
	char token[BO_TOKEN_SIZE];
	struct bo_error err;
	struct bo_store *s = open_ok("reopen.db", 1);
	assert_int_equal(bo_user_add(s, "keep", 0, token, sizeof(token), &err), BO_OK);
	bo_store_close(s);
	s = open_ok("reopen.db", 1);
	assert_int_equal(read_int(s, "PRAGMA user_version"), bo_store_schema_version());
	assert_int_equal(read_int(s, "SELECT count(*) FROM users WHERE name = 'keep'"), 1);
	bo_store_close(s);
	/* the close checkpointed and truncated the WAL */
	sqlite3 *db = raw_open("reopen.db");
	assert_int_equal(raw_int(db, "SELECT count(*) FROM tokens"), 1);
	sqlite3_close(db);
}

static void test_newer_schema_refused(void **state)
{
	(void)state;
	char path[4096];
	char sql[64];
	char want[128];
	struct bo_store *s = (struct bo_store *)1;
	struct bo_error err;
	int newer = bo_store_schema_version() + 2;
	sqlite3 *db = raw_open("newer.db");
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", newer);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	tpath(path, "newer.db");
	assert_int_equal(bo_store_open(path, 1, &s, &err), BO_ECONFLICT);
	assert_null(s);
	assert_int_equal(err.status, BO_ECONFLICT);
	snprintf(want, sizeof(want), "schema version %d", newer);
	assert_non_null(strstr(err.text, want));
	snprintf(want, sizeof(want), "knows up to %d", bo_store_schema_version());
	assert_non_null(strstr(err.text, want));
	assert_non_null(strstr(err.text, "upgrade brownoutd"));

	db = raw_open("newer.db");
	assert_int_equal(raw_int(db, "PRAGMA user_version"), newer);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master"), 0);
	sqlite3_close(db);
}

/* A table in the way makes migration 001 fail: nothing of it may remain. */
static void test_failing_migration_rolls_back(void **state)
{
	(void)state;
	char path[4096];
	struct bo_store *s = NULL;
	struct bo_error err;
	sqlite3 *db = raw_open("inway.db");
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE datasets (x)", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	tpath(path, "inway.db");
	bo_status rc = bo_store_open(path, 1, &s, &err);
	assert_int_not_equal(rc, BO_OK);
	assert_null(s);
	assert_non_null(strstr(err.text, bo_migrations[0].name));
	assert_non_null(strstr(err.text, "already exists"));

	db = raw_open("inway.db");
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'users'"), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"), 1);
	sqlite3_close(db);
}

static void test_bad_args(void **state)
{
	(void)state;
	char path[4096];
	struct bo_store *s = NULL;
	struct bo_error err;
	tpath(path, "args.db");
	assert_int_equal(bo_store_open(path, 0, &s, &err), BO_EINVAL);
	assert_null(s);
	tpath(path, "no/such/dir/x.db");
	assert_int_equal(bo_store_open(path, 1, &s, &err), BO_EIO);
	assert_null(s);
	assert_string_equal(err.file, path);
	bo_store_close(NULL);
}

/* ---- transactions ---- */

static bo_status insert_then_fail_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	const char *text = ctx;
	bo_status rc = bo_store_exec(db, "INSERT INTO t (a) VALUES (1)", err);
	if (rc == BO_OK && text)
		rc = bo_fail(err, BO_EINVAL, "%s", text);
	else if (rc == BO_OK)
		rc = BO_EMISMATCH; /* no message: the store supplies one */
	return rc;
}

static void test_rollback(void **state)
{
	(void)state;
	struct bo_error err;
	struct bo_store *s = open_ok("rollback.db", 1);
	assert_int_equal(bo_store_write(s, exec_cb, "CREATE TABLE t (a INTEGER)", &err), BO_OK);
	assert_int_equal(bo_store_write(s, insert_then_fail_cb, "nope", &err), BO_EINVAL);
	assert_int_equal(err.status, BO_EINVAL);
	assert_string_equal(err.text, "nope");
	assert_int_equal(read_int(s, "SELECT count(*) FROM t"), 0);
	assert_int_equal(bo_store_write(s, insert_then_fail_cb, NULL, &err), BO_EMISMATCH);
	assert_int_equal(err.status, BO_EMISMATCH);
	assert_true(err.text[0] != 0);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t"), 0);
	/* the connection is usable afterwards */
	assert_int_equal(bo_store_write(s, exec_cb, "INSERT INTO t (a) VALUES (2)", &err), BO_OK);
	assert_int_equal(read_int(s, "SELECT sum(a) FROM t"), 2);
	/* a read connection cannot write */
	assert_int_equal(bo_store_read(s, exec_cb, "INSERT INTO t (a) VALUES (3)", &err), BO_EIO);
	assert_non_null(strstr(err.text, "readonly"));
	bo_store_close(s);
}

static void test_constraints(void **state)
{
	(void)state;
	struct bo_error err;
	struct bo_store *s = open_ok("constraint.db", 1);
	const char *ins = "INSERT INTO users (name, created_at) VALUES ('dup', '2026-01-01T00:00:00Z')";
	assert_int_equal(bo_store_write(s, exec_cb, (void *)ins, &err), BO_OK);
	assert_int_equal(bo_store_write(s, exec_cb, (void *)ins, &err), BO_ECONFLICT);
	assert_non_null(strstr(err.text, "UNIQUE"));
	assert_non_null(strstr(err.text, "INSERT INTO users"));
	/* foreign keys are enforced */
	assert_int_equal(bo_store_write(s, exec_cb,
					"INSERT INTO tokens (user_id, hash, created_at) "
					"VALUES (999, 'x', 'now')",
					&err),
			 BO_ECONFLICT);
	assert_non_null(strstr(err.text, "FOREIGN KEY"));
	/* CHECK constraints too */
	assert_int_equal(bo_store_write(s, exec_cb,
					"INSERT INTO tasks (job_id, kind, point, trial_lo, "
					"trial_hi, state) VALUES (1, 'bogus', 0, 0, 1, 'queued')",
					&err),
			 BO_ECONFLICT);
	assert_int_equal(read_int(s, "SELECT count(*) FROM users"), 1);
	bo_store_close(s);
}

static bo_status nested_write_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct bo_store *s = ctx;
	(void)db;
	return bo_store_write(s, exec_cb, "SELECT 1", err);
}

struct snap {
	struct bo_store *s;
	int64_t before, after;
	bo_status wrc;
};

/* Inside one read transaction, a committed write stays invisible. */
static bo_status snapshot_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct snap *p = ctx;
	struct query q = {.sql = "SELECT count(*) FROM t"};
	struct bo_error werr;
	bo_status rc = query_cb(db, &q, err);
	if (rc)
		goto out;
	p->before = q.value;
	p->wrc = bo_store_write(p->s, exec_cb, "INSERT INTO t (a) VALUES (7)", &werr);
	rc = query_cb(db, &q, err);
	p->after = q.value;
out:
	return rc;
}

static void test_reads_and_snapshots(void **state)
{
	(void)state;
	struct bo_error err;
	struct bo_store *s = open_ok("snap.db", 2);
	assert_int_equal(bo_store_write(s, exec_cb, "CREATE TABLE t (a INTEGER)", &err), BO_OK);
	assert_int_equal(bo_store_write(s, exec_cb, "INSERT INTO t (a) VALUES (1)", &err), BO_OK);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t"), 1);
	struct snap p = {.s = s};
	assert_int_equal(bo_store_read(s, snapshot_cb, &p, &err), BO_OK);
	assert_int_equal(p.wrc, BO_OK);
	assert_int_equal(p.before, 1);
	assert_int_equal(p.after, 1);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t"), 2);
	/* a write from inside a write is refused instead of deadlocking */
	assert_int_equal(bo_store_write(s, nested_write_cb, s, &err), BO_EINTERNAL);
	bo_store_close(s);
}

#define WRITERS 4
#define WRITES 200
#define READERS 2

struct worker {
	struct bo_store *s;
	int id;
	bo_status rc;
	int monotonic;
	int64_t reads;
};

struct ins {
	int thread, i;
};

static bo_status ins_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct ins *in = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db, "INSERT INTO w (thread, i) VALUES (?1, ?2)", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_bind_int(st, 1, in->thread) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, in->i) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		rc = bo_store_fail(db, err, "insert");
	sqlite3_finalize(st);
	return rc;
}

static void *writer_thread(void *arg)
{
	struct worker *w = arg;
	struct bo_error err;
	for (int i = 0; i < WRITES && w->rc == BO_OK; i++) {
		struct ins in = {w->id, i};
		w->rc = bo_store_write(w->s, ins_cb, &in, &err);
	}
	return NULL;
}

static volatile int g_writers_done;

static void *reader_thread(void *arg)
{
	struct worker *w = arg;
	struct bo_error err;
	int64_t last = 0;
	w->monotonic = 1;
	while (w->rc == BO_OK && !__atomic_load_n(&g_writers_done, __ATOMIC_ACQUIRE)) {
		struct query q = {.sql = "SELECT count(*) FROM w"};
		w->rc = bo_store_read(w->s, query_cb, &q, &err);
		if (q.value < last)
			w->monotonic = 0;
		last = q.value;
		w->reads++;
	}
	return NULL;
}

static void test_concurrent_writes(void **state)
{
	(void)state;
	struct bo_error err;
	struct bo_store *s = open_ok("concurrent.db", 1); /* readers share one connection */
	pthread_t th[WRITERS + READERS];
	struct worker w[WRITERS + READERS];
	assert_int_equal(bo_store_write(s, exec_cb,
					"CREATE TABLE w (thread INTEGER, i INTEGER, "
					"PRIMARY KEY (thread, i))",
					&err),
			 BO_OK);
	g_writers_done = 0;
	for (int k = 0; k < WRITERS + READERS; k++) {
		w[k] = (struct worker){.s = s, .id = k};
		assert_int_equal(pthread_create(&th[k], NULL, k < WRITERS ? writer_thread : reader_thread,
						&w[k]),
				 0);
	}
	for (int k = 0; k < WRITERS; k++)
		assert_int_equal(pthread_join(th[k], NULL), 0);
	__atomic_store_n(&g_writers_done, 1, __ATOMIC_RELEASE);
	for (int k = WRITERS; k < WRITERS + READERS; k++)
		assert_int_equal(pthread_join(th[k], NULL), 0);
	for (int k = 0; k < WRITERS + READERS; k++)
		assert_int_equal(w[k].rc, BO_OK);
	for (int k = WRITERS; k < WRITERS + READERS; k++) {
		assert_true(w[k].monotonic);
		assert_true(w[k].reads > 0);
	}
	assert_int_equal(read_int(s, "SELECT count(*) FROM w"), WRITERS * WRITES);
	for (int k = 0; k < WRITERS; k++) {
		char sql[128];
		snprintf(sql, sizeof(sql),
			 "SELECT count(DISTINCT i) FROM w WHERE thread = %d AND i BETWEEN 0 AND %d", k,
			 WRITES - 1);
		assert_int_equal(read_int(s, sql), WRITES);
	}
	bo_store_close(s);
}

/* ---- users and tokens ---- */

static void test_sha256(void **state)
{
	(void)state;
	char hex[65];
	struct bo_sha256 h;
	bo_sha256_hex_of("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	bo_sha256_hex_of("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	bo_sha256_init(&h);
	bo_sha256_update(&h, "a", 1);
	bo_sha256_update(&h, NULL, 0);
	bo_sha256_update(&h, "bc", 2);
	bo_sha256_hex(&h, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void check_token_format(const char *t)
{
	assert_int_equal(strlen(t), BO_TOKEN_SIZE - 1);
	assert_memory_equal(t, "bo_", 3);
	for (const char *p = t + 3; *p; p++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
				       *p));
}

static void test_token_new(void **state)
{
	(void)state;
	char a[BO_TOKEN_SIZE], b[BO_TOKEN_SIZE], small[BO_TOKEN_SIZE - 1];
	struct bo_error err;
	assert_int_equal(bo_token_new(a, sizeof(a), &err), BO_OK);
	assert_int_equal(bo_token_new(b, sizeof(b), &err), BO_OK);
	check_token_format(a);
	check_token_format(b);
	assert_string_not_equal(a, b);
	assert_int_equal(bo_token_new(small, sizeof(small), &err), BO_EINVAL);
}

struct hashes {
	const char *token;
	int rows, plain, bad;
};

static bo_status scan_tokens_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct hashes *h = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	int k;
	if (sqlite3_prepare_v2(db, "SELECT hash FROM tokens", -1, &st, NULL) != SQLITE_OK) {
		rc = bo_store_fail(db, err, "scan");
		goto out;
	}
	while ((k = sqlite3_step(st)) == SQLITE_ROW) {
		const char *hash = (const char *)sqlite3_column_text(st, 0);
		h->rows++;
		if (strstr(hash, h->token) || strstr(hash, h->token + 3))
			h->plain++;
		if (strlen(hash) != 64 || strspn(hash, "0123456789abcdef") != 64)
			h->bad++;
	}
	if (k != SQLITE_DONE)
		rc = bo_store_fail(db, err, "scan");
out:
	sqlite3_finalize(st);
	return rc;
}

static void test_users_and_tokens(void **state)
{
	(void)state;
	char t1[BO_TOKEN_SIZE], t2[BO_TOKEN_SIZE], t3[BO_TOKEN_SIZE];
	char sql[256], hex[65];
	struct bo_user u;
	struct bo_error err;
	struct bo_store *s = open_ok("users.db", 2);

	assert_int_equal(bo_user_add(s, "alice", 1, t1, sizeof(t1), &err), BO_OK);
	check_token_format(t1);
	assert_int_equal(bo_user_add(s, "bob.b-2_", 0, t3, sizeof(t3), &err), BO_OK);
	assert_int_equal(bo_auth_check(s, t1, &u, &err), BO_OK);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.admin, 1);
	assert_true(u.id > 0);
	int64_t alice = u.id;
	assert_int_equal(bo_auth_check(s, t3, &u, &err), BO_OK);
	assert_string_equal(u.name, "bob.b-2_");
	assert_int_equal(u.admin, 0);

	assert_int_equal(bo_token_create(s, "alice", t2, sizeof(t2), &err), BO_OK);
	check_token_format(t2);
	assert_string_not_equal(t1, t2);
	assert_int_equal(bo_auth_check(s, t2, &u, &err), BO_OK);
	assert_int_equal(u.id, alice);
	assert_int_equal(bo_auth_check(s, t1, &u, &err), BO_OK);

	/* wrong, altered, missing tokens */
	assert_int_equal(bo_auth_check(s, "bo_wrong", &u, &err), BO_EAUTH);
	assert_string_equal(err.text, "invalid token");
	assert_int_equal(u.id, 0);
	t1[10] = t1[10] == 'A' ? 'B' : 'A';
	assert_int_equal(bo_auth_check(s, t1, &u, &err), BO_EAUTH);
	assert_int_equal(bo_auth_check(s, "", &u, &err), BO_EAUTH);
	assert_int_equal(bo_auth_check(s, NULL, &u, &err), BO_EAUTH);

	/* existing and unknown users */
	assert_int_equal(bo_user_add(s, "alice", 0, t3, sizeof(t3), &err), BO_ECONFLICT);
	assert_string_equal(err.text, "user alice exists");
	assert_string_equal(t3, "");
	assert_int_equal(bo_token_create(s, "carol", t3, sizeof(t3), &err), BO_ENOENT);
	assert_int_equal(read_int(s, "SELECT count(*) FROM users"), 2);
	assert_int_equal(read_int(s, "SELECT count(*) FROM tokens"), 3);

	/* only hashes are stored */
	struct hashes h = {.token = t2};
	assert_int_equal(bo_store_read(s, scan_tokens_cb, &h, &err), BO_OK);
	assert_int_equal(h.rows, 3);
	assert_int_equal(h.plain, 0);
	assert_int_equal(h.bad, 0);
	bo_sha256_hex_of(t2, strlen(t2), hex);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM tokens WHERE hash = '%s' AND user_id = %lld",
		 hex, (long long)alice);
	assert_int_equal(read_int(s, sql), 1);

	/* a small buffer */
	char small[BO_TOKEN_SIZE - 1];
	assert_int_equal(bo_user_add(s, "dave", 0, small, sizeof(small), &err), BO_EINVAL);
	bo_store_close(s);
}

static void test_user_names(void **state)
{
	(void)state;
	static const char *const bad[] = {"", "a b", "x/y", "caf\xc3\xa9", "semi;colon", "tab\t",
					  "quote'", NULL};
	char name65[66], name64[65];
	char t[BO_TOKEN_SIZE];
	struct bo_error err;
	struct bo_store *s = open_ok("names.db", 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(bo_user_add(s, bad[i], 0, t, sizeof(t), &err), BO_EINVAL);
		assert_string_equal(err.field, "name");
		assert_int_equal(bo_token_create(s, bad[i], t, sizeof(t), &err), BO_EINVAL);
	}
	memset(name65, 'n', 65);
	name65[65] = 0;
	assert_int_equal(bo_user_add(s, name65, 0, t, sizeof(t), &err), BO_EINVAL);
	memset(name64, 'n', 64);
	name64[64] = 0;
	assert_int_equal(bo_user_add(s, name64, 0, t, sizeof(t), &err), BO_OK);
	struct bo_user u;
	assert_int_equal(bo_auth_check(s, t, &u, &err), BO_OK);
	assert_string_equal(u.name, name64);
	assert_int_equal(read_int(s, "SELECT count(*) FROM users"), 1);
	bo_store_close(s);
}

/* ---- misc ---- */

static void test_now(void **state)
{
	(void)state;
	char buf[32];
	bo_store_now(buf, sizeof(buf));
	assert_int_equal(strlen(buf), 20);
	assert_int_equal(buf[4], '-');
	assert_int_equal(buf[7], '-');
	assert_int_equal(buf[10], 'T');
	assert_int_equal(buf[13], ':');
	assert_int_equal(buf[16], ':');
	assert_int_equal(buf[19], 'Z');
	assert_true(strncmp(buf, "2020", 4) > 0);
}

static int run_embed(const char *args)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "tools/embed_sql.sh %s >/dev/null 2>&1", args);
	return system(cmd);
}

static void write_text(const char *name, const char *text)
{
	char path[4096];
	tpath(path, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_embed_sql_checks(void **state)
{
	(void)state;
	char args[4096];
	if (access("tools/embed_sql.sh", X_OK) != 0)
		skip(); /* not run from the repository root */
	write_text("1_short.sql", "SELECT 1;\n");
	write_text("005_good.sql", "SELECT 1;\n");
	write_text("005_again.sql", "SELECT 1;\n");
	write_text("004_older.sql", "SELECT 1;\n");
	snprintf(args, sizeof(args), "%s/005_good.sql", g_root);
	assert_int_equal(run_embed(args), 0);
	snprintf(args, sizeof(args), "%s/1_short.sql", g_root);
	assert_int_not_equal(run_embed(args), 0);
	snprintf(args, sizeof(args), "%s/005_good.sql %s/005_again.sql", g_root, g_root);
	assert_int_not_equal(run_embed(args), 0);
	snprintf(args, sizeof(args), "%s/005_good.sql %s/004_older.sql", g_root, g_root);
	assert_int_not_equal(run_embed(args), 0);
	snprintf(args, sizeof(args), "%s/006_missing.sql", g_root);
	assert_int_not_equal(run_embed(args), 0);
	assert_int_not_equal(run_embed(""), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_open),
		cmocka_unit_test(test_reopen_is_noop),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_failing_migration_rolls_back),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_rollback),
		cmocka_unit_test(test_constraints),
		cmocka_unit_test(test_reads_and_snapshots),
		cmocka_unit_test(test_concurrent_writes),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_token_new),
		cmocka_unit_test(test_users_and_tokens),
		cmocka_unit_test(test_user_names),
		cmocka_unit_test(test_now),
		cmocka_unit_test(test_embed_sql_checks),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
