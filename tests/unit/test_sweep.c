/* Sweeps on a real fixture (Fashion-MNIST PreActResNet18, F = 4):
 * reproducibility whatever the batch size and thread count, clean points,
 * weights restored between trials, energy and block policies, adaptive
 * trials, cancellation and configuration errors; designs (spec 4a): a
 * trial of n < N images is the same whatever the batch and threads, its
 * activation faults are keyed by the image's index in the data set, n = N
 * is the paper's design, auto's points are reproduced by a fixed-n run. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <brownout/brownout.h>

#include "internal.h" /* private: Bo_session_set_act_group */

#define MODEL "tests/fixtures/fmnist_preact_f4.onnx"
#define DATA "/usr/share/datasets/fashion-mnist"

static struct bo_model *model;
static struct bo_dataset *data;

static int setup(void **state)
{
	struct bo_error err;
	(void)state;
	if (bo_model_load(MODEL, &model, &err))
		return -1;
	if (bo_dataset_open_dir(DATA, BO_SPLIT_TEST, NULL, &data, &err))
		data = NULL; /* tests skip */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bo_model_free(model);
	bo_dataset_free(data);
	return 0;
}

static struct bo_sweep_config base_config(const double *p, int n)
{
	struct bo_sweep_config c = {
		.deviation = BO_DEV_BM, .target = BO_TARGET_BOTH, .sites = BO_SITES_RELU,
		.p = p, .n_p = n, .seed = 7, .bits = 8, .calib = 64, .limit = 96, .batch = 32,
		.threads = 1, .energy_a = BO_ENERGY_A, .trials = 2,
	};
	c.norm.n = 1;
	c.norm.mean[0] = 0.2860f;
	c.norm.std[0] = 0.3530f;
	return c;
}

static void trials_correct(const struct bo_sweep_config *c, int64_t *out, int n_trials)
{
	struct bo_sweeper *sw = NULL;
	struct bo_error err;
	assert_int_equal(bo_sweeper_new(model, data, c, &sw, &err), BO_OK);
	for (int pt = 0; pt < c->n_p; pt++)
		for (int t = 0; t < n_trials; t++)
			assert_int_equal(bo_sweeper_trial(sw, pt, t, &out[pt * n_trials + t], NULL, NULL, &err),
					 BO_OK);
	bo_sweeper_free(sw);
}

static void test_reproducible_across_batch_and_threads(void **state)
{
	(void)state;
	if (!data)
		skip();
	static const double p[] = { 3e-3, 2e-2 };
	int64_t a[4], b[4], c[4];
	struct bo_sweep_config cfg = base_config(p, 2);
	trials_correct(&cfg, a, 2);
	cfg.batch = 1;
	trials_correct(&cfg, b, 2);
	cfg.batch = 64;
	cfg.threads = 2;
	trials_correct(&cfg, c, 2);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(a[i], b[i]);
		assert_int_equal(a[i], c[i]);
	}
	/* and the faults do something: accuracy at 2e-2 differs between trials
	 * or from the clean count */
	assert_true(a[2] != a[3] || a[2] != a[0]);
}

/* A point's trials depend on its p, not on its place in the p list: a
 * sweep split over processes or machines merges into the same numbers. */
static void test_point_keyed_by_value(void **state)
{
	(void)state;
	if (!data)
		skip();
	static const double both[] = { 3e-3, 2e-2 }, alone[] = { 2e-2 }, moved[] = { 2e-2, 3e-3 };
	int64_t a[6], b[3], c[6];
	struct bo_sweep_config cfg = base_config(both, 2);
	trials_correct(&cfg, a, 3);
	cfg = base_config(alone, 1);
	trials_correct(&cfg, b, 3);
	cfg = base_config(moved, 2);
	trials_correct(&cfg, c, 3);
	for (int t = 0; t < 3; t++) {
		assert_int_equal(a[3 + t], b[t]); /* 2e-2 at position 1 and alone */
		assert_int_equal(a[3 + t], c[t]); /* 2e-2 at position 0 */
		assert_int_equal(a[t], c[3 + t]); /* 3e-3 at position 0 and 1 */
	}
	/* and distinct p give distinct streams: the three trials at 2e-2 are
	 * not all equal to the ones at 3e-3 */
	assert_true(a[0] != a[3] || a[1] != a[4] || a[2] != a[5]);
}

