# SPDX-License-Identifier: MIT
"""hearthd's outputs for the rest of the world:

- --http: `go tool pprof http://.../debug/pprof/profile?seconds=N` works as
  against a Go service and shows the workload's known shares; bad requests
  get 400/404/405, many clients at once are all answered, a client that
  goes away does not hurt, a bad address is one line and exit 1;
- --output-dir/--every/--keep: one gzip pprof per interval that go tool
  pprof opens, intervals that neither overlap nor leave gaps (their samples
  add up to the ring's), old files removed.
BPF tests fail rather than skip under CI."""

import gzip
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import CPUBURN, read_folded, total  # noqa: E402
from test_daemon import HEARTHD, DaemonTestCase  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7f) << shift
        shift += 7
        if b < 0x80:
            return value, i


def pprof_samples(path):
    """Sum of the first value (sample count) over a gzip profile.proto's samples."""
    with open(path, "rb") as f:
        buf = gzip.decompress(f.read())
    i, n = 0, 0
    while i < len(buf):
        key, i = varint(buf, i)
        wire = key & 7
        if wire == 0:
            _, i = varint(buf, i)
        elif wire == 2:
            length, i = varint(buf, i)
            if key >> 3 == 2:  # Profile.sample
                sample, j = buf[i:i + length], 0
                while j < len(sample):
                    k, j = varint(sample, j)
                    if k & 7 == 2:
                        ln, j = varint(sample, j)
                        if k >> 3 == 2:  # Sample.value, packed
                            first, _ = varint(sample, j)
                            n += first
                        j += ln
                    else:
                        _, j = varint(sample, j)
            i += length
        else:
            raise ValueError("unexpected wire type %d" % wire)
    return n


def go():
    return shutil.which("go")


