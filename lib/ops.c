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
 * direct loop (a GEMM with K = kh*kw is all overhead). All kernels take
 * NCHW float32 and may run in place where the plan says so: every
 * elementwise loop reads index i before writing it. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "ops.h"
#include "winograd.h"

#define SHP(v) (&p->shape[(v)])

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

static void conv_depthwise(const float *x, const float *wt, const float *bias, float *y,
			   int64_t N, int64_t C, int64_t H, int64_t W, const struct bo_window *w,
			   int64_t OH, int64_t OW)
{
	int64_t kh = w->k[0], kw = w->k[1];
	for (int64_t n = 0; n < N; n++)
		for (int64_t c = 0; c < C; c++) {
			const float *xc = x + (n * C + c) * H * W;
			const float *k = wt + c * kh * kw;
			float *yc = y + (n * C + c) * OH * OW;
			float b0 = bias ? bias[c] : 0.f;
			for (int64_t oh = 0; oh < OH; oh++)
				for (int64_t ow = 0; ow < OW; ow++) {
					float acc = b0;
					for (int64_t i = 0; i < kh; i++) {
						int64_t ih = oh * w->s[0] - w->pb[0] + i * w->d[0];
						if (ih < 0 || ih >= H)
							continue;
						for (int64_t j = 0; j < kw; j++) {
							int64_t iw = ow * w->s[1] - w->pb[1] + j * w->d[1];
							if (iw >= 0 && iw < W)
								acc += xc[ih * W + iw] * k[i * kw + j];
						}
					}
					yc[oh * OW + ow] = acc;
				}
		}
}

static void conv(const struct bo_plan *p, const struct bo_node *n, const struct bo_window *w,
		 const float *const *in, float *y, float *scratch)
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
		conv_depthwise(x, wt, bias, y, N, C, H, W, w, OH, OW);
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
			int64_t ldc;
			if (cnt == 1) {
				dst = y + (n0 * M + gi * Mg) * OHW;
				ldc = OHW;
			} else {
				dst = scratch + K * cols;
				ldc = cols;
			}
			float beta = 0.f;
			if (bias) {
				for (int64_t mm = 0; mm < Mg; mm++) {
					float b = bias[gi * Mg + mm];
					float *r = dst + mm * ldc;
					for (int64_t k = 0; k < cols; k++)
						r[k] = b;
				}
				beta = 1.f;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Mg, (int)cols, (int)K,
				    1.f, wt + gi * Mg * K, (int)K, B, (int)cols, beta, dst, (int)ldc);
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
			double acc = 0;
			for (int64_t i = 0; i < S; i++)
				acc += xc[i];
			y[c] = (float)(acc / (double)S);
		}
	}
}

/* ---- elementwise ---- */

static void bn(const struct bo_shape *xs, const float *x, const float *scale, const float *shift,
	       float *y)
{
	int64_t N = xs->d[0], C = xs->d[1], S = 1;
	for (int i = 2; i < xs->rank; i++)
		S *= xs->d[i];
	for (int64_t n = 0; n < N; n++)
		for (int64_t c = 0; c < C; c++) {
			const float *xc = x + (n * C + c) * S;
			float *yc = y + (n * C + c) * S;
			float a = scale[c], b = shift[c];
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
	default: return a / b;
	}
}

/* Numpy broadcasting: walk the output with per-input strides (0 on
 * broadcast dims); the innermost dimension is a tight loop. */
