/* Fault models (lib/fault.c, docs/fault-models.md sections 2 to 4).
 *
 * - Quantisation: the scale formula, round half away from zero, clamping
 *   (signed and unsigned), B = 8 and B = 4.
 * - bo_bm_apply exhaustively for B = 2..8 (every q of the range x every
 *   mask), signed and unsigned, against a bit-by-bit reference written here
 *   from the spec, plus the "towards zero" properties.
 * - The Philox stream: the Random123 known answer, the documented key and
 *   counter layout, a golden prefix (a stored result must stay
 *   reproducible), reproducibility and distinctness of the streams, the
 *   range of bo_rng_uniform and the uniformity of the words.
 * - The sampler, statistically, on 200,000-value tensors with fixed seeds:
 *   fault counts per bit position, per value (multiplicity) and per region
 *   of the tensor within binomial bounds (mean +- 5 sigma), erasure rates,
 *   the cost (random words drawn) proportional to the faults, p = 0, p = 1,
 *   scale 0.
 * - Undo: the log restores the exact bytes; when the log cannot grow,
 *   bo_inject reverts what it changed and returns -1.
 * - The batched sampler (lib/fault_batch.c): its Philox blocks word for
 *   word against Random123 (AVX2 and portable), its gaps gap for gap
 *   against libm's log (at every word where a gap changes, and where the
 *   fast log's error bound sends lanes to libm), and bo_inject's three
 *   paths (reference, portable, AVX2) fault set for fault set: the same
 *   values, count, undo log and stream position; plus a golden hash of
 *   injected tensors taken from the sampler before batching.
 *
 * Recovering which cells were faulty through bo_inject: with scale 1 and
 * x = q exactly, x' is the integer q' exactly. A faulty cell is only
 * visible when it changes the bit, so the tests pick patterns where every
 * cell can change:
 *   - unsigned q = 2^(B-1) - 1 (all cells 0..B-2 are 1): every faulty cell
 *     is cleared, so the faulty cells of a value are exactly
 *     q & ~q'. Each cell count is Binomial(n, p).
 *   - signed q = -2^(B-1) (sign 1, all other bits 0): a faulty sign cell
 *     gives q' = 0 (the only way to reach 0: without a faulty sign cell
 *     q' stays negative), otherwise every faulty cell i < B-1 is set, so
 *     the faulty cells are exactly q' & (2^(B-1) - 1). The sign cell count
 *     is Binomial(n, p); the count of a lower cell is only visible when the
 *     sign cell is not faulty: Binomial(n, p (1 - p)). */
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
#include <sys/resource.h>

#include <cmocka.h>

#include <Random123/philox.h>

#include <brownout/fault.h>

#include "fault_impl.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#define N_STAT 200000

/* |k - n p| <= 5 sigma (+1 for the discreteness of tiny means) */
static void check_binomial(const char *what, int64_t k, double n, double p)
{
	double mean = n * p, sd = sqrt(n * p * (1.0 - p));
	double lo = mean - 5.0 * sd - 1.0, hi = mean + 5.0 * sd + 1.0;
	if (!((double)k >= lo && (double)k <= hi))
		fail_msg("%s: %lld outside [%.1f, %.1f] (n %.0f, p %g)", what, (long long)k, lo, hi,
			 n, p);
}

static float *alloc_floats(int64_t n)
{
	float *p = malloc((size_t)n * sizeof *p);
	assert_non_null(p);
	return p;
}

static uint64_t g_xs = 0x2545f4914f6cdd1dULL;

static uint64_t xorshift(void)
{
	g_xs ^= g_xs << 13;
	g_xs ^= g_xs >> 7;
	g_xs ^= g_xs << 17;
	return g_xs;
}

/* ---- names ---- */

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(bo_deviation_name(BO_DEV_BM), "bm");
	assert_string_equal(bo_deviation_name(BO_DEV_ERASURE), "erasure");
	assert_string_equal(bo_target_name(BO_TARGET_BOTH), "both");
	assert_string_equal(bo_target_name(BO_TARGET_WEIGHTS), "weights");
	assert_string_equal(bo_target_name(BO_TARGET_ACTIVATIONS), "activations");
	assert_non_null(bo_deviation_name((enum bo_deviation)7));
	assert_non_null(bo_target_name((enum bo_target)7));
	assert_int_equal(bo_cells(8, 0), 8);
	assert_int_equal(bo_cells(8, 1), 7);
}

/* ---- quantisation ---- */

static void test_quant_scale(void **state)
{
	(void)state;
	assert_true(bo_quant_scale(127.0f, 8) == 1.0f);
	assert_true(bo_quant_scale(7.0f, 4) == 1.0f);
	assert_true(bo_quant_scale(3.0f, 3) == 1.0f);
	assert_true(bo_quant_scale(1.0f, 2) == 1.0f);
	assert_true(bo_quant_scale(32767.0f, 16) == 1.0f);
	assert_true(bo_quant_scale(2.54f, 8) == 2.54f / 127.0f);
	assert_true(bo_quant_scale(0.0f, 8) == 0.0f);
	assert_true(bo_quant_scale(NAN, 8) == 0.0f);
	assert_true(bo_quant_scale(INFINITY, 8) == 0.0f);
	assert_true(bo_quant_scale(1.0f, 1) == 0.0f);  /* bits out of range */
	assert_true(bo_quant_scale(1.0f, 17) == 0.0f);
}

static void test_quantize(void **state)
{
	(void)state;
	/* round half away from zero */
	assert_int_equal(bo_quantize(2.5f, 1.0f, 8, 0), 3);
	assert_int_equal(bo_quantize(-2.5f, 1.0f, 8, 0), -3);
	assert_int_equal(bo_quantize(0.5f, 1.0f, 8, 0), 1);
	assert_int_equal(bo_quantize(-0.5f, 1.0f, 8, 0), -1);
	assert_int_equal(bo_quantize(1.25f, 0.5f, 8, 0), 3);   /* x/s = 2.5 */
	assert_int_equal(bo_quantize(-1.25f, 0.5f, 8, 0), -3);
	assert_int_equal(bo_quantize(2.4999998f, 1.0f, 8, 0), 2);
	assert_int_equal(bo_quantize(-2.4999998f, 1.0f, 8, 0), -2);
	assert_int_equal(bo_quantize(0.49f, 1.0f, 8, 0), 0);
	assert_int_equal(bo_quantize(-0.0f, 1.0f, 8, 0), 0);
	/* clamping, B = 8 */
	assert_int_equal(bo_quantize(127.4f, 1.0f, 8, 0), 127);
	assert_int_equal(bo_quantize(127.5f, 1.0f, 8, 0), 127);
	assert_int_equal(bo_quantize(1e30f, 1.0f, 8, 0), 127);
	assert_int_equal(bo_quantize(INFINITY, 1.0f, 8, 0), 127);
	assert_int_equal(bo_quantize(-128.0f, 1.0f, 8, 0), -128);
	assert_int_equal(bo_quantize(-128.5f, 1.0f, 8, 0), -128);
	assert_int_equal(bo_quantize(-1e30f, 1.0f, 8, 0), -128);
	assert_int_equal(bo_quantize(-INFINITY, 1.0f, 8, 0), -128);
	/* clamping, B = 4 */
	assert_int_equal(bo_quantize(7.0f, 1.0f, 4, 0), 7);
	assert_int_equal(bo_quantize(9.0f, 1.0f, 4, 0), 7);
	assert_int_equal(bo_quantize(-8.0f, 1.0f, 4, 0), -8);
	assert_int_equal(bo_quantize(-9.0f, 1.0f, 4, 0), -8);
	assert_int_equal(bo_quantize(0.75f, 0.25f, 4, 0), 3);
	assert_int_equal(bo_quantize(-0.875f, 0.25f, 4, 0), -4); /* -3.5 */
	/* unsigned: lo = 0, hi = 2^(B-1) - 1 */
	assert_int_equal(bo_quantize(-3.0f, 1.0f, 8, 1), 0);
	assert_int_equal(bo_quantize(-0.4f, 1.0f, 8, 1), 0);
	assert_int_equal(bo_quantize(-0.5f, 1.0f, 8, 1), 0);
	assert_int_equal(bo_quantize(200.0f, 1.0f, 8, 1), 127);
	assert_int_equal(bo_quantize(5.5f, 1.0f, 8, 1), 6);
	assert_int_equal(bo_quantize(9.0f, 1.0f, 4, 1), 7);
	assert_int_equal(bo_quantize(-9.0f, 1.0f, 4, 1), 0);
	/* the scale formula end to end: max|x| maps to the top code */
	float s = bo_quant_scale(0.731f, 8);
	assert_int_equal(bo_quantize(0.731f, s, 8, 0), 127);
	assert_int_equal(bo_quantize(-0.731f, s, 8, 0), -127);
	s = bo_quant_scale(0.731f, 4);
	assert_int_equal(bo_quantize(0.731f, s, 4, 0), 7);
	assert_int_equal(bo_quantize(-0.731f, s, 4, 0), -7);
	/* every code round-trips from x = q s */
	for (int b = 2; b <= BO_MAX_BITS; b++) {
		s = bo_quant_scale(0.3f, b);
		for (int32_t q = -(1 << (b - 1)); q < (1 << (b - 1)); q++)
			assert_int_equal(bo_quantize((float)q * s, s, b, 0), q);
	}
	/* documented choices for what has no nearest integer */
	assert_int_equal(bo_quantize(NAN, 1.0f, 8, 0), 0);
	assert_int_equal(bo_quantize(1.0f, 0.0f, 8, 0), 0);
}

