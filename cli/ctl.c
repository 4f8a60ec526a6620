// SPDX-License-Identifier: MIT
/*
 * hearth attach, detach and status: ask a running hearthd over its control
 * socket (proto/control.proto) to sample a process, stop sampling it, or
 * say what it is doing.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "hearth-control.h"
#include "hearth.h"
#include "json.h"
#include "log.h"
#include "parse.h"

#define CTL_TIMEOUT_S 10

/* Send @req to the daemon at @path; *@ret is its reply (free with ..._free_unpacked). */
static int ctl_call(const char *path, const Hearth__Control__Request *req, Hearth__Control__Reply **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CTL_TIMEOUT_S };
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *buf = malloc(HEARTH_CONTROL_MAX_MESSAGE);
	size_t n = hearth__control__request__get_packed_size(req);
	ssize_t got;

	if (!buf)
		return -ENOMEM;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	hearth__control__request__pack(req, buf);
	if (send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
		return -errno;
	got = recv(fd, buf, HEARTH_CONTROL_MAX_MESSAGE, 0);
	if (got < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	*ret = hearth__control__reply__unpack(NULL, (size_t)got, buf);
	return *ret ? 0 : -EPROTO;
}

static int ctl_report(const char *path, int r)
{
	if (r == -ENOENT || r == -ECONNREFUSED)
		log_error("cannot reach hearthd at %s: %s (is it running? see --control)", path,
			  r == -ENOENT ? "no such socket" : "nobody listens");
	else if (r == -EACCES)
		log_error("cannot reach hearthd at %s: permission denied (root, or hearthd's --control-group)",
			  path);
	else if (r == -EPROTO)
		log_error("hearthd at %s answered something that is not a reply", path);
	else
		log_error("cannot reach hearthd at %s: %s", path, strerror(-r));
	return EXIT_FAILURE_RUN;
}

struct ctl_args {
	const char *control;
	pid_t pid;
	bool json;
	bool container;
};

static int ctl_parse(int argc, char **argv, const char *verb, bool want_pid, struct ctl_args *a)
{
	enum { ARG_CONTROL = 0x100, ARG_JSON, ARG_CONTAINER };
	static const struct option options[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "container", no_argument, NULL, ARG_CONTAINER },
		{ "control", required_argument, NULL, ARG_CONTROL },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned long pid;
	int c;

	a->control = HEARTH_CONTROL_DEFAULT_PATH;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:h", options, NULL)) >= 0) {
		switch (c) {
		case 'p':
			if (!want_pid || parse_uint(optarg, 1, INT32_MAX, &pid) < 0) {
				log_error(want_pid ? "invalid PID '%s': give a positive process id"
						   : "hearth %s takes no -p", want_pid ? optarg : verb);
				return -EINVAL;
			}
			a->pid = (pid_t)pid;
			break;
		case ARG_CONTROL:
			a->control = optarg;
			break;
		case ARG_CONTAINER:
			if (!want_pid) {
				log_error("unknown option '--container' (see 'hearth %s --help')", verb);
				return -EINVAL;
			}
			a->container = true;
			break;
		case ARG_JSON:
			if (want_pid) {
				log_error("unknown option '--json' (see 'hearth %s --help')", verb);
				return -EINVAL;
			}
			a->json = true;
			break;
		case 'h':
			if (want_pid)
				printf("Usage: hearth %s -p PID [--container] [--control PATH]\n\nMake a running "
				       "hearthd (not started with --all) %s process PID and its children.\n\n"
				       "  -p, --pid PID      the process (a host PID)\n"
				       "      --container    every process in PID's cgroup (its container), now and later\n"
				       "      --control PATH hearthd's control socket (default %s)\n", verb,
				       !strcmp(verb, "attach") ? "sample" : "stop sampling", HEARTH_CONTROL_DEFAULT_PATH);
			else
				printf("Usage: hearth status [--control PATH] [--json]\n\n"
				       "What a running hearthd samples and what it costs.\n");
			return 1;
		case ':':
			log_error("option '%s' needs a value (see 'hearth %s --help')", argv[optind - 1], verb);
			return -EINVAL;
		default:
			log_error("unknown option '%s' (see 'hearth %s --help')", argv[optind - 1], verb);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see 'hearth %s --help')", argv[optind], verb);
		return -EINVAL;
	}
	if (want_pid && !a->pid) {
		log_error("no process: give -p PID");
		return -EINVAL;
	}
	return 0;
}

