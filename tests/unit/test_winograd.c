/* Winograd F(2x2,3x3) convolution (lib/winograd.c) against im2col and a
 * naive reference.
 *
 * Single-Conv models are built in memory with common_onnx.c. Each is run
 * with bo_session_config.conv_algo = 1 (im2col only) and 2 (Winograd
 * wherever applicable); both must agree with a double-precision direct
 * convolution written here from the ONNX spec, and with each other, within
 * 1e-4 x max|output|. The cases cover odd and tiny sizes, pads 0/1/2 and
 * asymmetric pads, channel counts that are not multiples of the kernels'
 * vector widths, batch 1 and 3, with and without bias, and chunk
 * boundaries that fall inside an image and inside a tile row. Private
 * headers check that the cases really take the Winograd path, and that
 * swapping a weight with bo_session_set_weight (also in place behind the
 * same pointer) changes the result: the transformed-weight cache is
 * invalidated. */
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

#include <brownout/brownout.h>

#include "common_onnx.h"
#include "plan.h"     /* private: to check which kernel a Conv takes */
#include "winograd.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;

/* uniform in [-1, 1) */
static float frand(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (float)((double)(g_rng >> 11) / (double)(1ULL << 53) * 2.0 - 1.0);
}

static float *rnd(int64_t n)
{
	float *p = malloc((size_t)(n ? n : 1) * sizeof(float));
	assert_non_null(p);
	for (int64_t i = 0; i < n; i++)
		p[i] = frand();
	return p;
}

struct cfg {
	int64_t N, C, M, H, W;
	int64_t pt, pl, pb, pr; /* pads: top, left, bottom, right */
	int bias;
	int64_t k, stride, dil, group; /* 0: 3, 1, 1, 1 */
};

/* output size of the 3x3 stride-1 cases */
static int64_t out_h(const struct cfg *c)
{
	return c->H + c->pt + c->pb - 2;
}

static int64_t out_w(const struct cfg *c)
{
	return c->W + c->pl + c->pr - 2;
}

/* A model with one Conv y = Conv(x, w[, b]); w and b are copied in. */
static struct bo_model *conv_model(const struct cfg *c, const float *w, const float *b)
{
	struct tb_model *tb = tb_new();
	int64_t k = c->k ? c->k : 3, g = c->group ? c->group : 1;
	int64_t xd[4] = { -1, c->C, c->H, c->W }, wd[4] = { c->M, c->C / g, k, k };
	int64_t bd[1] = { c->M };
	tb_input(tb, "x", 4, xd);
	tb_init_f(tb, "w", 4, wd, w);
	if (c->bias)
		tb_init_f(tb, "b", 1, bd, b);
	Onnx__NodeProto *n = tb_node(tb, "Conv", "conv", c->bias ? "x,w,b" : "x,w", "y");
	int64_t pads[4] = { c->pt, c->pl, c->pb, c->pr };
	int64_t ks[2] = { k, k };
	int64_t st[2] = { c->stride ? c->stride : 1, c->stride ? c->stride : 1 };
	int64_t dl[2] = { c->dil ? c->dil : 1, c->dil ? c->dil : 1 };
	tb_attr_ints(tb, n, "kernel_shape", 2, ks);
	tb_attr_ints(tb, n, "pads", 4, pads);
	tb_attr_ints(tb, n, "strides", 2, st);
	tb_attr_ints(tb, n, "dilations", 2, dl);
	tb_attr_int(tb, n, "group", g);
	tb_output(tb, "y");
	struct bo_model *m = tb_load_free(tb);
	assert_non_null(m);
	return m;
}

/* Direct 3x3 stride-1 convolution in double. */
static void reference(const struct cfg *c, const float *x, const float *w, const float *b,
		      float *y)
{
	int64_t OH = out_h(c), OW = out_w(c);
	for (int64_t n = 0; n < c->N; n++)
		for (int64_t m = 0; m < c->M; m++)
			for (int64_t oh = 0; oh < OH; oh++)
				for (int64_t ow = 0; ow < OW; ow++) {
					double acc = b ? b[m] : 0.0;
					for (int64_t ci = 0; ci < c->C; ci++)
						for (int64_t i = 0; i < 3; i++)
							for (int64_t j = 0; j < 3; j++) {
								int64_t ih = oh - c->pt + i, iw = ow - c->pl + j;
								if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
									continue;
								acc += (double)x[((n * c->C + ci) * c->H + ih) * c->W + iw] *
								       w[((m * c->C + ci) * 3 + i) * 3 + j];
							}
					y[((n * c->M + m) * OH + oh) * OW + ow] = (float)acc;
				}
}

