/* Conv + Relu/Clip fusion (plan.h, session.c) through a whole session.
 *
 * One graph, x -> Conv 1x1 (300 channels: the GEMM runs in several column
 * blocks) -> Clip(0, 6) -> depthwise Conv 3x3 -> Relu -> y, loaded twice:
 * A outputs y alone, so both Convs run fused; B also outputs the Convs'
 * outputs, which forbids fusion. Asserted: the 1x1 Conv's output (B) is
 * within rounding of a double reference (the column blocks cover every
 * column once); y is bit-identical in A and B, also with NaN in the input;
 * an activation hook (fault injection's: it sees and changes the Clip and
 * Relu outputs) sees bit-identical tensors in A and B, and its changes
 * reach y identically; and with threads 2 the same holds.
 *
 * SiLU (x * Sigmoid(x), PyTorch's export) fused into the Conv before it
 * or run as one pass (test_silu): x -> Conv 1x1 -> SiLU (Mul(c, s): in
 * place, fused into the GEMM's blocks) -> depthwise 3x3 -> SiLU written
 * Mul(s, d) (not in place over the Conv: one pass into the Sigmoid's
 * storage) -> SiLU again (Mul(x, s) in place over its input, no Conv
 * before) -> depthwise 3x3 -> SiLU (fused per plane) -> y. Model A
 * outputs y; model B also outputs every Sigmoid, which forbids every
 * fusion. Asserted: y bit-identical in A and B (NaN and +-inf in the
 * input; a NaN may come out as another NaN), with and without a hook on the SiLU outputs (which sees the
 * same bytes and whose changes reach y alike), threads 1 and 2; and in A
 * the fusion really ran: the profile counts every Sigmoid and Mul call
 * but times none of the Muls (B times them).
 *
 * Add + Relu (test_add_relu, ResNet's residual): x -> Conv 1x1 -> c,
 * Add(c, x) -> s, Relu(s) -> y. A outputs y (the Relu runs inside the
 * Add, a chunk at a time), B also outputs s (no fusion). Asserted: y
 * bit-identical in A and B (NaN, -0 and -inf in the input), with and
 * without the hook (which sees the same bytes), threads 1 and 2; and in A
 * the fusion ran: the profile counts the Relu calls but times none. */
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

#define NB 2
#define C0 2
#define M 300
#define H 40
#define W 40

static uint64_t g_rng = 0x243f6a8885a308d3ULL;

static float frand(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (float)((double)(g_rng >> 11) / (double)(1ULL << 53) * 2.0 - 1.0);
}

static float w1[M * C0], b1[M], w2[M * 9], b2[M];

static struct bo_model *load(int with_inner_outputs)
{
	struct tb_model *tb = tb_new();
	int64_t xd[4] = { -1, C0, H, W }, w1d[4] = { M, C0, 1, 1 }, w2d[4] = { M, 1, 3, 3 };
	int64_t bd[1] = { M }, sd[1] = { 0 };
	float lo = 0.f, hi = 6.f;
	tb_input(tb, "x", 4, xd);
	tb_init_f(tb, "w1", 4, w1d, w1);
	tb_init_f(tb, "b1", 1, bd, b1);
	tb_init_f(tb, "w2", 4, w2d, w2);
	tb_init_f(tb, "b2", 1, bd, b2);
	tb_init_f(tb, "lo", 0, sd, &lo);
	tb_init_f(tb, "hi", 0, sd, &hi);
	tb_node(tb, "Conv", "pw", "x,w1,b1", "c");
	tb_node(tb, "Clip", "clip", "c,lo,hi", "r");
	Onnx__NodeProto *dw = tb_node(tb, "Conv", "dw", "r,w2,b2", "d");
	int64_t pads[4] = { 1, 1, 1, 1 };
	tb_attr_ints(tb, dw, "pads", 4, pads);
	tb_attr_int(tb, dw, "group", M);
	tb_node(tb, "Relu", "relu", "d", "y");
	tb_output(tb, "y");
	if (with_inner_outputs) {
		tb_output(tb, "c");
		tb_output(tb, "d");
	}
	struct bo_model *m = tb_load_free(tb);
	assert_non_null(m);
	return m;
}

