/* Tests for daemon/store.c and daemon/auth.c: migrations (fresh, reopen,
 * newer schema refused, failing migration rolled back), the writer's
 * transactions (rollback, constraint mapping, concurrent writers, snapshot
 * reads), users and tokens, SHA-256, and tools/embed_sql.sh's checks.
 * Every database lives in a temporary directory removed at the end.
 *
 * Storage faults, after SQLite's own I/O-error tests: "faultvfs", a VFS
 * that wraps the default one and fails xWrite, xSync and xTruncate with a
 * chosen code at the Nth call (and every later one, as a full disk would),
 * or always, or while a file exists (the reserve file standing in for what
 * fills the disk). The stores under test open it by name
 * (bd_store_open_with). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "brownoutd.h"
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

static struct bd_store *open_ok(const char *name, int readers)
{
	char path[4096];
	struct bd_store *s = NULL;
	struct bo_error err;
	tpath(path, name);
	bo_status rc = bd_store_open(path, readers, &s, &err);
	if (rc)
		print_error("bd_store_open: %s\n", err.text);
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
		rc = bd_store_fail(db, err, q->sql);
		goto out;
	}
	k = sqlite3_step(st);
	if (k == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		q->value = sqlite3_column_int64(st, 0);
		snprintf(q->text, sizeof(q->text), "%s", t ? t : "");
	} else if (k != SQLITE_DONE) {
		rc = bd_store_fail(db, err, q->sql);
	}
out:
	sqlite3_finalize(st);
	return rc;
}

static int64_t read_int(struct bd_store *s, const char *sql)
{
	struct query q = {.sql = sql};
	struct bo_error err;
	assert_int_equal(bd_store_read(s, query_cb, &q, &err), BO_OK);
	return q.value;
}

static bo_status exec_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	return bd_store_exec(db, ctx, err);
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
	struct bd_store *s = open_ok("fresh.db", 2);
	assert_true(bd_store_schema_version() >= 1);
	assert_int_equal(read_int(s, "PRAGMA user_version"), bd_store_schema_version());
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'",
			 tables[i]);
		assert_int_equal(read_int(s, sql), 1);
	}
	struct query q = {.sql = "PRAGMA journal_mode"};
	assert_int_equal(bd_store_read(s, query_cb, &q, &err), BO_OK);
	assert_string_equal(q.text, "wal");
	assert_int_equal(read_int(s, "PRAGMA foreign_keys"), 1);
	assert_int_equal(bd_store_integrity(s, buf, sizeof(buf), &err), BO_OK);
	assert_string_equal(buf, "ok");
	bd_store_close(s);
}

static void test_reopen_is_noop(void **state)
{
	(void)state;
	char token[BO_TOKEN_SIZE];
	struct bo_error err;
	struct bd_store *s = open_ok("reopen.db", 1);
	assert_int_equal(bd_user_add(s, "keep", 0, token, sizeof(token), &err), BO_OK);
	bd_store_close(s);
	s = open_ok("reopen.db", 1);
	assert_int_equal(read_int(s, "PRAGMA user_version"), bd_store_schema_version());
	assert_int_equal(read_int(s, "SELECT count(*) FROM users WHERE name = 'keep'"), 1);
	bd_store_close(s);
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
	struct bd_store *s = (struct bd_store *)1;
	struct bo_error err;
	int newer = bd_store_schema_version() + 2;
	sqlite3 *db = raw_open("newer.db");
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", newer);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	tpath(path, "newer.db");
	assert_int_equal(bd_store_open(path, 1, &s, &err), BO_ECONFLICT);
	assert_null(s);
	assert_int_equal(err.status, BO_ECONFLICT);
	snprintf(want, sizeof(want), "schema version %d", newer);
	assert_non_null(strstr(err.text, want));
	snprintf(want, sizeof(want), "knows up to %d", bd_store_schema_version());
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
	struct bd_store *s = NULL;
	struct bo_error err;
	sqlite3 *db = raw_open("inway.db");
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE datasets (x)", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);

	tpath(path, "inway.db");
	bo_status rc = bd_store_open(path, 1, &s, &err);
	assert_int_not_equal(rc, BO_OK);
	assert_null(s);
	assert_non_null(strstr(err.text, bd_migrations[0].name));
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
	struct bd_store *s = NULL;
	struct bo_error err;
	tpath(path, "args.db");
	assert_int_equal(bd_store_open(path, 0, &s, &err), BO_EINVAL);
	assert_null(s);
	tpath(path, "no/such/dir/x.db");
	assert_int_equal(bd_store_open(path, 1, &s, &err), BO_EIO);
	assert_null(s);
	assert_string_equal(err.file, path);
	bd_store_close(NULL);
}

/* ---- transactions ---- */

static bo_status insert_then_fail_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	const char *text = ctx;
	bo_status rc = bd_store_exec(db, "INSERT INTO t (a) VALUES (1)", err);
	if (rc == BO_OK && text)
		rc = bo_error_set(err, BO_EINVAL, "%s", text);
	else if (rc == BO_OK)
		rc = BO_EMISMATCH; /* no message: the store supplies one */
	return rc;
}