static void test_clean_point_and_restore(void **state)
{
	(void)state;
	if (!data)
		skip();
	static const double p[] = { 0, 5e-2, 0 };
	struct bo_sweep_config cfg = base_config(p, 3);
	struct bo_sweeper *sw = NULL;
	struct bo_error err;
	int64_t clean, faulty, again;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	double acc = bo_sweeper_clean_accuracy(sw);
	assert_int_equal(bo_sweeper_trial(sw, 0, 0, &clean, NULL, NULL, &err), BO_OK);
	assert_int_equal(bo_sweeper_trial(sw, 1, 0, &faulty, NULL, NULL, &err), BO_OK);
	assert_int_equal(bo_sweeper_trial(sw, 2, 3, &again, NULL, NULL, &err), BO_OK);
	assert_true(fabs(acc - (double)clean / 96.0) < 1e-12);
	assert_int_equal(clean, again); /* weights were restored after the faulty trial */
	assert_true(faulty < clean);    /* 5 % of bit cells faulty hurts */
	/* eta and energy of p = 0 are the reliable E_o */
	assert_true(fabs(bo_sweeper_energy(sw, 0) -
			 (double)(bo_sweeper_parameters(sw) + bo_sweeper_activations(sw))) < 1e-6);
	bo_sweeper_free(sw);
}

/* A reference model as the CLI and brownoutd measure it: the clean count
 * of the same images a sweeper's clean pass sees, and E_o = the stored
 * parameters and activations a sweeper of the model accounts (its energy
 * at p = 0), whatever the batch and thread count; an error leaves zeros. */
static void test_reference_eval(void **state)
{
	(void)state;
	if (!data)
		skip();
	static const double p[] = { 0 };
	struct bo_sweep_config cfg = base_config(p, 1);
	struct bo_reference_result r, r2;
	struct bo_sweeper *sw = NULL;
	struct bo_error err;
	assert_int_equal(bo_reference_eval(model, data, &cfg.norm, cfg.limit, 32, 1, cfg.sites, &r,
					   &err),
			 BO_OK);
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	assert_int_equal(r.images, 96);
	assert_int_equal(r.images, bo_sweeper_images(sw));
	assert_true(r.correct > 0 && r.correct <= r.images);
	assert_true(fabs(bo_sweeper_clean_accuracy(sw) - (double)r.correct / 96.0) < 1e-12);
	assert_int_equal(r.parameters, bo_sweeper_parameters(sw));
	assert_int_equal(r.activations, bo_sweeper_activations(sw));
	struct bo_ref_point pt = bo_reference_point(&r);
	assert_true(pt.energy == bo_sweeper_energy(sw, 0));
	assert_true(pt.accuracy == (double)r.correct / (double)r.images);
	bo_sweeper_free(sw);
	/* batch and threads change nothing */
	assert_int_equal(bo_reference_eval(model, data, &cfg.norm, cfg.limit, 1, 2, cfg.sites, &r2,
					   &err),
			 BO_OK);
	assert_memory_equal(&r, &r2, sizeof(r));
	/* the activation sites rule counts activations differently, not params */
	assert_int_equal(bo_reference_eval(model, data, &cfg.norm, cfg.limit, 32, 1,
					   BO_SITES_CONV_INPUTS, &r2, &err),
			 BO_OK);
	assert_int_equal(r2.parameters, r.parameters);
	assert_int_equal(r2.correct, r.correct);
	/* a normalisation of the wrong channel count: an error, no numbers */
	cfg.norm.n = 2;
	cfg.norm.mean[1] = 0;
	cfg.norm.std[1] = 1;
	assert_int_not_equal(bo_reference_eval(model, data, &cfg.norm, cfg.limit, 32, 1, cfg.sites,
					       &r2, &err),
			     BO_OK);
	assert_int_equal(r2.correct + r2.images + r2.parameters + r2.activations, 0);
}

