/* The energy optimizer (lib/optimize.c) against mock evaluators whose
 * sensitivity curves are known: on a separable problem it finds the
 * optimum a brute force over the grid finds; where blocks interact, the
 * full-model phase improves on (sub-additive) or corrects (super-additive)
 * the separable allocation; the same seed gives the same answer; a small
 * budget stops it with a feasible answer; bad configurations name their
 * field. The verification's iso-accuracy interpolation, and the sweeper's
 * explicit allocations (bo_sweeper_trial_alloc) against its points. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <brownout/brownout.h>
#include <brownout/optimize.h>

#define NB 4
#define NG 6

static const double grid[NG] = { 1e-3, 2.5e-3, 6.3e-3, 1.6e-2, 4e-2, 1e-1 };
static const double volume[NB] = { 1000, 3000, 2000, 8000 };
static const double sens[NB] = { 40, 6, 15, 3 }; /* loss_i(p) = sens_i p^1.5 */

enum { SEPARABLE, SUBADDITIVE, SUPERADDITIVE };

struct mock {
	int kind;
	double noise;   /* chip effect: a trial's loss x (1 + noise u), u in [-1, 1] */
	int64_t calls;  /* trials evaluated */
};

static double block_loss(int i, double p) { return sens[i] * pow(p, 1.5); }

/* the true (noise-free) loss of an allocation */
static double true_loss(const struct mock *m, const double *p)
{
	double s = 0, mx = 0, cross = 0;
	for (int i = 0; i < NB; i++) {
		double l = block_loss(i, p[i]);
		s += l;
		mx = fmax(mx, l);
		for (int j = 0; j < i; j++)
			cross += sqrt(l * block_loss(j, p[j]));
	}
	return m->kind == SEPARABLE ? s : m->kind == SUBADDITIVE ? mx : s + 2 * cross;
}

#define CLEAN 0.9

/* a chip's effect: a function of (seed, trial) only, so candidates pair */
static double chip(uint64_t seed, int t)
{
	uint64_t z = seed * 0x9e3779b97f4a7c15ULL + (uint64_t)t * 0xbf58476d1ce4e5b9ULL + 1;
	z ^= z >> 31;
	z *= 0x94d049bb133111ebULL;
	z ^= z >> 29;
	return (double)(z >> 11) / 9007199254740992.0 * 2 - 1;
}

static bo_status mock_eval(void *ctx, const double *p, uint64_t seed, int t0, int t1,
			   double *acc, struct bo_error *err)
{
	struct mock *m = ctx;
	double l = true_loss(m, p);
	for (int t = t0; t < t1; t++) {
		double a = CLEAN - l * (1 + m->noise * chip(seed, t));
		acc[t - t0] = fmin(1, fmax(0, a));
		m->calls++;
	}
	return BO_OK;
}

static struct bo_opt_evaluator mock_evaluator(struct mock *m)
{
	struct bo_opt_evaluator ev = {
		.n_blocks = NB, .evaluate = mock_eval, .volume = volume, .energy_a = BO_ENERGY_A,
		.clean_accuracy = CLEAN, .ctx = m,
	};
	return ev;
}

static double energy_of(const double *p)
{
	double e = 0;
	for (int i = 0; i < NB; i++)
		e += bo_eta(p[i], BO_ENERGY_A) * volume[i];
	return e;
}

/* Brute force over {0} u grid for every block: the least energy with true
 * loss <= L under model `kind`; its p in best. */
static double brute_force(int kind, double L, double *best)
{
	struct mock m = { kind, 0, 0 };
	double p[NB], e_best = INFINITY;
	int k[NB] = { 0 };
	for (;;) {
		for (int i = 0; i < NB; i++)
			p[i] = k[i] == 0 ? 0 : grid[k[i] - 1];
		double e = energy_of(p);
		if (CLEAN - true_loss(&m, p) >= CLEAN - L && e < e_best) {
			e_best = e;
			memcpy(best, p, sizeof(p));
		}
		int i = 0;
		while (i < NB && ++k[i] > NG)
			k[i++] = 0;
		if (i == NB)
			break;
	}
	return e_best;
}

