/* SPDX-License-Identifier: MIT */
/*
 * One request of hearthd's control socket (proto/control.proto), from the
 * bytes of its packet to a message the daemon can act on: decoded, then
 * checked, so the handler never sees a request out of range. Nothing here
 * prints.
 */
#ifndef HEARTH_DAEMON_CONTROLMSG_H
#define HEARTH_DAEMON_CONTROLMSG_H

#include <stddef.h>
#include <stdint.h>

#include "hearth-control.h"

/* The largest pid a request may name: the wire's uint32 must fit pid_t. */
#define CONTROLMSG_MAX_PID INT32_MAX

/*
 * Decode @len bytes of @buf as one Request and check it: at most
 * HEARTH_CONTROL_MAX_MESSAGE bytes, one kind set with its message, no field
 * numbered 0, and for attach and detach a pid from 1 to CONTROLMSG_MAX_PID.
 * Fields this version does not know are let through, as protobuf wants. (A Request carries
 * no strings or repeated fields, so nothing else can be large.) Returns 0
 * with the request in *@ret, which the caller frees with
 * hearth__control__request__free_unpacked(NULL); or -E2BIG, -EPROTO (not a
 * Request, or no kind), -EINVAL (a field out of range) with a one-line
 * reason in @err. *@ret is untouched on failure, @err on success.
 */
int controlmsg_decode(const uint8_t *buf, size_t len, Hearth__Control__Request **ret, char *err,
		      size_t err_size);

#endif
