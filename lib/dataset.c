/* Labelled image datasets: IDX (raw or gzip), CIFAR-10 binary and NumPy.
 *
 * Every file is read through zlib's gz* stream API, which passes raw files
 * through unchanged and decompresses gzip ones, so any format may also be
 * gzipped. Arrays grow as data arrives rather than being allocated from the
 * header's claim, so a short file that claims gigabytes cannot make us
 * allocate them. Offsets in errors are in the uncompressed stream.
 *
 * One reader (struct rd) serves loading and validating: in validate mode
 * (bo_dataset_check_at) the same parsers run, but the data streams through
 * fixed buffers and nothing proportional to it is kept; declared counts are
 * checked against the limits before any data is read, and the uncompressed
 * bytes of all files together against max_decoded_bytes as they arrive.
 *
 * Files are opened by name relative to a directory fd. Under a root
 * (bo_dataset_open_at / _check_at with a real fd) every name is resolved
 * beneath it: openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), or where
 * the kernel lacks openat2 a component-by-component walk with O_NOFOLLOW;
 * a dataset directory is opened once and its files beneath it. Only
 * regular files are read (opened O_NONBLOCK, so a FIFO cannot block). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include <brownout/dataset.h>

#include "internal.h"

#define DEF_MAX_IMAGES INT64_C(10000000)
#define DEF_MAX_PIXELS INT64_C(16777216)
#define DEF_MAX_BYTES (INT64_C(8) << 30)
#define DEF_MAX_DECODED (INT64_C(16) << 30)

#define CIFAR_PIXELS 3072
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10
#define CIFAR_CHUNK_RECORDS 256
#define CIFAR_TRAIN_FILES 5

#define NPY_MAX_HEADER 65536
#define NPY_MAX_DIMS 8

#define CHUNK_BYTES ((size_t)1 << 20)
#define PATH_BYTES 4096

struct bo_dataset {
	enum bo_dataset_format format;
	int64_t n, c, h, w;
	unsigned char *u8; /* pixels [n,c,h,w] when stored as bytes */
	float *f32;        /* pixels [n,c,h,w] when stored as floats */
	uint16_t *labels;  /* 0..BO_MAX_LABEL */
	int classes;
};

struct limits {
	int64_t images, pixels, bytes, decoded;
};

/* One open or check of a dataset: where names are resolved, the limits,
 * and what has been read so far. */
struct rd {
	struct limits lim;
	int validate;         /* stream and check, keep nothing */
	int dirfd;            /* names are relative to this (AT_FDCWD: paths) */
	int beneath;          /* resolve beneath dirfd, never out of it */
	const char *disp_dir; /* prefix of the names in errors, or NULL */
	int64_t decoded;      /* uncompressed bytes read, all files */
	int64_t file_bytes;   /* on-disk bytes of the files opened */
	int max_label;
};

/* Record status, file, byte offset and explanation in err (may be NULL). */
static bo_status fail_at(struct bo_error *err, const char *path, int64_t offset, bo_status st,
			 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static bo_status fail_at(struct bo_error *err, const char *path, int64_t offset, bo_status st,
			 const char *fmt, ...)
{
	if (!err)
		return st;
	Bo_error_where(err, path, NULL, NULL, NULL);
	err->offset = offset;
	va_list ap;
	va_start(ap, fmt);
	Bo_vfail(err, st, fmt, ap);
	va_end(ap);
	return st;
}

static bo_status get_limits(const struct bo_dataset_limits *in, struct limits *out,
			    struct bo_error *err)
{
	out->images = DEF_MAX_IMAGES;
	out->pixels = DEF_MAX_PIXELS;
	out->bytes = DEF_MAX_BYTES;
	out->decoded = DEF_MAX_DECODED;
	if (!in)
		return BO_OK;
	if (in->max_images < 0 || in->max_pixels < 0 || in->max_bytes < 0 ||
	    in->max_decoded_bytes < 0)
		return Bo_fail(err, BO_EINVAL, "dataset limits must not be negative");
	if (in->max_decoded_bytes)
		out->decoded = in->max_decoded_bytes;
	if (in->max_images)
		out->images = in->max_images;
	if (in->max_pixels)
		out->pixels = in->max_pixels;
	if (in->max_bytes)
		out->bytes = in->max_bytes;
	return BO_OK;
}

/* ---- opening names ---- */

/* openat2 beneath dirfd; where the kernel has no openat2, a walk that opens
 * each component with O_NOFOLLOW (stricter: no symbolic link at all) and
 * refuses "..". Returns an fd, or -1 with errno (EXDEV, ELOOP: it would
 * leave dirfd). */
static int open_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)flags;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	const char *rel = *name ? name : ".";
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	if (fd >= 0 || errno != ENOSYS)
		return (int)fd;
	char buf[PATH_BYTES];
	if (rel[0] == '/') {
		errno = EXDEV;
		return -1;
	}
	if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int cur = dirfd;
	char *save = NULL, *comp = strtok_r(buf, "/", &save);
	if (!comp)
		return openat(dirfd, ".", flags);
	for (;;) {
		char *next = strtok_r(NULL, "/", &save);
		while (next && !strcmp(next, "."))
			next = strtok_r(NULL, "/", &save);
		if (!strcmp(comp, "..")) {
			if (cur != dirfd)
				close(cur);
			errno = EXDEV;
			return -1;
		}
		int fd2 = next ? openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			       : openat(cur, comp, flags | O_NOFOLLOW);
		int e = errno;
		if (cur != dirfd)
			close(cur);
		if (fd2 < 0) {
			errno = e;
			return -1;
		}
		if (!next)
			return fd2;
		cur = fd2;
		comp = next;
	}
}

static int open_name(const struct rd *r, const char *name, int flags)
{
	/* openat2 refuses O_PATH with any flag but O_DIRECTORY, O_NOFOLLOW and
	 * O_CLOEXEC */
	flags |= O_CLOEXEC | (flags & O_PATH ? 0 : O_NOCTTY);
	if (r->beneath)
		return open_beneath(r->dirfd, name, flags);
	return openat(r->dirfd, name, flags);
}

static bo_status open_fail(struct bo_error *err, const struct rd *r, const char *path, int e,
			   const char *what)
{
	if (r->beneath && (e == EXDEV || e == ELOOP))
		return fail_at(err, path, -1, BO_EPERM,
			       "cannot open %s: the path leaves the dataset root ('..', an "
			       "absolute path or a symbolic link that points out of it)",
			       what);
	return fail_at(err, path, -1, e == ENOENT || e == ENOTDIR ? BO_ENOENT : BO_EIO,
		       "cannot open %s: %s", what, strerror(e));
}

/* The name as errors show it: disp_dir/name. */
static void disp_name(char *buf, const struct rd *r, const char *name)
{
	size_t n = r->disp_dir ? strlen(r->disp_dir) : 0;
	if (!n)
		snprintf(buf, PATH_BYTES, "%s", name);
	else
		snprintf(buf, PATH_BYTES, "%s%s%s", r->disp_dir,
			 r->disp_dir[n - 1] == '/' ? "" : "/", name);
}

/* ---- byte sources: a gzFile plus position bookkeeping ---- */

struct src {
	gzFile f;
	struct rd *r;
	char path[PATH_BYTES]; /* as errors name it */
	int64_t pos;   /* uncompressed bytes delivered so far */
	int gz;        /* the file is gzip-compressed */
	int gz_trunc;  /* zlib saw the compressed stream end early */
	/* for visitors' errors: where the array starts, its element size in the
	 * file, elements per image */
	int64_t data0, esize, per;
};

