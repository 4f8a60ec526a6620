// SPDX-License-Identifier: MIT
#include "cfirows.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>

#define CFI_REG_RA 16 /* x86-64 DWARF number of the return address column */

struct cfi_rows {
	Elf *elf;
	Dwarf_CFI *cfi;
	struct cfi_row *rows; /* sorted by start, not overlapping */
	size_t n, cap;
};

int cfi_rows__new(const void *image, size_t size, struct cfi_rows **ret)
{
	struct cfi_rows *r;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOTSUP;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* ELF_C_READ_MMAP-like: libelf reads the caller's bytes in place and never writes them. */
	r->elf = elf_memory((char *)image, size);
	if (r->elf)
		r->cfi = dwarf_getcfi_elf(r->elf);
	if (!r->cfi) {
		cfi_rows__free(r);
		return -ENOENT;
	}
	*ret = r;
	return 0;
}

struct cfi_rows *cfi_rows__free(struct cfi_rows *r)
{
	if (!r)
		return NULL;
	if (r->cfi)
		dwarf_cfi_end(r->cfi);
	if (r->elf)
		elf_end(r->elf);
	free(r->rows);
	free(r);
	return NULL;
}

size_t cfi_rows__memory(const struct cfi_rows *r)
{
	return r ? sizeof(*r) + r->cap * sizeof(*r->rows) : 0;
}

/* A location "memory at CFA + offset", as libdw gives it; false for any other form. */
static bool cfa_relative(const Dwarf_Op *ops, size_t nops, int16_t *ret)
{
	int64_t off;

	if (nops < 1 || nops > 2 || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	off = nops == 1 ? 0 : (int64_t)ops[1].number;
	if (nops == 2 && ops[1].atom != DW_OP_plus_uconst)
		return false;
	if (off < INT16_MIN || off > INT16_MAX)
		return false;
	*ret = (int16_t)off;
	return true;
}

/* Read @frame's rules into @row (kind CFI_ROW_OTHER when not of the simple forms). */
static void cfi_row_from_frame(Dwarf_Frame *frame, struct cfi_row *row)
{
	Dwarf_Op mem[3], *ops;
	Dwarf_Addr start, end;
	uint64_t reg;
	size_t nops;
	int64_t off;
	bool signal;

	if (dwarf_frame_info(frame, &start, &end, &signal) != CFI_REG_RA || signal || end <= start)
		return;
	row->start = start;
	row->end = end;
	/* CFA = register + offset: DW_OP_bregx (libdw's form) or DW_OP_bregN, of RSP or RBP. */
	if (dwarf_frame_cfa(frame, &ops, &nops) < 0 || nops != 1)
		return;
	if (ops[0].atom == DW_OP_bregx) {
		reg = ops[0].number;
		off = (int64_t)ops[0].number2;
	} else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
		reg = ops[0].atom - DW_OP_breg0;
		off = (int64_t)ops[0].number;
	} else {
		return;
	}
	if ((reg != CFI_REG_RSP && reg != CFI_REG_RBP) || off < INT32_MIN || off > INT32_MAX)
		return;
	row->cfa_reg = (uint8_t)reg;
	row->cfa_off = (int32_t)off;
	if (dwarf_frame_register(frame, CFI_REG_RA, mem, &ops, &nops) < 0)
		return;
	if (nops == 0 && ops == mem) {
		row->kind = CFI_ROW_END; /* undefined */
		return;
	}
	if (!cfa_relative(ops, nops, &row->ra_off))
		return;
	if (dwarf_frame_register(frame, CFI_REG_RBP, mem, &ops, &nops) < 0)
		return;
	if (nops == 0 && !ops) {
		row->bp_saved = false; /* same value */
	} else if (cfa_relative(ops, nops, &row->bp_off)) {
		row->bp_saved = true;
	} else {
		return; /* undefined, or kept elsewhere */
	}
	row->kind = CFI_ROW_SIMPLE;
}

/* libdw's row for @addr, uncached, into @row; false without one. */
static bool cfi_rows_read(const struct cfi_rows *r, uint64_t addr, struct cfi_row *row)
{
	Dwarf_Frame *frame = NULL;

	if (dwarf_cfi_addrframe(r->cfi, addr, &frame) != 0)
		return false;
	cfi_row_from_frame(frame, row);
	free(frame);
	return true;
}

