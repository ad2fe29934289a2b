/* brownoutd: the SQLite store (see store.h).
 *
 * The writer thread owns the only writable connection and runs the queued
 * write requests one after another, in submission order, each in its own
 * BEGIN IMMEDIATE ... COMMIT. A request lives on its submitter's stack: the
 * submitter sleeps on the request's condition variable (under the queue
 * mutex) until the writer marks it done. The read connections sit in a
 * stack of free slots guarded by a mutex and a condition variable.
 *
 * Every connection is opened SQLITE_OPEN_NOMUTEX: each one is used by one
 * thread at a time (the writer, or the reader that took it from the pool). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "migrations.h"
#include "store.h"

#define BUSY_TIMEOUT_MS 5000
#define MAX_READERS 256

struct write_req {
	bo_store_fn fn;
	void *ctx;
	struct bo_error *err;
	bo_status rc;
	int done;
	pthread_cond_t cv; /* signalled (under wmu) when done is set */
	struct write_req *next;
};

struct bo_store {
	char *path;

	/* the writer: its connection, its thread and its FIFO of requests */
	sqlite3 *wdb;
	pthread_t writer;
	int writer_running;
	pthread_mutex_t wmu;
	pthread_cond_t wcv; /* the queue got an item, or stopping was set */
	struct write_req *head, *tail;
	int stopping;

	/* the read pool: free_idx[0..nfree) are the idle connections */
	sqlite3 **rdb;
	int nreaders;
	int *free_idx;
	int nfree;
	pthread_mutex_t rmu;
	pthread_cond_t rcv; /* a connection went back to the pool */

	int have_wmu, have_wcv, have_rmu, have_rcv;
};

bo_status bo_store_fail(sqlite3 *db, struct bo_error *err, const char *what)
{
	int code = db ? (sqlite3_extended_errcode(db) & 0xff) : SQLITE_NOMEM;
	bo_status st;
	switch (code) {
	case SQLITE_CONSTRAINT:
		st = BO_ECONFLICT;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		st = BO_EBUSY;
		break;
	case SQLITE_NOMEM:
		st = BO_ENOMEM;
		break;
	default:
		st = BO_EIO;
		break;
	}
	return bo_fail(err, st, "%s: %s", what ? what : "sqlite",
		       db ? sqlite3_errmsg(db) : "out of memory");
}

bo_status bo_store_exec(sqlite3 *db, const char *sql, struct bo_error *err)
{
	bo_status rc = BO_OK;
	sqlite3_stmt *st = NULL;
	const char *tail = sql;
	while (rc == BO_OK && tail && *tail) {
		if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK) {
			rc = bo_store_fail(db, err, sql);
		} else if (st) { /* NULL: only whitespace or comments were left */
			int k;
			while ((k = sqlite3_step(st)) == SQLITE_ROW)
				;
			if (k != SQLITE_DONE)
				rc = bo_store_fail(db, err, sql);
			sqlite3_finalize(st);
			st = NULL;
		}
	}
	return rc;
}

void bo_store_now(char *buf, size_t size)
{
	struct tm tm;
	time_t t = time(NULL);
	if (!buf || !size)
		return;
	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		buf[0] = 0;
}

int bo_store_schema_version(void)
{
	return bo_n_migrations > 0 ? bo_migrations[bo_n_migrations - 1].version : 0;
}

/* Make err agree with the status a call returns. */
static bo_status settle(struct bo_error *err, bo_status rc)
{
	if (rc != BO_OK && err) {
		err->status = rc;
		if (!err->text[0])
			bo_fail(err, rc, "%s", bo_strerror(rc));
	}
	return rc;
}

/* fn inside `begin` ... COMMIT; ROLLBACK when fn or COMMIT fails. */
static bo_status run_txn(sqlite3 *db, const char *begin, bo_store_fn fn, void *ctx,
			 struct bo_error *err)
{
	bo_status rc = bo_store_exec(db, begin, err);
	if (rc)
		goto out;
	rc = fn(db, ctx, err);
	if (rc == BO_OK)
		rc = bo_store_exec(db, "COMMIT", err);
	if (rc != BO_OK && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	return settle(err, rc);
}

static bo_status open_conn(const char *path, int flags, sqlite3 **out, struct bo_error *err)
{
	bo_status rc = BO_OK;
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = bo_store_fail(db, err, "cannot open the database");
		bo_error_where(err, path, NULL, NULL, NULL);
		goto out;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	rc = bo_store_exec(db, "PRAGMA foreign_keys=ON", err);
out:
	if (rc) {
		sqlite3_close(db);
		db = NULL;
	}
	*out = db;
	return rc;
}

/* PRAGMA journal_mode=WAL answers the mode it ended up in. */
static bo_status set_wal(sqlite3 *db, const char *path, struct bo_error *err)
{
	bo_status rc = BO_OK;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = bo_store_fail(db, err, "PRAGMA journal_mode=WAL");
		goto out;
	}
	const char *mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || strcmp(mode, "wal") != 0) {
		rc = bo_fail(err, BO_EIO, "cannot put the database in WAL mode (journal_mode is %s)",
			     mode ? mode : "unknown");
		bo_error_where(err, path, NULL, NULL, NULL);
	}
