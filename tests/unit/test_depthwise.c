/* Depthwise convolution (lib/depthwise.c): the fast kernel (3x3 and 5x5,
 * stride 1 and 2, interior without bounds checks, vectorised) against the
 * generic checked loop and a double-precision direct convolution written
 * here from the ONNX spec.
 *
 * Random cases cover every kernel/stride pair with sizes from 1 to 23
 * (smaller than the kernel, odd, wider than a vector), pads 0..K-1 drawn
 * independently per side (asymmetric), batch 1..3, channels 1..5, with
 * and without bias. Every output must be written (y starts as NaN) and
 * lie within a rounding bound of the double reference, which both paths
 * must meet; shapes outside the fast kernel (dilation 2, stride 3, 3x5,
 * 1x1) must go through the generic loop and give its results exactly.
 * A fused Relu or Clip (plan.h's bo_act) must give exactly what the Relu
 * and Clip kernels' formulas give on the unfused output, NaN and -0
 * included. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "depthwise.h" /* private */

static uint64_t g_rng = 0x2545f4914f6cdd1dULL;

static uint64_t next(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return g_rng;
}

/* uniform in [-1, 1) */
static float frand(void)
{
	return (float)((double)(next() >> 11) / (double)(1ULL << 53) * 2.0 - 1.0);
}

/* uniform in [lo, hi] */
static int64_t irand(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1));
}

struct dcase {
	int64_t N, C, H, W, kh, kw, s, d, pt, pl, pb, pr;
	int bias;
};

static int64_t out_dim(int64_t in, int64_t pb, int64_t pe, int64_t k, int64_t s, int64_t d)
{
	int64_t span = (k - 1) * d + 1;
	return in + pb + pe < span ? 0 : (in + pb + pe - span) / s + 1;
}

/* Bo_dw_conv with its padded kernel (a scratch of Bo_dw_scratch_floats,
 * filled with NaN first: the kernel must zero the pads itself) and with
 * the row kernel (no scratch); the two must give the same bits (NaN
 * compared as NaN), into y. */
static void dw_both(const float *x, const float *k, const float *bias, float *y, int64_t N,
		    int64_t C, int64_t H, int64_t W, const struct bo_window *w, int64_t OH,
		    int64_t OW, const struct bo_act *act)
{
	int64_t ns = Bo_dw_scratch_floats(H, W, w, OH, OW), ny = N * C * OH * OW;
	assert_true(Bo_dw_fast(w) ? ns > 0 : ns == 0);
	float *scratch = malloc((size_t)(ns + 1) * sizeof(float));
	float *y0 = malloc((size_t)ny * sizeof(float));
	assert_true(scratch && y0);
	for (int64_t i = 0; i < ns; i++)
		scratch[i] = NAN;
	for (int64_t i = 0; i < ny; i++)
		y[i] = y0[i] = NAN;
	Bo_dw_conv(x, k, bias, y, N, C, H, W, w, OH, OW, act, scratch);
	Bo_dw_conv(x, k, bias, y0, N, C, H, W, w, OH, OW, act, NULL);
	for (int64_t i = 0; i < ny; i++)
		if (memcmp(&y[i], &y0[i], sizeof(float)) && !(isnan(y[i]) && isnan(y0[i])))
			fail_msg("%ldx%ld s%ld H%ld W%ld at %ld: padded %.9g (%#x), row kernel %.9g",
				 (long)w->k[0], (long)w->k[1], (long)w->s[0], (long)H, (long)W,
				 (long)i, y[i], *(const unsigned *)&y[i], y0[i]);
	free(scratch);
	free(y0);
}

/* Runs c through Bo_dw_conv (both kernels, dw_both) and
 * Bo_dw_conv_generic; both within a rounding bound of the double
 * reference. Returns 1 when the two are bit-identical. */
