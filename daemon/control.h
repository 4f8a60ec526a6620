/* SPDX-License-Identifier: MIT */
/*
 * hearthd's control socket: a Unix SOCK_SEQPACKET socket (mode 0600, 0660
 * with a group) where each connection carries one protobuf Request
 * (proto/control.proto) and gets one Reply. Connections are served without
 * blocking, up to 16 at once (more wait in the backlog); one that sends
 * nothing for a second is answered "no request received" and closed, so a
 * client that stalls, vanishes or floods holds up nothing else. Peers that are neither root nor
 * in the configured group (primary or supplementary) are refused without
 * their request being parsed; a malformed request is answered with an
 * error. Nothing here prints.
 */
#ifndef HEARTH_DAEMON_CONTROL_H
#define HEARTH_DAEMON_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hearth-control.h"

struct control;

/*
 * Answer @req into @reply (reply->ok, and reply->error or reply->status); an
 * error text goes in @err (it outlives the call until the reply is sent).
 */
typedef void (*control_handler_fn)(void *ctx, const Hearth__Control__Request *req,
				   Hearth__Control__Reply *reply, char *err, size_t err_size);

/*
 * Listen at @path (an old socket there is replaced), letting in root and
 * group @gid (0: root only). Returns 0, -EADDRINUSE when another daemon
 * answers there, or -errno.
 */
int control__open(const char *path, gid_t gid, struct control **ret);
struct control *control__free(struct control *c);
static inline void control__freep(struct control **c)
{
	control__free(*c);
}

/* What became of the connections, since the start. */
struct control_counts {
	uint64_t answered;      /* requests handed to the handler */
	uint64_t refused;       /* peers neither root nor in the group */
	uint64_t malformed;     /* requests that did not decode */
	uint64_t timed_out;     /* connections that sent nothing in time */
	uint64_t vanished;      /* peers that closed without a request */
	uint64_t accept_failed; /* accept() failures (out of descriptors): accepting pauses 100 ms */
	uint64_t full;          /* times all connection slots were taken */
};

/* An fd to poll (readable when a connection or a request waits). */
int control__fd(const struct control *c);

/*
 * Accept what waits, take the requests that came and answer them, and
 * answer those whose time is up; call when control__fd() is readable and
 * at least every 100 ms. Returns how many requests were answered, or -errno
 * when polling itself failed; a bad peer or message never makes it fail.
 */
int control__serve(struct control *c, control_handler_fn fn, void *ctx);

/* The counts, and the errno of the last failed accept (0: none). */
void control__counts(const struct control *c, struct control_counts *ret, int *ret_errno);

#endif