/* Whether @a and @b hold the same rules. */
static bool cfi_row_rules_same(const struct cfi_row *a, const struct cfi_row *b)
{
	return a->kind == b->kind && a->cfa_reg == b->cfa_reg && a->cfa_off == b->cfa_off &&
	       a->ra_off == b->ra_off && a->bp_saved == b->bp_saved && (!a->bp_saved || a->bp_off == b->bp_off);
}

/* Whether @a and @b are one row: the same range and rules. */
static bool cfi_row_same(const struct cfi_row *a, const struct cfi_row *b)
{
	return a->start == b->start && a->end == b->end && cfi_row_rules_same(a, b);
}

/*
 * The true start of @row, libdw's row for @addr whose reported start is too
 * low: the lowest address in (row->start, addr] whose row ends at row->end
 * with the same rules (about 10 lookups in a 1 KiB row).
 */
static uint64_t cfi_rows_start(const struct cfi_rows *r, const struct cfi_row *row, uint64_t addr)
{
	uint64_t lo = row->start, hi = addr; /* lo's row is another, hi's is this one */

	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		struct cfi_row at = { .kind = CFI_ROW_OTHER };

		if (cfi_rows_read(r, mid, &at) && at.end == row->end)
			hi = mid;
		else
			lo = mid;
	}
	if (hi != addr) {
		struct cfi_row at = { .kind = CFI_ROW_OTHER };

		if (!cfi_rows_read(r, hi, &at) || at.end != row->end || !cfi_row_rules_same(&at, row))
			return addr;
	}
	return hi;
}

int cfi_rows__read(const struct cfi_rows *r, uint64_t addr, struct cfi_row *ret)
{
	*ret = (struct cfi_row){ .start = addr, .end = addr + 1, .kind = CFI_ROW_OTHER };
	return cfi_rows_read(r, addr, ret) ? 0 : -ENOENT;
}

/* Index of the first row whose end is above @addr. */
static size_t cfi_rows_search(const struct cfi_rows *r, uint64_t addr)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->rows[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int cfi_rows_insert(struct cfi_rows *r, size_t at, const struct cfi_row *row)
{
	if (r->n == CFI_ROWS_MAX) {
		r->n = 0;
		at = 0;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct cfi_row *rows = realloc(r->rows, cap * sizeof(*rows));

		if (!rows)
			return -ENOMEM;
		r->rows = rows;
		r->cap = cap;
	}
	memmove(&r->rows[at + 1], &r->rows[at], (r->n - at) * sizeof(*row));
	r->rows[at] = *row;
	r->n++;
	return 0;
}

int cfi_rows__find(struct cfi_rows *r, uint64_t addr, struct cfi_row *ret)
{
	struct cfi_row row = { .start = addr, .end = addr + 1, .kind = CFI_ROW_OTHER };
	size_t at = cfi_rows_search(r, addr);

	if (at < r->n && r->rows[at].start <= addr) {
		*ret = r->rows[at];
		return 0;
	}
	if (cfi_rows_read(r, addr, &row) && row.start < addr) {
		struct cfi_row first = { .kind = CFI_ROW_OTHER };

		/*
		 * libdw's DW_CFA_restore_state brings back the remembered row's
		 * start with its rules: an epilogue's row can claim to start where
		 * the body's did. Its end is always right, and no row below the
		 * true start ends there: a binary search for the lowest address
		 * whose row ends where this one does finds the start.
		 */
		if (!cfi_rows_read(r, row.start, &first) || !cfi_row_same(&first, &row))
			row.start = cfi_rows_start(r, &row, addr);
	}
	/* Clamped to the gap between the rows cached around it, which always holds addr. */
	if (row.start > addr || row.end <= addr) {
		row.start = addr;
		row.end = addr + 1;
	}
	if (at > 0 && row.start < r->rows[at - 1].end)
		row.start = r->rows[at - 1].end;
	if (at < r->n && row.end > r->rows[at].start)
		row.end = r->rows[at].start;
	*ret = row;
	return cfi_rows_insert(r, at, &row);
}