static void binary(enum bo_opcode op, const struct bo_shape *as, const float *a,
		   const struct bo_shape *bs, const float *b, const struct bo_shape *os, float *y)
{
	int64_t total = bo_shape_numel(os);
	int64_t na = bo_shape_numel(as), nb = bo_shape_numel(bs);
	if (na == total && nb == total) {
		for (int64_t i = 0; i < total; i++)
			y[i] = binop(op, a[i], b[i]);
		return;
	}
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

static void softmax(const struct bo_shape *xs, int64_t axis, int legacy, const float *x,
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
			for (int64_t i = 0; i < len; i++)
				yp[i * inner] = (float)(yp[i * inner] / sum);
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
	int64_t total = bo_shape_numel(os), idx[BO_MAX_RANK] = { 0 };
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
	if (bo_wino_use(p, c->ni)) {
		if (bo_wino_conv(p, c->ni, c->in, c->y, c->scratch)) {
			bo_error_where(c->err, p->m->path, c->n->name, c->n->op_type, NULL);
			return bo_fail(c->err, BO_ENOMEM, "out of memory for Winograd weights");
		}
		return BO_OK;
	}
	conv(p, c->n, &p->win[c->ni], c->in, c->y, c->scratch);
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
	bn(KXS, KX, c->in[1], c->in[2], c->y);
	return BO_OK;
}

static bo_status k_relu(const struct bo_kctx *c)
{
	const float *x = KX;
	float *y = c->y;
	for (int64_t i = 0; i < c->total; i++)
		y[i] = x[i] > 0.f ? x[i] : 0.f;
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
	for (int64_t i = 0; i < c->total; i++) {
		float v = x[i] < lo ? lo : x[i];
		y[i] = v > hi ? hi : v;
	}
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
	for (int64_t i = 0; i < c->total; i++)
		y[i] = 1.f / (1.f + expf(-x[i]));
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
	binary(n->op, KXS, KX, SHP(n->in[1]), c->in[1], SHP(n->out[0]), c->y);
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
	softmax(KXS, c->n->p.axis, c->n->legacy_softmax, KX, c->y);
	return BO_OK;
}

static bo_status k_pad(const struct bo_kctx *c)
{
	pad(c->p, c->n, c->in, c->y);
	return BO_OK;
}

/* views: the plan usually aliases them, so this copies only when it could not */
static bo_status k_copy(const struct bo_kctx *c)
{
	if (c->y != KX)
		memmove(c->y, KX, (size_t)c->total * sizeof(float));
	return BO_OK;
}

bo_status bo_run_node(const struct bo_plan *p, int ni, const float *const *in, float *y,
		      float *scratch, struct bo_error *err)
{
	const struct bo_model *m = p->m;
	const struct bo_node *n = &m->nodes[ni];
	const struct bo_op_def *d = bo_op_def(n->op);
	if (!d->kernel) {
		bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return bo_fail(err, BO_EINTERNAL, "no kernel for this op");
	}
	struct bo_kctx c = { p, ni, n, in, y, scratch, bo_shape_numel(SHP(n->out[0])), err };
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

static bo_status infer_conv(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const struct bo_shape *w = &p->shape[n->in[1]];
	struct bo_window *win = &p->win[ni];
	*win = n->p.win;
	int nsp = x->rank - 2;
	if (nsp < 1 || nsp > 2 || w->rank != x->rank)
		return bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				 "Conv needs a 3-D or 4-D input and weight of the same rank (got input rank %s%lld, weight rank %lld)",
				 "", x->rank, w->rank);
	if (win->nsp != nsp && (win->has_kernel || win->nsp != 2))
		return bo_node_fail(m, ni, err, BO_ESHAPE,
				 "attributes describe %s%lld spatial dims but the input has %lld",
				 "", win->nsp, nsp);
	win->nsp = nsp;
	if (nsp == 1 && !win->has_kernel) {
		win->k[0] = 1; win->s[0] = 1; win->d[0] = 1; win->pb[0] = win->pe[0] = 0;
	}
	int64_t C = x->d[1], M = w->d[0], g = win->group;
	int64_t kh = nsp == 2 ? w->d[2] : 1, kw = w->d[nsp == 2 ? 3 : 2];
	if (win->has_kernel && (win->k[0] != kh || win->k[1] != kw))
		return bo_node_fail(m, ni, err, BO_ESHAPE,
				 "kernel_shape %s%lldx%lld does not match the weight", "",
				 win->k[0], win->k[1]);
	win->k[0] = kh;
	win->k[1] = kw;
	if (C % g || M % g || w->d[1] * g != C) {
		bo_shape_str(x, b1, sizeof(b1));
		bo_shape_str(w, b2, sizeof(b2));
		bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return bo_fail(err, BO_ESHAPE, "input %s does not fit weight %s with group %lld",
			       b1, b2, (long long)g);
	}
	if (n->n_in > 2 && n->in[2] >= 0 && bo_shape_numel(&p->shape[n->in[2]]) != M)
		return bo_node_fail(m, ni, err, BO_ESHAPE, "bias has %s%lld values, expected %lld",
				 "", bo_shape_numel(&p->shape[n->in[2]]), M);
	int64_t ih = nsp == 2 ? x->d[2] : 1, iw = x->d[nsp == 2 ? 3 : 2];
	int64_t oh = bo_window_out(ih, win, 0, 0), ow = bo_window_out(iw, win, 1, 0);
	if (oh <= 0 || ow <= 0)
		return bo_node_fail(m, ni, err, BO_ESHAPE,
				 "kernel is larger than the padded input (%s%lld x %lld)", "",
				 ih, iw);
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
		return bo_node_fail(m, ni, err, BO_ELIMIT, "convolution is too large%s", "", 0, 0);
	int64_t nb = ohw >= 256 ? 1 : BO_MIN(x->d[0], (256 + ohw - 1) / ohw);
	if (__builtin_mul_overflow(nb, ohw, &cols) || __builtin_mul_overflow(K, cols, &need) ||
	    (nb > 1 && __builtin_mul_overflow(M, cols, &stage)) ||
	    __builtin_add_overflow(need, stage, &need))
		return bo_node_fail(m, ni, err, BO_ELIMIT, "convolution is too large%s", "", 0, 0);
	/* or Winograd's chunk, whichever conv_algo the session picks */
	need = BO_MAX(need, bo_wino_scratch_floats(p, ni));
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
		return bo_node_fail(m, ni, err, BO_ESHAPE,
				 "kernel has %s%lld spatial dims but the input has %lld", "",
				 win->nsp, nsp);
	int64_t ih = nsp == 2 ? x->d[2] : 1, iw = x->d[nsp == 2 ? 3 : 2];
	int64_t oh = bo_window_out(ih, win, 0, 1), ow = bo_window_out(iw, win, 1, 1);
	if (oh <= 0 || ow <= 0)
		return bo_node_fail(m, ni, err, BO_ESHAPE,
				 "kernel is larger than the padded input (%s%lld x %lld)", "",
				 ih, iw);
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
		return bo_node_fail(m, ni, err, BO_ESHAPE, "input rank %s%lld is below 3", "",
				 x->rank, 0);
	*o = *x;
	for (int i = 2; i < x->rank; i++)
		o->d[i] = 1;
	return BO_OK;
}

static bo_status infer_bn(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	if (x->rank < 2 || x->d[1] != m->values[n->in[1]].numel)
		return bo_node_fail(m, ni, err, BO_ESHAPE,
				 "input has %s%lld channels but the parameters have %lld", "",
				 x->rank >= 2 ? x->d[1] : 0, m->values[n->in[1]].numel);
	*o = *x;
	return BO_OK;
}

static bo_status infer_relu(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	*o = *x;
	if (x_known && (n->op == OP_IDENTITY || n->op == OP_DROPOUT))
		return bo_plan_set_known(p, n->out[0], kv, kn, x->rank, x->d);
	if (n->op == OP_SOFTMAX) {
		int64_t a = bo_norm_axis(n->p.axis, x->rank);
		if (a < 0 || a >= (x->rank ? x->rank : 1))
			return bo_node_fail(m, ni, err, BO_ESHAPE, "axis %s%lld is out of range for rank %lld",
					 "", n->p.axis, x->rank);
	}
	return BO_OK;
}

static bo_status infer_clip(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	for (int k = 1; k < n->n_in; k++)
		if (n->in[k] >= 0 && m->values[n->in[k]].kind != BO_VAL_CONST)
			return bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
					 "min and max must be constants%s", "", 0, 0);
	*o = *x;
	return BO_OK;
}

