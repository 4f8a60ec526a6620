// SPDX-License-Identifier: MIT
/*
 * Writes the ring fuzz corpus with the real writer: RING_SMALL holds a few
 * slots, RING_WRAPPED has gone round the smallest ring several times (pads,
 * a moved tail, definitions written again). Usage: ring-corpus SMALL WRAPPED
 */
#include <stdio.h>
#include <unistd.h>

#include "ring.h"

static int fill(const char *path, unsigned int slots)
{
	struct ring_writer *w = NULL;
	struct profile *p = NULL;
	char name[32];

	unlink(path);
	if (ring_writer__open(path, RING_MIN_DATA_SIZE, 99, &w) < 0 || profile__new(&p) < 0)
		return 1;
	for (unsigned int slot = 1; slot <= slots; slot++) {
		profile__clear_samples(p);
		for (unsigned int i = 0; i < 6; i++) {
			struct profile_mapping m = { .start = 0x1000, .limit = 0x9000, .file = 0 };
			struct profile_frame f = { .kind = i % 3 == 0 ? PROFILE_FRAME_PYTHON : PROFILE_FRAME_NATIVE,
						   .line = i };
			struct profile_sample s = { .pid = 100 + i % 3, .tid = slot };
			uint32_t frames[2];

			m.file = (uint32_t)profile__intern(p, "/usr/lib/libx.so");
			f.mapping = i % 3 == 1 ? (uint32_t)profile__add_mapping(p, &m) : 0;
			snprintf(name, sizeof(name), "f%u_%u", slot % 50, i);
			frames[0] = (uint32_t)profile__add_frame_named(p, &f, name);
			f.kind = PROFILE_FRAME_PROCESS;
			frames[1] = (uint32_t)profile__add_frame_named(p, &f, "root");
			s.stack = (uint32_t)profile__add_stack(p, frames, 2);
			snprintf(name, sizeof(name), "p%u", i % 3);
			s.comm = s.thread_name = (uint32_t)profile__intern(p, name);
			profile__add_sample(p, &s, i + 1, (i + 1) * 10101010ull);
		}
		if (ring_writer__write_slot(w, p, slot * 1000000000ull, 1000000000ull, slot % 7) < 0)
			return 1;
	}
	ring_writer__free(w);
	profile__free(p);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: ring-corpus SMALL WRAPPED\n");
		return 2;
	}
	return fill(argv[1], 5) || fill(argv[2], 6000);
}
