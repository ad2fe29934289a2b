/* Designs and chip yield (spec sections 4a and 4c).
 *
 * Design: everything here is a pure function of its arguments, so the
 * estimators are tested against simulated chips without the engine.
 *  - bo_point_run drives one point: with images_per_trial = auto a pilot of
 *    min_trials trials at n0 = min(N, 256) images measures the per-trial
 *    and per-image costs (the caller's trial function times them on a
 *    monotonic clock) and the variance split, bo_design_auto_n picks n, and
 *    the point's trials run at that n from trial 0 until the stopping rule
 *    holds. The pilot's accuracies enter the estimate only when n = n0:
 *    trial t at n images is the same whichever run asks for it, so they are
 *    then exactly the trials a fixed-n run would compute, and a rerun with
 *    images_per_trial = n reproduces the point bit for bit.
 *  - bo_subset_draw: a partial Fisher-Yates shuffle keyed by (seed, point
 *    value, trial) on its own Philox stream (BO_RNG_SUBSET), so a trial's
 *    images depend neither on batch size nor threads nor the other points.
 *  - Clopper-Pearson needs the Beta quantile: the regularized incomplete
 *    beta by its continued fraction (modified Lentz; Press, Teukolsky,
 *    Vetterling and Flannery, Numerical Recipes in C, 2nd ed., section 6.4,
 *    betai/betacf; the continued fraction is summary.c's Bo_betacf, shared
 *    with the Student t), inverted by bisection (monotone in x; 200 halvings
 *    reach the spacing of doubles). ln B(a, b) uses lgamma_r, which writes
 *    no global (signgam), so this is thread-safe.
 *  - Chips of a nested sweep (spec 4c): bo_chip_min_point walks a chip's
 *    points from the highest energy down while the chip keeps the floor,
 *    energies that tie counting as one step (a tie qualifies when one of
 *    its points keeps the floor and everything above did); bo_chips_compute
 *    does it for every chip (O(T K) after one O(K log K) sort) and the
 *    yield curve by counting, with a Clopper-Pearson interval per point. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <brownout/sweep.h>

#include "internal.h"

double bo_quantile_sorted(const double *sorted, int n, double q)
{
	if (n < 1 || !sorted || !(q >= 0 && q <= 1))
		return NAN;
	double h = (double)(n - 1) * q;
	int lo = (int)floor(h);
	if (lo >= n - 1)
		return sorted[n - 1];
	return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
}

void bo_variance_split(const double *acc, int T, int64_t n, int64_t N, double *between,
		       double *within)
{
	double w = NAN, b = NAN;
	if (T >= 1 && n >= 2) {
		w = 0;
		for (int t = 0; t < T; t++)
			w += acc[t] * (1 - acc[t]);
		w = w / T * (double)n / (double)(n - 1);
	}
	if (T >= 2) {
		struct bo_summary s;
		bo_summarize(acc, T, &s);
		double fpc = N > 1 && n < N ? (double)(N - n) / (double)(N - 1) : 0;
		double v = s.std * s.std - (n >= 2 ? w / (double)n * fpc : 0);
		b = v > 0 ? v : 0;
	}
	if (between)
		*between = b;
	if (within)
		*within = w;
}

int64_t bo_design_auto_n(const double *acc, int T, int64_t n0, int64_t N, double c_t, double c_i)
{
	if (N < 1)
		return 0;
	double w = 0, b = 1e-6;
	if (T >= 1 && n0 >= 2) {
		for (int t = 0; t < T; t++)
			w += acc[t] * (1 - acc[t]);
		w = w / T * (double)n0 / (double)(n0 - 1);
	}
	if (T >= 2) {
		struct bo_summary s;
		bo_summarize(acc, T, &s);
		b = BO_MAX(s.std * s.std - w / (double)n0, 1e-6);
	}
	if (!(c_t > 0 && isfinite(c_t)))
		c_t = 1e-9;
	if (!(c_i > 0 && isfinite(c_i)))
		c_i = 1e-9;
	double n = round(sqrt(c_t / c_i * w / b));
	int64_t lo = BO_MIN((int64_t)BO_AUTO_MIN_IMAGES, N);
	if (!(n >= (double)lo)) /* also NaN */
		return lo;
	if (n >= (double)N)
		return N;
	return (int64_t)n;
}

/* ---- the incomplete beta function ---- */

