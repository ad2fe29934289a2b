/* Sweeps: points x trials of fault injection (spec sections 4 to 6).
 *
 * Design: a sweeper is built once per (model, dataset, configuration):
 *  - parts: the blocks of spec section 5 with their stored parameters and
 *    activations; every weight and activation site is assigned to the block
 *    of the node that first reads it, and each point's policy gives every
 *    part a p for weights and one for activations (0 where the target
 *    excludes them);
 *  - scales: weights s = max|w| / (2^(B-1)-1), once per model; activations
 *    from the largest |value| each site takes on the clean network over the
 *    first `calib` images, recorded by an engine hook in the same clean pass
 *    that measures clean accuracy;
 *  - one session whose threads split each batch.
 * A trial installs faulty copies of the weights whose part has p > 0
 * (drawn once, keyed by (seed, point, trial, weight)), runs every image with
 * an activation hook that draws faults per (seed, point, trial, site, image),
 * and afterwards restores the weight copies from an undo log, so a trial
 * costs the faults it injects, not a copy of the model. Faulty weight buffers
 * are allocated on first use and kept clean between trials.
 * Designs (spec 4a, lib/design.c): a trial of n < N images evaluates the
 * subset bo_subset_draw gives, loading image by image (no copy of the
 * data set); the hook then maps a batch position back to the image's index
 * in the data set, which keys its activation faults as in the full design.
 * bo_sweep_run hands each point to bo_point_run with a trial function that
 * times the trial's fixed part and its images on CLOCK_MONOTONIC.
 * Nested weight faults (spec 4b): the trial draws its weight faults with
 * bo_inject_nested, keyed by (seed, trial, weight) and not by the point, so
 * trial t is the same chip at every point and in every task that runs it;
 * activation faults and image subsets stay keyed by the point. After the
 * points, bo_sweep_run fills the chips (lib/design.c, bo_chips_compute). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <brownout/sweep.h>

#include "internal.h"

struct bo_sweeper {
	const struct bo_model *m;
	const struct bo_dataset *ds;
	struct bo_sweep_config cfg;
	double *p;                 /* copy of cfg.p */
	struct bo_block_rule *rules;
	struct bo_session *s;
	int64_t images;            /* N, the evaluation set */
	int64_t n_fixed;           /* images per trial: n, or N (all); 0 for auto */
	int64_t *order;            /* the current trial's images (n of them), NULL: 0..N-1 */
	int64_t *scratch;          /* N entries, for bo_subset_draw */
	int64_t C, H, W;
	float *x;
	int *labels;
	double clean_acc;
	int64_t clean_correct;
	int64_t parameters, activations;
	/* parts */
	int n_parts;
	struct bo_part *parts;
	double *pw, *pa;           /* [point * n_parts + part] */
	/* weights */
	int n_w;
	struct bo_weight_info *winfo;
	struct bo_stored *wst;
	int *wpart;
	float **wbuf;
	struct bo_undo *wundo;      /* per weight: what the trial changed */
	/* activation sites */
	int n_sites;
	struct bo_stored *ast;
	int *apart;
	float *amax;               /* calibration: largest |value| per site */
	pthread_mutex_t lock;
	int lock_init;
	/* the trial the hook is serving: its row of pw/pa (a point, or
	 * n_p: the explicit allocation of bo_sweeper_trial_alloc), and the
	 * seed and value keying its randomness (cfg.seed and the point's p) */
	int point, trial;
	uint64_t seed;
	double key;
	int64_t calib_limit;
};

static int part_index(struct bo_sweeper *sw, const char *block)
{
	for (int i = 0; i < sw->n_parts; i++)
		if (!strcmp(sw->parts[i].block, block))
			return i;
	return -1;
}

static int add_part(struct bo_sweeper *sw, const char *block)
{
	int i = part_index(sw, block);
	if (i >= 0)
		return i;
	struct bo_part *p = realloc(sw->parts, (size_t)(sw->n_parts + 1) * sizeof(*p));
	if (!p)
		return -1;
	sw->parts = p;
	memset(&p[sw->n_parts], 0, sizeof(*p));
	snprintf(p[sw->n_parts].block, sizeof(p->block), "%s", block);
	return sw->n_parts++;
}

/* The policy's p for a block at base p. */
static double policy_p(const struct bo_sweeper *sw, const char *block, double p)
{
	const struct bo_block_rule *star = NULL;
	for (int i = 0; i < sw->cfg.n_rules; i++) {
		const struct bo_block_rule *r = &sw->rules[i];
		if (!strcmp(r->block, "*"))
			star = r;
		else if (!strcmp(r->block, block))
			return r->relative ? fmin(1.0, r->value * p) : r->value;
	}
	if (star)
		return star->relative ? fmin(1.0, star->value * p) : star->value;
	return p;
}

/* Clean pass hook: record the largest |value| of each site over the
 * calibration images. */
static bo_status calib_hook(void *ctx, const struct bo_site *site, float *data, int64_t n_images,
			    int64_t first_image)
{
	struct bo_sweeper *sw = ctx;
	int64_t rows = BO_MIN(n_images, sw->calib_limit - first_image);
	if (rows <= 0)
		return BO_OK;
	float mx = 0.f;
	int64_t total = rows * site->sample_numel;
	for (int64_t i = 0; i < total; i++) {
		float a = fabsf(data[i]);
		mx = a > mx ? a : mx;
	}
	pthread_mutex_lock(&sw->lock);
	if (mx > sw->amax[site->index])
		sw->amax[site->index] = mx;
	pthread_mutex_unlock(&sw->lock);
	return BO_OK;
}

