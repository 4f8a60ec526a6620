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

int procmem_read_ptr(pid_t pid, uint64_t addr, uint64_t *ret)
{
	uint64_t v;
	int r;

	r = procmem_read(pid, addr, &v, sizeof(v));
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}

int procmem_read_u32(pid_t pid, uint64_t addr, uint32_t *ret)
{
	uint32_t v;
	int r;

	r = procmem_read(pid, addr, &v, sizeof(v));
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}
