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
 *     memory is thus about batch x the largest live set, not the sum.
 *  4. A model exported with its batch fixed at b0 is re-planned for another
 *     batch b (Bo_plan_build_batch): its inputs take b as dim 0, Shape
 *     folds to b where it read the batch, and a Reshape whose constant
 *     target starts with b0 (the exporter folded the batch into it) gets b.
 *     Bo_plan_rebatch_check then compares that plan with the plan at b0,
 *     node by node, and accepts it only when each computes per image what
 *     it computes at b0; a session that cannot re-plan runs in runs of b0. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "winograd.h"

bo_status Bo_node_fail(const struct bo_model *m, int ni, struct bo_error *err, bo_status st,
		       const char *fmt, ...)
{
	Bo_error_where(err, m->path, m->nodes[ni].name, m->nodes[ni].op_type, NULL);
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return Bo_fail(err, st, "%s", msg);
}

void Bo_shape_str(const struct bo_shape *s, char *buf, size_t size)
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
int Bo_plan_known(const struct bo_plan *p, int v, const int64_t **vals, int64_t *n)
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

bo_status Bo_plan_set_known(struct bo_plan *p, int v, const int64_t *data, int64_t n, int rank,
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

int Bo_broadcast(const struct bo_shape *a, const struct bo_shape *b, struct bo_shape *o)
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
int64_t Bo_window_out(int64_t in, struct bo_window *w, int i, int is_pool)
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
		if (n->in[k] >= 0 && Bo_op_reads_float(n->op, k))
			is_int(p, n->in[k]) ? n_int++ : n_float++;
	int folds = (Bo_op_def(n->op)->flags & BO_OPF_FOLDS) != 0;
	if (n_int && (n_float || !folds))
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0 && Bo_op_reads_float(n->op, k) && is_int(p, n->in[k])) {
				Bo_error_where(err, m->path, n->name, n->op_type, "input");
				return Bo_fail(err, BO_EUNSUPPORTED,
					       "input %d ('%s') is an integer tensor where float data is read",
					       k, m->values[n->in[k]].name);
			}
	/* Clip's min/max and Pad's constant_value are scalars */
	for (int k = 1; k < n->n_in; k++) {
		int scalar = (n->op == OP_CLIP && k <= 2) || (n->op == OP_PAD && k == 2);
		if (scalar && n->in[k] >= 0 && Bo_shape_numel(&p->shape[n->in[k]]) != 1) {
			Bo_error_where(err, m->path, n->name, n->op_type, "input");
			return Bo_fail(err, BO_ESHAPE, "input %d ('%s') must hold exactly one value", k,
				       m->values[n->in[k]].name);
		}
	}
	return BO_OK;
}

/* Infer the output shape of node ni (and fold it if it is shape arithmetic):
 * the checks every op shares, then the op's own rule from the table. */
static bo_status infer(struct bo_plan *p, int ni, struct bo_error *err)
{
	const struct bo_model *m = p->m;
	const struct bo_node *n = &m->nodes[ni];
	struct bo_shape *o = &p->shape[n->out[0]];
	const struct bo_shape *x = &p->shape[n->in[0]];
	char b1[96];
	const int64_t *kv = NULL;
	int64_t kn = 0;
	bo_status rc0;
	int xin = n->in[0];
	int x_known = Bo_plan_known(p, xin, &kv, &kn);
	const struct bo_value *xv = &m->values[xin];
	if (!x_known && xv->dtype == BO_DT_I64 && n->op != OP_SHAPE)
		return Bo_node_fail(m, ni, err, BO_EUNSUPPORTED,
				    "integer tensor '%s' is not computable at plan time", xv->name);
	if ((rc0 = check_operands(p, ni, err)))
		return rc0;
	const struct Bo_op_def *d = Bo_op_def(n->op);
	if (!d->infer)
		return Bo_node_fail(m, ni, err, BO_EINTERNAL, "no shape rule");
	struct bo_ictx c = { p, ni, o, x, kv, kn, x_known, err };
	if ((rc0 = d->infer(&c)) || p->known[n->out[0]])
		return rc0;
	int64_t total = 1;
	for (int i = 0; i < o->rank; i++) {
		if (o->d[i] < 0 || !Bo_mul_ok(total, o->d[i], &total) ||
		    total > m->limits.max_tensor_elems) {
			Bo_shape_str(o, b1, sizeof(b1));
			Bo_error_where(err, m->path, n->name, n->op_type, NULL);
			return Bo_fail(err, BO_ELIMIT, "output shape %s is too large", b1);
		}
	}
	return BO_OK;
}

