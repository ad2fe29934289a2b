/* A tiny ONNX model builder for unit tests.
 *
 * Builds an Onnx__ModelProto (protobuf-c structs) in memory: float graph
 * inputs with shapes (-1 = the symbolic dimension "N"), float and int64
 * initializers, nodes with int / ints / float / string / tensor attributes,
 * outputs and metadata_props; the opset defaults to 13. tb_pack() serializes
 * it to a malloc'd buffer. Everything the builder allocates is owned by the
 * builder and released by tb_free(); the Onnx__* pointers it returns stay
 * valid until then, so tests may tweak them to make malformed models.
 *
 * List arguments are comma-separated names: tb_node(b, "Clip", "c", "x,,hi",
 * "y") gives inputs "x", "" (an omitted optional input) and "hi". */
#ifndef TESTS_COMMON_ONNX_H
#define TESTS_COMMON_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include <brownout/brownout.h>

#include "onnx.pb-c.h"

struct tb_model;

/* A new model with an empty graph, opset 13, ir_version 8. Aborts on OOM. */
/* int64 dims inline: tb_attr_ints(b, n, "pads", 4, DIMS(1, 1, 1, 1)) */
#define DIMS(...) ((const int64_t[]){ __VA_ARGS__ })
#define NDIMS(...) ((int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)))
/* rank, dims: tb_input(b, "x", SHAPE(1, 3, 5, 5)) */
#define SHAPE(...) NDIMS(__VA_ARGS__), DIMS(__VA_ARGS__)

struct tb_model *tb_new(void);
void tb_free(struct tb_model *b);

/* The underlying protos, for tests that break them on purpose. */
Onnx__ModelProto *tb_proto(struct tb_model *b);
Onnx__GraphProto *tb_graph(struct tb_model *b);

/* Builder-owned zeroed memory and string copies (freed by tb_free). */
void *tb_alloc(struct tb_model *b, size_t size);
char *tb_strdup(struct tb_model *b, const char *s);

/* Default-domain opset; opset <= 0 removes every opset_import entry. */
void tb_set_opset(struct tb_model *b, int64_t opset);
void tb_set_producer(struct tb_model *b, const char *name);
void tb_metadata(struct tb_model *b, const char *key, const char *value);

/* Graph input of element type `elem_type` (1 = float); dims[i] = -1 is the
 * symbolic dimension "N"; rank < 0 leaves the shape out entirely. */
Onnx__ValueInfoProto *tb_input_typed(struct tb_model *b, const char *name, int elem_type,
				     int rank, const int64_t *dims);
Onnx__ValueInfoProto *tb_input(struct tb_model *b, const char *name, int rank,
			       const int64_t *dims);
Onnx__ValueInfoProto *tb_output(struct tb_model *b, const char *name);

/* Stand-alone tensors (for Constant nodes), not added to the graph.
 * data may be NULL for zeros; numel is the product of dims. */
Onnx__TensorProto *tb_tensor_f(struct tb_model *b, const char *name, int rank,
			       const int64_t *dims, const float *data);
Onnx__TensorProto *tb_tensor_i64(struct tb_model *b, const char *name, int rank,
				 const int64_t *dims, const int64_t *data);
/* The same, added to the graph's initializers. */
Onnx__TensorProto *tb_init_f(struct tb_model *b, const char *name, int rank,
			     const int64_t *dims, const float *data);
Onnx__TensorProto *tb_init_i64(struct tb_model *b, const char *name, int rank,
			       const int64_t *dims, const int64_t *data);
/* A float initializer stored as raw_data of `nbytes` bytes (which need not
 * match the dims: for malformed-input tests). */
Onnx__TensorProto *tb_init_raw(struct tb_model *b, const char *name, int rank,
			       const int64_t *dims, const void *bytes, size_t nbytes);

/* A node; inputs and outputs are comma-separated lists ("" = none). */
Onnx__NodeProto *tb_node(struct tb_model *b, const char *op_type, const char *name,
			 const char *inputs, const char *outputs);
void tb_attr_int(struct tb_model *b, Onnx__NodeProto *n, const char *name, int64_t v);
void tb_attr_ints(struct tb_model *b, Onnx__NodeProto *n, const char *name, int count,
		  const int64_t *v);
void tb_attr_float(struct tb_model *b, Onnx__NodeProto *n, const char *name, float v);
void tb_attr_floats(struct tb_model *b, Onnx__NodeProto *n, const char *name, int count,
		    const float *v);
void tb_attr_string(struct tb_model *b, Onnx__NodeProto *n, const char *name, const char *s);
void tb_attr_tensor(struct tb_model *b, Onnx__NodeProto *n, const char *name,
		    Onnx__TensorProto *t);

/* Serialize to a malloc'd buffer (free() it); *len gets its size. */
/* The small CNN of the malformed-input tests and the fuzz seeds:
 * x [N,3,8,8] -> Conv -> BN -> Relu -> MaxPool -> Flatten -> Gemm (5). */
void tb_small_cnn(struct tb_model *b);

uint8_t *tb_pack(struct tb_model *b, size_t *len);

/* Pack and bo_model_load_buffer() in one go (limits may be NULL). */
bo_status tb_load(struct tb_model *b, const struct bo_model_limits *limits,
		  struct bo_model **out, struct bo_error *err);

/* tb_load() without limits, then tb_free(b): the model, or NULL after
 * printing the loader's error to stderr. */
struct bo_model *tb_load_free(struct tb_model *b);

#endif
