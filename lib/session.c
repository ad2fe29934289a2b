/* Sessions: running plans over per-thread arenas.
 *
 * Design: a session has one slot per thread. A batch of B images is cut
 * along dimension 0 into T slices; slot t plans for its slice's shape (the
 * plan is rebuilt only when that shape changes, e.g. for the last, shorter
 * batch), owns one arena (activations) and one scratch buffer (im2col), and
 * runs the whole graph on its slice. Slots share nothing writable, so the
 * only synchronisation is the join at the end of a run. OpenBLAS is pinned
 * to one thread: the parallelism is ours and explicit.
 *
 * Weights: every stored weight is read through s->weights[i], which points
 * at the model's clean copy unless a caller installed a per-trial copy.
 * Activation hooks are called on each stored activation right after it is
 * produced, with the global index of the slice's first image; where the
 * hook's owner asks (Bo_session_set_act_group), a hooked Relu or Clip runs,
 * and is handed to the hook, a few images at a time while they are in
 * cache (run_act_grouped).
 *
 * A model exported with a fixed batch runs any batch: re-planned for it
 * when Bo_plan_replans accepts (answers kept per slice size), else as runs
 * of its own batch (bo_session_run). */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <brownout/engine.h>

#include "internal.h"
#include "ops.h"
#include "plan.h"
#include "sites.h"
#include "winograd.h"

/* run_act_grouped: groups of at most this many bytes (one image at least) */
#define ACT_GROUP_BYTES (128 << 10)

struct slot {
	struct bo_plan plan;
	int planned;
	struct bo_shape in_shape[BO_MAX_IN];
	float *arena;
	int64_t arena_cap;
	float *scratch;
	int64_t scratch_cap;
	const float **in;      /* a node's input pointers, m->max_node_in of them */
	/* per-run */
	const struct bo_tensor *inputs;
	int64_t first, count; /* slice of dim 0 */
	int split;
	int rebatch;           /* a fixed-batch model re-planned for this slice */
	bo_status rc;
	struct bo_error err;
	struct bo_session *s;
	/* profiling, per op code */
	int64_t prof_calls[OP_COUNT_];
	int64_t prof_ns[OP_COUNT_];
	int64_t prof_flops[OP_COUNT_];
};

struct bo_session {
	const struct bo_model *m;
	int threads;
	int64_t max_floats;
	int conv_algo;           /* bo_session_config.conv_algo */
	struct bo_wino_cache *wcache; /* Winograd-transformed weights, all slots */
	const float **weights;   /* per model weight */
	int *wmap;               /* per value: weight index or -1 */
	struct slot *slots;
	/* hooks */
	bo_hook_fn hook;
	void *hook_ctx;
	struct bo_sites sites[BO_N_SITE_RULES]; /* per rule */
	int *site_of;            /* per value: site index of the active kind or -1 */
	enum bo_act_sites hook_kind;
	int64_t image_base;
	int64_t act_group_bytes;  /* run_act_grouped's cap; 0: hooked nodes run whole */
	int profiling;
	/* assembled outputs when a batch was split */
	float *out_buf[BO_MAX_IN];
	int64_t out_cap[BO_MAX_IN];
	/* assembled outputs of a batch run in chunks of a fixed-batch model */
	float *fix_buf[BO_MAX_IN];
	int64_t fix_cap[BO_MAX_IN];
	int64_t fixed_batch;     /* bo_model_fixed_batch, 0: dynamic */
	/* batches bo_model_batch_replans was asked about, and its answers */
	int64_t rb_batch[8];
	int rb_ok[8];
	int rb_n;
};

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single(void)
{
	openblas_set_num_threads(1);
}

void bo_engine_init(void)
{
	pthread_once(&blas_once, blas_single);
}

