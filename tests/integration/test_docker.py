# SPDX-License-Identifier: MIT
"""A real Docker container of another distribution: Debian unstable's CPython 3.14 (and 3.15)
in an image made with `docker import` of the root scripts/lib.sh makes (no registry is
reachable), started by Debian 12's dockerd (scripts/test starts it: PID 1 is no init here).
What the chroot alone does not exercise: PID, mount, network and UTS namespaces, a docker
cgroup, an overlayfs root, NSpid.

- hearth record -p HOSTPID of python3.14 running examples/pyburn.py (bound read-only at
  /app, a path the host does not have): as many samples as its CPU makes at the rate,
  Python stacks complete to <module> or _bootstrap, qualnames and the files' container paths;
  no native root past the C library's start (the broken [stack] roots of newer libcs);
- hearthd --all picks up a 3.15 container process it was not told about, and
  hearth export -p HOSTPID gives its Python frames.

Under CI a missing engine or image is a failure, unless the Debian unstable root could not be
made today (scripts/test's closing line says so): then these are skipped, with the reason."""

import hashlib
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (SID_ROOT, SOURCE_ROOT, read_folded, sid_failure, sid_versions,  # noqa: E402
                        total, try_cpu_seconds)
from test_daemon import DaemonTestCase  # noqa: E402
from test_python import in_pyburn, py_frames  # noqa: E402

DOCKER = "/usr/bin/docker"
EXAMPLES = os.path.join(SOURCE_ROOT, "examples")


def image_tag():
    """The tag scripts/lib.sh's ensure_sid_image gives the root's image."""
    with open(os.path.join(SID_ROOT, "VERSIONS"), "rb") as f:
        return "hearth-sid:" + hashlib.md5(f.read()).hexdigest()[:12]


