// SPDX-License-Identifier: MIT
#include "elfsym.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "debugfile.h"

#define ELFSYM_MAX_LOADS 64

struct elfsym_load {
	uint64_t offset, vaddr, filesz;
};

struct elfsym_symbol {
	uint64_t addr;
	uint64_t size;
	uint32_t name; /* offset in names */
	uint8_t global;
	uint8_t ifunc; /* STT_GNU_IFUNC: the resolver, named for the function it picks */
};

struct elfsym {
	int refs;
	enum elfsym_source source;
	char build_id[2 * DEBUGFILE_MAX_BUILD_ID + 1];
	struct elfsym_load loads[ELFSYM_MAX_LOADS];
	size_t nr_loads;
	struct elfsym_symbol *syms;
	size_t nr_syms, syms_cap;
	char *names;
	size_t names_len, names_cap;
};

static void elf_endp(Elf **e)
{
	if (*e)
		elf_end(*e);
}

struct elfsym *elfsym__ref(struct elfsym *e)
{
	if (e)
		e->refs++;
	return e;
}

struct elfsym *elfsym__unref(struct elfsym *e)
{
	if (!e || --e->refs > 0)
		return NULL;
	free(e->syms);
	free(e->names);
	free(e);
	return NULL;
}

const char *elfsym__build_id(const struct elfsym *e)
{
	return e->build_id[0] ? e->build_id : NULL;
}

enum elfsym_source elfsym__source(const struct elfsym *e)
{
	return e->source;
}

size_t elfsym__nr_symbols(const struct elfsym *e)
{
	return e->nr_syms;
}

size_t elfsym__memory(const struct elfsym *e)
{
	return sizeof(*e) + e->syms_cap * sizeof(*e->syms) + e->names_cap;
}

static int elfsym_read_loads(struct elfsym *e, Elf *elf)
{
	size_t n;

	if (elf_getphdrnum(elf, &n) < 0)
		return -ENOEXEC;
	for (size_t i = 0; i < n && e->nr_loads < ELFSYM_MAX_LOADS; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		e->loads[e->nr_loads++] = (struct elfsym_load){
			.offset = ph.p_offset,
			.vaddr = ph.p_vaddr,
			.filesz = ph.p_filesz,
		};
	}
	return 0;
}

/* Append @len bytes of @name, then @suffix, as one string; its offset into *ret. */
static int elfsym_add_name(struct elfsym *e, const char *name, size_t len, const char *suffix,
			   uint32_t *ret)
{
	size_t slen = strlen(suffix), n = len + slen + 1;

	if (e->names_len + n > e->names_cap) {
		size_t c = e->names_cap ? e->names_cap * 2 : 4096;
		char *p;

		while (c < e->names_len + n)
			c *= 2;
		if (c > UINT32_MAX)
			return -E2BIG;
		p = realloc(e->names, c);
		if (!p)
			return -ENOMEM;
		e->names = p;
		e->names_cap = c;
	}
	memcpy(e->names + e->names_len, name, len);
	memcpy(e->names + e->names_len + len, suffix, slen + 1);
	*ret = (uint32_t)e->names_len;
	e->names_len += n;
	return 0;
}

/* Add a symbol named @len bytes of @name followed by @suffix. Returns 0 or -errno. */
static int elfsym_add_symbol(struct elfsym *e, const char *name, size_t len, const char *suffix,
			     uint64_t addr, uint64_t size, bool global, bool ifunc)
{
	struct elfsym_symbol *s;
	int r;

	if (e->nr_syms >= ELFSYM_MAX_SYMBOLS)
		return -E2BIG;
	if (e->nr_syms == e->syms_cap) {
		size_t c = e->syms_cap ? e->syms_cap * 2 : 1024;
		void *p = realloc(e->syms, c * sizeof(*e->syms));

		if (!p)
			return -ENOMEM;
		e->syms = p;
		e->syms_cap = c;
	}
	s = &e->syms[e->nr_syms];
	r = elfsym_add_name(e, name, len, suffix, &s->name);
	if (r < 0)
		return r;
	s->addr = addr;
	s->size = size;
	s->global = global;
	s->ifunc = ifunc;
	e->nr_syms++;
	return 0;
}

