// SPDX-License-Identifier: MIT
/*
 * Writes fuzz-pycode seeds for one CPython version: target memory laid out
 * from the offsets table as that version would hold it, so the fuzzer starts
 * from inputs that decode all the way (a code object with its strings and
 * line table, a chain of frames, a thread state in its interpreter's list,
 * the GIL). Three layouts, one per output file:
 *   ascii   compact ASCII strings (2.7: str objects), a plain line table;
 *   kinds   compact strings of kinds 1 (not ASCII), 2 and 4;
 *   legacy  strings whose text is elsewhere (data.any), a line table with
 *           entries of every form, a frame not started yet (3.11+), a
 *           C-stack shim (3.12+) and a GIL nobody holds.
 *
 * Usage: pycode-corpus MAJOR.MINOR ASCII KINDS LEGACY. A version the table
 * does not have (another architecture) gets header-only seeds.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-pycode.h"

#define IMAGE_SIZE 32768

enum layout { LAYOUT_ASCII, LAYOUT_KINDS, LAYOUT_LEGACY, NR_LAYOUTS };

struct image {
	const struct py_offsets *o;
	uint8_t mem[IMAGE_SIZE];
	size_t used;
};

/* Room for @size bytes, 16-aligned and zeroed; its offset from the base. */
static size_t alloc(struct image *im, size_t size)
{
	size_t at = (im->used + 15) & ~(size_t)15;

	if (at + size > IMAGE_SIZE) {
		fprintf(stderr, "pycode-corpus: image full\n");
		exit(1);
	}
	im->used = at + size;
	return at;
}

static uint64_t addr(size_t off)
{
	return PYCODE_FUZZ_BASE + off;
}

static void put64(struct image *im, size_t at, uint64_t v)
{
	memcpy(im->mem + at, &v, sizeof(v));
}

static void put32(struct image *im, size_t at, uint32_t v)
{
	memcpy(im->mem + at, &v, sizeof(v));
}

