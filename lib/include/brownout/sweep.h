/* brownout: fault sweeps, statistics and energy (spec sections 4 to 6).
 *
 * A sweep evaluates a model under faults at several points (a fault
 * probability p, possibly shaped per block) for several trials (chips) each.
 * A struct bo_sweeper holds everything a trial needs: the session, the
 * quantisation scales (weights from max|w|, activations calibrated on the
 * clean network), the per-block bookkeeping; bo_sweeper_trial() runs one
 * (point, trial) and is deterministic in (seed, point, trial) whatever the
 * batch size and thread count, so a daemon can split a sweep into tasks. */
#ifndef BROWNOUT_SWEEP_H
#define BROWNOUT_SWEEP_H

#include <brownout/dataset.h>
#include <brownout/engine.h>
#include <brownout/fault.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- statistics ---- */

/* Quantile of Student's t distribution with df degrees of freedom
 * (df > 0, 0 < prob < 1); e.g. bo_student_t_quantile(0.975, 4) = 2.776. */
double bo_student_t_quantile(double prob, double df);

struct bo_summary {
	int n;
	double mean;
	double std;          /* sample standard deviation (n - 1); 0 when n < 2 */
	double ci_lo, ci_hi; /* 95 % Student t interval of the mean; = mean when n < 2 */
	double half;         /* its half-width t * std / sqrt(n) before any bounding
			      * (the stopping rule's measure); 0 when n < 2 */
};
void bo_summarize(const double *x, int n, struct bo_summary *s);
/* The same for values that lie in [0, 1] (trial accuracies): the Student t
 * interval intersected with [0, 1]. The mean lies in [0, 1], so the
 * intersection covers it exactly when the Student t interval does: same
 * coverage, never an impossible bound. `half` stays the unbounded one. */
void bo_summarize_accuracy(const double *x, int n, struct bo_summary *s);

/* ---- energy (spec section 6) ---- */

#define BO_ENERGY_A 12.8
/* eta(p) = min(1, -ln(p) / a); eta(0) = 1. */
double bo_eta(double p, double a);

/* Reliable references (eta = 1) as (energy E_o, clean accuracy) points. */
struct bo_ref_point {
	double energy;
	double accuracy;
};
/* The frontier: the references no other reference beats on both energy and
 * accuracy, by accuracy ascending. */
struct bo_frontier {
	int n;
	struct bo_ref_point *pts;
};
bo_status bo_frontier_build(const struct bo_ref_point *refs, int n, struct bo_frontier *f,
			    struct bo_error *err);
void bo_frontier_release(struct bo_frontier *f);
/* E_ref(accuracy), interpolated linearly in log E between the neighbouring
 * frontier points. Returns 0 and sets *energy when defined; -1 when the
 * accuracy lies above the most accurate reference or below the least
 * accurate one (never extrapolated). */
int bo_frontier_energy(const struct bo_frontier *f, double accuracy, double *energy);

/* Fault probabilities: "1e-3,1e-2" (values in [0, 1]) or "LO:HI:N" (N
 * log-spaced values, 0 < LO <= HI <= 1, the ends exactly as written), at
 * most max of them, into p[]. BO_OK, or BO_EINVAL whose text says what is
 * wrong ("LO must be below HI", "a log-spaced range needs LO > 0", ...). */
bo_status bo_p_list_parse(const char *text, double *p, int *n, int max, struct bo_error *err);

/* ---- sweep configuration ---- */

/* Optional progress callback: called after every batch; return non-zero to
 * cancel (the call then returns BO_ECANCELLED). point and trial are -1 for
 * the clean (calibration) pass of bo_sweeper_new. */
struct bo_progress {
	int point, n_points;
	int trial, trials;
	int64_t images_done;   /* in this trial (or clean pass) */
	int64_t images_total;  /* per trial (or clean pass) */
};
typedef int (*bo_progress_fn)(void *ctx, const struct bo_progress *pr);

