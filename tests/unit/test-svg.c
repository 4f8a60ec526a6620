// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "export.h"
#include "fixture.h"
#include "profile.h"

/* Write @p as SVG into a malloc'ed string; *ret_r gets what write() returned. */
static char *render(const struct profile *p, int *ret_r, size_t *ret_len)
{
	return fixture_render(&exporter_svg, p, NULL, ret_r, ret_len);
}

/* The opening tag of the one frame called @name (escaped as in the file), or NULL. */
static const char *frame_tag(const char *svg, const char *name)
{
	char needle[256];

	snprintf(needle, sizeof(needle), "<g class=\"frame\" data-name=\"%s\"", name);
	return strstr(svg, needle);
}

/* How often @needle occurs in @s. */
static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *c = s; (c = strstr(c, needle)); c += strlen(needle))
		n++;
	return n;
}

/* The numeric attribute @attr in the tag at @tag, or -1. */
static long long attr_num(const char *tag, const char *attr)
{
	char needle[64];
	const char *end, *c;

	if (!tag)
		return -1;
	end = strchr(tag, '>');
	snprintf(needle, sizeof(needle), " %s=\"", attr);
	c = strstr(tag, needle);
	if (!c || c > end)
		return -1;
	return strtoll(c + strlen(needle), NULL, 10);
}

/* True when the tag at @tag has attribute @attr equal to @value. */
static bool attr_is(const char *tag, const char *attr, const char *value)
{
	char needle[128];
	const char *c;

	if (!tag)
		return false;
	snprintf(needle, sizeof(needle), " %s=\"%s\"", attr, value);
	c = strstr(tag, needle);
	return c && c < strchr(tag, '>');
}

/* Samples of the frame called @name, or -1 when it is not drawn exactly once. */
static long long samples_of(const char *svg, const char *name)
{
	char needle[256];

	snprintf(needle, sizeof(needle), "<g class=\"frame\" data-name=\"%s\"", name);
	if (count(svg, needle) != 1)
		return -1;
	return attr_num(frame_tag(svg, name), "data-samples");
}

static void check_well_formed(const char *svg, size_t len)
{
	CHECK_TRUE(!strncmp(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"", 36));
	CHECK_INT(count(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""), 1);
	CHECK_TRUE(len > 7 && !strcmp(svg + len - 7, "</svg>\n"));
	CHECK_INT(count(svg, "<g ") + count(svg, "<g>"), count(svg, "</g>"));
	CHECK_INT(count(svg, "<text"), count(svg, "</text>"));
	CHECK_INT(count(svg, "<title>"), count(svg, "</title>"));
	CHECK_INT(count(svg, "<![CDATA["), count(svg, "]]>"));
}

