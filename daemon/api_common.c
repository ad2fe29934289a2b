/* brownoutd API: what the handlers of api_*.c share (api.h): ids, list
 * paging, directory fsync, and the per-user quotas. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "brownoutd.h"
#include "http.h"
#include "queue.h"
#include "report.h"
#include "slurm.h"

int api_parse_id(const char *s, int64_t *id)
{
	char *end;
	if (*s < '1' || *s > '9') /* digits only: no sign, space or leading 0 */
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < 1)
		return -1;
	*id = v;
	return 0;
}

int api_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* List paging: ?limit (1..200, default 50) and ?after. 0, or -1 replied. */
int api_paging(struct bd_req *r, int64_t *after, int *limit)
{
	const char *a = bd_req_query(r, "after"), *l = bd_req_query(r, "limit");
	*after = INT64_MAX;
	*limit = 50;
	if (a && api_parse_id(a, after))
		return bd_reply_fail(r, BO_EINVAL, "after", "after must be a positive id"), -1;
	if (l) {
		int64_t v;
		if (api_parse_id(l, &v) || v > 200)
			return bd_reply_fail(r, BO_EINVAL, "limit", "limit must be in [1, 200]"), -1;
		*limit = (int)v;
	}
	return 0;
}



bo_status api_user_usage(sqlite3 *db, int64_t user, struct api_usage *u, struct bo_error *err)
{
	static const char sql[] =
		"SELECT (SELECT COUNT(*) FROM jobs WHERE owner_id = ?1 AND state IN ('queued', 'running')),"
		" (SELECT COALESCE(SUM(" PLANNED_TRIALS "), 0) FROM jobs WHERE owner_id = ?1 AND"
		"  state IN ('queued', 'running')),"
		" (SELECT COALESCE(SUM(size), 0) FROM models WHERE owner_id = ?1 AND deleted_at IS NULL)"
		" + (SELECT COALESCE(SUM(size), 0) FROM datasets WHERE owner_id = ?1 AND"
		"  deleted_at IS NULL AND source = 'upload'),"
		" (SELECT COALESCE(SUM(" PLANNED_TRIALS "), 0) FROM jobs WHERE owner_id = ?1)";
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading quotas");
	sqlite3_bind_int64(st, 1, user);
	if (sqlite3_step(st) == SQLITE_ROW) {
		u->jobs = sqlite3_column_int64(st, 0);
		u->trials = sqlite3_column_int64(st, 1);
		u->uploads = sqlite3_column_int64(st, 2);
		u->results = sqlite3_column_int64(st, 3) * BO_RESULT_ROW_BYTES;
	} else {
		rc = bd_store_fail(db, err, "reading quotas");
	}
	sqlite3_finalize(st);
	return rc;
}

/* May `user` store `add` more bytes (what: "model", "dataset", "job")? */
bo_status api_quota_bytes(sqlite3 *db, int64_t user, int64_t add, int64_t quota,
			     const char *what, struct bo_error *err)
{
	struct api_usage u = { 0 };
	bo_status rc = api_user_usage(db, user, &u, err);
	if (rc || u.uploads + u.results + add <= quota)
		return rc;
	return bo_error_set(err, BO_EQUOTA,
		       "storage quota: this %s needs %lld bytes; you store %lld (uploads %lld,"
		       " job results %lld) of %lld (user-stored-bytes); delete models, datasets"
		       " or jobs you no longer need",
		       what, (long long)add, (long long)(u.uploads + u.results),
		       (long long)u.uploads, (long long)u.results, (long long)quota);
}

struct quota_q {
	int64_t user, add, quota;
	const char *what;
};

static bo_status quota_bytes_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct quota_q *q = ctx;
	return api_quota_bytes(db, q->user, q->add, q->quota, q->what, err);
}

/* An upload of `add` bytes over the user's storage quota: replied (1), else 0. */
int api_upload_over_quota(struct bd_daemon *d, struct bd_req *r, int64_t add, const char *what)
{
	struct quota_q q = { bd_req_user(r)->id, add, d->cfg.user_stored_bytes, what };
	struct bo_error err;
	bo_error_clear(&err);
	if (bd_store_read(d->store, quota_bytes_fn, &q, &err) == BO_OK)
		return 0;
	bd_reply_error(r, &err);
	return 1;
}

int api_reply_list(struct bd_req *r, json_t *items, int more)
{
	json_t *j = json_object();
	size_t n = json_array_size(items);
	json_t *last = n ? json_object_get(json_array_get(items, n - 1), "id") : NULL;
	json_object_set_new(j, "items", items);
	json_object_set_new(j, "next_after", more && last ? json_incref(last) : json_null());
	return bd_reply_json(r, 200, j);
}
