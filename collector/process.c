// SPDX-License-Identifier: MIT
#include "process.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "intern.h"
#include "log.h"
#include "procmaps.h"

/* Cached addresses per process before the cache starts over. */
#define PROCESS_ADDR_CACHE_MAX 65536
/*
 * An address in no mapping makes us reread the maps (a library loaded since),
 * at most once per interval; the interval doubles each time a reread does not
 * help (garbage addresses from a broken frame chain) and resets when one does.
 */
#define PROCESS_RELOAD_MIN_NS (20ull * 1000 * 1000)
#define PROCESS_RELOAD_MAX_NS (5000ull * 1000 * 1000)

struct process_module {
	int state; /* 0: not loaded yet, 1: loaded, -errno: failed */
	struct elfsym *syms;
	uint32_t mapping; /* profile mapping id, 0 until first used */
};

struct process {
	pid_t pid;
	struct procmaps *maps;
	struct process_module *modules; /* parallel to maps->maps */
	struct intern *addr_cache;      /* key: uint64_t address */
	uint32_t *addr_frames;          /* frame id per cache id */
	uint64_t last_reload_ns;
	uint64_t reload_interval_ns;
	bool gone; /* /proc/PID vanished: keep what we have */
	struct process_stats stats;
};

static void process_drop_maps(struct process *p)
{
	if (p->maps && p->modules)
		for (size_t i = 0; i < p->maps->nr; i++)
			elfsym__unref(p->modules[i].syms);
	free(p->modules);
	p->modules = NULL;
	p->maps = procmaps__free(p->maps);
}

static void process_drop_cache(struct process *p)
{
	p->addr_cache = intern__free(p->addr_cache);
	free(p->addr_frames);
	p->addr_frames = NULL;
}

const struct procmaps *process__maps(const struct process *p)
{
	return p->maps;
}

void process__forget_profile(struct process *p)
{
	process_drop_cache(p);
	if (p->maps && p->modules)
		for (size_t i = 0; i < p->maps->nr; i++)
			p->modules[i].mapping = 0;
}

static int process_load_maps(struct process *p)
{
	struct procmaps *maps = NULL;
	int r;

	p->last_reload_ns = time_now_ns();
	r = procmaps__read(p->pid, &maps);
	if (r < 0) {
		if (r == -ESRCH)
			p->gone = true;
		return r;
	}
	process_drop_maps(p);
	process_drop_cache(p);
	p->modules = calloc(maps->nr ? maps->nr : 1, sizeof(*p->modules));
	if (!p->modules) {
		procmaps__free(maps);
		return -ENOMEM;
	}
	p->maps = maps;
	return 0;
}

int process__new(pid_t pid, struct process **ret)
{
	struct process *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->pid = pid;
	p->reload_interval_ns = PROCESS_RELOAD_MIN_NS;
	/*
	 * Without its maps (gone, refused, torn by every read, too many) the
	 * process still gets an entry, reloaded when an address needs it.
	 */
	r = process_load_maps(p);
	if (r == -ENOMEM) {
		process__free(p);
		return r;
	}
	if (r < 0 && r != -ESRCH)
		p->stats.maps_failed++;
	/*
	 * A process that already exited still gets an entry: its samples are in
	 * the ring buffer and keep their addresses as "[unknown]" frames.
	 */
	*ret = p;
	return 0;
}

struct process *process__free(struct process *p)
{
	if (!p)
		return NULL;
	process_drop_maps(p);
	process_drop_cache(p);
	free(p);
	return NULL;
}

pid_t process__pid(const struct process *p)
{
	return p->pid;
}

int process__reset(struct process *p)
{
	p->gone = false;
	p->reload_interval_ns = PROCESS_RELOAD_MIN_NS;
	return process_load_maps(p);
}

void process__stats(const struct process *p, struct process_stats *ret)
{
	*ret = p->stats;
}

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int process_mapping_id(struct process *p, struct profile *prof, size_t i, uint32_t *ret)
{
	const struct procmap *m = &p->maps->maps[i];
	struct process_module *mod = &p->modules[i];
	struct profile_mapping pm = { .start = m->start, .limit = m->end, .offset = m->offset };
	int64_t id;

	if (!mod->mapping) {
		id = profile__intern(prof, m->path[0] ? m->path : "[anon]");
		if (id < 0)
			return (int)id;
		pm.file = (uint32_t)id;
		if (mod->syms && elfsym__build_id(mod->syms)) {
			id = profile__intern(prof, elfsym__build_id(mod->syms));
			if (id < 0)
				return (int)id;
			pm.build_id = (uint32_t)id;
		}
		id = profile__add_mapping(prof, &pm);
		if (id < 0)
			return (int)id;
		mod->mapping = (uint32_t)id;
	}
	*ret = mod->mapping;
	return 0;
}

/*
 * Read the mappings again if the last read is old enough (the interval
 * backs off while reads find nothing new). Returns true when they were read.
 */
static bool process_reload_due(struct process *p, uint64_t sample_ns)
{
	int r;

	if (p->gone || (time_now_ns() - p->last_reload_ns < p->reload_interval_ns &&
			(!sample_ns || sample_ns <= p->last_reload_ns)))
		return false;
	p->stats.map_reloads++;
	r = process_load_maps(p);
	p->stats.maps_failed += r < 0 && r != -ESRCH;
	return r == 0;
}

