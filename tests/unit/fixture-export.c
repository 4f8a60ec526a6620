// SPDX-License-Identifier: MIT
/*
 * Writes the fixture profile (fixture.h) in one format, so the checks that use
 * the real tools (go tool pprof, the speedscope schema, a browser) have a
 * known file to look at: fixture-export FORMAT OUTPUT [--threads]
 */
#include <stdio.h>
#include <string.h>

#include "export.h"
#include "fixture.h"

int main(int argc, char **argv)
{
	struct export_options o = { .program_version = "test" };
	const struct exporter *e;
	struct profile *p;
	FILE *f;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: fixture-export FORMAT OUTPUT [--threads]\n");
		return 2;
	}
	e = exporter_find(argv[1]);
	if (!e) {
		fprintf(stderr, "fixture-export: unknown format %s\n", argv[1]);
		return 2;
	}
	o.per_thread = argc > 3 && !strcmp(argv[3], "--threads");
	f = strcmp(argv[2], "-") ? fopen(argv[2], "w") : stdout;
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	p = fixture_profile();
	r = e->write(p, &o, f);
	profile__free(p);
	if (fclose(f) != 0 || r < 0) {
		fprintf(stderr, "fixture-export: writing %s failed: %s\n", argv[2], strerror(r < 0 ? -r : 5));
		return 1;
	}
	return 0;
}
