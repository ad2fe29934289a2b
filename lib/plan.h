/* Execution plans: the model's graph specialised to concrete input shapes.
 * Private to lib/. */
#ifndef BO_PLAN_H
#define BO_PLAN_H

#include "graph.h"
#include "vmath.h"

struct bo_shape {
	int rank;
	int64_t d[BO_MAX_RANK];
};

struct bo_plan {
	const struct bo_model *m;
	struct bo_shape *shape;   /* per value */
	int64_t **known;          /* per value: int64 data computed at plan time */
	int64_t *known_n;
	unsigned char *skip;      /* per node: folded or dead */
	struct bo_window *win;    /* per node: window with pads resolved */
	int64_t (*pads)[2 * BO_MAX_RANK]; /* per node: Pad's resolved pads */
	int *root;                /* per value: value whose storage it uses; -1 const/known */
	int64_t *offset;          /* per root value: float offset in the arena */
	int *order;               /* nodes to run, in order */
	int n_order;
	int64_t arena_floats;
	int64_t scratch_floats;   /* im2col + GEMM staging per thread (and Winograd's) */
	/* Set by the session after Bo_plan_build (which leaves them 0/NULL):
	 * bo_session_config.conv_algo and the session's transformed-weight
	 * cache. Without a cache every Conv runs as im2col. */
	int conv_algo;
	struct bo_wino_cache *wcache;
	/* Re-planning a fixed-batch model (Bo_plan_build_batch): the model's
	 * batch b0, the inputs' batch b, and per node whether a shape rule
	 * rewrote a constant leading b0 to b (NULL when b0 is 0). */
	int64_t b0, b;
	unsigned char *rebatched;
};

/* Element count, saturating at INT64_MAX (never signed overflow); plans
 * cap every shape at max_tensor_elems, so callers of a built plan never see
 * the saturated value. */
static inline int64_t Bo_shape_numel(const struct bo_shape *s)
{
	int64_t n = 1;
	for (int i = 0; i < s->rank; i++)
		if (__builtin_mul_overflow(n, s->d[i], &n))
			return INT64_MAX;
	return n;
}

/* Shapes of the graph inputs, in order. */
bo_status Bo_plan_build(const struct bo_model *m, const struct bo_shape *inputs,
			int64_t max_floats, struct bo_plan *p, struct bo_error *err);
void Bo_plan_release(struct bo_plan *p);

/* The same for a model whose batch is fixed at b0 (bo_model_fixed_batch),
 * planned for inputs whose dim 0 is another batch b: the inputs' dim 0 may
 * differ from the file's, and a Reshape (or Expand of a broadcast row)
 * whose constant target shape starts with b0 gets b there. Whether the
 * result computes what the model does at b0, sample by sample, is
 * Bo_plan_rebatch_check's to say. */
bo_status Bo_plan_build_batch(const struct bo_model *m, const struct bo_shape *inputs,
			      int64_t max_floats, int64_t b0, struct bo_plan *p,
			      struct bo_error *err);

/* Compare plan p (Bo_plan_build_batch at batch p->b) with ref (the same
 * inputs at the model's batch p->b0): returns -1 when every node computes
 * per sample what it computes at b0 (every value that depends on the
 * inputs has the batch as its dim 0 and otherwise ref's shape, no node
 * mixes samples, the batch size is read only as a shape); else the index
 * of the first node that pins the batch (-2: out of memory), with why
 * filled in. */
int Bo_plan_rebatch_check(const struct bo_plan *ref, const struct bo_plan *p,
			  struct bo_error *why);

/* bo_model_batch_replans, with the plan for `batch` held to max_floats of
 * activations and scratch (<= 0: no limit): over it, 0 (runs of the
 * model's batch need less). */
int Bo_plan_replans(const struct bo_model *m, int64_t batch, int64_t max_floats,
		    struct bo_error *why);

/* Floating-point operations of node ni under plan p (Conv, Gemm, MatMul:
 * 2 x multiply-adds; 0 for the rest). */
int64_t Bo_node_flops(const struct bo_plan *p, int ni);

