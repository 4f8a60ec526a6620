/* SPDX-License-Identifier: MIT */
/*
 * The function symbols of one ELF file, for turning addresses into names.
 * Symbols come from .symtab, else from a separate debug file found through
 * /usr/lib/debug/.build-id or .gnu_debuglink, else from .dynsym. On x86-64
 * the PLT stubs get names as perf gives them: "getpid@plt" for each entry of
 * .plt, .plt.sec and .plt.got, from the relocation of the GOT slot it jumps
 * through ("strlen@plt" for an IRELATIVE slot whose resolver is the IFUNC
 * strlen, "*ABS*+0x9f550@plt" when no symbol names it), and the section's
 * name (".plt") for the stubs no slot names, PLT0 among them.
 */
#ifndef HEARTH_ELFSYM_H
#define HEARTH_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

#define ELFSYM_MAX_SYMBOLS (4u << 20)

struct elfsym;

enum elfsym_source {
	ELFSYM_SOURCE_NONE = 0,
	ELFSYM_SOURCE_SYMTAB,
	ELFSYM_SOURCE_DEBUGFILE,
	ELFSYM_SOURCE_DYNSYM,
};

/*
 * Load the symbols of the ELF file open at @fd (not taken). Separate debug
 * files are looked for under @root first ("/proc/PID/root", or NULL for "/")
 * and then on the host; @path is the file's path inside that root, used for
 * .gnu_debuglink's directories (may be NULL). Returns 0 or -errno (-ENOEXEC:
 * not an ELF file). The result has a reference count of one.
 */
int elfsym__new(int fd, const char *root, const char *path, struct elfsym **ret);

/* Same, for an ELF image in memory (the vDSO). @data must outlive the result. */
int elfsym__new_memory(const void *data, size_t size, struct elfsym **ret);

struct elfsym *elfsym__ref(struct elfsym *e);
/* Drop a reference; frees on the last one. Accepts NULL, returns NULL. */
struct elfsym *elfsym__unref(struct elfsym *e);
static inline void elfsym__unrefp(struct elfsym **e)
{
	elfsym__unref(*e);
}

/* Hex build-id, or NULL when the file has none. */
const char *elfsym__build_id(const struct elfsym *e);

/* Where the symbols came from. */
enum elfsym_source elfsym__source(const struct elfsym *e);

size_t elfsym__nr_symbols(const struct elfsym *e);

/* Approximate bytes held, for cache accounting. */
size_t elfsym__memory(const struct elfsym *e);

/*
 * Convert a file offset (from a mapping) to the virtual address the ELF file's
 * symbols use. Returns 0, or -ENOENT when no loadable segment holds it.
 */
int elfsym__offset_to_vaddr(const struct elfsym *e, uint64_t offset, uint64_t *ret_vaddr);

/* The function holding @vaddr and @vaddr's offset in it, or NULL. */
const char *elfsym__lookup(const struct elfsym *e, uint64_t vaddr, uint64_t *ret_offset);

#endif
