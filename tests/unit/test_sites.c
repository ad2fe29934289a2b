/* Activation sites (spec section 1): the `activations` rule, its signed and
 * unsigned sites, the decomposed forms PyTorch exports (SiLU, HardSwish,
 * GELU's Erf form, Mish), `activations` == `relu` site for site on the
 * ReLU-only fixtures (so Table I and every earlier number stand), and
 * `activations-gated`: those plus the gated products x * Sigmoid(y) of
 * squeeze-and-excitation blocks.
 *
 * Two kinds of graph: ONNX models built with common_onnx.c from ops the
 * engine runs (Relu, Clip, LeakyRelu, Sigmoid, Tanh, Mul), checked through
 * stats, the site list and a session's hook; and graphs built directly in
 * brownout's private form (graph.h), for the op types the rule names whether
 * or not the engine has a kernel for them: site detection reads op types
 * only. Every expected site is written out here by hand. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <brownout/brownout.h>

#include "common_onnx.h"
#include "common_tmp.h"
#include "graph.h" /* private: graphs with op types the engine may not run */
#include "sites.h" /* private: BO_N_SITE_RULES, the first unknown rule */

/* ---- expected site lists ---- */

struct want {
	const char *name;
	int is_unsigned;
};

static void check_sites(const struct bo_model *m, enum bo_act_sites kind, const struct want *w,
			int n_want)
{
	struct bo_site *s = NULL;
	int n = -1;
	struct bo_error err;
	bo_error_clear(&err);
	assert_int_equal(bo_model_site_list(m, kind, &s, &n, &err), BO_OK);
	if (n != n_want) {
		for (int i = 0; i < n; i++)
			print_message("site %d: %s (unsigned %d)\n", i, s[i].name, s[i].is_unsigned);
		fail_msg("%s: %d sites, want %d", bo_act_sites_name(kind), n, n_want);
	}
	for (int i = 0; i < n; i++) {
		assert_int_equal(s[i].index, i);
		assert_string_equal(s[i].name, w[i].name);
		if (s[i].is_unsigned != w[i].is_unsigned)
			fail_msg("site %s: unsigned %d, want %d", s[i].name, s[i].is_unsigned,
				 w[i].is_unsigned);
	}
	free(s);
}

/* ---- ONNX models the engine runs ---- */

/* x[N,6] -> LeakyRelu a -> SiLU m = a * Sigmoid(a) -> Tanh t -> Clip(-1,1) c
 *   -> Clip(0,6) c6 -> Relu r; gate g = Sigmoid(r) scales c6 (an SE-style
 *   gate, not SiLU: its input is not c6): y = c6 * g; then Sigmoid q of y is
 *   read by SiLU z = y * q and by the output too, so it stays a site. */
static struct tb_model *act_net(void)
{
	struct tb_model *b = tb_new();
	tb_input(b, "x", SHAPE(-1, 6));
	float lo1 = -1.f, hi1 = 1.f, lo0 = 0.f, hi6 = 6.f;
	tb_init_f(b, "lo1", 0, NULL, &lo1);
	tb_init_f(b, "hi1", 0, NULL, &hi1);
	tb_init_f(b, "lo0", 0, NULL, &lo0);
	tb_init_f(b, "hi6", 0, NULL, &hi6);
	Onnx__NodeProto *n = tb_node(b, "LeakyRelu", "/b1/LeakyRelu", "x", "a");
	tb_attr_float(b, n, "alpha", 0.1f);
	tb_node(b, "Sigmoid", "/b1/Sigmoid", "a", "sa");
	tb_node(b, "Mul", "/b1/Mul", "a,sa", "m");
	tb_node(b, "Tanh", "/b2/Tanh", "m", "t");
	tb_node(b, "Clip", "/b2/Clip", "t,lo1,hi1", "c");
	tb_node(b, "Clip", "/b3/Clip", "c,lo0,hi6", "c6");
	tb_node(b, "Relu", "/b3/Relu", "c6", "r");
	tb_node(b, "Sigmoid", "/se/Sigmoid", "r", "g");
	tb_node(b, "Mul", "/se/Mul", "c6,g", "y");
	tb_node(b, "Sigmoid", "/b4/Sigmoid", "y", "q");
	tb_node(b, "Mul", "/b4/Mul", "q,y", "z");
	tb_output(b, "z");
	tb_output(b, "q");
	return b;
}

static struct bo_model *load_ok(struct tb_model *b)
{
	struct bo_model *m = NULL;
	struct bo_error err;
	char buf[1024];
	bo_error_clear(&err);
	if (tb_load(b, NULL, &m, &err) != BO_OK)
		fail_msg("load failed: %s", bo_error_format(&err, buf, sizeof(buf)));
	return m;
}