static bo_status src_open(struct src *s, struct rd *r, const char *name, struct bo_error *err)
{
	struct stat st;
	memset(s, 0, sizeof(*s));
	s->r = r;
	disp_name(s->path, r, name);
	int fd = open_name(r, name, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return open_fail(err, r, s->path, errno, "the file");
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail_at(err, s->path, -1, BO_EIO, "not a regular file");
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	r->file_bytes += st.st_size;
	s->f = gzdopen(fd, "rb");
	if (!s->f) {
		close(fd);
		return Bo_fail(err, BO_ENOMEM, "cannot allocate a zlib stream");
	}
	gzbuffer(s->f, 1u << 17);
	s->gz = !gzdirect(s->f);
	return BO_OK;
}

static void src_close(struct src *s)
{
	if (s->f)
		gzclose_r(s->f);
	s->f = NULL;
}

/* Read up to n bytes; *got < n only at the end of the data. */
static bo_status src_read(struct src *s, void *buf, size_t n, size_t *got, struct bo_error *err)
{
	unsigned char *p = buf;
	size_t done = 0;
	int errnum = Z_OK;
	while (done < n) {
		size_t want = BO_MIN(n - done, (size_t)1 << 30);
		int k = gzread(s->f, p + done, (unsigned)want);
		if (k <= 0)
			break;
		done += (size_t)k;
	}
	s->pos += (int64_t)done;
	s->r->decoded += (int64_t)done;
	*got = done;
	if (s->r->decoded > s->r->lim.decoded)
		return fail_at(err, s->path, s->pos, BO_ELIMIT,
			       "more than the limit of %lld bytes of uncompressed data in all "
			       "(max_decoded_bytes)",
			       (long long)s->r->lim.decoded);
	const char *msg = gzerror(s->f, &errnum);
	if (errnum == Z_OK)
		return BO_OK;
	if (errnum == Z_BUF_ERROR) {
		/* "unexpected end of file": the caller sees a short read. */
		s->gz_trunc = 1;
		return BO_OK;
	}
	if (errnum == Z_ERRNO)
		return fail_at(err, s->path, s->pos, BO_EIO, "read failed: %s", strerror(errno));
	if (errnum == Z_MEM_ERROR)
		return Bo_fail(err, BO_ENOMEM, "zlib ran out of memory");
	/* zlib prefixes the name it was opened with ("<fd:N>: ") */
	const char *sep = msg ? strstr(msg, ": ") : NULL;
	if (sep)
		msg = sep + 2;
	return fail_at(err, s->path, s->pos, BO_EMALFORMED,
		       "corrupt gzip data (%s) after %lld bytes of uncompressed data",
		       msg ? msg : "unknown zlib error", (long long)s->pos);
}

static bo_status src_truncated(struct src *s, const char *what, int64_t start, int64_t need,
			       int64_t got, struct bo_error *err)
{
	return fail_at(err, s->path, start + got, BO_EMALFORMED,
		       "truncated %s: expected %lld bytes from byte %lld, got %lld; the %s ends at "
		       "byte %lld",
		       what, (long long)need, (long long)start, (long long)got,
		       s->gz ? "uncompressed data" : "file", (long long)(start + got));
}

/* Read exactly n bytes or fail naming `what`. */
static bo_status src_need(struct src *s, void *buf, size_t n, const char *what,
			  struct bo_error *err)
{
	int64_t start = s->pos;
	size_t got = 0;
	bo_status rc = src_read(s, buf, n, &got, err);
	if (rc)
		return rc;
	if (got < n)
		return src_truncated(s, what, start, (int64_t)n, (int64_t)got, err);
	return BO_OK;
}

/* The data must end here: no trailing bytes, and a gzip stream must be whole. */
static bo_status src_expect_end(struct src *s, struct bo_error *err)
{
	unsigned char b;
	size_t got = 0;
	bo_status rc = src_read(s, &b, 1, &got, err);
	if (rc)
		return rc;
	if (got)
		return fail_at(err, s->path, s->pos - 1, BO_EMALFORMED,
			       "unexpected data after the end of the array at byte %lld",
			       (long long)(s->pos - 1));
	if (s->gz_trunc)
		return fail_at(err, s->path, s->pos, BO_EMALFORMED,
			       "truncated gzip stream: the compressed file ends early (after %lld "
			       "bytes of uncompressed data)",
			       (long long)s->pos);
	return BO_OK;
}

/* Convert n elements from their file encoding at src into dst. */
typedef void (*conv_fn)(void *dst, const unsigned char *src, size_t n);

static uint32_t rd_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_le64(const unsigned char *p)
{
	return (uint64_t)rd_le32(p) | (uint64_t)rd_le32(p + 4) << 32;
}

static uint32_t rd_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void conv_f4(void *dst, const unsigned char *src, size_t n)
{
	float *d = dst;
	for (size_t i = 0; i < n; i++) {
		uint32_t u = rd_le32(src + 4 * i);
		memcpy(&d[i], &u, 4);
	}
}

static void conv_f8(void *dst, const unsigned char *src, size_t n)
{
	float *d = dst;
	for (size_t i = 0; i < n; i++) {
		uint64_t u = rd_le64(src + 8 * i);
		double v;
		memcpy(&v, &u, 8);
		d[i] = (float)v;
	}
}

static void conv_u1_i64(void *dst, const unsigned char *src, size_t n)
{
	int64_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = src[i];
}

static void conv_u1_u16(void *dst, const unsigned char *src, size_t n)
{
	uint16_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = src[i];
}

static void conv_i1_i64(void *dst, const unsigned char *src, size_t n)
{
	int64_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = (int8_t)src[i];
}

static void conv_i2_i64(void *dst, const unsigned char *src, size_t n)
{
	int64_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = (int16_t)(uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
}

static void conv_u2_i64(void *dst, const unsigned char *src, size_t n)
{
	int64_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
}

static void conv_i4_i64(void *dst, const unsigned char *src, size_t n)
{
	int64_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = (int32_t)rd_le32(src + 4 * i);
}

static void conv_i8_i64(void *dst, const unsigned char *src, size_t n)
{
	int64_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = (int64_t)rd_le64(src + 8 * i);
}

/* Checks each converted chunk of an array: elems [first, first+k). */
typedef bo_status (*visit_fn)(struct src *s, const void *elems, int64_t first, int64_t k,
			      struct bo_error *err);

/* Read `count` elements of in_size bytes, converted by conv (NULL: copied,
 * in_size == out_size) to out_size-byte elements, each chunk checked by
 * visit (may be NULL). Loading, *out gets a malloc'd array that grows as
 * data arrives; validating (s->r->validate), the data streams through two
 * fixed buffers and *out gets NULL. */
static bo_status src_read_array(struct src *s, int64_t count, size_t in_size, size_t out_size,
				conv_fn conv, visit_fn visit, void **out, const char *what,
				struct bo_error *err)
{
	bo_status rc = BO_OK;
	unsigned char *dst = NULL, *tmp = NULL;
	const int keep = !s->r->validate;
	int64_t cap = 0, done = 0, start = s->pos, total_in, total_out;
	const int64_t chunk = (int64_t)(CHUNK_BYTES / BO_MAX(in_size, out_size));
	*out = NULL;
	if (count <= 0 || !Bo_mul_ok(count, (int64_t)in_size, &total_in) ||
	    !Bo_mul_ok(count, (int64_t)out_size, &total_out) || (uint64_t)total_out > SIZE_MAX) {
		rc = Bo_fail(err, BO_EINTERNAL, "bad array size %lld", (long long)count);
		goto out;
	}
	if (conv || !keep) {
		tmp = malloc(CHUNK_BYTES);
		if (!tmp) {
			rc = Bo_fail(err, BO_ENOMEM, "cannot allocate a read buffer");
			goto out;
		}
	}
	if (!keep && conv) {
		dst = malloc((size_t)chunk * out_size);
		if (!dst) {
			rc = Bo_fail(err, BO_ENOMEM, "cannot allocate a read buffer");
			goto out;
		}
	}
	while (done < count) {
		int64_t k = BO_MIN(count - done, chunk);
		if (keep && done + k > cap) {
			int64_t ncap = BO_MAX(done + k, BO_MIN(count, cap * 2));
			unsigned char *p = realloc(dst, (size_t)ncap * out_size);
			if (!p) {
				rc = Bo_fail(err, BO_ENOMEM, "cannot allocate %lld bytes for %s",
					     (long long)ncap * (long long)out_size, what);
				goto out;
			}
			dst = p;
			cap = ncap;
		}
		unsigned char *into = keep ? dst + (size_t)done * out_size : dst;
		unsigned char *raw = conv || !keep ? tmp : into;
		size_t want = (size_t)k * in_size, got = 0;
		rc = src_read(s, raw, want, &got, err);
		if (rc)
			goto out;
		if (got < want) {
			rc = src_truncated(s, what, start, total_in,
					   done * (int64_t)in_size + (int64_t)got, err);
			goto out;
		}
		if (conv)
			conv(into, tmp, (size_t)k);
		if (visit && (rc = visit(s, conv ? into : raw, done, k, err)))
			goto out;
		done += k;
	}
	if (keep) {
		*out = dst;
		dst = NULL;
	}
out:
	free(tmp);
	free(dst);
	return rc;
}

/* Labels (IDX bytes, widened): note the largest. */
static bo_status visit_u16_labels(struct src *s, const void *elems, int64_t first, int64_t k,
				  struct bo_error *err)
{
	const uint16_t *l = elems;
	(void)first;
	(void)err;
	for (int64_t i = 0; i < k; i++)
		s->r->max_label = BO_MAX(s->r->max_label, (int)l[i]);
	return BO_OK;
}

/* ---- shared checks ---- */

static bo_status check_dims(const char *path, int64_t off, int64_t n, int64_t c, int64_t h,
			    int64_t w, int64_t esize, const struct limits *lim,
			    struct bo_error *err)
{
	int64_t pix, bytes;
	if (n <= 0)
		return fail_at(err, path, off, BO_EMALFORMED, "empty dataset: the file holds 0 images");
	if (c <= 0 || h <= 0 || w <= 0)
		return fail_at(err, path, off, BO_EMALFORMED,
			       "image shape %lldx%lldx%lld has a zero dimension", (long long)c,
			       (long long)h, (long long)w);
	if (c > BO_MAX_CHANNELS)
		return fail_at(err, path, off, BO_EUNSUPPORTED,
			       "images with %lld channels (shape %lldx%lldx%lld; at most %d "
			       "channels, in NCHW order)",
			       (long long)c, (long long)c, (long long)h, (long long)w,
			       BO_MAX_CHANNELS);
	if (n > lim->images)
		return fail_at(err, path, off, BO_ELIMIT, "%lld images, over the limit of %lld",
			       (long long)n, (long long)lim->images);
	if (!Bo_mul_ok(c, h, &pix) || !Bo_mul_ok(pix, w, &pix) || pix > lim->pixels)
		return fail_at(err, path, off, BO_ELIMIT,
			       "images of %lldx%lldx%lld pixels, over the limit of %lld per image",
			       (long long)c, (long long)h, (long long)w, (long long)lim->pixels);
	if (!Bo_mul_ok(n, pix, &bytes) || !Bo_mul_ok(bytes, esize, &bytes) || bytes > lim->bytes)
		return fail_at(err, path, off, BO_ELIMIT,
			       "%lld images of %lld pixels need more than the limit of %lld bytes",
			       (long long)n, (long long)pix, (long long)lim->bytes);
	return BO_OK;
}

/* Names the files by their base names only: err->file has the labels
 * file's path, and the text no directory. */
static bo_status count_mismatch(const char *ipath, int64_t ni, const char *lpath, int64_t nl,
				struct bo_error *err)
{
	const char *ib = strrchr(ipath, '/'), *lb = strrchr(lpath, '/');
	return fail_at(err, lpath, -1, BO_ESHAPE,
		       "image count != label count: %.100s has %lld images but %.100s has %lld "
		       "labels",
		       ib ? ib + 1 : ipath, (long long)ni, lb ? lb + 1 : lpath, (long long)nl);
}

/* ---- IDX ---- */

static int idx_known_type(unsigned t)
{
	return t == 0x08 || t == 0x09 || t == 0x0B || t == 0x0C || t == 0x0D || t == 0x0E;
}

/* Read the magic and ndims big-endian dimensions of an IDX file. */
static bo_status idx_header(struct src *s, unsigned ndims, uint32_t *dims, struct bo_error *err)
{
	unsigned char h[4 + 4 * 3];
	const char *kind = ndims == 3 ? "images" : "labels";
	const uint32_t want = 0x800u | ndims;
	bo_status rc = src_need(s, h, 4, "IDX magic", err);
	if (rc)
		return rc;
	uint32_t magic = rd_be32(h);
	if (magic != want) {
		if (h[0] || h[1] || !idx_known_type(h[2]))
			return fail_at(err, s->path, 0, BO_EMALFORMED,
				       "bad magic 0x%08x: not an IDX file (expected 0x%08x, IDX %s)",
				       (unsigned)magic, (unsigned)want, kind);
		if (h[2] != 0x08)
			return fail_at(err, s->path, 2, BO_EUNSUPPORTED,
				       "IDX element type 0x%02x is not supported (only unsigned bytes, "
				       "0x08)",
				       h[2]);
		return fail_at(err, s->path, 3, BO_EMALFORMED,
			       "bad magic 0x%08x: IDX with %u dimensions, expected 0x%08x (IDX %s, "
			       "%u dimensions)%s",
			       (unsigned)magic, h[3], (unsigned)want, kind, ndims,
			       (h[3] == 1 || h[3] == 3) ? "; are the images and labels swapped?" : "");
	}
	rc = src_need(s, h + 4, 4 * ndims, "IDX header", err);
	if (rc)
		return rc;
	for (unsigned i = 0; i < ndims; i++)
		dims[i] = rd_be32(h + 4 + 4 * i);
	return BO_OK;
}

static bo_status load_idx(struct rd *r, const char *iname, const char *lname,
			  struct bo_dataset *ds, struct bo_error *err)
{
	bo_status rc;
	struct src si, sl;
	uint32_t idims[3] = { 0 }, ldims[1] = { 0 };
	void *px = NULL, *lab = NULL;
	memset(&sl, 0, sizeof(sl));
	rc = src_open(&si, r, iname, err);
	if (rc)
		goto out;
	rc = idx_header(&si, 3, idims, err);
	if (rc)
		goto out;
	rc = check_dims(si.path, 4, idims[0], 1, idims[1], idims[2], 1, &r->lim, err);
	if (rc)
		goto out;
	rc = src_open(&sl, r, lname, err);
	if (rc)
		goto out;
	rc = idx_header(&sl, 1, ldims, err);
	if (rc)
		goto out;
	if (ldims[0] != idims[0]) {
		rc = count_mismatch(si.path, idims[0], sl.path, ldims[0], err);
		goto out;
	}
	ds->n = idims[0];
	ds->c = 1;
	ds->h = idims[1];
	ds->w = idims[2];
	rc = src_read_array(&si, ds->n * ds->h * ds->w, 1, 1, NULL, NULL, &px, "IDX pixel data",
			    err);
	if (rc)
		goto out;
	rc = src_expect_end(&si, err);
	if (rc)
		goto out;
	rc = src_read_array(&sl, ds->n, 1, sizeof(uint16_t), conv_u1_u16, visit_u16_labels, &lab,
			    "IDX label data", err);
	if (rc)
		goto out;
	rc = src_expect_end(&sl, err);
	if (rc)
		goto out;
	ds->u8 = px;
	ds->labels = lab;
	px = lab = NULL;
out:
	free(px);
	free(lab);
	src_close(&si);
	src_close(&sl);
	return rc;
}

/* ---- CIFAR-10 ---- */

static bo_status grow_cifar(struct bo_dataset *ds, int64_t need, int64_t *cap,
			    struct bo_error *err)
{
	if (need <= *cap)
		return BO_OK;
	int64_t ncap = BO_MAX(need, *cap * 2);
	unsigned char *px = realloc(ds->u8, (size_t)ncap * CIFAR_PIXELS);
	if (!px)
		return Bo_fail(err, BO_ENOMEM, "cannot allocate %lld CIFAR-10 images",
			       (long long)ncap);
	ds->u8 = px;
	uint16_t *lab = realloc(ds->labels, (size_t)ncap * sizeof(*lab));
	if (!lab)
		return Bo_fail(err, BO_ENOMEM, "cannot allocate %lld labels", (long long)ncap);
	ds->labels = lab;
	*cap = ncap;
	return BO_OK;
}

static bo_status load_cifar_file(struct rd *r, const char *name, struct bo_dataset *ds,
				 int64_t *cap, unsigned char *rec, struct bo_error *err)
{
	struct src s;
	int64_t file_n = 0;
	const struct limits *lim = &r->lim;
	bo_status rc = src_open(&s, r, name, err);
	const char *path = s.path;
	if (rc)
		goto out;
	for (;;) {
		const size_t want = (size_t)CIFAR_CHUNK_RECORDS * CIFAR_RECORD;
		size_t got = 0;
		int64_t chunk_start = s.pos;
		rc = src_read(&s, rec, want, &got, err);
		if (rc)
			goto out;
		int64_t recs = (int64_t)(got / CIFAR_RECORD);
		size_t part = got % CIFAR_RECORD;
		if (part) {
			int64_t rstart = chunk_start + recs * CIFAR_RECORD;
			rc = fail_at(err, path, rstart + (int64_t)part, BO_EMALFORMED,
				     "truncated CIFAR-10 record %lld: expected %d bytes from byte %lld, "
				     "got %zu; the %s ends at byte %lld (size not a multiple of %d)",
				     (long long)(file_n + recs), CIFAR_RECORD, (long long)rstart,
				     part, s.gz ? "uncompressed data" : "file",
				     (long long)(rstart + (int64_t)part), CIFAR_RECORD);
			goto out;
		}
		if (ds->n + recs > lim->images) {
			rc = fail_at(err, path, chunk_start, BO_ELIMIT,
				     "more than the limit of %lld images", (long long)lim->images);
			goto out;
		}
		if ((ds->n + recs) * CIFAR_PIXELS > lim->bytes) {
			rc = fail_at(err, path, chunk_start, BO_ELIMIT,
				     "%lld images need more than the limit of %lld bytes",
				     (long long)(ds->n + recs), (long long)lim->bytes);
			goto out;
		}
		if (!r->validate && (rc = grow_cifar(ds, ds->n + recs, cap, err)))
			goto out;
		for (int64_t k = 0; k < recs; k++) {
			const unsigned char *p = rec + (size_t)k * CIFAR_RECORD;
			if (p[0] >= CIFAR_CLASSES) {
				rc = fail_at(err, path, chunk_start + k * CIFAR_RECORD, BO_EMALFORMED,
					     "label %d of record %lld is not a CIFAR-10 class (0..%d)",
					     p[0], (long long)(file_n + k), CIFAR_CLASSES - 1);
				goto out;
			}
			r->max_label = BO_MAX(r->max_label, (int)p[0]);
			if (r->validate)
				continue;
			ds->labels[ds->n + k] = p[0];
			memcpy(ds->u8 + (size_t)(ds->n + k) * CIFAR_PIXELS, p + 1, CIFAR_PIXELS);
		}
		ds->n += recs;
		file_n += recs;
		if (got < want)
			break;
	}
	rc = src_expect_end(&s, err);
	if (rc)
		goto out;
	if (file_n == 0)
		rc = fail_at(err, path, 0, BO_EMALFORMED, "empty dataset: no CIFAR-10 records");
out:
	src_close(&s);
	return rc;
}

static bo_status load_cifar(struct rd *r, char (*paths)[PATH_BYTES], int npaths,
			    struct bo_dataset *ds, struct bo_error *err)
{
	char first[PATH_BYTES];
	bo_status rc;
	int64_t cap = 0;
	unsigned char *rec = NULL;
	ds->c = 3;
	ds->h = 32;
	ds->w = 32;
	disp_name(first, r, paths[0]);
	rc = check_dims(first, 0, 1, 3, 32, 32, 1, &r->lim, err);
	if (rc)
		goto out;
	rec = malloc((size_t)CIFAR_CHUNK_RECORDS * CIFAR_RECORD);
	if (!rec) {
		rc = Bo_fail(err, BO_ENOMEM, "cannot allocate a read buffer");
		goto out;
	}
	for (int i = 0; i < npaths; i++) {
		rc = load_cifar_file(r, paths[i], ds, &cap, rec, err);
		if (rc)
			goto out;
	}
out:
	free(rec);
	return rc;
}

/* ---- NumPy ---- */

struct npy {
	char descr[16];
	int fortran;
	int ndim;
	int64_t shape[NPY_MAX_DIMS];
};

struct cur {
	const char *s, *p, *end;
	int64_t base; /* file offset of s */
};

static void cur_ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int cur_eat(struct cur *c, char ch)
{
	cur_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return 1;
	}
	return 0;
}

static int64_t cur_off(const struct cur *c)
{
	return c->base + (c->p - c->s);
}

/* A quoted Python string without escapes. Returns 0 on success. */
static int cur_str(struct cur *c, char *buf, size_t size)
{
	cur_ws(c);
	if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
		return -1;
	char q = *c->p++;
	size_t n = 0;
	while (c->p < c->end && *c->p != q) {
		if (*c->p == '\\' || *c->p == '\0' || n + 1 >= size)
			return -1;
		buf[n++] = *c->p++;
	}
	if (c->p >= c->end)
		return -1;
	c->p++;
	buf[n] = 0;
	return 0;
}

static int cur_word(struct cur *c, const char *w)
{
	size_t n = strlen(w);
	cur_ws(c);
	if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
		c->p += n;
		return 1;
	}
	return 0;
}