double bo_beta_inc(double a, double b, double x)
{
	if (!(a > 0 && b > 0 && x >= 0 && x <= 1) || !isfinite(a) || !isfinite(b))
		return NAN;
	if (x == 0 || x == 1)
		return x;
	int sg;
	double lnb = lgamma_r(a, &sg) + lgamma_r(b, &sg) - lgamma_r(a + b, &sg);
	double lbt = a * log(x) + b * log1p(-x) - lnb;
	if (x < (a + 1) / (a + b + 2))
		return exp(lbt) * Bo_betacf(a, b, x) / a;
	return 1 - exp(lbt) * Bo_betacf(b, a, 1 - (long double)x) / b;
}

double bo_beta_quantile(double prob, double a, double b)
{
	if (!(prob >= 0 && prob <= 1) || !(a > 0 && b > 0) || !isfinite(a) || !isfinite(b))
		return NAN;
	if (prob == 0 || prob == 1)
		return prob;
	double lo = 0, hi = 1;
	for (int i = 0; i < 200 && hi > lo; i++) {
		double mid = lo + (hi - lo) / 2;
		if (mid <= lo || mid >= hi)
			break;
		if (bo_beta_inc(a, b, mid) < prob)
			lo = mid;
		else
			hi = mid;
	}
	return lo + (hi - lo) / 2;
}

void bo_clopper_pearson(int64_t k, int64_t n, double alpha, double *lo, double *hi)
{
	double l = NAN, h = NAN;
	if (n >= 1 && k >= 0 && k <= n && alpha > 0 && alpha < 1) {
		l = k == 0 ? 0 : bo_beta_quantile(alpha / 2, (double)k, (double)(n - k + 1));
		h = k == n ? 1 : bo_beta_quantile(1 - alpha / 2, (double)(k + 1), (double)(n - k));
	}
	if (lo)
		*lo = l;
	if (hi)
		*hi = h;
}

/* ---- subsets ---- */

/* Uniform in [0, m), m >= 1, without modulo bias (rejection). */
static uint64_t uniform_below(struct bo_rng *r, uint64_t m)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % m;
	for (;;) {
		uint64_t v = (uint64_t)bo_rng_u32(r) << 32 | bo_rng_u32(r);
		if (v < limit)
			return v % m;
	}
}

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;
	return (a > b) - (a < b);
}

static int cmp_i64(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
	return (a > b) - (a < b);
}

void bo_subset_draw(uint64_t seed, double p, int trial, int64_t n, int64_t N,
		    int64_t *scratch, int64_t *out)
{
	if (n > N)
		n = N;
	if (n <= 0)
		return;
	for (int64_t i = 0; i < N; i++)
		scratch[i] = i;
	if (n < N) {
		struct bo_rng rng;
		bo_rng_init(&rng, seed, bo_rng_point(p), (uint32_t)trial, BO_RNG_SUBSET, 0);
		for (int64_t i = 0; i < n; i++) {
			int64_t j = i + (int64_t)uniform_below(&rng, (uint64_t)(N - i));
			int64_t t = scratch[i];
			scratch[i] = scratch[j];
			scratch[j] = t;
		}
		qsort(scratch, (size_t)n, sizeof(int64_t), cmp_i64);
	}
	if (out != scratch)
		memcpy(out, scratch, (size_t)n * sizeof(int64_t));
}

/* ---- a point ---- */

void bo_point_chip_stats(struct bo_point_result *pr, int64_t n, int64_t N, double floor)
{
	int T = pr->trials;
	pr->images_per_trial = n;
	pr->q05 = pr->q50 = pr->q95 = pr->yield = pr->yield_lo = pr->yield_hi = NAN;
	pr->std_between = pr->std_within = NAN;
	pr->yield_image_noise = n < N;
	if (T < 1 || !pr->accuracy)
		return;
	double *s = malloc((size_t)T * sizeof(double));
	if (s) { /* without memory the quantiles stay NaN: never a wrong number */
		memcpy(s, pr->accuracy, (size_t)T * sizeof(double));
		qsort(s, (size_t)T, sizeof(double), cmp_double);
		pr->q05 = bo_quantile_sorted(s, T, 0.05);
		pr->q50 = bo_quantile_sorted(s, T, 0.50);
		pr->q95 = bo_quantile_sorted(s, T, 0.95);
		free(s);
	}
	/* a trial's accuracy is correct / n, the floor a difference of
	 * doubles: a tolerance far below 1 / n keeps "at the floor" in */
	int64_t k = 0;
	for (int t = 0; t < T; t++)
		k += pr->accuracy[t] >= floor - 1e-12;
	pr->yield = (double)k / T;
	bo_clopper_pearson(k, T, 0.05, &pr->yield_lo, &pr->yield_hi);
	double b, w;
	bo_variance_split(pr->accuracy, T, n, N, &b, &w);
	pr->std_between = sqrt(b);
	pr->std_within = sqrt(w);
}

