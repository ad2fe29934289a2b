/* Malformed, hostile and unsupported inputs: every one must give a non-OK
 * status and an error that names the problem (node, op, field, offset),
 * never a crash, a hang or a huge allocation. Run under ASan+UBSan too: an
 * allocation of terabytes aborts there, so passing proves the loader
 * rejects such claims before allocating. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <brownout/brownout.h>

#include "common_onnx.h"

static char g_dir[4096];

/* ---- helpers ---- */

/* With BO_TEST_VERBOSE set, print each error as a user would see it. */
static void show(const struct bo_error *err)
{
	char buf[1024];
	if (!getenv("BO_TEST_VERBOSE"))
		return;
	print_message("    -> %s: %s\n", bo_strerror(err->status),
		      bo_error_format(err, buf, sizeof(buf)));
}

/* Load b; expect status st and, where non-NULL, these error fields;
 * `text` must occur in err.text. */
static void expect_load(struct tb_model *b, const struct bo_model_limits *lim, bo_status st,
			const char *node, const char *op, const char *field, const char *text)
{
	struct bo_model *m = (struct bo_model *)&m; /* must be reset to NULL */
	struct bo_error err;
	bo_status rc = tb_load(b, lim, &m, &err);
	show(&err);
	assert_int_equal(rc, st);
	assert_null(m);
	assert_int_equal(err.status, st);
	assert_true(err.text[0] != 0);
	assert_string_equal(err.file, "test.onnx");
	if (node)
		assert_string_equal(err.node, node);
	if (op)
		assert_string_equal(err.op, op);
	if (field)
		assert_string_equal(err.field, field);
	if (text && !strstr(err.text, text))
		fail_msg("error text '%s' does not mention '%s'", err.text, text);
	tb_free(b);
}

static struct bo_model *load_ok(struct tb_model *b)
{
	struct bo_model *m = NULL;
	struct bo_error err;
	char buf[1024];
	if (tb_load(b, NULL, &m, &err) != BO_OK)
		fail_msg("load failed: %s", bo_error_format(&err, buf, sizeof(buf)));
	return m;
}

/* x [N,3,8,8] -> Conv 3x3 pad 1 (4) -> BN -> Relu -> MaxPool 2 -> Flatten
 * -> Gemm (64 -> 5), with metadata; a few hundred bytes packed. */
static struct tb_model *valid_net(void)
{
	struct tb_model *b = tb_new();
	tb_metadata(b, "k", "v");
	tb_small_cnn(b);
	return b;
}

/* Run a loaded model on a [2,3,8,8] input if its input looks like that;
 * any status is fine, only crashes are not. */
static void try_run(struct bo_model *m)
{
	struct bo_session *s = NULL;
	struct bo_error err;
	struct bo_session_config cfg = { .threads = 1 };
	if (bo_session_new(m, &cfg, &s, &err) != BO_OK)
		return;
	int n = bo_model_n_inputs(m);
	if (n >= 1 && n <= 8) {
		static float data[2 * 3 * 8 * 8];
		struct bo_tensor in[8], out[8];
		for (int i = 0; i < n; i++) {
			memset(&in[i], 0, sizeof(in[i]));
			in[i].rank = 4;
			in[i].dims[0] = 2;
			in[i].dims[1] = 3;
			in[i].dims[2] = 8;
			in[i].dims[3] = 8;
			in[i].data = data;
		}
		int no = bo_model_n_outputs(m);
		bo_session_run(s, in, n, out, no < 8 ? no : 8, &err);
	}
	bo_session_free(s);
}

/* ---- bytes that are not a model ---- */

static void test_empty_buffer(void **state)
{
	struct bo_model *m = NULL;
	struct bo_error err;
	static const char one = 0;
	assert_int_equal(bo_model_load_buffer(&one, 0, "empty.onnx", NULL, &m, &err), BO_EMALFORMED);
	assert_null(m);
	assert_string_equal(err.file, "empty.onnx");
	assert_non_null(strstr(err.text, "empty"));
	show(&err);
	/* an err of NULL is allowed */
	assert_int_equal(bo_model_load_buffer(&one, 0, NULL, NULL, &m, NULL), BO_EMALFORMED);
	assert_null(m);
}

static void test_random_bytes(void **state)
{
	uint64_t r = 12345;
	unsigned char buf[512];
	for (int trial = 0; trial < 200; trial++) {
		size_t len = 1 + (size_t)trial * 5 % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			r = r * 6364136223846793005ULL + 1442695040888963407ULL;
			buf[i] = (unsigned char)(r >> 56);
		}
		struct bo_model *m = NULL;
		struct bo_error err;
		bo_status rc = bo_model_load_buffer(buf, len, "random.onnx", NULL, &m, &err);
		assert_int_not_equal(rc, BO_OK);
		assert_null(m);
		assert_true(err.text[0] != 0);
		assert_string_equal(err.file, "random.onnx");
		if (rc == BO_EMALFORMED)
			assert_true(err.offset >= -1 && err.offset < (int64_t)len);
	}
	/* text is not a model either */
	const char *txt = "this is not an ONNX model, just some text\n";
	struct bo_model *m = NULL;
	struct bo_error err;
	assert_int_not_equal(bo_model_load_buffer(txt, strlen(txt), "a.txt", NULL, &m, &err), BO_OK);
	show(&err);
}

static void test_truncated_everywhere(void **state)
{
	struct tb_model *b = valid_net();
	size_t len;
	uint8_t *buf = tb_pack(b, &len);
	tb_free(b);
	struct bo_model *m = NULL;
	struct bo_error err;
	assert_int_equal(bo_model_load_buffer(buf, len, "full.onnx", NULL, &m, &err), BO_OK);
	try_run(m);
	bo_model_free(m);
	int ok = 0, broken = 0;
	for (size_t cut = 0; cut < len; cut++) {
		/* a fresh copy of exactly cut bytes, so ASan sees any overread */
		uint8_t *part = malloc(cut ? cut : 1);
		assert_non_null(part);
		memcpy(part, buf, cut);
		m = NULL;
		bo_status rc = bo_model_load_buffer(part, cut, "cut.onnx", NULL, &m, &err);
		/* does protobuf itself accept the prefix (a cut between fields)? */
		Onnx__ModelProto *mp = cut ? onnx__model_proto__unpack(NULL, cut, part) : NULL;
		if (rc == BO_OK) {
			ok++;
			assert_non_null(m);
			assert_non_null(mp);
			try_run(m);
			bo_model_free(m);
		} else {
			assert_null(m);
			assert_true(err.text[0] != 0);
			assert_string_equal(err.file, "cut.onnx");
			if (cut && !mp) {
				/* the structure breaks: say where, within the buffer */
				broken++;
				assert_int_equal(rc, BO_EMALFORMED);
				if (err.offset < 0 || err.offset >= (int64_t)cut)
					fail_msg("cut at %zu: offset %lld", cut, (long long)err.offset);
			}
		}
		if (mp)
			onnx__model_proto__free_unpacked(mp, NULL);
		free(part);
	}
	print_message("    %zu prefixes: %d loaded, %d broke the protobuf structure\n", len, ok,
		      broken);
	/* only a cut right after a whole metadata entry can still be a model
	 * (opset_import precedes it); everything else must fail */
	assert_true(ok <= 1);
	assert_true(broken > (int)len * 9 / 10);
	free(buf);
}