static struct bo_opt_config config(double max_loss)
{
	struct bo_opt_config c;
	bo_opt_config_defaults(&c);
	c.max_loss = max_loss;
	c.grid = grid;
	c.n_grid = NG;
	c.seed = 5;
	return c;
}

static void test_separable_finds_brute_force_optimum(void **state)
{
	(void)state;
	const double losses[] = { 0.004, 0.01, 0.03 };
	for (size_t q = 0; q < sizeof(losses) / sizeof(losses[0]); q++) {
		struct mock m = { SEPARABLE, 0, 0 };
		struct bo_opt_evaluator ev = mock_evaluator(&m);
		struct bo_opt_config c = config(losses[q]);
		struct bo_opt_result r;
		struct bo_error err;
		double best[NB];
		double e_best = brute_force(SEPARABLE, losses[q], best);
		assert_true(e_best < energy_of((double[NB]){ 0 })); /* something to save */
		assert_int_equal(bo_optimize(&ev, &c, &r, &err), BO_OK);
		assert_false(r.budget_exhausted);
		assert_true(fabs(r.energy - e_best) < 1e-9 * e_best);
		assert_true(fabs(r.separable_energy - e_best) < 1e-9 * e_best);
		assert_memory_equal(r.p, best, sizeof(best));
		assert_true(CLEAN - true_loss(&m, r.p) >= r.floor);
		assert_int_equal(r.trials, m.calls); /* every trial counted */
		bo_opt_result_release(&r);
	}
}

static void test_interactions_measured_on_full_model(void **state)
{
	(void)state;
	const double L = 0.01;
	double sep[NB], best[NB];
	double e_sep = brute_force(SEPARABLE, L, sep);
	/* losses that add less than the curves say: the separable optimum is
	 * too careful, the full-model search saves more */
	{
		struct mock m = { SUBADDITIVE, 0, 0 };
		struct bo_opt_evaluator ev = mock_evaluator(&m);
		struct bo_opt_config c = config(L);
		struct bo_opt_result r;
		struct bo_error err;
		double e_true = brute_force(SUBADDITIVE, L, best);
		assert_true(e_true < e_sep * 0.99); /* the interaction matters here */
		assert_int_equal(bo_optimize(&ev, &c, &r, &err), BO_OK);
		assert_true(fabs(r.separable_energy - e_sep) < 1e-9 * e_sep);
		assert_true(r.energy < r.separable_energy * 0.99);
		assert_true(CLEAN - true_loss(&m, r.p) >= r.floor);
		assert_true(r.energy >= e_true - 1e-9);
		bo_opt_result_release(&r);
	}
	/* losses that add more: the separable optimum fails the floor on the
	 * full model; the answer meets it */
	{
		struct mock m = { SUPERADDITIVE, 0, 0 };
		struct bo_opt_evaluator ev = mock_evaluator(&m);
		struct bo_opt_config c = config(L);
		struct bo_opt_result r;
		struct bo_error err;
		assert_true(CLEAN - true_loss(&m, sep) < CLEAN - L);
		assert_int_equal(bo_optimize(&ev, &c, &r, &err), BO_OK);
		assert_true(CLEAN - true_loss(&m, r.p) >= r.floor);
		assert_true(r.energy < energy_of((double[NB]){ 0 }));
		assert_true(r.energy >= brute_force(SUPERADDITIVE, L, best) - 1e-9);
		bo_opt_result_release(&r);
	}
}

/* The monotonicity bound from the phase-1 curves: on the mock, block i alone
 * fails A* = CLEAN - L at the first grid p with sens_i p^1.5 > L. By hand,
 * L = 0.01: 40 p^1.5 > 0.01 from p = 6.3e-3 (2.5e-3 gives 0.005), 6 p^1.5
 * from 1.6e-2 (0.0121; 6.3e-3 gives 0.003), 15 p^1.5 from 1.6e-2 (0.030;
 * 6.3e-3 gives 0.0075), 3 p^1.5 from 4e-2 (0.024; 1.6e-2 gives 0.0061).
 * L = 0.1: block 3 never fails on the grid (3 x 0.1^1.5 = 0.095), so it
 * counts at p = 1 (eta 0). The bound never exceeds the true optimum (brute
 * force) nor the optimizer's answer, whatever the interaction. */
