/* brownout sweep / brownout calibrate-erasure: fault sweeps from the CLI.
 *
 *   brownout sweep MODEL DATASET [--deviation bm|erasure] [--target both|weights|activations]
 *       --p LIST|LO:HI:N [--blocks MAP] [--block-p NAME=P,...] [--trials N | --ci-target W
 *       [--min-trials N] [--max-trials N]] [--images-per-trial N|all|auto] [--accuracy-floor A]
 *       [--activation-sites activations|activations-gated|relu|conv-inputs] [--seed S]
 *       [--bits B] [--calib N] [--limit N] [--batch B] [--threads T] [--energy-a A]
 *       [--references M1.onnx,M2.onnx] [--mean ..] [--std ..] [--json | --csv]
 *       [--journal FILE] [--progress-every S] [--weight-faults independent|nested]
 *   brownout calibrate-erasure MODEL DATASET --p LIST [same options]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "journal.h"
#include "report.h"
#include "sweep_opts.h"

/* Progress: on a terminal, one line redrawn four times a second; without
 * one (a batch job's log), a plain line every `every` seconds, so a log
 * shows the sweep advancing. */
struct progress_state {
	double t0, last;
	int64_t done_images; /* over the whole sweep, before the current trial */
	int64_t total_images;
	int tty;
	double every;
};

static int progress_cb(void *ctx, const struct bo_progress *pr)
{
	struct progress_state *ps = ctx;
	double t = now();
	if (pr->point < 0) /* the clean pass */
		return 0;
	int trial_end = pr->images_done == pr->images_total;
	int64_t done = ps->done_images + pr->images_done;
	if (trial_end)
		ps->done_images += pr->images_total;
	if (t - ps->last < (ps->tty ? 0.25 : ps->every) && !(ps->tty && trial_end))
		return 0;
	ps->last = t;
	double rate = t > ps->t0 ? (double)done / (t - ps->t0) : 0;
	double left = rate > 0 ? (double)(ps->total_images - done) / rate : 0;
	fprintf(stderr, "%spoint %d/%d  trial %d  %lld/%lld images  %.0f img/s  %.0f s left%s",
		ps->tty ? "\r" : "progress: ", pr->point + 1, pr->n_points, pr->trial + 1,
		(long long)pr->images_done, (long long)pr->images_total, rate, left > 0 ? left : 0.0,
		ps->tty ? "   " : "\n");
	fflush(stderr);
	return 0;
}

void sweep_opts_init(struct sweep_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->progress_every = 10;
	bo_sweep_config_defaults(&o->cfg);
	o->cfg.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (o->cfg.threads < 1)
		o->cfg.threads = 1;
}

