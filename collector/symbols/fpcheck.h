/* SPDX-License-Identifier: MIT */
/*
 * Whether an ELF file's code keeps frame pointers, from its functions'
 * prologues: compilers that keep them start most functions with
 * `push %rbp; mov %rsp,%rbp` (after an `endbr64` with CET). A quick check,
 * for choosing between walking frame pointers in BPF and copying the stack
 * for DWARF unwinding (--unwind auto).
 */
#ifndef HEARTH_FPCHECK_H
#define HEARTH_FPCHECK_H

#include <stdbool.h>

/* Functions looked at: the first this many of at least 16 bytes. */
#define FPCHECK_MAX_FUNCTIONS 256

/*
 * Look at the functions of the ELF file open at @fd (its symbol table, else
 * its dynamic one). *@ret_fp is true when at least one in eight of those looked at
 * set up a frame pointer. Returns 0, -ENOENT (no function symbols: nothing
 * to say), -ENOEXEC (not ELF) or -errno.
 */
int fpcheck_file(int fd, bool *ret_fp);

#endif