bo_status bo_session_new(const struct bo_model *m, const struct bo_session_config *cfg,
			 struct bo_session **out, struct bo_error *err)
{
	bo_status rc = BO_OK;
	struct bo_session *s = NULL;
	int threads = cfg && cfg->threads > 0 ? cfg->threads : 1;
	*out = NULL;
	bo_engine_init();
	if (threads > 256)
		return Bo_fail(err, BO_EINVAL, "%d threads is more than 256", threads);
	if (m->n_inputs > BO_MAX_IN || m->n_outputs > BO_MAX_IN)
		return Bo_fail(err, BO_EUNSUPPORTED, "more than %d graph inputs or outputs", BO_MAX_IN);
	s = calloc(1, sizeof(*s));
	if (!s)
		return Bo_fail(err, BO_ENOMEM, "out of memory");
	s->m = m;
	s->threads = threads;
	s->fixed_batch = bo_model_fixed_batch(m);
	s->max_floats = (cfg && cfg->max_arena_bytes > 0 ? cfg->max_arena_bytes : (8LL << 30)) / 4;
	s->conv_algo = cfg ? cfg->conv_algo : 0;
	if (s->conv_algo < 0 || s->conv_algo > 2) {
		rc = Bo_fail(err, BO_EINVAL, "conv_algo %d is not 0, 1 or 2", s->conv_algo);
		goto out;
	}
	s->wcache = Bo_wino_cache_new(m);
	s->weights = calloc((size_t)m->n_weights + 1, sizeof(*s->weights));
	s->wmap = malloc(((size_t)m->n_values + 1) * sizeof(int));
	s->site_of = malloc(((size_t)m->n_values + 1) * sizeof(int));
	s->slots = calloc((size_t)threads, sizeof(*s->slots));
	if (!s->weights || !s->wmap || !s->site_of || !s->slots || !s->wcache) {
		rc = Bo_fail(err, BO_ENOMEM, "out of memory");
		goto out;
	}
	for (int t = 0; t < threads; t++)
		if (!(s->slots[t].in = calloc((size_t)m->max_node_in + 1, sizeof(float *)))) {
			rc = Bo_fail(err, BO_ENOMEM, "out of memory");
			goto out;
		}
	for (int i = 0; i < m->n_weights; i++)
		s->weights[i] = m->values[m->weights[i].value].f;
	for (int v = 0; v < m->n_values; v++) {
		s->wmap[v] = m->values[v].weight; /* each stored tensor, aliases included */
		s->site_of[v] = -1;
	}
	for (int k = 0; k < BO_N_SITE_RULES; k++)
		if ((rc = Bo_sites_find(m, (enum bo_act_sites)k, &s->sites[k], err)))
			goto out;
out:
	if (rc)
		bo_session_free(s);
	else
		*out = s;
	return rc;
}

void bo_session_free(struct bo_session *s)
{
	if (!s)
		return;
	if (s->slots)
		for (int t = 0; t < s->threads; t++) {
			Bo_plan_release(&s->slots[t].plan);
			free(s->slots[t].arena);
			free(s->slots[t].scratch);
			free(s->slots[t].in);
		}
	for (int i = 0; i < BO_MAX_IN; i++) {
		free(s->out_buf[i]);
		free(s->fix_buf[i]);
	}
	for (int k = 0; k < BO_N_SITE_RULES; k++)
		Bo_sites_release(&s->sites[k]);
	Bo_wino_cache_free(s->wcache);
	free(s->slots);
	free(s->weights);
	free(s->wmap);
	free(s->site_of);
	free(s);
}

bo_status bo_session_set_weight(struct bo_session *s, int i, const float *data)
{
	if (i < 0 || i >= s->m->n_weights)
		return BO_EINVAL;
	/* Forget what was derived from the old and the new data, even when
	 * they are the same pointer: the caller may have changed the values.
	 * The model's clean copy never changes, so staying clean keeps it. */
	const float *clean = s->m->values[s->m->weights[i].value].f;
	const float *next = data ? data : clean;
	if (next == clean && s->weights[i] == clean)
		return BO_OK;
	Bo_wino_cache_invalidate(s->wcache, s->weights[i]);
	s->weights[i] = next;
	Bo_wino_cache_invalidate(s->wcache, s->weights[i]);
	return BO_OK;
}