static void test_corrupted_bytes(void **state)
{
	/* flip every byte of a valid model three ways; load (and run when it
	 * loads): any status, but never a crash or a sanitizer report */
	struct tb_model *b = valid_net();
	size_t len;
	uint8_t *buf = tb_pack(b, &len);
	tb_free(b);
	uint8_t *copy = malloc(len);
	assert_non_null(copy);
	int loaded = 0;
	static const uint8_t xors[3] = { 0xff, 0x01, 0x80 };
	for (size_t i = 0; i < len; i++)
		for (int k = 0; k < 3; k++) {
			memcpy(copy, buf, len);
			copy[i] ^= xors[k];
			struct bo_model *m = NULL;
			struct bo_error err;
			bo_status rc = bo_model_load_buffer(copy, len, "flip.onnx", NULL, &m, &err);
			if (rc == BO_OK) {
				loaded++;
				try_run(m);
				bo_model_free(m);
			} else {
				assert_null(m);
				assert_true(err.text[0] != 0);
			}
		}
	print_message("    %zu flipped models, %d still loaded\n", 3 * len, loaded);
	free(copy);
	free(buf);
}

/* ---- wrong types ---- */

static void test_attribute_wrong_type(void **state)
{
	struct tb_model *b = valid_net();
	Onnx__NodeProto *n = tb_node(b, "Conv", "conv2", "x,w", "y2");
	tb_attr_string(b, n, "group", "one");
	expect_load(b, NULL, BO_EMALFORMED, "conv2", "Conv", "group", "integer");

	b = valid_net();
	n = tb_node(b, "Conv", "conv2", "x,w", "y2");
	tb_attr_float(b, n, "kernel_shape", 3.f);
	expect_load(b, NULL, BO_EMALFORMED, "conv2", "Conv", "kernel_shape", "integers");

	b = valid_net();
	n = tb_node(b, "LeakyRelu", "lr", "x", "y2");
	tb_attr_string(b, n, "alpha", "0.1");
	expect_load(b, NULL, BO_EMALFORMED, "lr", "LeakyRelu", "alpha", "float");

	b = valid_net();
	n = tb_node(b, "Pad", "pad", "x,pp", "y2");
	tb_init_i64(b, "pp", SHAPE(8), DIMS(0, 0, 1, 1, 0, 0, 1, 1));
	tb_attr_int(b, n, "mode", 1);
	expect_load(b, NULL, BO_EMALFORMED, "pad", "Pad", "mode", "string");

	b = valid_net();
	n = tb_node(b, "Conv", "conv2", "x,w", "y2");
	tb_attr_string(b, n, "auto_pad", "SOMETIMES");
	expect_load(b, NULL, BO_EUNSUPPORTED, "conv2", "Conv", "auto_pad", "SOMETIMES");
}

static void test_initializer_data_mismatch(void **state)
{
	/* raw_data of 12 bytes for 4 floats */
	struct tb_model *b = valid_net();
	float three[3] = { 1, 2, 3 };
	tb_init_raw(b, "bad_raw", SHAPE(4), three, sizeof(three));
	expect_load(b, NULL, BO_EMALFORMED, "bad_raw", NULL, "raw_data", "12 bytes");

	/* float_data with 3 values for dims [2,2] */
	b = valid_net();
	Onnx__TensorProto *t = tb_init_f(b, "bad_fd", SHAPE(3), three);
	t->dims[0] = 2;
	t->n_dims = 2;
	t->dims = tb_alloc(b, 2 * sizeof(int64_t));
	t->dims[0] = t->dims[1] = 2;
	expect_load(b, NULL, BO_EMALFORMED, "bad_fd", NULL, "data", "3 values");

	/* int64 initializer with too few values */
	b = valid_net();
	t = tb_init_i64(b, "bad_i", SHAPE(2), DIMS(1, 2));
	t->n_int64_data = 1;
	expect_load(b, NULL, BO_EMALFORMED, "bad_i", NULL, "data", NULL);

	/* a data type we do not read: string */
	b = valid_net();
	t = tb_init_f(b, "strings", SHAPE(1), three);
	t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__STRING;
	expect_load(b, NULL, BO_EUNSUPPORTED, "strings", NULL, "data_type", "string");

	/* external data */
	b = valid_net();
	t = tb_init_f(b, "ext", SHAPE(1), three);
	t->has_data_location = 1;
	t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	expect_load(b, NULL, BO_EUNSUPPORTED, "ext", NULL, "external_data", "external");

	/* an initializer without a name, and one named twice */
	b = valid_net();
	t = tb_init_f(b, "x1", SHAPE(1), three);
	t->name = tb_strdup(b, "");
	expect_load(b, NULL, BO_EMALFORMED, NULL, NULL, "initializer", "no name");
	b = valid_net();
	tb_init_f(b, "w", SHAPE(1), three);
	expect_load(b, NULL, BO_EMALFORMED, "w", NULL, "initializer", "twice");
}

/* ---- absurd sizes ---- */

static void test_absurd_dims(void **state)
{
	/* 1<<40 elements */
	struct tb_model *b = valid_net();
	tb_init_raw(b, "huge", SHAPE(1LL << 40), NULL, 0);
	expect_load(b, NULL, BO_ELIMIT, "huge", NULL, "dims", NULL);
	/* negative */
	b = valid_net();
	tb_init_raw(b, "neg", SHAPE(2, -3), NULL, 0);
	expect_load(b, NULL, BO_EMALFORMED, "neg", NULL, "dims", "negative");
	/* rank 9 */
	b = valid_net();
	tb_init_raw(b, "deep", SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 1), NULL, 4);
	expect_load(b, NULL, BO_ELIMIT, "deep", NULL, "dims", "rank 9");
	/* a product that overflows int64 */
	b = valid_net();
	tb_init_raw(b, "ovf", SHAPE(1LL << 31, 1LL << 31, 1LL << 31), NULL, 0);
	expect_load(b, NULL, BO_ELIMIT, "ovf", NULL, "dims", NULL);
	/* a graph input of rank 9 */
	b = valid_net();
	tb_input(b, "x9", SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 1));
	expect_load(b, NULL, BO_ELIMIT, "x9", NULL, "input", "rank 9");
}