/* A per-block fault policy rule: block BLOCK's p is `value` (absolute) or
 * `value` x the point's p (relative). Block "*" sets the p of every part no
 * other rule names (default: the point's p). */
struct bo_block_rule {
	char block[96];
	int relative;
	double value;
};

/* Parse "layer1=p,layer2=2p,layer4=1e-3,*=0". On success *rules is one
 * malloc'd array of *n rules (plain values, nothing inside to free) that
 * belongs to the caller, who releases it with free() (bo_sweeper_new copies
 * a config's rules: the array may go once it returns). On error *rules is
 * NULL, *n is 0 and err names the rule (field "--block-p"). */
bo_status bo_block_rules_parse(const char *text, struct bo_block_rule **rules, int *n,
			       struct bo_error *err);

/* Optional record of finished trials, so that an interrupted sweep resumes
 * where it stopped with identical results. Before running trial `trial` of
 * the point whose value is p, bo_sweep_run asks known(); when it returns 1
 * with *correct (and images per trial equal to *images) the trial is taken
 * from the record instead of being run. After running a trial it calls
 * record(); a non-OK status from record stops the sweep with that status.
 * Trials are keyed by the point's value, not its position (spec section 4),
 * so a record also serves a sweep whose p list grew. */
struct bo_trial_journal {
	int (*known)(void *ctx, double p, int trial, int64_t *correct, int64_t *images);
	bo_status (*record)(void *ctx, double p, int trial, int64_t correct, int64_t images,
			    struct bo_error *err);
	void *ctx;
};

/* Weight faults across a sweep's points (spec section 4b): independent
 * (each point draws its own, the default) or nested (trial t is one chip at
 * every point: bo_inject_nested). */
enum bo_weight_faults {
	BO_WEIGHT_FAULTS_INDEPENDENT = 0,
	BO_WEIGHT_FAULTS_NESTED = 1,
};
#define BO_WEIGHT_FAULTS_CHOICES "independent or nested"
const char *bo_weight_faults_name(enum bo_weight_faults w); /* "independent", "nested" */
/* "independent" or "nested"; BO_EINVAL naming the choices otherwise. */
bo_status bo_weight_faults_parse(const char *name, enum bo_weight_faults *out,
				 struct bo_error *err);

struct bo_sweep_config {
	enum bo_deviation deviation;
	enum bo_target target;
	enum bo_act_sites sites;
	const double *p;                    /* point values, n_p of them */
	int n_p;
	const struct bo_block_rule *rules;  /* per-block policy, may be NULL */
	int n_rules;
	const struct bo_block_map *blocks;  /* node -> block map, NULL: node names */
	uint64_t seed;
	int bits;                           /* default 8 */
	int64_t calib;                      /* calibration images, default 256 */
	int64_t limit;                      /* the evaluation set: the first `limit`
					     * images (N), 0 = all */
	/* the design (spec section 4a): images each trial (chip) sees, drawn
	 * without replacement from the N by a permutation keyed by (seed,
	 * point, trial); BO_IMAGES_ALL (0, the default: the paper's design),
	 * n in 1..N, or BO_IMAGES_AUTO (a pilot of min_trials trials at
	 * min(N, 256) images, then the n of spec 4a per point) */
	int64_t images_per_trial;
	/* the yield's accuracy floor A* (spec section 4c); <= 0: the clean
	 * accuracy minus 0.01 */
	double accuracy_floor;
	int batch;                          /* default 64 */
	int threads;                        /* default 1 */
	double energy_a;                    /* default 12.8 */
	struct bo_norm norm;
	/* trials: fixed `trials`, or adaptive when ci_target > 0: add trials
	 * from min_trials until the 95 % CI half-width is <= ci_target or
	 * max_trials is reached */
	int trials;
	double ci_target;
	int min_trials, max_trials;
	/* optional: progress and cancellation of bo_sweeper_new's clean pass */
	bo_progress_fn calib_progress;
	void *calib_ctx;
	/* optional: bo_sweep_run's record of finished trials (may be NULL) */
	const struct bo_trial_journal *journal;
	/* spec 4b: independent (default) or nested weight faults */
	enum bo_weight_faults weight_faults;
};