/* ---- BM ---- */

/* Bit-by-bit reference from the spec: bits b[0..B-1] of q's B-bit two's
 * complement; signed: faulty sign -> 0, else faulty bits := sign; unsigned:
 * the B-1 value bits, faulty ones := 0 (cell B-1 does not exist). */
static int32_t bm_reference(int32_t q, uint32_t mask, int bits, int is_unsigned)
{
	int b[32];
	for (int i = 0; i < bits; i++)
		b[i] = (int)(((uint32_t)q >> i) & 1u);
	if (!is_unsigned && ((mask >> (bits - 1)) & 1u))
		return 0;
	int fill = is_unsigned ? 0 : b[bits - 1];
	for (int i = 0; i < bits - 1; i++) /* the sign cell is handled above */
		if ((mask >> i) & 1u)
			b[i] = fill;
	int32_t v = 0;
	for (int i = 0; i < bits - 1; i++)
		v += b[i] << i;
	if (!is_unsigned)
		v -= b[bits - 1] << (bits - 1);
	return v;
}

static int32_t iabs32(int32_t v)
{
	return v < 0 ? -v : v;
}

static void test_bm_exhaustive(void **state)
{
	(void)state;
	for (int bits = 2; bits <= 8; bits++) {
		for (int uns = 0; uns <= 1; uns++) {
			int32_t lo = uns ? 0 : -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
			for (int32_t q = lo; q <= hi; q++) {
				for (uint32_t m = 0; m < (1u << bits); m++) {
					int32_t r = bo_bm_apply(q, m, bits, uns);
					if (r != bm_reference(q, m, bits, uns))
						fail_msg("B=%d uns=%d q=%d mask=%#x: %d, ref %d", bits,
							 uns, q, m, r, bm_reference(q, m, bits, uns));
					/* towards zero, no sign flip, stays in range */
					assert_true(iabs32(r) <= iabs32(q));
					assert_true(r == 0 || (r < 0) == (q < 0));
					assert_true(r >= lo && r <= hi);
					if (!uns && (m >> (bits - 1)) & 1u)
						assert_int_equal(r, 0);
					if (uns) {
						assert_true(r >= 0);
						/* cell B-1 does not exist: its mask bit is ignored */
						assert_int_equal(r, bo_bm_apply(q, m & ~(1u << (bits - 1)),
										bits, 1));
					}
					if (m == 0)
						assert_int_equal(r, q);
					/* mask bits above B are ignored */
					assert_int_equal(bo_bm_apply(q, m | ~((1u << bits) - 1u), bits, uns),
							 r);
				}
			}
		}
	}
	/* a few hand-checked cases, B = 8 */
	assert_int_equal(bo_bm_apply(0x55, 0x01, 8, 0), 0x54);
	assert_int_equal(bo_bm_apply(0x55, 0x02, 8, 0), 0x55);
	assert_int_equal(bo_bm_apply(-1, 0x7f, 8, 0), -1);
	assert_int_equal(bo_bm_apply(-128, 0x01, 8, 0), -127);
	assert_int_equal(bo_bm_apply(-128, 0x7f, 8, 0), -1);
	assert_int_equal(bo_bm_apply(-100, 0x80, 8, 0), 0);
	assert_int_equal(bo_bm_apply(127, 0x40, 8, 1), 63);
	assert_int_equal(bo_bm_apply(127, 0x80, 8, 1), 127);
	/* B = 16, random values and masks against the reference */
	for (int k = 0; k < 200000; k++) {
		uint64_t r = xorshift();
		int uns = (int)(r & 1);
		int32_t q = uns ? (int32_t)((r >> 1) & 0x7fff) : (int32_t)(int16_t)(r >> 1);
		uint32_t m = (uint32_t)(r >> 20) & 0xffffu;
		m &= (uint32_t)(r >> 40) | (uint32_t)(r >> 44); /* sparser masks too */
		assert_int_equal(bo_bm_apply(q, m, 16, uns), bm_reference(q, m, 16, uns));
	}
}

/* ---- the stream ---- */

static void expected_key(uint64_t seed, uint64_t point, uint64_t image, uint32_t key[2])
{
	philox4x32_ctr_t c = { { (uint32_t)point, (uint32_t)(point >> 32), (uint32_t)(image >> 32),
				 0x626f7574u } };
	philox4x32_key_t k = { { (uint32_t)seed, (uint32_t)(seed >> 32) } };
	philox4x32_ctr_t d = philox4x32(c, k);
	key[0] = d.v[0];
	key[1] = d.v[1];
}

static void test_philox_layout(void **state)
{
	(void)state;
	/* Random123 known answer for Philox4x32-10, zero counter and key */
	philox4x32_ctr_t c0 = { { 0, 0, 0, 0 } };
	philox4x32_key_t k0 = { { 0, 0 } };
	philox4x32_ctr_t d0 = philox4x32(c0, k0);
	assert_int_equal(d0.v[0], 0x6627e8d5u);
	assert_int_equal(d0.v[1], 0xe169c58du);
	assert_int_equal(d0.v[2], 0xbc57ac4cu);
	assert_int_equal(d0.v[3], 0x9b00dbd8u);

	/* key from (seed, point, image >> 32); ctr = (draw, image, tensor, trial) */
	const uint64_t seed = 0x0123456789abcdefULL, image = 0x0000000500000007ULL;
	const uint64_t point = bo_rng_point(1e-2);
	const uint32_t trial = 11, tensor = 2 | BO_RNG_WEIGHT;
	struct bo_rng r;
	bo_rng_init(&r, seed, point, trial, tensor, image);
	uint32_t key[2];
	expected_key(seed, point, image, key);
	assert_int_equal(r.key[0], key[0]);
	assert_int_equal(r.key[1], key[1]);
	assert_int_equal(r.ctr[0], 0);
	assert_int_equal(r.ctr[1], 7);
	assert_int_equal(r.ctr[2], tensor);
	assert_int_equal(r.ctr[3], trial);
	philox4x32_key_t k = { { key[0], key[1] } };
	for (uint32_t draw = 0; draw < 3; draw++) {
		philox4x32_ctr_t c = { { draw, 7, tensor, trial } };
		philox4x32_ctr_t d = philox4x32(c, k);
		for (int w = 0; w < 4; w++)
			assert_int_equal(bo_rng_u32(&r), d.v[w]);
	}
	assert_int_equal(r.ctr[0], 3);

	/* golden prefix: changing it breaks the reproducibility of stored results */
	bo_rng_init(&r, 42, 0, 0, 0, 0);
	uint32_t got[6];
	for (int i = 0; i < 6; i++)
		got[i] = bo_rng_u32(&r);
	static const uint32_t golden[6] = { 0x4e7e6203u, 0x602cf453u, 0xfa7580feu,
					    0xe28ed822u, 0xb2b94247u, 0x334b4e65u };
	for (int i = 0; i < 6; i++)
		if (got[i] != golden[i])
			fail_msg("word %d: %#010x, golden %#010x", i, got[i], golden[i]);
}

