# SPDX-License-Identifier: MIT
"""Shared helpers for Hearth's integration tests: they run the real hearth
binary on real programs with known behaviour and check what the profile says.

Tests that need root and BPF skip when those are missing, except under CI
(CI set in the environment), where a missing capability is a failure."""

import hashlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HEARTH = os.environ.get("HEARTH", "build/cli/hearth")
CPUBURN = os.environ.get("CPUBURN", "build/examples/cpuburn")
KERNELBURN = os.environ.get("KERNELBURN", "build/tests/workloads/kernelburn")
SOURCE_ROOT = os.environ.get("SOURCE_ROOT", os.getcwd())

# The bundled workload's chains (cpuburn.c), root first from run(), which the
# main thread calls from main and extra threads from worker_main.
CHAIN_A = ["run", "path_a", "burn_a"]
CHAIN_B = ["run", "path_b", "middle_b", "burn_b"]
CHAIN_C = ["run", "burn_c"]


# Every CPython the Python tests cover: these pyenv versions, whatever else pyenv has
# installed, and Debian's python3 (which scripts/test installs). Under CI one of these
# missing is a failure (require_interpreter), so a run cannot pass on one interpreter.
PYENV_VERSIONS = ("2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18", "3.10.13", "3.11.7",
                  "3.12.1", "3.13.0")
SYSTEM_PYTHON = "/usr/bin/python3.11"


# Today's CPythons come from Debian unstable, in a root of their own (scripts/lib.sh
# ensure_sid_root, which scripts/test calls): 3.13's patch releases, 3.14 and 3.15.
SID_ROOT = os.environ.get("HEARTH_SID_ROOT", "/var/cache/hearth/sid-root")
SID_MINORS = ("3.13", "3.14", "3.15")
# One folder of wrappers per checkout: a wrapper binds its checkout into the root.
SID_WRAPPERS = os.path.join(tempfile.gettempdir(), "hearth-sid-%d-%s" % (
    os.getuid(), hashlib.md5(os.path.abspath(SOURCE_ROOT).encode()).hexdigest()[:8]))

# Runs a program of the root as a container runs one: chroot'ed, in a mount namespace
# of its own (the same pid all along: unshare and sh exec), with the host's /tmp and the
# checkout bound at the same paths, so scripts, workloads and logs keep their names.
SID_WRAPPER = """#!/bin/sh
# Made by tests/integration/hearthtest.py: %(prog)s of the Debian unstable root.
exec unshare -m --propagation private sh -c '
root=$1; src=$2; shift 2
mount --bind /tmp "$root/tmp" && mount -t proc proc "$root/proc" || exit 125
case "$src" in /tmp/*) ;; *) mkdir -p "$root$src" && mount --bind "$src" "$root$src" || exit 125 ;; esac
exec chroot "$root" %(prog)s "$@"' sh %(root)s %(src)s "$@"
"""


def sid_versions():
    """{"3.14": "3.14.10-1", ...}: what the root was made with (its VERSIONS file); {} without it."""
    try:
        with open(os.path.join(SID_ROOT, "VERSIONS")) as f:
            return dict(line.split() for line in f if line.strip())
    except OSError:
        return {}


def sid_failure():
    """Why the root could not be made today (scripts/lib.sh wrote it), or None."""
    try:
        with open(SID_ROOT + ".failed") as f:
            return f.read().strip() or "unknown reason"
    except OSError:
        return None


def sid_program(prog):
    """The path of a host-side wrapper that runs PROG (an absolute path in the root) there."""
    os.makedirs(SID_WRAPPERS, exist_ok=True)
    path = os.path.join(SID_WRAPPERS, os.path.basename(prog))
    text = SID_WRAPPER % {"prog": prog, "root": SID_ROOT, "src": os.path.abspath(SOURCE_ROOT)}
    try:
        with open(path) as f:
            if f.read() == text:
                return path
    except OSError:
        pass
    tmp = "%s.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path


def sid_inner(arg):
    """ARG as the root sees it: a wrapper sid_program() made stands for its program there."""
    if os.path.dirname(arg) == SID_WRAPPERS:
        with open(arg) as f:
            m = re.search(r"^# Made by tests/integration/hearthtest.py: (\S+) of", f.read(), re.M)
        if m:
            return m.group(1)
    return arg


def is_sid(python):
    return os.path.dirname(python) == SID_WRAPPERS


def compiler_for(python):
    """The C compiler that builds extensions for PYTHON: the root's own for its interpreters."""
    return sid_program("/usr/bin/gcc") if is_sid(python) else "gcc"


def pyenv_root():
    try:
        r = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=10)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))


