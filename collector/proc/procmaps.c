// SPDX-License-Identifier: MIT
#include "procmaps.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"

#define PROCMAPS_MAX_TEXT (64u << 20)
/* Reads of a maps file torn by a concurrent mmap before giving up. */
#define PROCMAPS_READ_TRIES 4

int read_proc_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		if (len + 4096 + 1 > cap) {
			size_t c = cap ? cap * 2 : 16384;
			char *b;

			if (c > max + 1)
				c = max + 1;
			if (c <= len + 1)
				return -E2BIG;
			b = realloc(buf, c);
			if (!b)
				return -ENOMEM;
			buf = b;
			cap = c;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

struct procmaps *procmaps__free(struct procmaps *m)
{
	if (!m)
		return NULL;
	free(m->maps);
	free(m->text);
	free(m);
	return NULL;
}

/* Parse one line in place; the path is NUL-terminated inside @line. */
static int procmaps_parse_line(char *line, struct procmap *ret)
{
	struct procmap m = { .path = "" };
	char perms[5] = "";
	unsigned long long start, end, offset, inode;
	unsigned int major, minor;
	int pos = 0;
	char *path;

	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, perms, &offset, &major,
		   &minor, &inode, &pos) < 7 || pos == 0)
		return -EPROTO;
	if (end < start || strlen(perms) != 4)
		return -EPROTO;
	m.start = start;
	m.end = end;
	m.offset = offset;
	m.dev_major = major;
	m.dev_minor = minor;
	m.inode = inode;
	m.prot = (perms[0] == 'r' ? PROCMAP_READ : 0) | (perms[1] == 'w' ? PROCMAP_WRITE : 0) |
		 (perms[2] == 'x' ? PROCMAP_EXEC : 0) | (perms[3] == 's' ? PROCMAP_SHARED : 0);
	path = line + pos;
	while (*path == ' ')
		path++;
	if (*path) {
		size_t n = strlen(path);
		static const char deleted[] = " (deleted)";

		if (n > sizeof(deleted) - 1 && !strcmp(path + n - (sizeof(deleted) - 1), deleted)) {
			path[n - (sizeof(deleted) - 1)] = '\0';
			m.deleted = true;
		}
		m.path = path;
	}
	*ret = m;
	return 0;
}

int procmaps__parse(const char *text, size_t len, struct procmaps **ret)
{
	_cleanup_(procmaps__freep) struct procmaps *m = calloc(1, sizeof(*m));
	size_t nr_lines = 0;
	char *line, *save = NULL;

	if (!m)
		return -ENOMEM;
	m->text = malloc(len + 1);
	if (!m->text)
		return -ENOMEM;
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	for (size_t i = 0; i < len; i++)
		nr_lines += text[i] == '\n';
	nr_lines++;
	if (nr_lines > PROCMAPS_MAX_ENTRIES + 1)
		return -E2BIG;
	m->maps = calloc(nr_lines, sizeof(*m->maps));
	if (!m->maps)
		return -ENOMEM;
	for (line = strtok_r(m->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int r = procmaps_parse_line(line, &m->maps[m->nr]);

		if (r < 0)
			return r;
		/* The kernel lists mappings in address order; refuse anything else. */
		if (m->nr && m->maps[m->nr].start < m->maps[m->nr - 1].end)
			return -EPROTO;
		m->nr++;
	}
	*ret = TAKE_PTR(m);
	return 0;
}

int procmaps__read(pid_t pid, struct procmaps **ret)
{
	_cleanup_free_ char *text = NULL;
	char path[64];
	size_t len;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	/*
	 * The kernel writes the file a page at a time and lets go of the
	 * address space in between: a process that maps or unmaps meanwhile
	 * makes the text torn (a line twice, out of order, or cut). Read it
	 * again; a few tries, then the caller goes on without.
	 */
	for (int tries = 0;; tries++) {
		r = read_proc_file(path, PROCMAPS_MAX_TEXT, &text, &len);
		if (r == -ENOENT || r == -ESRCH)
			return -ESRCH;
		if (r < 0)
			return r;
		/*
		 * A process that exited but is not reaped yet (a zombie, as a
		 * recorded command is until record waits for it) reads as no
		 * mappings at all, as no live process does: it is gone, and the
		 * caller keeps the maps it had for samples still to drain.
		 */
		if (len == 0)
			return -ESRCH;
		r = procmaps__parse(text, len, ret);
		if (r != -EPROTO || tries == PROCMAPS_READ_TRIES - 1)
			return r;
		text = mfree(text);
	}
}

const struct procmap *procmaps__find(const struct procmaps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m->maps[mid].start)
			hi = mid;
		else if (addr >= m->maps[mid].end)
			lo = mid + 1;
		else
			return &m->maps[mid];
	}
	return NULL;
}

int procmap__open(const struct procmap *m, pid_t pid)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, m->path) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

bool procmap__is_file(const struct procmap *m)
{
	return m->path[0] == '/' && m->inode != 0;
}

int proc_read_comm(pid_t pid, char *buf, size_t size)
{
	char path[64];
	_cleanup_fclose_ FILE *f = NULL;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, (int)size, f)) {
		buf[0] = '\0';
		return -EIO;
	}
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int proc_read_nspid(pid_t pid, pid_t *ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	char path[64], line[256];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + 6, *end;
		long last = -1;

		if (strncmp(line, "NSpid:", 6))
			continue;
		/* One number per nested namespace, the host's first: the last is the process's own. */
		for (;;) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			last = v;
			p = end;
		}
		if (last <= 0 || last > INT32_MAX)
			return -EPROTO;
		*ret = (pid_t)last;
		return 0;
	}
	return -ENOENT; /* a kernel before 4.1 */
}
