/* brownoutd's job/task state machine.
 *
 * Design. The store is the queue: a task is a row of `tasks` (a point x a
 * range of trials, or a reference model's clean pass), and this file is the
 * only code that moves it: created queued with its job (api_jobs.c's insert
 * calls bd_queue_create_tasks), claimed (queued -> running, with a lease),
 * renewed, committed (running -> done, with its per-trial counts in
 * `results`, in one transaction), put back (an expired lease, a shutdown,
 * a restart), dropped (cancel). Jobs move with their tasks: queued ->
 * running at the first claim; done when the last task commits and no
 * adaptive point wants another round; failed when a task fails; cancelled
 * by the API (which drops the queued tasks here).
 *
 * Leases. A claim stamps the task with a random lease id, the holder's
 * name and a deadline (Unix ms, or none: the local pool, whose claims only
 * a restart can orphan, and which bd_queue_requeue_all then puts back). A
 * claim first puts every task whose deadline passed back to queued, so no
 * reaper thread is needed: the next worker that asks for work collects
 * what dead workers left. Heartbeats extend a lease that is still held
 * and in time; a commit must present the lease its task was claimed with
 * and be in time, else it is refused (BO_ECONFLICT) and records nothing:
 * the trials it carried belong to whoever holds the task now, so none is
 * counted twice. Times are parameters, so the unit tests drive the clock.
 *
 * Fair share, slices and rounds are as the local pool had them (pool.c's
 * design comment): round-robin over owners, then priority, then age; a
 * commit of part of a task's range leaves the rest as a new queued task;
 * the commit that finishes a job's last task plans the next adaptive round
 * (as many trials a point as c->workers, as at most c->max_tasks tasks).
 *
 * images_per_trial = auto (spec 4a). A task carries its images per trial
 * (NULL: the job's) and a pilot flag. Such a job starts as pilot tasks,
 * max(min_trials, 2) trials a point at n0 = min(N, 256) (the executor
 * knows N); a pilot commit stores counts and measured costs in `pilots`,
 * not `results`. The commit that completes a point's pilot computes n
 * (bo_design_auto_n of the stored rows: the library's function, a pure one,
 * so the same stored pilot always gives the same n) and, in the same
 * transaction, queues the point's first round at n; with n = n0 the pilot's
 * trials are copied as the point's first ones, as bo_point_run reuses
 * them. Adaptive rounds keep each point at the n of its stored trials. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue.h"
#include "jobs.h"

#define NO_LEASE ", lease = NULL, lease_holder = NULL, lease_deadline = NULL"

int64_t bd_queue_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- creating ---- */

bo_status bd_queue_create_tasks(sqlite3 *db, int64_t job, const struct bd_job_spec *s,
				int max_tasks, struct bo_error *err)
{
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	/* at most job-max-tasks tasks (but one per point and reference at least):
	 * a big job is a few multi-trial tasks, one short transaction */
	int first = bd_job_spec_first_trials(s);
	int pilot = s->images_per_trial == BO_IMAGES_AUTO;
	if (pilot) /* auto: the pilot first, the trials once n is known */
		first = bd_job_spec_pilot_trials(s);
	int k = bd_job_task_chunks(s->n_p, first, max_tasks - s->n_refs);
	for (int pt = 0; pt < s->n_p && !rc; pt++)
		rc = bd_job_add_tasks_at(db, job, pt, 0, first, k, 0, pilot, err);
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO tasks (job_id, kind, point, trial_lo, trial_hi, state)"
			       " VALUES (?, 'reference', ?, 0, 0, 'queued')",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "storing tasks");
	for (int i = 0; i < s->n_refs && !rc; i++) {
		sqlite3_bind_int64(st, 1, job);
		sqlite3_bind_int(st, 2, i);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = bd_store_fail(db, err, "storing tasks");
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- leases ---- */

static bo_status expire_db(sqlite3 *db, int64_t now_ms, int *n, struct bo_error *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
			       "UPDATE tasks SET state = 'queued'" NO_LEASE
			       " WHERE state = 'running' AND lease_deadline IS NOT NULL"
			       " AND lease_deadline < ?",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "requeueing expired leases");
	sqlite3_bind_int64(st, 1, now_ms);
	int s = sqlite3_step(st);
	sqlite3_finalize(st);
	if (s != SQLITE_DONE)
		return bd_store_fail(db, err, "requeueing expired leases");
	if (n)
		*n = sqlite3_changes(db);
	return BO_OK;
}

