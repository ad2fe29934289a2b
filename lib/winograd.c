/* Winograd F(2x2,3x3) convolution (Lavin & Gray, "Fast Algorithms for
 * Convolutional Neural Networks", CVPR 2016) for 3x3, stride-1,
 * dilation-1, group-1 2-D Conv with any pads.
 *
 * Each 2x2 block of outputs ("tile") of one image and output channel m is
 *     y = A^T [ sum_c (G g_mc G^T) .* (B^T d_c B) ] A  (+ bias)
 * where d_c is the 4x4 input patch of channel c under the tile (pads and
 * reads past the input are zeros) and g_mc the 3x3 kernel. Per element xi
 * of the 4x4 transformed domain the sum over c is a matrix product, so a
 * batch runs as 16 GEMMs over all tiles of all images of the slice:
 *     U[xi] (C x M) = (G g G^T)[xi]            the weights, cached;
 *     V[xi] (T x C) = (B^T d B)[xi]            input transform;
 *     Z[xi] (T x M) = V[xi] U[xi]              16 x cblas_sgemm;
 *     y = A^T Z A + bias per (tile, m)         output transform, clipped
 *                                              to the output (odd sizes).
 * 16 GEMMs with K = C replace one with K = 9C: 2.25x fewer multiplications,
 * paid for with the transforms, which cost O(C + M) per tile against the
 * GEMMs' O(C M); measured, 2.0-2.3x faster than im2col on PreActResNet18's
 * 64..512-channel layers.
 *
 * Layout. The transforms work channel-last, so that their arithmetic runs
 * on vectors of 8 channels whatever the image size (with NCHW rows, 4x4
 * and 8x8 maps would give vectors of 2 or 4 tiles): the input rows under
 * a chunk's tiles are first transposed (4x4 blocks) into P [row][col][c],
 * each tile then reads its 16 channel vectors from P and writes 16 rows
 * of V; the output transform writes 2 output rows channel-last into S,
 * which is transposed back into the NCHW output. Both transposes walk one
 * channel plane at a time so that the NCHW side is read or written
 * sequentially. Channels are padded to multiples of 8 in P, V, Z and S,
 * and the 16 planes of V and of Z are one cache line apart modulo 4 KiB,
 * or a tile's 16 accesses would all fall in one L1 set.
 *
 * Chunks. Tiles are numbered by (image, tile row, tile column) and run in
 * chunks of Bo_wino_chunk_tiles() (see there), so the scratch stays a
 * few MB whatever the batch; plan.c sizes the scratch with
 * Bo_wino_scratch_floats(), which uses the same function. A chunk may
 * start and end anywhere, inside an image or a tile row.
 *
 * ISA. The build has no -march; the two transform phases are compiled
 * once for the baseline and once with target("avx2"), picked at run time
 * (__builtin_cpu_supports), the helpers they call being always_inline.
 * The GEMMs are OpenBLAS's, which dispatches by itself.
 *
 * Weights: U (16 x C x M floats per Conv, 16/9 of the weight) is computed
 * on first use and cached per session (struct bo_wino_cache, one entry
 * per node, shared by the session's slots; a per-entry mutex makes the
 * first slot compute it while the others wait). An entry remembers the
 * weight pointer it was computed from and is recomputed when the pointer
 * differs or after bo_session_set_weight() invalidated it: pointer
 * identity stands for content identity, and a caller changes a weight's
 * values only through bo_session_set_weight() (engine.h). Conv weights
 * that are not constants never come here.
 *
 * Accuracy: the transforms only add, subtract and halve; results agree
 * with im2col to ~1e-6 relative (tests/unit/test_winograd.c requires
 * 1e-4 of the output's maximum).
 *
 * When: p->conv_algo (bo_session_config.conv_algo) 1 never, 2 wherever
 * applicable, 0 (auto) by the per-layer rule in wino_wins(). */
#include <cblas.h>
#include <pthread.h>
#include <string.h>

#include "winograd.h"

/* Tiles per chunk: as many as keep V and Z of a chunk within
 * CHUNK_FLOATS (1 MiB, the per-core L2 here, so that the GEMMs read V and
 * the output transform reads Z from L2), but at least MIN_TILES, below
 * which the GEMMs (MIN_TILES x C x M) lose more than the cache saves.
 * Measured on PreActResNet18's layers (C = M = 64..512, batch 64): 128
 * tiles beat 64 by 10% at C = 512, and 256 tiles lose 12% at C = 64. */