static int ctl_attach_detach(int argc, char **argv, const char *verb)
{
	Hearth__Control__Request req = HEARTH__CONTROL__REQUEST__INIT;
	Hearth__Control__Attach attach = HEARTH__CONTROL__ATTACH__INIT;
	Hearth__Control__Detach detach = HEARTH__CONTROL__DETACH__INIT;
	Hearth__Control__Reply *reply = NULL;
	struct ctl_args a = {};
	int r, ret;

	r = ctl_parse(argc, argv, verb, true, &a);
	if (r)
		return r > 0 ? EXIT_OK : EXIT_USAGE;
	if (!strcmp(verb, "attach")) {
		attach.pid = (uint32_t)a.pid;
		attach.container = a.container;
		req.kind_case = HEARTH__CONTROL__REQUEST__KIND_ATTACH;
		req.attach = &attach;
	} else {
		detach.pid = (uint32_t)a.pid;
		detach.container = a.container;
		req.kind_case = HEARTH__CONTROL__REQUEST__KIND_DETACH;
		req.detach = &detach;
	}
	r = ctl_call(a.control, &req, &reply);
	if (r < 0)
		return ctl_report(a.control, r);
	ret = reply->ok ? EXIT_OK : EXIT_FAILURE_RUN;
	if (!reply->ok)
		log_error("%s", reply->error && *reply->error ? reply->error : "hearthd refused");
	hearth__control__reply__free_unpacked(reply, NULL);
	return ret;
}

int verb_attach(int argc, char **argv)
{
	return ctl_attach_detach(argc, argv, "attach");
}

int verb_detach(int argc, char **argv)
{
	return ctl_attach_detach(argc, argv, "detach");
}

static void print_time(const char *label, uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char buf[64];

	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s%s", label, ns ? buf : "-");
}

struct status_count {
	const char *name;
	uint64_t value;
};

#define STATUS_MAX_FAULTS 32

/* The faults a status counts, by name (as in --json), in @ret; returns how many. */
static size_t status_faults(const Hearth__Control__StatusReply *s, struct status_count *ret)
{
	const struct status_count faults[] = {
		{ "sample_faults", s->sample_faults },
		{ "target_faults", s->target_faults },
		{ "maps_failed", s->maps_failed },
		{ "malformed", s->malformed },
		{ "dropped", s->dropped },
		{ "slots_failed", s->slots_failed },
		{ "slots_late", s->slots_late },
		{ "drain_errors", s->drain_errors },
		{ "control_refused", s->control_refused },
		{ "control_malformed", s->control_malformed },
		{ "control_timed_out", s->control_timed_out },
		{ "control_vanished", s->control_vanished },
		{ "control_accept_failed", s->control_accept_failed },
		{ "http_client_errors", s->http_client_errors },
		{ "http_server_errors", s->http_server_errors },
		{ "outputs_failed", s->outputs_failed },
	};

	_Static_assert(ARRAY_SIZE(faults) <= STATUS_MAX_FAULTS, "STATUS_MAX_FAULTS too small");
	memcpy(ret, faults, sizeof(faults));
	return ARRAY_SIZE(faults);
}

static void status_json(const Hearth__Control__StatusReply *s, const struct status_count *faults, size_t nr_faults)
{
	printf("{\"all_processes\": %s, \"targets\": [", s->all_processes ? "true" : "false");
	for (size_t i = 0; i < s->n_targets; i++) {
		const Hearth__Control__Target *t = s->targets[i];

		printf("%s{\"pid\": %u, \"container\": %s, \"cgroup\": ", i ? ", " : "", t->pid,
		       t->container ? "true" : "false");
		json_string(stdout, t->cgroup);
		printf(", \"container_id\": ");
		json_string(stdout, t->container_id);
		printf("}");
	}
	printf("], \"rate_hz\": %u, \"uptime_s\": %.1f, \"samples\": %" PRIu64
	       ", \"samples_per_s\": %.1f, \"lost\": %" PRIu64 ", \"frames\": %" PRIu64
	       ", \"unknown_frames\": %" PRIu64 ", \"processes\": %" PRIu64
	       ", \"cpu_percent\": %.3f, \"rss_bytes\": %" PRIu64 ", \"ring_size\": %" PRIu64
	       ", \"ring_used\": %" PRIu64 ", \"ring_written\": %" PRIu64 ", \"ring_oldest_ns\": %" PRIu64
	       ", \"ring_newest_ns\": %" PRIu64,
	       s->rate_hz, s->uptime_s, s->samples, s->samples_per_s, s->lost, s->frames, s->unknown_frames,
	       s->processes, s->cpu_percent, s->rss_bytes, s->ring_size, s->ring_used, s->ring_written,
	       s->ring_oldest_ns, s->ring_newest_ns);
	printf(", \"slot_write_max_s\": %.6f, \"turn_max_s\": %.6f", s->slot_write_max_s, s->turn_max_s);
	printf(", \"slots\": %" PRIu64 ", \"slot_length_s\": %.3f, \"slot_gap_max_s\": %.3f, \"bpf_run_time_ns\": %" PRIu64
	       ", \"bpf_runs\": %" PRIu64 ", \"control_answered\": %" PRIu64 ", \"http_ok\": %" PRIu64
	       ", \"outputs_written\": %" PRIu64 ", \"walks_bad_ret\": %" PRIu64 ", \"walks_past_root\": %" PRIu64
	       ", \"walks_cut\": %" PRIu64 ", \"dwarf_samples\": %" PRIu64 ", \"dwarf_bad_ip\": %" PRIu64
	       ", \"faults\": {", s->slots, s->slot_length_s, s->slot_gap_max_s,
	       s->bpf_run_time_ns, s->bpf_runs, s->control_answered, s->http_ok, s->outputs_written, s->walks_bad_ret,
	       s->walks_past_root, s->walks_cut, s->dwarf_samples, s->dwarf_bad_ip);
	for (size_t i = 0; i < nr_faults; i++)
		printf("%s\"%s\": %" PRIu64, i ? ", " : "", faults[i].name, faults[i].value);
	printf("}}\n");
}

