// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness: hearthd's config file (daemon/config.c), read through
 * fmemopen() as config_read() reads the file. Each setting goes to a callback
 * that checks what config_parse() promises (names and values trimmed, on one
 * line, "PATH:LINE: " for messages) and then takes the value as hearthd's
 * apply() does for that name, with the same helpers from common/parse.c and
 * the same bounds; every value also goes through each helper, so they see
 * every text a line can carry. The table below follows apply() in
 * daemon/hearthd.c, whose handler is static there.
 *
 * log_printf() is the harness's own: it checks that a failed read says why
 * once, in one line, and that "line too long" is said of a long line only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "parse.h"

#define PATH "/etc/hearthd.conf"
/* The bounds hearthd uses (collector/bpf/sampler.h, common/profile.h, common/ring.h, daemon/hearthd.c). */
#define MAX_CONTAINERS 64
#define MAX_RATE 1000
#define MAX_DICTIONARY (4u << 20)
#define STACK_COPY_MAX 32768
#define RING_MIN (1ull << 20)
#define RING_MAX (1ull << 36)

enum kind { FLAG, PIDS, CONTAINERS, UINT, SIZE, DURATION, KEEP, UNWIND, TEXT, SOCKET };

static const struct setting {
	const char *name;
	enum kind kind;
	uint64_t min, max;
} settings[] = {
	{ "all", FLAG },
	{ "pid", PIDS },
	{ "container", CONTAINERS },
	{ "rate", UINT, 1, MAX_RATE },
	{ "ring", TEXT },
	{ "ring-size", SIZE, RING_MIN, RING_MAX },
	{ "slot", DURATION, 100000000ull, 60000000000ull },
	{ "no-kernel", FLAG },
	{ "no-python", FLAG },
	{ "control", SOCKET },
	{ "control-group", TEXT }, /* getgrnam() in hearthd */
	{ "max-dictionary", UINT, 100, MAX_DICTIONARY },
	{ "max-processes", UINT, 64, 4194304 },
	{ "http", TEXT },
	{ "output-dir", TEXT },
	{ "every", DURATION, 1000000000ull, 86400000000000ull },
	{ "keep", KEEP },
	{ "unwind", UNWIND },
	{ "stack-size", SIZE, 4096, STACK_COPY_MAX },
	{ "native", FLAG },
	{ "periodic", FLAG },
};

static struct {
	pid_t pids[PARSE_MAX_PIDS];
	int nr_pids;
	pid_t containers[MAX_CONTAINERS];
	int nr_containers;
	unsigned int line;  /* of the last setting */
	unsigned int errors; /* lines logged */
	bool too_long;      /* "line too long" was logged */
} st;