/* Activation fusion. A Conv whose output is read only by the Relu or Clip
 * that runs right after it, in place, can apply that activation to its
 * output while the output is still in cache (ops.c: per GEMM column block,
 * per depthwise row); the activation node then has nothing left to do.
 * Relu and Clip are exact, so the values are bit-identical to the
 * unfused run. The same for SiLU, x * Sigmoid(x) as PyTorch exports it (a
 * Sigmoid of the Conv's output and a Mul of the two, the Conv's output
 * read by nothing else, the Mul of it and the Sigmoid, in this order and
 * in place over it): Bo_vsilu is
 * bit-identical to the Sigmoid and Mul kernels. The session fuses only
 * when no tensor the fusion leaves unwritten (the Conv's output, the
 * Sigmoid's) is a hooked site (a hook must see it unclipped), so fault
 * injection sees the same tensors. */
struct bo_act {
	int kind; /* 0 none, 1 Relu, 2 Clip, 3 SiLU */
	float lo, hi;
};

/* y[0..n) = act(y) for Relu and Clip (kind 1, 2; others: nothing),
 * exactly as the Relu and Clip kernels compute it (NaN and -0 included:
 * those kernels call this too). Small enough to inline into a kernel's
 * inner loops (depthwise.c). */
static inline void Bo_act_apply_rc(const struct bo_act *a, float *y, int64_t n)
{
	if (a->kind == 1) {
		for (int64_t i = 0; i < n; i++)
			y[i] = y[i] > 0.f ? y[i] : 0.f;
	} else if (a->kind == 2) {
		float lo = a->lo, hi = a->hi;
		for (int64_t i = 0; i < n; i++) {
			float v = y[i] < lo ? lo : y[i];
			y[i] = v > hi ? hi : v;
		}
	}
}

/* The same for every kind, SiLU as the Sigmoid and Mul kernels; Relu and
 * Clip through vmath.c (the same formulas, 8 lanes with AVX2). */
static inline void Bo_act_apply(const struct bo_act *a, float *y, int64_t n)
{
	if (a->kind == 3)
		Bo_vsilu(y, y, n, 0);
	else if (a->kind == 1)
		Bo_vrelu(y, y, n);
	else if (a->kind == 2)
		Bo_vclip(y, y, n, a->lo, a->hi);
}

/* Whether Conv node ci and node ai (next in p->order) can run fused: ai is
 * a Relu or a Clip of ci's output, its only reader, in place (same
 * storage), ci's output is no graph output, and ci does not run as
 * Winograd. ain: ai's resolved inputs (Clip's bounds). Fills *a. The
 * caller still checks hooks. ci may also be an Add of two tensors of its
 * output's size (ResNet's residual Add + Relu): Bo_run_conv_act then
 * applies *a to each chunk of sums while it is in cache. */
int Bo_conv_act_fusable(const struct bo_plan *p, int ci, int ai, const float *const *ain,
			struct bo_act *a);
/* Whether node ai is a Relu or a Clip whose bounds are known (ain: its
 * resolved inputs); fills *a so that Bo_act_apply_rc computes what the
 * node's kernel does. */
int Bo_act_of(const struct bo_plan *p, int ai, const float *const *ain, struct bo_act *a);
/* Whether nodes si, mi (in this order in p->order) compute SiLU of value
 * x: si a Sigmoid of x whose output only mi reads, mi a Mul of x and that
 * output (either order), all three of one size, neither output a graph
 * output. Then y = Bo_vsilu(x) gives mi's output bit for bit. inplace:
 * also require mi's output in x's storage and x read by nothing but si
 * and mi (so that a Conv producing x can produce y instead). The caller
 * checks hooks on x and on si's output. */
int Bo_silu_fusable(const struct bo_plan *p, int x, int si, int mi, int inplace);
/* Whether Conv node ci and nodes si, mi after it in p->order can run as
 * one: SiLU of ci's output, in place (Bo_silu_fusable), and ci not
 * Winograd. Fills *a with SiLU. The caller checks hooks. */
int Bo_conv_silu_fusable(const struct bo_plan *p, int ci, int si, int mi, struct bo_act *a);
/* Bo_run_node for a Conv (or an Add, above), with *a applied to its output. */
bo_status Bo_run_conv_act(const struct bo_plan *p, int ci, const float *const *in, float *out,
			  float *scratch, const struct bo_act *a, struct bo_error *err);

#endif
