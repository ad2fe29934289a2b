/* The energy optimizer (spec section 8; the method and its reasoning in
 * docs/optimizer.md, the interface in brownout/optimize.h).
 *
 * Design: an allocation is a vector of grid indices k_i, -1 meaning p = 0
 * (reliable), so every candidate is a point of a finite lattice and can be
 * cached: struct cand keeps a candidate's trials (trial t of the search
 * stream is one chip's random draws, the same for every candidate, so two
 * candidates' trials pair up) and grows them on demand (eval_to). The
 * all-reliable allocation is never evaluated: its accuracy is the clean
 * accuracy on every trial. The budget counts every trial evaluate() runs.
 *  - phase 1 (curves): block i alone at grid p g, curve_trials trials; the
 *    loss clean - mean is made non-decreasing in p; a block stops at the
 *    first g whose loss exceeds 2 L (L = clean - A*): with losses >= 0 that
 *    add, no allocation using it or anything beyond can meet A*;
 *  - phase 2 (front): the blocks' options (loss, energy saved) merged one
 *    block at a time into the Pareto front of the separable model, losses
 *    up to 2 L; its best point with loss <= L is the exact optimum of that
 *    model over the grid;
 *  - phase 3 (full model): bisection along the front for the last
 *    allocation the full model accepts (the measured accuracy falls, in
 *    the main, as the predicted loss grows), then local search: one block a
 *    step up the grid, or one up and another one down, by predicted energy
 *    saved per loss added, the first that the full model accepts becomes
 *    the incumbent, until no move is accepted or the budget is spent.
 * A candidate is accepted when its estimated mean accuracy is >= A*: the
 * estimate is paired with the incumbent's trials (the incumbent's mean
 * plus the mean difference on the candidate's trials), and while the
 * Student t 95 % interval of that estimate straddles A* the trials double,
 * up to max_trials, where the estimate alone decides. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brownout/optimize.h>

#include "internal.h"

#define LOSS_SLACK 2.0    /* phase 1/2 keep losses up to LOSS_SLACK x L */
#define FRONT_CAP 4096    /* states kept per merge step */
#define EPS 1e-12

struct cand {
	int *k;
	double *acc;
	int n_acc, cap;
	double energy;
	int verdict;      /* -1 undecided, 0 rejected, 1 accepted */
	double est;       /* its estimated mean accuracy at the decision */
};

struct opt {
	const struct bo_opt_evaluator *ev;
	const struct bo_opt_config *c;
	int n, G;
	double clean, floor, L, energy_o;
	struct cand **cands;
	int n_cands, cap_cands;
	int64_t trials;
	int candidates;
	int phase;
	struct cand *inc;   /* the incumbent */
	double *pbuf;       /* n: a p vector */
	struct bo_opt_result *r;
};

enum { OK = 0, BUDGET = 1 };

void bo_opt_config_defaults(struct bo_opt_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_loss = 0.01;
	c->budget_trials = 2000;
	c->curve_trials = 3;
	c->min_trials = 4;
	c->max_trials = 16;
	c->seed = 1;
}

int bo_opt_log_grid(double lo, double hi, int n, double *out)
{
	if (n < 2 || !(lo > 0 && lo < hi && hi <= 1))
		return -1;
	for (int i = 0; i < n; i++)
		out[i] = exp(log(lo) + (log(hi) - log(lo)) * i / (n - 1));
	out[n - 1] = hi;
	return 0;
}

static double ev_energy(const struct bo_opt_evaluator *ev, const double *p)
{
	if (ev->energy)
		return ev->energy(ev->ctx, p);
	double a = ev->energy_a > 0 ? ev->energy_a : BO_ENERGY_A, e = 0;
	for (int i = 0; i < ev->n_blocks; i++)
		e += bo_eta(p[i], a) * ev->volume[i];
	return e;
}

static const double *k_to_p(struct opt *o, const int *k)
{
	for (int i = 0; i < o->n; i++)
		o->pbuf[i] = k[i] < 0 ? 0 : o->c->grid[k[i]];
	return o->pbuf;
}

