/* What every command of the brownout CLI shares (cli.h): the program's
 * name, error and usage-error printing, number parsing, the monotonic
 * clock, JSON output, the fixed-batch note. The commands (brownout.c:
 * info, eval, run; sweep_cmd.c; optimize_cmd.c; worker.c) call these and
 * never each other; main() in brownout.c dispatches to them. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <brownout/brownout.h>

#include "cli.h"

const char *prog = "brownout";
const char *cmd_name = NULL;

int fail_err(const struct bo_error *err)
{
	char buf[1024];
	fprintf(stderr, "%s: error: %s\n", prog, bo_error_format(err, buf, sizeof(buf)));
	/* the error text holds only the start of a long list of unsupported operators */
	size_t n = strlen(err->text);
	char *list = NULL;
	struct bo_error e2;
	if (err->status == BO_EUNSUPPORTED && err->file[0] && n > 3 &&
	    !strncmp(err->text, "unsupported operators: ", 23) && !strcmp(err->text + n - 3, "...") &&
	    !bo_model_unsupported_ops(err->file, &list, &e2))
		fprintf(stderr, "%s: all unsupported operators: %s\n", prog, list);
	free(list);
	return 1;
}

int usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s%s%s --help'.\n", prog, cmd_name ? " " : "", cmd_name ? cmd_name : "");
	return EXIT_USAGE;
}

int usage_err(const struct bo_error *err)
{
	char buf[1024];
	return usage_error("%s", bo_error_format(err, buf, sizeof(buf)));
}

int parse_long(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

void note_fixed_batch(const struct bo_model *m, const char *path, int batch)
{
	int64_t fb = bo_model_fixed_batch(m);
	struct bo_error why;
	char buf[1024];
	if (fb > 0 && fb != batch && !bo_model_batch_replans(m, batch, &why)) {
		why.file[0] = 0; /* the path is said already */
		fprintf(stderr,
			"%s: note: %s has its batch fixed at %lld (exported without a dynamic batch "
			"axis) and cannot be re-planned for a batch of %d (%s): it runs as runs of "
			"%lld images; a dynamic batch axis is faster (docs/export.md)\n",
			prog, path, (long long)fb, batch, bo_error_format(&why, buf, sizeof(buf)),
			(long long)fb);
	}
}

double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int print_json(json_t *j)
{
	if (!j) {
		fprintf(stderr, "%s: error: out of memory\n", prog);
		return 1;
	}
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s) {
		fprintf(stderr, "%s: error: out of memory\n", prog);
		return 1;
	}
	puts(s);
	free(s);
	return 0;
}
