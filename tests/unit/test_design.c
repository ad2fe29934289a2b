/* Designs and chip yield (lib/design.c, spec sections 4a and 4c).
 *
 * Reference values: the incomplete beta function, the Clopper-Pearson
 * bounds and the type-7 quantiles were computed independently with
 * Debian's python3-scipy 1.10.1 / numpy (scipy.special.betainc,
 * scipy.stats.beta.ppf, numpy.quantile's default 'linear' method); the
 * classic CP upper bound for 0 of 10, 0.3085, is also the published one
 * (Clopper and Pearson 1934; e.g. Agresti and Coull 1998).
 * The estimators run against simulated chips whose between-chip and
 * within-chip variances are known: chip t's accuracy is mu + sb sqrt(3)
 * (2u - 1) (uniform, mean mu exactly, variance sb^2), its images are
 * Bernoulli draws, and the trial function reports fixed costs, so auto's n
 * is compared with the analytic optimum sqrt(c_t / c_i * w / b) and the
 * Student t interval's coverage of mu is counted over many simulated
 * sweeps. No engine: the whole file runs in well under a second. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <brownout/sweep.h>

static void check_rel(double got, double want, double rel, const char *what)
{
	double tol = want == 0 ? rel : rel * fabs(want);
	if (!(fabs(got - want) <= tol)) {
		print_error("%s: got %.17g, want %.17g\n", what, got, want);
		fail();
	}
}

/* ---- the incomplete beta function and Clopper-Pearson ---- */

static void test_beta_inc(void **state)
{
	(void)state;
	static const struct {
		double a, b, x, want;
	} ref[] = { /* scipy.special.betainc */
		{ 0.5, 0.5, 0.3, 0.36901011956554541 },
		{ 2, 3, 0.4, 0.52479999999999993 },
		{ 10, 20, 0.25, 0.16630494959787939 },
		{ 1, 1, 0.7, 0.69999999999999996 },
		{ 50, 1, 0.99, 0.60500606713753635 },
		{ 200, 300, 0.41, 0.67762816477218646 },
		{ 0.1, 5, 0.001, 0.61289835937499415 },
		{ 10000.0, 10001.0, 0.5, 0.50282091265657769 },
	};
	char what[64];
	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++) {
		snprintf(what, sizeof(what), "I_%g(%g, %g)", ref[i].x, ref[i].a, ref[i].b);
		check_rel(bo_beta_inc(ref[i].a, ref[i].b, ref[i].x), ref[i].want, 1e-10, what);
		/* the quantile inverts it */
		check_rel(bo_beta_quantile(ref[i].want, ref[i].a, ref[i].b), ref[i].x, 1e-9, what);
	}
	assert_true(bo_beta_inc(2, 3, 0) == 0 && bo_beta_inc(2, 3, 1) == 1);
	assert_true(isnan(bo_beta_inc(0, 3, 0.5)) && isnan(bo_beta_inc(2, 3, 1.5)) &&
		    isnan(bo_beta_inc(2, NAN, 0.5)) && isnan(bo_beta_quantile(-0.1, 2, 3)));
}