static void stream(uint64_t seed, uint32_t point, uint32_t trial, uint32_t tensor, uint64_t image,
		   uint32_t *out, int n)
{
	struct bo_rng r;
	bo_rng_init(&r, seed, point, trial, tensor, image);
	for (int i = 0; i < n; i++)
		out[i] = bo_rng_u32(&r);
}

static void test_rng_streams(void **state)
{
	(void)state;
	enum { W = 16 };
	uint32_t a[W], b[W];
	stream(7, 1, 2, 3, 4, a, W);
	stream(7, 1, 2, 3, 4, b, W);
	assert_memory_equal(a, b, sizeof a);
	/* every coordinate, including the high words of seed and image */
	const uint64_t seeds[] = { 8, 7 + (1ULL << 32) };
	for (int i = 0; i < 2; i++) {
		stream(seeds[i], 1, 2, 3, 4, b, W);
		assert_memory_not_equal(a, b, sizeof a);
	}
	stream(7, 0, 2, 3, 4, b, W);
	assert_memory_not_equal(a, b, sizeof a);
	stream(7, 1, 3, 3, 4, b, W);
	assert_memory_not_equal(a, b, sizeof a);
	stream(7, 1, 2, 3 | BO_RNG_WEIGHT, 4, b, W);
	assert_memory_not_equal(a, b, sizeof a);
	stream(7, 1, 2, 3, 5, b, W);
	assert_memory_not_equal(a, b, sizeof a);
	stream(7, 1, 2, 3, 4 + (1ULL << 32), b, W);
	assert_memory_not_equal(a, b, sizeof a);
	/* swapped coordinates are different streams too */
	stream(7, 1, 3, 2, 4, b, W);
	assert_memory_not_equal(a, b, sizeof a);
	stream(7, 1, 2, 4, 3, b, W);
	assert_memory_not_equal(a, b, sizeof a);
	/* no word of 64 small streams repeats another's first block */
	uint32_t first[64];
	for (uint32_t i = 0; i < 64; i++) {
		stream(7, i & 3, (i >> 2) & 3, (i >> 4) & 3, 0, b, 1);
		first[i] = b[0];
		for (uint32_t j = 0; j < i; j++)
			assert_true(first[j] != first[i]);
	}
}

static void test_rng_uniform(void **state)
{
	(void)state;
	/* the extremes of the formula */
	struct bo_rng r;
	bo_rng_init(&r, 1, 0, 0, 0, 0);
	memset(r.buf, 0, sizeof r.buf);
	r.left = 4;
	double u = bo_rng_uniform(&r);
	assert_true(u == ldexp(1.0, -53));
	memset(r.buf, 0xff, sizeof r.buf);
	r.left = 4;
	u = bo_rng_uniform(&r);
	assert_true(u == 1.0);

	/* a million draws: in (0, 1], mean and 100-bin chi-square */
	enum { N = 1000000, BINS = 100 };
	static int64_t hist[BINS];
	memset(hist, 0, sizeof hist);
	double sum = 0.0, mn = 2.0, mx = -1.0;
	bo_rng_init(&r, 2024, 1, 2, 3, 4);
	for (int i = 0; i < N; i++) {
		u = bo_rng_uniform(&r);
		assert_true(u > 0.0 && u <= 1.0);
		sum += u;
		mn = u < mn ? u : mn;
		mx = u > mx ? u : mx;
		int bin = (int)((1.0 - u) * BINS); /* 1 - u in [0, 1) */
		hist[bin]++;
	}
	double mean = sum / N;
	assert_true(fabs(mean - 0.5) < 5.0 * sqrt(1.0 / 12.0 / N));
	assert_true(mn < 1e-5 && mx > 1.0 - 1e-5);
	double chi = 0.0, e = (double)N / BINS;
	for (int i = 0; i < BINS; i++)
		chi += ((double)hist[i] - e) * ((double)hist[i] - e) / e;
	/* df = 99: mean 99, sd 14.1 */
	assert_true(chi > 99.0 - 6.0 * 14.1 && chi < 99.0 + 6.0 * 14.1);
}

static void test_rng_words(void **state)
{
	(void)state;
	enum { N = 1000000 };
	static int64_t bytes[4][256];
	int64_t bitcount[32] = { 0 };
	memset(bytes, 0, sizeof bytes);
	struct bo_rng r;
	bo_rng_init(&r, 99, 5, 6, 7 | BO_RNG_WEIGHT, 0);
	double sum = 0.0;
	for (int i = 0; i < N; i++) {
		uint32_t w = bo_rng_u32(&r);
		sum += w;
		for (int k = 0; k < 4; k++)
			bytes[k][(w >> (8 * k)) & 0xff]++;
		for (int k = 0; k < 32; k++)
			bitcount[k] += (w >> k) & 1u;
	}
	/* mean of a uniform 32-bit word: 2^31 - 0.5, sd 2^32 / sqrt(12 N) */
	double mean = sum / N;
	assert_true(fabs(mean - 2147483647.5) < 5.0 * 4294967296.0 / sqrt(12.0 * N));
	for (int k = 0; k < 32; k++) {
		char what[32];
		snprintf(what, sizeof what, "bit %d", k);
		check_binomial(what, bitcount[k], N, 0.5);
	}
	/* chi-square of each byte lane, df = 255: mean 255, sd 22.6 */
	for (int k = 0; k < 4; k++) {
		double chi = 0.0, e = N / 256.0;
		for (int v = 0; v < 256; v++)
			chi += ((double)bytes[k][v] - e) * ((double)bytes[k][v] - e) / e;
		if (!(chi > 255.0 - 6.0 * 22.6 && chi < 255.0 + 6.0 * 22.6))
			fail_msg("byte lane %d: chi-square %.1f", k, chi);
	}
}

/* ---- the sampler ---- */

/* Words drawn from r since bo_rng_init. */
static int64_t words_drawn(const struct bo_rng *r)
{
	return (int64_t)r->ctr[0] * 4 - r->left;
}