/* The length of @name without a symbol version ("clock_gettime@@GLIBC_2.17"): noise in a profile. */
static size_t elfsym_unversioned_len(const char *name)
{
	const char *at = strchr(name, '@');

	return at && at != name ? (size_t)(at - name) : strlen(name);
}

/* Load the function symbols of one symbol table section. Returns how many, or -errno. */
static int elfsym_read_symbols(struct elfsym *e, Elf *elf, Elf_Scn *scn)
{
	GElf_Shdr sh;
	Elf_Data *d;
	size_t n;
	int added = 0;

	if (!gelf_getshdr(scn, &sh) || !sh.sh_entsize)
		return 0;
	d = elf_getdata(scn, NULL);
	if (!d)
		return 0;
	n = sh.sh_size / sh.sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;
		int type, r;

		if (!gelf_getsym(d, i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
		    sym.st_value == 0)
			continue;
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		r = elfsym_add_symbol(e, name, elfsym_unversioned_len(name), "", sym.st_value,
				      sym.st_size, GELF_ST_BIND(sym.st_info) != STB_LOCAL,
				      type == STT_GNU_IFUNC);
		if (r < 0)
			return r;
		added++;
	}
	return added;
}

/* The symbol holding @vaddr among the first @n (sorted) symbols, as elfsym__lookup(). */
static const char *elfsym_find(const struct elfsym *e, size_t n, uint64_t vaddr, uint64_t *ret_offset)
{
	size_t lo = 0, hi = n;
	const struct elfsym_symbol *s;

	/* Last symbol starting at or below vaddr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	s = &e->syms[lo - 1];
	if (s->size && vaddr >= s->addr + s->size)
		return NULL;
	if (ret_offset)
		*ret_offset = vaddr - s->addr;
	return e->names + s->name;
}

static int elfsym_cmp(const void *a, const void *b)
{
	const struct elfsym_symbol *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* Among aliases prefer a sized, global symbol: it is the name people know. */
	if (!!x->size != !!y->size)
		return x->size ? -1 : 1;
	if (x->global != y->global)
		return x->global ? -1 : 1;
	/* strcpy over its resolver's local name strcpy_ifunc: the name an IRELATIVE PLT entry takes. */
	if (x->ifunc != y->ifunc)
		return x->ifunc ? -1 : 1;
	return 0;
}

static void elfsym_sort(struct elfsym *e)
{
	size_t out = 0;

	if (!e->nr_syms)
		return;
	qsort(e->syms, e->nr_syms, sizeof(*e->syms), elfsym_cmp);
	for (size_t i = 0; i < e->nr_syms; i++)
		if (!out || e->syms[out - 1].addr != e->syms[i].addr)
			e->syms[out++] = e->syms[i];
	e->nr_syms = out;
}

/*
 * PLT stubs have no symbols of their own; without names for them a sample in
 * one takes the name of whatever precedes .plt (_init). Name them as perf and
 * objdump do, "getpid@plt", from the relocation of the GOT slot each stub
 * jumps through: R_X86_64_JUMP_SLOT in .rela.plt for .plt and .plt.sec (CET
 * builds: .plt then holds only the lazy-binding stubs), R_X86_64_GLOB_DAT in
 * .rela.dyn for .plt.got. The slot comes from decoding the stub, not from the
 * entry's position: x86-64 linkers put IRELATIVE relocations out of .plt order.
 * x86-64 only.
 */

#define ELFSYM_MAX_GOT_SLOTS (1u << 20)

/* A GOT slot a PLT stub may jump through, and what the dynamic linker puts there. */
struct elfsym_got_slot {
	uint64_t got;
	uint64_t resolver; /* R_X86_64_IRELATIVE: the IFUNC resolver (r_addend) */
	const char *name;  /* NULL for IRELATIVE; points into libelf's copy of the file */
};

struct elfsym_got {
	struct elfsym_got_slot *slots;
	size_t nr, cap;
	size_t nr_sorted_syms; /* the symbols loaded before the PLT's, which are sorted */
};

