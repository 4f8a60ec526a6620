// SPDX-License-Identifier: MIT
#include "pyfind.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "procmaps.h"
#include "procmem.h"

/* Caps on what a file or a target can make us do. */
#define PYFIND_MAX_SYMBOLS (4u << 20)
#define PYFIND_MAX_RODATA (64u << 20)
#define PYFIND_MAX_SCAN (64u << 20)    /* bytes of writable data scanned for interp_head */
#define PYFIND_MAX_PROBES (1u << 20)   /* candidate pointers followed during that scan */
#define PYFIND_SCAN_CHUNK 65536
#define PYFIND_MAX_LOADS 32
#define PYFIND_MAX_VERSIONS 8 /* distinct version strings kept from .rodata */

/* The symbols looked for, indexes into struct pyelf.sym[]. */
enum {
	SYM_RUNTIME,        /* _PyRuntime */
	SYM_PY_VERSION,     /* Py_Version */
	SYM_TSTATE_CURRENT, /* _PyThreadState_Current */
	SYM_INTERP_HEAD,    /* interp_head (local, .symtab only) */
	SYM_COUNT,
};

static const char *const sym_names[SYM_COUNT] = {
	[SYM_RUNTIME] = "_PyRuntime",
	[SYM_PY_VERSION] = "Py_Version",
	[SYM_TSTATE_CURRENT] = "_PyThreadState_Current",
	[SYM_INTERP_HEAD] = "interp_head",
};

struct pyelf_version {
	int major, minor, micro;
};

struct pyelf_load {
	uint64_t offset;
	uint64_t vaddr;
	uint64_t filesz;
	uint64_t memsz;
	bool writable;
};

/* What one ELF file tells about the CPython in it. */
struct pyelf {
	uint64_t sym[SYM_COUNT]; /* symbol values (link-time addresses), 0 when missing */
	uint64_t pyruntime_section; /* sh_addr of .PyRuntime, 0 when missing */
	struct pyelf_load loads[PYFIND_MAX_LOADS];
	size_t nr_loads;
	struct pyelf_version versions[PYFIND_MAX_VERSIONS]; /* "X.Y.Z" strings in .rodata */
	size_t nr_versions;
};

static void elf_endp(Elf **e)
{
	if (*e)
		elf_end(*e);
}

/* Look up the wanted symbols in one symbol table; defined data symbols only. */
static int pyelf_scan_symbols(Elf *e, Elf_Scn *scn, const GElf_Shdr *shdr, struct pyelf *pe)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n;

	if (!data || !shdr->sh_entsize)
		return 0;
	n = shdr->sh_size / shdr->sh_entsize;
	if (n > PYFIND_MAX_SYMBOLS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, i, &sym))
			return -EIO;
		if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0 ||
		    GELF_ST_TYPE(sym.st_info) == STT_FUNC)
			continue;
		name = elf_strptr(e, shdr->sh_link, sym.st_name);
		if (!name)
			continue;
		for (size_t k = 0; k < SYM_COUNT; k++)
			if (!pe->sym[k] && !strcmp(name, sym_names[k]))
				pe->sym[k] = sym.st_value;
	}
	return 0;
}

/*
 * Collect the strings of .rodata that look like CPython's PY_VERSION ("X.Y.Z",
 * maybe with a suffix such as "rc1" or "+"), for 2.x and 3.x. Linkers merge
 * string tails, so one may end a longer string ("/prefix/3.8.18"): a match
 * starts after anything but a digit or a dot. Other libraries' versions can
 * look the same ("3.2.0"); pyinfo_find_version() picks among them.
 */