static const struct want act_net_sites[] = {
	{ "a", 0 },  /* LeakyRelu: signed */
	{ "m", 0 },  /* a * Sigmoid(a): the Mul is the site, its Sigmoid is not */
	{ "t", 0 },  /* Tanh */
	{ "c", 0 },  /* Clip with min -1 */
	{ "c6", 1 }, /* Clip with min 0 */
	{ "r", 1 },  /* Relu */
	{ "g", 1 },  /* a gate of another tensor: a Sigmoid of its own */
	{ "q", 1 },  /* read by a SiLU Mul and by the graph output: stays */
	{ "z", 0 },  /* y * Sigmoid(y) */
};
static const struct want act_net_relu[] = { { "c6", 1 }, { "r", 1 } };
/* activations-gated: the same, plus the SE-style product y = c6 * g, with
 * c6's sign (unsigned: Clip with min 0); z is SiLU, already a site */
static const struct want act_net_gated[] = {
	{ "a", 0 }, { "m", 0 }, { "t", 0 }, { "c", 0 }, { "c6", 1 },
	{ "r", 1 }, { "g", 1 }, { "y", 1 }, { "q", 1 }, { "z", 0 },
};

static void test_activation_rule_runs(void **state)
{
	(void)state;
	struct tb_model *b = act_net();
	struct bo_model *m = load_ok(b);
	struct bo_model_stats st;
	struct bo_error err;
	bo_error_clear(&err);
	check_sites(m, BO_SITES_ACTIVATIONS, act_net_sites, 9);
	check_sites(m, BO_SITES_RELU, act_net_relu, 2);
	check_sites(m, BO_SITES_ACTIVATIONS_GATED, act_net_gated, 10);
	/* 9 sites of 6 values per sample; relu: 2; activations-gated: 10 */
	assert_int_equal(bo_model_stats(m, NULL, 0, NULL, BO_SITES_ACTIVATIONS, &st, &err), BO_OK);
	assert_int_equal(st.activations, 9 * 6);
	assert_int_equal(st.sites, BO_SITES_ACTIVATIONS);
	bo_model_stats_release(&st);
	assert_int_equal(bo_model_stats(m, NULL, 0, NULL, BO_SITES_RELU, &st, &err), BO_OK);
	assert_int_equal(st.activations, 2 * 6);
	bo_model_stats_release(&st);
	assert_int_equal(bo_model_stats(m, NULL, 0, NULL, BO_SITES_DEFAULT, &st, &err), BO_OK);
	assert_int_equal(st.activations, 9 * 6);
	bo_model_stats_release(&st);
	assert_int_equal(bo_model_stats(m, NULL, 0, NULL, BO_SITES_ACTIVATIONS_GATED, &st, &err),
			 BO_OK);
	assert_int_equal(st.activations, 10 * 6);
	assert_int_equal(st.sites, BO_SITES_ACTIVATIONS_GATED);
	bo_model_stats_release(&st);
	assert_int_equal(bo_model_stats(m, NULL, 0, NULL, (enum bo_act_sites)BO_N_SITE_RULES, &st,
					&err),
			 BO_EINVAL);
	bo_model_free(m);
	tb_free(b);
}

/* A hook on the activations rule sees every site once per run, in order,
 * and what it writes is what the consumers read. */
struct seen {
	int calls;
	char name[16][8];
	int is_unsigned[16];
	int zero_m; /* zero the SiLU site "m" */
};

static bo_status hook(void *ctx, const struct bo_site *site, float *data, int64_t n_images,
		      int64_t first_image)
{
	struct seen *h = ctx;
	(void)first_image;
	if (h->calls < 16) {
		snprintf(h->name[h->calls], sizeof(h->name[0]), "%s", site->name);
		h->is_unsigned[h->calls] = site->is_unsigned;
	}
	h->calls++;
	if (h->zero_m && !strcmp(site->name, "m"))
		for (int64_t i = 0; i < n_images * site->sample_numel; i++)
			data[i] = 0.f;
	return BO_OK;
}