/* the hook: FNV-1a over the bytes it sees (and the site and first image),
 * XORed into the total so that slots may call it in any order, then a
 * "fault": negate every 97th value */
struct seen {
	uint64_t hash;
	int calls;
};

static bo_status hook(void *ctx, const struct bo_site *site, float *data, int64_t n_images,
		      int64_t first_image)
{
	struct seen *s = ctx;
	int64_t n = n_images * site->sample_numel;
	const unsigned char *p = (const unsigned char *)data;
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)site->index ^ ((uint64_t)first_image << 32);
	for (int64_t i = 0; i < n * 4; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	for (int64_t i = first_image % 97; i < n; i += 97)
		data[i] = -data[i];
	__atomic_fetch_xor(&s->hash, h, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->calls, 1, __ATOMIC_RELAXED);
	return BO_OK;
}

/* y of model m on x (copied into out), with or without the hook */
static void run(struct bo_model *m, int threads, const float *x, int hooked, float *out,
		float *c_out, struct seen *seen)
{
	struct bo_session_config cfg = { .threads = threads };
	struct bo_session *s = NULL;
	struct bo_error err;
	assert_int_equal(bo_session_new(m, &cfg, &s, &err), BO_OK);
	if (hooked)
		assert_int_equal(bo_session_set_hook(s, BO_SITES_ACTIVATIONS, hook, seen), BO_OK);
	struct bo_tensor in = { .rank = 4, .dims = { NB, C0, H, W }, .data = (float *)x };
	struct bo_tensor o[3];
	int no = c_out ? 3 : 1;
	assert_int_equal(bo_session_run(s, &in, 1, o, no, &err), BO_OK);
	assert_int_equal(o[0].dims[1], M);
	memcpy(out, o[0].data, sizeof(float) * NB * M * H * W);
	if (c_out)
		memcpy(c_out, o[1].data, sizeof(float) * NB * M * H * W);
	bo_session_free(s);
}

static void test_fused_equals_unfused(void **state)
{
	(void)state;
	for (int i = 0; i < M * C0; i++)
		w1[i] = frand() * 4.f;
	for (int i = 0; i < M * 9; i++)
		w2[i] = frand();
	for (int i = 0; i < M; i++)
		b1[i] = frand(), b2[i] = frand();
	size_t ny = (size_t)NB * M * H * W;
	float *x = malloc(sizeof(float) * NB * C0 * H * W);
	float *ya = malloc(ny * sizeof(float)), *yb = malloc(ny * sizeof(float));
	float *c = malloc(ny * sizeof(float));
	assert_true(x && ya && yb && c);
	for (int i = 0; i < NB * C0 * H * W; i++)
		x[i] = frand();
	x[7 * W + 9] = NAN; /* image 0, channel 0 */
	struct bo_model *ma = load(0), *mb = load(1);
	for (int threads = 1; threads <= 2; threads++)
		for (int hooked = 0; hooked <= 1; hooked++) {
			struct seen sa = { 0, 0 }, sb = sa;
			run(ma, threads, x, hooked, ya, NULL, &sa);
			run(mb, threads, x, hooked, yb, c, &sb);
			assert_memory_equal(ya, yb, ny * sizeof(float));
			assert_int_equal(sa.calls, sb.calls);
			assert_true(sa.hash == sb.hash);
			if (hooked)
				assert_true(sa.calls >= 2 * threads); /* Clip and Relu per slice */
		}
	/* the 1x1 Conv's output against a double reference (model B, unfused
	 * here, but the same column blocks) */
	int nan_seen = 0;
	for (int n = 0; n < NB; n++)
		for (int m = 0; m < M; m++)
			for (int p = 0; p < H * W; p++) {
				double acc = b1[m];
				for (int k = 0; k < C0; k++)
					acc += (double)w1[m * C0 + k] * x[(n * C0 + k) * H * W + p];
				float got = c[((size_t)n * M + m) * H * W + p];
				if (isnan(acc)) {
					assert_true(isnan(got));
					nan_seen++;
					continue;
				}
				assert_true(fabs(got - acc) <= 1e-5 * (1.0 + fabs(acc)));
			}
	assert_int_equal(nan_seen, M); /* one pixel, every output channel */
	bo_model_free(ma);
	bo_model_free(mb);
	free(x);
	free(ya);
	free(yb);
	free(c);
}

