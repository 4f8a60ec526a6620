# SPDX-License-Identifier: MIT
"""hearth record on CPython processes (pyenv 2.7, 3.6-3.13 and Debian's
/usr/bin/python3.11) running examples/pyburn.py, whose profile is known:

- the main thread's CPU splits about 50/30/20 over Outer.Inner.burn_a, burn_b (under
  a recursion) and gen_c (a generator under a lambda), each hot on one marked line;
  pyburn measures the split itself (its thread clock around each step), and the
  profile's shares are held to what it measured;
- a second thread burns spin (under a comprehension) and zlib (under
  compress_step, which releases the GIL while zlib runs);
- other modes: a 1000-deep recursion, threads started and ended all the time.

Checked: each thread's samples against the CPU it got, shares within four
binomial standard errors of the samples counted, the hot lines exact,
qualnames on 3.11+, stacks complete to <module> (main thread) or threading's
_bootstrap, each leaf under its one call chain, the thread split, --gil (no
sample kept in zlib's deflate, which runs without the GIL on every version),
--function, --full-filenames, truncation of deep stacks, thread churn and a
target exiting mid-recording. An interpreter that is not installed is
skipped, and fails under CI, as BPF tests do."""

import io
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (SOURCE_ROOT, BpfTestCase, interpreters, poisson_bounds,  # noqa: E402
                        python_version, read_folded, require_interpreter, total,
                        try_cpu_seconds, wait_for_threads)

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


def in_pyburn(stacks):
    """The samples with a frame of pyburn.py."""
    return {k: c for k, c in stacks.items() if any(f[1].endswith("pyburn.py") for f in py_frames(k))}


def thread_of(frames):
    m = re.search(r"\(tid (\d+)\)$", frames[0])
    return int(m.group(1)) if m else None


