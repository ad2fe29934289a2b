/* brownout: the energy optimizer (spec section 8, docs/optimizer.md).
 *
 * Finds per-block fault probabilities p_i minimising the energy
 * E = sum_i eta(p_i) V_i subject to a mean accuracy of at least A*. The
 * search sees the model only through an evaluator (struct bo_opt_evaluator:
 * the accuracy of an allocation on trials [t0, t1) of a random stream, and
 * its energy), so tests drive it with mock sensitivity curves and the CLI
 * with a sweeper (bo_sweeper_trial_alloc). Every p it tries lies on a grid
 * (plus p = 0, reliable). Three phases:
 *  1. curves: each block alone at each grid p (the others reliable),
 *     curve_trials trials: a loss curve per block, made non-decreasing in p;
 *  2. allocation: the exact optimum of the separable model (losses add)
 *     over the grid, by merging the blocks' (loss, energy saved) options
 *     into one Pareto front;
 *  3. full model: candidates evaluated on the whole model, so block
 *     interactions are measured: a bisection along the Pareto front for
 *     the cheapest allocation that meets A*, then local search (one block
 *     a grid step up, or one up and another down) until no move helps or
 *     the budget is spent. Candidates are compared on the same trials
 *     (trial t = the same chip's random draws), trials are added where a
 *     decision is close (up to max_trials).
 * Deterministic: an evaluation is a function of (p, seed, trial) and the
 * search is sequential, so the same seed gives the same answer whatever
 * the thread count. */
#ifndef BROWNOUT_OPTIMIZE_H
#define BROWNOUT_OPTIMIZE_H

#include <stdint.h>

#include <brownout/status.h>
#include <brownout/sweep.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BO_OPT_MAX_BLOCKS 64
#define BO_OPT_MAX_GRID 64
#define BO_OPT_MAX_TRIALS 1000

/* What the optimizer evaluates. evaluate() sets acc[t - t0], the accuracy
 * of allocation p[0..n_blocks) on trial t of stream `seed`, for t in
 * [t0, t1); it must be a function of (p, seed, t) only. energy() is the
 * energy per inference of p; NULL: sum_i eta(p_i, energy_a) volume[i]. */
struct bo_opt_evaluator {
	int n_blocks;
	const char *const *names;   /* block names (messages, reports); may be NULL */
	bo_status (*evaluate)(void *ctx, const double *p, uint64_t seed, int t0, int t1,
			      double *acc, struct bo_error *err);
	double (*energy)(void *ctx, const double *p);
	const double *volume;       /* V_i, with energy == NULL */
	double energy_a;            /* with energy == NULL; <= 0: BO_ENERGY_A */
	double clean_accuracy;      /* the accuracy at p = 0 everywhere (exact) */
	void *ctx;
};

/* Progress after every evaluated candidate; return non-zero to cancel
 * (bo_optimize then returns BO_ECANCELLED). */
struct bo_opt_progress {
	int phase;               /* 1 curves, 2 front, 3 local search */
	int candidates;          /* allocations evaluated so far */
	int64_t trials, budget;  /* trials used, the budget */
	double best_energy;      /* the incumbent's E / E_o */
	double best_accuracy;    /* its estimated mean accuracy */
};
typedef int (*bo_opt_progress_fn)(void *ctx, const struct bo_opt_progress *pr);

struct bo_opt_config {
	/* A*: accuracy_floor when > 0, else clean accuracy - max_loss */
	double accuracy_floor;
	double max_loss;            /* default 0.01 */
	const double *grid;         /* p grid, ascending, in (0, 1] */
	int n_grid;                 /* 1..BO_OPT_MAX_GRID */
	int64_t budget_trials;      /* all full-model trials of the search; default 2000 */
	int curve_trials;           /* per (block, grid p) in phase 1; default 3 */
	int min_trials, max_trials; /* per candidate in phase 3; default 4, 16 */
	uint64_t seed;              /* the search's stream; default 1 */
	bo_opt_progress_fn progress;
	void *progress_ctx;
};

/* Every field at its default; grid NULL (the caller gives one). */
void bo_opt_config_defaults(struct bo_opt_config *c);

/* The default grid: n log-spaced p from lo to hi (n >= 2, 0 < lo < hi <= 1). */
int bo_opt_log_grid(double lo, double hi, int n, double *out);