/* ---- SiLU ---- */

static float sw1[M * C0], sb1[M], sw2[M * 9], sb2[M], sw3[M * 9], sb3[M];

static struct bo_model *load_silu(int sigmoids_out)
{
	struct tb_model *tb = tb_new();
	int64_t xd[4] = { -1, C0, H, W }, w1d[4] = { M, C0, 1, 1 }, w2d[4] = { M, 1, 3, 3 };
	int64_t bd[1] = { M }, pads[4] = { 1, 1, 1, 1 };
	tb_input(tb, "x", 4, xd);
	tb_init_f(tb, "w1", 4, w1d, sw1);
	tb_init_f(tb, "b1", 1, bd, sb1);
	tb_init_f(tb, "w2", 4, w2d, sw2);
	tb_init_f(tb, "b2", 1, bd, sb2);
	tb_init_f(tb, "w3", 4, w2d, sw3);
	tb_init_f(tb, "b3", 1, bd, sb3);
	tb_node(tb, "Conv", "pw", "x,w1,b1", "c");
	tb_node(tb, "Sigmoid", "sig1", "c", "s1");
	tb_node(tb, "Mul", "mul1", "c,s1", "y1");
	Onnx__NodeProto *dw = tb_node(tb, "Conv", "dw", "y1,w2,b2", "d");
	tb_attr_ints(tb, dw, "pads", 4, pads);
	tb_attr_int(tb, dw, "group", M);
	tb_node(tb, "Sigmoid", "sig2", "d", "s2");
	tb_node(tb, "Mul", "mul2", "s2,d", "y2");
	tb_node(tb, "Sigmoid", "sig3", "y2", "s3");
	tb_node(tb, "Mul", "mul3", "y2,s3", "y3");
	Onnx__NodeProto *dw2 = tb_node(tb, "Conv", "dw2", "y3,w3,b3", "e");
	tb_attr_ints(tb, dw2, "pads", 4, pads);
	tb_attr_int(tb, dw2, "group", M);
	tb_node(tb, "Sigmoid", "sig4", "e", "s4");
	tb_node(tb, "Mul", "mul4", "e,s4", "y");
	tb_output(tb, "y");
	if (sigmoids_out) {
		tb_output(tb, "s1");
		tb_output(tb, "s2");
		tb_output(tb, "s3");
		tb_output(tb, "s4");
	}
	struct bo_model *m = tb_load_free(tb);
	assert_non_null(m);
	return m;
}

/* a and b bit for bit, except that a NaN may be any NaN: which one a
 * product of two NaNs gives depends on the order in which the compiler
 * put the operands of the Mul kernel's loop */
static int same_bits(const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&a[i], &b[i], sizeof(float)) && !(isnan(a[i]) && isnan(b[i])))
			return 0;
	return 1;
}

/* the hook of the first test, NaNs hashed as one, on the SiLU outputs (y1, y2, y3, y) only: in
 * model B the Sigmoids are read by the graph outputs too, which makes
 * them sites of their own */
static bo_status silu_hook(void *ctx, const struct bo_site *site, float *data, int64_t n_images,
			   int64_t first_image)
{
	if (site->name[0] != 'y')
		return BO_OK;
	int64_t n = n_images * site->sample_numel;
	float *nans = malloc((size_t)n * sizeof(float));
	if (!nans)
		return BO_ENOMEM;
	for (int64_t i = 0; i < n; i++) {
		nans[i] = isnan(data[i]) ? data[i] : 0.f;
		if (isnan(data[i]))
			data[i] = NAN;
	}
	/* B's sites count the Sigmoids too: index by name */
	struct bo_site named = *site;
	named.index = site->name[1] ? site->name[1] - '0' : 4;
	bo_status rc = hook(ctx, &named, data, n_images, first_image);
	for (int64_t i = 0; i < n; i++) /* the NaNs as they were */
		if (isnan(nans[i]))
			data[i] = nans[i];
	free(nans);
	return rc;
}

