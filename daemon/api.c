/* brownoutd API: the handlers under /api/v1 (docs/openapi.yaml).
 *
 * Every handler validates first, then changes the store in one write
 * transaction, then answers; files arrive as temporary files (http.c) and
 * are renamed into DATA/models or DATA/datasets inside the transaction that
 * records them, so a failure leaves neither a row without its file nor (for
 * long) a file without its row. Reads use the read pool. Errors go through
 * bo_reply_error, whose status comes from bo_http_status: one mapping for
 * the whole daemon. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "brownoutd.h"
#include "queue.h"
#include "report.h"
#include "slurm.h"

/* ---- small helpers ---- */

static int is(const struct bo_req *r, const char *m)
{
	return !strcmp(bo_req_method(r), m);
}

/* "/models/12/cancel" -> seg[0] "models", seg[1] "12", seg[2] "cancel" */
static int split_path(const char *path, char seg[4][64])
{
	int n = 0;
	const char *s = path;
	while (*s == '/')
		s++;
	while (*s && n < 4) {
		const char *e = strchr(s, '/');
		size_t k = e ? (size_t)(e - s) : strlen(s);
		if (k >= 64)
			return -1;
		memcpy(seg[n], s, k);
		seg[n][k] = 0;
		n++;
		if (!e)
			break;
		s = e + 1;
		if (!*s)
			break;
	}
	return *s && n == 4 && strchr(s, '/') ? -1 : n;
}

static int parse_id(const char *s, int64_t *id)
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

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* List paging: ?limit (1..200, default 50) and ?after. 0, or -1 replied. */
static int paging(struct bo_req *r, int64_t *after, int *limit)
{
	const char *a = bo_req_query(r, "after"), *l = bo_req_query(r, "limit");
	*after = INT64_MAX;
	*limit = 50;
	if (a && parse_id(a, after))
		return bo_reply_fail(r, BO_EINVAL, "after", "after must be a positive id"), -1;
	if (l) {
		int64_t v;
		if (parse_id(l, &v) || v > 200)
			return bo_reply_fail(r, BO_EINVAL, "limit", "limit must be in [1, 200]"), -1;
		*limit = (int)v;
	}
	return 0;
}

/* ---- quotas ----
 *
 * Per user, admins included (a quota guards the shared service against a
 * runaway script as much as against malice; an admin frees quota like
 * anybody, by deleting): queued + running jobs (user-queued-jobs), the
 * trials they plan (user-queued-trials), and stored bytes
 * (user-stored-bytes): uploaded models and datasets not deleted plus 64
 * bytes for every trial a job of theirs plans (its result rows stay until
 * the job is deleted). Each check runs inside the write transaction that
 * would exceed it, so concurrent requests cannot both slip under; uploads
 * are also checked before their file is parsed. */

#define BO_RESULT_ROW_BYTES 64

/* Planned trials of a job row: points x (trials, or max_trials when adaptive). */
#define PLANNED_TRIALS \
	"points * COALESCE(json_extract(spec, '$.trials'), json_extract(spec, '$.max_trials'))"

struct usage {
	int64_t jobs, trials;      /* queued + running jobs, their planned trials */
	int64_t uploads, results;  /* bytes */
};

static bo_status user_usage(sqlite3 *db, int64_t user, struct usage *u, struct bo_error *err)
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
		return bo_store_fail(db, err, "reading quotas");
	sqlite3_bind_int64(st, 1, user);
	if (sqlite3_step(st) == SQLITE_ROW) {
		u->jobs = sqlite3_column_int64(st, 0);
		u->trials = sqlite3_column_int64(st, 1);
		u->uploads = sqlite3_column_int64(st, 2);
		u->results = sqlite3_column_int64(st, 3) * BO_RESULT_ROW_BYTES;
	} else {
		rc = bo_store_fail(db, err, "reading quotas");
	}
	sqlite3_finalize(st);
	return rc;
}

/* May `user` store `add` more bytes (what: "model", "dataset", "job")? */
static bo_status quota_bytes(sqlite3 *db, int64_t user, int64_t add, int64_t quota,
			     const char *what, struct bo_error *err)
{
	struct usage u = { 0 };
	bo_status rc = user_usage(db, user, &u, err);
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
	return quota_bytes(db, q->user, q->add, q->quota, q->what, err);
}

/* An upload of `add` bytes over the user's storage quota: replied (1), else 0. */
static int upload_over_quota(struct bo_daemon *d, struct bo_req *r, int64_t add, const char *what)
{
	struct quota_q q = { bo_req_user(r)->id, add, d->cfg.user_stored_bytes, what };
	struct bo_error err;
	bo_error_clear(&err);
	if (bo_store_read(d->store, quota_bytes_fn, &q, &err) == BO_OK)
		return 0;
	bo_reply_error(r, &err);
	return 1;
}

/* ---- models ---- */

#define MODEL_COLS                                                                           \
	"m.id, m.name, m.description, u.name, m.sha256, m.size, m.created_at, m.mean, m.std," \
	" m.blocks, m.info, m.owner_id, m.version"

static json_t *model_json(sqlite3_stmt *st)
{
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(j, "name", bo_col_string(st, 1));
	json_object_set_new(j, "version", json_integer(sqlite3_column_int64(st, 12)));
	json_object_set_new(j, "description", bo_col_string(st, 2));
	json_object_set_new(j, "owner", bo_col_string(st, 3));
	json_object_set_new(j, "sha256", bo_col_string(st, 4));
	json_object_set_new(j, "size", json_integer(sqlite3_column_int64(st, 5)));
	json_object_set_new(j, "created_at", bo_col_string(st, 6));
	json_object_set_new(j, "mean", bo_col_json(st, 7));
	json_object_set_new(j, "std", bo_col_json(st, 8));
	json_object_set_new(j, "blocks", bo_col_string(st, 9));
	json_object_set_new(j, "info", bo_col_json(st, 10));
	return j;
}

#define DATASET_COLS                                                                          \
	"d.id, d.name, d.description, u.name, d.source, d.format, d.path, d.split, d.images," \
	" d.shape, d.size, d.sha256, d.created_at, d.owner_id"

static json_t *dataset_json(sqlite3_stmt *st)
{
	json_t *j = json_object();
	int upload = !strcmp((const char *)sqlite3_column_text(st, 4), "upload");
	json_object_set_new(j, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(j, "name", bo_col_string(st, 1));
	json_object_set_new(j, "description", bo_col_string(st, 2));
	json_object_set_new(j, "owner", bo_col_string(st, 3));
	json_object_set_new(j, "source", bo_col_string(st, 4));
	json_object_set_new(j, "format", bo_col_string(st, 5));
	json_object_set_new(j, "path", upload ? json_null() : bo_col_string(st, 6));
	json_object_set_new(j, "split", bo_col_string(st, 7));
	json_object_set_new(j, "images", json_integer(sqlite3_column_int64(st, 8)));
	json_object_set_new(j, "shape", bo_col_json(st, 9));
	json_object_set_new(j, "size", json_integer(sqlite3_column_int64(st, 10)));
	json_object_set_new(j, "sha256", bo_col_string(st, 11));
	json_object_set_new(j, "created_at", bo_col_string(st, 12));
	return j;
}

/* One generic reader: a list or one row of models / datasets. */
struct list_q {
	int datasets;          /* 0 models, 1 datasets */
	int64_t id;            /* one row, or 0 for a list */
	int64_t after;
	int limit;
	const char *name;      /* lists: only this name (models: its versions) */
	json_t *items;         /* out */
	int64_t owner;         /* out, for one row */
	int more;
};

static bo_status list_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct list_q *q = ctx;
	char sql[512];
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	const char *cols = q->datasets ? DATASET_COLS : MODEL_COLS;
	const char *tab = q->datasets ? "datasets d" : "models m";
	const char *a = q->datasets ? "d" : "m";
	if (q->id)
		snprintf(sql, sizeof(sql),
			 "SELECT %s FROM %s JOIN users u ON u.id = %s.owner_id"
			 " WHERE %s.id = ? AND %s.deleted_at IS NULL",
			 cols, tab, a, a, a);
	else
		snprintf(sql, sizeof(sql),
			 "SELECT %s FROM %s JOIN users u ON u.id = %s.owner_id"
			 " WHERE %s.id < ?1 AND %s.deleted_at IS NULL AND (?3 IS NULL OR %s.name = ?3)"
			 " ORDER BY %s.id DESC LIMIT ?2",
			 cols, tab, a, a, a, a, a);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "listing");
	sqlite3_bind_int64(st, 1, q->id ? q->id : q->after);
	if (!q->id) {
		sqlite3_bind_int(st, 2, q->limit + 1);
		sqlite3_bind_text(st, 3, q->name, -1, SQLITE_STATIC);
	}
	q->items = json_array();
	int s, n = 0;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (!q->id && n == q->limit) {
			q->more = 1;
			break;
		}
		q->owner = sqlite3_column_int64(st, q->datasets ? 13 : 11);
		json_array_append_new(q->items, q->datasets ? dataset_json(st) : model_json(st));
		n++;
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = bo_store_fail(db, err, "listing");
	else if (q->id && n == 0)
		rc = bo_error_set(err, BO_ENOENT, "no %s %lld", q->datasets ? "dataset" : "model",
			     (long long)q->id);
	sqlite3_finalize(st);
	return rc;
}

static int reply_list(struct bo_req *r, json_t *items, int more)
{
	json_t *j = json_object();
	size_t n = json_array_size(items);
	json_t *last = n ? json_object_get(json_array_get(items, n - 1), "id") : NULL;
	json_object_set_new(j, "items", items);
	json_object_set_new(j, "next_after", more && last ? json_incref(last) : json_null());
	return bo_reply_json(r, 200, j);
}

static int get_one(struct bo_daemon *d, struct bo_req *r, int datasets, int64_t id, int status,
		   const char *location)
{
	struct list_q q = { .datasets = datasets, .id = id };
	struct bo_error err;
	bo_error_clear(&err);
	if (bo_store_read(d->store, list_fn, &q, &err)) {
		json_decref(q.items);
		return bo_reply_error(r, &err);
	}
	if (location)
		bo_reply_header(r, "Location", location);
	json_t *one = json_incref(json_array_get(q.items, 0));
	json_decref(q.items);
	return bo_reply_json(r, status, one);
}

static int list_things(struct bo_daemon *d, struct bo_req *r, int datasets)
{
	struct list_q q = { .datasets = datasets };
	struct bo_error err;
	bo_error_clear(&err);
	if (paging(r, &q.after, &q.limit))
		return 0;
	q.name = bo_req_query(r, "name");
	if (q.name && (!*q.name || strlen(q.name) > 200))
		return bo_reply_fail(r, BO_EINVAL, "name", "name must be 1 to 200 characters");
	if (bo_store_read(d->store, list_fn, &q, &err)) {
		json_decref(q.items);
		return bo_reply_error(r, &err);
	}
	return reply_list(r, q.items, q.more);
}

/* Parse "0.2860,0.3530" into a JSON array text; NULL for NULL. */
static int list_to_json(const char *text, const char *what, char **out, struct bo_error *err)
{
	float v[BO_MAX_CHANNELS];
	int n = 0;
	*out = NULL;
	if (!text)
		return 0;
	if (bo_norm_parse_list(text, v, &n, what, err)) {
		snprintf(err->field, sizeof(err->field), "%s", what);
		return -1;
	}
	for (int i = 0; i < n && !strcmp(what, "std"); i++)
		if (!(v[i] > 0)) {
			bo_error_set(err, BO_EINVAL, "std values must be positive, not %g", (double)v[i]);
			snprintf(err->field, sizeof(err->field), "std");
			return -1;
		}
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	*out = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(a);
	return 0;
}

