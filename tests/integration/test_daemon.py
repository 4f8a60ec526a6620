# SPDX-License-Identifier: MIT
"""hearthd and hearth export: continuous profiling into the shared-memory ring.

- hearthd --all sees a C and a Python workload it was not told about, and
  `hearth export` gets their known shares back out of the ring, filtered by
  process name, PID and time window, in every format;
- a hearthd killed with SIGKILL and started again keeps the history;
- 1000 short-lived C processes and 60 Python ones: hearthd's fds and memory
  stay flat (what it knew of a process goes at its exit) and their samples land;
- with its control socket opened to all, hearthd's own credential check
  refuses nobody in one line, and serves a member of --control-group
  (supplementary or primary group);
- a reader racing the writer of a small ring for minutes (HEARTH_RACE_SECONDS):
  every export is self-consistent, readers the writer overtakes say so, and
  readers killed mid-read leave the daemon as it was;
- a ring that is not a ring, a symlink, a second daemon, bad flags and config
  lines: one line and a non-zero exit.
BPF tests fail rather than skip under CI."""

import grp
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (CPUBURN, HEARTH, SOURCE_ROOT, SYSTEM_PYTHON, BpfTestCase,  # noqa: E402
                        cpu_seconds, read_folded, share, share_delta, steal_seconds, total)

HEARTHD = os.environ.get("HEARTHD", os.path.join(os.path.dirname(HEARTH), "..", "daemon", "hearthd"))
PYBURN = os.path.join(SOURCE_ROOT, "examples", "pyburn.py")
CHECK_PPROF = os.path.join(SOURCE_ROOT, "tests", "tools", "check-pprof.py")

# What `hearth export -v` may say on stderr while the daemon writes, and nothing else.
SUMMARY_RE = re.compile(r"^hearth: (\d+) samples from (\d+) slots over [\d.]+ s, \d+ lost by the sampler, "
                        r"\d+ epochs$")
UNNAMED_RE = re.compile(r"^hearth: (\d+) samples of the oldest slots could not be named \(their stacks were "
                        r"overwritten\), (\d+) records overwritten while reading$")
# A reader the writer went round while it read: said, and nothing half-read kept.
LAPPED_RE = re.compile(r"^hearth: the writer overwrote every slot of the window while they were read \(\d+ times\)")
WROTE_RE = re.compile(r"^hearth: wrote (standard output|\S+) \((folded|pprof)\)$")


def ring_header(path):
    """The ring's header fields (docs/ring.md) as a dict."""
    with open(path, "rb") as f:
        raw = f.read(68)
    names = ("magic", "version", "header_size", "data_size", "created_ns", "head", "tail", "epoch",
             "heartbeat_ns", "writer_pid")
    return dict(zip(names, struct.unpack("<8sIIQQQQQQI", raw)))


def parse_folded(text):
    """{stack text: count} of folded output, failing on any malformed line."""
    stacks = {}
    for line in text.splitlines():
        frames, sep, count = line.rpartition(" ")
        if not sep or not count.isdigit() or int(count) <= 0:
            raise ValueError("bad count in folded line %r" % line)
        if any(not f for f in frames.split(";")):
            raise ValueError("empty frame name in folded line %r" % line)
        stacks[frames] = stacks.get(frames, 0) + int(count)
    return stacks


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    """Anonymous resident memory: what the daemon holds of its own. Its file-backed pages
    (ELF files the unwinder maps, a bounded cache) are shared and reclaimable."""
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^RssAnon:\s+(\d+)", f.read(), re.M).group(1))


def wait_cpu(p, timeout=60):
    """Wait for child P to exit; the CPU time (user + system) it and its children used."""
    deadline = time.time() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return ru.ru_utime + ru.ru_stime
        if time.time() > deadline:
            raise AssertionError("pid %d did not exit in %d s" % (p.pid, timeout))
        time.sleep(0.01)


def mine(stacks, p):
    """The stacks of child P's process."""
    return {k: c for k, c in stacks.items() if k[0].endswith("(pid %d)" % p.pid)}


def poisson_low(expected, sigmas=4):
    """A count of samples at random intervals this far below EXPECTED is a fault, not chance."""
    return expected - sigmas * expected ** 0.5


def poisson_high(expected, sigmas=4):
    return expected + sigmas * max(expected, 1) ** 0.5