/* The parts of a model as the sweep accounts them: per block, stored
 * parameters and activations and the fault probability at a point. */
/* Every field at its default: BM on weights and activations, relu sites,
 * no points, seed 1, 8 bits, 256 calibration images, all images, batch 64,
 * 1 thread, a = 12.8, 5 trials (adaptive: 3 to 100). The CLI and the daemon
 * both start from here, so the same spec means the same sweep. */
void bo_sweep_config_defaults(struct bo_sweep_config *c);

struct bo_part {
	char block[96];
	int64_t parameters;
	int64_t activations;
};

struct bo_sweeper;

/* Check the configuration against model and dataset, calibrate activation
 * scales on the clean network, measure clean accuracy. */
bo_status bo_sweeper_new(const struct bo_model *m, const struct bo_dataset *ds,
			 const struct bo_sweep_config *cfg, struct bo_sweeper **out,
			 struct bo_error *err);
void bo_sweeper_free(struct bo_sweeper *sw);

double bo_sweeper_clean_accuracy(const struct bo_sweeper *sw);
/* Images per trial: n, or N with images_per_trial all or auto (auto picks
 * n per point in bo_sweep_run). */
int64_t bo_sweeper_images(const struct bo_sweeper *sw);
/* N, the evaluation set (the first `limit` images). */
int64_t bo_sweeper_eval_images(const struct bo_sweeper *sw);
/* The yield's floor: cfg.accuracy_floor, or clean accuracy - 0.01. */
double bo_sweeper_accuracy_floor(const struct bo_sweeper *sw);
int64_t bo_sweeper_parameters(const struct bo_sweeper *sw);
int64_t bo_sweeper_activations(const struct bo_sweeper *sw);
int bo_sweeper_parts(const struct bo_sweeper *sw, const struct bo_part **parts);
/* The fault probability of part `part` for weights (kind 0) or activations
 * (kind 1) at point `point`: the policy, then the target (a part the target
 * excludes is reliable: 0). */
double bo_sweeper_part_p(const struct bo_sweeper *sw, int point, int part, int kind);
/* Energy per inference of a point (spec section 6), and eta of its base p. */
double bo_sweeper_energy(const struct bo_sweeper *sw, int point);

/* Run one trial of one point: the number of correctly classified images
 * among the bo_sweeper_images() it sees. BO_EINVAL (field
 * images_per_trial) with images_per_trial = auto. */
bo_status bo_sweeper_trial(struct bo_sweeper *sw, int point, int trial, int64_t *correct,
			   bo_progress_fn progress, void *ctx, struct bo_error *err);
/* The same at n images (1..N, the subset bo_subset_draw gives; N: every
 * image), whatever the sweeper's images_per_trial: an executor of
 * images_per_trial = auto runs a point's pilot at n0 and its trials at the
 * n chosen from it. cost (may be NULL): seconds of the trial's fixed part
 * (weight faults, set-up) and of its images, on CLOCK_MONOTONIC, as
 * bo_sweep_run's pilot measures them. */
bo_status bo_sweeper_trial_n(struct bo_sweeper *sw, int point, int trial, int64_t n,
			     int64_t *correct, bo_progress_fn progress, void *ctx, double cost[2],
			     struct bo_error *err);

