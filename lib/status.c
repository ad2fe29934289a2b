/* Status strings and error-detail formatting. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const status_text[] = {
	[BO_OK] = "success",
	[BO_ENOMEM] = "out of memory",
	[BO_EIO] = "input/output error",
	[BO_EMALFORMED] = "malformed input",
	[BO_EUNSUPPORTED] = "unsupported",
	[BO_ESHAPE] = "shape mismatch",
	[BO_ELIMIT] = "limit exceeded",
	[BO_EINVAL] = "invalid argument",
	[BO_ENOENT] = "not found",
	[BO_ECANCELLED] = "cancelled",
	[BO_EINTERNAL] = "internal error",
	[BO_EAUTH] = "authentication required",
	[BO_EPERM] = "permission denied",
	[BO_ECONFLICT] = "conflict",
	[BO_EBUSY] = "temporarily unavailable",
	[BO_EMISMATCH] = "does not match an earlier request",
	[BO_ENOSPC] = "no space left on the device",
	[BO_EQUOTA] = "quota exceeded",
};

static const char *const status_name[] = {
	[BO_OK] = "ok",
	[BO_ENOMEM] = "out_of_memory",
	[BO_EIO] = "io_error",
	[BO_EMALFORMED] = "malformed",
	[BO_EUNSUPPORTED] = "unsupported",
	[BO_ESHAPE] = "shape_mismatch",
	[BO_ELIMIT] = "too_large",
	[BO_EINVAL] = "invalid",
	[BO_ENOENT] = "not_found",
	[BO_ECANCELLED] = "cancelled",
	[BO_EINTERNAL] = "internal",
	[BO_EAUTH] = "unauthorized",
	[BO_EPERM] = "forbidden",
	[BO_ECONFLICT] = "conflict",
	[BO_EBUSY] = "unavailable",
	[BO_EMISMATCH] = "mismatch",
	[BO_ENOSPC] = "insufficient_storage",
	[BO_EQUOTA] = "quota_exceeded",
};

const char *bo_strerror(bo_status status)
{
	if ((unsigned)status >= BO_STATUS_COUNT_ || !status_text[status])
		return "unknown status";
	return status_text[status];
}

const char *bo_status_name(bo_status status)
{
	if ((unsigned)status >= BO_STATUS_COUNT_ || !status_name[status])
		return "unknown";
	return status_name[status];
}

void bo_error_clear(struct bo_error *err)
{
	if (!err)
		return;
	memset(err, 0, sizeof(*err));
	err->offset = -1;
}

bo_status bo_error_vset(struct bo_error *err, bo_status st, const char *fmt, va_list ap)
{
	if (!err)
		return st;
	err->status = st;
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	return st;
}

bo_status bo_error_set(struct bo_error *err, bo_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bo_error_vset(err, st, fmt, ap);
	va_end(ap);
	return st;
}

/* the library's own names for the same (internal.h) */
bo_status Bo_vfail(struct bo_error *err, bo_status st, const char *fmt, va_list ap)
{
	return bo_error_vset(err, st, fmt, ap);
}

bo_status Bo_fail(struct bo_error *err, bo_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bo_error_vset(err, st, fmt, ap);
	va_end(ap);
	return st;
}

void Bo_error_where(struct bo_error *err, const char *file, const char *node, const char *op,
		    const char *field)
{
	bo_error_set_where(err, file, node, op, field);
}

void bo_error_set_where(struct bo_error *err, const char *file, const char *node,
			const char *op, const char *field)
{
	if (!err)
		return;
	if (file)
		snprintf(err->file, sizeof(err->file), "%s", file);
	if (node)
		snprintf(err->node, sizeof(err->node), "%s", node);
	if (op)
		snprintf(err->op, sizeof(err->op), "%s", op);
	if (field)
		snprintf(err->field, sizeof(err->field), "%s", field);
}

const char *bo_error_format(const struct bo_error *err, char *buf, size_t size)
{
	if (!buf || !size)
		return buf;
	buf[0] = 0;
	if (!err)
		return buf;
	size_t n = 0;
#define APPEND(...)                                                        \
	do {                                                               \
		if (n < size) {                                            \
			int k_ = snprintf(buf + n, size - n, __VA_ARGS__); \
			if (k_ > 0)                                        \
				n += (size_t)k_;                           \
		}                                                          \
	} while (0)
	if (err->file[0])
		APPEND("%s: ", err->file);
	if (err->node[0] && err->op[0])
		APPEND("node '%s' (%s): ", err->node, err->op);
	else if (err->node[0])
		APPEND("'%s': ", err->node);
	else if (err->op[0])
		APPEND("%s: ", err->op);
	if (err->field[0])
		APPEND("'%s': ", err->field);
	APPEND("%s", err->text[0] ? err->text : bo_strerror(err->status));
	if (err->offset >= 0)
		APPEND(" (at byte %lld)", (long long)err->offset);
#undef APPEND
	return buf;
}
