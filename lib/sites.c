/* Which tensors are stored activations, and which of them are unsigned
 * (spec section 1).
 *
 * activations sites (the default): the output of every node that applies an
 * activation function elementwise, found by op type in one table (act_ops)
 * so that the rule does not depend on which kernels the engine has; and the
 * decomposed forms PyTorch exports, recognised around their final Mul:
 * x*Sigmoid(x) (SiLU), x*HardSigmoid(x) (HardSwish), x*Tanh(Softplus(x))
 * (Mish) and 0.5*x*(1+Erf(x/sqrt 2)) (GELU). The inner nodes of a gated
 * form (the Sigmoid of a SiLU) are part of the function, not sites of
 * their own, unless something else reads them. Signedness comes from the
 * function: unsigned when it never goes below 0.
 *
 * activations-gated sites: every activations site, plus the output of every
 * gated product x * g where g = Sigmoid(y) or HardSigmoid(y) of another
 * tensor y (y != x, else it is SiLU/HardSwish): the excitation of a
 * squeeze-and-excitation block, a GLU. The gate stays a site of its own.
 * The product has x's sign (g is in [0, 1]): unsigned when x comes from an
 * unsigned activation function or Bo_value_is_unsigned(x). With the SE
 * products, this reproduces the seed paper's SENet18 count (Table I) while
 * leaving every network without such gates as under activations.
 *
 * relu sites: the output of every Relu, and of every Clip whose min is a
 * constant >= 0 (always unsigned). On a network whose only activations are
 * those, activations == relu, site for site. conv-inputs sites: every
 * distinct tensor read as input 0 of Conv, Gemm or MatMul, the graph input
 * included; unsigned when produced by Relu/Clip(min >= 0), or by a view or
 * pooling op of an unsigned tensor. */
#include <math.h>
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

int Bo_value_is_unsigned(const struct bo_model *m, int v)
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

/* Elementwise activation functions: 1 = never below 0 (unsigned),
 * 0 = signed, -1 = unsigned exactly when its min is >= 0 (Clip). */
static const struct {
	const char *op;
	int is_unsigned;
} act_ops[] = {
	{ "Relu", 1 },      { "Clip", -1 },        { "LeakyRelu", 0 }, { "PRelu", 0 },
	{ "Elu", 0 },       { "Selu", 0 },         { "Celu", 0 },      { "Sigmoid", 1 },
	{ "HardSigmoid", 1 }, { "HardSwish", 0 },  { "Tanh", 0 },      { "Softplus", 1 },
	{ "Softsign", 0 },  { "Gelu", 0 },         { "Mish", 0 },
};

/* -1 when node n is no activation function, else 1 unsigned / 0 signed. */
static int act_kind(const struct bo_model *m, const struct bo_node *n)
{
	for (size_t i = 0; i < sizeof(act_ops) / sizeof(act_ops[0]); i++)
		if (!strcmp(n->op_type, act_ops[i].op))
			return act_ops[i].is_unsigned >= 0 ? act_ops[i].is_unsigned : clip_nonneg(m, n);
	return -1;
}

/* The live node producing v with op type `op`, or -1. */
static int made_by(const struct bo_model *m, int v, const char *op)
{
	if (v < 0)
		return -1;
	int p = m->values[v].producer;
	return p >= 0 && !m->nodes[p].dead && !strcmp(m->nodes[p].op_type, op) ? p : -1;
}

/* Per value: its live readers (a graph output counts as one) and the
 * first live node (topological) that reads it, -1 if none; one pass, so
 * that finding sites stays linear in the graph. */
struct readers {
	int *count;
	int *first;
};

static bo_status readers_count(const struct bo_model *m, struct readers *r, struct bo_error *err)
{
	r->count = calloc((size_t)m->n_values + 1, sizeof(int));
	r->first = malloc(((size_t)m->n_values + 1) * sizeof(int));
	if (!r->count || !r->first) {
		free(r->count);
		free(r->first);
		r->count = r->first = NULL;
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	}
	for (int v = 0; v < m->n_values; v++) {
		r->count[v] = m->values[v].is_output;
		r->first[v] = -1;
	}
	for (int i = 0; i < m->n_nodes; i++)
		if (!m->nodes[i].dead)
			for (int k = 0; k < m->nodes[i].n_in; k++) {
				int v = m->nodes[i].in[k];
				if (v < 0)
					continue;
				r->count[v]++;
				if (r->first[v] < 0)
					r->first[v] = i;
			}
	return BO_OK;
}

