/* brownoutd: what the daemon's parts share.
 *
 *   main.c    flags, configuration file, subcommands, signals
 *   http.c    libmicrohttpd glue: requests, bodies, responses, static files
 *   api.c     the /api/v1 handlers
 *   jobs.c    sweep specs, jobs and their tasks, progress, results
 *   queue.c   the job/task state machine: claims, leases, commits (queue.h)
 *   pool.c    the local executor: a pool of worker threads running tasks
 *   remote.c  remote workers: /api/v1/worker/... and /api/v1/workers
 *   store.c   SQLite (store.h), auth.c tokens and hashes (auth.h)
 *
 * One struct bo_daemon is the context every part receives; there are no
 * mutable globals. */
#ifndef BROWNOUTD_H
#define BROWNOUTD_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <brownout/brownout.h>

#include "store.h"

#define BO_MAX_ROOTS 16
#define BO_JSON_BODY_MAX (1 << 20)    /* JSON request bodies */
#define BO_MAX_POINTS 1024
#define BO_MAX_REFS 32
#define BO_TRIAL_CAP 10000
#define BO_MAX_PROXIES 16
#define BO_ADDR_TEXT 48              /* an IPv4 or IPv6 address as text */
/* the SLURM launcher's batch script (slurm-template) when none is given;
 * a relative default is also looked for next to the binary (slurm.c) */
#define BO_SLURM_TEMPLATE "deploy/slurm/brownout-worker.sbatch"

/* ---- configuration ---- */

struct bo_config {
	char listen_host[64];     /* "127.0.0.1" */
	int listen_port;          /* 8080; 0 = any free port */
	char data_dir[1024];      /* "./var" */
	char web_dir[1024];       /* "web" */
	int workers;              /* default: number of cores */
	int threads_per_worker;   /* default 1 */
	int64_t upload_limit;     /* bytes, default 512 MiB */
	int n_roots;
	char roots[BO_MAX_ROOTS][1024]; /* allowed dataset roots (real paths) */
	int public_read;
	int http_threads;         /* libmicrohttpd's thread pool, default 4 */
	int connection_timeout;   /* seconds, default 30 */
	int per_ip_limit;         /* connections per IP, default 64 */
	int max_connections;      /* all connections together, default 512 */
	int header_timeout;       /* seconds to send a request's header, default 10 */
	int n_trusted;            /* proxies whose X-Forwarded-For is believed */
	char trusted[BO_MAX_PROXIES][BO_ADDR_TEXT];
	int queue_limit;          /* queued + running jobs, default 1000 */
	int64_t reserve_bytes;    /* DATA/space-reserve, spent on deletes when the
				   * disk is full; default 4 MiB, 0: none */
	int64_t dataset_max_images; /* images per dataset, default 10,000,000 */
	int64_t dataset_max_bytes;  /* uncompressed bytes per dataset, 0: 4 x upload_limit */
	/* per user, admins included (api.c: quotas; jobs.c: task plan) */
	int user_queued_jobs;     /* queued + running jobs of one user, default 100 */
	int64_t user_queued_trials; /* trials those jobs plan, default 10,240,000 */
	int64_t user_stored_bytes; /* uploads + estimated result rows, default 4 GiB */
	int job_max_tasks;        /* tasks one job is stored as, default 4096 */
	int lease_seconds;        /* a remote worker's claim without heartbeats, default 60 */
	/* executors (slurm.c): the local pool always (workers may be 0), and
	 * with executor = slurm the SLURM launcher beside it */
	int executor;             /* BO_EXECUTOR_LOCAL (default) | BO_EXECUTOR_SLURM */
	int workers_given;        /* workers was set (executor = slurm: default 0) */
	char slurm_partition[64]; /* "": the cluster's default */
	char slurm_account[64];   /* "": the user's default */
	char slurm_time[32];      /* --time of a worker, "": the partition's default */
	int slurm_cpus;           /* --cpus-per-task and worker threads, default 1 */
	int slurm_max_workers;    /* workers pending + running at most, default 4 */
	char slurm_template[1024]; /* the batch script, default deploy/slurm/brownout-worker.sbatch */
	char slurm_server_url[512]; /* how workers reach brownoutd, "": http://HOST:PORT */
	int slurm_poll;           /* seconds between looks at queue and squeue, default 5 */
};
enum { BO_EXECUTOR_LOCAL, BO_EXECUTOR_SLURM };

