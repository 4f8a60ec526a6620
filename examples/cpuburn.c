// SPDX-License-Identifier: MIT
/*
 * A CPU-bound workload with known behaviour, for the demo and the tests:
 * it spends 50% of its CPU time in burn_a, 30% in burn_b and 20% in burn_c,
 * under these call chains:
 *
 *   main -> run -> path_a -> burn_a
 *   main -> run -> path_b -> middle_b -> burn_b
 *   main -> run -> burn_c
 *
 * Usage: cpuburn [SECONDS] [--threads N] [--shift AFTER]   (default 5 s; N more
 * threads run the same loop under worker_main -> run; AFTER seconds into the
 * run, burn_a and burn_c swap shares, to 20% and 50%, for tests of
 * differential profiles). Work is counted in calibrated loop iterations, not
 * clock reads, so shares hold on a busy machine too.
 *
 * With CPUBURN_CPU_REPORT set in its environment it says on stderr, as it ends,
 * the CPU time it spent from calibrating to the end of run, so that a test can
 * tell that from what starting and ending the process cost.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
/* Keeps a call from becoming a tail jump that would drop the caller from the stack. */
#define NO_TAIL() __asm__ volatile("" ::: "memory")

static uint64_t iters_per_ms;
/*
 * Each step runs one of the three paths, chosen at random with weights 5:3:2,
 * for a short random time (0.05 to 0.35 ms): a fixed round close to the
 * sampling period would alias with it and skew the shares a sampler sees.
 */
static __thread uint64_t unit_iters;
static __thread uint64_t rng = 88172645463325252ull;
static double run_seconds = 5.0;
static double shift_seconds; /* 0: no shift */
static double start_wall;
static volatile uint64_t sink;

static NOINLINE void checkpoint(uint64_t x)
{
	sink = x;
}

/*
 * The hot loop, inlined into each burn function so that function is where the
 * time is spent (its self time). It calls out now and then so its host is not
 * a leaf function: GCC sets up no frame pointer in a leaf, and a frame-pointer
 * walk from inside one loses the leaf's caller (the DWARF unwinder will not
 * need this).
 */
static inline __attribute__((always_inline)) void spin(uint64_t n)
{
	uint64_t x = sink;

	for (uint64_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		__asm__ volatile("" : "+r"(x));
		if ((i & 0xfffff) == 0xfffff)
			checkpoint(x);
	}
	sink = x;
}

NOINLINE void burn_a(uint64_t units)
{
	spin(units * unit_iters);
	NO_TAIL();
}

NOINLINE void burn_b(uint64_t units)
{
	spin(units * unit_iters);
	NO_TAIL();
}

NOINLINE void burn_c(uint64_t units)
{
	spin(units * unit_iters);
	NO_TAIL();
}

NOINLINE void path_a(void)
{
	burn_a(1);
	NO_TAIL();
}

NOINLINE void middle_b(void)
{
	burn_b(1);
	NO_TAIL();
}

NOINLINE void path_b(void)
{
	middle_b();
	NO_TAIL();
}

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

NOINLINE void run(void)
{
	double end = now_wall() + run_seconds, now;

	while ((now = now_wall()) < end) {
		bool shifted = shift_seconds > 0 && now >= start_wall + shift_seconds;

		for (int i = 0; i < 64; i++) {
			uint64_t r = next_random();
			unsigned int k = (r >> 32) % 10;

			unit_iters = iters_per_ms * (50 + r % 301) / 1000;
			/* 5:3:2 for a:b:c; after the shift a and c trade places, 2:3:5. */
			if (k >= 5 && k < 8)
				path_b();
			else if ((k < 5) != shifted)
				path_a();
			else
				burn_c(1);
		}
	}
	NO_TAIL();
}

static NOINLINE void calibrate_step(uint64_t n)
{
	spin(n);
	NO_TAIL();
}

static NOINLINE void calibrate(void)
{
	uint64_t n = 100000;
	double t;

	for (;;) {
		t = now_cpu();
		calibrate_step(n);
		t = now_cpu() - t;
		if (t > 0.02)
			break;
		n *= 2;
	}
	iters_per_ms = (uint64_t)(n / (t * 1000.0));
	if (!iters_per_ms)
		iters_per_ms = 1;
}

static void *worker_main(void *arg)
{
	rng += (uintptr_t)arg * 0x9e3779b97f4a7c15ull;
	run();
	NO_TAIL();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[64];
	long nr_threads = 0;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			nr_threads = strtol(argv[++i], &end, 10);
			if (*end || nr_threads < 0 || nr_threads > 64) {
				fprintf(stderr, "cpuburn: --threads takes 0 to 64\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--shift") && i + 1 < argc) {
			shift_seconds = strtod(argv[++i], &end);
			if (*end || shift_seconds <= 0) {
				fprintf(stderr, "cpuburn: --shift takes a positive number of seconds\n");
				return 2;
			}
		} else {
			run_seconds = strtod(argv[i], &end);
			if (*end || run_seconds <= 0) {
				fprintf(stderr, "usage: cpuburn [SECONDS] [--threads N] [--shift AFTER]\n");
				return 2;
			}
		}
	}
	struct timespec cpu0, cpu1;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
	calibrate();
	start_wall = now_wall();
	for (long i = 0; i < nr_threads; i++)
		if (pthread_create(&threads[i], NULL, worker_main, (void *)(i + 1)) != 0) {
			fprintf(stderr, "cpuburn: cannot start a thread\n");
			return 1;
		}
	run();
	for (long i = 0; i < nr_threads; i++)
		pthread_join(threads[i], NULL);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
	if (getenv("CPUBURN_CPU_REPORT"))
		fprintf(stderr, "cpuburn: %.6f s of CPU in calibrate and run\n",
			(double)(cpu1.tv_sec - cpu0.tv_sec) + (cpu1.tv_nsec - cpu0.tv_nsec) / 1e9);
	return 0;
}