static bo_status infer_add(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const struct bo_shape *y = &p->shape[n->in[1]];
	if (!bo_broadcast(x, y, o)) {
		bo_shape_str(x, b1, sizeof(b1));
		bo_shape_str(y, b2, sizeof(b2));
		bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return bo_fail(err, BO_ESHAPE, "shapes %s and %s do not broadcast", b1, b2);
	}
	const int64_t *kv2;
	int64_t kn2;
	if (x_known && bo_plan_known(p, n->in[1], &kv2, &kn2)) {
		/* int64 shape arithmetic, e.g. H*W computed in the graph */
		int64_t *tmp = malloc((size_t)bo_shape_numel(o) * sizeof(int64_t) + 8);
		if (!tmp)
			return bo_fail(err, BO_ENOMEM, "out of memory");
		int64_t total = bo_shape_numel(o);
		for (int64_t i = 0; i < total; i++) {
			int64_t a = kv[kn == 1 ? 0 : i % kn], b = kv2[kn2 == 1 ? 0 : i % kn2];
			int ovf = n->op == OP_ADD ? __builtin_add_overflow(a, b, &tmp[i]) :
				  n->op == OP_SUB ? __builtin_sub_overflow(a, b, &tmp[i]) :
				  n->op == OP_MUL ? __builtin_mul_overflow(a, b, &tmp[i]) :
				  (b == 0 || (a == INT64_MIN && b == -1));
			if (n->op == OP_DIV && !ovf)
				tmp[i] = a / b;
			if (ovf) {
				free(tmp);
				return bo_node_fail(m, ni, err, BO_EMALFORMED,
						 "integer shape arithmetic overflows or divides by zero%s",
						 "", 0, 0);
			}
		}
		bo_status rc = bo_plan_set_known(p, n->out[0], tmp, total, o->rank, o->d);
		free(tmp);
		return rc;
	}
	return BO_OK;
}