static void elfsym_got_done(struct elfsym_got *g)
{
	free(g->slots);
}

static int elfsym_got_cmp(const void *a, const void *b)
{
	const struct elfsym_got_slot *x = a, *y = b;

	return x->got < y->got ? -1 : x->got > y->got;
}

/* Collect the named GOT slots of the relocation section @name. Returns 0 or -ENOMEM. */
static int elfsym_got_read(struct elfsym_got *g, Elf *elf, const char *name)
{
	Elf_Scn *scn = debugfile_section(elf, SHT_RELA, name), *symscn;
	GElf_Shdr sh, symsh;
	Elf_Data *d, *symd = NULL;
	size_t n, fsize = gelf_fsize(elf, ELF_T_RELA, 1, EV_CURRENT);

	if (!scn || !fsize || !gelf_getshdr(scn, &sh))
		return 0;
	d = elf_getdata(scn, NULL);
	if (!d)
		return 0;
	/* IRELATIVE needs no symbol table: a static executable's may link to none. */
	symscn = elf_getscn(elf, sh.sh_link);
	if (symscn && gelf_getshdr(symscn, &symsh) &&
	    (symsh.sh_type == SHT_DYNSYM || symsh.sh_type == SHT_SYMTAB))
		symd = elf_getdata(symscn, NULL);
	n = d->d_size / fsize;
	for (size_t i = 0; i < n && g->nr < ELFSYM_MAX_GOT_SLOTS; i++) {
		struct elfsym_got_slot slot = { 0 };
		GElf_Rela rela;
		GElf_Sym sym;

		if (!gelf_getrela(d, (int)i, &rela))
			break;
		slot.got = rela.r_offset;
		switch (GELF_R_TYPE(rela.r_info)) {
		case R_X86_64_JUMP_SLOT:
		case R_X86_64_GLOB_DAT:
			if (!symd || !gelf_getsym(symd, (int)GELF_R_SYM(rela.r_info), &sym))
				continue;
			slot.name = elf_strptr(elf, symsh.sh_link, sym.st_name);
			if (!slot.name || !*slot.name)
				continue;
			break;
		case R_X86_64_IRELATIVE:
			slot.resolver = (uint64_t)rela.r_addend;
			break;
		default:
			continue;
		}
		if (g->nr == g->cap) {
			size_t c = g->cap ? g->cap * 2 : 64;
			void *p = realloc(g->slots, c * sizeof(*g->slots));

			if (!p)
				return -ENOMEM;
			g->slots = p;
			g->cap = c;
		}
		g->slots[g->nr++] = slot;
	}
	return 0;
}

/*
 * The GOT slot the x86-64 PLT entry @p (@len bytes, at @vaddr) jumps through:
 * jmp *disp32(%rip), optionally after endbr64, mold's mov $index,%r11d and a
 * bnd prefix. False for anything else (PLT0, the lazy stubs beside .plt.sec).
 */
static bool elfsym_plt_decode(const uint8_t *p, size_t len, uint64_t vaddr, uint64_t *ret_slot)
{
	static const uint8_t endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	size_t n = 0;
	uint32_t disp;

	if (len >= sizeof(endbr64) && !memcmp(p, endbr64, sizeof(endbr64)))
		n += sizeof(endbr64);
	if (n + 6 <= len && p[n] == 0x41 && p[n + 1] == 0xbb)
		n += 6;
	if (n < len && p[n] == 0xf2)
		n++;
	if (n + 6 > len || p[n] != 0xff || p[n + 1] != 0x25)
		return false;
	disp = (uint32_t)p[n + 2] | (uint32_t)p[n + 3] << 8 | (uint32_t)p[n + 4] << 16 |
	       (uint32_t)p[n + 5] << 24;
	/* rip-relative: from the end of the jmp; disp32 is signed, the sum wraps. */
	*ret_slot = vaddr + n + 6 + (uint64_t)(int64_t)(int32_t)disp;
	return true;
}