/* Trial hook: faults per image and site. */
static bo_status fault_hook(void *ctx, const struct bo_site *site, float *data, int64_t n_images,
			    int64_t first_image)
{
	struct bo_sweeper *sw = ctx;
	int si = site->index;
	double p = sw->pa[sw->point * sw->n_parts + sw->apart[si]];
	if (p <= 0 || sw->ast[si].scale == 0.f)
		return BO_OK;
	for (int64_t i = 0; i < n_images; i++) {
		struct bo_rng rng;
		int64_t pos = first_image + i;
		bo_rng_init(&rng, sw->seed, bo_rng_point(sw->key), (uint32_t)sw->trial, (uint32_t)si,
			    (uint64_t)(sw->order ? sw->order[pos] : pos));
		bo_inject(sw->cfg.deviation, p, &sw->ast[si], data + i * site->sample_numel,
			  site->sample_numel, &rng, NULL);
	}
	return BO_OK;
}

void bo_sweeper_free(struct bo_sweeper *sw)
{
	if (!sw)
		return;
	bo_session_free(sw->s);
	for (int i = 0; i < sw->n_w; i++) {
		if (sw->wbuf)
			free(sw->wbuf[i]);
		if (sw->wundo)
			bo_undo_release(&sw->wundo[i]);
	}
	free(sw->wundo);
	if (sw->lock_init)
		pthread_mutex_destroy(&sw->lock);
	free(sw->wbuf);
	free(sw->winfo);
	free(sw->wst);
	free(sw->wpart);
	free(sw->ast);
	free(sw->apart);
	free(sw->amax);
	free(sw->parts);
	free(sw->pw);
	free(sw->pa);
	free(sw->p);
	free(sw->rules);
	free(sw->x);
	free(sw->labels);
	free(sw->scratch);
	free(sw);
}

static const char *const weight_faults_names[] = { "independent", "nested" };

const char *bo_weight_faults_name(enum bo_weight_faults w)
{
	return (unsigned)w < 2 ? weight_faults_names[w] : "?";
}

bo_status bo_weight_faults_parse(const char *name, enum bo_weight_faults *out,
				 struct bo_error *err)
{
	for (int i = 0; i < 2; i++)
		if (name && !strcmp(name, weight_faults_names[i])) {
			*out = (enum bo_weight_faults)i;
			return BO_OK;
		}
	Bo_error_where(err, NULL, NULL, NULL, "weight_faults");
	return Bo_fail(err, BO_EINVAL, "weight faults must be " BO_WEIGHT_FAULTS_CHOICES ", not '%.64s'",
		       name ? name : "");
}

static bo_status check_config(const struct bo_sweep_config *c, struct bo_error *err)
{
	if (c->weight_faults != BO_WEIGHT_FAULTS_INDEPENDENT &&
	    c->weight_faults != BO_WEIGHT_FAULTS_NESTED) {
		Bo_error_where(err, NULL, NULL, NULL, "weight_faults");
		return Bo_fail(err, BO_EINVAL, "unknown weight_faults %d (" BO_WEIGHT_FAULTS_CHOICES ")",
			       (int)c->weight_faults);
	}
	if (c->deviation != BO_DEV_BM && c->deviation != BO_DEV_ERASURE)
		return Bo_fail(err, BO_EINVAL, "unknown deviation model %d", (int)c->deviation);
	if (c->target != BO_TARGET_BOTH && c->target != BO_TARGET_WEIGHTS &&
	    c->target != BO_TARGET_ACTIVATIONS)
		return Bo_fail(err, BO_EINVAL, "unknown target %d", (int)c->target);
	if (c->n_p < 1)
		return Bo_fail(err, BO_EINVAL, "a sweep needs at least one p");
	for (int i = 0; i < c->n_p; i++)
		if (!(c->p[i] >= 0 && c->p[i] <= 1)) {
			Bo_error_where(err, NULL, NULL, NULL, "p");
			return Bo_fail(err, BO_EINVAL, "p = %g is outside [0, 1]", c->p[i]);
		}
	if (c->bits < BO_MIN_BITS || c->bits > BO_MAX_BITS) {
		Bo_error_where(err, NULL, NULL, NULL, "bits");
		return Bo_fail(err, BO_EINVAL, "bits must be %d to %d, not %d", BO_MIN_BITS,
			       BO_MAX_BITS, c->bits);
	}
	if (c->ci_target > 0) {
		if (c->min_trials < 2 || c->max_trials < c->min_trials) {
			Bo_error_where(err, NULL, NULL, NULL, "trials");
			return Bo_fail(err, BO_EINVAL,
				       "an adaptive sweep needs 2 <= min_trials <= max_trials (got %d, %d)",
				       c->min_trials, c->max_trials);
		}
	} else if (c->trials < 1) {
		Bo_error_where(err, NULL, NULL, NULL, "trials");
		return Bo_fail(err, BO_EINVAL, "trials must be at least 1, not %d", c->trials);
	}
	if (c->images_per_trial < BO_IMAGES_AUTO) {
		Bo_error_where(err, NULL, NULL, NULL, "images_per_trial");
		return Bo_fail(err, BO_EINVAL,
			       "images_per_trial must be a positive number, all or auto, not %lld",
			       (long long)c->images_per_trial);
	}
	if (c->images_per_trial == BO_IMAGES_AUTO && c->min_trials < 2) {
		Bo_error_where(err, NULL, NULL, NULL, "min_trials");
		return Bo_fail(err, BO_EINVAL,
			       "images_per_trial = auto needs a pilot of min_trials >= 2 trials, not %d",
			       c->min_trials);
	}
	if (isnan(c->accuracy_floor) || c->accuracy_floor > 1) {
		Bo_error_where(err, NULL, NULL, NULL, "accuracy_floor");
		return Bo_fail(err, BO_EINVAL, "the accuracy floor must be at most 1 (<= 0: the default)");
	}
	if (!(isfinite(c->energy_a) && c->energy_a > 0)) {
		Bo_error_where(err, NULL, NULL, NULL, "energy_a");
		return Bo_fail(err, BO_EINVAL, "the energy constant a must be positive");
	}
	return BO_OK;
}

