/* brownoutd's local executor: a pool of worker threads.
 *
 * Design. The store is the queue: a task is a row of `tasks`, and a worker
 * claims one in a write transaction (state queued -> running), so two
 * workers never run the same task and a crash leaves at most the claimed
 * ones "running"; bd_pool's start puts those back to queued. Claiming is
 * fair: round-robin over the owners that have runnable tasks (the owner
 * after the last one served, wrapping around), then the owner's jobs by
 * priority, then age. A worker keeps the sweeper of the job it ran last
 * (model, dataset, calibrated scales), so consecutive tasks of one job pay
 * the clean pass once.
 *
 * A task covers a range of trials (several when the job is bigger than
 * job-max-tasks one-trial tasks) and runs in slices (BO_SLICE_*): a slice
 * commits its per-trial counts and, if trials are left, puts the rest of
 * the range back as a new queued task, in one transaction; so a crash or
 * a shutdown loses at most the slice in flight, no committed trial runs
 * again, and a worker goes back to the fair-share claim at least every
 * slice. The transaction that finishes a task also decides what comes
 * next: when a job has no task left, adaptive points that have not met
 * their CI target get another round of trials (as many as there are
 * workers, as at most job-max-tasks tasks; surplus trials are ignored by
 * the report), and otherwise the job is done.
 *
 * Cancellation and shutdown reach a running trial through the progress
 * callback, which the library calls after every batch: the trial stops
 * within one batch, its task goes back to queued (shutdown) or away
 * (cancel). Worker threads run at nice 10 so that the HTTP threads answer
 * promptly while every core is busy with sweeps. Idle workers wait on a condition variable that bd_pool's wake
 * signals when tasks are queued.
 *
 * Storage faults. A write the store refuses (disk full, I/O error, busy)
 * never makes a worker spin: a failed claim claimed nothing, and a task
 * whose results will not commit is kept in memory and committed again.
 * Between tries the worker backs off: 0.1 s doubling to 30 s, waiting on
 * the pool's condition variable, so that stop (and new work, which means a
 * write got through) ends the wait. The pool logs the fault once and its
 * end once, not every try. A job is not failed for a full disk: a task
 * whose job could not record its clean pass goes back to the queue. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "brownoutd.h"
#include "jobs.h"
#include "jobctx.h"
#include "optjob.h"
#include "queue.h"

struct worker;

struct pool {
	struct bd_daemon *d;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int64_t wakes;          /* bumped by wake(); workers compare */
	int64_t last_owner;     /* fair share: the owner served last */
	int64_t cancelled[64];  /* recently cancelled jobs, a ring (0: empty) */
	int next_cancelled;
	int store_fault;        /* the store refused a write; logged once */
	int n;
	struct worker *w;
};

struct worker {
	struct pool *pool;
	int index;
	pthread_t thread;
	int started;
	atomic_llong running_job;  /* job of the task in flight, 0 when idle */
	atomic_int cancel;         /* set by cancel_job for running_job */
	struct bd_jobctx ctx;      /* the job it ran last (jobctx.c) */
	int64_t images_reported;   /* of the trial in flight, into live */
	double backoff;            /* seconds of the next wait after a refused write */
};

#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 30.0

/* Is a refused write worth trying again (the store, not the request)? */
static int retryable(bo_status rc)
{
	return rc == BO_ENOSPC || rc == BO_EIO || rc == BO_EBUSY || rc == BO_ENOMEM;
}

/* The store refused a write: say so once for the pool, then wait
 * w->backoff seconds (and double it, to BACKOFF_MAX), or less when the
 * pool stops or is woken for new work. Returns 1 when the pool stops. */
static int back_off(struct worker *w, const struct bo_error *err)
{
	struct pool *p = w->pool;
	struct timespec ts;
	char buf[BO_ERROR_TEXT];
	int stop;
	if (w->backoff < BACKOFF_MIN)
		w->backoff = BACKOFF_MIN;
	pthread_mutex_lock(&p->mu);
	if (!p->store_fault) {
		p->store_fault = 1;
		fprintf(stderr,
			"brownoutd: worker %d: the store refused a write; workers retry with "
			"backoff up to %.0f s until it takes writes again: %s\n",
			w->index, BACKOFF_MAX, bo_error_format(err, buf, sizeof(buf)));
	}
	int64_t wakes = p->wakes;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long ns = (long long)ts.tv_nsec + (long long)(w->backoff * 1e9);
	ts.tv_sec += (time_t)(ns / 1000000000LL);
	ts.tv_nsec = (long)(ns % 1000000000LL);
	while (!p->stop && p->wakes == wakes)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
			break;
	stop = p->stop;
	pthread_mutex_unlock(&p->mu);
	w->backoff = w->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : w->backoff * 2;
	return stop;
}