#define CHUNK_FLOATS (1 << 18)
#define MIN_TILES 128

struct wino_entry {
	pthread_mutex_t mu;
	int mu_ok;
	const float *key; /* weight data U was computed from; NULL: none/stale */
	float *u;
	int64_t cap;
};

struct bo_wino_cache {
	int n;
	struct wino_entry *e; /* per node */
};

struct bo_wino_cache *Bo_wino_cache_new(const struct bo_model *m)
{
	struct bo_wino_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->n = m->n_nodes;
	c->e = calloc((size_t)m->n_nodes + 1, sizeof(*c->e));
	if (!c->e)
		goto fail;
	for (int i = 0; i < c->n; i++) {
		if (m->nodes[i].op != OP_CONV)
			continue;
		if (pthread_mutex_init(&c->e[i].mu, NULL))
			goto fail;
		c->e[i].mu_ok = 1;
	}
	return c;
fail:
	Bo_wino_cache_free(c);
	return NULL;
}

void Bo_wino_cache_free(struct bo_wino_cache *c)
{
	if (!c)
		return;
	if (c->e)
		for (int i = 0; i < c->n; i++) {
			if (c->e[i].mu_ok)
				pthread_mutex_destroy(&c->e[i].mu);
			free(c->e[i].u);
		}
	free(c->e);
	free(c);
}

void Bo_wino_cache_invalidate(struct bo_wino_cache *c, const float *data)
{
	if (!c || !data)
		return;
	for (int i = 0; i < c->n; i++) {
		if (!c->e[i].mu_ok)
			continue;
		pthread_mutex_lock(&c->e[i].mu);
		if (c->e[i].key == data)
			c->e[i].key = NULL;
		pthread_mutex_unlock(&c->e[i].mu);
	}
}

int Bo_wino_applicable(const struct bo_plan *p, int ni)
{
	const struct bo_node *n = &p->m->nodes[ni];
	const struct bo_window *w = &p->win[ni];
	if (n->op != OP_CONV || n->n_in < 2 || n->in[1] < 0)
		return 0;
	const struct bo_shape *xs = &p->shape[n->in[0]], *ws = &p->shape[n->in[1]];
	const struct bo_shape *ys = &p->shape[n->out[0]];
	return xs->rank == 4 && w->nsp == 2 && ws->rank == 4 && w->k[0] == 3 && w->k[1] == 3 &&
	       w->s[0] == 1 && w->s[1] == 1 && w->d[0] == 1 && w->d[1] == 1 && w->group == 1 &&
	       p->m->values[n->in[1]].kind == BO_VAL_CONST && xs->d[1] > 0 && ys->d[1] > 0 &&
	       ys->d[2] > 0 && ys->d[3] > 0;
}

/* The "auto" rule, from timing both kernels per layer shape (one thread,
 * batch 64, this machine's OpenBLAS; speedup = im2col time / Winograd
 * time):
 *   C = 3 -> 64 (RGB stem) 0.65, C = 4 -> 64 0.82, C = 8 -> 8 at 28x28
 *   1.0, C = 8 -> 64 1.2, C = 12 -> 12 1.2, C = 16 -> 16..64 1.5-3,
 *   C = M = 64..512 at 32x32..4x4 1.75-2.7, C = 64 -> 4 1.8, 3x3 outputs
 *   (9 of 16 tile outputs used) 1.3-2.6, but 1x1 outputs (1 of 4) at
 *   C = 256: 0.84.
 * So: at least 8 input channels (the GEMMs have K = C; below that the
 * transforms cost more than the multiplications saved) and at least 2x2
 * outputs, whatever M. */
static int wino_wins(int64_t C, int64_t OH, int64_t OW)
{
	return C >= 8 && OH >= 2 && OW >= 2;
}

int Bo_wino_use(const struct bo_plan *p, int ni)
{
	if (!p->wcache || p->conv_algo == 1 || !Bo_wino_applicable(p, ni))
		return 0;
	if (p->conv_algo == 2)
		return 1;
	const struct bo_node *n = &p->m->nodes[ni];
	const struct bo_shape *xs = &p->shape[n->in[0]], *ys = &p->shape[n->out[0]];
	return wino_wins(xs->d[1], ys->d[2], ys->d[3]);
}

