// SPDX-License-Identifier: MIT
/*
 * One sample, one pass, in order: its target (targets.c), then its stack
 * from the leaf out (kernel, Python with the native work under it, native
 * code), then the markers a reader needs ("[truncated]", "[incomplete]"),
 * then the thread and process roots, then the profile. Each step appends
 * to c->frames; a sample is dropped (and counted) only when the profile is
 * full.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collector-internal.h"
#include "kstack.h"
#include "process.h"
#include "pyprocess.h"
#include "sampleview.h"
#include "symcache.h"

/* A sample on its way to the profile: what each step found, for the next. */
struct sample_build {
	const struct hearth_sample *s;
	struct process *p;             /* NULL: frames stay unnamed */
	size_t id;                     /* p's index in c->targets */
	const __u64 *uips;             /* the user stack shown: the walk's, or DWARF's */
	size_t nu, np, n;              /* user addresses, Python frames left to place, frames made */
	const struct hearth_uregs *ur; /* NULL once the native stack is placed */
	bool truncated, cut_walk, fp_walk, ended;
	bool from_kernel;              /* the first user address is a return address */
};

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

/* The sample's process, looked up or made; its flags counted. Returns 1 to leave the sample out, 0, or -errno. */
static int sample_target(struct collector *c, struct sample_build *b)
{
	const struct hearth_sample *s = b->s;
	int r;

	c->stats.dwarf_uregs_failed += !!(s->flags & HEARTH_SAMPLE_UREGS_FAILED);
	c->stats.kstack_failed += !!(s->flags & HEARTH_SAMPLE_KSTACK_FAILED);
	c->stats.ustack_failed += !!(s->flags & HEARTH_SAMPLE_USTACK_FAILED);

	/* Without a process entry (gone before first sight, or the table full) frames stay unnamed. */
	r = collector_target(c, s->pid, false, &b->p, &b->id);
	if (r == -ESRCH || r == -E2BIG)
		b->p = NULL;
	else if (r < 0)
		return r;
	if (b->p && (r = collector_python_probe(c, b->id, s->pid)) < 0 && r != -ESRCH)
		collector_fault(c, COLLECTOR_FAULT_TARGET, s->pid, r, "looking for an interpreter");
	if (s->flags & HEARTH_SAMPLE_PY) {
		c->stats.py_samples++;
		c->stats.py_no_thread += !(s->flags & HEARTH_SAMPLE_PY_THREAD);
	}
	if (c->opts.gil_only && !(s->flags & HEARTH_SAMPLE_PY_GIL)) {
		c->stats.gil_filtered++;
		return 1;
	}
	return 0;
}

/* The kernel frames, leaf first. Returns 0 or -errno. */
static int sample_kernel(struct collector *c, struct sample_build *b, const struct sample_view *v)
{
	const __u64 *kips = v->kips;
	size_t nk = v->nk;
	int r;

	/* The clock's own frames (BPF, timer, softirq, interrupt exit) are not the sample's. */
	for (size_t i = nk && (b->s->flags & HEARTH_SAMPLE_CLOCK) ? kstack__clock_start(c->kstack, (const uint64_t *)kips, nk) : 0;
	     i < nk && c->opts.kernel; i++) {
		/* Past the first, kernel addresses are return addresses: look up the call. */
		r = kstack__frame(c->kstack, c->profile, kips[i] - (i ? 1 : 0), &c->frames[b->n]);
		if (r < 0)
			return r;
		b->n++;
	}
	return 0;
}

/*
 * DWARF on a Python sample: the native work under the innermost Python
 * frame (all of the native stack, merged, with --native). Leaves the Python
 * frames to place in b->np. Returns 0 or -errno.
 */
static int sample_python_natives(struct collector *c, struct sample_build *b, const struct hearth_pyframe *pf)
{
	const struct hearth_sample *s = b->s;
	size_t max = c->opts.native ? HEARTH_MAX_STACK_DEPTH : COLLECTOR_PY_LEAF_DEPTH, nd, before = b->n;
	bool found = false, cut = false, partial = false;
	const __u64 *dips;
	int r;

	/*
	 * Only the frames down to the innermost activation of the loop are
	 * shown without --native: unwind that far first (a few frames, most of
	 * the time), the whole stack only if the loop is deeper.
	 */
	for (;;) {
		dips = b->uips;
		nd = 0;
		r = collector_unwind(c, b->p, s, b->ur, max, &dips, &nd, &cut, &partial);
		if (r < 0)
			return r;
		if (dips == b->uips)
			break;
		if (c->opts.native) {
			r = collector_merge_native(c, b->id, b->p, s, pf, b->np, dips, nd, b->from_kernel, cut, &b->n);
			if (r < 0)
				return r;
			b->np = 0; /* placed already */
			b->truncated = cut;
			found = true;
			break;
		}
		if ((r = collector_leaf_natives(c, b->id, b->p, dips, nd, b->from_kernel, &b->n, &found)) < 0)
			return r;
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
		b->n = before;
		c->stats.py_native_missed++;
	}
	b->ur = NULL; /* the native stack above the Python frames is the interpreter's */
	return 0;
}

