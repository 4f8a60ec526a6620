/* SPDX-License-Identifier: MIT */
/*
 * hearthd's state, and its event loop (loop.c): slots written into the ring
 * on time, the control socket and HTTP served, faults counted and survived.
 * The control requests are answered in requests.c, options read in hearthd.c.
 */
#ifndef HEARTH_DAEMON_DAEMON_H
#define HEARTH_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "collector.h"
#include "control.h"
#include "hearth-control.h"
#include "http.h"
#include "outputs.h"
#include "parse.h"
#include "ring.h"

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

struct daemon {
	struct collector *collector;
	struct ring_writer *ring;
	struct ring_reader *reader;     /* of the same ring, for --http and --output-dir */
	struct http_server *http;       /* NULL without --http */
	struct periodic *periodic;      /* NULL without --output-dir */
	/* Settings the loop and the requests use. */
	bool all;
	unsigned long rate;
	uint64_t slot_ns;
	size_t max_dictionary;
	const char *ring_path;
	const char *output_dir;
	uint64_t start_ns;      /* CLOCK_MONOTONIC */
	uint64_t slot_start_ns; /* CLOCK_REALTIME */
	uint64_t lost_before;
	uint64_t samples_before;
	double samples_per_s;   /* over the last slot */
	uint64_t slots;
	/* Faults survived (status), and when each kind was last said. */
	uint64_t slots_failed, slots_late, drain_errors, outputs_written, outputs_failed;
	uint64_t slot_gap_max_ns, last_slot_mono_ns;
	uint64_t slot_write_max_ns, turn_max_ns; /* the longest slot write, and turn of the loop's work */
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

/* Say fault @kind (@what: @err; the caller counts it), at most once a minute, with how many went unsaid. */
void daemon_fault(struct daemon *d, enum daemon_fault kind, const char *what, int err);

/*
 * Watch the container (cgroup) @pid runs in, as -c does; an error text in
 * @err. Returns 0 or -errno.
 */
int daemon_add_container(struct daemon *d, pid_t pid, char *err, size_t err_size);

/* The control socket's handler (control_handler_fn): attach, detach, status. */
void daemon_control(void *ctx, const Hearth__Control__Request *req, Hearth__Control__Reply *reply,
		    char *err, size_t err_size);

/* Write the periodic file due by @now into --output-dir, if any (@final: what is left when stopping). */
void daemon_periodic(struct daemon *d, uint64_t now, bool final);

/*
 * Close the slot in progress: append it to the ring, start the next one. A
 * slot that cannot be written is dropped and counted. Returns 0, or
 * -ENOENT / -ESTALE when the ring file is gone or replaced (said already).
 */
int daemon_slot(struct daemon *d);

/*
 * The event loop, until a signal (0) or a fatal fault (-ENOENT, -ESTALE or
 * -EPIPE, said already; another -errno if the loop cannot be set up).
 * Control requests go to @on_request.
 */
int daemon_run(struct daemon *d, int sigfd, int timerfd, struct control *ctl, control_handler_fn on_request);

#endif
