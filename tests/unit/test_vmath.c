/* Vectorised Sigmoid (lib/vmath.c) against libm's 1 / (1 + expf(-x)).
 *
 * Every 61st float bit pattern (70 million values, all exponents and
 * signs), run through Bo_vsigmoid in arrays (the vector loop and its
 * tail): within 4 ulp of the libm formula, and the same value for +-inf,
 * +-0, NaN and the saturated ranges; e^x alone within 2 ulp of expf
 * where expf is normal; in place (x == y) gives the same as out of
 * place.
 *
 * SiLU (Bo_vsilu, fused Sigmoid + Mul): bit for bit x * Bo_vsigmoid(x)
 * or Bo_vsigmoid(x) * x, the two kernels it replaces, over every 61st
 * float bit pattern (NaN in, NaN out: which NaN depends on the order of
 * the product, which the compiler may swap), in place and out of place.
 *
 * Relu and Clip (Bo_vrelu, Bo_vclip): bit for bit the Relu and Clip
 * kernels' scalar formulas (NaN, -0 and infinities included), every
 * length from 0 to 40 (the vector loop and its tail), in place and out
 * of place. */
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

#include "vmath.h" /* private */

static float from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* distance in ulp between two finite floats of the same sign */
static int64_t ulps(float a, float b)
{
	int32_t ia, ib;
	memcpy(&ia, &a, 4);
	memcpy(&ib, &b, 4);
	if (ia < 0)
		ia = INT32_MIN - ia;
	if (ib < 0)
		ib = INT32_MIN - ib;
	return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

static float sig_ref(float x)
{
	return 1.f / (1.f + expf(-x));
}

#define CHUNK 4099 /* not a multiple of any vector width */

static void test_sweep(void **state)
{
	(void)state;
	float *x = malloc(CHUNK * sizeof(float)), *y = malloc(CHUNK * sizeof(float));
	assert_true(x && y);
	int64_t worst = 0, count = 0;
	float worst_x = 0.f;
	uint64_t u = 0;
	while (u <= 0xffffffffULL) {
		int n = 0;
		for (; n < CHUNK && u <= 0xffffffffULL; n++, u += 61)
			x[n] = from_bits((uint32_t)u);
		Bo_vsigmoid(x, y, n);
		for (int i = 0; i < n; i++) {
			float e = sig_ref(x[i]);
			if (isnan(e)) {
				if (!isnan(y[i]))
					fail_msg("sigmoid(%a) = %a, want NaN", x[i], y[i]);
				continue;
			}
			int64_t d = ulps(e, y[i]);
			if (d > worst) {
				worst = d;
				worst_x = x[i];
			}
			count++;
		}
	}
	printf("sigmoid: %ld values, worst %ld ulp at %a\n", (long)count, (long)worst, worst_x);
	assert_true(count > 60000000);
	assert_true(worst <= 4);
	free(x);
	free(y);
}

static void test_specials(void **state)
{
	(void)state;
	float x[] = { INFINITY, -INFINITY, 0.f, -0.f, NAN, -NAN, 200.f, -200.f, 88.8f, -88.8f,
		      103.f, -103.f, 1e-30f, -1e-30f, 16.6f, -16.6f };
	int n = (int)(sizeof(x) / sizeof(x[0]));
	float y[16];
	Bo_vsigmoid(x, y, n);
	for (int i = 0; i < n; i++) {
		float e = sig_ref(x[i]);
		if (isnan(e))
			assert_true(isnan(y[i]));
		else
			assert_true(ulps(e, y[i]) <= 4);
	}
	assert_true(y[0] == 1.f && y[1] == 0.f && y[2] == 0.5f && y[3] == 0.5f);
	assert_true(y[6] == 1.f && y[7] == 0.f);
	/* e^x: within 2 ulp where expf is normal, 0 and inf beyond */
	for (float v = -87.f; v < 88.7f; v += 0.0137f) {
		float e = expf(v), g = Bo_expf_ref(v);
		if (ulps(e, g) > 2)
			fail_msg("exp(%a) = %a, want %a", v, g, e);
	}
	assert_true(Bo_expf_ref(89.f) == INFINITY && Bo_expf_ref(INFINITY) == INFINITY);
	assert_true(Bo_expf_ref(-110.f) == 0.f && Bo_expf_ref(-INFINITY) == 0.f);
	assert_true(isnan(Bo_expf_ref(NAN)));
}

static void test_in_place(void **state)
{
	(void)state;
	int n = 1000;
	float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
	assert_true(x && y);
	for (int i = 0; i < n; i++)
		x[i] = (float)(i - 500) * 0.037f;
	Bo_vsigmoid(x, y, n);
	Bo_vsigmoid(x, x, n);
	assert_memory_equal(x, y, (size_t)n * sizeof(float));
	free(x);
	free(y);
}

static void test_silu(void **state)
{
	(void)state;
	float *x = malloc(CHUNK * sizeof(float)), *y = malloc(CHUNK * sizeof(float));
	float *s = malloc(CHUNK * sizeof(float)), *z = malloc(CHUNK * sizeof(float));
	assert_true(x && y && s && z);
	int64_t count = 0, nan_count = 0;
	uint64_t u = 7;
	while (u <= 0xffffffffULL) {
		int n = 0;
		for (; n < CHUNK && u <= 0xffffffffULL; n++, u += 61)
			x[n] = from_bits((uint32_t)u);
		int first = (int)(u >> 31) & 1; /* both orders of the product */
		Bo_vsilu(x, y, n, first);
		Bo_vsigmoid(x, s, n);
		memcpy(z, x, (size_t)n * sizeof(float));
		Bo_vsilu(z, z, n, first); /* in place */
		for (int i = 0; i < n; i++) {
			float e = first ? s[i] * x[i] : x[i] * s[i];
			nan_count += isnan(e);
			if (isnan(e) ? !isnan(y[i]) || !isnan(z[i])
				     : memcmp(&e, &y[i], 4) || memcmp(&e, &z[i], 4))
				fail_msg("silu(%a) = %a (in place %a), want %a", x[i], y[i], z[i], e);
			count++;
		}
	}
	assert_true(count > 60000000);
	assert_true(nan_count > 100000); /* the NaN patterns, -inf * 0 */
	float sp[] = { INFINITY, -INFINITY, 0.f, -0.f, 1.f, -1.f };
	float sy[6];
	Bo_vsilu(sp, sy, 6, 0);
	assert_true(sy[0] == INFINITY && isnan(sy[1])); /* -inf * sigmoid(-inf) = -inf * 0 */
	assert_true(sy[2] == 0.f && !signbit(sy[2]) && sy[3] == 0.f && signbit(sy[3]));
	assert_true(fabsf(sy[4] - 0.7310586f) < 1e-6f && fabsf(sy[5] + 0.2689414f) < 1e-6f);
	free(x);
	free(y);
	free(s);
	free(z);
}

static float relu_ref(float v)
{
	return v > 0.f ? v : 0.f;
}

static float clip_ref(float v, float lo, float hi)
{
	float t = v < lo ? lo : v;
	return t > hi ? hi : t;
}

static void test_relu_clip(void **state)
{
	(void)state;
	enum { N = 40 };
	static const float special[] = { NAN, -NAN, 0.f, -0.f, INFINITY, -INFINITY, 6.f, -0.25f,
					 0.5f, 7.f, 1e-40f, -1e-40f };
	const int ns = (int)(sizeof(special) / sizeof(special[0]));
	float x[N], y[N], z[N];
	uint32_t r = 12345;
	for (int i = 0; i < N; i++) {
		r = r * 1664525u + 1013904223u;
		x[i] = i % 3 == 0 ? special[(i / 3) % ns] : ((float)(r >> 8) / (float)(1 << 24) - 0.5f) * 16.f;
	}
	static const float bounds[][2] = { { 0.f, 6.f }, { -0.25f, 0.5f }, { -0.f, 0.f } };
	for (int n = 0; n <= N; n++) {
		Bo_vrelu(x, y, n);
		memcpy(z, x, sizeof(x));
		Bo_vrelu(z, z, n);
		for (int i = 0; i < n; i++) {
			float e = relu_ref(x[i]);
			assert_memory_equal(&y[i], &e, sizeof(float));
			assert_memory_equal(&z[i], &e, sizeof(float));
		}
		for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
			float lo = bounds[b][0], hi = bounds[b][1];
			Bo_vclip(x, y, n, lo, hi);
			memcpy(z, x, sizeof(x));
			Bo_vclip(z, z, n, lo, hi);
			for (int i = 0; i < n; i++) {
				float e = clip_ref(x[i], lo, hi);
				/* NaN passes Clip: the same NaN bits */
				assert_memory_equal(&y[i], &e, sizeof(float));
				assert_memory_equal(&z[i], &e, sizeof(float));
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_specials),
		cmocka_unit_test(test_in_place),
		cmocka_unit_test(test_silu),
		cmocka_unit_test(test_relu_clip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
