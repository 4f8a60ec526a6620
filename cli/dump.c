// SPDX-License-Identifier: MIT
/*
 * hearth dump: print what every thread of a CPython process is doing now,
 * read from outside while it keeps running (it may be stuck: nothing here
 * waits on it).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "hearth.h"
#include "json.h"
#include "log.h"
#include "parse.h"
#include "procmaps.h"
#include "procmem.h"
#include "pyfind.h"
#include "pystack.h"

/* Tries of listing the thread states, which a thread starting or exiting can spoil. */
#define DUMP_LIST_TRIES 3
#define DUMP_PROC_MAX 4096

static pid_t arg_pid;
static bool arg_json;

struct dump_thread {
	uint64_t tstate;
	pid_t tid;          /* 0 when it could not be told */
	uint64_t thread_id; /* pthread_t, shown when the tid is unknown */
	char name[64];
	const char *state;
	bool gil;
	int walk_error;
	struct pystack_trace trace;
};

static void dump_help(void)
{
	printf("Usage: hearth dump -p PID [--json]\n\n"
	       "Print the Python stack of every thread of a running CPython process (2.7, 3.6-3.15),\n"
	       "innermost frame first, with each thread's id, name, state and whether it holds the\n"
	       "GIL. The process is read from outside and never stopped or waited on, so a stuck\n"
	       "process can be dumped. Needs the right to ptrace it (root, or its parent).\n\n"
	       "Options:\n"
	       "  -p, --pid PID    the process to dump\n"
	       "      --json       one JSON object instead of text\n"
	       "  -v, --verbose    more detail\n"
	       "  -h, --help       this help\n\n"
	       "Examples:\n"
	       "  hearth dump -p 4242\n"
	       "  hearth dump -p 4242 --json\n");
}

