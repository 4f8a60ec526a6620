// SPDX-License-Identifier: MIT
/*
 * hearthd: continuous profiling. Samples every process on the machine (or a
 * list of PIDs and their children) and appends one aggregated time slot per
 * --slot (one second by default) to the shared-memory ring, which `hearth
 * export` reads at any time. Runs in the foreground (systemd, a container);
 * SIGINT and SIGTERM write the slot in progress and stop.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cleanup.h"
#include "collector.h"
#include "options.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "outputs.h"
#include "parse.h"
#include "ring.h"
#include "sampler.h"

/*
 * 49 Hz. bench/daemon on a 2-core machine kept busy measured the whole cost
 * of hearthd --all (its CPU plus the BPF program's) at 0.25% of one core at
 * 49 Hz and 0.37% at 99 Hz with --unwind auto, 10-15 us per sample. The cost
 * grows with the CPU count: at that, the 1% budget holds for 14-20 busy CPUs
 * at 49 Hz but only 7-10 at 99 Hz (issue 13 measured more per sample at
 * these rates, caches cold). The intervals are random (the rate is their
 * mean), so no rate aliases with periodic work; --rate 99 is there for
 * small machines.
 */
#define HEARTHD_DEFAULT_RATE 49
#define HEARTHD_MAX_RATE 1000
#define HEARTHD_DEFAULT_SLOT_NS 1000000000ull
/*
 * Strings, frames or stacks kept before the dictionary starts over (a new
 * epoch in the ring). A stack costs about 200 bytes with its frames and
 * index, so 131072 bounds the dictionary near 30 MiB; a busy 2-CPU machine
 * needed a few thousand per hour (bench/daemon).
 */
#define HEARTHD_DEFAULT_MAX_DICTIONARY 131072

static bool arg_all;
static pid_t arg_pids[PARSE_MAX_PIDS];
static int arg_nr_pids;
static pid_t arg_containers[HEARTH_MAX_CGROUPS];
static int arg_nr_containers;
static unsigned long arg_rate = HEARTHD_DEFAULT_RATE;
static const char *arg_ring = RING_DEFAULT_PATH;
static uint64_t arg_ring_size;
static uint64_t arg_slot_ns = HEARTHD_DEFAULT_SLOT_NS;
static bool arg_kernel = true;
static int arg_verbose;
static char *arg_config;
static const char *arg_control = HEARTH_CONTROL_DEFAULT_PATH;
static gid_t arg_control_gid;
static unsigned long arg_max_dictionary = HEARTHD_DEFAULT_MAX_DICTIONARY;
static unsigned long arg_max_processes = 65536;
static const char *arg_http;
static const char *arg_output_dir;
static uint64_t arg_every_ns = 60000000000ull;
static uint64_t arg_keep_ns = 86400000000000ull;
/* --unwind, --native, --stack-size, --no-python: checked together into arg_unwinding, as record does. */
static struct collector_args arg_collector;
static struct collector_options arg_unwinding;
static bool arg_periodic;

