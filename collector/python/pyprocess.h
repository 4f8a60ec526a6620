/* SPDX-License-Identifier: MIT */
/*
 * The Python side of one target process: whether it runs CPython, the facts
 * the BPF walker needs (struct hearth_pyproc), and turning the frames the
 * walker sends (code object address, instruction offset) into profile frames.
 *
 * Looking for the interpreter is retried with a backoff: a process that has
 * just been exec'd has not mapped libpython yet, and a starting interpreter
 * has no PyInterpreterState yet.
 */
#ifndef HEARTH_PYPROCESS_H
#define HEARTH_PYPROCESS_H

#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf/sampler.h"
#include "profile.h"
#include "pyfind.h"

enum pyprocess_state {
	PYPROCESS_LOOKING = 0,   /* not found yet; looked for again later */
	PYPROCESS_ACTIVE,        /* found: its samples carry Python frames */
	PYPROCESS_NONE,          /* no CPython in it */
	PYPROCESS_UNSUPPORTED,   /* a CPython the offsets table does not describe */
	PYPROCESS_UNREADABLE,    /* a CPython whose memory cannot be read or does not check out */
};

struct pyprocess_options {
	bool function;       /* a frame per function (its first line), not per line */
	bool full_filenames; /* file names as the code object has them, not shortened */
};

/* Counters of one process's Python symbolization. */
struct pyprocess_stats {
	uint64_t unknown_code; /* frames whose code object did not check out */
	uint64_t incomplete;   /* frames left out because they had not started (3.11+) */
};

struct pyprocess;

int pyprocess__new(pid_t pid, const struct pyprocess_options *o, struct pyprocess **ret);
struct pyprocess *pyprocess__free(struct pyprocess *p);

/*
 * Look for CPython now if the backoff allows (@now_ns, CLOCK_MONOTONIC).
 * Returns 1 when the process just became PYPROCESS_ACTIVE, or was found
 * starting up (still PYPROCESS_LOOKING: its interpreter is not made yet, but
 * where its address will be is known, and the sampler can read it), with
 * *@ret_bpf filled for the sampler; 0 when nothing changed (still looking,
 * or settled); -ESRCH when the process is gone.
 */
int pyprocess__probe(struct pyprocess *p, uint64_t now_ns, struct hearth_pyproc *ret_bpf);

/* The process called exec: forget what was found and look again. */
void pyprocess__reset(struct pyprocess *p);

enum pyprocess_state pyprocess__state(const struct pyprocess *p);
/* The last pyfind() error (-errno), 0 when none. */
int pyprocess__error(const struct pyprocess *p);
/* What pyfind() found; version and module are set from UNSUPPORTED on. */
const struct pyinfo *pyprocess__info(const struct pyprocess *p);

/*
 * The profile frame of Python frame @f, sampled at @time_ns (CLOCK_MONOTONIC). Never fails for an unreadable code
 * object: it becomes "<unknown>" with the code address. *@ret_skip is set
 * (and no frame given) for a frame that has not started yet. Returns 0 or
 * -errno (the profile is full: -E2BIG).
 */
/* The profile is starting over: forget the frame ids this process remembers. Returns 0 or -ENOMEM. */
int pyprocess__forget_profile(struct pyprocess *p);

int pyprocess__frame(struct pyprocess *p, struct profile *prof, const struct hearth_pyframe *f,
		     uint64_t time_ns, uint32_t *ret_frame, bool *ret_skip);

void pyprocess__stats(const struct pyprocess *p, struct pyprocess_stats *ret);

/* How many code objects have been read from the process so far: it grows while new code runs. */
uint64_t pyprocess__code_reads(const struct pyprocess *p);

/*
 * @path shortened the way a reader wants it in a flame graph: what follows
 * site-packages/ or dist-packages/, or the standard library's
 * lib/pythonX.Y/; other paths are kept whole. Returns a pointer into @path.
 */
const char *pyprocess_short_path(const char *path);

/* Name of a state, for messages: "found", "no CPython", ... */
const char *pyprocess_state_to_string(enum pyprocess_state s);

#endif
