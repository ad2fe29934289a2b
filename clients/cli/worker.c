/* brownout worker: run brownoutd's tasks on this machine.
 *
 *   brownout worker --server URL --token TOKEN [--threads N] [--max-idle S]
 *                   [--cache DIR] [--name NAME]
 *
 * Design. The worker is a loop over the daemon's remote-worker API
 * (daemon/remote.c): claim a task (a lease), make sure the model and the
 * dataset's files are in the cache (fetched by SHA-256 from
 * /worker/blobs/{sha256}, written to a temporary file, checked against the
 * hash and size the claim named, then renamed into place: a cached file is
 * always whole and right), build the sweeper from the job's stored spec
 * with the daemon's own code (daemon/jobctx.c, linked in, as the local
 * pool builds it), run the task's trials, and send the per-trial counts.
 * A reference task names a reference model the same way: the worker
 * fetches it and measures it on the job's images (bd_jobctx_reference,
 * the library's bo_reference_eval) and sends its correct and evaluated
 * images, parameters and activations. While a task runs a second thread
 * heartbeats every third of the lease; a heartbeat the daemon refuses (the
 * lease expired: the network or this process stalled) stops the trial in
 * flight at its next batch, and its results are not sent. Results the
 * daemon refuses (409: the lease was lost meanwhile) are dropped: whoever
 * holds the task now runs those trials, so none counts twice. Trials are
 * deterministic in (seed, p, trial), so which worker runs them does not
 * change a number.
 *
 * A claim's task may cover many trials; the worker commits a slice at a
 * time (at most the claim's max_commit trials, or about SLICE_SECONDS of
 * work); the daemon queues the rest of the range as a new task, which this
 * or another worker claims next. The worker keeps the sweeper of the job it
 * ran last, so consecutive tasks of a job pay its clean pass once.
 *
 * With no task to claim the worker polls every POLL_SECONDS; with
 * --max-idle S it exits (status 0) after S seconds without work. SIGTERM or
 * SIGINT stop it between batches: the task in flight is given back (its
 * trials so far are committed). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "auth.h"
#include "brownoutd.h"
#include "jobs.h"
#include "jobctx.h"
#include "cli.h"

#define POLL_SECONDS 0.5
#define SLICE_SECONDS 2.0
#define SLICE_MAX 256
#define BLOB_MAX ((int64_t)1 << 36) /* 64 GiB: a file a claim may name */

static atomic_int g_stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_stop, 1);
}

struct opts {
	char server[1024];
	char token[128];
	char cache[1024];
	char name[64], host[64];
	int threads;
	double max_idle;
	int test_drop_heartbeats; /* tests: the first N tasks get no heartbeats */
};

/* ---- HTTP ---- */

struct buf {
	char *p;
	size_t n, cap;
};