struct expire {
	int64_t now_ms;
	int n;
};

static bo_status expire_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct expire *e = ctx;
	return expire_db(db, e->now_ms, &e->n, err);
}

bo_status bd_queue_expire(struct bd_store *s, int64_t now_ms, int *n, struct bo_error *err)
{
	struct expire e = { now_ms, 0 };
	bo_status rc = bd_store_write(s, expire_fn, &e, err);
	if (n)
		*n = rc ? 0 : e.n;
	return rc;
}

/* Is task t (as claimed) still held under its lease at now_ms? */
static bo_status lease_held(sqlite3 *db, const struct bd_task *t, int64_t now_ms,
			    struct bo_error *err)
{
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db,
			       "SELECT lease_deadline FROM tasks WHERE id = ? AND state = 'running'"
			       " AND lease = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "checking a lease");
	sqlite3_bind_int64(st, 1, t->id);
	sqlite3_bind_int64(st, 2, t->lease);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) != SQLITE_NULL &&
		    sqlite3_column_int64(st, 0) < now_ms)
			rc = bo_error_set(err, BO_ECONFLICT,
				     "lease %lld of task %lld expired: its results are not taken",
				     (long long)t->lease, (long long)t->id);
	} else if (s == SQLITE_DONE) {
		rc = bo_error_set(err, BO_ECONFLICT,
			     "lease %lld of task %lld is gone (expired and requeued, or the task"
			     " ended): its results are not taken",
			     (long long)t->lease, (long long)t->id);
	} else {
		rc = bd_store_fail(db, err, "checking a lease");
	}
	sqlite3_finalize(st);
	return rc;
}

struct renew {
	int64_t lease, now_ms, lease_ms;
	struct bd_task t;
};

static bo_status renew_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct renew *r = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (sqlite3_prepare_v2(db,
			       "SELECT t.id, t.job_id, j.owner_id, t.kind, t.point, t.trial_lo,"
			       " t.trial_hi, t.lease_deadline, COALESCE(t.images, 0), t.pilot"
			       " FROM tasks t JOIN jobs j ON j.id = t.job_id"
			       " WHERE t.lease = ? AND t.state = 'running'",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "renewing a lease");
	sqlite3_bind_int64(st, 1, r->lease);
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		r->t.id = sqlite3_column_int64(st, 0);
		r->t.job = sqlite3_column_int64(st, 1);
		r->t.owner = sqlite3_column_int64(st, 2);
		r->t.reference = !strcmp((const char *)sqlite3_column_text(st, 3), "reference");
		r->t.point = sqlite3_column_int(st, 4);
		r->t.lo = sqlite3_column_int(st, 5);
		r->t.hi = sqlite3_column_int(st, 6);
		r->t.lease = r->lease;
		r->t.deadline_ms = sqlite3_column_int64(st, 7);
		r->t.images = sqlite3_column_int64(st, 8);
		r->t.pilot = sqlite3_column_int(st, 9) != 0;
		if (sqlite3_column_type(st, 7) != SQLITE_NULL && r->t.deadline_ms < r->now_ms)
			rc = bo_error_set(err, BO_ECONFLICT, "lease %lld expired", (long long)r->lease);
	} else if (s == SQLITE_DONE) {
		rc = bo_error_set(err, BO_ECONFLICT, "lease %lld is gone (expired, or its task ended)",
			     (long long)r->lease);
	} else {
		rc = bd_store_fail(db, err, "renewing a lease");
	}
	sqlite3_finalize(st);
	if (rc || r->lease_ms <= 0)
		return rc;
	r->t.deadline_ms = r->now_ms + r->lease_ms;
	if (sqlite3_prepare_v2(db, "UPDATE tasks SET lease_deadline = ? WHERE lease = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "renewing a lease");
	sqlite3_bind_int64(st, 1, r->t.deadline_ms);
	sqlite3_bind_int64(st, 2, r->lease);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bd_store_fail(db, err, "renewing a lease");
	sqlite3_finalize(st);
	return rc;
}

bo_status bd_queue_renew(struct bd_store *s, int64_t lease, int64_t now_ms, int64_t lease_ms,
			 struct bd_task *t, struct bo_error *err)
{
	struct renew r = { .lease = lease, .now_ms = now_ms, .lease_ms = lease_ms };
	bo_status rc = bd_store_write(s, renew_fn, &r, err);
	if (!rc && t)
		*t = r.t;
	return rc;
}

static bo_status requeue_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	(void)ctx;
	return bd_store_exec(db,
			     "UPDATE tasks SET state = 'queued'" NO_LEASE
			     " WHERE state = 'running' AND job_id IN"
			     " (SELECT id FROM jobs WHERE state IN ('queued', 'running'))",
			     err);
}

