/* SPDX-License-Identifier: MIT */
/*
 * Reads of another process's memory with process_vm_readv(2), which needs the
 * same rights as ptrace attach (root, or the target's parent under Yama
 * ptrace_scope 1) but never stops the target. Target memory is untrusted and
 * may change under the reader: callers check every value they read.
 */
#ifndef HEARTH_PROCMEM_H
#define HEARTH_PROCMEM_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Copy @len bytes at @addr in process @pid into @buf. Returns 0, -EFAULT when
 * any byte of the range is unmapped (a partial read counts as failed; @buf is
 * then undefined), -ESRCH when the process is gone, -EPERM when not allowed,
 * or another -errno.
 */
int procmem_read(pid_t pid, uint64_t addr, void *buf, size_t len);

/*
 * Read a target pointer (the target is assumed to be 64-bit) into *@ret.
 * Same returns; *@ret untouched on failure.
 */
int procmem_read_ptr(pid_t pid, uint64_t addr, uint64_t *ret);

/* Read a 32-bit word into *@ret. Same returns; *@ret untouched on failure. */
int procmem_read_u32(pid_t pid, uint64_t addr, uint32_t *ret);

/* A pointer read from a target that could point at a live object: non-NULL, 8-byte aligned, user half. */
static inline bool procmem_ptr_plausible(uint64_t p)
{
	return p && !(p & 7) && p < (1ull << 47);
}

#endif