static void cand_free(struct cand *c)
{
	if (!c)
		return;
	free(c->k);
	free(c->acc);
	free(c);
}

/* The cached candidate of k, created (not evaluated) when new; NULL when
 * out of memory. */
static struct cand *cand_get(struct opt *o, const int *k)
{
	for (int i = 0; i < o->n_cands; i++)
		if (!memcmp(o->cands[i]->k, k, (size_t)o->n * sizeof(int)))
			return o->cands[i];
	if (o->n_cands == o->cap_cands) {
		int cap = o->cap_cands ? 2 * o->cap_cands : 64;
		struct cand **nc = realloc(o->cands, (size_t)cap * sizeof(*nc));
		if (!nc)
			return NULL;
		o->cands = nc;
		o->cap_cands = cap;
	}
	struct cand *c = calloc(1, sizeof(*c));
	if (!c || !(c->k = malloc((size_t)o->n * sizeof(int)))) {
		free(c);
		return NULL;
	}
	memcpy(c->k, k, (size_t)o->n * sizeof(int));
	c->energy = ev_energy(o->ev, k_to_p(o, k));
	c->verdict = -1;
	o->cands[o->n_cands++] = c;
	return c;
}

static int all_reliable(const struct opt *o, const int *k)
{
	for (int i = 0; i < o->n; i++)
		if (k[i] >= 0)
			return 0;
	return 1;
}

static bo_status progress(struct opt *o, struct bo_error *err)
{
	if (!o->c->progress)
		return BO_OK;
	struct bo_opt_progress pr = {
		o->phase, o->candidates, o->trials, o->c->budget_trials,
		o->inc ? o->inc->energy / o->energy_o : 1.0,
		o->inc ? o->inc->est : o->clean,
	};
	if (o->c->progress(o->c->progress_ctx, &pr))
		return Bo_fail(err, BO_ECANCELLED, "cancelled");
	return BO_OK;
}

/* Make c's trials [0, T) known. BUDGET (err untouched) when they would
 * take the search past its budget. */
static bo_status eval_to(struct opt *o, struct cand *c, int T, struct bo_error *err)
{
	if (c->n_acc >= T)
		return BO_OK;
	if (T > c->cap) {
		double *a = realloc(c->acc, (size_t)T * sizeof(double));
		if (!a)
			return Bo_fail(err, BO_ENOMEM, "out of memory");
		c->acc = a;
		c->cap = T;
	}
	if (all_reliable(o, c->k)) {
		for (int t = c->n_acc; t < T; t++)
			c->acc[t] = o->clean;
		c->n_acc = T;
		return BO_OK;
	}
	if (o->trials + (T - c->n_acc) > o->c->budget_trials)
		return (bo_status)BUDGET;
	bo_status rc = o->ev->evaluate(o->ev->ctx, k_to_p(o, c->k), o->c->seed, c->n_acc, T,
				       c->acc + c->n_acc, err);
	if (rc)
		return rc;
	for (int t = c->n_acc; t < T; t++)
		if (!(c->acc[t] >= 0 && c->acc[t] <= 1))
			return Bo_fail(err, BO_EINVAL, "the evaluator gave accuracy %g for trial %d",
				       c->acc[t], t);
	o->trials += T - c->n_acc;
	c->n_acc = T;
	return BO_OK;
}

static double mean_of(const double *x, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += x[i];
	return n ? s / n : NAN;
}

/* Does the full model accept c (estimated mean accuracy >= A*)? Sets
 * *ok and c->verdict; BUDGET when the trials it needs are not left. */
