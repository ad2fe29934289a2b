/* Scratch directories for tests that write files. */
#ifndef TESTS_COMMON_TMP_H
#define TESTS_COMMON_TMP_H

#include <stddef.h>

/* Make a fresh directory $TMPDIR/bo_TAG_XXXXXX (or under /tmp) and put its
 * path in root. Returns 0, or -1. */
int tt_mkdtemp(char *root, size_t size, const char *tag);
/* Remove dir and everything below it. Returns 0, or -1. */
int tt_rmtree(const char *dir);

#endif
