# SPDX-License-Identifier: MIT
"""Every bad input gets one clear line on stderr and a non-zero exit, never a
crash, a hang or a half-written file."""

import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (CHAIN_A, CPUBURN, HEARTH, BpfTestCase, chain_share, read_folded,  # noqa: E402
                        share_delta, total)


def hearth(args, timeout=30, **kw):
    return subprocess.run([HEARTH] + args, capture_output=True, text=True, timeout=timeout, **kw)


class Usage(unittest.TestCase):
    """Mistakes in the command line: exit 2, one line, before anything is loaded."""

    def expect(self, args, pattern, code=2):
        r = hearth(args)
        self.assertEqual(r.returncode, code, "hearth %s: %s" % (args, r.stderr))
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, "want one line, got: %r" % r.stderr)
        self.assertRegex(lines[0], "^hearth: " + pattern)
        self.assertNotIn("Segmentation", r.stderr)

    def test_rate_zero(self):
        self.expect(["record", "-r", "0", "-p", "1"], r"invalid rate '0'")

    def test_rate_too_high(self):
        self.expect(["record", "-r", "100000", "-p", "1"], r"invalid rate '100000'.*1 to 10000")

    def test_rate_garbage(self):
        self.expect(["record", "-r", "fast", "-p", "1"], r"invalid rate 'fast'")

    def test_negative_duration(self):
        self.expect(["record", "-d", "-1", "-p", "1"], r"invalid duration '-1'")

    def test_duration_garbage(self):
        self.expect(["record", "-d", "10x", "-p", "1"], r"invalid duration '10x'")

    def test_unknown_format(self):
        self.expect(["record", "-f", "png", "-p", "1"], r"unknown format 'png'")

    def test_unknown_extension(self):
        self.expect(["record", "-o", "out.xyz", "-p", "1"], r"cannot tell the format of 'out.xyz'")

    def test_no_target(self):
        self.expect(["record", "-d", "1"], r"no target")

    def test_bad_pid_list(self):
        self.expect(["record", "-p", "12,,3"], r"invalid PID list")
        self.expect(["record", "-p", "-5"], r"invalid PID list")
        self.expect(["record", "-p", "abc"], r"invalid PID list")

    def test_pid_and_command(self):
        self.expect(["record", "-p", "1", "--", "true"], r"give either -p PID or a command, not both")

    def test_unknown_option(self):
        self.expect(["record", "--bogus"], r"unknown option '--bogus'")

    def test_missing_value(self):
        self.expect(["record", "-p"], r"option '-p' needs a value")

    def test_unknown_command(self):
        self.expect(["frobnicate"], r"unknown command 'frobnicate'")

    def test_help_and_version(self):
        for args in (["--help"], ["record", "--help"]):
            r = hearth(args)
            self.assertEqual(r.returncode, 0)
            self.assertIn("Usage: hearth", r.stdout)
        r = hearth(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^hearth \d+\.\d+\.\d+")


class Runtime(BpfTestCase):
    """Problems found when recording starts: exit 1 with one line."""

    def expect(self, args, pattern, **kw):
        r = hearth(args, **kw)
        self.assertEqual(r.returncode, 1, "hearth %s: %s" % (args, r.stderr))
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, "want one line, got: %r" % r.stderr)
        self.assertRegex(lines[0], "^hearth: " + pattern)
        return r

    def dead_pid(self):
        p = subprocess.Popen(["true"])
        p.wait()
        return p.pid

    def test_no_such_pid(self):
        self.expect(["record", "-p", "4000000", "-o", self.path("x.svg")],
                    r"cannot attach to pid 4000000: no such process")

    def test_pid_gone_before_attach(self):
        pid = self.dead_pid()
        out = self.path("gone.svg")
        self.expect(["record", "-p", str(pid), "-o", out], r"cannot attach to pid %d: no such process" % pid)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(os.listdir(self.tmp.name), [], "temporary output left behind")

    def test_thread_id_instead_of_pid(self):
        burn = self.spawn([CPUBURN, "10", "--threads", "1"])
        deadline = time.time() + 5
        tids = []
        while time.time() < deadline and len(tids) < 2:
            tids = [int(t) for t in os.listdir("/proc/%d/task" % burn.pid)]
            time.sleep(0.05)
        tid = max(t for t in tids if t != burn.pid)
        self.expect(["record", "-p", str(tid), "-o", self.path("t.svg")],
                    r"cannot attach to pid %d: it is a thread of process %d; give -p %d"
                    % (tid, burn.pid, burn.pid))

    def test_python_named_program_without_cpython(self):
        # A program called python3 with no CPython in it: one warning, native stacks, exit 0.
        fake = self.path("python3")
        shutil.copy(CPUBURN, fake)
        p = self.spawn([fake, "10"])
        out = self.path("fake.folded")
        r = hearth(["record", "-p", str(p.pid), "-d", "4", "-o", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(lines, ["hearth: pid %d (python3): no CPython found (no libpython, _PyRuntime or "
                                 "interpreter symbols): native stacks only" % p.pid])
        # Native stacks all the same: cpuburn's split, within four binomial standard errors.
        in_run = {k: c for k, c in read_folded(out).items() if "run" in k}
        self.assertAlmostEqual(chain_share(in_run, CHAIN_A), 0.5, delta=share_delta(0.5, total(in_run), 0.02),
                               msg="%s of %d samples in run" % (";".join(CHAIN_A), total(in_run)))

    def test_gil_without_python(self):
        r = hearth(["record", "--gil", "--no-python", "-p", "1"])
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "hearth: --gil needs Python stacks: drop --no-python\n")

    def test_unwritable_output(self):
        self.expect(["record", "-p", "1", "-o", "/proc/hearth-nope/out.svg"],
                    r"cannot write /proc/hearth-nope/out.svg: ")
        ro = self.path("ro")
        os.mkdir(ro)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "none", ro], check=True)
        self.addCleanup(subprocess.run, ["umount", ro])
        self.expect(["record", "-p", "1", "-o", os.path.join(ro, "out.svg")],
                    r"cannot write .*: Read-only file system")

    def test_command_not_found(self):
        self.expect(["record", "-o", self.path("x.svg"), "--", "/nonexistent/prog"],
                    r"cannot run /nonexistent/prog: No such file or directory")
        plain = self.path("not-executable")
        with open(plain, "w") as f:
            f.write("data\n")
        os.chmod(plain, 0o644)
        self.expect(["record", "-o", self.path("x.svg"), "--", plain],
                    r"cannot run %s: Permission denied" % plain)

    def test_not_privileged(self):
        if not shutil.which("setpriv"):
            self.fail("setpriv (util-linux) is needed for this test")
        burn = self.spawn([CPUBURN, "5"])
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
               HEARTH, "record", "-p", str(burn.pid), "-o", "/tmp/hearth-unpriv.svg"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr.strip(),
                         r"^hearth: permission denied: recording needs root, or CAP_BPF and CAP_PERFMON")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)

    def test_no_btf(self):
        # Hide the kernel's BTF in a private mount namespace, as on a kernel built without it.
        script = "mount -t tmpfs none /sys/kernel/btf && exec \"$@\""
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
               HEARTH, "record", "-p", "1", "-o", self.path("x.svg")]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr.strip(), r"^hearth: kernel BTF not found \(/sys/kernel/btf/vmlinux\)")

    def test_killed_recording_leaves_nothing_attached(self):
        burn = self.spawn([CPUBURN, "10"])
        h = subprocess.Popen([HEARTH, "record", "-p", str(burn.pid), "-o", self.path("k.svg")],
                             stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        h.kill()
        h.wait()
        # The kernel frees the program once the last fd is gone; give it a moment.
        for _ in range(50):
            out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
            if "hearth_sample" not in out:
                break
            time.sleep(0.1)
        self.assertNotIn("hearth_sample", out)
        self.assertIsNone(burn.poll())


if __name__ == "__main__":
    unittest.main(verbosity=2)