static void test_huge_allocation_claim(void **state)
{
	/* [1<<20, 1<<20] floats = 4 TiB: refused from the dims alone. Under
	 * ASan an attempt to allocate this much would abort the test. */
	struct tb_model *b = valid_net();
	tb_init_raw(b, "big", SHAPE(1 << 20, 1 << 20), NULL, 0);
	expect_load(b, NULL, BO_ELIMIT, "big", NULL, "dims", "elements");
	/* the same with raw data claiming to be there */
	b = valid_net();
	Onnx__TensorProto *t = tb_init_raw(b, "big2", SHAPE(1 << 20, 1 << 20), NULL, 16);
	t->raw_data.len = 16;
	expect_load(b, NULL, BO_ELIMIT, "big2", NULL, "dims", NULL);
	/* a graph input claiming 1<<40 values per image: loads (it is just a
	 * declaration) but planning refuses it */
	b = tb_new();
	tb_input(b, "x", SHAPE(1, 1LL << 40));
	tb_node(b, "Relu", "relu", "x", "y");
	tb_output(b, "y");
	struct bo_model *m = load_ok(b);
	struct bo_model_stats st;
	struct bo_error err;
	bo_status rc = bo_model_stats(m, NULL, 0, NULL, BO_SITES_RELU, &st, &err);
	show(&err);
	assert_int_equal(rc, BO_ELIMIT);
	assert_string_equal(err.node, "x"); /* refused at the input, before any rule */
	bo_model_free(m);
	tb_free(b);
	/* (Reshape and Pad targets whose sizes overflow int64 are in bad_cases) */
}

/* An input of 2^31 x 2^31 pixels: the Conv shape rule multiplied its dims
 * in signed int64 and overflowed (UBSan aborted; the normal build wrapped).
 * Now the input is refused, named, before any rule sees it. */
static void test_input_dims_overflow(void **state)
{
	static const int64_t sides[] = { 1LL << 31, 1LL << 32, 3037000500LL };
	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		struct tb_model *b = tb_new();
		tb_input(b, "img", SHAPE(1, 1, sides[i], sides[i]));
		tb_init_f(b, "w", SHAPE(4, 1, 3, 3), NULL);
		tb_node(b, "Conv", "conv", "img,w", "y");
		tb_output(b, "y");
		struct bo_model *m = load_ok(b);
		struct bo_model_stats st;
		struct bo_error err;
		bo_status rc = bo_model_stats(m, NULL, 0, NULL, BO_SITES_RELU, &st, &err);
		show(&err);
		assert_int_equal(rc, BO_ELIMIT);
		assert_string_equal(err.node, "img");
		assert_non_null(strstr(err.text, "elements"));
		bo_model_free(m);
		tb_free(b);
	}
	/* the same through a session run with an explicit input shape */
	struct tb_model *b = tb_new();
	tb_input(b, "img", SHAPE(-1, 1, -1, -1));
	tb_init_f(b, "w", SHAPE(4, 1, 3, 3), NULL);
	tb_node(b, "Conv", "conv", "img,w", "y");
	tb_output(b, "y");
	struct bo_model *m = load_ok(b);
	struct bo_session *s = NULL;
	struct bo_error err;
	struct bo_session_config cfg = { .threads = 1 };
	assert_int_equal(bo_session_new(m, &cfg, &s, &err), BO_OK);
	static float px[4];
	struct bo_tensor in = { 4, { 1, 1, 1LL << 31, 1LL << 31 }, px }, out;
	bo_status rc = bo_session_run(s, &in, 1, &out, 1, &err);
	show(&err);
	assert_int_equal(rc, BO_ELIMIT);
	assert_string_equal(err.node, "img");
	bo_session_free(s);
	bo_model_free(m);
	tb_free(b);
}

/* ---- graph structure ---- */

static void test_cycle(void **state)
{
	/* a = Relu(b), b = Relu(a) */
	struct tb_model *b = tb_new();
	tb_input(b, "x", SHAPE(1, 4));
	tb_node(b, "Relu", "first", "bb", "a");
	tb_node(b, "Relu", "second", "a", "bb");
	tb_node(b, "Add", "add", "x,bb", "y");
	tb_output(b, "y");
	struct bo_model *m = NULL;
	struct bo_error err;
	assert_int_equal(tb_load(b, NULL, &m, &err), BO_EMALFORMED);
	show(&err);
	assert_null(m);
	assert_true(!strcmp(err.node, "first") || !strcmp(err.node, "second"));
	assert_string_equal(err.op, "Relu");
	assert_non_null(strstr(err.text, "cycle"));
	tb_free(b);
	/* a node reading its own output */
	b = tb_new();
	tb_input(b, "x", SHAPE(1, 4));
	tb_node(b, "Add", "self", "x,y", "y");
	tb_output(b, "y");
	expect_load(b, NULL, BO_EMALFORMED, "self", "Add", NULL, "cycle");
}

static void test_dangling_input(void **state)
{
	struct tb_model *b = tb_new();
	tb_input(b, "x", SHAPE(1, 3, 4, 4));
	tb_node(b, "Conv", "conv", "x,missing_weight", "y");
	tb_output(b, "y");
	expect_load(b, NULL, BO_EMALFORMED, "conv", "Conv", "input", "missing_weight");
	/* a graph output nobody produces */
	b = valid_net();
	tb_output(b, "nowhere");
	expect_load(b, NULL, BO_EMALFORMED, "nowhere", NULL, "output", "never produced");
}

static void test_duplicate_outputs(void **state)
{
	struct tb_model *b = tb_new();
	tb_input(b, "x", SHAPE(1, 4));
	tb_node(b, "Relu", "r1", "x", "y");
	tb_node(b, "Sigmoid", "r2", "x", "y");
	tb_output(b, "y");
	expect_load(b, NULL, BO_EMALFORMED, "r2", "Sigmoid", "output", "'y'");
	/* a node output that shadows a graph input */
	b = tb_new();
	tb_input(b, "x", SHAPE(1, 4));
	tb_node(b, "Relu", "r", "x", "x");
	tb_output(b, "x");
	expect_load(b, NULL, BO_EMALFORMED, "r", "Relu", "output", "twice");
	/* or an initializer */
	b = valid_net();
	tb_node(b, "Relu", "r", "x", "w");
	expect_load(b, NULL, BO_EMALFORMED, "r", "Relu", "output", "'w'");
	/* a node with an empty output name */
	b = valid_net();
	Onnx__NodeProto *n = tb_node(b, "Relu", "r", "x", "z");
	n->output[0] = tb_strdup(b, "");
	expect_load(b, NULL, BO_EMALFORMED, "r", "Relu", "output", NULL);
}

static void test_unsupported_op(void **state)
{
	struct tb_model *b = valid_net();
	tb_node(b, "NonMaxSuppression", "nms", "x", "z");
	expect_load(b, NULL, BO_EUNSUPPORTED, "nms", "NonMaxSuppression", NULL,
		    "unsupported operators: NonMaxSuppression x1 (first: nms)");
	/* an unnamed node gets a positional name */
	b = valid_net();
	tb_node(b, "LSTM", NULL, "x", "z");
	expect_load(b, NULL, BO_EUNSUPPORTED, "#6", "LSTM", NULL, NULL);
	/* a custom domain */
	b = valid_net();
	Onnx__NodeProto *n = tb_node(b, "Relu", "custom", "x", "z");
	n->domain = tb_strdup(b, "com.example");
	expect_load(b, NULL, BO_EUNSUPPORTED, "custom", "Relu", NULL, "com.example");
}

