// SPDX-License-Identifier: MIT
/* hearthd's control requests: attach, detach, status (see daemon.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cleanup.h"
#include "daemon.h"
#include "log.h"
#include "procmaps.h"

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
int daemon_add_container(struct daemon *d, pid_t pid, char *err, size_t err_size)
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
	st->all_processes = d->all;
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
	st->rate_hz = (uint32_t)d->rate;
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
	st->walks_bad_ret = cs.walks_bad_ret;
	st->walks_past_root = cs.walks_past_root;
	st->walks_cut = cs.walks_cut;
	st->dwarf_samples = cs.dwarf_samples;
	st->dwarf_bad_ip = cs.dwarf_stops[UNWIND_STOP_BAD_IP];
	st->slots = d->slots;
	st->slots_failed = d->slots_failed;
	st->slots_late = d->slots_late;
	st->slot_length_s = d->slot_ns / 1e9;
	st->slot_gap_max_s = d->slot_gap_max_ns / 1e9;
	st->slot_write_max_s = d->slot_write_max_ns / 1e9;
	st->turn_max_s = d->turn_max_ns / 1e9;
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
	st->ring_path = (char *)d->ring_path;
	st->ring_written = ring_writer__written(d->ring);
	if (ring_reader__open(d->ring_path, &rr) == 0) {
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

void daemon_control(void *ctx, const Hearth__Control__Request *req, Hearth__Control__Reply *reply,
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
		if (d->all) {
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
		if (d->all) {
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