static void pyelf_scan_rodata(const char *p, size_t len, struct pyelf *pe)
{
	for (size_t i = 0; i < len && pe->nr_versions < PYFIND_MAX_VERSIONS; i++) {
		unsigned int v[3] = { 0, 0, 0 };
		size_t j = i, k;
		bool dup = false;

		if ((p[i] != '2' && p[i] != '3') ||
		    (i > 0 && (isdigit((unsigned char)p[i - 1]) || p[i - 1] == '.')))
			continue;
		for (k = 0; k < 3; k++) {
			size_t digits = 0;

			while (j < len && isdigit((unsigned char)p[j]) && digits < 3) {
				v[k] = v[k] * 10 + (p[j] - '0');
				j++;
				digits++;
			}
			if (!digits || j >= len)
				break;
			if (k < 2) {
				if (p[j] != '.')
					break;
				j++;
			}
		}
		if (k < 3 || v[0] > 3 || v[1] > 99)
			continue;
		/* Suffix: letters, digits and '+' up to the terminating NUL. */
		while (j < len && (isalnum((unsigned char)p[j]) || p[j] == '+') && j - i < 24)
			j++;
		if (j >= len || p[j] != '\0')
			continue;
		for (k = 0; k < pe->nr_versions && !dup; k++)
			dup = pe->versions[k].major == (int)v[0] && pe->versions[k].minor == (int)v[1] &&
			      pe->versions[k].micro == (int)v[2];
		if (!dup)
			pe->versions[pe->nr_versions++] = (struct pyelf_version){ v[0], v[1], v[2] };
		i = j;
	}
}

/* Read what pyfind needs from the ELF file at @fd. -ENOEXEC: not an ELF file for this machine. */
static int pyelf_read(int fd, struct pyelf *pe)
{
	_cleanup_(elf_endp) Elf *e = NULL;
	Elf_Scn *scn = NULL;
	size_t shstrndx, phnum;
	GElf_Ehdr ehdr;
	int r;

	memset(pe, 0, sizeof(*pe));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EIO;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &ehdr))
		return -ENOEXEC;
	/* The offsets table describes the machine Hearth runs on, 64-bit only. */
	if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 ||
	    ehdr.e_machine != EM_X86_64)
		return -ENOEXEC;

	if (elf_getphdrnum(e, &phnum) < 0)
		return -ENOEXEC;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (pe->nr_loads == PYFIND_MAX_LOADS)
			return -E2BIG;
		pe->loads[pe->nr_loads++] = (struct pyelf_load){
			.offset = ph.p_offset,
			.vaddr = ph.p_vaddr,
			.filesz = ph.p_filesz,
			.memsz = ph.p_memsz,
			.writable = ph.p_flags & PF_W,
		};
	}

	if (elf_getshdrstrndx(e, &shstrndx) < 0)
		return -ENOEXEC;
	while ((scn = elf_nextscn(e, scn))) {
		const char *name;
		GElf_Shdr shdr;

		if (!gelf_getshdr(scn, &shdr))
			continue;
		if (shdr.sh_type == SHT_SYMTAB || shdr.sh_type == SHT_DYNSYM) {
			r = pyelf_scan_symbols(e, scn, &shdr, pe);
			if (r < 0)
				return r;
			continue;
		}
		name = elf_strptr(e, shstrndx, shdr.sh_name);
		if (!name)
			continue;
		if (!strcmp(name, ".PyRuntime")) {
			pe->pyruntime_section = shdr.sh_addr;
		} else if (!strcmp(name, ".rodata") && shdr.sh_type == SHT_PROGBITS &&
			   shdr.sh_size <= PYFIND_MAX_RODATA) {
			Elf_Data *data = elf_getdata(scn, NULL);

			if (data && data->d_buf)
				pyelf_scan_rodata(data->d_buf, data->d_size, pe);
		}
	}
	return 0;
}

/* Load bias of the file mapped at @m: target address minus link-time address. */
static int pyelf_bias(const struct pyelf *pe, const struct procmap *m, uint64_t *ret)
{
	for (size_t i = 0; i < pe->nr_loads; i++) {
		const struct pyelf_load *l = &pe->loads[i];

		/* The mapping starts at the page holding the segment's first byte. */
		if (l->filesz && m->offset >= (l->offset & ~4095ull) &&
		    m->offset < l->offset + l->filesz) {
			*ret = m->start - (m->offset - l->offset + l->vaddr);
			return 0;
		}
	}
	return -ENOENT;
}