static void test_clopper_pearson(void **state)
{
	(void)state;
	static const struct {
		int64_t k, n;
		double lo, hi;
	} ref[] = { /* scipy.stats.beta.ppf(0.025, k, n-k+1), (0.975, k+1, n-k) */
		{ 0, 10, 0, 0.30849710781876077 },
		{ 10, 10, 0.69150289218123917, 1 },
		{ 3, 10, 0.066739511177734467, 0.65245285005999731 },
		{ 1, 1, 0.025000000000000001, 1 },
		{ 50, 100, 0.39832112950330106, 0.60167887049669888 },
		{ 97, 100, 0.91482394702572001, 0.9937700284616936 },
		{ 0, 1, 0, 0.97499999999999998 },
		{ 1234, 2000, 0.59528635449202427, 0.63837001967874607 },
		{ 5, 1000, 0.0016254195175627599, 0.011629470559812147 },
		{ 3, 4, 0.19412044968324338, 0.9936905367902902 },
	};
	char what[64];
	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++) {
		double lo, hi;
		bo_clopper_pearson(ref[i].k, ref[i].n, 0.05, &lo, &hi);
		snprintf(what, sizeof(what), "CP lo %lld/%lld", (long long)ref[i].k, (long long)ref[i].n);
		check_rel(lo, ref[i].lo, 1e-9, what);
		snprintf(what, sizeof(what), "CP hi %lld/%lld", (long long)ref[i].k, (long long)ref[i].n);
		check_rel(hi, ref[i].hi, 1e-9, what);
	}
	/* the published 0-of-10 bound, to 4 digits */
	double lo, hi;
	bo_clopper_pearson(0, 10, 0.05, &lo, &hi);
	assert_true(fabs(hi - 0.3085) < 5e-5);
	bo_clopper_pearson(4, 3, 0.05, &lo, &hi);
	assert_true(isnan(lo) && isnan(hi));
	bo_clopper_pearson(0, 0, 0.05, &lo, &hi);
	assert_true(isnan(lo) && isnan(hi));
}

/* ---- quantiles, the variance split, auto's n ---- */

static void test_quantiles(void **state)
{
	(void)state;
	double x[] = { 0.2, 0.5, 0.7, 0.85, 0.88, 0.91, 0.93 }; /* sorted */
	/* numpy.quantile([0.91, 0.5, 0.7, 0.88, 0.93, 0.2, 0.85], q) */
	check_rel(bo_quantile_sorted(x, 7, 0.05), 0.29000000000000004, 1e-14, "q05");
	check_rel(bo_quantile_sorted(x, 7, 0.5), 0.85, 1e-14, "q50");
	check_rel(bo_quantile_sorted(x, 7, 0.95), 0.924, 1e-14, "q95");
	check_rel(bo_quantile_sorted(x, 7, 0.33), 0.696, 1e-14, "q33");
	assert_true(bo_quantile_sorted(x, 7, 0) == 0.2 && bo_quantile_sorted(x, 7, 1) == 0.93);
	assert_true(bo_quantile_sorted(x, 1, 0.95) == 0.2);
	assert_true(isnan(bo_quantile_sorted(x, 0, 0.5)) && isnan(bo_quantile_sorted(x, 7, 1.5)));
}

static void test_variance_split_and_auto_n(void **state)
{
	(void)state;
	double acc[] = { 0.7, 0.9 }, b, w;
	/* w = mean a(1-a) n/(n-1); var(a) = 0.02 */
	double w_want = (0.21 + 0.09) / 2 * 100.0 / 99.0;
	bo_variance_split(acc, 2, 100, 1000000000, &b, &w);
	check_rel(w, w_want, 1e-12, "within");
	check_rel(b, 0.02 - w_want / 100 * (1e9 - 100) / (1e9 - 1), 1e-12, "between");
	/* n = N: every trial saw the same images, all of var(a) is the chips' */
	bo_variance_split(acc, 2, 100, 100, &b, &w);
	check_rel(b, 0.02, 1e-12, "between at n = N");
	bo_variance_split(acc, 1, 100, 1000, &b, &w);
	assert_true(isnan(b) && !isnan(w));
	bo_variance_split(acc, 2, 1, 1000, &b, &w);
	assert_true(isnan(w));

	/* spec 4a's formula, computed here independently */
	double w0 = (0.21 + 0.09) / 2 * 256.0 / 255.0, b0 = 0.02 - w0 / 256;
	double want = round(sqrt(0.5 / 0.001 * w0 / b0));
	assert_true(want > 32 && want < 1000);
	assert_int_equal(bo_design_auto_n(acc, 2, 256, 100000, 0.5, 0.001), (int64_t)want);
	/* clamped to [32, N], N when N < 32 */
	assert_int_equal(bo_design_auto_n(acc, 2, 256, 100000, 1e-6, 1), 32);
	assert_int_equal(bo_design_auto_n(acc, 2, 256, 50, 1e3, 1e-6), 50);
	assert_int_equal(bo_design_auto_n(acc, 2, 20, 20, 1e-6, 1), 20);
	/* identical pilot trials: b = 1e-6, a large n (clamped to N) */
	double same[] = { 0.8, 0.8, 0.8 };
	assert_int_equal(bo_design_auto_n(same, 3, 256, 2000, 1e-3, 1e-3), 401);
	/* costs that are not positive count as 1e-9 s, never a NaN n */
	assert_int_equal(bo_design_auto_n(acc, 2, 256, 2000, NAN, 0), 32);
}