static int check(const struct dcase *c)
{
	struct bo_window w = { 0 };
	w.nsp = 2;
	w.k[0] = c->kh;
	w.k[1] = c->kw;
	w.s[0] = w.s[1] = c->s;
	w.d[0] = w.d[1] = c->d;
	w.pb[0] = c->pt;
	w.pb[1] = c->pl;
	w.pe[0] = c->pb;
	w.pe[1] = c->pr;
	w.group = c->C;
	int64_t OH = out_dim(c->H, c->pt, c->pb, c->kh, c->s, c->d);
	int64_t OW = out_dim(c->W, c->pl, c->pr, c->kw, c->s, c->d);
	assert_true(OH > 0 && OW > 0);
	int64_t nx = c->N * c->C * c->H * c->W, nk = c->C * c->kh * c->kw, ny = c->N * c->C * OH * OW;
	float *x = malloc((size_t)nx * sizeof(float)), *k = malloc((size_t)nk * sizeof(float));
	float *b = malloc((size_t)c->C * sizeof(float));
	float *y1 = malloc((size_t)ny * sizeof(float)), *y2 = malloc((size_t)ny * sizeof(float));
	assert_true(x && k && b && y1 && y2);
	for (int64_t i = 0; i < nx; i++)
		x[i] = frand();
	for (int64_t i = 0; i < nk; i++)
		k[i] = frand();
	for (int64_t i = 0; i < c->C; i++)
		b[i] = frand();
	for (int64_t i = 0; i < ny; i++)
		y1[i] = y2[i] = NAN;
	const float *bias = c->bias ? b : NULL;
	dw_both(x, k, bias, y1, c->N, c->C, c->H, c->W, &w, OH, OW, NULL);
	Bo_dw_conv_generic(x, k, bias, y2, c->N, c->C, c->H, c->W, &w, OH, OW);
	int same = 1;
	for (int64_t n = 0; n < c->N; n++)
		for (int64_t ch = 0; ch < c->C; ch++)
			for (int64_t oh = 0; oh < OH; oh++)
				for (int64_t ow = 0; ow < OW; ow++) {
					double ref = bias ? bias[ch] : 0.0, mag = fabs(ref);
					for (int64_t i = 0; i < c->kh; i++)
						for (int64_t j = 0; j < c->kw; j++) {
							int64_t ih = oh * c->s - c->pt + i * c->d;
							int64_t iw = ow * c->s - c->pl + j * c->d;
							if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
								continue;
							double t = (double)x[((n * c->C + ch) * c->H + ih) * c->W + iw] *
								   k[(ch * c->kh + i) * c->kw + j];
							ref += t;
							mag += fabs(t);
						}
					/* one rounding per add and per product */
					double tol = 2.0 * (double)(c->kh * c->kw + 1) * FLT_EPSILON * mag + 1e-30;
					int64_t at = ((n * c->C + ch) * OH + oh) * OW + ow;
					if (!(fabs(y1[at] - ref) <= tol) || !(fabs(y2[at] - ref) <= tol))
						fail_msg("%ldx%ld s%ld d%ld H%ld W%ld pads %ld,%ld,%ld,%ld at "
							 "n%ld c%ld (%ld,%ld): fast %.9g generic %.9g ref %.9g",
							 (long)c->kh, (long)c->kw, (long)c->s, (long)c->d,
							 (long)c->H, (long)c->W, (long)c->pt, (long)c->pl,
							 (long)c->pb, (long)c->pr, (long)n, (long)ch, (long)oh,
							 (long)ow, y1[at], y2[at], ref);
					if (memcmp(&y1[at], &y2[at], sizeof(float)))
						same = 0;
				}
	free(x);
	free(k);
	free(b);
	free(y1);
	free(y2);
	return same;
}

static void random_case(struct dcase *c, int64_t K, int64_t S)
{
	c->kh = c->kw = K;
	c->s = S;
	c->d = 1;
	c->N = irand(1, 3);
	c->C = irand(1, 5);
	c->bias = (int)irand(0, 1);
	do {
		c->H = irand(1, 23);
		c->W = irand(1, 23);
		c->pt = irand(0, K - 1);
		c->pl = irand(0, K - 1);
		c->pb = irand(0, K - 1);
		c->pr = irand(0, K - 1);
	} while (out_dim(c->H, c->pt, c->pb, K, S, 1) <= 0 ||
		 out_dim(c->W, c->pl, c->pr, K, S, 1) <= 0);
}

