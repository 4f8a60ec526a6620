/* SPDX-License-Identifier: MIT */
/* The end-of-recording summary: counts, the hottest functions, where it went. */
#ifndef HEARTH_SUMMARY_H
#define HEARTH_SUMMARY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "profile.h"

struct summary_entry {
	char name[256];
	uint64_t self; /* samples with this frame as the leaf */
};

/*
 * The @max functions with the most self samples, most first. Kernel leaf
 * frames count for themselves. Returns how many were filled or -errno.
 */
int summary_top_self(const struct profile *p, struct summary_entry *ret, size_t max);

#endif
