/* SPDX-License-Identifier: MIT */
/*
 * A small profile with known content, shared by the exporter tests:
 *
 *   pid 100 "burn", tid 100 "burn":  main;work;spin                                   50
 *                                    main;work;spin;asm_sysvec_apic_timer_interrupt   10 (kernel leaf)
 *                                    main;idle                                        20
 *   pid 100, tid 101 "worker":       start_thread;worker_loop                         10
 *   pid 200 "other", tid 200:        main;libx.so+0x1234 (unknown frame)               5
 *
 * 95 samples in all, rate 99 Hz, 2 s; mappings /usr/bin/burn (with a build-id),
 * /usr/lib/libx.so and [kernel.kallsyms]. Each sample weighs FIXTURE_SAMPLE_NS,
 * not the 99 Hz period: exporters must write the weights, not count * period.
 */
#ifndef HEARTH_TEST_FIXTURE_H
#define HEARTH_TEST_FIXTURE_H

#include <stddef.h>

#include "export.h"
#include "profile.h"

#define FIXTURE_SAMPLE_NS 12500000ull

/* Build the fixture; aborts on failure (tests only). */
struct profile *fixture_profile(void);

/*
 * Write @p with exporter @e (differential against @base, which may be NULL)
 * into a malloc'ed string; *@ret_r gets what write() returned, *@ret_len
 * (may be NULL) the length. Aborts on failure to allocate.
 */
char *fixture_render(const struct exporter *e, const struct profile *p, const struct profile *base, int *ret_r,
		     size_t *ret_len);

#endif
