/* Statistics, energy, frontier and block rules (lib/summary.c, lib/energy.c).
 *
 * Student t quantiles are checked against published values and against
 * 20-digit references computed with mpmath (root of the regularised
 * incomplete beta function), against the closed forms for df = 1 and 2 (and
 * the general solver just beside them), across the switch to the normal
 * expansion at df = 1e5, and for symmetry, monotonicity and bad arguments.
 * The summary, eta, the frontier (domination, log-linear interpolation, no
 * extrapolation, invalid references) and the --block-p rule parser (every
 * accepted form, every rejected form with its message) follow. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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

/* |got - want| <= rel * |want| (or <= rel when want is 0) */
static void check_rel(double got, double want, double rel, const char *what)
{
	double tol = want == 0 ? rel : rel * fabs(want);
	if (!(fabs(got - want) <= tol)) {
		print_error("%s: got %.17g, want %.17g (relative error %.3g, tolerance %.3g)\n",
			    what, got, want, want == 0 ? fabs(got) : fabs(got - want) / fabs(want),
			    rel);
		fail();
	}
}

/* ---- Student t quantile ---- */

static void test_t_published(void **state)
{
	(void)state;
	/* the usual two-sided 95 % critical values */
	check_rel(bo_student_t_quantile(0.975, 1), 12.7062047362, 1e-10, "t(.975, 1)");
	check_rel(bo_student_t_quantile(0.975, 2), 4.30265272975, 1e-10, "t(.975, 2)");
	check_rel(bo_student_t_quantile(0.975, 4), 2.7764451052, 1e-10, "t(.975, 4)");
	check_rel(bo_student_t_quantile(0.975, 9), 2.26215716280, 1e-10, "t(.975, 9)");
	check_rel(bo_student_t_quantile(0.975, 29), 2.04522964213, 1e-10, "t(.975, 29)");
	check_rel(bo_student_t_quantile(0.975, 1e6), 1.95996, 1e-5, "t(.975, 1e6)");
	/* the limit: the normal quantile */
	check_rel(bo_student_t_quantile(0.975, INFINITY), 1.959963984540054, 1e-13,
		  "t(.975, inf)");
	check_rel(bo_student_t_quantile(0.975, 1e300), 1.959963984540054, 1e-13,
		  "t(.975, 1e300)");
}

/* 20-digit references from mpmath 1.3 (50 digits working precision):
 * the root of I_x(df/2, 1/2) / 2 = tail, or of the central mass. */
static void test_t_mpmath(void **state)
{
	(void)state;
	static const struct {
		double p, df, t;
	} ref[] = {
		{ 0.975, 1, 12.706204736174704646 },
		{ 0.975, 2, 4.3026527297494638523 },
		{ 0.975, 4, 2.7764451051977943578 },
		{ 0.975, 9, 2.2621571627982055426 },
		{ 0.975, 29, 2.0452296421327042982 },
		{ 0.975, 1e6, 1.9599663568141070353 },
		{ 0.995, 3, 5.8409093097333572607 },
		{ 0.9, 10, 1.3721836411103356272 },
		{ 0.95, 29, 1.6991270265334977506 },
		{ 1e-10, 5, -156.82559270889431749 },
		{ 0.75, 0.5, 1.5537739740300373073 },
		{ 0.6, 100, 0.25402218245822781657 },
		{ 0.999, 50000, 3.0903953166253844058 },
		{ 0.999, 200000, 3.0902730573051987961 },
		{ 0.7, 1, 0.7265425280053608859 },
	};
	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++) {
		char what[64];
		snprintf(what, sizeof(what), "t(%g, %g)", ref[i].p, ref[i].df);
		/* ~1e-15 where long double is wider than double, ~1e-12
		 * where it is not (the fraction at df near 1e5) */
		check_rel(bo_student_t_quantile(ref[i].p, ref[i].df), ref[i].t, 1e-11, what);
	}
}

