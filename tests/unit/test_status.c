/* The public error helpers of brownout/status.h that code outside the
 * library (brownoutd, the CLI) reports its own errors with: bo_error_set,
 * bo_error_vset and bo_error_set_where. Only the public header: this test
 * sees what the daemon sees.
 *
 * Checked: the status and the formatted text are recorded and the status
 * returned (also with a NULL error), a text longer than the buffer is cut
 * and terminated, the location setter fills exactly the fields given, and
 * bo_error_format puts the pieces together as the daemon's messages do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <brownout/status.h>

static void test_set(void **state)
{
	struct bo_error err;
	bo_error_clear(&err);
	assert_int_equal(bo_error_set(&err, BO_ELIMIT, "at most %d %s, not %lld", 16, "tags",
				      (long long)17),
			 BO_ELIMIT);
	assert_int_equal(err.status, BO_ELIMIT);
	assert_string_equal(err.text, "at most 16 tags, not 17");
	/* location fields untouched */
	assert_string_equal(err.field, "");
	assert_string_equal(err.file, "");
	assert_int_equal(err.offset, -1);
	/* a second call replaces status and text */
	assert_int_equal(bo_error_set(&err, BO_EINVAL, "%s", "bad"), BO_EINVAL);
	assert_int_equal(err.status, BO_EINVAL);
	assert_string_equal(err.text, "bad");
	/* NULL: nothing recorded, the status still returned */
	assert_int_equal(bo_error_set(NULL, BO_ENOSPC, "disk %s", "full"), BO_ENOSPC);
	assert_int_equal(bo_error_set(NULL, BO_OK, "nothing"), BO_OK);
}

static void test_set_truncates(void **state)
{
	struct bo_error err;
	char big[3 * BO_ERROR_TEXT];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	bo_error_clear(&err);
	bo_error_set(&err, BO_EMALFORMED, "<%s>", big);
	assert_int_equal(strlen(err.text), BO_ERROR_TEXT - 1);
	assert_int_equal(err.text[0], '<');
	assert_int_equal(err.text[BO_ERROR_TEXT - 2], 'x');
}

static bo_status vset_wrapper(struct bo_error *err, bo_status st, const char *fmt, ...)
	BO_PRINTF_FORMAT(3, 4);
static bo_status vset_wrapper(struct bo_error *err, bo_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bo_status rc = bo_error_vset(err, st, fmt, ap);
	va_end(ap);
	return rc;
}

static void test_vset(void **state)
{
	struct bo_error err;
	bo_error_clear(&err);
	assert_int_equal(vset_wrapper(&err, BO_EQUOTA, "%s: %.1f of %u GiB", "user", 2.5, 2u),
			 BO_EQUOTA);
	assert_int_equal(err.status, BO_EQUOTA);
	assert_string_equal(err.text, "user: 2.5 of 2 GiB");
	assert_int_equal(vset_wrapper(NULL, BO_EBUSY, "%d", 1), BO_EBUSY);
}

static void test_set_where(void **state)
{
	struct bo_error err;
	char buf[512], longname[200];
	bo_error_clear(&err);
	bo_error_set(&err, BO_EINVAL, "must be positive");
	bo_error_set_where(&err, NULL, NULL, NULL, "trials");
	assert_string_equal(err.field, "trials");
	assert_string_equal(err.file, "");
	assert_string_equal(err.node, "");
	assert_string_equal(err.op, "");
	assert_string_equal(bo_error_format(&err, buf, sizeof(buf)), "'trials': must be positive");
	/* NULL arguments keep what is there */
	bo_error_set_where(&err, "a.onnx", "conv1", "Conv", NULL);
	assert_string_equal(err.field, "trials");
	assert_string_equal(bo_error_format(&err, buf, sizeof(buf)),
			    "a.onnx: node 'conv1' (Conv): 'trials': must be positive");
	/* a field longer than its buffer is cut, not overrun */
	memset(longname, 'f', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	bo_error_set_where(&err, NULL, NULL, NULL, longname);
	assert_int_equal(strlen(err.field), sizeof(err.field) - 1);
	/* NULL error: nothing happens */
	bo_error_set_where(NULL, "f", "n", "o", "x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_set_truncates),
		cmocka_unit_test(test_vset),
		cmocka_unit_test(test_set_where),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
