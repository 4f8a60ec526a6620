/* SPDX-License-Identifier: MIT */
/*
 * Reading what CPython threads are running, from outside the process: one
 * thread's Python frames (innermost first) with their function names, files
 * and lines, which thread holds the GIL, and the kernel tid of a thread state.
 *
 * Everything is read through the caller's procmem reader (procmem.h): for a
 * live process, with process_vm_readv while the target keeps running, so
 * nothing waits on it or stops it; tests and fuzzers give bytes of their own
 * as the target's memory. Reads race with the target,
 * so every value is checked and every walk bounded; a walk that does not hold
 * together is retried, and what still does not validate is reported as an
 * unknown frame rather than as a failure.
 *
 * Code objects are read by pystack__code(), which keeps a small cache keyed by
 * address: an entry is reused only while the code object at that address
 * still has the same co_firstlineno, name, file and line table pointers, so a
 * freed and reused address is read again.
 */
#ifndef HEARTH_PYSTACK_H
#define HEARTH_PYSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "procmem.h"
#include "pyfind.h"

/* Frames kept per walk; deeper stacks are cut and marked truncated. */
#define PYSTACK_MAX_FRAMES 128
/* Longest name and file name kept, in bytes with the NUL (longer are cut). */
#define PYSTACK_NAME_MAX 256
#define PYSTACK_FILE_MAX 1024
/* Longest line table read; a longer one is treated as corrupt. */
#define PYSTACK_TABLE_MAX (256 * 1024)
/*
 * Code objects kept by the cache (entries cost memory only once touched). A
 * build may set another (the fuzz harness does: a walker a run is made and
 * freed far faster with a small one, and collisions are exercised more).
 */
#ifndef PYSTACK_CACHE_SIZE
#define PYSTACK_CACHE_SIZE 4096
#endif

/* What a stack walker or symbolizer needs of a code object. */
struct pycode {
	uint64_t addr;
	char name[PYSTACK_NAME_MAX]; /* co_qualname on 3.11+, co_name before; UTF-8 */
	char file[PYSTACK_FILE_MAX]; /* co_filename as the code object has it */
	int firstlineno;
	uint8_t *table; /* co_lnotab (up to 3.9) or co_linetable (3.10+); may be NULL */
	size_t table_len;
	uint32_t nr_units; /* code units in co_code_adaptive (3.11+, its ob_size) */
	int firsttraceable; /* _co_firsttraceable (3.11+), else 0 */
	uint64_t serial;    /* unique to this reading of the object: a refill changes it */
	uint64_t checked_ns; /* CLOCK_MONOTONIC time the object was last read and compared */

	/* What was read with the fields above: a different value means a new object. */
	uint64_t name_ptr;
	uint64_t file_ptr;
	uint64_t table_ptr;
};

struct pystack_frame {
	uint64_t frame; /* the frame's address in the target */
	uint64_t code;  /* the code object's address; 0 when unreadable */
	bool unknown;   /* the code object did not validate: name and file are empty */
	int line;       /* -1 when unknown */
	char name[PYSTACK_NAME_MAX];
	char file[PYSTACK_FILE_MAX];
};

struct pystack_trace {
	size_t nr;         /* frames filled, innermost first */
	bool truncated;    /* more frames than PYSTACK_MAX_FRAMES (or a cycle) */
	bool inconsistent; /* some frames stayed unknown after the retries */
	struct pystack_frame frames[PYSTACK_MAX_FRAMES];
};

struct pystack;

/*
 * A walker for the target @mem reads (procmem_for_pid(PID) for a live
 * process), whose interpreter pyfind() described in @info. Both are copied;
 * the bytes a procmem_for_buffer() reader serves must outlive the walker.
 * Thread ids are checked against /proc/PID/task only for a reader with a pid.
 * Returns 0, -EINVAL when @info has no offsets, -ENOMEM.
 */
