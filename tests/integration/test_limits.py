# SPDX-License-Identifier: MIT
"""hearthd's memory bounds, for weeks of --all: its dictionary of strings,
frames and stacks starts over (a new epoch in the ring) past
--max-dictionary, and its table of processes drops the exited ones before
it fills (--max-processes). Both without losing what the profile says.
BPF tests fail rather than skip under CI."""

import math
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import CPUBURN, poisson_bounds, read_folded, share, share_delta, total  # noqa: E402
from test_daemon import DaemonTestCase  # noqa: E402


class Limits(DaemonTestCase):
    def test_dictionary_starts_over(self):
        d, ring = self.start_daemon("--all", "-r", "199", "--max-dictionary", "300")
        burn = self.spawn([CPUBURN, "6"])
        # Short processes: each brings its own root frame, name string and stacks, so the
        # dictionary fills however quiet the machine is.
        script = "for i in $(seq 60); do for j in 1 2 3 4; do %s 0.02 >/dev/null & done; wait; done" % CPUBURN
        subprocess.run(["sh", "-c", script], check=True, timeout=300)
        _, _, usage = os.wait4(burn.pid, 0)
        self.stop(d)  # it writes the slot in progress
        r = self.export(ring, "-p", str(burn.pid), "-f", "folded", "-o", self.path("b.folded"), "-v")
        epochs = int(re.search(r"(\d+) epochs", r.stderr).group(1))
        self.assertGreater(epochs, 2, "the dictionary never started over: %s" % r.stderr)
        stacks = read_folded(self.path("b.folded"))
        # None of its samples lost across the restarts: the CPU it got (wait4) at 199 Hz.
        cpu = usage.ru_utime + usage.ru_stime
        low, high = poisson_bounds(199 * cpu)
        self.assertTrue(low <= total(stacks) <= high, "%d samples, %.0f expected (%.3f s of CPU)"
                        % (total(stacks), 199 * cpu, cpu))
        # What the profile says survives the restarts: cpuburn's 50/30/20 split, frames named.
        busy = total(stacks) - sum(c for k, c in stacks.items() if "calibrate" in k)
        for name, want in (("burn_a", 0.5), ("burn_b", 0.3), ("burn_c", 0.2)):
            got = share(stacks, name) * total(stacks) / max(1, busy)
            delta = share_delta(want, busy, 0.02)
            self.assertLess(abs(got - want), delta, "%s: %.3f of %d samples, want %.2f +- %.3f"
                            % (name, got, busy, want, delta))
        self.assertGreater(share(stacks, "main"), 0.95)

    def test_process_table_drops_exited_processes(self):
        # 1000 short processes against a table of 256: without room made, the last
        # three quarters would lose their names.
        d, ring = self.start_daemon("--all", "-r", "199", "--max-processes", "256")
        script = "for i in $(seq 250); do for j in 1 2 3 4; do %s 0.02 & done; wait; done" % CPUBURN
        t0 = time.time()
        subprocess.run(["sh", "-c", script], check=True, timeout=300)
        self.assertIsNone(d.poll())
        self.stop(d)  # it writes the slot in progress
        out = self.path("churn.folded")
        self.export(ring, "--comm", "cpuburn", "-o", out)
        stacks = read_folded(out)
        by_pid = {}
        for frames, c in stacks.items():
            pid = int(re.search(r"\(pid (\d+)", frames[0]).group(1))
            by_pid.setdefault(pid, {})[frames] = c
        # Each cpuburn's calibration alone takes more than 20 ms of its CPU (its last step is timed
        # by the thread's CPU clock), however busy the machine: at 199 Hz a process has no sample
        # with probability below exp(-199 * 0.02), and so many have some, within four standard errors.
        p = 1 - math.exp(-199 * 0.02)
        low = 1000 * p - 4 * math.sqrt(1000 * p * (1 - p))
        self.assertGreaterEqual(len(by_pid), low, "samples of %d of 1000 processes, at least %.0f expected"
                                % (len(by_pid), low))
        named = {p for p, s in by_pid.items() if share(s, "main") > 0.5}
        # A process that exits before hearthd reads its maps keeps no names, and a busy machine
        # slows hearthd more than 20 ms processes (0.8 of them named, or 0.37): that is not the
        # table's doing. Without room made, the processes past the table's first 256 would all
        # lose their names; with it, they are named as often as the first 256 (in pid order),
        # within four standard errors of the difference of the two shares.
        order = sorted(by_pid)
        first, rest = order[:256], order[256:]
        p1 = sum(1 for p in first if p in named) / len(first)
        p2 = sum(1 for p in rest if p in named) / max(1, len(rest))
        pooled = len(named) / len(by_pid)
        delta = 4 * math.sqrt(pooled * (1 - pooled) * (1 / len(first) + 1 / max(1, len(rest))))
        sys.stderr.write("process table: %d of %d processes named (%.3f of the first 256, %.3f of the rest), "
                         "%.0f s\n" % (len(named), len(by_pid), p1, p2, time.time() - t0))
        self.assertGreaterEqual(p2, p1 - max(delta, 0.02), "processes past the table's size lost their names: "
                                "%.3f named of the first 256, %.3f of the other %d" % (p1, p2, len(rest)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
