# SPDX-License-Identifier: MIT
"""hearthd's memory bounds, for weeks of --all: its dictionary of strings,
frames and stacks starts over (a new epoch in the ring) past
--max-dictionary, and its table of processes drops the exited ones before
it fills (--max-processes). Both without losing what the profile says.
BPF tests fail rather than skip under CI."""

import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import CPUBURN, read_folded, share, total  # noqa: E402
from test_daemon import DaemonTestCase  # noqa: E402


class Limits(DaemonTestCase):
    def test_dictionary_starts_over(self):
        d, ring = self.start_daemon("--all", "-r", "199", "--max-dictionary", "300")
        burn = self.spawn([CPUBURN, "6"])
        # Short processes: each brings its own root frame, name string and stacks, so the
        # dictionary fills however quiet the machine is.
        script = "for i in $(seq 60); do for j in 1 2 3 4; do %s 0.02 >/dev/null & done; wait; done" % CPUBURN
        subprocess.run(["sh", "-c", script], check=True, timeout=300)
        burn.wait(timeout=60)
        time.sleep(1.2)
        self.stop(d)
        r = self.export(ring, "-p", str(burn.pid), "-f", "folded", "-o", self.path("b.folded"), "-v")
        epochs = int(re.search(r"(\d+) epochs", r.stderr).group(1))
        self.assertGreater(epochs, 2, "the dictionary never started over: %s" % r.stderr)
        stacks = read_folded(self.path("b.folded"))
        self.assertGreater(total(stacks), 500)
        # What the profile says survives the restarts: cpuburn's 50/30/20 split, frames named.
        busy = total(stacks) - sum(c for k, c in stacks.items() if "calibrate" in k)
        for name, want in (("burn_a", 0.5), ("burn_b", 0.3), ("burn_c", 0.2)):
            got = share(stacks, name) * total(stacks) / busy
            self.assertLess(abs(got - want), 0.08, "%s: %.2f of the samples, want %.2f" % (name, got, want))
        self.assertGreater(share(stacks, "main"), 0.95)

    def test_process_table_drops_exited_processes(self):
        # 1000 short processes against a table of 256: without room made, the last
        # three quarters would lose their names.
        d, ring = self.start_daemon("--all", "-r", "199", "--max-processes", "256")
        script = "for i in $(seq 250); do for j in 1 2 3 4; do %s 0.02 & done; wait; done" % CPUBURN
        t0 = time.time()
        subprocess.run(["sh", "-c", script], check=True, timeout=300)
        time.sleep(1.5)
        self.assertIsNone(d.poll())
        self.stop(d)
        out = self.path("churn.folded")
        self.export(ring, "--comm", "cpuburn", "-o", out)
        stacks = read_folded(out)
        by_pid = {}
        for frames, c in stacks.items():
            pid = int(re.search(r"\(pid (\d+)", frames[0]).group(1))
            by_pid.setdefault(pid, {})[frames] = c
        self.assertGreater(len(by_pid), 500, "samples of %d of 1000 processes" % len(by_pid))
        named = [p for p, s in by_pid.items() if share(s, "main") > 0.5]
        sys.stderr.write("process table: %d of %d processes named, %.0f s\n"
                         % (len(named), len(by_pid), time.time() - t0))
        self.assertGreater(len(named) / len(by_pid), 0.9, "processes past the table's size lost their names")


if __name__ == "__main__":
    unittest.main(verbosity=2)