static void test_fixture(void)
{
	struct profile *p = fixture_profile();
	const char *kernel, *rgb;
	char *svg, *again;
	size_t len;
	int r, red, green, blue;

	svg = render(p, &r, &len);
	CHECK_INT(r, 0);
	check_well_formed(svg, len);
	CHECK_TRUE(strstr(svg, ">Flame graph: pid 100,200</text>") != NULL);
	CHECK_TRUE(strstr(svg, "Profiled pid 100,200 for 2.00 s at 99 Hz: 95 samples, started "
			       "2023-11-14 22:13:20 UTC</text>") != NULL);
	CHECK_TRUE(strstr(svg, "width=\"1200\"") != NULL);
	CHECK_TRUE(strstr(svg, "data-total=\"95\"") != NULL);

	/* The two "main" frames of pid 100 and 200 share a label, so they merge. */
	CHECK_INT(samples_of(svg, "all"), 95);
	CHECK_INT(samples_of(svg, "main"), 85);
	CHECK_INT(samples_of(svg, "work"), 60);
	CHECK_INT(samples_of(svg, "spin"), 60);
	CHECK_INT(samples_of(svg, "idle"), 20);
	CHECK_INT(samples_of(svg, "libx.so+0x1234"), 5);
	CHECK_INT(samples_of(svg, "start_thread"), 10);
	CHECK_INT(samples_of(svg, "worker_loop"), 10);
	CHECK_INT(samples_of(svg, "asm_sysvec_apic_timer_interrupt"), 10);
	CHECK_INT(count(svg, "class=\"frame\""), 9);

	/* Root at depth 0; siblings in label order, laid out left to right. */
	CHECK_INT(attr_num(frame_tag(svg, "all"), "data-depth"), 0);
	CHECK_INT(attr_num(frame_tag(svg, "spin"), "data-depth"), 3);
	CHECK_INT(attr_num(frame_tag(svg, "asm_sysvec_apic_timer_interrupt"), "data-depth"), 4);
	CHECK_INT(attr_num(frame_tag(svg, "idle"), "data-x"), 0);
	CHECK_INT(attr_num(frame_tag(svg, "libx.so+0x1234"), "data-x"), 20);
	CHECK_INT(attr_num(frame_tag(svg, "work"), "data-x"), 25);
	CHECK_INT(attr_num(frame_tag(svg, "start_thread"), "data-x"), 85);
	CHECK_TRUE(frame_tag(svg, "idle") < frame_tag(svg, "libx.so+0x1234"));
	CHECK_TRUE(frame_tag(svg, "libx.so+0x1234") < frame_tag(svg, "work"));

	/* Tooltip, geometry: main is 85/95 of 1180 px, the root at the bottom. */
	CHECK_TRUE(strstr(svg, "<title>main (85 samples, 89.47%)</title><rect x=\"10.00\" y=\"128\" "
			       "width=\"1055.79\" height=\"15\"") != NULL);
	CHECK_TRUE(strstr(svg, "<title>all (95 samples, 100.00%)</title><rect x=\"10.00\" y=\"144\" "
			       "width=\"1180.00\"") != NULL);
	CHECK_TRUE(strstr(svg, ">asm_sysvec_api..</text>") != NULL);

	/* The kernel frame is drawn in orange and says it is kernel. */
	kernel = frame_tag(svg, "asm_sysvec_apic_timer_interrupt");
	CHECK_TRUE(attr_is(kernel, "data-kind", "kernel"));
	CHECK_TRUE(attr_is(frame_tag(svg, "main"), "data-kind", "native"));
	rgb = kernel ? strstr(kernel, "fill=\"rgb(") : NULL;
	CHECK_TRUE(rgb && sscanf(rgb, "fill=\"rgb(%d,%d,%d)", &red, &green, &blue) == 3);
	if (rgb) {
		CHECK_TRUE(red >= 240 && green >= 155 && green < 185 && blue < 25);
	}

	/* The interactive part is there, and the same profile gives the same bytes. */
	CHECK_TRUE(strstr(svg, "<script type=\"text/ecmascript\"><![CDATA[") != NULL);
	CHECK_TRUE(strstr(svg, "window.hearth = {") != NULL);
	CHECK_TRUE(strstr(svg, ">Reset Zoom</text>") != NULL);
	CHECK_TRUE(strstr(svg, ">Search</text>") != NULL);
	again = render(p, &r, NULL);
	CHECK_STR(again, svg);
	free(again);
	free(svg);
	profile__free(p);
}

/* Add @n samples of the stack @names (root first) of @kind frames. */
static void add(struct profile *p, enum profile_frame_kind kind, const char *const *names, size_t n,
		uint64_t samples)
{
	uint32_t frames[PROFILE_MAX_DEPTH];
	struct profile_sample s = { .pid = 1, .tid = 1 };

	for (size_t i = 0; i < n; i++) {
		struct profile_frame f = { .kind = kind, .name = (uint32_t)profile__intern(p, names[i]) };

		frames[n - 1 - i] = (uint32_t)profile__add_frame(p, &f);
	}
	s.stack = (uint32_t)profile__add_stack(p, frames, n);
	if (profile__add_sample(p, &s, samples, samples * 10000000ull) < 0)
		abort();
}