static void test_rollback(void **state)
{
	(void)state;
	struct bo_error err;
	struct bd_store *s = open_ok("rollback.db", 1);
	assert_int_equal(bd_store_write(s, exec_cb, "CREATE TABLE t (a INTEGER)", &err), BO_OK);
	assert_int_equal(bd_store_write(s, insert_then_fail_cb, "nope", &err), BO_EINVAL);
	assert_int_equal(err.status, BO_EINVAL);
	assert_string_equal(err.text, "nope");
	assert_int_equal(read_int(s, "SELECT count(*) FROM t"), 0);
	assert_int_equal(bd_store_write(s, insert_then_fail_cb, NULL, &err), BO_EMISMATCH);
	assert_int_equal(err.status, BO_EMISMATCH);
	assert_true(err.text[0] != 0);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t"), 0);
	/* the connection is usable afterwards */
	assert_int_equal(bd_store_write(s, exec_cb, "INSERT INTO t (a) VALUES (2)", &err), BO_OK);
	assert_int_equal(read_int(s, "SELECT sum(a) FROM t"), 2);
	/* a read connection cannot write */
	assert_int_equal(bd_store_read(s, exec_cb, "INSERT INTO t (a) VALUES (3)", &err), BO_EIO);
	assert_non_null(strstr(err.text, "readonly"));
	bd_store_close(s);
}

static void test_constraints(void **state)
{
	(void)state;
	struct bo_error err;
	struct bd_store *s = open_ok("constraint.db", 1);
	const char *ins = "INSERT INTO users (name, created_at) VALUES ('dup', '2026-01-01T00:00:00Z')";
	assert_int_equal(bd_store_write(s, exec_cb, (void *)ins, &err), BO_OK);
	assert_int_equal(bd_store_write(s, exec_cb, (void *)ins, &err), BO_ECONFLICT);
	assert_non_null(strstr(err.text, "UNIQUE"));
	assert_non_null(strstr(err.text, "INSERT INTO users"));
	/* foreign keys are enforced */
	assert_int_equal(bd_store_write(s, exec_cb,
					"INSERT INTO tokens (user_id, hash, created_at) "
					"VALUES (999, 'x', 'now')",
					&err),
			 BO_ECONFLICT);
	assert_non_null(strstr(err.text, "FOREIGN KEY"));
	/* CHECK constraints too */
	assert_int_equal(bd_store_write(s, exec_cb,
					"INSERT INTO tasks (job_id, kind, point, trial_lo, "
					"trial_hi, state) VALUES (1, 'bogus', 0, 0, 1, 'queued')",
					&err),
			 BO_ECONFLICT);
	assert_int_equal(read_int(s, "SELECT count(*) FROM users"), 1);
	bd_store_close(s);
}

static bo_status nested_write_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct bd_store *s = ctx;
	(void)db;
	return bd_store_write(s, exec_cb, "SELECT 1", err);
}

struct snap {
	struct bd_store *s;
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
	p->wrc = bd_store_write(p->s, exec_cb, "INSERT INTO t (a) VALUES (7)", &werr);
	rc = query_cb(db, &q, err);
	p->after = q.value;
out:
	return rc;
}

static void test_reads_and_snapshots(void **state)
{
	(void)state;
	struct bo_error err;
	struct bd_store *s = open_ok("snap.db", 2);
	assert_int_equal(bd_store_write(s, exec_cb, "CREATE TABLE t (a INTEGER)", &err), BO_OK);
	assert_int_equal(bd_store_write(s, exec_cb, "INSERT INTO t (a) VALUES (1)", &err), BO_OK);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t"), 1);
	struct snap p = {.s = s};
	assert_int_equal(bd_store_read(s, snapshot_cb, &p, &err), BO_OK);
	assert_int_equal(p.wrc, BO_OK);
	assert_int_equal(p.before, 1);
	assert_int_equal(p.after, 1);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t"), 2);
	/* a write from inside a write is refused instead of deadlocking */
	assert_int_equal(bd_store_write(s, nested_write_cb, s, &err), BO_EINTERNAL);
	bd_store_close(s);
}

#define WRITERS 4
#define WRITES 200
#define READERS 2

struct worker {
	struct bd_store *s;
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
		rc = bd_store_fail(db, err, "insert");
	sqlite3_finalize(st);
	return rc;
}

