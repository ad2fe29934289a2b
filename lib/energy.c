/* Statistics, energy, the iso-accuracy frontier and per-block fault policy
 * rules (spec sections 4 and 6).
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
 * std 0 exactly. n <= 0: n = 0, mean and CI NaN, std 0.
 *
 * eta(p, a) = min(1, -ln p / a): p = 0 gives 1, p >= 1 gives 0 (a memory
 * that always fails costs nothing; the clamp keeps eta in [0, 1]); p < 0, NaN
 * p, or a not finite and > 0 give NaN (a caller bug, made visible).
 *
 * Frontier: the references are validated (energy finite > 0, accuracy in
 * [0, 1]), sorted by accuracy descending then energy ascending, and swept
 * keeping a point only when its energy is strictly below every kept one:
 * this drops every reference another one dominates (<= energy and >=
 * accuracy, one strict) and all but one copy of duplicates, and leaves
 * accuracy and energy both strictly increasing once reversed. E_ref(A) is
 * E_i (E_{i+1} / E_i)^((A - A_i) / (A_{i+1} - A_i)), linear in log E; an
 * accuracy equal to a point gives its energy exactly; outside [A_min,
 * A_max] it is undefined (-1), never extrapolated.
 *
 * Block rules: "BLOCK=EXPR,...", EXPR an absolute probability in [0, 1],
 * `p`, or `Kp` (K >= 0): numbers are decimal only (digits, '.', exponent;
 * no hex, inf or nan spellings) and must be finite. Spaces around names and
 * expressions are ignored. The block name is what precedes the last '='.
 * Errors quote the rule and set field "--block-p". */
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
double bo_betacf(double a_, double b_, long double x)
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
	double cf = direct_i ? bo_betacf(a, b, x) : bo_betacf(b, a, y);
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

/* ------------------------------------------------------------------ */
/* Energy                                                              */
/* ------------------------------------------------------------------ */

double bo_eta(double p, double a)
{
	if (isnan(p) || p < 0 || !isfinite(a) || !(a > 0))
		return NAN;
	if (p == 0)
		return 1;
	if (p >= 1)
		return 0;
	return BO_MIN(1.0, -log(p) / a);
}

/* accuracy descending, then energy ascending */
static int cmp_ref(const void *pa, const void *pb)
{
	const struct bo_ref_point *a = pa, *b = pb;
	if (a->accuracy != b->accuracy)
		return a->accuracy > b->accuracy ? -1 : 1;
	if (a->energy != b->energy)
		return a->energy < b->energy ? -1 : 1;
	return 0;
}