/* A non-negative Python integer, optionally with a Python 2 'L' suffix. */
static int cur_int(struct cur *c, int64_t *v)
{
	int64_t x = 0;
	int digits = 0;
	cur_ws(c);
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (!Bo_mul_ok(x, 10, &x) || __builtin_add_overflow(x, *c->p - '0', &x))
			return -1;
		c->p++;
		digits++;
	}
	if (!digits)
		return -1;
	if (c->p < c->end && *c->p == 'L')
		c->p++;
	*v = x;
	return 0;
}

static bo_status npy_bad(struct cur *c, const char *path, const char *what, struct bo_error *err)
{
	return fail_at(err, path, cur_off(c), BO_EMALFORMED, "bad NumPy header: %s", what);
}

/* Parse the header dictionary, e.g.
 * {'descr': '<f4', 'fortran_order': False, 'shape': (10, 28, 28), } */
static bo_status npy_dict(struct cur *c, const char *path, struct npy *h, struct bo_error *err)
{
	int have_descr = 0, have_fortran = 0, have_shape = 0;
	if (!cur_eat(c, '{'))
		return npy_bad(c, path, "expected '{'", err);
	for (;;) {
		char key[32];
		if (cur_eat(c, '}'))
			break;
		if (cur_str(c, key, sizeof(key)))
			return npy_bad(c, path, "expected a quoted key", err);
		if (!cur_eat(c, ':'))
			return npy_bad(c, path, "expected ':' after a key", err);
		if (strcmp(key, "descr") == 0 && !have_descr) {
			cur_ws(c);
			if (c->p < c->end && *c->p == '[')
				return fail_at(err, path, cur_off(c), BO_EUNSUPPORTED,
					       "structured NumPy dtypes are not supported");
			if (cur_str(c, h->descr, sizeof(h->descr)))
				return npy_bad(c, path, "'descr' is not a short quoted string", err);
			have_descr = 1;
		} else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
			if (cur_word(c, "True"))
				h->fortran = 1;
			else if (cur_word(c, "False"))
				h->fortran = 0;
			else
				return npy_bad(c, path, "'fortran_order' is not True or False", err);
			have_fortran = 1;
		} else if (strcmp(key, "shape") == 0 && !have_shape) {
			if (!cur_eat(c, '('))
				return npy_bad(c, path, "'shape' is not a tuple", err);
			h->ndim = 0;
			for (;;) {
				if (cur_eat(c, ')'))
					break;
				if (h->ndim == NPY_MAX_DIMS)
					return fail_at(err, path, cur_off(c), BO_EUNSUPPORTED,
						       "array has more than %d dimensions",
						       NPY_MAX_DIMS);
				if (cur_int(c, &h->shape[h->ndim]))
					return npy_bad(c, path, "expected a dimension in 'shape'",
						       err);
				h->ndim++;
				if (cur_eat(c, ','))
					continue;
				if (cur_eat(c, ')'))
					break;
				return npy_bad(c, path, "expected ',' or ')' in 'shape'", err);
			}
			have_shape = 1;
		} else {
			return npy_bad(c, path, "unknown or repeated key", err);
		}
		if (cur_eat(c, ','))
			continue;
		if (cur_eat(c, '}'))
			break;
		return npy_bad(c, path, "expected ',' or '}'", err);
	}
	cur_ws(c);
	if (c->p != c->end)
		return npy_bad(c, path, "unexpected text after the dictionary", err);
	if (!have_descr || !have_fortran || !have_shape)
		return npy_bad(c, path,
			       !have_descr     ? "no 'descr' key"
			       : !have_fortran ? "no 'fortran_order' key"
					       : "no 'shape' key",
			       err);
	return BO_OK;
}