static void test_t_symmetry(void **state)
{
	(void)state;
	static const double dfs[] = { 0.3, 1, 2, 3, 4.5, 9, 29, 1000, 1e5, 2e5, 1e7 };
	/* dyadic p: 1 - p is exact, so the two must agree to rounding */
	static const double ps[] = { 0x1p-40, 0x1p-14, 0x1p-7, 0x1p-5, 0.125,
				     0.25,    0.375,   0.4375, 0.49609375 };
	for (size_t i = 0; i < sizeof(dfs) / sizeof(dfs[0]); i++) {
		double df = dfs[i];
		assert_true(bo_student_t_quantile(0.5, df) == 0);
		for (size_t j = 0; j < sizeof(ps) / sizeof(ps[0]); j++) {
			char what[64];
			snprintf(what, sizeof(what), "t(%g, %g) = -t(1 - p)", ps[j], df);
			double lo = bo_student_t_quantile(ps[j], df);
			double hi = bo_student_t_quantile(1 - ps[j], df);
			assert_true(lo < 0 && hi > 0);
			check_rel(lo, -hi, 1e-13, what);
		}
	}
	check_rel(bo_student_t_quantile(0.025, 4), -2.7764451051977943578, 1e-12, "t(.025, 4)");
}

/* df = 1 is Cauchy: t = tan(pi (p - 1/2)); df = 2: t = (2p - 1) /
 * sqrt(2 p (1 - p)). Just beside them the general solver runs, and must
 * agree to first order. */
static void test_t_closed_forms(void **state)
{
	(void)state;
	static const double ps[] = { 1e-9, 0.001, 0.025, 0.1, 0.24, 0.26, 0.4, 0.5001, 0.6,
				     0.75, 0.9, 0.975, 0.999 };
	for (size_t j = 0; j < sizeof(ps) / sizeof(ps[0]); j++) {
		double p = ps[j];
		char what[80];
		/* tan near its pole is ill-conditioned: the tails use cot */
		double c1 = p < 0.1   ? -1 / tan(M_PI * p)
			    : p > 0.9 ? 1 / tan(M_PI * (1 - p))
				      : tan(M_PI * (p - 0.5));
		double c2 = (2 * p - 1) / sqrt(2 * p * (1 - p));
		snprintf(what, sizeof(what), "Cauchy p = %g", p);
		check_rel(bo_student_t_quantile(p, 1), c1, 1e-11, what);
		snprintf(what, sizeof(what), "df 2 p = %g", p);
		check_rel(bo_student_t_quantile(p, 2), c2, 1e-12, what);
		/* the general solver beside the closed forms: d t / d df is
		 * at most ~|t| ln|t| here, so 1e-9 apart agree to ~1e-7 */
		snprintf(what, sizeof(what), "df 1 - 1e-9, p = %g", p);
		check_rel(bo_student_t_quantile(p, 1 - 1e-9), c1, 1e-7, what);
		snprintf(what, sizeof(what), "df 1 + 1e-9, p = %g", p);
		check_rel(bo_student_t_quantile(p, 1 + 1e-9), c1, 1e-7, what);
		snprintf(what, sizeof(what), "df 2 - 1e-9, p = %g", p);
		check_rel(bo_student_t_quantile(p, 2 - 1e-9), c2, 1e-7, what);
		snprintf(what, sizeof(what), "df 2 + 1e-9, p = %g", p);
		check_rel(bo_student_t_quantile(p, 2 + 1e-9), c2, 1e-7, what);
	}
	/* the far tail of the Cauchy distribution: t ~ 1 / (pi p) */
	check_rel(bo_student_t_quantile(1e-300, 1), -1 / (M_PI * 1e-300), 1e-13, "Cauchy 1e-300");
	check_rel(bo_student_t_quantile(1e-300, 1 + 1e-12), -1 / (M_PI * 1e-300), 1e-8,
		  "df 1 + 1e-12 at 1e-300");
}

/* Above df = 1e5 the normal quantile and the Cornish-Fisher expansion take
 * over: both sides of the switch must agree. */
static void test_t_switch(void **state)
{
	(void)state;
	static const double ps[] = { 1e-12, 0.001, 0.025, 0.3, 0.45, 0.55, 0.8, 0.975 };
	for (size_t j = 0; j < sizeof(ps) / sizeof(ps[0]); j++) {
		char what[64];
		snprintf(what, sizeof(what), "switch p = %g", ps[j]);
		check_rel(bo_student_t_quantile(ps[j], 1e5 * (1 + 1e-15)),
			  bo_student_t_quantile(ps[j], 1e5), 1e-11, what);
	}
}

