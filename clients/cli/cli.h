/* Helpers shared by the brownout CLI's commands. */
#ifndef BO_CLI_H
#define BO_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include <brownout/brownout.h>

#define EXIT_USAGE 2

extern const char *prog;
/* the command being run ("sweep"), for "Try 'brownout sweep --help'" */
extern const char *cmd_name;

void usage(FILE *f);

/* Print "brownout: error: <formatted err>" and return 1. */
int fail_err(const struct bo_error *err);
/* Print a usage error (printf-style) and return 2. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print a usage error from err ("brownout: <text>") and return 2. */
int usage_err(const struct bo_error *err);
/* help.c: the command's own help (cmd NULL: the global one); returns 0 */
int cmd_help(FILE *f, const char *cmd);
/* help.c: after getopt_long refused argv[optind - 1]: "did you mean --X?"
 * from opts, "Try 'brownout CMD --help'"; returns 2 */
int bad_option(char **argv, const struct option *opts);
int parse_long(const char *s, long long lo, long long hi, long long *out);
double now(void);
/* Print j (consumed) indented; 0 on success. */
int print_json(json_t *j);

/* Say once, on stderr, when a fixed-batch model cannot be re-planned for
 * `batch` and runs as runs of its own batch, naming the node that pins it. */
void note_fixed_batch(const struct bo_model *m, const char *path, int batch);

int cmd_sweep(int argc, char **argv);
int cmd_calibrate_erasure(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_optimize(int argc, char **argv);

#endif
