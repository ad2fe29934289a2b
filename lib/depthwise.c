/* Depthwise convolution (group == C == M): one small filter per channel,
 * as in MobileNet and EfficientNet. A GEMM with K = kh*kw is all
 * overhead, so this is a direct loop.
 *
 * Generic path (Bo_dw_conv_generic): any kernel, stride and dilation;
 * every tap checks its bounds. Per output: acc = bias, then the taps in
 * row-major order, the ones outside the input skipped (zero padding).
 *
 * Fast path: square 3x3 and 5x5 kernels, stride 1 or 2, dilation 1 (all
 * of torchvision's depthwise layers). Each channel plane is split into
 * interior and border: an output row whose K input rows all lie inside
 * the input, and within it the columns whose K input columns do, form
 * the interior, where the taps need no checks and, K and the stride
 * being compile-time constants (one copy of plane() per case), the
 * compiler unrolls the K*K taps and vectorises over the output row. The
 * top and bottom rows (pads high) run the same vector loop over their
 * in-bounds tap rows, summing into the output row; the left and right
 * columns sum over the in-bounds tap rectangle, computed once per output
 * (on EfficientNet's 7x7 maps with 5x5 taps most outputs are border). The bias starts the accumulator in both, so the taps are
 * added in the same order everywhere. A fused activation (plan.h) is
 * applied to each output row as it is finished, while it is in L1 (SiLU
 * to each plane).
 *
 * ISA. The build has no -march; as in winograd.c the kernel is compiled
 * for the baseline (SSE2 on x86-64: 4 lanes, multiply then add, the
 * generic path's rounding exactly) and, picked at run time with
 * __builtin_cpu_supports, with target("avx2,fma"): 8 lanes and fused
 * multiply-adds, which round once per tap instead of twice, so results
 * differ from the generic path's in the last bits (tests/unit/
 * test_depthwise.c bounds the difference).
 *
 * Padded path (AVX2+FMA, with a scratch buffer: the sessions always give
 * one, plan-sized by Bo_dw_scratch_floats). The border code above costs
 * tens of instructions per output, and on MobileNet's and EfficientNet's
 * 7x7 to 28x28 maps a third to half of all outputs are border. Here each
 * channel plane is first copied into a zero-padded buffer (the pads are
 * zeroed once per call; only the interior is rewritten per plane), so
 * every output is an interior one: per output row, vectors of 8 outputs,
 * each the bias then the K*K taps in row-major order as fused
 * multiply-adds straight from the buffer, the last vector of a row stored
 * under a mask (a 7-wide row is one vector, not 7 scalar outputs). Stride
 * 2 is made a stride-1 problem by storing the padded plane as its four
 * polyphase components (even/odd rows x even/odd columns, deinterleaved
 * while copying): tap (i, j) of output (oh, ow) is component (i&1, j&1)
 * at (oh + i/2, ow + j/2), contiguous in ow. Relu and Clip are applied to
 * the vector before its store (max/min in the operand order of the Relu
 * and Clip kernels: NaN and -0 as there).
 *
 * The padded taps add fma(0, k, acc) where the row kernel skips the tap:
 * that is acc exactly, unless k is not finite (0 * inf is NaN) or acc is
 * -0 (which needs a -0 bias). A channel with such a weight or bias runs
 * through the row kernel instead, so both paths give the same bits
 * (tests/unit/test_depthwise.c asserts it) and fault hooks see the values
 * they saw before. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "depthwise.h"
#if BO_X86
#include <immintrin.h>
#endif

void Bo_dw_conv_generic(const float *x, const float *wt, const float *bias, float *y, int64_t N,
			int64_t C, int64_t H, int64_t W, const struct bo_window *w, int64_t OH,
			int64_t OW)
{
	int64_t kh = w->k[0], kw = w->k[1];
	for (int64_t n = 0; n < N; n++)
		for (int64_t c = 0; c < C; c++) {
			const float *xc = x + (n * C + c) * H * W;
			const float *k = wt + c * kh * kw;
			float *yc = y + (n * C + c) * OH * OW;
			float b0 = bias ? bias[c] : 0.f;
			for (int64_t oh = 0; oh < OH; oh++)
				for (int64_t ow = 0; ow < OW; ow++) {
					float acc = b0;
					for (int64_t i = 0; i < kh; i++) {
						int64_t ih = oh * w->s[0] - w->pb[0] + i * w->d[0];
						if (ih < 0 || ih >= H)
							continue;
						for (int64_t j = 0; j < kw; j++) {
							int64_t iw = ow * w->s[1] - w->pb[1] + j * w->d[1];
							if (iw >= 0 && iw < W)
								acc += xc[ih * W + iw] * k[i * kw + j];
						}
					}
					yc[oh * OW + ow] = acc;
				}
		}
}

int Bo_dw_fast(const struct bo_window *w)
{
	return w->k[0] == w->k[1] && (w->k[0] == 3 || w->k[0] == 5) && w->s[0] == w->s[1] &&
	       (w->s[0] == 1 || w->s[0] == 2) && w->d[0] == 1 && w->d[1] == 1;
}

/* acc + a * b: fused (one rounding) or not, a compile-time choice */
BO_INLINE float mac(float acc, float a, float b, const int fused)
{
	return fused ? __builtin_fmaf(a, b, acc) : acc + a * b;
}

