// SPDX-License-Identifier: MIT
/*
 * Periodic work, for the aliasing test: a fixed 10 ms cycle of wall-clock
 * time, 4 ms in phase_a, 3 in phase_b, 2 in phase_c and 1 in phase_d, over
 * and over, until the thread has had SECONDS of CPU time. A sampler whose
 * period divides the cycle (or nearly does) sees the same phases every time.
 * The cycle keeps to the wall clock even when the machine is busy; what
 * each phase really got is measured with the thread's CPU clock and printed
 * at the end, one line "phase_a 0.401234" per phase: the truth a profile
 * must match.
 *
 * Usage: periodic SECONDS
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* noipa: four identical bodies would otherwise be folded into one function. */
#define NOINLINE __attribute__((noinline, noipa))
#define NO_TAIL() __asm__ volatile("" ::: "memory")
#define CYCLE_NS 10000000ll

static volatile uint64_t sink;

static int64_t now_ns(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}

/* Burn until the monotonic clock reads @until, in steps of some 20 us. */
static void burn_until(int64_t until)
{
	while (now_ns(CLOCK_MONOTONIC) < until)
		for (int i = 0; i < 20000; i++)
			sink += i;
}

NOINLINE static void phase_a(int64_t until)
{
	burn_until(until);
	NO_TAIL();
}

NOINLINE static void phase_b(int64_t until)
{
	burn_until(until);
	NO_TAIL();
}

NOINLINE static void phase_c(int64_t until)
{
	burn_until(until);
	NO_TAIL();
}

NOINLINE static void phase_d(int64_t until)
{
	burn_until(until);
	NO_TAIL();
}

int main(int argc, char **argv)
{
	static void (*const phases[])(int64_t) = { phase_a, phase_b, phase_c, phase_d };
	static const char *const names[] = { "phase_a", "phase_b", "phase_c", "phase_d" };
	static const int64_t ends[] = { CYCLE_NS * 4 / 10, CYCLE_NS * 7 / 10, CYCLE_NS * 9 / 10, CYCLE_NS };
	double seconds = argc > 1 ? atof(argv[1]) : 10.0;
	int64_t cpu[4] = { 0 }, total = 0, t = now_ns(CLOCK_MONOTONIC);

	/* Each cycle's phases end at fixed offsets from its start: overshoot does not add up. */
	while (total < (int64_t)(seconds * 1e9)) {
		for (int i = 0; i < 4; i++) {
			int64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), c1;

			phases[i](t + ends[i]);
			c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
			cpu[i] += c1 - c0;
			total += c1 - c0;
		}
		t += CYCLE_NS;
		/* Fell behind by more than a cycle (preempted): start the next one now, in step again. */
		if (now_ns(CLOCK_MONOTONIC) > t + CYCLE_NS)
			t = now_ns(CLOCK_MONOTONIC);
	}
	for (int i = 0; i < 4; i++)
		printf("%s %.6f\n", names[i], (double)cpu[i] / total);
	return 0;
}
