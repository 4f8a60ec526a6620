/* SPDX-License-Identifier: MIT */
/* Kernel text symbols from /proc/kallsyms. */
#ifndef HEARTH_KSYMS_H
#define HEARTH_KSYMS_H

#include <stddef.h>
#include <stdint.h>

struct ksyms;

/*
 * Load the text symbols of @path (normally "/proc/kallsyms"). Returns 0,
 * -EPERM when the addresses are hidden (all zero: kptr_restrict), or -errno.
 */
int ksyms__load(const char *path, struct ksyms **ret);
struct ksyms *ksyms__free(struct ksyms *k);

/* The symbol holding @addr, its module in *ret_module ("" for vmlinux), or NULL. */
const char *ksyms__lookup(const struct ksyms *k, uint64_t addr, const char **ret_module);

size_t ksyms__count(const struct ksyms *k);

#endif
