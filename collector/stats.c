// SPDX-License-Identifier: MIT
/*
 * What the collector counts: its stats, and the faults it survives (a
 * sample it could not make, a target it could not read). Each fault is
 * counted in collector_stats; the first of a kind is said at once, later
 * ones at most once a minute with how many came between, so a machine where
 * every process faults does not flood the log.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "collector-internal.h"
#include "intern.h"
#include "log.h"
#include "process.h"
#include "pyprocess.h"
#include "sampler.h"
#include "unwind.h"

#define COLLECTOR_FAULT_QUIET_NS (60ull * 1000000000ull)

static const char *const fault_what[COLLECTOR_FAULT__MAX] = {
	[COLLECTOR_FAULT_SAMPLE] = "a sample was dropped",
	[COLLECTOR_FAULT_TARGET] = "cannot read the process",
};

void collector_fault(struct collector *c, enum collector_fault kind, pid_t pid, int err, const char *step)
{
	struct collector_fault_log *l = &c->fault_log[kind];
	uint64_t now = time_now_ns();

	if (kind == COLLECTOR_FAULT_SAMPLE)
		c->stats.sample_faults++;
	else
		c->stats.target_faults++;
	if (l->said_ns && now - l->said_ns < COLLECTOR_FAULT_QUIET_NS) {
		l->unsaid++;
		return;
	}
	if (l->unsaid)
		log_warn("pid %d: %s (%s: %s); %" PRIu64 " more like it since the last said, all counted; going on",
			 (int)pid, fault_what[kind], step, strerror(-err), l->unsaid);
	else
		log_warn("pid %d: %s (%s: %s); counted, going on", (int)pid, fault_what[kind], step,
			 strerror(-err));
	l->said_ns = now;
	l->unsaid = 0;
}

int collector__stats(struct collector *c, struct collector_stats *ret)
{
	uint64_t counters[HEARTH_COUNTER_MAX];
	int r;

	r = sampler__counters(c->sampler, counters);
	if (r < 0)
		return r;
	c->stats.lost = counters[HEARTH_COUNTER_LOST_RINGBUF];
	c->stats.events_lost = counters[HEARTH_COUNTER_EVENTS_LOST];
	c->stats.ticks = counters[HEARTH_COUNTER_TICKS];
	c->stats.bpf_sample_time_ns = counters[HEARTH_COUNTER_SAMPLE_NS];
	c->stats.bpf_samples = counters[HEARTH_COUNTER_SAMPLES];
	c->stats.cgroup_joined = counters[HEARTH_COUNTER_CGROUP_JOINED] + c->scan_joined;
	if (sampler__prog_stats(c->sampler, &c->stats.bpf_run_time_ns, &c->stats.bpf_run_cnt) < 0)
		c->stats.bpf_run_time_ns = c->stats.bpf_run_cnt = 0;
	c->stats.py_unknown_code = c->stats.py_incomplete = 0;
	c->stats.maps_failed = c->maps_failed_exited;
	for (size_t i = 0; i < intern__count(c->pids); i++) {
		struct pyprocess_stats ps;

		if (c->targets[i].process) {
			struct process_stats st;

			process__stats(c->targets[i].process, &st);
			c->stats.maps_failed += st.maps_failed;
		}
		if (!c->targets[i].py)
			continue;
		pyprocess__stats(c->targets[i].py, &ps);
		c->stats.py_unknown_code += ps.unknown_code;
		c->stats.py_incomplete += ps.incomplete;
	}
	if (c->unwinder) {
		struct unwind_stats us;

		unwinder__stats(c->unwinder, &us);
		c->stats.dwarf_debug_frames = us.debug_frame_lookups;
		c->stats.dwarf_by_rows = us.by_rows;
		c->stats.dwarf_by_libunwind = us.by_libunwind;
		c->stats.dwarf_files_failed = us.file_failures;
	}
	*ret = c->stats;
	return 0;
}
