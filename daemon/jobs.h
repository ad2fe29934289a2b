/* brownoutd jobs (jobs.c): sweep specs (parsed, validated, stored),
 * jobs and their tasks, progress, results, analysis; the data directory's
 * datasets as the store describes them. */
#ifndef BO_JOBS_H
#define BO_JOBS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include <brownout/brownout.h>
#include <brownout/optimize.h>

struct bd_daemon;
struct bd_config;
struct bd_live;

#define BO_MAX_POINTS 1024
#define BO_MAX_REFS 32
#define BO_TRIAL_CAP 10000

/* ---- stored models and datasets ---- */

/* A dataset as the store describes it. Upload paths are relative to the
 * data directory. */
struct bd_dataset_ref {
	char source[8];       /* "upload" | "path" */
	char format[8];       /* idx | cifar | npy | auto */
	char path[1024];
	char labels[1024];    /* "" when none */
	char split[8];        /* test | train */
};
bo_status bd_dataset_ref_open(const struct bd_daemon *d, const struct bd_dataset_ref *r,
			      struct bo_dataset **out, struct bo_error *err);
/* The library's dataset limits from the configuration (dataset-max-images,
 * dataset-max-bytes): used by the upload and registration checks and by
 * the workers' loads alike. */
void bd_dataset_limits_of(const struct bd_config *c, struct bo_dataset_limits *l);
/* Lexically normalise the absolute `path` into norm (no filesystem access,
 * so nothing about paths outside the roots is revealed) and find the allowed
 * root it lies under: its index, with *rel pointing into norm at the rest
 * ("." for the root itself); -1 when under none (or not absolute). */
int bd_root_of(const struct bd_config *c, const char *path, char *norm, size_t size,
	       const char **rel);
/* data_dir + "/" + rel into buf. */
void bd_data_path(const struct bd_daemon *d, const char *rel, char *buf, size_t size);

/* Column i of a row as JSON: its text as a string, or parsed as JSON;
 * null for SQL NULL (and for text that does not parse). */
json_t *bd_col_string(sqlite3_stmt *st, int i);
json_t *bd_col_json(sqlite3_stmt *st, int i);

/* ---- jobs ---- */

/* A parsed, validated sweep spec (what POST /jobs takes). */
struct bd_job_spec {
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
	/* spec 4b: "independent" (default) or "nested" weight faults */
	enum bo_weight_faults weight_faults;
	/* kind "optimize" (daemon/optjob.c): one point p = 0, one trial, and
	 * the optimizer's options (min/max_trials, accuracy_floor and seed are
	 * the fields above, at the optimizer's defaults) */
	int optimize;
	struct bd_job_opt {
		double max_loss;            /* > 0 unless accuracy_floor is */
		int n_grid, n_base;
		double grid[BO_OPT_MAX_GRID], base[BO_OPT_MAX_GRID];
		int64_t budget_trials;
		int curve_trials, verify_trials, baseline_trials;
		char *policy_blocks;        /* malloc'd or NULL */
	} opt;
};
void bd_job_spec_release(struct bd_job_spec *s);
/* Parse a JSON spec: unknown fields, types and ranges are errors naming
 * the field. */
bo_status bd_job_spec_parse(const json_t *j, struct bd_job_spec *s, struct bo_error *err);
/* The spec as JSON, defaults filled in (stored and shown). */
json_t *bd_job_spec_json(const struct bd_job_spec *s);
/* Caps of an optimize job's options (every one a user controls). */
#define BO_OPT_JOB_MAX_BUDGET 100000
/* The trials an optimize job may run at most: its budget, the
 * verification and both baselines' grids (for the trial quota). */
int64_t bd_job_spec_opt_trials(const struct bd_job_spec *s);
/* Trials the first round of tasks covers for each point. */
int bd_job_spec_first_trials(const struct bd_job_spec *s);
/* Trials the job may run at each point (trials, or max_trials when adaptive). */
int bd_job_spec_max_trials(const struct bd_job_spec *s);
/* images_per_trial = auto: the pilot's trials per point, max(min_trials, 2). */
int bd_job_spec_pilot_trials(const struct bd_job_spec *s);
/* Are the blocks block_p names blocks of model m, under the spec's block
 * map and activation sites, as the sweep will see them? 0, or BO_EINVAL
 * naming field "block_p" and listing the model's blocks. */
