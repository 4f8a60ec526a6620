/* SPDX-License-Identifier: MIT */
/*
 * Logging for the main programs. Library code (common/, collector/) may only
 * call log_debug(); cli/ and daemon/ report failures once, in one line.
 */
#ifndef HEARTH_LOG_H
#define HEARTH_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
	LOG_LEVEL_TRACE = 4, /* -vv: libbpf and verifier output too */
};

/* Set the highest level printed; the default prints warnings and errors. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Set the program name put in front of every line ("hearth"). */
void log_set_program(const char *name);

/* Print one line to stderr when @level is enabled; a newline is added. */
void log_printf(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_printf(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_printf(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_printf(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_printf(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Monotonic time in nanoseconds. */
uint64_t time_now_ns(void);

/* Wall-clock time (CLOCK_REALTIME) in nanoseconds since the epoch. */
uint64_t time_realtime_ns(void);

#endif
