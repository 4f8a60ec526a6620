# SPDX-License-Identifier: MIT
"""Profiles that do not alias with periodic work.

tests/workloads/periodic.c and periodic.py spend 4, 3, 2 and 1 ms of every
10 ms of wall-clock time in phase_a, phase_b, phase_c and phase_d, and print
the share of CPU time each phase really got (their own CPU clock). A sampler
with a fixed period that divides the cycle sees the same phases every time
(perf's cpu-clock at 100 Hz puts every sample in one phase); Hearth's random
intervals must give every phase its share, at 100, 199 and 200 Hz, within
four binomial standard errors of the samples counted, and the workloads run
long enough (in CPU time, so a busy machine only makes it slower) that this
bound is at most 3 points.
BPF tests fail rather than skip under CI."""

import math
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import HEARTH, SOURCE_ROOT, SYSTEM_PYTHON, BpfTestCase, read_folded  # noqa: E402

PERIODIC = os.environ.get("PERIODIC", os.path.join(os.path.dirname(HEARTH), "..", "tests", "workloads",
                                                   "periodic"))
PERIODIC_PY = os.path.join(SOURCE_ROOT, "tests", "workloads", "periodic.py")
PHASES = ("phase_a", "phase_b", "phase_c", "phase_d")
# Samples wanted per workload: four standard errors of a 50% share are then 2.8 points, and a
# count 4 standard deviations short still keeps them under 3.
WANTED = 5200
SIGMAS = 4
MAX_BOUND = 0.03


def phase_of(frames):
    """The phase a stack is in (its innermost phase frame), or None."""
    for f in reversed(frames):
        name = f.split(" (")[0]
        if name in PHASES:
            return name
    return None


class Alias(BpfTestCase):
    def record(self, rate):
        """Both workloads at once under one `hearth record -r RATE`; {workload: (counts, truth, other)}."""
        seconds = WANTED / rate
        out = self.path("alias-%d.folded" % rate)
        c_truth, py_truth = self.path("c-%d.txt" % rate), self.path("py-%d.txt" % rate)
        script = '"$1" %.2f > "$2" & "$3" "$4" %.2f > "$5" & wait' % (seconds, seconds)
        r = subprocess.run([HEARTH, "record", "-r", str(rate), "--subprocesses", "-v", "-o", out, "--",
                            "sh", "-c", script, "sh", PERIODIC, c_truth, SYSTEM_PYTHON, PERIODIC_PY, py_truth],
                           capture_output=True, text=True, timeout=30 * seconds + 120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("at random intervals, 0 periodically", r.stderr)
        results = {}
        for label, truth_path, root in (("C", c_truth, "periodic (pid"), ("Python", py_truth, "python3")):
            with open(truth_path) as f:
                truth = {k: float(v) for k, v in (line.split() for line in f)}
            self.assertEqual(set(truth), set(PHASES), "%s: %r" % (label, truth))
            counts = dict.fromkeys(PHASES, 0)
            other = 0
            for frames, n in read_folded(out).items():
                if not frames[0].startswith(root):
                    continue
                phase = phase_of(frames)
                if phase:
                    counts[phase] += n
                else:
                    other += n
            results[label] = (counts, truth, other)
        return results

    def check(self, rate):
        for label, (counts, truth, other) in self.record(rate).items():
            n = sum(counts.values())
            got = {p: counts[p] / max(1, n) for p in PHASES}
            bounds = {p: SIGMAS * math.sqrt(truth[p] * (1 - truth[p]) / max(1, n)) for p in PHASES}
            line = "%s at %d Hz: %d samples (%d outside the phases): %s" % (
                label, rate, n, other, ", ".join("%s %.1f%% (truth %.1f%%, bound %.1f)" % (
                    p, 100 * got[p], 100 * truth[p], 100 * bounds[p]) for p in PHASES))
            sys.stderr.write(line + "\n")
            # Long enough: the bound holds the shares to 3 points or less.
            self.assertLessEqual(max(bounds.values()), MAX_BOUND, line)
            # Outside the phases: start-up (Python: before the interpreter is found) and the loop's own
            # bookkeeping, 1-3% measured.
            self.assertLess(other, 0.05 * (n + other), line)
            worst = max(PHASES, key=lambda p: abs(got[p] - truth[p]) / bounds[p])
            self.assertLessEqual(abs(got[worst] - truth[worst]), bounds[worst], "%s: worst %s\n%s" % (
                label, worst, line))

    def test_100_hz(self):
        self.check(100)

    def test_199_hz(self):
        self.check(199)

    def test_200_hz(self):
        self.check(200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
