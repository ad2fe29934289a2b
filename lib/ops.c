/* Operators: the table (bo_ops[], at the end) and, for every op, its
 * attribute parser, shape rule, kernel and FLOPs. The loader (onnx_load.c),
 * the planner (plan.c) and the session only consult the table; an op is
 * added here and in enum bo_opcode, nowhere else.
 *
 * Convolution goes through im2col + cblas_sgemm. For large feature maps one
 * image at a time (the GEMM writes straight into the output); for small
 * ones several images' columns side by side, so the GEMM stays wide enough
 * to run near OpenBLAS's peak, then a copy scatters the result to NCHW.
 * 1x1 stride-1 unpadded convolutions skip im2col, and depthwise ones use a
 * direct loop (depthwise.c; a GEMM with K = kh*kw is all overhead). All kernels take
 * NCHW float32 and may run in place where the plan says so: every
 * elementwise loop reads index i before writing it. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "depthwise.h"
#include "maxpool.h"
#include "ops.h"
#include "vmath.h"
#include "winograd.h"

#define SHP(v) (&p->shape[(v)])

/* row-major strides of a shape */
static void strides_of(const struct bo_shape *s, int64_t *str)
{
	int64_t acc = 1;
	for (int i = s->rank - 1; i >= 0; i--) {
		str[i] = acc;
		acc *= s->d[i];
	}
}

/* ---- convolution ---- */

static void im2col(const float *x, int64_t nb, int64_t C, int64_t H, int64_t W, int64_t xstride,
		   const struct bo_window *w, int64_t OH, int64_t OW, float *col)
{
	int64_t kh = w->k[0], kw = w->k[1];
	int64_t cols = nb * OH * OW;
	for (int64_t c = 0; c < C; c++)
		for (int64_t i = 0; i < kh; i++)
			for (int64_t j = 0; j < kw; j++) {
				float *row = col + ((c * kh + i) * kw + j) * cols;
				for (int64_t b = 0; b < nb; b++) {
					const float *xc = x + b * xstride + c * H * W;
					for (int64_t oh = 0; oh < OH; oh++) {
						float *dst = row + (b * OH + oh) * OW;
						int64_t ih = oh * w->s[0] - w->pb[0] + i * w->d[0];
						if (ih < 0 || ih >= H) {
							memset(dst, 0, (size_t)OW * sizeof(float));
							continue;
						}
						const float *src = xc + ih * W;
						int64_t off = j * w->d[1] - w->pb[1];
						if (w->s[1] == 1) {
							/* contiguous: zeros, copy, zeros */
							int64_t lo = off < 0 ? -off : 0;
							int64_t hi = W - off;
							if (hi > OW)
								hi = OW;
							if (lo > OW)
								lo = OW;
							if (hi < lo)
								hi = lo;
							if (lo)
								memset(dst, 0, (size_t)lo * sizeof(float));
							if (hi > lo)
								memcpy(dst + lo, src + lo + off,
								       (size_t)(hi - lo) * sizeof(float));
							if (hi < OW)
								memset(dst + hi, 0, (size_t)(OW - hi) * sizeof(float));
						} else {
							for (int64_t ow = 0; ow < OW; ow++) {
								int64_t iw = ow * w->s[1] + off;
								dst[ow] = iw >= 0 && iw < W ? src[iw] : 0.f;
							}
						}
					}
				}
			}
}

/* GEMM columns per block when one image's GEMM writes the output: a
 * block's output (Mg x block floats) stays in L2 while its bias is filled
 * in before and the fused activation applied after the GEMM */
#define CONV_BLOCK_FLOATS (1 << 16)

static void conv(const struct bo_plan *p, const struct bo_node *n, const struct bo_window *w,
		 const float *const *in, float *y, float *scratch, const struct bo_act *act)
{
	const struct bo_shape *xs = SHP(n->in[0]), *ws = SHP(n->in[1]);
	const float *x = in[0], *wt = in[1];
	const float *bias = n->n_in > 2 && n->in[2] >= 0 ? in[2] : NULL;
	int two = xs->rank == 4;
	int64_t N = xs->d[0], C = xs->d[1], H = two ? xs->d[2] : 1, W = xs->d[two ? 3 : 2];
	int64_t M = ws->d[0], g = w->group;
	const struct bo_shape *ys = SHP(n->out[0]);
	int64_t OH = two ? ys->d[2] : 1, OW = ys->d[two ? 3 : 2], OHW = OH * OW;
	int64_t Cg = C / g, Mg = M / g, K = Cg * w->k[0] * w->k[1];

	if (g == C && M == C && Cg == 1) {
		Bo_dw_conv(x, wt, bias, y, N, C, H, W, w, OH, OW, act, scratch);
		return;
	}
	int pointwise = w->k[0] == 1 && w->k[1] == 1 && w->s[0] == 1 && w->s[1] == 1 &&
			w->pb[0] == 0 && w->pb[1] == 0 && w->pe[0] == 0 && w->pe[1] == 0;
	int64_t nb = OHW >= 256 ? 1 : BO_MIN(N, (256 + OHW - 1) / OHW);
	for (int64_t n0 = 0; n0 < N; n0 += nb) {
		int64_t cnt = BO_MIN(nb, N - n0);
		int64_t cols = cnt * OHW;
		for (int64_t gi = 0; gi < g; gi++) {
			const float *xg = x + (n0 * C + gi * Cg) * H * W;
			const float *B;
			if (pointwise && cnt == 1) {
				B = xg;
			} else {
				im2col(xg, cnt, Cg, H, W, C * H * W, w, OH, OW, scratch);
				B = scratch;
			}
			float *dst;
			int64_t ldc, blk = cols;
			if (cnt == 1) {
				dst = y + (n0 * M + gi * Mg) * OHW;
				ldc = OHW;
				blk = BO_MIN(cols, BO_MAX(CONV_BLOCK_FLOATS / BO_MAX(Mg, 1) / 64 * 64, 256));
			} else {
				dst = scratch + K * cols;
				ldc = cols;
			}
			for (int64_t c0 = 0; c0 < cols; c0 += blk) {
				int64_t nc = BO_MIN(blk, cols - c0);
				float beta = 0.f;
				if (bias) {
					for (int64_t mm = 0; mm < Mg; mm++) {
						float b = bias[gi * Mg + mm];
						float *r = dst + mm * ldc + c0;
						for (int64_t k = 0; k < nc; k++)
							r[k] = b;
					}
					beta = 1.f;
				}
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Mg, (int)nc,
					    (int)K, 1.f, wt + gi * Mg * K, (int)K, B + c0, (int)cols, beta,
					    dst + c0, (int)ldc);
				if (act)
					for (int64_t mm = 0; mm < Mg; mm++)
						Bo_act_apply(act, dst + mm * ldc + c0, nc);
			}
			if (cnt > 1)
				for (int64_t b = 0; b < cnt; b++)
					for (int64_t mm = 0; mm < Mg; mm++)
						memcpy(y + ((n0 + b) * M + gi * Mg + mm) * OHW,
						       dst + mm * ldc + b * OHW, (size_t)OHW * sizeof(float));
		}
	}
}

/* ---- pooling ---- */

static void pool(const struct bo_plan *p, const struct bo_node *n, const struct bo_window *w,
		 const float *x, float *y)
{
	const struct bo_shape *xs = SHP(n->in[0]), *ys = SHP(n->out[0]);
	int two = xs->rank == 4;
	int64_t NC = xs->d[0] * xs->d[1], H = two ? xs->d[2] : 1, W = xs->d[two ? 3 : 2];
	int64_t OH = two ? ys->d[2] : 1, OW = ys->d[two ? 3 : 2];
	int is_max = n->op == OP_MAXPOOL;
	if (is_max && two && Bo_maxpool(x, y, NC, H, W, w, OH, OW))
		return; /* the common windows, without per-tap checks (maxpool.c) */
	for (int64_t c = 0; c < NC; c++) {
		const float *xc = x + c * H * W;
		float *yc = y + c * OH * OW;
		for (int64_t oh = 0; oh < OH; oh++)
			for (int64_t ow = 0; ow < OW; ow++) {
				float acc = is_max ? -INFINITY : 0.f;
				int64_t cnt = 0, padded = 0;
				for (int64_t i = 0; i < w->k[0]; i++) {
					int64_t ih = oh * w->s[0] - w->pb[0] + i * w->d[0];
					for (int64_t j = 0; j < w->k[1]; j++) {
						int64_t iw = ow * w->s[1] - w->pb[1] + j * w->d[1];
						if (ih < 0 || ih >= H || iw < 0 || iw >= W) {
							/* count_include_pad counts explicit pads,
							 * not the ceil_mode overhang */
							if (ih < H + w->pe[0] && iw < W + w->pe[1])
								padded++;
							continue;
						}
						float v = xc[ih * W + iw];
						if (is_max) {
							if (v > acc || isnan(v))
								acc = v;
						} else {
							acc += v;
						}
						cnt++;
					}
				}
				if (!is_max) {
					int64_t div = w->count_include_pad ? cnt + padded : cnt;
					acc = div ? acc / (float)div : 0.f;
				}
				yc[oh * OW + ow] = acc;
			}
	}
}

static void global_pool(const struct bo_shape *xs, const float *x, float *y, int is_max)
{
	int64_t NC = xs->d[0] * xs->d[1], S = 1;
	for (int i = 2; i < xs->rank; i++)
		S *= xs->d[i];
	for (int64_t c = 0; c < NC; c++) {
		const float *xc = x + c * S;
		if (is_max) {
			float mx = -INFINITY;
			for (int64_t i = 0; i < S; i++)
				mx = xc[i] > mx ? xc[i] : mx;
			y[c] = mx;
		} else {
			/* eight partial sums in double: the loop vectorises (one
			 * chain of dependent adds was 5% of EfficientNet-B0), and
			 * in double the order hardly ever shows in the float */
			double acc[8] = { 0 };
			int64_t i = 0;
			for (; i + 8 <= S; i += 8)
				for (int j = 0; j < 8; j++)
					acc[j] += xc[i + j];
			for (; i < S; i++)
				acc[0] += xc[i];
			double sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
				     ((acc[4] + acc[5]) + (acc[6] + acc[7]));
			y[c] = (float)(sum / (double)S);
		}
	}
}

/* ---- elementwise ---- */

/* scale/shift folded at load; or, with runtime parameters (p5 = gamma,
 * beta, mean, var, eps), folded here per channel, as at load */
static void bn(const struct bo_shape *xs, const float *x, const float *scale, const float *shift,
	       const float *const *p5, float eps, float *y)
{
	int64_t N = xs->d[0], C = xs->d[1], S = 1;
	for (int i = 2; i < xs->rank; i++)
		S *= xs->d[i];
	for (int64_t n = 0; n < N; n++)
		for (int64_t c = 0; c < C; c++) {
			const float *xc = x + (n * C + c) * S;
			float *yc = y + (n * C + c) * S;
			float a, b;
			if (p5) {
				a = p5[1][c] / sqrtf(p5[4][c] + eps);
				b = p5[2][c] - p5[3][c] * a;
			} else {
				a = scale[c];
				b = shift[c];
			}
			for (int64_t i = 0; i < S; i++)
				yc[i] = xc[i] * a + b;
		}
}

static inline float binop(enum bo_opcode op, float a, float b)
{
	switch (op) {
	case OP_ADD: return a + b;
	case OP_SUB: return a - b;
	case OP_MUL: return a * b;
	case OP_POW: return b == 2.f ? a * a : b == 0.5f ? sqrtf(a) : powf(a, b);
	case OP_PRELU: return a < 0.f ? a * b : a;
	case OP_EQUAL: return (float)(a == b);
	default: return a / b;
	}
}

/* One operand full, the other with the output's leading dims and 1s after
 * them ([N,C,1,1] against [N,C,H,W]: squeeze-excitation's scale): each
 * output row of the trailing dims combines with one value. 0 when the
 * shapes are not so. */
static int row_broadcast(enum bo_opcode op, const struct bo_shape *as, const float *a,
			 const struct bo_shape *bs, const float *b, const struct bo_shape *os,
			 float *y)
{
	int r = os->rank, b_small = Bo_shape_numel(bs) != Bo_shape_numel(os);
	const struct bo_shape *ss = b_small ? bs : as;
	const float *full = b_small ? a : b, *small = b_small ? b : a;
	if ((b_small ? as : bs)->rank != r || r == 0)
		return 0;
	int k = r; /* the small operand is 1 on dims k.. and equal to the output before */
	while (k > 0) {
		int i = k - 1 - (r - ss->rank);
		if ((i >= 0 ? ss->d[i] : 1) != 1)
			break;
		k--;
	}
	for (int d = 0; d < k; d++) {
		int i = d - (r - ss->rank);
		if (i < 0 || ss->d[i] != os->d[d])
			return 0;
	}
	int64_t inner = 1;
	for (int d = k; d < r; d++)
		inner *= os->d[d];
	int64_t outer = inner ? Bo_shape_numel(os) / inner : 0;
	for (int64_t o = 0; o < outer; o++) {
		const float *f = full + o * inner;
		float *yo = y + o * inner, v = small[o];
		if (op == OP_MUL)
			for (int64_t i = 0; i < inner; i++)
				yo[i] = f[i] * v;
		else if (op == OP_ADD)
			for (int64_t i = 0; i < inner; i++)
				yo[i] = f[i] + v;
		else if (b_small)
			for (int64_t i = 0; i < inner; i++)
				yo[i] = binop(op, f[i], v);
		else
			for (int64_t i = 0; i < inner; i++)
				yo[i] = binop(op, v, f[i]);
	}
	return 1;
}

/* Numpy broadcasting: walk the output with per-input strides (0 on
 * broadcast dims); the innermost dimension is a tight loop. */
static void binary(enum bo_opcode op, const struct bo_shape *as, const float *a,
		   const struct bo_shape *bs, const float *b, const struct bo_shape *os, float *y)
{
	int64_t total = Bo_shape_numel(os);
	int64_t na = Bo_shape_numel(as), nb = Bo_shape_numel(bs);
	if (na == total && nb == total) {
		/* Mul and Add spelt out, so that the loops vectorise */
		if (op == OP_MUL)
			for (int64_t i = 0; i < total; i++)
				y[i] = a[i] * b[i];
		else if (op == OP_ADD)
			for (int64_t i = 0; i < total; i++)
				y[i] = a[i] + b[i];
		else
			for (int64_t i = 0; i < total; i++)
				y[i] = binop(op, a[i], b[i]);
		return;
	}
	if ((na == total) != (nb == total) && row_broadcast(op, as, a, bs, b, os, y))
		return;
	if (na == total && nb == 1) {
		float bv = b[0];
		for (int64_t i = 0; i < total; i++)
			y[i] = binop(op, a[i], bv);
		return;
	}
	int r = os->rank;
	int64_t sa[BO_MAX_RANK], sb[BO_MAX_RANK], idx[BO_MAX_RANK] = { 0 };
	int64_t acc_a = 1, acc_b = 1;
	for (int i = r - 1; i >= 0; i--) {
		int ia = i - (r - as->rank), ib = i - (r - bs->rank);
		int64_t da = ia >= 0 ? as->d[ia] : 1, db = ib >= 0 ? bs->d[ib] : 1;
		sa[i] = da == 1 ? 0 : acc_a;
		sb[i] = db == 1 ? 0 : acc_b;
		acc_a *= da;
		acc_b *= db;
	}
	if (r == 0) {
		y[0] = binop(op, a[0], b[0]);
		return;
	}
	int64_t inner = os->d[r - 1];
	int64_t outer = inner ? total / inner : 0;
	int64_t oa = 0, ob = 0;
	for (int64_t o = 0; o < outer; o++) {
		float *yo = y + o * inner;
		const float *ao = a + oa, *bo = b + ob;
		int64_t xa = sa[r - 1], xb = sb[r - 1];
		for (int64_t i = 0; i < inner; i++)
			yo[i] = binop(op, ao[i * xa], bo[i * xb]);
		/* advance the multi-index over dims 0..r-2 */
		for (int d = r - 2; d >= 0; d--) {
			idx[d]++;
			oa += sa[d];
			ob += sb[d];
			if (idx[d] < os->d[d])
				break;
			oa -= sa[d] * idx[d];
			ob -= sb[d] * idx[d];
			idx[d] = 0;
		}
	}
}

