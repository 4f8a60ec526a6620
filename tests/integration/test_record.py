# SPDX-License-Identifier: MIT
"""hearth record on programs with known behaviour: shares, call chains, kernel
frames, targets by PID and by command, children, signals and early exits."""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (CHAIN_A, CHAIN_B, CHAIN_C, CPUBURN, HEARTH, KERNELBURN,  # noqa: E402
                        BpfTestCase, bpf_progs_named, chain_share, cpu_seconds, has_chain,
                        read_folded, share, total, wait_for_threads)

KERNEL_ENTRY = ("entry_SYSCALL_64", "entry_SYSCALL_64_after_hwframe", "do_syscall_64",
                "__x64_sys_read", "ksys_read", "vfs_read")


class Record(BpfTestCase):
    def check_cpuburn_profile(self, stacks, min_samples):
        """The 50/30/20 shares within 5 points, each on its complete chain."""
        n = total(stacks)
        self.assertGreaterEqual(n, min_samples, "too few samples: %s" % stacks)
        # Shares are of the samples inside run(): calibration at start-up is not part of the split.
        in_run = {f: c for f, c in stacks.items() if "run" in f}
        self.assertGreaterEqual(total(in_run) / n, 0.90)
        for chain, expected in ((CHAIN_A, 0.50), (CHAIN_B, 0.30), (CHAIN_C, 0.20)):
            got = chain_share(in_run, chain)
            self.assertAlmostEqual(got, expected, delta=0.05,
                                   msg="%s: %.3f, expected %.2f" % (";".join(chain), got, expected))
        # Every sample of a burn function has its whole chain, root to leaf, and the
        # burn functions are where the time is spent (the leaf: self time).
        for chain in (CHAIN_A, CHAIN_B, CHAIN_C):
            leaf = sum(c for f, c in in_run.items() if f[-1] == chain[-1])
            self.assertGreater(leaf, 0.95 * chain_share(in_run, chain) * total(in_run))
        # A sample in a function's first or last instructions, before its frame
        # is set up or after it is torn down, loses the caller in a frame-pointer
        # walk (perf's too): allow that for a few samples in a thousand, no more.
        broken = []
        for frames, count in stacks.items():
            ok = True
            if "run" in frames:
                i = frames.index("run")
                ok = i > 0 and frames[i - 1] in ("main", "worker_main")
            for chain in (CHAIN_A, CHAIN_B, CHAIN_C):
                if chain[-1] in frames and not has_chain(frames, chain):
                    ok = False
            if not ok:
                broken.append((count, ";".join(frames)))
        self.assertLessEqual(sum(c for c, _ in broken), max(2, 0.005 * n),
                             "broken chains: %s" % broken)

    def test_command_shares_and_chains(self):
        out = self.path("cmd.folded")
        r = self.record(["-r", "499", "-v", "-o", out, "--", CPUBURN, "4", "--threads", "1"])
        # Up to 4000 samples on an idle machine; 1000 keep the shares' noise near 1.5 points.
        self.check_cpuburn_profile(read_folded(out), 1000)
        self.assertRegex(r.stderr, r"exited with status 0")

    def test_pid_at_99hz(self):
        burn = self.spawn([CPUBURN, "30", "--threads", "1"])
        wait_for_threads(burn.pid, 2)
        time.sleep(0.3)
        out = self.path("pid.folded")
        cpu = cpu_seconds(burn.pid)
        r = self.record(["-p", str(burn.pid), "-d", "6", "--threads", "-v", "-o", out])
        cpu = cpu_seconds(burn.pid) - cpu
        stacks = read_folded(out)
        # One sample per 1/99 s of CPU the target used: nothing lost, nothing invented.
        # (The CPU time also counts hearth's start-up and exit, hence the slack below.)
        self.assertGreater(total(stacks), 0.85 * 99 * cpu, "samples vs %.2f s of CPU" % cpu)
        self.assertLess(total(stacks), 1.05 * 99 * cpu, "samples vs %.2f s of CPU" % cpu)
        self.check_cpuburn_profile({f[1:]: c for f, c in stacks.items()}, 300)
        roots = {f[0] for f in stacks}
        self.assertEqual(len(roots), 2, roots)
        for root in roots:
            self.assertRegex(root, r"^cpuburn \(tid \d+\)$")
        m = re.search(r"(\d+) samples in .* (\d+) lost", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        self.assertEqual(int(m.group(2)), 0, "lost samples at 99 Hz: " + r.stderr)
        self.assertIsNone(burn.poll(), "the target must keep running after recording")

    def test_kernel_frames(self):
        out = self.path("k.folded")
        self.record(["-r", "499", "-o", out, "--", KERNELBURN, "2"])
        stacks = read_folded(out)
        self.assertGreater(total(stacks), 400)
        in_kernel = sum(c for f, c in stacks.items()
                        if has_chain(f, ["main", "read_loop"]) and any(k in f for k in KERNEL_ENTRY))
        self.assertGreater(in_kernel / total(stacks), 0.5, stacks)
        # Kernel frames sit above the user frames that made the call.
        for frames in stacks:
            kernel = [i for i, name in enumerate(frames) if name in KERNEL_ENTRY]
            if "read_loop" in frames and kernel:
                self.assertLess(frames.index("read_loop"), min(kernel), frames)

    def test_no_kernel(self):
        out = self.path("nk.folded")
        self.record(["-r", "499", "--no-kernel", "-o", out, "--", KERNELBURN, "2"])
        stacks = read_folded(out)
        self.assertGreater(total(stacks), 400)
        for frames in stacks:
            self.assertFalse(any(k in frames for k in KERNEL_ENTRY), frames)
        self.assertGreater(share(stacks, "read_loop"), 0.9)

    def test_several_pids_get_process_roots(self):
        a = self.spawn([CPUBURN, "30"])
        b = self.spawn([CPUBURN, "30"])
        time.sleep(0.3)
        out = self.path("two.folded")
        cpu = {p.pid: cpu_seconds(p.pid) for p in (a, b)}
        self.record(["-p", "%d,%d" % (a.pid, b.pid), "-d", "3", "-o", out])
        cpu = {pid: cpu_seconds(pid) - t for pid, t in cpu.items()}
        stacks = read_folded(out)
        roots = {f[0] for f in stacks}
        self.assertEqual(roots, {"cpuburn (pid %d)" % a.pid, "cpuburn (pid %d)" % b.pid})
        for pid in (a.pid, b.pid):
            mine = {f[1:]: c for f, c in stacks.items() if f[0] == "cpuburn (pid %d)" % pid}
            self.assertGreater(total(mine), 0.85 * 99 * cpu[pid])
            self.assertGreater(share(mine, "burn_a"), 0.3)

    def test_subprocesses(self):
        script = "%s 2 & %s 2; wait" % (CPUBURN, CPUBURN)
        out = self.path("sub.folded")
        self.record(["--subprocesses", "-o", out, "--", "sh", "-c", script])
        stacks = read_folded(out)
        burners = {f[0] for f in stacks if "burn_a" in f}
        self.assertEqual(len(burners), 2, "expected two cpuburn children: %s" % burners)
        for root in burners:
            self.assertRegex(root, r"^cpuburn \(pid \d+\)$")
        self.assertGreater(share(stacks, "run"), 0.9)

    def test_children_not_followed_by_default(self):
        out = self.path("nosub.folded")
        self.record(["-o", out, "--", "sh", "-c", "%s 1; true" % CPUBURN])
        stacks = read_folded(out)
        self.assertEqual(share(stacks, "burn_a"), 0.0)

    def test_binary_only_in_another_mount_namespace(self):
        # As in a container: the binary's path exists only in the target's mount namespace.
        script = ("mount -t tmpfs none /mnt && cp %s /mnt/hidden-burner && exec /mnt/hidden-burner 30"
                  % CPUBURN)
        burn = self.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script])
        deadline = time.time() + 5
        while time.time() < deadline and not os.path.exists("/proc/%d/exe" % burn.pid):
            time.sleep(0.05)
        time.sleep(0.5)
        self.assertFalse(os.path.exists("/mnt/hidden-burner"))
        out = self.path("ns.folded")
        self.record(["-p", str(burn.pid), "-d", "2", "-o", out])
        self.assertGreater(chain_share(read_folded(out), CHAIN_A), 0.4)

    def test_deleted_binary(self):
        copy = self.path("burner")
        with open(CPUBURN, "rb") as src, open(copy, "wb") as dst:
            dst.write(src.read())
        os.chmod(copy, 0o755)
        burn = self.spawn([copy, "30"])
        time.sleep(0.3)
        os.unlink(copy)
        out = self.path("deleted.folded")
        self.record(["-p", str(burn.pid), "-d", "2", "-o", out])
        self.assertGreater(chain_share(read_folded(out), CHAIN_A), 0.4)

    def test_target_exits_before_duration(self):
        burn = self.spawn([CPUBURN, "1.5"])
        out = self.path("exit.folded")
        start = time.time()
        self.record(["-p", str(burn.pid), "-d", "60", "-o", out], timeout=30)
        self.assertLess(time.time() - start, 10, "recording must end when the target exits")
        self.assertGreater(total(read_folded(out)), 50)

    def test_sigint_writes_profile_and_detaches(self):
        burn = self.spawn([CPUBURN, "30"])
        out = self.path("int.folded")
        h = self.spawn([HEARTH, "record", "-p", str(burn.pid), "-o", out],
                       stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)
        self.assertGreater(len(bpf_progs_named("hearth_sample")), 0, "sampler not loaded")
        h.send_signal(signal.SIGINT)
        _, err = h.communicate(timeout=15)
        self.assertEqual(h.returncode, 0, err)
        self.assertGreater(total(read_folded(out)), 100)
        self.assertEqual(bpf_progs_named("hearth_sample"), [], "BPF program left loaded")
        with open("/proc/%d/stat" % burn.pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        self.assertIn(state, ("R", "S"), "target left in state %s" % state)

    def test_sigterm_reaches_command(self):
        out = self.path("term.folded")
        h = self.spawn([HEARTH, "record", "-o", out, "--", CPUBURN, "60"],
                       stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        h.send_signal(signal.SIGTERM)
        _, err = h.communicate(timeout=15)
        self.assertEqual(h.returncode, 0, err)
        self.assertIn("killed by signal 15", err)
        self.assertGreater(total(read_folded(out)), 100)
        self.assertEqual(bpf_progs_named("hearth_sample"), [])

    def test_command_exit_status_reported(self):
        out = self.path("status.folded")
        r = self.record(["-o", out, "--", "sh", "-c", "exit 3"])
        self.assertIn("exited with status 3", r.stderr)
        self.assertTrue(os.path.exists(out))

    def test_folded_to_stdout(self):
        r = self.record(["-r", "199", "-f", "folded", "-o", "-", "--", CPUBURN, "1"])
        lines = [line for line in r.stdout.splitlines() if line]
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^\S.* \d+$")
        self.assertTrue(any("burn_a" in line for line in lines))


if __name__ == "__main__":
    unittest.main(verbosity=2)