/* A write of this worker committed: back to no backoff (and, once, say
 * that the fault is over). */
static void store_took(struct worker *w)
{
	struct pool *p = w->pool;
	if (w->backoff <= BACKOFF_MIN)
		return;
	w->backoff = BACKOFF_MIN;
	pthread_mutex_lock(&p->mu);
	if (p->store_fault) {
		p->store_fault = 0;
		fprintf(stderr, "brownoutd: worker %d: the store takes writes again\n", w->index);
	}
	pthread_mutex_unlock(&p->mu);
}

/* ---- loading a job ---- */

struct job_load {
	int64_t job;
	char state[16];
	char *spec_text;
	char model_path[1024];
	char *mean, *std;
	struct bd_dataset_ref ds;
	int has_clean;
};

static char *dup_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static void copy_col(sqlite3_stmt *st, int i, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

static bo_status load_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	static const char sql[] =
		"SELECT j.state, j.spec, m.path, m.mean, m.std, d.source, d.format, d.path,"
		" d.labels_path, d.split, j.clean_accuracy IS NOT NULL"
		" FROM jobs j JOIN models m ON m.id = j.model_id JOIN datasets d ON d.id = j.dataset_id"
		" WHERE j.id = ?";
	struct job_load *l = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "loading a job");
	sqlite3_bind_int64(st, 1, l->job);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		copy_col(st, 0, l->state, sizeof(l->state));
		l->spec_text = dup_col(st, 1);
		copy_col(st, 2, l->model_path, sizeof(l->model_path));
		l->mean = dup_col(st, 3);
		l->std = dup_col(st, 4);
		copy_col(st, 5, l->ds.source, sizeof(l->ds.source));
		copy_col(st, 6, l->ds.format, sizeof(l->ds.format));
		copy_col(st, 7, l->ds.path, sizeof(l->ds.path));
		copy_col(st, 8, l->ds.labels, sizeof(l->ds.labels));
		copy_col(st, 9, l->ds.split, sizeof(l->ds.split));
		l->has_clean = sqlite3_column_int(st, 10);
		if (!l->spec_text)
			rc = bo_error_set(err, BO_ENOMEM, "out of memory");
	} else {
		rc = s == SQLITE_DONE ? bo_error_set(err, BO_ENOENT, "job %lld is gone", (long long)l->job)
				      : bd_store_fail(db, err, "loading a job");
	}
	sqlite3_finalize(st);
	return rc;
}

/* A stored JSON column (mean, std) as JSON; NULL when absent or unreadable. */
static json_t *json_col(const char *text)
{
	json_error_t je;
	return text ? json_loads(text, 0, &je) : NULL;
}

/* The clean pass stops for a cancel or a shutdown too. */
static int calib_cb(void *ctx, const struct bo_progress *pr)
{
	struct worker *w = ctx;
	(void)pr;
	return atomic_load(&w->cancel) || atomic_load(&w->pool->d->stopping);
}

