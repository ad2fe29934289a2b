/* Nested weight faults (spec 4b) and the chips of a nested sweep (4c).
 *
 * Design: the sampler is tested on its own (bo_nested_walk,
 * bo_inject_nested) for what makes it a chip: the cells faulty at p are
 * binomial with the independent sampler's distribution (counts over many
 * trials against Binomial(cells, p) and, two-sample, against bo_inject's
 * counts), their levels are uniform below p, and the faults at a smaller p
 * are a subset of those at a larger one with the same deviation. On the
 * Fashion-MNIST fixture a nested sweep's trial is the same chip whatever
 * the p list, the order the trials run in, the batch and the threads, and
 * differs from the independent sweep. The chips' minimum energies and
 * yield curve are checked against hand-computed values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <brownout/brownout.h>

#include "fault_impl.h"

#define MODEL "tests/fixtures/fmnist_preact_f4.onnx"
#define DATA "/usr/share/datasets/fashion-mnist"

/* ---- the sampler ---- */

static int64_t walk_count(double p, int64_t total, uint64_t seed, uint32_t trial, uint32_t tensor)
{
	struct bo_nested_walk w;
	int64_t c, n = 0, last = -1;
	double u;
	Bo_nested_begin(&w, p, total, seed, trial, tensor);
	while (Bo_nested_next(&w, &c, &u)) {
		assert_true(c > last && c < total); /* ascending, in range */
		assert_true(u >= 0 && u < p);
		last = c;
		n++;
	}
	return n;
}

static void mean_var(const double *x, int n, double *m, double *v)
{
	double s = 0, ss = 0;
	for (int i = 0; i < n; i++)
		s += x[i];
	*m = s / n;
	for (int i = 0; i < n; i++)
		ss += (x[i] - *m) * (x[i] - *m);
	*v = ss / (n - 1);
}

/* Counts of faulty cells at p over T chips against Binomial(total, p):
 * the mean within 4.5 standard errors, the variance within 30 %. */
static void test_marginal_binomial(void **state)
{
	(void)state;
	static const double ps[] = { 1e-3, 0.02, 0.3, 0.5, 0.75 };
	enum { T = 400 };
	static double x[T];
	const int64_t total = 8 * 1000;
	for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
		double p = ps[k], m, v;
		for (int t = 0; t < T; t++)
			x[t] = (double)walk_count(p, total, 11, (uint32_t)t, BO_RNG_WEIGHT | 3u);
		mean_var(x, T, &m, &v);
		double mu = (double)total * p, var = mu * (1 - p);
		assert_true(fabs(m - mu) < 4.5 * sqrt(var / T));
		assert_true(v > 0.7 * var && v < 1.3 * var);
	}
}

/* Levels below p are uniform: half of them below p/2, a tenth below p/10
 * (the band boundaries 2^-k do not show). */
static void test_levels_uniform(void **state)
{
	(void)state;
	static const double ps[] = { 0.3, 0.05, 3e-3 };
	for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
		double p = ps[k], u;
		int64_t c, n = 0, half = 0, tenth = 0;
		for (uint32_t t = 0; t < 20; t++) {
			struct bo_nested_walk w;
			Bo_nested_begin(&w, p, 200000, 5, t, 1);
			while (Bo_nested_next(&w, &c, &u)) {
				n++;
				half += u < p / 2;
				tenth += u < p / 10;
			}
		}
		double sh = sqrt(0.25 / (double)n), st = sqrt(0.09 / (double)n);
		assert_true(n > 1000);
		assert_true(fabs((double)half / (double)n - 0.5) < 4.5 * sh);
		assert_true(fabs((double)tenth / (double)n - 0.1) < 4.5 * st);
	}
}

/* Two-sample: the values changed by bo_inject_nested and by bo_inject over
 * T chips each (BM and erasure on the same tensor) have the same mean
 * (Welch, |t| < 4.5) and variances within a factor 1.5. */