/* ---- matrix products ---- */

static void gemm(const struct bo_plan *p, const struct bo_node *n, const float *const *in,
		 float *y)
{
	const struct bo_shape *as = SHP(n->in[0]), *bs = SHP(n->in[1]), *ys = SHP(n->out[0]);
	int64_t M = ys->d[0], N = ys->d[1];
	int64_t K = n->p.gemm.ta ? as->d[0] : as->d[1];
	float beta = 0.f;
	if (n->n_in > 2 && n->in[2] >= 0 && n->p.gemm.beta != 0.f) {
		struct bo_shape zero = { 2, { M, N } };
		static const float z = 0.f;
		struct bo_shape one = { 0, { 0 } };
		/* y = C broadcast to [M,N] */
		binary(OP_ADD, SHP(n->in[2]), in[2], &one, &z, &zero, y);
		beta = n->p.gemm.beta;
	}
	if (M && N)
		cblas_sgemm(CblasRowMajor, n->p.gemm.ta ? CblasTrans : CblasNoTrans,
			    n->p.gemm.tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
			    n->p.gemm.alpha, in[0], (int)as->d[1], in[1], (int)bs->d[1], beta, y,
			    (int)N);
}

static void matmul(const struct bo_plan *p, const struct bo_node *n, const float *const *in,
		   float *y)
{
	struct bo_shape a = *SHP(n->in[0]), b = *SHP(n->in[1]);
	if (a.rank == 1) {
		a.rank = 2; a.d[1] = a.d[0]; a.d[0] = 1;
	}
	if (b.rank == 1) {
		b.rank = 2; b.d[1] = 1;
	}
	int64_t M = a.d[a.rank - 2], K = a.d[a.rank - 1], N = b.d[b.rank - 1];
	struct bo_shape ba = a, bb = b, bo;
	ba.rank -= 2;
	bb.rank -= 2;
	int r = BO_MAX(ba.rank, bb.rank);
	bo.rank = r;
	int64_t batches = 1;
	for (int i = 0; i < r; i++) {
		int64_t da = i < r - ba.rank ? 1 : ba.d[i - (r - ba.rank)];
		int64_t db = i < r - bb.rank ? 1 : bb.d[i - (r - bb.rank)];
		bo.d[i] = da == 1 ? db : da;
		batches *= bo.d[i];
	}
	for (int64_t t = 0; t < batches; t++) {
		/* decompose t into the broadcast batch index */
		int64_t rem = t, ia = 0, ib = 0, sa = 1, sb = 1;
		for (int i = r - 1; i >= 0; i--) {
			int64_t id = rem % bo.d[i];
			rem /= bo.d[i];
			int ja = i - (r - ba.rank), jb = i - (r - bb.rank);
			int64_t da = ja >= 0 ? ba.d[ja] : 1, db = jb >= 0 ? bb.d[jb] : 1;
			if (da != 1)
				ia += id * sa;
			if (db != 1)
				ib += id * sb;
			sa *= da;
			sb *= db;
		}
		if (M && N)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K,
				    1.f, in[0] + ia * M * K, (int)K, in[1] + ib * K * N, (int)N, 0.f,
				    y + t * M * N, (int)N);
	}
}

/* ---- the rest ---- */

static void concat(const struct bo_plan *p, const struct bo_node *n, const float *const *in,
		   float *y)
{
	const struct bo_shape *os = SHP(n->out[0]);
	int64_t axis = n->p.axis < 0 ? n->p.axis + os->rank : n->p.axis;
	int64_t outer = 1, inner = 1;
	for (int i = 0; i < axis; i++)
		outer *= os->d[i];
	for (int i = (int)axis + 1; i < os->rank; i++)
		inner *= os->d[i];
	int64_t off = 0;
	for (int k = 0; k < n->n_in; k++) {
		int64_t len = SHP(n->in[k])->d[axis] * inner;
		for (int64_t o = 0; o < outer; o++)
			memcpy(y + o * os->d[axis] * inner + off, in[k] + o * len,
			       (size_t)len * sizeof(float));
		off += len;
	}
}

static void softmax(const struct bo_shape *xs, int64_t axis, int legacy, int log_, const float *x,
		    float *y)
{
	int64_t a = axis < 0 ? axis + xs->rank : axis;
	int64_t outer = 1, len = 1, inner = 1;
	for (int i = 0; i < xs->rank; i++) {
		if (i < a)
			outer *= xs->d[i];
		else if (i == a || legacy)
			len *= xs->d[i];
		else
			inner *= xs->d[i];
	}
	for (int64_t o = 0; o < outer; o++)
		for (int64_t in = 0; in < inner; in++) {
			const float *xp = x + o * len * inner + in;
			float *yp = y + o * len * inner + in;
			float mx = -INFINITY;
			for (int64_t i = 0; i < len; i++)
				mx = xp[i * inner] > mx ? xp[i * inner] : mx;
			double sum = 0;
			for (int64_t i = 0; i < len; i++) {
				float e = expf(xp[i * inner] - mx);
				yp[i * inner] = e;
				sum += e;
			}
			if (log_) {
				float ls = (float)log(sum);
				for (int64_t i = 0; i < len; i++)
					yp[i * inner] = xp[i * inner] - mx - ls;
			} else {
				for (int64_t i = 0; i < len; i++)
					yp[i * inner] = (float)(yp[i * inner] / sum);
			}
		}
}

static void pad(const struct bo_plan *p, const struct bo_node *n, const float *const *in,
		float *y)
{
	const struct bo_shape *xs = SHP(n->in[0]), *os = SHP(n->out[0]);
	const int64_t *pads = p->pads[n - p->m->nodes];
	float value = n->p.pad.value;
	if (n->n_in > 2 && n->in[2] >= 0)
		value = in[2][0];
	int r = os->rank;
	int64_t total = Bo_shape_numel(os), idx[BO_MAX_RANK] = { 0 };
	int64_t xstr[BO_MAX_RANK];
	int64_t acc = 1;
	for (int i = r - 1; i >= 0; i--) {
		xstr[i] = acc;
		acc *= xs->d[i];
	}
	for (int64_t t = 0; t < total; t++) {
		int64_t off = 0;
		int outside = 0;
		for (int i = 0; i < r; i++) {
			int64_t c = idx[i] - pads[i], d = xs->d[i];
			if (c < 0 || c >= d) {
				if (n->p.pad.mode == 0) {
					outside = 1;
					break;
				} else if (n->p.pad.mode == 1) {
					c = c < 0 ? -c : 2 * (d - 1) - c;
				} else {
					c = c < 0 ? 0 : d - 1;
				}
			}
			off += c * xstr[i];
		}
		y[t] = outside ? value : in[0][off];
		for (int i = r - 1; i >= 0; i--) {
			if (++idx[i] < os->d[i])
				break;
			idx[i] = 0;
		}
	}
}

/* ---- kernel entry points ---- */

#define KX (c->in[0])
#define KXS SHP(c->n->in[0])

static bo_status k_conv(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	if (Bo_wino_use(p, c->ni)) {
		if (Bo_wino_conv(p, c->ni, c->in, c->y, c->scratch)) {
			Bo_error_where(c->err, p->m->path, c->n->name, c->n->op_type, NULL);
			return Bo_fail(c->err, BO_ENOMEM, "out of memory for Winograd weights");
		}
		return BO_OK;
	}
	conv(p, c->n, &p->win[c->ni], c->in, c->y, c->scratch, NULL);
	return BO_OK;
}

int Bo_conv_act_fusable(const struct bo_plan *p, int ci, int ai, const float *const *ain,
			struct bo_act *a)
{
	const struct bo_model *m = p->m;
	const struct bo_node *cn = &m->nodes[ci], *an = &m->nodes[ai];
	int v = cn->out[0];
	int64_t nv = Bo_shape_numel(SHP(v));
	/* an Add of two tensors of its output's size, or a Conv */
	int add = cn->op == OP_ADD && cn->n_in == 2 && cn->in[0] >= 0 && cn->in[1] >= 0 &&
		  Bo_shape_numel(SHP(cn->in[0])) == nv && Bo_shape_numel(SHP(cn->in[1])) == nv;
	if ((cn->op != OP_CONV && !add) || an->n_in < 1 || an->in[0] != v ||
	    m->values[v].n_consumers != 1 || m->values[v].is_output || p->root[v] < 0 ||
	    p->root[an->out[0]] != p->root[v] || Bo_wino_use(p, ci))
		return 0;
	for (int j = 1; j < an->n_in; j++)
		if (an->in[j] == v)
			return 0; /* a bound read from the Conv's own output */
	return Bo_act_of(p, ai, ain, a);
}

int Bo_act_of(const struct bo_plan *p, int ai, const float *const *ain, struct bo_act *a)
{
	const struct bo_node *an = &p->m->nodes[ai];
	if ((an->op != OP_RELU && an->op != OP_CLIP) || an->n_in < 1)
		return 0;
	a->kind = an->op == OP_RELU ? 1 : 2;
	a->lo = an->op == OP_CLIP ? an->p.clip.lo : 0.f;
	a->hi = an->op == OP_CLIP ? an->p.clip.hi : 0.f;
	if (an->op == OP_CLIP) { /* as k_clip */
		if (an->n_in > 1 && an->in[1] >= 0) {
			if (!ain[1])
				return 0;
			a->lo = ain[1][0];
		}
		if (an->n_in > 2 && an->in[2] >= 0) {
			if (!ain[2])
				return 0;
			a->hi = ain[2][0];
		}
	}
	return 1;
}

int Bo_silu_fusable(const struct bo_plan *p, int x, int si, int mi, int inplace)
{
	const struct bo_model *m = p->m;
	const struct bo_node *sn = &m->nodes[si], *mn = &m->nodes[mi];
	if (sn->op != OP_SIGMOID || mn->op != OP_MUL || sn->n_in != 1 || sn->in[0] != x ||
	    mn->n_in != 2)
		return 0;
	int s = sn->out[0], y = mn->out[0];
	if (!((mn->in[0] == x && mn->in[1] == s) || (mn->in[0] == s && mn->in[1] == x)))
		return 0;
	if (m->values[s].n_consumers != 1 || m->values[s].is_output || p->root[x] < 0 ||
	    p->root[s] < 0 || p->root[y] < 0)
		return 0;
	int64_t n = Bo_shape_numel(SHP(x));
	if (Bo_shape_numel(SHP(s)) != n || Bo_shape_numel(SHP(y)) != n)
		return 0;
	if (inplace) /* and x first, as bo_act's SiLU */
		return mn->in[0] == x && p->root[y] == p->root[x] &&
		       m->values[x].n_consumers == 2 && !m->values[x].is_output;
	/* y is written at si's step: its storage must be x's (read first) or
	 * s's (allocated from si's step on) */
	return p->root[y] == p->root[x] || p->root[y] == p->root[s];
}

int Bo_conv_silu_fusable(const struct bo_plan *p, int ci, int si, int mi, struct bo_act *a)
{
	const struct bo_node *cn = &p->m->nodes[ci];
	if (cn->op != OP_CONV || Bo_wino_use(p, ci) || !Bo_silu_fusable(p, cn->out[0], si, mi, 1))
		return 0;
	a->kind = 3;
	a->lo = a->hi = 0.f;
	return 1;
}

bo_status Bo_run_conv_act(const struct bo_plan *p, int ci, const float *const *in, float *y,
			  float *scratch, const struct bo_act *a, struct bo_error *err)
{
	(void)err;
	const struct bo_node *n = &p->m->nodes[ci];
	if (n->op == OP_ADD) {
		/* the sums a chunk at a time, the activation on each chunk
		 * while it is in L1 (element i read before it is written: in
		 * place is fine) */
		int64_t total = Bo_shape_numel(SHP(n->out[0]));
		const float *x0 = in[0], *x1 = in[1];
		for (int64_t c0 = 0; c0 < total; c0 += 2048) {
			int64_t nc = BO_MIN(2048, total - c0);
			float *yc = y + c0;
			const float *a0 = x0 + c0, *a1 = x1 + c0;
			/* in place over either input: one pointer less, so that
			 * the loop vectorises without an overlap check */
			if (a0 == yc)
				for (int64_t i = 0; i < nc; i++)
					yc[i] = yc[i] + a1[i];
			else if (a1 == yc)
				for (int64_t i = 0; i < nc; i++)
					yc[i] = a0[i] + yc[i];
			else
				for (int64_t i = 0; i < nc; i++)
					yc[i] = a0[i] + a1[i];
			Bo_act_apply(a, yc, nc);
		}
		return BO_OK;
	}
	conv(p, n, &p->win[ci], in, y, scratch, a);
	return BO_OK;
}

static bo_status k_pool(const struct bo_kctx *c)
{
	pool(c->p, c->n, &c->p->win[c->ni], KX, c->y);
	return BO_OK;
}

static bo_status k_global_pool(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	global_pool(KXS, KX, c->y, c->n->op == OP_GMP);
	return BO_OK;
}

static bo_status k_bn(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	if (c->n->n_in == 5)
		bn(KXS, KX, NULL, NULL, c->in, c->n->p.bn.eps, c->y);
	else
		bn(KXS, KX, c->in[1], c->in[2], NULL, 0.f, c->y);
	return BO_OK;
}

static bo_status k_relu(const struct bo_kctx *c)
{
	const float *x = KX;
	float *y = c->y;
	Bo_vrelu(x, y, c->total); /* as Bo_act_apply (plan.h) */
	return BO_OK;
}

static bo_status k_clip(const struct bo_kctx *c)
{
	const struct bo_node *n = c->n;
	const float *x = KX;
	float *y = c->y;
	float lo = n->p.clip.lo, hi = n->p.clip.hi;
	if (n->n_in > 1 && n->in[1] >= 0)
		lo = c->in[1][0];
	if (n->n_in > 2 && n->in[2] >= 0)
		hi = c->in[2][0];
	Bo_vclip(x, y, c->total, lo, hi); /* as Bo_act_apply (plan.h) */
	return BO_OK;
}

static bo_status k_leakyrelu(const struct bo_kctx *c)
{
	const float *x = KX;
	float *y = c->y, a = c->n->p.alpha;
	for (int64_t i = 0; i < c->total; i++)
		y[i] = x[i] >= 0.f ? x[i] : x[i] * a;
	return BO_OK;
}

