// SPDX-License-Identifier: MIT
/*
 * The unwinder's cached CFI rows against libdw's own answer, address by
 * address, over all the executable code of real files: this process's libc
 * (2,000 DW_CFA_remember_state/restore_state pairs in Debian 12's) and the
 * files given. Addresses go from the top of the code down, so the rows of
 * epilogues are cached before the rows below them are asked for: a row that
 * claims more than its own range (libdw reports a restored row's start as
 * the start of the row it was remembered from) answers for addresses it does
 * not hold, and this test sees it.
 * Usage: test-cfirows [ELF...]
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfirows.h"
#include "check.h"

struct range {
	uint64_t lo, hi;
};

/* The executable PT_LOAD ranges of the ELF image @image, into @out (at most @max). */
static size_t exec_ranges(const void *image, size_t size, struct range *out, size_t max)
{
	Elf *elf = elf_memory((char *)image, size);
	size_t n = 0, phnum = 0;

	if (!elf)
		return 0;
	if (elf_getphdrnum(elf, &phnum) == 0)
		for (size_t i = 0; i < phnum && n < max; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
				out[n++] = (struct range){ ph.p_vaddr, ph.p_vaddr + ph.p_filesz };
		}
	elf_end(elf);
	return n;
}

static int same_rules(const struct cfi_row *a, const struct cfi_row *b)
{
	if (a->kind != b->kind)
		return 0;
	if (a->kind != CFI_ROW_SIMPLE)
		return 1;
	return a->cfa_reg == b->cfa_reg && a->cfa_off == b->cfa_off && a->ra_off == b->ra_off &&
	       a->bp_saved == b->bp_saved && (!a->bp_saved || a->bp_off == b->bp_off);
}

/* Every address of @path's code, top down: the cached row is libdw's and holds the address. */
static void check_file(const char *path)
{
	struct range ranges[8];
	struct cfi_rows *rows = NULL;
	uint64_t addrs = 0, wrong = 0, outside = 0, simple = 0;
	struct timespec t0, t1;
	struct stat st;
	void *image;
	size_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	CHECK_TRUE(fd >= 0 && fstat(fd, &st) == 0);
	if (fd < 0)
		return;
	image = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	CHECK_TRUE(image != MAP_FAILED);
	if (image == MAP_FAILED)
		return;
	n = exec_ranges(image, (size_t)st.st_size, ranges, 8);
	CHECK_TRUE(n > 0);
	CHECK_INT(cfi_rows__new(image, (size_t)st.st_size, &rows), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; rows && i < n; i++)
		for (uint64_t addr = ranges[i].hi; addr-- > ranges[i].lo;) {
			struct cfi_row got, want;

			if (cfi_rows__find(rows, addr, &got) != 0) {
				wrong++;
				continue;
			}
			addrs++;
			if (got.start > addr || got.end <= addr)
				outside++;
			if (cfi_rows__read(rows, addr, &want) != 0)
				want.kind = CFI_ROW_OTHER;
			if (!same_rules(&got, &want)) {
				if (wrong++ < 8)
					fprintf(stderr, "%s: %#lx: cached row [%#lx,%#lx) kind %d cfa %d%+d ra %+d, "
							"libdw's kind %d cfa %d%+d ra %+d\n",
						path, (unsigned long)addr, (unsigned long)got.start,
						(unsigned long)got.end, got.kind, got.cfa_reg, got.cfa_off,
						got.ra_off, want.kind, want.cfa_reg, want.cfa_off, want.ra_off);
			}
			simple += want.kind == CFI_ROW_SIMPLE;
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s: %lu addresses (%lu in simple rows), %lu rows wrong, %lu not holding their address, "
	       "%.2f s\n",
	       path, (unsigned long)addrs, (unsigned long)simple, (unsigned long)wrong, (unsigned long)outside,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	CHECK_TRUE(addrs > 0);
	CHECK_TRUE(simple > addrs / 2);
	CHECK_INT(wrong, 0);
	CHECK_INT(outside, 0);
	cfi_rows__free(rows);
	munmap(image, (size_t)st.st_size);
}

/* The path of the loaded object whose name holds @needle, into @buf. */
static int find_loaded(struct dl_phdr_info *info, size_t size, void *data)
{
	char **want = data;

	(void)size;
	if (info->dlpi_name && strstr(info->dlpi_name, "/libc.so.")) {
		snprintf(want[0], 4096, "%s", info->dlpi_name);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char libc[4096] = "";
	char *want[1] = { libc };

	elf_version(EV_CURRENT);
	dl_iterate_phdr(find_loaded, want);
	CHECK_TRUE(libc[0] != '\0');
	if (libc[0])
		check_file(libc);
	for (int i = 1; i < argc; i++)
		check_file(argv[i]);
	return check_finish("test-cfirows");
}