static bo_status infer_flatten(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	int64_t a = bo_norm_axis(n->p.axis, x->rank);
	if (a < 0 || a > x->rank)
		return bo_node_fail(m, ni, err, BO_ESHAPE, "axis %s%lld is out of range for rank %lld",
				 "", n->p.axis, x->rank);
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
	if (!bo_plan_known(p, n->in[1], &sv, &sn))
		return bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				 "the target shape must be constant or computable from input shapes%s",
				 "", 0, 0);
	if (sn > BO_MAX_RANK)
		return bo_node_fail(m, ni, err, BO_ELIMIT, "target rank %s%lld is over %lld", "", sn,
				 BO_MAX_RANK);
	int64_t total = bo_shape_numel(x), prod = 1;
	int neg = -1;
	o->rank = (int)sn;
	for (int i = 0; i < sn; i++) {
		int64_t d = sv[i];
		if (d == 0 && !n->p.allowzero) {
			if (i >= x->rank)
				return bo_node_fail(m, ni, err, BO_ESHAPE,
						 "0 at position %s%lld has no input dimension", "", i, 0);
			d = x->d[i];
		}
		if (d == -1) {
			if (neg >= 0)
				return bo_node_fail(m, ni, err, BO_ESHAPE, "more than one -1%s", "", 0, 0);
			neg = i;
			d = 1;
		} else if (d < 0) {
			return bo_node_fail(m, ni, err, BO_ESHAPE, "invalid dimension %s%lld", "", d, 0);
		}
		o->d[i] = d;
		if (!bo_mul_ok(prod, d, &prod) || prod > m->limits.max_tensor_elems)
			return bo_node_fail(m, ni, err, BO_ELIMIT, "target shape is too large%s", "",
					 0, 0);
	}
	if (neg >= 0) {
		if (prod == 0 || total % prod)
			return bo_node_fail(m, ni, err, BO_ESHAPE,
					 "cannot infer -1: %s%lld elements into blocks of %lld", "", total,
					 prod);
		o->d[neg] = total / prod;
		prod *= o->d[neg];
	}
	if (prod != total) {
		bo_shape_str(x, b1, sizeof(b1));
		bo_shape_str(o, b2, sizeof(b2));
		bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return bo_fail(err, BO_ESHAPE, "cannot reshape %s into %s", b1, b2);
	}
	if (x_known)
		return bo_plan_set_known(p, n->out[0], kv, kn, o->rank, o->d);
	return BO_OK;
}

static bo_status infer_gemm(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const struct bo_shape *b = &p->shape[n->in[1]];
	if (x->rank != 2 || b->rank != 2) {
		bo_shape_str(x, b1, sizeof(b1));
		bo_shape_str(b, b2, sizeof(b2));
		bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return bo_fail(err, BO_ESHAPE, "needs 2-D A and B, got %s and %s", b1, b2);
	}
	int64_t M = n->p.gemm.ta ? x->d[1] : x->d[0], K = n->p.gemm.ta ? x->d[0] : x->d[1];
	int64_t K2 = n->p.gemm.tb ? b->d[1] : b->d[0], N = n->p.gemm.tb ? b->d[0] : b->d[1];
	if (K != K2) {
		bo_shape_str(x, b1, sizeof(b1));
		bo_shape_str(b, b2, sizeof(b2));
		bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return bo_fail(err, BO_ESHAPE, "A %s and B %s disagree on K", b1, b2);
	}
	o->rank = 2;
	o->d[0] = M;
	o->d[1] = N;
	if (n->n_in > 2 && n->in[2] >= 0) {
		struct bo_shape t;
		if (!bo_broadcast(&p->shape[n->in[2]], o, &t) || t.d[0] != M || t.d[1] != N) {
			bo_shape_str(&p->shape[n->in[2]], b1, sizeof(b1));
			bo_shape_str(o, b2, sizeof(b2));
			bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return bo_fail(err, BO_ESHAPE, "C %s does not broadcast to %s", b1, b2);
		}
	}
	return BO_OK;
}

