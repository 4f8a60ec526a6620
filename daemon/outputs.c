// SPDX-License-Identifier: MIT
#include "outputs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "export.h"
#include "profile.h"

#define PERIODIC_PREFIX "hearth-"
#define PERIODIC_SUFFIX ".pb.gz"

int window_pprof(struct ring_reader *r, const struct ring_query *q, const char *target, char **ret_buf,
		 size_t *ret_len, uint64_t *ret_samples)
{
	_cleanup_(profile__freep) struct profile *p = NULL;
	struct export_options eo = { .program_version = HEARTH_VERSION };
	struct ring_read_stats st;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r2;

	if ((r2 = profile__new(&p)) < 0)
		return r2;
	if ((r2 = ring_reader__read(r, q, p, &st)) < 0 || (r2 = profile__set_target(p, target)) < 0)
		return r2;
	f = open_memstream(&buf, &len);
	if (!f)
		return -errno;
	r2 = exporter_pprof.write(p, &eo, f);
	if (fclose(f) != 0 && r2 == 0)
		r2 = -errno;
	if (r2 < 0) {
		free(buf);
		return r2;
	}
	*ret_buf = buf;
	*ret_len = len;
	if (ret_samples)
		*ret_samples = st.samples;
	return 0;
}

struct periodic {
	char *dir;
	uint64_t every_ns;
	uint64_t keep_ns;
	uint64_t since_ns; /* start of the interval in progress */
	uint64_t due_ns;   /* its end */
};

int periodic__new(const char *dir, uint64_t every_ns, uint64_t keep_ns, uint64_t start_ns, struct periodic **ret)
{
	_cleanup_(periodic__freep) struct periodic *p = calloc(1, sizeof(*p));
	struct stat st;

	if (!p)
		return -ENOMEM;
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (access(dir, W_OK | X_OK) < 0)
		return -errno;
	p->dir = strdup(dir);
	if (!p->dir)
		return -ENOMEM;
	p->every_ns = every_ns;
	p->keep_ns = keep_ns;
	p->since_ns = start_ns;
	p->due_ns = start_ns + every_ns;
	*ret = TAKE_PTR(p);
	return 0;
}

struct periodic *periodic__free(struct periodic *p)
{
	if (!p)
		return NULL;
	free(p->dir);
	free(p);
	return NULL;
}

/* hearth-YYYYMMDDTHHMMSSZ.pb.gz for an interval starting at @ns (UTC, so names sort by time). */
static void periodic_name(uint64_t ns, char *buf, size_t size)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, PERIODIC_PREFIX "%Y%m%dT%H%M%SZ" PERIODIC_SUFFIX, &tm);
}

/* Write @len bytes to @path at once: a hidden temporary file, then rename. */
static int write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char tmp[4096], path[4096];
	_cleanup_close_ int fd = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= sizeof(tmp) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	/* The folder was removed under us: make it again, as at the start. */
	if (fd < 0 && errno == ENOENT && mkdir(dir, 0750) == 0)
		fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Profiles reveal code paths: as the ring, not for everyone. */
	if (fchmod(fd, 0640) < 0)
		goto fail;
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	{
		int e = errno ? errno : EIO;

		unlink(tmp);
		return -e;
	}
}

/* Remove our files that started before @cutoff_ns; others are left alone. */
static void periodic_prune(struct periodic *p, uint64_t cutoff_ns)
{
	_cleanup_(closedirp) DIR *d = opendir(p->dir);
	char oldest[64];
	struct dirent *de;

	if (!d)
		return;
	periodic_name(cutoff_ns, oldest, sizeof(oldest));
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		/* Same-length names in this form sort as their times do. */
		if (n != strlen(oldest) || strncmp(de->d_name, PERIODIC_PREFIX, strlen(PERIODIC_PREFIX)) ||
		    strcmp(de->d_name + n - strlen(PERIODIC_SUFFIX), PERIODIC_SUFFIX) ||
		    strcmp(de->d_name, oldest) >= 0)
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
}

int periodic__tick(struct periodic *p, struct ring_reader *r, uint64_t now_ns, bool final, char *ret_path,
		   size_t path_size)
{
	struct ring_query q = {};
	_cleanup_free_ char *buf = NULL;
	char name[64];
	uint64_t samples = 0;
	size_t len;
	int e;

	if (now_ns < p->due_ns && !final)
		return 0;
	q.since_ns = p->since_ns;
	q.until_ns = now_ns;
	e = window_pprof(r, &q, "hearthd, every process it samples", &buf, &len, &samples);
	if (e < 0)
		return e;
	periodic_name(p->since_ns, name, sizeof(name));
	p->since_ns = now_ns;
	while (p->due_ns <= now_ns)
		p->due_ns += p->every_ns;
	if (final && !samples)
		return 0;
	e = write_file(p->dir, name, buf, len);
	if (e < 0)
		return e;
	if (p->keep_ns && now_ns > p->keep_ns)
		periodic_prune(p, now_ns - p->keep_ns);
	snprintf(ret_path, path_size, "%s/%s", p->dir, name);
	return 1;
}
