// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Hearth's sampler: a clock per CPU (a pinned BPF timer whose intervals are
 * drawn at random, so that no periodic work aliases with it) or, where the
 * kernel lacks those, a cpu-clock perf event per CPU, takes a sample of
 * whatever runs there; the samples of target processes go to user space with
 * their kernel and user stacks through a ring buffer, each weighed by the
 * CPU time since the CPU's previous tick. Fork and exec of targets are reported too, so user
 * space can follow children and reread mappings without polling.
 *
 * In Python processes (those user space put in pyprocs) it also walks the
 * sampled thread's interpreter frames: one walker for every CPython version,
 * driven by the offsets in the process's struct hearth_pyproc. Every read of
 * target memory is checked and every walk bounded; user space validates what
 * comes back (a frame that changed under us yields a code address that does
 * not check out there).
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "sampler.h"

/* The registers and task fields read below are x86-64's; meson refuses other machines. */
#if !defined(__TARGET_ARCH_x86)
#error "Hearth's sampler reads x86-64 registers: build it for x86-64"
#endif

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Settings, written by user space between open and load. */
const volatile bool collect_kernel = true;
const volatile bool collect_user = true;
/* Wake the reader once this much is waiting, not per sample. */
const volatile __u64 wakeup_bytes = 256 * 1024;
/* Sample every process (but ours), not only those in targets. */
const volatile bool all_processes = false;
const volatile __u32 self_tgid = 0;
/* Bytes of user stack to copy for DWARF unwinding; 0: walk frame pointers instead. */
const volatile __u32 stack_copy_bytes = 0;
/* With Python frames found, copy at most this much (0: stack_copy_bytes): without --native only the
 * native frames down to the innermost activation of the loop are used, a few hundred bytes. */
const volatile __u32 py_stack_copy_bytes = 0;
/* Read who holds the GIL (--gil): two more reads of the target per Python sample. */
const volatile bool want_gil = false;
/*
 * Copy it whole for every process; else as dwarf_procs says (--unwind auto):
 * a frame-pointer process's leaf only, once user space decided its walks
 * hold, and whole for the others, those not decided yet included.
 */
const volatile bool unwind_all = true;
/* The mean sampling interval, 1e9 / rate. */
const volatile __u64 mean_ns = 10101010;
/*
 * The sampling clock's intervals: clock_floor_ns plus clock_span_ns times an
 * exponentially distributed number of mean 1 (the table, see sampler.h).
 */
const volatile __u64 clock_floor_ns = 0;
const volatile __u64 clock_span_ns = 10101010;
const volatile __u32 exp_table[HEARTH_EXP_STEPS + 1] = {};

/* Written by user space while running: arm the clock of the CPU a rename runs on; stop re-arming. */
volatile bool clock_arming = false;
volatile bool clock_stopping = false;

#define CLOCK_MONOTONIC 1
#define EBUSY 16

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HEARTH_MAX_TARGETS);
	__type(key, __u32);   /* tgid */
	__type(value, __u32); /* enum hearth_target_flags */
} targets SEC(".maps");

/*
 * Cgroup v2 ids watched for --container: a process running in one of them,
 * or below, becomes a target on its first sample. cgroup_max_level is the
 * deepest of them (1: a child of the root), 0 when none is watched; user
 * space changes both at run time.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HEARTH_MAX_CGROUPS);
	__type(key, __u64);   /* cgroup id */
	__type(value, __u32); /* unused */
} cgroups SEC(".maps");

volatile __u32 cgroup_max_level = 0;

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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HEARTH_MAX_TARGETS);
	__type(key, __u32); /* tgid */
	__type(value, struct hearth_pyproc);
} pyprocs SEC(".maps");

/* --unwind auto: how much stack each process's samples carry (enum hearth_copy). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HEARTH_MAX_TARGETS);
	__type(key, __u32);  /* tgid */
	__type(value, __u8); /* enum hearth_copy */
} dwarf_procs SEC(".maps");

/* A CPU's sampling clock. */
struct hearth_clock {
	struct bpf_timer timer;
	__u64 last_ns; /* when it last ticked (or was armed) */
	__u64 next_ns; /* when it is to tick next */
};

