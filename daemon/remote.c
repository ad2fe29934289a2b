/* brownoutd's remote workers: the HTTP side of `brownout worker`.
 *
 * Design. A remote worker is one more executor of the queue (queue.c): it
 * claims a task over HTTP (POST /api/v1/worker/claim), which is a lease of
 * lease-seconds (default 60) that its heartbeats renew (POST
 * /worker/leases/{lease}/heartbeat), and reports per-trial counts (POST
 * /worker/leases/{lease}/results), which bd_queue_commit takes only while
 * the lease is held: a worker that died or lost the network loses its task
 * to the next claim, and its late result is refused (409), so no trial
 * counts twice. Only worker tokens (`brownoutd token create NAME --worker`)
 * may call /api/v1/worker/..., and they may call nothing else (route.c).
 *
 * What a worker needs travels by content: the claim names the model file
 * and the dataset's files by SHA-256 and size, and GET
 * /worker/blobs/{sha256} serves the bytes of a file that some claim named
 * (the blobs table below: at most BLOBS, the oldest forgotten first; a
 * model is also found by its stored hash). Datasets: an upload is its
 * images file (and labels file); a path dataset that is a file is that
 * file; a directory dataset is its top-level regular files (at most
 * DIR_FILES), which the worker links into a directory of the same names;
 * a dataset laid out in subdirectories is not served. Files of path
 * datasets are hashed when first claimed (kept by path, size and mtime).
 *
 * A worker runs every kind of task the local pool runs: trials, and
 * reference tasks (a reference model's clean accuracy and size on the
 * job's images), whose claim names the reference model's file and stored
 * normalisation as it names the job's model; their results are checked
 * (counts, correct <= images, images equal to the job's images per trial)
 * and committed through queue.c as the pool commits them. The first
 * results of a job carry its clean pass (accuracy, sizes, points' energy,
 * resolved normalisation), which is recorded once, as the local pool
 * records it.
 *
 * GET /api/v1/workers lists the workers seen since the daemon started (in
 * memory, at most SEEN): name, host, state (busy, idle, or offline when
 * not heard from within two leases), task, last heartbeat, images, tasks
 * done (results reports that recorded trials), images/s. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "brownoutd.h"
#include "remote.h"
#include "http.h"
#include "jobs.h"
#include "jobctx.h"
#include "queue.h"
#include "slurm.h"

#define SEEN 128
#define BLOBS 256
#define HASHED 256
#define DIR_FILES 64

struct seen {
	char name[BO_QUEUE_HOLDER], host[BO_QUEUE_HOLDER];
	int64_t task, job, lease;
	int64_t first_ms, last_ms;
	int64_t images;
	int64_t tasks; /* results reports that recorded trials */
};

struct blob {
	char sha[65];
	char path[2200];
};

struct hashed {
	char path[2200];
	int64_t size, mtime_ns;
	char sha[65];
};

struct bd_remote {
	pthread_mutex_t mu;
	int64_t last_owner;
	int n_seen;
	struct seen seen[SEEN];
	int n_blobs, next_blob;
	struct blob blobs[BLOBS];
	int n_hashed, next_hashed;
	struct hashed hashed[HASHED];
};

bo_status bd_remote_new(struct bd_remote **out, struct bo_error *err)
{
	struct bd_remote *rm = calloc(1, sizeof(*rm));
	*out = NULL;
	if (!rm)
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	pthread_mutex_init(&rm->mu, NULL);
	*out = rm;
	return BO_OK;
}

void bd_remote_free(struct bd_remote *rm)
{
	if (!rm)
		return;
	pthread_mutex_destroy(&rm->mu);
	free(rm);
}

/* A worker's name or host: 1..63 of A-Z a-z 0-9 _ . : - */
static int name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n >= BO_QUEUE_HOLDER)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

/* The worker's entry (made when new; the oldest is reused when full). */
static struct seen *seen_of(struct bd_remote *rm, const char *name)
{
	int oldest = 0;
	for (int i = 0; i < rm->n_seen; i++) {
		if (!strcmp(rm->seen[i].name, name))
			return &rm->seen[i];
		if (rm->seen[i].last_ms < rm->seen[oldest].last_ms)
			oldest = i;
	}
	int i = rm->n_seen < SEEN ? rm->n_seen++ : oldest;
	memset(&rm->seen[i], 0, sizeof(rm->seen[i]));
	snprintf(rm->seen[i].name, sizeof(rm->seen[i].name), "%s", name);
	rm->seen[i].first_ms = bd_queue_now_ms();
	return &rm->seen[i];
}

