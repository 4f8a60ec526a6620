// SPDX-License-Identifier: MIT
#include "json.h"

#include <stdint.h>

/*
 * Length of the valid UTF-8 sequence at @s, or 0 when it is not one (overlong
 * forms, surrogates and code points past U+10FFFF included). The NUL that ends
 * the string is never a continuation byte, so this never reads past it.
 */
static size_t utf8_sequence_len(const unsigned char *s)
{
	uint32_t cp, min;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	cp = s[0] & (0x7f >> n);
	min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * The inside of a JSON string: quotes, backslashes and control characters
 * escaped, and each byte that is not part of valid UTF-8 replaced by U+FFFD,
 * since names come from target processes and may hold anything.
 */
void json_escape(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		size_t n = utf8_sequence_len(s);

		if (n == 0) {
			fputs("\\ufffd", out);
			s++;
		} else if (*s == '"' || *s == '\\') {
			fputc('\\', out);
			fputc(*s++, out);
		} else if (*s < 0x20) {
			fprintf(out, "\\u%04x", *s++);
		} else {
			fwrite(s, 1, n, out);
			s += n;
		}
	}
}

void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	json_escape(out, s);
	fputc('"', out);
}
