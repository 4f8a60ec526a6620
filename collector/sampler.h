/* SPDX-License-Identifier: MIT */
/*
 * The BPF sampler: loads sampler.bpf.c, arms its sampling clock on every
 * online CPU (a pinned BPF timer with exponentially distributed intervals;
 * a cpu-clock perf event where the kernel cannot, or with periodic), and
 * hands each ring-buffer record to a callback. This file alone owns the
 * skeleton.
 */
#ifndef HEARTH_SAMPLER_H
#define HEARTH_SAMPLER_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf/sampler.h"

struct sampler;

struct sampler_options {
	unsigned int rate_hz;
	bool kernel_stacks;
	bool user_stacks;
	size_t ring_bytes; /* power of two, at least a page; 0 = default */
	bool all_processes; /* every process but this one, not only the targets */
	uint32_t stack_copy_bytes; /* user stack copied per sample for DWARF unwinding (0: none) */
	bool stack_copy_some;      /* ...as sampler__set_copy() says per process (whole until it says) */
	uint32_t py_stack_copy_bytes; /* ...at most this much for samples with Python frames (0: the same) */
	bool periodic; /* cpu-clock perf events at fixed intervals on every CPU, not the random clock */
	bool gil;      /* tell Python samples whose thread holds the GIL (two more reads each) */
};

/* How the CPUs are sampled, once sampler__start() ran. */
struct sampler_clock_info {
	int clock_cpus;  /* CPUs sampled by the random clock */
	int perf_cpus;   /* CPUs sampled by periodic cpu-clock perf events */
	int arm_error;   /* why the clock could not be armed on a CPU (-errno), 0 if it could everywhere */
	int max_sample_rate; /* kernel.perf_event_max_sample_rate at start (-1: unreadable) */
};

/* Called for each record; @data is only valid during the call. Non-zero stops the drain. */
typedef int (*sampler_record_fn)(void *ctx, const void *data, size_t size);

/*
 * Open and load the BPF program (it samples nothing until sampler__start()).
 * Returns 0, -EPERM without the privileges, -ENOENT without kernel BTF, or -errno.
 */
int sampler__new(const struct sampler_options *o, sampler_record_fn fn, void *ctx,
		 struct sampler **ret);

/* Detach everything and free; accepts NULL, returns NULL. */
struct sampler *sampler__free(struct sampler *s);

/* Sample target @pid (every thread, now and later); @flags: enum hearth_target_flags. */
int sampler__add_target(struct sampler *s, pid_t pid, uint32_t flags);
int sampler__remove_target(struct sampler *s, pid_t pid);

/*
 * Add @pid to the targets unless it is one already. Returns 1 when added, 0
 * when it was a target, or -errno (-E2BIG: the map is full).
 */
int sampler__join_target(struct sampler *s, pid_t pid, uint32_t flags);

/* Call @fn for every target; it may remove the one it is given. Returns 0 or -errno. */
int sampler__for_each_target(struct sampler *s, int (*fn)(void *ctx, pid_t pid, uint32_t flags),
			     void *ctx);

/*
 * Watch cgroup v2 @id: its processes, and those of cgroups below it, become
 * targets on their first sample. @max_level is the deepest level of all the
 * cgroups watched after this call (0 when none is). Returns 0 or -errno.
 */
int sampler__watch_cgroup(struct sampler *s, uint64_t id, unsigned int max_level);
int sampler__unwatch_cgroup(struct sampler *s, uint64_t id, unsigned int max_level);

/*
 * With stack_copy_some: copy the stacks of @pid's samples whole (HEARTH_COPY_STACK, or 0: the default),
 * only their leaf frames' (HEARTH_COPY_LEAF), or nothing (0). Returns 0 or -errno.
 */
int sampler__set_copy(struct sampler *s, pid_t pid, enum hearth_copy copy);

/* Walk the Python frames of @pid's samples as @py says; NULL stops it. Returns 0 or -errno. */
int sampler__set_python(struct sampler *s, pid_t pid, const struct hearth_pyproc *py);

/*
 * Start sampling every online CPU: arm the clock there (unless periodic),
 * and open a cpu-clock perf event where it cannot be armed (a kernel before
 * 6.7 has no pinned BPF timers, an affinity mask can keep us off a CPU).
 * Returns the number of CPUs or -errno.
 */
int sampler__start(struct sampler *s);

/* Fills @ret (after sampler__start()). */
void sampler__clock_info(const struct sampler *s, struct sampler_clock_info *ret);

/* Why the random clock could not run, for a message: sampler_clock_info.arm_error in words. */
const char *sampler_clock_error(int arm_error);

/* kernel.perf_event_max_sample_rate now (the kernel lowers it when perf interrupts run long), or -1. */
int sampler_max_sample_rate(void);

/* Stop the clocks and close the perf events; records already in the ring buffer can still be drained. */
void sampler__stop(struct sampler *s);

/* An fd that polls readable when records are waiting (the reader is woken in batches). */
int sampler__epoll_fd(const struct sampler *s);

/* Hand every waiting record to the callback. Returns how many, or -errno. */
int sampler__drain(struct sampler *s);

/* Sum the per-CPU counters into @ret (HEARTH_COUNTER_MAX entries). */
int sampler__counters(const struct sampler *s, uint64_t *ret);

/*
 * Run time and run count of the sampling programs: the clock's as it timed
 * itself, plus the perf event program's as the kernel keeps it while
 * kernel.bpf_stats_enabled is 1; runs are every tick, target or not.
 * Returns 0 or -errno.
 */
int sampler__prog_stats(const struct sampler *s, uint64_t *ret_run_time_ns, uint64_t *ret_run_cnt);

#endif
