// SPDX-License-Identifier: MIT
/*
 * libunwind's remote accessors over a walk's context: words from the copied
 * stack or a mapped file (never from the target), the sampled registers, and
 * the CFI of an ip from .eh_frame_hdr, else .debug_frame. A lookup or read
 * that fails says why in the context, so the walk can stop for that reason.
 */
#include <errno.h>
#include <libunwind.h>
#include <stdio.h>
#include <string.h>

#include "debugframe.h"
#include "log.h"
#include "unwind-internal.h"

/* Exported by libunwind (and what its own ptrace accessors use) but absent from its headers. */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t *di,
					      unw_proc_info_t *pi, int need_unwind_info, void *arg);

/* find_proc_info through .debug_frame, found and indexed on first need; -UNW_ENOINFO when none. */
static int unwind_search_debug_frame(unw_addr_space_t as, struct unwind_ctx *ctx, struct unwind_file *f,
				     const struct procmap *m, uint64_t bias, unw_word_t ip, unw_proc_info_t *pi,
				     int need_unwind_info)
{
	char root[64];
	int r;

	if (!f->dbg_tried && f->mapped) {
		f->dbg_tried = true;
		snprintf(root, sizeof(root), "/proc/%d/root", (int)ctx->pid);
		r = debug_frame__load(f->data, f->size, ctx->pid > 0 ? root : NULL, m->path, &f->dbg);
		if (r == 0)
			ctx->u->stats.debug_frame_files++;
		else if (r != -ENOENT)
			log_debug("unwind: %s: .debug_frame: %s", m->path, strerror(-r));
	}
	if (!f->dbg)
		return -UNW_ENOINFO;
	r = debug_frame__find_proc_info(f->dbg, as, m->start, m->end, bias, ip, pi, need_unwind_info);
	if (r == 0)
		ctx->u->stats.debug_frame_lookups++;
	return r;
}

static int unwind_ctx_refuse(struct unwind_ctx *ctx, enum unwind_stop why)
{
	ctx->refused = true;
	ctx->hint = why;
	ctx->u->stats.mem_refused++;
	return -UNW_EINVAL;
}

/*
 * Without CFI libunwind falls back on guesses (the RBP chain, "RBP 0 is the
 * outermost frame"); a walk that needed one stops instead, so what it
 * returns is what the tables say.
 */
static int unwind_ctx_no_cfi(struct unwind_ctx *ctx, enum unwind_stop why)
{
	ctx->no_cfi = true;
	ctx->no_cfi_reason = why;
	return -UNW_ENOINFO;
}

static int unwind_find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
				 int need_unwind_info, void *arg)
{
	struct unwind_ctx *ctx = arg;
	const struct procmap *m = procmaps__find(ctx->maps, ip);
	struct unwind_file *f;
	unw_dyn_info_t di;
	uint64_t bias;
	int r;

	if (!m || !(m->prot & PROCMAP_EXEC))
		return unwind_ctx_no_cfi(ctx, UNWIND_STOP_BAD_IP);
	if (unwind_ctx_file(ctx, m, &f) < 0 || unwind_file_bias(f, m, &bias) < 0)
		return unwind_ctx_no_cfi(ctx, UNWIND_STOP_NO_INFO);
	r = -UNW_ENOINFO;
	if (f->has_table) {
		memset(&di, 0, sizeof(di));
		di.start_ip = m->start;
		di.end_ip = m->end;
		di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
		di.u.rti.name_ptr = 0;
		di.u.rti.segbase = f->hdr_vaddr + bias;
		di.u.rti.table_data = f->table_vaddr + bias;
		di.u.rti.table_len = f->fde_count * 8 / sizeof(unw_word_t);
		r = UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, arg);
	}
	if (r == -UNW_ENOINFO)
		r = unwind_search_debug_frame(as, ctx, f, m, bias, ip, pi, need_unwind_info);
	if (r == -UNW_ENOINFO)
		return unwind_ctx_no_cfi(ctx, UNWIND_STOP_NO_INFO);
	return r;
}

/* libunwind frees the unwind info it builds from tables itself; only dynamic info comes here. */
static void unwind_put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
}

static int unwind_get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *dilap, void *arg)
{
	return -UNW_ENOINFO;
}

static int unwind_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write,
			     void *arg)
{
	struct unwind_ctx *ctx = arg;
	const struct unwind_snapshot *s = ctx->snap;
	const struct procmap *m;
	struct unwind_file *f;
	uint64_t off;

	if (write)
		return -UNW_EREADONLYREG;
	if (addr >= s->regs.sp && addr - s->regs.sp < s->stack_len) {
		off = addr - s->regs.sp;
		if (s->stack_len - off < sizeof(*valp))
			return unwind_ctx_refuse(ctx, UNWIND_STOP_STACK_END);
		memcpy(valp, s->stack + off, sizeof(*valp));
		ctx->u->stats.mem_stack++;
		return 0;
	}
	m = ctx->memo_map && addr >= ctx->memo_map->start && addr < ctx->memo_map->end ?
		    ctx->memo_map : procmaps__find(ctx->maps, addr);
	if (!m)
		return unwind_ctx_refuse(ctx, UNWIND_STOP_BAD_MEMORY);
	if (m == ctx->stack_map)
		return unwind_ctx_refuse(ctx, addr > s->regs.sp ? UNWIND_STOP_STACK_END :
								  UNWIND_STOP_BAD_MEMORY);
	if (unwind_ctx_file(ctx, m, &f) < 0)
		return unwind_ctx_refuse(ctx, UNWIND_STOP_BAD_MEMORY);
	off = m->offset + (addr - m->start);
	if (off < m->offset || off > f->size || f->size - off < sizeof(*valp))
		return unwind_ctx_refuse(ctx, UNWIND_STOP_BAD_MEMORY);
	memcpy(valp, f->data + off, sizeof(*valp));
	ctx->u->stats.mem_file++;
	return 0;
}

static int unwind_access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *valp, int write,
			     void *arg)
{
	const struct unwind_regs *r = &((struct unwind_ctx *)arg)->snap->regs;

	if (write)
		return -UNW_EREADONLYREG;
	switch (reg) {
	case UNW_X86_64_RIP:
		*valp = r->ip;
		return 0;
	case UNW_X86_64_RSP:
		*valp = r->sp;
		return 0;
	case UNW_X86_64_RBP:
		*valp = r->bp;
		return 0;
	case UNW_X86_64_RBX:
		*valp = r->bx;
		return 0;
	case UNW_X86_64_R12:
		*valp = r->r12;
		return 0;
	case UNW_X86_64_R13:
		*valp = r->r13;
		return 0;
	case UNW_X86_64_R14:
		*valp = r->r14;
		return 0;
	case UNW_X86_64_R15:
		*valp = r->r15;
		return 0;
	default:
		/* Caller-saved registers: no CFI rule at a call site depends on them. */
		return -UNW_EBADREG;
	}
}

static int unwind_access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			       void *arg)
{
	return -UNW_EBADREG;
}

static int unwind_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	return -UNW_EINVAL;
}

static int unwind_get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
				unw_word_t *offp, void *arg)
{
	return -UNW_ENOINFO;
}

const unw_accessors_t unwind_accessors = {
	.find_proc_info = unwind_find_proc_info,
	.put_unwind_info = unwind_put_unwind_info,
	.get_dyn_info_list_addr = unwind_get_dyn_info_list_addr,
	.access_mem = unwind_access_mem,
	.access_reg = unwind_access_reg,
	.access_fpreg = unwind_access_fpreg,
	.resume = unwind_resume,
	.get_proc_name = unwind_get_proc_name,
};
