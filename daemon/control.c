// SPDX-License-Identifier: MIT
#include "control.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "controlmsg.h"

struct control {
	int fd;
	gid_t gid;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

int control__open(const char *path, gid_t gid, struct control **ret)
{
	_cleanup_free_ struct control *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1, probe = -1;
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
	if (chown(path, 0, gid) < 0 || chmod(path, gid ? 0660 : 0600) < 0 || listen(fd, 16) < 0) {
		r = -errno;
		unlink(path);
		return r;
	}
	c->fd = TAKE_FD(fd);
	c->gid = gid;
	strcpy(c->path, path);
	*ret = TAKE_PTR(c);
	return 0;
}

struct control *control__free(struct control *c)
{
	if (!c)
		return NULL;
	safe_close(c->fd);
	unlink(c->path);
	free(c);
	return NULL;
}

int control__fd(const struct control *c)
{
	return c->fd;
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

static void serve_one(struct control *c, int fd, control_handler_fn fn, void *ctx)
{
	Hearth__Control__Reply reply = HEARTH__CONTROL__REPLY__INIT;
	Hearth__Control__Request *req;
	struct timeval tv = { .tv_sec = 1 };
	_cleanup_free_ uint8_t *buf = malloc(HEARTH_CONTROL_MAX_MESSAGE);
	char err[512] = "";
	ssize_t n;

	if (!buf)
		return;
	/*
	 * Take the request off the socket before any reply, a refusal too: closing
	 * a unix socket with a message still queued resets the connection, and
	 * the peer would get ECONNRESET instead of the reason. A silent client
	 * holds the daemon at most a second.
	 */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(fd, buf, HEARTH_CONTROL_MAX_MESSAGE, 0);
	if (!peer_allowed(c, fd)) {
		reply.error = "permission denied: the control socket takes root or hearthd's group";
		send_reply(fd, &reply);
		return;
	}
	if (n < 0) {
		reply.error = "no request received";
		send_reply(fd, &reply);
		return;
	}
	if (controlmsg_decode(buf, (size_t)n, &req, err, sizeof(err)) < 0) {
		reply.error = err;
		send_reply(fd, &reply);
		return;
	}
	fn(ctx, req, &reply, err, sizeof(err));
	if (!reply.ok && (!reply.error || !*reply.error))
		reply.error = err[0] ? err : "refused";
	send_reply(fd, &reply);
	hearth__control__request__free_unpacked(req, NULL);
}

int control__serve(struct control *c, control_handler_fn fn, void *ctx)
{
	int answered = 0;

	for (;;) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return answered;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return -errno;
		}
		serve_one(c, fd, fn, ctx);
		close(fd);
		answered++;
	}
}
