// SPDX-License-Identifier: MIT
#include "collector.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "cleanup.h"
#include "collector-internal.h"
#include "intern.h"
#include "kstack.h"
#include "sampleview.h"
#include "log.h"
#include "process.h"
#include "procmaps.h"
#include "sampler.h"
#include "symcache.h"

static int collector_record(void *ctx, const void *data, size_t size);

int collector__new(const struct collector_options *o, struct collector **ret)
{
	_cleanup_(collector__freep) struct collector *c = calloc(1, sizeof(*c));
	struct sampler_options so = {
		.rate_hz = o->rate_hz,
		.kernel_stacks = o->kernel,
		.user_stacks = true,
		.ring_bytes = o->ring_bytes,
		.all_processes = o->all_processes,
		.stack_copy_bytes = o->stack_bytes,
		.stack_copy_some = o->unwind_auto,
		/* Without --native, Python samples need the stack down to the loop only. */
		.py_stack_copy_bytes = o->native ? 0 : COLLECTOR_PY_STACK_COPY,
		.periodic = o->periodic,
		.gil = o->gil_only,
	};
	int r;

	if (!c)
		return -ENOMEM;
	c->opts = *o;
	c->sleep_ms = COLLECTOR_SLEEP_MIN_MS;
	if (!c->opts.max_processes)
		c->opts.max_processes = COLLECTOR_DEFAULT_MAX_PROCESSES;
	if ((r = profile__new(&c->profile)) < 0 || (r = kstack__new(&c->kstack)) < 0 ||
	    (r = symcache__new(COLLECTOR_SYMCACHE_FILES, &c->symcache)) < 0 ||
	    (r = intern__new(c->opts.max_processes, &c->pids)) < 0)
		return r;
	c->targets = calloc(c->opts.max_processes, sizeof(*c->targets));
	if (!c->targets)
		return -ENOMEM;
	if (c->opts.stack_bytes && (r = unwinder__new(0, &c->unwinder)) < 0)
		return r;
	r = sampler__new(&so, collector_record, c, &c->sampler);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

struct collector *collector__free(struct collector *c)
{
	if (!c)
		return NULL;
	sampler__free(c->sampler);
	unwinder__free(c->unwinder);
	intern__free(c->fp_files);
	intern__free(c->root_rets);
	if (c->targets && c->pids)
		for (size_t i = 0; i < intern__count(c->pids); i++) {
			process__free(c->targets[i].process);
			pyprocess__free(c->targets[i].py);
		}
	free(c->targets);
	intern__free(c->pids);
	kstack__free(c->kstack);
	symcache__free(c->symcache);
	profile__free(c->profile);
	free(c);
	return NULL;
}

struct profile *collector__profile(struct collector *c)
{
	return c->profile;
}

int collector__restart_profile(struct collector *c)
{
	struct profile *p;
	const struct profile_info *old = profile__info_const(c->profile);
	int r;

	r = profile__new(&p);
	if (r < 0)
		return r;
	*profile__info(p) = *old;
	profile__info(p)->target = NULL;
	if (old->target && (r = profile__set_target(p, old->target)) < 0) {
		profile__free(p);
		return r;
	}
	profile__free(c->profile);
	c->profile = p;
	kstack__forget_profile(c->kstack);
	if ((r = collector_targets_new_profile(c)) < 0)
		return r;
	c->stats.profile_restarts++;
	return 0;
}

int collector__fd(const struct collector *c)
{
	return sampler__epoll_fd(c->sampler);
}

int collector__add_pid(struct collector *c, pid_t pid)
{
	struct process *p;
	uint32_t flags = c->opts.follow_children ? HEARTH_TARGET_FOLLOW_CHILDREN : 0;
	char path[32];
	int r;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (access(path, F_OK) < 0)
		return -ESRCH;
	r = sampler__add_target(c->sampler, pid, flags);
	if (r < 0)
		return r;
	r = collector_target(c, pid, true, &p, NULL);
	if (r < 0)
		return r;
	/* It may have exited between the check and the map update. */
	if (access(path, F_OK) < 0)
		return -ESRCH;
	return 0;
}

/* Make @pid, found in a watched cgroup, a target unless it is one already. */
static int collector_join(void *ctx, pid_t pid)
{
	struct collector *c = ctx;
	struct process *p;
	int r;

	r = sampler__join_target(c->sampler, pid, HEARTH_TARGET_FOLLOW_CHILDREN | HEARTH_TARGET_CGROUP);
	if (r <= 0)
		return r == -E2BIG ? 0 : r;
	c->scan_joined++;
	r = collector_target(c, pid, false, &p, NULL);
	return r == -ESRCH || r == -E2BIG ? 0 : r;
}

static unsigned int collector_max_level(const struct collector *c)
{
	unsigned int max = 0;

	for (size_t i = 0; i < c->nr_watches; i++)
		if (!c->watches[i].v1 && c->watches[i].level > max)
			max = c->watches[i].level;
	return max;
}

int collector__add_container(struct collector *c, pid_t pid, struct cgroup_watch *ret)
{
	struct cgroup_watch w;
	int r;

	r = cgroup_find(pid, &w);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->nr_watches; i++)
		if (c->watches[i].v1 == w.v1 && !strcmp(c->watches[i].path, w.path) &&
		    !strcmp(c->watches[i].controller, w.controller))
			return -EEXIST;
	if (c->nr_watches == HEARTH_MAX_CGROUPS)
		return -E2BIG;
	if (!w.v1 && w.level > HEARTH_CGROUP_MAX_LEVEL)
		return -E2BIG;
	c->watches[c->nr_watches++] = w;
	if (!w.v1 && (r = sampler__watch_cgroup(c->sampler, w.id, collector_max_level(c))) < 0) {
		c->nr_watches--;
		return r;
	}
	/* Those in it now are targets at once, with their maps read. */
	r = cgroup_for_each_pid(&w, collector_join, c);
	if (r < 0)
		return r;
	*ret = w;
	return 0;
}

