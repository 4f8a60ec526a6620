// SPDX-License-Identifier: MIT
/* What hearth record says about a recording: at the start (the clock), and at the end (counts, costs, top functions). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"
#include "record.h"
#include "sampler.h"
#include "summary.h"

const char *record_describe_target(const struct record_args *a, char *buf, size_t size)
{
	size_t n = 0;

	if (a->command) {
		for (char **w = a->command; *w && n + 1 < size; w++)
			n += snprintf(buf + n, size - n, "%s%s", w == a->command ? "" : " ", *w);
	} else {
		n = snprintf(buf, size, "pid%s ", a->nr_pids > 1 ? "s" : "");
		for (int i = 0; i < a->nr_pids && n + 1 < size; i++)
			n += snprintf(buf + n, size - n, "%s%d", i ? "," : "", (int)a->pids[i]);
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
static void record_summary_clock(const struct record_args *a, const struct collector_stats *st,
				 uint64_t elapsed_ns)
{
	int cpus = st->clock_cpus + st->perf_cpus;
	double mean = st->samples ? (double)st->weight_ns / st->samples : 0, cv = 0;
	double step = 1e9 / a->rate / 8;
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
		st->perf_cpus && !a->periodic ? ": the random clock " : "",
		st->perf_cpus && !a->periodic ? sampler_clock_error(st->clock_error) : "",
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

void record_summary(const struct record *rec, const struct record_args *a, const struct collector_stats *st,
			   uint64_t elapsed_ns)
{
	struct profile *p = collector__profile(rec->collector);
	struct summary_entry top[5];
	uint64_t total = profile__total(p);
	int n = summary_top_self(p, top, ARRAY_SIZE(top));

	fprintf(stderr, "hearth: %" PRIu64 " samples in %.1f s at %lu Hz, %" PRIu64 " lost, %" PRIu64
			" of %" PRIu64 " frames unknown (%.1f%%)\n",
		st->samples, elapsed_ns / 1e9, a->rate, st->lost, st->unknown_frames, st->frames,
		st->frames ? 100.0 * st->unknown_frames / st->frames : 0.0);
	record_summary_clock(a, st, elapsed_ns);
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
	if (a->unwinding.unwind_auto)
		fprintf(stderr, "hearth: --unwind auto: %" PRIu64 " processes without frame pointers, unwound with DWARF, "
				"and %" PRIu64 " whose frame-pointer walks DWARF contradicted; %" PRIu64 " frame-pointer "
				"samples with a leaf in code without them, %" PRIu64 " given its caller back by DWARF; "
				"%" PRIu64 " walks cut short at a return into code without them ([incomplete])\n",
			st->dwarf_processes, st->dwarf_switched, st->leaf_samples, st->leaf_fixed, st->walks_cut);
	if (a->unwinding.stack_bytes && (!a->unwinding.unwind_auto || st->dwarf_processes || st->dwarf_switched)) {
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
	if (a->unwinding.gil_only)
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
	for (size_t i = 0; i < a->nr_outputs; i++)
		fprintf(stderr, "hearth: wrote %s (%s)\n",
			strcmp(a->outputs[i].path, "-") ? a->outputs[i].path : "standard output",
			a->outputs[i].format->name);
}

/* Say at start when some CPUs are sampled at fixed intervals although random ones were wanted. */
void record_check_clock(const struct record_args *a, const struct collector_stats *st)
{
	if (st->perf_cpus && !a->periodic)
		log_warn("sampling %d of %d CPUs at fixed intervals: the random sampling clock %s; "
			 "periodic work can alias with the samples", st->perf_cpus, st->perf_cpus + st->clock_cpus,
			 sampler_clock_error(st->clock_error));
	if (st->perf_cpus && st->max_sample_rate > 0 && a->rate > (unsigned long)st->max_sample_rate)
		log_warn("kernel.perf_event_max_sample_rate is %d, below the %lu Hz asked: the kernel throttles "
			 "the perf events", st->max_sample_rate, a->rate);
}

/*
 * Say at the end when the CPUs were ticked far less often than asked (a
 * throttled perf event, a clock that fell behind): the weights keep the
 * times right, but there are fewer samples to go by. A shortfall of more
 * than a tenth and four standard deviations of a Poisson count.
 */
void record_check_rate(const struct record_args *a, const struct collector_stats *st, uint64_t elapsed_ns)
{
	int cpus = st->clock_cpus + st->perf_cpus, now;
	double expected = (double)a->rate * cpus * (elapsed_ns / 1e9);

	if (!cpus || st->ticks >= 0.9 * expected || st->ticks + 4 * sqrt(expected) >= expected)
		return;
	now = st->perf_cpus ? sampler_max_sample_rate() : -1;
	if (now > 0 && (unsigned long)now < a->rate)
		log_warn("the CPUs were sampled %.0f times a second on average, not %lu: the kernel lowered "
			 "kernel.perf_event_max_sample_rate to %d (perf interrupts ran too long)",
			 st->ticks / (elapsed_ns / 1e9) / cpus, a->rate, now);
	else
		log_warn("the CPUs were sampled %.0f times a second on average, not %lu",
			 st->ticks / (elapsed_ns / 1e9) / cpus, a->rate);
}
