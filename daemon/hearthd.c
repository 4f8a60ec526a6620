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
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cleanup.h"
#include "collector.h"
#include "config.h"
#include "control.h"
#include "http.h"
#include "log.h"
#include "outputs.h"
#include "parse.h"
#include "procmaps.h"
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
static bool arg_python = true;
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
/* --unwind auto, the default: DWARF for processes without frame pointers, else frame pointers. */
static bool arg_dwarf = true;
static bool arg_auto = true;
static bool arg_native;
static uint64_t arg_stack_size = 16384;
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

/* One setting, from the command line or the config file (@where names it for errors). */
static int apply(int opt, const char *value, const char *where)
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
	case 'r':
		if (parse_uint(value, 1, HEARTHD_MAX_RATE, &arg_rate) < 0) {
			log_error("%sinvalid rate '%s': give samples per second from 1 to %d", where, value,
				  HEARTHD_MAX_RATE);
			return -EINVAL;
		}
		return 0;
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
	case ARG_NO_KERNEL:
		arg_kernel = false;
		return 0;
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
	case ARG_UNWIND:
		if (strcmp(value, "fp") && strcmp(value, "dwarf") && strcmp(value, "auto")) {
			log_error("%sinvalid unwind mode '%s': give 'auto', 'fp' or 'dwarf'", where, value);
			return -EINVAL;
		}
		arg_auto = !strcmp(value, "auto");
		arg_dwarf = !strcmp(value, "dwarf") || arg_auto;
		return 0;
	case ARG_NATIVE:
		arg_native = true;
		return 0;
	case ARG_PERIODIC:
		arg_periodic = true;
		return 0;
	case ARG_STACK_SIZE:
		if (parse_size(value, &arg_stack_size) < 0 || arg_stack_size < 4096 ||
		    arg_stack_size > HEARTH_STACK_COPY_MAX) {
			log_error("%sinvalid stack size '%s': give 4K to %dK", where, value, HEARTH_STACK_COPY_MAX / 1024);
			return -EINVAL;
		}
		return 0;
	case ARG_MAX_PROCESSES:
		if (parse_uint(value, 64, 4194304, &arg_max_processes) < 0) {
			log_error("%sinvalid process count '%s': give a count from 64 to 4194304", where, value);
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
	case ARG_NO_PYTHON:
		arg_python = false;
		return 0;
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
	return 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (log_get_level() < LOG_LEVEL_TRACE)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

struct daemon_target {
	pid_t pid;
	bool container;                              /* the whole cgroup of pid */
	char cgroup[CGROUP_PATH_MAX];                /* that cgroup, as the collector watches it */
	char container_id[CGROUP_CONTAINER_ID_LEN + 1];
	char cgroup_label[CGROUP_PATH_MAX + 80];     /* for status */
};

/* Faults the daemon goes on after, each said at most once a minute. */
enum daemon_fault {
	DAEMON_FAULT_SLOT,    /* a slot could not be written */
	DAEMON_FAULT_OUTPUT,  /* an --output-dir file could not be written */
	DAEMON_FAULT_DRAIN,   /* the BPF ring buffer could not be read */
	DAEMON_FAULT_LOOP,    /* polling the control or HTTP sockets failed */
	DAEMON_FAULT__MAX,
};
#define DAEMON_FAULT_QUIET_NS (60ull * 1000000000ull)
/* The longest one drain of the loop takes. */
#define DAEMON_DRAIN_BUDGET_NS (100ull * 1000000ull)
/* A ring buffer that cannot be read for this long means the BPF side is lost. */
#define DAEMON_DRAIN_FATAL_NS (10ull * 1000000000ull)

struct daemon {
	struct collector *collector;
	struct ring_writer *ring;
	struct ring_reader *reader;     /* of the same ring, for --http and --output-dir */
	struct http_server *http;       /* NULL without --http */
	struct periodic *periodic;      /* NULL without --output-dir */
	uint64_t start_ns;      /* CLOCK_MONOTONIC */
	uint64_t slot_start_ns; /* CLOCK_REALTIME */
	uint64_t lost_before;
	uint64_t samples_before;
	double samples_per_s;   /* over the last slot */
	uint64_t slots;
	/* Faults survived (status), and when each kind was last said. */
	uint64_t slots_failed, slots_late, drain_errors, outputs_written, outputs_failed;
	uint64_t slot_gap_max_ns, last_slot_mono_ns;
	uint64_t drain_failing_since_ns; /* CLOCK_MONOTONIC, 0 while drains succeed */
	uint64_t said_ns[DAEMON_FAULT__MAX], unsaid[DAEMON_FAULT__MAX];
	struct control *control;
	struct daemon_target targets[PARSE_MAX_PIDS]; /* given with -p or attached (not with --all) */
	size_t nr_targets;
	/* The status reply being sent, kept until the next one. */
	Hearth__Control__StatusReply status;
	Hearth__Control__Target target_msgs[PARSE_MAX_PIDS];
	Hearth__Control__Target *target_ptrs[PARSE_MAX_PIDS];
	char comms[PARSE_MAX_PIDS][32];
};

/* Say fault @kind (@what: @err), at most once a minute, with how many went unsaid. */
static void daemon_fault(struct daemon *d, enum daemon_fault kind, const char *what, int err)
{
	uint64_t now = time_now_ns();

	if (d->said_ns[kind] && now - d->said_ns[kind] < DAEMON_FAULT_QUIET_NS) {
		d->unsaid[kind]++;
		return;
	}
	if (d->unsaid[kind])
		log_warn("%s: %s (%" PRIu64 " more since the last said; counted in hearth status); going on", what,
			 strerror(-err), d->unsaid[kind]);
	else
		log_warn("%s: %s (counted in hearth status); going on", what, strerror(-err));
	d->said_ns[kind] = now;
	d->unsaid[kind] = 0;
}

static ssize_t daemon_find_target(const struct daemon *d, pid_t pid, bool container)
{
	for (size_t i = 0; i < d->nr_targets; i++)
		if (d->targets[i].pid == pid && d->targets[i].container == container)
			return (ssize_t)i;
	return -1;
}

/* Explain an error of collector__add_container() for @pid in @buf. */
static void container_error(char *buf, size_t size, pid_t pid, int r)
{
	const char *why = r == -ESRCH ? "no such process"
			: r == -ENOENT ? "it runs in no cgroup but the root (not in a container)"
			: r == -EEXIST ? "its cgroup is watched already"
			: r == -E2BIG ? "too many containers, or its cgroup nests too deep"
			: r == -ENODEV ? "its cgroup hierarchy is not mounted here"
			: strerror(-r);

	snprintf(buf, size, "cannot attach to the container of pid %d: %s", (int)pid, why);
}

/* Watch the cgroup of @pid; on failure, a one-line reason in @err. */
static int daemon_add_container(struct daemon *d, pid_t pid, char *err, size_t err_size)
{
	_cleanup_free_ char *text = NULL;
	struct daemon_target *t;
	struct cgroup_watch w;
	char path[64];
	size_t len;
	int r;

	if (d->nr_targets == PARSE_MAX_PIDS) {
		snprintf(err, err_size, "too many targets: at most %d", PARSE_MAX_PIDS);
		return -E2BIG;
	}
	r = collector__add_container(d->collector, pid, &w);
	if (r < 0) {
		container_error(err, err_size, pid, r);
		return r;
	}
	t = &d->targets[d->nr_targets++];
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->container = true;
	snprintf(t->cgroup, sizeof(t->cgroup), "%s", w.path);
	if (w.v1)
		snprintf(t->cgroup_label, sizeof(t->cgroup_label), "v1 %s:%s", w.controller, w.path);
	else
		snprintf(t->cgroup_label, sizeof(t->cgroup_label), "%s", w.path);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_proc_file(path, 65536, &text, &len) == 0)
		cgroup_parse_container_id(text, t->container_id, sizeof(t->container_id));
	log_info("watching the container of pid %d: cgroup %s%s%s", (int)pid, t->cgroup_label,
		 *t->container_id ? ", id " : "", t->container_id);
	return 0;
}