class PythonRecord(BpfTestCase):
    def start(self, python, seconds, mode, wait=1.0, env=None):
        p = self.spawn([python, PYBURN, str(seconds), mode], stdout=subprocess.DEVNULL,
                       env=dict(os.environ, **(env or {})))
        time.sleep(wait)  # past start-up: imports and building the zlib input
        self.assertIsNone(p.poll(), "%s exited early" % python)
        return p

    def spent_while_sampled(self, log, p):
        """The CPU seconds pyburn's mix spent in each step between its two reports to LOG (the
        SIGUSR1s sent when sampling started and stopped; the second is handled once the main
        thread next runs Python)."""
        deadline = time.time() + 30
        lines = []
        while len(lines) < 2 and time.time() < deadline and p.poll() is None:
            with open(log) if os.path.exists(log) else io.StringIO() as f:
                lines = f.read().splitlines()
            time.sleep(0.05)
        self.assertEqual(len(lines), 2, "pyburn's CPU reports in %s: %s" % (log, lines))
        a, b = ({k: float(v) for k, v in (x.split("=") for x in line.split())} for line in lines)
        spent = {k: b[k] - a[k] for k in a}
        sys.stderr.write("mix steps' CPU while sampled: %s\n" % ", ".join(
            "%s %.3f s" % kv for kv in sorted(spent.items())))
        return spent

    def check_bad(self, what, bad, n, least=2, share=0.01):
        """BAD: [(count, frames)] of samples that break a property N samples should have: a few
        (walks racing the interpreter) at most, the worst shown."""
        worst = sorted(bad, key=lambda x: -x[0])[:4]
        self.assertLessEqual(sum(c for c, _ in bad), max(least, share * n), "%s: %d of %d samples: %s" % (
            what, sum(c for c, _ in bad), n, "; ".join("%d x %s" % (c, ";".join(k)) for c, k in worst)))

    def check_mix(self, label, python):
        require_interpreter(self, python)
        version = python_version(python)
        qual = version >= (3, 11)
        spent_log = self.path("spent.log")
        p = self.start(python, 30, "mix", env={"PYBURN_CPU_LOG": spent_log})
        wait_for_threads(p.pid, 2, timeout=30)
        tids = [int(t) for t in os.listdir("/proc/%d/task" % p.pid)]
        self.assertEqual(len(tids), 2, "pyburn mix runs two threads: %s" % tids)
        worker_tid = max(t for t in tids if t != p.pid)
        threads = {"main": "%d/task/%d" % (p.pid, p.pid), "worker": "%d/task/%d" % (p.pid, worker_tid)}
        out = self.path("mix.folded")
        before = {name: try_cpu_seconds(t) for name, t in threads.items()}
        r = self.record_live(["-p", str(p.pid), "-d", "5", "-r", "999", "--threads", "-o", out],
                             threads.values(), on_start=lambda rec: os.kill(p.pid, signal.SIGUSR1),
                             on_end=lambda rec: os.kill(p.pid, signal.SIGUSR1))
        # The CPU of all of hearth's run, for the high bounds: hearth's lines are read late on a busy machine.
        whole = {name: try_cpu_seconds(t) - before[name] for name, t in threads.items()}
        self.assertIn("Python (CPython %d.%d.%d)" % version, r.stderr)
        spent = self.spent_while_sampled(spent_log, p)
        stacks = read_folded(out)
        main = {k: c for k, c in stacks.items() if thread_of(k) == p.pid}
        worker = {k: c for k, c in stacks.items() if thread_of(k) == worker_tid}
        # Each thread's samples: the CPU it got while sampled (its own, from /proc), at 999 Hz.
        for name, part in (("main", main), ("worker", worker)):
            self.assertSampled(total(part), r.cpu(threads[name]), r, "%s thread" % name,
                               switches=r.switches(threads[name]), high_cpu=whole[name])
        self.assertEqual(total(main) + total(worker), total(stacks), "samples of other threads")

        # Complete stacks: the main thread's start at <module>, the worker's in threading.
        for name, part, root in (("main", main, "<module>"), ("worker", worker, "_bootstrap")):
            # 2.7 calls it Thread.__bootstrap.
            bad = [(c, k) for k, c in part.items()
                   if not py_frames(k) or bare(py_frames(k)[0][0]).lstrip("_") != root.lstrip("_")]
            self.check_bad("%s thread: stacks not from %s" % (name, root), bad, total(part))

        # Shares and hot lines of the main thread, by leaf Python frame, against the CPU the
        # thread spent in each step while sampled (its own clock): 50/30/20 by the steps' count,
        # but a step that waits for the GIL (2.7's waits spin in the kernel) costs more.
        want = {f: spent[f] / sum(spent.values()) for f in spent}
        names = {"burn_a": "Outer.Inner.burn_a" if qual else "burn_a", "burn_b": "burn_b", "gen_c": "gen_c"}
        leaf = {}
        for k, c in main.items():
            pf = py_frames(k)
            key = (pf[-1][0], pf[-1][2]) if pf else ("", 0)
            leaf[key] = leaf.get(key, 0) + c
        burned = {f: sum(c for (n, _), c in leaf.items() if n == names[f]) for f in want}
        self.assertGreaterEqual(sum(burned.values()), 0.9 * total(main), leaf)
        for f, share in want.items():
            self.assertShare(burned[f] / sum(burned.values()), share, sum(burned.values()),
                             "%s of the main thread's burn samples" % f)
            on_hot = leaf.get((names[f], HOT[f[-1]]), 0)
            self.assertGreaterEqual(on_hot, 0.95 * burned[f], "%s: %d of %d samples on line %d: %s" % (
                f, on_hot, burned[f], HOT[f[-1]], leaf))

        # Call chains, root first, as names: every sample of a leaf under its one chain.
        def names_of(k):
            return [x[0] for x in py_frames(k)]

        def has(names_, chain):
            return any(names_[i:i + len(chain)] == chain for i in range(len(names_)))

        if (3, 0) <= version < (3, 12):
            spin_chain = ["worker", "worker.<locals>.<listcomp>" if qual else "<listcomp>", "spin"]
        else:
            spin_chain = ["worker", "spin"]  # inlined (2.7, 3.12+)
        for part, leaf_name, chain in (
                (main, names["burn_a"], ["<module>", "main", "mix", names["burn_a"]]),
                (main, "burn_b", ["mix"] + ["recurse"] * 6 + ["burn_b"]),
                (main, "gen_c", ["mix", "<lambda>", "gen_c"]),
                (worker, "spin", spin_chain),
                (worker, "compress_step", ["worker", "compress_step"])):
            mine = {k: c for k, c in part.items() if names_of(k)[-1:] == [leaf_name]}
            self.assertGreater(total(mine), 0, "no samples in %s: %s" % (leaf_name, leaf))
            bad = [(c, k) for k, c in mine.items() if not has(names_of(k), chain)]
            self.check_bad("%s not under %s" % (leaf_name, ";".join(chain)), bad, total(mine))

        # The thread split: no function of one thread in the other's samples.
        for part, theirs in ((main, {"spin", "compress_step"}), (worker, {names["burn_a"], "burn_b", "gen_c"})):
            bad = [(c, k) for k, c in part.items() if theirs & set(names_of(k))]
            self.assertEqual(bad, [], "the other thread's functions in these samples")

        # zlib's time is under its Python caller, on the calling line.
        zlib = {k: c for k, c in worker.items() if names_of(k)[-1:] == ["compress_step"]}
        bad = [(c, k) for k, c in zlib.items() if py_frames(k)[-1][2] != HOT["zlib"]]
        self.check_bad("compress_step off its zlib line %d" % HOT["zlib"], bad, total(zlib))

        self.check_gil(p, worker_tid)

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

    def check_gil(self, p, worker_tid):
        """--gil keeps a sample only when its thread holds the GIL at that moment. zlib.compress
        drops the GIL around each call of zlib's deflate() on every version tested (2.7.18's
        PyZlib_compress as 3.6-3.13's zlib_compress_impl: PyEval_SaveThread, deflate,
        PyEval_RestoreThread), so with --native, where deflate is a frame, no sample kept by --gil
        may be in deflate, while without --gil deflate takes a good part of the worker's time."""
        native_out, gil_out = self.path("native.folded"), self.path("gil.folded")
        r = self.record_live(["-p", str(p.pid), "-d", "3", "-r", "999", "--threads", "--native",
                              "-o", native_out])
        native = read_folded(native_out)
        in_deflate = {k: c for k, c in native.items() if "deflate" in k}
        # Each deflate sample under compress_step, on its zlib line (the Python frames in a native stack).
        bad = [(c, k) for k, c in in_deflate.items()
               if not py_frames(k) or py_frames(k)[-1][0] != "compress_step" or py_frames(k)[-1][2] != HOT["zlib"]]
        self.check_bad("deflate not under compress_step's zlib line", bad, total(in_deflate))
        deflate_share = total(in_deflate) / max(1, total(native))

        r = self.record_live(["-p", str(p.pid), "-d", "3", "-r", "999", "--threads", "--native", "--gil",
                              "-o", gil_out])
        gil = read_folded(gil_out)
        left_out = int(re.search(r"--gil: (\d+) samples left out", r.stderr).group(1))
        gil_deflate = [(c, k) for k, c in gil.items() if "deflate" in k]
        sys.stderr.write("--gil: %d samples kept, %d left out, %d in deflate; without --gil %d of %d in deflate\n"
                         % (total(gil), left_out, sum(c for c, _ in gil_deflate), total(in_deflate), total(native)))
        # Had --gil kept deflate's samples, this many would be there: enough that none is no accident.
        expected = deflate_share * (total(gil) + left_out)
        self.assertGreater(expected, 10, "too little deflate to tell: %d of %d samples" % (
            total(in_deflate), total(native)))
        self.assertEqual(gil_deflate, [], "--gil kept samples in deflate, which runs without the GIL "
                         "(%.0f expected without the filter)" % expected)
        # One thread holds the GIL at a time: at most one CPU's samples.
        elapsed = float(re.search(r"samples in ([\d.]+) s", r.stderr).group(1)) + 0.05
        self.assertLessEqual(total(gil), poisson_bounds(999 * elapsed)[1], "more than one CPU's samples: " + r.stderr)
        # Kept samples run Python: each has Python frames. A walk racing the interpreter may
        # find a frame whose code object it cannot read ("<unknown>"): a few such, no more.
        bad = [(c, k) for k, c in gil.items() if not py_frames(k)]
        self.assertEqual([x for x in bad if "<unknown>" not in x[1]], [], "--gil kept samples without Python frames")
        self.check_bad("--gil samples whose only Python frames are unreadable", bad, total(gil))
        self.assertEqual({thread_of(k) for k in gil} - {p.pid, worker_tid}, set())

    def check_modes(self, label, python):
        require_interpreter(self, python)
        # A 1000-deep recursion: the innermost 128 frames and a [truncated] root.
        out = self.path("deep.folded")
        r = self.record(["-r", "499", "-v", "-o", out, "--", python, PYBURN, "3", "deep"])
        stacks = read_folded(out)
        deep = {k: c for k, c in stacks.items() if py_frames(k) and py_frames(k)[-1][0] == "deep"}
        # Of pyburn's own samples (the interpreter's start-up takes the same CPU however little
        # a busy machine leaves the 3 s of the recursion).
        self.assertGreater(total(deep), 0.8 * total(in_pyburn(stacks)), r.stderr)
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
        self.assertGreater(churn, 0.8 * total(in_pyburn(stacks)),
                           "%s\n%s" % (r.stderr, sorted(stacks.items(), key=lambda x: -x[1])[:5]))

        # A target that exits mid-recording, a second after sampling started (not after a fixed
        # time of its own, which a slow start of hearth's can use up): the profile is still written.
        p = self.start(python, 60, "mix", wait=0.5)
        out = self.path("exit.folded")

        def end_target(rec):
            time.sleep(1)
            p.terminate()
        r = self.record_live(["-p", str(p.pid), "-d", "30", "-o", out], [p.pid], on_start=end_target)
        self.assertLess(float(re.search(r"samples in ([\d.]+) s", r.stderr).group(1)), 10, r.stderr)
        _, _, usage = os.wait4(p.pid, 0)
        stacks = read_folded(out)
        # Its CPU from when sampling started to its end (wait4), at 99 Hz; Python stacks but for
        # the interpreter's exit.
        self.assertSampled(total(stacks), usage.ru_utime + usage.ru_stime - r.start[p.pid], r, r.stderr)
        self.check_bad("samples without Python frames", [(c, k) for k, c in stacks.items() if not py_frames(k)],
                       total(stacks), share=0.05)


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
