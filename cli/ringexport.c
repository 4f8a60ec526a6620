// SPDX-License-Identifier: MIT
/*
 * hearth export: a profile of a time window out of hearthd's shared-memory
 * ring, read directly (the daemon need not run or answer), written with the
 * same exporters as `hearth record`; or, with --diff, the difference between
 * two windows as a differential flame graph or difffolded.pl's format.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "export.h"
#include "hearth.h"
#include "log.h"
#include "output.h"
#include "parse.h"
#include "ring.h"

static const char *arg_ring = RING_DEFAULT_PATH;
static uint64_t arg_last_ns;
static uint64_t arg_since_ns, arg_until_ns;
static pid_t arg_pid;
static const char *arg_comm;
static const char *arg_container;
static struct output arg_outputs[OUTPUT_MAX];
static size_t arg_nr_outputs;
static const struct exporter *arg_format;
static int arg_verbose;

/* A time window of the ring; 0 at either end leaves that end open. */
struct window {
	uint64_t since_ns, until_ns;
};

enum { DIFF_BASE, DIFF_NEW };
static bool arg_diff;
static struct window arg_windows[2]; /* --diff BASE,NEW */

static void export_help(void)
{
	printf("Usage: hearth export [OPTIONS] [-o FILE]\n"
	       "       hearth export --diff BASE,NEW [OPTIONS] [-o FILE]\n\n"
	       "Write a profile of what hearthd recorded into its shared-memory ring.\n\n"
	       "Options:\n"
	       "      --ring PATH         the ring (default %s)\n"
	       "      --last TIME         the last TIME (10m, 30s, 1h); default: all the ring holds\n"
	       "      --since WHEN        from WHEN: 'YYYY-MM-DD HH:MM[:SS]', 'HH:MM[:SS]' today,\n"
	       "                          '@UNIXSECONDS', or '-TIME' (that long ago); local time\n"
	       "      --until WHEN        up to WHEN (same forms)\n"
	       "      --diff BASE,NEW     compare two windows, each SINCE..UNTIL in the forms of\n"
	       "                          --since (either end may be empty): a differential flame\n"
	       "                          graph, widths from NEW, red where a frame's share of all\n"
	       "                          samples grew, blue where it shrank (default diff.svg);\n"
	       "                          folded output has 'stack countBASE countNEW' lines\n"
	       "  -p, --pid PID           only this process\n"
	       "      --comm NAME         only processes of this name\n"
	       "      --container ID      only processes of this container (its id, or a prefix of it\n"
	       "                          such as docker's 12-digit short id)\n"
	       "  -o, --output FILE       where to write ('-' for stdout; default flame.svg); repeat\n"
	       "                          for several formats\n"
	       "  -f, --format FORMAT     svg, folded, pprof or speedscope (default: from the extension)\n"
	       "  -v, --verbose           the summary even when stderr is not a terminal\n"
	       "  -h, --help              this help\n\n"
	       "Examples:\n"
	       "  hearth export --last 10m -o flame.svg\n"
	       "  hearth export -p 4242 --since '2026-11-26 13:00' --until '2026-11-26 13:05' -o out.pb.gz\n"
	       "  hearth export --comm nginx --diff -20m..-10m,-10m.. -o diff.svg\n",
	       RING_DEFAULT_PATH);
}

/* A point in time as --since and --until take it, to CLOCK_REALTIME ns. */
static int parse_when(const char *s, uint64_t *ret)
{
	static const char *const formats[] = { "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
					       "%Y-%m-%dT%H:%M", "%H:%M:%S", "%H:%M" };
	uint64_t ago;
	unsigned long secs;

	if (s[0] == '-') {
		if (parse_duration(s + 1, &ago) < 0 || ago > time_realtime_ns())
			return -EINVAL;
		*ret = time_realtime_ns() - ago;
		return 0;
	}
	if (s[0] == '@') {
		if (parse_uint(s + 1, 0, (unsigned long)INT32_MAX * 4, &secs) < 0)
			return -EINVAL;
		*ret = (uint64_t)secs * 1000000000ull;
		return 0;
	}
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		time_t now = time(NULL);
		struct tm tm;
		const char *end;
		time_t t;

		localtime_r(&now, &tm);
		tm.tm_sec = 0;
		end = strptime(s, formats[i], &tm);
		if (!end || *end)
			continue;
		tm.tm_isdst = -1;
		t = mktime(&tm);
		if (t < 0)
			return -EINVAL;
		*ret = (uint64_t)t * 1000000000ull;
		return 0;
	}
	return -EINVAL;
}

