# SPDX-License-Identifier: MIT
"""A fixed amount of CPU-bound Python work for the overhead benchmark; prints
"elapsed SECONDS" on stderr.

    work.py [N] [--depth D] [--forever]

N loop iterations (default 40,000,000; 3,000,000 a round with --forever),
run D Python frames deep (default 3: <module>, middle, leaf; the benchmark
uses 30 to measure walking a realistic stack)."""

import sys
import time


def leaf(i):
    return (i * 7) % 13


def middle(n):
    total = 0
    for i in range(n):
        total += leaf(i)
    return total


def nest(depth, n):
    """Call middle() from DEPTH frames down (this frame counted)."""
    if depth <= 1:
        return middle(n)
    return nest(depth - 1, n)


def main():
    args = sys.argv[1:]
    forever = "--forever" in args
    depth = 3
    if "--depth" in args:
        depth = int(args[args.index("--depth") + 1])
        del args[args.index("--depth"):args.index("--depth") + 2]
    args = [a for a in args if a != "--forever"]
    n = int(args[0]) if args else 3000000 if forever else 40000000
    start = time.monotonic()
    while True:
        # <module>, main, nest..., middle, leaf: depth - 2 frames of nest.
        nest(max(1, depth - 4), n)
        if not forever:
            break
    print("elapsed %.6f" % (time.monotonic() - start), file=sys.stderr)


main()
