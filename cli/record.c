// SPDX-License-Identifier: MIT
/*
 * hearth record: sample processes given by PID, or a command run as a child,
 * until Ctrl-C, the duration, or every target exits; then write the profile.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "collector.h"
#include "options.h"
#include "export.h"
#include "hearth.h"
#include "log.h"
#include "output.h"
#include "parse.h"
#include "procmaps.h"
#include "sampler.h"
#include "summary.h"
#include "record.h"

static struct record_args arg;


static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (log_get_level() < LOG_LEVEL_TRACE)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* The process (thread group) @pid belongs to, from /proc/PID/status; -ESRCH if none. */
static pid_t record_tgid_of(pid_t pid)
{
	char path[64], line[128];
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -ESRCH;
	while (fgets(line, sizeof(line), f)) {
		int tgid;

		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			return tgid;
	}
	return -ESRCH;
}

static int record_watch(struct record *rec, pid_t pid)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct watched *w;
	int fd;

	for (size_t i = 0; i < rec->nr_watched; i++)
		if (rec->watched[i].pid == pid && !rec->watched[i].exited)
			return 0;
	if (rec->nr_watched == RECORD_MAX_WATCHED) {
		rec->unwatched++;
		return -E2BIG;
	}
	fd = syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -errno; /* ESRCH: already gone; its samples still count */
	w = &rec->watched[rec->nr_watched];
	*w = (struct watched){ .pid = pid, .pidfd = fd };
	ev.data.u64 = 2 + rec->nr_watched;
	if (epoll_ctl(rec->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	rec->nr_watched++;
	rec->nr_live++;
	return 0;
}

static void record_on_new_process(void *ctx, pid_t pid)
{
	struct record *rec = ctx;

	log_debug("following new process %d", (int)pid);
	record_watch(rec, pid);
}

/* The name the kernel gives process @pid, "?" when gone. */
static const char *record_comm(pid_t pid, char *buf, size_t size)
{
	return proc_read_comm(pid, buf, size) < 0 ? "?" : buf;
}

/* Once a target is known to run CPython or not: say what cannot be walked, once. */
static void record_on_python(void *ctx, pid_t pid, const struct pyprocess *py)
{
	struct record *rec = ctx;
	const struct pyinfo *info = pyprocess__info(py);
	int err = pyprocess__error(py);
	char comm[32], version[32];

	if (info->major && info->micro >= 0)
		snprintf(version, sizeof(version), "%u.%u.%d", info->major, info->minor, info->micro);
	else if (info->major)
		snprintf(version, sizeof(version), "%u.%u", info->major, info->minor);
	else
		snprintf(version, sizeof(version), "of unknown version");
	switch (pyprocess__state(py)) {
	case PYPROCESS_ACTIVE:
		snprintf(rec->python, sizeof(rec->python), "CPython %s", version);
		log_debug("pid %d: CPython %s in %s: walking its Python stacks", (int)pid, version, info->module);
		/* A version newer than any known is worth a warning; the target's table differing from our headers, -v. */
		if (info->note[0] && info->layout_source == PYFIND_LAYOUT_NEWEST)
			log_warn("pid %d (%s): %s", (int)pid, record_comm(pid, comm, sizeof(comm)), info->note);
		else if (info->note[0])
			log_debug("pid %d: CPython %s: %s", (int)pid, version, info->note);
		break;
	case PYPROCESS_UNSUPPORTED:
		if (info->note[0])
			log_warn("pid %d (%s): CPython %s (%s) is not supported: %s: native stacks only", (int)pid,
				 record_comm(pid, comm, sizeof(comm)), version, info->module, info->note);
		else
			log_warn("pid %d (%s): CPython %s (%s) is not supported (Hearth reads 2.7 and 3.6-3.15): "
				 "native stacks only",
				 (int)pid, record_comm(pid, comm, sizeof(comm)), version, info->module);
		break;
	case PYPROCESS_UNREADABLE:
		log_warn("pid %d (%s): CPython found but its interpreter state cannot be read (%s): native stacks only",
			    (int)pid, record_comm(pid, comm, sizeof(comm)), strerror(-err));
		break;
	case PYPROCESS_NONE:
		record_comm(pid, comm, sizeof(comm));
		/* A C program is normal; a "python" without CPython in it is worth saying. */
		if (!strncmp(comm, "python", 6))
			log_warn("pid %d (%s): no CPython found (no libpython, _PyRuntime or interpreter "
				    "symbols): native stacks only", (int)pid, comm);
		else
			log_debug("pid %d (%s): not CPython: native stacks", (int)pid, comm);
		break;
	case PYPROCESS_LOOKING:
		break;
	}
}

/*
 * Fork the command, stopped before exec until we release it, so sampling is
 * on before its first instruction. Returns the pid and the release fd.
 */
static int record_spawn(char **argv, pid_t *ret_pid, int *ret_release, int *ret_errpipe)
{
	int go[2], err[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(err, O_CLOEXEC) < 0) {
		int r = -errno;

		close(go[0]);
		close(go[1]);
		return r;
	}
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(go[0]);
		close(go[1]);
		close(err[0]);
		close(err[1]);
		return r;
	}
	if (pid == 0) {
		sigset_t all;
		char c;
		int e;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		close(go[1]);
		close(err[0]);
		/* Wait for the go (a byte) or for the parent to give up (EOF). */
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		execvp(argv[0], argv);
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	*ret_pid = pid;
	*ret_release = go[1];
	*ret_errpipe = err[0];
	return 0;
}

static void record_status(const struct record *rec, uint64_t elapsed_ns, bool final)
{
	struct collector_stats st;

	if (collector__stats(rec->collector, &st) < 0)
		return;
	fprintf(stderr, "\rhearth: %.1f s, %" PRIu64 " samples, %" PRIu64 " lost\033[K%s",
		elapsed_ns / 1e9, st.samples, st.lost, final ? "\n" : "");
}

/* The main loop: returns when recording should end. */
static int record_loop(struct record *rec, int sigfd, uint64_t start_ns, bool *ret_interrupted)
{
	bool tty = isatty(STDERR_FILENO);
	uint64_t last_status = 0;

	*ret_interrupted = false;
	for (;;) {
		struct epoll_event evs[16];
		uint64_t now = time_now_ns();
		int timeout = collector__tick_ms(rec->collector), n, r;

		if (tty && timeout > RECORD_STATUS_MS)
			timeout = RECORD_STATUS_MS;

		if (arg.duration_ns && now - start_ns >= arg.duration_ns)
			return 0;
		if (arg.duration_ns && (arg.duration_ns - (now - start_ns)) / 1000000 < (uint64_t)timeout)
			timeout = (int)((arg.duration_ns - (now - start_ns)) / 1000000) + 1;
		if (rec->nr_watched && rec->nr_live == 0)
			return 0;
		n = epoll_wait(rec->epfd, evs, ARRAY_SIZE(evs), timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		/*
		 * Samples wake us in batches; drain on every pass so nothing waits
		 * long, but not for ever when they come faster than they are made
		 * into stacks: the duration and signals are looked at in between.
		 */
		r = collector__drain_for(rec->collector, RECORD_DRAIN_BUDGET_NS);
		if (r < 0)
			return r;
		collector__tick(rec->collector);
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == 1) {
				struct signalfd_siginfo si;

				if (read(sigfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGCHLD)
					continue;
				/* A signal sent to us alone (not by the terminal) goes on to the command. */
				if (rec->child > 0 && si.ssi_code == SI_USER && (pid_t)si.ssi_pid != rec->child)
					kill(rec->child, (int)si.ssi_signo);
				*ret_interrupted = true;
				return 0;
			}
			if (tag >= 2 && tag - 2 < rec->nr_watched) {
				struct watched *w = &rec->watched[tag - 2];

				if (!w->exited) {
					w->exited = true;
					rec->nr_live--;
					epoll_ctl(rec->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
					collector__remove_pid(rec->collector, w->pid);
					log_debug("process %d exited", (int)w->pid);
				}
			}
		}
		now = time_now_ns();
		if (tty && now - last_status >= RECORD_STATUS_MS * 1000000ull) {
			record_status(rec, now - start_ns, false);
			last_status = now;
		}
	}
}

static double record_seconds(const struct timeval *tv)
{
	return tv->tv_sec + tv->tv_usec / 1e6;
}

/* Wait for the command after recording; a second Ctrl-C kills it. */
static void record_reap_child(struct record *rec, int sigfd)
{
	if (rec->child <= 0 || rec->child_reaped)
		return;
	for (;;) {
		struct pollfd pfd = { .fd = sigfd, .events = POLLIN };
		struct signalfd_siginfo si;
		pid_t r = wait4(rec->child, &rec->child_status, WNOHANG, &rec->child_usage);

		if (r == rec->child) {
			rec->child_reaped = true;
			return;
		}
		if (r < 0)
			return;
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		if (read(sigfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGCHLD) {
			kill(rec->child, SIGKILL);
			wait4(rec->child, &rec->child_status, 0, &rec->child_usage);
			rec->child_reaped = true;
			return;
		}
	}
}

/* Each -p is a process, not one of its threads: one clear line otherwise. Returns 0 or -ESRCH (said). */
static int record_check_pids(void)
{
	for (int i = 0; i < arg.nr_pids; i++) {
		pid_t tgid = record_tgid_of(arg.pids[i]);

		if (tgid < 0) {
			log_error("cannot attach to pid %d: no such process", (int)arg.pids[i]);
			return -ESRCH;
		}
		if (tgid != arg.pids[i]) {
			log_error("cannot attach to pid %d: it is a thread of process %d; give -p %d",
				  (int)arg.pids[i], (int)tgid, (int)tgid);
			return -ESRCH;
		}
	}
	return 0;
}

/* The signals through a signalfd, and the epoll set the loop waits on; the command gets its mask back before exec. */
static int record_event_loop(struct record *rec, int *ret_sigfd, int *ret_epfd)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	*ret_sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	*ret_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (*ret_sigfd < 0 || *ret_epfd < 0) {
		log_error("cannot set up the event loop: %m");
		return -errno;
	}
	rec->epfd = *ret_epfd;
	return 0;
}

/* The collector for what the command line asked, its BPF program loaded. Returns 0 or -errno (said). */
static int record_new_collector(struct record *rec, struct collector **ret)
{
	struct collector_options co = {};
	int r;

	co.rate_hz = (unsigned int)arg.rate;
	co.kernel = arg.kernel;
	co.thread_roots = arg.threads;
	co.process_roots = arg.nr_pids > 1 || arg.subprocesses;
	co.follow_children = arg.subprocesses;
	co.on_new_process = record_on_new_process;
	co.periodic = arg.periodic;
	co.stack_bytes = arg.unwinding.stack_bytes;
	co.native = arg.unwinding.native;
	co.unwind_auto = arg.unwinding.unwind_auto;
	co.python = arg.unwinding.python;
	co.gil_only = arg.unwinding.gil_only;
	/* Stack copies are big: 32 MiB holds a quarter second of 16 KiB copies from 8 CPUs at 999 Hz; auto copies fewer. */
	co.ring_bytes = !co.stack_bytes ? 0 : co.unwind_auto ? 16u << 20 : 32u << 20;
	co.py.function = arg.function;
	co.py.full_filenames = arg.full_filenames;
	co.on_python = record_on_python;
	co.ctx = rec;
	r = collector__new(&co, ret);
	if (r == -EPERM)
		log_error("cannot load the BPF sampler: permission denied (needs root, or CAP_BPF and CAP_PERFMON)");
	else if (r == -ENOENT)
		log_error("cannot load the BPF sampler: kernel BTF not found (/sys/kernel/btf/vmlinux)");
	else if (r == -EACCES)
		log_error("cannot load the BPF sampler: the kernel's verifier rejected it (run with -vv for its log)");
	else if (r < 0)
		log_error("cannot load the BPF sampler: %s (run with -vv for the verifier log)", strerror(-r));
	return r;
}

/* Every pid a target, watched for its exit, and the ring and signals in the epoll set. Returns 0 or -errno (said). */
static int record_attach(struct record *rec, int sigfd)
{
	struct epoll_event ev;
	int r;

	for (int i = 0; i < arg.nr_pids; i++) {
		r = collector__add_pid(rec->collector, arg.pids[i]);
		if (r >= 0)
			r = record_watch(rec, arg.pids[i]);
		if (r < 0) {
			log_error("cannot attach to pid %d: %s", (int)arg.pids[i],
				  r == -ESRCH ? "no such process" : strerror(-r));
			return r;
		}
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0 };
	if (epoll_ctl(rec->epfd, EPOLL_CTL_ADD, collector__fd(rec->collector), &ev) < 0 ||
	    (ev.data.u64 = 1, epoll_ctl(rec->epfd, EPOLL_CTL_ADD, sigfd, &ev) < 0)) {
		log_error("cannot set up the event loop: %m");
		return -errno;
	}
	return 0;
}

/* Let the command run (it waits on @release); returns 0, or -errno with the command reaped when exec failed (said). */
static int record_release_command(struct record *rec, int *release, int errpipe)
{
	int e = 0;

	if (write(*release, "x", 1) != 1) {
		log_error("cannot start %s: %m", arg.command[0]);
		return -EPIPE;
	}
	*release = safe_close(*release);
	/* The error pipe closes on a successful exec, or carries exec's errno. */
	if (read(errpipe, &e, sizeof(e)) == sizeof(e)) {
		log_error("cannot run %s: %s", arg.command[0], strerror(e));
		waitpid(rec->child, NULL, 0);
		rec->child = 0;
		return -e;
	}
	return 0;
}

/* The profile's description, then every output written. Returns 0 or -errno (said). */
static int record_write(struct collector *collector, const struct collector_stats *st,
			const struct timespec *wall, uint64_t elapsed)
{
	struct export_options eo = { .program_version = HEARTH_VERSION, .per_thread = arg.threads };
	struct profile_info *info = profile__info(collector__profile(collector));
	char target[512];
	int r;

	info->time_ns = (uint64_t)wall->tv_sec * 1000000000ull + (uint64_t)wall->tv_nsec;
	info->duration_ns = elapsed;
	info->rate_hz = (uint32_t)arg.rate;
	info->period_ns = 1000000000ull / arg.rate;
	info->lost_samples = st->lost;
	info->unknown_frames = st->unknown_frames;
	r = profile__set_target(collector__profile(collector), record_describe_target(&arg, target, sizeof(target)));
	if (r < 0)
		return r;
	for (size_t i = 0; i < arg.nr_outputs; i++) {
		r = output_write(&arg.outputs[i], collector__profile(collector), &eo);
		if (r < 0) {
			log_error("cannot write %s: %s", arg.outputs[i].path, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* How the command ended, and the CPU time its samples should add up to. */
static void record_say_child(const struct record *rec, const struct collector_stats *st)
{
	if (!rec->child_reaped)
		return;
	if (WIFEXITED(rec->child_status) && WEXITSTATUS(rec->child_status))
		log_warn("%s exited with status %d", arg.command[0], WEXITSTATUS(rec->child_status));
	else if (WIFSIGNALED(rec->child_status))
		log_warn("%s was killed by signal %d (%s)", arg.command[0],
			 WTERMSIG(rec->child_status), strsignal(WTERMSIG(rec->child_status)));
	else if (isatty(STDERR_FILENO) || arg.verbose)
		fprintf(stderr, "hearth: %s exited with status 0\n", arg.command[0]);
	/* What the samples should add up to, for a command recorded from start to end. */
	if (isatty(STDERR_FILENO) || arg.verbose)
		fprintf(stderr, "hearth: %s used %.3f s of CPU (%.3f user, %.3f system); its samples stand "
				"for %.3f s\n", arg.command[0],
			record_seconds(&rec->child_usage.ru_utime) + record_seconds(&rec->child_usage.ru_stime),
			record_seconds(&rec->child_usage.ru_utime), record_seconds(&rec->child_usage.ru_stime),
			st->weight_ns / 1e9);
}

int verb_record(int argc, char **argv)
{
	_cleanup_(collector__freep) struct collector *collector = NULL;
	_cleanup_close_ int sigfd = -1, epfd = -1, release = -1, errpipe = -1;
	static struct record rec;
	struct collector_stats st;
	uint64_t start_ns, elapsed;
	struct timespec wall;
	bool interrupted = false;
	char target[512], error[COLLECTOR_ERROR_MAX];
	int r, ret = EXIT_FAILURE_RUN;

	rec.start_ns = time_now_ns();
	r = record_parse_args(argc, argv, &arg);
	if (r > 0)
		return EXIT_OK;
	if (r < 0)
		return EXIT_USAGE;
	log_set_level(arg.verbose >= 2 ? LOG_LEVEL_TRACE : arg.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	libbpf_set_print(libbpf_print);

	if (collector_check_access(error) < 0) {
		log_error("%s", error);
		return EXIT_FAILURE_RUN;
	}
	if (record_check_pids() < 0)
		return EXIT_FAILURE_RUN;
	for (size_t i = 0; i < arg.nr_outputs; i++) {
		r = output_open(&arg.outputs[i]);
		if (r < 0) {
			log_error("cannot write %s: %s", arg.outputs[i].path, strerror(-r));
			goto out_unlink;
		}
	}
	if (record_event_loop(&rec, &sigfd, &epfd) < 0 || record_new_collector(&rec, &collector) < 0)
		goto out_unlink;
	rec.collector = collector;
	if (arg.command) {
		r = record_spawn(arg.command, &rec.child, &release, &errpipe);
		if (r < 0) {
			log_error("cannot start %s: %s", arg.command[0], strerror(-r));
			goto out_unlink;
		}
		arg.pids[0] = rec.child;
		arg.nr_pids = 1;
	}
	if (record_attach(&rec, sigfd) < 0)
		goto out_kill;
	r = collector__start(collector);
	if (r < 0) {
		log_error("cannot start sampling: %s", strerror(-r));
		goto out_kill;
	}
	if (collector__stats(collector, &st) == 0)
		record_check_clock(&arg, &st);
	clock_gettime(CLOCK_REALTIME, &wall);
	start_ns = time_now_ns();
	if (arg.command && record_release_command(&rec, &release, errpipe) < 0)
		goto out_kill;
	log_debug("recording %s at %lu Hz", record_describe_target(&arg, target, sizeof(target)), arg.rate);

	r = record_loop(&rec, sigfd, start_ns, &interrupted);
	elapsed = time_now_ns() - start_ns;
	collector__stop(collector);
	/* With "recording" above, what a test needs to take the target's CPU time over exactly the sampled time. */
	log_debug("sampling stopped after %.3f s", elapsed / 1e9);
	if (r < 0)
		log_error("recording stopped early: %s", strerror(-r));
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K");

	if (collector__stats(collector, &st) < 0)
		memset(&st, 0, sizeof(st));
	if (record_write(collector, &st, &wall, elapsed) < 0)
		goto out_unlink;
	if (st.samples == 0)
		log_warn("no samples: the target%s did not run on a CPU while recording",
			 arg.nr_pids > 1 ? "s" : "");
	record_check_rate(&arg, &st, elapsed);
	if (isatty(STDERR_FILENO) || arg.verbose)
		record_summary(&rec, &arg, &st, elapsed);
	else if (st.lost)
		log_warn("%" PRIu64 " samples lost", st.lost);
	ret = EXIT_OK;

	record_reap_child(&rec, sigfd);
	record_say_child(&rec, &st);
	goto out;

out_kill:
	if (rec.child > 0) {
		kill(rec.child, SIGKILL);
		waitpid(rec.child, NULL, 0);
	}
out_unlink:
	for (size_t i = 0; i < arg.nr_outputs; i++)
		output_discard(&arg.outputs[i]);
out:
	for (size_t i = 0; i < rec.nr_watched; i++)
		close(rec.watched[i].pidfd);
	return ret;
}
