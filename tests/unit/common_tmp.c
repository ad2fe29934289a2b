/* Scratch directories for tests (common_tmp.h). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "common_tmp.h"

int tt_mkdtemp(char *root, size_t size, const char *tag)
{
	const char *t = getenv("TMPDIR");
	int k = snprintf(root, size, "%s/bo_%s_XXXXXX", t && *t ? t : "/tmp", tag);
	if (k < 0 || (size_t)k >= size)
		return -1;
	return mkdtemp(root) ? 0 : -1;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int tt_rmtree(const char *dir)
{
	return nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}