/* 3x3 and 5x5, stride 1 and 2: the fast kernel, 200 random shapes each */
static void test_fast_random(void **state)
{
	(void)state;
	static const int64_t ks[] = { 3, 5 }, ss[] = { 1, 2 };
	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 2; b++)
			for (int r = 0; r < 200; r++) {
				struct dcase c;
				random_case(&c, ks[a], ss[b]);
				struct bo_window w = { .k = { c.kh, c.kw }, .s = { c.s, c.s },
						       .d = { 1, 1 } };
				assert_true(Bo_dw_fast(&w));
				check(&c);
			}
}

/* the shapes of torchvision's layers: 112x112 s1 p1, 112 -> 56 s2 p1,
 * 5x5 s2 p2 on an odd size, 7x7 with 5x5 p2 (no interior row wider than
 * the kernel) */
static void test_fast_model_shapes(void **state)
{
	(void)state;
	struct dcase cs[] = {
		{ 1, 3, 112, 112, 3, 3, 1, 1, 1, 1, 1, 1, 1 },
		{ 2, 2, 112, 112, 3, 3, 2, 1, 1, 1, 1, 1, 0 },
		{ 1, 4, 15, 15, 5, 5, 2, 1, 2, 2, 2, 2, 1 },
		{ 1, 4, 7, 7, 5, 5, 1, 1, 2, 2, 2, 2, 1 },
		{ 1, 2, 14, 14, 3, 3, 2, 1, 0, 0, 1, 1, 1 }, /* TF-style SAME_UPPER */
	};
	for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++)
		check(&cs[i]);
}

/* everything else takes the generic loop: bit-identical to it */
static void test_generic_fallback(void **state)
{
	(void)state;
	struct dcase cs[] = {
		{ 1, 3, 13, 11, 3, 3, 1, 2, 2, 2, 2, 2, 1 }, /* dilation 2 */
		{ 2, 2, 13, 11, 3, 3, 3, 1, 1, 1, 1, 1, 1 }, /* stride 3 */
		{ 1, 2, 9, 10, 3, 5, 1, 1, 1, 2, 1, 2, 0 },  /* 3x5 */
		{ 1, 2, 9, 10, 1, 1, 1, 1, 0, 0, 0, 0, 1 },  /* 1x1 */
		{ 1, 2, 9, 10, 7, 7, 2, 1, 3, 3, 3, 3, 1 },  /* 7x7 */
	};
	for (size_t i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
		struct bo_window w = { .k = { cs[i].kh, cs[i].kw }, .s = { cs[i].s, cs[i].s },
				       .d = { cs[i].d, cs[i].d } };
		assert_false(Bo_dw_fast(&w));
		assert_true(check(&cs[i]));
	}
}

/* the Relu and Clip kernels' formulas (ops.c k_relu, k_clip) */
static float relu_ref(float v)
{
	return v > 0.f ? v : 0.f;
}

static float clip_ref(float v, float lo, float hi)
{
	float t = v < lo ? lo : v;
	return t > hi ? hi : t;
}