/* Parts, weights and sites, with their blocks. */
static bo_status build_parts(struct bo_sweeper *sw, struct bo_error *err)
{
	const struct bo_model *m = sw->m;
	struct bo_model_stats st = { 0 };
	struct bo_site *sites = NULL;
	char buf[128];
	int64_t dims[3] = { sw->C, sw->H, sw->W };
	bo_status rc = bo_model_stats(m, dims, 3, sw->cfg.blocks, sw->cfg.sites, &st, err);
	if (rc)
		return rc;
	sw->parameters = st.parameters;
	sw->activations = st.activations;
	for (int i = 0; i < st.n_blocks; i++) {
		int k = add_part(sw, st.blocks[i].name);
		if (k < 0) {
			rc = Bo_fail(err, BO_ENOMEM, "out of memory");
			goto out;
		}
		sw->parts[k].parameters = st.blocks[i].parameters;
		sw->parts[k].activations = st.blocks[i].activations;
	}
	/* every rule must name a block the model has */
	for (int i = 0; i < sw->cfg.n_rules; i++)
		if (strcmp(sw->rules[i].block, "*") && part_index(sw, sw->rules[i].block) < 0) {
			size_t n = 0;
			char names[512] = "";
			for (int k = 0; k < sw->n_parts && n < sizeof(names); k++)
				n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", k ? ", " : "",
						      sw->parts[k].block[0] ? sw->parts[k].block : "(none)");
			Bo_error_where(err, NULL, NULL, NULL, "--block-p");
			rc = Bo_fail(err, BO_EINVAL, "the model has no block '%s' (blocks: %s)",
				     sw->rules[i].block, names);
			goto out;
		}
	sw->n_w = bo_model_n_weights(m);
	sw->winfo = calloc((size_t)sw->n_w + 1, sizeof(*sw->winfo));
	sw->wst = calloc((size_t)sw->n_w + 1, sizeof(*sw->wst));
	sw->wpart = calloc((size_t)sw->n_w + 1, sizeof(int));
	sw->wbuf = calloc((size_t)sw->n_w + 1, sizeof(float *));
	sw->wundo = calloc((size_t)sw->n_w + 1, sizeof(*sw->wundo));
	if (!sw->winfo || !sw->wst || !sw->wpart || !sw->wbuf || !sw->wundo) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < sw->n_w; i++) {
		bo_model_weight(m, i, &sw->winfo[i]);
		float mx = 0.f;
		for (int64_t k = 0; k < sw->winfo[i].numel; k++)
			mx = fmaxf(mx, fabsf(sw->winfo[i].clean[k]));
		sw->wst[i].scale = bo_quant_scale(mx, sw->cfg.bits);
		sw->wst[i].bits = sw->cfg.bits;
		sw->wst[i].is_unsigned = 0;
		sw->wpart[i] = add_part(sw, bo_block_of(sw->cfg.blocks, sw->winfo[i].node, buf, sizeof(buf)));
		if (sw->wpart[i] < 0) {
			rc = Bo_fail(err, BO_ENOMEM, "out of memory");
			goto out;
		}
	}
	if ((rc = bo_model_site_list(m, sw->cfg.sites, &sites, &sw->n_sites, err)))
		goto out;
	sw->ast = calloc((size_t)sw->n_sites + 1, sizeof(*sw->ast));
	sw->apart = calloc((size_t)sw->n_sites + 1, sizeof(int));
	sw->amax = calloc((size_t)sw->n_sites + 1, sizeof(float));
	if (!sw->ast || !sw->apart || !sw->amax) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < sw->n_sites; i++) {
		sw->ast[i].bits = sw->cfg.bits;
		sw->ast[i].is_unsigned = sites[i].is_unsigned;
		sw->apart[i] = add_part(sw, bo_block_of(sw->cfg.blocks, sites[i].node, buf, sizeof(buf)));
		if (sw->apart[i] < 0) {
			rc = Bo_fail(err, BO_ENOMEM, "out of memory");
			goto out;
		}
	}
	/* p per point, part and kind; one more row for bo_sweeper_trial_alloc */
	sw->pw = calloc((size_t)((sw->cfg.n_p + 1) * sw->n_parts) + 1, sizeof(double));
	sw->pa = calloc((size_t)((sw->cfg.n_p + 1) * sw->n_parts) + 1, sizeof(double));
	if (!sw->pw || !sw->pa) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	for (int pt = 0; pt < sw->cfg.n_p; pt++)
		for (int k = 0; k < sw->n_parts; k++) {
			double p = policy_p(sw, sw->parts[k].block, sw->p[pt]);
			sw->pw[pt * sw->n_parts + k] = sw->cfg.target != BO_TARGET_ACTIVATIONS ? p : 0;
			sw->pa[pt * sw->n_parts + k] = sw->cfg.target != BO_TARGET_WEIGHTS ? p : 0;
		}
