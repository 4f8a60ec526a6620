/* SPDX-License-Identifier: MIT */
/*
 * The ABI between sampler.bpf.c and user space: fixed-width types and limits
 * only, so both sides compile it (vmlinux.h in BPF, linux/types.h outside).
 *
 * Every ring-buffer record starts with struct hearth_event_header. A sample is
 * struct hearth_sample followed by its parts in this order, each part's size in
 * the header (0 when absent):
 *   kernel_bytes of __u64 kernel instruction pointers, innermost first;
 *   python_bytes of struct hearth_pyframe, innermost first;
 *   user_bytes of __u64 user instruction pointers, innermost first (left
 *   out when Python frames were found, unless user space asks for both).
 * Later parts (a raw stack copy with registers) are added after these with
 * their own size fields, so older parts never move.
 */
#ifndef HEARTH_SAMPLER_ABI_H
#define HEARTH_SAMPLER_ABI_H

#define HEARTH_MAX_STACK_DEPTH 127 /* the kernel's sysctl_perf_event_max_stack default */
#define HEARTH_MAX_TARGETS 65536
/* Most bytes of user stack copied per sample for DWARF unwinding (--unwind dwarf). */
#define HEARTH_STACK_COPY_MAX 32768
/*
 * Bytes copied for a process that keeps frame pointers (--unwind auto):
 * enough for DWARF to find the caller of a leaf in code without them (libc),
 * which the frame-pointer walk skips.
 */
#define HEARTH_LEAF_COPY_BYTES 1024
/* Cgroups watched for --container, and how deep below the root they may sit. */
#define HEARTH_MAX_CGROUPS 64
#define HEARTH_CGROUP_MAX_LEVEL 32
#define HEARTH_COMM_LEN 16
/* Python frames sent per sample; deeper stacks keep the innermost ones. */
#define HEARTH_PY_MAX_FRAMES 128
/* Interpreter frames visited per sample, C-stack shims (3.12+) included. */
#define HEARTH_PY_MAX_VISITS 160
/* Thread states looked at to find the sampled thread's. */
#define HEARTH_PY_MAX_THREADS 64
/* Bytes of a frame or thread state read at once: every field walked lies below. */
#define HEARTH_PY_WINDOW 256
/* A thread found to have no thread state is looked for again after this long. */
#define HEARTH_PY_NEGATIVE_NS 100000000ull

/*
 * The sampling clock: the intervals between one CPU's samples are drawn
 * from an exponential distribution (a Poisson process, so no periodic work
 * can alias with it). The inverse of its distribution function is a table
 * of HEARTH_EXP_STEPS + 1 points, in units of the mean interval as 16.16
 * fixed point, filled by user space (no floating point in BPF).
 */
#define HEARTH_EXP_STEPS 256
/* CPUs the clock can be armed on (the clocks map is sized to the possible CPUs, at most this). */
#define HEARTH_MAX_CPUS 4096

/* What dwarf_procs says of a process's samples (--unwind auto). */
enum hearth_copy {
	HEARTH_COPY_STACK = 1, /* no frame pointers: the stack, for DWARF unwinding */
	HEARTH_COPY_LEAF = 2,  /* frame pointers: HEARTH_LEAF_COPY_BYTES, to fix a leaf without them */
};

enum hearth_event_type {
	HEARTH_EVENT_SAMPLE = 1,
	HEARTH_EVENT_FORK = 2, /* a followed process forked a child, now a target */
	HEARTH_EVENT_EXEC = 3, /* a target called exec: its mappings changed */
	HEARTH_EVENT_EXIT = 4, /* the last thread of a target exited */
};

