// SPDX-License-Identifier: MIT
#include "symcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "cleanup.h"

struct symcache_entry {
	uint32_t dev_major, dev_minor;
	uint64_t inode;
	uint64_t last_use;
	struct elfsym *syms; /* NULL: the file failed; remembered so we do not retry per sample */
};

struct symcache {
	size_t max_files;
	struct symcache_entry *entries;
	size_t nr;
	uint64_t tick;
	struct elfsym *vdso;
	int vdso_error;
	struct symcache_stats stats;
};

int symcache__new(size_t max_files, struct symcache **ret)
{
	struct symcache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->max_files = max_files ? max_files : 1;
	c->entries = calloc(c->max_files, sizeof(*c->entries));
	if (!c->entries) {
		free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

struct symcache *symcache__free(struct symcache *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->nr; i++)
		elfsym__unref(c->entries[i].syms);
	elfsym__unref(c->vdso);
	free(c->entries);
	free(c);
	return NULL;
}

static struct symcache_entry *symcache_slot(struct symcache *c)
{
	size_t victim = SIZE_MAX;

	if (c->nr < c->max_files)
		return &c->entries[c->nr++];
	/* Evict the least recently used entry; a process still holding it keeps its reference. */
	for (size_t i = 0; i < c->nr; i++)
		if (victim == SIZE_MAX || c->entries[i].last_use < c->entries[victim].last_use)
			victim = i;
	elfsym__unref(c->entries[victim].syms);
	c->stats.evictions++;
	return &c->entries[victim];
}

int symcache__get(struct symcache *c, pid_t pid, const struct procmap *m, struct elfsym **ret)
{
	_cleanup_close_ int fd = -1;
	struct symcache_entry *e;
	struct elfsym *syms = NULL;
	char root[64];
	int r;

	c->tick++;
	for (size_t i = 0; i < c->nr; i++) {
		e = &c->entries[i];
		if (e->inode == m->inode && e->dev_major == m->dev_major && e->dev_minor == m->dev_minor) {
			e->last_use = c->tick;
			c->stats.hits++;
			if (!e->syms)
				return -ENOENT;
			*ret = elfsym__ref(e->syms);
			return 0;
		}
	}

	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	fd = procmap__open(m, pid);
	if (fd < 0) {
		/* Not remembered: the file may be readable through another process later. */
		c->stats.failures++;
		return fd;
	}
	r = elfsym__new(fd, root, m->path, &syms);
	c->stats.misses++;
	if (r < 0)
		c->stats.failures++;

	/* Same build-id under another inode (another container's copy): share the table. */
	if (r == 0 && elfsym__build_id(syms)) {
		for (size_t i = 0; i < c->nr; i++) {
			const char *b = c->entries[i].syms ? elfsym__build_id(c->entries[i].syms) : NULL;

			if (b && !strcmp(b, elfsym__build_id(syms))) {
				elfsym__unref(syms);
				syms = elfsym__ref(c->entries[i].syms);
				break;
			}
		}
	}
	e = symcache_slot(c);
	*e = (struct symcache_entry){
		.dev_major = m->dev_major,
		.dev_minor = m->dev_minor,
		.inode = m->inode,
		.last_use = c->tick,
		.syms = syms,
	};
	if (r < 0)
		return r;
	*ret = elfsym__ref(syms);
	return 0;
}

int symcache__vdso(struct symcache *c, struct elfsym **ret)
{
	unsigned long base;
	size_t size = 0;

	if (c->vdso) {
		*ret = elfsym__ref(c->vdso);
		return 0;
	}
	if (c->vdso_error)
		return c->vdso_error;
	base = getauxval(AT_SYSINFO_EHDR);
	if (base) {
		struct procmaps *self = NULL;

		if (procmaps__read(getpid(), &self) == 0) {
			const struct procmap *m = procmaps__find(self, base);

			if (m && !strcmp(m->path, "[vdso]"))
				size = m->end - base;
			procmaps__free(self);
		}
	}
	if (!size) {
		c->vdso_error = -ENOENT;
		return c->vdso_error;
	}
	c->vdso_error = elfsym__new_memory((const void *)base, size, &c->vdso);
	if (c->vdso_error < 0)
		return c->vdso_error;
	*ret = elfsym__ref(c->vdso);
	return 0;
}

void symcache__stats(const struct symcache *c, struct symcache_stats *ret)
{
	*ret = c->stats;
	ret->files = c->nr;
	ret->memory = 0;
	for (size_t i = 0; i < c->nr; i++)
		if (c->entries[i].syms)
			ret->memory += elfsym__memory(c->entries[i].syms);
}
