/* The batched fault sampler's kernels (issue 13, item 5): many Philox
 * blocks per call and many geometric gaps per call, in plain C and, picked
 * at run time, in AVX2.
 *
 * Design
 * ------
 * lib/fault.c draws a tensor's faults as a run of gaps, one 32-bit stream
 * word per gap: gap = floor(log((w + 0.5) 2^-32) * inv), inv = 1 /
 * log1p(-p). The reference path does one word, one Philox call, one log()
 * at a time, each fault waiting on the one before. The batched paths
 * produce the words of up to 32 Philox blocks and their gaps ahead of the
 * walk (fault.c hands back to the stream the words the walk did not use),
 * which lets these kernels work on many words at once:
 *
 * Philox. Bo_philox_blocks runs Philox4x32-10 on counters {first + b,
 * ctr[1], ctr[2], ctr[3]}. The AVX2 kernel keeps 8 blocks in 4 registers
 * (one per counter word, one block per 32-bit lane); the 32 x 32 -> 64-bit
 * products of a round are two _mm256_mul_epu32 per multiplier (even and odd
 * lanes), recombined into hi and lo words by blends; a 4 x 4 transpose per
 * 128-bit half puts the words back in stream order. Same integer
 * arithmetic as Random123's philox4x32, so the same words, bit for bit.
 *
 * Gaps. The result must be exactly what libm's log gives, since a gap
 * that differs by one cell moves a fault (and all later ones). The AVX2
 * kernel computes log(u) 4 lanes at a time without tables: u = 2^e m, m in
 * [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <=
 * 0.1716, by the odd series to s^21 (truncation below 1e-17 relative),
 * e ln 2 with ln 2 split in a 32-bit head (e * head exact) and a tail.
 * Its relative error is a few units of 2^-53; libm's log is within one
 * unit of the exact value, and so is the product by inv. So with
 * t = fast log * inv and e = t 2^-40 (about 1000 times both errors), the
 * exact and libm's values of the product lie in [t - e, t + e]; where
 * floor(t - e) = floor(t + e), that is the floor libm's value gives. Else
 * (a product within e of an integer: about 2e-10 of the gaps at p = 1e-2)
 * that lane calls libm's log. So the gaps are libm's gaps, always; the
 * fallback only costs time. u is never 0 or subnormal (u >= 2^-33).
 *
 * The portable kernels are the plain loops (Random123's philox4x32 and
 * libm's log), the reference the AVX2 ones are tested against
 * (tests/unit/test_fault.c: word for word, gap for gap, fault set for
 * fault set). AVX-512 would double the lanes; the machines this was built
 * on have none, so it is not written. */
#include <math.h>
#include <string.h>

#include <Random123/philox.h>

#include "internal.h"
#include "fault_impl.h"

#if BO_X86
#include <immintrin.h>
#endif

int Bo_fault_have_avx2(void)
{
#if BO_X86
	return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
	return 0;
#endif
}

static int use_avx2(enum bo_fault_path path)
{
	return (path == BO_FAULT_AUTO || path == BO_FAULT_AVX2) && Bo_fault_have_avx2();
}

/* ---- Philox blocks ---- */

static void philox_portable(const uint32_t key[2], const uint32_t ctr[4], uint32_t first,
			    int nblocks, uint32_t *out)
{
	philox4x32_key_t k = { { key[0], key[1] } };
	for (int b = 0; b < nblocks; b++) {
		philox4x32_ctr_t c = { { first + (uint32_t)b, ctr[1], ctr[2], ctr[3] } };
		philox4x32_ctr_t d = philox4x32(c, k);
		memcpy(out + 4 * b, d.v, sizeof d.v);
	}
}