def _version_key(v):
    return tuple(int(x) if x.isdigit() else 0 for x in re.split(r"[.-]", v))


def interpreters():
    """[(label, path)] of every interpreter the tests cover, present or not: the listed pyenv
    versions and any other in $(pyenv root)/versions, oldest first, then Debian's."""
    root = pyenv_root()
    versions = set(PYENV_VERSIONS)
    try:
        versions |= {v for v in os.listdir(os.path.join(root, "versions"))
                     if os.path.exists(os.path.join(root, "versions", v, "bin", "python"))}
    except OSError:
        pass
    found = [(v, os.path.join(root, "versions", v, "bin", "python")) for v in sorted(versions, key=_version_key)]
    found.append(("system-3.11", SYSTEM_PYTHON))
    # Debian unstable's: a wrapper each, made only for what the root has, so one missing fails.
    have = sid_versions()
    for minor in SID_MINORS:
        path = os.path.join(SID_WRAPPERS, "python" + minor)
        if minor in have and os.access(os.path.join(SID_ROOT, "usr/bin/python" + minor), os.X_OK):
            path = sid_program("/usr/bin/python" + minor)
        found.append(("sid-" + minor, path))
    return found


def require_interpreter(test, python):
    """Skip TEST when PYTHON is not installed, with a message; under CI fail instead. Debian
    unstable's are skipped, CI or not, only when its root could not be made today (the archive
    refused it: scripts/test's closing line says so)."""
    if os.path.exists(python):
        return
    if is_sid(python) and not sid_versions() and sid_failure():
        test.skipTest("no Debian unstable root today: %s" % sid_failure())
    if os.environ.get("CI"):
        test.fail("%s is not installed and CI is set: every interpreter must be tested" % python)
    test.skipTest("%s is not installed" % python)


def python_version(python):
    """(major, minor, micro) of the interpreter at PYTHON."""
    out = subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
    return tuple(int(x) for x in out.split("."))


def bpf_missing_reason():
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "no kernel BTF"
    return None