struct unwatch {
	struct collector *c;
	const struct cgroup_watch *w;
};

static int collector_unwatch_target(void *ctx, pid_t pid, uint32_t flags)
{
	struct unwatch *u = ctx;

	if (!(flags & HEARTH_TARGET_CGROUP) || !cgroup_contains(u->w, pid))
		return 0;
	return sampler__remove_target(u->c->sampler, pid);
}

int collector__remove_container(struct collector *c, const char *path)
{
	struct cgroup_watch w;
	struct unwatch u = { c, &w };
	size_t i;
	int r;

	for (i = 0; i < c->nr_watches; i++)
		if (!strcmp(c->watches[i].path, path))
			break;
	if (i == c->nr_watches)
		return -ENOENT;
	w = c->watches[i];
	c->watches[i] = c->watches[--c->nr_watches];
	if (!w.v1 && (r = sampler__unwatch_cgroup(c->sampler, w.id, collector_max_level(c))) < 0)
		return r;
	return sampler__for_each_target(c->sampler, collector_unwatch_target, &u);
}

int collector__remove_pid(struct collector *c, pid_t pid)
{
	return sampler__remove_target(c->sampler, pid);
}

int collector__start(struct collector *c)
{
	struct sampler_clock_info ci;
	int r = sampler__start(c->sampler);

	if (r < 0)
		return r;
	sampler__clock_info(c->sampler, &ci);
	c->stats.clock_cpus = ci.clock_cpus;
	c->stats.perf_cpus = ci.perf_cpus;
	c->stats.clock_error = ci.arm_error;
	c->stats.max_sample_rate = ci.max_sample_rate;
	return 0;
}

void collector__stop(struct collector *c)
{
	sampler__stop(c->sampler);
	collector__drain(c);
}

/*
 * After a drain: how long the next sleep may be. A drain that read new code
 * objects or met new processes may be followed by more of them, and a
 * process can take its code objects with it when it exits a second later
 * (its native frames are named from maps read at its start, kept after its
 * exit): drain again soon. One that read none doubles the sleep, up to
 * COLLECTOR_SLEEP_MAX_MS, where a steady service's profiler wakes once a
 * second (a wake-up costs more than a sample at 49 or 99 Hz).
 */
static void collector_drained(struct collector *c, uint64_t reads_before, uint64_t processes_before)
{
	if (c->code_reads > reads_before || c->stats.processes > processes_before)
		c->sleep_ms = COLLECTOR_SLEEP_MIN_MS;
	else if (c->sleep_ms < COLLECTOR_SLEEP_MAX_MS)
		c->sleep_ms = c->sleep_ms * 2 > COLLECTOR_SLEEP_MAX_MS ? COLLECTOR_SLEEP_MAX_MS : c->sleep_ms * 2;
}