/* Unsigned q = 2^(B-1) - 1 everywhere: every cell visible (see the top). */
static void bm_stats_unsigned(int bits, double p, uint64_t seed)
{
	const int cells = bits - 1;
	const int32_t top = (1 << (bits - 1)) - 1;
	const struct bo_stored st = { 1.0f, bits, 1 };
	float *x = alloc_floats(N_STAT);
	for (int i = 0; i < N_STAT; i++)
		x[i] = (float)top;
	struct bo_rng r;
	bo_rng_init(&r, seed, 1, 2, 3, 4);
	int64_t changed = bo_inject(BO_DEV_BM, p, &st, x, N_STAT, &r, NULL);
	int64_t per_bit[16] = { 0 }, mult[8] = { 0 }, region[10] = { 0 }, faults = 0, nch = 0;
	int64_t last_cell = -1;
	for (int i = 0; i < N_STAT; i++) {
		int32_t q2 = bo_quantize(x[i], 1.0f, bits, 1);
		assert_true(x[i] == (float)q2); /* an integer: scale 1, x = q */
		assert_true(q2 >= 0 && q2 <= top);
		uint32_t f = (uint32_t)(top & ~q2);
		int k = __builtin_popcount(f);
		mult[k < 3 ? k : 3]++;
		faults += k;
		nch += k > 0;
		region[i / (N_STAT / 10)] += k;
		for (int b = 0; b < bits; b++)
			per_bit[b] += (f >> b) & 1u;
		if (f)
			last_cell = (int64_t)i * cells + (31 - __builtin_clz(f));
	}
	assert_int_equal(changed, nch);
	assert_int_equal(per_bit[bits - 1], 0); /* the sign cell is never faulty */
	char what[64];
	for (int b = 0; b < cells; b++) {
		snprintf(what, sizeof what, "B=%d p=%g unsigned bit %d", bits, p, b);
		check_binomial(what, per_bit[b], N_STAT, p);
	}
	snprintf(what, sizeof what, "B=%d p=%g unsigned total", bits, p);
	check_binomial(what, faults, (double)N_STAT * cells, p);
	for (int j = 0; j < 10; j++) {
		snprintf(what, sizeof what, "B=%d p=%g region %d", bits, p, j);
		check_binomial(what, region[j], (double)N_STAT / 10 * cells, p);
	}
	/* faulty cells per value: Binomial(cells, p) -> 0, 1, 2, >= 3 */
	double p0 = pow(1 - p, cells), p1 = cells * p * pow(1 - p, cells - 1);
	double p2 = cells * (cells - 1) / 2.0 * p * p * pow(1 - p, cells - 2);
	const double pk[4] = { p0, p1, p2, 1.0 - p0 - p1 - p2 };
	for (int k = 0; k < 4; k++) {
		snprintf(what, sizeof what, "B=%d p=%g values with %d faults", bits, p, k);
		check_binomial(what, mult[k], N_STAT, pk[k] > 0 ? pk[k] : 0);
	}
	/* cost: one uniform (one word) per fault, plus the one that runs past
	 * the end unless the very last cell was faulty */
	int64_t total = (int64_t)N_STAT * cells;
	int64_t want = (faults + (last_cell == total - 1 ? 0 : 1));
	assert_int_equal(words_drawn(&r), want);
	free(x);
}

/* Signed q = -2^(B-1) everywhere: faulty sign <=> q' = 0 (see the top). */
static void bm_stats_signed(int bits, double p, uint64_t seed)
{
	const int32_t lo = -(1 << (bits - 1)), low = (1 << (bits - 1)) - 1;
	const struct bo_stored st = { 1.0f, bits, 0 };
	float *x = alloc_floats(N_STAT);
	for (int i = 0; i < N_STAT; i++)
		x[i] = (float)lo;
	struct bo_rng r;
	bo_rng_init(&r, seed, 9, 8, 7, 6);
	int64_t changed = bo_inject(BO_DEV_BM, p, &st, x, N_STAT, &r, NULL);
	int64_t per_bit[16] = { 0 }, nch = 0;
	for (int i = 0; i < N_STAT; i++) {
		int32_t q2 = bo_quantize(x[i], 1.0f, bits, 0);
		assert_true(x[i] == (float)q2);
		assert_true(q2 <= 0); /* towards zero, never positive */
		nch += q2 != lo;
		if (q2 == 0) {
			per_bit[bits - 1]++;
			continue;
		}
		uint32_t f = (uint32_t)q2 & (uint32_t)low;
		for (int b = 0; b < bits - 1; b++)
			per_bit[b] += (f >> b) & 1u;
	}
	assert_int_equal(changed, nch);
	char what[64];
	snprintf(what, sizeof what, "B=%d p=%g signed sign bit", bits, p);
	check_binomial(what, per_bit[bits - 1], N_STAT, p);
	int64_t visible = 0;
	for (int b = 0; b < bits - 1; b++) {
		snprintf(what, sizeof what, "B=%d p=%g signed bit %d", bits, p, b);
		check_binomial(what, per_bit[b], N_STAT, p * (1 - p));
		visible += per_bit[b];
	}
	snprintf(what, sizeof what, "B=%d p=%g signed total", bits, p);
	check_binomial(what, visible, (double)N_STAT * (bits - 1), p * (1 - p));
	free(x);
}

static void test_bm_statistics(void **state)
{
	(void)state;
	const double ps[] = { 1e-3, 1e-2, 0.2 };
	const int bs[] = { 8, 4 };
	uint64_t seed = 1000;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++) {
			bm_stats_unsigned(bs[j], ps[i], seed++);
			bm_stats_signed(bs[j], ps[i], seed++);
		}
}

/* Random signed and unsigned tensors, on and off the quantisation grid. */
static void test_bm_towards_zero(void **state)
{
	(void)state;
	enum { N = 100000 };
	float *x = alloc_floats(N), *y = alloc_floats(N);
	const int bs[] = { 8, 4 };
	for (int bi = 0; bi < 2; bi++) {
		for (int uns = 0; uns <= 1; uns++) {
			const int bits = bs[bi];
			const int32_t hi = (1 << (bits - 1)) - 1, lo = uns ? 0 : -hi - 1;
			const float m = 0.8372f;
			const struct bo_stored st = { bo_quant_scale(m, bits), bits, uns };
			const float s = st.scale;
			/* on the grid: x = q s, q' recovered exactly */
			for (int i = 0; i < N; i++) {
				int32_t q = lo + (int32_t)(xorshift() % (uint64_t)(hi - lo + 1));
				x[i] = y[i] = (float)q * s;
			}
			struct bo_rng r;
			bo_rng_init(&r, 77, (uint32_t)bits, (uint32_t)uns, 0, 0);
			int64_t changed = bo_inject(BO_DEV_BM, 0.05, &st, y, N, &r, NULL);
			int64_t nch = 0;
			for (int i = 0; i < N; i++) {
				int32_t q = bo_quantize(x[i], s, bits, uns);
				int32_t q2 = bo_quantize(y[i], s, bits, uns);
				assert_true(fabsf(y[i] - (float)q2 * s) <= 1e-5f * s * (float)(hi + 1));
				assert_true(iabs32(q2) <= iabs32(q));
				assert_true(q2 == 0 || (q2 < 0) == (q < 0));
				if (uns)
					assert_true(y[i] >= 0.0f); /* unsigned never negative */
				if (q2 != q) {
					nch++;
					int reachable = 0;
					for (uint32_t mk = 1; mk < (1u << bits) && !reachable; mk++)
						reachable = bo_bm_apply(q, mk, bits, uns) == q2;
					assert_true(reachable);
				} else {
					assert_true(memcmp(&x[i], &y[i], sizeof(float)) == 0);
				}
			}
			assert_int_equal(changed, nch);
			assert_true(nch > N / 20);
			/* off the grid: |x'| <= |x| and never across 0 (the
			 * rounding residual would cross by up to half a step) */
			for (int i = 0; i < N; i++)
				x[i] = y[i] = (float)((double)(xorshift() >> 11) / 9007199254740992.0 *
						      2.0 - (uns ? 0.0 : 1.0)) * m;
			bo_rng_init(&r, 78, (uint32_t)bits, (uint32_t)uns, 0, 0);
			changed = bo_inject(BO_DEV_BM, 0.05, &st, y, N, &r, NULL);
			nch = 0;
			for (int i = 0; i < N; i++) {
				nch += memcmp(&x[i], &y[i], sizeof(float)) != 0;
				assert_true(fabsf(y[i]) <= fabsf(x[i]));
				assert_false(y[i] * x[i] < 0.0f);
				if (uns)
					assert_true(y[i] >= 0.0f);
				int32_t q = bo_quantize(x[i], s, bits, uns);
				if (q == 0)
					assert_true(x[i] == y[i]); /* nothing to move */
			}
			assert_int_equal(changed, nch);
		}
	}
	free(x);
	free(y);
}