static size_t to_buf(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct buf *b = ctx;
	size_t k = size * nmemb;
	if (b->n + k + 1 > 16 << 20) /* JSON answers: 16 MiB at most */
		return 0;
	if (b->n + k + 1 > b->cap) {
		size_t cap = (b->n + k + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, data, k);
	b->n += k;
	b->p[b->n] = 0;
	return k;
}

/* method url [JSON body]: the HTTP status (0: no answer) and the JSON
 * answer in *out (NULL for none). */
static long call(CURL *h, const struct opts *o, const char *method, const char *path,
		 json_t *body, json_t **out)
{
	char url[2048], auth[200];
	struct buf b = { 0 };
	struct curl_slist *hdr = NULL;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	long status = 0;
	if (out)
		*out = NULL;
	snprintf(url, sizeof(url), "%s/api/v1%s", o->server, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
	hdr = curl_slist_append(hdr, auth);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_buf);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (text)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
	else if (!strcmp(method, "POST"))
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (out && b.n) {
		json_error_t je;
		*out = json_loadb(b.p, b.n, 0, &je);
	}
	curl_slist_free_all(hdr);
	free(b.p);
	free(text);
	return status;
}

/* The daemon's error message of an answer, for logs. */
static const char *err_text(json_t *a)
{
	const char *m = json_string_value(json_object_get(json_object_get(a, "error"), "message"));
	return m ? m : "(no message)";
}

/* ---- the blob cache ---- */

static int sha_ok(const char *s)
{
	if (!s || strlen(s) != 64)
		return 0;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* cache/SHA256, fetched and checked when absent. */
static bo_status blob_path(CURL *h, const struct opts *o, const char *sha, int64_t size,
			   char *out, size_t out_size, struct bo_error *err)
{
	char tmp[2200], url[2048], auth[200], got[65];
	struct stat st;
	if (!sha_ok(sha) || size < 0 || size > BLOB_MAX)
		return bo_error_set(err, BO_EMALFORMED, "the claim names a blob badly");
	snprintf(out, out_size, "%s/%s", o->cache, sha);
	if (!stat(out, &st) && st.st_size == size)
		return BO_OK;
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-XXXXXX", o->cache, sha);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return bo_error_set(err, BO_EIO, "cannot write to the cache %s: %s", o->cache,
			       strerror(errno));
	FILE *f = fdopen(fd, "w+b");
	struct curl_slist *hdr = NULL;
	long status = 0;
	bo_status rc = BO_OK;
	snprintf(url, sizeof(url), "%s/api/v1/worker/blobs/%s", o->server, sha);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
	hdr = curl_slist_append(hdr, auth);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)size);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
	if (!f || curl_easy_perform(h) != CURLE_OK)
		rc = bo_error_set(err, BO_EIO, "fetching blob %.12s failed", sha);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	if (!rc && status != 200)
		rc = bo_error_set(err, BO_EIO, "fetching blob %.12s: HTTP %ld", sha, status);
	/* the hash and size the claim named, or it is not kept */
	if (!rc && (fflush(f) || fseek(f, 0, SEEK_SET)))
		rc = bo_error_set(err, BO_EIO, "cache: %s", strerror(errno));
	if (!rc) {
		struct bd_sha256 hs;
		char b[65536];
		size_t k;
		int64_t n = 0;
		bd_sha256_init(&hs);
		while ((k = fread(b, 1, sizeof(b), f)) > 0) {
			bd_sha256_update(&hs, b, k);
			n += (int64_t)k;
		}
		bd_sha256_hex(&hs, got);
		/* the transfer, not the job: BO_EIO gives the task back */
		if (n != size || strcmp(got, sha))
			rc = bo_error_set(err, BO_EIO,
				     "blob %.12s: got %lld bytes hashing to %.12s, not %lld bytes"
				     " hashing to %.12s",
				     sha, (long long)n, got, (long long)size, sha);
	}
	if (!rc && (fsync(fileno(f)) || rename(tmp, out)))
		rc = bo_error_set(err, BO_EIO, "cache: %s", strerror(errno));
	if (f)
		fclose(f);
	else
		close(fd);
	if (rc)
		unlink(tmp);
	return rc;
}

/* ---- a job's sweeper ---- */

/* What the worker keeps of the job it ran last: the daemon's own piece
 * (daemon/jobctx.c), plus the clean pass as the daemon records it. */
struct job_ctx {
	struct bd_jobctx jc;
	json_t *clean;
};

static void job_ctx_release(struct job_ctx *c)
{
	bd_jobctx_release(&c->jc);
	json_decref(c->clean);
	c->clean = NULL;
}

static int stop_cb(void *ctx, const struct bo_progress *pr)
{
	(void)ctx;
	(void)pr;
	return atomic_load(&g_stop);
}

/* The dataset of a claim from cached blobs: an images (+ labels) file, or
 * a directory of files (hard links into the cache, so the library's
 * RESOLVE_BENEATH opens stay inside it). */
