// SPDX-License-Identifier: MIT
/*
 * A walk goes first through the CFI rows cached per file (cfirows.c, read
 * with libdw): for compiled code a lookup and a few reads per frame. Where a
 * frame needs more (expressions, signal frames, .debug_frame, words past the
 * copy), libunwind walks the whole stack (CIE/FDE parsing, the CFA programs,
 * signal frames) in an address space made of two things only: the copied
 * stack, and the bytes of the ELF files the process maps, mapped here
 * read-only. Nothing is ever read from the target process itself.
 */
#include "unwind.h"

#include <errno.h>
#include <libunwind.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cfirows.h"
#include "log.h"
#include "unwind-internal.h"

#define UNWIND_DEFAULT_FILES 256
#define UNWIND_MIN_FILES 4

static const char *const unwind_stop_names[UNWIND_STOP__MAX] = {
	[UNWIND_STOP_END] = "end",
	[UNWIND_STOP_STACK_END] = "stack-end",
	[UNWIND_STOP_NO_INFO] = "no-info",
	[UNWIND_STOP_BAD_IP] = "bad-ip",
	[UNWIND_STOP_BAD_MEMORY] = "bad-memory",
	[UNWIND_STOP_LOOP] = "loop",
	[UNWIND_STOP_DEPTH] = "depth",
	[UNWIND_STOP_ERROR] = "error",
};

const char *unwind_stop_name(enum unwind_stop stop)
{
	return (unsigned)stop < UNWIND_STOP__MAX ? unwind_stop_names[stop] : "unknown";
}

int unwinder__new(size_t max_files, struct unwinder **ret)
{
	struct unwinder *u;

	if (!max_files)
		max_files = UNWIND_DEFAULT_FILES;
	if (max_files < UNWIND_MIN_FILES)
		max_files = UNWIND_MIN_FILES;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->max_files = max_files;
	for (u->nr_keys = 16; u->nr_keys < 4 * max_files; u->nr_keys *= 2)
		;
	u->files = calloc(max_files, sizeof(*u->files));
	u->keys = calloc(u->nr_keys, sizeof(*u->keys));
	u->keys_spare = calloc(u->nr_keys, sizeof(*u->keys));
	if (!u->files || !u->keys || !u->keys_spare) {
		unwinder__free(u);
		return -ENOMEM;
	}
	u->accessors = unwind_accessors;
	*ret = u;
	return 0;
}

static void unwinder_drop_process(struct unwinder *u, size_t i)
{
	unw_destroy_addr_space(u->procs[i].as);
	u->procs[i] = u->procs[--u->nr_procs];
	/*
	 * An address space's caches are large: give the freed memory back, or
	 * churn keeps it; but once a second at most, as a trim costs a TLB
	 * flush on every CPU and churn drops spaces by the hundred.
	 */
	u->trim_pending = true;
	unwinder__trim(u);
}

void unwinder__trim(struct unwinder *u)
{
	uint64_t now;

	if (!u || !u->trim_pending)
		return;
	now = time_now_ns();
	if (now - u->trimmed_ns < 1000000000ull)
		return;
	malloc_trim(0);
	u->trimmed_ns = now;
	u->trim_pending = false;
}

void unwinder__flush(struct unwinder *u)
{
	if (!u)
		return;
	while (u->nr_procs)
		unwinder_drop_process(u, u->nr_procs - 1);
	for (size_t i = 0; i < u->nr_files; i++)
		unwind_file_release(&u->files[i]);
	u->nr_files = 0;
	if (u->keys)
		memset(u->keys, 0, u->nr_keys * sizeof(*u->keys));
	u->keys_used = 0;
}

struct unwinder *unwinder__free(struct unwinder *u)
{
	if (!u)
		return NULL;
	unwinder__flush(u);
	free(u->files);
	free(u->keys);
	free(u->keys_spare);
	free(u);
	return NULL;
}

void unwinder__forget_process(struct unwinder *u, pid_t pid)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->nr_procs; i++) {
		if (u->procs[i].pid == pid) {
			unwinder_drop_process(u, i);
			return;
		}
	}
}

/*
 * One libunwind address space per process: its CFI cache is keyed by ip
 * alone, and two processes map different code at the same addresses.
 */
static unw_addr_space_t unwinder_process_as(struct unwinder *u, pid_t pid)
{
	struct unwind_process *p = NULL;
	unw_addr_space_t as;

	for (size_t i = 0; i < u->nr_procs; i++) {
		if (u->procs[i].pid == pid) {
			u->procs[i].last_use = u->tick;
			return u->procs[i].as;
		}
	}
	as = unw_create_addr_space(&u->accessors, 0);
	if (!as)
		return NULL;
	/* Not UNW_CACHE_PER_THREAD: that one cache is shared by every address space. */
	unw_set_caching_policy(as, UNW_CACHE_GLOBAL);
	if (u->nr_procs == UNWIND_MAX_PROCESSES) {
		size_t victim = 0;

		for (size_t i = 1; i < u->nr_procs; i++)
			if (u->procs[i].last_use < u->procs[victim].last_use)
				victim = i;
		unwinder_drop_process(u, victim);
		u->stats.process_evictions++;
	}
	p = &u->procs[u->nr_procs++];
	*p = (struct unwind_process){ .pid = pid, .as = as, .last_use = u->tick };
	return as;
}