/* Bits of hearth_sample.flags. */
enum hearth_sample_flags {
	HEARTH_SAMPLE_KSTACK_FAILED = 1 << 0, /* bpf_get_stack() failed for the kernel stack */
	HEARTH_SAMPLE_USTACK_FAILED = 1 << 1, /* ...for the user stack */
	HEARTH_SAMPLE_IN_KERNEL = 1 << 2,     /* sampled while running kernel code */
	HEARTH_SAMPLE_PY = 1 << 3,            /* a Python process: its thread was looked for */
	HEARTH_SAMPLE_PY_THREAD = 1 << 4,     /* the thread's PyThreadState was found */
	HEARTH_SAMPLE_PY_GIL = 1 << 5,        /* ...and it held the GIL (looked at with --gil only) */
	HEARTH_SAMPLE_PY_TRUNCATED = 1 << 6,  /* more Python frames than were sent */
	HEARTH_SAMPLE_PY_FAILED = 1 << 7,     /* a read of the frame chain failed midway */
	HEARTH_SAMPLE_UREGS = 1 << 8,         /* user registers and a stack copy follow (DWARF) */
	HEARTH_SAMPLE_UREGS_FAILED = 1 << 9,  /* ...were wanted but the registers could not be read */
	HEARTH_SAMPLE_LEAF_COPY = 1 << 10,    /* the copy is HEARTH_COPY_LEAF's: leaf frames of a native sample */
	/*
	 * Taken by the CPU's sampling clock (a BPF timer, in softirq context)
	 * rather than a perf event: the kernel stack starts with the timer and
	 * interrupt-exit frames that ran the program, above the interrupted code.
	 */
	HEARTH_SAMPLE_CLOCK = 1 << 11,
	/*
	 * A Python sample's copy ends where the innermost activation of the
	 * evaluation loop keeps its state on the C stack (3.11+: the _PyCFrame
	 * tstate->cframe points to, or the first shim frame of the chain): it
	 * holds every native frame from the leaf to that activation, which is
	 * all the default view shows; DWARF runs out of stack past it.
	 */
	HEARTH_SAMPLE_COPY_TO_LOOP = 1 << 12,
};

/* The user registers DWARF unwinding starts from (x86-64): where it ran and the callee-saved ones. */
struct hearth_uregs {
	__u64 ip, sp, bp, bx, r12, r13, r14, r15;
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
	HEARTH_COUNTER_PY_SAMPLES,      /* samples of Python processes */
	HEARTH_COUNTER_PY_NO_THREAD,    /* ...whose thread had no PyThreadState */
	HEARTH_COUNTER_PY_LIST_WALKS,   /* thread-state lists walked (cache misses) */
	HEARTH_COUNTER_PY_FAILED,       /* frame chains cut by a failed read */
	HEARTH_COUNTER_CGROUP_JOINED,   /* processes made targets by a watched cgroup */
	HEARTH_COUNTER_TICKS,           /* sampling ticks, every process's (timer fires or perf overflows) */
	HEARTH_COUNTER_CLOCK_NS,        /* time the sampling clock's program ran (it times itself) */
	HEARTH_COUNTER_CLOCK_MOVED,     /* clock ticks on another CPU than the clock's (hotplug): stopped */
	HEARTH_COUNTER_SAMPLE_NS,       /* time the program ran on the ticks that sampled a target (it times itself) */
	HEARTH_COUNTER_MAX,
};

/* Values of the targets map. */
enum hearth_target_flags {
	HEARTH_TARGET_FOLLOW_CHILDREN = 1 << 0,
	HEARTH_TARGET_CGROUP = 1 << 1, /* a target because it ran in a watched cgroup */
};

struct hearth_event_header {
	__u32 type; /* enum hearth_event_type */
	__u32 size; /* bytes of the whole record, header included */
};

struct hearth_sample {
	struct hearth_event_header hdr;
	__u64 time_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	/*
	 * CPU time the sample stands for: since the same CPU's previous
	 * sampling tick (as planned, for the random clock), whichever process
	 * that tick found. Sums to the time sampled whatever the intervals
	 * were (random, stretched, throttled).
	 */
	__u64 weight_ns;
	__u32 pid;     /* thread-group id */
	__u32 tid;
	__u32 cpu;
	__u32 flags; /* enum hearth_sample_flags */
	char comm[HEARTH_COMM_LEN];         /* thread name */
	char process_comm[HEARTH_COMM_LEN]; /* thread-group leader's name */
	__u32 kernel_bytes;
	__u32 python_bytes;
	__u32 user_bytes;
	__u32 stack_bytes; /* with HEARTH_SAMPLE_UREGS: the stack copy after struct hearth_uregs */
	/* the parts, in the order above; then struct hearth_uregs and the stack copy */
};

/* How a version links its frames (enum value of hearth_pyproc.walk). */
enum hearth_py_walk {
	HEARTH_PY_WALK_FRAME_OBJECT = 1, /* 2.7, 3.6-3.10: tstate->frame, PyFrameObject.f_back */
	HEARTH_PY_WALK_CFRAME = 2,       /* 3.11-3.12: tstate->cframe->current_frame, ->previous */
	HEARTH_PY_WALK_CURRENT = 3,      /* 3.13+: tstate->current_frame, ->previous */
};

