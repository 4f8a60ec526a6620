# SPDX-License-Identifier: MIT
"""hearth record on CPython processes (pyenv 2.7, 3.6-3.13 and Debian's
/usr/bin/python3.11) running examples/pyburn.py, whose profile is known:

- the main thread's CPU splits 50/30/20 over Outer.Inner.burn_a, burn_b (under a
  recursion) and gen_c (a generator under a lambda), each hot on one marked line;
- a second thread burns spin (under a comprehension) and zlib (under
  compress_step, which releases the GIL while zlib runs);
- other modes: a 1000-deep recursion, threads started and ended all the time.

Checked: shares within 5 points, the hot lines exact, qualnames on 3.11+,
stacks complete to <module> (main thread) or threading's _bootstrap, the
thread split, --gil, --function, --full-filenames, truncation of deep stacks,
thread churn and a target exiting mid-recording. An interpreter that is not
installed is skipped; BPF tests fail rather than skip under CI."""

import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (SOURCE_ROOT, BpfTestCase, interpreters, python_version,  # noqa: E402
                        read_folded, require_interpreter, total)

PYBURN = os.path.join(SOURCE_ROOT, "examples", "pyburn.py")


def hot_lines():
    """{name: line} of the lines marked '# HOT:name' in pyburn.py."""
    lines = {}
    with open(PYBURN) as f:
        for i, text in enumerate(f, 1):
            m = re.search(r"# HOT:(\w+)", text)
            if m:
                lines[m.group(1)] = i
    return lines


def def_line(name):
    with open(PYBURN) as f:
        for i, text in enumerate(f, 1):
            if text.strip().startswith("def %s(" % name):
                return i
    raise KeyError(name)


HOT = hot_lines()
LABEL = re.compile(r"^(.*) \((.*):(\d+)\)$")


def parse(label):
    """(name, file, line) of a Python frame label, or None for other frames."""
    m = LABEL.match(label)
    if not m:
        return None
    return m.group(1), m.group(2), int(m.group(3))


def py_frames(frames):
    """The Python frames of a stack (root first) as (name, file, line)."""
    return [p for p in (parse(f) for f in frames) if p]


def bare(name):
    """A qualname's last part: what CPython before 3.11 calls the function."""
    return name.rsplit(".", 1)[-1]


def thread_of(frames):
    m = re.search(r"\(tid (\d+)\)$", frames[0])
    return int(m.group(1)) if m else None