/* "libpython3.7m.so.1.0", "python2.7", "libpython3.11.so" -> version. */
static bool version_from_file_name(const char *path, int *ret_major, int *ret_minor)
{
	const char *base = strrchr(path, '/');
	unsigned int major, minor;
	int n = 0;

	base = base ? base + 1 : path;
	if (!strncmp(base, "lib", 3))
		base += 3;
	if (sscanf(base, "python%1u.%2u%n", &major, &minor, &n) != 2 || n == 0)
		return false;
	/* Digits must not go on: "python3.1234" is no version we know. */
	if (isdigit((unsigned char)base[n]))
		return false;
	*ret_major = major;
	*ret_minor = minor;
	return true;
}

/* Whether a version fits the runtime symbols the file has. */
static bool version_fits(const struct pyelf *pe, int major, int minor)
{
	bool modern = pe->sym[SYM_RUNTIME] || pe->pyruntime_section;

	if (major != 2 && major != 3)
		return false;
	if (modern)
		return major == 3 && minor >= 7;
	return major == 2 || minor <= 6;
}

/*
 * The .rodata version string fitting @major.@minor (-1: any that fits the
 * symbols); NULL when none, or when several different X.Y fit.
 */
static const struct pyelf_version *rodata_version(const struct pyelf *pe, int major, int minor)
{
	const struct pyelf_version *found = NULL;

	for (size_t i = 0; i < pe->nr_versions; i++) {
		const struct pyelf_version *v = &pe->versions[i];

		if (!version_fits(pe, v->major, v->minor))
			continue;
		if (major >= 0 && (v->major != major || v->minor != minor))
			continue;
		if (found && (found->major != v->major || found->minor != v->minor))
			return NULL;
		found = v;
	}
	return found;
}

static int pyinfo_find_version(const struct procmem *m, const struct pyelf *pe, const char *path,
			       struct pyinfo *info)
{
	const struct pyelf_version *v;
	int major, minor;

	if (info->py_version_addr) {
		uint32_t hex;
		int r;

		/* PY_VERSION_HEX: 0xMMmmuu followed by release level and serial. */
		r = procmem__read_u32(m, info->py_version_addr, &hex);
		if (r < 0)
			return r;
		if (!version_fits(pe, hex >> 24, (hex >> 16) & 0xff))
			return -EPROTO;
		info->major = hex >> 24;
		info->minor = (hex >> 16) & 0xff;
		info->micro = (hex >> 8) & 0xff;
		info->version_source = PYFIND_VERSION_PY_VERSION;
		return 0;
	}
	if (version_from_file_name(path, &major, &minor) && version_fits(pe, major, minor)) {
		v = rodata_version(pe, major, minor);
		info->major = major;
		info->minor = minor;
		info->micro = v ? v->micro : -1;
		info->version_source = PYFIND_VERSION_FILE_NAME;
		return 0;
	}
	v = rodata_version(pe, -1, -1);
	if (v) {
		info->major = v->major;
		info->minor = v->minor;
		info->micro = v->micro;
		info->version_source = PYFIND_VERSION_RODATA;
		return 0;
	}
	/* CPython, but which? Unsupported, with version 0.0 and no version source. */
	return -EPROTONOSUPPORT;
}

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
static int layout_refuse(struct pyinfo *info, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int layout_refuse(struct pyinfo *info, const char *fmt, ...)
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
			layout_refuse(info, "%s is a pre-release whose _Py_DebugOffsets layout Hearth does not know",
				      hex_version(hex, v, sizeof(v)));
			return NULL;
		}
		return l;
	}
	if (newest && (major > newest->major || (major == newest->major && minor > newest->minor))) {
		*ret_newest = true;
		return newest;
	}
	layout_refuse(info, "no _Py_DebugOffsets layout known for %u.%u", major, minor);
	return NULL;
}

/*
 * 3.13+: fill @info->offsets from the target's own _Py_DebugOffsets at the
 * start of _PyRuntime: the table entry of its minor (per-minor constants),
 * every field the target's table has taken from it, each checked.
 */
