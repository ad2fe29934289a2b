/* Fault models: quantisation, BM and erasure deviations, the Philox stream
 * and the injector (docs/fault-models.md sections 2 to 4).
 *
 * Design
 * ------
 * Quantisation. q = clamp(round(x / s), lo, 2^(B-1) - 1): the quotient is
 * computed in double ((double)x / (double)s) and rounded with round(), i.e.
 * half away from zero; the clamp happens in double before the conversion, so
 * huge values and infinities clamp cleanly. NaN quantises to 0 (it has no
 * nearest integer; BM then leaves it alone since q' = q = 0). The scale of a
 * tensor is max|x| / (2^(B-1) - 1) in float; it is 0, meaning "never
 * changed", when max_abs is 0, negative or not finite, or bits is outside
 * [BO_MIN_BITS, BO_MAX_BITS].
 *
 * BM. bo_bm_apply works on the B-bit two's-complement pattern of q and
 * sign-extends the result. Signed: a faulty sign cell gives 0, otherwise
 * every faulty cell takes the sign bit's value (cleared for q >= 0, set for
 * q < 0), so |q'| <= |q| and q' never changes sign. Unsigned: the value has
 * only cells 0..B-2 (the sign bit is 0 and not stored in a faulty cell);
 * mask bits B-1 and above are ignored, and faulty cells become 0. q must
 * lie in the tensor's range [lo, 2^(B-1) - 1] (bo_quantize's output).
 * The float deviation is applied as x' = x + (float)(q' - q) * s, in float,
 * in two statements so that no compiler contracts it into an FMA: the
 * result is the same on every machine. A value on the quantisation grid
 * (x = q * s) whose q' is 0 becomes exactly 0. Off the grid, x' keeps x's
 * rounding residual (|x - q s| <= s/2), as the spec's formula says, so the
 * formula alone could land a value up to half a step on the other side of
 * 0 (x = 2.6 s, q = 3, q' = 0 gives -0.4 s), turning a ReLU output
 * negative. Since every BM deviation moves a value towards zero (spec
 * section 3) and unsigned tensors never turn negative (issue "Fault
 * injection and sweeps"), such a crossing stops at 0.
 *
 * Randomness. Philox4x32-10 (Random123). For a stream (seed, point, trial,
 * tensor, image), where `point` is the point's own value, the 64-bit
 * pattern of its p (spec section 4: never its position in the p list, so a
 * point gives the same trials whatever else its sweep holds):
 *   key  = words 0,1 of philox4x32({point & 0xffffffff, point >> 32,
 *                                   image >> 32, 0x626f7574 'bout'},
 *                                  {seed & 0xffffffff, seed >> 32})
 *   ctr  = {draw, image & 0xffffffff, tensor, trial}, draw = 0, 1, 2, ...
 * So for image < 2^32 (every real evaluation) the key depends on (seed,
 * point) only and distinct (image, tensor, trial) are distinct counters:
 * the streams of one (seed, point) never overlap as long as one stream uses
 * fewer than 2^32 Philox blocks (2^34 words; far beyond any tensor). Images
 * >= 2^32 fold their high word into the key (a pseudo-random key per 2^32
 * images). Different seeds or points give different (pseudo-random) keys.
 * bo_rng_u32 hands out the four words of each block in order (word 0
 * first), then moves to the next draw. bo_rng_uniform takes two words a, b
 * and returns ((a >> 5) * 2^26 + (b >> 6) + 1) / 2^53: 53 random bits,
 * in [2^-53, 1], never 0, so log(u) is finite.
 *
 * Sampling. BM: a tensor of n values has n * C bit cells (C = bo_cells),
 * value-major: cell g = i * C + bit. The faulty cells are found by geometric
 * skipping: the first faulty cell is G_0, the next one after g is
 * g + 1 + G, with G = floor(log(u) * (1 / log1p(-p))) (P(G >= k) = (1 - p)^k),
 * one uniform per fault, made from one word w: u = (w + 1/2) / 2^32, in
 * (0, 1) (the 2^-32 grain only matters for gaps whose probability is below
 * 1e-9; a 53-bit u cost a second word per fault, a fifth of the injection
 * time); a gap that reaches past the tensor ends it. The
 * faulty cells of one value are gathered into a mask and applied once.
 * Erasure skips over values the same way. p <= 0 (or NaN) draws nothing and
 * changes nothing; p >= 1 makes every cell (value) faulty without drawing.
 * A tensor with scale 0 (or a non-finite or negative scale, or bits out of
 * range) is never changed and draws nothing.
 *
 * Batches (issue 13, item 5). The walk above, one word, one Philox call and
 * one log() per fault, each fault waiting on the one before, is kept as the
 * reference path (BO_FAULT_REFERENCE in fault_impl.h). bo_inject takes the
 * batched path: up to 128 words at a time (the first batch of a tensor
 * sized to the faults it expects), their gaps computed together
 * (lib/fault_batch.c: Philox 8 blocks at a time and a table-free log 4
 * lanes at a time under AVX2, libm's floor exactly), the positions summed,
 * split into (value, cell) 4 at a time, the cells of a value gathered into
 * its mask, and the faulty values quantised, masked and written 4 at a time
 * without branching on their content (a value that does not change is
 * written back as it was; with an undo log only changed values are written
 * and logged). The words the walk did not use go back to the stream
 * (ctr, buf, left as bo_rng_u32 would have left them). So both paths give
 * the same faults, the same values, the same count and undo log and leave
 * the stream at the same word, on every machine (tests/unit/test_fault.c
 * compares them, and against golden hashes taken before batching).
 * log() comes from libm, so
 * bit-for-bit reproducibility across machines assumes the same correctly
 * rounding (glibc) log; a differing last ulp only moves a gap by one cell
 * in rare cases.
 *
 * Counting. bo_inject returns the number of values whose float content
 * actually changed (x' != x): a BM mask that leaves q unchanged (e.g. a
 * faulty 0 bit of a positive value), a deviation lost to float rounding, or
 * an erasure of a value that already compares equal to 0 (-0.0 stays -0.0)
 * does not count and is not logged. Each value is changed and logged at
 * most once per call.
 *
 * Undo. Before a value is written, (index, old value) is appended to the
 * log, which grows geometrically (doubling, from 256 entries). If the log
 * cannot grow, bo_inject reverts every value it changed in this call (from
 * the entries it appended, newest first), removes those entries, and
 * returns -1: data[] and the log are exactly as before the call; only the
 * rng has advanced. bo_inject also returns -1 (nothing changed) for
 * arguments that break its preconditions: st or rng NULL, data NULL with
 * n > 0, n < 0, an unknown deviation.
 *
 * The library never prints or exits. */