out:
	sqlite3_finalize(st);
	return rc;
}

static bo_status user_version(sqlite3 *db, int *out, struct bo_error *err)
{
	bo_status rc = BO_OK;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		rc = bo_store_fail(db, err, "PRAGMA user_version");
	else
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc;
}

/* Apply the embedded migrations newer than the database's user_version, and
 * the new user_version, in one transaction. */
static bo_status migrate(sqlite3 *db, const char *path, struct bo_error *err)
{
	int newest = bo_store_schema_version();
	int have = 0;
	bo_status rc = bo_store_exec(db, "BEGIN IMMEDIATE", err);
	if (rc)
		goto out;
	rc = user_version(db, &have, err);
	if (rc)
		goto out;
	if (have > newest) {
		rc = bo_fail(err, BO_ECONFLICT,
			     "database %s has schema version %d, this brownoutd knows up to %d: "
			     "upgrade brownoutd",
			     path, have, newest);
		bo_error_where(err, path, NULL, NULL, NULL);
		goto out;
	}
	for (int i = 0; i < bo_n_migrations && rc == BO_OK; i++) {
		const struct bo_migration *m = &bo_migrations[i];
		if (m->version <= have)
			continue;
		if (sqlite3_exec(db, m->sql, NULL, NULL, NULL) != SQLITE_OK) {
			char what[128];
			snprintf(what, sizeof(what), "migration %s.sql failed", m->name);
			rc = bo_store_fail(db, err, what);
			bo_error_where(err, path, NULL, NULL, NULL);
		}
	}
	if (rc == BO_OK && newest > have) {
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", newest);
		rc = bo_store_exec(db, sql, err);
	}
	if (rc == BO_OK)
		rc = bo_store_exec(db, "COMMIT", err);
out:
	if (rc != BO_OK && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* The next queued request, or NULL once stopping and the queue is empty. */
static struct write_req *next_request(struct bo_store *s)
{
	struct write_req *r;
	while (!s->head && !s->stopping)
		pthread_cond_wait(&s->wcv, &s->wmu);
	r = s->head;
	if (r) {
		s->head = r->next;
		if (!s->head)
			s->tail = NULL;
	}
	return r;
}

static void *writer_main(void *arg)
{
	struct bo_store *s = arg;
	struct write_req *r;
	pthread_mutex_lock(&s->wmu);
	while ((r = next_request(s))) {
		pthread_mutex_unlock(&s->wmu);
		bo_status rc = run_txn(s->wdb, "BEGIN IMMEDIATE", r->fn, r->ctx, r->err);
		pthread_mutex_lock(&s->wmu);
		r->rc = rc;
		r->done = 1;
		pthread_cond_signal(&r->cv);
	}
	pthread_mutex_unlock(&s->wmu);
	return NULL;
}

/* The writer blocks every signal: they go to the daemon's other threads. */
static bo_status start_writer(struct bo_store *s, struct bo_error *err)
{
	bo_status rc = BO_OK;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&s->writer, NULL, writer_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		rc = bo_fail(err, BO_ENOMEM, "cannot start the store's writer thread: %s", strerror(e));
	else
		s->writer_running = 1;
	return rc;
}

static bo_status init_sync(struct bo_store *s, struct bo_error *err)
{
	s->have_wmu = !pthread_mutex_init(&s->wmu, NULL);
	s->have_wcv = !pthread_cond_init(&s->wcv, NULL);
	s->have_rmu = !pthread_mutex_init(&s->rmu, NULL);
	s->have_rcv = !pthread_cond_init(&s->rcv, NULL);
	if (s->have_wmu && s->have_wcv && s->have_rmu && s->have_rcv)
		return BO_OK;
	return bo_fail(err, BO_ENOMEM, "cannot create the store's locks");
}

bo_status bo_store_open(const char *path, int readers, struct bo_store **out,
			struct bo_error *err)
{
	bo_status rc = BO_OK;
	struct bo_store *s = NULL;
	bo_error_clear(err);
	if (out)
		*out = NULL;
	if (!path || !*path || !out || readers < 1 || readers > MAX_READERS) {
		rc = bo_fail(err, BO_EINVAL, "bo_store_open: need a path and 1..%d readers",
			     MAX_READERS);
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path)) || !(s->rdb = calloc((size_t)readers, sizeof(*s->rdb))) ||
	    !(s->free_idx = calloc((size_t)readers, sizeof(*s->free_idx)))) {
		rc = bo_fail(err, BO_ENOMEM, "cannot allocate the store");
		goto out;
	}
	s->nreaders = readers;
	rc = init_sync(s, err);
	if (rc)
		goto out;

	rc = open_conn(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &s->wdb, err);
	if (rc)
		goto out;
	rc = set_wal(s->wdb, path, err);
	if (rc)
		goto out;
	rc = bo_store_exec(s->wdb, "PRAGMA synchronous=FULL", err);
	if (rc)
		goto out;
	rc = migrate(s->wdb, path, err);
	if (rc)
		goto out;

	for (int i = 0; i < readers && rc == BO_OK; i++) {
		rc = open_conn(path, SQLITE_OPEN_READONLY, &s->rdb[i], err);
		s->free_idx[s->nfree++] = i;
	}
	if (rc)
		goto out;
	rc = start_writer(s, err);
	if (rc)
		goto out;
	*out = s;
	s = NULL;
out:
	bo_store_close(s);
	return rc;
}