static bo_status infer_matmul(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	struct bo_shape a = *x, b = p->shape[n->in[1]];
	if (a.rank < 1 || b.rank < 1)
		return bo_node_fail(m, ni, err, BO_ESHAPE, "scalar operand%s", "", 0, 0);
	int a1 = a.rank == 1, b1d = b.rank == 1;
	if (a1) {
		a.rank = 2; a.d[1] = a.d[0]; a.d[0] = 1;
	}
	if (b1d) {
		b.rank = 2; b.d[1] = 1;
	}
	if (a.d[a.rank - 1] != b.d[b.rank - 2]) {
		bo_shape_str(x, b1, sizeof(b1));
		bo_shape_str(&p->shape[n->in[1]], b2, sizeof(b2));
		bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return bo_fail(err, BO_ESHAPE, "cannot multiply %s by %s", b1, b2);
	}
	struct bo_shape ba = a, bb = b;
	ba.rank -= 2;
	bb.rank -= 2;
	struct bo_shape bo;
	if (!bo_broadcast(&ba, &bb, &bo))
		return bo_node_fail(m, ni, err, BO_ESHAPE, "batch dimensions do not broadcast%s", "",
				 0, 0);
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
	int64_t a = bo_norm_axis(n->p.axis, x->rank);
	if (a < 0 || a >= x->rank)
		return bo_node_fail(m, ni, err, BO_ESHAPE, "axis %s%lld is out of range for rank %lld",
				 "", n->p.axis, x->rank);
	*o = *x;
	int all_known = 1;
	for (int k = 1; k < n->n_in; k++) {
		const struct bo_shape *y = &p->shape[n->in[k]];
		const int64_t *t;
		int64_t tn;
		all_known &= bo_plan_known(p, n->in[k], &t, &tn);
		int ok = y->rank == x->rank;
		for (int i = 0; ok && i < x->rank; i++)
			if (i != a && y->d[i] != x->d[i])
				ok = 0;
		if (!ok) {
			bo_shape_str(x, b1, sizeof(b1));
			bo_shape_str(y, b2, sizeof(b2));
			bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return bo_fail(err, BO_ESHAPE, "cannot concatenate %s and %s on axis %lld",
				       b1, b2, (long long)a);
		}
		o->d[a] += y->d[a];
	}
	if (x_known && all_known && x->rank == 1) {
		int64_t buf[64], cnt = 0;
		for (int k = 0; k < n->n_in; k++) {
			const int64_t *t = NULL;
			int64_t tn = 0;
			bo_plan_known(p, n->in[k], &t, &tn);
			for (int64_t j = 0; j < tn; j++) {
				if (cnt == 64)
					return bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
							 "integer concatenation of more than %s%lld values",
							 "", 64, 0);
				buf[cnt++] = t[j];
			}
		}
		return bo_plan_set_known(p, n->out[0], buf, cnt, 1, &cnt);
	} else if (x_known || all_known) {
		for (int k = 0; k < n->n_in; k++)
			if (m->values[n->in[k]].dtype == BO_DT_I64 || p->known[n->in[k]])
				return bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
						 "concatenation of integer tensors is only supported in 1-D%s",
						 "", 0, 0);
	}
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
	return bo_plan_set_known(p, n->out[0], x->d + s, cnt, 1, &cnt);
}

static bo_status infer_gather(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const int64_t *iv;
	int64_t in_;
	if (!x_known || !bo_plan_known(p, n->in[1], &iv, &in_))
		return bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				 "Gather is only supported on integer shape tensors%s", "", 0, 0);
	if (x->rank != 1 || n->p.axis != 0)
		return bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "Gather on %s%lld-D data", "",
				 x->rank, 0);
	int64_t tmp[64];
	if (in_ > 64)
		return bo_node_fail(m, ni, err, BO_ELIMIT, "too many indices%s", "", 0, 0);
	for (int64_t i = 0; i < in_; i++) {
		int64_t j = iv[i] < 0 ? iv[i] + kn : iv[i];
		if (j < 0 || j >= kn)
			return bo_node_fail(m, ni, err, BO_ESHAPE, "index %s%lld out of range %lld", "",
					 iv[i], kn);
		tmp[i] = kv[j];
	}
	const struct bo_shape *is = &p->shape[n->in[1]];
	return bo_plan_set_known(p, n->out[0], tmp, in_, is->rank, is->d);
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
		if (!bo_plan_known(p, n->in[1], &av, &an) || an > BO_MAX_RANK)
			return bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "axes must be constant%s", "",
					 0, 0);
		na = (int)an;
		memcpy(axes, av, (size_t)an * sizeof(int64_t));
	} else if (n->op == OP_UNSQUEEZE) {
		return bo_node_fail(m, ni, err, BO_EMALFORMED, "axes are required%s", "", 0, 0);
	}
	if (n->op == OP_UNSQUEEZE) {
		int r = x->rank + na;
		if (r > BO_MAX_RANK)
			return bo_node_fail(m, ni, err, BO_ELIMIT, "rank %s%lld is over %lld", "", r,
					 BO_MAX_RANK);
		unsigned mask = 0;
		for (int i = 0; i < na; i++) {
			int64_t a = bo_norm_axis(axes[i], r);
			if (a < 0 || a >= r || (mask >> a & 1))
				return bo_node_fail(m, ni, err, BO_ESHAPE, "bad axis %s%lld", "",
						 axes[i], 0);
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
				int64_t a = bo_norm_axis(axes[i], x->rank);
				if (a < 0 || a >= x->rank || x->d[a] != 1)
					return bo_node_fail(m, ni, err, BO_ESHAPE,
							 "cannot squeeze axis %s%lld", "", axes[i], 0);
				mask |= 1u << a;
			}
		}
		o->rank = 0;
		for (int i = 0; i < x->rank; i++)
			if (!(mask >> i & 1))
				o->d[o->rank++] = x->d[i];
	}
	if (x_known)
		return bo_plan_set_known(p, n->out[0], kv, kn, o->rank, o->d);
	return BO_OK;
}

