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
 * test_depthwise.c bounds the difference). */
#include <math.h>

#include "internal.h"
#include "depthwise.h"

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

void Bo_dw_conv(const float *x, const float *wt, const float *bias, float *y, int64_t N,
		int64_t C, int64_t H, int64_t W, const struct bo_window *w, int64_t OH, int64_t OW,
		const struct bo_act *act)
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
#if BO_X86
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		fn[0][0] = p3s1_avx2;
		fn[0][1] = p3s2_avx2;
		fn[1][0] = p5s1_avx2;
		fn[1][1] = p5s2_avx2;
	}
#endif
	plane_fn f = fn[w->k[0] == 5][w->s[0] == 2];
	int64_t K = w->k[0];
	/* SiLU (a call into vmath.c) per plane rather than per row: on 7x7
	 * maps a row is 7 values */
	int per_plane = act->kind == 3;
	for (int64_t n = 0; n < N; n++)
		for (int64_t c = 0; c < C; c++) {
			float *yc = y + (n * C + c) * OH * OW;
			f(x + (n * C + c) * H * W, wt + c * K * K, bias ? bias[c] : 0.f, yc, H, W, OH,
			  OW, w->pb[0], w->pb[1], per_plane ? &none : act);
			if (per_plane)
				Bo_act_apply(act, yc, OH * OW);
		}
}
