// SPDX-License-Identifier: MIT
/* hearthd's event loop: see daemon.h. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cleanup.h"
#include "daemon.h"
#include "log.h"
#include "outputs.h"
#include "profile.h"

#define DAEMON_FAULT_QUIET_NS (60ull * 1000000000ull)
/* The longest one drain of the loop takes. */
#define DAEMON_DRAIN_BUDGET_NS (100ull * 1000000ull)
/*
 * The loop sleeps as long as collector__tick_ms() allows (a second once the
 * stacks are known): slots come from their timer, samples wake it once the BPF ring
 * buffer holds an eighth of its size (and new processes and exits at once),
 * requests through their sockets. A wake-up costs tens of microseconds of
 * cold caches, several samples' worth at 49 Hz; the sleep bounds how late a
 * quiet connection's time runs out.
 */
/* A ring buffer that cannot be read for this long means the BPF side is lost. */
#define DAEMON_DRAIN_FATAL_NS (10ull * 1000000000ull)

/* Say fault @kind (@what: @err), at most once a minute, with how many went unsaid. */
void daemon_fault(struct daemon *d, enum daemon_fault kind, const char *what, int err)
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

/* The profile an HTTP request asks for, from the ring: its window rounded out to whole slots. */
static int daemon_render(void *ctx, const struct http_profile_request *req, char **ret, size_t *ret_len)
{
	struct daemon *d = ctx;
	/* The slot in progress when the request came started less than a slot before it. */
	struct ring_query q = { .since_ns = req->since_ns - d->slot_ns + 1, .pid = req->pid };
	char target[160];

	q.comm = req->comm[0] ? req->comm : NULL;
	q.container = req->container[0] ? req->container : NULL;
	snprintf(target, sizeof(target), "hearthd over HTTP, %u s%s%s", req->seconds,
		 req->pid ? ", one pid" : "", q.container ? ", one container" : "");
	return window_pprof(d->reader, &q, target, ret, ret_len, NULL);
}

/* The periodic file due by @now, if any (@final: what is left when stopping). */
void daemon_periodic(struct daemon *d, uint64_t now, bool final)
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
		snprintf(path, sizeof(path), "cannot write a profile into %s", d->output_dir);
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
	int r = collector__drain_for(d->collector, d->slot_ns / 4 < DAEMON_DRAIN_BUDGET_NS ? d->slot_ns / 4
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
int daemon_slot(struct daemon *d)
{
	struct profile *p = collector__profile(d->collector);
	struct collector_stats st;
	uint64_t now = time_realtime_ns(), mono = time_now_ns();
	int r;

	r = ring_writer__check(d->ring);
	if (r == -ENOENT || r == -ESTALE) {
		log_error("the ring file %s was %s: what was in it is gone from readers; restart hearthd "
			  "to start a ring there", d->ring_path, r == -ENOENT ? "removed" : "replaced by another file");
		return r;
	}
	/* What came since the loop's last drain goes into the next slot: this one is on time. */
	if (collector__stats(d->collector, &st) < 0)
		memset(&st, 0, sizeof(st));
	r = ring_writer__write_slot(d->ring, p, d->slot_start_ns, now - d->slot_start_ns,
				    st.lost - d->lost_before);
	if (time_now_ns() - mono > d->slot_write_max_ns)
		d->slot_write_max_ns = time_now_ns() - mono;
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
	if (r < 0 || profile__nr_stacks(p) > d->max_dictionary || profile__nr_frames(p) > d->max_dictionary ||
	    profile__nr_strings(p) > d->max_dictionary) {
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
int daemon_run(struct daemon *d, int sigfd, int timerfd, struct control *ctl, control_handler_fn on_request)
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
		int n = epoll_wait(epfd, evs, 8, collector__tick_ms(d->collector)), r;
		uint64_t turn_ns = time_now_ns();

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
		if ((r = control__serve(ctl, on_request, d)) < 0)
			daemon_fault(d, DAEMON_FAULT_LOOP, "cannot poll the control socket", r);
		if (d->http && (r = http_server__dispatch(d->http, d->slot_start_ns, daemon_render, d)) < 0)
			daemon_fault(d, DAEMON_FAULT_LOOP, "cannot poll the HTTP server", r);
		turn_ns = time_now_ns() - turn_ns;
		if (turn_ns > d->turn_max_ns)
			d->turn_max_ns = turn_ns;
	}
}

