/* Planning: shape inference, shape-arithmetic folding, buffer reuse.
 *
 * Design: a plan is built once per set of input shapes (a session keeps one
 * per thread slice size) and is then read-only while running.
 *  1. Shape inference walks the topologically sorted nodes. Int64 tensors
 *     (Shape outputs, constant shape arithmetic: Gather, Unsqueeze, Concat,
 *     Squeeze, Cast, Slice) are computed here as "known" values and their
 *     nodes are skipped at run time: that is how the Shape -> Gather ->
 *     Unsqueeze -> Concat -> Reshape chain PyTorch emits around flatten costs
 *     nothing.
 *  2. Storage: view ops (Flatten, Reshape, Identity, Dropout, Squeeze,
 *     Unsqueeze) alias their input, and elementwise ops write in place over
 *     an input whose storage nobody reads later. Each storage "root" gets a
 *     lifetime [first write, last read].
 *  3. Roots are placed in one arena, largest first, each at the lowest
 *     offset that does not overlap a root live at the same time. Peak
 *     memory is thus about batch x the largest live set, not the sum. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"
#include "winograd.h"

static bo_status node_fail(const struct bo_model *m, int ni, struct bo_error *err, bo_status st,
			   const char *fmt, const char *a, long long x, long long y)
{
	bo_error_where(err, m->path, m->nodes[ni].name, m->nodes[ni].op_type, NULL);
	char msg[256];
	snprintf(msg, sizeof(msg), fmt, a ? a : "", x, y);
	return bo_fail(err, st, "%s", msg);
}

static void shape_str(const struct bo_shape *s, char *buf, size_t size)
{
	size_t n = 0;
	n += (size_t)snprintf(buf + n, size - n, "[");
	for (int i = 0; i < s->rank && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "", (long long)s->d[i]);
	if (n < size)
		snprintf(buf + n, size - n, "]");
}

/* Read an int64 tensor that must be known at plan time (constant or
 * computed); *vals points into model or plan memory. */
static int get_known(const struct bo_plan *p, int v, const int64_t **vals, int64_t *n)
{
	const struct bo_value *val = &p->m->values[v];
	if (p->known[v]) {
		*vals = p->known[v];
		*n = p->known_n[v];
		return 1;
	}
	if (val->kind == BO_VAL_CONST && val->dtype == BO_DT_I64) {
		*vals = val->i;
		*n = val->numel;
		return 1;
	}
	return 0;
}

static int64_t norm_axis(int64_t a, int rank)
{
	return a < 0 ? a + rank : a;
}

static bo_status set_known(struct bo_plan *p, int v, const int64_t *data, int64_t n, int rank,
			   const int64_t *dims)
{
	p->known[v] = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
	if (!p->known[v])
		return BO_ENOMEM;
	memcpy(p->known[v], data, (size_t)n * sizeof(int64_t));
	p->known_n[v] = n;
	p->shape[v].rank = rank;
	for (int i = 0; i < rank; i++)
		p->shape[v].d[i] = dims[i];
	return BO_OK;
}

static int broadcast(const struct bo_shape *a, const struct bo_shape *b, struct bo_shape *o)
{
	int r = BO_MAX(a->rank, b->rank);
	o->rank = r;
	for (int i = 0; i < r; i++) {
		int64_t da = i < r - a->rank ? 1 : a->d[i - (r - a->rank)];
		int64_t db = i < r - b->rank ? 1 : b->d[i - (r - b->rank)];
		if (da != db && da != 1 && db != 1)
			return 0;
		o->d[i] = da == 1 ? db : da;
	}
	return 1;
}

/* Output length of a sliding window along one dim; resolves SAME pads. */
static int64_t window_out(int64_t in, struct bo_window *w, int i, int is_pool)
{
	int64_t ek = (w->k[i] - 1) * w->d[i] + 1;
	if (w->auto_pad == 1 || w->auto_pad == 2) {
		int64_t out = (in + w->s[i] - 1) / w->s[i];
		int64_t total = BO_MAX(0, (out - 1) * w->s[i] + ek - in);
		w->pb[i] = w->auto_pad == 1 ? total / 2 : total - total / 2;
		w->pe[i] = total - w->pb[i];
		return out;
	}
	if (w->auto_pad == 3)
		w->pb[i] = w->pe[i] = 0;
	int64_t span = in + w->pb[i] + w->pe[i] - ek;
	if (span < 0)
		return 0;
	int64_t out;
	if (is_pool && w->ceil_mode) {
		out = (span + w->s[i] - 1) / w->s[i] + 1;
		/* the last window must start inside the input or left padding */
		if ((out - 1) * w->s[i] >= in + w->pb[i])
			out--;
	} else {
		out = span / w->s[i] + 1;
	}
	return out;
}

/* Does the kernel of op read input k as float data? (Shape operands such
 * as Reshape's target are integer tensors known at plan time.) */
static int reads_float(enum bo_opcode op, int k)
{
	switch (op) {
	case OP_RESHAPE: case OP_SQUEEZE: case OP_UNSQUEEZE: case OP_DROPOUT: case OP_SLICE:
		return k == 0;
	case OP_PAD:
		return k == 0 || k == 2;
	case OP_SHAPE: case OP_GATHER: case OP_CAST:
		return 0;
	default:
		return 1;
	}
}

