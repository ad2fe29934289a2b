/* The energy optimizer over a sweeper (optrun.c), shared by `brownout
 * optimize` (clients/cli/optimize_cmd.c) and brownoutd's optimize jobs
 * (daemon/optjob.c): the optimizer's blocks (the sweeper's parts that hold
 * faultable values under the target), the evaluator over
 * bo_sweeper_trial_alloc, the two baselines (uniform p; the paper's policy
 * p_B4 = 5 p_B3 = 5 p_B2 = 10 p_B1) and the report's JSON, so that a job's
 * answer is the CLI's for the same options and seed. */
#ifndef BO_OPTRUN_H
#define BO_OPTRUN_H

#include <jansson.h>

#include <brownout/brownout.h>
#include <brownout/optimize.h>

/* Every trial uses stream key 1 (bo_sweeper_trial_alloc): trial t of any
 * allocation is the same chip's draws, those of `brownout sweep --p 1
 * --block-p ...`. */
#define BO_OPTRUN_KEY 1.0

struct bo_optrun {
	struct bo_sweeper *sw;      /* not owned */
	int n_parts;
	const struct bo_part *parts;
	int nb;                     /* optimizer blocks */
	int *part_of;               /* block -> part */
	double *pp;                 /* p per part (scratch) */
	const char **names;         /* block names, "(none)" for the unnamed part */
	double *vol, *mult_u, *mult_p;
	int n_base;                 /* baselines: 1 (uniform) or 2 (and the paper's) */
	int64_t images;
	char note[256];             /* "" or why the paper's policy is left out */
	/* trials stop early when this returns non-zero (cancel, shutdown) */
	bo_progress_fn trial_progress;
	void *trial_ctx;
	struct bo_opt_evaluator ev; /* ctx = this */
};

/* The blocks of sweeper sw under target, the evaluator (energy_a: the
 * sweep's), the baselines (policy_blocks: "B1,B2,B3,B4", NULL: layer1..4
 * when the model has them, else the paper's policy is left out with a
 * note). BO_EINVAL with field "blocks" (more than BO_OPT_MAX_BLOCKS, or
 * nothing to fault) or "policy_blocks" (naming the model's blocks).
 * r is released on failure. */
bo_status bo_optrun_init(struct bo_optrun *r, struct bo_sweeper *sw, enum bo_target target,
			 double energy_a, const char *policy_blocks, struct bo_error *err);
/* NULL-safe, idempotent. */
void bo_optrun_release(struct bo_optrun *r);

/* The --block-p of a sweep at --p 1 that runs allocation p's trials. */
void bo_optrun_block_p(const struct bo_optrun *r, const double *p, char *buf, size_t size);

/* What the report says beside the search and the verification. */
struct bo_optrun_report {
	const char *model, *dataset;
	json_t *config;             /* consumed */
	const double *grid;
	int n_grid;
	uint64_t seed;
	int64_t budget_trials;
	int baseline_trials;
	int n_refs;                 /* > 0: "references" in the verification */
	double seconds;
};

/* `brownout optimize --json`: model, dataset, config, clean_accuracy,
 * accuracy_floor, images, allocation [{block, p, eta, stored_values,
 * energy_share}], energy, energy_o, energy_ratio, search {...},
 * verification {..., baselines}, evaluations, seconds. */
json_t *bo_optrun_json(const struct bo_optrun *r, const struct bo_opt_result *res,
		       const struct bo_opt_verification *ver, const struct bo_optrun_report *rep);

#endif