/* The worker holding lease (NULL if none). */
static struct seen *seen_by_lease(struct bd_remote *rm, int64_t lease)
{
	for (int i = 0; i < rm->n_seen; i++)
		if (rm->seen[i].lease == lease)
			return &rm->seen[i];
	return NULL;
}

static void offer_blob(struct bd_remote *rm, const char *sha, const char *path)
{
	pthread_mutex_lock(&rm->mu);
	for (int i = 0; i < rm->n_blobs; i++)
		if (!strcmp(rm->blobs[i].sha, sha)) {
			snprintf(rm->blobs[i].path, sizeof(rm->blobs[i].path), "%s", path);
			pthread_mutex_unlock(&rm->mu);
			return;
		}
	int i = rm->n_blobs < BLOBS ? rm->n_blobs++ : rm->next_blob;
	rm->next_blob = (i + 1) % BLOBS;
	snprintf(rm->blobs[i].sha, sizeof(rm->blobs[i].sha), "%s", sha);
	snprintf(rm->blobs[i].path, sizeof(rm->blobs[i].path), "%s", path);
	pthread_mutex_unlock(&rm->mu);
}

/* SHA-256 of the file at path (remembered by path, size and mtime). */
static bo_status hash_file(struct bd_remote *rm, const char *path, char sha[65], int64_t *size,
			   struct bo_error *err)
{
	struct stat st;
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return bo_error_set(err, BO_EIO, "cannot read a dataset file for a remote worker: %s",
			       strerror(errno));
	}
	int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	*size = st.st_size;
	pthread_mutex_lock(&rm->mu);
	for (int i = 0; i < rm->n_hashed; i++) {
		struct hashed *h = &rm->hashed[i];
		if (!strcmp(h->path, path) && h->size == st.st_size && h->mtime_ns == mt) {
			memcpy(sha, h->sha, 65);
			pthread_mutex_unlock(&rm->mu);
			close(fd);
			return BO_OK;
		}
	}
	pthread_mutex_unlock(&rm->mu);
	struct bd_sha256 h;
	bd_sha256_init(&h);
	ssize_t k;
	while ((k = read(fd, buf, sizeof(buf))) > 0)
		bd_sha256_update(&h, buf, (size_t)k);
	close(fd);
	if (k < 0)
		return bo_error_set(err, BO_EIO, "cannot read a dataset file for a remote worker: %s",
			       strerror(errno));
	bd_sha256_hex(&h, sha);
	pthread_mutex_lock(&rm->mu);
	int i = rm->n_hashed < HASHED ? rm->n_hashed++ : rm->next_hashed;
	rm->next_hashed = (i + 1) % HASHED;
	snprintf(rm->hashed[i].path, sizeof(rm->hashed[i].path), "%s", path);
	rm->hashed[i].size = st.st_size;
	rm->hashed[i].mtime_ns = mt;
	memcpy(rm->hashed[i].sha, sha, 65);
	pthread_mutex_unlock(&rm->mu);
	return BO_OK;
}

/* Add {name, role, sha256, size} for the file at path to files. */
static bo_status add_file(struct bd_daemon *d, json_t *files, const char *path, const char *role,
			  struct bo_error *err)
{
	char sha[65];
	int64_t size = 0;
	bo_status rc = hash_file(d->remote, path, sha, &size, err);
	if (rc)
		return rc;
	const char *base = strrchr(path, '/');
	json_t *f = json_object();
	json_object_set_new(f, "name", json_string(base ? base + 1 : path));
	json_object_set_new(f, "role", json_string(role));
	json_object_set_new(f, "sha256", json_string(sha));
	json_object_set_new(f, "size", json_integer(size));
	json_array_append_new(files, f);
	offer_blob(d->remote, sha, path);
	return BO_OK;
}

/* Where a stored dataset path lives on this machine (data dir or root). */
static bo_status locate(struct bd_daemon *d, const char *source, const char *p, char *out,
			size_t size, struct bo_error *err)
{
	char norm[2048];
	const char *rel = NULL;
	if (!strcmp(source, "upload")) {
		if (p[0] == '/')
			snprintf(out, size, "%s", p);
		else
			bd_data_path(d, p, out, size);
		return BO_OK;
	}
	int i = bd_root_of(&d->cfg, p, norm, sizeof(norm), &rel);
	if (i < 0)
		return bo_error_set(err, BO_EPERM,
			       "the dataset's path is no longer under an allowed root (--dataset-root)");
	snprintf(out, size, "%s/%s", d->cfg.roots[i], rel);
	return BO_OK;
}