static bo_status k_sigmoid(const struct bo_kctx *c)
{
	const float *x = KX;
	float *y = c->y;
	Bo_vsigmoid(x, y, c->total); /* vmath.c */
	return BO_OK;
}

static bo_status k_tanh(const struct bo_kctx *c)
{
	const float *x = KX;
	float *y = c->y;
	for (int64_t i = 0; i < c->total; i++)
		y[i] = tanhf(x[i]);
	return BO_OK;
}

static bo_status k_binary(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	const struct bo_node *n = c->n;
	const struct bo_shape *bs = SHP(n->in[1]);
	struct bo_shape ch;
	if (n->op == OP_PRELU && p->pads[c->ni][0]) {
		/* a per-channel slope [C] (PyTorch's opset < 7 export): as [C,1,..,1] */
		ch.rank = KXS->rank - 1;
		ch.d[0] = bs->d[0];
		for (int i = 1; i < ch.rank; i++)
			ch.d[i] = 1;
		bs = &ch;
	}
	binary(n->op, KXS, KX, bs, c->in[1], SHP(n->out[0]), c->y);
	return BO_OK;
}

static bo_status k_gemm(const struct bo_kctx *c)
{
	gemm(c->p, c->n, c->in, c->y);
	return BO_OK;
}

static bo_status k_matmul(const struct bo_kctx *c)
{
	matmul(c->p, c->n, c->in, c->y);
	return BO_OK;
}

static bo_status k_concat(const struct bo_kctx *c)
{
	concat(c->p, c->n, c->in, c->y);
	return BO_OK;
}

static bo_status k_softmax(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	softmax(KXS, c->n->p.axis, c->n->legacy_softmax, c->n->op == OP_LOGSOFTMAX, KX, c->y);
	return BO_OK;
}

static bo_status k_pad(const struct bo_kctx *c)
{
	pad(c->p, c->n, c->in, c->y);
	return BO_OK;
}

/* Cast: a copy (or nothing, where the plan aliased it); to bool: 0/1 floats */
static bo_status k_cast(const struct bo_kctx *c)
{
	const int64_t *kv;
	int64_t kn;
	if (Bo_plan_known(c->p, c->n->in[0], &kv, &kn)) {
		for (int64_t i = 0; i < c->total && i < kn; i++)
			c->y[i] = (float)kv[i];
		return BO_OK;
	}
	if (c->n->p.to == 9) {
		for (int64_t i = 0; i < c->total; i++)
			c->y[i] = (float)(KX[i] != 0.f);
		return BO_OK;
	}
	if (c->y != KX)
		memmove(c->y, KX, (size_t)c->total * sizeof(float));
	return BO_OK;
}

/* views: the plan usually aliases them, so this copies only when it could not */
static bo_status k_copy(const struct bo_kctx *c)
{
	if (c->y != KX)
		memmove(c->y, KX, (size_t)c->total * sizeof(float));
	return BO_OK;
}

bo_status Bo_run_node(const struct bo_plan *p, int ni, const float *const *in, float *y,
		      float *scratch, struct bo_error *err)
{
	const struct bo_model *m = p->m;
	const struct bo_node *n = &m->nodes[ni];
	const struct Bo_op_def *d = Bo_op_def(n->op);
	if (!d->kernel) {
		Bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return Bo_fail(err, BO_EINTERNAL, "no kernel for this op");
	}
	struct bo_kctx c = { p, ni, n, in, y, scratch, Bo_shape_numel(SHP(n->out[0])), err };
	return d->kernel(&c);
}

/* ---- shape rules ---- */

#define INFER_LOCALS(c) \
	struct bo_plan *p = (c)->p; \
	int ni = (c)->ni; \
	const struct bo_model *m = p->m; \
	const struct bo_node *n = &m->nodes[ni]; \
	struct bo_shape *o = (c)->o; \
	const struct bo_shape *x = (c)->x; \
	const int64_t *kv = (c)->kv; \
	int64_t kn = (c)->kn; \
	int x_known = (c)->x_known; \
	const struct bo_value *xv = &m->values[n->in[0]]; \
	struct bo_error *err = (c)->err; \
	char b1[96], b2[96]; \
	(void)p; (void)ni; (void)n; (void)o; (void)x; (void)kv; (void)kn; (void)x_known; \
	(void)xv; (void)err; (void)b1; (void)b2

/* Integer tensors known at plan time (shape arithmetic) hold at most this
 * many values. */
#define BO_MAX_KNOWN (1 << 20)

static int64_t *known_buf(int64_t n)
{
	return n >= 0 && n <= BO_MAX_KNOWN ? malloc((size_t)(n ? n : 1) * sizeof(int64_t)) : NULL;
}

/* strided_copy for known integer tensors */
static void strided_copy_i(const int64_t *x, int64_t *y, int rank, const int64_t *odims,
			   const int64_t *istr, int64_t base)
{
	int64_t total = 1, ostr[BO_MAX_RANK];
	for (int i = rank - 1; i >= 0; i--) {
		ostr[i] = total;
		total *= odims[i];
	}
	for (int64_t t = 0; t < total; t++) {
		int64_t off = base;
		for (int d = 0; d < rank; d++)
			off += (t / ostr[d] % odims[d]) * istr[d];
		y[t] = x[off];
	}
}

/* Set a known output from a malloc'ed buffer (or fail on NULL: too large). */
static bo_status set_known_buf(struct bo_ictx *c, int64_t *buf, const struct bo_shape *s)
{
	INFER_LOCALS(c);
	if (!buf && Bo_shape_numel(s) > BO_MAX_KNOWN)
		return Bo_node_fail(m, ni, err, BO_ELIMIT,
				    "integer tensor of more than %lld values",
				    (long long)BO_MAX_KNOWN);
	if (!buf)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	bo_status rc = Bo_plan_set_known(p, n->out[0], buf, Bo_shape_numel(s), s->rank, s->d);
	free(buf);
	return rc;
}

static bo_status infer_conv(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const struct bo_shape *w = &p->shape[n->in[1]];
	struct bo_window *win = &p->win[ni];
	*win = n->p.win;
	int nsp = x->rank - 2;
	if (nsp < 1 || nsp > 2 || w->rank != x->rank)
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "Conv needs a 3-D or 4-D input and weight of the same rank (got input rank %lld, weight rank %lld)",
				    (long long)x->rank, (long long)w->rank);
	if (win->nsp != nsp && (win->has_kernel || win->nsp != 2))
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "attributes describe %lld spatial dims but the input has %lld",
				    (long long)win->nsp, (long long)nsp);
	win->nsp = nsp;
	if (nsp == 1 && !win->has_kernel) {
		win->k[0] = 1; win->s[0] = 1; win->d[0] = 1; win->pb[0] = win->pe[0] = 0;
	}
	int64_t C = x->d[1], M = w->d[0], g = win->group;
	int64_t kh = nsp == 2 ? w->d[2] : 1, kw = w->d[nsp == 2 ? 3 : 2];
	if (win->has_kernel && (win->k[0] != kh || win->k[1] != kw))
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "kernel_shape %lldx%lld does not match the weight",
				    (long long)win->k[0], (long long)win->k[1]);
	win->k[0] = kh;
	win->k[1] = kw;
	if (C % g || M % g || w->d[1] * g != C) {
		Bo_shape_str(x, b1, sizeof(b1));
		Bo_shape_str(w, b2, sizeof(b2));
		Bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return Bo_fail(err, BO_ESHAPE, "input %s does not fit weight %s with group %lld",
			       b1, b2, (long long)g);
	}
	if (n->n_in > 2 && n->in[2] >= 0 && Bo_shape_numel(&p->shape[n->in[2]]) != M)
		return Bo_node_fail(m, ni, err, BO_ESHAPE, "bias has %lld values, expected %lld",
				    (long long)(Bo_shape_numel(&p->shape[n->in[2]])), (long long)M);
	int64_t ih = nsp == 2 ? x->d[2] : 1, iw = x->d[nsp == 2 ? 3 : 2];
	int64_t oh = Bo_window_out(ih, win, 0, 0), ow = Bo_window_out(iw, win, 1, 0);
	if (oh <= 0 || ow <= 0)
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "kernel is larger than the padded input (%lld x %lld)",
				    (long long)ih, (long long)iw);
	o->rank = x->rank;
	o->d[0] = x->d[0];
	o->d[1] = M;
	if (nsp == 2) {
		o->d[2] = oh;
		o->d[3] = ow;
	} else {
		o->d[2] = ow;
	}
	/* scratch: im2col of a group of images + GEMM staging */
	int64_t K, ohw, cols, need, stage = 0;
	if (__builtin_mul_overflow(C / g, kh, &K) || __builtin_mul_overflow(K, kw, &K) ||
	    __builtin_mul_overflow(oh, ow, &ohw))
		return Bo_node_fail(m, ni, err, BO_ELIMIT, "convolution is too large");
	int64_t nb = ohw >= 256 ? 1 : BO_MIN(x->d[0], (256 + ohw - 1) / ohw);
	if (__builtin_mul_overflow(nb, ohw, &cols) || __builtin_mul_overflow(K, cols, &need) ||
	    (nb > 1 && __builtin_mul_overflow(M, cols, &stage)) ||
	    __builtin_add_overflow(need, stage, &need))
		return Bo_node_fail(m, ni, err, BO_ELIMIT, "convolution is too large");
	/* or Winograd's chunk, whichever conv_algo the session picks; or
	 * the depthwise kernel's padded plane */
	need = BO_MAX(need, Bo_wino_scratch_floats(p, ni));
	if (g == C && M == C && w->d[1] == 1 && nsp == 2)
		need = BO_MAX(need, Bo_dw_scratch_floats(ih, iw, win, oh, ow));
	if (need > p->scratch_floats)
		p->scratch_floats = need;
	return BO_OK;
}

static bo_status infer_maxpool(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	struct bo_window *win = &p->win[ni];
	*win = n->p.win;
	int nsp = x->rank - 2;
	if (nsp != win->nsp)
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "kernel has %lld spatial dims but the input has %lld",
				    (long long)win->nsp, (long long)nsp);
	int64_t ih = nsp == 2 ? x->d[2] : 1, iw = x->d[nsp == 2 ? 3 : 2];
	int64_t oh = Bo_window_out(ih, win, 0, 1), ow = Bo_window_out(iw, win, 1, 1);
	if (oh <= 0 || ow <= 0)
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "kernel is larger than the padded input (%lld x %lld)",
				    (long long)ih, (long long)iw);
	*o = *x;
	o->d[x->rank - 1] = ow;
	if (nsp == 2)
		o->d[2] = oh;
	return BO_OK;
}

static bo_status infer_gap(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	if (x->rank < 3)
		return Bo_node_fail(m, ni, err, BO_ESHAPE, "input rank %lld is below 3",
				    (long long)x->rank);
	*o = *x;
	for (int i = 2; i < x->rank; i++)
		o->d[i] = 1;
	return BO_OK;
}

static bo_status infer_bn(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	for (int k = 1; k < n->n_in; k++)
		if (x->rank < 2 || x->d[1] != Bo_shape_numel(&p->shape[n->in[k]]))
			return Bo_node_fail(m, ni, err, BO_ESHAPE,
					    "input has %lld channels but the parameters have %lld",
					    (long long)(x->rank >= 2 ? x->d[1] : 0),
					    (long long)(Bo_shape_numel(&p->shape[n->in[k]])));
	*o = *x;
	return BO_OK;
}

static bo_status infer_relu(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	*o = *x;
	if (x_known && (n->op == OP_IDENTITY || n->op == OP_DROPOUT))
		return Bo_plan_set_known(p, n->out[0], kv, kn, x->rank, x->d);
	if (n->op == OP_SOFTMAX || n->op == OP_LOGSOFTMAX) {
		int64_t a = Bo_norm_axis(n->p.axis, x->rank);
		if (a < 0 || a >= (x->rank ? x->rank : 1))
			return Bo_node_fail(m, ni, err, BO_ESHAPE,
					    "axis %lld is out of range for rank %lld",
					    (long long)n->p.axis, (long long)x->rank);
	}
	return BO_OK;
}

static bo_status infer_clip(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	/* min and max may be constants or computed (read at run time) */
	*o = *x;
	return BO_OK;
}

static bo_status infer_add(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const struct bo_shape *y = &p->shape[n->in[1]];
	if (!Bo_broadcast(x, y, o)) {
		Bo_shape_str(x, b1, sizeof(b1));
		Bo_shape_str(y, b2, sizeof(b2));
		Bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return Bo_fail(err, BO_ESHAPE, "shapes %s and %s do not broadcast", b1, b2);
	}
	const int64_t *kv2;
	int64_t kn2;
	if (x_known && Bo_plan_known(p, n->in[1], &kv2, &kn2)) {
		/* int64 shape arithmetic, e.g. H*W computed in the graph */
		int64_t *tmp = malloc((size_t)Bo_shape_numel(o) * sizeof(int64_t) + 8);
		if (!tmp)
			return Bo_fail(err, BO_ENOMEM, "out of memory");
		int64_t total = Bo_shape_numel(o), ostr[BO_MAX_RANK] = { 0 };
		int64_t astr[BO_MAX_RANK] = { 0 }, bstr[BO_MAX_RANK] = { 0 };
		const struct bo_shape *ys = &p->shape[n->in[1]];
		strides_of(o, ostr);
		strides_of(x, astr);
		strides_of(ys, bstr);
		for (int64_t i = 0; i < total; i++) {
			/* numpy broadcasting: the offset of output element i in each input */
			int64_t ia = 0, ib = 0;
			for (int d = 0; d < o->rank; d++) {
				int64_t id = i / ostr[d] % o->d[d];
				int da = d - (o->rank - x->rank), db = d - (o->rank - ys->rank);
				if (da >= 0 && x->d[da] != 1)
					ia += id * astr[da];
				if (db >= 0 && ys->d[db] != 1)
					ib += id * bstr[db];
			}
			int64_t a = kv[ia], b = kv2[ib];
			int ovf = n->op == OP_ADD ? __builtin_add_overflow(a, b, &tmp[i]) :
				  n->op == OP_SUB ? __builtin_sub_overflow(a, b, &tmp[i]) :
				  n->op == OP_MUL ? __builtin_mul_overflow(a, b, &tmp[i]) :
				  n->op == OP_POW ? b < 0 || b > 63 :
				  (b == 0 || (a == INT64_MIN && b == -1));
			if (n->op == OP_POW && !ovf) {
				tmp[i] = 1;
				for (int64_t e = 0; e < b && !ovf; e++)
					ovf = __builtin_mul_overflow(tmp[i], a, &tmp[i]);
			}
			if (n->op == OP_DIV && !ovf)
				tmp[i] = a / b;
			if (ovf) {
				free(tmp);
				return Bo_node_fail(m, ni, err, BO_EMALFORMED,
						    "integer shape arithmetic overflows or divides by zero");
			}
		}
		bo_status rc = Bo_plan_set_known(p, n->out[0], tmp, total, o->rank, o->d);
		free(tmp);
		return rc;
	}
	return BO_OK;
}

static bo_status infer_flatten(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	int64_t a = Bo_norm_axis(n->p.axis, x->rank);
	if (a < 0 || a > x->rank)
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "axis %lld is out of range for rank %lld", (long long)n->p.axis,
				    (long long)x->rank);
	o->rank = 2;
	o->d[0] = o->d[1] = 1;
	for (int i = 0; i < x->rank; i++)
		o->d[i < a ? 0 : 1] *= x->d[i];
	return BO_OK;
}

