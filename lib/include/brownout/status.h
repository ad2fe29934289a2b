/* brownout: status codes and error details.
 *
 * Every library call that can fail returns a bo_status. The numbers are part
 * of the ABI and are never renumbered: new codes go at the end.
 * Parsers additionally fill a struct bo_error (like jansson's json_error_t)
 * naming the file, node, field and byte offset of the problem. */
#ifndef BROWNOUT_STATUS_H
#define BROWNOUT_STATUS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bo_status {
	BO_OK = 0,
	BO_ENOMEM = 1,       /* an allocation failed */
	BO_EIO = 2,          /* reading or writing a file failed */
	BO_EMALFORMED = 3,   /* input is not what its format says it is */
	BO_EUNSUPPORTED = 4, /* valid input we do not implement (op, attribute, dtype) */
	BO_ESHAPE = 5,       /* tensor shapes do not fit together */
	BO_ELIMIT = 6,       /* input exceeds a configured cap (size, dims, nodes) */
	BO_EINVAL = 7,       /* a caller-supplied argument is invalid */
	BO_ENOENT = 8,       /* a named thing (file, tensor, input) does not exist */
	BO_ECANCELLED = 9,   /* a callback asked to stop */
	BO_EINTERNAL = 10,   /* a bug: an invariant did not hold */
	BO_EAUTH = 11,       /* missing or invalid credentials */
	BO_EPERM = 12,       /* authenticated, but not allowed to do this */
	BO_ECONFLICT = 13,   /* the thing's state forbids it (in use, exists) */
	BO_EBUSY = 14,       /* temporarily unavailable (shutting down, queue full) */
	BO_EMISMATCH = 15,   /* contradicts an earlier request (idempotency key) */
	BO_ENOSPC = 16,      /* the disk (or the database) is full */
	BO_EQUOTA = 17,      /* a per-user quota (stored bytes, queued tasks) is spent */
	BO_STATUS_COUNT_ /* not a status; keep last */
} bo_status;

/* A static, human-readable description of a status. Never NULL. */
const char *bo_strerror(bo_status status);
/* A static, stable machine name of a status ("not_found", "limit", ...),
 * as the daemon's error bodies carry it. Never NULL. */
const char *bo_status_name(bo_status status);

#define BO_ERROR_TEXT 320

/* Where and why a call failed. Fields that do not apply are empty strings
 * (offset: -1). */
struct bo_error {
	bo_status status;
	char file[256];   /* the file being read, if any */
	char node[128];   /* ONNX node name (or tensor name) involved */
	char op[32];      /* ONNX op type of that node */
	char field[64];   /* attribute, field or argument name */
	int64_t offset;   /* byte offset in the file, or -1 */
	char text[BO_ERROR_TEXT]; /* the explanation */
};

/* Reset an error to "no error". Accepts NULL. */
void bo_error_clear(struct bo_error *err);

#if defined(__GNUC__) || defined(__clang__)
#define BO_PRINTF_FORMAT(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define BO_PRINTF_FORMAT(fmt, args)
#endif

/* For code outside the library (the daemon, the CLI) that reports its own
 * errors in a struct bo_error: record status st and a printf-style
 * explanation in err (may be NULL; the text is truncated to fit) and return
 * st, so that callers can write `return bo_error_set(err, BO_EINVAL, ...)`. */
bo_status bo_error_set(struct bo_error *err, bo_status st, const char *fmt, ...)
	BO_PRINTF_FORMAT(3, 4);
bo_status bo_error_vset(struct bo_error *err, bo_status st, const char *fmt, va_list ap)
	BO_PRINTF_FORMAT(3, 0);
/* Fill the location fields of err (may be NULL) whose argument is non-NULL:
 * the file, the node, its op type, the field or argument. */
void bo_error_set_where(struct bo_error *err, const char *file, const char *node,
			const char *op, const char *field);

/* Format an error as one line: "FILE: node 'N' (OP): field 'F': TEXT
 * (at byte OFF)". Returns buf. */
const char *bo_error_format(const struct bo_error *err, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