/* One clock per possible CPU, indexed by CPU number. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* the number of possible CPUs, set by user space before load */
	__type(key, __u32);
	__type(value, struct hearth_clock);
} clocks SEC(".maps");

/* What arming each CPU's clock gave: 1 when it runs, a negative errno, 0 before it was tried. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* the number of possible CPUs */
	__type(key, __u32);
	__type(value, __s64);
} clock_armed SEC(".maps");

/* Periodic sampling: when each CPU's perf event last ran the program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} perf_last SEC(".maps");

/* Where a thread's PyThreadState was found, so most samples skip the list walk. */
struct pythread {
	__u64 tstate;  /* 0: the thread had none */
	__u64 fsbase;  /* the thread's fs base then: a new thread with the same tid differs */
	__u64 time_ns; /* when it was looked for */
};

/*
 * Kept with the thread itself (task storage, freed with it): no hash
 * lookup, whose cold buckets cost more than a frame walk at 99 Hz, and no
 * table to fill up on a machine of many threads.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pythread);
} pythreads SEC(".maps");

/*
 * A sample is built in data, then copied into the ring buffer at its real
 * size; win holds the bytes of one thread state or frame being walked.
 */
#define PY_PAGE 4096

struct scratch {
	__u8 data[HEARTH_SAMPLE_MAX_SIZE];
	__u8 win[HEARTH_PY_WINDOW + 8];
	__u8 page[PY_PAGE + HEARTH_PY_WINDOW + 8]; /* frames below the one read last, read at once */
};

/*
 * One scratch per CPU, indexed by CPU number: a per-CPU array's values stop
 * at 32 KiB, too small with a stack copy. Programs do not nest on a CPU.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* the number of possible CPUs, set by user space before load */
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

#define STACK_BYTES (HEARTH_MAX_STACK_DEPTH * sizeof(__u64))
#define PY_BYTES (HEARTH_PY_MAX_FRAMES * sizeof(struct hearth_pyframe))

static __always_inline void counter_add(__u32 which, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &which);

	if (v)
		*v += n;
}

static __always_inline void counter_inc(__u32 which)
{
	counter_add(which, 1);
}

/* Whether the current task runs in a watched cgroup or below one. */
static __always_inline bool in_watched_cgroup(void)
{
	__u32 max = cgroup_max_level;

	for (__u32 level = 1; level <= HEARTH_CGROUP_MAX_LEVEL && level <= max; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (!id) /* the task's own cgroup is above this level */
			return false;
		if (bpf_map_lookup_elem(&cgroups, &id))
			return true;
	}
	return false;
}

/*
 * Whether the sample of @tgid is kept: every process but ours with --all,
 * else the targets, and processes of watched cgroups, which become targets
 * (so their children, exec and exit are followed as any target's).
 */
static __always_inline bool is_target(__u32 tgid)
{
	__u32 flags = HEARTH_TARGET_FOLLOW_CHILDREN | HEARTH_TARGET_CGROUP;

	/* An idle CPU (the idle task, tgid 0): no map to look at, whose cold buckets cost more than the rest. */
	if (!tgid)
		return false;
	if (all_processes)
		return tgid != self_tgid;
	if (bpf_map_lookup_elem(&targets, &tgid))
		return true;
	if (!cgroup_max_level || tgid == self_tgid || !in_watched_cgroup())
		return false;
	if (bpf_map_update_elem(&targets, &tgid, &flags, BPF_NOEXIST) < 0)
		counter_inc(HEARTH_COUNTER_TARGETS_FULL);
	else
		counter_inc(HEARTH_COUNTER_CGROUP_JOINED);
	return true;
}

static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
}

/* Whether the sample interrupted user code; the context only allows whole-word reads. */
static __always_inline bool in_user_mode(struct bpf_perf_event_data *ctx)
{
	__u64 cs = *(__u64 *)((void *)&ctx->regs + __builtin_offsetof(struct pt_regs, cs));

	return (cs & 3) == 3;
}

/*
 * Whether the sampling clock's tick interrupted kernel code. The tick runs
 * on the way out of an interrupt; the registers the kernel saved at its
 * entry from user space (task_pt_regs) hold an orig_ax of -1 (or another
 * negative vector) when that entry was this interrupt, and the system call
 * number or an exception's error code when the task was in the kernel
 * already. A kernel thread has no user side at all.
 */
