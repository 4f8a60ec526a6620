/* SPDX-License-Identifier: MIT */
/* Strict parsers for command-line values: the whole string or an error. */
#ifndef HEARTH_PARSE_H
#define HEARTH_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PARSE_MAX_PIDS 1024

/* "4242" or "4242,4243". Returns the count (>= 1) or -EINVAL / -E2BIG. Duplicates are dropped. */
int parse_pid_list(const char *s, pid_t *pids, size_t max);

/* "30", "30s", "1.5s", "500ms", "2m", "1h" to nanoseconds; > 0. Returns 0 or -EINVAL / -ERANGE. */
int parse_duration(const char *s, uint64_t *ret_ns);

/* "64M", "1G", "4096", "512K" (powers of 1024, no suffix: bytes) to bytes. Returns 0, -EINVAL or -ERANGE. */
int parse_size(const char *s, uint64_t *ret);

/* An unsigned integer in [min, max]. Returns 0, -EINVAL (not a number) or -ERANGE. */
int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret);

#endif