bo_status bo_frontier_build(const struct bo_ref_point *refs, int n, struct bo_frontier *f,
			    struct bo_error *err)
{
	bo_status rc = BO_OK;
	struct bo_ref_point *pts = NULL;
	bo_error_clear(err);
	if (!f) {
		rc = bo_fail(err, BO_EINVAL, "no frontier to fill");
		goto out;
	}
	f->n = 0;
	f->pts = NULL;
	if (n < 1 || !refs) {
		rc = bo_fail(err, BO_EINVAL, "the frontier needs at least one reference point");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (!isfinite(refs[i].energy) || !(refs[i].energy > 0)) {
			rc = bo_fail(err, BO_EINVAL,
				     "reference %d: energy %g is not a positive finite number", i,
				     refs[i].energy);
			goto out;
		}
		if (!(refs[i].accuracy >= 0 && refs[i].accuracy <= 1)) {
			rc = bo_fail(err, BO_EINVAL, "reference %d: accuracy %g is outside [0, 1]",
				     i, refs[i].accuracy);
			goto out;
		}
	}
	pts = malloc((size_t)n * sizeof(*pts));
	if (!pts) {
		rc = bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(pts, refs, (size_t)n * sizeof(*pts));
	qsort(pts, (size_t)n, sizeof(*pts), cmp_ref);
	int k = 0;
	for (int i = 0; i < n; i++)
		if (k == 0 || pts[i].energy < pts[k - 1].energy)
			pts[k++] = pts[i];
	for (int i = 0; i < k / 2; i++) { /* to accuracy ascending */
		struct bo_ref_point tmp = pts[i];
		pts[i] = pts[k - 1 - i];
		pts[k - 1 - i] = tmp;
	}
	f->n = k;
	f->pts = pts;
	pts = NULL;
out:
	free(pts);
	return rc;
}

void bo_frontier_release(struct bo_frontier *f)
{
	if (!f)
		return;
	free(f->pts);
	f->pts = NULL;
	f->n = 0;
}

int bo_frontier_energy(const struct bo_frontier *f, double accuracy, double *energy)
{
	if (!f || f->n < 1 || !f->pts || isnan(accuracy))
		return -1;
	const struct bo_ref_point *p = f->pts;
	int n = f->n;
	if (accuracy < p[0].accuracy || accuracy > p[n - 1].accuracy)
		return -1;
	/* the last i with p[i].accuracy <= accuracy */
	int lo = 0, hi = n - 1;
	while (lo < hi) {
		int mid = lo + (hi - lo + 1) / 2;
		if (p[mid].accuracy <= accuracy)
			lo = mid;
		else
			hi = mid - 1;
	}
	double e;
	if (p[lo].accuracy == accuracy || lo == n - 1) {
		e = p[lo].energy;
	} else {
		double w = (accuracy - p[lo].accuracy) / (p[lo + 1].accuracy - p[lo].accuracy);
		e = p[lo].energy * exp(w * log(p[lo + 1].energy / p[lo].energy));
	}
	if (energy)
		*energy = e;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Block rules                                                         */
/* ------------------------------------------------------------------ */

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = 0;
	return s;
}

/* A decimal number filling all of s (no hex, inf or nan spellings): 1 when
 * it is one and finite, -1 when it overflows, 0 when it is not a number. */
static int parse_number(const char *s, double *v)
{
	if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
		return 0;
	char *end;
	*v = strtod(s, &end);
	if (end == s || *end)
		return 0;
	return isfinite(*v) ? 1 : -1;
}

/* Parse one trimmed, non-empty rule into *out; prev holds the n_prev rules
 * before it (for duplicates). */
static bo_status parse_rule(char *rule, struct bo_block_rule *out,
			    const struct bo_block_rule *prev, int n_prev, struct bo_error *err)
{
	char *eq = strrchr(rule, '=');
	if (!eq)
		return bo_fail(err, BO_EINVAL,
			       "rule '%s' is not BLOCK=EXPR (EXPR: a probability like 1e-3, "
			       "p, or Kp like 2p)",
			       rule);
	*eq = 0;
	char *name = trim(rule), *expr = trim(eq + 1);
	/* the rule is split now: messages quote it back as NAME=EXPR */
	if (!*name)
		return bo_fail(err, BO_EINVAL, "rule '=%s' has an empty block name", expr);
	if (strlen(name) >= sizeof(out->block))
		return bo_fail(err, BO_EINVAL,
			       "rule '%.64s...=%s': the block name is longer than %d characters",
			       name, expr, (int)sizeof(out->block) - 1);
	for (int i = 0; i < n_prev; i++)
		if (!strcmp(prev[i].block, name))
			return bo_fail(err, BO_EINVAL, "rule '%s=%s': block '%s' is given twice", name,
				       expr, name);
	if (!*expr)
		return bo_fail(err, BO_EINVAL, "rule '%s=': no value", name);
	double v = 1;
	size_t len = strlen(expr);
	int relative = expr[len - 1] == 'p';
	int ok = 1;
	if (relative && len > 1) {
		expr[len - 1] = 0;
		ok = parse_number(expr, &v);
		expr[len - 1] = 'p';
	} else if (!relative) {
		ok = parse_number(expr, &v);
	}
	if (ok < 0)
		return bo_fail(err, BO_EINVAL, "rule '%s=%s': '%s' is not a finite number", name,
			       expr, expr);
	if (!ok && relative)
		return bo_fail(err, BO_EINVAL,
			       "rule '%s=%s': '%s' is not p or Kp with K a number (like 2p)", name,
			       expr, expr);
	if (!ok)
		return bo_fail(err, BO_EINVAL,
			       "rule '%s=%s': '%s' is not a probability, p or Kp (like 1e-3, p, "
			       "2p)",
			       name, expr, expr);
	if (v < 0)
		return bo_fail(err, BO_EINVAL, "rule '%s=%s': %s is negative", name, expr,
			       relative ? "the factor" : "the probability");
	if (!relative && v > 1)
		return bo_fail(err, BO_EINVAL, "rule '%s=%s': the probability %g is above 1",
			       name, expr, v);
	memset(out, 0, sizeof(*out));
	memcpy(out->block, name, strlen(name) + 1);
	out->relative = relative;
	out->value = v == 0 ? 0 : v; /* no -0 */
	return BO_OK;
}

bo_status bo_block_rules_parse(const char *text, struct bo_block_rule **rules, int *n,
			       struct bo_error *err)
{
	bo_status rc = BO_OK;
	char *copy = NULL;
	struct bo_block_rule *out = NULL;
	int k = 0;
	bo_error_clear(err);
	if (rules)
		*rules = NULL;
	if (n)
		*n = 0;
	if (!text || !rules || !n) {
		rc = bo_fail(err, BO_EINVAL, "no block rules given");
		goto out;
	}
	if (!text[strspn(text, " \t")]) {
		rc = bo_fail(err, BO_EINVAL, "no block rules in '%s'", text);
		goto out;
	}
	size_t count = 1;
	for (const char *s = text; *s; s++)
		count += *s == ',';
	if (count > (size_t)INT32_MAX) {
		rc = bo_fail(err, BO_EINVAL, "too many block rules");
		goto out;
	}
	copy = strdup(text);
	out = calloc(count, sizeof(*out));
	if (!copy || !out) {
		rc = bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	for (char *rule = copy; rule; k++) {
		char *comma = strchr(rule, ',');
		if (comma)
			*comma = 0;
		char *r = trim(rule);
		if (!*r) {
			rc = bo_fail(err, BO_EINVAL, "empty rule %d in '%s'", k + 1, text);
			goto out;
		}
		if ((rc = parse_rule(r, &out[k], out, k, err)))
			goto out;
		rule = comma ? comma + 1 : NULL;
	}
	*rules = out;
	*n = k;
	out = NULL;
out:
	if (rc)
		bo_error_where(err, NULL, NULL, NULL, "--block-p");
	free(copy);
	free(out);
	return rc;
}
