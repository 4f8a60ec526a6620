// SPDX-License-Identifier: MIT
/*
 * A frame-pointer program whose time goes to a leaf in a library without
 * them (leaf.c), called from two places in known shares:
 *
 *   main -> caller_a -> leaf_spin   two thirds
 *   main -> caller_b -> leaf_spin   one third
 *
 * Usage: leafcall [SECONDS]  (default 3)
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
#define NO_TAIL() __asm__ volatile("" ::: "memory")

uint64_t leaf_spin(uint64_t n, uint64_t seed);

static volatile uint64_t sink;

NOINLINE static void caller_a(void)
{
	sink += leaf_spin(200000, sink);
	NO_TAIL();
}

NOINLINE static void caller_b(void)
{
	sink += leaf_spin(100000, sink);
	NO_TAIL();
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0, end = now() + seconds;

	while (now() < end) {
		caller_a();
		caller_b();
	}
	return 0;
}
