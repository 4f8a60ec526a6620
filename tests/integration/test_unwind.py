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

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (CHAIN_A, CHAIN_B, CHAIN_C, CPUBURN, SOURCE_ROOT, BpfTestCase, chain_share,  # noqa: E402
                        compiler_for, has_chain, interpreters, is_sid, python_version, read_folded,
                        require_interpreter, total)

CPUBURN_NOFP = os.environ.get("CPUBURN_NOFP", os.path.join(os.path.dirname(CPUBURN), "cpuburn-nofp"))
CHAINS_FP = os.environ.get("CHAINS_FP", "build/tests/workloads/chains-fp")
CHAINS_NOFP = os.environ.get("CHAINS_NOFP", "build/tests/workloads/chains-nofp")
CHAINS_DEBUGLINK = os.environ.get("CHAINS_DEBUGLINK", "build/tests/workloads/chains-debuglink")
LEAFCALL = os.environ.get("LEAFCALL", "build/tests/workloads/leafcall")
# What tests/workloads/meson.build builds frame-pointer workloads with.
FP_ARGS = ["-O2", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer", "-fno-optimize-sibling-calls"]
# A Debian unstable root (scripts/lib.sh makes it): a newer C library, without its symbol table.
SID_ROOT = os.environ.get("HEARTH_SID_ROOT", "/var/cache/hearth/sid-root")
# The C library's start-up code, as a profile names it where the library has names.
STARTUP = ("_start", "__libc_start_main", "__libc_start_main_impl", "__libc_start_call_main", "start_thread",
           "clone", "clone3", "__clone", "__clone3")


def reaching_main(stacks):
    return sum(c for f, c in stacks.items() if "main" in f) / max(1, total(stacks))


# Prints 1 when the C library's start-up code calls main with argv in rbp (the frame pointer main saves).
ARGV_IN_RBP = """int main(int argc, char **argv)
{
	return __builtin_printf("%d\\n", *(void **)__builtin_frame_address(0) == (void *)argv) < 0;
}
"""


def require_sid_root(test):
    """SID_ROOT, once made (its VERSIONS written) with gcc in it; else skip, or fail under CI."""
    if os.path.exists(os.path.join(SID_ROOT, "VERSIONS")) and os.path.exists(os.path.join(SID_ROOT, "usr/bin/gcc")):
        return SID_ROOT
    if os.environ.get("CI"):
        test.fail("the Debian unstable root %s is not made (scripts/test makes it) and CI is set" % SID_ROOT)
    test.skipTest("no Debian unstable root at %s (scripts/test makes it)" % SID_ROOT)


def past_start(frames):
    """What sample FRAMES (root first) shows past its program's or thread's start: rootward of its
    outermost main or worker_main, what is neither the C library (its start-up code, named or not)
    nor [incomplete]; anywhere, a return address into the stack."""
    own = [i for i, f in enumerate(frames) if f in ("main", "worker_main")]
    above = frames[:own[0]] if own else ()
    return [f for f in above if f not in STARTUP and f != "[incomplete]" and not f.startswith("libc.so.6+")] + \
        [f for f in frames if f.startswith("[stack]")]


def command_cpu(stderr):
    """The CPU time `hearth record -v -- COMMAND` says the command used."""
    m = re.search(r"used ([\d.]+) s of CPU", stderr)
    return float(m.group(1)) if m else 0.0


def share_delta(p, n, least=0.05):
    """A share's tolerance: four binomial standard errors of N samples, and at least LEAST."""
    return max(least, 4 * math.sqrt(p * (1 - p) / max(1, n)))


class Dwarf(BpfTestCase):
    def record_folded(self, binary, *args, run=("3",)):
        out = self.path(os.path.basename(binary) + "-%d.folded" % len(os.listdir(self.tmp.name)))
        r = self.record(["-r", "499", "-v", "-o", out] + list(args) + ["--", binary] + list(run))
        self.stdout = r.stdout
        return read_folded(out), r.stderr

    def check_sampled(self, stacks, err, rate=499):
        """As many samples as the CPU time the command used makes at RATE (a busy machine gives it
        less time, and fewer): within four standard deviations and a tenth, nothing lost."""
        expected = command_cpu(err) * rate
        self.assertGreater(expected, 100, err)
        self.assertGreater(total(stacks), 0.9 * expected - 4 * math.sqrt(expected), err)

    def check_chains(self, stacks, err):
        self.check_sampled(stacks, err)
        in_run = {f: c for f, c in stacks.items() if "run" in f}
        for chain, expected in ((CHAIN_A, 0.50), (CHAIN_B, 0.30), (CHAIN_C, 0.20)):
            got = chain_share(in_run, chain)
            self.assertAlmostEqual(got, expected, delta=share_delta(expected, total(in_run)),
                                   msg="%s: %.3f, expected %.2f of %d" % (";".join(chain), got, expected,
                                                                         total(in_run)))
        # Complete chains from main, whatever the leaf.
        whole = sum(c for f, c in in_run.items() if has_chain(f, ["main", "run"]))
        self.assertGreater(whole / total(in_run), 0.95)

    def test_no_frame_pointers(self):
        fp_stacks, _ = self.record_folded(CPUBURN_NOFP, "--unwind", "fp")
        dwarf_stacks, err = self.record_folded(CPUBURN_NOFP, "--unwind", "dwarf")
        sys.stderr.write("cpuburn-nofp: %.1f%% of samples reach main by frame pointers, %.1f%% by DWARF\n"
                         % (100 * reaching_main(fp_stacks), 100 * reaching_main(dwarf_stacks)))
        self.assertGreater(reaching_main(dwarf_stacks), 0.95)
        self.check_chains(dwarf_stacks, err)
        self.assertRegex(err, r"DWARF")

    def test_same_profile_as_frame_pointers(self):
        fp_stacks, fp_err = self.record_folded(CPUBURN)
        dwarf_stacks, dwarf_err = self.record_folded(CPUBURN, "--unwind", "dwarf")
        self.check_chains(fp_stacks, fp_err)
        self.check_chains(dwarf_stacks, dwarf_err)

    def check_chains_workload(self, stacks, err, want=0.95):
        """tests/workloads/chains.c: a 41-deep chain and a chain through libc's qsort, half each.
        A WANT share of each chain's samples must be whole and right; a chain cut short and marked
        [incomplete] is not right, but neither is it wrong; a wrong one is a chain DWARF or the
        workload contradicts (a missing or extra frame), never allowed past 1 - WANT."""
        n = total(stacks)
        self.check_sampled(stacks, err)
        self.assertGreater(reaching_main(stacks), want)
        # What the workload measured of itself (the last run's output).
        truth = {k: float(v) for k, v in (line.split() for line in self.stdout.splitlines())}
        deep = {f: c for f, c in stacks.items() if "deep_phase" in f}
        sort = {f: c for f, c in stacks.items() if "compare" in f}
        both = total(deep) + total(sort)
        self.assertGreater(both, 0.95 * n)
        for part, p in ((deep, truth["deep_phase"]), (sort, truth["sort_phase"])):
            self.assertAlmostEqual(total(part) / both, p, delta=share_delta(p, both, 0.03),
                                   msg="deep %d, sort %d of %d; truth %r" % (total(deep), total(sort), n, truth))

        def deep_ok(frames):
            if "main" not in frames:
                return False
            i = frames.index("main")
            levels = frames[i + 2:]
            if levels[-2:] == ("burn", "touch"):
                levels = levels[:-1]
            if levels[-1:] == ("burn",):
                levels = levels[:-1]
                if len(levels) != 41:
                    return False
            return frames[i + 1:i + 2] == ("deep_phase",) and 0 < len(levels) <= 41 and \
                all(f.startswith("deep") for f in levels)

        def sort_ok(frames):
            if "main" not in frames or "compare" not in frames:
                return False
            i, j = frames.index("main"), frames.index("compare")
            return (frames[i + 1:i + 2] == ("sort_phase",) and i + 2 < j and frames[i + 2].startswith("qsort")
                    and frames[j + 1:] in ((), ("burn",), ("burn", "touch")) and "[incomplete]" not in frames)

        for name, part, ok in (("deep", deep, deep_ok), ("sort", sort, sort_ok)):
            good = sum(c for f, c in part.items() if ok(f))
            cut = sum(c for f, c in part.items() if not ok(f) and "[incomplete]" in f)
            bad = sorted(((c, f) for f, c in part.items() if not ok(f) and "[incomplete]" not in f), reverse=True)
            self.assertGreaterEqual(good / total(part), want, "%s: %d of %d right, %d cut short; wrong: %s" % (
                name, good, total(part), cut, bad[:3]))
        return total(deep) / n

    def test_deep_chain_and_library_call(self):
        # The same profile (each its workload's own truth) with and without frame pointers.
        fp, fp_err = self.record_folded(CHAINS_FP, "--unwind", "dwarf")
        self.check_chains_workload(fp, fp_err)
        nofp, nofp_err = self.record_folded(CHAINS_NOFP, "--unwind", "dwarf")
        self.check_chains_workload(nofp, nofp_err)
        walked, _ = self.record_folded(CHAINS_FP, "--unwind", "fp")
        sys.stderr.write("chains-fp by frame pointers: %.1f%% of samples reach main (libc has none)\n"
                         % (100 * reaching_main(walked)))
        # auto: chains-fp keeps frame pointers, but half its walks cross libc's qsort, which
        # keeps none, and DWARF over the small copies says so: its stacks are then copied whole.
        # Its first samples are copied whole while the walks are checked, so chains are right from
        # the first sample on.
        auto, err = self.record_folded(CHAINS_FP, "--unwind", "auto")
        self.assertRegex(err, r"0 processes without frame pointers, unwound with DWARF, and 1 whose frame-pointer walks")
        self.check_chains_workload(auto, err, want=0.99)

    def test_auto_never_shows_a_wrong_walk(self):
        # chains-fp runs its deep chain alone for a second, so its first walks check out and it is
        # left to frame pointers; then it starts calling back from qsort, where a walk ends or goes
        # wrong in libc. Those walks are cut and marked [incomplete] until a tenth of a window of
        # them were, and then its stacks are copied whole: never a wrong chain on the way.
        stacks, err = self.record_folded(CHAINS_FP, "--unwind", "auto", run=("4", "1"))
        m = re.search(r"and (\d+) whose frame-pointer walks DWARF contradicted.* (\d+) walks cut short", err)
        self.assertTrue(m, err)
        self.assertEqual(int(m.group(1)), 1, err)
        cut = sum(c for f, c in stacks.items() if f[0] == "[incomplete]")
        self.assertGreater(cut, 0, err)
        self.assertEqual(cut, int(m.group(2)), err)
        sort = {f: c for f, c in stacks.items() if "compare" in f}
        wrong = sorted(((c, f) for f, c in sort.items()
                        if f[0] != "[incomplete]" and not ("sort_phase" in f and "main" in f)), reverse=True)
        self.assertLessEqual(sum(c for c, _ in wrong), 0.01 * total(sort), wrong[:3])
        # Copied whole after the switch: most of the sorting is shown whole.
        self.assertGreater(sum(c for f, c in sort.items() if f[0] == "_start") / total(sort), 0.8)

    def test_debug_frame_in_debug_file(self):
        # No .eh_frame entry for its code, no frame pointers: the CFI is in a
        # separate, compressed debug file found through .gnu_debuglink.
        stacks, err = self.record_folded(CHAINS_DEBUGLINK, "--unwind", "auto")
        self.assertRegex(err, r"--unwind auto: 1 processes without frame pointers")
        m = re.search(r"(\d+) CFI lookups answered by \.debug_frame", err)
        self.assertTrue(m and int(m.group(1)) >= 4, err)
        self.check_chains_workload(stacks, err)
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
        self.check_chains(fp_stacks, err)
        # A build without them gets its stacks copied and unwound.
        nofp_stacks, err = self.record_folded(CPUBURN_NOFP, "--unwind", "auto")
        self.assertRegex(err, r"--unwind auto: 1 processes without frame pointers")
        self.assertGreater(reaching_main(nofp_stacks), 0.95)
        self.check_chains(nofp_stacks, err)

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

    def test_stripped_libc_start(self):
        # Debian unstable's C library (2.43 when this was written) keeps argv in rbp when its
        # start-up code calls main, and has no symbol table: a frame-pointer walk went on past
        # main to argv[1], a "return address" into the stack, and to the bytes of argv[0], where
        # DWARF finds _start;__libc_start_main;libc.so.6+0x29fb9 (the unnamed
        # __libc_start_call_main). Every way of walking must end at the start of the program or
        # thread, and say how often a walk ended at a return address outside the code.
        root = require_sid_root(self)
        work = tempfile.mkdtemp(prefix="hearth-test-", dir=os.path.join(root, "tmp"))
        self.addCleanup(shutil.rmtree, work, True)
        shutil.copy(os.path.join(SOURCE_ROOT, "examples", "cpuburn.c"), work)
        with open(os.path.join(work, "argv.c"), "w") as f:
            f.write(ARGV_IN_RBP)
        inside = "/" + os.path.relpath(work, root)
        for name, libs in (("cpuburn", ["-lpthread"]), ("argv", [])):
            subprocess.run(["chroot", root, "gcc"] + FP_ARGS + ["-o", "%s/%s" % (inside, name),
                                                               "%s/%s.c" % (inside, name)] + libs,
                           check=True, timeout=300)
        argv_in_rbp = subprocess.run(["chroot", root, inside + "/argv"], capture_output=True, text=True,
                                     check=True, timeout=60).stdout.strip() == "1"
        sys.stderr.write("the root's C library calls main with%s argv in rbp\n" % ("" if argv_in_rbp else "out"))
        for mode in ("fp", "dwarf", "auto"):
            stacks, err = self.record_folded("chroot", "--unwind", mode,
                                             run=(root, inside + "/cpuburn", "2", "--threads", "1"))
            self.check_sampled(stacks, err)
            bad = sorted(((c, f) for f, c in stacks.items() if past_start(f)), reverse=True)
            self.assertEqual(sum(c for c, _ in bad), 0, "--unwind %s: %d of %d samples go on past the start; "
                             "the most: %s" % (mode, sum(c for c, _ in bad), total(stacks), bad[:3]))
            m = re.search(r"native walks: (\d+) ended at a return address outside executable code", err)
            self.assertTrue(m, err)
            if mode == "fp" and argv_in_rbp:
                # Each walk from main went on to argv[1] ("2"): every one ended there, counted.
                from_main = sum(c for f, c in stacks.items() if f[1:2] == ("main",))
                self.assertGreater(from_main, 0, sorted(stacks.items(), key=lambda kv: -kv[1])[:3])
                self.assertGreaterEqual(int(m.group(1)), from_main, err)
                self.assertLessEqual(int(m.group(1)), total(stacks), err)
            if mode == "auto":
                # Walked by frame pointers once its first walks checked out: the start-up code's
                # frame, unnamed, is known as the start (it called main), not marked cut short.
                cut = sorted(((c, f) for f, c in stacks.items() if "main" in f and
                              "[incomplete]" in f[:f.index("main")]), reverse=True)
                self.assertEqual(cut, [], "walks from main cut short at the start: %s" % cut[:3])

    def test_walk_ends_at_start(self):
        # tests/workloads/pastroot.c: from spin, a frame-pointer walk goes through start_thread
        # (start-up code by its name, in a library without frame pointers) into a made-up frame
        # in decoy. It ends at start_thread, and says so; DWARF follows start_thread's CFI to main.
        src = os.path.join(SOURCE_ROOT, "tests", "workloads", "pastroot.c")
        prog = self.path("pastroot")
        subprocess.run(["gcc", "-O2", "-fomit-frame-pointer", "-fasynchronous-unwind-tables", "-shared", "-fPIC",
                        "-DPASTROOT_LIB", src, "-o", self.path("libpastroot.so")], check=True, timeout=120)
        subprocess.run(["gcc"] + FP_ARGS + [src, "-o", prog, "-L" + self.tmp.name, "-lpastroot",
                                            "-Wl,-rpath," + self.tmp.name], check=True, timeout=120)
        for mode in ("fp", "dwarf", "auto"):
            stacks, err = self.record_folded(prog, "--unwind", mode, run=("2",))
            self.check_sampled(stacks, err)
            spun = {f: c for f, c in stacks.items() if "spin" in f}
            past = sorted(((c, f) for f, c in spun.items() if "decoy" in f), reverse=True)
            self.assertEqual(past, [], "--unwind %s: %d of %d samples of spin go on past start_thread: %s"
                             % (mode, sum(c for c, _ in past), total(spun), past[:3]))
            m = re.search(r"(\d+) went on past the program's or thread's start", err)
            self.assertTrue(m, err)
            at_start = sum(c for f, c in spun.items() if f[0] == "start_thread")
            if mode == "fp":
                # Every walk that reached start_thread went on into decoy: each one counted.
                self.assertGreater(at_start, 0, sorted(spun.items(), key=lambda kv: -kv[1])[:3])
                self.assertGreaterEqual(int(m.group(1)), at_start, err)
                self.assertLessEqual(int(m.group(1)), total(stacks), err)
            else:
                # Unwound by CFI (auto: once the walks proved wrong), past start_thread to main.
                self.assertEqual(at_start, 0, sorted(spun.items(), key=lambda kv: -kv[1])[:3])

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

# CPU time, not wall time: a busy machine must not shrink the loops against the start-up.
cpu = getattr(time, "process_time", None) or time.clock


def caller(deadline):
    while cpu() < deadline:
        hearthext.spin(300000)


def inner():
    hearthext.spin(300000)


def outer(deadline):
    while cpu() < deadline:
        hearthext.call(inner, 4)


def leaf():
    pass


def calls(deadline):
    while cpu() < deadline:
        for _ in range(100):
            leaf()


if sys.argv[3:] == ["callback"]:
    outer(cpu() + float(sys.argv[2]))
elif sys.argv[3:] == ["calls"]:
    calls(cpu() + float(sys.argv[2]))
else:
    caller(cpu() + float(sys.argv[2]))
"""

# The line in caller() that calls the extension, as a profile names it.
CALLER_LINE = next(i + 1 for i, line in enumerate(EXT_SCRIPT.splitlines()) if "hearthext.spin" in line)

EXT_SUFFIX = ("import sysconfig; s = sysconfig.get_config_var('EXT_SUFFIX') or '.so'; "
              "print(sysconfig.get_paths()['include'] + ' ' + s)")


class PythonNative(BpfTestCase):
    """Python stacks with native frames: a C extension's chain under its Python caller (the default,
    these interpreters keeping no frame pointers), and with --native the whole native stack from _start, each evaluation loop replaced
    by the Python frames it ran."""

    def python_samples(self, stderr, stacks):
        """Samples taken once the interpreter was found (before, they cannot have Python frames:
        the first ones of a busy machine's process), after checking the samples are all there."""
        expected = command_cpu(stderr) * 499
        self.assertGreater(total(stacks), 0.9 * expected - 4 * math.sqrt(expected), stderr)
        m = re.search(r"Python \(.*?\): \d+ of (\d+) samples with Python stacks", stderr)
        self.assertTrue(m, stderr)
        self.assertGreater(int(m.group(1)), 0.5 * total(stacks), stderr)
        return int(m.group(1))

    def check_extension(self, python):
        require_interpreter(self, python)
        include, suffix = subprocess.run([python, "-c", EXT_SUFFIX], capture_output=True, text=True,
                                         timeout=30, check=True).stdout.split()
        ext_dir = self.path("ext")
        os.mkdir(ext_dir)
        # Built against the interpreter's own headers, by its own distribution's compiler.
        subprocess.run([compiler_for(python), "-O2", "-fomit-frame-pointer", "-shared", "-fPIC", "-I" + include,
                        os.path.join(SOURCE_ROOT, "tests", "workloads", "hearthext.c"),
                        "-o", os.path.join(ext_dir, "hearthext" + suffix)], check=True, timeout=120)
        script = self.path("extwork.py")
        with open(script, "w") as f:
            f.write(EXT_SCRIPT)
        out = self.path("ext.folded")
        # The default, --unwind auto: interpreters without frame pointers have their stacks
        # copied. Debian's 3.15 keeps them (CPython builds with them from 3.15): walked by
        # frame pointers, the extension's own frames (built without) mended by DWARF.
        r = self.record(["-r", "499", "-v", "-o", out, "--", python, script, ext_dir, "2"])
        if is_sid(python) and python_version(python) >= (3, 15):
            self.assertIn("--unwind auto: 0 processes without frame pointers", r.stderr)
        else:
            self.assertRegex(r.stderr, r"--unwind auto: [1-9]\d* processes without frame pointers")
        self.assertIn("Python (CPython %d.%d" % python_version(python)[:2], r.stderr)
        stacks = read_folded(out)
        n = self.python_samples(r.stderr, stacks)

        def merged(frames):
            """<module> ... caller, then hearthext_spin -> ext_spin -> ext_helper at the leaf, in that order."""
            k = len(frames)
            return (k >= 5 and list(frames[k - 3:]) == ["hearthext_spin", "ext_spin", "ext_helper"]
                    and frames[k - 4].startswith("caller (") and frames[k - 4].endswith(":%d)" % CALLER_LINE)
                    and any(f.startswith("<module> (") for f in frames[:k - 4]))

        good = sum(c for f, c in stacks.items() if merged(f))
        self.assertGreater(good / n, 0.9, "merged stacks: %d of %d; top: %s"
                           % (good, n, sorted(stacks.items(), key=lambda kv: -kv[1])[:3]))

        # --native: every native frame in true order, each evaluation loop replaced by its Python frames.
        out = self.path("native.folded")
        r = self.record(["--native", "-r", "499", "-v", "-o", out, "--", python, script, ext_dir, "2"])
        stacks = read_folded(out)
        n = self.python_samples(r.stderr, stacks)

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
        def laid_out(names):
            if names.count("[native stack]") != 1:
                return False
            at = names.index("[native stack]")
            # A Python frame whose code object was freed before it was read
            # (a module's body after its import) is "<unknown>".
            return (at > 1 and all(" (" in f or f.startswith("[") or f == "<unknown>" for f in names[1:at])
                    and not any(" (" in f and f.endswith(")") and ".py:" in f for f in names[at + 1:]))

        bad = sorted(((c, f) for f, c in unpaired.items() if not laid_out(list(f))), reverse=True)
        self.assertEqual(bad, [], "unpaired stacks not laid out as Python, [native stack], native")

        # Python -> C -> Python: two activations (also on 3.11+, where Python calls Python in one).
        r = self.record(["--native", "-r", "499", "-v", "-o", out, "--", python, script, ext_dir, "2", "callback"])
        stacks = read_folded(out)
        n = self.python_samples(r.stderr, stacks)

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
        n = self.python_samples(r.stderr, stacks)
        mismatch, unentered = map(int, re.search(r"(\d+) whose loop activations.*?(\d+) with the innermost loop "
                                                 r"entering", r.stderr).groups())
        sys.stderr.write("%s --native, calls: %d of %d samples entering or leaving the loop, %d not paired\n"
                         % (python, unentered, n, mismatch))
        self.assertLess(mismatch, 0.01 * n, r.stderr)
        if python_version(python) < (3, 11):
            self.assertGreater(unentered, 0, r.stderr)
        loop = "PyEval_EvalFrameEx" if python_version(python)[0] == 2 else "_PyEval_EvalFrameDefault"
        native_loop, bad = 0, []
        for frames, count in stacks.items():
            names = list(frames)
            py = [i for i, f in enumerate(names) if ".py:" in f]
            loops = [i for i, f in enumerate(names) if f == loop]
            if py and loops and names[0] != "[Python and native stacks not paired]":
                native_loop += count
                # One loop left, the innermost activation, above every Python frame.
                if len(loops) != 1 or loops[0] < py[-1]:
                    bad.append((count, frames))
        self.assertEqual(sorted(bad, reverse=True)[:3], [], "native loops left in the wrong place")
        self.assertEqual(native_loop, unentered)


def add_interpreter_tests():
    for label, python in interpreters():
        def test(self, python=python):
            self.check_extension(python)
        setattr(PythonNative, "test_extension_" + label.replace(".", "_").replace("-", "_"), test)


add_interpreter_tests()

if __name__ == "__main__":
    unittest.main(verbosity=2)