/* Cast to bool computes (x != 0): in place, never an alias */
static int is_view(const struct bo_node *n)
{
	return (Bo_op_def(n->op)->flags & BO_OPF_VIEW) && !(n->op == OP_CAST && n->p.to == 9);
}

static int is_inplace(const struct bo_node *n)
{
	return (Bo_op_def(n->op)->flags & BO_OPF_INPLACE) || (n->op == OP_CAST && n->p.to == 9);
}

void Bo_plan_release(struct bo_plan *p)
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
	free(p->rebatched);
	memset(p, 0, sizeof(*p));
}

struct span { int64_t off, size; int first, last; };

bo_status Bo_plan_build(const struct bo_model *m, const struct bo_shape *inputs,
			int64_t max_floats, struct bo_plan *p, struct bo_error *err)
{
	return Bo_plan_build_batch(m, inputs, max_floats, 0, p, err);
}

bo_status Bo_plan_build_batch(const struct bo_model *m, const struct bo_shape *inputs,
			      int64_t max_floats, int64_t b0, struct bo_plan *p,
			      struct bo_error *err)
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
	if (b0 > 0 && m->n_inputs > 0 && inputs[0].rank > 0) {
		p->b0 = b0;
		p->b = inputs[0].d[0];
		p->rebatched = calloc((size_t)nn + 1, 1);
	}
	if (!p->shape || !p->known || !p->known_n || !p->skip || !p->win || !p->pads || !p->root ||
	    !p->offset || !p->order || !lastuse || !rootlast || !firstdef || !roots || !sp ||
	    (p->b0 && !p->rebatched)) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory planning the graph");
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
			Bo_error_where(err, m->path, val->name, NULL, "input");
			rc = Bo_fail(err, BO_EINVAL, "invalid rank %d", s->rank);
			goto out;
		}
		int ok = val->rank < 0 || val->rank == s->rank;
		for (int k = 0; ok && val->rank >= 0 && k < s->rank; k++)
			if (val->dims[k] > 0 && val->dims[k] != s->d[k] && !(k == 0 && p->b0))
				ok = 0;
		for (int k = 0; k < s->rank; k++)
			if (s->d[k] < 0)
				ok = 0;
		if (!ok) {
			char b1[96], b2[96];
			struct bo_shape decl = { val->rank, { 0 } };
			memcpy(decl.d, val->dims, sizeof(val->dims));
			Bo_shape_str(s, b1, sizeof(b1));
			Bo_shape_str(&decl, b2, sizeof(b2));
			Bo_error_where(err, m->path, val->name, NULL, "input");
			rc = Bo_fail(err, BO_ESHAPE, "input shape %s does not fit the model's %s (-1: any)",
				     b1, b2);
			goto out;
		}
		/* cap the input before any shape rule multiplies its dims */
		int64_t total = 1;
		for (int k = 0; k < s->rank; k++) {
			if (!Bo_mul_ok(total, s->d[k], &total) || total > m->limits.max_tensor_elems) {
				char b1[96];
				Bo_shape_str(s, b1, sizeof(b1));
				Bo_error_where(err, m->path, val->name, NULL, "input");
				rc = Bo_fail(err, BO_ELIMIT,
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
			Bo_error_where(err, m->path, m->values[v].name, NULL, "output");
			rc = Bo_fail(err, BO_EUNSUPPORTED,
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
		int same = r >= 0 && Bo_shape_numel(&p->shape[x]) == Bo_shape_numel(&p->shape[out]);
		/* Reuse the input's storage when nobody reads it after this step. */
		if (same && (is_view(n) || is_inplace(n)) && rootlast[r] == s) {
			p->root[out] = r;
			rootlast[r] = BO_MAX(rootlast[r], lastuse[out]);
		} else if (same && is_view(n)) {
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
			sp[nr].size = Bo_shape_numel(&p->shape[v]);
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
		Bo_error_where(err, m->path, NULL, NULL, NULL);
		rc = Bo_fail(err, BO_ELIMIT,
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
		Bo_plan_release(p);
	return rc;
}

/* ---- re-planning a fixed-batch model for another batch ---- */

static int same_dims(const struct bo_shape *a, const struct bo_shape *b, int from)
{
	if (a->rank != b->rank)
		return 0;
	for (int i = from; i < a->rank; i++)
		if (a->d[i] != b->d[i])
			return 0;
	return 1;
}

/* Does node ni, whose input 0 depends on the batch, work across samples
 * along axis 0 while keeping the shapes per-sample-looking? (Everything
 * else that mixes samples changes a shape, which the caller checks.) */
static const char *mixes_samples(const struct bo_plan *p, int ni, int dep_any, int dep0)
{
	const struct bo_node *n = &p->m->nodes[ni];
	const struct bo_shape *x = &p->shape[n->in[0]];
	int r = x->rank;
	switch (n->op) {
	case OP_SOFTMAX:
	case OP_LOGSOFTMAX: {
		int64_t a = Bo_norm_axis(n->p.axis, r);
		if (dep0 && (n->legacy_softmax ? a <= 0 : a == 0))
			return "normalises across the batch axis";
		return NULL;
	}
	case OP_LAYERNORM:
		return dep0 && Bo_norm_axis(n->p.ln.axis, r) <= 0 ? "normalises across the batch axis"
								  : NULL;
	case OP_TRANSPOSE:
		if (dep0 && r > 1 && (n->p.red.n <= 0 || n->p.red.axes[0] != 0))
			return "moves the batch axis";
		return NULL;
	case OP_GATHER:
		return dep0 && Bo_norm_axis(n->p.axis, r) == 0 ? "gathers along the batch axis" : NULL;
	case OP_SCATTERND:
		return dep_any ? "scatters into a tensor that depends on the batch" : NULL;
	case OP_SLICE: {
		const int64_t *st, *en, *ax = NULL, *sp = NULL;
		int64_t ns, ne, nax = 0, nsp = 0;
		if (!dep0)
			return NULL;
		if (!Bo_plan_known(p, n->in[1], &st, &ns) || !Bo_plan_known(p, n->in[2], &en, &ne) ||
		    (n->n_in > 3 && n->in[3] >= 0 && !Bo_plan_known(p, n->in[3], &ax, &nax)) ||
		    (n->n_in > 4 && n->in[4] >= 0 && !Bo_plan_known(p, n->in[4], &sp, &nsp)))
			return "slices by values not known at plan time";
		for (int64_t k = 0; k < ns && k < ne; k++) {
			int64_t a = ax && k < nax ? Bo_norm_axis(ax[k], r) : k;
			int64_t step = sp && k < nsp ? sp[k] : 1;
			if (a == 0 && (step != 1 || (st[k] != 0 && st[k] > -x->d[0]) || en[k] < x->d[0]))
				return "slices the batch axis";
		}
		return NULL;
	}
	default:
		return NULL;
	}
}

int Bo_plan_rebatch_check(const struct bo_plan *ref, const struct bo_plan *p,
			  struct bo_error *why)
{
	const struct bo_model *m = p->m;
	int pin = -1;
	const char *msg = NULL;
	char b1[96], b2[96], text[256];
	text[0] = 0;
	/* dep: a tensor computed at run time that depends on the batch (the
	 * inputs' data or their batch size); bdi: an integer known at plan
	 * time whose value differs between the batches (it holds the batch
	 * size) */
	unsigned char *dep = calloc((size_t)m->n_values + 1, 1);
	unsigned char *bdi = calloc((size_t)m->n_values + 1, 1);
	if (!dep || !bdi) {
		free(dep);
		free(bdi);
		Bo_fail(why, BO_ENOMEM, "out of memory comparing plans");
		return -2;
	}
	for (int i = 0; i < m->n_inputs; i++)
		dep[m->inputs[i]] = 1;
	for (int i = 0; i < m->n_nodes && pin < 0; i++) {
		const struct bo_node *n = &m->nodes[i];
		if (n->dead)
			continue;
		/* does it depend on the batch: through a tensor, a known integer
		 * holding the batch size, or a target rewritten to the batch */
		int any = p->rebatched && p->rebatched[i];
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0 && (dep[n->in[k]] || bdi[n->in[k]]))
				any = 1;
		int x = n->in[0];
		int dep0 = x >= 0 && dep[x] && !p->known[x];
		for (int k = 0; k < n->n_in && !msg; k++) {
			int v = n->in[k];
			int shape_slot = (n->op == OP_RESHAPE && k == 1) || (n->op == OP_EXPAND && k == 1) ||
					 (n->op == OP_CONSTOFSHAPE && k == 0);
			if (v >= 0 && bdi[v] && !p->known[n->out[0]] && !shape_slot)
				msg = "reads the batch size as data, not as a shape";
		}
		if (!msg && x >= 0)
			msg = mixes_samples(p, i, any, dep0);
		for (int k = 0; k < n->n_out && !msg; k++) {
			int o = n->out[k];
			const struct bo_shape *a = &ref->shape[o], *b = &p->shape[o];
			if (o < 0)
				continue;
			if (!p->known[o] != !ref->known[o]) {
				msg = "is computed at plan time at one batch only";
				break;
			}
			if (p->known[o]) {
				bdi[o] = p->known_n[o] != ref->known_n[o] || !same_dims(a, b, 0) ||
					 memcmp(p->known[o], ref->known[o],
						(size_t)p->known_n[o] * sizeof(int64_t));
				continue;
			}
			dep[o] = (unsigned char)any;
			int ok = any ? a->rank >= 1 && same_dims(a, b, 1) && a->d[0] == p->b0 &&
					       b->d[0] == p->b
				     : same_dims(a, b, 0);
			if (!ok) {
				Bo_shape_str(a, b1, sizeof(b1));
				Bo_shape_str(b, b2, sizeof(b2));
				snprintf(text, sizeof(text),
					 "output '%s' is %s at batch %lld but %s at batch %lld, not one row per image",
					 m->values[o].name, b1, (long long)p->b0, b2, (long long)p->b);
				msg = text;
			}
		}
		if (msg)
			pin = i;
	}
	free(dep);
	free(bdi);
	if (pin >= 0) {
		Bo_error_where(why, m->path, m->nodes[pin].name, m->nodes[pin].op_type, NULL);
		Bo_fail(why, BO_EUNSUPPORTED, "%s", msg);
	}
	return pin;
}

int bo_model_batch_replans(const struct bo_model *m, int64_t batch, struct bo_error *why)
{
	return Bo_plan_replans(m, batch, 0, why);
}

int Bo_plan_replans(const struct bo_model *m, int64_t batch, int64_t max_floats,
		    struct bo_error *why)
{
	const int64_t b0 = bo_model_fixed_batch(m);
	struct bo_plan ref, at;
	struct bo_shape in[BO_MAX_IN];
	int ok = 0;
	bo_error_clear(why);
	if (b0 <= 0 || batch == b0)
		return 1;
	if (batch < 1 || m->n_inputs > BO_MAX_IN) {
		Bo_fail(why, BO_EINVAL, "a batch of %lld images", (long long)batch);
		return 0;
	}
	for (int i = 0; i < m->n_inputs; i++) {
		const struct bo_value *v = &m->values[m->inputs[i]];
		in[i].rank = v->rank;
		memcpy(in[i].d, v->dims, sizeof(v->dims));
		for (int k = 1; k < v->rank; k++)
			if (v->dims[k] <= 0) {
				Bo_error_where(why, m->path, v->name, NULL, "input");
				Bo_fail(why, BO_EUNSUPPORTED,
					"dimensions other than the batch are not fixed in the file");
				return 0;
			}
	}
	if (Bo_plan_build(m, in, 0, &ref, why))
		return 0;
	for (int i = 0; i < m->n_inputs; i++)
		in[i].d[0] = batch;
	if (!Bo_plan_build_batch(m, in, max_floats, b0, &at, why)) {
		ok = Bo_plan_rebatch_check(&ref, &at, why) == -1;
		Bo_plan_release(&at);
	}
	Bo_plan_release(&ref);
	return ok;
}
