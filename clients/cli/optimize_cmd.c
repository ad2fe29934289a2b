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
#include "optrun.h"
#include "report.h"
#include "sweep_opts.h"

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
		{ "policy_blocks", "--policy-blocks" },
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
	struct bo_optrun run = { 0 };
	int n_refs = 0, ret = 1;
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
	if (bo_optrun_init(&run, sw, o.so.cfg.target, o.so.cfg.energy_a, o.policy_blocks, &err)) {
		ret = opt_error(&err);
		goto out;
	}
	if (run.note[0])
		fprintf(stderr, "%s: note: %s\n", prog, run.note);
	const struct bo_opt_evaluator *ev = &run.ev;
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
	if (bo_optimize(ev, &oc, &res, &err)) {
		ret = opt_error(&err);
		goto out;
	}
	double t_search = now() - t0;
	ps.phase = 4;
	fprintf(stderr, "progress: phase 4 (verification)  search done: %d candidates, %lld trials,"
		" E/E_o %.4f  %.0f s\n", res.candidates, (long long)res.trials,
		res.energy / res.energy_o, t_search);
	struct bo_opt_baseline bl[2] = { { "uniform", run.mult_u }, { "paper", run.mult_p } };
	if (bo_opt_verify(ev, res.p, oc.seed, o.verify_trials, res.floor, bl, run.n_base, o.base,
			  o.n_base, o.baseline_trials, n_refs ? &fr : NULL, &ver, &err)) {
		ret = opt_error(&err);
		goto out;
	}
	double secs = now() - t0;
	char bp[4096];
	bo_optrun_block_p(&run, res.p, bp, sizeof(bp));
	int64_t ver_trials = ver.trials;
	for (int b = 0; b < ver.n_baselines; b++)
		ver_trials += (int64_t)ver.baselines[b].n * o.baseline_trials;
	if (o.so.json) {
		struct bo_optrun_report rep = {
			.model = o.so.model, .dataset = o.so.dataset,
			.config = bo_sweep_config_json(&o.so.cfg, NULL, o.so.blocks, NULL),
			.grid = o.grid, .n_grid = o.n_grid, .seed = oc.seed,
			.budget_trials = oc.budget_trials, .baseline_trials = o.baseline_trials,
			.n_refs = n_refs, .seconds = secs,
		};
		ret = print_json(bo_optrun_json(&run, &res, &ver, &rep));
		goto out;
	}
	printf("model %s: clean accuracy %.4f on %lld images, E_o = %.0f\n", o.so.model,
	       ev->clean_accuracy, (long long)run.images, res.energy_o);
	printf("%s on %s, floor A* = %.4f, grid %d p from %.3g to %.3g, seed %llu\n",
	       bo_deviation_name(o.so.cfg.deviation), bo_target_name(o.so.cfg.target), res.floor,
	       o.n_grid, o.grid[0], o.grid[o.n_grid - 1], (unsigned long long)oc.seed);
	printf("\n%-16s %11s %7s %12s %13s\n", "block", "p", "eta", "stored", "energy share");
	for (int i = 0; i < run.nb; i++) {
		double eta = bo_eta(res.p[i], ev->energy_a);
		printf("%-16s %11.4g %7.4f %12.0f %12.1f%%\n", run.names[i], res.p[i], eta, run.vol[i],
		       res.energy > 0 ? 100 * eta * run.vol[i] / res.energy : 0.0);
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
	bo_optrun_release(&run);
	bo_frontier_release(&fr);
	bo_sweeper_free(sw);
	loaded_release(&l);
	return ret;
}