int pyinfo_read_layout(const struct procmem *m, struct pyinfo *info)
{
	uint8_t t[PYFIND_DEBUG_OFFSETS_MAX];
	const struct py_debug_layout *l;
	const struct py_offsets *base;
	struct py_offsets o;
	int16_t *dst = py_offsets_array(&o);
	const int16_t *at, *from;
	uint64_t hex, gil_base = 0;
	char differ[160] = "", v[32];
	size_t ndiffer = 0;
	bool newest;
	int r;

	info->supported = false;
	info->note[0] = '\0';
	if (!info->runtime_addr)
		return layout_refuse(info, "no _PyRuntime to find its _Py_DebugOffsets in");
	/* The cookie and the version come first in every version. */
	r = procmem__read(m, info->runtime_addr, t, 16);
	if (r == -EFAULT)
		return layout_refuse(info, "its _PyRuntime cannot be read");
	if (r < 0)
		return r;
	if (memcmp(t, "xdebugpy", 8))
		return layout_refuse(info, "_PyRuntime does not start with a _Py_DebugOffsets table (no \"xdebugpy\" cookie)");
	hex = table_u64(t, 8);
	if ((hex >> 24) != info->major || ((hex >> 16) & 0xff) != info->minor)
		return layout_refuse(info, "its _Py_DebugOffsets says version %s, not %u.%u",
				     hex_version(hex, v, sizeof(v)), info->major, info->minor);
	l = layout_pick(info, hex, &newest);
	if (!l)
		return -EPROTONOSUPPORT;
	if (l->size <= 0 || l->size > PYFIND_DEBUG_OFFSETS_MAX)
		return layout_refuse(info, "bad _Py_DebugOffsets layout");
	r = procmem__read(m, info->runtime_addr, t, l->size);
	if (r == -EFAULT)
		return layout_refuse(info, "its _Py_DebugOffsets is cut short (%d bytes cannot be read)", l->size);
	if (r < 0)
		return r;
	if (table_u64(t, l->free_threaded))
		return layout_refuse(info, "free-threaded builds (%ut) are not supported yet", info->major);
	base = py_offsets_find(l->major, l->minor);
	if (!base)
		return layout_refuse(info, "no offsets known for %u.%u", l->major, l->minor);
	o = *base;
	o.major = info->major;
	o.minor = info->minor;
	at = py_offsets_carray(&l->at);
	from = py_offsets_carray(base);
	if (l->gil_base >= 0)
		gil_base = table_u64(t, l->gil_base);
	for (size_t i = 0; i < PY_OFFSETS_NR; i++) {
		uint64_t val;

		if (at[i] == PY_OFFSET_NONE)
			continue;
		if (at[i] < 0 || (size_t)at[i] + 8 > (size_t)l->size)
			return layout_refuse(info, "bad _Py_DebugOffsets layout");
		val = table_u64(t, at[i]);
		/* Taken relative to the GIL's own place in the interpreter. */
		if (&dst[i] == &o.gil_last_holder || &dst[i] == &o.gil_locked) {
			if (val < gil_base)
				return layout_refuse(info, "its _Py_DebugOffsets has %s outside the GIL",
						     py_offsets_names[i]);
			val -= gil_base;
		}
		if (val > INT16_MAX)
			return layout_refuse(info, "its _Py_DebugOffsets has %s = %" PRIu64 ", not plausible",
					     py_offsets_names[i], val);
		if (from[i] >= 0 && from[i] != (int16_t)val && ndiffer++ < 4) {
			size_t len = strlen(differ);

			snprintf(differ + len, sizeof(differ) - len, "%s%s %d, not %d", len ? ", " : "",
				 py_offsets_names[i], (int)val, from[i]);
		}
		dst[i] = (int16_t)val;
	}
	for (size_t i = 0; i < PY_OFFSETS_NR; i++)
		if (dst[i] == PY_OFFSET_TARGET)
			return layout_refuse(info, "its _Py_DebugOffsets lacks %s", py_offsets_names[i]);
	/* Every offset inside the size of the struct it is in, as the target gives it. */
	for (size_t i = 0; i < sizeof(debug_bounds) / sizeof(debug_bounds[0]); i++) {
		int16_t f = field_get(&o, debug_bounds[i].field), sat = layout_at(l, debug_bounds[i].size);
		uint64_t size;

		if (f == PY_OFFSET_NONE || sat < 0)
			continue;
		size = table_u64(t, sat);
		if (f < 0 || size == 0 || size > (1u << 24) || (uint64_t)f > size)
			return layout_refuse(info, "its _Py_DebugOffsets does not hold together (%s)",
					     py_offsets_names[(debug_bounds[i].field - PO(PY_OFFSETS_FIRST)) / 2]);
	}
	info->offsets = o;
	info->supported = true;
	info->layout_source = newest ? PYFIND_LAYOUT_NEWEST : PYFIND_LAYOUT_TARGET;
	if (newest)
		snprintf(info->note, sizeof(info->note),
			 "CPython %u.%u is newer than any Hearth knows: read through %u.%u's layout of its "
			 "_Py_DebugOffsets, which checked out",
			 info->major, info->minor, l->major, l->minor);
	else if (ndiffer)
		snprintf(info->note, sizeof(info->note),
			 "its own _Py_DebugOffsets differs from the headers Hearth's table was made from in %zu "
			 "field%s (%s%s): the target's are used",
			 ndiffer, ndiffer == 1 ? "" : "s", differ, ndiffer > 4 ? ", ..." : "");
	return 0;
}
#undef PO
#undef PL