int sweep_parse_opt(struct sweep_opts *o, int ch, const char *arg)
{
	struct bo_sweep_config *c = &o->cfg;
	struct bo_error perr;
	long long v;
	switch (ch) {
	case 'd':
		if (bo_deviation_parse(arg, &c->deviation, &perr))
			return usage_error("--deviation %s", perr.text);
		break;
	case 'T':
		if (bo_target_parse(arg, &c->target, &perr))
			return usage_error("--target %s", perr.text);
		break;
	case 'p': o->p_text = arg; break;
	case 'B': o->blocks = arg; break;
	case 'P': o->block_p = arg; break;
	case 'n':
		if (parse_long(arg, 1, 1000000, &v))
			return usage_error("--trials must be a positive integer, not '%s'", arg);
		c->trials = (int)v;
		o->trials_given = 1;
		break;
	case 'c': {
		char *end;
		c->ci_target = strtod(arg, &end);
		if (*end || !(c->ci_target > 0 && c->ci_target < 1))
			return usage_error("--ci-target must be a half-width in (0, 1), not '%s'", arg);
		break;
	}
	case 'm':
		if (parse_long(arg, 2, 1000000, &v))
			return usage_error("--min-trials must be at least 2, not '%s'", arg);
		c->min_trials = (int)v;
		break;
	case 'M':
		if (parse_long(arg, 2, 1000000, &v))
			return usage_error("--max-trials must be at least 2, not '%s'", arg);
		c->max_trials = (int)v;
		break;
	case 'a':
		if (bo_act_sites_parse(arg, &c->sites, NULL))
			return usage_error("--activation-sites must be " BO_SITES_CHOICES ", not '%s'",
					   arg);
		break;
	case 's': {
		char *end;
		unsigned long long sv = strtoull(arg, &end, 10);
		if (end == arg || *end || arg[0] == '-')
			return usage_error("--seed must be a non-negative integer, not '%s'", arg);
		c->seed = sv;
		break;
	}
	case 'b':
		if (parse_long(arg, BO_MIN_BITS, BO_MAX_BITS, &v))
			return usage_error("--bits must be 2 to 16, not '%s'", arg);
		c->bits = (int)v;
		break;
	case 'C':
		if (parse_long(arg, 1, 1LL << 40, &v))
			return usage_error("--calib must be a positive integer, not '%s'", arg);
		c->calib = v;
		break;
	case 'l':
		if (parse_long(arg, 1, 1LL << 40, &v))
			return usage_error("--limit must be a positive integer, not '%s'", arg);
		c->limit = v;
		break;
	case 'k':
		if (parse_long(arg, 1, 65536, &v))
			return usage_error("--batch must be 1 to 65536, not '%s'", arg);
		c->batch = (int)v;
		break;
	case 't':
		if (parse_long(arg, 1, 256, &v))
			return usage_error("--threads must be 1 to 256, not '%s'", arg);
		c->threads = (int)v;
		break;
	case 'e': {
		char *end;
		c->energy_a = strtod(arg, &end);
		if (*end || !(c->energy_a > 0) || !isfinite(c->energy_a))
			return usage_error("--energy-a must be a positive number, not '%s'", arg);
		break;
	}
	case 'r': o->refs = arg; break;
	case 1: o->mean = arg; break;
	case 2: o->std = arg; break;
	case 'N': o->raw = 1; break;
	case 'j': o->json = 1; break;
	case 'v': o->csv = 1; break;
	case 3:
		if (bo_split_parse(arg, &o->split, &perr))
			return usage_error("--split %s", perr.text);
		break;
	case 4: o->images = arg; break;
	case 5: o->labels = arg; break;
	case 6: o->journal = arg; break;
	case 7: {
		char *end;
		o->progress_every = strtod(arg, &end);
		if (*end || end == arg || !(o->progress_every >= 0 && o->progress_every <= 86400))
			return usage_error("--progress-every must be 0 to 86400 seconds, not '%s'",
					   arg);
		break;
	}
	case 8:
		if (!strcmp(arg, "all"))
			c->images_per_trial = BO_IMAGES_ALL;
		else if (!strcmp(arg, "auto"))
			c->images_per_trial = BO_IMAGES_AUTO;
		else if (parse_long(arg, 1, 1LL << 40, &v))
			return usage_error("--images-per-trial must be a positive integer, all or"
					   " auto, not '%s'", arg);
		else
			c->images_per_trial = v;
		break;
	case 9: {
		char *end;
		c->accuracy_floor = strtod(arg, &end);
		if (*end || end == arg || !(c->accuracy_floor > 0 && c->accuracy_floor <= 1))
			return usage_error("--accuracy-floor must be an accuracy in (0, 1], not '%s'",
					   arg);
		break;
	}
	case 10:
		if (bo_weight_faults_parse(arg, &c->weight_faults, NULL))
			return usage_error("--weight-faults must be " BO_WEIGHT_FAULTS_CHOICES ", not '%s'",
					   arg);
		break;
	default: return SWEEP_OPT_UNKNOWN;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct sweep_opts *o, int for_calibration)
{
	static const struct option opts[] = {
		{ "deviation", required_argument, 0, 'd' },   { "target", required_argument, 0, 'T' },
		{ "p", required_argument, 0, 'p' },           { "blocks", required_argument, 0, 'B' },
		{ "block-p", required_argument, 0, 'P' },     { "trials", required_argument, 0, 'n' },
		{ "ci-target", required_argument, 0, 'c' },   { "min-trials", required_argument, 0, 'm' },
		{ "max-trials", required_argument, 0, 'M' },  { "activation-sites", required_argument, 0, 'a' },
		{ "seed", required_argument, 0, 's' },        { "bits", required_argument, 0, 'b' },
		{ "calib", required_argument, 0, 'C' },       { "limit", required_argument, 0, 'l' },
		{ "batch", required_argument, 0, 'k' },       { "threads", required_argument, 0, 't' },
		{ "energy-a", required_argument, 0, 'e' },    { "references", required_argument, 0, 'r' },
		{ "no-normalize", no_argument, 0, 'N' }, /* raw [0,1] pixels */
		{ "mean", required_argument, 0, 1 },          { "std", required_argument, 0, 2 },
		{ "json", no_argument, 0, 'j' },              { "csv", no_argument, 0, 'v' },
		{ "split", required_argument, 0, 3 },         { "images", required_argument, 0, 4 },
		{ "labels", required_argument, 0, 5 },        { "help", no_argument, 0, 'h' },
		{ "journal", required_argument, 0, 6 },       { "progress-every", required_argument, 0, 7 },
		{ "images-per-trial", required_argument, 0, 8 },
		{ "accuracy-floor", required_argument, 0, 9 },
		{ "weight-faults", required_argument, 0, 10 },
		{ 0, 0, 0, 0 },
	};
	int ch, r;
	sweep_opts_init(o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "hj", opts, NULL)) != -1) {
		if (ch == 'h')
			return -1;
		if ((r = sweep_parse_opt(o, ch, optarg)) == SWEEP_OPT_UNKNOWN)
			return bad_option(argv, opts);
		if (r)
			return r;
	}
	struct bo_sweep_config *c = &o->cfg;
	int npos = argc - optind;
	if (npos < 1 || npos > 2 || (npos == 2) == (o->images != NULL))
		return usage_error("%s", "give MODEL.onnx and either DATASET or --images/--labels");
	o->model = argv[optind];
	o->dataset = npos == 2 ? argv[optind + 1] : o->images;
	if (!o->p_text)
		return usage_error("%s", "--p is required (a list like 1e-3,1e-2 or LO:HI:N)");
	char msg[512];
	struct bo_error perr;
	if (bo_p_list_parse(o->p_text, o->p, &c->n_p, MAX_POINTS, &perr)) {
		snprintf(msg, sizeof(msg), "--p '%.200s': %.200s", o->p_text, perr.text);
		return usage_error("%s", msg);
	}
	c->p = o->p;
	struct bo_error nerr;
	if (bo_norm_flags_check(o->mean, o->std, &nerr))
		return usage_err(&nerr);
	if (o->json && o->csv)
		return usage_error("%s", "--json and --csv exclude each other");
	if (c->ci_target > 0 && o->trials_given)
		return usage_error("%s", "--trials and --ci-target exclude each other");
	if (c->max_trials < c->min_trials)
		return usage_error("%s", "--max-trials is below --min-trials");
	if (for_calibration && o->journal)
		return usage_error("%s", "--journal is for sweep only");
	if (for_calibration && c->weight_faults != BO_WEIGHT_FAULTS_INDEPENDENT)
		return usage_error("%s", "--weight-faults is for sweep only");
	if (for_calibration && c->target != BO_TARGET_BOTH)
		return usage_error("%s", "calibrate-erasure always targets weights; drop --target");
	return 0;
}

