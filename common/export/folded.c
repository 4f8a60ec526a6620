// SPDX-License-Identifier: MIT
/*
 * Folded stacks, as flamegraph.pl and inferno read them: one line per distinct
 * stack, "root;...;leaf count". Lines with the same text are merged, and the
 * output is sorted so the same profile always gives the same bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "export.h"
#include "intern.h"

struct folded_line {
	uint32_t text; /* id in the line table */
	uint64_t count;
};

/*
 * Append @label; with @escape, the characters flamegraph.pl would misread
 * (';' separates frames, a newline ends the line) are replaced.
 */
static int folded_append(char **buf, size_t *len, size_t *cap, const char *label, bool escape)
{
	size_t n = strlen(label);

	if (*len + n + 2 > *cap) {
		size_t c = (*cap ? *cap : 256);
		char *b;

		while (c < *len + n + 2)
			c *= 2;
		b = realloc(*buf, c);
		if (!b)
			return -ENOMEM;
		*buf = b;
		*cap = c;
	}
	for (size_t i = 0; i < n; i++) {
		char c = label[i];

		if (escape)
			c = (c == ';') ? ':' : (c == '\n' || c == '\r') ? ' ' : c;
		(*buf)[(*len)++] = c;
	}
	(*buf)[*len] = '\0';
	return 0;
}

static int folded_line_cmp(const void *a, const void *b, void *ctx)
{
	const struct folded_line *x = a, *y = b;
	const struct intern *table = ctx;

	return strcmp(intern__get(table, x->text, NULL), intern__get(table, y->text, NULL));
}

static int folded_write(const struct profile *p, const struct export_options *o, FILE *out)
{
	_cleanup_free_ struct folded_line *lines = NULL;
	_cleanup_free_ char *buf = NULL;
	struct intern *table = NULL;
	size_t nr_lines = 0, cap = 0, n = profile__nr_samples(p);
	char label[1024];
	int r = 0;

	(void)o;
	r = intern__new(0, &table);
	if (r < 0)
		return r;
	lines = calloc(n ? n : 1, sizeof(*lines));
	if (!lines) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct profile_sample *s = profile__sample(p, i);
		const uint32_t *stack;
		size_t depth, len = 0;
		int64_t id;
		int added;

		stack = profile__stack(p, s->stack, &depth);
		if (buf)
			buf[0] = '\0';
		for (size_t d = depth; d-- > 0;) {
			const struct profile_frame *f = profile__frame(p, stack[d]);

			if (len && (r = folded_append(&buf, &len, &cap, ";", false)) < 0)
				goto out;
			r = folded_append(&buf, &len, &cap,
					  profile__frame_label(p, f, label, sizeof(label)), true);
			if (r < 0)
				goto out;
		}
		if (!len && (r = folded_append(&buf, &len, &cap, "[empty]", false)) < 0)
			goto out;
		id = intern__add(table, buf, len, &added);
		if (id < 0) {
			r = (int)id;
			goto out;
		}
		if (added)
			lines[nr_lines++] = (struct folded_line){ .text = (uint32_t)id };
		/* Ids are dense and lines are added in id order, so the id is the index. */
		lines[id].count += s->count;
	}
	qsort_r(lines, nr_lines, sizeof(*lines), folded_line_cmp, table);
	for (size_t i = 0; i < nr_lines; i++)
		fprintf(out, "%s %llu\n", (const char *)intern__get(table, lines[i].text, NULL),
			(unsigned long long)lines[i].count);
	r = ferror(out) ? -EIO : 0;
out:
	intern__free(table);
	return r;
}

static const char *const folded_extensions[] = { ".folded", ".txt", ".collapsed", NULL };

const struct exporter exporter_folded = {
	.name = "folded",
	.description = "folded stacks, one \"root;...;leaf count\" line each (flamegraph.pl, inferno)",
	.extensions = folded_extensions,
	.write = folded_write,
};
