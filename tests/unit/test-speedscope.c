// SPDX-License-Identifier: MIT
/*
 * The speedscope writer against the fixture and a few tiny profiles. The output
 * is read back with a small strict JSON parser (below), so the checks look at
 * values, not at substrings, and a file that is not JSON fails them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cleanup.h"
#include "export.h"
#include "fixture.h"

/* ---- a strict JSON reader, just enough for these checks ---- */

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	bool boolean;
	bool integer;    /* a number written without fraction or exponent, >= 0 */
	uint64_t u;      /* its value when integer */
	double number;
	char *str;       /* decoded, NUL-terminated */
	size_t n;        /* array or object members */
	struct json **items;
	char **keys;     /* object keys, decoded */
};

struct json_parser {
	const unsigned char *s;
	int depth;
};

static void json_free(struct json *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		json_free(j->items[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->items);
	free(j->keys);
	free(j->str);
	free(j);
}

static void json_skip_ws(struct json_parser *ps)
{
	while (*ps->s == ' ' || *ps->s == '\t' || *ps->s == '\n' || *ps->s == '\r')
		ps->s++;
}

static void buf_put(char **buf, size_t *len, size_t *cap, char c)
{
	if (*len + 2 > *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*buf = realloc(*buf, *cap);
		if (!*buf)
			abort();
	}
	(*buf)[(*len)++] = c;
	(*buf)[*len] = '\0';
}

static void buf_put_utf8(char **buf, size_t *len, size_t *cap, uint32_t cp)
{
	if (cp < 0x80) {
		buf_put(buf, len, cap, (char)cp);
	} else if (cp < 0x800) {
		buf_put(buf, len, cap, (char)(0xc0 | cp >> 6));
		buf_put(buf, len, cap, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_put(buf, len, cap, (char)(0xe0 | cp >> 12));
		buf_put(buf, len, cap, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_put(buf, len, cap, (char)(0x80 | (cp & 0x3f)));
	} else {
		buf_put(buf, len, cap, (char)(0xf0 | cp >> 18));
		buf_put(buf, len, cap, (char)(0x80 | ((cp >> 12) & 0x3f)));
		buf_put(buf, len, cap, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_put(buf, len, cap, (char)(0x80 | (cp & 0x3f)));
	}
}

static int hex4(const unsigned char *s, uint32_t *ret)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		int c = s[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | (uint32_t)d;
	}
	*ret = v;
	return 0;
}

/* Length of a valid UTF-8 sequence at @s, 0 if invalid (written apart from the writer's). */
static size_t utf8_len(const unsigned char *s)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	else if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static char *json_parse_string(struct json_parser *ps)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (*ps->s != '"')
		return NULL;
	ps->s++;
	buf_put(&buf, &len, &cap, 'x');
	len = 0;
	buf[0] = '\0';
	for (;;) {
		unsigned char c = *ps->s;
		uint32_t cp, lo;
		size_t n;

		if (c == '"') {
			ps->s++;
			return buf;
		}
		if (c < 0x20)
			goto bad; /* raw control character, or the end of the text */
		if (c != '\\') {
			n = utf8_len(ps->s);
			if (!n)
				goto bad;
			while (n--)
				buf_put(&buf, &len, &cap, (char)*ps->s++);
			continue;
		}
		c = *++ps->s;
		ps->s++;
		switch (c) {
		case '"': case '\\': case '/':
			buf_put(&buf, &len, &cap, (char)c);
			break;
		case 'b': buf_put(&buf, &len, &cap, '\b'); break;
		case 'f': buf_put(&buf, &len, &cap, '\f'); break;
		case 'n': buf_put(&buf, &len, &cap, '\n'); break;
		case 'r': buf_put(&buf, &len, &cap, '\r'); break;
		case 't': buf_put(&buf, &len, &cap, '\t'); break;
		case 'u':
			if (hex4(ps->s, &cp) < 0)
				goto bad;
			ps->s += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (ps->s[0] != '\\' || ps->s[1] != 'u' ||
				    hex4(ps->s + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
					goto bad;
				ps->s += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				goto bad;
			}
			/* U+0000 would cut our C string short; the writer never emits it. */
			if (cp == 0)
				goto bad;
			buf_put_utf8(&buf, &len, &cap, cp);
			break;
		default:
			goto bad;
		}
	}
bad:
	free(buf);
	return NULL;
}

static struct json *json_parse_value(struct json_parser *ps);

static struct json *json_new(enum json_type type)
{
	struct json *j = calloc(1, sizeof(*j));

	if (!j)
		abort();
	j->type = type;
	return j;
}

static void json_append(struct json *j, char *key, struct json *item)
{
	j->items = realloc(j->items, (j->n + 1) * sizeof(*j->items));
	if (!j->items)
		abort();
	if (j->type == JSON_OBJECT) {
		j->keys = realloc(j->keys, (j->n + 1) * sizeof(*j->keys));
		if (!j->keys)
			abort();
		j->keys[j->n] = key;
	}
	j->items[j->n++] = item;
}

static struct json *json_parse_container(struct json_parser *ps, bool object)
{
	struct json *j = json_new(object ? JSON_OBJECT : JSON_ARRAY);
	char close = object ? '}' : ']';

	ps->s++;
	json_skip_ws(ps);
	if (*ps->s == close) {
		ps->s++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		struct json *item;

		json_skip_ws(ps);
		if (object) {
			key = json_parse_string(ps);
			if (!key)
				goto bad;
			json_skip_ws(ps);
			if (*ps->s++ != ':') {
				free(key);
				goto bad;
			}
		}
		item = json_parse_value(ps);
		if (!item) {
			free(key);
			goto bad;
		}
		json_append(j, key, item);
		json_skip_ws(ps);
		if (*ps->s == ',') {
			ps->s++;
			continue;
		}
		if (*ps->s++ == close)
			return j;
		goto bad;
	}
bad:
	json_free(j);
	return NULL;
}

static struct json *json_parse_number(struct json_parser *ps)
{
	const unsigned char *start = ps->s, *p = ps->s;
	bool integer = true;
	struct json *j;

	if (*p == '-')
		p++, integer = false;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		integer = false;
		if (!(*++p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		integer = false;
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	j = json_new(JSON_NUMBER);
	j->number = strtod((const char *)start, NULL);
	j->integer = integer;
	if (integer)
		j->u = strtoull((const char *)start, NULL, 10);
	ps->s = p;
	return j;
}

static struct json *json_parse_value(struct json_parser *ps)
{
	struct json *j = NULL;

	if (++ps->depth > 64)
		return NULL;
	json_skip_ws(ps);
	switch (*ps->s) {
	case '{':
	case '[':
		j = json_parse_container(ps, *ps->s == '{');
		break;
	case '"': {
		char *s = json_parse_string(ps);

		if (s) {
			j = json_new(JSON_STRING);
			j->str = s;
		}
		break;
	}
	case 't':
	case 'f':
	case 'n': {
		static const char *const words[] = { "true", "false", "null" };

		for (size_t i = 0; i < 3; i++)
			if (!strncmp((const char *)ps->s, words[i], strlen(words[i]))) {
				ps->s += strlen(words[i]);
				j = json_new(i == 2 ? JSON_NULL : JSON_BOOL);
				j->boolean = i == 0;
			}
		break;
	}
	default:
		j = json_parse_number(ps);
	}
	ps->depth--;
	return j;
}

/* The whole text as one JSON value, or NULL if it is not exactly that. */
static struct json *json_parse(const char *text)
{
	struct json_parser ps = { .s = (const unsigned char *)text };
	struct json *j = json_parse_value(&ps);

	if (!j)
		return NULL;
	json_skip_ws(&ps);
	if (*ps.s) {
		json_free(j);
		return NULL;
	}
	return j;
}

/* Member @key of an object, or NULL. */
static const struct json *jget(const struct json *j, const char *key)
{
	if (!j || j->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < j->n; i++)
		if (!strcmp(j->keys[i], key))
			return j->items[i];
	return NULL;
}

static const struct json *jat(const struct json *j, size_t i)
{
	if (!j || j->type != JSON_ARRAY || i >= j->n)
		return NULL;
	return j->items[i];
}

static const char *jstr(const struct json *j)
{
	return j && j->type == JSON_STRING ? j->str : NULL;
}

/* An integer member, or -1 when it is missing or not a non-negative integer. */
static long long jint(const struct json *j)
{
	return j && j->type == JSON_NUMBER && j->integer ? (long long)j->u : -1;
}

static size_t jlen(const struct json *j)
{
	return j && (j->type == JSON_ARRAY || j->type == JSON_OBJECT) ? j->n : 0;
}

/* ---- helpers over a parsed speedscope file ---- */

static char *export_to_string(const struct profile *p, bool per_thread)
{
	struct export_options o = { .per_thread = per_thread, .program_version = "test" };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	CHECK_INT(exporter_speedscope.write(p, &o, f), 0);
	fclose(f);
	return buf;
}

static struct json *export_to_json(const struct profile *p, bool per_thread)
{
	char *text = export_to_string(p, per_thread);
	struct json *j = json_parse(text);

	if (!j)
		fprintf(stderr, "not valid JSON:\n%s\n", text);
	CHECK_TRUE(j != NULL);
	free(text);
	return j;
}

/* Name of frame @i of the shared table. */
static const char *frame_name(const struct json *doc, const struct json *idx)
{
	long long i = jint(idx);

	if (i < 0)
		return NULL;
	return jstr(jget(jat(jget(jget(doc, "shared"), "frames"), (size_t)i), "name"));
}

/* Index of the frame called @name, or -1; and how many frames have that name. */
static long long find_frame(const struct json *doc, const char *name, int *ret_count)
{
	const struct json *frames = jget(jget(doc, "shared"), "frames");
	long long found = -1;
	int count = 0;

	for (size_t i = 0; i < jlen(frames); i++) {
		const char *n = jstr(jget(jat(frames, i), "name"));

		if (n && !strcmp(n, name)) {
			if (found < 0)
				found = (long long)i;
			count++;
		}
	}
	if (ret_count)
		*ret_count = count;
	return found;
}

/* The sample of @prof whose stack, root first and joined by ';', is @want; its index or -1. */
static long long find_sample(const struct json *doc, const struct json *prof, const char *want)
{
	const struct json *samples = jget(prof, "samples");

	for (size_t i = 0; i < jlen(samples); i++) {
		const struct json *s = jat(samples, i);
		char text[1024] = "";

		for (size_t d = 0; d < jlen(s); d++) {
			const char *n = frame_name(doc, jat(s, d));

			if (d)
				strncat(text, ";", sizeof(text) - strlen(text) - 1);
			strncat(text, n ? n : "?", sizeof(text) - strlen(text) - 1);
		}
		if (!strcmp(text, want))
			return (long long)i;
	}
	return -1;
}

/* What every profile must satisfy: one weight per sample, the weights add up, indices valid. */
static void check_profile_shape(const struct json *doc, const struct json *prof)
{
	const struct json *samples = jget(prof, "samples"), *weights = jget(prof, "weights");
	size_t nr_frames = jlen(jget(jget(doc, "shared"), "frames"));
	long long sum = 0;

	CHECK_STR(jstr(jget(prof, "type")), "sampled");
	CHECK_INT(jint(jget(prof, "startValue")), 0);
	CHECK_TRUE(samples && samples->type == JSON_ARRAY);
	CHECK_TRUE(weights && weights->type == JSON_ARRAY);
	CHECK_INT(jlen(samples), jlen(weights));
	for (size_t i = 0; i < jlen(weights); i++)
		sum += jint(jat(weights, i));
	CHECK_INT(sum, jint(jget(prof, "endValue")));
	for (size_t i = 0; i < jlen(samples); i++) {
		const struct json *s = jat(samples, i);

		CHECK_TRUE(jlen(s) > 0);
		for (size_t d = 0; d < jlen(s); d++)
			CHECK_TRUE(jint(jat(s, d)) >= 0 && (size_t)jint(jat(s, d)) < nr_frames);
	}
}

/* ---- the tests ---- */

static void test_fixture_per_process(void)
{
	struct profile *p = fixture_profile();
	uint64_t period = FIXTURE_SAMPLE_NS; /* each sample's weight */
	struct json *doc = export_to_json(p, false);
	const struct json *profiles = jget(doc, "profiles"), *burn = jat(profiles, 0);
	const struct json *other = jat(profiles, 1);
	static const char *const names[] = { "main", "work", "spin", "idle", "start_thread",
					     "worker_loop", "asm_sysvec_apic_timer_interrupt",
					     "libx.so+0x1234" };
	long long i;
	int count;

	CHECK_STR(jstr(jget(doc, "$schema")), "https://www.speedscope.app/file-format-schema.json");
	CHECK_STR(jstr(jget(doc, "exporter")), "hearth test");
	CHECK_STR(jstr(jget(doc, "name")), "pid 100,200");
	CHECK_INT(jint(jget(doc, "activeProfileIndex")), 0);
	/* Every frame once: the two "main" frames of the fixture (other addresses) are one here. */
	CHECK_INT(jlen(jget(jget(doc, "shared"), "frames")), ARRAY_SIZE(names));
	for (size_t n = 0; n < ARRAY_SIZE(names); n++) {
		CHECK_TRUE(find_frame(doc, names[n], &count) >= 0);
		CHECK_INT(count, 1);
	}
	/* Native frames carry neither file nor line. */
	CHECK_TRUE(jget(jat(jget(jget(doc, "shared"), "frames"), 0), "file") == NULL);

	CHECK_INT(jlen(profiles), 2);
	CHECK_STR(jstr(jget(burn, "name")), "burn (pid 100)");
	CHECK_STR(jstr(jget(other, "name")), "other (pid 200)");
	CHECK_STR(jstr(jget(burn, "unit")), "nanoseconds");
	check_profile_shape(doc, burn);
	check_profile_shape(doc, other);
	CHECK_INT(jint(jget(burn, "endValue")), 90 * period);
	CHECK_INT(jint(jget(other, "endValue")), 5 * period);

	/* Root first: the spin stack starts at main. */
	i = find_sample(doc, burn, "main;work;spin");
	CHECK_TRUE(i >= 0);
	CHECK_STR(frame_name(doc, jat(jat(jget(burn, "samples"), (size_t)i), 0)), "main");
	CHECK_INT(jint(jat(jget(burn, "weights"), (size_t)i)), 50 * period);
	i = find_sample(doc, burn, "main;work;spin;asm_sysvec_apic_timer_interrupt");
	CHECK_INT(jint(jat(jget(burn, "weights"), (size_t)i)), 10 * period);
	i = find_sample(doc, burn, "main;idle");
	CHECK_INT(jint(jat(jget(burn, "weights"), (size_t)i)), 20 * period);
	/* Per process, the worker thread's stack is in the burn profile. */
	i = find_sample(doc, burn, "start_thread;worker_loop");
	CHECK_INT(jint(jat(jget(burn, "weights"), (size_t)i)), 10 * period);
	CHECK_INT(jlen(jget(burn, "samples")), 4);
	i = find_sample(doc, other, "main;libx.so+0x1234");
	CHECK_INT(i, 0);
	CHECK_INT(jint(jat(jget(other, "weights"), 0)), 5 * period);
	CHECK_INT(find_sample(doc, other, "main;work;spin"), -1);

	json_free(doc);
	profile__free(p);
}

static void test_fixture_per_thread(void)
{
	struct profile *p = fixture_profile();
	uint64_t period = FIXTURE_SAMPLE_NS; /* each sample's weight */
	struct json *doc = export_to_json(p, true);
	const struct json *profiles = jget(doc, "profiles");
	const struct json *main_thread = jat(profiles, 0), *worker = jat(profiles, 1);

	CHECK_INT(jlen(profiles), 3);
	CHECK_STR(jstr(jget(main_thread, "name")), "burn (pid 100) thread burn (tid 100)");
	CHECK_STR(jstr(jget(worker, "name")), "burn (pid 100) thread worker (tid 101)");
	CHECK_STR(jstr(jget(jat(profiles, 2), "name")), "other (pid 200) thread other (tid 200)");
	for (size_t i = 0; i < jlen(profiles); i++)
		check_profile_shape(doc, jat(profiles, i));
	CHECK_INT(jint(jget(main_thread, "endValue")), 80 * period);
	CHECK_INT(jint(jget(worker, "endValue")), 10 * period);
	CHECK_INT(jint(jget(jat(profiles, 2), "endValue")), 5 * period);
	CHECK_INT(find_sample(doc, worker, "start_thread;worker_loop"), 0);
	CHECK_INT(jlen(jget(worker, "samples")), 1);
	CHECK_INT(find_sample(doc, main_thread, "start_thread;worker_loop"), -1);
	CHECK_TRUE(find_sample(doc, main_thread, "main;work;spin") >= 0);
	json_free(doc);
	profile__free(p);
}

static uint32_t add_frame(struct profile *p, enum profile_frame_kind kind, const char *name,
			  const char *file, uint32_t line)
{
	struct profile_frame f = {
		.kind = kind,
		.name = (uint32_t)profile__intern(p, name),
		.file = (uint32_t)profile__intern(p, file),
		.line = line,
	};

	return (uint32_t)profile__add_frame(p, &f);
}

static void add_sample(struct profile *p, const uint32_t *leaf_first, size_t n, uint32_t pid,
		       uint32_t tid, const char *comm, const char *thread, uint64_t count)
{
	struct profile_sample s = {
		.stack = (uint32_t)profile__add_stack(p, leaf_first, n),
		.pid = pid,
		.tid = tid,
		.comm = (uint32_t)profile__intern(p, comm),
		.thread_name = (uint32_t)profile__intern(p, thread),
	};

	CHECK_INT(profile__add_sample(p, &s, count, 0), 0);
}

/* Names from a target process may hold anything; the file must stay valid JSON. */
static void test_escaping(void)
{
	/* quote, backslash, newline, ^A, a lone 0xff, a valid é, an overlong '/',
	 * a UTF-16 surrogate, and a 3-byte sequence cut short by the end. */
	static const char raw[] = "q\"b\\s\nn\x01 \xff \xc3\xa9 \xc0\xaf \xed\xa0\x80 \xe2\x82";
#define FFFD "\xef\xbf\xbd"
	static const char decoded[] = "q\"b\\s\nn\x01 " FFFD " \xc3\xa9 " FFFD FFFD " "
				      FFFD FFFD FFFD " " FFFD FFFD;
#undef FFFD
	struct profile *p = NULL;
	struct json *doc;
	char *text;
	uint32_t f;

	CHECK_INT(profile__new(&p), 0);
	CHECK_INT(profile__set_target(p, "cmd \"a\\b\"\t"), 0);
	f = add_frame(p, PROFILE_FRAME_NATIVE, raw, NULL, 0);
	add_sample(p, &f, 1, 7, 7, "we\"ird\\", "t\n", 1);
	text = export_to_string(p, true);
	CHECK_TRUE(strstr(text, "\\u000a") != NULL);
	CHECK_TRUE(strstr(text, "\\u0001") != NULL);
	CHECK_TRUE(strstr(text, "\\ufffd") != NULL);
	CHECK_TRUE(strchr(text, '\t') == NULL);
	CHECK_TRUE(strstr(text, "\xff") == NULL);
	doc = json_parse(text);
	CHECK_TRUE(doc != NULL);
	CHECK_STR(frame_name(doc, jat(jat(jget(jat(jget(doc, "profiles"), 0), "samples"), 0), 0)),
		  decoded);
	CHECK_STR(jstr(jget(jat(jget(doc, "profiles"), 0), "name")),
		  "we\"ird\\ (pid 7) thread t\n (tid 7)");
	CHECK_STR(jstr(jget(doc, "name")), "cmd \"a\\b\"\t");
	json_free(doc);
	free(text);
	profile__free(p);
}

/*
 * Python frames: the plain name, with file and line; the same name on another
 * line is another frame.
 */
static void test_python_frames(void)
{
	struct profile *p = NULL;
	struct json *doc;
	const struct json *frames, *fr;
	uint32_t st[3];
	long long i;
	int count;

	CHECK_INT(profile__new(&p), 0);
	st[2] = add_frame(p, PROFILE_FRAME_NATIVE, "_PyEval_EvalFrameDefault", NULL, 0);
	st[1] = add_frame(p, PROFILE_FRAME_PYTHON, "handler", "app.py", 42);
	st[0] = add_frame(p, PROFILE_FRAME_PYTHON, "handler", "app.py", 50);
	add_sample(p, st, 3, 1, 1, "python3", "python3", 2);
	doc = export_to_json(p, false);
	frames = jget(jget(doc, "shared"), "frames");
	CHECK_INT(jlen(frames), 3);
	i = find_frame(doc, "handler", &count);
	CHECK_INT(count, 2);
	fr = jat(frames, (size_t)i);
	CHECK_STR(jstr(jget(fr, "file")), "app.py");
	CHECK_INT(jint(jget(fr, "line")), 42);
	CHECK_INT(jint(jget(jat(frames, (size_t)i + 1), "line")), 50);
	CHECK_INT(find_sample(doc, jat(jget(doc, "profiles"), 0),
			      "_PyEval_EvalFrameDefault;handler;handler"), 0);
	json_free(doc);
	profile__free(p);
}

/*
 * No period: weights are counts. Profiles sorted by pid whatever the order
 * samples came in; stacks of two threads, or of two addresses in one function,
 * merge into one sample; process roots dropped (the profile names the
 * process), thread roots kept only when threads share a profile.
 */
static void test_counts_order_roots(void)
{
	struct profile *p = NULL;
	struct json *doc;
	const struct json *profiles;
	struct profile_frame other_leaf = { .kind = PROFILE_FRAME_NATIVE, .address = 0x10 };
	uint32_t leaf, leaf2, proc, thr, st[3];

	CHECK_INT(profile__new(&p), 0);
	leaf = add_frame(p, PROFILE_FRAME_NATIVE, "leaf", NULL, 0);
	proc = add_frame(p, PROFILE_FRAME_PROCESS, "b (pid 300)", NULL, 0);
	thr = add_frame(p, PROFILE_FRAME_THREAD, "b (tid 301)", NULL, 0);
	add_sample(p, (uint32_t[]){ leaf, proc }, 2, 300, 300, "b", "b", 1);
	st[0] = leaf, st[1] = thr, st[2] = proc;
	add_sample(p, st, 3, 300, 301, "b", "b", 2);
	add_sample(p, &leaf, 1, 5, 5, "a", "a", 3);
	add_sample(p, &leaf, 1, 5, 6, "a", "a2", 4);
	/* Another address in "leaf": another profile frame and stack, the same to speedscope. */
	other_leaf.name = (uint32_t)profile__intern(p, "leaf");
	leaf2 = (uint32_t)profile__add_frame(p, &other_leaf);
	CHECK_TRUE(leaf2 != leaf);
	add_sample(p, &leaf2, 1, 5, 7, "a", "a3", 1);
	/* Nothing left once the root goes: one "[empty]" frame, as folded writes it. */
	add_sample(p, &proc, 1, 400, 400, "", "", 5);

	doc = export_to_json(p, false);
	profiles = jget(doc, "profiles");
	CHECK_INT(jlen(profiles), 3);
	CHECK_STR(jstr(jget(jat(profiles, 2), "name")), "(pid 400)");
	CHECK_INT(find_sample(doc, jat(profiles, 2), "[empty]"), 0);
	CHECK_STR(jstr(jget(jat(profiles, 0), "name")), "a (pid 5)");
	CHECK_STR(jstr(jget(jat(profiles, 1), "name")), "b (pid 300)");
	CHECK_STR(jstr(jget(jat(profiles, 0), "unit")), "none");
	CHECK_INT(jint(jget(jat(profiles, 0), "endValue")), 8);
	CHECK_INT(jlen(jget(jat(profiles, 0), "samples")), 1);
	CHECK_INT(jint(jat(jget(jat(profiles, 0), "weights"), 0)), 8);
	CHECK_INT(find_sample(doc, jat(profiles, 0), "leaf"), 0);
	CHECK_INT(find_frame(doc, "b (pid 300)", NULL), -1);
	CHECK_INT(find_sample(doc, jat(profiles, 1), "leaf"), 0);
	CHECK_INT(find_sample(doc, jat(profiles, 1), "b (tid 301);leaf"), 1);
	for (size_t i = 0; i < jlen(profiles); i++)
		check_profile_shape(doc, jat(profiles, i));
	json_free(doc);

	doc = export_to_json(p, true);
	profiles = jget(doc, "profiles");
	CHECK_INT(jlen(profiles), 6);
	CHECK_STR(jstr(jget(jat(profiles, 1), "name")), "a (pid 5) thread a2 (tid 6)");
	CHECK_STR(jstr(jget(jat(profiles, 2), "name")), "a (pid 5) thread a3 (tid 7)");
	CHECK_STR(jstr(jget(jat(profiles, 5), "name")), "(pid 400) thread (tid 400)");
	CHECK_STR(jstr(jget(jat(profiles, 4), "name")), "b (pid 300) thread b (tid 301)");
	CHECK_INT(find_frame(doc, "b (tid 301)", NULL), -1);
	CHECK_INT(find_sample(doc, jat(profiles, 4), "leaf"), 0);
	CHECK_INT(jint(jget(jat(profiles, 4), "endValue")), 2);
	for (size_t i = 0; i < jlen(profiles); i++)
		check_profile_shape(doc, jat(profiles, i));
	json_free(doc);
	profile__free(p);
}

static void test_empty(void)
{
	struct profile *p = NULL;
	struct json *doc;

	CHECK_INT(profile__new(&p), 0);
	doc = export_to_json(p, false);
	CHECK_STR(jstr(jget(doc, "$schema")), "https://www.speedscope.app/file-format-schema.json");
	CHECK_TRUE(jget(doc, "profiles") && jget(doc, "profiles")->type == JSON_ARRAY);
	CHECK_INT(jlen(jget(doc, "profiles")), 0);
	CHECK_TRUE(jget(jget(doc, "shared"), "frames") != NULL);
	CHECK_INT(jlen(jget(jget(doc, "shared"), "frames")), 0);
	CHECK_TRUE(jget(doc, "activeProfileIndex") == NULL);
	json_free(doc);
	profile__free(p);
}

static void test_write_error(void)
{
	struct export_options o = { .program_version = "test" };
	struct profile *p = fixture_profile();
	FILE *f = fopen("/dev/null", "r"); /* every write fails */

	CHECK_TRUE(f != NULL);
	if (f) {
		CHECK_INT(exporter_speedscope.write(p, &o, f), -EIO);
		fclose(f);
	}
	profile__free(p);
}

/* The reader must reject what is not JSON, or the checks above prove nothing. */
static void test_reader(void)
{
	static const char *const bad[] = { "", "{", "{\"a\":1,}", "[1 2]", "\"a\nb\"", "\"\xff\"",
					   "\"\\x\"", "01", "{\"a\"}", "[1]x", "\"\\ud800\"" };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct json *j = json_parse(bad[i]);

		if (j)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK_TRUE(j == NULL);
		json_free(j);
	}
}

int main(void)
{
	test_reader();
	test_fixture_per_process();
	test_fixture_per_thread();
	test_escaping();
	test_python_frames();
	test_counts_order_roots();
	test_empty();
	test_write_error();
	return check_finish("test-speedscope");
}
