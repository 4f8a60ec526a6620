// SPDX-License-Identifier: MIT
/*
 * A deep native stack for bench/dwarf: recurse DEPTH levels, each frame
 * holding a few hundred bytes of locals, then burn CPU at the bottom, so a
 * copy of the top 8 KiB of the stack cannot reach main while 32 KiB can.
 * Built -O2 -fomit-frame-pointer, like the code DWARF unwinding is for.
 *
 * Usage: deepstack [SECONDS] [DEPTH]   (default 10 s, 64 levels)
 * Prints "stack BYTES" on stderr: the distance from main's frame to the
 * bottom one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
#define FRAME_BYTES 320 /* locals per level */

static uintptr_t main_sp, bottom_sp;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* About a millisecond of work; the result is used so the loop stays. */
static NOINLINE uint64_t burn(uint64_t seed)
{
	volatile uint64_t x = seed;

	for (int i = 0; i < 400000; i++)
		x = x * 6364136223846793005u + 1442695040888963407u;
	return x;
}

/*
 * One level: the volatile array keeps its stack space, and the result of the
 * call feeds the return value, so the recursion is neither a loop nor a tail
 * call.
 */
static NOINLINE uint64_t descend(int level, uint64_t seed)
{
	volatile uint8_t pad[FRAME_BYTES];
	uint64_t r;

	for (int i = 0; i < FRAME_BYTES; i += 64)
		pad[i] = (uint8_t)(seed + i);
	if (level <= 1) {
		bottom_sp = (uintptr_t)pad;
		r = burn(seed);
	} else {
		r = descend(level - 1, seed * 31 + level);
	}
	return r + pad[level % FRAME_BYTES & ~63];
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? strtod(argv[1], NULL) : 10;
	long depth = argc > 2 ? strtol(argv[2], NULL, 10) : 64;
	volatile uint64_t sink = 0;
	volatile int here;
	double end;

	if (seconds <= 0 || depth < 1 || depth > 10000) {
		fprintf(stderr, "usage: deepstack [SECONDS] [DEPTH]\n");
		return 2;
	}
	main_sp = (uintptr_t)&here;
	end = now() + seconds;
	while (now() < end)
		sink += descend((int)depth, sink);
	fprintf(stderr, "stack %lu\n", (unsigned long)(main_sp - bottom_sp));
	return 0;
}