static void test_energy_and_block_policy(void **state)
{
	(void)state;
	if (!data)
		skip();
	static const double p[] = { 1e-3 };
	static const char *rules_text = "layer1=p,layer4=10p,*=0";
	struct bo_sweep_config cfg = base_config(p, 1);
	struct bo_block_rule *rules = NULL;
	int n_rules = 0;
	struct bo_error err;
	assert_int_equal(bo_block_rules_parse(rules_text, &rules, &n_rules, &err), BO_OK);
	cfg.rules = rules;
	cfg.n_rules = n_rules;
	cfg.target = BO_TARGET_WEIGHTS;
	struct bo_sweeper *sw = NULL;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	const struct bo_part *parts;
	int n = bo_sweeper_parts(sw, &parts);
	double e = 0;
	int seen1 = 0, seen4 = 0;
	for (int k = 0; k < n; k++) {
		double pw = bo_sweeper_part_p(sw, 0, k, 0), pa = bo_sweeper_part_p(sw, 0, k, 1);
		double want = !strcmp(parts[k].block, "layer1") ? 1e-3 :
			      !strcmp(parts[k].block, "layer4") ? 1e-2 : 0;
		seen1 |= !strcmp(parts[k].block, "layer1");
		seen4 |= !strcmp(parts[k].block, "layer4");
		assert_true(fabs(pw - want) < 1e-15);
		assert_true(pa == 0); /* target weights: activations reliable */
		double eta = pw > 0 ? fmin(1, -log(pw) / 12.8) : 1;
		e += eta * (double)parts[k].parameters + (double)parts[k].activations;
	}
	assert_true(seen1 && seen4);
	assert_true(fabs(bo_sweeper_energy(sw, 0) - e) < 1e-6 * e);
	bo_sweeper_free(sw);
	free(rules);
	/* a rule naming a block the model does not have is refused */
	assert_int_equal(bo_block_rules_parse("layer9=p", &rules, &n_rules, &err), BO_OK);
	cfg.rules = rules;
	cfg.n_rules = n_rules;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_EINVAL);
	assert_non_null(strstr(err.text, "layer9"));
	assert_non_null(strstr(err.text, "layer1"));
	free(rules);
}

static void test_adaptive_trials(void **state)
{
	(void)state;
	if (!data)
		skip();
	static const double p[] = { 1e-2 };
	struct bo_sweep_config cfg = base_config(p, 1);
	cfg.ci_target = 0.5; /* met at once */
	cfg.min_trials = 3;
	cfg.max_trials = 10;
	struct bo_sweeper *sw = NULL;
	struct bo_sweep_result r;
	struct bo_error err;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	assert_int_equal(bo_sweep_run(sw, NULL, NULL, NULL, &r, &err), BO_OK);
	assert_int_equal(r.points[0].trials, 3);
	assert_true((r.points[0].summary.ci_hi - r.points[0].summary.ci_lo) / 2 <= 0.5);
	bo_sweep_result_release(&r);
	bo_sweeper_free(sw);
	cfg.ci_target = 1e-9; /* never met */
	cfg.max_trials = 4;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	assert_int_equal(bo_sweep_run(sw, NULL, NULL, NULL, &r, &err), BO_OK);
	assert_int_equal(r.points[0].trials, 4);
	assert_int_equal(r.points[0].images, 4 * 96);
	bo_sweep_result_release(&r);
	bo_sweeper_free(sw);
}

static int cancel_after_two(void *ctx, const struct bo_progress *pr)
{
	int *calls = ctx;
	(void)pr;
	return ++*calls >= 2;
}

static void test_cancel_and_errors(void **state)
{
	(void)state;
	if (!data)
		skip();
	static const double p[] = { 1e-3 };
	static const double bad[] = { 1.5 };
	struct bo_sweep_config cfg = base_config(p, 1);
	struct bo_sweeper *sw = NULL;
	struct bo_sweep_result r;
	struct bo_error err;
	int calls = 0;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	assert_int_equal(bo_sweep_run(sw, NULL, cancel_after_two, &calls, &r, &err), BO_ECANCELLED);
	assert_int_equal(calls, 2);
	bo_sweeper_free(sw);
	cfg.p = bad;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_EINVAL);
	assert_non_null(strstr(err.text, "1.5"));
	cfg.p = p;
	cfg.bits = 1;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_EINVAL);
	assert_string_equal(err.field, "bits");
}

static int64_t trial_at(struct bo_sweep_config c, int trial)
{
	struct bo_sweeper *sw = NULL;
	struct bo_error err;
	int64_t correct = -1;
	assert_int_equal(bo_sweeper_new(model, data, &c, &sw, &err), BO_OK);
	assert_int_equal(bo_sweeper_trial(sw, 0, trial, &correct, NULL, NULL, &err), BO_OK);
	bo_sweeper_free(sw);
	return correct;
}

