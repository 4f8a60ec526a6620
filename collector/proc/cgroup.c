// SPDX-License-Identifier: MIT
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

#define CGROUP_FILE_MAX 65536
#define CGROUP_MAX_DEPTH 8
#define CGROUP_MAX_PIDS 65536

/* Unit-name prefixes of container runtimes; the id follows. */
static const char *const runtime_prefixes[] = {
	"docker-", "cri-containerd-", "crio-", "libpod-", "nerdctl-", "containerd-", "cri-o-",
};

static bool is_hex_id(const char *s, size_t n)
{
	if (n != CGROUP_CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* The container id in path component @c (@n bytes), or NULL. */
static const char *component_id(const char *c, size_t n)
{
	static const char scope[] = ".scope";

	if (n > sizeof(scope) - 1 && !memcmp(c + n - (sizeof(scope) - 1), scope, sizeof(scope) - 1))
		n -= sizeof(scope) - 1;
	/* conmon watches a cri-o or podman container from a cgroup of its own. */
	if ((n > 12 && !memcmp(c, "crio-conmon-", 12)) || (n > 14 && !memcmp(c, "libpod-conmon-", 14)))
		return NULL;
	if (is_hex_id(c, n))
		return c;
	for (size_t i = 0; i < sizeof(runtime_prefixes) / sizeof(runtime_prefixes[0]); i++) {
		size_t l = strlen(runtime_prefixes[i]);

		if (n > l && !memcmp(c, runtime_prefixes[i], l) && is_hex_id(c + l, n - l))
			return c + l;
	}
	return NULL;
}

/* The innermost container id in the path of one line (@n bytes), or NULL. */
static const char *path_id(const char *path, size_t n)
{
	size_t end = n;

	while (end > 0) {
		size_t start = end;
		const char *id;

		while (start > 0 && path[start - 1] != '/')
			start--;
		id = component_id(path + start, end - start);
		if (id)
			return id;
		if (start == 0)
			break;
		end = start - 1;
	}
	return NULL;
}

/*
 * The next line of a /proc/PID/cgroup file at *@p: its controller list and
 * path (not NUL-terminated); *@ret_v2 for the "0::" line. Returns false at
 * the end.
 */
static bool next_line(const char **p, bool *ret_v2, const char **ret_ctl, size_t *ret_ctl_len,
		      const char **ret_path, size_t *ret_path_len)
{
	while (**p) {
		const char *line = *p, *eol = strchr(line, '\n'), *c1, *c2;

		if (!eol)
			eol = line + strlen(line);
		*p = *eol ? eol + 1 : eol;
		/* "ID:CONTROLLERS:PATH"; a path may itself hold ':' */
		c1 = memchr(line, ':', (size_t)(eol - line));
		if (!c1)
			continue;
		c2 = memchr(c1 + 1, ':', (size_t)(eol - c1 - 1));
		if (!c2)
			continue;
		*ret_v2 = c1 - line == 1 && line[0] == '0' && c2 == c1 + 1;
		*ret_ctl = c1 + 1;
		*ret_ctl_len = (size_t)(c2 - c1 - 1);
		*ret_path = c2 + 1;
		*ret_path_len = (size_t)(eol - c2 - 1);
		return true;
	}
	return false;
}

int cgroup_parse_container_id(const char *text, char *buf, size_t size)
{
	const char *ctl, *path, *p, *id = NULL;
	size_t ctl_len, path_len;
	bool v2;

	if (size < CGROUP_CONTAINER_ID_LEN + 1)
		return -EINVAL;
	/* The v2 line ("0::/...") first: where it names a container, it is the truth. */
	for (int pass = 0; pass < 2 && !id; pass++) {
		p = text;
		while (!id && next_line(&p, &v2, &ctl, &ctl_len, &path, &path_len))
			if (v2 == (pass == 0))
				id = path_id(path, path_len);
	}
	if (!id)
		return -ENOENT;
	memcpy(buf, id, CGROUP_CONTAINER_ID_LEN);
	buf[CGROUP_CONTAINER_ID_LEN] = '\0';
	return 0;
}

int cgroup_parse_path(const char *text, const char *controller, char *buf, size_t size)
{
	const char *ctl, *path, *p = text;
	size_t ctl_len, path_len, want = controller ? strlen(controller) : 0;
	bool v2;

	while (next_line(&p, &v2, &ctl, &ctl_len, &path, &path_len)) {
		if (controller ? v2 || ctl_len != want || memcmp(ctl, controller, want) : !v2)
			continue;
		if (path_len >= size)
			return -ENAMETOOLONG;
		memcpy(buf, path, path_len);
		buf[path_len] = '\0';
		return 0;
	}
	return -ENOENT;
}

static int read_small_file(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n < size - 1) {
		ssize_t k = read(fd, buf + n, size - 1 - n);

		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	return 0;
}

static int read_proc_cgroup(pid_t pid, char *buf, size_t size)
{
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	r = read_small_file(path, buf, size);
	return r == -ENOENT ? -ESRCH : r;
}

/* Whether every controller of comma-separated @list is in the mount's @options. */
static bool options_have(const char *options, const char *list)
{
	_cleanup_free_ char *copy = strdup(list);
	char *save = NULL;

	if (!copy)
		return false;
	for (char *c = strtok_r(copy, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(c);
		const char *o = options;
		bool found = false;

		while (!found && (o = strstr(o, c))) {
			found = (o == options || o[-1] == ',') && (o[n] == ',' || o[n] == '\0' || o[n] == '\n');
			o += n;
		}
		if (!found)
			return false;
	}
	return true;
}

int cgroup_parse_mountinfo_line(const char *line, const char *controller, char *ret_dir, size_t dir_size,
				char *ret_root, size_t root_size)
{
	char root[CGROUP_PATH_MAX], dir[CGROUP_PATH_MAX], fstype[32], options[512];
	const char *dash = strstr(line, " - ");

	if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", root, dir) != 2 ||
	    sscanf(dash + 3, "%31s %*s %511s", fstype, options) != 2)
		return -ENOENT;
	if (controller ? strcmp(fstype, "cgroup") || !options_have(options, controller)
		       : strcmp(fstype, "cgroup2"))
		return -ENOENT;
	if ((size_t)snprintf(ret_dir, dir_size, "%s", dir) >= dir_size ||
	    (size_t)snprintf(ret_root, root_size, "%s", root) >= root_size)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * Where the hierarchy (v2 for @controller NULL) is mounted here, and the
 * cgroup path its mount shows at its top (not "/" inside a container).
 */
static int find_mount(const char *controller, char *ret_dir, size_t dir_size, char *ret_root,
		      size_t root_size)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		int r = cgroup_parse_mountinfo_line(line, controller, ret_dir, dir_size, ret_root, root_size);

		if (r != -ENOENT)
			return r;
	}
	return -ENODEV;
}

int cgroup_path_dir(const char *mount, const char *root, const char *path, char *buf, size_t size)
{
	const char *rel = path;

	if (strcmp(root, "/")) {
		size_t n = strlen(root);

		if (strncmp(rel, root, n) || (rel[n] && rel[n] != '/'))
			return -ENODEV; /* outside what this mount shows */
		rel += n;
	}
	if ((size_t)snprintf(buf, size, "%s%s", mount, rel) >= size)
		return -ENAMETOOLONG;
	return 0;
}

unsigned int cgroup_path_level(const char *path)
{
	unsigned int level = 0;

	for (const char *p = path; *p; p++)
		level += *p == '/' && p[1] && p[1] != '/';
	return level;
}

/* Fill @w's directory (and for v2 its id and level) from its path and hierarchy. */
static int watch_locate(struct cgroup_watch *w)
{
	char mount[CGROUP_PATH_MAX], root[CGROUP_PATH_MAX];
	struct stat st;
	int r;

	r = find_mount(w->v1 ? w->controller : NULL, mount, sizeof(mount), root, sizeof(root));
	if (r < 0)
		return r;
	r = cgroup_path_dir(mount, root, w->path, w->dir, sizeof(w->dir));
	if (r < 0)
		return r;
	if (stat(w->dir, &st) < 0)
		return -errno;
	if (!w->v1) {
		/* A cgroup v2 id is its kernfs node id, which is the directory's inode number. */
		w->id = st.st_ino;
		w->level = cgroup_path_level(w->path);
	}
	return 0;
}

int cgroup_find(pid_t pid, struct cgroup_watch *ret)
{
	static const char *const preferred[] = { "pids", "cpu,cpuacct", "cpu", "memory", "name=systemd" };
	_cleanup_free_ char *text = malloc(CGROUP_FILE_MAX);
	struct cgroup_watch w = {};
	const char *ctl, *path, *p;
	size_t ctl_len, path_len;
	bool v2;
	int r;

	if (!text)
		return -ENOMEM;
	r = read_proc_cgroup(pid, text, CGROUP_FILE_MAX);
	if (r < 0)
		return r;
	if (cgroup_parse_path(text, NULL, w.path, sizeof(w.path)) == 0 && strcmp(w.path, "/")) {
		r = watch_locate(&w);
		if (r < 0)
			return r;
		*ret = w;
		return 0;
	}
	/* No v2 cgroup of its own: a v1 one, in a hierarchy that runtimes use first. */
	w.v1 = true;
	for (size_t i = 0; i < sizeof(preferred) / sizeof(preferred[0]); i++) {
		if (cgroup_parse_path(text, preferred[i], w.path, sizeof(w.path)) < 0 || !strcmp(w.path, "/"))
			continue;
		snprintf(w.controller, sizeof(w.controller), "%s", preferred[i]);
		if (watch_locate(&w) == 0) {
			*ret = w;
			return 0;
		}
	}
	p = text;
	while (next_line(&p, &v2, &ctl, &ctl_len, &path, &path_len)) {
		if (v2 || !ctl_len || ctl_len >= sizeof(w.controller) || path_len >= sizeof(w.path) ||
		    (path_len == 1 && path[0] == '/'))
			continue;
		memcpy(w.controller, ctl, ctl_len);
		w.controller[ctl_len] = '\0';
		memcpy(w.path, path, path_len);
		w.path[path_len] = '\0';
		r = watch_locate(&w);
		if (r == 0) {
			*ret = w;
			return 0;
		}
	}
	return -ENOENT;
}

bool cgroup_contains(const struct cgroup_watch *w, pid_t pid)
{
	_cleanup_free_ char *text = malloc(CGROUP_FILE_MAX);
	char path[CGROUP_PATH_MAX];
	size_t n = strlen(w->path);

	if (!text || read_proc_cgroup(pid, text, CGROUP_FILE_MAX) < 0 ||
	    cgroup_parse_path(text, w->v1 ? w->controller : NULL, path, sizeof(path)) < 0)
		return false;
	return !strncmp(path, w->path, n) && (path[n] == '\0' || path[n] == '/' || !strcmp(w->path, "/"));
}

static int for_each_in(const char *dir, unsigned int depth, int (*fn)(void *ctx, pid_t pid), void *ctx,
		       int *count)
{
	char path[CGROUP_PATH_MAX + 512];
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	long pid;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path))
		return 0;
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno; /* removed meanwhile */
	while (*count < CGROUP_MAX_PIDS && fscanf(f, "%ld", &pid) == 1) {
		if (pid <= 0)
			continue;
		(*count)++;
		r = fn(ctx, (pid_t)pid);
		if (r < 0)
			return r;
	}
	if (depth >= CGROUP_MAX_DEPTH)
		return 0;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
			continue;
		r = for_each_in(path, depth + 1, fn, ctx, count);
		if (r < 0)
			return r;
	}
	return 0;
}

int cgroup_for_each_pid(const struct cgroup_watch *w, int (*fn)(void *ctx, pid_t pid), void *ctx)
{
	int count = 0, r;

	r = for_each_in(w->dir, 0, fn, ctx, &count);
	return r < 0 ? r : count;
}