static float max_abs(const float *a, int64_t n)
{
	float mx = 0.f;
	for (int64_t i = 0; i < n; i++)
		mx = fabsf(a[i]) > mx ? fabsf(a[i]) : mx;
	return mx;
}

/* |got - want| <= 1e-4 max|want| (+ a floor for all-zero outputs) */
static void expect_close(const float *got, const float *want, int64_t n, const char *what)
{
	float tol = 1e-4f * max_abs(want, n) + 1e-6f;
	for (int64_t i = 0; i < n; i++)
		if (!(fabsf(got[i] - want[i]) <= tol)) {
			fail_msg("%s: element %lld is %g, expected %g (tol %g)", what, (long long)i,
				 (double)got[i], (double)want[i], (double)tol);
		}
}

/* Run model m on x with the given algorithm and threads; copy out y. */
static void run(struct bo_model *m, const struct cfg *c, int algo, int threads,
		const float *x, float *y, int widx, const float *wdata)
{
	struct bo_session_config sc = { .threads = threads, .conv_algo = algo };
	struct bo_session *s = NULL;
	struct bo_error err;
	assert_int_equal(bo_session_new(m, &sc, &s, &err), BO_OK);
	if (widx >= 0)
		assert_int_equal(bo_session_set_weight(s, widx, wdata), BO_OK);
	struct bo_tensor in = { 4, { c->N, c->C, c->H, c->W }, (float *)x }, out;
	bo_status rc = bo_session_run(s, &in, 1, &out, 1, &err);
	if (rc)
		fprintf(stderr, "run: %s\n", err.text);
	assert_int_equal(rc, BO_OK);
	int64_t n = bo_tensor_numel(&out);
	assert_int_equal(n, c->N * c->M * out_h(c) * out_w(c));
	memcpy(y, out.data, (size_t)n * sizeof(float));
	bo_session_free(s);
}

/* The plan of model m for batch N, with a cache so Bo_wino_use answers. */
struct planned {
	struct bo_plan p;
	struct bo_wino_cache *cache;
	int conv;
};

static void plan_for(struct bo_model *m, const struct cfg *c, int algo, struct planned *pl)
{
	struct bo_shape in = { 4, { c->N, c->C, c->H, c->W } };
	struct bo_error err;
	assert_int_equal(Bo_plan_build(m, &in, 0, &pl->p, &err), BO_OK);
	pl->cache = Bo_wino_cache_new(m);
	assert_non_null(pl->cache);
	pl->p.wcache = pl->cache;
	pl->p.conv_algo = algo;
	pl->conv = -1;
	for (int i = 0; i < m->n_nodes; i++)
		if (m->nodes[i].op == OP_CONV)
			pl->conv = i;
	assert_true(pl->conv >= 0);
}

static void plan_done(struct planned *pl)
{
	Bo_wino_cache_free(pl->cache);
	Bo_plan_release(&pl->p);
}

static void check_case(const struct cfg *c, int threads)
{
	int64_t nx = c->N * c->C * c->H * c->W, nw = c->M * c->C * 9;
	int64_t ny = c->N * c->M * out_h(c) * out_w(c);
	float *x = rnd(nx), *w = rnd(nw), *b = c->bias ? rnd(c->M) : NULL;
	float *want = calloc((size_t)ny, sizeof(float)), *y1 = calloc((size_t)ny, sizeof(float));
	float *y2 = calloc((size_t)ny, sizeof(float));
	assert_true(want && y1 && y2);
	struct bo_model *m = conv_model(c, w, b);
	struct planned pl;
	plan_for(m, c, 2, &pl);
	assert_true(Bo_wino_applicable(&pl.p, pl.conv));
	assert_true(Bo_wino_use(&pl.p, pl.conv));
	assert_true(Bo_wino_scratch_floats(&pl.p, pl.conv) <= pl.p.scratch_floats);
	pl.p.conv_algo = 1;
	assert_false(Bo_wino_use(&pl.p, pl.conv));
	plan_done(&pl);

	char what[160];
	snprintf(what, sizeof(what), "N%lld C%lld M%lld %lldx%lld pads %lld,%lld,%lld,%lld%s t%d",
		 (long long)c->N, (long long)c->C, (long long)c->M, (long long)c->H,
		 (long long)c->W, (long long)c->pt, (long long)c->pl, (long long)c->pb,
		 (long long)c->pr, c->bias ? " bias" : "", threads);
	reference(c, x, w, b, want);
	run(m, c, 1, threads, x, y1, -1, NULL);
	expect_close(y1, want, ny, what);
	run(m, c, 2, threads, x, y2, -1, NULL);
	expect_close(y2, want, ny, what);
	expect_close(y2, y1, ny, what);
	bo_model_free(m);
	free(x);
	free(w);
	free(b);
	free(want);
	free(y1);
	free(y2);
}