/* one border output: the taps' rows [i0, i1) and columns [j0, j1) are the
 * in-bounds ones, found once instead of checked per tap */
BO_INLINE float ranged(const float *xc, const float *k, float b, int64_t W, int64_t ih0,
		    int64_t iw0, int i0, int i1, int j0, int j1, const int K, const int fused)
{
	float acc = b;
	int n = j1 - j0;
	for (int i = i0; i < i1; i++) {
		int64_t r = (ih0 + i) * W + iw0 + j0; /* (indexes, never a pointer out of x) */
		const float *kr = k + i * K + j0;
		/* the n taps of the row in order, unrolled: entered at case n,
		 * the fall-through runs taps 0 .. n-1 (a loop of 1 to 5 was
		 * most of EfficientNet's 7x7 and 14x14 planes) */
		switch (n) {
		case 5:
			acc = mac(acc, xc[r + n - 5], kr[n - 5], fused);
			__attribute__((fallthrough));
		case 4:
			acc = mac(acc, xc[r + n - 4], kr[n - 4], fused);
			__attribute__((fallthrough));
		case 3:
			acc = mac(acc, xc[r + n - 3], kr[n - 3], fused);
			__attribute__((fallthrough));
		case 2:
			acc = mac(acc, xc[r + n - 2], kr[n - 2], fused);
			__attribute__((fallthrough));
		case 1:
			acc = mac(acc, xc[r + n - 1], kr[n - 1], fused);
			break;
		default:
			break;
		}
	}
	return acc;
}

/* one channel plane, K x K taps, stride S, pads pt (top), pl (left) */
BO_INLINE void plane(const float *restrict xc, const float *restrict k, float b, float *restrict yc,
		  int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t pt, int64_t pl,
		  const struct bo_act *act, const int K, const int S, const int fused)
{
	float kk[25];
	for (int t = 0; t < K * K; t++)
		kk[t] = k[t];
	/* interior columns [c0, c1): ow*S - pl >= 0 and ow*S - pl + K <= W */
	int64_t c0 = (pl + S - 1) / S;
	int64_t c1 = W - K + pl >= 0 ? (W - K + pl) / S + 1 : 0;
	c0 = BO_MIN(c0, OW);
	c1 = BO_MAX(BO_MIN(c1, OW), c0);
	for (int64_t oh = 0; oh < OH; oh++) {
		int64_t ih0 = oh * S - pt;
		float *yr = yc + oh * OW;
		/* the tap rows inside the input */
		int i0 = (int)BO_MIN(BO_MAX(-ih0, 0), K), i1 = (int)BO_MAX(BO_MIN(H - ih0, K), i0);
		for (int64_t ow = 0; ow < OW; ow++) {
			if (ow == c0)
				ow = c1; /* the interior, below */
			if (ow >= OW)
				break;
			int64_t iw0 = ow * S - pl;
			int j0 = (int)BO_MIN(BO_MAX(-iw0, 0), K), j1 = (int)BO_MAX(BO_MIN(W - iw0, K), j0);
			yr[ow] = ranged(xc, kk, b, W, ih0, iw0, i0, i1, j0, j1, K, fused);
		}
		int64_t r = ih0 * W - pl; /* + i*W + ow*S + j >= 0 in the interior */
		if (i0 == 0 && i1 == K) {
			/* all K rows: the taps unrolled, the sum in registers */
			for (int64_t ow = c0; ow < c1; ow++) {
				float acc = b;
				for (int i = 0; i < K; i++)
					for (int j = 0; j < K; j++)
						acc = mac(acc, xc[r + i * W + ow * S + j], kk[i * K + j],
							  fused);
				yr[ow] = acc;
			}
		} else {
			/* top or bottom rows: summed in yr, one tap row at a time
			 * (the same order of additions) */
			for (int64_t ow = c0; ow < c1; ow++)
				yr[ow] = b;
			for (int i = i0; i < i1; i++)
				for (int64_t ow = c0; ow < c1; ow++) {
					float acc = yr[ow];
					for (int j = 0; j < K; j++)
						acc = mac(acc, xc[r + i * W + ow * S + j], kk[i * K + j],
							  fused);
					yr[ow] = acc;
				}
		}
		Bo_act_apply_rc(act, yr, OW); /* SiLU: per plane, in Bo_dw_conv */
	}
}

