/* SPDX-License-Identifier: MIT */
/*
 * The collector: drains the sampler's records, symbolizes their stacks and
 * aggregates them into a profile. Shared by `hearth record` and the daemon.
 */
#ifndef HEARTH_COLLECTOR_H
#define HEARTH_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "profile.h"
#include "pyprocess.h"
#include "unwind.h"

struct collector;

struct collector_options {
	unsigned int rate_hz;
	bool kernel;          /* kernel frames on top of the user stack */
	bool thread_roots;    /* a root frame per thread */
	bool process_roots;   /* a root frame per process */
	bool follow_children; /* targets' new child processes become targets */
	bool all_processes;   /* sample every process on the machine but this one */
	size_t ring_bytes;    /* BPF ring buffer size, 0 = default */
	size_t max_processes; /* processes known at once (0: 65536); exited ones make room */
	uint32_t stack_bytes; /* user stack copied per sample and unwound with DWARF CFI (0: frame pointers) */
	bool native;          /* with stack_bytes: Python stacks merged into whole native stacks */
	bool unwind_auto;     /* with stack_bytes: copy stacks only of processes without frame pointers */
	bool python;          /* walk the Python stacks of CPython processes */
	bool periodic;        /* fixed intervals (cpu-clock perf events), not the random sampling clock */
	bool gil_only;        /* keep only samples whose thread holds the GIL */
	struct pyprocess_options py;
	/* Called once a process is known to run CPython or not (may be NULL). */
	void (*on_python)(void *ctx, pid_t pid, const struct pyprocess *py);
	/* Called when a new process becomes a target through a fork (may be NULL). */
	void (*on_new_process)(void *ctx, pid_t pid);
	void *ctx;
};

/* Intervals between a CPU's sampling ticks, as the weights of the samples aggregated say. */
#define COLLECTOR_INTERVAL_BUCKETS 32 /* each an eighth of the mean interval wide; the last is open */

struct collector_stats {
	uint64_t samples;        /* samples aggregated into the profile */
	uint64_t weight_ns;      /* the CPU time they stand for */
	uint64_t ticks;          /* sampling ticks on every CPU, whatever ran */
	int clock_cpus;          /* CPUs sampled at random intervals */
	int perf_cpus;           /* CPUs sampled periodically by cpu-clock perf events */
	int clock_error;         /* why the random clock could not run on a CPU (-errno), 0 if it could */
	int max_sample_rate;     /* kernel.perf_event_max_sample_rate at start, -1 unknown */
	double weight_sq;        /* sum of the squared weights (ns^2), for their spread */
	uint64_t intervals[COLLECTOR_INTERVAL_BUCKETS]; /* samples by weight */
	uint64_t lost;           /* samples the BPF side could not deliver */
	uint64_t events_lost;    /* fork/exec notices lost */
	uint64_t kstack_failed;  /* kernel stacks that could not be read */
	uint64_t ustack_failed;  /* user stacks that could not be read */
	uint64_t truncated;      /* stacks deeper than the maximum depth */
	uint64_t frames;         /* frames aggregated */
	uint64_t unknown_frames; /* of those, frames without a symbol */
	uint64_t dropped;        /* samples the profile had no room for */
	uint64_t malformed;      /* records that failed validation */
	uint64_t sample_faults;  /* samples dropped on an error while making them (out of memory, a bad read) */
	uint64_t target_faults;  /* reads of a process (maps, container, interpreter) that failed, the process kept */
	uint64_t maps_failed;    /* reads of /proc/PID/maps that failed, the process still there */
	uint64_t processes;      /* processes seen */
	uint64_t exited;         /* of those, processes whose state was dropped at their exit */
	uint64_t bpf_run_time_ns; /* BPF program time, when kernel.bpf_stats_enabled=1 */
	uint64_t bpf_run_cnt;     /* runs of the program, targets' samples or not */
	uint64_t bpf_sample_time_ns; /* of that, the runs that sampled a target (the program timing itself) */
	uint64_t bpf_samples;        /* runs that sampled a target */
	uint64_t first_sample_ns; /* CLOCK_MONOTONIC time of the first sample, 0 if none */
	uint64_t py_processes;    /* processes found running CPython */
	uint64_t py_samples;      /* samples of those, taken while they were known */
	uint64_t py_stacks;       /* of those, samples with Python frames */
	uint64_t py_no_thread;    /* ...whose thread had no PyThreadState */
	uint64_t py_truncated;    /* Python stacks deeper than HEARTH_PY_MAX_FRAMES */
	uint64_t py_broken;       /* Python stacks cut short by a failed read */
	uint64_t py_unknown_code; /* Python frames whose code object did not check out */
	uint64_t py_incomplete;   /* Python frames left out: not started yet (3.11+) */
	uint64_t gil_filtered;    /* samples left out because the thread did not hold the GIL */
	uint64_t py_native_missed; /* Python samples whose unwound native stack had no evaluation loop */
	uint64_t py_native_mismatch; /* native: activations and runs of Python frames did not pair up */
	uint64_t py_native_unentered; /* native: the innermost activation was entering or leaving the loop */
	uint64_t cgroup_joined;   /* processes that became targets by running in a watched cgroup */
	uint64_t profile_restarts; /* times collector__restart_profile() started the profile over */
	uint64_t pid_compactions;  /* times the table of pids seen was rebuilt with the live ones */
	uint64_t dwarf_processes;  /* unwind_auto: processes found without frame pointers */
	uint64_t dwarf_samples;    /* samples unwound from a stack copy (stack_bytes) */
	uint64_t dwarf_frames;     /* frames they gave */
	uint64_t dwarf_partial;    /* Python samples unwound only down to the evaluation loop, on purpose */
	uint64_t dwarf_stack_bytes; /* stack bytes copied for them (ring buffer bandwidth) */
	uint64_t dwarf_uregs_failed; /* samples whose user registers could not be read */
	uint64_t dwarf_stops[UNWIND_STOP__MAX]; /* those unwinds by the reason they ended */
	uint64_t dwarf_switched;   /* unwind_auto: frame-pointer processes copied whole, DWARF contradicting their walks */
	uint64_t leaf_samples;     /* unwind_auto, frame pointers: samples whose leaf is in code without them */
	uint64_t leaf_fixed;       /* ...whose leaf's caller DWARF found (the walk had skipped it) */
	uint64_t walks_cut;        /* unwind_auto: frame-pointer walks cut at a return into code without them */
	uint64_t walks_bad_ret;    /* native walks ended at a return address outside every executable mapping */
	uint64_t walks_past_root;  /* native walks that went on past a program's or thread's start (cut there) */
	uint64_t dwarf_by_rows;      /* walks made through cached CFI rows alone */
	uint64_t dwarf_by_libunwind; /* walks left to libunwind (other rules, words past the copy) */
	uint64_t dwarf_debug_frames; /* CFI lookups .debug_frame answered (no .eh_frame entry); cached after */
	uint64_t dwarf_files_failed; /* mapped files the unwinder could not open or parse */
};