#if BO_X86
/* 8 blocks, counters first .. first + 7, into out[0..32). */
__attribute__((target("avx2"))) static void philox8_avx2(const uint32_t key[2],
							 const uint32_t ctr[4], uint32_t first,
							 uint32_t *out)
{
	__m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)first),
				      _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	__m256i c1 = _mm256_set1_epi32((int)ctr[1]);
	__m256i c2 = _mm256_set1_epi32((int)ctr[2]);
	__m256i c3 = _mm256_set1_epi32((int)ctr[3]);
	__m256i k0 = _mm256_set1_epi32((int)key[0]);
	__m256i k1 = _mm256_set1_epi32((int)key[1]);
	const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M4x32_0);
	const __m256i m1 = _mm256_set1_epi32((int)PHILOX_M4x32_1);
	const __m256i w0 = _mm256_set1_epi32((int)PHILOX_W32_0);
	const __m256i w1 = _mm256_set1_epi32((int)PHILOX_W32_1);
	for (int r = 0; r < 10; r++) {
		if (r) {
			k0 = _mm256_add_epi32(k0, w0);
			k1 = _mm256_add_epi32(k1, w1);
		}
		/* 64-bit products of even lanes, of odd lanes */
		__m256i pe0 = _mm256_mul_epu32(c0, m0);
		__m256i po0 = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), m0);
		__m256i pe1 = _mm256_mul_epu32(c2, m1);
		__m256i po1 = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), m1);
		__m256i lo0 = _mm256_blend_epi32(pe0, _mm256_slli_epi64(po0, 32), 0xAA);
		__m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(pe0, 32), po0, 0xAA);
		__m256i lo1 = _mm256_blend_epi32(pe1, _mm256_slli_epi64(po1, 32), 0xAA);
		__m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(pe1, 32), po1, 0xAA);
		c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), k0);
		c1 = lo1;
		c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), k1);
		c3 = lo0;
	}
	/* lanes (blocks) to stream order: 4 x 4 transposes per 128-bit half */
	__m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
	__m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
	__m256i b04 = _mm256_unpacklo_epi64(t0, t2), b15 = _mm256_unpackhi_epi64(t0, t2);
	__m256i b26 = _mm256_unpacklo_epi64(t1, t3), b37 = _mm256_unpackhi_epi64(t1, t3);
	_mm256_storeu_si256((__m256i *)(void *)out, _mm256_permute2x128_si256(b04, b15, 0x20));
	_mm256_storeu_si256((__m256i *)(void *)(out + 8),
			    _mm256_permute2x128_si256(b26, b37, 0x20));
	_mm256_storeu_si256((__m256i *)(void *)(out + 16),
			    _mm256_permute2x128_si256(b04, b15, 0x31));
	_mm256_storeu_si256((__m256i *)(void *)(out + 24),
			    _mm256_permute2x128_si256(b26, b37, 0x31));
}

static void philox_avx2(const uint32_t key[2], const uint32_t ctr[4], uint32_t first,
			int nblocks, uint32_t *out)
{
	int b = 0;
	for (; b + 8 <= nblocks; b += 8)
		philox8_avx2(key, ctr, first + (uint32_t)b, out + 4 * b);
	if (b < nblocks) {
		uint32_t tail[32];
		philox8_avx2(key, ctr, first + (uint32_t)b, tail);
		memcpy(out + 4 * b, tail, (size_t)(nblocks - b) * 4 * sizeof *out);
	}
}
#endif

void Bo_philox_blocks(const uint32_t key[2], const uint32_t ctr[4], uint32_t first, int nblocks,
		      uint32_t *out, enum bo_fault_path path)
{
#if BO_X86
	if (use_avx2(path) && nblocks > 2) {
		philox_avx2(key, ctr, first, nblocks, out);
		return;
	}
#endif
	philox_portable(key, ctr, first, nblocks, out);
}

/* ---- gaps ---- */

static inline double gap_libm(uint32_t w, double inv)
{
	double u = ((double)w + 0.5) * 0x1p-32;
	return floor(log(u) * inv);
}

static void gaps_portable(const uint32_t *w, int n, double inv, double *out)
{
	for (int k = 0; k < n; k++)
		out[k] = gap_libm(w[k], inv);
}