out:
	free(sites);
	bo_model_stats_release(&st);
	return rc;
}

/* One pass over images [0, n) (with sw->order: over sw->order[0..n)):
 * accuracy over the first `count`. */
static bo_status run_images(struct bo_sweeper *sw, int64_t n, int64_t count, int64_t *correct,
			    bo_progress_fn progress, void *ctx, struct bo_progress *pr,
			    struct bo_error *err)
{
	bo_status rc = BO_OK;
	*correct = 0;
	for (int64_t first = 0; first < n; first += sw->cfg.batch) {
		int64_t b = BO_MIN((int64_t)sw->cfg.batch, n - first);
		if (!sw->order) {
			if ((rc = bo_dataset_batch(sw->ds, first, b, &sw->cfg.norm, sw->x, sw->labels,
						   err)))
				return rc;
		} else {
			size_t img = (size_t)(sw->C * sw->H * sw->W);
			for (int64_t i = 0; i < b; i++)
				if ((rc = bo_dataset_batch(sw->ds, sw->order[first + i], 1, &sw->cfg.norm,
							   sw->x + (size_t)i * img, sw->labels + i, err)))
					return rc;
		}
		struct bo_tensor in = { 4, { b, sw->C, sw->H, sw->W }, sw->x }, out;
		bo_session_set_image_base(sw->s, first);
		if ((rc = bo_session_run(sw->s, &in, 1, &out, 1, err)))
			return rc;
		int64_t classes = out.rank >= 2 && out.dims[0] == b ? bo_tensor_numel(&out) / b : 0;
		if (classes < 1)
			return Bo_fail(err, BO_ESHAPE, "the model's output is not [batch, classes]");
		for (int64_t i = 0; i < b; i++)
			if (sw->labels[i] >= classes)
				return Bo_fail(err, BO_ESHAPE,
					       "label %d of image %lld is not a class of the model: its output"
					       " has %lld logits, the dataset's labels go up to %d",
					       sw->labels[i],
					       (long long)(sw->order ? sw->order[first + i] : first + i),
					       (long long)classes,
					       bo_dataset_classes(sw->ds) - 1);
		for (int64_t i = 0; i < b && first + i < count; i++) {
			const float *row = out.data + i * classes;
			int64_t best = 0;
			for (int64_t k = 1; k < classes; k++)
				if (row[k] > row[best])
					best = k;
			*correct += best == sw->labels[i];
		}
		if (progress && pr) {
			pr->images_done = first + b;
			if (progress(ctx, pr))
				return Bo_fail(err, BO_ECANCELLED, "cancelled");
		}
	}
	return rc;
}

bo_status bo_sweeper_new(const struct bo_model *m, const struct bo_dataset *ds,
			 const struct bo_sweep_config *cfg, struct bo_sweeper **out,
			 struct bo_error *err)
{
	bo_status rc;
	struct bo_sweeper *sw = NULL;
	*out = NULL;
	bo_error_clear(err);
	if ((rc = check_config(cfg, err)))
		return rc;
	sw = calloc(1, sizeof(*sw));
	if (!sw)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	sw->m = m;
	sw->ds = ds;
	sw->cfg = *cfg;
	if (sw->cfg.batch < 1)
		sw->cfg.batch = 64;
	if (sw->cfg.threads < 1)
		sw->cfg.threads = 1;
	if (sw->cfg.calib < 1)
		sw->cfg.calib = 256;
	if (pthread_mutex_init(&sw->lock, NULL)) {
		rc = Bo_fail(err, BO_ENOMEM, "cannot create a mutex");
		goto out;
	}
	sw->lock_init = 1;
	sw->p = malloc((size_t)cfg->n_p * sizeof(double));
	sw->rules = malloc((size_t)(cfg->n_rules + 1) * sizeof(*sw->rules));
	if (!sw->p || !sw->rules) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(sw->p, cfg->p, (size_t)cfg->n_p * sizeof(double));
	if (cfg->n_rules)
		memcpy(sw->rules, cfg->rules, (size_t)cfg->n_rules * sizeof(*sw->rules));
	sw->cfg.p = sw->p;
	sw->cfg.rules = sw->rules;

