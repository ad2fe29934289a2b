/* Internal to the library (lib/fault.c, lib/fault_batch.c) and its unit
 * tests: the batched fault sampler's kernels and a way to pick a path.
 * Not a public header. */
#ifndef BROWNOUT_FAULT_IMPL_H
#define BROWNOUT_FAULT_IMPL_H

#include <stdint.h>

#include <brownout/fault.h>

/* Which code draws the faults. Every path gives the same faults, the same
 * values and leaves the stream at the same position (tests/unit/test_fault.c
 * checks it). */
enum bo_fault_path {
	BO_FAULT_AUTO = 0,      /* AVX2 when the CPU has it, else portable */
	BO_FAULT_REFERENCE = 1, /* one word, one log() at a time (before batching) */
	BO_FAULT_PORTABLE = 2,  /* batched, plain C */
	BO_FAULT_AVX2 = 3,      /* batched, AVX2 (portable where the CPU lacks it) */
};

/* 1 when the AVX2 kernels can run here. */
int bo_fault_have_avx2(void);

/* Philox4x32-10 blocks for the counters {first + b, ctr[1], ctr[2], ctr[3]},
 * b = 0..nblocks-1 (the draw counter wraps at 2^32 like bo_rng_u32's), under
 * key[]: out[4 b + k] is word k of block b, nblocks >= 0. AVX2: 8 blocks at
 * a time. */
void bo_philox_blocks(const uint32_t key[2], const uint32_t ctr[4], uint32_t first, int nblocks,
		      uint32_t *out, enum bo_fault_path path);

/* Geometric gaps: out[k] = floor(log((w[k] + 0.5) 2^-32) * inv), exactly
 * what libm's log gives (inv = 1 / log1p(-p) < 0), for k < n. AVX2: a
 * table-free log 4 lanes at a time, taken only where its error bound
 * cannot change the floor, else libm's log for that lane. out must have
 * room for n rounded up to a multiple of 4, w must be readable that far. */
void bo_fault_gaps(const uint32_t *w, int n, double inv, double *out, enum bo_fault_path path);

/* bo_inject on a chosen path. */
int64_t bo_inject_path(enum bo_fault_path path, enum bo_deviation dev, double p,
		       const struct bo_stored *st, float *data, int64_t n, struct bo_rng *rng,
		       struct bo_undo *undo);

#endif
