/* Depthwise convolution (depthwise.c). Private to lib/. */
#ifndef BO_DEPTHWISE_H
#define BO_DEPTHWISE_H

#include <stdint.h>

#include "plan.h"

/* Conv with group == C == M (one kh x kw filter per channel) of the NCHW
 * input x (N x C x H x W) into y (N x C x OH x OW), bias per channel or
 * NULL; w gives kernel, strides, dilations and the begin pads (the end
 * pads are implied by OH, OW). Bo_dw_conv takes the fast kernel where it
 * applies (Bo_dw_fast) and the generic loop elsewhere, then applies act
 * (NULL: none) to the output. scratch: Bo_dw_scratch_floats(...) floats
 * for the padded kernel (AVX2), or NULL for the row kernel; both give the
 * same bits. */
void Bo_dw_conv(const float *x, const float *wt, const float *bias, float *y, int64_t N,
		int64_t C, int64_t H, int64_t W, const struct bo_window *w, int64_t OH, int64_t OW,
		const struct bo_act *act, float *scratch);
/* Floats of scratch Bo_dw_conv's padded kernel needs for these shapes (0
 * when the fast kernel does not apply). */
int64_t Bo_dw_scratch_floats(int64_t H, int64_t W, const struct bo_window *w, int64_t OH,
			     int64_t OW);
/* The generic loop alone (any kernel, stride, dilation): the reference the
 * fast kernel is tested against. */
void Bo_dw_conv_generic(const float *x, const float *wt, const float *bias, float *y, int64_t N,
			int64_t C, int64_t H, int64_t W, const struct bo_window *w, int64_t OH,
			int64_t OW);
/* Whether Bo_dw_conv runs w with the fast kernel: square 3x3 or 5x5,
 * stride 1 or 2 (same both ways), dilation 1. */
int Bo_dw_fast(const struct bo_window *w);

#endif