static void test_designs(void **state)
{
	(void)state;
	if (!data)
		skip();
	static const double p[] = { 2e-2 };
	struct bo_sweep_config cfg = base_config(p, 1);
	struct bo_sweeper *sw = NULL;
	struct bo_sweep_result r, r2;
	struct bo_error err;
	int64_t a[3], b[3], c[3];
	/* n < N: independent of batch and threads */
	cfg.images_per_trial = 40;
	trials_correct(&cfg, a, 3);
	cfg.batch = 7;
	trials_correct(&cfg, b, 3);
	cfg.batch = 64;
	cfg.threads = 2;
	trials_correct(&cfg, c, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(a[i], b[i]);
		assert_int_equal(a[i], c[i]);
		assert_true(a[i] >= 0 && a[i] <= 40);
	}
	/* n = N is the paper's design */
	cfg = base_config(p, 1);
	trials_correct(&cfg, a, 2);
	cfg.images_per_trial = 96;
	trials_correct(&cfg, b, 2);
	assert_int_equal(a[0], b[0]);
	assert_int_equal(a[1], b[1]);
	/* activation faults keyed by the image's index: a one-image trial sees
	 * image j = bo_subset_draw's pick and classifies it exactly as trial t
	 * of the full design does (count over 0..j minus count over 0..j-1) */
	{
		static const double pa[] = { 0.1 };
		int64_t scratch[96], j;
		int flipped = 0;
		cfg = base_config(pa, 1);
		cfg.target = BO_TARGET_ACTIVATIONS;
		for (int t = 0; t < 6; t++) {
			cfg.limit = 96;
			cfg.images_per_trial = 1;
			int64_t one = trial_at(cfg, t);
			bo_subset_draw(cfg.seed, pa[0], t, 1, 96, scratch, &j);
			cfg.images_per_trial = 0;
			cfg.limit = j + 1;
			int64_t upto = trial_at(cfg, t), before = 0;
			if (j > 0) {
				cfg.limit = j;
				before = trial_at(cfg, t);
			}
			assert_int_equal(one, upto - before);
			/* and the faults decide: the clean network is right on
			 * most of these images, this p breaks some */
			flipped += one == 0;
		}
		assert_true(flipped > 0);
	}
	/* auto: the chosen n is recorded, and a fixed run at it reproduces
	 * the point */
	cfg = base_config(p, 1);
	cfg.images_per_trial = BO_IMAGES_AUTO;
	cfg.trials = 4;
	cfg.min_trials = 2;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	int64_t dummy;
	assert_int_equal(bo_sweeper_trial(sw, 0, 0, &dummy, NULL, NULL, &err), BO_EINVAL);
	assert_string_equal(err.field, "images_per_trial");
	assert_int_equal(bo_sweep_run(sw, NULL, NULL, NULL, &r, &err), BO_OK);
	bo_sweeper_free(sw);
	const struct bo_point_result *pr = &r.points[0];
	assert_int_equal(pr->pilot_trials, 2);
	assert_int_equal(pr->pilot_images_per_trial, 96);
	assert_true(pr->images_per_trial >= 32 && pr->images_per_trial <= 96);
	assert_true(pr->cost_image > 0 && pr->cost_trial > 0);
	assert_int_equal(pr->trials, 4);
	cfg.images_per_trial = pr->images_per_trial;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	assert_int_equal(bo_sweep_run(sw, NULL, NULL, NULL, &r2, &err), BO_OK);
	bo_sweeper_free(sw);
	assert_int_equal(r2.points[0].trials, 4);
	assert_memory_equal(r2.points[0].accuracy, pr->accuracy, 4 * sizeof(double));
	assert_true(r2.points[0].q50 == pr->q50 && r2.points[0].yield == pr->yield);
	/* the yield's floor: clean - 0.01 by default */
	assert_true(r.accuracy_floor == r.clean_accuracy - 0.01);
	assert_int_equal(r.eval_images, 96);
	bo_sweep_result_release(&r);
	bo_sweep_result_release(&r2);
	/* errors name the field */
	cfg.images_per_trial = 97;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_EINVAL);
	assert_string_equal(err.field, "images_per_trial");
	assert_non_null(strstr(err.text, "97"));
	cfg.images_per_trial = -2;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_EINVAL);
	assert_string_equal(err.field, "images_per_trial");
	cfg.images_per_trial = 0;
	cfg.accuracy_floor = 1.5;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_EINVAL);
	assert_string_equal(err.field, "accuracy_floor");
}

/* An in-memory journal of one point's trials. */
struct mem_journal {
	int n;
	int64_t correct[64], images[64];
	int recorded;
};

static int mj_known(void *ctx, double p, int trial, int64_t *correct, int64_t *images)
{
	struct mem_journal *j = ctx;
	(void)p;
	if (trial < 0 || trial >= j->n || !j->images[trial])
		return 0;
	*correct = j->correct[trial];
	*images = j->images[trial];
	return 1;
}

