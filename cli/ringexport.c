// SPDX-License-Identifier: MIT
/*
 * hearth export: a profile of a time window out of hearthd's shared-memory
 * ring, read directly (the daemon need not run or answer), written with the
 * same exporters as `hearth record`.
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

static void export_help(void)
{
	printf("Usage: hearth export [OPTIONS] [-o FILE]\n\n"
	       "Write a profile of what hearthd recorded into its shared-memory ring.\n\n"
	       "Options:\n"
	       "      --ring PATH         the ring (default %s)\n"
	       "      --last TIME         the last TIME (10m, 30s, 1h); default: all the ring holds\n"
	       "      --since WHEN        from WHEN: 'YYYY-MM-DD HH:MM[:SS]', 'HH:MM[:SS]' today,\n"
	       "                          '@UNIXSECONDS', or '-TIME' (that long ago); local time\n"
	       "      --until WHEN        up to WHEN (same forms)\n"
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
	       "  hearth export -p 4242 --since '2026-11-26 13:00' --until '2026-11-26 13:05' -o out.pb.gz\n",
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

static int export_parse_args(int argc, char **argv)
{
	enum { ARG_RING = 0x100, ARG_LAST, ARG_SINCE, ARG_UNTIL, ARG_COMM, ARG_CONTAINER };
	static const struct option options[] = {
		{ "ring", required_argument, NULL, ARG_RING },
		{ "last", required_argument, NULL, ARG_LAST },
		{ "since", required_argument, NULL, ARG_SINCE },
		{ "until", required_argument, NULL, ARG_UNTIL },
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
	if (arg_last_ns && (arg_since_ns || arg_until_ns)) {
		log_error("give either --last or --since/--until, not both");
		return -EINVAL;
	}
	if (arg_since_ns && arg_until_ns && arg_until_ns <= arg_since_ns) {
		log_error("--until must come after --since");
		return -EINVAL;
	}
	if (!arg_nr_outputs)
		arg_outputs[arg_nr_outputs++].path = "flame.svg";
	return outputs_resolve(arg_outputs, arg_nr_outputs, arg_format);
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

int verb_export(int argc, char **argv)
{
	_cleanup_(ring_reader__freep) struct ring_reader *ring = NULL;
	_cleanup_(profile__freep) struct profile *p = NULL;
	struct export_options eo = { .program_version = HEARTH_VERSION };
	struct ring_query q = {};
	struct ring_read_stats st;
	char target[512];
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
	q.since_ns = arg_last_ns ? time_realtime_ns() - arg_last_ns : arg_since_ns;
	q.until_ns = arg_until_ns;
	q.pid = arg_pid;
	q.comm = arg_comm;
	q.container = arg_container;
	if ((r = profile__new(&p)) < 0) {
		log_error("out of memory");
		goto out;
	}
	r = ring_reader__read(ring, &q, p, &st);
	if (r < 0) {
		if (r == -EBADMSG)
			log_error("cannot read ring %s: it is damaged", arg_ring);
		else if (r == -E2BIG)
			log_error("cannot read ring %s: the window holds more than a profile can (narrow it)", arg_ring);
		else
			log_error("cannot read ring %s: %s", arg_ring, strerror(-r));
		goto out;
	}
	describe(target, sizeof(target), &q);
	if (profile__set_target(p, target) < 0)
		goto out;
	for (size_t i = 0; i < arg_nr_outputs; i++) {
		r = output_write(&arg_outputs[i], p, &eo);
		if (r < 0) {
			log_error("cannot write %s: %s", arg_outputs[i].path, strerror(-r));
			goto out;
		}
	}
	if (st.samples == 0)
		log_warn("no samples in the ring for this window and filter (%" PRIu64 " slots in range)", st.slots);
	if (st.unresolved || st.overrun)
		log_warn("%" PRIu64 " samples of the oldest slots could not be named (their stacks were "
			 "overwritten), %" PRIu64 " records overwritten while reading", st.unresolved, st.overrun);
	if (isatty(STDERR_FILENO) || arg_verbose) {
		fprintf(stderr, "hearth: %" PRIu64 " samples from %" PRIu64 " slots over %.1f s, %" PRIu64
				" lost by the sampler, %" PRIu64 " epochs\n",
			st.samples, st.slots, st.last_ns > st.first_ns ? (st.last_ns - st.first_ns) / 1e9 : 0.0,
			profile__info(p)->lost_samples, st.epochs);
		for (size_t i = 0; i < arg_nr_outputs; i++)
			fprintf(stderr, "hearth: wrote %s (%s)\n",
				strcmp(arg_outputs[i].path, "-") ? arg_outputs[i].path : "standard output",
				arg_outputs[i].format->name);
	}
	ret = EXIT_OK;
out:
	for (size_t i = 0; i < arg_nr_outputs; i++)
		output_discard(&arg_outputs[i]);
	return ret;
}
