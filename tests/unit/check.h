/* SPDX-License-Identifier: MIT */
/*
 * Minimal assertions for unit tests: each failed check prints where and what,
 * and the test exits non-zero at the end (so one run shows every failure).
 */
#ifndef HEARTH_TEST_CHECK_H
#define HEARTH_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK_TRUE(cond)                                                                    \
	do {                                                                                \
		check_count++;                                                              \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			check_failures++;                                                   \
		}                                                                           \
	} while (0)

#define CHECK_INT(a, b)                                                                      \
	do {                                                                                 \
		long long _a = (long long)(a), _b = (long long)(b);                          \
		check_count++;                                                               \
		if (_a != _b) {                                                              \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, \
				__LINE__, #a, _a, #b, _b);                                   \
			check_failures++;                                                    \
		}                                                                            \
	} while (0)

#define CHECK_STR(a, b)                                                                       \
	do {                                                                                  \
		const char *_a = (a), *_b = (b);                                              \
		check_count++;                                                                \
		if (!_a || !_b || strcmp(_a, _b)) {                                           \
			fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
				#a, _a ? _a : "(null)", _b ? _b : "(null)");                  \
			check_failures++;                                                     \
		}                                                                             \
	} while (0)

/* Call at the end of main(): prints a summary and returns the exit code. */
static inline int check_finish(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