/* ---- subsets ---- */

static void test_subset(void **state)
{
	(void)state;
	enum { N = 50, n = 12, DRAWS = 4000 };
	int64_t scratch[N], a[N], b[N];
	int count[N] = { 0 };
	bo_subset_draw(9, 1e-3, 4, n, N, scratch, a);
	bo_subset_draw(9, 1e-3, 4, n, N, scratch, b);
	assert_memory_equal(a, b, sizeof(int64_t) * n); /* reproducible */
	for (int i = 0; i < n; i++) {
		assert_true(a[i] >= 0 && a[i] < N);
		if (i)
			assert_true(a[i] > a[i - 1]); /* ascending, so distinct */
	}
	/* keyed by trial, point value and seed */
	int differ_t = 0, differ_p = 0, differ_s = 0;
	bo_subset_draw(9, 1e-3, 5, n, N, scratch, b);
	differ_t = memcmp(a, b, sizeof(int64_t) * n) != 0;
	bo_subset_draw(9, 2e-3, 4, n, N, scratch, b);
	differ_p = memcmp(a, b, sizeof(int64_t) * n) != 0;
	bo_subset_draw(10, 1e-3, 4, n, N, scratch, b);
	differ_s = memcmp(a, b, sizeof(int64_t) * n) != 0;
	assert_true(differ_t && differ_p && differ_s);
	/* n = N: every image, in order; out may be scratch */
	bo_subset_draw(9, 1e-3, 4, N, N, scratch, scratch);
	for (int i = 0; i < N; i++)
		assert_int_equal(scratch[i], i);
	/* uniform: every image is drawn n/N of the time; chi-square with 49
	 * degrees of freedom stays below 90 (p < 1e-4 under uniformity) */
	for (int t = 0; t < DRAWS; t++) {
		bo_subset_draw(3, 0.5, t, n, N, scratch, a);
		for (int i = 0; i < n; i++)
			count[a[i]]++;
	}
	double e = (double)DRAWS * n / N, chi = 0;
	for (int i = 0; i < N; i++)
		chi += (count[i] - e) * (count[i] - e) / e;
	assert_true(chi < 90);
}

/* ---- simulated chips ---- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unif(uint64_t *s) { return (double)(splitmix(s) >> 11) * 0x1p-53; }

struct sim {
	uint64_t seed;
	double mu, sb;   /* chip accuracy: mean, std */
	double ct, ci;   /* costs reported */
	int calls, pilot_calls, known_calls;
	int64_t last_n;
};

static double chip_accuracy(const struct sim *s, int trial)
{
	uint64_t st = s->seed * 0x100000001b3ull + (uint64_t)trial * 2654435761u + 1;
	return s->mu + s->sb * sqrt(3.0) * (2 * unif(&st) - 1);
}

static bo_status sim_trial(void *ctx, int trial, int64_t n, int kind, int64_t *correct,
			   double cost[2], struct bo_error *err)
{
	struct sim *s = ctx;
	(void)err;
	if (kind == BO_TRIAL_KNOWN) { /* nothing to run: the pilot measured it */
		s->known_calls++;
		return BO_OK;
	}
	double pc = chip_accuracy(s, trial);
	uint64_t st = s->seed ^ ((uint64_t)trial << 32) ^ (uint64_t)n * 0x9e3779b97f4a7c15ull;
	*correct = 0;
	for (int64_t i = 0; i < n; i++)
		*correct += unif(&st) < pc;
	cost[0] = s->ct;
	cost[1] = s->ci * (double)n;
	s->calls++;
	s->pilot_calls += kind == BO_TRIAL_PILOT;
	s->last_n = n;
	return BO_OK;
}

