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
 * thread at a time (the writer, or the reader that took it from the pool).
 *
 * The writer also keeps the store's health (an atomic other threads read)
 * and the reserve file: released when a freeing write fails for want of
 * space; while it is missing, after a commit that changed something and
 * every second the writer is idle (at most once a second), made again when
 * statvfs says twice its size is free, else the WAL is checkpointed so
 * that the space a failed transaction grew it by comes back (PRAGMA
 * journal_size_limit truncates a restarted WAL). Ordering for deletes:
 * the row change commits first, the files go after (api_models.c), and
 * bd_store_sweep_orphans removes at start what a crash left in between. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "datadir.h"
#include "migrations.h"
#include "store.h"

#define BUSY_TIMEOUT_MS 5000
/* what a restarted WAL is truncated to (about the auto-checkpoint's 1000
 * pages): the space a big or failed transaction took comes back */
#define WAL_SIZE_LIMIT "4194304"
#define MAX_READERS 256

struct write_req {
	bd_store_fn fn;
	void *ctx;
	struct bo_error *err;
	bo_status rc;
	int done;
	int freeing; /* bd_store_write_freeing: may spend the reserve */
	pthread_cond_t cv; /* signalled (under wmu) when done is set */
	struct write_req *next;
};

enum { HEALTH_OK, HEALTH_FULL, HEALTH_IOERR };

struct bd_store {
	char *path;
	char *vfs;           /* NULL: SQLite's default */

	/* the reserve file (writer thread; reserve_held is read by others) */
	char *reserve_path;  /* NULL: none */
	int64_t reserve_bytes;
	atomic_int reserve_held;
	double reserve_tried; /* monotonic seconds of the last attempt */
	atomic_int health;    /* HEALTH_* after the last write that touched the disk */

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

#define FULL_TEXT                                                                          \
	"the disk holding the data directory is full; delete models, datasets or jobs to " \
	"free space"

bo_status bd_store_fail(sqlite3 *db, struct bo_error *err, const char *what)
{
	int code = db ? (sqlite3_extended_errcode(db) & 0xff) : SQLITE_NOMEM;
	int sys = db ? sqlite3_system_errno(db) : 0;
	bo_status st;
	/* unix VFS: ENOSPC on a write is SQLITE_FULL; EDQUOT (and ENOSPC while
	 * growing the -shm file) an I/O error with that errno */
	if (code == SQLITE_FULL || (code == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT)))
		return bo_error_set(err, BO_ENOSPC, "%s: " FULL_TEXT " (%s)", what ? what : "sqlite",
			       sys == EDQUOT ? "disk quota exceeded" : sqlite3_errmsg(db));
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
	return bo_error_set(err, st, "%s: %s", what ? what : "sqlite",
		       db ? sqlite3_errmsg(db) : "out of memory");
}

bo_status bd_store_exec(sqlite3 *db, const char *sql, struct bo_error *err)
{
	bo_status rc = BO_OK;
	sqlite3_stmt *st = NULL;
	const char *tail = sql;
	while (rc == BO_OK && tail && *tail) {
		if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK) {
			rc = bd_store_fail(db, err, sql);
		} else if (st) { /* NULL: only whitespace or comments were left */
			int k;
			while ((k = sqlite3_step(st)) == SQLITE_ROW)
				;
			if (k != SQLITE_DONE)
				rc = bd_store_fail(db, err, sql);
			sqlite3_finalize(st);
			st = NULL;
		}
	}
	return rc;
}

void bd_store_now(char *buf, size_t size)
{
	struct tm tm;
	time_t t = time(NULL);
	if (!buf || !size)
		return;
	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		buf[0] = 0;
}

int bd_store_schema_version(void)
{
	return bd_n_migrations > 0 ? bd_migrations[bd_n_migrations - 1].version : 0;
}

/* Make err agree with the status a call returns. */
static bo_status settle(struct bo_error *err, bo_status rc)
{
	if (rc != BO_OK && err) {
		err->status = rc;
		if (!err->text[0])
			bo_error_set(err, rc, "%s", bo_strerror(rc));
	}
	return rc;
}

/* fn inside `begin` ... COMMIT; ROLLBACK when fn or COMMIT fails. *sqlerr
 * (when not NULL): the connection's error code at the failure. */
