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

#define RECORD_DEFAULT_RATE 99
#define RECORD_MAX_RATE 10000
/*
 * The loop sleeps as long as collector__tick_ms() allows (a second once the
 * stacks are known): the BPF side wakes it once the ring buffer holds an eighth of
 * its size, and at once for a new process or an exit, and signals and the
 * targets' exits come through the epoll set. Each wake-up costs tens of
 * microseconds of cold caches on a busy machine, as much as several
 * samples at 99 Hz: wake rarely.
 */
/* With the status line on a terminal, as often as it is redrawn. */
#define RECORD_STATUS_MS 250
/* The longest one drain of the loop takes before it looks at the clock and signals. */
#define RECORD_DRAIN_BUDGET_NS (100ull * 1000000ull)
#define RECORD_MAX_WATCHED 4096

static pid_t arg_pids[PARSE_MAX_PIDS];
static int arg_nr_pids;
static uint64_t arg_duration_ns;
static unsigned long arg_rate = RECORD_DEFAULT_RATE;
static struct output arg_outputs[OUTPUT_MAX];
static size_t arg_nr_outputs;
static const struct exporter *arg_format;
static bool arg_kernel = true;
static bool arg_threads;
static bool arg_subprocesses;
static bool arg_function;
static bool arg_full_filenames;
/* --unwind, --native, --stack-size, --no-python, --gil: checked together into arg_unwinding. */
static struct collector_args arg_collector;
static struct collector_options arg_unwinding;
static bool arg_periodic;
static int arg_verbose;
static char **arg_command;

/* A process whose exit we wait for, through a pidfd. */
struct watched {
	pid_t pid;
	int pidfd;
	bool exited;
};

struct record {
	struct collector *collector;
	struct watched watched[RECORD_MAX_WATCHED];
	size_t nr_watched, nr_live;
	int epfd;
	pid_t child;
	int child_status;
	struct rusage child_usage; /* the command's CPU time (and its waited-for children's), once reaped */
	bool child_reaped;
	uint64_t unwatched; /* children we could not watch (table full) */
	uint64_t start_ns;  /* when hearth started (CLOCK_MONOTONIC) */
	char python[64];    /* "CPython 3.11.7" of the last process found, for the summary */
};

