/* SPDX-License-Identifier: MIT */
/*
 * hearthd's control socket: a Unix SOCK_SEQPACKET socket (mode 0600, 0660
 * with a group) where each connection carries one protobuf Request
 * (proto/control.proto) and gets one Reply. Peers that are neither root nor
 * in the configured group (primary or supplementary) are refused without
 * their request being parsed; a malformed request is answered with an
 * error. Nothing here prints.
 */
#ifndef HEARTH_DAEMON_CONTROL_H
#define HEARTH_DAEMON_CONTROL_H

#include <stddef.h>
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

/* The listening fd, to poll for connections. */
int control__fd(const struct control *c);

/*
 * Accept the waiting connections and answer each. Returns how many were
 * answered (refused ones included), or -errno for a failure of the socket
 * itself; a bad peer or message never makes it fail.
 */
int control__serve(struct control *c, control_handler_fn fn, void *ctx);

#endif