static void test_two_sample_vs_independent(void **state)
{
	(void)state;
	enum { N = 3000, T = 300 };
	static float clean[N], buf[N];
	static double a[T], b[T];
	for (int i = 0; i < N; i++) /* every 8-bit pattern, both signs */
		clean[i] = (float)((i * 37) % 255 - 127) * 0.01f;
	struct bo_stored st = { bo_quant_scale(1.27f, 8), 8, 0 };
	static const double ps[] = { 5e-3, 0.05 };
	for (int dev = 0; dev < 2; dev++)
		for (size_t k = 0; k < 2; k++) {
			for (int t = 0; t < T; t++) {
				struct bo_rng r;
				memcpy(buf, clean, sizeof buf);
				a[t] = (double)bo_inject_nested((enum bo_deviation)dev, ps[k], &st, buf, N, 3,
								(uint32_t)t, BO_RNG_WEIGHT, NULL);
				memcpy(buf, clean, sizeof buf);
				bo_rng_init(&r, 3, bo_rng_point(ps[k]), (uint32_t)t, BO_RNG_WEIGHT, 0);
				b[t] = (double)bo_inject((enum bo_deviation)dev, ps[k], &st, buf, N, &r, NULL);
			}
			double ma, va, mb, vb;
			mean_var(a, T, &ma, &va);
			mean_var(b, T, &mb, &vb);
			assert_true(ma > 1 && mb > 1);
			assert_true(fabs(ma - mb) / sqrt(va / T + vb / T) < 4.5);
			assert_true(va / vb < 1.5 && vb / va < 1.5);
		}
}

/* A chip: the cells faulty at p1 are faulty at p2 > p1 with the same
 * level, and the values: BM at p2 moves every value at least as far
 * towards 0 as at p1 (never back), erasure at p2 zeroes what p1 zeroed;
 * the same call twice gives the same values (keyed, no state). */
static void test_monotone_chip(void **state)
{
	(void)state;
	static const double ps[] = { 1e-4, 1e-3, 4e-3, 0.02, 0.1, 0.26, 0.6, 1.0 };
	enum { NP = sizeof ps / sizeof ps[0], N = 4096 };
	static float clean[N], x1[N], x2[N];
	for (int i = 0; i < N; i++)
		clean[i] = (float)((i * 91) % 255 - 127) * 0.01f;
	struct bo_stored st = { bo_quant_scale(1.27f, 8), 8, 0 };
	for (uint32_t t = 0; t < 4; t++)
		for (int k = 0; k + 1 < NP; k++) {
			/* cells */
			struct bo_nested_walk w1, w2;
			int64_t c1, c2;
			double u1, u2;
			int64_t n1 = 0;
			Bo_nested_begin(&w1, ps[k], 8 * N, 9, t, 2);
			Bo_nested_begin(&w2, ps[k + 1], 8 * N, 9, t, 2);
			int more2 = Bo_nested_next(&w2, &c2, &u2);
			while (Bo_nested_next(&w1, &c1, &u1)) {
				while (more2 && c2 < c1)
					more2 = Bo_nested_next(&w2, &c2, &u2);
				assert_true(more2);
				assert_true(c2 == c1);
				assert_true(u2 == u1);
				n1++;
			}
			assert_true(ps[k] < 1e-3 || n1 > 0);
			/* values */
			for (int dev = 0; dev < 2; dev++) {
				memcpy(x1, clean, sizeof x1);
				memcpy(x2, clean, sizeof x2);
				int64_t ch1 = bo_inject_nested((enum bo_deviation)dev, ps[k], &st, x1, N, 9, t, 2,
							       NULL);
				int64_t ch2 = bo_inject_nested((enum bo_deviation)dev, ps[k + 1], &st, x2, N, 9,
							       t, 2, NULL);
				assert_true(ch1 >= 0 && ch2 >= ch1);
				for (int i = 0; i < N; i++) {
					assert_true(fabsf(x2[i]) <= fabsf(x1[i]));
					assert_true(x1[i] * clean[i] >= 0); /* never across 0 */
					if (x1[i] != clean[i])
						assert_true(x2[i] != clean[i]);
				}
				memcpy(x2, clean, sizeof x2);
				assert_int_equal(bo_inject_nested((enum bo_deviation)dev, ps[k], &st, x2, N, 9, t,
								  2, NULL),
						 ch1);
				assert_memory_equal(x1, x2, sizeof x1);
			}
		}
}

