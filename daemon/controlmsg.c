// SPDX-License-Identifier: MIT
#include "controlmsg.h"

#include <errno.h>
#include <stdio.h>

#include "cleanup.h"

static void request_freep(Hearth__Control__Request **req)
{
	if (*req)
		hearth__control__request__free_unpacked(*req, NULL);
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
		r = req->attach ? check_pid(req->attach->pid, "attach", err, err_size) : -EPROTO;
		break;
	case HEARTH__CONTROL__REQUEST__KIND_DETACH:
		r = req->detach ? check_pid(req->detach->pid, "detach", err, err_size) : -EPROTO;
		break;
	case HEARTH__CONTROL__REQUEST__KIND_STATUS:
		r = req->status ? 0 : -EPROTO;
		break;
	default:
		r = -EPROTO;
		break;
	}
	if (r == -EPROTO)
		snprintf(err, err_size, "malformed request: neither attach, detach nor status");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(req);
	return 0;
}