/* One trial of an explicit allocation instead of a point (the optimizer,
 * lib/optimize.c, evaluates many on one sweeper: one calibration, one clean
 * pass): p_parts[k] is the fault probability of part k (bo_sweeper_parts
 * order) for weights and activations, through the target as for a point;
 * the rules and points of the configuration play no part. Its randomness
 * is keyed by (seed, bo_rng_point(key), trial, ...) exactly as a point's by
 * (cfg.seed, bo_rng_point(p), trial, ...), so bo_sweeper_trial_alloc with
 * the point's per-part p, seed = cfg.seed and key = the point's p gives
 * that point's trial; the same (seed, key, trial) with other p_parts is
 * the same chip's random draws (paired comparisons). Its progress calls
 * carry point = n_points (no point of the sweep). BO_EINVAL (field p)
 * for a p outside [0, 1]; images_per_trial = auto is refused as in
 * bo_sweeper_trial. */
bo_status bo_sweeper_trial_alloc(struct bo_sweeper *sw, const double *p_parts, uint64_t seed,
				 double key, int trial, int64_t *correct, bo_progress_fn progress,
				 void *ctx, struct bo_error *err);
/* The energy per inference (spec section 6) of such an allocation. */
double bo_sweeper_alloc_energy(const struct bo_sweeper *sw, const double *p_parts);

/* ---- whole sweeps ---- */

/* The stopping rule of a point after `trials` trials summarised by s: 1 when
 * it needs no more. Fixed trials: trials >= c->trials. Adaptive
 * (c->ci_target > 0): trials >= c->min_trials and the Student t half-width s->half is
 * <= c->ci_target, or trials >= c->max_trials. Trials are deterministic, so
 * a caller that ran more trials ahead (a daemon running them in parallel)
 * keeps the first n at which this says 1 and gets bo_sweep_run's numbers. */
int bo_sweep_point_done(const struct bo_sweep_config *c, const struct bo_summary *s, int trials);

struct bo_point_result {
	double p;
	int trials;
	double *accuracy;        /* per trial */
	struct bo_summary summary;
	int64_t images;          /* images per trial x trials (not the pilot's) */
	/* design (spec 4a): n, the images each trial saw; with
	 * images_per_trial = auto the pilot (pilot_trials trials at
	 * pilot_images_per_trial images, 0 otherwise) and the costs it
	 * measured, seconds per trial (fault drawing, set-up) and per image.
	 * n depends on those timings, so it is machine-dependent: a rerun with
	 * images_per_trial = n reproduces the point exactly. */
	int64_t images_per_trial;
	int pilot_trials;
	int64_t pilot_images_per_trial;
	double cost_trial, cost_image;
	/* the split of the trials' variance (bo_variance_split): between-chip
	 * and within-chip (per image) standard deviations; NaN when undefined
	 * (fewer than 2 trials, or n < 2 for the within-chip part) */
	double std_between, std_within;
	/* the chips (spec 4c): quantiles of the trial accuracies (type 7), and
	 * the yield at the sweep's accuracy floor, the fraction of trials with
	 * accuracy >= floor, with its Clopper-Pearson 95 % interval. With n
	 * below the evaluation set's N, a chip's accuracy carries
	 * image-sampling noise (yield_image_noise = 1). NaN with no trials. */
	double q05, q50, q95;
	double yield, yield_lo, yield_hi;
	int yield_image_noise;
	double eta;              /* eta of the point's base p */
	double energy;
	int has_reduction;
	double energy_reduction; /* E_ref(mean accuracy) / energy, when defined */
};

/* The chips of a nested sweep (spec 4c): chip t is trial t at every point,
 * for t < n_chips, the fewest trials any point has. A chip's minimum energy
 * is the smallest point energy E_k such that its accuracy is >= the floor
 * at E_k and at every point of higher energy; the yield curve gives, at
 * each point's energy, the fraction of chips whose minimum energy is at
 * most that energy, with its Clopper-Pearson 95 % interval. */
struct bo_chips {
	int n_chips, n_points;
	double *min_energy;  /* [n_chips]; NaN: no point qualifies */
	int *min_point;      /* [n_chips]: the point of min_energy, -1: none */
	double *yield;       /* [n_points], by point: the curve at its energy */
	double *yield_lo, *yield_hi;
};