class Http(DaemonTestCase):
    def setUp(self):
        super().setUp()
        if not go():
            self.fail("go (golang-go) is missing: scripts/test installs it")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.d, self.ring = self.start_daemon("--all", "-r", "199", "--http", "127.0.0.1:%d" % self.port)

    def get(self, path, method="GET"):
        req = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def test_go_tool_pprof_reads_it(self):
        burn = self.spawn([CPUBURN, "10"])
        time.sleep(1)
        env = dict(os.environ, PPROF_TMPDIR=self.path("pprof"), HOME=self.tmp.name)
        t0 = time.time()
        r = subprocess.run([go(), "tool", "pprof", "-top", "-symbolize=none",
                            self.url + "/debug/pprof/profile?seconds=4&pid=%d" % burn.pid],
                           capture_output=True, text=True, timeout=120, env=env)
        took = time.time() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        # It waited for the seconds asked, rounded to whole slots.
        self.assertGreater(took, 3.5)
        self.assertLess(took, 30)
        flat = {}
        for line in r.stdout.splitlines():
            m = re.match(r"^\s*\S+\s+([\d.]+)%\s+\S+\s+\S+\s+\S+\s+(\S+)$", line)
            if m:
                flat[m.group(2)] = float(m.group(1)) / 100
        busy = flat.get("burn_a", 0) + flat.get("burn_b", 0) + flat.get("burn_c", 0)
        self.assertGreater(busy, 0.8, r.stdout + r.stderr)
        self.assertAlmostEqual(flat["burn_a"] / busy, 0.5, delta=0.1)
        self.assertAlmostEqual(flat["burn_b"] / busy, 0.3, delta=0.1)

    def test_bad_requests(self):
        for path, code in (("/debug/pprof/profile?seconds=0", 400), ("/debug/pprof/profile?seconds=abc", 400),
                           ("/debug/pprof/profile?seconds=99999", 400), ("/debug/pprof/profile?pid=-4", 400),
                           ("/debug/pprof/profile?container=XYZ", 400), ("/debug/pprof/profile?nope=1", 400),
                           ("/debug/pprof/profile?seconds=%zz", 400), ("/debug/pprof/heap", 404), ("/x", 404)):
            status, body = self.get(path)
            self.assertEqual(status, code, "%s: %s" % (path, body))
            self.assertEqual(len(body.decode().strip().splitlines()), 1, body)
        self.assertEqual(self.get("/debug/pprof/profile?seconds=1", method="POST")[0], 405)
        status, body = self.get("/debug/pprof/")
        self.assertEqual(status, 200)
        self.assertIn(b"/debug/pprof/profile", body)
        # Garbage, a client that stops halfway, and one that leaves while waiting.
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(b"\x00\xff garbage\r\n\r\n")
            self.assertIn(b" 400 ", s.recv(4096))
        half = socket.create_connection(("127.0.0.1", self.port))
        half.sendall(b"GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\nHost: x\r\n")
        leaver = socket.create_connection(("127.0.0.1", self.port))
        leaver.sendall(b"GET /debug/pprof/profile?seconds=2 HTTP/1.1\r\n\r\n")
        leaver.close()
        time.sleep(3)
        half.close()
        self.assertIsNone(self.d.poll())
        self.assertEqual(self.get("/debug/pprof/")[0], 200)

    def test_many_clients(self):
        burn = self.spawn([CPUBURN, "6"])
        results = []

        def fetch():
            results.append(self.get("/debug/pprof/profile?seconds=2&pid=%d" % burn.pid))

        threads = [threading.Thread(target=fetch) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(len(results), 10)
        for status, body in results:
            self.assertEqual(status, 200)
            path = self.path("c.pb.gz")
            with open(path, "wb") as f:
                f.write(body)
            self.assertGreater(pprof_samples(path), 100)


class HttpErrors(DaemonTestCase):
    def test_bad_addresses(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        self.addCleanup(taken.close)
        for addr, want in (("nonsense", "invalid --http address"), ("127.0.0.1:99999", "invalid --http address"),
                           ("127.0.0.1:%d" % taken.getsockname()[1], "address already in use")):
            r = subprocess.run([HEARTHD, "--all", "--ring", self.path("r"), "--control", self.path("c.sock"),
                                "--http", addr], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(want, r.stderr.lower() if want.islower() else r.stderr)


class OutputDir(DaemonTestCase):
    def test_files_cover_every_interval(self):
        out = self.path("profiles")
        d, ring = self.start_daemon("--all", "-r", "99", "--output-dir", out, "--every", "2s", "--keep", "0")
        burn = self.spawn([CPUBURN, "9"])
        burn.wait(timeout=60)
        time.sleep(1.5)
        self.stop(d)
        files = sorted(f for f in os.listdir(out) if f.endswith(".pb.gz"))
        self.assertGreaterEqual(len(files), 4, files)
        for f in files:
            self.assertRegex(f, r"^hearth-\d{8}T\d{6}Z\.pb\.gz$")
            self.assertEqual(os.stat(os.path.join(out, f)).st_mode & 0o777, 0o640)
        r = subprocess.run([go(), "tool", "pprof", "-top", "-symbolize=none", os.path.join(out, files[1])],
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, HOME=self.tmp.name, PPROF_TMPDIR=self.tmp.name))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("burn_a", r.stdout)
        # Intervals tile the time: the files hold exactly what the ring holds.
        in_files = sum(pprof_samples(os.path.join(out, f)) for f in files)
        self.export(ring, "-f", "folded", "-o", self.path("all.folded"))
        in_ring = total(read_folded(self.path("all.folded")))
        self.assertEqual(in_files, in_ring)

    def test_retention(self):
        out = self.path("profiles")
        os.mkdir(out)
        # Not ours: left alone whatever its age.
        other = os.path.join(out, "notes.txt")
        with open(other, "w") as f:
            f.write("x")
        d, ring = self.start_daemon("--all", "-r", "49", "--output-dir", out, "--every", "1s", "--keep", "3s")
        time.sleep(8)
        self.stop(d)
        ours = sorted(f for f in os.listdir(out) if f.startswith("hearth-"))
        self.assertTrue(os.path.exists(other))
        self.assertGreaterEqual(len(ours), 2, ours)
        self.assertLessEqual(len(ours), 5, "old files not removed: %s" % ours)

    def test_unwritable(self):
        target = self.path("file")
        with open(target, "w") as f:
            f.write("x")
        r = subprocess.run([HEARTHD, "--all", "--ring", self.path("r"), "--control", self.path("c.sock"),
                            "--output-dir", target], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("cannot write into --output-dir", r.stderr)
        r = subprocess.run([HEARTHD, "--every", "0s"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
