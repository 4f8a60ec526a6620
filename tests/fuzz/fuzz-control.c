// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: a packet on hearthd's control socket, as
 * controlmsg_decode() (daemon/controlmsg.c) takes it before the daemon acts
 * on it. Anyone in hearthd's control group can send these bytes. A request
 * let through must be one the handler can take as it is (a kind and its
 * message, a pid that is a pid_t above 0) and must survive being packed and
 * decoded again; a refusal must say why, in one line, and hand nothing out.
 * Leaks of a half-decoded message show under libFuzzer's LeakSanitizer.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controlmsg.h"

static uint32_t pid_of(const Hearth__Control__Request *req, bool *ret_container)
{
	switch (req->kind_case) {
	case HEARTH__CONTROL__REQUEST__KIND_ATTACH:
		*ret_container = req->attach->container;
		return req->attach->pid;
	case HEARTH__CONTROL__REQUEST__KIND_DETACH:
		*ret_container = req->detach->container;
		return req->detach->pid;
	case HEARTH__CONTROL__REQUEST__KIND_STATUS:
		if (!req->status)
			abort();
		*ret_container = false;
		return 0;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Hearth__Control__Request *req = (Hearth__Control__Request *)&req, *again = NULL;
	char err[512], tiny[4];
	uint8_t *packed;
	bool container, container2;
	uint32_t pid;
	size_t n;

	memset(err, 0x55, sizeof(err));
	if (controlmsg_decode(data, size, &req, err, sizeof(err)) < 0) {
		if (req != (Hearth__Control__Request *)&req || !memchr(err, '\0', sizeof(err)) || !err[0] ||
		    strchr(err, '\n'))
			abort();
		if (controlmsg_decode(data, size, &again, tiny, sizeof(tiny)) >= 0 || again ||
		    !memchr(tiny, '\0', sizeof(tiny)))
			abort();
		return 0;
	}
	if ((unsigned char)err[0] != 0x55)
		abort();
	pid = pid_of(req, &container);
	if (req->kind_case != HEARTH__CONTROL__REQUEST__KIND_STATUS && (pid < 1 || pid > INT32_MAX))
		abort();

	/* Packed again (no bigger than a packet) and decoded: the same request. */
	n = hearth__control__request__get_packed_size(req);
	if (n > HEARTH_CONTROL_MAX_MESSAGE || n > size)
		abort();
	packed = malloc(n ? n : 1);
	if (!packed)
		abort();
	hearth__control__request__pack(req, packed);
	if (controlmsg_decode(packed, n, &again, err, sizeof(err)) < 0 || again->kind_case != req->kind_case ||
	    pid_of(again, &container2) != pid || container2 != container)
		abort();
	hearth__control__request__free_unpacked(again, NULL);
	hearth__control__request__free_unpacked(req, NULL);
	free(packed);
	return 0;
}
