// SPDX-License-Identifier: MIT
/*
 * pyline on hand-built tables: each line table format with every entry kind,
 * malformed and truncated tables (which must fail with -EPROTO, never read
 * past their end: every table and string is copied into a heap block of
 * exactly its size so a sanitizer sees any overread), and str to UTF-8
 * conversion of every kind, with replacement and truncation.
 * tests/unit/test-pyline-cases checks the decoders against real CPython.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pyline.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A heap copy of exactly len bytes (at least 1 allocated, none readable when len is 0). */
static uint8_t *copy(const void *data, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	if (!p) {
		perror("malloc");
		exit(2);
	}
	if (len)
		memcpy(p, data, len);
	return p;
}

enum decoder { LNOTAB_27, LNOTAB_36, LINETABLE_310, LOCATIONS };

static int decode(enum decoder d, const uint8_t *tab, size_t len, int firstlineno, uint32_t off,
		  int *ret_line)
{
	switch (d) {
	case LNOTAB_27:
		return pyline_from_lnotab(tab, len, firstlineno, false, off, ret_line);
	case LNOTAB_36:
		return pyline_from_lnotab(tab, len, firstlineno, true, off, ret_line);
	case LINETABLE_310:
		return pyline_from_linetable_310(tab, len, firstlineno, off, ret_line);
	default:
		return pyline_from_locations(tab, len, firstlineno, off, ret_line);
	}
}

/* The line at off, or the negative error; checks *ret_line is left alone on failure. */
static int line_at(enum decoder d, const void *tab, size_t len, int firstlineno, uint32_t off)
{
	uint8_t *p = copy(tab, len);
	int line = -12345, r;

	r = decode(d, p, len, firstlineno, off, &line);
	free(p);
	if (r < 0) {
		CHECK_INT(line, -12345);
		return r;
	}
	CHECK_INT(r, 0);
	return line;
}

/* Every proper prefix of a table fails cleanly (or ends at an entry boundary) for off. */
static void check_prefixes(enum decoder d, const uint8_t *tab, size_t len, uint32_t off,
			   int boundary_error)
{
	size_t k;

	for (k = 0; k < len; k++) {
		int r = line_at(d, tab, k, 1, off);

		CHECK_TRUE(r == -EPROTO || r == boundary_error);
	}
}

static void test_lnotab(void)
{
	static const uint8_t basic[] = { 6, 1, 8, 2 };
	static const uint8_t negative[] = { 4, 0xfe, 2, 5 };
	/* 2.7 spreads a 300-line jump over unsigned bytes, 3.6+ over signed ones. */
	static const uint8_t gap27[] = { 0, 255, 0, 45, 3, 1 };
	static const uint8_t gap36[] = { 0, 127, 0, 127, 0, 46, 2, 1 };
	/* More than 255 bytes on one line. */
	static const uint8_t far[] = { 0, 1, 255, 0, 45, 1 };
	static const uint8_t odd[] = { 6, 1, 8 };
	static const uint8_t up[] = { 0, 1 };
	int line = 7;
	size_t k;

	CHECK_INT(line_at(LNOTAB_36, NULL, 0, 10, 0), 10);
	CHECK_INT(line_at(LNOTAB_36, NULL, 0, 10, 1000), 10);
	CHECK_INT(line_at(LNOTAB_27, NULL, 0, 10, 3), 10);

	CHECK_INT(line_at(LNOTAB_36, basic, sizeof(basic), 10, 0), 10);
	CHECK_INT(line_at(LNOTAB_36, basic, sizeof(basic), 10, 5), 10);
	CHECK_INT(line_at(LNOTAB_36, basic, sizeof(basic), 10, 6), 11);
	CHECK_INT(line_at(LNOTAB_36, basic, sizeof(basic), 10, 13), 11);
	CHECK_INT(line_at(LNOTAB_36, basic, sizeof(basic), 10, 14), 13);
	/* The last line runs to the end of the code and past it. */
	CHECK_INT(line_at(LNOTAB_36, basic, sizeof(basic), 10, UINT32_MAX), 13);

	CHECK_INT(line_at(LNOTAB_36, negative, sizeof(negative), 10, 3), 10);
	CHECK_INT(line_at(LNOTAB_36, negative, sizeof(negative), 10, 4), 8);
	CHECK_INT(line_at(LNOTAB_36, negative, sizeof(negative), 10, 6), 13);
	CHECK_INT(line_at(LNOTAB_27, negative, sizeof(negative), 10, 4), 264);

	CHECK_INT(line_at(LNOTAB_27, gap27, sizeof(gap27), 5, 0), 305);
	CHECK_INT(line_at(LNOTAB_27, gap27, sizeof(gap27), 5, 2), 305);
	CHECK_INT(line_at(LNOTAB_27, gap27, sizeof(gap27), 5, 3), 306);
	CHECK_INT(line_at(LNOTAB_36, gap36, sizeof(gap36), 5, 1), 305);
	CHECK_INT(line_at(LNOTAB_36, gap36, sizeof(gap36), 5, 2), 306);

	CHECK_INT(line_at(LNOTAB_36, far, sizeof(far), 1, 299), 2);
	CHECK_INT(line_at(LNOTAB_36, far, sizeof(far), 1, 300), 3);

	CHECK_INT(line_at(LNOTAB_36, odd, sizeof(odd), 10, 0), -EPROTO);
	CHECK_INT(line_at(LNOTAB_27, odd, sizeof(odd), 10, 0), -EPROTO);
	CHECK_INT(line_at(LNOTAB_36, up, sizeof(up), INT_MAX, 0), -EPROTO);
	CHECK_INT(line_at(LNOTAB_36, negative, sizeof(negative), INT_MIN, 4), -EPROTO);
	CHECK_INT(line_at(LNOTAB_27, gap27, sizeof(gap27), INT_MAX - 299, 0), -EPROTO);

	CHECK_INT(pyline_from_lnotab(NULL, 2, 1, true, 0, &line), -EINVAL);
	CHECK_INT(pyline_from_lnotab(up, sizeof(up), 1, true, 0, NULL), -EINVAL);
	CHECK_INT(line, 7);

	/* Odd prefixes are malformed; even ones are shorter but valid tables. */
	for (k = 0; k < sizeof(gap36); k++) {
		int r = line_at(LNOTAB_36, gap36, k, 5, 2);

		if (k % 2)
			CHECK_INT(r, -EPROTO);
		else
			CHECK_TRUE(r >= 5 && r <= 305);
	}
}