#if BO_X86
__attribute__((target("avx2"))) static void gaps_avx2(const uint32_t *w, int n, double inv,
						       double *out)
{
	const __m128i flip = _mm_set1_epi32((int)0x80000000u);
	const __m256d half_off = _mm256_set1_pd(2147483648.0 + 0.5);
	const __m256d scale = _mm256_set1_pd(0x1p-32);
	const __m256i mant = _mm256_set1_epi64x(0x000fffffffffffffLL);
	const __m256i one_bits = _mm256_set1_epi64x(0x3ff0000000000000LL);
	const __m256i magic_bits = _mm256_set1_epi64x(0x4338000000000000LL); /* 0x1.8p52 */
	const __m256d magic_bias = _mm256_set1_pd(0x1.8p52 + 1023.0);
	const __m256d sqrt2 = _mm256_set1_pd(1.4142135623730951);
	const __m256d one = _mm256_set1_pd(1.0), two = _mm256_set1_pd(2.0);
	const __m256d halfv = _mm256_set1_pd(0.5);
	const __m256d ln2_hi = _mm256_set1_pd(6.93147180369123816490e-01); /* 32 bits */
	const __m256d ln2_lo = _mm256_set1_pd(1.90821492927058770002e-10);
	const __m256d vinv = _mm256_set1_pd(inv);
	const __m256d rel = _mm256_set1_pd(0x1p-40);
	for (int k = 0; k < n; k += 4) {
		__m128i wi = _mm_loadu_si128((const __m128i *)(const void *)(w + k));
		__m256d v = _mm256_add_pd(_mm256_cvtepi32_pd(_mm_xor_si128(wi, flip)), half_off);
		__m256d u = _mm256_mul_pd(v, scale); /* exact: 33 bits */
		__m256i bits = _mm256_castpd_si256(u);
		__m256i e = _mm256_srli_epi64(bits, 52); /* u > 0: the biased exponent */
		__m256d m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, mant), one_bits));
		__m256d ed = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_add_epi64(e, magic_bits)),
					   magic_bias);
		__m256d big = _mm256_cmp_pd(m, sqrt2, _CMP_GT_OQ);
		m = _mm256_blendv_pd(m, _mm256_mul_pd(m, halfv), big);
		ed = _mm256_add_pd(ed, _mm256_and_pd(big, one));
		__m256d f = _mm256_sub_pd(m, one); /* exact */
		__m256d s = _mm256_div_pd(f, _mm256_add_pd(f, two));
		__m256d z = _mm256_mul_pd(s, s);
		__m256d P = _mm256_set1_pd(1.0 / 21);
		P = _mm256_add_pd(_mm256_mul_pd(P, z), _mm256_set1_pd(1.0 / 19));
		P = _mm256_add_pd(_mm256_mul_pd(P, z), _mm256_set1_pd(1.0 / 17));
		P = _mm256_add_pd(_mm256_mul_pd(P, z), _mm256_set1_pd(1.0 / 15));
		P = _mm256_add_pd(_mm256_mul_pd(P, z), _mm256_set1_pd(1.0 / 13));
		P = _mm256_add_pd(_mm256_mul_pd(P, z), _mm256_set1_pd(1.0 / 11));
		P = _mm256_add_pd(_mm256_mul_pd(P, z), _mm256_set1_pd(1.0 / 9));
		P = _mm256_add_pd(_mm256_mul_pd(P, z), _mm256_set1_pd(1.0 / 7));
		P = _mm256_add_pd(_mm256_mul_pd(P, z), _mm256_set1_pd(1.0 / 5));
		P = _mm256_add_pd(_mm256_mul_pd(P, z), _mm256_set1_pd(1.0 / 3));
		__m256d s2 = _mm256_add_pd(s, s);
		__m256d logm = _mm256_add_pd(s2, _mm256_mul_pd(s2, _mm256_mul_pd(z, P)));
		__m256d l = _mm256_add_pd(_mm256_mul_pd(ed, ln2_hi),
					  _mm256_add_pd(_mm256_mul_pd(ed, ln2_lo), logm));
		__m256d t = _mm256_mul_pd(l, vinv); /* >= 0 */
		__m256d eps = _mm256_mul_pd(t, rel);
		__m256d lo = _mm256_floor_pd(_mm256_sub_pd(t, eps));
		__m256d hi = _mm256_floor_pd(_mm256_add_pd(t, eps));
		int same = _mm256_movemask_pd(_mm256_cmp_pd(lo, hi, _CMP_EQ_OQ));
		_mm256_storeu_pd(out + k, lo);
		if (same != 0xf) {
			for (int j = 0; j < 4 && k + j < n; j++)
				if (!(same & (1 << j)))
					out[k + j] = gap_libm(w[k + j], inv);
		}
	}
}
#endif