	if (bo_model_n_inputs(m) != 1) {
		rc = Bo_fail(err, BO_EUNSUPPORTED, "a sweep needs a model with one input; it has %d",
			     bo_model_n_inputs(m));
		goto out;
	}
	bo_dataset_shape(ds, &sw->C, &sw->H, &sw->W);
	{
		int64_t d[BO_MAX_RANK];
		int r = bo_model_input_shape(m, 0, d);
		if (r != 4 || (d[1] > 0 && d[1] != sw->C) || (d[2] > 0 && d[2] != sw->H) ||
		    (d[3] > 0 && d[3] != sw->W)) {
			Bo_error_where(err, NULL, bo_model_input_name(m, 0), NULL, "dataset");
			rc = Bo_fail(err, BO_ESHAPE,
				     "dataset images are %lldx%lldx%lld (CxHxW) but the model's input is %s[%lld,%lld,%lld]",
				     (long long)sw->C, (long long)sw->H, (long long)sw->W,
				     r == 4 ? "N x " : "not 4-D: ", r == 4 ? (long long)d[1] : 0LL,
				     r == 4 ? (long long)d[2] : 0LL, r == 4 ? (long long)d[3] : 0LL);
			goto out;
		}
	}
	if ((rc = bo_norm_check(&sw->cfg.norm, sw->C, err)))
		goto out;
	sw->images = bo_dataset_count(ds);
	if (cfg->limit > 0 && cfg->limit < sw->images)
		sw->images = cfg->limit;
	if (sw->images < 1) {
		rc = Bo_fail(err, BO_EINVAL, "the dataset has no images");
		goto out;
	}
	if (cfg->images_per_trial > sw->images) {
		Bo_error_where(err, NULL, NULL, NULL, "images_per_trial");
		rc = Bo_fail(err, BO_EINVAL,
			     "images_per_trial %lld is more than the %lld images of the evaluation set",
			     (long long)cfg->images_per_trial, (long long)sw->images);
		goto out;
	}
	sw->n_fixed = cfg->images_per_trial == BO_IMAGES_AUTO ? 0 :
		      cfg->images_per_trial > 0 ? cfg->images_per_trial : sw->images;
	if ((rc = build_parts(sw, err)))
		goto out;
	sw->x = malloc((size_t)(sw->cfg.batch * sw->C * sw->H * sw->W) * sizeof(float));
	sw->labels = malloc((size_t)sw->cfg.batch * sizeof(int));
	if (!sw->x || !sw->labels) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory for a batch of %d", sw->cfg.batch);
		goto out;
	}
	struct bo_session_config scfg = { .threads = sw->cfg.threads };
	if ((rc = bo_session_new(m, &scfg, &sw->s, err)))
		goto out;
	/* one clean pass: calibrate activation scales, measure clean accuracy */
	sw->calib_limit = BO_MIN(sw->cfg.calib, bo_dataset_count(ds));
	/* both hooks treat each image apart: activations in cache-sized groups */
	Bo_session_set_act_group(sw->s, -1);
	if ((rc = bo_session_set_hook(sw->s, sw->cfg.sites, calib_hook, sw)))
		goto out;
	int64_t correct, n_clean = BO_MAX(sw->images, sw->calib_limit);
	struct bo_progress cpr = { -1, sw->cfg.n_p, -1, 0, 0, n_clean };
	if ((rc = run_images(sw, n_clean, sw->images, &correct, sw->cfg.calib_progress,
			     sw->cfg.calib_ctx, &cpr, err)))
		goto out;
	sw->clean_correct = correct;
	sw->clean_acc = (double)correct / (double)sw->images;
	for (int i = 0; i < sw->n_sites; i++)
		sw->ast[i].scale = bo_quant_scale(sw->amax[i], sw->cfg.bits);
	if ((rc = bo_session_set_hook(sw->s, sw->cfg.sites, NULL, NULL)))
		goto out;
out:
	if (rc)
		bo_sweeper_free(sw);
	else
		*out = sw;
	return rc;
}

double bo_sweeper_clean_accuracy(const struct bo_sweeper *sw) { return sw->clean_acc; }
int64_t bo_sweeper_images(const struct bo_sweeper *sw)
{
	return sw->n_fixed ? sw->n_fixed : sw->images;
}
int64_t bo_sweeper_eval_images(const struct bo_sweeper *sw) { return sw->images; }
int64_t bo_sweeper_parameters(const struct bo_sweeper *sw) { return sw->parameters; }
int64_t bo_sweeper_activations(const struct bo_sweeper *sw) { return sw->activations; }

int bo_sweeper_parts(const struct bo_sweeper *sw, const struct bo_part **parts)
{
	*parts = sw->parts;
	return sw->n_parts;
}

double bo_sweeper_part_p(const struct bo_sweeper *sw, int point, int part, int kind)
{
	if (point < 0 || point >= sw->cfg.n_p || part < 0 || part >= sw->n_parts)
		return NAN;
	return (kind ? sw->pa : sw->pw)[point * sw->n_parts + part];
}

double bo_sweeper_energy(const struct bo_sweeper *sw, int point)
{
	double e = 0;
	for (int k = 0; k < sw->n_parts; k++)
		e += bo_eta(sw->pw[point * sw->n_parts + k], sw->cfg.energy_a) *
			     (double)sw->parts[k].parameters +
		     bo_eta(sw->pa[point * sw->n_parts + k], sw->cfg.energy_a) *
			     (double)sw->parts[k].activations;
	return e;
}

