// SPDX-License-Identifier: MIT
/*
 * Faults the collector survives: a sample it could not make, a target it
 * could not read. Each is counted in collector_stats; the first of a kind is
 * said at once, later ones at most once a minute with how many came between,
 * so a machine where every process faults does not flood the log.
 */
#include <inttypes.h>
#include <string.h>

#include "collector-internal.h"
#include "log.h"

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