/* y of m on x; *mul_seconds, *sig_calls, *mul_calls from the profile */
static void run_silu(struct bo_model *m, int threads, const float *x, int hooked, float *out,
		     struct seen *seen, double *mul_seconds, int64_t *sig_calls, int64_t *mul_calls)
{
	struct bo_session_config cfg = { .threads = threads };
	struct bo_session *s = NULL;
	struct bo_error err;
	assert_int_equal(bo_session_new(m, &cfg, &s, &err), BO_OK);
	if (hooked)
		assert_int_equal(bo_session_set_hook(s, BO_SITES_ACTIVATIONS, silu_hook, seen),
				 BO_OK);
	bo_session_set_profiling(s, 1);
	struct bo_tensor in = { .rank = 4, .dims = { NB, C0, H, W }, .data = (float *)x };
	struct bo_tensor o[5];
	assert_int_equal(bo_session_run(s, &in, 1, o, 1, &err), BO_OK);
	assert_int_equal(o[0].dims[1], M);
	memcpy(out, o[0].data, sizeof(float) * NB * M * H * W);
	struct bo_op_profile prof[16];
	int np = bo_session_profile(s, prof, 16);
	*mul_seconds = -1.;
	*sig_calls = *mul_calls = 0;
	for (int i = 0; i < np && i < 16; i++) {
		if (!strcmp(prof[i].op, "Mul")) {
			*mul_seconds = prof[i].seconds;
			*mul_calls = prof[i].calls;
		} else if (!strcmp(prof[i].op, "Sigmoid")) {
			*sig_calls = prof[i].calls;
		}
	}
	bo_session_free(s);
}

static void test_silu(void **state)
{
	(void)state;
	for (int i = 0; i < M * C0; i++)
		sw1[i] = frand() * 4.f;
	for (int i = 0; i < M * 9; i++)
		sw2[i] = frand(), sw3[i] = frand();
	for (int i = 0; i < M; i++)
		sb1[i] = frand(), sb2[i] = frand(), sb3[i] = frand();
	size_t ny = (size_t)NB * M * H * W;
	float *x = malloc(sizeof(float) * NB * C0 * H * W);
	float *ya = malloc(ny * sizeof(float)), *yb = malloc(ny * sizeof(float));
	assert_true(x && ya && yb);
	for (int i = 0; i < NB * C0 * H * W; i++)
		x[i] = frand() * 8.f;
	x[7 * W + 9] = NAN;                        /* image 0, channel 0 */
	x[(size_t)(NB * C0 - 1) * H * W + 3] = -INFINITY; /* last image, channel 1 */
	struct bo_model *ma = load_silu(0), *mb = load_silu(1);
	for (int threads = 1; threads <= 2; threads++)
		for (int hooked = 0; hooked <= 1; hooked++) {
			struct seen sa = { 0, 0 }, sb = sa;
			double ta, tb;
			int64_t sca, mca, scb, mcb;
			run_silu(ma, threads, x, hooked, ya, &sa, &ta, &sca, &mca);
			run_silu(mb, threads, x, hooked, yb, &sb, &tb, &scb, &mcb);
			assert_int_equal(same_bits(ya, yb, ny), 1);
			assert_int_equal(sa.calls, sb.calls);
			assert_true(sa.hash == sb.hash);
			if (hooked)
				assert_int_equal(sa.calls, 4 * threads); /* y1, y2, y3, y per slice */
			/* four SiLUs per slice, all of them run fused in A */
			assert_int_equal(sca, 4 * threads);
			assert_int_equal(mca, 4 * threads);
			assert_int_equal(scb, 4 * threads);
			assert_int_equal(mcb, 4 * threads);
			assert_true(ta == 0.);
			assert_true(tb > 0.);
		}
	/* the NaN and the -inf spread through the depthwise windows */
	int nan_seen = 0;
	for (size_t i = 0; i < ny; i++)
		nan_seen += isnan(ya[i]);
	assert_true(nan_seen > 2 * M);
	bo_model_free(ma);
	bo_model_free(mb);
	free(x);
	free(ya);
	free(yb);
}

