/* Winograd F(2x2,3x3) convolution (winograd.c). Private to lib/. */
#ifndef BO_WINOGRAD_H
#define BO_WINOGRAD_H

#include "plan.h"

/* Transformed weights U, one entry per Conv node, shared by a session's
 * slots (entries are filled lazily under a per-entry mutex). */
struct bo_wino_cache;

/* NULL when out of memory. */
struct bo_wino_cache *Bo_wino_cache_new(const struct bo_model *m);
void Bo_wino_cache_free(struct bo_wino_cache *c);
/* Forget every U computed from the weight data at `data` (a stored weight
 * that bo_session_set_weight is replacing). Not concurrent with runs. */
void Bo_wino_cache_invalidate(struct bo_wino_cache *c, const float *data);

/* Conv node ni of p can run as F(2x2,3x3): 2-D, 3x3 kernel, stride 1,
 * dilation 1, group 1, constant weight, any pads. */
int Bo_wino_applicable(const struct bo_plan *p, int ni);
/* Whether node ni runs as Winograd under p->conv_algo (see engine.h) and
 * the measured rule for "auto"; always 0 when p->wcache is NULL. */
int Bo_wino_use(const struct bo_plan *p, int ni);
/* Tiles (2x2 output blocks) handled per chunk for C input and M output
 * channels and T tiles in all: bounds the scratch whatever the batch. */
int64_t Bo_wino_chunk_tiles(int64_t C, int64_t M, int64_t T);
/* Scratch floats Bo_wino_conv needs for node ni (0 if not applicable). */
int64_t Bo_wino_scratch_floats(const struct bo_plan *p, int ni);

/* Run Conv node ni (Bo_wino_use() true) on in[] into y; scratch holds
 * p->scratch_floats floats. BO_ENOMEM if U cannot be allocated. */
bo_status Bo_wino_conv(const struct bo_plan *p, int ni, const float *const *in, float *y,
		       float *scratch);

#endif
