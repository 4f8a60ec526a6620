// SPDX-License-Identifier: MIT
/*
 * Known call chains for the unwinding tests, half of the work in each:
 *
 *   main -> deep_phase -> deep x41 -> burn              (a deep chain of own code)
 *   main -> sort_phase -> qsort -> [libc] -> compare -> burn   (through a library)
 *
 * Built twice: with frame pointers and -O2 -fomit-frame-pointer.
 * Usage: chains [SECONDS]  (default 3)
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
#define NO_TAIL() __asm__ volatile("" ::: "memory")

static volatile uint64_t sink;

NOINLINE static void burn(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		sink += i;
	NO_TAIL();
}

NOINLINE static int deep(int level, uint64_t n)
{
	volatile char pad[48];
	int r;

	pad[0] = (char)level;
	if (level == 0) {
		burn(n);
		return pad[0];
	}
	r = deep(level - 1, n);
	NO_TAIL();
	return r + pad[0];
}

NOINLINE static int compare(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	burn(2000);
	NO_TAIL();
	return (x > y) - (x < y);
}

NOINLINE static void sort_phase(unsigned int *seed)
{
	int v[256];

	for (int i = 0; i < 256; i++)
		v[i] = rand_r(seed);
	qsort(v, 256, sizeof(v[0]), compare);
	NO_TAIL();
}

NOINLINE static void deep_phase(void)
{
	/* As much work as one sort_phase: about 256 * log2(256) comparisons of 2000 steps. */
	sink += (uint64_t)deep(40, 256 * 8 * 2000);
	NO_TAIL();
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0, end = now() + seconds;
	unsigned int seed = 42;

	while (now() < end) {
		deep_phase();
		sort_phase(&seed);
	}
	return 0;
}
