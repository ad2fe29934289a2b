/* Vectorised elementwise math: Sigmoid and SiLU (x * Sigmoid(x)) over an
 * array.
 *
 * libm's expf is a call per element, and a loop that calls it cannot
 * vectorise (the build has no -ffast-math, so no libmvec); on
 * EfficientNet-B0 (SiLU = x * Sigmoid(x) after every Conv) Sigmoid took
 * 40% of the time. Here exp is computed inline in plain C that the
 * compiler vectorises: Cody-Waite range reduction x = n ln2 + r with
 * |r| <= ln2/2 (ln2 split in two so n ln2 is exact to 2^-30), Cephes'
 * degree-6 minimax polynomial for e^r (about 1 ulp on that interval),
 * and 2^n applied as two exact powers of two built from their bits, so
 * that n from -150 to 128 needs no special case: results below 2^-149
 * round to 0 and above FLT_MAX to +inf, as expf's. n comes from the
 * float bits after adding 1.5 * 2^23 (round to nearest), with no float
 * to int conversion, so NaN is just carried through (and NaN in, NaN
 * out is enforced by a final select on the bits). Every select is of
 * plain values or on bits: a ternary with a float operation in an arm is
 * not if-converted (-ftrapping-math) and would keep the loop scalar.
 *
 * Accuracy: sigmoid within 4 ulp of 1/(1+expf(-x)) for every float x
 * (tests/unit/test_vmath.c sweeps them all); the same results for
 * +-inf, +-0 and NaN. Compiled for the baseline and with
 * target("avx2,fma") (picked at run time, as in winograd.c); the two
 * may differ in the last bit (FMA contraction). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vmath.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BO_X86 1
#else
#define BO_X86 0
#endif

#define INLINE static inline __attribute__((always_inline))

INLINE float bits_f(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

INLINE uint32_t f_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

/* mask (all ones or zeros) ? a : b, on the bits */
INLINE float sel(uint32_t mask, float a, float b)
{
	return bits_f((f_bits(a) & mask) | (f_bits(b) & ~mask));
}

/* e^x for every float x */
INLINE float exp_inline(float x)
{
	/* clamp so that n stays in [-150, 128]; beyond, the result is 0 or
	 * inf anyway. NaN passes the comparisons unchanged. */
	float xc = sel(-(uint32_t)(x < -104.f), -104.f, x);
	xc = sel(-(uint32_t)(xc > 89.f), 89.f, xc);
	const float magic = 12582912.f; /* 1.5 * 2^23 */
	float t = xc * 1.44269504088896341f + magic;
	float nf = t - magic;                            /* round(x / ln2) */
	int32_t n = (int32_t)(f_bits(t) - f_bits(magic)); /* the same, as an int */
	float r = xc - nf * 0.693359375f;
	r = r + nf * 2.12194440e-4f;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.f;
	int32_t h = n >> 1; /* arithmetic: floor(n / 2) */
	float s1 = bits_f((uint32_t)(h + 127) << 23), s2 = bits_f((uint32_t)(n - h + 127) << 23);
	float e = p * s1 * s2;
	/* NaN in, NaN out: a select on bits, as a ternary on e (a float op,
	 * which may trap) would not be if-converted and vectorised */
	return sel(-(uint32_t)((f_bits(x) & 0x7fffffffu) > 0x7f800000u), x, e);
}

INLINE float sigmoid1(float x)
{
	return 1.f / (1.f + exp_inline(-x));
}

/* silu: 0 y = sigmoid(x), 1 y = x * sigmoid(x), 2 y = sigmoid(x) * x,
 * the sigmoid rounded to float first, exactly as the Sigmoid kernel's
 * output and x in the Mul kernel, in the Mul's order of operands (which
 * matters for NaN: the product carries its first operand's, and
 * sigmoid(NaN) has the sign flipped): a fused SiLU is bit-identical to
 * the two nodes */
INLINE void sigmoid_loop(const float *restrict x, float *restrict y, int64_t n, const int silu)
{
	if (silu == 1)
		for (int64_t i = 0; i < n; i++) {
			float s = sigmoid1(x[i]);
			y[i] = x[i] * s;
		}
	else if (silu == 2)
		for (int64_t i = 0; i < n; i++) {
			float s = sigmoid1(x[i]);
			y[i] = s * x[i];
		}
	else
		for (int64_t i = 0; i < n; i++)
			y[i] = sigmoid1(x[i]);
}