/* Make w->ctx the sweeper of job `job` (loading and calibrating it). */
static bo_status ensure_job(struct worker *w, int64_t job, struct bo_error *err)
{
	struct bd_daemon *d = w->pool->d;
	struct bd_jobctx *c = &w->ctx;
	struct job_load l = { .job = job };
	json_error_t je;
	json_t *spec = NULL, *mean = NULL, *sd = NULL;
	char path[2048];
	bo_status rc = BO_OK;
	if (bd_jobctx_ready(c, job))
		return BO_OK;
	bd_jobctx_release(c);
	if ((rc = bd_store_read(d->store, load_fn, &l, err)))
		goto out;
	if (!(spec = json_loads(l.spec_text, 0, &je))) {
		rc = bo_error_set(err, BO_EINTERNAL, "job %lld: stored spec unreadable", (long long)job);
		goto out;
	}
	bd_data_path(d, l.model_path, path, sizeof(path));
	mean = json_col(l.mean);
	sd = json_col(l.std);
	if ((rc = bd_jobctx_begin(c, job, spec, path, err)) ||
	    (rc = bd_dataset_ref_open(d, &l.ds, &c->ds, err)) ||
	    (rc = bd_jobctx_finish(c, mean, sd, d->cfg.threads_per_worker, calib_cb, w, err)))
		goto out;
	if (!l.has_clean) {
		json_t *pij = bd_jobctx_point_info(c);
		char *pi = json_dumps(pij, JSON_COMPACT);
		struct bd_clean_rec cr = { job, bo_sweeper_clean_accuracy(c->sw),
					   bo_sweeper_parameters(c->sw), bo_sweeper_activations(c->sw),
					   bo_sweeper_images(c->sw), pi };
		rc = pi ? bd_job_record_clean(d->store, &cr, err) :
			  bo_error_set(err, BO_ENOMEM, "out of memory");
		free(pi);
		json_decref(pij);
	}
out:
	if (rc)
		bd_jobctx_release(c);
	json_decref(spec);
	json_decref(mean);
	json_decref(sd);
	free(l.spec_text);
	free(l.mean);
	free(l.std);
	return rc;
}

/* ---- finishing tasks ---- */

/* A task of several trials runs in slices: after BO_SLICE_TRIALS trials or
 * BO_SLICE_SECONDS, whichever comes first, the trials run so far are
 * committed and the rest of the range goes back to the queue as a new task
 * (see bd_queue_commit), so a crash loses at most one slice, a multi-trial task
 * holds a worker no longer than a one-trial task would, and fair share
 * still decides who runs next. */
#define BO_SLICE_TRIALS BO_QUEUE_SLICE_MAX
#define BO_SLICE_SECONDS 1.0

/* ---- running tasks ---- */

static int progress_cb(void *ctx, const struct bo_progress *pr)
{
	struct worker *w = ctx;
	struct bd_daemon *d = w->pool->d;
	int64_t delta = pr->images_done - w->images_reported;
	w->images_reported = pr->images_done;
	bd_live_add(&d->live, w->running_job, delta, delta);
	atomic_fetch_add(&d->images_total, delta);
	return atomic_load(&w->cancel) || atomic_load(&d->stopping);
}

/* An optimize job stops for a cancel or a shutdown. */
static int opt_stop(void *ctx)
{
	struct worker *w = ctx;
	return atomic_load(&w->cancel) || atomic_load(&w->pool->d->stopping);
}

/* A reference model's file and stored normalisation. */
struct ref_row {
	int64_t job;
	int pos;
	char path[1024];
	char *mean, *std;
};

