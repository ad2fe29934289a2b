/* brownout optimize: per-block fault probabilities of least energy at an
 * accuracy floor (spec section 8; docs/optimizer.md).
 *
 *   brownout optimize MODEL DATASET --accuracy-floor A | --max-loss L
 *       [--block-p-grid LIST|LO:HI:N] [--budget-trials N] [--curve-trials N]
 *       [--min-trials N] [--max-trials N] [--verify-trials N] [--baseline-trials N]
 *       [--baseline-p LIST|LO:HI:N] [--policy-blocks B1,B2,B3,B4] [--references M,..]
 *       [sweep's --deviation --target --blocks --activation-sites --seed --bits --calib
 *        --limit --batch --threads --energy-a --mean --std --no-normalize --split
 *        --images --labels --progress-every] [--json]
 *
 * Design: one sweeper (one calibration, one clean pass) serves every
 * evaluation through bo_sweeper_trial_alloc; the optimizer's blocks are the
 * sweeper's parts that hold faultable values under the target (the others
 * stay reliable). Every trial uses stream key 1 (bo_sweeper_trial_alloc),
 * so trial t of any candidate is the same chip's draws, and an allocation's
 * trials are exactly those of `brownout sweep --p 1 --block-p
 * 'B=p_B,...,*=p_rest' --seed S` (the output prints that --block-p).
 * Verification uses bo_opt_verify_seed(seed), for the chosen allocation and
 * the two baselines (uniform p; the paper's policy p_B4 = 5 p_B3 = 5 p_B2 =
 * 10 p_B1, the other parts at p). Options shared with sweep are parsed by
 * sweep_parse_opt (sweep_opts.h). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <brownout/optimize.h>

#include "cli.h"
#include "report.h"
#include "sweep_opts.h"

#define OPT_KEY 1.0

struct sweeper_eval {
	struct bo_sweeper *sw;
	int n_parts;
	const struct bo_part *parts;
	int *part_of;       /* optimizer block -> part */
	double *pp;         /* p per part */
	int64_t images;
	int nb;             /* optimizer blocks */
};

static void to_parts(struct sweeper_eval *se, const double *p, int n)
{
	for (int k = 0; k < se->n_parts; k++)
		se->pp[k] = 0;
	for (int i = 0; i < n; i++)
		se->pp[se->part_of[i]] = p[i];
}

static bo_status se_evaluate(void *ctx, const double *p, uint64_t seed, int t0, int t1,
			     double *acc, struct bo_error *err)
{
	struct sweeper_eval *se = ctx;
	to_parts(se, p, se->nb);
	for (int t = t0; t < t1; t++) {
		int64_t correct;
		bo_status rc = bo_sweeper_trial_alloc(se->sw, se->pp, seed, OPT_KEY, t, &correct, NULL,
						      NULL, err);
		if (rc)
			return rc;
		acc[t - t0] = (double)correct / (double)se->images;
	}
	return BO_OK;
}

static double se_energy(void *ctx, const double *p)
{
	struct sweeper_eval *se = ctx;
	to_parts(se, p, se->nb);
	return bo_sweeper_alloc_energy(se->sw, se->pp);
}

struct opt_progress {
	double t0, last, every;
	int phase;
};

static const char *phase_name(int ph)
{
	return ph == 1 ? "curves" : ph == 2 ? "front" : "full model";
}

static int opt_progress_cb(void *ctx, const struct bo_opt_progress *pr)
{
	struct opt_progress *ps = ctx;
	double t = now();
	if (pr->phase == ps->phase && t - ps->last < ps->every)
		return 0;
	ps->phase = pr->phase;
	ps->last = t;
	fprintf(stderr,
		"progress: phase %d (%s)  %d candidates  %lld/%lld trials  best E/E_o %.4f at"
		" accuracy %.4f  %.0f s\n",
		pr->phase, phase_name(pr->phase), pr->candidates, (long long)pr->trials,
		(long long)pr->budget, pr->best_energy, pr->best_accuracy, t - ps->t0);
	fflush(stderr);
	return 0;
}

