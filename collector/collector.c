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
static int collector_read_container(struct collector *c, size_t id, pid_t pid);

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
	c->processes = calloc(c->opts.max_processes, sizeof(*c->processes));
	c->pyprocs = calloc(c->opts.max_processes, sizeof(*c->pyprocs));
	c->containers = calloc(c->opts.max_processes, sizeof(*c->containers));
	c->ns_pids = calloc(c->opts.max_processes, sizeof(*c->ns_pids));
	c->dwarf_on = calloc(c->opts.max_processes, sizeof(*c->dwarf_on));
	c->walks = calloc(c->opts.max_processes, sizeof(*c->walks));
	if (!c->dwarf_on || !c->walks)
		return -ENOMEM;
	if (c->opts.stack_bytes && (r = unwinder__new(0, &c->unwinder)) < 0)
		return r;
	if (!c->processes || !c->pyprocs || !c->containers || !c->ns_pids)
		return -ENOMEM;
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
	if (c->processes && c->pids)
		for (size_t i = 0; i < intern__count(c->pids); i++) {
			process__free(c->processes[i]);
			if (c->pyprocs)
				pyprocess__free(c->pyprocs[i]);
		}
	free(c->processes);
	free(c->pyprocs);
	free(c->containers);
	free(c->ns_pids);
	free(c->dwarf_on);
	free(c->walks);
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
	for (size_t i = 0; i < intern__count(c->pids); i++) {
		const pid_t *pid = intern__get(c->pids, (uint32_t)i, NULL);

		if (c->pyprocs[i] && (r = pyprocess__forget_profile(c->pyprocs[i])) < 0)
			return r;
		c->containers[i] = 0;
		if (!c->processes[i])
			continue;
		process__forget_profile(c->processes[i]);
		if ((r = collector_read_container(c, i, *pid)) < 0)
			return r;
	}
	c->stats.profile_restarts++;
	return 0;
}

int collector__fd(const struct collector *c)
{
	return sampler__epoll_fd(c->sampler);
}

/*
 * Look for CPython in process @id if it is due; tell the sampler once found,
 * and the caller once settled.
 */
static int collector_python_probe(struct collector *c, size_t id, pid_t pid)
{
	struct pyprocess *py = c->pyprocs[id];
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
		if (pyprocess__state(py) == PYPROCESS_ACTIVE && c->opts.unwind_auto && c->walks &&
		    !c->walks[id].deciding && !c->dwarf_on[id] &&
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

	c->containers[id] = 0;
	c->ns_pids[id] = proc_read_nspid(pid, &ns_pid) == 0 ? (uint32_t)ns_pid : 0;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_proc_file(path, 65536, &text, &len) < 0 || cgroup_parse_container_id(text, cid, sizeof(cid)) < 0)
		return 0;
	sid = profile__intern(c->profile, cid);
	if (sid < 0)
		return (int)sid;
	c->containers[id] = (uint32_t)sid;
	return 0;
}