/* Why unw_step() failed: the last refused read or lookup says it best. */
static enum unwind_stop unwind_ctx_failure(const struct unwind_ctx *ctx, int r)
{
	if (ctx->refused)
		return ctx->hint;
	return r == -UNW_ENOINFO ? UNWIND_STOP_NO_INFO : UNWIND_STOP_ERROR;
}

/* The word at @addr of the stack copy; false when it is not all in the copy. */
static bool unwind_copy_word(const struct unwind_snapshot *s, uint64_t addr, uint64_t *ret)
{
	if (addr < s->regs.sp || addr - s->regs.sp > s->stack_len || s->stack_len - (addr - s->regs.sp) < 8)
		return false;
	memcpy(ret, s->stack + (addr - s->regs.sp), sizeof(*ret));
	return true;
}

/* The CFI row for @ip in mapping @m, the rows made on first need. Returns 0 or -EAGAIN (libunwind's walk). */
static int unwind_row(struct unwind_ctx *ctx, const struct procmap *m, uint64_t ip, struct cfi_row *row)
{
	struct unwind_file *f;
	uint64_t bias;

	if (unwind_ctx_file(ctx, m, &f) < 0 || !f->has_table || unwind_file_bias(f, m, &bias) < 0)
		return -EAGAIN;
	if (!f->rows_tried) {
		f->rows_tried = true;
		if (cfi_rows__new(f->data, f->size, &f->rows) < 0)
			f->rows = NULL;
	}
	if (!f->rows || cfi_rows__find(f->rows, ip - bias, row) < 0 || row->kind == CFI_ROW_OTHER)
		return -EAGAIN;
	return 0;
}

/*
 * Whether the word at @addr, not in the copy, is one unwind_access_mem()
 * refuses as past the copy's end on the stack (libunwind's walk then stops
 * there, by the end of the stack copied): a copy made only down to the
 * evaluation loop ends so. Anywhere else libunwind may read from a file.
 */
static bool unwind_past_copy(const struct unwind_ctx *ctx, uint64_t addr)
{
	const struct unwind_snapshot *s = ctx->snap;
	const struct procmap *m = ctx->stack_map;

	if (addr >= s->regs.sp && addr - s->regs.sp < s->stack_len)
		return true; /* a word the copy holds only the start of */
	return m && addr > s->regs.sp && addr >= m->start && addr < m->end;
}

/*
 * The walk libunwind would make, step for step and stop for stop, when
 * every frame's row is of the forms cfirows.h keeps and every word it needs
 * is in the copy: a lookup and a few reads per frame. Past the first frame
 * the row is the one of ip - 1 (inside the call), as libunwind looks it up.
 * RBP is read from where it was saved only when a CFA needs it, as
 * libunwind's locations are. Returns 0 with the walk done, or -EAGAIN when
 * a frame needs libunwind: the whole walk is then left to it.
 */
static int unwind_by_rows(struct unwind_ctx *ctx, uint64_t *ips, size_t max, size_t *ret_n,
			  enum unwind_stop *ret_stop)
{
	const struct unwind_snapshot *s = ctx->snap;
	uint64_t ip = s->regs.ip, sp = s->regs.sp, bp = s->regs.bp, bp_at = 0;
	size_t n = 0;

	for (;;) {
		const struct procmap *m = procmaps__find(ctx->maps, ip);
		uint64_t cfa, next_ip;
		struct cfi_row row;

		if (!m || !(m->prot & PROCMAP_EXEC)) {
			*ret_stop = UNWIND_STOP_BAD_IP;
			break;
		}
		if (n == max) {
			*ret_stop = UNWIND_STOP_DEPTH;
			break;
		}
		ips[n++] = ip;
		if (!procmap__is_file(m) && !procmap_is_vdso(m)) {
			*ret_stop = UNWIND_STOP_NO_INFO;
			break;
		}
		if (unwind_row(ctx, m, ip - (n > 1), &row) < 0)
			return -EAGAIN;
		if (row.cfa_reg == CFI_REG_RBP) {
			if (bp_at && !unwind_copy_word(s, bp_at, &bp)) {
				if (!unwind_past_copy(ctx, bp_at))
					return -EAGAIN;
				*ret_stop = UNWIND_STOP_STACK_END;
				break;
			}
			bp_at = 0;
		}
		cfa = (row.cfa_reg == CFI_REG_RBP ? bp : sp) + (uint64_t)(int64_t)row.cfa_off;
		if (row.kind == CFI_ROW_END) {
			/* libunwind: ip 0, the step returns 0, SP the CFA. */
			*ret_stop = cfa < sp ? UNWIND_STOP_LOOP : UNWIND_STOP_END;
			break;
		}
		if (!unwind_copy_word(s, cfa + (uint64_t)(int64_t)row.ra_off, &next_ip)) {
			if (!unwind_past_copy(ctx, cfa + (uint64_t)(int64_t)row.ra_off))
				return -EAGAIN;
			*ret_stop = UNWIND_STOP_STACK_END;
			break;
		}
		if (row.bp_saved)
			bp_at = cfa + (uint64_t)(int64_t)row.bp_off;
		if (next_ip == ip && cfa == sp) {
			*ret_stop = UNWIND_STOP_ERROR; /* libunwind's -UNW_EBADFRAME */
			break;
		}
		if (cfa <= sp) {
			*ret_stop = UNWIND_STOP_LOOP;
			break;
		}
		if (next_ip == 0) {
			*ret_stop = UNWIND_STOP_END;
			break;
		}
		ip = next_ip;
		sp = cfa;
	}
	*ret_n = n;
	return 0;
}

