/* Helpers shared by the brownout CLI's commands. */
#ifndef BO_CLI_H
#define BO_CLI_H

#include <jansson.h>
#include <stdio.h>

#include <brownout/brownout.h>

#define EXIT_USAGE 2

extern const char *prog;

void usage(FILE *f);

/* Print "brownout: error: <formatted err>" and return 1. */
int fail_err(const struct bo_error *err);
/* Print a usage error (fmt with one %s) and return 2. */
int usage_error(const char *fmt, const char *arg);
int parse_long(const char *s, long long lo, long long hi, long long *out);
double now(void);
/* Print j (consumed) indented; 0 on success. */
int print_json(json_t *j);

int cmd_sweep(int argc, char **argv);
int cmd_calibrate_erasure(int argc, char **argv);
int cmd_worker(int argc, char **argv);

#endif
