/* brownoutd: the SQLite store.
 *
 * One database file in WAL mode. Exactly one connection writes: it belongs
 * to the writer thread, which runs every write as one BEGIN IMMEDIATE ...
 * COMMIT transaction with synchronous=FULL, in the order they were
 * submitted. Reads use a small pool of read-only connections, each call in
 * its own read transaction (a consistent snapshot); WAL lets them run while
 * the writer writes.
 *
 * Migrations are the files schema/NNN_name.sql, compiled into the binary;
 * bd_store_open applies the ones newer than PRAGMA user_version in one
 * transaction and refuses a database whose user_version is newer than the
 * code knows.
 *
 * Storage faults. SQLITE_FULL (and an I/O error whose errno is ENOSPC or
 * EDQUOT) is BO_ENOSPC, which the API answers 507. Each write leaves the
 * store's health at "ok" (it changed something and committed), "full" or
 * "io_error", for /health and the workers' backoff. So that space can be
 * freed through the API on a full disk, the store may keep a reserve file
 * (opts.reserve_path): a write made with bd_store_write_freeing (the
 * deletes) that fails for want of space gives the reserve back, lets SQLite
 * checkpoint, and runs once more; the reserve is made again by the writer
 * after a later commit once the disk has room for it twice. */
#ifndef BROWNOUTD_STORE_H
#define BROWNOUTD_STORE_H

#include <sqlite3.h>
#include <stdint.h>

#include <brownout/status.h>

struct bd_store;

/* A unit of work on one connection. Returns BO_OK to commit; anything else
 * rolls the transaction back and is returned by the bd_store_* call. */
typedef bo_status (*bd_store_fn)(sqlite3 *db, void *ctx, struct bo_error *err);

/* Open (creating it and its directory's file if needed) and migrate.
 * readers: size of the read pool (>= 1). */
bo_status bd_store_open(const char *path, int readers, struct bd_store **out,
			struct bo_error *err);
/* What bd_store_open_with takes; all zero is bd_store_open. */
struct bd_store_opts {
	const char *vfs;          /* an SQLite VFS by name (tests: a fault shim); NULL: default */
	const char *reserve_path; /* the reserve file; NULL: none */
	int64_t reserve_bytes;    /* its size (> 0 with reserve_path) */
};
bo_status bd_store_open_with(const char *path, int readers, const struct bd_store_opts *opts,
			     struct bd_store **out, struct bo_error *err);
/* Stops the writer thread after the writes already submitted. Accepts NULL. */
void bd_store_close(struct bd_store *s);

/* Run fn inside BEGIN IMMEDIATE ... COMMIT on the writer thread and wait for
 * it. Safe from any thread except from inside another bd_store_* callback. */
bo_status bd_store_write(struct bd_store *s, bd_store_fn fn, void *ctx, struct bo_error *err);
/* bd_store_write for a write that frees space (a delete, a cancel): when it
 * fails with BO_ENOSPC, the store releases its reserve file, checkpoints,
 * and runs fn once more in a new transaction (fn must be rerunnable). */
bo_status bd_store_write_freeing(struct bd_store *s, bd_store_fn fn, void *ctx,
				 struct bo_error *err);
/* Run fn inside BEGIN ... COMMIT on a read connection (blocks while all are
 * busy). fn must not write. */
bo_status bd_store_read(struct bd_store *s, bd_store_fn fn, void *ctx, struct bo_error *err);

/* The newest migration this binary carries (its PRAGMA user_version). */
int bd_store_schema_version(void);

/* "ok", or the first line PRAGMA integrity_check reports, into buf. */
bo_status bd_store_integrity(struct bd_store *s, char *buf, size_t size, struct bo_error *err);

/* "ok", "full" or "io_error": how the last write that reached the disk
 * (or failed to) went. Accepts NULL ("ok"). */
const char *bd_store_health(struct bd_store *s);
/* Is the reserve file in place? (0 when none is configured) */
int bd_store_reserve_held(struct bd_store *s);

/* Files of DATA/models and DATA/datasets that no live row names (a crash
 * between a commit and its unlink, or between a rename and a failed
 * commit) are removed; *removed counts them. Run before serving. */
bo_status bd_store_sweep_orphans(struct bd_store *s, const char *data_dir, int *removed,
				 struct bo_error *err);

/* Helpers for callbacks: fill err from the connection's last error
 * (status BO_EIO, BO_ENOSPC for a full disk (SQLITE_FULL, ENOSPC, EDQUOT),
 * BO_ECONFLICT for a constraint violation, BO_EBUSY for SQLITE_BUSY) and
 * return the status. */
bo_status bd_store_fail(sqlite3 *db, struct bo_error *err, const char *what);
/* Prepare, bind nothing, step once to completion: for DDL-like statements. */
bo_status bd_store_exec(sqlite3 *db, const char *sql, struct bo_error *err);

/* Current UTC time as RFC 3339 "2026-11-29T08:31:51Z" into buf (>= 21). */
void bd_store_now(char *buf, size_t size);

#endif
