// SPDX-License-Identifier: MIT
/*
 * The BPF sampler on its own, with the random clock and with periodic perf
 * events: load it, make this process its target, burn CPU in a known
 * function (and then in the kernel, reading /dev/zero), and check the
 * records that come back against what the burn measured of itself:
 *   - the header fields, a user stack through our own function;
 *   - as many samples as the CPU time burnt and the rate make, and weights
 *     that add up to that CPU time, each within four standard deviations;
 *   - the intervals: exponential for the clock (spread near 1), fixed for
 *     perf events (spread near 0);
 *   - user-mode ticks without a kernel stack, kernel-mode ones with the
 *     interrupted code's frames once the clock's own are cut;
 *   - the counters and the run time and count of the programs;
 *   - that a process that is not a target, or no longer one, gives nothing.
 * Needs root and BTF; skips (exit 77) without them unless CI is set, where
 * that is a failure.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../unit/check.h"
#include "ksyms.h"
#include "kstack.h"
#include "sampler.h"

#define RATE 999

struct seen {
	unsigned long samples, ours, with_marker, other_pid, malformed, in_kernel, clock_flag;
	unsigned long kernel_frames;  /* kernel samples with frames of their own after the cut */
	unsigned long plumbing_left;  /* kernel samples whose cut stack still holds the clock's frames */
	uint64_t weight_ns;
	double weight_sq;
	uint64_t marker_lo, marker_hi;
};

static struct seen seen;
static struct kstack *kstack;
static struct ksyms *ksyms;

static double thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Burn @seconds of this thread's CPU time here; returns what it burnt. */
__attribute__((noinline)) static double test_sampler_marker(double seconds)
{
	volatile unsigned long x = 0;
	double start = thread_cpu(), now;

	/* CPU time, not wall time: a busy machine must not starve the sample count. */
	do {
		for (int i = 0; i < 100000; i++)
			x += i;
		now = thread_cpu();
	} while (now - start < seconds);
	return now - start;
}

/* Burn @seconds of CPU time mostly in the kernel, reading /dev/zero. */
static double burn_kernel(double seconds)
{
	static char buf[1 << 16];
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	double start = thread_cpu(), now;
	unsigned long short_reads = 0;

	CHECK_TRUE(fd >= 0);
	do {
		short_reads += read(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf);
		now = thread_cpu();
	} while (now - start < seconds);
	CHECK_INT(short_reads, 0);
	close(fd);
	return now - start;
}

/*
 * Whether kernel address @ip is one of the frames only the sampling itself
 * puts on a stack: a BPF program, the BPF timer, the stack helpers. (Softirq
 * and interrupt frames can be the interrupted code's own, now and then.)
 */
static bool is_plumbing(uint64_t ip)
{
	const char *module = NULL, *name = ksyms ? ksyms__lookup(ksyms, ip, &module) : NULL;

	if (!name)
		return false;
	return (module && !strcmp(module, "bpf")) || !strcmp(name, "bpf_timer_cb") ||
	       !strcmp(name, "__bpf_get_stack") || !strcmp(name, "__bpf_get_task_stack");
}

static int on_record(void *ctx, const void *data, size_t size)
{
	const struct hearth_sample *s = data;
	const __u64 *ips = (const __u64 *)(s + 1);
	size_t nk, start;

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
	seen.weight_ns += s->weight_ns;
	seen.weight_sq += (double)s->weight_ns * s->weight_ns;
	seen.clock_flag += !!(s->flags & HEARTH_SAMPLE_CLOCK);
	nk = s->kernel_bytes / 8;
	if (s->flags & HEARTH_SAMPLE_IN_KERNEL) {
		seen.in_kernel++;
		start = s->flags & HEARTH_SAMPLE_CLOCK ? kstack__clock_start(kstack, (const uint64_t *)ips, nk) : 0;
		seen.kernel_frames += start < nk;
		/* Only the clock's stacks hold its frames (a perf event's can hold another profiler's). */
		for (size_t i = start; i < nk && (s->flags & HEARTH_SAMPLE_CLOCK); i++)
			if (is_plumbing(ips[i] - (i ? 1 : 0))) {
				seen.plumbing_left++;
				break;
			}
	}
	for (size_t i = 0; i < s->user_bytes / 8; i++) {
		__u64 ip = ips[nk + i];

		if (ip >= seen.marker_lo && ip < seen.marker_hi) {
			seen.with_marker++;
			break;
		}
	}
	return 0;
}

/* Within four standard deviations of a Poisson count of mean @expected (and a margin of @slack). */
static bool near_count(double got, double expected, double slack)
{
	return fabs(got - expected) <= 4 * sqrt(expected) + slack * expected;
}

