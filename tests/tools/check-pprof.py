#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check a pprof file with `go tool pprof` itself, the reader users have.

    check-pprof.py FILE [--top NAME ...] [--trace 'root;...;leaf' ...] [--tag KEY=VALUE ...]
                   [--line NAME@FILE:LINE ...]

--top NAME        NAME is a function in `-top` (flat or cumulative).
--trace A;B;C     some stack in `-traces` holds A calling B calling C, written root
                  first as in folded stacks; the chain may sit anywhere in a longer
                  stack (real programs have _start, libc and kernel frames around it).
--tag KEY=VALUE   `-tags` lists VALUE under label KEY.
--line NAME@FILE:LINE
                  some location in `-raw` is function NAME in FILE at LINE (source
                  positions, as interpreted frames carry them).

Runs offline: -symbolize=none, GOPROXY=off, and HOME, GOCACHE, GOPATH and
PPROF_TMPDIR in a temporary directory, so nothing is fetched or left behind.
Exits 0 printing "check-pprof: ok (...)", or 1 with a one-line reason.
Set GO to use a go binary not on PATH.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

PROG = "check-pprof"
TIMEOUT = 300  # seconds; a cold go tool cache can take a while

# A sample value as -traces prints it: "505.05ms", "1.01s", "50", "1.5e+09".
VALUE_RE = re.compile(r"^[-+]?\d[\d.]*(e[-+]?\d+)?[a-zA-Zµ]*$")


class CheckError(Exception):
    pass


def run_pprof(go, env, mode, path):
    """Output of `go tool pprof MODE PATH`, raising CheckError on failure."""
    cmd = [go, "tool", "pprof", "-symbolize=none", "-nodefraction=0", "-nodecount=0",
           mode, path]
    try:
        res = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=TIMEOUT)
    except FileNotFoundError:
        raise CheckError(f"cannot run {go}: not found (set GO to a go binary)")
    except subprocess.TimeoutExpired:
        raise CheckError(f"go tool pprof {mode} took more than {TIMEOUT} s")
    if res.returncode != 0:
        err = " ".join(res.stderr.split()) or "no output"
        raise CheckError(f"go tool pprof {mode} failed ({res.returncode}): {err}")
    return res.stdout


def parse_top(text):
    """Function names from -top rows: five numeric columns, then the name."""
    names = []
    in_table = False
    for line in text.splitlines():
        if not in_table:
            in_table = line.split()[:5] == ["flat", "flat%", "sum%", "cum", "cum%"]
            continue
        cols = line.split(None, 5)
        if len(cols) == 6 and cols[1].endswith("%") and cols[4].endswith("%"):
            names.append(cols[5])
    return names


def parse_traces(text):
    """Stacks from -traces, each a list of function names, leaf first.

    Blocks are separated by "-----------+---..." lines. In a block, label lines
    ("       pid:  100") come first, then the value and the leaf ("  505.05ms   spin"),
    then one indented line per caller up to the root.
    """
    stacks = []
    frames = None
    for line in text.splitlines():
        if line.startswith("-----------+"):
            if frames:
                stacks.append(frames)
            frames = []
            continue
        if frames is None or not line.strip():
            continue  # header before the first block
        if frames:
            frames.append(line.strip())
            continue
        first, _, rest = line.strip().partition(" ")
        if VALUE_RE.match(first) and rest.strip():
            frames.append(rest.strip())
        # anything else before the leaf is a label line
    if frames:
        stacks.append(frames)
    return stacks


def parse_tags(text):
    """{key: set of values} from -tags: " key: Total ..." then "  value (pct%): tag"."""
    tags = {}
    key = None
    for line in text.splitlines():
        m = re.match(r"^\s*(\S+): Total\b", line)
        if m:
            key = m.group(1)
            tags.setdefault(key, set())
            continue
        m = re.match(r"^\s*\S+\s+\(\s*[\d.]+%\):\s(.*)$", line)
        if m and key is not None:
            tags[key].add(m.group(1).strip())
    return tags


def has_chain(stacks, chain):
    """Whether @chain (leaf first) is a contiguous run of some stack."""
    n = len(chain)
    return any(s[i:i + n] == chain for s in stacks for i in range(len(s) - n + 1))


def shorten(items, limit=8):
    items = list(items)
    text = ", ".join(items[:limit])
    return text + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def check(args, env):
    go = os.environ.get("GO") or shutil.which("go") or "go"
    if not os.path.isfile(args.file):
        raise CheckError(f"{args.file}: no such file")

    top = parse_top(run_pprof(go, env, "-top", args.file))
    if not top:
        raise CheckError("go tool pprof -top shows no functions")
    for name in args.top:
        if name not in top:
            raise CheckError(f"function '{name}' is not in -top (it has {shorten(top)})")

    stacks = parse_traces(run_pprof(go, env, "-traces", args.file))
    if not stacks:
        raise CheckError("go tool pprof -traces shows no stacks")
    for trace in args.trace:
        chain = [f for f in trace.split(";") if f]
        if not chain:
            raise CheckError(f"empty --trace '{trace}'")
        if not has_chain(stacks, chain[::-1]):
            seen = ["{}".format(";".join(s[::-1])) for s in stacks]
            raise CheckError(f"no stack in -traces holds '{trace}' (it has {shorten(seen, 4)})")

    tags = parse_tags(run_pprof(go, env, "-tags", args.file))
    for tag in args.tag:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise CheckError(f"--tag '{tag}' is not KEY=VALUE")
        if key not in tags:
            raise CheckError(f"-tags has no label '{key}' (it has {shorten(sorted(tags))})")
        if value not in tags[key]:
            raise CheckError(f"-tags has no {key}={value} ({key} is {shorten(sorted(tags[key]))})")

    if args.line:
        raw = run_pprof(go, env, "-raw", args.file)
        locations = raw.split("\nLocations\n", 1)[-1].split("\nMappings\n", 1)[0]
        for want in args.line:
            name, sep, pos = want.rpartition("@")
            if not sep or not name or ":" not in pos:
                raise CheckError(f"--line '{want}' is not NAME@FILE:LINE")
            if not re.search(r"\s" + re.escape(name) + r" " + re.escape(pos) + r"\b", locations):
                raise CheckError(f"no location in -raw is {name} at {pos}")

    return (f"{len(top)} functions, {len(stacks)} stacks, {len(tags)} labels; "
            f"checked {len(args.top)} top, {len(args.trace)} traces, {len(args.tag)} tags, "
            f"{len(args.line)} lines")


def main():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("file", help="pprof profile (.pb.gz, .pb, .pprof)")
    ap.add_argument("--top", action="append", default=[], metavar="NAME",
                    help="function expected in -top")
    ap.add_argument("--trace", action="append", default=[], metavar="'A;B;C'",
                    help="call chain, root first, expected in -traces")
    ap.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                    help="label value expected in -tags")
    ap.add_argument("--line", action="append", default=[], metavar="NAME@FILE:LINE",
                    help="source position expected in -raw locations")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="check-pprof-") as tmp:
        env = dict(os.environ)
        for var in ("HOME", "GOCACHE", "GOPATH", "PPROF_TMPDIR"):
            env[var] = os.path.join(tmp, var.lower())
            os.makedirs(env[var])
        env.update(GOPROXY="off", GOFLAGS="", GOTOOLCHAIN="local", PPROF_BINARY_PATH=tmp)
        try:
            summary = check(args, env)
        except CheckError as e:
            print(f"{PROG}: FAIL: {e}")
            return 1
    print(f"{PROG}: ok ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