/* Name one PLT entry after the slot it jumps through. Returns 1 if named, 0 if not, or -errno. */
static int elfsym_plt_add_entry(struct elfsym *e, const struct elfsym_got *g, uint64_t slot_addr,
				uint64_t vaddr, uint64_t size)
{
	const struct elfsym_got_slot key = { .got = slot_addr }, *slot;
	_cleanup_free_ char *ifunc = NULL;
	char abs[sizeof("*ABS*+0x") + 16];
	const char *name;
	uint64_t off;
	int r;

	if (!g->nr)
		return 0;
	slot = bsearch(&key, g->slots, g->nr, sizeof(*g->slots), elfsym_got_cmp);
	if (!slot)
		return 0;
	if (slot->name) {
		r = elfsym_add_symbol(e, slot->name, elfsym_unversioned_len(slot->name), "@plt",
				      vaddr, size, true, false);
		return r < 0 ? r : 1;
	}
	/* IRELATIVE: named for its IFUNC as perf does, else "*ABS*+0x…" as objdump does. */
	name = elfsym_find(e, g->nr_sorted_syms, slot->resolver, &off);
	if (name && off == 0) {
		ifunc = strdup(name); /* e->names moves as names are added */
		if (!ifunc)
			return -ENOMEM;
		name = ifunc;
	} else {
		snprintf(abs, sizeof(abs), "*ABS*+0x%" PRIx64, slot->resolver);
		name = abs;
	}
	r = elfsym_add_symbol(e, name, strlen(name), "@plt", vaddr, size, true, false);
	return r < 0 ? r : 1;
}

/*
 * Symbols for the entries of the PLT section @name: each entry whose stub
 * jumps through a known slot gets "slot@plt"; runs of others (PLT0, the lazy
 * stubs beside .plt.sec) get the section's name, so they are not taken for
 * the function before them. Returns how many symbols, or -errno.
 */
static int elfsym_plt_read_section(struct elfsym *e, Elf *elf, const struct elfsym_got *g,
				   const char *name)
{
	Elf_Scn *scn = debugfile_section(elf, SHT_PROGBITS, name);
	size_t entsize, n, run = SIZE_MAX; /* run: the symbol of the unnamed entries before this one */
	GElf_Shdr sh;
	Elf_Data *d;
	int added = 0;

	if (!scn || !gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_EXECINSTR))
		return 0;
	d = elf_getdata(scn, NULL);
	if (!d || !d->d_buf)
		return 0;
	/* 16 bytes, or 8 in a .plt.got without IBT; perf guesses the same way. */
	entsize = sh.sh_entsize == 8 || sh.sh_entsize == 16 ? sh.sh_entsize :
		  sh.sh_addralign == 8 ? 8 : 16;
	n = d->d_size / entsize;
	if (n > ELFSYM_MAX_GOT_SLOTS)
		n = ELFSYM_MAX_GOT_SLOTS;
	for (size_t i = 0; i < n; i++) {
		uint64_t vaddr = sh.sh_addr + i * entsize, slot;
		int r = 0;

		if (elfsym_plt_decode((const uint8_t *)d->d_buf + i * entsize, entsize, vaddr, &slot))
			r = elfsym_plt_add_entry(e, g, slot, vaddr, entsize);
		if (r < 0)
			return r;
		if (r > 0) {
			run = SIZE_MAX;
			added++;
			continue;
		}
		if (run != SIZE_MAX) {
			e->syms[run].size += entsize;
			continue;
		}
		r = elfsym_add_symbol(e, name, strlen(name), "", vaddr, entsize, true, false);
		if (r < 0)
			return r;
		run = e->nr_syms - 1;
		added++;
	}
	return added;
}

/* Symbols for .plt, .plt.sec and .plt.got. Call on sorted symbols. Returns how many, or -errno. */
static int elfsym_read_plt(struct elfsym *e, Elf *elf)
{
	static const char *const sections[] = { ".plt", ".plt.sec", ".plt.got" };
	_cleanup_(elfsym_got_done) struct elfsym_got g = { .nr_sorted_syms = e->nr_syms };
	GElf_Ehdr eh;
	int r, added = 0;

	if (!gelf_getehdr(elf, &eh) || eh.e_machine != EM_X86_64)
		return 0;
	r = elfsym_got_read(&g, elf, ".rela.plt");
	if (r == 0)
		r = elfsym_got_read(&g, elf, ".rela.dyn");
	if (r < 0)
		return r;
	if (g.nr)
		qsort(g.slots, g.nr, sizeof(*g.slots), elfsym_got_cmp);
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
		r = elfsym_plt_read_section(e, elf, &g, sections[i]);
		if (r < 0)
			return r;
		added += r;
	}
	return added;
}

