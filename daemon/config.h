/* SPDX-License-Identifier: MIT */
/* hearthd's config file: "name = value" lines, '#' comments and blank lines. */
#ifndef HEARTH_CONFIG_H
#define HEARTH_CONFIG_H

#include <stdio.h>

#define CONFIG_MAX_LINE 4096

/*
 * Called for each setting with its name and value, both trimmed, and
 * "PATH:LINE: " for messages. Returns 0 or a negative error, which stops
 * the reading.
 */
typedef int (*config_fn)(void *ctx, const char *name, const char *value, const char *where);

/*
 * Read @path and hand each setting to @fn. Reports what is wrong with the
 * file itself (it cannot be read, a line too long or without '=') in one
 * line. Returns 0, -EINVAL, what @fn returned, or -errno.
 */
int config_read(const char *path, config_fn fn, void *ctx);

/*
 * The same for a file open in @f, named @path in messages; @f is read to
 * its end or to the first error and left open. Exposed for the fuzz harness,
 * which reads its bytes through fmemopen().
 */
int config_parse(FILE *f, const char *path, config_fn fn, void *ctx);

#endif
