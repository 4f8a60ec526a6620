# SPDX-License-Identifier: MIT
"""Native stacks without frame pointers: `hearth record --unwind dwarf` copies
each sample's user stack and registers and unwinds them with DWARF CFI.

examples/cpuburn built -O2 -fomit-frame-pointer (cpuburn-nofp) gives, with
--unwind dwarf, the same profile as the frame-pointer build: its 50/30/20
shares on complete chains from main, 95% of samples reaching main. The same
for tests/workloads/chains.c, a 41-deep chain and a chain through libc's
qsort into a callback. Bad --unwind and --stack-size values are one line and
exit 2.
BPF tests fail rather than skip under CI."""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (CHAIN_A, CHAIN_B, CHAIN_C, CPUBURN, SOURCE_ROOT, BpfTestCase, chain_share,  # noqa: E402
                        has_chain, interpreters, python_version, read_folded, total)

CPUBURN_NOFP = os.environ.get("CPUBURN_NOFP", os.path.join(os.path.dirname(CPUBURN), "cpuburn-nofp"))
CHAINS_FP = os.environ.get("CHAINS_FP", "build/tests/workloads/chains-fp")
CHAINS_NOFP = os.environ.get("CHAINS_NOFP", "build/tests/workloads/chains-nofp")
CHAINS_DEBUGLINK = os.environ.get("CHAINS_DEBUGLINK", "build/tests/workloads/chains-debuglink")
LEAFCALL = os.environ.get("LEAFCALL", "build/tests/workloads/leafcall")


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
        fp_stacks, _ = self.record_folded(CPUBURN_NOFP, "--unwind", "fp")
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

    def check_chains_workload(self, stacks):
        """tests/workloads/chains.c: a 41-deep chain and a chain through libc's qsort, half each."""
        n = total(stacks)
        self.assertGreater(n, 800)
        self.assertGreater(reaching_main(stacks), 0.95)
        deep = {f: c for f, c in stacks.items() if "deep_phase" in f}
        sort = {f: c for f, c in stacks.items() if "compare" in f}
        self.assertAlmostEqual(total(deep) / n, 0.5, delta=0.1)
        self.assertAlmostEqual(total(sort) / n, 0.5, delta=0.1)

        def deep_ok(frames):
            i = frames.index("deep_phase")
            levels = [f for f in frames[i + 1:] if f.startswith("deep")]
            return frames[i - 1] == "main" and len(levels) == 41 and frames[-1] == "burn"

        def sort_ok(frames):
            i, j = frames.index("sort_phase"), frames.index("compare")
            return (frames[i - 1] == "main" and frames[i + 1].startswith("qsort") and i < j
                    and frames[j + 1:] == ("burn",))

        good_deep = sum(c for f, c in deep.items() if deep_ok(f))
        good_sort = sum(c for f, c in sort.items() if sort_ok(f))
        self.assertGreater(good_deep / total(deep), 0.95, sorted(deep.items(), key=lambda kv: -kv[1])[:3])
        self.assertGreater(good_sort / total(sort), 0.95, sorted(sort.items(), key=lambda kv: -kv[1])[:3])
        return total(deep) / n

    def test_deep_chain_and_library_call(self):
        nofp, _ = self.record_folded(CHAINS_NOFP, "--unwind", "dwarf")
        fp, _ = self.record_folded(CHAINS_FP, "--unwind", "dwarf")
        # The same profile with and without frame pointers.
        self.assertAlmostEqual(self.check_chains_workload(nofp), self.check_chains_workload(fp), delta=0.05)
        walked, _ = self.record_folded(CHAINS_FP, "--unwind", "fp")
        sys.stderr.write("chains-fp by frame pointers: %.1f%% of samples reach main (libc has none)\n"
                         % (100 * reaching_main(walked)))
        # auto: chains-fp keeps frame pointers, but half its walks cross libc's qsort, which
        # keeps none, and DWARF over the small copies says so: its stacks are then copied whole.
        auto, err = self.record_folded(CHAINS_FP, "--unwind", "auto")
        self.assertRegex(err, r"0 processes without frame pointers, unwound with DWARF, and 1 whose frame-pointer walks")
        self.check_chains_workload(auto)

    def test_debug_frame_in_debug_file(self):
        # No .eh_frame entry for its code, no frame pointers: the CFI is in a
        # separate, compressed debug file found through .gnu_debuglink.
        stacks, err = self.record_folded(CHAINS_DEBUGLINK, "--unwind", "auto")
        self.assertRegex(err, r"--unwind auto: 1 processes without frame pointers")
        m = re.search(r"(\d+) CFI lookups answered by \.debug_frame", err)
        self.assertTrue(m and int(m.group(1)) >= 4, err)
        self.check_chains_workload(stacks)
        # Away from its debug file, the same binary has no CFI to unwind with.
        alone = self.path("chains-alone")
        shutil.copy(CHAINS_DEBUGLINK, alone)
        stacks, _ = self.record_folded(alone, "--unwind", "auto")
        self.assertLess(reaching_main(stacks), 0.05)

    def test_auto_copies_only_where_needed(self):
        # A frame-pointer build is walked in BPF: no stack copies, the same profile.
        fp_stacks, err = self.record_folded(CPUBURN, "--unwind", "auto")
        self.assertRegex(err, r"--unwind auto: 0 processes without frame pointers, unwound with DWARF, and 0 whose")
        self.assertNotRegex(err, r"DWARF: [1-9]")
        self.check_chains(fp_stacks)
        # A build without them gets its stacks copied and unwound.
        nofp_stacks, err = self.record_folded(CPUBURN_NOFP, "--unwind", "auto")
        self.assertRegex(err, r"--unwind auto: 1 processes without frame pointers")
        self.assertGreater(reaching_main(nofp_stacks), 0.95)
        self.check_chains(nofp_stacks)

    def test_leaf_without_frame_pointers(self):
        # A frame-pointer program whose time goes to a leaf in a library without them:
        # the walk alone goes from the leaf to main, skipping the caller.
        fp_stacks, _ = self.record_folded(LEAFCALL, "--unwind", "fp")
        skipped = sum(c for f, c in fp_stacks.items() if f[-2:] == ("main", "leaf_spin"))
        sys.stderr.write("leafcall by frame pointers: %.1f%% of samples skip the caller\n"
                         % (100 * skipped / total(fp_stacks)))
        self.assertGreater(skipped / total(fp_stacks), 0.8)
        # auto: frame pointers walked in BPF, the leaf's caller found from a 1 KiB copy.
        stacks, err = self.record_folded(LEAFCALL, "--unwind", "auto")
        self.assertRegex(err, r"--unwind auto: 0 processes without frame pointers, unwound with DWARF, and 0 whose")
        in_leaf = {f: c for f, c in stacks.items() if f[-1] == "leaf_spin"}
        self.assertGreater(total(in_leaf) / total(stacks), 0.9)
        a = sum(c for f, c in in_leaf.items() if f[-3:] == ("main", "caller_a", "leaf_spin"))
        b = sum(c for f, c in in_leaf.items() if f[-3:] == ("main", "caller_b", "leaf_spin"))
        self.assertAlmostEqual(a / total(in_leaf), 2 / 3, delta=0.07, msg=sorted(in_leaf.items())[:4])
        self.assertAlmostEqual(b / total(in_leaf), 1 / 3, delta=0.07, msg=sorted(in_leaf.items())[:4])
        m = re.search(r"(\d+) frame-pointer samples with a leaf in code without them, (\d+) given", err)
        self.assertTrue(m, err)
        self.assertGreater(int(m.group(2)), 0.95 * int(m.group(1)), err)
        self.assertGreater(int(m.group(1)), 0.9 * total(stacks), err)

    def test_bad_flags(self):
        for args, want in ((["--unwind", "lbr"], "invalid unwind mode"),
                           (["--native", "--unwind", "fp"], "--native unwinds with DWARF"),
                           (["--unwind", "dwarf", "--stack-size", "100"], "invalid stack size"),
                           (["--stack-size", "1G"], "invalid stack size")):
            r = self.record(args + ["--", CPUBURN, "1"], check=False)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(want, r.stderr)


