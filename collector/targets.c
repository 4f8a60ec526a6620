// SPDX-License-Identifier: MIT
/*
 * The table of processes the collector has met: one struct target each, at
 * the index the pid has in c->pids. Created (maps read, interpreter and
 * container looked for, unwinding decided) on first sight, freed at exit,
 * compacted when the pid table fills.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cgroup.h"
#include "cleanup.h"
#include "collector-internal.h"
#include "intern.h"
#include "log.h"
#include "process.h"
#include "procmaps.h"
#include "sampler.h"

/*
 * Look for CPython in process @id if it is due; tell the sampler once found,
 * and the caller once settled.
 */
int collector_python_probe(struct collector *c, size_t id, pid_t pid)
{
	struct pyprocess *py = c->targets[id].py;
	struct hearth_pyproc b;
	int r;

	if (!py || pyprocess__state(py) != PYPROCESS_LOOKING)
		return 0;
	r = pyprocess__probe(py, time_now_ns(), &b);
	if (r == 1) {
		c->stats.py_processes += pyprocess__state(py) == PYPROCESS_ACTIVE;
		r = sampler__set_python(c->sampler, pid, &b);
		if (r < 0)
			return r;
		/*
		 * --unwind auto left a frame-pointer interpreter to little copies
		 * before it was known to be one: its Python samples get their
		 * native frames from the copy alone (collector_decide_walks()).
		 */
		if (pyprocess__state(py) == PYPROCESS_ACTIVE && c->opts.unwind_auto &&
		    !c->targets[id].walks.deciding && !c->targets[id].dwarf_on &&
		    (r = sampler__set_copy(c->sampler, pid, HEARTH_COPY_STACK)) < 0)
			return r;
	}
	if (pyprocess__state(py) != PYPROCESS_LOOKING && c->opts.on_python)
		c->opts.on_python(c->opts.ctx, pid, py);
	return 0;
}

/*
 * Where process @id runs: its container id (from its cgroup path) and its pid
 * in its own namespace. Unknown (gone) leaves them empty; only a full
 * profile is an error.
 */
static int collector_read_container(struct collector *c, size_t id, pid_t pid)
{
	_cleanup_free_ char *text = NULL;
	char path[64], cid[CGROUP_CONTAINER_ID_LEN + 1];
	size_t len;
	pid_t ns_pid;
	int64_t sid;

	c->targets[id].container = 0;
	c->targets[id].ns_pid = proc_read_nspid(pid, &ns_pid) == 0 ? (uint32_t)ns_pid : 0;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_proc_file(path, 65536, &text, &len) < 0 || cgroup_parse_container_id(text, cid, sizeof(cid)) < 0)
		return 0;
	sid = profile__intern(c->profile, cid);
	if (sid < 0)
		return (int)sid;
	c->targets[id].container = (uint32_t)sid;
	return 0;
}

/* The process entry of @pid, created (maps read) on first sight; its index in *@ret_id. */
int collector_target(struct collector *c, pid_t pid, bool reset, struct process **ret, size_t *ret_id)
{
	int64_t id;
	int added, r;

	id = intern__add(c->pids, &pid, sizeof(pid), &added);
	if (id < 0)
		return (int)id;
	if (added || !c->targets[id].process) {
		/* New; or gone before first sight, or exited and forgotten: the number may be in use again. */
		c->targets[id].container = c->targets[id].ns_pid = 0;
		r = process__new(pid, &c->targets[id].process);
		if (r < 0) {
			c->targets[id].process = NULL;
			return r;
		}
		/* Past here a failure leaves the process less well named, never unsampled. */
		if ((r = collector_read_container(c, (size_t)id, pid)) < 0 && r != -ESRCH)
			collector_fault(c, COLLECTOR_FAULT_TARGET, pid, r, "its container");
		if (c->opts.python && !c->targets[id].py &&
		    (r = pyprocess__new(pid, &c->opts.py, &c->targets[id].py)) < 0)
			collector_fault(c, COLLECTOR_FAULT_TARGET, pid, r, "its interpreter");
		c->stats.processes += added;
		added = 1;
	} else if (reset) {
		process__reset(c->targets[id].process);
		if (c->targets[id].py)
			pyprocess__reset(c->targets[id].py);
	}
	if (added || reset) {
		r = collector_python_probe(c, (size_t)id, pid);
		if (r < 0 && r != -ESRCH)
			collector_fault(c, COLLECTOR_FAULT_TARGET, pid, r, "looking for an interpreter");
		if (c->opts.unwind_auto && c->opts.stack_bytes &&
		    (r = collector_decide_unwind(c, (size_t)id, c->targets[id].process, pid)) < 0 && r != -ENOENT &&
		    r != -ESRCH)
			collector_fault(c, COLLECTOR_FAULT_TARGET, pid, r, "deciding how to unwind it");
	}
	*ret = c->targets[id].process;
	if (ret_id)
		*ret_id = (size_t)id;
	return 0;
}

