// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: cgroup text a target controls. /proc/PID/cgroup is
 * written by the kernel, but its paths are cgroup names that whoever runs the
 * target (a container runtime, or the target itself with a delegated
 * subtree) chose; mountinfo lines name mount points the same way. The input
 * is taken as a /proc/PID/cgroup file (container id, v2 and v1 paths) and,
 * line by line, as /proc/self/mountinfo; each path found is then placed under
 * each mount found, as cgroup_find() does.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"

/* Controller lists cgroup_find() asks for, and odd ones. */
static const char *const controllers[] = {
	NULL, "pids", "cpu,cpuacct", "cpu", "memory", "name=systemd", "", ",", "cpu,,memory",
};
#define NR_CONTROLLERS (sizeof(controllers) / sizeof(controllers[0]))
#define MAX_MOUNTS 8

struct mount {
	char dir[CGROUP_PATH_MAX];
	char root[CGROUP_PATH_MAX];
};

static void check_id(const char *text)
{
	char id[CGROUP_CONTAINER_ID_LEN + 1];
	char small[CGROUP_CONTAINER_ID_LEN];

	if (cgroup_parse_container_id(text, id, sizeof(id)) == 0) {
		if (strlen(id) != CGROUP_CONTAINER_ID_LEN)
			abort();
		for (size_t i = 0; i < CGROUP_CONTAINER_ID_LEN; i++)
			if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
				abort();
	}
	if (cgroup_parse_container_id(text, small, sizeof(small)) != -EINVAL)
		abort();
}

static void check_paths(const char *text, const struct mount *mounts, size_t nr_mounts)
{
	for (size_t c = 0; c < NR_CONTROLLERS; c++) {
		char path[CGROUP_PATH_MAX], tiny[4], dir[CGROUP_PATH_MAX + 256];

		cgroup_parse_path(text, controllers[c], tiny, sizeof(tiny));
		if (cgroup_parse_path(text, controllers[c], path, sizeof(path)) < 0)
			continue;
		if (strlen(path) >= sizeof(path))
			abort();
		if (cgroup_path_level(path) > strlen(path))
			abort();
		for (size_t m = 0; m < nr_mounts; m++) {
			cgroup_path_dir(mounts[m].dir, mounts[m].root, path, dir, sizeof(dir));
			cgroup_path_dir(mounts[m].dir, mounts[m].root, path, tiny, sizeof(tiny));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mount *mounts;
	size_t nr_mounts = 0;
	char *text, *line;

	/* Both files are read into a NUL-terminated buffer; a NUL inside ends the text there. */
	text = malloc(size + 1);
	mounts = malloc(MAX_MOUNTS * sizeof(*mounts));
	if (!text || !mounts)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';

	check_id(text);

	/* Each line as mountinfo has it (getline keeps the newline). */
	line = malloc(size + 1);
	if (!line)
		abort();
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) + 1 : strlen(p);

		memcpy(line, p, n);
		line[n] = '\0';
		p += n;
		for (size_t c = 0; c < NR_CONTROLLERS; c++) {
			struct mount *m = &mounts[nr_mounts < MAX_MOUNTS ? nr_mounts : MAX_MOUNTS - 1];
			char tiny[2];

			cgroup_parse_mountinfo_line(line, controllers[c], tiny, sizeof(tiny), tiny, sizeof(tiny));
			if (cgroup_parse_mountinfo_line(line, controllers[c], m->dir, sizeof(m->dir), m->root,
							sizeof(m->root)) == 0 &&
			    nr_mounts < MAX_MOUNTS)
				nr_mounts++;
		}
	}
	free(line);

	check_paths(text, mounts, nr_mounts);
	free(mounts);
	free(text);
	return 0;
}