static void test_t_monotone(void **state)
{
	(void)state;
	static const double dfs[] = { 0.5, 1, 1.5, 2, 3, 7, 30, 300, 3e4, 3e6 };
	for (size_t i = 0; i < sizeof(dfs) / sizeof(dfs[0]); i++) {
		double prev = -INFINITY;
		for (int k = 1; k < 1000; k++) {
			double t = bo_student_t_quantile(k / 1000.0, dfs[i]);
			assert_true(isfinite(t));
			assert_true(t > prev);
			prev = t;
		}
	}
	/* in df: heavier tails, larger quantiles */
	double prev = INFINITY;
	for (double df = 0.5; df < 1e8; df *= 1.7) {
		double t = bo_student_t_quantile(0.975, df);
		assert_true(t < prev);
		prev = t;
	}
}

static void test_t_edges(void **state)
{
	(void)state;
	assert_true(isnan(bo_student_t_quantile(NAN, 4)));
	assert_true(isnan(bo_student_t_quantile(0.9, NAN)));
	assert_true(isnan(bo_student_t_quantile(-0.1, 4)));
	assert_true(isnan(bo_student_t_quantile(1.1, 4)));
	assert_true(isnan(bo_student_t_quantile(0.9, 0)));
	assert_true(isnan(bo_student_t_quantile(0.9, -3)));
	assert_true(bo_student_t_quantile(0, 4) == -INFINITY);
	assert_true(bo_student_t_quantile(1, 4) == INFINITY);
	/* tiny df: the quantile is beyond DBL_MAX */
	assert_true(bo_student_t_quantile(0.975, 0.001) == INFINITY);
	assert_true(bo_student_t_quantile(0.025, 0.001) == -INFINITY);
	/* but near the centre it is finite */
	double t = bo_student_t_quantile(0.5 + 1e-6, 0.001);
	assert_true(isfinite(t) && t > 0);
	/* just off the centre: t ~ (p - 1/2) / f(0), f(0) = 1 / pi for df 1 */
	check_rel(bo_student_t_quantile(0.5 + 0x1p-40, 1), M_PI * 0x1p-40, 1e-12, "centre");
	check_rel(bo_student_t_quantile(0.5 + 0x1p-40, 3), 0x1p-40 * M_PI * sqrt(3) / 2, 1e-12,
		  "centre df 3"); /* f(0) = 2 / (pi sqrt(3)) */
}

/* ---- summary ---- */

static void test_summarize(void **state)
{
	(void)state;
	const double x[] = { 0.9, 0.92, 0.91, 0.93, 0.89 };
	struct bo_summary s;
	bo_summarize(x, 5, &s);
	assert_int_equal(s.n, 5);
	check_rel(s.mean, 0.91, 1e-15, "mean");
	check_rel(s.std, 0.015811388300841896, 1e-12, "std");
	double half = 2.7764451051977943578 * 0.015811388300841896 / sqrt(5);
	check_rel(s.ci_hi - s.mean, half, 1e-10, "CI half-width (hi)");
	check_rel(s.mean - s.ci_lo, half, 1e-10, "CI half-width (lo)");
	check_rel(half, 0.019632, 1e-4, "CI half-width by hand");

	/* n = 2: t(0.975, 1) = 12.706 */
	const double y[] = { 1, 3 };
	bo_summarize(y, 2, &s);
	check_rel(s.mean, 2, 0, "mean 2");
	check_rel(s.std, sqrt(2), 1e-15, "std 2");
	check_rel(s.ci_hi, 2 + 12.706204736174704646 * sqrt(2) / sqrt(2), 1e-12, "ci_hi 2");
	check_rel(s.ci_lo, 2 - 12.706204736174704646, 1e-12, "ci_lo 2");
}

static void test_summarize_small(void **state)
{
	(void)state;
	struct bo_summary s;
	const double one = 0.8125;
	bo_summarize(&one, 1, &s);
	assert_int_equal(s.n, 1);
	assert_true(s.mean == one && s.std == 0 && s.ci_lo == one && s.ci_hi == one);

	bo_summarize(NULL, 0, &s);
	assert_int_equal(s.n, 0);
	assert_true(isnan(s.mean) && s.std == 0 && isnan(s.ci_lo) && isnan(s.ci_hi));
	bo_summarize(&one, -3, &s);
	assert_int_equal(s.n, 0);
	bo_summarize(&one, 1, NULL); /* no crash */

	/* identical values: exactly no spread, whatever the rounding of the sum */
	double same[7];
	for (int i = 0; i < 7; i++)
		same[i] = 0.1;
	bo_summarize(same, 7, &s);
	assert_true(s.mean == 0.1 && s.std == 0 && s.ci_lo == 0.1 && s.ci_hi == 0.1);
}

