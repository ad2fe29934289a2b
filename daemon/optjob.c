/* brownoutd's optimize jobs: the energy optimizer (docs/optimizer.md) as
 * a job.
 *
 * Design. An optimize job is stored like a sweep of one point and one
 * trial, so the queue, the claims, cancelling and the job's states are the
 * sweep's: its one task is claimed by a local pool worker (never by a
 * remote one: bd_queue_claim_db), which builds the job's sweeper
 * (jobctx.c), runs this file's bd_optjob_run and commits the task. The
 * search itself runs in that worker's thread, sequentially, with the
 * sweeper's threads inside each trial (threads-per-worker), through the
 * CLI's own pieces (common/optrun.c: blocks, evaluator, baselines, JSON),
 * so the answer is `brownout optimize --json`'s for the same options and
 * seed, whatever the thread count or the number of workers.
 *
 * Resuming. The evaluator is a pure function of (allocation, seed,
 * trial); this file wraps it with a memo in the store (opt_trials, schema
 * 006): one read for the trials an evaluate() call asks for, the missing
 * ones run, and one transaction stores them with the job's progress. A
 * job interrupted (shutdown, crash: its task goes back to queued) runs
 * again from the start, and its deterministic search finds every finished
 * evaluation stored: it replays to where it stopped and goes on. The
 * progress says how many trials this run evaluated and how many it found.
 * The result is stored (opt_state) before the task commits; a crash
 * between the two only replays the search from the memo. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optjob.h"
#include "optrun.h"
#include "report.h"
#include "store.h"

struct optjob {
	struct bd_daemon *d;
	int64_t job;
	struct bo_optrun run;
	int (*stop)(void *);
	void *stop_ctx;
	struct bo_opt_progress last;  /* the optimizer's latest */
	int phase;                    /* 1..3 the search's, 4 verification, 5 done */
	int64_t evaluated, cached;    /* trials of this run: run, found stored */
	double last_write;            /* bd_now() of the last progress write */
};

static json_t *progress_json(const struct optjob *o)
{
	static const char *const names[] = { "starting", "curves", "front", "full model",
					     "verification", "done" };
	json_t *j = json_object();
	int ph = o->phase < 0 || o->phase > 5 ? 0 : o->phase;
	json_object_set_new(j, "phase", json_integer(ph));
	json_object_set_new(j, "phase_name", json_string(names[ph]));
	json_object_set_new(j, "candidates", json_integer(o->last.candidates));
	json_object_set_new(j, "trials", json_integer(o->last.trials));
	json_object_set_new(j, "budget", json_integer(o->last.budget));
	json_object_set_new(j, "best_energy_ratio", o->last.candidates > 0 &&
				    isfinite(o->last.best_energy) ? json_real(o->last.best_energy) :
								    json_null());
	json_object_set_new(j, "best_accuracy", o->last.candidates > 0 &&
				    isfinite(o->last.best_accuracy) ? json_real(o->last.best_accuracy) :
								      json_null());
	json_object_set_new(j, "evaluated", json_integer(o->evaluated));
	json_object_set_new(j, "cached", json_integer(o->cached));
	return j;
}

/* ---- the store: memo, progress, result ---- */

#define OPT_MAX_CALL BO_OPT_MAX_TRIALS /* trials of one evaluate() call at most */

struct memo_io {
	const struct optjob *o;
	const char *alloc;
	uint64_t seed;
	int t0, t1;
	int64_t *correct;        /* [t1 - t0]; -1: not stored (read) / not new (write) */
	const char *progress;    /* write: the progress JSON, or NULL */
	const char *result;      /* write: the result JSON, or NULL */
};