static void test_unsupported_attribute(void **state)
{
	struct tb_model *b = valid_net();
	Onnx__NodeProto *n = tb_node(b, "Conv", "conv2", "x,w", "z");
	tb_attr_int(b, n, "foo", 1);
	expect_load(b, NULL, BO_EUNSUPPORTED, "conv2", "Conv", "foo", NULL);
	/* attribute that exists in ONNX but not here */
	b = valid_net();
	n = tb_node(b, "MaxPool", "mp", "x", "z");
	tb_attr_ints(b, n, "kernel_shape", 2, DIMS(2, 2));
	tb_attr_int(b, n, "storage_order", 1);
	expect_load(b, NULL, BO_EUNSUPPORTED, "mp", "MaxPool", "storage_order", NULL);
	/* training-mode BatchNormalization */
	b = valid_net();
	n = tb_node(b, "BatchNormalization", "bn2", "x,g,be,mu,var", "z");
	tb_attr_int(b, n, "training_mode", 1);
	expect_load(b, NULL, BO_EUNSUPPORTED, "bn2", "BatchNormalization", "training_mode", NULL);
	/* 3-D convolution */
	b = valid_net();
	n = tb_node(b, "Conv", "conv3d", "x,w", "z");
	tb_attr_ints(b, n, "kernel_shape", 3, DIMS(3, 3, 3));
	expect_load(b, NULL, BO_EUNSUPPORTED, "conv3d", "Conv", "kernel_shape", NULL);
	/* Pad mode "wrap" */
	b = valid_net();
	tb_init_i64(b, "pp", SHAPE(8), DIMS(0, 0, 1, 1, 0, 0, 1, 1));
	n = tb_node(b, "Pad", "pad", "x,pp", "z");
	tb_attr_string(b, n, "mode", "wrap");
	expect_load(b, NULL, BO_EUNSUPPORTED, "pad", "Pad", "mode", "wrap");
	/* Dropout in training mode */
	b = valid_net();
	float r = 0.5f;
	tb_init_f(b, "ratio", 0, NULL, &r);
	Onnx__TensorProto *t = tb_init_i64(b, "train", 0, NULL, DIMS(1));
	t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL;
	t->n_int64_data = 0;
	t->n_int32_data = 1;
	t->int32_data = tb_alloc(b, sizeof(int32_t));
	t->int32_data[0] = 1;
	tb_node(b, "Dropout", "drop", "x,ratio,train", "z");
	expect_load(b, NULL, BO_EUNSUPPORTED, "drop", "Dropout", "training_mode", NULL);
}

static void test_opsets(void **state)
{
	static const int64_t bad[] = { 18, 6, 1, 100 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tb_model *b = valid_net();
		tb_set_opset(b, bad[i]);
		char num[32];
		snprintf(num, sizeof(num), "%lld", (long long)bad[i]);
		expect_load(b, NULL, BO_EUNSUPPORTED, NULL, NULL, "opset_import", num);
	}
	/* no opset_import at all */
	struct tb_model *b = valid_net();
	tb_set_opset(b, 0);
	expect_load(b, NULL, BO_EUNSUPPORTED, NULL, NULL, "opset_import", NULL);
	/* only a foreign domain */
	b = valid_net();
	tb_proto(b)->opset_import[0]->domain = tb_strdup(b, "ai.onnx.ml");
	expect_load(b, NULL, BO_EUNSUPPORTED, NULL, NULL, "opset_import", NULL);
	/* the edges are fine */
	for (int64_t v = 7; v <= 17; v += 10) {
		b = valid_net();
		tb_set_opset(b, v);
		struct bo_model *m = load_ok(b);
		assert_int_equal(bo_model_opset(m), v);
		bo_model_free(m);
		tb_free(b);
	}
}

static void test_no_outputs_no_graph(void **state)
{
	struct tb_model *b = valid_net();
	tb_graph(b)->n_output = 0;
	expect_load(b, NULL, BO_EMALFORMED, NULL, NULL, "output", "no outputs");
	b = valid_net();
	tb_proto(b)->graph = NULL;
	expect_load(b, NULL, BO_EMALFORMED, NULL, NULL, "graph", "no graph");
}

static void test_non_float_input(void **state)
{
	struct tb_model *b = tb_new();
	tb_input_typed(b, "ids", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, SHAPE(1, 4));
	tb_node(b, "Relu", "r", "ids", "y");
	tb_output(b, "y");
	expect_load(b, NULL, BO_EUNSUPPORTED, "ids", NULL, "input", "int64");
	b = tb_new();
	tb_input_typed(b, "u8", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, SHAPE(1, 4));
	tb_node(b, "Relu", "r", "u8", "y");
	tb_output(b, "y");
	expect_load(b, NULL, BO_EUNSUPPORTED, "u8", NULL, "input", "uint8");
	/* not a tensor at all */
	b = valid_net();
	Onnx__ValueInfoProto *vi = tb_input(b, "seq", SHAPE(1));
	vi->type->value_case = ONNX__TYPE_PROTO__VALUE__NOT_SET;
	expect_load(b, NULL, BO_EUNSUPPORTED, "seq", NULL, "input", "not a tensor");
}

static void test_wrong_input_count(void **state)
{
	struct tb_model *b = valid_net();
	tb_node(b, "Conv", "conv1", "x", "z");
	expect_load(b, NULL, BO_EMALFORMED, "conv1", "Conv", "input", NULL);
	b = valid_net();
	tb_node(b, "Add", "add3", "x,x,x", "z");
	expect_load(b, NULL, BO_EMALFORMED, "add3", "Add", "input", NULL);
	b = valid_net();
	tb_node(b, "BatchNormalization", "bn3", "x,g,be", "z");
	expect_load(b, NULL, BO_EMALFORMED, "bn3", "BatchNormalization", "input", NULL);
	/* data input omitted */
	b = valid_net();
	Onnx__NodeProto *n = tb_node(b, "Relu", "r0", "x", "z");
	n->input[0] = tb_strdup(b, "");
	expect_load(b, NULL, BO_EMALFORMED, "r0", "Relu", "input", "missing");
	/* no outputs */
	b = valid_net();
	tb_node(b, "Relu", "r1", "x", "");
	expect_load(b, NULL, BO_EUNSUPPORTED, "r1", "Relu", "output", NULL);
}

/* ---- files ---- */