/*
 * Walk the thread states of @interp: each must point back to it. Returns the
 * length of the list (storing the first @max), -ELOOP for a cycle or more than
 * PYFIND_MAX_THREADS entries, -EPROTO for a foreign entry, or a read error.
 * Cycles are caught with Brent's algorithm, in constant space.
 */
static int thread_states_walk(const struct procmem *m, const struct py_offsets *o, uint64_t interp,
			      uint64_t *ret_addrs, size_t max)
{
	uint64_t t, tortoise = 0;
	size_t n = 0, power = 1, lam = 0;
	int r;

	if (!procmem_ptr_plausible(interp))
		return -EPROTO;
	r = procmem__read_ptr(m, interp + o->interp_tstate_head, &t);
	if (r < 0)
		return r;
	while (t) {
		uint64_t back;

		if (!procmem_ptr_plausible(t))
			return -EPROTO;
		if (t == tortoise || n == PYFIND_MAX_THREADS)
			return -ELOOP;
		r = procmem__read_ptr(m, t + o->tstate_interp, &back);
		if (r < 0)
			return r;
		if (back != interp)
			return -EPROTO;
		if (n < max)
			ret_addrs[n] = t;
		n++;
		if (++lam == power) {
			tortoise = t;
			power *= 2;
			lam = 0;
		}
		r = procmem__read_ptr(m, t + o->tstate_next, &t);
		if (r < 0)
			return r;
	}
	return n;
}

/* An interpreter is real when it has threads and they all point back to it. */
static int interp_check(const struct procmem *m, const struct py_offsets *o, uint64_t interp)
{
	int r = thread_states_walk(m, o, interp, NULL, 0);

	if (r < 0)
		return r;
	return r > 0 ? 0 : -EAGAIN;
}

/*
 * 2.7 and 3.6 without a GIL holder or an interp_head symbol: look through the
 * file's writable segments in the target for a pointer to an interpreter.
 * Candidates must point into writable memory before they are followed, and
 * the number followed is capped.
 */
