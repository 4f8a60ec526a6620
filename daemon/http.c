// SPDX-License-Identifier: MIT
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "httpreq.h"
#include "log.h"
#include "parse.h"

#define HTTP_MAX_REQUEST 8192
#define HTTP_READ_TIMEOUT_NS (10ull * 1000000000ull)
#define HTTP_WRITE_TIMEOUT_NS (60ull * 1000000000ull)
/* A request whose data has not come this long after its time is answered 503. */
#define HTTP_WAIT_SLACK_NS (30ull * 1000000000ull)

enum conn_state {
	CONN_FREE = 0,
	CONN_READING,
	CONN_WAITING,
	CONN_WRITING,
};

struct http_conn {
	int fd;
	enum conn_state state;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC: read or write by then, else closed */
	char in[HTTP_MAX_REQUEST];
	size_t in_len;
	struct http_profile_request req;
	uint64_t wait_until_ns; /* CLOCK_REALTIME: give up waiting for data then */
	char *out;
	size_t out_len, out_off;
};

struct http_server {
	int listen_fd;
	int epoll_fd;
	struct http_conn conns[HTTP_MAX_CONNECTIONS];
	uint64_t counts[3]; /* 2xx, 4xx, 5xx */
};

static const char index_text[] =
	"hearthd profiles\n\n"
	"/debug/pprof/profile?seconds=N   CPU profile of the next N seconds (default 30, at most 3600),\n"
	"                                 as `go tool pprof` reads it; also pid=PID, comm=NAME and\n"
	"                                 container=ID (or a prefix of it) to keep only those samples\n";

static int parse_address(const char *address, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ret;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(address, ':'), *port_text;
	unsigned long port;
	size_t host_len;

	port_text = colon ? colon + 1 : address;
	host_len = colon ? (size_t)(colon - address) : 0;
	if (parse_uint(port_text, 1, 65535, &port) < 0 || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, address, host_len);
	host[host_len] = '\0';
	memset(ret, 0, sizeof(*ret));
	if (host_len == 0) {
		/* Loopback unless told otherwise: profiles reveal code paths. */
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*ret_len = sizeof(*in4);
		return 0;
	}
	if (host[0] == '[' && host_len > 2 && host[host_len - 1] == ']') {
		host[host_len - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
			return -EINVAL;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*ret_len = sizeof(*in6);
		return 0;
	}
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		return -EINVAL;
	in4->sin_family = AF_INET;
	in4->sin_port = htons((uint16_t)port);
	*ret_len = sizeof(*in4);
	return 0;
}

int http_server__open(const char *address, struct http_server **ret)
{
	_cleanup_(http_server__freep) struct http_server *s = calloc(1, sizeof(*s));
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };
	struct sockaddr_storage sa;
	socklen_t sa_len;
	int one = 1, r;

	if (!s)
		return -ENOMEM;
	s->listen_fd = s->epoll_fd = -1;
	for (size_t i = 0; i < HTTP_MAX_CONNECTIONS; i++)
		s->conns[i].fd = -1;
	r = parse_address(address, &sa, &sa_len);
	if (r < 0)
		return r;
	s->listen_fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return -errno;
	setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sa_len) < 0 || listen(s->listen_fd, 16) < 0)
		return -errno;
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epoll_fd < 0)
		return -errno;
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->listen_fd, &ev) < 0)
		return -errno;
	*ret = TAKE_PTR(s);
	return 0;
}

static void conn_close(struct http_conn *c)
{
	safe_close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

struct http_server *http_server__free(struct http_server *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < HTTP_MAX_CONNECTIONS; i++)
		if (s->conns[i].state != CONN_FREE)
			conn_close(&s->conns[i]);
	safe_close(s->listen_fd);
	safe_close(s->epoll_fd);
	free(s);
	return NULL;
}

int http_server__fd(const struct http_server *s)
{
	return s->epoll_fd;
}

void http_server__counts(const struct http_server *s, uint64_t *ret_ok, uint64_t *ret_client_err,
			 uint64_t *ret_server_err)
{
	*ret_ok = s->counts[0];
	*ret_client_err = s->counts[1];
	*ret_server_err = s->counts[2];
}

/* Queue a whole response on @c (the body is copied) and switch it to writing. */
static void conn_respond(struct http_server *s, struct http_conn *c, int status, const char *reason,
			 const char *type, const char *body, size_t body_len, char *owned_body)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			 "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
			 status, reason, type, body_len,
			 status == 200 && owned_body ? "Content-Disposition: attachment; filename=\"profile\"\r\n" : "");
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)(c - s->conns) + 1 };

	s->counts[status < 400 ? 0 : status < 500 ? 1 : 2]++;
	free(c->out);
	c->out = malloc((size_t)n + body_len);
	if (!c->out) {
		free(owned_body);
		conn_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)n);
	memcpy(c->out + n, body, body_len);
	free(owned_body);
	c->out_len = (size_t)n + body_len;
	c->out_off = 0;
	c->state = CONN_WRITING;
	c->deadline_ns = time_now_ns() + HTTP_WRITE_TIMEOUT_NS;
	if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		conn_close(c);
}

