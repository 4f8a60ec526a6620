// SPDX-License-Identifier: MIT
/*
 * hearthd's config file reader (daemon/config.c): "name = value" settings
 * trimmed and handed on in order with where they are, comments and blank
 * lines skipped; a file that cannot be read, a line without '=', one too
 * long or holding a NUL byte stops it with one line naming the place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

struct seen {
	char text[1024];
	int stop_at; /* return -ECANCELED on this setting (1-based), 0: never */
	int n;
};

static int collect(void *ctx, const char *name, const char *value, const char *where)
{
	struct seen *s = ctx;
	size_t len = strlen(s->text);

	snprintf(s->text + len, sizeof(s->text) - len, "%s[%s]=[%s];", where, name, value);
	return ++s->n == s->stop_at ? -ECANCELED : 0;
}

/* Send stderr to @fd; returns the old stderr for stderr_restore(). */
static int stderr_to(int fd)
{
	int saved = dup(2);

	fflush(stderr);
	dup2(fd, 2);
	return saved;
}

static void stderr_restore(int saved)
{
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
}

/*
 * Parse @len bytes of @text as file "f.conf" into @s; what it said on
 * stderr in @said. Returns what config_parse returned.
 */
static int parse(const char *text, size_t len, struct seen *s, char *said, size_t said_size)
{
	FILE *f = fmemopen((void *)text, len, "r");
	char path[] = "/tmp/hearth-test-config-XXXXXX";
	int fd = mkstemp(path), saved, r;
	ssize_t n;

	memset(s->text, 0, sizeof(s->text));
	s->n = 0;
	saved = stderr_to(fd);
	r = config_parse(f, "f.conf", collect, s);
	stderr_restore(saved);
	fclose(f);
	n = pread(fd, said, said_size - 1, 0);
	said[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return r;
}

#define PARSE(text, s, said) parse(text, sizeof(text) - 1, s, said, sizeof(said))

static void test_settings(void)
{
	static const char text[] = "# hearthd.conf\n"
				   "\n"
				   "rate = 49\n"
				   "  output-dir=/var/lib/hearth  \t\r\n"
				   "\t# indented comment\n"
				   "all =\n"
				   "http = 127.0.0.1:6060";
	struct seen s = { 0 };
	char said[256];

	CHECK_INT(PARSE(text, &s, said), 0);
	CHECK_STR(s.text, "f.conf:3: [rate]=[49];f.conf:4: [output-dir]=[/var/lib/hearth];"
			  "f.conf:6: [all]=[];f.conf:7: [http]=[127.0.0.1:6060];");
	CHECK_STR(said, "");
	/* What the handler returns stops the reading there. */
	s.stop_at = 2;
	CHECK_INT(PARSE(text, &s, said), -ECANCELED);
	CHECK_INT(s.n, 2);
	CHECK_STR(said, "");
}

static void test_bad(void)
{
	static const char noeq[] = "rate = 49\njust a word\nall = 1\n";
	static const char nul[] = "rate = 4\0009\n";
	static char longline[CONFIG_MAX_LINE + 10];
	struct seen s = { 0 };
	char said[256];

	CHECK_INT(PARSE(noeq, &s, said), -EINVAL);
	CHECK_INT(s.n, 1);
	CHECK_TRUE(strstr(said, "f.conf:2: expected 'name = value'\n") != NULL);
	CHECK_INT(PARSE(nul, &s, said), -EINVAL);
	CHECK_INT(s.n, 0);
	CHECK_TRUE(strstr(said, "f.conf:1: a NUL byte in the line\n") != NULL);
	memset(longline, 'x', sizeof(longline) - 1);
	longline[0] = 'a';
	longline[1] = '=';
	CHECK_INT(parse(longline, sizeof(longline) - 1, &s, said, sizeof(said)), -EINVAL);
	CHECK_TRUE(strstr(said, "f.conf:1: line too long\n") != NULL);
	/* One line each. */
	CHECK_INT(strchr(said, '\n') - said + 1, (long long)strlen(said));
}

static void test_missing_file(void)
{
	struct seen s = { 0 };
	int devnull = open("/dev/null", O_WRONLY), saved = stderr_to(devnull);

	CHECK_INT(config_read("/nonexistent/hearthd.conf", collect, &s), -ENOENT);
	stderr_restore(saved);
	close(devnull);
	CHECK_INT(s.n, 0);
}

int main(void)
{
	test_settings();
	test_bad();
	test_missing_file();
	return check_finish("test-config");
}
