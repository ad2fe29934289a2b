/* brownoutd API: models (POST/GET/DELETE /api/v1/models), and the listing,
 * reading and deleting that models and datasets share (both are stored
 * files with a row: DATA/models, DATA/datasets).
 *
 * An upload arrives as a temporary file (http.c); it is parsed and checked
 * (the engine's loader: an unsupported model is refused listing every
 * operator it lacks), then renamed into DATA/models inside the write
 * transaction that records it, so a failure leaves neither a row without
 * its file nor (for long) a file without its row. */
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
#include "jobs.h"
#include "queue.h"
#include "report.h"
#include "slurm.h"
#include "datadir.h"

/* ---- models ---- */

#define MODEL_COLS                                                                           \
	"m.id, m.name, m.description, u.name, m.sha256, m.size, m.created_at, m.mean, m.std," \
	" m.blocks, m.info, m.owner_id, m.version"

static json_t *model_json(sqlite3_stmt *st)
{
	json_t *j = json_object();
	json_object_set_new(j, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(j, "name", bd_col_string(st, 1));
	json_object_set_new(j, "version", json_integer(sqlite3_column_int64(st, 12)));
	json_object_set_new(j, "description", bd_col_string(st, 2));
	json_object_set_new(j, "owner", bd_col_string(st, 3));
	json_object_set_new(j, "sha256", bd_col_string(st, 4));
	json_object_set_new(j, "size", json_integer(sqlite3_column_int64(st, 5)));
	json_object_set_new(j, "created_at", bd_col_string(st, 6));
	json_object_set_new(j, "mean", bd_col_json(st, 7));
	json_object_set_new(j, "std", bd_col_json(st, 8));
	json_object_set_new(j, "blocks", bd_col_string(st, 9));
	json_object_set_new(j, "info", bd_col_json(st, 10));
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
	json_object_set_new(j, "name", bd_col_string(st, 1));
	json_object_set_new(j, "description", bd_col_string(st, 2));
	json_object_set_new(j, "owner", bd_col_string(st, 3));
	json_object_set_new(j, "source", bd_col_string(st, 4));
	json_object_set_new(j, "format", bd_col_string(st, 5));
	json_object_set_new(j, "path", upload ? json_null() : bd_col_string(st, 6));
	json_object_set_new(j, "split", bd_col_string(st, 7));
	json_object_set_new(j, "images", json_integer(sqlite3_column_int64(st, 8)));
	json_object_set_new(j, "shape", bd_col_json(st, 9));
	json_object_set_new(j, "size", json_integer(sqlite3_column_int64(st, 10)));
	json_object_set_new(j, "sha256", bd_col_string(st, 11));
	json_object_set_new(j, "created_at", bd_col_string(st, 12));
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
		return bd_store_fail(db, err, "listing");
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
		rc = bd_store_fail(db, err, "listing");
	else if (q->id && n == 0)
		rc = bo_error_set(err, BO_ENOENT, "no %s %lld", q->datasets ? "dataset" : "model",
			     (long long)q->id);
	sqlite3_finalize(st);
	return rc;
}


int api_get_one(struct bd_daemon *d, struct bd_req *r, int datasets, int64_t id, int status,
		   const char *location)
{
	struct list_q q = { .datasets = datasets, .id = id };
	struct bo_error err;
	bo_error_clear(&err);
	if (bd_store_read(d->store, list_fn, &q, &err)) {
		json_decref(q.items);
		return bd_reply_error(r, &err);
	}
	if (location)
		bd_reply_header(r, "Location", location);
	json_t *one = json_incref(json_array_get(q.items, 0));
	json_decref(q.items);
	return bd_reply_json(r, status, one);
}

static int list_things(struct bd_daemon *d, struct bd_req *r, int datasets)
{
	struct list_q q = { .datasets = datasets };
	struct bo_error err;
	bo_error_clear(&err);
	if (api_paging(r, &q.after, &q.limit))
		return 0;
	q.name = bd_req_query(r, "name");
	if (q.name && (!*q.name || strlen(q.name) > 200))
		return bd_reply_fail(r, BO_EINVAL, "name", "name must be 1 to 200 characters");
	if (bd_store_read(d->store, list_fn, &q, &err)) {
		json_decref(q.items);
		return bd_reply_error(r, &err);
	}
	return api_reply_list(r, q.items, q.more);
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
	bd_store_now(now, sizeof(now));
	if ((rc = api_quota_bytes(db, m->owner, m->size, m->quota, "model", err)))
		return rc;
	/* the owner's next version of this name (deleted ones count: a version
	 * number is never given twice); the writer thread serialises uploads */
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO models (owner_id, name, description, sha256, size, path,"
			       " mean, std, blocks, info, created_at, version) VALUES"
			       " (?1,?2,?3,?4,?5,'',?6,?7,?8,?9,?10, (SELECT COALESCE(MAX(version), 0) + 1"
			       " FROM models WHERE owner_id = ?1 AND name = ?2))",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "storing a model");
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
		rc = bd_store_fail(db, err, "storing a model");
		goto out;
	}
	m->id = sqlite3_last_insert_rowid(db);
	bd_data_model_rel(m->id, rel, sizeof(rel));
	char sql[160];
	snprintf(sql, sizeof(sql), "UPDATE models SET path = '%s' WHERE id = %lld", rel,
		 (long long)m->id);
	if ((rc = bd_store_exec(db, sql, err)))
		goto out;
	bd_data_entry(m->data_dir, BO_DATA_MODELS, dir, sizeof(dir));
	bd_data_file(m->data_dir, rel, path, sizeof(path));
	if ((mkdir(dir, 0755) && errno != EEXIST) || rename(m->tmp, path) || api_fsync_dir(dir))
		rc = bo_error_set(err, BO_EIO, "cannot store the model file: %s", strerror(errno));
out:
	sqlite3_finalize(st);
	return rc;
}

