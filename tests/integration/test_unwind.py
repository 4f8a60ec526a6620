# SPDX-License-Identifier: MIT
"""Native stacks without frame pointers: `hearth record --unwind dwarf` copies
each sample's user stack and registers and unwinds them with DWARF CFI.

examples/cpuburn built -O2 -fomit-frame-pointer (cpuburn-nofp) gives, with
--unwind dwarf, the same profile as the frame-pointer build: its 50/30/20
shares on complete chains from main, 95% of samples reaching main. Bad
--unwind and --stack-size values are one line and exit 2.
BPF tests fail rather than skip under CI."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (CHAIN_A, CHAIN_B, CHAIN_C, CPUBURN, HEARTH, BpfTestCase, chain_share,  # noqa: E402
                        has_chain, read_folded, total)

CPUBURN_NOFP = os.environ.get("CPUBURN_NOFP", os.path.join(os.path.dirname(CPUBURN), "cpuburn-nofp"))


def reaching_main(stacks):
    return sum(c for f, c in stacks.items() if "main" in f) / max(1, total(stacks))


class Dwarf(BpfTestCase):
    def record_folded(self, binary, *args):
        out = self.path(os.path.basename(binary) + "-%d.folded" % len(os.listdir(self.tmp.name)))
        r = self.record(["-r", "499", "-v", "-o", out] + list(args) + ["--", binary, "3"])
        return read_folded(out), r.stderr

    def check_chains(self, stacks):
        in_run = {f: c for f, c in stacks.items() if "run" in f}
        self.assertGreater(total(in_run), 800, "too few samples in run(): %d" % total(in_run))
        for chain, expected in ((CHAIN_A, 0.50), (CHAIN_B, 0.30), (CHAIN_C, 0.20)):
            got = chain_share(in_run, chain)
            self.assertAlmostEqual(got, expected, delta=0.05,
                                   msg="%s: %.3f, expected %.2f" % (";".join(chain), got, expected))
        # Complete chains from main, whatever the leaf.
        whole = sum(c for f, c in in_run.items() if has_chain(f, ["main", "run"]))
        self.assertGreater(whole / total(in_run), 0.95)

    def test_no_frame_pointers(self):
        fp_stacks, _ = self.record_folded(CPUBURN_NOFP)
        dwarf_stacks, err = self.record_folded(CPUBURN_NOFP, "--unwind", "dwarf")
        sys.stderr.write("cpuburn-nofp: %.1f%% of samples reach main by frame pointers, %.1f%% by DWARF\n"
                         % (100 * reaching_main(fp_stacks), 100 * reaching_main(dwarf_stacks)))
        self.assertGreater(reaching_main(dwarf_stacks), 0.95)
        self.check_chains(dwarf_stacks)
        self.assertRegex(err, r"DWARF")

    def test_same_profile_as_frame_pointers(self):
        fp_stacks, _ = self.record_folded(CPUBURN)
        dwarf_stacks, _ = self.record_folded(CPUBURN, "--unwind", "dwarf")
        self.check_chains(fp_stacks)
        self.check_chains(dwarf_stacks)

    def test_bad_flags(self):
        for args, want in ((["--unwind", "lbr"], "invalid unwind mode"),
                           (["--unwind", "dwarf", "--stack-size", "100"], "invalid stack size"),
                           (["--stack-size", "1G"], "invalid stack size")):
            r = self.record(args + ["--", CPUBURN, "1"], check=False)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(want, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