/* Undo restores, p <= 0 draws nothing, another trial is another chip. */
static void test_undo_and_edges(void **state)
{
	(void)state;
	enum { N = 1000 };
	static float clean[N], x[N];
	for (int i = 0; i < N; i++)
		clean[i] = (float)(i % 200 - 100) * 0.01f;
	struct bo_stored st = { bo_quant_scale(1.0f, 8), 8, 0 };
	struct bo_undo u = { 0 };
	memcpy(x, clean, sizeof x);
	int64_t ch = bo_inject_nested(BO_DEV_BM, 0.05, &st, x, N, 1, 0, 0, &u);
	assert_true(ch > 0);
	assert_int_equal(u.n, ch);
	bo_undo_apply(&u, x);
	assert_memory_equal(x, clean, sizeof x);
	assert_int_equal(bo_inject_nested(BO_DEV_BM, 0.0, &st, x, N, 1, 0, 0, &u), 0);
	assert_int_equal(bo_inject_nested(BO_DEV_BM, NAN, &st, x, N, 1, 0, 0, &u), 0);
	assert_int_equal(bo_inject_nested((enum bo_deviation)5, 0.1, &st, x, N, 1, 0, 0, &u), -1);
	assert_memory_equal(x, clean, sizeof x);
	assert_true(walk_count(0.05, 8 * N, 1, 0, 0) != walk_count(0.05, 8 * N, 1, 1, 0) ||
		    walk_count(0.05, 8 * N, 1, 0, 0) != walk_count(0.05, 8 * N, 1, 2, 0));
	bo_undo_release(&u);
}

static void test_parse_name(void **state)
{
	(void)state;
	enum bo_weight_faults w = BO_WEIGHT_FAULTS_INDEPENDENT;
	struct bo_error err;
	assert_int_equal(bo_weight_faults_parse("nested", &w, &err), BO_OK);
	assert_int_equal(w, BO_WEIGHT_FAULTS_NESTED);
	assert_string_equal(bo_weight_faults_name(w), "nested");
	assert_int_equal(bo_weight_faults_parse("independent", &w, &err), BO_OK);
	assert_int_equal(w, BO_WEIGHT_FAULTS_INDEPENDENT);
	assert_string_equal(bo_weight_faults_name(w), "independent");
	bo_error_clear(&err);
	assert_int_equal(bo_weight_faults_parse("Nested", &w, &err), BO_EINVAL);
	assert_string_equal(err.field, "weight_faults");
	assert_non_null(strstr(err.text, "independent or nested"));
	assert_non_null(strstr(err.text, "'Nested'"));
	assert_int_equal(bo_weight_faults_parse(NULL, &w, &err), BO_EINVAL);
	struct bo_sweep_config c;
	bo_sweep_config_defaults(&c);
	assert_int_equal(c.weight_faults, BO_WEIGHT_FAULTS_INDEPENDENT);
}

/* ---- chips (spec 4c), by hand ---- */

static void test_chip_min_point(void **state)
{
	(void)state;
	static const double E[] = { 100, 80, 60, 40 };
	static const double a1[] = { 0.95, 0.93, 0.91, 0.85 }; /* fails at 40: 60 */
	static const double a2[] = { 0.95, 0.85, 0.92, 0.91 }; /* fails at 80: 100, never 40 */
	static const double a3[] = { 0.85, 0.95, 0.95, 0.95 }; /* fails at the top: none */
	static const double a4[] = { 0.9, 0.9, 0.9, 0.9 };     /* the floor itself: 40 */
	double a5[] = { 0.95, NAN, 0.95, 0.95 };               /* NaN fails: 100 */
	assert_int_equal(bo_chip_min_point(a1, E, 4, 0.9), 2);
	assert_int_equal(bo_chip_min_point(a2, E, 4, 0.9), 0);
	assert_int_equal(bo_chip_min_point(a3, E, 4, 0.9), -1);
	assert_int_equal(bo_chip_min_point(a4, E, 4, 0.9), 3);
	assert_int_equal(bo_chip_min_point(a5, E, 4, 0.9), 0);
	/* the floor within 1e-12 keeps it, as the per-point yield counts it */
	double a6[] = { 0.95, 0.93, 0.9 - 1e-13, 0.9 - 1e-9 };
	assert_int_equal(bo_chip_min_point(a6, E, 4, 0.9), 2);
	/* points in any order: the same chip as a1, shuffled */
	static const double Es[] = { 60, 100, 40, 80 }, as[] = { 0.91, 0.95, 0.85, 0.93 };
	assert_int_equal(bo_chip_min_point(as, Es, 4, 0.9), 0);
	/* a tie in energy: one of the two keeps the floor -> that energy, and
	 * nothing below it (the other one, of equal energy, failed) */
	static const double Et[] = { 100, 50, 50, 20 }, at[] = { 0.95, 0.95, 0.80, 0.95 };
	assert_int_equal(bo_chip_min_point(at, Et, 4, 0.9), 1);
	assert_int_equal(bo_chip_min_point(at, Et, 0, 0.9), -1);
}