/* A large offset: the naive sum-of-squares formula loses every digit here,
 * two passes do not. */
static void test_summarize_stable(void **state)
{
	(void)state;
	const double base[] = { 4, 7, 13, 16 };
	double x[4];
	struct bo_summary a, b;
	for (int i = 0; i < 4; i++)
		x[i] = 1e9 + base[i];
	bo_summarize(base, 4, &a);
	bo_summarize(x, 4, &b);
	check_rel(a.mean, 10, 1e-15, "mean");
	check_rel(a.std, sqrt(30), 1e-15, "std"); /* (36 + 9 + 9 + 36) / 3 */
	check_rel(b.mean, 1e9 + 10, 1e-15, "offset mean");
	check_rel(b.std, a.std, 1e-9, "offset std");
	check_rel(b.ci_hi - b.mean, a.ci_hi - a.mean, 1e-8, "offset CI");

	/* many values: the mean stays inside [min, max] */
	double *v = malloc(10001 * sizeof(double));
	assert_non_null(v);
	for (int i = 0; i <= 10000; i++)
		v[i] = 0.9 + (i % 7) * 1e-3;
	bo_summarize(v, 10001, &b);
	assert_true(b.mean >= 0.9 && b.mean <= 0.906);
	assert_true(b.ci_lo < b.mean && b.mean < b.ci_hi);
	free(v);
}

/* Accuracies near 1 with a wide spread (issue 13: [-0.416, 1.530] in a
 * job's CSV): the interval is cut to [0, 1], the mean, std and Student t
 * half-width are those of bo_summarize, and a tight interval is untouched. */
static void test_summarize_accuracy(void **state)
{
	(void)state;
	const double x[] = { 1, 0.25, 1, 1 };
	struct bo_summary a, b;
	bo_summarize(x, 4, &a);
	bo_summarize_accuracy(x, 4, &b);
	assert_true(a.ci_hi > 1 && a.ci_lo < 0.5); /* the case: t(3) = 3.18, sd 0.375 */
	assert_true(b.ci_hi == 1.0);
	assert_true(b.ci_lo == a.ci_lo);
	assert_true(b.mean == a.mean && b.std == a.std && b.half == a.half && b.n == 4);
	check_rel(b.half, 3.1824463052842635 * 0.375 / 2, 1e-12, "half-width");
	check_rel(a.ci_hi - a.mean, a.half, 1e-12, "half of the unbounded interval");

	const double lowx[] = { 0, 0, 0.5 };
	bo_summarize_accuracy(lowx, 3, &b);
	assert_true(b.ci_lo == 0.0 && b.ci_hi > b.mean && b.ci_hi <= 1);

	const double wide[] = { 0, 1 };
	bo_summarize_accuracy(wide, 2, &b);
	assert_true(b.ci_lo == 0.0 && b.ci_hi == 1.0 && b.half > 6);

	const double tight[] = { 0.9, 0.92, 0.91, 0.93, 0.89 };
	bo_summarize(tight, 5, &a);
	bo_summarize_accuracy(tight, 5, &b);
	assert_true(a.n == b.n && a.mean == b.mean && a.std == b.std && a.half == b.half &&
		    a.ci_lo == b.ci_lo && a.ci_hi == b.ci_hi);

	bo_summarize_accuracy(NULL, 0, &b);
	assert_true(b.n == 0 && isnan(b.ci_lo) && isnan(b.ci_hi));
	bo_summarize_accuracy(x, 4, NULL); /* no crash */

	/* the stopping rule measures the Student t half-width, not the cut
	 * interval: { 1, 0.25, 1, 1 } cut is [0.22, 1] (half 0.39), but its
	 * half-width is 0.60 */
	struct bo_sweep_config c;
	bo_sweep_config_defaults(&c);
	c.ci_target = 0.45;
	c.min_trials = 2;
	bo_summarize_accuracy(x, 4, &b);
	assert_true((b.ci_hi - b.ci_lo) / 2 < 0.45);
	assert_false(bo_sweep_point_done(&c, &b, 4));
	c.ci_target = 0.6;
	assert_true(bo_sweep_point_done(&c, &b, 4));
}

/* ---- eta ---- */