static void path_in_dir(char *out, size_t size, const char *name)
{
	int k = snprintf(out, size, "%s/%s", g_dir, name);
	assert_true(k > 0 && (size_t)k < size);
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (n)
		assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* A refused model names every unsupported operator with its count and
 * first node; a list too long for struct bo_error is cut with "..." and
 * bo_model_unsupported_ops gives all of it. */
static void test_unsupported_all_listed(void **state)
{
	struct tb_model *b = valid_net();
	tb_node(b, "LSTM", "lstm.a", "x", "u1");
	tb_node(b, "Acos", "acos.a", "u1", "u2");
	tb_node(b, "LSTM", "lstm.b", "u2", "u3");
	tb_node(b, "Relu", "fine", "u3", "u4");
	expect_load(b, NULL, BO_EUNSUPPORTED, "lstm.a", "LSTM", NULL,
		    "unsupported operators: LSTM x2 (first: lstm.a), Acos x1 (first: acos.a)");
	/* 30 distinct ops with long node names: the text is cut, the list is not */
	b = valid_net();
	char prev[64] = "x", name[128], type[32], out[64];
	for (int i = 0; i < 30; i++) {
		snprintf(type, sizeof(type), "Custom%02d", i);
		snprintf(name, sizeof(name), "/features/features.%d/block/a_rather_long_node_name", i);
		snprintf(out, sizeof(out), "t%d", i);
		tb_node(b, type, name, prev, out);
		snprintf(prev, sizeof(prev), "%s", out);
	}
	size_t len;
	uint8_t *buf = tb_pack(b, &len);
	char p[4200];
	path_in_dir(p, sizeof(p), "t.pb");
	write_file(p, buf, len);
	free(buf);
	tb_free(b);
	struct bo_model *m = NULL;
	struct bo_error err;
	assert_int_equal(bo_model_load(p, &m, &err), BO_EUNSUPPORTED);
	assert_null(m);
	size_t tl = strlen(err.text);
	assert_true(tl >= 3 && !strcmp(err.text + tl - 3, "..."));
	assert_non_null(strstr(err.text, "unsupported operators: Custom00 x1 (first: /features/"));
	char *list = NULL;
	assert_int_equal(bo_model_unsupported_ops(p, &list, &err), BO_OK);
	assert_non_null(list);
	assert_non_null(strstr(list, "Custom00 x1 (first: /features/features.0/block/"));
	assert_non_null(strstr(list, "Custom29 x1 (first: /features/features.29/block/"));
	free(list);
	/* a model that loads: the list is empty */
	b = valid_net();
	buf = tb_pack(b, &len);
	write_file(p, buf, len);
	free(buf);
	tb_free(b);
	assert_int_equal(bo_model_unsupported_ops(p, &list, &err), BO_OK);
	assert_string_equal(list, "");
	free(list);
}

static void test_model_files(void **state)
{
	struct bo_model *m = (struct bo_model *)&m;
	struct bo_error err;
	char p[4200];
	path_in_dir(p, sizeof(p), "does-not-exist.onnx");
	assert_int_equal(bo_model_load(p, &m, &err), BO_ENOENT);
	assert_null(m);
	assert_string_equal(err.file, p);
	show(&err);
	/* a directory */
	m = (struct bo_model *)&m;
	bo_status rc = bo_model_load(g_dir, &m, &err);
	show(&err);
	assert_int_not_equal(rc, BO_OK);
	assert_null(m);
	assert_string_equal(err.file, g_dir);
	/* an empty file */
	path_in_dir(p, sizeof(p), "empty.onnx");
	write_file(p, "", 0);
	assert_int_equal(bo_model_load(p, &m, &err), BO_EMALFORMED);
	assert_string_equal(err.file, p);
	/* a good file, then the same over max_file_bytes */
	struct tb_model *b = valid_net();
	size_t len;
	uint8_t *buf = tb_pack(b, &len);
	tb_free(b);
	path_in_dir(p, sizeof(p), "good.onnx");
	write_file(p, buf, len);
	assert_int_equal(bo_model_load(p, &m, &err), BO_OK);
	bo_model_free(m);
	struct bo_model_limits lim = { .max_file_bytes = (int64_t)len - 1 };
	assert_int_equal(bo_model_load_ex(p, &lim, &m, &err), BO_ELIMIT);
	assert_null(m);
	assert_string_equal(err.file, p);
	show(&err);
	lim.max_file_bytes = (int64_t)len;
	assert_int_equal(bo_model_load_ex(p, &lim, &m, &err), BO_OK);
	bo_model_free(m);
	/* a truncated file names the byte where it breaks */
	path_in_dir(p, sizeof(p), "truncated.onnx");
	write_file(p, buf, len - 7);
	assert_int_equal(bo_model_load(p, &m, &err), BO_EMALFORMED);
	assert_true(err.offset >= 0 && err.offset < (int64_t)len - 7);
	assert_string_equal(err.file, p);
	show(&err);
	free(buf);
}

static void test_model_limits(void **state)
{
	struct tb_model *b = valid_net(); /* 6 nodes */
	struct bo_model_limits lim = { .max_nodes = 5 };
	expect_load(b, &lim, BO_ELIMIT, NULL, NULL, "node", "6 nodes");
	b = valid_net();
	lim.max_nodes = 6;
	struct bo_model *m = NULL;
	struct bo_error err;
	assert_int_equal(tb_load(b, &lim, &m, &err), BO_OK);
	bo_model_free(m);
	size_t len;
	uint8_t *buf = tb_pack(b, &len);
	struct bo_model_limits flim = { .max_file_bytes = (int64_t)len - 1 };
	assert_int_equal(bo_model_load_buffer(buf, len, "lim.onnx", &flim, &m, &err), BO_ELIMIT);
	assert_null(m);
	show(&err);
	free(buf);
	tb_free(b);
	/* per tensor: fc has 320 values */
	b = valid_net();
	struct bo_model_limits tlim = { .max_tensor_elems = 319 };
	expect_load(b, &tlim, BO_ELIMIT, "fc", NULL, "dims", NULL);
	/* all constants: 108 + 5*4 + 320 + 5 = 453 */
	b = valid_net();
	struct bo_model_limits alim = { .max_total_elems = 400 };
	expect_load(b, &alim, BO_ELIMIT, NULL, NULL, NULL, "in all");
	b = valid_net();
	alim.max_total_elems = 453;
	assert_int_equal(tb_load(b, &alim, &m, &err), BO_OK);
	bo_model_free(m);
	tb_free(b);
	/* and the activation cap of a session */
	b = valid_net();
	m = load_ok(b);
	struct bo_session *s = NULL;
	struct bo_session_config cfg = { .threads = 1, .max_arena_bytes = 1024 };
	assert_int_equal(bo_session_new(m, &cfg, &s, &err), BO_OK);
	static float x[2 * 3 * 8 * 8];
	struct bo_tensor in = { 4, { 2, 3, 8, 8 }, x }, out;
	assert_int_equal(bo_session_run(s, &in, 1, &out, 1, &err), BO_ELIMIT);
	show(&err);
	bo_session_free(s);
	bo_model_free(m);
	tb_free(b);
}

/* ---- shapes that only fail when planned ---- */

/* Load b, run it on x of xd; expect status st naming node. */
static void expect_run(struct tb_model *b, int rank, const int64_t *xd, bo_status st,
		       const char *node, const char *text)
{
	struct bo_model *m = load_ok(b);
	struct bo_session *s = NULL;
	struct bo_error err;
	struct bo_session_config cfg = { .threads = 1 };
	assert_int_equal(bo_session_new(m, &cfg, &s, &err), BO_OK);
	struct bo_tensor in;
	memset(&in, 0, sizeof(in));
	in.rank = rank;
	int64_t n = 1;
	for (int i = 0; i < rank; i++)
		n *= (in.dims[i] = xd[i]);
	in.data = calloc((size_t)(n ? n : 1), sizeof(float));
	assert_non_null(in.data);
	struct bo_tensor out;
	bo_status rc = bo_session_run(s, &in, 1, &out, 1, &err);
	show(&err);
	assert_int_equal(rc, st);
	if (node)
		assert_string_equal(err.node, node);
	if (text && !strstr(err.text, text))
		fail_msg("error text '%s' does not mention '%s'", err.text, text);
	assert_string_equal(err.file, "test.onnx");
	free(in.data);
	bo_session_free(s);
	bo_model_free(m);
	tb_free(b);
}

static void test_plan_shape_mismatch(void **state)
{
	/* Conv weight for 4 input channels on a 3-channel input */
	struct tb_model *b = tb_new();
	tb_input(b, "x", SHAPE(-1, 3, 5, 5));
	tb_init_f(b, "w", SHAPE(2, 4, 3, 3), NULL);
	tb_node(b, "Conv", "conv", "x,w", "y");
	tb_output(b, "y");
	expect_run(b, SHAPE(1, 3, 5, 5), BO_ESHAPE, "conv", "[2,4,3,3]");
	/* Conv bias of the wrong length */
	b = tb_new();
	tb_input(b, "x", SHAPE(-1, 3, 5, 5));
	tb_init_f(b, "w", SHAPE(2, 3, 3, 3), NULL);
	tb_init_f(b, "b", SHAPE(3), NULL);
	tb_node(b, "Conv", "conv", "x,w,b", "y");
	tb_output(b, "y");
	expect_run(b, SHAPE(1, 3, 5, 5), BO_ESHAPE, "conv", "bias has 3 values, expected 2");
	/* kernel larger than the input */
	b = tb_new();
	tb_input(b, "x", SHAPE(-1, 1, 2, 2));
	tb_init_f(b, "w", SHAPE(1, 1, 3, 3), NULL);
	tb_node(b, "Conv", "conv", "x,w", "y");
	tb_output(b, "y");
	expect_run(b, SHAPE(1, 1, 2, 2), BO_ESHAPE, "conv",
		   "kernel is larger than the padded input (2 x 2)");
	/* Gemm K mismatch */
	b = tb_new();
	tb_input(b, "x", SHAPE(-1, 6));
	tb_init_f(b, "w", SHAPE(5, 4), NULL);
	tb_node(b, "Gemm", "gemm", "x,w", "y");
	tb_output(b, "y");
	expect_run(b, SHAPE(2, 6), BO_ESHAPE, "gemm", "K");
	/* MatMul inner mismatch */
	b = tb_new();
	tb_input(b, "x", SHAPE(-1, 6));
	tb_init_f(b, "w", SHAPE(5, 4), NULL);
	tb_node(b, "MatMul", "mm", "x,w", "y");
	tb_output(b, "y");
	expect_run(b, SHAPE(2, 6), BO_ESHAPE, "mm", NULL);
	/* Add not broadcastable */
	b = tb_new();
	tb_input(b, "x", SHAPE(-1, 3, 4, 4));
	tb_init_f(b, "c", SHAPE(5), NULL);
	tb_node(b, "Add", "add", "x,c", "y");
	tb_output(b, "y");
	expect_run(b, SHAPE(1, 3, 4, 4), BO_ESHAPE, "add", "broadcast");
	/* Reshape to a different element count */
	b = tb_new();
	tb_input(b, "x", SHAPE(-1, 6));
	tb_init_i64(b, "s", SHAPE(2), DIMS(4, 4));
	tb_node(b, "Reshape", "reshape", "x,s", "y");
	tb_output(b, "y");
	expect_run(b, SHAPE(1, 6), BO_ESHAPE, "reshape", NULL);
	/* Concat of mismatched shapes */
	b = tb_new();
	tb_input(b, "x", SHAPE(-1, 2, 3));
	tb_init_f(b, "c", SHAPE(1, 2, 4), NULL);
	Onnx__NodeProto *n = tb_node(b, "Concat", "cat", "x,c", "y");
	tb_attr_int(b, n, "axis", 1);
	tb_output(b, "y");
	expect_run(b, SHAPE(1, 2, 3), BO_ESHAPE, "cat", NULL);
	/* BN channel mismatch */
	b = tb_new();
	tb_input(b, "x", SHAPE(-1, 3, 2, 2));
	float one[2] = { 1, 1 };
	tb_init_f(b, "g", SHAPE(2), one);
	tb_init_f(b, "be", SHAPE(2), NULL);
	tb_init_f(b, "mu", SHAPE(2), NULL);
	tb_init_f(b, "var", SHAPE(2), one);
	tb_node(b, "BatchNormalization", "bn", "x,g,be,mu,var", "y");
	tb_output(b, "y");
	expect_run(b, SHAPE(1, 3, 2, 2), BO_ESHAPE, "bn", "channels");
	/* an input that contradicts the declared shape */
	b = tb_new();
	tb_input(b, "x", SHAPE(-1, 3, 4, 4));
	tb_node(b, "Relu", "relu", "x", "y");
	tb_output(b, "y");
	expect_run(b, SHAPE(1, 3, 5, 4), BO_ESHAPE, "x", "[1,3,5,4]");
	/* Softmax axis out of range */
	b = tb_new();
	tb_input(b, "x", SHAPE(-1, 3));
	n = tb_node(b, "Softmax", "sm", "x", "y");
	tb_attr_int(b, n, "axis", 2);
	tb_output(b, "y");
	expect_run(b, SHAPE(1, 3), BO_ESHAPE, "sm", "axis");
	/* reflect padding as large as the dimension */
	b = tb_new();
	tb_input(b, "x", SHAPE(-1, 3));
	tb_init_i64(b, "p", SHAPE(4), DIMS(0, 3, 0, 0));
	n = tb_node(b, "Pad", "pad", "x,p", "y");
	tb_attr_string(b, n, "mode", "reflect");
	tb_output(b, "y");
	expect_run(b, SHAPE(1, 3), BO_ESHAPE, "pad", "reflect");
}

static void test_run_arguments(void **state)
{
	struct tb_model *b = valid_net();
	struct bo_model *m = load_ok(b);
	struct bo_session *s = NULL;
	struct bo_error err;
	struct bo_session_config cfg = { .threads = 1 };
	assert_int_equal(bo_session_new(m, &cfg, &s, &err), BO_OK);
	static float x[3 * 8 * 8];
	struct bo_tensor in = { 4, { 1, 3, 8, 8 }, x }, out[2];
	assert_int_equal(bo_session_run(s, &in, 0, out, 1, &err), BO_EINVAL);
	assert_int_equal(bo_session_run(s, &in, 1, out, 2, &err), BO_EINVAL);
	struct bo_tensor nodata = { 4, { 1, 3, 8, 8 }, NULL };
	assert_int_equal(bo_session_run(s, &nodata, 1, out, 1, &err), BO_EINVAL);
	struct bo_tensor deep = { 9, { 1 }, x };
	assert_int_equal(bo_session_run(s, &deep, 1, out, 1, &err), BO_EINVAL);
	struct bo_tensor rank3 = { 3, { 3, 8, 8 }, x };
	assert_int_equal(bo_session_run(s, &rank3, 1, out, 1, &err), BO_ESHAPE);
	assert_string_equal(err.node, "x");
	/* after all that, a good run still works */
	assert_int_equal(bo_session_run(s, &in, 1, out, 1, &err), BO_OK);
	assert_int_equal(out[0].rank, 2);
	assert_int_equal(out[0].dims[1], 5);
	assert_int_equal(bo_session_set_hook(s, (enum bo_act_sites)7, NULL, NULL), BO_EINVAL);
	bo_session_free(s);
	struct bo_session_config bad = { .threads = 100000 };
	s = (struct bo_session *)&s;
	assert_int_equal(bo_session_new(m, &bad, &s, &err), BO_EINVAL);
	assert_null(s);
	bo_model_free(m);
	tb_free(b);
}

/* Operands the loader may accept but no kernel can read: a required input
 * left empty (""), integer tensors where floats are read, empty tensors as
 * Clip bounds or Pad values, shapes whose size overflows. Each must be
 * refused at load or plan time with the node named, never read out of
 * bounds, through NULL or with signed overflow. Each case runs in a child
 * process so that one crash (or sanitizer abort) cannot hide the others. */
#define B(op, inputs) { op, inputs, NULL }
static const struct bad_case {
	const char *op, *inputs;
	const char *node; /* the node the error must name; NULL: "bad" */
} bad_cases[] = {
	/* omitted required inputs */
	B("Conv", "x,"), B("Conv", "x,,f1"), B("Gemm", "xf,"), B("MatMul", "xf,"),
	B("Add", "x,"), B("Mul", ",x"), B("Reshape", "x,"), B("Gather", "sh,"),
	B("Concat", "x,"), B("BatchNormalization", "x,,f1,f1,f1"),
	B("BatchNormalization", "x,f1,f1,f1,"), B("Slice", "sh,,"),
	/* int64 tensors read as floats */
	B("Conv", "x,i1"), B("Conv", "x,f1,i0"), B("Add", "x,i1"), B("Div", "i1,x"),
	B("Gemm", "xf,i2"), B("MatMul", "xf,i2"), B("Clip", "x,i0"), B("Clip", "x,,i0"),
	B("Pad", "x,p,i0"), B("Relu", "i1"), B("Sigmoid", "i0"), B("MaxPool", "i1"),
	B("Flatten", "i1"), B("Softmax", "i1"),
	/* empty float tensors read as scalars */
	B("Clip", "x,e"), B("Clip", "x,,e"), B("Pad", "x,p,e"),
	/* sizes that overflow int64: Reshape to 2^32 x 2^32, Pad by 2^62 twice */
	B("Reshape", "x,big"), B("Pad", "x,hp"),
	/* shape arithmetic 2^62 * 2^62 overflows: refused at the node */
	B("Mul", "k62,k62"),
};

/* 0: refused naming node "bad"; 10: accepted; 11: refused naming another */
static int bad_case_child(const struct bad_case *c)
{
	struct tb_model *b = tb_new();
	tb_input(b, "x", SHAPE(-1, 1, 3, 3));
	tb_init_i64(b, "i0", 0, NULL, DIMS(0));
	tb_init_i64(b, "i1", SHAPE(1, 1, 1, 1), DIMS(2));
	tb_init_i64(b, "i2", SHAPE(9, 2), DIMS(1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9));
	tb_init_i64(b, "p", SHAPE(8), DIMS(0, 0, 1, 1, 0, 0, 1, 1));
	tb_init_i64(b, "sh", SHAPE(2), DIMS(1, 9));
	tb_init_f(b, "f1", SHAPE(1, 1, 1, 1), NULL);
	tb_init_f(b, "e", SHAPE(0), NULL);
	tb_init_i64(b, "big", SHAPE(2), DIMS(1LL << 32, 1LL << 32));
	tb_init_i64(b, "k62", 0, NULL, DIMS(1LL << 62));
	tb_init_i64(b, "hp", SHAPE(8), DIMS(0, 0, 0, 1LL << 62, 0, 0, 0, 1LL << 62));
	tb_node(b, "Flatten", "flat", "x", "xf");
	Onnx__NodeProto *n = tb_node(b, c->op, "bad", c->inputs, "y");
	if (!strcmp(c->op, "Concat"))
		tb_attr_int(b, n, "axis", 1);
	if (!strcmp(c->op, "MaxPool"))
		tb_attr_ints(b, n, "kernel_shape", 2, DIMS(1, 1));
	tb_output(b, "y");
	struct bo_model *m = NULL;
	struct bo_error err;
	bo_status rc = tb_load(b, NULL, &m, &err);
	if (rc == BO_OK) {
		struct bo_session *s = NULL;
		struct bo_session_config cfg = { .threads = 1 };
		if ((rc = bo_session_new(m, &cfg, &s, &err)) == BO_OK) {
			float x[9] = { 1, -2, 3, -4, 5, -6, 7, -8, 9 };
			struct bo_tensor in = { 4, { 1, 1, 3, 3 }, x }, out;
			rc = bo_session_run(s, &in, 1, &out, 1, &err);
			bo_session_free(s);
		}
		bo_model_free(m);
	}
	tb_free(b);
	if (rc == BO_OK)
		return 10;
	return strcmp(err.node, c->node ? c->node : "bad") ? 11 : 0;
}

static void test_bad_operands(void **state)
{
	int n_failed = 0;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* crash for real: cmocka's handlers would resume its runner here */
			static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
			for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
				signal(sigs[k], SIG_DFL);
			if (!getenv("BO_TEST_VERBOSE"))
				freopen("/dev/null", "w", stderr); /* sanitizer reports */
			_exit(bad_case_child(c));
		}
		int st = 0;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		const char *why = NULL;
		char sig[32];
		if (WIFSIGNALED(st)) {
			snprintf(sig, sizeof(sig), "signal %d", WTERMSIG(st));
			why = sig;
		} else if (WEXITSTATUS(st) == 10) {
			why = "accepted";
		} else if (WEXITSTATUS(st) == 11) {
			why = "error names another node";
		} else if (WEXITSTATUS(st) != 0) {
			snprintf(sig, sizeof(sig), "sanitizer report (exit %d)", WEXITSTATUS(st));
			why = sig;
		}
		if (why) {
			n_failed++;
			print_message("    NOT REFUSED: %s(%s): %s\n", c->op, c->inputs, why);
		}
	}
	if (n_failed)
		fail_msg("%d of %zu bad operands were not refused cleanly (listed above; "
			 "BO_TEST_VERBOSE=1 shows sanitizer reports)",
			 n_failed, sizeof(bad_cases) / sizeof(bad_cases[0]));
}