static __always_inline bool clock_in_kernel(void)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	if (!regs || !BPF_CORE_READ(regs, sp))
		return true;
	return (long)BPF_CORE_READ(regs, orig_ax) >= 0;
}

/*
 * The user registers at the sample: the perf context's when it interrupted
 * user code (@from_ctx), else those saved at kernel entry. False when they
 * cannot be read.
 */
static __always_inline bool read_uregs(struct bpf_perf_event_data *ctx, bool from_ctx, struct hearth_uregs *r)
{
	struct pt_regs *regs;

	if (from_ctx) {
		r->ip = ctx->regs.ip;
		r->sp = ctx->regs.sp;
		r->bp = ctx->regs.bp;
		r->bx = ctx->regs.bx;
		r->r12 = ctx->regs.r12;
		r->r13 = ctx->regs.r13;
		r->r14 = ctx->regs.r14;
		r->r15 = ctx->regs.r15;
		return true;
	}
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return false;
	r->ip = BPF_CORE_READ(regs, ip);
	r->sp = BPF_CORE_READ(regs, sp);
	r->bp = BPF_CORE_READ(regs, bp);
	r->bx = BPF_CORE_READ(regs, bx);
	r->r12 = BPF_CORE_READ(regs, r12);
	r->r13 = BPF_CORE_READ(regs, r13);
	r->r14 = BPF_CORE_READ(regs, r14);
	r->r15 = BPF_CORE_READ(regs, r15);
	/* A kernel thread has no user side: its saved registers are zero. */
	return r->sp != 0;
}

/*
 * Copy up to stack_copy_bytes of user stack from @sp into @out, a page at a
 * time (a read that crosses into an unmapped page fails whole, and the top
 * of a stack is exactly that). Returns the bytes copied.
 */
static __always_inline __u32 copy_user_stack(__u8 *out, __u64 sp, bool python, bool leaf, __u64 anchor,
					     __u32 *flags)
{
	__u32 done = 0, want = stack_copy_bytes;

	if (python && py_stack_copy_bytes) {
		if (py_stack_copy_bytes < want)
			want = py_stack_copy_bytes;
		/*
		 * Without --native only the frames down to the innermost activation
		 * of the loop are shown: copy no further than its state on the C
		 * stack, when that lies within the copy (a stale or foreign pointer
		 * does not).
		 */
		if (anchor > sp && anchor - sp < want) {
			want = (__u32)(anchor - sp) + 8;
			*flags |= HEARTH_SAMPLE_COPY_TO_LOOP;
		}
	}
	if (leaf && HEARTH_LEAF_COPY_BYTES < want)
		want = HEARTH_LEAF_COPY_BYTES;

	if (want > HEARTH_STACK_COPY_MAX)
		want = HEARTH_STACK_COPY_MAX;
	for (int i = 0; i < HEARTH_STACK_COPY_MAX / 4096 + 1; i++) {
		__u32 len = 4096 - ((sp + done) & 4095), room = want - done;

		if (done >= want)
			break;
		if (len > room)
			len = room;
		/* Bounds the verifier can follow, whatever the compiler made of the above. */
		barrier_var(len);
		barrier_var(done);
		len &= 8191;
		done &= 2 * HEARTH_STACK_COPY_MAX - 1;
		if (len > 4096 || done > HEARTH_STACK_COPY_MAX - 1)
			break; /* never, as done < want <= the maximum: the buffer has a page to spare */
		if (bpf_probe_read_user(out + done, len, (const void *)(sp + done)) < 0)
			break;
		done += len;
	}
	return done;
}

#include "pywalk.bpf.h"

/* The sample's header: whose it is, when, on which CPU, of how much CPU time. */
static __always_inline void sample_head(struct hearth_sample *s, __u64 id, __u32 cpu, bool clock, __u64 now,
					__u64 weight_ns)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	s->hdr.type = HEARTH_EVENT_SAMPLE;
	s->time_ns = now;
	s->weight_ns = weight_ns;
	s->pid = id >> 32;
	s->tid = (__u32)id;
	s->cpu = cpu;
	s->flags = clock ? HEARTH_SAMPLE_CLOCK : 0;
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	if (bpf_probe_read_kernel_str(s->process_comm, sizeof(s->process_comm),
				      BPF_CORE_READ(task, group_leader, comm)) < 0)
		s->process_comm[0] = '\0';
}

