/* SPDX-License-Identifier: MIT */
/*
 * The profile model every exporter reads and every collector fills: interned
 * strings, mappings, frames and stacks, and sample counts keyed by
 * (stack, pid, tid, process name, thread name, container, namespace pid).
 *
 * Ids are dense and start at 0, except mapping ids, where 0 means "no mapping".
 * String id 0 is always the empty string. Stacks are stored leaf first, as in
 * pprof; exporters that draw root first walk them backwards.
 */
#ifndef HEARTH_PROFILE_H
#define HEARTH_PROFILE_H

#include <stddef.h>
#include <stdint.h>

enum profile_frame_kind {
	PROFILE_FRAME_NATIVE = 0,  /* user-space machine code */
	PROFILE_FRAME_KERNEL = 1,  /* kernel text or module */
	PROFILE_FRAME_PYTHON = 2,  /* interpreted code: a Python function and line */
	PROFILE_FRAME_PROCESS = 3, /* synthetic root: one per process */
	PROFILE_FRAME_THREAD = 4,  /* synthetic root: one per thread (--threads) */
	PROFILE_FRAME_SPECIAL = 5, /* "[unknown]", "[truncated]" and the like */
	_PROFILE_FRAME_KIND_MAX,
};

struct profile_mapping {
	uint64_t start;
	uint64_t limit;
	uint64_t offset;   /* file offset of start */
	uint32_t file;     /* string id of the path */
	uint32_t build_id; /* string id of the hex build-id, 0 if none */
};

struct profile_frame {
	uint32_t kind;    /* enum profile_frame_kind */
	uint32_t name;    /* string id: function, or "module+0xoffset" when unnamed */
	uint32_t file;    /* string id of the source or module file, 0 if none */
	uint32_t line;    /* source line, 0 if unknown */
	uint32_t mapping; /* mapping id, 0 if none */
	uint32_t unknown; /* 1 when the symbol could not be found */
	uint64_t address; /* instruction address in the process, 0 if none */
};

struct profile_sample {
	uint32_t stack;
	uint32_t pid;
	uint32_t tid;
	uint32_t comm;        /* string id of the process name */
	uint32_t thread_name; /* string id of the thread name */
	uint32_t container;   /* string id of the container id, 0 ("") outside containers */
	uint32_t ns_pid;      /* pid in the process's own PID namespace; 0 if unknown */
	uint32_t _pad;
	uint64_t count;
	uint64_t weight_ns; /* the CPU time they stand for (each sample's weight, summed) */
};

/* What was profiled and how; shown in titles and carried into pprof. */
struct profile_info {
	uint64_t time_ns;     /* wall-clock start, ns since the epoch */
	uint64_t duration_ns; /* how long sampling ran */
	uint64_t period_ns;   /* the mean interval between samples: 1e9 / rate */
	uint32_t rate_hz;
	uint64_t lost_samples;   /* samples the sampler dropped */
	uint64_t unknown_frames; /* frames with no symbol */
	char *target;            /* "pid 4242" or the command line; owned by the profile */
};

struct profile;

/* Limits on what a profile may hold, so a target cannot make us grow without end. */
#define PROFILE_MAX_STRINGS (4u << 20)
#define PROFILE_MAX_FRAMES (4u << 20)
#define PROFILE_MAX_STACKS (4u << 20)
#define PROFILE_MAX_SAMPLES (4u << 20)
#define PROFILE_MAX_DEPTH 512

int profile__new(struct profile **ret);
struct profile *profile__free(struct profile *p);
static inline void profile__freep(struct profile **p)
{
	profile__free(*p);
}

/* Intern a NUL-terminated string; returns its id or -errno. NULL is "". */
int64_t profile__intern(struct profile *p, const char *s);
/* Intern @len bytes as a string. */
int64_t profile__intern_len(struct profile *p, const char *s, size_t len);

/* Add (or find) a mapping; returns its id (>= 1) or -errno. */
int64_t profile__add_mapping(struct profile *p, const struct profile_mapping *m);

/* Add (or find) a frame; returns its id or -errno. */
int64_t profile__add_frame(struct profile *p, const struct profile_frame *f);

/* Same, with the frame's name given as a string: it is interned into f->name first. */
int64_t profile__add_frame_named(struct profile *p, struct profile_frame *f, const char *name);

/* Add (or find) a stack of @n frame ids, leaf first; returns its id or -errno. */
int64_t profile__add_stack(struct profile *p, const uint32_t *frames, size_t n);

/*
 * Add @count samples of @key standing for @weight_ns of CPU time (its count
 * and weight fields are ignored). Returns 0 or -errno.
 */
int profile__add_sample(struct profile *p, const struct profile_sample *key, uint64_t count, uint64_t weight_ns);

/*
 * Forget every sample (and the total), keeping strings, mappings, frames and
 * stacks with their ids: how a continuous profiler starts its next time slot.
 * Returns 0 or -ENOMEM (the profile is then unchanged).
 */
int profile__clear_samples(struct profile *p);

/* Accessors. Pointers stay valid until the next profile__add_*() call. */
const char *profile__str(const struct profile *p, uint32_t id);
const struct profile_mapping *profile__mapping(const struct profile *p, uint32_t id);
const struct profile_frame *profile__frame(const struct profile *p, uint32_t id);
const uint32_t *profile__stack(const struct profile *p, uint32_t id, size_t *ret_n);
const struct profile_sample *profile__sample(const struct profile *p, size_t i);
size_t profile__nr_strings(const struct profile *p);
size_t profile__nr_mappings(const struct profile *p); /* ids 1..n */
size_t profile__nr_frames(const struct profile *p);
size_t profile__nr_stacks(const struct profile *p);
size_t profile__nr_samples(const struct profile *p);
/* Sum of all sample counts. */
uint64_t profile__total(const struct profile *p);
/* Sum of all sample weights, in ns. */
uint64_t profile__total_weight(const struct profile *p);

struct profile_info *profile__info(struct profile *p);
const struct profile_info *profile__info_const(const struct profile *p);
/* Replace the target description (copied). Returns 0 or -ENOMEM. */
int profile__set_target(struct profile *p, const char *target);

/*
 * The text a flame graph shows for a frame: the name, with " (file:line)" for
 * interpreted frames. Writes at most @size bytes including the NUL and returns
 * @buf. Never fails.
 */
char *profile__frame_label(const struct profile *p, const struct profile_frame *f, char *buf,
			   size_t size);

/* Name of a frame kind ("kernel", "native", ...). */
const char *profile_frame_kind_to_string(enum profile_frame_kind kind);

#endif