void Bo_fault_gaps(const uint32_t *w, int n, double inv, double *out, enum bo_fault_path path)
{
#if BO_X86
	if (use_avx2(path)) {
		gaps_avx2(w, n, inv, out);
		return;
	}
#endif
	gaps_portable(w, n, inv, out);
}

/* ---- BM on the faulty values of a batch ---- */

static int64_t bm_batch_portable(float *data, const int64_t *vi, const uint32_t *vm, int nv,
				 const struct bo_bmv *b)
{
	int64_t changed = 0;
	for (int k = 0; k < nv; k++) {
		int w;
		float x = data[vi[k]];
		float x2 = Bo_bm_value(b, x, vm[k], &w);
		data[vi[k]] = Bo_select_float(w, x2, x);
		changed += w;
	}
	return changed;
}

#if BO_X86
/* Bo_bm_value 4 values at a time: the same operations in the same
 * precision (double quotient, float deviation), lane by lane. */
__attribute__((target("avx2"))) static int64_t bm_batch_avx2(float *data, const int64_t *vi,
							     const uint32_t *vm, int nv,
							     const struct bo_bmv *b)
{
	const __m256d sd = _mm256_set1_pd(b->sd);
	const __m256d lo1 = _mm256_set1_pd(b->lo1), hi1 = _mm256_set1_pd(b->hi1);
	const __m256d signbit = _mm256_set1_pd(-0.0);
	const __m256d below_half = _mm256_set1_pd(0.49999999999999994);
	const __m128i lo = _mm_set1_epi32((int32_t)b->lo), hi = _mm_set1_epi32((int32_t)b->hi);
	const __m128i keep = _mm_set1_epi32((int)b->keep), all = _mm_set1_epi32((int)b->all);
	const __m128i sign = _mm_set1_epi32((int)b->sign), ext = _mm_set1_epi32((int)b->ext);
	const __m128i zero = _mm_setzero_si128();
	const __m128 s = _mm_set1_ps(b->s), fzero = _mm_setzero_ps();
	int64_t changed = 0;
	int k = 0;
	for (; k + 4 <= nv; k += 4) {
		__m128 x = _mm_setr_ps(data[vi[k]], data[vi[k + 1]], data[vi[k + 2]], data[vi[k + 3]]);
		__m256d r = _mm256_div_pd(_mm256_cvtps_pd(x), sd);
		r = _mm256_and_pd(r, _mm256_cmp_pd(r, r, _CMP_ORD_Q)); /* NaN -> 0 */
		r = _mm256_min_pd(_mm256_max_pd(r, lo1), hi1);
		r = _mm256_add_pd(r, _mm256_or_pd(_mm256_and_pd(r, signbit), below_half));
		__m128i q = _mm256_cvttpd_epi32(r);
		q = _mm_min_epi32(_mm_max_epi32(q, lo), hi);
		__m128i m = _mm_loadu_si128((const __m128i *)(const void *)(vm + k)), q2;
		if (b->uns) {
			q2 = _mm_and_si128(q, _mm_andnot_si128(m, keep));
		} else {
			__m128i u = _mm_and_si128(q, all), mm = _mm_and_si128(m, all);
			__m128i neg = _mm_cmpeq_epi32(_mm_and_si128(u, sign), sign);
			__m128i u2 = _mm_or_si128(_mm_and_si128(neg, _mm_or_si128(u, mm)),
						  _mm_andnot_si128(neg, _mm_andnot_si128(mm, u)));
			q2 = _mm_or_si128(u2, _mm_and_si128(neg, ext));
			q2 = _mm_and_si128(q2, _mm_cmpeq_epi32(_mm_and_si128(mm, sign), zero));
		}
		__m128 d = _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(q2, q)), s);
		__m128 x2 = _mm_add_ps(x, d);
		__m128 cross = _mm_or_ps(
			_mm_and_ps(_mm_cmp_ps(x, fzero, _CMP_GT_OQ), _mm_cmp_ps(x2, fzero, _CMP_LT_OQ)),
			_mm_and_ps(_mm_cmp_ps(x, fzero, _CMP_LT_OQ), _mm_cmp_ps(x2, fzero, _CMP_GT_OQ)));
		x2 = _mm_andnot_ps(cross, x2);
		__m128 w = _mm_andnot_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(q2, q)),
					 _mm_cmp_ps(x2, x, _CMP_NEQ_UQ));
		__m128 out = _mm_blendv_ps(x, x2, w);
		float o[4];
		_mm_storeu_ps(o, out);
		/* unconditional: a branch per changed lane costs more than it saves */
		data[vi[k]] = o[0];
		data[vi[k + 1]] = o[1];
		data[vi[k + 2]] = o[2];
		data[vi[k + 3]] = o[3];
		changed += __builtin_popcount((unsigned)_mm_movemask_ps(w));
	}
	return changed + bm_batch_portable(data, vi + k, vm + k, nv - k, b);
}
#endif

