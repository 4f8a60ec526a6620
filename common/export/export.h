/* SPDX-License-Identifier: MIT */
/*
 * Output formats, each a small file behind this one interface (as dav1d's
 * muxers): the table below maps names and file extensions to writers.
 */
#ifndef HEARTH_EXPORT_H
#define HEARTH_EXPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "profile.h"

struct export_options {
	bool per_thread; /* speedscope: one profile per thread instead of per process */
	const char *program_version; /* written where a format names its producer */
	/*
	 * A differential export: the profile written is compared with this one
	 * (both normalised by their totals). Only exporters with .diff take it;
	 * the others fail with -EOPNOTSUPP. NULL for a plain export.
	 */
	const struct profile *base;
};

struct exporter {
	const char *name;        /* as given to -f */
	const char *description; /* one line for --help */
	const char *const *extensions; /* NULL-terminated, with the dot: ".svg" */
	bool diff; /* writes a differential profile when export_options.base is set */
	/* Write the whole profile to @out. Returns 0 or -errno; never prints. */
	int (*write)(const struct profile *p, const struct export_options *o, FILE *out);
};

extern const struct exporter exporter_folded;
extern const struct exporter exporter_svg;
extern const struct exporter exporter_pprof;
extern const struct exporter exporter_speedscope;

/* The exporter called @name, or NULL. */
const struct exporter *exporter_find(const char *name);

/* The exporter whose extension ends @path (".pb.gz" before ".gz"), or NULL. */
const struct exporter *exporter_for_path(const char *path);

/* All exporters, NULL-terminated, for help texts. */
extern const struct exporter *const exporters[];

#endif