struct bo_sweep_result {
	double clean_accuracy;
	double accuracy_floor;   /* A* of every point's yield */
	int64_t eval_images;     /* N, the evaluation set */
	int64_t parameters, activations;
	int n_points;
	struct bo_point_result *points;
	/* spec 4b/4c: with nested weight faults, the chips (else all zero) */
	enum bo_weight_faults weight_faults;
	struct bo_chips chips;
};

/* Run every point with fixed or adaptive trials; `frontier` (may be NULL)
 * gives energy reductions. With cfg.journal, trials it knows are not run
 * again and every trial run is recorded there. */
bo_status bo_sweep_run(struct bo_sweeper *sw, const struct bo_frontier *frontier,
		       bo_progress_fn progress, void *ctx, struct bo_sweep_result *out,
		       struct bo_error *err);
void bo_sweep_result_release(struct bo_sweep_result *r);

/* ---- designs and yield (spec sections 4a and 4c) ---- */

#define BO_IMAGES_ALL 0
#define BO_IMAGES_AUTO (-1)
#define BO_PILOT_IMAGES 256      /* n0 = min(N, 256) */
#define BO_AUTO_MIN_IMAGES 32    /* auto's n is clamped to [32, N] */
/* The Philox stream of a trial's image subset: tensor BO_RNG_SUBSET,
 * image 0 (no activation site has this index). */
#define BO_RNG_SUBSET 0x7fffffffu

/* Quantile q in [0, 1] of sorted[0..n) (ascending), linear interpolation
 * between order statistics (Hyndman and Fan type 7, R's default):
 * h = (n - 1) q, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 * NaN when n < 1. */
double bo_quantile_sorted(const double *sorted, int n, double q);

/* The split of T trial accuracies, each over n images sampled without
 * replacement from N: *within = the mean of a(1 - a) n / (n - 1) (the
 * per-image variance within a chip), *between = max(var(a) - *within / n *
 * (N - n) / (N - 1), 0) (the chip-to-chip variance; (N - n) / (N - 1)
 * is the finite-population correction, so with n = N every trial sees the
 * same images and all of var(a) is between chips). Variances, not stds.
 * NaN where undefined: T < 2 (between), n < 2 (within). */
void bo_variance_split(const double *acc, int T, int64_t n, int64_t N, double *between,
		       double *within);

/* Spec 4a's n from pilot accuracies acc[0..T) at n0 images per trial:
 * w = mean a(1 - a) n0 / (n0 - 1), b = max(var(a) - w / n0, 1e-6),
 * n = clamp(round(sqrt((c_t / c_i) w / b)), 32, N) (at most N; N when
 * N < 32). c_t: seconds per trial, c_i: per image; a cost that is not
 * positive and finite counts as 1e-9 s. */
int64_t bo_design_auto_n(const double *acc, int T, int64_t n0, int64_t N, double c_t, double c_i);

/* The regularized incomplete beta function I_x(a, b), a, b > 0, x in
 * [0, 1]; NaN outside. */
double bo_beta_inc(double a, double b, double x);
/* Its inverse in x: the prob-quantile of Beta(a, b) (prob in [0, 1]). */
double bo_beta_quantile(double prob, double a, double b);
/* The Clopper-Pearson (exact binomial) interval of k successes out of n
 * at confidence 1 - alpha: lo = Beta quantile alpha/2 of (k, n - k + 1)
 * (0 when k = 0), hi = 1 - alpha/2 of (k + 1, n - k) (1 when k = n).
 * NaN for n < 1 or k outside [0, n]. */
void bo_clopper_pearson(int64_t k, int64_t n, double alpha, double *lo, double *hi);

/* The n images trial `trial` of the point whose value is p sees, out of
 * N: the first n of a Fisher-Yates shuffle of 0..N-1 keyed by (seed,
 * bo_rng_point(p), trial, BO_RNG_SUBSET), in ascending order. scratch
 * holds N entries (out may be scratch); out receives n. n = N gives
 * 0..N-1. */
