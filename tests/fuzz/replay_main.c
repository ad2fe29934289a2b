/* Replay saved fuzz inputs without libFuzzer (after systemd's fuzz-main.c).
 *
 *   fuzz_TARGET FILE|DIR...
 *
 * Calls LLVMFuzzerTestOneInput once for every file named, and for every
 * regular file in every directory named (not recursively, in name order),
 * so that `make test` runs each saved input under the build's sanitizers.
 * A sanitizer report aborts the run; otherwise it prints how many inputs
 * ran and exits 0. LLVMFuzzerInitialize, when the target has one, runs
 * first, as under libFuzzer. No input at all is an error: an empty corpus
 * would make the test pass whatever the code does. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (!f || fstat(fileno(f), &st) || st.st_size < 0) {
		fprintf(stderr, "fuzz replay: cannot read %s\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	size_t n = (size_t)st.st_size;
	/* an exact-size heap copy, so that ASan sees reads past the end */
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf || fread(buf, 1, n, f) != n) {
		fprintf(stderr, "fuzz replay: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "fuzz replay: %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	long ran = 0;
	int bad = 0;
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st)) {
			fprintf(stderr, "fuzz replay: no such file or directory: %s\n", argv[i]);
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= run_file(argv[i]) != 0;
			ran++;
			continue;
		}
		struct dirent **names;
		int n = scandir(argv[i], &names, NULL, by_name);
		if (n < 0) {
			fprintf(stderr, "fuzz replay: cannot list %s\n", argv[i]);
			bad = 1;
			continue;
		}
		for (int k = 0; k < n; k++) {
			char path[4096];
			struct stat fs;
			snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]->d_name);
			if (names[k]->d_name[0] != '.' && !stat(path, &fs) && S_ISREG(fs.st_mode)) {
				bad |= run_file(path) != 0;
				ran++;
			}
			free(names[k]);
		}
		free(names);
	}
	if (!ran) {
		fprintf(stderr, "fuzz replay: no inputs\n");
		return 1;
	}
	fprintf(stderr, "fuzz replay: %ld inputs run\n", ran);
	return bad;
}