static bo_status npy_header(struct src *s, struct npy *h, struct bo_error *err)
{
	bo_status rc;
	unsigned char pre[12];
	char *text = NULL;
	uint32_t hlen;
	int64_t off;
	memset(h, 0, sizeof(*h));
	rc = src_need(s, pre, 10, "NumPy preamble", err);
	if (rc)
		goto out;
	if (memcmp(pre, "\x93NUMPY", 6) != 0) {
		rc = fail_at(err, s->path, 0, BO_EMALFORMED, "bad magic: not a NumPy .npy file");
		goto out;
	}
	if (pre[6] == 1) {
		hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
		off = 10;
	} else if (pre[6] == 2 || pre[6] == 3) {
		rc = src_need(s, pre + 10, 2, "NumPy preamble", err);
		if (rc)
			goto out;
		hlen = rd_le32(pre + 8);
		off = 12;
	} else {
		rc = fail_at(err, s->path, 6, BO_EUNSUPPORTED,
			     "NumPy format version %u.%u is not supported", pre[6], pre[7]);
		goto out;
	}
	if (hlen > NPY_MAX_HEADER) {
		rc = fail_at(err, s->path, 8, BO_EMALFORMED,
			     "bad NumPy header: length %u is over %d bytes", (unsigned)hlen,
			     NPY_MAX_HEADER);
		goto out;
	}
	text = malloc((size_t)hlen + 1);
	if (!text) {
		rc = Bo_fail(err, BO_ENOMEM, "cannot allocate the NumPy header");
		goto out;
	}
	rc = src_need(s, text, hlen, "NumPy header", err);
	if (rc)
		goto out;
	text[hlen] = 0;
	struct cur c = {text, text, text + hlen, off};
	rc = npy_dict(&c, s->path, h, err);
	if (rc)
		goto out;
	if (h->fortran)
		rc = fail_at(err, s->path, off, BO_EUNSUPPORTED,
			     "Fortran-order arrays are not supported (save with C order)");
out:
	free(text);
	return rc;
}

