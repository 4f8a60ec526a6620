/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The CPython stack walker of the sampler: find the sampled thread's
 * PyThreadState, then follow its frames (bounded, every read checked) into
 * hearth_pyframe records. Part of sampler.bpf.c, which includes it after
 * its maps, counters and the scratch buffer; not a header of its own.
 */
#ifndef HEARTH_PYWALK_BPF_H
#define HEARTH_PYWALK_BPF_H

/* Read @len bytes (at most HEARTH_PY_WINDOW) of target memory at @addr into the window. */
static __always_inline long win_read(struct scratch *b, __u64 addr, __u32 len)
{
	if (len > HEARTH_PY_WINDOW)
		len = HEARTH_PY_WINDOW;
	return bpf_probe_read_user(b->win, len, (const void *)addr);
}

/* Fields of the window; offsets were checked by user space to lie inside it. */
static __always_inline __u64 win_u64(struct scratch *b, __s16 off)
{
	return *(__u64 *)(b->win + ((__u32)off & (HEARTH_PY_WINDOW - 1)));
}

/* Whether the thread state in the window is the sampled thread's. */
static __always_inline bool py_tstate_is(const struct hearth_pyproc *pp, struct scratch *b,
					 __u32 tid, __u64 fsbase)
{
	if (pp->tstate_native_thread_id >= 0 && win_u64(b, pp->tstate_native_thread_id) == tid)
		return true;
	return fsbase && win_u64(b, pp->tstate_thread_id) == fsbase;
}

/* State of the thread-state list walk, for bpf_loop(). */
struct py_list_ctx {
	const struct hearth_pyproc *pp;
	struct scratch *b;
	__u64 fsbase;
	__u64 ts; /* the entry looked at; 0 when none is left */
	__u32 tid;
	bool found;
};

static long py_list_step(__u32 i, void *arg)
{
	struct py_list_ctx *c = arg;

	if (!c->ts || win_read(c->b, c->ts, c->pp->tstate_window) < 0) {
		c->ts = 0;
		return 1;
	}
	if (py_tstate_is(c->pp, c->b, c->tid, c->fsbase)) {
		c->found = true;
		return 1;
	}
	c->ts = win_u64(c->b, c->pp->tstate_next);
	return 0;
}

/*
 * The sampled thread's PyThreadState, left in the window; 0 when it has none.
 * Remembered per thread, checked again on every use; the list is walked again on
 * a mismatch, and for a thread without one once HEARTH_PY_NEGATIVE_NS passed.
 */