static void *writer_thread(void *arg)
{
	struct worker *w = arg;
	struct bo_error err;
	for (int i = 0; i < WRITES && w->rc == BO_OK; i++) {
		struct ins in = {w->id, i};
		w->rc = bd_store_write(w->s, ins_cb, &in, &err);
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
		w->rc = bd_store_read(w->s, query_cb, &q, &err);
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
	struct bd_store *s = open_ok("concurrent.db", 1); /* readers share one connection */
	pthread_t th[WRITERS + READERS];
	struct worker w[WRITERS + READERS];
	assert_int_equal(bd_store_write(s, exec_cb,
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
	bd_store_close(s);
}

/* ---- users and tokens ---- */

static void test_sha256(void **state)
{
	(void)state;
	char hex[65];
	struct bd_sha256 h;
	bd_sha256_hex_of("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	bd_sha256_hex_of("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	bd_sha256_init(&h);
	bd_sha256_update(&h, "a", 1);
	bd_sha256_update(&h, NULL, 0);
	bd_sha256_update(&h, "bc", 2);
	bd_sha256_hex(&h, hex);
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
	assert_int_equal(bd_token_new(a, sizeof(a), &err), BO_OK);
	assert_int_equal(bd_token_new(b, sizeof(b), &err), BO_OK);
	check_token_format(a);
	check_token_format(b);
	assert_string_not_equal(a, b);
	assert_int_equal(bd_token_new(small, sizeof(small), &err), BO_EINVAL);
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
		rc = bd_store_fail(db, err, "scan");
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
		rc = bd_store_fail(db, err, "scan");
out:
	sqlite3_finalize(st);
	return rc;
}

static void test_users_and_tokens(void **state)
{
	(void)state;
	char t1[BO_TOKEN_SIZE], t2[BO_TOKEN_SIZE], t3[BO_TOKEN_SIZE];
	char sql[256], hex[65];
	struct bd_user u;
	struct bo_error err;
	struct bd_store *s = open_ok("users.db", 2);

	assert_int_equal(bd_user_add(s, "alice", 1, t1, sizeof(t1), &err), BO_OK);
	check_token_format(t1);
	assert_int_equal(bd_user_add(s, "bob.b-2_", 0, t3, sizeof(t3), &err), BO_OK);
	assert_int_equal(bd_auth_check(s, t1, &u, &err), BO_OK);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.admin, 1);
	assert_true(u.id > 0);
	int64_t alice = u.id;
	assert_int_equal(bd_auth_check(s, t3, &u, &err), BO_OK);
	assert_string_equal(u.name, "bob.b-2_");
	assert_int_equal(u.admin, 0);

	assert_int_equal(bd_token_create(s, "alice", t2, sizeof(t2), &err), BO_OK);
	check_token_format(t2);
	assert_string_not_equal(t1, t2);
	assert_int_equal(bd_auth_check(s, t2, &u, &err), BO_OK);
	assert_int_equal(u.id, alice);
	assert_int_equal(bd_auth_check(s, t1, &u, &err), BO_OK);

	/* wrong, altered, missing tokens */
	assert_int_equal(bd_auth_check(s, "bo_wrong", &u, &err), BO_EAUTH);
	assert_string_equal(err.text, "invalid token");
	assert_int_equal(u.id, 0);
	t1[10] = t1[10] == 'A' ? 'B' : 'A';
	assert_int_equal(bd_auth_check(s, t1, &u, &err), BO_EAUTH);
	assert_int_equal(bd_auth_check(s, "", &u, &err), BO_EAUTH);
	assert_int_equal(bd_auth_check(s, NULL, &u, &err), BO_EAUTH);

	/* existing and unknown users */
	assert_int_equal(bd_user_add(s, "alice", 0, t3, sizeof(t3), &err), BO_ECONFLICT);
	assert_string_equal(err.text, "user alice exists");
	assert_string_equal(t3, "");
	assert_int_equal(bd_token_create(s, "carol", t3, sizeof(t3), &err), BO_ENOENT);
	assert_int_equal(read_int(s, "SELECT count(*) FROM users"), 2);
	assert_int_equal(read_int(s, "SELECT count(*) FROM tokens"), 3);

	/* only hashes are stored */
	struct hashes h = {.token = t2};
	assert_int_equal(bd_store_read(s, scan_tokens_cb, &h, &err), BO_OK);
	assert_int_equal(h.rows, 3);
	assert_int_equal(h.plain, 0);
	assert_int_equal(h.bad, 0);
	bd_sha256_hex_of(t2, strlen(t2), hex);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM tokens WHERE hash = '%s' AND user_id = %lld",
		 hex, (long long)alice);
	assert_int_equal(read_int(s, sql), 1);

	/* a small buffer */
	char small[BO_TOKEN_SIZE - 1];
	assert_int_equal(bd_user_add(s, "dave", 0, small, sizeof(small), &err), BO_EINVAL);
	bd_store_close(s);
}

static void test_user_names(void **state)
{
	(void)state;
	static const char *const bad[] = {"", "a b", "x/y", "caf\xc3\xa9", "semi;colon", "tab\t",
					  "quote'", NULL};
	char name65[66], name64[65];
	char t[BO_TOKEN_SIZE];
	struct bo_error err;
	struct bd_store *s = open_ok("names.db", 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(bd_user_add(s, bad[i], 0, t, sizeof(t), &err), BO_EINVAL);
		assert_string_equal(err.field, "name");
		assert_int_equal(bd_token_create(s, bad[i], t, sizeof(t), &err), BO_EINVAL);
	}
	memset(name65, 'n', 65);
	name65[65] = 0;
	assert_int_equal(bd_user_add(s, name65, 0, t, sizeof(t), &err), BO_EINVAL);
	memset(name64, 'n', 64);
	name64[64] = 0;
	assert_int_equal(bd_user_add(s, name64, 0, t, sizeof(t), &err), BO_OK);
	struct bd_user u;
	assert_int_equal(bd_auth_check(s, t, &u, &err), BO_OK);
	assert_string_equal(u.name, name64);
	assert_int_equal(read_int(s, "SELECT count(*) FROM users"), 1);
	bd_store_close(s);
}

/* ---- misc ---- */

static void test_now(void **state)
{
	(void)state;
	char buf[32];
	bd_store_now(buf, sizeof(buf));
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

/* ---- storage faults: the fault VFS ---- */

static struct {
	atomic_int countdown;    /* > 0: the countdown-th call from now fails */
	atomic_int persist;      /* and every call after it, until disarmed */
	atomic_int tripped;
	atomic_int always;       /* every call fails */
	atomic_int code;         /* what a failing call returns */
	atomic_int failures;     /* calls failed since the last fv_disarm */
	char while_exists[4096]; /* "": off; else calls fail while this file exists */
} fv;

struct fv_file {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct, szOsFile of the default VFS */
};

static sqlite3_vfs fv_vfs;

static void fv_disarm(void)
{
	atomic_store(&fv.countdown, 0);
	atomic_store(&fv.persist, 0);
	atomic_store(&fv.tripped, 0);
	atomic_store(&fv.always, 0);
	atomic_store(&fv.failures, 0);
	fv.while_exists[0] = 0;
}

static int fv_should_fail(void)
{
	int fail = atomic_load(&fv.always) || atomic_load(&fv.tripped) ||
		   (fv.while_exists[0] && access(fv.while_exists, F_OK) == 0);
	if (!fail && atomic_load(&fv.countdown) > 0 && atomic_fetch_sub(&fv.countdown, 1) == 1) {
		fail = 1;
		if (atomic_load(&fv.persist))
			atomic_store(&fv.tripped, 1);
	}
	if (fail)
		atomic_fetch_add(&fv.failures, 1);
	return fail;
}

#define REAL(f) (((struct fv_file *)(f))->real)
static int fv_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}
static int fv_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int fv_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
	return fv_should_fail() ? atomic_load(&fv.code) : REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int fv_truncate(sqlite3_file *f, sqlite3_int64 n)
{
	return fv_should_fail() ? atomic_load(&fv.code) : REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int fv_sync(sqlite3_file *f, int flags)
{
	return fv_should_fail() ? atomic_load(&fv.code) : REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int fv_size(sqlite3_file *f, sqlite3_int64 *n)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int fv_lock(sqlite3_file *f, int k)
{
	return REAL(f)->pMethods->xLock(REAL(f), k);
}
static int fv_unlock(sqlite3_file *f, int k)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), k);
}
static int fv_check(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int fv_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int fv_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int fv_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int fv_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int fv_shm_lock(sqlite3_file *f, int o, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), o, n, flags);
}
static void fv_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int fv_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int fv_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp);
}
static int fv_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