void loaded_release(struct loaded *l)
{
	bo_model_free(l->m);
	bo_dataset_free(l->ds);
	bo_block_map_free(l->map);
	free(l->rules);
}

int load_inputs(struct sweep_opts *o, struct loaded *l, struct bo_error *err)
{
	memset(l, 0, sizeof(*l));
	if (bo_model_load(o->model, &l->m, err))
		return -1;
	note_fixed_batch(l->m, o->model, o->cfg.batch);
	if (o->images ? bo_dataset_open_files(o->images, o->labels, BO_DATASET_AUTO, NULL, &l->ds, err) :
			bo_dataset_open_dir(o->dataset, o->split, NULL, &l->ds, err))
		return -1;
	if (o->blocks && bo_block_map_parse(o->blocks, &l->map, err))
		return -1;
	if (o->block_p && bo_block_rules_parse(o->block_p, &l->rules, &l->n_rules, err))
		return -1;
	enum bo_norm_source src;
	char wbuf[320];
	if (bo_norm_resolve(l->m, o->mean, o->std, o->raw, &o->cfg.norm, &src, err))
		return -1;
	if (bo_pixels_warning(l->ds, src, wbuf, sizeof(wbuf)))
		fprintf(stderr, "warning: %s\n", wbuf);
	/* a model with no activation site under the rule (spec section 1) */
	struct bo_site *sites = NULL;
	int n_sites = 0;
	if (bo_model_site_list(l->m, o->cfg.sites, &sites, &n_sites, err))
		return -1;
	free(sites);
	if (bo_sites_warning(o->cfg.sites, n_sites, wbuf, sizeof(wbuf)))
		fprintf(stderr, "warning: %s\n", wbuf);
	o->cfg.blocks = l->map;
	o->cfg.rules = l->rules;
	o->cfg.n_rules = l->n_rules;
	return 0;
}