static void test_erasure_statistics(void **state)
{
	(void)state;
	const double ps[] = { 1e-3, 1e-2, 0.3 };
	float *x = alloc_floats(N_STAT);
	const struct bo_stored st = { 0.01f, 8, 0 };
	for (int k = 0; k < 3; k++) {
		for (int i = 0; i < N_STAT; i++)
			x[i] = (i & 1) ? 0.5f + (float)i * 1e-6f : -1.0f;
		struct bo_rng r;
		bo_rng_init(&r, 555, (uint32_t)k, 0, 0, 0);
		int64_t changed = bo_inject(BO_DEV_ERASURE, ps[k], &st, x, N_STAT, &r, NULL);
		int64_t zeros = 0, region[10] = { 0 };
		for (int i = 0; i < N_STAT; i++) {
			if (x[i] == 0.0f) {
				zeros++;
				region[i / (N_STAT / 10)]++;
			} else {
				assert_true(x[i] == ((i & 1) ? 0.5f + (float)i * 1e-6f : -1.0f));
			}
		}
		assert_int_equal(changed, zeros);
		char what[64];
		snprintf(what, sizeof what, "erasure p=%g", ps[k]);
		check_binomial(what, zeros, N_STAT, ps[k]);
		for (int j = 0; j < 10; j++) {
			snprintf(what, sizeof what, "erasure p=%g region %d", ps[k], j);
			check_binomial(what, region[j], N_STAT / 10, ps[k]);
		}
		assert_true(words_drawn(&r) == zeros + 1 || words_drawn(&r) == zeros);
	}
	/* values already 0 are not counted, and stay as they are */
	for (int i = 0; i < 1000; i++)
		x[i] = (i % 3) ? 0.0f : -0.0f;
	struct bo_rng r;
	bo_rng_init(&r, 1, 0, 0, 0, 0);
	assert_int_equal(bo_inject(BO_DEV_ERASURE, 1.0, &st, x, 1000, &r, NULL), 0);
	for (int i = 0; i < 1000; i++)
		assert_true((signbit(x[i]) != 0) == (i % 3 == 0));
	free(x);
}

static void test_p_extremes(void **state)
{
	(void)state;
	enum { N = 4096 };
	float x[N], y[N];
	for (int bits = BO_MIN_BITS; bits <= BO_MAX_BITS; bits++) {
		for (int uns = 0; uns <= 1; uns++) {
			const struct bo_stored st = { bo_quant_scale(3.7f, bits), bits, uns };
			const int32_t hi = (1 << (bits - 1)) - 1, lo = uns ? 0 : -hi - 1;
			int64_t nonzero = 0;
			for (int i = 0; i < N; i++) {
				int32_t q = lo + (int32_t)(xorshift() % (uint64_t)(hi - lo + 1));
				x[i] = (float)q * st.scale;
				nonzero += q != 0;
			}
			/* p = 1 (and beyond): every cell faulty. Signed: the sign cell
			 * gives 0; unsigned: every bit cleared. On the grid: exactly 0. */
			const double p1[] = { 1.0, 2.0, INFINITY };
			for (int k = 0; k < 3; k++) {
				memcpy(y, x, sizeof x);
				struct bo_rng r, r0;
				bo_rng_init(&r, 3, 0, 0, 0, 0);
				r0 = r;
				assert_int_equal(bo_inject(BO_DEV_BM, p1[k], &st, y, N, &r, NULL),
						 nonzero);
				for (int i = 0; i < N; i++)
					assert_true(y[i] == 0.0f);
				assert_memory_equal(&r, &r0, sizeof r); /* nothing drawn */
			}
			/* p <= 0 or NaN: nothing changes, nothing drawn */
			const double p0[] = { 0.0, -0.5, -INFINITY, NAN };
			for (int dev = 0; dev <= 1; dev++)
				for (int k = 0; k < 4; k++) {
					memcpy(y, x, sizeof x);
					struct bo_rng r, r0;
					bo_rng_init(&r, 3, 0, 0, 0, 0);
					r0 = r;
					assert_int_equal(bo_inject((enum bo_deviation)dev, p0[k], &st, y,
								   N, &r, NULL),
							 0);
					assert_memory_equal(x, y, sizeof x);
					assert_memory_equal(&r, &r0, sizeof r);
				}
		}
	}
	/* off the grid, p = 1 signed leaves only the rounding residual, or 0
	 * where the residual is on the other side of zero */
	const struct bo_stored st = { 0.1f, 8, 0 };
	for (int i = 0; i < N; i++)
		x[i] = y[i] = (float)((double)(xorshift() >> 11) / 9007199254740992.0 * 25.4 - 12.7);
	struct bo_rng r;
	bo_rng_init(&r, 4, 0, 0, 0, 0);
	bo_inject(BO_DEV_BM, 1.0, &st, y, N, &r, NULL);
	for (int i = 0; i < N; i++) {
		float res = x[i] - (float)bo_quantize(x[i], 0.1f, 8, 0) * 0.1f;
		if (res * x[i] < 0.0f)
			res = 0.0f;
		assert_true(fabsf(y[i]) <= 0.5f * 0.1f * 1.0001f);
		assert_true(fabsf(y[i] - res) <= 1e-6f);
	}
	/* a value far beyond the scale's range: q clamps to 127, q' = 0, but
	 * x - 127 s rounds back to x in float: not changed, not counted */
	const struct bo_stored one = { 1.0f, 8, 0 };
	float big[3] = { 1e12f, -1e12f, 100.0f };
	bo_rng_init(&r, 4, 0, 0, 0, 0);
	assert_int_equal(bo_inject(BO_DEV_BM, 1.0, &one, big, 3, &r, NULL), 1);
	assert_true(big[0] == 1e12f && big[1] == -1e12f && big[2] == 0.0f);
	/* erasure p = 1: every non-zero value */
	for (int i = 0; i < N; i++)
		y[i] = (float)(i % 5);
	bo_rng_init(&r, 5, 0, 0, 0, 0);
	assert_int_equal(bo_inject(BO_DEV_ERASURE, 1.0, &st, y, N, &r, NULL), N - N / 5 - 1);
	for (int i = 0; i < N; i++)
		assert_true(y[i] == 0.0f);
}

static void test_scale_zero(void **state)
{
	(void)state;
	enum { N = 1000 };
	float x[N], y[N];
	for (int i = 0; i < N; i++)
		x[i] = y[i] = (float)i - 500.5f;
	const float scales[] = { 0.0f, -1.0f, NAN, INFINITY };
	for (int k = 0; k < 4; k++)
		for (int dev = 0; dev <= 1; dev++)
			for (int uns = 0; uns <= 1; uns++) {
				const struct bo_stored st = { scales[k], 8, uns };
				struct bo_rng r, r0;
				bo_rng_init(&r, 6, 0, 0, 0, 0);
				r0 = r;
				assert_int_equal(
					bo_inject((enum bo_deviation)dev, 1.0, &st, y, N, &r, NULL), 0);
				assert_int_equal(
					bo_inject((enum bo_deviation)dev, 0.3, &st, y, N, &r, NULL), 0);
				assert_memory_equal(x, y, sizeof x);
				assert_memory_equal(&r, &r0, sizeof r);
			}
	/* bo_quant_scale(0) is such a scale */
	const struct bo_stored st = { bo_quant_scale(0.0f, 8), 8, 0 };
	struct bo_rng r;
	bo_rng_init(&r, 6, 0, 0, 0, 0);
	assert_int_equal(bo_inject(BO_DEV_BM, 1.0, &st, y, N, &r, NULL), 0);
	assert_memory_equal(x, y, sizeof x);
}