static void test_chips_compute(void **state)
{
	(void)state;
	/* 3 points, E = 100, 50, 10; trials 3, 4, 3: 3 chips (the 4th trial
	 * of point 1 is no chip: it was not run at the other points) */
	double acc0[] = { 0.95, 0.95, 0.80 }, acc1[] = { 0.92, 0.95, 0.95, 0.99 },
	       acc2[] = { 0.50, 0.95, 0.95 };
	struct bo_point_result pts[3];
	memset(pts, 0, sizeof pts);
	pts[0].accuracy = acc0, pts[0].trials = 3, pts[0].energy = 100;
	pts[1].accuracy = acc1, pts[1].trials = 4, pts[1].energy = 50;
	pts[2].accuracy = acc2, pts[2].trials = 3, pts[2].energy = 10;
	struct bo_sweep_result r = { 0 };
	r.n_points = 3;
	r.points = pts;
	struct bo_chips c;
	struct bo_error err;
	assert_int_equal(bo_chips_compute(&r, 0.9, &c, &err), BO_OK);
	assert_int_equal(c.n_chips, 3);
	assert_int_equal(c.n_points, 3);
	/* chip 0: 0.95 0.92 0.50 -> 50; chip 1: all -> 10; chip 2: 0.80 at the top -> none */
	assert_int_equal(c.min_point[0], 1);
	assert_int_equal(c.min_point[1], 2);
	assert_int_equal(c.min_point[2], -1);
	assert_true(c.min_energy[0] == 50 && c.min_energy[1] == 10 && isnan(c.min_energy[2]));
	/* the curve: at 100 and 50 chips 0 and 1 (2/3), at 10 chip 1 (1/3) */
	assert_true(fabs(c.yield[0] - 2.0 / 3) < 1e-15);
	assert_true(fabs(c.yield[1] - 2.0 / 3) < 1e-15);
	assert_true(fabs(c.yield[2] - 1.0 / 3) < 1e-15);
	double lo, hi;
	bo_clopper_pearson(1, 3, 0.05, &lo, &hi);
	assert_true(c.yield_lo[2] == lo && c.yield_hi[2] == hi);
	assert_true(lo < 1.0 / 3 && hi > 1.0 / 3);
	bo_chips_release(&c);
	bo_chips_release(&c); /* NULL-safe, twice */
	/* an energy not known yet: no chips */
	pts[1].energy = NAN;
	assert_int_equal(bo_chips_compute(&r, 0.9, &c, &err), BO_OK);
	assert_int_equal(c.n_chips, 0);
	assert_true(isnan(c.yield[0]));
	bo_chips_release(&c);
	bo_chips_release(NULL);
}

/* ---- on the engine ---- */

static struct bo_model *model;
static struct bo_dataset *data;

static int setup(void **state)
{
	struct bo_error err;
	(void)state;
	if (bo_model_load(MODEL, &model, &err))
		return -1;
	if (bo_dataset_open_dir(DATA, BO_SPLIT_TEST, NULL, &data, &err))
		data = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bo_model_free(model);
	bo_dataset_free(data);
	return 0;
}

static struct bo_sweep_config nested_config(const double *p, int n)
{
	struct bo_sweep_config c;
	bo_sweep_config_defaults(&c);
	c.target = BO_TARGET_WEIGHTS;
	c.sites = BO_SITES_RELU;
	c.p = p;
	c.n_p = n;
	c.seed = 7;
	c.calib = 64;
	c.limit = 96;
	c.batch = 32;
	c.trials = 3;
	c.weight_faults = BO_WEIGHT_FAULTS_NESTED;
	c.norm.n = 1;
	c.norm.mean[0] = 0.2860f;
	c.norm.std[0] = 0.3530f;
	return c;
}

/* correct[pt][t] for trials run in the order given */
static void run_trials(const struct bo_sweep_config *c, const int *trials, int nt, int64_t *out)
{
	struct bo_sweeper *sw = NULL;
	struct bo_error err;
	assert_int_equal(bo_sweeper_new(model, data, c, &sw, &err), BO_OK);
	for (int pt = 0; pt < c->n_p; pt++)
		for (int i = 0; i < nt; i++)
			assert_int_equal(bo_sweeper_trial(sw, pt, trials[i], &out[pt * nt + trials[i]], NULL,
							  NULL, &err),
					 BO_OK);
	bo_sweeper_free(sw);
}