/* no xFetch: every read goes through xRead (the default VFS has it, but
 * memory mapping is off anyway) */
static const sqlite3_io_methods fv_methods = {
	3,	       fv_close,   fv_read,	 fv_write,	 fv_truncate,	 fv_sync,
	fv_size,       fv_lock,	   fv_unlock,	 fv_check,	 fv_fcntl,	 fv_sector,
	fv_devchar,    fv_shm_map, fv_shm_lock, fv_shm_barrier, fv_shm_unmap, fv_fetch,
	fv_unfetch,
};

static int fv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	sqlite3_vfs *real = vfs->pAppData;
	struct fv_file *ff = (struct fv_file *)f;
	ff->real = (sqlite3_file *)(ff + 1);
	int rc = real->xOpen(real, name, ff->real, flags, out);
	f->pMethods = rc == SQLITE_OK && ff->real->pMethods ? &fv_methods : NULL;
	return rc;
}

#define RVFS(v) ((sqlite3_vfs *)(v)->pAppData)
static int fv_delete(sqlite3_vfs *v, const char *n, int sync)
{
	return RVFS(v)->xDelete(RVFS(v), n, sync);
}
static int fv_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
	return RVFS(v)->xAccess(RVFS(v), n, flags, out);
}
static int fv_full(sqlite3_vfs *v, const char *n, int size, char *out)
{
	return RVFS(v)->xFullPathname(RVFS(v), n, size, out);
}
static int fv_random(sqlite3_vfs *v, int n, char *out)
{
	return RVFS(v)->xRandomness(RVFS(v), n, out);
}
static int fv_sleep(sqlite3_vfs *v, int us)
{
	return RVFS(v)->xSleep(RVFS(v), us);
}
static int fv_time(sqlite3_vfs *v, double *t)
{
	return RVFS(v)->xCurrentTime(RVFS(v), t);
}
static int fv_lasterr(sqlite3_vfs *v, int n, char *buf)
{
	return RVFS(v)->xGetLastError(RVFS(v), n, buf);
}
static int fv_time64(sqlite3_vfs *v, sqlite3_int64 *t)
{
	return RVFS(v)->xCurrentTimeInt64(RVFS(v), t);
}

static void fv_register(void)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	assert_non_null(real);
	fv_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct fv_file) + real->szOsFile,
		.mxPathname = real->mxPathname,
		.zName = "faultvfs",
		.pAppData = real,
		.xOpen = fv_open,
		.xDelete = fv_delete,
		.xAccess = fv_access,
		.xFullPathname = fv_full,
		.xRandomness = fv_random,
		.xSleep = fv_sleep,
		.xCurrentTime = fv_time,
		.xGetLastError = fv_lasterr,
		.xCurrentTimeInt64 = fv_time64,
	};
	assert_int_equal(sqlite3_vfs_register(&fv_vfs, 0), SQLITE_OK);
}

static struct bd_store *open_fv(const char *name, const char *reserve, int64_t reserve_bytes)
{
	char path[4096];
	struct bd_store *s = NULL;
	struct bo_error err;
	struct bd_store_opts o = {.vfs = "faultvfs", .reserve_path = reserve,
				  .reserve_bytes = reserve_bytes};
	tpath(path, name);
	bo_status rc = bd_store_open_with(path, 2, &o, &s, &err);
	if (rc)
		print_error("bd_store_open_with: %s\n", err.text);
	assert_int_equal(rc, BO_OK);
	return s;
}

static void assert_intact(struct bd_store *s)
{
	char buf[256];
	struct bo_error err;
	assert_int_equal(bd_store_integrity(s, buf, sizeof(buf), &err), BO_OK);
	assert_string_equal(buf, "ok");
}

/* n rows of tag `tag` (with 2 KB blobs: several pages), and the counter
 * row bumped: one transaction that touches many pages */
struct batch {
	int tag, n;
};

static bo_status batch_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct batch *b = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db, "INSERT INTO t (tag, blob) VALUES (?, randomblob(2000))", -1,
			       &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "insert");
	for (int i = 0; i < b->n && rc == BO_OK; i++) {
		sqlite3_bind_int(st, 1, b->tag);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = bd_store_fail(db, err, "insert");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc == BO_OK)
		rc = bd_store_exec(db, "UPDATE counter SET n = n + 1", err);
	return rc;
}

static void fv_schema(struct bd_store *s)
{
	struct bo_error err;
	assert_int_equal(bd_store_write(s, exec_cb,
					"CREATE TABLE t (id INTEGER PRIMARY KEY, tag INTEGER, blob BLOB);"
					"CREATE TABLE counter (n INTEGER);"
					"INSERT INTO counter VALUES (0)",
					&err),
			 BO_OK);
}

