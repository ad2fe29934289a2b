/* Unit tests for lib/dataset.c: IDX (raw and gzip), CIFAR-10 and NumPy
 * datasets written into a temporary directory at test time, their error
 * paths, normalization and batching, and the real Fashion-MNIST test split
 * when it is installed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include <brownout/dataset.h>

#include "common_tmp.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define TOL 1e-6f

static char g_root[4096];

/* ---- temp files ---- */

static void tpath(char *out, const char *sub, const char *name)
{
	int k = snprintf(out, 4096, "%s/%s/%s", g_root, sub, name);
	assert_true(k > 0 && k < 4096);
}

static void mksub(const char *sub)
{
	char p[4096];
	tpath(p, sub, "");
	assert_int_equal(mkdir(p, 0700), 0);
}

static void write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (n)
		assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const void *data, size_t n)
{
	gzFile g = gzopen(path, "wb");
	assert_non_null(g);
	assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
	assert_int_equal(gzclose(g), Z_OK);
}

static unsigned char *read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long len = ftell(f);
	assert_true(len >= 0);
	rewind(f);
	unsigned char *p = malloc((size_t)len + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return p;
}

static int group_setup(void **state)
{
	(void)state;
	return tt_mkdtemp(g_root, sizeof(g_root), "dataset");
}

static int group_teardown(void **state)
{
	(void)state;
	return tt_rmtree(g_root);
}

/* ---- byte buffers ---- */

struct buf {
	unsigned char *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void put_u8(struct buf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;
	put(b, &c, 1);
}

static void put_be32(struct buf *b, uint32_t v)
{
	unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	put(b, c, 4);
}

static void put_le(struct buf *b, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		put_u8(b, (unsigned)(v >> (8 * i)) & 255);
}

static void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Deterministic pixel k of image i; image 0 starts with 51 (= 0.2 * 255). */
static unsigned char pix(int64_t i, int64_t k)
{
	return (unsigned char)((i * 37 + k * 11 + 51) & 255);
}

static void idx_images(struct buf *b, uint32_t magic, uint32_t n, uint32_t h, uint32_t w)
{
	put_be32(b, magic);
	put_be32(b, n);
	put_be32(b, h);
	put_be32(b, w);
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t k = 0; k < h * w; k++)
			put_u8(b, pix(i, k));
}

static void idx_labels(struct buf *b, uint32_t n, const unsigned char *labels)
{
	put_be32(b, 0x00000801);
	put_be32(b, n);
	put(b, labels, n);
}

/* Write an IDX pair with n images of h x w and the given labels. */
static void write_idx_pair(const char *img, const char *lab, uint32_t n, uint32_t h, uint32_t w,
			   const unsigned char *labels, int gz)
{
	struct buf bi = {0}, bl = {0};
	idx_images(&bi, 0x00000803, n, h, w);
	idx_labels(&bl, n, labels);
	if (gz) {
		write_gz(img, bi.p, bi.n);
		write_gz(lab, bl.p, bl.n);
	} else {
		write_file(img, bi.p, bi.n);
		write_file(lab, bl.p, bl.n);
	}
	buf_free(&bi);
	buf_free(&bl);
}

/* An .npy file: header dict text `dict` (padded as numpy does), then data. */
static size_t npy_raw(struct buf *b, int version, const char *dict, const void *data, size_t n)
{
	size_t pre = version == 1 ? 10 : 12;
	size_t len = strlen(dict) + 1;
	size_t pad = (64 - (pre + len) % 64) % 64;
	put(b, "\x93NUMPY", 6);
	put_u8(b, (unsigned)version);
	put_u8(b, 0);
	put_le(b, len + pad, version == 1 ? 2 : 4);
	put(b, dict, strlen(dict));
	for (size_t i = 0; i < pad; i++)
		put_u8(b, ' ');
	put_u8(b, '\n');
	size_t header = b->n;
	if (n)
		put(b, data, n);
	return header;
}

/* Returns the byte offset of the data. */
static size_t write_npy(const char *path, int version, const char *descr, const char *shape,
			const void *data, size_t n)
{
	char dict[256];
	struct buf b = {0};
	snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
		 descr, shape);
	size_t header = npy_raw(&b, version, dict, data, n);
	write_file(path, b.p, b.n);
	buf_free(&b);
	return header;
}

static void write_npy_dict(const char *path, const char *dict, const void *data, size_t n)
{
	struct buf b = {0};
	npy_raw(&b, 1, dict, data, n);
	write_file(path, b.p, b.n);
	buf_free(&b);
}

/* ---- assertions on errors ---- */

static void expect_err_(bo_status rc, const struct bo_error *err, bo_status st,
			const char *needle, const char *needle2, const char *file, int line)
{
	char msg[1024];
	bo_error_format(err, msg, sizeof(msg));
	if (rc != st || err->status != st || (needle && !strstr(msg, needle)) ||
	    (needle2 && !strstr(msg, needle2)))
		fail_msg("%s:%d: wanted status %d (%s) with '%s' and '%s'; got %d: %s", file, line,
			 (int)st, bo_strerror(st), needle ? needle : "", needle2 ? needle2 : "",
			 (int)rc, msg);
}

#define EXPECT_ERR(rc, err, st, needle) \
	expect_err_((rc), &(err), (st), (needle), NULL, __FILE__, __LINE__)
#define EXPECT_ERR2(rc, err, st, needle, needle2) \
	expect_err_((rc), &(err), (st), (needle), (needle2), __FILE__, __LINE__)

static void expect_ok_(bo_status rc, const struct bo_error *err, const char *file, int line)
{
	char msg[1024];
	if (rc != BO_OK)
		fail_msg("%s:%d: unexpected error %d: %s", file, line, (int)rc,
			 bo_error_format(err, msg, sizeof(msg)));
}

#define EXPECT_OK(rc, err) expect_ok_((rc), &(err), __FILE__, __LINE__)

/* Check count, shape and labels of ds, and that unnormalized u8 pixels come
 * back as pix()/255. */
static void check_u8_dataset(const struct bo_dataset *ds, int64_t n, int64_t h, int64_t w,
			     const unsigned char *labels)
{
	int64_t c, hh, ww;
	struct bo_error err;
	assert_int_equal(bo_dataset_count(ds), n);
	float lo = 7, hi = 7;
	assert_int_equal(bo_dataset_float_range(ds, 0, &lo, &hi), 0); /* bytes: no range */
	assert_true(lo == 7 && hi == 7);
	bo_dataset_shape(ds, &c, &hh, &ww);
	assert_int_equal(c, 1);
	assert_int_equal(hh, h);
	assert_int_equal(ww, w);
	int mx = 0;
	for (int64_t i = 0; i < n; i++) {
		assert_int_equal(bo_dataset_label(ds, i), labels[i]);
		mx = labels[i] > mx ? labels[i] : mx;
	}
	assert_int_equal(bo_dataset_classes(ds), mx + 1);
	assert_int_equal(bo_dataset_label(ds, n), -1);
	assert_int_equal(bo_dataset_label(ds, -1), -1);

	float *x = calloc((size_t)(n * h * w), sizeof(float));
	int *lab = calloc((size_t)n, sizeof(int));
	assert_non_null(x);
	assert_non_null(lab);
	EXPECT_OK(bo_dataset_batch(ds, 0, n, NULL, x, lab, &err), err);
	for (int64_t i = 0; i < n; i++) {
		assert_int_equal(lab[i], labels[i]);
		for (int64_t k = 0; k < h * w; k++)
			assert_float_equal(x[i * h * w + k], pix(i, k) / 255.0f, TOL);
	}

	/* mean .5, std .25: pixel 51 is 0.2, so (0.2 - 0.5) / 0.25 = -1.2. */
	struct bo_norm norm = {.n = 1, .mean = {0.5f}, .std = {0.25f}};
	EXPECT_OK(bo_dataset_batch(ds, 0, n, &norm, x, NULL, &err), err);
	assert_float_equal(x[0], -1.2f, 1e-5f);
	for (int64_t i = 0; i < n; i++)
		for (int64_t k = 0; k < h * w; k++)
			assert_float_equal(x[i * h * w + k], (pix(i, k) / 255.0f - 0.5f) / 0.25f,
					   1e-5f);

	/* A batch from the middle. */
	if (n > 1) {
		EXPECT_OK(bo_dataset_batch(ds, 1, n - 1, NULL, x, lab, &err), err);
		assert_int_equal(lab[0], labels[1]);
		assert_float_equal(x[0], pix(1, 0) / 255.0f, TOL);
	}
	free(x);
	free(lab);
}

/* ---- IDX ---- */

static const unsigned char idx_lab3[] = {3, 0, 7};

