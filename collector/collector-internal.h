/* SPDX-License-Identifier: MIT */
/*
 * What collector.c and native.c share: the collector's state, and the
 * native-stack steps native.c does for collector.c's sample assembly.
 * Not for use outside collector/.
 */
#ifndef HEARTH_COLLECTOR_INTERNAL_H
#define HEARTH_COLLECTOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "collector.h"
#include "process.h"
#include "sampler.h"
#include "symcache.h"
#include "unwind.h"

#define COLLECTOR_DEFAULT_MAX_PROCESSES 65536
/* The reader's sleep between drains: short while new frames and processes come, long once they stop. */
#define COLLECTOR_SLEEP_MIN_MS 100
#define COLLECTOR_SLEEP_MAX_MS 1000
#define COLLECTOR_SYMCACHE_FILES 1024
/* Native frames unwound first below a Python sample, looking for the evaluation loop. */
#define COLLECTOR_PY_LEAF_DEPTH 8
/* DWARF frames looked at to fix the leaf of a frame-pointer stack. */
#define COLLECTOR_LEAF_FIX_DEPTH 8
/*
 * unwind_auto: a frame-pointer process's walks are checked against DWARF
 * over its small stack copies (every one of its first samples, then one in
 * COLLECTOR_WALK_EVERY). Past a tenth of a window of COLLECTOR_WALK_WINDOW
 * disagreeing (code without frame pointers mid-stack, as a callback from
 * qsort, or many samples in prologues), its stacks are copied whole.
 */
#define COLLECTOR_WALK_FIRST 256
#define COLLECTOR_WALK_EVERY 16
#define COLLECTOR_WALK_WINDOW 32
/* Past a tenth of a window of samples whose walks were cut short, the stacks are copied whole too. */
#define COLLECTOR_CUT_WINDOW 64

/*
 * Where a frame-pointer walk ends short of the root (in start-up code without
 * frame pointers that called the program's own code: __libc_start_call_main,
 * start_thread) and what DWARF found past it (__libc_start_main, _start;
 * clone3), learned from the first window's whole copies so that every walk
 * of the process has the same root (collector_root_tail()). Return
 * addresses; one entry for the main thread and one for the others.
 */
#define COLLECTOR_ROOT_TAILS 2
#define COLLECTOR_ROOT_TAIL_MAX 2

struct collector_root_tail {
	uint64_t from; /* the walk's last return address; 0: unused */
	uint64_t rets[COLLECTOR_ROOT_TAIL_MAX];
	uint8_t n;
};

struct collector_walks {
	struct collector_root_tail tails[COLLECTOR_ROOT_TAILS];
	uint32_t samples; /* samples of the process with frame-pointer walks */
	uint16_t checked; /* walks checked in this window */
	uint16_t broken;  /* ...that missed or changed a frame DWARF found */
	bool deciding;    /* first window: stacks still copied whole, walks checked against them */
	uint16_t cut_seen; /* samples in this window of cut walks */
	uint16_t cuts;     /* ...whose walk was cut short */
};/* Stack copied for a Python sample without --native: that many frames fit with room to spare. */
#define COLLECTOR_PY_STACK_COPY 4096
/*
 * Return addresses in start-up code remembered (--unwind auto), before the
 * table starts over; and the frames of that code a walk's root may have:
 * __libc_start_call_main and __libc_start_main, start_thread and clone3.
 */
#define COLLECTOR_ROOT_RETS_MAX 1024
#define COLLECTOR_ROOT_RUN_MAX 2
/* Files whose frame pointers were checked (--unwind auto), before the cache starts over. */
#define COLLECTOR_FPCHECK_CACHE_MAX 4096

enum collector_fault {
	COLLECTOR_FAULT_SAMPLE, /* the sample is dropped */
	COLLECTOR_FAULT_TARGET, /* the process goes on, less well named */
	COLLECTOR_FAULT__MAX,
};

struct collector_fault_log {
	uint64_t said_ns; /* CLOCK_MONOTONIC, 0: never said */
	uint64_t unsaid;  /* faults of the kind since */
};

/*
 * What the collector knows of one process, at the index its pid has in
 * collector.pids. Freed at its exit (the index then holds an empty one);
 * moved whole when the table is compacted (targets.c).
 */
struct target {
	struct process *process;    /* NULL: gone before first sight, or exited */
	struct pyprocess *py;       /* NULL without opts.python */
	uint32_t container;         /* string id of its container id, 0 if none */
	uint32_t ns_pid;            /* its pid in its own namespace, 0 if unknown */
	bool dwarf_on;              /* unwind_auto: whether its stacks are copied */
	struct collector_walks walks; /* unwind_auto: what its frame-pointer walks crossed */
};