/* The journal's fingerprint: SHA-256 of the model file's bytes and of every
 * option that changes a trial's outcome (not --p, --trials, --threads or
 * --batch: trials are keyed by p and independent of batching). */
static int journal_fingerprint(const struct sweep_opts *o, const struct loaded *l, char hex[65],
			       struct bo_error *err)
{
	struct sha256_ctx h;
	uint8_t buf[1 << 16], dig[SHA256_DIGEST_SIZE];
	char text[4096];
	int fd = open(o->model, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto io;
	sha256_init(&h);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			goto io;
		}
		if (n == 0)
			break;
		sha256_update(&h, (size_t)n, buf);
	}
	close(fd);
	const struct bo_sweep_config *c = &o->cfg;
	int64_t ch, hh, ww;
	bo_dataset_shape(l->ds, &ch, &hh, &ww);
	int k = snprintf(text, sizeof(text),
			 "\ndeviation %d target %d sites %d seed %llu bits %d calib %lld limit %lld"
			 " images %lld shape %lldx%lldx%lld split %d blocks %s block-p %s norm %d",
			 (int)c->deviation, (int)c->target, (int)c->sites, (unsigned long long)c->seed,
			 c->bits, (long long)c->calib, (long long)c->limit,
			 (long long)bo_dataset_count(l->ds), (long long)ch, (long long)hh, (long long)ww,
			 (int)o->split, o->blocks ? o->blocks : "-", o->block_p ? o->block_p : "-",
			 c->norm.n);
	for (int i = 0; i < c->norm.n && k > 0 && k < (int)sizeof(text) - 64; i++)
		k += snprintf(text + k, sizeof(text) - (size_t)k, " %a/%a", (double)c->norm.mean[i],
			      (double)c->norm.std[i]);
	/* nested chips are keyed by (seed, trial, weight), not by p: a trial
	 * of a nested sweep is not the independent one (the default's
	 * fingerprint is unchanged, so its journals stay valid) */
	if (c->weight_faults != BO_WEIGHT_FAULTS_INDEPENDENT && k > 0 && k < (int)sizeof(text) - 64)
		k += snprintf(text + k, sizeof(text) - (size_t)k, " weight_faults %s",
			      bo_weight_faults_name(c->weight_faults));
	sha256_update(&h, strlen(text), (const uint8_t *)text);
	sha256_digest(&h, sizeof(dig), dig);
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", dig[i]);
	return 0;
io:
	bo_error_clear(err);
	err->status = BO_EIO;
	snprintf(err->file, sizeof(err->file), "%s", o->model);
	snprintf(err->text, sizeof(err->text), "cannot read the model: %s", strerror(errno));
	return -1;
}

/* Evaluate the references (bo_reference_eval, as brownoutd does): E_o =
 * parameters + activations, clean accuracy on the same images. */
