// SPDX-License-Identifier: MIT
/*
 * Writes the corpus of fuzz-control.c into the directory given: the requests
 * `hearth attach/detach/status` send, packed by protobuf-c as they pack
 * them, and the forms hearthd must refuse (no kind, pid 0, a pid above
 * pid_t's range, a field numbered 0) or must still take (a later kind
 * overriding an earlier one, a field this version does not know).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hearth-control.h"

static const char *dir;

static void write_bytes(const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* @req packed, then @extra_len bytes of @extra after it. */
static void write_request(const char *name, const Hearth__Control__Request *req, const uint8_t *extra,
			  size_t extra_len)
{
	uint8_t buf[256];
	size_t n = hearth__control__request__get_packed_size(req);

	if (n + extra_len > sizeof(buf))
		abort();
	hearth__control__request__pack(req, buf);
	memcpy(buf + n, extra, extra_len);
	write_bytes(name, buf, n + extra_len);
}

static void write_pid(const char *name, Hearth__Control__Request__KindCase kind, uint32_t pid, int container,
		      const uint8_t *extra, size_t extra_len)
{
	Hearth__Control__Request req = HEARTH__CONTROL__REQUEST__INIT;
	Hearth__Control__Attach attach = HEARTH__CONTROL__ATTACH__INIT;
	Hearth__Control__Detach detach = HEARTH__CONTROL__DETACH__INIT;

	req.kind_case = kind;
	if (kind == HEARTH__CONTROL__REQUEST__KIND_ATTACH) {
		attach.pid = pid;
		attach.container = container;
		req.attach = &attach;
	} else {
		detach.pid = pid;
		detach.container = container;
		req.detach = &detach;
	}
	write_request(name, &req, extra, extra_len);
}

int main(int argc, char **argv)
{
	Hearth__Control__Request req = HEARTH__CONTROL__REQUEST__INIT;
	Hearth__Control__Status status = HEARTH__CONTROL__STATUS__INIT;
	const Hearth__Control__Request__KindCase attach = HEARTH__CONTROL__REQUEST__KIND_ATTACH;
	const Hearth__Control__Request__KindCase detach = HEARTH__CONTROL__REQUEST__KIND_DETACH;
	/* Field 4 (varint 1) and field 15 (a 3-byte string): unknown to this version. */
	static const uint8_t unknown[] = { 0x20, 0x01, 0x7a, 0x03, 'n', 'e', 'w' };
	/* A detach for pid 7 (field 2, length 2: field 1 = 7), to follow another kind. */
	static const uint8_t then_detach[] = { 0x12, 0x02, 0x08, 0x07 };
	static const uint8_t field_zero[] = { 0x0a, 0x08, 0x08, 0x80, 0x08, 0x80, 0x80, 0x00, 0x80, 0x01 };

	if (argc != 2) {
		fprintf(stderr, "usage: control-corpus DIR\n");
		return 1;
	}
	dir = argv[1];
	write_request("empty", &req, NULL, 0);
	req.kind_case = HEARTH__CONTROL__REQUEST__KIND_STATUS;
	req.status = &status;
	write_request("status", &req, NULL, 0);
	write_request("status-unknown-fields", &req, unknown, sizeof(unknown));
	write_pid("attach", attach, 4242, 0, NULL, 0);
	write_pid("attach-container", attach, 4242, 1, NULL, 0);
	write_pid("attach-pid-1", attach, 1, 0, NULL, 0);
	write_pid("attach-pid-max", attach, INT32_MAX, 0, NULL, 0);
	write_pid("attach-pid-0", attach, 0, 0, NULL, 0);
	write_pid("attach-pid-negative", attach, (uint32_t)INT32_MAX + 1, 1, NULL, 0);
	write_pid("detach", detach, 4242, 0, NULL, 0);
	write_pid("detach-container", detach, 4242, 1, NULL, 0);
	write_pid("detach-pid-all-ones", detach, UINT32_MAX, 0, NULL, 0);
	write_pid("attach-then-detach", attach, 4242, 1, then_detach, sizeof(then_detach));
	write_pid("attach-unknown-fields", attach, 99, 0, unknown, sizeof(unknown));
	/* What libFuzzer found: an attach with field 0 in a 3-byte tag, which protobuf-c let through. */
	write_bytes("attach-field-zero", field_zero, sizeof(field_zero));
	return 0;
}