static bo_status infer_reshape(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const int64_t *sv;
	int64_t sn;
	if (!Bo_plan_known(p, n->in[1], &sv, &sn))
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "the target shape must be constant or computable from input shapes");
	if (sn > BO_MAX_RANK)
		return Bo_node_fail(m, ni, err, BO_ELIMIT, "target rank %lld is over %lld",
				    (long long)sn, (long long)BO_MAX_RANK);
	int64_t total = Bo_shape_numel(x), prod = 1, tv[BO_MAX_RANK];
	int neg = -1;
	/* re-planning a fixed batch: a constant target that starts with the
	 * exported batch, over an input that has the new batch, gets it */
	if (p->b0 && p->b != p->b0 && !x_known && sn >= 1 && sv[0] == p->b0 && x->rank >= 1 &&
	    x->d[0] == p->b) {
		memcpy(tv, sv, (size_t)sn * sizeof(int64_t));
		tv[0] = p->b;
		sv = tv;
		p->rebatched[ni] = 1;
	}
	o->rank = (int)sn;
	for (int i = 0; i < sn; i++) {
		int64_t d = sv[i];
		if (d == 0 && !n->p.allowzero) {
			if (i >= x->rank)
				return Bo_node_fail(m, ni, err, BO_ESHAPE,
						    "0 at position %lld has no input dimension",
						    (long long)i);
			d = x->d[i];
		}
		if (d == -1) {
			if (neg >= 0)
				return Bo_node_fail(m, ni, err, BO_ESHAPE, "more than one -1");
			neg = i;
			d = 1;
		} else if (d < 0) {
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "invalid dimension %lld",
					    (long long)d);
		}
		o->d[i] = d;
		if (!Bo_mul_ok(prod, d, &prod) || prod > m->limits.max_tensor_elems)
			return Bo_node_fail(m, ni, err, BO_ELIMIT, "target shape is too large");
	}
	if (neg >= 0) {
		if (prod == 0 || total % prod)
			return Bo_node_fail(m, ni, err, BO_ESHAPE,
					    "cannot infer -1: %lld elements into blocks of %lld",
					    (long long)total, (long long)prod);
		o->d[neg] = total / prod;
		prod *= o->d[neg];
	}
	if (prod != total) {
		Bo_shape_str(x, b1, sizeof(b1));
		Bo_shape_str(o, b2, sizeof(b2));
		Bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return Bo_fail(err, BO_ESHAPE, "cannot reshape %s into %s", b1, b2);
	}
	if (x_known)
		return Bo_plan_set_known(p, n->out[0], kv, kn, o->rank, o->d);
	return BO_OK;
}

static bo_status infer_gemm(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const struct bo_shape *b = &p->shape[n->in[1]];
	if (x->rank != 2 || b->rank != 2) {
		Bo_shape_str(x, b1, sizeof(b1));
		Bo_shape_str(b, b2, sizeof(b2));
		Bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return Bo_fail(err, BO_ESHAPE, "needs 2-D A and B, got %s and %s", b1, b2);
	}
	int64_t M = n->p.gemm.ta ? x->d[1] : x->d[0], K = n->p.gemm.ta ? x->d[0] : x->d[1];
	int64_t K2 = n->p.gemm.tb ? b->d[1] : b->d[0], N = n->p.gemm.tb ? b->d[0] : b->d[1];
	if (K != K2) {
		Bo_shape_str(x, b1, sizeof(b1));
		Bo_shape_str(b, b2, sizeof(b2));
		Bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return Bo_fail(err, BO_ESHAPE, "A %s and B %s disagree on K", b1, b2);
	}
	o->rank = 2;
	o->d[0] = M;
	o->d[1] = N;
	if (n->n_in > 2 && n->in[2] >= 0) {
		struct bo_shape t;
		if (!Bo_broadcast(&p->shape[n->in[2]], o, &t) || t.d[0] != M || t.d[1] != N) {
			Bo_shape_str(&p->shape[n->in[2]], b1, sizeof(b1));
			Bo_shape_str(o, b2, sizeof(b2));
			Bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return Bo_fail(err, BO_ESHAPE, "C %s does not broadcast to %s", b1, b2);
		}
	}
	return BO_OK;
}

static bo_status infer_matmul(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	struct bo_shape a = *x, b = p->shape[n->in[1]];
	if (a.rank < 1 || b.rank < 1)
		return Bo_node_fail(m, ni, err, BO_ESHAPE, "scalar operand");
	int a1 = a.rank == 1, b1d = b.rank == 1;
	if (a1) {
		a.rank = 2; a.d[1] = a.d[0]; a.d[0] = 1;
	}
	if (b1d) {
		b.rank = 2; b.d[1] = 1;
	}
	if (a.d[a.rank - 1] != b.d[b.rank - 2]) {
		Bo_shape_str(x, b1, sizeof(b1));
		Bo_shape_str(&p->shape[n->in[1]], b2, sizeof(b2));
		Bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return Bo_fail(err, BO_ESHAPE, "cannot multiply %s by %s", b1, b2);
	}
	struct bo_shape ba = a, bb = b;
	ba.rank -= 2;
	bb.rank -= 2;
	struct bo_shape bo;
	if (!Bo_broadcast(&ba, &bb, &bo))
		return Bo_node_fail(m, ni, err, BO_ESHAPE, "batch dimensions do not broadcast");
	*o = bo;
	if (!a1)
		o->d[o->rank++] = a.d[a.rank - 2];
	if (!b1d)
		o->d[o->rank++] = b.d[b.rank - 1];
	return BO_OK;
}

static bo_status infer_concat(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	int64_t a = Bo_norm_axis(n->p.axis, x->rank);
	if (a < 0 || a >= x->rank)
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "axis %lld is out of range for rank %lld", (long long)n->p.axis,
				    (long long)x->rank);
	*o = *x;
	int all_known = 1;
	for (int k = 1; k < n->n_in; k++) {
		const struct bo_shape *y = &p->shape[n->in[k]];
		const int64_t *t;
		int64_t tn;
		all_known &= Bo_plan_known(p, n->in[k], &t, &tn);
		int ok = y->rank == x->rank;
		for (int i = 0; ok && i < x->rank; i++)
			if (i != a && y->d[i] != x->d[i])
				ok = 0;
		if (!ok) {
			Bo_shape_str(x, b1, sizeof(b1));
			Bo_shape_str(y, b2, sizeof(b2));
			Bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return Bo_fail(err, BO_ESHAPE, "cannot concatenate %s and %s on axis %lld",
				       b1, b2, (long long)a);
		}
		o->d[a] += y->d[a];
	}
	if (x_known && all_known) {
		int64_t *buf = known_buf(Bo_shape_numel(o)), outer = 1, inner = 1, off = 0;
		for (int i = 0; i < a; i++)
			outer *= o->d[i];
		for (int i = (int)a + 1; i < o->rank; i++)
			inner *= o->d[i];
		for (int k = 0; buf && k < n->n_in; k++) {
			const int64_t *t = NULL;
			int64_t tn = 0, len = p->shape[n->in[k]].d[a] * inner;
			Bo_plan_known(p, n->in[k], &t, &tn);
			for (int64_t q = 0; q < outer; q++)
				memcpy(buf + q * o->d[a] * inner + off, t + q * len,
				       (size_t)len * sizeof(int64_t));
			off += len;
		}
		return set_known_buf(c, buf, o);
	}
	for (int k = 0; k < n->n_in; k++)
		if (m->values[n->in[k]].dtype == BO_DT_I64 || p->known[n->in[k]])
			return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
					    "concatenation of integer and float tensors");
	return BO_OK;
}

static bo_status infer_shape(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	int64_t r = x->rank, s = n->p.shape.start, e = n->p.shape.has_end ? n->p.shape.end : r;
	if (s < 0) s += r;
	if (e < 0) e += r;
	s = BO_MAX(0, BO_MIN(s, r));
	e = BO_MAX(s, BO_MIN(e, r));
	int64_t cnt = e - s;
	return Bo_plan_set_known(p, n->out[0], x->d + s, cnt, 1, &cnt);
}

static bo_status infer_unsqueeze(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	int64_t axes[BO_MAX_RANK];
	int na = n->p.axes.n;
	if (na >= 0) {
		memcpy(axes, n->p.axes.axes, sizeof(axes));
	} else if (n->n_in > 1 && n->in[1] >= 0) {
		const int64_t *av;
		int64_t an;
		if (!Bo_plan_known(p, n->in[1], &av, &an) || an > BO_MAX_RANK)
			return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "axes must be constant");
		na = (int)an;
		memcpy(axes, av, (size_t)an * sizeof(int64_t));
	} else if (n->op == OP_UNSQUEEZE) {
		return Bo_node_fail(m, ni, err, BO_EMALFORMED, "axes are required");
	}
	if (n->op == OP_UNSQUEEZE) {
		int r = x->rank + na;
		if (r > BO_MAX_RANK)
			return Bo_node_fail(m, ni, err, BO_ELIMIT, "rank %lld is over %lld",
					    (long long)r, (long long)BO_MAX_RANK);
		unsigned mask = 0;
		for (int i = 0; i < na; i++) {
			int64_t a = Bo_norm_axis(axes[i], r);
			if (a < 0 || a >= r || (mask >> a & 1))
				return Bo_node_fail(m, ni, err, BO_ESHAPE, "bad axis %lld",
						    (long long)axes[i]);
			mask |= 1u << a;
		}
		o->rank = r;
		for (int i = 0, j = 0; i < r; i++)
			o->d[i] = (mask >> i & 1) ? 1 : x->d[j++];
	} else {
		unsigned mask = 0;
		if (na < 0) {
			for (int i = 0; i < x->rank; i++)
				if (x->d[i] == 1)
					mask |= 1u << i;
		} else {
			for (int i = 0; i < na; i++) {
				int64_t a = Bo_norm_axis(axes[i], x->rank);
				if (a < 0 || a >= x->rank || x->d[a] != 1)
					return Bo_node_fail(m, ni, err, BO_ESHAPE,
							    "cannot squeeze axis %lld",
							    (long long)axes[i]);
				mask |= 1u << a;
			}
		}
		o->rank = 0;
		for (int i = 0; i < x->rank; i++)
			if (!(mask >> i & 1))
				o->d[o->rank++] = x->d[i];
	}
	if (x_known)
		return Bo_plan_set_known(p, n->out[0], kv, kn, o->rank, o->d);
	return BO_OK;
}

static bo_status infer_cast(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	*o = *x;
	if (x_known && n->p.to == 9) { /* to bool */
		int64_t *buf = known_buf(kn);
		for (int64_t i = 0; buf && i < kn; i++)
			buf[i] = kv[i] != 0;
		return set_known_buf(c, buf, x);
	}
	if (x_known && n->p.to == 1)
		return BO_OK; /* shape arithmetic becomes float data (the kernel converts) */
	if (x_known)
		return Bo_plan_set_known(p, n->out[0], kv, kn, x->rank, x->d);
	if (n->p.to == 9 && xv->kind != BO_VAL_CONST)
		return BO_OK; /* run-time floats to bool: floats 0/1 */
	if (n->p.to != 1) {
		/* float -> int of a constant: fold */
		if (xv->kind == BO_VAL_CONST && xv->dtype == BO_DT_F32) {
			int64_t *tmp = malloc((size_t)(xv->numel + 1) * sizeof(int64_t));
			if (!tmp)
				return Bo_fail(err, BO_ENOMEM, "out of memory");
			for (int64_t i = 0; i < xv->numel; i++)
				tmp[i] = n->p.to == 9 ? xv->f[i] != 0.f : (int64_t)xv->f[i];
			bo_status rc = Bo_plan_set_known(p, n->out[0], tmp, xv->numel, x->rank, x->d);
			free(tmp);
			return rc;
		}
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "casting run-time floats to integers is not supported");
	}
	return BO_OK;
}

static bo_status infer_pad(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	int64_t pads[2 * BO_MAX_RANK];
	int np_ = n->p.pad.n;
	if (np_ >= 0) {
		memcpy(pads, n->p.pad.pads, sizeof(pads));
	} else {
		const int64_t *pv;
		int64_t pn;
		if (n->n_in < 2 || n->in[1] < 0 || !Bo_plan_known(p, n->in[1], &pv, &pn) ||
		    pn > 2 * BO_MAX_RANK)
			return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "pads must be constant");
		np_ = (int)pn;
		memcpy(pads, pv, (size_t)pn * sizeof(int64_t));
		if (n->n_in > 2 && n->in[2] >= 0 && m->values[n->in[2]].kind != BO_VAL_CONST)
			return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
					    "constant_value must be constant");
		if (n->n_in > 3 && n->in[3] >= 0)
			return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "the axes input");
	}
	if (np_ != 2 * x->rank)
		return Bo_node_fail(m, ni, err, BO_ESHAPE, "%lld pads for rank %lld",
				    (long long)np_, (long long)x->rank);
	o->rank = x->rank;
	for (int i = 0; i < x->rank; i++) {
		if (pads[i] < 0 || pads[i + x->rank] < 0)
			return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "negative pads");
		if (pads[i] > m->limits.max_tensor_elems ||
		    pads[i + x->rank] > m->limits.max_tensor_elems)
			return Bo_node_fail(m, ni, err, BO_ELIMIT, "pad %lld is too large",
					    (long long)(BO_MAX(pads[i], pads[i + x->rank])));
		o->d[i] = x->d[i] + pads[i] + pads[i + x->rank];
		if (n->p.pad.mode == 1 && (pads[i] >= x->d[i] || pads[i + x->rank] >= x->d[i]))
			return Bo_node_fail(m, ni, err, BO_ESHAPE,
					    "reflect pad %lld is not smaller than dimension %lld",
					    (long long)(BO_MAX(pads[i], pads[i + x->rank])),
					    (long long)x->d[i]);
	}
	memcpy(p->pads[ni], pads, sizeof(pads));
	return BO_OK;
}

/* ---- attributes ---- */

static bo_status parse_conv(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	if ((rc = Bo_attr_window(A, &n->p.win, 1)))
		return rc;
	return BO_OK;
}

static bo_status parse_maxpool(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	if ((rc = Bo_attr_window(A, &n->p.win, 0)))
		return rc;
	if (n->n_out > 1)
		return Bo_attr_fail(A, "Indices", BO_EUNSUPPORTED,
				 "the optional Indices output is not supported", NULL);
	return BO_OK;
}

static bo_status parse_avgpool(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	if ((rc = Bo_attr_window(A, &n->p.win, 0)))
		return rc;
	return BO_OK;
}

static bo_status parse_bn(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	if ((rc = Bo_attr_float(A, "epsilon", 1e-5f, &n->p.bn.eps)))
		return rc;
	if ((rc = Bo_attr_int(A, "training_mode", 0, &v)))
		return rc;
	if (v)
		return Bo_attr_fail(A, "training_mode", BO_EUNSUPPORTED,
				 "training mode is not supported (inference only)", NULL);
	if ((rc = Bo_attr_int(A, "spatial", 1, &v)))
		return rc;
	if (!v)
		return Bo_attr_fail(A, "spatial", BO_EUNSUPPORTED, "spatial=0 is not supported",
				 NULL);
	if (n->n_out > 1)
		return Bo_attr_fail(A, "outputs", BO_EUNSUPPORTED,
				 "running mean/var outputs (training) are not supported", NULL);
	if (n->n_in != 5)
		return Bo_attr_fail(A, "inputs", BO_EMALFORMED,
				 "needs 5 inputs (X, scale, B, mean, var)", NULL);
	return BO_OK;
}

