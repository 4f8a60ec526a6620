// SPDX-License-Identifier: MIT
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"

/* @s without the blanks at its end, in place. */
static void trim_end(char *s, char *end)
{
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
}

/*
 * The next line of @f into @buf, NUL-terminated, its newline kept. Returns
 * its length, 0 at the end of the file, -E2BIG when it fills @size bytes
 * without its newline (the last line too), -EILSEQ when it holds a NUL byte,
 * which would hide the rest of the line from the string functions.
 */
static int read_line(FILE *f, char *buf, size_t size)
{
	bool nul = false;
	size_t n = 0;
	int c = 0;

	while (n + 1 < size && c != '\n' && (c = getc(f)) != EOF) {
		buf[n++] = (char)c;
		nul |= c == '\0';
	}
	buf[n] = '\0';
	if (n + 1 == size && c != '\n')
		return -E2BIG;
	return nul ? -EILSEQ : (int)n;
}

int config_parse(FILE *f, const char *path, config_fn fn, void *ctx)
{
	char line[CONFIG_MAX_LINE], where[CONFIG_MAX_LINE + 32];
	unsigned int n = 0;
	int r;

	while ((r = read_line(f, line, sizeof(line))) != 0) {
		char *name = line, *value, *eq;

		n++;
		if (r == -E2BIG) {
			log_error("%s:%u: line too long", path, n);
			return -EINVAL;
		}
		if (r == -EILSEQ) {
			log_error("%s:%u: a NUL byte in the line", path, n);
			return -EINVAL;
		}
		name += strspn(name, " \t");
		if (*name == '#' || *name == '\n' || !*name)
			continue;
		eq = strchr(name, '=');
		if (!eq) {
			log_error("%s:%u: expected 'name = value'", path, n);
			return -EINVAL;
		}
		trim_end(name, eq);
		value = eq + 1 + strspn(eq + 1, " \t");
		value[strcspn(value, "\r\n")] = '\0';
		trim_end(value, value + strlen(value));
		snprintf(where, sizeof(where), "%s:%u: ", path, n);
		r = fn(ctx, name, value, where);
		if (r < 0)
			return r;
	}
	return 0;
}

int config_read(const char *path, config_fn fn, void *ctx)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	int r;

	if (!f) {
		/* The message could change errno before it is returned. */
		r = -errno;
		log_error("cannot read config %s: %m", path);
		return r;
	}
	return config_parse(f, path, fn, ctx);
}
