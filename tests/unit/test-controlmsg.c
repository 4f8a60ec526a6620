// SPDX-License-Identifier: MIT
/*
 * hearthd's control requests (daemon/controlmsg.c): packets packed by
 * protobuf-c as `hearth attach/detach/status` packs them decode; bytes that
 * are not a request, a request with no kind, a field numbered 0, a pid out
 * of range or a packet too large are refused with a reason.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "controlmsg.h"

/* Pack @req into @buf; returns the length. */
static size_t pack(const Hearth__Control__Request *req, uint8_t *buf)
{
	return hearth__control__request__pack(req, buf);
}

static void test_good(void)
{
	Hearth__Control__Request req = HEARTH__CONTROL__REQUEST__INIT, *got = NULL;
	Hearth__Control__Attach attach = HEARTH__CONTROL__ATTACH__INIT;
	Hearth__Control__Detach detach = HEARTH__CONTROL__DETACH__INIT;
	Hearth__Control__Status status = HEARTH__CONTROL__STATUS__INIT;
	uint8_t buf[256];
	char err[160] = "";
	size_t n;

	attach.pid = 4242;
	attach.container = 1;
	req.kind_case = HEARTH__CONTROL__REQUEST__KIND_ATTACH;
	req.attach = &attach;
	n = pack(&req, buf);
	CHECK_INT(controlmsg_decode(buf, n, &got, err, sizeof(err)), 0);
	CHECK_TRUE(got && got->kind_case == HEARTH__CONTROL__REQUEST__KIND_ATTACH);
	if (got) {
		CHECK_INT(got->attach->pid, 4242);
		CHECK_INT(got->attach->container, 1);
		hearth__control__request__free_unpacked(got, NULL);
	}

	detach.pid = CONTROLMSG_MAX_PID;
	req.kind_case = HEARTH__CONTROL__REQUEST__KIND_DETACH;
	req.detach = &detach;
	got = NULL;
	n = pack(&req, buf);
	CHECK_INT(controlmsg_decode(buf, n, &got, err, sizeof(err)), 0);
	CHECK_TRUE(got && got->kind_case == HEARTH__CONTROL__REQUEST__KIND_DETACH && got->detach->pid == CONTROLMSG_MAX_PID);
	if (got)
		hearth__control__request__free_unpacked(got, NULL);

	req.kind_case = HEARTH__CONTROL__REQUEST__KIND_STATUS;
	req.status = &status;
	got = NULL;
	n = pack(&req, buf);
	CHECK_INT(controlmsg_decode(buf, n, &got, err, sizeof(err)), 0);
	CHECK_TRUE(got && got->kind_case == HEARTH__CONTROL__REQUEST__KIND_STATUS);
	if (got)
		hearth__control__request__free_unpacked(got, NULL);

	/* A field this version does not know (Status, field 9, varint 1) is let through. */
	{
		static const uint8_t unknown[] = { 0x1a, 0x02, 0x48, 0x01 };

		got = NULL;
		CHECK_INT(controlmsg_decode(unknown, sizeof(unknown), &got, err, sizeof(err)), 0);
		CHECK_TRUE(got && got->kind_case == HEARTH__CONTROL__REQUEST__KIND_STATUS);
		if (got)
			hearth__control__request__free_unpacked(got, NULL);
	}
}

static void test_bad(void)
{
	Hearth__Control__Request req = HEARTH__CONTROL__REQUEST__INIT, *got = NULL;
	Hearth__Control__Attach attach = HEARTH__CONTROL__ATTACH__INIT;
	static const uint8_t garbage[] = { 0xff, 0xff, 0xff };
	/* Attach { pid 1, field 0 = 1 with its tag in the three-byte form protobuf-c keeps as unknown } */
	static const uint8_t zero[] = { 0x0a, 0x06, 0x08, 0x01, 0x80, 0x80, 0x00, 0x01 };
	static uint8_t big[HEARTH_CONTROL_MAX_MESSAGE + 1];
	uint8_t buf[64];
	char err[160] = "";

	CHECK_INT(controlmsg_decode(garbage, sizeof(garbage), &got, err, sizeof(err)), -EPROTO);
	CHECK_STR(err, "malformed request");
	/* An empty request is a valid protobuf message with no kind. */
	CHECK_INT(controlmsg_decode(buf, pack(&req, buf), &got, err, sizeof(err)), -EPROTO);
	CHECK_STR(err, "malformed request: neither attach, detach nor status");
	CHECK_INT(controlmsg_decode(zero, sizeof(zero), &got, err, sizeof(err)), -EPROTO);
	CHECK_STR(err, "malformed request: a field numbered 0");
	CHECK_INT(controlmsg_decode(big, sizeof(big), &got, err, sizeof(err)), -E2BIG);

	req.kind_case = HEARTH__CONTROL__REQUEST__KIND_ATTACH;
	req.attach = &attach;
	attach.pid = 0;
	CHECK_INT(controlmsg_decode(buf, pack(&req, buf), &got, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "invalid pid 0 to attach: give a process id from 1 to 2147483647");
	attach.pid = (uint32_t)CONTROLMSG_MAX_PID + 1;
	CHECK_INT(controlmsg_decode(buf, pack(&req, buf), &got, err, sizeof(err)), -EINVAL);
	CHECK_TRUE(got == NULL);
}

int main(void)
{
	test_good();
	test_bad();
	return check_finish("test-controlmsg");
}
