/* Summary statistics of trial accuracies (spec section 4): the Student t
 * quantile, the continued fraction of the incomplete beta function behind
 * it (Bo_betacf, which design.c's Clopper-Pearson also uses), mean, std
 * and the 95% interval. Energy and the frontier are in energy.c.
 *
 * Student t quantile. No tables. The distribution function is written with
 * the regularised incomplete beta function: the tail P(T > t) =
 * I_x(df/2, 1/2) / 2 and the central mass P(0 < T < t) = I_y(1/2, df/2) / 2,
 * x = df / (df + t^2), y = 1 - x. One continued fraction (modified Lentz)
 * on whichever side converges gives the smaller of the two directly, the
 * other as 1 minus it, so neither cancels. x, y and their logs come from
 * r = t / sqrt(df) without losing the digits of 1 - x; the fraction runs in
 * long double because for large df its value hangs on those digits. The
 * prefactor x^a y^b / B stays in logs (no underflow in far tails), and
 * ln B(df/2, 1/2) = ln sqrt(pi) - (ln Gamma(a + 1/2) - ln Gamma(a)) comes
 * from a difference of Stirling series (after the recurrence up to a >= 10),
 * not lgamma: no cancellation at large df, no write to signgam.
 *   The quantile solves P(t) = target by Newton's method on ln P against
 * ln t (near linear both in the centre and in the power-law tail), kept in a
 * bracket that is bisected geometrically, or widened while open, whenever a
 * step leaves it. |prob - 1/2| < 1/4 solves the central mass = |prob - 1/2|,
 * else the tail = min(prob, 1 - prob); both targets are exact in floating
 * point there, so the result is good to a few ulp times the problem's
 * condition number (checked against mpmath: < 1e-13 relative over df in
 * [0.03, 1e7], prob down to 1e-250). df = 1 (Cauchy) and df = 2 use their
 * closed forms. df > 1e5 uses the normal quantile (solved the same way with
 * erf/erfc) and the Cornish-Fisher expansion to 1/df^4 (Abramowitz and
 * Stegun 26.7.5): error below 1e-20 for |t| < 6, 1e-12 at prob = 1e-300.
 * prob = 0 or 1 give -inf or +inf, and so do quantiles beyond DBL_MAX (tiny
 * df); prob outside [0, 1], df <= 0 or NaN give NaN.
 *
 * Summary: two-pass mean (refined by the mean of the residuals and clamped
 * to [min, max]) and corrected two-pass variance; identical values give
 * std 0 exactly. n <= 0: n = 0, mean and CI NaN, std 0. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <brownout/sweep.h>

#include "internal.h"

/* ------------------------------------------------------------------ */
/* Student t quantile                                                  */
/* ------------------------------------------------------------------ */

#define LN_SQRT_PI 0.57236494292470008707  /* ln Gamma(1/2) */
#define LN_SQRT_2PI 0.91893853320467274178
#define LN_HALF (-0.69314718055994530942)
#define DF_NORMAL 1e5 /* above: normal quantile + Cornish-Fisher */

/* The remainder of Stirling's series for ln Gamma(z), z >= 10 (error below
 * 1e-17 there). */
static double stirling_tail(double z)
{
	double iz = 1.0 / z, iz2 = iz * iz;
	return iz * (1.0 / 12 +
		     iz2 * (-1.0 / 360 +
			    iz2 * (1.0 / 1260 +
				   iz2 * (-1.0 / 1680 +
					  iz2 * (1.0 / 1188 +
						 iz2 * (-691.0 / 360360 + iz2 * (1.0 / 156)))))));
}