struct model_ins {
	int64_t owner, id;
	const char *name, *description, *sha256, *tmp, *mean, *std, *blocks, *info;
	int64_t size;
	const char *data_dir;
	int64_t quota;          /* user-stored-bytes */
};

static bo_status model_ins_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct model_ins *m = ctx;
	sqlite3_stmt *st = NULL;
	char now[32], rel[64], path[1200], dir[1100];
	bo_status rc = BO_OK;
	bo_store_now(now, sizeof(now));
	if ((rc = quota_bytes(db, m->owner, m->size, m->quota, "model", err)))
		return rc;
	/* the owner's next version of this name (deleted ones count: a version
	 * number is never given twice); the writer thread serialises uploads */
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO models (owner_id, name, description, sha256, size, path,"
			       " mean, std, blocks, info, created_at, version) VALUES"
			       " (?1,?2,?3,?4,?5,'',?6,?7,?8,?9,?10, (SELECT COALESCE(MAX(version), 0) + 1"
			       " FROM models WHERE owner_id = ?1 AND name = ?2))",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "storing a model");
	sqlite3_bind_int64(st, 1, m->owner);
	sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, m->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, m->size);
	sqlite3_bind_text(st, 6, m->mean, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, m->std, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, m->blocks, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, m->info, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = bo_store_fail(db, err, "storing a model");
		goto out;
	}
	m->id = sqlite3_last_insert_rowid(db);
	snprintf(rel, sizeof(rel), "models/%lld.onnx", (long long)m->id);
	char sql[160];
	snprintf(sql, sizeof(sql), "UPDATE models SET path = '%s' WHERE id = %lld", rel,
		 (long long)m->id);
	if ((rc = bo_store_exec(db, sql, err)))
		goto out;
	snprintf(dir, sizeof(dir), "%s/models", m->data_dir);
	snprintf(path, sizeof(path), "%s/%s", m->data_dir, rel);
	if ((mkdir(dir, 0755) && errno != EEXIST) || rename(m->tmp, path) || fsync_dir(dir))
		rc = bo_error_set(err, BO_EIO, "cannot store the model file: %s", strerror(errno));
out:
	sqlite3_finalize(st);
	return rc;
}

/* A model refused for its operators: the 422 names every one of them (the
 * library's error text is cut to fit; this message has the whole list). */
static int unsupported_reply(struct bo_req *r, const char *path, const struct bo_error *err)
{
	char *list = NULL;
	struct bo_error e2;
	if (err->status != BO_EUNSUPPORTED || strncmp(err->text, "unsupported operators: ", 23) ||
	    bo_model_unsupported_ops(path, &list, &e2) || !list[0]) {
		free(list);
		return bo_reply_error(r, err);
	}
	json_t *e = json_object(), *j = json_object();
	size_t n = strlen(list) + 32;
	char *msg = malloc(n);
	if (msg)
		snprintf(msg, n, "unsupported operators: %s", list);
	json_object_set_new(e, "code", json_string(bo_status_name(BO_EUNSUPPORTED)));
	json_object_set_new(e, "message", json_string(msg ? msg : err->text));
	json_object_set_new(e, "field", json_null());
	json_object_set_new(j, "error", e);
	free(msg);
	free(list);
	return bo_reply_json(r, bo_http_status(BO_EUNSUPPORTED), j);
}

/* A model sent as a form (curl -F): the Content-Type says so, or the body
 * starts with a multipart boundary line ("--" then the boundary), which no
 * ONNX protobuf does (its first byte is a field tag, never '-'). */
static int is_form_upload(struct bo_req *r, const char *tmp)
{
	const char *ct = bo_req_header(r, "Content-Type");
	if (ct && !strncasecmp(ct, "multipart/form-data", 19))
		return 1;
	char head[2] = { 0, 0 };
	FILE *f = fopen(tmp, "rb");
	if (!f)
		return 0;
	size_t n = fread(head, 1, 2, f);
	fclose(f);
	return n == 2 && head[0] == '-' && head[1] == '-';
}

static int post_model(struct bo_daemon *d, struct bo_req *r)
{
	struct bo_error err;
	struct bo_model *m = NULL;
	struct bo_block_map *map = NULL;
	struct bo_model_stats st = { 0 };
	char *mean = NULL, *std = NULL, *info = NULL;
	int64_t size = 0;
	const char *sha = NULL, *tmp = bo_req_upload(r, NULL, &size, &sha);
	const char *name = bo_req_query(r, "name"), *desc = bo_req_query(r, "description");
	const char *blocks = bo_req_query(r, "blocks"), *normalize = bo_req_query(r, "normalize");
	int ret;
	bo_error_clear(&err);
	if (normalize && strcmp(normalize, "none")) {
		ret = bo_reply_fail(r, BO_EINVAL, "normalize",
				    "normalize can only be 'none' (the model takes raw [0,1] pixels)");
		goto out;
	}
	if (normalize && (bo_req_query(r, "mean") || bo_req_query(r, "std"))) {
		ret = bo_reply_fail(r, BO_EINVAL, "normalize",
				    "normalize=none (raw [0,1] pixels) and mean/std contradict each other");
		goto out;
	}
	if (!name || !*name || strlen(name) > 200) {
		ret = bo_reply_fail(r, BO_EINVAL, "name",
				    "give the model a name: ?name=NAME (1 to 200 characters)");
		goto out;
	}
	if (desc && strlen(desc) > 4000) {
		ret = bo_reply_fail(r, BO_EINVAL, "description", "description is over 4000 characters");
		goto out;
	}
	if (!tmp || size == 0) {
		ret = bo_reply_fail(r, BO_EMALFORMED, NULL,
				    "the body is empty: send the ONNX file as the request body");
		goto out;
	}
	if (is_form_upload(r, tmp)) {
		ret = bo_reply_fail(r, BO_EMALFORMED, NULL,
				    "the body is a multipart/form-data form: send the ONNX file as "
				    "the raw body (curl --data-binary @model.onnx), not as a form "
				    "(curl -F)");
		goto out;
	}
	if (upload_over_quota(d, r, size, "model")) {
		ret = 0;
		goto out;
	}
	if (list_to_json(bo_req_query(r, "mean"), "mean", &mean, &err) ||
	    list_to_json(bo_req_query(r, "std"), "std", &std, &err)) {
		ret = bo_reply_error(r, &err);
		goto out;
	}
	if (blocks && (blocks[0] == '@' || bo_block_map_parse(blocks, &map, &err))) {
		if (blocks[0] == '@')
			bo_error_set(&err, BO_EINVAL, "blocks: send the map itself, not @file");
		snprintf(err.field, sizeof(err.field), "blocks");
		ret = bo_reply_error(r, &err);
		goto out;
	}
	if (bo_model_load(tmp, &m, &err) ||
	    bo_model_stats(m, NULL, 0, map, BO_SITES_DEFAULT, &st, &err)) {
		ret = unsupported_reply(r, tmp, &err);
		goto out;
	}
	/* Normalisation is never silent (as in the CLI): the upload's mean/std,
	 * else the file's metadata, else an explicit normalize=none. A model
	 * with none is refused; a raw one is stored with mean 0 and std 1. */
	struct bo_norm norm;
	enum bo_norm_source src;
	if (normalize) {
		mean = strdup("[0.0]");
		std = strdup("[1.0]");
		if (!mean || !std) {
			ret = bo_reply_fail(r, BO_ENOMEM, NULL, "out of memory");
			goto out;
		}
	}
	if (bo_norm_resolve(m, bo_req_query(r, "mean"), bo_req_query(r, "std"), normalize != NULL,
			    &norm, &src, &err)) {
		if (strstr(err.text, "has no normalisation")) /* missing, not malformed */
			snprintf(err.text, sizeof(err.text),
				 "the model has no normalisation: give mean and std (?mean=M&std=S,"
				 " one value or one per channel), store them in the file as the ONNX"
				 " metadata brownout.mean/brownout.std, or say that it takes raw [0,1]"
				 " pixels (?normalize=none)");
		ret = bo_reply_error(r, &err);
		goto out;
	}
	json_t *ij = bo_info_json(m, &st, BO_SITES_DEFAULT);
	{
		json_t *nj = bo_norm_json(&norm, src);
		json_object_set_new(nj, "source", json_string(src == BO_NORM_GIVEN ? "upload" :
							     bo_norm_source_name(src)));
		json_object_set_new(ij, "normalisation", nj);
	}
	info = json_dumps(ij, JSON_COMPACT);
	json_decref(ij);
	struct model_ins mi = { bo_req_user(r)->id, 0, name, desc ? desc : "", sha, tmp, mean,
				std, blocks, info, size, d->cfg.data_dir, d->cfg.user_stored_bytes };
	if (!info || bo_store_write(d->store, model_ins_fn, &mi, &err)) {
		if (!info)
			bo_error_set(&err, BO_ENOMEM, "out of memory");
		ret = bo_reply_error(r, &err);
		goto out;
	}
	bo_req_adopt(r, NULL);
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/models/%lld", (long long)mi.id);
	ret = get_one(d, r, 0, mi.id, 201, loc);
out:
	bo_model_stats_release(&st);
	bo_model_free(m);
	bo_block_map_free(map);
	free(mean);
	free(std);
	free(info);
	return ret;
}

/* ---- deleting models and datasets ---- */

struct del_q {
	int datasets;
	int64_t id;
	const struct bo_user *user;
	char path[1024];      /* out: the file(s) to remove after commit */
	char labels[1024];
	int upload;
};

static bo_status del_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct del_q *q = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	char sql[400], now[32];
	const char *tab = q->datasets ? "datasets" : "models";
	bo_store_now(now, sizeof(now));
	snprintf(sql, sizeof(sql),
		 "SELECT owner_id, path, %s FROM %s WHERE id = ? AND deleted_at IS NULL",
		 q->datasets ? "labels_path, source" : "NULL, 'upload'", tab);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "deleting");
	sqlite3_bind_int64(st, 1, q->id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = bo_error_set(err, BO_ENOENT, "no %s %lld", q->datasets ? "dataset" : "model",
			     (long long)q->id);
		goto out;
	}
	int64_t owner = sqlite3_column_int64(st, 0);
	if (!(q->user->admin || q->user->id == owner)) {
		rc = bo_error_set(err, BO_EPERM, "only its owner or an admin may delete this %s",
			     q->datasets ? "dataset" : "model");
		goto out;
	}
	snprintf(q->path, sizeof(q->path), "%s", (const char *)sqlite3_column_text(st, 1));
	const unsigned char *lab = sqlite3_column_text(st, 2);
	snprintf(q->labels, sizeof(q->labels), "%s", lab ? (const char *)lab : "");
	q->upload = !strcmp((const char *)sqlite3_column_text(st, 3), "upload");
	sqlite3_finalize(st);
	st = NULL;
	/* the jobs in the way, named with their owners; other users' first
	 * (the deleter cannot cancel those) */
	snprintf(sql, sizeof(sql),
		 "SELECT j.id, u.name, j.state FROM jobs j JOIN users u ON u.id = j.owner_id"
		 " WHERE j.state IN ('queued', 'running') AND %s ORDER BY j.owner_id = ?2, j.id",
		 q->datasets ? "j.dataset_id = ?1" :
			       "(j.model_id = ?1 OR EXISTS (SELECT 1 FROM job_references r WHERE"
			       " r.job_id = j.id AND r.model_id = ?1))");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "deleting");
	sqlite3_bind_int64(st, 1, q->id);
	sqlite3_bind_int64(st, 2, q->user->id);
	char jobs[300] = "";
	size_t k = 0;
	int busy = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (busy++ < 3 && k < sizeof(jobs))
			k += (size_t)snprintf(jobs + k, sizeof(jobs) - k, "%sjob %lld of %.64s (%s)",
					      busy > 1 ? ", " : "",
					      (long long)sqlite3_column_int64(st, 0),
					      (const char *)sqlite3_column_text(st, 1),
					      (const char *)sqlite3_column_text(st, 2));
	}
	if (busy) {
		rc = bo_error_set(err, BO_ECONFLICT,
			     "%s %lld is used by %d queued or running job%s: %s%s; it can be deleted"
			     " once they end (their owners or an admin may cancel them)",
			     q->datasets ? "dataset" : "model", (long long)q->id, busy,
			     busy == 1 ? "" : "s", jobs, busy > 3 ? ", ..." : "");
		goto out;
	}
	snprintf(sql, sizeof(sql), "UPDATE %s SET deleted_at = '%s' WHERE id = %lld", tab, now,
		 (long long)q->id);
	rc = bo_store_exec(db, sql, err);
