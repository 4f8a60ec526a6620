# SPDX-License-Identifier: MIT
"""hearth dump on CPython 2.7 and 3.6-3.13 processes with known threads: one
blocked in outer() -> middle() -> waiter(), one spinning in spin_a() ->
spin_b(), one deadlocked on a lock the main thread holds; and the one-line
errors for targets that are not CPython or do not exist.

dump needs the right to read another process's memory (root), not BPF: without
root it skips, except under CI where it fails. An interpreter is skipped only
when its pyenv version (or /usr/bin/python3.11) is not installed."""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hearthtest import HEARTH, interpreters, require_interpreter  # noqa: E402

THREAD_NAME = "blocked-one"

# 2.7-compatible. Each "# call:NAME" marks the line where the frame of NAME
# calls the next one down (or blocks), which is the line dump must show for it.
SCRIPT = """\
import sys
import threading
import time

lock = threading.Lock()
event = threading.Event()


def set_os_name(name):
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.prctl(15, ctypes.c_char_p(name.encode()), 0, 0, 0)  # PR_SET_NAME
    except Exception:
        pass


def spin_b():
    x = 0
    while True:
        x += 1


def spin_a():
    spin_b()  # call:spin_a


class Worker(object):
    def run(self):
        set_os_name(threading.current_thread().name)
        lock.acquire()  # call:Worker.run


def blocked_main():
    Worker().run()  # call:blocked_main


def waiter():
    event.wait()  # call:waiter


def middle():
    waiter()  # call:middle


def outer():
    middle()  # call:outer


lock.acquire()
spinner = threading.Thread(target=spin_a)
spinner.daemon = True
spinner.start()
blocked = threading.Thread(target=blocked_main, name="%s")
blocked.daemon = True
blocked.start()
time.sleep(0.3)
sys.stdout.write("ready\\n")
sys.stdout.flush()
outer()
""" % THREAD_NAME


def expected_lines():
    """{function: line of its call} from the markers in SCRIPT."""
    lines = {}
    for n, text in enumerate(SCRIPT.splitlines(), 1):
        if "# call:" in text:
            lines[text.split("# call:")[1].strip()] = n
    return lines


def spin_b_lines():
    lines = SCRIPT.splitlines()
    start = lines.index("def spin_b():") + 1
    return range(start, start + 4)


class DumpTestCase(unittest.TestCase):
    """Needs root (to read other processes' memory): skipped without, failed under CI."""

    def setUp(self):
        if os.geteuid() != 0:
            if os.environ.get("CI"):
                self.fail("dump tests need root and CI is set")
            self.skipTest("not root")
        self.tmp = tempfile.TemporaryDirectory(prefix="hearth-test-")
        self.addCleanup(self.tmp.cleanup)
        self.children = []
        self.addCleanup(self.kill_children)

    def kill_children(self):
        for p in self.children:
            if p.poll() is None:
                p.kill()
            p.wait()
            for pipe in (p.stdout, p.stderr):
                if pipe:
                    pipe.close()

    def dump(self, pid, *args):
        return subprocess.run([HEARTH, "dump", "-p", str(pid)] + list(args), capture_output=True,
                              text=True, timeout=30)


