// SPDX-License-Identifier: MIT
/* hearth: the command-line front end. One file per subcommand; this is the table. */
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "hearth.h"
#include "log.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} verbs[] = {
	{ "record", verb_record, "sample a running process or a command and write a profile" },
	{ "dump", verb_dump, "print the Python stack of every thread of a running CPython process" },
	{ "export", verb_export, "write a profile of a time window from hearthd's ring" },
	{ "attach", verb_attach, "make a running hearthd sample a process" },
	{ "detach", verb_detach, "make a running hearthd stop sampling a process" },
	{ "status", verb_status, "what a running hearthd samples and what it costs" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: hearth [--help] [--version] COMMAND [ARGS...]\n\n"
		     "Hearth samples processes with eBPF and writes flame graphs and profiles.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].help);
	fprintf(out, "\nRun 'hearth COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	log_set_program("hearth");
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("hearth %s\n", HEARTH_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	log_error("unknown command '%s' (see 'hearth --help')", argv[1]);
	return EXIT_USAGE;
}