/*
 * What the walker needs of one Python process: values of the pyprocs map,
 * keyed by tgid, written by user space once it has found the interpreter.
 * Offsets are bytes into the struct named; -1 where a version lacks the field.
 * Fields read from a frame or a thread state lie below HEARTH_PY_WINDOW.
 */
struct hearth_pyproc {
	__u64 interp;          /* PyInterpreterState; 0 while starting up: read it from interp_addr */
	__u64 interp_addr;     /* where the interpreter's address is stored (_PyRuntime, interp_head), or 0 */
	__u64 gil_holder_addr; /* a PyThreadState pointer: the GIL holder (0: unknown) */
	__u64 gil_locked_addr; /* an int, nonzero while the GIL is held (0: no such int) */
	__u32 walk;            /* enum hearth_py_walk */
	__s16 interp_tstate_head;      /* PyInterpreterState: first PyThreadState */
	__s16 tstate_next;             /* PyThreadState.next */
	__s16 tstate_thread_id;        /* PyThreadState.thread_id: pthread_self(), the fs base */
	__s16 tstate_native_thread_id; /* PyThreadState.native_thread_id: kernel tid (3.11+) */
	__s16 tstate_frame;            /* .frame, .cframe or .current_frame, per walk */
	__s16 cframe_current_frame;    /* _PyCFrame.current_frame (CFRAME) */
	__s16 frame_back;              /* f_back or previous */
	__s16 frame_code;              /* f_code or f_executable */
	__s16 frame_instr;             /* f_lasti (an int) or prev_instr/instr_ptr (a pointer) */
	__s16 frame_owner;             /* owner, a byte (3.11+) */
	__s16 owner_shim;              /* owners from this on are the interpreter's own frames, skipped (3.12+) */
	__s16 code_adaptive;           /* PyCodeObject.co_code_adaptive (3.11+) */
	__s16 frame_is_entry;          /* is_entry, a bool (3.11) */
	__u8 code_tag_bits;            /* the low bits of frame_code that tag a _PyStackRef (3.14+), or 0 */
	__u8 code_tag_refcnt;          /* the one tag besides 0 an object reference may carry */
	__u16 tstate_window;           /* bytes of a PyThreadState read: its fields above fit */
	__u16 frame_window;            /* bytes of a frame read */
};

/* Bits of hearth_pyframe.flags. */
enum hearth_pyframe_flags {
	/*
	 * The outermost frame of one activation of the evaluation loop: every
	 * frame up to 3.10, is_entry on 3.11, the frame before a C-stack shim
	 * from 3.12. Lets user space put each run of frames where its
	 * _PyEval_EvalFrameDefault sits in the native stack.
	 */
	HEARTH_PYFRAME_ENTRY = 1 << 0,
};

/*
 * One Python frame of a sample. @instr is f_lasti (up to 3.10, as the
 * interpreter keeps it) or, from 3.11, the instruction pointer's distance in
 * bytes from the start of co_code_adaptive (negative before the first one).
 */
struct hearth_pyframe {
	__u64 code;  /* the PyCodeObject (3.13+: what f_executable refers to, untagged; 0: not an object) */
	__s32 instr;
	__u8 owner;  /* _PyInterpreterFrame.owner (3.11+), else 0 */
	__u8 flags;  /* enum hearth_pyframe_flags */
	__u8 _pad[2];
};

struct hearth_task_event {
	struct hearth_event_header hdr;
	__u64 time_ns;
	__u32 pid;        /* the new target (FORK), the process that exec'd (EXEC) or exited (EXIT) */
	__u32 parent_pid; /* FORK: the followed parent; else 0 */
	char comm[HEARTH_COMM_LEN];
};

#define HEARTH_SAMPLE_MAX_SIZE                                             \
	(sizeof(struct hearth_sample) + 2 * HEARTH_MAX_STACK_DEPTH * sizeof(__u64) + \
	 HEARTH_PY_MAX_FRAMES * sizeof(struct hearth_pyframe) + sizeof(struct hearth_uregs) + \
	 HEARTH_STACK_COPY_MAX + 4096 /* slack for the stack copy's bounds checks */)

#endif