int eval_refs(struct sweep_opts *o, const struct bo_dataset *ds, struct bo_ref_point *refs,
		     char names[][256], int *n, struct bo_error *err)
{
	*n = 0;
	if (!o->refs)
		return 0;
	char *copy = strdup(o->refs), *save = NULL;
	int rc = 0;
	if (!copy)
		return -1;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct bo_model *rm = NULL;
		struct bo_reference_result rr;
		struct bo_norm norm;
		if (*n == MAX_REFS) {
			fprintf(stderr, "%s: error: at most %d references\n", prog, MAX_REFS);
			rc = -2;
			break;
		}
		if (bo_model_load(tok, &rm, err) ||
		    bo_norm_resolve(rm, o->mean, o->std, o->raw, &norm, NULL, err) ||
		    bo_reference_eval(rm, ds, &norm, o->cfg.limit, o->cfg.batch, o->cfg.threads,
				      o->cfg.sites, &rr, err)) {
			bo_model_free(rm);
			rc = -1;
			break;
		}
		refs[*n] = bo_reference_point(&rr);
		snprintf(names[*n], 256, "%s", tok);
		(*n)++;
		bo_model_free(rm);
	}
	free(copy);
	return rc;
}

/* Nested weight faults (spec 4c): one line per chip, its accuracy at each
 * point and its minimum energy, then the yield curve by energy. */
static void print_chips(const struct bo_sweep_result *r, int noisy)
{
	const struct bo_chips *c = &r->chips;
	if (c->n_points != r->n_points)
		return;
	printf("\nchips (nested weight faults: trial t is one chip at every point):\n%7s", "chip");
	for (int k = 0; k < r->n_points; k++)
		printf(" %8.3g", r->points[k].p);
	printf(" %12s %10s\n", "min energy", "at p");
	for (int t = 0; t < c->n_chips; t++) {
		printf("%7d", t);
		for (int k = 0; k < r->n_points; k++)
			printf(" %8.4f", r->points[k].accuracy[t]);
		if (c->min_point[t] >= 0)
			printf(" %12.0f %10.4g\n", c->min_energy[t], r->points[c->min_point[t]].p);
		else
			printf(" %12s %10s\n", "-", "-");
	}
	printf("minimum energy: the lowest point energy at which the chip, and at every higher\n"
	       "energy, keeps accuracy >= %.4f (-: it fails at the highest)\n", r->accuracy_floor);
	if (c->n_chips < 1)
		return;
	int *order = malloc((size_t)r->n_points * sizeof(int));
	if (!order)
		return;
	for (int k = 0; k < r->n_points; k++) { /* by energy ascending */
		int i = k;
		for (; i > 0 && r->points[order[i - 1]].energy > r->points[k].energy; i--)
			order[i] = order[i - 1];
		order[i] = k;
	}
	printf("\nyield curve (%d chips):\n%11s %7s %12s %8s %19s\n", c->n_chips, "p", "eta",
	       "energy", "yield", "yield 95% CI");
	for (int i = 0; i < r->n_points; i++) {
		const struct bo_point_result *p = &r->points[order[i]];
		printf("%11.4g %7.4f %12.0f %7.4f%s [%8.4f, %8.4f]\n", p->p, p->eta, p->energy,
		       c->yield[order[i]], noisy ? "*" : " ", c->yield_lo[order[i]],
		       c->yield_hi[order[i]]);
	}
	printf("yield: the fraction of chips whose minimum energy is <= the energy (Clopper-Pearson)\n");
	if (noisy)
		printf("* n < %lld images per chip: a chip's accuracy carries image-sampling noise\n",
		       (long long)r->eval_images);
	free(order);
}