class DaemonTestCase(BpfTestCase):
    def start_daemon(self, *args, ring=None, ring_size="16M"):
        """hearthd ARGS, up once its first line is out; its stderr goes to a file (daemon_log)."""
        ring = ring or self.path("hearth.ring")
        if "--control" not in args:
            args = args + ("--control", self.path("control-%d.sock" % len(self.children)))
        log = self.path("hearthd-%d.log" % len(self.children))
        with open(log, "w") as f:
            d = self.spawn([HEARTHD, "--ring", ring, "--ring-size", ring_size] + list(args), stderr=f)
        d.log = log
        d.sock = args[list(args).index("--control") + 1]
        deadline = time.time() + 60
        while "profiling" not in self.daemon_log(d):
            self.assertIsNone(d.poll(), "hearthd did not start: %s" % self.daemon_log(d))
            self.assertLess(time.time(), deadline, "hearthd did not start: %s" % self.daemon_log(d))
            time.sleep(0.02)
        return d, ring

    def daemon_log(self, d):
        with open(d.log) as f:
            return f.read()

    def assert_alive(self, d):
        self.assertIsNone(d.poll(), "hearthd exited with %s:\n%s" % (d.returncode, self.daemon_log(d)))

    def status(self, d):
        r = subprocess.run([HEARTH, "status", "--json", "--control", d.sock], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, "%s\nhearthd said:\n%s" % (r.stderr, self.daemon_log(d)))
        return json.loads(r.stdout)

    def wait_slots(self, d, after=None, slots=1):
        """Until the ring holds SLOTS more slots, or a slot that ends after AFTER (time.time()).
        The daemon's own timer paces it; the deadline is only a safety net."""
        st = self.status(d)
        first = st["slots"]
        deadline = time.time() + 60 + 30 * st["slot_length_s"]
        while True:
            self.assert_alive(d)
            st = self.status(d)
            if st["slots"] >= first + slots and (after is None or st["ring_newest_ns"] >= after * 1e9):
                return st
            self.assertLess(time.time(), deadline, "no new slot: %s\n%s" % (st, self.daemon_log(d)))
            time.sleep(0.05)

    def stop(self, d):
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait(timeout=30), 0, self.daemon_log(d))

    def export(self, ring, *args, check=True):
        r = subprocess.run([HEARTH, "export", "--ring", ring] + list(args), capture_output=True,
                           text=True, timeout=60)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
        return r


