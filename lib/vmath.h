/* Vectorised elementwise math (vmath.c). Private to lib/. */
#ifndef BO_VMATH_H
#define BO_VMATH_H

#include <stdint.h>

/* y[i] = 1 / (1 + e^-x[i]), i < n; x == y allowed. Within a few ulp of
 * the libm formula (vmath.c). */
void bo_vsigmoid(const float *x, float *y, int64_t n);
/* The scalar e^x the vector loop uses, for tests. */
float bo_expf_ref(float x);

#endif
