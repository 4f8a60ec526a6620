/* SPDX-License-Identifier: MIT */
/*
 * DWARF CFI unwinding of a copied user stack, for code built without frame
 * pointers. Input is what a sample carries: the thread's user registers and a
 * copy of its stack from SP upward. The unwind tables come from the ELF files
 * the process maps (.eh_frame_hdr and .eh_frame, read from the files, never
 * from the target; else .debug_frame, from the file or its separate debug
 * file), walked by libunwind's remote API. Output is return
 * addresses; symbolization happens elsewhere.
 *
 * Not thread-safe: one unwinder per thread.
 */
#ifndef HEARTH_UNWIND_H
#define HEARTH_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "procmaps.h"

#define UNWIND_MAX_DEPTH 512           /* frames, whatever @max says */
#define UNWIND_MAX_PROCESSES 64        /* libunwind address spaces (CFI caches) held */
/* ELF files are cached by build-id and size, else by device and inode; at most max_files of them. */
#define UNWIND_MAX_FILE_SIZE (4ull << 30) /* larger files are not mapped */
#define UNWIND_MAX_FDES (16u << 20)    /* entries in one .eh_frame_hdr table */

/* The x86-64 registers the unwinder starts from: what CFI can refer to at a call boundary. */
struct unwind_regs {
	uint64_t ip, sp, bp, bx, r12, r13, r14, r15;
};

struct unwind_snapshot {
	struct unwind_regs regs;
	const uint8_t *stack; /* a copy of user memory [regs.sp, regs.sp + stack_len) */
	size_t stack_len;
};

enum unwind_stop {
	UNWIND_STOP_END = 0,    /* the outermost frame: CFI says the return address is undefined (_start) */
	UNWIND_STOP_STACK_END,  /* the next frame is past the end of the copied stack */
	UNWIND_STOP_NO_INFO,    /* code without CFI: anonymous (JIT) code, or a file with neither .eh_frame_hdr nor .debug_frame */
	UNWIND_STOP_BAD_IP,     /* an ip outside every executable mapping */
	UNWIND_STOP_BAD_MEMORY, /* CFI wanted memory neither in the copy nor in a file (below SP, heap) */
	UNWIND_STOP_LOOP,       /* the stack pointer did not move up (or wrapped around) */
	UNWIND_STOP_DEPTH,      /* @max (or UNWIND_MAX_DEPTH) frames and more to go */
	UNWIND_STOP_ERROR,      /* anything else libunwind refused: malformed CFI, a file that cannot be read */
	UNWIND_STOP__MAX,
};

struct unwind_stats {
	uint64_t unwinds;
	uint64_t frames;
	uint64_t stops[UNWIND_STOP__MAX]; /* unwinds by the reason they ended */
	uint64_t file_hits;
	uint64_t file_misses;     /* files opened, mapped and parsed */
	uint64_t file_shared;     /* files met under a new device and inode, loaded already (same build-id) */
	uint64_t file_failures;   /* files that could not be opened or parsed (remembered) */
	uint64_t file_evictions;
	uint64_t files;           /* files held now */
	uint64_t processes;       /* libunwind address spaces held now */
	uint64_t process_evictions;
	uint64_t mem_stack;       /* word reads served from the copied stack */
	uint64_t mem_file;        /* word reads served from a mapped file */
	uint64_t mem_refused;     /* word reads refused (past the copy, below SP, heap, ...) */
	uint64_t debug_frame_files;   /* files whose .debug_frame (own or a debug file's) was indexed */
	uint64_t debug_frame_lookups; /* CFI lookups .debug_frame answered (.eh_frame_hdr had none); libunwind caches the result per ip */
	uint64_t by_rows;         /* walks made through cached CFI rows alone (cfirows.h) */
	uint64_t by_libunwind;    /* walks left to libunwind: a frame with other rules or words past the copy */
};

struct unwinder;

/*
 * An unwinder caching at most @max_files ELF files (0: a default of 256;
 * at least 4). Returns 0 or -errno.
 */
int unwinder__new(size_t max_files, struct unwinder **ret);

/* Unmaps every file and destroys the caches. Accepts NULL, returns NULL. */
struct unwinder *unwinder__free(struct unwinder *u);
static inline void unwinder__freep(struct unwinder **u)
{
	unwinder__free(*u);
}

/*
 * Unwind @snap of process @pid, whose mappings are @maps (as read when, or
 * soon after, the sample was taken). Files are opened through
 * /proc/PID/map_files or /proc/PID/root; @pid 0 means an offline snapshot
 * whose mapping paths are opened directly (same machine, files unchanged:
 * their inodes must match @maps).
 *
 * Writes at most @max addresses to @ips: first the sampled ip, then return
 * addresses (symbolize those as ip - 1). *@ret_n is the count, *@ret_stop why
 * the walk ended. Returns 0 whenever the walk ended cleanly, whatever the
 * stop reason (counted in the stats); -EINVAL for bad arguments.
 * Allocates only when meeting a new file or process.
 */
int unwinder__unwind(struct unwinder *u, pid_t pid, const struct procmaps *maps,
		     const struct unwind_snapshot *snap, uint64_t *ips, size_t max,
		     size_t *ret_n, enum unwind_stop *ret_stop);

/*
 * Whether walks go through cached CFI rows first (the default), libunwind
 * taking only those they cannot make; off, libunwind walks every stack (to
 * compare the two).
 */
void unwinder__use_rows(struct unwinder *u, bool on);

/* Drop what is cached for @pid (it exec'd or exited; its mappings changed). */
void unwinder__forget_process(struct unwinder *u, pid_t pid);

/* Give memory freed by dropped processes back to the system, at most once a second (call often). */
void unwinder__trim(struct unwinder *u);

/* Unmap every file and drop every process cache (files changed on disk, memory pressure). */
void unwinder__flush(struct unwinder *u);

void unwinder__stats(const struct unwinder *u, struct unwind_stats *ret);

/* "end", "stack-end", ... for logs and reports. */
const char *unwind_stop_name(enum unwind_stop stop);

#endif