int64_t Bo_wino_chunk_tiles(int64_t C, int64_t M, int64_t T)
{
	int64_t per = 16 * (C + M);
	int64_t chunk = BO_MAX(CHUNK_FLOATS / per, MIN_TILES);
	chunk = (chunk + 15) & ~(int64_t)15;
	return BO_MAX(1, BO_MIN(chunk, T));
}

static int64_t up16(int64_t n)
{
	return (n + 15) & ~(int64_t)15;
}

static int64_t up8(int64_t n)
{
	return (n + 7) & ~(int64_t)7;
}

/* Scratch of a chunk of `chunk` tiles, in floats: V [16][chunk][c8] and
 * Z [16][chunk][m8] (c8, m8: C, M rounded up to 8; planes vs and zs
 * apart), then, for the chunk's tiles in one image (at most `rows` tile
 * rows), P: prow = 2 rows + 2 input rows of 2 tiles_w + 2 columns of c8,
 * and S: 2 rows output rows of 2 tiles_w columns of m8. */
struct layout { int64_t c8, m8, vs, zs, z, p, s, total, prow; };

static struct layout scratch_layout(int64_t C, int64_t M, int64_t chunk, int64_t tiles_h,
				    int64_t tiles_w)
{
	struct layout l;
	int64_t rows = BO_MIN(tiles_h, (chunk + tiles_w - 1) / tiles_w + 1);
	l.c8 = up8(C);
	l.m8 = up8(M);
	l.prow = 2 * rows + 2;
	l.vs = up16(chunk * l.c8) + 16;
	l.zs = up16(chunk * l.m8) + 16;
	l.z = 16 * l.vs;
	l.p = l.z + 16 * l.zs;
	l.s = l.p + up16(l.prow * (2 * tiles_w + 2) * l.c8);
	l.total = l.s + up16(2 * rows * 2 * tiles_w * l.m8);
	return l;
}

int64_t Bo_wino_scratch_floats(const struct bo_plan *p, int ni)
{
	if (!Bo_wino_applicable(p, ni))
		return 0;
	const struct bo_node *n = &p->m->nodes[ni];
	const struct bo_shape *xs = &p->shape[n->in[0]], *ys = &p->shape[n->out[0]];
	int64_t C = xs->d[1], M = ys->d[1];
	int64_t th = (ys->d[2] + 1) / 2, tw = (ys->d[3] + 1) / 2;
	int64_t chunk = Bo_wino_chunk_tiles(C, M, xs->d[0] * th * tw);
	return scratch_layout(C, M, chunk, th, tw).total;
}

