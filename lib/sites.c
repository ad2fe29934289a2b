/* Which tensors are stored activations, and which of them are unsigned.
 *
 * relu sites: the output of every Relu, and of every Clip whose min is a
 * constant >= 0 (always unsigned). conv-inputs sites: every distinct tensor
 * read as input 0 of Conv, Gemm or MatMul, the graph input included;
 * unsigned when produced by Relu/Clip(min >= 0), or by a view or pooling
 * op of an unsigned tensor. */
#include <string.h>

#include <brownout/engine.h>

#include "sites.h"

static int clip_nonneg(const struct bo_model *m, const struct bo_node *n)
{
	float lo = n->p.clip.lo;
	if (n->n_in > 1 && n->in[1] >= 0) {
		const struct bo_value *v = &m->values[n->in[1]];
		if (v->kind != BO_VAL_CONST || v->dtype != BO_DT_F32 || v->numel < 1)
			return 0;
		lo = v->f[0];
	}
	return lo >= 0.f;
}

int bo_value_is_unsigned(const struct bo_model *m, int v)
{
	for (int depth = 0; depth < 1000; depth++) {
		int p = m->values[v].producer;
		if (p < 0)
			return 0;
		const struct bo_node *n = &m->nodes[p];
		switch (n->op) {
		case OP_RELU:
			return 1;
		case OP_CLIP:
			return clip_nonneg(m, n);
		case OP_FLATTEN: case OP_RESHAPE: case OP_IDENTITY: case OP_MAXPOOL:
		case OP_AVGPOOL: case OP_GAP:
			v = n->in[0];
			break;
		default:
			return 0;
		}
	}
	return 0;
}

void bo_sites_release(struct bo_sites *s)
{
	if (!s)
		return;
	free(s->value);
	free(s->node);
	free(s->is_unsigned);
	memset(s, 0, sizeof(*s));
}

static int first_consumer(const struct bo_model *m, int v)
{
	for (int i = 0; i < m->n_nodes; i++) {
		if (m->nodes[i].dead)
			continue;
		for (int k = 0; k < m->nodes[i].n_in; k++)
			if (m->nodes[i].in[k] == v)
				return i;
	}
	return -1;
}

bo_status bo_sites_find(const struct bo_model *m, enum bo_act_sites kind, struct bo_sites *out,
			struct bo_error *err)
{
	memset(out, 0, sizeof(*out));
	int cap = m->n_values + 1;
	out->value = malloc((size_t)cap * sizeof(int));
	out->node = malloc((size_t)cap * sizeof(int));
	out->is_unsigned = malloc((size_t)cap * sizeof(int));
	unsigned char *seen = calloc((size_t)cap, 1);
	if (!out->value || !out->node || !out->is_unsigned || !seen) {
		free(seen);
		bo_sites_release(out);
		return bo_fail(err, BO_ENOMEM, "out of memory");
	}
	/* graph inputs come first: they are "produced" before any node */
	if (kind == BO_SITES_CONV_INPUTS)
		for (int i = 0; i < m->n_inputs; i++) {
			int v = m->inputs[i];
			int used = 0;
			for (int j = 0; j < m->n_nodes; j++) {
				const struct bo_node *n = &m->nodes[j];
				if (!n->dead && n->in[0] == v &&
				    (n->op == OP_CONV || n->op == OP_GEMM || n->op == OP_MATMUL))
					used = 1;
			}
			if (used) {
				seen[v] = 1;
				out->value[out->n++] = v;
			}
		}
	for (int j = 0; j < m->n_nodes; j++) {
		const struct bo_node *n = &m->nodes[j];
		if (n->dead)
			continue;
		if (kind == BO_SITES_RELU) {
			if (n->op == OP_RELU || (n->op == OP_CLIP && clip_nonneg(m, n)))
				out->value[out->n++] = n->out[0];
			continue;
		}
		/* conv-inputs: list a tensor when its producer runs, i.e. in the
		 * order values are produced; collect by scanning consumers. */
		int v = n->out[0];
		for (int i = j; i < m->n_nodes && !seen[v]; i++) {
			const struct bo_node *c = &m->nodes[i];
			if (!c->dead && c->in[0] == v &&
			    (c->op == OP_CONV || c->op == OP_GEMM || c->op == OP_MATMUL)) {
				seen[v] = 1;
				out->value[out->n++] = v;
			}
		}
	}
	for (int i = 0; i < out->n; i++) {
		out->node[i] = first_consumer(m, out->value[i]);
		out->is_unsigned[i] = bo_value_is_unsigned(m, out->value[i]);
	}
	free(seen);
	return BO_OK;
}

bo_status bo_model_site_list(const struct bo_model *m, enum bo_act_sites kind,
			     struct bo_site **out, int *n, struct bo_error *err)
{
	struct bo_sites st;
	*out = NULL;
	*n = 0;
	bo_status rc = bo_sites_find(m, kind, &st, err);
	if (rc)
		return rc;
	struct bo_site *a = calloc((size_t)st.n + 1, sizeof(*a));
	if (!a) {
		bo_sites_release(&st);
		return bo_fail(err, BO_ENOMEM, "out of memory");
	}
	for (int i = 0; i < st.n; i++) {
		a[i].index = i;
		a[i].name = m->values[st.value[i]].name;
		a[i].node = st.node[i] >= 0 ? m->nodes[st.node[i]].name : "";
		a[i].is_unsigned = st.is_unsigned[i];
	}
	*out = a;
	*n = st.n;
	bo_sites_release(&st);
	return BO_OK;
}
