// SPDX-License-Identifier: MIT
/*
 * Folded stacks, as flamegraph.pl and inferno read them: one line per distinct
 * stack, "root;...;leaf count". Lines with the same text are merged, and the
 * output is sorted so the same profile always gives the same bytes. A
 * differential export has two counts per line, base then new (difffolded.pl's
 * format, which flamegraph.pl draws as a differential flame graph).
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
	uint64_t count[2]; /* FOLDED_BASE, FOLDED_NEW */
};

enum { FOLDED_BASE, FOLDED_NEW };

/* The lines of a plain or a differential export, in order of first sight. */
struct folded_table {
	struct intern *text;
	struct folded_line *lines;
	size_t nr_lines;
	char *buf; /* the line being built */
	size_t cap;
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

/* Add the samples of @p to the lines, counted in column @side. */
static int folded_add(struct folded_table *t, const struct profile *p, unsigned int side)
{
	size_t n = profile__nr_samples(p);
	char label[1024];
	int r;

	for (size_t i = 0; i < n; i++) {
		const struct profile_sample *s = profile__sample(p, i);
		const uint32_t *stack;
		size_t depth, len = 0;
		int64_t id;
		int added;

		stack = profile__stack(p, s->stack, &depth);
		if (t->buf)
			t->buf[0] = '\0';
		for (size_t d = depth; d-- > 0;) {
			const struct profile_frame *f = profile__frame(p, stack[d]);

			if (len && (r = folded_append(&t->buf, &len, &t->cap, ";", false)) < 0)
				return r;
			r = folded_append(&t->buf, &len, &t->cap,
					  profile__frame_label(p, f, label, sizeof(label)), true);
			if (r < 0)
				return r;
		}
		if (!len && (r = folded_append(&t->buf, &len, &t->cap, "[empty]", false)) < 0)
			return r;
		id = intern__add(t->text, t->buf, len, &added);
		if (id < 0)
			return (int)id;
		if (added)
			t->lines[t->nr_lines++] = (struct folded_line){ .text = (uint32_t)id };
		/* Ids are dense and lines are added in id order, so the id is the index. */
		t->lines[id].count[side] += s->count;
	}
	return 0;
}

/*
 * One line per stack, "stack count"; with a base profile, "stack base new" as
 * Brendan Gregg's difffolded.pl writes it, 0 where a stack is in one only.
 */
static int folded_write(const struct profile *p, const struct export_options *o, FILE *out)
{
	const struct profile *base = o ? o->base : NULL;
	size_t n = profile__nr_samples(p) + (base ? profile__nr_samples(base) : 0);
	struct folded_table t = {};
	int r;

	r = intern__new(0, &t.text);
	if (r < 0)
		return r;
	t.lines = calloc(n ? n : 1, sizeof(*t.lines));
	if (!t.lines) {
		r = -ENOMEM;
		goto out;
	}
	if (base && (r = folded_add(&t, base, FOLDED_BASE)) < 0)
		goto out;
	if ((r = folded_add(&t, p, FOLDED_NEW)) < 0)
		goto out;
	qsort_r(t.lines, t.nr_lines, sizeof(*t.lines), folded_line_cmp, t.text);
	for (size_t i = 0; i < t.nr_lines; i++) {
		const char *text = intern__get(t.text, t.lines[i].text, NULL);

		if (base)
			fprintf(out, "%s %llu %llu\n", text, (unsigned long long)t.lines[i].count[FOLDED_BASE],
				(unsigned long long)t.lines[i].count[FOLDED_NEW]);
		else
			fprintf(out, "%s %llu\n", text, (unsigned long long)t.lines[i].count[FOLDED_NEW]);
	}
	r = ferror(out) ? -EIO : 0;
out:
	intern__free(t.text);
	free(t.lines);
	free(t.buf);
	return r;
}

static const char *const folded_extensions[] = { ".folded", ".txt", ".collapsed", NULL };

const struct exporter exporter_folded = {
	.name = "folded",
	.description = "folded stacks, one \"root;...;leaf count\" line each (flamegraph.pl, inferno)",
	.extensions = folded_extensions,
	.diff = true,
	.write = folded_write,
};
