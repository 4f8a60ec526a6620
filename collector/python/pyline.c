// SPDX-License-Identifier: MIT
#include "pyline.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/*
 * Lines are summed in 64 bits so a hostile table cannot overflow the sum
 * before it is checked; 2^31 one-byte deltas would need a 2 GiB table.
 */
static bool line_ok(int64_t line)
{
	return line >= INT_MIN && line <= INT_MAX;
}

int pyline_from_lnotab(const uint8_t *tab, size_t len, int firstlineno, bool signed_deltas,
		       uint32_t byte_offset, int *ret_line)
{
	int64_t line = firstlineno;
	uint64_t addr = 0;
	size_t i;

	if ((!tab && len) || !ret_line)
		return -EINVAL;
	/* The format is pairs; CPython would ignore a last odd byte, we do not trust it. */
	if (len % 2)
		return -EPROTO;

	/* A pair moves the address first: its line starts at the new address. */
	for (i = 0; i < len; i += 2) {
		addr += tab[i];
		if (addr > byte_offset)
			break;
		line += signed_deltas ? (int8_t)tab[i + 1] : tab[i + 1];
		if (!line_ok(line))
			return -EPROTO;
	}

	*ret_line = (int)line;
	return 0;
}

int pyline_from_linetable_310(const uint8_t *tab, size_t len, int firstlineno,
			      uint32_t byte_offset, int *ret_line)
{
	int64_t line = firstlineno;
	uint64_t end = 0;
	size_t i;

	if ((!tab && len) || !ret_line)
		return -EINVAL;
	if (len % 2)
		return -EPROTO;

	/*
	 * Each pair covers the next tab[i] bytes. Zero-length pairs only carry
	 * line deltas too large for one byte; they never contain the offset,
	 * since every earlier range ended at or before it.
	 */
	for (i = 0; i < len; i += 2) {
		int8_t delta = (int8_t)tab[i + 1];
		bool no_line = delta == -128;

		if (!no_line) {
			line += delta;
			if (!line_ok(line))
				return -EPROTO;
		}
		end += tab[i];
		if (byte_offset < end) {
			if (no_line)
				return -ENOENT;
			*ret_line = (int)line;
			return 0;
		}
	}
	return -ERANGE;
}

/* Location table entry kinds (the 4 bits after the entry's marker bit). */
enum {
	PYLOC_SHORT_LAST = 9,
	PYLOC_ONE_LINE_0 = 10,
	PYLOC_ONE_LINE_2 = 12,
	PYLOC_NO_COLUMNS = 13,
	PYLOC_LONG = 14,
	PYLOC_NONE = 15,
};

/* 6 chunks of 6 bits hold any 32-bit value, which is all CPython writes. */
#define PYLOC_VARINT_MAX_BYTES 6

static int loc_read_byte(const uint8_t *tab, size_t len, size_t *pos, uint8_t *ret)
{
	if (*pos >= len)
		return -EPROTO;
	if (tab[*pos] & 0x80)
		return -EPROTO; /* the start of the next entry: this one is cut short */
	*ret = tab[(*pos)++];
	return 0;
}

static int loc_read_varint(const uint8_t *tab, size_t len, size_t *pos, uint32_t *ret)
{
	uint64_t value = 0;
	unsigned int i;

	for (i = 0; i < PYLOC_VARINT_MAX_BYTES; i++) {
		uint8_t b;
		int r;

		r = loc_read_byte(tab, len, pos, &b);
		if (r < 0)
			return r;
		value |= (uint64_t)(b & 0x3f) << (6 * i);
		if (!(b & 0x40)) {
			if (value > UINT32_MAX)
				return -EPROTO;
			*ret = (uint32_t)value;
			return 0;
		}
	}
	return -EPROTO;
}