static void help(void)
{
	printf("Usage: hearthd [OPTIONS]\n\n"
	       "Profile continuously into a shared-memory ring that `hearth export` reads.\n"
	       "Runs in the foreground; SIGINT or SIGTERM stops it.\n\n"
	       "Options:\n"
	       "      --all               every process on the machine (the default without -p)\n"
	       "  -p, --pid PID[,PID...]  these processes and their children\n"
	       "  -c, --container PID[,PID...]\n"
	       "                          every process in these processes' cgroups (containers),\n"
	       "                          now and later\n"
	       "  -r, --rate HZ           samples per second per CPU, on average (1-%d, default %d)\n"
	       "      --ring PATH         the ring file (default %s)\n"
	       "      --ring-size SIZE    its data size for a new ring: a power of two from 1M to 64G\n"
	       "                          (default 64M; an existing ring keeps its size)\n"
	       "      --slot TIME         time aggregated per slot (default 1s; 100ms to 1m)\n"
	       "      --no-kernel         leave kernel frames out\n"
	       "      --no-python         native stacks only, even for Python processes\n"
	       "      --unwind MODE       native stacks: 'auto' (the default) walks frame pointers where\n"
	       "                          a process's executable (or libpython) keeps them (leaves fixed\n"
	       "                          and walks checked with DWARF over 1K of stack) and unwinds a\n"
	       "                          copy of its stack with DWARF CFI where not; 'fp', 'dwarf'\n"
	       "      --native            Python processes: every native frame, each evaluation loop\n"
	       "                          replaced by the Python frames it ran (implies --unwind dwarf)\n"
	       "      --stack-size SIZE   bytes of stack copied per sample with --unwind dwarf\n"
	       "                          (default 16K; 4K to 32K)\n"
	       "      --periodic          sample at fixed intervals (cpu-clock perf events) instead of\n"
	       "                          random ones; periodic work can then alias with the samples\n"
	       "      --max-dictionary N  strings, frames or stacks kept in memory before they are\n"
	       "                          dropped and defined anew (default %d; 100 to 4194304)\n"
	       "      --max-processes N   processes known at once (default 65536; 64 to 4194304);\n"
	       "                          those that exited make room\n"
	       "      --http ADDRESS      serve /debug/pprof/profile?seconds=N there, as a Go service\n"
	       "                          does (127.0.0.1:6060, [::1]:6060; a bare :PORT is loopback)\n"
	       "      --output-dir DIR    write a gzip pprof file per --every into DIR\n"
	       "      --every TIME        their interval (default 60s; 1s to 1d)\n"
	       "      --keep TIME         remove them when older (default 24h; 0: keep all)\n"
	       "      --control PATH      the control socket for hearth attach/detach/status\n"
	       "                          (default %s)\n"
	       "      --control-group GRP let this group use it too (default: root only)\n"
	       "      --config FILE       read settings from FILE first: one 'name = value' per line,\n"
	       "                          names as the long options ('all = true', 'rate = 99')\n"
	       "  -v, --verbose           debug lines\n"
	       "  -h, --help              this help\n"
	       "      --version           the version\n",
	       HEARTHD_MAX_RATE, HEARTHD_DEFAULT_RATE, RING_DEFAULT_PATH, HEARTHD_DEFAULT_MAX_DICTIONARY,
	       HEARTH_CONTROL_DEFAULT_PATH);
}

enum {
	ARG_ALL = 0x100,
	ARG_RING,
	ARG_RING_SIZE,
	ARG_SLOT,
	ARG_NO_KERNEL,
	ARG_NO_PYTHON,
	ARG_CONFIG,
	ARG_VERSION,
	ARG_CONTROL,
	ARG_CONTROL_GROUP,
	ARG_MAX_DICTIONARY,
	ARG_MAX_PROCESSES,
	ARG_HTTP,
	ARG_OUTPUT_DIR,
	ARG_EVERY,
	ARG_KEEP,
	ARG_UNWIND,
	ARG_STACK_SIZE,
	ARG_NATIVE,
	ARG_PERIODIC,
};

static const struct option options[] = {
	{ "all", no_argument, NULL, ARG_ALL },
	{ "pid", required_argument, NULL, 'p' },
	{ "container", required_argument, NULL, 'c' },
	{ "rate", required_argument, NULL, 'r' },
	{ "ring", required_argument, NULL, ARG_RING },
	{ "ring-size", required_argument, NULL, ARG_RING_SIZE },
	{ "slot", required_argument, NULL, ARG_SLOT },
	{ "no-kernel", no_argument, NULL, ARG_NO_KERNEL },
	{ "no-python", no_argument, NULL, ARG_NO_PYTHON },
	{ "config", required_argument, NULL, ARG_CONFIG },
	{ "control", required_argument, NULL, ARG_CONTROL },
	{ "control-group", required_argument, NULL, ARG_CONTROL_GROUP },
	{ "max-dictionary", required_argument, NULL, ARG_MAX_DICTIONARY },
	{ "max-processes", required_argument, NULL, ARG_MAX_PROCESSES },
	{ "http", required_argument, NULL, ARG_HTTP },
	{ "output-dir", required_argument, NULL, ARG_OUTPUT_DIR },
	{ "every", required_argument, NULL, ARG_EVERY },
	{ "keep", required_argument, NULL, ARG_KEEP },
	{ "unwind", required_argument, NULL, ARG_UNWIND },
	{ "stack-size", required_argument, NULL, ARG_STACK_SIZE },
	{ "native", no_argument, NULL, ARG_NATIVE },
	{ "periodic", no_argument, NULL, ARG_PERIODIC },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, ARG_VERSION },
	{}
};

