// SPDX-License-Identifier: MIT
#include "control.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "controlmsg.h"

/* Connections served at once; more wait in the listen backlog. */
#define CONTROL_MAX_CONNS 16
/* How long a connection has to send its request. */
#define CONTROL_REQUEST_TIMEOUT_NS 1000000000ull
/* How long accepting stops after it failed (out of descriptors). */
#define CONTROL_PAUSE_NS 100000000ull

/* A connection that has not sent its request yet. */
struct control_conn {
	int fd;            /* -1: free */
	uint64_t deadline; /* CLOCK_MONOTONIC: answered "no request received" then */
};

struct control {
	int fd;
	int epfd;     /* the listening socket and the connections, for the caller to poll */
	bool listening; /* the listening socket is in epfd's interest */
	gid_t gid;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_conn *conns;
	size_t nr_conns;
	uint64_t paused_until;
	struct control_counts counts;
	int last_accept_errno;
	uint8_t *buf; /* HEARTH_CONTROL_MAX_MESSAGE */
};

int control__open(const char *path, gid_t gid, struct control **ret)
{
	_cleanup_free_ struct control *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1, probe = -1, epfd = -1;
	_cleanup_free_ struct control_conn *conns = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	struct epoll_event ev = { .events = EPOLLIN };
	mode_t mask;
	int r;

	if (!c)
		return -ENOMEM;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* A socket file left by a daemon that died is replaced; a live one is not. */
	probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return -EADDRINUSE;
	unlink(path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	mask = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(mask);
	if (r < 0)
		return -errno;
	conns = calloc(CONTROL_MAX_CONNS, sizeof(*conns));
	buf = malloc(HEARTH_CONTROL_MAX_MESSAGE);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = fd;
	if (chown(path, 0, gid) < 0 || chmod(path, gid ? 0660 : 0600) < 0 || listen(fd, 16) < 0 ||
	    epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 || !conns || !buf) {
		r = !conns || !buf ? -ENOMEM : -errno;
		unlink(path);
		return r;
	}
	for (size_t i = 0; i < CONTROL_MAX_CONNS; i++)
		conns[i].fd = -1;
	c->fd = TAKE_FD(fd);
	c->epfd = TAKE_FD(epfd);
	c->conns = TAKE_PTR(conns);
	c->buf = TAKE_PTR(buf);
	c->listening = true;
	c->gid = gid;
	strcpy(c->path, path);
	*ret = TAKE_PTR(c);
	return 0;
}

struct control *control__free(struct control *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < CONTROL_MAX_CONNS; i++)
		safe_close(c->conns[i].fd);
	safe_close(c->epfd);
	safe_close(c->fd);
	unlink(c->path);
	free(c->conns);
	free(c->buf);
	free(c);
	return NULL;
}

int control__fd(const struct control *c)
{
	return c->epfd;
}

/*
 * Whether the peer of @fd had @gid among its supplementary groups when it
 * connected: SO_PEERGROUPS, taken at connect() as SO_PEERCRED is.
 */