static const struct cfg cases[] = {
	{ 1, 1, 1, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0 },     /* a single output */
	{ 1, 4, 4, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0 },     /* 1x1 input, pads only */
	{ 1, 3, 5, 5, 5, 1, 1, 1, 1, 1, 0, 0, 0, 0 },
	{ 3, 4, 6, 7, 9, 1, 1, 1, 1, 1, 0, 0, 0, 0 },     /* odd sizes */
	{ 3, 5, 3, 8, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0 },     /* no pads */
	{ 1, 8, 8, 6, 11, 2, 2, 2, 2, 1, 0, 0, 0, 0 },    /* pads 2 */
	{ 3, 2, 7, 5, 4, 2, 1, 0, 2, 1, 0, 0, 0, 0 },     /* asymmetric pads */
	{ 1, 4, 4, 3, 5, 0, 2, 0, 0, 1, 0, 0, 0, 0 },
	{ 2, 3, 16, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0 },    /* more pad than input */
	{ 1, 17, 33, 4, 4, 1, 1, 1, 1, 1, 0, 0, 0, 0 },   /* C, M not multiples of 4, 8 */
	{ 3, 64, 64, 8, 8, 1, 1, 1, 1, 1, 0, 0, 0, 0 },
	{ 3, 8, 8, 37, 37, 1, 1, 1, 1, 1, 0, 0, 0, 0 },   /* a chunk ends inside image 2 */
	{ 3, 160, 24, 23, 23, 1, 1, 1, 1, 0, 0, 0, 0, 0 }, /* chunks end inside tile rows */
	{ 1, 12, 20, 31, 30, 1, 0, 1, 2, 1, 0, 0, 0, 0 },
};

static void test_random_convs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i], 1);
}

