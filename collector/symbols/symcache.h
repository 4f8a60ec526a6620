/* SPDX-License-Identifier: MIT */
/*
 * Symbol tables shared between processes: a binary mapped by 100 processes is
 * parsed once. Keyed by device and inode, and by build-id so the same file in
 * two containers is parsed once too. Bounded: past the limit the least
 * recently used tables not held by a process are dropped.
 */
#ifndef HEARTH_SYMCACHE_H
#define HEARTH_SYMCACHE_H

#include <stddef.h>
#include <sys/types.h>

#include "elfsym.h"
#include "procmaps.h"

struct symcache;

struct symcache_stats {
	size_t files;     /* tables held */
	size_t hits;
	size_t misses;    /* files parsed */
	size_t failures;  /* files that could not be opened or parsed */
	size_t evictions;
	size_t memory;    /* bytes held */
};

int symcache__new(size_t max_files, struct symcache **ret);
struct symcache *symcache__free(struct symcache *c);

/*
 * The symbols of the file behind mapping @m of process @pid, opened through
 * /proc/PID/map_files or /proc/PID/root so other mount namespaces and deleted
 * files work. Returns 0 and a new reference in *ret, or -errno.
 */
int symcache__get(struct symcache *c, pid_t pid, const struct procmap *m, struct elfsym **ret);

/* The symbols of the vDSO (the same image in every process). New reference or -errno. */
int symcache__vdso(struct symcache *c, struct elfsym **ret);

void symcache__stats(const struct symcache *c, struct symcache_stats *ret);

#endif