static bo_status open_dataset(CURL *h, const struct opts *o, json_t *dsj, struct bo_dataset **out,
			      struct bo_error *err)
{
	json_t *files = json_object_get(dsj, "files");
	const char *format = json_string_value(json_object_get(dsj, "format"));
	const char *split = json_string_value(json_object_get(dsj, "split"));
	char images[2200] = "", labels[2200] = "", dir[2200] = "", p[2200];
	struct bo_dataset_limits lim;
	struct bd_config cfg;
	struct bd_sha256 key;
	char keyhex[65];
	bo_status rc = BO_OK;
	if (!json_is_array(files) || !json_array_size(files) || !format || !split)
		return bo_error_set(err, BO_EMALFORMED, "the claim's dataset has no files");
	bd_sha256_init(&key);
	for (size_t i = 0; i < json_array_size(files) && !rc; i++) {
		json_t *f = json_array_get(files, i);
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		const char *role = json_string_value(json_object_get(f, "role"));
		const char *name = json_string_value(json_object_get(f, "name"));
		if (!role || !name || !name[0] || strchr(name, '/') || name[0] == '.')
			return bo_error_set(err, BO_EMALFORMED, "the claim names a dataset file badly");
		if ((rc = blob_path(h, o, sha, json_integer_value(json_object_get(f, "size")), p,
				    sizeof(p), err)))
			return rc;
		bd_sha256_update(&key, sha, 64);
		bd_sha256_update(&key, name, strlen(name) + 1);
		if (!strcmp(role, "images"))
			snprintf(images, sizeof(images), "%s", p);
		else if (!strcmp(role, "labels"))
			snprintf(labels, sizeof(labels), "%s", p);
	}
	if (!images[0]) {
		/* a directory dataset: its files under their names */
		bd_sha256_hex(&key, keyhex);
		snprintf(dir, sizeof(dir), "%s/ds-%s", o->cache, keyhex);
		if (mkdir(dir, 0755) && errno != EEXIST)
			return bo_error_set(err, BO_EIO, "cache: %s: %s", dir, strerror(errno));
		for (size_t i = 0; i < json_array_size(files); i++) {
			json_t *f = json_array_get(files, i);
			char link_to[2400];
			snprintf(p, sizeof(p), "%s/%s", o->cache,
				 json_string_value(json_object_get(f, "sha256")));
			snprintf(link_to, sizeof(link_to), "%s/%s", dir,
				 json_string_value(json_object_get(f, "name")));
			if (link(p, link_to) && errno != EEXIST)
				return bo_error_set(err, BO_EIO, "cache: %s: %s", link_to, strerror(errno));
		}
	}
	bd_config_defaults(&cfg);
	bd_dataset_limits_of(&cfg, &lim);
	enum bo_dataset_format f;
	enum bo_split sp;
	if (bo_dataset_format_parse(format, &f, err) || bo_split_parse(split, &sp, err))
		return err->status; /* the claim carries the store's words only */
	return bo_dataset_open_at(AT_FDCWD, images[0] ? images : dir, labels[0] ? labels : NULL, f,
				  sp, &lim, out, err);
}

/* Make c the sweeper of the claim's job. */
static bo_status ensure_job(CURL *h, const struct opts *o, json_t *claim, struct job_ctx *c,
			    struct bo_error *err)
{
	json_t *task = json_object_get(claim, "task"), *model = json_object_get(claim, "model");
	int64_t job = json_integer_value(json_object_get(task, "job"));
	char path[2200];
	bo_status rc;
	if (bd_jobctx_ready(&c->jc, job) && c->clean)
		return BO_OK;
	job_ctx_release(c);
	if ((rc = blob_path(h, o, json_string_value(json_object_get(model, "sha256")),
			    json_integer_value(json_object_get(model, "size")), path, sizeof(path),
			    err)) ||
	    (rc = bd_jobctx_begin(&c->jc, job, json_object_get(claim, "spec"), path, err)) ||
	    (rc = open_dataset(h, o, json_object_get(claim, "dataset"), &c->jc.ds, err)) ||
	    (rc = bd_jobctx_finish(&c->jc, json_object_get(model, "mean"),
				   json_object_get(model, "std"), o->threads, stop_cb, NULL, err)))
		goto out;
	/* the clean pass, as pool.c records it */
	if (!(c->clean = bd_jobctx_clean_json(&c->jc)))
		rc = bo_error_set(err, BO_ENOMEM, "out of memory");
out:
	if (rc)
		job_ctx_release(c);
	return rc;
}