/* Load the BPF program. -EPERM without privileges, -ENOENT without BTF, or -errno. */
int collector__new(const struct collector_options *o, struct collector **ret);
struct collector *collector__free(struct collector *c);
static inline void collector__freep(struct collector **c)
{
	collector__free(*c);
}

/* Make @pid a target and read its mappings now. -ESRCH if it does not exist. */
int collector__add_pid(struct collector *c, pid_t pid);

/*
 * Stop sampling @pid, which has exited (its samples already taken are kept), so
 * a process that later reuses the number is not sampled. Returns 0 or -errno.
 */
int collector__remove_pid(struct collector *c, pid_t pid);

/*
 * Make every process in @pid's cgroup a target, now and later: those in it
 * now at once, new ones on their first sample (cgroup v2, matched in BPF) or
 * at the next collector__tick(), which comes within 100 ms (a v1 hierarchy, polled). Fills
 * *@ret with the cgroup watched. Returns 0, -ESRCH, -ENOENT (@pid is in no
 * cgroup but the root), -EEXIST (watched already), -E2BIG (too many
 * watched), -ENODEV (its hierarchy is not mounted here) or -errno.
 */
int collector__add_container(struct collector *c, pid_t pid, struct cgroup_watch *ret);

/*
 * Stop watching the cgroup whose path is @path (as cgroup_watch.path) and
 * stop sampling the processes it made targets that are still in it.
 * Returns 0, -ENOENT (not watched) or -errno.
 */
int collector__remove_container(struct collector *c, const char *path);

/* Start sampling (the clocks, or perf events, on). Returns 0 or -errno. */
int collector__start(struct collector *c);

/* Stop sampling and drain what is left in the ring buffer. */
void collector__stop(struct collector *c);

/* The fd to poll for records; call collector__drain() when readable (or on a timer). */
int collector__fd(const struct collector *c);

/*
 * Process every waiting record. A record that cannot be made into a sample
 * (out of memory, a target read failing) is dropped and counted
 * (sample_faults), never an error. Returns the number of records, or -errno
 * when the ring buffer itself could not be read.
 */
int collector__drain(struct collector *c);

/*
 * The same, for at most about @budget_ns: what is left waits for the next
 * call (a loop that must also write slots is not held by a flood of
 * records). Returns the number of records taken, or -errno as above.
 */
int collector__drain_for(struct collector *c, uint64_t budget_ns);

/*
 * Housekeeping to call every collector__tick_ms() at the latest: look again
 * for CPython in processes where it is not settled yet, sampled or not,
 * and poll watched v1 cgroups. Returns how many processes are still being
 * looked at. Failures on one process are counted (target_faults) and said,
 * rate-limited; it never fails.
 */
int collector__tick(struct collector *c);

/*
 * How long the caller may sleep before the next collector__tick(), in ms:
 * 10 while an interpreter is starting up (its samples have no Python
 * frames until it is found), 100 with v1 cgroups to poll or while drains
 * still read new code objects or meet new processes (a process can take its
 * code objects with it when it exits), doubling up to 1000 once they read
 * none. A full ring buffer and new processes wake the caller
 * sooner through collector__fd().
 */
int collector__tick_ms(const struct collector *c);

int collector__stats(struct collector *c, struct collector_stats *ret);

/* The profile built so far; owned by the collector. */
struct profile *collector__profile(struct collector *c);

/*
 * Start the profile over, empty, keeping its info (rate, period, target):
 * how a continuous profiler bounds its dictionary of strings, frames and
 * stacks. Every id of the old profile is forgotten, so the caller must
 * start a new id space too (ring_writer__new_epoch()). The pointer from
 * collector__profile() changes. Returns 0 or -errno.
 */
int collector__restart_profile(struct collector *c);

#endif
