// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: a ring file as hearthd leaves it in /dev/shm, which
 * anyone able to write there (or a crash mid-write) may have damaged. The
 * input is the whole file; it is written to a private temporary file and
 * read with and without filters.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ring.h"

static char path[64];

static void cleanup(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ring_query queries[] = {
		{ 0 },
		{ .since_ns = 3, .until_ns = 1000000000000000000ull, .pid = 101 },
		{ .comm = "p1" },
	};
	struct ring_reader *r = NULL;
	int fd;

	if (!*path) {
		snprintf(path, sizeof(path), "/tmp/fuzz-ring-%d", (int)getpid());
		atexit(cleanup);
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	for (size_t done = 0; done < size;) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	close(fd);
	if (ring_reader__open(path, &r) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct profile *p = NULL;
		struct ring_read_stats st;

		if (profile__new(&p) < 0)
			abort();
		ring_reader__read(r, &queries[i], p, &st);
		/* Whatever came out must be a profile the exporters can walk. */
		for (size_t k = 0; k < profile__nr_samples(p); k++) {
			size_t n;
			const uint32_t *frames = profile__stack(p, profile__sample(p, k)->stack, &n);

			for (size_t j = 0; j < n; j++)
				if (!profile__frame(p, frames[j]))
					abort();
		}
		profile__free(p);
	}
	ring_reader__free(r);
	return 0;
}