#include <math.h>
#include <string.h>

#include <Random123/philox.h>

#include <brownout/fault.h>

#include "internal.h"
#include "fault_impl.h"

const char *bo_deviation_name(enum bo_deviation d)
{
	const char *name = "unknown";
	switch (d) {
	case BO_DEV_BM:
		name = "bm";
		break;
	case BO_DEV_ERASURE:
		name = "erasure";
		break;
	}
	return name;
}

const char *bo_target_name(enum bo_target t)
{
	const char *name = "unknown";
	switch (t) {
	case BO_TARGET_BOTH:
		name = "both";
		break;
	case BO_TARGET_WEIGHTS:
		name = "weights";
		break;
	case BO_TARGET_ACTIVATIONS:
		name = "activations";
		break;
	}
	return name;
}

bo_status bo_deviation_parse(const char *name, enum bo_deviation *out, struct bo_error *err)
{
	static const enum bo_deviation all[] = { BO_DEV_BM, BO_DEV_ERASURE };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (name && !strcmp(name, bo_deviation_name(all[i]))) {
			*out = all[i];
			return BO_OK;
		}
	return Bo_fail(err, BO_EINVAL, "must be " BO_DEVIATION_CHOICES ", not '%s'",
		       name ? name : "");
}

bo_status bo_target_parse(const char *name, enum bo_target *out, struct bo_error *err)
{
	static const enum bo_target all[] = { BO_TARGET_WEIGHTS, BO_TARGET_ACTIVATIONS,
					      BO_TARGET_BOTH };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (name && !strcmp(name, bo_target_name(all[i]))) {
			*out = all[i];
			return BO_OK;
		}
	return Bo_fail(err, BO_EINVAL, "must be " BO_TARGET_CHOICES ", not '%s'", name ? name : "");
}

static int bits_ok(int bits)
{
	return bits >= BO_MIN_BITS && bits <= BO_MAX_BITS;
}

/* ---- quantisation ---- */

float bo_quant_scale(float max_abs, int bits)
{
	float s = 0.0f;
	if (bits_ok(bits) && isfinite(max_abs) && max_abs > 0.0f)
		s = max_abs / (float)((1 << (bits - 1)) - 1);
	return s;
}