/* The process entry of @pid, created (maps read) on first sight; its index in *@ret_id. */
static int collector_process(struct collector *c, pid_t pid, bool reset, struct process **ret,
			     size_t *ret_id)
{
	int64_t id;
	int added, r;

	id = intern__add(c->pids, &pid, sizeof(pid), &added);
	if (id < 0)
		return (int)id;
	if (added || !c->processes[id]) {
		/* New; or gone before first sight, or exited and forgotten: the number may be in use again. */
		c->containers[id] = c->ns_pids[id] = 0;
		r = process__new(pid, &c->processes[id]);
		if (r < 0) {
			c->processes[id] = NULL;
			return r;
		}
		/* Past here a failure leaves the process less well named, never unsampled. */
		if ((r = collector_read_container(c, (size_t)id, pid)) < 0 && r != -ESRCH)
			collector_fault(c, COLLECTOR_FAULT_TARGET, pid, r, "its container");
		if (c->opts.python && !c->pyprocs[id] &&
		    (r = pyprocess__new(pid, &c->opts.py, &c->pyprocs[id])) < 0)
			collector_fault(c, COLLECTOR_FAULT_TARGET, pid, r, "its interpreter");
		c->stats.processes += added;
		added = 1;
	} else if (reset) {
		process__reset(c->processes[id]);
		if (c->pyprocs[id])
			pyprocess__reset(c->pyprocs[id]);
	}
	if (added || reset) {
		r = collector_python_probe(c, (size_t)id, pid);
		if (r < 0 && r != -ESRCH)
			collector_fault(c, COLLECTOR_FAULT_TARGET, pid, r, "looking for an interpreter");
		if (c->opts.unwind_auto && c->opts.stack_bytes &&
		    (r = collector_decide_unwind(c, (size_t)id, c->processes[id], pid)) < 0 && r != -ENOENT &&
		    r != -ESRCH)
			collector_fault(c, COLLECTOR_FAULT_TARGET, pid, r, "deciding how to unwind it");
	}
	*ret = c->processes[id];
	if (ret_id)
		*ret_id = (size_t)id;
	return 0;
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
	r = collector_process(c, pid, true, &p, NULL);
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
	r = collector_process(c, pid, false, &p, NULL);
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

int collector_special_frame(struct collector *c, enum profile_frame_kind kind, const char *name,
			    uint32_t *ret)
{
	struct profile_frame f = { .kind = kind };
	int64_t id = profile__add_frame_named(c->profile, &f, name);

	if (id < 0)
		return (int)id;
	*ret = (uint32_t)id;
	return 0;
}

int collector_python_frames(struct collector *c, size_t id, const struct hearth_sample *s,
			    const struct hearth_pyframe *pf, size_t np, size_t *n)
{
	struct pyprocess *py = c->pyprocs[id];
	uint64_t reads = pyprocess__code_reads(py);
	size_t before = *n;
	int r;

	for (size_t i = 0; i < np; i++) {
		bool skip;

		r = pyprocess__frame(py, c->profile, &pf[i], s->time_ns, &c->frames[*n], &skip);
		if (r < 0)
			return r;
		if (!skip)
			(*n)++;
	}
	c->code_reads += pyprocess__code_reads(py) - reads;
	if (*n == before)
		return 0;
	c->stats.py_stacks++;
	if (s->flags & HEARTH_SAMPLE_PY_TRUNCATED) {
		c->stats.py_truncated++;
		return collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[truncated]", &c->frames[(*n)++]);
	}
	if (s->flags & HEARTH_SAMPLE_PY_FAILED) {
		c->stats.py_broken++;
		return collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[incomplete]", &c->frames[(*n)++]);
	}
	return 0;
}

/*
 * Frame-pointer walk of process @id ended at return address @last: append
 * to c->frames (at *@n) the start-up frames DWARF found past it, if it did.
 */
static int collector_walk_root(struct collector *c, size_t id, struct process *p, uint64_t last, size_t *n)
{
	const uint64_t *rets;
	size_t k = collector_root_tail(c, id, last, &rets);
	int r;

	for (size_t i = 0; i < k; i++) {
		if ((r = process__symbolize(p, c->symcache, c->profile, rets[i] - 1, &c->frames[*n])) < 0)
			return r;
		(*n)++;
	}
	return 0;
}

/* What the intervals between ticks were: the weights of the samples kept. */
static void collector_count_weight(struct collector *c, uint64_t weight_ns)
{
	uint64_t mean = 1000000000ull / c->opts.rate_hz, bucket = weight_ns / (mean / 8 ? mean / 8 : 1);

	c->stats.weight_ns += weight_ns;
	c->stats.weight_sq += (double)weight_ns * (double)weight_ns;
	c->stats.intervals[bucket < COLLECTOR_INTERVAL_BUCKETS ? bucket : COLLECTOR_INTERVAL_BUCKETS - 1]++;
}

static int collector_sample(struct collector *c, const struct sample_view *v)
{
	const struct hearth_sample *s = v->s;
	const __u64 *kips = v->kips, *uips = v->uips;
	const struct hearth_pyframe *pf = v->py;
	size_t nk = v->nk, nu = v->nu, np = v->np, n = 0, id = 0;
	struct profile_sample key = { .pid = s->pid, .tid = s->tid };
	const struct hearth_uregs *ur = v->uregs;
	bool truncated = nu == HEARTH_MAX_STACK_DEPTH, cut_walk = false, fp_walk = true;
	bool ended = false;
	enum collector_root root = COLLECTOR_ROOT_NONE;
	/* The first user address is where it ran, unless the sample came from the kernel. */
	bool from_kernel = nk || (s->flags & HEARTH_SAMPLE_IN_KERNEL);
	struct process *p;
	char name[96];
	int64_t sid;
	int r;

	c->stats.dwarf_uregs_failed += !!(s->flags & HEARTH_SAMPLE_UREGS_FAILED);
	c->stats.kstack_failed += !!(s->flags & HEARTH_SAMPLE_KSTACK_FAILED);
	c->stats.ustack_failed += !!(s->flags & HEARTH_SAMPLE_USTACK_FAILED);

	/* Without a process entry (gone before first sight, or the table full) frames stay unnamed. */
	r = collector_process(c, s->pid, false, &p, &id);
	if (r == -ESRCH || r == -E2BIG)
		p = NULL;
	else if (r < 0)
		return r;
	if (p && (r = collector_python_probe(c, id, s->pid)) < 0 && r != -ESRCH)
		collector_fault(c, COLLECTOR_FAULT_TARGET, s->pid, r, "looking for an interpreter");
	if (s->flags & HEARTH_SAMPLE_PY) {
		c->stats.py_samples++;
		c->stats.py_no_thread += !(s->flags & HEARTH_SAMPLE_PY_THREAD);
	}
	if (c->opts.gil_only && !(s->flags & HEARTH_SAMPLE_PY_GIL)) {
		c->stats.gil_filtered++;
		return 0;
	}

	/* The clock's own frames (BPF, timer, softirq, interrupt exit) are not the sample's. */
	for (size_t i = nk && (s->flags & HEARTH_SAMPLE_CLOCK) ? kstack__clock_start(c->kstack, (const uint64_t *)kips, nk) : 0;
	     i < nk && c->opts.kernel; i++) {
		/* Past the first, kernel addresses are return addresses: look up the call. */
		r = kstack__frame(c->kstack, c->profile, kips[i] - (i ? 1 : 0), &c->frames[n]);
		if (r < 0)
			goto full;
		n++;
	}
	if (np && p && c->pyprocs[id] && ur && c->unwinder) {
		/* DWARF: the native work under the innermost Python frame, then the Python stack. */
		size_t max = c->opts.native ? HEARTH_MAX_STACK_DEPTH : COLLECTOR_PY_LEAF_DEPTH, nd, before = n;
		bool found = false, cut = false, partial = false;
		const __u64 *dips;

		/*
		 * Only the frames down to the innermost activation of the loop are
		 * shown without --native: unwind that far first (a few frames,
		 * most of the time), the whole stack only if the loop is deeper.
		 */
		for (;;) {
			dips = uips;
			nd = 0;
			r = collector_unwind(c, p, s, ur, max, &dips, &nd, &cut, &partial);
			if (r < 0)
				return r;
			if (dips == uips)
				break;
			if (c->opts.native) {
				r = collector_merge_native(c, id, p, s, pf, np, dips, nd, from_kernel, cut, &n);
				if (r < 0)
					goto full;
				np = 0; /* placed already */
				truncated = cut;
				found = true;
				break;
			}
			if ((r = collector_leaf_natives(c, id, p, dips, nd, from_kernel, &n, &found)) < 0)
				goto full;
			if (found || !partial)
				break;
			/* The same sample, walked again in full: count it once. */
			c->stats.dwarf_samples--;
			c->stats.dwarf_partial--;
			c->stats.dwarf_frames -= nd;
			c->stats.dwarf_stack_bytes -= s->stack_bytes;
			max = HEARTH_MAX_STACK_DEPTH;
		}
		if (!found) {
			n = before;
			c->stats.py_native_missed++;
		}
		ur = NULL; /* the native stack above the Python frames is the interpreter's */
	}
	if (np && p && c->pyprocs[id] && (r = collector_python_frames(c, id, s, pf, np, &n)) < 0)
		goto full;
	/* The frame-pointer walk (fixed at the leaf first) ends where its return addresses leave the code. */
	if (ur && p && c->unwinder && (s->flags & HEARTH_SAMPLE_LEAF_COPY)) {
		size_t head, walked = collector_fix_leaf(c, p, s, ur, &uips, &nu, c->dwarf_ips, &head), full;

		ended = collector_end_walk(p, uips, &nu, s->time_ns);
		full = nu;
		if (collector_cut_walk(c, p, s, uips, &nu, head, from_kernel)) {
			c->stats.walks_cut++;
			cut_walk = true;
		}
		truncated &= !cut_walk && !ended;
		if ((r = collector_watch_walks(c, id, p, s, ur, uips, full, walked, cut_walk)) < 0 && r != -ENOENT)
			return r;
	} else if (ur && p && c->unwinder) {
		const __u64 *fp;
		size_t nfp;
		bool partial;

		/* DWARF's stack is shown, unless it stopped short of the walk as far as that holds. */
		ended = collector_end_walk(p, uips, &nu, s->time_ns);
		truncated &= !ended;
		fp = uips;
		nfp = nu;
		r = collector_unwind(c, p, s, ur, HEARTH_MAX_STACK_DEPTH, &uips, &nu, &truncated, &partial);
		if (r < 0)
			return r;
		if (uips != fp) {
			ended = false; /* DWARF's stops are counted by reason */
			fp_walk = false;
		}
		if (c->walks[id].deciding && uips != fp &&
		    (r = collector_decide_walks(c, id, p, s, ur, fp, nfp, uips, nu)) < 0 && r != -ENOENT)
			return r;
	} else if (p) {
		ended = collector_end_walk(p, uips, &nu, s->time_ns);
		truncated &= !ended;
	}
	c->stats.walks_bad_ret += ended;
	for (size_t i = 0; i < nu; i++) {
		uint64_t addr = uips[i] - (i || from_kernel ? 1 : 0);

		if (p)
			r = process__symbolize(p, c->symcache, c->profile, addr, &c->frames[n]);
		else
			r = collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[unknown]", &c->frames[n]);
		if (r < 0)
			goto full;
		/* What a walk met past the program's or thread's start is not its stack. */
		if (p && fp_walk && collector_past_root(c, p, s->pid, c->frames[n], &root)) {
			c->stats.walks_past_root++;
			truncated = false;
			nu = i;
			break;
		}
		n++;
	}
	/* A walk that ends in start-up code goes on as DWARF went on from there: one root for all. */
	if (p && fp_walk && nu && !truncated && !cut_walk && (r = collector_walk_root(c, id, p, uips[nu - 1], &n)) < 0)
		goto full;
	if (truncated) {
		c->stats.truncated++;
		if ((r = collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[truncated]", &c->frames[n++])) < 0)
			goto full;
	}
	if (cut_walk && (r = collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[incomplete]", &c->frames[n++])) < 0)
		goto full;
	if (n == 0 && (r = collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[no stack]", &c->frames[n++])) < 0)
		goto full;
	for (size_t i = 0; i < n; i++) {
		const struct profile_frame *f = profile__frame(c->profile, c->frames[i]);

		c->stats.unknown_frames += f->unknown;
	}
	c->stats.frames += n;

	sid = profile__intern_len(c->profile, s->process_comm, strnlen(s->process_comm, HEARTH_COMM_LEN));
	if (sid < 0)
		goto full_id;
	key.comm = (uint32_t)sid;
	sid = profile__intern_len(c->profile, s->comm, strnlen(s->comm, HEARTH_COMM_LEN));
	if (sid < 0)
		goto full_id;
	key.thread_name = (uint32_t)sid;
	if (p) {
		key.container = c->containers[id];
		key.ns_pid = c->ns_pids[id];
	}
	if (c->opts.thread_roots) {
		snprintf(name, sizeof(name), "%s (tid %u)", profile__str(c->profile, key.thread_name), s->tid);
		if ((r = collector_special_frame(c, PROFILE_FRAME_THREAD, name, &c->frames[n++])) < 0)
			goto full;
	}
	if (c->opts.process_roots && key.container) {
		snprintf(name, sizeof(name), "%s (pid %u, %u in container %.12s)", profile__str(c->profile, key.comm),
			 s->pid, key.ns_pid, profile__str(c->profile, key.container));
		if ((r = collector_special_frame(c, PROFILE_FRAME_PROCESS, name, &c->frames[n++])) < 0)
			goto full;
	} else if (c->opts.process_roots) {
		snprintf(name, sizeof(name), "%s (pid %u)", profile__str(c->profile, key.comm), s->pid);
		if ((r = collector_special_frame(c, PROFILE_FRAME_PROCESS, name, &c->frames[n++])) < 0)
			goto full;
	}
	sid = profile__add_stack(c->profile, c->frames, n);
	if (sid < 0)
		goto full_id;
	key.stack = (uint32_t)sid;
	r = profile__add_sample(c->profile, &key, 1, s->weight_ns);
	if (r < 0)
		goto full;
	collector_count_weight(c, s->weight_ns);
	if (!c->stats.samples++)
		c->stats.first_sample_ns = s->time_ns;
	return 0;
full_id:
	r = (int)sid;
full:
	/* A full profile drops the sample but keeps the recording going; anything else is fatal. */
	if (r == -E2BIG) {
		c->stats.dropped++;
		return 0;
	}
	return r;
}

static int collector_record(void *ctx, const void *data, size_t size)
{
	struct collector *c = ctx;
	const struct hearth_task_event *e;
	struct sample_view v;
	struct process *p;
	uint32_t type;
	int64_t id;
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
		id = intern__find(c->pids, &e->pid, sizeof(e->pid));
		if (id >= 0) {
			if (c->processes[id]) {
				struct process_stats ps;

				process__stats(c->processes[id], &ps);
				c->maps_failed_exited += ps.maps_failed;
			}
			c->processes[id] = process__free(c->processes[id]);
			c->pyprocs[id] = pyprocess__free(c->pyprocs[id]);
			c->stats.exited++;
			c->dwarf_on[id] = false; /* still counted: a process found without them */
			c->walks[id] = (struct collector_walks){ 0 };
		}
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
		if (collector_process(c, e->pid, true, &p, NULL) == 0 && type == HEARTH_EVENT_FORK &&
		    c->opts.on_new_process)
			c->opts.on_new_process(c->opts.ctx, e->pid);
		return 0;
	}
malformed:
	c->stats.malformed++;
	return 0;
}

/*
 * The pid table has no deletion: once three quarters full, build it again
 * with the processes still known (exited ones were freed at their exit), so
 * a machine that runs millions of processes over weeks keeps naming frames.
 * Ids only move down, so the arrays indexed by them move in place.
 */
static int collector_compact_pids(struct collector *c)
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

		if (!c->processes[i] && !c->pyprocs[i])
			continue;
		id = intern__add(pids, pid, sizeof(*pid), NULL);
		if (id < 0) {
			intern__free(pids);
			return (int)id;
		}
		if ((size_t)id == i)
			continue;
		c->processes[id] = TAKE_PTR(c->processes[i]);
		c->pyprocs[id] = TAKE_PTR(c->pyprocs[i]);
		c->containers[id] = c->containers[i];
		c->ns_pids[id] = c->ns_pids[i];
		c->dwarf_on[id] = c->dwarf_on[i];
		c->dwarf_on[i] = false;
		c->walks[id] = c->walks[i];
		c->walks[i] = (struct collector_walks){ 0 };
	}
	intern__free(c->pids);
	c->pids = pids;
	c->stats.pid_compactions++;
	return 0;
}

int collector__tick(struct collector *c)
{
	uint64_t now = time_now_ns();
	int looking = 0;

	unwinder__trim(c->unwinder);

	if (intern__count(c->pids) >= c->opts.max_processes / 4 * 3) {
		int r = collector_compact_pids(c);

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
	for (size_t i = 0; i < intern__count(c->pids); i++) {
		const pid_t *pid = intern__get(c->pids, (uint32_t)i, NULL);
		int r;

		if (!c->processes[i] || !c->pyprocs[i] || pyprocess__state(c->pyprocs[i]) != PYPROCESS_LOOKING)
			continue;
		r = collector_python_probe(c, i, *pid);
		if (r < 0 && r != -ESRCH)
			collector_fault(c, COLLECTOR_FAULT_TARGET, *pid, r, "looking for an interpreter");
		looking += pyprocess__state(c->pyprocs[i]) == PYPROCESS_LOOKING;
	}
	c->looking = looking;
	return looking;
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

