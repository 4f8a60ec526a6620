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
