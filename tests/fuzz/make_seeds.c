/* Writes the ONNX seeds of tests/fuzz/corpus/onnx/ (and the model the
 * HTTP seeds upload): small valid models, built with the unit tests' model
 * builder (tests/unit/common_onnx.c), that together use every operator
 * the loader knows, initializers, Constant nodes, metadata and a symbolic
 * batch. Run by tests/fuzz/make_seeds.sh; the outputs are committed, so
 * this runs only when the seeds change.
 *   make_seeds DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_onnx.h"

static void save(struct tb_model *b, const char *dir, const char *name)
{
	char path[1024];
	size_t len;
	uint8_t *buf = tb_pack(b, &len);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
	free(buf);
	tb_free(b);
}

/* Conv, BatchNormalization, Relu, MaxPool, Flatten, Gemm on [N,3,8,8] */
static struct tb_model *cnn(void)
{
	struct tb_model *b = tb_new();
	tb_set_producer(b, "fuzz-seed");
	tb_metadata(b, "brownout.mean", "0.5");
	tb_metadata(b, "brownout.std", "0.25");
	tb_small_cnn(b);
	return b;
}

/* the model the HTTP seeds upload: [N,1,2,2] -> Flatten -> Gemm -> 10 */
static struct tb_model *tiny(void)
{
	struct tb_model *b = tb_new();
	static float w[40], bias[10];
	for (int i = 0; i < 40; i++)
		w[i] = (float)(i % 5) * 0.1f;
	tb_input(b, "x", SHAPE(-1, 1, 2, 2));
	tb_init_f(b, "w", SHAPE(4, 10), w);
	tb_init_f(b, "b", SHAPE(10), bias);
	tb_node(b, "Flatten", "/Flatten", "x", "f");
	tb_node(b, "MatMul", "/fc/MatMul", "f,w", "m");
	tb_node(b, "Add", "/fc/Add", "m,b", "a");
	tb_node(b, "Relu", "/relu/Relu", "a", "y");
	tb_output(b, "y");
	return b;
}

/* pools, activations, elementwise ops, Clip with inputs, Pad, Softmax */
static struct tb_model *ops(void)
{
	struct tb_model *b = tb_new();
	tb_set_opset(b, 17);
	tb_input(b, "x", SHAPE(1, 2, 6, 6));
	tb_init_f(b, "lo", SHAPE(1), (const float[]){ 0 });
	tb_init_f(b, "hi", SHAPE(1), (const float[]){ 6 });
	tb_init_f(b, "k", SHAPE(1), (const float[]){ 2 });
	tb_init_i64(b, "pads", SHAPE(8), DIMS(0, 0, 1, 1, 0, 0, 1, 1));
	tb_node(b, "Clip", "clip", "x,lo,hi", "c");
	Onnx__NodeProto *n = tb_node(b, "LeakyRelu", "lrelu", "c", "l");
	tb_attr_float(b, n, "alpha", 0.1f);
	tb_node(b, "Sigmoid", "sig", "l", "s");
	tb_node(b, "Tanh", "tanh", "s", "t");
	tb_node(b, "Mul", "mul", "t,k", "m");
	tb_node(b, "Sub", "sub", "m,k", "sb");
	tb_node(b, "Div", "div", "sb,k", "d");
	tb_node(b, "Pad", "pad", "d,pads", "pd");
	n = tb_node(b, "AveragePool", "avg", "pd", "ap");
	tb_attr_ints(b, n, "kernel_shape", 2, DIMS(2, 2));
	tb_attr_ints(b, n, "strides", 2, DIMS(2, 2));
	tb_node(b, "GlobalMaxPool", "gmp", "ap", "g1");
	tb_node(b, "GlobalAveragePool", "gap", "ap", "g2");
	tb_node(b, "Add", "add", "g1,g2", "g");
	tb_node(b, "Flatten", "flat", "g", "f");
	tb_node(b, "Dropout", "drop", "f", "dr");
	tb_node(b, "Identity", "id", "dr", "i");
	n = tb_node(b, "Softmax", "sm", "i", "y");
	tb_attr_int(b, n, "axis", 1);
	tb_output(b, "y");
	return b;
}

/* shape ops: Constant, Shape, Gather, Reshape, Concat, Slice, Squeeze,
 * Unsqueeze, Cast */
static struct tb_model *shapes(void)
{
	struct tb_model *b = tb_new();
	tb_input(b, "x", SHAPE(-1, 1, 4, 4));
	Onnx__NodeProto *n = tb_node(b, "Constant", "shape_c", "", "newshape");
	tb_attr_tensor(b, n, "value", tb_tensor_i64(b, "v", SHAPE(2), DIMS(-1, 16)));
	tb_node(b, "Shape", "shape", "x", "sh");
	tb_init_i64(b, "zero", SHAPE(1), DIMS(0));
	tb_init_i64(b, "one", SHAPE(1), DIMS(1));
	tb_init_i64(b, "eight", SHAPE(1), DIMS(8));
	tb_init_i64(b, "ax", SHAPE(1), DIMS(1));
	tb_node(b, "Gather", "gather", "sh,zero", "n");
	tb_node(b, "Reshape", "reshape", "x,newshape", "r");
	tb_node(b, "Slice", "slice", "r,zero,eight,ax", "s1");
	tb_node(b, "Slice", "slice2", "r,eight,eight,ax", "s2");
	n = tb_node(b, "Concat", "concat", "s1,s2", "cc");
	tb_attr_int(b, n, "axis", 1);
	tb_node(b, "Unsqueeze", "unsq", "cc,ax", "u");
	tb_node(b, "Squeeze", "sq", "u,ax", "q");
	n = tb_node(b, "Cast", "cast", "q", "y");
	tb_attr_int(b, n, "to", 1);
	tb_output(b, "y");
	return b;
}

/* the smallest: one Relu, no initializers, opset 7 */
static struct tb_model *relu(void)
{
	struct tb_model *b = tb_new();
	tb_set_opset(b, 7);
	tb_input(b, "x", SHAPE(-1, 4));
	tb_node(b, "Relu", "r", "x", "y");
	tb_output(b, "y");
	return b;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	save(cnn(), argv[1], "cnn.onnx");
	save(tiny(), argv[1], "tiny.onnx");
	save(ops(), argv[1], "ops.onnx");
	save(shapes(), argv[1], "shapes.onnx");
	save(relu(), argv[1], "relu.onnx");
	return 0;
}