static void test_eta(void **state)
{
	(void)state;
	check_rel(bo_eta(exp(-6.4), 12.8), 0.5, 1e-15, "eta(exp(-6.4))");
	check_rel(bo_eta(1e-3, BO_ENERGY_A), 0.53966838117047944, 1e-14, "eta(1e-3)");
	check_rel(bo_eta(1e-2, BO_ENERGY_A), log(100) / 12.8, 1e-15, "eta(1e-2)");
	assert_true(bo_eta(0, BO_ENERGY_A) == 1);
	assert_true(bo_eta(1e-7, BO_ENERGY_A) == 1); /* -ln(1e-7) / 12.8 = 1.259 */
	assert_true(bo_eta(exp(-12.8), 12.8) <= 1);
	check_rel(bo_eta(exp(-12.8), 12.8), 1, 1e-15, "eta at the knee");
	assert_true(bo_eta(1, BO_ENERGY_A) == 0);
	assert_true(bo_eta(2, BO_ENERGY_A) == 0);
	assert_true(isnan(bo_eta(-1e-3, BO_ENERGY_A)));
	assert_true(isnan(bo_eta(NAN, BO_ENERGY_A)));
	assert_true(isnan(bo_eta(1e-3, 0)));
	assert_true(isnan(bo_eta(1e-3, -12.8)));
	assert_true(isnan(bo_eta(1e-3, NAN)));
	assert_true(isnan(bo_eta(1e-3, INFINITY)));
	/* monotone non-increasing in p */
	double prev = 1;
	for (double p = 1e-9; p < 1; p *= 1.3) {
		double e = bo_eta(p, BO_ENERGY_A);
		assert_true(e <= prev && e >= 0);
		prev = e;
	}
}

/* ---- frontier ---- */

static void test_frontier_interpolation(void **state)
{
	(void)state;
	const struct bo_ref_point refs[] = { { 4000, 0.92 }, { 1000, 0.90 } };
	struct bo_frontier f = { 0 };
	struct bo_error err;
	assert_int_equal(bo_frontier_build(refs, 2, &f, &err), BO_OK);
	assert_int_equal(f.n, 2);
	assert_true(f.pts[0].energy == 1000 && f.pts[0].accuracy == 0.90);
	assert_true(f.pts[1].energy == 4000 && f.pts[1].accuracy == 0.92);
	double e = -5;
	assert_int_equal(bo_frontier_energy(&f, 0.91, &e), 0);
	check_rel(e, 2000, 1e-12, "E_ref(0.91)"); /* halfway in log E */
	assert_int_equal(bo_frontier_energy(&f, 0.905, &e), 0);
	check_rel(e, 1000 * sqrt(2), 1e-12, "E_ref(0.905)");
	assert_int_equal(bo_frontier_energy(&f, 0.90, &e), 0);
	assert_true(e == 1000);
	assert_int_equal(bo_frontier_energy(&f, 0.92, &e), 0);
	assert_true(e == 4000);
	/* never extrapolated; *energy untouched */
	e = -5;
	assert_int_equal(bo_frontier_energy(&f, 0.9200001, &e), -1);
	assert_int_equal(bo_frontier_energy(&f, 0.8999999, &e), -1);
	assert_int_equal(bo_frontier_energy(&f, 1, &e), -1);
	assert_int_equal(bo_frontier_energy(&f, 0, &e), -1);
	assert_int_equal(bo_frontier_energy(&f, NAN, &e), -1);
	assert_true(e == -5);
	/* monotone in between */
	double prev = 0;
	for (double a = 0.90; a <= 0.92; a += 0.0005) {
		assert_int_equal(bo_frontier_energy(&f, a, &e), 0);
		assert_true(e >= prev && e >= 1000 && e <= 4000);
		prev = e;
	}
	bo_frontier_release(&f);
	assert_true(f.n == 0 && f.pts == NULL);
	bo_frontier_release(&f); /* twice is fine */
	bo_frontier_release(NULL);
	assert_int_equal(bo_frontier_energy(&f, 0.91, &e), -1); /* released: empty */
	assert_int_equal(bo_frontier_energy(NULL, 0.91, &e), -1);
}

