/* Tests for the library's parsers of what users write, shared by the CLI
 * and brownoutd: bo_p_list_parse (lib/plist.c), bo_deviation_parse and
 * bo_target_parse (lib/fault.c), bo_split_parse and
 * bo_dataset_format_parse (lib/dataset.c): the forms, their refusals with
 * the reason, and names that parse back. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <brownout/brownout.h>

static void test_lists(void **state)
{
	(void)state;
	double p[8];
	int n;
	struct bo_error err;
	assert_int_equal(bo_p_list_parse("1e-3,0,1", p, &n, 8, &err), BO_OK);
	assert_int_equal(n, 3);
	assert_true(p[0] == 1e-3 && p[1] == 0 && p[2] == 1);
	/* LO:HI:N: log-spaced, the ends exactly as written */
	assert_int_equal(bo_p_list_parse("1e-4:1e-2:3", p, &n, 8, &err), BO_OK);
	assert_int_equal(n, 3);
	assert_true(p[0] == 1e-4 && p[2] == 1e-2);
	assert_true(fabs(p[1] - 1e-3) < 1e-15);
	assert_int_equal(bo_p_list_parse("0.3:0.3:1", p, &n, 8, &err), BO_OK);
	assert_true(n == 1 && p[0] == 0.3);
}

static void test_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "", "give at least one value" },
		{ "1e-3,,1e-2", "separated by commas" },
		{ "1e-3;1e-2", "separated by commas" },
		{ "2", "2 is not a probability in [0, 1]" },
		{ "-0.1", "is not a probability" },
		{ "nan", "is not a probability" },
		{ "1e-2:1e-4:3", "LO must be below HI (LO is 0.01, HI is 0.0001)" },
		{ "0:1e-2:3", "a log-spaced range needs LO > 0" },
		{ "1e-3:2:3", "HI must be at most 1 (HI is 2)" },
		{ "1e-3:1e-2:0", "N must be 1 to 8" },
		{ "1e-3:1e-2:9", "N must be 1 to 8" },
		{ "1e-3:1e-2", "write LO:HI:N" },
		{ "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", "more than 8 values" },
	};
	double p[8];
	int n;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bo_error err;
		assert_int_equal(bo_p_list_parse(bad[i].text, p, &n, 8, &err), BO_EINVAL);
		if (!strstr(err.text, bad[i].why))
			fail_msg("'%s': '%s' lacks '%s'", bad[i].text, err.text, bad[i].why);
		assert_string_equal(err.field, "p");
	}
}

static void test_enums(void **state)
{
	(void)state;
	struct bo_error err;
	enum bo_deviation d = BO_DEV_BM;
	enum bo_target t = BO_TARGET_BOTH;
	const enum bo_deviation devs[] = { BO_DEV_BM, BO_DEV_ERASURE };
	const enum bo_target targets[] = { BO_TARGET_BOTH, BO_TARGET_WEIGHTS, BO_TARGET_ACTIVATIONS };
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(bo_deviation_parse(bo_deviation_name(devs[i]), &d, &err), BO_OK);
		assert_int_equal(d, devs[i]);
	}
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(bo_target_parse(bo_target_name(targets[i]), &t, &err), BO_OK);
		assert_int_equal(t, targets[i]);
	}
	assert_int_equal(bo_deviation_parse("BM", &d, &err), BO_EINVAL);
	assert_string_equal(err.text, "must be bm or erasure, not 'BM'");
	assert_int_equal(bo_deviation_parse(NULL, &d, &err), BO_EINVAL);
	assert_int_equal(bo_target_parse("bias", &t, &err), BO_EINVAL);
	assert_string_equal(err.text, "must be weights, activations or both, not 'bias'");
	assert_int_equal(t, BO_TARGET_ACTIVATIONS); /* untouched on refusal */
	enum bo_split sp = BO_SPLIT_TEST;
	assert_int_equal(bo_split_parse(bo_split_name(BO_SPLIT_TRAIN), &sp, &err), BO_OK);
	assert_int_equal(sp, BO_SPLIT_TRAIN);
	assert_int_equal(bo_split_parse("test", &sp, &err), BO_OK);
	assert_int_equal(sp, BO_SPLIT_TEST);
	assert_int_equal(bo_split_parse("val", &sp, &err), BO_EINVAL);
	assert_string_equal(err.text, "must be test or train, not 'val'");
	enum bo_dataset_format f = BO_DATASET_AUTO;
	const enum bo_dataset_format fmts[] = { BO_DATASET_AUTO, BO_DATASET_IDX, BO_DATASET_NPY,
						BO_DATASET_CIFAR10 };
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(bo_dataset_format_parse(bo_dataset_format_name(fmts[i]), &f, &err),
				 BO_OK);
		assert_int_equal(f, fmts[i]);
	}
	assert_int_equal(bo_dataset_format_parse("cifar", &f, &err), BO_OK); /* brownoutd's word */
	assert_int_equal(f, BO_DATASET_CIFAR10);
	assert_int_equal(bo_dataset_format_parse("npz", &f, &err), BO_EINVAL);
	assert_string_equal(err.text, "format must be auto, idx, npy or cifar, not 'npz'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_enums),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
