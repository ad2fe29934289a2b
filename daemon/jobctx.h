/* A job's sweeper built from its stored spec (jobctx.c): what an executor
 * keeps of the job it ran last. One piece for both executors that run
 * tasks, brownoutd's local pool (pool.c) and `brownout worker`
 * (clients/cli/worker.c), so a job's clean pass, its reference models and
 * its trials are the same numbers whichever ran them. */
#ifndef BROWNOUTD_JOBCTX_H
#define BROWNOUTD_JOBCTX_H

#include <stdint.h>

#include "brownoutd.h"
#include "jobs.h"

struct bd_jobctx {
	int64_t job;
	int threads;
	struct bd_job_spec spec;
	struct bo_model *m;
	struct bo_dataset *ds;          /* the caller opens it between begin and finish */
	struct bo_block_map *map;
	struct bo_block_rule *rules;
	int n_rules;
	struct bo_sweep_config cfg;     /* as built: norm resolved; points into the above */
	struct bo_sweeper *sw;          /* set once finish succeeded */
};

/* Free everything and zero c (NULL-safe, idempotent). */
void bd_jobctx_release(struct bd_jobctx *c);

/* Is c the built sweeper of job `job`? */
int bd_jobctx_ready(const struct bd_jobctx *c, int64_t job);

/* Start building job `job` into c (released first): parse its stored spec
 * and load the model at model_path. The caller then opens the job's
 * dataset into c->ds and calls bd_jobctx_finish. On failure c is released. */
bo_status bd_jobctx_begin(struct bd_jobctx *c, int64_t job, const json_t *spec,
			  const char *model_path, struct bo_error *err);

/* Block map and rules of the spec, the sweep configuration (normalisation
 * from the spec, else the model's stored mean/std: JSON arrays of numbers
 * or NULL), and the sweeper (its clean pass: calib may cancel it). On
 * failure c is released. */
bo_status bd_jobctx_finish(struct bd_jobctx *c, const json_t *mean, const json_t *std,
			   int threads, bo_progress_fn calib, void *calib_ctx,
			   struct bo_error *err);

/* The clean pass as the store records it: {"points": [{p, eta, energy}],
 * "mean": [...], "std": [...]} (the normalisation as resolved). */
json_t *bd_jobctx_point_info(const struct bd_jobctx *c);
/* {"accuracy", "parameters", "activations", "images", "point_info"}. */
json_t *bd_jobctx_clean_json(const struct bd_jobctx *c);

/* A job's clean pass as an executor measured it (point_info: the JSON
 * text of bd_jobctx_point_info). */
struct bd_clean_rec {
	int64_t job;
	double accuracy;
	int64_t parameters, activations, images;
	const char *point_info;
};
/* Record it once, in one transaction: a later one (another executor's,
 * of the same numbers) changes nothing. The first also records the
 * warning of an activation-site rule (the job's stored activation_sites)
 * under which the model has no site, in the job's events. */
bo_status bd_job_record_clean(struct bd_store *s, const struct bd_clean_rec *c,
			      struct bo_error *err);

/* Reference model at model_path (stored mean/std: JSON arrays or NULL) on
 * the job's images: the job's normalisation rule (the spec's mean/std,
 * else the reference's own), limit and activation sites, through
 * bo_reference_eval as `brownout sweep --references` measures it. */
bo_status bd_jobctx_reference(const struct bd_jobctx *c, const char *model_path,
			      const json_t *mean, const json_t *std,
			      struct bo_reference_result *out, struct bo_error *err);

#endif
