// SPDX-License-Identifier: MIT
/*
 * pyfind against real interpreters: each installed pyenv CPython and Debian's
 * /usr/bin/python3.11 run a script with two extra threads; pyfind must name
 * the version the interpreter reports itself and list three thread states.
 * 2.7 and 3.6 run once more with a stripped copy of their libpython, so the
 * interpreter is found by scanning writable data rather than by symbol.
 *
 * Every pyenv version listed below and any other in PYENV_ROOT/versions is
 * run. Under CI (CI set in the environment) a listed one that is missing is
 * a failure, so a run cannot pass on fewer interpreters than the machine
 * should have; without CI it is skipped with a message.
 *
 * Usage: test-pyfind [PYENV_ROOT]. Without the argument: $PYENV_ROOT, then
 * `pyenv root`, then ~/.pyenv. Needs to be root or the children's parent
 * (process_vm_readv under Yama ptrace_scope <= 1). Children die with the test
 * (PR_SET_PDEATHSIG) and are killed on every path.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cleanup.h"
#include "pyfind.h"

static const char *const pyenv_versions[] = {
	"2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18",
	"3.10.13", "3.11.7", "3.12.1", "3.13.0",
};

/* Under CI an interpreter or tool the tests need must be there. */
static bool ci;

/* Say @what is missing: skipped, or under CI a failure. */
static void missing(const char *what)
{
	printf("%s: not installed, %s\n", what, ci ? "a failure under CI" : "skipped");
	if (ci) {
		fprintf(stderr, "test-pyfind: %s is missing and CI is set\n", what);
		check_count++;
		check_failures++;
	}
}

static const char thread_script[] =
	"import sys, threading, time\n"
	"for _ in range(2):\n"
	"    t = threading.Thread(target=time.sleep, args=(60,))\n"
	"    t.daemon = True\n"
	"    t.start()\n"
	"sys.stdout.write('ready\\n')\n"
	"sys.stdout.flush()\n"
	"time.sleep(60)\n";

#define MAX_CHILDREN 8
static pid_t children[MAX_CHILDREN];