class Daemon(DaemonTestCase):
    def test_all_processes_into_the_ring(self):
        d, ring = self.start_daemon("--all", "-r", "199")
        t0 = time.time()
        burn = self.spawn([CPUBURN, "5"])
        python = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable
        py = self.spawn([python, PYBURN, "5"])
        burn_cpu = wait_cpu(burn)
        py_cpu = wait_cpu(py)
        t1 = time.time()
        self.wait_slots(d, after=t1)  # the last slot closes

        out = self.path("c.folded")
        self.export(ring, "--comm", "cpuburn", "-o", out)
        stacks = read_folded(out)
        # The name filter keeps cpuburn only (other cpuburns may run beside, on a shared machine).
        self.assertTrue(all(k[0].startswith("cpuburn (pid ") for k in stacks), list(stacks)[:3])
        stacks = mine(stacks, burn)
        want = 199 * burn_cpu
        self.assertGreater(total(stacks), poisson_low(want), "cpuburn used %.2f s of CPU" % burn_cpu)
        self.assertLess(total(stacks), poisson_high(want), "cpuburn used %.2f s of CPU" % burn_cpu)
        # Shares of the samples in the three burns: calibrating takes a fixed CPU time while the
        # run is 5 s of wall time, so on a busy machine the run gets less of it and shares of
        # all samples would fall with the load.
        busy = sum(c for k, c in stacks.items() if {"burn_a", "burn_b", "burn_c"} & set(k))
        self.assertGreater(busy, 0.8 * total(stacks), list(stacks.items())[:3])
        for name, want in (("burn_a", 0.5), ("burn_b", 0.3), ("burn_c", 0.2)):
            got = share(stacks, name) * total(stacks) / max(1, busy)
            self.assertAlmostEqual(got, want, delta=share_delta(want, busy, 0.02), msg=name)

        # Python frames from the ring, by PID, with the pprof reader.
        out = self.path("py.folded")
        self.export(ring, "-p", str(py.pid), "-o", out, "-o", self.path("py.pb.gz"))
        stacks = read_folded(out)
        # Its first samples may come before the interpreter is found, and start-up is not the loop.
        self.assertGreater(total(stacks), poisson_low(0.9 * 199 * py_cpu), "python used %.2f s of CPU" % py_cpu)
        self.assertGreater(sum(c for k, c in stacks.items()
                               if any(f.startswith("Outer.Inner.burn_a (") or f.startswith("burn_a (")
                                      for f in k)), 0.15 * total(stacks))  # half the main thread: a quarter

        # A time window: the seconds before the workloads started hold none of them.
        out = self.path("before.folded")
        r = self.export(ring, "--until", "@%d" % int(t0 - 0.5), "--comm", "cpuburn", "-o", out, "-v")
        self.assertEqual(total(mine(read_folded(out), burn)), 0, r.stderr)
        out = self.path("window.folded")
        self.export(ring, "--since", "@%d" % int(t0), "--until", "@%d" % int(t1 + 1), "--comm", "cpuburn",
                    "-o", out)
        self.assertGreater(total(mine(read_folded(out), burn)), poisson_low(want))
        self.stop(d)

        # The ring outlives the daemon: still readable, every format.
        self.export(ring, "--comm", "cpuburn", "-o", self.path("x.svg"), "-o", self.path("x.speedscope.json"),
                    "-o", self.path("x.pb.gz"))

    def test_kill_and_restart_keeps_history(self):
        d, ring = self.start_daemon("--all", "-r", "99")
        burn = self.spawn([CPUBURN, "3"])
        cpu = wait_cpu(burn)
        self.wait_slots(d, after=time.time())
        d.kill()
        d.wait()
        before = self.path("before.folded")
        self.export(ring, "--comm", "cpuburn", "-o", before)
        n_before = total(mine(read_folded(before), burn))
        self.assertGreater(n_before, poisson_low(99 * cpu), "cpuburn used %.2f s of CPU" % cpu)

        d, ring = self.start_daemon("--all", "-r", "99", ring=ring)
        burn2 = self.spawn([CPUBURN, "2"])
        cpu2 = wait_cpu(burn2)
        self.stop(d)  # the slot in progress is written at the stop
        after = self.path("after.folded")
        r = self.export(ring, "--comm", "cpuburn", "-o", after, "-v")
        stacks = read_folded(after)
        self.assertIn("2 epochs", r.stderr)
        self.assertEqual(sum(c for k, c in stacks.items() if k[0] == "cpuburn (pid %d)" % burn.pid), n_before)
        self.assertGreater(sum(c for k, c in stacks.items() if k[0] == "cpuburn (pid %d)" % burn2.pid),
                           poisson_low(99 * cpu2), "cpuburn used %.2f s of CPU" % cpu2)

    def test_short_lived_processes(self):
        d, ring = self.start_daemon("--all", "-r", "199")
        python = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable
        # Warm up first: symbol tables of the programs and libraries are loaded once.
        warm = "for j in 1 2 3 4; do %s 0.05 & done; %s -c 'sum(range(400000))'; wait" % (CPUBURN, python)
        subprocess.run(["sh", "-c", warm], check=True, timeout=60)
        self.wait_slots(d, after=time.time())
        fds, rss = fd_count(d.pid), rss_kib(d.pid)
        # 1000 C processes that each burn 20 ms, 4 at a time, and 60 short Python ones.
        script = ("for i in $(seq 250); do for j in 1 2 3 4; do %s 0.02 & done; wait; done; "
                  "for i in $(seq 30); do for j in 1 2; do %s -c 'sum(range(400000))' & done; wait; done"
                  % (CPUBURN, python))
        subprocess.run(["sh", "-c", script], check=True, timeout=300)
        self.wait_slots(d, after=time.time())
        fds_after, rss_after = fd_count(d.pid), rss_kib(d.pid)
        sys.stderr.write("churn: hearthd fds %d -> %d, RSS %d -> %d KiB\n" % (fds, fds_after, rss, rss_after))
        self.assertLessEqual(fds_after, fds + 2, "fds grew from %d to %d" % (fds, fds_after))
        # What a process leaves behind is its frames and stacks in the profile, not its state.
        # Bounded caches fill during the churn (DWARF: up to 64 libunwind address spaces); a leak of
        # 40 KiB a process would pass this line.
        self.assertLess(rss_after - rss, 40 * 1024, "anonymous RSS grew from %d to %d KiB" % (rss, rss_after))
        self.stop(d)
        out = self.path("churn.folded")
        self.export(ring, "--comm", "cpuburn", "-o", out)
        stacks = read_folded(out)
        pids = {k[0] for k in stacks}
        self.assertGreater(len(pids), 500, "samples of %d of 1000 processes" % len(pids))
        self.assertGreater(share(stacks, "main"), 0.5)  # named, not [unknown]: maps read in time


