// SPDX-License-Identifier: MIT
#include "sampler.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "procmaps.h"
#include "sampler.skel.h"

#define SAMPLER_DEFAULT_RING_BYTES (8u << 20)

/* The clock's intervals never fall below this share of the mean (1/16). */
#define SAMPLER_CLOCK_FLOOR_SHIFT 4

struct sampler {
	struct sampler_bpf *skel;
	struct ring_buffer *rb;
	sampler_record_fn fn;
	void *ctx;
	unsigned int rate_hz;
	bool periodic;
	int nr_cpus;
	int *perf_fds;
	struct bpf_link **links;
	int nr_events;
	struct sampler_clock_info clock;
};

/*
 * The inverse distribution function of the exponential distribution of mean
 * 1, at HEARTH_EXP_STEPS + 1 evenly spaced probabilities, in 16.16 fixed
 * point; the last point (probability 1) is cut at 1/(16 * steps) of tail.
 * Scaled so the mean of the piecewise-linear function the program draws
 * from is exactly 1, which keeps the sampling rate what was asked.
 */
static void sampler_exp_table(uint32_t *t)
{
	double q[HEARTH_EXP_STEPS + 1], mean = 0;

	for (int i = 0; i < HEARTH_EXP_STEPS; i++)
		q[i] = -log1p(-(double)i / HEARTH_EXP_STEPS);
	q[HEARTH_EXP_STEPS] = log(16.0 * HEARTH_EXP_STEPS);
	for (int i = 0; i < HEARTH_EXP_STEPS; i++)
		mean += (q[i] + q[i + 1]) / 2 / HEARTH_EXP_STEPS;
	for (int i = 0; i <= HEARTH_EXP_STEPS; i++)
		t[i] = (uint32_t)lround(q[i] / mean * 65536.0);
}

static int sampler_ringbuf_cb(void *ctx, void *data, size_t size)
{
	struct sampler *s = ctx;

	return s->fn(s->ctx, data, size);
}

/*
 * Open, set up and load the programs into s->skel; the clock's arming
 * program only @with_clock (periodic sampling would only pay for its
 * verification). Returns 0 or -errno, s->skel then NULL.
 */
static int sampler_load(struct sampler *s, const struct sampler_options *o, size_t ring, bool with_clock)
{
	int r;

	s->skel = sampler_bpf__open();
	if (!s->skel)
		return -errno;
	s->skel->rodata->collect_kernel = o->kernel_stacks;
	s->skel->rodata->collect_user = o->user_stacks;
	s->skel->rodata->all_processes = o->all_processes;
	s->skel->rodata->self_tgid = (__u32)getpid();
	s->skel->rodata->stack_copy_bytes = o->stack_copy_bytes;
	s->skel->rodata->unwind_all = !o->stack_copy_some;
	s->skel->rodata->py_stack_copy_bytes = o->py_stack_copy_bytes;
	s->skel->rodata->want_gil = o->gil;
	s->skel->rodata->mean_ns = 1000000000ull / o->rate_hz;
	s->skel->rodata->clock_floor_ns = s->skel->rodata->mean_ns >> SAMPLER_CLOCK_FLOOR_SHIFT;
	s->skel->rodata->clock_span_ns = s->skel->rodata->mean_ns - s->skel->rodata->clock_floor_ns;
	sampler_exp_table((uint32_t *)s->skel->rodata->exp_table);
	/* Wake the reader when an eighth of the ring is used, not per sample. */
	s->skel->rodata->wakeup_bytes = ring / 8;
	if ((r = bpf_program__set_autoload(s->skel->progs.hearth_arm, with_clock)) < 0 ||
	    (r = bpf_map__set_max_entries(s->skel->maps.events, ring)) < 0 ||
	    (r = bpf_map__set_max_entries(s->skel->maps.scratch_map, (__u32)s->nr_cpus)) < 0 ||
	    (r = bpf_map__set_max_entries(s->skel->maps.clocks, (__u32)s->nr_cpus)) < 0 ||
	    (r = bpf_map__set_max_entries(s->skel->maps.clock_armed, (__u32)s->nr_cpus)) < 0 ||
	    (r = sampler_bpf__load(s->skel)) < 0) {
		sampler_bpf__destroy(s->skel);
		s->skel = NULL;
		return r;
	}
	return 0;
}

int sampler__new(const struct sampler_options *o, sampler_record_fn fn, void *ctx,
		 struct sampler **ret)
{
	struct sampler *s;
	size_t ring = o->ring_bytes ? o->ring_bytes : SAMPLER_DEFAULT_RING_BYTES;
	int r;

