/* SPDX-License-Identifier: MIT */
/*
 * The ABI between sampler.bpf.c and user space: fixed-width types and limits
 * only, so both sides compile it (vmlinux.h in BPF, linux/types.h outside).
 *
 * Every ring-buffer record starts with struct hearth_event_header. A sample is
 * struct hearth_sample followed by its parts in this order, each part's size in
 * the header (0 when absent):
 *   kernel_bytes of __u64 kernel instruction pointers, innermost first;
 *   user_bytes of __u64 user instruction pointers, innermost first.
 * Later parts (interpreter frames, a raw stack copy with registers) are added
 * after these with their own size fields, so older parts never move.
 */
#ifndef HEARTH_SAMPLER_ABI_H
#define HEARTH_SAMPLER_ABI_H

#define HEARTH_MAX_STACK_DEPTH 127 /* the kernel's sysctl_perf_event_max_stack default */
#define HEARTH_MAX_TARGETS 65536
#define HEARTH_COMM_LEN 16

enum hearth_event_type {
	HEARTH_EVENT_SAMPLE = 1,
	HEARTH_EVENT_FORK = 2, /* a followed process forked a child, now a target */
	HEARTH_EVENT_EXEC = 3, /* a target called exec: its mappings changed */
};

/* Bits of hearth_sample.flags. */
enum hearth_sample_flags {
	HEARTH_SAMPLE_KSTACK_FAILED = 1 << 0, /* bpf_get_stack() failed for the kernel stack */
	HEARTH_SAMPLE_USTACK_FAILED = 1 << 1, /* ...for the user stack */
	HEARTH_SAMPLE_IN_KERNEL = 1 << 2,     /* sampled while running kernel code */
};

/* Per-CPU counters, summed by user space. */
enum hearth_counter {
	HEARTH_COUNTER_SAMPLES = 0,     /* target samples seen by the program */
	HEARTH_COUNTER_EMITTED,         /* samples written to the ring buffer */
	HEARTH_COUNTER_LOST_RINGBUF,    /* samples dropped: ring buffer full */
	HEARTH_COUNTER_KSTACK_FAILED,   /* kernel stack read failures */
	HEARTH_COUNTER_USTACK_FAILED,   /* user stack read failures */
	HEARTH_COUNTER_EVENTS_LOST,     /* fork/exec events dropped: ring buffer full */
	HEARTH_COUNTER_TARGETS_FULL,    /* children not followed: target map full */
	HEARTH_COUNTER_MAX,
};

/* Values of the targets map. */
enum hearth_target_flags {
	HEARTH_TARGET_FOLLOW_CHILDREN = 1 << 0,
};

struct hearth_event_header {
	__u32 type; /* enum hearth_event_type */
	__u32 size; /* bytes of the whole record, header included */
};

struct hearth_sample {
	struct hearth_event_header hdr;
	__u64 time_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 pid;     /* thread-group id */
	__u32 tid;
	__u32 cpu;
	__u32 flags; /* enum hearth_sample_flags */
	char comm[HEARTH_COMM_LEN];         /* thread name */
	char process_comm[HEARTH_COMM_LEN]; /* thread-group leader's name */
	__u32 kernel_bytes;
	__u32 user_bytes;
	/* __u64 ips[]: the parts, in the order above */
};

struct hearth_task_event {
	struct hearth_event_header hdr;
	__u64 time_ns;
	__u32 pid;        /* the new target (FORK) or the process that exec'd (EXEC) */
	__u32 parent_pid; /* FORK: the followed parent; EXEC: 0 */
	char comm[HEARTH_COMM_LEN];
};

#define HEARTH_SAMPLE_MAX_SIZE \
	(sizeof(struct hearth_sample) + 2 * HEARTH_MAX_STACK_DEPTH * sizeof(__u64))

#endif