struct collector {
	struct collector_options opts;
	struct sampler *sampler;
	struct profile *profile;
	struct symcache *symcache;
	struct kstack *kstack;
	struct intern *pids;         /* key: pid_t; id indexes targets (see targets.c) */
	struct target *targets;      /* opts.max_processes of them */
	struct collector_stats stats;
	struct unwinder *unwinder;   /* with opts.stack_bytes */
	struct intern *fp_files;     /* unwind_auto: (dev, inode) of files checked */
	struct intern *root_rets;    /* unwind_auto: (dev, inode, offset) of return addresses in start-up code */
	bool fp_file_ok[COLLECTOR_FPCHECK_CACHE_MAX]; /* ...whether each keeps frame pointers */
	uint64_t dwarf_ips[HEARTH_MAX_STACK_DEPTH];
	uint64_t walk_ips[COLLECTOR_LEAF_FIX_DEPTH]; /* DWARF frames of a frame-pointer sample's small copy */
	uint64_t fixed_ips[HEARTH_MAX_STACK_DEPTH]; /* a frame-pointer walk with its leaf fixed */
	struct cgroup_watch watches[HEARTH_MAX_CGROUPS];
	size_t nr_watches;
	uint64_t v1_scan_ns;         /* when v1 watches were last polled */
	int looking;                 /* processes whose interpreter was still being looked for at the last tick */
	unsigned int sleep_ms;       /* collector__tick_ms() when nothing else asks: see collector_drained() */
	uint64_t code_reads;         /* code objects read from targets, all processes together */
	uint64_t scan_joined;        /* processes found by reading cgroup.procs */
	uint64_t maps_failed_exited; /* maps reads that failed, of processes since freed */
	struct collector_fault_log fault_log[COLLECTOR_FAULT__MAX];
	uint64_t drained;            /* records taken from the ring buffer */
	uint64_t drain_deadline_ns;  /* collector__drain_for(): CLOCK_MONOTONIC, 0 without */
	/* scratch stack, leaf first: kernel, Python, user, markers and roots */
	uint32_t frames[2 * HEARTH_MAX_STACK_DEPTH + HEARTH_PY_MAX_FRAMES + 8];
};

/*
 * Count a fault the collector goes on after (@err, -errno, at @step of
 * process @pid) and say it, rate-limited. See stats.c.
 */
void collector_fault(struct collector *c, enum collector_fault kind, pid_t pid, int err, const char *step);

/* --unwind auto: copy process @pid's stacks, or not, by its code's frame pointers. Returns 0 or -errno. */
int collector_decide_unwind(struct collector *c, size_t id, struct process *p, pid_t pid);

/*
 * Unwind the stack copy of sample @s with DWARF CFI, at most @max frames;
 * on success point *@ret_ips at the return addresses (*@ret_n of them);
 * *@ret_partial when it stopped at @max on purpose. Returns 0 or -ENOMEM.
 */
int collector_unwind(struct collector *c, struct process *p, const struct hearth_sample *s,
		     const struct hearth_uregs *ur, size_t max, const __u64 **ret_ips, size_t *ret_n,
		     bool *ret_truncated, bool *ret_partial);

/*
 * Fix a frame-pointer stack whose leaf is in code without them, from the
 * sample's stack copy (the result in @out, room for HEARTH_MAX_STACK_DEPTH).
 * Returns how many DWARF frames it found (left in c->walk_ips for
 * collector_watch_walks()), 0 when it needed none; *@ret_head as below.
 */
size_t collector_fix_leaf(struct collector *c, struct process *p, const struct hearth_sample *s,
			  const struct hearth_uregs *ur, const __u64 **uips, size_t *nu, uint64_t *out,
			  size_t *ret_head);

/* Where x86-64 user code can be: above vm.mmap_min_addr's default, below the top of a 47-bit address space. */
#define COLLECTOR_USER_MIN 0x10000ull
#define COLLECTOR_USER_END (1ull << 47)

/*
 * Cut native walk @ips (leaf first, *@n addresses) at its first return
 * address outside every executable mapping (the maps read again when none
 * holds it: backing off, or at once when they are older than the sample,
 * @sample_ns): what a frame-pointer chain reads once it left the frames,
 * as past a C library's start-up code that keeps argv in rbp.
 * Returns whether it cut; counts nothing.
 */
bool collector_end_walk(struct process *p, const __u64 *ips, size_t *n, uint64_t sample_ns);

/*
 * What a function is to the start of a program or thread. The first frame
 * has nothing past it. Start-up code may still be called by more start-up
 * code (__libc_start_call_main by __libc_start_main, start_thread by
 * clone3), never by anything else.
 */
enum collector_root {
	COLLECTOR_ROOT_NONE,
	COLLECTOR_ROOT_STARTUP,
	COLLECTOR_ROOT_FIRST,
};

/*
 * Whether native frame @frame (a profile id) of a frame-pointer walk, met
 * walking from the leaf, is past the start of the program or thread, which
 * *@state keeps track of (COLLECTOR_ROOT_NONE, 0, at the leaf). Nothing is
 * past _start or clone3; past start-up code without frame pointers
 * (__libc_start_call_main, start_thread) the walk reads whatever that code
 * kept in rbp, and only more start-up code follows. (DWARF walks end there
 * by their CFI.)
 */
bool collector_past_root(struct collector *c, struct process *p, pid_t pid, uint32_t frame,
			 enum collector_root *state);