static bo_status parse_gemm(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	if ((rc = Bo_attr_float(A, "alpha", 1.f, &n->p.gemm.alpha)) ||
	    (rc = Bo_attr_float(A, "beta", 1.f, &n->p.gemm.beta)))
		return rc;
	if ((rc = Bo_attr_int(A, "transA", 0, &v)))
		return rc;
	n->p.gemm.ta = v != 0;
	if ((rc = Bo_attr_int(A, "transB", 0, &v)))
		return rc;
	n->p.gemm.tb = v != 0;
	return BO_OK;
}

static bo_status parse_clip(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	if ((rc = Bo_attr_float(A, "min", -INFINITY, &n->p.clip.lo)) ||
	    (rc = Bo_attr_float(A, "max", INFINITY, &n->p.clip.hi)))
		return rc;
	return BO_OK;
}

static bo_status parse_leakyrelu(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	if ((rc = Bo_attr_float(A, "alpha", 0.01f, &n->p.alpha)))
		return rc;
	return BO_OK;
}

static bo_status parse_flatten(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	if ((rc = Bo_attr_int(A, "axis",
			  n->op == OP_SOFTMAX || n->op == OP_LOGSOFTMAX ? (A->opset < 13 ? 1 : -1) :
			  n->op == OP_FLATTEN ? 1 : 0, &n->p.axis)))
		return rc;
	if (n->op == OP_CONCAT && !Bo_attr_has(A, "axis"))
		return Bo_attr_fail(A, "axis", BO_EMALFORMED, "is required", NULL);
	n->legacy_softmax = (n->op == OP_SOFTMAX || n->op == OP_LOGSOFTMAX) && A->opset < 13;
	return BO_OK;
}

static bo_status parse_unsqueeze(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int cnt;
	if ((rc = Bo_attr_ints(A, "axes", n->p.axes.axes, BO_MAX_RANK, &cnt)))
		return rc;
	n->p.axes.n = cnt; /* -1: from input 1 or (Squeeze) all size-1 dims */
	return BO_OK;
}

static bo_status parse_pad(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int cnt;
	char mode[16];
	if ((rc = Bo_attr_string(A, "mode", "constant", mode, sizeof(mode))))
		return rc;
	if (!strcmp(mode, "constant"))
		n->p.pad.mode = 0;
	else if (!strcmp(mode, "reflect"))
		n->p.pad.mode = 1;
	else if (!strcmp(mode, "edge"))
		n->p.pad.mode = 2;
	else
		return Bo_attr_fail(A, "mode", BO_EUNSUPPORTED, "unsupported pad mode ", mode);
	if ((rc = Bo_attr_ints(A, "pads", n->p.pad.pads, 2 * BO_MAX_RANK, &cnt)))
		return rc;
	n->p.pad.n = cnt;
	if ((rc = Bo_attr_float(A, "value", 0.f, &n->p.pad.value)))
		return rc;
	return BO_OK;
}

static bo_status parse_dropout(struct bo_attrs *A, struct bo_node *n)
{
	return BO_OK; /* the mask output and a training_mode input are checked once inputs resolve */
}

static bo_status parse_shape(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	if ((rc = Bo_attr_int(A, "start", 0, &n->p.shape.start)))
		return rc;
	n->p.shape.has_end = Bo_attr_has(A, "end");
	if ((rc = Bo_attr_int(A, "end", 0, &n->p.shape.end)))
		return rc;
	return BO_OK;
}

static bo_status parse_cast(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	if ((rc = Bo_attr_int(A, "to", 0, &v)))
		return rc;
	if (v != 1 && v != 7 && v != 6 && v != 9)
		return Bo_attr_fail(A, "to", BO_EUNSUPPORTED, "cast target type ", Bo_attr_dtype_name((int)v));
	n->p.to = (int)v;
	return BO_OK;
}

static bo_status parse_slice(struct bo_attrs *A, struct bo_node *n)
{
	if (A->opset < 10)
		return Bo_attr_fail(A, "starts", BO_EUNSUPPORTED,
				 "Slice before opset 10 is not supported", NULL);
	return BO_OK;
}

static bo_status parse_reshape(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	if ((rc = Bo_attr_int(A, "allowzero", 0, &v)))
		return rc;
	n->p.allowzero = v != 0;
	if (A->opset < 5)
		return Bo_attr_fail(A, "shape", BO_EUNSUPPORTED,
				 "Reshape before opset 5 is not supported", NULL);
	return BO_OK;
}

static bo_status parse_add(struct bo_attrs *A, struct bo_node *n)
{
	if (A->opset < 7)
		return Bo_attr_fail(A, "broadcast", BO_EUNSUPPORTED,
				 "legacy (opset < 7) broadcasting is not supported", NULL);
	return BO_OK;
}

static bo_status infer_prelu(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const struct bo_shape *sl = &p->shape[n->in[1]];
	p->pads[ni][0] = 0;
	if (Bo_broadcast(x, sl, o) && o->rank == x->rank &&
	    !memcmp(o->d, x->d, sizeof(int64_t) * (size_t)x->rank))
		return BO_OK;
	if (sl->rank == 1 && x->rank >= 2 && sl->d[0] == x->d[1]) {
		p->pads[ni][0] = 1;
		*o = *x;
		return BO_OK;
	}
	Bo_shape_str(x, b1, sizeof(b1));
	Bo_shape_str(sl, b2, sizeof(b2));
	Bo_error_where(err, m->path, n->name, n->op_type, NULL);
	return Bo_fail(err, BO_ESHAPE, "slope %s does not broadcast to the input %s", b2, b1);
}

/* ---- unary activation and math functions ---- */

static float hard_sigmoid(float x, float a, float b)
{
	float v = a * x + b;
	return v < 0.f ? 0.f : v > 1.f ? 1.f : v;
}

static bo_status k_unary(const struct bo_kctx *c)
{
	const float *x = KX;
	float *y = c->y;
	int64_t N = c->total;
	const struct bo_node *n = c->n;
	switch (n->op) {
	case OP_HARDSIGMOID: {
		float a = n->p.hs.alpha, b = n->p.hs.beta;
		for (int64_t i = 0; i < N; i++)
			y[i] = hard_sigmoid(x[i], a, b);
		break;
	}
	case OP_HARDSWISH:
		for (int64_t i = 0; i < N; i++)
			y[i] = x[i] * hard_sigmoid(x[i], 1.f / 6.f, 0.5f);
		break;
	case OP_ERF:
		for (int64_t i = 0; i < N; i++)
			y[i] = erff(x[i]);
		break;
	case OP_SQRT:
		for (int64_t i = 0; i < N; i++)
			y[i] = sqrtf(x[i]);
		break;
	case OP_SOFTPLUS:
		for (int64_t i = 0; i < N; i++)
			y[i] = x[i] > 20.f ? x[i] : log1pf(expf(x[i]));
		break;
	case OP_EXP:
		for (int64_t i = 0; i < N; i++)
			y[i] = expf(x[i]);
		break;
	case OP_NEG:
		for (int64_t i = 0; i < N; i++)
			y[i] = -x[i];
		break;
	case OP_ABS:
		for (int64_t i = 0; i < N; i++)
			y[i] = fabsf(x[i]);
		break;
	case OP_RECIPROCAL:
		for (int64_t i = 0; i < N; i++)
			y[i] = 1.f / x[i];
		break;
	case OP_ELU: {
		float a = n->p.alpha;
		for (int64_t i = 0; i < N; i++)
			y[i] = x[i] >= 0.f ? x[i] : a * (expf(x[i]) - 1.f);
		break;
	}
	case OP_SOFTSIGN:
		for (int64_t i = 0; i < N; i++)
			y[i] = x[i] / (1.f + fabsf(x[i]));
		break;
	case OP_LOG:
		for (int64_t i = 0; i < N; i++)
			y[i] = logf(x[i]);
		break;
	case OP_FLOOR:
		for (int64_t i = 0; i < N; i++)
			y[i] = floorf(x[i]);
		break;
	case OP_CEIL:
		for (int64_t i = 0; i < N; i++)
			y[i] = ceilf(x[i]);
		break;
	case OP_ROUND: /* half to even */
		for (int64_t i = 0; i < N; i++)
			y[i] = nearbyintf(x[i]);
		break;
	case OP_SIGN:
		for (int64_t i = 0; i < N; i++)
			y[i] = (float)((x[i] > 0.f) - (x[i] < 0.f));
		break;
	case OP_SIN:
		for (int64_t i = 0; i < N; i++)
			y[i] = sinf(x[i]);
		break;
	case OP_COS:
		for (int64_t i = 0; i < N; i++)
			y[i] = cosf(x[i]);
		break;
	case OP_SELU: {
		float a = n->p.hs.alpha, g = n->p.hs.beta;
		for (int64_t i = 0; i < N; i++)
			y[i] = x[i] > 0.f ? g * x[i] : g * (a * expf(x[i]) - a);
		break;
	}
	case OP_CELU: {
		float a = n->p.alpha;
		for (int64_t i = 0; i < N; i++)
			y[i] = fmaxf(0.f, x[i]) + fminf(0.f, a * expm1f(x[i] / a));
		break;
	}
	case OP_THRESHOLDEDRELU: {
		float a = n->p.alpha;
		for (int64_t i = 0; i < N; i++)
			y[i] = x[i] > a ? x[i] : 0.f;
		break;
	}
	default:
		Bo_error_where(c->err, c->p->m->path, n->name, n->op_type, NULL);
		return Bo_fail(c->err, BO_EINTERNAL, "no kernel for this op");
	}
	return BO_OK;
}

static bo_status parse_hardsigmoid(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	if ((rc = Bo_attr_float(A, "alpha", 0.2f, &n->p.hs.alpha)) ||
	    (rc = Bo_attr_float(A, "beta", 0.5f, &n->p.hs.beta)))
		return rc;
	return BO_OK;
}

static bo_status parse_elu(struct bo_attrs *A, struct bo_node *n)
{
	return Bo_attr_float(A, "alpha", 1.f, &n->p.alpha);
}

static bo_status parse_selu(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	if ((rc = Bo_attr_float(A, "alpha", 1.67326319217681884765625f, &n->p.hs.alpha)) ||
	    (rc = Bo_attr_float(A, "gamma", 1.05070102214813232421875f, &n->p.hs.beta)))
		return rc;
	return BO_OK;
}

/* ---- strided copies: Transpose, Slice, Expand ---- */

/* y[idx] = x[base + sum idx[i] * istr[i]] over the output shape odims. */
static void strided_copy(const float *x, float *y, int rank, const int64_t *odims,
			 const int64_t *istr, int64_t base)
{
	if (rank == 0) {
		y[0] = x[base];
		return;
	}
	int64_t total = 1;
	for (int i = 0; i < rank; i++)
		total *= odims[i];
	if (!total)
		return;
	int64_t inner = odims[rank - 1], s = istr[rank - 1];
	int64_t idx[BO_MAX_RANK] = { 0 }, off = base;
	for (int64_t o = 0; o < total; o += inner) {
		float *yo = y + o;
		const float *xo = x + off;
		if (s == 1)
			memcpy(yo, xo, (size_t)inner * sizeof(float));
		else
			for (int64_t i = 0; i < inner; i++)
				yo[i] = xo[i * s];
		for (int d = rank - 2; d >= 0; d--) {
			idx[d]++;
			off += istr[d];
			if (idx[d] < odims[d])
				break;
			off -= istr[d] * idx[d];
			idx[d] = 0;
		}
	}
}

static bo_status parse_transpose(struct bo_attrs *A, struct bo_node *n)
{
	return Bo_attr_ints(A, "perm", n->p.red.axes, BO_MAX_RANK, &n->p.red.n);
}

static bo_status infer_transpose(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	int r = x->rank;
	int64_t perm[BO_MAX_RANK];
	unsigned seen = 0;
	if (n->p.red.n >= 0 && n->p.red.n != r)
		return Bo_node_fail(m, ni, err, BO_ESHAPE, "perm has %lld entries for rank %lld",
				    (long long)n->p.red.n, (long long)r);
	for (int i = 0; i < r; i++) {
		perm[i] = n->p.red.n >= 0 ? n->p.red.axes[i] : r - 1 - i;
		if (perm[i] < 0 || perm[i] >= r || (seen >> perm[i] & 1))
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "perm is not a permutation");
		seen |= 1u << perm[i];
	}
	o->rank = r;
	for (int i = 0; i < r; i++)
		o->d[i] = x->d[perm[i]];
	memcpy(p->pads[ni], perm, sizeof(perm));
	if (x_known) {
		int64_t xstr[BO_MAX_RANK] = { 0 }, istr[BO_MAX_RANK], *buf = known_buf(kn);
		strides_of(x, xstr);
		for (int i = 0; i < r; i++)
			istr[i] = xstr[perm[i]];
		if (buf)
			strided_copy_i(kv, buf, r, o->d, istr, 0);
		return set_known_buf(c, buf, o);
	}
	return BO_OK;
}

static bo_status k_transpose(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	const struct bo_shape *xs = KXS, *os = SHP(c->n->out[0]);
	const int64_t *perm = p->pads[c->ni];
	int64_t xstr[BO_MAX_RANK], istr[BO_MAX_RANK];
	strides_of(xs, xstr);
	for (int i = 0; i < os->rank; i++)
		istr[i] = xstr[perm[i]];
	strided_copy(KX, c->y, os->rank, os->d, istr, 0);
	return BO_OK;
}

