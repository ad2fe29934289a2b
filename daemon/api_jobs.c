/* brownoutd API: jobs (/api/v1/jobs): submit (spec checked against the
 * model, quotas, tasks queued in one transaction), list and filter, read,
 * annotate (PATCH name, notes, tags), cancel, delete, and results (JSON,
 * CSV, per trial). The spec itself is jobs.c's. */
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

#include "api.h"
#include "auth.h"
#include "brownoutd.h"
#include "http.h"
#include "jobs.h"
#include "queue.h"
#include "report.h"
#include "slurm.h"

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
	const struct bd_job_spec *spec;
	int64_t owner;
	const char *spec_text, *key, *hash;
	const struct bd_config *cfg; /* queue limit, quotas, tasks per job */
	const struct job_meta *meta; /* name, notes, tags */
	int64_t id;              /* out */
	int existing;            /* out: the idempotency key's job */
};

/* The user's quotas of queued work and stored bytes let this job in? */
static bo_status job_quotas(sqlite3 *db, const struct job_ins *q, struct bo_error *err)
{
	const struct bd_job_spec *s = q->spec;
	struct api_usage u = { 0 };
	int64_t trials = s->optimize ? bd_job_spec_opt_trials(s) :
				       (int64_t)s->n_p * bd_job_spec_max_trials(s);
	bo_status rc = api_user_usage(db, q->owner, &u, err);
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
			       (long long)trials, s->n_p, bd_job_spec_max_trials(s),
			       (long long)u.trials, (long long)q->cfg->user_queued_trials);
	return api_quota_bytes(db, q->owner, trials * BO_RESULT_ROW_BYTES, q->cfg->user_stored_bytes,
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
		return bd_store_fail(db, err, "reading a model");
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
	const struct bd_job_spec *s = q->spec;
	sqlite3_stmt *st = NULL;
	json_t *mshape = NULL, *dshape = NULL;
	json_error_t je;
	bo_status rc = BO_OK;
	char now[32];
	bd_store_now(now, sizeof(now));
	if (q->key) {
		if (sqlite3_prepare_v2(db,
				       "SELECT id, request_hash FROM jobs WHERE owner_id = ? AND"
				       " idempotency_key = ?",
				       -1, &st, NULL) != SQLITE_OK)
			return bd_store_fail(db, err, "reading jobs");
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
		return bd_store_fail(db, err, "reading a dataset");
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
		return bd_store_fail(db, err, "reading jobs");
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
		return bd_store_fail(db, err, "storing a job");
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
		rc = bd_store_fail(db, err, "storing a job");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	q->id = sqlite3_last_insert_rowid(db);
	if ((rc = bd_queue_create_tasks(db, q->id, s, q->cfg->job_max_tasks, err)))
		goto out;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO job_references (job_id, position, model_id) VALUES (?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "storing references");
	for (int i = 0; i < s->n_refs && !rc; i++) {
		sqlite3_bind_int64(st, 1, q->id);
		sqlite3_bind_int(st, 2, i);
		sqlite3_bind_int64(st, 3, s->refs[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = bd_store_fail(db, err, "storing references");
		sqlite3_reset(st);
	}
	if (!rc) {
		char sql[200];
		snprintf(sql, sizeof(sql),
			 "INSERT INTO events (job_id, at, kind, message) VALUES (%lld, '%s',"
			 " 'submitted', 'queued')",
			 (long long)q->id, now);
		rc = bd_store_exec(db, sql, err);
	}
out:
	sqlite3_finalize(st);
	json_decref(mshape);
	json_decref(dshape);
	return rc;
}

static int reply_job(struct bd_daemon *d, struct bd_req *r, int64_t id, int status, int etag)
{
	json_t *j = NULL;
	struct bo_error err;
	bo_error_clear(&err);
	if (bd_job_get(d, id, &j, &err))
		return bd_reply_error(r, &err);
	if (etag) {
		char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
		char hex[65], tag[72];
		bd_sha256_hex_of(s ? s : "", s ? strlen(s) : 0, hex);
		free(s);
		snprintf(tag, sizeof(tag), "\"%.32s\"", hex);
		bd_reply_header(r, "ETag", tag);
		const char *inm = bd_req_header(r, "If-None-Match");
		if (inm && (!strcmp(inm, tag) || !strcmp(inm, "*"))) {
			json_decref(j);
			return bd_reply_json(r, 304, NULL);
		}
	}
	if (status == 202) {
		char loc[64];
		snprintf(loc, sizeof(loc), "/api/v1/jobs/%lld", (long long)id);
		bd_reply_header(r, "Location", loc);
	}
	return bd_reply_json(r, status, j);
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
		return bd_store_fail(db, err, "reading a model");
	sqlite3_bind_int64(st, 1, q->id);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(q->path, sizeof(q->path), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return BO_OK;
}

/* block_p may only name blocks the model has: that needs the model's graph,
 * so the model is loaded here, and only when a rule names a block (not
 * just "*"). A missing model is left to job_ins_fn's 404. */
static bo_status check_block_p(struct bd_daemon *d, const struct bd_job_spec *s,
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
	if (!named || (rc = bd_store_read(d->store, model_path_fn, &q, err)) || !q.path[0])
		return rc;
	bd_data_path(d, q.path, path, sizeof(path));
	if (!(rc = bo_model_load(path, &m, err)))
		rc = bd_job_spec_check_blocks(s, m, err);
	bo_model_free(m);
	return rc;
}

static int post_job(struct bd_daemon *d, struct bd_req *r)
{
	struct bo_error err;
	struct bd_job_spec spec = { 0 };
	struct job_meta meta = { 0 };
	json_error_t je;
	size_t len;
	const char *body = bd_req_body(r, &len);
	const char *key = bd_req_header(r, "Idempotency-Key");
	char hash[65];
	char *text = NULL;
	int ret, parsed = 0;
	bo_error_clear(&err);
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return bd_reply_fail(r, BO_EMALFORMED, NULL, "invalid JSON: %s (at byte %d)", je.text,
				     je.position);
	if (key && (!*key || strlen(key) > 200)) {
		ret = bd_reply_fail(r, BO_EINVAL, "Idempotency-Key",
				    "Idempotency-Key must be 1 to 200 characters");
		goto out;
	}
	/* name, notes, tags: the job's, not the sweep's (meta points into j) */
	if ((json_is_object(j) && job_meta_take(j, 0, &meta, &err)) ||
	    bd_job_spec_parse(j, &spec, &err)) {
		ret = bd_reply_error(r, &err);
		goto out;
	}
	parsed = 1;
	if (check_block_p(d, &spec, &err)) {
		ret = bd_reply_error(r, &err);
		goto out;
	}
	json_t *sj = bd_job_spec_json(&spec);
	text = json_dumps(sj, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(sj);
	bd_sha256_hex_of(body, len, hash);
	struct job_ins q = { &spec, bd_req_user(r)->id, text, key, hash, &d->cfg, &meta, 0, 0 };
	if (!text) {
		ret = bd_reply_fail(r, BO_ENOMEM, NULL, "out of memory");
	} else if (bd_store_write(d->store, job_ins_fn, &q, &err)) {
		ret = bd_reply_error(r, &err);
	} else {
		if (!q.existing) {
			d->exec.ops->wake(d->exec.impl);
			bd_slurm_wake(d->slurm);
		}
		ret = reply_job(d, r, q.id, 202, 0);
	}
out:
	free(text);
	job_meta_release(&meta);
	if (parsed)
		bd_job_spec_release(&spec);
	json_decref(j);
	return ret;
}

/* PATCH /jobs/{id}: its name, notes or tags, by its owner or an admin. */
struct job_patch {
	int64_t id;
	const struct bd_user *user;
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
		return bd_store_fail(db, err, "reading a job");
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
		return bd_store_fail(db, err, "changing a job");
	sqlite3_bind_int64(st, 1, q->id);
	sqlite3_bind_int(st, 2, m->has_name);
	sqlite3_bind_text(st, 3, m->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, m->has_notes);
	sqlite3_bind_text(st, 5, m->notes, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, m->has_tags);
	sqlite3_bind_text(st, 7, m->tags, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bd_store_fail(db, err, "changing a job");
out:
	sqlite3_finalize(st);
	return rc;
}

static int patch_job(struct bd_daemon *d, struct bd_req *r, int64_t id)
{
	struct bo_error err;
	struct job_meta meta = { 0 };
	json_error_t je;
	size_t len;
	const char *body = bd_req_body(r, &len);
	int ret;
	bo_error_clear(&err);
	json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return bd_reply_fail(r, BO_EMALFORMED, NULL, "invalid JSON: %s (at byte %d)", je.text,
				     je.position);
	struct job_patch q = { id, bd_req_user(r), &meta };
	if (job_meta_take(j, 1, &meta, &err) || bd_store_write(d->store, job_patch_fn, &q, &err))
		ret = bd_reply_error(r, &err);
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
		return bd_store_fail(db, err, "listing jobs");
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
	return s == SQLITE_ROW || s == SQLITE_DONE ? BO_OK : bd_store_fail(db, err, "listing jobs");
}

static int list_jobs(struct bd_daemon *d, struct bd_req *r)
{
	struct jobs_q q = { 0 };
	struct bo_error err;
	bo_error_clear(&err);
	if (api_paging(r, &q.after, &q.limit))
		return 0;
	q.state = bd_req_query(r, "state");
	q.owner = bd_req_query(r, "owner");
	const char *m = bd_req_query(r, "model");
	if (q.state && strcmp(q.state, "queued") && strcmp(q.state, "running") &&
	    strcmp(q.state, "done") && strcmp(q.state, "failed") && strcmp(q.state, "cancelled"))
		return bd_reply_fail(r, BO_EINVAL, "state",
				     "state must be queued, running, done, failed or cancelled");
	if (m && api_parse_id(m, &q.model))
		return bd_reply_fail(r, BO_EINVAL, "model", "model must be a model id");
	q.tag = bd_req_query(r, "tag");
	q.name = bd_req_query(r, "name");
	if (q.tag && !tag_ok(q.tag))
		return bd_reply_fail(r, BO_EINVAL, "tag", "a tag is 1 to 64 of A-Z a-z 0-9 . _ : -");
	if (q.name && (!*q.name || utf8_chars(q.name) > JOB_NAME_MAX))
		return bd_reply_fail(r, BO_EINVAL, "name", "name must be 1 to 200 characters");
	if (bd_store_read(d->store, jobs_list_fn, &q, &err))
		return bd_reply_error(r, &err);
	json_t *items = json_array();
	for (int i = 0; i < q.n; i++) {
		json_t *j = NULL;
		if (bd_job_get(d, q.ids[i], &j, &err) == BO_OK)
			json_array_append_new(items, j);
	}
	return api_reply_list(r, items, q.more);
}

struct job_change {
	int64_t id;
	const struct bd_user *user;
	int del;          /* delete instead of cancel */
};

static bo_status job_change_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct job_change *q = ctx;
	sqlite3_stmt *st = NULL;
	char sql[300], now[32], state[16];
	bd_store_now(now, sizeof(now));
	if (sqlite3_prepare_v2(db, "SELECT owner_id, state FROM jobs WHERE id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading a job");
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
		return bd_store_exec(db, sql, err);
	}
	if (strcmp(state, "queued") && strcmp(state, "running"))
		return bo_error_set(err, BO_ECONFLICT, "job %lld is %s already", (long long)q->id, state);
	snprintf(sql, sizeof(sql),
		 "UPDATE jobs SET state = 'cancelled', finished_at = '%s' WHERE id = %lld", now,
		 (long long)q->id);
	bo_status rc = bd_store_exec(db, sql, err);
	if (!rc) {
		rc = bd_queue_cancel_tasks(db, q->id, err);
	}
	if (!rc) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO events (job_id, at, kind, message) VALUES (%lld, '%s',"
			 " 'cancelled', 'cancelled by %s')",
			 (long long)q->id, now, q->user->name);
		rc = bd_store_exec(db, sql, err);
	}
	return rc;
}

static int change_job(struct bd_daemon *d, struct bd_req *r, int64_t id, int del)
{
	struct job_change q = { id, bd_req_user(r), del };
	struct bo_error err;
	bo_error_clear(&err);
	if (bd_store_write_freeing(d->store, job_change_fn, &q, &err))
		return bd_reply_error(r, &err);
	d->exec.ops->cancel_job(d->exec.impl, id);
	bd_live_drop(&d->live, id);
	return del ? bd_reply_json(r, 204, NULL) : reply_job(d, r, id, 200, 0);
}

static int job_results(struct bd_daemon *d, struct bd_req *r, int64_t id)
{
	const char *fmt = bd_req_query(r, "format");
	int csv = fmt && !strcmp(fmt, "csv");
	json_t *j = NULL;
	char *text = NULL;
	size_t len = 0;
	struct bo_error err;
	bo_error_clear(&err);
	const char *pt = bd_req_query(r, "per_trial"), *point = bd_req_query(r, "point");
	int per_trial = pt && (!strcmp(pt, "1") || !strcmp(pt, "true"));
	int64_t k = 0;
	if (fmt && !csv && strcmp(fmt, "json"))
		return bd_reply_fail(r, BO_EINVAL, "format", "format must be json or csv");
	if (pt && !per_trial && strcmp(pt, "0") && strcmp(pt, "false"))
		return bd_reply_fail(r, BO_EINVAL, "per_trial", "per_trial must be 1 or 0");
	if (point && !per_trial)
		return bd_reply_fail(r, BO_EINVAL, "point", "point goes with per_trial=1");
	if (point && strcmp(point, "0") && (api_parse_id(point, &k) || k >= BO_MAX_POINTS))
		return bd_reply_fail(r, BO_EINVAL, "point", "point must be a point's index (0, 1, ...)");
	if (per_trial ? bd_job_trials(d, id, point ? (int)k : -1, csv, &j, &text, &len, &err) :
			bd_job_results(d, id, csv, &j, &text, &len, &err))
		return bd_reply_error(r, &err);
	if (!csv)
		return bd_reply_json(r, 200, j);
	int ret = bd_reply_text(r, 200, "text/csv; charset=utf-8", text, len);
	free(text);
	return ret;
}

/* "1,2,3" into ids (at most max). 0, or -1. */

/* ---- routes ---- */

int api_jobs_list(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return list_jobs(d, r);
}

int api_jobs_post(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return post_job(d, r);
}

int api_job_get(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return reply_job(d, r, a->id, 200, 1);
}

int api_job_patch(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return patch_job(d, r, a->id);
}

int api_job_delete(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return change_job(d, r, a->id, 1);
}

int api_job_cancel(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return change_job(d, r, a->id, 0);
}

int api_job_results(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return job_results(d, r, a->id);
}