/*
 * The kernel stack into @out (STACK_BYTES of room): its length in bytes,
 * 0 in user mode (no helper call: there is none to read) or when it failed
 * (counted).
 */
static __always_inline long sample_kstack(struct bpf_perf_event_data *ctx, bool clock, bool in_kernel,
					  struct hearth_sample *s, void *out)
{
	long len;

	if (!in_kernel)
		return 0;
	s->flags |= HEARTH_SAMPLE_IN_KERNEL;
	if (!collect_kernel)
		return 0;
	if (clock)
		len = bpf_get_task_stack(bpf_get_current_task_btf(), out, STACK_BYTES, 0);
	else
		len = bpf_get_stack(ctx, out, STACK_BYTES, 0);
	if (len < 0) {
		s->flags |= HEARTH_SAMPLE_KSTACK_FAILED;
		counter_inc(HEARTH_COUNTER_KSTACK_FAILED);
		return 0;
	}
	return len;
}

/* The user stack by frame pointers into @out (STACK_BYTES of room): its length, 0 when it failed (counted). */
static __always_inline long sample_ustack(struct bpf_perf_event_data *ctx, bool clock, struct hearth_sample *s,
					  void *out)
{
	long len;

	if (clock)
		len = bpf_get_task_stack(bpf_get_current_task_btf(), out, STACK_BYTES, BPF_F_USER_STACK);
	else
		len = bpf_get_stack(ctx, out, STACK_BYTES, BPF_F_USER_STACK);
	if (len < 0) {
		s->flags |= HEARTH_SAMPLE_USTACK_FAILED;
		counter_inc(HEARTH_COUNTER_USTACK_FAILED);
		return 0;
	}
	return len > STACK_BYTES ? STACK_BYTES : len;
}

/*
 * The user registers and the stack copy for DWARF, at @off of the sample:
 * their length in bytes, 0 when the registers could not be read (flagged),
 * or -1 when @off leaves no room (never: for the verifier).
 */
static __always_inline long sample_copy(struct bpf_perf_event_data *ctx, bool clock, bool in_kernel,
					struct scratch *buf, __u32 off, bool python, bool leaf, __u64 anchor)
{
	struct hearth_sample *s = (struct hearth_sample *)buf->data;
	struct hearth_uregs *r;

	if (off > sizeof(buf->data) - sizeof(*r) - HEARTH_STACK_COPY_MAX - 4096)
		return -1;
	r = (void *)(buf->data + off);
	if (!read_uregs(ctx, !clock && !in_kernel, r)) {
		s->flags |= HEARTH_SAMPLE_UREGS_FAILED;
		return 0;
	}
	s->flags |= HEARTH_SAMPLE_UREGS | (leaf ? HEARTH_SAMPLE_LEAF_COPY : 0);
	s->stack_bytes = copy_user_stack(buf->data + off + sizeof(*r), r->sp, python, leaf, anchor, &s->flags);
	return sizeof(*r) + s->stack_bytes;
}

/*
 * Take one sample of the current task, @weight_ns of CPU time, if it is a
 * target; returns whether it was (the sample then kept or counted lost).
 * @ctx is the perf event's context, or NULL (@clock) when the
 * CPU's sampling clock runs this from its timer, in softirq context: the
 * interrupted user registers are then those the kernel saved at entry
 * (task_pt_regs), and the kernel stack is the current one, timer frames
 * first (user space cuts them). The record: header, kernel stack, Python
 * frames, user stack, then registers and stack copy.
 */