static double mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A trial at n images (n = N: all, in order); cost[0] its fixed part
 * (subset, weight faults in and out), cost[1] its images, in seconds. */
static bo_status trial_row(struct bo_sweeper *sw, int point, uint64_t seed, double key, int trial,
			   int64_t n, int64_t *correct, bo_progress_fn progress, void *ctx,
			   double cost[2], struct bo_error *err)
{
	bo_status rc = BO_OK;
	if (n < 1 || n > sw->images)
		return Bo_fail(err, BO_EINVAL, "%lld images per trial: not in 1..%lld", (long long)n,
			       (long long)sw->images);
	double t0 = mono_seconds(), t1 = t0, t2 = t0;
	sw->point = point;
	sw->trial = trial;
	sw->seed = seed;
	sw->key = key;
	sw->order = NULL;
	if (n < sw->images) {
		if (!sw->scratch &&
		    !(sw->scratch = malloc((size_t)sw->images * sizeof(int64_t))))
			return Bo_fail(err, BO_ENOMEM, "out of memory for a subset of %lld images",
				       (long long)sw->images);
		bo_subset_draw(seed, key, trial, n, sw->images, sw->scratch, sw->scratch);
		sw->order = sw->scratch;
	}
	/* weights: drawn once for the trial */
	for (int i = 0; i < sw->n_w; i++) {
		double p = sw->pw[point * sw->n_parts + sw->wpart[i]];
		const struct bo_weight_info *w = &sw->winfo[i];
		if (p <= 0 || sw->wst[i].scale == 0.f) {
			bo_session_set_weight(sw->s, i, NULL);
			continue;
		}
		if (!sw->wbuf[i]) {
			sw->wbuf[i] = malloc((size_t)(w->numel ? w->numel : 1) * sizeof(float));
			if (!sw->wbuf[i]) {
				rc = Bo_fail(err, BO_ENOMEM, "out of memory for weight '%s'", w->name);
				goto out;
			}
			memcpy(sw->wbuf[i], w->clean, (size_t)w->numel * sizeof(float));
		}
		struct bo_rng rng;
		int64_t got;
		if (sw->cfg.weight_faults == BO_WEIGHT_FAULTS_NESTED) {
			/* spec 4b: chip `trial`, whatever the point */
			got = bo_inject_nested(sw->cfg.deviation, p, &sw->wst[i], sw->wbuf[i], w->numel,
					       seed, (uint32_t)trial, BO_RNG_WEIGHT | (uint32_t)i,
					       &sw->wundo[i]);
		} else {
			bo_rng_init(&rng, seed, bo_rng_point(key), (uint32_t)trial,
				    BO_RNG_WEIGHT | (uint32_t)i, 0);
			got = bo_inject(sw->cfg.deviation, p, &sw->wst[i], sw->wbuf[i], w->numel, &rng,
					&sw->wundo[i]);
		}
		if (got < 0) {
			rc = Bo_fail(err, BO_ENOMEM, "out of memory recording faults");
			goto out;
		}
		bo_session_set_weight(sw->s, i, sw->wbuf[i]);
	}
	{
		/* the activation hook only where some part has activation faults */
		int any = 0;
		for (int k = 0; k < sw->n_parts; k++)
			any |= sw->pa[point * sw->n_parts + k] > 0;
		if ((rc = bo_session_set_hook(sw->s, sw->cfg.sites, any ? fault_hook : NULL, sw))) {
			Bo_fail(err, rc, "cannot install the activation hook");
			goto out;
		}
		struct bo_progress pr = { point, sw->cfg.n_p, trial, 0, 0, n };
		t1 = mono_seconds();
		rc = run_images(sw, n, n, correct, progress, ctx, &pr, err);
		t2 = mono_seconds();
	}
out:
	/* put every faulty copy back to clean for the next trial */
	for (int i = 0; i < sw->n_w; i++) {
		bo_session_set_weight(sw->s, i, NULL);
		if (sw->wbuf[i])
			bo_undo_apply(&sw->wundo[i], sw->wbuf[i]);
	}
	sw->order = NULL;
	if (cost) {
		cost[0] = (t1 - t0) + (mono_seconds() - t2);
		cost[1] = t2 - t1;
	}
	return rc;
}

static bo_status trial_n(struct bo_sweeper *sw, int point, int trial, int64_t n,
			 int64_t *correct, bo_progress_fn progress, void *ctx, double cost[2],
			 struct bo_error *err)
{
	bo_error_clear(err);
	if (point < 0 || point >= sw->cfg.n_p || trial < 0)
		return Bo_fail(err, BO_EINVAL, "point %d or trial %d out of range", point, trial);
	return trial_row(sw, point, sw->cfg.seed, sw->cfg.p[point], trial, n, correct, progress, ctx,
			 cost, err);
}

/* The explicit allocation's row: p per part, through the target. */
static bo_status alloc_row(struct bo_sweeper *sw, const double *p_parts, struct bo_error *err)
{
	double *pw = sw->pw + sw->cfg.n_p * sw->n_parts, *pa = sw->pa + sw->cfg.n_p * sw->n_parts;
	for (int k = 0; k < sw->n_parts; k++) {
		if (!(p_parts[k] >= 0 && p_parts[k] <= 1)) {
			Bo_error_where(err, NULL, NULL, NULL, "p");
			return Bo_fail(err, BO_EINVAL, "p = %g of block '%s' is outside [0, 1]",
				       p_parts[k], sw->parts[k].block);
		}
		pw[k] = sw->cfg.target != BO_TARGET_ACTIVATIONS ? p_parts[k] : 0;
		pa[k] = sw->cfg.target != BO_TARGET_WEIGHTS ? p_parts[k] : 0;
	}
	return BO_OK;
}

