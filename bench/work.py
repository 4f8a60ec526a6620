# SPDX-License-Identifier: MIT
"""A fixed amount of CPU-bound Python work for the overhead benchmark; prints
"elapsed SECONDS" on stderr. Usage: work.py [N] (default 40,000,000), or --forever."""

import sys
import time


def leaf(i):
    return (i * 7) % 13


def middle(n):
    total = 0
    for i in range(n):
        total += leaf(i)
    return total


def main():
    forever = len(sys.argv) > 1 and sys.argv[1] == "--forever"
    n = 3_000_000 if forever else 40_000_000 if len(sys.argv) < 2 else int(sys.argv[1])
    start = time.monotonic()
    while True:
        middle(n)
        if not forever:
            break
    print("elapsed %.6f" % (time.monotonic() - start), file=sys.stderr)


main()