	if (ring < 4096 || (ring & (ring - 1)) || !o->rate_hz)
		return -EINVAL;
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0)
		return -ENOENT;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fn = fn;
	s->ctx = ctx;
	s->rate_hz = o->rate_hz;
	s->periodic = o->periodic;
	r = libbpf_num_possible_cpus();
	if (r < 0)
		goto fail;
	if (r > HEARTH_MAX_CPUS) {
		r = -E2BIG;
		goto fail;
	}
	s->nr_cpus = r;
	r = sampler_load(s, o, ring, !s->periodic);
	/* A kernel whose verifier or tracepoints the clock needs more of: periodic perf events only. */
	if (r < 0 && !s->periodic && r != -EPERM) {
		s->clock.arm_error = r == -ESRCH || r == -ENOENT ? -ENOENT : r;
		s->periodic = true;
		r = sampler_load(s, o, ring, false);
	}
	if (r < 0)
		goto fail;
	r = sampler_bpf__attach(s->skel); /* the fork, exec and exit tracepoints, and the clock's arming */
	if (r < 0)
		goto fail;
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), sampler_ringbuf_cb, s, NULL);
	if (!s->rb) {
		r = -errno;
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	sampler__free(s);
	return r < 0 ? r : -EINVAL;
}

/*
 * Stop every clock: ticks stop arming the next one, and writing an element
 * of the clocks map cancels its timer (an array's update frees the old
 * value's timer), so none is left running when we return.
 */
static void sampler_stop_clocks(struct sampler *s)
{
	_cleanup_free_ void *zero = NULL;
	size_t size;

	if (!s->clock.clock_cpus || !s->skel->bss)
		return;
	s->skel->bss->clock_stopping = true;
	size = bpf_map__value_size(s->skel->maps.clocks);
	zero = calloc(1, size);
	for (__u32 cpu = 0; zero && cpu < (__u32)s->nr_cpus; cpu++)
		bpf_map__update_elem(s->skel->maps.clocks, &cpu, sizeof(cpu), zero, size, BPF_ANY);
	s->clock.clock_cpus = 0;
}

void sampler__stop(struct sampler *s)
{
	sampler_stop_clocks(s);
	for (int i = 0; i < s->nr_events; i++) {
		bpf_link__destroy(s->links[i]);
		close(s->perf_fds[i]);
	}
	free(s->links);
	free(s->perf_fds);
	s->links = NULL;
	s->perf_fds = NULL;
	s->nr_events = 0;
}

struct sampler *sampler__free(struct sampler *s)
{
	if (!s)
		return NULL;
	sampler__stop(s);
	ring_buffer__free(s->rb);
	sampler_bpf__destroy(s->skel);
	free(s);
	return NULL;
}

int sampler__add_target(struct sampler *s, pid_t pid, uint32_t flags)
{
	__u32 key = (__u32)pid;

	if (bpf_map__update_elem(s->skel->maps.targets, &key, sizeof(key), &flags, sizeof(flags),
				 BPF_ANY) < 0)
		return -errno;
	return 0;
}

int sampler__remove_target(struct sampler *s, pid_t pid)
{
	__u32 key = (__u32)pid;

	if (bpf_map__delete_elem(s->skel->maps.targets, &key, sizeof(key), 0) < 0)
		return -errno;
	return sampler__set_python(s, pid, NULL);
}

int sampler__join_target(struct sampler *s, pid_t pid, uint32_t flags)
{
	__u32 key = (__u32)pid;

	if (bpf_map__update_elem(s->skel->maps.targets, &key, sizeof(key), &flags, sizeof(flags),
				 BPF_NOEXIST) == 0)
		return 1;
	if (errno == EEXIST)
		return 0;
	return -errno;
}

int sampler__for_each_target(struct sampler *s, int (*fn)(void *ctx, pid_t pid, uint32_t flags),
			     void *ctx)
{
	const struct bpf_map *m = s->skel->maps.targets;
	_cleanup_free_ __u32 *keys = malloc(HEARTH_MAX_TARGETS * sizeof(*keys));
	size_t n = 0;
	__u32 flags;
	int r;

	if (!keys)
		return -ENOMEM;
	/* Keys first: a hash map walk restarts from the top when the current key goes. */
	while (n < HEARTH_MAX_TARGETS &&
	       bpf_map__get_next_key(m, n ? &keys[n - 1] : NULL, &keys[n], sizeof(keys[n])) == 0)
		n++;
	for (size_t i = 0; i < n; i++) {
		if (bpf_map__lookup_elem(m, &keys[i], sizeof(keys[i]), &flags, sizeof(flags), 0) < 0)
			continue;
		r = fn(ctx, (pid_t)keys[i], flags);
		if (r < 0)
			return r;
	}
	return 0;
}