static int const_near(const struct bo_model *m, int v, double want)
{
	if (v < 0)
		return 0;
	const struct bo_value *c = &m->values[v];
	return c->kind == BO_VAL_CONST && c->dtype == BO_DT_F32 && c->numel == 1 && c->f &&
	       fabs(c->f[0] - want) <= 1e-3 * fabs(want);
}

/* Mul(x, g) where g = Sigmoid(x), HardSigmoid(x) or Tanh(Softplus(x)):
 * the gate's nodes go to inner[] (up to 2); returns how many, 0 if no
 * gated form. */
static int gated_form(const struct bo_model *m, const struct bo_node *mul, int inner[2])
{
	if (mul->n_in != 2)
		return 0;
	for (int side = 0; side < 2; side++) {
		int x = mul->in[side], g = mul->in[1 - side], p;
		if (x < 0 || g < 0)
			continue;
		if (((p = made_by(m, g, "Sigmoid")) >= 0 || (p = made_by(m, g, "HardSigmoid")) >= 0) &&
		    m->nodes[p].in[0] == x) {
			inner[0] = p;
			return 1;
		}
		int sp;
		if ((p = made_by(m, g, "Tanh")) >= 0 &&
		    (sp = made_by(m, m->nodes[p].in[0], "Softplus")) >= 0 && m->nodes[sp].in[0] == x) {
			inner[0] = p;
			inner[1] = sp;
			return 2;
		}
	}
	return 0;
}

/* Mul(x, g) with g = Sigmoid(y) or HardSigmoid(y): the value index of x,
 * or -1; both operands gates: x is the first. Called only when the Mul is
 * no gated form, so y != x (x * Sigmoid(x) is SiLU). */
static int gate_product(const struct bo_model *m, const struct bo_node *mul)
{
	if (mul->n_in != 2 || mul->in[0] < 0 || mul->in[1] < 0)
		return -1;
	for (int side = 1; side >= 0; side--) {
		int x = mul->in[1 - side], g = mul->in[side];
		if (made_by(m, g, "Sigmoid") >= 0 || made_by(m, g, "HardSigmoid") >= 0)
			return x;
	}
	return -1;
}

/* GELU's Erf form ending in this Mul: its factors, after opening one
 * inner Mul read only here, are x, 0.5 and Add(Erf(x / sqrt 2), 1) (or
 * Erf(x * (1 / sqrt 2))), in any order. */
static int gelu_form(const struct bo_model *m, const struct readers *rd, const struct bo_node *mul)
{
	int f[4], nf = 0;
	if (mul->n_in != 2)
		return 0;
	for (int k = 0; k < 2; k++) {
		int v = mul->in[k], p = made_by(m, v, "Mul");
		if (v < 0)
			return 0;
		if (p >= 0 && m->nodes[p].n_in == 2 && rd->count[v] == 1) {
			f[nf++] = m->nodes[p].in[0];
			f[nf++] = m->nodes[p].in[1];
		} else {
			f[nf++] = v;
		}
	}
	if (nf != 3)
		return 0;
	for (int h = 0; h < 3; h++) {       /* the 0.5 */
		if (!const_near(m, f[h], 0.5))
			continue;
		for (int a = 0; a < 3; a++) { /* the 1 + Erf(...) */
			int add = a == h ? -1 : made_by(m, f[a], "Add");
			if (add < 0 || m->nodes[add].n_in != 2)
				continue;
			int x = f[3 - h - a];
			for (int s = 0; s < 2; s++) {
				int e = made_by(m, m->nodes[add].in[s], "Erf");
				if (e < 0 || !const_near(m, m->nodes[add].in[1 - s], 1.0))
					continue;
				int d = m->nodes[e].in[0], q;
				if ((q = made_by(m, d, "Div")) >= 0 && m->nodes[q].in[0] == x &&
				    const_near(m, m->nodes[q].in[1], 1.4142135623730951))
					return 1;
				if ((q = made_by(m, d, "Mul")) >= 0 && m->nodes[q].n_in == 2)
					for (int t = 0; t < 2; t++)
						if (m->nodes[q].in[t] == x &&
						    const_near(m, m->nodes[q].in[1 - t], 0.7071067811865476))
							return 1;
			}
		}
	}
	return 0;
}

