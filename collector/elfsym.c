// SPDX-License-Identifier: MIT
#include "elfsym.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
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

static int elfsym_add_name(struct elfsym *e, const char *name, uint32_t *ret)
{
	size_t n = strlen(name) + 1;

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
	memcpy(e->names + e->names_len, name, n);
	*ret = (uint32_t)e->names_len;
	e->names_len += n;
	return 0;
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
		struct elfsym_symbol *s;
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
		r = elfsym_add_name(e, name, &s->name);
		/* "clock_gettime@@GLIBC_2.17": the version is noise in a profile. */
		if (r == 0) {
			char *at = strchr(e->names + s->name, '@');

			if (at && at != e->names + s->name)
				*at = '\0';
		}
		if (r < 0)
			return r;
		s->addr = sym.st_value;
		s->size = sym.st_size;
		s->global = GELF_ST_BIND(sym.st_info) != STB_LOCAL;
		e->nr_syms++;
		added++;
	}
	return added;
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
	if (r < 0) {
		free(e->syms);
		free(e->names);
		return r;
	}
	elfsym_sort(e);
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
	size_t lo = 0, hi = e->nr_syms;
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