int32_t bo_quantize(float x, float s, int bits, int is_unsigned)
{
	int32_t q = 0;
	if (bits_ok(bits) && s > 0.0f && !isnan(x)) {
		double hi = (double)((1 << (bits - 1)) - 1);
		double lo = is_unsigned ? 0.0 : -(double)(1 << (bits - 1));
		double r = round((double)x / (double)s);
		if (isnan(r)) /* s = +inf and x = +-inf */
			r = 0.0;
		r = r < lo ? lo : r > hi ? hi : r;
		q = (int32_t)r;
	}
	return q;
}

/* ---- BM ---- */

int32_t bo_bm_apply(int32_t q, uint32_t faulty, int bits, int is_unsigned)
{
	int32_t out = q;
	if (bits_ok(bits) && is_unsigned) {
		/* cells 0..bits-2 only; the sign bit (0) is not faulty */
		uint32_t keep = (1u << (bits - 1)) - 1u;
		out = (int32_t)((uint32_t)q & keep & ~(faulty & keep));
	} else if (bits_ok(bits)) {
		const uint32_t all = (1u << bits) - 1u;
		const uint32_t sign = 1u << (bits - 1);
		uint32_t u = (uint32_t)q & all;
		uint32_t m = faulty & all;
		if (m & sign) {
			out = 0;
		} else {
			u = (u & sign) ? (u | m) : (u & ~m);
			/* sign-extend the bits-wide pattern */
			out = (u & sign) ? (int32_t)u - (int32_t)(1u << bits) : (int32_t)u;
		}
	}
	return out;
}

/* ---- randomness ---- */

#define BO_RNG_TAG 0x626f7574u /* "bout" */

void bo_rng_init(struct bo_rng *r, uint64_t seed, uint64_t point, uint32_t trial,
		 uint32_t tensor, uint64_t image)
{
	philox4x32_ctr_t c = { { (uint32_t)point, (uint32_t)(point >> 32), (uint32_t)(image >> 32),
				 BO_RNG_TAG } };
	philox4x32_key_t k = { { (uint32_t)seed, (uint32_t)(seed >> 32) } };
	philox4x32_ctr_t d = philox4x32(c, k);
	r->key[0] = d.v[0];
	r->key[1] = d.v[1];
	r->ctr[0] = 0u;
	r->ctr[1] = (uint32_t)image;
	r->ctr[2] = tensor;
	r->ctr[3] = trial;
	memset(r->buf, 0, sizeof r->buf);
	r->left = 0;
}

uint64_t bo_rng_point(double p)
{
	uint64_t bits;
	memcpy(&bits, &p, sizeof bits);
	return bits;
}

uint32_t bo_rng_u32(struct bo_rng *r)
{
	if (r->left <= 0 || r->left > 4) {
		philox4x32_ctr_t c = { { r->ctr[0], r->ctr[1], r->ctr[2], r->ctr[3] } };
		philox4x32_key_t k = { { r->key[0], r->key[1] } };
		philox4x32_ctr_t d = philox4x32(c, k);
		memcpy(r->buf, d.v, sizeof r->buf);
		r->ctr[0]++;
		r->left = 4;
	}
	return r->buf[4 - r->left--];
}

double bo_rng_uniform(struct bo_rng *r)
{
	uint32_t a = bo_rng_u32(r) >> 5; /* 27 bits */
	uint32_t b = bo_rng_u32(r) >> 6; /* 26 bits */
	return ((double)a * 67108864.0 + (double)b + 1.0) / 9007199254740992.0;
}

/* ---- undo log ---- */

void bo_undo_release(struct bo_undo *u)
{
	if (u) {
		free(u->index);
		free(u->old);
		memset(u, 0, sizeof *u);
	}
}

void bo_undo_apply(struct bo_undo *u, float *data)
{
	if (u) {
		for (int64_t k = u->n - 1; k >= 0; k--)
			data[u->index[k]] = u->old[k];
		u->n = 0;
	}
}

/* Make room for one more entry. Returns 0, or -1 (log unchanged). */
static int undo_reserve(struct bo_undo *u)
{
	int rc = 0;
	if (u->n >= u->cap) {
		int64_t cap = u->cap < 128 ? 128 : u->cap;
		int64_t *index = NULL;
		float *old = NULL;
		rc = -1;
		if (!Bo_mul_ok(cap, 2, &cap) || (uint64_t)cap > SIZE_MAX / sizeof(int64_t))
			goto out;
		if (!(index = realloc(u->index, (size_t)cap * sizeof *index)))
			goto out;
		u->index = index; /* larger than cap says: harmless */
		if (!(old = realloc(u->old, (size_t)cap * sizeof *old)))
			goto out;
		u->old = old;
		u->cap = cap;
		rc = 0;
	}
out:
	return rc;
}

