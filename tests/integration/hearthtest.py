# SPDX-License-Identifier: MIT
"""Shared helpers for Hearth's integration tests: they run the real hearth
binary on real programs with known behaviour and check what the profile says.

Tests that need root and BPF skip when those are missing, except under CI
(CI set in the environment), where a missing capability is a failure."""

import os
import signal
import subprocess
import tempfile
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


# Every CPython the Python tests cover; one that is not installed is skipped.
PYENV_VERSIONS = ("2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18", "3.10.13", "3.11.7",
                  "3.12.1", "3.13.0")
SYSTEM_PYTHON = "/usr/bin/python3.11"


def pyenv_root():
    try:
        r = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=10)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))


def interpreters():
    """[(label, path)] of every interpreter the tests cover, present or not."""
    root = pyenv_root()
    found = [(v, os.path.join(root, "versions", v, "bin", "python")) for v in PYENV_VERSIONS]
    found.append(("system-3.11", SYSTEM_PYTHON))
    return found


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

    def record(self, args, timeout=60, check=True):
        """Run `hearth record ARGS`; returns the CompletedProcess."""
        r = subprocess.run([HEARTH, "record"] + args, capture_output=True, text=True,
                           timeout=timeout)
        if check:
            self.assertEqual(r.returncode, 0, "hearth record %s failed:\n%s" % (args, r.stderr))
        return r


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


def bpf_progs_named(name):
    """Ids of loaded BPF programs called NAME (bpftool truncates names to 15 chars)."""
    out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
    return [line.split(":")[0] for line in out.splitlines() if (" name %s " % name[:15]) in line]


def cpu_seconds(pid):
    """CPU time (user + system) PID's threads have used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