static void status_text(const Hearth__Control__StatusReply *s, const struct status_count *faults, size_t nr_faults)
{
	size_t shown = 0;

	printf("targets:     %s", s->all_processes ? "every process (--all)" : "");
	for (size_t i = 0; i < s->n_targets; i++) {
		const Hearth__Control__Target *t = s->targets[i];

		printf("%s%u (%s)", i ? ", " : "", t->pid, t->comm);
		if (t->container)
			printf(" and its container %.12s (cgroup %s)",
			       *t->container_id ? t->container_id : "without an id", t->cgroup);
	}
	printf("\nsampling:    %u Hz, up %.0f s, %" PRIu64 " samples (%.1f/s), %" PRIu64 " lost, %" PRIu64
	       " processes seen\n",
	       s->rate_hz, s->uptime_s, s->samples, s->samples_per_s, s->lost, s->processes);
	printf("frames:      %" PRIu64 " of %" PRIu64 " unknown (%.1f%%)\n", s->unknown_frames, s->frames,
	       s->frames ? 100.0 * s->unknown_frames / s->frames : 0.0);
	printf("walks:       %" PRIu64 " ended at a return address outside executable code, %" PRIu64 " went on past "
	       "the program's or thread's start, %" PRIu64 " cut short ([incomplete]); %" PRIu64 " DWARF, %" PRIu64
	       " of them ended at a bad address\n",
	       s->walks_bad_ret, s->walks_past_root, s->walks_cut, s->dwarf_samples, s->dwarf_bad_ip);
	printf("daemon:      %.2f%% of a CPU since start, %.1f MiB RSS\n", s->cpu_percent,
	       s->rss_bytes / 1048576.0);
	printf("ring:        %s, %.1f of %.0f MiB in use (%.0f%%), %.1f MiB written since start\n",
	       s->ring_path, s->ring_used / 1048576.0, s->ring_size / 1048576.0,
	       s->ring_size ? 100.0 * s->ring_used / s->ring_size : 0.0, s->ring_written / 1048576.0);
	print_time("holds:       ", s->ring_oldest_ns);
	print_time(" to ", s->ring_newest_ns);
	printf(" (%.0f s)\n", s->ring_newest_ns > s->ring_oldest_ns
				       ? (s->ring_newest_ns - s->ring_oldest_ns) / 1e9 : 0.0);
	printf("slots:       %" PRIu64 " of %.1f s, the longest gap %.1f s, the longest write %.1f ms, the "
	       "longest turn of the loop %.1f ms\n", s->slots, s->slot_length_s, s->slot_gap_max_s,
	       s->slot_write_max_s * 1e3, s->turn_max_s * 1e3);
	printf("faults:      ");
	for (size_t i = 0; i < nr_faults; i++)
		if (faults[i].value)
			printf("%s%" PRIu64 " %s", shown++ ? ", " : "", faults[i].value, faults[i].name);
	if (!shown)
		printf("none");
	printf("\n");
}

int verb_status(int argc, char **argv)
{
	Hearth__Control__Request req = HEARTH__CONTROL__REQUEST__INIT;
	Hearth__Control__Status status = HEARTH__CONTROL__STATUS__INIT;
	Hearth__Control__Reply *reply = NULL;
	const Hearth__Control__StatusReply *s;
	struct status_count faults[STATUS_MAX_FAULTS];
	struct ctl_args a = {};
	size_t nr_faults;
	int r;

	r = ctl_parse(argc, argv, "status", false, &a);
	if (r)
		return r > 0 ? EXIT_OK : EXIT_USAGE;
	req.kind_case = HEARTH__CONTROL__REQUEST__KIND_STATUS;
	req.status = &status;
	r = ctl_call(a.control, &req, &reply);
	if (r < 0)
		return ctl_report(a.control, r);
	if (!reply->ok || !reply->status) {
		log_error("%s", reply->error && *reply->error ? reply->error : "hearthd gave no status");
		hearth__control__reply__free_unpacked(reply, NULL);
		return EXIT_FAILURE_RUN;
	}
	s = reply->status;
	nr_faults = status_faults(s, faults);
	if (a.json)
		status_json(s, faults, nr_faults);
	else
		status_text(s, faults, nr_faults);
	hearth__control__reply__free_unpacked(reply, NULL);
	return EXIT_OK;
}