class DockerTestCase(DaemonTestCase):
    def setUp(self):
        super().setUp()
        if not sid_versions():
            why = sid_failure()
            if why:
                self.skipTest("no Debian unstable root today: %s" % why)
            self.fail_or_skip("no Debian unstable root at %s (scripts/lib.sh ensure_sid_root)" % SID_ROOT)
        try:
            ok = subprocess.run([DOCKER, "info"], capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if not ok:
            # As scripts/test does: this machine's PID 1 starts no engine.
            subprocess.run(["bash", "-c", ". '%s/scripts/lib.sh'; ensure_dockerd" % SOURCE_ROOT],
                           timeout=120)
            ok = subprocess.run([DOCKER, "info"], capture_output=True, timeout=60).returncode == 0
        if not ok:
            self.fail_or_skip("no Docker engine answers (scripts/lib.sh ensure_dockerd)")
        r = subprocess.run(["bash", "-c", ". '%s/scripts/lib.sh'; ensure_sid_image" % SOURCE_ROOT],
                           capture_output=True, text=True, timeout=600)
        if r.returncode:
            self.fail_or_skip("cannot make the image %s: %s" % (image_tag(), r.stderr.strip()))
        self.containers = []

    def tearDown(self):
        for name in getattr(self, "containers", []):
            subprocess.run([DOCKER, "rm", "-f", name], capture_output=True, timeout=60)
        super().tearDown()

    def fail_or_skip(self, why):
        if os.environ.get("CI"):
            self.fail(why + " and CI is set")
        self.skipTest(why)

    def run_container(self, python, *args):
        """Start PYTHON (a path in the image) on pyburn.py ARGS in a container; its host PID
        once its interpreter runs (the image's executable, not docker's init)."""
        name = "hearth-test-%d-%d" % (os.getpid(), len(self.containers))
        self.containers.append(name)
        subprocess.run([DOCKER, "run", "-d", "--name", name, "-e", "PYTHONDONTWRITEBYTECODE=1",
                        "-v", "%s:/app:ro" % EXAMPLES, image_tag(), python, "/app/pyburn.py"] + list(args),
                       check=True, capture_output=True, timeout=120)
        deadline = time.time() + 60
        while True:
            r = subprocess.run([DOCKER, "inspect", "-f", "{{.State.Pid}} {{.State.Running}}", name],
                               capture_output=True, text=True, timeout=60)
            pid, running = (r.stdout.split() + ["0", "false"])[:2]
            if int(pid) > 0 and running == "true":
                try:
                    if os.readlink("/proc/%s/exe" % pid).endswith(os.path.basename(python)):
                        break
                except OSError:
                    pass
            self.assertLess(time.time(), deadline, "container %s did not start: %s" % (name, r.stdout))
            time.sleep(0.05)
        time.sleep(1.0)  # past start-up: imports and building the zlib input
        return int(pid)

    def check_stacks(self, stacks, what, whole_life=False):
        """Python stacks as a container's: complete, its own paths, qualnames, no broken roots.
        WHOLE_LIFE: the samples span the process's start-up and exit too, which take a fixed
        CPU time while pyburn runs for a fixed wall time: on a busy machine they are a larger
        part, so only the samples with Python frames must be pyburn's."""
        py = in_pyburn(stacks)
        with_py = {k: c for k, c in stacks.items() if py_frames(k)}
        self.assertGreater(total(py), 0.95 * total(with_py if whole_life else stacks),
                           "%s: %s" % (what, list(stacks.items())[:5]))
        self.assertGreater(total(py), 0.5 * total(stacks), "%s: %s" % (what, list(stacks.items())[:5]))
        bad = [k for k in py if py_frames(k)[0][0] not in ("<module>", "Thread._bootstrap")]
        self.assertLessEqual(sum(py[k] for k in bad), max(2, 0.01 * total(py)), "%s: incomplete: %s" % (what, bad[:4]))
        files = {f[1] for k in py for f in py_frames(k) if f[1].endswith("pyburn.py")}
        self.assertEqual(files, {"/app/pyburn.py"})
        names = {f[0] for k in py for f in py_frames(k)}
        self.assertTrue({"Outer.Inner.burn_a", "burn_b", "gen_c", "spin"} <= names, names)
        broken = [k for k in stacks if any(f.startswith("[stack]") for f in k)]
        self.assertEqual(broken, [], "%s: walks past the C library's start" % what)


class Docker(DockerTestCase):
    def test_python314_by_host_pid(self):
        pid = self.run_container("/usr/bin/python3.14", "30", "mix")
        with open("/proc/%d/status" % pid) as f:
            nspid = [line.split()[1:] for line in f if line.startswith("NSpid:")][0]
        self.assertEqual(len(nspid), 2, "not in a PID namespace of its own: %s" % nspid)
        out = self.path("docker.folded")
        before = try_cpu_seconds(pid)
        r = self.record_live(["-p", str(pid), "-d", "3", "-r", "499", "-o", out], [pid])
        after = try_cpu_seconds(pid)
        self.assertIn("Python (CPython 3.14.", r.stderr)
        stacks = read_folded(out)
        # Against the CPU it used while sampled, as hearth's lines bracket it; on a busy machine
        # those lines are read late, so the high bound is the CPU of all of hearth's run.
        self.assertSampled(total(stacks), r.cpu(pid), r, r.stderr, high_cpu=after - before)
        self.check_stacks(stacks, "python3.14 in Docker")

    def test_hearthd_all_finds_python315(self):
        d, ring = self.start_daemon("--all", "-r", "199")
        pid = self.run_container("/usr/bin/python3.15", "4", "mix")
        start = try_cpu_seconds(pid)
        subprocess.run([DOCKER, "wait", self.containers[-1]], capture_output=True, timeout=120)
        self.wait_slots(d, after=time.time())
        out = self.path("ring.folded")
        self.export(ring, "-p", str(pid), "-o", out)
        stacks = read_folded(out)
        self.assertGreater(total(stacks), 0, self.daemon_log(d))
        self.check_stacks(stacks, "python3.15 in Docker, from hearthd --all", whole_life=True)
        self.assertIsNotNone(start)
        self.stop(d)


if __name__ == "__main__":
    unittest.main()
