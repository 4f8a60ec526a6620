/* SPDX-License-Identifier: MIT */
/*
 * Reads of a target's memory, behind one small reader object, so that what
 * decodes the target's structures (collector/python/) runs unchanged on
 * memory that is not a live process: unit tests and fuzz harnesses hand it
 * bytes of their own.
 *
 * procmem_for_pid() reads another process with process_vm_readv(2), which
 * needs the same rights as ptrace attach (root, or the target's parent under
 * Yama ptrace_scope 1) but never stops the target. procmem_for_buffer()
 * serves reads from a buffer as if it were mapped at a chosen address. A
 * reader of one's own fills in read (and userdata) itself.
 *
 * Target memory is untrusted and may change under the reader: callers check
 * every value they read.
 */
#ifndef HEARTH_PROCMEM_H
#define HEARTH_PROCMEM_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A reader. A plain value: copy it freely; it owns nothing (a buffer's bytes
 * stay the caller's and must outlive every copy).
 */
struct procmem {
	/*
	 * Copy @len bytes at @addr into @buf. Returns 0 (always for @len 0),
	 * -EFAULT when any byte of the range cannot be read (a partial read
	 * counts as failed; @buf is then undefined), -ESRCH when the process
	 * is gone, -EPERM when not allowed, or another -errno.
	 */
	int (*read)(const struct procmem *m, uint64_t addr, void *buf, size_t len);
	pid_t pid;        /* the process read (procmem_for_pid), else 0 */
	uint64_t base;    /* procmem_for_buffer: the address of data[0] */
	const void *data; /* procmem_for_buffer: the bytes served, not owned */
	size_t size;      /* procmem_for_buffer: how many */
	void *userdata;   /* for a reader of one's own */
};

/* A reader of process @pid's memory, through procmem_read(). */
struct procmem procmem_for_pid(pid_t pid);

/*
 * A reader serving [@base, @base + @size) from @data (not copied: it must
 * outlive the reader); any read reaching outside it fails with -EFAULT.
 */
struct procmem procmem_for_buffer(uint64_t base, const void *data, size_t size);

/* Copy @len bytes at @addr through @m; returns what @m->read returns. */
static inline int procmem__read(const struct procmem *m, uint64_t addr, void *buf, size_t len)
{
	return m->read(m, addr, buf, len);
}

/*
 * Read a target pointer (the target is assumed to be 64-bit) into *@ret.
 * Same returns as procmem__read(); *@ret untouched on failure.
 */
int procmem__read_ptr(const struct procmem *m, uint64_t addr, uint64_t *ret);

/* Read a 32-bit word into *@ret. Same returns; *@ret untouched on failure. */
int procmem__read_u32(const struct procmem *m, uint64_t addr, uint32_t *ret);

/*
 * Copy @len bytes at @addr in process @pid into @buf with process_vm_readv,
 * what procmem_for_pid()'s reader does. Returns as procmem__read() (-ESRCH
 * for a @pid that is not positive).
 */
int procmem_read(pid_t pid, uint64_t addr, void *buf, size_t len);

/* A pointer read from a target that could point at a live object: non-NULL, 8-byte aligned, user half. */
static inline bool procmem_ptr_plausible(uint64_t p)
{
	return p && !(p & 7) && p < (1ull << 47);
}

#endif
