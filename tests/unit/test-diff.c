// SPDX-License-Identifier: MIT
/*
 * Differential exports (export_options.base): the folded format with two
 * counts per stack, and the flame graph coloured by the change of each
 * frame's share, on two small profiles built by hand:
 *
 *   stack              BASE   NEW    share BASE -> NEW
 *   main;work;grow       20   100    20% -> 50%   grew
 *   main;work;shrink     50    40    50% -> 20%   shrank
 *   main;idle            20    40    20% -> 20%   same
 *   main;gone            10     -    10% ->  0%   only in BASE
 *   main;fresh            -    20     0% -> 10%   only in NEW
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "export.h"
#include "fixture.h"
#include "profile.h"

/* Add @samples samples of the stack @names (root first, @n frames). */
static void add(struct profile *p, const char *const *names, size_t n, uint64_t samples)
{
	struct profile_sample s = { .pid = 1, .tid = 1 };
	uint32_t frames[16];
	int64_t id;

	for (size_t i = 0; i < n; i++) {
		struct profile_frame f = { .kind = PROFILE_FRAME_NATIVE };

		id = profile__add_frame_named(p, &f, names[i]);
		if (id < 0)
			abort();
		frames[n - 1 - i] = (uint32_t)id;
	}
	id = profile__add_stack(p, frames, n);
	if (id < 0)
		abort();
	s.stack = (uint32_t)id;
	if (profile__add_sample(p, &s, samples, samples * 10000000ull) < 0)
		abort();
}

#define STACK(...) (const char *[]){ __VA_ARGS__ }, sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(char *)

static struct profile *base_profile(void)
{
	struct profile *p = NULL;

	if (profile__new(&p) < 0)
		abort();
	add(p, STACK("main", "work", "grow"), 20);
	add(p, STACK("main", "work", "shrink"), 50);
	add(p, STACK("main", "idle"), 20);
	add(p, STACK("main", "gone"), 10);
	return p;
}

static struct profile *new_profile(void)
{
	struct profile *p = NULL;

	if (profile__new(&p) < 0)
		abort();
	/* Another order than the base, so frame ids differ between the two. */
	add(p, STACK("main", "fresh"), 20);
	add(p, STACK("main", "idle"), 40);
	add(p, STACK("main", "work", "shrink"), 40);
	add(p, STACK("main", "work", "grow"), 100);
	if (profile__set_target(p, "hearthd ring test") < 0)
		abort();
	return p;
}

/* Write @p with @e against @base into a malloc'ed string; *ret_r gets what write() returned. */
static char *render(const struct exporter *e, const struct profile *p, const struct profile *base, int *ret_r)
{
	return fixture_render(e, p, base, ret_r, NULL);
}

/* The fill of the one frame called @name; false when it is not drawn exactly once. */
static bool fill_of(const char *svg, const char *name, unsigned int rgb[3])
{
	char needle[256];
	const char *tag, *end, *fill;

	snprintf(needle, sizeof(needle), "<g class=\"frame\" data-name=\"%s\"", name);
	tag = strstr(svg, needle);
	if (!tag || strstr(tag + 1, needle))
		return false;
	end = strstr(tag, "</g>");
	fill = strstr(tag, " fill=\"rgb(");
	if (!end || !fill || fill > end)
		return false;
	return sscanf(fill, " fill=\"rgb(%u,%u,%u)\"", &rgb[0], &rgb[1], &rgb[2]) == 3;
}

static bool is_red(const unsigned int rgb[3])
{
	return rgb[0] >= 200 && rgb[1] + 100 < rgb[0] && rgb[2] + 100 < rgb[0];
}

static bool is_blue(const unsigned int rgb[3])
{
	return rgb[2] >= 200 && rgb[0] + 100 < rgb[2] && rgb[1] + 100 < rgb[2];
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *c = s; (c = strstr(c, needle)); c += strlen(needle))
		n++;
	return n;
}

static void test_folded(void)
{
	struct profile *base = base_profile(), *p = new_profile(), *empty = NULL;
	char *out;
	int r;

	out = render(&exporter_folded, p, base, &r);
	CHECK_INT(r, 0);
	CHECK_STR(out, "main;fresh 0 20\n"
		       "main;gone 10 0\n"
		       "main;idle 20 40\n"
		       "main;work;grow 20 100\n"
		       "main;work;shrink 50 40\n");
	free(out);

	/* Without a base: the plain format, one count. */
	out = render(&exporter_folded, p, NULL, &r);
	CHECK_INT(r, 0);
	CHECK_STR(out, "main;fresh 20\nmain;idle 40\nmain;work;grow 100\nmain;work;shrink 40\n");
	free(out);

	/* An empty window on either side: zeros on that side. */
	CHECK_INT(profile__new(&empty), 0);
	out = render(&exporter_folded, empty, base, &r);
	CHECK_INT(r, 0);
	CHECK_STR(out, "main;gone 10 0\nmain;idle 20 0\nmain;work;grow 20 0\nmain;work;shrink 50 0\n");
	free(out);
	out = render(&exporter_folded, base, empty, &r);
	CHECK_INT(r, 0);
	CHECK_STR(out, "main;gone 0 10\nmain;idle 0 20\nmain;work;grow 0 20\nmain;work;shrink 0 50\n");
	free(out);
	profile__free(empty);
	profile__free(base);
	profile__free(p);
}