static void test_linetable_310(void)
{
	/* 4 bytes on 10, 6 on 11, 2 with no line, 4 on 10 (the no-line entry moved nothing). */
	static const uint8_t tab[] = { 4, 0, 6, 1, 2, 0x80, 4, 0xff };
	/* A 300-line jump in zero-length entries, then 254 + 10 bytes on one line. */
	static const uint8_t gap[] = { 0, 127, 0, 127, 254, 46, 10, 0 };
	static const uint8_t odd[] = { 4, 0, 6 };
	static const uint8_t up[] = { 2, 1 };
	uint32_t off;

	for (off = 0; off < 4; off++)
		CHECK_INT(line_at(LINETABLE_310, tab, sizeof(tab), 10, off), 10);
	for (off = 4; off < 10; off++)
		CHECK_INT(line_at(LINETABLE_310, tab, sizeof(tab), 10, off), 11);
	CHECK_INT(line_at(LINETABLE_310, tab, sizeof(tab), 10, 10), -ENOENT);
	CHECK_INT(line_at(LINETABLE_310, tab, sizeof(tab), 10, 11), -ENOENT);
	CHECK_INT(line_at(LINETABLE_310, tab, sizeof(tab), 10, 12), 10);
	CHECK_INT(line_at(LINETABLE_310, tab, sizeof(tab), 10, 15), 10);
	CHECK_INT(line_at(LINETABLE_310, tab, sizeof(tab), 10, 16), -ERANGE);
	CHECK_INT(line_at(LINETABLE_310, tab, sizeof(tab), 10, UINT32_MAX), -ERANGE);

	CHECK_INT(line_at(LINETABLE_310, gap, sizeof(gap), 1, 0), 301);
	CHECK_INT(line_at(LINETABLE_310, gap, sizeof(gap), 1, 263), 301);
	CHECK_INT(line_at(LINETABLE_310, gap, sizeof(gap), 1, 264), -ERANGE);

	CHECK_INT(line_at(LINETABLE_310, NULL, 0, 1, 0), -ERANGE);
	CHECK_INT(line_at(LINETABLE_310, odd, sizeof(odd), 1, 0), -EPROTO);
	CHECK_INT(line_at(LINETABLE_310, up, sizeof(up), INT_MAX, 0), -EPROTO);
	check_prefixes(LINETABLE_310, tab, sizeof(tab), 15, -ERANGE);
}

