/* SPDX-License-Identifier: MIT */
/*
 * hearth record, in three files: record-args.c (the command line, checked
 * into struct record_args), record.c (starting the targets, the loop, the
 * output) and record-summary.c (what is said at the start and the end).
 */
#ifndef HEARTH_CLI_RECORD_H
#define HEARTH_CLI_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "collector.h"
#include "options.h"
#include "output.h"
#include "parse.h"

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

/* What the command line asked for. */
struct record_args {
	pid_t pids[PARSE_MAX_PIDS];
	int nr_pids;
	uint64_t duration_ns;
	unsigned long rate;
	struct output outputs[OUTPUT_MAX];
	size_t nr_outputs;
	const struct exporter *format;
	bool kernel;
	bool threads;
	bool subprocesses;
	bool function;
	bool full_filenames;
	/* --unwind, --native, --stack-size, --no-python, --gil: checked together into unwinding. */
	struct collector_args collector;
	struct collector_options unwinding;
	bool periodic;
	int verbose;
	char **command;
};

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

/* Parse and check @argv into @a. Returns 0, 1 after --help, or -EINVAL (said). */
int record_parse_args(int argc, char **argv, struct record_args *a);

/* "pid 4242" or the command line, cut to @size with "...". */
const char *record_describe_target(const struct record_args *a, char *buf, size_t size);
/* Say at start when some CPUs are sampled at fixed intervals although random ones were wanted. */
void record_check_clock(const struct record_args *a, const struct collector_stats *st);
/* Say at the end when the CPUs were ticked far less often than asked. */
void record_check_rate(const struct record_args *a, const struct collector_stats *st, uint64_t elapsed_ns);
/* The summary on stderr: counts, what was lost and why, the top functions. */
void record_summary(const struct record *rec, const struct record_args *a, const struct collector_stats *st,
		    uint64_t elapsed_ns);

#endif
