// SPDX-License-Identifier: MIT
/*
 * What a reader sees of Python file names by default (pyprocess_short_path):
 * packages from where they are installed, the standard library from its
 * lib/pythonX.Y/, and anything else whole.
 */
#include <string.h>

#include "check.h"
#include "pyprocess.h"

static void check_short(const char *path, const char *want)
{
	CHECK_STR(pyprocess_short_path(path), want);
}

int main(void)
{
	check_short("/usr/lib/python3/dist-packages/requests/api.py", "requests/api.py");
	check_short("/srv/venv/lib/python3.11/site-packages/django/core/handlers/base.py",
		    "django/core/handlers/base.py");
	/* A package vendored inside another: the innermost install wins. */
	check_short("/v/lib/python3.12/site-packages/pip/_vendor/site-packages/x.py", "x.py");
	check_short("/root/.pyenv/versions/3.11.7/lib/python3.11/threading.py", "threading.py");
	check_short("/usr/lib/python3.11/concurrent/futures/thread.py", "concurrent/futures/thread.py");
	check_short("/usr/local/lib/python2.7/json/decoder.py", "json/decoder.py");
	/* Not the standard library: a directory that only starts like one. */
	check_short("/opt/lib/pythonista/app.py", "/opt/lib/pythonista/app.py");
	check_short("/srv/app/handlers/users.py", "/srv/app/handlers/users.py");
	check_short("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap>");
	check_short("app.py", "app.py");
	/* Nothing after the marker: keep the whole path rather than show nothing. */
	check_short("/x/site-packages/", "/x/site-packages/");
	check_short("", "");
	return check_finish("pyprocess");
}