bool process__reload_maps(struct process *p, uint64_t sample_ns)
{
	/*
	 * Not due yet: leave the wait alone. Doubling it on every call, as a
	 * sample stream calls this, pushed it to its 5 s maximum within a few
	 * samples of an exec, before ld.so had mapped libpython. A leaf newer
	 * than the maps is always worth a read: the wait, grown on garbage
	 * return addresses, would otherwise leave every sample of a library
	 * loaded meanwhile unwound (at most one read per drain: the read is
	 * newer than every sample drained after it).
	 */
	return process_reload_due(p, sample_ns);
}

/* The wait between reads doubles while they find nothing new, and starts over once one does. */
const struct procmap *process__find_map(struct process *p, uint64_t addr, uint64_t sample_ns)
{
	const struct procmap *m = p->maps ? procmaps__find(p->maps, addr) : NULL;

	if (!m && !p->gone &&
	    (time_now_ns() - p->last_reload_ns >= p->reload_interval_ns || sample_ns > p->last_reload_ns)) {
		if (process_reload_due(p, sample_ns))
			m = procmaps__find(p->maps, addr);
		if (m)
			p->reload_interval_ns = PROCESS_RELOAD_MIN_NS;
		else if (p->reload_interval_ns < PROCESS_RELOAD_MAX_NS)
			p->reload_interval_ns *= 2;
	}
	return m;
}

/* Resolve @addr without the cache. */
static int process_resolve(struct process *p, struct symcache *c, struct profile *prof,
			   uint64_t addr, uint32_t *ret_frame, bool *ret_cacheable)
{
	struct profile_frame f = { .kind = PROFILE_FRAME_NATIVE, .address = addr };
	const struct procmap *m;
	const char *name = NULL;
	char buf[512];
	int64_t id;
	int r;

	p->stats.lookups++;
	m = process__find_map(p, addr, 0);
	if (ret_cacheable)
		*ret_cacheable = m != NULL;
	if (m) {
		size_t i = m - p->maps->maps;
		struct process_module *mod = &p->modules[i];

		if (mod->state == 0) {
			if (procmap__is_file(m))
				mod->state = symcache__get(c, p->pid, m, &mod->syms);
			else if (!strcmp(m->path, "[vdso]"))
				mod->state = symcache__vdso(c, &mod->syms);
			else
				mod->state = -ENOENT;
			if (mod->state == 0)
				mod->state = 1;
		}
		if (mod->state == 1) {
			uint64_t vaddr, off = addr - m->start + m->offset;

			/* The vDSO is mapped from offset 0 of its image. */
			if (!procmap__is_file(m))
				off = addr - m->start;
			if (elfsym__offset_to_vaddr(mod->syms, off, &vaddr) == 0)
				name = elfsym__lookup(mod->syms, vaddr, NULL);
		}
		r = process_mapping_id(p, prof, i, &f.mapping);
		if (r < 0)
			return r;
		if (!name) {
			const char *base = m->path[0] ? basename_of(m->path) : "[anon]";
			uint64_t off = addr - m->start + (procmap__is_file(m) ? m->offset : 0);

			snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, base, off);
			name = buf;
		}
	} else {
		log_debug("pid %d: address 0x%" PRIx64 " is in no mapping", (int)p->pid, addr);
		/* All unmapped addresses look alike in a flame graph: one name, many locations. */
		snprintf(buf, sizeof(buf), "[unknown]");
		name = buf;
	}
	if (!name || name == buf)
		f.unknown = 1;
	if (f.unknown)
		p->stats.unknown++;
	id = profile__add_frame_named(prof, &f, name);
	if (id < 0)
		return (int)id;
	*ret_frame = (uint32_t)id;
	return 0;
}

int process__symbolize(struct process *p, struct symcache *c, struct profile *prof, uint64_t addr,
		       uint32_t *ret_frame)
{
	bool cacheable;
	uint32_t frame;
	int64_t id;
	int r;

	if (p->addr_cache) {
		id = intern__find(p->addr_cache, &addr, sizeof(addr));
		if (id >= 0) {
			*ret_frame = p->addr_frames[id];
			return 0;
		}
	}
	r = process_resolve(p, c, prof, addr, &frame, &cacheable);
	if (r < 0)
		return r;
	/* An address in no mapping may be in one after the next reread: do not remember it. */
	if (!cacheable) {
		*ret_frame = frame;
		return 0;
	}
	/* (Re)create the cache here: resolving may have dropped it on a maps reload. */
	if (!p->addr_cache) {
		r = intern__new(PROCESS_ADDR_CACHE_MAX, &p->addr_cache);
		if (r < 0)
			return r;
		p->addr_frames = malloc(PROCESS_ADDR_CACHE_MAX * sizeof(*p->addr_frames));
		if (!p->addr_frames) {
			p->addr_cache = intern__free(p->addr_cache);
			return -ENOMEM;
		}
	}
	id = intern__add(p->addr_cache, &addr, sizeof(addr), NULL);
	if (id == -E2BIG)
		process_drop_cache(p); /* full: start over rather than grow without bound */
	else if (id >= 0)
		p->addr_frames[id] = frame;
	*ret_frame = frame;
	return 0;
}