bo_status bd_queue_requeue_all(struct bd_store *s, struct bo_error *err)
{
	return bd_store_write(s, requeue_fn, NULL, err);
}

/* ---- claiming ---- */

bo_status bd_queue_claim_db(sqlite3 *db, struct bd_claim *c, struct bo_error *err)
{
	static const char pick[] =
		"SELECT t.id, t.job_id, j.owner_id, t.kind, t.point, t.trial_lo, t.trial_hi,"
		" COALESCE(t.images, 0), t.pilot FROM tasks t JOIN jobs j ON j.id = t.job_id"
		" WHERE t.state = 'queued' AND j.state IN ('queued', 'running')"
		" AND (?2 OR json_extract(j.spec, '$.kind') IS NOT 'optimize')"
		" ORDER BY (j.owner_id <= ?1), j.owner_id, j.priority DESC, j.id, t.id LIMIT 1";
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	char now[32];
	bd_store_now(now, sizeof(now));
	c->found = 0;
	if ((rc = expire_db(db, c->now_ms, &c->expired, err)))
		return rc;
	if (sqlite3_prepare_v2(db, pick, -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "claiming a task");
	sqlite3_bind_int64(st, 1, c->last_owner);
	/* an optimize job's search runs in the daemon (optjob.c): local only */
	sqlite3_bind_int(st, 2, !c->holder || !strcmp(c->holder, "local"));
	int s = sqlite3_step(st);
	if (s == SQLITE_ROW) {
		c->found = 1;
		memset(&c->t, 0, sizeof(c->t));
		c->t.id = sqlite3_column_int64(st, 0);
		c->t.job = sqlite3_column_int64(st, 1);
		c->t.owner = sqlite3_column_int64(st, 2);
		c->t.reference = !strcmp((const char *)sqlite3_column_text(st, 3), "reference");
		c->t.point = sqlite3_column_int(st, 4);
		c->t.lo = sqlite3_column_int(st, 5);
		c->t.hi = sqlite3_column_int(st, 6);
		c->t.images = sqlite3_column_int64(st, 7);
		c->t.pilot = sqlite3_column_int(st, 8) != 0;
	} else if (s != SQLITE_DONE) {
		rc = bd_store_fail(db, err, "claiming a task");
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc || !c->found)
		return rc;
	/* a random lease id (53 bits, > 0): a stale holder cannot guess the
	 * next, and JSON parsers that read numbers as doubles (JavaScript's)
	 * keep it exact (2^53 is the last integer a double holds in a row) */
	uint64_t r;
	sqlite3_randomness(sizeof(r), &r);
	c->t.lease = (int64_t)(r >> 11) | 1;
	c->t.deadline_ms = c->lease_ms > 0 ? c->now_ms + c->lease_ms : 0;
	if (sqlite3_prepare_v2(db,
			       "UPDATE tasks SET state = 'running', attempts = attempts + 1,"
			       " started_at = ?, lease = ?, lease_holder = ?, lease_deadline = ?"
			       " WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "claiming a task");
	sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->t.lease);
	sqlite3_bind_text(st, 3, c->holder ? c->holder : "local", -1, SQLITE_STATIC);
	if (c->t.deadline_ms)
		sqlite3_bind_int64(st, 4, c->t.deadline_ms);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int64(st, 5, c->t.id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bd_store_fail(db, err, "claiming a task");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "UPDATE jobs SET state = 'running', started_at = COALESCE(started_at, '%s')"
		 " WHERE id = %lld AND state = 'queued'",
		 now, (long long)c->t.job);
	return bd_store_exec(db, sql, err);
}

static bo_status claim_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	return bd_queue_claim_db(db, ctx, err);
}

bo_status bd_queue_claim(struct bd_store *s, struct bd_claim *c, struct bo_error *err)
{
	bo_status rc = bd_store_write(s, claim_fn, c, err);
	if (rc)
		c->found = 0;
	return rc;
}

/* ---- committing ---- */

static bo_status step_done(sqlite3 *db, sqlite3_stmt *st, struct bo_error *err, const char *what)
{
	int s = sqlite3_step(st);
	sqlite3_reset(st);
	return s == SQLITE_DONE || s == SQLITE_ROW ? BO_OK : bd_store_fail(db, err, what);
}

/* The job's stored spec, parsed, and its images per trial (N, or 0 before
 * its clean pass): what complete_job and auto_plan_point start from.
 * *found is 0 when the job has no row (or no readable spec): nothing to
 * do. The caller releases spec, also on error. */
static bo_status job_spec_load(sqlite3 *db, int64_t job, const char *what,
			       struct bd_job_spec *spec, int64_t *images, int *found,
			       struct bo_error *err)
{
	sqlite3_stmt *st = NULL;
	json_t *j = NULL;
	json_error_t je;
	*images = 0;
	*found = 0;
	if (sqlite3_prepare_v2(db, "SELECT spec, images_per_trial FROM jobs WHERE id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return bd_store_fail(db, err, what);
	sqlite3_bind_int64(st, 1, job);
	if (sqlite3_step(st) == SQLITE_ROW) {
		j = json_loads((const char *)sqlite3_column_text(st, 0), 0, &je);
		*images = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (!j)
		return BO_OK;
	*found = 1;
	bo_status rc = bd_job_spec_parse(j, spec, err);
	json_decref(j);
	return rc;
}

/* A job with no task left: another round for adaptive points that need
 * it, else done. */
static bo_status complete_job(sqlite3 *db, struct bd_commit *f, struct bo_error *err)
{
	sqlite3_stmt *st = NULL;
	struct bd_job_spec spec = { 0 };
	bo_status rc = BO_OK;
	int64_t per = 0;
	char now[32];
	bd_store_now(now, sizeof(now));
	if (sqlite3_prepare_v2(db,
			       "SELECT COUNT(*) FROM tasks WHERE job_id = ? AND state <> 'done'",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "completing a job");
	sqlite3_bind_int64(st, 1, f->t.job);
	int left = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	st = NULL;
	if (left != 0)
		return left < 0 ? bd_store_fail(db, err, "completing a job") : BO_OK;
	int found;
	if ((rc = job_spec_load(db, f->t.job, "completing a job", &spec, &per, &found, err)) ||
	    !found)
		goto out;
	if (spec.ci_target > 0 && per > 0) {
		struct bo_sweep_config c;
		bd_job_spec_config(&spec, 1, &c); /* only its stopping rule is used */
		double *acc = malloc((size_t)spec.max_trials * sizeof(double));
		if (!acc) {
			rc = bo_error_set(err, BO_ENOMEM, "out of memory");
			goto out;
		}
		/* trials so far per point, -1 for a point that needs no more */
		int *have = calloc((size_t)spec.n_p, sizeof(int)), pending = 0;
		if (!have) {
			free(acc);
			rc = bo_error_set(err, BO_ENOMEM, "out of memory");
			goto out;
		}
		if (sqlite3_prepare_v2(db,
				       "SELECT correct, images FROM results WHERE job_id = ? AND point = ?"
				       " ORDER BY trial",
				       -1, &st, NULL) != SQLITE_OK)
			rc = bd_store_fail(db, err, "planning trials");
		/* a round: as many trials a point as there are workers */
		int add = f->workers < 1 ? 1 : f->workers;
		/* auto: a point's n is its trials' (every trial of it is at n) */
		int64_t *npt = calloc((size_t)spec.n_p, sizeof(int64_t));
		if (!npt)
			rc = bo_error_set(err, BO_ENOMEM, "out of memory");
		for (int pt = 0; pt < spec.n_p && !rc; pt++) {
			int n = 0, done = 0;
			struct bo_summary s;
			sqlite3_bind_int64(st, 1, f->t.job);
			sqlite3_bind_int(st, 2, pt);
			while (n < spec.max_trials && sqlite3_step(st) == SQLITE_ROW) {
				int64_t im = sqlite3_column_int64(st, 1);
				npt[pt] = im > 0 ? im : per;
				acc[n++] = (double)sqlite3_column_int64(st, 0) / (double)npt[pt];
			}
			sqlite3_reset(st);
			/* trials 0..n-1 exist (no gaps: rounds are contiguous); the
			 * rule at every count, in O(n) */
			done = bd_job_first_done(&c, acc, n, &s) > 0;
			have[pt] = done || n >= spec.max_trials ? -1 : n;
			pending += have[pt] >= 0;
		}
		/* the next round as at most job-max-tasks tasks */
		int k = bd_job_task_chunks(pending, add, f->max_tasks);
		for (int pt = 0; pt < spec.n_p && !rc; pt++) {
			if (have[pt] < 0)
				continue;
			int hi = have[pt] + add > spec.max_trials ? spec.max_trials : have[pt] + add;
			rc = bd_job_add_tasks_at(db, f->t.job, pt, have[pt], hi, k,
						 spec.images_per_trial == BO_IMAGES_AUTO ? npt[pt] : 0, 0,
						 err);
			f->queued_more = 1;
		}
		free(npt);
		free(have);
		free(acc);
		if (rc || f->queued_more)
			goto out;
	}
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "UPDATE jobs SET state = 'done', finished_at = '%s' WHERE id = %lld"
		 " AND state = 'running'",
		 now, (long long)f->t.job);
	f->job_ended = 1;
	if (!(rc = bd_store_exec(db, sql, err))) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO events (job_id, at, kind, message) VALUES (%lld, '%s', 'done',"
			 " 'finished')",
			 (long long)f->t.job, now);
		rc = bd_store_exec(db, sql, err);
	}
out:
	sqlite3_finalize(st);
	bd_job_spec_release(&spec);
	return rc;
}

/* images_per_trial = auto (spec 4a): once every pilot trial of the point
 * is stored, its n is bo_design_auto_n of them (a pure function of stored
 * rows: a restart, or another set of workers that ran the same pilot, gives
 * the same n) and its first round of trials is queued at n. With n = n0 the
 * pilot's trials are the point's first ones (as bo_point_run reuses them):
 * copied to results, not run again. Runs once per point: it then has
 * trial tasks or results. */
static bo_status auto_plan_point(sqlite3 *db, struct bd_commit *f, struct bo_error *err)
{
	sqlite3_stmt *st = NULL;
	struct bd_job_spec spec = { 0 };
	double *acc = NULL;
	bo_status rc = BO_OK;
	int64_t N = 0, n0 = 0;
	char sql[256];
	int found;
	if ((rc = job_spec_load(db, f->t.job, "planning trials", &spec, &N, &found, err)) ||
	    !found)
		goto out;
	if (N < 1) {
		rc = bo_error_set(err, BO_EINTERNAL, "job %lld: a pilot before its clean pass",
			     (long long)f->t.job);
		goto out;
	}
	/* planned already: the point has trial tasks or results */
	snprintf(sql, sizeof(sql),
		 "SELECT (SELECT COUNT(*) FROM tasks WHERE job_id = %lld AND point = %d AND"
		 " kind = 'trials' AND pilot = 0) + (SELECT COUNT(*) FROM results WHERE"
		 " job_id = %lld AND point = %d)",
		 (long long)f->t.job, f->t.point, (long long)f->t.job, f->t.point);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "planning trials");
	int planned = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	st = NULL;
	if (planned != 0) {
		if (planned < 0)
			rc = bd_store_fail(db, err, "planning trials");
		goto out;
	}
	int T = bd_job_spec_pilot_trials(&spec), got = 0;
	double ct = 0, ci = 0;
	if (!(acc = calloc((size_t)T, sizeof(double)))) {
		rc = bo_error_set(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(db,
			       "SELECT trial, correct, images, cost_trial, cost_image FROM pilots"
			       " WHERE job_id = ? AND point = ? AND trial < ? ORDER BY trial",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = bd_store_fail(db, err, "planning trials");
		goto out;
	}
	sqlite3_bind_int64(st, 1, f->t.job);
	sqlite3_bind_int(st, 2, f->t.point);
	sqlite3_bind_int(st, 3, T);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t im = sqlite3_column_int64(st, 2);
		if (sqlite3_column_int(st, 0) != got || im < 1 || (n0 && im != n0))
			break; /* a gap or a second n0: not complete */
		n0 = im;
		acc[got++] = (double)sqlite3_column_int64(st, 1) / (double)im;
		ct += sqlite3_column_double(st, 3);
		ci += sqlite3_column_double(st, 4);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (got < T)
		goto out; /* the rest of the pilot is still to come */
	/* the costs as bo_point_run averages them */
	int64_t n = bo_design_auto_n(acc, T, n0, N, ct / T, ci / ((double)T * (double)n0));
	int first = bd_job_spec_first_trials(&spec), have = 0;
	if (n == n0) {
		have = T < first ? T : first;
		snprintf(sql, sizeof(sql),
			 "INSERT OR REPLACE INTO results (job_id, point, trial, correct, images)"
			 " SELECT job_id, point, trial, correct, images FROM pilots"
			 " WHERE job_id = %lld AND point = %d AND trial < %d",
			 (long long)f->t.job, f->t.point, have);
		if ((rc = bd_store_exec(db, sql, err)))
			goto out;
	}
	if (have < first) {
		int k = bd_job_task_chunks(spec.n_p, first, f->max_tasks - spec.n_refs);
		rc = bd_job_add_tasks_at(db, f->t.job, f->t.point, have, first, k, n, 0, err);
		f->queued_more = 1;
	}
out:
	sqlite3_finalize(st);
	free(acc);
	bd_job_spec_release(&spec);
	return rc;
}

static bo_status commit_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct bd_commit *f = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	char now[32], sql[512];
	bd_store_now(now, sizeof(now));
	/* the job may have been cancelled or deleted meanwhile */
	if (sqlite3_prepare_v2(db, "SELECT state FROM jobs WHERE id = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return bd_store_fail(db, err, "finishing a task");
	sqlite3_bind_int64(st, 1, f->t.job);
	int live = sqlite3_step(st) == SQLITE_ROW &&
		   !strcmp((const char *)sqlite3_column_text(st, 0), "running");
	sqlite3_finalize(st);
	st = NULL;
	if (!live) { /* it takes nothing more */
		f->job_ended = 1;
		return BO_OK;
	}
	if ((rc = lease_held(db, &f->t, f->now_ms, err)))
		return rc;
	if (f->delete_task) {
		snprintf(sql, sizeof(sql), "DELETE FROM tasks WHERE id = %lld AND state = 'running'",
			 (long long)f->t.id);
		return bd_store_exec(db, sql, err);
	}
	if (f->requeue && f->n == 0) {
		snprintf(sql, sizeof(sql), "UPDATE tasks SET state = 'queued'" NO_LEASE " WHERE id = %lld",
			 (long long)f->t.id);
		return bd_store_exec(db, sql, err);
	}
	if (f->failure[0]) {
		f->job_ended = 1;
		if (sqlite3_prepare_v2(db,
				       "UPDATE jobs SET state = 'failed', error = ?, finished_at = ?"
				       " WHERE id = ?",
				       -1, &st, NULL) != SQLITE_OK)
			return bd_store_fail(db, err, "failing a job");
		sqlite3_bind_text(st, 1, f->failure, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, f->t.job);
		rc = step_done(db, st, err, "failing a job");
		sqlite3_finalize(st);
		if (!rc) {
			snprintf(sql, sizeof(sql),
				 "DELETE FROM tasks WHERE job_id = %lld AND state <> 'done'",
				 (long long)f->t.job);
			rc = bd_store_exec(db, sql, err);
		}
		return rc;
	}
	if (f->t.reference) {
		if (sqlite3_prepare_v2(db,
				       "UPDATE job_references SET correct = ?, images = ?,"
				       " parameters = ?, activations = ? WHERE job_id = ? AND position = ?",
				       -1, &st, NULL) != SQLITE_OK)
			return bd_store_fail(db, err, "recording a reference");
		sqlite3_bind_int64(st, 1, f->ref_correct);
		sqlite3_bind_int64(st, 2, f->ref_images);
		sqlite3_bind_int64(st, 3, f->ref_parameters);
		sqlite3_bind_int64(st, 4, f->ref_activations);
		sqlite3_bind_int64(st, 5, f->t.job);
		sqlite3_bind_int(st, 6, f->t.point);
		rc = step_done(db, st, err, "recording a reference");
	} else {
		/* a pilot's trials go to pilots, with their costs; others to results */
		const char *what = f->t.pilot ? "recording a pilot" : "recording results";
		if (sqlite3_prepare_v2(db,
				       f->t.pilot ?
					       "INSERT OR REPLACE INTO pilots (job_id, point, trial,"
					       " correct, images, cost_trial, cost_image)"
					       " VALUES (?, ?, ?, ?, ?, ?, ?)" :
					       "INSERT OR REPLACE INTO results (job_id, point, trial,"
					       " correct, images) VALUES (?, ?, ?, ?, ?)",
				       -1, &st, NULL) != SQLITE_OK)
			return bd_store_fail(db, err, what);
		for (int k = 0; k < f->n && !rc; k++) {
			sqlite3_bind_int64(st, 1, f->t.job);
			sqlite3_bind_int(st, 2, f->t.point);
			sqlite3_bind_int(st, 3, f->t.lo + k);
			sqlite3_bind_int64(st, 4, f->correct[k]);
			sqlite3_bind_int64(st, 5, f->images);
			for (int c = 0; f->t.pilot && c < 2; c++) {
				double v = f->cost[k][c]; /* seconds per trial, per image */
				sqlite3_bind_double(st, 6 + c, isfinite(v) && v > 0 ? v : 0);
			}
			rc = step_done(db, st, err, what);
		}
		f->recorded = rc ? 0 : f->n;
	}
	sqlite3_finalize(st);
	if (rc)
		return rc;
	if (!f->t.reference && f->t.lo + f->n < f->t.hi) {
		/* a slice (or a shutdown) of a multi-trial task: what ran is a done
		 * task, the rest a queued one, so no trial runs or counts twice */
		snprintf(sql, sizeof(sql),
			 "UPDATE tasks SET state = 'done', trial_hi = %d, finished_at = '%s'" NO_LEASE
			 " WHERE id = %lld",
			 f->t.lo + f->n, now, (long long)f->t.id);
		if ((rc = bd_store_exec(db, sql, err)))
			return rc;
		f->queued_more = 1;
		return bd_job_add_tasks_at(db, f->t.job, f->t.point, f->t.lo + f->n, f->t.hi, 1,
					   f->t.images, f->t.pilot, err);
	}
	snprintf(sql, sizeof(sql),
		 "UPDATE tasks SET state = 'done', finished_at = '%s'" NO_LEASE " WHERE id = %lld", now,
		 (long long)f->t.id);
	if ((rc = bd_store_exec(db, sql, err)))
		return rc;
	if (f->t.pilot && (rc = auto_plan_point(db, f, err)))
		return rc;
	return complete_job(db, f, err);
}


bo_status bd_queue_commit(struct bd_store *s, struct bd_commit *c, struct bo_error *err)
{
	if (c->n < 0 || c->n > BO_QUEUE_SLICE_MAX || c->n > c->t.hi - c->t.lo)
		return bo_error_set(err, BO_EINVAL, "a commit of %d trials for task %lld of %d", c->n,
			       (long long)c->t.id, c->t.hi - c->t.lo);
	c->queued_more = c->job_ended = c->recorded = 0;
	return bd_store_write(s, commit_fn, c, err);
}

/* ---- cancelling ---- */

bo_status bd_queue_cancel_tasks(sqlite3 *db, int64_t job, struct bo_error *err)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "DELETE FROM tasks WHERE job_id = %lld AND state = 'queued'",
		 (long long)job);
	return bd_store_exec(db, sql, err);
}
