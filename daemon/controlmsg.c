// SPDX-License-Identifier: MIT
#include "controlmsg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "cleanup.h"

static void request_freep(Hearth__Control__Request **req)
{
	if (*req)
		hearth__control__request__free_unpacked(*req, NULL);
}

/*
 * Whether @m came with a field numbered 0, which protobuf does not allow:
 * protobuf-c 1.4 refuses it only when its tag takes one byte (0x00 to
 * 0x07), and keeps a longer form ("80 80 00") as an unknown field.
 */
static bool has_field_zero(const ProtobufCMessage *m)
{
	for (unsigned int i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0)
			return true;
	return false;
}

static int check_pid(uint32_t pid, const char *verb, char *err, size_t err_size)
{
	if (pid < 1 || pid > CONTROLMSG_MAX_PID) {
		snprintf(err, err_size, "invalid pid %u to %s: give a process id from 1 to %d", pid, verb,
			 CONTROLMSG_MAX_PID);
		return -EINVAL;
	}
	return 0;
}

int controlmsg_decode(const uint8_t *buf, size_t len, Hearth__Control__Request **ret, char *err,
		      size_t err_size)
{
	_cleanup_(request_freep) Hearth__Control__Request *req = NULL;
	const ProtobufCMessage *kind;
	int r;

	if (len > HEARTH_CONTROL_MAX_MESSAGE) {
		snprintf(err, err_size, "request too large: %zu bytes, at most %d", len, HEARTH_CONTROL_MAX_MESSAGE);
		return -E2BIG;
	}
	/* NULL for bytes that are not a Request, and when memory runs out: protobuf-c does not say which. */
	req = hearth__control__request__unpack(NULL, len, buf);
	if (!req) {
		snprintf(err, err_size, "malformed request");
		return -EPROTO;
	}
	switch (req->kind_case) {
	case HEARTH__CONTROL__REQUEST__KIND_ATTACH:
		kind = req->attach ? &req->attach->base : NULL;
		break;
	case HEARTH__CONTROL__REQUEST__KIND_DETACH:
		kind = req->detach ? &req->detach->base : NULL;
		break;
	case HEARTH__CONTROL__REQUEST__KIND_STATUS:
		kind = req->status ? &req->status->base : NULL;
		break;
	default:
		kind = NULL;
		break;
	}
	if (!kind) {
		snprintf(err, err_size, "malformed request: neither attach, detach nor status");
		return -EPROTO;
	}
	if (has_field_zero(&req->base) || has_field_zero(kind)) {
		snprintf(err, err_size, "malformed request: a field numbered 0");
		return -EPROTO;
	}
	if (req->kind_case == HEARTH__CONTROL__REQUEST__KIND_ATTACH)
		r = check_pid(req->attach->pid, "attach", err, err_size);
	else if (req->kind_case == HEARTH__CONTROL__REQUEST__KIND_DETACH)
		r = check_pid(req->detach->pid, "detach", err, err_size);
	else
		r = 0;
	if (r < 0)
		return r;
	*ret = TAKE_PTR(req);
	return 0;
}