static int64_t inject_with(uint64_t seed, uint32_t point, uint32_t trial, uint32_t tensor,
			   uint64_t image, enum bo_deviation dev, float *y, const float *x, int64_t n)
{
	const struct bo_stored st = { bo_quant_scale(1.0f, 8), 8, 0 };
	struct bo_rng r;
	memcpy(y, x, (size_t)n * sizeof *y);
	bo_rng_init(&r, seed, point, trial, tensor, image);
	return bo_inject(dev, 0.01, &st, y, n, &r, NULL);
}

static void test_inject_reproducible(void **state)
{
	(void)state;
	enum { N = 10000 };
	float *x = alloc_floats(N), *a = alloc_floats(N), *b = alloc_floats(N);
	for (int i = 0; i < N; i++)
		x[i] = (float)((double)(xorshift() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
	for (int dev = 0; dev <= 1; dev++) {
		enum bo_deviation d = (enum bo_deviation)dev;
		int64_t ca = inject_with(1, 2, 3, 4, 5, d, a, x, N);
		assert_true(ca > 0);
		assert_int_equal(inject_with(1, 2, 3, 4, 5, d, b, x, N), ca);
		assert_memory_equal(a, b, N * sizeof(float));
		inject_with(9, 2, 3, 4, 5, d, b, x, N);
		assert_memory_not_equal(a, b, N * sizeof(float));
		inject_with(1, 9, 3, 4, 5, d, b, x, N);
		assert_memory_not_equal(a, b, N * sizeof(float));
		inject_with(1, 2, 9, 4, 5, d, b, x, N);
		assert_memory_not_equal(a, b, N * sizeof(float));
		inject_with(1, 2, 3, 9, 5, d, b, x, N);
		assert_memory_not_equal(a, b, N * sizeof(float));
		inject_with(1, 2, 3, 4, 9, d, b, x, N);
		assert_memory_not_equal(a, b, N * sizeof(float));
		/* two halves injected from one continuing stream differ from one
		 * call over the whole: the stream position matters, as intended;
		 * but the same split is reproducible */
		const struct bo_stored st = { bo_quant_scale(1.0f, 8), 8, 0 };
		struct bo_rng r;
		memcpy(b, x, N * sizeof(float));
		bo_rng_init(&r, 1, 2, 3, 4, 5);
		int64_t c1 = bo_inject(d, 0.01, &st, b, N / 2, &r, NULL);
		int64_t c2 = bo_inject(d, 0.01, &st, b + N / 2, N / 2, &r, NULL);
		memcpy(a, x, N * sizeof(float));
		bo_rng_init(&r, 1, 2, 3, 4, 5);
		assert_int_equal(bo_inject(d, 0.01, &st, a, N / 2, &r, NULL), c1);
		assert_int_equal(bo_inject(d, 0.01, &st, a + N / 2, N / 2, &r, NULL), c2);
		assert_memory_equal(a, b, N * sizeof(float));
	}
	free(x);
	free(a);
	free(b);
}

static void test_undo(void **state)
{
	(void)state;
	enum { N = 50000 };
	float *x = alloc_floats(N), *y = alloc_floats(N);
	for (int i = 0; i < N; i++)
		x[i] = y[i] = (float)((double)(xorshift() >> 11) / 9007199254740992.0 * 6.0 - 3.0);
	const struct bo_stored st = { bo_quant_scale(3.0f, 8), 8, 0 };
	struct bo_undo u = { 0 };
	struct bo_rng r;
	for (int round = 0; round < 3; round++) {
		bo_rng_init(&r, 10, 0, (uint32_t)round, 0 | BO_RNG_WEIGHT, 0);
		/* BM then erasure into the same values: some change twice */
		int64_t c1 = bo_inject(BO_DEV_BM, 0.02, &st, y, N, &r, &u);
		assert_true(c1 > 1000);
		assert_int_equal(u.n, c1);
		for (int64_t k = 0; k < u.n; k++) {
			assert_true(u.index[k] >= 0 && u.index[k] < N);
			assert_true(memcmp(&u.old[k], &x[u.index[k]], sizeof(float)) == 0);
			assert_true(k == 0 || u.index[k] > u.index[k - 1]); /* in order, once */
		}
		int64_t c2 = bo_inject(BO_DEV_ERASURE, 0.3, &st, y, N, &r, &u);
		assert_true(c2 > 1000);
		assert_int_equal(u.n, c1 + c2);
		assert_true(u.cap >= u.n);
		assert_memory_not_equal(x, y, N * sizeof(float));
		int64_t cap = u.cap;
		bo_undo_apply(&u, y);
		assert_int_equal(u.n, 0);
		assert_int_equal(u.cap, cap); /* kept for the next trial */
		assert_memory_equal(x, y, N * sizeof(float));
	}
	/* without a log nothing is recorded, the result is the same */
	float *z = alloc_floats(N);
	memcpy(z, x, N * sizeof(float));
	bo_rng_init(&r, 11, 0, 0, 0, 0);
	int64_t c = bo_inject(BO_DEV_BM, 0.02, &st, z, N, &r, NULL);
	bo_rng_init(&r, 11, 0, 0, 0, 0);
	assert_int_equal(bo_inject(BO_DEV_BM, 0.02, &st, y, N, &r, &u), c);
	assert_memory_equal(y, z, N * sizeof(float));
	bo_undo_apply(&u, y);
	assert_memory_equal(x, y, N * sizeof(float));
	bo_undo_release(&u);
	assert_int_equal(u.n, 0);
	assert_int_equal(u.cap, 0);
	assert_null(u.index);
	assert_null(u.old);
	bo_undo_release(&u);  /* twice is fine */
	bo_undo_release(NULL);
	bo_undo_apply(NULL, y);
	free(x);
	free(y);
	free(z);
}

#ifndef UNDER_ASAN
/* Total virtual memory of this process, from /proc/self/statm. */
static long vm_bytes(void)
{
	long pages = -1;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld", &pages) != 1)
			pages = -1;
		fclose(f);
	}
	return pages < 0 ? -1 : pages * 4096L;
}
#endif

/* When the log cannot grow, bo_inject puts back what it changed in this
 * call, keeps the entries of earlier calls, and returns -1. Allocation
 * failure comes from a lowered RLIMIT_AS (not under ASan, whose allocator
 * aborts instead of returning NULL). */
static void test_undo_enomem(void **state)
{
	(void)state;
#ifdef UNDER_ASAN
	skip();
#else
	enum { SMALL = 1000, BIG = 1 << 22 };
	float *a = alloc_floats(SMALL), *a0 = alloc_floats(SMALL);
	float *b = alloc_floats(BIG), *b0 = alloc_floats(BIG);
	for (int i = 0; i < SMALL; i++)
		a[i] = a0[i] = 1.0f + (float)i;
	for (int i = 0; i < BIG; i++)
		b[i] = b0[i] = 2.0f + (float)(i & 1023);
	const struct bo_stored st = { 1.0f, 8, 0 };
	struct bo_undo u = { 0 };
	struct bo_rng r;
	bo_rng_init(&r, 12, 0, 0, 0, 0);
	int64_t c1 = bo_inject(BO_DEV_ERASURE, 0.5, &st, a, SMALL, &r, &u);
	assert_true(c1 > 0);
	assert_int_equal(u.n, c1);

	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
	long vm = vm_bytes();
	assert_true(vm > 0);
	lim = old;
	lim.rlim_cur = (rlim_t)vm + (rlim_t)(8L << 20); /* the log needs ~48 MiB */
	if (old.rlim_max != RLIM_INFINITY && lim.rlim_cur > old.rlim_max)
		skip();
	assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
	bo_rng_init(&r, 13, 0, 0, 0, 0);
	int64_t c2 = bo_inject(BO_DEV_ERASURE, 1.0, &st, b, BIG, &r, &u);
	assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
	assert_int_equal(c2, -1);
	assert_memory_equal(b, b0, (size_t)BIG * sizeof(float)); /* reverted */
	assert_int_equal(u.n, c1);                                 /* earlier entries kept */
	bo_undo_apply(&u, a);
	assert_memory_equal(a, a0, SMALL * sizeof(float));
	/* with memory back, the same call succeeds */
	bo_rng_init(&r, 13, 0, 0, 0, 0);
	assert_int_equal(bo_inject(BO_DEV_ERASURE, 1.0, &st, b, BIG, &r, &u), BIG);
	bo_undo_apply(&u, b);
	assert_memory_equal(b, b0, (size_t)BIG * sizeof(float));
	bo_undo_release(&u);
	free(a);
	free(a0);
	free(b);
	free(b0);
#endif
}

static void test_bad_args(void **state)
{
	(void)state;
	float x[4] = { 1, 2, 3, 4 };
	const struct bo_stored st = { 1.0f, 8, 0 };
	struct bo_rng r;
	bo_rng_init(&r, 1, 0, 0, 0, 0);
	assert_int_equal(bo_inject(BO_DEV_BM, 0.5, NULL, x, 4, &r, NULL), -1);
	assert_int_equal(bo_inject(BO_DEV_BM, 0.5, &st, x, 4, NULL, NULL), -1);
	assert_int_equal(bo_inject(BO_DEV_BM, 0.5, &st, NULL, 4, &r, NULL), -1);
	assert_int_equal(bo_inject(BO_DEV_BM, 0.5, &st, x, -1, &r, NULL), -1);
	assert_int_equal(bo_inject((enum bo_deviation)5, 0.5, &st, x, 4, &r, NULL), -1);
	assert_int_equal(bo_inject((enum bo_deviation)5, 0.0, &st, x, 4, &r, NULL), -1);
	assert_int_equal(bo_inject(BO_DEV_BM, 0.5, &st, NULL, 0, &r, NULL), 0);
	const struct bo_stored bad = { 1.0f, 1, 0 };
	assert_int_equal(bo_inject(BO_DEV_BM, 1.0, &bad, x, 4, &r, NULL), 0);
	assert_true(x[0] == 1 && x[1] == 2 && x[2] == 3 && x[3] == 4);
	assert_int_equal(bo_bm_apply(5, 1, 1, 0), 5);
	assert_int_equal(bo_bm_apply(5, 1, 17, 0), 5);
}

/* ---- the batched sampler ---- */

static void test_philox_blocks(void **state)
{
	(void)state;
	if (!Bo_fault_have_avx2())
		print_message("no AVX2 here: the AVX2 path runs the portable kernel\n");
	const uint32_t keys[3][2] = { { 0, 0 }, { 0xdeadbeefu, 0x12345678u }, { ~0u, 1u } };
	const uint32_t ctrs[3][4] = { { 0, 0, 0, 0 }, { 5, 7, 0x80000003u, 11 }, { 0, ~0u, 1, 2 } };
	/* the draw counter wraps at 2^32 like bo_rng_u32's */
	const uint32_t firsts[4] = { 0, 1, 0xfffffffau, 123456789u };
	uint32_t a[4 * 41], b[4 * 41];
	for (int ki = 0; ki < 3; ki++)
		for (int ci = 0; ci < 3; ci++)
			for (int fi = 0; fi < 4; fi++)
				for (int nb = 0; nb <= 41; nb++) {
					memset(a, 0xa5, sizeof a);
					memset(b, 0x5a, sizeof b);
					Bo_philox_blocks(keys[ki], ctrs[ci], firsts[fi], nb, a,
							 BO_FAULT_PORTABLE);
					Bo_philox_blocks(keys[ki], ctrs[ci], firsts[fi], nb, b,
							 BO_FAULT_AVX2);
					philox4x32_key_t k = { { keys[ki][0], keys[ki][1] } };
					for (int j = 0; j < nb; j++) {
						philox4x32_ctr_t c = { { firsts[fi] + (uint32_t)j,
									 ctrs[ci][1], ctrs[ci][2],
									 ctrs[ci][3] } };
						philox4x32_ctr_t d = philox4x32(c, k);
						for (int w = 0; w < 4; w++) {
							assert_int_equal(a[4 * j + w], d.v[w]);
							assert_int_equal(b[4 * j + w], d.v[w]);
						}
					}
					/* nothing written past the last block */
					for (int j = 4 * nb; j < 4 * 41; j++) {
						assert_int_equal(a[j], 0xa5a5a5a5u);
						assert_int_equal(b[j], 0x5a5a5a5au);
					}
				}
	/* the same words bo_rng_u32 hands out */
	struct bo_rng r;
	bo_rng_init(&r, 42, 3, 4, 5, 6);
	Bo_philox_blocks(r.key, r.ctr, 0, 40, b, BO_FAULT_AVX2);
	for (int j = 0; j < 160; j++)
		assert_int_equal(bo_rng_u32(&r), b[j]);
}

static double libm_gap(uint32_t w, double inv)
{
	return floor(log(((double)w + 0.5) * 0x1p-32) * inv);
}

/* Gaps of n words on both batched paths against libm, word by word. */
static void check_gaps(const uint32_t *w, int n, double inv, double p)
{
	double *a = malloc(((size_t)n + 4) * sizeof *a), *b = malloc(((size_t)n + 4) * sizeof *b);
	assert_non_null(a);
	assert_non_null(b);
	Bo_fault_gaps(w, n, inv, a, BO_FAULT_PORTABLE);
	Bo_fault_gaps(w, n, inv, b, BO_FAULT_AVX2);
	for (int k = 0; k < n; k++) {
		double want = libm_gap(w[k], inv);
		if (a[k] != want || b[k] != want)
			fail_msg("p %g word %#010x: portable %.17g avx2 %.17g libm %.17g", p, w[k],
				 a[k], b[k], want);
	}
	free(a);
	free(b);
}

static void test_gaps(void **state)
{
	(void)state;
	const double ps[] = { 1e-300, 1e-15, 1e-9, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 0.9, 1 - 1e-9 };
	enum { N = 1 << 16, B = 4096 };
	uint32_t *w = malloc((N + 4) * sizeof *w);
	assert_non_null(w);
	for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++) {
		double inv = 1.0 / log1p(-ps[pi]);
		/* the extremes of u, then random words */
		const uint32_t edge[8] = { 0, 1, 2, 0x7fffffffu, 0x80000000u, 0xb504f333u,
					   0xfffffffeu, 0xffffffffu };
		for (int k = 0; k < 8; k++)
			w[k] = edge[k];
		for (int k = 8; k < N; k++)
			w[k] = (uint32_t)(xorshift() >> 32);
		for (int n = 0; n <= 9; n++) /* lengths not a multiple of 4 */
			check_gaps(w, n, inv, ps[pi]);
		check_gaps(w, N, inv, ps[pi]);
		/* where the gap changes: the word w with gap(w) != gap(w + 1)
		 * lies next to an integer product, the case the error bound
		 * must send to libm. Gaps fall as w grows; for each of the
		 * first B gaps g, find by bisection the last word with gap >= g. */
		int m = 0;
		for (int g = 1; g <= B && m + 4 <= N; g++) {
			uint32_t lo = 0, hi = 0xffffffffu;
			if (libm_gap(lo, inv) < g)
				break; /* no word gives a gap this long */
			if (libm_gap(hi, inv) >= g)
				continue;
			while (hi - lo > 1) {
				uint32_t mid = lo + (hi - lo) / 2;
				if (libm_gap(mid, inv) >= g)
					lo = mid;
				else
					hi = mid;
			}
			w[m++] = lo - 1;
			w[m++] = lo;
			w[m++] = hi;
			w[m++] = hi == 0xffffffffu ? hi : hi + 1;
		}
		check_gaps(w, m, inv, ps[pi]);
	}
	free(w);
}