static bo_status decide(struct opt *o, struct cand *c, int *ok, struct bo_error *err)
{
	bo_status rc;
	if (c->verdict >= 0) {
		*ok = c->verdict;
		return BO_OK;
	}
	int T = BO_MAX(c->n_acc, o->c->min_trials);
	T = BO_MIN(T, o->c->max_trials);
	o->candidates++;
	for (;;) {
		if ((rc = eval_to(o, c, T, err)))
			return rc;
		struct cand *inc = o->inc && o->inc != c ? o->inc : NULL;
		if (inc && (rc = eval_to(o, inc, T, err)))
			return rc;
		double d[BO_OPT_MAX_TRIALS], est, half = 0;
		for (int t = 0; t < T; t++)
			d[t] = c->acc[t] - (inc ? inc->acc[t] : 0);
		double md = mean_of(d, T);
		est = (inc ? mean_of(inc->acc, inc->n_acc) : 0) + md;
		if (T >= 2) {
			double s = 0;
			for (int t = 0; t < T; t++)
				s += (d[t] - md) * (d[t] - md);
			half = bo_student_t_quantile(0.975, T - 1) * sqrt(s / (T - 1)) / sqrt((double)T);
		}
		c->est = est;
		if (est - half >= o->floor || est + half < o->floor || T >= o->c->max_trials) {
			c->verdict = est >= o->floor;
			*ok = c->verdict;
			return progress(o, err);
		}
		T = BO_MIN(2 * T, o->c->max_trials);
	}
}

/* ---- phase 2: the separable model's Pareto front ---- */

struct state {
	double loss, save;
	int parent, g;
};

static int state_cmp(const void *a, const void *b)
{
	const struct state *x = a, *y = b;
	if (x->loss != y->loss)
		return x->loss < y->loss ? -1 : 1;
	if (x->save != y->save)
		return x->save > y->save ? -1 : 1;
	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	return (x->g > y->g) - (x->g < y->g);
}

struct front {
	int n_levels;
	struct state **lv;   /* per block: its states (parent: index in the previous level) */
	int *n;
};

static void front_release(struct front *f)
{
	if (f->lv)
		for (int i = 0; i < f->n_levels; i++)
			free(f->lv[i]);
	free(f->lv);
	free(f->n);
}

/* loss[i * (G + 1) + g + 1], save likewise (g = -1..G-1; loss INFINITY
 * where the block stopped). */
static bo_status front_build(struct opt *o, const double *loss, const double *save,
			     struct front *f, struct bo_error *err)
{
	int n = o->n, G = o->G;
	double lmax = LOSS_SLACK * o->L + EPS;
	memset(f, 0, sizeof(*f));
	f->lv = calloc((size_t)n, sizeof(*f->lv));
	f->n = calloc((size_t)n, sizeof(int));
	if (!f->lv || !f->n)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	f->n_levels = n;
	struct state root = { 0, 0, -1, -1 };
	const struct state *prev = &root;
	int n_prev = 1;
	for (int i = 0; i < n; i++) {
		size_t cap = (size_t)n_prev * (size_t)(G + 1);
		struct state *s = malloc(cap * sizeof(*s));
		if (!s)
			return Bo_fail(err, BO_ENOMEM, "out of memory");
		size_t m = 0;
		for (int a = 0; a < n_prev; a++)
			for (int g = -1; g < G; g++) {
				double l = prev[a].loss + loss[i * (G + 1) + g + 1];
				if (!(l <= lmax))
					continue;
				s[m++] = (struct state){ l, prev[a].save + save[i * (G + 1) + g + 1], a, g };
			}
		qsort(s, m, sizeof(*s), state_cmp);
		/* keep the states no other beats on both loss and saving */
		size_t k = 0;
		double best = -INFINITY;
		for (size_t j = 0; j < m; j++)
			if (s[j].save > best + EPS * fabs(o->energy_o)) {
				best = s[j].save;
				s[k++] = s[j];
			}
		if (k > FRONT_CAP) { /* thin evenly, keeping both ends */
			size_t kk = 0;
			for (size_t j = 0; j < FRONT_CAP; j++)
				s[kk++] = s[j * (k - 1) / (FRONT_CAP - 1)];
			k = kk;
		}
		f->lv[i] = s;
		f->n[i] = (int)k;
		prev = s;
		n_prev = (int)k;
	}
	return BO_OK;
}