static __always_inline bool take_sample(struct bpf_perf_event_data *ctx, bool clock, __u64 now,
					__u64 weight_ns)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, cpu;
	const struct hearth_pyproc *pp;
	__u64 anchor = 0;
	__u8 *copy;
	bool leaf, in_kernel;
	struct hearth_sample *s;
	struct scratch *buf;
	long klen, ulen = 0, plen = 0, dlen = 0;
	__u64 size;

	if (!is_target(tgid))
		return false;
	counter_inc(HEARTH_COUNTER_SAMPLES);

	cpu = bpf_get_smp_processor_id();
	buf = bpf_map_lookup_elem(&scratch_map, &cpu);
	if (!buf)
		return true;
	s = (struct hearth_sample *)buf->data;
	sample_head(s, id, cpu, clock, now, weight_ns);
	in_kernel = clock ? clock_in_kernel() : !in_user_mode(ctx);
	klen = sample_kstack(ctx, clock, in_kernel, s, buf->data + sizeof(*s));
	if (klen < 0 || klen > STACK_BYTES) /* never: for the verifier */
		klen = 0;
	pp = bpf_map_lookup_elem(&pyprocs, &tgid);
	if (pp) {
		struct hearth_pyframe *out = (void *)(buf->data + sizeof(*s) + klen);

		plen = py_walk(pp, buf, s, out, &anchor) * sizeof(struct hearth_pyframe);
		if (plen < 0 || plen > PY_BYTES) /* never: for the verifier */
			plen = 0;
	}
	if (collect_user && !plen)
		ulen = sample_ustack(ctx, clock, s, buf->data + sizeof(*s) + klen + plen);
	if (ulen < 0 || ulen > STACK_BYTES) /* never: for the verifier */
		ulen = 0;
	s->stack_bytes = 0;
	/*
	 * Python samples too: the native frames below the innermost Python
	 * frame come from it. A leaf copy serves native samples only, and a
	 * process with Python frames has its stacks copied whole (user space
	 * switches a frame-pointer interpreter to that as it finds it): no
	 * lookup for those.
	 */
	copy = unwind_all || plen ? NULL : bpf_map_lookup_elem(&dwarf_procs, &tgid);
	leaf = copy && *copy == HEARTH_COPY_LEAF;
	if (collect_user && stack_copy_bytes && !(leaf && plen)) {
		dlen = sample_copy(ctx, clock, in_kernel, buf, sizeof(*s) + klen + plen + ulen, plen > 0, leaf, anchor);
		if (dlen < 0)
			return true;
	}
	s->kernel_bytes = klen;
	s->python_bytes = plen;
	s->user_bytes = ulen;
	size = sizeof(*s) + klen + plen + ulen + dlen;
	s->hdr.size = size;
	if (size > sizeof(buf->data))
		return true;
	if (bpf_ringbuf_output(&events, buf->data, size, wakeup_flag()) < 0) {
		counter_inc(HEARTH_COUNTER_LOST_RINGBUF);
		return true;
	}
	counter_inc(HEARTH_COUNTER_EMITTED);
	return true;
}

/*
 * Periodic sampling (--periodic, or kernels without pinned BPF timers): the
 * cpu-clock perf event of each CPU runs this every 1/rate seconds. The weight
 * is the time since the CPU's previous run, which is the period unless the
 * kernel throttled or restarted the event.
 */
SEC("perf_event")
int hearth_sample(struct bpf_perf_event_data *ctx)
{
	__u32 zero = 0;
	__u64 now = bpf_ktime_get_ns(), weight = mean_ns, *last = bpf_map_lookup_elem(&perf_last, &zero);

	if (last) {
		if (*last && now > *last)
			weight = now - *last;
		*last = now;
	}
	counter_inc(HEARTH_COUNTER_TICKS);
	/* The kernel times the whole run (bpf_stats_enabled); the sampling ticks' own share is timed here. */
	if (take_sample(ctx, false, now, weight))
		counter_add(HEARTH_COUNTER_SAMPLE_NS, bpf_ktime_get_ns() - now);
	return 0;
}

/* The next interval of the sampling clock: exponential, with mean mean_ns (and a floor). */
static __always_inline __u64 clock_interval(void)
{
	__u32 u = bpf_get_prandom_u32(), i = u >> 24, f = (u >> 8) & 0xffff;
	__u64 a = exp_table[i & (HEARTH_EXP_STEPS - 1)], b = exp_table[(i & (HEARTH_EXP_STEPS - 1)) + 1];
	__u64 q = a + (((b > a ? b - a : 0) * f) >> 16);

	return clock_floor_ns + ((clock_span_ns * q) >> 16);
}

