// SPDX-License-Identifier: MIT
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

int outputs_add(struct output *outs, size_t *n, const char *path)
{
	if (!*path) {
		log_error("empty output path");
		return -EINVAL;
	}
	if (*n == OUTPUT_MAX) {
		log_error("too many outputs: at most %d -o", OUTPUT_MAX);
		return -EINVAL;
	}
	outs[(*n)++].path = path;
	return 0;
}

const struct exporter *output_format_arg(const char *name)
{
	const struct exporter *e = exporter_find(name);

	if (!e)
		log_error("unknown format '%s': choose svg, folded, pprof or speedscope", name);
	return e;
}

int outputs_resolve(struct output *outs, size_t n, const struct exporter *format)
{
	if (format && n > 1) {
		log_error("-f applies to a single output; with several -o the extensions choose the formats");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		struct output *o = &outs[i];

		if (!strcmp(o->path, "-")) {
			for (size_t j = 0; j < i; j++)
				if (!strcmp(outs[j].path, "-")) {
					log_error("standard output given twice");
					return -EINVAL;
				}
			o->format = format ? format : &exporter_folded;
			continue;
		}
		o->format = format ? format : exporter_for_path(o->path);
		if (!o->format) {
			log_error("cannot tell the format of '%s' from its extension: add -f svg|folded|pprof|speedscope",
				  o->path);
			return -EINVAL;
		}
	}
	return 0;
}

int output_open(struct output *o)
{
	_cleanup_free_ char *tmp = NULL;
	mode_t mask;
	int fd;

	if (!strcmp(o->path, "-")) {
		o->file = stdout;
		return 0;
	}
	if (asprintf(&tmp, "%s.hearth-XXXXXX", o->path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0644 & ~mask) < 0 || !(o->file = fdopen(fd, "w"))) {
		int r = -errno;

		close(fd);
		unlink(tmp);
		return r;
	}
	o->tmp = TAKE_PTR(tmp);
	return 0;
}

int output_write(struct output *o, const struct profile *p, const struct export_options *eo)
{
	int r = o->format->write(p, eo, o->file);

	if (r == 0 && fflush(o->file) != 0)
		r = -errno;
	if (o->file != stdout && fclose(o->file) != 0 && r == 0)
		r = -errno;
	o->file = NULL;
	if (r == 0 && o->tmp && rename(o->tmp, o->path) < 0)
		r = -errno;
	if (r == 0)
		o->tmp = mfree(o->tmp);
	return r;
}

void output_discard(struct output *o)
{
	if (o->file && o->file != stdout)
		fclose(o->file);
	o->file = NULL;
	if (o->tmp)
		unlink(o->tmp);
	o->tmp = mfree(o->tmp);
}