int sampler__watch_cgroup(struct sampler *s, uint64_t id, unsigned int max_level)
{
	__u64 key = id;
	__u32 v = 1;

	if (max_level > HEARTH_CGROUP_MAX_LEVEL)
		return -E2BIG;
	if (bpf_map__update_elem(s->skel->maps.cgroups, &key, sizeof(key), &v, sizeof(v), BPF_ANY) < 0)
		return errno == E2BIG ? -E2BIG : -errno;
	s->skel->bss->cgroup_max_level = max_level;
	return 0;
}

int sampler__unwatch_cgroup(struct sampler *s, uint64_t id, unsigned int max_level)
{
	__u64 key = id;

	if (bpf_map__delete_elem(s->skel->maps.cgroups, &key, sizeof(key), 0) < 0 && errno != ENOENT)
		return -errno;
	s->skel->bss->cgroup_max_level = max_level;
	return 0;
}

int sampler__set_copy(struct sampler *s, pid_t pid, enum hearth_copy copy)
{
	__u32 key = (__u32)pid;
	__u8 mode = (__u8)copy;

	if (!copy) {
		if (bpf_map__delete_elem(s->skel->maps.dwarf_procs, &key, sizeof(key), 0) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	if (bpf_map__update_elem(s->skel->maps.dwarf_procs, &key, sizeof(key), &mode, sizeof(mode), BPF_ANY) < 0)
		return -errno;
	return 0;
}

int sampler__set_python(struct sampler *s, pid_t pid, const struct hearth_pyproc *py)
{
	__u32 key = (__u32)pid;

	if (!py) {
		if (bpf_map__delete_elem(s->skel->maps.pyprocs, &key, sizeof(key), 0) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	if (bpf_map__update_elem(s->skel->maps.pyprocs, &key, sizeof(key), py, sizeof(*py), BPF_ANY) < 0)
		return -errno;
	return 0;
}

/* Parse "0-3,5" (the online CPU list) into a bitmap of @max entries. */
static int parse_cpu_list(const char *text, bool *cpus, int max)
{
	const char *p = text;

	while (*p && *p != '\n') {
		char *end;
		long a = strtol(p, &end, 10), b;

		if (end == p || a < 0)
			return -EPROTO;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtol(p, &end, 10);
			if (end == p || b < a)
				return -EPROTO;
		}
		for (long i = a; i <= b && i < max; i++)
			cpus[i] = true;
		p = end;
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			return -EPROTO;
	}
	return 0;
}

/* Open a cpu-clock perf event on @cpu running the program every 1/rate seconds. Returns 0 or -errno. */
static int sampler_open_perf(struct sampler *s, int cpu)
{
	struct perf_event_attr attr = {
		.size = sizeof(attr),
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_period = 1000000000ull / s->rate_hz,
	};
	struct bpf_link *link;
	int fd, r;

	fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -errno;
	link = bpf_program__attach_perf_event(s->skel->progs.hearth_sample, fd);
	if (!link) {
		r = -errno;
		close(fd);
		return r;
	}
	s->perf_fds[s->nr_events] = fd;
	s->links[s->nr_events] = link;
	s->nr_events++;
	return 0;
}

/*
 * Arm the clock of @cpu: move this thread there and rename it (to @name, its
 * own name), which runs hearth_arm on that CPU. Returns 0 or -errno.
 */
static int sampler_arm_clock(struct sampler *s, int cpu, const char *name)
{
	size_t size = CPU_ALLOC_SIZE(s->nr_cpus);
	cpu_set_t *set = CPU_ALLOC(s->nr_cpus);
	__u32 key = (__u32)cpu;
	__s64 result = 0;
	int r;

	if (!set)
		return -ENOMEM;
	CPU_ZERO_S(size, set);
	CPU_SET_S(cpu, size, set);
	r = sched_setaffinity(0, size, set) < 0 || prctl(PR_SET_NAME, name) < 0 ? -errno : 0;
	CPU_FREE(set);
	if (r < 0)
		return r;
	if (bpf_map__lookup_elem(s->skel->maps.clock_armed, &key, sizeof(key), &result, sizeof(result), 0) < 0)
		return -errno;
	/* 0: the rename's tracepoint did not run the program. */
	return result == 1 ? 0 : result < 0 ? (int)result : -ENOENT;
}

/* Arm the clock on every CPU of @cpus it can run on; those it cannot are left in @cpus. */
static void sampler_arm_clocks(struct sampler *s, bool *cpus)
{
	size_t size = CPU_ALLOC_SIZE(s->nr_cpus);
	cpu_set_t *saved = CPU_ALLOC(s->nr_cpus);
	char name[16] = "";

	if (!saved)
		return;
	if (sched_getaffinity(0, size, saved) < 0 || prctl(PR_GET_NAME, name) < 0) {
		s->clock.arm_error = -errno;
		CPU_FREE(saved);
		return;
	}
	s->skel->bss->clock_stopping = false;
	s->skel->bss->clock_arming = true;
	for (int cpu = 0; cpu < s->nr_cpus; cpu++) {
		int r;

		if (!cpus[cpu])
			continue;
		r = sampler_arm_clock(s, cpu, name);
		if (r < 0) {
			if (!s->clock.arm_error)
				s->clock.arm_error = r;
			/* No pinned timers (before 6.7) or no tracepoint: no CPU will do better. */
			if (r == -EINVAL || r == -ENOENT || r == -EOPNOTSUPP)
				break;
			continue;
		}
		cpus[cpu] = false;
		s->clock.clock_cpus++;
	}
	s->skel->bss->clock_arming = false;
	sched_setaffinity(0, size, saved);
	CPU_FREE(saved);
}

int sampler_max_sample_rate(void)
{
	_cleanup_free_ char *text = NULL;
	size_t len;

	if (read_proc_file("/proc/sys/kernel/perf_event_max_sample_rate", 64, &text, &len) < 0)
		return -1;
	return atoi(text);
}

int sampler__start(struct sampler *s)
{
	_cleanup_free_ char *online = NULL;
	_cleanup_free_ bool *cpus = NULL;
	int r;
	size_t len;

	cpus = calloc(s->nr_cpus, sizeof(*cpus));
	s->perf_fds = calloc(s->nr_cpus, sizeof(*s->perf_fds));
	s->links = calloc(s->nr_cpus, sizeof(*s->links));
	if (!cpus || !s->perf_fds || !s->links) {
		sampler__stop(s);
		return -ENOMEM;
	}
	r = read_proc_file("/sys/devices/system/cpu/online", 65536, &online, &len);
	if (r == 0)
		r = parse_cpu_list(online, cpus, s->nr_cpus);
	if (r < 0) {
		sampler__stop(s);
		return r;
	}
	s->clock = (struct sampler_clock_info){ .arm_error = s->clock.arm_error,
						 .max_sample_rate = sampler_max_sample_rate() };
	if (!s->periodic)
		sampler_arm_clocks(s, cpus);
	for (int cpu = 0; cpu < s->nr_cpus; cpu++) {
		if (!cpus[cpu])
			continue;
		r = sampler_open_perf(s, cpu);
		if (r == -ENODEV)
			continue; /* went offline meanwhile */
		if (r < 0) {
			sampler__stop(s);
			return r;
		}
		s->clock.perf_cpus++;
	}
	if (!s->clock.clock_cpus && !s->clock.perf_cpus)
		return -ENODEV;
	return s->clock.clock_cpus + s->clock.perf_cpus;
}

void sampler__clock_info(const struct sampler *s, struct sampler_clock_info *ret)
{
	*ret = s->clock;
}

const char *sampler_clock_error(int arm_error)
{
	switch (arm_error) {
	case 0:
		return "runs";
	case -EINVAL:
		return "needs pinned BPF timers (Linux 6.7 or later)";
	case -ENOENT:
		return "needs the kernel's task_rename tracepoint";
	case -EPERM:
	case -EACCES:
		return "could not be armed (permission denied)";
	default:
		return "could not be armed";
	}
}

int sampler__epoll_fd(const struct sampler *s)
{
	return ring_buffer__epoll_fd(s->rb);
}

int sampler__drain(struct sampler *s)
{
	return ring_buffer__consume(s->rb);
}

int sampler__counters(const struct sampler *s, uint64_t *ret)
{
	int nr = libbpf_num_possible_cpus();
	_cleanup_free_ __u64 *vals = NULL;

	if (nr <= 0)
		return nr < 0 ? nr : -EINVAL;
	vals = calloc(nr, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 k = 0; k < HEARTH_COUNTER_MAX; k++) {
		ret[k] = 0;
		if (bpf_map__lookup_elem(s->skel->maps.counters, &k, sizeof(k), vals,
					 nr * sizeof(*vals), 0) < 0)
			return -errno;
		for (int c = 0; c < nr; c++)
			ret[k] += vals[c];
	}
	return 0;
}

int sampler__prog_stats(const struct sampler *s, uint64_t *ret_run_time_ns, uint64_t *ret_run_cnt)
{
	uint64_t counters[HEARTH_COUNTER_MAX];
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int r;

	r = sampler__counters(s, counters);
	if (r < 0)
		return r;
	if (bpf_obj_get_info_by_fd(bpf_program__fd(s->skel->progs.hearth_sample), &info, &len) < 0)
		return -errno;
	*ret_run_time_ns = counters[HEARTH_COUNTER_CLOCK_NS] + info.run_time_ns;
	*ret_run_cnt = counters[HEARTH_COUNTER_TICKS];
	return 0;
}
