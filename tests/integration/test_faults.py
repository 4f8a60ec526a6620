# SPDX-License-Identifier: MIT
"""hearthd survives the faults it can: each injected here while it runs.

For each fault the daemon keeps writing slots (its own count goes on), `hearth
status` counts the fault, and what the ring held before is still there (an
export of the window before the fault gives the same samples after it).
Only the fatal ones stop it, with one line that says what to do: the ring file
removed or replaced, or no room for the ring at the start.

- control clients that send half a request and vanish, that connect and say
  nothing (answered after a second, while others are served meanwhile), and a
  flood of requests from several threads;
- HTTP clients that disconnect mid-answer or before it;
- a target that runs code from a mapped file that is not ELF, and a target
  whose executable was deleted;
- processes and threads that vanish while their /proc entries are read, and
  a process that maps and unmaps in a loop while its maps are read;
- an --output-dir on a tiny tmpfs that fills, and one that is removed;
- the ring's file system full at the start, the ring file unlinked, replaced.
BPF tests fail rather than skip under CI."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import CPUBURN, HEARTH, SYSTEM_PYTHON, read_folded, share, total  # noqa: E402
from test_daemon import HEARTHD, DaemonTestCase, wait_cpu  # noqa: E402

PYTHON = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) else sys.executable

# A status request as hearth sends it (proto/control.proto: Request.status, field 3, empty).
STATUS_REQUEST = b"\x1a\x00"

# Raw x86-64 code, not ELF: "pause; jmp back" spins for ever where it is called.
SPIN_CODE = b"\xf3\x90\xeb\xfc"
RUN_RAW_CODE = r"""
import ctypes, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
p = libc.mmap(None, 4096, 0x1 | 0x4, 0x2, fd, 0)  # PROT_READ|PROT_EXEC, MAP_PRIVATE
spin = ctypes.CFUNCTYPE(None)(p)
print("%x" % p, flush=True)
spin()  # never returns: spinning in the file's code, the GIL released by ctypes
"""

# Maps and unmaps in a loop: its /proc/PID/maps changes while it is read.
MAP_CHURN = r"""
import mmap, sys, time
end = time.time() + float(sys.argv[1])
keep = []
while time.time() < end:
    for i in range(64):
        keep.append(mmap.mmap(-1, 4096 * (1 + i % 7)))
    while keep:
        keep.pop().close()