static struct bo_sweep_config sim_config(void)
{
	struct bo_sweep_config c;
	bo_sweep_config_defaults(&c);
	return c;
}

/* auto's n against the analytic optimum n* = sqrt(c_t / c_i * w / b),
 * w = E[p(1 - p)] = mu(1 - mu) - sb^2, b = sb^2; a long pilot so that the
 * estimate is close: within 15 % on average over 12 points, each within
 * 40 %. */
static void test_auto_n_near_optimum(void **state)
{
	(void)state;
	struct bo_sweep_config c = sim_config();
	c.images_per_trial = BO_IMAGES_AUTO;
	c.min_trials = 200;
	c.trials = 40;
	const double mu = 0.85, sb = 0.03, ct = 0.05, ci = 0.0005;
	double w = mu * (1 - mu) - sb * sb, nstar = sqrt(ct / ci * w / (sb * sb));
	double sum = 0;
	for (int k = 0; k < 12; k++) {
		struct sim s = { (uint64_t)k + 1, mu, sb, ct, ci, 0, 0, 0, 0 };
		struct bo_point_result pr = { 0 };
		struct bo_error err;
		assert_int_equal(bo_point_run(&c, 100000, 0.8, sim_trial, &s, &pr, &err), BO_OK);
		assert_int_equal(pr.pilot_trials, 200);
		assert_int_equal(pr.pilot_images_per_trial, 256);
		check_rel(pr.cost_trial, ct, 1e-12, "c_t");
		check_rel(pr.cost_image, ci, 1e-12, "c_i");
		double rel = (double)pr.images_per_trial / nstar;
		assert_true(rel > 0.6 && rel < 1.4);
		sum += rel;
		/* the main trials run at n, from trial 0 */
		assert_int_equal(s.last_n, pr.images_per_trial);
		assert_int_equal(s.calls - s.pilot_calls, pr.trials);
		/* the split estimates the chips' std */
		assert_true(fabs(pr.std_within - sqrt(w)) < 0.05);
		free(pr.accuracy);
	}
	assert_true(fabs(sum / 12 - 1) < 0.15);
}

/* Coverage of the 95 % interval of mu over many simulated sweeps: auto with
 * fixed trials (the interval's own coverage) and auto with a CI target
 * (sequential stopping: a little below nominal is the known price;
 * measured 0.93 to 0.95 here). Deterministic seeds: the counts are the
 * same on every run. */
static void test_ci_coverage(void **state)
{
	(void)state;
	enum { SWEEPS = 1000 };
	const double mu = 0.8, sb = 0.05;
	for (int mode = 0; mode < 2; mode++) {
		struct bo_sweep_config c = sim_config();
		c.images_per_trial = BO_IMAGES_AUTO;
		if (mode == 0) {
			c.trials = 10;
		} else {
			c.ci_target = 0.01;
			c.min_trials = 10;
			c.max_trials = 1000;
		}
		int covered = 0, reached = 0;
		for (int k = 0; k < SWEEPS; k++) {
			struct sim s = { (uint64_t)k * 7919 + 13, mu, sb, 0.02, 0.001, 0, 0, 0, 0 };
			struct bo_point_result pr = { 0 };
			struct bo_error err;
			assert_int_equal(bo_point_run(&c, 10000, 0.7, sim_trial, &s, &pr, &err), BO_OK);
			covered += pr.summary.ci_lo <= mu && mu <= pr.summary.ci_hi;
			reached += pr.summary.half <= c.ci_target;
			free(pr.accuracy);
		}
		double cov = (double)covered / SWEEPS;
		print_message("coverage (%s): %.4f\n", mode ? "ci target" : "fixed trials", cov);
		if (mode == 0)
			assert_true(cov > 0.93 && cov < 0.97);
		else
			assert_true(cov > 0.92 && cov < 0.97 && reached == SWEEPS);
	}
}

/* The pilot's trials are the point's exactly when n = n0 (here N = 100 <
 * 256, and a large n*: n = N = n0): the sweep runs only the trials beyond
 * the pilot, and the numbers equal a fixed run at that n. */