static void test_activation_rule_hook(void **state)
{
	(void)state;
	struct tb_model *b = act_net();
	struct bo_model *m = load_ok(b);
	struct bo_session *s = NULL;
	struct bo_error err;
	struct bo_session_config cfg = { .threads = 1 };
	bo_error_clear(&err);
	assert_int_equal(bo_session_new(m, &cfg, &s, &err), BO_OK);
	float x[12];
	for (int i = 0; i < 12; i++)
		x[i] = (float)(i - 6) * 0.5f;
	struct bo_tensor in = { .rank = 2, .dims = { 2, 6 }, .data = x }, out[2];
	struct seen h;
	memset(&h, 0, sizeof(h));
	assert_int_equal(bo_session_set_hook(s, BO_SITES_ACTIVATIONS, hook, &h), BO_OK);
	assert_int_equal(bo_session_run(s, &in, 1, out, 2, &err), BO_OK);
	assert_int_equal(h.calls, 9);
	for (int i = 0; i < 9; i++) {
		assert_string_equal(h.name[i], act_net_sites[i].name);
		assert_int_equal(h.is_unsigned[i], act_net_sites[i].is_unsigned);
	}
	/* zeroing the SiLU output zeroes everything after it: t = tanh(0) = 0,
	 * c6 = r = 0, y = 0, q = sigmoid(0) = 0.5, z = 0 */
	memset(&h, 0, sizeof(h));
	h.zero_m = 1;
	assert_int_equal(bo_session_run(s, &in, 1, out, 2, &err), BO_OK);
	for (int i = 0; i < 12; i++) {
		assert_true(out[0].data[i] == 0.f);
		assert_true(out[1].data[i] == 0.5f);
	}
	/* activations-gated: the SE product y is hooked too, between g and q */
	memset(&h, 0, sizeof(h));
	assert_int_equal(bo_session_set_hook(s, BO_SITES_ACTIVATIONS_GATED, hook, &h), BO_OK);
	assert_int_equal(bo_session_run(s, &in, 1, out, 2, &err), BO_OK);
	assert_int_equal(h.calls, 10);
	for (int i = 0; i < 10; i++) {
		assert_string_equal(h.name[i], act_net_gated[i].name);
		assert_int_equal(h.is_unsigned[i], act_net_gated[i].is_unsigned);
	}
	assert_int_equal(bo_session_set_hook(s, (enum bo_act_sites)BO_N_SITE_RULES, hook, &h),
			 BO_EINVAL);
	bo_session_free(s);
	bo_model_free(m);
	tb_free(b);
}

/* ---- graphs in brownout's own form, for any op type ---- */

#define HB_MAX 32

struct hb {
	struct bo_model m;
	struct bo_value v[HB_MAX];
	struct bo_node n[HB_MAX];
	int ins[HB_MAX][2]; /* the nodes' input indexes (bo_node.in points here) */
	float c[HB_MAX];
};

static void hb_init(struct hb *h)
{
	memset(h, 0, sizeof(*h));
	h->m.values = h->v;
	h->m.nodes = h->n;
	h->m.path = "hand-built";
	for (int i = 0; i < HB_MAX; i++)
		h->n[i].in = h->ins[i];
}

static int hb_value(struct hb *h, const char *name)
{
	for (int i = 0; i < h->m.n_values; i++)
		if (!strcmp(h->v[i].name, name))
			return i;
	assert_true(h->m.n_values < HB_MAX);
	struct bo_value *v = &h->v[h->m.n_values];
	v->name = (char *)name;
	v->kind = BO_VAL_RUNTIME;
	v->dtype = BO_DT_F32;
	v->rank = -1;
	v->producer = -1;
	v->weight = -1;
	return h->m.n_values++;
}

/* a float scalar constant */
static void hb_const(struct hb *h, const char *name, float x)
{
	int i = hb_value(h, name);
	h->c[i] = x;
	h->v[i].kind = BO_VAL_CONST;
	h->v[i].rank = 0;
	h->v[i].numel = 1;
	h->v[i].f = &h->c[i];
}

/* node `op` reading a (and b, may be NULL) into out; nodes in topological order */
static struct bo_node *hb_node(struct hb *h, const char *op, const char *a, const char *b,
			       const char *out)
{
	assert_true(h->m.n_nodes < HB_MAX);
	struct bo_node *n = &h->n[h->m.n_nodes];
	n->op = OP_COUNT_; /* the rule reads op types, not opcodes */
	if (!strcmp(op, "Clip"))
		n->op = OP_CLIP;
	if (!strcmp(op, "Relu"))
		n->op = OP_RELU;
	n->name = (char *)out;
	n->op_type = (char *)op;
	n->in[n->n_in++] = hb_value(h, a);
	if (b)
		n->in[n->n_in++] = hb_value(h, b);
	n->n_out = 1;
	n->out[0] = hb_value(h, out);
	n->p.clip.lo = -3.4e38f;
	n->p.clip.hi = 3.4e38f;
	h->v[n->out[0]].producer = h->m.n_nodes++;
	return n;
}

