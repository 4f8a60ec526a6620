// SPDX-License-Identifier: MIT
/* hearth record's command line: the help, and the options parsed and checked into struct record_args. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "hearth.h"
#include "log.h"
#include "record.h"

static void record_help(void)
{
	printf("Usage: hearth record [OPTIONS] (-p PID[,PID...] | -- COMMAND [ARGS...])\n\n"
	       "Sample the CPU stacks of running processes or of a command, and write a profile\n"
	       "when Ctrl-C is pressed, the duration runs out, or every target exits. CPython\n"
	       "processes (2.7, 3.6-3.15) show their Python stacks, also in containers.\n\n"
	       "Options:\n"
	       "  -p, --pid PID[,PID...]  processes to profile (all their threads, now and later)\n"
	       "  -d, --duration TIME     stop after TIME (30, 30s, 500ms, 2m; default: until Ctrl-C\n"
	       "                          or the targets exit)\n"
	       "  -r, --rate HZ           samples per second per CPU, on average (1-%d, default %d);\n"
	       "                          the intervals are random, each sample weighs its own\n"
	       "  -o, --output FILE       where to write ('-' for stdout; default flame.svg); give it\n"
	       "                          again to write the same recording in other formats too\n"
	       "  -f, --format FORMAT     output format (default: from the file extension):\n",
	       RECORD_MAX_RATE, RECORD_DEFAULT_RATE);
	for (size_t i = 0; exporters[i]; i++) {
		printf("                            %-11s %s (", exporters[i]->name, exporters[i]->description);
		for (const char *const *e = exporters[i]->extensions; *e; e++)
			printf("%s%s", e == exporters[i]->extensions ? "" : " ", *e);
		printf(")\n");
	}
	printf("      --no-kernel         leave kernel frames out\n"
	       "      --threads           put a root frame per thread\n"
	       "      --subprocesses      follow child processes of the targets\n"
	       "      --gil               keep only samples of threads holding the Python GIL\n"
	       "      --function          one Python frame per function (its first line), not per line\n"
	       "      --full-filenames    Python file names in full (default: site-packages/ and the\n"
	       "                          standard library's path cut off)\n"
	       "      --no-python         native stacks only, even for Python processes\n"
	       "      --unwind MODE       native stacks: 'auto' (the default) walks frame pointers where\n"
	       "                          the executable (or libpython) keeps them, checked and leaves\n"
	       "                          fixed with DWARF over 1K of stack, and unwinds a copy of the\n"
	       "                          stack with DWARF CFI where they are missing or the walks\n"
	       "                          prove wrong; 'fp' or 'dwarf' for every process\n"
	       "      --native            Python processes: every native frame, each evaluation loop\n"
	       "                          replaced by the Python frames it ran (implies --unwind dwarf);\n"
	       "                          without it, only the native frames below the Python stack\n"
	       "      --stack-size SIZE   bytes of stack copied per sample with --unwind dwarf\n"
	       "                          (default 16K; 4K to 32K)\n"
	       "      --periodic          sample at fixed intervals (cpu-clock perf events, as perf\n"
	       "                          does) instead of random ones; periodic work can then alias\n"
	       "                          with the samples\n"
	       "  -v, --verbose           more detail; -vv adds libbpf and verifier output\n"
	       "  -h, --help              this help\n\n"
	       "Examples:\n"
	       "  hearth record -p 4242 -d 30 -o flame.svg\n"
	       "  hearth record -o out.pb.gz -- ./myprog --arg\n"
	       "  hearth record -d 10 -o flame.svg -o profile.pb.gz -- ./myprog\n"
	       "  hearth record -p 4242,4243 -r 999 -f folded -o -\n");
}

int record_parse_args(int argc, char **argv, struct record_args *a)
{
	enum {
		ARG_NO_KERNEL = 0x100,
		ARG_THREADS,
		ARG_SUBPROCESSES,
		ARG_GIL,
		ARG_FUNCTION,
		ARG_FULL_FILENAMES,
		ARG_NO_PYTHON,
		ARG_UNWIND,
		ARG_STACK_SIZE,
		ARG_NATIVE,
		ARG_PERIODIC,
	};
	static const struct option options[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "no-kernel", no_argument, NULL, ARG_NO_KERNEL },
		{ "threads", no_argument, NULL, ARG_THREADS },
		{ "subprocesses", no_argument, NULL, ARG_SUBPROCESSES },
		{ "gil", no_argument, NULL, ARG_GIL },
		{ "function", no_argument, NULL, ARG_FUNCTION },
		{ "full-filenames", no_argument, NULL, ARG_FULL_FILENAMES },
		{ "no-python", no_argument, NULL, ARG_NO_PYTHON },
		{ "unwind", required_argument, NULL, ARG_UNWIND },
		{ "stack-size", required_argument, NULL, ARG_STACK_SIZE },
		{ "native", no_argument, NULL, ARG_NATIVE },
		{ "periodic", no_argument, NULL, ARG_PERIODIC },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	char error[COLLECTOR_ERROR_MAX];
	int c, r, option_index = -1;

	*a = (struct record_args){ .rate = RECORD_DEFAULT_RATE, .kernel = true };
	opterr = 0;
	/* '+': stop at the first non-option, so a command's own flags stay its own. */
	while ((c = getopt_long(argc, argv, "+:p:d:r:o:f:vh", options, &option_index)) >= 0) {
		switch (c) {
		case 'p':
			r = parse_pid_list(optarg, a->pids + a->nr_pids, PARSE_MAX_PIDS - a->nr_pids);
			if (r < 0) {
				log_error("invalid PID list '%s': give positive process ids separated by commas",
					  optarg);
				return -EINVAL;
			}
			a->nr_pids += r;
			break;
		case 'd':
			if (parse_duration(optarg, &a->duration_ns) < 0) {
				log_error("invalid duration '%s': give a positive time such as 30, 30s, 500ms or 2m",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'r':
			if (parse_uint(optarg, 1, RECORD_MAX_RATE, &a->rate) < 0) {
				log_error("invalid rate '%s': give samples per second from 1 to %d", optarg,
					  RECORD_MAX_RATE);
				return -EINVAL;
			}
			break;
		case 'o':
			if (outputs_add(a->outputs, &a->nr_outputs, optarg) < 0)
				return -EINVAL;
			break;
		case 'f':
			a->format = output_format_arg(optarg);
			if (!a->format)
				return -EINVAL;
			break;
		case ARG_NO_KERNEL:
			a->kernel = false;
			break;
		case ARG_THREADS:
			a->threads = true;
			break;
		case ARG_SUBPROCESSES:
			a->subprocesses = true;
			break;
		case ARG_GIL:
		case ARG_NO_PYTHON:
		case ARG_UNWIND:
		case ARG_NATIVE:
		case ARG_STACK_SIZE:
			r = collector_args__parse(&a->collector, options[option_index].name, optarg, error);
			if (r < 0) {
				log_error("%s", error);
				return r;
			}
			break;
		case ARG_FUNCTION:
			a->function = true;
			break;
		case ARG_FULL_FILENAMES:
			a->full_filenames = true;
			break;
		case ARG_PERIODIC:
			a->periodic = true;
			break;
		case 'v':
			a->verbose++;
			break;
		case 'h':
			record_help();
			return 1;
		case ':':
			log_error("option '%s' needs a value (see 'hearth record --help')", argv[optind - 1]);
			return -EINVAL;
		default:
			log_error("unknown option '%s' (see 'hearth record --help')", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--") != 0) {
			log_error("unexpected argument '%s': put a command after '--'", argv[optind]);
			return -EINVAL;
		}
		a->command = argv + optind;
	}
	if (!a->nr_pids && !a->command) {
		log_error("no target: give -p PID or -- COMMAND (see 'hearth record --help')");
		return -EINVAL;
	}
	if (a->nr_pids && a->command) {
		log_error("give either -p PID or a command, not both");
		return -EINVAL;
	}
	if (collector_args__apply(&a->collector, &a->unwinding, error) < 0) {
		log_error("%s", error);
		return -EINVAL;
	}
	if (!a->nr_outputs)
		a->outputs[a->nr_outputs++].path = "flame.svg";
	return outputs_resolve(a->outputs, a->nr_outputs, a->format);
}
