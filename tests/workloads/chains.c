// SPDX-License-Identifier: MIT
/*
 * Known call chains for the unwinding tests, half of the work in each:
 *
 *   main -> deep_phase -> deep x41 -> burn              (a deep chain of own code)
 *   main -> sort_phase -> qsort -> [libc] -> compare -> burn   (through a library)
 *
 * Built twice: with frame pointers and -O2 -fomit-frame-pointer. At the end
 * each phase's share of the thread's CPU time is printed ("deep_phase
 * 0.5512"), the truth a profile must match: the two are only about equal.
 * Usage: chains [SECONDS] [DEEP_ONLY]  (default 3 s; the first DEEP_ONLY seconds,
 * default 0, run the deep chain only, and the sorting starts after them)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
#define NO_TAIL() __asm__ volatile("" ::: "memory")

static volatile uint64_t sink;

NOINLINE static void touch(void)
{
	sink++;
	NO_TAIL();
}

/* Not a leaf: GCC gives a leaf that needs no stack no frame, even with frame pointers. */
NOINLINE static void burn(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		sink += i;
	touch();
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

static double clock_s(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0, start = now(), end = start + seconds;
	double deep_only = argc > 2 ? atof(argv[2]) : 0.0;
	unsigned int seed = 42;

	double deep_cpu = 0, sort_cpu = 0;

	while (now() < end) {
		double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID), t1;

		deep_phase();
		t1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		deep_cpu += t1 - t0;
		if (now() >= start + deep_only) {
			sort_phase(&seed);
			sort_cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - t1;
		}
	}
	printf("deep_phase %.6f\nsort_phase %.6f\n", deep_cpu / (deep_cpu + sort_cpu), sort_cpu / (deep_cpu + sort_cpu));
	return 0;
}