/* U[xi][c][m] = (G g G^T)[xi] with G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. */
static void weight_transform(const float *wt, int64_t M, int64_t C, float *u)
{
	int64_t MC = M * C;
	for (int64_t c = 0; c < C; c++) /* c outer: the 16 planes are written in order */
		for (int64_t m = 0; m < M; m++) {
			const float *g = wt + (m * C + c) * 9;
			float t[4][3], r[4][4];
			for (int j = 0; j < 3; j++) {
				t[0][j] = g[j];
				t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
				t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
				t[3][j] = g[6 + j];
			}
			for (int i = 0; i < 4; i++) {
				r[i][0] = t[i][0];
				r[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
				r[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
				r[i][3] = t[i][2];
			}
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++)
					u[(4 * i + j) * MC + c * M + m] = r[i][j];
		}
}

/* The cached U for node ni computed from wt, (re)computed if needed. */
static bo_status get_u(struct bo_wino_cache *cache, int ni, const float *wt, int64_t M,
		       int64_t C, const float **u)
{
	bo_status rc = BO_OK;
	struct wino_entry *e = &cache->e[ni];
	int64_t need = 16 * M * C;
	pthread_mutex_lock(&e->mu);
	if (e->key != wt || !e->u) {
		e->key = NULL;
		if (e->cap < need) {
			free(e->u);
			e->u = aligned_alloc(64, (size_t)up16(need) * sizeof(float));
			e->cap = e->u ? need : 0;
			if (!e->u) {
				rc = BO_ENOMEM;
				goto out;
			}
		}
		weight_transform(wt, M, C, e->u);
		e->key = wt;
	}
	*u = e->u;
out:
	pthread_mutex_unlock(&e->mu);
	return rc;
}

#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define BO_HAVE_SHUFFLE 1 /* GCC >= 12, clang */
#endif
#endif
#ifndef BO_HAVE_SHUFFLE
#define BO_HAVE_SHUFFLE 0
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BO_X86 1
#else
#define BO_X86 0
#endif

/* helpers inlined into both compilations of the transform phases */
#define INLINE static inline __attribute__((always_inline))

typedef float v4f __attribute__((vector_size(16)));
typedef float v8f __attribute__((vector_size(32)));

/* load / store a T (v4f, v8f or float) without alignment or aliasing
 * concerns */
#define LD(T, v, p) T v; memcpy(&(v), (p), sizeof(T))
#define ST(p, v) memcpy((p), &(v), sizeof(v))

/* dst[i ds + j] = src[j ss + i] for i, j < 4: the two transposes between
 * NCHW and the channel-last buffers, which would otherwise cost more than
 * the tile arithmetic. */
INLINE void tr4(const float *src, int64_t ss, float *dst, int64_t ds)
{
#if BO_HAVE_SHUFFLE
	LD(v4f, r0, src);
	LD(v4f, r1, src + ss);
	LD(v4f, r2, src + 2 * ss);
	LD(v4f, r3, src + 3 * ss);
	v4f t0 = __builtin_shufflevector(r0, r1, 0, 4, 1, 5);
	v4f t1 = __builtin_shufflevector(r0, r1, 2, 6, 3, 7);
	v4f t2 = __builtin_shufflevector(r2, r3, 0, 4, 1, 5);
	v4f t3 = __builtin_shufflevector(r2, r3, 2, 6, 3, 7);
	v4f o0 = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
	v4f o1 = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
	v4f o2 = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
	v4f o3 = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
	ST(dst, o0);
	ST(dst + ds, o1);
	ST(dst + 2 * ds, o2);
	ST(dst + 3 * ds, o3);
#else
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			dst[i * ds + j] = src[j * ss + i];
#endif
}

/* Input rows ih0 .. ih0+nrows-1 of image x (C x H x W), columns -pl ..
 * -pl+wp-1, into P[row][col][c] (row length wp x c8; zeros outside the
 * input and in channels C..c8-1). Channel-major loops: each channel's rows
 * are one contiguous stretch of x, which the prefetcher follows. */
INLINE void pack_rows(const float *x, int64_t C, int64_t c8, int64_t H, int64_t W, int64_t ih0,
		      int64_t nrows, int64_t pl, int64_t wp, float *P)
{
	int64_t lo = BO_MIN(pl, wp), hi = BO_MAX(lo, BO_MIN(wp, W + pl)); /* [lo, hi): input */
	int64_t HW = H * W, len = hi - lo;
	int64_t r0 = BO_MAX(0, -ih0), r1 = BO_MAX(r0, BO_MIN(nrows, H - ih0)); /* rows inside */
	if (len == 0)
		r1 = r0;
	for (int64_t r = 0; r < nrows; r++) {
		float *pr = P + r * wp * c8;
		if (r < r0 || r >= r1) {
			memset(pr, 0, (size_t)(wp * c8) * sizeof(float));
			continue;
		}
		memset(pr, 0, (size_t)(lo * c8) * sizeof(float));
		memset(pr + hi * c8, 0, (size_t)((wp - hi) * c8) * sizeof(float));
		for (int64_t k = lo; k < hi; k++)
			for (int64_t c = C; c < c8; c++)
				pr[k * c8 + c] = 0.f;
	}
	const float *xr = x + (ih0 + r0) * W + (lo - pl);
	float *p0 = P + (r0 * wp + lo) * c8;
	int64_t c = 0;
	for (; c + 4 <= C; c += 4)
		for (int64_t r = 0; r < r1 - r0; r++) {
			const float *xs = xr + c * HW + r * W;
			float *ps = p0 + r * wp * c8 + c;
			int64_t k = 0;
			for (; k + 4 <= len; k += 4)
				tr4(xs + k, HW, ps + k * c8, c8);
			for (; k < len; k++)
				for (int64_t j = 0; j < 4; j++)
					ps[k * c8 + j] = xs[j * HW + k];
		}
	for (; c < C; c++)
		for (int64_t r = 0; r < r1 - r0; r++)
			for (int64_t k = 0; k < len; k++)
				p0[(r * wp + k) * c8 + c] = xr[c * HW + r * W + k];
}

/* The reverse for output: rows 0..nrows-1 of the channel-last S (row
 * stride ss, column stride m8) into the rows from yr on of each of the M
 * channel planes of an NCHW image (plane stride ps, row stride OW).
 * Columns 0..cf-1, except that rows before fr start at c0 and rows from lr
 * on end at ce (a chunk can start and end inside a tile row).
 * Channel-major, so that each plane is written sequentially. */
INLINE void unpack_rows(const float *S, int64_t ss, int64_t m8, int64_t M, int64_t nrows,
			int64_t fr, int64_t c0, int64_t lr, int64_t ce, int64_t cf, float *yr,
			int64_t OW, int64_t ps)
{
	int64_t m = 0;
	for (; m + 4 <= M; m += 4)
		for (int64_t r = 0; r < nrows; r++) {
			const float *sr = S + r * ss + m;
			float *yo = yr + r * OW + m * ps;
			int64_t ow = r < fr ? c0 : 0, end = r >= lr ? ce : cf;
			for (; ow + 4 <= end; ow += 4)
				tr4(sr + ow * m8, m8, yo + ow, ps);
			for (; ow < end; ow++)
				for (int64_t j = 0; j < 4; j++)
					yo[j * ps + ow] = sr[ow * m8 + j];
		}
	for (; m < M; m++)
		for (int64_t r = 0; r < nrows; r++) {
			int64_t ow = r < fr ? c0 : 0, end = r >= lr ? ce : cf;
			for (; ow < end; ow++)
				yr[r * OW + m * ps + ow] = S[r * ss + ow * m8 + m];
		}
}

/* Input transform of one tile for channels c .. c+lanes(T)-1:
 * V[xi] = (B^T d B)[xi], B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], the
 * patch d at `d` (row stride rs, column stride cs), V planes vs apart. */
#define TILE_IN(T, d, rs, cs, v, vs)                                                  \
	do {                                                                          \
		for (int r_ = 0; r_ < 4; r_++) {                                      \
			T t_[4];                                                      \
			for (int j_ = 0; j_ < 4; j_++) {                              \
				const float *q_ = (d) + j_ * (cs);                    \
				if (r_ == 0) {                                        \
					LD(T, a_, q_);                                \
					LD(T, b_, q_ + 2 * (rs));                     \
					t_[j_] = a_ - b_;                             \
				} else if (r_ == 3) {                                 \
					LD(T, a_, q_ + (rs));                         \
					LD(T, b_, q_ + 3 * (rs));                     \
					t_[j_] = a_ - b_;                             \
				} else {                                              \
					LD(T, a_, q_ + (rs));                         \
					LD(T, b_, q_ + 2 * (rs));                     \
					t_[j_] = r_ == 1 ? a_ + b_ : b_ - a_;         \
				}                                                     \
			}                                                             \
			T o0_ = t_[0] - t_[2], o1_ = t_[1] + t_[2], o2_ = t_[2] - t_[1], \
			  o3_ = t_[1] - t_[3];                                        \
			ST((v) + (4 * r_ + 0) * (vs), o0_);                           \
			ST((v) + (4 * r_ + 1) * (vs), o1_);                           \
			ST((v) + (4 * r_ + 2) * (vs), o2_);                           \
			ST((v) + (4 * r_ + 3) * (vs), o3_);                           \
		}                                                                     \
	} while (0)

/* Output transform of one tile for channels m .. m+lanes(T)-1: the 2x2
 * block A^T Z A + bias, A^T = [1 1 1 0; 0 1 -1 -1], from Z planes zs apart
 * into s0[0], s0[cs] (output row 0) and s1[0], s1[cs] (row 1). */
#define TILE_OUT(T, z, zs, bv, s0, s1, cs)                                            \
	do {                                                                          \
		T p0_[4], p1_[4];                                                     \
		for (int r_ = 0; r_ < 4; r_++) {                                      \
			LD(T, a_, (z) + (4 * r_) * (zs));                             \
			LD(T, b_, (z) + (4 * r_ + 1) * (zs));                         \
			LD(T, c_, (z) + (4 * r_ + 2) * (zs));                         \
			LD(T, e_, (z) + (4 * r_ + 3) * (zs));                         \
			p0_[r_] = a_ + b_ + c_;                                       \
			p1_[r_] = b_ - c_ - e_;                                       \
		}                                                                     \
		T o00_ = p0_[0] + p0_[1] + p0_[2] + (bv), o01_ = p1_[0] + p1_[1] + p1_[2] + (bv); \
		T o10_ = p0_[1] - p0_[2] - p0_[3] + (bv), o11_ = p1_[1] - p1_[2] - p1_[3] + (bv); \
		ST((s0), o00_);                                                       \
		ST((s0) + (cs), o01_);                                                \
		ST((s1), o10_);                                                       \
		ST((s1) + (cs), o11_);                                                \
	} while (0)

/* Input transform of `n` tiles of one tile row whose patches start at P
 * (row stride rs; consecutive tiles 2 c8 apart) into V (tile stride c8,
 * plane stride vs). */
INLINE void tiles_in(const float *P, int64_t rs, int64_t c8, int64_t n, float *v, int64_t vs)
{
	for (int64_t k = 0; k < n; k++) {
		const float *d = P + 2 * k * c8;
		float *vk = v + k * c8;
		for (int64_t c = 0; c < c8; c += 8)
			TILE_IN(v8f, d + c, rs, c8, vk + c, vs);
	}
}

/* Output transform of `n` tiles (Z tile stride m8, plane stride zs) into
 * the channel-last rows s0, s1 (column stride m8) from column 0. */
INLINE void tiles_out(const float *z, int64_t zs, int64_t M, int64_t m8, int64_t n,
		      const float *bias, float *s0, float *s1)
{
	for (int64_t k = 0; k < n; k++) {
		const float *zk = z + k * m8;
		float *a = s0 + 2 * k * m8, *b = s1 + 2 * k * m8;
		int64_t m = 0;
		for (; m + 8 <= M; m += 8) {
			v8f bv = { 0 };
			if (bias)
				memcpy(&bv, bias + m, sizeof(bv));
			TILE_OUT(v8f, zk + m, zs, bv, a + m, b + m, m8);
		}
		for (; m < M; m++) {
			float bv = bias ? bias[m] : 0.f;
			TILE_OUT(float, zk + m, zs, bv, a + m, b + m, m8);
		}
	}
}

/* One convolution's geometry and buffers, for the two transform phases. */
struct job {
	const float *x, *bias;
	float *y, *v, *z, *P, *S;
	int64_t C, M, H, W, OH, OW, tiles_w, per, c8, m8, vs, zs, pt, pl;
};

/* Input transform of tiles t0 .. t0+cnt-1 into V: per image, the input
 * rows under its tiles in the chunk go channel-last into P, then each
 * tile row's tiles are transformed. */
INLINE void input_phase(const struct job *j, int64_t t0, int64_t cnt)
{
	int64_t tw = j->tiles_w, wp = 2 * tw + 2, c8 = j->c8;
	for (int64_t t = t0; t < t0 + cnt;) {
		int64_t img = t / j->per, r0 = t % j->per, r1 = BO_MIN(j->per, r0 + t0 + cnt - t);
		int64_t th0 = r0 / tw, th1 = (r1 - 1) / tw;
		pack_rows(j->x + img * j->C * j->H * j->W, j->C, c8, j->H, j->W, 2 * th0 - j->pt,
			  2 * (th1 - th0) + 4, j->pl, wp, j->P);
		for (int64_t th = th0; th <= th1; th++) {
			int64_t a = BO_MAX(r0, th * tw) - th * tw, b = BO_MIN(r1, (th + 1) * tw) - th * tw;
			tiles_in(j->P + (2 * (th - th0) * wp + 2 * a) * c8, wp * c8, c8, b - a,
				 j->v + (t - t0 + th * tw + a - r0) * c8, j->vs);
		}
		t += r1 - r0;
	}
}

/* Output transform of tiles t0 .. t0+cnt-1 from Z: per image, each tile
 * row's 2 output rows go channel-last into S, then S goes to y. */
INLINE void output_phase(const struct job *j, int64_t t0, int64_t cnt)
{
	int64_t tw = j->tiles_w, m8 = j->m8, ss = 2 * tw * m8; /* S row stride */
	for (int64_t t = t0; t < t0 + cnt;) {
		int64_t img = t / j->per, r0 = t % j->per, r1 = BO_MIN(j->per, r0 + t0 + cnt - t);
		int64_t th0 = r0 / tw, th1 = (r1 - 1) / tw;
		for (int64_t th = th0; th <= th1; th++) {
			int64_t a = BO_MAX(r0, th * tw) - th * tw, b = BO_MIN(r1, (th + 1) * tw) - th * tw;
			float *s0 = j->S + 2 * (th - th0) * ss + 2 * a * m8;
			tiles_out(j->z + (t - t0 + th * tw + a - r0) * m8, j->zs, j->M, m8, b - a, j->bias,
				  s0, s0 + ss);
		}
		/* output rows 2 th0 .. 2 th1 + 1 (clipped to OH); the first and the
		 * last tile row may be partial */
		int64_t oh0 = 2 * th0, nrows = BO_MIN(j->OH, 2 * th1 + 2) - oh0;
		unpack_rows(j->S, ss, m8, j->M, nrows, 2, 2 * (r0 - th0 * tw), 2 * (th1 - th0),
			    BO_MIN(j->OW, 2 * (r1 - th1 * tw)), j->OW,
			    j->y + (img * j->M * j->OH + oh0) * j->OW, j->OW, j->OH * j->OW);
		t += r1 - r0;
	}
}

/* The phases compiled for the baseline ISA and, on x86-64, for AVX2 too
 * (chosen at run time): the build has no -march, and 8-wide vectors make
 * the transforms up to 2x faster (15% of a 64-channel layer). */
static void input_base(const struct job *j, int64_t t0, int64_t cnt)
{
	input_phase(j, t0, cnt);
}

static void output_base(const struct job *j, int64_t t0, int64_t cnt)
{
	output_phase(j, t0, cnt);
}

#if BO_X86
__attribute__((target("avx2"))) static void input_avx2(const struct job *j, int64_t t0,
							int64_t cnt)
{
	input_phase(j, t0, cnt);
}

__attribute__((target("avx2"))) static void output_avx2(const struct job *j, int64_t t0,
							 int64_t cnt)
{
	output_phase(j, t0, cnt);
}
#endif

bo_status Bo_wino_conv(const struct bo_plan *p, int ni, const float *const *in, float *y,
		       float *scratch)
{
	const struct bo_node *n = &p->m->nodes[ni];
	const struct bo_window *w = &p->win[ni];
	const struct bo_shape *xs = &p->shape[n->in[0]], *ys = &p->shape[n->out[0]];
	struct job j = {
		.x = in[0], .bias = n->n_in > 2 && n->in[2] >= 0 ? in[2] : NULL, .y = y,
		.C = xs->d[1], .M = ys->d[1], .H = xs->d[2], .W = xs->d[3],
		.OH = ys->d[2], .OW = ys->d[3], .pt = w->pb[0], .pl = w->pb[1],
	};
	int64_t tiles_h = (j.OH + 1) / 2, C = j.C, M = j.M;
	j.tiles_w = (j.OW + 1) / 2;
	j.per = tiles_h * j.tiles_w;
	int64_t T = xs->d[0] * j.per;
	const float *u;
	bo_status rc = get_u(p->wcache, ni, in[1], M, C, &u);
	if (rc)
		return rc;
	int64_t chunk = Bo_wino_chunk_tiles(C, M, T);
	struct layout l = scratch_layout(C, M, chunk, tiles_h, j.tiles_w);
	j.c8 = l.c8;
	j.m8 = l.m8;
	j.vs = l.vs;
	j.zs = l.zs;
	j.v = scratch;
	j.z = scratch + l.z;
	j.P = scratch + l.p;
	j.S = scratch + l.s;
	void (*in_fn)(const struct job *, int64_t, int64_t) = input_base;
	void (*out_fn)(const struct job *, int64_t, int64_t) = output_base;
#if BO_X86
	if (__builtin_cpu_supports("avx2")) {
		in_fn = input_avx2;
		out_fn = output_avx2;
	}
#endif
	for (int64_t t0 = 0; t0 < T; t0 += chunk) {
		int64_t cnt = BO_MIN(chunk, T - t0);
		in_fn(&j, t0, cnt);
		for (int xi = 0; xi < 16; xi++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cnt, (int)M,
				    (int)C, 1.f, j.v + xi * l.vs, (int)l.c8, u + xi * C * M, (int)M,
				    0.f, j.z + xi * l.zs, (int)l.m8);
		out_fn(&j, t0, cnt);
	}
	return BO_OK;
}
