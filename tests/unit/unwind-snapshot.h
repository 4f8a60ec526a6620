/* SPDX-License-Identifier: MIT */
/*
 * Run unwind-fixture and load what it wrote: PREFIX.snap is "HUNWSNAP", the
 * eight registers of struct unwind_regs (u64, host order), the stack length
 * (u64) and the stack bytes; PREFIX.maps is the fixture's /proc/self/maps.
 * Shared by test-unwind and bench/unwind-bench.
 */
#ifndef HEARTH_TEST_UNWIND_SNAPSHOT_H
#define HEARTH_TEST_UNWIND_SNAPSHOT_H

#include <stdint.h>

#include "procmaps.h"
#include "unwind.h"

struct fixture_snapshot {
	struct unwind_snapshot snap; /* snap.stack points into stack */
	uint8_t *stack;
	struct procmaps *maps;
	char *maps_text;
	size_t maps_len;
};

/* Run @fixture in @mode ("direct", "qsort") and load its snapshot. Returns 0 or -errno. */
int fixture_snapshot__take(const char *fixture, const char *mode, struct fixture_snapshot *ret);

void fixture_snapshot__release(struct fixture_snapshot *s);

#endif
