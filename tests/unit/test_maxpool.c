/* MaxPool fast path (lib/maxpool.c) against a direct loop written here
 * from the ONNX spec and ops.c's semantics: the maximum over the
 * in-bounds taps, NaN when any tap is NaN, -inf for an empty window.
 *
 * Random cases for every kernel/stride pair (2x2 and 3x3, stride 1 and 2)
 * with sizes 1..23, pads 0..K-1 per side (asymmetric), floor and ceil
 * output sizes (ceil_mode's overhang), inputs with NaN, +-inf and ties;
 * results must be bit-identical (max is exact) and every output written
 * (y starts as a sentinel). Other windows must be refused untouched. */
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

#include "maxpool.h" /* private */

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return g_rng;
}

static int64_t irand(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1));
}

/* mostly small integers (ties), sometimes NaN or +-inf */
static float value(void)
{
	int64_t r = irand(0, 99);
	if (r == 0)
		return NAN;
	if (r == 1)
		return INFINITY;
	if (r == 2)
		return -INFINITY;
	return (float)irand(-20, 20) * 0.5f;
}

static float ref_at(const float *xc, int64_t H, int64_t W, int64_t K, int64_t ih0, int64_t iw0)
{
	float acc = -INFINITY;
	for (int64_t i = 0; i < K; i++)
		for (int64_t j = 0; j < K; j++) {
			int64_t ih = ih0 + i, iw = iw0 + j;
			if (ih < 0 || ih >= H || iw < 0 || iw >= W)
				continue;
			float v = xc[ih * W + iw];
			if (v > acc || isnan(v))
				acc = v;
		}
	return acc;
}

static int64_t out_dim(int64_t in, int64_t pb, int64_t pe, int64_t k, int64_t s, int ceil_mode)
{
	int64_t span = in + pb + pe - k;
	if (span < 0)
		return 0;
	return (ceil_mode ? (span + s - 1) / s : span / s) + 1;
}

static void test_random(void **state)
{
	(void)state;
	int nan_seen = 0;
	for (int64_t K = 2; K <= 3; K++)
		for (int64_t S = 1; S <= 2; S++)
			for (int r = 0; r < 300; r++) {
				int64_t NC = irand(1, 4), H, W, pt, pl, pb, pr, OH, OW;
				int ceil_mode = (int)irand(0, 1);
				do {
					H = irand(1, 23);
					W = irand(1, 23);
					pt = irand(0, K - 1);
					pl = irand(0, K - 1);
					pb = irand(0, K - 1);
					pr = irand(0, K - 1);
					OH = out_dim(H, pt, pb, K, S, ceil_mode);
					OW = out_dim(W, pl, pr, K, S, ceil_mode);
				} while (OH <= 0 || OW <= 0);
				struct bo_window w = { .nsp = 2, .k = { K, K }, .s = { S, S },
						       .d = { 1, 1 }, .pb = { pt, pl },
						       .pe = { pb, pr }, .ceil_mode = ceil_mode };
				float *x = malloc((size_t)(NC * H * W) * sizeof(float));
				float *y = malloc((size_t)(NC * OH * OW) * sizeof(float));
				assert_true(x && y);
				for (int64_t i = 0; i < NC * H * W; i++)
					x[i] = value();
				for (int64_t i = 0; i < NC * OH * OW; i++)
					y[i] = 12345.f;
				assert_int_equal(Bo_maxpool(x, y, NC, H, W, &w, OH, OW), 1);
				for (int64_t c = 0; c < NC; c++)
					for (int64_t oh = 0; oh < OH; oh++)
						for (int64_t ow = 0; ow < OW; ow++) {
							float e = ref_at(x + c * H * W, H, W, K,
									 oh * S - pt, ow * S - pl);
							float g = y[(c * OH + oh) * OW + ow];
							nan_seen += isnan(e);
							if (memcmp(&e, &g, sizeof(float)) &&
							    !(isnan(e) && isnan(g)))
								fail_msg("%ldx%ld s%ld H%ld W%ld pads %ld,%ld,%ld,%ld "
									 "ceil %d at c%ld (%ld,%ld): %g, want %g",
									 (long)K, (long)K, (long)S, (long)H,
									 (long)W, (long)pt, (long)pl, (long)pb,
									 (long)pr, ceil_mode, (long)c, (long)oh,
									 (long)ow, g, e);
						}
				free(x);
				free(y);
			}
	assert_true(nan_seen > 0); /* the NaN rule was exercised */
}

/* ResNet's stem pool on its real size, through the vector interior */
static void test_resnet_stem(void **state)
{
	(void)state;
	int64_t H = 112, W = 112, OH = 56, OW = 56;
	struct bo_window w = { .nsp = 2, .k = { 3, 3 }, .s = { 2, 2 }, .d = { 1, 1 },
			       .pb = { 1, 1 }, .pe = { 1, 1 } };
	float *x = malloc((size_t)(H * W) * sizeof(float)), *y = malloc((size_t)(OH * OW) * 4);
	assert_true(x && y);
	for (int64_t i = 0; i < H * W; i++)
		x[i] = (float)irand(-1000, 1000);
	x[50 * W + 60] = NAN; /* in the interior: output (25, 30) alone */
	assert_int_equal(Bo_maxpool(x, y, 1, H, W, &w, OH, OW), 1);
	for (int64_t oh = 0; oh < OH; oh++)
		for (int64_t ow = 0; ow < OW; ow++) {
			float e = ref_at(x, H, W, 3, oh * 2 - 1, ow * 2 - 1), g = y[oh * OW + ow];
			assert_true(memcmp(&e, &g, sizeof(float)) == 0 || (isnan(e) && isnan(g)));
		}
	assert_true(isnan(y[25 * OW + 30]));
	assert_false(isnan(y[25 * OW + 32]));
	free(x);
	free(y);
}

static void test_refused(void **state)
{
	(void)state;
	struct bo_window ws[] = {
		{ .nsp = 2, .k = { 3, 3 }, .s = { 2, 2 }, .d = { 2, 2 } }, /* dilation */
		{ .nsp = 2, .k = { 5, 5 }, .s = { 2, 2 }, .d = { 1, 1 } }, /* 5x5 */
		{ .nsp = 2, .k = { 3, 3 }, .s = { 3, 3 }, .d = { 1, 1 } }, /* stride 3 */
		{ .nsp = 2, .k = { 2, 3 }, .s = { 2, 2 }, .d = { 1, 1 } }, /* 2x3 */
		{ .nsp = 1, .k = { 1, 3 }, .s = { 1, 2 }, .d = { 1, 1 } }, /* 1-D */
	};
	float x[64] = { 0 }, y[64];
	for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++) {
		for (int k = 0; k < 64; k++)
			y[k] = 7.f;
		assert_false(Bo_maxpool_fast(&ws[i]));
		assert_int_equal(Bo_maxpool(x, y, 1, 8, 8, &ws[i], 2, 2), 0);
		for (int k = 0; k < 64; k++)
			assert_true(y[k] == 7.f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_resnet_stem),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
