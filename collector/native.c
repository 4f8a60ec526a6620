// SPDX-License-Identifier: MIT
/*
 * The collector's native stacks beyond frame pointers: which processes get
 * their stacks copied (--unwind auto), unwinding the copies with DWARF, and
 * putting Python frames and native frames together (the default view and
 * --native).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cleanup.h"
#include "collector-internal.h"
#include "fpcheck.h"
#include "intern.h"
#include "procmaps.h"

/* Whether the file behind mapping @m of @pid keeps frame pointers (true when it cannot be told). */
static bool collector_file_has_fp(struct collector *c, pid_t pid, const struct procmap *m)
{
	const uint64_t key[] = { m->dev_major, m->dev_minor, m->inode };
	_cleanup_close_ int fd = -1;
	bool fp = true;
	int64_t id;
	int added;

	if (!c->fp_files || intern__count(c->fp_files) >= COLLECTOR_FPCHECK_CACHE_MAX) {
		c->fp_files = intern__free(c->fp_files);
		if (intern__new(COLLECTOR_FPCHECK_CACHE_MAX, &c->fp_files) < 0)
			return true;
	}
	id = intern__add(c->fp_files, key, sizeof(key), &added);
	if (id < 0)
		return true;
	if (!added)
		return c->fp_file_ok[id];
	fd = procmap__open(m, pid);
	if (fd < 0 || fpcheck_file(fd, &fp) < 0)
		fp = true;
	c->fp_file_ok[id] = fp;
	return fp;
}

/* What the unwinder starts from: sample @s's user registers and the stack copy after them. */
static struct unwind_snapshot collector_snapshot(const struct hearth_sample *s, const struct hearth_uregs *ur)
{
	return (struct unwind_snapshot){
		.regs = { ur->ip, ur->sp, ur->bp, ur->bx, ur->r12, ur->r13, ur->r14, ur->r15 },
		.stack = (const uint8_t *)(ur + 1),
		.stack_len = s->stack_bytes,
	};
}

/*
 * --unwind auto: copy the stacks of process @pid for DWARF unwinding when
 * its executable, or the libpython it runs, keeps no frame pointers (the
 * code whose stacks matter most; libraries such as libc keep none either,
 * but cost only the frame where they are the leaf).
 */
int collector_decide_unwind(struct collector *c, size_t id, struct process *p, pid_t pid)
{
	const struct procmaps *maps = process__maps(p);
	struct stat st;
	char path[64];
	bool need = false;

	if (!maps)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(path, &st) < 0)
		return 0;
	for (size_t i = 0; i < maps->nr && !need; i++) {
		const struct procmap *m = &maps->maps[i];
		const char *base = strrchr(m->path, '/');

		if (!(m->prot & PROCMAP_EXEC) || !procmap__is_file(m))
			continue;
		base = base ? base + 1 : m->path;
		if (!(m->inode == st.st_ino && m->dev_major == major(st.st_dev) && m->dev_minor == minor(st.st_dev)) &&
		    strncmp(base, "libpython", 9))
			continue;
		need = !collector_file_has_fp(c, pid, m);
	}
	/*
	 * Frame pointers: the stacks are still copied whole (and shown as DWARF
	 * finds them) until a window of walks has been checked against them;
	 * then only a little, to fix leaves without frame pointers.
	 */
	c->targets[id].walks = (struct collector_walks){ .deciding = !need };
	/* Counted once a process: a command is seen before its exec (as hearth) and after. */
	if (need != c->targets[id].dwarf_on) {
		c->stats.dwarf_processes += need ? 1 : -1;
		c->targets[id].dwarf_on = need;
	}
	return sampler__set_copy(c->sampler, pid, HEARTH_COPY_STACK);
}

/*
 * A sample of a frame-pointer process (HEARTH_COPY_LEAF) whose leaf is in
 * code without them (libc's memcpy, a syscall wrapper): the leaf does not
 * set up a frame, so the walk went from it straight to its caller's caller.
 * Unwind the copy with DWARF up to the first frame in code with frame
 * pointers: that frame's rbp is the one the walk started from (the frames
 * above it keep rbp, as the ABI wants), so the walk's second address is that
 * frame's return address, and the walk goes on from there. Checked against
 * the DWARF frame after it when the copy reaches that far. *@uips and *@nu
 * are replaced, pointing into @out, when the leaf is fixed. *@ret_head is
 * how many frames at the head of the result do not come from the walk: the
 * leaf (1), the frames DWARF put in (k + 1), or 0 when the leaf is in code
 * without frame pointers and its caller could not be found.
 */
