// SPDX-License-Identifier: MIT
/*
 * Cost of one DWARF unwind with warm caches: the snapshots test-unwind uses
 * (8 frames direct, 14 through libc's qsort), each unwound N times.
 * Usage: unwind-bench UNWIND-FIXTURE [N]   (N defaults to 100000)
 * Prints figures; never fails on a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "unwind-snapshot.h"
#include "unwind.h"

static int bench(struct unwinder *u, const char *fixture, const char *mode, unsigned long n)
{
	struct fixture_snapshot s;
	uint64_t ips[128], t0, t1;
	enum unwind_stop stop;
	size_t frames = 0;
	int r;

	r = fixture_snapshot__take(fixture, mode, &s);
	if (r < 0) {
		fprintf(stderr, "unwind-bench: cannot run %s %s: %s\n", fixture, mode, strerror(-r));
		return r;
	}
	unwinder__forget_process(u, 0);
	/* Warm-up: files mapped, CFI cached. */
	for (int i = 0; i < 100; i++)
		unwinder__unwind(u, 0, s.maps, &s.snap, ips, 128, &frames, &stop);
	t0 = time_now_ns();
	for (unsigned long i = 0; i < n; i++)
		unwinder__unwind(u, 0, s.maps, &s.snap, ips, 128, &frames, &stop);
	t1 = time_now_ns();
	printf("%-7s %2zu frames, stop %-9s %8.3f us/unwind %7.3f us/frame (%lu unwinds)\n", mode, frames,
	       unwind_stop_name(stop), (double)(t1 - t0) / 1e3 / (double)n,
	       (double)(t1 - t0) / 1e3 / (double)n / (double)(frames ? frames : 1), n);
	fixture_snapshot__release(&s);
	return 0;
}

int main(int argc, char **argv)
{
	struct unwinder *u = NULL;
	unsigned long n = 100000;
	int r;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: unwind-bench UNWIND-FIXTURE [N]\n");
		return 2;
	}
	if (argc == 3)
		n = strtoul(argv[2], NULL, 10);
	if (!n)
		n = 1;
	r = unwinder__new(0, &u);
	if (r < 0) {
		fprintf(stderr, "unwind-bench: %s\n", strerror(-r));
		return 1;
	}
	r = bench(u, argv[1], "direct", n);
	if (r == 0)
		r = bench(u, argv[1], "qsort", n);
	unwinder__free(u);
	return r < 0 ? 1 : 0;
}