/* First byte of a location entry: kind and length in code units (1-8). */
#define LOC(kind, units) (0x80 | ((kind) << 3) | ((units) - 1))

static const uint8_t locations[] = {
	LOC(3, 2), 0x25,                   /* short form: units 0-1 on the first line */
	LOC(11, 1), 4, 9,                  /* one-line form, +1: unit 2 */
	LOC(13, 3), 0x07,                  /* no columns, -3: units 3-5 */
	LOC(14, 4), 0x50, 0x06, 0x00,      /* long form, +200 (svarint 400), */
	0x42, 0x02, 0x4c, 0x02,            /* columns 129 and 139: units 6-9 */
	LOC(15, 2),                        /* no location: units 10-11 */
	LOC(10, 8), 1, 2,                  /* one-line form, +0: units 12-19 */
};

static void test_locations(void)
{
	static const uint8_t no_marker[] = { 0x05 };
	static const uint8_t short_cut[] = { LOC(3, 2) };
	static const uint8_t one_line_cut[] = { LOC(11, 1), 4 };
	static const uint8_t column_is_entry[] = { LOC(3, 2), LOC(3, 2), 0x25 };
	static const uint8_t varint_open[] = { LOC(13, 1), 0x41 };
	static const uint8_t varint_long[] = { LOC(13, 1), 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0x00 };
	static const uint8_t varint_big[] = { LOC(13, 1), 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x3f };
	static const uint8_t varint_max[] = { LOC(13, 1), 0x7e, 0x7f, 0x7f, 0x7f, 0x7f, 0x03 };
	static const uint8_t long_cut[] = { LOC(14, 4), 0x50, 0x06, 0x00 };
	static const uint8_t bad_tail[] = { LOC(3, 2), 0x25, 0x05 };
	static const uint8_t up[] = { LOC(12, 1), 0, 0 };
	static const uint8_t module[] = { LOC(14, 1), 0x03, 0x01, 0x01, 0x01, LOC(11, 2), 0, 4 };
	static const uint8_t neg_long[] = { LOC(13, 1), 0x07 };
	uint32_t off;
	int line = 7;

	for (off = 0; off < 2; off++)
		CHECK_INT(line_at(LOCATIONS, locations, sizeof(locations), 50, off), 50);
	CHECK_INT(line_at(LOCATIONS, locations, sizeof(locations), 50, 2), 51);
	for (off = 3; off < 6; off++)
		CHECK_INT(line_at(LOCATIONS, locations, sizeof(locations), 50, off), 48);
	for (off = 6; off < 10; off++)
		CHECK_INT(line_at(LOCATIONS, locations, sizeof(locations), 50, off), 248);
	CHECK_INT(line_at(LOCATIONS, locations, sizeof(locations), 50, 10), -ENOENT);
	CHECK_INT(line_at(LOCATIONS, locations, sizeof(locations), 50, 11), -ENOENT);
	for (off = 12; off < 20; off++)
		CHECK_INT(line_at(LOCATIONS, locations, sizeof(locations), 50, off), 248);
	CHECK_INT(line_at(LOCATIONS, locations, sizeof(locations), 50, 20), -ERANGE);
	CHECK_INT(line_at(LOCATIONS, locations, sizeof(locations), 50, UINT32_MAX), -ERANGE);
	CHECK_INT(line_at(LOCATIONS, NULL, 0, 50, 0), -ERANGE);

	/* 3.11+ module code: a RESUME on line 0 (long form, -1), then line 1. */
	CHECK_INT(line_at(LOCATIONS, module, sizeof(module), 1, 0), 0);
	CHECK_INT(line_at(LOCATIONS, module, sizeof(module), 1, 1), 1);
	CHECK_INT(line_at(LOCATIONS, module, sizeof(module), 1, 2), 1);
	CHECK_INT(line_at(LOCATIONS, neg_long, sizeof(neg_long), 3, 0), 0);
	/* The largest 32-bit varint is fine: svarint 2^32 - 2 is +2^31 - 1. */
	CHECK_INT(line_at(LOCATIONS, varint_max, sizeof(varint_max), 0, 0), INT_MAX);

	CHECK_INT(line_at(LOCATIONS, no_marker, sizeof(no_marker), 1, 0), -EPROTO);
	CHECK_INT(line_at(LOCATIONS, short_cut, sizeof(short_cut), 1, 0), -EPROTO);
	CHECK_INT(line_at(LOCATIONS, one_line_cut, sizeof(one_line_cut), 1, 0), -EPROTO);
	CHECK_INT(line_at(LOCATIONS, column_is_entry, sizeof(column_is_entry), 1, 0), -EPROTO);
	CHECK_INT(line_at(LOCATIONS, varint_open, sizeof(varint_open), 1, 0), -EPROTO);
	CHECK_INT(line_at(LOCATIONS, varint_long, sizeof(varint_long), 1, 0), -EPROTO);
	CHECK_INT(line_at(LOCATIONS, varint_big, sizeof(varint_big), 1, 0), -EPROTO);
	CHECK_INT(line_at(LOCATIONS, long_cut, sizeof(long_cut), 1, 0), -EPROTO);
	CHECK_INT(line_at(LOCATIONS, up, sizeof(up), INT_MAX - 1, 0), -EPROTO);
	CHECK_INT(line_at(LOCATIONS, varint_max, sizeof(varint_max), 1, 0), -EPROTO);
	/* Garbage after the entry holding the offset is not looked at. */
	CHECK_INT(line_at(LOCATIONS, bad_tail, sizeof(bad_tail), 9, 1), 9);
	CHECK_INT(line_at(LOCATIONS, bad_tail, sizeof(bad_tail), 9, 2), -EPROTO);

	CHECK_INT(pyline_from_locations(NULL, 1, 1, 0, &line), -EINVAL);
	CHECK_INT(pyline_from_locations(locations, sizeof(locations), 1, 0, NULL), -EINVAL);
	CHECK_INT(line, 7);

	check_prefixes(LOCATIONS, locations, sizeof(locations), 19, -ERANGE);
}