size_t collector_fix_leaf(struct collector *c, struct process *p, const struct hearth_sample *s,
			  const struct hearth_uregs *ur, const __u64 **uips, size_t *nu, uint64_t *out,
			  size_t *ret_head)
{
	const struct procmaps *maps = process__maps(p);
	struct unwind_snapshot snap = collector_snapshot(s, ur);
	const struct procmap *m;
	enum unwind_stop stop;
	size_t n = 0, k;

	*ret_head = 1;
	if (!maps || *nu < 2 || (*uips)[0] != ur->ip)
		return 0;
	m = procmaps__find(maps, ur->ip);
	/* In code with frame pointers, or JIT code (no CFI): the walk is what there is. */
	if (!m || !procmap__is_file(m) || collector_file_has_fp(c, s->pid, m))
		return 0;
	c->stats.leaf_samples++;
	*ret_head = 0;
	if (unwinder__unwind(c->unwinder, s->pid, maps, &snap, c->walk_ips, COLLECTOR_LEAF_FIX_DEPTH, &n,
			     &stop) < 0)
		return 0;
	for (k = 1; k < n; k++) {
		m = procmaps__find(maps, c->walk_ips[k] - 1);
		if (!m || !procmap__is_file(m))
			return n;
		if (collector_file_has_fp(c, s->pid, m))
			break;
	}
	if (k >= n)
		return n;
	if (k + 1 < n ? c->walk_ips[k + 1] != (*uips)[1] :
			ur->bp <= ur->sp || ur->bp - ur->sp > s->stack_bytes + (8u << 20))
		return n;
	if (k + *nu > HEARTH_MAX_STACK_DEPTH)
		*nu = HEARTH_MAX_STACK_DEPTH - k;
	memcpy(out, c->walk_ips, (k + 1) * sizeof(out[0]));
	memmove(&out[k + 1], &(*uips)[1], (*nu - 1) * sizeof(out[0]));
	*uips = (const __u64 *)out;
	*nu += k;
	*ret_head = k + 1;
	c->stats.leaf_fixed++;
	return n;
}

/* What the function of profile frame @frame is to the start of a program or thread, by its name. */
static enum collector_root collector_root_of(struct collector *c, uint32_t frame)
{
	static const char *const startup[] = {
		"__libc_start_call_main", "__libc_start_main", "__libc_start_main_impl", "start_thread",
	};
	static const char *const first[] = { "_start", "clone", "clone3", "__clone", "__clone3", "thread_start" };
	const char *name = profile__str(c->profile, profile__frame(c->profile, frame)->name);

	/* Every sample asks of every frame: most names fail at their first letter. */
	if (name[0] != '_' && name[0] != 's' && name[0] != 'c' && name[0] != 't')
		return COLLECTOR_ROOT_NONE;
	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
		if (!strcmp(name, first[i]))
			return COLLECTOR_ROOT_FIRST;
	for (size_t i = 0; i < sizeof(startup) / sizeof(startup[0]); i++)
		if (!strcmp(name, startup[i]))
			return COLLECTOR_ROOT_STARTUP;
	return COLLECTOR_ROOT_NONE;
}

/*
 * Where a thread's frame chain ends in code without frame pointers: the C
 * library's start of a program or a thread. A walk that stops anywhere else
 * in such code lost the frames above.
 */
static bool collector_is_root(struct collector *c, struct process *p, uint64_t addr)
{
	uint32_t id;

	if (process__symbolize(p, c->symcache, c->profile, addr, &id) < 0)
		return false;
	return collector_root_of(c, id) != COLLECTOR_ROOT_NONE;
}

