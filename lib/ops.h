/* The operator table: everything the engine knows about one ONNX operator,
 * in one entry (lib/ops.c): its name, the attributes it accepts, its arity,
 * which inputs it reads as float data, how its attributes are parsed, its
 * shape inference (and folding of integer shape arithmetic), its kernel and
 * its FLOPs. The loader, the planner and the session only walk this table;
 * adding an operator is one enum value in graph.h and one entry here.
 * Private to lib/. */
#ifndef BO_OPS_H
#define BO_OPS_H

#include "plan.h"

enum {
	BO_OPF_VIEW = 1,    /* output aliases input 0 (same values, maybe new shape) */
	BO_OPF_INPLACE = 2, /* elementwise over input 0: may write over it */
	BO_OPF_FOLDS = 4,   /* may take integer shape tensors in every data slot (folds) */
};

/* The node being parsed: attribute readers (lib/onnx_load.c). */
struct bo_attrs {
	void *loader;
	const void *np;
	int opset;
};
bo_status Bo_attr_int(struct bo_attrs *a, const char *name, int64_t def, int64_t *out);
bo_status Bo_attr_float(struct bo_attrs *a, const char *name, float def, float *out);
/* at most `max` values; *n = -1 when absent */
bo_status Bo_attr_ints(struct bo_attrs *a, const char *name, int64_t *vals, int max, int *n);
bo_status Bo_attr_string(struct bo_attrs *a, const char *name, const char *def, char *buf,
			 size_t size);
int Bo_attr_has(struct bo_attrs *a, const char *name);
bo_status Bo_attr_fail(struct bo_attrs *a, const char *attr, bo_status st, const char *msg,
		       const char *detail);
bo_status Bo_attr_window(struct bo_attrs *a, struct bo_window *w, int is_conv);
bo_status Bo_attr_fill(struct bo_attrs *a, int *is_int, float *f, int64_t *i);
const char *Bo_attr_dtype_name(int dt);

/* Shape inference of one node (lib/plan.c fills it in). */
struct bo_ictx {
	struct bo_plan *p;
	int ni;
	struct bo_shape *o;       /* output 0's shape, to fill */
	const struct bo_shape *x; /* input 0's shape */
	const int64_t *kv;        /* input 0's integer data, when known at plan time */
	int64_t kn;
	int x_known;
	struct bo_error *err;
};

/* One kernel call. */
struct bo_kctx {
	const struct bo_plan *p;
	int ni;
	const struct bo_node *n;
	const float *const *in;
	float *y;
	float *scratch;
	int64_t total; /* values in output 0 */
	struct bo_error *err;
};

struct Bo_op_def {
	const char *name;
	const char *const *attrs; /* accepted attribute names, NULL-terminated; NULL: none */
	int attrs_before;         /* > 0: attrs accepted only below this opset */
	int min_in, max_in;       /* max_in < 0: any number */
	int old_opset, old_max_in; /* below old_opset at most old_max_in inputs */
	unsigned optional;        /* bit k: input k may be omitted ("") */
	unsigned data_in;         /* bit k: input k is read as float data (bit 31: and all later) */
	unsigned flags;           /* BO_OPF_* */
	bo_status (*parse)(struct bo_attrs *a, struct bo_node *n);
	bo_status (*infer)(struct bo_ictx *c);
	bo_status (*kernel)(const struct bo_kctx *c);
	int64_t (*flops)(const struct bo_plan *p, const struct bo_node *n);
};

extern const struct Bo_op_def bo_ops[OP_COUNT_];

static inline const struct Bo_op_def *Bo_op_def(enum bo_opcode op)
{
	return &bo_ops[op];
}

static inline int Bo_op_reads_float(enum bo_opcode op, int k)
{
	unsigned m = bo_ops[op].data_in;
	return k >= 31 ? (m >> 31) & 1 : (m >> k) & 1;
}

/* Lookup by ONNX op_type; -1 when unsupported. */
int Bo_op_lookup(const char *type);

/* Kernels (ops.c). `scratch` holds p->scratch_floats floats. Weight
 * pointers already resolved by the caller: in[k] is the data of input k. */
bo_status Bo_run_node(const struct bo_plan *p, int node, const float *const *in, float *out,
		      float *scratch, struct bo_error *err);

/* Planner helpers the shape rules use (lib/plan.c). */
/* Fail with err located at node ni (file, node, op type) and a printf-style
 * message, at most 255 characters of it. */
bo_status Bo_node_fail(const struct bo_model *m, int ni, struct bo_error *err, bo_status st,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void Bo_shape_str(const struct bo_shape *s, char *buf, size_t size);
int Bo_plan_known(const struct bo_plan *p, int v, const int64_t **vals, int64_t *n);
bo_status Bo_plan_set_known(struct bo_plan *p, int v, const int64_t *data, int64_t n, int rank,
			    const int64_t *dims);
int Bo_broadcast(const struct bo_shape *a, const struct bo_shape *b, struct bo_shape *o);
int64_t Bo_window_out(int64_t in, struct bo_window *w, int i, int is_pool);

static inline int64_t Bo_norm_axis(int64_t a, int rank)
{
	return a < 0 ? a + rank : a;
}

#endif