/* The allocation of state j of the last level. */
static void front_alloc(const struct front *f, int j, int *k)
{
	for (int i = f->n_levels - 1; i >= 0; i--) {
		k[i] = f->lv[i][j].g;
		j = f->lv[i][j].parent;
	}
}

/* ---- the search ---- */

static bo_status check(const struct bo_opt_evaluator *ev, const struct bo_opt_config *c,
		       struct bo_error *err)
{
	if (!ev || !ev->evaluate || ev->n_blocks < 1 || ev->n_blocks > BO_OPT_MAX_BLOCKS ||
	    (!ev->energy && !ev->volume))
		return Bo_fail(err, BO_EINVAL, "the evaluator needs 1 to %d blocks, evaluate() and"
			       " energy() or volumes", BO_OPT_MAX_BLOCKS);
	if (!(ev->clean_accuracy >= 0 && ev->clean_accuracy <= 1))
		return Bo_fail(err, BO_EINVAL, "clean accuracy %g is not in [0, 1]", ev->clean_accuracy);
	if (!c->grid || c->n_grid < 1 || c->n_grid > BO_OPT_MAX_GRID) {
		Bo_error_where(err, NULL, NULL, NULL, "grid");
		return Bo_fail(err, BO_EINVAL, "the p grid needs 1 to %d values, not %d",
			       BO_OPT_MAX_GRID, c->grid ? c->n_grid : 0);
	}
	for (int g = 0; g < c->n_grid; g++)
		if (!(c->grid[g] > 0 && c->grid[g] <= 1) || (g && !(c->grid[g] > c->grid[g - 1]))) {
			Bo_error_where(err, NULL, NULL, NULL, "grid");
			return Bo_fail(err, BO_EINVAL,
				       "the p grid must ascend strictly within (0, 1]; value %d is %g", g + 1,
				       c->grid[g]);
		}
	if (c->accuracy_floor > 0) {
		if (!(c->accuracy_floor <= 1)) {
			Bo_error_where(err, NULL, NULL, NULL, "accuracy_floor");
			return Bo_fail(err, BO_EINVAL, "the accuracy floor must be in (0, 1], not %g",
				       c->accuracy_floor);
		}
		if (c->accuracy_floor > ev->clean_accuracy) {
			Bo_error_where(err, NULL, NULL, NULL, "accuracy_floor");
			return Bo_fail(err, BO_EINVAL,
				       "the accuracy floor %.4f is above the clean accuracy %.4f: no"
				       " allocation can meet it", c->accuracy_floor, ev->clean_accuracy);
		}
	} else if (!(c->max_loss > 0 && c->max_loss < 1) || isnan(c->accuracy_floor)) {
		Bo_error_where(err, NULL, NULL, NULL, "max_loss");
		return Bo_fail(err, BO_EINVAL, "the maximum loss must be in (0, 1), not %g", c->max_loss);
	}
	if (c->curve_trials < 1 || c->curve_trials > BO_OPT_MAX_TRIALS) {
		Bo_error_where(err, NULL, NULL, NULL, "curve_trials");
		return Bo_fail(err, BO_EINVAL, "curve trials must be 1 to %d, not %d", BO_OPT_MAX_TRIALS,
			       c->curve_trials);
	}
	if (c->min_trials < 2 || c->max_trials < c->min_trials ||
	    c->max_trials > BO_OPT_MAX_TRIALS) {
		Bo_error_where(err, NULL, NULL, NULL, "min_trials");
		return Bo_fail(err, BO_EINVAL, "candidates need 2 <= min_trials <= max_trials <= %d"
			       " (got %d, %d)", BO_OPT_MAX_TRIALS, c->min_trials, c->max_trials);
	}
	int64_t need = (int64_t)ev->n_blocks * c->n_grid * c->curve_trials + c->min_trials;
	if (c->budget_trials < need) {
		Bo_error_where(err, NULL, NULL, NULL, "budget_trials");
		return Bo_fail(err, BO_EINVAL,
			       "a budget of %lld trials is too small: the curves alone take up to"
			       " %d blocks x %d grid p x %d trials, plus %d for one candidate: at least"
			       " %lld", (long long)c->budget_trials, ev->n_blocks, c->n_grid,
			       c->curve_trials, c->min_trials, (long long)need);
	}
	return BO_OK;
}