static void npy_shape_str(const struct npy *h, char *buf, size_t size)
{
	size_t n = 0;
	buf[0] = 0;
	for (int i = 0; i < h->ndim && n < size; i++) {
		int k = snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)h->shape[i]);
		if (k < 0)
			break;
		n += (size_t)k;
	}
}

static bo_status visit_finite(struct src *s, const void *elems, int64_t first, int64_t k,
			      struct bo_error *err)
{
	const float *f = elems;
	for (int64_t i = 0; i < k; i++)
		if (!isfinite(f[i]))
			return fail_at(err, s->path, s->data0 + (first + i) * s->esize, BO_EMALFORMED,
				       "pixel %lld (image %lld) is %g, not a finite float32",
				       (long long)(first + i), (long long)((first + i) / s->per),
				       (double)f[i]);
	return BO_OK;
}

static bo_status visit_i64_labels(struct src *s, const void *elems, int64_t first, int64_t k,
				  struct bo_error *err)
{
	const int64_t *l = elems;
	for (int64_t i = 0; i < k; i++) {
		if (l[i] < 0 || l[i] > BO_MAX_LABEL)
			return fail_at(err, s->path, s->data0 + (first + i) * s->esize, BO_EMALFORMED,
				       "label %lld at index %lld is out of range 0..%d",
				       (long long)l[i], (long long)(first + i), BO_MAX_LABEL);
		s->r->max_label = BO_MAX(s->r->max_label, (int)l[i]);
	}
	return BO_OK;
}

static bo_status load_npy(struct rd *r, const char *iname, const char *lname,
			  struct bo_dataset *ds, struct bo_error *err)
{
	const char *ipath = iname, *lpath = lname;
	const struct limits *lim = &r->lim;
	bo_status rc;
	struct src si, sl;
	struct npy hi, hl;
	void *px = NULL;
	int64_t *lab64 = NULL;
	uint16_t *lab = NULL;
	size_t in_size, lin_size;
	conv_fn conv = NULL, lconv;
	char shape[128];
	int is_float = 0;
	memset(&sl, 0, sizeof(sl));

	rc = src_open(&si, r, iname, err);
	ipath = si.path;
	if (rc)
		goto out;
	rc = npy_header(&si, &hi, err);
	if (rc)
		goto out;
	const int64_t idata = si.pos;
	if (strcmp(hi.descr, "|u1") == 0) {
		in_size = 1;
	} else if (strcmp(hi.descr, "<f4") == 0) {
		in_size = 4;
		conv = conv_f4;
		is_float = 1;
	} else if (strcmp(hi.descr, "<f8") == 0) {
		in_size = 8;
		conv = conv_f8;
		is_float = 1;
	} else {
		rc = fail_at(err, ipath, -1, BO_EUNSUPPORTED,
			     "image dtype '%s' is not supported (use |u1, <f4 or <f8)", hi.descr);
		goto out;
	}
	npy_shape_str(&hi, shape, sizeof(shape));
	if (hi.ndim == 3) {
		ds->n = hi.shape[0];
		ds->c = 1;
		ds->h = hi.shape[1];
		ds->w = hi.shape[2];
	} else if (hi.ndim == 4) {
		ds->n = hi.shape[0];
		ds->c = hi.shape[1];
		ds->h = hi.shape[2];
		ds->w = hi.shape[3];
	} else {
		rc = fail_at(err, ipath, -1, BO_ESHAPE,
			     "images have shape (%s); expected [N,H,W] or [N,C,H,W]", shape);
		goto out;
	}
	rc = check_dims(ipath, -1, ds->n, ds->c, ds->h, ds->w, is_float ? 4 : 1, lim, err);
	if (rc)
		goto out;

	rc = src_open(&sl, r, lname, err);
	lpath = sl.path;
	if (rc)
		goto out;
	rc = npy_header(&sl, &hl, err);
	if (rc)
		goto out;
	const int64_t ldata = sl.pos;
	if (strcmp(hl.descr, "|u1") == 0) {
		lin_size = 1;
		lconv = conv_u1_i64;
	} else if (strcmp(hl.descr, "|i1") == 0) {
		lin_size = 1;
		lconv = conv_i1_i64;
	} else if (strcmp(hl.descr, "<i2") == 0) {
		lin_size = 2;
		lconv = conv_i2_i64;
	} else if (strcmp(hl.descr, "<u2") == 0) {
		lin_size = 2;
		lconv = conv_u2_i64;
	} else if (strcmp(hl.descr, "<i4") == 0) {
		lin_size = 4;
		lconv = conv_i4_i64;
	} else if (strcmp(hl.descr, "<i8") == 0) {
		lin_size = 8;
		lconv = conv_i8_i64;
	} else {
		rc = fail_at(err, lpath, -1, BO_EUNSUPPORTED,
			     "label dtype '%s' is not supported (use |u1, |i1, <i2, <u2, <i4 or <i8)",
			     hl.descr);
		goto out;
	}
	if (hl.ndim != 1) {
		npy_shape_str(&hl, shape, sizeof(shape));
		rc = fail_at(err, lpath, -1, BO_ESHAPE, "labels have shape (%s); expected [N]",
			     shape);
		goto out;
	}
	if (hl.shape[0] != ds->n) {
		rc = count_mismatch(ipath, ds->n, lpath, hl.shape[0], err);
		goto out;
	}