static bo_status infer_cast(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	*o = *x;
	if (x_known)
		return bo_plan_set_known(p, n->out[0], kv, kn, x->rank, x->d);
	if (n->p.to != 1) {
		/* float -> int of a constant: fold */
		if (xv->kind == BO_VAL_CONST && xv->dtype == BO_DT_F32) {
			int64_t *tmp = malloc((size_t)(xv->numel + 1) * sizeof(int64_t));
			if (!tmp)
				return bo_fail(err, BO_ENOMEM, "out of memory");
			for (int64_t i = 0; i < xv->numel; i++)
				tmp[i] = (int64_t)xv->f[i];
			bo_status rc = bo_plan_set_known(p, n->out[0], tmp, xv->numel, x->rank, x->d);
			free(tmp);
			return rc;
		}
		return bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				 "casting run-time floats to integers is not supported%s", "", 0, 0);
	}
	return BO_OK;
}

static bo_status infer_slice(struct bo_ictx *c)
{
	INFER_LOCALS(c);
	const int64_t *st, *en, *ax = NULL, *sp = NULL;
	int64_t ns, ne, nax = 0, nsp = 0;
	if (!x_known || x->rank != 1 || !bo_plan_known(p, n->in[1], &st, &ns) ||
	    !bo_plan_known(p, n->in[2], &en, &ne) ||
	    (n->n_in > 3 && n->in[3] >= 0 && !bo_plan_known(p, n->in[3], &ax, &nax)) ||
	    (n->n_in > 4 && n->in[4] >= 0 && !bo_plan_known(p, n->in[4], &sp, &nsp)))
		return bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				 "Slice is only supported on 1-D integer shape tensors%s", "", 0, 0);
	if (ns != 1 || ne != 1 || (ax && (nax != 1 || (ax[0] != 0 && ax[0] != -1))))
		return bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "multi-axis Slice%s", "", 0, 0);
	int64_t step = sp ? sp[0] : 1;
	if (step != 1)
		return bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "Slice step %s%lld", "", step, 0);
	int64_t s = st[0] < 0 ? st[0] + kn : st[0], e = en[0] < 0 ? en[0] + kn : en[0];
	s = BO_MAX(0, BO_MIN(s, kn));
	e = BO_MAX(s, BO_MIN(e, kn));
	int64_t cnt = e - s;
	return bo_plan_set_known(p, n->out[0], kv + s, cnt, 1, &cnt);
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
		if (n->n_in < 2 || n->in[1] < 0 || !bo_plan_known(p, n->in[1], &pv, &pn) ||
		    pn > 2 * BO_MAX_RANK)
			return bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "pads must be constant%s", "",
					 0, 0);
		np_ = (int)pn;
		memcpy(pads, pv, (size_t)pn * sizeof(int64_t));
		if (n->n_in > 2 && n->in[2] >= 0 && m->values[n->in[2]].kind != BO_VAL_CONST)
			return bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
					 "constant_value must be constant%s", "", 0, 0);
		if (n->n_in > 3 && n->in[3] >= 0)
			return bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "the axes input%s", "", 0, 0);
	}
	if (np_ != 2 * x->rank)
		return bo_node_fail(m, ni, err, BO_ESHAPE, "%s%lld pads for rank %lld", "", np_,
				 x->rank);
	o->rank = x->rank;
	for (int i = 0; i < x->rank; i++) {
		if (pads[i] < 0 || pads[i + x->rank] < 0)
			return bo_node_fail(m, ni, err, BO_EUNSUPPORTED, "negative pads%s", "", 0, 0);
		if (pads[i] > m->limits.max_tensor_elems ||
		    pads[i + x->rank] > m->limits.max_tensor_elems)
			return bo_node_fail(m, ni, err, BO_ELIMIT, "pad %s%lld is too large", "",
					 BO_MAX(pads[i], pads[i + x->rank]), 0);
		o->d[i] = x->d[i] + pads[i] + pads[i + x->rank];
		if (n->p.pad.mode == 1 && (pads[i] >= x->d[i] || pads[i + x->rank] >= x->d[i]))
			return bo_node_fail(m, ni, err, BO_ESHAPE,
					 "reflect pad %s%lld is not smaller than dimension %lld", "",
					 BO_MAX(pads[i], pads[i + x->rank]), x->d[i]);
	}
	memcpy(p->pads[ni], pads, sizeof(pads));
	return BO_OK;
}