/* ---- injection ---- */

struct injector {
	float *data;
	struct bo_undo *undo;
	int64_t undo_start; /* undo->n when the call began */
	int64_t changed;
};

/* Write v into data[i], logging the old value. Returns 0 or -1. */
static int put(struct injector *in, int64_t i, float v)
{
	int rc = in->undo ? undo_reserve(in->undo) : 0;
	if (rc == 0) {
		if (in->undo) {
			in->undo->index[in->undo->n] = i;
			in->undo->old[in->undo->n] = in->data[i];
			in->undo->n++;
		}
		in->data[i] = v;
		in->changed++;
	}
	return rc;
}

/* Put back what this call changed and drop its log entries. */
static void revert(struct injector *in)
{
	struct bo_undo *u = in->undo;
	for (int64_t k = u->n - 1; k >= in->undo_start; k--)
		in->data[u->index[k]] = u->old[k];
	u->n = in->undo_start;
}

/* Where the gaps come from. The reference path draws one word and takes
 * one log() per gap, as the sampler always did. The batched paths
 * (lib/fault_batch.c) fill w[] with the words of up to GB Philox blocks
 * and gap[] with their gaps at once, and src_sync() hands back to the stream
 * the words the walk did not use, so the stream ends where the reference
 * leaves it: the same faults, the same position, bit for bit. The first
 * batch of a tensor is sized to the faults it expects, so that a tensor
 * with one fault does not pay for 128 words. */
#define GB 32 /* blocks per batch */
enum { SRC_NONE, SRC_BUF, SRC_BLK };
struct gapsrc {
	struct bo_rng *rng;
	double inv;     /* 1 / log1p(-p) < 0; 0: every item faulty, no draw */
	enum bo_fault_path path;
	int kind;       /* what the batch holds: SRC_BUF (words left in rng->buf), SRC_BLK */
	int n, k;       /* gaps in the batch, gaps used */
	uint32_t ctr0;  /* SRC_BLK: the draw counter of w[0..4) */
	uint32_t w[4 * GB];
	double gap[4 * GB];
	double step[4 * GB]; /* 1 + gap (batched paths) */
};

/* Put the stream where the reference would be after the words used. */
static void src_sync(struct gapsrc *s)
{
	struct bo_rng *r = s->rng;
	if (s->kind == SRC_BUF) {
		r->left = s->n - s->k;
	} else if (s->kind == SRC_BLK && s->k > 0) {
		int nb = s->k / 4, rem = s->k % 4;
		if (rem) {
			memcpy(r->buf, s->w + 4 * nb, sizeof r->buf);
			r->ctr[0] = s->ctr0 + (uint32_t)nb + 1u;
			r->left = 4 - rem;
		} else {
			memcpy(r->buf, s->w + 4 * (nb - 1), sizeof r->buf);
			r->ctr[0] = s->ctr0 + (uint32_t)nb;
			r->left = 0;
		}
	}
	s->kind = SRC_NONE;
	s->n = s->k = 0;
}

/* Next batch; `rest` items remain after the current one. */
static void refill(struct gapsrc *s, int64_t rest)
{
	struct bo_rng *r = s->rng;
	src_sync(s);
	if (r->left > 0 && r->left <= 4) {
		/* the words a previous draw left in the block first */
		s->kind = SRC_BUF;
		s->n = r->left;
		memset(s->w, 0, 4 * sizeof *s->w); /* the kernels read 4 at a time */
		memcpy(s->w, r->buf + (4 - r->left), (size_t)r->left * sizeof *s->w);
	} else {
		/* expected faults among `rest` items: rest p, p about -1 / inv */
		double want = (double)rest / -s->inv * 1.25 + 8.0;
		int nb = want >= 4.0 * GB ? GB : (int)(want / 4.0);
		r->left = 0; /* as bo_rng_u32 treats a left outside 1..4 */
		s->kind = SRC_BLK;
		s->ctr0 = r->ctr[0];
		s->n = 4 * nb;
		Bo_philox_blocks(r->key, r->ctr, s->ctr0, nb, s->w, s->path);
	}
	Bo_fault_gaps(s->w, s->n, s->inv, s->gap, s->path);
	for (int k = 0; k < s->n; k++)
		s->step[k] = 1.0 + s->gap[k];
	s->k = 0;
}