/*
 * The native stack to show: the frame-pointer walk (its leaf fixed from a
 * small copy first) ends where its return addresses leave the code; or
 * DWARF's, unless it stopped short of the walk as far as that holds.
 * Points b->uips at it. Returns 0 or -errno.
 */
static int sample_native_walk(struct collector *c, struct sample_build *b)
{
	const struct hearth_sample *s = b->s;
	struct process *p = b->p;
	const __u64 *fp;
	size_t nfp;
	bool partial;
	int r;

	if (!b->ur || !c->unwinder) {
		b->ended = collector_end_walk(p, b->uips, &b->nu, s->time_ns);
		b->truncated &= !b->ended;
		return 0;
	}
	if (s->flags & HEARTH_SAMPLE_LEAF_COPY) {
		size_t head, full, walked = collector_fix_leaf(c, p, s, b->ur, &b->uips, &b->nu, c->dwarf_ips, &head);

		b->ended = collector_end_walk(p, b->uips, &b->nu, s->time_ns);
		full = b->nu;
		if (collector_cut_walk(c, p, s, b->uips, &b->nu, head, b->from_kernel)) {
			c->stats.walks_cut++;
			b->cut_walk = true;
		}
		b->truncated &= !b->cut_walk && !b->ended;
		r = collector_watch_walks(c, b->id, p, s, b->ur, b->uips, full, walked, b->cut_walk);
		return r < 0 && r != -ENOENT ? r : 0;
	}
	b->ended = collector_end_walk(p, b->uips, &b->nu, s->time_ns);
	b->truncated &= !b->ended;
	fp = b->uips;
	nfp = b->nu;
	r = collector_unwind(c, p, s, b->ur, HEARTH_MAX_STACK_DEPTH, &b->uips, &b->nu, &b->truncated, &partial);
	if (r < 0)
		return r;
	if (b->uips != fp) {
		b->ended = false; /* DWARF's stops are counted by reason */
		b->fp_walk = false;
	}
	if (c->targets[b->id].walks.deciding && b->uips != fp &&
	    (r = collector_decide_walks(c, b->id, p, s, b->ur, fp, nfp, b->uips, b->nu)) < 0 && r != -ENOENT)
		return r;
	return 0;
}

/* Name the user addresses; a walk that ends in start-up code gets the root DWARF found. Returns 0 or -errno. */
static int sample_user_frames(struct collector *c, struct sample_build *b)
{
	enum collector_root root = COLLECTOR_ROOT_NONE;
	struct process *p = b->p;
	int r;

	for (size_t i = 0; i < b->nu; i++) {
		uint64_t addr = b->uips[i] - (i || b->from_kernel ? 1 : 0);

		if (p)
			r = process__symbolize(p, c->symcache, c->profile, addr, &c->frames[b->n]);
		else
			r = collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[unknown]", &c->frames[b->n]);
		if (r < 0)
			return r;
		/* What a walk met past the program's or thread's start is not its stack. */
		if (p && b->fp_walk && collector_past_root(c, p, b->s->pid, c->frames[b->n], &root)) {
			c->stats.walks_past_root++;
			b->truncated = false;
			b->nu = i;
			break;
		}
		b->n++;
	}
	/* A walk that ends in start-up code goes on as DWARF went on from there: one root for all. */
	if (p && b->fp_walk && b->nu && !b->truncated && !b->cut_walk)
		return collector_walk_root(c, b->id, p, b->uips[b->nu - 1], &b->n);
	return 0;
}

