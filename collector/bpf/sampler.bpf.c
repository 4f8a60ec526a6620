// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Hearth's sampler: runs on every cpu-clock perf event, keeps the samples of
 * target processes, and sends their kernel and user stacks to user space
 * through a ring buffer. Fork and exec of targets are reported too, so user
 * space can follow children and reread mappings without polling.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sampler.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Settings, written by user space between open and load. */
const volatile bool collect_kernel = true;
const volatile bool collect_user = true;
/* Wake the reader once this much is waiting, not per sample. */
const volatile __u64 wakeup_bytes = 256 * 1024;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HEARTH_MAX_TARGETS);
	__type(key, __u32);   /* tgid */
	__type(value, __u32); /* enum hearth_target_flags */
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HEARTH_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* A sample is built here, then copied into the ring buffer at its real size. */
struct scratch {
	__u8 data[HEARTH_SAMPLE_MAX_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

#define STACK_BYTES (HEARTH_MAX_STACK_DEPTH * sizeof(__u64))

static __always_inline void counter_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &which);

	if (v)
		(*v)++;
}

static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
}

/* Whether the sample interrupted user code; the context only allows whole-word reads. */
static __always_inline bool in_user_mode(struct bpf_perf_event_data *ctx)
{
#if defined(__TARGET_ARCH_x86)
	__u64 cs = *(__u64 *)((void *)&ctx->regs + __builtin_offsetof(struct pt_regs, cs));

	return (cs & 3) == 3;
#else
	return false; /* elsewhere, ask for the kernel stack and let it come back empty */
#endif
}

SEC("perf_event")
int hearth_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, zero = 0;
	struct task_struct *task;
	struct hearth_sample *s;
	struct scratch *buf;
	long klen = 0, ulen = 0;
	__u64 size;

	if (!bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	counter_inc(HEARTH_COUNTER_SAMPLES);

	buf = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!buf)
		return 0;
	s = (struct hearth_sample *)buf->data;
	s->hdr.type = HEARTH_EVENT_SAMPLE;
	s->time_ns = bpf_ktime_get_ns();
	s->pid = tgid;
	s->tid = (__u32)id;
	s->cpu = bpf_get_smp_processor_id();
	s->flags = 0;
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	task = (struct task_struct *)bpf_get_current_task();
	if (bpf_probe_read_kernel_str(s->process_comm, sizeof(s->process_comm),
				      BPF_CORE_READ(task, group_leader, comm)) < 0)
		s->process_comm[0] = '\0';

	/* In user mode there is no kernel stack to read: skip the helper call. */
	if (!in_user_mode(ctx)) {
		s->flags |= HEARTH_SAMPLE_IN_KERNEL;
		if (collect_kernel) {
			klen = bpf_get_stack(ctx, buf->data + sizeof(*s), STACK_BYTES, 0);
			if (klen < 0) {
				s->flags |= HEARTH_SAMPLE_KSTACK_FAILED;
				counter_inc(HEARTH_COUNTER_KSTACK_FAILED);
				klen = 0;
			}
		}
	}
	if (klen > STACK_BYTES)
		klen = STACK_BYTES;
	if (collect_user) {
		ulen = bpf_get_stack(ctx, buf->data + sizeof(*s) + klen, STACK_BYTES, BPF_F_USER_STACK);
		if (ulen < 0) {
			s->flags |= HEARTH_SAMPLE_USTACK_FAILED;
			counter_inc(HEARTH_COUNTER_USTACK_FAILED);
			ulen = 0;
		}
	}
	if (ulen > STACK_BYTES)
		ulen = STACK_BYTES;
	s->kernel_bytes = klen;
	s->user_bytes = ulen;
	size = sizeof(*s) + klen + ulen;
	s->hdr.size = size;
	if (size > sizeof(buf->data))
		return 0;
	if (bpf_ringbuf_output(&events, buf->data, size, wakeup_flag()) < 0) {
		counter_inc(HEARTH_COUNTER_LOST_RINGBUF);
		return 0;
	}
	counter_inc(HEARTH_COUNTER_EMITTED);
	return 0;
}

static __always_inline void task_event(__u32 type, __u32 pid, __u32 parent_pid,
				       struct task_struct *task)
{
	struct hearth_task_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		counter_inc(HEARTH_COUNTER_EVENTS_LOST);
		return;
	}
	e->hdr.type = type;
	e->hdr.size = sizeof(*e);
	e->time_ns = bpf_ktime_get_ns();
	e->pid = pid;
	e->parent_pid = parent_pid;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), task->comm);
	/* Rare and urgent: the reader must see a new process before it exits. */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(hearth_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	__u32 *flags;

	/* A new thread of a target is covered already: the filter is by tgid. */
	if (child->pid != ctgid)
		return 0;
	flags = bpf_map_lookup_elem(&targets, &ptgid);
	if (!flags || !(*flags & HEARTH_TARGET_FOLLOW_CHILDREN))
		return 0;
	if (bpf_map_update_elem(&targets, &ctgid, flags, BPF_NOEXIST) < 0) {
		counter_inc(HEARTH_COUNTER_TARGETS_FULL);
		return 0;
	}
	task_event(HEARTH_EVENT_FORK, ctgid, ptgid, child);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(hearth_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = p->tgid;

	if (!bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	task_event(HEARTH_EVENT_EXEC, tgid, 0, p);
	return 0;
}
