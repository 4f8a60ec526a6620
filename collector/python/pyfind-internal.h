/* SPDX-License-Identifier: MIT */
/*
 * What pyfind.c, pyelf.c and pylayout.c share: what one ELF file tells about
 * the CPython in it, the version that makes, and the refusal of a target's
 * _Py_DebugOffsets. Not for use outside python/.
 */
#ifndef HEARTH_PYFIND_INTERNAL_H
#define HEARTH_PYFIND_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procmaps.h"
#include "procmem.h"
#include "pyfind.h"

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

/* Read what pyfind needs from the ELF file at @fd. -ENOEXEC: not an ELF file for this machine. */
int pyelf_read(int fd, struct pyelf *pe);

/* Load bias of the file mapped at @m: target address minus link-time address. Returns 0 or -ENOENT. */
int pyelf_bias(const struct pyelf *pe, const struct procmap *m, uint64_t *ret);

/*
 * Set @info's version from Py_Version at @info->py_version_addr read through
 * @m (3.11+), else from the file name @path, else from .rodata, each checked
 * against the runtime symbols of @pe. Returns 0, -EPROTONOSUPPORT when no
 * version is found, -EPROTO when Py_Version does not fit, or a read error.
 */
int pyinfo_find_version(const struct procmem *m, const struct pyelf *pe, const char *path,
			struct pyinfo *info);

/* Refuse the target's layout, saying why in @info->note. Returns -EPROTONOSUPPORT. */
int pylayout_refuse(struct pyinfo *info, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