# Calls the extension in a loop: <module> -> caller -> hearthext.spin -> ext_spin -> ext_helper;
# with "callback", through C and back: <module> -> outer -> hearthext.call -> inner -> hearthext.spin;
# with "calls", Python calls in a tight loop: <module> -> calls -> leaf.
EXT_SCRIPT = """import sys, time
sys.path.insert(0, sys.argv[1])
import hearthext


def caller(deadline):
    while time.time() < deadline:
        hearthext.spin(300000)


def inner():
    hearthext.spin(300000)


def outer(deadline):
    while time.time() < deadline:
        hearthext.call(inner, 4)


def leaf():
    pass


def calls(deadline):
    while time.time() < deadline:
        for _ in range(100):
            leaf()


if sys.argv[3:] == ["callback"]:
    outer(time.time() + float(sys.argv[2]))
elif sys.argv[3:] == ["calls"]:
    calls(time.time() + float(sys.argv[2]))
else:
    caller(time.time() + float(sys.argv[2]))
"""

EXT_SUFFIX = ("import sysconfig; s = sysconfig.get_config_var('EXT_SUFFIX') or '.so'; "
              "print(sysconfig.get_paths()['include'] + ' ' + s)")


class PythonNative(BpfTestCase):
    """Python stacks with native frames: a C extension's chain under its Python caller (the default,
    these interpreters keeping no frame pointers), and with --native the whole native stack from _start, each evaluation loop replaced
    by the Python frames it ran."""

    def check_extension(self, python):
        if not os.path.exists(python):
            self.skipTest("%s is not installed" % python)
        include, suffix = subprocess.run([python, "-c", EXT_SUFFIX], capture_output=True, text=True,
                                         timeout=30, check=True).stdout.split()
        ext_dir = self.path("ext")
        os.mkdir(ext_dir)
        subprocess.run(["gcc", "-O2", "-fomit-frame-pointer", "-shared", "-fPIC", "-I" + include,
                        os.path.join(SOURCE_ROOT, "tests", "workloads", "hearthext.c"),
                        "-o", os.path.join(ext_dir, "hearthext" + suffix)], check=True, timeout=120)
        script = self.path("extwork.py")
        with open(script, "w") as f:
            f.write(EXT_SCRIPT)
        out = self.path("ext.folded")
        # The default, --unwind auto: these interpreters keep no frame pointers, so their stacks are copied.
        r = self.record(["-r", "499", "-v", "-o", out, "--", python, script, ext_dir, "2"])
        self.assertRegex(r.stderr, r"--unwind auto: [1-9]\d* processes without frame pointers")
        self.assertIn("Python (CPython %d.%d" % python_version(python)[:2], r.stderr)
        stacks = read_folded(out)
        n = total(stacks)
        self.assertGreater(n, 400)

        def merged(frames):
            """<module> ... caller, then hearthext_spin -> ext_spin -> ext_helper at the leaf, in that order."""
            k = len(frames)
            return (k >= 5 and list(frames[k - 3:]) == ["hearthext_spin", "ext_spin", "ext_helper"]
                    and frames[k - 4].startswith("caller (") and frames[k - 4].endswith(":8)")
                    and any(f.startswith("<module> (") for f in frames[:k - 4]))

        good = sum(c for f, c in stacks.items() if merged(f))
        self.assertGreater(good / n, 0.9, "merged stacks: %d of %d; top: %s"
                           % (good, n, sorted(stacks.items(), key=lambda kv: -kv[1])[:3]))

        # --native: every native frame in true order, each evaluation loop replaced by its Python frames.
        out = self.path("native.folded")
        r = self.record(["--native", "-r", "499", "-v", "-o", out, "--", python, script, ext_dir, "2"])
        stacks = read_folded(out)
        n = total(stacks)
        self.assertGreater(n, 400)

        def whole(frames):
            names = list(frames)
            try:
                m = next(i for i, f in enumerate(names) if f.startswith("<module> ("))
                c = next(i for i, f in enumerate(names) if f.startswith("caller ("))
                spin = names.index("hearthext_spin")
            except (StopIteration, ValueError):
                return False
            return (names[0] == "_start" and 0 < m < c < spin and names[spin:] == ["hearthext_spin", "ext_spin",
                                                                                     "ext_helper"]
                    and not any(f in ("_PyEval_EvalFrameDefault", "PyEval_EvalFrameEx") for f in names[m:]))

        good = sum(c for f, c in stacks.items() if whole(f))
        self.assertGreater(good / n, 0.85, "whole merged stacks: %d of %d; top: %s"
                           % (good, n, sorted(stacks.items(), key=lambda kv: -kv[1])[:3]))
        mismatch = int(re.search(r"(\d+) whose loop activations", r.stderr).group(1))
        self.assertLess(mismatch, 0.02 * n, r.stderr)
        # Those keep both stacks, unmerged: under a root marker the Python
        # frames, then the native stack under its own marker.
        unpaired = {f: c for f, c in stacks.items() if f[0] == "[Python and native stacks not paired]"}
        self.assertEqual(total(unpaired), mismatch)
        sys.stderr.write("%s --native: %d of %d samples with stacks not paired\n" % (python, mismatch, n))
        for frames in unpaired:
            names = list(frames)
            self.assertEqual(names.count("[native stack]"), 1, names)
            at = names.index("[native stack]")
            self.assertTrue(at > 1 and all(" (" in f or f.startswith("[") for f in names[1:at]), names)
            self.assertFalse(any(" (" in f and f.endswith(")") and ".py:" in f for f in names[at + 1:]), names)

        # Python -> C -> Python: two activations (also on 3.11+, where Python calls Python in one).
        r = self.record(["--native", "-r", "499", "-v", "-o", out, "--", python, script, ext_dir, "2", "callback"])
        stacks = read_folded(out)
        n = total(stacks)

        def nested(frames):
            names = list(frames)
            at = {}
            for i, f in enumerate(names):
                key = f.split(" (")[0]
                if key in ("<module>", "outer", "hearthext_call", "inner", "hearthext_spin") and key not in at:
                    at[key] = i
            order = [at.get(k, -1) for k in ("<module>", "outer", "hearthext_call", "inner", "hearthext_spin")]
            return min(order) >= 0 and order == sorted(order) and names[-1] == "ext_helper"

        good = sum(c for f, c in stacks.items() if nested(f))
        self.assertGreater(good / max(1, n), 0.85, "nested stacks: %d of %d; top: %s"
                           % (good, n, sorted(stacks.items(), key=lambda kv: -kv[1])[:2]))

        # Tight calls: the innermost activation of the loop is often caught entering
        # or leaving (its frame not linked yet, or any more), and stays native.
        r = self.record(["--native", "-r", "499", "-v", "-o", out, "--", python, script, ext_dir, "2", "calls"])
        stacks = read_folded(out)
        n = total(stacks)
        self.assertGreater(n, 400)
        mismatch, unentered = map(int, re.search(r"(\d+) whose loop activations.*?(\d+) with the innermost loop "
                                                 r"entering", r.stderr).groups())
        sys.stderr.write("%s --native, calls: %d of %d samples entering or leaving the loop, %d not paired\n"
                         % (python, unentered, n, mismatch))
        self.assertLess(mismatch, 0.01 * n, r.stderr)
        if python_version(python) < (3, 11):
            self.assertGreater(unentered, 0, r.stderr)
        loop = "PyEval_EvalFrameEx" if python_version(python)[0] == 2 else "_PyEval_EvalFrameDefault"
        native_loop = 0
        for frames, count in stacks.items():
            names = list(frames)
            py = [i for i, f in enumerate(names) if ".py:" in f]
            loops = [i for i, f in enumerate(names) if f == loop]
            if py and loops and names[0] != "[Python and native stacks not paired]":
                self.assertEqual(len(loops), 1, names)
                self.assertGreater(loops[0], py[-1], names)
                native_loop += count
        self.assertEqual(native_loop, unentered)


def add_interpreter_tests():
    for label, python in interpreters():
        def test(self, python=python):
            self.check_extension(python)
        setattr(PythonNative, "test_extension_" + label.replace(".", "_").replace("-", "_"), test)


add_interpreter_tests()

if __name__ == "__main__":
    unittest.main(verbosity=2)
