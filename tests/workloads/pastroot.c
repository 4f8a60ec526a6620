// SPDX-License-Identifier: MIT
/*
 * A frame-pointer program whose frame chain goes on past a thread's start,
 * as a C library's start-up code built without frame pointers leaves it
 * when it keeps in rbp a pointer to data that reads as a frame: main calls
 * start_thread (named as glibc's, in a library without frame pointers),
 * which points rbp at a made-up frame whose return address is in decoy()
 * before it calls spin(). A frame-pointer walk from spin goes
 * spin -> start_thread -> decoy, and decoy is no caller of anything; DWARF
 * unwinds start_thread by its CFI, to main.
 *
 * Built twice by the test that uses it: with -DPASTROOT_LIB, without frame
 * pointers, as libpastroot.so (start_thread and a helper, so the library
 * has functions enough to tell that it keeps no frame pointers); and as
 * the program, with them, linked with it.
 * Usage: pastroot [SECONDS]  (CPU time, default 2)
 */
#include <stdint.h>

#ifdef PASTROOT_LIB

/* start_thread(fn, frame): call fn() with rbp pointing at frame, as no compiler would. */
__asm__(".text\n"
	".globl start_thread\n"
	".type start_thread, @function\n"
	"start_thread:\n"
	".cfi_startproc\n"
	"	push %rbp\n"
	".cfi_def_cfa_offset 16\n"
	".cfi_offset %rbp, -16\n"
	"	mov %rsi, %rbp\n"
	"	call *%rdi\n"
	"	pop %rbp\n"
	".cfi_def_cfa_offset 8\n"
	"	ret\n"
	".cfi_endproc\n"
	".size start_thread, .-start_thread\n");

/* A function long enough to be looked at, built as the rest of the library. */
uint64_t pastroot_mix(const uint64_t *v, unsigned int n)
{
	uint64_t x = 0;

	for (unsigned int i = 0; i < n; i++)
		x = (x ^ v[i]) * 0x100000001b3ull;
	return x;
}

#else

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))
#define NO_TAIL() __asm__ volatile("" ::: "memory")

void start_thread(void (*fn)(void), const uint64_t *frame);

static volatile uint64_t sink;
static double seconds = 2.0;

NOINLINE void decoy(void)
{
	sink++;
	NO_TAIL();
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

NOINLINE static void spin(void)
{
	double end = cpu_now() + seconds;

	while (cpu_now() < end)
		for (int i = 0; i < 100000; i++)
			sink += i;
	NO_TAIL();
}

int main(int argc, char **argv)
{
	/* The made-up frame: no frame after it, and a return address a few bytes into decoy(). */
	static uint64_t frame[2];

	if (argc > 1)
		seconds = atof(argv[1]);
	frame[0] = 0;
	frame[1] = (uint64_t)(uintptr_t)decoy + 4;
	start_thread(spin, frame);
	printf("done\n");
	return 0;
}

#endif