static int interp_scan(const struct procmem *mem, const struct procmaps *maps, const struct pyelf *pe,
		       const struct pyinfo *info, uint64_t *ret_addr, uint64_t *ret_interp)
{
	const struct py_offsets *o = &info->offsets;
	_cleanup_free_ uint64_t *buf = malloc(PYFIND_SCAN_CHUNK);
	size_t scanned = 0, probes = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < pe->nr_loads; i++) {
		const struct pyelf_load *l = &pe->loads[i];
		uint64_t start = (l->vaddr + info->load_bias + 7) & ~7ull;
		uint64_t end = l->vaddr + info->load_bias + l->memsz;

		if (!l->writable)
			continue;
		for (uint64_t a = start; a < end; a += PYFIND_SCAN_CHUNK) {
			size_t len = end - a < PYFIND_SCAN_CHUNK ? (end - a) & ~7ull : PYFIND_SCAN_CHUNK;
			int r;

			if (scanned >= PYFIND_MAX_SCAN)
				return -ENOENT;
			scanned += len;
			r = procmem__read(mem, a, buf, len);
			if (r == -EFAULT)
				continue;
			if (r < 0)
				return r;
			for (size_t k = 0; k < len / 8; k++) {
				const struct procmap *m;
				uint64_t p = buf[k], t;

				if (!procmem_ptr_plausible(p))
					continue;
				m = procmaps__find(maps, p);
				if (!m || !(m->prot & PROCMAP_WRITE))
					continue;
				if (++probes > PYFIND_MAX_PROBES)
					return -ENOENT;
				r = procmem__read_ptr(mem, p + o->interp_tstate_head, &t);
				if (r == 0 && procmem_ptr_plausible(t))
					r = interp_check(mem, o, p);
				else if (r == 0)
					r = -EPROTO;
				/* A target gone or forbidden ends the scan; a wrong guess does not. */
				if (r == -ESRCH || r == -EPERM)
					return r;
				if (r < 0)
					continue;
				*ret_addr = a + k * 8;
				*ret_interp = p;
				return 0;
			}
		}
	}
	return -ENOENT;
}

/* Take the interpreter pointer stored at @addr, if it checks out. -EAGAIN: none yet. */
static int pyinfo_interp_at(const struct procmem *m, struct pyinfo *info, uint64_t addr,
			    enum pyfind_interp_source source)
{
	uint64_t interp;
	int r;

	r = procmem__read_ptr(m, addr, &interp);
	if (r < 0)
		return r;
	if (!interp)
		return -EAGAIN;
	r = interp_check(m, &info->offsets, interp);
	if (r < 0)
		return r;
	info->interp = interp;
	info->interp_source = source;
	return 0;
}

static int pyinfo_find_interp(const struct procmem *m, const struct procmaps *maps, const struct pyelf *pe,
			      struct pyinfo *info)
{
	const struct py_offsets *o = &info->offsets;
	uint64_t interp, addr;
	int r;

	if (info->runtime_addr)
		return pyinfo_interp_at(m, info, info->runtime_addr + o->runtime_interpreters_head,
					PYFIND_INTERP_RUNTIME);

	if (info->tstate_current_addr) {
		uint64_t t;

		r = procmem__read_ptr(m, info->tstate_current_addr, &t);
		if (r < 0)
			return r;
		if (t && procmem_ptr_plausible(t) &&
		    procmem__read_ptr(m, t + o->tstate_interp, &interp) == 0 &&
		    interp_check(m, o, interp) == 0) {
			info->interp = interp;
			info->interp_source = PYFIND_INTERP_TSTATE_CURRENT;
			return 0;
		}
	}

	if (info->interp_head_addr)
		return pyinfo_interp_at(m, info, info->interp_head_addr, PYFIND_INTERP_HEAD_SYMBOL);

	r = interp_scan(m, maps, pe, info, &addr, &interp);
	if (r == -ENOENT)
		return -EAGAIN;
	if (r < 0)
		return r;
	info->interp_head_addr = addr;
	info->interp = interp;
	info->interp_source = PYFIND_INTERP_DATA_SCAN;
	return 0;
}

/*
 * Whether a version newer than any known reads right through the newest
 * layout: the first frames of its threads must hold code objects (the type
 * named "code"), the interpreter's own frames skipped. -EAGAIN while no
 * thread has a frame yet; -EPROTONOSUPPORT (with the note) when one does not.
 */
