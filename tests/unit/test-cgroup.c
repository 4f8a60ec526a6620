// SPDX-License-Identifier: MIT
/* Container ids and cgroup paths out of /proc/PID/cgroup texts, as runtimes write them. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "check.h"
#include "cleanup.h"

#define ID "3f2a9c1b7e4d5a6b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b"
#define ID2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void expect_id(const char *text, const char *want)
{
	char buf[CGROUP_CONTAINER_ID_LEN + 1];
	int r = cgroup_parse_container_id(text, buf, sizeof(buf));

	if (!want) {
		CHECK_INT(r, -ENOENT);
		return;
	}
	CHECK_INT(r, 0);
	if (r == 0)
		CHECK_STR(buf, want);
}

static void test_container_ids(void)
{
	/* docker, systemd driver (cgroup v2) and cgroupfs driver (v1) */
	expect_id("0::/system.slice/docker-" ID ".scope\n", ID);
	expect_id("12:pids:/docker/" ID "\n11:memory:/docker/" ID "\n0::/\n", ID);
	/* containerd under Kubernetes, both drivers */
	expect_id("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1c2d3e4f_5a6b_7c8d_9e0f_"
		  "a1b2c3d4e5f6.slice/cri-containerd-" ID ".scope\n", ID);
	expect_id("0::/kubepods/besteffort/pod1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6/" ID "\n", ID);
	/* cri-o, and its conmon, which is no container */
	expect_id("0::/kubepods.slice/kubepods-pod1.slice/crio-" ID ".scope\n", ID);
	expect_id("0::/kubepods.slice/kubepods-pod1.slice/crio-conmon-" ID ".scope\n", NULL);
	/* podman: systemd driver, cgroupfs driver, and systemd inside the container */
	expect_id("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope\n", ID);
	expect_id("0::/libpod_parent/libpod-" ID "\n", ID);
	expect_id("0::/machine.slice/libpod-" ID ".scope/container/init.scope\n", ID);
	expect_id("0::/machine.slice/libpod-conmon-" ID ".scope\n", NULL);
	/* nerdctl / containerd without Kubernetes */
	expect_id("0::/default/" ID "\n", ID);
	expect_id("0::/system.slice/nerdctl-" ID ".scope\n", ID);
	/* the innermost id wins; v2 before v1 */
	expect_id("0::/docker/" ID2 "/docker/" ID "\n", ID);
	expect_id("4:memory:/docker/" ID2 "\n0::/system.slice/docker-" ID ".scope\n", ID);
	/* not containers: the host, a service, a 32-digit id, upper case, near misses */
	expect_id("0::/\n", NULL);
	expect_id("0::/system.slice/ssh.service\n", NULL);
	expect_id("4:memory:/process_api/ff75c0177590c364aef8abd58683b6d1\n0::/\n", NULL);
	expect_id("0::/docker/3F2A9C1B7E4D5A6B8C9D0E1F2A3B4C5D6E7F8A9B0C1D2E3F4A5B6C7D8E9F0A1B\n", NULL);
	expect_id("0::/docker/" ID "0\n", NULL);
	expect_id("0::/docker-" ID ".scopex\n", NULL);
	expect_id("", NULL);
	expect_id("garbage without colons " ID "\n", NULL);
	/* a path holding ':' still parses */
	expect_id("0::/a:b/docker-" ID ".scope\n", ID);
	{
		char small[10];

		CHECK_INT(cgroup_parse_container_id("0::/docker/" ID "\n", small, sizeof(small)), -EINVAL);
	}
}