static void daemon_status(struct daemon *d, Hearth__Control__StatusReply *st)
{
	struct collector_stats cs;
	struct rusage ru;
	struct ring_file_header h;
	_cleanup_(ring_reader__freep) struct ring_reader *rr = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	double up = (time_now_ns() - d->start_ns) / 1e9;
	unsigned long pages_total, pages_rss;

	hearth__control__status_reply__init(st);
	if (collector__stats(d->collector, &cs) < 0)
		memset(&cs, 0, sizeof(cs));
	st->all_processes = arg_all;
	for (size_t i = 0; i < d->nr_targets; i++) {
		Hearth__Control__Target *t = &d->target_msgs[i];

		hearth__control__target__init(t);
		t->pid = (uint32_t)d->targets[i].pid;
		proc_read_comm(d->targets[i].pid, d->comms[i], sizeof(d->comms[i]));
		t->comm = d->comms[i];
		t->python = "";
		t->container = d->targets[i].container;
		t->cgroup = d->targets[i].cgroup_label;
		t->container_id = d->targets[i].container_id;
		d->target_ptrs[i] = t;
	}
	st->n_targets = d->nr_targets;
	st->targets = d->target_ptrs;
	st->rate_hz = (uint32_t)arg_rate;
	st->uptime_s = up;
	st->samples = cs.samples;
	st->samples_per_s = d->samples_per_s;
	st->lost = cs.lost;
	st->frames = cs.frames;
	st->unknown_frames = cs.unknown_frames;
	st->processes = cs.processes;
	if (getrusage(RUSAGE_SELF, &ru) == 0 && up > 0)
		st->cpu_percent = 100.0 * (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
					   (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6) / up;
	f = fopen("/proc/self/statm", "re");
	if (f && fscanf(f, "%lu %lu", &pages_total, &pages_rss) == 2)
		st->rss_bytes = (uint64_t)pages_rss * (uint64_t)sysconf(_SC_PAGESIZE);
	st->sample_faults = cs.sample_faults;
	st->target_faults = cs.target_faults;
	st->maps_failed = cs.maps_failed;
	st->malformed = cs.malformed;
	st->dropped = cs.dropped;
	st->bpf_run_time_ns = cs.bpf_run_time_ns;
	st->bpf_runs = cs.bpf_run_cnt;
	st->slots = d->slots;
	st->slots_failed = d->slots_failed;
	st->slots_late = d->slots_late;
	st->slot_length_s = arg_slot_ns / 1e9;
	st->slot_gap_max_s = d->slot_gap_max_ns / 1e9;
	st->drain_errors = d->drain_errors;
	st->outputs_written = d->outputs_written;
	st->outputs_failed = d->outputs_failed;
	if (d->control) {
		struct control_counts cc;

		control__counts(d->control, &cc, NULL);
		st->control_answered = cc.answered;
		st->control_refused = cc.refused;
		st->control_malformed = cc.malformed;
		st->control_timed_out = cc.timed_out;
		st->control_vanished = cc.vanished;
		st->control_accept_failed = cc.accept_failed;
	}
	if (d->http)
		http_server__counts(d->http, &st->http_ok, &st->http_client_errors, &st->http_server_errors);
	st->ring_path = (char *)arg_ring;
	st->ring_written = ring_writer__written(d->ring);
	if (ring_reader__open(arg_ring, &rr) == 0) {
		ring_reader__header(rr, &h);
		st->ring_size = h.data_size;
		st->ring_used = h.head - h.tail;
		ring_reader__span(rr, &st->ring_oldest_ns, &st->ring_newest_ns);
	}
}

/* Stop watching the container attached by @pid, or else the one @pid runs in. */
static void daemon_detach_container(struct daemon *d, pid_t pid, Hearth__Control__Reply *reply, char *err,
				    size_t err_size)
{
	ssize_t i = daemon_find_target(d, pid, true);
	struct cgroup_watch w;
	int r;

	if (i < 0 && cgroup_find(pid, &w) == 0)
		for (size_t k = 0; k < d->nr_targets; k++)
			if (d->targets[k].container && !strcmp(d->targets[k].cgroup, w.path))
				i = (ssize_t)k;
	if (i < 0) {
		snprintf(err, err_size, "pid %d is not in a watched container", (int)pid);
		return;
	}
	r = collector__remove_container(d->collector, d->targets[i].cgroup);
	if (r < 0) {
		snprintf(err, err_size, "cannot detach from the container of pid %d: %s", (int)pid, strerror(-r));
		return;
	}
	log_info("stopped watching cgroup %s", d->targets[i].cgroup_label);
	d->targets[i] = d->targets[--d->nr_targets];
	reply->ok = true;
}

static void daemon_control(void *ctx, const Hearth__Control__Request *req, Hearth__Control__Reply *reply,
			   char *err, size_t err_size)
{
	struct daemon *d = ctx;
	ssize_t i;
	pid_t pid;
	int r;

	switch (req->kind_case) {
	case HEARTH__CONTROL__REQUEST__KIND_STATUS:
		daemon_status(d, &d->status);
		reply->status = &d->status;
		reply->ok = true;
		return;
	case HEARTH__CONTROL__REQUEST__KIND_ATTACH:
		pid = req->attach ? (pid_t)req->attach->pid : 0;
		if (arg_all) {
			snprintf(err, err_size, "hearthd samples every process (--all): nothing to attach");
			return;
		}
		if (pid <= 0) {
			snprintf(err, err_size, "invalid pid %d", (int)pid);
			return;
		}
		if (req->attach->container) {
			if (daemon_add_container(d, pid, err, err_size) == 0)
				reply->ok = true;
			return;
		}
		if (daemon_find_target(d, pid, false) >= 0) {
			snprintf(err, err_size, "pid %d is already a target", (int)pid);
			return;
		}
		if (d->nr_targets == PARSE_MAX_PIDS) {
			snprintf(err, err_size, "too many targets: at most %d", PARSE_MAX_PIDS);
			return;
		}
		r = collector__add_pid(d->collector, pid);
		if (r < 0) {
			snprintf(err, err_size, "cannot attach to pid %d: %s", (int)pid,
				 r == -ESRCH ? "no such process" : strerror(-r));
			return;
		}
		memset(&d->targets[d->nr_targets], 0, sizeof(d->targets[0]));
		d->targets[d->nr_targets++].pid = pid;
		log_info("attached to pid %d", (int)pid);
		reply->ok = true;
		return;
	case HEARTH__CONTROL__REQUEST__KIND_DETACH:
		pid = req->detach ? (pid_t)req->detach->pid : 0;
		if (arg_all) {
			snprintf(err, err_size, "hearthd samples every process (--all): nothing to detach");
			return;
		}
		if (req->detach->container) {
			daemon_detach_container(d, pid, reply, err, err_size);
			return;
		}
		i = daemon_find_target(d, pid, false);
		if (i < 0) {
			snprintf(err, err_size, "pid %d is not a target", (int)pid);
			return;
		}
		collector__remove_pid(d->collector, pid);
		d->targets[i] = d->targets[--d->nr_targets];
		log_info("detached from pid %d", (int)pid);
		reply->ok = true;
		return;
	default:
		snprintf(err, err_size, "unknown request");
		return;
	}
}

/* The profile an HTTP request asks for, from the ring: its window rounded out to whole slots. */
static int daemon_render(void *ctx, const struct http_profile_request *req, char **ret, size_t *ret_len)
{
	struct daemon *d = ctx;
	/* The slot in progress when the request came started less than a slot before it. */
	struct ring_query q = { .since_ns = req->since_ns - arg_slot_ns + 1, .pid = req->pid };
	char target[160];

	q.comm = req->comm[0] ? req->comm : NULL;
	q.container = req->container[0] ? req->container : NULL;
	snprintf(target, sizeof(target), "hearthd over HTTP, %u s%s%s", req->seconds,
		 req->pid ? ", one pid" : "", q.container ? ", one container" : "");
	return window_pprof(d->reader, &q, target, ret, ret_len, NULL);
}

/* The periodic file due by @now, if any (@final: what is left when stopping). */
static void daemon_periodic(struct daemon *d, uint64_t now, bool final)
{
	char path[4200];
	int r;

	if (!d->periodic)
		return;
	r = periodic__tick(d->periodic, d->reader, now, final, path, sizeof(path));
	if (r > 0) {
		d->outputs_written++;
		log_debug("wrote %s", path);
	} else if (r < 0) {
		/* The window stays in the ring, for hearth export. */
		d->outputs_failed++;
		snprintf(path, sizeof(path), "cannot write a profile into %s", arg_output_dir);
		daemon_fault(d, DAEMON_FAULT_OUTPUT, path, r);
	}
}

/*
 * Drain the BPF ring buffer. A failure is counted and the loop goes on; one
 * that lasts DAEMON_DRAIN_FATAL_NS means the sampler is lost: -EPIPE.
 */
static int daemon_drain(struct daemon *d)
{
	/* Not for longer than a quarter slot: slots are written on time, records wait (or are lost, counted). */
	int r = collector__drain_for(d->collector, arg_slot_ns / 4 < DAEMON_DRAIN_BUDGET_NS ? arg_slot_ns / 4
										: DAEMON_DRAIN_BUDGET_NS);
	uint64_t now;

	if (r >= 0) {
		d->drain_failing_since_ns = 0;
		return 0;
	}
	now = time_now_ns();
	d->drain_errors++;
	if (!d->drain_failing_since_ns)
		d->drain_failing_since_ns = now;
	if (now - d->drain_failing_since_ns >= DAEMON_DRAIN_FATAL_NS) {
		log_error("the BPF ring buffer has failed every read for %.0f s (%s): the sampler is lost; "
			  "restart hearthd", DAEMON_DRAIN_FATAL_NS / 1e9, strerror(-r));
		return -EPIPE;
	}
	daemon_fault(d, DAEMON_FAULT_DRAIN, "cannot read the BPF ring buffer", r);
	return 0;
}

/*
 * Close the slot in progress: drain, append it to the ring, start the next
 * one. A slot that cannot be written is dropped and counted; only a ring
 * file that is gone or replaced (-ENOENT, -ESTALE) or a lost sampler stops
 * the daemon, the reason said already.
 */
static int daemon_slot(struct daemon *d)
{
	struct profile *p = collector__profile(d->collector);
	struct collector_stats st;
	uint64_t now = time_realtime_ns(), mono = time_now_ns();
	int r;

	r = ring_writer__check(d->ring);
	if (r == -ENOENT || r == -ESTALE) {
		log_error("the ring file %s was %s: what was in it is gone from readers; restart hearthd "
			  "to start a ring there", arg_ring, r == -ENOENT ? "removed" : "replaced by another file");
		return r;
	}
	/* What came since the loop's last drain goes into the next slot: this one is on time. */
	if (collector__stats(d->collector, &st) < 0)
		memset(&st, 0, sizeof(st));
	r = ring_writer__write_slot(d->ring, p, d->slot_start_ns, now - d->slot_start_ns,
				    st.lost - d->lost_before);
	if (r < 0) {
		d->slots_failed++;
		daemon_fault(d, DAEMON_FAULT_SLOT, "cannot write a slot into the ring, its samples are dropped", r);
	} else {
		d->slots++;
	}
	if (d->last_slot_mono_ns && mono - d->last_slot_mono_ns > d->slot_gap_max_ns)
		d->slot_gap_max_ns = mono - d->last_slot_mono_ns;
	d->last_slot_mono_ns = mono;
	d->lost_before = st.lost;
	d->samples_per_s = (st.samples - d->samples_before) / ((now - d->slot_start_ns) / 1e9);
	d->samples_before = st.samples;
	d->slot_start_ns = now;
	daemon_periodic(d, now, false);
	r = profile__clear_samples(p);
	/*
	 * Bounded memory: past the limit, the dictionary starts over in a new
	 * epoch; so it does when a slot failed, whatever state it left behind.
	 */
	if (r < 0 || profile__nr_stacks(p) > arg_max_dictionary || profile__nr_frames(p) > arg_max_dictionary ||
	    profile__nr_strings(p) > arg_max_dictionary) {
		log_debug("dictionary full (%zu stacks, %zu frames, %zu strings): starting it over",
			  profile__nr_stacks(p), profile__nr_frames(p), profile__nr_strings(p));
		if ((r = collector__restart_profile(d->collector)) < 0 || (r = ring_writer__new_epoch(d->ring)) < 0) {
			d->slots_failed++;
			daemon_fault(d, DAEMON_FAULT_SLOT, "cannot start the dictionary over", r);
		}
	}
	if (d->slots % 60 == 0)
		log_debug("%" PRIu64 " slots, %" PRIu64 " samples, %" PRIu64 " lost, %" PRIu64
			  " processes, %.1f MiB written to the ring",
			  d->slots, st.samples, st.lost, st.processes,
			  ring_writer__written(d->ring) / 1048576.0);
	return 0;
}

/*
 * The event loop, until a signal (0) or a fatal fault (-errno, said
 * already). Everything else is counted and the loop goes on.
 */
static int daemon_run(struct daemon *d, int sigfd, int timerfd, struct control *ctl)
{
	_cleanup_close_ int epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	int fds[5] = { collector__fd(d->collector), sigfd, timerfd, control__fd(ctl),
		       d->http ? http_server__fd(d->http) : -1 };

	if (epfd < 0)
		return -errno;
	for (uint32_t i = 0; i < 5; i++) {
		ev.data.u32 = i;
		if (fds[i] >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			return -errno;
	}
	for (;;) {
		struct epoll_event evs[8];
		int n = epoll_wait(epfd, evs, 8, 100), r;

		if (n < 0 && errno != EINTR)
			return -errno;
		if ((r = daemon_drain(d)) < 0)
			return r;
		collector__tick(d->collector);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == 1) {
				struct signalfd_siginfo si;

				if (read(sigfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP)
					continue;
				log_info("stopping on %s", strsignal((int)si.ssi_signo));
				return 0;
			}
			if (evs[i].data.u32 == 2) {
				uint64_t ticks;

				if (read(timerfd, &ticks, sizeof(ticks)) != sizeof(ticks))
					continue;
				/* Late: one slot for the whole span, its true length recorded. */
				d->slots_late += ticks - 1;
				r = daemon_slot(d);
				if (r < 0)
					return r;
			}
		}
		/* Every turn: a quiet connection's time runs out, and requests' time comes as slots are written. */
		if ((r = control__serve(ctl, daemon_control, d)) < 0)
			daemon_fault(d, DAEMON_FAULT_LOOP, "cannot poll the control socket", r);
		if (d->http && (r = http_server__dispatch(d->http, d->slot_start_ns, daemon_render, d)) < 0)
			daemon_fault(d, DAEMON_FAULT_LOOP, "cannot poll the HTTP server", r);
	}
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
	struct collector_options co = {};
	struct collector_stats st;
	static struct daemon d;
	struct itimerspec its = {};
	sigset_t mask;
	int r;

	log_set_program("hearthd");
	r = parse_args(argc, argv);
	if (r > 0)
		return 0;
	if (r < 0)
		return 2;
	log_set_level(arg_verbose >= 2 ? LOG_LEVEL_TRACE : arg_verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	libbpf_set_print(libbpf_print);
	if (geteuid() != 0) {
		log_error("permission denied: hearthd runs as root");
		return 1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0) {
		log_error("kernel BTF not found (/sys/kernel/btf/vmlinux): Hearth needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
		return 1;
	}

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
		return 1;
	}

	r = ring_reader__open(arg_ring, &reader);
	if (r < 0) {
		log_error("cannot read back ring %s: %s", arg_ring, strerror(-r));
		return 1;
	}
	if (arg_http) {
		r = http_server__open(arg_http, &http);
		if (r < 0) {
			if (r == -EINVAL)
				log_error("invalid --http address '%s': give HOST:PORT, [IPV6]:PORT or :PORT", arg_http);
			else
				log_error("cannot listen on %s: %s", arg_http, strerror(-r));
			return 1;
		}
	}
	if (arg_output_dir) {
		r = periodic__new(arg_output_dir, arg_every_ns, arg_keep_ns, time_realtime_ns(), &periodic);
		if (r < 0) {
			log_error("cannot write into --output-dir %s: %s", arg_output_dir, strerror(-r));
			return 1;
		}
	}

	r = control__open(arg_control, arg_control_gid, &ctl);
	if (r < 0) {
		if (r == -EADDRINUSE)
			log_error("cannot listen on %s: another hearthd answers there (give --control)", arg_control);
		else
			log_error("cannot listen on %s: %s", arg_control, strerror(-r));
		return 1;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (sigfd < 0 || timerfd < 0) {
		log_error("cannot set up the event loop: %m");
		return 1;
	}

	co.rate_hz = (unsigned int)arg_rate;
	co.kernel = arg_kernel;
	co.all_processes = arg_all;
	co.follow_children = !arg_all;
	co.process_roots = true;
	co.python = arg_python;
	co.max_processes = arg_max_processes;
	co.stack_bytes = arg_dwarf || arg_native ? (uint32_t)arg_stack_size : 0;
	co.native = arg_native;
	co.unwind_auto = arg_auto && !arg_native;
	co.periodic = arg_periodic;
	/*
	 * The default ring buffer (8 MiB) holds over a second of 16 KiB stack
	 * copies from 4 busy CPUs at 99 Hz, and the daemon drains it every 100 ms;
	 * its pages count in the daemon's RSS.
	 */
	r = collector__new(&co, &collector);
	if (r < 0) {
		log_error("cannot load the BPF sampler: %s", r == -EPERM ? "permission denied" : strerror(-r));
		return 1;
	}
	for (int i = 0; i < arg_nr_pids; i++) {
		r = collector__add_pid(collector, arg_pids[i]);
		if (r < 0) {
			log_error("cannot attach to pid %d: %s", (int)arg_pids[i],
				  r == -ESRCH ? "no such process" : strerror(-r));
			return 1;
		}
		d.targets[d.nr_targets++].pid = arg_pids[i];
	}
	d.collector = collector;
	for (int i = 0; i < arg_nr_containers; i++) {
		char err[512];

		if (daemon_add_container(&d, arg_containers[i], err, sizeof(err)) < 0) {
			log_error("%s", err);
			return 1;
		}
	}
	r = collector__start(collector);
	if (r < 0) {
		log_error("cannot start sampling: %s", strerror(-r));
		return 1;
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
		log_error("cannot set the slot timer: %m");
		return 1;
	}
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

	r = daemon_run(&d, sigfd, timerfd, ctl);
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
