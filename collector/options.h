/* SPDX-License-Identifier: MIT */
/*
 * The collector's options as the user gives them (--unwind, --native,
 * --stack-size, --no-python, --gil), parsed and checked in one place for
 * `hearth record` and `hearthd` alike, so both accept the same values,
 * refuse the same contradictions with the same words, and turn them into
 * the same struct collector_options. Nothing here prints: a refusal comes
 * back as one line in @ret_error for the caller to print.
 */
#ifndef HEARTH_COLLECTOR_OPTIONS_H
#define HEARTH_COLLECTOR_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

struct collector_options;

/* Room for one refusal line. */
#define COLLECTOR_ERROR_MAX 160

/* User stack copied per sample when it is unwound with DWARF (see README: truncation by size). */
#define COLLECTOR_DEFAULT_STACK_SIZE 16384

enum collector_unwind {
	COLLECTOR_UNWIND_AUTO,  /* frame pointers where they hold, DWARF elsewhere (the default) */
	COLLECTOR_UNWIND_FP,    /* frame pointers only: no stack copies */
	COLLECTOR_UNWIND_DWARF, /* every process's stack copied and unwound with DWARF CFI */
};

/* The user's choices, before they are checked together. Zeroed, it is the default. */
struct collector_args {
	enum collector_unwind unwind;
	bool native;         /* Python stacks merged into whole native stacks */
	uint64_t stack_size; /* bytes copied per sample; 0: COLLECTOR_DEFAULT_STACK_SIZE */
	bool no_python;
	bool gil;
};

/*
 * Take option @name ("unwind", "native", "stack-size", "no-python", "gil")
 * with @value (NULL for a flag). Returns 1 when @name is one of these, 0
 * when it is not (the caller's own option), -EINVAL with @ret_error set
 * when the value is bad.
 */
int collector_args__parse(struct collector_args *a, const char *name, const char *value,
			  char ret_error[COLLECTOR_ERROR_MAX]);

/*
 * Check @a as a whole and set the unwinding and Python fields of @o from it
 * (stack_bytes, native, unwind_auto, python, gil_only). Returns 0, or
 * -EINVAL with @ret_error set when two choices contradict; @o is then
 * untouched.
 */
int collector_args__apply(const struct collector_args *a, struct collector_options *o,
			  char ret_error[COLLECTOR_ERROR_MAX]);

/*
 * Whether this process can load the sampler: root or CAP_BPF with
 * CAP_PERFMON (CAP_SYS_ADMIN covers both), on a kernel with BTF. Returns 0,
 * -EPERM or -ENOENT with @ret_error set.
 */
int collector_check_access(char ret_error[COLLECTOR_ERROR_MAX]);

#endif