class DumpErrors(DumpTestCase):
    def test_not_python(self):
        p = subprocess.Popen(["/bin/sleep", "30"])
        self.children.append(p)
        time.sleep(0.1)
        r = self.dump(p.pid)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr, "hearth: pid %d is not a CPython process\n" % p.pid)
        self.assertEqual(r.stdout, "")

    def test_no_such_process(self):
        p = subprocess.Popen(["/bin/true"])
        p.wait()
        r = self.dump(p.pid)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertRegex(r.stderr, r"^hearth: .*no such process\n$")

    def test_usage(self):
        for args in ([], ["-p"], ["-p", "abc"], ["-p", "0"], ["-p", "1", "extra"], ["--bogus"]):
            r = subprocess.run([HEARTH, "dump"] + args, capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2, "%s: %s" % (args, r.stderr))
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
            self.assertTrue(r.stderr.startswith("hearth: "), r.stderr)

    def test_help(self):
        r = subprocess.run([HEARTH, "dump", "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertIn("hearth dump -p PID", r.stdout)
        r = subprocess.run([HEARTH, "--help"], capture_output=True, text=True, timeout=10)
        self.assertRegex(r.stdout, r"\n  dump +")


class DumpInterpreters(DumpTestCase):
    def check_interpreter(self, label, python):
        require_interpreter(self, python)
        script = os.path.join(self.tmp.name, "target.py")
        with open(script, "w") as f:
            f.write(SCRIPT)
        p = subprocess.Popen([python, script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.children.append(p)
        line = p.stdout.readline()
        self.assertEqual(line, b"ready\n", "%s did not start: %s" % (python, p.stderr.read(2000)
                                                                    if p.poll() is not None else ""))
        version = subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                                 capture_output=True, text=True, timeout=30).stdout.strip()
        major, minor = (int(x) for x in version.split(".")[:2])
        qualnames = (major, minor) >= (3, 11)
        lines = expected_lines()

        def name(qualified):
            return qualified if qualnames else qualified.rsplit(".", 1)[-1]

        spinner_running = 0
        spinner_gil = 0
        tries = 5
        for attempt in range(tries):
            r = self.dump(p.pid, "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "")
            doc = json.loads(r.stdout)
            self.assertEqual(doc["pid"], p.pid)
            self.assertEqual(doc["python"], version)
            threads = doc["threads"]
            self.assertEqual(len(threads), 3, threads)
            tids = [t["tid"] for t in threads]
            self.assertTrue(all(isinstance(t, int) for t in tids), tids)
            self.assertEqual(sorted(tids), sorted(int(t) for t in os.listdir("/proc/%d/task" % p.pid)))
            self.assertLessEqual(sum(1 for t in threads if t["gil"]), 1)

            main = [t for t in threads if t["tid"] == p.pid]
            self.assertEqual(len(main), 1, threads)
            main = main[0]
            names = [f["name"] for f in main["frames"]]
            i = names.index("waiter")
            self.assertEqual(names[i:i + 4], ["waiter", "middle", "outer", "<module>"], names)
            for f, fn in zip(main["frames"][i:i + 3], ("waiter", "middle", "outer")):
                self.assertEqual(f["file"], script)
                self.assertEqual(f["line"], lines[fn], "%s: %s" % (fn, main["frames"]))
            self.assertEqual(main["state"], "sleeping")
            self.assertFalse(main["gil"])

            spinner = [t for t in threads if any(f["name"] == "spin_b" for f in t["frames"])]
            self.assertEqual(len(spinner), 1, threads)
            spinner = spinner[0]
            names = [f["name"] for f in spinner["frames"]]
            self.assertEqual(names[:2], ["spin_b", "spin_a"], names)
            self.assertIn(spinner["frames"][0]["line"], spin_b_lines(), spinner["frames"])
            self.assertEqual(spinner["frames"][1]["line"], lines["spin_a"])
            spinner_running += spinner["state"] == "running"
            spinner_gil += spinner["gil"]

            blocked = [t for t in threads if t not in (main, spinner)][0]
            names = [f["name"] for f in blocked["frames"]]
            self.assertEqual(names[:2], [name("Worker.run"), "blocked_main"], names)
            self.assertEqual(blocked["frames"][0]["line"], lines["Worker.run"])
            self.assertEqual(blocked["frames"][1]["line"], lines["blocked_main"])
            self.assertEqual(blocked["frames"][0]["file"], script)
            self.assertEqual(blocked["name"], THREAD_NAME)
            self.assertEqual(blocked["state"], "sleeping")
            self.assertFalse(blocked["gil"])
            for t in threads:
                self.assertFalse(any(f["name"] == "<unknown>" for f in t["frames"]), t)
            if spinner_running > tries // 2 and spinner_gil:
                break
        self.assertGreater(spinner_running, (attempt + 1) // 2, "spinner not running")
        self.assertGreater(spinner_gil, 0, "the spinner never held the GIL")

        r = self.dump(p.pid)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = r.stdout
        self.assertIn("CPython %s" % version, text)
        for fn in ("waiter", "middle", "outer", "spin_a", "spin_b", "blocked_main"):
            self.assertIn("    %s (%s:" % (fn, script), text)
        self.assertIn("    %s (%s:%d)" % (name("Worker.run"), script, lines["Worker.run"]), text)
        self.assertIn('Thread %d "' % p.pid, text)
        self.assertIn('"%s" (sleeping)' % THREAD_NAME, text)


def add_interpreter_tests():
    for label, python in interpreters():
        def test(self, label=label, python=python):
            self.check_interpreter(label, python)
        setattr(DumpInterpreters, "test_python_" + label.replace(".", "_").replace("-", "_"), test)


add_interpreter_tests()

if __name__ == "__main__":
    unittest.main(verbosity=2)
