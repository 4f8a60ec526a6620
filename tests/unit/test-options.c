// SPDX-License-Identifier: MIT
/* The options `hearth record` and `hearthd` share: parsed and checked in one place. */
#include <errno.h>

#include "check.h"
#include "collector.h"
#include "options.h"

/* @o as collector_args__apply() leaves it for these settings. */
static int apply(const char *const *settings, struct collector_options *o, char *error)
{
	struct collector_args a = {};

	for (size_t i = 0; settings[i]; i += 2) {
		int r = collector_args__parse(&a, settings[i], settings[i + 1], error);

		if (r != 1)
			return r < 0 ? r : -ENOENT;
	}
	return collector_args__apply(&a, o, error);
}

static void test_defaults(void)
{
	const char *none[] = { NULL };
	struct collector_options o = {};
	char error[COLLECTOR_ERROR_MAX];

	CHECK_INT(apply(none, &o, error), 0);
	CHECK_INT(o.stack_bytes, COLLECTOR_DEFAULT_STACK_SIZE);
	CHECK_TRUE(o.unwind_auto);
	CHECK_TRUE(!o.native);
	CHECK_TRUE(o.python);
	CHECK_TRUE(!o.gil_only);
}

static void test_modes(void)
{
	const char *fp[] = { "unwind", "fp", NULL };
	const char *dwarf[] = { "unwind", "dwarf", "stack-size", "8K", NULL };
	const char *native[] = { "native", NULL, NULL };
	const char *native_auto[] = { "unwind", "auto", "native", NULL, "stack-size", "32K", NULL };
	struct collector_options o = {};
	char error[COLLECTOR_ERROR_MAX];

	CHECK_INT(apply(fp, &o, error), 0);
	CHECK_INT(o.stack_bytes, 0);
	CHECK_TRUE(!o.unwind_auto);
	CHECK_INT(apply(dwarf, &o, error), 0);
	CHECK_INT(o.stack_bytes, 8192);
	CHECK_TRUE(!o.unwind_auto);
	/* --native copies every process's stack, whatever --unwind auto would say. */
	CHECK_INT(apply(native, &o, error), 0);
	CHECK_INT(o.stack_bytes, COLLECTOR_DEFAULT_STACK_SIZE);
	CHECK_TRUE(o.native && !o.unwind_auto);
	CHECK_INT(apply(native_auto, &o, error), 0);
	CHECK_INT(o.stack_bytes, 32768);
	CHECK_TRUE(o.native && !o.unwind_auto);
}

static void test_refusals(void)
{
	const char *native_fp[] = { "native", NULL, "unwind", "fp", NULL };
	const char *gil[] = { "gil", NULL, "no-python", NULL, NULL };
	const char *native_nopy[] = { "no-python", NULL, "native", NULL, NULL };
	struct collector_options o = { .stack_bytes = 1234 };
	struct collector_args a = {};
	char error[COLLECTOR_ERROR_MAX];

	CHECK_INT(apply(native_fp, &o, error), -EINVAL);
	CHECK_STR(error, "--native unwinds with DWARF: drop --unwind fp");
	CHECK_INT(o.stack_bytes, 1234); /* untouched */
	CHECK_INT(apply(gil, &o, error), -EINVAL);
	CHECK_STR(error, "--gil needs Python stacks: drop --no-python");
	CHECK_INT(apply(native_nopy, &o, error), -EINVAL);
	CHECK_STR(error, "--native merges Python stacks: drop --no-python");

	CHECK_INT(collector_args__parse(&a, "unwind", "lbr", error), -EINVAL);
	CHECK_STR(error, "invalid unwind mode 'lbr': give 'auto', 'fp' or 'dwarf'");
	CHECK_INT(collector_args__parse(&a, "stack-size", "100", error), -EINVAL);
	CHECK_STR(error, "invalid stack size '100': give 4K to 32K");
	CHECK_INT(collector_args__parse(&a, "stack-size", "64K", error), -EINVAL);
	CHECK_INT(collector_args__parse(&a, "stack-size", "", error), -EINVAL);
	CHECK_INT(a.stack_size, 0);
	/* Not one of these: the caller's own option. */
	CHECK_INT(collector_args__parse(&a, "rate", "99", error), 0);
}

int main(void)
{
	test_defaults();
	test_modes();
	test_refusals();
	return check_finish("test-options");
}