static bo_status run_txn(sqlite3 *db, const char *begin, bd_store_fn fn, void *ctx,
			 struct bo_error *err, int *sqlerr)
{
	bo_status rc = bd_store_exec(db, begin, err);
	if (rc == BO_OK) {
		rc = fn(db, ctx, err);
		if (rc == BO_OK)
			rc = bd_store_exec(db, "COMMIT", err);
	}
	if (rc != BO_OK && sqlerr)
		*sqlerr = sqlite3_extended_errcode(db);
	if (rc != BO_OK && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return settle(err, rc);
}

static bo_status open_conn(const char *path, const char *vfs, int flags, sqlite3 **out,
			   struct bo_error *err)
{
	bo_status rc = BO_OK;
	sqlite3 *db = NULL;
	if (vfs && !sqlite3_vfs_find(vfs)) {
		rc = bo_error_set(err, BO_EINVAL, "no SQLite VFS named '%s'", vfs);
		goto out;
	}
	if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, vfs) != SQLITE_OK) {
		rc = bd_store_fail(db, err, "cannot open the database");
		bo_error_set_where(err, path, NULL, NULL, NULL);
		goto out;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	rc = bd_store_exec(db, "PRAGMA foreign_keys=ON", err);
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
		rc = bd_store_fail(db, err, "PRAGMA journal_mode=WAL");
		goto out;
	}
	const char *mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || strcmp(mode, "wal") != 0) {
		rc = bo_error_set(err, BO_EIO, "cannot put the database in WAL mode (journal_mode is %s)",
			     mode ? mode : "unknown");
		bo_error_set_where(err, path, NULL, NULL, NULL);
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
		rc = bd_store_fail(db, err, "PRAGMA user_version");
	else
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc;
}

/* Apply the embedded migrations newer than the database's user_version, and
 * the new user_version, in one transaction. */
