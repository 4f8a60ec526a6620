/* SPDX-License-Identifier: MIT */
/*
 * What we know of one target process: its mappings, read as soon as it is
 * first seen and kept after it exits, and a cache from instruction address to
 * profile frame, so a warm sample costs a hash lookup per frame.
 */
#ifndef HEARTH_PROCESS_H
#define HEARTH_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "procmaps.h"
#include "profile.h"
#include "symcache.h"

struct process;

/* Counters of one process's symbolization. */
struct process_stats {
	uint64_t lookups;      /* addresses resolved (cache misses) */
	uint64_t unknown;      /* of those, left without a symbol */
	uint64_t map_reloads;  /* times /proc/PID/maps was read again */
	uint64_t maps_failed;  /* reads of /proc/PID/maps that failed, the process still there */
};

/* Start tracking @pid and read its mappings now. -ESRCH if it is gone already. */
int process__new(pid_t pid, struct process **ret);
struct process *process__free(struct process *p);

pid_t process__pid(const struct process *p);

/* The process called exec: forget its mappings and read them again. */
int process__reset(struct process *p);

/*
 * The profile frame of user address @addr (for callers, pass the return
 * address minus one). Never fails for lack of a symbol: an unnamed address
 * becomes "module+0xoffset" or "[unknown]". Returns 0 or -errno (profile full).
 */
int process__symbolize(struct process *p, struct symcache *c, struct profile *prof, uint64_t addr,
		       uint32_t *ret_frame);

/* Its mappings as last read (NULL if never read), for unwinding. */
const struct procmaps *process__maps(const struct process *p);

/*
 * Read its mappings again for an unwinder that met an address in no
 * mapping, unless they were read very recently (within the wait
 * symbolization keeps, which grows while its reads find nothing new). With
 * @sample_ns (CLOCK_MONOTONIC, or 0), the time of a sample whose leaf was
 * in no mapping: read them whenever they are older than that. Returns true
 * when they were read.
 */
bool process__reload_maps(struct process *p, uint64_t sample_ns);

/*
 * The mapping holding user address @addr, or NULL. When none holds it the
 * maps are read again, as for symbolization (so a library loaded since is
 * found, with a wait that grows while the reads find nothing new; at once
 * when they are older than @sample_ns, a sample's time, 0 for none): the
 * pointer, as every one into process__maps(), holds until the next call
 * that may read them.
 */
const struct procmap *process__find_map(struct process *p, uint64_t addr, uint64_t sample_ns);

/* The profile is starting over: forget every id of it this process holds. */
void process__forget_profile(struct process *p);

void process__stats(const struct process *p, struct process_stats *ret);

#endif