static bo_status memo_read_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct memo_io *m = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	int s;
	if (sqlite3_prepare_v2(db,
			       "SELECT trial, correct FROM opt_trials WHERE job_id = ? AND alloc = ?"
			       " AND seed = ? AND trial >= ? AND trial < ?",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading an optimize job's trials");
	sqlite3_bind_int64(st, 1, m->o->job);
	sqlite3_bind_text(st, 2, m->alloc, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)m->seed);
	sqlite3_bind_int(st, 4, m->t0);
	sqlite3_bind_int(st, 5, m->t1);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		int t = sqlite3_column_int(st, 0);
		if (t >= m->t0 && t < m->t1)
			m->correct[t - m->t0] = sqlite3_column_int64(st, 1);
	}
	if (s != SQLITE_DONE)
		rc = bd_store_fail(db, err, "reading an optimize job's trials");
	sqlite3_finalize(st);
	return rc;
}

static bo_status memo_write_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct memo_io *m = ctx;
	sqlite3_stmt *st = NULL;
	bo_status rc = BO_OK;
	if (m->alloc) {
		if (sqlite3_prepare_v2(db,
				       "INSERT OR IGNORE INTO opt_trials (job_id, alloc, seed, trial,"
				       " correct, images) VALUES (?, ?, ?, ?, ?, ?)",
				       -1, &st, NULL) != SQLITE_OK)
			return bd_store_fail(db, err, "storing an optimize job's trials");
		for (int t = m->t0; t < m->t1 && !rc; t++) {
			if (m->correct[t - m->t0] < 0)
				continue;
			sqlite3_bind_int64(st, 1, m->o->job);
			sqlite3_bind_text(st, 2, m->alloc, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, (sqlite3_int64)m->seed);
			sqlite3_bind_int(st, 4, t);
			sqlite3_bind_int64(st, 5, m->correct[t - m->t0]);
			sqlite3_bind_int64(st, 6, m->o->run.images);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = bd_store_fail(db, err, "storing an optimize job's trials");
			sqlite3_reset(st);
		}
		sqlite3_finalize(st);
		st = NULL;
		if (rc)
			return rc;
	}
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO opt_state (job_id, progress, result) VALUES (?1, ?2, ?3)"
			       " ON CONFLICT (job_id) DO UPDATE SET progress = COALESCE(?2, progress),"
			       " result = COALESCE(?3, result)",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "storing an optimize job's progress");
	sqlite3_bind_int64(st, 1, m->o->job);
	sqlite3_bind_text(st, 2, m->progress, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, m->result, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = bd_store_fail(db, err, "storing an optimize job's progress");
	sqlite3_finalize(st);
	return rc;
}

/* Store the new trials of m (may be none: alloc NULL) with the progress. */
static bo_status memo_write(struct optjob *o, struct memo_io *m, const char *result,
			    struct bo_error *err)
{
	json_t *pj = progress_json(o);
	char *pt = json_dumps(pj, JSON_COMPACT);
	bo_status rc;
	json_decref(pj);
	if (!pt)
		return bo_error_set(err, BO_ENOMEM, "out of memory");
	m->progress = pt;
	m->result = result;
	rc = bd_store_write(o->d->store, memo_write_fn, m, err);
	free(pt);
	o->last_write = bd_now();
	return rc;
}