	const int64_t total = ds->n * ds->c * ds->h * ds->w;
	si.data0 = idata;
	si.esize = (int64_t)in_size;
	si.per = total / ds->n;
	rc = src_read_array(&si, total, in_size, is_float ? 4 : 1, conv,
			    is_float ? visit_finite : NULL, &px, "NumPy image data", err);
	if (rc)
		goto out;
	rc = src_expect_end(&si, err);
	if (rc)
		goto out;
	sl.data0 = ldata;
	sl.esize = (int64_t)lin_size;
	sl.per = 1;
	rc = src_read_array(&sl, ds->n, lin_size, sizeof(int64_t), lconv, visit_i64_labels,
			    (void **)&lab64, "NumPy label data", err);
	if (rc)
		goto out;
	rc = src_expect_end(&sl, err);
	if (rc || r->validate)
		goto out;
	lab = malloc((size_t)ds->n * sizeof(*lab) + 1);
	if (!lab) {
		rc = Bo_fail(err, BO_ENOMEM, "cannot allocate %lld labels", (long long)ds->n);
		goto out;
	}
	for (int64_t i = 0; i < ds->n; i++)
		lab[i] = (uint16_t)lab64[i]; /* checked by visit_i64_labels */
	if (is_float)
		ds->f32 = px;
	else
		ds->u8 = px;
	ds->labels = lab;
	px = NULL;
	lab = NULL;
out:
	free(px);
	free(lab64);
	free(lab);
	src_close(&si);
	src_close(&sl);
	return rc;
}

/* ---- opening ---- */

/* Detect the format of an images file from its first bytes; *magic gets its
 * first four bytes (big-endian), or 0. */
static bo_status sniff(struct rd *r, const char *name, enum bo_dataset_format *fmt,
		       uint32_t *magic, struct bo_error *err)
{
	struct src s;
	unsigned char b[6];
	size_t got = 0;
	*magic = 0;
	/* sniffing reads a few bytes once more; not counted against the cap */
	struct rd one = *r;
	bo_status rc = src_open(&s, &one, name, err);
	if (rc)
		goto out;
	rc = src_read(&s, b, sizeof(b), &got, err);
	if (rc)
		goto out;
	if (got >= 4)
		*magic = rd_be32(b);
	if (got == 6 && memcmp(b, "\x93NUMPY", 6) == 0)
		*fmt = BO_DATASET_NPY;
	else if (got >= 4 && b[0] == 0 && b[1] == 0)
		*fmt = BO_DATASET_IDX;
	else if (got < 4)
		rc = fail_at(err, s.path, (int64_t)got, BO_EMALFORMED,
			     "truncated: the file is %zu bytes, too short to be an IDX or NumPy file",
			     got);
	else
		rc = fail_at(err, s.path, 0, BO_EMALFORMED,
			     "bad magic %02x %02x %02x %02x: not an IDX or NumPy file", b[0], b[1],
			     b[2], b[3]);
out:
	src_close(&s);
	return rc;
}

/* Load (or validate) into a new dataset; validating, *out gets a dataset
 * with the header fields and no pixels, which the caller frees. */
static bo_status load(struct rd *r, enum bo_dataset_format format, const char *images,
		      const char *labels, char (*cifar)[PATH_BYTES], int ncifar,
		      struct bo_dataset **out, struct bo_error *err)
{
	bo_status rc;
	struct bo_dataset *ds = calloc(1, sizeof(*ds));
	if (!ds)
		return Bo_fail(err, BO_ENOMEM, "cannot allocate a dataset");
	ds->format = format;
	r->max_label = 0;
	if (format == BO_DATASET_IDX)
		rc = load_idx(r, images, labels, ds, err);
	else if (format == BO_DATASET_NPY)
		rc = load_npy(r, images, labels, ds, err);
	else
		rc = load_cifar(r, cifar, ncifar, ds, err);
	if (rc)
		goto out;
	ds->classes = r->max_label + 1;
	*out = ds;
	ds = NULL;
out:
	bo_dataset_free(ds);
	return rc;
}

/* An images file and a labels file (or NULL: CIFAR-10), names for r. */
static bo_status open_files(struct rd *r, const char *images, const char *labels,
			    enum bo_dataset_format format, struct bo_dataset **out,
			    struct bo_error *err)
{
	bo_status rc;
	char one[1][PATH_BYTES];
	uint32_t magic = 0;
	int idx_like = 0;
	if (!images)
		return Bo_fail(err, BO_EINVAL, "no images file given");
	if (format == BO_DATASET_AUTO && labels) {
		rc = sniff(r, images, &format, &magic, err);
		if (rc)
			return rc;
	} else if (format == BO_DATASET_AUTO) {
		/* Without labels only CIFAR-10 makes sense, but say so plainly
		 * when the file is really NumPy or IDX. */
		enum bo_dataset_format seen = BO_DATASET_AUTO;
		char shown[PATH_BYTES];
		disp_name(shown, r, images);
		if (sniff(r, images, &seen, &magic, NULL) == BO_OK && seen == BO_DATASET_NPY)
			return fail_at(err, shown, -1, BO_EINVAL,
				       "a NumPy file needs its labels file too (labels = NULL "
				       "means CIFAR-10)");
		idx_like = seen == BO_DATASET_IDX && (magic == 0x803 || magic == 0x801);
		format = BO_DATASET_CIFAR10;
	}
	switch (format) {
	case BO_DATASET_CIFAR10:
		if (labels)
			return Bo_fail(err, BO_EINVAL,
				       "CIFAR-10 files hold their own labels: pass labels = NULL");
		if (snprintf(one[0], PATH_BYTES, "%s", images) >= PATH_BYTES)
			return Bo_fail(err, BO_EINVAL, "path too long (%zu bytes)", strlen(images));
		rc = load(r, format, NULL, NULL, one, 1, out, err);
		if (rc == BO_EMALFORMED && idx_like && err) {
			size_t n = strlen(err->text);
			snprintf(err->text + n, sizeof(err->text) - n,
				 "; it starts like an IDX file: give its labels file too");
		}
		return rc;
	case BO_DATASET_IDX:
	case BO_DATASET_NPY: {
		char shown[PATH_BYTES];
		disp_name(shown, r, images);
		if (!labels)
			return fail_at(err, shown, -1, BO_EINVAL, "%s datasets need a labels file",
				       format == BO_DATASET_IDX ? "IDX" : "NumPy");
		return load(r, format, images, labels, NULL, 0, out, err);
	}
	default:
		return Bo_fail(err, BO_EINVAL, "unknown dataset format %d", (int)format);
	}
}

/* Is name a regular file in r's directory? A name that would lead out of
 * a root counts as present, so that opening it says why it cannot be. */
static int is_file(const struct rd *r, const char *name)
{
	struct stat st;
	int fd = open_name(r, name, O_PATH);
	if (fd < 0)
		return r->beneath && (errno == EXDEV || errno == ELOOP);
	int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	close(fd);
	return ok;
}

static int join(char *buf, const char *a, const char *b)
{
	return snprintf(buf, PATH_BYTES, "%s%s", a, b) < PATH_BYTES;
}

/* Put into buf the first of prefix+suffixes[i] that exists in r's directory. */
static int find_first(const struct rd *r, char *buf, const char *prefix,
		      const char *const *suffixes, int n)
{
	for (int i = 0; i < n; i++)
		if (join(buf, prefix, suffixes[i]) && is_file(r, buf))
			return 1;
	return 0;
}

/* The dataset in r's directory (r->dirfd), detected from its file names. */
static bo_status open_dir(struct rd *r, enum bo_split split, struct bo_dataset **out,
			  struct bo_error *err)
{
	static const char *const idx_img[] = {"-images-idx3-ubyte.gz", "-images-idx3-ubyte",
					      "-images.idx3-ubyte", "-images.idx3-ubyte.gz"};
	static const char *const idx_lab[] = {"-labels-idx1-ubyte.gz", "-labels-idx1-ubyte",
					      "-labels.idx1-ubyte", "-labels.idx1-ubyte.gz"};
	static const char *const bases[] = {"", "cifar-10-batches-bin/"};
	bo_status rc;
	char iname[PATH_BYTES], lname[PATH_BYTES];
	char (*cifar)[PATH_BYTES] = NULL;
	const char *dir = r->disp_dir ? r->disp_dir : ".";
	if (split != BO_SPLIT_TEST && split != BO_SPLIT_TRAIN)
		return Bo_fail(err, BO_EINVAL, "unknown split %d", (int)split);
	const int test = split == BO_SPLIT_TEST;
	const char *prefix = test ? "t10k" : "train";
	const char *npy = test ? "test" : "train";

