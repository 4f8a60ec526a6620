/* SPDX-License-Identifier: MIT */
/*
 * The input of fuzz-pycode, shared with the generator of its corpus
 * (pycode-corpus.c): a 14-byte header, then the bytes the target's memory
 * holds from PYCODE_FUZZ_BASE on. Every field is little-endian:
 *
 *   0  u8   version: index into pycode_fuzz_versions(), modulo their number
 *   1  u8   frame owner given to pystack__incomplete()
 *   2  u16  code object   \
 *   4  u16  thread state   | offsets from PYCODE_FUZZ_BASE of what the
 *   6  u16  interpreter    | entry points start from
 *   8  u16  runtime       /  (_PyRuntime, or _PyThreadState_Current on 2.7/3.6)
 *  10  u32  instruction offset given to pystack__line()
 */
#ifndef HEARTH_FUZZ_PYCODE_H
#define HEARTH_FUZZ_PYCODE_H

#include <stddef.h>
#include <stdint.h>

#include "pyoffsets.h"

/* Where the memory appears: a user-space address, so pointers into it are plausible. */
#define PYCODE_FUZZ_BASE 0x550000000000ull
#define PYCODE_FUZZ_HEADER 14
/* More versions than CPython will have: the table is searched for each. */
#define PYCODE_FUZZ_MAX_VERSIONS 32

struct pycode_fuzz_input {
	const struct py_offsets *o;
	uint8_t owner;
	uint16_t code, tstate, interp, runtime;
	uint32_t instr;
};

/*
 * The versions the offsets table has, oldest first; returns how many (0 on
 * another architecture). From 3.14 on the table leaves the fields a target's
 * own _Py_DebugOffsets carries to the target (PY_OFFSET_TARGET): those take
 * the previous version's values here, a layout as plausible as any for
 * exercising the per-minor code (tagged frame references, the owners skipped).
 */
static inline size_t pycode_fuzz_versions(const struct py_offsets **ret)
{
	static struct py_offsets filled[PYCODE_FUZZ_MAX_VERSIONS];
	const struct py_offsets *prev = NULL;
	size_t n = 0;

	if (py_offsets_find(2, 7))
		ret[n++] = py_offsets_find(2, 7);
	for (unsigned int minor = 0; minor < PYCODE_FUZZ_MAX_VERSIONS - 1; minor++) {
		const struct py_offsets *o = py_offsets_find(3, minor);
		struct py_offsets *f = &filled[n];
		int16_t *v = py_offsets_array(f);
		const int16_t *pv;

		if (!o)
			continue;
		*f = *o;
		for (size_t i = 0; i < PY_OFFSETS_NR; i++) {
			if (v[i] != PY_OFFSET_TARGET)
				continue;
			pv = prev ? py_offsets_carray(prev) : NULL;
			v[i] = pv && pv[i] != PY_OFFSET_TARGET ? pv[i] : PY_OFFSET_NONE;
		}
		ret[n++] = f;
		prev = f;
	}
	return n;
}

static inline uint16_t pycode_fuzz_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t pycode_fuzz_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif
