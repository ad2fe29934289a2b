/* 2-D MaxPool for the common windows: 2x2 and 3x3, stride 1 or 2,
 * dilation 1 (ResNet's 3x3/2 stem pool, VGG's 2x2/2). ops.c's generic
 * pool() checks the bounds of every tap and costs as much as a Conv on
 * ResNet-18 at 224; here, as in depthwise.c, each plane is split into an
 * interior, where a row of outputs reads K x K in-bounds taps without
 * checks and, K and the stride being compile-time constants, vectorises,
 * and a border (pads, ceil_mode overhang) that runs the checked loop.
 *
 * Semantics are the generic loop's exactly, whatever the ISA: the
 * maximum over the in-bounds taps, NaN as soon as one tap is NaN (a bit
 * flip can make one), -inf for an empty window. Max is exact, so the
 * results are bit-identical to pool()'s (tests/unit/test_maxpool.c).
 * Compiled for the baseline and with target("avx2"), picked at run time. */
#include <math.h>

#include "internal.h"
#include "maxpool.h"

int Bo_maxpool_fast(const struct bo_window *w)
{
	return w->nsp == 2 && w->k[0] == w->k[1] && (w->k[0] == 2 || w->k[0] == 3) &&
	       w->s[0] == w->s[1] && (w->s[0] == 1 || w->s[0] == 2) && w->d[0] == 1 && w->d[1] == 1;
}

/* NaN-propagating max, as pool(): v replaces acc if greater or NaN */
BO_INLINE float vmax(float acc, float v)
{
	return v > acc || v != v ? v : acc;
}

BO_INLINE float checked(const float *xc, int64_t H, int64_t W, int64_t ih0, int64_t iw0, const int K)
{
	float acc = -INFINITY;
	for (int i = 0; i < K; i++) {
		int64_t ih = ih0 + i;
		if (ih < 0 || ih >= H)
			continue;
		for (int j = 0; j < K; j++) {
			int64_t iw = iw0 + j;
			if (iw >= 0 && iw < W)
				acc = vmax(acc, xc[ih * W + iw]);
		}
	}
	return acc;
}

BO_INLINE void plane(const float *restrict xc, float *restrict yc, int64_t H, int64_t W, int64_t OH,
		  int64_t OW, int64_t pt, int64_t pl, const int K, const int S)
{
	/* interior columns [c0, c1): ow*S - pl >= 0 and ow*S - pl + K <= W */
	int64_t c0 = (pl + S - 1) / S;
	int64_t c1 = W - K + pl >= 0 ? (W - K + pl) / S + 1 : 0;
	c0 = BO_MIN(c0, OW);
	c1 = BO_MAX(BO_MIN(c1, OW), c0);
	for (int64_t oh = 0; oh < OH; oh++) {
		int64_t ih0 = oh * S - pt;
		float *yr = yc + oh * OW;
		if (ih0 < 0 || ih0 + K > H) {
			for (int64_t ow = 0; ow < OW; ow++)
				yr[ow] = checked(xc, H, W, ih0, ow * S - pl, K);
			continue;
		}
		for (int64_t ow = 0; ow < c0; ow++)
			yr[ow] = checked(xc, H, W, ih0, ow * S - pl, K);
		const float *r = xc + ih0 * W - pl;
		for (int64_t ow = c0; ow < c1; ow++) {
			float acc = -INFINITY;
			for (int i = 0; i < K; i++)
				for (int j = 0; j < K; j++)
					acc = vmax(acc, r[i * W + ow * S + j]);
			yr[ow] = acc;
		}
		for (int64_t ow = c1; ow < OW; ow++)
			yr[ow] = checked(xc, H, W, ih0, ow * S - pl, K);
	}
}

typedef void (*plane_fn)(const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t,
			 int64_t);

#define PLANE(NAME, ATTR, K, S)                                                                \
	ATTR static void NAME(const float *x, float *y, int64_t H, int64_t W, int64_t OH,      \
			      int64_t OW, int64_t pt, int64_t pl)                              \
	{                                                                                      \
		plane(x, y, H, W, OH, OW, pt, pl, K, S);                                       \
	}
#define PLANES(SUFFIX, ATTR)                  \
	PLANE(p2s1##SUFFIX, ATTR, 2, 1)       \
	PLANE(p2s2##SUFFIX, ATTR, 2, 2)       \
	PLANE(p3s1##SUFFIX, ATTR, 3, 1)       \
	PLANE(p3s2##SUFFIX, ATTR, 3, 2)

PLANES(_base, )
#if BO_X86
PLANES(_avx2, __attribute__((target("avx2"))))
#endif

int Bo_maxpool(const float *x, float *y, int64_t NC, int64_t H, int64_t W,
	       const struct bo_window *w, int64_t OH, int64_t OW)
{
	if (!Bo_maxpool_fast(w))
		return 0;
	/* [kernel 2/3][stride 1/2] */
	plane_fn fn[2][2] = { { p2s1_base, p2s2_base }, { p3s1_base, p3s2_base } };
#if BO_X86
	if (__builtin_cpu_supports("avx2")) {
		fn[0][0] = p2s1_avx2;
		fn[0][1] = p2s2_avx2;
		fn[1][0] = p3s1_avx2;
		fn[1][1] = p3s2_avx2;
	}
#endif
	plane_fn f = fn[w->k[0] == 3][w->s[0] == 2];
	for (int64_t c = 0; c < NC; c++)
		f(x + c * H * W, y + c * OH * OW, H, W, OH, OW, w->pb[0], w->pb[1]);
	return 1;
}