bo_status bo_session_set_hook(struct bo_session *s, enum bo_act_sites kind, bo_hook_fn fn,
			      void *ctx)
{
	if ((unsigned)kind >= BO_N_SITE_RULES)
		return BO_EINVAL;
	s->hook = fn;
	s->hook_ctx = ctx;
	s->hook_kind = kind;
	for (int v = 0; v < s->m->n_values; v++)
		s->site_of[v] = -1;
	if (fn) {
		const struct bo_sites *st = &s->sites[kind];
		for (int i = 0; i < st->n; i++)
			s->site_of[st->value[i]] = i;
	}
	return BO_OK;
}

void Bo_session_set_act_group(struct bo_session *s, int64_t bytes)
{
	s->act_group_bytes = bytes < 0 ? ACT_GROUP_BYTES : bytes;
}

void bo_session_set_image_base(struct bo_session *s, int64_t image_base)
{
	s->image_base = image_base;
}

int64_t bo_session_arena_bytes(const struct bo_session *s)
{
	int64_t mx = 0;
	for (int t = 0; t < s->threads; t++)
		if (s->slots[t].planned)
			mx = BO_MAX(mx, s->slots[t].plan.arena_floats * 4);
	return mx;
}

void bo_session_set_profiling(struct bo_session *s, int on)
{
	s->profiling = on != 0;
	for (int t = 0; t < s->threads; t++) {
		memset(s->slots[t].prof_calls, 0, sizeof(s->slots[t].prof_calls));
		memset(s->slots[t].prof_ns, 0, sizeof(s->slots[t].prof_ns));
		memset(s->slots[t].prof_flops, 0, sizeof(s->slots[t].prof_flops));
	}
}

