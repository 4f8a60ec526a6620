# SPDX-License-Identifier: MIT
"""A Python program whose profile is known in advance, for Hearth's demo and tests.

    python pyburn.py [SECONDS] [MODE]

MODE "mix" (the default): the main thread spends its CPU time 50/30/20 on
Outer.Inner.burn_a (a method of a nested class), burn_b (at the bottom of a
recursion) and gen_c (a generator driven from a lambda), in randomized steps
of equal work; a second thread, "worker", alternates spin (called from a
comprehension) with compress_step (zlib.compress: the time is in C, under
its Python caller).

MODE "deep": a 1000-deep recursion burning at the bottom.
MODE "churn": threads started and ended all the time, each burning briefly.
MODE "idle": sleeps (for stack dumps).

Each hot loop is one line marked "# HOT:<name>", so a test can find the line
number a profile must show. Runs on CPython 2.7 and 3.6 and later.

With PYBURN_CPU_LOG=FILE, mix also measures the CPU time the main thread spends in
each of its three steps (its own thread clock around each call), and on SIGUSR1
appends the totals so far to FILE as "burn_a=S burn_b=S gen_c=S": a test takes
one line when sampling starts and one when it stops, and holds the profile's
shares to what the thread really spent, GIL waits and all.
"""
import os
import random
import resource
import signal
import sys
import threading
import time
import zlib

STEP = 20000  # loop iterations per step: about a millisecond


class Outer(object):
    class Inner(object):
        def burn_a(self, n):
            i = 0
            while i < n: i += 1  # HOT:a
            return i


def burn_b(n):
    i = 0
    while i < n: i += 1  # HOT:b
    return i


def recurse(depth, n):
    if depth == 0:
        return burn_b(n)
    return recurse(depth - 1, n)


def gen_c(n):
    i = 0
    while i < n: i += 1  # HOT:c
    yield i


burn_c = lambda n: sum(gen_c(n))


def spin(n):
    i = 0
    while i < n: i += 1  # HOT:spin
    return i


_rng = random.Random(1)
DATA = bytes(bytearray(_rng.getrandbits(8) for _ in range(1 << 16)))


def compress_step():
    return len(zlib.compress(DATA * 4, 9))  # HOT:zlib


def worker(deadline):
    while time.time() < deadline:
        [spin(STEP) for _ in range(20)]
        compress_step()


def thread_cpu():
    """This thread's CPU seconds (getrusage's RUSAGE_THREAD, 1, where time has no thread clock)."""
    if hasattr(time, "clock_gettime"):
        return time.clock_gettime(time.CLOCK_THREAD_CPUTIME_ID)
    r = resource.getrusage(1)
    return r.ru_utime + r.ru_stime


SPENT = {"burn_a": 0.0, "burn_b": 0.0, "gen_c": 0.0}  # mix's CPU seconds per step, for PYBURN_CPU_LOG


def report_spent(signum, frame):
    with open(os.environ["PYBURN_CPU_LOG"], "a") as f:
        f.write(" ".join("%s=%.6f" % kv for kv in sorted(SPENT.items())) + "\n")


def mix(deadline):
    inner = Outer.Inner()
    rnd = random.Random(42)
    log = os.environ.get("PYBURN_CPU_LOG")
    while time.time() < deadline:
        r = rnd.random()
        t0 = thread_cpu() if log else 0.0
        if r < 0.5:
            inner.burn_a(STEP)
            name = "burn_a"
        elif r < 0.8:
            recurse(5, STEP)
            name = "burn_b"
        else:
            burn_c(STEP)
            name = "gen_c"
        if log:
            SPENT[name] += thread_cpu() - t0


def deep(depth, deadline):
    if depth == 0:
        i = 0
        while time.time() < deadline:
            while i < STEP: i += 1  # HOT:deep
            i = 0
        return 0
    return deep(depth - 1, deadline)


def churn_one():
    spin(STEP * 10)


def churn(deadline):
    while time.time() < deadline:
        threads = [threading.Thread(target=churn_one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    mode = sys.argv[2] if len(sys.argv) > 2 else "mix"
    deadline = time.time() + seconds
    if mode == "mix":
        if os.environ.get("PYBURN_CPU_LOG"):
            signal.signal(signal.SIGUSR1, report_spent)  # before the worker exists: a test waits for it
        t = threading.Thread(target=worker, args=(deadline,), name="worker")
        t.start()
        mix(deadline)
        t.join()
    elif mode == "deep":
        sys.setrecursionlimit(10000)
        deep(1000, deadline)
    elif mode == "churn":
        churn(deadline)
    elif mode == "idle":
        time.sleep(seconds)
    else:
        sys.stderr.write("pyburn: unknown mode %r\n" % mode)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
