/* SPDX-License-Identifier: MIT */
/*
 * The parsing half of hearthd's HTTP endpoint (http.c): where a request head
 * ends, its request line, and a profile request's target and query. Pure
 * functions on bytes a client sent, no sockets, so that a fuzz harness
 * (tests/fuzz/fuzz-http.c) reaches them as the server does.
 */
#ifndef HEARTH_HTTPREQ_H
#define HEARTH_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

/* The three words of a request line, each NUL-terminated. */
struct http_request_line {
	char method[16];
	char target[2048];
	char version[16];
};

/* True when @len bytes of @in hold a whole request head (its blank line, CRLF or LF). */
bool http_head_complete(const char *in, size_t len);

/*
 * Parse the request line at the start of @len bytes of @in (a head, with
 * whatever follows it; blank lines before it are skipped) into @ret: method,
 * target and a version "HTTP/1.*", separated by blanks. Returns 0, or
 * -EINVAL (a NUL byte, fewer than three words on the line, a word longer
 * than its field, another version); *@ret is untouched on failure.
 */
int http_parse_request_line(const char *in, size_t len, struct http_request_line *ret);

/*
 * Parse a request's target ("/debug/pprof/profile?seconds=5&pid=42") into
 * @ret. Returns 0, -ENOENT (another path), or -EINVAL with a one-line reason
 * in @err.
 */
int http_parse_profile_target(const char *target, struct http_profile_request *ret, char *err, size_t err_size);

#endif