static void test_two_threads(void **state)
{
	(void)state;
	static const struct cfg c2[] = {
		{ 3, 16, 16, 9, 9, 1, 1, 1, 1, 1, 0, 0, 0, 0 },
		{ 5, 32, 24, 6, 7, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(c2) / sizeof(c2[0]); i++)
		check_case(&c2[i], 2);
}

/* Convs Winograd does not handle, and the "auto" choice. */
static void test_applicability(void **state)
{
	(void)state;
	static const struct {
		struct cfg c;
		int applicable;
	} t[] = {
		{ { 1, 8, 8, 8, 8, 1, 1, 1, 1, 0, 3, 2, 1, 1 }, 0 }, /* stride 2 */
		{ { 1, 8, 8, 9, 9, 2, 2, 2, 2, 0, 3, 1, 2, 1 }, 0 }, /* dilation 2 */
		{ { 1, 8, 8, 8, 8, 1, 1, 1, 1, 0, 3, 1, 1, 2 }, 0 }, /* group 2 */
		{ { 1, 8, 8, 8, 8, 2, 2, 2, 2, 0, 5, 1, 1, 1 }, 0 }, /* 5x5 */
		{ { 1, 8, 8, 8, 8, 0, 0, 0, 0, 0, 1, 1, 1, 1 }, 0 }, /* 1x1 */
		{ { 1, 8, 8, 8, 8, 1, 1, 1, 1, 0, 3, 1, 1, 1 }, 1 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct cfg *c = &t[i].c;
		int64_t k = c->k, g = c->group;
		float *w = rnd(c->M * (c->C / g) * k * k);
		struct bo_model *m = conv_model(c, w, NULL);
		struct planned pl;
		plan_for(m, c, 2, &pl);
		assert_int_equal(Bo_wino_applicable(&pl.p, pl.conv), t[i].applicable);
		assert_int_equal(Bo_wino_use(&pl.p, pl.conv), t[i].applicable);
		/* without a cache (plans outside sessions) never */
		pl.p.wcache = NULL;
		assert_false(Bo_wino_use(&pl.p, pl.conv));
		plan_done(&pl);
		bo_model_free(m);
		free(w);
	}
	/* auto: the RGB stem (C = 3) stays on im2col, a 64-channel layer does not */
	static const struct cfg stem = { 64, 3, 64, 32, 32, 1, 1, 1, 1, 0, 0, 0, 0, 0 };
	static const struct cfg body = { 64, 64, 64, 32, 32, 1, 1, 1, 1, 0, 0, 0, 0, 0 };
	const struct cfg *ab[2] = { &stem, &body };
	for (int i = 0; i < 2; i++) {
		float *w = rnd(ab[i]->M * ab[i]->C * 9);
		struct bo_model *m = conv_model(ab[i], w, NULL);
		struct planned pl;
		plan_for(m, ab[i], 0, &pl);
		assert_true(Bo_wino_applicable(&pl.p, pl.conv));
		assert_int_equal(Bo_wino_use(&pl.p, pl.conv), i == 1);
		plan_done(&pl);
		bo_model_free(m);
		free(w);
	}
}

static int weight_index(const struct bo_model *m, const char *name)
{
	for (int i = 0; i < bo_model_n_weights(m); i++) {
		struct bo_weight_info info;
		bo_model_weight(m, i, &info);
		if (!strcmp(info.name, name))
			return i;
	}
	return -1;
}

/* Swapping a weight between runs of one session must change the result:
 * a new pointer, new values behind the same pointer (announced with
 * bo_session_set_weight), and back to the clean copy. */
static void check_set_weight(int threads)
{
	static const struct cfg c = { 3, 8, 8, 6, 7, 1, 1, 1, 1, 1, 0, 0, 0, 0 };
	int64_t nx = c.N * c.C * c.H * c.W, nw = c.M * c.C * 9;
	int64_t ny = c.N * c.M * out_h(&c) * out_w(&c);
	float *x = rnd(nx), *w = rnd(nw), *b = rnd(c.M), *w2 = rnd(nw);
	float *want = calloc((size_t)ny, sizeof(float)), *y = calloc((size_t)ny, sizeof(float));
	assert_true(want && y);
	struct bo_model *m = conv_model(&c, w, b);
	int wi = weight_index(m, "w");
	assert_true(wi >= 0);
	struct bo_session_config sc = { .threads = threads, .conv_algo = 2 };
	struct bo_session *s = NULL;
	struct bo_error err;
	assert_int_equal(bo_session_new(m, &sc, &s, &err), BO_OK);
	struct bo_tensor in = { 4, { c.N, c.C, c.H, c.W }, x }, out;

	for (int step = 0; step < 4; step++) {
		const float *wnow = w;
		if (step == 1) { /* another buffer */
			assert_int_equal(bo_session_set_weight(s, wi, w2), BO_OK);
			wnow = w2;
		} else if (step == 2) { /* new values, same pointer */
			for (int64_t i = 0; i < nw; i++)
				w2[i] = -0.5f * w2[i] + 0.25f;
			assert_int_equal(bo_session_set_weight(s, wi, w2), BO_OK);
			wnow = w2;
		} else if (step == 3) { /* the clean copy */
			assert_int_equal(bo_session_set_weight(s, wi, NULL), BO_OK);
		}
		assert_int_equal(bo_session_run(s, &in, 1, &out, 1, &err), BO_OK);
		assert_int_equal(bo_tensor_numel(&out), ny);
		reference(&c, x, wnow, b, want);
		char what[64];
		snprintf(what, sizeof(what), "set_weight step %d, %d threads", step, threads);
		/* the previous step's result is far from this one's */
		if (step > 0) {
			float d = 0.f;
			for (int64_t i = 0; i < ny; i++)
				d = fmaxf(d, fabsf(y[i] - want[i]));
			assert_true(d > 1e-2f * max_abs(want, ny));
		}
		expect_close(out.data, want, ny, what);
		memcpy(y, out.data, (size_t)ny * sizeof(float));
	}
	bo_session_free(s);
	bo_model_free(m);
	free(x);
	free(w);
	free(b);
	free(w2);
	free(want);
	free(y);
}

static void test_set_weight_invalidates(void **state)
{
	(void)state;
	check_set_weight(1);
	check_set_weight(2);
}

static void test_bad_conv_algo(void **state)
{
	(void)state;
	static const struct cfg c = { 1, 4, 4, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 0 };
	float *w = rnd(c.M * c.C * 9);
	struct bo_model *m = conv_model(&c, w, NULL);
	for (int algo = -1; algo <= 3; algo++) {
		struct bo_session_config sc = { .threads = 1, .conv_algo = algo };
		struct bo_session *s = NULL;
		struct bo_error err;
		bo_status rc = bo_session_new(m, &sc, &s, &err);
		if (algo >= 0 && algo <= 2) {
			assert_int_equal(rc, BO_OK);
			bo_session_free(s);
		} else {
			assert_int_equal(rc, BO_EINVAL);
			assert_null(s);
		}
	}
	bo_model_free(m);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_convs),
		cmocka_unit_test(test_two_threads),
		cmocka_unit_test(test_applicability),
		cmocka_unit_test(test_set_weight_invalidates),
		cmocka_unit_test(test_bad_conv_algo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