static void test_lookup(void)
{
	static const uint8_t lnotab[] = { 4, 0xff };
	static const uint8_t linetable[] = { 4, 0, 4, 1 };
	static const uint8_t bad_versions[][2] = { { 2, 6 }, { 3, 5 }, { 1, 0 }, { 4, 0 }, { 0, 0 } };
	int line = 0;
	size_t i;

	/* 2.7 reads the delta unsigned, 3.6-3.9 signed; both count bytes. */
	CHECK_INT(pyline_lookup(2, 7, lnotab, sizeof(lnotab), 10, 4, &line), 0);
	CHECK_INT(line, 265);
	CHECK_INT(pyline_lookup(3, 6, lnotab, sizeof(lnotab), 10, 4, &line), 0);
	CHECK_INT(line, 9);
	CHECK_INT(pyline_lookup(3, 9, lnotab, sizeof(lnotab), 10, 3, &line), 0);
	CHECK_INT(line, 10);

	/* 3.10 takes f_lasti in code units: unit 2 is byte 4. */
	CHECK_INT(pyline_lookup(3, 10, linetable, sizeof(linetable), 10, 1, &line), 0);
	CHECK_INT(line, 10);
	CHECK_INT(pyline_lookup(3, 10, linetable, sizeof(linetable), 10, 2, &line), 0);
	CHECK_INT(line, 11);
	CHECK_INT(pyline_lookup(3, 10, linetable, sizeof(linetable), 10, 4, &line), -ERANGE);
	CHECK_INT(pyline_lookup(3, 10, linetable, sizeof(linetable), 10, UINT32_MAX, &line), -ERANGE);

	CHECK_INT(pyline_lookup(3, 11, locations, sizeof(locations), 50, 2, &line), 0);
	CHECK_INT(line, 51);
	CHECK_INT(pyline_lookup(3, 12, locations, sizeof(locations), 50, 10, &line), -ENOENT);
	CHECK_INT(pyline_lookup(3, 13, locations, sizeof(locations), 50, 19, &line), 0);
	CHECK_INT(line, 248);

	line = 7;
	for (i = 0; i < N(bad_versions); i++)
		CHECK_INT(pyline_lookup(bad_versions[i][0], bad_versions[i][1], lnotab, sizeof(lnotab),
					10, 0, &line),
			  -EINVAL);
	CHECK_INT(line, 7);
}

/* Convert with an output block of exactly size bytes; returns the text (static) or NULL. */
static const char *utf8(unsigned int kind, const void *data, size_t nr_chars, size_t size,
			size_t *ret_len)
{
	static char out[256];
	uint8_t *in = copy(data, nr_chars * kind);
	char *buf = malloc(size);
	size_t len = 9999;
	int r;

	if (!buf) {
		perror("malloc");
		exit(2);
	}
	r = pystr_to_utf8(kind, in, nr_chars, buf, size, &len);
	CHECK_INT(r, 0);
	if (r < 0 || len >= size || len >= sizeof(out)) {
		free(in);
		free(buf);
		return NULL;
	}
	CHECK_INT(buf[len], 0);
	memcpy(out, buf, len + 1);
	if (ret_len)
		*ret_len = len;
	free(in);
	free(buf);
	return out;
}