bo_status bo_sweeper_trial_alloc(struct bo_sweeper *sw, const double *p_parts, uint64_t seed,
				 double key, int trial, int64_t *correct, bo_progress_fn progress,
				 void *ctx, struct bo_error *err)
{
	bo_status rc;
	bo_error_clear(err);
	if (!sw->n_fixed) {
		Bo_error_where(err, NULL, NULL, NULL, "images_per_trial");
		return Bo_fail(err, BO_EINVAL,
			       "images_per_trial = auto chooses n per point: give a number or all");
	}
	if (trial < 0)
		return Bo_fail(err, BO_EINVAL, "trial %d out of range", trial);
	if (!isfinite(key))
		return Bo_fail(err, BO_EINVAL, "the stream key must be a finite number");
	if ((rc = alloc_row(sw, p_parts, err)))
		return rc;
	return trial_row(sw, sw->cfg.n_p, seed, key, trial, sw->n_fixed, correct, progress, ctx, NULL,
			 err);
}

double bo_sweeper_alloc_energy(const struct bo_sweeper *sw, const double *p_parts)
{
	double e = 0;
	for (int k = 0; k < sw->n_parts; k++) {
		double p = p_parts[k];
		double pw = sw->cfg.target != BO_TARGET_ACTIVATIONS ? p : 0;
		double pa = sw->cfg.target != BO_TARGET_WEIGHTS ? p : 0;
		e += bo_eta(pw, sw->cfg.energy_a) * (double)sw->parts[k].parameters +
		     bo_eta(pa, sw->cfg.energy_a) * (double)sw->parts[k].activations;
	}
	return e;
}

bo_status bo_sweeper_trial(struct bo_sweeper *sw, int point, int trial, int64_t *correct,
			   bo_progress_fn progress, void *ctx, struct bo_error *err)
{
	if (!sw->n_fixed) {
		bo_error_clear(err);
		Bo_error_where(err, NULL, NULL, NULL, "images_per_trial");
		return Bo_fail(err, BO_EINVAL,
			       "images_per_trial = auto chooses n per point: run the sweep with"
			       " bo_sweep_run, or give a number");
	}
	return trial_n(sw, point, trial, sw->n_fixed, correct, progress, ctx, NULL, err);
}

bo_status bo_sweeper_trial_n(struct bo_sweeper *sw, int point, int trial, int64_t n,
			     int64_t *correct, bo_progress_fn progress, void *ctx, double cost[2],
			     struct bo_error *err)
{
	return trial_n(sw, point, trial, n, correct, progress, ctx, cost, err);
}

void bo_sweep_config_defaults(struct bo_sweep_config *c)
{
	memset(c, 0, sizeof(*c));
	c->deviation = BO_DEV_BM;
	c->target = BO_TARGET_BOTH;
	c->sites = BO_SITES_DEFAULT;
	c->seed = 1;
	c->bits = 8;
	c->calib = 256;
	c->batch = 64;
	c->threads = 1;
	c->energy_a = BO_ENERGY_A;
	c->trials = 5;
	c->min_trials = 3;
	c->max_trials = 100;
	c->images_per_trial = BO_IMAGES_ALL;
	c->accuracy_floor = 0; /* the clean accuracy - 0.01 */
}

int bo_sweep_point_done(const struct bo_sweep_config *c, const struct bo_summary *s, int trials)
{
	if (c->ci_target > 0)
		return trials >= c->max_trials ||
		       (trials >= c->min_trials && s->half <= c->ci_target);
	return trials >= c->trials;
}

/* bo_point_run's trial: the journal's record when it has one at n images
 * (pilot trials are neither looked up nor recorded: they are the point's
 * trials only when auto's n equals n0, and then come back as
 * BO_TRIAL_KNOWN to be recorded), else the engine. */
struct run_ctx {
	struct bo_sweeper *sw;
	int point;
	bo_progress_fn progress;
	void *ctx;
};

static bo_status run_trial(void *vctx, int trial, int64_t n, int kind, int64_t *correct,
			   double cost[2], struct bo_error *err)
{
	struct run_ctx *rc_ = vctx;
	struct bo_sweeper *sw = rc_->sw;
	const struct bo_trial_journal *j = kind == BO_TRIAL_PILOT ? NULL : sw->cfg.journal;
	double p = sw->cfg.p[rc_->point];
	int64_t images = 0, known = 0;
	bo_status rc;
	cost[0] = cost[1] = 0;
	if (kind == BO_TRIAL_KNOWN) {
		if (j && j->record && !(j->known && j->known(j->ctx, p, trial, &known, &images) &&
					images == n && known == *correct))
			return j->record(j->ctx, p, trial, *correct, n, err);
		return BO_OK;
	}
	if (j && j->known && j->known(j->ctx, p, trial, correct, &images) && images == n &&
	    *correct >= 0 && *correct <= images)
		return BO_OK;
	if ((rc = trial_n(sw, rc_->point, trial, n, correct, rc_->progress, rc_->ctx, cost, err)))
		return rc;
	if (j && j->record && (rc = j->record(j->ctx, p, trial, *correct, n, err)))
		return rc;
	return BO_OK;
}