/* ln Gamma(a + 1/2) - ln Gamma(a), a > 0, to a few ulp absolute. */
static double lgamma_half_ratio(double a)
{
	double shift = 0;
	while (a < 10) { /* D(a) = D(a + 1) - ln((a + 1/2) / a) */
		shift += log1p(0.5 / a);
		a += 1;
	}
	/* (a - 1/2) ln a versus a ln(a + 1/2), minus 1/2, without cancellation:
	 * a ln(1 + w) - 1/2 = (log1p(w) - w) / (2w), w = 1 / (2a) */
	double w = 0.5 / a;
	return 0.5 * log(a) + (log1p(w) - w) / (2 * w) + stirling_tail(a + 0.5) -
	       stirling_tail(a) - shift;
}

/* Continued fraction of I_x(a, b) (modified Lentz): I_x(a, b) =
 * x^a (1 - x)^b / (a B(a, b)) * cf. Converges fast for x < (a+1)/(a+b+2).
 * For large a its value hangs on the digits of 1 - x when x is near 1, so x
 * comes, and the recurrence runs, in long double (where that is double,
 * the quantile loses about 3 digits at df = 1e5: still below 1e-11). */
double Bo_betacf(double a_, double b_, long double x)
{
	const long double tiny = 1e-300L;
	const long double eps = LDBL_EPSILON > 1e-18L ? 2 * LDBL_EPSILON : 1e-18L;
	long double a = a_, b = b_;
	long double qab = a + b, qap = a + 1, qam = a - 1;
	long double c = 1, d = 1 - qab * x / qap;
	if (fabsl(d) < tiny)
		d = tiny;
	d = 1 / d;
	long double h = d;
	long maxit = 1000 + (long)(50 * sqrt(BO_MAX(a_, b_)));
	for (long m = 1; m <= maxit; m++) {
		long double dm = (long double)m, m2 = 2 * dm;
		long double aa = dm * (b - dm) * x / ((qam + m2) * (a + m2));
		d = 1 + aa * d;
		if (fabsl(d) < tiny)
			d = tiny;
		c = 1 + aa / c;
		if (fabsl(c) < tiny)
			c = tiny;
		d = 1 / d;
		h *= d * c;
		aa = -(a + dm) * (qab + dm) * x / ((a + m2) * (qap + m2));
		d = 1 + aa * d;
		if (fabsl(d) < tiny)
			d = tiny;
		c = 1 + aa / c;
		if (fabsl(c) < tiny)
			c = tiny;
		d = 1 / d;
		long double del = d * c;
		h *= del;
		if (fabsl(del - 1) < eps)
			break;
	}
	return (double)h;
}

struct tdist {
	double df, a, lnb; /* a = df / 2, lnb = ln B(a, 1/2) */
	int normal;        /* df = infinity: the standard normal */
};

/* For t > 0: *lg = ln G(t), G the tail P(T > t) or (central) the mass
 * P(0 < T < t); *lf = ln(t f(t)) = d G / d ln t up to sign. */
static void t_eval(const struct tdist *d, double t, int central, double *lg, double *lf)
{
	if (d->normal) {
		double s = t / M_SQRT2;
		*lf = log(t) - 0.5 * t * t - LN_SQRT_2PI;
		double g = central ? 0.5 * erf(s) : 0.5 * erfc(s);
		/* past erfc's underflow: Mills' ratio, G ~ f(t) / t */
		*lg = g > 0 ? log(g) : *lf - 2 * log(t);
		return;
	}
	double lr = log(t) - 0.5 * log(d->df); /* r = t / sqrt(df) */
	double lx, ly;                         /* logs of x and y */
	long double x, y;                      /* x = 1 / (1 + r^2), y = 1 - x */
	if (lr < 0) {
		long double r2 = exp(2 * lr);
		lx = -log1p((double)r2);
		ly = 2 * lr + lx;
		x = 1 / (1 + r2);
		y = r2 / (1 + r2);
	} else {
		long double ir2 = exp(-2 * lr);
		ly = -log1p((double)ir2);
		lx = -2 * lr + ly;
		x = ir2 / (1 + ir2);
		y = 1 / (1 + ir2);
	}
	double a = d->a, b = 0.5;
	*lf = a * lx + b * ly - d->lnb; /* = ln(x^a y^b / B) = ln(t f(t)) */
	int direct_i = x < (a + 1) / (a + b + 2);
	double cf = direct_i ? Bo_betacf(a, b, x) : Bo_betacf(b, a, y);
	double lside = *lf + log(cf) - log(direct_i ? a : b); /* ln I_x or ln I_y */
	/* tail = I_x / 2, central = I_y / 2 = (1 - I_x) / 2 */
	if (direct_i == !central)
		*lg = LN_HALF + lside;
	else
		*lg = LN_HALF + log1p(-exp(lside));
}