typedef void (*plane_fn)(const float *, const float *, float, float *, int64_t, int64_t, int64_t,
			 int64_t, int64_t, int64_t, const struct bo_act *);

/* the four cases, for one ISA */
#define PLANES(SUFFIX, ATTR, FUSED)                                                              \
	ATTR static void p3s1##SUFFIX(const float *x, const float *k, float b, float *y,       \
				      int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t pt, \
				      int64_t pl, const struct bo_act *act)                    \
	{                                                                                      \
		plane(x, k, b, y, H, W, OH, OW, pt, pl, act, 3, 1, FUSED);                          \
	}                                                                                      \
	ATTR static void p3s2##SUFFIX(const float *x, const float *k, float b, float *y,       \
				      int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t pt, \
				      int64_t pl, const struct bo_act *act)                    \
	{                                                                                      \
		plane(x, k, b, y, H, W, OH, OW, pt, pl, act, 3, 2, FUSED);                          \
	}                                                                                      \
	ATTR static void p5s1##SUFFIX(const float *x, const float *k, float b, float *y,       \
				      int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t pt, \
				      int64_t pl, const struct bo_act *act)                    \
	{                                                                                      \
		plane(x, k, b, y, H, W, OH, OW, pt, pl, act, 5, 1, FUSED);                          \
	}                                                                                      \
	ATTR static void p5s2##SUFFIX(const float *x, const float *k, float b, float *y,       \
				      int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t pt, \
				      int64_t pl, const struct bo_act *act)                    \
	{                                                                                      \
		plane(x, k, b, y, H, W, OH, OW, pt, pl, act, 5, 2, FUSED);                          \
	}

PLANES(_base, , 0)
#if BO_X86
PLANES(_avx2, __attribute__((target("avx2,fma"))), 1)
#endif

/* ---- padded path ---- */

/* The padded buffer of one plane: rs floats per row; stride 1: rows rows,
 * stride 2: four components (ph floats apart) of rows rows each. total:
 * floats of the buffer, the vectors' over-read of the last row included. */
struct pad_geom {
	int64_t rs, rows, ph, total;
};

static void pad_geom(int64_t H, int64_t W, const struct bo_window *w, int64_t OH, int64_t OW,
		     struct pad_geom *g)
{
	int64_t K = w->k[0], S = w->s[0];
	int64_t Hp = BO_MAX(w->pb[0] + H, S * (OH - 1) + K);
	int64_t Wp = BO_MAX(w->pb[1] + W, S * (OW - 1) + K);
	if (S == 1) {
		g->rs = Wp;
		g->rows = Hp;
		g->ph = Hp * Wp;
		g->total = g->ph + 16;
	} else {
		g->rs = (Wp + 1) / 2;
		g->rows = (Hp + 1) / 2;
		g->ph = g->rows * g->rs;
		g->total = 4 * g->ph + 16;
	}
}

int64_t Bo_dw_scratch_floats(int64_t H, int64_t W, const struct bo_window *w, int64_t OH,
			     int64_t OW)
{
	if (!Bo_dw_fast(w) || OH <= 0 || OW <= 0)
		return 0;
	struct pad_geom g;
	pad_geom(H, W, w, OH, OW, &g);
	return g.total;
}

/* whether channel c's padded run gives the row kernel's bits (above) */
static int pad_exact(const float *k, int K, float b)
{
	if (b == 0.f && signbit(b))
		return 0;
	for (int t = 0; t < K * K; t++)
		if (!isfinite(k[t]))
			return 0;
	return 1;
}

typedef void (*pad_fn)(float *, const float *, const float *, float, float *, int64_t, int64_t,
		       int64_t, int64_t, int64_t, int64_t, const struct pad_geom *,
		       const struct bo_act *);

