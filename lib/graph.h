/* The model's internal graph: values (tensors) and nodes, parsed from ONNX
 * once and then shared read-only by every session. Private to lib/. */
#ifndef BO_GRAPH_H
#define BO_GRAPH_H

#include <brownout/model.h>

#include "internal.h"

enum bo_val_kind {
	BO_VAL_RUNTIME = 0, /* produced by a node at run time */
	BO_VAL_INPUT = 1,   /* a graph input */
	BO_VAL_CONST = 2,   /* initializer, Constant, or folded at load */
};

enum bo_dtype { BO_DT_F32 = 1, BO_DT_I64 = 2 };

struct bo_value {
	char *name;
	enum bo_val_kind kind;
	enum bo_dtype dtype;
	int rank;                   /* for inputs and constants; -1 unknown */
	int64_t dims[BO_MAX_RANK];  /* -1 for symbolic input dims */
	int64_t numel;              /* constants only */
	float *f;                   /* constant float data */
	int64_t *i;                 /* constant int data */
	int owns_data;              /* f/i belong to this value */
	int producer;               /* node index, -1 if none */
	int n_consumers;
	int is_output;
	int weight;                 /* index in model->weights, -1 if not a stored weight */
};

/* Every opcode has one entry in bo_ops[] (lib/ops.h, lib/ops.c). */
enum bo_opcode {
	OP_CONV, OP_BN, OP_RELU, OP_CLIP, OP_LEAKYRELU, OP_SIGMOID, OP_ADD, OP_MUL, OP_SUB,
	OP_DIV, OP_MAXPOOL, OP_AVGPOOL, OP_GAP, OP_GMP, OP_FLATTEN, OP_RESHAPE, OP_GEMM,
	OP_MATMUL, OP_CONCAT, OP_SOFTMAX, OP_PAD, OP_IDENTITY, OP_DROPOUT, OP_SHAPE,
	OP_GATHER, OP_UNSQUEEZE, OP_SQUEEZE, OP_CAST, OP_SLICE, OP_TANH,
	OP_HARDSIGMOID, OP_HARDSWISH, OP_ERF, OP_SQRT, OP_SOFTPLUS, OP_EXP, OP_NEG, OP_ABS,
	OP_RECIPROCAL, OP_ELU, OP_SOFTSIGN, OP_POW, OP_TRANSPOSE, OP_REDUCEMEAN, OP_REDUCESUM,
	OP_REDUCEMAX, OP_LAYERNORM, OP_EXPAND, OP_CONSTOFSHAPE, OP_EQUAL, OP_WHERE, OP_RANGE,
	OP_SPLIT, OP_LOGSOFTMAX, OP_PRELU, OP_LOG, OP_FLOOR, OP_CEIL, OP_ROUND, OP_SIGN, OP_SIN,
	OP_COS, OP_SELU, OP_CELU, OP_THRESHOLDEDRELU, OP_REDUCEMIN, OP_REDUCEPROD, OP_REDUCEL1,
	OP_REDUCEL2, OP_REDUCESUMSQUARE, OP_REDUCELOGSUM, OP_REDUCELOGSUMEXP, OP_MOD, OP_NOT,
	OP_SCATTERND, OP_COUNT_
};

#define BO_MAX_IN 8 /* graph inputs and outputs */
#define BO_MAX_NODE_IN 4096 /* inputs of one node (Concat) */

struct bo_window { /* Conv and pooling over 1 or 2 spatial dims */
	int nsp;           /* spatial dims, 1 or 2 (as declared); run as 2 */
	int64_t k[2], s[2], d[2];
	int64_t pb[2], pe[2]; /* pads begin/end */
	int auto_pad;      /* 0 NOTSET, 1 SAME_UPPER, 2 SAME_LOWER, 3 VALID */
	int has_kernel;
	int ceil_mode;
	int count_include_pad;
	int64_t group;
};

struct bo_node {
	enum bo_opcode op;
	char *name;
	char *op_type;
	int n_in, n_out;
	int *in;           /* n_in value indexes, -1 for an omitted optional input */
	int out[2];
	int block;         /* filled per stats query; unused otherwise */
	int dead;          /* folded away at load */
	int src;           /* index of its NodeProto (loader only) */
	union {
		struct bo_window win;
		struct { float alpha, beta; int ta, tb; } gemm;
		struct { float lo, hi; } clip;
		float alpha; /* LeakyRelu */
		struct { int scale, shift; float eps; } bn; /* value indexes */
		int64_t axis; /* Flatten, Concat, Softmax, Gather */
		struct { int n; int64_t axes[BO_MAX_RANK]; } axes; /* (Un)squeeze */
		struct { int mode; float value; int n; int64_t pads[2 * BO_MAX_RANK]; } pad;
		struct { int64_t start, end; int has_end; } shape;
		int to; /* Cast */
		int allowzero;
		struct { float alpha, beta; } hs; /* HardSigmoid */
		struct { int n; int64_t axes[BO_MAX_RANK]; int keepdims, noop; } red; /* Reduce*, Transpose */
		struct { int64_t axis; float eps; } ln; /* LayerNormalization */
		struct { int is_int; float f; int64_t i; } fill; /* ConstantOfShape */
		struct { int64_t axis; int index, count, n; int64_t sizes[16]; } split; /* one output of a Split */
	} p;
	int legacy_softmax; /* opset < 13 coerced-2D semantics */
};

struct bo_weight {
	int value;     /* value index of the stored tensor */
	int node;      /* first consumer */
};

struct bo_meta { char *key, *val; };

struct bo_model {
	char *path;
	int opset;
	char *producer;
	int n_values, cap_values;
	struct bo_value *values;
	int n_nodes;
	struct bo_node *nodes;   /* topologically sorted */
	int max_node_in;         /* the most inputs any node has */
	int n_inputs, n_outputs;
	int *inputs, *outputs;   /* value indexes */
	int n_weights;
	struct bo_weight *weights;
	int n_meta;
	struct bo_meta *meta;
	struct bo_model_limits limits;
};

const char *Bo_op_name(enum bo_opcode op);
int Bo_find_value(const struct bo_model *m, const char *name);

#endif