/* Slice: float data with any axes and steps, or (folded) 1-D integer shape tensors. */
static bo_status infer_slice(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const int64_t *st, *en, *ax = NULL, *sp = NULL;
	int64_t ns, ne, nax = 0, nsp = 0;
	if (!Bo_plan_known(p, n->in[1], &st, &ns) || !Bo_plan_known(p, n->in[2], &en, &ne) ||
	    (n->n_in > 3 && n->in[3] >= 0 && !Bo_plan_known(p, n->in[3], &ax, &nax)) ||
	    (n->n_in > 4 && n->in[4] >= 0 && !Bo_plan_known(p, n->in[4], &sp, &nsp)))
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "starts, ends, axes and steps must be constant or computable from input shapes");
	if (ns != ne || (ax && nax != ns) || (sp && nsp != ns) || ns > x->rank)
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "starts, ends, axes and steps disagree in length (%lld starts, rank %lld)",
				    (long long)ns, (long long)x->rank);
	int r = x->rank;
	int64_t start[BO_MAX_RANK], step[BO_MAX_RANK];
	*o = *x;
	for (int i = 0; i < r; i++) {
		start[i] = 0;
		step[i] = 1;
	}
	unsigned seen = 0;
	for (int64_t k = 0; k < ns; k++) {
		int64_t a = ax ? Bo_norm_axis(ax[k], r) : k;
		if (a < 0 || a >= r || (seen >> a & 1))
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "bad axis %lld",
					    (long long)(ax ? ax[k] : k));
		seen |= 1u << a;
		int64_t d = x->d[a], s = sp ? sp[k] : 1, b = st[k], e = en[k];
		if (s == 0 || s == INT64_MIN)
			return Bo_node_fail(m, ni, err, BO_EMALFORMED, "step %lld", (long long)s);
		if (b < 0)
			b = b < -d ? 0 : b + d;
		if (e < 0)
			e = e < -d ? -1 : e + d;
		int64_t len;
		if (s > 0) {
			b = BO_MIN(b, d);
			e = BO_MIN(e, d);
			len = e > b ? (e - b - 1) / s + 1 : 0;
		} else {
			b = BO_MIN(b, d - 1);
			e = BO_MIN(e, d - 1);
			len = b > e ? (b - e - 1) / (-s) + 1 : 0;
		}
		start[a] = b;
		step[a] = s;
		o->d[a] = len;
	}
	if (x_known) {
		int64_t *buf = known_buf(Bo_shape_numel(o)), xstr[BO_MAX_RANK], istr[BO_MAX_RANK];
		int64_t base = 0;
		strides_of(x, xstr);
		for (int i = 0; i < r; i++) {
			istr[i] = xstr[i] * step[i];
			base += start[i] * xstr[i];
		}
		if (buf)
			strided_copy_i(kv, buf, r, o->d, istr, base);
		return set_known_buf(c, buf, o);
	}
	memcpy(p->pads[ni], start, sizeof(start));
	memcpy(p->pads[ni] + BO_MAX_RANK, step, sizeof(step));
	return BO_OK;
}

static bo_status k_slice(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	const struct bo_shape *xs = KXS, *os = SHP(c->n->out[0]);
	const int64_t *start = p->pads[c->ni], *step = p->pads[c->ni] + BO_MAX_RANK;
	int64_t xstr[BO_MAX_RANK], istr[BO_MAX_RANK], base = 0;
	strides_of(xs, xstr);
	for (int i = 0; i < os->rank; i++) {
		istr[i] = xstr[i] * step[i];
		base += start[i] * xstr[i];
	}
	strided_copy(KX, c->y, os->rank, os->d, istr, base);
	return BO_OK;
}

/* Expand: numpy broadcast of input 0 to the shape in input 1. */
static bo_status infer_expand(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const int64_t *sv;
	int64_t sn;
	if (!Bo_plan_known(p, n->in[1], &sv, &sn))
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "the shape must be constant or computable from input shapes");
	if (sn > BO_MAX_RANK)
		return Bo_node_fail(m, ni, err, BO_ELIMIT, "rank %lld is over %lld", (long long)sn,
				    (long long)BO_MAX_RANK);
	struct bo_shape t = { (int)sn, { 0 } };
	for (int i = 0; i < sn; i++) {
		if (sv[i] < 0)
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "invalid dimension %lld",
					    (long long)sv[i]);
		t.d[i] = sv[i];
	}
	/* re-planning a fixed batch: a row broadcast to the exported batch
	 * (torch's x.expand(batch, ...)) is broadcast to the new one */
	if (p->b0 && p->b != p->b0 && !x_known && sn >= 1 && sv[0] == p->b0 &&
	    (x->rank < sn || x->d[0] == 1)) {
		t.d[0] = p->b;
		p->rebatched[ni] = 1;
	}
	if (!Bo_broadcast(x, &t, o)) {
		Bo_shape_str(x, b1, sizeof(b1));
		Bo_shape_str(&t, b2, sizeof(b2));
		Bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return Bo_fail(err, BO_ESHAPE, "%s does not broadcast to %s", b1, b2);
	}
	int64_t total = 1;
	for (int i = 0; i < o->rank; i++)
		if (!Bo_mul_ok(total, o->d[i], &total) || total > m->limits.max_tensor_elems)
			return Bo_node_fail(m, ni, err, BO_ELIMIT, "target shape is too large");
	if (x_known) {
		int64_t *buf = known_buf(Bo_shape_numel(o)), xstr[BO_MAX_RANK], istr[BO_MAX_RANK];
		strides_of(x, xstr);
		for (int d = 0; d < o->rank; d++) {
			int xd = d - (o->rank - x->rank);
			istr[d] = xd >= 0 && x->d[xd] != 1 ? xstr[xd] : 0;
		}
		if (buf)
			strided_copy_i(kv, buf, o->rank, o->d, istr, 0);
		return set_known_buf(c, buf, o);
	}
	return BO_OK;
}

static bo_status k_expand(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	const struct bo_shape *xs = KXS, *os = SHP(c->n->out[0]);
	int64_t xstr[BO_MAX_RANK], istr[BO_MAX_RANK];
	strides_of(xs, xstr);
	for (int d = 0; d < os->rank; d++) {
		int xd = d - (os->rank - xs->rank);
		istr[d] = xd >= 0 && xs->d[xd] != 1 ? xstr[xd] : 0;
	}
	strided_copy(KX, c->y, os->rank, os->d, istr, 0);
	return BO_OK;
}

/* Gather: float data (or a folded 1-D integer tensor) by constant indices. */
static bo_status infer_gather(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const int64_t *iv;
	int64_t in_;
	if (!Bo_plan_known(p, n->in[1], &iv, &in_))
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "indices must be constant or computable from input shapes");
	int r = x->rank;
	int64_t a = Bo_norm_axis(n->p.axis, r);
	if (a < 0 || a >= r)
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "axis %lld is out of range for rank %lld", (long long)n->p.axis,
				    (long long)r);
	const struct bo_shape *is = &p->shape[n->in[1]];
	if (r - 1 + is->rank > BO_MAX_RANK)
		return Bo_node_fail(m, ni, err, BO_ELIMIT, "output rank is over %lld",
				    (long long)BO_MAX_RANK);
	for (int64_t i = 0; i < in_; i++)
		if (iv[i] < -x->d[a] || iv[i] >= x->d[a])
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "index %lld out of range %lld",
					    (long long)iv[i], (long long)x->d[a]);
	o->rank = 0;
	for (int i = 0; i < a; i++)
		o->d[o->rank++] = x->d[i];
	for (int i = 0; i < is->rank; i++)
		o->d[o->rank++] = is->d[i];
	for (int i = (int)a + 1; i < r; i++)
		o->d[o->rank++] = x->d[i];
	if (x_known) {
		int64_t *buf = known_buf(Bo_shape_numel(o)), outer = 1, inner = 1, D = x->d[a];
		for (int i = 0; i < a; i++)
			outer *= x->d[i];
		for (int i = (int)a + 1; i < r; i++)
			inner *= x->d[i];
		for (int64_t q = 0; buf && q < outer; q++)
			for (int64_t k = 0; k < in_; k++) {
				int64_t j = iv[k] < 0 ? iv[k] + D : iv[k];
				memcpy(buf + (q * in_ + k) * inner, kv + (q * D + j) * inner,
				       (size_t)inner * sizeof(int64_t));
			}
		return set_known_buf(c, buf, o);
	}
	return BO_OK;
}

static bo_status k_gather(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	const struct bo_shape *xs = KXS;
	const int64_t *iv;
	int64_t in_ = 0;
	Bo_plan_known(p, c->n->in[1], &iv, &in_);
	int64_t a = Bo_norm_axis(c->n->p.axis, xs->rank), outer = 1, inner = 1;
	for (int i = 0; i < a; i++)
		outer *= xs->d[i];
	for (int i = (int)a + 1; i < xs->rank; i++)
		inner *= xs->d[i];
	int64_t D = xs->d[a];
	for (int64_t o = 0; o < outer; o++)
		for (int64_t k = 0; k < in_; k++) {
			int64_t j = iv[k] < 0 ? iv[k] + D : iv[k];
			memcpy(c->y + (o * in_ + k) * inner, KX + (o * D + j) * inner,
			       (size_t)inner * sizeof(float));
		}
	return BO_OK;
}

/* ---- reductions ---- */

static bo_status parse_reduce(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	if ((rc = Bo_attr_ints(A, "axes", n->p.red.axes, BO_MAX_RANK, &n->p.red.n)))
		return rc;
	if ((rc = Bo_attr_int(A, "keepdims", 1, &v)))
		return rc;
	n->p.red.keepdims = v != 0;
	if ((rc = Bo_attr_int(A, "noop_with_empty_axes", 0, &v)))
		return rc;
	n->p.red.noop = v != 0;
	return BO_OK;
}

static bo_status infer_reduce(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	int64_t axes[BO_MAX_RANK];
	int na = n->p.red.n;
	if (na >= 0) {
		memcpy(axes, n->p.red.axes, sizeof(axes));
	} else if (n->n_in > 1 && n->in[1] >= 0) {
		const int64_t *av;
		int64_t an;
		if (!Bo_plan_known(p, n->in[1], &av, &an) || an > BO_MAX_RANK)
			return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "axes must be constant");
		na = (int)an;
		memcpy(axes, av, (size_t)an * sizeof(int64_t));
	}
	unsigned mask = 0;
	if (na <= 0) {
		if (!n->p.red.noop)
			mask = (1u << x->rank) - 1;
	}
	for (int i = 0; i < na; i++) {
		int64_t a = Bo_norm_axis(axes[i], x->rank);
		if (a < 0 || a >= x->rank)
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "bad axis %lld",
					    (long long)axes[i]);
		mask |= 1u << a;
	}
	o->rank = 0;
	for (int i = 0; i < x->rank; i++) {
		if (!(mask >> i & 1))
			o->d[o->rank++] = x->d[i];
		else if (n->p.red.keepdims)
			o->d[o->rank++] = 1;
	}
	p->pads[ni][0] = mask;
	return BO_OK;
}

static bo_status k_reduce_other(const struct bo_kctx *c, unsigned mask)
{
	const struct bo_plan *p = c->p;
	const struct bo_shape *xs = KXS;
	int r = xs->rank, op = c->n->op;
	int64_t ostr[BO_MAX_RANK] = { 0 }, acc = 1, total = Bo_shape_numel(xs);
	for (int i = r - 1; i >= 0; i--)
		if (!(mask >> i & 1)) {
			ostr[i] = acc;
			acc *= xs->d[i];
		}
	double *a = calloc((size_t)c->total + 1, sizeof(double));
	if (!a) {
		Bo_error_where(c->err, p->m->path, c->n->name, c->n->op_type, NULL);
		return Bo_fail(c->err, BO_ENOMEM, "out of memory");
	}
	for (int64_t i = 0; i < c->total; i++)
		a[i] = op == OP_REDUCEMIN ? INFINITY : op == OP_REDUCEPROD ? 1.0 : 0.0;
	int64_t istr[BO_MAX_RANK];
	strides_of(xs, istr);
	for (int64_t t = 0; t < total; t++) {
		int64_t o = 0;
		for (int d = 0; d < r; d++)
			o += (t / istr[d] % xs->d[d]) * ostr[d];
		double v = KX[t];
		switch (op) {
		case OP_REDUCEMIN: if (v < a[o] || isnan(v)) a[o] = v; break;
		case OP_REDUCEPROD: a[o] *= v; break;
		case OP_REDUCEL1: a[o] += fabs(v); break;
		case OP_REDUCEL2: case OP_REDUCESUMSQUARE: a[o] += v * v; break;
		case OP_REDUCELOGSUMEXP: a[o] += exp(v); break;
		default: a[o] += v; break; /* LogSum */
		}
	}
	for (int64_t i = 0; i < c->total; i++)
		c->y[i] = (float)(op == OP_REDUCEL2 ? sqrt(a[i]) :
				  op == OP_REDUCELOGSUM || op == OP_REDUCELOGSUMEXP ? log(a[i]) : a[i]);
	free(a);
	return BO_OK;
}

static bo_status k_reduce(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	const struct bo_shape *xs = KXS;
	unsigned mask = (unsigned)p->pads[c->ni][0];
	const float *x = KX;
	float *y = c->y;
	int r = xs->rank, op = c->n->op;
	/* output index of each input element: walk the input, strides of the
	 * kept dims; reduce into y (the output is never in place) */
	int64_t ostr[BO_MAX_RANK] = { 0 }, acc = 1, cnt = 1;
	for (int i = r - 1; i >= 0; i--) {
		if (mask >> i & 1) {
			ostr[i] = 0;
			cnt *= xs->d[i];
		} else {
			ostr[i] = acc;
			acc *= xs->d[i];
		}
	}
	int64_t total_out = c->total, total = Bo_shape_numel(xs);
	/* ReduceMin, L1, L2, SumSquare, LogSum, LogSumExp, Prod: the generic walk */
	if (op != OP_REDUCEMAX && op != OP_REDUCEMEAN && op != OP_REDUCESUM)
		return k_reduce_other(c, mask);
	for (int64_t i = 0; i < total_out; i++)
		y[i] = op == OP_REDUCEMAX ? -INFINITY : 0.f;
	if (total == 0)
		return BO_OK;
	if (r == 0) {
		y[0] = x[0];
		return BO_OK;
	}
	int64_t idx[BO_MAX_RANK] = { 0 }, off = 0, inner = xs->d[r - 1], s = ostr[r - 1];
	for (int64_t t = 0; t < total; t += inner) {
		const float *xt = x + t;
		float *yo = y + off;
		if (op == OP_REDUCEMAX) {
			for (int64_t i = 0; i < inner; i++)
				if (xt[i] > yo[i * s] || isnan(xt[i]))
					yo[i * s] = xt[i];
		} else if (s == 0) {
			float sum = 0.f;
			for (int64_t i = 0; i < inner; i++)
				sum += xt[i];
			yo[0] += sum;
		} else {
			for (int64_t i = 0; i < inner; i++)
				yo[i * s] += xt[i];
		}
		for (int d = r - 2; d >= 0; d--) {
			idx[d]++;
			off += ostr[d];
			if (idx[d] < xs->d[d])
				break;
			off -= ostr[d] * idx[d];
			idx[d] = 0;
		}
	}
	if (op == OP_REDUCEMEAN && cnt > 0)
		for (int64_t i = 0; i < total_out; i++)
			y[i] /= (float)cnt;
	return BO_OK;
}

/* ---- LayerNormalization (opset 17) ---- */

static bo_status parse_layernorm(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	if ((rc = Bo_attr_int(A, "axis", -1, &n->p.ln.axis)) ||
	    (rc = Bo_attr_float(A, "epsilon", 1e-5f, &n->p.ln.eps)) ||
	    (rc = Bo_attr_int(A, "stash_type", 1, &v)))
		return rc;
	if (n->n_out > 1)
		return Bo_attr_fail(A, "outputs", BO_EUNSUPPORTED,
				    "the Mean and InvStdDev outputs (training) are not supported", NULL);
	return BO_OK;
}

static bo_status infer_layernorm(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	int64_t a = Bo_norm_axis(n->p.ln.axis, x->rank), inner = 1;
	if (a < 0 || a >= x->rank)
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "axis %lld is out of range for rank %lld",
				    (long long)n->p.ln.axis, (long long)x->rank);
	for (int i = (int)a; i < x->rank; i++)
		inner *= x->d[i];
	for (int k = 1; k < n->n_in; k++)
		if (n->in[k] >= 0 && Bo_shape_numel(&p->shape[n->in[k]]) != inner)
			return Bo_node_fail(m, ni, err, BO_ESHAPE,
					    "input %lld must hold %lld values (one per normalised element)",
					    (long long)k, (long long)inner);
	*o = *x;
	return BO_OK;
}