static void test_escape(void)
{
	struct profile *p = NULL;
	char *svg;
	size_t len;
	int r;

	CHECK_INT(profile__new(&p), 0);
	CHECK_INT(profile__set_target(p, "sh -c 'a < b && echo \"x\"'"), 0);
	add(p, PROFILE_FRAME_NATIVE, (const char *[]){ "operator<<(std::ostream&, \"x\")" }, 1, 3);
	add(p, PROFILE_FRAME_PYTHON, (const char *[]){ "bad\xff\x01utf8\xe2\x82" }, 1, 1);
	add(p, PROFILE_FRAME_SPECIAL, (const char *[]){ "caf\xc3\xa9 ]]> 'q'" }, 1, 1);
	svg = render(p, &r, &len);
	CHECK_INT(r, 0);
	check_well_formed(svg, len);
	CHECK_TRUE(strstr(svg, ">Flame graph: sh -c &#39;a &lt; b &amp;&amp; echo &quot;x&quot;&#39;"
			       "</text>") != NULL);
	CHECK_INT(samples_of(svg, "operator&lt;&lt;(std::ostream&amp;, &quot;x&quot;)"), 3);
	CHECK_TRUE(strstr(svg, "<title>operator&lt;&lt;(std::ostream&amp;, &quot;x&quot;) "
			       "(3 samples, 60.00%)</title>") != NULL);
	/* Bytes XML cannot carry become '?'; valid UTF-8 passes through. */
	CHECK_INT(samples_of(svg, "bad??utf8??"), 1);
	CHECK_TRUE(attr_is(frame_tag(svg, "bad??utf8??"), "data-kind", "python"));
	CHECK_INT(samples_of(svg, "caf\xc3\xa9 ]]&gt; &#39;q&#39;"), 1);
	CHECK_TRUE(strstr(svg, "std::ostream&,") == NULL);
	CHECK_TRUE(strstr(svg, "\xff") == NULL && strstr(svg, "\x01") == NULL);
	free(svg);
	profile__free(p);
}

static void test_empty(void)
{
	struct profile *p = NULL;
	char *svg;
	size_t len;
	int r;

	CHECK_INT(profile__new(&p), 0);
	svg = render(p, &r, &len);
	CHECK_INT(r, 0);
	check_well_formed(svg, len);
	CHECK_TRUE(strstr(svg, ">no samples</text>") != NULL);
	CHECK_TRUE(strstr(svg, "0 samples") != NULL);
	CHECK_INT(count(svg, "class=\"frame\""), 0);
	free(svg);
	profile__free(p);
}

static void test_narrow(void)
{
	struct profile *p = NULL;
	char name[32], *svg;
	const char *merged;
	size_t len;
	int r;

	/* 100005 samples: 1 sample is 0.0118 px, so 50 of them are 0.59 px and 5 are 0.059 px. */
	CHECK_INT(profile__new(&p), 0);
	add(p, PROFILE_FRAME_NATIVE, (const char *[]){ "big" }, 1, 100000);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "tiny_%d", i);
		add(p, PROFILE_FRAME_NATIVE, (const char *[]){ "big", name }, 2, 1);
	}
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "narrow_%d", i);
		add(p, PROFILE_FRAME_KERNEL, (const char *[]){ name }, 1, 1);
	}
	svg = render(p, &r, &len);
	CHECK_INT(r, 0);
	check_well_formed(svg, len);
	CHECK_INT(samples_of(svg, "big"), 100005);
	merged = frame_tag(svg, "[50 narrow frames]");
	CHECK_INT(attr_num(merged, "data-samples"), 50);
	CHECK_INT(attr_num(merged, "data-x"), 100005);
	CHECK_INT(attr_num(merged, "data-depth"), 1);
	CHECK_TRUE(attr_is(merged, "data-kind", "special"));
	CHECK_TRUE(strstr(svg, "narrow_") == NULL);
	CHECK_TRUE(strstr(svg, "tiny_") == NULL);
	CHECK_TRUE(strstr(svg, "[5 narrow frames]") == NULL);
	CHECK_INT(count(svg, "class=\"frame\""), 3);
	free(svg);
	profile__free(p);
}

