// SPDX-License-Identifier: MIT
/*
 * 3.13+: where the fields sit in a target, from its own _Py_DebugOffsets at
 * the start of _PyRuntime, read through the layout Hearth knows for its
 * minor (or the newest, for a newer version) and checked field by field.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "pyfind-internal.h"

/* The most of a _Py_DebugOffsets read; 3.15's is under 1 KiB. */
#define PYFIND_DEBUG_OFFSETS_MAX 4096

/* Which struct each field lies in: its offset must be inside that struct's size. */
#define PO(f) offsetof(struct py_offsets, f)
#define PL(f) offsetof(struct py_debug_layout, f)
static const struct {
	size_t field, size;
} debug_bounds[] = {
	{ PO(runtime_interpreters_head), PL(runtime_size) },
	{ PO(interp_next), PL(interp_size) },
	{ PO(interp_tstate_head), PL(interp_size) },
	{ PO(interp_gil), PL(interp_size) },
	{ PO(tstate_next), PL(tstate_size) },
	{ PO(tstate_interp), PL(tstate_size) },
	{ PO(tstate_current_frame), PL(tstate_size) },
	{ PO(tstate_thread_id), PL(tstate_size) },
	{ PO(tstate_native_thread_id), PL(tstate_size) },
	{ PO(tstate_holds_gil), PL(tstate_size) },
	{ PO(tstate_gil_requested), PL(tstate_size) },
	{ PO(tstate_base_frame), PL(tstate_size) },
	{ PO(iframe_code), PL(iframe_size) },
	{ PO(iframe_previous), PL(iframe_size) },
	{ PO(iframe_instr), PL(iframe_size) },
	{ PO(iframe_owner), PL(iframe_size) },
	{ PO(iframe_size), PL(iframe_size) },
	{ PO(code_filename), PL(code_size) },
	{ PO(code_name), PL(code_size) },
	{ PO(code_qualname), PL(code_size) },
	{ PO(code_firstlineno), PL(code_size) },
	{ PO(code_linetable), PL(code_size) },
	{ PO(code_code_adaptive), PL(code_size) },
	{ PO(code_firsttraceable), PL(code_size) },
	{ PO(object_type), PL(object_size) },
	{ PO(type_name), PL(type_size) },
	{ PO(bytes_size), PL(bytes_size) },
	{ PO(bytes_sval), PL(bytes_size) },
	{ PO(unicode_length), PL(unicode_size) },
	{ PO(unicode_state), PL(unicode_size) },
	{ PO(unicode_ascii_data), PL(unicode_size) },
};

static int16_t layout_at(const struct py_debug_layout *l, size_t member)
{
	int16_t v;

	memcpy(&v, (const char *)l + member, sizeof(v));
	return v;
}

static uint64_t table_u64(const uint8_t *t, int16_t at)
{
	uint64_t v;

	memcpy(&v, t + at, sizeof(v));
	return v;
}

static int16_t field_get(const struct py_offsets *o, size_t member)
{
	int16_t v;

	memcpy(&v, (const char *)o + member, sizeof(v));
	return v;
}

/* Refuse the target's layout, saying why in @info->note. */
int pylayout_refuse(struct pyinfo *info, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(info->note, sizeof(info->note), fmt, ap);
	va_end(ap);
	info->supported = false;
	return -EPROTONOSUPPORT;
}

/* The version PY_VERSION_HEX @hex names, e.g. "3.15.0b1", into @buf. */
static const char *hex_version(uint64_t hex, char *buf, size_t size)
{
	static const char levels[] = { 'a', 'b', 'c' };
	unsigned int level = (hex >> 4) & 0xf;

	if (level >= 0xa && level <= 0xc)
		snprintf(buf, size, "%u.%u.%u%c%u", (unsigned)(hex >> 24), (unsigned)(hex >> 16) & 0xff,
			 (unsigned)(hex >> 8) & 0xff, levels[level - 0xa], (unsigned)hex & 0xf);
	else
		snprintf(buf, size, "%u.%u.%u", (unsigned)(hex >> 24), (unsigned)(hex >> 16) & 0xff,
			 (unsigned)(hex >> 8) & 0xff);
	return buf;
}