bool collector_end_walk(struct process *p, const __u64 *ips, size_t *n, uint64_t sample_ns)
{
	const struct procmap *m = NULL;

	for (size_t i = 1; i < *n; i++) {
		/* Runs of frames share a mapping: look one up once a run. */
		if (m && ips[i] - 1 >= m->start && ips[i] - 1 < m->end)
			continue;
		/* No user address (0 ends many a chain; text read as a pointer is past the top): no maps read again. */
		m = ips[i] > COLLECTOR_USER_MIN && ips[i] < COLLECTOR_USER_END ? process__find_map(p, ips[i] - 1, sample_ns)
										: NULL;
		if (m && (m->prot & PROCMAP_EXEC))
			continue;
		*n = i;
		return true;
	}
	return false;
}

bool collector_past_root(struct collector *c, struct process *p, pid_t pid, uint32_t frame,
			 enum collector_root *state)
{
	const struct profile_frame *f = profile__frame(c->profile, frame);
	enum collector_root root = collector_root_of(c, frame);
	bool past = *state == COLLECTOR_ROOT_FIRST || (*state == COLLECTOR_ROOT_STARTUP && root == COLLECTOR_ROOT_NONE);
	const struct procmap *m;

	/*
	 * Past start-up code a walk goes on only through code without frame
	 * pointers (with them it reads frames the code made); and a function
	 * of such a name that keeps them may be the program's own. _start is
	 * the program's entry wherever it is.
	 */
	if (!past && root != COLLECTOR_ROOT_NONE && strcmp(profile__str(c->profile, f->name), "_start")) {
		m = process__find_map(p, f->address, 0);
		if (!m || !procmap__is_file(m) || collector_file_has_fp(c, pid, m))
			root = COLLECTOR_ROOT_NONE;
	}
	if (root > *state)
		*state = root;
	return past;
}

/* Whether return address @ret lies in a mapped file without frame pointers. */
static bool collector_ret_without_fp(struct collector *c, const struct procmaps *maps, pid_t pid, uint64_t ret)
{
	const struct procmap *m = procmaps__find(maps, ret - 1);

	return m && procmap__is_file(m) && !collector_file_has_fp(c, pid, m);
}

/* What names return address @ret across processes: its file and offset in it, if in a file. */
static bool collector_ret_key(const struct procmaps *maps, uint64_t ret, uint64_t key[4])
{
	const struct procmap *m = procmaps__find(maps, ret - 1);

	if (!m || !procmap__is_file(m))
		return false;
	key[0] = m->dev_major;
	key[1] = m->dev_minor;
	key[2] = m->inode;
	key[3] = ret - m->start + m->offset;
	return true;
}

void collector_learn_roots(struct collector *c, struct process *p, pid_t pid, const uint64_t *ips, size_t n)
{
	const struct procmaps *maps = process__maps(p);
	const struct procmap *m;
	size_t i = n - 1, run = 0;
	uint64_t key[4];

	if (!maps || !n)
		return;
	/* The outermost frame: _start in the program keeps frame pointers, clone3 in the C library not. */
	m = procmaps__find(maps, ips[i] - (i ? 1 : 0));
	if (m && procmap__is_file(m) && collector_file_has_fp(c, pid, m)) {
		if (!i)
			return;
		i--;
	}
	/* Inward over the start-up code without them, to the program's own first frame, which keeps them. */
	for (;; i--) {
		m = procmaps__find(maps, ips[i] - (i ? 1 : 0));
		if (!m || !procmap__is_file(m))
			return;
		if (collector_file_has_fp(c, pid, m))
			break;
		if (++run > COLLECTOR_ROOT_RUN_MAX || !i)
			return;
	}
	if (!run || !collector_ret_key(maps, ips[i + 1], key))
		return;
	if (!c->root_rets || intern__count(c->root_rets) >= COLLECTOR_ROOT_RETS_MAX) {
		c->root_rets = intern__free(c->root_rets);
		if (intern__new(COLLECTOR_ROOT_RETS_MAX, &c->root_rets) < 0)
			return;
	}
	intern__add(c->root_rets, key, sizeof(key), NULL);
}

/*
 * Whether frame @i of walk @ips, in code without frame pointers, is the
 * start of the program or thread: start-up code by its name; unnamed (a C
 * library without its symbol table), when DWARF found the same return
 * address in start-up code before (collector_learn_roots()) or it called
 * main.
 */