bo_status bd_job_spec_check_blocks(const struct bd_job_spec *s, const struct bo_model *m,
				   struct bo_error *err);

/* The stopping rule over a point's trial accuracies acc[0..n): the first
 * count m (1..n) at which bo_sweep_point_done holds for bo_summarize(acc,
 * m), with that summary in *s; else 0 and the summary of all n (s left
 * alone when n is 0). Exactly the brute-force loop's answer, in O(n) for
 * fixed trials and for adaptive points away from their target: a running
 * (Welford) lower bound of the CI rules counts out, bo_summarize confirms. */
int bd_job_first_done(const struct bo_sweep_config *c, const double *acc, int n,
		      struct bo_summary *s);

/* Tasks: a round of `trials` trials at each of n_points points is stored
 * as at most max_tasks tasks when it can: one trial per task while that
 * fits, else each point's trials split into this many (>= 1) ranges. */
int bd_job_task_chunks(int n_points, int trials, int max_tasks);
/* Insert trials [lo, hi) of `point` as k queued tasks of near-equal ranges. */
bo_status bd_job_add_tasks(sqlite3 *db, int64_t job, int point, int lo, int hi, int k,
			   struct bo_error *err);
/* The same at `images` per trial (0: the job's), as pilot tasks or not. */
bo_status bd_job_add_tasks_at(sqlite3 *db, int64_t job, int point, int lo, int hi, int k,
			      int64_t images, int pilot, struct bo_error *err);

/* The library's sweep configuration of a spec, less what needs the model
 * (norm, block map, rules): p points into the spec. */
void bd_job_spec_config(const struct bd_job_spec *s, int threads, struct bo_sweep_config *c);
/* All of it (pointers into spec / map / rules, which must outlive it);
 * norm from the spec or the model file's metadata. BO_OK, or BO_EINVAL
 * when the model has no normalisation (err says how to give it). */
bo_status bd_job_sweep_config(const struct bd_job_spec *s, const struct bo_model *m,
			      const char *model_mean, const char *model_std,
			      const struct bo_block_map *map, const struct bo_block_rule *rules,
			      int n_rules, int threads, struct bo_sweep_config *c,
			      struct bo_error *err);

/* The job object of the API (progress included) from the store. */
bo_status bd_job_get(struct bd_daemon *d, int64_t id, json_t **out, struct bo_error *err);
/* results: JSON report, or CSV text when csv. */
bo_status bd_job_results(struct bd_daemon *d, int64_t id, int csv, json_t **json, char **text,
			 size_t *len, struct bo_error *err);

/* Every committed trial of a job (point, p, trial, correct, images,
 * accuracy) with its provenance: JSON, or CSV text when csv; point >= 0:
 * that point only. BO_ELIMIT beyond BO_TRIAL_ROWS_MAX rows. */
#define BO_TRIAL_ROWS_MAX 100000
bo_status bd_job_trials(struct bd_daemon *d, int64_t id, int point, int csv, json_t **json,
			char **text, size_t *len, struct bo_error *err);

/* Iso-accuracy energy reduction of jobs against reference models whose
 * clean accuracy on each job's images is known from earlier jobs. */
bo_status bd_analysis(struct bd_daemon *d, const int64_t *jobs, int n_jobs, const int64_t *refs,
		      int n_refs, json_t **out, struct bo_error *err);

/* live progress (pool.c updates it, jobs.c reads it) */
void bd_live_add(struct bd_live *l, int64_t job, int64_t inflight_delta, int64_t run_delta);
void bd_live_get(struct bd_live *l, int64_t job, int64_t *inflight, double *ips);
void bd_live_drop(struct bd_live *l, int64_t job);

#endif
