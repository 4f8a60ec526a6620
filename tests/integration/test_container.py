# SPDX-License-Identifier: MIT
"""Containers by PID, without Docker: a container built from the same kernel
parts (new PID and mount namespaces, a cgroup of its own named as docker
names it, a root of its own on a tmpfs the host cannot see), with a C and a
Python workload inside at paths that do not exist on the host, the C binary
deleted once it runs.

- hearthd --container HOSTPID samples every process of that cgroup, those
  started later included, and nothing outside it; samples carry the
  container id and the PID inside the namespace; frames are named through
  /proc/PID/root (cgroup v2, and a v1 hierarchy where the host has one);
- hearth attach/detach --container and status over the control socket;
- hearth export --container ID keeps that container's samples only.
BPF tests fail rather than skip under CI."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (CPUBURN, HEARTH, SOURCE_ROOT, SYSTEM_PYTHON, read_folded, share,  # noqa: E402
                        share_delta, total)
from test_daemon import HEARTHD, DaemonTestCase  # noqa: E402

PYBURN = os.path.join(SOURCE_ROOT, "examples", "pyburn.py")

# Runs as PID 1 of the new namespaces: a root of its own on a tmpfs, the host's
# /usr, /etc and /dev bound in read-only, the workloads copied to paths the host does
# not have. It waits for /go (written by the test through /proc/PID/root), so
# its workloads start after the daemon watches: "now and later".
INNER = r"""
set -e
R="$1"
mount --make-rprivate /
mount -t tmpfs hearth-ct "$R"
mkdir -p "$R/usr" "$R/etc" "$R/dev" "$R/proc" "$R/tmp" "$R/opt/app" "$R/srv/app"
for d in usr etc dev; do mount --rbind "/$d" "$R/$d"; mount -o remount,bind,ro "$R/$d"; done
for l in bin lib lib64 sbin; do [ -L "/$l" ] && ln -s "$(readlink "/$l")" "$R/$l"; done
cp "$2" "$R/opt/app/ctburn"
cp "$3" "$R/srv/app/ctwork.py"
mount -t proc proc "$R/proc"
exec chroot "$R" /bin/sh -c '
  while [ ! -e /go ]; do sleep 0.05; done
  /opt/app/ctburn "$0" &
  sleep 0.3
  rm /opt/app/ctburn
  /usr/bin/python3 /srv/app/ctwork.py "$0" mix &
  wait
  echo done > /done
  sleep 30