static void test_pilot_reuse_and_fixed_rerun(void **state)
{
	(void)state;
	struct bo_sweep_config c = sim_config();
	struct bo_error err;
	c.images_per_trial = BO_IMAGES_AUTO;
	c.trials = 6;
	c.min_trials = 3;
	struct sim s = { 5, 0.9, 0.001, 10, 1e-4, 0, 0, 0, 0 };
	struct bo_point_result a = { 0 }, b = { 0 };
	assert_int_equal(bo_point_run(&c, 100, 0.85, sim_trial, &s, &a, &err), BO_OK);
	assert_int_equal(a.images_per_trial, 100);
	assert_int_equal(a.trials, 6);
	assert_int_equal(s.calls, 6); /* 3 pilot + 3 more, not 3 + 6 */
	assert_int_equal(s.known_calls, 3); /* the pilot's, handed back to record */
	assert_int_equal(a.images, 600);
	c.images_per_trial = 100;
	struct sim s2 = { 5, 0.9, 0.001, 10, 1e-4, 0, 0, 0, 0 };
	assert_int_equal(bo_point_run(&c, 100, 0.85, sim_trial, &s2, &b, &err), BO_OK);
	assert_int_equal(s2.pilot_calls, 0);
	assert_int_equal(b.pilot_trials, 0);
	assert_memory_equal(a.accuracy, b.accuracy, 6 * sizeof(double));
	assert_true(a.summary.mean == b.summary.mean && a.q50 == b.q50 && a.yield == b.yield);
	/* n beyond N is an error naming the field, never clamped */
	c.images_per_trial = 101;
	assert_int_equal(bo_point_run(&c, 100, 0.85, sim_trial, &s2, &b, &err), BO_EINVAL);
	assert_string_equal(err.field, "images_per_trial");
	free(a.accuracy);
	free(b.accuracy);
}

/* Quantiles and yield of a point from its trials. */
static void test_chip_stats(void **state)
{
	(void)state;
	double acc[] = { 0.9, 0.95, 0.8, 0.92 };
	struct bo_point_result pr = { 0 };
	pr.accuracy = acc;
	pr.trials = 4;
	bo_point_chip_stats(&pr, 100, 2000, 0.9);
	assert_int_equal(pr.images_per_trial, 100);
	assert_true(pr.yield == 0.75); /* 0.9 is at the floor: counted */
	check_rel(pr.yield_lo, 0.19412044968324338, 1e-9, "yield lo");
	check_rel(pr.yield_hi, 0.9936905367902902, 1e-9, "yield hi");
	check_rel(pr.q50, 0.91, 1e-14, "q50");   /* numpy: 0.91 */
	check_rel(pr.q05, 0.815, 1e-12, "q05");   /* numpy: 0.815 */
	check_rel(pr.q95, 0.9455, 1e-12, "q95");  /* numpy: 0.9455 */
	assert_int_equal(pr.yield_image_noise, 1);
	/* a floor computed as clean - 0.01 sits on a trial's correct / n */
	double a2[] = { 91.0 / 100.0, 0.5 };
	pr.accuracy = a2;
	pr.trials = 2;
	bo_point_chip_stats(&pr, 100, 100, 0.92 - 0.01);
	assert_true(pr.yield == 0.5);
	assert_int_equal(pr.yield_image_noise, 0);
	pr.trials = 0;
	bo_point_chip_stats(&pr, 100, 100, 0.5);
	assert_true(isnan(pr.yield) && isnan(pr.q50) && isnan(pr.yield_lo));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_beta_inc),
		cmocka_unit_test(test_clopper_pearson),
		cmocka_unit_test(test_quantiles),
		cmocka_unit_test(test_variance_split_and_auto_n),
		cmocka_unit_test(test_subset),
		cmocka_unit_test(test_auto_n_near_optimum),
		cmocka_unit_test(test_ci_coverage),
		cmocka_unit_test(test_pilot_reuse_and_fixed_rerun),
		cmocka_unit_test(test_chip_stats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