static void conn_error(struct http_server *s, struct http_conn *c, int status, const char *reason, const char *msg)
{
	char body[512];
	int n = snprintf(body, sizeof(body), "%s\n", msg);

	conn_respond(s, c, status, reason, "text/plain; charset=utf-8", body,
		     (size_t)(n < (int)sizeof(body) ? n : (int)sizeof(body) - 1), NULL);
}

/* A whole request head is in: answer it, or start waiting for its profile. */
static void conn_request(struct http_server *s, struct http_conn *c)
{
	struct http_request_line line;
	const char *method = line.method, *target = line.target;
	char err[512];
	int r;

	if (http_parse_request_line(c->in, c->in_len, &line) < 0) {
		conn_error(s, c, 400, "Bad Request", "malformed request line");
		return;
	}
	if (strcmp(method, "GET")) {
		conn_error(s, c, 405, "Method Not Allowed", "only GET");
		return;
	}
	if (!strcmp(target, "/") || !strcmp(target, "/debug/pprof/") || !strcmp(target, "/debug/pprof")) {
		conn_respond(s, c, 200, "OK", "text/plain; charset=utf-8", index_text, sizeof(index_text) - 1, NULL);
		return;
	}
	r = http_parse_profile_target(target, &c->req, err, sizeof(err));
	if (r == -ENOENT) {
		conn_error(s, c, 404, "Not Found", "no such endpoint: see /debug/pprof/");
		return;
	}
	if (r < 0) {
		conn_error(s, c, 400, "Bad Request", err);
		return;
	}
	c->req.since_ns = time_realtime_ns();
	c->wait_until_ns = c->req.since_ns + c->req.seconds * 1000000000ull + HTTP_WAIT_SLACK_NS;
	c->state = CONN_WAITING;
	c->deadline_ns = UINT64_MAX;
}

static void conn_readable(struct http_server *s, struct http_conn *c)
{
	char scratch[512];
	ssize_t n;

	if (c->state == CONN_WAITING) {
		/* Nothing more is expected; a read of 0 means the client went away. */
		n = read(c->fd, scratch, sizeof(scratch));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	if (c->state != CONN_READING)
		return;
	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	if (http_head_complete(c->in, c->in_len))
		conn_request(s, c);
	else if (c->in_len == sizeof(c->in) - 1)
		conn_error(s, c, 431, "Request Header Fields Too Large", "request head too large");
}

static void conn_writable(struct http_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	conn_close(c);
}

static void server_accept(struct http_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		struct http_conn *c = NULL;

		if (fd < 0)
			return;
		for (size_t i = 0; i < HTTP_MAX_CONNECTIONS && !c; i++)
			if (s->conns[i].state == CONN_FREE)
				c = &s->conns[i];
		if (!c) {
			static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
						   "Connection: close\r\n\r\n";

			/* Best effort, never blocking: too many clients at once. */
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				log_debug("http: cannot answer 503: %m");
			s->counts[2]++;
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = CONN_READING;
		c->in_len = 0;
		c->deadline_ns = time_now_ns() + HTTP_READ_TIMEOUT_NS;
		ev.data.u32 = (uint32_t)(c - s->conns) + 1;
		if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
			conn_close(c);
	}
}

int http_server__dispatch(struct http_server *s, uint64_t covered_ns, http_render_fn render, void *ctx)
{
	struct epoll_event evs[HTTP_MAX_CONNECTIONS + 1];
	uint64_t now = time_now_ns(), wall = time_realtime_ns();
	int n = epoll_wait(s->epoll_fd, evs, HTTP_MAX_CONNECTIONS + 1, 0);

	if (n < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct http_conn *c;

		if (evs[i].data.u32 == 0) {
			server_accept(s);
			continue;
		}
		c = &s->conns[evs[i].data.u32 - 1];
		if (c->state == CONN_FREE)
			continue;
		if (c->state == CONN_WRITING && (evs[i].events & EPOLLOUT))
			conn_writable(c);
		else if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			conn_readable(s, c);
	}
	for (size_t i = 0; i < HTTP_MAX_CONNECTIONS; i++) {
		struct http_conn *c = &s->conns[i];
		char *body = NULL;
		size_t len = 0;
		int r;

		if (c->state == CONN_FREE)
			continue;
		if (now > c->deadline_ns) {
			conn_close(c);
			continue;
		}
		if (c->state != CONN_WAITING)
			continue;
		if (covered_ns < c->req.since_ns + c->req.seconds * 1000000000ull) {
			if (wall > c->wait_until_ns)
				conn_error(s, c, 503, "Service Unavailable", "no profile data came in time");
			continue;
		}
		r = render(ctx, &c->req, &body, &len);
		if (r < 0) {
			char msg[128];

			snprintf(msg, sizeof(msg), "cannot make the profile: %s", strerror(-r));
			conn_error(s, c, 500, "Internal Server Error", msg);
			continue;
		}
		conn_respond(s, c, 200, "OK", "application/octet-stream", body, len, body);
	}
	return 0;
}