static void run(bool periodic)
{
	struct sampler_options o = { .rate_hz = RATE, .kernel_stacks = true, .user_stacks = true, .periodic = periodic };
	const char *mode = periodic ? "periodic" : "clock";
	struct sampler_clock_info ci;
	struct sampler *s = NULL;
	uint64_t counters[HEARTH_COUNTER_MAX], run_time, run_cnt;
	double cpu, expected, mean, cv;
	int stats_fd, r;
	pid_t other;

	memset(&seen, 0, sizeof(seen));
	seen.marker_lo = (uint64_t)(uintptr_t)test_sampler_marker;
	seen.marker_hi = seen.marker_lo + 256;
	r = sampler__new(&o, on_record, NULL, &s);
	CHECK_INT(r, 0);
	if (r < 0)
		return;
	/* The kernel keeps the perf event program's run time while this fd is open. */
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	/* A busy process that is not a target must not show up. */
	other = fork();
	if (other == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		test_sampler_marker(5.0);
		_exit(0);
	}
	CHECK_INT(sampler__add_target(s, getpid(), 0), 0);
	CHECK_TRUE(sampler__start(s) > 0);
	sampler__clock_info(s, &ci);
	/* This kernel (6.18) has pinned BPF timers: the clock must run on every CPU. */
	CHECK_INT(ci.clock_cpus, periodic ? 0 : (int)sysconf(_SC_NPROCESSORS_ONLN));
	CHECK_INT(ci.perf_cpus, periodic ? (int)sysconf(_SC_NPROCESSORS_ONLN) : 0);
	CHECK_INT(ci.arm_error, 0);
	cpu = test_sampler_marker(1.5);
	sampler__stop(s);
	CHECK_TRUE(sampler__drain(s) >= 0);

	/* As many samples as the CPU time burnt makes at this rate, and weights that add up to it. */
	expected = cpu * RATE;
	mean = seen.ours ? (double)seen.weight_ns / seen.ours : 0;
	cv = seen.ours > 1 ? sqrt(fmax(0, seen.weight_sq / seen.ours - mean * mean)) / mean : 0;
	printf("test-sampler %s: %.3f s of CPU, %lu samples (%.0f expected), %.3f s of weight, %lu in the marker, "
	       "intervals mean %.3f ms spread %.2f\n", mode, cpu, seen.ours, expected, seen.weight_ns / 1e9,
	       seen.with_marker, mean / 1e6, cv);
	CHECK_TRUE(near_count(seen.ours, expected, 0.05));
	CHECK_TRUE(near_count(seen.weight_ns / 1e9 * RATE, expected, 0.05));
	if (periodic)
		CHECK_TRUE(cv < 0.3);
	else
		CHECK_TRUE(cv > 0.75 && cv < 1.15); /* exponential above a floor of a sixteenth: 0.94 */
	CHECK_INT(seen.other_pid, 0);
	CHECK_INT(seen.malformed, 0);
	CHECK_INT(seen.clock_flag, periodic ? 0 : seen.ours);
	CHECK_TRUE(seen.with_marker * 10 >= seen.ours * 9);
	/* The marker runs in user mode: those ticks read no kernel stack. */
	CHECK_TRUE(seen.in_kernel * 10 <= seen.ours);
	CHECK_INT(sampler__counters(s, counters), 0);
	CHECK_INT(counters[HEARTH_COUNTER_EMITTED], seen.samples);
	CHECK_INT(counters[HEARTH_COUNTER_LOST_RINGBUF], 0);
	CHECK_INT(counters[HEARTH_COUNTER_USTACK_FAILED], 0);
	CHECK_TRUE(counters[HEARTH_COUNTER_SAMPLES] >= counters[HEARTH_COUNTER_EMITTED]);
	CHECK_TRUE(counters[HEARTH_COUNTER_TICKS] >= counters[HEARTH_COUNTER_SAMPLES]);
	CHECK_INT(counters[HEARTH_COUNTER_CLOCK_MOVED], 0);
	CHECK_INT(sampler__prog_stats(s, &run_time, &run_cnt), 0);
	CHECK_INT(run_cnt, counters[HEARTH_COUNTER_TICKS]);
	if (stats_fd >= 0 || !periodic)
		CHECK_TRUE(run_time > 0 && run_time / run_cnt < 1000000); /* some time, under a millisecond a run */

	/* In the kernel: its own frames once the clock's are cut. */
	memset(&seen, 0, sizeof(seen));
	CHECK_TRUE(sampler__start(s) > 0);
	cpu = burn_kernel(0.5);
	sampler__stop(s);
	sampler__drain(s);
	printf("test-sampler %s: %.3f s reading /dev/zero, %lu samples, %lu in the kernel, %lu with kernel frames, "
	       "%lu with the clock's left\n", mode, cpu, seen.ours, seen.in_kernel, seen.kernel_frames,
	       seen.plumbing_left);
	CHECK_TRUE(near_count(seen.ours, cpu * RATE, 0.05));
	/* Two thirds of it is in read() (and clock_gettime), measured the same way by both sampling modes. */
	CHECK_TRUE(seen.in_kernel * 2 >= seen.ours);
	CHECK_TRUE(seen.kernel_frames * 10 >= seen.in_kernel * 9);
	CHECK_INT(seen.plumbing_left, 0);

	/* After removal the target gives nothing more. */
	CHECK_INT(sampler__remove_target(s, getpid()), 0);
	CHECK_INT(sampler__remove_target(s, getpid()), -ENOENT);
	seen.ours = 0;
	CHECK_TRUE(sampler__start(s) > 0);
	test_sampler_marker(0.3);
	sampler__stop(s);
	sampler__drain(s);
	CHECK_INT(seen.ours, 0);
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	if (stats_fd >= 0)
		close(stats_fd);
	sampler__free(s);
}

int main(void)
{
	if (geteuid() != 0 || access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
		fprintf(stderr, "test-sampler: needs root and kernel BTF\n");
		return getenv("CI") ? 1 : 77;
	}
	CHECK_INT(kstack__new(&kstack), 0);
	CHECK_INT(ksyms__load("/proc/kallsyms", &ksyms), 0);
	run(false);
	run(true);
	kstack__free(kstack);
	ksyms__free(ksyms);
	return check_finish("test-sampler");
}
