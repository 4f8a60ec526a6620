/* SPDX-License-Identifier: MIT */
/* Subcommands of the hearth CLI, one file each, dispatched from main.c. */
#ifndef HEARTH_CLI_H
#define HEARTH_CLI_H

/* Exit codes shared by every subcommand. */
enum {
	EXIT_OK = 0,
	EXIT_FAILURE_RUN = 1, /* the work failed: privileges, target, output */
	EXIT_USAGE = 2,       /* bad flags or values */
};

int verb_record(int argc, char **argv);
int verb_dump(int argc, char **argv);
int verb_export(int argc, char **argv);
int verb_attach(int argc, char **argv);
int verb_detach(int argc, char **argv);
int verb_status(int argc, char **argv);

#endif
