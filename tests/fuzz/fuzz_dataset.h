/* The dataset fuzz targets (fuzz_idx.c, fuzz_npy.c, fuzz_cifar.c) share
 * this: the input becomes one or two files, bo_dataset_open_files opens
 * them with small limits, and every image is converted with
 * bo_dataset_batch, so that whatever the parser accepted is read whole.
 *
 * Two-file formats (IDX, NumPy) split the input at the first SEP: images
 * before it, labels after; without SEP the labels file is empty. Files are
 * memfds named by /proc/self/fd/N, made once per process and rewritten for
 * every input (zlib detects gzip from the content, so the same targets
 * cover the gzipped variants). */
#ifndef FUZZ_DATASET_H
#define FUZZ_DATASET_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <brownout/brownout.h>

#define FUZZ_SEP "\n#LABELS#\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_fd[2] = { -1, -1 };

/* Replace the content of memfd i by data; its path into path. */
static int fuzz_file(int i, const uint8_t *data, size_t size, char *path, size_t psize)
{
	if (fuzz_fd[i] < 0 && (fuzz_fd[i] = memfd_create(i ? "labels" : "images", MFD_CLOEXEC)) < 0)
		abort();
	if (ftruncate(fuzz_fd[i], 0))
		abort();
	for (size_t done = 0; done < size;) {
		ssize_t k = pwrite(fuzz_fd[i], data + done, size - done, (off_t)done);
		if (k <= 0)
			abort();
		done += (size_t)k;
	}
	snprintf(path, psize, "/proc/self/fd/%d", fuzz_fd[i]);
	return 0;
}

static void fuzz_dataset(enum bo_dataset_format fmt, int two_files, const uint8_t *data,
			 size_t size)
{
	/* small enough that no input can make the parser allocate much:
	 * 256 KiB of pixels at most, which bo_dataset_batch makes 1 MiB */
	struct bo_dataset_limits lim = { .max_images = 4096, .max_pixels = 4096,
					 .max_bytes = 256 * 1024 };
	char ipath[64], lpath[64], msg[512];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	size_t isize = size;
	const uint8_t *lab = NULL;
	if (two_files) {
		lab = memmem(data, size, FUZZ_SEP, sizeof(FUZZ_SEP) - 1);
		if (lab) {
			isize = (size_t)(lab - data);
			lab += sizeof(FUZZ_SEP) - 1;
		}
	}
	fuzz_file(0, data, isize, ipath, sizeof(ipath));
	if (two_files)
		fuzz_file(1, lab, lab ? size - (size_t)(lab - data) : 0, lpath, sizeof(lpath));
	bo_error_clear(&err);
	if (bo_dataset_open_files(ipath, two_files ? lpath : NULL, fmt, &lim, &ds, &err)) {
		bo_error_format(&err, msg, sizeof(msg));
		return;
	}
	int64_t n = bo_dataset_count(ds), c, h, w;
	bo_dataset_shape(ds, &c, &h, &w);
	if (n < 0 || c < 1 || h < 1 || w < 1 || c > BO_MAX_CHANNELS || c * h * w > lim.max_pixels ||
	    n * c * h * w > lim.max_bytes)
		abort(); /* the limits did not hold */
	(void)bo_dataset_format_name(bo_dataset_format(ds));
	int classes = bo_dataset_classes(ds);
	struct bo_norm norm = { .n = 1, .mean = { 0.5f }, .std = { 0.25f } };
	int64_t per = c * h * w, chunk = n < 64 ? (n ? n : 1) : 64;
	float *x = malloc((size_t)(chunk * per) * sizeof(float));
	int labels[64];
	if (!x)
		abort();
	for (int64_t first = 0; first < n; first += chunk) {
		int64_t k = n - first < chunk ? n - first : chunk;
		if (bo_dataset_batch(ds, first, k, &norm, x, labels, &err))
			abort(); /* an opened dataset converts */
		for (int64_t i = 0; i < k; i++)
			if (labels[i] < 0 || labels[i] >= classes ||
			    labels[i] != bo_dataset_label(ds, first + i))
				abort();
	}
	free(x);
	bo_dataset_free(ds);
}

#endif
