/* Private helpers shared by the library's .c files and its white-box tests
 * (tests/unit/). Nothing outside lib/ can include it (only lib/ and
 * tests/unit/ compile with -Ilib; make check-layering checks): the daemon
 * and the CLI report errors with the public bo_error_set (brownout/status.h).
 * Named internal.h so that it cannot be taken for common/.
 *
 * Names say which is which, as curl's Curl_ does: bo_ is the public API
 * (lib/include/brownout/), Bo_ a function internal to the library,
 * declared in a private header (make check-layering refuses either prefix
 * in the other kind of header). */
#ifndef BO_INTERNAL_H
#define BO_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <brownout/status.h>

/* Record status and a printf-style explanation in err (may be NULL);
 * returns st so callers can write `return Bo_fail(err, BO_EINVAL, ...)`. */
bo_status Bo_fail(struct bo_error *err, bo_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bo_status Bo_vfail(struct bo_error *err, bo_status st, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Fill the location fields of err that are non-NULL. */
void Bo_error_where(struct bo_error *err, const char *file, const char *node, const char *op,
		    const char *field);

/* The bytes of images a hooked Relu or Clip of session s runs at a time,
 * each group handed to the hook right away (lib/session.c,
 * run_act_grouped): < 0 the default (128 KiB), 0 none (a new session's
 * setting: the whole slice, then the hook). Only for hooks that treat each
 * image on its own (the sweeper's, keyed by image), which then give the
 * same results whatever the grouping. */
struct bo_session;
void Bo_session_set_act_group(struct bo_session *s, int64_t bytes);

/* Overflow-checked size arithmetic: return 0 on overflow. */
static inline int Bo_mul_ok(int64_t a, int64_t b, int64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

/* Read a whole file into a malloc'd buffer, refusing files over max_bytes. */
bo_status Bo_read_file(const char *path, int64_t max_bytes, unsigned char **buf, size_t *len,
		       struct bo_error *err);

/* Write len bytes to path atomically: PATH.tmp.PID, fsync, rename, fsync dir. */
bo_status Bo_write_file_atomic(const char *path, const void *data, size_t len,
			       struct bo_error *err);

#define BO_MIN(a, b) ((a) < (b) ? (a) : (b))
#define BO_MAX(a, b) ((a) > (b) ? (a) : (b))

/* x86 with GNU C: the kernels that pick an AVX2 path at run time
 * (target("avx2") functions, __builtin_cpu_supports) compile it only here */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define BO_X86 1
#else
#define BO_X86 0
#endif
#define BO_INLINE static inline __attribute__((always_inline))

/* The continued fraction of the regularized incomplete beta function
 * I_x(a, b) = x^a (1 - x)^b / (a B(a, b)) * cf (modified Lentz, Numerical
 * Recipes' betacf; summary.c), in long double; converges fast for
 * x < (a + 1) / (a + b + 2). Student t (summary.c) and Clopper-Pearson
 * (design.c) both use it. */
double Bo_betacf(double a, double b, long double x);

#endif
