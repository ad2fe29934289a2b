/* Unit tests for re-planning a fixed-batch model for another batch
 * (lib/plan.c: Bo_plan_build_batch, Bo_plan_rebatch_check;
 * bo_model_batch_replans; bo_session_run).
 *
 * Each model is built in memory with common_onnx.c with its input's batch
 * fixed, as torch.onnx.export writes it by default. A model that re-plans
 * must give, at batch 5 and on 1 or 2 threads, what it gives image by image
 * at its own batch (the reference here: runs of one image each, with the
 * image index set), and its activation hook must see the batch as one run
 * (or one slice per thread), not runs of one. A model with a node that pins
 * the batch must be refused by bo_model_batch_replans with that node named,
 * and still run right, in runs of its own batch. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
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

#define DIMS(...) ((const int64_t[]){ __VA_ARGS__ })
#define NDIMS(...) ((int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)))
#define SHAPE(...) NDIMS(__VA_ARGS__), DIMS(__VA_ARGS__)

static struct bo_model *load_ok(struct tb_model *b)
{
	struct bo_model *m = NULL;
	struct bo_error err;
	char buf[1024];
	if (tb_load(b, NULL, &m, &err) != BO_OK)
		fail_msg("load failed: %s", bo_error_format(&err, buf, sizeof(buf)));
	return m;
}

/* The activation hook: records each call's (first image, images) and adds
 * 1000 x the image's global index to every value, so that a run keyed
 * wrongly gives other outputs. */
struct calls {
	int n;
	int64_t first[64], count[64];
};

static bo_status mark(void *ctx, const struct bo_site *site, float *data, int64_t n_images,
		      int64_t first_image)
{
	struct calls *c = ctx;
	if (c->n < 64) {
		c->first[c->n] = first_image;
		c->count[c->n] = n_images;
		c->n++;
	}
	for (int64_t i = 0; i < n_images; i++)
		for (int64_t k = 0; k < site->sample_numel; k++)
			data[i * site->sample_numel + k] += 1000.f * (float)(first_image + i);
	return BO_OK;
}

/* Run m on B images of `per` values each (the input's sample shape is
 * dims[1..rank-1]) with the hook; the outputs (B x out_per) into out. */
static int64_t g_max_arena; /* bo_session_config.max_arena_bytes for run() */

static void run(const struct bo_model *m, int threads, int rank, const int64_t *dims, int64_t B,
		const float *x, float *out, int64_t out_per, struct calls *c)
{
	struct bo_session_config cfg = { .threads = threads, .max_arena_bytes = g_max_arena };
	struct bo_session *s = NULL;
	struct bo_error err;
	char buf[1024];
	if (bo_session_new(m, &cfg, &s, &err))
		fail_msg("session: %s", bo_error_format(&err, buf, sizeof(buf)));
	assert_int_equal(bo_session_set_hook(s, BO_SITES_RELU, mark, c), BO_OK);
	struct bo_tensor in, o;
	memset(&in, 0, sizeof(in));
	in.rank = rank;
	for (int i = 0; i < rank; i++)
		in.dims[i] = dims[i];
	in.dims[0] = B;
	in.data = (float *)x;
	if (bo_session_run(s, &in, 1, &o, 1, &err))
		fail_msg("run: %s", bo_error_format(&err, buf, sizeof(buf)));
	assert_int_equal(o.dims[0], B);
	memcpy(out, o.data, (size_t)(B * out_per) * sizeof(float));
	bo_session_free(s);
}

/* The same images one at a time, image i with index i: the reference. */
static void run_singly(const struct bo_model *m, int rank, const int64_t *dims, int64_t B,
		       int64_t per, const float *x, float *out, int64_t out_per)
{
	struct bo_session_config cfg = { .threads = 1 };
	struct bo_session *s = NULL;
	struct bo_error err;
	char buf[1024];
	struct calls c = { 0 };
	assert_int_equal(bo_session_new(m, &cfg, &s, &err), BO_OK);
	assert_int_equal(bo_session_set_hook(s, BO_SITES_RELU, mark, &c), BO_OK);
	for (int64_t i = 0; i < B; i++) {
		struct bo_tensor in, o;
		memset(&in, 0, sizeof(in));
		in.rank = rank;
		for (int k = 0; k < rank; k++)
			in.dims[k] = dims[k];
		in.dims[0] = 1;
		in.data = (float *)x + i * per;
		bo_session_set_image_base(s, i);
		if (bo_session_run(s, &in, 1, &o, 1, &err))
			fail_msg("run: %s", bo_error_format(&err, buf, sizeof(buf)));
		memcpy(out + i * out_per, o.data, (size_t)out_per * sizeof(float));
	}
	bo_session_free(s);
}