static int newest_check_frames(const struct procmem *m, struct pyinfo *info)
{
	const struct py_offsets *o = &info->offsets;
	uint64_t tstates[8];
	int n, checked = 0;

	n = thread_states_walk(m, o, info->interp, tstates, sizeof(tstates) / sizeof(tstates[0]));
	if (n < 0)
		return n;
	for (int i = 0; i < n && i < (int)(sizeof(tstates) / sizeof(tstates[0])); i++) {
		uint64_t frame, exec, type, name;
		uint8_t owner;
		char buf[5];

		if (procmem__read_ptr(m, tstates[i] + o->tstate_current_frame, &frame) < 0)
			continue;
		for (int k = 0; k < 16 && frame && procmem_ptr_plausible(frame); k++) {
			if (procmem__read(m, frame + o->iframe_owner, &owner, 1) < 0 ||
			    procmem__read_ptr(m, frame + o->iframe_code, &exec) < 0)
				break;
			if (o->iframe_owner_shim >= 0 && owner >= o->iframe_owner_shim) {
				if (procmem__read_ptr(m, frame + o->iframe_previous, &frame) < 0)
					break;
				continue;
			}
			if (o->iframe_stackref_bits > 0)
				exec &= ~(uint64_t)o->iframe_stackref_bits;
			if (procmem__read_ptr(m, exec + o->object_type, &type) < 0 ||
			    procmem__read_ptr(m, type + o->type_name, &name) < 0 ||
			    procmem__read(m, name, buf, sizeof(buf)) < 0 || memcmp(buf, "code", sizeof(buf)))
				return layout_refuse(info, "CPython %u.%u is newer than any Hearth knows, and %u.%u's "
							   "layout does not read its frames",
						     info->major, info->minor, py_debug_layout_newest()->major,
						     py_debug_layout_newest()->minor);
			checked++;
			break;
		}
	}
	return checked ? 0 : -EAGAIN;
}

static bool same_file(const struct procmap *a, const struct procmap *b)
{
	return a->inode == b->inode && a->dev_major == b->dev_major &&
	       a->dev_minor == b->dev_minor && !strcmp(a->path, b->path);
}

/*
 * Try the file first mapped at maps->maps[@first], opened through @pid's /proc
 * and read through @mem. -ENOEXEC: no CPython in it.
 */