/* The markers at the stack's outer end, and the unknown frames counted. Returns 0 or -errno. */
static int sample_markers(struct collector *c, struct sample_build *b)
{
	int r;

	if (b->truncated) {
		c->stats.truncated++;
		if ((r = collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[truncated]", &c->frames[b->n++])) < 0)
			return r;
	}
	if (b->cut_walk &&
	    (r = collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[incomplete]", &c->frames[b->n++])) < 0)
		return r;
	if (b->n == 0 && (r = collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[no stack]", &c->frames[b->n++])) < 0)
		return r;
	for (size_t i = 0; i < b->n; i++) {
		const struct profile_frame *f = profile__frame(c->profile, c->frames[i]);

		c->stats.unknown_frames += f->unknown;
	}
	c->stats.frames += b->n;
	return 0;
}

/* The sample's key: names interned, container, and the thread and process roots on the stack. Returns 0 or -errno. */
static int sample_key(struct collector *c, struct sample_build *b, struct profile_sample *key)
{
	const struct hearth_sample *s = b->s;
	char name[96];
	int64_t sid;

	sid = profile__intern_len(c->profile, s->process_comm, strnlen(s->process_comm, HEARTH_COMM_LEN));
	if (sid < 0)
		return (int)sid;
	key->comm = (uint32_t)sid;
	sid = profile__intern_len(c->profile, s->comm, strnlen(s->comm, HEARTH_COMM_LEN));
	if (sid < 0)
		return (int)sid;
	key->thread_name = (uint32_t)sid;
	if (b->p) {
		key->container = c->targets[b->id].container;
		key->ns_pid = c->targets[b->id].ns_pid;
	}
	if (c->opts.thread_roots) {
		snprintf(name, sizeof(name), "%s (tid %u)", profile__str(c->profile, key->thread_name), s->tid);
		if ((sid = collector_special_frame(c, PROFILE_FRAME_THREAD, name, &c->frames[b->n++])) < 0)
			return (int)sid;
	}
	if (!c->opts.process_roots)
		return 0;
	if (key->container)
		snprintf(name, sizeof(name), "%s (pid %u, %u in container %.12s)", profile__str(c->profile, key->comm),
			 s->pid, key->ns_pid, profile__str(c->profile, key->container));
	else
		snprintf(name, sizeof(name), "%s (pid %u)", profile__str(c->profile, key->comm), s->pid);
	return collector_special_frame(c, PROFILE_FRAME_PROCESS, name, &c->frames[b->n++]);
}

/* The frames of c->frames into the profile as one sample of @s. Returns 0 or -errno. */
static int sample_add(struct collector *c, struct sample_build *b)
{
	struct profile_sample key = { .pid = b->s->pid, .tid = b->s->tid };
	int64_t sid;
	int r;

	if ((r = sample_key(c, b, &key)) < 0)
		return r;
	sid = profile__add_stack(c->profile, c->frames, b->n);
	if (sid < 0)
		return (int)sid;
	key.stack = (uint32_t)sid;
	r = profile__add_sample(c->profile, &key, 1, b->s->weight_ns);
	if (r < 0)
		return r;
	collector_count_weight(c, b->s->weight_ns);
	if (!c->stats.samples++)
		c->stats.first_sample_ns = b->s->time_ns;
	return 0;
}

int collector_sample(struct collector *c, const struct sample_view *v)
{
	const struct hearth_sample *s = v->s;
	struct sample_build b = {
		.s = s,
		.uips = v->uips,
		.nu = v->nu,
		.np = v->np,
		.ur = v->uregs,
		.truncated = v->nu == HEARTH_MAX_STACK_DEPTH,
		.fp_walk = true,
		/* The first user address is where it ran, unless the sample came from the kernel. */
		.from_kernel = v->nk || (s->flags & HEARTH_SAMPLE_IN_KERNEL),
	};
	int r;

	r = sample_target(c, &b);
	if (r != 0)
		return r > 0 ? 0 : r;
	if ((r = sample_kernel(c, &b, v)) < 0)
		goto full;
	if (b.np && b.p && c->targets[b.id].py && b.ur && c->unwinder &&
	    (r = sample_python_natives(c, &b, v->py)) < 0)
		goto full;
	if (b.np && b.p && c->targets[b.id].py && (r = collector_python_frames(c, b.id, s, v->py, b.np, &b.n)) < 0)
		goto full;
	if (b.p && (r = sample_native_walk(c, &b)) < 0)
		return r;
	c->stats.walks_bad_ret += b.ended;
	if ((r = sample_user_frames(c, &b)) < 0 || (r = sample_markers(c, &b)) < 0 || (r = sample_add(c, &b)) < 0)
		goto full;
	return 0;
full:
	/* A full profile drops the sample but keeps the recording going; anything else is fatal. */
	if (r == -E2BIG) {
		c->stats.dropped++;
		return 0;
	}
	return r;
}