static void hb_output(struct hb *h, const char *name)
{
	h->v[hb_value(h, name)].is_output = 1;
}

/* every op type of the rule, one after another: signed or unsigned by function */
static void test_activation_op_table(void **state)
{
	(void)state;
	struct hb h;
	hb_init(&h);
	hb_value(&h, "x");
	static const struct want w[] = {
		{ "relu", 1 },     { "leaky", 0 },     { "prelu", 0 },   { "elu", 0 },
		{ "selu", 0 },     { "celu", 0 },      { "sigmoid", 1 }, { "hsig", 1 },
		{ "hswish", 0 },   { "tanh", 0 },      { "softplus", 1 }, { "softsign", 0 },
		{ "gelu", 0 },     { "mish", 0 },      { "clip_pos", 1 }, { "clip_neg", 0 },
		{ "clip_none", 0 },
	};
	static const char *const ops[] = {
		"Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid",
		"HardSwish", "Tanh", "Softplus", "Softsign", "Gelu", "Mish",
	};
	const char *prev = "x";
	for (int i = 0; i < 14; i++) {
		hb_node(&h, ops[i], prev, NULL, w[i].name);
		prev = w[i].name;
	}
	/* Clip: attribute bounds (opset < 11) */
	hb_node(&h, "Clip", prev, NULL, "clip_pos")->p.clip.lo = 0.f;
	hb_node(&h, "Clip", "clip_pos", NULL, "clip_neg")->p.clip.lo = -0.5f;
	hb_node(&h, "Clip", "clip_neg", NULL, "clip_none");
	/* not activation functions */
	hb_node(&h, "Softmax", "clip_none", NULL, "sm");
	hb_node(&h, "Erf", "sm", NULL, "erf");
	hb_node(&h, "Add", "erf", "x", "add");
	hb_output(&h, "add");
	check_sites(&h.m, BO_SITES_ACTIVATIONS, w, 17);
	static const struct want relu[] = { { "relu", 1 }, { "clip_pos", 1 } };
	check_sites(&h.m, BO_SITES_RELU, relu, 2);
}

/* The decomposed forms PyTorch exports: one site each, the final Mul's
 * output, signed; the inner Sigmoid / HardSigmoid / Tanh / Softplus are
 * part of the function. */
static void test_decomposed_forms(void **state)
{
	(void)state;
	struct hb h;
	hb_init(&h);
	hb_value(&h, "x");
	hb_const(&h, "sqrt2", 1.4142135f);
	hb_const(&h, "one", 1.f);
	hb_const(&h, "half", 0.5f);
	hb_const(&h, "rsqrt2", 0.70710678f);
	/* SiLU, Sigmoid on the right */
	hb_node(&h, "Sigmoid", "x", NULL, "s1");
	hb_node(&h, "Mul", "x", "s1", "silu");
	/* HardSwish before opset 14, gate on the left */
	hb_node(&h, "HardSigmoid", "silu", NULL, "hs");
	hb_node(&h, "Mul", "hs", "silu", "hswish");
	/* Mish */
	hb_node(&h, "Softplus", "hswish", NULL, "sp");
	hb_node(&h, "Tanh", "sp", NULL, "th");
	hb_node(&h, "Mul", "hswish", "th", "mish");
	/* GELU as torch.onnx exports it: Mul(Mul(x, Add(Erf(Div(x, sqrt2)), 1)), 0.5) */
	hb_node(&h, "Div", "mish", "sqrt2", "d");
	hb_node(&h, "Erf", "d", NULL, "e");
	hb_node(&h, "Add", "e", "one", "a");
	hb_node(&h, "Mul", "mish", "a", "xa");
	hb_node(&h, "Mul", "xa", "half", "gelu");
	/* GELU written 0.5 * x first, then times (Erf(x * 1/sqrt2) + 1) */
	hb_node(&h, "Mul", "gelu", "rsqrt2", "d2");
	hb_node(&h, "Erf", "d2", NULL, "e2");
	hb_node(&h, "Add", "one", "e2", "a2");
	hb_node(&h, "Mul", "half", "gelu", "hx");
	hb_node(&h, "Mul", "hx", "a2", "gelu2");
	hb_output(&h, "gelu2");
	static const struct want w[] = {
		{ "silu", 0 }, { "hswish", 0 }, { "mish", 0 }, { "gelu", 0 }, { "gelu2", 0 },
	};
	check_sites(&h.m, BO_SITES_ACTIVATIONS, w, 5);
	/* none of them is a relu site */
	check_sites(&h.m, BO_SITES_RELU, NULL, 0);
}