static void child_forget(pid_t pid)
{
	for (size_t i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

static void child_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	child_forget(pid);
}

static void children_kill_all(void)
{
	for (size_t i = 0; i < MAX_CHILDREN; i++)
		child_kill(children[i]);
}

static void on_signal(int sig)
{
	children_kill_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Start @argv with stdout on a pipe; @ld_path, when set, becomes
 * LD_LIBRARY_PATH. Returns the pid and the pipe's read end in *ret_fd.
 */
/* When set, children run chroot'ed there: Debian unstable's interpreters (scripts/lib.sh ensure_sid_root). */
static const char *spawn_root;

static pid_t spawn(char *const argv[], const char *ld_path, int *ret_fd)
{
	pid_t parent = getpid(), pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(p[1], STDOUT_FILENO);
		if (ld_path)
			setenv("LD_LIBRARY_PATH", ld_path, 1);
		if (spawn_root && (chroot(spawn_root) < 0 || chdir("/") < 0))
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	for (size_t i = 0; i < MAX_CHILDREN; i++)
		if (!children[i]) {
			children[i] = pid;
			break;
		}
	*ret_fd = p[0];
	return pid;
}

/* Read one line from @fd within @timeout_ms. Returns its length or -errno. */
static int read_line(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t len = 0;

	while (len + 1 < size) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r = poll(&pfd, 1, timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		n = read(fd, buf + len, 1);
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = '\0';
	return len;
}

/* Ask @python for sys.version_info[:2]. */
static int python_version(const char *python, unsigned int *ret_major, unsigned int *ret_minor)
{
	char *argv[] = { (char *)python, "-c", "import sys; print(sys.version_info[:2])", NULL };
	char line[128];
	int fd, r;
	pid_t pid;

	pid = spawn(argv, NULL, &fd);
	if (pid < 0)
		return pid;
	r = read_line(fd, line, sizeof(line), 10000);
	close(fd);
	child_kill(pid);
	if (r < 0)
		return r;
	if (sscanf(line, "(%u, %u)", ret_major, ret_minor) != 2)
		return -EPROTO;
	return 0;
}

static const char *version_source_name(enum pyfind_version_source s)
{
	switch (s) {
	case PYFIND_VERSION_PY_VERSION:
		return "Py_Version";
	case PYFIND_VERSION_FILE_NAME:
		return "file name";
	case PYFIND_VERSION_RODATA:
		return ".rodata";
	default:
		return "none";
	}
}

static const char *interp_source_name(enum pyfind_interp_source s)
{
	switch (s) {
	case PYFIND_INTERP_RUNTIME:
		return "_PyRuntime";
	case PYFIND_INTERP_TSTATE_CURRENT:
		return "_PyThreadState_Current";
	case PYFIND_INTERP_HEAD_SYMBOL:
		return "interp_head";
	case PYFIND_INTERP_DATA_SCAN:
		return "data scan";
	default:
		return "none";
	}
}

/* What pyinfo_read_layout() says of @bytes (@len of them) as _PyRuntime at @base, for @major.@minor. */
static int layout_of(uint64_t base, const uint8_t *bytes, size_t len, unsigned int major, unsigned int minor,
		     struct pyinfo *ret)
{
	struct procmem mem = procmem_for_buffer(base, bytes, len);

	memset(ret, 0, sizeof(*ret));
	ret->major = major;
	ret->minor = minor;
	ret->runtime_addr = base;
	return pyinfo_read_layout(&mem, ret);
}

static void put64(uint8_t *p, int16_t at, uint64_t v)
{
	memcpy(p + at, &v, sizeof(v));
}

/* A damaged copy of @real must be refused, the note saying @why. */
static void check_refused(const struct pyinfo *found, const uint8_t *bytes, size_t len, unsigned int minor,
			  const char *why)
{
	struct pyinfo info;

	CHECK_INT(layout_of(found->runtime_addr, bytes, len, found->major, minor, &info), -EPROTONOSUPPORT);
	CHECK_TRUE(!info.supported);
	if (!strstr(info.note, why))
		CHECK_STR(info.note, why);
}

/*
 * 3.13+: the _Py_DebugOffsets reader over the real bytes of the target's
 * _PyRuntime, dumped now, then over damaged copies of them.
 */
static void check_layout_bytes(pid_t pid, const struct pyinfo *found)
{
	const struct py_debug_layout *l = py_debug_layout_find(found->major, found->minor);
	static uint8_t real[4096], bad[4096];
	struct procmem live = procmem_for_pid(pid);
	struct pyinfo info;
	uint64_t hex;

	CHECK_TRUE(l != NULL);
	if (!l || procmem__read(&live, found->runtime_addr, real, sizeof(real)) < 0) {
		CHECK_TRUE(false);
		return;
	}
	/* The real bytes give what pyfind found. */
	CHECK_INT(layout_of(found->runtime_addr, real, sizeof(real), found->major, found->minor, &info), 0);
	CHECK_TRUE(info.supported);
	CHECK_TRUE(memcmp(&info.offsets, &found->offsets, sizeof(info.offsets)) == 0);
	memcpy(&hex, real + l->version, sizeof(hex));

	memcpy(bad, real, sizeof(bad));
	bad[0] ^= 0x20;
	check_refused(found, bad, sizeof(bad), found->minor, "cookie");
	check_refused(found, real, 40, found->minor, "cut short");
	check_refused(found, real, sizeof(real), found->minor - 1, "says version");
	memcpy(bad, real, sizeof(bad));
	put64(bad, l->free_threaded, 1);
	check_refused(found, bad, sizeof(bad), found->minor, "free-threaded");
	memcpy(bad, real, sizeof(bad));
	put64(bad, l->version, (hex & ~0xffull) | 0xb1); /* X.Y.Zb1 */
	check_refused(found, bad, sizeof(bad), found->minor, "pre-release");
	memcpy(bad, real, sizeof(bad));
	put64(bad, l->at.tstate_next, 40000);
	check_refused(found, bad, sizeof(bad), found->minor, "not plausible");
	memcpy(bad, real, sizeof(bad));
	put64(bad, l->at.tstate_next, 32000); /* plausible, but past the thread state's size */
	check_refused(found, bad, sizeof(bad), found->minor, "does not hold together");

	/* The next minor, unknown: read through the newest layout (when this is it). */
	if (l == py_debug_layout_newest()) {
		memcpy(bad, real, sizeof(bad));
		put64(bad, l->version, hex + (1ull << 16));
		CHECK_INT(layout_of(found->runtime_addr, bad, sizeof(bad), found->major, found->minor + 1, &info), 0);
		CHECK_INT(info.layout_source, PYFIND_LAYOUT_NEWEST);
		CHECK_TRUE(strstr(info.note, "newer than any") != NULL);
	}
}

/*
 * Run the thread script under @python and check what pyfind says. Returns 0
 * and what pyfind found in *@ret_info, or -1 when something failed.
 */
static int check_python(const char *python, const char *ld_path, struct pyinfo *ret_info)
{
	char *argv[] = { (char *)python, "-c", (char *)thread_script, NULL };
	unsigned int major, minor;
	uint64_t tstates[8];
	struct pyinfo info;
	char line[64];
	int fd, r, n, ret = -1;
	pid_t pid;

	r = python_version(python, &major, &minor);
	CHECK_INT(r, 0);
	if (r < 0)
		return -1;
	pid = spawn(argv, ld_path, &fd);
	CHECK_TRUE(pid > 0);
	if (pid <= 0)
		return -1;
	r = read_line(fd, line, sizeof(line), 10000);
	CHECK_INT(r, 5);
	if (r == 5) {
		r = pyfind(pid, &info);
		CHECK_INT(r, 0);
		if (r == -EPROTONOSUPPORT)
			printf("  not supported: %s\n", info.note);
		if (r == 0) {
			CHECK_INT(info.major, major);
			CHECK_INT(info.minor, minor);
			CHECK_TRUE(info.supported);
			if (major == 3 && minor >= 13)
				check_layout_bytes(pid, &info);
			n = pyinfo_thread_states(pid, &info, tstates, ARRAY_SIZE(tstates));
			CHECK_INT(n, 3);
			/* A smaller buffer still counts them all. */
			CHECK_INT(pyinfo_thread_states(pid, &info, tstates, 1), n);
			printf("  %u.%u.%d in %s (version from %s, interpreter from %s): %d threads\n",
			       info.major, info.minor, info.micro, info.module,
			       version_source_name(info.version_source),
			       interp_source_name(info.interp_source), n);
			*ret_info = info;
			ret = 0;
		}
	}
	close(fd);
	child_kill(pid);
	return ret;
}

/* Run a program to completion; 0 when it exits with 0. */
static int run(char *const argv[])
{
	int fd, status;
	pid_t pid = spawn(argv, NULL, &fd);

	if (pid < 0)
		return pid;
	close(fd);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	child_forget(pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/*
 * Run @version again with a stripped copy of its libpython in a temporary
 * directory (pyenv's RUNPATH lets LD_LIBRARY_PATH win). With @file_name, the
 * copy is called that and @soname is a symlink to it: the kernel names the
 * mapping after the target, so the version must come from somewhere else
 * than the file name.
 */
static void check_stripped(const char *root, const char *version, const char *soname,
			   const char *file_name, enum pyfind_version_source version_source,
			   enum pyfind_interp_source interp_source)
{
	char dir[] = "/tmp/test-pyfind-XXXXXX", src[PATH_MAX], dst[PATH_MAX + 64];
	char link[PATH_MAX + 64], python[PATH_MAX];
	char *argv[] = { "/usr/bin/objcopy", "--strip-all", src, dst, NULL };
	struct pyinfo info;
	int r;

	snprintf(src, sizeof(src), "%s/versions/%s/lib/%s", root, version, soname);
	snprintf(python, sizeof(python), "%s/versions/%s/bin/python", root, version);
	if (access(src, R_OK) < 0 || access(python, X_OK) < 0 || access(argv[0], X_OK) < 0) {
		char what[PATH_MAX + 64];

		snprintf(what, sizeof(what), "%s stripped (%s or objcopy)", version, src);
		missing(what);
		return;
	}
	if (!mkdtemp(dir)) {
		CHECK_INT(-errno, 0);
		return;
	}
	snprintf(dst, sizeof(dst), "%s/%s", dir, file_name ?: soname);
	snprintf(link, sizeof(link), "%s/%s", dir, soname);
	r = run(argv);
	CHECK_INT(r, 0);
	if (r == 0 && file_name) {
		r = symlink(file_name, link) < 0 ? -errno : 0;
		CHECK_INT(r, 0);
	}
	if (r == 0) {
		printf("%s with a stripped %s:\n", version, file_name ?: soname);
		r = check_python(python, dir, &info);
		CHECK_INT(r, 0);
		if (r == 0) {
			CHECK_INT(info.version_source, version_source);
			CHECK_INT(info.interp_source, interp_source);
		}
	}
	if (file_name)
		unlink(link);
	unlink(dst);
	rmdir(dir);
}

/*
 * 2.7 and 3.6 busy in their only thread: it holds the GIL (a lone thread
 * never drops it), so _PyThreadState_Current leads to the interpreter. The
 * child spins only until pyfind has looked.
 */
static void check_gil_holder(const char *root, const char *version)
{
	static const char busy[] = "import sys\nsys.stdout.write('ready\\n')\nsys.stdout.flush()\n"
				   "while True: pass\n";
	char python[PATH_MAX], line[64];
	char *argv[] = { python, "-c", (char *)busy, NULL };
	struct pyinfo info;
	int fd, r;
	pid_t pid;

	snprintf(python, sizeof(python), "%s/versions/%s/bin/python", root, version);
	if (access(python, X_OK) < 0) {
		missing(python);
		return;
	}
	pid = spawn(argv, NULL, &fd);
	CHECK_TRUE(pid > 0);
	if (pid <= 0)
		return;
	r = read_line(fd, line, sizeof(line), 10000);
	CHECK_INT(r, 5);
	if (r == 5) {
		/*
		 * _PyThreadState_Current is NULL whenever the spinner has dropped the
		 * GIL for a moment, and then the interp_head path answers: ask a few
		 * times so the _PyThreadState_Current path is the one tested.
		 */
		for (int tries = 0; tries < 50; tries++) {
			r = pyfind(pid, &info);
			if (r < 0 || info.interp_source == PYFIND_INTERP_TSTATE_CURRENT)
				break;
			usleep(20000);
		}
		CHECK_INT(r, 0);
		if (r == 0) {
			CHECK_INT(info.interp_source, PYFIND_INTERP_TSTATE_CURRENT);
			CHECK_INT(pyinfo_thread_states(pid, &info, NULL, 0), 1);
			printf("%s busy: interpreter from %s\n", version,
			       interp_source_name(info.interp_source));
		}
	}
	close(fd);
	child_kill(pid);
}

static void pyenv_root(int argc, char **argv, char *buf, size_t size)
{
	const char *env = getenv("PYENV_ROOT");
	FILE *f;

	if (argc > 1) {
		snprintf(buf, size, "%s", argv[1]);
		return;
	}
	if (env && *env) {
		snprintf(buf, size, "%s", env);
		return;
	}
	f = popen("pyenv root 2>/dev/null", "re");
	if (f) {
		bool ok = fgets(buf, size, f) != NULL;

		if (pclose(f) == 0 && ok) {
			buf[strcspn(buf, "\n")] = '\0';
			if (*buf)
				return;
		}
	}
	snprintf(buf, size, "%s/.pyenv", getenv("HOME") ?: "/root");
}

static bool listed(const char *version)
{
	for (size_t i = 0; i < ARRAY_SIZE(pyenv_versions); i++)
		if (!strcmp(pyenv_versions[i], version))
			return true;
	return false;
}

/* Run check_python on pyenv's @version, adding its name to @names. */
static void check_pyenv(const char *root, const char *version, char *names, size_t size, int *tested)
{
	char python[PATH_MAX + 64];
	struct pyinfo info;

	snprintf(python, sizeof(python), "%s/versions/%s/bin/python", root, version);
	if (access(python, X_OK) < 0) {
		missing(python);
		return;
	}
	printf("%s:\n", python);
	check_python(python, NULL, &info);
	snprintf(names + strlen(names), size - strlen(names), "%s%s", *tested ? ", " : "", version);
	(*tested)++;
}

/*
 * Debian unstable's 3.13, 3.14 and 3.15 and their debug builds, in the root
 * scripts/test makes ($HEARTH_SID_ROOT, else /var/cache/hearth/sid-root): a
 * root that could not be made today (ROOT.failed says why) skips them; one
 * that was made must have every interpreter its VERSIONS file lists.
 */
static void check_sid(char *names, size_t size, int *tested)
{
	const char *root = getenv("HEARTH_SID_ROOT") ?: "/var/cache/hearth/sid-root";
	char path[PATH_MAX], failed[PATH_MAX], minor[16], version[64], python[64];
	_cleanup_fclose_ FILE *f = NULL;
	struct pyinfo info;

	snprintf(path, sizeof(path), "%s/VERSIONS", root);
	f = fopen(path, "re");
	if (!f) {
		snprintf(failed, sizeof(failed), "%s.failed", root);
		if (access(failed, F_OK) == 0)
			printf("Debian unstable's CPythons: no root today (%s), skipped\n", failed);
		else
			missing(path);
		return;
	}
	while (fscanf(f, "%15s %63s", minor, version) == 2) {
		for (int dbg = 0; dbg < 2; dbg++) {
			snprintf(python, sizeof(python), "/usr/bin/python%s%s", minor, dbg ? "d" : "");
			snprintf(path, sizeof(path), "%s%s", root, python);
			if (access(path, X_OK) < 0) {
				missing(path);
				continue;
			}
			printf("%s in %s (Debian %s):\n", python, root, version);
			spawn_root = root;
			check_python(python, NULL, &info);
			spawn_root = NULL;
			snprintf(names + strlen(names), size - strlen(names), "%s%s %s", *tested ? ", " : "",
				 python, version);
			(*tested)++;
		}
	}
}

int main(int argc, char **argv)
{
	char root[PATH_MAX], dir[PATH_MAX + 16], names[1024] = "";
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	struct pyinfo info;
	int tested = 0, fd;
	pid_t pid;

	atexit(children_kill_all);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGALRM, on_signal);
	alarm(55);

	ci = getenv("CI") && *getenv("CI");
	pyenv_root(argc, argv, root, sizeof(root));
	for (size_t i = 0; i < ARRAY_SIZE(pyenv_versions); i++)
		check_pyenv(root, pyenv_versions[i], names, sizeof(names), &tested);
	/* And whatever else pyenv has: a version added to the machine is tested before it is listed. */
	snprintf(dir, sizeof(dir), "%s/versions", root);
	d = opendir(dir);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && !listed(de->d_name)) {
			char python[PATH_MAX + 300];

			snprintf(python, sizeof(python), "%s/%s/bin/python", dir, de->d_name);
			if (access(python, X_OK) == 0)
				check_pyenv(root, de->d_name, names, sizeof(names), &tested);
		}
	if (access("/usr/bin/python3.11", X_OK) == 0) {
		printf("/usr/bin/python3.11:\n");
		if (check_python("/usr/bin/python3.11", NULL, &info) == 0) {
			/* Debian links libpython into the (stripped, non-PIE) executable. */
			CHECK_STR(info.module, "/usr/bin/python3.11");
			CHECK_INT(info.load_bias, 0);
		}
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s/usr/bin/python3.11",
			 tested ? ", " : "");
		tested++;
	} else {
		missing("/usr/bin/python3.11");
	}
	check_sid(names, sizeof(names), &tested);
	printf("test-pyfind: %d interpreters tested: %s\n", tested, names);
	CHECK_TRUE(tested > 0);

	/* No interp_head symbol: the interpreter is found by scanning writable data. */
	check_stripped(root, "2.7.18", "libpython2.7.so.1.0", NULL, PYFIND_VERSION_FILE_NAME,
		       PYFIND_INTERP_DATA_SCAN);
	check_stripped(root, "3.6.15", "libpython3.6m.so.1.0", NULL, PYFIND_VERSION_FILE_NAME,
		       PYFIND_INTERP_DATA_SCAN);
	check_gil_holder(root, "2.7.18");
	check_gil_holder(root, "3.6.15");
	/* No version in the name: the PY_VERSION string in .rodata tells. */
	check_stripped(root, "2.7.18", "libpython2.7.so.1.0", "libpython-renamed.so",
		       PYFIND_VERSION_RODATA, PYFIND_INTERP_DATA_SCAN);
	check_stripped(root, "3.8.18", "libpython3.8.so.1.0", "libpython-renamed.so",
		       PYFIND_VERSION_RODATA, PYFIND_INTERP_RUNTIME);

	/* Not Python at all. */
	{
		char *sleep_argv[] = { "/bin/sleep", "60", NULL };

		pid = spawn(sleep_argv, NULL, &fd);
		CHECK_TRUE(pid > 0);
		if (pid > 0) {
			CHECK_INT(pyfind(pid, &info), -ENOEXEC);
			close(fd);
			child_kill(pid);
		}
	}

	/* Gone: a child reaped is a pid nobody has (until reused, which is unlikely this soon). */
	{
		char *true_argv[] = { "/bin/true", NULL };

		pid = spawn(true_argv, NULL, &fd);
		CHECK_TRUE(pid > 0);
		if (pid > 0) {
			close(fd);
			waitpid(pid, NULL, 0);
			child_forget(pid);
			CHECK_INT(pyfind(pid, &info), -ESRCH);
		}
		CHECK_INT(pyfind(0, &info), -ESRCH);
		CHECK_INT(pyfind(-1, &info), -ESRCH);
	}

	return check_finish("pyfind");
}
