// SPDX-License-Identifier: MIT
/*
 * pyline against real CPython: tests/unit/pyline-cases/python-X.Y.txt hold,
 * for every code object of a sample program compiled by each supported
 * version, its line table, co_firstlineno and the line CPython gives every
 * instruction offset (scripts/gen-pyline-cases writes them and describes the
 * format). pyline_lookup() must agree on every offset, and from 3.10 report
 * -ERANGE just past the code.
 *
 *   test-pyline-cases DIR
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pyline.h"

static const struct {
	unsigned int major, minor;
} versions[] = {
	{ 2, 7 }, { 3, 6 }, { 3, 7 }, { 3, 8 }, { 3, 9 }, { 3, 10 }, { 3, 11 }, { 3, 12 }, { 3, 13 },
};

#define MAX_REPORTS 5

struct case_state {
	unsigned int major, minor;
	char name[256];
	int firstlineno;
	uint32_t end;
	uint8_t *table; /* exactly table_len bytes, so a sanitizer sees an overread */
	size_t table_len;
	unsigned long nr_offsets;
	unsigned long nr_mismatches;
};

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_table(const char *hex, struct case_state *c)
{
	size_t n = strlen(hex), i;

	free(c->table);
	c->table = NULL;
	c->table_len = 0;
	if (!strcmp(hex, "-"))
		return 0;
	if (n % 2)
		return -EPROTO;
	c->table = malloc(n / 2);
	if (!c->table)
		return -ENOMEM;
	for (i = 0; i < n / 2; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EPROTO;
		c->table[i] = (uint8_t)(hi << 4 | lo);
	}
	c->table_len = n / 2;
	return 0;
}

static void check_offset(struct case_state *c, uint32_t off, bool has_line, int want)
{
	int line = 0, r;

	r = pyline_lookup(c->major, c->minor, c->table, c->table_len, c->firstlineno, off, &line);
	c->nr_offsets++;
	if (has_line ? (r == 0 && line == want) : r == -ENOENT)
		return;
	if (c->nr_mismatches++ < MAX_REPORTS) {
		if (has_line)
			fprintf(stderr, "%u.%u %s: offset %u: got %d (line %d), expected line %d\n",
				c->major, c->minor, c->name, off, r, r == 0 ? line : 0, want);
		else
			fprintf(stderr, "%u.%u %s: offset %u: got %d (line %d), expected no line\n",
				c->major, c->minor, c->name, off, r, r == 0 ? line : 0);
	}
}

/* One "START,COUNT,STEP,LINE" token. */
static int check_run(struct case_state *c, const char *token)
{
	unsigned long start, count, step, i;
	char line[32];
	int want = 0;
	bool has_line;

	if (sscanf(token, "%lu,%lu,%lu,%31s", &start, &count, &step, line) != 4)
		return -EPROTO;
	has_line = strcmp(line, "-") != 0;
	if (has_line && sscanf(line, "%d", &want) != 1)
		return -EPROTO;
	if (count == 0 || step == 0 || start + (count - 1) * step >= c->end)
		return -EPROTO;
	for (i = 0; i < count; i++)
		check_offset(c, (uint32_t)(start + i * step), has_line, want);
	return 0;
}

/* Close the current case: every mismatch counts as one failed check. */
static void finish_case(struct case_state *c)
{
	int line = 0;

	if (!c->name[0])
		return;
	CHECK_TRUE(c->nr_offsets > 0);
	CHECK_INT(c->nr_mismatches, 0);
	if (c->major == 3 && c->minor >= 10) {
		CHECK_INT(pyline_lookup(c->major, c->minor, c->table, c->table_len, c->firstlineno,
					c->end, &line),
			  -ERANGE);
	}
	c->name[0] = '\0';
}

/* Check every case of one version's file; returns the number of cases or -errno. */
static int check_file(const char *dir, unsigned int major, unsigned int minor,
		      unsigned long *ret_offsets)
{
	struct case_state c = { .major = major, .minor = minor };
	static char table[65536];
	char path[4096], *text = NULL;
	unsigned int fmajor = 0, fminor = 0, fpatch = 0;
	size_t cap = 0;
	unsigned long offsets = 0;
	int nr_cases = 0, lineno = 0, r = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/python-%u.%u.txt", dir, major, minor);
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
		return r;
	}
	while (getline(&text, &cap, f) > 0) {
		char name[256], *save = NULL, *word;

		lineno++;
		text[strcspn(text, "\n")] = '\0';
		if (!text[0] || text[0] == '#')
			continue;
		if (!strncmp(text, "python ", 7)) {
			if (sscanf(text, "python %u %u %u", &fmajor, &fminor, &fpatch) != 3 ||
			    fmajor != major || fminor != minor)
				r = -EPROTO;
		} else if (!strncmp(text, "case ", 5)) {
			finish_case(&c);
			offsets += c.nr_offsets;
			c.nr_offsets = c.nr_mismatches = 0;
			if (strlen(text) >= sizeof(table) ||
			    sscanf(text, "case %255s %d %u %65535s", name, &c.firstlineno, &c.end,
				   table) != 4)
				r = -EPROTO;
			else
				r = parse_table(table, &c);
			if (r == 0) {
				snprintf(c.name, sizeof(c.name), "%s", name);
				nr_cases++;
			}
		} else if (!strncmp(text, "runs ", 5) && c.name[0] && fmajor) {
			for (word = strtok_r(text + 5, " ", &save); r == 0 && word;
			     word = strtok_r(NULL, " ", &save))
				r = check_run(&c, word);
		} else {
			r = -EPROTO;
		}
		if (r < 0) {
			fprintf(stderr, "%s:%d: cannot parse: %s\n", path, lineno, strerror(-r));
			break;
		}
	}
	finish_case(&c);
	offsets += c.nr_offsets;
	free(c.table);
	free(text);
	fclose(f);
	if (r < 0)
		return r;
	printf("%u.%u.%u: %d code objects, %lu offsets\n", fmajor, fminor, fpatch, nr_cases, offsets);
	*ret_offsets = offsets;
	return nr_cases;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		unsigned long offsets = 0;
		int n = check_file(argv[1], versions[i].major, versions[i].minor, &offsets);

		/* A sample with functions, nested ones and comprehensions has many code objects. */
		CHECK_TRUE(n >= 8);
		CHECK_TRUE(offsets >= 100);
	}
	return check_finish("test-pyline-cases");
}