static int dump_parse_args(int argc, char **argv)
{
	enum { ARG_JSON = 0x100 };
	static const struct option options[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned long pid;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:vh", options, NULL)) >= 0) {
		switch (c) {
		case 'p':
			if (parse_uint(optarg, 1, INT_MAX, &pid) < 0) {
				log_error("invalid PID '%s': give a positive process id", optarg);
				return -EINVAL;
			}
			arg_pid = (pid_t)pid;
			break;
		case ARG_JSON:
			arg_json = true;
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'h':
			dump_help();
			return 1;
		case ':':
			log_error("option '%s' needs a value (see 'hearth dump --help')", argv[optind - 1]);
			return -EINVAL;
		default:
			log_error("unknown option '%s' (see 'hearth dump --help')", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see 'hearth dump --help')", argv[optind]);
		return -EINVAL;
	}
	if (!arg_pid) {
		log_error("no target: give -p PID (see 'hearth dump --help')");
		return -EINVAL;
	}
	return 0;
}

/* The first line of a small /proc file, without its newline; "" when unreadable. */
static void dump_read_line(const char *path, char *buf, size_t size)
{
	_cleanup_free_ char *text = NULL;
	size_t len;

	buf[0] = '\0';
	if (read_proc_file(path, DUMP_PROC_MAX, &text, &len) < 0)
		return;
	len = strcspn(text, "\n");
	if (len >= size)
		len = size - 1;
	memcpy(buf, text, len);
	buf[len] = '\0';
}

/* A task's scheduler state from /proc/PID/task/TID/stat, in a word. */
static const char *dump_task_state(pid_t pid, pid_t tid)
{
	_cleanup_free_ char *text = NULL;
	char path[64];
	const char *p;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	if (read_proc_file(path, DUMP_PROC_MAX, &text, &len) < 0)
		return "unknown";
	/* The name in parentheses may hold anything: the state follows the last ')'. */
	p = strrchr(text, ')');
	if (!p || p[1] != ' ')
		return "unknown";
	switch (p[2]) {
	case 'R':
		return "running";
	case 'S':
	case 'D':
	case 'I':
		return "sleeping";
	case 'T':
	case 't':
		return "stopped";
	case 'Z':
	case 'X':
		return "exited";
	default:
		return "unknown";
	}
}

/* Report why pyfind() failed, once. */
static void dump_report_pyfind(int r, const struct pyinfo *info)
{
	switch (r) {
	case -ESRCH:
		log_error("cannot read pid %d: no such process", (int)arg_pid);
		break;
	case -EPERM:
	case -EACCES:
		log_error("cannot read pid %d: permission denied (run as root or as its parent)",
			  (int)arg_pid);
		break;
	case -ENOEXEC:
		log_error("pid %d is not a CPython process", (int)arg_pid);
		break;
	case -EPROTONOSUPPORT:
		if (info->major && info->note[0])
			log_error("pid %d runs CPython %u.%u, which Hearth cannot read: %s", (int)arg_pid,
				  info->major, info->minor, info->note);
		else if (info->major)
			log_error("pid %d runs CPython %u.%u, which Hearth does not support (it reads 2.7 and "
				  "3.6-3.15)", (int)arg_pid, info->major, info->minor);
		else
			log_error("pid %d runs a CPython whose version Hearth cannot tell, which it does not support",
				  (int)arg_pid);
		break;
	case -EAGAIN:
		log_error("pid %d has no Python interpreter running (starting or exiting); try again",
			  (int)arg_pid);
		break;
	default:
		log_error("cannot read the CPython interpreter of pid %d: %s", (int)arg_pid, strerror(-r));
		break;
	}
}

static void dump_print_json(const struct pyinfo *info, const struct dump_thread *threads, size_t nr)
{
	printf("{\"pid\":%d,\"python\":\"%u.%u", (int)arg_pid, info->major, info->minor);
	if (info->micro >= 0)
		printf(".%d", info->micro);
	printf("\",\"threads\":[");
	for (size_t i = 0; i < nr; i++) {
		const struct dump_thread *t = &threads[i];

		printf("%s{", i ? "," : "");
		if (t->tid)
			printf("\"tid\":%d,", (int)t->tid);
		else
			printf("\"tid\":null,\"thread_id\":\"0x%" PRIx64 "\",", t->thread_id);
		printf("\"name\":");
		json_string(stdout, t->name);
		printf(",\"gil\":%s,\"state\":\"%s\",\"truncated\":%s,\"frames\":[", t->gil ? "true" : "false",
		       t->state, t->trace.truncated ? "true" : "false");
		for (size_t j = 0; j < t->trace.nr; j++) {
			const struct pystack_frame *f = &t->trace.frames[j];

			printf("%s{", j ? "," : "");
			if (f->unknown) {
				printf("\"name\":\"<unknown>\",\"file\":null,\"line\":null,\"address\":\"0x%" PRIx64 "\"}",
				       f->code ? f->code : f->frame);
				continue;
			}
			printf("\"name\":");
			json_string(stdout, f->name);
			printf(",\"file\":");
			json_string(stdout, f->file);
			if (f->line >= 0)
				printf(",\"line\":%d}", f->line);
			else
				printf(",\"line\":null}");
		}
		printf("]}");
	}
	printf("]}\n");
}

static void dump_print_text(const struct pyinfo *info, const struct dump_thread *threads, size_t nr)
{
	char comm[64];

	proc_read_comm(arg_pid, comm, sizeof(comm));
	printf("Process %d: %s (CPython %u.%u", (int)arg_pid, comm, info->major, info->minor);
	if (info->micro >= 0)
		printf(".%d", info->micro);
	printf(")\n");
	for (size_t i = 0; i < nr; i++) {
		const struct dump_thread *t = &threads[i];

		if (t->tid)
			printf("\nThread %d", (int)t->tid);
		else
			printf("\nThread 0x%" PRIx64, t->thread_id);
		printf(" \"%s\" (%s%s)\n", t->name, t->state, t->gil ? ", holds the GIL" : "");
		if (t->walk_error)
			printf("    <cannot read its frames: %s>\n", strerror(-t->walk_error));
		else if (!t->trace.nr)
			printf("    (idle: no Python frames)\n");
		for (size_t j = 0; j < t->trace.nr; j++) {
			const struct pystack_frame *f = &t->trace.frames[j];

			if (f->unknown)
				printf("    <unknown> (0x%" PRIx64 ")\n", f->code ? f->code : f->frame);
			else if (f->line >= 0)
				printf("    %s (%s:%d)\n", f->name, f->file, f->line);
			else
				printf("    %s (%s:?)\n", f->name, f->file);
		}
		if (t->trace.truncated)
			printf("    ... (more frames not shown)\n");
	}
}

int verb_dump(int argc, char **argv)
{
	_cleanup_(pystack__freep) struct pystack *stack = NULL;
	_cleanup_free_ struct dump_thread *threads = NULL;
	_cleanup_free_ uint64_t *tstates = NULL;
	struct procmem mem;
	struct pyinfo info = {};
	uint64_t holder = 0;
	int r, nr = 0;

	r = dump_parse_args(argc, argv);
	if (r != 0)
		return r > 0 ? EXIT_OK : EXIT_USAGE;

	r = pyfind(arg_pid, &info);
	if (r < 0) {
		dump_report_pyfind(r, &info);
		return EXIT_FAILURE_RUN;
	}
	mem = procmem_for_pid(arg_pid);
	log_debug("pid %d: CPython %u.%u.%d in %s", (int)arg_pid, info.major, info.minor, info.micro,
		  info.module);
	if (info.note[0] && info.layout_source == PYFIND_LAYOUT_NEWEST)
		log_warn("pid %d: %s", (int)arg_pid, info.note);
	else if (info.note[0])
		log_debug("pid %d: %s", (int)arg_pid, info.note);
	r = pystack__new(&mem, &info, &stack);
	if (r < 0) {
		log_error("cannot read the threads of pid %d: %s", (int)arg_pid, strerror(-r));
		return EXIT_FAILURE_RUN;
	}
	tstates = calloc(PYFIND_MAX_THREADS, sizeof(*tstates));
	if (!tstates) {
		log_error("cannot read the threads of pid %d: %s", (int)arg_pid, strerror(ENOMEM));
		return EXIT_FAILURE_RUN;
	}
	for (int i = 0; i < DUMP_LIST_TRIES; i++) {
		nr = pyinfo_read_thread_states(&mem, &info, tstates, PYFIND_MAX_THREADS);
		if (nr >= 0 || nr == -ESRCH || nr == -EPERM)
			break;
	}
	if (nr < 0) {
		log_error("cannot read the threads of pid %d: %s", (int)arg_pid,
			  nr == -ESRCH ? "no such process" : strerror(-nr));
		return EXIT_FAILURE_RUN;
	}
	threads = calloc(nr ? nr : 1, sizeof(*threads));
	if (!threads) {
		log_error("cannot read the threads of pid %d: %s", (int)arg_pid, strerror(ENOMEM));
		return EXIT_FAILURE_RUN;
	}
	r = pystack__gil_holder(stack, &holder);
	if (r < 0)
		log_debug("cannot tell which thread holds the GIL: %s", strerror(-r));

	/* The list is newest first: show the oldest (usually the main thread) first. */
	for (int i = 0; i < nr; i++) {
		struct dump_thread *t = &threads[i];
		char path[96];

		t->tstate = tstates[nr - 1 - i];
		t->gil = holder && holder == t->tstate;
		r = pystack__thread_tid(stack, t->tstate, &t->tid, &t->thread_id);
		if (r < 0) {
			t->tid = 0;
			log_debug("thread state 0x%" PRIx64 ": no tid: %s", t->tstate, strerror(-r));
		}
		t->state = "unknown";
		if (t->tid) {
			snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)arg_pid, (int)t->tid);
			dump_read_line(path, t->name, sizeof(t->name));
			t->state = dump_task_state(arg_pid, t->tid);
		}
		r = pystack__walk(stack, t->tstate, &t->trace);
		if (r < 0) {
			t->walk_error = r;
			t->trace.nr = 0;
		}
	}
	if (arg_json)
		dump_print_json(&info, threads, nr);
	else
		dump_print_text(&info, threads, nr);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_error("cannot write the dump: %m");
		return EXIT_FAILURE_RUN;
	}
	return EXIT_OK;
}