struct optimize_opts {
	struct sweep_opts so;
	double max_loss;
	const char *grid_text, *base_text, *policy_blocks;
	double grid[BO_OPT_MAX_GRID], base[BO_OPT_MAX_GRID];
	int n_grid, n_base;
	long long budget;
	int curve_trials, verify_trials, baseline_trials;
	int min_given, max_given;
};

static int parse_grid(const char *opt, const char *text, double *g, int *n)
{
	char msg[512];
	struct bo_error err;
	if (bo_p_list_parse(text, g, n, BO_OPT_MAX_GRID, &err)) {
		snprintf(msg, sizeof(msg), "%s '%.200s': %.200s", opt, text, err.text);
		return usage_error("%s", msg);
	}
	for (int i = 0; i < *n; i++)
		if (!(g[i] > 0) || (i && !(g[i] > g[i - 1]))) {
			snprintf(msg, sizeof(msg), "%s '%.200s': the values must be above 0 and ascend",
				 opt, text);
			return usage_error("%s", msg);
		}
	return 0;
}

static int parse_opts(int argc, char **argv, struct optimize_opts *o)
{
	static const struct option opts[] = {
		{ "accuracy-floor", required_argument, 0, 9 }, { "max-loss", required_argument, 0, 20 },
		{ "block-p-grid", required_argument, 0, 21 },  { "budget-trials", required_argument, 0, 22 },
		{ "curve-trials", required_argument, 0, 23 },  { "min-trials", required_argument, 0, 'm' },
		{ "max-trials", required_argument, 0, 'M' },   { "verify-trials", required_argument, 0, 24 },
		{ "baseline-trials", required_argument, 0, 25 }, { "baseline-p", required_argument, 0, 26 },
		{ "policy-blocks", required_argument, 0, 27 }, { "deviation", required_argument, 0, 'd' },
		{ "target", required_argument, 0, 'T' },       { "blocks", required_argument, 0, 'B' },
		{ "activation-sites", required_argument, 0, 'a' }, { "seed", required_argument, 0, 's' },
		{ "bits", required_argument, 0, 'b' },         { "calib", required_argument, 0, 'C' },
		{ "limit", required_argument, 0, 'l' },        { "batch", required_argument, 0, 'k' },
		{ "threads", required_argument, 0, 't' },      { "energy-a", required_argument, 0, 'e' },
		{ "references", required_argument, 0, 'r' },   { "no-normalize", no_argument, 0, 'N' },
		{ "mean", required_argument, 0, 1 },           { "std", required_argument, 0, 2 },
		{ "json", no_argument, 0, 'j' },               { "split", required_argument, 0, 3 },
		{ "images", required_argument, 0, 4 },         { "labels", required_argument, 0, 5 },
		{ "progress-every", required_argument, 0, 7 }, { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct bo_opt_config d;
	long long v;
	int ch, r;
	bo_opt_config_defaults(&d);
	memset(o, 0, sizeof(*o));
	sweep_opts_init(&o->so);
	o->budget = d.budget_trials;
	o->curve_trials = d.curve_trials;
	o->so.cfg.min_trials = d.min_trials;
	o->so.cfg.max_trials = d.max_trials;
	o->verify_trials = 10;
	o->baseline_trials = 5;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': return -1;
		case 20: {
			char *end;
			o->max_loss = strtod(optarg, &end);
			if (*end || end == optarg || !(o->max_loss > 0 && o->max_loss < 1))
				return usage_error("--max-loss must be an accuracy loss in (0, 1), not '%s'",
						   optarg);
			break;
		}
		case 21: o->grid_text = optarg; break;
		case 22:
			if (parse_long(optarg, 0, 100000000, &v))
				return usage_error("--budget-trials must be a non-negative integer, not '%s'",
						   optarg);
			o->budget = v;
			break;
		case 23:
			if (parse_long(optarg, 1, BO_OPT_MAX_TRIALS, &v))
				return usage_error("--curve-trials must be 1 to 1000, not '%s'", optarg);
			o->curve_trials = (int)v;
			break;
		case 24:
			if (parse_long(optarg, 2, BO_OPT_MAX_TRIALS, &v))
				return usage_error("--verify-trials must be 2 to 1000, not '%s'", optarg);
			o->verify_trials = (int)v;
			break;
		case 25:
			if (parse_long(optarg, 1, BO_OPT_MAX_TRIALS, &v))
				return usage_error("--baseline-trials must be 1 to 1000, not '%s'", optarg);
			o->baseline_trials = (int)v;
			break;
		case 26: o->base_text = optarg; break;
		case 27: o->policy_blocks = optarg; break;
		default:
			if ((r = sweep_parse_opt(&o->so, ch, optarg)) == SWEEP_OPT_UNKNOWN)
				return bad_option(argv, opts);
			if (r)
				return r;
		}
	}
	int npos = argc - optind;
	if (npos < 1 || npos > 2 || (npos == 2) == (o->so.images != NULL))
		return usage_error("%s", "give MODEL.onnx and either DATASET or --images/--labels");
	o->so.model = argv[optind];
	o->so.dataset = npos == 2 ? argv[optind + 1] : o->so.images;
	if ((o->so.cfg.accuracy_floor > 0) == (o->max_loss > 0))
		return usage_error("%s", "give one of --accuracy-floor A and --max-loss L");
	if ((r = parse_grid("--block-p-grid", o->grid_text ? o->grid_text : "1e-4:1e-1:10", o->grid,
			    &o->n_grid)))
		return r;
	if ((r = parse_grid("--baseline-p", o->base_text ? o->base_text : o->grid_text ?
			    o->grid_text : "1e-4:1e-1:10", o->base, &o->n_base)))
		return r;
	if (o->so.cfg.max_trials < o->so.cfg.min_trials)
		return usage_error("%s", "--max-trials is below --min-trials");
	if (o->so.cfg.max_trials > BO_OPT_MAX_TRIALS)
		return usage_error("%s", "--max-trials must be at most 1000");
	struct bo_error nerr;
	if (bo_norm_flags_check(o->so.mean, o->so.std, &nerr))
		return usage_err(&nerr);
	return 0;
}