/* 20,000 distinct stacks 3 to 40 deep with skewed counts stay small and complete. */
static void test_big(void)
{
	const char *names[40];
	char bufs[40][32], *svg;
	struct profile *p = NULL;
	size_t len, frames;
	int r;

	CHECK_INT(profile__new(&p), 0);
	for (unsigned int i = 0; i < 20000; i++) {
		size_t depth = 3 + i % 38;

		for (size_t d = 0; d < depth; d++) {
			snprintf(bufs[d], sizeof(bufs[d]), "mod%zu::function_%u", d,
				 d < 2 ? i % (7 + 13 * (unsigned int)d) : i * 41 + (unsigned int)d);
			names[d] = bufs[d];
		}
		add(p, PROFILE_FRAME_NATIVE, names, depth, 1 + (i % 97 == 0 ? 2000 : i % 50));
	}
	svg = render(p, &r, &len);
	CHECK_INT(r, 0);
	check_well_formed(svg, len);
	frames = count(svg, "class=\"frame\"");
	printf("test-svg: 20000 stacks: %zu bytes, %zu frames drawn\n", len, frames);
	CHECK_TRUE(len < 8u << 20);
	CHECK_TRUE(frames > 1000 && frames <= 25000);
	CHECK_TRUE(strstr(svg, " narrow frames]") != NULL);
	CHECK_INT(samples_of(svg, "all"), profile__total(p));
	free(svg);
	profile__free(p);
}

/* 10,000 chains 10 deep, each 0.118 px wide, would be 100,000 frames: the cap holds. */
static void test_cap(void)
{
	const char *names[10];
	char bufs[10][48], *svg;
	struct profile *p = NULL;
	size_t len, frames;
	int r;

	CHECK_INT(profile__new(&p), 0);
	for (unsigned int i = 0; i < 10000; i++) {
		for (size_t d = 0; d < 10; d++) {
			snprintf(bufs[d], sizeof(bufs[d]), "a_rather_long_function_name_%u_%zu", i, d);
			names[d] = bufs[d];
		}
		add(p, PROFILE_FRAME_NATIVE, names, 10, 1);
	}
	svg = render(p, &r, &len);
	CHECK_INT(r, 0);
	check_well_formed(svg, len);
	frames = count(svg, "class=\"frame\"");
	printf("test-svg: 10000 wide chains: %zu bytes, %zu frames drawn\n", len, frames);
	CHECK_TRUE(len < 8u << 20);
	CHECK_TRUE(frames > 1000 && frames <= 25000);
	CHECK_INT(samples_of(svg, "all"), 10000);
	free(svg);
	profile__free(p);
}

/* A stream that cannot be written gives -EIO. */
static void test_io_error(void)
{
	struct export_options o = { 0 };
	struct profile *p = fixture_profile();
	FILE *f = fopen("/dev/null", "r");

	CHECK_TRUE(f != NULL);
	if (f) {
		CHECK_INT(exporter_svg.write(p, &o, f), -EIO);
		fclose(f);
	}
	profile__free(p);
}

int main(void)
{
	CHECK_TRUE(exporter_find("svg") == &exporter_svg);
	CHECK_TRUE(exporter_for_path("out/flame.SVG") == &exporter_svg);
	test_fixture();
	test_escape();
	test_empty();
	test_narrow();
	test_big();
	test_cap();
	test_io_error();
	return check_finish("test-svg");
}