static __always_inline __u64 py_find_tstate(const struct hearth_pyproc *pp, struct scratch *b,
					    __u32 tid, __u64 fsbase, __u64 now, __u64 interp)
{
	/* Zeroed when new (its fs base 0 matches no thread's): looked for below. */
	struct pythread *t = bpf_task_storage_get(&pythreads, bpf_get_current_task_btf(), NULL,
						  BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct pythread nt = { .fsbase = fsbase, .time_ns = now };
	struct py_list_ctx c = { .pp = pp, .b = b, .fsbase = fsbase, .tid = tid };

	if (t && t->fsbase == fsbase) {
		if (!t->tstate && now - t->time_ns < HEARTH_PY_NEGATIVE_NS)
			return 0;
		if (t->tstate && win_read(b, t->tstate, pp->tstate_window) == 0 &&
		    py_tstate_is(pp, b, tid, fsbase))
			return t->tstate;
	}
	counter_inc(HEARTH_COUNTER_PY_LIST_WALKS);
	if (bpf_probe_read_user(&c.ts, sizeof(c.ts), (const void *)(interp + pp->interp_tstate_head)) < 0)
		c.ts = 0;
	bpf_loop(HEARTH_PY_MAX_THREADS, py_list_step, &c, 0);
	nt.tstate = c.found ? c.ts : 0;
	/* Starting up, a thread gets its state any moment: no negative answer is kept. */
	if (nt.tstate || !pp->interp_addr || pp->interp)
		if (t)
			*t = nt;
	return nt.tstate;
}

/* Whether thread state @ts holds the GIL. */
static __always_inline bool py_holds_gil(const struct hearth_pyproc *pp, __u64 ts)
{
	__u64 holder = 0;
	__u32 locked = 1;

	if (!pp->gil_holder_addr ||
	    bpf_probe_read_user(&holder, sizeof(holder), (const void *)pp->gil_holder_addr) < 0 ||
	    holder != ts)
		return false;
	if (pp->gil_locked_addr &&
	    bpf_probe_read_user(&locked, sizeof(locked), (const void *)pp->gil_locked_addr) < 0)
		return false;
	return locked != 0;
}

/* State of the frame walk, for bpf_loop(). */
struct py_walk_ctx {
	const struct hearth_pyproc *pp;
	struct scratch *b;
	struct hearth_pyframe *out; /* room for HEARTH_PY_MAX_FRAMES */
	__u64 frame;                /* the next frame to read; 0 at the end */
	__u64 prev;                 /* the frame read before it, 0 for the first */
	__u64 page_lo, page_hi;     /* target bytes [page_lo, page_hi) are in b->page */
	__u64 anchor;               /* on the innermost loop's C stack: its _PyCFrame (3.11, 3.12) or first shim (3.13+) */
	__u32 n;                    /* frames written */
	bool failed;
};

/*
 * The bytes of @frame (its first frame_window), or NULL when they cannot be
 * read. From 3.11 the frames of a thread lie on its data stack, each below
 * the one it called: a frame just below the one read before is read with
 * everything below it in its page, and the frames under it come from that
 * copy, one read of the target's memory per page rather than one per frame
 * (its cache misses stream instead of following the chain one by one).
 * Frame objects (up to 3.10) and generators' frames are read one by one.
 */
static __always_inline __u8 *py_frame_bytes(struct py_walk_ctx *c, __u64 frame)
{
	const struct hearth_pyproc *pp = c->pp;
	struct scratch *b = c->b;
	__u32 fw = pp->frame_window, len;
	__u64 lo;

	if (fw > HEARTH_PY_WINDOW)
		fw = HEARTH_PY_WINDOW;
	if (pp->walk != HEARTH_PY_WALK_FRAME_OBJECT) {
		if (frame >= c->page_lo && frame + fw <= c->page_hi)
			return b->page + ((frame - c->page_lo) & (PY_PAGE - 1));
		if (c->prev && frame < c->prev && c->prev - frame < PY_PAGE) {
			lo = frame & ~(__u64)(PY_PAGE - 1);
			len = (__u32)(frame + fw - lo);
			barrier_var(len);
			if (len <= PY_PAGE + HEARTH_PY_WINDOW && bpf_probe_read_user(b->page, len, (const void *)lo) == 0) {
				c->page_lo = lo;
				c->page_hi = lo + len;
				return b->page + ((frame - lo) & (PY_PAGE - 1));
			}
		}
	}
	if (win_read(b, frame, fw) < 0)
		return NULL;
	return b->win;
}

/* Fields of a frame's bytes; offsets were checked by user space to lie inside the window. */
static __always_inline __u64 fr_u64(const __u8 *f, __s16 off)
{
	return *(const __u64 *)(f + ((__u32)off & (HEARTH_PY_WINDOW - 1)));
}

static __always_inline __u32 fr_u32(const __u8 *f, __s16 off)
{
	return *(const __u32 *)(f + ((__u32)off & (HEARTH_PY_WINDOW - 1)));
}

static __always_inline __u8 fr_u8(const __u8 *f, __s16 off)
{
	return f[(__u32)off & (HEARTH_PY_WINDOW - 1)];
}

static long py_walk_step(__u32 i, void *arg)
{
	struct py_walk_ctx *c = arg;
	const struct hearth_pyproc *pp = c->pp;
	struct hearth_pyframe *f;
	__u64 next, code;
	__u8 *fb;

	if (!c->frame || c->n >= HEARTH_PY_MAX_FRAMES)
		return 1;
	fb = py_frame_bytes(c, c->frame);
	if (!fb) {
		c->failed = true;
		return 1;
	}
	c->prev = c->frame;
	next = fr_u64(fb, pp->frame_back);
	if (pp->owner_shim >= 0 && fr_u8(fb, pp->frame_owner) >= pp->owner_shim) {
		/* A shim below an activation (3.12+): the frame before it was that activation's first. */
		if (!c->anchor)
			c->anchor = c->frame;
		if (c->n > 0)
			c->out[(c->n - 1) & (HEARTH_PY_MAX_FRAMES - 1)].flags |= HEARTH_PYFRAME_ENTRY;
		c->frame = next;
		return 0;
	}
	f = &c->out[c->n & (HEARTH_PY_MAX_FRAMES - 1)];
	code = fr_u64(fb, pp->frame_code);
	if (pp->code_tag_bits) {
		__u64 tag = code & pp->code_tag_bits;

		/* 3.14+: a _PyStackRef; a tagged int or an invalid one refers to no code object. */
		code = tag == 0 || tag == pp->code_tag_refcnt ? code & ~(__u64)pp->code_tag_bits : 0;
	}
	f->code = code;
	if (pp->walk == HEARTH_PY_WALK_FRAME_OBJECT) {
		f->instr = (__s32)fr_u32(fb, pp->frame_instr);
		f->owner = 0;
		f->flags = HEARTH_PYFRAME_ENTRY; /* one activation per frame up to 3.10 */
	} else {
		__s64 d = (__s64)(fr_u64(fb, pp->frame_instr) - (code + pp->code_adaptive));

		/* Out of range means the frame changed under us: user space finds it unknown. */
		f->instr = d < -(1ll << 30) || d > (1ll << 30) ? (__s32)(1 << 30) : (__s32)d;
		f->owner = fr_u8(fb, pp->frame_owner);
		f->flags = pp->frame_is_entry >= 0 && fr_u8(fb, pp->frame_is_entry) ? HEARTH_PYFRAME_ENTRY : 0;
	}
	c->n++;
	c->frame = next;
	return 0;
}

/*
 * Walk the Python frames of the sampled thread into @out (room for
 * HEARTH_PY_MAX_FRAMES). Returns the number of frames and sets flags;
 * *@anchor is an address in the innermost activation of the evaluation
 * loop's C frame (3.11+, 0 when none was met): its _PyCFrame (3.11, 3.12)
 * or its entry shim (3.13+).
 */
static __always_inline __u32 py_walk(const struct hearth_pyproc *pp, struct scratch *b,
				     struct hearth_sample *s, struct hearth_pyframe *out, __u64 *anchor)
{
	struct py_walk_ctx c = { .pp = pp, .b = b, .out = out };
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 fsbase = BPF_CORE_READ(task, thread.fsbase), ts, cframe, interp;

	s->flags |= HEARTH_SAMPLE_PY;
	counter_inc(HEARTH_COUNTER_PY_SAMPLES);
	/* An interpreter still starting up: user space knows where its address will be, not the address. */
	interp = pp->interp;
	if (!interp && pp->interp_addr &&
	    bpf_probe_read_user(&interp, sizeof(interp), (const void *)pp->interp_addr) < 0)
		interp = 0;
	ts = interp ? py_find_tstate(pp, b, s->tid, fsbase, s->time_ns, interp) : 0;
	if (!ts) {
		counter_inc(HEARTH_COUNTER_PY_NO_THREAD);
		return 0;
	}
	s->flags |= HEARTH_SAMPLE_PY_THREAD;
	c.frame = win_u64(b, pp->tstate_frame);
	if (want_gil && py_holds_gil(pp, ts))
		s->flags |= HEARTH_SAMPLE_PY_GIL;
	if (pp->walk == HEARTH_PY_WALK_CFRAME) {
		cframe = c.frame;
		c.anchor = cframe;
		c.frame = 0;
		if (cframe && bpf_probe_read_user(&c.frame, sizeof(c.frame),
						  (const void *)(cframe + pp->cframe_current_frame)) < 0) {
			c.frame = 0;
			c.failed = true;
		}
	}
	bpf_loop(HEARTH_PY_MAX_VISITS, py_walk_step, &c, 0);
	if (c.failed) {
		s->flags |= HEARTH_SAMPLE_PY_FAILED;
		counter_inc(HEARTH_COUNTER_PY_FAILED);
	} else if (c.frame) {
		s->flags |= HEARTH_SAMPLE_PY_TRUNCATED;
	}
	*anchor = c.anchor;
	return c.n;
}

#endif