static void record_help(void)
{
	printf("Usage: hearth record [OPTIONS] (-p PID[,PID...] | -- COMMAND [ARGS...])\n\n"
	       "Sample the CPU stacks of running processes or of a command, and write a profile\n"
	       "when Ctrl-C is pressed, the duration runs out, or every target exits. CPython\n"
	       "processes (2.7, 3.6-3.15) show their Python stacks, also in containers.\n\n"
	       "Options:\n"
	       "  -p, --pid PID[,PID...]  processes to profile (all their threads, now and later)\n"
	       "  -d, --duration TIME     stop after TIME (30, 30s, 500ms, 2m; default: until Ctrl-C\n"
	       "                          or the targets exit)\n"
	       "  -r, --rate HZ           samples per second per CPU, on average (1-%d, default %d);\n"
	       "                          the intervals are random, each sample weighs its own\n"
	       "  -o, --output FILE       where to write ('-' for stdout; default flame.svg); give it\n"
	       "                          again to write the same recording in other formats too\n"
	       "  -f, --format FORMAT     output format (default: from the file extension):\n",
	       RECORD_MAX_RATE, RECORD_DEFAULT_RATE);
	for (size_t i = 0; exporters[i]; i++) {
		printf("                            %-11s %s (", exporters[i]->name, exporters[i]->description);
		for (const char *const *e = exporters[i]->extensions; *e; e++)
			printf("%s%s", e == exporters[i]->extensions ? "" : " ", *e);
		printf(")\n");
	}
	printf("      --no-kernel         leave kernel frames out\n"
	       "      --threads           put a root frame per thread\n"
	       "      --subprocesses      follow child processes of the targets\n"
	       "      --gil               keep only samples of threads holding the Python GIL\n"
	       "      --function          one Python frame per function (its first line), not per line\n"
	       "      --full-filenames    Python file names in full (default: site-packages/ and the\n"
	       "                          standard library's path cut off)\n"
	       "      --no-python         native stacks only, even for Python processes\n"
	       "      --unwind MODE       native stacks: 'auto' (the default) walks frame pointers where\n"
	       "                          the executable (or libpython) keeps them, checked and leaves\n"
	       "                          fixed with DWARF over 1K of stack, and unwinds a copy of the\n"
	       "                          stack with DWARF CFI where they are missing or the walks\n"
	       "                          prove wrong; 'fp' or 'dwarf' for every process\n"
	       "      --native            Python processes: every native frame, each evaluation loop\n"
	       "                          replaced by the Python frames it ran (implies --unwind dwarf);\n"
	       "                          without it, only the native frames below the Python stack\n"
	       "      --stack-size SIZE   bytes of stack copied per sample with --unwind dwarf\n"
	       "                          (default 16K; 4K to 32K)\n"
	       "      --periodic          sample at fixed intervals (cpu-clock perf events, as perf\n"
	       "                          does) instead of random ones; periodic work can then alias\n"
	       "                          with the samples\n"
	       "  -v, --verbose           more detail; -vv adds libbpf and verifier output\n"
	       "  -h, --help              this help\n\n"
	       "Examples:\n"
	       "  hearth record -p 4242 -d 30 -o flame.svg\n"
	       "  hearth record -o out.pb.gz -- ./myprog --arg\n"
	       "  hearth record -d 10 -o flame.svg -o profile.pb.gz -- ./myprog\n"
	       "  hearth record -p 4242,4243 -r 999 -f folded -o -\n");
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (log_get_level() < LOG_LEVEL_TRACE)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int record_parse_args(int argc, char **argv)
{
	enum {
		ARG_NO_KERNEL = 0x100,
		ARG_THREADS,
		ARG_SUBPROCESSES,
		ARG_GIL,
		ARG_FUNCTION,
		ARG_FULL_FILENAMES,
		ARG_NO_PYTHON,
		ARG_UNWIND,
		ARG_STACK_SIZE,
		ARG_NATIVE,
		ARG_PERIODIC,
	};
	static const struct option options[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "no-kernel", no_argument, NULL, ARG_NO_KERNEL },
		{ "threads", no_argument, NULL, ARG_THREADS },
		{ "subprocesses", no_argument, NULL, ARG_SUBPROCESSES },
		{ "gil", no_argument, NULL, ARG_GIL },
		{ "function", no_argument, NULL, ARG_FUNCTION },
		{ "full-filenames", no_argument, NULL, ARG_FULL_FILENAMES },
		{ "no-python", no_argument, NULL, ARG_NO_PYTHON },
		{ "unwind", required_argument, NULL, ARG_UNWIND },
		{ "stack-size", required_argument, NULL, ARG_STACK_SIZE },
		{ "native", no_argument, NULL, ARG_NATIVE },
		{ "periodic", no_argument, NULL, ARG_PERIODIC },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	char error[COLLECTOR_ERROR_MAX];
	int c, r, option_index = -1;

	opterr = 0;
	/* '+': stop at the first non-option, so a command's own flags stay its own. */
	while ((c = getopt_long(argc, argv, "+:p:d:r:o:f:vh", options, &option_index)) >= 0) {
		switch (c) {
		case 'p':
			r = parse_pid_list(optarg, arg_pids + arg_nr_pids, PARSE_MAX_PIDS - arg_nr_pids);
			if (r < 0) {
				log_error("invalid PID list '%s': give positive process ids separated by commas",
					  optarg);
				return -EINVAL;
			}
			arg_nr_pids += r;
			break;
		case 'd':
			if (parse_duration(optarg, &arg_duration_ns) < 0) {
				log_error("invalid duration '%s': give a positive time such as 30, 30s, 500ms or 2m",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'r':
			if (parse_uint(optarg, 1, RECORD_MAX_RATE, &arg_rate) < 0) {
				log_error("invalid rate '%s': give samples per second from 1 to %d", optarg,
					  RECORD_MAX_RATE);
				return -EINVAL;
			}
			break;
		case 'o':
			if (outputs_add(arg_outputs, &arg_nr_outputs, optarg) < 0)
				return -EINVAL;
			break;
		case 'f':
			arg_format = output_format_arg(optarg);
			if (!arg_format)
				return -EINVAL;
			break;
		case ARG_NO_KERNEL:
			arg_kernel = false;
			break;
		case ARG_THREADS:
			arg_threads = true;
			break;
		case ARG_SUBPROCESSES:
			arg_subprocesses = true;
			break;
		case ARG_GIL:
		case ARG_NO_PYTHON:
		case ARG_UNWIND:
		case ARG_NATIVE:
		case ARG_STACK_SIZE:
			r = collector_args__parse(&arg_collector, options[option_index].name, optarg, error);
			if (r < 0) {
				log_error("%s", error);
				return r;
			}
			break;
		case ARG_FUNCTION:
			arg_function = true;
			break;
		case ARG_FULL_FILENAMES:
			arg_full_filenames = true;
			break;
		case ARG_PERIODIC:
			arg_periodic = true;
			break;
		case 'v':
			arg_verbose++;
			break;
		case 'h':
			record_help();
			return 1;
		case ':':
			log_error("option '%s' needs a value (see 'hearth record --help')", argv[optind - 1]);
			return -EINVAL;
		default:
			log_error("unknown option '%s' (see 'hearth record --help')", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--") != 0) {
			log_error("unexpected argument '%s': put a command after '--'", argv[optind]);
			return -EINVAL;
		}
		arg_command = argv + optind;
	}
	if (!arg_nr_pids && !arg_command) {
		log_error("no target: give -p PID or -- COMMAND (see 'hearth record --help')");
		return -EINVAL;
	}
	if (arg_nr_pids && arg_command) {
		log_error("give either -p PID or a command, not both");
		return -EINVAL;
	}
	if (collector_args__apply(&arg_collector, &arg_unwinding, error) < 0) {
		log_error("%s", error);
		return -EINVAL;
	}
	if (!arg_nr_outputs)
		arg_outputs[arg_nr_outputs++].path = "flame.svg";
	return outputs_resolve(arg_outputs, arg_nr_outputs, arg_format);
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

static const char *record_describe_target(char *buf, size_t size)
{
	size_t n = 0;

	if (arg_command) {
		for (char **a = arg_command; *a && n + 1 < size; a++)
			n += snprintf(buf + n, size - n, "%s%s", a == arg_command ? "" : " ", *a);
	} else {
		n = snprintf(buf, size, "pid%s ", arg_nr_pids > 1 ? "s" : "");
		for (int i = 0; i < arg_nr_pids && n + 1 < size; i++)
			n += snprintf(buf + n, size - n, "%s%d", i ? "," : "", (int)arg_pids[i]);
	}
	if (n >= size && size > 4)
		strcpy(buf + size - 4, "...");
	return buf;
}

/*
 * How the CPUs were sampled, and what the intervals between ticks were (the
 * samples' weights): their mean, spread (1 for an exponential distribution,
 * 0 for a fixed period) and deciles, in eighths of the mean asked.
 */
static void record_summary_clock(const struct collector_stats *st, uint64_t elapsed_ns)
{
	int cpus = st->clock_cpus + st->perf_cpus;
	double mean = st->samples ? (double)st->weight_ns / st->samples : 0, cv = 0;
	double step = 1e9 / arg_rate / 8;
	uint64_t seen = 0;
	int p10 = -1, p50 = -1, p90 = -1;

	if (!cpus)
		return;
	if (st->samples > 1 && mean > 0)
		cv = sqrt(fmax(0, st->weight_sq / st->samples - mean * mean)) / mean;
	for (int i = 0; i < COLLECTOR_INTERVAL_BUCKETS; i++) {
		seen += st->intervals[i];
		if (p10 < 0 && seen * 10 >= st->samples)
			p10 = i;
		if (p50 < 0 && seen * 2 >= st->samples)
			p50 = i;
		if (p90 < 0 && seen * 10 >= st->samples * 9)
			p90 = i;
	}
	fprintf(stderr, "hearth: sampling: %d CPUs at random intervals, %d periodically%s%s; %.0f ticks per "
			"second per CPU\n", st->clock_cpus, st->perf_cpus,
		st->perf_cpus && !arg_periodic ? ": the random clock " : "",
		st->perf_cpus && !arg_periodic ? sampler_clock_error(st->clock_error) : "",
		elapsed_ns ? st->ticks / (elapsed_ns / 1e9) / cpus : 0.0);
	if (st->samples)
		fprintf(stderr, "hearth: sample weights (the intervals between a CPU's ticks): mean %.3f ms, "
				"spread %.2f of the mean, 10%%/50%%/90%% under %.2f/%.2f/%.2f ms\n",
			mean / 1e6, cv, (p10 + 1) * step / 1e6, (p50 + 1) * step / 1e6, (p90 + 1) * step / 1e6);
}

/* Microseconds per run of @ns over @runs, 0 without runs. */
static double per_run(uint64_t ns, uint64_t runs)
{
	return runs ? ns / 1e3 / runs : 0.0;
}

static void record_summary(const struct record *rec, const struct collector_stats *st,
			   uint64_t elapsed_ns)
{
	struct profile *p = collector__profile(rec->collector);
	struct summary_entry top[5];
	uint64_t total = profile__total(p);
	int n = summary_top_self(p, top, ARRAY_SIZE(top));

	fprintf(stderr, "hearth: %" PRIu64 " samples in %.1f s at %lu Hz, %" PRIu64 " lost, %" PRIu64
			" of %" PRIu64 " frames unknown (%.1f%%)\n",
		st->samples, elapsed_ns / 1e9, arg_rate, st->lost, st->unknown_frames, st->frames,
		st->frames ? 100.0 * st->unknown_frames / st->frames : 0.0);
	record_summary_clock(st, elapsed_ns);
	if (st->kstack_failed || st->ustack_failed || st->truncated || st->dropped || st->events_lost)
		fprintf(stderr, "hearth: %" PRIu64 " kernel and %" PRIu64 " user stacks unreadable, %" PRIu64
				" truncated, %" PRIu64 " dropped (profile full), %" PRIu64 " process events lost\n",
			st->kstack_failed, st->ustack_failed, st->truncated, st->dropped, st->events_lost);
	if (st->py_processes)
		fprintf(stderr, "hearth: Python (%s%s): %" PRIu64 " of %" PRIu64 " samples with Python stacks, "
				"%" PRIu64 " outside Python, %" PRIu64 " truncated, %" PRIu64 " incomplete, %" PRIu64
				" unknown code objects\n",
			rec->python, st->py_processes > 1 ? ", several processes" : "", st->py_stacks,
			st->py_samples, st->py_samples - st->py_stacks, st->py_truncated, st->py_broken,
			st->py_unknown_code);
	fprintf(stderr, "hearth: native walks: %" PRIu64 " ended at a return address outside executable code, %" PRIu64
			" went on past the program's or thread's start (cut there)\n",
		st->walks_bad_ret, st->walks_past_root);
	if (arg_unwinding.unwind_auto)
		fprintf(stderr, "hearth: --unwind auto: %" PRIu64 " processes without frame pointers, unwound with DWARF, "
				"and %" PRIu64 " whose frame-pointer walks DWARF contradicted; %" PRIu64 " frame-pointer "
				"samples with a leaf in code without them, %" PRIu64 " given its caller back by DWARF; "
				"%" PRIu64 " walks cut short at a return into code without them ([incomplete])\n",
			st->dwarf_processes, st->dwarf_switched, st->leaf_samples, st->leaf_fixed, st->walks_cut);
	if (arg_unwinding.stack_bytes && (!arg_unwinding.unwind_auto || st->dwarf_processes || st->dwarf_switched)) {
		fprintf(stderr, "hearth: DWARF: %" PRIu64 " stacks unwound, %.1f frames each, %" PRIu64
				" without user registers; ended by:", st->dwarf_samples,
			st->dwarf_samples ? (double)st->dwarf_frames / st->dwarf_samples : 0.0, st->dwarf_uregs_failed);
		for (int i = 0; i < UNWIND_STOP__MAX; i++)
			if (st->dwarf_stops[i])
				fprintf(stderr, " %s %" PRIu64, unwind_stop_name((enum unwind_stop)i), st->dwarf_stops[i]);
		fprintf(stderr, "\n");
		fprintf(stderr, "hearth: DWARF: %.0f bytes of stack copied per sample, %" PRIu64 " CFI lookups "
				"answered by .debug_frame, %" PRIu64 " files unreadable; %" PRIu64 " walks through "
				"cached CFI rows, %" PRIu64 " by libunwind\n",
			st->dwarf_samples ? (double)st->dwarf_stack_bytes / st->dwarf_samples : 0.0,
			st->dwarf_debug_frames, st->dwarf_files_failed, st->dwarf_by_rows, st->dwarf_by_libunwind);
		if (st->dwarf_partial)
			fprintf(stderr, "hearth: DWARF: %" PRIu64 " Python samples unwound only down to the evaluation "
					"loop (the rest is not shown without --native)\n", st->dwarf_partial);
		if (st->py_processes)
			fprintf(stderr, "hearth: DWARF: %" PRIu64 " Python samples without the evaluation loop in "
					"their native stack, %" PRIu64 " whose loop activations and Python frames did not "
					"pair up (shown unmerged), %" PRIu64 " with the innermost loop entering or leaving\n",
				st->py_native_missed, st->py_native_mismatch, st->py_native_unentered);
	}
	if (arg_unwinding.gil_only)
		fprintf(stderr, "hearth: --gil: %" PRIu64 " samples left out (thread not holding the GIL)\n",
			st->gil_filtered);
	if (rec->unwatched)
		fprintf(stderr, "hearth: %" PRIu64 " child processes beyond %d could not be watched for their exit\n",
			rec->unwatched, RECORD_MAX_WATCHED);
	if (st->bpf_run_cnt && st->bpf_run_time_ns)
		fprintf(stderr, "hearth: BPF program: %.2f us per run, %" PRIu64 " runs, %.2f us per target sample "
				"(%s); %.2f us per run that sampled a target (%" PRIu64 "), %.2f us per other tick\n",
			st->bpf_run_time_ns / 1e3 / st->bpf_run_cnt, st->bpf_run_cnt,
			st->samples ? st->bpf_run_time_ns / 1e3 / st->samples : 0.0,
			st->perf_cpus ? "kernel.bpf_stats_enabled" : "the clock timing itself",
			per_run(st->bpf_sample_time_ns, st->bpf_samples), st->bpf_samples,
			st->bpf_run_time_ns > st->bpf_sample_time_ns && st->bpf_run_cnt > st->bpf_samples
				? per_run(st->bpf_run_time_ns - st->bpf_sample_time_ns, st->bpf_run_cnt - st->bpf_samples)
				: 0.0);
	if (st->first_sample_ns > rec->start_ns)
		fprintf(stderr, "hearth: first sample %.1f ms after hearth started\n",
			(st->first_sample_ns - rec->start_ns) / 1e6);
	if (n > 0) {
		fprintf(stderr, "hearth: top functions by self time:\n");
		for (int i = 0; i < n; i++)
			fprintf(stderr, "  %5.1f%%  %s\n", total ? 100.0 * top[i].self / total : 0.0, top[i].name);
	}
	for (size_t i = 0; i < arg_nr_outputs; i++)
		fprintf(stderr, "hearth: wrote %s (%s)\n",
			strcmp(arg_outputs[i].path, "-") ? arg_outputs[i].path : "standard output",
			arg_outputs[i].format->name);
}

/* Say at start when some CPUs are sampled at fixed intervals although random ones were wanted. */
static void record_check_clock(const struct collector_stats *st)
{
	if (st->perf_cpus && !arg_periodic)
		log_warn("sampling %d of %d CPUs at fixed intervals: the random sampling clock %s; "
			 "periodic work can alias with the samples", st->perf_cpus, st->perf_cpus + st->clock_cpus,
			 sampler_clock_error(st->clock_error));
	if (st->perf_cpus && st->max_sample_rate > 0 && arg_rate > (unsigned long)st->max_sample_rate)
		log_warn("kernel.perf_event_max_sample_rate is %d, below the %lu Hz asked: the kernel throttles "
			 "the perf events", st->max_sample_rate, arg_rate);
}

/*
 * Say at the end when the CPUs were ticked far less often than asked (a
 * throttled perf event, a clock that fell behind): the weights keep the
 * times right, but there are fewer samples to go by. A shortfall of more
 * than a tenth and four standard deviations of a Poisson count.
 */
static void record_check_rate(const struct collector_stats *st, uint64_t elapsed_ns)
{
	int cpus = st->clock_cpus + st->perf_cpus, now;
	double expected = (double)arg_rate * cpus * (elapsed_ns / 1e9);

	if (!cpus || st->ticks >= 0.9 * expected || st->ticks + 4 * sqrt(expected) >= expected)
		return;
	now = st->perf_cpus ? sampler_max_sample_rate() : -1;
	if (now > 0 && (unsigned long)now < arg_rate)
		log_warn("the CPUs were sampled %.0f times a second on average, not %lu: the kernel lowered "
			 "kernel.perf_event_max_sample_rate to %d (perf interrupts ran too long)",
			 st->ticks / (elapsed_ns / 1e9) / cpus, arg_rate, now);
	else
		log_warn("the CPUs were sampled %.0f times a second on average, not %lu",
			 st->ticks / (elapsed_ns / 1e9) / cpus, arg_rate);
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

		if (arg_duration_ns && now - start_ns >= arg_duration_ns)
			return 0;
		if (arg_duration_ns && (arg_duration_ns - (now - start_ns)) / 1000000 < (uint64_t)timeout)
			timeout = (int)((arg_duration_ns - (now - start_ns)) / 1000000) + 1;
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

int verb_record(int argc, char **argv)
{
	_cleanup_(collector__freep) struct collector *collector = NULL;
	_cleanup_close_ int sigfd = -1, epfd = -1, release = -1, errpipe = -1;
	static struct record rec;
	struct collector_options co = {};
	struct collector_stats st;
	struct epoll_event ev;
	struct profile_info *info;
	struct export_options eo = { .program_version = HEARTH_VERSION };
	sigset_t mask;
	uint64_t start_ns, elapsed;
	struct timespec wall;
	bool interrupted = false;
	char target[512], error[COLLECTOR_ERROR_MAX];
	int r, ret = EXIT_FAILURE_RUN;

	rec.start_ns = time_now_ns();
	r = record_parse_args(argc, argv);
	if (r > 0)
		return EXIT_OK;
	if (r < 0)
		return EXIT_USAGE;
	log_set_level(arg_verbose >= 2 ? LOG_LEVEL_TRACE : arg_verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	libbpf_set_print(libbpf_print);

	if (collector_check_access(error) < 0) {
		log_error("%s", error);
		return EXIT_FAILURE_RUN;
	}
	for (int i = 0; i < arg_nr_pids; i++) {
		pid_t tgid = record_tgid_of(arg_pids[i]);

		if (tgid < 0) {
			log_error("cannot attach to pid %d: no such process", (int)arg_pids[i]);
			return EXIT_FAILURE_RUN;
		}
		if (tgid != arg_pids[i]) {
			log_error("cannot attach to pid %d: it is a thread of process %d; give -p %d",
				  (int)arg_pids[i], (int)tgid, (int)tgid);
			return EXIT_FAILURE_RUN;
		}
	}
	for (size_t i = 0; i < arg_nr_outputs; i++) {
		r = output_open(&arg_outputs[i]);
		if (r < 0) {
			log_error("cannot write %s: %s", arg_outputs[i].path, strerror(-r));
			goto out_unlink;
		}
	}

	/* Signals arrive through a signalfd; the command gets its mask back before exec. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sigfd < 0 || epfd < 0) {
		log_error("cannot set up the event loop: %m");
		goto out_unlink;
	}
	rec.epfd = epfd;

	co.rate_hz = (unsigned int)arg_rate;
	co.kernel = arg_kernel;
	co.thread_roots = arg_threads;
	co.process_roots = arg_nr_pids > 1 || arg_subprocesses;
	co.follow_children = arg_subprocesses;
	co.on_new_process = record_on_new_process;
	co.periodic = arg_periodic;
	co.stack_bytes = arg_unwinding.stack_bytes;
	co.native = arg_unwinding.native;
	co.unwind_auto = arg_unwinding.unwind_auto;
	co.python = arg_unwinding.python;
	co.gil_only = arg_unwinding.gil_only;
	/* Stack copies are big: 32 MiB holds a quarter second of 16 KiB copies from 8 CPUs at 999 Hz; auto copies fewer. */
	co.ring_bytes = !co.stack_bytes ? 0 : co.unwind_auto ? 16u << 20 : 32u << 20;
	co.py.function = arg_function;
	co.py.full_filenames = arg_full_filenames;
	co.on_python = record_on_python;
	co.ctx = &rec;
	r = collector__new(&co, &collector);
	if (r < 0) {
		if (r == -EPERM)
			log_error("cannot load the BPF sampler: permission denied (needs root, or CAP_BPF and CAP_PERFMON)");
		else if (r == -ENOENT)
			log_error("cannot load the BPF sampler: kernel BTF not found (/sys/kernel/btf/vmlinux)");
		else if (r == -EACCES)
			log_error("cannot load the BPF sampler: the kernel's verifier rejected it (run with -vv for its log)");
		else
			log_error("cannot load the BPF sampler: %s (run with -vv for the verifier log)", strerror(-r));
		goto out_unlink;
	}
	rec.collector = collector;

	if (arg_command) {
		r = record_spawn(arg_command, &rec.child, &release, &errpipe);
		if (r < 0) {
			log_error("cannot start %s: %s", arg_command[0], strerror(-r));
			goto out_unlink;
		}
		arg_pids[0] = rec.child;
		arg_nr_pids = 1;
	}
	for (int i = 0; i < arg_nr_pids; i++) {
		r = collector__add_pid(collector, arg_pids[i]);
		if (r < 0) {
			log_error("cannot attach to pid %d: %s", (int)arg_pids[i],
				  r == -ESRCH ? "no such process" : strerror(-r));
			goto out_kill;
		}
		r = record_watch(&rec, arg_pids[i]);
		if (r < 0) {
			log_error("cannot attach to pid %d: %s", (int)arg_pids[i],
				  r == -ESRCH ? "no such process" : strerror(-r));
			goto out_kill;
		}
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0 };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, collector__fd(collector), &ev) < 0 ||
	    (ev.data.u64 = 1, epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev) < 0)) {
		log_error("cannot set up the event loop: %m");
		goto out_kill;
	}
	r = collector__start(collector);
	if (r < 0) {
		log_error("cannot start sampling: %s", strerror(-r));
		goto out_kill;
	}
	if (collector__stats(collector, &st) == 0)
		record_check_clock(&st);
	clock_gettime(CLOCK_REALTIME, &wall);
	start_ns = time_now_ns();
	if (arg_command) {
		int e = 0;

		if (write(release, "x", 1) != 1) {
			log_error("cannot start %s: %m", arg_command[0]);
			goto out_kill;
		}
		release = safe_close(release);
		/* The error pipe closes on a successful exec, or carries exec's errno. */
		if (read(errpipe, &e, sizeof(e)) == sizeof(e)) {
			log_error("cannot run %s: %s", arg_command[0], strerror(e));
			waitpid(rec.child, NULL, 0);
			goto out_unlink;
		}
	}
	log_debug("recording %s at %lu Hz", record_describe_target(target, sizeof(target)), arg_rate);

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
	info = profile__info(collector__profile(collector));
	info->time_ns = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
	info->duration_ns = elapsed;
	info->rate_hz = (uint32_t)arg_rate;
	info->period_ns = 1000000000ull / arg_rate;
	info->lost_samples = st.lost;
	info->unknown_frames = st.unknown_frames;
	if (profile__set_target(collector__profile(collector),
				record_describe_target(target, sizeof(target))) < 0)
		goto out_unlink;
	eo.per_thread = arg_threads;
	for (size_t i = 0; i < arg_nr_outputs; i++) {
		r = output_write(&arg_outputs[i], collector__profile(collector), &eo);
		if (r < 0) {
			log_error("cannot write %s: %s", arg_outputs[i].path, strerror(-r));
			goto out_unlink;
		}
	}
	if (st.samples == 0)
		log_warn("no samples: the target%s did not run on a CPU while recording",
			 arg_nr_pids > 1 ? "s" : "");
	record_check_rate(&st, elapsed);
	if (isatty(STDERR_FILENO) || arg_verbose)
		record_summary(&rec, &st, elapsed);
	else if (st.lost)
		log_warn("%" PRIu64 " samples lost", st.lost);
	ret = EXIT_OK;

	record_reap_child(&rec, sigfd);
	if (rec.child_reaped) {
		if (WIFEXITED(rec.child_status) && WEXITSTATUS(rec.child_status))
			log_warn("%s exited with status %d", arg_command[0], WEXITSTATUS(rec.child_status));
		else if (WIFSIGNALED(rec.child_status))
			log_warn("%s was killed by signal %d (%s)", arg_command[0],
				 WTERMSIG(rec.child_status), strsignal(WTERMSIG(rec.child_status)));
		else if (isatty(STDERR_FILENO) || arg_verbose)
			fprintf(stderr, "hearth: %s exited with status 0\n", arg_command[0]);
		/* What the samples should add up to, for a command recorded from start to end. */
		if (isatty(STDERR_FILENO) || arg_verbose)
			fprintf(stderr, "hearth: %s used %.3f s of CPU (%.3f user, %.3f system); its samples stand "
					"for %.3f s\n", arg_command[0],
				record_seconds(&rec.child_usage.ru_utime) + record_seconds(&rec.child_usage.ru_stime),
				record_seconds(&rec.child_usage.ru_utime), record_seconds(&rec.child_usage.ru_stime),
				st.weight_ns / 1e9);
	}
	(void)interrupted;
	goto out;

out_kill:
	if (rec.child > 0) {
		kill(rec.child, SIGKILL);
		waitpid(rec.child, NULL, 0);
	}
out_unlink:
	for (size_t i = 0; i < arg_nr_outputs; i++)
		output_discard(&arg_outputs[i]);
out:
	for (size_t i = 0; i < rec.nr_watched; i++)
		close(rec.watched[i].pidfd);
	return ret;
}