void log_printf(enum log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (level != LOG_LEVEL_ERROR || strncmp(buf, PATH ":", sizeof(PATH)) || strchr(buf, '\n'))
		abort();
	st.errors++;
	/* config.c's own message, not a callback's that quotes a name. */
	if (!strcmp(strchr(buf + sizeof(PATH), ':'), ": line too long"))
		st.too_long = true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The words config_setting() in hearthd takes for a flag. */
static bool is_true(const char *v)
{
	return !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") || !strcmp(v, "on");
}

static bool is_false(const char *v)
{
	return !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") || !strcmp(v, "off");
}

/* A list of pids as parse_pid_list() gives it: each from 1 to PID_MAX_LIMIT, none twice. */
static void check_pids(const pid_t *pids, int n, int max)
{
	if (n < 1 || n > max)
		abort();
	for (int i = 0; i < n; i++) {
		if (pids[i] < 1 || pids[i] > 4194304)
			abort();
		for (int k = 0; k < i; k++)
			if (pids[k] == pids[i])
				abort();
	}
}

/* Every helper on @value, whatever the name. */
static void parse_all(const char *value)
{
	pid_t pids[8];
	unsigned long v = 0;
	uint64_t u = 0;
	int n;

	n = parse_pid_list(value, pids, 8);
	if (n >= 0)
		check_pids(pids, n, 8);
	else if (n != -EINVAL && n != -E2BIG)
		abort();
	if (parse_uint(value, 5, 1000, &v) == 0 && (v < 5 || v > 1000))
		abort();
	if (parse_duration(value, &u) == 0 && (u < 1000000 || u > 366ull * 24 * 3600 * 1000000000ull))
		abort();
	parse_size(value, &u);
}

static int apply(const struct setting *s, const char *value)
{
	unsigned long v;
	uint64_t u;
	int r;

	switch (s->kind) {
	case FLAG:
		return 0;
	case PIDS:
		r = parse_pid_list(value, st.pids + st.nr_pids, PARSE_MAX_PIDS - st.nr_pids);
		if (r < 0)
			return -EINVAL;
		check_pids(st.pids + st.nr_pids, r, PARSE_MAX_PIDS - st.nr_pids);
		st.nr_pids += r;
		return 0;
	case CONTAINERS:
		r = parse_pid_list(value, st.containers + st.nr_containers, MAX_CONTAINERS - st.nr_containers);
		if (r < 0)
			return -EINVAL;
		check_pids(st.containers + st.nr_containers, r, MAX_CONTAINERS - st.nr_containers);
		st.nr_containers += r;
		return 0;
	case UINT:
		if (parse_uint(value, s->min, s->max, &v) < 0)
			return -EINVAL;
		if (v < s->min || v > s->max)
			abort();
		return 0;
	case SIZE:
		if (parse_size(value, &u) < 0 || u < s->min || u > s->max)
			return -EINVAL;
		return 0;
	case DURATION:
		if (parse_duration(value, &u) < 0 || u < s->min || u > s->max)
			return -EINVAL;
		return 0;
	case KEEP:
		return strcmp(value, "0") && parse_duration(value, &u) < 0 ? -EINVAL : 0;
	case UNWIND:
		return strcmp(value, "fp") && strcmp(value, "dwarf") && strcmp(value, "auto") ? -EINVAL : 0;
	case SOCKET:
		return !*value || strlen(value) >= 108 ? -EINVAL : 0;
	case TEXT:
		return *value ? 0 : -EINVAL;
	}
	abort();
}

static int setting(void *ctx, const char *name, const char *value, const char *where)
{
	size_t nl = strlen(name), vl = strlen(value);
	unsigned int line;
	char tail;

	/* Trimmed, one line, no '=' in the name; "PATH:LINE: " with lines in order. */
	if (nl >= CONFIG_MAX_LINE || vl >= CONFIG_MAX_LINE || strchr(name, '=') || strchr(name, '\n') ||
	    strpbrk(value, "\r\n") || (nl && (is_blank(name[0]) || is_blank(name[nl - 1]))) ||
	    (vl && (is_blank(value[0]) || is_blank(value[vl - 1]))) || *name == '#')
		abort();
	if (sscanf(where, PATH ":%u: %c", &line, &tail) != 1 || line <= st.line)
		abort();
	st.line = line;

	parse_all(value);
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (strcmp(settings[i].name, name))
			continue;
		if (settings[i].kind == FLAG && !is_true(value) && !is_false(value)) {
			log_printf(LOG_LEVEL_ERROR, "%sgive '%s = true' or 'false'", where, name);
			return -EINVAL;
		}
		if (apply(&settings[i], value) < 0) {
			log_printf(LOG_LEVEL_ERROR, "%sinvalid %s '%s'", where, name, value);
			return -EINVAL;
		}
		return 0;
	}
	/* Unknown names are refused, as hearthd does, except these, so later lines are read too. */
	if (!strncmp(name, "x-", 2))
		return 0;
	log_printf(LOG_LEVEL_ERROR, "%sunknown setting '%s'", where, name);
	return -EINVAL;
}

/* Whether @len bytes of @data have a line of at least @n bytes before its newline. */
static bool has_line_of(const uint8_t *data, size_t len, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++)
		if (i == len || data[i] == '\n') {
			if (i - start >= n)
				return true;
			start = i + 1;
		}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f;
	int r;

	memset(&st, 0, sizeof(st));
	f = fmemopen((void *)data, size, "r");
	if (!f)
		abort();
	r = config_parse(f, PATH, setting, NULL);
	fclose(f);
	if (r != 0 && r != -EINVAL)
		abort();
	/* A failure is said once; success says nothing. */
	if (st.errors != (r < 0 ? 1u : 0u))
		abort();
	if (st.too_long && !has_line_of(data, size, CONFIG_MAX_LINE - 1))
		abort();
	return 0;
}