/* Solve G(t) = target (> 0) for t > 0 from the guess t0: Newton's method in
 * ln t, kept inside a bracket [lo, hi] that is bisected geometrically (or
 * expanded while open) when a step leaves it. */
static double t_solve(const struct tdist *d, int central, double target, double t0)
{
	double ltarget = log(target);
	double lo = 0, hi = INFINITY; /* the root lies in (lo, hi) */
	double grow = 2;
	double t = isfinite(t0) ? BO_MIN(BO_MAX(t0, DBL_MIN), DBL_MAX) : DBL_MAX;
	for (int it = 0; it < 400; it++) {
		double lg, lf;
		t_eval(d, t, central, &lg, &lf);
		double f = lg - ltarget;
		if (f == 0)
			return t;
		int above = central ? f < 0 : f > 0; /* G is increasing iff central */
		if (above) {
			lo = t;
			if (t >= DBL_MAX)
				return INFINITY;
		} else {
			hi = t;
			if (t <= DBL_MIN)
				return 0;
		}
		double du = -f / ((central ? 1 : -1) * exp(lf - lg));
		double tn = t * exp(du);
		int newton = isfinite(du) && tn > lo && tn < hi;
		if (!newton) {
			if (lo > 0 && isfinite(hi)) {
				tn = sqrt(lo) * sqrt(hi);
			} else if (lo > 0) {
				tn = lo * grow;
				grow *= grow;
			} else {
				tn = hi / grow;
				grow *= grow;
			}
		}
		if (newton && fabs(du) < 1e-13)
			return tn;
		if (lo > 0 && isfinite(hi) && hi - lo <= 4 * DBL_EPSILON * hi)
			return 0.5 * (lo + hi);
		t = BO_MIN(BO_MAX(tn, DBL_MIN), DBL_MAX);
	}
	return t;
}

/* A rough normal quantile for the tail mass q <= 1/2 (Abramowitz and
 * Stegun 26.2.23, error < 4.5e-4): only a starting point. */
static double normal_guess(double q)
{
	double s = sqrt(-2 * log(q));
	return s - (2.515517 + s * (0.802853 + s * 0.010328)) /
			   (1 + s * (1.432788 + s * (0.189269 + s * 0.001308)));
}