/* ---- tensor files ---- */

static size_t npy_bytes(unsigned char *out, const char *shape, const float *data, size_t n)
{
	char hdr[128];
	int k = snprintf(hdr, sizeof(hdr), "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
			 shape);
	int total = 10 + k + 1, pad = (64 - total % 64) % 64, hl = k + pad + 1;
	memcpy(out, "\x93NUMPY\x01\x00", 8);
	out[8] = (unsigned char)(hl & 0xff);
	out[9] = (unsigned char)(hl >> 8);
	memcpy(out + 10, hdr, (size_t)k);
	memset(out + 10 + k, ' ', (size_t)pad);
	out[10 + k + pad] = '\n';
	memcpy(out + 10 + hl, data, n * sizeof(float));
	return (size_t)(10 + hl) + n * sizeof(float);
}

static void test_tensor_files(void **state)
{
	unsigned char buf[512];
	float v[6] = { 1, 2, 3, 4, 5, 6 };
	size_t len = npy_bytes(buf, "(2, 3)", v, 6);
	char p[4200];
	struct bo_tensor t;
	struct bo_error err;
	path_in_dir(p, sizeof(p), "t.npy");
	write_file(p, buf, len);
	assert_int_equal(bo_tensor_read_file(p, &t, &err), BO_OK);
	assert_int_equal(t.rank, 2);
	assert_int_equal(t.dims[1], 3);
	assert_memory_equal(t.data, v, sizeof(v));
	bo_tensor_release(&t);
	/* every truncation fails cleanly */
	for (size_t cut = 0; cut < len; cut++) {
		write_file(p, buf, cut);
		bo_status rc = bo_tensor_read_file(p, &t, &err);
		if (rc == BO_OK)
			fail_msg(".npy cut at %zu bytes of %zu was accepted", cut, len);
		assert_null(t.data);
		assert_true(err.text[0] != 0);
	}
	/* a header claiming 2^40 values is refused before allocating */
	len = npy_bytes(buf, "(1048576, 1048576)", v, 6);
	write_file(p, buf, len);
	assert_int_equal(bo_tensor_read_file(p, &t, &err), BO_ELIMIT);
	show(&err);
	len = npy_bytes(buf, "(60000, 60000)", v, 6);
	write_file(p, buf, len);
	assert_int_equal(bo_tensor_read_file(p, &t, &err), BO_EMALFORMED);
	assert_non_null(strstr(err.text, "truncated"));
	/* garbage .pb */
	path_in_dir(p, sizeof(p), "t.pb");
	memset(buf, 0xff, 64);
	write_file(p, buf, 64);
	assert_int_not_equal(bo_tensor_read_file(p, &t, &err), BO_OK);
	assert_null(t.data);
	show(&err);
	/* a TensorProto whose data does not match its dims, and truncations
	 * of a good one */
	Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
	int64_t dims[2] = { 2, 3 };
	tp.n_dims = 2;
	tp.dims = dims;
	tp.has_data_type = 1;
	tp.data_type = 1;
	tp.n_float_data = 5;
	tp.float_data = v;
	size_t n = onnx__tensor_proto__pack(&tp, buf);
	write_file(p, buf, n);
	assert_int_equal(bo_tensor_read_file(p, &t, &err), BO_EMALFORMED);
	show(&err);
	tp.n_float_data = 6;
	n = onnx__tensor_proto__pack(&tp, buf);
	write_file(p, buf, n);
	assert_int_equal(bo_tensor_read_file(p, &t, &err), BO_OK);
	assert_memory_equal(t.data, v, sizeof(v));
	bo_tensor_release(&t);
	for (size_t cut = 0; cut < n; cut++) {
		write_file(p, buf, cut);
		assert_int_not_equal(bo_tensor_read_file(p, &t, &err), BO_OK);
		assert_null(t.data);
	}
	/* missing file */
	path_in_dir(p, sizeof(p), "nope.npy");
	assert_int_equal(bo_tensor_read_file(p, &t, &err), BO_ENOENT);
}