/* One window of --diff, "SINCE..UNTIL" (@len bytes at @s); either end may be empty. */
static int parse_window(const char *s, size_t len, struct window *ret)
{
	_cleanup_free_ char *since = strndup(s, len);
	struct window w = {};
	char *until;

	if (!since)
		return -ENOMEM;
	until = strstr(since, "..");
	if (!until)
		return -EINVAL;
	*until = '\0';
	until += 2;
	if ((*since && parse_when(since, &w.since_ns) < 0) || (*until && parse_when(until, &w.until_ns) < 0))
		return -EINVAL;
	if (w.since_ns && w.until_ns && w.until_ns <= w.since_ns)
		return -ERANGE;
	*ret = w;
	return 0;
}

/* --diff BASE,NEW: no time form holds a comma, so the comma splits the two. */
static int parse_diff(const char *s)
{
	const char *comma = strchr(s, ',');
	int r;

	if (!comma || strchr(comma + 1, ','))
		r = -EINVAL;
	else if ((r = parse_window(s, comma - s, &arg_windows[DIFF_BASE])) == 0)
		r = parse_window(comma + 1, strlen(comma + 1), &arg_windows[DIFF_NEW]);
	if (r == -EINVAL)
		log_error("invalid windows '%s' for --diff: give BASE,NEW, each SINCE..UNTIL with times as "
			  "--since takes them, such as -20m..-10m,-10m..", s);
	else if (r == -ERANGE)
		log_error("invalid windows '%s' for --diff: a window ends before it starts", s);
	else if (r < 0)
		log_error("out of memory");
	else
		arg_diff = true;
	return r;
}