static bool peer_in_group(int fd, gid_t gid)
{
	_cleanup_free_ gid_t *big = NULL;
	gid_t small[64], *groups = small;
	socklen_t len = sizeof(small);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		/* ERANGE: more groups than fit; len says how many bytes they take. */
		if (errno != ERANGE || len > NGROUPS_MAX * sizeof(gid_t))
			return false;
		big = malloc(len);
		if (!big)
			return false;
		groups = big;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
			return false;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static bool peer_allowed(const struct control *c, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	if (cred.uid == 0)
		return true;
	return c->gid && (cred.gid == c->gid || peer_in_group(fd, c->gid));
}

static void send_reply(int fd, const Hearth__Control__Reply *reply)
{
	size_t n = hearth__control__reply__get_packed_size(reply);
	_cleanup_free_ uint8_t *buf = n <= HEARTH_CONTROL_MAX_MESSAGE ? malloc(n ? n : 1) : NULL;

	if (!buf)
		return;
	hearth__control__reply__pack(reply, buf);
	/* A peer that went away is its own business. */
	(void)!send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Answer the request in @buf (@n bytes, or @n < 0: none came) on @fd. */
static void answer(struct control *c, int fd, const uint8_t *buf, ssize_t n, control_handler_fn fn, void *ctx)
{
	Hearth__Control__Reply reply = HEARTH__CONTROL__REPLY__INIT;
	Hearth__Control__Request *req;
	char err[512] = "";

	/*
	 * The request was taken off the socket before any reply, a refusal too:
	 * closing a unix socket with a message still queued resets the
	 * connection, and the peer would get ECONNRESET instead of the reason.
	 */
	if (!peer_allowed(c, fd)) {
		c->counts.refused++;
		reply.error = "permission denied: the control socket takes root or hearthd's group";
		send_reply(fd, &reply);
		return;
	}
	if (n < 0) {
		c->counts.timed_out++;
		reply.error = "no request received";
		send_reply(fd, &reply);
		return;
	}
	if (controlmsg_decode(buf, (size_t)n, &req, err, sizeof(err)) < 0) {
		c->counts.malformed++;
		reply.error = err;
		send_reply(fd, &reply);
		return;
	}
	fn(ctx, req, &reply, err, sizeof(err));
	if (!reply.ok && (!reply.error || !*reply.error))
		reply.error = err[0] ? err : "refused";
	send_reply(fd, &reply);
	c->counts.answered++;
	hearth__control__request__free_unpacked(req, NULL);
}

static void conn_close(struct control *c, struct control_conn *k)
{
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, k->fd, NULL);
	close(k->fd);
	k->fd = -1;
	c->nr_conns--;
}

/* Take the request of @k if it came (or its time is up) and answer it. */
static void conn_serve(struct control *c, struct control_conn *k, uint64_t now, control_handler_fn fn, void *ctx)
{
	ssize_t n = recv(k->fd, c->buf, HEARTH_CONTROL_MAX_MESSAGE, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && now < k->deadline)
		return;
	/* 0: the peer went away without a word (or sent an empty message). */
	if (n == 0) {
		c->counts.vanished++;
		conn_close(c, k);
		return;
	}
	answer(c, k->fd, c->buf, n, fn, ctx);
	conn_close(c, k);
}

/* Listen for new connections, or stop while full or out of descriptors. */
static void listen_watch(struct control *c, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.fd = c->fd };

	if (on != c->listening && epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->listening = on;
}

static void accept_all(struct control *c, uint64_t now)
{
	while (c->nr_conns < CONTROL_MAX_CONNS) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		struct control_conn *k = NULL;
		int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* Out of descriptors or memory: try again in a while, not in a spin. */
				c->counts.accept_failed++;
				c->last_accept_errno = errno;
				c->paused_until = now + CONTROL_PAUSE_NS;
				listen_watch(c, false);
			}
			return;
		}
		for (size_t i = 0; i < CONTROL_MAX_CONNS && !k; i++)
			if (c->conns[i].fd < 0)
				k = &c->conns[i];
		ev.data.fd = fd;
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			c->counts.accept_failed++;
			c->last_accept_errno = errno;
			close(fd);
			return;
		}
		k->fd = fd;
		k->deadline = now + CONTROL_REQUEST_TIMEOUT_NS;
		c->nr_conns++;
	}
	/* Full: the rest wait in the backlog until a connection is done. */
	c->counts.full++;
	listen_watch(c, false);
}

int control__serve(struct control *c, control_handler_fn fn, void *ctx)
{
	struct epoll_event evs[CONTROL_MAX_CONNS + 1];
	uint64_t now = mono_ns(), before = c->counts.answered;
	int n = epoll_wait(c->epfd, evs, CONTROL_MAX_CONNS + 1, 0);

	if (n < 0 && errno != EINTR)
		return -errno;
	if (c->nr_conns < CONTROL_MAX_CONNS && now >= c->paused_until)
		listen_watch(c, true);
	if (c->listening)
		accept_all(c, now);
	/* Every connection each turn: a quiet one may be past its time. */
	for (size_t i = 0; i < CONTROL_MAX_CONNS; i++)
		if (c->conns[i].fd >= 0)
			conn_serve(c, &c->conns[i], now, fn, ctx);
	if (c->nr_conns < CONTROL_MAX_CONNS && now >= c->paused_until)
		listen_watch(c, true);
	return (int)(c->counts.answered - before);
}

void control__counts(const struct control *c, struct control_counts *ret, int *ret_errno)
{
	*ret = c->counts;
	if (ret_errno)
		*ret_errno = c->last_accept_errno;
}
