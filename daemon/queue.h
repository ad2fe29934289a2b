/* brownoutd's job/task state machine (queue.c): the one place that moves
 * tasks between queued, running (leased) and done, and jobs between
 * queued, running, done, failed and cancelled. Executors (the local pool,
 * remote workers over HTTP) only run the tasks they are handed and report
 * back through these calls. */
#ifndef BROWNOUTD_QUEUE_H
#define BROWNOUTD_QUEUE_H

#include <stdint.h>

#include "brownoutd.h"
#include "jobs.h"

/* Trials one commit carries at most (a slice, see pool.c). */
#define BO_QUEUE_SLICE_MAX 256
#define BO_QUEUE_HOLDER 64 /* bytes of a lease holder's name */

/* A claimed task: a point x trials [lo, hi), or reference `point`. */
struct bd_task {
	int64_t id, job, owner;
	int reference;
	int point, lo, hi;
	int64_t images;       /* images per trial; 0: the job's (images_per_trial) */
	int pilot;            /* auto's pilot trials of the point, at min(N, 256) */
	int64_t lease;        /* the claim's lease id (> 0) */
	int64_t deadline_ms;  /* Unix ms; 0: none (local claims) */
};

/* Unix time in milliseconds (the clock leases are kept in). */
int64_t bd_queue_now_ms(void);

/* ---- creating ---- */

/* The first round of tasks of job `job` (spec s) and its reference tasks,
 * at most max_tasks together (one per point and reference at least);
 * inside the job's insert transaction. */
bo_status bd_queue_create_tasks(sqlite3 *db, int64_t job, const struct bd_job_spec *s,
				int max_tasks, struct bo_error *err);

/* ---- claiming ---- */

struct bd_claim {
	int64_t last_owner;   /* in: fair share, the owner served last */
	const char *holder;   /* in: who claims ("local", a worker's name) */
	int64_t now_ms;       /* in: the clock */
	int64_t lease_ms;     /* in: lease length; 0: no deadline */
	int found;            /* out: a task was claimed into t */
	int expired;          /* out: expired leases put back to queued first */
	struct bd_task t;
};
/* One transaction: put tasks whose lease expired back to queued, then
 * claim the next task: round-robin over owners with runnable tasks (the
 * owner after last_owner, wrapping), then the owner's jobs by priority,
 * then age (job id, task id). The job becomes running. */
bo_status bd_queue_claim(struct bd_store *s, struct bd_claim *c, struct bo_error *err);
/* The same inside a caller's transaction. */
bo_status bd_queue_claim_db(sqlite3 *db, struct bd_claim *c, struct bo_error *err);

/* Extend lease `lease` to now_ms + lease_ms. BO_ECONFLICT when the lease is
 * gone (expired, requeued, taken over, its task finished or cancelled);
 * the task is copied to *t (may be NULL) when it is held. */
bo_status bd_queue_renew(struct bd_store *s, int64_t lease, int64_t now_ms, int64_t lease_ms,
			 struct bd_task *t, struct bo_error *err);

/* Put every task whose lease deadline is before now_ms back to queued;
 * *n counts them (may be NULL). */
bo_status bd_queue_expire(struct bd_store *s, int64_t now_ms, int *n, struct bo_error *err);

/* Put every running task of a live job back to queued (at start: the
 * claims of a process that is gone). */
bo_status bd_queue_requeue_all(struct bd_store *s, struct bo_error *err);

/* ---- committing ---- */

struct bd_commit {
	struct bd_task t;      /* as claimed: the lease must still be held */
	int64_t now_ms;
	int n;                 /* trials run, from t.lo (<= BO_QUEUE_SLICE_MAX) */
	int64_t correct[BO_QUEUE_SLICE_MAX];
	int64_t images;        /* images per trial */
	double cost[BO_QUEUE_SLICE_MAX][2]; /* a pilot's trials: seconds, fixed part and images */
	/* reference tasks */
	int64_t ref_correct, ref_images, ref_parameters, ref_activations;
	int workers;           /* trials a point in an adaptive round */
	int max_tasks;         /* job-max-tasks, for adaptive rounds */
	int requeue;           /* nothing ran (or stop): put the rest back */
	int delete_task;       /* cancelled: drop it */
	char failure[BO_ERROR_TEXT]; /* fail the job with this */
	int queued_more;       /* out: new tasks were added */
	int job_ended;         /* out: the job is done, failed or gone */
	int recorded;          /* out: trials recorded (n, or 0) */
};
/* One transaction: record the n trials (or the reference) and end the
 * lease. A multi-trial task that ran part of its range leaves the rest as
 * a new queued task; a job with no task left gets another adaptive round
 * or is done. BO_ECONFLICT (nothing recorded) when the lease is not held
 * any more: it expired (now_ms past its deadline), was requeued or taken
 * over, so a trial is never counted twice. A cancelled or deleted job
 * takes nothing and says job_ended. */
bo_status bd_queue_commit(struct bd_store *s, struct bd_commit *c, struct bo_error *err);

/* ---- cancelling ---- */

/* Drop the queued tasks of job (inside the cancel's transaction); running
 * ones end when their holders report, which bd_queue_commit then drops. */
bo_status bd_queue_cancel_tasks(sqlite3 *db, int64_t job, struct bo_error *err);

#endif