/* ---- the error text itself ---- */

static void test_error_format(void **state)
{
	struct tb_model *b = valid_net();
	Onnx__NodeProto *n = tb_node(b, "Conv", "my_conv", "x,w", "z");
	tb_attr_int(b, n, "foo", 1);
	struct bo_model *m = NULL;
	struct bo_error err;
	assert_int_equal(tb_load(b, NULL, &m, &err), BO_EUNSUPPORTED);
	char line[1024];
	bo_error_format(&err, line, sizeof(line));
	assert_non_null(strstr(line, "test.onnx"));
	assert_non_null(strstr(line, "my_conv"));
	assert_non_null(strstr(line, "Conv"));
	assert_non_null(strstr(line, "foo"));
	/* a small buffer is cut, never overrun */
	char tiny[8];
	memset(tiny, 'z', sizeof(tiny));
	bo_error_format(&err, tiny, 6);
	assert_true(memchr(tiny, 0, 6) != NULL);
	assert_true(tiny[6] == 'z' && tiny[7] == 'z');
	for (int st = 0; st <= BO_STATUS_COUNT_; st++)
		assert_non_null(bo_strerror((bo_status)st));
	tb_free(b);
}

/* ---- setup ---- */

static int make_dir(void **state)
{
	const char *base = getenv("BO_TEST_OUT_DIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/malformed.XXXXXX", base && base[0] ? base : "/tmp");
	if (base && base[0])
		mkdir(base, 0755);
	if (!mkdtemp(tmpl))
		return -1;
	snprintf(g_dir, sizeof(g_dir), "%s", tmpl);
	return 0;
}