void bo_store_close(struct bo_store *s)
{
	if (!s)
		return;
	if (s->writer_running) {
		pthread_mutex_lock(&s->wmu);
		s->stopping = 1;
		pthread_cond_broadcast(&s->wcv);
		pthread_mutex_unlock(&s->wmu);
		pthread_join(s->writer, NULL);
	}
	for (int i = 0; s->rdb && i < s->nreaders; i++)
		sqlite3_close_v2(s->rdb[i]);
	if (s->wdb) {
		sqlite3_exec(s->wdb, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
		sqlite3_close_v2(s->wdb);
	}
	if (s->have_wmu)
		pthread_mutex_destroy(&s->wmu);
	if (s->have_wcv)
		pthread_cond_destroy(&s->wcv);
	if (s->have_rmu)
		pthread_mutex_destroy(&s->rmu);
	if (s->have_rcv)
		pthread_cond_destroy(&s->rcv);
	free(s->free_idx);
	free(s->rdb);
	free(s->path);
	free(s);
}

bo_status bo_store_write(struct bo_store *s, bo_store_fn fn, void *ctx, struct bo_error *err)
{
	bo_status rc = BO_OK;
	struct write_req r = {.fn = fn, .ctx = ctx, .err = err};
	bo_error_clear(err);
	if (!s || !fn) {
		rc = bo_fail(err, BO_EINVAL, "bo_store_write: no store or no callback");
		goto out;
	}
	if (pthread_equal(pthread_self(), s->writer)) {
		rc = bo_fail(err, BO_EINTERNAL, "bo_store_write called from inside a write");
		goto out;
	}
	if (pthread_cond_init(&r.cv, NULL)) {
		rc = bo_fail(err, BO_ENOMEM, "cannot create a condition variable");
		goto out;
	}
	pthread_mutex_lock(&s->wmu);
	if (s->stopping) {
		rc = bo_fail(err, BO_EBUSY, "the store is closing");
	} else {
		if (s->tail)
			s->tail->next = &r;
		else
			s->head = &r;
		s->tail = &r;
		pthread_cond_signal(&s->wcv);
		while (!r.done)
			pthread_cond_wait(&r.cv, &s->wmu);
		rc = r.rc;
	}
	pthread_mutex_unlock(&s->wmu);
	pthread_cond_destroy(&r.cv);
out:
	return rc;
}

bo_status bo_store_read(struct bo_store *s, bo_store_fn fn, void *ctx, struct bo_error *err)
{
	bo_status rc = BO_OK;
	int idx;
	bo_error_clear(err);
	if (!s || !fn) {
		rc = bo_fail(err, BO_EINVAL, "bo_store_read: no store or no callback");
		goto out;
	}
	pthread_mutex_lock(&s->rmu);
	while (s->nfree == 0)
		pthread_cond_wait(&s->rcv, &s->rmu);
	idx = s->free_idx[--s->nfree];
	pthread_mutex_unlock(&s->rmu);

	rc = run_txn(s->rdb[idx], "BEGIN", fn, ctx, err);

	pthread_mutex_lock(&s->rmu);
	s->free_idx[s->nfree++] = idx;
	pthread_cond_signal(&s->rcv);
	pthread_mutex_unlock(&s->rmu);
out:
	return rc;
}

struct integrity {
	char *buf;
	size_t size;
};

static bo_status integrity_cb(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct integrity *in = ctx;
	bo_status rc = BO_OK;
	sqlite3_stmt *st = NULL;
	int k;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
		rc = bo_store_fail(db, err, "PRAGMA integrity_check");
		goto out;
	}
	k = sqlite3_step(st);
	if (k == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		snprintf(in->buf, in->size, "%s", line ? line : "");
	} else {
		rc = bo_store_fail(db, err, "PRAGMA integrity_check");
	}
out:
	sqlite3_finalize(st);
	return rc;
}

bo_status bo_store_integrity(struct bo_store *s, char *buf, size_t size, struct bo_error *err)
{
	struct integrity in = {buf, size};
	bo_status rc;
	if (!buf || !size) {
		bo_error_clear(err);
		rc = bo_fail(err, BO_EINVAL, "bo_store_integrity: no buffer");
	} else {
		buf[0] = 0;
		rc = bo_store_read(s, integrity_cb, &in, err);
	}
	return rc;
}