/* Activations rule (with gated products when `gated`): site[j] = 1
 * unsigned, 0 signed, -1 not a site. */
static void activation_sites(const struct bo_model *m, const struct readers *rd, int gated,
			     signed char *site)
{
	for (int j = 0; j < m->n_nodes; j++)
		site[j] = -1;
	for (int j = 0; j < m->n_nodes; j++) {
		const struct bo_node *n = &m->nodes[j];
		if (n->dead)
			continue;
		site[j] = (signed char)act_kind(m, n);
	}
	/* decomposed forms: the Mul is the site; its gate is not, when the
	 * Mul is all that reads it */
	for (int j = 0; j < m->n_nodes; j++) {
		const struct bo_node *n = &m->nodes[j];
		int inner[2], k;
		if (n->dead || strcmp(n->op_type, "Mul"))
			continue;
		if ((k = gated_form(m, n, inner)) > 0) {
			site[j] = 0;
			for (int i = 0; i < k; i++)
				if (rd->count[m->nodes[inner[i]].out[0]] == 1)
					site[inner[i]] = -1;
		} else if (gelu_form(m, rd, n)) {
			site[j] = 0;
		} else if (gated && (k = gate_product(m, n)) >= 0) {
			int p = m->values[k].producer;
			site[j] = (signed char)((p >= 0 && !m->nodes[p].dead && act_kind(m, &m->nodes[p]) == 1) ||
						Bo_value_is_unsigned(m, k));
		}
	}
}

void Bo_sites_release(struct bo_sites *s)
{
	if (!s)
		return;
	free(s->value);
	free(s->node);
	free(s->is_unsigned);
	memset(s, 0, sizeof(*s));
}

bo_status Bo_sites_find(const struct bo_model *m, enum bo_act_sites kind, struct bo_sites *out,
			struct bo_error *err)
{
	bo_status rc = BO_OK;
	struct readers rd = { NULL, NULL };
	unsigned char *seen = NULL;
	signed char *site = NULL;
	memset(out, 0, sizeof(*out));
	if ((unsigned)kind >= BO_N_SITE_RULES)
		return Bo_fail(err, BO_EINVAL, "activation site rule %d is unknown", (int)kind);
	int cap = m->n_values + 1;
	out->value = malloc((size_t)cap * sizeof(int));
	out->node = malloc((size_t)cap * sizeof(int));
	out->is_unsigned = malloc((size_t)cap * sizeof(int));
	seen = calloc((size_t)cap, 1);
	site = malloc((size_t)m->n_nodes + 1);
	if (!out->value || !out->node || !out->is_unsigned || !seen || !site) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = readers_count(m, &rd, err)))
		goto out;
	if (kind == BO_SITES_ACTIVATIONS || kind == BO_SITES_ACTIVATIONS_GATED) {
		activation_sites(m, &rd, kind == BO_SITES_ACTIVATIONS_GATED, site);
		for (int j = 0; j < m->n_nodes; j++)
			if (site[j] >= 0) {
				out->is_unsigned[out->n] = site[j];
				out->value[out->n++] = m->nodes[j].out[0];
			}
		for (int i = 0; i < out->n; i++)
			out->node[i] = rd.first[out->value[i]];
		goto out;
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
		out->node[i] = rd.first[out->value[i]];
		out->is_unsigned[i] = Bo_value_is_unsigned(m, out->value[i]);
	}
out:
	free(rd.count);
	free(rd.first);
	free(seen);
	free(site);
	if (rc)
		Bo_sites_release(out);
	return rc;
}

bo_status bo_model_site_list(const struct bo_model *m, enum bo_act_sites kind,
			     struct bo_site **out, int *n, struct bo_error *err)
{
	struct bo_sites st;
	*out = NULL;
	*n = 0;
	bo_status rc = Bo_sites_find(m, kind, &st, err);
	if (rc)
		return rc;
	struct bo_site *a = calloc((size_t)st.n + 1, sizeof(*a));
	if (!a) {
		Bo_sites_release(&st);
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	}
	for (int i = 0; i < st.n; i++) {
		a[i].index = i;
		a[i].name = m->values[st.value[i]].name;
		a[i].node = st.node[i] >= 0 ? m->nodes[st.node[i]].name : "";
		a[i].is_unsigned = st.is_unsigned[i];
	}
	*out = a;
	*n = st.n;
	Bo_sites_release(&st);
	return BO_OK;
}