#if BO_X86
#define AVX2 __attribute__((target("avx2,fma")))

/* lanes [0, n) of a mask, n in 0..8 */
static const int32_t mask_src[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };

/* Relu (kind 1) and Clip (kind 2) as Bo_act_apply_rc: max(a, b) is
 * a > b ? a : b and min(a, b) a < b ? a : b, so Relu y > 0 ? y : 0 is
 * max(y, 0) and Clip's y < lo ? lo : y, v > hi ? hi : v are max(lo, y),
 * min(hi, v) */
AVX2 BO_INLINE __m256 act8(__m256 v, __m256 lo, __m256 hi, const int kind)
{
	if (kind == 1)
		return _mm256_max_ps(v, _mm256_setzero_ps());
	if (kind == 2)
		return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
	return v;
}

/* copy n floats (8 at a time, the rest one by one) */
AVX2 BO_INLINE void copy_row(float *restrict d, const float *restrict s, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(d + i, _mm256_loadu_ps(s + i));
	for (; i < n; i++)
		d[i] = s[i];
}

/* src[0..n): even-indexed values to ev[0..), odd ones to od[0..) */
AVX2 BO_INLINE void split_row(float *restrict ev, float *restrict od, const float *restrict src,
			      int64_t n)
{
	int64_t m = 0, half = n / 2;
	for (; m + 8 <= half; m += 8) {
		__m256 a = _mm256_loadu_ps(src + 2 * m), b = _mm256_loadu_ps(src + 2 * m + 8);
		/* per 128-bit lane [a0 a2 b0 b2], then the 64-bit pairs reordered */
		__m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
		__m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
		e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
		o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
		_mm256_storeu_ps(ev + m, e);
		_mm256_storeu_ps(od + m, o);
	}
	for (; m < half; m++) {
		ev[m] = src[2 * m];
		od[m] = src[2 * m + 1];
	}
	if (n & 1)
		ev[half] = src[n - 1];
}

/* plane xc (H x W) into the padded buffer (its pads already zero) */
AVX2 BO_INLINE void pad_fill(float *restrict buf, const float *restrict xc, int64_t H, int64_t W,
			     int64_t pt, int64_t pl, const struct pad_geom *g, const int S)
{
	for (int64_t r = 0; r < H; r++) {
		const float *src = xc + r * W;
		int64_t pr = r + pt;
		if (S == 1) {
			copy_row(buf + pr * g->rs + pl, src, W);
		} else {
			/* padded column pl + c: even c to column phase pl & 1,
			 * odd c to the other, at (pl + c) / 2 */
			float *row = buf + (pr & 1) * 2 * g->ph + (pr >> 1) * g->rs;
			float *ev = row + (pl & 1) * g->ph + (pl >> 1);
			float *od = row + ((pl + 1) & 1) * g->ph + ((pl + 1) >> 1);
			split_row(ev, od, src, W);
		}
	}
}

/* the outputs of one plane from its padded buffer */
AVX2 BO_INLINE void pad_plane(const float *restrict buf, const float *restrict k, float b,
			      float *restrict yc, int64_t OH, int64_t OW, const struct pad_geom *g,
			      const struct bo_act *act, const int K, const int S, const int kind)
{
	__m256 kv[25];
	for (int t = 0; t < K * K; t++)
		kv[t] = _mm256_set1_ps(k[t]);
	__m256 bv = _mm256_set1_ps(b), lo = _mm256_set1_ps(act->lo), hi = _mm256_set1_ps(act->hi);
	int64_t full = OW & ~(int64_t)7, tail = OW - full;
	__m256i mask = _mm256_loadu_si256((const __m256i *)(mask_src + 8 - tail));
	int64_t rs = g->rs, ph = g->ph;
	for (int64_t oh = 0; oh < OH; oh++) {
		/* tap row i: stride 1 buffer row oh + i; stride 2 row
		 * oh + i/2 of the components (i & 1, 0) and (i & 1, 1) */
		const float *r0[5], *r1[5];
		for (int i = 0; i < K; i++) {
			if (S == 1) {
				r0[i] = buf + (oh + i) * rs;
				r1[i] = r0[i];
			} else {
				r0[i] = buf + (i & 1) * 2 * ph + (oh + (i >> 1)) * rs;
				r1[i] = r0[i] + ph;
			}
		}
		float *yr = yc + oh * OW;
		for (int64_t ow = 0; ow < OW; ow += 8) {
			__m256 acc = bv;
			for (int i = 0; i < K; i++)
				for (int j = 0; j < K; j++) {
					const float *src = S == 1 ? r0[i] + ow + j
								  : ((j & 1) ? r1[i] : r0[i]) + ow + (j >> 1);
					acc = _mm256_fmadd_ps(_mm256_loadu_ps(src), kv[i * K + j], acc);
				}
			acc = act8(acc, lo, hi, kind);
			if (ow < full)
				_mm256_storeu_ps(yr + ow, acc);
			else
				_mm256_maskstore_ps(yr + ow, mask, acc);
		}
	}
}