/* Index of the next faulty item after `g` (pass -1 for the first) among
 * `total` items, or total when there is none. Multiplying by the
 * reciprocal instead of dividing by log1p(-p) is what the hot loop can
 * afford; it moves a gap by at most one cell in a rare tie, which no
 * statistic can see. */
static inline int64_t next_fault(int64_t g, int64_t total, struct gapsrc *s)
{
	int64_t next = total;
	int64_t rest = total - g - 1; /* items after g */
	if (rest > 0 && s->inv == 0.0) {
		next = g + 1;
	} else if (rest > 0) {
		double gap;
		if (s->path == BO_FAULT_REFERENCE) {
			/* one 32-bit word per fault: u in (0, 1), never 0 */
			double u = ((double)bo_rng_u32(s->rng) + 0.5) * 0x1p-32;
			gap = floor(log(u) * s->inv);
		} else {
			if (s->k >= s->n)
				refill(s, rest);
			gap = s->gap[s->k++];
		}
		if (gap < (double)rest) /* false for a gap past the end */
			next = g + 1 + (int64_t)gap;
	}
	return next;
}

static int inject_bm(struct injector *in, int64_t n, const struct bo_stored *st,
		     struct gapsrc *src)
{
	const int cells = bo_cells(st->bits, st->is_unsigned);
	const float s = st->scale;
	int64_t total = 0;
	int rc = Bo_mul_ok(n, cells, &total) ? 0 : -1; /* overflow: not a real array */
	int64_t g = rc ? total : next_fault(-1, total, src);
	while (rc == 0 && g < total) {
		int64_t i = g / cells; /* one division per faulty value, not per fault */
		int64_t base = i * cells;
		int64_t end = base + cells;
		uint32_t mask = 0;
		do {
			mask |= 1u << (g - base);
			g = next_fault(g, total, src);
		} while (g < end);
		float x = in->data[i];
		if (x == 0.0f)
			continue; /* BM leaves 0 at 0 (q = q' = 0): skip the quantisation */
		int32_t q = bo_quantize(x, s, st->bits, st->is_unsigned);
		int32_t q2 = bo_bm_apply(q, mask, st->bits, st->is_unsigned);
		if (q2 == q)
			continue;
		float d = (float)(q2 - q) * s;
		float x2 = x + d;
		if ((x > 0.f && x2 < 0.f) || (x < 0.f && x2 > 0.f))
			x2 = 0.f; /* towards zero, never across it */
		if (x2 != x)
			rc = put(in, i, x2);
	}
	return rc;
}

static int inject_erasure(struct injector *in, int64_t n, struct gapsrc *src)
{
	int rc = 0;
	for (int64_t i = next_fault(-1, n, src); rc == 0 && i < n; i = next_fault(i, n, src)) {
		if (in->data[i] != 0.0f)
			rc = put(in, i, 0.0f);
	}
	return rc;
}

/* ---- the batched walk ----
 *
 * The same faults as inject_bm / inject_erasure above, found and applied
 * with few unpredictable branches: a batch of gaps becomes a run of cell
 * positions (g += 1 + gap, until a gap reaches past the end), positions
 * become (value, mask) by a multiply with the reciprocal of the cell count
 * (corrected to the exact quotient), and each faulty value is quantised,
 * masked and written without branching on its content: a value that does
 * not change is written back as it was, unless an undo log is kept (then
 * only changed values are written and logged, as put() does). */

/* inject_bm's deviation for data[i] (the undo path: weights). */
static inline int bm_value(struct injector *in, const struct bo_bmv *b, int64_t i, uint32_t mask)
{
	int w, rc = 0;
	float x2 = Bo_bm_value(b, in->data[i], mask, &w);
	if (w)
		rc = put(in, i, x2);
	return rc;
}

/* The values of a batch: AVX2 or plain, or one by one with the log. */
static int apply_values(struct injector *in, const struct bo_bmv *b, const int64_t *vi,
			const uint32_t *vm, int nv, enum bo_fault_path path)
{
	int rc = 0;
	if (!in->undo) {
		in->changed += Bo_bm_apply_batch(in->data, vi, vm, nv, b, path);
	} else {
		for (int k = 0; rc == 0 && k < nv; k++)
			rc = bm_value(in, b, vi[k], vm[k]);
	}
	return rc;
}

/* Positions of the faults of the next batch into pos[], after *g (the
 * last fault, *g < total - 1: a word is drawn); returns how many (<= 4 GB)
 * and leaves *g at the last of them, or at `total` when a gap ran past the
 * end. The positions are summed in double, exact below 2^53 (total <
 * 2^50); a gap past the end lands at or beyond total, and so do all after
 * it. The words used: one per fault, plus the one that ran past the end,
 * unless the last fault is the last item (the reference draws no more). */