/* debugfile_fn: load a debug file's .symtab; 0 when it has none usable. */
static int elfsym_use_debug_file(int fd, void *arg)
{
	struct elfsym *e = arg;
	_cleanup_(elf_endp) Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	Elf_Scn *scn;

	if (!elf || elf_kind(elf) != ELF_K_ELF)
		return 0;
	scn = debugfile_section(elf, SHT_SYMTAB, NULL);
	if (!scn)
		return 0;
	return elfsym_read_symbols(e, elf, scn);
}

/* Look for a separate debug file: by build-id, then by .gnu_debuglink. */
static int elfsym_load(Elf *elf, const char *root, const char *path, struct elfsym **ret)
{
	_cleanup_free_ struct elfsym *e = NULL;
	Elf_Scn *scn;
	int r;

	if (elf_kind(elf) != ELF_K_ELF)
		return -ENOEXEC;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->refs = 1;
	r = elfsym_read_loads(e, elf);
	if (r < 0)
		return r;
	debugfile_build_id(elf, e->build_id);

	scn = debugfile_section(elf, SHT_SYMTAB, NULL);
	r = scn ? elfsym_read_symbols(e, elf, scn) : 0;
	if (r > 0)
		e->source = ELFSYM_SOURCE_SYMTAB;
	if (r == 0) {
		r = debugfile_find(elf, e->build_id, root, path, elfsym_use_debug_file, e);
		if (r > 0)
			e->source = ELFSYM_SOURCE_DEBUGFILE;
	}
	if (r >= 0) {
		/* .dynsym adds the exported names a debug-less .symtab may lack. */
		scn = debugfile_section(elf, SHT_DYNSYM, NULL);
		if (scn) {
			int d = elfsym_read_symbols(e, elf, scn);

			if (d > 0 && e->source == ELFSYM_SOURCE_NONE)
				e->source = ELFSYM_SOURCE_DYNSYM;
			if (d < 0)
				r = d;
		}
	}
	if (r >= 0) {
		elfsym_sort(e);
		/* The PLT is in this file even when the symbols came from a debug file. */
		r = elfsym_read_plt(e, elf);
		if (r > 0)
			elfsym_sort(e);
	}
	if (r < 0) {
		free(e->syms);
		free(e->names);
		return r;
	}
	*ret = TAKE_PTR(e);
	return 0;
}

int elfsym__new(int fd, const char *root, const char *path, struct elfsym **ret)
{
	_cleanup_(elf_endp) Elf *elf = NULL;
	int r;

	r = debugfile_init_libelf();
	if (r < 0)
		return r;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return -ENOEXEC;
	return elfsym_load(elf, root, path, ret);
}

int elfsym__new_memory(const void *data, size_t size, struct elfsym **ret)
{
	_cleanup_(elf_endp) Elf *elf = NULL;
	int r;

	r = debugfile_init_libelf();
	if (r < 0)
		return r;
	elf = elf_memory((char *)data, size);
	if (!elf)
		return -ENOEXEC;
	return elfsym_load(elf, NULL, NULL, ret);
}

int elfsym__offset_to_vaddr(const struct elfsym *e, uint64_t offset, uint64_t *ret_vaddr)
{
	for (size_t i = 0; i < e->nr_loads; i++) {
		const struct elfsym_load *l = &e->loads[i];

		if (offset >= l->offset && offset < l->offset + l->filesz) {
			*ret_vaddr = offset - l->offset + l->vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

const char *elfsym__lookup(const struct elfsym *e, uint64_t vaddr, uint64_t *ret_offset)
{
	return elfsym_find(e, e->nr_syms, vaddr, ret_offset);
}
