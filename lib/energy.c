/* Energy (spec section 6), the iso-accuracy frontier and per-block fault
 * policy rules. The statistics of trial accuracies are in summary.c.
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
		rc = Bo_fail(err, BO_EINVAL, "no frontier to fill");
		goto out;
	}
	f->n = 0;
	f->pts = NULL;
	if (n < 1 || !refs) {
		rc = Bo_fail(err, BO_EINVAL, "the frontier needs at least one reference point");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (!isfinite(refs[i].energy) || !(refs[i].energy > 0)) {
			rc = Bo_fail(err, BO_EINVAL,
				     "reference %d: energy %g is not a positive finite number", i,
				     refs[i].energy);
			goto out;
		}
		if (!(refs[i].accuracy >= 0 && refs[i].accuracy <= 1)) {
			rc = Bo_fail(err, BO_EINVAL, "reference %d: accuracy %g is outside [0, 1]",
				     i, refs[i].accuracy);
			goto out;
		}
	}
	pts = malloc((size_t)n * sizeof(*pts));
	if (!pts) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
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
		return Bo_fail(err, BO_EINVAL,
			       "rule '%s' is not BLOCK=EXPR (EXPR: a probability like 1e-3, "
			       "p, or Kp like 2p)",
			       rule);
	*eq = 0;
	char *name = trim(rule), *expr = trim(eq + 1);
	/* the rule is split now: messages quote it back as NAME=EXPR */
	if (!*name)
		return Bo_fail(err, BO_EINVAL, "rule '=%s' has an empty block name", expr);
	if (strlen(name) >= sizeof(out->block))
		return Bo_fail(err, BO_EINVAL,
			       "rule '%.64s...=%s': the block name is longer than %d characters",
			       name, expr, (int)sizeof(out->block) - 1);
	for (int i = 0; i < n_prev; i++)
		if (!strcmp(prev[i].block, name))
			return Bo_fail(err, BO_EINVAL, "rule '%s=%s': block '%s' is given twice", name,
				       expr, name);
	if (!*expr)
		return Bo_fail(err, BO_EINVAL, "rule '%s=': no value", name);
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
		return Bo_fail(err, BO_EINVAL, "rule '%s=%s': '%s' is not a finite number", name,
			       expr, expr);
	if (!ok && relative)
		return Bo_fail(err, BO_EINVAL,
			       "rule '%s=%s': '%s' is not p or Kp with K a number (like 2p)", name,
			       expr, expr);
	if (!ok)
		return Bo_fail(err, BO_EINVAL,
			       "rule '%s=%s': '%s' is not a probability, p or Kp (like 1e-3, p, "
			       "2p)",
			       name, expr, expr);
	if (v < 0)
		return Bo_fail(err, BO_EINVAL, "rule '%s=%s': %s is negative", name, expr,
			       relative ? "the factor" : "the probability");
	if (!relative && v > 1)
		return Bo_fail(err, BO_EINVAL, "rule '%s=%s': the probability %g is above 1",
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
		rc = Bo_fail(err, BO_EINVAL, "no block rules given");
		goto out;
	}
	if (!text[strspn(text, " \t")]) {
		rc = Bo_fail(err, BO_EINVAL, "no block rules in '%s'", text);
		goto out;
	}
	size_t count = 1;
	for (const char *s = text; *s; s++)
		count += *s == ',';
	if (count > (size_t)INT32_MAX) {
		rc = Bo_fail(err, BO_EINVAL, "too many block rules");
		goto out;
	}
	copy = strdup(text);
	out = calloc(count, sizeof(*out));
	if (!copy || !out) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	for (char *rule = copy; rule; k++) {
		char *comma = strchr(rule, ',');
		if (comma)
			*comma = 0;
		char *r = trim(rule);
		if (!*r) {
			rc = Bo_fail(err, BO_EINVAL, "empty rule %d in '%s'", k + 1, text);
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
		Bo_error_where(err, NULL, NULL, NULL, "--block-p");
	free(copy);
	free(out);
	return rc;
}