double bo_student_t_quantile(double prob, double df)
{
	if (isnan(prob) || isnan(df) || !(df > 0) || prob < 0 || prob > 1)
		return NAN;
	if (prob == 0)
		return -INFINITY;
	if (prob == 1)
		return INFINITY;
	double dlt = prob - 0.5; /* exact for prob >= 1/4 */
	if (dlt == 0)
		return 0;
	double sign = dlt < 0 ? -1 : 1;
	int central = fabs(dlt) < 0.25;
	double c = fabs(dlt);                   /* P(0 < T < t), exact when central */
	double q = dlt < 0 ? prob : 1 - prob;   /* P(T > t), exact when not central */
	double t;
	if (df == 1) {
		t = central ? tan(M_PI * c) : 1 / tan(M_PI * q);
	} else if (df == 2) {
		if (central)
			q = 0.5 - c;
		else
			c = 0.5 - q;
		t = M_SQRT2 * c / sqrt(q * (1 - q));
	} else if (df > DF_NORMAL) {
		struct tdist d = { .normal = 1 };
		double z = central ? t_solve(&d, 1, c, c * 2.5066282746310002) /* c / f(0) */
				   : t_solve(&d, 0, q, normal_guess(q));
		double z2 = z * z, nu = df;
		double g1 = (z2 + 1) * z / 4;
		double g2 = ((5 * z2 + 16) * z2 + 3) * z / 96;
		double g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384;
		double g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160;
		t = z + (g1 + (g2 + (g3 + g4 / nu) / nu) / nu) / nu;
	} else {
		struct tdist d = { .df = df, .a = df / 2 };
		d.lnb = LN_SQRT_PI - lgamma_half_ratio(d.a);
		if (central) {
			/* P(0 < T < t) ~ t f(0), f(0) = 1 / (sqrt(df) B) */
			t = t_solve(&d, 1, c, exp(log(c) + 0.5 * log(df) + d.lnb));
		} else {
			/* the power-law bound P(T > t) < r^-df / (df B) gives an
			 * upper start; Cornish-Fisher is better for larger df */
			double la = 0.5 * log(df) - (log(df) + d.lnb + log(q)) / df;
			double z = normal_guess(q);
			double tcf = z + (z * z + 1) * z / (4 * df);
			double t0 = la < 709 ? exp(la) : DBL_MAX;
			if (df > 4 && tcf < t0)
				t0 = tcf;
			t = t_solve(&d, 0, q, t0);
		}
	}
	return sign * t;
}

/* ------------------------------------------------------------------ */
/* Summary                                                             */
/* ------------------------------------------------------------------ */

void bo_summarize(const double *x, int n, struct bo_summary *s)
{
	if (!s)
		return;
	if (n <= 0 || !x) {
		s->n = 0;
		s->mean = s->ci_lo = s->ci_hi = NAN;
		s->std = s->half = 0;
		return;
	}
	s->n = n;
	double sum = 0, lo = x[0], hi = x[0];
	int same = 1;
	for (int i = 0; i < n; i++) {
		sum += x[i];
		lo = BO_MIN(lo, x[i]);
		hi = BO_MAX(hi, x[i]);
		same &= x[i] == x[0];
	}
	if (same) {
		s->mean = s->ci_lo = s->ci_hi = x[0];
		s->std = s->half = 0;
		return;
	}
	double mean = sum / n, r = 0;
	for (int i = 0; i < n; i++)
		r += x[i] - mean;
	mean += r / n;
	if (mean < lo)
		mean = lo;
	if (mean > hi)
		mean = hi;
	s->mean = mean;
	s->std = s->half = 0;
	s->ci_lo = s->ci_hi = mean;
	if (n < 2)
		return;
	double ss = 0, sd = 0;
	for (int i = 0; i < n; i++) {
		double dv = x[i] - mean;
		ss += dv * dv;
		sd += dv;
	}
	double var = (ss - sd * sd / n) / (n - 1);
	s->std = var > 0 ? sqrt(var) : 0;
	double half = bo_student_t_quantile(0.975, n - 1) * s->std / sqrt((double)n);
	s->half = half;
	s->ci_lo = mean - half;
	s->ci_hi = mean + half;
}

/* Why clamping and not a logit-scale or Wilson-type interval: a trial's
 * accuracy is a mean over images, the point's estimate a mean over chips
 * whose spread (7 to 17 points at p = 1e-2) is far from binomial, with
 * trials at exactly 0 or 1 (where a logit is infinite) common at the ends
 * of a sweep. The Student t interval is the one spec section 4 names; the
 * true mean lies in [0, 1], so cutting the interval to [0, 1] removes only
 * impossible values and leaves its coverage exactly as it was. */
void bo_summarize_accuracy(const double *x, int n, struct bo_summary *s)
{
	bo_summarize(x, n, s);
	if (!s || s->n <= 0)
		return;
	s->ci_lo = BO_MIN(BO_MAX(s->ci_lo, 0.0), 1.0);
	s->ci_hi = BO_MIN(BO_MAX(s->ci_hi, 0.0), 1.0);
}