/*
 * One tick of a CPU's sampling clock (a pinned BPF timer, softirq context):
 * schedule the next at an exponentially distributed time, then sample what
 * was running. Scheduled from the planned time, not from now, so the rate
 * holds when ticks run late; a tick later than its successor's time starts
 * again from now. The weight is the planned interval, not the one measured:
 * a tick runs late when the CPU was busy with interrupts off, which a
 * target in user code rarely is, so measured intervals ending on a
 * target's tick would come out short and the time shared out wrong.
 */
static int clock_tick(void *map, __u32 *key, struct hearth_clock *c)
{
	__u64 now = bpf_ktime_get_ns(), weight = c->next_ns - c->last_ns, next, ran;
	bool sampled;

	if (bpf_get_smp_processor_id() != *key) {
		/* The CPU went offline and the timer moved: stop it; user space arms the CPU again. */
		counter_inc(HEARTH_COUNTER_CLOCK_MOVED);
		return 0;
	}
	c->last_ns = c->next_ns;
	next = c->next_ns + clock_interval();
	if (next <= now)
		next = now + clock_interval();
	c->next_ns = next;
	if (!clock_stopping)
		bpf_timer_start(&c->timer, next, BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN);
	counter_inc(HEARTH_COUNTER_TICKS);
	sampled = take_sample(NULL, true, now, weight);
	ran = bpf_ktime_get_ns() - now;
	counter_add(HEARTH_COUNTER_CLOCK_NS, ran);
	if (sampled)
		counter_add(HEARTH_COUNTER_SAMPLE_NS, ran);
	return 0;
}

/*
 * Arm the sampling clock of the CPU this runs on: user space renames one of
 * its threads (prctl PR_SET_NAME) from each CPU in turn, and the rename's
 * tracepoint runs this there. The result goes into clock_armed[cpu].
 */
SEC("tp_btf/task_rename")
int BPF_PROG(hearth_arm, struct task_struct *task, const char *comm)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct hearth_clock *c;
	__s64 *result;
	__u64 now;
	long r;

	if (!clock_arming || (bpf_get_current_pid_tgid() >> 32) != self_tgid)
		return 0;
	c = bpf_map_lookup_elem(&clocks, &cpu);
	result = bpf_map_lookup_elem(&clock_armed, &cpu);
	if (!c || !result)
		return 0;
	r = bpf_timer_init(&c->timer, &clocks, CLOCK_MONOTONIC);
	if (r < 0 && r != -EBUSY) {
		*result = r;
		return 0;
	}
	r = bpf_timer_set_callback(&c->timer, clock_tick);
	if (r < 0) {
		*result = r;
		return 0;
	}
	now = bpf_ktime_get_ns();
	c->last_ns = now;
	c->next_ns = now + clock_interval();
	r = bpf_timer_start(&c->timer, c->next_ns, BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN);
	*result = r < 0 ? r : 1;
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
	struct hearth_pyproc *pp;
	__u8 *copy;
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
	/* A forked interpreter (multiprocessing) sits at the same addresses. */
	pp = bpf_map_lookup_elem(&pyprocs, &ptgid);
	if (pp)
		bpf_map_update_elem(&pyprocs, &ctgid, pp, BPF_ANY);
	copy = bpf_map_lookup_elem(&dwarf_procs, &ptgid);
	if (copy) {
		__u8 mode = *copy;

		bpf_map_update_elem(&dwarf_procs, &ctgid, &mode, BPF_ANY);
	}
	task_event(HEARTH_EVENT_FORK, ctgid, ptgid, child);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(hearth_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = p->tgid;

	if (!all_processes && !bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	/* A new program: user space looks for an interpreter again. */
	bpf_map_delete_elem(&pyprocs, &tgid);
	bpf_map_delete_elem(&dwarf_procs, &tgid);
	task_event(HEARTH_EVENT_EXEC, tgid, 0, p);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(hearth_exit, struct task_struct *p)
{
	__u32 tgid = p->tgid;

	/* Only when the whole process is gone: signal->live reached zero before this point. */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	if (!all_processes && !bpf_map_lookup_elem(&targets, &tgid))
		return 0;
	bpf_map_delete_elem(&pyprocs, &tgid);
	bpf_map_delete_elem(&dwarf_procs, &tgid);
	/* A dead tgid samples nothing; its number may come back as another process. */
	bpf_map_delete_elem(&targets, &tgid);
	task_event(HEARTH_EVENT_EXIT, tgid, 0, p);
	return 0;
}