/* ---- attributes ---- */

static bo_status parse_conv(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_window(A, &n->p.win, 1)))
		return rc;
	return BO_OK;
}

static bo_status parse_maxpool(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_window(A, &n->p.win, 0)))
		return rc;
	if (n->n_out > 1)
		return bo_attr_fail(A, "Indices", BO_EUNSUPPORTED,
				 "the optional Indices output is not supported", NULL);
	return BO_OK;
}

static bo_status parse_avgpool(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_window(A, &n->p.win, 0)))
		return rc;
	return BO_OK;
}

static bo_status parse_bn(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_float(A, "epsilon", 1e-5f, &n->p.bn.eps)))
		return rc;
	if ((rc = bo_attr_int(A, "training_mode", 0, &v)))
		return rc;
	if (v)
		return bo_attr_fail(A, "training_mode", BO_EUNSUPPORTED,
				 "training mode is not supported (inference only)", NULL);
	if ((rc = bo_attr_int(A, "spatial", 1, &v)))
		return rc;
	if (!v)
		return bo_attr_fail(A, "spatial", BO_EUNSUPPORTED, "spatial=0 is not supported",
				 NULL);
	if (n->n_out > 1)
		return bo_attr_fail(A, "outputs", BO_EUNSUPPORTED,
				 "running mean/var outputs (training) are not supported", NULL);
	if (n->n_in != 5)
		return bo_attr_fail(A, "inputs", BO_EMALFORMED,
				 "needs 5 inputs (X, scale, B, mean, var)", NULL);
	return BO_OK;
}

static bo_status parse_gemm(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_float(A, "alpha", 1.f, &n->p.gemm.alpha)) ||
	    (rc = bo_attr_float(A, "beta", 1.f, &n->p.gemm.beta)))
		return rc;
	if ((rc = bo_attr_int(A, "transA", 0, &v)))
		return rc;
	n->p.gemm.ta = v != 0;
	if ((rc = bo_attr_int(A, "transB", 0, &v)))
		return rc;
	n->p.gemm.tb = v != 0;
	return BO_OK;
}

static bo_status parse_clip(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_float(A, "min", -INFINITY, &n->p.clip.lo)) ||
	    (rc = bo_attr_float(A, "max", INFINITY, &n->p.clip.hi)))
		return rc;
	return BO_OK;
}

static bo_status parse_leakyrelu(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_float(A, "alpha", 0.01f, &n->p.alpha)))
		return rc;
	return BO_OK;
}

static bo_status parse_flatten(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_int(A, "axis",
			  n->op == OP_SOFTMAX ? (A->opset < 13 ? 1 : -1) :
			  n->op == OP_FLATTEN ? 1 : 0, &n->p.axis)))
		return rc;
	if (n->op == OP_CONCAT && !bo_attr_has(A, "axis"))
		return bo_attr_fail(A, "axis", BO_EMALFORMED, "is required", NULL);
	n->legacy_softmax = n->op == OP_SOFTMAX && A->opset < 13;
	return BO_OK;
}

static bo_status parse_unsqueeze(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_ints(A, "axes", n->p.axes.axes, BO_MAX_RANK, &cnt)))
		return rc;
	n->p.axes.n = cnt; /* -1: from input 1 or (Squeeze) all size-1 dims */
	return BO_OK;
}

static bo_status parse_pad(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	char mode[16];
	if ((rc = bo_attr_string(A, "mode", "constant", mode, sizeof(mode))))
		return rc;
	if (!strcmp(mode, "constant"))
		n->p.pad.mode = 0;
	else if (!strcmp(mode, "reflect"))
		n->p.pad.mode = 1;
	else if (!strcmp(mode, "edge"))
		n->p.pad.mode = 2;
	else
		return bo_attr_fail(A, "mode", BO_EUNSUPPORTED, "unsupported pad mode ", mode);
	if ((rc = bo_attr_ints(A, "pads", n->p.pad.pads, 2 * BO_MAX_RANK, &cnt)))
		return rc;
	n->p.pad.n = cnt;
	if ((rc = bo_attr_float(A, "value", 0.f, &n->p.pad.value)))
		return rc;
	return BO_OK;
}

static bo_status parse_dropout(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if (n->n_out > 1)
		return bo_attr_fail(A, "mask", BO_EUNSUPPORTED, "the mask output is not supported",
				 NULL);
	return BO_OK; /* a training_mode input is checked once inputs resolve */
}