static bo_status mj_record(void *ctx, double p, int trial, int64_t correct, int64_t images,
			   struct bo_error *err)
{
	struct mem_journal *j = ctx;
	(void)p;
	(void)err;
	if (trial >= 0 && trial < 64) {
		j->correct[trial] = correct;
		j->images[trial] = images;
		j->n = trial + 1 > j->n ? trial + 1 : j->n;
		j->recorded++;
	}
	return BO_OK;
}

/* auto with a journal: every trial of the point is recorded at its n (also
 * those the pilot measured, when n = n0), and a resumed run takes n from
 * the journal instead of a new pilot, whose timings could choose another
 * n: the resumed result is the uninterrupted one. */
static void test_auto_journal_resume(void **state)
{
	(void)state;
	if (!data)
		skip();
	static const double p[] = { 2e-2 };
	struct bo_sweep_config cfg = base_config(p, 1);
	struct mem_journal mj = { 0 };
	struct bo_trial_journal hook = { mj_known, mj_record, &mj };
	struct bo_sweeper *sw = NULL;
	struct bo_sweep_result r, r2;
	struct bo_error err;
	cfg.images_per_trial = BO_IMAGES_AUTO;
	cfg.trials = 4;
	cfg.min_trials = 2;
	cfg.journal = &hook;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	assert_int_equal(bo_sweep_run(sw, NULL, NULL, NULL, &r, &err), BO_OK);
	bo_sweeper_free(sw);
	int64_t n = r.points[0].images_per_trial;
	assert_int_equal(r.points[0].pilot_trials, 2);
	assert_int_equal(mj.n, 4);
	for (int t = 0; t < 4; t++) {
		assert_int_equal(mj.images[t], n);
		assert_true(r.points[0].accuracy[t] == (double)mj.correct[t] / (double)n);
	}
	/* interrupted after 2 trials: resume */
	mj.n = 2;
	mj.images[2] = mj.images[3] = 0;
	mj.recorded = 0;
	assert_int_equal(bo_sweeper_new(model, data, &cfg, &sw, &err), BO_OK);
	assert_int_equal(bo_sweep_run(sw, NULL, NULL, NULL, &r2, &err), BO_OK);
	bo_sweeper_free(sw);
	assert_int_equal(r2.points[0].pilot_trials, 0); /* n from the journal */
	assert_int_equal(r2.points[0].images_per_trial, n);
	assert_int_equal(mj.recorded, 2);               /* only trials 2 and 3 ran */
	assert_memory_equal(r2.points[0].accuracy, r.points[0].accuracy, 4 * sizeof(double));
	bo_sweep_result_release(&r);
	bo_sweep_result_release(&r2);
}

/* Hooked activations run a few images at a time (lib/session.c,
 * run_act_grouped), each group faulted while in cache. A hook that faults
 * each image from its own stream, as the sweeper's does, must see exactly
 * what it saw when the whole slice ran first: the same values, each image
 * once, at its own index. Compared here against the ungrouped path (group
 * 0) and one image per group, at several batches, threads and p: every
 * site tensor after its faults (a hash per site and image) and the
 * logits, bit for bit. */
#define GH_IMAGES 48
#define GH_SITES 64

struct group_hook {
	enum bo_deviation dev;
	double p;
	uint64_t hash[GH_SITES][GH_IMAGES];
	int64_t calls, max_n; /* hook calls, the most images in one */
};

static uint64_t fnv1a(const float *x, int64_t n)
{
	uint64_t h = 1469598103934665603u;
	const unsigned char *b = (const unsigned char *)x;
	for (int64_t i = 0; i < n * 4; i++)
		h = (h ^ b[i]) * 1099511628211u;
	return h;
}

static bo_status group_hook_fn(void *ctx, const struct bo_site *site, float *d, int64_t n,
			       int64_t first)
{
	struct group_hook *g = ctx;
	struct bo_stored st = { 6.f / 255.f, 8, site->is_unsigned };
	if (site->index >= GH_SITES || first < 0 || first + n > GH_IMAGES)
		return BO_EINVAL;
	for (int64_t i = 0; i < n; i++) {
		float *x = d + i * site->sample_numel;
		struct bo_rng rng;
		bo_rng_init(&rng, 5, bo_rng_point(g->p), 0, (uint32_t)site->index,
			    (uint64_t)(first + i));
		if (g->p > 0)
			bo_inject(g->dev, g->p, &st, x, site->sample_numel, &rng, NULL);
		g->hash[site->index][first + i] = fnv1a(x, site->sample_numel);
	}
	g->calls++;
	g->max_n = n > g->max_n ? n : g->max_n;
	return BO_OK;
}