struct bo_opt_result {
	int n_blocks, n_grid;
	double floor;               /* A* */
	double *p;                  /* the chosen allocation, n_blocks */
	double energy, energy_o;    /* its E; E at p = 0 everywhere */
	double accuracy;            /* its search estimate (stream `seed`) */
	int accuracy_trials;
	double predicted_loss;      /* of the separable model at p */
	double *curve;              /* phase 1: mean accuracy [block * n_grid + g],
				     * NaN where not evaluated (past 2 L) */
	int front_size;             /* phase 2's Pareto front */
	double separable_energy;    /* phase 2's optimum under the separable model */
	int64_t trials;             /* evaluate()d trials, every phase */
	int64_t curve_trials_used;
	int candidates;             /* full-model allocations evaluated (phase 3) */
	int moves;                  /* local-search moves accepted */
	int budget_exhausted;       /* 1 when the budget ended the search */
	/* A lower bound on the energy of any allocation meeting A*, from the
	 * phase-1 curves, assuming faults elsewhere never raise the accuracy
	 * (monotonicity): block i alone must meet A*, so p_i < p_i^fail, the
	 * first grid p whose curve mean is below A* (1 when none is), and
	 * E >= E(p^fail). As noisy as the curves (their means, no CI). */
	double lower_bound_energy;
};

/* The search. BO_EINVAL naming the field (accuracy_floor, max_loss, grid,
 * budget_trials, curve_trials, min_trials) for a bad configuration,
 * including a floor above the clean accuracy and a budget below what the
 * curves need (n_blocks x n_grid x curve_trials + min_trials). */
bo_status bo_optimize(const struct bo_opt_evaluator *ev, const struct bo_opt_config *cfg,
		      struct bo_opt_result *out, struct bo_error *err);
void bo_opt_result_release(struct bo_opt_result *r);

/* ---- verification (spec section 8) ---- */

/* The verification's seed, derived from the search's (SplitMix64 of
 * seed ^ a constant, 63 bits): a fresh stream, reproducible from the
 * search seed. */
uint64_t bo_opt_verify_seed(uint64_t seed);

/* A baseline family: p_i = min(1, mult[i] x p) along a p grid (uniform:
 * every mult 1; the paper's p_B4 = 5 p_B3 = 5 p_B2 = 10 p_B1: 1, 2, 2, 10). */
struct bo_opt_baseline {
	const char *name;
	const double *mult;         /* n_blocks */
};

struct bo_opt_baseline_result {
	char name[64];
	int n;                      /* grid points evaluated (ascending p: a scan
				     * stops at the first below the target) */
	double *p, *energy, *accuracy;
	int reached;                /* 1: energy is the iso-accuracy energy */
	/* 0 with reached = 0: "above": even the grid's smallest p is below the
	 * target; "below": every grid p meets it (the iso energy lies below
	 * the grid's lowest); never extrapolated */
	int below;
	double iso_energy;          /* interpolated in log E */
	double saving;              /* 1 - E / iso_energy */
};

struct bo_opt_verification {
	uint64_t seed;
	int trials;
	double *accuracy;           /* per trial */
	struct bo_summary summary;  /* mean, 95 % CI (bounded to [0, 1]) */
	double energy, energy_ratio; /* E, E / E_o */
	int meets_floor;            /* the CI reaches the floor: ci_hi >= A* */
	int n_baselines;
	struct bo_opt_baseline_result *baselines;
	int has_reduction;          /* a frontier was given and covers the accuracy */
	double reference_energy, reduction; /* E_ref(accuracy), E_ref / E */
};

/* Re-evaluate allocation p with a fresh seed (bo_opt_verify_seed(seed)) on
 * `trials` trials; each baseline along `grid` (ascending p) at
 * baseline_trials trials per point on the same stream, its iso-accuracy
 * energy at the verified mean (bo_opt_iso_energy); frontier (may be NULL)
 * the iso-accuracy reduction against reference models. */
bo_status bo_opt_verify(const struct bo_opt_evaluator *ev, const double *p, uint64_t seed,
			int trials, double floor, const struct bo_opt_baseline *baselines,
			int n_baselines, const double *grid, int n_grid, int baseline_trials,
			const struct bo_frontier *frontier, struct bo_opt_verification *out,
			struct bo_error *err);
void bo_opt_verification_release(struct bo_opt_verification *v);

/* The energy at which a curve reaches accuracy `target`: points (energy[k],
 * acc[k]) by energy descending; the first k with acc[k] < target brackets
 * it with k - 1, interpolated linearly in log energy. Returns 0 with
 * *out; 1 when acc[0] < target already (not reached within the grid);
 * 2 when no point falls below the target (below the grid); -1 for n < 1. */
int bo_opt_iso_energy(const double *energy, const double *acc, int n, double target,
		      double *out);

#ifdef __cplusplus
}
#endif
#endif