/* A model refused for its operators: the 422 names every one of them (the
 * library's error text is cut to fit; this message has the whole list). */
static int unsupported_reply(struct bd_req *r, const char *path, const struct bo_error *err)
{
	char *list = NULL;
	struct bo_error e2;
	if (err->status != BO_EUNSUPPORTED || strncmp(err->text, "unsupported operators: ", 23) ||
	    bo_model_unsupported_ops(path, &list, &e2) || !list[0]) {
		free(list);
		return bd_reply_error(r, err);
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
	return bd_reply_json(r, bd_http_status(BO_EUNSUPPORTED), j);
}

/* A model sent as a form (curl -F): the Content-Type says so, or the body
 * starts with a multipart boundary line ("--" then the boundary), which no
 * ONNX protobuf does (its first byte is a field tag, never '-'). */
static int is_form_upload(struct bd_req *r, const char *tmp)
{
	const char *ct = bd_req_header(r, "Content-Type");
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

static int post_model(struct bd_daemon *d, struct bd_req *r)
{
	struct bo_error err;
	struct bo_model *m = NULL;
	struct bo_block_map *map = NULL;
	struct bo_model_stats st = { 0 };
	char *mean = NULL, *std = NULL, *info = NULL;
	int64_t size = 0;
	const char *sha = NULL, *tmp = bd_req_upload(r, NULL, &size, &sha);
	const char *name = bd_req_query(r, "name"), *desc = bd_req_query(r, "description");
	const char *blocks = bd_req_query(r, "blocks"), *normalize = bd_req_query(r, "normalize");
	int ret;
	bo_error_clear(&err);
	if (normalize && strcmp(normalize, "none")) {
		ret = bd_reply_fail(r, BO_EINVAL, "normalize",
				    "normalize can only be 'none' (the model takes raw [0,1] pixels)");
		goto out;
	}
	if (normalize && (bd_req_query(r, "mean") || bd_req_query(r, "std"))) {
		ret = bd_reply_fail(r, BO_EINVAL, "normalize",
				    "normalize=none (raw [0,1] pixels) and mean/std contradict each other");
		goto out;
	}
	if (!name || !*name || strlen(name) > 200) {
		ret = bd_reply_fail(r, BO_EINVAL, "name",
				    "give the model a name: ?name=NAME (1 to 200 characters)");
		goto out;
	}
	if (desc && strlen(desc) > 4000) {
		ret = bd_reply_fail(r, BO_EINVAL, "description", "description is over 4000 characters");
		goto out;
	}
	if (!tmp || size == 0) {
		ret = bd_reply_fail(r, BO_EMALFORMED, NULL,
				    "the body is empty: send the ONNX file as the request body");
		goto out;
	}
	if (is_form_upload(r, tmp)) {
		ret = bd_reply_fail(r, BO_EMALFORMED, NULL,
				    "the body is a multipart/form-data form: send the ONNX file as "
				    "the raw body (curl --data-binary @model.onnx), not as a form "
				    "(curl -F)");
		goto out;
	}
	if (api_upload_over_quota(d, r, size, "model")) {
		ret = 0;
		goto out;
	}
	if (list_to_json(bd_req_query(r, "mean"), "mean", &mean, &err) ||
	    list_to_json(bd_req_query(r, "std"), "std", &std, &err)) {
		ret = bd_reply_error(r, &err);
		goto out;
	}
	if (blocks && (blocks[0] == '@' || bo_block_map_parse(blocks, &map, &err))) {
		if (blocks[0] == '@')
			bo_error_set(&err, BO_EINVAL, "blocks: send the map itself, not @file");
		snprintf(err.field, sizeof(err.field), "blocks");
		ret = bd_reply_error(r, &err);
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
			ret = bd_reply_fail(r, BO_ENOMEM, NULL, "out of memory");
			goto out;
		}
	}
	if (bo_norm_resolve(m, bd_req_query(r, "mean"), bd_req_query(r, "std"), normalize != NULL,
			    &norm, &src, &err)) {
		if (strstr(err.text, "has no normalisation")) /* missing, not malformed */
			snprintf(err.text, sizeof(err.text),
				 "the model has no normalisation: give mean and std (?mean=M&std=S,"
				 " one value or one per channel), store them in the file as the ONNX"
				 " metadata brownout.mean/brownout.std, or say that it takes raw [0,1]"
				 " pixels (?normalize=none)");
		ret = bd_reply_error(r, &err);
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
	struct model_ins mi = { bd_req_user(r)->id, 0, name, desc ? desc : "", sha, tmp, mean,
				std, blocks, info, size, d->cfg.data_dir, d->cfg.user_stored_bytes };
	if (!info || bd_store_write(d->store, model_ins_fn, &mi, &err)) {
		if (!info)
			bo_error_set(&err, BO_ENOMEM, "out of memory");
		ret = bd_reply_error(r, &err);
		goto out;
	}
	bd_req_adopt(r, NULL);
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/models/%lld", (long long)mi.id);
	ret = api_get_one(d, r, 0, mi.id, 201, loc);
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
	const struct bd_user *user;
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
	bd_store_now(now, sizeof(now));
	snprintf(sql, sizeof(sql),
		 "SELECT owner_id, path, %s FROM %s WHERE id = ? AND deleted_at IS NULL",
		 q->datasets ? "labels_path, source" : "NULL, 'upload'", tab);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "deleting");
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
		return bd_store_fail(db, err, "deleting");
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
	rc = bd_store_exec(db, sql, err);
out:
	sqlite3_finalize(st);
	return rc;
}

static int delete_thing(struct bd_daemon *d, struct bd_req *r, int datasets, int64_t id)
{
	struct del_q q = { .datasets = datasets, .id = id, .user = bd_req_user(r) };
	struct bo_error err;
	char path[2200];
	bo_error_clear(&err);
	/* freeing: on a full disk the store spends its reserve on this */
	if (bd_store_write_freeing(d->store, del_fn, &q, &err))
		return bd_reply_error(r, &err);
	/* the row says deleted; its files go now (finished jobs keep the row;
	 * files a crash leaves here are swept at the next start) */
	if (q.upload) {
		bd_data_path(d, q.path, path, sizeof(path));
		unlink(path);
		if (q.labels[0]) {
			bd_data_path(d, q.labels, path, sizeof(path));
			unlink(path);
		}
	}
	return bd_reply_json(r, 204, NULL);
}

/* ---- routes ---- */

int api_models_list(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return list_things(d, r, 0);
}

int api_models_post(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return post_model(d, r);
}

int api_model_get(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return api_get_one(d, r, 0, a->id, 200, NULL);
}

int api_model_delete(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return delete_thing(d, r, 0, a->id);
}

int api_datasets_list(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return list_things(d, r, 1);
}

int api_dataset_get(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return api_get_one(d, r, 1, a->id, 200, NULL);
}

int api_dataset_delete(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return delete_thing(d, r, 1, a->id);
}