/* Near misses are not activation functions: no site. */
static void test_decomposed_near_misses(void **state)
{
	(void)state;
	struct hb h;
	hb_init(&h);
	hb_value(&h, "x");
	hb_value(&h, "y");
	hb_const(&h, "sqrt2", 1.4142135f);
	hb_const(&h, "one", 1.f);
	hb_const(&h, "half", 0.5f);
	hb_const(&h, "third", 0.3f);
	/* x * Erf-form with 0.3 instead of 0.5 */
	hb_node(&h, "Div", "x", "sqrt2", "d");
	hb_node(&h, "Erf", "d", NULL, "e");
	hb_node(&h, "Add", "e", "one", "a");
	hb_node(&h, "Mul", "x", "a", "xa");
	hb_node(&h, "Mul", "xa", "third", "not_gelu");
	/* the Erf of x, times another tensor y */
	hb_node(&h, "Mul", "y", "a", "ya");
	hb_node(&h, "Mul", "ya", "half", "not_gelu2");
	/* Mish whose Softplus reads another tensor */
	hb_node(&h, "Mul", "not_gelu", "not_gelu2", "p");
	hb_node(&h, "Add", "p", "p", "pp");
	hb_output(&h, "pp");
	check_sites(&h.m, BO_SITES_ACTIVATIONS, NULL, 0);
}

/* activations-gated on a squeeze-and-excitation block and its near misses:
 * the product x * Sigmoid(y) (or HardSigmoid, gate on either side) is a
 * site with x's sign; the gate stays a site; SiLU is still one site; a
 * Tanh gate, a plain product and a constant scale are not gated products.
 * Under activations, none of the products is a site. */
static void test_gated_products(void **state)
{
	(void)state;
	struct hb h;
	hb_init(&h);
	hb_value(&h, "x");
	hb_const(&h, "two", 2.f);
	/* SE: feat -> squeeze -> fc1 -> Relu -> fc2 -> Sigmoid -> feat * gate */
	hb_node(&h, "Conv", "x", NULL, "feat");
	hb_node(&h, "GlobalAveragePool", "feat", NULL, "sq");
	hb_node(&h, "Conv", "sq", NULL, "fc1");
	hb_node(&h, "Relu", "fc1", NULL, "hid");
	hb_node(&h, "Conv", "hid", NULL, "fc2");
	hb_node(&h, "Sigmoid", "fc2", NULL, "gate");
	hb_node(&h, "Mul", "feat", "gate", "scaled");
	hb_node(&h, "Add", "scaled", "x", "sum");
	/* an unsigned tensor times a HardSigmoid gate on the left */
	hb_node(&h, "Relu", "sum", NULL, "rs");
	hb_node(&h, "HardSigmoid", "x", NULL, "hg");
	hb_node(&h, "Mul", "hg", "rs", "rs_g");
	/* SiLU of it: one site, the Mul */
	hb_node(&h, "Sigmoid", "rs_g", NULL, "s2");
	hb_node(&h, "Mul", "rs_g", "s2", "silu");
	/* near misses */
	hb_node(&h, "Tanh", "x", NULL, "tg");
	hb_node(&h, "Mul", "silu", "tg", "tanh_gated");
	hb_node(&h, "Mul", "tanh_gated", "x", "plain");
	hb_node(&h, "Mul", "plain", "two", "scaled2");
	hb_output(&h, "scaled2");
	static const struct want act[] = {
		{ "hid", 1 }, { "gate", 1 }, { "rs", 1 }, { "hg", 1 }, { "silu", 0 }, { "tg", 0 },
	};
	static const struct want gated[] = {
		{ "hid", 1 }, { "gate", 1 }, { "scaled", 0 }, { "rs", 1 },
		{ "hg", 1 },  { "rs_g", 1 }, { "silu", 0 },   { "tg", 0 },
	};
	check_sites(&h.m, BO_SITES_ACTIVATIONS, act, 6);
	check_sites(&h.m, BO_SITES_ACTIVATIONS_GATED, gated, 8);
}

/* ---- the fixtures: activations == relu, site for site ---- */

