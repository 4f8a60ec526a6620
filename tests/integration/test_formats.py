# SPDX-License-Identifier: MIT
"""Every output format opens in the real tool that reads it: go tool pprof,
speedscope's own JSON schema, and a real browser for the SVG. Checked on the
fixed test profile and on a real recording of cpuburn."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (CPUBURN, HEARTH, SOURCE_ROOT, SYSTEM_PYTHON, BpfTestCase,  # noqa: E402
                        python_version)

FIXTURE_EXPORT = os.environ.get("FIXTURE_EXPORT", "build/tests/unit/fixture-export")
CHECK_PPROF = os.path.join(SOURCE_ROOT, "tests", "tools", "check-pprof.py")
PYBURN = os.path.join(SOURCE_ROOT, "examples", "pyburn.py")
VALIDATE_SPEEDSCOPE = os.path.join(SOURCE_ROOT, "tests", "js", "validate-speedscope.js")
CHECK_SVG = os.path.join(SOURCE_ROOT, "tests", "browser", "check-svg.py")


def check(test, argv, timeout=120):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    test.assertEqual(r.returncode, 0, "%s:\n%s%s" % (" ".join(argv), r.stdout, r.stderr))
    return r.stdout


class Formats(BpfTestCase):
    recorded = None

    def record_once(self):
        """One recording of cpuburn (two threads) in every format, shared by the tests."""
        if Formats.recorded:
            return Formats.recorded
        outdir = os.environ.get("MESON_BUILD_ROOT", "/tmp")
        base = os.path.join(outdir, "hearth-formats")
        outs = {"pprof": base + ".pb.gz", "speedscope": base + ".speedscope.json",
                "svg": base + ".svg", "threads": base + "-threads.speedscope.json"}
        argv = [HEARTH, "record", "-r", "499", "-o", outs["pprof"], "-o", outs["speedscope"],
                "-o", outs["svg"], "--", CPUBURN, "2", "--threads", "1"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([HEARTH, "record", "-r", "499", "--threads", "-o", outs["threads"], "--",
                            CPUBURN, "1", "--threads", "1"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        Formats.recorded = outs
        return outs

    def fixture(self, fmt, name, *extra):
        path = self.path(name)
        check(self, [FIXTURE_EXPORT, fmt, path] + list(extra))
        return path

    def test_pprof_fixture(self):
        check(self, [sys.executable, CHECK_PPROF, self.fixture("pprof", "f.pb.gz"),
                     "--top", "spin", "--trace", "main;work;spin",
                     "--trace", "start_thread;worker_loop",
                     "--tag", "thread_name=worker", "--tag", "pid=200", "--tag", "comm=burn"])

    def test_pprof_recording(self):
        outs = self.record_once()
        check(self, [sys.executable, CHECK_PPROF, outs["pprof"],
                     "--top", "burn_a", "--top", "burn_b", "--top", "burn_c",
                     "--trace", "main;run;path_a;burn_a",
                     "--trace", "worker_main;run;path_b;middle_b;burn_b",
                     "--tag", "comm=cpuburn", "--tag", "thread_name=cpuburn"])

    def test_speedscope_fixture(self):
        check(self, ["node", VALIDATE_SPEEDSCOPE, self.fixture("speedscope", "f.speedscope.json"),
                     "--expect-frame", "spin", "--expect-profiles", "2"])
        check(self, ["node", VALIDATE_SPEEDSCOPE,
                     self.fixture("speedscope", "t.speedscope.json", "--threads"),
                     "--expect-frame", "worker_loop", "--expect-profiles", "3"])

    def test_speedscope_recording(self):
        outs = self.record_once()
        check(self, ["node", VALIDATE_SPEEDSCOPE, outs["speedscope"], "--expect-frame", "burn_a",
                     "--expect-frame", "middle_b", "--expect-profiles", "1"])
        check(self, ["node", VALIDATE_SPEEDSCOPE, outs["threads"], "--expect-frame", "burn_c",
                     "--expect-profiles", "2"])

    def test_svg_fixture_in_browser(self):
        check(self, [sys.executable, CHECK_SVG, self.fixture("svg", "f.svg"),
                     "--expect", "spin", "--expect", "worker_loop"])

    def test_svg_recording_in_browser(self):
        outs = self.record_once()
        check(self, [sys.executable, CHECK_SVG, outs["svg"], "--expect", "burn_a",
                     "--expect", "middle_b", "--expect", "worker_main"])


class PythonFormats(BpfTestCase):
    """A CPython recording: names, files and lines reach every format's reader."""

    def test_python_recording(self):
        python = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable
        qual = python_version(python) >= (3, 11)
        burn_a = "Outer.Inner.burn_a" if qual else "burn_a"
        outs = {"pprof": self.path("py.pb.gz"), "speedscope": self.path("py.speedscope.json"),
                "svg": self.path("py.svg")}
        r = subprocess.run([HEARTH, "record", "-r", "499", "-o", outs["pprof"], "-o", outs["speedscope"],
                            "-o", outs["svg"], "--", python, PYBURN, "3"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(PYBURN) as f:
            hot_a = next(i for i, line in enumerate(f, 1) if "# HOT:a" in line)
        check(self, [sys.executable, CHECK_PPROF, outs["pprof"], "--top", burn_a,
                     "--trace", "<module>;main;mix;%s" % burn_a,
                     "--line", "%s@%s:%d" % (burn_a, PYBURN, hot_a)])
        check(self, ["node", VALIDATE_SPEEDSCOPE, outs["speedscope"], "--expect-frame", burn_a,
                     "--expect-frame", "gen_c"])
        check(self, [sys.executable, CHECK_SVG, outs["svg"],
                     "--expect", "%s (%s:%d)" % (burn_a, PYBURN, hot_a), "--search", "burn_"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