void bo_config_defaults(struct bo_config *c);
/* Read "key = value" lines (# comments); keys are the long flag names.
 * Returns 0, or -1 with a message naming file and line in err. */
int bo_config_file(struct bo_config *c, const char *path, struct bo_error *err);
/* Apply one option (as from a flag or the file): 0, or -1 with err. */
int bo_config_set(struct bo_config *c, const char *key, const char *value, struct bo_error *err);

/* ---- executor: runs tasks; the local pool now, a cluster later ---- */

struct bo_daemon;
struct bo_executor_ops {
	const char *name;
	bo_status (*start)(void *impl, struct bo_daemon *d, struct bo_error *err);
	void (*wake)(void *impl);                   /* new tasks were queued */
	void (*cancel_job)(void *impl, int64_t job); /* stop its tasks in flight */
	void (*stop)(void *impl);                   /* abandon tasks in flight, join */
	void (*free)(void *impl);
};
struct bo_executor {
	const struct bo_executor_ops *ops;
	void *impl;
};
bo_status bo_pool_new(struct bo_executor *ex, struct bo_error *err);

/* Live progress of jobs in flight, kept in memory (the store has the
 * committed part). */
struct bo_live {
	pthread_mutex_t mu;
	int n, cap;
	struct bo_live_job {
		int64_t job;
		int64_t images_inflight; /* of tasks now running */
		int64_t images_run;      /* since it started in this process */
		double t_first;          /* when it first ran here */
	} *jobs;
};

/* ---- the daemon ---- */

struct bo_daemon {
	struct bo_config cfg;
	struct bo_store *store;
	struct bo_executor exec;
	struct bo_live live;
	struct MHD_Daemon *mhd;
	struct bo_http *http;        /* connection tracking (http.c) */
	double started;           /* monotonic seconds */
	atomic_int stopping;
	atomic_llong requests[600];  /* by status code */
	atomic_llong images_total;   /* images evaluated by workers */
	/* images_total sampled at most once a second, for a rate over the
	 * last ~10 s that does not depend on who scrapes (under live.mu) */
	double rate_t[16];
	long long rate_images[16];
	int rate_next, rate_n;
	struct bo_remote *remote;    /* remote workers seen, blobs offered (remote.c) */
	struct bo_slurm *slurm;      /* the SLURM launcher, NULL unless executor = slurm */
	const char *openapi;         /* docs/openapi.yaml, compiled in */
	size_t openapi_len;
};

double bo_now(void); /* monotonic seconds */

/* ---- HTTP (http.c) ---- */

struct bo_req;
struct bo_user;

/* Start / stop the server. The bound port is written to *port. */
bo_status bo_http_start(struct bo_daemon *d, int *port, struct bo_error *err);
void bo_http_stop(struct bo_daemon *d);

/* Request accessors for handlers. */
const char *bo_req_method(const struct bo_req *r);
const char *bo_req_query(const struct bo_req *r, const char *key);
const char *bo_req_header(const struct bo_req *r, const char *key);
const struct bo_user *bo_req_user(const struct bo_req *r);
/* The body: JSON routes get it in memory (NUL-terminated), upload routes
 * as files (see bo_req_upload). */
const char *bo_req_body(const struct bo_req *r, size_t *len);
/* An uploaded file: the raw body (field NULL) or a multipart field.
 * Returns its temporary path (owned by the request; rename it to adopt it)
 * and size/sha256, or NULL when absent. */
const char *bo_req_upload(struct bo_req *r, const char *field, int64_t *size, const char **sha256);
void bo_req_adopt(struct bo_req *r, const char *field); /* do not unlink it */

