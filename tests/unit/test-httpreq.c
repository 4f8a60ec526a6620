// SPDX-License-Identifier: MIT
/*
 * hearthd's HTTP request parsing (daemon/httpreq.c), as the server takes a
 * client's bytes: where a head ends, the request line, and a profile
 * request's path and query, with the reason a bad one is refused.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "httpreq.h"

static void test_head(void)
{
	static const char crlf[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char lf[] = "GET / HTTP/1.1\nHost: x\n\n";

	CHECK_TRUE(http_head_complete(crlf, strlen(crlf)));
	CHECK_TRUE(http_head_complete(lf, strlen(lf)));
	/* Cut before its blank line: more to read. */
	CHECK_TRUE(!http_head_complete(crlf, strlen(crlf) - 2));
	CHECK_TRUE(!http_head_complete(lf, strlen(lf) - 1));
	CHECK_TRUE(!http_head_complete("", 0));
}

static int line(const char *in, struct http_request_line *ret)
{
	return http_parse_request_line(in, strlen(in), ret);
}

static void test_request_line(void)
{
	struct http_request_line l;
	char big[3000];

	CHECK_INT(line("GET /debug/pprof/profile?seconds=5 HTTP/1.1\r\nHost: x\r\n\r\n", &l), 0);
	CHECK_STR(l.method, "GET");
	CHECK_STR(l.target, "/debug/pprof/profile?seconds=5");
	CHECK_STR(l.version, "HTTP/1.1");
	/* Blank lines before it are skipped; words may be separated by tabs. */
	CHECK_INT(line("\r\n\nPOST\t/x  HTTP/1.0\n\n", &l), 0);
	CHECK_STR(l.method, "POST");
	CHECK_STR(l.target, "/x");
	CHECK_STR(l.version, "HTTP/1.0");

	strcpy(l.method, "kept");
	CHECK_INT(line("GET /\r\n\r\n", &l), -EINVAL);           /* two words */
	CHECK_INT(line("GET / HTTP/2\r\n\r\n", &l), -EINVAL);    /* another version */
	CHECK_INT(line("GET\n/ HTTP/1.1\n\n", &l), -EINVAL);     /* the line ends after one word */
	CHECK_INT(line("VERYLONGMETHODNAME / HTTP/1.1\n\n", &l), -EINVAL);
	CHECK_INT(http_parse_request_line("GET /\0 HTTP/1.1\n\n", 17, &l), -EINVAL);
	/* A target longer than its field is refused, not cut. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	strcpy(big + sizeof(big) - 12, " HTTP/1.1\n\n");
	CHECK_INT(line(big, &l), -EINVAL);
	CHECK_STR(l.method, "kept");
}

static int target(const char *t, struct http_profile_request *ret, char *err)
{
	return http_parse_profile_target(t, ret, err, 160);
}

static void test_profile_target(void)
{
	struct http_profile_request r;
	char err[160] = "";

	CHECK_INT(target("/debug/pprof/profile", &r, err), 0);
	CHECK_INT(r.seconds, HTTP_DEFAULT_SECONDS);
	CHECK_INT(r.pid, 0);
	CHECK_STR(r.comm, "");
	CHECK_STR(r.container, "");

	CHECK_INT(target("/debug/pprof/profile?seconds=5&pid=42&comm=my%20app&container=ab12", &r, err), 0);
	CHECK_INT(r.seconds, 5);
	CHECK_INT(r.pid, 42);
	CHECK_STR(r.comm, "my app");
	CHECK_STR(r.container, "ab12");
	/* '+' is a blank, empty parameters are nothing. */
	CHECK_INT(target("/debug/pprof/profile?&comm=a+b&&", &r, err), 0);
	CHECK_STR(r.comm, "a b");
	CHECK_INT(target("/debug/pprof/profile?seconds=3600", &r, err), 0);
	CHECK_INT(r.seconds, 3600);

	/* Another path: not ours (a 404), no reason needed. */
	CHECK_INT(target("/debug/pprof/heap", &r, err), -ENOENT);
	CHECK_INT(target("/debug/pprof/profilex?seconds=1", &r, err), -ENOENT);
	CHECK_INT(target("/", &r, err), -ENOENT);

	/* Refusals, each with its reason. */
	CHECK_INT(target("/debug/pprof/profile?seconds=0", &r, err), -EINVAL);
	CHECK_STR(err, "invalid seconds '0': give a whole number from 1 to 3600");
	CHECK_INT(target("/debug/pprof/profile?seconds=3601", &r, err), -EINVAL);
	CHECK_INT(target("/debug/pprof/profile?seconds=5s", &r, err), -EINVAL);
	CHECK_INT(target("/debug/pprof/profile?pid=-1", &r, err), -EINVAL);
	CHECK_STR(err, "invalid pid '-1': give a positive process id");
	CHECK_INT(target("/debug/pprof/profile?pid=2147483648", &r, err), -EINVAL);
	CHECK_INT(target("/debug/pprof/profile?comm=", &r, err), -EINVAL);
	CHECK_INT(target("/debug/pprof/profile?comm=sixteen-bytes-xx", &r, err), -EINVAL);
	CHECK_STR(err, "invalid comm 'sixteen-bytes-xx': give a process name of 1 to 15 bytes");
	CHECK_INT(target("/debug/pprof/profile?container=XYZ", &r, err), -EINVAL);
	CHECK_STR(err, "invalid container 'XYZ': give its hex id or a prefix of it");
	CHECK_INT(target("/debug/pprof/profile?rate=99", &r, err), -EINVAL);
	CHECK_STR(err, "unknown query parameter 'rate' (seconds, pid, comm, container)");
	CHECK_INT(target("/debug/pprof/profile?seconds", &r, err), -EINVAL);
	CHECK_STR(err, "malformed query parameter 'seconds'");
	/* Bad escapes, and %00, which would cut the value short. */
	CHECK_INT(target("/debug/pprof/profile?comm=a%2", &r, err), -EINVAL);
	CHECK_INT(target("/debug/pprof/profile?comm=a%zz", &r, err), -EINVAL);
	CHECK_INT(target("/debug/pprof/profile?comm=a%00b", &r, err), -EINVAL);
	/* A refused request leaves *ret as it was. */
	r.seconds = 77;
	CHECK_INT(target("/debug/pprof/profile?seconds=9&pid=x", &r, err), -EINVAL);
	CHECK_INT(r.seconds, 77);
}

int main(void)
{
	test_head();
	test_request_line();
	test_profile_target();
	return check_finish("test-httpreq");
}
