/* SPDX-License-Identifier: MIT */
/*
 * .debug_frame for the DWARF unwinder: the CFI of code built without unwind
 * tables (-fno-asynchronous-unwind-tables -g), in the file itself or in its
 * separate debug file (found by build-id or .gnu_debuglink, zlib-compressed
 * or not). It is copied, its FDEs indexed by address, and handed to
 * libunwind in the form its own .debug_frame support reads from local memory.
 */
#ifndef HEARTH_DEBUGFRAME_H
#define HEARTH_DEBUGFRAME_H

#include <libunwind.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DEBUG_FRAME_MAX_SIZE (64u << 20) /* bytes of one .debug_frame, inflated */
#define DEBUG_FRAME_MAX_FDES (16u << 20)

struct debug_frame;

/*
 * The .debug_frame of the ELF image at @image (@size bytes, the mapped
 * file): its own, else its separate debug file's, looked for under @root
 * ("/proc/PID/root", NULL for none) and on the host; @path is the file's
 * path inside @root. Returns 0, -ENOENT when there is none usable (or this
 * libunwind's layout is unknown: see meson.build), or -errno.
 */
int debug_frame__load(const void *image, size_t size, const char *root, const char *path,
		      struct debug_frame **ret);

/* Accepts NULL, returns NULL. */
struct debug_frame *debug_frame__free(struct debug_frame *d);

/*
 * libunwind's find_proc_info for @ip through @d, the file being mapped at
 * [@start, @end) with load bias @bias (runtime = link-time + bias). Returns
 * 0, -UNW_ENOINFO when @d has no FDE for @ip, or another -UNW_* error.
 */
int debug_frame__find_proc_info(const struct debug_frame *d, unw_addr_space_t as, uint64_t start,
				uint64_t end, uint64_t bias, unw_word_t ip, unw_proc_info_t *pi,
				int need_unwind_info);

/* Bytes held (the copy and its index). */
size_t debug_frame__memory(const struct debug_frame *d);

#endif
