/* brownoutd API: datasets (POST /api/v1/datasets): uploads
 * (multipart/form-data images and labels, renamed into DATA/datasets in the
 * transaction that records them) and registrations of files under the
 * configured roots. Listing, reading and deleting are api_models.c's. */
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
	bd_store_now(now, sizeof(now));
	if (q->tmp_images && (rc = api_quota_bytes(db, q->owner, q->size, q->quota, "dataset", err)))
		return rc;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO datasets (owner_id, name, description, source, format,"
			       " path, labels_path, split, images, shape, size, sha256, created_at)"
			       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "storing a dataset");
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
		rc = bd_store_fail(db, err, "storing a dataset");
		goto out;
	}
	q->id = sqlite3_last_insert_rowid(db);
	if (!q->tmp_images)
		goto out;
	bd_data_dataset_rel(q->id, 0, rel, sizeof(rel));
	bd_data_dataset_rel(q->id, 1, rel_l, sizeof(rel_l));
	char sql[300];
	snprintf(sql, sizeof(sql), "UPDATE datasets SET path = '%s', labels_path = %s%s%s WHERE id = %lld",
		 rel, q->tmp_labels ? "'" : "", q->tmp_labels ? rel_l : "NULL",
		 q->tmp_labels ? "'" : "", (long long)q->id);
	if ((rc = bd_store_exec(db, sql, err)))
		goto out;
	bd_data_entry(q->data_dir, BO_DATA_DATASETS, dir, sizeof(dir));
	if (mkdir(dir, 0755) && errno != EEXIST) {
		rc = bo_error_set(err, BO_EIO, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	bd_data_file(q->data_dir, rel, path, sizeof(path));
	if (rename(q->tmp_images, path)) {
		rc = bo_error_set(err, BO_EIO, "cannot store the images: %s", strerror(errno));
		goto out;
	}
	bd_data_file(q->data_dir, rel_l, path, sizeof(path));
	if (q->tmp_labels && rename(q->tmp_labels, path)) {
		rc = bo_error_set(err, BO_EIO, "cannot store the labels: %s", strerror(errno));
		goto out;
	}
	if (api_fsync_dir(dir))
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
static int post_dataset_upload(struct bd_daemon *d, struct bd_req *r)
{
	struct bo_error err;
	struct bo_dataset_info info;
	struct bo_dataset_limits lim;
	char shape[96];
	int64_t isize = 0, lsize = 0;
	const char *isha = NULL;
	const char *img = bd_req_upload(r, "images", &isize, &isha);
	const char *lab = bd_req_upload(r, "labels", &lsize, NULL);
	const char *name = bd_req_query(r, "name"), *fmt = bd_req_query(r, "format");
	const char *split = bd_req_query(r, "split"), *desc = bd_req_query(r, "description");
	bo_error_clear(&err);
	if (!name || !*name || strlen(name) > 200)
		return bd_reply_fail(r, BO_EINVAL, "name", "give the dataset a name: ?name=NAME");
	if (!fmt || (strcmp(fmt, "idx") && strcmp(fmt, "npy") && strcmp(fmt, "cifar")))
		return bd_reply_fail(r, BO_EINVAL, "format", "format must be idx, npy or cifar");
	enum bo_split sp;
	struct bo_error serr;
	if (split && bo_split_parse(split, &sp, &serr))
		return bd_reply_fail(r, BO_EINVAL, "split", "split must be test or train");
	if (!img || isize == 0)
		return bd_reply_fail(r, BO_EINVAL, "images",
				     "the form field images (a file) is missing");
	if (strcmp(fmt, "cifar") && (!lab || lsize == 0))
		return bd_reply_fail(r, BO_EINVAL, "labels",
				     "the form field labels (a file) is missing");
	if (api_upload_over_quota(d, r, isize + (strcmp(fmt, "cifar") ? lsize : 0), "dataset"))
		return 0;
	enum bo_dataset_format f = BO_DATASET_CIFAR10;
	bo_dataset_format_parse(fmt, &f, &serr); /* one of idx, npy, cifar: checked above */
	int with_labels = f != BO_DATASET_CIFAR10;
	bd_dataset_limits_of(&d->cfg, &lim);
	if (bo_dataset_check_at(AT_FDCWD, img, with_labels ? lab : NULL, f, BO_SPLIT_TEST, &lim,
				&info, &err)) {
		scrub_upload(&err, img, "the images upload");
		scrub_upload(&err, lab, "the labels upload");
		if (!err.field[0])
			snprintf(err.field, sizeof(err.field), "%s",
				 with_labels && lab && !strcmp(err.file, lab) ? "labels" : "images");
		return bd_reply_error(r, &err);
	}
	shape_text(&info, shape, sizeof(shape));
	struct ds_ins q = { bd_req_user(r)->id, 0, name, desc ? desc : "", "upload", fmt, NULL,
			    NULL, split ? split : "test", shape, isha, info.count,
			    isize + (with_labels ? lsize : 0), img, with_labels ? lab : NULL,
			    d->cfg.data_dir, d->cfg.user_stored_bytes };
	if (bd_store_write(d->store, ds_ins_fn, &q, &err))
		return bd_reply_error(r, &err);
	bd_req_adopt(r, "images");
	if (with_labels)
		bd_req_adopt(r, "labels");
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/datasets/%lld", (long long)q.id);
	return api_get_one(d, r, 1, q.id, 201, loc);
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
 * Jobs open the stored path the same way again (bd_dataset_ref_open). */
static int post_dataset_path(struct bd_daemon *d, struct bd_req *r)
{
	struct bo_error err;
	struct bo_dataset_info info;
	struct bo_dataset_limits lim;
	json_error_t je;
	size_t len;
	const char *body = bd_req_body(r, &len);
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	const char *name = NULL, *path = NULL, *labels = NULL, *fmt = "auto", *split = "test";
	const char *desc = "", *rel = NULL, *rel_l = NULL;
	char norm[PATH_MAX], norm_l[PATH_MAX] = "", shape[96];
	int ret, fd = -1;
	bo_error_clear(&err);
	if (!j) {
		ret = bd_reply_fail(r, BO_EMALFORMED, NULL, "invalid JSON: %s (at byte %d)", je.text,
				    je.position);
		goto out;
	}
	if (!json_is_object(j)) {
		ret = bd_reply_fail(r, BO_EINVAL, NULL, "expected a JSON object");
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
			ret = bd_reply_fail(r, BO_EINVAL, key, "unknown field '%s'", key);
			goto out;
		}
		if (!json_is_string(v) || json_string_length(v) > 1000) {
			ret = bd_reply_fail(r, BO_EINVAL, key, json_is_string(v) ? "%s is too long (over "
					    "1000 characters)" : "%s must be a string", key);
			goto out;
		}
		*dst = json_string_value(v);
	}
	if (!name || !*name || strlen(name) > 200) {
		ret = bd_reply_fail(r, BO_EINVAL, "name", "missing field 'name'");
		goto out;
	}
	if (!path || !*path) {
		ret = bd_reply_fail(r, BO_EINVAL, "path", "missing field 'path'");
		goto out;
	}
	if (strcmp(fmt, "auto") && strcmp(fmt, "idx") && strcmp(fmt, "npy") && strcmp(fmt, "cifar")) {
		ret = bd_reply_fail(r, BO_EINVAL, "format", "format must be auto, idx, npy or cifar");
		goto out;
	}
	enum bo_split sp;
	struct bo_error serr;
	if (bo_split_parse(split, &sp, &serr)) {
		ret = bd_reply_fail(r, BO_EINVAL, "split", "split must be test or train");
		goto out;
	}
	if (path[0] != '/' || (labels && labels[0] != '/')) {
		ret = bd_reply_fail(r, BO_EINVAL, labels && path[0] == '/' ? "labels" : "path",
				    "give an absolute path");
		goto out;
	}
	int root = bd_root_of(&d->cfg, path, norm, sizeof(norm), &rel);
	int root_l = labels ? bd_root_of(&d->cfg, labels, norm_l, sizeof(norm_l), &rel_l) : root;
	if (root < 0 || root_l < 0) {
		ret = bd_reply_fail(r, BO_EPERM, root < 0 ? "path" : "labels",
				    "datasets may only be registered from the allowed roots "
				    "(--dataset-root)");
		goto out;
	}
	if (root_l != root) {
		ret = bd_reply_fail(r, BO_EPERM, "labels",
				    "the labels must be under the same allowed root as the images");
		goto out;
	}
	fd = open(d->cfg.roots[root], O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = bd_reply_fail(r, BO_EIO, NULL, "cannot open the allowed root: %s",
				    strerror(errno));
		goto out;
	}
	enum bo_dataset_format f = BO_DATASET_AUTO;
	bo_dataset_format_parse(fmt, &f, &serr); /* auto, idx, npy or cifar: checked above */
	bd_dataset_limits_of(&d->cfg, &lim);
	if (bo_dataset_check_at(fd, rel, rel_l, f,
				sp, &lim, &info,
				&err)) {
		if (!err.field[0])
			snprintf(err.field, sizeof(err.field), "%s",
				 rel_l && !strcmp(err.file, rel_l) ? "labels" : "path");
		ret = bd_reply_error(r, &err);
		goto out;
	}
	shape_text(&info, shape, sizeof(shape));
	struct ds_ins q = { bd_req_user(r)->id, 0, name, desc, "path", format_name(info.format),
			    norm, labels ? norm_l : NULL, split, shape, NULL, info.count,
			    info.is_dir ? 0 : info.file_bytes, NULL, NULL, d->cfg.data_dir, 0 };
	if (bd_store_write(d->store, ds_ins_fn, &q, &err)) {
		ret = bd_reply_error(r, &err);
		goto out;
	}
	char loc[64];
	snprintf(loc, sizeof(loc), "/api/v1/datasets/%lld", (long long)q.id);
	ret = api_get_one(d, r, 1, q.id, 201, loc);
out:
	if (fd >= 0)
		close(fd);
	json_decref(j);
	return ret;
}

/* ---- routes ---- */

/* An upload when the body is multipart/form-data, else a registration. */
int api_datasets_post(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	const char *ct = bd_req_header(r, "Content-Type");
	if (ct && !strncasecmp(ct, "multipart/form-data", 19))
		return post_dataset_upload(d, r);
	return post_dataset_path(d, r);
}