/* in place (x == y) too: one pointer, so that the loop needs no restrict
 * to vectorise (each element is read before it is written) */
INLINE void sigmoid_inplace(float *y, int64_t n, const int silu)
{
	if (silu == 1)
		for (int64_t i = 0; i < n; i++) {
			float v = y[i], s = sigmoid1(v);
			y[i] = v * s;
		}
	else if (silu == 2)
		for (int64_t i = 0; i < n; i++) {
			float v = y[i], s = sigmoid1(v);
			y[i] = s * v;
		}
	else
		for (int64_t i = 0; i < n; i++)
			y[i] = sigmoid1(y[i]);
}

INLINE void sigmoid_any(const float *x, float *y, int64_t n, const int silu)
{
	if (x == y)
		sigmoid_inplace(y, n, silu);
	else
		sigmoid_loop(x, y, n, silu);
}

static void sigmoid_base(const float *x, float *y, int64_t n)
{
	sigmoid_any(x, y, n, 0);
}

static void silu_base(const float *x, float *y, int64_t n, int gate_first)
{
	if (gate_first)
		sigmoid_any(x, y, n, 2);
	else
		sigmoid_any(x, y, n, 1);
}

#if BO_X86
__attribute__((target("avx2,fma"))) static void sigmoid_avx2(const float *x, float *y, int64_t n)
{
	sigmoid_any(x, y, n, 0);
}

__attribute__((target("avx2,fma"))) static void silu_avx2(const float *x, float *y, int64_t n,
							 int gate_first)
{
	if (gate_first)
		sigmoid_any(x, y, n, 2);
	else
		sigmoid_any(x, y, n, 1);
}

static int have_avx2(void)
{
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

void Bo_vsigmoid(const float *x, float *y, int64_t n)
{
#if BO_X86
	if (have_avx2()) {
		sigmoid_avx2(x, y, n);
		return;
	}
#endif
	sigmoid_base(x, y, n);
}

void Bo_vsilu(const float *x, float *y, int64_t n, int gate_first)
{
#if BO_X86
	if (have_avx2()) {
		silu_avx2(x, y, n, gate_first);
		return;
	}
#endif
	silu_base(x, y, n, gate_first);
}

/* Relu and Clip: the formulas of ops.c's k_relu and k_clip (and plan.h's
 * Bo_act_apply_rc), compiled for the baseline and for AVX2 (8 lanes): the
 * ternaries become max/min in the operand order that keeps them exact
 * (NaN and -0 included), so both builds give the same bits. */
INLINE void relu_any(const float *x, float *y, int64_t n)
{
	if (x == y) { /* one pointer: no overlap check that would fail in place */
		for (int64_t i = 0; i < n; i++)
			y[i] = y[i] > 0.f ? y[i] : 0.f;
		return;
	}
	for (int64_t i = 0; i < n; i++)
		y[i] = x[i] > 0.f ? x[i] : 0.f;
}

INLINE void clip_any(const float *x, float *y, int64_t n, float lo, float hi)
{
	if (x == y) {
		for (int64_t i = 0; i < n; i++) {
			float v = y[i] < lo ? lo : y[i];
			y[i] = v > hi ? hi : v;
		}
		return;
	}
	for (int64_t i = 0; i < n; i++) {
		float v = x[i] < lo ? lo : x[i];
		y[i] = v > hi ? hi : v;
	}
}

static void relu_base(const float *x, float *y, int64_t n)
{
	relu_any(x, y, n);
}

static void clip_base(const float *x, float *y, int64_t n, float lo, float hi)
{
	clip_any(x, y, n, lo, hi);
}

#if BO_X86
__attribute__((target("avx2,fma"))) static void relu_avx2(const float *x, float *y, int64_t n)
{
	relu_any(x, y, n);
}

__attribute__((target("avx2,fma"))) static void clip_avx2(const float *x, float *y, int64_t n,
							 float lo, float hi)
{
	clip_any(x, y, n, lo, hi);
}
#endif

void Bo_vrelu(const float *x, float *y, int64_t n)
{
#if BO_X86
	if (have_avx2()) {
		relu_avx2(x, y, n);
		return;
	}
#endif
	relu_base(x, y, n);
}

void Bo_vclip(const float *x, float *y, int64_t n, float lo, float hi)
{
#if BO_X86
	if (have_avx2()) {
		clip_avx2(x, y, n, lo, hi);
		return;
	}
#endif
	clip_base(x, y, n, lo, hi);
}

float Bo_expf_ref(float x)
{
	return exp_inline(x);
}