static void test_lower_bound(void **state)
{
	(void)state;
	const struct {
		double L, pfail[NB];
	} cases[] = {
		{ 0.01, { 6.3e-3, 1.6e-2, 1.6e-2, 4e-2 } },
		/* 40 x 0.016^1.5 = 0.081, 0.04: 0.32; 6 x 0.04^1.5 = 0.048, 0.1:
		 * 0.19; 15 x 0.016^1.5 = 0.030, 0.04: 0.12 */
		{ 0.1, { 4e-2, 1e-1, 4e-2, 1 } },
	};
	for (size_t q = 0; q < sizeof(cases) / sizeof(cases[0]); q++) {
		double expect = energy_of(cases[q].pfail);
		for (int kind = SEPARABLE; kind <= SUPERADDITIVE; kind++) {
			struct mock m = { kind, 0, 0 };
			struct bo_opt_evaluator ev = mock_evaluator(&m);
			struct bo_opt_config c = config(cases[q].L);
			struct bo_opt_result r;
			struct bo_error err;
			double best[NB];
			assert_int_equal(bo_optimize(&ev, &c, &r, &err), BO_OK);
			assert_true(fabs(r.lower_bound_energy - expect) < 1e-9 * expect);
			assert_true(r.lower_bound_energy < energy_of((double[NB]){ 0 }));
			assert_true(r.lower_bound_energy <= brute_force(kind, cases[q].L, best) + 1e-9);
			assert_true(r.lower_bound_energy <= r.energy + 1e-9);
			bo_opt_result_release(&r);
		}
	}
}

static void test_same_seed_same_answer(void **state)
{
	(void)state;
	struct bo_opt_result r[3];
	struct bo_error err;
	uint64_t seeds[3] = { 9, 9, 10 };
	int64_t calls[3];
	for (int i = 0; i < 3; i++) {
		struct mock m = { SUBADDITIVE, 0.5, 0 };
		struct bo_opt_evaluator ev = mock_evaluator(&m);
		struct bo_opt_config c = config(0.01);
		c.seed = seeds[i];
		assert_int_equal(bo_optimize(&ev, &c, &r[i], &err), BO_OK);
		calls[i] = m.calls;
		/* noisy, but the answer is feasible within the noise's reach */
		assert_true(CLEAN - true_loss(&m, r[i].p) >= r[i].floor - 0.5 * 0.01);
	}
	assert_memory_equal(r[0].p, r[1].p, NB * sizeof(double));
	assert_true(r[0].energy == r[1].energy && r[0].accuracy == r[1].accuracy);
	assert_true(r[0].trials == r[1].trials && calls[0] == calls[1]);
	assert_int_equal(r[0].candidates, r[1].candidates);
	/* the noise is seeded: another seed sees other chips */
	assert_true(r[0].accuracy != r[2].accuracy || r[0].trials != r[2].trials);
	for (int i = 0; i < 3; i++)
		bo_opt_result_release(&r[i]);
}

static void test_budget(void **state)
{
	(void)state;
	struct mock m = { SUBADDITIVE, 0.3, 0 };
	struct bo_opt_evaluator ev = mock_evaluator(&m);
	struct bo_opt_config c = config(0.01);
	struct bo_opt_result r;
	struct bo_error err;
	c.curve_trials = 2;
	c.budget_trials = NB * NG * 2 + 10;
	assert_int_equal(bo_optimize(&ev, &c, &r, &err), BO_OK);
	assert_true(r.budget_exhausted);
	assert_true(r.trials <= c.budget_trials && m.calls == r.trials);
	assert_true(CLEAN - true_loss(&m, r.p) >= r.floor - 0.3 * 0.01);
	bo_opt_result_release(&r);
}