static int loc_read_svarint(const uint8_t *tab, size_t len, size_t *pos, int64_t *ret)
{
	uint32_t u;
	int r;

	r = loc_read_varint(tab, len, pos, &u);
	if (r < 0)
		return r;
	*ret = (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
	return 0;
}

/* Skip n bytes that belong to the current entry. */
static int loc_skip(const uint8_t *tab, size_t len, size_t *pos, unsigned int n)
{
	uint8_t b;
	int r;

	while (n--) {
		r = loc_read_byte(tab, len, pos, &b);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Read the rest of the entry whose first byte had kind `kind`: its line delta, or no line. */
static int loc_read_entry(const uint8_t *tab, size_t len, size_t *pos, unsigned int kind,
			  int64_t *ret_delta, bool *ret_no_line)
{
	uint32_t ignored;
	int64_t delta = 0;
	unsigned int i;
	int r;

	*ret_no_line = false;
	if (kind <= PYLOC_SHORT_LAST) {
		r = loc_skip(tab, len, pos, 1);
	} else if (kind <= PYLOC_ONE_LINE_2) {
		delta = kind - PYLOC_ONE_LINE_0;
		r = loc_skip(tab, len, pos, 2);
	} else if (kind == PYLOC_NO_COLUMNS) {
		r = loc_read_svarint(tab, len, pos, &delta);
	} else if (kind == PYLOC_LONG) {
		r = loc_read_svarint(tab, len, pos, &delta);
		/* end line delta, column + 1, end column + 1 */
		for (i = 0; r == 0 && i < 3; i++)
			r = loc_read_varint(tab, len, pos, &ignored);
	} else {
		*ret_no_line = true;
		r = 0;
	}
	if (r < 0)
		return r;
	*ret_delta = delta;
	return 0;
}

int pyline_from_locations(const uint8_t *tab, size_t len, int firstlineno,
			  uint32_t code_unit_offset, int *ret_line)
{
	int64_t line = firstlineno;
	uint64_t end = 0;
	size_t pos = 0;

	if ((!tab && len) || !ret_line)
		return -EINVAL;

	/* Every entry consumes at least one byte: at most len iterations. */
	while (pos < len) {
		uint8_t first = tab[pos++];
		int64_t delta;
		bool no_line;
		int r;

		if (!(first & 0x80))
			return -EPROTO;
		r = loc_read_entry(tab, len, &pos, (first >> 3) & 0xf, &delta, &no_line);
		if (r < 0)
			return r;
		line += delta;
		if (!line_ok(line))
			return -EPROTO;
		end += (first & 0x7) + 1;
		if (code_unit_offset < end) {
			if (no_line)
				return -ENOENT;
			*ret_line = (int)line;
			return 0;
		}
	}
	return -ERANGE;
}

int pyline_lookup(unsigned int major, unsigned int minor, const uint8_t *tab, size_t len,
		  int firstlineno, uint32_t offset, int *ret_line)
{
	if (major == 2 && minor == 7)
		return pyline_from_lnotab(tab, len, firstlineno, false, offset, ret_line);
	if (major != 3)
		return -EINVAL;
	if (minor >= 6 && minor <= 9)
		return pyline_from_lnotab(tab, len, firstlineno, true, offset, ret_line);
	if (minor == 10) {
		/* f_lasti past 2^31 units would be a torn read; doubling must not wrap. */
		if (offset > UINT32_MAX / 2)
			return -ERANGE;
		return pyline_from_linetable_310(tab, len, firstlineno, offset * 2, ret_line);
	}
	/* The location table is unchanged from 3.11 to 3.15; a later version is read as the newest. */
	if (minor >= 11)
		return pyline_from_locations(tab, len, firstlineno, offset, ret_line);
	return -EINVAL;
}

static uint32_t str_char(unsigned int kind, const uint8_t *data, size_t i)
{
	uint16_t u16;
	uint32_t u32;

	switch (kind) {
	case 1:
		return data[i];
	case 2:
		memcpy(&u16, data + 2 * i, sizeof(u16));
		return u16;
	default:
		memcpy(&u32, data + 4 * i, sizeof(u32));
		return u32;
	}
}

/* Encode one code point (already valid) into out; returns its length. */
static size_t utf8_encode(uint32_t c, char out[4])
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

int pystr_to_utf8(unsigned int kind, const void *data, size_t nr_chars, char *buf, size_t size,
		  size_t *ret_len)
{
	size_t i, n = 0;

	if (kind != 1 && kind != 2 && kind != 4)
		return -EINVAL;
	if (!buf || size == 0 || (!data && nr_chars))
		return -EINVAL;

	/* Each code point writes at least one byte, so reads stop within size chars. */
	for (i = 0; i < nr_chars; i++) {
		uint32_t c = str_char(kind, data, i);
		char enc[4];
		size_t m;

		if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
			c = 0xfffd;
		m = utf8_encode(c, enc);
		if (m > size - 1 - n)
			break;
		memcpy(buf + n, enc, m);
		n += m;
	}
	buf[n] = '\0';
	if (ret_len)
		*ret_len = n;
	return 0;
}