/* Phase 1: the curves; fills o->r->curve, loss and save. */
static bo_status phase_curves(struct opt *o, double *loss, double *save, struct bo_error *err)
{
	int n = o->n, G = o->G;
	int *k = malloc((size_t)n * sizeof(int));
	bo_status rc = BO_OK;
	if (!k)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	o->phase = 1;
	for (int i = 0; i < n; i++) {
		double prev = 0;
		int stopped = 0;
		loss[i * (G + 1)] = 0;
		save[i * (G + 1)] = 0;
		for (int g = 0; g < G; g++) {
			for (int j = 0; j < n; j++)
				k[j] = j == i ? g : -1;
			save[i * (G + 1) + g + 1] = o->energy_o - ev_energy(o->ev, k_to_p(o, k));
			o->r->curve[i * G + g] = NAN;
			if (stopped) {
				loss[i * (G + 1) + g + 1] = INFINITY;
				continue;
			}
			struct cand *c = cand_get(o, k);
			if (!c) {
				rc = Bo_fail(err, BO_ENOMEM, "out of memory");
				goto out;
			}
			if ((rc = eval_to(o, c, o->c->curve_trials, err)))
				goto out; /* the budget was checked to cover the curves */
			double m = mean_of(c->acc, o->c->curve_trials);
			o->r->curve[i * G + g] = m;
			prev = fmax(prev, o->clean - m);
			loss[i * (G + 1) + g + 1] = prev;
			if (prev > LOSS_SLACK * o->L)
				stopped = 1;
			if ((rc = progress(o, err)))
				goto out;
		}
	}
out:
	free(k);
	return rc;
}

/* The monotonicity bound (brownout/optimize.h, lower_bound_energy): each
 * block at its first grid p whose curve loss exceeds L (p = 1 when none
 * does; the losses are non-decreasing in p, so that p and every larger one
 * fail alone), the energy of that vector. */
static double lower_bound(struct opt *o, const double *loss)
{
	for (int i = 0; i < o->n; i++) {
		o->pbuf[i] = 1;
		for (int g = 0; g < o->G; g++)
			if (loss[i * (o->G + 1) + g + 1] > o->L + EPS) {
				o->pbuf[i] = o->c->grid[g];
				break;
			}
	}
	return ev_energy(o->ev, o->pbuf);
}

static double predicted_loss(const struct opt *o, const double *loss, const int *k)
{
	double l = 0;
	for (int i = 0; i < o->n; i++)
		l += loss[i * (o->G + 1) + k[i] + 1];
	return l;
}

struct move {
	int *k;
	double score;
	int order;
};