/* SQLITE_FULL: BO_ENOSPC with a message that says what to do; nothing
 * of the write lands, everything before it stays, the store recovers. */
static void test_full_is_enospc(void **state)
{
	(void)state;
	struct bo_error err;
	struct bd_store *s = open_fv("full.db", NULL, 0);
	fv_schema(s);
	struct batch ok = {1, 10}, big = {2, 40};
	assert_int_equal(bd_store_write(s, batch_cb, &ok, &err), BO_OK);
	assert_string_equal(bd_store_health(s), "ok");
	fv_disarm();
	atomic_store(&fv.code, SQLITE_FULL);
	atomic_store(&fv.always, 1);
	assert_int_equal(bd_store_write(s, batch_cb, &big, &err), BO_ENOSPC);
	assert_true(atomic_load(&fv.failures) > 0);
	assert_int_equal(err.status, BO_ENOSPC);
	assert_non_null(strstr(err.text, "the disk holding the data directory is full"));
	assert_non_null(strstr(err.text, "delete models, datasets or jobs"));
	assert_string_equal(bd_store_health(s), "full");
	/* a write that changes nothing does not say the disk is back */
	assert_int_equal(bd_store_write(s, exec_cb, "SELECT 1", &err), BO_OK);
	assert_string_equal(bd_store_health(s), "full");
	fv_disarm();
	assert_intact(s);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t WHERE tag = 1"), 10);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t WHERE tag = 2"), 0);
	assert_int_equal(read_int(s, "SELECT n FROM counter"), 1);
	/* space is back: the same write commits */
	assert_int_equal(bd_store_write(s, batch_cb, &big, &err), BO_OK);
	assert_string_equal(bd_store_health(s), "ok");
	assert_int_equal(read_int(s, "SELECT count(*) FROM t WHERE tag = 2"), 40);
	bd_store_close(s);
}

/* An I/O error in the middle of a transaction rolls all of it back. */
static void test_ioerr_rolls_back(void **state)
{
	(void)state;
	struct bo_error err;
	struct bd_store *s = open_fv("ioerr.db", NULL, 0);
	fv_schema(s);
	struct batch ok = {1, 5}, b = {2, 40};
	assert_int_equal(bd_store_write(s, batch_cb, &ok, &err), BO_OK);
	fv_disarm();
	atomic_store(&fv.code, SQLITE_IOERR_WRITE);
	atomic_store(&fv.countdown, 3); /* the third write of the commit */
	assert_int_equal(bd_store_write(s, batch_cb, &b, &err), BO_EIO);
	assert_int_equal(atomic_load(&fv.failures), 1);
	assert_string_equal(bd_store_health(s), "io_error");
	fv_disarm();
	assert_intact(s);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t WHERE tag = 2"), 0);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t"), 5);
	assert_int_equal(read_int(s, "SELECT n FROM counter"), 1);
	assert_int_equal(bd_store_write(s, batch_cb, &b, &err), BO_OK);
	assert_string_equal(bd_store_health(s), "ok");
	bd_store_close(s);
}

/* The Nth write, sync or truncate fails (and, every other round, all later
 * ones too), N = 1, 2, ... until a transaction gets through without a
 * fault: each time the write is all there or not there at all, everything
 * committed before survives, and the database (reopened from disk) passes
 * integrity_check. */
static void test_nth_write_loop(void **state)
{
	(void)state;
	struct bo_error err;
	struct bd_store *s = open_fv("nth.db", NULL, 0);
	int64_t committed = 0, rounds = 0, failed = 0;
	int n;
	fv_schema(s);
	for (n = 1; n <= 400; n++) {
		struct batch b = {n, 20};
		fv_disarm();
		atomic_store(&fv.code, n % 3 == 0 ? SQLITE_IOERR_WRITE : SQLITE_FULL);
		atomic_store(&fv.persist, n % 2);
		atomic_store(&fv.countdown, n);
		bo_status rc = bd_store_write(s, batch_cb, &b, &err);
		int hit = atomic_load(&fv.failures) > 0;
		fv_disarm();
		if (rc == BO_OK) {
			committed++;
		} else {
			failed++;
			assert_true(hit);
			assert_true(rc == BO_ENOSPC || rc == BO_EIO);
			assert_int_equal(rc, n % 3 == 0 ? BO_EIO : BO_ENOSPC);
		}
		/* on disk, as a restart would find it */
		bd_store_close(s);
		s = open_fv("nth.db", NULL, 0);
		assert_intact(s);
		char sql[128];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM t WHERE tag = %d", n);
		assert_int_equal(read_int(s, sql), rc == BO_OK ? b.n : 0);
		assert_int_equal(read_int(s, "SELECT n FROM counter"), committed);
		assert_int_equal(read_int(s, "SELECT count(DISTINCT tag) FROM t"), committed);
		rounds++;
		if (!hit)
			break; /* the write needs fewer than n calls: every point is covered */
	}
	assert_true(n <= 400);
	assert_true(failed >= 5); /* the loop did fail writes at several points */
	print_message("nth-write loop: %lld rounds, %lld failed, %lld committed\n",
		      (long long)rounds, (long long)failed, (long long)committed);
	bd_store_close(s);
}

/* A freeing write spends the reserve when the disk is full (here: the
 * reserve is what fills it), a plain one does not; the reserve comes back
 * once there is room. */
