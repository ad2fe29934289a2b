/* Internal to the library (lib/fault.c, lib/fault_batch.c) and its unit
 * tests: the batched fault sampler's kernels and a way to pick a path.
 * Not a public header. */
#ifndef BROWNOUT_FAULT_IMPL_H
#define BROWNOUT_FAULT_IMPL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

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
int Bo_fault_have_avx2(void);

/* Philox4x32-10 blocks for the counters {first + b, ctr[1], ctr[2], ctr[3]},
 * b = 0..nblocks-1 (the draw counter wraps at 2^32 like bo_rng_u32's), under
 * key[]: out[4 b + k] is word k of block b, nblocks >= 0. AVX2: 8 blocks at
 * a time. */
void Bo_philox_blocks(const uint32_t key[2], const uint32_t ctr[4], uint32_t first, int nblocks,
		      uint32_t *out, enum bo_fault_path path);

/* Geometric gaps: out[k] = floor(log((w[k] + 0.5) 2^-32) * inv), exactly
 * what libm's log gives (inv = 1 / log1p(-p) < 0), for k < n. AVX2: a
 * table-free log 4 lanes at a time, taken only where its error bound
 * cannot change the floor, else libm's log for that lane. out must have
 * room for n rounded up to a multiple of 4, w must be readable that far. */
void Bo_fault_gaps(const uint32_t *w, int n, double inv, double *out, enum bo_fault_path path);

/* BM on one value, without branching on it (lib/fault.c's batched walk):
 * q = clamp(round(x / s)) as bo_quantize (clamping to one beyond the range
 * first keeps the conversion in int range and changes no result; NaN
 * gives 0), q' = bo_bm_apply(q, mask), x' = x + (q' - q) s stopped at 0,
 * as inject_bm. Returns x', *w = 1 when the value changes (x' != x). */
struct bo_bmv {
	double sd, lo, hi, lo1, hi1; /* scale, range, range widened by one */
	float s;
	int uns;
	uint32_t keep, all, sign, ext;
};

static inline float Bo_select_float(int w, float a, float b) /* w ? a : b, no branch */
{
	uint32_t ua, ub, sel = 0u - (uint32_t)w;
	memcpy(&ua, &a, sizeof ua);
	memcpy(&ub, &b, sizeof ub);
	ua = (ua & sel) | (ub & ~sel);
	memcpy(&a, &ua, sizeof a);
	return a;
}

static inline float Bo_bm_value(const struct bo_bmv *b, float x, uint32_t mask, int *w)
{
	double r = (double)x / b->sd;
	r = r == r ? r : 0.0;
	r = r < b->lo1 ? b->lo1 : r;
	r = r > b->hi1 ? b->hi1 : r;
	/* round half away from zero: exact for every double (the addend is
	 * the largest double below 1/2), then truncation */
	double qd = (double)(int32_t)(r + copysign(0.49999999999999994, r));
	qd = qd < b->lo ? b->lo : qd;
	qd = qd > b->hi ? b->hi : qd;
	int32_t q = (int32_t)qd, q2;
	if (b->uns) {
		q2 = (int32_t)((uint32_t)q & b->keep & ~mask);
	} else {
		uint32_t u = (uint32_t)q & b->all, m = mask & b->all;
		uint32_t neg = 0u - ((u & b->sign) != 0);
		uint32_t u2 = (neg & (u | m)) | (~neg & (u & ~m));
		q2 = (int32_t)(u2 | (neg & b->ext)); /* sign-extended */
		q2 &= -(int32_t)((m & b->sign) == 0); /* a faulty sign cell: 0 */
	}
	float d = (float)(q2 - q) * b->s;
	float x2 = x + d;
	int cross = ((x > 0.f) & (x2 < 0.f)) | ((x < 0.f) & (x2 > 0.f));
	x2 = Bo_select_float(cross, 0.f, x2); /* towards zero, never across it */
	*w = (q2 != q) & (x2 != x);
	return x2;
}

/* Bo_bm_value on data[vi[k]] with mask vm[k], k < nv, the indices distinct:
 * every value is written, changed or as it was. Returns how many changed.
 * AVX2: 4 values at a time. */
int64_t Bo_bm_apply_batch(float *data, const int64_t *vi, const uint32_t *vm, int nv,
			  const struct bo_bmv *b, enum bo_fault_path path);

/* Cells to (value, bit): vi[k] = floor(pos[k] / cells), bit[k] = pos[k] -
 * vi[k] cells, for integer-valued 0 <= pos[k] < 2^50, 1 <= cells <= 16,
 * k < n. AVX2: 4 at a time. */
void Bo_fault_cells(const double *pos, int n, int cells, int64_t *vi, uint32_t *bit,
		    enum bo_fault_path path);

/* bo_inject on a chosen path. */
int64_t Bo_inject_path(enum bo_fault_path path, enum bo_deviation dev, double p,
		       const struct bo_stored *st, float *data, int64_t n, struct bo_rng *rng,
		       struct bo_undo *undo);

/* The nested walk (bo_inject_nested, spec 4b): the cells c < total with
 * u_c < p, in ascending order, with their levels. Band k < K holds the
 * cells with u_c in [2^-(k+1), 2^-k), band K those in [0, 2^-K); band k's
 * candidates are a geometric walk over every cell at r_k = 2^-(k+1) / (1 -
 * 2^-(k+1)) (r_K = 2^-K) on the Philox stream (seed, BO_RNG_NESTED, trial,
 * tensor, image k), a cell belongs to the deepest band that draws it, and
 * its level is uniform in that band. Only the bands that can hold u < p
 * are walked. */
#define BO_NESTED_BANDS 48 /* K */
struct bo_nested_band {
	struct bo_rng rng;
	int64_t at;  /* the band's current candidate, total: none left */
	double u;    /* its level */
	double inv;  /* 1 / log1p(-r_k); 0: every cell */
	double lo, width;
	int band;
};
struct bo_nested_walk {
	int64_t total;
	double p;
	int n; /* bands still running */
	struct bo_nested_band s[BO_NESTED_BANDS + 1];
	int heap[BO_NESTED_BANDS + 1]; /* the running bands by (at, deepest first) */
};
void Bo_nested_begin(struct bo_nested_walk *w, double p, int64_t total, uint64_t seed,
		     uint32_t trial, uint32_t tensor);
/* The next cell with u_c < p: returns 1 with *cell and *u, 0 when none left. */
int Bo_nested_next(struct bo_nested_walk *w, int64_t *cell, double *u);

#endif