/* x [1,2,3] -> Relu -> r; Shape(r) -> Gather(0) -> Unsqueeze -> Concat(., [-1])
 * -> Reshape(r) -> f [b,6] (PyTorch's x.reshape(x.size(0), -1) unfolded);
 * Reshape(f, [1,2,3]) -> Reshape(., [1,-1]) (the same, folded by the
 * exporter into constants that lead with the batch 1); MatMul with w [6,4];
 * + Expand(row [1,4] to the constant [1,4]) (x.expand(batch, ...) folded)
 * + Expand(row, Concat(the batch size, [4])) (the same unfolded). */
static struct tb_model *replannable(void)
{
	struct tb_model *b = tb_new();
	float w[24], row[4] = { 0.5f, -1.f, 2.f, 0.25f };
	for (int i = 0; i < 24; i++)
		w[i] = (float)((i * 7) % 11) / 11.f - 0.5f;
	tb_input(b, "x", SHAPE(1, 2, 3));
	tb_init_i64(b, "zero", 0, NULL, DIMS(0));
	tb_init_i64(b, "axes0", SHAPE(1), DIMS(0));
	tb_init_i64(b, "minus1", SHAPE(1), DIMS(-1));
	tb_init_i64(b, "s123", SHAPE(3), DIMS(1, 2, 3));
	tb_init_i64(b, "s1m", SHAPE(2), DIMS(1, -1));
	tb_init_i64(b, "s14", SHAPE(2), DIMS(1, 4));
	tb_init_f(b, "w", SHAPE(6, 4), w);
	tb_init_f(b, "row", SHAPE(1, 4), row);
	tb_node(b, "Relu", "relu", "x", "r");
	tb_node(b, "Shape", "shape", "r", "s");
	Onnx__NodeProto *g = tb_node(b, "Gather", "gather", "s,zero", "g");
	tb_attr_int(b, g, "axis", 0);
	tb_node(b, "Unsqueeze", "unsq", "g,axes0", "u");
	Onnx__NodeProto *c = tb_node(b, "Concat", "concat", "u,minus1", "shp");
	tb_attr_int(b, c, "axis", 0);
	tb_node(b, "Reshape", "flat_shape", "r,shp", "f");
	tb_node(b, "Reshape", "unflat_const", "f,s123", "f2");
	tb_node(b, "Reshape", "flat_const", "f2,s1m", "f3");
	tb_node(b, "MatMul", "fc", "f3,w", "y");
	tb_node(b, "Expand", "expand", "row,s14", "e");
	tb_node(b, "Add", "add", "y,e", "ye");
	/* x.expand(x.size(0), 4) unfolded: the batch size as a shape */
	tb_init_i64(b, "four", SHAPE(1), DIMS(4));
	tb_attr_int(b, tb_node(b, "Concat", "concat4", "u,four", "shp4"), "axis", 0);
	tb_node(b, "Expand", "expand_shape", "row,shp4", "e4");
	tb_node(b, "Add", "add4", "ye,e4", "out");
	tb_output(b, "out");
	return b;
}

static void test_replans_per_image(void **state)
{
	(void)state;
	struct tb_model *b = replannable();
	struct bo_model *m = load_ok(b);
	struct bo_error why;
	enum { B = 5 };
	float x[B * 6], want[B * 4], got[B * 4];
	for (int i = 0; i < B * 6; i++)
		x[i] = (float)((i * 5) % 13) / 13.f - 0.3f;
	assert_int_equal(bo_model_fixed_batch(m), 1);
	assert_int_equal(bo_model_batch_replans(m, B, &why), 1);
	assert_int_equal(bo_model_batch_replans(m, 32, &why), 1);
	run_singly(m, SHAPE(1, 2, 3), B, 6, x, want, 4);
	/* one thread: one run of 5; two threads: slices of 3 and 2 */
	for (int threads = 1; threads <= 2; threads++) {
		struct calls c = { 0 };
		memset(got, 0, sizeof(got));
		run(m, threads, SHAPE(1, 2, 3), B, x, got, 4, &c);
		for (int i = 0; i < B * 4; i++)
			assert_float_equal(got[i], want[i], 1e-6f * (1.f + fabsf(want[i])));
		assert_int_equal(c.n, threads);
		int64_t seen = 0;
		for (int k = 0; k < c.n; k++) {
			assert_int_equal(c.first[k] + c.count[k] <= B, 1);
			assert_int_equal(c.count[k], threads == 1 ? B : (c.first[k] == 0 ? 3 : 2));
			seen += c.count[k];
		}
		assert_int_equal(seen, B);
	}
	bo_model_free(m);
	tb_free(b);
}