/* The library's field -> the option that set it. */
static int opt_error(const struct bo_error *err)
{
	static const struct { const char *field, *opt; } map[] = {
		{ "accuracy_floor", "--accuracy-floor" }, { "max_loss", "--max-loss" },
		{ "grid", "--block-p-grid" },             { "budget_trials", "--budget-trials" },
		{ "curve_trials", "--curve-trials" },     { "min_trials", "--min-trials" },
		{ "verify_trials", "--verify-trials" },   { "baseline_trials", "--baseline-trials" },
	};
	char buf[1024], msg[1200];
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (err->status == BO_EINVAL && !strcmp(err->field, map[i].field)) {
			snprintf(msg, sizeof(msg), "%s: %s", map[i].opt, err->text);
			return usage_error("%s", msg);
		}
	(void)buf;
	return fail_err(err);
}

static const char *block_name(const char *b) { return b[0] ? b : "(none)"; }

static json_t *baseline_json(const struct bo_opt_baseline_result *b, double e_o)
{
	json_t *j = json_object(), *pts = json_array();
	json_object_set_new(j, "name", json_string(b->name));
	json_object_set_new(j, "reached", json_boolean(b->reached));
	json_object_set_new(j, "why", b->reached ? json_null() :
				    json_string(b->below ? "every grid p meets the accuracy: below the grid"
							 : "not reached within the grid"));
	json_object_set_new(j, "iso_energy", b->reached ? json_real(b->iso_energy) : json_null());
	json_object_set_new(j, "iso_energy_ratio", b->reached ? json_real(b->iso_energy / e_o) :
								 json_null());
	json_object_set_new(j, "saving", b->reached ? json_real(b->saving) : json_null());
	for (int g = 0; g < b->n; g++) {
		json_t *e = json_object();
		json_object_set_new(e, "p", json_real(b->p[g]));
		json_object_set_new(e, "energy_ratio", json_real(b->energy[g] / e_o));
		json_object_set_new(e, "accuracy", json_real(b->accuracy[g]));
		json_array_append_new(pts, e);
	}
	json_object_set_new(j, "points", pts);
	return j;
}