int unwinder__unwind(struct unwinder *u, pid_t pid, const struct procmaps *maps,
		     const struct unwind_snapshot *snap, uint64_t *ips, size_t max,
		     size_t *ret_n, enum unwind_stop *ret_stop)
{
	struct unwind_ctx *ctx;
	enum unwind_stop stop;
	unw_cursor_t cursor;
	unw_addr_space_t as;
	uint64_t ip, sp;
	size_t n = 0;
	int r;

	if (!u || !maps || !snap || (!snap->stack && snap->stack_len) || (!ips && max) || !ret_n ||
	    !ret_stop)
		return -EINVAL;
	if (max > UNWIND_MAX_DEPTH)
		max = UNWIND_MAX_DEPTH;
	u->tick++;
	ctx = &u->ctx;
	*ctx = (struct unwind_ctx){
		.u = u,
		.pid = pid,
		.maps = maps,
		.snap = snap,
		.stack_map = procmaps__find(maps, snap->regs.sp),
	};
	if (!u->rows_off && unwind_by_rows(ctx, ips, max, &n, &stop) == 0) {
		u->stats.by_rows++;
		goto out;
	}
	u->stats.by_libunwind++;
	n = 0;
	as = unwinder_process_as(u, pid);
	if (!as)
		return -ENOMEM;

	ip = snap->regs.ip;
	sp = snap->regs.sp;
	r = unw_init_remote(&cursor, as, ctx);
	if (r < 0) {
		stop = UNWIND_STOP_ERROR;
		goto out;
	}
	for (;;) {
		const struct procmap *m = procmaps__find(maps, ip);
		unw_word_t next_ip, next_sp;

		if (!m || !(m->prot & PROCMAP_EXEC)) {
			stop = UNWIND_STOP_BAD_IP;
			break;
		}
		if (n == max) {
			stop = UNWIND_STOP_DEPTH;
			break;
		}
		ips[n++] = ip;
		/* libunwind would guess through frame pointers here; JIT frames are another unwinder's job. */
		if (!procmap__is_file(m) && !procmap_is_vdso(m)) {
			stop = UNWIND_STOP_NO_INFO;
			break;
		}
		ctx->refused = false;
		ctx->no_cfi = false;
		r = unw_step(&cursor);
		if (ctx->no_cfi) {
			stop = ctx->no_cfi_reason;
			break;
		}
		if (r < 0) {
			stop = unwind_ctx_failure(ctx, r);
			break;
		}
		if (unw_get_reg(&cursor, UNW_REG_IP, &next_ip) < 0 ||
		    unw_get_reg(&cursor, UNW_REG_SP, &next_sp) < 0) {
			stop = UNWIND_STOP_ERROR;
			break;
		}
		/*
		 * Every real frame, signal frames included, sits above the one it
		 * called. An end whose CFA wrapped around is no end either: libunwind
		 * takes a return address saved at address 0 for an undefined one.
		 */
		if (next_sp < sp || (r > 0 && next_sp == sp)) {
			stop = UNWIND_STOP_LOOP;
			break;
		}
		if (r == 0 || next_ip == 0) {
			stop = UNWIND_STOP_END;
			break;
		}
		ip = next_ip;
		sp = next_sp;
	}
out:
	u->stats.unwinds++;
	u->stats.frames += n;
	u->stats.stops[stop]++;
	*ret_n = n;
	*ret_stop = stop;
	return 0;
}

void unwinder__use_rows(struct unwinder *u, bool on)
{
	if (u)
		u->rows_off = !on;
}

void unwinder__stats(const struct unwinder *u, struct unwind_stats *ret)
{
	*ret = u->stats;
	ret->files = 0;
	for (size_t i = 0; i < u->nr_files; i++)
		if (u->files[i].data)
			ret->files++;
	ret->processes = u->nr_procs;
}