static bool collector_walk_started(struct collector *c, struct process *p, const __u64 *ips, size_t i,
				   bool from_kernel)
{
	uint64_t key[4];
	uint32_t id;

	if (collector_is_root(c, p, ips[i] - 1))
		return true;
	if (c->root_rets && collector_ret_key(process__maps(p), ips[i], key) &&
	    intern__find(c->root_rets, key, sizeof(key)) >= 0)
		return true;
	if (process__symbolize(p, c->symcache, c->profile, ips[i - 1] - (i > 1 || from_kernel ? 1 : 0), &id) < 0)
		return false;
	return !strcmp(profile__str(c->profile, profile__frame(c->profile, id)->name), "main");
}

bool collector_cut_walk(struct collector *c, struct process *p, const struct hearth_sample *s, const __u64 *ips,
			size_t *n, size_t head, bool from_kernel)
{
	const struct procmaps *maps = process__maps(p);
	const struct procmap *m = NULL;
	bool without = false;

	if (!maps)
		return false;
	if (!head) {
		/* Its caller is missing: only the leaf is known for sure. */
		*n = 1;
		return true;
	}

	for (size_t i = head; i < *n; i++) {
		bool started;

		/* Runs of frames share a mapping: look a file up once a run. */
		if (!m || ips[i] - 1 < m->start || ips[i] - 1 >= m->end) {
			m = procmaps__find(maps, ips[i] - 1);
			without = m && procmap__is_file(m) && !collector_file_has_fp(c, s->pid, m);
		}
		if (!without)
			continue;
		/* A walk may end in such code only at a program's or thread's start. */
		started = collector_walk_started(c, p, ips, i, from_kernel);
		c->stats.walks_past_root += started && i + 1 < *n;
		*n = i + 1;
		return !started;
	}
	return false;
}

/* Copy the stacks of process @id whole from now on: its frame-pointer walks prove wrong or short. */
static int collector_copy_whole(struct collector *c, size_t id, pid_t pid)
{
	c->targets[id].dwarf_on = true;
	c->stats.dwarf_switched++;
	return sampler__set_copy(c->sampler, pid, HEARTH_COPY_STACK);
}

/* Walks ending at return address @last go on with @rets (@n of them): remember it, newest first. */
static void collector_learn_tail(struct collector_walks *w, uint64_t last, const __u64 *rets, size_t n)
{
	struct collector_root_tail *t = &w->tails[0];

	if (n > COLLECTOR_ROOT_TAIL_MAX)
		return; /* longer than start-up code goes: not a root */
	for (size_t i = 0; i < COLLECTOR_ROOT_TAILS; i++)
		if (w->tails[i].from == last)
			t = &w->tails[i];
	if (t->from != last) {
		memmove(&w->tails[1], &w->tails[0], (COLLECTOR_ROOT_TAILS - 1) * sizeof(w->tails[0]));
		t = &w->tails[0];
	}
	t->from = last;
	t->n = n;
	for (size_t i = 0; i < n; i++)
		t->rets[i] = rets[i];
}

size_t collector_root_tail(const struct collector *c, size_t id, uint64_t last, const uint64_t **rets)
{
	const struct collector_walks *w = &c->targets[id].walks;

	for (size_t i = 0; i < COLLECTOR_ROOT_TAILS; i++)
		if (w->tails[i].from == last && last) {
			*rets = w->tails[i].rets;
			return w->tails[i].n;
		}
	return 0;
}