static inline int next_positions(struct gapsrc *src, int64_t *g, int64_t total, double *pos)
{
	if (src->k >= src->n)
		refill(src, total - *g - 1);
	const double tot = (double)total;
	const int k0 = src->k, avail = src->n - k0;
	double at = (double)*g;
	for (int j = 0; j < avail; j++) {
		at += src->step[k0 + j]; /* one add per fault on the chain */
		pos[j] = at;
	}
	int m = 0;
	for (int j = 0; j < avail; j++)
		m += pos[j] < tot;
	if (m == avail) {
		src->k = src->n;
		*g = (int64_t)pos[m - 1];
	} else if (m > 0 && (int64_t)pos[m - 1] == total - 1) {
		src->k = k0 + m;
		*g = total;
	} else {
		src->k = k0 + m + 1;
		*g = total;
	}
	return m;
}

static int inject_bm_batched(struct injector *in, int64_t n, const struct bo_stored *st,
			     struct gapsrc *src)
{
	const int cells = bo_cells(st->bits, st->is_unsigned);
	int64_t total = 0;
	if (!Bo_mul_ok(n, cells, &total) || total >= ((int64_t)1 << 50))
		return inject_bm(in, n, st, src); /* beyond the exact sums */
	const int bits = st->bits;
	const struct bo_bmv b = {
		.sd = (double)st->scale,
		.hi = (double)((1 << (bits - 1)) - 1),
		.lo = st->is_unsigned ? 0.0 : -(double)(1 << (bits - 1)),
		.hi1 = (double)((1 << (bits - 1)) - 1) + 1.0,
		.lo1 = (st->is_unsigned ? 0.0 : -(double)(1 << (bits - 1))) - 1.0,
		.s = st->scale,
		.uns = st->is_unsigned,
		.keep = (1u << (bits - 1)) - 1u,
		.all = (1u << bits) - 1u,
		.sign = 1u << (bits - 1),
		.ext = ~((1u << bits) - 1u),
	};
	double pos[4 * GB];
	int64_t fi[4 * GB], vi[4 * GB];
	uint32_t fb[4 * GB], vm[4 * GB];
	int64_t g = -1, cur = -1;
	uint32_t mask = 0;
	int rc = 0;
	while (rc == 0 && g < total - 1) {
		int m = next_positions(src, &g, total, pos), nv = 0;
		Bo_fault_cells(pos, m, cells, fi, fb, src->path);
		for (int j = 0; j < m; j++) {
			if (fi[j] != cur) {
				vi[nv] = cur;
				vm[nv] = mask;
				nv += cur >= 0;
				cur = fi[j];
				mask = 0;
			}
			mask |= 1u << fb[j];
		}
		rc = apply_values(in, &b, vi, vm, nv, src->path);
	}
	if (rc == 0 && cur >= 0)
		rc = apply_values(in, &b, &cur, &mask, 1, src->path);
	return rc;
}

static int inject_erasure_batched(struct injector *in, int64_t n, struct gapsrc *src)
{
	if (n >= ((int64_t)1 << 50))
		return inject_erasure(in, n, src); /* beyond the exact sums */
	double pos[4 * GB];
	int64_t g = -1;
	int rc = 0;
	while (rc == 0 && g < n - 1) {
		int m = next_positions(src, &g, n, pos);
		for (int j = 0; rc == 0 && j < m; j++) {
			int64_t i = (int64_t)pos[j];
			float x = in->data[i];
			int w = x != 0.0f;
			if (!in->undo) {
				in->data[i] = Bo_select_float(w, 0.0f, x);
				in->changed += w;
			} else if (w) {
				rc = put(in, i, 0.0f);
			}
		}
	}
	return rc;
}

int64_t bo_inject(enum bo_deviation dev, double p, const struct bo_stored *st, float *data,
		  int64_t n, struct bo_rng *rng, struct bo_undo *undo)
{
	return Bo_inject_path(BO_FAULT_AUTO, dev, p, st, data, n, rng, undo);
}