static void test_fixtures_relu_equal(void **state)
{
	(void)state;
	static const char *const files[] = {
		"tests/fixtures/fmnist_preact_f4.onnx", "tests/fixtures/fmnist_preact_f6.onnx",
		"tests/fixtures/fmnist_preact_f8.onnx", "tests/fixtures/fmnist_preact_f8_erasure.onnx",
		"tests/fixtures/other/other.onnx",
	};
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		struct bo_model *m = NULL;
		struct bo_error err;
		char buf[1024];
		bo_error_clear(&err);
		if (bo_model_load(files[f], &m, &err))
			fail_msg("%s: %s", files[f], bo_error_format(&err, buf, sizeof(buf)));
		struct bo_site *a = NULL, *r = NULL;
		int na = -1, nr = -2;
		assert_int_equal(bo_model_site_list(m, BO_SITES_ACTIVATIONS, &a, &na, &err), BO_OK);
		assert_int_equal(bo_model_site_list(m, BO_SITES_RELU, &r, &nr, &err), BO_OK);
		assert_true(nr > 0);
		assert_int_equal(na, nr);
		for (int i = 0; i < nr; i++) {
			assert_string_equal(a[i].name, r[i].name);
			assert_string_equal(a[i].node, r[i].node);
			assert_int_equal(a[i].is_unsigned, 1);
			assert_int_equal(r[i].is_unsigned, 1);
		}
		struct bo_model_stats sa, sr;
		assert_int_equal(bo_model_stats(m, NULL, 0, NULL, BO_SITES_ACTIVATIONS, &sa, &err),
				 BO_OK);
		assert_int_equal(bo_model_stats(m, NULL, 0, NULL, BO_SITES_RELU, &sr, &err), BO_OK);
		assert_true(sr.activations > 0);
		assert_int_equal(sa.activations, sr.activations);
		assert_int_equal(sa.parameters, sr.parameters);
		assert_int_equal(sa.n_blocks, sr.n_blocks);
		for (int i = 0; i < sa.n_blocks; i++)
			assert_int_equal(sa.blocks[i].activations, sr.blocks[i].activations);
		int64_t relu_count = sr.activations;
		bo_model_stats_release(&sa);
		bo_model_stats_release(&sr);
		/* no gate in these networks: activations-gated == activations */
		assert_int_equal(bo_model_stats(m, NULL, 0, NULL, BO_SITES_ACTIVATIONS_GATED, &sa,
						&err),
				 BO_OK);
		assert_int_equal(sa.activations, relu_count);
		bo_model_stats_release(&sa);
		free(a);
		free(r);
		bo_model_free(m);
	}
}

/* ---- signed sites go through the signed bit-masking model ---- */

/* A version-1 .npy of `n` bytes of data under `descr` and `shape`. */
static void write_npy(const char *path, const char *descr, const char *shape, const void *data,
		      size_t n)
{
	char dict[128];
	int len = snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
			   descr, shape);
	int pad = 64 - (10 + len + 1) % 64;
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	unsigned hl = (unsigned)(len + pad + 1);
	fwrite("\x93NUMPY\x01\x00", 1, 8, f);
	fputc((int)(hl & 255), f);
	fputc((int)(hl >> 8), f);
	fwrite(dict, 1, (size_t)len, f);
	for (int i = 0; i < pad; i++)
		fputc(' ', f);
	fputc('\n', f);
	fwrite(data, 1, n, f);
	assert_int_equal(fclose(f), 0);
}

/* x = [-1, -0.5] -> LeakyRelu(0.5) -> a = [-0.5, -0.25] -> identity Gemm:
 * class 1, the label. a is a signed site: BM at p = 1 makes every sign
 * bit faulty, so a' = 0, the logits tie and argmax picks class 0: no image
 * is right. Stored unsigned, a would quantise to 0 and never move (every
 * image right), and under the relu rule there is no site at all. */
