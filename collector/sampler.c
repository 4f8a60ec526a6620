// SPDX-License-Identifier: MIT
#include "sampler.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "procmaps.h"
#include "sampler.skel.h"

#define SAMPLER_DEFAULT_RING_BYTES (8u << 20)
#define SAMPLER_MAX_CPUS 4096

struct sampler {
	struct sampler_bpf *skel;
	struct ring_buffer *rb;
	sampler_record_fn fn;
	void *ctx;
	unsigned int rate_hz;
	int nr_cpus;
	int *perf_fds;
	struct bpf_link **links;
	int nr_events;
};

static int sampler_ringbuf_cb(void *ctx, void *data, size_t size)
{
	struct sampler *s = ctx;

	return s->fn(s->ctx, data, size);
}

int sampler__new(const struct sampler_options *o, sampler_record_fn fn, void *ctx,
		 struct sampler **ret)
{
	struct sampler *s;
	size_t ring = o->ring_bytes ? o->ring_bytes : SAMPLER_DEFAULT_RING_BYTES;
	int r;

	if (ring < 4096 || (ring & (ring - 1)))
		return -EINVAL;
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0)
		return -ENOENT;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fn = fn;
	s->ctx = ctx;
	s->rate_hz = o->rate_hz;

	s->skel = sampler_bpf__open();
	if (!s->skel) {
		r = -errno;
		goto fail;
	}
	s->skel->rodata->collect_kernel = o->kernel_stacks;
	s->skel->rodata->collect_user = o->user_stacks;
	s->skel->rodata->all_processes = o->all_processes;
	s->skel->rodata->self_tgid = (__u32)getpid();
	s->skel->rodata->stack_copy_bytes = o->stack_copy_bytes;
	s->skel->rodata->unwind_all = !o->stack_copy_some;
	s->skel->rodata->py_stack_copy_bytes = o->py_stack_copy_bytes;
	/* Wake the reader when an eighth of the ring is used, not per sample. */
	s->skel->rodata->wakeup_bytes = ring / 8;
	r = bpf_map__set_max_entries(s->skel->maps.events, ring);
	if (r < 0)
		goto fail;
	r = libbpf_num_possible_cpus();
	if (r < 0)
		goto fail;
	r = bpf_map__set_max_entries(s->skel->maps.scratch_map, (__u32)r);
	if (r < 0)
		goto fail;
	r = sampler_bpf__load(s->skel);
	if (r < 0)
		goto fail;
	r = sampler_bpf__attach(s->skel); /* the fork and exec tracepoints */
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

void sampler__stop(struct sampler *s)
{
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

int sampler__start(struct sampler *s)
{
	_cleanup_free_ char *online = NULL;
	_cleanup_free_ bool *cpus = NULL;
	int possible = libbpf_num_possible_cpus(), r;
	size_t len;

	if (possible <= 0 || possible > SAMPLER_MAX_CPUS)
		return possible < 0 ? possible : -E2BIG;
	cpus = calloc(possible, sizeof(*cpus));
	s->perf_fds = calloc(possible, sizeof(*s->perf_fds));
	s->links = calloc(possible, sizeof(*s->links));
	if (!cpus || !s->perf_fds || !s->links) {
		sampler__stop(s);
		return -ENOMEM;
	}
	r = read_proc_file("/sys/devices/system/cpu/online", 65536, &online, &len);
	if (r == 0)
		r = parse_cpu_list(online, cpus, possible);
	if (r < 0) {
		sampler__stop(s);
		return r;
	}
	for (int cpu = 0; cpu < possible; cpu++) {
		struct perf_event_attr attr = {
			.size = sizeof(attr),
			.type = PERF_TYPE_SOFTWARE,
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.freq = 1,
			.sample_freq = s->rate_hz,
		};
		struct bpf_link *link;
		int fd;

		if (!cpus[cpu])
			continue;
		fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			if (errno == ENODEV)
				continue; /* went offline meanwhile */
			r = -errno;
			sampler__stop(s);
			return r;
		}
		link = bpf_program__attach_perf_event(s->skel->progs.hearth_sample, fd);
		if (!link) {
			r = -errno;
			close(fd);
			sampler__stop(s);
			return r;
		}
		s->perf_fds[s->nr_events] = fd;
		s->links[s->nr_events] = link;
		s->nr_events++;
	}
	if (!s->nr_events)
		return -ENODEV;
	return s->nr_events;
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
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_program__fd(s->skel->progs.hearth_sample), &info, &len) < 0)
		return -errno;
	*ret_run_time_ns = info.run_time_ns;
	*ret_run_cnt = info.run_cnt;
	return 0;
}
