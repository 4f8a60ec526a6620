// SPDX-License-Identifier: MIT
/*
 * The BPF sampler on its own: load it, make this process its target, burn CPU
 * in a known function, and check the records that come back: their header
 * fields, a user stack through our own function, the counters, and that a
 * process that is not a target gives nothing. Needs root and BTF; skips (exit
 * 77) without them unless CI is set, where that is a failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../unit/check.h"
#include "sampler.h"

struct seen {
	unsigned long samples, ours, with_marker, other_pid, malformed;
	uint64_t marker_lo, marker_hi;
};

static struct seen seen;

__attribute__((noinline)) static void test_sampler_marker(double seconds)
{
	struct timespec a, b;
	volatile unsigned long x = 0;

	/* CPU time, not wall time: a busy machine must not starve the sample count. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	do {
		for (int i = 0; i < 100000; i++)
			x += i;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	} while ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 < seconds);
}

static int on_record(void *ctx, const void *data, size_t size)
{
	const struct hearth_sample *s = data;
	const __u64 *ips = (const __u64 *)(s + 1);

	(void)ctx;
	if (size < sizeof(*s) || s->hdr.type != HEARTH_EVENT_SAMPLE || s->hdr.size > size ||
	    sizeof(*s) + s->kernel_bytes + s->user_bytes > size) {
		seen.malformed++;
		return 0;
	}
	seen.samples++;
	if (s->pid != (__u32)getpid()) {
		seen.other_pid++;
		return 0;
	}
	seen.ours++;
	for (size_t i = 0; i < s->user_bytes / 8; i++) {
		__u64 ip = ips[s->kernel_bytes / 8 + i];

		if (ip >= seen.marker_lo && ip < seen.marker_hi) {
			seen.with_marker++;
			break;
		}
	}
	return 0;
}

int main(void)
{
	struct sampler_options o = { .rate_hz = 499, .kernel_stacks = true, .user_stacks = true };
	struct sampler *s = NULL;
	uint64_t counters[HEARTH_COUNTER_MAX], run_time, run_cnt;
	pid_t other;
	int r;

	if (geteuid() != 0 || access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
		fprintf(stderr, "test-sampler: needs root and kernel BTF\n");
		return getenv("CI") ? 1 : 77;
	}
	/* The marker's code: from its address to the next page is generous and safe. */
	seen.marker_lo = (uint64_t)(uintptr_t)test_sampler_marker;
	seen.marker_hi = seen.marker_lo + 256;

	r = sampler__new(&o, on_record, NULL, &s);
	CHECK_INT(r, 0);
	if (r < 0)
		return check_finish("test-sampler");
	/* A busy process that is not a target must not show up. */
	other = fork();
	if (other == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		test_sampler_marker(3.0);
		_exit(0);
	}
	CHECK_INT(sampler__add_target(s, getpid(), 0), 0);
	CHECK_TRUE(sampler__start(s) > 0);
	test_sampler_marker(1.0);
	sampler__stop(s);
	CHECK_TRUE(sampler__drain(s) >= 0);
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);

	/* About 499 samples in a second of CPU time. */
	CHECK_TRUE(seen.ours > 400);
	CHECK_INT(seen.other_pid, 0);
	CHECK_INT(seen.malformed, 0);
	CHECK_TRUE(seen.with_marker * 10 >= seen.ours * 9);
	CHECK_INT(sampler__counters(s, counters), 0);
	CHECK_INT(counters[HEARTH_COUNTER_EMITTED], seen.samples);
	CHECK_INT(counters[HEARTH_COUNTER_LOST_RINGBUF], 0);
	CHECK_INT(counters[HEARTH_COUNTER_USTACK_FAILED], 0);
	CHECK_TRUE(counters[HEARTH_COUNTER_SAMPLES] >= counters[HEARTH_COUNTER_EMITTED]);
	CHECK_INT(sampler__prog_stats(s, &run_time, &run_cnt), 0);

	/* After removal the target gives nothing more. */
	CHECK_INT(sampler__remove_target(s, getpid()), 0);
	CHECK_INT(sampler__remove_target(s, getpid()), -ENOENT);
	seen.ours = 0;
	CHECK_TRUE(sampler__start(s) > 0);
	test_sampler_marker(0.3);
	sampler__stop(s);
	sampler__drain(s);
	CHECK_INT(seen.ours, 0);
	printf("test-sampler: %lu samples, %lu in the marker\n", seen.samples, seen.with_marker);
	sampler__free(s);
	return check_finish("test-sampler");
}