static bo_status parse_shape(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_int(A, "start", 0, &n->p.shape.start)))
		return rc;
	n->p.shape.has_end = bo_attr_has(A, "end");
	if ((rc = bo_attr_int(A, "end", 0, &n->p.shape.end)))
		return rc;
	return BO_OK;
}

static bo_status parse_cast(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_int(A, "to", 0, &v)))
		return rc;
	if (v != 1 && v != 7 && v != 6)
		return bo_attr_fail(A, "to", BO_EUNSUPPORTED, "cast target type ", bo_attr_dtype_name((int)v));
	n->p.to = (int)v;
	return BO_OK;
}

static bo_status parse_slice(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if (A->opset < 10)
		return bo_attr_fail(A, "starts", BO_EUNSUPPORTED,
				 "Slice before A->opset 10 is not supported", NULL);
	return BO_OK;
}

static bo_status parse_reshape(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if ((rc = bo_attr_int(A, "allowzero", 0, &v)))
		return rc;
	n->p.allowzero = v != 0;
	if (A->opset < 5)
		return bo_attr_fail(A, "shape", BO_EUNSUPPORTED,
				 "Reshape before A->opset 5 is not supported", NULL);
	return BO_OK;
}

static bo_status parse_add(struct bo_attrs *A, struct bo_node *n)
{
	bo_status rc;
	int64_t v;
	int cnt;
	(void)rc; (void)v; (void)cnt;
	if (A->opset < 7)
		return bo_attr_fail(A, "broadcast", BO_EUNSUPPORTED,
				 "legacy (A->opset < 7) broadcasting is not supported", NULL);
	return BO_OK;
}

/* ---- FLOPs: 2 x multiply-adds ---- */

static int64_t flops_conv(const struct bo_plan *p, const struct bo_node *n)
{
	const struct bo_shape *ws = SHP(n->in[1]);
	int64_t k = 1;
	for (int d = 1; d < ws->rank; d++)
		k *= ws->d[d];
	return 2 * bo_shape_numel(SHP(n->out[0])) * k;
}

static int64_t flops_gemm(const struct bo_plan *p, const struct bo_node *n)
{
	const struct bo_shape *as = SHP(n->in[0]);
	return 2 * bo_shape_numel(SHP(n->out[0])) * (n->p.gemm.ta ? as->d[0] : as->d[1]);
}

static int64_t flops_matmul(const struct bo_plan *p, const struct bo_node *n)
{
	const struct bo_shape *as = SHP(n->in[0]);
	return 2 * bo_shape_numel(SHP(n->out[0])) * as->d[as->rank - 1];
}

int64_t bo_node_flops(const struct bo_plan *p, int ni)
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

#define ALL 0xffffffffu
#define IN0 1u
#define V BO_OPF_VIEW
#define IP BO_OPF_INPLACE
#define FO BO_OPF_FOLDS

/* name, attrs, attrs_before, min_in, max_in, old_opset, old_max_in, optional, data_in,
 * flags, parse, infer, kernel, flops */
const struct bo_op_def bo_ops[OP_COUNT_] = {
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
	[OP_CONCAT] = { "Concat", axis_a, 0, 1, BO_MAX_IN, 0, 0, 0, ALL, FO,
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
	[OP_GATHER] = { "Gather", axis_a, 0, 2, 2, 0, 0, 0, 0, 0,
			parse_flatten, infer_gather, NULL, NULL },
	[OP_UNSQUEEZE] = { "Unsqueeze", axes_a, 13, 1, 2, 13, 1, 2u, IN0, V | FO,
			   parse_unsqueeze, infer_unsqueeze, k_copy, NULL },
	[OP_SQUEEZE] = { "Squeeze", axes_a, 13, 1, 2, 13, 1, 2u, IN0, V | FO,
			 parse_unsqueeze, infer_unsqueeze, k_copy, NULL },
	[OP_CAST] = { "Cast", cast_a, 0, 1, 1, 0, 0, 0, 0, V,
		      parse_cast, infer_cast, k_copy, NULL },
	[OP_SLICE] = { "Slice", slice_a, 10, 3, 5, 0, 0, (1u << 3) | (1u << 4), IN0, FO,
		       parse_slice, infer_slice, NULL, NULL },
	[OP_TANH] = { "Tanh", NULL, 0, 1, 1, 0, 0, 0, ALL, IP, NULL, infer_relu, k_tanh, NULL },
};

int bo_op_lookup(const char *type)
{
	for (int i = 0; i < OP_COUNT_; i++)
		if (bo_ops[i].name && !strcmp(bo_ops[i].name, type))
			return i;
	return -1;
}

const char *bo_op_name(enum bo_opcode op)
{
	return (unsigned)op < OP_COUNT_ && bo_ops[op].name ? bo_ops[op].name : "?";
}