/* Which layout reads a table of version @hex: *@ret_newest when only the newest known may. */
static const struct py_debug_layout *layout_pick(struct pyinfo *info, uint64_t hex, bool *ret_newest)
{
	unsigned int major = hex >> 24, minor = (hex >> 16) & 0xff;
	const struct py_debug_layout *l = py_debug_layout_find(major, minor), *newest = py_debug_layout_newest();
	bool final = ((hex >> 4) & 0xf) == 0xf;
	char v[32];

	*ret_newest = false;
	if (l) {
		/* A pre-release's layout is its own: 3.15's changed between betas. */
		if (l->prerelease ? l->prerelease != (uint32_t)hex : !final) {
			pylayout_refuse(info, "%s is a pre-release whose _Py_DebugOffsets layout "
					"Hearth does not know", hex_version(hex, v, sizeof(v)));
			return NULL;
		}
		return l;
	}
	if (newest && (major > newest->major || (major == newest->major && minor > newest->minor))) {
		*ret_newest = true;
		return newest;
	}
	pylayout_refuse(info, "no _Py_DebugOffsets layout known for %u.%u", major, minor);
	return NULL;
}

/* Where the target's table differs from ours: how many fields, the first four named. */
struct layout_differ {
	char text[160];
	size_t n;
};

/*
 * Read into @t the whole _Py_DebugOffsets at @info->runtime_addr, after its
 * cookie and version (which must be @info's): through its minor's layout,
 * or (*@ret_newest) the newest known for a newer version. A free-threaded
 * build is refused. Returns 0, -EPROTONOSUPPORT with the note, or a read error.
 */
static int layout_read_table(const struct procmem *m, struct pyinfo *info, uint8_t *t,
			     const struct py_debug_layout **ret_layout, bool *ret_newest)
{
	const struct py_debug_layout *l;
	uint64_t hex;
	char v[32];
	bool newest;
	int r;

	if (!info->runtime_addr)
		return pylayout_refuse(info, "no _PyRuntime to find its _Py_DebugOffsets in");
	/* The cookie and the version come first in every version. */
	r = procmem__read(m, info->runtime_addr, t, 16);
	if (r == -EFAULT)
		return pylayout_refuse(info, "its _PyRuntime cannot be read");
	if (r < 0)
		return r;
	if (memcmp(t, "xdebugpy", 8))
		return pylayout_refuse(info, "_PyRuntime does not start with a _Py_DebugOffsets table "
				       "(no \"xdebugpy\" cookie)");
	hex = table_u64(t, 8);
	if ((hex >> 24) != info->major || ((hex >> 16) & 0xff) != info->minor)
		return pylayout_refuse(info, "its _Py_DebugOffsets says version %s, not %u.%u",
				       hex_version(hex, v, sizeof(v)), info->major, info->minor);
	l = layout_pick(info, hex, &newest);
	if (!l)
		return -EPROTONOSUPPORT;
	if (l->size <= 0 || l->size > PYFIND_DEBUG_OFFSETS_MAX)
		return pylayout_refuse(info, "bad _Py_DebugOffsets layout");
	r = procmem__read(m, info->runtime_addr, t, l->size);
	if (r == -EFAULT)
		return pylayout_refuse(info, "its _Py_DebugOffsets is cut short (%d bytes cannot be read)",
				       l->size);
	if (r < 0)
		return r;
	if (table_u64(t, l->free_threaded))
		return pylayout_refuse(info, "free-threaded builds (%ut) are not supported yet", info->major);
	*ret_layout = l;
	*ret_newest = newest;
	return 0;
}

/*
 * Take into @o (a copy of our table's entry @base) every field the table @t
 * has, each plausible, the GIL's relative to the GIL's own place; @differ
 * collects where they differ from @base. Then no field that only the
 * target can give may be missing. Returns 0 or -EPROTONOSUPPORT with the note.
 */
static int layout_take_fields(struct pyinfo *info, const struct py_debug_layout *l, const uint8_t *t,
			      const struct py_offsets *base, struct py_offsets *o,
			      struct layout_differ *differ)
{
	const int16_t *at = py_offsets_carray(&l->at), *from = py_offsets_carray(base);
	int16_t *dst = py_offsets_array(o);
	uint64_t gil_base = 0;

