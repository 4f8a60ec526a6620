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
 * /usr/lib/libx.so and [kernel.kallsyms].
 */
#ifndef HEARTH_TEST_FIXTURE_H
#define HEARTH_TEST_FIXTURE_H

#include "profile.h"

/* Build the fixture; aborts on failure (tests only). */
struct profile *fixture_profile(void);

#endif