static int remove_dir(void **state)
{
	static const char *const names[] = { "empty.onnx", "good.onnx", "truncated.onnx",
		"t.npy", "t.pb" };
	char p[4200];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", g_dir, names[i]);
		unlink(p);
	}
	return rmdir(g_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_buffer),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_corrupted_bytes),
		cmocka_unit_test(test_attribute_wrong_type),
		cmocka_unit_test(test_initializer_data_mismatch),
		cmocka_unit_test(test_absurd_dims),
		cmocka_unit_test(test_huge_allocation_claim),
		cmocka_unit_test(test_input_dims_overflow),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_dangling_input),
		cmocka_unit_test(test_duplicate_outputs),
		cmocka_unit_test(test_unsupported_op),
		cmocka_unit_test(test_unsupported_all_listed),
		cmocka_unit_test(test_unsupported_attribute),
		cmocka_unit_test(test_opsets),
		cmocka_unit_test(test_no_outputs_no_graph),
		cmocka_unit_test(test_non_float_input),
		cmocka_unit_test(test_wrong_input_count),
		cmocka_unit_test(test_model_files),
		cmocka_unit_test(test_model_limits),
		cmocka_unit_test(test_plan_shape_mismatch),
		cmocka_unit_test(test_run_arguments),
		cmocka_unit_test(test_bad_operands),
		cmocka_unit_test(test_tensor_files),
		cmocka_unit_test(test_error_format),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