static bo_status ref_row_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct ref_row *r = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db,
			       "SELECT m.path, m.mean, m.std FROM job_references r JOIN models m"
			       " ON m.id = r.model_id WHERE r.job_id = ? AND r.position = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading a reference");
	sqlite3_bind_int64(st, 1, r->job);
	sqlite3_bind_int(st, 2, r->pos);
	if (sqlite3_step(st) == SQLITE_ROW) {
		copy_col(st, 0, r->path, sizeof(r->path));
		r->mean = dup_col(st, 1);
		r->std = dup_col(st, 2);
	} else {
		rc = bo_error_set(err, BO_ENOENT, "reference %d of job %lld is gone", r->pos + 1,
			     (long long)r->job);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Clean accuracy and size of reference f->t.point on the job's images. */
static void run_reference(struct worker *w, struct bd_commit *f, struct bo_error *err)
{
	struct bd_daemon *d = w->pool->d;
	struct bo_reference_result rr;
	struct ref_row row = { f->t.job, f->t.point, "", NULL, NULL };
	json_t *mean = NULL, *sd = NULL;
	char path[2048];
	bo_status rc = bd_store_read(d->store, ref_row_fn, &row, err);
	if (rc)
		goto out;
	bd_data_path(d, row.path, path, sizeof(path));
	mean = json_col(row.mean);
	sd = json_col(row.std);
	if ((rc = bd_jobctx_reference(&w->ctx, path, mean, sd, &rr, err)))
		goto out;
	f->ref_correct = rr.correct;
	f->ref_images = rr.images;
	f->ref_parameters = rr.parameters;
	f->ref_activations = rr.activations;
out:
	if (rc) {
		char buf[BO_ERROR_TEXT];
		snprintf(f->failure, sizeof(f->failure), "reference %d: %s", f->t.point + 1,
			 bo_error_format(err, buf, sizeof(buf)));
	}
	json_decref(mean);
	json_decref(sd);
	free(row.mean);
	free(row.std);
}

/* Was job cancelled recently? (under p->mu) */
static int was_cancelled(const struct pool *p, int64_t job)
{
	for (int i = 0; i < 64; i++)
		if (p->cancelled[i] == job)
			return 1;
	return 0;
}

/* Returns 1 when the store failed the task (its job untouched): the
 * worker backs off before it claims again. */
static int run_task(struct worker *w, const struct bd_task *t)
{
	struct bd_daemon *d = w->pool->d;
	struct bd_commit f = { .t = *t, .workers = w->pool->n, .max_tasks = d->cfg.job_max_tasks };
	struct bo_error err;
	bo_status rc;
	bo_error_clear(&err);
	/* A cancel that committed between our claim and now flagged nobody:
	 * the ring of recent cancels catches it. */
	pthread_mutex_lock(&w->pool->mu);
	atomic_store(&w->running_job, t->job);
	atomic_store(&w->cancel, was_cancelled(w->pool, t->job));
	pthread_mutex_unlock(&w->pool->mu);
	rc = ensure_job(w, t->job, &err);
	/* the disk, not the job: the task goes back to the queue */
	int store_fault = rc == BO_ENOSPC;
	if (rc == BO_OK && t->reference) {
		run_reference(w, &f, &err);
	} else if (rc == BO_OK && w->ctx.spec.optimize) {
		/* the whole search in this thread (optjob.c); a store that refuses
		 * its memo's writes puts the task back, as a clean pass would */
		rc = bd_optjob_run(d, &w->ctx, opt_stop, w, &f.correct[0], &f.images, &err);
		if (rc == BO_OK)
			f.n = 1;
		store_fault = retryable(rc) && rc != BO_ENOMEM;
	} else if (rc == BO_OK) {
		/* the task's n: an auto job's pilot at n0 = min(N, 256), its
		 * trials at the n the queue chose; else the job's */
		int64_t N = bo_sweeper_eval_images(w->ctx.sw);
		int64_t images = t->pilot ? (N < BO_PILOT_IMAGES ? N : BO_PILOT_IMAGES) :
			t->images > 0 ? t->images : bo_sweeper_images(w->ctx.sw);
		double t0 = bd_now();
		f.images = images;
		for (int k = 0; t->lo + k < t->hi && rc == BO_OK; k++) {
			/* the slice is over: commit, let the queue decide what is next */
			if (k == BO_SLICE_TRIALS || (k > 0 && bd_now() - t0 >= BO_SLICE_SECONDS))
				break;
			w->images_reported = 0;
			rc = bo_sweeper_trial_n(w->ctx.sw, t->point, t->lo + k, images, &f.correct[k],
						progress_cb, w, f.cost[k], &err);
			/* the trial's images leave "in flight" (committed below or lost) */
			bd_live_add(&d->live, t->job, -w->images_reported, 0);
			if (rc == BO_OK)
				f.n = k + 1;
		}
	}
	if (rc == BO_ECANCELLED) {
		if (atomic_load(&d->stopping))
			f.requeue = 1;
		else
			f.delete_task = 1;
	} else if (store_fault) {
		f.requeue = 1;
	} else if (rc != BO_OK && !f.failure[0]) {
		char buf[BO_ERROR_TEXT];
		snprintf(f.failure, sizeof(f.failure), "%s", bo_error_format(&err, buf, sizeof(buf)));
	}
	if (f.failure[0])
		bd_jobctx_release(&w->ctx);
	/* what ran is kept until it commits (or the pool stops: the task is
	 * still "running" in the store, and runs again at the next start) */
	for (;;) {
		struct bo_error err2;
		bo_error_clear(&err2);
		f.now_ms = bd_queue_now_ms();
		bo_status frc = bd_queue_commit(d->store, &f, &err2);
		if (frc == BO_OK) {
			if (!store_fault)
				store_took(w);
			break;
		}
		if (!retryable(frc) || back_off(w, &err2)) {
			char buf[BO_ERROR_TEXT];
			fprintf(stderr, "brownoutd: job %lld task %lld: %s\n", (long long)t->job,
				(long long)t->id, bo_error_format(&err2, buf, sizeof(buf)));
			break;
		}
	}
	if (f.failure[0])
		fprintf(stderr, "brownoutd: job %lld failed: %s\n", (long long)t->job, f.failure);
	atomic_store(&w->running_job, 0);
	if (f.job_ended)
		bd_live_drop(&d->live, t->job);
	if (f.queued_more) {
		pthread_mutex_lock(&w->pool->mu);
		w->pool->wakes++;
		pthread_cond_broadcast(&w->pool->cv);
		pthread_mutex_unlock(&w->pool->mu);
	}
	return store_fault;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	struct bd_daemon *d = p->d;
	/* Workers yield the CPU to the HTTP threads: a poll must not wait
	 * behind a sweep (nice is per thread on Linux, and the session's own
	 * threads inherit it). Failure only costs latency. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	for (;;) {
		pthread_mutex_lock(&p->mu);
		int stop = p->stop;
		int64_t wakes = p->wakes;
		struct bd_claim c = { .last_owner = p->last_owner, .holder = "local" };
		pthread_mutex_unlock(&p->mu);
		if (stop)
			break;
		struct bo_error err;
		bo_error_clear(&err);
		c.now_ms = bd_queue_now_ms(); /* lease_ms 0: local claims do not expire */
		if (bd_queue_claim(d->store, &c, &err) != BO_OK) {
			/* rolled back: claimed nothing; try again after a while */
			if (back_off(w, &err))
				break;
			continue;
		}
		if (c.found) {
			pthread_mutex_lock(&p->mu);
			p->last_owner = c.t.owner;
			pthread_mutex_unlock(&p->mu);
			store_took(w);
			if (run_task(w, &c.t)) {
				bo_error_clear(&err);
				bo_error_set(&err, BO_ENOSPC, "job %lld: %s", (long long)c.t.job,
					"its clean pass could not be recorded");
				if (back_off(w, &err))
					break;
			}
			continue;
		}
		/* nothing to do: wait for wake() (or a timeout, as a backstop) */
		pthread_mutex_lock(&p->mu);
		if (!p->stop && p->wakes == wakes) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 2;
			pthread_cond_timedwait(&p->cv, &p->mu, &ts);
		}
		pthread_mutex_unlock(&p->mu);
	}
	bd_jobctx_release(&w->ctx);
	return NULL;
}