static void test_signed_site_faults(void **state)
{
	(void)state;
	char dir[512], img[600], lab[600];
	assert_int_equal(tt_mkdtemp(dir, sizeof(dir), "sites"), 0);
	snprintf(img, sizeof(img), "%s/x.npy", dir);
	snprintf(lab, sizeof(lab), "%s/y.npy", dir);
	float px[8];
	int64_t y[4] = { 1, 1, 1, 1 };
	for (int i = 0; i < 4; i++) {
		px[2 * i] = -1.f;
		px[2 * i + 1] = -0.5f;
	}
	write_npy(img, "<f4", "(4, 1, 1, 2)", px, sizeof(px));
	write_npy(lab, "<i8", "(4,)", y, sizeof(y));
	struct tb_model *b = tb_new();
	tb_input(b, "x", SHAPE(-1, 1, 1, 2));
	float w[4] = { 1, 0, 0, 1 };
	tb_init_f(b, "w", SHAPE(2, 2), w);
	tb_node(b, "Flatten", "/Flatten", "x", "f");
	Onnx__NodeProto *n = tb_node(b, "LeakyRelu", "/act/LeakyRelu", "f", "a");
	tb_attr_float(b, n, "alpha", 0.5f);
	n = tb_node(b, "Gemm", "/fc/Gemm", "a,w", "logits");
	tb_attr_int(b, n, "transB", 1);
	tb_output(b, "logits");
	struct bo_model *m = load_ok(b);
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	char buf[1024];
	bo_error_clear(&err);
	if (bo_dataset_open_files(img, lab, BO_DATASET_AUTO, NULL, &ds, &err))
		fail_msg("%s", bo_error_format(&err, buf, sizeof(buf)));
	static const double p[] = { 0, 1 };
	struct bo_sweep_config c = {
		.deviation = BO_DEV_BM, .target = BO_TARGET_ACTIVATIONS, .sites = BO_SITES_ACTIVATIONS,
		.p = p, .n_p = 2, .seed = 3, .bits = 8, .calib = 4, .batch = 4, .threads = 1,
		.energy_a = BO_ENERGY_A, .trials = 1,
	};
	c.norm.n = 1;
	c.norm.mean[0] = 0.f;
	c.norm.std[0] = 1.f;
	static const struct {
		enum bo_act_sites sites;
		int64_t correct_p1, activations;
	} rules[] = { { BO_SITES_ACTIVATIONS, 0, 2 }, { BO_SITES_RELU, 4, 0 } };
	for (int r = 0; r < 2; r++) {
		struct bo_sweeper *sw = NULL;
		int64_t correct = -1;
		c.sites = rules[r].sites;
		if (bo_sweeper_new(m, ds, &c, &sw, &err))
			fail_msg("%s", bo_error_format(&err, buf, sizeof(buf)));
		assert_int_equal(bo_sweeper_activations(sw), rules[r].activations);
		assert_int_equal(bo_sweeper_trial(sw, 0, 0, &correct, NULL, NULL, &err), BO_OK);
		assert_int_equal(correct, 4); /* clean */
		assert_int_equal(bo_sweeper_trial(sw, 1, 0, &correct, NULL, NULL, &err), BO_OK);
		if (correct != rules[r].correct_p1)
			fail_msg("%s sites, p = 1: %lld correct, want %lld", bo_act_sites_name(c.sites),
				 (long long)correct, (long long)rules[r].correct_p1);
		bo_sweeper_free(sw);
	}
	bo_dataset_free(ds);
	bo_model_free(m);
	tb_free(b);
	assert_int_equal(tt_rmtree(dir), 0);
}

/* ---- stored weights (spec section 1, widened) ---- */

/* x[N,4] * gamma[4] + beta[4] (a LayerNorm's affine pair, decomposed), Clip
 * with scalar bounds, times a scalar, Reshape by an int64 shape, Gemm: the
 * Gemm's weight and bias first (their indexes as before), then gamma and
 * beta; scalars and the int64 shape are no stored parameters. */
