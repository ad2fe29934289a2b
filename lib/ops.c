/* Kernels: one function per op family, dispatched by bo_run_node().
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

#include "plan.h"
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

bo_status bo_run_node(const struct bo_plan *p, int ni, const float *const *in, float *y,
		      float *scratch, struct bo_error *err)
{
	const struct bo_model *m = p->m;
	const struct bo_node *n = &m->nodes[ni];
	const struct bo_shape *xs = SHP(n->in[0]);
	int64_t total = bo_shape_numel(SHP(n->out[0]));
	const float *x = in[0];
	switch (n->op) {
	case OP_CONV:
		if (bo_wino_use(p, ni)) {
			if (bo_wino_conv(p, ni, in, y, scratch)) {
				bo_error_where(err, m->path, n->name, n->op_type, NULL);
				return bo_fail(err, BO_ENOMEM, "out of memory for Winograd weights");
			}
			break;
		}
		conv(p, n, &p->win[ni], in, y, scratch);
		break;
	case OP_MAXPOOL:
	case OP_AVGPOOL:
		pool(p, n, &p->win[ni], x, y);
		break;
	case OP_GAP:
	case OP_GMP:
		global_pool(xs, x, y, n->op == OP_GMP);
		break;
	case OP_BN:
		bn(xs, x, in[1], in[2], y);
		break;
	case OP_RELU:
		for (int64_t i = 0; i < total; i++)
			y[i] = x[i] > 0.f ? x[i] : 0.f;
		break;
	case OP_CLIP: {
		float lo = n->p.clip.lo, hi = n->p.clip.hi;
		if (n->n_in > 1 && n->in[1] >= 0)
			lo = in[1][0];
		if (n->n_in > 2 && n->in[2] >= 0)
			hi = in[2][0];
		for (int64_t i = 0; i < total; i++) {
			float v = x[i] < lo ? lo : x[i];
			y[i] = v > hi ? hi : v;
		}
		break;
	}
	case OP_LEAKYRELU:
		for (int64_t i = 0; i < total; i++)
			y[i] = x[i] >= 0.f ? x[i] : x[i] * n->p.alpha;
		break;
	case OP_SIGMOID:
		for (int64_t i = 0; i < total; i++)
			y[i] = 1.f / (1.f + expf(-x[i]));
		break;
	case OP_TANH:
		for (int64_t i = 0; i < total; i++)
			y[i] = tanhf(x[i]);
		break;
	case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV:
		binary(n->op, xs, x, SHP(n->in[1]), in[1], SHP(n->out[0]), y);
		break;
	case OP_GEMM:
		gemm(p, n, in, y);
		break;
	case OP_MATMUL:
		matmul(p, n, in, y);
		break;
	case OP_CONCAT:
		concat(p, n, in, y);
		break;
	case OP_SOFTMAX:
		softmax(xs, n->p.axis, n->legacy_softmax, x, y);
		break;
	case OP_PAD:
		pad(p, n, in, y);
		break;
	case OP_FLATTEN: case OP_RESHAPE: case OP_IDENTITY: case OP_DROPOUT: case OP_SQUEEZE:
	case OP_UNSQUEEZE: case OP_CAST:
		if (y != x)
			memmove(y, x, (size_t)total * sizeof(float));
		break;
	default:
		bo_error_where(err, m->path, n->name, n->op_type, NULL);
		return bo_fail(err, BO_EINTERNAL, "no kernel for this op");
	}
	return BO_OK;
}