static void expect_field(const struct bo_opt_config *c, const char *field, const char *text)
{
	struct mock m = { SEPARABLE, 0, 0 };
	struct bo_opt_evaluator ev = mock_evaluator(&m);
	struct bo_opt_result r;
	struct bo_error err;
	assert_int_equal(bo_optimize(&ev, c, &r, &err), BO_EINVAL);
	assert_string_equal(err.field, field);
	assert_non_null(strstr(err.text, text));
	assert_int_equal(m.calls, 0);
	assert_null(r.p);
}

static void test_option_errors(void **state)
{
	(void)state;
	struct bo_opt_config c = config(0.01);
	c.accuracy_floor = 0.95; /* clean is 0.9 */
	expect_field(&c, "accuracy_floor", "above the clean accuracy");
	c = config(0.01);
	c.n_grid = 0;
	expect_field(&c, "grid", "needs 1 to");
	c = config(0.01);
	c.grid = (const double[]){ 1e-2, 1e-3 };
	c.n_grid = 2;
	expect_field(&c, "grid", "ascend");
	c = config(0.01);
	c.budget_trials = -1;
	expect_field(&c, "budget_trials", "too small");
	c.budget_trials = NB * NG * c.curve_trials; /* no room for one candidate */
	expect_field(&c, "budget_trials", "at least");
	c = config(1.5);
	expect_field(&c, "max_loss", "maximum loss");
	c = config(0.01);
	c.min_trials = 1;
	expect_field(&c, "min_trials", "min_trials");
}

static void test_iso_energy(void **state)
{
	(void)state;
	const double e[3] = { 100, 50, 25 }, a[3] = { 0.9, 0.8, 0.6 };
	double out = 0;
	assert_int_equal(bo_opt_iso_energy(e, a, 3, 0.85, &out), 0);
	assert_true(fabs(out - sqrt(100.0 * 50.0)) < 1e-9); /* halfway in log E */
	assert_int_equal(bo_opt_iso_energy(e, a, 3, 0.7, &out), 0);
	assert_true(fabs(out - sqrt(50.0 * 25.0)) < 1e-9);
	assert_int_equal(bo_opt_iso_energy(e, a, 3, 0.95, &out), 1); /* not reached */
	assert_int_equal(bo_opt_iso_energy(e, a, 3, 0.5, &out), 2);  /* below the grid */
	assert_int_equal(bo_opt_iso_energy(e, a, 0, 0.5, &out), -1);
}

static void test_verify(void **state)
{
	(void)state;
	struct mock m = { SEPARABLE, 0.2, 0 };
	struct bo_opt_evaluator ev = mock_evaluator(&m);
	struct bo_opt_config c = config(0.01);
	struct bo_opt_result r;
	struct bo_opt_verification v;
	struct bo_error err;
	const double ones[NB] = { 1, 1, 1, 1 };
	struct bo_opt_baseline bl = { "uniform", ones };
	assert_int_equal(bo_optimize(&ev, &c, &r, &err), BO_OK);
	assert_int_equal(bo_opt_verify(&ev, r.p, c.seed, 8, r.floor, &bl, 1, grid, NG, 3, NULL, &v,
				       &err), BO_OK);
	assert_true(v.seed == bo_opt_verify_seed(c.seed) && v.seed != c.seed);
	assert_int_equal(v.trials, 8);
	assert_true(v.summary.ci_lo <= v.summary.mean && v.summary.mean <= v.summary.ci_hi);
	assert_true(fabs(v.energy - r.energy) < 1e-9);
	assert_true(fabs(v.energy_ratio - r.energy / r.energy_o) < 1e-12);
	assert_true(v.meets_floor);
	/* uniform p reaches the verified accuracy at a higher energy than the
	 * optimum: the optimum is the cheapest allocation at that accuracy */
	assert_int_equal(v.n_baselines, 1);
	assert_true(v.baselines[0].reached);
	assert_true(v.baselines[0].iso_energy > v.energy);
	assert_true(v.baselines[0].saving > 0 && v.baselines[0].saving < 1);
	/* the scan stopped at the first grid p below the accuracy */
	int n = v.baselines[0].n;
	assert_true(v.baselines[0].accuracy[n - 1] < v.summary.mean);
	for (int g = 0; g < n - 1; g++)
		assert_true(v.baselines[0].accuracy[g] >= v.summary.mean);
	bo_opt_verification_release(&v);
	bo_opt_verification_release(&v); /* NULL-safe, idempotent */
	bo_opt_result_release(&r);
}

