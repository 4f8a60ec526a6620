/* SPDX-License-Identifier: MIT */
/*
 * Finding the CPython interpreter in a running process: which ELF file holds
 * it (the executable or a mapped libpython*.so), which version it is, where
 * its runtime globals sit in the target's address space, and which
 * PyInterpreterState its threads hang off.
 *
 * Files are opened through /proc/PID/map_files/START-END (falling back to
 * /proc/PID/root/PATH), so targets in other mount namespaces work. Target
 * memory is read through a procmem_for_pid() reader, with process_vm_readv
 * (see procmem.h): the caller needs the right to ptrace the target (root, or
 * its parent).
 *
 * Where the interpreter list starts, per version:
 *   3.7+      _PyRuntime.interpreters.head (_PyRuntime is exported; the
 *             .PyRuntime section stands in when the symbol is missing).
 *   2.7, 3.6  interp_head is a static in pystate.c. The exported
 *             _PyThreadState_Current leads to it while some thread holds the
 *             GIL (tstate->interp); otherwise the interp_head symbol when the
 *             file still has a .symtab; otherwise the writable data of the
 *             file is scanned for a pointer P with P->tstate_head->interp == P
 *             (any static holding the interpreter will do, interp_head or
 *             pystate.c's autoInterpreterState).
 *
 * The version comes from Py_Version read from the target (3.11+), else from
 * the file name (libpythonX.Y*, pythonX.Y*), else from the PY_VERSION string
 * "X.Y.Z" in .rodata, always checked against which runtime symbols exist
 * (_PyRuntime means 3.7 or later).
 */
#ifndef HEARTH_PYFIND_H
#define HEARTH_PYFIND_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "procmem.h"
#include "pyoffsets.h"

/* Longest thread-state list walked; a longer one is treated as corrupt. */
#define PYFIND_MAX_THREADS 4096

enum pyfind_version_source {
	PYFIND_VERSION_NONE = 0,
	PYFIND_VERSION_PY_VERSION, /* the Py_Version word read from the target (3.11+) */
	PYFIND_VERSION_FILE_NAME,  /* libpythonX.Y* or pythonX.Y* */
	PYFIND_VERSION_RODATA,     /* the PY_VERSION string in .rodata */
};

enum pyfind_interp_source {
	PYFIND_INTERP_NONE = 0,
	PYFIND_INTERP_RUNTIME,        /* _PyRuntime.interpreters.head (3.7+) */
	PYFIND_INTERP_TSTATE_CURRENT, /* _PyThreadState_Current->interp (2.7, 3.6) */
	PYFIND_INTERP_HEAD_SYMBOL,    /* the static interp_head, from .symtab (2.7, 3.6) */
	PYFIND_INTERP_DATA_SCAN,      /* found scanning writable data (2.7, 3.6) */
};

enum pyfind_layout_source {
	PYFIND_LAYOUT_TABLE = 0, /* our table alone (up to 3.12) */
	PYFIND_LAYOUT_TARGET,    /* the target's own _Py_DebugOffsets, read with its minor's layout (3.13+) */
	PYFIND_LAYOUT_NEWEST,    /* a version newer than any known, read through the newest layout, checked */
};

struct pyinfo {
	uint16_t major;
	uint16_t minor;
	int16_t micro; /* -1 when unknown (the file name gave X.Y and .rodata no X.Y.Z) */
	enum pyfind_version_source version_source;
	/*
	 * Where the fields sit in this target: the table's entry for its
	 * version, and from 3.13 on every field its own _Py_DebugOffsets
	 * carries taken from there. Valid when @supported.
	 */
	struct py_offsets offsets;
	bool supported;
	enum pyfind_layout_source layout_source;
	/*
	 * A line for the user: with -EPROTONOSUPPORT why the build is not
	 * supported (empty: no table entry for the version); with success, what
	 * is worth saying about the layout (an unknown version read through the
	 * newest layout: a warning; the target's table differing from the
	 * headers our table was made from: for -v), else empty.
	 */
	char note[256];

	/*
	 * Addresses in the target (0 when absent in this version). load_bias is
	 * added to the ELF file's symbol values to get them.
	 */
	uint64_t load_bias;
	uint64_t runtime_addr;        /* _PyRuntime (3.7+) */
	uint64_t py_version_addr;     /* Py_Version (3.11+) */
	uint64_t tstate_current_addr; /* _PyThreadState_Current (2.7, 3.6): the GIL holder or NULL */
	uint64_t interp_head_addr;    /* a static holding the interpreter pointer (2.7, 3.6), if found */

	/* The PyInterpreterState validated when pyfind() ran, and how it was found. */
	uint64_t interp;
	enum pyfind_interp_source interp_source;

	/* The ELF file holding CPython, as the target names it (its mount namespace). */
	char module[PATH_MAX];
};

/*
 * Find and check CPython in process @pid. Returns 0 and fills *@ret, or
 *   -ENOEXEC          no CPython in the executable or in any mapped libpython*
 *   -EPROTONOSUPPORT  CPython found, but not a build Hearth can read: a
 *                     version missing from the table (or none found: major
 *                     0, PYFIND_VERSION_NONE), or (3.13+) a _Py_DebugOffsets
 *                     that is damaged, free-threaded, a pre-release other
 *                     than the one its minor's layout was made from, or
 *                     (a newer version) fails the checks; @note says which.
 *                     Only then is *@ret written on failure: version,
 *                     version_source, module and note; supported is false.
 *   -EAGAIN           CPython found, but no interpreter yet (starting or exiting)
 *   -EPROTO           what the target holds does not look like CPython's structures
 *   -ESRCH            no such process (or it exited meanwhile)
 *   -EPERM, -EACCES   not allowed to read it
 *   -EIO, -ENOMEM and other -errno.
 */
int pyfind(pid_t pid, struct pyinfo *ret);

/*
 * 3.13+: fill @info->offsets (and supported, layout_source, note) from the
 * target's own _Py_DebugOffsets at @info->runtime_addr, read through @mem,
 * for the version @info->major.minor already found. The table must have the
 * cookie, that version, no free-threading, a layout Hearth knows for it (a
 * pre-release only the exact one it was made from; a version newer than any
 * known, the newest's), and offsets inside their structs' sizes. Returns 0,
 * -EPROTONOSUPPORT with @info->note saying why, or a read error.
 */
int pyinfo_read_layout(const struct procmem *mem, struct pyinfo *info);

/*
 * List the PyThreadState addresses of the interpreter pyfind() found, in list
 * order (newest thread first). Writes at most @max of them to @ret_addrs
 * (which may be NULL when @max is 0) and returns how many the list holds
 * (which may be more than @max), or -ELOOP when the list is cyclic or longer
 * than PYFIND_MAX_THREADS, -EPROTO when an entry does not point back to the
 * interpreter, -EINVAL when @info has no offsets, -ESRCH, -EFAULT...
 */
int pyinfo_thread_states(pid_t pid, const struct pyinfo *info, uint64_t *ret_addrs, size_t max);

/*
 * The same, reading the target through @mem (which need not be a live
 * process: procmem.h). Same returns.
 */
int pyinfo_read_thread_states(const struct procmem *mem, const struct pyinfo *info, uint64_t *ret_addrs,
			      size_t max);

#endif
