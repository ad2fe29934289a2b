/* Fail-the-Nth-allocation loop (jansson's test_chaos, curl's torture):
 * for N = 0, 1, 2, ... the Nth allocation made by the library fails. Every
 * call must then return BO_ENOMEM (or succeed when N is past the last
 * allocation), never crash, and leak nothing (the sanitizer build runs
 * LeakSanitizer). The library's malloc, calloc, realloc, strdup and
 * aligned_alloc calls are redirected here with ld --wrap (see Makefile). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <brownout/brownout.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__real_aligned_alloc(size_t al, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
void *__wrap_aligned_alloc(size_t al, size_t n);

static long fail_at = -1; /* -1: never */
static long count;

static int should_fail(void)
{
	return fail_at >= 0 && count++ == fail_at;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { return should_fail() ? NULL : __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return should_fail() ? NULL : __real_strdup(s); }
void *__wrap_aligned_alloc(size_t al, size_t n)
{
	return should_fail() ? NULL : __real_aligned_alloc(al, n);
}

#define MODEL "tests/fixtures/fmnist_preact_f4.onnx"

/* Load, describe and run the model once; returns the first failure. */
static bo_status exercise(const char *images, const char *labels)
{
	struct bo_model *m = NULL;
	struct bo_session *s = NULL;
	struct bo_dataset *ds = NULL;
	struct bo_model_stats st = { 0 };
	struct bo_block_map *map = NULL;
	struct bo_error err;
	float x[2 * 784];
	int lab[2];
	bo_status rc = bo_model_load(MODEL, &m, &err);
	if (rc)
		goto out;
	if ((rc = bo_block_map_parse("/layer1/=a,~^/layer[234]/=b", &map, &err)))
		goto out;
	if ((rc = bo_model_stats(m, NULL, 0, map, BO_SITES_RELU, &st, &err)))
		goto out;
	if ((rc = bo_dataset_open_files(images, labels, BO_DATASET_AUTO, NULL, &ds, &err)))
		goto out;
	if ((rc = bo_dataset_batch(ds, 0, 2, NULL, x, lab, &err)))
		goto out;
	struct bo_session_config cfg = { .threads = 2 };
	if ((rc = bo_session_new(m, &cfg, &s, &err)))
		goto out;
	struct bo_tensor in = { 4, { 2, 1, 28, 28 }, x }, outp;
	rc = bo_session_run(s, &in, 1, &outp, 1, &err);
out:
	bo_session_free(s);
	bo_model_stats_release(&st);
	bo_block_map_free(map);
	bo_dataset_free(ds);
	bo_model_free(m);
	return rc;
}

static void write_npy(const char *path, const char *descr, const char *shape, const void *data,
		      size_t len)
{
	char hdr[128];
	int k = snprintf(hdr, sizeof(hdr), "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
			 descr, shape);
	int pad = 64 - (10 + k + 1) % 64;
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
				  (unsigned char)((k + pad + 1) & 0xff), (unsigned char)((k + pad + 1) >> 8) };
	fwrite(pre, 1, 10, f);
	fwrite(hdr, 1, (size_t)k, f);
	for (int i = 0; i < pad; i++)
		fputc(' ', f);
	fputc('\n', f);
	fwrite(data, 1, len, f);
	fclose(f);
}

static void test_every_allocation_failure(void **state)
{
	(void)state;
	char dir[] = "/tmp/bo-torture-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char images[64], labels[64];
	snprintf(images, sizeof(images), "%s/images.npy", dir);
	snprintf(labels, sizeof(labels), "%s/labels.npy", dir);
	unsigned char px[2 * 784];
	for (size_t i = 0; i < sizeof(px); i++)
		px[i] = (unsigned char)(i * 7);
	unsigned char lb[2] = { 3, 7 };
	write_npy(images, "|u1", "(2, 28, 28)", px, sizeof(px));
	write_npy(labels, "|u1", "(2,)", lb, sizeof(lb));

	fail_at = -1;
	assert_int_equal(exercise(images, labels), BO_OK);
	long total = 0, nomem = 0;
	for (long n = 0;; n++) {
		fail_at = n;
		count = 0;
		bo_status rc = exercise(images, labels);
		long made = count;
		fail_at = -1;
		if (n >= made) { /* no allocation failed: the loop has covered them all */
			assert_int_equal(rc, BO_OK);
			total = n;
			break;
		}
		if (rc != BO_ENOMEM)
			fail_msg("allocation %ld of %ld failed but the call returned %d (%s), not BO_ENOMEM",
				 n, made, rc, bo_strerror(rc));
		nomem++;
	}
	printf("# %ld allocations, each failed once: all returned BO_ENOMEM\n", total);
	assert_true(total > 100);
	assert_int_equal(nomem, total);
	remove(images);
	remove(labels);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_allocation_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
