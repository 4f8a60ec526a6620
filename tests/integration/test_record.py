# SPDX-License-Identifier: MIT
"""hearth record on programs with known behaviour: shares, call chains, kernel
frames, targets by PID and by command, children, signals and early exits."""

import math
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import (CHAIN_A, CHAIN_B, CHAIN_C, CPUBURN, KERNELBURN,  # noqa: E402
                        BpfTestCase, bpf_progs_named, chain_share, has_chain,
                        poisson_bounds, read_folded, share, total, wait_for_threads)

KERNEL_ENTRY = ("entry_SYSCALL_64", "entry_SYSCALL_64_after_hwframe", "do_syscall_64",
                "__x64_sys_read", "ksys_read", "vfs_read")


class Record(BpfTestCase):
    def check_cpuburn_profile(self, stacks):
        """The 50/30/20 shares within four binomial standard errors of the samples counted, each
        on its complete chain."""
        n = total(stacks)
        self.assertGreater(n, 0, "no samples")
        # Shares are of the samples inside run(): calibration at start-up is not part of the split.
        in_run = {f: c for f, c in stacks.items() if "run" in f}
        self.assertGreaterEqual(total(in_run) / n, 0.90)
        for chain, expected in ((CHAIN_A, 0.50), (CHAIN_B, 0.30), (CHAIN_C, 0.20)):
            self.assertShare(chain_share(in_run, chain), expected, total(in_run), ";".join(chain))
        # Every sample of a burn function has its whole chain, root to leaf, and the
        # burn functions are where the time is spent (the leaf: self time).
        for chain in (CHAIN_A, CHAIN_B, CHAIN_C):
            leaf = sum(c for f, c in in_run.items() if f[-1] == chain[-1])
            self.assertGreater(leaf, 0.95 * chain_share(in_run, chain) * total(in_run))
        # A sample in a function's first or last instructions, before its frame
        # is set up or after it is torn down, loses the caller in a frame-pointer
        # walk (perf's too): allow that for a few samples in a thousand, no more.
        # Above main (worker_main for the threads) every stack has the same
        # frames: the C library's start-up code as far as the unwinding found
        # it, the same for the first samples (DWARF over whole copies) as for
        # the frame-pointer walks after them.
        above = {}
        for frames, count in stacks.items():
            for anchor in ("main", "worker_main"):
                if anchor in frames:
                    key = (anchor, frames[:frames.index(anchor)])
                    above[key] = above.get(key, 0) + count
        usual = {}
        for (anchor, prefix), count in above.items():
            if count > above.get((anchor, usual.get(anchor)), 0):
                usual[anchor] = prefix
        broken = []
        for frames, count in stacks.items():
            ok = all(frames[:frames.index(anchor)] == prefix for anchor, prefix in usual.items() if anchor in frames)
            if "run" in frames:
                i = frames.index("run")
                ok = ok and i > 0 and frames[i - 1] in ("main", "worker_main")
            for chain in (CHAIN_A, CHAIN_B, CHAIN_C):
                if chain[-1] in frames and not has_chain(frames, chain):
                    ok = False
            if not ok:
                broken.append((count, ";".join(frames)))
        self.assertLessEqual(sum(c for c, _ in broken), max(2, 0.005 * n),
                             "broken chains: %s" % broken)

    def test_command_shares_and_chains(self):
        out = self.path("cmd.folded")
        r = self.record_live(["-r", "499", "-o", out, "--", CPUBURN, "4", "--threads", "1"])
        stacks = read_folded(out)
        # The command's CPU time (wait4) at the rate, however little a busy machine gave it.
        self.assertSampled(total(stacks), r.command_cpu(), r, r.stderr)
        self.check_cpuburn_profile(stacks)
        self.assertRegex(r.stderr, r"exited with status 0")

    def test_pid_at_99hz(self):
        burn = self.spawn([CPUBURN, "30", "--threads", "1"])
        wait_for_threads(burn.pid, 2)
        time.sleep(0.3)
        out = self.path("pid.folded")
        r = self.record_live(["-p", str(burn.pid), "-d", "6", "--threads", "-o", out], [burn.pid])
        stacks = read_folded(out)
        # One sample per 1/99 s of CPU the target used while sampled: nothing lost, nothing invented.
        self.assertSampled(total(stacks), r.cpu(burn.pid), r, r.stderr, r.switches(burn.pid))
        self.check_cpuburn_profile({f[1:]: c for f, c in stacks.items()})
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
        r = self.record_live(["-r", "499", "-o", out, "--", KERNELBURN, "2"])
        stacks = read_folded(out)
        self.assertSampled(total(stacks), r.command_cpu(), r, r.stderr)
        in_kernel = sum(c for f, c in stacks.items()
                        if has_chain(f, ["main", "read_loop"]) and any(k in f for k in KERNEL_ENTRY))
        # The kernel's own split of the command's CPU (wait4: user and system time, told apart by
        # its ticks, at CONFIG_HZ: 100 a second at least) is the truth: the share of samples in
        # read(2) against the system share, within four standard errors of both counts.
        m = re.search(r"used [\d.]+ s of CPU \(([\d.]+) user, ([\d.]+) system\)", r.stderr)
        user, system = float(m.group(1)), float(m.group(2))
        p = system / (user + system)
        delta = 4 * math.sqrt(p * (1 - p) * (1 / total(stacks) + 1 / (100 * (user + system))))
        self.assertAlmostEqual(in_kernel / total(stacks), p, delta=max(delta, 0.02),
                               msg="%d of %d samples in read(2), %.3f s of %.3f system" % (
                                   in_kernel, total(stacks), system, user + system))
        # Kernel frames sit above the user frames that made the call.
        for frames in stacks:
            kernel = [i for i, name in enumerate(frames) if name in KERNEL_ENTRY]
            if "read_loop" in frames and kernel:
                self.assertLess(frames.index("read_loop"), min(kernel), frames)

    def test_no_kernel(self):
        out = self.path("nk.folded")
        r = self.record_live(["-r", "499", "--no-kernel", "-o", out, "--", KERNELBURN, "2"])
        stacks = read_folded(out)
        self.assertSampled(total(stacks), r.command_cpu(), r, r.stderr)
        for frames in stacks:
            self.assertFalse(any(k in frames for k in KERNEL_ENTRY), frames)
        self.assertGreater(share(stacks, "read_loop"), 0.9)

    def test_several_pids_get_process_roots(self):
        a = self.spawn([CPUBURN, "30"])
        b = self.spawn([CPUBURN, "30"])
        time.sleep(0.3)
        out = self.path("two.folded")
        r = self.record_live(["-p", "%d,%d" % (a.pid, b.pid), "-d", "3", "-o", out], [a.pid, b.pid])
        stacks = read_folded(out)
        roots = {f[0] for f in stacks}
        self.assertEqual(roots, {"cpuburn (pid %d)" % a.pid, "cpuburn (pid %d)" % b.pid})
        for pid in (a.pid, b.pid):
            mine = {f[1:]: c for f, c in stacks.items() if f[0] == "cpuburn (pid %d)" % pid}
            # Each process's samples: its own CPU time while sampled, at 99 Hz.
            self.assertSampled(total(mine), r.cpu(pid), r, "pid %d" % pid, r.switches(pid))
            self.assertShare(chain_share(mine, CHAIN_A), 0.5, total(mine), "pid %d" % pid)

    def test_subprocesses(self):
        script = "%s 2 & %s 2; wait" % (CPUBURN, CPUBURN)
        out = self.path("sub.folded")
        r = self.record_live(["--subprocesses", "-o", out, "--", "sh", "-c", script],
                             env=dict(os.environ, CPUBURN_CPU_REPORT="1"))
        stacks = read_folded(out)
        # wait4's CPU time counts the children sh waited for: all of the samples.
        self.assertSampled(total(stacks), r.command_cpu(), r, r.stderr)
        burners = {f[0] for f in stacks if "burn_a" in f}
        self.assertEqual(len(burners), 2, "expected two cpuburn children: %s" % burners)
        for root in burners:
            self.assertRegex(root, r"^cpuburn \(pid \d+\)$")
        # Each cpuburn spends 2 s of wall time in run (less CPU on a busy machine) after a
        # calibration of at most 80 ms of CPU, and says how much CPU that was; the rest of
        # wait4's time is sh, the forks, the execs, ld.so (its cpuid traps cost a VM dearly)
        # and the exits: the samples outside run and calibrate come from that.
        calibration = sum(c for f, c in stacks.items() if "calibrate" in f)
        self.assertLessEqual(calibration, poisson_bounds(99 * 0.08 * 2)[1], stacks)
        inside = [float(x) for x in re.findall(r"cpuburn: ([\d.]+) s of CPU in calibrate and run", r.stderr)]
        self.assertEqual(len(inside), 2, r.stderr)
        outside = max(0.0, r.command_cpu() - sum(inside))
        other = sorted(((c, ";".join(f)) for f, c in stacks.items() if "run" not in f and "calibrate" not in f),
                       reverse=True)
        n_other = sum(c for c, _ in other)
        sys.stderr.write("outside run and calibrate: %.3f s of CPU, %d samples\n" % (outside, n_other))
        self.assertLessEqual(n_other, poisson_bounds(99 * outside)[1],
                             "outside run and calibrate (%.3f s of CPU): %s" % (outside, other[:5]))

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
        stacks = read_folded(out)
        self.assertShare(chain_share(stacks, CHAIN_A), 0.5, total(stacks))

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
        stacks = read_folded(out)
        self.assertShare(chain_share(stacks, CHAIN_A), 0.5, total(stacks))

    def test_target_exits_before_duration(self):
        burn = self.spawn([CPUBURN, "1.5"])
        out = self.path("exit.folded")
        r = self.record_live(["-p", str(burn.pid), "-d", "60", "-o", out], [burn.pid], timeout=30)
        # The target ran its 1.5 s (of wall time: a busy machine gives it less CPU) and hearth
        # stopped with it, long before the 60 s.
        self.assertLess(float(re.search(r"samples in ([\d.]+) s", r.stderr).group(1)), 10, r.stderr)
        # Its CPU time in all, from wait4, less what it had used when sampling started.
        self.assertIsNotNone(r.start[burn.pid], "cpuburn was gone before sampling started")
        _, _, usage = os.wait4(burn.pid, 0)
        cpu = usage.ru_utime + usage.ru_stime - r.start[burn.pid]
        self.assertSampled(total(read_folded(out)), cpu, r, r.stderr)

    def test_sigint_writes_profile_and_detaches(self):
        burn = self.spawn([CPUBURN, "30"])
        out = self.path("int.folded")
        loaded = []

        def interrupt(rec):
            loaded.append(len(bpf_progs_named("hearth_sample")))
            time.sleep(1)  # some samples, however many the CPU it gets makes
            rec.process.send_signal(signal.SIGINT)
        r = self.record_live(["-p", str(burn.pid), "-o", out], [burn.pid], on_start=interrupt, timeout=30)
        self.assertGreater(loaded[0], 0, "sampler not loaded")
        self.assertSampled(total(read_folded(out)), r.cpu(burn.pid), r, r.stderr, r.switches(burn.pid))
        self.assertEqual(bpf_progs_named("hearth_sample", ours_only=True), [], "BPF program left loaded")
        with open("/proc/%d/stat" % burn.pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        self.assertIn(state, ("R", "S"), "target left in state %s" % state)

    def test_sigterm_reaches_command(self):
        out = self.path("term.folded")

        def terminate(rec):
            time.sleep(1)
            rec.process.send_signal(signal.SIGTERM)
        r = self.record_live(["-o", out, "--", CPUBURN, "60"], on_start=terminate, timeout=30)
        self.assertIn("killed by signal 15", r.stderr)
        self.assertSampled(total(read_folded(out)), r.command_cpu(), r, r.stderr)
        self.assertEqual(bpf_progs_named("hearth_sample", ours_only=True), [])

    def test_command_exit_status_reported(self):
        out = self.path("status.folded")
        r = self.record(["-o", out, "--", "sh", "-c", "exit 3"])
        self.assertIn("exited with status 3", r.stderr)
        self.assertTrue(os.path.exists(out))

    def test_folded_to_stdout(self):
        r = self.record_live(["-r", "199", "-f", "folded", "-o", "-", "--", CPUBURN, "1"])
        lines = [line for line in r.stdout.splitlines() if line]
        bad = [line for line in lines if not re.match(r"^\S.* \d+$", line)]
        self.assertEqual(bad, [], "%d of %d lines not 'stack count'" % (len(bad), len(lines)))
        stacks = {}
        for line in lines:
            text, _, count = line.rpartition(" ")
            stacks[tuple(text.split(";"))] = int(count)
        self.assertSampled(total(stacks), r.command_cpu(), r, r.stderr)
        in_run = {f: c for f, c in stacks.items() if "run" in f}
        self.assertShare(chain_share(in_run, CHAIN_A), 0.5, total(in_run))


if __name__ == "__main__":
    unittest.main(verbosity=2)