int collector__drain(struct collector *c)
{
	uint64_t reads = c->code_reads, processes = c->stats.processes;
	int r;

	c->drain_deadline_ns = 0;
	r = sampler__drain(c->sampler);
	collector_drained(c, reads, processes);
	return r;
}

int collector__drain_for(struct collector *c, uint64_t budget_ns)
{
	uint64_t before = c->drained, reads = c->code_reads, processes = c->stats.processes;
	int r;

	c->drain_deadline_ns = time_now_ns() + budget_ns;
	r = sampler__drain(c->sampler);
	c->drain_deadline_ns = 0;
	collector_drained(c, reads, processes);
	if (r == -EAGAIN)
		return (int)(c->drained - before);
	return r;
}

static int collector_record(void *ctx, const void *data, size_t size)
{
	struct collector *c = ctx;
	const struct hearth_task_event *e;
	struct sample_view v;
	struct process *p;
	uint32_t type;
	int r;

	/* Out of time: the record stays in the ring buffer (libbpf consumes only up to it). */
	if (c->drain_deadline_ns && !(c->drained & 15) && time_now_ns() > c->drain_deadline_ns)
		return -EAGAIN;
	c->drained++;
	if (record_view_type(data, size, &type) < 0)
		goto malformed;
	switch (type) {
	case HEARTH_EVENT_SAMPLE:
		if (sample_view_parse(data, size, &v) < 0)
			goto malformed;
		/* Whatever goes wrong with one sample (memory, a target read), the next is taken. */
		r = collector_sample(c, &v);
		if (r < 0)
			collector_fault(c, COLLECTOR_FAULT_SAMPLE, (pid_t)v.s->pid, r, "making its stack");
		return 0;
	case HEARTH_EVENT_EXIT:
		if (task_event_parse(data, size, &e) < 0)
			goto malformed;
		/* Its samples all came before this notice: what we knew of it can go. */
		collector_target_exited(c, e->pid);
		if (c->unwinder)
			unwinder__forget_process(c->unwinder, e->pid);
		return 0;
	case HEARTH_EVENT_FORK:
	case HEARTH_EVENT_EXEC:
		if (task_event_parse(data, size, &e) < 0)
			goto malformed;
		if (c->unwinder && type == HEARTH_EVENT_EXEC)
			unwinder__forget_process(c->unwinder, e->pid);
		/* Read the maps now: a short-lived child may be gone by its first sample. */
		if (collector_target(c, e->pid, true, &p, NULL) == 0 && type == HEARTH_EVENT_FORK &&
		    c->opts.on_new_process)
			c->opts.on_new_process(c->opts.ctx, e->pid);
		return 0;
	}
malformed:
	c->stats.malformed++;
	return 0;
}

int collector__tick(struct collector *c)
{
	uint64_t now = time_now_ns();

	unwinder__trim(c->unwinder);

	if (intern__count(c->pids) >= c->opts.max_processes / 4 * 3) {
		int r = collector_compact_targets(c);

		/* Out of memory for the new table: the old one goes on, fuller. */
		if (r < 0)
			collector_fault(c, COLLECTOR_FAULT_TARGET, 0, r, "compacting the table of processes");
	}

	/* v1 hierarchies have no cgroup id for BPF to match: their members are polled. */
	if (now - c->v1_scan_ns >= 100000000ull) {
		c->v1_scan_ns = now;
		for (size_t i = 0; i < c->nr_watches; i++) {
			int r;

			if (!c->watches[i].v1)
				continue;
			r = cgroup_for_each_pid(&c->watches[i], collector_join, c);
			if (r < 0 && r != -ESRCH && r != -ENOENT)
				collector_fault(c, COLLECTOR_FAULT_TARGET, 0, r, "listing a watched cgroup");
		}
	}
	c->looking = collector_probe_pythons(c);
	return c->looking;
}

int collector__tick_ms(const struct collector *c)
{
	if (c->looking)
		return 10;
	for (size_t i = 0; i < c->nr_watches; i++)
		if (c->watches[i].v1)
			return COLLECTOR_SLEEP_MIN_MS;
	return (int)c->sleep_ms;
}