int64_t Bo_inject_path(enum bo_fault_path path, enum bo_deviation dev, double p,
		       const struct bo_stored *st, float *data, int64_t n, struct bo_rng *rng,
		       struct bo_undo *undo)
{
	int64_t ret = -1;
	struct injector in = { data, undo, undo ? undo->n : 0, 0 };
	if (!st || !rng || n < 0 || (!data && n > 0) ||
	    (dev != BO_DEV_BM && dev != BO_DEV_ERASURE))
		goto out;
	ret = 0;
	/* p <= 0 or NaN; scale 0 (or unusable): never changed, nothing drawn */
	if (!(p > 0.0) || n == 0 || !bits_ok(st->bits) || !(st->scale > 0.0f) ||
	    !isfinite(st->scale))
		goto out;
	struct gapsrc gs, *src = &gs; /* w[], gap[], step[] are written before read */
	src->rng = rng;
	src->path = path;
	src->kind = SRC_NONE;
	src->n = src->k = 0;
	src->ctr0 = 0;
	src->inv = p >= 1.0 ? 0.0 : 1.0 / log1p(-p);
	int rc;
	if (path == BO_FAULT_REFERENCE || src->inv == 0.0)
		rc = dev == BO_DEV_BM ? inject_bm(&in, n, st, src) : inject_erasure(&in, n, src);
	else
		rc = dev == BO_DEV_BM ? inject_bm_batched(&in, n, st, src)
				      : inject_erasure_batched(&in, n, src);
	src_sync(src); /* unused words back to the stream */
	if (rc && undo)
		revert(&in);
	ret = rc ? -1 : in.changed;
out:
	return ret;
}

/* ---- nested weight faults (spec 4b) ----
 *
 * A chip's failure levels u_c ~ U(0, 1), one per cell, without touching
 * every cell: the unit interval is cut into dyadic bands, band k < K =
 * [2^-(k+1), 2^-k) and band K = [0, 2^-K). Walking from the deepest band
 * up, a cell lies in band k when it lies in no deeper band and a coin of
 * probability r_k = 2^-(k+1) / (1 - 2^-(k+1)) says so (r_K = 2^-K), so
 * P(band k) = (1 - 2^-(k+1)) r_k = 2^-(k+1), independently per cell: u_c
 * is uniform. Each band's coins are a geometric walk on its own stream
 * (one word per candidate, as the reference injector) followed by the
 * candidate's level in the band (bo_rng_uniform), and a cell drawn by
 * several bands belongs to the deepest (its level is that band's). The
 * bands, their candidates and levels depend on (seed, trial, tensor) only,
 * never on p, the point or the rest of the sweep, so a chip is the same
 * whichever task, worker or process evaluates it. At p only bands k >= k0
 * (2^-(k0+1) < p) can hold u_c < p; the walk merges them in a binary heap
 * by (candidate, deepest band first) (deep bands are empty and leave at
 * once), so a call costs about the cells with u_c < 2p. */
static void nested_advance(struct bo_nested_walk *w, int i)
{
	struct bo_nested_band *s = &w->s[i];
	int64_t rest = w->total - s->at - 1;
	if (rest <= 0) {
		s->at = w->total;
		return;
	}
	if (s->inv != 0.0) {
		double uu = ((double)bo_rng_u32(&s->rng) + 0.5) * 0x1p-32;
		double gap = floor(log(uu) * s->inv);
		if (!(gap < (double)rest)) {
			s->at = w->total;
			return;
		}
		s->at += 1 + (int64_t)gap;
	} else {
		s->at += 1;
	}
	double v = 1.0 - bo_rng_uniform(&s->rng); /* [0, 1) */
	double u = s->lo + v * s->width, hi = s->lo + s->width;
	s->u = u < hi ? u : nextafter(hi, 0.0);
}

/* Band a comes before band b: its candidate first, the deeper on a tie. */
static inline int band_before(const struct bo_nested_walk *w, int a, int b)
{
	return w->s[a].at < w->s[b].at || (w->s[a].at == w->s[b].at && w->s[a].band > w->s[b].band);
}

static void heap_down(struct bo_nested_walk *w, int i)
{
	for (;;) {
		int l = 2 * i + 1, m = i;
		if (l < w->n && band_before(w, w->heap[l], w->heap[m]))
			m = l;
		if (l + 1 < w->n && band_before(w, w->heap[l + 1], w->heap[m]))
			m = l + 1;
		if (m == i)
			return;
		int t = w->heap[i];
		w->heap[i] = w->heap[m];
		w->heap[m] = t;
		i = m;
	}
}