static void test_fused_act(void **state)
{
	(void)state;
	struct {
		int64_t k, s, d;
	} ws[] = { { 3, 1, 1 }, { 3, 2, 1 }, { 5, 1, 1 }, { 5, 2, 1 }, { 3, 1, 2 } };
	struct bo_act acts[] = { { 1, 0.f, 0.f }, { 2, 0.f, 6.f }, { 2, -0.25f, 0.5f } };
	int64_t C = 3, H = 19, W = 21;
	float x[3 * 19 * 21], k[3 * 25], b[3] = { 0.5f, -0.5f, -0.f };
	for (int64_t i = 0; i < 2 * H * W; i++)
		x[i] = frand() * 4.f;
	for (int64_t i = 2 * H * W; i < 3 * H * W; i++) /* channel 2: -0 everywhere */
		x[i] = -0.f;
	x[5 * W + 7] = NAN;        /* channel 0, interior */
	x[H * W] = INFINITY;       /* channel 1, corner */
	for (int i = 0; i < 25; i++) /* channel 2: -0 bias + -0 * positive = -0 */
		k[i] = frand(), k[25 + i] = frand(), k[50 + i] = 0.1f + fabsf(frand());
	int n_nan = 0, n_negzero = 0;
	for (size_t wi = 0; wi < sizeof(ws) / sizeof(ws[0]); wi++)
		for (size_t ai = 0; ai < sizeof(acts) / sizeof(acts[0]); ai++) {
			struct bo_window w = { .nsp = 2, .k = { ws[wi].k, ws[wi].k },
					       .s = { ws[wi].s, ws[wi].s },
					       .d = { ws[wi].d, ws[wi].d }, .group = C };
			int64_t pad = ws[wi].k / 2 * ws[wi].d;
			w.pb[0] = w.pb[1] = w.pe[0] = w.pe[1] = pad;
			int64_t OH = (H + 2 * pad - (ws[wi].k - 1) * ws[wi].d - 1) / ws[wi].s + 1;
			int64_t OW = (W + 2 * pad - (ws[wi].k - 1) * ws[wi].d - 1) / ws[wi].s + 1;
			float y0[3 * 19 * 21], y1[3 * 19 * 21];
			dw_both(x, k, b, y0, 1, C, H, W, &w, OH, OW, NULL);
			dw_both(x, k, b, y1, 1, C, H, W, &w, OH, OW, &acts[ai]);
			for (int64_t i = 0; i < C * OH * OW; i++) {
				float e = acts[ai].kind == 1 ? relu_ref(y0[i])
							     : clip_ref(y0[i], acts[ai].lo, acts[ai].hi);
				n_nan += isnan(y0[i]);
				n_negzero += y0[i] == 0.f && signbit(y0[i]);
				if (memcmp(&e, &y1[i], sizeof(float)) && !(isnan(e) && isnan(y1[i])))
					fail_msg("window %zu act %zu at %ld: %g, want %g", wi, ai,
						 (long)i, y1[i], e);
			}
		}
	assert_true(n_nan > 0);
	assert_true(n_negzero > 0);
}

/* Values where a padded tap is not a no-op: an infinite or NaN weight
 * (0 * inf is NaN where the row kernel skips the tap) and a -0 bias over
 * -0 inputs (+0 * k would turn the -0 sum into +0). dw_both asserts that
 * the padded kernel still gives the row kernel's bits (those channels
 * take the row kernel); here also that the cases arise: finite border
 * outputs beside the infinite weight, -0 outputs on the border. */
static void test_padded_special(void **state)
{
	(void)state;
	enum { C = 4, H = 9, W = 10 };
	float x[C * H * W], k[C * 25], b[C] = { 0.25f, -1.f, -0.f, 0.5f };
	for (int i = 0; i < C * H * W; i++)
		x[i] = frand();
	for (int i = 2 * H * W; i < 3 * H * W; i++)
		x[i] = -0.f;
	x[3 * H * W + 4 * W + 5] = NAN;
	for (int ks = 3; ks <= 5; ks += 2)
		for (int64_t s = 1; s <= 2; s++) {
			for (int i = 0; i < C * 25; i++)
				k[i] = frand();
			k[0] = INFINITY;             /* channel 0, top left tap */
			k[ks * ks + ks + 1] = NAN;   /* channel 1 */
			for (int i = 0; i < ks * ks; i++)
				k[2 * ks * ks + i] = 0.1f + fabsf(frand());
			struct bo_window w = { .nsp = 2, .k = { ks, ks }, .s = { s, s },
					       .d = { 1, 1 }, .group = C };
			int64_t pad = ks / 2;
			w.pb[0] = w.pb[1] = w.pe[0] = w.pe[1] = pad;
			int64_t OH = (H + 2 * pad - ks) / s + 1, OW = (W + 2 * pad - ks) / s + 1;
			float y[C * H * W];
			dw_both(x, k, b, y, 1, C, H, W, &w, OH, OW, NULL);
			assert_true(isfinite(y[0]));  /* channel 0's corner skips the inf tap */
			float *y2 = y + 2 * OH * OW;  /* channel 2: -0 everywhere */
			assert_true(y2[0] == 0.f && signbit(y2[0]));
			assert_true(y2[OH * OW - 1] == 0.f && signbit(y2[OH * OW - 1]));
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_random),
		cmocka_unit_test(test_fast_model_shapes),
		cmocka_unit_test(test_generic_fallback),
		cmocka_unit_test(test_fused_act),
		cmocka_unit_test(test_padded_special),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