static float aw[C0 * C0], ab[C0];

static struct bo_model *load_add_relu(int sum_out)
{
	struct tb_model *tb = tb_new();
	int64_t xd[4] = { -1, C0, H, W }, wd[4] = { C0, C0, 1, 1 }, bd[1] = { C0 };
	tb_input(tb, "x", 4, xd);
	tb_init_f(tb, "w", 4, wd, aw);
	tb_init_f(tb, "b", 1, bd, ab);
	tb_node(tb, "Conv", "pw", "x,w,b", "c");
	tb_node(tb, "Add", "add", "c,x", "s");
	tb_node(tb, "Relu", "relu", "s", "y");
	tb_output(tb, "y");
	if (sum_out)
		tb_output(tb, "s");
	struct bo_model *m = tb_load_free(tb);
	assert_non_null(m);
	return m;
}

static void test_add_relu(void **state)
{
	(void)state;
	for (int i = 0; i < C0 * C0; i++)
		aw[i] = frand();
	for (int i = 0; i < C0; i++)
		ab[i] = frand();
	size_t nx = (size_t)NB * C0 * H * W;
	float *x = malloc(nx * sizeof(float)), *ya = malloc(nx * sizeof(float));
	float *yb = malloc(nx * sizeof(float));
	assert_true(x && ya && yb);
	for (size_t i = 0; i < nx; i++)
		x[i] = frand() * 4.f;
	x[5] = NAN;
	x[nx - 7] = -INFINITY;
	x[H * W + 11] = -0.f;
	struct bo_model *ma = load_add_relu(0), *mb = load_add_relu(1);
	for (int threads = 1; threads <= 2; threads++)
		for (int hooked = 0; hooked <= 1; hooked++) {
			struct seen sa = { 0, 0 }, sb = sa;
			double secs[2] = { -1., -1. };
			int64_t calls[2] = { 0, 0 };
			float *ys[2] = { ya, yb };
			struct seen *seen[2] = { &sa, &sb };
			struct bo_model *ms[2] = { ma, mb };
			for (int k = 0; k < 2; k++) {
				struct bo_session_config cfg = { .threads = threads };
				struct bo_session *s = NULL;
				struct bo_error err;
				assert_int_equal(bo_session_new(ms[k], &cfg, &s, &err), BO_OK);
				if (hooked)
					assert_int_equal(bo_session_set_hook(s, BO_SITES_ACTIVATIONS,
									     hook, seen[k]),
							 BO_OK);
				bo_session_set_profiling(s, 1);
				struct bo_tensor in = { .rank = 4, .dims = { NB, C0, H, W }, .data = x };
				struct bo_tensor o[2];
				assert_int_equal(bo_session_run(s, &in, 1, o, 1, &err), BO_OK);
				memcpy(ys[k], o[0].data, nx * sizeof(float));
				struct bo_op_profile prof[16];
				int np = bo_session_profile(s, prof, 16);
				for (int i = 0; i < np && i < 16; i++)
					if (!strcmp(prof[i].op, "Relu")) {
						secs[k] = prof[i].seconds;
						calls[k] = prof[i].calls;
					}
				bo_session_free(s);
			}
			assert_int_equal(same_bits(ya, yb, nx), 1);
			assert_int_equal(sa.calls, sb.calls);
			assert_true(sa.hash == sb.hash);
			assert_int_equal(calls[0], threads);
			assert_int_equal(calls[1], threads);
			assert_true(secs[1] > 0.);
			if (!hooked) /* a hooked sum is a site: no fusion then */
				assert_true(secs[0] == 0.);
		}
	int nan_seen = 0;
	for (size_t i = 0; i < nx; i++)
		nan_seen += isnan(ya[i]);
	assert_true(nan_seen == 0); /* Relu maps NaN to 0 */
	bo_model_free(ma);
	bo_model_free(mb);
	free(x);
	free(ya);
	free(yb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fused_equals_unfused),
		cmocka_unit_test(test_silu),
		cmocka_unit_test(test_add_relu),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
