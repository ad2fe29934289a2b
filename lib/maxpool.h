/* MaxPool fast path (maxpool.c). Private to lib/. */
#ifndef BO_MAXPOOL_H
#define BO_MAXPOOL_H

#include <stdint.h>

#include "graph.h"

/* Whether Bo_maxpool handles w: 2-D, square 2x2 or 3x3, stride 1 or 2 (same
 * both ways), dilation 1; any pads and ceil_mode. */
int Bo_maxpool_fast(const struct bo_window *w);
/* MaxPool of NC planes H x W (x) into NC planes OH x OW (y), with w's
 * begin pads (the end pads and ceil_mode are implied by OH, OW). Returns 0
 * without touching y when !Bo_maxpool_fast(w), 1 when done. */
int Bo_maxpool(const float *x, float *y, int64_t NC, int64_t H, int64_t W,
	       const struct bo_window *w, int64_t OH, int64_t OW);

#endif