/* A reference task: the claim's reference model on the job's images. */
static bo_status run_reference(CURL *h, const struct opts *o, json_t *claim, struct job_ctx *c,
			       struct bo_reference_result *rr, struct bo_error *err)
{
	json_t *ref = json_object_get(claim, "reference");
	char path[2200];
	bo_status rc;
	if (!json_is_object(ref))
		return bo_error_set(err, BO_EMALFORMED, "the claim of a reference task names no reference");
	if ((rc = blob_path(h, o, json_string_value(json_object_get(ref, "sha256")),
			    json_integer_value(json_object_get(ref, "size")), path, sizeof(path),
			    err)))
		return rc;
	return bd_jobctx_reference(&c->jc, path, json_object_get(ref, "mean"),
				   json_object_get(ref, "std"), rr, err);
}

/* ---- heartbeats ---- */

struct beat {
	const struct opts *o;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int64_t lease;
	double every;         /* seconds */
	atomic_int lost;      /* the daemon refused a heartbeat */
	atomic_llong images;  /* evaluated since the last heartbeat */
	pthread_t thread;
};

static void *beat_main(void *arg)
{
	struct beat *b = arg;
	CURL *h = curl_easy_init();
	char path[128];
	snprintf(path, sizeof(path), "/worker/leases/%lld/heartbeat", (long long)b->lease);
	pthread_mutex_lock(&b->mu);
	while (!b->done && h) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		long long ns = (long long)ts.tv_nsec + (long long)(b->every * 1e9);
		ts.tv_sec += (time_t)(ns / 1000000000LL);
		ts.tv_nsec = (long)(ns % 1000000000LL);
		if (pthread_cond_timedwait(&b->cv, &b->mu, &ts) != ETIMEDOUT || b->done)
			continue;
		pthread_mutex_unlock(&b->mu);
		json_t *body = json_object(), *a = NULL;
		json_object_set_new(body, "images", json_integer(atomic_exchange(&b->images, 0)));
		long st = call(h, b->o, "POST", path, body, &a);
		json_decref(body);
		if (st == 409 || st == 404) {
			fprintf(stderr, "brownout worker: lease %lld lost: %s\n", (long long)b->lease,
				err_text(a));
			atomic_store(&b->lost, 1);
		}
		json_decref(a);
		pthread_mutex_lock(&b->mu);
		if (atomic_load(&b->lost))
			break;
	}
	pthread_mutex_unlock(&b->mu);
	curl_easy_cleanup(h);
	return NULL;
}

struct trial_ctx {
	struct beat *b;
	int64_t reported;
};

static int trial_cb(void *ctx, const struct bo_progress *pr)
{
	struct trial_ctx *t = ctx;
	if (t->b) {
		atomic_fetch_add(&t->b->images, pr->images_done - t->reported);
		t->reported = pr->images_done;
	}
	return atomic_load(&g_stop) || (t->b && atomic_load(&t->b->lost));
}

/* ---- one task ---- */

/* Where a worker's time went, printed when it stops (bench/workers.py reads
 * it): the protocol's cost per task beside the trials'. */
struct wstats {
	long tasks, trials;
	double claim_s, results_s, setup_s, compute_s;
};

/* Returns 1 when this machine failed the task (it was given back): the
 * caller waits a while before it claims again. */
