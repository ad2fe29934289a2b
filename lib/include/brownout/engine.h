/* brownout: running a model.
 *
 * A session owns everything mutable needed to evaluate one model: a plan
 * (topological order, shapes, buffer offsets) per input shape, one arena per
 * thread, im2col scratch, and optional per-trial weight replacements. The
 * model itself stays shared and read-only.
 *
 * Threads: a session with T threads splits every batch along dimension 0 into
 * T slices and runs them concurrently; OpenBLAS is pinned to one thread per
 * caller (bo_engine_init), so T sessions of 1 thread, or 1 session of T
 * threads, use exactly T cores. */
#ifndef BROWNOUT_ENGINE_H
#define BROWNOUT_ENGINE_H

#include <brownout/model.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pin OpenBLAS's own threading to one thread. Idempotent; sessions call it. */
void bo_engine_init(void);

struct bo_session;

struct bo_session_config {
	int threads;            /* >= 1; batches are split across them */
	int64_t max_arena_bytes; /* cap on activation memory per thread, 0 = 8 GiB */
	/* Algorithm for 3x3 stride-1 dilation-1 group-1 Conv: 0 auto (Winograd
	 * F(2x2,3x3) where it measured faster than im2col: >= 8 input channels
	 * and >= 2x2 outputs; see lib/winograd.c), 1 im2col + GEMM only, 2
	 * Winograd wherever applicable. Results agree to ~1e-6 relative.
	 * Winograd keeps transformed copies of those Convs' weights (16/9 of
	 * their size) per session. Other values are BO_EINVAL. */
	int conv_algo;
};

bo_status bo_session_new(const struct bo_model *m, const struct bo_session_config *cfg,
			 struct bo_session **out, struct bo_error *err);
void bo_session_free(struct bo_session *s);

/* Run the graph on `inputs` (one per graph input, in order, fully shaped).
 * On success outputs[i] (n_outputs of them) point into session memory valid
 * until the next run or free; do not free them. Splits along dim 0 across
 * the session's threads when every input has the same dim 0 >= threads.
 * A model whose batch is fixed (bo_model_fixed_batch) runs any batch:
 * re-planned for it when bo_model_batch_replans says so, else as runs of
 * its own batch (a short tail padded). */
bo_status bo_session_run(struct bo_session *s, const struct bo_tensor *inputs, int n_inputs,
			 struct bo_tensor *outputs, int n_outputs, struct bo_error *err);

/* Per-trial weights: point weight i (see bo_model_weight) at `data` (numel
 * floats, owned by the caller, must stay valid while runs use it), or back
 * at the clean copy with data == NULL. The session caches data derived
 * from weights (Winograd-transformed Conv weights) and recomputes it only
 * after this call, so pointer identity stands for content identity: to
 * change the values of an installed weight, even in place behind the same
 * pointer, call bo_session_set_weight again before the next run; writing
 * to it without that call leaves later runs using stale values. Not to be
 * called while a run of this session is in progress. */
bo_status bo_session_set_weight(struct bo_session *s, int i, const float *data);

/* An activation hook is called once per stored activation tensor per run
 * and thread slice, right after the tensor is produced (the graph input:
 * before the first node), and may modify it in place; every consumer then
 * reads the modified values. */
struct bo_site {
	int index;            /* 0..n_sites-1, stable for a model and site kind */
	const char *name;     /* tensor name */
	const char *node;     /* node that consumes it first */
	int is_unsigned;      /* spec section 1 */
	int64_t sample_numel; /* values per image */
};
/* The model's stored activations of one kind, in the order hooks see them
 * (site.index = position). sample_numel is 0 here (it depends on the input
 * shape). Names point into the model. Free the array with free(). */
bo_status bo_model_site_list(const struct bo_model *m, enum bo_act_sites kind,
			     struct bo_site **sites, int *n, struct bo_error *err);

typedef bo_status (*bo_hook_fn)(void *ctx, const struct bo_site *site, float *data,
				int64_t n_images, int64_t first_image);

/* Install (fn != NULL) or remove the hook for the given kind of site.
 * `first_image` passed to the hook is image_base + the slice's offset in the
 * batch, so callers can key randomness by image. */
bo_status bo_session_set_hook(struct bo_session *s, enum bo_act_sites sites, bo_hook_fn fn,
			      void *ctx);
void bo_session_set_image_base(struct bo_session *s, int64_t image_base);

/* Profiling: time and floating-point work per op type, summed over runs
 * and threads since profiling was switched on (which resets the counters). */
struct bo_op_profile {
	const char *op;   /* ONNX op type */
	int64_t calls;
	double seconds;   /* thread-seconds */
	int64_t flops;    /* 2 x multiply-adds (Conv, Gemm, MatMul) */
};
void bo_session_set_profiling(struct bo_session *s, int on);
/* Fill up to max entries, most time first; returns how many op types ran. */
int bo_session_profile(const struct bo_session *s, struct bo_op_profile *out, int max);

/* Peak activation bytes of the current plan, per thread. */
int64_t bo_session_arena_bytes(const struct bo_session *s);

#ifdef __cplusplus
}
#endif
#endif