/* A session whose activation limit the re-planned batch would exceed runs
 * the batch as runs of the model's batch instead, which fit. */
static void test_arena_limit_falls_back(void **state)
{
	(void)state;
	struct tb_model *b = replannable();
	struct bo_model *m = load_ok(b);
	enum { B = 64 };
	static float x[B * 6], want[B * 4], got[B * 4];
	for (int i = 0; i < B * 6; i++)
		x[i] = (float)((i * 5) % 13) / 13.f - 0.3f;
	run_singly(m, SHAPE(1, 2, 3), B, 6, x, want, 4);
	struct calls c = { 0 };
	g_max_arena = 2048; /* batch 1: a few hundred bytes; batch 64: over 5 KB */
	run(m, 1, SHAPE(1, 2, 3), B, x, got, 4, &c);
	g_max_arena = 0;
	for (int i = 0; i < B * 4; i++)
		assert_float_equal(got[i], want[i], 1e-6f * (1.f + fabsf(want[i])));
	assert_int_equal(c.n, 64); /* runs of 1 (the hook records at most 64 calls) */
	for (int k = 0; k < c.n; k++)
		assert_int_equal(c.count[k], 1);
	bo_model_free(m);
	tb_free(b);
}

/* A model fixed at batch 2 re-plans for 6 and for 1 (Reshape [2,-1]). */
static void test_replans_from_batch_2(void **state)
{
	(void)state;
	struct tb_model *b = tb_new();
	tb_input(b, "x", SHAPE(2, 3, 2));
	tb_init_i64(b, "s", SHAPE(2), DIMS(2, -1));
	tb_node(b, "Relu", "relu", "x", "r");
	tb_node(b, "Reshape", "flat", "r,s", "out");
	tb_output(b, "out");
	struct bo_model *m = load_ok(b);
	struct bo_error why;
	float x[36], want[36], got[36];
	for (int i = 0; i < 36; i++)
		x[i] = (float)(i % 7) - 3.f;
	assert_int_equal(bo_model_fixed_batch(m), 2);
	assert_int_equal(bo_model_batch_replans(m, 6, &why), 1);
	assert_int_equal(bo_model_batch_replans(m, 1, &why), 1);
	run_singly(m, SHAPE(2, 3, 2), 6, 6, x, want, 6);
	struct calls c = { 0 };
	run(m, 1, SHAPE(2, 3, 2), 6, x, got, 6, &c);
	assert_memory_equal(got, want, sizeof(got));
	assert_int_equal(c.n, 1);
	assert_int_equal(c.count[0], 6);
	bo_model_free(m);
	tb_free(b);
}

/* Models that pin the batch: bo_model_batch_replans names the node; the
 * session still runs them right, in runs of the model's batch. */
static void check_pinned(struct tb_model *b, const char *node, const char *text)
{
	struct bo_model *m = load_ok(b);
	struct bo_error why;
	char buf[1024];
	enum { B = 4 };
	float x[B * 6], want[B * 6], got[B * 6];
	for (int i = 0; i < B * 6; i++)
		x[i] = (float)((i * 3) % 7) - 2.f;
	assert_int_equal(bo_model_batch_replans(m, B, &why), 0);
	if (strcmp(why.node, node) || !strstr(why.text, text))
		fail_msg("want node '%s' and '%s'; got %s", node, text,
			 bo_error_format(&why, buf, sizeof(buf)));
	run_singly(m, SHAPE(1, 6), B, 6, x, want, 6);
	struct calls c = { 0 };
	run(m, 2, SHAPE(1, 6), B, x, got, 6, &c);
	assert_memory_equal(got, want, sizeof(got));
	for (int k = 0; k < c.n; k++)
		assert_int_equal(c.count[k], 1);
	bo_model_free(m);
	tb_free(b);
}