class Control(DaemonTestCase):
    """hearth attach, detach and status over the control socket."""

    def ctl(self, sock, *args, user=None):
        argv = [HEARTH] + list(args) + ["--control", sock]
        if user:
            argv = ["setpriv", "--reuid=%s" % user, "--regid=nogroup", "--clear-groups"] + argv
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    def test_attach_detach_status(self):
        sock = self.path("hearthd.sock")
        one = self.spawn([CPUBURN, "20"])
        two = self.spawn([CPUBURN, "20"])
        # Each target's CPU time is bracketed: from outside (an upper bound on what was sampled)
        # and from inside (a lower bound) of the window in which it was a target.
        one_out0 = cpu_seconds(one.pid)
        d, ring = self.start_daemon("-p", str(one.pid), "-r", "99", "--control", sock)
        one_in0 = cpu_seconds(one.pid)
        self.assertEqual(os.stat(sock).st_mode & 0o777, 0o600)
        self.wait_slots(d)
        r = self.ctl(sock, "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("targets:     %d (cpuburn)" % one.pid, r.stdout)
        self.assertRegex(r.stdout, r"sampling: +99 Hz")
        self.assertRegex(r.stdout, r"ring: +%s" % re.escape(ring))

        two_out0 = cpu_seconds(two.pid)
        r = self.ctl(sock, "attach", "-p", str(two.pid))
        self.assertEqual(r.returncode, 0, r.stderr)
        two_in0 = cpu_seconds(two.pid)
        r = self.ctl(sock, "attach", "-p", str(two.pid))
        self.assertEqual((r.returncode, r.stderr), (1, "hearth: pid %d is already a target\n" % two.pid))
        r = self.ctl(sock, "attach", "-p", "4000000")
        self.assertEqual((r.returncode, r.stderr), (1, "hearth: cannot attach to pid 4000000: no such process\n"))
        self.wait_slots(d, slots=2)
        one_in1 = cpu_seconds(one.pid)
        r = self.ctl(sock, "detach", "-p", str(one.pid))
        self.assertEqual(r.returncode, 0, r.stderr)
        one_out1 = cpu_seconds(one.pid)
        r = self.ctl(sock, "detach", "-p", str(one.pid))
        self.assertEqual((r.returncode, r.stderr), (1, "hearth: pid %d is not a target\n" % one.pid))
        r = self.ctl(sock, "status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(r.stdout)
        self.assertEqual([t["pid"] for t in st["targets"]], [two.pid])
        self.assertFalse(st["all_processes"])
        # Samples in the slots written so far, of both; the detached one's CPU time after is not sampled.
        self.assertGreater(st["samples"], 0)
        self.assertGreater(st["ring_newest_ns"], st["ring_oldest_ns"])
        self.wait_slots(d, slots=2)

        # Not root: the socket refuses. Garbage: an error reply, and the daemon goes on.
        r = self.ctl(sock, "status", user="nobody")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^hearth: cannot reach hearthd at .*: permission denied")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(sock)
        s.send(b"\xff\xff\xff not a request")
        self.assertIn(b"malformed request", s.recv(4096))
        s.close()
        self.assertEqual(self.ctl(sock, "status").returncode, 0)
        two_in1 = cpu_seconds(two.pid)
        self.stop(d)
        two_out1 = cpu_seconds(two.pid)
        self.assertFalse(os.path.exists(sock))

        # The second process's samples are in the ring from its attach on; the first's stop.
        out = self.path("both.folded")
        self.export(ring, "-o", out)
        stacks = read_folded(out)
        got = {k[0] for k in stacks}
        self.assertEqual(got, {"cpuburn (pid %d)" % one.pid, "cpuburn (pid %d)" % two.pid})
        n_one = sum(c for k, c in stacks.items() if k[0] == "cpuburn (pid %d)" % one.pid)
        n_two = sum(c for k, c in stacks.items() if k[0] == "cpuburn (pid %d)" % two.pid)
        for name, n, cpu_in, cpu_out in (("one", n_one, one_in1 - one_in0, one_out1 - one_out0),
                                         ("two", n_two, two_in1 - two_in0, two_out1 - two_out0)):
            msg = "pid %s: %d samples, %.2f-%.2f s of CPU as a target" % (name, n, cpu_in, cpu_out)
            self.assertGreater(n, poisson_low(99 * cpu_in), msg)
            self.assertLess(n, poisson_high(99 * cpu_out), msg)

    def test_all_mode_and_no_daemon(self):
        sock = self.path("hearthd.sock")
        d, ring = self.start_daemon("--all", "--control", sock)
        r = self.ctl(sock, "attach", "-p", "1")
        self.assertEqual((r.returncode, r.stderr),
                         (1, "hearth: hearthd samples every process (--all): nothing to attach\n"))
        r = self.ctl(sock, "status")
        self.assertIn("every process (--all)", r.stdout)
        # A second daemon on the same socket is refused; the first still answers.
        r = subprocess.run([HEARTHD, "--ring", self.path("other.ring"), "--control", sock], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^hearthd: cannot listen on .*: another hearthd answers there")
        self.assertEqual(self.ctl(sock, "status").returncode, 0)
        self.stop(d)
        r = self.ctl(sock, "status")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^hearth: cannot reach hearthd at .*: no such socket \(is it running")
        r = self.ctl(sock, "attach")
        self.assertEqual((r.returncode, r.stderr), (2, "hearth: no process: give -p PID\n"))


class ControlCredentials(DaemonTestCase):
    """The daemon's own SO_PEERCRED check, not only the socket file's mode: with the socket
    opened to everyone, a peer that is neither root nor in --control-group is refused by
    hearthd itself, one that has the group (supplementary or primary) is served."""

    def setUp(self):
        super().setUp()
        # A directory every user may enter, with a copy of hearth every user may run.
        self.open_dir = tempfile.mkdtemp(prefix="hearth-cred-")
        self.addCleanup(shutil.rmtree, self.open_dir, ignore_errors=True)
        os.chmod(self.open_dir, 0o755)
        self.hearth = os.path.join(self.open_dir, "hearth")
        shutil.copy(HEARTH, self.hearth)
        os.chmod(self.hearth, 0o755)
        self.sock = os.path.join(self.open_dir, "hearthd.sock")
        self.sleeper = self.spawn(["sleep", "120"])

    def status(self, *setpriv):
        """`hearth status` as nobody with the credentials SETPRIV gives, or as root."""
        argv = [self.hearth, "status", "--control", self.sock]
        if setpriv:
            argv = ["setpriv", "--reuid=nobody"] + list(setpriv) + ["--"] + argv
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    def assert_refused_by_daemon(self, r):
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertRegex(r.stderr, r"^hearth: permission denied: the control socket takes root or hearthd's group$")

    def assert_served(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("targets:     %d (sleep)" % self.sleeper.pid, r.stdout)

    def test_nobody_refused_by_the_daemon(self):
        d, ring = self.start_daemon("-p", str(self.sleeper.pid), "--control", self.sock)
        self.assertEqual(os.stat(self.sock).st_mode & 0o777, 0o600)
        os.chmod(self.sock, 0o666)
        r = self.status("--regid=nogroup", "--clear-groups")
        self.assert_refused_by_daemon(r)
        self.assertIsNone(d.poll())
        self.assert_served(self.status())
        self.stop(d)

    def test_control_group(self):
        group = "hearth-test-%d" % os.getpid()
        subprocess.run(["groupadd", group], check=True, capture_output=True, timeout=30)
        self.addCleanup(subprocess.run, ["groupdel", group], capture_output=True, timeout=30)
        gid = grp.getgrnam(group).gr_gid
        d, ring = self.start_daemon("-p", str(self.sleeper.pid), "--control", self.sock, "--control-group", group)
        st = os.stat(self.sock)
        self.assertEqual((st.st_mode & 0o777, st.st_uid, st.st_gid), (0o660, 0, gid))

        # As the daemon made it, the socket's mode already keeps out whoever lacks the group.
        r = self.status("--regid=nogroup", "--clear-groups")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^hearth: cannot reach hearthd at .*: permission denied")
        self.assert_served(self.status("--regid=nogroup", "--groups=%d" % gid))

        # Open to all, the daemon's check decides: the group as a supplementary one (which
        # SO_PEERCRED does not carry) or as the primary one lets in, no group does not.
        os.chmod(self.sock, 0o666)
        self.assert_refused_by_daemon(self.status("--regid=nogroup", "--clear-groups"))
        self.assert_refused_by_daemon(self.status("--regid=nogroup", "--groups=%d" % 65534))
        self.assert_served(self.status("--regid=nogroup", "--groups=%d" % gid))
        self.assert_served(self.status("--regid=nogroup", "--groups=65534,%d" % gid))
        self.assert_served(self.status("--regid=%d" % gid, "--clear-groups"))
        self.assertIsNone(d.poll())
        self.assert_served(self.status())
        self.stop(d)


class RingRace(DaemonTestCase):
    """A reader racing the writer for minutes: every export is self-consistent.

    A 1 MiB ring, 100 ms slots at 999 Hz and a load of short-lived processes
    and threads (new pids and tids: new frames and stacks, so dictionary
    records flow as well as slots) make the ring wrap every few seconds
    while `hearth export` reads it back to back. HEARTH_RACE_SECONDS sets
    how long (default 90)."""

    def start_load(self, seconds):
        python = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable
        # Both stop by themselves, so nothing outlives the test when a kill misses a child.
        loop = ("end=$(($(date +%%s) + %d)); while [ $(date +%%s) -lt $end ]; do "
                "for j in 1 2 3 4; do %s 0.05 & done; wait; done" % (seconds, CPUBURN))
        self.spawn(["sh", "-c", loop], stdout=subprocess.DEVNULL)
        self.spawn([python, PYBURN, str(seconds), "churn"])

    def check_export(self, r, what, may_be_empty=False):
        """Samples and overwritten records of one `hearth export -v` run, checked for consistency."""
        self.assertEqual(r.returncode, 0, "%s: %s" % (what, r.stderr))
        samples = overrun = None
        lapped = False
        for line in r.stderr.splitlines():
            self.assertNotIn("damaged", line, what)
            if may_be_empty and line.startswith("hearth: no samples in the ring"):
                continue
            if LAPPED_RE.match(line):
                lapped = True
                continue
            m = SUMMARY_RE.match(line)
            if m:
                samples = int(m.group(1))
                continue
            m = UNNAMED_RE.match(line)
            if m:
                overrun = int(m.group(2))
                continue
            self.assertRegex(line, WROTE_RE, "%s: unexpected stderr line" % what)
        self.assertIsNotNone(samples, "%s: no summary in %r" % (what, r.stderr))
        try:
            folded = parse_folded(r.stdout)
        except ValueError as e:
            self.fail("%s: %s" % (what, e))
        if lapped:
            self.assertEqual(samples, 0, "%s: lapped, yet samples" % what)
            self.assertGreater(overrun or 0, 0, what)
        elif not may_be_empty:
            self.assertGreater(samples, 0, what)
        self.assertEqual(sum(folded.values()), samples, "%s: folded total against the summary" % what)
        self.lapped += lapped
        return samples, overrun or 0

    def test_reader_races_writer(self):
        seconds = float(os.environ.get("HEARTH_RACE_SECONDS", "90"))
        t_start = time.time()
        self.lapped = 0
        d, ring = self.start_daemon("--all", "-r", "999", "--slot", "100ms", ring_size="1M")
        sock = self.path("control-0.sock")
        self.start_load(int(seconds) + 30)
        size = ring_header(ring)["data_size"]
        self.assertEqual(size, 1 << 20)
        export = [HEARTH, "export", "--ring", ring, "-v"]

        # From the first slot on, every export holds samples.
        deadline = time.time() + 10
        while time.time() < deadline:
            r = subprocess.run(export + ["-f", "folded", "-o", "-"], capture_output=True, text=True, timeout=60)
            if any(int(m.group(1)) for m in map(SUMMARY_RE.match, r.stderr.splitlines()) if m):
                break
            time.sleep(0.1)

        end = time.time() + seconds
        # A second reader, killed with SIGKILL a few milliseconds into each run: mid-read most times.
        stop = threading.Event()
        kills = {"killed": 0, "finished": 0}

        def killer():
            rnd = random.Random(1)
            while not stop.is_set():
                p = subprocess.Popen(export + ["-f", "folded", "-o", "-"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
                time.sleep(rnd.uniform(0.002, 0.03))
                p.kill()
                kills["killed" if p.wait() == -signal.SIGKILL else "finished"] += 1

        # A third, stopped with SIGSTOP as soon as it has mapped the ring (about to read its oldest
        # records) and continued a second later: by then the writer has overwritten what it was
        # about to read, a race a reader running freely nearly always wins. It must notice
        # (overrun) and still be self-consistent.
        stalls = {"stalled": 0, "raced": 0, "overrun": 0}
        failures = []

        def mapped(pid):
            try:
                with open("/proc/%d/maps" % pid) as f:
                    return ring in f.read()
            except OSError:
                return True  # gone: nothing to wait for

        def staller():
            # Until the end of the run, and past it (a short run) until one lost the race.
            while not stop.is_set() or (not stalls["raced"] and time.time() < end + 30):
                p = subprocess.Popen(export + ["-f", "folded", "-o", "-"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                deadline = time.time() + 5
                while not mapped(p.pid) and time.time() < deadline:
                    pass
                p.send_signal(signal.SIGSTOP)
                time.sleep(1)
                p.send_signal(signal.SIGCONT)
                out, err = p.communicate(timeout=60)
                try:
                    n = self.check_export(subprocess.CompletedProcess(p.args, p.returncode, out, err),
                                          "stalled export", may_be_empty=True)[1]
                except AssertionError as e:
                    failures.append(e)
                    return
                stalls["stalled"] += 1
                stalls["raced"] += n > 0
                stalls["overrun"] += n

        threads = [threading.Thread(target=killer), threading.Thread(target=staller)]
        for t in threads:
            t.start()
            self.addCleanup(t.join)
        self.addCleanup(stop.set)

        head0 = ring_header(ring)["head"]
        waited0, steal0 = run_delay_seconds(d.pid), steal_seconds()
        exports = raced = overrun = pprofs = 0
        while time.time() < end:
            exports += 1
            what = "export %d" % exports
            pb = self.path("race.pb.gz") if exports % 25 == 0 else None
            # Now and then both formats from one read; the pprof one must open in go tool pprof.
            r = subprocess.run(export + (["-o", "-", "-o", pb] if pb else ["-f", "folded", "-o", "-"]),
                               capture_output=True, text=True, timeout=60)
            n = self.check_export(r, what)[1]
            if pb:
                c = subprocess.run([sys.executable, CHECK_PPROF, pb], capture_output=True, text=True,
                                   timeout=300)
                self.assertEqual(c.returncode, 0, "%s: %s" % (what, c.stdout + c.stderr))
                pprofs += 1
            raced += n > 0
            overrun += n
        stop.set()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]

        # The ring wrapped, over and over, while we read.
        h = ring_header(ring)
        wraps = (h["head"] - head0) / size
        self.assertGreater(h["head"], size)
        self.assertGreater(wraps, 2, "the ring did not wrap while the readers ran")
        self.assertGreater(kills["killed"], 0, kills)

        # The readers, killed or not, left the daemon as it was: it writes and answers.
        self.assert_alive(d)
        st = self.wait_slots(d, slots=2)
        self.assertGreater(ring_header(ring)["head"], h["head"])
        self.assertGreater(st["ring_written"], size)
        # A slot every 100 ms all along. The writer never waits for a reader: no write of a slot
        # takes a slot's time (a stalled reader would hold it a second). A slot is late by at
        # most the loop's longest turn of its own work (drains and housekeeping for thousands
        # of processes, measured by the daemon), plus the time it waited for a CPU (schedstat)
        # and the time the hypervisor took the CPUs (steal): the longest gap is bounded by what
        # was measured, loaded machine and all.
        waited, stolen = run_delay_seconds(d.pid) - waited0, steal_seconds() - steal0
        bound = 2 * st["slot_length_s"] + st["turn_max_s"] + waited + stolen
        sys.stderr.write("ring race: %d slots, the longest gap between two %.3f s (slot %.1f s; bound %.3f s: "
                         "longest turn %.3f s, waited for a CPU %.3f s, stolen %.3f s), the longest write "
                         "%.1f ms; faults %s\n"
                         % (st["slots"], st["slot_gap_max_s"], st["slot_length_s"], bound, st["turn_max_s"],
                            waited, stolen, st["slot_write_max_s"] * 1e3,
                            {k: v for k, v in st["faults"].items() if v}))
        self.assertLess(st["slot_write_max_s"], st["slot_length_s"], st)
        self.assertLess(st["slot_gap_max_s"], bound, st)
        self.assertEqual(st["faults"]["slots_failed"], 0, st)
        sys.stderr.write("ring race: %d exports in %.0f s (%d with pprof checked), %d raced an overwrite "
                         "(%d records dropped); %d stalled readers, %d raced (%d records dropped); "
                         "ring wrapped %.1f times; %d readers killed mid-run (%d finished first); "
                         "%.0f s in all; %d exports lapped by the writer\n"
                         % (exports, seconds, pprofs, raced, overrun, stalls["stalled"], stalls["raced"],
                            stalls["overrun"], wraps, kills["killed"], kills["finished"], time.time() - t_start,
                            self.lapped))
        # A reader the writer laps is one a busy machine stopped for several wraps: now and then.
        self.assertLess(self.lapped, max(3, exports / 10), "exports lapped by the writer")
        # Free-running readers rarely lose the race (printed above); stalled ones must, and notice.
        self.assertGreater(stalls["raced"], 0, stalls)
        self.stop(d)


def run_delay_seconds(pid):
    """How long PID's threads have waited for a CPU while runnable, so far (the second field of
    schedstat, summed over its threads)."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
            total += int(f.read().split()[1])
    return total / 1e9


class DaemonErrors(BpfTestCase):
    def run_daemon(self, args, timeout=10):
        # Its own control socket: never the machine's /run/hearthd.sock.
        return subprocess.run([HEARTHD, "--control", self.path("errors.sock")] + args, capture_output=True,
                              text=True, timeout=timeout)

    def one_line(self, r, code, pattern):
        self.assertEqual(r.returncode, code, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], pattern)

    def test_bad_flags(self):
        self.one_line(self.run_daemon(["--rate", "0"]), 2, r"^hearthd: invalid rate '0'")
        self.one_line(self.run_daemon(["--ring-size", "3M"]), 2, r"^hearthd: invalid ring size '3M'")
        self.one_line(self.run_daemon(["--slot", "5ms"]), 2, r"^hearthd: invalid slot '5ms'")
        self.one_line(self.run_daemon(["--bogus"]), 2, r"^hearthd: unknown option '--bogus'")
        self.one_line(self.run_daemon(["--all", "-p", "1"]), 2, r"^hearthd: give either --all or -p")
        self.assertEqual(self.run_daemon(["--version"]).returncode, 0)
        # The collector's options as `hearth record` takes them: the same checks, the same words.
        for args, want in ((["--unwind", "lbr"], "invalid unwind mode 'lbr': give 'auto', 'fp' or 'dwarf'"),
                           (["--native", "--unwind", "fp"], "--native unwinds with DWARF: drop --unwind fp"),
                           (["--stack-size", "100"], "invalid stack size '100': give 4K to 32K")):
            self.one_line(self.run_daemon(args), 2, "^hearthd: " + re.escape(want) + "$")
            r = subprocess.run([HEARTH, "record"] + args + ["-p", "1"], capture_output=True, text=True, timeout=30)
            self.one_line(r, 2, "^hearth: " + re.escape(want) + "$")

    def test_config_file(self):
        conf = self.path("hearthd.conf")
        with open(conf, "w") as f:
            f.write("# comment\nrate = 99\nbogus = 1\n")
        self.one_line(self.run_daemon(["--config", conf]), 2, r"^hearthd: .*hearthd.conf:3: unknown setting 'bogus'")
        with open(conf, "w") as f:
            f.write("rate = 0\n")
        self.one_line(self.run_daemon(["--config", conf]), 2, r"^hearthd: .*hearthd.conf:1: invalid rate '0'")
        self.one_line(self.run_daemon(["--config", self.path("missing.conf")]), 2,
                      r"^hearthd: cannot read config .*missing.conf")

    def test_bad_rings(self):
        junk = self.path("junk.ring")
        with open(junk, "wb") as f:
            f.write(b"not a ring" * 1000)
        self.one_line(self.run_daemon(["--ring", junk]), 1, r"^hearthd: cannot open ring .*: not a Hearth ring")
        r = subprocess.run([HEARTH, "export", "--ring", junk, "-o", self.path("x.svg")], capture_output=True,
                           text=True, timeout=30)
        self.one_line(r, 1, r"^hearth: cannot read ring .*: not a Hearth ring")
        self.assertFalse(os.path.exists(self.path("x.svg")))
        link = self.path("link.ring")
        os.symlink(self.path("target.ring"), link)
        self.one_line(self.run_daemon(["--ring", link]), 1, r"^hearthd: cannot open ring .*: it is a symbolic link")
        r = subprocess.run([HEARTH, "export", "--ring", self.path("none.ring")], capture_output=True, text=True,
                           timeout=30)
        self.one_line(r, 1, r"^hearth: cannot open ring .*none.ring: no such file \(is hearthd running")
        r = subprocess.run([HEARTH, "export", "--last", "10m", "--since", "-5m"], capture_output=True, text=True,
                           timeout=30)
        self.one_line(r, 2, r"^hearth: give either --last or --since/--until")
        r = subprocess.run([HEARTH, "export", "--since", "yesterday"], capture_output=True, text=True, timeout=30)
        self.one_line(r, 2, r"^hearth: invalid time 'yesterday' for --since")

    def test_second_daemon(self):
        ring = self.path("one.ring")
        d = self.spawn([HEARTHD, "--ring", ring, "--ring-size", "1M", "--control", self.path("first.sock")],
                       stderr=subprocess.PIPE, text=True)
        self.assertIn("profiling", d.stderr.readline())
        self.one_line(self.run_daemon(["--ring", ring]), 1, r"^hearthd: cannot open ring .*: another hearthd writes it")
        self.one_line(self.run_daemon(["--ring", ring, "--ring-size", "2M"]), 1, r"^hearthd: cannot open ring")
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait(timeout=15), 0)
        self.one_line(self.run_daemon(["--ring", ring, "--ring-size", "2M"]), 1,
                      r"^hearthd: cannot open ring .*: it exists with another size")
        self.assertEqual(os.stat(ring).st_mode & 0o777, 0o640)


if __name__ == "__main__":
    unittest.main(verbosity=2)