static void test_svg(void)
{
	struct profile *base = base_profile(), *p = new_profile();
	unsigned int rgb[3];
	char *svg;
	int r;

	svg = render(&exporter_svg, p, base, &r);
	CHECK_INT(r, 0);
	CHECK_TRUE(!strncmp(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"", 36));
	CHECK_INT(count(svg, "<g ") + count(svg, "<g>"), count(svg, "</g>"));
	CHECK_INT(count(svg, "<text"), count(svg, "</text>"));
	CHECK_INT(count(svg, "<title>"), count(svg, "</title>"));
	CHECK_INT(count(svg, "<![CDATA["), count(svg, "]]>"));
	CHECK_TRUE(strstr(svg, ">Differential flame graph: hearthd ring test</text>") != NULL);

	/* Widths are NEW's: grow holds 100 of its 200 samples. */
	CHECK_TRUE(strstr(svg, "<g class=\"frame\" data-name=\"grow\" data-kind=\"native\" "
			       "data-samples=\"100\"") != NULL);
	CHECK_TRUE(fill_of(svg, "grow", rgb) && is_red(rgb));
	CHECK_TRUE(fill_of(svg, "fresh", rgb) && rgb[0] == 250 && rgb[1] < 250 && rgb[1] == rgb[2]);
	CHECK_TRUE(fill_of(svg, "shrink", rgb) && is_blue(rgb));
	/* The same share, and the root (always 100%): white. */
	CHECK_TRUE(fill_of(svg, "idle", rgb) && rgb[0] == 250 && rgb[1] == 250 && rgb[2] == 250);
	CHECK_TRUE(fill_of(svg, "work", rgb) && rgb[0] == 250 && rgb[1] == 250 && rgb[2] == 250);
	CHECK_TRUE(fill_of(svg, "all", rgb) && rgb[0] == 250 && rgb[1] == 250 && rgb[2] == 250);

	CHECK_TRUE(strstr(svg, "<title>grow: 20.00% -> 50.00% (+30.00 points; 20 -> 100 samples)"
			       "</title>") != NULL);
	CHECK_TRUE(strstr(svg, "<title>shrink: 50.00% -> 20.00% (-30.00 points; 50 -> 40 samples)"
			       "</title>") != NULL);
	CHECK_TRUE(strstr(svg, "<title>fresh: 0.00% -> 10.00% (+10.00 points; 0 -> 20 samples)"
			       "</title>") != NULL);
	/* What only BASE has: not drawn, but named in the subtitle and its caller's tooltip. */
	CHECK_TRUE(strstr(svg, "data-name=\"gone\"") == NULL);
	CHECK_TRUE(strstr(svg, "; 10.00% of BASE in call paths absent from NEW (largest: gone, 10.00%)") != NULL);
	CHECK_TRUE(strstr(svg, "<title>main: 100.00% -> 100.00% (0.00 points; 100 -> 200 samples); "
			       "callees only in BASE: 10.00% of BASE</title>") != NULL);
	CHECK_TRUE(strstr(svg, "BASE: 100 samples; NEW: 200 samples") != NULL);
	/* Both scripts: the plain graph's (zoom, search) and the diff details line. */
	CHECK_INT(count(svg, "<script"), 2);
	CHECK_TRUE(strstr(svg, "window.hearth = {") != NULL);
	free(svg);

	/* Swapped, the colours swap. */
	svg = render(&exporter_svg, base, p, &r);
	CHECK_INT(r, 0);
	CHECK_TRUE(fill_of(svg, "grow", rgb) && is_blue(rgb));
	CHECK_TRUE(fill_of(svg, "shrink", rgb) && is_red(rgb));
	CHECK_TRUE(strstr(svg, "largest: fresh, 10.00%") != NULL);
	free(svg);
	profile__free(base);
	profile__free(p);
}

static void test_empty(void)
{
	struct profile *base = base_profile(), *empty = NULL;
	char *svg;
	int r;

	CHECK_INT(profile__new(&empty), 0);
	svg = render(&exporter_svg, empty, base, &r);
	CHECK_INT(r, 0);
	CHECK_TRUE(strstr(svg, ">no samples in NEW</text>") != NULL);
	CHECK_TRUE(strstr(svg, "100.00% of BASE in call paths absent from NEW (largest: main, 100.00%)") != NULL);
	CHECK_TRUE(strstr(svg, "</svg>\n") != NULL);
	free(svg);
	profile__free(empty);
	profile__free(base);
}

/* pprof and speedscope do not draw differences: go tool pprof -diff_base compares two files. */
static void test_unsupported(void)
{
	struct profile *base = base_profile(), *p = new_profile();
	char *out;
	int r;

	CHECK_TRUE(exporter_svg.diff && exporter_folded.diff);
	CHECK_TRUE(!exporter_pprof.diff && !exporter_speedscope.diff);
	out = render(&exporter_pprof, p, base, &r);
	CHECK_INT(r, -EOPNOTSUPP);
	free(out);
	out = render(&exporter_speedscope, p, base, &r);
	CHECK_INT(r, -EOPNOTSUPP);
	free(out);
	profile__free(base);
	profile__free(p);
}

int main(void)
{
	test_folded();
	test_svg();
	test_empty();
	test_unsupported();
	return check_finish("test-diff");
}
