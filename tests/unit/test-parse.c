// SPDX-License-Identifier: MIT
#include <errno.h>

#include "check.h"
#include "export.h"
#include "parse.h"

static void test_pids(void)
{
	pid_t pids[4];

	CHECK_INT(parse_pid_list("4242", pids, 4), 1);
	CHECK_INT(pids[0], 4242);
	CHECK_INT(parse_pid_list("1,2,2,3", pids, 4), 3);
	CHECK_INT(pids[2], 3);
	CHECK_INT(parse_pid_list("1,2,3,4,5", pids, 4), -E2BIG);
	CHECK_INT(parse_pid_list("", pids, 4), -EINVAL);
	CHECK_INT(parse_pid_list("1,", pids, 4), -EINVAL);
	CHECK_INT(parse_pid_list(",1", pids, 4), -EINVAL);
	CHECK_INT(parse_pid_list("0", pids, 4), -EINVAL);
	CHECK_INT(parse_pid_list("-1", pids, 4), -EINVAL);
	CHECK_INT(parse_pid_list("12a", pids, 4), -EINVAL);
	CHECK_INT(parse_pid_list("99999999999999999999", pids, 4), -EINVAL);
}

static void test_durations(void)
{
	uint64_t ns = 0;

	CHECK_INT(parse_duration("30", &ns), 0);
	CHECK_INT(ns, 30000000000ull);
	CHECK_INT(parse_duration("1.5s", &ns), 0);
	CHECK_INT(ns, 1500000000ull);
	CHECK_INT(parse_duration("500ms", &ns), 0);
	CHECK_INT(ns, 500000000ull);
	CHECK_INT(parse_duration("2m", &ns), 0);
	CHECK_INT(ns, 120000000000ull);
	CHECK_INT(parse_duration("1h", &ns), 0);
	CHECK_INT(ns, 3600000000000ull);
	CHECK_INT(parse_duration("-1", &ns), -EINVAL);
	CHECK_INT(parse_duration("0", &ns), -ERANGE);
	CHECK_INT(parse_duration("10x", &ns), -EINVAL);
	CHECK_INT(parse_duration("s", &ns), -EINVAL);
	CHECK_INT(parse_duration("nan", &ns), -EINVAL);
	CHECK_INT(parse_duration("1e300", &ns), -ERANGE);
}

static void test_uint(void)
{
	unsigned long v = 0;

	CHECK_INT(parse_uint("99", 1, 10000, &v), 0);
	CHECK_INT(v, 99);
	CHECK_INT(parse_uint("0", 1, 10000, &v), -ERANGE);
	CHECK_INT(parse_uint("100000", 1, 10000, &v), -ERANGE);
	CHECK_INT(parse_uint("+5", 1, 10000, &v), -EINVAL);
	CHECK_INT(parse_uint(" 5", 1, 10000, &v), -EINVAL);
	CHECK_INT(parse_uint("5 ", 1, 10000, &v), -EINVAL);
}

static void test_formats(void)
{
	CHECK_TRUE(exporter_for_path("x.svg") == &exporter_svg);
	CHECK_TRUE(exporter_for_path("X.SVG") == &exporter_svg);
	CHECK_TRUE(exporter_for_path("out.pb.gz") == &exporter_pprof);
	CHECK_TRUE(exporter_for_path("out.pprof") == &exporter_pprof);
	CHECK_TRUE(exporter_for_path("out.folded") == &exporter_folded);
	CHECK_TRUE(exporter_for_path("out.txt") == &exporter_folded);
	CHECK_TRUE(exporter_for_path("a.speedscope.json") == &exporter_speedscope);
	CHECK_TRUE(exporter_for_path("a.json") == NULL);
	CHECK_TRUE(exporter_for_path(".svg") == NULL);
	CHECK_TRUE(exporter_find("pprof") == &exporter_pprof);
	CHECK_TRUE(exporter_find("png") == NULL);
}

int main(void)
{
	test_pids();
	test_durations();
	test_uint();
	test_formats();
	{
		uint64_t v = 0;

		CHECK_INT(parse_size("64M", &v), 0);
		CHECK_INT(v, 64ull << 20);
		CHECK_INT(parse_size("1G", &v), 0);
		CHECK_INT(v, 1ull << 30);
		CHECK_INT(parse_size("512KiB", &v), 0);
		CHECK_INT(v, 512ull << 10);
		CHECK_INT(parse_size("4096", &v), 0);
		CHECK_INT(v, 4096);
		CHECK_INT(parse_size("", &v), -EINVAL);
		CHECK_INT(parse_size("-1M", &v), -EINVAL);
		CHECK_INT(parse_size("12Q", &v), -EINVAL);
		CHECK_INT(parse_size("1Mx", &v), -EINVAL);
		CHECK_INT(parse_size("99999999999999999999", &v), -ERANGE);
		CHECK_INT(parse_size("99999999999999G", &v), -ERANGE);
	}
	return check_finish("test-parse");
}