int collector_decide_walks(struct collector *c, size_t id, struct process *p, const struct hearth_sample *s,
			   const struct hearth_uregs *ur, const __u64 *fp, size_t nfp, const __u64 *dw, size_t ndw)
{
	struct collector_walks *w = &c->targets[id].walks;
	const struct pyprocess *py = c->targets[id].py;
	size_t head, n = nfp;
	bool broken = false;

	if (!w->deciding)
		return 0;
	/*
	 * A CPython's Python samples carry no frame-pointer walk: their native
	 * frames (a C extension's, in the default view) come from the copy
	 * alone. So a Python process keeps its copies whole, as one without
	 * frame pointers does (Debian's 3.15 keeps them; its extensions need
	 * not); one found later is switched back (collector_python_probe()).
	 */
	if (py && pyprocess__state(py) == PYPROCESS_ACTIVE) {
		w->deciding = false;
		return 0;
	}
	/* What LEAF mode would show: the walk with its leaf fixed, cut at a return into code without them. */
	collector_fix_leaf(c, p, s, ur, &fp, &n, c->fixed_ips, &head);
	/*
	 * A leaf in code without frame pointers whose caller DWARF could not find
	 * in a little stack (the dynamic loader starting the program): LEAF
	 * mode shows it cut short, and it says nothing of the program's walks.
	 */
	if (head == 0)
		return 0;
	for (size_t i = 1; i < n && i < ndw && !broken; i++)
		broken = fp[i] != dw[i];
	/* Shorter than DWARF's: right only if what it lost is where programs and threads start. */
	for (size_t i = n; i < ndw && !broken && process__maps(p); i++)
		broken = !collector_ret_without_fp(c, process__maps(p), s->pid, dw[i]) && !collector_is_root(c, p, dw[i] - 1);
	if (!broken && n < ndw && process__maps(p))
		collector_learn_tail(w, fp[n - 1], &dw[n], ndw - n);
	w->samples++;
	w->broken += broken;
	if (++w->checked < COLLECTOR_WALK_WINDOW)
		return 0;
	broken = w->broken * 10 >= w->checked;
	w->checked = w->broken = 0;
	w->deciding = false;
	if (broken)
		return collector_copy_whole(c, id, s->pid); /* copied whole already; say it again */
	return sampler__set_copy(c->sampler, s->pid, HEARTH_COPY_LEAF);
}

/*
 * Unwind the stack copy of sample @s with DWARF CFI; on success point
 * *@ret_ips at the return addresses found. Code without CFI (JIT) keeps
 * the frame-pointer stack when that one went further. Returns 0 or -ENOMEM.
 */