int bo_session_profile(const struct bo_session *s, struct bo_op_profile *out, int max)
{
	struct bo_op_profile all[OP_COUNT_];
	int n = 0;
	for (int op = 0; op < OP_COUNT_; op++) {
		struct bo_op_profile e = { Bo_op_name((enum bo_opcode)op), 0, 0, 0 };
		for (int t = 0; t < s->threads; t++) {
			e.calls += s->slots[t].prof_calls[op];
			e.seconds += (double)s->slots[t].prof_ns[op] * 1e-9;
			e.flops += s->slots[t].prof_flops[op];
		}
		if (e.calls)
			all[n++] = e;
	}
	for (int i = 1; i < n; i++) /* by time, descending */
		for (int j = i; j > 0 && all[j].seconds > all[j - 1].seconds; j--) {
			struct bo_op_profile t = all[j];
			all[j] = all[j - 1];
			all[j - 1] = t;
		}
	for (int i = 0; i < n && i < max; i++)
		out[i] = all[i];
	return n;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const float *value_data(const struct bo_session *s, const struct slot *sl, int v)
{
	const struct bo_value *val = &s->m->values[v];
	if (val->kind == BO_VAL_CONST)
		return s->wmap[v] >= 0 ? s->weights[s->wmap[v]] : val->f;
	if (sl->plan.root[v] < 0)
		return NULL; /* known int64, not read by kernels */
	return sl->arena + sl->plan.offset[sl->plan.root[v]];
}

/* The hook on images [i0, i0 + cnt) of the slot's slice of value v
 * (cnt < 0: all of them). */
static bo_status call_hook_range(struct bo_session *s, struct slot *sl, int v, int64_t i0,
				 int64_t cnt)
{
	int si = s->site_of[v];
	if (si < 0)
		return BO_OK;
	const struct bo_sites *st = &s->sites[s->hook_kind];
	struct bo_site site = {
		.index = si,
		.name = s->m->values[v].name,
		.node = st->node[si] >= 0 ? s->m->nodes[st->node[si]].name : "",
		.is_unsigned = st->is_unsigned[si],
	};
	int64_t numel = Bo_shape_numel(&sl->plan.shape[v]);
	int64_t n = sl->plan.shape[v].rank ? sl->plan.shape[v].d[0] : 1;
	site.sample_numel = n ? numel / n : 0;
	if (cnt >= 0)
		n = cnt;
	bo_status rc = s->hook(s->hook_ctx, &site,
			       (float *)value_data(s, sl, v) + i0 * site.sample_numel, n,
			       s->image_base + sl->first + i0);
	if (rc) {
		Bo_error_where(&sl->err, NULL, site.name, NULL, NULL);
		Bo_fail(&sl->err, rc, "activation hook failed");
	}
	return rc;
}

static bo_status call_hook(struct bo_session *s, struct slot *sl, int v)
{
	return call_hook_range(s, sl, v, 0, -1);
}

/* A hooked Relu or Clip (the activations of most classifiers) runs a few
 * images at a time, each group handed to the hook right after it is
 * computed, while it is still in cache: over the whole slice at once, the
 * hook's pass would read a tensor of the whole batch back from memory
 * (megabytes at 64 images), a pass the clean run does not make. The hook
 * sees the same values, image for image (Bo_act_apply_rc is the kernels'
 * arithmetic, elementwise), and each image only once, so a hook that keys
 * its randomness by image (the sweeper's faults) gives bit-for-bit the
 * results of one call per slice. A hook that does not treat images apart
 * (one that walks the n_images x sample_numel values as one array) would
 * see other groups, so grouping is the hook owner's choice
 * (Bo_session_set_act_group; the sweeper's): groups of at most
 * s->act_group_bytes, and at least one image; 0, a new session's setting:
 * no grouping. Returns 0 when node ni is not such a node (the caller
 * runs it whole), else 1 with *rc set. */
static int run_act_grouped(struct bo_session *s, struct slot *sl, int ni, const float *const *in,
			   float *y, bo_status *rc)
{
	const struct bo_plan *p = &sl->plan;
	const struct bo_node *n = &s->m->nodes[ni];
	struct bo_act act;
	if (s->act_group_bytes <= 0 || !Bo_act_of(p, ni, in, &act) || n->in[0] < 0 || !in[0] || !y)
		return 0;
	const struct bo_shape *xs = &p->shape[n->in[0]], *ys = &p->shape[n->out[0]];
	if (xs->rank < 1 || xs->rank != ys->rank ||
	    memcmp(xs->d, ys->d, sizeof(int64_t) * (size_t)xs->rank) || ys->d[0] < 2)
		return 0;
	int64_t nimg = ys->d[0], per = Bo_shape_numel(ys) / nimg;
	const float *x = in[0];
	if (x != y && x < y + nimg * per && y < x + nimg * per)
		return 0; /* overlapping but not in place: never planned, but whole is safe */
	int64_t group = BO_MAX((int64_t)1, s->act_group_bytes / BO_MAX(per * 4, (int64_t)1));
	*rc = BO_OK;
	for (int64_t i0 = 0; i0 < nimg && !*rc; i0 += group) {
		int64_t c = BO_MIN(group, nimg - i0);
		if (x != y)
			memcpy(y + i0 * per, x + i0 * per, (size_t)(c * per) * sizeof(float));
		Bo_act_apply_rc(&act, y + i0 * per, c * per);
		*rc = call_hook_range(s, sl, n->out[0], i0, c);
	}
	return 1;
}

/* whether a hook is set and value v is one of its sites */
static int hooked(const struct bo_session *s, int v)
{
	return s->hook && s->site_of[v] >= 0;
}

static bo_status slot_run(struct slot *sl)
{
	struct bo_session *s = sl->s;
	const struct bo_model *m = s->m;
	bo_status rc;
	struct bo_shape shapes[BO_MAX_IN];
	for (int i = 0; i < m->n_inputs; i++) {
		const struct bo_tensor *t = &sl->inputs[i];
		shapes[i].rank = t->rank;
		memcpy(shapes[i].d, t->dims, sizeof(t->dims));
		if (sl->split)
			shapes[i].d[0] = sl->count;
	}
	int same = sl->planned;
	for (int i = 0; same && i < m->n_inputs; i++)
		same = shapes[i].rank == sl->in_shape[i].rank &&
		       !memcmp(shapes[i].d, sl->in_shape[i].d, sizeof(int64_t) * (size_t)shapes[i].rank);
	if (!same) {
		Bo_plan_release(&sl->plan);
		sl->planned = 0;
		rc = sl->rebatch ? Bo_plan_build_batch(m, shapes, s->max_floats, s->fixed_batch,
						       &sl->plan, &sl->err)
				 : Bo_plan_build(m, shapes, s->max_floats, &sl->plan, &sl->err);
		if (rc)
			return rc;
		sl->planned = 1;
		sl->plan.conv_algo = s->conv_algo;
		sl->plan.wcache = s->wcache;
		memcpy(sl->in_shape, shapes, sizeof(shapes));
		/* never NULL, even when every tensor is empty: outputs point here */
		int64_t need = BO_MAX(sl->plan.arena_floats, 16);
		if (need > sl->arena_cap) {
			free(sl->arena);
			sl->arena = aligned_alloc(64, (size_t)need * 4);
			sl->arena_cap = sl->arena ? need : 0;
			if (!sl->arena)
				return Bo_fail(&sl->err, BO_ENOMEM, "cannot allocate %lld MiB of activations",
					       (long long)(sl->plan.arena_floats * 4 >> 20));
		}
		if (sl->plan.scratch_floats > sl->scratch_cap) {
			free(sl->scratch);
			int64_t n = (sl->plan.scratch_floats + 15) & ~(int64_t)15;
			sl->scratch = aligned_alloc(64, (size_t)n * 4);
			sl->scratch_cap = sl->scratch ? n : 0;
			if (!sl->scratch)
				return Bo_fail(&sl->err, BO_ENOMEM, "cannot allocate %lld MiB of scratch",
					       (long long)(n * 4 >> 20));
		}
	}
	const struct bo_plan *p = &sl->plan;
	for (int i = 0; i < m->n_inputs; i++) {
		int v = m->inputs[i];
		int64_t per = Bo_shape_numel(&shapes[i]);
		memcpy(sl->arena + p->offset[p->root[v]], sl->inputs[i].data + sl->first * (per / BO_MAX(sl->count, 1)),
		       (size_t)per * sizeof(float));
		if (s->hook && (rc = call_hook(s, sl, v)))
			return rc;
	}
	const float **in = sl->in;
	const float *ain[BO_MAX_IN];
	for (int k = 0; k < p->n_order; k++) {
		int ni = p->order[k];
		const struct bo_node *n = &m->nodes[ni];
		for (int j = 0; j < n->n_in; j++)
			in[j] = n->in[j] >= 0 ? value_data(s, sl, n->in[j]) : NULL;
		float *y = (float *)value_data(s, sl, n->out[0]);
		/* a Conv (or a residual Add) and the Relu/Clip or SiLU after it as one (plan.h),
		 * unless a hook is to see a tensor the fusion skips: the Conv's
		 * output before the activation, SiLU's Sigmoid */
		int ai = -1, fused = 0; /* fused: nodes after k run inside k */
		struct bo_act act;
		if ((n->op == OP_CONV || n->op == OP_ADD) && !hooked(s, n->out[0])) {
			if (k + 2 < p->n_order && !hooked(s, m->nodes[p->order[k + 1]].out[0]) &&
			    Bo_conv_silu_fusable(p, ni, p->order[k + 1], p->order[k + 2], &act)) {
				ai = p->order[k + 2];
				fused = 2;
			} else if (k + 1 < p->n_order) {
				ai = p->order[k + 1];
				const struct bo_node *an = &m->nodes[ai];
				for (int j = 0; j < an->n_in && j < BO_MAX_IN; j++)
					ain[j] = an->in[j] >= 0 ? value_data(s, sl, an->in[j]) : NULL;
				if (an->n_in > BO_MAX_IN || !Bo_conv_act_fusable(p, ni, ai, ain, &act))
					ai = -1;
				else
					fused = 1;
			}
		}
		int64_t t0 = s->profiling ? now_ns() : 0;
		if (n->op == OP_SIGMOID && k + 1 < p->n_order && !hooked(s, n->out[0]) &&
		    Bo_silu_fusable(p, n->in[0], ni, p->order[k + 1], 0)) {
			/* SiLU not after a Conv (or after one that could not take
			 * it): one pass, straight into the Mul's output */
			const struct bo_node *mn = &m->nodes[p->order[k + 1]];
			Bo_vsilu(in[0], (float *)value_data(s, sl, mn->out[0]),
				 Bo_shape_numel(&p->shape[n->in[0]]), mn->in[0] == n->out[0]);
			if (s->profiling) {
				sl->prof_ns[n->op] += now_ns() - t0;
				sl->prof_calls[n->op]++;
				sl->prof_calls[mn->op]++;
			}
			k++;
			if (s->hook && (rc = call_hook(s, sl, mn->out[0])))
				return rc;
			continue;
		}
		int grouped = !fused && hooked(s, n->out[0]) && run_act_grouped(s, sl, ni, in, y, &rc);
		if (!grouped)
			rc = fused ? Bo_run_conv_act(p, ni, in, y, sl->scratch, &act, &sl->err)
				   : Bo_run_node(p, ni, in, y, sl->scratch, &sl->err);
		if (rc)
			return rc;
		if (s->profiling) {
			sl->prof_ns[n->op] += now_ns() - t0;
			sl->prof_calls[n->op]++;
			sl->prof_flops[n->op] += Bo_node_flops(p, ni);
		}
		if (!grouped && s->hook && (rc = call_hook(s, sl, n->out[0])))
			return rc;
		/* the activation ran inside the Conv; a fused SiLU's Sigmoid
		 * is never a site (hooked() above), so only its Mul is called */
		for (int f = 1; f <= fused; f++) {
			int fi = p->order[k + f];
			if (s->profiling)
				sl->prof_calls[m->nodes[fi].op]++;
			if (f == fused && s->hook && (rc = call_hook(s, sl, m->nodes[fi].out[0])))
				return rc;
		}
		k += fused;
	}
	return BO_OK;
}

static void *slot_thread(void *arg)
{
	struct slot *sl = arg;
	sl->rc = slot_run(sl);
	return NULL;
}

/* rebatch: a fixed-batch model re-planned for the batch's slices */
static bo_status run_batch(struct bo_session *s, const struct bo_tensor *inputs, int n_inputs,
			   struct bo_tensor *outputs, int n_outputs, int rebatch,
			   struct bo_error *err)
{
	const struct bo_model *m = s->m;
	bo_status rc = BO_OK;
	if (n_inputs != m->n_inputs)
		return Bo_fail(err, BO_EINVAL, "the model has %d inputs, %d given", m->n_inputs,
			       n_inputs);
	if (n_outputs > m->n_outputs)
		return Bo_fail(err, BO_EINVAL, "the model has %d outputs, %d asked for", m->n_outputs,
			       n_outputs);
	/* split along dim 0 when every input agrees on it, in slices of whole
	 * multiples of a fixed-batch model's batch */
	int64_t B = inputs[0].rank > 0 ? inputs[0].dims[0] : 1;
	int64_t unit = rebatch ? 1 : BO_MAX(s->fixed_batch, 1);
	int split = s->threads > 1 && B >= 2 * unit && B % unit == 0;
	for (int i = 0; i < n_inputs; i++) {
		if (inputs[i].rank < 0 || inputs[i].rank > BO_MAX_RANK || !inputs[i].data)
			return Bo_fail(err, BO_EINVAL, "input %d is not a valid tensor", i);
		if (inputs[i].rank == 0 || inputs[i].dims[0] != B)
			split = 0;
	}
	int T = split ? (int)BO_MIN((int64_t)s->threads, B / unit) : 1;
	int64_t per = ((B / unit + T - 1) / T) * unit;
	pthread_t tid[256];
	int started[256] = { 0 };
	int used = 0;
	for (int t = 0; t < T; t++) {
		struct slot *sl = &s->slots[t];
		sl->s = s;
		sl->inputs = inputs;
		sl->split = split;
		sl->rebatch = rebatch;
		sl->first = split ? t * per : 0;
		sl->count = split ? BO_MIN(per, B - sl->first) : B;
		sl->rc = BO_OK;
		bo_error_clear(&sl->err);
		if (t > 0 && sl->count <= 0)
			break; /* slot 0 always runs, even on an empty batch */
		used = t + 1;
		if (t > 0 && pthread_create(&tid[t], NULL, slot_thread, sl) == 0)
			started[t] = 1;
		else if (t > 0)
			sl->rc = slot_run(sl);
	}
	s->slots[0].rc = slot_run(&s->slots[0]);
	for (int t = 1; t < used; t++)
		if (started[t])
			pthread_join(tid[t], NULL);
	for (int t = 0; t < used; t++)
		if (s->slots[t].rc) {
			if (err)
				*err = s->slots[t].err;
			if (err && !err->file[0])
				snprintf(err->file, sizeof(err->file), "%s", m->path);
			return s->slots[t].rc;
		}
	for (int i = 0; i < n_outputs; i++) {
		int v = m->outputs[i];
		struct slot *s0 = &s->slots[0];
		const struct bo_shape *sh = &s0->plan.shape[v];
		struct bo_tensor *o = &outputs[i];
		o->rank = sh->rank;
		memcpy(o->dims, sh->d, sizeof(o->dims));
		if (used == 1) {
			o->data = (float *)value_data(s, s0, v);
			continue;
		}
		/* gather slices: each slot's output has its own dim 0 */
		o->dims[0] = B;
		int64_t total = 1;
		for (int k = 0; k < o->rank; k++)
			total *= o->dims[k];
		if (total > s->out_cap[i]) {
			free(s->out_buf[i]);
			s->out_buf[i] = malloc((size_t)total * sizeof(float));
			s->out_cap[i] = s->out_buf[i] ? total : 0;
			if (!s->out_buf[i])
				return Bo_fail(err, BO_ENOMEM, "out of memory for outputs");
		}
		int64_t row = total / (B ? B : 1);
		for (int t = 0; t < used; t++) {
			struct slot *sl = &s->slots[t];
			memcpy(s->out_buf[i] + sl->first * row, value_data(s, sl, v),
			       (size_t)(sl->count * row) * sizeof(float));
		}
		o->data = s->out_buf[i];
	}
	return rc;
}

/* Whether a fixed-batch model re-plans for a batch of B (bo_model_batch_replans),
 * for every slice run_batch cuts it into; the answers are kept. */
static int replans(struct bo_session *s, int64_t B)
{
	int split = s->threads > 1 && B >= 2;
	int64_t T = split ? BO_MIN((int64_t)s->threads, B) : 1;
	int64_t per = (B + T - 1) / T;
	int64_t last = B - (B - 1) / per * per; /* the last slice */
	int64_t need[2] = { per, last };
	for (int k = 0; k < 2; k++) {
		int i, found = 0;
		for (i = 0; i < s->rb_n && i < 8; i++)
			if (s->rb_batch[i] == need[k]) {
				found = 1;
				break;
			}
		if (!found) {
			i = s->rb_n++ % 8;
			s->rb_batch[i] = need[k];
			s->rb_ok[i] = Bo_plan_replans(s->m, need[k], s->max_floats, NULL);
		}
		if (!s->rb_ok[i])
			return 0;
	}
	return 1;
}

/* A model exported with a fixed batch Bm (torch.onnx.export's default is
 * the example's batch, usually 1) is re-planned for the batch B asked for
 * when every node computes per image (bo_model_batch_replans: a Reshape to
 * a constant [Bm, ...] becomes [B, ...], Shape reads B), and runs as one
 * batch, like a dynamic export. Otherwise it runs a batch of B = k x Bm images as k
 * runs of Bm, T of them at a time across the threads (each thread's slice
 * is exactly Bm images, the shape the model was planned for), with the
 * image indexes the hooks see kept as if it had been one batch; a tail of
 * fewer than Bm images is padded with zero images whose outputs are
 * dropped. This is exact for models whose samples do not interact (every
 * classifier in eval mode): no node sees another batch than the one it was
 * exported for. */
bo_status bo_session_run(struct bo_session *s, const struct bo_tensor *inputs, int n_inputs,
			 struct bo_tensor *outputs, int n_outputs, struct bo_error *err)
{
	const struct bo_model *m = s->m;
	int64_t bm = n_inputs == m->n_inputs ? s->fixed_batch : 0;
	int64_t B = n_inputs > 0 && inputs[0].rank > 0 ? inputs[0].dims[0] : 0;
	for (int i = 0; bm && i < n_inputs; i++)
		if (inputs[i].rank < 1 || inputs[i].dims[0] != B || !inputs[i].data)
			bm = 0;
	if (!bm || B == bm || n_outputs > m->n_outputs)
		return run_batch(s, inputs, n_inputs, outputs, n_outputs, 0, err);
	if (B > 0 && replans(s, B))
		return run_batch(s, inputs, n_inputs, outputs, n_outputs, 1, err);
	int64_t chunk = bm * BO_MAX(BO_MIN((int64_t)s->threads, B / bm), 1);
	struct bo_tensor part[BO_MAX_IN], out[BO_MAX_IN];
	int64_t per_in[BO_MAX_IN], row[BO_MAX_IN];
	const int64_t base = s->image_base;
	bo_status rc = BO_OK;
	for (int i = 0; i < n_inputs; i++) {
		part[i] = inputs[i];
		per_in[i] = 1;
		for (int k = 1; k < inputs[i].rank; k++)
			per_in[i] *= inputs[i].dims[k];
	}
	float *pad[BO_MAX_IN] = { 0 };
	/* an empty batch runs one padded run, for the output shapes */
	for (int64_t first = 0; (first < B || (B == 0 && first == 0)) && !rc; first += chunk) {
		int64_t c = BO_MIN(chunk, B - first);
		int64_t cp = BO_MAX((c + bm - 1) / bm * bm, bm); /* a tail is padded with zeros */
		for (int i = 0; i < n_inputs && !rc; i++) {
			part[i].dims[0] = cp;
			part[i].data = inputs[i].data + first * per_in[i];
			if (cp > c) {
				if (!(pad[i] = calloc((size_t)(cp * per_in[i]), sizeof(float)))) {
					rc = Bo_fail(err, BO_ENOMEM, "out of memory");
					break;
				}
				memcpy(pad[i], part[i].data, (size_t)(c * per_in[i]) * sizeof(float));
				part[i].data = pad[i];
			}
		}
		s->image_base = base + first;
		if (!rc)
			rc = run_batch(s, part, n_inputs, out, n_outputs, 0, err);
		s->image_base = base;
		for (int i = 0; i < n_inputs; i++) {
			free(pad[i]);
			pad[i] = NULL;
		}
		if (rc)
			return rc;
		for (int i = 0; i < n_outputs; i++) {
			if (first == 0) {
				int64_t r = 1;
				for (int k = 1; k < out[i].rank; k++)
					r *= out[i].dims[k];
				row[i] = r;
				if (out[i].rank < 1 || out[i].dims[0] != cp)
					return Bo_fail(err, BO_EUNSUPPORTED,
						       "output %d of the fixed-batch model has no batch axis",
						       i);
				if (B * r + 1 > s->fix_cap[i]) {
					free(s->fix_buf[i]);
					s->fix_buf[i] = malloc((size_t)(B * r + 1) * sizeof(float));
					s->fix_cap[i] = s->fix_buf[i] ? B * r + 1 : 0;
					if (!s->fix_buf[i])
						return Bo_fail(err, BO_ENOMEM, "out of memory for outputs");
				}
				outputs[i] = out[i];
				outputs[i].dims[0] = B;
				outputs[i].data = s->fix_buf[i];
			}
			memcpy(s->fix_buf[i] + first * row[i], out[i].data,
			       (size_t)(c * row[i]) * sizeof(float));
		}
	}
	return BO_OK;
}