int cmd_optimize(int argc, char **argv)
{
	struct optimize_opts o;
	struct loaded l;
	struct bo_error err;
	struct bo_sweeper *sw = NULL;
	struct bo_frontier fr = { 0 };
	struct bo_ref_point refs[MAX_REFS];
	char names[MAX_REFS][256];
	struct bo_opt_result res = { 0 };
	struct bo_opt_verification ver = { 0 };
	struct sweeper_eval se = { 0 };
	const char **bnames = NULL;
	double *vol = NULL, *mult_u = NULL, *mult_p = NULL;
	int n_refs = 0, ret = 1, nb = 0, n_base = 1;
	memset(&l, 0, sizeof(l));
	bo_error_clear(&err);
	int u = parse_opts(argc, argv, &o);
	if (u)
		return u < 0 ? cmd_help(stdout, cmd_name) : u;
	double t0 = now();
	if (load_inputs(&o.so, &l, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	int rr = eval_refs(&o.so, l.ds, refs, names, &n_refs, &err);
	if (rr) {
		ret = rr == -1 ? fail_err(&err) : 1;
		goto out;
	}
	if (n_refs && bo_frontier_build(refs, n_refs, &fr, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	/* one sweeper, its single point unused: every trial is an allocation */
	static const double p0 = 0;
	o.so.cfg.p = &p0;
	o.so.cfg.n_p = 1;
	o.so.cfg.images_per_trial = BO_IMAGES_ALL;
	o.so.cfg.trials = 1;
	o.so.cfg.ci_target = 0;
	int min_t = o.so.cfg.min_trials, max_t = o.so.cfg.max_trials;
	o.so.cfg.min_trials = 3;
	o.so.cfg.max_trials = 100;
	if (bo_sweeper_new(l.m, l.ds, &o.so.cfg, &sw, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	se.sw = sw;
	se.n_parts = bo_sweeper_parts(sw, &se.parts);
	se.images = bo_sweeper_images(sw);
	se.pp = calloc((size_t)se.n_parts + 1, sizeof(double));
	se.part_of = calloc((size_t)se.n_parts + 1, sizeof(int));
	bnames = calloc((size_t)se.n_parts + 1, sizeof(char *));
	vol = calloc((size_t)se.n_parts + 1, sizeof(double));
	mult_u = calloc((size_t)se.n_parts + 1, sizeof(double));
	mult_p = calloc((size_t)se.n_parts + 1, sizeof(double));
	if (!se.pp || !se.part_of || !bnames || !vol || !mult_u || !mult_p) {
		fprintf(stderr, "%s: error: out of memory\n", prog);
		goto out;
	}
	/* the optimizer's blocks: parts holding faultable values */
	for (int k = 0; k < se.n_parts; k++) {
		int64_t fv = (o.so.cfg.target != BO_TARGET_ACTIVATIONS ? se.parts[k].parameters : 0) +
			     (o.so.cfg.target != BO_TARGET_WEIGHTS ? se.parts[k].activations : 0);
		if (fv <= 0)
			continue;
		if (nb == BO_OPT_MAX_BLOCKS) {
			fprintf(stderr, "%s: error: the model has more than %d blocks; map them to fewer"
				" with --blocks\n", prog, BO_OPT_MAX_BLOCKS);
			goto out;
		}
		se.part_of[nb] = k;
		bnames[nb] = block_name(se.parts[k].block);
		vol[nb] = (double)(se.parts[k].parameters + se.parts[k].activations);
		mult_u[nb] = 1;
		mult_p[nb] = 1;
		nb++;
	}
	if (nb < 1) {
		fprintf(stderr, "%s: error: the model has nothing to fault under --target %s\n", prog,
			bo_target_name(o.so.cfg.target));
		goto out;
	}
	se.nb = nb;
	/* the paper's policy: p_B4 = 5 p_B3 = 5 p_B2 = 10 p_B1 */
	{
		static const double pm[4] = { 1, 2, 2, 10 };
		const char *text = o.policy_blocks ? o.policy_blocks : "layer1,layer2,layer3,layer4";
		char copy[512], *save = NULL;
		int n = 0, missing = 0;
		snprintf(copy, sizeof(copy), "%s", text);
		for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++) {
			int found = -1;
			for (int i = 0; i < nb && n < 4; i++)
				if (!strcmp(bnames[i], tok))
					found = i;
			if (n < 4 && found >= 0) {
				mult_p[found] = pm[n];
				continue;
			}
			if (n >= 4) {
				ret = usage_error("--policy-blocks names four blocks B1,B2,B3,B4, not '%s'", text);
				goto out;
			}
			if (o.policy_blocks) {
				char msg[700], list[400] = "";
				size_t m = 0;
				for (int i = 0; i < nb && m < sizeof(list); i++)
					m += (size_t)snprintf(list + m, sizeof(list) - m, "%s%s", i ? ", " : "",
							      bnames[i]);
				snprintf(msg, sizeof(msg), "--policy-blocks: the model has no block '%.60s'"
					 " (blocks: %.400s)", tok, list);
				ret = usage_error("%s", msg);
				goto out;
			}
			missing = 1;
		}
		if (n != 4 && !missing) {
			ret = usage_error("--policy-blocks names four blocks B1,B2,B3,B4, not '%s'", text);
			goto out;
		}
		if (missing) {
			fprintf(stderr, "%s: note: the model has no blocks layer1..layer4: the paper's policy"
				" is left out (name its blocks with --policy-blocks)\n", prog);
			n_base = 1;
		} else {
			n_base = 2;
		}
	}
	struct bo_opt_evaluator ev = {
		.n_blocks = nb, .names = bnames, .evaluate = se_evaluate, .energy = se_energy,
		.volume = vol, .energy_a = o.so.cfg.energy_a,
		.clean_accuracy = bo_sweeper_clean_accuracy(sw), .ctx = &se,
	};
	struct opt_progress ps = { t0, 0, o.so.progress_every, 0 };
	struct bo_opt_config oc;
	bo_opt_config_defaults(&oc);
	oc.accuracy_floor = o.so.cfg.accuracy_floor;
	if (o.max_loss > 0)
		oc.max_loss = o.max_loss;
	oc.grid = o.grid;
	oc.n_grid = o.n_grid;
	oc.budget_trials = o.budget;
	oc.curve_trials = o.curve_trials;
	oc.min_trials = min_t;
	oc.max_trials = max_t;
	oc.seed = o.so.cfg.seed;
	oc.progress = opt_progress_cb;
	oc.progress_ctx = &ps;
	if (bo_optimize(&ev, &oc, &res, &err)) {
		ret = opt_error(&err);
		goto out;
	}
	double t_search = now() - t0;
	ps.phase = 4;
	fprintf(stderr, "progress: phase 4 (verification)  search done: %d candidates, %lld trials,"
		" E/E_o %.4f  %.0f s\n", res.candidates, (long long)res.trials,
		res.energy / res.energy_o, t_search);
	struct bo_opt_baseline bl[2] = { { "uniform", mult_u }, { "paper", mult_p } };
	if (bo_opt_verify(&ev, res.p, oc.seed, o.verify_trials, res.floor, bl, n_base, o.base,
			  o.n_base, o.baseline_trials, n_refs ? &fr : NULL, &ver, &err)) {
		ret = opt_error(&err);
		goto out;
	}
	double secs = now() - t0;
	/* the --block-p of a sweep at --p 1 that runs these trials */
	char bp[4096];
	{
		size_t m = 0;
		double rest = 0;
		for (int k = 0; k < se.n_parts && m < sizeof(bp); k++) {
			double pk = 0;
			for (int i = 0; i < nb; i++)
				if (se.part_of[i] == k)
					pk = res.p[i];
			if (!se.parts[k].block[0])
				rest = pk;
			else
				m += (size_t)snprintf(bp + m, sizeof(bp) - m, "%s=%.17g,", se.parts[k].block, pk);
		}
		if (m < sizeof(bp))
			snprintf(bp + m, sizeof(bp) - m, "*=%.17g", rest);
	}
	int64_t ver_trials = ver.trials;
	for (int b = 0; b < ver.n_baselines; b++)
		ver_trials += (int64_t)ver.baselines[b].n * o.baseline_trials;
	if (o.so.json) {
		json_t *j = json_object(), *al = json_array(), *bs = json_array(), *cv = json_array();
		json_t *s = json_object(), *vj = json_object();
		json_object_set_new(j, "model", json_string(o.so.model));
		json_object_set_new(j, "dataset", json_string(o.so.dataset));
		json_object_set_new(j, "config", bo_sweep_config_json(&o.so.cfg, NULL, o.so.blocks, NULL));
		json_object_set_new(j, "clean_accuracy", json_real(ev.clean_accuracy));
		json_object_set_new(j, "accuracy_floor", json_real(res.floor));
		json_object_set_new(j, "images", json_integer(se.images));
		for (int i = 0; i < nb; i++) {
			json_t *e = json_object();
			double eta = bo_eta(res.p[i], ev.energy_a);
			json_object_set_new(e, "block", json_string(bnames[i]));
			json_object_set_new(e, "p", json_real(res.p[i]));
			json_object_set_new(e, "eta", json_real(eta));
			json_object_set_new(e, "stored_values", json_integer((json_int_t)vol[i]));
			json_object_set_new(e, "energy_share", json_real(res.energy > 0 ? eta * vol[i] / res.energy : 0));
			json_array_append_new(al, e);
			json_t *c = json_object(), *cp = json_array(), *ca = json_array();
			json_object_set_new(c, "block", json_string(bnames[i]));
			for (int g = 0; g < o.n_grid; g++) {
				double a = res.curve[i * o.n_grid + g];
				json_array_append_new(cp, json_real(o.grid[g]));
				json_array_append_new(ca, isnan(a) ? json_null() : json_real(a));
			}
			json_object_set_new(c, "p", cp);
			json_object_set_new(c, "accuracy", ca);
			json_array_append_new(cv, c);
		}
		json_object_set_new(j, "allocation", al);
		json_object_set_new(j, "energy", json_real(res.energy));
		json_object_set_new(j, "energy_o", json_real(res.energy_o));
		json_object_set_new(j, "energy_ratio", json_real(res.energy / res.energy_o));
		json_object_set_new(s, "seed", json_integer((json_int_t)oc.seed));
		json_object_set_new(s, "accuracy", json_real(res.accuracy));
		json_object_set_new(s, "accuracy_trials", json_integer(res.accuracy_trials));
		json_object_set_new(s, "predicted_loss", json_real(res.predicted_loss));
		json_object_set_new(s, "separable_energy_ratio",
				    json_real(res.separable_energy / res.energy_o));
		json_object_set_new(s, "lower_bound_energy_ratio",
				    json_real(res.lower_bound_energy / res.energy_o));
		json_object_set_new(s, "front_size", json_integer(res.front_size));
		json_object_set_new(s, "candidates", json_integer(res.candidates));
		json_object_set_new(s, "moves", json_integer(res.moves));
		json_object_set_new(s, "trials", json_integer(res.trials));
		json_object_set_new(s, "curve_trials", json_integer(res.curve_trials_used));
		json_object_set_new(s, "budget_trials", json_integer(oc.budget_trials));
		json_object_set_new(s, "budget_exhausted", json_boolean(res.budget_exhausted));
		json_object_set_new(s, "curves", cv);
		json_object_set_new(j, "search", s);
		json_object_set_new(vj, "seed", json_integer((json_int_t)ver.seed));
		json_object_set_new(vj, "trials", json_integer(ver.trials));
		json_object_set_new(vj, "accuracy", json_real(ver.summary.mean));
		json_object_set_new(vj, "std", json_real(ver.summary.std));
		json_object_set_new(vj, "ci_lo", json_real(ver.summary.ci_lo));
		json_object_set_new(vj, "ci_hi", json_real(ver.summary.ci_hi));
		json_object_set_new(vj, "meets_floor", json_boolean(ver.meets_floor));
		json_object_set_new(vj, "energy_ratio", json_real(ver.energy_ratio));
		json_object_set_new(vj, "sweep_block_p", json_string(bp));
		json_t *ta = json_array();
		for (int t = 0; t < ver.trials; t++)
			json_array_append_new(ta, json_real(ver.accuracy[t]));
		json_object_set_new(vj, "trial_accuracies", ta);
		for (int b = 0; b < ver.n_baselines; b++)
			json_array_append_new(bs, baseline_json(&ver.baselines[b], res.energy_o));
		json_object_set_new(vj, "baselines", bs);
		if (n_refs) {
			json_t *rf = json_object();
			json_object_set_new(rf, "reduction", ver.has_reduction ? json_real(ver.reduction) :
										   json_null());
			json_object_set_new(rf, "reference_energy",
					    ver.has_reduction ? json_real(ver.reference_energy) : json_null());
			json_object_set_new(vj, "references", rf);
		}
		json_object_set_new(j, "verification", vj);
		json_object_set_new(j, "evaluations", json_integer(res.trials + ver_trials));
		json_object_set_new(j, "seconds", json_real(secs));
		ret = print_json(j);
		goto out;
	}
	printf("model %s: clean accuracy %.4f on %lld images, E_o = %.0f\n", o.so.model,
	       ev.clean_accuracy, (long long)se.images, res.energy_o);
	printf("%s on %s, floor A* = %.4f, grid %d p from %.3g to %.3g, seed %llu\n",
	       bo_deviation_name(o.so.cfg.deviation), bo_target_name(o.so.cfg.target), res.floor,
	       o.n_grid, o.grid[0], o.grid[o.n_grid - 1], (unsigned long long)oc.seed);
	printf("\n%-16s %11s %7s %12s %13s\n", "block", "p", "eta", "stored", "energy share");
	for (int i = 0; i < nb; i++) {
		double eta = bo_eta(res.p[i], ev.energy_a);
		printf("%-16s %11.4g %7.4f %12.0f %12.1f%%\n", bnames[i], res.p[i], eta, vol[i],
		       res.energy > 0 ? 100 * eta * vol[i] / res.energy : 0.0);
	}
	printf("\nsearch: accuracy %.4f (%d trials, seed %llu), E/E_o %.4f; separable optimum"
	       " E/E_o %.4f; %d candidates, %d moves, %lld trials of %lld%s\n",
	       res.accuracy, res.accuracy_trials, (unsigned long long)oc.seed,
	       res.energy / res.energy_o, res.separable_energy / res.energy_o, res.candidates,
	       res.moves, (long long)res.trials, (long long)oc.budget_trials,
	       res.budget_exhausted ? " (budget spent)" : "");
	printf("lower bound: E/E_o >= %.4f for any allocation meeting A* (each block alone must"
	       " meet it: p below its curve's first failing grid p; assumes monotonicity)\n",
	       res.lower_bound_energy / res.energy_o);
	printf("verified (seed %llu, %d trials): accuracy %.4f, 95%% CI [%.4f, %.4f], E/E_o %.4f%s\n",
	       (unsigned long long)ver.seed, ver.trials, ver.summary.mean, ver.summary.ci_lo,
	       ver.summary.ci_hi, ver.energy_ratio,
	       ver.meets_floor ? "" : "  (the CI lies below the floor)");
	printf("  (the same trials: brownout sweep ... --p 1 --block-p '%s' --seed %llu --trials %d)\n",
	       bp, (unsigned long long)ver.seed, ver.trials);
	for (int b = 0; b < ver.n_baselines; b++) {
		const struct bo_opt_baseline_result *br = &ver.baselines[b];
		if (br->reached)
			printf("  %-8s reaches %.4f at E/E_o %.4f: the allocation uses %.1f%% %s energy\n",
			       br->name, ver.summary.mean, br->iso_energy / res.energy_o,
			       100 * fabs(br->saving), br->saving >= 0 ? "less" : "more");
		else
			printf("  %-8s %s\n", br->name,
			       br->below ? "meets the accuracy at every grid p: below the grid's lowest"
					   " energy (not extrapolated)" :
					   "not reached within the grid");
	}
	if (n_refs) {
		if (ver.has_reduction)
			printf("  references: E_ref %.0f, iso-accuracy reduction %.3fx\n",
			       ver.reference_energy, ver.reduction);
		else
			printf("  references: the accuracy lies outside the references' (no reduction)\n");
	}
	printf("\n%lld full-model trials (%lld search, %lld verification) in %.1f s\n",
	       (long long)(res.trials + ver_trials), (long long)res.trials, (long long)ver_trials, secs);
	ret = 0;
out:
	bo_opt_verification_release(&ver);
	bo_opt_result_release(&res);
	free(se.pp);
	free(se.part_of);
	free(bnames);
	free(vol);
	free(mult_u);
	free(mult_p);
	bo_frontier_release(&fr);
	bo_sweeper_free(sw);
	loaded_release(&l);
	return ret;
}