bo_status bd_optjob_read(sqlite3 *db, int64_t job, json_t **progress, json_t **result,
			 struct bo_error *err)
{
	sqlite3_stmt *st = NULL;
	json_error_t je;
	int s;
	*progress = *result = NULL;
	if (sqlite3_prepare_v2(db, "SELECT progress, result FROM opt_state WHERE job_id = ?", -1,
			       &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading an optimize job");
	sqlite3_bind_int64(st, 1, job);
	if ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *p = sqlite3_column_text(st, 0), *r = sqlite3_column_text(st, 1);
		*progress = p ? json_loads((const char *)p, 0, &je) : NULL;
		*result = r ? json_loads((const char *)r, 0, &je) : NULL;
	}
	sqlite3_finalize(st);
	return s == SQLITE_ROW || s == SQLITE_DONE ? BO_OK :
						     bd_store_fail(db, err, "reading an optimize job");
}

/* ---- the evaluator, memoised ---- */

static bo_status memo_evaluate(void *ctx, const double *p, uint64_t seed, int t0, int t1,
			       double *acc, struct bo_error *err)
{
	struct optjob *o = ctx;
	char alloc[BO_OPT_MAX_BLOCKS * 26 + 1];
	int64_t have[OPT_MAX_CALL], fresh[OPT_MAX_CALL];
	size_t k = 0;
	bo_status rc;
	if (t0 < 0 || t1 < t0 || t1 - t0 > OPT_MAX_CALL)
		return bo_error_set(err, BO_EINTERNAL, "optimize: %d trials in one call", t1 - t0);
	for (int i = 0; i < o->run.nb && k < sizeof(alloc); i++)
		k += (size_t)snprintf(alloc + k, sizeof(alloc) - k, "%s%.17g", i ? "," : "", p[i]);
	for (int t = t0; t < t1; t++)
		have[t - t0] = fresh[t - t0] = -1;
	struct memo_io m = { o, alloc, seed, t0, t1, have, NULL, NULL };
	if ((rc = bd_store_read(o->d->store, memo_read_fn, &m, err)))
		return rc;
	int n_new = 0;
	for (int t = t0; t < t1; t++) {
		if (have[t - t0] >= 0) {
			acc[t - t0] = (double)have[t - t0] / (double)o->run.images;
			o->cached++;
			continue;
		}
		/* the CLI's evaluator: acc = correct / images exactly */
		if ((rc = o->run.ev.evaluate(o->run.ev.ctx, p, seed, t, t + 1, &acc[t - t0], err)))
			return rc;
		fresh[t - t0] = llround(acc[t - t0] * (double)o->run.images);
		o->evaluated++;
		n_new++;
	}
	if (!n_new)
		return BO_OK;
	struct memo_io w = { o, alloc, seed, t0, t1, fresh, NULL, NULL };
	return memo_write(o, &w, NULL, err);
}

static double memo_energy(void *ctx, const double *p)
{
	struct optjob *o = ctx;
	return o->run.ev.energy(o->run.ev.ctx, p);
}

static int opt_progress(void *ctx, const struct bo_opt_progress *pr)
{
	struct optjob *o = ctx;
	int changed = pr->phase != o->phase;
	o->last = *pr;
	o->phase = pr->phase;
	if (o->stop(o->stop_ctx))
		return 1;
	/* a replay writes no trials: the progress still moves, once a second */
	if (changed || bd_now() - o->last_write >= 1.0) {
		struct memo_io m = { o, NULL, 0, 0, 0, NULL, NULL, NULL };
		struct bo_error err;
		bo_error_clear(&err);
		(void)memo_write(o, &m, NULL, &err); /* progress only: best effort */
	}
	return 0;
}

static int trial_stop(void *ctx, const struct bo_progress *pr)
{
	struct optjob *o = ctx;
	(void)pr;
	return o->stop(o->stop_ctx);
}

/* ---- the job ---- */

struct names_read {
	int64_t job;
	char model[256], dataset[256];
};

static bo_status names_fn(sqlite3 *db, void *ctx, struct bo_error *err)
{
	struct names_read *n = ctx;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT m.name, d.name FROM jobs j JOIN models m ON m.id = j.model_id"
			       " JOIN datasets d ON d.id = j.dataset_id WHERE j.id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return bd_store_fail(db, err, "reading a job");
	sqlite3_bind_int64(st, 1, n->job);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(n->model, sizeof(n->model), "%s", sqlite3_column_text(st, 0));
		snprintf(n->dataset, sizeof(n->dataset), "%s", sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return BO_OK;
}

/* A bad option the optimizer found: its field as the spec names it (the
 * job's error, bo_error_format, starts with it). */
static void name_field(struct bo_error *err)
{
	if (err->status == BO_EINVAL && !strcmp(err->field, "grid"))
		snprintf(err->field, sizeof(err->field), "block_p_grid");
}

bo_status bd_optjob_run(struct bd_daemon *d, struct bd_jobctx *c, int (*stop)(void *),
			void *stop_ctx, int64_t *correct, int64_t *images, struct bo_error *err)
{
	const struct bd_job_spec *s = &c->spec;
	struct optjob o = { .d = d, .job = c->job, .stop = stop, .stop_ctx = stop_ctx };
	struct bo_opt_result res = { 0 };
	struct bo_opt_verification ver = { 0 };
	struct names_read nr = { .job = c->job };
	char *text = NULL;
	json_t *j = NULL;
	double t0 = bd_now();
	bo_status rc;
	if ((rc = bo_optrun_init(&o.run, c->sw, s->target, c->cfg.energy_a, s->opt.policy_blocks,
				 err)))
		goto out;
	o.run.trial_progress = trial_stop;
	o.run.trial_ctx = &o;
	struct bo_opt_evaluator ev = o.run.ev;
	ev.evaluate = memo_evaluate;
	ev.energy = memo_energy;
	ev.ctx = &o;
	struct bo_opt_config oc;
	bo_opt_config_defaults(&oc);
	oc.accuracy_floor = s->accuracy_floor;
	if (s->opt.max_loss > 0)
		oc.max_loss = s->opt.max_loss;
	oc.grid = s->opt.grid;
	oc.n_grid = s->opt.n_grid;
	oc.budget_trials = s->opt.budget_trials;
	oc.curve_trials = s->opt.curve_trials;
	oc.min_trials = s->min_trials;
	oc.max_trials = s->max_trials;
	oc.seed = s->seed;
	oc.progress = opt_progress;
	oc.progress_ctx = &o;
	o.last.budget = oc.budget_trials;
	if ((rc = bo_optimize(&ev, &oc, &res, err)))
		goto out;
	o.phase = 4;
	struct bo_opt_baseline bl[2] = { { "uniform", o.run.mult_u }, { "paper", o.run.mult_p } };
	if ((rc = bo_opt_verify(&ev, res.p, oc.seed, s->opt.verify_trials, res.floor, bl,
				o.run.n_base, s->opt.base, s->opt.n_base, s->opt.baseline_trials, NULL,
				&ver, err)))
		goto out;
	if ((rc = bd_store_read(d->store, names_fn, &nr, err)))
		goto out;
	struct bo_optrun_report rep = {
		.model = nr.model, .dataset = nr.dataset,
		.config = bo_sweep_config_json(&c->cfg, NULL, s->blocks, NULL),
		.grid = s->opt.grid, .n_grid = s->opt.n_grid, .seed = oc.seed,
		.budget_trials = oc.budget_trials, .baseline_trials = s->opt.baseline_trials,
		.n_refs = 0, .seconds = bd_now() - t0,
	};
	j = bo_optrun_json(&o.run, &res, &ver, &rep);
	if (o.run.note[0])
		json_object_set_new(j, "note", json_string(o.run.note));
	/* the progress at the end: the search's own totals */
	o.phase = 5;
	o.last.candidates = res.candidates;
	o.last.trials = res.trials;
	o.last.best_energy = res.energy / res.energy_o;
	o.last.best_accuracy = res.accuracy;
	if (!j || !(text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)))) {
		rc = bo_error_set(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	struct memo_io m = { &o, NULL, 0, 0, 0, NULL, NULL, NULL };
	if ((rc = memo_write(&o, &m, text, err)))
		goto out;
	*correct = llround(ver.accuracy[0] * (double)o.run.images);
	*images = o.run.images;
out:
	if (rc)
		name_field(err);
	free(text);
	json_decref(j);
	bo_opt_verification_release(&ver);
	bo_opt_result_release(&res);
	bo_optrun_release(&o.run);
	return rc;
}