static int move_cmp(const void *a, const void *b)
{
	const struct move *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

/* Phase 3b: local search from the incumbent. */
static bo_status phase_local(struct opt *o, const double *loss, struct bo_error *err)
{
	int n = o->n, G = o->G;
	size_t max_moves = (size_t)n * (size_t)n;
	struct move *mv = calloc(max_moves, sizeof(*mv));
	int *kbuf = malloc(max_moves * (size_t)n * sizeof(int));
	bo_status rc = BO_OK;
	if (!mv || !kbuf) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	o->phase = 3;
	for (;;) {
		const int *x = o->inc->k;
		double lx = predicted_loss(o, loss, x);
		int m = 0;
		for (int i = 0; i < n; i++) {
			if (x[i] + 1 >= G)
				continue;
			for (int j = -1; j < n; j++) {
				if (j == i || (j >= 0 && x[j] < 0))
					continue;
				int *k = kbuf + (size_t)m * (size_t)n;
				memcpy(k, x, (size_t)n * sizeof(int));
				k[i]++;
				if (j >= 0)
					k[j]--;
				double l = predicted_loss(o, loss, k);
				if (!isfinite(l))
					continue;
				struct cand *c = cand_get(o, k);
				if (!c) {
					rc = Bo_fail(err, BO_ENOMEM, "out of memory");
					goto out;
				}
				if (c->verdict == 0 || !(c->energy < o->inc->energy))
					continue;
				mv[m].k = k;
				mv[m].score = (o->inc->energy - c->energy) / (fmax(l - lx, 0) + 1e-6);
				mv[m].order = m;
				m++;
			}
		}
		qsort(mv, (size_t)m, sizeof(*mv), move_cmp);
		int moved = 0;
		for (int t = 0; t < m && !moved; t++) {
			struct cand *c = cand_get(o, mv[t].k);
			int ok;
			if (!c) {
				rc = Bo_fail(err, BO_ENOMEM, "out of memory");
				goto out;
			}
			if ((rc = decide(o, c, &ok, err)))
				goto out;
			if (ok) {
				o->inc = c;
				o->r->moves++;
				moved = 1;
			}
		}
		if (!moved)
			break;
	}
out:
	free(mv);
	free(kbuf);
	return rc;
}

bo_status bo_optimize(const struct bo_opt_evaluator *ev, const struct bo_opt_config *cfg,
		      struct bo_opt_result *r, struct bo_error *err)
{
	struct opt o;
	struct front f = { 0 };
	double *loss = NULL, *save = NULL;
	int *k = NULL;
	bo_status rc;
	memset(r, 0, sizeof(*r));
	memset(&o, 0, sizeof(o));
	bo_error_clear(err);
	if ((rc = check(ev, cfg, err)))
		return rc;
	o.ev = ev;
	o.c = cfg;
	o.n = ev->n_blocks;
	o.G = cfg->n_grid;
	o.clean = ev->clean_accuracy;
	o.floor = cfg->accuracy_floor > 0 ? cfg->accuracy_floor : o.clean - cfg->max_loss;
	o.L = o.clean - o.floor;
	o.r = r;
	r->n_blocks = o.n;
	r->n_grid = o.G;
	r->floor = o.floor;
	o.pbuf = calloc((size_t)o.n, sizeof(double));
	r->p = calloc((size_t)o.n, sizeof(double));
	r->curve = calloc((size_t)o.n * (size_t)o.G, sizeof(double));
	loss = calloc((size_t)o.n * (size_t)(o.G + 1), sizeof(double));
	save = calloc((size_t)o.n * (size_t)(o.G + 1), sizeof(double));
	k = malloc((size_t)o.n * sizeof(int));
	if (!o.pbuf || !r->p || !r->curve || !loss || !save || !k) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	o.energy_o = ev_energy(ev, o.pbuf);
	r->energy_o = o.energy_o;
	for (int i = 0; i < o.n; i++)
		k[i] = -1;
	if (!(o.inc = cand_get(&o, k))) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	o.inc->verdict = 1;
	o.inc->est = o.clean;

	/* 1: curves */
	if ((rc = phase_curves(&o, loss, save, err)))
		goto out;
	r->curve_trials_used = o.trials;
	r->lower_bound_energy = lower_bound(&o, loss);

	/* 2: the separable model's front and its optimum */
	o.phase = 2;
	if ((rc = front_build(&o, loss, save, &f, err)))
		goto out;
	int nf = f.n[o.n - 1], jstar = -1;
	const struct state *last = f.lv[o.n - 1];
	for (int j = 0; j < nf; j++)
		if (last[j].loss <= o.L + EPS)
			jstar = j;
	r->front_size = nf;
	r->separable_energy = o.energy_o - (jstar >= 0 ? last[jstar].save : 0);

	/* 3a: bisection along the front; -1 is the all-reliable allocation */
	o.phase = 3;
	int lo = -1, hi = nf;
	for (int j = jstar; hi - lo > 1; j = lo + (hi - lo) / 2) {
		if (j <= lo || j >= hi)
			j = lo + (hi - lo) / 2;
		int ok;
		front_alloc(&f, j, k);
		struct cand *c = cand_get(&o, k);
		if (!c) {
			rc = Bo_fail(err, BO_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = decide(&o, c, &ok, err)))
			goto out;
		if (ok && c->energy < o.inc->energy)
			o.inc = c;
		if (ok)
			lo = j;
		else
			hi = j;
	}
	/* 3b: local search on the full model */
	rc = phase_local(&o, loss, err);
out:
	if (rc == (bo_status)BUDGET) {
		r->budget_exhausted = 1;
		bo_error_clear(err);
		rc = BO_OK;
	}
	if (!rc) {
		const double *p = k_to_p(&o, o.inc->k);
		memcpy(r->p, p, (size_t)o.n * sizeof(double));
		r->energy = o.inc->energy;
		r->accuracy = o.inc->n_acc ? mean_of(o.inc->acc, o.inc->n_acc) : o.clean;
		r->accuracy_trials = o.inc->n_acc;
		r->predicted_loss = predicted_loss(&o, loss, o.inc->k);
		r->trials = o.trials;
		r->candidates = o.candidates;
	} else {
		bo_opt_result_release(r);
	}
	for (int i = 0; i < o.n_cands; i++)
		cand_free(o.cands[i]);
	free(o.cands);
	free(o.pbuf);
	front_release(&f);
	free(loss);
	free(save);
	free(k);
	return rc;
}

void bo_opt_result_release(struct bo_opt_result *r)
{
	if (!r)
		return;
	free(r->p);
	free(r->curve);
	memset(r, 0, sizeof(*r));
}

/* ---- verification ---- */

uint64_t bo_opt_verify_seed(uint64_t seed)
{
	uint64_t z = seed ^ 0x766572696679ULL; /* "verify" */
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31)) >> 1; /* 63 bits: a --seed anywhere */
}

