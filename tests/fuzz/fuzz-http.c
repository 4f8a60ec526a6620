// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: what a client of hearthd --http sends, as the server
 * takes it (daemon/httpreq.c): whether the head is whole, its request line,
 * and a profile request's target and query. The input is the connection's
 * buffer, at most one request head's worth; its start is also taken as a
 * target on its own, so the query parser sees bytes no request line has
 * carried. What is parsed must be the input's: each word of the request line
 * a whole word of its first line, and a profile request made back into a
 * query must parse to the same request.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpreq.h"

/* As the connection's buffer in http.c, which keeps one byte for a NUL. */
#define MAX_INPUT 8191

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Whether @word is a whole word of @len bytes of @in at or after *@from; *@from moves past it. */
static bool find_word(const char *in, size_t len, size_t *from, const char *word)
{
	size_t n = strlen(word);

	for (size_t i = *from; i + n <= len; i++)
		if ((i == 0 || is_space(in[i - 1])) && !memcmp(in + i, word, n) && (i + n == len || is_space(in[i + n]))) {
			*from = i + n;
			return true;
		}
	return false;
}

static void check_line(const char *in, size_t len)
{
	struct http_request_line line;
	size_t at = 0, start;

	memset(&line, 0x55, sizeof(line));
	if (http_parse_request_line(in, len, &line) < 0)
		return;
	if (!line.method[0] || !line.target[0] || strncmp(line.version, "HTTP/1.", 7) ||
	    strlen(line.method) >= sizeof(line.method) || strlen(line.target) >= sizeof(line.target) ||
	    strlen(line.version) >= sizeof(line.version))
		abort();
	/* The three words, in order, on the first line that is not blank. */
	while (at < len && is_space(in[at]))
		at++;
	start = at;
	if (!find_word(in, len, &at, line.method) || !find_word(in, len, &at, line.target) ||
	    !find_word(in, len, &at, line.version))
		abort();
	if (memchr(in + start, '\n', at - start))
		abort();
}

/* @s percent-encoded into @buf, every byte that is not a letter or a digit. */
static void encode(const char *s, char *buf, size_t size)
{
	size_t o = 0;

	for (; *s && o + 4 < size; s++)
		if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z'))
			buf[o++] = *s;
		else
			o += (size_t)snprintf(buf + o, size - o, "%%%02X", (unsigned char)*s);
	buf[o] = '\0';
}

static void check_target(const char *target)
{
	struct http_profile_request req, again;
	char err[512], tiny[8], comm[64], target2[512];
	int r;

	memset(&req, 0x55, sizeof(req));
	memset(err, 0x55, sizeof(err));
	r = http_parse_profile_target(target, &req, err, sizeof(err));
	if (r == -EINVAL) {
		if (!memchr(err, '\0', sizeof(err)) || !err[0])
			abort();
		if (http_parse_profile_target(target, &again, tiny, sizeof(tiny)) != -EINVAL || !memchr(tiny, '\0', sizeof(tiny)))
			abort();
		return;
	}
	if (r == -ENOENT)
		return;
	if (r != 0)
		abort();
	if (req.seconds < 1 || req.seconds > HTTP_MAX_SECONDS || req.pid < 0 || req.since_ns)
		abort();
	if (!memchr(req.comm, '\0', sizeof(req.comm)) || !memchr(req.container, '\0', sizeof(req.container)))
		abort();
	if (strspn(req.container, "0123456789abcdef") != strlen(req.container))
		abort();
	/* Back into a query, and parsed again. */
	encode(req.comm, comm, sizeof(comm));
	snprintf(target2, sizeof(target2), "/debug/pprof/profile?seconds=%u%s%.0d%s%s%s%s", req.seconds,
		 req.pid ? "&pid=" : "", req.pid, *comm ? "&comm=" : "", comm, *req.container ? "&container=" : "",
		 req.container);
	memset(&again, 0, sizeof(again));
	if (http_parse_profile_target(target2, &again, err, sizeof(err)) != 0 || again.seconds != req.seconds ||
	    again.pid != req.pid || strcmp(again.comm, req.comm) || strcmp(again.container, req.container))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request_line line;
	const char *in = (const char *)data;
	char *text;

	if (size > MAX_INPUT)
		size = MAX_INPUT;
	http_head_complete(in, size);
	check_line(in, size);
	if (http_parse_request_line(in, size, &line) == 0)
		check_target(line.target);

	/* The input as a target itself, up to a NUL, as the query parser takes a C string. */
	text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	check_target(text);
	free(text);
	return 0;
}
