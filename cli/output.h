/* SPDX-License-Identifier: MIT */
/*
 * The files a command writes a profile to: each -o with the format its
 * extension (or -f) names, written through a temporary file beside it that
 * is renamed into place, so a reader never sees half a profile and an
 * unwritable path fails before any work is done.
 */
#ifndef HEARTH_OUTPUT_H
#define HEARTH_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

#include "export.h"
#include "profile.h"

#define OUTPUT_MAX 8

struct output {
	const char *path; /* "-" for stdout */
	const struct exporter *format;
	char *tmp; /* the temporary file beside it, renamed over it at the end */
	FILE *file;
};

/* -o PATH: one more output. Prints the one-line error and returns -EINVAL when it cannot be. */
int outputs_add(struct output *o, size_t *n, const char *path);

/* -f NAME: the format it names, or NULL after printing the one-line error. */
const struct exporter *output_format_arg(const char *name);

/*
 * Give each of @n outputs its format: @format (-f, may be NULL) or the one
 * its extension names; stdout defaults to folded. Prints the one-line error
 * and returns -EINVAL for an unknown extension, -f with several outputs, or
 * stdout given twice.
 */
int outputs_resolve(struct output *o, size_t n, const struct exporter *format);

/* Create the output's temporary file beside it. Returns 0 or -errno. */
int output_open(struct output *o);

/* Write the profile and move the file into place. Returns 0 or -errno. */
int output_write(struct output *o, const struct profile *p, const struct export_options *eo);

/* Undo what output_open() did for a profile that is not written. */
void output_discard(struct output *o);

#endif