static void test_frontier_dominated(void **state)
{
	(void)state;
	const struct bo_ref_point refs[] = {
		{ 4000, 0.92 },
		{ 3000, 0.89 }, /* (1000, 0.90) is cheaper and better */
		{ 1000, 0.90 },
		{ 4000, 0.91 }, /* same energy as (4000, 0.92), worse */
		{ 1000, 0.90 }, /* a duplicate: kept once */
		{ 5000, 0.92 }, /* same accuracy as (4000, 0.92), dearer */
		{ 8000, 0.95 },
		{ 9000, 0.94 }, /* dearer and worse than (8000, 0.95) */
		{ 500, 0.50 },
	};
	const int n = (int)(sizeof(refs) / sizeof(refs[0]));
	struct bo_ref_point copy[sizeof(refs) / sizeof(refs[0])];
	memcpy(copy, refs, sizeof(refs));
	struct bo_frontier f = { 0 };
	struct bo_error err;
	assert_int_equal(bo_frontier_build(copy, n, &f, &err), BO_OK);
	assert_memory_equal(copy, refs, sizeof(refs)); /* input left alone */
	const struct bo_ref_point want[] = {
		{ 500, 0.50 }, { 1000, 0.90 }, { 4000, 0.92 }, { 8000, 0.95 }
	};
	assert_int_equal(f.n, 4);
	for (int i = 0; i < 4; i++) {
		assert_true(f.pts[i].energy == want[i].energy);
		assert_true(f.pts[i].accuracy == want[i].accuracy);
	}
	double e;
	assert_int_equal(bo_frontier_energy(&f, 0.935, &e), 0);
	check_rel(e, 4000 * sqrt(2), 1e-12, "E_ref(0.935)");
	assert_int_equal(bo_frontier_energy(&f, 0.94, &e), 0); /* not the dominated 9000 */
	check_rel(e, 4000 * pow(2, 2.0 / 3), 1e-12, "E_ref(0.94)");
	assert_int_equal(bo_frontier_energy(&f, 0.70, &e), 0);
	check_rel(e, 500 * sqrt(2), 1e-12, "E_ref(0.70)");
	bo_frontier_release(&f);

	/* every reference dominated by one: a single point */
	const struct bo_ref_point one[] = { { 10, 0.9 }, { 20, 0.8 }, { 30, 0.9 }, { 10, 0.7 } };
	assert_int_equal(bo_frontier_build(one, 4, &f, &err), BO_OK);
	assert_int_equal(f.n, 1);
	assert_true(f.pts[0].energy == 10 && f.pts[0].accuracy == 0.9);
	/* a single point is defined only at its own accuracy */
	assert_int_equal(bo_frontier_energy(&f, 0.9, &e), 0);
	assert_true(e == 10);
	assert_int_equal(bo_frontier_energy(&f, 0.8999, &e), -1);
	assert_int_equal(bo_frontier_energy(&f, 0.9001, &e), -1);
	bo_frontier_release(&f);

	/* the endpoints of [0, 1] are valid accuracies */
	const struct bo_ref_point ends[] = { { 1, 0 }, { 100, 1 } };
	assert_int_equal(bo_frontier_build(ends, 2, &f, &err), BO_OK);
	assert_int_equal(bo_frontier_energy(&f, 0.5, &e), 0);
	check_rel(e, 10, 1e-14, "E_ref(0.5) on [0, 1]");
	assert_int_equal(bo_frontier_energy(&f, 1, &e), 0);
	assert_true(e == 100);
	bo_frontier_release(&f);
}

static void expect_bad_frontier(const struct bo_ref_point *refs, int n, const char *text)
{
	struct bo_frontier f = { 7, (struct bo_ref_point *)&f }; /* garbage in */
	struct bo_error err;
	assert_int_equal(bo_frontier_build(refs, n, &f, &err), BO_EINVAL);
	assert_int_equal(err.status, BO_EINVAL);
	if (!strstr(err.text, text)) {
		print_error("error '%s' does not contain '%s'\n", err.text, text);
		fail();
	}
	assert_true(f.n == 0 && f.pts == NULL);
	bo_frontier_release(&f);
}