static bo_status migrate(sqlite3 *db, const char *path, struct bo_error *err)
{
	int newest = bd_store_schema_version();
	int have = 0;
	bo_status rc = bd_store_exec(db, "BEGIN IMMEDIATE", err);
	if (rc)
		goto out;
	rc = user_version(db, &have, err);
	if (rc)
		goto out;
	if (have > newest) {
		rc = bo_error_set(err, BO_ECONFLICT,
			     "database %s has schema version %d, this brownoutd knows up to %d: "
			     "upgrade brownoutd",
			     path, have, newest);
		bo_error_set_where(err, path, NULL, NULL, NULL);
		goto out;
	}
	for (int i = 0; i < bd_n_migrations && rc == BO_OK; i++) {
		const struct bd_migration *m = &bd_migrations[i];
		if (m->version <= have)
			continue;
		if (sqlite3_exec(db, m->sql, NULL, NULL, NULL) != SQLITE_OK) {
			char what[128];
			snprintf(what, sizeof(what), "migration %s.sql failed", m->name);
			rc = bd_store_fail(db, err, what);
			bo_error_set_where(err, path, NULL, NULL, NULL);
		}
	}
	if (rc == BO_OK && newest > have) {
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", newest);
		rc = bd_store_exec(db, sql, err);
	}
	if (rc == BO_OK)
		rc = bd_store_exec(db, "COMMIT", err);
out:
	if (rc != BO_OK && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* The next queued request, or NULL once stopping and the queue is empty,
 * or NULL with *tick set after a second without one while the reserve is
 * missing. */
static struct write_req *next_request(struct bd_store *s, int *tick)
{
	struct write_req *r;
	*tick = 0;
	while (!s->head && !s->stopping) {
		if (s->reserve_path && !atomic_load(&s->reserve_held)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			if (pthread_cond_timedwait(&s->wcv, &s->wmu, &ts) == ETIMEDOUT &&
			    !s->head && !s->stopping) {
				*tick = 1;
				return NULL;
			}
		} else {
			pthread_cond_wait(&s->wcv, &s->wmu);
		}
	}
	r = s->head;
	if (r) {
		s->head = r->next;
		if (!s->head)
			s->tail = NULL;
	}
	return r;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The reserve file, written whole (fallocate, fsync) under a temporary name
 * and renamed into place. 0, or -1 (nothing left behind). */
static int reserve_make(struct bd_store *s)
{
	char tmp[4200];
	struct stat sb;
	if (!stat(s->reserve_path, &sb) && S_ISREG(sb.st_mode) && sb.st_size >= s->reserve_bytes &&
	    (int64_t)sb.st_blocks * 512 >= s->reserve_bytes) {
		atomic_store(&s->reserve_held, 1);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->reserve_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int ok = !posix_fallocate(fd, 0, (off_t)s->reserve_bytes) && !fsync(fd);
	ok = !close(fd) && ok;
	if (!ok || rename(tmp, s->reserve_path)) {
		unlink(tmp);
		return -1;
	}
	atomic_store(&s->reserve_held, 1);
	return 0;
}

static void reserve_release(struct bd_store *s)
{
	if (s->reserve_path && atomic_load(&s->reserve_held)) {
		unlink(s->reserve_path);
		atomic_store(&s->reserve_held, 0);
	}
}

/* After a commit, and every second while the writer is idle: make the
 * reserve again once the disk has room for it twice over (so that making
 * it does not fill the disk again). */
static void reserve_restore(struct bd_store *s, int idle)
{
	struct statvfs vs;
	double now;
	if (!s->reserve_path || atomic_load(&s->reserve_held))
		return;
	now = mono_now();
	if (now - s->reserve_tried < 1.0)
		return;
	s->reserve_tried = now;
	if (statvfs(s->path, &vs))
		return;
	if ((uint64_t)vs.f_bavail * vs.f_frsize >= 2 * (uint64_t)s->reserve_bytes) {
		reserve_make(s);
	} else if (idle) {
		/* the space a failed or big transaction left in the WAL: a
		 * checkpoint that empties it (waiting briefly for readers) */
		sqlite3_busy_timeout(s->wdb, 100);
		sqlite3_wal_checkpoint_v2(s->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_busy_timeout(s->wdb, BUSY_TIMEOUT_MS);
	} else {
		/* checkpointed, the next commit restarts the WAL and truncates
		 * it to WAL_SIZE_LIMIT */
		sqlite3_wal_checkpoint_v2(s->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
}

/* One request on the writer's connection: its transaction, a second try
 * for a freeing write that found the disk full, the health it leaves. */
static bo_status writer_run(struct bd_store *s, struct write_req *r)
{
	int sqlerr = SQLITE_OK;
	int before = sqlite3_total_changes(s->wdb);
	bo_status rc = run_txn(s->wdb, "BEGIN IMMEDIATE", r->fn, r->ctx, r->err, &sqlerr);
	if (rc == BO_ENOSPC && r->freeing) {
		reserve_release(s);
		/* a WAL checkpointed to its end is rewritten from its start */
		sqlite3_wal_checkpoint_v2(s->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		bo_error_clear(r->err);
		sqlerr = SQLITE_OK;
		rc = run_txn(s->wdb, "BEGIN IMMEDIATE", r->fn, r->ctx, r->err, &sqlerr);
	}
	if (rc == BO_ENOSPC) {
		atomic_store(&s->health, HEALTH_FULL);
	} else if (rc != BO_OK && ((sqlerr & 0xff) == SQLITE_IOERR ||
				   (sqlerr & 0xff) == SQLITE_CORRUPT)) {
		atomic_store(&s->health, HEALTH_IOERR);
	} else if (rc == BO_OK && sqlite3_total_changes(s->wdb) != before) {
		/* only a write that reached the disk says the disk takes writes */
		atomic_store(&s->health, HEALTH_OK);
		reserve_restore(s, 0);
	}
	return rc;
}

static void *writer_main(void *arg)
{
	struct bd_store *s = arg;
	struct write_req *r;
	int tick;
	pthread_mutex_lock(&s->wmu);
	while ((r = next_request(s, &tick)) || tick) {
		pthread_mutex_unlock(&s->wmu);
		if (!r) {
			reserve_restore(s, 1);
			pthread_mutex_lock(&s->wmu);
			continue;
		}
		bo_status rc = writer_run(s, r);
		pthread_mutex_lock(&s->wmu);
		r->rc = rc;
		r->done = 1;
		pthread_cond_signal(&r->cv);
	}
	pthread_mutex_unlock(&s->wmu);
	return NULL;
}

/* The writer blocks every signal: they go to the daemon's other threads. */
static bo_status start_writer(struct bd_store *s, struct bo_error *err)
{
	bo_status rc = BO_OK;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&s->writer, NULL, writer_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		rc = bo_error_set(err, BO_ENOMEM, "cannot start the store's writer thread: %s", strerror(e));
	else
		s->writer_running = 1;
	return rc;
}

static bo_status init_sync(struct bd_store *s, struct bo_error *err)
{
	s->have_wmu = !pthread_mutex_init(&s->wmu, NULL);
	s->have_wcv = !pthread_cond_init(&s->wcv, NULL);
	s->have_rmu = !pthread_mutex_init(&s->rmu, NULL);
	s->have_rcv = !pthread_cond_init(&s->rcv, NULL);
	if (s->have_wmu && s->have_wcv && s->have_rmu && s->have_rcv)
		return BO_OK;
	return bo_error_set(err, BO_ENOMEM, "cannot create the store's locks");
}

bo_status bd_store_open(const char *path, int readers, struct bd_store **out,
			struct bo_error *err)
{
	return bd_store_open_with(path, readers, NULL, out, err);
}

bo_status bd_store_open_with(const char *path, int readers, const struct bd_store_opts *opts,
			     struct bd_store **out, struct bo_error *err)
{
	static const struct bd_store_opts none = { 0 };
	bo_status rc = BO_OK;
	struct bd_store *s = NULL;
	bo_error_clear(err);
	if (out)
		*out = NULL;
	if (!path || !*path || !out || readers < 1 || readers > MAX_READERS) {
		rc = bo_error_set(err, BO_EINVAL, "bd_store_open: need a path and 1..%d readers",
			     MAX_READERS);
		goto out;
	}
	if (!opts)
		opts = &none;
	if (opts->reserve_path && (opts->reserve_bytes < 1 || !*opts->reserve_path)) {
		rc = bo_error_set(err, BO_EINVAL, "bd_store_open: the reserve needs a path and a size");
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path)) || !(s->rdb = calloc((size_t)readers, sizeof(*s->rdb))) ||
	    !(s->free_idx = calloc((size_t)readers, sizeof(*s->free_idx))) ||
	    (opts->vfs && !(s->vfs = strdup(opts->vfs))) ||
	    (opts->reserve_path && !(s->reserve_path = strdup(opts->reserve_path)))) {
		rc = bo_error_set(err, BO_ENOMEM, "cannot allocate the store");
		goto out;
	}
	s->nreaders = readers;
	s->reserve_bytes = opts->reserve_bytes;
	rc = init_sync(s, err);
	if (rc)
		goto out;

	rc = open_conn(path, s->vfs, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &s->wdb, err);
	if (rc)
		goto out;
	rc = set_wal(s->wdb, path, err);
	if (rc)
		goto out;
	rc = bd_store_exec(s->wdb, "PRAGMA synchronous=FULL", err);
	if (rc)
		goto out;
	rc = bd_store_exec(s->wdb, "PRAGMA journal_size_limit=" WAL_SIZE_LIMIT, err);
	if (rc)
		goto out;
	rc = migrate(s->wdb, path, err);
	if (rc)
		goto out;

	for (int i = 0; i < readers && rc == BO_OK; i++) {
		rc = open_conn(path, s->vfs, SQLITE_OPEN_READONLY, &s->rdb[i], err);
		s->free_idx[s->nfree++] = i;
	}
	if (rc)
		goto out;
	/* no room for the reserve now is no reason not to start: the writer
	 * makes it after a commit once there is */
	if (s->reserve_path) {
		s->reserve_tried = mono_now();
		reserve_make(s);
	}
	rc = start_writer(s, err);
	if (rc)
		goto out;
	*out = s;
	s = NULL;
out:
	bd_store_close(s);
	return rc;
}

void bd_store_close(struct bd_store *s)
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
	free(s->vfs);
	free(s->reserve_path);
	free(s);
}

static bo_status store_write(struct bd_store *s, bd_store_fn fn, void *ctx, int freeing,
			     struct bo_error *err)
{
	bo_status rc = BO_OK;
	struct write_req r = {.fn = fn, .ctx = ctx, .err = err, .freeing = freeing};
	bo_error_clear(err);
	if (!s || !fn) {
		rc = bo_error_set(err, BO_EINVAL, "bd_store_write: no store or no callback");
		goto out;
	}
	if (pthread_equal(pthread_self(), s->writer)) {
		rc = bo_error_set(err, BO_EINTERNAL, "bd_store_write called from inside a write");
		goto out;
	}
	if (pthread_cond_init(&r.cv, NULL)) {
		rc = bo_error_set(err, BO_ENOMEM, "cannot create a condition variable");
		goto out;
	}
	pthread_mutex_lock(&s->wmu);
	if (s->stopping) {
		rc = bo_error_set(err, BO_EBUSY, "the store is closing");
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

bo_status bd_store_write(struct bd_store *s, bd_store_fn fn, void *ctx, struct bo_error *err)
{
	return store_write(s, fn, ctx, 0, err);
}

bo_status bd_store_write_freeing(struct bd_store *s, bd_store_fn fn, void *ctx,
				 struct bo_error *err)
{
	return store_write(s, fn, ctx, 1, err);
}

const char *bd_store_health(struct bd_store *s)
{
	static const char *const names[] = { [HEALTH_OK] = "ok", [HEALTH_FULL] = "full",
					     [HEALTH_IOERR] = "io_error" };
	return s ? names[atomic_load(&s->health)] : "ok";
}

int bd_store_reserve_held(struct bd_store *s)
{
	return s && atomic_load(&s->reserve_held);
}

bo_status bd_store_read(struct bd_store *s, bd_store_fn fn, void *ctx, struct bo_error *err)
{
	bo_status rc = BO_OK;
	int idx;
	bo_error_clear(err);
	if (!s || !fn) {
		rc = bo_error_set(err, BO_EINVAL, "bd_store_read: no store or no callback");
		goto out;
	}
	pthread_mutex_lock(&s->rmu);
	while (s->nfree == 0)
		pthread_cond_wait(&s->rcv, &s->rmu);
	idx = s->free_idx[--s->nfree];
	pthread_mutex_unlock(&s->rmu);

	rc = run_txn(s->rdb[idx], "BEGIN", fn, ctx, err, NULL);

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
		rc = bd_store_fail(db, err, "PRAGMA integrity_check");
		goto out;
	}
	k = sqlite3_step(st);
	if (k == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(st, 0);
		snprintf(in->buf, in->size, "%s", line ? line : "");
	} else {
		rc = bd_store_fail(db, err, "PRAGMA integrity_check");
	}
out:
	sqlite3_finalize(st);
	return rc;
}

bo_status bd_store_integrity(struct bd_store *s, char *buf, size_t size, struct bo_error *err)
{
	struct integrity in = {buf, size};
	bo_status rc;
	if (!buf || !size) {
		bo_error_clear(err);
		rc = bo_error_set(err, BO_EINVAL, "bd_store_integrity: no buffer");
	} else {
		buf[0] = 0;
		rc = bd_store_read(s, integrity_cb, &in, err);
	}
	return rc;
}

/* ---- orphaned files ---- */

struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *ns, const char *s)
{
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 64;
		char **v = realloc(ns->v, cap * sizeof(*v));
		if (!v)
			return -1;
		ns->v = v;
		ns->cap = cap;
	}
	if (!(ns->v[ns->n] = strdup(s)))
		return -1;
	ns->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The relative paths of every live upload: the files to keep. */
static bo_status live_files_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	static const char sql[] =
		"SELECT path FROM models WHERE deleted_at IS NULL"
		" UNION ALL SELECT path FROM datasets WHERE deleted_at IS NULL AND source = 'upload'"
		" UNION ALL SELECT labels_path FROM datasets WHERE deleted_at IS NULL"
		" AND source = 'upload' AND labels_path IS NOT NULL";
	struct names *ns = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	int k = SQLITE_DONE;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "listing stored files");
	while (rc == BO_OK && (k = sqlite3_step(st)) == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 0);
		if (p && *p && names_add(ns, p))
			rc = bo_error_set(err, BO_ENOMEM, "out of memory");
	}
	if (rc == BO_OK && k != SQLITE_DONE)
		rc = bd_store_fail(db, err, "listing stored files");
	sqlite3_finalize(st);
	return rc;
}

bo_status bd_store_sweep_orphans(struct bd_store *s, const char *data_dir, int *removed,
				 struct bo_error *err)
{
	static const enum bd_data_entry dirs[] = { BO_DATA_MODELS, BO_DATA_DATASETS };
	struct names ns = { 0 };
	bo_status rc;
	int n = 0;
	if (removed)
		*removed = 0;
	if (!data_dir) {
		bo_error_clear(err);
		return bo_error_set(err, BO_EINVAL, "bd_store_sweep_orphans: no data directory");
	}
	/* nothing is removed unless the list of what to keep is complete */
	if ((rc = bd_store_read(s, live_files_fn, &ns, err)))
		goto out;
	if (ns.n)
		qsort(ns.v, ns.n, sizeof(*ns.v), cmp_str);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char dir[4200], rel[600], path[4800];
		bd_data_entry(data_dir, dirs[i], dir, sizeof(dir));
		DIR *dp = opendir(dir);
		struct dirent *e;
		while (dp && (e = readdir(dp))) {
			struct stat sb;
			if (e->d_name[0] == '.')
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", bd_data_name(dirs[i]), e->d_name);
			const char *key = rel;
			if (ns.n && bsearch(&key, ns.v, ns.n, sizeof(*ns.v), cmp_str))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (!lstat(path, &sb) && S_ISREG(sb.st_mode) && !unlink(path))
				n++;
		}
		if (dp)
			closedir(dp);
	}
	if (removed)
		*removed = n;
out:
	for (size_t i = 0; i < ns.n; i++)
		free(ns.v[i]);
	free(ns.v);
	return rc;
}