double bo_sweeper_accuracy_floor(const struct bo_sweeper *sw)
{
	return sw->cfg.accuracy_floor > 0 ? sw->cfg.accuracy_floor : sw->clean_acc - 0.01;
}

bo_status bo_sweep_run(struct bo_sweeper *sw, const struct bo_frontier *frontier,
		       bo_progress_fn progress, void *ctx, struct bo_sweep_result *r,
		       struct bo_error *err)
{
	bo_status rc = BO_OK;
	const struct bo_sweep_config *c = &sw->cfg;
	memset(r, 0, sizeof(*r));
	r->clean_accuracy = sw->clean_acc;
	r->accuracy_floor = bo_sweeper_accuracy_floor(sw);
	r->eval_images = sw->images;
	r->parameters = sw->parameters;
	r->activations = sw->activations;
	r->points = calloc((size_t)c->n_p, sizeof(*r->points));
	if (!r->points)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	r->n_points = c->n_p;
	for (int pt = 0; pt < c->n_p; pt++) {
		struct bo_point_result *pr = &r->points[pt];
		struct run_ctx rctx = { sw, pt, progress, ctx };
		struct bo_sweep_config pc = *c;
		int64_t m = 0, k;
		pr->p = c->p[pt];
		/* auto, resumed: the n the interrupted run chose is in the journal
		 * (trial 0 of the point, at n), so the pilot is not run again and
		 * the result is the uninterrupted run's */
		if (c->images_per_trial == BO_IMAGES_AUTO && c->journal && c->journal->known &&
		    c->journal->known(c->journal->ctx, c->p[pt], 0, &k, &m) && m >= 1 &&
		    m <= sw->images)
			pc.images_per_trial = m;
		if ((rc = bo_point_run(&pc, sw->images, r->accuracy_floor, run_trial, &rctx, pr, err)))
			goto out;
		pr->eta = bo_eta(pr->p, c->energy_a);
		pr->energy = bo_sweeper_energy(sw, pt);
		double eref;
		if (frontier && frontier->n > 0 &&
		    bo_frontier_energy(frontier, pr->summary.mean, &eref) == 0 && pr->energy > 0) {
			pr->has_reduction = 1;
			pr->energy_reduction = eref / pr->energy;
		}
	}
	r->weight_faults = c->weight_faults;
	if (c->weight_faults == BO_WEIGHT_FAULTS_NESTED)
		rc = bo_chips_compute(r, r->accuracy_floor, &r->chips, err);
out:
	if (rc)
		bo_sweep_result_release(r);
	return rc;
}

void bo_sweep_result_release(struct bo_sweep_result *r)
{
	if (!r)
		return;
	if (r->points)
		for (int i = 0; i < r->n_points; i++)
			free(r->points[i].accuracy);
	free(r->points);
	bo_chips_release(&r->chips);
	memset(r, 0, sizeof(*r));
}

bo_status bo_evaluate(const struct bo_model *m, const struct bo_dataset *ds,
		      const struct bo_norm *norm, int64_t limit, int batch, int threads,
		      int64_t *correct, int64_t *images, struct bo_error *err)
{
	/* a sweeper with no fault points is a clean evaluation */
	static const double zero = 0;
	struct bo_sweep_config c = {
		.p = &zero, .n_p = 1, .bits = 8, .calib = 1, .limit = limit, .batch = batch,
		.threads = threads, .energy_a = BO_ENERGY_A, .trials = 1,
	};
	struct bo_sweeper *sw = NULL;
	if (norm)
		c.norm = *norm;
	bo_status rc = bo_sweeper_new(m, ds, &c, &sw, err);
	if (rc)
		return rc;
	*images = sw->images;
	*correct = sw->clean_correct;
	bo_sweeper_free(sw);
	return BO_OK;
}

bo_status bo_reference_eval(const struct bo_model *m, const struct bo_dataset *ds,
			    const struct bo_norm *norm, int64_t limit, int batch, int threads,
			    enum bo_act_sites sites, struct bo_reference_result *out,
			    struct bo_error *err)
{
	struct bo_model_stats st = { 0 };
	int64_t C, H, W;
	bo_status rc;
	memset(out, 0, sizeof(*out));
	bo_dataset_shape(ds, &C, &H, &W);
	int64_t dims[3] = { C, H, W };
	if ((rc = bo_model_stats(m, dims, 3, NULL, sites, &st, err)))
		goto out;
	if ((rc = bo_evaluate(m, ds, norm, limit, batch, threads, &out->correct, &out->images, err)))
		goto out;
	out->parameters = st.parameters;
	out->activations = st.activations;
out:
	if (rc)
		memset(out, 0, sizeof(*out));
	bo_model_stats_release(&st);
	return rc;
}

struct bo_ref_point bo_reference_point(const struct bo_reference_result *r)
{
	struct bo_ref_point p = { (double)(r->parameters + r->activations),
				  r->images > 0 ? (double)r->correct / (double)r->images : 0.0 };
	return p;
}