static int run_task(CURL *h, const struct opts *o, json_t *claim, struct job_ctx *c,
		    int heartbeats, struct wstats *ws)
{
	json_t *task = json_object_get(claim, "task");
	int64_t lease = json_integer_value(json_object_get(claim, "lease"));
	int lo = (int)json_integer_value(json_object_get(task, "trial_lo"));
	int hi = (int)json_integer_value(json_object_get(task, "trial_hi"));
	int point = (int)json_integer_value(json_object_get(task, "point"));
	int max_commit = (int)json_integer_value(json_object_get(task, "max_commit"));
	int lease_s = (int)json_integer_value(json_object_get(claim, "lease_seconds"));
	struct beat b = { .o = o, .lease = lease, .every = lease_s > 0 ? lease_s / 3.0 : 1.0 };
	struct bo_error err;
	char path[128];
	json_t *corr = json_array(), *costs = json_array(), *body = json_object(), *a = NULL;
	/* images per trial: the task's (auto's trials), a pilot's min(N, 256),
	 * else the job's (0 until the job is built) */
	int pilot = json_is_true(json_object_get(task, "pilot"));
	json_t *tim = json_object_get(task, "images");
	int64_t images = 0;
	const char *kind = json_string_value(json_object_get(task, "kind"));
	int reference = kind && !strcmp(kind, "reference");
	struct bo_reference_result rr = { 0 };
	bo_status rc;
	int started = 0, gave_back = 0, measured = 0;
	bo_error_clear(&err);
	if (max_commit < 1 || max_commit > SLICE_MAX)
		max_commit = SLICE_MAX;
	pthread_mutex_init(&b.mu, NULL);
	pthread_cond_init(&b.cv, NULL);
	if (heartbeats && !pthread_create(&b.thread, NULL, beat_main, &b))
		started = 1;
	double ts = now();
	rc = ensure_job(h, o, claim, c, &err);
	ws->setup_s += now() - ts;
	if (rc == BO_OK && reference) {
		double t0 = now();
		rc = run_reference(h, o, claim, c, &rr, &err);
		measured = 1;
		ws->compute_s += now() - t0;
	} else if (rc == BO_OK) {
		double t0 = now();
		int64_t N = bo_sweeper_eval_images(c->jc.sw);
		images = pilot ? (N < BO_PILOT_IMAGES ? N : BO_PILOT_IMAGES) :
			 json_is_integer(tim) && json_integer_value(tim) > 0 ? json_integer_value(tim) :
			 bo_sweeper_images(c->jc.sw);
		for (int k = 0; lo + k < hi && k < max_commit; k++) {
			int64_t correct = 0;
			double cost[2] = { 0, 0 };
			struct trial_ctx tc = { started ? &b : NULL, 0 };
			if (k > 0 && now() - t0 >= SLICE_SECONDS)
				break;
			rc = bo_sweeper_trial_n(c->jc.sw, point, lo + k, images, &correct, trial_cb,
						&tc, cost, &err);
			if (rc)
				break;
			json_array_append_new(corr, json_integer(correct));
			json_t *pr = json_array();
			json_array_append_new(pr, json_real(cost[0]));
			json_array_append_new(pr, json_real(cost[1]));
			json_array_append_new(costs, pr);
		}
		ws->compute_s += now() - t0;
	}
	if (started) {
		pthread_mutex_lock(&b.mu);
		b.done = 1;
		pthread_cond_broadcast(&b.cv);
		pthread_mutex_unlock(&b.mu);
		pthread_join(b.thread, NULL);
	}
	if (atomic_load(&b.lost)) {
		fprintf(stderr, "brownout worker: task %lld: lease lost; its %zu trials are dropped\n",
			(long long)json_integer_value(json_object_get(task, "id")),
			json_array_size(corr));
		goto out;
	}
	snprintf(path, sizeof(path), "/worker/leases/%lld/results", (long long)lease);
	if (rc && rc != BO_ECANCELLED) {
		char buf[BO_ERROR_TEXT], msg[BO_ERROR_TEXT + 32];
		/* the data the daemon sent, not this machine: fail the job */
		bo_error_format(&err, buf, sizeof(buf));
		if (measured) /* as the local pool says it */
			snprintf(msg, sizeof(msg), "reference %d: %s", point + 1, buf);
		else
			snprintf(msg, sizeof(msg), "%s", buf);
		json_object_set_new(body, "failure", json_string(msg));
		if (rc == BO_EIO || rc == BO_ENOMEM) { /* this machine: give it back */
			gave_back = 1;
			json_object_clear(body);
			json_object_set_new(body, "trial_lo", json_integer(lo));
			json_object_set_new(body, "correct", json_array());
			json_object_set_new(body, "images", json_integer(0));
		}
		fprintf(stderr, "brownout worker: task failed: %s\n", msg);
	} else if (reference && rc == BO_OK) {
		json_object_set_new(body, "ref_correct", json_integer(rr.correct));
		json_object_set_new(body, "ref_images", json_integer(rr.images));
		json_object_set_new(body, "ref_parameters", json_integer(rr.parameters));
		json_object_set_new(body, "ref_activations", json_integer(rr.activations));
		if (json_is_true(json_object_get(claim, "clean_needed")) && c->clean)
			json_object_set(body, "clean", c->clean);
	} else {
		json_object_set_new(body, "trial_lo", json_integer(lo));
		json_object_set(body, "correct", corr);
		json_object_set_new(body, "images", json_integer(images));
		if (pilot)
			json_object_set(body, "cost", costs);
		if (json_is_true(json_object_get(claim, "clean_needed")) && c->clean)
			json_object_set(body, "clean", c->clean);
	}
	ts = now();
	long st = call(h, o, "POST", path, body, &a);
	ws->results_s += now() - ts;
	if (st == 200) {
		ws->tasks++;
		ws->trials += (long)json_array_size(corr);
	}
	if (st == 200 && reference && !rc)
		fprintf(stderr, "brownout worker: job %lld reference %d: %lld of %lld images\n",
			(long long)json_integer_value(json_object_get(task, "job")), point + 1,
			(long long)rr.correct, (long long)rr.images);
	else if (st == 200)
		fprintf(stderr, "brownout worker: job %lld point %d trials %d..%d: %lld taken\n",
			(long long)json_integer_value(json_object_get(task, "job")), point, lo,
			lo + (int)json_array_size(corr),
			(long long)json_integer_value(json_object_get(a, "taken")));
	else
		fprintf(stderr, "brownout worker: results refused (HTTP %ld): %s\n", st,
			err_text(a));
out:
	json_decref(a);
	json_decref(body);
	json_decref(corr);
	json_decref(costs);
	pthread_cond_destroy(&b.cv);
	pthread_mutex_destroy(&b.mu);
	return gave_back;
}

