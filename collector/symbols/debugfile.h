/* SPDX-License-Identifier: MIT */
/*
 * Separate debug files. Distributions strip what they ship and put .symtab
 * and the .debug_* sections (.debug_frame among them) in another file, found
 * by the stripped file's build-id (/usr/lib/debug/.build-id/ab/cdef….debug)
 * or by its .gnu_debuglink name and CRC (beside the file, in .debug/ beside
 * it, or under /usr/lib/debug). Each place is looked in under the target's
 * root first, then on the host. Shared by symbolization and unwinding.
 */
#ifndef HEARTH_DEBUGFILE_H
#define HEARTH_DEBUGFILE_H

#include <gelf.h>
#include <libelf.h>
#include <stddef.h>
#include <stdint.h>

#define DEBUGFILE_MAX_BUILD_ID 64 /* bytes */

/* libelf is initialised once per process. Returns 0 or -ENOTSUP. */
int debugfile_init_libelf(void);

/* The section named @name (any name when NULL) of type @type, or NULL. */
Elf_Scn *debugfile_section(Elf *elf, uint32_t type, const char *name);

/*
 * The GNU build-id of @elf as lower-case hex into @buf (at least
 * 2 * DEBUGFILE_MAX_BUILD_ID + 1 bytes). Returns its length in bytes, 0 when
 * the file has none.
 */
size_t debugfile_build_id(Elf *elf, char *buf);

/*
 * Called with each candidate debug file, open read-only at @fd (closed after
 * the call). Returns > 0 when it used the file (the search stops and returns
 * that), 0 to go on with the next candidate, < 0 (-errno) to stop with an error.
 */
typedef int (*debugfile_fn)(int fd, void *arg);

/*
 * Offer @fn the separate debug files of @elf, whose hex build-id is @build_id
 * (NULL or "" if none): by build-id, then by .gnu_debuglink (CRC checked),
 * under @root ("/proc/PID/root", NULL for none) and then on the host. @path
 * is the file's own path inside @root, for .gnu_debuglink's directories (NULL:
 * by build-id only). Returns what @fn returned when it stopped the search, or
 * 0 when no candidate was used.
 */
int debugfile_find(Elf *elf, const char *build_id, const char *root, const char *path,
		   debugfile_fn fn, void *arg);

#endif