/* ---- the executor table ---- */

static bo_status pool_start(void *impl, struct bd_daemon *d, struct bo_error *err)
{
	struct pool *p = impl;
	bo_status rc;
	p->d = d;
	/* tasks a crash left running run again: their results never landed */
	if ((rc = bd_queue_requeue_all(d->store, err)))
		return rc;
	p->n = d->cfg.workers;
	if (p->n > 0 && !(p->w = calloc((size_t)p->n, sizeof(*p->w))))
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	for (int i = 0; i < p->n; i++) {
		p->w[i].pool = p;
		p->w[i].index = i;
		if (pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]))
			return bo_error_set(err, BO_ENOMEM, "cannot start worker %d", i);
		p->w[i].started = 1;
	}
	return BO_OK;
}

static void pool_wake(void *impl)
{
	struct pool *p = impl;
	pthread_mutex_lock(&p->mu);
	p->wakes++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void pool_cancel_job(void *impl, int64_t job)
{
	struct pool *p = impl;
	pthread_mutex_lock(&p->mu);
	p->cancelled[p->next_cancelled] = job;
	p->next_cancelled = (p->next_cancelled + 1) % 64;
	for (int i = 0; i < p->n; i++)
		if (atomic_load(&p->w[i].running_job) == job)
			atomic_store(&p->w[i].cancel, 1);
	pthread_mutex_unlock(&p->mu);
}

static void pool_stop(void *impl)
{
	struct pool *p = impl;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n; i++)
		if (p->w[i].started) {
			pthread_join(p->w[i].thread, NULL);
			p->w[i].started = 0;
		}
}

static void pool_free(void *impl)
{
	struct pool *p = impl;
	if (!p)
		return;
	pool_stop(p);
	free(p->w);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static const struct bd_executor_ops pool_ops = {
	"local", pool_start, pool_wake, pool_cancel_job, pool_stop, pool_free,
};

bo_status bd_pool_new(struct bd_executor *ex, struct bo_error *err)
{
	struct pool *p = calloc(1, sizeof(*p));
	if (!p)
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	ex->ops = &pool_ops;
	ex->impl = p;
	return BO_OK;
}