' "$4"
"""


def cgroup_mounts():
    """{'v2': dir, 'pids': dir, ...} from /proc/self/mountinfo."""
    found = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if rfields[0] == "cgroup2":
                found.setdefault("v2", fields[4])
            elif rfields[0] == "cgroup":
                for opt in rfields[2].split(","):
                    found.setdefault(opt, fields[4])
    return found


class Container:
    """A container in cgroup v2 (or the v1 pids hierarchy when v1 is set)."""

    def __init__(self, test, seconds, v1=False):
        self.test = test
        self.id = os.urandom(32).hex()
        mounts = cgroup_mounts()
        base = mounts.get("pids" if v1 else "v2")
        if not base:
            raise unittest.SkipTest("no %s hierarchy mounted" % ("cgroup v1 pids" if v1 else "cgroup v2"))
        self.parent = os.path.join(base, "hearth-test-%d" % os.getpid())
        leaf = ("docker/" + self.id) if v1 else ("docker-%s.scope" % self.id)
        self.cgroup = os.path.join(self.parent, leaf)
        os.makedirs(self.cgroup)
        test.addCleanup(self.remove)
        self.rootdir = test.path("rootfs")
        os.mkdir(self.rootdir)
        # The launcher joins the cgroup, then becomes PID 1's parent in new namespaces.
        self.proc = test.spawn(
            ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec unshare --pid --mount --fork sh -c "$1" sh "$2" "$3" "$4" "$5"',
             self.cgroup, INNER, self.rootdir, CPUBURN, PYBURN, str(seconds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.init = self.wait_init()

    def wait_init(self):
        """The host PID of the container's PID 1, once it runs chroot'ed."""
        deadline = time.time() + 10
        while time.time() < deadline:
            for pid in self.pids():
                try:
                    with open("/proc/%d/status" % pid) as f:
                        nspid = re.search(r"^NSpid:\s+(.*)$", f.read(), re.M).group(1).split()
                    if nspid[-1] == "1" and os.readlink("/proc/%d/root" % pid) != "/":
                        return pid
                except (OSError, AttributeError):
                    pass
            time.sleep(0.05)
        self.test.fail("the container did not start: %s" % (self.proc.stderr.read() if self.proc.poll() is not None else "(still starting)"))

    def pids(self):
        found = []
        for dirpath, _, files in os.walk(self.cgroup):
            if "cgroup.procs" in files:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    found += [int(x) for x in f.read().split()]
        return found

    def go(self):
        with open("/proc/%d/root/go" % self.init, "w") as f:
            f.write("go\n")

    def wait_done(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists("/proc/%d/root/done" % self.init):
                return
            time.sleep(0.1)
        self.test.fail("the container's workloads did not finish")

    def remove(self):
        for pid in self.pids():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        deadline = time.time() + 5
        for d in (self.cgroup, os.path.dirname(self.cgroup), self.parent):
            while os.path.isdir(d) and time.time() < deadline:
                try:
                    os.rmdir(d)
                except OSError:
                    time.sleep(0.05)


class ContainerTests(DaemonTestCase):
    def setUp(self):
        super().setUp()
        if not shutil.which("unshare"):
            self.fail("unshare (util-linux) is missing")

    def start_watching(self, *args):
        d, ring = self.start_daemon(*(list(args) + ["--control", self.path("control.sock")]))
        return d, ring, self.daemon_log(d)

    def folded(self, ring, *args):
        out = self.path("export-%d.folded" % len(os.listdir(self.tmp.name)))
        self.export(ring, "-f", "folded", "-o", out, *args)
        return read_folded(out)

    def check_container_profile(self, ct, ring, outsider, with_python):
        stacks = self.folded(ring, "--container", ct.id[:12])
        roots = {frames[0] for frames in stacks}
        self.assertTrue(total(stacks) > 100, "too few container samples: %d" % total(stacks))
        # Every root names the container and a PID inside it: the one the kernel gives it there
        # (NSpid, for a process still running; the container's wait for /go starts a sleep every
        # 50 ms, so how many came before depends on the machine's load).
        for root in roots:
            m = re.match(r"^(.*) \(pid (\d+), (\d+) in container ([0-9a-f]{12})\)$", root)
            self.assertTrue(m, "root frame without the container: %r" % root)
            self.assertEqual(m.group(4), ct.id[:12])
            self.assertNotEqual(m.group(2), m.group(3), root)
            self.assertNotEqual(int(m.group(2)), outsider.pid)
            try:
                with open("/proc/%s/status" % m.group(2)) as f:
                    nspid = [line.split()[1:] for line in f if line.startswith("NSpid:")][0]
                if len(nspid) > 1:  # else the pid was given to a host process since
                    self.assertEqual(nspid[-1], m.group(3), "%s: NSpid %s" % (root, nspid))
            except FileNotFoundError:
                pass  # exited since
        comms = {re.match(r"^(.*) \(pid", r).group(1) for r in roots}
        self.assertIn("ctburn", comms)
        # The deleted C binary at a path the host lacks still names its functions.
        burn = {k: v for k, v in stacks.items() if k[0].startswith("ctburn ")}
        unnamed = sum(c for frames, c in burn.items() if any("+0x" in f or f == "[unknown]" for f in frames))
        self.assertLess(unnamed / max(1, total(burn)), 0.05, "C frames inside the container not named: %s" %
                        sorted(burn.items(), key=lambda kv: -kv[1])[:8])
        # cpuburn's run() splits 50/30/20 (its calibration at start-up is not part of it).
        in_run = {k: v for k, v in burn.items() if "run" in k}
        self.assertAlmostEqual(share(in_run, "burn_a"), 0.5, delta=share_delta(0.5, total(in_run), 0.02),
                               msg="burn_a of %d samples in run" % total(in_run))
        if with_python:
            py = {k: v for k, v in stacks.items() if re.match(r"^python3(\.11)? ", k[0])}
            self.assertGreater(total(py), 50, "no Python samples from the container: %s" % sorted(comms))
            # Every frame of a function of the container's script names the container's file,
            # and the main thread's burn functions split 50/30/20 (pyburn's mix).
            mine = ("burn_a", "burn_b", "recurse", "gen_c", "mix", "spin", "compress_step")  # names only it has
            bad, burned = [], {"burn_a": 0, "burn_b": 0, "gen_c": 0}
            for frames, c in py.items():
                labels = [m.groups() for m in (re.match(r"^(.*) \((.*):\d+\)$", f) for f in frames) if m]
                if any(name.rsplit(".", 1)[-1] in mine and path != "/srv/app/ctwork.py" for name, path in labels):
                    bad.append((c, frames))
                leaf = labels[-1][0].rsplit(".", 1)[-1] if labels else ""
                if leaf in burned:
                    burned[leaf] += c
            self.assertEqual(bad, [], "Python frames do not name the container's file")
            n = sum(burned.values())
            for name, want in (("burn_a", 0.5), ("burn_b", 0.3), ("gen_c", 0.2)):
                self.assertAlmostEqual(burned[name] / max(1, n), want, delta=share_delta(want, n, 0.02),
                                       msg="%s: %d of %d burn samples" % (name, burned[name], n))
        # Without the filter, the outsider is in the ring but not in a container; with another id, nothing.
        # Nothing from outside; a process that exits before the collector reads its
        # /proc entry (a `sleep` inside) keeps its samples but not its container id.
        everything = self.folded(ring)
        outside = {k: c for k, c in everything.items() if "in container" not in k[0]}
        self.assertLessEqual(total(outside), max(2, 0.01 * total(everything)), "samples from outside: %s" % outside)
        for frames in outside:
            self.assertNotIn("(pid %d)" % outsider.pid, frames[0])
        none = self.export(ring, "--container", "ffffffffffff", "-f", "folded", "-o", "-", "-v")
        self.assertEqual(none.stdout, "")
        self.assertIn("no samples", none.stderr)
        # pprof carries the id and the namespace PID as labels.
        pb = self.path("ct.pb.gz")
        self.export(ring, "--container", ct.id, "-o", pb)
        if shutil.which("go"):
            tags = subprocess.run(["go", "tool", "pprof", "-tags", pb], capture_output=True, text=True, timeout=120)
            self.assertEqual(tags.returncode, 0, tags.stderr)
            self.assertIn(ct.id, tags.stdout)
            self.assertIn("ns_pid", tags.stdout)

    def test_v2_container_now_and_later(self):
        ct = Container(self, seconds=4)
        outsider = self.spawn([CPUBURN, "12"])
        d, ring, log = self.start_watching("--container", str(ct.init), "-r", "199")
        self.assertIn(ct.id, log)
        ct.go()
        ct.wait_done(30)
        self.stop(d)
        self.check_container_profile(ct, ring, outsider, with_python=os.path.exists(SYSTEM_PYTHON))

    def test_v1_container(self):
        mounts = cgroup_mounts()
        if "pids" not in mounts:
            self.skipTest("no cgroup v1 pids hierarchy on this host (cgroup v2 only)")
        ct = Container(self, seconds=3, v1=True)
        outsider = self.spawn([CPUBURN, "10"])
        d, ring, log = self.start_watching("--container", str(ct.init), "-r", "199")
        self.assertIn("v1 pids:", subprocess.run([HEARTH, "status", "--control", self.path("control.sock")],
                                                 capture_output=True, text=True).stdout)
        ct.go()
        ct.wait_done(30)
        self.stop(d)
        self.check_container_profile(ct, ring, outsider, with_python=False)

    def test_attach_detach_status(self):
        ct = Container(self, seconds=3)
        host = self.spawn([CPUBURN, "20"])
        sock = self.path("control.sock")
        d, ring, _ = self.start_watching("-p", str(host.pid), "-r", "199")

        def ctl(*args):
            return subprocess.run([HEARTH] + list(args) + ["--control", sock], capture_output=True, text=True,
                                  timeout=30)

        r = ctl("attach", "-p", str(ct.init), "--container")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = ctl("attach", "-p", str(ct.init), "--container")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("watched already", r.stderr)
        r = ctl("attach", "-p", "4194000", "--container")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no such process", r.stderr)
        st = json.loads(ctl("status", "--json").stdout)
        cts = [t for t in st["targets"] if t["container"]]
        self.assertEqual(len(cts), 1, st)
        self.assertEqual(cts[0]["container_id"], ct.id)
        self.assertTrue(cts[0]["cgroup"].endswith("docker-%s.scope" % ct.id), cts[0])
        self.assertIn("container %s" % ct.id[:12], ctl("status").stdout)
        ct.go()
        ct.wait_done(30)
        # Detach by any PID inside: the watch and the targets it made go.
        inside = [p for p in ct.pids() if p != ct.init]
        r = ctl("detach", "-p", str(inside[0] if inside else ct.init), "--container")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(ctl("status", "--json").stdout)
        self.assertEqual([t for t in st["targets"] if t["container"]], [])
        r = ctl("detach", "-p", str(ct.init), "--container")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not in a watched container", r.stderr)
        self.stop(d)
        stacks = self.folded(ring, "--container", ct.id[:12])
        self.assertGreater(total(stacks), 100)
        host_stacks = self.folded(ring, "-p", str(host.pid))
        self.assertGreater(total(host_stacks), 100)

    def test_bad_container_flags(self):
        r = subprocess.run([HEARTHD, "--container", "0"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("invalid PID list", r.stderr)
        r = subprocess.run([HEARTHD, "--all", "--container", "1", "--ring", self.path("r")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([HEARTHD, "--container", "4194000", "--ring", self.path("r"),
                            "--control", self.path("c.sock")], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("no such process", r.stderr)
        r = subprocess.run([HEARTH, "export", "--container", "xyz", "--ring", self.path("r")], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("invalid container id", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
