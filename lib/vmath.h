/* Vectorised elementwise math (vmath.c). Private to lib/. */
#ifndef BO_VMATH_H
#define BO_VMATH_H

#include <stdint.h>

/* y[i] = 1 / (1 + e^-x[i]), i < n; x == y allowed. Within a few ulp of
 * the libm formula (vmath.c). */
void Bo_vsigmoid(const float *x, float *y, int64_t n);
/* y[i] = x[i] * sigmoid(x[i]) (SiLU; gate_first: sigmoid(x[i]) * x[i]),
 * i < n; x == y allowed. Bit-identical to Bo_vsigmoid into a separate
 * array followed by the product in that order (the Sigmoid and Mul
 * kernels; the order decides which NaN a NaN input gives), so that fusing
 * the two changes no value. */
void Bo_vsilu(const float *x, float *y, int64_t n, int gate_first);
/* y[i] = x[i] > 0 ? x[i] : 0 (Relu) and Clip's x < lo ? lo : x, then
 * v > hi ? hi : v, exactly (NaN, -0), i < n; x == y allowed. */
void Bo_vrelu(const float *x, float *y, int64_t n);
void Bo_vclip(const float *x, float *y, int64_t n, float lo, float hi);
/* The scalar e^x the vector loop uses, for tests. */
float Bo_expf_ref(float x);

#endif