static int output(const struct sweep_opts *o, const struct bo_sweep_result *r,
		  const struct bo_ref_point *refs, char names[][256], int n_refs, double secs)
{
	int64_t faulty_images = 0;
	for (int i = 0; i < r->n_points; i++)
		faulty_images += r->points[i].images;
	if (o->json) {
		struct bo_report_ref rr[MAX_REFS];
		for (int i = 0; i < n_refs; i++)
			rr[i] = (struct bo_report_ref){ names[i], refs[i].energy, refs[i].accuracy };
		json_t *cfg = bo_sweep_config_json(&o->cfg, o->p_text, o->blocks, o->block_p);
		json_t *j = bo_sweep_report_json(o->model, o->dataset, cfg, r, rr, n_refs, o->cfg.seed);
		json_object_set_new(j, "seconds", json_real(secs));
		json_object_set_new(j, "images_per_second",
				    json_real(secs > 0 ? (double)faulty_images / secs : 0));
		return print_json(j);
	}
	if (o->csv)
		return bo_sweep_report_csv(stdout, r) ? 1 : 0;
	printf("model %s: clean accuracy %.4f, %lld parameters, %lld activations (E_o = %lld)\n",
	       o->model, r->clean_accuracy, (long long)r->parameters, (long long)r->activations,
	       (long long)(r->parameters + r->activations));
	printf("%s on %s, %d bits, seed %llu\n", bo_deviation_name(o->cfg.deviation),
	       bo_target_name(o->cfg.target), o->cfg.bits, (unsigned long long)o->cfg.seed);
	for (int i = 0; i < n_refs; i++)
		printf("reference %s: E_o %.0f, accuracy %.4f\n", names[i], refs[i].energy,
		       refs[i].accuracy);
	/* against the references at equal accuracy: E_ref / E >= 1 is a
	 * reduction, below 1 an increase (E / E_ref), never a "reduction" */
	printf("\n%11s %9s %9s %19s %6s %7s %12s %15s\n", "p", "accuracy", "std", "95% CI", "trials",
	       "eta", "energy", "vs reference");
	for (int i = 0; i < r->n_points; i++) {
		const struct bo_point_result *p = &r->points[i];
		char red[32] = "-";
		if (p->has_reduction && p->energy_reduction >= 1)
			snprintf(red, sizeof(red), "%.3fx less", p->energy_reduction);
		else if (p->has_reduction && p->energy_reduction > 0)
			snprintf(red, sizeof(red), "%.3fx more", 1 / p->energy_reduction);
		printf("%11.4g %9.4f %9.4f [%8.4f, %8.4f] %6d %7.4f %12.0f %15s\n", p->p,
		       p->summary.mean, p->summary.std, p->summary.ci_lo, p->summary.ci_hi, p->trials,
		       p->eta, p->energy, red);
	}
	/* the chips (spec 4a, 4c) */
	int noisy = 0, piloted = 0;
	printf("\n%11s %7s %11s %10s %8s %8s %8s %8s %19s\n", "p", "n", "std_between", "std_within",
	       "q05", "q50", "q95", "yield", "yield 95% CI");
	for (int i = 0; i < r->n_points; i++) {
		const struct bo_point_result *p = &r->points[i];
		noisy |= p->yield_image_noise;
		piloted |= p->pilot_trials > 0;
		printf("%11.4g %7lld %11.4f %10.4f %8.4f %8.4f %8.4f %7.4f%s [%8.4f, %8.4f]\n", p->p,
		       (long long)p->images_per_trial, p->std_between, p->std_within, p->q05, p->q50,
		       p->q95, p->yield, p->yield_image_noise ? "*" : " ", p->yield_lo, p->yield_hi);
	}
	printf("yield: the fraction of trials (chips) with accuracy >= %.4f (Clopper-Pearson 95%% CI)\n",
	       r->accuracy_floor);
	if (noisy)
		printf("* n < %lld images per chip: a chip's accuracy carries image-sampling noise\n",
		       (long long)r->eval_images);
	if (piloted) {
		printf("auto: pilot per point, then n = clamp(round(sqrt(c_t/c_i w/b)), 32, N);"
		       " n depends on this machine's timings:\n");
		for (int i = 0; i < r->n_points; i++) {
			const struct bo_point_result *p = &r->points[i];
			printf("%11.4g  pilot %d x %lld images, c_t %.3g s, c_i %.3g s -> n %lld\n", p->p,
			       p->pilot_trials, (long long)p->pilot_images_per_trial, p->cost_trial,
			       p->cost_image, (long long)p->images_per_trial);
		}
		printf("(--images-per-trial N with a point's n reproduces that point exactly)\n");
	}
	if (r->weight_faults == BO_WEIGHT_FAULTS_NESTED)
		print_chips(r, noisy);
	printf("\n%lld images under faults in %.2f s (%.1f images/s)\n", (long long)faulty_images,
	       secs, secs > 0 ? (double)faulty_images / secs : 0.0);
	return 0;
}