int64_t Bo_bm_apply_batch(float *data, const int64_t *vi, const uint32_t *vm, int nv,
			  const struct bo_bmv *b, enum bo_fault_path path)
{
#if BO_X86
	if (use_avx2(path))
		return bm_batch_avx2(data, vi, vm, nv, b);
#endif
	return bm_batch_portable(data, vi, vm, nv, b);
}

/* ---- cells to values ---- */

static void cells_portable(const double *pos, int n, int cells, int64_t *vi, uint32_t *bit)
{
	for (int k = 0; k < n; k++) {
		int64_t g = (int64_t)pos[k], i = g / cells;
		vi[k] = i;
		bit[k] = (uint32_t)(g - i * cells);
	}
}

#if BO_X86
/* floor(pos / cells) from the product with the rounded reciprocal, off by
 * at most one and corrected by two exact comparisons (pos < 2^50). */
__attribute__((target("avx2"))) static void cells_avx2(const double *pos, int n, int cells,
							int64_t *vi, uint32_t *bit)
{
	const __m256d d = _mm256_set1_pd((double)cells), rd = _mm256_set1_pd(1.0 / (double)cells);
	const __m256d one = _mm256_set1_pd(1.0), two52 = _mm256_set1_pd(0x1p52);
	int k = 0;
	for (; k + 4 <= n; k += 4) {
		__m256d g = _mm256_loadu_pd(pos + k);
		__m256d q = _mm256_floor_pd(_mm256_mul_pd(g, rd));
		q = _mm256_sub_pd(q, _mm256_and_pd(_mm256_cmp_pd(_mm256_mul_pd(q, d), g, _CMP_GT_OQ),
						   one));
		q = _mm256_add_pd(q, _mm256_and_pd(_mm256_cmp_pd(_mm256_mul_pd(_mm256_add_pd(q, one), d),
								 g, _CMP_LE_OQ),
						   one));
		__m256d b = _mm256_sub_pd(g, _mm256_mul_pd(q, d));
		/* 0 <= q < 2^52: q + 2^52 holds q in its low mantissa bits */
		__m256i qi = _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(q, two52)),
					      _mm256_castpd_si256(two52));
		_mm256_storeu_si256((__m256i *)(void *)(vi + k), qi);
		_mm_storeu_si128((__m128i *)(void *)(bit + k), _mm256_cvttpd_epi32(b));
	}
	cells_portable(pos + k, n - k, cells, vi + k, bit + k);
}
#endif

void Bo_fault_cells(const double *pos, int n, int cells, int64_t *vi, uint32_t *bit,
		    enum bo_fault_path path)
{
#if BO_X86
	if (use_avx2(path)) {
		cells_avx2(pos, n, cells, vi, bit);
		return;
	}
#endif
	cells_portable(pos, n, cells, vi, bit);
}