	if (l->gil_base >= 0)
		gil_base = table_u64(t, l->gil_base);
	for (size_t i = 0; i < PY_OFFSETS_NR; i++) {
		uint64_t val;

		if (at[i] == PY_OFFSET_NONE)
			continue;
		if (at[i] < 0 || (size_t)at[i] + 8 > (size_t)l->size)
			return pylayout_refuse(info, "bad _Py_DebugOffsets layout");
		val = table_u64(t, at[i]);
		/* Taken relative to the GIL's own place in the interpreter. */
		if (&dst[i] == &o->gil_last_holder || &dst[i] == &o->gil_locked) {
			if (val < gil_base)
				return pylayout_refuse(info, "its _Py_DebugOffsets has %s outside the GIL",
						       py_offsets_names[i]);
			val -= gil_base;
		}
		if (val > INT16_MAX)
			return pylayout_refuse(info, "its _Py_DebugOffsets has %s = %" PRIu64
					       ", not plausible", py_offsets_names[i], val);
		if (from[i] >= 0 && from[i] != (int16_t)val && differ->n++ < 4) {
			size_t len = strlen(differ->text);

			snprintf(differ->text + len, sizeof(differ->text) - len, "%s%s %d, not %d",
				 len ? ", " : "", py_offsets_names[i], (int)val, from[i]);
		}
		dst[i] = (int16_t)val;
	}
	for (size_t i = 0; i < PY_OFFSETS_NR; i++)
		if (dst[i] == PY_OFFSET_TARGET)
			return pylayout_refuse(info, "its _Py_DebugOffsets lacks %s", py_offsets_names[i]);
	return 0;
}

/* Every offset in @o inside the size of the struct it is in, as the table @t gives it. */
static int layout_check_bounds(struct pyinfo *info, const struct py_debug_layout *l, const uint8_t *t,
			       const struct py_offsets *o)
{
	for (size_t i = 0; i < sizeof(debug_bounds) / sizeof(debug_bounds[0]); i++) {
		int16_t f = field_get(o, debug_bounds[i].field), sat = layout_at(l, debug_bounds[i].size);
		uint64_t size;

		if (f == PY_OFFSET_NONE || sat < 0)
			continue;
		size = table_u64(t, sat);
		if (f < 0 || size == 0 || size > (1u << 24) || (uint64_t)f > size) {
			size_t name = (debug_bounds[i].field - PO(PY_OFFSETS_FIRST)) / 2;

			return pylayout_refuse(info, "its _Py_DebugOffsets does not hold together (%s)",
					       py_offsets_names[name]);
		}
	}
	return 0;
}

/* What is worth saying of a layout taken: read through the newest's (a warning), or where it differs (-v). */
static void layout_note(struct pyinfo *info, const struct py_debug_layout *l, bool newest,
			const struct layout_differ *differ)
{
	if (newest)
		snprintf(info->note, sizeof(info->note),
			 "CPython %u.%u is newer than any Hearth knows: read through %u.%u's layout of its "
			 "_Py_DebugOffsets, which checked out",
			 info->major, info->minor, l->major, l->minor);
	else if (differ->n)
		snprintf(info->note, sizeof(info->note),
			 "its own _Py_DebugOffsets differs from the headers Hearth's table was made from in %zu "
			 "field%s (%s%s): the target's are used",
			 differ->n, differ->n == 1 ? "" : "s", differ->text, differ->n > 4 ? ", ..." : "");
}

/*
 * 3.13+: fill @info->offsets from the target's own _Py_DebugOffsets at the
 * start of _PyRuntime: the table entry of its minor (per-minor constants),
 * every field the target's table has taken from it, each checked.
 */
int pyinfo_read_layout(const struct procmem *m, struct pyinfo *info)
{
	uint8_t t[PYFIND_DEBUG_OFFSETS_MAX];
	const struct py_debug_layout *l = NULL;
	struct layout_differ differ = {};
	const struct py_offsets *base;
	bool newest = false;
	struct py_offsets o;
	int r;

	info->supported = false;
	info->note[0] = '\0';
	r = layout_read_table(m, info, t, &l, &newest);
	if (r < 0)
		return r;
	base = py_offsets_find(l->major, l->minor);
	if (!base)
		return pylayout_refuse(info, "no offsets known for %u.%u", l->major, l->minor);
	o = *base;
	o.major = info->major;
	o.minor = info->minor;
	r = layout_take_fields(info, l, t, base, &o, &differ);
	if (r < 0)
		return r;
	r = layout_check_bounds(info, l, t, &o);
	if (r < 0)
		return r;
	info->offsets = o;
	info->supported = true;
	info->layout_source = newest ? PYFIND_LAYOUT_NEWEST : PYFIND_LAYOUT_TARGET;
	layout_note(info, l, newest, &differ);
	return 0;
}
#undef PO
#undef PL
