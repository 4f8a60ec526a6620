// SPDX-License-Identifier: MIT
/*
 * A program built without frame pointers whose deepest function records its
 * own registers and a copy of its stack, the way a sample would: the input
 * test-unwind unwinds offline. Usage: unwind-fixture direct|qsort PREFIX
 * writes PREFIX.snap (see unwind-snapshot.h for the format) and PREFIX.maps.
 *
 *   direct: main -> level_a -> level_b -> level_c -> capture
 *   qsort:  main -> level_a -> level_b -> call_qsort -> qsort (libc) -> compare -> capture
 *   signal: main -> level_a -> level_b -> level_c -> raise (libc) -> [signal frame]
 *           -> on_signal -> capture
 *
 * noipa keeps every function out of line, unrenamed (no .constprop clones)
 * and at its own address; "+ 1" after each call keeps the calls from being
 * turned into jumps.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture-regs.h"

#define FIXTURE_STACK_MAX (64 * 1024)
#define FIXTURE_MAPS_MAX (1024 * 1024)

struct fixture_regs {
	uint64_t ip, sp, bp, bx, r12, r13, r14, r15;
};

static struct fixture_regs regs;
static uint8_t stack_copy[FIXTURE_STACK_MAX];
static char maps[FIXTURE_MAPS_MAX];
static const char *prefix;
static int use_qsort;
static int use_signal;
static int captured;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static void write_file(const char *suffix, const void *a, size_t alen, const void *b, size_t blen)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", prefix, suffix);
	f = fopen(path, "we");
	if (!f)
		die(path);
	if (fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) || fclose(f))
		die(path);
}

/* Copy the stack from the recorded SP to the end of its mapping (at most FIXTURE_STACK_MAX). */
__attribute__((noipa)) static void write_snapshot(void)
{
	unsigned long long start, end;
	size_t len = 0, stack_len = 0;
	char header[8 + sizeof(regs) + 8];
	uint64_t n;
	ssize_t r;
	int fd;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("/proc/self/maps");
	while ((r = read(fd, maps + len, sizeof(maps) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	maps[len] = '\0';
	for (char *line = maps; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : line + strlen(line)) {
		if (sscanf(line, "%llx-%llx", &start, &end) == 2 && regs.sp >= start && regs.sp < end) {
			stack_len = end - regs.sp;
			break;
		}
	}
	if (!stack_len)
		die("no mapping holds sp");
	if (stack_len > sizeof(stack_copy))
		stack_len = sizeof(stack_copy);
	memcpy(stack_copy, (const void *)(uintptr_t)regs.sp, stack_len);

	memcpy(header, "HUNWSNAP", 8);
	memcpy(header + 8, &regs, sizeof(regs));
	n = stack_len;
	memcpy(header + 8 + sizeof(regs), &n, sizeof(n));
	write_file(".snap", header, sizeof(header), stack_copy, stack_len);
	write_file(".maps", maps, len, NULL, 0);
}

__attribute__((noipa)) int capture(int x)
{
	/* One asm block: rip and the other registers are those of the same instruction. */
	CAPTURE_REGS(&regs);
	write_snapshot();
	return x + 1;
}

__attribute__((noipa)) int compare(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	if (!captured) {
		captured = 1;
		capture(x);
	}
	return (x > y) - (x < y);
}

__attribute__((noipa)) int call_qsort(int x)
{
	int v[16];

	for (int i = 0; i < 16; i++)
		v[i] = (i * 7 + x) % 16;
	qsort(v, 16, sizeof(v[0]), compare);
	return v[0] + 1;
}

static volatile int sink;

__attribute__((noipa)) void on_signal(int sig)
{
	sink = capture(sig) + 1;
}

__attribute__((noipa)) int level_c(int x)
{
	if (use_signal)
		return raise(SIGUSR1) + 1;
	return capture(x * 3) + 1;
}

__attribute__((noipa)) int level_b(int x)
{
	return (use_qsort ? call_qsort(x) : level_c(x + 2)) + 1;
}

__attribute__((noipa)) int level_a(int x)
{
	return level_b(x * 2) + 1;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "direct") && strcmp(argv[1], "qsort") && strcmp(argv[1], "signal"))) {
		fprintf(stderr, "usage: unwind-fixture direct|qsort|signal PREFIX\n");
		return 2;
	}
	use_qsort = !strcmp(argv[1], "qsort");
	use_signal = !strcmp(argv[1], "signal");
	if (use_signal && signal(SIGUSR1, on_signal) == SIG_ERR)
		die("signal");
	prefix = argv[2];
	return level_a(argc) == -1 ? 1 : 0;
}