static void test_reserve(void **state)
{
	(void)state;
	struct bo_error err;
	char reserve[4096];
	struct stat sb;
	tpath(reserve, "reserve.bin");
	struct bd_store *s = open_fv("reserve.db", reserve, 64 * 1024);
	assert_int_equal(bd_store_reserve_held(s), 1);
	assert_int_equal(stat(reserve, &sb), 0);
	assert_true(sb.st_size == 64 * 1024);
	fv_schema(s);
	struct batch ok = {1, 10};
	assert_int_equal(bd_store_write(s, batch_cb, &ok, &err), BO_OK);

	fv_disarm();
	atomic_store(&fv.code, SQLITE_FULL);
	snprintf(fv.while_exists, sizeof(fv.while_exists), "%s", reserve);
	assert_int_equal(bd_store_write(s, exec_cb, "DELETE FROM t WHERE id <= 5", &err),
			 BO_ENOSPC);
	assert_int_equal(bd_store_reserve_held(s), 1);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t"), 10);
	assert_int_equal(bd_store_write_freeing(s, exec_cb, "DELETE FROM t WHERE id <= 5", &err),
			 BO_OK);
	assert_int_equal(bd_store_reserve_held(s), 0);
	assert_int_not_equal(stat(reserve, &sb), 0);
	assert_int_equal(read_int(s, "SELECT count(*) FROM t"), 5);
	assert_string_equal(bd_store_health(s), "ok");
	fv_disarm();
	assert_intact(s);

	/* writes that change something make it again (at most once a second):
	 * poll, bounded */
	struct timespec t0, t1, pause = {0, 20 * 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double waited = 0;
	while (!bd_store_reserve_held(s) && waited < 10) {
		assert_int_equal(bd_store_write(s, exec_cb, "UPDATE counter SET n = n + 1", &err),
				 BO_OK);
		nanosleep(&pause, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	}
	assert_int_equal(bd_store_reserve_held(s), 1);
	assert_int_equal(stat(reserve, &sb), 0);
	assert_true(sb.st_size == 64 * 1024);
	bd_store_close(s);

	/* a bad reserve is refused, an unknown VFS named */
	struct bd_store *s2 = NULL;
	struct bd_store_opts bad = {.reserve_path = reserve, .reserve_bytes = 0};
	char path[4096];
	tpath(path, "reserve2.db");
	assert_int_equal(bd_store_open_with(path, 1, &bad, &s2, &err), BO_EINVAL);
	struct bd_store_opts novfs = {.vfs = "no-such-vfs"};
	assert_int_equal(bd_store_open_with(path, 1, &novfs, &s2, &err), BO_EINVAL);
	assert_non_null(strstr(err.text, "no-such-vfs"));
	assert_null(s2);
}

/* reserve-bytes: 4 MiB by default, 0 turns it off, at most 1 GiB */
static void test_reserve_config(void **state)
{
	(void)state;
	struct bd_config c;
	struct bo_error err;
	bd_config_defaults(&c);
	assert_int_equal(c.reserve_bytes, 4 << 20);
	assert_int_equal(bd_config_set(&c, "reserve-bytes", "8M", &err), BO_OK);
	assert_int_equal(c.reserve_bytes, 8 << 20);
	assert_int_equal(bd_config_set(&c, "reserve-bytes", "0", &err), BO_OK);
	assert_int_equal(c.reserve_bytes, 0);
	assert_int_not_equal(bd_config_set(&c, "reserve-bytes", "2G", &err), BO_OK);
	assert_string_equal(err.field, "reserve-bytes");
	assert_int_not_equal(bd_config_set(&c, "reserve-bytes", "-1", &err), BO_OK);
	assert_int_equal(c.reserve_bytes, 0);
}

static void touch(const char *rel)
{
	char path[4096];
	tpath(path, rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("x", f);
	assert_int_equal(fclose(f), 0);
}

static int exists(const char *rel)
{
	char path[4096];
	tpath(path, rel);
	return access(path, F_OK) == 0;
}

/* Files no live model or dataset names go; the others, the reserve and
 * anything outside models/ and datasets/ stay. */
static void test_sweep_orphans(void **state)
{
	(void)state;
	struct bo_error err;
	char dir[4096];
	int removed = -1;
	struct bd_store *s = open_ok("sweep.db", 1);
	/* no rows, no directories: nothing to do, and no crash */
	assert_int_equal(bd_store_sweep_orphans(s, g_root, &removed, &err), BO_OK);
	assert_int_equal(removed, 0);
	assert_true(exists("sweep.db"));
	assert_int_equal(
		bd_store_write(
			s, exec_cb,
			"INSERT INTO users (id, name, created_at) VALUES (1, 'u', 'now');"
			"INSERT INTO models (id, owner_id, name, sha256, size, path, info, created_at,"
			" deleted_at) VALUES (1, 1, 'a', 'x', 1, 'models/1.onnx', '{}', 'now', NULL),"
			" (2, 1, 'b', 'x', 1, 'models/2.onnx', '{}', 'now', 'then');"
			"INSERT INTO datasets (id, owner_id, name, source, format, path, labels_path,"
			" images, shape, created_at, deleted_at) VALUES"
			" (1, 1, 'd', 'upload', 'npy', 'datasets/1-images.bin', 'datasets/1-labels.bin',"
			" 1, '[1,1,1]', 'now', NULL),"
			" (2, 1, 'e', 'path', 'idx', 'datasets/5-images.bin', NULL, 1, '[1,1,1]', 'now',"
			" NULL)",
			&err),
		BO_OK);
	tpath(dir, "models");
	assert_int_equal(mkdir(dir, 0755), 0);
	tpath(dir, "datasets");
	assert_int_equal(mkdir(dir, 0755), 0);
	touch("models/1.onnx");
	touch("models/2.onnx"); /* deleted: its unlink never happened */
	touch("models/9.onnx"); /* renamed in, then the commit failed */
	touch("datasets/1-images.bin");
	touch("datasets/1-labels.bin");
	touch("datasets/5-images.bin"); /* a path dataset's name is not an upload's */
	touch("space-reserve");
	assert_int_equal(bd_store_sweep_orphans(s, g_root, &removed, &err), BO_OK);
	assert_int_equal(removed, 3);
	assert_true(exists("models/1.onnx"));
	assert_false(exists("models/2.onnx"));
	assert_false(exists("models/9.onnx"));
	assert_true(exists("datasets/1-images.bin"));
	assert_true(exists("datasets/1-labels.bin"));
	assert_false(exists("datasets/5-images.bin"));
	assert_true(exists("space-reserve"));
	assert_true(exists("sweep.db"));
	bd_store_close(s);
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pause_ms(long ms)
{
	struct timespec ts = {0, ms * 1000 * 1000};
	nanosleep(&ts, NULL);
}

/* Poll (every 10 ms, at most `secs`) until the first column of sql is
 * `want`. */
static void poll_int(struct bd_store *s, const char *sql, int64_t want, double secs)
{
	double end = mono() + secs;
	int64_t v;
	while ((v = read_int(s, sql)) != want && mono() < end)
		pause_ms(10);
	if (v != want)
		print_error("%s: %lld after %.0f s, not %lld\n", sql, (long long)v, secs,
			    (long long)want);
	assert_int_equal(v, want);
}

static void add_job(struct bd_store *s, int id)
{
	char sql[512];
	struct bo_error err;
	snprintf(sql, sizeof(sql),
		 "INSERT INTO jobs (id, owner_id, model_id, dataset_id, state, spec, points,"
		 " created_at) VALUES (%d, 1, 1, 1, 'queued', '{}', 1, 'now');"
		 "INSERT INTO tasks (job_id, kind, point, trial_lo, trial_hi, state)"
		 " VALUES (%d, 'trials', 0, 0, 1, 'queued')",
		 id, id);
	assert_int_equal(bd_store_write(s, exec_cb, sql, &err), BO_OK);
}

/* The local pool on a store that refuses every write: the worker backs off
 * (a bounded number of tries, where it used to spin), /health's store says
 * full, it recovers by itself once writes go through, and stop ends a
 * backoff at once. */
static void test_pool_backs_off(void **state)
{
	(void)state;
	struct bo_error err;
	struct bd_daemon *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	bd_config_defaults(&d->cfg);
	d->cfg.workers = 1;
	d->cfg.threads_per_worker = 1;
	snprintf(d->cfg.data_dir, sizeof(d->cfg.data_dir), "%s", g_root);
	pthread_mutex_init(&d->live.mu, NULL);
	d->store = open_fv("pool.db", NULL, 0);
	/* a job whose model file is missing: once claimed, it fails (a write) */
	assert_int_equal(
		bd_store_write(
			d->store, exec_cb,
			"INSERT INTO users (id, name, created_at) VALUES (1, 'u', 'now');"
			"INSERT INTO models (id, owner_id, name, sha256, size, path, info, created_at)"
			" VALUES (1, 1, 'm', 'x', 1, 'models/none.onnx', '{}', 'now');"
			"INSERT INTO datasets (id, owner_id, name, source, format, path, images, shape,"
			" created_at) VALUES (1, 1, 'd', 'upload', 'npy', 'datasets/none.bin', 1,"
			" '[1,1,1]', 'now')",
			&err),
		BO_OK);
	add_job(d->store, 1);

	fv_disarm();
	atomic_store(&fv.code, SQLITE_FULL);
	atomic_store(&fv.always, 1);
	assert_int_equal(bd_pool_new(&d->exec, &err), BO_OK);
	assert_int_equal(d->exec.ops->start(d->exec.impl, d, &err), BO_OK);
	double end = mono() + 10;
	while (atomic_load(&fv.failures) == 0 && mono() < end)
		pause_ms(10);
	assert_true(atomic_load(&fv.failures) > 0);
	assert_string_equal(bd_store_health(d->store), "full");
	/* 2 s of a refusing store: tries at 0.1, 0.3, 0.7, 1.5 s, ... */
	int f0 = atomic_load(&fv.failures);
	double t0 = mono();
	while (mono() - t0 < 2.0)
		pause_ms(50);
	int tries = atomic_load(&fv.failures) - f0;
	print_message("pool: %d refused writes in 2 s of backoff\n", tries);
	assert_true(tries <= 12);
	assert_int_equal(read_int(d->store, "SELECT count(*) FROM jobs WHERE state = 'queued'"), 1);

	/* writes go through again: the worker finds out by itself (its next
	 * try, within its backoff), claims the task and fails the job */
	fv_disarm();
	poll_int(d->store, "SELECT count(*) FROM jobs WHERE id = 1 AND state = 'failed'", 1, 20);
	assert_string_equal(bd_store_health(d->store), "ok");

	/* a backoff in progress ends at stop */
	add_job(d->store, 2);
	atomic_store(&fv.code, SQLITE_FULL);
	atomic_store(&fv.always, 1);
	d->exec.ops->wake(d->exec.impl);
	end = mono() + 10;
	while (atomic_load(&fv.failures) < 4 && mono() < end)
		pause_ms(10);
	assert_true(atomic_load(&fv.failures) >= 4); /* its next wait is 1.6 s or more */
	t0 = mono();
	d->exec.ops->stop(d->exec.impl);
	double took = mono() - t0;
	print_message("pool: stopped in %.3f s during a backoff\n", took);
	assert_true(took < 1.0);
	fv_disarm();
	d->exec.ops->free(d->exec.impl);
	bd_store_close(d->store);
	pthread_mutex_destroy(&d->live.mu);
	free(d->live.jobs);
	free(d);
}

/* Migration NNN_lab (issue 12) on a store made by the migrations before it:
 * the columns appear with their defaults, and models of one owner and name
 * are numbered as versions in upload order. Found by name, so that a
 * renumbering keeps the test. */
static void test_lab_migration(void **state)
{
	(void)state;
	int lab = -1;
	for (int i = 0; i < bd_n_migrations; i++)
		if (strstr(bd_migrations[i].name, "_lab"))
			lab = i;
	assert_true(lab >= 1);
	sqlite3 *db = raw_open("lab.db");
	for (int i = 0; i < lab; i++)
		assert_int_equal(sqlite3_exec(db, bd_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", bd_migrations[lab - 1].version);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	static const char old[] =
		"INSERT INTO users (id, name, created_at) VALUES (1, 'a', 't'), (2, 'b', 't');"
		"INSERT INTO tokens (user_id, hash, created_at) VALUES (1, 'h1', 't');"
		"INSERT INTO models (id, owner_id, name, sha256, size, path, info, created_at,"
		" deleted_at) VALUES"
		" (1, 1, 'net', 's', 1, 'p', '{}', 't', NULL), (2, 2, 'net', 's', 1, 'p', '{}', 't', NULL),"
		" (3, 1, 'net', 's', 1, 'p', '{}', 't', 't'), (4, 1, 'other', 's', 1, 'p', '{}', 't', NULL),"
		" (5, 1, 'net', 's', 1, 'p', '{}', 't', NULL);"
		"INSERT INTO datasets (id, owner_id, name, source, format, path, images, shape,"
		" created_at) VALUES (1, 1, 'd', 'path', 'idx', '/x', 1, '[1,1,1]', 't');"
		"INSERT INTO jobs (owner_id, model_id, dataset_id, state, spec, points, created_at)"
		" VALUES (1, 5, 1, 'done', '{}', 1, 't');";
	assert_int_equal(sqlite3_exec(db, old, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	struct bd_store *s = open_ok("lab.db", 1);
	assert_int_equal(read_int(s, "PRAGMA user_version"), bd_store_schema_version());
	/* a's net: 1, (deleted) 3, 5 are versions 1, 2, 3; b's net and a's other are 1 */
	assert_int_equal(read_int(s, "SELECT group_concat(version, ',') = '1,1,2,1,3' FROM"
				     " (SELECT version FROM models ORDER BY id)"), 1);
	assert_int_equal(read_int(s, "SELECT name = '' AND notes = '' AND tags = '[]' FROM jobs"), 1);
	assert_int_equal(read_int(s, "SELECT name = '' FROM tokens"), 1);
	assert_int_equal(read_int(s, "SELECT count(*) FROM users WHERE disabled_at IS NULL"), 2);
	/* one owner's name and version are unique */
	struct bo_error err;
	assert_int_equal(bd_store_write(s, exec_cb,
					"UPDATE models SET version = 1 WHERE id = 5", &err),
			 BO_ECONFLICT);
	bd_store_close(s);
}

/* Token labels and ids (bd_token_issue), disabled users (issue 12). */
static void test_token_issue_and_disabled_users(void **state)
{
	(void)state;
	char t1[BO_TOKEN_SIZE], t2[BO_TOKEN_SIZE], sql[160];
	struct bd_user u;
	struct bo_error err;
	struct bd_store *s = open_ok("issue.db", 1);
	struct bd_token_issue q = {.user = "carol", .create_user = 1, .label = "laptop"};
	assert_int_equal(bd_token_issue(s, &q, t1, sizeof(t1), &err), BO_OK);
	assert_true(q.user_id > 0 && q.token_id > 0);
	snprintf(sql, sizeof(sql), "SELECT name = 'laptop' AND user_id = %lld FROM tokens WHERE id = %lld",
		 (long long)q.user_id, (long long)q.token_id);
	assert_int_equal(read_int(s, sql), 1);
	assert_int_equal(bd_auth_check(s, t1, &u, &err), BO_OK);
	assert_int_equal(u.token_id, q.token_id);
	/* a label over 64 bytes: refused, naming the field, nothing stored */
	char label[66];
	memset(label, 'x', 65);
	label[65] = 0;
	struct bd_token_issue q2 = {.user = "carol", .label = label};
	assert_int_equal(bd_token_issue(s, &q2, t2, sizeof(t2), &err), BO_EINVAL);
	assert_string_equal(err.field, "name");
	assert_int_equal(read_int(s, "SELECT count(*) FROM tokens"), 1);
	/* disabled: the token it still has fails, it gets no new one, its name stays taken */
	assert_int_equal(bd_store_write(s, exec_cb,
					"UPDATE users SET disabled_at = 'now' WHERE name = 'carol'", &err),
			 BO_OK);
	assert_int_equal(bd_auth_check(s, t1, &u, &err), BO_EAUTH);
	assert_int_equal(bd_token_create(s, "carol", t2, sizeof(t2), &err), BO_EPERM);
	assert_non_null(strstr(err.text, "disabled"));
	assert_int_equal(bd_user_add(s, "carol", 0, t2, sizeof(t2), &err), BO_ECONFLICT);
	assert_int_equal(read_int(s, "SELECT count(*) FROM tokens"), 1);
	bd_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_open),
		cmocka_unit_test(test_reopen_is_noop),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_failing_migration_rolls_back),
		cmocka_unit_test(test_lab_migration),
		cmocka_unit_test(test_token_issue_and_disabled_users),
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
		cmocka_unit_test(test_full_is_enospc),
		cmocka_unit_test(test_ioerr_rolls_back),
		cmocka_unit_test(test_nth_write_loop),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_reserve_config),
		cmocka_unit_test(test_sweep_orphans),
		cmocka_unit_test(test_pool_backs_off),
	};
	fv_register();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