/* The long name of option @opt. */
static const char *option_name(int opt)
{
	for (const struct option *o = options; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "";
}

/* --all, -p, --container: which processes are profiled. */
static int apply_target(int opt, const char *value, const char *where)
{
	int r;

	switch (opt) {
	case ARG_ALL:
		arg_all = true;
		return 0;
	case 'p':
		r = parse_pid_list(value, arg_pids + arg_nr_pids, PARSE_MAX_PIDS - arg_nr_pids);
		if (r < 0) {
			log_error("%sinvalid PID list '%s': give positive process ids separated by commas", where, value);
			return -EINVAL;
		}
		arg_nr_pids += r;
		return 0;
	case 'c':
		r = parse_pid_list(value, arg_containers + arg_nr_containers, HEARTH_MAX_CGROUPS - arg_nr_containers);
		if (r < 0) {
			log_error("%sinvalid PID list '%s' for --container: give positive process ids separated "
				  "by commas (at most %d containers)", where, value, HEARTH_MAX_CGROUPS);
			return -EINVAL;
		}
		arg_nr_containers += r;
		return 0;
	}
	return -EINVAL;
}

/* --rate, --no-kernel, the stack options, --periodic, --max-processes: how processes are sampled. */
static int apply_sampling(int opt, const char *value, const char *where)
{
	char error[COLLECTOR_ERROR_MAX];

	switch (opt) {
	case 'r':
		if (parse_uint(value, 1, HEARTHD_MAX_RATE, &arg_rate) < 0) {
			log_error("%sinvalid rate '%s': give samples per second from 1 to %d", where, value,
				  HEARTHD_MAX_RATE);
			return -EINVAL;
		}
		return 0;
	case ARG_NO_KERNEL:
		arg_kernel = false;
		return 0;
	case ARG_UNWIND:
	case ARG_NATIVE:
	case ARG_STACK_SIZE:
	case ARG_NO_PYTHON:
		if (collector_args__parse(&arg_collector, option_name(opt), value, error) < 0) {
			log_error("%s%s", where, error);
			return -EINVAL;
		}
		return 0;
	case ARG_PERIODIC:
		arg_periodic = true;
		return 0;
	case ARG_MAX_PROCESSES:
		if (parse_uint(value, 64, 4194304, &arg_max_processes) < 0) {
			log_error("%sinvalid process count '%s': give a count from 64 to 4194304", where, value);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

/* --ring, --ring-size, --slot, --max-dictionary: where slots go, how long each is, what they remember. */
static int apply_ring(int opt, const char *value, const char *where)
{
	switch (opt) {
	case ARG_RING:
		if (!*value) {
			log_error("%sempty ring path", where);
			return -EINVAL;
		}
		arg_ring = value;
		return 0;
	case ARG_RING_SIZE:
		if (parse_size(value, &arg_ring_size) < 0 || arg_ring_size < RING_MIN_DATA_SIZE ||
		    arg_ring_size > RING_MAX_DATA_SIZE || (arg_ring_size & (arg_ring_size - 1))) {
			log_error("%sinvalid ring size '%s': give a power of two from 1M to 64G, such as 64M",
				  where, value);
			return -EINVAL;
		}
		return 0;
	case ARG_SLOT:
		if (parse_duration(value, &arg_slot_ns) < 0 || arg_slot_ns < 100000000ull ||
		    arg_slot_ns > 60000000000ull) {
			log_error("%sinvalid slot '%s': give a time from 100ms to 1m, such as 1s", where, value);
			return -EINVAL;
		}
		return 0;
	case ARG_MAX_DICTIONARY:
		if (parse_uint(value, 100, PROFILE_MAX_STACKS, &arg_max_dictionary) < 0) {
			log_error("%sinvalid dictionary size '%s': give a count from 100 to %u", where, value,
				  PROFILE_MAX_STACKS);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

/* --http, --output-dir, --every, --keep: the profiles served and written besides the ring. */
static int apply_output(int opt, const char *value, const char *where)
{
	switch (opt) {
	case ARG_HTTP:
		if (!*value) {
			log_error("%sempty --http address: give HOST:PORT such as 127.0.0.1:6060", where);
			return -EINVAL;
		}
		arg_http = value;
		return 0;
	case ARG_OUTPUT_DIR:
		if (!*value) {
			log_error("%sempty --output-dir", where);
			return -EINVAL;
		}
		arg_output_dir = value;
		return 0;
	case ARG_EVERY:
		if (parse_duration(value, &arg_every_ns) < 0 || arg_every_ns < 1000000000ull ||
		    arg_every_ns > 86400000000000ull) {
			log_error("%sinvalid interval '%s' for --every: give a time from 1s to 1d, such as 60s",
				  where, value);
			return -EINVAL;
		}
		return 0;
	case ARG_KEEP:
		arg_keep_ns = 0;
		if (strcmp(value, "0") && parse_duration(value, &arg_keep_ns) < 0) {
			log_error("%sinvalid time '%s' for --keep: give a duration such as 24h, or 0 to keep all",
				  where, value);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

/* --control, --control-group: the socket of hearth attach, detach and status, and who may use it. */
static int apply_control(int opt, const char *value, const char *where)
{
	switch (opt) {
	case ARG_CONTROL:
		if (!*value || strlen(value) >= 108) {
			log_error("%sinvalid control socket path '%s'", where, value);
			return -EINVAL;
		}
		arg_control = value;
		return 0;
	case ARG_CONTROL_GROUP: {
		struct group *g = getgrnam(value);

		if (!g) {
			log_error("%sno such group '%s' for --control-group", where, value);
			return -EINVAL;
		}
		arg_control_gid = g->gr_gid;
		return 0;
	}
	}
	return -EINVAL;
}

/*
 * One setting, from the command line or the config file (@where names it for
 * errors), handed to the helper of its group; each writes only its own arg_*.
 */
static int apply(int opt, const char *value, const char *where)
{
	switch (opt) {
	case ARG_ALL:
	case 'p':
	case 'c':
		return apply_target(opt, value, where);
	case 'r':
	case ARG_NO_KERNEL:
	case ARG_UNWIND:
	case ARG_NATIVE:
	case ARG_STACK_SIZE:
	case ARG_NO_PYTHON:
	case ARG_PERIODIC:
	case ARG_MAX_PROCESSES:
		return apply_sampling(opt, value, where);
	case ARG_RING:
	case ARG_RING_SIZE:
	case ARG_SLOT:
	case ARG_MAX_DICTIONARY:
		return apply_ring(opt, value, where);
	case ARG_HTTP:
	case ARG_OUTPUT_DIR:
	case ARG_EVERY:
	case ARG_KEEP:
		return apply_output(opt, value, where);
	case ARG_CONTROL:
	case ARG_CONTROL_GROUP:
		return apply_control(opt, value, where);
	}
	return -EINVAL;
}

static bool is_true(const char *v)
{
	return !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on");
}

/* One setting of the config file; names as the long options. */
static int config_setting(void *ctx, const char *name, const char *value, const char *where)
{
	const struct option *o;
	char *copy;

	for (o = options; o->name; o++)
		if (!strcmp(o->name, name))
			break;
	if (!o->name || o->val == ARG_CONFIG || o->val == 'h' || o->val == ARG_VERSION || o->val == 'v') {
		log_error("%sunknown setting '%s'", where, name);
		return -EINVAL;
	}
	if (o->has_arg == no_argument) {
		if (is_true(value))
			return apply(o->val, NULL, where) < 0 ? -EINVAL : 0;
		if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0") || !strcmp(value, "off"))
			return 0;
		log_error("%sgive '%s = true' or 'false'", where, name);
		return -EINVAL;
	}
	copy = strdup(value); /* kept for the program's life, as argv is */
	if (!copy)
		return -ENOMEM;
	return apply(o->val, copy, where) < 0 ? -EINVAL : 0;
}

static int parse_args(int argc, char **argv)
{
	char error[COLLECTOR_ERROR_MAX];
	int c;

	/* The config file first, so the command line overrides it. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			arg_config = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			arg_config = argv[i] + 9;
		else if (!strcmp(argv[i], "--"))
			break;
	}
	if (arg_config && config_read(arg_config, config_setting, NULL) < 0)
		return -EINVAL;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:c:r:vh", options, NULL)) >= 0) {
		switch (c) {
		case 'v':
			arg_verbose++;
			break;
		case 'h':
			help();
			return 1;
		case ARG_VERSION:
			printf("hearthd %s\n", HEARTH_VERSION);
			return 1;
		case ARG_CONFIG:
			break;
		case ':':
			log_error("option '%s' needs a value (see 'hearthd --help')", argv[optind - 1]);
			return -EINVAL;
		case '?':
			log_error("unknown option '%s' (see 'hearthd --help')", argv[optind - 1]);
			return -EINVAL;
		default:
			if (apply(c, optarg, "") < 0)
				return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see 'hearthd --help')", argv[optind]);
		return -EINVAL;
	}
	if (arg_all && (arg_nr_pids || arg_nr_containers)) {
		log_error("give either --all or -p/--container, not both");
		return -EINVAL;
	}
	if (!arg_nr_pids && !arg_nr_containers)
		arg_all = true;
	if (collector_args__apply(&arg_collector, &arg_unwinding, error) < 0) {
		log_error("%s", error);
		return -EINVAL;
	}
	return 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (log_get_level() < LOG_LEVEL_TRACE)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/*
 * The ring slots are written into, and a reader of it for --http and
 * --output-dir. Says why when it cannot (in the words a user can act on:
 * another hearthd, a ring of another size or version). Returns 0 or -errno.
 */
static int open_ring(struct ring_writer **ret_ring, struct ring_reader **ret_reader)
{
	_cleanup_(ring_writer__freep) struct ring_writer *ring = NULL;
	_cleanup_(ring_reader__freep) struct ring_reader *reader = NULL;
	int r;

	r = ring_writer__open(arg_ring, arg_ring_size, (uint32_t)arg_rate, &ring);
	if (r < 0) {
		if (r == -EBUSY)
			log_error("cannot open ring %s: another hearthd writes it", arg_ring);
		else if (r == -EBADMSG)
			log_error("cannot open ring %s: not a Hearth ring of this version, or damaged "
				  "(move it away to start a new one)", arg_ring);
		else if (r == -EINVAL)
			log_error("cannot open ring %s: it exists with another size (drop --ring-size "
				  "to keep it, or move it away)", arg_ring);
		else if (r == -ELOOP)
			log_error("cannot open ring %s: it is a symbolic link", arg_ring);
		else if (r == -ENOSPC)
			log_error("cannot create ring %s: its file system has no room for %.0f MiB (give a smaller "
				  "--ring-size, or another place)", arg_ring, (arg_ring_size ? arg_ring_size : RING_DEFAULT_DATA_SIZE) / 1048576.0);
		else
			log_error("cannot open ring %s: %s", arg_ring, strerror(-r));
		return r;
	}

	r = ring_reader__open(arg_ring, &reader);
	if (r < 0) {
		log_error("cannot read back ring %s: %s", arg_ring, strerror(-r));
		return r;
	}
	*ret_ring = TAKE_PTR(ring);
	*ret_reader = TAKE_PTR(reader);
	return 0;
}

/* The --http server and the --output-dir writer, each NULL when not asked for. Returns 0 or -errno, said. */
static int open_outputs(struct http_server **ret_http, struct periodic **ret_periodic)
{
	_cleanup_(http_server__freep) struct http_server *http = NULL;
	_cleanup_(periodic__freep) struct periodic *periodic = NULL;
	int r;

	if (arg_http) {
		r = http_server__open(arg_http, &http);
		if (r < 0) {
			if (r == -EINVAL)
				log_error("invalid --http address '%s': give HOST:PORT, [IPV6]:PORT or :PORT", arg_http);
			else
				log_error("cannot listen on %s: %s", arg_http, strerror(-r));
			return r;
		}
	}
	if (arg_output_dir) {
		r = periodic__new(arg_output_dir, arg_every_ns, arg_keep_ns, time_realtime_ns(), &periodic);
		if (r < 0) {
			log_error("cannot write into --output-dir %s: %s", arg_output_dir, strerror(-r));
			return r;
		}
	}
	*ret_http = TAKE_PTR(http);
	*ret_periodic = TAKE_PTR(periodic);
	return 0;
}

/* The control socket hearth attach, detach and status talk to. Returns 0 or -errno, said. */
static int open_control(struct control **ret)
{
	int r;

	r = control__open(arg_control, arg_control_gid, ret);
	if (r < 0) {
		if (r == -EADDRINUSE)
			log_error("cannot listen on %s: another hearthd answers there (give --control)", arg_control);
		else
			log_error("cannot listen on %s: %s", arg_control, strerror(-r));
		return r;
	}
	return 0;
}

/*
 * The event loop's fds: SIGINT, SIGTERM and SIGHUP blocked and read from a
 * signalfd, and the slot timer (set once sampling starts). Returns 0 or -errno, said.
 */
static int open_event_fds(int *ret_sigfd, int *ret_timerfd)
{
	_cleanup_close_ int sigfd = -1, timerfd = -1;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (sigfd < 0 || timerfd < 0) {
		int r = -errno;

		log_error("cannot set up the event loop: %m");
		return r;
	}
	*ret_sigfd = TAKE_FD(sigfd);
	*ret_timerfd = TAKE_FD(timerfd);
	return 0;
}

/* The collector, its BPF sampler loaded as the options say, not sampling yet. Returns 0 or -errno, said. */
static int new_collector(struct collector **ret)
{
	struct collector_options co = {};
	int r;

	co.rate_hz = (unsigned int)arg_rate;
	co.kernel = arg_kernel;
	co.all_processes = arg_all;
	co.follow_children = !arg_all;
	co.process_roots = true;
	co.python = arg_unwinding.python;
	co.max_processes = arg_max_processes;
	co.stack_bytes = arg_unwinding.stack_bytes;
	co.native = arg_unwinding.native;
	co.unwind_auto = arg_unwinding.unwind_auto;
	co.periodic = arg_periodic;
	/*
	 * The default ring buffer (8 MiB) holds over a second of 16 KiB stack
	 * copies from 4 busy CPUs at 99 Hz, and wakes the daemon at an eighth full;
	 * its pages count in the daemon's RSS.
	 */
	r = collector__new(&co, ret);
	if (r < 0) {
		log_error("cannot load the BPF sampler: %s", r == -EPERM ? "permission denied" : strerror(-r));
		return r;
	}
	return 0;
}

/*
 * Attach @collector to the -p processes and the --container cgroups, and give
 * @d the settings its slots are made with. Returns 0 or -errno, said.
 */
static int add_targets(struct collector *collector, struct daemon *d)
{
	int r;

	for (int i = 0; i < arg_nr_pids; i++) {
		r = collector__add_pid(collector, arg_pids[i]);
		if (r < 0) {
			log_error("cannot attach to pid %d: %s", (int)arg_pids[i],
				  r == -ESRCH ? "no such process" : strerror(-r));
			return r;
		}
		d->targets[d->nr_targets++].pid = arg_pids[i];
	}
	d->collector = collector;
	d->all = arg_all;
	d->rate = arg_rate;
	d->slot_ns = arg_slot_ns;
	d->max_dictionary = arg_max_dictionary;
	d->ring_path = arg_ring;
	d->output_dir = arg_output_dir;
	for (int i = 0; i < arg_nr_containers; i++) {
		char err[512];

		r = daemon_add_container(d, arg_containers[i], err, sizeof(err));
		if (r < 0) {
			log_error("%s", err);
			return r;
		}
	}
	return 0;
}

/*
 * Start sampling, warn when some CPUs fell back on fixed intervals, and
 * start the slot timer on @timerfd. Returns 0 or -errno, said.
 */
static int start_sampling(struct collector *collector, int timerfd)
{
	struct itimerspec its = {};
	struct collector_stats st;
	int r;

	r = collector__start(collector);
	if (r < 0) {
		log_error("cannot start sampling: %s", strerror(-r));
		return r;
	}
	if (collector__stats(collector, &st) == 0 && st.perf_cpus && !arg_periodic)
		log_warn("sampling %d of %d CPUs at fixed intervals: the random sampling clock %s; periodic work "
			 "can alias with the samples", st.perf_cpus, st.perf_cpus + st.clock_cpus,
			 sampler_clock_error(st.clock_error));
	profile__info(collector__profile(collector))->rate_hz = (uint32_t)arg_rate;
	profile__info(collector__profile(collector))->period_ns = 1000000000ull / arg_rate;
	its.it_value.tv_sec = (time_t)(arg_slot_ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(arg_slot_ns % 1000000000ull);
	its.it_interval = its.it_value;
	if (timerfd_settime(timerfd, 0, &its, NULL) < 0) {
		r = -errno;
		log_error("cannot set the slot timer: %m");
		return r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	_cleanup_(collector__freep) struct collector *collector = NULL;
	_cleanup_(ring_writer__freep) struct ring_writer *ring = NULL;
	_cleanup_(control__freep) struct control *ctl = NULL;
	_cleanup_(ring_reader__freep) struct ring_reader *reader = NULL;
	_cleanup_(http_server__freep) struct http_server *http = NULL;
	_cleanup_(periodic__freep) struct periodic *periodic = NULL;
	_cleanup_close_ int sigfd = -1, timerfd = -1;
	static struct daemon d;
	char error[COLLECTOR_ERROR_MAX];
	int r;

	log_set_program("hearthd");
	r = parse_args(argc, argv);
	if (r > 0)
		return 0;
	if (r < 0)
		return 2;
	log_set_level(arg_verbose >= 2 ? LOG_LEVEL_TRACE : arg_verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	libbpf_set_print(libbpf_print);
	if (collector_check_access(error) < 0) {
		log_error("%s", error);
		return 1;
	}

	/* Each step says why it failed, once. */
	if (open_ring(&ring, &reader) < 0)
		return 1;
	if (open_outputs(&http, &periodic) < 0)
		return 1;
	if (open_control(&ctl) < 0)
		return 1;
	if (open_event_fds(&sigfd, &timerfd) < 0)
		return 1;
	if (new_collector(&collector) < 0)
		return 1;
	if (add_targets(collector, &d) < 0)
		return 1;
	if (start_sampling(collector, timerfd) < 0)
		return 1;
	d.collector = collector;
	d.control = ctl;
	d.ring = ring;
	d.reader = reader;
	d.http = http;
	d.periodic = periodic;
	d.start_ns = time_now_ns();
	d.slot_start_ns = time_realtime_ns();
	log_info("profiling %s at %lu Hz into %s, a slot every %.1f s",
		 arg_all ? "every process" : arg_nr_containers ? "the given processes and containers"
							   : "the given processes", arg_rate, arg_ring, arg_slot_ns / 1e9);
	if (http)
		log_info("serving pprof on http://%s/debug/pprof/profile", arg_http);
	if (periodic)
		log_info("writing a profile every %.0f s into %s", arg_every_ns / 1e9, arg_output_dir);

	r = daemon_run(&d, sigfd, timerfd, ctl, daemon_control);
	collector__stop(collector);
	if (r == 0)
		r = daemon_slot(&d);
	if (r == 0)
		daemon_periodic(&d, d.slot_start_ns, true);
	if (r == -ENOENT || r == -ESTALE || r == -EPIPE)
		return 1; /* said already */
	if (r < 0) {
		log_error("stopped: %s", strerror(-r));
		return 1;
	}
	return 0;
}