/* ---- the sweeper's explicit allocations ---- */

#define MODEL "tests/fixtures/fmnist_preact_f4.onnx"
#define DATA "/usr/share/datasets/fashion-mnist"

static void test_sweeper_alloc_is_the_point(void **state)
{
	(void)state;
	struct bo_model *model = NULL;
	struct bo_dataset *data = NULL;
	struct bo_sweeper *sw = NULL;
	struct bo_error err;
	struct bo_block_rule *rules = NULL;
	int n_rules = 0;
	if (bo_dataset_open_dir(DATA, BO_SPLIT_TEST, NULL, &data, &err)) {
		skip();
		return;
	}
	assert_int_equal(bo_model_load(MODEL, &model, &err), BO_OK);
	assert_int_equal(bo_block_rules_parse("layer1=p,layer2=4p,layer4=0.02", &rules, &n_rules, &err),
			 BO_OK);
	const double p[2] = { 3e-3, 1e-2 };
	struct bo_sweep_config c;
	bo_sweep_config_defaults(&c);
	c.p = p;
	c.n_p = 2;
	c.rules = rules;
	c.n_rules = n_rules;
	c.seed = 11;
	c.calib = 32;
	c.limit = 48;
	c.batch = 16;
	c.sites = BO_SITES_RELU;
	c.norm.n = 1;
	c.norm.mean[0] = 0.2860f;
	c.norm.std[0] = 0.3530f;
	assert_int_equal(bo_sweeper_new(model, data, &c, &sw, &err), BO_OK);
	const struct bo_part *parts;
	int n = bo_sweeper_parts(sw, &parts);
	double pp[64];
	assert_true(n > 1 && n <= 64);
	int differ = 0;
	for (int pt = 0; pt < 2; pt++) {
		for (int k = 0; k < n; k++)
			pp[k] = bo_sweeper_part_p(sw, pt, k, 0);
		assert_true(fabs(bo_sweeper_alloc_energy(sw, pp) - bo_sweeper_energy(sw, pt)) < 1e-6);
		for (int t = 0; t < 2; t++) {
			int64_t a = -1, b = -2, o = -3;
			assert_int_equal(bo_sweeper_trial(sw, pt, t, &a, NULL, NULL, &err), BO_OK);
			assert_int_equal(bo_sweeper_trial_alloc(sw, pp, 11, p[pt], t, &b, NULL, NULL, &err),
					 BO_OK);
			assert_true(a == b); /* the point's trial, exactly */
			/* another stream key: other draws (at p = 1e-2 the counts differ) */
			assert_int_equal(bo_sweeper_trial_alloc(sw, pp, 12, p[pt], t, &o, NULL, NULL, &err),
					 BO_OK);
			differ |= o != a;
			/* the sweeper's points are untouched by an allocation trial */
			assert_int_equal(bo_sweeper_trial(sw, pt, t, &o, NULL, NULL, &err), BO_OK);
			assert_true(o == a);
		}
	}
	assert_true(differ);
	pp[0] = 1.5;
	int64_t x;
	assert_int_equal(bo_sweeper_trial_alloc(sw, pp, 11, 0.1, 0, &x, NULL, NULL, &err), BO_EINVAL);
	assert_string_equal(err.field, "p");
	bo_sweeper_free(sw);
	free(rules);
	bo_model_free(model);
	bo_dataset_free(data);
}

