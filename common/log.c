// SPDX-License-Identifier: MIT
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level log_max_level = LOG_LEVEL_WARN;
static const char *log_program = "hearth";

void log_set_level(enum log_level level)
{
	log_max_level = level;
}

enum log_level log_get_level(void)
{
	return log_max_level;
}

void log_set_program(const char *name)
{
	log_program = name;
}

void log_printf(enum log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	size_t n;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* One line per message, whatever the caller passed. */
	n = strcspn(buf, "\n");
	buf[n] = '\0';
	fprintf(stderr, "%s: %s%s\n", log_program, level >= LOG_LEVEL_DEBUG ? "debug: " : "", buf);
}

uint64_t time_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t time_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
