// SPDX-License-Identifier: MIT
#include "httpreq.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

bool http_head_complete(const char *in, size_t len)
{
	return memmem(in, len, "\r\n\r\n", 4) || memmem(in, len, "\n\n", 2);
}

/* What separates the words of a request line (isspace() in the C locale but '\n', which ends it). */
static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * The next word of the request line from *@pos in @len bytes of @in, into
 * @buf of @size bytes. Returns false when the line has no word left or the
 * word does not fit: a longer one is refused, not cut in two words.
 */
static bool take_word(const char *in, size_t len, size_t *pos, char *buf, size_t size)
{
	size_t i = *pos, n = 0;

	while (i < len && is_blank(in[i]))
		i++;
	while (i < len && !is_blank(in[i]) && in[i] != '\n') {
		if (n + 1 == size)
			return false;
		buf[n++] = in[i++];
	}
	buf[n] = '\0';
	*pos = i;
	return n > 0;
}

int http_parse_request_line(const char *in, size_t len, struct http_request_line *ret)
{
	struct http_request_line line;
	size_t pos = 0;

	if (memchr(in, '\0', len))
		return -EINVAL;
	/* Blank lines before the request line are ignored (RFC 9112, 2.2). */
	while (pos < len && (is_blank(in[pos]) || in[pos] == '\n'))
		pos++;
	if (!take_word(in, len, &pos, line.method, sizeof(line.method)) ||
	    !take_word(in, len, &pos, line.target, sizeof(line.target)) ||
	    !take_word(in, len, &pos, line.version, sizeof(line.version)) || strncmp(line.version, "HTTP/1.", 7))
		return -EINVAL;
	*ret = line;
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
/* Percent-decode @n bytes of @s into @buf (NUL-terminated). Returns 0 or -EINVAL. */
static int url_decode(const char *s, size_t n, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -EINVAL;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= size)
			return -EINVAL;
		buf[o++] = c;
	}
	buf[o] = '\0';
	return 0;
}

int http_parse_profile_target(const char *target, struct http_profile_request *ret, char *err, size_t err_size)
{
	static const char path[] = "/debug/pprof/profile";
	struct http_profile_request req = { .seconds = HTTP_DEFAULT_SECONDS };
	const char *q = strchr(target, '?');
	size_t path_len = q ? (size_t)(q - target) : strlen(target);

	if (path_len != sizeof(path) - 1 || memcmp(target, path, path_len))
		return -ENOENT;
	while (q && *q) {
		const char *param = q + 1, *end = strchr(param, '&'), *eq;
		char key[32], value[256];
		unsigned long v;

		if (!end)
			end = param + strlen(param);
		q = *end ? end : NULL;
		if (end == param)
			continue;
		eq = memchr(param, '=', (size_t)(end - param));
		if (!eq || url_decode(param, (size_t)(eq - param), key, sizeof(key)) < 0 ||
		    url_decode(eq + 1, (size_t)(end - eq - 1), value, sizeof(value)) < 0) {
			snprintf(err, err_size, "malformed query parameter '%.*s'", (int)(end - param), param);
			return -EINVAL;
		}
		if (!strcmp(key, "seconds")) {
			if (parse_uint(value, 1, HTTP_MAX_SECONDS, &v) < 0) {
				snprintf(err, err_size, "invalid seconds '%s': give a whole number from 1 to %d", value,
					 HTTP_MAX_SECONDS);
				return -EINVAL;
			}
			req.seconds = (unsigned int)v;
		} else if (!strcmp(key, "pid")) {
			if (parse_uint(value, 1, INT32_MAX, &v) < 0) {
				snprintf(err, err_size, "invalid pid '%s': give a positive process id", value);
				return -EINVAL;
			}
			req.pid = (pid_t)v;
		} else if (!strcmp(key, "comm")) {
			if (!*value || strlen(value) >= sizeof(req.comm)) {
				snprintf(err, err_size, "invalid comm '%s': give a process name of 1 to 15 bytes", value);
				return -EINVAL;
			}
			strcpy(req.comm, value);
		} else if (!strcmp(key, "container")) {
			if (!*value || strlen(value) >= sizeof(req.container) ||
			    strspn(value, "0123456789abcdef") != strlen(value)) {
				snprintf(err, err_size, "invalid container '%s': give its hex id or a prefix of it", value);
				return -EINVAL;
			}
			strcpy(req.container, value);
		} else {
			snprintf(err, err_size, "unknown query parameter '%s' (seconds, pid, comm, container)", key);
			return -EINVAL;
		}
	}
	*ret = req;
	return 0;
}