static void test_pinned(void **state)
{
	(void)state;
	struct tb_model *b;
	/* the batch axis moved (and back) */
	b = tb_new();
	tb_input(b, "x", SHAPE(1, 6));
	tb_node(b, "Relu", "relu", "x", "r");
	tb_attr_ints(b, tb_node(b, "Transpose", "tr", "r", "t"), "perm", 2, DIMS(1, 0));
	tb_attr_ints(b, tb_node(b, "Transpose", "back", "t", "out"), "perm", 2, DIMS(1, 0));
	tb_output(b, "out");
	check_pinned(b, "tr", "moves the batch axis");
	/* a softmax across the batch: same shapes, samples mixed */
	b = tb_new();
	tb_input(b, "x", SHAPE(1, 6));
	tb_node(b, "Relu", "relu", "x", "r");
	tb_attr_int(b, tb_node(b, "Softmax", "sm", "r", "out"), "axis", 0);
	tb_output(b, "out");
	check_pinned(b, "sm", "across the batch axis");
	/* the batch folded into the values: Reshape to [-1], then [1,-1] */
	b = tb_new();
	tb_input(b, "x", SHAPE(1, 6));
	tb_init_i64(b, "all", SHAPE(1), DIMS(-1));
	tb_init_i64(b, "s1m", SHAPE(2), DIMS(1, -1));
	tb_node(b, "Relu", "relu", "x", "r");
	tb_node(b, "Reshape", "fold", "r,all", "f");
	tb_node(b, "Reshape", "unfold", "f,s1m", "out");
	tb_output(b, "out");
	check_pinned(b, "fold", "not one row per image");
	/* the batch size read as data: x[:, :batch] */
	b = tb_new();
	tb_input(b, "x", SHAPE(1, 6));
	tb_init_i64(b, "zero", 0, NULL, DIMS(0));
	tb_init_i64(b, "axes0", SHAPE(1), DIMS(0));
	tb_init_i64(b, "st", SHAPE(1), DIMS(0));
	tb_init_i64(b, "ax1", SHAPE(1), DIMS(1));
	tb_init_i64(b, "six", SHAPE(1), DIMS(6));
	tb_init_i64(b, "s16", SHAPE(2), DIMS(1, 6));
	tb_node(b, "Relu", "relu", "x", "r");
	tb_node(b, "Shape", "shape", "r", "s");
	tb_node(b, "Gather", "gather", "s,zero", "g");
	tb_node(b, "Unsqueeze", "unsq", "g,axes0", "u");
	tb_node(b, "Slice", "sl", "r,st,u,ax1", "part");
	tb_node(b, "Mul", "mul", "part,part", "sq");
	tb_node(b, "Pad", "pad", "sq,pads", "out");
	tb_init_i64(b, "pads", SHAPE(4), DIMS(0, 0, 0, 5));
	tb_output(b, "out");
	check_pinned(b, "sl", "reads the batch size as data");
	/* the batch reversed: a Slice with step -1 on axis 0 */
	b = tb_new();
	tb_input(b, "x", SHAPE(1, 6));
	tb_init_i64(b, "st", SHAPE(1), DIMS(-1));
	tb_init_i64(b, "en", SHAPE(1), DIMS(INT64_MIN + 1));
	tb_init_i64(b, "ax", SHAPE(1), DIMS(0));
	tb_init_i64(b, "sp", SHAPE(1), DIMS(-1));
	tb_node(b, "Relu", "relu", "x", "r");
	tb_node(b, "Slice", "flip", "r,st,en,ax,sp", "out");
	tb_output(b, "out");
	check_pinned(b, "flip", "slices the batch axis");
}

/* A dynamic model, and the model's own batch, need no re-planning. */
static void test_trivial(void **state)
{
	(void)state;
	struct tb_model *b = tb_new();
	tb_input(b, "x", SHAPE(-1, 6));
	tb_node(b, "Relu", "relu", "x", "out");
	tb_output(b, "out");
	struct bo_model *m = load_ok(b);
	struct bo_error why;
	assert_int_equal(bo_model_batch_replans(m, 7, &why), 1);
	bo_model_free(m);
	tb_free(b);
	b = tb_new();
	tb_input(b, "x", SHAPE(1, 6));
	tb_attr_ints(b, tb_node(b, "Transpose", "tr", "x", "out"), "perm", 2, DIMS(1, 0));
	tb_output(b, "out");
	m = load_ok(b);
	assert_int_equal(bo_model_batch_replans(m, 1, &why), 1);
	assert_int_equal(bo_model_batch_replans(m, 2, &why), 0);
	assert_int_equal(bo_model_batch_replans(m, 0, &why), 0);
	bo_model_free(m);
	tb_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replans_per_image),
		cmocka_unit_test(test_arena_limit_falls_back),
		cmocka_unit_test(test_replans_from_batch_2),
		cmocka_unit_test(test_pinned),
		cmocka_unit_test(test_trivial),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
