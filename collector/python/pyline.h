/* SPDX-License-Identifier: MIT */
/*
 * Source lines and names out of CPython objects copied from a target process:
 * a code object's line table turned into the line of one instruction, and a
 * str's code points turned into UTF-8. Pure functions on bytes the caller has
 * already copied (and capped); nothing here reads memory, allocates or prints.
 *
 * Line tables are untrusted input. The decoders never read past len, take
 * time linear in len, and return
 *   0        with *ret_line set,
 *   -ENOENT  when the table says the instruction has no line (3.10+ only:
 *            compiler-made instructions such as exception-handling cleanup),
 *   -ERANGE  when the offset lies past what the table describes (3.10+ only:
 *            up to 3.9 the last line simply extends to the end),
 *   -EPROTO  when the table is malformed or truncated before the offset,
 *   -EINVAL  on a NULL pointer or (pyline_lookup) an unknown version.
 * *ret_line is written only on success. A line may be 0 (3.11+ module code
 * starts with an instruction on line 0) but never needs more than an int.
 *
 * The three formats, as CPython documents them (Objects/lnotab_notes.txt and,
 * from 3.11, Objects/locations.md):
 *   co_lnotab (2.7, 3.6-3.9): pairs (byte delta, line delta); the line delta
 *     is unsigned in 2.7 and a signed byte from 3.6.
 *   co_linetable (3.10): pairs (byte length, line delta); the length is
 *     unsigned, the line delta a signed byte where -128 means "no line".
 *   co_linetable (3.11-3.15): the location table, one variable-length entry
 *     per run of 1-8 code units; see pyline_from_locations().
 */
#ifndef HEARTH_PYLINE_H
#define HEARTH_PYLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The line of the instruction at byte_offset (bytes from the start of
 * co_code: f_lasti as 2.7 and 3.6-3.9 keep it) under co_lnotab. signed_deltas
 * is false for 2.7 and true from 3.6. Every offset has a line in this format:
 * offsets past the last entry are on the last line.
 */
int pyline_from_lnotab(const uint8_t *tab, size_t len, int firstlineno, bool signed_deltas,
		       uint32_t byte_offset, int *ret_line);

/*
 * The line of the instruction at byte_offset (bytes from the start of
 * co_code; 3.10's f_lasti counts code units, so twice f_lasti) under 3.10's
 * co_linetable.
 */
int pyline_from_linetable_310(const uint8_t *tab, size_t len, int firstlineno,
			      uint32_t byte_offset, int *ret_line);

/*
 * The line of the code unit at code_unit_offset under the 3.11-3.15 location
 * table. code_unit_offset counts 2-byte code units from the start of
 * co_code_adaptive: (instruction pointer - address of co_code_adaptive) / 2,
 * where the pointer is prev_instr in 3.11-3.12 and instr_ptr in 3.13. Inline
 * cache units carry the location of the instruction they belong to, so
 * prev_instr resting on the last cache unit of a CALL maps to the call's line.
 * A 3.11-3.12 frame that has not started has prev_instr one unit before
 * co_code_adaptive (a negative offset): it is on co_firstlineno, which callers
 * decide before calling since the offset here is unsigned.
 *
 * Each entry starts with a byte 1CCCCLLL: it covers LLL + 1 code units and
 * C is its kind:
 *   0-9    short form: same line, one column byte follows;
 *   10-12  one-line form: line + C - 10, two column bytes follow;
 *   13     no columns: line delta as a signed varint;
 *   14     long form: line delta (signed varint), end line delta, column + 1
 *          and end column + 1 (varints);
 *   15     no location: no line (the running line is unchanged).
 * Varints are little-endian 6-bit chunks with 0x40 meaning "more"; a signed
 * varint keeps the sign in bit 0. No byte after an entry's first has bit 7
 * set, which is how a misaligned or corrupt table is recognized.
 */
int pyline_from_locations(const uint8_t *tab, size_t len, int firstlineno,
			  uint32_t code_unit_offset, int *ret_line);

/*
 * The line of an instruction of CPython MAJOR.MINOR (2.7, 3.6-3.15 and, as 3.15, later), given
 * the code object's line table (co_lnotab up to 3.9, co_linetable from 3.10),
 * its co_firstlineno and the instruction offset in the unit the frame holds:
 *   2.7, 3.6-3.9  f_lasti, in bytes;
 *   3.10          f_lasti, in code units (converted to bytes here);
 *   3.11+         code units from co_code_adaptive, as for
 *                 pyline_from_locations().
 * Returns what the decoder for that version returns, or -EINVAL for a
 * version not listed.
 */
int pyline_lookup(unsigned int major, unsigned int minor, const uint8_t *tab, size_t len,
		  int firstlineno, uint32_t offset, int *ret_line);

/*
 * Convert nr_chars code points of a PEP 393 str (kind 1, 2 or 4 bytes a code
 * point, in this machine's byte order, at data, which must hold
 * nr_chars * kind bytes; alignment does not matter) to UTF-8 in buf.
 * Surrogates (which a str may hold alone, and which kind 2 never pairs) and
 * values past U+10FFFF become U+FFFD. The output always ends in a NUL; when
 * buf is too small it stops at the last whole character that fits with its
 * NUL, which still counts as success. A U+0000 in the str is copied as a NUL
 * byte: *ret_len (may be NULL) is the number of bytes before the terminating
 * NUL. Returns 0, or -EINVAL for another kind, a NULL buf, size 0, or NULL
 * data with nr_chars > 0.
 */
int pystr_to_utf8(unsigned int kind, const void *data, size_t nr_chars, char *buf, size_t size,
		  size_t *ret_len);

#endif