static void test_idx_raw(void **state)
{
	(void)state;
	char dir[4096], img[4096], lab[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	mksub("idx_raw");
	tpath(dir, "idx_raw", "");
	tpath(img, "idx_raw", "t10k-images-idx3-ubyte");
	tpath(lab, "idx_raw", "t10k-labels-idx1-ubyte");
	write_idx_pair(img, lab, 3, 2, 3, idx_lab3, 0);

	EXPECT_OK(bo_dataset_open_dir(dir, BO_SPLIT_TEST, NULL, &ds, &err), err);
	assert_int_equal(bo_dataset_format(ds), BO_DATASET_IDX);
	assert_string_equal(bo_dataset_format_name(bo_dataset_format(ds)), "idx");
	check_u8_dataset(ds, 3, 2, 3, idx_lab3);
	bo_dataset_free(ds);

	/* Explicit files, detected from the magic and named explicitly. */
	EXPECT_OK(bo_dataset_open_files(img, lab, BO_DATASET_AUTO, NULL, &ds, &err), err);
	check_u8_dataset(ds, 3, 2, 3, idx_lab3);
	bo_dataset_free(ds);
	EXPECT_OK(bo_dataset_open_files(img, lab, BO_DATASET_IDX, NULL, &ds, &err), err);
	check_u8_dataset(ds, 3, 2, 3, idx_lab3);
	bo_dataset_free(ds);

	/* No train split in this directory. */
	ds = (struct bo_dataset *)&err; /* must be reset to NULL on failure */
	EXPECT_ERR(bo_dataset_open_dir(dir, BO_SPLIT_TRAIN, NULL, &ds, &err), err, BO_ENOENT,
		   "train-images-idx3-ubyte");
	assert_null(ds);
}

static void test_idx_gz_and_names(void **state)
{
	(void)state;
	static const unsigned char lab5[] = {1, 1, 2, 3, 5};
	char dir[4096], img[4096], lab[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	mksub("idx_gz");
	tpath(dir, "idx_gz", "");
	tpath(img, "idx_gz", "t10k-images-idx3-ubyte.gz");
	tpath(lab, "idx_gz", "t10k-labels-idx1-ubyte.gz");
	write_idx_pair(img, lab, 3, 4, 2, idx_lab3, 1);
	/* Train split under the alternative dotted names, uncompressed. */
	tpath(img, "idx_gz", "train-images.idx3-ubyte");
	tpath(lab, "idx_gz", "train-labels.idx1-ubyte");
	write_idx_pair(img, lab, 5, 3, 3, lab5, 0);

	EXPECT_OK(bo_dataset_open_dir(dir, BO_SPLIT_TEST, NULL, &ds, &err), err);
	check_u8_dataset(ds, 3, 4, 2, idx_lab3);
	bo_dataset_free(ds);
	EXPECT_OK(bo_dataset_open_dir(dir, BO_SPLIT_TRAIN, NULL, &ds, &err), err);
	check_u8_dataset(ds, 5, 3, 3, lab5);
	bo_dataset_free(ds);

	/* A gzipped image file next to a raw label file. */
	tpath(img, "idx_gz", "t10k-images-idx3-ubyte.gz");
	tpath(lab, "idx_gz", "train-labels.idx1-ubyte");
	EXPECT_ERR2(bo_dataset_open_files(img, lab, BO_DATASET_AUTO, NULL, &ds, &err), err,
		    BO_ESHAPE, "t10k-images-idx3-ubyte.gz", "train-labels.idx1-ubyte");
}

static void test_idx_truncated(void **state)
{
	(void)state;
	char img[4096], lab[4096], cut[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	struct buf bi = {0}, bl = {0};
	mksub("idx_trunc");
	tpath(img, "idx_trunc", "images");
	tpath(lab, "idx_trunc", "labels");
	tpath(cut, "idx_trunc", "cut-file");
	idx_images(&bi, 0x803, 3, 4, 5);
	idx_labels(&bl, 3, idx_lab3);
	write_file(img, bi.p, bi.n);
	write_file(lab, bl.p, bl.n);

	const size_t lens[] = {0, 2, 4, 7, 15, 16, 17, 16 + 20, bi.n - 1};
	for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
		write_file(cut, bi.p, lens[j]);
		EXPECT_ERR2(bo_dataset_open_files(cut, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
			    BO_EMALFORMED, "cut-file", "truncated");
		assert_int_equal(err.offset, (int64_t)lens[j]);
		assert_string_equal(err.file, cut);
		assert_null(ds);
	}
	/* The message gives expected and actual sizes of the pixel data. */
	write_file(cut, bi.p, 16 + 25);
	EXPECT_ERR2(bo_dataset_open_files(cut, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
		    BO_EMALFORMED, "expected 60 bytes from byte 16, got 25", "ends at byte 41");

	/* Truncated labels name the labels file. */
	const size_t llens[] = {0, 3, 8, bl.n - 1};
	for (size_t j = 0; j < sizeof(llens) / sizeof(llens[0]); j++) {
		write_file(cut, bl.p, llens[j]);
		EXPECT_ERR2(bo_dataset_open_files(img, cut, BO_DATASET_IDX, NULL, &ds, &err), err,
			    BO_EMALFORMED, "cut-file", "truncated");
		assert_int_equal(err.offset, (int64_t)llens[j]);
	}
	/* Without a labels file an IDX file is taken for CIFAR-10, with a hint. */
	EXPECT_ERR2(bo_dataset_open_files(img, NULL, BO_DATASET_AUTO, NULL, &ds, &err), err,
		    BO_EMALFORMED, "images", "IDX file");
	/* Auto-detection of a file too short to have a magic. */
	write_file(cut, bi.p, 3);
	EXPECT_ERR2(bo_dataset_open_files(cut, lab, BO_DATASET_AUTO, NULL, &ds, &err), err,
		    BO_EMALFORMED, "cut-file", "truncated");
	buf_free(&bi);
	buf_free(&bl);
}

static void test_idx_truncate_every_length(void **state)
{
	(void)state;
	char img[4096], lab[4096], cut[4096], gz[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	struct buf bi = {0}, bl = {0};
	mksub("idx_every");
	tpath(img, "idx_every", "images");
	tpath(lab, "idx_every", "labels");
	tpath(cut, "idx_every", "cut-images");
	tpath(gz, "idx_every", "images.gz");
	idx_images(&bi, 0x803, 4, 5, 6);
	idx_labels(&bl, 4, (const unsigned char *)"\1\2\3\4");
	write_file(img, bi.p, bi.n);
	write_file(lab, bl.p, bl.n);
	EXPECT_OK(bo_dataset_open_files(img, lab, BO_DATASET_AUTO, NULL, &ds, &err), err);
	bo_dataset_free(ds);
	ds = NULL;

	for (size_t len = 0; len < bi.n; len++) {
		write_file(cut, bi.p, len);
		EXPECT_ERR(bo_dataset_open_files(cut, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
			   BO_EMALFORMED, "cut-images");
		assert_int_equal(err.offset, (int64_t)len);
		assert_null(ds);
		/* Auto-detection fails too, without a crash. */
		assert_int_not_equal(bo_dataset_open_files(cut, lab, BO_DATASET_AUTO, NULL, &ds,
							   &err),
				     BO_OK);
		/* Truncated labels. */
		if (len < bl.n) {
			write_file(cut, bl.p, len);
			EXPECT_ERR(bo_dataset_open_files(img, cut, BO_DATASET_IDX, NULL, &ds, &err),
				   err, BO_EMALFORMED, "cut-images");
		}
	}

	/* The gzipped file cut at every compressed length. */
	size_t gn;
	write_gz(gz, bi.p, bi.n);
	unsigned char *g = read_all(gz, &gn);
	EXPECT_OK(bo_dataset_open_files(gz, lab, BO_DATASET_IDX, NULL, &ds, &err), err);
	bo_dataset_free(ds);
	ds = NULL;
	for (size_t len = 0; len < gn; len++) {
		write_file(cut, g, len);
		EXPECT_ERR(bo_dataset_open_files(cut, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
			   BO_EMALFORMED, "cut-images");
		assert_null(ds);
	}
	free(g);
	buf_free(&bi);
	buf_free(&bl);
}

static void test_idx_gz_corrupt(void **state)
{
	(void)state;
	char img[4096], lab[4096], bad[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	struct buf bi = {0}, bl = {0};
	size_t gn;
	mksub("idx_corrupt");
	tpath(img, "idx_corrupt", "images.gz");
	tpath(lab, "idx_corrupt", "labels");
	tpath(bad, "idx_corrupt", "bad-images.gz");
	idx_images(&bi, 0x803, 8, 10, 10);
	idx_labels(&bl, 8, (const unsigned char *)"\0\1\2\3\4\5\6\7");
	write_gz(img, bi.p, bi.n);
	write_file(lab, bl.p, bl.n);
	unsigned char *g = read_all(img, &gn);
	assert_true(gn > 40);
	/* A damaged byte in the deflate data, the CRC, and the length. */
	const size_t where[] = {gn / 2, gn - 8, gn - 1};
	for (size_t j = 0; j < 3; j++) {
		g[where[j]] ^= 0xFF;
		write_file(bad, g, gn);
		g[where[j]] ^= 0xFF;
		EXPECT_ERR(bo_dataset_open_files(bad, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
			   BO_EMALFORMED, "bad-images.gz");
		assert_null(ds);
	}
	/* Trailing bytes after the pixel data. */
	put_u8(&bi, 0);
	write_file(bad, bi.p, bi.n);
	EXPECT_ERR2(bo_dataset_open_files(bad, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
		    BO_EMALFORMED, "bad-images.gz", "after the end");
	assert_int_equal(err.offset, (int64_t)bi.n - 1);
	free(g);
	buf_free(&bi);
	buf_free(&bl);
}

static void test_idx_bad_magic(void **state)
{
	(void)state;
	char img[4096], lab[4096], bad[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	struct buf b = {0};
	mksub("idx_magic");
	tpath(img, "idx_magic", "images");
	tpath(lab, "idx_magic", "labels");
	tpath(bad, "idx_magic", "weird");
	write_idx_pair(img, lab, 3, 2, 2, idx_lab3, 0);

	/* Images and labels swapped. */
	EXPECT_ERR2(bo_dataset_open_files(lab, img, BO_DATASET_IDX, NULL, &ds, &err), err,
		    BO_EMALFORMED, "labels", "bad magic 0x00000801");
	assert_int_equal(err.offset, 3);
	/* Label file with an image magic. */
	EXPECT_ERR2(bo_dataset_open_files(img, img, BO_DATASET_IDX, NULL, &ds, &err), err,
		    BO_EMALFORMED, "images", "bad magic 0x00000803");

	/* Not IDX at all. */
	put(&b, "GIF89a and so on", 16);
	write_file(bad, b.p, b.n);
	EXPECT_ERR2(bo_dataset_open_files(bad, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
		    BO_EMALFORMED, "weird", "bad magic");
	assert_int_equal(err.offset, 0);
	EXPECT_ERR2(bo_dataset_open_files(bad, lab, BO_DATASET_AUTO, NULL, &ds, &err), err,
		    BO_EMALFORMED, "weird", "not an IDX or NumPy");
	buf_free(&b);

	/* Wrong element type: IDX float images (0x0D). */
	idx_images(&b, 0x00000D03, 3, 2, 2);
	write_file(bad, b.p, b.n);
	EXPECT_ERR2(bo_dataset_open_files(bad, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
		    BO_EUNSUPPORTED, "weird", "0x0d");
	buf_free(&b);
	assert_null(ds);
}

static void test_idx_count_mismatch(void **state)
{
	(void)state;
	static const unsigned char lab4[] = {1, 2, 3, 4};
	char img[4096], lab[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	struct buf bi = {0}, bl = {0};
	mksub("idx_count");
	tpath(img, "idx_count", "three-images");
	tpath(lab, "idx_count", "four-labels");
	idx_images(&bi, 0x803, 3, 2, 2);
	idx_labels(&bl, 4, lab4);
	write_file(img, bi.p, bi.n);
	write_file(lab, bl.p, bl.n);
	EXPECT_ERR2(bo_dataset_open_files(img, lab, BO_DATASET_AUTO, NULL, &ds, &err), err,
		    BO_ESHAPE, "three-images", "four-labels");
	assert_non_null(strstr(err.text, "has 3 images"));
	assert_non_null(strstr(err.text, "has 4 labels"));
	assert_null(ds);
	buf_free(&bi);
	buf_free(&bl);
}

static void test_idx_limits_and_empty(void **state)
{
	(void)state;
	char img[4096], lab[4096], big[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	struct buf b = {0};
	mksub("idx_limits");
	tpath(img, "idx_limits", "images");
	tpath(lab, "idx_limits", "labels");
	tpath(big, "idx_limits", "huge-header");
	write_idx_pair(img, lab, 3, 2, 3, idx_lab3, 0);

	struct bo_dataset_limits lim = {.max_images = 2};
	EXPECT_ERR2(bo_dataset_open_files(img, lab, BO_DATASET_IDX, &lim, &ds, &err), err,
		    BO_ELIMIT, "images", "3 images, over the limit of 2");
	lim = (struct bo_dataset_limits){.max_pixels = 5};
	EXPECT_ERR(bo_dataset_open_files(img, lab, BO_DATASET_IDX, &lim, &ds, &err), err,
		   BO_ELIMIT, "images");
	lim = (struct bo_dataset_limits){.max_bytes = 17};
	EXPECT_ERR(bo_dataset_open_files(img, lab, BO_DATASET_IDX, &lim, &ds, &err), err,
		   BO_ELIMIT, "images");
	lim = (struct bo_dataset_limits){.max_images = 3, .max_pixels = 6, .max_bytes = 18};
	EXPECT_OK(bo_dataset_open_files(img, lab, BO_DATASET_IDX, &lim, &ds, &err), err);
	bo_dataset_free(ds);
	ds = NULL;
	lim = (struct bo_dataset_limits){.max_images = -1};
	EXPECT_ERR(bo_dataset_open_files(img, lab, BO_DATASET_IDX, &lim, &ds, &err), err,
		   BO_EINVAL, "negative");

	/* Absurd dimensions in a header-only file: refused by the default limits. */
	put_be32(&b, 0x803);
	put_be32(&b, 0xFFFFFFFFu);
	put_be32(&b, 0xFFFF);
	put_be32(&b, 0xFFFF);
	write_file(big, b.p, b.n);
	EXPECT_ERR(bo_dataset_open_files(big, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
		   BO_ELIMIT, "huge-header");
	buf_free(&b);
	put_be32(&b, 0x803);
	put_be32(&b, 3);
	put_be32(&b, 0x10000);
	put_be32(&b, 0x10000);
	write_file(big, b.p, b.n);
	EXPECT_ERR(bo_dataset_open_files(big, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
		   BO_ELIMIT, "huge-header");
	buf_free(&b);
	/* Within the limits but far larger than the file: truncated, and no
	 * gigabyte allocation on the way. */
	put_be32(&b, 0x803);
	put_be32(&b, 3);
	put_be32(&b, 4096);
	put_be32(&b, 4096);
	put(&b, "abcdef", 6);
	write_file(big, b.p, b.n);
	EXPECT_ERR2(bo_dataset_open_files(big, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
		    BO_EMALFORMED, "huge-header", "expected 50331648 bytes from byte 16, got 6");
	buf_free(&b);

	/* Empty dataset and zero-sized images. */
	idx_images(&b, 0x803, 0, 2, 2);
	write_file(big, b.p, b.n);
	EXPECT_ERR2(bo_dataset_open_files(big, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
		    BO_EMALFORMED, "huge-header", "empty");
	buf_free(&b);
	idx_images(&b, 0x803, 3, 0, 2);
	write_file(big, b.p, b.n);
	EXPECT_ERR2(bo_dataset_open_files(big, lab, BO_DATASET_IDX, NULL, &ds, &err), err,
		    BO_EMALFORMED, "huge-header", "zero dimension");
	buf_free(&b);
	assert_null(ds);
}

/* ---- CIFAR-10 ---- */

static unsigned char cpix(int64_t i, int64_t k)
{
	return (unsigned char)((i * 101 + k * 3 + 7) & 255);
}

/* n records with labels[i], image i offset by `first` for distinct pixels. */
static void cifar_file(struct buf *b, int n, const unsigned char *labels, int64_t first)
{
	for (int i = 0; i < n; i++) {
		put_u8(b, labels[i]);
		for (int k = 0; k < 3072; k++)
			put_u8(b, cpix(first + i, k));
	}
}

static void test_cifar_test_split(void **state)
{
	(void)state;
	static const unsigned char labels[] = {9, 0, 4};
	char dir[4096], file[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	struct buf b = {0};
	int64_t c, h, w;
	mksub("cifar_a");
	tpath(dir, "cifar_a", "");
	tpath(file, "cifar_a", "test_batch.bin");
	cifar_file(&b, 3, labels, 0);
	write_file(file, b.p, b.n);
	buf_free(&b);

	EXPECT_OK(bo_dataset_open_dir(dir, BO_SPLIT_TEST, NULL, &ds, &err), err);
	assert_int_equal(bo_dataset_format(ds), BO_DATASET_CIFAR10);
	assert_string_equal(bo_dataset_format_name(BO_DATASET_CIFAR10), "cifar10");
	assert_int_equal(bo_dataset_count(ds), 3);
	bo_dataset_shape(ds, &c, &h, &w);
	assert_int_equal(c, 3);
	assert_int_equal(h, 32);
	assert_int_equal(w, 32);
	assert_int_equal(bo_dataset_classes(ds), 10);
	for (int i = 0; i < 3; i++)
		assert_int_equal(bo_dataset_label(ds, i), labels[i]);

	float *x = malloc(sizeof(float) * 3 * 3072);
	int lab[3];
	assert_non_null(x);
	struct bo_norm norm = {.n = 3, .mean = {0.1f, 0.2f, 0.3f}, .std = {0.5f, 0.25f, 0.125f}};
	EXPECT_OK(bo_dataset_batch(ds, 0, 3, &norm, x, lab, &err), err);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(lab[i], labels[i]);
		for (int k = 0; k < 3072; k += 97) {
			int ch = k / 1024;
			float want = (cpix(i, k) / 255.0f - norm.mean[ch]) / norm.std[ch];
			assert_float_equal(x[i * 3072 + k], want, 1e-5f);
		}
	}
	/* Image 1, channel 2 (blue), pixel (0, 5) by hand. */
	assert_float_equal(x[3072 + 2048 + 5], (cpix(1, 2048 + 5) / 255.0f - 0.3f) / 0.125f,
			   1e-5f);
	/* One mean/std for all channels. */
	norm = (struct bo_norm){.n = 1, .mean = {0.5f}, .std = {2.0f}};
	EXPECT_OK(bo_dataset_batch(ds, 2, 1, &norm, x, NULL, &err), err);
	assert_float_equal(x[1500], (cpix(2, 1500) / 255.0f - 0.5f) / 2.0f, 1e-6f);
	bo_dataset_free(ds);

	/* The same file opened explicitly: labels = NULL means CIFAR-10. */
	EXPECT_OK(bo_dataset_open_files(file, NULL, BO_DATASET_AUTO, NULL, &ds, &err), err);
	assert_int_equal(bo_dataset_count(ds), 3);
	assert_int_equal(bo_dataset_format(ds), BO_DATASET_CIFAR10);
	bo_dataset_free(ds);
	EXPECT_ERR(bo_dataset_open_files(file, file, BO_DATASET_CIFAR10, NULL, &ds, &err), err,
		   BO_EINVAL, "labels = NULL");
	free(x);
}

static void test_cifar_train_subdir(void **state)
{
	(void)state;
	char dir[4096], file[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	mksub("cifar_b");
	mksub("cifar_b/cifar-10-batches-bin");
	tpath(dir, "cifar_b", "");
	/* data_batch_k.bin holds k records labelled k - 1. */
	int64_t first = 0;
	for (int f = 1; f <= 5; f++) {
		unsigned char labels[5];
		char name[64];
		struct buf b = {0};
		memset(labels, f - 1, sizeof(labels));
		cifar_file(&b, f, labels, first);
		snprintf(name, sizeof(name), "cifar-10-batches-bin/data_batch_%d.bin", f);
		tpath(file, "cifar_b", name);
		write_file(file, b.p, b.n);
		buf_free(&b);
		first += f;
	}
	EXPECT_OK(bo_dataset_open_dir(dir, BO_SPLIT_TRAIN, NULL, &ds, &err), err);
	assert_int_equal(bo_dataset_count(ds), 15);
	int64_t i = 0;
	for (int f = 1; f <= 5; f++)
		for (int r = 0; r < f; r++, i++)
			assert_int_equal(bo_dataset_label(ds, i), f - 1);
	assert_int_equal(bo_dataset_classes(ds), 5);
	float *x = malloc(sizeof(float) * 15 * 3072);
	assert_non_null(x);
	EXPECT_OK(bo_dataset_batch(ds, 0, 15, NULL, x, NULL, &err), err);
	for (i = 0; i < 15; i++)
		assert_float_equal(x[i * 3072 + 1234], cpix(i, 1234) / 255.0f, TOL);
	free(x);
	bo_dataset_free(ds);
	ds = NULL;

	/* No test_batch.bin here. */
	EXPECT_ERR(bo_dataset_open_dir(dir, BO_SPLIT_TEST, NULL, &ds, &err), err, BO_ENOENT,
		   "test_batch.bin");
	/* A missing batch file is named. */
	tpath(file, "cifar_b", "cifar-10-batches-bin/data_batch_3.bin");
	assert_int_equal(unlink(file), 0);
	EXPECT_ERR(bo_dataset_open_dir(dir, BO_SPLIT_TRAIN, NULL, &ds, &err), err, BO_ENOENT,
		   "data_batch_3.bin");
	assert_null(ds);
}

static void test_cifar_errors(void **state)
{
	(void)state;
	static const unsigned char labels[] = {1, 2, 3};
	static const unsigned char bad_labels[] = {1, 10, 3};
	char file[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	struct buf b = {0};
	mksub("cifar_c");
	tpath(file, "cifar_c", "batch.bin");

	cifar_file(&b, 3, labels, 0);
	const size_t cuts[] = {1, 3072, 3073 + 100, 3 * 3073 - 1};
	for (size_t j = 0; j < 4; j++) {
		write_file(file, b.p, cuts[j]);
		EXPECT_ERR2(bo_dataset_open_files(file, NULL, BO_DATASET_CIFAR10, NULL, &ds, &err),
			    err, BO_EMALFORMED, "batch.bin", "truncated");
		assert_int_equal(err.offset, (int64_t)cuts[j]);
	}
	write_file(file, b.p, 3073 + 100);
	EXPECT_ERR(bo_dataset_open_files(file, NULL, BO_DATASET_CIFAR10, NULL, &ds, &err), err,
		   BO_EMALFORMED, "expected 3073 bytes from byte 3073, got 100");
	/* Gzipped and cut short at a record boundary of the data. */
	write_gz(file, b.p, 2 * 3073);
	EXPECT_OK(bo_dataset_open_files(file, NULL, BO_DATASET_CIFAR10, NULL, &ds, &err), err);
	assert_int_equal(bo_dataset_count(ds), 2);
	bo_dataset_free(ds);
	ds = NULL;

	struct bo_dataset_limits lim = {.max_images = 2};
	write_file(file, b.p, b.n);
	EXPECT_ERR(bo_dataset_open_files(file, NULL, BO_DATASET_CIFAR10, &lim, &ds, &err), err,
		   BO_ELIMIT, "batch.bin");
	buf_free(&b);

	cifar_file(&b, 3, bad_labels, 0);
	write_file(file, b.p, b.n);
	EXPECT_ERR2(bo_dataset_open_files(file, NULL, BO_DATASET_CIFAR10, NULL, &ds, &err), err,
		    BO_EMALFORMED, "batch.bin", "label 10");
	assert_int_equal(err.offset, 3073);
	buf_free(&b);

	write_file(file, "", 0);
	EXPECT_ERR2(bo_dataset_open_files(file, NULL, BO_DATASET_AUTO, NULL, &ds, &err), err,
		    BO_EMALFORMED, "batch.bin", "empty");
	assert_null(ds);
}

/* ---- NumPy ---- */

static void test_npy_u8_3d(void **state)
{
	(void)state;
	static const unsigned char labels[] = {2, 9, 4};
	char dir[4096], img[4096], lab[4096];
	unsigned char px[3 * 2 * 3];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	mksub("npy_a");
	tpath(dir, "npy_a", "");
	tpath(img, "npy_a", "test_images.npy");
	tpath(lab, "npy_a", "test_labels.npy");
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 6; k++)
			px[i * 6 + k] = pix(i, k);
	write_npy(img, 1, "|u1", "(3, 2, 3)", px, sizeof(px));
	write_npy(lab, 1, "|u1", "(3,)", labels, 3);
	EXPECT_OK(bo_dataset_open_dir(dir, BO_SPLIT_TEST, NULL, &ds, &err), err);
	assert_int_equal(bo_dataset_format(ds), BO_DATASET_NPY);
	assert_string_equal(bo_dataset_format_name(BO_DATASET_NPY), "npy");
	check_u8_dataset(ds, 3, 2, 3, labels);
	bo_dataset_free(ds);
	ds = NULL;
	EXPECT_OK(bo_dataset_open_files(img, lab, BO_DATASET_AUTO, NULL, &ds, &err), err);
	check_u8_dataset(ds, 3, 2, 3, labels);
	bo_dataset_free(ds);
	ds = NULL;
	EXPECT_ERR2(bo_dataset_open_files(img, NULL, BO_DATASET_AUTO, NULL, &ds, &err), err,
		    BO_EINVAL, "test_images.npy", "labels file");
	/* Only the test split exists. */
	EXPECT_ERR(bo_dataset_open_dir(dir, BO_SPLIT_TRAIN, NULL, &ds, &err), err, BO_ENOENT,
		   "train_images.npy");
}

static void test_npy_f4_4d(void **state)
{
	(void)state;
	char dir[4096], img[4096], lab[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	struct buf bp = {0}, bl = {0};
	int64_t c, h, w;
	mksub("npy_b");
	tpath(dir, "npy_b", "");
	tpath(img, "npy_b", "images.npy");
	tpath(lab, "npy_b", "labels.npy");
	/* 2 images of 3x2x2, value (i*12 + k) / 32, exact in float. */
	for (int k = 0; k < 24; k++) {
		float v = (float)k / 32.0f;
		uint32_t u;
		memcpy(&u, &v, 4);
		put_le(&bp, u, 4);
	}
	put_le(&bl, 1, 8);
	put_le(&bl, 5, 8);
	write_npy(img, 1, "<f4", "(2, 3, 2, 2)", bp.p, bp.n);
	write_npy(lab, 1, "<i8", "(2,)", bl.p, bl.n);
	/* images.npy / labels.npy serve both splits. */
	EXPECT_OK(bo_dataset_open_dir(dir, BO_SPLIT_TRAIN, NULL, &ds, &err), err);
	assert_int_equal(bo_dataset_count(ds), 2);
	bo_dataset_shape(ds, &c, &h, &w);
	assert_int_equal(c, 3);
	assert_int_equal(h, 2);
	assert_int_equal(w, 2);
	assert_int_equal(bo_dataset_label(ds, 0), 1);
	assert_int_equal(bo_dataset_label(ds, 1), 5);
	assert_int_equal(bo_dataset_classes(ds), 6);
	float x[24];
	int l[2];
	/* Float pixels are taken as they are (no division by 255). */
	EXPECT_OK(bo_dataset_batch(ds, 0, 2, NULL, x, l, &err), err);
	for (int k = 0; k < 24; k++)
		assert_float_equal(x[k], (float)k / 32.0f, 0.0f);
	assert_int_equal(l[1], 5);
	struct bo_norm norm = {.n = 3, .mean = {0.5f, 0.25f, 0.0f}, .std = {0.5f, 2.0f, 4.0f}};
	EXPECT_OK(bo_dataset_batch(ds, 1, 1, &norm, x, NULL, &err), err);
	for (int k = 0; k < 12; k++) {
		int ch = k / 4;
		assert_float_equal(x[k], ((12 + k) / 32.0f - norm.mean[ch]) / norm.std[ch], 1e-6f);
	}
	/* Too few or too many mean/std values for 3 channels. */
	norm.n = 2;
	EXPECT_ERR(bo_dataset_batch(ds, 0, 1, &norm, x, NULL, &err), err, BO_EINVAL,
		   "3 channels");
	bo_dataset_free(ds);
	buf_free(&bp);
	buf_free(&bl);
}

/* Labels of any class count up to 65,535, from every integer dtype, and
 * float pixels' range (for the already-normalised warning). */
static void test_npy_wide_labels(void **state)
{
	(void)state;
	static const struct {
		const char *descr;
		int size;
		int64_t v[3];
	} cases[] = {
		{ "<u2", 2, { 0, 917, 65535 } },
		{ "<i2", 2, { 3, 917, 32767 } },
		{ "|i1", 1, { 3, 127, 9 } },
		{ "<i4", 4, { 999, 917, 65535 } },
		{ "<i8", 8, { 0, 917, 1000 } },
	};
	char img[4096], lab[4096];
	struct bo_error err;
	mksub("npy_wide");
	tpath(img, "npy_wide", "x.npy");
	tpath(lab, "npy_wide", "y.npy");
	struct buf bp = {0};
	for (int k = 0; k < 12; k++) {
		float v = (float)k * 0.25f - 1.f; /* -1 .. 1.75: looks normalised */
		uint32_t u;
		memcpy(&u, &v, 4);
		put_le(&bp, u, 4);
	}
	write_npy(img, 1, "<f4", "(3, 2, 2)", bp.p, bp.n);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct buf bl = {0};
		struct bo_dataset *ds = NULL;
		int64_t mx = 0;
		for (int i = 0; i < 3; i++) {
			put_le(&bl, (uint64_t)cases[c].v[i], cases[c].size);
			mx = cases[c].v[i] > mx ? cases[c].v[i] : mx;
		}
		write_npy(lab, 1, cases[c].descr, "(3,)", bl.p, bl.n);
		EXPECT_OK(bo_dataset_open_files(img, lab, BO_DATASET_AUTO, NULL, &ds, &err), err);
		for (int i = 0; i < 3; i++)
			assert_int_equal(bo_dataset_label(ds, i), cases[c].v[i]);
		assert_int_equal(bo_dataset_classes(ds), mx + 1);
		int got[3];
		float x[12];
		EXPECT_OK(bo_dataset_batch(ds, 0, 3, NULL, x, got, &err), err);
		for (int i = 0; i < 3; i++)
			assert_int_equal(got[i], cases[c].v[i]);
		float lo = 9, hi = 9;
		assert_int_equal(bo_dataset_float_range(ds, 0, &lo, &hi), 1);
		assert_true(lo == -1.f && hi == 1.75f);
		assert_int_equal(bo_dataset_float_range(ds, 1, &lo, &hi), 1);
		assert_true(lo == -1.f && hi == -0.25f); /* the first image only */
		bo_dataset_free(ds);
		buf_free(&bl);
	}
	buf_free(&bp);
}

static void test_npy_f8_v2_i4(void **state)
{
	(void)state;
	char img[4096], lab[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	struct buf bp = {0}, bl = {0};
	mksub("npy_c");
	tpath(img, "npy_c", "x.npy");
	tpath(lab, "npy_c", "y.npy");
	/* 3 images of 2x2 (3-D shape, so one channel), doubles. */
	for (int k = 0; k < 12; k++) {
		double v = k * 0.125;
		uint64_t u;
		memcpy(&u, &v, 8);
		put_le(&bp, u, 8);
	}
	put_le(&bl, 0, 4);
	put_le(&bl, 255, 4);
	put_le(&bl, 7, 4);
	write_npy(img, 2, "<f8", "(3, 2, 2)", bp.p, bp.n);
	write_npy(lab, 2, "<i4", "(3,)", bl.p, bl.n);
	EXPECT_OK(bo_dataset_open_files(img, lab, BO_DATASET_AUTO, NULL, &ds, &err), err);
	assert_int_equal(bo_dataset_count(ds), 3);
	assert_int_equal(bo_dataset_label(ds, 1), 255);
	assert_int_equal(bo_dataset_classes(ds), 256);
	float x[12];
	EXPECT_OK(bo_dataset_batch(ds, 0, 3, NULL, x, NULL, &err), err);
	for (int k = 0; k < 12; k++)
		assert_float_equal(x[k], k * 0.125f, 0.0f);
	bo_dataset_free(ds);
	ds = NULL;
	/* Explicit format; a gzipped .npy works as well. */
	{
		char dict[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2, 2), }";
		struct buf b = {0};
		npy_raw(&b, 1, dict, bp.p, bp.n);
		write_gz(img, b.p, b.n);
		buf_free(&b);
	}
	EXPECT_OK(bo_dataset_open_files(img, lab, BO_DATASET_NPY, NULL, &ds, &err), err);
	assert_int_equal(bo_dataset_count(ds), 3);
	bo_dataset_free(ds);
	buf_free(&bp);
	buf_free(&bl);
}

static void test_npy_errors(void **state)
{
	(void)state;
	char img[4096], lab[4096], bad[4096];
	unsigned char px[3 * 4];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	struct buf b = {0};
	mksub("npy_bad");
	tpath(img, "npy_bad", "good_images.npy");
	tpath(lab, "npy_bad", "good_labels.npy");
	tpath(bad, "npy_bad", "bad.npy");
	for (int k = 0; k < 12; k++)
		px[k] = (unsigned char)k;
	write_npy(img, 1, "|u1", "(3, 2, 2)", px, 12);
	write_npy(lab, 1, "|u1", "(3,)", "\1\2\3", 3);
	EXPECT_OK(bo_dataset_open_files(img, lab, BO_DATASET_NPY, NULL, &ds, &err), err);
	bo_dataset_free(ds);
	ds = NULL;

#define BAD_IMG(st, needle)                                                                    \
	EXPECT_ERR2(bo_dataset_open_files(bad, lab, BO_DATASET_NPY, NULL, &ds, &err), err, st, \
		    "bad.npy", needle)
#define BAD_LAB(st, needle)                                                                    \
	EXPECT_ERR2(bo_dataset_open_files(img, bad, BO_DATASET_NPY, NULL, &ds, &err), err, st, \
		    "bad.npy", needle)

	/* Bad magic. */
	write_file(bad, "\x93NUMPX\1\0\0\0", 10);
	BAD_IMG(BO_EMALFORMED, "bad magic");
	/* Unknown version. */
	write_file(bad, "\x93NUMPY\x09\0\0\0", 10);
	BAD_IMG(BO_EUNSUPPORTED, "version 9");
	/* Malformed header dictionaries. */
	write_npy_dict(bad, "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2 2), }", px, 12);
	BAD_IMG(BO_EMALFORMED, "bad NumPy header");
	assert_true(err.offset > 10);
	write_npy_dict(bad, "{'descr': '|u1', 'fortran_order': False}", px, 12);
	BAD_IMG(BO_EMALFORMED, "no 'shape'");
	write_npy_dict(bad, "['descr', '|u1']", px, 12);
	BAD_IMG(BO_EMALFORMED, "bad NumPy header");
	write_npy_dict(bad, "{'descr': '|u1', 'fortran_order': Maybe, 'shape': (3, 2, 2)}", px, 12);
	BAD_IMG(BO_EMALFORMED, "fortran_order");
	write_npy_dict(bad, "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2, 2), 'x': 1}",
		       px, 12);
	BAD_IMG(BO_EMALFORMED, "unknown");
	write_npy_dict(bad, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,)}", px,
		       12);
	BAD_IMG(BO_EUNSUPPORTED, "structured");
	/* The header length runs past the end of the file. */
	write_file(bad, "\x93NUMPY\1\0\x40\0{'descr'", 17);
	BAD_IMG(BO_EMALFORMED, "truncated NumPy header");
	assert_int_equal(err.offset, 17);
	/* Fortran order. */
	write_npy_dict(bad, "{'descr': '|u1', 'fortran_order': True, 'shape': (3, 2, 2), }", px, 12);
	BAD_IMG(BO_EUNSUPPORTED, "Fortran");
	/* Wrong dtypes. */
	write_npy(bad, 1, "<i2", "(3, 2, 2)", px, 12);
	BAD_IMG(BO_EUNSUPPORTED, "dtype '<i2'");
	write_npy(bad, 1, ">f4", "(3, 1, 1)", px, 12);
	BAD_IMG(BO_EUNSUPPORTED, "dtype '>f4'");
	write_npy(bad, 1, "<f4", "(3,)", px, 12);
	BAD_LAB(BO_EUNSUPPORTED, "label dtype '<f4'");
	/* Wrong shapes. */
	write_npy(bad, 1, "|u1", "(3, 4)", px, 12);
	BAD_IMG(BO_ESHAPE, "(3, 4)");
	write_npy(bad, 1, "|u1", "(3, 1)", "\1\2\3", 3);
	BAD_LAB(BO_ESHAPE, "(3, 1)");
	write_npy(bad, 1, "|u1", "(2, 2, 3)", px, 12);
	BAD_IMG(BO_ESHAPE, "has 2 images");
	write_npy(bad, 1, "|u1", "(1, 32, 2, 2)", NULL, 0);
	BAD_IMG(BO_EUNSUPPORTED, "32 channels");
	write_npy(bad, 1, "|u1", "(0, 2, 2)", NULL, 0);
	BAD_IMG(BO_EMALFORMED, "empty");
	/* Over-limit dimensions. */
	write_npy(bad, 1, "|u1", "(100000000, 28, 28)", NULL, 0);
	BAD_IMG(BO_ELIMIT, "over the limit");
	write_npy(bad, 1, "|u1", "(3, 100000, 100000)", NULL, 0);
	BAD_IMG(BO_ELIMIT, "over the limit");
	write_npy(bad, 1, "|u1", "(3, 99999999999999999999, 2)", NULL, 0);
	BAD_IMG(BO_EMALFORMED, "bad NumPy header");
	/* Labels out of range. */
	put_le(&b, 1, 4);
	put_le(&b, (uint32_t)-1, 4);
	put_le(&b, 2, 4);
	write_npy(bad, 1, "<i4", "(3,)", b.p, b.n);
	BAD_LAB(BO_EMALFORMED, "label -1 at index 1");
	buf_free(&b);
	put_le(&b, 0, 8);
	put_le(&b, 0, 8);
	put_le(&b, 65536, 8);
	write_npy(bad, 1, "<i8", "(3,)", b.p, b.n);
	BAD_LAB(BO_EMALFORMED, "label 65536 at index 2 is out of range 0..65535");
	buf_free(&b);
	put_le(&b, 0, 1);
	put_le(&b, 0x80, 1); /* int8 -128 */
	put_le(&b, 1, 1);
	write_npy(bad, 1, "|i1", "(3,)", b.p, b.n);
	BAD_LAB(BO_EMALFORMED, "label -128 at index 1");
	buf_free(&b);
	put_le(&b, 0xffff, 2); /* int16 -1 */
	put_le(&b, 0, 2);
	put_le(&b, 1, 2);
	write_npy(bad, 1, "<i2", "(3,)", b.p, b.n);
	BAD_LAB(BO_EMALFORMED, "label -1 at index 0");
	buf_free(&b);
	/* A NaN pixel. */
	for (int k = 0; k < 12; k++) {
		float v = k == 7 ? NAN : 0.5f;
		uint32_t u;
		memcpy(&u, &v, 4);
		put_le(&b, u, 4);
	}
	size_t data = write_npy(bad, 1, "<f4", "(3, 2, 2)", b.p, b.n);
	assert_int_equal(data % 64, 0);
	BAD_IMG(BO_EMALFORMED, "pixel 7");
	assert_int_equal(err.offset, (int64_t)data + 7 * 4);
	/* Truncated data, and trailing data. */
	char needle[128];
	data = write_npy(bad, 1, "<f4", "(3, 2, 2)", b.p, b.n - 3);
	snprintf(needle, sizeof(needle), "expected 48 bytes from byte %zu, got 45", data);
	BAD_IMG(BO_EMALFORMED, needle);
	assert_int_equal(err.offset, (int64_t)data + 45);
	write_npy(bad, 1, "|u1", "(3, 2, 2)", b.p, 13);
	BAD_IMG(BO_EMALFORMED, "after the end");
	buf_free(&b);
	/* Count mismatch names both files. */
	write_npy(bad, 1, "|u1", "(4,)", "\1\2\3\4", 4);
	BAD_LAB(BO_ESHAPE, "good_images.npy");
	assert_non_null(strstr(err.text, "has 4 labels"));
	assert_null(ds);
#undef BAD_IMG
#undef BAD_LAB
}

/* ---- opening ---- */

static void test_open_errors(void **state)
{
	(void)state;
	char dir[4096], file[4096], lab[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	mksub("open");
	tpath(dir, "open", "");
	tpath(file, "open", "no-such-file");

	EXPECT_ERR(bo_dataset_open_dir(file, BO_SPLIT_TEST, NULL, &ds, &err), err, BO_ENOENT,
		   "no-such-file");
	EXPECT_ERR2(bo_dataset_open_dir(dir, BO_SPLIT_TEST, NULL, &ds, &err), err, BO_ENOENT,
		    "t10k-images-idx3-ubyte", "test_batch.bin");
	assert_non_null(strstr(err.text, "test_images.npy"));
	EXPECT_ERR(bo_dataset_open_dir(dir, (enum bo_split)7, NULL, &ds, &err), err, BO_EINVAL,
		   "split");
	EXPECT_ERR(bo_dataset_open_dir(NULL, BO_SPLIT_TEST, NULL, &ds, &err), err, BO_EINVAL,
		   NULL);
	EXPECT_ERR(bo_dataset_open_dir(dir, BO_SPLIT_TEST, NULL, NULL, &err), err, BO_EINVAL,
		   NULL);
	EXPECT_ERR(bo_dataset_open_files(file, file, BO_DATASET_IDX, NULL, &ds, &err), err,
		   BO_ENOENT, "no-such-file");
	EXPECT_ERR(bo_dataset_open_files(file, NULL, BO_DATASET_AUTO, NULL, &ds, &err), err,
		   BO_ENOENT, "no-such-file");
	EXPECT_ERR(bo_dataset_open_files(NULL, NULL, BO_DATASET_AUTO, NULL, &ds, &err), err,
		   BO_EINVAL, NULL);
	/* A directory given as a file. */
	EXPECT_ERR(bo_dataset_open_files(dir, NULL, BO_DATASET_CIFAR10, NULL, &ds, &err), err,
		   BO_EIO, "regular file");

	/* IDX images without labels: the looked-for label names are listed. */
	tpath(file, "open", "t10k-images-idx3-ubyte");
	tpath(lab, "open", "t10k-labels-idx1-ubyte");
	write_idx_pair(file, lab, 3, 2, 2, idx_lab3, 0);
	assert_int_equal(unlink(lab), 0);
	EXPECT_ERR2(bo_dataset_open_dir(dir, BO_SPLIT_TEST, NULL, &ds, &err), err, BO_ENOENT,
		    "t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz");
	/* A file given as the directory. */
	EXPECT_ERR(bo_dataset_open_dir(file, BO_SPLIT_TEST, NULL, &ds, &err), err, BO_EINVAL,
		   "not a directory");
	/* IDX and NumPy need a labels file; unknown formats are refused. */
	EXPECT_ERR(bo_dataset_open_files(file, NULL, BO_DATASET_IDX, NULL, &ds, &err), err,
		   BO_EINVAL, "labels");
	EXPECT_ERR(bo_dataset_open_files(file, file, (enum bo_dataset_format)42, NULL, &ds, &err),
		   err, BO_EINVAL, "format");
	assert_int_equal(unlink(file), 0);

	/* NumPy images without labels. */
	tpath(file, "open", "test_images.npy");
	write_npy(file, 1, "|u1", "(1, 1, 1)", "\0", 1);
	EXPECT_ERR(bo_dataset_open_dir(dir, BO_SPLIT_TEST, NULL, &ds, &err), err, BO_ENOENT,
		   "test_labels.npy");
	assert_null(ds);
}

/* ---- preprocessing ---- */

static void test_norm_parse_list(void **state)
{
	(void)state;
	float v[BO_MAX_CHANNELS];
	int n = 0;
	struct bo_error err;
	EXPECT_OK(bo_norm_parse_list("0.5", v, &n, "--mean", &err), err);
	assert_int_equal(n, 1);
	assert_float_equal(v[0], 0.5f, 0.0f);
	EXPECT_OK(bo_norm_parse_list("0.4914,0.4822,0.4465", v, &n, "--mean", &err), err);
	assert_int_equal(n, 3);
	assert_float_equal(v[0], 0.4914f, 0.0f);
	assert_float_equal(v[1], 0.4822f, 0.0f);
	assert_float_equal(v[2], 0.4465f, 0.0f);
	EXPECT_OK(bo_norm_parse_list(" 1 , -2e-1 ,3", v, &n, "--std", &err), err);
	assert_int_equal(n, 3);
	assert_float_equal(v[1], -0.2f, 0.0f);
	EXPECT_OK(bo_norm_parse_list("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", v, &n, "--std", &err),
		  err);
	assert_int_equal(n, 16);
	assert_float_equal(v[15], 16.0f, 0.0f);

	static const char *const bad[] = {
		"", " ", "abc", "0.5,", ",0.5", "0.5,,1", "1x", "1 2", "0.5;0.2", "nan", "inf",
		"1e40", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = -7;
		v[0] = 123.0f;
		bo_status rc = bo_norm_parse_list(bad[i], v, &n, "--mean", &err);
		if (rc != BO_EINVAL || !strstr(err.text, "--mean"))
			fail_msg("'%s': status %d, text '%s'", bad[i], (int)rc, err.text);
		/* Outputs are untouched on error. */
		assert_int_equal(n, -7);
		assert_float_equal(v[0], 123.0f, 0.0f);
	}
	EXPECT_ERR(bo_norm_parse_list(NULL, v, &n, "--std", &err), err, BO_EINVAL, "--std");
}

static void test_norm_check(void **state)
{
	(void)state;
	struct bo_error err;
	struct bo_norm one = {.n = 1, .mean = {0.5f}, .std = {0.25f}};
	struct bo_norm three = {.n = 3, .mean = {0.1f, 0.2f, 0.3f}, .std = {1, 2, 3}};
	EXPECT_OK(bo_norm_check(NULL, 3, &err), err);
	EXPECT_OK(bo_norm_check(&one, 1, &err), err);
	EXPECT_OK(bo_norm_check(&one, 3, &err), err);
	EXPECT_OK(bo_norm_check(&three, 3, &err), err);
	EXPECT_ERR(bo_norm_check(&three, 1, &err), err, BO_EINVAL, "3 mean/std values");
	EXPECT_ERR(bo_norm_check(&three, 4, &err), err, BO_EINVAL, "4 channels");
	three.n = 2;
	EXPECT_ERR(bo_norm_check(&three, 3, &err), err, BO_EINVAL, "2 mean/std");
	three.n = 0;
	EXPECT_ERR(bo_norm_check(&three, 3, &err), err, BO_EINVAL, NULL);
	three.n = 3;
	three.std[1] = 0.0f;
	EXPECT_ERR(bo_norm_check(&three, 3, &err), err, BO_EINVAL, "std[1]");
	three.std[1] = -1.0f;
	EXPECT_ERR(bo_norm_check(&three, 3, &err), err, BO_EINVAL, "std[1]");
	three.std[1] = NAN;
	EXPECT_ERR(bo_norm_check(&three, 3, &err), err, BO_EINVAL, "std[1]");
	three.std[1] = 1.0f;
	three.mean[2] = INFINITY;
	EXPECT_ERR(bo_norm_check(&three, 3, &err), err, BO_EINVAL, "mean[2]");
	EXPECT_ERR(bo_norm_check(&one, 0, &err), err, BO_EINVAL, "channel");
}

static void test_batch_range_and_nulls(void **state)
{
	(void)state;
	char img[4096], lab[4096];
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	float x[3 * 4];
	int l[3];
	mksub("batch");
	tpath(img, "batch", "i");
	tpath(lab, "batch", "l");
	write_idx_pair(img, lab, 3, 2, 2, idx_lab3, 0);
	EXPECT_OK(bo_dataset_open_files(img, lab, BO_DATASET_IDX, NULL, &ds, &err), err);

	EXPECT_ERR(bo_dataset_batch(ds, -1, 1, NULL, x, l, &err), err, BO_EINVAL, "outside");
	EXPECT_ERR(bo_dataset_batch(ds, 0, -1, NULL, x, l, &err), err, BO_EINVAL, "outside");
	EXPECT_ERR(bo_dataset_batch(ds, 3, 1, NULL, x, l, &err), err, BO_EINVAL, "outside");
	EXPECT_ERR(bo_dataset_batch(ds, 1, 3, NULL, x, l, &err), err, BO_EINVAL, "outside");
	EXPECT_ERR(bo_dataset_batch(ds, INT64_MAX, INT64_MAX, NULL, x, l, &err), err, BO_EINVAL,
		   "outside");
	EXPECT_ERR(bo_dataset_batch(ds, 2, INT64_MAX, NULL, x, l, &err), err, BO_EINVAL,
		   "outside");
	EXPECT_ERR(bo_dataset_batch(NULL, 0, 1, NULL, x, l, &err), err, BO_EINVAL, NULL);
	EXPECT_ERR(bo_dataset_batch(ds, 0, 1, NULL, NULL, l, &err), err, BO_EINVAL, NULL);
	struct bo_norm norm = {.n = 1, .mean = {0}, .std = {0}};
	EXPECT_ERR(bo_dataset_batch(ds, 0, 1, &norm, x, l, &err), err, BO_EINVAL, "std");
	norm = (struct bo_norm){.n = 3, .mean = {0, 0, 0}, .std = {1, 1, 1}};
	EXPECT_ERR(bo_dataset_batch(ds, 0, 1, &norm, x, l, &err), err, BO_EINVAL, "1 channels");
	EXPECT_OK(bo_dataset_batch(ds, 3, 0, NULL, NULL, NULL, &err), err);
	EXPECT_OK(bo_dataset_batch(ds, 2, 1, NULL, x, NULL, &err), err);
	assert_float_equal(x[3], pix(2, 3) / 255.0f, TOL);
	/* err may be NULL. */
	assert_int_equal(bo_dataset_batch(ds, 5, 1, NULL, x, NULL, NULL), BO_EINVAL);
	bo_dataset_free(ds);

	/* NULL-safe accessors. */
	int64_t c = 9, h = 9, w = 9;
	bo_dataset_free(NULL);
	assert_int_equal(bo_dataset_count(NULL), 0);
	bo_dataset_shape(NULL, &c, &h, &w);
	assert_int_equal(c + h + w, 0);
	bo_dataset_shape(NULL, NULL, NULL, NULL);
	assert_int_equal(bo_dataset_classes(NULL), 0);
	assert_int_equal(bo_dataset_label(NULL, 0), -1);
	assert_int_equal(bo_dataset_format(NULL), BO_DATASET_AUTO);
	assert_string_equal(bo_dataset_format_name((enum bo_dataset_format)99), "unknown");
	assert_int_equal(bo_dataset_open_files(img, lab, BO_DATASET_IDX, NULL, NULL, NULL),
			 BO_EINVAL);
}

/* ---- the real thing ---- */

static void test_fashion_mnist(void **state)
{
	(void)state;
	struct stat st;
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	int64_t c, h, w;
	if (stat(FASHION_DIR "/t10k-images-idx3-ubyte.gz", &st) != 0) {
		skip();
		return;
	}
	EXPECT_OK(bo_dataset_open_dir(FASHION_DIR, BO_SPLIT_TEST, NULL, &ds, &err), err);
	assert_int_equal(bo_dataset_count(ds), 10000);
	bo_dataset_shape(ds, &c, &h, &w);
	assert_int_equal(c, 1);
	assert_int_equal(h, 28);
	assert_int_equal(w, 28);
	assert_int_equal(bo_dataset_label(ds, 0), 9); /* ankle boot */
	assert_int_equal(bo_dataset_classes(ds), 10);
	int hist[10] = {0};
	for (int64_t i = 0; i < 10000; i++) {
		int l = bo_dataset_label(ds, i);
		assert_in_range(l, 0, 9);
		hist[l]++;
	}
	for (int k = 0; k < 10; k++)
		assert_int_equal(hist[k], 1000);
	float *x = malloc(sizeof(float) * 784 * 2);
	assert_non_null(x);
	EXPECT_OK(bo_dataset_batch(ds, 9998, 2, NULL, x, NULL, &err), err);
	float sum = 0;
	for (int k = 0; k < 784 * 2; k++) {
		assert_true(x[k] >= 0.0f && x[k] <= 1.0f);
		sum += x[k];
	}
	assert_true(sum > 1.0f);
	free(x);
	bo_dataset_free(ds);

	/* The same through explicit gzipped files. */
	EXPECT_OK(bo_dataset_open_files(FASHION_DIR "/t10k-images-idx3-ubyte.gz",
					FASHION_DIR "/t10k-labels-idx1-ubyte.gz", BO_DATASET_AUTO,
					NULL, &ds, &err),
		  err);
	assert_int_equal(bo_dataset_count(ds), 10000);
	bo_dataset_free(ds);

	if (stat(FASHION_DIR "/train-images-idx3-ubyte.gz", &st) == 0) {
		EXPECT_OK(bo_dataset_open_dir(FASHION_DIR, BO_SPLIT_TRAIN, NULL, &ds, &err), err);
		assert_int_equal(bo_dataset_count(ds), 60000);
		bo_dataset_free(ds);
	}
}

/* ---- streaming validation (bo_dataset_check_at) ---- */

static long max_rss_kib(void)
{
	struct rusage ru;
	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

/* A gzip "bomb": an IDX images file of n zero images of 28x28 (n * 784
 * bytes uncompressed, about a thousandth of that compressed), written in
 * chunks so the test itself never holds it. */
static void write_idx_bomb(const char *path, uint32_t n)
{
	static unsigned char zeros[1 << 16];
	struct buf h = {0};
	put_be32(&h, 0x803);
	put_be32(&h, n);
	put_be32(&h, 28);
	put_be32(&h, 28);
	gzFile g = gzopen(path, "wb9");
	assert_non_null(g);
	assert_int_equal(gzwrite(g, h.p, (unsigned)h.n), (int)h.n);
	for (uint64_t left = (uint64_t)n * 784; left;) {
		unsigned k = (unsigned)(left < sizeof(zeros) ? left : sizeof(zeros));
		assert_int_equal(gzwrite(g, zeros, k), (int)k);
		left -= k;
	}
	assert_int_equal(gzclose(g), Z_OK);
	buf_free(&h);
}

static void write_zero_labels_gz(const char *path, uint32_t n)
{
	struct buf b = {0};
	put_be32(&b, 0x801);
	put_be32(&b, n);
	for (uint32_t i = 0; i < n; i++)
		put_u8(&b, i % 10);
	write_gz(path, b.p, b.n);
	buf_free(&b);
}

static void test_check_valid(void **state)
{
	(void)state;
	char dir[4096], img[4096], lab[4096];
	struct bo_dataset_info info;
	struct bo_error err;
	mksub("chk_ok");
	tpath(dir, "chk_ok", "");
	tpath(img, "chk_ok", "t10k-images-idx3-ubyte.gz");
	tpath(lab, "chk_ok", "t10k-labels-idx1-ubyte.gz");
	write_idx_pair(img, lab, 3, 4, 5, idx_lab3, 1);
	EXPECT_OK(bo_dataset_check_at(AT_FDCWD, img, lab, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL,
				      &info, &err),
		  err);
	assert_int_equal(info.format, BO_DATASET_IDX);
	assert_int_equal(info.count, 3);
	assert_int_equal(info.c, 1);
	assert_int_equal(info.h, 4);
	assert_int_equal(info.w, 5);
	assert_int_equal(info.classes, 8); /* labels 3, 0, 7 */
	assert_int_equal(info.is_dir, 0);
	/* every byte was streamed: headers 16 + 8, pixels 60, labels 3 */
	assert_int_equal(info.decoded_bytes, 16 + 60 + 8 + 3);
	struct stat si, sl;
	assert_int_equal(stat(img, &si), 0);
	assert_int_equal(stat(lab, &sl), 0);
	assert_int_equal(info.file_bytes, si.st_size + sl.st_size);
	/* the directory: the same, found by name */
	EXPECT_OK(bo_dataset_check_at(AT_FDCWD, dir, NULL, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL,
				      &info, &err),
		  err);
	assert_int_equal(info.is_dir, 1);
	assert_int_equal(info.count, 3);
	/* and what open_at loads agrees */
	struct bo_dataset *ds = NULL;
	EXPECT_OK(bo_dataset_open_at(AT_FDCWD, dir, NULL, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL, &ds,
				     &err),
		  err);
	check_u8_dataset(ds, 3, 4, 5, idx_lab3);
	assert_int_equal(bo_dataset_classes(ds), 8);
	bo_dataset_free(ds);
	/* NumPy float and int64 labels, and CIFAR-10 */
	float f[2 * 4] = {0, 0.5f, 1, 0.25f, 0, 0, 0, 1};
	int64_t l[2] = {4, 2};
	tpath(img, "chk_ok", "f.npy");
	tpath(lab, "chk_ok", "l.npy");
	write_npy(img, 1, "<f4", "(2, 2, 2)", f, sizeof(f));
	write_npy(lab, 1, "<i8", "(2,)", l, sizeof(l));
	EXPECT_OK(bo_dataset_check_at(AT_FDCWD, img, lab, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL,
				      &info, &err),
		  err);
	assert_int_equal(info.format, BO_DATASET_NPY);
	assert_int_equal(info.count, 2);
	assert_int_equal(info.classes, 5);
	static const unsigned char cl[] = {2, 9};
	struct buf b = {0};
	cifar_file(&b, 2, cl, 0);
	tpath(img, "chk_ok", "c.bin");
	write_file(img, b.p, b.n);
	buf_free(&b);
	EXPECT_OK(bo_dataset_check_at(AT_FDCWD, img, NULL, BO_DATASET_CIFAR10, BO_SPLIT_TEST, NULL,
				      &info, &err),
		  err);
	assert_int_equal(info.count, 2);
	assert_int_equal(info.classes, 10);
	assert_int_equal(info.c, 3);
}

/* A 2 MB-class gzip bomb: 100,000 images declared and really there
 * (78 MB uncompressed, under 100 KB compressed). */
static void test_check_gzip_bomb(void **state)
{
	(void)state;
	char img[4096], lab[4096];
	struct bo_dataset_info info;
	struct bo_dataset_limits lim;
	struct bo_dataset *ds = NULL;
	struct bo_error err;
	const uint32_t n = 100000;
	mksub("bomb");
	tpath(img, "bomb", "images.gz");
	tpath(lab, "bomb", "labels.gz");
	write_idx_bomb(img, n);
	write_zero_labels_gz(lab, n);
	struct stat st;
	assert_int_equal(stat(img, &st), 0);
	assert_true(st.st_size < (1 << 20));

	/* declared count over the cap: refused from the header, before any
	 * pixel is read */
	memset(&lim, 0, sizeof(lim));
	lim.max_images = 1000;
	EXPECT_ERR2(bo_dataset_check_at(AT_FDCWD, img, lab, BO_DATASET_IDX, BO_SPLIT_TEST, &lim,
					&info, &err),
		    err, BO_ELIMIT, "100000 images", "limit of 1000");
	assert_int_equal(err.offset, 4); /* the count field of the header */
	/* declared bytes over max_bytes: the same, from the header */
	memset(&lim, 0, sizeof(lim));
	lim.max_bytes = 1 << 20;
	EXPECT_ERR(bo_dataset_open_at(AT_FDCWD, img, lab, BO_DATASET_IDX, BO_SPLIT_TEST, &lim, &ds,
				      &err),
		   err, BO_ELIMIT, "limit of 1048576 bytes");
	assert_null(ds);
	/* the uncompressed stream over max_decoded_bytes: stopped once 1 MiB
	 * has come out, loading or checking */
	memset(&lim, 0, sizeof(lim));
	lim.max_decoded_bytes = 1 << 20;
	long before = max_rss_kib();
	EXPECT_ERR(bo_dataset_open_at(AT_FDCWD, img, lab, BO_DATASET_IDX, BO_SPLIT_TEST, &lim, &ds,
				      &err),
		   err, BO_ELIMIT, "max_decoded_bytes");
	assert_null(ds);
	assert_true(err.offset > 0 && err.offset <= (1 << 20) + (1 << 20));
	EXPECT_ERR(bo_dataset_check_at(AT_FDCWD, img, lab, BO_DATASET_IDX, BO_SPLIT_TEST, &lim,
				       &info, &err),
		   err, BO_ELIMIT, "max_decoded_bytes");
	/* within the limits it is a valid dataset: checking it streams all
	 * 78 MB through fixed buffers, the process's peak grows by far less */
	EXPECT_OK(bo_dataset_check_at(AT_FDCWD, img, lab, BO_DATASET_IDX, BO_SPLIT_TEST, NULL,
				      &info, &err),
		  err);
	assert_int_equal(info.count, n);
	assert_int_equal(info.decoded_bytes, 16 + (int64_t)n * 784 + 8 + n);
	long grew = max_rss_kib() - before;
	if (grew > 16 * 1024)
		fail_msg("checking a 78 MB dataset raised the peak RSS by %ld KiB", grew);
}

static void test_check_errors(void **state)
{
	(void)state;
	char img[4096], lab[4096];
	struct bo_dataset_info info;
	struct bo_error err;
	struct buf bi = {0}, bl = {0};
	mksub("chk_bad");
	tpath(img, "chk_bad", "images");
	tpath(lab, "chk_bad", "labels");
#define CHECK(fmt) bo_dataset_check_at(AT_FDCWD, img, lab, fmt, BO_SPLIT_TEST, NULL, &info, &err)

	/* truncated pixel data, raw and gzipped */
	idx_images(&bi, 0x803, 3, 4, 5);
	idx_labels(&bl, 3, idx_lab3);
	write_file(img, bi.p, bi.n - 7);
	write_file(lab, bl.p, bl.n);
	EXPECT_ERR2(CHECK(BO_DATASET_AUTO), err, BO_EMALFORMED, "truncated IDX pixel data",
		    "expected 60 bytes");
	write_gz(img, bi.p, bi.n - 7);
	EXPECT_ERR(CHECK(BO_DATASET_AUTO), err, BO_EMALFORMED, "truncated IDX pixel data");
	/* a gzip stream cut short */
	{
		size_t n = 0;
		write_gz(img, bi.p, bi.n);
		unsigned char *z = read_all(img, &n);
		write_file(img, z, n - 6);
		free(z);
		EXPECT_ERR(CHECK(BO_DATASET_AUTO), err, BO_EMALFORMED, "truncated");
	}
	/* trailing data */
	write_file(img, bi.p, bi.n);
	put_u8(&bl, 1);
	write_file(lab, bl.p, bl.n);
	EXPECT_ERR(CHECK(BO_DATASET_AUTO), err, BO_EMALFORMED, "after the end");
	/* counts that disagree */
	buf_free(&bl);
	static const unsigned char lab4[] = {1, 2, 3, 4};
	idx_labels(&bl, 4, lab4);
	write_file(lab, bl.p, bl.n);
	EXPECT_ERR2(CHECK(BO_DATASET_AUTO), err, BO_ESHAPE, "has 3 images", "has 4 labels");
	/* truncated labels */
	buf_free(&bl);
	idx_labels(&bl, 3, idx_lab3);
	write_file(lab, bl.p, bl.n - 1);
	EXPECT_ERR(CHECK(BO_DATASET_AUTO), err, BO_EMALFORMED, "truncated IDX label data");
	buf_free(&bi);
	buf_free(&bl);

	/* NumPy: a label out of range, a NaN pixel */
	unsigned char px[2 * 4] = {0};
	int64_t l[2] = {1, 70000};
	write_npy(img, 1, "|u1", "(2, 2, 2)", px, sizeof(px));
	write_npy(lab, 1, "<i8", "(2,)", l, sizeof(l));
	EXPECT_ERR2(CHECK(BO_DATASET_AUTO), err, BO_EMALFORMED, "label 70000 at index 1",
		    "out of range 0..65535");
	l[1] = -1;
	write_npy(lab, 1, "<i8", "(2,)", l, sizeof(l));
	EXPECT_ERR(CHECK(BO_DATASET_AUTO), err, BO_EMALFORMED, "label -1 at index 1");
	l[1] = 0;
	write_npy(lab, 1, "<i8", "(2,)", l, sizeof(l));
	float f[8] = {0, 0, 0, 0, 0, NAN, 0, 0};
	write_npy(img, 1, "<f4", "(2, 2, 2)", f, sizeof(f));
	EXPECT_ERR2(CHECK(BO_DATASET_AUTO), err, BO_EMALFORMED, "pixel 5 (image 1)", "finite");
	/* count mismatch in NumPy */
	int64_t l3[3] = {0, 0, 0};
	write_npy(lab, 1, "<i8", "(3,)", l3, sizeof(l3));
	f[5] = 0;
	write_npy(img, 1, "<f4", "(2, 2, 2)", f, sizeof(f));
	EXPECT_ERR(CHECK(BO_DATASET_AUTO), err, BO_ESHAPE, "has 2 images");

	/* CIFAR-10: a label that is not a class, a partial record */
	static const unsigned char cl[] = {3, 10};
	struct buf b = {0};
	cifar_file(&b, 2, cl, 0);
	write_file(img, b.p, b.n);
	EXPECT_ERR(bo_dataset_check_at(AT_FDCWD, img, NULL, BO_DATASET_CIFAR10, BO_SPLIT_TEST,
				       NULL, &info, &err),
		   err, BO_EMALFORMED, "label 10 of record 1");
	b.p[3073] = 1;
	write_file(img, b.p, b.n - 100);
	EXPECT_ERR(bo_dataset_check_at(AT_FDCWD, img, NULL, BO_DATASET_CIFAR10, BO_SPLIT_TEST,
				       NULL, &info, &err),
		   err, BO_EMALFORMED, "truncated CIFAR-10 record 1");
	buf_free(&b);
#undef CHECK
}

/* ---- opening beneath a root (bo_dataset_open_at) ---- */

static void test_open_beneath_root(void **state)
{
	(void)state;
	char root[4096], outside[4096], p[4096], q[4096];
	struct bo_dataset *ds = NULL;
	struct bo_dataset_info info;
	struct bo_error err;
	static const unsigned char lab_out[] = {1, 1, 1, 1, 1};
	mksub("root");
	mksub("outside");
	mksub("root/ds");
	mksub("outside/ds");
	tpath(root, "root", "");
	tpath(outside, "outside", "");
	tpath(p, "root/ds", "t10k-images-idx3-ubyte");
	tpath(q, "root/ds", "t10k-labels-idx1-ubyte");
	write_idx_pair(p, q, 3, 2, 2, idx_lab3, 0);
	/* outside: a valid dataset of 5 images that must never be read */
	tpath(p, "outside/ds", "t10k-images-idx3-ubyte");
	tpath(q, "outside/ds", "t10k-labels-idx1-ubyte");
	write_idx_pair(p, q, 5, 2, 2, lab_out, 0);

	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	EXPECT_OK(bo_dataset_open_at(fd, "ds", NULL, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL, &ds,
				     &err),
		  err);
	assert_int_equal(bo_dataset_count(ds), 3);
	bo_dataset_free(ds);
	ds = NULL;
	EXPECT_OK(bo_dataset_open_at(fd, "ds/t10k-images-idx3-ubyte", "ds/t10k-labels-idx1-ubyte",
				     BO_DATASET_AUTO, BO_SPLIT_TEST, NULL, &ds, &err),
		  err);
	assert_int_equal(bo_dataset_count(ds), 3);
	bo_dataset_free(ds);
	ds = NULL;
	/* a link inside the root to a place inside the root is fine */
	tpath(p, "root", "alias");
	assert_int_equal(symlink("ds", p), 0);
	EXPECT_OK(bo_dataset_check_at(fd, "alias", NULL, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL,
				      &info, &err),
		  err);
	assert_int_equal(info.count, 3);

	/* "..", absolute paths: out of the root */
	EXPECT_ERR(bo_dataset_open_at(fd, "../outside/ds", NULL, BO_DATASET_AUTO, BO_SPLIT_TEST,
				      NULL, &ds, &err),
		   err, BO_EPERM, "leaves the dataset root");
	assert_null(ds);
	tpath(p, "outside", "ds");
	EXPECT_ERR(bo_dataset_open_at(fd, p, NULL, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL, &ds, &err),
		   err, BO_EPERM, "leaves the dataset root");
	EXPECT_ERR(bo_dataset_open_at(fd, "ds/t10k-images-idx3-ubyte", "../outside/ds/x",
				      BO_DATASET_AUTO, BO_SPLIT_TEST, NULL, &ds, &err),
		   err, BO_EPERM, "leaves the dataset root");
	EXPECT_ERR(bo_dataset_open_at(fd, "nothing-here", NULL, BO_DATASET_AUTO, BO_SPLIT_TEST,
				      NULL, &ds, &err),
		   err, BO_ENOENT, "cannot open");

	/* the registered directory swapped for a link out of the root, absolute
	 * and relative: refused, nothing outside read */
	char old[4096], link[4096], target[4096];
	tpath(link, "root", "ds");
	tpath(old, "root", "ds.old");
	tpath(target, "outside", "ds");
	assert_int_equal(rename(link, old), 0);
	assert_int_equal(symlink(target, link), 0);
	EXPECT_ERR(bo_dataset_open_at(fd, "ds", NULL, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL, &ds,
				      &err),
		   err, BO_EPERM, "leaves the dataset root");
	assert_null(ds);
	EXPECT_ERR(bo_dataset_check_at(fd, "ds", NULL, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL, &info,
				       &err),
		   err, BO_EPERM, "leaves the dataset root");
	assert_int_equal(info.decoded_bytes, 0);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("../outside/ds", link), 0);
	EXPECT_ERR(bo_dataset_open_at(fd, "ds", NULL, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL, &ds,
				      &err),
		   err, BO_EPERM, "leaves the dataset root");
	/* (the old, following resolution would have read the 5 outside images) */
	EXPECT_OK(bo_dataset_open_dir(link, BO_SPLIT_TEST, NULL, &ds, &err), err);
	assert_int_equal(bo_dataset_count(ds), 5);
	bo_dataset_free(ds);
	ds = NULL;
	assert_int_equal(unlink(link), 0);
	assert_int_equal(rename(old, link), 0);

	/* a member file of the directory that is a link out of it */
	mksub("root/ds2");
	tpath(p, "root/ds2", "t10k-images-idx3-ubyte");
	tpath(q, "root/ds2", "t10k-labels-idx1-ubyte");
	tpath(target, "outside/ds", "t10k-images-idx3-ubyte");
	assert_int_equal(symlink(target, p), 0);
	tpath(target, "outside/ds", "t10k-labels-idx1-ubyte");
	assert_int_equal(symlink(target, q), 0);
	EXPECT_ERR(bo_dataset_open_at(fd, "ds2", NULL, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL, &ds,
				      &err),
		   err, BO_EPERM, "leaves the dataset root");
	assert_null(ds);

	/* a FIFO is refused without blocking */
	mksub("root/fifo");
	tpath(p, "root/fifo", "images");
	assert_int_equal(mkfifo(p, 0600), 0);
	EXPECT_ERR(bo_dataset_open_at(fd, "fifo/images", "ds/t10k-labels-idx1-ubyte",
				      BO_DATASET_IDX, BO_SPLIT_TEST, NULL, &ds, &err),
		   err, BO_EIO, "not a regular file");
	/* a bad fd */
	EXPECT_ERR(bo_dataset_open_at(-5, "ds", NULL, BO_DATASET_AUTO, BO_SPLIT_TEST, NULL, &ds,
				      &err),
		   err, BO_EINVAL, "fd");
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idx_raw),
		cmocka_unit_test(test_npy_wide_labels),
		cmocka_unit_test(test_idx_gz_and_names),
		cmocka_unit_test(test_idx_truncated),
		cmocka_unit_test(test_idx_truncate_every_length),
		cmocka_unit_test(test_idx_gz_corrupt),
		cmocka_unit_test(test_idx_bad_magic),
		cmocka_unit_test(test_idx_count_mismatch),
		cmocka_unit_test(test_idx_limits_and_empty),
		cmocka_unit_test(test_cifar_test_split),
		cmocka_unit_test(test_cifar_train_subdir),
		cmocka_unit_test(test_cifar_errors),
		cmocka_unit_test(test_npy_u8_3d),
		cmocka_unit_test(test_npy_f4_4d),
		cmocka_unit_test(test_npy_f8_v2_i4),
		cmocka_unit_test(test_npy_errors),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_norm_parse_list),
		cmocka_unit_test(test_norm_check),
		cmocka_unit_test(test_batch_range_and_nulls),
		cmocka_unit_test(test_fashion_mnist),
		cmocka_unit_test(test_check_valid),
		cmocka_unit_test(test_check_gzip_bomb),
		cmocka_unit_test(test_check_errors),
		cmocka_unit_test(test_open_beneath_root),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