static bo_status k_layernorm(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	const struct bo_node *n = c->n;
	const struct bo_shape *xs = KXS;
	int64_t a = Bo_norm_axis(n->p.ln.axis, xs->rank), inner = 1;
	for (int i = (int)a; i < xs->rank; i++)
		inner *= xs->d[i];
	int64_t outer = inner ? c->total / inner : 0;
	const float *g = c->in[1], *b = n->n_in > 2 && n->in[2] >= 0 ? c->in[2] : NULL;
	for (int64_t o = 0; o < outer; o++) {
		const float *x = KX + o * inner;
		float *y = c->y + o * inner;
		double mean = 0, var = 0;
		for (int64_t i = 0; i < inner; i++)
			mean += x[i];
		mean /= (double)inner;
		for (int64_t i = 0; i < inner; i++)
			var += (x[i] - mean) * (x[i] - mean);
		var /= (double)inner;
		float inv = (float)(1.0 / sqrt(var + n->p.ln.eps)), mu = (float)mean;
		for (int64_t i = 0; i < inner; i++)
			y[i] = (x[i] - mu) * inv * g[i] + (b ? b[i] : 0.f);
	}
	return BO_OK;
}

/* ---- shape arithmetic: ConstantOfShape, Equal, Where, Range ---- */

static bo_status parse_constofshape(struct bo_attrs *A, struct bo_node *n)
{
	n->p.fill.is_int = 0;
	n->p.fill.f = 0.f;
	n->p.fill.i = 0;
	return Bo_attr_fill(A, &n->p.fill.is_int, &n->p.fill.f, &n->p.fill.i);
}

static bo_status infer_constofshape(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	if (!x_known || x->rank != 1 || kn > BO_MAX_RANK)
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "the shape must be a 1-D constant or computable from input shapes");
	o->rank = (int)kn;
	int64_t total = 1;
	for (int i = 0; i < kn; i++) {
		if (kv[i] < 0 || !Bo_mul_ok(total, kv[i], &total))
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "invalid dimension %lld",
					    (long long)kv[i]);
		o->d[i] = kv[i];
	}
	if (n->p.fill.is_int) {
		int64_t *buf = known_buf(total);
		for (int64_t i = 0; buf && i < total; i++)
			buf[i] = n->p.fill.i;
		return set_known_buf(c, buf, o);
	}
	return BO_OK;
}

static bo_status k_fill(const struct bo_kctx *c)
{
	for (int64_t i = 0; i < c->total; i++)
		c->y[i] = c->n->p.fill.f;
	return BO_OK;
}

/* Integer elementwise folding over numpy broadcasting (at most 64 values). */
static bo_status fold_int(struct bo_ictx *c, int nin, const int64_t *const *v,
			  const struct bo_shape *const *s, int64_t (*f)(const int64_t *a))
{
	INFER_LOCALS(c);
	struct bo_shape os = *s[0];
	for (int k = 1; k < nin; k++)
		if (!Bo_broadcast(&os, s[k], &os))
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "shapes do not broadcast");
	int64_t total = Bo_shape_numel(&os), ostr[BO_MAX_RANK], *tmp = known_buf(total);
	if (!tmp)
		return set_known_buf(c, NULL, &os);
	strides_of(&os, ostr);
	for (int64_t i = 0; i < total; i++) {
		int64_t args[3];
		for (int k = 0; k < nin; k++) {
			int64_t str[BO_MAX_RANK], off = 0;
			strides_of(s[k], str);
			for (int d = 0; d < os.rank; d++) {
				int kd = d - (os.rank - s[k]->rank);
				if (kd >= 0 && s[k]->d[kd] != 1)
					off += (i / ostr[d] % os.d[d]) * str[kd];
			}
			args[k] = v[k][off];
		}
		tmp[i] = f(args);
	}
	*o = os;
	return set_known_buf(c, tmp, &os);
}

static int64_t f_equal(const int64_t *a)
{
	return a[0] == a[1];
}

static int64_t f_where(const int64_t *a)
{
	return a[0] ? a[1] : a[2];
}

static bo_status infer_equal(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const int64_t *v[2];
	int64_t cnt;
	int y_known = Bo_plan_known(p, n->in[1], &v[1], &cnt);
	if (!x_known && !y_known && xv->dtype == BO_DT_F32 &&
	    m->values[n->in[1]].dtype == BO_DT_F32) {
		/* float data: a float 0/1 result (booleans at run time are floats) */
		if (!Bo_broadcast(x, &p->shape[n->in[1]], o))
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "shapes do not broadcast");
		return BO_OK;
	}
	if (!x_known || !y_known)
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "Equal between an integer and a float tensor");
	v[0] = kv;
	const struct bo_shape *s[2] = { x, &p->shape[n->in[1]] };
	return fold_int(c, 2, v, s, f_equal);
}

static bo_status infer_where(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const int64_t *v[3];
	int64_t cnt;
	int kx = Bo_plan_known(p, n->in[1], &v[1], &cnt), ky = Bo_plan_known(p, n->in[2], &v[2], &cnt);
	const struct bo_shape *s[3] = { x, &p->shape[n->in[1]], &p->shape[n->in[2]] };
	if (!x_known && (kx || ky))
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "a run-time condition choosing between integer tensors");
	if (kx && ky) {
		v[0] = kv;
		return fold_int(c, 3, v, s, f_where);
	}
	if (kx || ky || m->values[n->in[1]].dtype != BO_DT_F32 ||
	    m->values[n->in[2]].dtype != BO_DT_F32)
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "Where between integer and float tensors");
	struct bo_shape t;
	if (!Bo_broadcast(s[0], s[1], &t) || !Bo_broadcast(&t, s[2], o))
		return Bo_node_fail(m, ni, err, BO_ESHAPE, "shapes do not broadcast");
	return BO_OK;
}

static bo_status k_where(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	const struct bo_node *n = c->n;
	const struct bo_shape *os = SHP(n->out[0]);
	const int64_t *cond = NULL;
	int64_t cn;
	const float *fcond = c->in[0]; /* a run-time condition: floats 0/1 */
	if (Bo_plan_known(p, n->in[0], &cond, &cn))
		fcond = NULL;
	const struct bo_shape *s[3] = { SHP(n->in[0]), SHP(n->in[1]), SHP(n->in[2]) };
	int64_t ostr[BO_MAX_RANK], str[3][BO_MAX_RANK];
	strides_of(os, ostr);
	for (int k = 0; k < 3; k++)
		strides_of(s[k], str[k]);
	for (int64_t i = 0; i < c->total; i++) {
		int64_t off[3] = { 0, 0, 0 };
		for (int k = 0; k < 3; k++)
			for (int d = 0; d < os->rank; d++) {
				int kd = d - (os->rank - s[k]->rank);
				if (kd >= 0 && s[k]->d[kd] != 1)
					off[k] += (i / ostr[d] % os->d[d]) * str[k][kd];
			}
		int t = fcond ? fcond[off[0]] != 0.f : cond[off[0]] != 0;
		c->y[i] = t ? c->in[1][off[1]] : c->in[2][off[2]];
	}
	return BO_OK;
}

static bo_status infer_range(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const int64_t *lim, *dl;
	int64_t cnt;
	if (!x_known || kn != 1 || !Bo_plan_known(p, n->in[1], &lim, &cnt) || cnt != 1 ||
	    !Bo_plan_known(p, n->in[2], &dl, &cnt) || cnt != 1)
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "Range is only supported on integer scalars known at plan time");
	if (dl[0] == 0)
		return Bo_node_fail(m, ni, err, BO_EMALFORMED, "delta is 0");
	/* ceil((limit - start) / delta) values, in int64 without overflow */
	__int128 span = (__int128)lim[0] - kv[0];
	__int128 len = span / dl[0] + (span % dl[0] != 0);
	if (len < 0)
		len = 0;
	if (len > BO_MAX_KNOWN)
		return Bo_node_fail(m, ni, err, BO_ELIMIT, "more than %lld values",
				    (long long)BO_MAX_KNOWN);
	struct bo_shape os = { 1, { (int64_t)len } };
	int64_t *buf = known_buf(os.d[0]);
	for (int64_t i = 0; buf && i < os.d[0]; i++)
		buf[i] = kv[0] + i * dl[0];
	*o = os;
	return set_known_buf(c, buf, &os);
}

static int64_t f_mod_c(const int64_t *a)
{
	return a[0] % a[1];
}

static int64_t f_mod_py(const int64_t *a)
{
	int64_t r = a[0] % a[1];
	return r && ((r < 0) != (a[1] < 0)) ? r + a[1] : r;
}

static int64_t f_not(const int64_t *a)
{
	return !a[0];
}

static bo_status parse_mod(struct bo_attrs *A, struct bo_node *n)
{
	int64_t v;
	bo_status rc = Bo_attr_int(A, "fmod", 0, &v);
	n->p.allowzero = v != 0;
	return rc;
}

/* Mod: integer shape arithmetic only */
static bo_status infer_mod(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const int64_t *v[2];
	int64_t cnt;
	if (!x_known || !Bo_plan_known(p, n->in[1], &v[1], &cnt))
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "Mod is only supported on integer shape tensors");
	for (int64_t i = 0; i < cnt; i++)
		if (v[1][i] == 0 || (v[1][i] == -1))
			return Bo_node_fail(m, ni, err, BO_EMALFORMED, "integer Mod by %lld",
					    (long long)v[1][i]);
	v[0] = kv;
	const struct bo_shape *s[2] = { x, &p->shape[n->in[1]] };
	return fold_int(c, 2, v, s, n->p.allowzero ? f_mod_c : f_mod_py);
}

static bo_status infer_not(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	if (x_known) {
		const int64_t *v[1] = { kv };
		const struct bo_shape *s[1] = { x };
		return fold_int(c, 1, v, s, f_not);
	}
	*o = *x;
	return BO_OK;
}

static bo_status k_not(const struct bo_kctx *c)
{
	for (int64_t i = 0; i < c->total; i++)
		c->y[i] = (float)(KX[i] == 0.f);
	return BO_OK;
}

/* ScatterND on float data with indices known at plan time */
static bo_status parse_scatternd(struct bo_attrs *A, struct bo_node *n)
{
	char red[16];
	bo_status rc = Bo_attr_string(A, "reduction", "none", red, sizeof(red));
	if (!rc && strcmp(red, "none"))
		return Bo_attr_fail(A, "reduction", BO_EUNSUPPORTED, "unsupported reduction ", red);
	return rc;
}

static bo_status infer_scatternd(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const int64_t *iv;
	int64_t in_;
	const struct bo_shape *is = &p->shape[n->in[1]], *us = &p->shape[n->in[2]];
	if (!Bo_plan_known(p, n->in[1], &iv, &in_))
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "indices must be constant or computable from input shapes");
	int64_t k = is->rank ? is->d[is->rank - 1] : 0;
	if (is->rank < 1 || k < 1 || k > x->rank || us->rank != is->rank - 1 + x->rank - k)
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "indices of depth %lld do not fit data of rank %lld",
				    (long long)k, (long long)x->rank);
	for (int i = 0; i < is->rank - 1; i++)
		if (us->d[i] != is->d[i])
			return Bo_node_fail(m, ni, err, BO_ESHAPE,
					    "updates do not fit the indices");
	for (int i = (int)k; i < x->rank; i++)
		if (us->d[is->rank - 1 + i - k] != x->d[i])
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "updates do not fit the data");
	for (int64_t t = 0; t < in_; t++) {
		int64_t d = x->d[t % k];
		if (iv[t] < -d || iv[t] >= d)
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "index %lld out of range %lld",
					    (long long)iv[t], (long long)d);
	}
	*o = *x;
	return BO_OK;
}

static bo_status k_scatternd(const struct bo_kctx *c)
{
	const struct bo_plan *p = c->p;
	const struct bo_shape *xs = KXS;
	const int64_t *iv;
	int64_t in_ = 0;
	Bo_plan_known(p, c->n->in[1], &iv, &in_);
	const struct bo_shape *is = SHP(c->n->in[1]);
	int64_t k = is->d[is->rank - 1], xstr[BO_MAX_RANK], slice = 1;
	strides_of(xs, xstr);
	for (int i = (int)k; i < xs->rank; i++)
		slice *= xs->d[i];
	if (c->y != KX)
		memmove(c->y, KX, (size_t)c->total * sizeof(float));
	for (int64_t t = 0; t < in_ / k; t++) {
		int64_t off = 0;
		for (int j = 0; j < k; j++) {
			int64_t v = iv[t * k + j];
			off += (v < 0 ? v + xs->d[j] : v) * xstr[j];
		}
		memcpy(c->y + off, c->in[2] + t * slice, (size_t)slice * sizeof(float));
	}
	return BO_OK;
}

/* ---- Split: the loader gives each output a node of its own ---- */

static bo_status infer_split(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	int64_t a = Bo_norm_axis(n->p.split.axis, x->rank);
	if (a < 0 || a >= x->rank)
		return Bo_node_fail(m, ni, err, BO_ESHAPE,
				    "axis %lld is out of range for rank %lld",
				    (long long)n->p.split.axis, (long long)x->rank);
	int K = n->p.split.count, idx = n->p.split.index;
	int64_t sizes[16];
	const int64_t *sv = n->p.split.sizes;
	int64_t sn = n->p.split.n;
	if (sn < 0 && n->n_in > 1 && n->in[1] >= 0 && !Bo_plan_known(p, n->in[1], &sv, &sn))
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "split sizes must be constant");
	int64_t D = x->d[a], start = 0;
	if (sn >= 0) {
		int64_t sum = 0;
		if (sn != K)
			return Bo_node_fail(m, ni, err, BO_ESHAPE, "%lld sizes for %lld outputs",
					    (long long)sn, (long long)K);
		for (int i = 0; i < K; i++) {
			if (sv[i] < 0)
				return Bo_node_fail(m, ni, err, BO_ESHAPE, "negative size");
			sizes[i] = sv[i];
			if (__builtin_add_overflow(sum, sv[i], &sum))
				return Bo_node_fail(m, ni, err, BO_ESHAPE, "sizes overflow");
		}
		if (sum != D)
			return Bo_node_fail(m, ni, err, BO_ESHAPE,
					    "sizes add up to %lld, the axis has %lld",
					    (long long)sum, (long long)D);
	} else {
		int64_t each = (D + K - 1) / K;
		for (int i = 0; i < K; i++)
			sizes[i] = BO_MAX(0, BO_MIN(each, D - i * each));
	}
	for (int i = 0; i < idx; i++)
		start += sizes[i];
	*o = *x;
	o->d[a] = sizes[idx];
	for (int i = 0; i < BO_MAX_RANK; i++) {
		p->pads[ni][i] = i == a ? start : 0;
		p->pads[ni][BO_MAX_RANK + i] = 1;
	}
	return BO_OK;
}

/* ---- FLOPs: 2 x multiply-adds ---- */

static int64_t flops_conv(const struct bo_plan *p, const struct bo_node *n)
{
	const struct bo_shape *ws = SHP(n->in[1]);
	int64_t k = 1;
	for (int d = 1; d < ws->rank; d++)
		k *= ws->d[d];
	return 2 * Bo_shape_numel(SHP(n->out[0])) * k;
}