/* fill, then the outputs: one function per kernel, stride and activation */
#define PAD_FN(NAME, K, S, KIND)                                                               \
	AVX2 static void NAME(float *buf, const float *xc, const float *k, float b, float *yc, \
			      int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t pt,        \
			      int64_t pl, const struct pad_geom *g, const struct bo_act *act)  \
	{                                                                                      \
		pad_fill(buf, xc, H, W, pt, pl, g, S);                                         \
		pad_plane(buf, k, b, yc, OH, OW, g, act, K, S, KIND);                          \
	}
#define PAD_ACTS(K, S)                          \
	PAD_FN(pad##K##s##S##a0, K, S, 0)       \
	PAD_FN(pad##K##s##S##a1, K, S, 1)       \
	PAD_FN(pad##K##s##S##a2, K, S, 2)
PAD_ACTS(3, 1)
PAD_ACTS(3, 2)
PAD_ACTS(5, 1)
PAD_ACTS(5, 2)

/* [kernel 3/5][stride 1/2][activation none/Relu/Clip] */
static const pad_fn pad_fns[2][2][3] = {
	{ { pad3s1a0, pad3s1a1, pad3s1a2 }, { pad3s2a0, pad3s2a1, pad3s2a2 } },
	{ { pad5s1a0, pad5s1a1, pad5s1a2 }, { pad5s2a0, pad5s2a1, pad5s2a2 } },
};
#endif

void Bo_dw_conv(const float *x, const float *wt, const float *bias, float *y, int64_t N,
		int64_t C, int64_t H, int64_t W, const struct bo_window *w, int64_t OH, int64_t OW,
		const struct bo_act *act, float *scratch)
{
	static const struct bo_act none = { 0, 0.f, 0.f };
	if (!act)
		act = &none;
	if (!Bo_dw_fast(w)) {
		Bo_dw_conv_generic(x, wt, bias, y, N, C, H, W, w, OH, OW);
		Bo_act_apply(act, y, N * C * OH * OW);
		return;
	}
	/* [kernel 3/5][stride 1/2] */
	plane_fn fn[2][2] = { { p3s1_base, p3s2_base }, { p5s1_base, p5s2_base } };
	pad_fn pf = NULL;
	struct pad_geom g = { 0, 0, 0, 0 };
	/* SiLU (a call into vmath.c) per plane rather than per row: on 7x7
	 * maps a row is 7 values */
	int per_plane = act->kind == 3;
#if BO_X86
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		fn[0][0] = p3s1_avx2;
		fn[0][1] = p3s2_avx2;
		fn[1][0] = p5s1_avx2;
		fn[1][1] = p5s2_avx2;
		if (scratch) {
			pf = pad_fns[w->k[0] == 5][w->s[0] == 2][per_plane ? 0 : act->kind];
			pad_geom(H, W, w, OH, OW, &g);
			memset(scratch, 0, (size_t)g.total * sizeof(float));
		}
	}
#else
	(void)scratch;
#endif
	plane_fn f = fn[w->k[0] == 5][w->s[0] == 2];
	int64_t K = w->k[0];
	for (int64_t n = 0; n < N; n++)
		for (int64_t c = 0; c < C; c++) {
			float *yc = y + (n * C + c) * OH * OW;
			const float *xc = x + (n * C + c) * H * W, *kc = wt + c * K * K;
			float b = bias ? bias[c] : 0.f;
			const struct bo_act *pa = per_plane ? &none : act;
			if (pf && pad_exact(kc, (int)K, b))
				pf(scratch, xc, kc, b, yc, H, W, OH, OW, w->pb[0], w->pb[1], &g, pa);
			else
				f(xc, kc, b, yc, H, W, OH, OW, w->pb[0], w->pb[1], pa);
			if (per_plane)
				Bo_act_apply(act, yc, OH * OW);
		}
}