static int pyfind_module(pid_t pid, const struct procmem *mem, const struct procmaps *maps,
			 size_t first, struct pyinfo *ret)
{
	const struct procmap *m = &maps->maps[first];
	_cleanup_close_ int fd = -1;
	struct pyinfo info = {};
	bool biased = false;
	struct pyelf pe;
	int r;

	fd = procmap__open(m, pid);
	if (fd < 0)
		return fd == -ENOENT ? -ENOEXEC : fd;
	r = pyelf_read(fd, &pe);
	if (r < 0)
		return r == -ENOEXEC || r == -E2BIG ? -ENOEXEC : r;
	if (!pe.sym[SYM_RUNTIME] && !pe.pyruntime_section && !pe.sym[SYM_PY_VERSION] &&
	    !pe.sym[SYM_TSTATE_CURRENT])
		return -ENOEXEC;

	for (size_t i = first; i < maps->nr && !biased; i++)
		if (same_file(&maps->maps[i], m))
			biased = pyelf_bias(&pe, &maps->maps[i], &info.load_bias) == 0;
	if (!biased)
		return -ENOEXEC;

#define TARGET_ADDR(v) ((v) ? (v) + info.load_bias : 0)
	info.runtime_addr = TARGET_ADDR(pe.sym[SYM_RUNTIME] ?: pe.pyruntime_section);
	info.py_version_addr = TARGET_ADDR(pe.sym[SYM_PY_VERSION]);
	info.tstate_current_addr = TARGET_ADDR(pe.sym[SYM_TSTATE_CURRENT]);
	info.interp_head_addr = TARGET_ADDR(pe.sym[SYM_INTERP_HEAD]);
#undef TARGET_ADDR
	if (info.runtime_addr)
		info.tstate_current_addr = info.interp_head_addr = 0;
	if (strlen(m->path) >= sizeof(info.module))
		return -ENAMETOOLONG;
	strcpy(info.module, m->path);

	r = pyinfo_find_version(mem, &pe, m->path, &info);
	if (r == -EPROTONOSUPPORT)
		*ret = info;
	if (r < 0)
		return r;
	/* 3.13+, and any later version: the target's own table says where things are. */
	if (info.major == 3 && info.minor >= 13) {
		r = pyinfo_read_layout(mem, &info);
		if (r == -EPROTONOSUPPORT)
			*ret = info;
		if (r < 0)
			return r;
	} else {
		const struct py_offsets *o = py_offsets_find(info.major, info.minor);

		if (!o) {
			*ret = info;
			return -EPROTONOSUPPORT;
		}
		info.offsets = *o;
		info.supported = true;
	}
	/* The table says where the runtime lives; a 3.7+ build without it is broken. */
	if ((info.offsets.runtime_interpreters_head != PY_OFFSET_NONE) != !!info.runtime_addr)
		return -EPROTO;

	r = pyinfo_find_interp(mem, maps, &pe, &info);
	/* A version newer than any known must show it holds: a code object where a frame says. */
	if (r == 0 && info.layout_source == PYFIND_LAYOUT_NEWEST) {
		r = newest_check_frames(mem, &info);
		if (r == -EPROTONOSUPPORT)
			*ret = info;
	}
	/* Starting up: what is known so far, so the interpreter can be watched for from BPF. */
	if (r == 0 || r == -EAGAIN)
		*ret = info;
	return r;
}

static bool is_libpython(const char *path)
{
	const char *base = strrchr(path, '/');

	return base && !strncmp(base + 1, "libpython", 9);
}

int pyfind(pid_t pid, struct pyinfo *ret)
{
	_cleanup_(procmaps__freep) struct procmaps *maps = NULL;
	struct procmem mem = procmem_for_pid(pid);
	char exe_link[64], exe[PATH_MAX];
	ssize_t n;
	int r;

	if (pid <= 0)
		return -ESRCH;
	r = procmaps__read(pid, &maps);
	if (r < 0)
		return r;
	snprintf(exe_link, sizeof(exe_link), "/proc/%d/exe", (int)pid);
	n = readlink(exe_link, exe, sizeof(exe) - 1);
	if (n < 0) {
		if (errno == ENOENT && kill(pid, 0) < 0 && errno == ESRCH)
			return -ESRCH;
		n = 0; /* kernel threads have no executable; libraries may still be looked at */
	}
	exe[n] = '\0';

	/* The executable first, then each distinct libpython*, by first mapping. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < maps->nr; i++) {
			const struct procmap *m = &maps->maps[i];
			bool seen = false;

			if (!procmap__is_file(m))
				continue;
			if (pass == 0 ? strcmp(m->path, exe) != 0 : !is_libpython(m->path))
				continue;
			for (size_t j = 0; j < i && !seen; j++)
				seen = same_file(&maps->maps[j], m);
			if (seen)
				continue;
			r = pyfind_module(pid, &mem, maps, i, ret);
			if (r != -ENOEXEC)
				return r;
			if (pass == 0)
				break;
		}
	}
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return -ESRCH;
	return -ENOEXEC;
}

int pyinfo_read_thread_states(const struct procmem *mem, const struct pyinfo *info, uint64_t *ret_addrs,
			      size_t max)
{
	if (!info->supported)
		return -EINVAL;
	return thread_states_walk(mem, &info->offsets, info->interp, ret_addrs, max);
}

int pyinfo_thread_states(pid_t pid, const struct pyinfo *info, uint64_t *ret_addrs, size_t max)
{
	struct procmem mem = procmem_for_pid(pid);

	return pyinfo_read_thread_states(&mem, info, ret_addrs, max);
}
