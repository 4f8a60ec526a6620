// SPDX-License-Identifier: MIT
#include "unwind-snapshot.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"

#define SNAPSHOT_MAX (16u << 20)

static int read_file(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	long size;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		return -errno;
	if ((unsigned long)size > SNAPSHOT_MAX)
		return -EFBIG;
	buf = malloc((size_t)size + 1);
	if (!buf)
		return -ENOMEM;
	if (fread(buf, 1, (size_t)size, f) != (size_t)size)
		return -EIO;
	buf[size] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = (size_t)size;
	return 0;
}

static int run_fixture(const char *fixture, const char *mode, const char *prefix)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl(fixture, fixture, mode, prefix, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

int fixture_snapshot__take(const char *fixture, const char *mode, struct fixture_snapshot *ret)
{
	char dir[] = "/tmp/hearth-unwind-XXXXXX";
	char prefix[PATH_MAX], path[PATH_MAX + 8];
	_cleanup_free_ char *snap = NULL;
	struct fixture_snapshot s = { 0 };
	size_t snap_len;
	uint64_t len;
	int r;

	if (!mkdtemp(dir))
		return -errno;
	snprintf(prefix, sizeof(prefix), "%s/%s", dir, mode);
	r = run_fixture(fixture, mode, prefix);
	if (r == 0) {
		snprintf(path, sizeof(path), "%s.snap", prefix);
		r = read_file(path, &snap, &snap_len);
		unlink(path);
	}
	if (r == 0) {
		snprintf(path, sizeof(path), "%s.maps", prefix);
		r = read_file(path, &s.maps_text, &s.maps_len);
		unlink(path);
	}
	rmdir(dir);
	if (r < 0)
		goto fail;

	r = -EPROTO;
	if (snap_len < 8 + sizeof(s.snap.regs) + 8 || memcmp(snap, "HUNWSNAP", 8))
		goto fail;
	memcpy(&s.snap.regs, snap + 8, sizeof(s.snap.regs));
	memcpy(&len, snap + 8 + sizeof(s.snap.regs), sizeof(len));
	if (len != snap_len - 8 - sizeof(s.snap.regs) - 8)
		goto fail;
	s.stack = malloc(len ? len : 1);
	r = -ENOMEM;
	if (!s.stack)
		goto fail;
	memcpy(s.stack, snap + 8 + sizeof(s.snap.regs) + 8, len);
	s.snap.stack = s.stack;
	s.snap.stack_len = len;
	r = procmaps__parse(s.maps_text, s.maps_len, &s.maps);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	fixture_snapshot__release(&s);
	return r;
}

void fixture_snapshot__release(struct fixture_snapshot *s)
{
	free(s->stack);
	free(s->maps_text);
	procmaps__free(s->maps);
	*s = (struct fixture_snapshot){ 0 };
}