bo_status bo_point_run(const struct bo_sweep_config *c, int64_t N, double floor,
		       bo_point_trial_fn fn, void *ctx, struct bo_point_result *pr,
		       struct bo_error *err)
{
	bo_status rc = BO_OK;
	int max_trials = c->ci_target > 0 ? c->max_trials : c->trials;
	int64_t n = c->images_per_trial > 0 ? c->images_per_trial : N;
	double *pilot = NULL;
	int64_t *pilot_correct = NULL;
	int n_pilot = 0;
	pr->trials = 0;
	pr->pilot_trials = 0;
	pr->pilot_images_per_trial = 0;
	pr->cost_trial = pr->cost_image = 0;
	if (max_trials < 1 || N < 1)
		return Bo_fail(err, BO_EINVAL, "a point needs at least one trial and one image");
	if (c->images_per_trial > N || c->images_per_trial < BO_IMAGES_AUTO) {
		Bo_error_where(err, NULL, NULL, NULL, "images_per_trial");
		return Bo_fail(err, BO_EINVAL, "images_per_trial %lld: not all, auto or 1..%lld",
			       (long long)c->images_per_trial, (long long)N);
	}
	free(pr->accuracy);
	pr->accuracy = calloc((size_t)max_trials, sizeof(double));
	if (!pr->accuracy)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	if (c->images_per_trial == BO_IMAGES_AUTO) {
		int64_t n0 = BO_MIN((int64_t)BO_PILOT_IMAGES, N);
		n_pilot = BO_MAX(c->min_trials, 2);
		double ct = 0, ci = 0;
		pilot = calloc((size_t)n_pilot, sizeof(double));
		pilot_correct = calloc((size_t)n_pilot, sizeof(int64_t));
		if (!pilot || !pilot_correct) {
			rc = Bo_fail(err, BO_ENOMEM, "out of memory");
			goto out;
		}
		for (int t = 0; t < n_pilot; t++) {
			int64_t correct = 0;
			double cost[2] = { 0, 0 };
			if ((rc = fn(ctx, t, n0, BO_TRIAL_PILOT, &correct, cost, err)))
				goto out;
			pilot[t] = (double)correct / (double)n0;
			pilot_correct[t] = correct;
			ct += cost[0];
			ci += cost[1];
		}
		pr->pilot_trials = n_pilot;
		pr->pilot_images_per_trial = n0;
		pr->cost_trial = ct / n_pilot;
		pr->cost_image = ci / ((double)n_pilot * (double)n0);
		n = bo_design_auto_n(pilot, n_pilot, n0, N, pr->cost_trial, pr->cost_image);
		if (n != n0)
			n_pilot = 0; /* the pilot's trials are not the point's */
	}
	for (int t = 0; t < max_trials; t++) {
		int64_t correct = 0;
		double cost[2];
		if (t < n_pilot) {
			/* the point's trial t, known from the pilot: recorded, not run */
			correct = pilot_correct[t];
			if ((rc = fn(ctx, t, n, BO_TRIAL_KNOWN, &correct, cost, err)))
				goto out;
			pr->accuracy[t] = pilot[t];
		} else {
			if ((rc = fn(ctx, t, n, BO_TRIAL_RUN, &correct, cost, err)))
				goto out;
			pr->accuracy[t] = (double)correct / (double)n;
		}
		pr->trials = t + 1;
		bo_summarize_accuracy(pr->accuracy, pr->trials, &pr->summary);
		if (bo_sweep_point_done(c, &pr->summary, pr->trials))
			break;
	}
	pr->images = n * pr->trials;
	bo_point_chip_stats(pr, n, N, floor);
out:
	free(pilot);
	free(pilot_correct);
	return rc;
}

/* ---- chips of a nested sweep (spec 4c) ---- */

struct by_energy {
	const double *energy;
	int k;
};

