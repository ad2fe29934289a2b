/* brownout: fault models (spec sections 2 to 4).
 *
 * Values live in faulty memory quantised on B bits (two's complement, one
 * symmetric scale per tensor). A fault never replaces a value by its
 * quantised version: only the deviation computed in the quantised domain is
 * added, x' = x + (q' - q) * s, so a value without a faulty cell is left
 * bit-for-bit unchanged. Faults are drawn by geometric skipping over the
 * tensor's bit cells (BM) or values (erasure) from a counter-based Philox
 * stream, so the cost grows with the number of faults and every draw is
 * reproducible from (seed, point, trial, tensor, image). */
#ifndef BROWNOUT_FAULT_H
#define BROWNOUT_FAULT_H

#include <brownout/status.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bo_deviation {
	BO_DEV_BM = 0,      /* bit masking (Minerva): faulty bits go toward zero */
	BO_DEV_ERASURE = 1, /* a faulty value becomes 0 */
};

enum bo_target {
	BO_TARGET_BOTH = 0,
	BO_TARGET_WEIGHTS = 1,
	BO_TARGET_ACTIVATIONS = 2,
};

const char *bo_deviation_name(enum bo_deviation d);   /* "bm", "erasure" */
const char *bo_target_name(enum bo_target t);         /* "both", "weights", "activations" */
/* The names back (the CLI's options and a job's spec): BO_OK, or
 * BO_EINVAL "must be bm or erasure, not 'x'" (name may be NULL). */
#define BO_DEVIATION_CHOICES "bm or erasure"
#define BO_TARGET_CHOICES "weights, activations or both"
bo_status bo_deviation_parse(const char *name, enum bo_deviation *out, struct bo_error *err);
bo_status bo_target_parse(const char *name, enum bo_target *out, struct bo_error *err);

#define BO_MIN_BITS 2
#define BO_MAX_BITS 16

/* ---- quantisation (spec section 2) ---- */

/* s = max_abs / (2^(bits-1) - 1); 0 when max_abs is 0 (never changed). */
float bo_quant_scale(float max_abs, int bits);

/* q = clamp(round(x / s), lo, 2^(bits-1) - 1), round half away from zero,
 * lo = -2^(bits-1) (signed) or 0 (unsigned). s must be > 0. */
int32_t bo_quantize(float x, float s, int bits, int is_unsigned);

/* ---- BM deviation (spec section 3) ---- */

/* Apply BM to quantised value q given the mask of its faulty bit cells
 * (bit i set: cell i is faulty). Signed: a faulty sign bit (bits-1) gives
 * 0, else every faulty bit takes the sign bit's value. Unsigned: cells
 * 0..bits-2 only, faulty bits become 0. Returns q'. */
int32_t bo_bm_apply(int32_t q, uint32_t faulty, int bits, int is_unsigned);

/* Number of bit cells a value may have faulty: bits, or bits-1 unsigned. */
static inline int bo_cells(int bits, int is_unsigned)
{
	return is_unsigned ? bits - 1 : bits;
}

/* ---- randomness (spec section 4) ---- */

/* A Philox4x32-10 stream for one (seed, point, trial, tensor, image). The
 * key is derived from (seed, point); the counter holds (draw, image,
 * tensor, trial). `point` is the point's own value: bo_rng_point(p), the
 * 64-bit pattern of its p (under a per-block policy, the p the rules
 * scale), so a point's trials do not depend on the rest of its sweep. `tensor` is the weight index | BO_RNG_WEIGHT for weights,
 * the activation site index for activations; weights use image 0. */
#define BO_RNG_WEIGHT 0x80000000u
struct bo_rng {
	uint32_t key[2];
	uint32_t ctr[4];
	uint32_t buf[4];
	int left;
};

void bo_rng_init(struct bo_rng *r, uint64_t seed, uint64_t point, uint32_t trial,
		 uint32_t tensor, uint64_t image);
/* The stream key of a point whose value is p: its IEEE-754 bit pattern. */
uint64_t bo_rng_point(double p);
/* Next 32 random bits; next uniform double in (0, 1] (53 bits). */
uint32_t bo_rng_u32(struct bo_rng *r);
double bo_rng_uniform(struct bo_rng *r);

/* ---- injection ---- */

/* Undo log for weights: remember what injection changed so a trial's
 * faults can be removed by touching only the faulty values. */
struct bo_undo {
	int64_t n, cap;
	int64_t *index;
	float *old;
};
void bo_undo_release(struct bo_undo *u);
/* Restore data[] from the log and empty it. */
void bo_undo_apply(struct bo_undo *u, float *data);

/* What one tensor looks like in faulty memory. */
struct bo_stored {
	float scale;       /* quantisation scale s; 0: never changed */
	int bits;          /* B */
	int is_unsigned;
};

/* Inject faults into data[0..n) in place: BM with bit-cell probability p,
 * or erasure with value probability p, drawing from rng. When undo is not
 * NULL, every changed value's old content is appended to it. Returns the
 * number of values changed, or -1 when undo could not grow (BO_ENOMEM). */
int64_t bo_inject(enum bo_deviation dev, double p, const struct bo_stored *st, float *data,
		  int64_t n, struct bo_rng *rng, struct bo_undo *undo);

/* ---- nested weight faults (spec section 4b) ----
 *
 * Trial t is one chip across the whole sweep: every cell c (a bit cell
 * under BM, a value under erasure) of weight tensor `tensor` has a failure
 * level u_c ~ U(0, 1) that depends on (seed, trial, tensor, c) only, and c
 * is faulty at p exactly when u_c < p. So the faulty cells at p are a
 * subset of those at any larger p, each with the same deviation (BM: the
 * cell takes the sign bit's value, or a faulty sign cell gives 0; erasure:
 * 0), and the cells faulty at one p are distributed as bo_inject's. The
 * levels are drawn in dyadic bands (lib/fault.c): the cost of a call grows
 * with the cells whose u_c < 2p, as bo_inject's with those at p, not with
 * the sweep's other points. Inject into data[0..n) as bo_inject does (same
 * return value, same undo log). */
#define BO_RNG_NESTED UINT64_C(0xfff86e6573746564) /* a NaN's pattern: no point's p */
int64_t bo_inject_nested(enum bo_deviation dev, double p, const struct bo_stored *st,
			 float *data, int64_t n, uint64_t seed, uint32_t trial, uint32_t tensor,
			 struct bo_undo *undo);

#ifdef __cplusplus
}
#endif
#endif