void bo_subset_draw(uint64_t seed, double p, int trial, int64_t n, int64_t N,
		    int64_t *scratch, int64_t *out);

/* Fill a point's chip statistics (quantiles, yield with its interval at
 * floor, variance split) from its trials, for n images per trial out of N. */
void bo_point_chip_stats(struct bo_point_result *pr, int64_t n, int64_t N, double floor);

/* One trial of a point, for bo_point_run: run trial `trial` at n images,
 * set *correct and the seconds it spent in its fixed part (cost[0]) and on
 * its images (cost[1]). kind: BO_TRIAL_RUN, a trial of the point;
 * BO_TRIAL_PILOT, a pilot trial of auto (not the point's unless n = n0);
 * BO_TRIAL_KNOWN, the point's trial whose *correct the pilot already
 * measured at this n (nothing to run: a journal records it). */
enum { BO_TRIAL_RUN = 0, BO_TRIAL_PILOT = 1, BO_TRIAL_KNOWN = 2 };
typedef bo_status (*bo_point_trial_fn)(void *ctx, int trial, int64_t n, int kind,
				       int64_t *correct, double cost[2], struct bo_error *err);
/* Run one point's design and stopping rule over N images per chip: the
 * pilot (auto), then trials until bo_sweep_point_done; fills pr except p,
 * eta, energy and the reduction. pr->accuracy is allocated (freed by
 * bo_sweep_result_release, or free()). bo_sweep_run is this over the
 * engine; tests drive it with simulated chips. */
bo_status bo_point_run(const struct bo_sweep_config *c, int64_t N, double floor,
		       bo_point_trial_fn fn, void *ctx, struct bo_point_result *pr,
		       struct bo_error *err);

/* The point whose energy is a chip's minimum (spec 4c): acc[k] and
 * energy[k] for the n points; the smallest energy[k] with acc[k] >= floor
 * and acc[j] >= floor at every j of higher energy. Returns k, or -1 when
 * none qualifies (e.g. the chip fails at the highest energy). As the
 * yield, an accuracy within 1e-12 below the floor keeps it; NaN fails. */
int bo_chip_min_point(const double *acc, const double *energy, int n, double floor);
/* The chips of r (its points' trial accuracies and energies, at floor):
 * n_chips = the fewest trials of any point; 0 chips when a point's energy
 * is not finite. out is zeroed first; release with bo_chips_release. */
bo_status bo_chips_compute(const struct bo_sweep_result *r, double floor, struct bo_chips *out,
			   struct bo_error *err);
void bo_chips_release(struct bo_chips *c);

/* Clean top-1 accuracy of a model (the references of iso-accuracy). */
bo_status bo_evaluate(const struct bo_model *m, const struct bo_dataset *ds,
		      const struct bo_norm *norm, int64_t limit, int batch, int threads,
		      int64_t *correct, int64_t *images, struct bo_error *err);

/* A reference model of iso-accuracy (spec section 6) as every caller (the
 * CLI's --references, brownoutd's pool, `brownout worker`) measures it:
 * its clean top-1 on the dataset's first `limit` images (0: all) with
 * `norm`, and its size on one of the dataset's samples under activation
 * sites `sites`: E_o = parameters + activations. */
struct bo_reference_result {
	int64_t correct, images;
	int64_t parameters, activations;
};
bo_status bo_reference_eval(const struct bo_model *m, const struct bo_dataset *ds,
			    const struct bo_norm *norm, int64_t limit, int batch, int threads,
			    enum bo_act_sites sites, struct bo_reference_result *out,
			    struct bo_error *err);
/* The (E_o, accuracy) point of a measured reference: parameters +
 * activations, correct / images (images > 0). */
struct bo_ref_point bo_reference_point(const struct bo_reference_result *r);

#ifdef __cplusplus
}
#endif
#endif