static int export_parse_args(int argc, char **argv)
{
	enum { ARG_RING = 0x100, ARG_LAST, ARG_SINCE, ARG_UNTIL, ARG_COMM, ARG_CONTAINER, ARG_DIFF };
	static const struct option options[] = {
		{ "ring", required_argument, NULL, ARG_RING },
		{ "last", required_argument, NULL, ARG_LAST },
		{ "since", required_argument, NULL, ARG_SINCE },
		{ "until", required_argument, NULL, ARG_UNTIL },
		{ "diff", required_argument, NULL, ARG_DIFF },
		{ "pid", required_argument, NULL, 'p' },
		{ "comm", required_argument, NULL, ARG_COMM },
		{ "container", required_argument, NULL, ARG_CONTAINER },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned long pid;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:o:f:vh", options, NULL)) >= 0) {
		switch (c) {
		case ARG_RING:
			if (!*optarg) {
				log_error("empty ring path");
				return -EINVAL;
			}
			arg_ring = optarg;
			break;
		case ARG_LAST:
			if (parse_duration(optarg, &arg_last_ns) < 0) {
				log_error("invalid time '%s' for --last: give a duration such as 30s, 10m or 1h", optarg);
				return -EINVAL;
			}
			break;
		case ARG_SINCE:
		case ARG_UNTIL:
			if (parse_when(optarg, c == ARG_SINCE ? &arg_since_ns : &arg_until_ns) < 0) {
				log_error("invalid time '%s' for --%s: give 'YYYY-MM-DD HH:MM[:SS]', 'HH:MM[:SS]', "
					  "'@UNIXSECONDS' or '-10m'", optarg, c == ARG_SINCE ? "since" : "until");
				return -EINVAL;
			}
			break;
		case ARG_DIFF:
			if (parse_diff(optarg) < 0)
				return -EINVAL;
			break;
		case 'p':
			if (parse_uint(optarg, 1, INT32_MAX, &pid) < 0) {
				log_error("invalid PID '%s': give a positive process id", optarg);
				return -EINVAL;
			}
			arg_pid = (pid_t)pid;
			break;
		case ARG_COMM:
			arg_comm = optarg;
			break;
		case ARG_CONTAINER:
			if (!*optarg || strlen(optarg) > 64 || strspn(optarg, "0123456789abcdef") != strlen(optarg)) {
				log_error("invalid container id '%s': give its hex id or a prefix of it", optarg);
				return -EINVAL;
			}
			arg_container = optarg;
			break;
		case 'o':
			if (outputs_add(arg_outputs, &arg_nr_outputs, optarg) < 0)
				return -EINVAL;
			break;
		case 'f':
			arg_format = output_format_arg(optarg);
			if (!arg_format)
				return -EINVAL;
			break;
		case 'v':
			arg_verbose++;
			break;
		case 'h':
			export_help();
			return 1;
		case ':':
			log_error("option '%s' needs a value (see 'hearth export --help')", argv[optind - 1]);
			return -EINVAL;
		default:
			log_error("unknown option '%s' (see 'hearth export --help')", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see 'hearth export --help')", argv[optind]);
		return -EINVAL;
	}
	if (arg_diff && (arg_last_ns || arg_since_ns || arg_until_ns)) {
		log_error("--diff gives both windows itself: drop --last, --since and --until");
		return -EINVAL;
	}
	if (arg_last_ns && (arg_since_ns || arg_until_ns)) {
		log_error("give either --last or --since/--until, not both");
		return -EINVAL;
	}
	if (arg_since_ns && arg_until_ns && arg_until_ns <= arg_since_ns) {
		log_error("--until must come after --since");
		return -EINVAL;
	}
	if (!arg_nr_outputs)
		arg_outputs[arg_nr_outputs++].path = arg_diff ? "diff.svg" : "flame.svg";
	if (outputs_resolve(arg_outputs, arg_nr_outputs, arg_format) < 0)
		return -EINVAL;
	for (size_t i = 0; arg_diff && i < arg_nr_outputs; i++)
		if (!arg_outputs[i].format->diff) {
			log_error("--diff writes svg or folded, not %s: export the two windows separately and "
				  "compare them with 'go tool pprof -diff_base base.pb.gz new.pb.gz'",
				  arg_outputs[i].format->name);
			return -EINVAL;
		}
	return 0;
}

static void describe(char *buf, size_t size, const struct ring_query *q)
{
	size_t n = snprintf(buf, size, "hearthd ring %s", arg_ring);

	if (q->pid && n < size)
		n += snprintf(buf + n, size - n, ", pid %d", (int)q->pid);
	if (q->comm && n < size)
		n += snprintf(buf + n, size - n, ", %s", q->comm);
	if (q->container && n < size)
		snprintf(buf + n, size - n, ", container %s", q->container);
}

/*
 * Read window @w of the ring, with the -p, --comm and --container filters, into a new
 * profile. Prints the one-line error.
 */
static int export_read(struct ring_reader *ring, const struct window *w, struct profile **ret,
		       struct ring_read_stats *ret_st)
{
	_cleanup_(profile__freep) struct profile *p = NULL;
	struct ring_query q = { .since_ns = w->since_ns, .until_ns = w->until_ns, .pid = arg_pid, .comm = arg_comm,
				.container = arg_container };
	char target[512];
	int r;

	if ((r = profile__new(&p)) < 0) {
		log_error("out of memory");
		return r;
	}
	r = ring_reader__read(ring, &q, p, ret_st);
	if (r < 0) {
		if (r == -EBADMSG)
			log_error("cannot read ring %s: it is damaged", arg_ring);
		else if (r == -E2BIG)
			log_error("cannot read ring %s: the window holds more than a profile can (narrow it)", arg_ring);
		else
			log_error("cannot read ring %s: %s", arg_ring, strerror(-r));
		return r;
	}
	describe(target, sizeof(target), &q);
	if ((r = profile__set_target(p, target)) < 0) {
		log_error("out of memory");
		return r;
	}
	*ret = TAKE_PTR(p);
	return 0;
}

/* The warnings about one window read: @name is "BASE" or "NEW" with --diff, else NULL. */
static void export_warn(const char *name, const struct ring_read_stats *st)
{
	if (st->samples == 0 && st->slots == 0 && st->overrun)
		log_warn("%s%sthe writer overwrote every slot of the window while they were read (%" PRIu64
			 " times): read again, or give the ring a larger --ring-size", name ? name : "", name ? ": " : "",
			 st->overrun);
	else if (st->samples == 0 && !name)
		log_warn("no samples in the ring for this window and filter (%" PRIu64 " slots in range)", st->slots);
	else if (st->samples == 0 && !strcmp(name, "BASE"))
		log_warn("no samples in the BASE window for this filter (%" PRIu64 " slots in range): "
			 "every frame of NEW shows as new", st->slots);
	else if (st->samples == 0)
		log_warn("no samples in the NEW window for this filter (%" PRIu64 " slots in range): "
			 "the graph is empty; folded output lists what BASE had", st->slots);
	if (st->unresolved || st->overrun)
		log_warn("%s%s%" PRIu64 " samples of the oldest slots could not be named (their stacks were "
			 "overwritten), %" PRIu64 " records overwritten while reading", name ? name : "",
			 name ? ": " : "", st->unresolved, st->overrun);
}

/* The summary line of one window read. */
static void export_summary(const char *name, const struct ring_read_stats *st, struct profile *p)
{
	fprintf(stderr, "hearth: %s%s%" PRIu64 " samples from %" PRIu64 " slots over %.1f s, %" PRIu64
			" lost by the sampler, %" PRIu64 " epochs\n", name ? name : "", name ? ": " : "",
		st->samples, st->slots, st->last_ns > st->first_ns ? (st->last_ns - st->first_ns) / 1e9 : 0.0,
		profile__info(p)->lost_samples, st->epochs);
}

int verb_export(int argc, char **argv)
{
	_cleanup_(ring_reader__freep) struct ring_reader *ring = NULL;
	_cleanup_(profile__freep) struct profile *p = NULL, *base = NULL;
	struct export_options eo = { .program_version = HEARTH_VERSION };
	struct ring_read_stats st, base_st;
	struct window w = {};
	int r, ret = EXIT_FAILURE_RUN;

	r = export_parse_args(argc, argv);
	if (r > 0)
		return EXIT_OK;
	if (r < 0)
		return EXIT_USAGE;
	log_set_level(arg_verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);

	r = ring_reader__open(arg_ring, &ring);
	if (r < 0) {
		if (r == -ENOENT)
			log_error("cannot open ring %s: no such file (is hearthd running? see --ring)", arg_ring);
		else if (r == -EBADMSG)
			log_error("cannot read ring %s: not a Hearth ring of this version, a symbolic link, "
				  "or damaged", arg_ring);
		else
			log_error("cannot open ring %s: %s", arg_ring, strerror(-r));
		return EXIT_FAILURE_RUN;
	}
	for (size_t i = 0; i < arg_nr_outputs; i++) {
		r = output_open(&arg_outputs[i]);
		if (r < 0) {
			log_error("cannot write %s: %s", arg_outputs[i].path, strerror(-r));
			goto out;
		}
	}
	if (arg_diff) {
		if (export_read(ring, &arg_windows[DIFF_BASE], &base, &base_st) < 0)
			goto out;
		w = arg_windows[DIFF_NEW];
	} else {
		w.since_ns = arg_last_ns ? time_realtime_ns() - arg_last_ns : arg_since_ns;
		w.until_ns = arg_until_ns;
	}
	if (export_read(ring, &w, &p, &st) < 0)
		goto out;
	eo.base = base;
	for (size_t i = 0; i < arg_nr_outputs; i++) {
		r = output_write(&arg_outputs[i], p, &eo);
		if (r < 0) {
			log_error("cannot write %s: %s", arg_outputs[i].path, strerror(-r));
			goto out;
		}
	}
	if (base)
		export_warn("BASE", &base_st);
	export_warn(base ? "NEW" : NULL, &st);
	if (isatty(STDERR_FILENO) || arg_verbose) {
		if (base)
			export_summary("BASE", &base_st, base);
		export_summary(base ? "NEW" : NULL, &st, p);
		for (size_t i = 0; i < arg_nr_outputs; i++)
			fprintf(stderr, "hearth: wrote %s (%s%s)\n",
				strcmp(arg_outputs[i].path, "-") ? arg_outputs[i].path : "standard output",
				base ? "differential " : "", arg_outputs[i].format->name);
	}
	ret = EXIT_OK;
out:
	for (size_t i = 0; i < arg_nr_outputs; i++)
		output_discard(&arg_outputs[i]);
	return ret;
}