/* The optimizer over a sweeper (as the CLI runs it): the same seed gives
 * the same allocation, accuracies and trial count with 1 and 3 threads. */
struct sw_eval {
	struct bo_sweeper *sw;
	int n;
	int64_t images;
};

static bo_status sw_evaluate(void *ctx, const double *p, uint64_t seed, int t0, int t1,
			     double *acc, struct bo_error *err)
{
	struct sw_eval *e = ctx;
	for (int t = t0; t < t1; t++) {
		int64_t correct;
		bo_status rc = bo_sweeper_trial_alloc(e->sw, p, seed, 1.0, t, &correct, NULL, NULL, err);
		if (rc)
			return rc;
		acc[t - t0] = (double)correct / (double)e->images;
	}
	return BO_OK;
}

static double sw_energy(void *ctx, const double *p)
{
	struct sw_eval *e = ctx;
	return bo_sweeper_alloc_energy(e->sw, p);
}

static void test_sweeper_optimize_thread_independent(void **state)
{
	(void)state;
	struct bo_model *model = NULL;
	struct bo_dataset *data = NULL;
	struct bo_error err;
	struct bo_opt_result r[2];
	if (bo_dataset_open_dir(DATA, BO_SPLIT_TEST, NULL, &data, &err)) {
		skip();
		return;
	}
	assert_int_equal(bo_model_load(MODEL, &model, &err), BO_OK);
	const double p0 = 0, g[2] = { 3e-3, 3e-2 };
	for (int run = 0; run < 2; run++) {
		struct bo_sweep_config c;
		struct bo_sweeper *sw = NULL;
		bo_sweep_config_defaults(&c);
		c.p = &p0;
		c.n_p = 1;
		c.calib = 32;
		c.limit = 40;
		c.batch = 16;
		c.threads = run ? 3 : 1;
		c.norm.n = 1;
		c.norm.mean[0] = 0.2860f;
		c.norm.std[0] = 0.3530f;
		assert_int_equal(bo_sweeper_new(model, data, &c, &sw, &err), BO_OK);
		const struct bo_part *parts;
		struct sw_eval se = { sw, bo_sweeper_parts(sw, &parts), bo_sweeper_images(sw) };
		struct bo_opt_evaluator ev = {
			.n_blocks = se.n, .evaluate = sw_evaluate, .energy = sw_energy,
			.clean_accuracy = bo_sweeper_clean_accuracy(sw), .ctx = &se,
		};
		struct bo_opt_config oc;
		bo_opt_config_defaults(&oc);
		oc.max_loss = 0.05;
		oc.grid = g;
		oc.n_grid = 2;
		oc.curve_trials = 1;
		oc.min_trials = 2;
		oc.max_trials = 4;
		oc.budget_trials = 2 * se.n + 24;
		oc.seed = 4;
		assert_int_equal(bo_optimize(&ev, &oc, &r[run], &err), BO_OK);
		assert_true(r[run].trials > r[run].curve_trials_used); /* phase 3 ran */
		bo_sweeper_free(sw);
	}
	assert_int_equal(r[0].n_blocks, r[1].n_blocks);
	assert_memory_equal(r[0].p, r[1].p, (size_t)r[0].n_blocks * sizeof(double));
	assert_memory_equal(r[0].curve, r[1].curve, (size_t)r[0].n_blocks * 2 * sizeof(double));
	assert_true(r[0].accuracy == r[1].accuracy && r[0].trials == r[1].trials);
	assert_true(r[0].energy < r[0].energy_o); /* it found something to save */
	for (int i = 0; i < 2; i++)
		bo_opt_result_release(&r[i]);
	bo_model_free(model);
	bo_dataset_free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_separable_finds_brute_force_optimum),
		cmocka_unit_test(test_interactions_measured_on_full_model),
		cmocka_unit_test(test_lower_bound),
		cmocka_unit_test(test_same_seed_same_answer),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_option_errors),
		cmocka_unit_test(test_iso_energy),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_sweeper_alloc_is_the_point),
		cmocka_unit_test(test_sweeper_optimize_thread_independent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