void Bo_nested_begin(struct bo_nested_walk *w, double p, int64_t total, uint64_t seed,
		     uint32_t trial, uint32_t tensor)
{
	memset(w, 0, sizeof *w);
	w->total = total;
	w->p = p;
	if (!(p > 0.0) || total <= 0)
		return;
	int k0 = 0, m = 0;
	while (k0 < BO_NESTED_BANDS && ldexp(1.0, -(k0 + 1)) >= p)
		k0++;
	for (int k = k0; k <= BO_NESTED_BANDS; k++) {
		struct bo_nested_band *s = &w->s[m];
		double r = k < BO_NESTED_BANDS ? 1.0 / (ldexp(1.0, k + 1) - 1.0) :
						 ldexp(1.0, -BO_NESTED_BANDS);
		s->band = k;
		s->inv = r >= 1.0 ? 0.0 : 1.0 / log1p(-r);
		s->lo = k < BO_NESTED_BANDS ? ldexp(1.0, -(k + 1)) : 0.0;
		s->width = k < BO_NESTED_BANDS ? ldexp(1.0, -(k + 1)) : ldexp(1.0, -BO_NESTED_BANDS);
		bo_rng_init(&s->rng, seed, BO_RNG_NESTED, trial, tensor, (uint64_t)k);
		s->at = -1;
		nested_advance(w, m);
		if (s->at < total)
			w->heap[w->n++] = m++;
	}
	for (int i = w->n / 2 - 1; i >= 0; i--)
		heap_down(w, i);
}

int Bo_nested_next(struct bo_nested_walk *w, int64_t *cell, double *u)
{
	while (w->n > 0) {
		/* the root: the next candidate, from the deepest band that drew it */
		int64_t at = w->s[w->heap[0]].at;
		double level = w->s[w->heap[0]].u;
		while (w->n > 0 && w->s[w->heap[0]].at == at) {
			nested_advance(w, w->heap[0]);
			if (w->s[w->heap[0]].at >= w->total)
				w->heap[0] = w->heap[--w->n]; /* this band is done */
			heap_down(w, 0);
		}
		if (level < w->p) {
			*cell = at;
			*u = level;
			return 1;
		}
	}
	return 0;
}

/* inject_bm's deviation of value i under mask (the reference's code). */
static int bm_put(struct injector *in, const struct bo_stored *st, int64_t i, uint32_t mask)
{
	float x = in->data[i];
	if (x == 0.0f)
		return 0;
	int32_t q = bo_quantize(x, st->scale, st->bits, st->is_unsigned);
	int32_t q2 = bo_bm_apply(q, mask, st->bits, st->is_unsigned);
	if (q2 == q)
		return 0;
	float d = (float)(q2 - q) * st->scale;
	float x2 = x + d;
	if ((x > 0.f && x2 < 0.f) || (x < 0.f && x2 > 0.f))
		x2 = 0.f;
	return x2 != x ? put(in, i, x2) : 0;
}

int64_t bo_inject_nested(enum bo_deviation dev, double p, const struct bo_stored *st,
			 float *data, int64_t n, uint64_t seed, uint32_t trial, uint32_t tensor,
			 struct bo_undo *undo)
{
	int64_t ret = -1, total = 0;
	struct injector in = { data, undo, undo ? undo->n : 0, 0 };
	struct bo_nested_walk *w = NULL;
	if (!st || n < 0 || (!data && n > 0) || (dev != BO_DEV_BM && dev != BO_DEV_ERASURE))
		goto out;
	ret = 0;
	if (!(p > 0.0) || n == 0 || !bits_ok(st->bits) || !(st->scale > 0.0f) ||
	    !isfinite(st->scale))
		goto out;
	const int cells = dev == BO_DEV_BM ? bo_cells(st->bits, st->is_unsigned) : 1;
	ret = -1;
	if (!Bo_mul_ok(n, cells, &total) || !(w = malloc(sizeof *w)))
		goto out;
	Bo_nested_begin(w, p, total, seed, trial, tensor);
	int rc = 0;
	int64_t cell, cur = -1;
	uint32_t mask = 0;
	double u;
	while (rc == 0 && Bo_nested_next(w, &cell, &u)) {
		int64_t i = cell / cells;
		if (dev == BO_DEV_ERASURE) {
			rc = data[i] != 0.0f ? put(&in, i, 0.0f) : 0;
			continue;
		}
		if (i != cur && cur >= 0)
			rc = bm_put(&in, st, cur, mask);
		if (i != cur)
			mask = 0;
		cur = i;
		mask |= 1u << (cell - i * cells);
	}
	if (rc == 0 && cur >= 0)
		rc = bm_put(&in, st, cur, mask);
	if (rc && undo)
		revert(&in);
	ret = rc ? -1 : in.changed;
out:
	free(w);
	return ret;
}