	/* IDX */
	if (find_first(r, iname, prefix, idx_img, 4)) {
		if (!find_first(r, lname, prefix, idx_lab, 4))
			return fail_at(err, dir, -1, BO_ENOENT,
				       "found %s but no labels: looked for %s-labels-idx1-ubyte, "
				       "%s-labels-idx1-ubyte.gz, %s-labels.idx1-ubyte[.gz]",
				       iname, prefix, prefix, prefix);
		return load(r, BO_DATASET_IDX, iname, lname, NULL, 0, out, err);
	}

	/* CIFAR-10 */
	cifar = malloc(sizeof(*cifar) * CIFAR_TRAIN_FILES);
	if (!cifar)
		return Bo_fail(err, BO_ENOMEM, "cannot allocate paths");
	for (int b = 0; b < 2; b++) {
		const char *first = test ? "test_batch.bin" : "data_batch_1.bin";
		if (!join(cifar[0], bases[b], first) || !is_file(r, cifar[0]))
			continue;
		int nfiles = test ? 1 : CIFAR_TRAIN_FILES;
		for (int i = 1; i < nfiles; i++) {
			char name[32];
			snprintf(name, sizeof(name), "data_batch_%d.bin", i + 1);
			if (!join(cifar[i], bases[b], name) || !is_file(r, cifar[i])) {
				rc = fail_at(err, dir, -1, BO_ENOENT,
					     "found %sdata_batch_1.bin but not %s%s (the train split "
					     "needs data_batch_1.bin .. data_batch_5.bin)",
					     bases[b], bases[b], name);
				goto out;
			}
		}
		rc = load(r, BO_DATASET_CIFAR10, NULL, NULL, cifar, nfiles, out, err);
		goto out;
	}

	/* NumPy */
	for (int k = 0; k < 2; k++) {
		const char *p = k == 0 ? npy : "";
		const char *sep = k == 0 ? "_" : "";
		snprintf(iname, sizeof(iname), "%s%simages.npy", p, sep);
		snprintf(lname, sizeof(lname), "%s%slabels.npy", p, sep);
		if (!is_file(r, iname))
			continue;
		if (!is_file(r, lname)) {
			rc = fail_at(err, dir, -1, BO_ENOENT, "found %s but no labels: looked for %s",
				     iname, lname);
			goto out;
		}
		rc = load(r, BO_DATASET_NPY, iname, lname, NULL, 0, out, err);
		goto out;
	}

	rc = fail_at(err, dir, -1, BO_ENOENT,
		     "no %s dataset found: looked for %s-images-idx3-ubyte[.gz] or "
		     "%s-images.idx3-ubyte[.gz] (IDX), %s (CIFAR-10, here or in "
		     "cifar-10-batches-bin/), %s_images.npy or images.npy (NumPy)",
		     test ? "test" : "train", prefix, prefix,
		     test ? "test_batch.bin" : "data_batch_1..5.bin", npy);
out:
	free(cifar);
	return rc;
}

static bo_status rd_init(struct rd *r, int dirfd, const struct bo_dataset_limits *limits,
			 struct bo_error *err)
{
	memset(r, 0, sizeof(*r));
	r->dirfd = dirfd;
	return get_limits(limits, &r->lim, err);
}

bo_status bo_dataset_open_files(const char *images, const char *labels,
				enum bo_dataset_format format,
				const struct bo_dataset_limits *limits,
				struct bo_dataset **out, struct bo_error *err)
{
	struct rd r;
	bo_error_clear(err);
	if (!out)
		return Bo_fail(err, BO_EINVAL, "out is NULL");
	*out = NULL;
	bo_status rc = rd_init(&r, AT_FDCWD, limits, err);
	if (rc)
		return rc;
	return open_files(&r, images, labels, format, out, err);
}

bo_status bo_dataset_open_dir(const char *dir, enum bo_split split,
			      const struct bo_dataset_limits *limits,
			      struct bo_dataset **out, struct bo_error *err)
{
	struct rd r;
	struct stat st;
	bo_error_clear(err);
	if (!out)
		return Bo_fail(err, BO_EINVAL, "out is NULL");
	*out = NULL;
	if (!dir)
		return Bo_fail(err, BO_EINVAL, "no directory given");
	if (split != BO_SPLIT_TEST && split != BO_SPLIT_TRAIN)
		return Bo_fail(err, BO_EINVAL, "unknown split %d", (int)split);
	bo_status rc = rd_init(&r, AT_FDCWD, limits, err);
	if (rc)
		return rc;
	int fd = open(dir, O_PATH | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return fail_at(err, dir, -1, e == ENOENT ? BO_ENOENT : BO_EIO,
			       "cannot open dataset directory: %s", strerror(e));
	}
	if (!S_ISDIR(st.st_mode)) {
		close(fd);
		return fail_at(err, dir, -1, BO_EINVAL, "not a directory");
	}
	r.dirfd = fd;
	r.disp_dir = dir;
	rc = open_dir(&r, split, out, err);
	close(fd);
	return rc;
}

