// SPDX-License-Identifier: MIT
#include "procmem.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/uio.h>

int procmem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n;

	if (len == 0)
		return 0;
	if (len > SSIZE_MAX || addr + len < addr)
		return -EFAULT;
	if (pid <= 0)
		return -ESRCH;
	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return -errno;
	/* Short means the range crossed into an unmapped page: a failed read. */
	if ((size_t)n != len)
		return -EFAULT;
	return 0;
}

static int procmem_pid_read(const struct procmem *m, uint64_t addr, void *buf, size_t len)
{
	return procmem_read(m->pid, addr, buf, len);
}

struct procmem procmem_for_pid(pid_t pid)
{
	return (struct procmem){ .read = procmem_pid_read, .pid = pid };
}

static int procmem_buffer_read(const struct procmem *m, uint64_t addr, void *buf, size_t len)
{
	uint64_t at;

	if (len == 0)
		return 0;
	/* Written so that no sum can wrap: addr and len are whatever a target made them. */
	if (addr < m->base)
		return -EFAULT;
	at = addr - m->base;
	if (at > m->size || len > m->size - at)
		return -EFAULT;
	memcpy(buf, (const uint8_t *)m->data + at, len);
	return 0;
}

struct procmem procmem_for_buffer(uint64_t base, const void *data, size_t size)
{
	return (struct procmem){ .read = procmem_buffer_read, .base = base, .data = data, .size = size };
}

int procmem__read_ptr(const struct procmem *m, uint64_t addr, uint64_t *ret)
{
	uint64_t v;
	int r;

	r = procmem__read(m, addr, &v, sizeof(v));
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}

int procmem__read_u32(const struct procmem *m, uint64_t addr, uint32_t *ret)
{
	uint32_t v;
	int r;

	r = procmem__read(m, addr, &v, sizeof(v));
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}
