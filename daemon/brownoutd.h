/* brownoutd: what the daemon's parts share.
 *
 *   main.c    flags, configuration file, subcommands, signals
 *   http.c    libmicrohttpd glue: requests, bodies, responses, static files
 *   api.c     the route table; api_*.c its handlers, one file a resource (api.h)
 *   route.c   matching requests against the table (route.h)
 *   jobs.c    sweep specs, jobs and their tasks, progress, results
 *   queue.c   the job/task state machine: claims, leases, commits (queue.h)
 *   pool.c    the local executor: a pool of worker threads running tasks
 *   remote.c  remote workers: /api/v1/worker/... and /api/v1/workers
 *   store.c   SQLite (store.h), auth.c tokens and hashes (auth.h)
 *
 * One struct bd_daemon is the context every part receives; there are no
 * mutable globals. This header holds it and what it embeds (the executor
 * interface, live progress); each module's functions are in its own
 * header: config.h, http.h, route.h, api.h, jobs.h, queue.h, remote.h,
 * slurm.h, jobctx.h, store.h, auth.h. */
#ifndef BROWNOUTD_H
#define BROWNOUTD_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <brownout/brownout.h>

#include "config.h"
#include "store.h"

/* ---- executor: runs tasks; the local pool now, a cluster later ---- */

struct bd_daemon;
struct bd_route;
struct bd_executor_ops {
	const char *name;
	bo_status (*start)(void *impl, struct bd_daemon *d, struct bo_error *err);
	void (*wake)(void *impl);                   /* new tasks were queued */
	void (*cancel_job)(void *impl, int64_t job); /* stop its tasks in flight */
	void (*stop)(void *impl);                   /* abandon tasks in flight, join */
	void (*free)(void *impl);
};
struct bd_executor {
	const struct bd_executor_ops *ops;
	void *impl;
};
bo_status bd_pool_new(struct bd_executor *ex, struct bo_error *err);

/* Live progress of jobs in flight, kept in memory (the store has the
 * committed part). */
struct bd_live {
	pthread_mutex_t mu;
	int n, cap;
	struct bd_live_job {
		int64_t job;
		int64_t images_inflight; /* of tasks now running */
		int64_t images_run;      /* since it started in this process */
		double t_first;          /* when it first ran here */
	} *jobs;
};

/* ---- the daemon ---- */

struct bd_daemon {
	struct bd_config cfg;
	struct bd_store *store;
	struct bd_executor exec;
	struct bd_live live;
	struct MHD_Daemon *mhd;
	struct bd_http *http;        /* connection tracking (http.c) */
	double started;           /* monotonic seconds */
	atomic_int stopping;
	atomic_llong requests[600];  /* by status code */
	atomic_llong images_total;   /* images evaluated by workers */
	/* images_total sampled at most once a second, for a rate over the
	 * last ~10 s that does not depend on who scrapes (under live.mu) */
	double rate_t[16];
	long long rate_images[16];
	int rate_next, rate_n;
	struct bd_remote *remote;    /* remote workers seen, blobs offered (remote.c) */
	struct bd_slurm *slurm;      /* the SLURM launcher, NULL unless executor = slurm */
	const struct bd_route *routes; /* the API's route table (api.c), for http.c */
	const char *openapi;         /* docs/openapi.yaml, compiled in */
	size_t openapi_len;
};

double bd_now(void); /* monotonic seconds */


#endif
