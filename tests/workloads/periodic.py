# SPDX-License-Identifier: MIT
"""Periodic work in Python, for the aliasing test (as tests/workloads/periodic.c):
a fixed 10 ms cycle of wall-clock time, 4 ms in phase_a, 3 in phase_b, 2 in
phase_c and 1 in phase_d, over and over, until the thread has had SECONDS of
CPU time; what each phase really got (the thread's CPU clock) is printed at
the end, one line "phase_a 0.401234" per phase.

    python3 periodic.py SECONDS
"""
import sys
import time

CYCLE = 0.010
ENDS = (0.4, 0.7, 0.9, 1.0)


def burn_until(until):
    while time.monotonic() < until:
        for _ in range(50):
            pass


def phase_a(until):
    burn_until(until)


def phase_b(until):
    burn_until(until)


def phase_c(until):
    burn_until(until)


def phase_d(until):
    burn_until(until)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    phases = (phase_a, phase_b, phase_c, phase_d)
    cpu = [0.0] * 4
    total = 0.0
    t = time.monotonic()
    # Each cycle's phases end at fixed offsets from its start: overshoot does not add up.
    while total < seconds:
        for i, phase in enumerate(phases):
            c0 = time.thread_time()
            phase(t + CYCLE * ENDS[i])
            c1 = time.thread_time()
            cpu[i] += c1 - c0
            total += c1 - c0
        t += CYCLE
        # Fell behind by more than a cycle (preempted): start the next one now, in step again.
        if time.monotonic() > t + CYCLE:
            t = time.monotonic()
    for i, phase in enumerate(phases):
        print("%s %.6f" % (phase.__name__, cpu[i] / total))


if __name__ == "__main__":
    main()