/* ---- the command ---- */

static void worker_usage(FILE *f)
{
	fprintf(f, "usage: brownout worker --server URL --token TOKEN [--threads N]\n"
		   "                       [--max-idle S] [--cache DIR] [--name NAME]\n"
		   "  --server URL     brownoutd's address, e.g. http://10.0.0.5:8080\n"
		   "  --token TOKEN    a worker token (brownoutd token create NAME --worker);\n"
		   "                   or the environment's BROWNOUT_WORKER_TOKEN\n"
		   "  --threads N      threads per trial, default 1\n"
		   "  --max-idle S     exit after S seconds without a task, default: never\n"
		   "  --cache DIR      models and datasets by SHA-256, default\n"
		   "                   $XDG_CACHE_HOME/brownout (~/.cache/brownout)\n"
		   "  --name NAME      this worker's name, default HOST-PID\n");
}

int cmd_worker(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", required_argument, 0, 's' },
		{ "token", required_argument, 0, 't' },
		{ "threads", required_argument, 0, 'j' },
		{ "max-idle", required_argument, 0, 'i' },
		{ "cache", required_argument, 0, 'c' },
		{ "name", required_argument, 0, 'n' },
		{ "test-drop-heartbeats", required_argument, 0, 'D' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct opts o = { .threads = 1 };
	long long v;
	int ch;
	const char *env = getenv("BROWNOUT_WORKER_TOKEN");
	if (env)
		snprintf(o.token, sizeof(o.token), "%s", env);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 's': snprintf(o.server, sizeof(o.server), "%s", optarg); break;
		case 't': snprintf(o.token, sizeof(o.token), "%s", optarg); break;
		case 'c': snprintf(o.cache, sizeof(o.cache), "%s", optarg); break;
		case 'n': snprintf(o.name, sizeof(o.name), "%s", optarg); break;
		case 'j':
			if (parse_long(optarg, 1, 256, &v))
				return usage_error("--threads: %s is not 1..256", optarg);
			o.threads = (int)v;
			break;
		case 'i':
			if (parse_long(optarg, 0, 100000000, &v))
				return usage_error("--max-idle: %s is not a number of seconds", optarg);
			o.max_idle = (double)v;
			break;
		case 'D':
			if (parse_long(optarg, 0, 1000000, &v))
				return usage_error("--test-drop-heartbeats: %s", optarg);
			o.test_drop_heartbeats = (int)v;
			break;
		case 'h': worker_usage(stdout); return 0;
		default: worker_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !o.server[0] || !o.token[0]) {
		worker_usage(stderr);
		return EXIT_USAGE;
	}
	size_t sl = strlen(o.server);
	while (sl && o.server[sl - 1] == '/')
		o.server[--sl] = 0;
	if (!o.cache[0]) {
		const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
		if (x && x[0])
			snprintf(o.cache, sizeof(o.cache), "%s/brownout", x);
		else
			snprintf(o.cache, sizeof(o.cache), "%s/.cache/brownout", home ? home : ".");
	}
	char real[PATH_MAX];
	if (mkdir(o.cache, 0755) && errno != EEXIST) {
		fprintf(stderr, "%s: error: cannot make the cache %s: %s\n", prog, o.cache,
			strerror(errno));
		return 1;
	}
	if (!realpath(o.cache, real)) {
		fprintf(stderr, "%s: error: the cache %s: %s\n", prog, o.cache, strerror(errno));
		return 1;
	}
	if (strlen(real) >= sizeof(o.cache)) {
		fprintf(stderr, "%s: error: the cache's path is too long\n", prog);
		return 1;
	}
	memcpy(o.cache, real, strlen(real) + 1);
	if (gethostname(o.host, sizeof(o.host)))
		snprintf(o.host, sizeof(o.host), "unknown");
	o.host[sizeof(o.host) - 1] = 0;
	for (char *p = o.host; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			*p = '-';
	if (!o.name[0])
		snprintf(o.name, sizeof(o.name), "%.40s-%ld", o.host, (long)getpid());
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return fprintf(stderr, "%s: error: libcurl would not start\n", prog), 1;
	CURL *h = curl_easy_init();
	struct job_ctx c = { 0 };
	int tasks = 0, ret = 0;
	struct wstats ws = { 0 };
	double idle_since = now();
	fprintf(stderr, "brownout worker %s: serving %s, cache %s\n", o.name, o.server, o.cache);
	while (h && !atomic_load(&g_stop)) {
		json_t *body = json_object(), *a = NULL;
		json_object_set_new(body, "name", json_string(o.name));
		json_object_set_new(body, "host", json_string(o.host));
		double tc = now();
		long st = call(h, &o, "POST", "/worker/claim", body, &a);
		json_decref(body);
		if (st == 200 && json_is_object(a)) {
			ws.claim_s += now() - tc;
			tasks++;
			if (run_task(h, &o, a, &c, tasks > o.test_drop_heartbeats, &ws)) {
				/* not the job's fault: wait before the next claim */
				struct timespec ts = { 2, 0 };
				nanosleep(&ts, NULL);
			}
			idle_since = now();
		} else if (st == 401 || st == 403) {
			fprintf(stderr, "%s: error: the daemon refused the token: %s\n", prog,
				err_text(a));
			ret = 1;
			json_decref(a);
			break;
		} else {
			if (st != 204)
				fprintf(stderr, "brownout worker: claim: HTTP %ld: %s\n", st,
					st ? err_text(a) : "no answer");
			if (o.max_idle > 0 && now() - idle_since >= o.max_idle) {
				json_decref(a);
				break;
			}
			struct timespec ts = { 0, (long)(POLL_SECONDS * 1e9) };
			nanosleep(&ts, NULL);
		}
		json_decref(a);
	}
	/* claims and results are the protocol's cost per task; setup is
	 * fetching blobs and building a job's sweeper, once per job */
	fprintf(stderr,
		"brownout worker %s: stopped: %ld tasks, %ld trials; compute %.3f s, "
		"setup %.3f s, claims %.3f s, results %.3f s (%.2f ms per task)\n",
		o.name, ws.tasks, ws.trials, ws.compute_s, ws.setup_s, ws.claim_s, ws.results_s,
		ws.tasks ? 1e3 * (ws.claim_s + ws.results_s) / (double)ws.tasks : 0.0);
	job_ctx_release(&c);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	return ret;
}