out:
	sqlite3_finalize(st);
	return rc;
}

static int delete_thing(struct bo_daemon *d, struct bo_req *r, int datasets, int64_t id)
{
	struct del_q q = { .datasets = datasets, .id = id, .user = bo_req_user(r) };
	struct bo_error err;
	char path[2200];
	bo_error_clear(&err);
	/* freeing: on a full disk the store spends its reserve on this */
	if (bo_store_write_freeing(d->store, del_fn, &q, &err))
		return bo_reply_error(r, &err);
	/* the row says deleted; its files go now (finished jobs keep the row;
	 * files a crash leaves here are swept at the next start) */
	if (q.upload) {
		bo_data_path(d, q.path, path, sizeof(path));
		unlink(path);
		if (q.labels[0]) {
			bo_data_path(d, q.labels, path, sizeof(path));
			unlink(path);
		}
	}
	return bo_reply_json(r, 204, NULL);
}

/* ---- datasets ---- */

struct ds_ins {
	int64_t owner, id;
	const char *name, *description, *source, *format, *path, *labels, *split, *shape;
	const char *sha256;
	int64_t images, size;
	const char *tmp_images, *tmp_labels; /* uploads: renamed into place */
	const char *data_dir;
	int64_t quota;        /* uploads: user-stored-bytes */
};