/* Shared by bo_dataset_open_at and bo_dataset_check_at. */
static bo_status open_at(int root_fd, const char *path, const char *labels,
			 enum bo_dataset_format format, enum bo_split split, int validate,
			 const struct bo_dataset_limits *limits, struct bo_dataset **out,
			 struct bo_dataset_info *info, struct bo_error *err)
{
	struct rd r;
	struct stat st;
	int fd = -1;
	bo_status rc = rd_init(&r, root_fd, limits, err);
	if (rc)
		return rc;
	if (!path || !*path)
		return Bo_fail(err, BO_EINVAL, "no dataset path given");
	if (root_fd != AT_FDCWD && root_fd < 0)
		return Bo_fail(err, BO_EINVAL, "invalid root directory fd %d", root_fd);
	r.beneath = root_fd != AT_FDCWD;
	r.validate = validate;
	fd = open_name(&r, path, O_PATH);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = open_fail(err, &r, path, errno, "the dataset");
		goto out;
	}
	if (info)
		info->is_dir = S_ISDIR(st.st_mode);
	if (S_ISDIR(st.st_mode)) {
		if (labels) {
			rc = fail_at(err, path, -1, BO_EINVAL,
				     "a dataset directory holds its own labels: give no labels file");
			goto out;
		}
		struct rd d = r;
		d.dirfd = fd;
		d.disp_dir = path;
		rc = open_dir(&d, split, out, err);
		r.decoded = d.decoded;
		r.file_bytes = d.file_bytes;
	} else {
		rc = open_files(&r, path, labels, format, out, err);
	}
	if (!rc && info) {
		info->format = (*out)->format;
		info->count = (*out)->n;
		info->c = (*out)->c;
		info->h = (*out)->h;
		info->w = (*out)->w;
		info->classes = (*out)->classes;
		info->file_bytes = r.file_bytes;
		info->decoded_bytes = r.decoded;
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

bo_status bo_dataset_open_at(int root_fd, const char *path, const char *labels,
			     enum bo_dataset_format format, enum bo_split split,
			     const struct bo_dataset_limits *limits, struct bo_dataset **out,
			     struct bo_error *err)
{
	bo_error_clear(err);
	if (!out)
		return Bo_fail(err, BO_EINVAL, "out is NULL");
	*out = NULL;
	return open_at(root_fd, path, labels, format, split, 0, limits, out, NULL, err);
}

bo_status bo_dataset_check_at(int root_fd, const char *path, const char *labels,
			      enum bo_dataset_format format, enum bo_split split,
			      const struct bo_dataset_limits *limits,
			      struct bo_dataset_info *info, struct bo_error *err)
{
	struct bo_dataset *ds = NULL;
	struct bo_dataset_info tmp;
	bo_error_clear(err);
	if (!info)
		info = &tmp;
	memset(info, 0, sizeof(*info));
	bo_status rc = open_at(root_fd, path, labels, format, split, 1, limits, &ds, info, err);
	bo_dataset_free(ds);
	return rc;
}

void bo_dataset_free(struct bo_dataset *ds)
{
	if (!ds)
		return;
	free(ds->u8);
	free(ds->f32);
	free(ds->labels);
	free(ds);
}

int64_t bo_dataset_count(const struct bo_dataset *ds)
{
	return ds ? ds->n : 0;
}

void bo_dataset_shape(const struct bo_dataset *ds, int64_t *c, int64_t *h, int64_t *w)
{
	if (c)
		*c = ds ? ds->c : 0;
	if (h)
		*h = ds ? ds->h : 0;
	if (w)
		*w = ds ? ds->w : 0;
}

enum bo_dataset_format bo_dataset_format(const struct bo_dataset *ds)
{
	return ds ? ds->format : BO_DATASET_AUTO;
}

const char *bo_split_name(enum bo_split s)
{
	return s == BO_SPLIT_TRAIN ? "train" : s == BO_SPLIT_TEST ? "test" : "unknown";
}

bo_status bo_split_parse(const char *name, enum bo_split *out, struct bo_error *err)
{
	if (name && !strcmp(name, "test"))
		*out = BO_SPLIT_TEST;
	else if (name && !strcmp(name, "train"))
		*out = BO_SPLIT_TRAIN;
	else
		return Bo_fail(err, BO_EINVAL, "must be test or train, not '%s'", name ? name : "");
	return BO_OK;
}

bo_status bo_dataset_format_parse(const char *name, enum bo_dataset_format *out,
				  struct bo_error *err)
{
	static const enum bo_dataset_format all[] = { BO_DATASET_AUTO, BO_DATASET_IDX, BO_DATASET_NPY,
						      BO_DATASET_CIFAR10 };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (name && !strcmp(name, bo_dataset_format_name(all[i]))) {
			*out = all[i];
			return BO_OK;
		}
	if (name && !strcmp(name, "cifar")) {
		*out = BO_DATASET_CIFAR10;
		return BO_OK;
	}
	return Bo_fail(err, BO_EINVAL, "format must be auto, idx, npy or cifar, not '%s'",
		       name ? name : "");
}

const char *bo_dataset_format_name(enum bo_dataset_format f)
{
	switch (f) {
	case BO_DATASET_AUTO:
		return "auto";
	case BO_DATASET_IDX:
		return "idx";
	case BO_DATASET_CIFAR10:
		return "cifar10";
	case BO_DATASET_NPY:
		return "npy";
	}
	return "unknown";
}

int bo_dataset_classes(const struct bo_dataset *ds)
{
	return ds ? ds->classes : 0;
}

int bo_dataset_label(const struct bo_dataset *ds, int64_t i)
{
	if (!ds || i < 0 || i >= ds->n)
		return -1;
	return ds->labels[i];
}

int bo_dataset_float_range(const struct bo_dataset *ds, int64_t images, float *lo, float *hi)
{
	if (!ds || !ds->f32 || ds->n < 1)
		return 0;
	if (images <= 0 || images > ds->n)
		images = ds->n;
	const int64_t total = images * ds->c * ds->h * ds->w;
	float a = ds->f32[0], b = ds->f32[0];
	for (int64_t k = 1; k < total; k++) {
		a = ds->f32[k] < a ? ds->f32[k] : a;
		b = ds->f32[k] > b ? ds->f32[k] : b;
	}
	*lo = a;
	*hi = b;
	return 1;
}

/* ---- preprocessing ---- */

bo_status bo_norm_parse_list(const char *text, float *vals, int *n, const char *what,
			     struct bo_error *err)
{
	float tmp[BO_MAX_CHANNELS];
	int k = 0;
	const char *name = what ? what : "value";
	const char *p = text;
	bo_error_clear(err);
	if (!text || !vals || !n)
		return Bo_fail(err, BO_EINVAL, "%s: no value given", name);
	for (;;) {
		char *end;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == ',' || *p == 0)
			return Bo_fail(err, BO_EINVAL,
				       "%s: empty value in '%.64s' (expected numbers separated by "
				       "commas, like 0.5 or 0.4914,0.4822,0.4465)",
				       name, text);
		if (k == BO_MAX_CHANNELS)
			return Bo_fail(err, BO_EINVAL, "%s: more than %d values in '%.64s'", name,
				       BO_MAX_CHANNELS, text);
		errno = 0;
		float v = strtof(p, &end);
		if (end == p)
			return Bo_fail(err, BO_EINVAL, "%s: '%.64s' is not a number in '%.64s'", name,
				       p, text);
		if (!isfinite(v))
			return Bo_fail(err, BO_EINVAL, "%s: '%.*s' is not a finite float", name,
				       (int)BO_MIN(end - p, 64), p);
		tmp[k++] = v;
		p = end;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == 0)
			break;
		if (*p != ',')
			return Bo_fail(err, BO_EINVAL, "%s: unexpected '%.16s' in '%.64s'", name, p,
				       text);
		p++;
	}
	memcpy(vals, tmp, sizeof(float) * (size_t)k);
	*n = k;
	return BO_OK;
}

bo_status bo_norm_check(const struct bo_norm *norm, int64_t channels, struct bo_error *err)
{
	bo_error_clear(err);
	if (channels < 1 || channels > BO_MAX_CHANNELS)
		return Bo_fail(err, BO_EINVAL, "channel count %lld is outside 1..%d",
			       (long long)channels, BO_MAX_CHANNELS);
	if (!norm)
		return BO_OK;
	if (norm->n != 1 && norm->n != channels)
		return Bo_fail(err, BO_EINVAL,
			       "%d mean/std values for %lld channels: give 1 value or one per "
			       "channel",
			       norm->n, (long long)channels);
	for (int i = 0; i < norm->n; i++) {
		if (!isfinite(norm->mean[i]))
			return Bo_fail(err, BO_EINVAL, "mean[%d] = %g is not finite", i,
				       (double)norm->mean[i]);
		if (!(norm->std[i] > 0) || !isfinite(norm->std[i]))
			return Bo_fail(err, BO_EINVAL, "std[%d] = %g: must be finite and > 0", i,
				       (double)norm->std[i]);
	}
	return BO_OK;
}

bo_status bo_dataset_batch(const struct bo_dataset *ds, int64_t first, int64_t count,
			   const struct bo_norm *norm, float *x, int *labels,
			   struct bo_error *err)
{
	bo_status rc;
	float mean[BO_MAX_CHANNELS], sd[BO_MAX_CHANNELS];
	bo_error_clear(err);
	if (!ds)
		return Bo_fail(err, BO_EINVAL, "dataset is NULL");
	if (first < 0 || count < 0 || first > ds->n || count > ds->n - first)
		return Bo_fail(err, BO_EINVAL,
			       "batch of %lld images from %lld is outside the dataset's %lld "
			       "images",
			       (long long)count, (long long)first, (long long)ds->n);
	rc = bo_norm_check(norm, ds->c, err);
	if (rc)
		return rc;
	if (count == 0)
		return BO_OK;
	if (!x)
		return Bo_fail(err, BO_EINVAL, "output buffer is NULL");
	for (int64_t ch = 0; ch < ds->c; ch++) {
		mean[ch] = norm ? norm->mean[norm->n == 1 ? 0 : ch] : 0.0f;
		sd[ch] = norm ? norm->std[norm->n == 1 ? 0 : ch] : 1.0f;
	}
	const size_t plane = (size_t)(ds->h * ds->w);
	const size_t img = plane * (size_t)ds->c;
	for (int64_t i = 0; i < count; i++) {
		float *dst = x + (size_t)i * img;
		const size_t base = (size_t)(first + i) * img;
		for (int64_t ch = 0; ch < ds->c; ch++) {
			float *d = dst + (size_t)ch * plane;
			const float m = mean[ch], s = sd[ch];
			if (ds->u8) {
				const unsigned char *src = ds->u8 + base + (size_t)ch * plane;
				for (size_t k = 0; k < plane; k++)
					d[k] = ((float)src[k] / 255.0f - m) / s;
			} else {
				const float *src = ds->f32 + base + (size_t)ch * plane;
				for (size_t k = 0; k < plane; k++)
					d[k] = (src[k] - m) / s;
			}
		}
		if (labels)
			labels[i] = ds->labels[first + i];
	}
	return BO_OK;
}
