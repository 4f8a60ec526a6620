// SPDX-License-Identifier: MIT
#include "fpcheck.h"

#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

/*
 * `push %rbp` among the first instructions and `mov %rsp,%rbp` (either
 * encoding) after it, within @n bytes: compilers schedule other
 * instructions in between. Code without frame pointers may push %rbp as
 * any callee-saved register, but never copies %rsp into it.
 */
static bool is_fp_prologue(const unsigned char *p, size_t n)
{
	static const unsigned char endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	size_t push;

	if (n >= 4 && !memcmp(p, endbr64, 4)) {
		p += 4;
		n -= 4;
	}
	for (push = 0; push < 4 && push < n && p[push] != 0x55; push++)
		;
	if (push == 4 || push == n)
		return false;
	for (size_t i = push + 1; i + 3 <= n; i++)
		if (p[i] == 0x48 && ((p[i + 1] == 0x89 && p[i + 2] == 0xe5) || (p[i + 1] == 0x8b && p[i + 2] == 0xec)))
			return true;
	return false;
}

/* The section holding virtual address @addr, with its header, or NULL. */
static Elf_Scn *section_of(Elf *elf, uint64_t addr, GElf_Shdr *ret)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, ret) || ret->sh_type != SHT_PROGBITS || !(ret->sh_flags & SHF_EXECINSTR))
			continue;
		if (addr >= ret->sh_addr && addr < ret->sh_addr + ret->sh_size)
			return scn;
	}
	return NULL;
}

static int count_functions(Elf *elf, Elf_Scn *symtab, unsigned int *ret_seen, unsigned int *ret_fp)
{
	GElf_Shdr sh;
	Elf_Data *syms = elf_getdata(symtab, NULL);
	size_t n;

	if (!syms || !gelf_getshdr(symtab, &sh) || !sh.sh_entsize)
		return -ENOENT;
	n = sh.sh_size / sh.sh_entsize;
	for (size_t i = 0; i < n && *ret_seen < FPCHECK_MAX_FUNCTIONS; i++) {
		GElf_Sym sym;
		GElf_Shdr text;
		Elf_Scn *scn;
		Elf_Data *code;
		uint64_t off;

		if (!gelf_getsym(syms, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_size < 16 || sym.st_shndx == SHN_UNDEF)
			continue;
		scn = section_of(elf, sym.st_value, &text);
		if (!scn || !(code = elf_getdata(scn, NULL)) || !code->d_buf)
			continue;
		off = sym.st_value - text.sh_addr;
		if (off + 16 > code->d_size)
			continue;
		(*ret_seen)++;
		*ret_fp += is_fp_prologue((const unsigned char *)code->d_buf + off,
					  sym.st_size < 32 ? sym.st_size : 32);
	}
	return 0;
}

int fpcheck_file(int fd, bool *ret_fp)
{
	unsigned int seen = 0, fp = 0;
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
	GElf_Shdr sh;
	Elf *elf;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return -ENOEXEC;
	if (elf_kind(elf) != ELF_K_ELF) {
		elf_end(elf);
		return -ENOEXEC;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			symtab = scn;
		else if (sh.sh_type == SHT_DYNSYM)
			dynsym = scn;
	}
	if (symtab)
		count_functions(elf, symtab, &seen, &fp);
	if (!seen && dynsym)
		count_functions(elf, dynsym, &seen, &fp);
	elf_end(elf);
	if (!seen)
		return -ENOENT;
	/* Leaves and tiny helpers set up no frame even in frame-pointer builds; builds without have ~none. */
	*ret_fp = 8 * fp >= seen;
	return 0;
}