static bo_status ds_ins_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct ds_ins *q = ctx;
	sqlite3_stmt *st = NULL;
	char now[32], rel[64], rel_l[64], path[1200], dir[1100];
	bo_status rc = BO_OK;
	bo_store_now(now, sizeof(now));
	if (q->tmp_images && (rc = quota_bytes(db, q->owner, q->size, q->quota, "dataset", err)))
		return rc;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO datasets (owner_id, name, description, source, format,"
			       " path, labels_path, split, images, shape, size, sha256, created_at)"
			       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "storing a dataset");
	sqlite3_bind_int64(st, 1, q->owner);
	sqlite3_bind_text(st, 2, q->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, q->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, q->format, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, q->path ? q->path : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, q->labels, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, q->split, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, q->images);
	sqlite3_bind_text(st, 10, q->shape, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, q->size);
	sqlite3_bind_text(st, 12, q->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = bo_store_fail(db, err, "storing a dataset");
		goto out;
	}
	q->id = sqlite3_last_insert_rowid(db);
	if (!q->tmp_images)
		goto out;
	snprintf(rel, sizeof(rel), "datasets/%lld-images.bin", (long long)q->id);
	snprintf(rel_l, sizeof(rel_l), "datasets/%lld-labels.bin", (long long)q->id);
	char sql[300];
	snprintf(sql, sizeof(sql), "UPDATE datasets SET path = '%s', labels_path = %s%s%s WHERE id = %lld",
		 rel, q->tmp_labels ? "'" : "", q->tmp_labels ? rel_l : "NULL",
		 q->tmp_labels ? "'" : "", (long long)q->id);
	if ((rc = bo_store_exec(db, sql, err)))
		goto out;
	snprintf(dir, sizeof(dir), "%s/datasets", q->data_dir);
	if (mkdir(dir, 0755) && errno != EEXIST) {
		rc = bo_error_set(err, BO_EIO, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", q->data_dir, rel);
	if (rename(q->tmp_images, path)) {
		rc = bo_error_set(err, BO_EIO, "cannot store the images: %s", strerror(errno));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", q->data_dir, rel_l);
	if (q->tmp_labels && rename(q->tmp_labels, path)) {
		rc = bo_error_set(err, BO_EIO, "cannot store the labels: %s", strerror(errno));
		goto out;
	}
	if (fsync_dir(dir))
		rc = bo_error_set(err, BO_EIO, "cannot sync %s: %s", dir, strerror(errno));
out:
	sqlite3_finalize(st);
	return rc;
}

static const char *format_name(enum bo_dataset_format f)
{
	return f == BO_DATASET_CIFAR10 ? "cifar" : bo_dataset_format_name(f);
}

static void shape_text(const struct bo_dataset_info *in, char *buf, size_t size)
{
	snprintf(buf, size, "[%lld,%lld,%lld]", (long long)in->c, (long long)in->h,
		 (long long)in->w);
}

/* Replace every occurrence of `name` (a server-side file name) in the
 * error text by `with`: answers never show the server's paths. */
static void scrub(struct bo_error *err, const char *name, const char *with)
{
	char out[BO_ERROR_TEXT];
	size_t n = name ? strlen(name) : 0, k = 0;
	if (!n)
		return;
	for (const char *p = err->text; *p && k + 1 < sizeof(out);) {
		if (!strncmp(p, name, n)) {
			k += (size_t)snprintf(out + k, sizeof(out) - k, "%s", with);
			if (k > sizeof(out) - 1)
				k = sizeof(out) - 1;
			p += n;
		} else {
			out[k++] = *p++;
		}
	}
	out[k] = 0;
	snprintf(err->text, sizeof(err->text), "%s", out);
}

static void scrub_upload(struct bo_error *err, const char *path, const char *with)
{
	if (!path)
		return;
	scrub(err, path, with);
	const char *base = strrchr(path, '/');
	scrub(err, base ? base + 1 : path, with);
}

/* Uploads are validated by streaming (bo_dataset_check_at): nothing the
 * size of the data is allocated in the HTTP thread, and the configured
 * dataset limits apply; the workers load it when a job runs. */
static int post_dataset_upload(struct bo_daemon *d, struct bo_req *r)
{
	struct bo_error err;
	struct bo_dataset_info info;
	struct bo_dataset_limits lim;
	char shape[96];
	int64_t isize = 0, lsize = 0;
	const char *isha = NULL;
	const char *img = bo_req_upload(r, "images", &isize, &isha);
	const char *lab = bo_req_upload(r, "labels", &lsize, NULL);
	const char *name = bo_req_query(r, "name"), *fmt = bo_req_query(r, "format");
	const char *split = bo_req_query(r, "split"), *desc = bo_req_query(r, "description");
	bo_error_clear(&err);
	if (!name || !*name || strlen(name) > 200)
		return bo_reply_fail(r, BO_EINVAL, "name", "give the dataset a name: ?name=NAME");
	if (!fmt || (strcmp(fmt, "idx") && strcmp(fmt, "npy") && strcmp(fmt, "cifar")))
		return bo_reply_fail(r, BO_EINVAL, "format", "format must be idx, npy or cifar");
	if (split && strcmp(split, "test") && strcmp(split, "train"))
		return bo_reply_fail(r, BO_EINVAL, "split", "split must be test or train");
	if (!img || isize == 0)
		return bo_reply_fail(r, BO_EINVAL, "images",
				     "the form field images (a file) is missing");
	if (strcmp(fmt, "cifar") && (!lab || lsize == 0))
		return bo_reply_fail(r, BO_EINVAL, "labels",
				     "the form field labels (a file) is missing");
	if (upload_over_quota(d, r, isize + (strcmp(fmt, "cifar") ? lsize : 0), "dataset"))
		return 0;
	enum bo_dataset_format f = !strcmp(fmt, "idx") ? BO_DATASET_IDX :
				   !strcmp(fmt, "npy") ? BO_DATASET_NPY : BO_DATASET_CIFAR10;
	int with_labels = f != BO_DATASET_CIFAR10;
	bo_dataset_limits_of(&d->cfg, &lim);
	if (bo_dataset_check_at(AT_FDCWD, img, with_labels ? lab : NULL, f, BO_SPLIT_TEST, &lim,
				&info, &err)) {
		scrub_upload(&err, img, "the images upload");
		scrub_upload(&err, lab, "the labels upload");
		if (!err.field[0])
			snprintf(err.field, sizeof(err.field), "%s",
				 with_labels && lab && !strcmp(err.file, lab) ? "labels" : "images");
		return bo_reply_error(r, &err);
	}
	shape_text(&info, shape, sizeof(shape));
	struct ds_ins q = { bo_req_user(r)->id, 0, name, desc ? desc : "", "upload", fmt, NULL,
			    NULL, split ? split : "test", shape, isha, info.count,
			    isize + (with_labels ? lsize : 0), img, with_labels ? lab : NULL,
			    d->cfg.data_dir, d->cfg.user_stored_bytes };
	if (bo_store_write(d->store, ds_ins_fn, &q, &err))
		return bo_reply_error(r, &err);
	bo_req_adopt(r, "images");
	if (with_labels)
		bo_req_adopt(r, "labels");
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/datasets/%lld", (long long)q.id);
	return get_one(d, r, 1, q.id, 201, loc);
}

/* Registration of a path under an allowed root. Answers, decided so that
 * nothing about the filesystem outside the roots can be learnt:
 *  - a path that is not absolute: 400;
 *  - a path that is not (lexically, after removing "." and "..") under an
 *    allowed root: 403 forbidden, one fixed message, decided from the text
 *    alone without touching the filesystem, whether or not it exists;
 *  - under a root, it is opened beneath the root (openat2 RESOLVE_BENEATH,
 *    by the library): a path that is not there is 404, one that leads out
 *    of the root through a symbolic link is 403 (what lies outside is never
 *    looked at, so both say only something about the root's contents).
 * Jobs open the stored path the same way again (bo_dataset_ref_open). */
static int post_dataset_path(struct bo_daemon *d, struct bo_req *r)
{
	struct bo_error err;
	struct bo_dataset_info info;
	struct bo_dataset_limits lim;
	json_error_t je;
	size_t len;
	const char *body = bo_req_body(r, &len);
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	const char *name = NULL, *path = NULL, *labels = NULL, *fmt = "auto", *split = "test";
	const char *desc = "", *rel = NULL, *rel_l = NULL;
	char norm[PATH_MAX], norm_l[PATH_MAX] = "", shape[96];
	int ret, fd = -1;
	bo_error_clear(&err);
	if (!j) {
		ret = bo_reply_fail(r, BO_EMALFORMED, NULL, "invalid JSON: %s (at byte %d)", je.text,
				    je.position);
		goto out;
	}
	if (!json_is_object(j)) {
		ret = bo_reply_fail(r, BO_EINVAL, NULL, "expected a JSON object");
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v) {
		const char **dst = !strcmp(key, "name")        ? &name :
				   !strcmp(key, "path")        ? &path :
				   !strcmp(key, "labels")      ? &labels :
				   !strcmp(key, "format")      ? &fmt :
				   !strcmp(key, "split")       ? &split :
				   !strcmp(key, "description") ? &desc :
								 NULL;
		if (!dst) {
			ret = bo_reply_fail(r, BO_EINVAL, key, "unknown field '%s'", key);
			goto out;
		}
		if (!json_is_string(v) || json_string_length(v) > 1000) {
			ret = bo_reply_fail(r, BO_EINVAL, key, json_is_string(v) ? "%s is too long (over "
					    "1000 characters)" : "%s must be a string", key);
			goto out;
		}
		*dst = json_string_value(v);
	}
	if (!name || !*name || strlen(name) > 200) {
		ret = bo_reply_fail(r, BO_EINVAL, "name", "missing field 'name'");
		goto out;
	}
	if (!path || !*path) {
		ret = bo_reply_fail(r, BO_EINVAL, "path", "missing field 'path'");
		goto out;
	}
	if (strcmp(fmt, "auto") && strcmp(fmt, "idx") && strcmp(fmt, "npy") && strcmp(fmt, "cifar")) {
		ret = bo_reply_fail(r, BO_EINVAL, "format", "format must be auto, idx, npy or cifar");
		goto out;
	}
	if (strcmp(split, "test") && strcmp(split, "train")) {
		ret = bo_reply_fail(r, BO_EINVAL, "split", "split must be test or train");
		goto out;
	}
	if (path[0] != '/' || (labels && labels[0] != '/')) {
		ret = bo_reply_fail(r, BO_EINVAL, labels && path[0] == '/' ? "labels" : "path",
				    "give an absolute path");
		goto out;
	}
	int root = bo_root_of(&d->cfg, path, norm, sizeof(norm), &rel);
	int root_l = labels ? bo_root_of(&d->cfg, labels, norm_l, sizeof(norm_l), &rel_l) : root;
	if (root < 0 || root_l < 0) {
		ret = bo_reply_fail(r, BO_EPERM, root < 0 ? "path" : "labels",
				    "datasets may only be registered from the allowed roots "
				    "(--dataset-root)");
		goto out;
	}
	if (root_l != root) {
		ret = bo_reply_fail(r, BO_EPERM, "labels",
				    "the labels must be under the same allowed root as the images");
		goto out;
	}
	fd = open(d->cfg.roots[root], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = bo_reply_fail(r, BO_EIO, NULL, "cannot open the allowed root: %s",
				    strerror(errno));
		goto out;
	}
	enum bo_dataset_format f = !strcmp(fmt, "idx")   ? BO_DATASET_IDX :
				   !strcmp(fmt, "npy")   ? BO_DATASET_NPY :
				   !strcmp(fmt, "cifar") ? BO_DATASET_CIFAR10 :
							   BO_DATASET_AUTO;
	bo_dataset_limits_of(&d->cfg, &lim);
	if (bo_dataset_check_at(fd, rel, rel_l, f,
				strcmp(split, "train") ? BO_SPLIT_TEST : BO_SPLIT_TRAIN, &lim, &info,
				&err)) {
		if (!err.field[0])
			snprintf(err.field, sizeof(err.field), "%s",
				 rel_l && !strcmp(err.file, rel_l) ? "labels" : "path");
		ret = bo_reply_error(r, &err);
		goto out;
	}
	shape_text(&info, shape, sizeof(shape));
	struct ds_ins q = { bo_req_user(r)->id, 0, name, desc, "path", format_name(info.format),
			    norm, labels ? norm_l : NULL, split, shape, NULL, info.count,
			    info.is_dir ? 0 : info.file_bytes, NULL, NULL, d->cfg.data_dir, 0 };
	if (bo_store_write(d->store, ds_ins_fn, &q, &err)) {
		ret = bo_reply_error(r, &err);
		goto out;
	}
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/datasets/%lld", (long long)q.id);
	ret = get_one(d, r, 1, q.id, 201, loc);
out:
	if (fd >= 0)
		close(fd);
	json_decref(j);
	return ret;
}

/* ---- jobs ---- */

/* A job's bookkeeping: name (<= 200 characters, no control characters),
 * notes (<= 4000 characters) and tags (<= 16 of [A-Za-z0-9._:-]{1,64}, no
 * repeats). Taken out of a POST /jobs body before the sweep spec is parsed
 * (they are not part of the spec), or the whole of a PATCH body. */
#define JOB_NAME_MAX 200
#define JOB_NOTES_MAX 4000
#define JOB_TAGS_MAX 16
#define JOB_TAG_MAX 64

struct job_meta {
	int has_name, has_notes, has_tags;
	char *name, *notes, *tags; /* malloc'd; tags as a compact JSON array */
};

static void job_meta_release(struct job_meta *m)
{
	free(m->name);
	free(m->notes);
	free(m->tags);
	m->name = m->notes = m->tags = NULL;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* 1 if t is a valid tag. */
static int tag_ok(const char *t)
{
	size_t n = strlen(t);
	if (n < 1 || n > JOB_TAG_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

static bo_status meta_fail(struct bo_error *err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bo_status meta_fail(struct bo_error *err, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bo_error_vset(err, BO_EINVAL, fmt, ap);
	va_end(ap);
	bo_error_set_where(err, NULL, NULL, NULL, field);
	return BO_EINVAL;
}

/* Validate and take name/notes/tags out of object j (patch: they must be
 * all it holds, and at least one). The caller releases m, also on error. */
static bo_status job_meta_take(json_t *j, int patch, struct job_meta *m, struct bo_error *err)
{
	json_t *v;
	memset(m, 0, sizeof(*m));
	if (!json_is_object(j)) {
		bo_error_set(err, BO_EINVAL, "the body must be a JSON object");
		return BO_EINVAL;
	}
	if ((v = json_object_get(j, "name"))) {
		const char *s = json_string_value(v);
		if (!s)
			return meta_fail(err, "name", "name must be a string");
		if (utf8_chars(s) > JOB_NAME_MAX)
			return meta_fail(err, "name", "name is over %s characters", "200");
		for (const char *c = s; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return meta_fail(err, "name",
						 "name must not hold control characters");
		if (!(m->name = strdup(s))) {
			bo_error_set(err, BO_ENOMEM, "out of memory");
			return BO_ENOMEM;
		}
		m->has_name = 1;
	}
	if ((v = json_object_get(j, "notes"))) {
		const char *s = json_string_value(v);
		if (!s)
			return meta_fail(err, "notes", "notes must be a string");
		if (utf8_chars(s) > JOB_NOTES_MAX)
			return meta_fail(err, "notes", "notes are over %s characters", "4000");
		if (!(m->notes = strdup(s))) {
			bo_error_set(err, BO_ENOMEM, "out of memory");
			return BO_ENOMEM;
		}
		m->has_notes = 1;
	}
	if ((v = json_object_get(j, "tags"))) {
		size_t i, k;
		json_t *t;
		if (!json_is_array(v))
			return meta_fail(err, "tags", "tags must be an array of strings");
		if (json_array_size(v) > JOB_TAGS_MAX)
			return meta_fail(err, "tags", "at most %s tags", "16");
		json_array_foreach(v, i, t) {
			const char *s = json_string_value(t);
			if (!s || !tag_ok(s))
				return meta_fail(err, "tags",
						 "a tag is 1 to 64 of A-Z a-z 0-9 . _ : -, not '%.80s'",
						 s ? s : "(not a string)");
			for (k = 0; k < i; k++)
				if (!strcmp(s, json_string_value(json_array_get(v, k))))
					return meta_fail(err, "tags", "tag '%s' is given twice", s);
		}
		if (!(m->tags = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY))) {
			bo_error_set(err, BO_ENOMEM, "out of memory");
			return BO_ENOMEM;
		}
		m->has_tags = 1;
	}
	if (patch) {
		const char *key;
		json_object_foreach(j, key, v)
			if (strcmp(key, "name") && strcmp(key, "notes") && strcmp(key, "tags"))
				return meta_fail(err, key,
						 "unknown field '%.60s': a job's name, notes and tags"
						 " can be changed",
						 key);
		if (!m->has_name && !m->has_notes && !m->has_tags)
			return meta_fail(err, NULL, "give name, notes or tags to change");
	} else {
		json_object_del(j, "name");
		json_object_del(j, "notes");
		json_object_del(j, "tags");
	}
	return BO_OK;
}

struct job_ins {
	const struct bo_job_spec *spec;
	int64_t owner;
	const char *spec_text, *key, *hash;
	const struct bo_config *cfg; /* queue limit, quotas, tasks per job */
	const struct job_meta *meta; /* name, notes, tags */
	int64_t id;              /* out */
	int existing;            /* out: the idempotency key's job */
};

/* The user's quotas of queued work and stored bytes let this job in? */
static bo_status job_quotas(sqlite3 *db, const struct job_ins *q, struct bo_error *err)
{
	const struct bo_job_spec *s = q->spec;
	struct usage u = { 0 };
	int64_t trials = (int64_t)s->n_p * bo_job_spec_max_trials(s);
	bo_status rc = user_usage(db, q->owner, &u, err);
	if (rc)
		return rc;
	if (u.jobs >= q->cfg->user_queued_jobs)
		return bo_error_set(err, BO_EQUOTA,
			       "job quota: you have %lld queued or running jobs, the most one user"
			       " may have (user-queued-jobs = %d); wait for them to finish, or"
			       " cancel or delete ones you no longer need",
			       (long long)u.jobs, q->cfg->user_queued_jobs);
	if (u.trials + trials > q->cfg->user_queued_trials)
		return bo_error_set(err, BO_EQUOTA,
			       "trial quota: this job plans %lld trials (%d points x %d) and your"
			       " queued or running jobs %lld, over the %lld one user may have"
			       " queued (user-queued-trials); wait for them to finish, cancel some,"
			       " or ask for fewer points or trials",
			       (long long)trials, s->n_p, bo_job_spec_max_trials(s),
			       (long long)u.trials, (long long)q->cfg->user_queued_trials);
	return quota_bytes(db, q->owner, trials * BO_RESULT_ROW_BYTES, q->cfg->user_stored_bytes,
			   "job's results", err);
}

/* Check one referenced model: exists, not deleted; its input shape. */
static bo_status model_shape(sqlite3 *db, int64_t id, const char *field, json_t **shape,
			     struct bo_error *err)
{
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	json_error_t je;
	if (sqlite3_prepare_v2(db, "SELECT info FROM models WHERE id = ? AND deleted_at IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "reading a model");
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = bo_error_set(err, BO_ENOENT, "no model %lld", (long long)id);
		snprintf(err->field, sizeof(err->field), "%s", field);
	} else {
		json_t *info = json_loads((const char *)sqlite3_column_text(st, 0), 0, &je);
		*shape = json_incref(json_object_get(info, "input_shape"));
		json_decref(info);
	}
	sqlite3_finalize(st);
	return rc;
}

static bo_status job_ins_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct job_ins *q = ctx;
	const struct bo_job_spec *s = q->spec;
	sqlite3_stmt *st = NULL;
	json_t *mshape = NULL, *dshape = NULL;
	json_error_t je;
	bo_status rc = BO_OK;
	char now[32];
	bo_store_now(now, sizeof(now));
	if (q->key) {
		if (sqlite3_prepare_v2(db,
				       "SELECT id, request_hash FROM jobs WHERE owner_id = ? AND"
				       " idempotency_key = ?",
				       -1, &st, NULL) != SQLITE_OK)
			return bo_store_fail(db, err, "reading jobs");
		sqlite3_bind_int64(st, 1, q->owner);
		sqlite3_bind_text(st, 2, q->key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			q->id = sqlite3_column_int64(st, 0);
			q->existing = 1;
			if (strcmp((const char *)sqlite3_column_text(st, 1), q->hash)) {
				rc = bo_error_set(err, BO_EMISMATCH,
					     "Idempotency-Key '%s' was used for job %lld with another"
					     " body",
					     q->key, (long long)q->id);
				snprintf(err->field, sizeof(err->field), "Idempotency-Key");
			}
			goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	/* what the spec names must exist and fit together */
	if ((rc = model_shape(db, s->model, "model", &mshape, err)))
		goto out;
	for (int i = 0; i < s->n_refs && !rc; i++) {
		json_t *rs = NULL;
		rc = model_shape(db, s->refs[i], "references", &rs, err);
		json_decref(rs);
	}
	if (rc)
		goto out;
	if (sqlite3_prepare_v2(db,
			       "SELECT shape, images, name FROM datasets WHERE id = ? AND"
			       " deleted_at IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "reading a dataset");
	sqlite3_bind_int64(st, 1, s->dataset);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = bo_error_set(err, BO_ENOENT, "no dataset %lld", (long long)s->dataset);
		snprintf(err->field, sizeof(err->field), "dataset");
		goto out;
	}
	dshape = json_loads((const char *)sqlite3_column_text(st, 0), 0, &je);
	int64_t images = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	if (!json_equal(mshape, dshape)) {
		char *a = json_dumps(mshape, JSON_COMPACT), *b = json_dumps(dshape, JSON_COMPACT);
		rc = bo_error_set(err, BO_ESHAPE,
			     "dataset %lld has images of shape %s but model %lld takes %s",
			     (long long)s->dataset, b ? b : "?", (long long)s->model, a ? a : "?");
		snprintf(err->field, sizeof(err->field), "dataset");
		free(a);
		free(b);
		goto out;
	}
	int64_t C = json_integer_value(json_array_get(dshape, 0));
	if ((s->n_mean > 1 && s->n_mean != C) || (s->n_std > 1 && s->n_std != C)) {
		rc = bo_error_set(err, BO_EINVAL, "mean and std need 1 or %lld values", (long long)C);
		snprintf(err->field, sizeof(err->field), s->n_mean > 1 && s->n_mean != C ? "mean" : "std");
		goto out;
	}
	if (s->images_per_trial > (s->limit > 0 && s->limit < images ? s->limit : images)) {
		rc = bo_error_set(err, BO_EINVAL,
			     "images_per_trial %lld is more than the %lld images of the evaluation set",
			     (long long)s->images_per_trial,
			     (long long)(s->limit > 0 && s->limit < images ? s->limit : images));
		snprintf(err->field, sizeof(err->field), "images_per_trial");
		goto out;
	}
	if (s->limit > images) {
		rc = bo_error_set(err, BO_EINVAL, "limit %lld is more than the dataset's %lld images",
			     (long long)s->limit, (long long)images);
		snprintf(err->field, sizeof(err->field), "limit");
		goto out;
	}
	if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "reading jobs");
	int active = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	st = NULL;
	if (active >= q->cfg->queue_limit) {
		rc = bo_error_set(err, BO_EBUSY, "the queue is full (%d jobs); try again later", active);
		goto out;
	}
	if ((rc = job_quotas(db, q, err)))
		goto out;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO jobs (owner_id, model_id, dataset_id, state, priority, spec,"
			       " idempotency_key, request_hash, points, images_per_trial, created_at,"
			       " name, notes, tags) VALUES (?,?,?,'queued',?,?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "storing a job");
	sqlite3_bind_int64(st, 1, q->owner);
	sqlite3_bind_int64(st, 2, s->model);
	sqlite3_bind_int64(st, 3, s->dataset);
	sqlite3_bind_int(st, 4, s->priority);
	sqlite3_bind_text(st, 5, q->spec_text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, q->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, q->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, s->n_p);
	sqlite3_bind_int64(st, 9, s->limit ? s->limit : images);
	sqlite3_bind_text(st, 10, now, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, q->meta->has_name ? q->meta->name : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, q->meta->has_notes ? q->meta->notes : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, q->meta->has_tags ? q->meta->tags : "[]", -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = bo_store_fail(db, err, "storing a job");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	q->id = sqlite3_last_insert_rowid(db);
	if ((rc = bo_queue_create_tasks(db, q->id, s, q->cfg->job_max_tasks, err)))
		goto out;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO job_references (job_id, position, model_id) VALUES (?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "storing references");
	for (int i = 0; i < s->n_refs && !rc; i++) {
		sqlite3_bind_int64(st, 1, q->id);
		sqlite3_bind_int(st, 2, i);
		sqlite3_bind_int64(st, 3, s->refs[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = bo_store_fail(db, err, "storing references");
		sqlite3_reset(st);
	}
	if (!rc) {
		char sql[200];
		snprintf(sql, sizeof(sql),
			 "INSERT INTO events (job_id, at, kind, message) VALUES (%lld, '%s',"
			 " 'submitted', 'queued')",
			 (long long)q->id, now);
		rc = bo_store_exec(db, sql, err);
	}
out:
	sqlite3_finalize(st);
	json_decref(mshape);
	json_decref(dshape);
	return rc;
}

static int reply_job(struct bo_daemon *d, struct bo_req *r, int64_t id, int status, int etag)
{
	json_t *j = NULL;
	struct bo_error err;
	bo_error_clear(&err);
	if (bo_job_get(d, id, &j, &err))
		return bo_reply_error(r, &err);
	if (etag) {
		char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
		char hex[65], tag[72];
		bo_sha256_hex_of(s ? s : "", s ? strlen(s) : 0, hex);
		free(s);
		snprintf(tag, sizeof(tag), "\"%.32s\"", hex);
		bo_reply_header(r, "ETag", tag);
		const char *inm = bo_req_header(r, "If-None-Match");
		if (inm && (!strcmp(inm, tag) || !strcmp(inm, "*"))) {
			json_decref(j);
			return bo_reply_json(r, 304, NULL);
		}
	}
	if (status == 202) {
		char loc[64];
		snprintf(loc, sizeof(loc), "/api/v1/jobs/%lld", (long long)id);
		bo_reply_header(r, "Location", loc);
	}
	return bo_reply_json(r, status, j);
}

struct model_path_q {
	int64_t id;
	char path[1024];  /* out, "" when there is no such model */
};

static bo_status model_path_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct model_path_q *q = ctx;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT path FROM models WHERE id = ? AND deleted_at IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "reading a model");
	sqlite3_bind_int64(st, 1, q->id);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(q->path, sizeof(q->path), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return BO_OK;
}

/* block_p may only name blocks the model has: that needs the model's graph,
 * so the model is loaded here, and only when a rule names a block (not
 * just "*"). A missing model is left to job_ins_fn's 404. */
static bo_status check_block_p(struct bo_daemon *d, const struct bo_job_spec *s,
			       struct bo_error *err)
{
	struct bo_block_rule *rules = NULL;
	struct bo_model *m = NULL;
	struct model_path_q q = { s->model, "" };
	char path[2048];
	int n = 0, named = 0;
	bo_status rc = BO_OK;
	if (!s->block_p)
		return BO_OK;
	if (bo_block_rules_parse(s->block_p, &rules, &n, err) == BO_OK)
		for (int i = 0; i < n; i++)
			named |= strcmp(rules[i].block, "*") != 0;
	free(rules);
	bo_error_clear(err);
	if (!named || (rc = bo_store_read(d->store, model_path_fn, &q, err)) || !q.path[0])
		return rc;
	bo_data_path(d, q.path, path, sizeof(path));
	if (!(rc = bo_model_load(path, &m, err)))
		rc = bo_job_spec_check_blocks(s, m, err);
	bo_model_free(m);
	return rc;
}

static int post_job(struct bo_daemon *d, struct bo_req *r)
{
	struct bo_error err;
	struct bo_job_spec spec = { 0 };
	struct job_meta meta = { 0 };
	json_error_t je;
	size_t len;
	const char *body = bo_req_body(r, &len);
	const char *key = bo_req_header(r, "Idempotency-Key");
	char hash[65];
	char *text = NULL;
	int ret, parsed = 0;
	bo_error_clear(&err);
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return bo_reply_fail(r, BO_EMALFORMED, NULL, "invalid JSON: %s (at byte %d)", je.text,
				     je.position);
	if (key && (!*key || strlen(key) > 200)) {
		ret = bo_reply_fail(r, BO_EINVAL, "Idempotency-Key",
				    "Idempotency-Key must be 1 to 200 characters");
		goto out;
	}
	/* name, notes, tags: the job's, not the sweep's (meta points into j) */
	if ((json_is_object(j) && job_meta_take(j, 0, &meta, &err)) ||
	    bo_job_spec_parse(j, &spec, &err)) {
		ret = bo_reply_error(r, &err);
		goto out;
	}
	parsed = 1;
	if (check_block_p(d, &spec, &err)) {
		ret = bo_reply_error(r, &err);
		goto out;
	}
	json_t *sj = bo_job_spec_json(&spec);
	text = json_dumps(sj, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(sj);
	bo_sha256_hex_of(body, len, hash);
	struct job_ins q = { &spec, bo_req_user(r)->id, text, key, hash, &d->cfg, &meta, 0, 0 };
	if (!text) {
		ret = bo_reply_fail(r, BO_ENOMEM, NULL, "out of memory");
	} else if (bo_store_write(d->store, job_ins_fn, &q, &err)) {
		ret = bo_reply_error(r, &err);
	} else {
		if (!q.existing) {
			d->exec.ops->wake(d->exec.impl);
			bo_slurm_wake(d->slurm);
		}
		ret = reply_job(d, r, q.id, 202, 0);
	}
out:
	free(text);
	job_meta_release(&meta);
	if (parsed)
		bo_job_spec_release(&spec);
	json_decref(j);
	return ret;
}

/* PATCH /jobs/{id}: its name, notes or tags, by its owner or an admin. */
struct job_patch {
	int64_t id;
	const struct bo_user *user;
	const struct job_meta *meta;
};

static bo_status job_patch_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct job_patch *q = ctx;
	const struct job_meta *m = q->meta;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db, "SELECT owner_id FROM jobs WHERE id = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return bo_store_fail(db, err, "reading a job");
	sqlite3_bind_int64(st, 1, q->id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = bo_error_set(err, BO_ENOENT, "no job %lld", (long long)q->id);
		goto out;
	}
	if (!(q->user->admin || q->user->id == sqlite3_column_int64(st, 0))) {
		rc = bo_error_set(err, BO_EPERM, "only its owner or an admin may change job %lld",
			     (long long)q->id);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db,
			       "UPDATE jobs SET name = CASE WHEN ?2 THEN ?3 ELSE name END,"
			       " notes = CASE WHEN ?4 THEN ?5 ELSE notes END,"
			       " tags = CASE WHEN ?6 THEN ?7 ELSE tags END WHERE id = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "changing a job");
	sqlite3_bind_int64(st, 1, q->id);
	sqlite3_bind_int(st, 2, m->has_name);
	sqlite3_bind_text(st, 3, m->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, m->has_notes);
	sqlite3_bind_text(st, 5, m->notes, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, m->has_tags);
	sqlite3_bind_text(st, 7, m->tags, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bo_store_fail(db, err, "changing a job");
out:
	sqlite3_finalize(st);
	return rc;
}

static int patch_job(struct bo_daemon *d, struct bo_req *r, int64_t id)
{
	struct bo_error err;
	struct job_meta meta = { 0 };
	json_error_t je;
	size_t len;
	const char *body = bo_req_body(r, &len);
	int ret;
	bo_error_clear(&err);
	json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return bo_reply_fail(r, BO_EMALFORMED, NULL, "invalid JSON: %s (at byte %d)", je.text,
				     je.position);
	struct job_patch q = { id, bo_req_user(r), &meta };
	if (job_meta_take(j, 1, &meta, &err) || bo_store_write(d->store, job_patch_fn, &q, &err))
		ret = bo_reply_error(r, &err);
	else
		ret = reply_job(d, r, id, 200, 0);
	job_meta_release(&meta);
	json_decref(j);
	return ret;
}

struct jobs_q {
	int64_t after;
	int limit;
	const char *state, *owner;
	const char *tag, *name;  /* a tag the job has; a substring of its name */
	int64_t model;
	int64_t ids[201];
	int n, more;
};

static bo_status jobs_list_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct jobs_q *q = ctx;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT j.id FROM jobs j JOIN users u ON u.id = j.owner_id"
			       " WHERE j.id < ?1 AND (?2 IS NULL OR j.state = ?2) AND"
			       " (?3 IS NULL OR u.name = ?3) AND (?4 = 0 OR j.model_id = ?4) AND"
			       " (?6 IS NULL OR EXISTS (SELECT 1 FROM json_each(j.tags) t"
			       "  WHERE t.value = ?6)) AND"
			       " (?7 IS NULL OR instr(lower(j.name), lower(?7)) > 0)"
			       " ORDER BY j.id DESC LIMIT ?5",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "listing jobs");
	sqlite3_bind_int64(st, 1, q->after);
	sqlite3_bind_text(st, 2, q->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, q->model);
	sqlite3_bind_int(st, 5, q->limit + 1);
	sqlite3_bind_text(st, 6, q->tag, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, q->name, -1, SQLITE_STATIC);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (q->n == q->limit) {
			q->more = 1;
			break;
		}
		q->ids[q->n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return s == SQLITE_ROW || s == SQLITE_DONE ? BO_OK : bo_store_fail(db, err, "listing jobs");
}

static int list_jobs(struct bo_daemon *d, struct bo_req *r)
{
	struct jobs_q q = { 0 };
	struct bo_error err;
	bo_error_clear(&err);
	if (paging(r, &q.after, &q.limit))
		return 0;
	q.state = bo_req_query(r, "state");
	q.owner = bo_req_query(r, "owner");
	const char *m = bo_req_query(r, "model");
	if (q.state && strcmp(q.state, "queued") && strcmp(q.state, "running") &&
	    strcmp(q.state, "done") && strcmp(q.state, "failed") && strcmp(q.state, "cancelled"))
		return bo_reply_fail(r, BO_EINVAL, "state",
				     "state must be queued, running, done, failed or cancelled");
	if (m && parse_id(m, &q.model))
		return bo_reply_fail(r, BO_EINVAL, "model", "model must be a model id");
	q.tag = bo_req_query(r, "tag");
	q.name = bo_req_query(r, "name");
	if (q.tag && !tag_ok(q.tag))
		return bo_reply_fail(r, BO_EINVAL, "tag", "a tag is 1 to 64 of A-Z a-z 0-9 . _ : -");
	if (q.name && (!*q.name || utf8_chars(q.name) > JOB_NAME_MAX))
		return bo_reply_fail(r, BO_EINVAL, "name", "name must be 1 to 200 characters");
	if (bo_store_read(d->store, jobs_list_fn, &q, &err))
		return bo_reply_error(r, &err);
	json_t *items = json_array();
	for (int i = 0; i < q.n; i++) {
		json_t *j = NULL;
		if (bo_job_get(d, q.ids[i], &j, &err) == BO_OK)
			json_array_append_new(items, j);
	}
	return reply_list(r, items, q.more);
}

struct job_change {
	int64_t id;
	const struct bo_user *user;
	int del;          /* delete instead of cancel */
};

static bo_status job_change_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct job_change *q = ctx;
	sqlite3_stmt *st = NULL;
	char sql[300], now[32], state[16];
	bo_store_now(now, sizeof(now));
	if (sqlite3_prepare_v2(db, "SELECT owner_id, state FROM jobs WHERE id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "reading a job");
	sqlite3_bind_int64(st, 1, q->id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return bo_error_set(err, BO_ENOENT, "no job %lld", (long long)q->id);
	}
	int64_t owner = sqlite3_column_int64(st, 0);
	snprintf(state, sizeof(state), "%s", (const char *)sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	if (!(q->user->admin || q->user->id == owner))
		return bo_error_set(err, BO_EPERM, "only its owner or an admin may %s job %lld",
			       q->del ? "delete" : "cancel", (long long)q->id);
	if (q->del) {
		snprintf(sql, sizeof(sql), "DELETE FROM jobs WHERE id = %lld", (long long)q->id);
		return bo_store_exec(db, sql, err);
	}
	if (strcmp(state, "queued") && strcmp(state, "running"))
		return bo_error_set(err, BO_ECONFLICT, "job %lld is %s already", (long long)q->id, state);
	snprintf(sql, sizeof(sql),
		 "UPDATE jobs SET state = 'cancelled', finished_at = '%s' WHERE id = %lld", now,
		 (long long)q->id);
	bo_status rc = bo_store_exec(db, sql, err);
	if (!rc) {
		rc = bo_queue_cancel_tasks(db, q->id, err);
	}
	if (!rc) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO events (job_id, at, kind, message) VALUES (%lld, '%s',"
			 " 'cancelled', 'cancelled by %s')",
			 (long long)q->id, now, q->user->name);
		rc = bo_store_exec(db, sql, err);
	}
	return rc;
}

static int change_job(struct bo_daemon *d, struct bo_req *r, int64_t id, int del)
{
	struct job_change q = { id, bo_req_user(r), del };
	struct bo_error err;
	bo_error_clear(&err);
	if (bo_store_write_freeing(d->store, job_change_fn, &q, &err))
		return bo_reply_error(r, &err);
	d->exec.ops->cancel_job(d->exec.impl, id);
	bo_live_drop(&d->live, id);
	return del ? bo_reply_json(r, 204, NULL) : reply_job(d, r, id, 200, 0);
}

static int job_results(struct bo_daemon *d, struct bo_req *r, int64_t id)
{
	const char *fmt = bo_req_query(r, "format");
	int csv = fmt && !strcmp(fmt, "csv");
	json_t *j = NULL;
	char *text = NULL;
	size_t len = 0;
	struct bo_error err;
	bo_error_clear(&err);
	const char *pt = bo_req_query(r, "per_trial"), *point = bo_req_query(r, "point");
	int per_trial = pt && (!strcmp(pt, "1") || !strcmp(pt, "true"));
	int64_t k = 0;
	if (fmt && !csv && strcmp(fmt, "json"))
		return bo_reply_fail(r, BO_EINVAL, "format", "format must be json or csv");
	if (pt && !per_trial && strcmp(pt, "0") && strcmp(pt, "false"))
		return bo_reply_fail(r, BO_EINVAL, "per_trial", "per_trial must be 1 or 0");
	if (point && !per_trial)
		return bo_reply_fail(r, BO_EINVAL, "point", "point goes with per_trial=1");
	if (point && strcmp(point, "0") && (parse_id(point, &k) || k >= BO_MAX_POINTS))
		return bo_reply_fail(r, BO_EINVAL, "point", "point must be a point's index (0, 1, ...)");
	if (per_trial ? bo_job_trials(d, id, point ? (int)k : -1, csv, &j, &text, &len, &err) :
			bo_job_results(d, id, csv, &j, &text, &len, &err))
		return bo_reply_error(r, &err);
	if (!csv)
		return bo_reply_json(r, 200, j);
	int ret = bo_reply_text(r, 200, "text/csv; charset=utf-8", text, len);
	free(text);
	return ret;
}

/* "1,2,3" into ids (at most max). 0, or -1. */
static int parse_ids(const char *s, int64_t *ids, int *n, int max)
{
	char buf[64];
	*n = 0;
	while (s && *s) {
		const char *e = strchr(s, ',');
		size_t k = e ? (size_t)(e - s) : strlen(s);
		if (k == 0 || k >= sizeof(buf) || *n == max)
			return -1;
		memcpy(buf, s, k);
		buf[k] = 0;
		if (parse_id(buf, &ids[(*n)++]))
			return -1;
		s = e ? e + 1 : NULL;
		if (s && !*s) /* "1," */
			return -1;
	}
	return *n ? 0 : -1;
}

static int analysis(struct bo_daemon *d, struct bo_req *r)
{
	int64_t jobs[64], refs[BO_MAX_REFS];
	int nj, nr;
	json_t *j = NULL;
	struct bo_error err;
	bo_error_clear(&err);
	if (parse_ids(bo_req_query(r, "jobs"), jobs, &nj, 64))
		return bo_reply_fail(r, BO_EINVAL, "jobs", "jobs must be 1 to 64 job ids: ?jobs=1,2");
	if (parse_ids(bo_req_query(r, "references"), refs, &nr, BO_MAX_REFS))
		return bo_reply_fail(r, BO_EINVAL, "references",
				     "references must be 1 to 32 model ids: ?references=3,4");
	if (bo_analysis(d, jobs, nj, refs, nr, &j, &err))
		return bo_reply_error(r, &err);
	return bo_reply_json(r, 200, j);
}

/* ---- tokens and users ----
 *
 * A user lists and revokes its own tokens and makes new ones for itself
 * (the secret is in the answer to POST, once; the store keeps only its
 * SHA-256); an admin sees and revokes everybody's. Users are an admin's:
 * list, add (with a first token, as `brownoutd user add`), and remove,
 * which revokes every token of the user and marks it disabled (its
 * models, datasets and jobs stay, under its name, which stays taken). A
 * token of another user is "not found" to a non-admin, as if absent. */

#define TOKEN_COLS "t.id, u.name, t.kind, t.name, t.created_at, t.user_id"

static json_t *token_json(sqlite3_stmt *st, int64_t current)
{
	json_t *j = json_object();
	int64_t id = sqlite3_column_int64(st, 0);
	json_object_set_new(j, "id", json_integer(id));
	json_object_set_new(j, "user", bo_col_string(st, 1));
	json_object_set_new(j, "kind", bo_col_string(st, 2));
	json_object_set_new(j, "name", bo_col_string(st, 3));
	json_object_set_new(j, "created_at", bo_col_string(st, 4));
	json_object_set_new(j, "current", json_boolean(id == current));
	return j;
}

struct tokens_q {
	const struct bo_user *user;
	int64_t after, id; /* id: one token (after POST) */
	int limit, more;
	json_t *items;     /* out */
};

static bo_status tokens_list_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct tokens_q *q = ctx;
	sqlite3_stmt *st = NULL;
	int s, n = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT " TOKEN_COLS " FROM tokens t JOIN users u ON u.id = t.user_id"
			       " WHERE t.id < ?1 AND (?2 OR t.user_id = ?3) AND (?5 = 0 OR t.id = ?5)"
			       " ORDER BY t.id DESC LIMIT ?4",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "listing tokens");
	sqlite3_bind_int64(st, 1, q->after);
	sqlite3_bind_int(st, 2, q->user->admin);
	sqlite3_bind_int64(st, 3, q->user->id);
	sqlite3_bind_int(st, 4, q->limit + 1);
	sqlite3_bind_int64(st, 5, q->id);
	q->items = json_array();
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == q->limit) {
			q->more = 1;
			break;
		}
		json_array_append_new(q->items, token_json(st, q->user->token_id));
		n++;
	}
	sqlite3_finalize(st);
	return s == SQLITE_ROW || s == SQLITE_DONE ? BO_OK : bo_store_fail(db, err, "listing tokens");
}

static int list_tokens(struct bo_daemon *d, struct bo_req *r)
{
	struct tokens_q q = { .user = bo_req_user(r) };
	struct bo_error err;
	bo_error_clear(&err);
	if (paging(r, &q.after, &q.limit))
		return 0;
	if (bo_store_read(d->store, tokens_list_fn, &q, &err)) {
		json_decref(q.items);
		return bo_reply_error(r, &err);
	}
	return reply_list(r, q.items, q.more);
}

/* Parse a JSON object body (an empty body is {}), allowing only `keys`
 * ("name,admin"). NULL when replied. */
static json_t *small_body(struct bo_req *r, const char *keys)
{
	size_t len;
	const char *body = bo_req_body(r, &len);
	json_error_t je;
	const char *k;
	json_t *v, *j = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : json_object();
	char list[64], want[80];
	if (!j)
		return bo_reply_fail(r, BO_EMALFORMED, NULL, "invalid JSON: %s (at byte %d)",
				     je.text, je.position),
		       NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		return bo_reply_fail(r, BO_EINVAL, NULL, "the body must be a JSON object"), NULL;
	}
	snprintf(list, sizeof(list), ",%s,", keys);
	json_object_foreach(j, k, v) {
		snprintf(want, sizeof(want), ",%.60s,", k);
		if (!strstr(list, want) || strlen(k) > 60) {
			bo_reply_fail(r, BO_EINVAL, k, "unknown field '%.60s' (fields: %s)", k, keys);
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

static int post_token(struct bo_daemon *d, struct bo_req *r)
{
	const struct bo_user *u = bo_req_user(r);
	struct bo_token_issue q = { .user = u->name };
	struct bo_error err;
	char token[BO_TOKEN_SIZE];
	int ret;
	bo_error_clear(&err);
	json_t *j = small_body(r, "name");
	if (!j)
		return 0;
	json_t *name = json_object_get(j, "name");
	if (name && !json_is_string(name)) {
		ret = bo_reply_fail(r, BO_EINVAL, "name", "name must be a string");
		goto out;
	}
	q.label = json_string_value(name);
	if (bo_token_issue(d->store, &q, token, sizeof(token), &err)) {
		ret = bo_reply_error(r, &err);
		goto out;
	}
	struct tokens_q tq = { .user = u, .after = INT64_MAX, .id = q.token_id, .limit = 1 };
	if (bo_store_read(d->store, tokens_list_fn, &tq, &err) || !json_array_size(tq.items)) {
		if (!err.status)
			bo_error_set(&err, BO_EINTERNAL, "the new token is not there");
		json_decref(tq.items);
		ret = bo_reply_error(r, &err);
		goto out;
	}
	json_t *t = json_incref(json_array_get(tq.items, 0));
	json_decref(tq.items);
	json_object_set_new(t, "token", json_string(token));
	ret = bo_reply_json(r, 201, t);
out:
	explicit_bzero(token, sizeof(token));
	json_decref(j);
	return ret;
}

struct token_del {
	int64_t id;
	const struct bo_user *user;
};

static bo_status token_del_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct token_del *q = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db, "DELETE FROM tokens WHERE id = ?1 AND (?2 OR user_id = ?3)", -1,
			       &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "revoking a token");
	sqlite3_bind_int64(st, 1, q->id);
	sqlite3_bind_int(st, 2, q->user->admin);
	sqlite3_bind_int64(st, 3, q->user->id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bo_store_fail(db, err, "revoking a token");
	else if (sqlite3_changes(db) == 0)
		rc = bo_error_set(err, BO_ENOENT, "no token %lld of yours", (long long)q->id);
	sqlite3_finalize(st);
	return rc;
}

static int delete_token(struct bo_daemon *d, struct bo_req *r, int64_t id)
{
	struct token_del q = { id, bo_req_user(r) };
	struct bo_error err;
	bo_error_clear(&err);
	if (bo_store_write_freeing(d->store, token_del_fn, &q, &err))
		return bo_reply_error(r, &err);
	return bo_reply_json(r, 204, NULL);
}

static int need_admin(struct bo_req *r)
{
	if (bo_req_user(r)->admin)
		return 0;
	bo_reply_fail(r, BO_EPERM, NULL, "only an admin may manage users");
	return -1;
}

#define USER_COLS \
	"u.id, u.name, u.is_admin, u.created_at, u.disabled_at," \
	" (SELECT COUNT(*) FROM tokens t WHERE t.user_id = u.id)"

static json_t *user_json(sqlite3_stmt *st)
{
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(j, "name", bo_col_string(st, 1));
	json_object_set_new(j, "admin", json_boolean(sqlite3_column_int(st, 2)));
	json_object_set_new(j, "created_at", bo_col_string(st, 3));
	json_object_set_new(j, "disabled_at", bo_col_string(st, 4));
	json_object_set_new(j, "tokens", json_integer(sqlite3_column_int64(st, 5)));
	return j;
}

struct users_q {
	int64_t after, id; /* id: one user */
	int limit, more;
	json_t *items;
};

static bo_status users_list_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct users_q *q = ctx;
	sqlite3_stmt *st = NULL;
	int s, n = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT " USER_COLS " FROM users u WHERE u.id < ?1 AND"
			       " (?3 = 0 OR u.id = ?3) ORDER BY u.id DESC LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "listing users");
	sqlite3_bind_int64(st, 1, q->after);
	sqlite3_bind_int(st, 2, q->limit + 1);
	sqlite3_bind_int64(st, 3, q->id);
	q->items = json_array();
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == q->limit) {
			q->more = 1;
			break;
		}
		json_array_append_new(q->items, user_json(st));
		n++;
	}
	sqlite3_finalize(st);
	return s == SQLITE_ROW || s == SQLITE_DONE ? BO_OK : bo_store_fail(db, err, "listing users");
}

static int list_users(struct bo_daemon *d, struct bo_req *r)
{
	struct users_q q = { 0 };
	struct bo_error err;
	bo_error_clear(&err);
	if (need_admin(r) || paging(r, &q.after, &q.limit))
		return 0;
	if (bo_store_read(d->store, users_list_fn, &q, &err)) {
		json_decref(q.items);
		return bo_reply_error(r, &err);
	}
	return reply_list(r, q.items, q.more);
}

static int post_user(struct bo_daemon *d, struct bo_req *r)
{
	struct bo_token_issue q = { .create_user = 1 };
	struct bo_error err;
	char token[BO_TOKEN_SIZE], loc[64];
	int ret;
	bo_error_clear(&err);
	if (need_admin(r))
		return 0;
	json_t *j = small_body(r, "name,admin");
	if (!j)
		return 0;
	json_t *name = json_object_get(j, "name"), *admin = json_object_get(j, "admin");
	if (!json_is_string(name)) {
		ret = bo_reply_fail(r, BO_EINVAL, "name", "give the user's name: {\"name\": NAME}");
		goto out;
	}
	if (admin && !json_is_boolean(admin)) {
		ret = bo_reply_fail(r, BO_EINVAL, "admin", "admin must be true or false");
		goto out;
	}
	q.user = json_string_value(name);
	q.admin = json_is_true(admin);
	if (bo_token_issue(d->store, &q, token, sizeof(token), &err)) {
		ret = bo_reply_error(r, &err);
		goto out;
	}
	struct users_q uq = { .after = INT64_MAX, .id = q.user_id, .limit = 1 };
	if (bo_store_read(d->store, users_list_fn, &uq, &err) || !json_array_size(uq.items)) {
		if (!err.status)
			bo_error_set(&err, BO_EINTERNAL, "the new user is not there");
		json_decref(uq.items);
		ret = bo_reply_error(r, &err);
		goto out;
	}
	json_t *u = json_incref(json_array_get(uq.items, 0));
	json_decref(uq.items);
	json_object_set_new(u, "token", json_string(token));
	snprintf(loc, sizeof(loc), "/api/v1/users/%lld", (long long)q.user_id);
	bo_reply_header(r, "Location", loc);
	ret = bo_reply_json(r, 201, u);
out:
	explicit_bzero(token, sizeof(token));
	json_decref(j);
	return ret;
}

struct user_del {
	int64_t id;
	const struct bo_user *user;
};

static bo_status user_del_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct user_del *q = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	char now[32];
	bo_store_now(now, sizeof(now));
	if (q->id == q->user->id)
		return bo_error_set(err, BO_ECONFLICT,
			       "an admin cannot remove itself (another admin can)");
	if (sqlite3_prepare_v2(db,
			       "UPDATE users SET disabled_at = ?2 WHERE id = ?1 AND disabled_at IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "removing a user");
	sqlite3_bind_int64(st, 1, q->id);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bo_store_fail(db, err, "removing a user");
	else if (sqlite3_changes(db) == 0)
		rc = bo_error_set(err, BO_ENOENT, "no user %lld (or removed already)", (long long)q->id);
	sqlite3_finalize(st);
	st = NULL;
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(db, "DELETE FROM tokens WHERE user_id = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return bo_store_fail(db, err, "removing a user");
	sqlite3_bind_int64(st, 1, q->id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bo_store_fail(db, err, "removing a user");
	sqlite3_finalize(st);
	return rc;
}

static int delete_user(struct bo_daemon *d, struct bo_req *r, int64_t id)
{
	struct user_del q = { id, bo_req_user(r) };
	struct bo_error err;
	bo_error_clear(&err);
	if (need_admin(r))
		return 0;
	if (bo_store_write_freeing(d->store, user_del_fn, &q, &err))
		return bo_reply_error(r, &err);
	return bo_reply_json(r, 204, NULL);
}

/* ---- health, metrics, me ---- */

struct counts {
	int64_t queued_tasks, running_jobs, queued_jobs;
};

static bo_status counts_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct counts *c = ctx;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT (SELECT COUNT(*) FROM tasks t JOIN jobs j ON j.id = t.job_id"
			       " WHERE t.state = 'queued' AND j.state IN ('queued', 'running')),"
			       " (SELECT COUNT(*) FROM jobs WHERE state = 'running'),"
			       " (SELECT COUNT(*) FROM jobs WHERE state = 'queued')",
			       -1, &st, NULL) != SQLITE_OK)
		return bo_store_fail(db, err, "counting");
	bo_status rc = BO_OK;
	if (sqlite3_step(st) == SQLITE_ROW) {
		c->queued_tasks = sqlite3_column_int64(st, 0);
		c->running_jobs = sqlite3_column_int64(st, 1);
		c->queued_jobs = sqlite3_column_int64(st, 2);
	} else {
		rc = bo_store_fail(db, err, "counting");
	}
	sqlite3_finalize(st);
	return rc;
}

static int health(struct bo_daemon *d, struct bo_req *r)
{
	struct counts c = { 0 };
	struct bo_error err;
	bo_error_clear(&err);
	if (bo_store_read(d->store, counts_fn, &c, &err))
		return bo_reply_error(r, &err);
	json_t *j = json_object();
	json_object_set_new(j, "status", json_string("ok"));
	json_object_set_new(j, "version", json_string(BO_VERSION));
	json_object_set_new(j, "schema_version", json_integer(bo_store_schema_version()));
	json_object_set_new(j, "workers", json_integer(d->cfg.workers));
	json_object_set_new(j, "queue_depth", json_integer(c.queued_tasks));
	json_object_set_new(j, "running_jobs", json_integer(c.running_jobs));
	json_object_set_new(j, "uptime_seconds", json_real(bo_now() - d->started));
	json_object_set_new(j, "public_read", json_boolean(d->cfg.public_read));
	json_object_set_new(j, "store", json_string(bo_store_health(d->store)));
	return bo_reply_json(r, 200, j);
}

/* Images per second over the last ~10 s: samples of images_total kept at
 * most one a second (taken when /metrics is read); the rate runs from the
 * newest sample at least 10 s old (else the oldest one) to now. */
static double bo_images_rate(struct bo_daemon *d, long long images)
{
	double now = bo_now(), rate = 0;
	pthread_mutex_lock(&d->live.mu);
	int newest = (d->rate_next + 15) % 16;
	if (d->rate_n == 0 || now - d->rate_t[newest] >= 1.0) {
		d->rate_t[d->rate_next] = now;
		d->rate_images[d->rate_next] = images;
		d->rate_next = (d->rate_next + 1) % 16;
		if (d->rate_n < 16)
			d->rate_n++;
	}
	/* oldest to newest: the newest sample at least 10 s old, else the oldest */
	int pick = -1;
	for (int k = d->rate_n; k >= 1; k--) {
		int i = (d->rate_next - k + 16) % 16;
		if (pick < 0 || now - d->rate_t[i] >= 10.0)
			pick = i;
	}
	if (pick >= 0 && now - d->rate_t[pick] > 0.2)
		rate = (double)(images - d->rate_images[pick]) / (now - d->rate_t[pick]);
	else if (now - d->started > 0)
		rate = (double)images / (now - d->started);
	pthread_mutex_unlock(&d->live.mu);
	return rate;
}

static int metrics(struct bo_daemon *d, struct bo_req *r)
{
	struct counts c = { 0 };
	struct bo_error err;
	char *buf = NULL;
	size_t len = 0;
	bo_error_clear(&err);
	if (bo_store_read(d->store, counts_fn, &c, &err))
		return bo_reply_error(r, &err);
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return bo_reply_fail(r, BO_ENOMEM, NULL, "out of memory");
	double up = bo_now() - d->started;
	long long images = atomic_load(&d->images_total);
	double rate = bo_images_rate(d, images);
	fprintf(f, "# HELP brownout_queue_depth Tasks waiting for a worker.\n"
		   "# TYPE brownout_queue_depth gauge\nbrownout_queue_depth %lld\n",
		(long long)c.queued_tasks);
	fprintf(f, "# HELP brownout_queued_jobs Jobs waiting to start.\n"
		   "# TYPE brownout_queued_jobs gauge\nbrownout_queued_jobs %lld\n",
		(long long)c.queued_jobs);
	fprintf(f, "# HELP brownout_running_jobs Jobs with tasks running or queued after a start.\n"
		   "# TYPE brownout_running_jobs gauge\nbrownout_running_jobs %lld\n",
		(long long)c.running_jobs);
	fprintf(f, "# HELP brownout_images_per_second Images evaluated per second over the last "
		   "10 s or so.\n# TYPE brownout_images_per_second gauge\n"
		   "brownout_images_per_second %.3f\n",
		rate);
	fprintf(f, "# HELP brownout_images_total Images evaluated under faults.\n"
		   "# TYPE brownout_images_total counter\nbrownout_images_total %lld\n",
		images);
	fprintf(f, "# HELP brownout_store_degraded 1 while the store refuses writes (disk full or "
		   "I/O error), else 0.\n# TYPE brownout_store_degraded gauge\n"
		   "brownout_store_degraded %d\n",
		strcmp(bo_store_health(d->store), "ok") != 0);
	fprintf(f, "# HELP brownout_workers Worker threads.\n# TYPE brownout_workers gauge\n"
		   "brownout_workers %d\n",
		d->cfg.workers);
	fprintf(f, "# HELP brownout_uptime_seconds Seconds since start.\n"
		   "# TYPE brownout_uptime_seconds gauge\nbrownout_uptime_seconds %.3f\n",
		up);
	fprintf(f, "# HELP brownout_http_requests_total HTTP responses by status code.\n"
		   "# TYPE brownout_http_requests_total counter\n");
	for (int s = 100; s < 600; s++) {
		long long n = atomic_load(&d->requests[s]);
		if (n)
			fprintf(f, "brownout_http_requests_total{status=\"%d\"} %lld\n", s, n);
	}
	if (fclose(f))
		return bo_reply_fail(r, BO_ENOMEM, NULL, "out of memory");
	int ret = bo_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
	free(buf);
	return ret;
}

static int me(struct bo_req *r)
{
	const struct bo_user *u = bo_req_user(r);
	if (!u)
		return bo_reply_fail(r, BO_EAUTH, NULL, "this needs 'Authorization: Bearer TOKEN'");
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(u->id));
	json_object_set_new(j, "name", json_string(u->name));
	json_object_set_new(j, "admin", json_boolean(u->admin));
	return bo_reply_json(r, 200, j);
}

/* ---- routing ---- */

int bo_api_body_kind(const char *method, const char *path, const char *content_type)
{
	if (strcmp(method, "POST"))
		return 0;
	if (!strcmp(path, "/models"))
		return 1;
	if (!strcmp(path, "/datasets") && content_type &&
	    !strncasecmp(content_type, "multipart/form-data", 19))
		return 2;
	return 0;
}

int bo_api_needs_auth(const struct bo_daemon *d, const char *method, const char *path)
{
	if (!strcmp(path, "/health") || !strcmp(path, "/openapi.yaml") || !strcmp(path, "/metrics"))
		return 0;
	/* tokens and users are never public, whatever public-read says */
	if (!strcmp(path, "/me") || !strncmp(path, "/worker/", 8) || !strncmp(path, "/tokens", 7) ||
	    !strncmp(path, "/users", 6))
		return 1;
	return !(d->cfg.public_read && (!strcmp(method, "GET") || !strcmp(method, "HEAD")));
}

/* Reject the method unless it is one of `allowed` ("GET,POST"). */
static int method_ok(struct bo_req *r, const char *allowed)
{
	char list[64];
	snprintf(list, sizeof(list), ",%s,", allowed);
	char m[20];
	snprintf(m, sizeof(m), ",%s,", bo_req_method(r));
	if (strstr(list, m))
		return 1;
	bo_reply_header(r, "Allow", allowed);
	bo_reply_405(r);
	return 0;
}

int bo_api_handle(struct bo_daemon *d, struct bo_req *r, const char *path)
{
	char seg[4][64];
	int n = split_path(path, seg);
	int64_t id = 0;
	if (!strcmp(path, "/metrics"))
		return method_ok(r, "GET") ? metrics(d, r) : 0;
	/* worker tokens call /worker/... only (remote.c), and only they do */
	const struct bo_user *u = bo_req_user(r);
	if (strcmp(path, "/health") && strcmp(path, "/openapi.yaml")) {
		if (!strncmp(path, "/worker/", 8) || !strcmp(path, "/workers"))
			return bo_remote_handle(d, r, path);
		if (u && u->worker)
			return bo_reply_fail(r, BO_EPERM, NULL,
					     "a worker token may call /api/v1/worker/* only");
	}
	if (n < 1)
		return bo_reply_fail(r, BO_ENOENT, NULL, "no such endpoint: /api/v1%s", path);
	if (n == 1 && !strcmp(seg[0], "health"))
		return method_ok(r, "GET") ? health(d, r) : 0;
	if (n == 1 && !strcmp(seg[0], "openapi.yaml"))
		return method_ok(r, "GET") ?
			       bo_reply_text(r, 200, "application/yaml", d->openapi, d->openapi_len) :
			       0;
	if (n == 1 && !strcmp(seg[0], "me"))
		return method_ok(r, "GET") ? me(r) : 0;
	if (n == 1 && !strcmp(seg[0], "analysis"))
		return method_ok(r, "GET") ? analysis(d, r) : 0;
	int models = !strcmp(seg[0], "models"), datasets = !strcmp(seg[0], "datasets");
	int jobs = !strcmp(seg[0], "jobs");
	int tokens = !strcmp(seg[0], "tokens"), users = !strcmp(seg[0], "users");
	if (n >= 2 && (models || datasets || jobs || tokens || users) && parse_id(seg[1], &id))
		return bo_reply_fail(r, BO_ENOENT, NULL, "'%s' is not an id", seg[1]);
	if (tokens && n == 1)
		return method_ok(r, "GET,POST") ? is(r, "GET") ? list_tokens(d, r) : post_token(d, r) :
						  0;
	if (tokens && n == 2)
		return method_ok(r, "DELETE") ? delete_token(d, r, id) : 0;
	if (users && n == 1)
		return method_ok(r, "GET,POST") ? is(r, "GET") ? list_users(d, r) : post_user(d, r) :
						  0;
	if (users && n == 2)
		return method_ok(r, "DELETE") ? delete_user(d, r, id) : 0;
	if (models || datasets) {
		if (n == 1) {
			if (!method_ok(r, "GET,POST"))
				return 0;
			if (is(r, "GET"))
				return list_things(d, r, datasets);
			if (models)
				return post_model(d, r);
			const char *ct = bo_req_header(r, "Content-Type");
			if (ct && !strncasecmp(ct, "multipart/form-data", 19))
				return post_dataset_upload(d, r);
			return post_dataset_path(d, r);
		}
		if (n == 2) {
			if (!method_ok(r, "GET,DELETE"))
				return 0;
			return is(r, "GET") ? get_one(d, r, datasets, id, 200, NULL) :
					      delete_thing(d, r, datasets, id);
		}
	}
	if (jobs) {
		if (n == 1) {
			if (!method_ok(r, "GET,POST"))
				return 0;
			return is(r, "GET") ? list_jobs(d, r) : post_job(d, r);
		}
		if (n == 2) {
			if (!method_ok(r, "GET,PATCH,DELETE"))
				return 0;
			if (is(r, "PATCH"))
				return patch_job(d, r, id);
			return is(r, "GET") ? reply_job(d, r, id, 200, 1) : change_job(d, r, id, 1);
		}
		if (n == 3 && !strcmp(seg[2], "cancel"))
			return method_ok(r, "POST") ? change_job(d, r, id, 0) : 0;
		if (n == 3 && !strcmp(seg[2], "results"))
			return method_ok(r, "GET") ? job_results(d, r, id) : 0;
	}
	return bo_reply_fail(r, BO_ENOENT, NULL, "no such endpoint: /api/v1%s", path);
}