static void test_widened_weights(void **state)
{
	(void)state;
	struct tb_model *b = tb_new();
	tb_input(b, "x", SHAPE(-1, 4));
	float gamma[4] = { 1, 2, 3, 4 }, beta[4] = { 0.5f, 0, 0, 0 }, w[12], bias[3] = { 0 };
	float lo = -1, hi = 100, half = 0.5f;
	int64_t shape[2] = { -1, 4 };
	for (int i = 0; i < 12; i++)
		w[i] = (float)(i % 4 == i / 4); /* identity-ish 3x4 */
	tb_init_f(b, "gamma", SHAPE(4), gamma);
	tb_init_f(b, "beta", SHAPE(4), beta);
	tb_init_f(b, "lo", 0, NULL, &lo);
	tb_init_f(b, "hi", 0, NULL, &hi);
	tb_init_f(b, "half", 0, NULL, &half);
	tb_init_i64(b, "shape", SHAPE(2), shape);
	tb_init_f(b, "w", SHAPE(3, 4), w);
	tb_init_f(b, "bias", SHAPE(3), bias);
	tb_node(b, "Gemm", "/pre/Gemm", "x,w,bias", "g0");
	tb_node(b, "Mul", "/ln/Mul", "x,gamma", "a");
	tb_node(b, "Add", "/ln/Add", "a,beta", "c");
	tb_node(b, "Clip", "/act/Clip", "c,lo,hi", "d");
	tb_node(b, "Mul", "/act/Mul", "d,half", "e");
	tb_node(b, "Reshape", "/r/Reshape", "e,shape", "f");
	Onnx__NodeProto *n = tb_node(b, "Gemm", "/fc/Gemm", "f,w,bias", "y");
	tb_attr_int(b, n, "transB", 1);
	tb_output(b, "y");
	tb_output(b, "g0");
	/* the first Gemm reads x as [N,4] times w [3,4]^T too */
	tb_graph(b)->node[0]->n_attribute = 0;
	tb_attr_int(b, tb_graph(b)->node[0], "transB", 1);
	struct bo_model *m = load_ok(b);
	struct bo_error err;
	bo_error_clear(&err);
	assert_int_equal(bo_model_n_weights(m), 4);
	static const char *const names[] = { "w", "bias", "gamma", "beta" };
	for (int i = 0; i < 4; i++) {
		struct bo_weight_info wi;
		bo_model_weight(m, i, &wi);
		assert_string_equal(wi.name, names[i]);
	}
	struct bo_model_stats st;
	assert_int_equal(bo_model_stats(m, NULL, 0, NULL, BO_SITES_DEFAULT, &st, &err), BO_OK);
	assert_int_equal(st.parameters, 12 + 3 + 4 + 4);
	bo_model_stats_release(&st);
	/* faults reach gamma: zero it, and the Gemm reads 0 * x + beta */
	struct bo_session *s = NULL;
	struct bo_session_config cfg = { .threads = 1 };
	assert_int_equal(bo_session_new(m, &cfg, &s, &err), BO_OK);
	float x[4] = { 1, 1, 1, 1 }, zero[4] = { 0 };
	struct bo_tensor in = { .rank = 2, .dims = { 1, 4 }, .data = x }, out[2];
	assert_int_equal(bo_session_run(s, &in, 1, out, 2, &err), BO_OK);
	assert_true(out[0].data[0] == 0.5f * (1 + 0.5f) && out[0].data[2] == 0.5f * 3);
	assert_int_equal(bo_session_set_weight(s, 2, zero), BO_OK);
	assert_int_equal(bo_session_run(s, &in, 1, out, 2, &err), BO_OK);
	assert_true(out[0].data[0] == 0.5f * 0.5f && out[0].data[2] == 0.f);
	bo_session_free(s);
	bo_model_free(m);
	tb_free(b);
}

/* ---- names ---- */

static void test_rule_names(void **state)
{
	(void)state;
	enum bo_act_sites k = BO_SITES_RELU;
	struct bo_error err;
	bo_error_clear(&err);
	assert_int_equal(BO_SITES_DEFAULT, BO_SITES_ACTIVATIONS);
	assert_int_equal(bo_act_sites_parse("activations", &k, &err), BO_OK);
	assert_int_equal(k, BO_SITES_ACTIVATIONS);
	assert_int_equal(bo_act_sites_parse("relu", &k, &err), BO_OK);
	assert_int_equal(k, BO_SITES_RELU);
	assert_int_equal(bo_act_sites_parse("conv-inputs", &k, &err), BO_OK);
	assert_int_equal(k, BO_SITES_CONV_INPUTS);
	assert_int_equal(bo_act_sites_parse("activations-gated", &k, &err), BO_OK);
	assert_int_equal(k, BO_SITES_ACTIVATIONS_GATED);
	assert_string_equal(bo_act_sites_name(BO_SITES_ACTIVATIONS_GATED), "activations-gated");
	k = BO_SITES_CONV_INPUTS;
	assert_int_equal(bo_act_sites_parse("all", &k, &err), BO_EINVAL);
	assert_non_null(strstr(err.text, "activations, activations-gated, relu or conv-inputs"));
	assert_int_equal(bo_act_sites_parse(NULL, &k, NULL), BO_EINVAL);
	assert_int_equal(k, BO_SITES_CONV_INPUTS); /* unchanged by a failed parse */
	for (int i = 0; i < BO_N_SITE_RULES; i++) {
		enum bo_act_sites back;
		assert_int_equal(bo_act_sites_parse(bo_act_sites_name((enum bo_act_sites)i), &back, NULL),
				 BO_OK);
		assert_int_equal(back, i);
	}
	assert_string_equal(bo_act_sites_name((enum bo_act_sites)7), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_activation_rule_runs),
		cmocka_unit_test(test_activation_rule_hook),
		cmocka_unit_test(test_activation_op_table),
		cmocka_unit_test(test_decomposed_forms),
		cmocka_unit_test(test_decomposed_near_misses),
		cmocka_unit_test(test_gated_products),
		cmocka_unit_test(test_fixtures_relu_equal),
		cmocka_unit_test(test_rule_names),
		cmocka_unit_test(test_widened_weights),
		cmocka_unit_test(test_signed_site_faults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
