/* SPDX-License-Identifier: MIT */
/* A process's memory mappings, as /proc/PID/maps lists them. */
#ifndef HEARTH_PROCMAPS_H
#define HEARTH_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROCMAPS_MAX_ENTRIES 65536

enum procmap_prot {
	PROCMAP_READ = 1 << 0,
	PROCMAP_WRITE = 1 << 1,
	PROCMAP_EXEC = 1 << 2,
	PROCMAP_SHARED = 1 << 3,
};

struct procmap {
	uint64_t start;
	uint64_t end; /* exclusive */
	uint64_t offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t prot; /* enum procmap_prot */
	bool deleted;     /* the path ended in " (deleted)", which is stripped */
	const char *path; /* "" for anonymous mappings; owned by the procmaps */
};

struct procmaps {
	struct procmap *maps; /* sorted by start */
	size_t nr;
	char *text; /* backing store of the paths */
};

/* Parse the text of a maps file (copied). Returns 0, -EPROTO on a malformed line, -E2BIG, -ENOMEM. */
int procmaps__parse(const char *text, size_t len, struct procmaps **ret);

/*
 * Read /proc/@pid/maps, again when the text came out torn. Returns 0 or
 * -errno (-ESRCH when the process is gone, -EPROTO when every read was torn).
 */
int procmaps__read(pid_t pid, struct procmaps **ret);

struct procmaps *procmaps__free(struct procmaps *m);
static inline void procmaps__freep(struct procmaps **m)
{
	procmaps__free(*m);
}

/* The mapping holding @addr, or NULL. */
const struct procmap *procmaps__find(const struct procmaps *m, uint64_t addr);

/* True for a mapping backed by a regular file (not [vdso], [heap], anonymous...). */
bool procmap__is_file(const struct procmap *m);

/*
 * Open the file behind mapping @m of process @pid as that process sees it:
 * through /proc/PID/map_files (works for deleted files and other mount
 * namespaces), else /proc/PID/root/PATH. Returns an O_CLOEXEC fd or -errno.
 */
int procmap__open(const struct procmap *m, pid_t pid);

/*
 * The name the kernel gives process @pid (/proc/PID/comm) into @buf, without
 * the newline. Returns 0, or -errno with @buf empty (the process is gone).
 */
int proc_read_comm(pid_t pid, char *buf, size_t size);

/*
 * Process @pid's number in its own PID namespace (the last NSpid of
 * /proc/PID/status; @pid itself outside containers). Returns 0 or -errno.
 */
int proc_read_nspid(pid_t pid, pid_t *ret);

/* Read a whole /proc-style file (sizes there are 0, so read until EOF), at most @max bytes. */
int read_proc_file(const char *path, size_t max, char **ret, size_t *ret_len);

#endif