static int64_t flops_gemm(const struct bo_plan *p, const struct bo_node *n)
{
	const struct bo_shape *as = SHP(n->in[0]);
	return 2 * Bo_shape_numel(SHP(n->out[0])) * (n->p.gemm.ta ? as->d[0] : as->d[1]);
}

static int64_t flops_matmul(const struct bo_plan *p, const struct bo_node *n)
{
	const struct bo_shape *as = SHP(n->in[0]);
	return 2 * Bo_shape_numel(SHP(n->out[0])) * as->d[as->rank - 1];
}

int64_t Bo_node_flops(const struct bo_plan *p, int ni)
{
	const struct bo_node *n = &p->m->nodes[ni];
	if (n->dead || p->skip[ni] || !bo_ops[n->op].flops)
		return 0;
	return bo_ops[n->op].flops(p, n);
}

/* ---- the table ---- */

static const char *const conv_a[] = { "auto_pad", "dilations", "group", "kernel_shape", "pads",
	"strides", NULL };
static const char *const maxpool_a[] = { "auto_pad", "ceil_mode", "dilations", "kernel_shape",
	"pads", "storage_order", "strides", NULL };
static const char *const avgpool_a[] = { "auto_pad", "ceil_mode", "count_include_pad",
	"kernel_shape", "pads", "strides", NULL };
static const char *const bn_a[] = { "epsilon", "momentum", "spatial", "training_mode", "is_test",
	NULL };
static const char *const gemm_a[] = { "alpha", "beta", "transA", "transB", NULL };
static const char *const clip_a[] = { "min", "max", NULL };
static const char *const alpha_a[] = { "alpha", NULL };
static const char *const axis_a[] = { "axis", NULL };
static const char *const axes_a[] = { "axes", NULL };
static const char *const pad_a[] = { "mode", "pads", "value", NULL };
static const char *const drop_a[] = { "ratio", "seed", "is_test", NULL };
static const char *const shape_a[] = { "start", "end", NULL };
static const char *const cast_a[] = { "to", "saturate", NULL };
static const char *const slice_a[] = { "starts", "ends", "axes", NULL };
static const char *const reshape_a[] = { "allowzero", NULL };
static const char *const bcast_a[] = { "broadcast", "axis", NULL };
static const char *const hs_a[] = { "alpha", "beta", NULL };
static const char *const selu_a[] = { "alpha", "gamma", NULL };
static const char *const fmod_a[] = { "fmod", NULL };
static const char *const red_a[] = { "reduction", NULL };
static const char *const perm_a[] = { "perm", NULL };
static const char *const reduce_a[] = { "axes", "keepdims", "noop_with_empty_axes", NULL };
static const char *const ln_a[] = { "axis", "epsilon", "stash_type", NULL };
static const char *const value_a[] = { "value", NULL };
static const char *const split_a[] = { "axis", "split", NULL };

#define ALL 0xffffffffu
#define IN0 1u
#define V BO_OPF_VIEW
#define IP BO_OPF_INPLACE
#define FO BO_OPF_FOLDS

/* name, attrs, attrs_before, min_in, max_in, old_opset, old_max_in, optional, data_in,
 * flags, parse, infer, kernel, flops */
const struct Bo_op_def bo_ops[OP_COUNT_] = {
	[OP_CONV] = { "Conv", conv_a, 0, 2, 3, 0, 0, 1u << 2, ALL, 0,
		      parse_conv, infer_conv, k_conv, flops_conv },
	[OP_BN] = { "BatchNormalization", bn_a, 0, 5, 5, 0, 0, 0, ALL, IP,
		    parse_bn, infer_bn, k_bn, NULL },
	[OP_RELU] = { "Relu", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_relu, NULL },
	[OP_CLIP] = { "Clip", clip_a, 11, 1, 3, 11, 1, 6u, ALL, IP,
		      parse_clip, infer_clip, k_clip, NULL },
	[OP_LEAKYRELU] = { "LeakyRelu", alpha_a, 0, 1, 1, 0, 0, 0, ALL, IP,
			   parse_leakyrelu, infer_relu, k_leakyrelu, NULL },
	[OP_SIGMOID] = { "Sigmoid", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_sigmoid,
			 NULL },
	[OP_ADD] = { "Add", bcast_a, 7, 2, 2, 0, 0, 0, ALL, IP | FO, parse_add, infer_add, k_binary,
		     NULL },
	[OP_MUL] = { "Mul", bcast_a, 7, 2, 2, 0, 0, 0, ALL, IP | FO, parse_add, infer_add, k_binary,
		     NULL },
	[OP_SUB] = { "Sub", bcast_a, 7, 2, 2, 0, 0, 0, ALL, IP | FO, parse_add, infer_add, k_binary,
		     NULL },
	[OP_DIV] = { "Div", bcast_a, 7, 2, 2, 0, 0, 0, ALL, IP | FO, parse_add, infer_add, k_binary,
		     NULL },
	[OP_MAXPOOL] = { "MaxPool", maxpool_a, 0, 1, 1, 0, 0, 0, ALL, 0,
			 parse_maxpool, infer_maxpool, k_pool, NULL },
	[OP_AVGPOOL] = { "AveragePool", avgpool_a, 0, 1, 1, 0, 0, 0, ALL, 0,
			 parse_avgpool, infer_maxpool, k_pool, NULL },
	[OP_GAP] = { "GlobalAveragePool", NULL, 0, 1, 1, 0, 0, 0, ALL, 0,
		     NULL, infer_gap, k_global_pool, NULL },
	[OP_GMP] = { "GlobalMaxPool", NULL, 0, 1, 1, 0, 0, 0, ALL, 0,
		     NULL, infer_gap, k_global_pool, NULL },
	[OP_FLATTEN] = { "Flatten", axis_a, 0, 1, 1, 0, 0, 0, ALL, V,
			 parse_flatten, infer_flatten, k_copy, NULL },
	[OP_RESHAPE] = { "Reshape", reshape_a, 0, 2, 2, 0, 0, 0, IN0, V | FO,
			 parse_reshape, infer_reshape, k_copy, NULL },
	[OP_GEMM] = { "Gemm", gemm_a, 0, 2, 3, 0, 0, 1u << 2, ALL, 0,
		      parse_gemm, infer_gemm, k_gemm, flops_gemm },
	[OP_MATMUL] = { "MatMul", NULL, 0, 2, 2, 0, 0, 0, ALL, 0,
			NULL, infer_matmul, k_matmul, flops_matmul },
	[OP_CONCAT] = { "Concat", axis_a, 0, 1, BO_MAX_NODE_IN, 0, 0, 0, ALL, FO,
			parse_flatten, infer_concat, k_concat, NULL },
	[OP_SOFTMAX] = { "Softmax", axis_a, 0, 1, 1, 0, 0, 0, ALL, 0,
			 parse_flatten, infer_relu, k_softmax, NULL },
	[OP_PAD] = { "Pad", pad_a, 0, 1, 4, 11, 1, (1u << 2) | (1u << 3), IN0 | (1u << 2), 0,
		     parse_pad, infer_pad, k_pad, NULL },
	[OP_IDENTITY] = { "Identity", NULL, 0, 1, 1, 0, 0, 0, ALL, V | FO,
			  NULL, infer_relu, k_copy, NULL },
	[OP_DROPOUT] = { "Dropout", drop_a, 0, 1, 3, 0, 0, 6u, IN0, V | FO,
			 parse_dropout, infer_relu, k_copy, NULL },
	[OP_SHAPE] = { "Shape", shape_a, 0, 1, 1, 0, 0, 0, 0, 0,
		       parse_shape, infer_shape, NULL, NULL },
	[OP_GATHER] = { "Gather", axis_a, 0, 2, 2, 0, 0, 0, IN0, FO,
			parse_flatten, infer_gather, k_gather, NULL },
	[OP_UNSQUEEZE] = { "Unsqueeze", axes_a, 13, 1, 2, 13, 1, 2u, IN0, V | FO,
			   parse_unsqueeze, infer_unsqueeze, k_copy, NULL },
	[OP_SQUEEZE] = { "Squeeze", axes_a, 13, 1, 2, 13, 1, 2u, IN0, V | FO,
			 parse_unsqueeze, infer_unsqueeze, k_copy, NULL },
	[OP_CAST] = { "Cast", cast_a, 0, 1, 1, 0, 0, 0, 0, V,
		      parse_cast, infer_cast, k_cast, NULL },
	[OP_SLICE] = { "Slice", slice_a, 10, 3, 5, 0, 0, (1u << 3) | (1u << 4), IN0, FO,
		       parse_slice, infer_slice, k_slice, NULL },
	[OP_TANH] = { "Tanh", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_tanh, NULL },
	[OP_HARDSIGMOID] = { "HardSigmoid", hs_a, 0, 1, 1, 0, 0, 0, ALL, IP,
			     parse_hardsigmoid, infer_relu, k_unary, NULL },
	[OP_HARDSWISH] = { "HardSwish", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary,
			   NULL },
	[OP_ERF] = { "Erf", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_SQRT] = { "Sqrt", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_SOFTPLUS] = { "Softplus", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary,
			  NULL },
	[OP_EXP] = { "Exp", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_NEG] = { "Neg", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_ABS] = { "Abs", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_RECIPROCAL] = { "Reciprocal", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu,
			    k_unary, NULL },
	[OP_ELU] = { "Elu", alpha_a, 0, 1, 1, 0, 0, 0, ALL, IP, parse_elu, infer_relu, k_unary,
		     NULL },
	[OP_SOFTSIGN] = { "Softsign", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary,
			  NULL },
	[OP_POW] = { "Pow", NULL, 0, 2, 2, 0, 0, 0, ALL, IP | FO, NULL, infer_add, k_binary, NULL },
	[OP_TRANSPOSE] = { "Transpose", perm_a, 0, 1, 1, 0, 0, 0, ALL, FO,
			   parse_transpose, infer_transpose, k_transpose, NULL },
	[OP_REDUCEMEAN] = { "ReduceMean", reduce_a, 0, 1, 1, 0, 0, 0, IN0, 0,
			    parse_reduce, infer_reduce, k_reduce, NULL },
	[OP_REDUCESUM] = { "ReduceSum", reduce_a, 0, 1, 2, 13, 1, 2u, IN0, 0,
			   parse_reduce, infer_reduce, k_reduce, NULL },
	[OP_REDUCEMAX] = { "ReduceMax", reduce_a, 0, 1, 1, 0, 0, 0, IN0, 0,
			   parse_reduce, infer_reduce, k_reduce, NULL },
	[OP_LAYERNORM] = { "LayerNormalization", ln_a, 0, 2, 3, 0, 0, 4u, ALL, 0,
			   parse_layernorm, infer_layernorm, k_layernorm, NULL },
	[OP_EXPAND] = { "Expand", NULL, 0, 2, 2, 0, 0, 0, IN0, FO, NULL, infer_expand, k_expand,
			NULL },
	[OP_CONSTOFSHAPE] = { "ConstantOfShape", value_a, 0, 1, 1, 0, 0, 0, 0, 0,
			      parse_constofshape, infer_constofshape, k_fill, NULL },
	[OP_EQUAL] = { "Equal", NULL, 0, 2, 2, 0, 0, 0, 0, 0, NULL, infer_equal, k_binary, NULL },
	[OP_WHERE] = { "Where", NULL, 0, 3, 3, 0, 0, 0, 6u, FO, NULL, infer_where, k_where, NULL },
	[OP_RANGE] = { "Range", NULL, 0, 3, 3, 0, 0, 0, 0, 0, NULL, infer_range, NULL, NULL },
	[OP_LOGSOFTMAX] = { "LogSoftmax", axis_a, 0, 1, 1, 0, 0, 0, ALL, 0,
			    parse_flatten, infer_relu, k_softmax, NULL },
	[OP_PRELU] = { "PRelu", NULL, 0, 2, 2, 0, 0, 0, ALL, IP, NULL, infer_prelu, k_binary, NULL },
	[OP_LOG] = { "Log", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_FLOOR] = { "Floor", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_CEIL] = { "Ceil", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_ROUND] = { "Round", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_SIGN] = { "Sign", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_SIN] = { "Sin", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_COS] = { "Cos", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_unary, NULL },
	[OP_SELU] = { "Selu", selu_a, 0, 1, 1, 0, 0, 0, ALL, IP, parse_selu, infer_relu, k_unary,
		      NULL },
	[OP_CELU] = { "Celu", alpha_a, 0, 1, 1, 0, 0, 0, ALL, IP, parse_elu, infer_relu, k_unary,
		      NULL },
	[OP_THRESHOLDEDRELU] = { "ThresholdedRelu", alpha_a, 0, 1, 1, 0, 0, 0, ALL, IP, parse_elu,
				 infer_relu, k_unary, NULL },
	[OP_REDUCEMIN] = { "ReduceMin", reduce_a, 0, 1, 1, 0, 0, 0, IN0, 0,
			   parse_reduce, infer_reduce, k_reduce, NULL },
	[OP_REDUCEPROD] = { "ReduceProd", reduce_a, 0, 1, 1, 0, 0, 0, IN0, 0,
			    parse_reduce, infer_reduce, k_reduce, NULL },
	[OP_REDUCEL1] = { "ReduceL1", reduce_a, 0, 1, 1, 0, 0, 0, IN0, 0,
			  parse_reduce, infer_reduce, k_reduce, NULL },
	[OP_REDUCEL2] = { "ReduceL2", reduce_a, 0, 1, 1, 0, 0, 0, IN0, 0,
			  parse_reduce, infer_reduce, k_reduce, NULL },
	[OP_REDUCESUMSQUARE] = { "ReduceSumSquare", reduce_a, 0, 1, 1, 0, 0, 0, IN0, 0,
				 parse_reduce, infer_reduce, k_reduce, NULL },
	[OP_REDUCELOGSUM] = { "ReduceLogSum", reduce_a, 0, 1, 1, 0, 0, 0, IN0, 0,
			      parse_reduce, infer_reduce, k_reduce, NULL },
	[OP_REDUCELOGSUMEXP] = { "ReduceLogSumExp", reduce_a, 0, 1, 1, 0, 0, 0, IN0, 0,
				 parse_reduce, infer_reduce, k_reduce, NULL },
	[OP_MOD] = { "Mod", fmod_a, 0, 2, 2, 0, 0, 0, 0, 0, parse_mod, infer_mod, NULL, NULL },
	[OP_NOT] = { "Not", NULL, 0, 1, 1, 0, 0, 0, 0, 0, NULL, infer_not, k_not, NULL },
	[OP_SCATTERND] = { "ScatterND", red_a, 0, 3, 3, 0, 0, 0, 5u, 0,
			   parse_scatternd, infer_scatternd, k_scatternd, NULL },
	[OP_SPLIT] = { "Split", split_a, 0, 1, 2, 13, 1, 2u, IN0, 0, NULL, infer_split, k_slice,
		       NULL },
};

int Bo_op_lookup(const char *type)
{
	for (int i = 0; i < OP_COUNT_; i++)
		if (bo_ops[i].name && !strcmp(bo_ops[i].name, type))
			return i;
	return -1;
}

const char *Bo_op_name(enum bo_opcode op)
{
	return (unsigned)op < OP_COUNT_ && bo_ops[op].name ? bo_ops[op].name : "?";
}