int cmd_sweep(int argc, char **argv)
{
	struct sweep_opts o;
	struct loaded l;
	struct bo_error err;
	struct bo_sweeper *sw = NULL;
	struct bo_sweep_result r = { 0 };
	struct bo_frontier fr = { 0 };
	struct bo_ref_point refs[MAX_REFS];
	char names[MAX_REFS][256];
	int n_refs = 0, ret = 1;
	struct cli_journal *journal = NULL;
	struct bo_trial_journal hook;
	bo_error_clear(&err);
	int u = parse_opts(argc, argv, &o, 0);
	if (u)
		return u < 0 ? cmd_help(stdout, cmd_name) : u;
	if (load_inputs(&o, &l, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	int rr = eval_refs(&o, l.ds, refs, names, &n_refs, &err);
	if (rr) {
		ret = rr == -1 ? fail_err(&err) : 1;
		goto out;
	}
	if (n_refs && bo_frontier_build(refs, n_refs, &fr, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	if (o.journal) {
		char fp[65];
		if (journal_fingerprint(&o, &l, fp, &err) ||
		    cli_journal_open(o.journal, fp, &journal, &err)) {
			ret = fail_err(&err);
			goto out;
		}
		cli_journal_hook(journal, &hook);
		o.cfg.journal = &hook;
		if (cli_journal_count(journal))
			fprintf(stderr, "%s: resuming from %s: %zu trials already done\n", prog, o.journal,
				cli_journal_count(journal));
	}
	if (bo_sweeper_new(l.m, l.ds, &o.cfg, &sw, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	struct progress_state ps = { now(), 0, 0, 0, isatty(2), o.progress_every };
	int trials = o.cfg.ci_target > 0 ? o.cfg.min_trials : o.cfg.trials;
	ps.total_images = ((int64_t)o.cfg.n_p * trials - (int64_t)cli_journal_count(journal)) *
			  bo_sweeper_images(sw);
	double t0 = now();
	if (bo_sweep_run(sw, n_refs ? &fr : NULL, progress_cb, &ps, &r, &err)) {
		if (ps.tty)
			fputc('\n', stderr);
		ret = fail_err(&err);
		goto out;
	}
	if (ps.tty)
		fprintf(stderr, "\r%*s\r", 79, "");
	ret = output(&o, &r, refs, names, n_refs, now() - t0);
out:
	cli_journal_close(journal);
	bo_sweep_result_release(&r);
	bo_frontier_release(&fr);
	bo_sweeper_free(sw);
	loaded_release(&l);
	return ret;
}

/* calibrate-erasure: weights-only BM at each p against weights-only erasure
 * at p_e = r p for a grid of ratios r; the best r minimises the squared
 * difference of mean accuracies, refined by a parabola through the best
 * grid point and its neighbours. */
int cmd_calibrate_erasure(int argc, char **argv)
{
	static const double grid[] = { 0.5, 1, 1.5, 2, 2.5, 3, 4 };
	enum { NG = sizeof(grid) / sizeof(grid[0]) };
	struct sweep_opts o;
	struct loaded l;
	struct bo_error err;
	struct bo_sweep_result bm = { 0 }, er[NG];
	struct bo_sweeper *sw = NULL;
	double sse[NG];
	int ret = 1;
	memset(er, 0, sizeof(er));
	bo_error_clear(&err);
	int u = parse_opts(argc, argv, &o, 1);
	if (u)
		return u < 0 ? cmd_help(stdout, cmd_name) : u;
	if (load_inputs(&o, &l, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	struct progress_state ps = { now(), 0, 0, 0, isatty(2), o.progress_every };
	ps.total_images = (int64_t)(1 + NG) * o.cfg.n_p * o.cfg.trials *
			  (o.cfg.limit ? o.cfg.limit : bo_dataset_count(l.ds));
	o.cfg.target = BO_TARGET_WEIGHTS;
	o.cfg.deviation = BO_DEV_BM;
	if (bo_sweeper_new(l.m, l.ds, &o.cfg, &sw, &err) ||
	    bo_sweep_run(sw, NULL, progress_cb, &ps, &bm, &err)) {
		ret = fail_err(&err);
		goto out;
	}
	bo_sweeper_free(sw);
	sw = NULL;
	double pe[MAX_POINTS];
	for (int g = 0; g < NG; g++) {
		struct bo_sweep_config c = o.cfg;
		for (int i = 0; i < c.n_p; i++)
			pe[i] = fmin(1.0, grid[g] * o.p[i]);
		c.p = pe;
		c.deviation = BO_DEV_ERASURE;
		if (bo_sweeper_new(l.m, l.ds, &c, &sw, &err) ||
		    bo_sweep_run(sw, NULL, progress_cb, &ps, &er[g], &err)) {
			ret = fail_err(&err);
			goto out;
		}
		bo_sweeper_free(sw);
		sw = NULL;
		sse[g] = 0;
		for (int i = 0; i < c.n_p; i++) {
			double d = er[g].points[i].summary.mean - bm.points[i].summary.mean;
			sse[g] += d * d;
		}
	}
	if (ps.tty)
		fprintf(stderr, "\r%*s\r", 79, "");
	int best = 0;
	for (int g = 1; g < NG; g++)
		if (sse[g] < sse[best])
			best = g;
	double ratio = grid[best];
	if (best > 0 && best < NG - 1) {
		/* vertex of the parabola through the three points */
		double x0 = grid[best - 1], x1 = grid[best], x2 = grid[best + 1];
		double y0 = sse[best - 1], y1 = sse[best], y2 = sse[best + 1];
		double den = (x0 - x1) * (x0 - x2) * (x1 - x2);
		double A = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den;
		double B = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / den;
		if (A > 0)
			ratio = fmin(x2, fmax(x0, -B / (2 * A)));
	}
	if (o.json) {
		json_t *j = json_object(), *pts = json_array(), *gr = json_array();
		json_object_set_new(j, "model", json_string(o.model));
		json_object_set_new(j, "dataset", json_string(o.dataset));
		json_object_set_new(j, "config", bo_sweep_config_json(&o.cfg, o.p_text, o.blocks, o.block_p));
		json_object_set_new(j, "ratio", json_real(ratio));
		json_object_set_new(j, "best_grid_ratio", json_real(grid[best]));
		for (int g = 0; g < NG; g++) {
			json_t *e = json_object();
			json_object_set_new(e, "ratio", json_real(grid[g]));
			json_object_set_new(e, "sse", json_real(sse[g]));
			json_array_append_new(gr, e);
		}
		json_object_set_new(j, "grid", gr);
		for (int i = 0; i < o.cfg.n_p; i++) {
			json_t *e = json_object(), *ea = json_object();
			json_object_set_new(e, "p", json_real(o.p[i]));
			json_object_set_new(e, "bm_accuracy", json_real(bm.points[i].summary.mean));
			json_object_set_new(e, "bm_std", json_real(bm.points[i].summary.std));
			for (int g = 0; g < NG; g++) {
				char k[32];
				snprintf(k, sizeof(k), "%g", grid[g]);
				json_object_set_new(ea, k, json_real(er[g].points[i].summary.mean));
			}
			json_object_set_new(e, "erasure_accuracy", ea);
			json_array_append_new(pts, e);
		}
		json_object_set_new(j, "points", pts);
		ret = print_json(j);
		goto out;
	}
	printf("weights-only erasure at p_e = r p against weights-only BM at p (%d trials, %s)\n",
	       o.cfg.trials, o.model);
	printf("\n%11s %9s", "p", "BM");
	for (int g = 0; g < NG; g++)
		printf("  er r=%-4g", grid[g]);
	printf("\n");
	for (int i = 0; i < o.cfg.n_p; i++) {
		printf("%11.4g %9.4f", o.p[i], bm.points[i].summary.mean);
		for (int g = 0; g < NG; g++)
			printf(" %10.4f", er[g].points[i].summary.mean);
		printf("\n");
	}
	printf("%11s %9s", "sq. error", "");
	for (int g = 0; g < NG; g++)
		printf(" %10.2e", sse[g]);
	printf("\n\nbest ratio p_e/p = %.2f (grid %.1f)\n", ratio, grid[best]);
	ret = 0;
out:
	bo_sweep_result_release(&bm);
	for (int g = 0; g < NG; g++)
		bo_sweep_result_release(&er[g]);
	bo_sweeper_free(sw);
	loaded_release(&l);
	return ret;
}