/* ---- claim ---- */

struct job_row {
	int64_t job;
	int ref;              /* in: the reference's position, -1: none */
	char *spec;
	char model_sha[65], model_path[1024];
	int64_t model_size;
	char *mean, *std;
	struct bd_dataset_ref ds;
	int has_clean;
	/* the reference model (ref >= 0) */
	char ref_sha[65], ref_path[1024];
	int64_t ref_size;
	char *ref_mean, *ref_std;
};

static void copy_text(sqlite3_stmt *st, int i, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

static char *dup_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static bo_status job_row_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct job_row *j = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db,
			       "SELECT j.spec, m.sha256, m.path, m.size, m.mean, m.std, d.source,"
			       " d.format, d.path, d.labels_path, d.split, j.clean_accuracy IS NOT NULL"
			       " FROM jobs j JOIN models m ON m.id = j.model_id"
			       " JOIN datasets d ON d.id = j.dataset_id WHERE j.id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "loading a job");
	sqlite3_bind_int64(st, 1, j->job);
	if (sqlite3_step(st) == SQLITE_ROW) {
		j->spec = dup_text(st, 0);
		copy_text(st, 1, j->model_sha, sizeof(j->model_sha));
		copy_text(st, 2, j->model_path, sizeof(j->model_path));
		j->model_size = sqlite3_column_int64(st, 3);
		j->mean = dup_text(st, 4);
		j->std = dup_text(st, 5);
		copy_text(st, 6, j->ds.source, sizeof(j->ds.source));
		copy_text(st, 7, j->ds.format, sizeof(j->ds.format));
		copy_text(st, 8, j->ds.path, sizeof(j->ds.path));
		copy_text(st, 9, j->ds.labels, sizeof(j->ds.labels));
		copy_text(st, 10, j->ds.split, sizeof(j->ds.split));
		j->has_clean = sqlite3_column_int(st, 11);
		if (!j->spec)
			rc = bo_error_set(err, BO_ENOMEM, "out of memory");
	} else {
		rc = bo_error_set(err, BO_ENOENT, "job %lld is gone", (long long)j->job);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc || j->ref < 0)
		return rc;
	if (sqlite3_prepare_v2(db,
			       "SELECT m.sha256, m.path, m.size, m.mean, m.std FROM job_references r"
			       " JOIN models m ON m.id = r.model_id WHERE r.job_id = ? AND r.position = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading a reference");
	sqlite3_bind_int64(st, 1, j->job);
	sqlite3_bind_int(st, 2, j->ref);
	if (sqlite3_step(st) == SQLITE_ROW) {
		copy_text(st, 0, j->ref_sha, sizeof(j->ref_sha));
		copy_text(st, 1, j->ref_path, sizeof(j->ref_path));
		j->ref_size = sqlite3_column_int64(st, 2);
		j->ref_mean = dup_text(st, 3);
		j->ref_std = dup_text(st, 4);
	} else {
		rc = bo_error_set(err, BO_ENOENT, "reference %d of job %lld is gone", j->ref + 1,
			     (long long)j->job);
	}
	sqlite3_finalize(st);
	return rc;
}

static void job_row_release(struct job_row *j)
{
	free(j->spec);
	free(j->mean);
	free(j->std);
	free(j->ref_mean);
	free(j->ref_std);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The dataset's files as the worker gets them. */
static bo_status dataset_files(struct bd_daemon *d, const struct bd_dataset_ref *ds, json_t *files,
			       struct bo_error *err)
{
	char path[2100], lpath[2100];
	struct stat st;
	bo_status rc = locate(d, ds->source, ds->path, path, sizeof(path), err);
	if (rc)
		return rc;
	if (stat(path, &st))
		return bo_error_set(err, BO_EIO, "the dataset's files are gone: %s", strerror(errno));
	if (S_ISREG(st.st_mode)) {
		if ((rc = add_file(d, files, path, "images", err)))
			return rc;
		if (!ds->labels[0])
			return BO_OK;
		if ((rc = locate(d, ds->source, ds->labels, lpath, sizeof(lpath), err)))
			return rc;
		return add_file(d, files, lpath, "labels", err);
	}
	/* a directory: its top-level regular files, in name order */
	DIR *dir = opendir(path);
	char *names[DIR_FILES];
	int n = 0;
	struct dirent *e;
	if (!dir)
		return bo_error_set(err, BO_EIO, "cannot list the dataset directory: %s", strerror(errno));
	while ((e = readdir(dir)) && !rc) {
		char p[2400];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		if (stat(p, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			rc = bo_error_set(err, BO_EUNSUPPORTED,
				     "remote workers take datasets as files; this dataset directory"
				     " has subdirectories");
		else if (!S_ISREG(st.st_mode))
			continue;
		else if (n == DIR_FILES)
			rc = bo_error_set(err, BO_ELIMIT, "a dataset directory of more than %d files",
				     DIR_FILES);
		else if (!(names[n++] = strdup(e->d_name)))
			rc = bo_error_set(err, BO_ENOMEM, "out of memory");
	}
	closedir(dir);
	qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
	for (int i = 0; i < n; i++) {
		char p[2400];
		snprintf(p, sizeof(p), "%s/%s", path, names[i]);
		if (!rc)
			rc = add_file(d, files, p, "file", err);
		free(names[i]);
	}
	return rc;
}

static json_t *json_or_null(const char *text)
{
	json_error_t je;
	json_t *j = text ? json_loads(text, 0, &je) : NULL;
	return j ? j : json_null();
}

/* Give a claimed task back (the claim could not be served). */
static void give_back(struct bd_daemon *d, const struct bd_task *t)
{
	struct bd_commit *c = calloc(1, sizeof(*c));
	struct bo_error err;
	if (!c)
		return;
	c->t = *t;
	c->now_ms = bd_queue_now_ms();
	c->requeue = 1;
	(void)bd_queue_commit(d->store, c, &err);
	free(c);
}

static json_t *body_json(struct bd_req *r, struct bo_error *err)
{
	size_t len = 0;
	const char *body = bd_req_body(r, &len);
	json_error_t je;
	json_t *j = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : json_object();
	if (!j || !json_is_object(j)) {
		json_decref(j);
		bo_error_set(err, BO_EMALFORMED, "the body must be a JSON object");
	}
	return json_is_object(j) ? j : NULL;
}

static int claim(struct bd_daemon *d, struct bd_req *r)
{
	struct bd_remote *rm = d->remote;
	struct bo_error err;
	struct job_row jr = { 0 };
	json_t *files = NULL, *out = NULL;
	bo_error_clear(&err);
	json_t *b = body_json(r, &err);
	if (!b)
		return bd_reply_error(r, &err);
	const char *nj = json_string_value(json_object_get(b, "name"));
	const char *hj = json_string_value(json_object_get(b, "host"));
	char name[BO_QUEUE_HOLDER], host[BO_QUEUE_HOLDER] = "";
	if (!name_ok(nj) || (hj && !name_ok(hj))) {
		json_decref(b);
		return bd_reply_fail(r, BO_EINVAL, "name",
				     "a worker's name and host are 1 to 63 of A-Z a-z 0-9 _ . : -");
	}
	snprintf(name, sizeof(name), "%s", nj);
	if (hj)
		snprintf(host, sizeof(host), "%s", hj);
	json_decref(b);
	struct bd_claim c = { .holder = name, .now_ms = bd_queue_now_ms(),
			      .lease_ms = (int64_t)d->cfg.lease_seconds * 1000 };
	pthread_mutex_lock(&rm->mu);
	c.last_owner = rm->last_owner;
	struct seen *s = seen_of(rm, name);
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->last_ms = c.now_ms;
	s->task = s->job = s->lease = 0;
	pthread_mutex_unlock(&rm->mu);
	if (bd_queue_claim(d->store, &c, &err))
		return bd_reply_error(r, &err);
	if (!c.found)
		return bd_reply_json(r, 204, NULL);
	jr.job = c.t.job;
	jr.ref = c.t.reference ? c.t.point : -1;
	bo_status rc = bd_store_read(d->store, job_row_fn, &jr, &err);
	char mpath[2100];
	files = json_array();
	if (!rc) {
		bd_data_path(d, jr.model_path, mpath, sizeof(mpath));
		offer_blob(rm, jr.model_sha, mpath);
		if (c.t.reference) {
			bd_data_path(d, jr.ref_path, mpath, sizeof(mpath));
			offer_blob(rm, jr.ref_sha, mpath);
		}
		rc = dataset_files(d, &jr.ds, files, &err);
	}
	if (rc) {
		give_back(d, &c.t);
		json_decref(files);
		job_row_release(&jr);
		return bd_reply_error(r, &err);
	}
	bd_live_add(&d->live, c.t.job, 0, 0); /* its rate counts from its first claim */
	pthread_mutex_lock(&rm->mu);
	rm->last_owner = c.t.owner;
	s = seen_of(rm, name);
	s->task = c.t.id;
	s->job = c.t.job;
	s->lease = c.t.lease;
	pthread_mutex_unlock(&rm->mu);
	out = json_object();
	json_t *task = json_object(), *model = json_object(), *ds = json_object();
	json_object_set_new(out, "lease", json_integer(c.t.lease));
	json_object_set_new(out, "deadline_ms", json_integer(c.t.deadline_ms));
	json_object_set_new(out, "lease_seconds", json_integer(d->cfg.lease_seconds));
	json_object_set_new(task, "id", json_integer(c.t.id));
	json_object_set_new(task, "job", json_integer(c.t.job));
	json_object_set_new(task, "kind", json_string(c.t.reference ? "reference" : "trials"));
	json_object_set_new(task, "point", json_integer(c.t.point));
	json_object_set_new(task, "trial_lo", json_integer(c.t.lo));
	json_object_set_new(task, "trial_hi", json_integer(c.t.hi));
	json_object_set_new(task, "max_commit", json_integer(BO_QUEUE_SLICE_MAX));
	/* images per trial: 0, the job's; images_per_trial = auto: a pilot
	 * runs at min(N, 256) and reports its costs, a trial task at this n */
	json_object_set_new(task, "images", json_integer(c.t.images));
	json_object_set_new(task, "pilot", json_boolean(c.t.pilot));
	json_object_set_new(out, "task", task);
	json_object_set_new(out, "spec", json_or_null(jr.spec));
	json_object_set_new(model, "sha256", json_string(jr.model_sha));
	json_object_set_new(model, "size", json_integer(jr.model_size));
	json_object_set_new(model, "mean", json_or_null(jr.mean));
	json_object_set_new(model, "std", json_or_null(jr.std));
	json_object_set_new(out, "model", model);
	if (c.t.reference) { /* task.point is its position in the spec's references */
		json_t *ref = json_object();
		json_object_set_new(ref, "sha256", json_string(jr.ref_sha));
		json_object_set_new(ref, "size", json_integer(jr.ref_size));
		json_object_set_new(ref, "mean", json_or_null(jr.ref_mean));
		json_object_set_new(ref, "std", json_or_null(jr.ref_std));
		json_object_set_new(out, "reference", ref);
	}
	json_object_set_new(ds, "format", json_string(jr.ds.format));
	json_object_set_new(ds, "split", json_string(jr.ds.split));
	json_object_set_new(ds, "files", files);
	json_object_set_new(out, "dataset", ds);
	json_object_set_new(out, "clean_needed", json_boolean(!jr.has_clean));
	job_row_release(&jr);
	return bd_reply_json(r, 200, out);
}

/* ---- heartbeat and results ---- */

static int heartbeat(struct bd_daemon *d, struct bd_req *r, int64_t lease)
{
	struct bo_error err;
	struct bd_task t;
	bo_error_clear(&err);
	json_t *b = body_json(r, &err);
	if (!b)
		return bd_reply_error(r, &err);
	int64_t now = bd_queue_now_ms();
	bo_status rc = bd_queue_renew(d->store, lease, now, (int64_t)d->cfg.lease_seconds * 1000,
				      &t, &err);
	json_decref(b);
	if (rc)
		return bd_reply_error(r, &err);
	pthread_mutex_lock(&d->remote->mu);
	struct seen *s = seen_by_lease(d->remote, lease);
	if (s) /* images count when committed (results), not here */
		s->last_ms = now;
	pthread_mutex_unlock(&d->remote->mu);
	json_t *out = json_object();
	json_object_set_new(out, "deadline_ms", json_integer(t.deadline_ms));
	json_object_set_new(out, "lease_seconds", json_integer(d->cfg.lease_seconds));
	return bd_reply_json(r, 200, out);
}

static int count_ok(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 &&
	       json_integer_value(v) <= (int64_t)1 << 40;
}

/* {"accuracy", "parameters", "activations", "images", "point_info"} */
static bo_status record_clean(struct bd_daemon *d, int64_t job, json_t *cl, struct bo_error *err)
{
	json_t *acc = json_object_get(cl, "accuracy"), *pi = json_object_get(cl, "point_info");
	if (!json_is_number(acc) || json_number_value(acc) < 0 || json_number_value(acc) > 1 ||
	    !count_ok(json_object_get(cl, "parameters")) ||
	    !count_ok(json_object_get(cl, "activations")) ||
	    !count_ok(json_object_get(cl, "images")) || !json_is_object(pi) ||
	    !json_is_array(json_object_get(pi, "points")))
		return bo_error_set(err, BO_EINVAL,
			       "clean: accuracy in [0, 1], parameters, activations and images"
			       " counts, point_info {points, mean, std}");
	char *pt = json_dumps(pi, JSON_COMPACT);
	struct bd_clean_rec c = { job, json_number_value(acc),
				  json_integer_value(json_object_get(cl, "parameters")),
				  json_integer_value(json_object_get(cl, "activations")),
				  json_integer_value(json_object_get(cl, "images")), pt };
	if (!pt)
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	/* as the local pool records its own (jobctx.c) */
	bo_status rc = bd_job_record_clean(d->store, &c, err);
	free(pt);
	return rc;
}

/* The job's images per trial, as its clean pass recorded them (0: not yet). */
struct job_images {
	int64_t job, images;
};

static bo_status job_images_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct job_images *j = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db, "SELECT images_per_trial FROM jobs WHERE id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading a job");
	sqlite3_bind_int64(st, 1, j->job);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW)
		j->images = sqlite3_column_int64(st, 0);
	else if (s == SQLITE_DONE)
		rc = bo_error_set(err, BO_ENOENT, "job %lld is gone", (long long)j->job);
	else
		rc = bd_store_fail(db, err, "reading a job");
	sqlite3_finalize(st);
	return rc;
}

/* Results count `images` images per trial (or reference): exactly the
 * job's, which its clean pass recorded (sent first, or with these); a
 * task's own n (auto's trials), or min(N, 256) for a pilot. */
static bo_status check_images(struct bd_daemon *d, const struct bd_task *t, int64_t images,
			      const char *field, struct bo_error *err)
{
	struct job_images ji = { t->job, 0 };
	bo_status rc = bd_store_read(d->store, job_images_fn, &ji, err);
	if (rc)
		return rc;
	if (ji.images <= 0)
		return bo_error_set(err, BO_EINVAL, "results: the job's clean pass is not recorded yet:"
			       " send \"clean\" with the first results");
	if (!t->reference && t->pilot && ji.images > BO_PILOT_IMAGES)
		ji.images = BO_PILOT_IMAGES;
	else if (!t->reference && !t->pilot && t->images > 0)
		ji.images = t->images;
	if (images != ji.images)
		return bo_error_set(err, BO_EINVAL, "results: %s %lld, but the job evaluates %lld images",
			       field, (long long)images, (long long)ji.images);
	return BO_OK;
}

/* A reference task's results: {ref_correct, ref_images, ref_parameters,
 * ref_activations}, counts with 0 <= correct <= images, images the job's. */
static bo_status reference_results(struct bd_daemon *d, const struct bd_task *t, json_t *b,
				   struct bd_commit *c, struct bo_error *err)
{
	json_t *co = json_object_get(b, "ref_correct"), *im = json_object_get(b, "ref_images");
	json_t *pa = json_object_get(b, "ref_parameters"), *ac = json_object_get(b, "ref_activations");
	json_t *cl = json_object_get(b, "clean");
	bo_status rc;
	if (!count_ok(co) || !count_ok(im) || !count_ok(pa) || !count_ok(ac) ||
	    json_integer_value(im) < 1 || json_integer_value(co) > json_integer_value(im))
		return bo_error_set(err, BO_EINVAL,
			       "results of a reference: ref_correct, ref_images, ref_parameters and"
			       " ref_activations counts, 0 <= ref_correct <= ref_images, ref_images >= 1");
	if (json_is_object(cl) && (rc = record_clean(d, t->job, cl, err)))
		return rc;
	if ((rc = check_images(d, t, json_integer_value(im), "ref_images", err)))
		return rc;
	c->ref_correct = json_integer_value(co);
	c->ref_images = json_integer_value(im);
	c->ref_parameters = json_integer_value(pa);
	c->ref_activations = json_integer_value(ac);
	return BO_OK;
}

static int results(struct bd_daemon *d, struct bd_req *r, int64_t lease)
{
	struct bo_error err;
	struct bd_commit *c = NULL;
	struct bd_task t;
	bo_status rc;
	bo_error_clear(&err);
	json_t *b = body_json(r, &err);
	if (!b)
		return bd_reply_error(r, &err);
	int64_t now = bd_queue_now_ms();
	/* the task this lease holds (its deadline untouched) */
	if ((rc = bd_queue_renew(d->store, lease, now, 0, &t, &err)))
		goto out;
	json_t *lo = json_object_get(b, "trial_lo"), *corr = json_object_get(b, "correct");
	json_t *im = json_object_get(b, "images"), *failure = json_object_get(b, "failure");
	json_t *cl = json_object_get(b, "clean");
	if (!(c = calloc(1, sizeof(*c)))) {
		rc = bo_error_set(&err, BO_ENOMEM, "out of memory");
		goto out;
	}
	c->t = t;
	/* an adaptive round: a trial a point for each worker at work (the
	 * local pool's and the remote ones seen within two leases) */
	c->workers = d->cfg.workers;
	pthread_mutex_lock(&d->remote->mu);
	for (int i = 0; i < d->remote->n_seen; i++)
		c->workers += now - d->remote->seen[i].last_ms <= 2000LL * d->cfg.lease_seconds;
	pthread_mutex_unlock(&d->remote->mu);
	c->max_tasks = d->cfg.job_max_tasks;
	if (json_is_string(failure)) {
		snprintf(c->failure, sizeof(c->failure), "remote worker: %s",
			 json_string_value(failure));
	} else if (t.reference && json_object_get(b, "ref_correct")) {
		if ((rc = reference_results(d, &t, b, c, &err)))
			goto out;
	} else {
		/* a reference task without ref_* gives it back (correct []) */
		size_t n = json_array_size(corr);
		if (!json_is_integer(lo) || json_integer_value(lo) != t.lo || !json_is_array(corr) ||
		    n > (size_t)(t.hi - t.lo) || n > BO_QUEUE_SLICE_MAX || !count_ok(im)) {
			rc = bo_error_set(&err, BO_EINVAL,
				     "results: trial_lo %d, correct: at most %d counts, images",
				     t.lo, t.hi - t.lo < BO_QUEUE_SLICE_MAX ? t.hi - t.lo :
									   BO_QUEUE_SLICE_MAX);
			goto out;
		}
		c->images = json_integer_value(im);
		for (size_t k = 0; k < n; k++) {
			json_t *v = json_array_get(corr, k);
			if (!count_ok(v) || json_integer_value(v) > c->images) {
				rc = bo_error_set(&err, BO_EINVAL, "results: correct[%zu] is not a count"
					     " of at most images", k);
				goto out;
			}
			c->correct[k] = json_integer_value(v);
		}
		c->n = (int)n;
		c->requeue = n == 0;
		/* a pilot's trials carry their costs: [[seconds fixed, seconds of
		 * images], ...], one pair a trial */
		json_t *cost = json_object_get(b, "cost");
		if (t.pilot && n > 0 && (!json_is_array(cost) || json_array_size(cost) != n)) {
			rc = bo_error_set(&err, BO_EINVAL, "results of a pilot: cost, one [seconds per"
				     " trial, seconds of its images] pair a trial");
			goto out;
		}
		for (size_t k = 0; t.pilot && k < n; k++) {
			json_t *pr = json_array_get(cost, k);
			for (int i = 0; i < 2; i++) {
				json_t *v = json_array_get(pr, (size_t)i);
				double x = json_is_number(v) ? json_number_value(v) : -1;
				if (json_array_size(pr) != 2 || !(x >= 0 && x < 1e9)) {
					rc = bo_error_set(&err, BO_EINVAL, "results: cost[%zu] is not two"
						     " numbers of seconds", k);
					goto out;
				}
				c->cost[k][i] = x;
			}
		}
		if (json_is_object(cl) && (rc = record_clean(d, t.job, cl, &err)))
			goto out;
		if (n > 0 && (rc = check_images(d, &t, c->images, "images", &err)))
			goto out;
	}
	c->now_ms = bd_queue_now_ms();
	if ((rc = bd_queue_commit(d->store, c, &err)))
		goto out;
	if (c->failure[0])
		fprintf(stderr, "brownoutd: job %lld failed: %s\n", (long long)t.job, c->failure);
	pthread_mutex_lock(&d->remote->mu);
	struct seen *s = seen_by_lease(d->remote, lease);
	if (s) {
		s->last_ms = c->now_ms;
		s->task = s->job = s->lease = 0;
		s->images += c->images * c->recorded;
		s->tasks += c->recorded > 0;
	}
	pthread_mutex_unlock(&d->remote->mu);
	atomic_fetch_add(&d->images_total, c->images * c->recorded);
	bd_live_add(&d->live, t.job, 0, c->images * c->recorded);
	if (c->queued_more)
		d->exec.ops->wake(d->exec.impl);
	if (c->job_ended)
		bd_live_drop(&d->live, t.job);
	json_t *o = json_object();
	json_object_set_new(o, "taken", json_integer(c->recorded));
	json_object_set_new(o, "job_ended", json_boolean(c->job_ended));
	free(c);
	json_decref(b);
	return bd_reply_json(r, 200, o);
out:
	free(c);
	json_decref(b);
	return bd_reply_error(r, &err);
}

/* ---- blobs ---- */

static int blob(struct bd_daemon *d, struct bd_req *r, const char *sha)
{
	char path[2200] = "";
	struct bd_remote *rm = d->remote;
	int ok = strlen(sha) == 64;
	for (int i = 0; ok && i < 64; i++)
		ok = (sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f');
	if (!ok)
		return bd_reply_fail(r, BO_EINVAL, "sha256", "a blob is named by 64 lowercase hex"
				     " digits");
	pthread_mutex_lock(&rm->mu);
	for (int i = 0; i < rm->n_blobs; i++)
		if (!strcmp(rm->blobs[i].sha, sha))
			snprintf(path, sizeof(path), "%s", rm->blobs[i].path);
	pthread_mutex_unlock(&rm->mu);
	if (!path[0])
		return bd_reply_fail(r, BO_ENOENT, NULL,
				     "no blob %s: only files a claim named are served", sha);
	return bd_reply_file(r, path);
}

/* ---- the list ---- */

static void rfc3339_ms(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int list(struct bd_daemon *d, struct bd_req *r)
{
	struct bd_remote *rm = d->remote;
	json_t *items = json_array();
	int64_t now = bd_queue_now_ms();
	pthread_mutex_lock(&rm->mu);
	for (int i = 0; i < rm->n_seen; i++) {
		struct seen *s = &rm->seen[i];
		/* offline: not heard from within two leases (as the adaptive
		 * rounds count the workers at work, results() above) */
		const char *state = now - s->last_ms > 2000LL * d->cfg.lease_seconds ? "offline" :
				    s->task ? "busy" : "idle";
		json_t *w = json_object();
		char at[32];
		rfc3339_ms(s->last_ms, at, sizeof(at));
		double secs = (double)(s->last_ms - s->first_ms) / 1000.0;
		json_object_set_new(w, "name", json_string(s->name));
		json_object_set_new(w, "host", json_string(s->host));
		json_object_set_new(w, "state", json_string(state));
		json_object_set_new(w, "task", s->task ? json_integer(s->task) : json_null());
		json_object_set_new(w, "job", s->job ? json_integer(s->job) : json_null());
		json_object_set_new(w, "last_heartbeat", json_string(at));
		json_object_set_new(w, "images", json_integer(s->images));
		json_object_set_new(w, "tasks_done", json_integer(s->tasks));
		json_object_set_new(w, "images_per_second",
				    json_real(secs > 0 ? (double)s->images / secs : 0.0));
		json_array_append_new(items, w);
	}
	pthread_mutex_unlock(&rm->mu);
	json_t *o = json_object();
	json_object_set_new(o, "items", items);
	if (d->slurm)
		json_object_set_new(o, "slurm", bd_slurm_status(d->slurm));
	return bd_reply_json(r, 200, o);
}

/* ---- routes (api.c's table; route.c keeps worker tokens to these) ---- */

int bd_remote_workers(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return list(d, r);
}

int bd_remote_claim(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	(void)a;
	return claim(d, r);
}

int bd_remote_blob(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return blob(d, r, a->key);
}

int bd_remote_heartbeat(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return heartbeat(d, r, a->id);
}

int bd_remote_results(struct bd_daemon *d, struct bd_req *r, const struct bd_route_args *a)
{
	return results(d, r, a->id);
}