static int cmp_energy_desc(const void *a, const void *b)
{
	const struct by_energy *x = a, *y = b;
	double ex = x->energy[x->k], ey = y->energy[y->k];
	return ex > ey ? -1 : ex < ey ? 1 : (x->k > y->k) - (x->k < y->k);
}

/* The points by energy, highest first. */
static int chip_order(const double *energy, int n, int *order)
{
	struct by_energy *b = malloc((size_t)(n > 0 ? n : 1) * sizeof *b);
	if (!b)
		return -1;
	for (int k = 0; k < n; k++)
		b[k] = (struct by_energy){ energy, k };
	qsort(b, (size_t)n, sizeof *b, cmp_energy_desc);
	for (int k = 0; k < n; k++)
		order[k] = b[k].k;
	free(b);
	return 0;
}

/* bo_chip_min_point over the points in `order` (energy descending). */
static int chip_min_sorted(const double *acc, const double *energy, const int *order, int n,
			   double floor)
{
	int best = -1;
	for (int a = 0; a < n;) {
		int b = a, any = -1, all = 1;
		while (b < n && energy[order[b]] == energy[order[a]]) {
			/* as the yield: at the floor within 1e-12 counts; NaN fails */
			int ok = acc[order[b]] >= floor - 1e-12;
			if (ok && any < 0)
				any = order[b];
			all &= ok;
			b++;
		}
		if (any < 0)
			break;
		best = any;
		if (!all)
			break;
		a = b;
	}
	return best;
}

int bo_chip_min_point(const double *acc, const double *energy, int n, double floor)
{
	int best = -1, *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
	if (order && n > 0 && chip_order(energy, n, order) == 0)
		best = chip_min_sorted(acc, energy, order, n, floor);
	free(order);
	return best;
}

void bo_chips_release(struct bo_chips *c)
{
	if (!c)
		return;
	free(c->min_energy);
	free(c->min_point);
	free(c->yield);
	free(c->yield_lo);
	free(c->yield_hi);
	memset(c, 0, sizeof *c);
}

bo_status bo_chips_compute(const struct bo_sweep_result *r, double floor, struct bo_chips *out,
			   struct bo_error *err)
{
	bo_status rc = BO_OK;
	int K = r->n_points, T = K > 0 ? INT32_MAX : 0;
	int *order = NULL;
	double *energy = NULL, *acc = NULL;
	memset(out, 0, sizeof *out);
	for (int k = 0; k < K; k++) {
		T = r->points[k].trials < T ? r->points[k].trials : T;
		if (!isfinite(r->points[k].energy))
			T = 0;
	}
	out->n_points = K;
	out->n_chips = T;
	size_t nk = (size_t)(K > 0 ? K : 1), nt = (size_t)(T > 0 ? T : 1);
	out->min_energy = malloc(nt * sizeof(double));
	out->min_point = malloc(nt * sizeof(int));
	out->yield = malloc(nk * sizeof(double));
	out->yield_lo = malloc(nk * sizeof(double));
	out->yield_hi = malloc(nk * sizeof(double));
	order = malloc(nk * sizeof(int));
	energy = malloc(nk * sizeof(double));
	acc = malloc(nk * sizeof(double));
	if (!out->min_energy || !out->min_point || !out->yield || !out->yield_lo || !out->yield_hi ||
	    !order || !energy || !acc) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory for %d chips", T);
		goto out;
	}
	for (int k = 0; k < K; k++)
		energy[k] = r->points[k].energy;
	if (chip_order(energy, K, order)) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory for %d chips", T);
		goto out;
	}
	for (int t = 0; t < T; t++) {
		for (int k = 0; k < K; k++)
			acc[k] = r->points[k].accuracy[t];
		int m = chip_min_sorted(acc, energy, order, K, floor);
		out->min_point[t] = m;
		out->min_energy[t] = m >= 0 ? energy[m] : NAN;
	}
	for (int k = 0; k < K; k++) {
		int64_t ok = 0;
		for (int t = 0; t < T; t++)
			ok += out->min_point[t] >= 0 && out->min_energy[t] <= energy[k];
		out->yield[k] = T > 0 ? (double)ok / (double)T : NAN;
		bo_clopper_pearson(ok, T, 0.05, &out->yield_lo[k], &out->yield_hi[k]);
	}
out:
	free(order);
	free(energy);
	free(acc);
	if (rc)
		bo_chips_release(out);
	return rc;
}