/*
 * unwind_auto: DWARF walk @ips (*@n, to its end: _start or clone3) began
 * in start-up code without frame pointers (at most COLLECTOR_ROOT_RUN_MAX
 * frames of it) that called a function with them, the program's own: a
 * frame-pointer walk ends in that code, at the return address of that
 * call. Remember it, so that a walk ending there is known to be whole where
 * the code has no names (a C library without its symbol table).
 */
void collector_learn_roots(struct collector *c, struct process *p, pid_t pid, const uint64_t *ips, size_t n);

/*
 * unwind_auto: a frame-pointer walk is trusted only through code with frame
 * pointers. Past a return address into code without them (a callback from
 * libc's qsort), the next frame came from whatever that code kept in rbp:
 * cut the walk there (*@n) and return true, so the sample shows an
 * incomplete chain, never a wrong one; but where that code is the
 * program's or thread's start (named so, learned so, or calling main) the
 * walk is whole there. The first @head frames are not the walk's
 * (collector_fix_leaf()); @head 0 keeps the leaf only. @from_kernel: the
 * leaf address is a return address too.
 */
bool collector_cut_walk(struct collector *c, struct process *p, const struct hearth_sample *s, const __u64 *ips,
			size_t *n, size_t head, bool from_kernel);

/*
 * unwind_auto: a frame-pointer process's first window of samples is copied
 * whole and shown as DWARF unwinds it (@dw); check each one's walk (@fp)
 * against it, and at the window's end leave the process to frame pointers
 * and leaf copies, or copy its stacks whole from then on when a tenth of
 * the walks were wrong. Returns 0 or -errno.
 */
int collector_decide_walks(struct collector *c, size_t id, struct process *p, const struct hearth_sample *s,
			   const struct hearth_uregs *ur, const __u64 *fp, size_t nfp, const __u64 *dw, size_t ndw);

/*
 * The return addresses past the end of process @id's frame-pointer walk
 * whose last one is @last, as DWARF found them (collector_decide_walks()):
 * points *@rets at them and returns how many, 0 when none were learned.
 */
size_t collector_root_tail(const struct collector *c, size_t id, uint64_t last, const uint64_t **rets);

/*
 * unwind_auto: check the frame-pointer walk @uips of sample @s against
 * DWARF over its stack copy (some samples only; @walked DWARF frames are in
 * c->walk_ips already when not 0); copy the process's stacks whole once a
 * tenth of them disagree, or a tenth of its samples' walks were cut short
 * (@cut: collector_cut_walk()). Returns 0 or -errno.
 */
int collector_watch_walks(struct collector *c, size_t id, struct process *p, const struct hearth_sample *s,
			  const struct hearth_uregs *ur, const __u64 *uips, size_t nu, size_t walked, bool cut);

/* Append the native frames below the innermost Python frame; *@ret_found when the loop was met. */
int collector_leaf_natives(struct collector *c, size_t id, struct process *p, const __u64 *ips, size_t nips,
			   bool from_kernel, size_t *n, bool *ret_found);

/*
 * --native: append the whole native stack with the Python frames in place
 * (an innermost activation entering or leaving the loop stays native). When
 * the loop's activations and the runs of Python frames do not pair up,
 * appends both stacks unmerged, one above the other under marker frames.
 */
int collector_merge_native(struct collector *c, size_t id, struct process *p, const struct hearth_sample *s,
			   const struct hearth_pyframe *pf, size_t np, const __u64 *ips, size_t nips,
			   bool from_kernel, bool native_cut, size_t *n);

/*
 * The target table (targets.c). The process entry of @pid, made (maps
 * read) on first sight, or reset with @reset; its index in *@ret_id.
 * Returns 0, -ESRCH (gone), -E2BIG (table full) or -errno.
 */
int collector_target(struct collector *c, pid_t pid, bool reset, struct process **ret, size_t *ret_id);
/* Look for CPython in process @id if it is due; tell the sampler once found. Returns 0 or -errno. */
int collector_python_probe(struct collector *c, size_t id, pid_t pid);
/* Process @pid exited: what was known of it goes. */
void collector_target_exited(struct collector *c, pid_t pid);
/* The pid table rebuilt with the processes still known. Returns 0 or -ENOMEM. */
int collector_compact_targets(struct collector *c);
/* A new profile: names and frames interned again, containers read again. Returns 0 or -errno. */
int collector_targets_new_profile(struct collector *c);
/* collector_python_probe() for each process still without its interpreter; returns how many are still. */
int collector_probe_pythons(struct collector *c);

/* One sample of the ring into the profile (sample.c). Returns 0 or -errno (the sample is lost). */
struct sample_view;
int collector_sample(struct collector *c, const struct sample_view *v);

/* Frames that are no native code (frames.c). A frame that is no code: "[truncated]", "[unknown]", ... Returns 0 or -errno. */
int collector_special_frame(struct collector *c, enum profile_frame_kind kind, const char *name,
			    uint32_t *ret);

/* Append the Python frames of @s, innermost first, with a marker if cut short. Returns 0 or -errno. */
int collector_python_frames(struct collector *c, size_t id, const struct hearth_sample *s,
			    const struct hearth_pyframe *pf, size_t np, size_t *n);

#endif