int bo_opt_iso_energy(const double *energy, const double *acc, int n, double target,
		      double *out)
{
	if (n < 1)
		return -1;
	if (acc[0] < target)
		return 1;
	for (int k = 1; k < n; k++)
		if (acc[k] < target) {
			double f = (target - acc[k - 1]) / (acc[k] - acc[k - 1]);
			*out = exp(log(energy[k - 1]) + f * (log(energy[k]) - log(energy[k - 1])));
			return 0;
		}
	return 2;
}

void bo_opt_verification_release(struct bo_opt_verification *v)
{
	if (!v)
		return;
	free(v->accuracy);
	if (v->baselines)
		for (int i = 0; i < v->n_baselines; i++) {
			free(v->baselines[i].p);
			free(v->baselines[i].energy);
			free(v->baselines[i].accuracy);
		}
	free(v->baselines);
	memset(v, 0, sizeof(*v));
}

bo_status bo_opt_verify(const struct bo_opt_evaluator *ev, const double *p, uint64_t seed,
			int trials, double floor, const struct bo_opt_baseline *baselines,
			int n_baselines, const double *grid, int n_grid, int baseline_trials,
			const struct bo_frontier *frontier, struct bo_opt_verification *v,
			struct bo_error *err)
{
	bo_status rc = BO_OK;
	double *pb = NULL, *acc = NULL;
	memset(v, 0, sizeof(*v));
	bo_error_clear(err);
	if (!ev || !ev->evaluate || ev->n_blocks < 1 || ev->n_blocks > BO_OPT_MAX_BLOCKS)
		return Bo_fail(err, BO_EINVAL, "the evaluator needs 1 to %d blocks", BO_OPT_MAX_BLOCKS);
	if (trials < 2 || trials > BO_OPT_MAX_TRIALS) {
		Bo_error_where(err, NULL, NULL, NULL, "verify_trials");
		return Bo_fail(err, BO_EINVAL, "verification needs 2 to %d trials, not %d",
			       BO_OPT_MAX_TRIALS, trials);
	}
	if (n_baselines > 0 && (baseline_trials < 1 || baseline_trials > BO_OPT_MAX_TRIALS ||
				n_grid < 1 || n_grid > BO_OPT_MAX_GRID || !grid)) {
		Bo_error_where(err, NULL, NULL, NULL, "baseline_trials");
		return Bo_fail(err, BO_EINVAL, "baselines need 1 to %d grid p and 1 to %d trials",
			       BO_OPT_MAX_GRID, BO_OPT_MAX_TRIALS);
	}
	for (int g = 0; n_baselines > 0 && g < n_grid; g++)
		if (!(grid[g] > 0 && grid[g] <= 1) || (g && !(grid[g] > grid[g - 1]))) {
			Bo_error_where(err, NULL, NULL, NULL, "grid");
			return Bo_fail(err, BO_EINVAL, "the baseline p grid must ascend within (0, 1]");
		}
	v->seed = bo_opt_verify_seed(seed);
	v->trials = trials;
	pb = calloc((size_t)ev->n_blocks, sizeof(double));
	acc = malloc((size_t)BO_MAX(trials, baseline_trials) * sizeof(double));
	v->accuracy = malloc((size_t)trials * sizeof(double));
	if (!pb || !acc || !v->accuracy) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ev->evaluate(ev->ctx, p, v->seed, 0, trials, v->accuracy, err)))
		goto out;
	bo_summarize_accuracy(v->accuracy, trials, &v->summary);
	v->energy = ev_energy(ev, p);
	double e_o = ev_energy(ev, pb);
	v->energy_ratio = e_o > 0 ? v->energy / e_o : NAN;
	v->meets_floor = v->summary.ci_hi >= floor;
	if (n_baselines > 0 &&
	    !(v->baselines = calloc((size_t)n_baselines, sizeof(*v->baselines)))) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	v->n_baselines = n_baselines;
	for (int b = 0; b < n_baselines; b++) {
		struct bo_opt_baseline_result *br = &v->baselines[b];
		snprintf(br->name, sizeof(br->name), "%s", baselines[b].name ? baselines[b].name : "");
		br->p = calloc((size_t)n_grid, sizeof(double));
		br->energy = calloc((size_t)n_grid, sizeof(double));
		br->accuracy = calloc((size_t)n_grid, sizeof(double));
		if (!br->p || !br->energy || !br->accuracy) {
			rc = Bo_fail(err, BO_ENOMEM, "out of memory");
			goto out;
		}
		/* ascending p = descending energy; stop below the target */
		for (int g = 0; g < n_grid; g++) {
			for (int i = 0; i < ev->n_blocks; i++)
				pb[i] = fmin(1.0, baselines[b].mult[i] * grid[g]);
			if ((rc = ev->evaluate(ev->ctx, pb, v->seed, 0, baseline_trials, acc, err)))
				goto out;
			br->p[g] = grid[g];
			br->energy[g] = ev_energy(ev, pb);
			br->accuracy[g] = mean_of(acc, baseline_trials);
			br->n = g + 1;
			if (br->accuracy[g] < v->summary.mean)
				break;
		}
		int w = bo_opt_iso_energy(br->energy, br->accuracy, br->n, v->summary.mean,
					  &br->iso_energy);
		br->reached = w == 0;
		br->below = w == 2;
		if (br->reached)
			br->saving = 1 - v->energy / br->iso_energy;
		for (int i = 0; i < ev->n_blocks; i++)
			pb[i] = 0;
	}
	double eref;
	if (frontier && frontier->n > 0 &&
	    bo_frontier_energy(frontier, v->summary.mean, &eref) == 0 && v->energy > 0) {
		v->has_reduction = 1;
		v->reference_energy = eref;
		v->reduction = eref / v->energy;
	}
out:
	free(pb);
	free(acc);
	if (rc)
		bo_opt_verification_release(v);
	return rc;
}