static int is_int(const struct bo_plan *p, int v)
{
	return p->known[v] || p->m->values[v].dtype == BO_DT_I64;
}

/* Refuse integer tensors where a kernel reads floats, and scalars that are
 * not one value, before any kernel can read them. Ops that fold integer
 * shape arithmetic may take integers in every float slot at once. */
static bo_status check_operands(const struct bo_plan *p, int ni, struct bo_error *err)
{
	const struct bo_model *m = p->m;
	const struct bo_node *n = &m->nodes[ni];
	int n_float = 0, n_int = 0;
	for (int k = 0; k < n->n_in; k++)
		if (n->in[k] >= 0 && reads_float(n->op, k))
			is_int(p, n->in[k]) ? n_int++ : n_float++;
	int folds = n->op == OP_IDENTITY || n->op == OP_DROPOUT || n->op == OP_RESHAPE ||
		    n->op == OP_SQUEEZE || n->op == OP_UNSQUEEZE || n->op == OP_CONCAT ||
		    n->op == OP_SLICE || n->op == OP_ADD || n->op == OP_SUB || n->op == OP_MUL ||
		    n->op == OP_DIV;
	if (n_int && (n_float || !folds))
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0 && reads_float(n->op, k) && is_int(p, n->in[k])) {
				bo_error_where(err, m->path, n->name, n->op_type, "input");
				return bo_fail(err, BO_EUNSUPPORTED,
					       "input %d ('%s') is an integer tensor where float data is read",
					       k, m->values[n->in[k]].name);
			}
	/* Clip's min/max and Pad's constant_value are scalars */
	for (int k = 1; k < n->n_in; k++) {
		int scalar = (n->op == OP_CLIP && k <= 2) || (n->op == OP_PAD && k == 2);
		if (scalar && n->in[k] >= 0 && bo_shape_numel(&p->shape[n->in[k]]) != 1) {
			bo_error_where(err, m->path, n->name, n->op_type, "input");
			return bo_fail(err, BO_ESHAPE, "input %d ('%s') must hold exactly one value", k,
				       m->values[n->in[k]].name);
		}
	}
	return BO_OK;
}

