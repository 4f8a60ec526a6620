/* SPDX-License-Identifier: MIT */
/* What both ends of hearthd's control socket agree on besides the messages (control.proto). */
#ifndef HEARTH_CONTROL_PROTO_H
#define HEARTH_CONTROL_PROTO_H

#include "control.pb-c.h"

#define HEARTH_CONTROL_DEFAULT_PATH "/run/hearthd.sock"
/* Largest request or reply, in bytes: one SOCK_SEQPACKET packet. */
#define HEARTH_CONTROL_MAX_MESSAGE (256 * 1024)

#endif