static void test_str(void)
{
	static const uint8_t latin1[] = { 'c', 'a', 'f', 0xe9 };
	static const uint8_t nul[] = { 'a', 0, 'b' };
	static const uint16_t ucs2[] = { 0x20ac, ' ', 0x4e2d, 0x6587 };
	static const uint16_t surrogates[] = { 'x', 0xd800, 0xd83d, 0xde00, 0xdfff, 'y' };
	static const uint32_t ucs4[] = { 'a', 0xe9, 0x20ac, 0x1f600 };
	static const uint32_t bad4[] = { 0xd800, 0x110000, 0xffffffff, 0x10ffff, 0 };
	static const struct {
		size_t size;
		const char *text;
	} cuts[] = {
		{ 1, "" },           { 2, "a" },          { 3, "a" },
		{ 4, "a\xc3\xa9" },  { 6, "a\xc3\xa9" },  { 7, "a\xc3\xa9\xe2\x82\xac" },
		{ 10, "a\xc3\xa9\xe2\x82\xac" },          { 11, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
		{ 64, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
	};
	uint8_t unaligned[1 + sizeof(ucs4)];
	char buf[8];
	size_t len = 0, i;

	CHECK_STR(utf8(1, "hello", 5, 16, &len), "hello");
	CHECK_INT(len, 5);
	CHECK_STR(utf8(1, latin1, N(latin1), 16, &len), "caf\xc3\xa9");
	CHECK_INT(len, 5);
	CHECK_STR(utf8(2, ucs2, N(ucs2), 16, &len), "\xe2\x82\xac \xe4\xb8\xad\xe6\x96\x87");
	CHECK_INT(len, 10);
	CHECK_STR(utf8(4, ucs4, N(ucs4), 16, &len), "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	CHECK_INT(len, 10);

	/* Kind 2 never pairs surrogates: each one is a lone code point. */
	CHECK_STR(utf8(2, surrogates, N(surrogates), 32, &len),
		  "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdy");
	CHECK_INT(len, 14);
	CHECK_STR(utf8(4, bad4, 4, 32, &len),
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xf4\x8f\xbf\xbf");
	CHECK_INT(len, 13);

	/* U+0000 is copied; the length says where the text really ends. */
	CHECK_TRUE(utf8(1, nul, N(nul), 8, &len) != NULL);
	CHECK_INT(len, 3);

	for (i = 0; i < N(cuts); i++) {
		CHECK_STR(utf8(4, ucs4, N(ucs4), cuts[i].size, &len), cuts[i].text);
		CHECK_INT(len, strlen(cuts[i].text));
	}
	/* A replacement character is cut whole too. */
	CHECK_STR(utf8(2, surrogates, N(surrogates), 4, &len), "x");
	CHECK_STR(utf8(2, surrogates, N(surrogates), 5, &len), "x\xef\xbf\xbd");

	memcpy(unaligned + 1, ucs4, sizeof(ucs4));
	CHECK_STR(utf8(4, unaligned + 1, N(ucs4), 16, &len), "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	CHECK_STR(utf8(2, unaligned + 1, 2, 16, &len), "a");
	CHECK_STR(utf8(1, NULL, 0, 1, &len), "");
	CHECK_INT(len, 0);

	CHECK_INT(pystr_to_utf8(1, "abc", 3, buf, sizeof(buf), NULL), 0);
	CHECK_STR(buf, "abc");
	CHECK_INT(pystr_to_utf8(3, "abc", 1, buf, sizeof(buf), &len), -EINVAL);
	CHECK_INT(pystr_to_utf8(0, "abc", 1, buf, sizeof(buf), &len), -EINVAL);
	CHECK_INT(pystr_to_utf8(1, "abc", 3, buf, 0, &len), -EINVAL);
	CHECK_INT(pystr_to_utf8(1, "abc", 3, NULL, 8, &len), -EINVAL);
	CHECK_INT(pystr_to_utf8(1, NULL, 3, buf, sizeof(buf), &len), -EINVAL);
}

int main(void)
{
	test_lnotab();
	test_linetable_310();
	test_locations();
	test_lookup();
	test_str();
	return check_finish("test-pyline");
}
