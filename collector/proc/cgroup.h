/* SPDX-License-Identifier: MIT */
/*
 * Containers as the kernel knows them: cgroups. Reads the container id a
 * runtime wrote into a process's cgroup path (docker, containerd and CRI,
 * cri-o, podman, Kubernetes pods), and finds the cgroup that `--container
 * PID` watches: the process's cgroup v2 when it has one below the root, else
 * its cgroup in a v1 hierarchy (hosts where the runtime uses v1 only).
 */
#ifndef HEARTH_CGROUP_H
#define HEARTH_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A container id: 64 hex digits. */
#define CGROUP_CONTAINER_ID_LEN 64
#define CGROUP_PATH_MAX 1024

/*
 * The container id in @text, the contents of a /proc/PID/cgroup file: the
 * innermost path component that is 64 hex digits, bare or in a runtime's
 * unit name ("docker-<id>.scope", "cri-containerd-<id>.scope",
 * "crio-<id>.scope", "libpod-<id>.scope", ...; conmon's cgroup is not a
 * container), looked for in the v2 line first, then in the v1 lines. Writes
 * it NUL-terminated to @buf (at least CGROUP_CONTAINER_ID_LEN + 1 bytes).
 * Returns 0, -ENOENT (none) or -EINVAL (@size too small).
 */
int cgroup_parse_container_id(const char *text, char *buf, size_t size);

/*
 * The path in @text (a /proc/PID/cgroup file) of the v2 hierarchy (@controller
 * NULL) or of the v1 hierarchy whose controller list is @controller ("pids",
 * "cpu,cpuacct", "name=systemd"). Returns 0, -ENOENT or -ENAMETOOLONG.
 */
int cgroup_parse_path(const char *text, const char *controller, char *buf, size_t size);

/*
 * Whether @line, one NUL-terminated line of /proc/self/mountinfo, is a mount
 * of the v2 hierarchy (@controller NULL) or of a v1 hierarchy holding every
 * controller in the comma-separated @controller. If so, writes its mount
 * point to @ret_dir and the cgroup path its mount shows at its top ("/", or
 * the container's own cgroup inside one) to @ret_root, both as mountinfo
 * spells them. Returns 0, -ENOENT (another mount, or a line that does not
 * parse) or -ENAMETOOLONG (either does not fit; the buffers are then
 * undefined).
 */
int cgroup_parse_mountinfo_line(const char *line, const char *controller, char *ret_dir, size_t dir_size,
				char *ret_root, size_t root_size);

/*
 * The directory of cgroup @path (as /proc/PID/cgroup names it) in the
 * hierarchy mounted at @mount whose top shows cgroup @root, into @buf.
 * Returns 0, -ENODEV when @path is not @root or below it, or -ENAMETOOLONG.
 */
int cgroup_path_dir(const char *mount, const char *root, const char *path, char *buf, size_t size);

/* How deep below the root cgroup @path is ("/": 0, "/a/b": 2; empty components do not count). */
unsigned int cgroup_path_level(const char *path);

/* A watched cgroup. */
struct cgroup_watch {
	bool v1;                         /* a v1 hierarchy: its members are polled */
	char controller[64];             /* v1: the hierarchy's controller list */
	char path[CGROUP_PATH_MAX];      /* as /proc/PID/cgroup names it */
	char dir[CGROUP_PATH_MAX + 256]; /* the directory here */
	uint64_t id;                     /* v2: the cgroup id the BPF program compares */
	unsigned int level;              /* v2: its depth below the root (1: a child of it) */
};

/*
 * The cgroup @pid runs in: its v2 cgroup if that is below the root, else its
 * cgroup in the first v1 hierarchy (pids, cpu, memory, name=systemd, then
 * others) where it is below the root. Returns 0, -ESRCH, -ENOENT (only root
 * cgroups: not in a container), -ENODEV (the hierarchy is not mounted here)
 * or -errno.
 */
int cgroup_find(pid_t pid, struct cgroup_watch *ret);

/* Whether @pid runs in @w or below it now. */
bool cgroup_contains(const struct cgroup_watch *w, pid_t pid);

/*
 * Call @fn for each process in @w and the cgroups below it (at most 8 levels
 * and 65536 processes). Returns how many or -errno (what @fn returned when
 * negative).
 */
int cgroup_for_each_pid(const struct cgroup_watch *w, int (*fn)(void *ctx, pid_t pid), void *ctx);

#endif