int pystack__new(const struct procmem *mem, const struct pyinfo *info, struct pystack **ret);

struct pystack *pystack__free(struct pystack *s);
static inline void pystack__freep(struct pystack **s)
{
	pystack__free(*s);
}

/*
 * Read the code object at @addr (through the cache). On success *@ret points
 * at an entry owned by @s, valid until the next call on @s. Returns 0,
 * -EPROTO when what is there is not a code object (or its strings or line
 * table do not look right), or a read error (-EFAULT, -ESRCH, -EPERM...).
 */
int pystack__code(struct pystack *s, uint64_t addr, const struct pycode **ret);

/*
 * Like pystack__code(), but an entry for @addr checked less than @max_age_ns
 * before @now_ns (CLOCK_MONOTONIC, e.g. the sample's time) is returned
 * without reading the target: for a sampler, which sees the same code
 * objects over and over. A code object freed and another allocated
 * at its address within @max_age_ns keeps the old name until the next check.
 * Once the process has exited, entries are returned whatever their age.
 */
/* How many code objects have been read from the target so far (a read again counts again). */
uint64_t pystack__code_reads(const struct pystack *s);

int pystack__code_recent(struct pystack *s, uint64_t addr, uint64_t now_ns, uint64_t max_age_ns,
			 const struct pycode **ret);

/*
 * Whether a frame of @code at @offset (as pystack__line() takes it) with
 * owner @owner has not started yet, so CPython leaves it out of tracebacks
 * (_PyFrame_IsIncomplete, 3.11+; never before).
 */
bool pystack__incomplete(const struct pystack *s, const struct pycode *code, int64_t offset,
			 unsigned int owner);

/*
 * The line of the instruction at @offset in @code, the offset counted as
 * pyline_lookup() wants it for this version; a negative offset (a frame that
 * has not started) is on co_firstlineno. Returns 0 or what pyline_lookup()
 * returns.
 */
int pystack__line(struct pystack *s, const struct pycode *code, int64_t offset, int *ret_line);

/*
 * Walk the frames of thread state @tstate into @trace, innermost first.
 * Retries a walk whose reads fail or whose code objects do not validate; if
 * the last try still has some, they are kept as unknown frames. Returns 0
 * (also for a thread with no Python frames: trace->nr is 0), or -errno when
 * the thread state itself cannot be read (-ESRCH, -EPERM, -EFAULT).
 */
int pystack__walk(struct pystack *s, uint64_t tstate, struct pystack_trace *trace);

/*
 * Where the GIL holder is told, for readers of their own (the BPF sampler):
 * *@ret_holder is the address of a PyThreadState pointer to the holder, and
 * *@ret_locked, when not 0, that of an int that must be nonzero for it to
 * count. Returns 0, -EOPNOTSUPP (see pystack__gil_holder()), -EPROTO when
 * the 3.12+ GIL is not made yet (start-up), or a read error.
 */
int pystack__gil_addrs(struct pystack *s, uint64_t *ret_holder, uint64_t *ret_locked);

/*
 * The thread state holding the GIL, or 0 in *@ret when none does. Returns 0,
 * -EOPNOTSUPP when this version's holder cannot be found (2.7 and 3.6 without
 * _PyThreadState_Current), or a read error.
 */
int pystack__gil_holder(struct pystack *s, uint64_t *ret);

/*
 * The kernel tid of the thread of @tstate: native_thread_id on 3.11+; before,
 * the tid glibc keeps in the struct pthread that thread_id points at (the
 * offset measured in this process). The tid is checked to be one of the
 * target's tasks. *@ret_thread_id (may be NULL) gets thread_id in any case.
 * Returns 0, -ENOENT when no tid could be found and checked (always for a
 * reader without a pid), or a read error.
 */
int pystack__thread_tid(struct pystack *s, uint64_t tstate, pid_t *ret_tid, uint64_t *ret_thread_id);

#endif
