/* SPDX-License-Identifier: MIT */
/*
 * The CFI rows of one ELF image (.eh_frame), read through libdw and kept in
 * the few forms compiled x86-64 code uses: CFA = RSP or RBP + offset, the
 * return address saved at CFA + offset, RBP unchanged or saved at CFA +
 * offset. A row, once looked up, covers its whole address range, so the
 * unwinder's common case is a binary search and a few reads from the stack
 * copy, with no libunwind call (whose caches lock by masking signals: two
 * system calls per frame). Anything else (expressions, signal frames, other
 * registers) is CFI_ROW_OTHER: libunwind's to walk.
 */
#ifndef HEARTH_CFIROWS_H
#define HEARTH_CFIROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFI_ROWS_MAX 65536 /* rows cached per image, about 1.5 MiB; past it the cache starts over */

#define CFI_REG_RBP 6
#define CFI_REG_RSP 7

enum cfi_row_kind {
	CFI_ROW_SIMPLE, /* the forms above */
	CFI_ROW_END,    /* the return address is undefined: the outermost frame (_start, clone3) */
	CFI_ROW_OTHER,  /* a rule of another form, or no FDE: not for this walker */
};

struct cfi_row {
	uint64_t start, end; /* link-time addresses the row holds for */
	int32_t cfa_off;
	int16_t ra_off;   /* the return address is at CFA + ra_off */
	int16_t bp_off;   /* with bp_saved: the caller's RBP is at CFA + bp_off */
	uint8_t cfa_reg;  /* CFI_REG_RSP or CFI_REG_RBP */
	uint8_t kind;     /* enum cfi_row_kind */
	bool bp_saved;
};

struct cfi_rows;

/*
 * The rows of the ELF image at @image (@size bytes, kept mapped by the
 * caller while the rows live). Returns 0, -ENOENT without .eh_frame, or
 * -errno.
 */
int cfi_rows__new(const void *image, size_t size, struct cfi_rows **ret);

/* Accepts NULL, returns NULL. */
struct cfi_rows *cfi_rows__free(struct cfi_rows *r);

/*
 * The row for link-time address @addr, looked up through libdw on first
 * need (a row of kind CFI_ROW_OTHER covers just @addr when there was no
 * FDE). Returns 0 or -ENOMEM.
 */
int cfi_rows__find(struct cfi_rows *r, uint64_t addr, struct cfi_row *ret);

/*
 * libdw's own row for @addr, read afresh and not cached (its start may be
 * too low, see cfi_rows__find): the tests' reference. Returns 0 or -ENOENT.
 */
int cfi_rows__read(const struct cfi_rows *r, uint64_t addr, struct cfi_row *ret);

/* Bytes held by the row cache (libdw's own parse state not counted). */
size_t cfi_rows__memory(const struct cfi_rows *r);

#endif