class BpfTestCase(unittest.TestCase):
    """A test that needs root and BPF: skipped without them, failed under CI."""

    def setUp(self):
        reason = bpf_missing_reason()
        if reason:
            if os.environ.get("CI"):
                self.fail("BPF tests cannot run (%s) and CI is set" % reason)
            self.skipTest(reason)
        self.tmp = tempfile.TemporaryDirectory(prefix="hearth-test-")
        self.addCleanup(self.tmp.cleanup)
        self.children = []
        self.addCleanup(self.kill_children)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.children.append(p)
        return p

    def kill_children(self):
        for p in self.children:
            if p.poll() is None:
                p.kill()
                p.wait()
            for pipe in (p.stdin, p.stdout, p.stderr):
                if pipe:
                    pipe.close()

    def record_live(self, args, pids=(), timeout=60, on_start=None, on_end=None, check=True, env=None):
        """Run `hearth record -v ARGS` and take the CPU time PIDS use while sampled: from the
        line hearth prints once sampling runs to the one it prints once it stopped (hearth's
        start-up and its writing of the outputs left out).
        ON_START(recording) runs when sampling has started, ON_END(recording) once it has
        stopped. ENV: hearth's environment (and so a command's). Returns a LiveRecord."""
        rec = LiveRecord()
        rec.steal_start = steal_seconds()
        h = subprocess.Popen([HEARTH, "record", "-v"] + list(args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        rec.process = h
        self.children.append(h)
        watchdog = threading.Timer(timeout, h.kill)
        watchdog.start()
        out = []
        reader = threading.Thread(target=lambda: out.append(h.stdout.read()))
        reader.start()
        lines = []
        try:
            for line in h.stderr:
                lines.append(line)
                if rec.start is None and re.match(r"hearth: debug: recording .* at \d+ Hz$", line):
                    rec.start = {pid: try_cpu_seconds(pid) for pid in pids}
                    rec.start_switches = {pid: try_switches(pid) for pid in pids}
                    if on_start:
                        on_start(rec)
                elif rec.end is None and re.match(r"hearth: debug: sampling stopped after ", line):
                    rec.end = {pid: try_cpu_seconds(pid) for pid in pids}
                    rec.end_switches = {pid: try_switches(pid) for pid in pids}
                    if on_end:
                        on_end(rec)
            h.wait()
        finally:
            watchdog.cancel()
            reader.join()
        rec.steal_end = steal_seconds()
        rec.returncode, rec.stderr, rec.stdout = h.returncode, "".join(lines), "".join(out)
        if check:
            self.assertEqual(rec.returncode, 0, "hearth record %s failed:\n%s" % (args, rec.stderr))
            self.assertIsNotNone(rec.start, "no start of sampling in:\n" + rec.stderr)
            self.assertIsNotNone(rec.end, "no end of sampling in:\n" + rec.stderr)
        return rec

    def assertSampled(self, count, cpu, rec, msg="", switches=0, high_cpu=None):
        """COUNT samples of CPU seconds in recording REC (a LiveRecord). A random clock's count is
        Poisson-like: within four standard deviations of the rate times the CPU. Without IRQ time
        accounting in the kernel the sampler's own time is charged to the task it interrupts, so
        part of that CPU is hearth's: at most the BPF time per target sample hearth measured, for
        each sample (2-3% at 999 Hz, 0.3% at 99 Hz); the low bound leaves it out. (The ticks
        hearth counted are no better a rate: over a few seconds they are as noisy as the count.)
        Around a switch the kernel runs with interrupts off, so a tick due then is taken after
        it, of the next task: the low bound also leaves out SWITCHES (the times the task was put
        on a CPU, from schedstat) times SWITCH_LOSS. That matters for 2.7's GIL, whose two
        threads hand it over 3,000-15,000 times a second each, and little elsewhere (a few
        hundred a second). HIGH_CPU, when given, is the CPU of a window known to hold the
        sampling (all of hearth's run) for the high bound, which CPU alone would understate
        when the lines that bracket it are read late.
        This guest's kernel takes the time the hypervisor ran something else (steal) out of a
        task's CPU time, but the sampler's clock runs on through it and ticks the task once it
        is back: the high bound adds the steal of all CPUs during hearth's run (none on an
        idle host; 15% of a thread's CPU was seen on a busy one)."""
        rate = float(re.search(r" samples in [\d.]+ s at (\d+) Hz", rec.stderr).group(1))
        m = re.search(r"([\d.]+) us per target sample", rec.stderr)
        own = (count * float(m.group(1)) if m else 0.0) / 1e6 + switches * SWITCH_LOSS
        expected = rate * cpu
        low = poisson_bounds(rate * max(0.0, cpu - own))[0]
        steal = rec.steal()
        high = poisson_bounds(rate * (max(cpu, high_cpu or 0.0) + steal))[1]
        sys.stderr.write("%d samples of %.3f s of CPU at %.0f Hz: %.0f expected (%.0f less the sampler's and "
                         "%d switches' %.3f s), %+.1f sigma; %.2f s stolen\n"
                         % (count, cpu, rate, expected, rate * (cpu - own), switches, own,
                            (count - expected) / math.sqrt(max(expected, 1.0)), steal))
        self.assertTrue(low <= count <= high, "%d samples, %.0f expected (%.3f s of CPU at %.0f Hz, %.3f s "
                        "of it the sampler's at most): outside %.0f..%.0f. %s"
                        % (count, expected, cpu, rate, own, low, high, msg))

    def assertShare(self, got, want, n, msg="", least=0.02):
        """A share GOT of N samples against the workload's truth WANT: four binomial standard
        errors, and LEAST for the workload's own variation."""
        delta = share_delta(want, n, least)
        self.assertTrue(abs(got - want) <= delta, "%.3f of %d samples, want %.3f +- %.3f. %s"
                        % (got, n, want, delta, msg))

    def record(self, args, timeout=60, check=True):
        """Run `hearth record ARGS`; returns the CompletedProcess."""
        r = subprocess.run([HEARTH, "record"] + args, capture_output=True, text=True,
                           timeout=timeout)
        if check:
            self.assertEqual(r.returncode, 0, "hearth record %s failed:\n%s" % (args, r.stderr))
        return r


class LiveRecord:
    """What BpfTestCase.record_live saw: returncode, stdout, stderr, the process, and each
    pid's CPU seconds when sampling started (start) and once it had stopped (end)."""

    def __init__(self):
        self.start = None
        self.end = None
        self.start_switches = {}
        self.end_switches = {}
        self.steal_start = self.steal_end = None

    def steal(self):
        """Seconds the hypervisor took from this guest's CPUs (all of them) during hearth's run,
        and a clock tick of each for the counters' granularity; 0 when not measured."""
        if self.steal_start is None or self.steal_end is None:
            return 0.0
        return self.steal_end - self.steal_start + os.cpu_count() / os.sysconf("SC_CLK_TCK")

    def switches(self, pid):
        """How many times PID's threads were put on a CPU while sampled (schedstat), or 0."""
        a, b = self.start_switches.get(pid), self.end_switches.get(pid)
        return b - a if a is not None and b is not None else 0

    def cpu(self, pid):
        """The CPU seconds PID used while sampled (0 for a pid that was gone at the start)."""
        a, b = self.start.get(pid), self.end.get(pid)
        return 0.0 if a is None else (b if b is not None else a) - a

    def command_cpu(self):
        """The CPU time `hearth record -v -- COMMAND` says the command used (wait4), or None."""
        m = re.search(r"used ([\d.]+) s of CPU", self.stderr)
        return float(m.group(1)) if m else None


# CPU time a switch can take from a task's samples (see assertSampled), measured on 2.7's mix
# (two threads handing the GIL over): 0.8 us a switch on an idle machine (1.8% of 3.27 s at
# 75,600 switches), 19-24 us with a busy loop on each CPU (11-17% of 2.1 s at 12,000-15,000).
SWITCH_LOSS = 30e-6


def poisson_bounds(expected, sigmas=4.0):
    """The range a Poisson-like count of mean EXPECTED stays in but for SIGMAS standard deviations
    (a random clock's samples: exponential intervals, spread just under the mean)."""
    s = sigmas * math.sqrt(max(expected, 1.0))
    return expected - s, expected + s


def share_delta(p, n, least=0.0):
    """A share's tolerance: four binomial standard errors of N samples, and at least LEAST."""
    return max(least, 4 * math.sqrt(p * (1 - p) / max(1, n)))


def read_folded(path):
    """{tuple(frames root first): count}"""
    stacks = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            text, _, count = line.rpartition(" ")
            frames = tuple(text.split(";"))
            stacks[frames] = stacks.get(frames, 0) + int(count)
    return stacks


def total(stacks):
    return sum(stacks.values())


def share(stacks, name):
    """Fraction of samples whose stack contains frame NAME (inclusive share)."""
    n = sum(c for frames, c in stacks.items() if name in frames)
    return n / max(1, total(stacks))


def has_chain(frames, chain):
    """True when CHAIN appears as a contiguous run of FRAMES."""
    k = len(chain)
    return any(list(frames[i:i + k]) == chain for i in range(len(frames) - k + 1))


def chain_share(stacks, chain):
    n = sum(c for frames, c in stacks.items() if has_chain(frames, chain))
    return n / max(1, total(stacks))


def wait_for_threads(pid, count, timeout=5.0):
    """Wait until PID has COUNT threads (so sampling starts on a warm process)."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            if len(os.listdir("/proc/%d/task" % pid)) >= count:
                return
        except FileNotFoundError:
            return
        time.sleep(0.05)


def bpf_progs_named(name, ours_only=False):
    """Ids of loaded BPF programs called NAME (bpftool truncates names to 15 chars). OURS_ONLY:
    leave out those a live process outside this test holds open (another profiler running on a
    shared machine); a program left behind by ours is held by no one, or by our children."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True).stdout
    ids = []
    for p in json.loads(out or "[]"):
        if p.get("name") != name[:15]:
            continue
        if ours_only:
            holders = prog_holders(p["id"])
            if holders and not any(is_descendant(pid, os.getpid()) for pid in holders):
                continue
        ids.append(str(p["id"]))
    return ids


def prog_holders(prog_id):
    """Pids with an fd open on BPF program PROG_ID (its fdinfo says prog_id)."""
    want = "prog_id:\t%d\n" % prog_id
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir("/proc/%s/fdinfo" % pid):
                with open("/proc/%s/fdinfo/%s" % (pid, fd)) as f:
                    if want in f.read():
                        pids.append(int(pid))
                        break
        except OSError:
            continue
    return pids


def is_descendant(pid, ancestor):
    """Whether PID is ANCESTOR or below it in the process tree (False once gone)."""
    for _ in range(64):
        if pid == ancestor:
            return True
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid <= 1:
            return False
    return False


def try_switches(pid):
    """How many times PID (or "PID/task/TID") has been put on a CPU: the third field of
    schedstat, summed over its threads for a process; None once it is gone."""
    try:
        tasks = [pid] if "/task/" in str(pid) else ["%s/task/%s" % (pid, t) for t in os.listdir("/proc/%s/task" % pid)]
        n = 0
        for t in tasks:
            with open("/proc/%s/schedstat" % t) as f:
                n += int(f.read().split()[2])
        return n
    except (OSError, IndexError, ValueError):
        return None


def steal_seconds():
    """The time the hypervisor has run something else on this guest's CPUs, all of them, so far
    (the steal column of /proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if fields[0] == "cpu" and len(fields) > 8 else 0.0


def try_cpu_seconds(pid):
    """cpu_seconds(PID), or None once PID is gone."""
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return None


def cpu_seconds(pid):
    """CPU time (user + system) PID's threads have used so far; PID may be "PID/task/TID" for
    one thread's."""
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