void collector_target_exited(struct collector *c, pid_t pid)
{
	int64_t id = intern__find(c->pids, &pid, sizeof(pid));
	struct target *t;

	if (id < 0)
		return;
	t = &c->targets[id];
	if (t->process) {
		struct process_stats ps;

		process__stats(t->process, &ps);
		c->maps_failed_exited += ps.maps_failed;
	}
	process__free(t->process);
	pyprocess__free(t->py);
	*t = (struct target){ 0 }; /* its pid may come back: a new process */
	c->stats.exited++;
}

/*
 * The pid table has no deletion: once three quarters full, build it again
 * with the processes still known (exited ones were freed at their exit), so
 * a machine that runs millions of processes over weeks keeps naming frames.
 * Ids only move down, so the targets move in place.
 */
int collector_compact_targets(struct collector *c)
{
	struct intern *pids;
	size_t n = intern__count(c->pids);
	int r;

	r = intern__new(c->opts.max_processes, &pids);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const pid_t *pid = intern__get(c->pids, (uint32_t)i, NULL);
		int64_t id;

		if (!c->targets[i].process && !c->targets[i].py)
			continue;
		id = intern__add(pids, pid, sizeof(*pid), NULL);
		if (id < 0) {
			intern__free(pids);
			return (int)id;
		}
		if ((size_t)id == i)
			continue;
		c->targets[id] = c->targets[i];
		c->targets[i] = (struct target){ 0 };
	}
	intern__free(c->pids);
	c->pids = pids;
	c->stats.pid_compactions++;
	return 0;
}

/* Look again for the interpreter of every process still without one. Returns how many are still looked at. */
int collector_probe_pythons(struct collector *c)
{
	int looking = 0;

	for (size_t i = 0; i < intern__count(c->pids); i++) {
		const pid_t *pid = intern__get(c->pids, (uint32_t)i, NULL);
		int r;

		if (!c->targets[i].process || !c->targets[i].py || pyprocess__state(c->targets[i].py) != PYPROCESS_LOOKING)
			continue;
		r = collector_python_probe(c, i, *pid);
		if (r < 0 && r != -ESRCH)
			collector_fault(c, COLLECTOR_FAULT_TARGET, *pid, r, "looking for an interpreter");
		looking += pyprocess__state(c->targets[i].py) == PYPROCESS_LOOKING;
	}
	return looking;
}

/* A new profile: the targets' ids of names and frames refer to the old one. Returns 0 or -errno. */
int collector_targets_new_profile(struct collector *c)
{
	int r;

	for (size_t i = 0; i < intern__count(c->pids); i++) {
		const pid_t *pid = intern__get(c->pids, (uint32_t)i, NULL);

		if (c->targets[i].py && (r = pyprocess__forget_profile(c->targets[i].py)) < 0)
			return r;
		c->targets[i].container = 0;
		if (!c->targets[i].process)
			continue;
		process__forget_profile(c->targets[i].process);
		if ((r = collector_read_container(c, i, *pid)) < 0)
			return r;
	}
	return 0;
}