class PythonRecord(BpfTestCase):
    def start(self, python, seconds, mode, wait=1.0):
        p = self.spawn([python, PYBURN, str(seconds), mode], stdout=subprocess.DEVNULL)
        time.sleep(wait)  # past start-up: imports and building the zlib input
        self.assertIsNone(p.poll(), "%s exited early" % python)
        return p

    def check_mix(self, label, python):
        require_interpreter(self, python)
        version = python_version(python)
        qual = version >= (3, 11)
        p = self.start(python, 20, "mix")
        out = self.path("mix.folded")
        r = self.record(["-p", str(p.pid), "-d", "5", "-r", "999", "--threads", "-v", "-o", out])
        self.assertIn("Python (CPython %d.%d.%d)" % version, r.stderr)
        stacks = read_folded(out)
        main = {k: c for k, c in stacks.items() if thread_of(k) == p.pid}
        worker = {k: c for k, c in stacks.items() if thread_of(k) not in (None, p.pid)}
        self.assertGreater(total(main), 1000, r.stderr)
        self.assertGreater(total(worker), 500, r.stderr)

        # Complete stacks: the main thread's start at <module>, the worker's in threading.
        for name, part, root in (("main", main, "<module>"), ("worker", worker, "_bootstrap")):
            pyst = {k: c for k, c in part.items() if py_frames(k)}
            # 2.7 calls it Thread.__bootstrap.
            complete = sum(c for k, c in pyst.items() if bare(py_frames(k)[0][0]).lstrip("_") == root.lstrip("_"))
            self.assertGreaterEqual(complete, 0.99 * total(part),
                                    "%s thread: %d of %d samples reach %s" % (name, complete, total(part), root))

        # Shares and hot lines of the main thread, by leaf Python frame.
        want = {"burn_a": 0.5, "burn_b": 0.3, "gen_c": 0.2}
        names = {"burn_a": "Outer.Inner.burn_a" if qual else "burn_a", "burn_b": "burn_b", "gen_c": "gen_c"}
        leaf = {}
        for k, c in main.items():
            pf = py_frames(k)
            key = (pf[-1][0], pf[-1][2]) if pf else ("", 0)
            leaf[key] = leaf.get(key, 0) + c
        burned = {f: sum(c for (n, _), c in leaf.items() if n == names[f]) for f in want}
        self.assertGreaterEqual(sum(burned.values()), 0.9 * total(main), leaf)
        for f, share in want.items():
            got = burned[f] / sum(burned.values())
            self.assertAlmostEqual(got, share, delta=0.05, msg="%s: %.3f of the main thread" % (f, got))
            on_hot = leaf.get((names[f], HOT[f[-1]]), 0)
            self.assertGreaterEqual(on_hot, 0.95 * burned[f], "%s: %d of %d samples on line %d: %s" % (
                f, on_hot, burned[f], HOT[f[-1]], leaf))

        # Call chains, root first, as names.
        def chain_count(part, chain):
            n = 0
            for k, c in part.items():
                names_ = [x[0] for x in py_frames(k)]
                if any(names_[i:i + len(chain)] == chain for i in range(len(names_))):
                    n += c
            return n

        self.assertGreater(chain_count(main, ["<module>", "main", "mix", names["burn_a"]]), 0)
        self.assertGreater(chain_count(main, ["mix"] + ["recurse"] * 6 + ["burn_b"]), 0)
        self.assertGreater(chain_count(main, ["mix", "<lambda>", "gen_c"]), 0)
        if (3, 0) <= version < (3, 12):
            comp = "worker.<locals>.<listcomp>" if qual else "<listcomp>"
            self.assertGreater(chain_count(worker, ["worker", comp, "spin"]), 0)
        else:
            self.assertGreater(chain_count(worker, ["worker", "spin"]), 0)  # inlined (2.7, 3.12+)

        # The thread split: no function of one thread in the other's samples.
        for k in main:
            self.assertFalse({"spin", "compress_step"} & {x[0] for x in py_frames(k)}, k)
        for k in worker:
            self.assertFalse({names["burn_a"], "burn_b", "gen_c"} & {x[0] for x in py_frames(k)}, k)

        # zlib's time is under its Python caller, on the calling line.
        zlib = sum(c for k, c in worker.items()
                   if py_frames(k) and py_frames(k)[-1][0] == "compress_step"
                   and py_frames(k)[-1][2] == HOT["zlib"])
        self.assertGreater(zlib, 0.05 * total(worker), "compress_step: %d of %d" % (zlib, total(worker)))

        # --gil: zlib runs without the GIL, so most of its samples disappear.
        gil_out = self.path("gil.folded")
        r = self.record(["-p", str(p.pid), "-d", "3", "-r", "999", "--threads", "--gil", "-v", "-o", gil_out])
        self.assertIn("--gil:", r.stderr)
        gil = read_folded(gil_out)
        gil_zlib = sum(c for k, c in gil.items()
                       if py_frames(k) and py_frames(k)[-1][0] == "compress_step")
        self.assertGreater(total(gil), 500, r.stderr)
        # compress_step holds the GIL for its own part (DATA * 4, the output
        # buffer), so its share falls by half or more, not to nothing.
        sys.stderr.write("--gil: compress_step %.3f of all samples, %.3f without --gil\n"
                         % (gil_zlib / total(gil), zlib / total(stacks)))
        self.assertLess(gil_zlib / total(gil), 0.5 * zlib / total(stacks),
                        "--gil kept %d of %d in zlib" % (gil_zlib, total(gil)))
        self.assertTrue(all(py_frames(k) for k in gil), "--gil kept samples without Python frames")

        # --function: one frame per function, on its first line; --full-filenames.
        fn_out = self.path("fn.folded")
        self.record(["-p", str(p.pid), "-d", "1", "--function", "--full-filenames", "-o", fn_out])
        fn = read_folded(fn_out)
        a_lines = {x[2] for k in fn for x in py_frames(k) if x[0] == names["burn_a"]}
        self.assertEqual(a_lines, {def_line("burn_a")})
        files = {x[1] for k in fn for x in py_frames(k) if bare(x[0]).endswith("_bootstrap")}
        self.assertTrue(files and all(os.path.isabs(f) and f.endswith("threading.py") for f in files), files)
        short = {x[1] for k in stacks for x in py_frames(k) if bare(x[0]).endswith("_bootstrap")}
        self.assertEqual(short, {"threading.py"})

    def check_modes(self, label, python):
        require_interpreter(self, python)
        # A 1000-deep recursion: the innermost 128 frames and a [truncated] root.
        out = self.path("deep.folded")
        r = self.record(["-r", "499", "-v", "-o", out, "--", python, PYBURN, "3", "deep"])
        stacks = read_folded(out)
        deep = {k: c for k, c in stacks.items() if py_frames(k) and py_frames(k)[-1][0] == "deep"}
        self.assertGreater(total(deep), 0.8 * total(stacks), r.stderr)
        # Shallower stacks only while the recursion builds up and unwinds.
        cut = {k: c for k, c in deep.items() if k[0] == "[truncated]"}
        self.assertGreaterEqual(total(cut), 0.95 * total(deep), [k[:3] for k in deep if k not in cut])
        for k in cut:
            self.assertEqual(len(py_frames(k)), 128)
        on_hot = sum(c for k, c in deep.items() if py_frames(k)[-1][2] == HOT["deep"])
        self.assertGreaterEqual(on_hot, 0.95 * total(deep))
        m = re.search(r"hearth: Python \(.*, (\d+) truncated", r.stderr)
        self.assertGreaterEqual(int(m.group(1)), total(cut), r.stderr)

        # Threads started and ended all the time, found as they come.
        out = self.path("churn.folded")
        r = self.record(["-r", "499", "-v", "-o", out, "--", python, PYBURN, "3", "churn"])
        stacks = read_folded(out)
        churn = sum(c for k, c in stacks.items()
                    if [bare(x[0]) for x in py_frames(k)][-2:] == ["churn_one", "spin"])
        self.assertGreater(churn, 0.8 * total(stacks), "%s\n%s" % (r.stderr, sorted(stacks.items(), key=lambda x: -x[1])[:5]))

        # A target that exits mid-recording: the profile is still written.
        p = self.start(python, 2, "mix", wait=0.5)
        out = self.path("exit.folded")
        t0 = time.time()
        r = self.record(["-p", str(p.pid), "-d", "30", "-o", out])
        self.assertLess(time.time() - t0, 10)
        stacks = read_folded(out)
        self.assertGreater(sum(c for k, c in stacks.items() if py_frames(k)), 50, r.stderr)


def add_interpreter_tests():
    for label, python in interpreters():
        name = label.replace(".", "_").replace("-", "_")

        def mix(self, label=label, python=python):
            self.check_mix(label, python)

        def modes(self, label=label, python=python):
            self.check_modes(label, python)
        setattr(PythonRecord, "test_mix_" + name, mix)
        setattr(PythonRecord, "test_modes_" + name, modes)


add_interpreter_tests()

if __name__ == "__main__":
    unittest.main(verbosity=2)