int collector_unwind(struct collector *c, struct process *p, const struct hearth_sample *s,
			    const struct hearth_uregs *ur, size_t max, const __u64 **ret_ips, size_t *ret_n,
			    bool *ret_truncated, bool *ret_partial)
{
	const struct procmaps *maps = process__maps(p);
	struct unwind_snapshot snap = collector_snapshot(s, ur);
	enum unwind_stop stop;
	size_t n = 0;
	int r;

	if (!maps)
		return 0;
	r = unwinder__unwind(c->unwinder, s->pid, maps, &snap, c->dwarf_ips, max, &n, &stop);
	/*
	 * A library loaded since the maps were read: read them again and retry
	 * once. An address in no mapping (the leaf, where it ran, or a return
	 * address CFI led to) is one for sure when the maps are older than the
	 * sample: then they are read again whatever the wait between reads.
	 */
	if (r == 0 && (stop == UNWIND_STOP_BAD_IP || stop == UNWIND_STOP_NO_INFO) &&
	    process__reload_maps(p, stop == UNWIND_STOP_BAD_IP ? s->time_ns : 0)) {
		unwinder__forget_process(c->unwinder, s->pid);
		maps = process__maps(p);
		r = unwinder__unwind(c->unwinder, s->pid, maps, &snap, c->dwarf_ips, max, &n, &stop);
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return 0;
	c->stats.dwarf_samples++;
	c->stats.dwarf_frames += n;
	c->stats.dwarf_stack_bytes += s->stack_bytes;
	/*
	 * A walk asked to stop early (Python samples: down to the loop) did not
	 * end by depth, nor one whose copy ended at the loop on purpose by the
	 * end of the copy.
	 */
	if ((stop == UNWIND_STOP_DEPTH && max < HEARTH_MAX_STACK_DEPTH) ||
	    (stop == UNWIND_STOP_STACK_END && (s->flags & HEARTH_SAMPLE_COPY_TO_LOOP)))
		c->stats.dwarf_partial++;
	else
		c->stats.dwarf_stops[stop]++;
	if (stop == UNWIND_STOP_END && c->opts.unwind_auto)
		collector_learn_roots(c, p, s->pid, c->dwarf_ips, n);
	if ((stop == UNWIND_STOP_NO_INFO || stop == UNWIND_STOP_BAD_IP) && *ret_n > n)
		return 0;
	*ret_ips = (const __u64 *)c->dwarf_ips;
	*ret_n = n;
	*ret_truncated = stop == UNWIND_STOP_DEPTH || stop == UNWIND_STOP_STACK_END;
	*ret_partial = stop == UNWIND_STOP_DEPTH && max < HEARTH_MAX_STACK_DEPTH;
	return 0;
}

int collector_watch_walks(struct collector *c, size_t id, struct process *p, const struct hearth_sample *s,
			  const struct hearth_uregs *ur, const __u64 *uips, size_t nu, size_t walked, bool cut)
{
	const struct procmaps *maps = process__maps(p);
	struct collector_walks *w = &c->targets[id].walks;
	struct unwind_snapshot snap = collector_snapshot(s, ur);
	enum unwind_stop stop;
	bool broken = false;
	size_t n = walked;

	if (c->targets[id].dwarf_on || !maps)
		return 0;
	/* Cut short (shown [incomplete]): cheap to tell, so every sample counts. */
	w->cuts += cut;
	if (++w->cut_seen >= COLLECTOR_CUT_WINDOW) {
		broken = w->cuts * 10 >= w->cut_seen;
		w->cut_seen = w->cuts = 0;
		if (broken)
			return collector_copy_whole(c, id, s->pid);
	}
	if (w->samples++ >= COLLECTOR_WALK_FIRST && w->samples % COLLECTOR_WALK_EVERY)
		return 0;
	/* What DWARF finds in the copy (found already when the leaf needed it), the walk must have found too. */
	if (!n && unwinder__unwind(c->unwinder, s->pid, maps, &snap, c->walk_ips, COLLECTOR_LEAF_FIX_DEPTH, &n,
				   &stop) < 0)
		return 0;
	for (size_t i = 1; i < n && i < nu && !broken; i++)
		broken = c->walk_ips[i] != uips[i];
	w->broken += broken;
	if (++w->checked < COLLECTOR_WALK_WINDOW)
		return 0;
	broken = w->broken * 10 >= w->checked;
	w->checked = w->broken = 0;
	if (!broken)
		return 0;
	return collector_copy_whole(c, id, s->pid);
}

/*
 * Whether profile frame @id is an activation of the evaluation loop of
 * @py's CPython: _PyEval_EvalFrameDefault from 3.6 (where PyEval_EvalFrameEx
 * is only a wrapper tail-calling it, met as a leaf now and then), and
 * PyEval_EvalFrameEx on 2.7, or a part of it the compiler split off
 * (Debian's PGO builds of 3.13+ call C functions from
 * _PyEval_EvalFrameDefault.cold, so an extension's return address is there).
 */
static bool collector_is_eval_frame(const struct collector *c, const struct pyprocess *py, uint32_t id)
{
	const struct pyinfo *info = py ? pyprocess__info(py) : NULL;
	const char *name = profile__str(c->profile, profile__frame(c->profile, id)->name);
	const char *loop = info && info->major == 2 ? "PyEval_EvalFrameEx" : "_PyEval_EvalFrameDefault";
	size_t len = strlen(loop);

	return !strncmp(name, loop, len) && (name[len] == '\0' || name[len] == '.');
}

/*
 * Native frames below the innermost Python frame of a Python sample: walk
 * the unwound stack @ips from the leaf to the first activation of the
 * evaluation loop, and append the frames met on the way that are not the
 * interpreter's own (the C extension or library work the Python code
 * called; the interpreter's call machinery in between is hidden). Appends
 * nothing, and says so, when the stack holds no activation.
 */
int collector_leaf_natives(struct collector *c, size_t id, struct process *p, const __u64 *ips, size_t nips,
			   bool from_kernel, size_t *n, bool *ret_found)
{
	uint32_t frames[HEARTH_MAX_STACK_DEPTH];
	size_t k = 0;
	int r;

	*ret_found = false;
	for (size_t i = 0; i < nips && i < HEARTH_MAX_STACK_DEPTH; i++) {
		uint64_t addr = ips[i] - (i || from_kernel ? 1 : 0);

		r = process__symbolize(p, c->symcache, c->profile, addr, &frames[k]);
		if (r < 0)
			return r;
		if (collector_is_eval_frame(c, c->targets[id].py, frames[k])) {
			uint32_t interp = profile__frame(c->profile, frames[k])->mapping;

			*ret_found = true;
			/* The interpreter's own frames (same mapping as its loop) are its business. */
			for (size_t j = 0; j < k; j++)
				if (!interp || profile__frame(c->profile, frames[j])->mapping != interp)
					c->frames[(*n)++] = frames[j];
			return 0;
		}
		k++;
	}
	return 0;
}

/*
 * --native: the whole unwound native stack @ips, each activation of the
 * evaluation loop replaced by the run of Python frames it was running (the
 * frames up to one marked HEARTH_PYFRAME_ENTRY), leaf first.
 *
 * An activation entering the loop (before it links its frame into the
 * thread) or leaving it (after unlinking it) has no Python frames yet or
 * any more; only the innermost can be in that state, the outer ones being
 * in calls. So one activation more than runs of frames means the innermost
 * stays a native frame. Otherwise, when activations and runs do not pair
 * up, no order is invented: the native stack goes on top of the Python
 * one, under "[native stack]", and both under "[Python and native stacks
 * not paired]" at the root, so such samples gather in one place.
 */
int collector_merge_native(struct collector *c, size_t id, struct process *p, const struct hearth_sample *s,
			   const struct hearth_pyframe *pf, size_t np, const __u64 *ips, size_t nips,
			   bool from_kernel, bool native_cut, size_t *n)
{
	struct pyprocess *py = c->targets[id].py;
	bool py_cut = s->flags & HEARTH_SAMPLE_PY_TRUNCATED, unentered;
	uint32_t nat[HEARTH_MAX_STACK_DEPTH];
	bool loop[HEARTH_MAX_STACK_DEPTH];
	size_t before = *n, g = 0, loops = 0, runs = 0, innermost = 0;
	uint32_t frame;
	bool skip;
	int r;

	if (nips > HEARTH_MAX_STACK_DEPTH) {
		nips = HEARTH_MAX_STACK_DEPTH;
		native_cut = true;
	}
	for (size_t i = 0; i < nips; i++) {
		r = process__symbolize(p, c->symcache, c->profile, ips[i] - (i || from_kernel ? 1 : 0), &nat[i]);
		if (r < 0)
			return r;
		loop[i] = collector_is_eval_frame(c, py, nat[i]);
		if (loop[i] && !loops++)
			innermost = i;
	}
	for (size_t k = 0; k < np; k++)
		runs += (pf[k].flags & HEARTH_PYFRAME_ENTRY) || k == np - 1;
	unentered = loops == runs + 1 && !py_cut && !native_cut;

	for (size_t i = 0; i < nips; i++) {
		if (!loop[i] || (unentered && i == innermost) || (g == np && py_cut)) {
			c->frames[(*n)++] = nat[i];
			continue;
		}
		if (g == np)
			goto mismatch;
		do {
			r = pyprocess__frame(py, c->profile, &pf[g], s->time_ns, &frame, &skip);
			if (r < 0)
				return r;
			if (!skip)
				c->frames[(*n)++] = frame;
		} while (!(pf[g++].flags & HEARTH_PYFRAME_ENTRY) && g < np);
	}
	/* Python frames left over belong below a native stack cut short; else nothing fits. */
	if (g < np && !native_cut)
		goto mismatch;
	for (; g < np; g++) {
		r = pyprocess__frame(py, c->profile, &pf[g], s->time_ns, &frame, &skip);
		if (r < 0)
			return r;
		if (!skip)
			c->frames[(*n)++] = frame;
	}
	c->stats.py_stacks++;
	c->stats.py_native_unentered += unentered;
	return 0;
mismatch:
	*n = before;
	c->stats.py_native_mismatch++;
	memcpy(&c->frames[*n], nat, nips * sizeof(nat[0]));
	*n += nips;
	if ((r = collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[native stack]", &c->frames[(*n)++])) < 0 ||
	    (r = collector_python_frames(c, id, s, pf, np, n)) < 0)
		return r;
	return collector_special_frame(c, PROFILE_FRAME_SPECIAL, "[Python and native stacks not paired]",
				       &c->frames[(*n)++]);
}