/* Infer the output shape of node ni (and fold it if it is shape arithmetic). */
static bo_status infer(struct bo_plan *p, int ni, struct bo_error *err)
{
	const struct bo_model *m = p->m;
	const struct bo_node *n = &m->nodes[ni];
	struct bo_shape *o = &p->shape[n->out[0]];
	const struct bo_shape *x = &p->shape[n->in[0]];
	char b1[96], b2[96];
	const int64_t *kv = NULL;
	int64_t kn = 0;
	bo_status rc0;
	int xin = n->in[0];
	int x_known = get_known(p, xin, &kv, &kn);
	const struct bo_value *xv = &m->values[xin];
	if (!x_known && xv->dtype == BO_DT_I64 && n->op != OP_SHAPE)
		return node_fail(m, ni, err, BO_EUNSUPPORTED,
				 "integer tensor '%s' is not computable at plan time", xv->name, 0,
				 0);
	if ((rc0 = check_operands(p, ni, err)))
		return rc0;
	/* Float inputs other than the data input must be constant or known. */
	switch (n->op) {
	case OP_CONV: {
		const struct bo_shape *w = &p->shape[n->in[1]];
		struct bo_window *win = &p->win[ni];
		*win = n->p.win;
		int nsp = x->rank - 2;
		if (nsp < 1 || nsp > 2 || w->rank != x->rank)
			return node_fail(m, ni, err, BO_EUNSUPPORTED,
					 "Conv needs a 3-D or 4-D input and weight of the same rank (got input rank %s%lld, weight rank %lld)",
					 "", x->rank, w->rank);
		if (win->nsp != nsp && (win->has_kernel || win->nsp != 2))
			return node_fail(m, ni, err, BO_ESHAPE,
					 "attributes describe %s%lld spatial dims but the input has %lld",
					 "", win->nsp, nsp);
		win->nsp = nsp;
		if (nsp == 1 && !win->has_kernel) {
			win->k[0] = 1; win->s[0] = 1; win->d[0] = 1; win->pb[0] = win->pe[0] = 0;
		}
		int64_t C = x->d[1], M = w->d[0], g = win->group;
		int64_t kh = nsp == 2 ? w->d[2] : 1, kw = w->d[nsp == 2 ? 3 : 2];
		if (win->has_kernel && (win->k[0] != kh || win->k[1] != kw))
			return node_fail(m, ni, err, BO_ESHAPE,
					 "kernel_shape %s%lldx%lld does not match the weight", "",
					 win->k[0], win->k[1]);
		win->k[0] = kh;
		win->k[1] = kw;
		if (C % g || M % g || w->d[1] * g != C) {
			shape_str(x, b1, sizeof(b1));
			shape_str(w, b2, sizeof(b2));
			bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return bo_fail(err, BO_ESHAPE, "input %s does not fit weight %s with group %lld",
				       b1, b2, (long long)g);
		}
		if (n->n_in > 2 && n->in[2] >= 0 && bo_shape_numel(&p->shape[n->in[2]]) != M)
			return node_fail(m, ni, err, BO_ESHAPE, "bias has %s%lld values, expected %lld",
					 "", bo_shape_numel(&p->shape[n->in[2]]), M);
		int64_t ih = nsp == 2 ? x->d[2] : 1, iw = x->d[nsp == 2 ? 3 : 2];
		int64_t oh = window_out(ih, win, 0, 0), ow = window_out(iw, win, 1, 0);
		if (oh <= 0 || ow <= 0)
			return node_fail(m, ni, err, BO_ESHAPE,
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
		/* checked: the output check below comes after this */
		int64_t K, ohw, nbo, need, need2 = 0;
		if (!bo_mul_ok(C / g, kh, &K) || !bo_mul_ok(K, kw, &K) || !bo_mul_ok(oh, ow, &ohw))
			return node_fail(m, ni, err, BO_ELIMIT, "output of %s%lld x %lld is too large",
					 "", oh, ow);
		int64_t nb = ohw >= 256 ? 1 : BO_MIN(x->d[0], (256 + ohw - 1) / BO_MAX(ohw, 1));
		if (!bo_mul_ok(nb, ohw, &nbo) || !bo_mul_ok(K, nbo, &need) ||
		    (nb > 1 && !bo_mul_ok(M, nbo, &need2)) || __builtin_add_overflow(need, need2, &need))
			return node_fail(m, ni, err, BO_ELIMIT, "scratch of %s%lld x %lld is too large",
					 "", K, nbo);
		/* or Winograd's chunk, whichever conv_algo the session picks */
		need = BO_MAX(need, bo_wino_scratch_floats(p, ni));
		if (need > p->scratch_floats)
			p->scratch_floats = need;
		break;
	}
	case OP_MAXPOOL:
	case OP_AVGPOOL: {
		struct bo_window *win = &p->win[ni];
		*win = n->p.win;
		int nsp = x->rank - 2;
		if (nsp != win->nsp)
			return node_fail(m, ni, err, BO_ESHAPE,
					 "kernel has %s%lld spatial dims but the input has %lld", "",
					 win->nsp, nsp);
		int64_t ih = nsp == 2 ? x->d[2] : 1, iw = x->d[nsp == 2 ? 3 : 2];
		int64_t oh = window_out(ih, win, 0, 1), ow = window_out(iw, win, 1, 1);
		if (oh <= 0 || ow <= 0)
			return node_fail(m, ni, err, BO_ESHAPE,
					 "kernel is larger than the padded input (%s%lld x %lld)", "",
					 ih, iw);
		*o = *x;
		o->d[x->rank - 1] = ow;
		if (nsp == 2)
			o->d[2] = oh;
		break;
	}
	case OP_GAP:
	case OP_GMP:
		if (x->rank < 3)
			return node_fail(m, ni, err, BO_ESHAPE, "input rank %s%lld is below 3", "",
					 x->rank, 0);
		*o = *x;
		for (int i = 2; i < x->rank; i++)
			o->d[i] = 1;
		break;
	case OP_BN:
		if (x->rank < 2 || x->d[1] != m->values[n->in[1]].numel)
			return node_fail(m, ni, err, BO_ESHAPE,
					 "input has %s%lld channels but the parameters have %lld", "",
					 x->rank >= 2 ? x->d[1] : 0, m->values[n->in[1]].numel);
		*o = *x;
		break;
	case OP_RELU: case OP_LEAKYRELU: case OP_SIGMOID: case OP_TANH: case OP_SOFTMAX:
	case OP_IDENTITY: case OP_DROPOUT:
		*o = *x;
		if (x_known && (n->op == OP_IDENTITY || n->op == OP_DROPOUT))
			return set_known(p, n->out[0], kv, kn, x->rank, x->d);
		if (n->op == OP_SOFTMAX) {
			int64_t a = norm_axis(n->p.axis, x->rank);
			if (a < 0 || a >= (x->rank ? x->rank : 1))
				return node_fail(m, ni, err, BO_ESHAPE, "axis %s%lld is out of range for rank %lld",
						 "", n->p.axis, x->rank);
		}
		break;
	case OP_CLIP:
		for (int k = 1; k < n->n_in; k++)
			if (n->in[k] >= 0 && m->values[n->in[k]].kind != BO_VAL_CONST)
				return node_fail(m, ni, err, BO_EUNSUPPORTED,
						 "min and max must be constants%s", "", 0, 0);
		*o = *x;
		break;
	case OP_ADD: case OP_MUL: case OP_SUB: case OP_DIV: {
		const struct bo_shape *y = &p->shape[n->in[1]];
		if (!broadcast(x, y, o)) {
			shape_str(x, b1, sizeof(b1));
			shape_str(y, b2, sizeof(b2));
			bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return bo_fail(err, BO_ESHAPE, "shapes %s and %s do not broadcast", b1, b2);
		}
		const int64_t *kv2;
		int64_t kn2;
		if (x_known && get_known(p, n->in[1], &kv2, &kn2)) {
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
					return node_fail(m, ni, err, BO_EMALFORMED,
							 "integer shape arithmetic overflows or divides by zero%s",
							 "", 0, 0);
				}
			}
			bo_status rc = set_known(p, n->out[0], tmp, total, o->rank, o->d);
			free(tmp);
			return rc;
		}
		break;
	}
	case OP_FLATTEN: {
		int64_t a = norm_axis(n->p.axis, x->rank);
		if (a < 0 || a > x->rank)
			return node_fail(m, ni, err, BO_ESHAPE, "axis %s%lld is out of range for rank %lld",
					 "", n->p.axis, x->rank);
		o->rank = 2;
		o->d[0] = o->d[1] = 1;
		for (int i = 0; i < x->rank; i++)
			o->d[i < a ? 0 : 1] *= x->d[i];
		break;
	}
	case OP_RESHAPE: {
		const int64_t *sv;
		int64_t sn;
		if (!get_known(p, n->in[1], &sv, &sn))
			return node_fail(m, ni, err, BO_EUNSUPPORTED,
					 "the target shape must be constant or computable from input shapes%s",
					 "", 0, 0);
		if (sn > BO_MAX_RANK)
			return node_fail(m, ni, err, BO_ELIMIT, "target rank %s%lld is over %lld", "", sn,
					 BO_MAX_RANK);
		int64_t total = bo_shape_numel(x), prod = 1;
		int neg = -1;
		o->rank = (int)sn;
		for (int i = 0; i < sn; i++) {
			int64_t d = sv[i];
			if (d == 0 && !n->p.allowzero) {
				if (i >= x->rank)
					return node_fail(m, ni, err, BO_ESHAPE,
							 "0 at position %s%lld has no input dimension", "", i, 0);
				d = x->d[i];
			}
			if (d == -1) {
				if (neg >= 0)
					return node_fail(m, ni, err, BO_ESHAPE, "more than one -1%s", "", 0, 0);
				neg = i;
				d = 1;
			} else if (d < 0) {
				return node_fail(m, ni, err, BO_ESHAPE, "invalid dimension %s%lld", "", d, 0);
			}
			o->d[i] = d;
			if (!bo_mul_ok(prod, d, &prod) || prod > m->limits.max_tensor_elems)
				return node_fail(m, ni, err, BO_ELIMIT, "target shape is too large%s", "",
						 0, 0);
		}
		if (neg >= 0) {
			if (prod == 0 || total % prod)
				return node_fail(m, ni, err, BO_ESHAPE,
						 "cannot infer -1: %s%lld elements into blocks of %lld", "", total,
						 prod);
			o->d[neg] = total / prod;
			prod *= o->d[neg];
		}
		if (prod != total) {
			shape_str(x, b1, sizeof(b1));
			shape_str(o, b2, sizeof(b2));
			bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return bo_fail(err, BO_ESHAPE, "cannot reshape %s into %s", b1, b2);
		}
		if (x_known)
			return set_known(p, n->out[0], kv, kn, o->rank, o->d);
		break;
	}
	case OP_GEMM: {
		const struct bo_shape *b = &p->shape[n->in[1]];
		if (x->rank != 2 || b->rank != 2) {
			shape_str(x, b1, sizeof(b1));
			shape_str(b, b2, sizeof(b2));
			bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return bo_fail(err, BO_ESHAPE, "needs 2-D A and B, got %s and %s", b1, b2);
		}
		int64_t M = n->p.gemm.ta ? x->d[1] : x->d[0], K = n->p.gemm.ta ? x->d[0] : x->d[1];
		int64_t K2 = n->p.gemm.tb ? b->d[1] : b->d[0], N = n->p.gemm.tb ? b->d[0] : b->d[1];
		if (K != K2) {
			shape_str(x, b1, sizeof(b1));
			shape_str(b, b2, sizeof(b2));
			bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return bo_fail(err, BO_ESHAPE, "A %s and B %s disagree on K", b1, b2);
		}
		o->rank = 2;
		o->d[0] = M;
		o->d[1] = N;
		if (n->n_in > 2 && n->in[2] >= 0) {
			struct bo_shape t;
			if (!broadcast(&p->shape[n->in[2]], o, &t) || t.d[0] != M || t.d[1] != N) {
				shape_str(&p->shape[n->in[2]], b1, sizeof(b1));
				shape_str(o, b2, sizeof(b2));
				bo_error_where(err, m->path, n->name, n->op_type, NULL);
				return bo_fail(err, BO_ESHAPE, "C %s does not broadcast to %s", b1, b2);
			}
		}
		break;
	}
	case OP_MATMUL: {
		struct bo_shape a = *x, b = p->shape[n->in[1]];
		if (a.rank < 1 || b.rank < 1)
			return node_fail(m, ni, err, BO_ESHAPE, "scalar operand%s", "", 0, 0);
		int a1 = a.rank == 1, b1d = b.rank == 1;
		if (a1) {
			a.rank = 2; a.d[1] = a.d[0]; a.d[0] = 1;
		}
		if (b1d) {
			b.rank = 2; b.d[1] = 1;
		}
		if (a.d[a.rank - 1] != b.d[b.rank - 2]) {
			shape_str(x, b1, sizeof(b1));
			shape_str(&p->shape[n->in[1]], b2, sizeof(b2));
			bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return bo_fail(err, BO_ESHAPE, "cannot multiply %s by %s", b1, b2);
		}
		struct bo_shape ba = a, bb = b;
		ba.rank -= 2;
		bb.rank -= 2;
		struct bo_shape bo;
		if (!broadcast(&ba, &bb, &bo))
			return node_fail(m, ni, err, BO_ESHAPE, "batch dimensions do not broadcast%s", "",
					 0, 0);
		*o = bo;
		if (!a1)
			o->d[o->rank++] = a.d[a.rank - 2];
		if (!b1d)
			o->d[o->rank++] = b.d[b.rank - 1];
		break;
	}
	case OP_CONCAT: {
		int64_t a = norm_axis(n->p.axis, x->rank);
		if (a < 0 || a >= x->rank)
			return node_fail(m, ni, err, BO_ESHAPE, "axis %s%lld is out of range for rank %lld",
					 "", n->p.axis, x->rank);
		*o = *x;
		int all_known = 1;
		for (int k = 1; k < n->n_in; k++) {
			const struct bo_shape *y = &p->shape[n->in[k]];
			const int64_t *t;
			int64_t tn;
			all_known &= get_known(p, n->in[k], &t, &tn);
			int ok = y->rank == x->rank;
			for (int i = 0; ok && i < x->rank; i++)
				if (i != a && y->d[i] != x->d[i])
					ok = 0;
			if (!ok) {
				shape_str(x, b1, sizeof(b1));
				shape_str(y, b2, sizeof(b2));
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
				get_known(p, n->in[k], &t, &tn);
				for (int64_t j = 0; j < tn; j++) {
					if (cnt == 64)
						return node_fail(m, ni, err, BO_EUNSUPPORTED,
								 "integer concatenation of more than %s%lld values",
								 "", 64, 0);
					buf[cnt++] = t[j];
				}
			}
			return set_known(p, n->out[0], buf, cnt, 1, &cnt);
		} else if (x_known || all_known) {
			for (int k = 0; k < n->n_in; k++)
				if (m->values[n->in[k]].dtype == BO_DT_I64 || p->known[n->in[k]])
					return node_fail(m, ni, err, BO_EUNSUPPORTED,
							 "concatenation of integer tensors is only supported in 1-D%s",
							 "", 0, 0);
		}
		break;
	}
	case OP_SHAPE: {
		int64_t r = x->rank, s = n->p.shape.start, e = n->p.shape.has_end ? n->p.shape.end : r;
		if (s < 0) s += r;
		if (e < 0) e += r;
		s = BO_MAX(0, BO_MIN(s, r));
		e = BO_MAX(s, BO_MIN(e, r));
		int64_t cnt = e - s;
		return set_known(p, n->out[0], x->d + s, cnt, 1, &cnt);
	}
	case OP_GATHER: {
		const int64_t *iv;
		int64_t in_;
		if (!x_known || !get_known(p, n->in[1], &iv, &in_))
			return node_fail(m, ni, err, BO_EUNSUPPORTED,
					 "Gather is only supported on integer shape tensors%s", "", 0, 0);
		if (x->rank != 1 || n->p.axis != 0)
			return node_fail(m, ni, err, BO_EUNSUPPORTED, "Gather on %s%lld-D data", "",
					 x->rank, 0);
		int64_t tmp[64];
		if (in_ > 64)
			return node_fail(m, ni, err, BO_ELIMIT, "too many indices%s", "", 0, 0);
		for (int64_t i = 0; i < in_; i++) {
			int64_t j = iv[i] < 0 ? iv[i] + kn : iv[i];
			if (j < 0 || j >= kn)
				return node_fail(m, ni, err, BO_ESHAPE, "index %s%lld out of range %lld", "",
						 iv[i], kn);
			tmp[i] = kv[j];
		}
		const struct bo_shape *is = &p->shape[n->in[1]];
		return set_known(p, n->out[0], tmp, in_, is->rank, is->d);
	}
	case OP_UNSQUEEZE:
	case OP_SQUEEZE: {
		int64_t axes[BO_MAX_RANK];
		int na = n->p.axes.n;
		if (na >= 0) {
			memcpy(axes, n->p.axes.axes, sizeof(axes));
		} else if (n->n_in > 1 && n->in[1] >= 0) {
			const int64_t *av;
			int64_t an;
			if (!get_known(p, n->in[1], &av, &an) || an > BO_MAX_RANK)
				return node_fail(m, ni, err, BO_EUNSUPPORTED, "axes must be constant%s", "",
						 0, 0);
			na = (int)an;
			memcpy(axes, av, (size_t)an * sizeof(int64_t));
		} else if (n->op == OP_UNSQUEEZE) {
			return node_fail(m, ni, err, BO_EMALFORMED, "axes are required%s", "", 0, 0);
		}
		if (n->op == OP_UNSQUEEZE) {
			int r = x->rank + na;
			if (r > BO_MAX_RANK)
				return node_fail(m, ni, err, BO_ELIMIT, "rank %s%lld is over %lld", "", r,
						 BO_MAX_RANK);
			unsigned mask = 0;
			for (int i = 0; i < na; i++) {
				int64_t a = norm_axis(axes[i], r);
				if (a < 0 || a >= r || (mask >> a & 1))
					return node_fail(m, ni, err, BO_ESHAPE, "bad axis %s%lld", "",
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
					int64_t a = norm_axis(axes[i], x->rank);
					if (a < 0 || a >= x->rank || x->d[a] != 1)
						return node_fail(m, ni, err, BO_ESHAPE,
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
			return set_known(p, n->out[0], kv, kn, o->rank, o->d);
		break;
	}
	case OP_CAST:
		*o = *x;
		if (x_known)
			return set_known(p, n->out[0], kv, kn, x->rank, x->d);
		if (n->p.to != 1) {
			/* float -> int of a constant: fold */
			if (xv->kind == BO_VAL_CONST && xv->dtype == BO_DT_F32) {
				int64_t *tmp = malloc((size_t)(xv->numel + 1) * sizeof(int64_t));
				if (!tmp)
					return bo_fail(err, BO_ENOMEM, "out of memory");
				for (int64_t i = 0; i < xv->numel; i++)
					tmp[i] = (int64_t)xv->f[i];
				bo_status rc = set_known(p, n->out[0], tmp, xv->numel, x->rank, x->d);
				free(tmp);
				return rc;
			}
			return node_fail(m, ni, err, BO_EUNSUPPORTED,
					 "casting run-time floats to integers is not supported%s", "", 0, 0);
		}
		break;
	case OP_SLICE: {
		const int64_t *st, *en, *ax = NULL, *sp = NULL;
		int64_t ns, ne, nax = 0, nsp = 0;
		if (!x_known || x->rank != 1 || !get_known(p, n->in[1], &st, &ns) ||
		    !get_known(p, n->in[2], &en, &ne) ||
		    (n->n_in > 3 && n->in[3] >= 0 && !get_known(p, n->in[3], &ax, &nax)) ||
		    (n->n_in > 4 && n->in[4] >= 0 && !get_known(p, n->in[4], &sp, &nsp)))
			return node_fail(m, ni, err, BO_EUNSUPPORTED,
					 "Slice is only supported on 1-D integer shape tensors%s", "", 0, 0);
		if (ns != 1 || ne != 1 || (ax && (nax != 1 || (ax[0] != 0 && ax[0] != -1))))
			return node_fail(m, ni, err, BO_EUNSUPPORTED, "multi-axis Slice%s", "", 0, 0);
		int64_t step = sp ? sp[0] : 1;
		if (step != 1)
			return node_fail(m, ni, err, BO_EUNSUPPORTED, "Slice step %s%lld", "", step, 0);
		int64_t s = st[0] < 0 ? st[0] + kn : st[0], e = en[0] < 0 ? en[0] + kn : en[0];
		s = BO_MAX(0, BO_MIN(s, kn));
		e = BO_MAX(s, BO_MIN(e, kn));
		int64_t cnt = e - s;
		return set_known(p, n->out[0], kv + s, cnt, 1, &cnt);
	}
	case OP_PAD: {
		int64_t pads[2 * BO_MAX_RANK];
		int np_ = n->p.pad.n;
		if (np_ >= 0) {
			memcpy(pads, n->p.pad.pads, sizeof(pads));
		} else {
			const int64_t *pv;
			int64_t pn;
			if (n->n_in < 2 || n->in[1] < 0 || !get_known(p, n->in[1], &pv, &pn) ||
			    pn > 2 * BO_MAX_RANK)
				return node_fail(m, ni, err, BO_EUNSUPPORTED, "pads must be constant%s", "",
						 0, 0);
			np_ = (int)pn;
			memcpy(pads, pv, (size_t)pn * sizeof(int64_t));
			if (n->n_in > 2 && n->in[2] >= 0 && m->values[n->in[2]].kind != BO_VAL_CONST)
				return node_fail(m, ni, err, BO_EUNSUPPORTED,
						 "constant_value must be constant%s", "", 0, 0);
			if (n->n_in > 3 && n->in[3] >= 0)
				return node_fail(m, ni, err, BO_EUNSUPPORTED, "the axes input%s", "", 0, 0);
		}
		if (np_ != 2 * x->rank)
			return node_fail(m, ni, err, BO_ESHAPE, "%s%lld pads for rank %lld", "", np_,
					 x->rank);
		o->rank = x->rank;
		for (int i = 0; i < x->rank; i++) {
			if (pads[i] < 0 || pads[i + x->rank] < 0)
				return node_fail(m, ni, err, BO_EUNSUPPORTED, "negative pads%s", "", 0, 0);
			if (pads[i] > m->limits.max_tensor_elems ||
			    pads[i + x->rank] > m->limits.max_tensor_elems)
				return node_fail(m, ni, err, BO_ELIMIT, "pad %s%lld is too large", "",
						 BO_MAX(pads[i], pads[i + x->rank]), 0);
			o->d[i] = x->d[i] + pads[i] + pads[i + x->rank];
			if (n->p.pad.mode == 1 && (pads[i] >= x->d[i] || pads[i + x->rank] >= x->d[i]))
				return node_fail(m, ni, err, BO_ESHAPE,
						 "reflect pad %s%lld is not smaller than dimension %lld", "",
						 BO_MAX(pads[i], pads[i + x->rank]), x->d[i]);
		}
		memcpy(p->pads[ni], pads, sizeof(pads));
		break;
	}
	default:
		return node_fail(m, ni, err, BO_EINTERNAL, "no shape rule%s", "", 0, 0);
	}
	int64_t total = 1;
	for (int i = 0; i < o->rank; i++) {
		if (o->d[i] < 0 || !bo_mul_ok(total, o->d[i], &total) ||
		    total > m->limits.max_tensor_elems) {
			shape_str(o, b1, sizeof(b1));
			bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return bo_fail(err, BO_ELIMIT, "output shape %s is too large", b1);
		}
	}
	return BO_OK;
}

static int is_view(enum bo_opcode op)
{
	return op == OP_FLATTEN || op == OP_RESHAPE || op == OP_IDENTITY || op == OP_DROPOUT ||
	       op == OP_SQUEEZE || op == OP_UNSQUEEZE || op == OP_CAST;
}

static int is_inplace(enum bo_opcode op)
{
	return op == OP_RELU || op == OP_CLIP || op == OP_LEAKYRELU || op == OP_SIGMOID ||
	       op == OP_TANH || op == OP_BN || op == OP_ADD || op == OP_MUL || op == OP_SUB ||
	       op == OP_DIV;
}

void bo_plan_release(struct bo_plan *p)
{
	if (!p)
		return;
	if (p->known && p->m)
		for (int i = 0; i < p->m->n_values; i++)
			free(p->known[i]);
	free(p->known);
	free(p->known_n);
	free(p->shape);
	free(p->skip);
	free(p->win);
	free(p->pads);
	free(p->root);
	free(p->offset);
	free(p->order);
	memset(p, 0, sizeof(*p));
}

struct span { int64_t off, size; int first, last; };

bo_status bo_plan_build(const struct bo_model *m, const struct bo_shape *inputs,
			int64_t max_floats, struct bo_plan *p, struct bo_error *err)
{
	bo_status rc = BO_OK;
	int nv = m->n_values, nn = m->n_nodes;
	int64_t *lastuse = NULL, *rootlast = NULL;
	int *firstdef = NULL, *roots = NULL;
	struct span *sp = NULL;
	memset(p, 0, sizeof(*p));
	p->m = m;
	p->shape = calloc((size_t)nv + 1, sizeof(*p->shape));
	p->known = calloc((size_t)nv + 1, sizeof(*p->known));
	p->known_n = calloc((size_t)nv + 1, sizeof(*p->known_n));
	p->skip = calloc((size_t)nn + 1, 1);
	p->win = calloc((size_t)nn + 1, sizeof(*p->win));
	p->pads = calloc((size_t)nn + 1, sizeof(*p->pads));
	p->root = malloc(((size_t)nv + 1) * sizeof(int));
	p->offset = calloc((size_t)nv + 1, sizeof(int64_t));
	p->order = calloc((size_t)nn + 1, sizeof(int));
	lastuse = calloc((size_t)nv + 1, sizeof(int64_t));
	rootlast = calloc((size_t)nv + 1, sizeof(int64_t));
	firstdef = calloc((size_t)nv + 1, sizeof(int));
	roots = calloc((size_t)nv + 1, sizeof(int));
	sp = calloc((size_t)nv + 1, sizeof(*sp));
	if (!p->shape || !p->known || !p->known_n || !p->skip || !p->win || !p->pads || !p->root ||
	    !p->offset || !p->order || !lastuse || !rootlast || !firstdef || !roots || !sp) {
		rc = bo_fail(err, BO_ENOMEM, "out of memory planning the graph");
		goto out;
	}
	for (int v = 0; v < nv; v++) {
		const struct bo_value *val = &m->values[v];
		p->root[v] = -1;
		if (val->kind == BO_VAL_CONST) {
			p->shape[v].rank = val->rank;
			memcpy(p->shape[v].d, val->dims, sizeof(val->dims));
		}
	}
	for (int i = 0; i < m->n_inputs; i++) {
		int v = m->inputs[i];
		const struct bo_value *val = &m->values[v];
		const struct bo_shape *s = &inputs[i];
		if (s->rank < 0 || s->rank > BO_MAX_RANK) {
			bo_error_where(err, m->path, val->name, NULL, "input");
			rc = bo_fail(err, BO_EINVAL, "invalid rank %d", s->rank);
			goto out;
		}
		int ok = val->rank < 0 || val->rank == s->rank;
		for (int k = 0; ok && val->rank >= 0 && k < s->rank; k++)
			if (val->dims[k] > 0 && val->dims[k] != s->d[k])
				ok = 0;
		for (int k = 0; k < s->rank; k++)
			if (s->d[k] < 0)
				ok = 0;
		if (!ok) {
			char b1[96], b2[96];
			struct bo_shape decl = { val->rank, { 0 } };
			memcpy(decl.d, val->dims, sizeof(val->dims));
			shape_str(s, b1, sizeof(b1));
			shape_str(&decl, b2, sizeof(b2));
			bo_error_where(err, m->path, val->name, NULL, "input");
			rc = bo_fail(err, BO_ESHAPE, "input shape %s does not fit the model's %s (-1: any)",
				     b1, b2);
			goto out;
		}
		/* cap the input before any shape rule multiplies its dims */
		int64_t total = 1;
		for (int k = 0; k < s->rank; k++) {
			if (!bo_mul_ok(total, s->d[k], &total) || total > m->limits.max_tensor_elems) {
				char b1[96];
				shape_str(s, b1, sizeof(b1));
				bo_error_where(err, m->path, val->name, NULL, "input");
				rc = bo_fail(err, BO_ELIMIT,
					     "input shape %s has more than %lld elements", b1,
					     (long long)m->limits.max_tensor_elems);
				goto out;
			}
		}
		p->shape[v] = *s;
	}
	/* 1. shapes and folding */
	for (int i = 0; i < nn; i++) {
		const struct bo_node *n = &m->nodes[i];
		if (n->dead) {
			p->skip[i] = 1;
			continue;
		}
		if ((rc = infer(p, i, err)))
			goto out;
		if (p->known[n->out[0]]) {
			p->skip[i] = 1;
			continue;
		}
		p->order[p->n_order++] = i;
	}
	for (int i = 0; i < m->n_outputs; i++) {
		int v = m->outputs[i];
		if (p->known[v] || m->values[v].kind == BO_VAL_CONST) {
			bo_error_where(err, m->path, m->values[v].name, NULL, "output");
			rc = bo_fail(err, BO_EUNSUPPORTED,
				     "graph output is a constant or an integer tensor, not a float computation");
			goto out;
		}
	}
	/* 2. lifetimes and storage roots (steps are positions in p->order) */
	for (int v = 0; v < nv; v++)
		lastuse[v] = -1;
	for (int s = 0; s < p->n_order; s++) {
		const struct bo_node *n = &m->nodes[p->order[s]];
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0)
				lastuse[n->in[k]] = s;
	}
	for (int i = 0; i < m->n_outputs; i++)
		lastuse[m->outputs[i]] = INT64_MAX;
	for (int i = 0; i < m->n_inputs; i++) {
		int v = m->inputs[i];
		p->root[v] = v;
		firstdef[v] = -1;
		rootlast[v] = lastuse[v];
	}
	for (int s = 0; s < p->n_order; s++) {
		int ni = p->order[s];
		const struct bo_node *n = &m->nodes[ni];
		int out = n->out[0];
		int x = n->in[0];
		int r = x >= 0 ? p->root[x] : -1;
		int same = r >= 0 && bo_shape_numel(&p->shape[x]) == bo_shape_numel(&p->shape[out]);
		/* Reuse the input's storage when nobody reads it after this step. */
		if (same && (is_view(n->op) || is_inplace(n->op)) && rootlast[r] == s) {
			p->root[out] = r;
			rootlast[r] = BO_MAX(rootlast[r], lastuse[out]);
		} else if (same && is_view(n->op)) {
			/* a view whose input is read later too: share, extend */
			p->root[out] = r;
			rootlast[r] = BO_MAX(rootlast[r], lastuse[out]);
		} else {
			p->root[out] = out;
			firstdef[out] = s;
			rootlast[out] = BO_MAX(lastuse[out], s);
		}
	}
	/* 3. place roots: largest first, lowest free offset */
	int nr = 0;
	for (int v = 0; v < nv; v++)
		if (p->root[v] == v) {
			sp[nr].size = bo_shape_numel(&p->shape[v]);
			/* round to 16 floats so every tensor is 64-byte aligned */
			sp[nr].size = (sp[nr].size + 15) & ~(int64_t)15;
			sp[nr].first = firstdef[v];
			sp[nr].last = rootlast[v] == INT64_MAX ? INT32_MAX : (int)rootlast[v];
			roots[nr++] = v;
		}
	/* insertion sort indices by size desc (n is small) */
	for (int i = 1; i < nr; i++) {
		struct span t = sp[i];
		int tv = roots[i], j = i - 1;
		while (j >= 0 && sp[j].size < t.size) {
			sp[j + 1] = sp[j];
			roots[j + 1] = roots[j];
			j--;
		}
		sp[j + 1] = t;
		roots[j + 1] = tv;
	}
	for (int i = 0; i < nr; i++) {
		int64_t off = 0;
		int moved = 1;
		while (moved) {
			moved = 0;
			for (int j = 0; j < i; j++) {
				if (sp[j].last < sp[i].first || sp[i].last < sp[j].first)
					continue; /* not live together */
				if (off < sp[j].off + sp[j].size && sp[j].off < off + sp[i].size) {
					off = sp[j].off + sp[j].size;
					moved = 1;
				}
			}
		}
		sp[i].off = off;
		p->offset[roots[i]] = off;
		if (off + sp[i].size > p->arena_floats)
			p->arena_floats = off + sp[i].size;
	}
	if (max_floats > 0 && p->arena_floats + p->scratch_floats > max_floats) {
		bo_error_where(err, m->path, NULL, NULL, NULL);
		rc = bo_fail(err, BO_ELIMIT,
			     "activations need %lld bytes, over the limit of %lld bytes; use a smaller batch",
			     (long long)((p->arena_floats + p->scratch_floats) * 4),
			     (long long)(max_floats * 4));
		goto out;
	}
out:
	free(lastuse);
	free(rootlast);
	free(firstdef);
	free(roots);
	free(sp);
	if (rc)
		bo_plan_release(p);
	return rc;
}

int64_t bo_node_flops(const struct bo_plan *p, int ni)
{
	const struct bo_node *n = &p->m->nodes[ni];
	if (n->dead || p->skip[ni])
		return 0;
	const struct bo_shape *ys = &p->shape[n->out[0]];
	if (n->op == OP_CONV) {
		const struct bo_shape *ws = &p->shape[n->in[1]];
		int64_t k = 1;
		for (int d = 1; d < ws->rank; d++)
			k *= ws->d[d];
		return 2 * bo_shape_numel(ys) * k;
	}
	if (n->op == OP_GEMM) {
		const struct bo_shape *as = &p->shape[n->in[0]];
		return 2 * bo_shape_numel(ys) * (n->p.gemm.ta ? as->d[0] : as->d[1]);
	}
	if (n->op == OP_MATMUL) {
		const struct bo_shape *as = &p->shape[n->in[0]];
		return 2 * bo_shape_numel(ys) * as->d[as->rank - 1];
	}
	return 0;
}
