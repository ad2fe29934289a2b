/* brownout: loading ONNX models and describing what they store.
 *
 * A struct bo_model is immutable once loaded and may be shared read-only by
 * any number of sessions and threads. */
#ifndef BROWNOUT_MODEL_H
#define BROWNOUT_MODEL_H

#include <brownout/status.h>
#include <brownout/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bo_model;

/* Caps on what a model file may ask for. Zero fields take the defaults. */
struct bo_model_limits {
	int64_t max_file_bytes;    /* default 2 GiB */
	int64_t max_nodes;         /* default 100,000 */
	int64_t max_tensor_elems;  /* per tensor, default 1<<30 */
	int64_t max_total_elems;   /* all initializers together, default 1<<30 */
};

/* Load and validate an ONNX model (opsets 7..17 of the default domain).
 * On failure *out is NULL and err says file, node, op, field and, for
 * protobuf damage, the byte offset. */
bo_status bo_model_load(const char *path, struct bo_model **out, struct bo_error *err);
/* The operators of an ONNX file that brownout does not run, in order of
 * first appearance: "TYPE xCOUNT (first: NODE), ..." ("" when all are
 * supported). A refused model's error text lists them too, cut to fit
 * struct bo_error (ending in "..."). *list is malloc'ed: free() it. */
bo_status bo_model_unsupported_ops(const char *path, char **list, struct bo_error *err);
bo_status bo_model_load_ex(const char *path, const struct bo_model_limits *limits,
			   struct bo_model **out, struct bo_error *err);
/* Same from memory; `name` is used in error messages. */
bo_status bo_model_load_buffer(const void *data, size_t len, const char *name,
			       const struct bo_model_limits *limits, struct bo_model **out,
			       struct bo_error *err);
void bo_model_free(struct bo_model *m);

/* Graph inputs (initializers excluded) and outputs. Dims not fixed in the
 * file (symbolic batch) are -1. */
int bo_model_n_inputs(const struct bo_model *m);
/* The batch every input's dimension 0 is fixed at (a model exported
 * without a dynamic batch axis), or 0 when the batch is dynamic. */
int64_t bo_model_fixed_batch(const struct bo_model *m);
/* Whether a batch of `batch` images runs through a fixed-batch model as
 * one graph re-planned for that batch (1: every node computes per image,
 * so the results are those of runs at the model's own batch), or as runs
 * of the model's batch (0; `why` then names the node that pins the batch
 * and says how). 1 for a dynamic batch and for batch == the fixed one.
 * bo_session_run decides the same way. */
int bo_model_batch_replans(const struct bo_model *m, int64_t batch, struct bo_error *why);
int bo_model_n_outputs(const struct bo_model *m);
const char *bo_model_input_name(const struct bo_model *m, int i);
const char *bo_model_output_name(const struct bo_model *m, int i);
int bo_model_input_shape(const struct bo_model *m, int i, int64_t dims[BO_MAX_RANK]);
int bo_model_opset(const struct bo_model *m);
const char *bo_model_producer(const struct bo_model *m);
/* Value of metadata_props[key], or NULL. */
const char *bo_model_metadata(const struct bo_model *m, const char *key);

/* Which tensors count as stored activations (spec section 1). */
enum bo_act_sites {
	BO_SITES_RELU = 0,        /* outputs of Relu and of Clip with min >= 0 */
	BO_SITES_CONV_INPUTS = 1, /* data inputs of Conv, Gemm, MatMul */
	BO_SITES_ACTIVATIONS = 2, /* outputs of every elementwise activation function */
	BO_SITES_ACTIVATIONS_GATED = 3, /* activations + gated products x * Sigmoid(y) */
};
/* The rule used when none is chosen. */
#define BO_SITES_DEFAULT BO_SITES_ACTIVATIONS
/* "activations", "relu", "conv-inputs", "activations-gated" */
const char *bo_act_sites_name(enum bo_act_sites s);
/* The rule named `name`; BO_EINVAL (with the names in err) if none. */
bo_status bo_act_sites_parse(const char *name, enum bo_act_sites *out, struct bo_error *err);
/* "activations, activations-gated, relu or conv-inputs", for usage messages. */
#define BO_SITES_CHOICES "activations, activations-gated, relu or conv-inputs"

/* Block map (spec section 5): an ordered list of rules "PATTERN=BLOCK",
 * where PATTERN is a node-name prefix, or a POSIX extended regular
 * expression when written "~REGEX". The first rule that matches wins;
 * nodes no rule matches fall back to the first path component of their
 * name ("/layer1/layer1.0/conv1/Conv" -> "layer1"). */
struct bo_block_map;
/* Parse "P1=B1,P2=B2" or, when text starts with '@', the file named after
 * it with one rule per line ('#' comments). */
bo_status bo_block_map_parse(const char *text, struct bo_block_map **out, struct bo_error *err);
void bo_block_map_free(struct bo_block_map *map);
/* Block of a node name under map (may be NULL), written to buf; "" when the
 * node belongs to no block. */
const char *bo_block_of(const struct bo_block_map *map, const char *node_name, char *buf,
			size_t size);

struct bo_block_stats {
	char name[96];
	int64_t parameters;
	int64_t activations;
};

struct bo_op_count {
	char op[32];
	int count;
};

/* Spec section 1 and 5 counts for one input sample. */
struct bo_model_stats {
	int64_t parameters;
	int64_t activations;
	enum bo_act_sites sites;
	int64_t input_dims[BO_MAX_RANK]; /* the per-sample input shape used */
	int input_rank;
	int n_blocks;
	struct bo_block_stats *blocks; /* in order of first appearance; "" = outside every block */
	int n_ops;
	struct bo_op_count *ops;       /* op types as in the file, with counts */
	int64_t flops;                 /* multiply-adds x2 of Conv/Gemm/MatMul per sample */
};

/* Compute stats for the per-sample input shape `sample_dims` (rank
 * sample_rank, without the batch dimension; NULL to use the file's).
 * Release with bo_model_stats_release(). */
bo_status bo_model_stats(const struct bo_model *m, const int64_t *sample_dims, int sample_rank,
			 const struct bo_block_map *map, enum bo_act_sites sites,
			 struct bo_model_stats *out, struct bo_error *err);
void bo_model_stats_release(struct bo_model_stats *st);

/* Stored weights (spec section 1): float initializers read by Conv, Gemm
 * and MatMul, and the scale and shift of every BatchNormalization; after
 * them, every other float constant of more than one value a node reads,
 * and the scale and bias of Layer/Instance/GroupNormalization. An Identity
 * of an initializer is a weight of its own. Sessions
 * may replace each one per trial (bo_session_set_weight). */
struct bo_weight_info {
	const char *name;      /* initializer name, or "<bn node>.scale"/".shift" */
	const char *node;      /* name of the first node that reads it */
	const char *op;        /* that node's op type */
	int rank;
	int64_t dims[BO_MAX_RANK];
	int64_t numel;
	const float *clean;    /* the clean values, owned by the model */
};
int bo_model_n_weights(const struct bo_model *m);
void bo_model_weight(const struct bo_model *m, int i, struct bo_weight_info *info);

#ifdef __cplusplus
}
#endif
#endif