/* One bo_inject call on each path from the same stream state: the same
 * result, values, undo log and stream position. */
static void check_paths(enum bo_deviation dev, double p, const struct bo_stored *st,
			const float *x, int64_t n, const struct bo_rng *r0, int64_t *changed)
{
	static const enum bo_fault_path paths[3] = { BO_FAULT_REFERENCE, BO_FAULT_PORTABLE,
						     BO_FAULT_AVX2 };
	float *y[3];
	struct bo_rng r[3];
	struct bo_undo u[3];
	int64_t ret[3];
	for (int k = 0; k < 3; k++) {
		y[k] = alloc_floats(n ? n : 1);
		memcpy(y[k], x, (size_t)n * sizeof *x);
		r[k] = *r0;
		memset(&u[k], 0, sizeof u[k]);
		ret[k] = Bo_inject_path(paths[k], dev, p, st, y[k], n, &r[k], &u[k]);
	}
	for (int k = 1; k < 3; k++) {
		if (ret[k] != ret[0])
			fail_msg("dev %d p %g bits %d unsigned %d n %lld path %d: %lld changed, "
				 "reference %lld", (int)dev, p, st->bits, st->is_unsigned,
				 (long long)n, (int)paths[k], (long long)ret[k], (long long)ret[0]);
		assert_memory_equal(y[k], y[0], (size_t)n * sizeof *x);
		assert_int_equal(u[k].n, u[0].n);
		if (u[0].n) {
			assert_memory_equal(u[k].index, u[0].index, (size_t)u[0].n * sizeof(int64_t));
			assert_memory_equal(u[k].old, u[0].old, (size_t)u[0].n * sizeof(float));
		}
		assert_memory_equal(r[k].key, r[0].key, sizeof r[0].key);
		if (memcmp(r[k].ctr, r[0].ctr, sizeof r[0].ctr))
			fail_msg("dev %d p %g bits %d unsigned %d n %lld path %d: draw %u left %d, "
				 "reference %u left %d", (int)dev, p, st->bits, st->is_unsigned,
				 (long long)n, (int)paths[k], r[k].ctr[0], r[k].left, r[0].ctr[0],
				 r[0].left);
		assert_int_equal(r[k].left, r[0].left);
		/* the words still to come: what the stream hands out next */
		struct bo_rng ra = r[k], rb = r[0];
		for (int j = 0; j < 9; j++)
			assert_int_equal(bo_rng_u32(&ra), bo_rng_u32(&rb));
	}
	*changed += ret[0];
	for (int k = 0; k < 3; k++) {
		free(y[k]);
		bo_undo_release(&u[k]);
	}
}