static void test_frontier_invalid(void **state)
{
	(void)state;
	const struct bo_ref_point ok = { 1000, 0.9 };
	expect_bad_frontier(&ok, 0, "at least one reference");
	expect_bad_frontier(&ok, -1, "at least one reference");
	expect_bad_frontier(NULL, 2, "at least one reference");
	struct bo_ref_point r[3] = { { 1000, 0.9 }, { 2000, 0.95 }, { 3000, 0.97 } };
	static const double bad_e[] = { 0, -1, NAN, INFINITY, -INFINITY };
	for (size_t i = 0; i < sizeof(bad_e) / sizeof(bad_e[0]); i++) {
		r[2].energy = bad_e[i];
		expect_bad_frontier(r, 3, "reference 2: energy");
		expect_bad_frontier(r, 3, "not a positive finite number");
	}
	r[2].energy = 3000;
	static const double bad_a[] = { -0.01, 1.01, NAN, INFINITY };
	for (size_t i = 0; i < sizeof(bad_a) / sizeof(bad_a[0]); i++) {
		r[1].accuracy = bad_a[i];
		expect_bad_frontier(r, 3, "reference 1: accuracy");
		expect_bad_frontier(r, 3, "outside [0, 1]");
	}
	r[1].accuracy = 0.95;
	struct bo_frontier f = { 0 };
	assert_int_equal(bo_frontier_build(r, 3, &f, NULL), BO_OK); /* err may be NULL */
	bo_frontier_release(&f);
	assert_int_equal(bo_frontier_build(r, 3, NULL, NULL), BO_EINVAL);
}

/* ---- block rules ---- */

static void test_rules_valid(void **state)
{
	(void)state;
	struct bo_block_rule *r = NULL;
	int n = -1;
	struct bo_error err;
	assert_int_equal(bo_block_rules_parse("layer1=p,layer2=2p,layer3=2.5e-3,*=0", &r, &n, &err),
			 BO_OK);
	assert_int_equal(n, 4);
	assert_string_equal(r[0].block, "layer1");
	assert_true(r[0].relative == 1 && r[0].value == 1);
	assert_string_equal(r[1].block, "layer2");
	assert_true(r[1].relative == 1 && r[1].value == 2);
	assert_string_equal(r[2].block, "layer3");
	assert_true(r[2].relative == 0 && r[2].value == 2.5e-3);
	assert_string_equal(r[3].block, "*");
	assert_true(r[3].relative == 0 && r[3].value == 0 && !signbit(r[3].value));
	free(r);

	/* spaces, K > 1, K = 0, absolute 1, leading dot, -0, exponent on K */
	assert_int_equal(bo_block_rules_parse(" layer1 = 0.5p ,\t* = 1 , b=10p,c=0p,d=.5,e=-0,"
					      "f=1e-3p,g=+2p,h=1E-2",
					      &r, &n, &err),
			 BO_OK);
	assert_int_equal(n, 9);
	assert_string_equal(r[0].block, "layer1");
	assert_true(r[0].relative && r[0].value == 0.5);
	assert_string_equal(r[1].block, "*");
	assert_true(!r[1].relative && r[1].value == 1);
	assert_true(r[2].relative && r[2].value == 10);
	assert_true(r[3].relative && r[3].value == 0);
	assert_true(!r[4].relative && r[4].value == 0.5);
	assert_true(!r[5].relative && r[5].value == 0 && !signbit(r[5].value));
	assert_true(r[6].relative && r[6].value == 1e-3);
	assert_true(r[7].relative && r[7].value == 2);
	assert_true(!r[8].relative && r[8].value == 1e-2);
	free(r);

	/* a single rule; names with path-like characters; a 95-character name */
	assert_int_equal(bo_block_rules_parse("features.3=3p", &r, &n, NULL), BO_OK);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].block, "features.3");
	free(r);
	char text[200];
	memset(text, 'x', 95);
	strcpy(text + 95, "=p");
	assert_int_equal(bo_block_rules_parse(text, &r, &n, &err), BO_OK);
	assert_int_equal(n, 1);
	assert_int_equal(strlen(r[0].block), 95);
	free(r);
}

static void expect_bad_rules(const char *text, const char *msg)
{
	struct bo_block_rule *r = (struct bo_block_rule *)&r; /* garbage in */
	int n = 99;
	struct bo_error err;
	bo_status st = bo_block_rules_parse(text, &r, &n, &err);
	if (st != BO_EINVAL) {
		print_error("'%s': status %d, want BO_EINVAL\n", text ? text : "(null)", st);
		fail();
	}
	assert_null(r);
	assert_int_equal(n, 0);
	assert_int_equal(err.status, BO_EINVAL);
	assert_string_equal(err.field, "--block-p");
	if (!strstr(err.text, msg)) {
		print_error("'%s': error '%s' does not contain '%s'\n", text ? text : "(null)",
			    err.text, msg);
		fail();
	}
}