"""


class Faults(DaemonTestCase):
    def ring_samples(self, ring, until):
        """Samples the ring holds up to UNTIL (time.time())."""
        out = self.path("until.folded")
        self.export(ring, "--until", "@%d" % int(until), "-o", out)
        return total(read_folded(out))

    def start_with_history(self, *args, **kw):
        """A daemon with a burst of samples in the ring, and the time after them."""
        d, ring = self.start_daemon(*args, **kw)
        wait_cpu(self.spawn([CPUBURN, "0.5"]))
        st = self.wait_slots(d, after=time.time() + 1)
        t = st["ring_newest_ns"] / 1e9 - 0.5
        n = self.ring_samples(ring, t)
        self.assertGreater(n, 0, self.daemon_log(d))
        return d, ring, t, n

    def assert_survived(self, d, ring, t, n, fault, at_least=1):
        """d still writes slots, counts FAULT, and the ring still holds the N samples up to T."""
        st = self.wait_slots(d, slots=2)
        self.assertGreaterEqual(st["faults"][fault], at_least, st)
        self.assertEqual(self.ring_samples(ring, t), n, "samples before the fault")
        return st

    def test_control_clients(self):
        d, ring, t, n = self.start_with_history("-r", "99", "--slot", "100ms")
        # Half a request (a field with its length missing), then gone.
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(d.sock)
            s.send(STATUS_REQUEST[:1])
            s.close()
        # Connected, never a word, gone.
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(d.sock)
            s.close()
        # Twenty that stay silent, more than the daemon serves at once: their second runs out
        # while status requests and slots go on.
        silent = []
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(d.sock)
            silent.append(s)
        st = self.wait_slots(d, slots=3)
        for s in silent:
            s.settimeout(30)
            self.assertIn(b"no request received", s.recv(4096))
            s.close()
        # A flood: four threads asking as fast as they can.
        answered = []

        def flood():
            k = 0
            end = time.time() + 3
            while time.time() < end:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.settimeout(30)
                s.connect(d.sock)
                s.send(STATUS_REQUEST)
                k += len(s.recv(65536)) > 0
                s.close()
            answered.append(k)

        threads = [threading.Thread(target=flood) for _ in range(4)]
        slots0 = self.status(d)["slots"]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        st = self.assert_survived(d, ring, t, n, "control_malformed", 20)
        self.assertGreaterEqual(st["faults"]["control_vanished"], 20, st)
        self.assertGreaterEqual(st["faults"]["control_timed_out"], 20, st)
        # Slots went on under the flood: at least half of those due in its 3 s.
        self.assertGreater(st["slots"] - slots0, 0.5 * 3 / st["slot_length_s"], st)
        sys.stderr.write("control: %d flood requests answered in 3 s; the longest gap between slots %.3f s\n"
                         % (sum(answered), st["slot_gap_max_s"]))
        self.stop(d)

    def test_http_clients_that_leave(self):
        port = 20000 + os.getpid() % 20000
        d, ring, t, n = self.start_with_history("-r", "99", "--slot", "100ms", "--http", "127.0.0.1:%d" % port)
        for i in range(30):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(b"GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            if i % 3 == 1:
                s.recv(10)  # the answer started
            if i % 3 == 2:
                s.sendall(b"GET /debug/pprof/profile?sec")  # and half of another
            # Reset, not a clean close, half of the time.
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        # The answers those clients left are made and thrown away as their time comes.
        st = self.wait_slots(d, after=time.time() + 1.5)
        self.assert_alive(d)
        # A client that stays gets its profile.
        with urllib.request.urlopen("http://127.0.0.1:%d/debug/pprof/profile?seconds=1" % port,
                                    timeout=60) as r:
            self.assertEqual(r.status, 200, self.daemon_log(d))
            self.assertGreater(len(r.read()), 0)
        st = self.assert_survived(d, ring, t, n, "http_client_errors", 0)
        self.assertGreater(st["http_ok"], 0, st)
        self.stop(d)

    def test_targets_that_are_odd(self):
        # A file of raw code mapped executable and run, and an executable deleted while it runs.
        code = self.path("raw.code")
        with open(code, "wb") as f:
            f.write(SPIN_CODE * 1024)
        raw = self.spawn([PYTHON, "-c", RUN_RAW_CODE, code], stdout=subprocess.PIPE, text=True)
        start = int(raw.stdout.readline(), 16)
        gone = self.path("cpuburn-deleted")
        shutil.copy(CPUBURN, gone)
        burn = self.spawn([gone, "4"])
        time.sleep(0.2)  # let it exec before the file goes
        os.unlink(gone)
        # Native stacks: the default view shows the Python frames over native ones it cannot unwind.
        d, ring = self.start_daemon("-p", "%d,%d" % (raw.pid, burn.pid), "-r", "99", "--slot", "100ms",
                                    "--no-python")
        cpu = wait_cpu(burn)
        self.wait_slots(d, after=time.time())
        raw.kill()
        raw.wait()
        st = self.wait_slots(d, slots=2)
        self.assert_alive(d)
        out = self.path("odd.folded")
        self.export(ring, "-o", out)
        stacks = read_folded(out)
        mine = {k: c for k, c in stacks.items() if k[0].endswith("(pid %d)" % raw.pid)}
        spun = sum(c for k, c in mine.items() if k[-1].startswith("raw.code+0x"))
        self.assertGreater(spun, 0.8 * total(mine), "leaf in the raw code (mapped at %x): %s"
                           % (start, sorted(mine.items(), key=lambda kv: -kv[1])[:5]))
        # The deleted executable's frames still have its symbols: it is read through /proc/PID/map_files.
        burned = {k: c for k, c in stacks.items() if k[0].endswith("(pid %d)" % burn.pid)}
        self.assertGreater(total(burned), 0.5 * 99 * cpu, burned)
        self.assertAlmostEqual(share(burned, "burn_a"), 0.5, delta=0.1,
                               msg=sorted(burned.items(), key=lambda kv: -kv[1])[:5])
        self.stop(d)

    def test_proc_entries_vanishing(self):
        d, ring, t, n = self.start_with_history("--all", "-r", "199", "--slot", "100ms")
        churn = self.spawn([PYTHON, "-c", MAP_CHURN, "5"])
        # Processes and threads that live a few milliseconds, read as they go.
        loop = ("end=$(($(date +%%s) + 5)); while [ $(date +%%s) -lt $end ]; do "
                "for j in 1 2 3 4; do %s 0.005 & done; wait; done" % CPUBURN)
        sh = self.spawn(["sh", "-c", loop])
        wait_cpu(churn)
        wait_cpu(sh)
        st = self.assert_survived(d, ring, t, n, "slots_failed", 0)
        sys.stderr.write("vanishing: faults %s\n" % {k: v for k, v in st["faults"].items() if v})
        self.assertEqual(st["faults"]["slots_failed"], 0, st)
        self.stop(d)

    def mount_tmpfs(self, path, size):
        os.makedirs(path, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path], check=True, timeout=30)
        self.addCleanup(subprocess.run, ["umount", "-l", path], timeout=30)

    def test_output_dir_full_or_removed(self):
        small = self.path("small")
        self.mount_tmpfs(small, "48k")
        out = os.path.join(small, "profiles")
        # Fill it but for a few KiB: the first files may fit, then none do.
        with open(os.path.join(small, "filler"), "wb") as f:
            f.write(b"\0" * 40 * 1024)
        burn = self.spawn([CPUBURN, "30"])
        d, ring, t, n = self.start_with_history("-p", str(burn.pid), "-r", "99", "--output-dir", out,
                                                "--every", "1s")
        st = self.wait_slots(d, slots=3)
        deadline = time.time() + 60
        while self.status(d)["faults"]["outputs_failed"] == 0:
            self.assertLess(time.time(), deadline, self.daemon_log(d))
            self.wait_slots(d)
        self.assert_survived(d, ring, t, n, "outputs_failed")
        self.assertIn("cannot write a profile into", self.daemon_log(d))
        # Room again, the folder removed: it is made again and files come.
        os.unlink(os.path.join(small, "filler"))
        shutil.rmtree(out)
        written = self.status(d)["outputs_written"]
        deadline = time.time() + 60
        while self.status(d)["outputs_written"] <= written:
            self.assertLess(time.time(), deadline, self.daemon_log(d))
            self.wait_slots(d)
        self.assertTrue(any(f.endswith(".pb.gz") for f in os.listdir(out)), os.listdir(out))
        self.stop(d)

    def test_ring_fatal_faults(self):
        # No room for the ring: one line, exit 1, nothing left behind.
        small = self.path("small")
        self.mount_tmpfs(small, "1m")
        ring = os.path.join(small, "hearth.ring")
        r = subprocess.run([HEARTHD, "--ring", ring, "--ring-size", "4M", "--control", self.path("c.sock")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertRegex(r.stderr, r"^hearthd: cannot create ring .*: its file system has no room for 4 MiB")
        self.assertFalse(os.path.exists(ring))

        # The ring file unlinked, or another file put in its place: the daemon stops, saying so.
        for how in ("removed", "replaced by another file"):
            d, ring, t, n = self.start_with_history("-r", "99", "--slot", "100ms",
                                                    ring=self.path("r-%d.ring" % len(how)), ring_size="1M")
            if how == "removed":
                os.unlink(ring)
            else:
                with open(ring + ".new", "wb") as f:
                    f.write(b"not a ring")
                os.rename(ring + ".new", ring)
            self.assertEqual(d.wait(timeout=60), 1, self.daemon_log(d))
            last = self.daemon_log(d).splitlines()[-1]
            self.assertEqual(last, "hearthd: the ring file %s was %s: what was in it is gone from readers; "
                             "restart hearthd to start a ring there" % (ring, how))


if __name__ == "__main__":
    unittest.main(verbosity=2)