/* Responses: each returns 0; the body is consumed. */
int bo_reply_json(struct bo_req *r, int status, json_t *body);
int bo_reply_text(struct bo_req *r, int status, const char *type, const char *text, size_t len);
int bo_reply_error(struct bo_req *r, const struct bo_error *err);
int bo_reply_fail(struct bo_req *r, bo_status st, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void bo_reply_header(struct bo_req *r, const char *name, const char *value);
int bo_reply_405(struct bo_req *r);
int bo_http_status(bo_status st);

/* ---- API (api.c) ---- */

/* Route a request under /api/v1 (path after the prefix, e.g. "/jobs/3"). */
int bo_api_handle(struct bo_daemon *d, struct bo_req *r, const char *path);
/* Does this request stream its body to files (uploads)? kind: 1 raw body,
 * 2 multipart, 0 JSON in memory. */
int bo_api_body_kind(const char *method, const char *path, const char *content_type);
int bo_api_needs_auth(const struct bo_daemon *d, const char *method, const char *path);

/* ---- remote workers (remote.c) ---- */

bo_status bo_remote_new(struct bo_remote **out, struct bo_error *err);
void bo_remote_free(struct bo_remote *rm);
/* /api/v1/worker/... (worker tokens only) and GET /api/v1/workers */
int bo_remote_handle(struct bo_daemon *d, struct bo_req *r, const char *path);
/* A regular file as the response body (application/octet-stream). */
int bo_reply_file(struct bo_req *r, const char *path);

/* ---- stored models and datasets (jobs.c) ---- */

/* A dataset as the store describes it. Upload paths are relative to the
 * data directory. */
struct bo_dataset_ref {
	char source[8];       /* "upload" | "path" */
	char format[8];       /* idx | cifar | npy | auto */
	char path[1024];
	char labels[1024];    /* "" when none */
	char split[8];        /* test | train */
};
bo_status bo_dataset_ref_open(const struct bo_daemon *d, const struct bo_dataset_ref *r,
			      struct bo_dataset **out, struct bo_error *err);
/* The library's dataset limits from the configuration (dataset-max-images,
 * dataset-max-bytes): used by the upload and registration checks and by
 * the workers' loads alike. */
void bo_dataset_limits_of(const struct bo_config *c, struct bo_dataset_limits *l);
/* Lexically normalise the absolute `path` into norm (no filesystem access,
 * so nothing about paths outside the roots is revealed) and find the allowed
 * root it lies under: its index, with *rel pointing into norm at the rest
 * ("." for the root itself); -1 when under none (or not absolute). */
int bo_root_of(const struct bo_config *c, const char *path, char *norm, size_t size,
	       const char **rel);
/* data_dir + "/" + rel into buf. */
void bo_data_path(const struct bo_daemon *d, const char *rel, char *buf, size_t size);

/* Column i of a row as JSON: its text as a string, or parsed as JSON;
 * null for SQL NULL (and for text that does not parse). */
json_t *bo_col_string(sqlite3_stmt *st, int i);
json_t *bo_col_json(sqlite3_stmt *st, int i);

/* ---- jobs (jobs.c) ---- */

/* A parsed, validated sweep spec (what POST /jobs takes). */
struct bo_job_spec {
	int64_t model, dataset;
	enum bo_deviation deviation;
	enum bo_target target;
	enum bo_act_sites sites;
	int n_p;
	double p[BO_MAX_POINTS];
	char *blocks, *block_p;      /* malloc'd or NULL */
	int trials, min_trials, max_trials;
	double ci_target;
	uint64_t seed;
	int bits;
	int64_t calib, limit;
	double energy_a;
	int n_refs;
	int64_t refs[BO_MAX_REFS];
	int n_mean, n_std;
	float mean[BO_MAX_CHANNELS], std[BO_MAX_CHANNELS];
	int priority;
	/* spec 4a, 4c: images per trial (n, 0 = all, BO_IMAGES_AUTO = auto)
	 * and the yield's floor (<= 0: clean accuracy - 0.01) */
	int64_t images_per_trial;
	double accuracy_floor;
};
void bo_job_spec_release(struct bo_job_spec *s);
/* Parse a JSON spec: unknown fields, types and ranges are errors naming
 * the field. */
bo_status bo_job_spec_parse(const json_t *j, struct bo_job_spec *s, struct bo_error *err);
/* The spec as JSON, defaults filled in (stored and shown). */
json_t *bo_job_spec_json(const struct bo_job_spec *s);
/* Trials the first round of tasks covers for each point. */
int bo_job_spec_first_trials(const struct bo_job_spec *s);
/* Trials the job may run at each point (trials, or max_trials when adaptive). */
int bo_job_spec_max_trials(const struct bo_job_spec *s);
/* images_per_trial = auto: the pilot's trials per point, max(min_trials, 2). */
int bo_job_spec_pilot_trials(const struct bo_job_spec *s);
/* Are the blocks block_p names blocks of model m, under the spec's block
 * map and activation sites, as the sweep will see them? 0, or BO_EINVAL
 * naming field "block_p" and listing the model's blocks. */
bo_status bo_job_spec_check_blocks(const struct bo_job_spec *s, const struct bo_model *m,
				   struct bo_error *err);

/* The stopping rule over a point's trial accuracies acc[0..n): the first
 * count m (1..n) at which bo_sweep_point_done holds for bo_summarize(acc,
 * m), with that summary in *s; else 0 and the summary of all n (s left
 * alone when n is 0). Exactly the brute-force loop's answer, in O(n) for
 * fixed trials and for adaptive points away from their target: a running
 * (Welford) lower bound of the CI rules counts out, bo_summarize confirms. */
int bo_job_first_done(const struct bo_sweep_config *c, const double *acc, int n,
		      struct bo_summary *s);

/* Tasks: a round of `trials` trials at each of n_points points is stored
 * as at most max_tasks tasks when it can: one trial per task while that
 * fits, else each point's trials split into this many (>= 1) ranges. */
int bo_job_task_chunks(int n_points, int trials, int max_tasks);
/* Insert trials [lo, hi) of `point` as k queued tasks of near-equal ranges. */
bo_status bo_job_add_tasks(sqlite3 *db, int64_t job, int point, int lo, int hi, int k,
			   struct bo_error *err);
/* The same at `images` per trial (0: the job's), as pilot tasks or not. */
bo_status bo_job_add_tasks_at(sqlite3 *db, int64_t job, int point, int lo, int hi, int k,
			      int64_t images, int pilot, struct bo_error *err);

/* The library's sweep configuration of a spec, less what needs the model
 * (norm, block map, rules): p points into the spec. */
void bo_job_spec_config(const struct bo_job_spec *s, int threads, struct bo_sweep_config *c);
/* All of it (pointers into spec / map / rules, which must outlive it);
 * norm from the spec or the model file's metadata. Returns 0 or -1 with
 * err. */
int bo_job_sweep_config(const struct bo_job_spec *s, const struct bo_model *m,
			const char *model_mean, const char *model_std,
			const struct bo_block_map *map, const struct bo_block_rule *rules,
			int n_rules, int threads, struct bo_sweep_config *c, struct bo_error *err);

/* The job object of the API (progress included) from the store. */
bo_status bo_job_get(struct bo_daemon *d, int64_t id, json_t **out, struct bo_error *err);
/* results: JSON report, or CSV text when csv. */
bo_status bo_job_results(struct bo_daemon *d, int64_t id, int csv, json_t **json, char **text,
			 size_t *len, struct bo_error *err);

/* Every committed trial of a job (point, p, trial, correct, images,
 * accuracy) with its provenance: JSON, or CSV text when csv; point >= 0:
 * that point only. BO_ELIMIT beyond BO_TRIAL_ROWS_MAX rows. */
#define BO_TRIAL_ROWS_MAX 100000
bo_status bo_job_trials(struct bo_daemon *d, int64_t id, int point, int csv, json_t **json,
			char **text, size_t *len, struct bo_error *err);

/* Iso-accuracy energy reduction of jobs against reference models whose
 * clean accuracy on each job's images is known from earlier jobs. */
bo_status bo_analysis(struct bo_daemon *d, const int64_t *jobs, int n_jobs, const int64_t *refs,
		      int n_refs, json_t **out, struct bo_error *err);

/* live progress (pool.c updates it, jobs.c reads it) */
void bo_live_add(struct bo_live *l, int64_t job, int64_t inflight_delta, int64_t run_delta);
void bo_live_get(struct bo_live *l, int64_t job, int64_t *inflight, double *ips);
void bo_live_drop(struct bo_live *l, int64_t job);

#endif