static void test_rules_invalid(void **state)
{
	(void)state;
	expect_bad_rules(NULL, "no block rules given");
	expect_bad_rules("", "no block rules in ''");
	expect_bad_rules("  ", "no block rules in '  '");
	expect_bad_rules("layer1", "rule 'layer1' is not BLOCK=EXPR");
	expect_bad_rules("layer1=p,layer2:2p", "rule 'layer2:2p' is not BLOCK=EXPR");
	expect_bad_rules("=p", "rule '=p' has an empty block name");
	expect_bad_rules(" =2p", "rule '=2p' has an empty block name");
	expect_bad_rules("layer1=", "rule 'layer1=': no value");
	expect_bad_rules("layer1= ", "rule 'layer1=': no value");
	expect_bad_rules("layer1=-1e-3", "rule 'layer1=-1e-3': the probability is negative");
	expect_bad_rules("layer1=-2p", "rule 'layer1=-2p': the factor is negative");
	expect_bad_rules("layer1=1.5", "rule 'layer1=1.5': the probability 1.5 is above 1");
	expect_bad_rules("layer1=2", "the probability 2 is above 1");
	expect_bad_rules("layer1=NaN", "rule 'layer1=NaN': 'NaN' is not a probability, p or Kp");
	expect_bad_rules("layer1=nan", "'nan' is not a probability");
	expect_bad_rules("layer1=inf", "'inf' is not a probability");
	expect_bad_rules("layer1=nanp", "'nanp' is not p or Kp");
	expect_bad_rules("layer1=infp", "'infp' is not p or Kp");
	expect_bad_rules("layer1=1e999", "rule 'layer1=1e999': '1e999' is not a finite number");
	expect_bad_rules("layer1=1e999p", "'1e999p' is not a finite number");
	expect_bad_rules("layer1=pp", "rule 'layer1=pp': 'pp' is not p or Kp");
	expect_bad_rules("layer1=2 p", "'2 p' is not p or Kp");
	expect_bad_rules("layer1=2*p", "'2*p' is not p or Kp");
	expect_bad_rules("layer1=P", "'P' is not a probability");
	expect_bad_rules("layer1=0x1p-3", "'0x1p-3' is not a probability");
	expect_bad_rules("layer1=1e", "'1e' is not a probability");
	expect_bad_rules("layer1=.", "'.' is not a probability");
	expect_bad_rules("layer1=p,layer1=2p", "rule 'layer1=2p': block 'layer1' is given twice");
	expect_bad_rules("*=0,a=p,* = p", "rule '*=p': block '*' is given twice");
	expect_bad_rules("layer1=p,", "empty rule 2 in 'layer1=p,'");
	expect_bad_rules(",layer1=p", "empty rule 1 in ',layer1=p'");
	expect_bad_rules("a=p,,b=p", "empty rule 2 in 'a=p,,b=p'");
	expect_bad_rules("a=p, ,b=p", "empty rule 2");
	char text[200];
	memset(text, 'y', 96);
	strcpy(text + 96, "=p");
	expect_bad_rules(text, "the block name is longer than 95 characters");

	/* NULL outputs: refused, no crash */
	struct bo_block_rule *r;
	int n;
	assert_int_equal(bo_block_rules_parse("a=p", NULL, &n, NULL), BO_EINVAL);
	assert_int_equal(bo_block_rules_parse("a=p", &r, NULL, NULL), BO_EINVAL);
	assert_null(r);
	/* err may be NULL on failure too */
	assert_int_equal(bo_block_rules_parse("a=2", &r, &n, NULL), BO_EINVAL);
	assert_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_t_published),
		cmocka_unit_test(test_t_mpmath),
		cmocka_unit_test(test_t_symmetry),
		cmocka_unit_test(test_t_closed_forms),
		cmocka_unit_test(test_t_switch),
		cmocka_unit_test(test_t_monotone),
		cmocka_unit_test(test_t_edges),
		cmocka_unit_test(test_summarize),
		cmocka_unit_test(test_summarize_small),
		cmocka_unit_test(test_summarize_stable),
		cmocka_unit_test(test_summarize_accuracy),
		cmocka_unit_test(test_eta),
		cmocka_unit_test(test_frontier_interpolation),
		cmocka_unit_test(test_frontier_dominated),
		cmocka_unit_test(test_frontier_invalid),
		cmocka_unit_test(test_rules_valid),
		cmocka_unit_test(test_rules_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