/* Trial t is one chip: the same at a point whatever the p list, the
 * order the trials run in (a task split), the batch and the threads; and
 * not the independent sweep's. */
static void test_sweep_chip_reproducible(void **state)
{
	(void)state;
	if (!data)
		skip();
	static const double two[] = { 5e-3, 3e-2 }, alone[] = { 3e-2 }, three[] = { 3e-2, 0.2, 5e-3 };
	static const int fwd[] = { 0, 1, 2 }, rev[] = { 2, 0, 1 };
	int64_t a[6], b[3], c[9], d[6], e[6];
	struct bo_sweep_config cfg = nested_config(two, 2);
	run_trials(&cfg, fwd, 3, a);
	cfg = nested_config(alone, 1);
	run_trials(&cfg, rev, 3, b);
	cfg = nested_config(three, 3);
	cfg.batch = 7;
	cfg.threads = 2;
	run_trials(&cfg, rev, 3, c);
	for (int t = 0; t < 3; t++) {
		assert_int_equal(a[3 + t], b[t]);
		assert_int_equal(a[3 + t], c[t]);
		assert_int_equal(a[t], c[6 + t]);
	}
	cfg = nested_config(two, 2);
	cfg.weight_faults = BO_WEIGHT_FAULTS_INDEPENDENT;
	run_trials(&cfg, fwd, 3, d);
	int differ = 0;
	for (int i = 0; i < 6; i++)
		differ |= a[i] != d[i];
	assert_true(differ);
	/* and after the sweep the weights are clean: p = 0 gives the clean count */
	static const double zero[] = { 0.0 };
	cfg = nested_config(zero, 1);
	run_trials(&cfg, fwd, 3, e);
	assert_true(e[0] == e[1] && e[1] == e[2]);
	/* a bad weight_faults is refused naming the field */
	struct bo_sweeper *sw = NULL;
	struct bo_error err;
	cfg = nested_config(two, 2);
	cfg.weight_faults = (enum bo_weight_faults)9;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_EINVAL);
	assert_string_equal(err.field, "weight_faults");
	assert_null(sw);
}

/* bo_sweep_run with nested faults fills the chips from its trials. */
static void test_sweep_run_chips(void **state)
{
	(void)state;
	if (!data)
		skip();
	static const double p[] = { 5e-3, 3e-2, 0.2 };
	struct bo_sweep_config cfg = nested_config(p, 3);
	struct bo_sweeper *sw = NULL;
	struct bo_sweep_result r;
	struct bo_error err;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	assert_int_equal(bo_sweep_run(sw, NULL, NULL, NULL, &r, &err), BO_OK);
	assert_int_equal(r.weight_faults, BO_WEIGHT_FAULTS_NESTED);
	assert_int_equal(r.chips.n_chips, 3);
	assert_int_equal(r.chips.n_points, 3);
	const double E[] = { r.points[0].energy, r.points[1].energy, r.points[2].energy };
	for (int t = 0; t < 3; t++) {
		double acc[3] = { r.points[0].accuracy[t], r.points[1].accuracy[t],
				  r.points[2].accuracy[t] };
		assert_int_equal(r.chips.min_point[t], bo_chip_min_point(acc, E, 3, r.accuracy_floor));
	}
	for (int k = 0; k < 3; k++) {
		int ok = 0;
		for (int t = 0; t < 3; t++)
			ok += r.chips.min_point[t] >= 0 && r.chips.min_energy[t] <= E[k];
		assert_true(r.chips.yield[k] == ok / 3.0);
	}
	bo_sweep_result_release(&r);
	/* independent: no chips */
	bo_sweeper_free(sw);
	cfg.weight_faults = BO_WEIGHT_FAULTS_INDEPENDENT;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	assert_int_equal(bo_sweep_run(sw, NULL, NULL, NULL, &r, &err), BO_OK);
	assert_int_equal(r.chips.n_chips, 0);
	assert_null(r.chips.yield);
	bo_sweep_result_release(&r);
	bo_sweeper_free(sw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_marginal_binomial),
		cmocka_unit_test(test_levels_uniform),
		cmocka_unit_test(test_two_sample_vs_independent),
		cmocka_unit_test(test_monotone_chip),
		cmocka_unit_test(test_undo_and_edges),
		cmocka_unit_test(test_parse_name),
		cmocka_unit_test(test_chip_min_point),
		cmocka_unit_test(test_chips_compute),
		cmocka_unit_test(test_sweep_chip_reproducible),
		cmocka_unit_test(test_sweep_run_chips),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
