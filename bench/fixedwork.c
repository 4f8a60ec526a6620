// SPDX-License-Identifier: MIT
/*
 * A fixed amount of CPU work for the overhead benchmark: the time it takes is
 * the figure, printed as "elapsed SECONDS" on stderr. Usage: fixedwork [MILLIONS]
 * (default 1600 million steps, about 2 s here), or fixedwork --forever.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile uint64_t sink;

__attribute__((noinline)) static uint64_t step_inner(uint64_t x)
{
	for (int i = 0; i < 1000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		__asm__ volatile("" : "+r"(x));
	}
	sink = x;
	return x;
}

__attribute__((noinline)) static uint64_t step_outer(uint64_t x)
{
	x = step_inner(x);
	__asm__ volatile("" ::: "memory");
	return x;
}

int main(int argc, char **argv)
{
	struct timespec a, b;
	uint64_t millions = 1600, x = 1;
	int forever = argc > 1 && !strcmp(argv[1], "--forever");

	if (argc > 1 && !forever)
		millions = strtoull(argv[1], NULL, 10);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (uint64_t i = 0; forever || i < millions * 1000; i++)
		x = step_outer(x);
	clock_gettime(CLOCK_MONOTONIC, &b);
	fprintf(stderr, "elapsed %.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
