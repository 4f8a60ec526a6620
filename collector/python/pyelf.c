// SPDX-License-Identifier: MIT
/*
 * What one ELF file tells about the CPython in it, read from the file alone
 * (its runtime symbols, PT_LOADs and PY_VERSION strings), and the version
 * that makes, with Py_Version read from the target where it has one.
 */
#include <ctype.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "pyfind-internal.h"

/* Caps on what a file or a target can make us do. */
#define PYFIND_MAX_SYMBOLS (4u << 20)
#define PYFIND_MAX_RODATA (64u << 20)

static const char *const sym_names[SYM_COUNT] = {
	[SYM_RUNTIME] = "_PyRuntime",
	[SYM_PY_VERSION] = "Py_Version",
	[SYM_TSTATE_CURRENT] = "_PyThreadState_Current",
	[SYM_INTERP_HEAD] = "interp_head",
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
int pyelf_read(int fd, struct pyelf *pe)
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
int pyelf_bias(const struct pyelf *pe, const struct procmap *m, uint64_t *ret)
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

int pyinfo_find_version(const struct procmem *m, const struct pyelf *pe, const char *path,
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