/* logits[GH_IMAGES * 10]; group: Bo_session_set_act_group's (< 0 the
 * sweeper's default, 0 none, 1 one image per group) */
static void run_grouped(const float *x, int batch, int threads, int64_t group,
			struct group_hook *g, float *logits)
{
	struct bo_session_config sc = { .threads = threads };
	struct bo_session *s = NULL;
	struct bo_error err;
	assert_int_equal(bo_session_new(model, &sc, &s, &err), BO_OK);
	assert_int_equal(bo_session_set_hook(s, BO_SITES_ACTIVATIONS, group_hook_fn, g), BO_OK);
	Bo_session_set_act_group(s, group);
	memset(g->hash, 0, sizeof(g->hash));
	g->calls = g->max_n = 0;
	for (int first = 0; first < GH_IMAGES; first += batch) {
		int b = GH_IMAGES - first < batch ? GH_IMAGES - first : batch;
		struct bo_tensor in = { 4, { b, 1, 28, 28 }, (float *)x + first * 784 }, out;
		bo_session_set_image_base(s, first);
		assert_int_equal(bo_session_run(s, &in, 1, &out, 1, &err), BO_OK);
		assert_int_equal(bo_tensor_numel(&out), b * 10);
		memcpy(logits + first * 10, out.data, (size_t)b * 10 * sizeof(float));
	}
	bo_session_free(s);
}

static void test_grouped_activation_faults(void **state)
{
	(void)state;
	if (!data)
		skip();
	static float x[GH_IMAGES * 784], clean[GH_IMAGES * 10], ref[GH_IMAGES * 10],
		got[GH_IMAGES * 10];
	static int labels[GH_IMAGES];
	static struct group_hook g0, g1;
	struct bo_norm norm = { 1, { 0.2860f }, { 0.3530f } };
	struct bo_error err;
	assert_int_equal(bo_dataset_batch(data, 0, GH_IMAGES, &norm, x, labels, &err), BO_OK);
	static const struct {
		int batch, threads;
	} runs[] = { { 48, 1 }, { 13, 1 }, { 48, 2 }, { 7, 2 } };
	static const double ps[] = { 0, 1e-3, 1e-2, 5e-2 };
	g0.dev = BO_DEV_BM;
	g0.p = 0;
	run_grouped(x, 48, 1, 0, &g0, clean);
	for (int r = 0; r < 4; r++)
		for (int k = 0; k < 4; k++) {
			g0.dev = g1.dev = k == 3 && r == 1 ? BO_DEV_ERASURE : BO_DEV_BM;
			g0.p = g1.p = ps[k];
			run_grouped(x, runs[r].batch, runs[r].threads, 0, &g0, ref);
			/* ungrouped: some hook call saw a whole slice */
			assert_true(g0.max_n > 1);
			for (int64_t group = -1; group <= 1; group += 2) {
				run_grouped(x, runs[r].batch, runs[r].threads, group, &g1, got);
				assert_memory_equal(got, ref, sizeof(ref));
				assert_memory_equal(g1.hash, g0.hash, sizeof(g0.hash));
				if (group == 1) { /* one image per call: every site grouped */
					assert_int_equal(g1.max_n, 1);
					assert_true(g1.calls > g0.calls);
				}
			}
			/* the faults change the logits (and p = 0 is the clean run) */
			if (ps[k] >= 1e-2)
				assert_true(memcmp(ref, clean, sizeof(ref)) != 0);
			if (ps[k] == 0 && runs[r].batch == 48 && runs[r].threads == 1)
				assert_memory_equal(ref, clean, sizeof(ref));
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reproducible_across_batch_and_threads),
		cmocka_unit_test(test_point_keyed_by_value),
		cmocka_unit_test(test_clean_point_and_restore),
		cmocka_unit_test(test_reference_eval),
		cmocka_unit_test(test_energy_and_block_policy),
		cmocka_unit_test(test_adaptive_trials),
		cmocka_unit_test(test_cancel_and_errors),
		cmocka_unit_test(test_designs),
		cmocka_unit_test(test_auto_journal_resume),
		cmocka_unit_test(test_grouped_activation_faults),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
