# SPDX-License-Identifier: MIT
"""hearth export --diff: two windows of hearthd's ring compared.

cpuburn --shift runs burn_a 50% and burn_c 20% for 4 s, then the other way
round for 4 s; hearthd records it, and the differential export of the two
windows must show burn_a falling and burn_c rising, in the folded diff
(difffolded.pl's 'stack base new' lines) and in the SVG's colours (blue for
shrank, red for grew). BPF tests fail rather than skip under CI."""

import math
import os
import re
import sys
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import CPUBURN, poisson_bounds, share_delta  # noqa: E402
from test_daemon import DaemonTestCase  # noqa: E402

SVG_NS = "{http://www.w3.org/2000/svg}"


def read_diff_folded(text):
    """{tuple(frames root first): (base, new)}"""
    stacks = {}
    for line in text.splitlines():
        rest, _, new = line.rpartition(" ")
        stack, _, base = rest.rpartition(" ")
        stacks[tuple(stack.split(";"))] = (int(base), int(new))
    return stacks


def counts(stacks, name):
    """(base, new) samples of stacks holding frame NAME."""
    return (sum(b for k, (b, n) in stacks.items() if name in k),
            sum(n for k, (b, n) in stacks.items() if name in k))


def svg_frames(path):
    """{frame name: (fill rgb tuple, title)} of a flame graph, which must be well-formed XML."""
    root = ET.parse(path).getroot()
    frames = {}
    for g in root.iter(SVG_NS + "g"):
        if g.get("class") != "frame":
            continue
        fill = g.find(SVG_NS + "rect").get("fill")
        rgb = tuple(int(x) for x in re.fullmatch(r"rgb\((\d+),(\d+),(\d+)\)", fill).groups())
        frames.setdefault(g.get("data-name"), []).append((rgb, g.find(SVG_NS + "title").text))
    return root, frames


class Diff(DaemonTestCase):
    def test_shifted_workload(self):
        d, ring = self.start_daemon("--all", "-r", "199")
        t0 = time.time()
        burn = self.spawn([CPUBURN, "8", "--shift", "4"])
        _, _, usage = os.wait4(burn.pid, 0)
        self.stop(d)  # it writes the slot in progress
        # All of cpuburn's samples: the CPU it got (wait4) at 199 Hz.
        r = self.export(ring, "-p", str(burn.pid), "-f", "folded", "-o", "-")
        everything = sum(int(line.rpartition(" ")[2]) for line in r.stdout.splitlines() if line)
        cpu = usage.ru_utime + usage.ru_stime
        low, high = poisson_bounds(199 * cpu)
        self.assertTrue(low <= everything <= high, "%d samples of cpuburn, %.0f expected (%.3f s of CPU)"
                        % (everything, 199 * cpu, cpu))
        # Slots are one second long: leave a second around the shift out of both windows.
        mid = t0 + 4
        base = "..@%d" % int(mid - 1)
        new = "@%d.." % int(mid + 2)

        r = self.export(ring, "--comm", "cpuburn", "--diff", "%s,%s" % (base, new), "-o", "-")
        stacks = read_diff_folded(r.stdout)
        self.assertTrue(all(k[0].startswith("cpuburn (pid ") for k in stacks), list(stacks)[:3])
        # Other cpuburns may run on the machine: keep ours, by its root frame; the shares are
        # of run(), not of the calibration at start-up.
        stacks = {k: v for k, v in stacks.items() if k[0] == "cpuburn (pid %d)" % burn.pid and "run" in k}
        a_base, a_new = counts(stacks, "burn_a")
        c_base, c_new = counts(stacks, "burn_c")
        total_base = sum(b for b, n in stacks.values())
        total_new = sum(n for b, n in stacks.values())
        sys.stderr.write("BASE %d samples: burn_a %d, burn_c %d; NEW %d: burn_a %d, burn_c %d\n"
                         % (total_base, a_base, c_base, total_new, a_new, c_new))
        # Telling 50% from 20% at four binomial standard errors each takes this many samples.
        needed = math.ceil((4 * (math.sqrt(0.5 * 0.5) + math.sqrt(0.2 * 0.8)) / 0.3) ** 2)
        self.assertGreaterEqual(min(total_base, total_new), needed,
                                "too few samples to tell 50%% from 20%% (cpuburn got %.3f s of CPU)" % cpu)
        # The shares, of each window's samples: 50% -> 20% and 20% -> 50%.
        for name, got, n, want in (("burn_a base", a_base, total_base, 0.5), ("burn_a new", a_new, total_new, 0.2),
                                   ("burn_c base", c_base, total_base, 0.2), ("burn_c new", c_new, total_new, 0.5)):
            self.assertAlmostEqual(got / n, want, delta=share_delta(want, n, 0.02),
                                   msg="%s: %d of %d samples" % (name, got, n))

        # The same by PID, as a differential SVG: well-formed, burn_a blue, burn_c red.
        out = self.path("diff.svg")
        r = self.export(ring, "-p", str(burn.pid), "--diff", "%s,%s" % (base, new), "-o", out, "-v")
        self.assertIn("BASE: ", r.stderr)
        self.assertIn("wrote %s (differential svg)" % out, r.stderr)
        root, frames = svg_frames(out)
        self.assertEqual(len(root.findall(SVG_NS + "script")), 2)  # zoom and search, diff details
        (rgb_a, title_a), = frames["burn_a"]
        (rgb_c, title_c), = frames["burn_c"]
        self.assertGreater(rgb_a[2], rgb_a[0] + 60, "burn_a not blue: %s" % (rgb_a,))
        self.assertGreater(rgb_c[0], rgb_c[2] + 60, "burn_c not red: %s" % (rgb_c,))
        self.assertRegex(title_a, r"^burn_a: \d+\.\d\d% -> \d+\.\d\d% \(-\d+\.\d\d points; \d+ -> \d+ samples\)")
        self.assertRegex(title_c, r"^burn_c: \d+\.\d\d% -> \d+\.\d\d% \(\+\d+\.\d\d points; ")
        self.assertIn("Differential flame graph", ET.tostring(root, encoding="unicode"))

        # An empty BASE: a warning, and the graph all the same.
        r = self.export(ring, "-p", str(burn.pid), "--diff", "..@%d,%s" % (int(t0 - 2), new), "-o",
                        self.path("empty.svg"))
        self.assertIn("no samples in the BASE window", r.stderr)
        svg_frames(self.path("empty.svg"))

    def test_usage_errors(self):
        ring = self.path("none.ring")  # never opened: each is refused before
        for args, want in (
                (["--diff", "-10m..", "-o", "x.svg"], r"^hearth: invalid windows '-10m\.\.' for --diff"),
                (["--diff", "-10m..,yesterday..", "-o", "x.svg"], r"^hearth: invalid windows"),
                (["--diff", "-5m..-10m,-5m..", "-o", "x.svg"], r"a window ends before it starts"),
                (["--diff", "-20m..-10m,-10m..", "--last", "5m"], r"^hearth: --diff gives both windows"),
                (["--diff", "-20m..-10m,-10m..", "-o", "x.pb.gz"], r"go tool pprof -diff_base base\.pb\.gz"),
                (["--diff", "-20m..-10m,-10m..", "-f", "speedscope", "-o", "x"], r"go tool pprof -diff_base")):
            r = self.export(ring, *args, check=False)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertRegex(r.stderr, want)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