static void test_paths(void)
{
	static const char text[] = "9:name=systemd:/user.slice\n"
				   "8:pids:/hearth/docker/" ID "\n"
				   "2:cpu,cpuacct:/\n"
				   "1::/not-v2-but-empty-list\n"
				   "0::/system.slice/x.scope\n";
	char buf[256];

	CHECK_INT(cgroup_parse_path(text, NULL, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/system.slice/x.scope");
	CHECK_INT(cgroup_parse_path(text, "pids", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/hearth/docker/" ID);
	CHECK_INT(cgroup_parse_path(text, "cpu,cpuacct", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/");
	CHECK_INT(cgroup_parse_path(text, "name=systemd", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/user.slice");
	CHECK_INT(cgroup_parse_path(text, "cpu", buf, sizeof(buf)), -ENOENT);
	CHECK_INT(cgroup_parse_path(text, "memory", buf, sizeof(buf)), -ENOENT);
	CHECK_INT(cgroup_parse_path(text, "pids", buf, 8), -ENAMETOOLONG);
	CHECK_INT(cgroup_parse_path("8:pids:/a\n", NULL, buf, sizeof(buf)), -ENOENT);
}

/* Whether every controller in the comma-separated @list is among the comma-separated @opts. */
static bool all_in(const char *list, const char *opts)
{
	char want[256], have[512], *save = NULL;

	snprintf(want, sizeof(want), "%s", list);
	for (char *c = strtok_r(want, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
		bool found = false;
		char *save2 = NULL;

		snprintf(have, sizeof(have), "%s", opts);
		for (char *o = strtok_r(have, ",", &save2); o && !found; o = strtok_r(NULL, ",", &save2))
			found = !strcmp(o, c);
		if (!found)
			return false;
	}
	return true;
}

/*
 * Whether this process's mountinfo has the v2 hierarchy (@controller NULL) or
 * the v1 hierarchy holding @controller mounted where cgroup @path can be seen
 * (its root "/" or above @path). Read here the plain way, not by cgroup.c.
 */
static bool mounted(const char *controller, const char *path)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];

	while (f && fgets(line, sizeof(line), f)) {
		char root[1024], fstype[64], opts[512];
		const char *dash = strstr(line, " - ");
		size_t n;

		if (!dash || sscanf(line, "%*s %*s %*s %1023s", root) != 1 ||
		    sscanf(dash + 3, "%63s %*s %511s", fstype, opts) != 2)
			continue;
		n = strlen(root);
		if (strcmp(root, "/") && (strncmp(path, root, n) || (path[n] && path[n] != '/')))
			continue;
		if (!controller ? !strcmp(fstype, "cgroup2") : !strcmp(fstype, "cgroup") && all_in(controller, opts))
			return true;
	}
	return false;
}

/*
 * cgroup_find() on this process, whose answer depends on where the tests run:
 * worked out here from /proc/self/cgroup and mountinfo as cgroup.h says
 * (the v2 cgroup if below the root; else the first mounted v1 hierarchy,
 * runtimes' favourites first, where it is below the root; else -ENOENT), and
 * then asserted exactly.
 */
static void test_this_process(void)
{
	static const char *const preferred[] = { "pids", "cpu,cpuacct", "cpu", "memory", "name=systemd" };
	char want_ctl[64] = "", want_path[CGROUP_PATH_MAX] = "";
	char names[32][64], paths[32][CGROUP_PATH_MAX];
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	int n = 0, want = -ENOENT, r;
	bool want_v1 = false;
	struct cgroup_watch w;
	char line[CGROUP_PATH_MAX + 128];

	CHECK_TRUE(f != NULL);
	while (f && n < 32 && fgets(line, sizeof(line), f)) {
		char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;

		if (!b)
			continue;
		line[strcspn(line, "\n")] = '\0';
		*b = '\0';
		if (strlen(a + 1) >= sizeof(names[n]) || strlen(b + 1) >= sizeof(paths[n]))
			continue;
		memcpy(names[n], a + 1, strlen(a + 1) + 1);
		memcpy(paths[n], b + 1, strlen(b + 1) + 1);
		n++;
	}
	for (int i = 0; i < n; i++)
		if (!names[i][0] && strcmp(paths[i], "/")) {
			memcpy(want_path, paths[i], sizeof(want_path));
			want = mounted(NULL, paths[i]) ? 0 : -ENODEV;
		}
	/* No v2 cgroup of its own: the favourites in their order, then the file's. */
	for (size_t k = 0; !want_path[0] && k <= sizeof(preferred) / sizeof(preferred[0]); k++)
		for (int i = 0; i < n && !want_path[0]; i++) {
			if (!names[i][0] || !strcmp(paths[i], "/") || !mounted(names[i], paths[i]) ||
			    (k < sizeof(preferred) / sizeof(preferred[0]) && strcmp(names[i], preferred[k])))
				continue;
			memcpy(want_path, paths[i], sizeof(want_path));
			memcpy(want_ctl, names[i], sizeof(want_ctl));
			want_v1 = true;
			want = 0;
		}
	printf("test-cgroup: this process: expecting %d (%s%s%s)\n", want, want_v1 ? want_ctl : "v2",
	       want_path[0] ? " " : "", want_path);
	r = cgroup_find(getpid(), &w);
	CHECK_INT(r, want);
	if (r == 0 && want == 0) {
		CHECK_INT(w.v1, want_v1);
		CHECK_STR(w.path, want_path);
		if (want_v1)
			CHECK_STR(w.controller, want_ctl);
		CHECK_TRUE(cgroup_contains(&w, getpid()));
	}
	CHECK_INT(cgroup_find(0x7ffffff0, &w), -ESRCH);
}

int main(void)
{
	test_container_ids();
	test_paths();
	test_this_process();
	return check_finish("test-cgroup");
}
