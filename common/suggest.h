/* "did you mean --X?" for an unknown command-line option, shared by the
 * brownout CLI and brownoutd. */
#ifndef BO_SUGGEST_H
#define BO_SUGGEST_H

#include <getopt.h>

/* The long option of opts (getopt_long's table, ending with a zeroed
 * entry) closest to arg ("--limt" or "--limt=5"; leading dashes and any
 * "=VALUE" are ignored) by edit distance, or NULL when none is close
 * enough to be a likely typo (distance <= 1, or <= 2 for names of 5 or
 * more characters), or arg is not a long option, or arg names an option
 * of the table exactly or abbreviates one (then getopt refused its
 * argument, or has listed the options an ambiguous abbreviation fits). */
const char *bo_suggest_option(const char *arg, const struct option *opts);

#endif
