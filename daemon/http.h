/* SPDX-License-Identifier: MIT */
/*
 * hearthd's HTTP endpoint, as a Go service's net/http/pprof: `GET
 * /debug/pprof/profile?seconds=N` answers, N seconds later, with a gzip
 * pprof profile of those seconds, so `go tool pprof http://HOST:PORT/...`
 * works against hearthd. A small non-blocking HTTP/1.1 server, one request
 * per connection; the daemon supplies the profile.
 */
#ifndef HEARTH_HTTP_H
#define HEARTH_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_CONNECTIONS 32
#define HTTP_DEFAULT_SECONDS 30
#define HTTP_MAX_SECONDS 3600

/* What a profile request asks for. */
struct http_profile_request {
	uint64_t since_ns;  /* CLOCK_REALTIME when the request came */
	unsigned int seconds;
	pid_t pid;          /* 0: every process */
	char comm[16];      /* "": every name */
	char container[65]; /* "": everywhere; else a container id or a prefix */
};

/*
 * Render the profile @req asks for: a malloc'ed body in *@ret (the caller
 * frees it) and its length. Returns 0 or -errno (the client gets a 500).
 */
typedef int (*http_render_fn)(void *ctx, const struct http_profile_request *req, char **ret, size_t *ret_len);

struct http_server;

/*
 * Listen on @address: "HOST:PORT", "[IPV6]:PORT", or ":PORT" / "PORT" for
 * 127.0.0.1. Returns 0, -EINVAL (not an address), -EADDRINUSE or -errno.
 */
int http_server__open(const char *address, struct http_server **ret);
struct http_server *http_server__free(struct http_server *s);
static inline void http_server__freep(struct http_server **s)
{
	http_server__free(*s);
}

/* An fd (an epoll set) that polls readable when the server has work. */
int http_server__fd(const struct http_server *s);

/*
 * Accept, read and write whatever is ready, and answer the profile requests
 * whose time is up once data up to @covered_ns (CLOCK_REALTIME, the end of
 * the newest slot written) covers them, through @render. Also closes
 * connections idle for too long. Returns 0 or -errno (fatal only).
 */
int http_server__dispatch(struct http_server *s, uint64_t covered_ns, http_render_fn render, void *ctx);

/* Requests answered so far, by status class: 200s, 400s, 500s. */
void http_server__counts(const struct http_server *s, uint64_t *ret_ok, uint64_t *ret_client_err,
			 uint64_t *ret_server_err);

#endif