/* Code points of @text (UTF-8 written here by hand: ASCII, 2-, 3- and 4-byte sequences). */
static size_t decode(const char *text, uint32_t *cp)
{
	const uint8_t *p = (const uint8_t *)text;
	size_t n = 0;

	while (*p) {
		if (*p < 0x80)
			cp[n++] = *p++;
		else if (*p < 0xe0) {
			cp[n++] = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
			p += 2;
		} else if (*p < 0xf0) {
			cp[n++] = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
			p += 3;
		} else {
			cp[n++] = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
				  (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
			p += 4;
		}
	}
	return n;
}

/* A bytes object (a 2.7 str too): ob_size, then ob_sval with its NUL. */
static size_t make_bytes(struct image *im, const void *bytes, size_t len)
{
	size_t at = alloc(im, im->o->bytes_sval + len + 1);

	put64(im, at + im->o->bytes_size, len);
	memcpy(im->mem + at + im->o->bytes_sval, bytes, len);
	return at;
}

/*
 * A str of @text, PEP 393 (3.x): compact (text after the header) or not
 * (text at data.any), of the smallest kind that holds it. 2.7: a str object.
 */
static size_t make_str(struct image *im, const char *text, bool compact)
{
	const struct py_offsets *o = im->o;
	uint32_t cp[256], state, max = 0;
	size_t n, at, data, kind;
	bool ascii;

	if (o->unicode_state == PY_OFFSET_NONE)
		return make_bytes(im, text, strlen(text));
	n = decode(text, cp);
	for (size_t i = 0; i < n; i++)
		max = cp[i] > max ? cp[i] : max;
	kind = max < 0x100 ? 1 : max < 0x10000 ? 2 : 4;
	ascii = max < 0x80 && compact;
	if (compact) {
		at = alloc(im, (ascii ? o->unicode_ascii_data : o->unicode_compact_data) + (n + 1) * kind);
		data = at + (ascii ? o->unicode_ascii_data : o->unicode_compact_data);
	} else {
		at = alloc(im, o->unicode_data_any + 8);
		data = alloc(im, (n + 1) * kind);
		put64(im, at + o->unicode_data_any, addr(data));
	}
	put64(im, at + o->unicode_length, n);
	state = (uint32_t)kind << o->unicode_kind_shift;
	if (compact)
		state |= 1u << o->unicode_compact_bit;
	if (ascii)
		state |= 1u << o->unicode_ascii_bit;
	put32(im, at + o->unicode_state, state);
	for (size_t i = 0; i < n; i++) {
		uint16_t u16 = (uint16_t)cp[i];
		uint8_t u8 = (uint8_t)cp[i];

		if (kind == 1)
			memcpy(im->mem + data + i, &u8, 1);
		else if (kind == 2)
			memcpy(im->mem + data + 2 * i, &u16, 2);
		else
			memcpy(im->mem + data + 4 * i, &cp[i], 4);
	}
	return at;
}

/* The version's line table: lines 1, 2, 4 and 3 over four runs of instructions. */
static size_t make_table(struct image *im, enum layout layout, size_t *ret_len)
{
	const struct py_offsets *o = im->o;
	/* co_lnotab: (byte delta, line delta); 2.7's deltas are unsigned. */
	static const uint8_t lnotab27[] = { 0, 1, 6, 1, 8, 2, 4, 0 };
	static const uint8_t lnotab[] = { 0, 1, 6, 1, 8, 2, 4, 0xff, 0, 0x7f, 2, 0x81 };
	/* 3.10: (byte length, line delta), -128 meaning no line. */
	static const uint8_t linetable310[] = { 6, 1, 8, 1, 4, 0x80, 10, 2, 0, 0x7f, 2, 0x81 };
	/* 3.11+: no columns (+1), short form, one-line (+2), no location, long form (-1). */
	static const uint8_t locations[] = {
		0x80 | 13 << 3 | 2, 0x02,             /* 3 units, line +1 */
		0x80 | 0 << 3 | 1, 0x05,              /* 2 units, same line */
		0x80 | 12 << 3 | 3, 0x04, 0x10,       /* 4 units, line +2 */
		0x80 | 15 << 3 | 0,                   /* 1 unit, no line */
		0x80 | 14 << 3 | 7, 0x03, 0x00, 0x05, 0x48, 0x01, /* 8 units, line -1, long varint */
	};
	const uint8_t *t;
	size_t len;

	if (o->code_linetable == PY_OFFSET_NONE) {
		t = o->major == 2 ? lnotab27 : lnotab;
		len = o->major == 2 ? sizeof(lnotab27) : sizeof(lnotab);
	} else if (o->code_code_adaptive == PY_OFFSET_NONE) {
		t = linetable310;
		len = sizeof(linetable310);
	} else {
		t = locations;
		len = sizeof(locations);
	}
	if (layout == LAYOUT_ASCII && len > 8)
		len = 8; /* the plain entries only */
	*ret_len = len;
	return make_bytes(im, t, len);
}

static size_t make_type(struct image *im)
{
	size_t name = alloc(im, 8), type = alloc(im, 32);

	memcpy(im->mem + name, "code", 5);
	put64(im, type + 24, addr(name));
	return type;
}

static size_t make_code(struct image *im, enum layout layout, size_t type, const char *name,
			const char *qualname, const char *file, int firstlineno, uint32_t nr_units)
{
	const struct py_offsets *o = im->o;
	bool compact = layout != LAYOUT_LEGACY;
	size_t at = alloc(im, o->code_size + (o->code_code_adaptive != PY_OFFSET_NONE ? 2 * nr_units : 0));
	size_t table_len;

	put64(im, at + o->object_type, addr(type));
	put64(im, at + o->code_name, addr(make_str(im, name, compact)));
	if (o->code_qualname != PY_OFFSET_NONE)
		put64(im, at + o->code_qualname, addr(make_str(im, qualname, compact)));
	put64(im, at + o->code_filename, addr(make_str(im, file, compact)));
	put32(im, at + o->code_firstlineno, (uint32_t)firstlineno);
	put64(im, at + (o->code_linetable != PY_OFFSET_NONE ? o->code_linetable : o->code_lnotab),
	      addr(make_table(im, layout, &table_len)));
	if (o->code_code_adaptive != PY_OFFSET_NONE)
		put64(im, at + o->varobject_size, nr_units);
	if (o->code_firsttraceable != PY_OFFSET_NONE)
		put32(im, at + o->code_firsttraceable, layout == LAYOUT_LEGACY ? 2 : 0);
	return at;
}

/*
 * A frame of @code at instruction @instr, calling back to @previous (0:
 * none). @instr is in the frame's own unit: f_lasti (bytes up to 3.9, code
 * units in 3.10), or code units from co_code_adaptive (3.11+).
 */
static size_t make_frame(struct image *im, size_t code, int64_t instr, size_t previous, uint8_t owner)
{
	const struct py_offsets *o = im->o;
	size_t at;

	if (o->tstate_frame != PY_OFFSET_NONE) {
		at = alloc(im, o->frame_size);
		put64(im, at + o->frame_back, previous ? addr(previous) : 0);
		put64(im, at + o->frame_code, addr(code));
		put32(im, at + o->frame_lasti, (uint32_t)instr);
		return at;
	}
	at = alloc(im, o->iframe_size);
	put64(im, at + o->iframe_previous, previous ? addr(previous) : 0);
	put64(im, at + o->iframe_code, addr(code));
	put64(im, at + o->iframe_instr, addr(code) + o->code_code_adaptive + (uint64_t)(2 * instr));
	im->mem[at + o->iframe_owner] = owner;
	return at;
}

static void write_seed(const char *path, const uint8_t header[PYCODE_FUZZ_HEADER], const uint8_t *mem,
		       size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(header, 1, PYCODE_FUZZ_HEADER, f) != PYCODE_FUZZ_HEADER ||
	    fwrite(mem, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void header_put16(uint8_t *h, int at, size_t v)
{
	h[at] = (uint8_t)v;
	h[at + 1] = (uint8_t)(v >> 8);
}

static void make_seed(const struct py_offsets *o, uint8_t version, enum layout layout, const char *path)
{
	static const char *const names[NR_LAYOUTS][3] = {
		[LAYOUT_ASCII] = { "run", "Worker.run", "/srv/app/worker.py" },
		[LAYOUT_KINDS] = { "größe", "Ωmega.λ", "/srv/🐍/модуль.py" },
		[LAYOUT_LEGACY] = { "café", "Klasse.método_ü", "/srv/Ω/legacy.py" },
	};
	struct image *im = calloc(1, sizeof(*im));
	size_t type, code_a, code_b, frame_a, frame_b, tstate, tstate2, interp, runtime, pthread, cframe, gil;
	uint8_t header[PYCODE_FUZZ_HEADER] = { version };
	bool modern = o->code_code_adaptive != PY_OFFSET_NONE;
	/* Into the third run of the line table, and the second (f_lasti's unit, see make_frame()). */
	int64_t at_a = modern ? 6 : o->code_linetable != PY_OFFSET_NONE ? 5 : 14;
	int64_t at_b = modern ? 3 : o->code_linetable != PY_OFFSET_NONE ? 3 : 6;

	if (!im)
		exit(1);
	im->o = o;
	type = make_type(im);
	code_a = make_code(im, layout, type, names[layout][0], names[layout][1], names[layout][2], 10, 18);
	code_b = make_code(im, layout, type, "<module>", "<module>", names[layout][2], 1, 18);

	/* Innermost first: code_a called from the module. */
	frame_b = make_frame(im, code_b, at_b, 0, 0);
	if (layout == LAYOUT_LEGACY && o->iframe_owner_shim != PY_OFFSET_NONE)
		frame_b = make_frame(im, code_a, 0, frame_b, (uint8_t)o->iframe_owner_shim);
	frame_a = make_frame(im, code_a, at_a, frame_b, 0);
	if (layout == LAYOUT_LEGACY && modern)
		frame_a = make_frame(im, code_a, -1, frame_a, 0); /* not started yet */

	/* Two thread states in the interpreter's list, the first one running those frames. */
	interp = alloc(im, (size_t)(o->interp_tstate_head > o->interp_gil ? o->interp_tstate_head : o->interp_gil) + 8);
	pthread = alloc(im, 2048); /* what thread_id points at before 3.11: glibc's struct pthread */
	tstate = alloc(im, o->tstate_size);
	tstate2 = alloc(im, o->tstate_size);
	put64(im, interp + o->interp_tstate_head, addr(tstate));
	put64(im, tstate + o->tstate_next, addr(tstate2));
	put64(im, tstate + o->tstate_interp, addr(interp));
	put64(im, tstate2 + o->tstate_interp, addr(interp));
	put64(im, tstate + o->tstate_thread_id, addr(pthread));
	if (o->tstate_native_thread_id != PY_OFFSET_NONE)
		put64(im, tstate + o->tstate_native_thread_id, 4242);
	if (o->tstate_frame != PY_OFFSET_NONE) {
		put64(im, tstate + o->tstate_frame, addr(frame_a));
	} else if (o->tstate_cframe != PY_OFFSET_NONE) {
		cframe = alloc(im, o->cframe_current_frame + 8);
		put64(im, tstate + o->tstate_cframe, addr(cframe));
		put64(im, cframe + o->cframe_current_frame, addr(frame_a));
	} else {
		put64(im, tstate + o->tstate_current_frame, addr(frame_a));
	}

	/* Who holds the GIL, wherever this version tells it. */
	if (o->runtime_tstate_current != PY_OFFSET_NONE) {
		runtime = alloc(im, o->runtime_tstate_current + 8);
		put64(im, runtime + o->runtime_tstate_current, layout == LAYOUT_LEGACY ? 0 : addr(tstate));
	} else if (o->runtime_interpreters_head != PY_OFFSET_NONE) {
		runtime = alloc(im, o->runtime_interpreters_head + 8);
		put64(im, runtime + o->runtime_interpreters_head, addr(interp));
	} else {
		runtime = alloc(im, 8); /* _PyThreadState_Current */
		put64(im, runtime, layout == LAYOUT_LEGACY ? 0 : addr(tstate));
	}
	if (o->interp_gil != PY_OFFSET_NONE) {
		gil = alloc(im, o->gil_locked + 8);
		put64(im, interp + o->interp_gil, addr(gil));
		put64(im, gil + o->gil_last_holder, addr(tstate));
		put32(im, gil + o->gil_locked, layout == LAYOUT_LEGACY ? 0 : 1);
	}

	header[1] = 0;
	header_put16(header, 2, code_a);
	header_put16(header, 4, tstate);
	header_put16(header, 6, interp);
	header_put16(header, 8, runtime);
	header[10] = (uint8_t)at_a;
	write_seed(path, header, im->mem, im->used);
	free(im);
}

int main(int argc, char **argv)
{
	const struct py_offsets *versions[PYCODE_FUZZ_MAX_VERSIONS];
	unsigned int major, minor;
	size_t n;

	if (argc != 2 + NR_LAYOUTS || sscanf(argv[1], "%u.%u", &major, &minor) != 2) {
		fprintf(stderr, "usage: pycode-corpus MAJOR.MINOR ASCII KINDS LEGACY\n");
		return 2;
	}
	n = pycode_fuzz_versions(versions);
	for (size_t i = 0; i < n; i++) {
		if (versions[i]->major != major || versions[i]->minor != minor)
			continue;
		for (int l = 0; l < NR_LAYOUTS; l++)
			make_seed(versions[i], (uint8_t)i, l, argv[2 + l]);
		return 0;
	}
	/* Not in this table: seeds that stop at the header. */
	for (int l = 0; l < NR_LAYOUTS; l++) {
		uint8_t header[PYCODE_FUZZ_HEADER] = { 0 };

		write_seed(argv[2 + l], header, NULL, 0);
	}
	return 0;
}