static void test_inject_paths(void **state)
{
	(void)state;
	enum { N = 20000 };
	float *x = alloc_floats(N);
	/* a ReLU-like tensor: half zeros, on and off the grid, a few huge */
	for (int i = 0; i < N; i++) {
		double v = (double)(xorshift() >> 11) / 9007199254740992.0;
		x[i] = i % 2 ? 0.0f : (float)(v * 3.0 - (i % 3 == 0 ? 1.5 : 0.0));
	}
	x[10] = 1e30f;
	x[12] = -1e30f;
	x[14] = NAN;
	x[16] = -0.0f;
	const double ps[] = { 1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.5, 0.999, 1.0 };
	const int64_t ns[] = { 0, 1, 3, 17, 100, 2713, N };
	const int bits[] = { 2, 3, 8, 16 };
	int64_t changed = 0;
	for (int dev = 0; dev <= 1; dev++)
		for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++)
			for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
				for (int bi = 0; bi < 4; bi++)
					for (int uns = 0; uns <= 1; uns++)
						for (int pre = 0; pre <= 5; pre++) {
							/* pre words drawn before: a stream
							 * that starts inside a block */
							const struct bo_stored st = {
								bo_quant_scale(1.4f, bits[bi]),
								bits[bi], uns };
							struct bo_rng r;
							bo_rng_init(&r, 7 + pre, bo_rng_point(ps[pi]),
								    (uint32_t)bi, (uint32_t)ni,
								    (uint64_t)dev);
							for (int j = 0; j < pre; j++)
								(void)bo_rng_u32(&r);
							check_paths((enum bo_deviation)dev, ps[pi],
								    &st, x, ns[ni], &r, &changed);
						}
	assert_true(changed > 0);
	free(x);
}

/* FNV-1a over the bytes of a tensor after bo_inject. */
static uint64_t injected_hash(enum bo_deviation dev, double p, int bits, int uns, uint64_t seed)
{
	enum { N = 54272 };
	float *x = alloc_floats(N);
	g_xs = 0x9e3779b97f4a7c15ULL ^ seed;
	for (int i = 0; i < N; i++) {
		double v = (double)(xorshift() >> 11) / 9007199254740992.0;
		x[i] = uns ? (i % 2 ? 0.0f : (float)(v * 4.0)) : (float)(v * 4.0 - 2.0);
	}
	const struct bo_stored st = { bo_quant_scale(4.0f, bits), bits, uns };
	struct bo_rng r;
	bo_rng_init(&r, seed, bo_rng_point(p), 2, 3, 4);
	int64_t c = bo_inject(dev, p, &st, x, N, &r, NULL);
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *b = (const unsigned char *)x;
	for (size_t i = 0; i < N * sizeof *x; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	h = (h ^ (uint64_t)c) * 0x100000001b3ULL;
	h = (h ^ (uint64_t)(r.ctr[0] * 4u - (uint32_t)r.left)) * 0x100000001b3ULL;
	free(x);
	return h;
}

static void test_inject_golden(void **state)
{
	(void)state;
	/* taken from the sampler before batching (one word, one log() per
	 * fault): stored results must stay reproducible */
	struct {
		enum bo_deviation dev;
		double p;
		int bits, uns;
		uint64_t seed, hash;
	} cases[] = {
		{ BO_DEV_BM, 1e-2, 8, 1, 1, 0x001ac11e5d8e6dd7ULL },
		{ BO_DEV_BM, 1e-2, 8, 0, 2, 0xcbca5627fcf7a4c4ULL },
		{ BO_DEV_BM, 1e-3, 8, 1, 3, 0xbef2c5ddb77e681cULL },
		{ BO_DEV_BM, 0.1, 4, 0, 4, 0x3aac90f07b919696ULL },
		{ BO_DEV_BM, 3e-2, 16, 1, 5, 0x8c7dec870c29bedbULL },
		{ BO_DEV_ERASURE, 1e-2, 8, 0, 6, 0x2f20cc2a60fd6a4dULL },
		{ BO_DEV_ERASURE, 0.3, 8, 1, 7, 0x12b1d5d9c1ba4f2aULL },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		uint64_t h = injected_hash(cases[k].dev, cases[k].p, cases[k].bits, cases[k].uns,
					   cases[k].seed);
		if (h != cases[k].hash)
			fail_msg("case %zu: hash %#018llx, golden %#018llx", k,
				 (unsigned long long)h, (unsigned long long)cases[k].hash);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_quant_scale),
		cmocka_unit_test(test_quantize),
		cmocka_unit_test(test_bm_exhaustive),
		cmocka_unit_test(test_philox_layout),
		cmocka_unit_test(test_rng_streams),
		cmocka_unit_test(test_rng_uniform),
		cmocka_unit_test(test_rng_words),
		cmocka_unit_test(test_bm_statistics),
		cmocka_unit_test(test_bm_towards_zero),
		cmocka_unit_test(test_erasure_statistics),
		cmocka_unit_test(test_p_extremes),
		cmocka_unit_test(test_scale_zero),
		cmocka_unit_test(test_inject_reproducible),
		cmocka_unit_test(test_undo),
		cmocka_unit_test(test_undo_enomem),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_philox_blocks),
		cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_inject_paths),
		cmocka_unit_test(test_inject_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
