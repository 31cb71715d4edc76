#!/usr/bin/env python3
"""summarize.py - count every test case that `make check` ran, across builds.

Usage: summarize.py BUILDDIR[=STATUS] ... [--extra NAME=pass|fail ...]

Walks each build directory for automake's *.trs result files and reads the
matching *.log to count the cases inside one test program:
  - Check suites:        "NN%: Checks: N, Failures: F, Errors: E"
  - Python unittest:     "Ran N tests" and "FAILED (failures=F, errors=E,
                         skipped=S)" / "OK (skipped=S)"
  - our own runners:     a line "N passed, N failed[, N skipped]"
A test program whose log has none of these counts as one case with the
result automake recorded. A program that failed (or errored) but whose log
counted no failure adds one failure, so a crash is never hidden.
--extra adds a named step that is not an automake test (distcheck).
BUILDDIR=STATUS gives the exit status of that build's `make check`: when it
is not 0 but no counted case failed (the build broke, or a step that is no
automake test, such as the fuzz smoke, failed), one failure is added.
Prints one line per build and, last, "N passed, N failed, N skipped";
exit status 1 when anything failed.
"""
import os
import re
import sys

CHECK = re.compile(r"^\d+%: Checks: (\d+), Failures: (\d+), Errors: (\d+)", re.M)
RAN = re.compile(r"^Ran (\d+) tests? in ", re.M)
UFAIL = re.compile(r"^FAILED \(([^)]*)\)", re.M)
UOK = re.compile(r"^OK(?: \(([^)]*)\))?$", re.M)
PLAIN = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$", re.M)


def kv(text):
    """'failures=1, errors=2' -> {'failures': 1, 'errors': 2}."""
    out = {}
    for part in (text or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = int(v.strip())
    return out


def count_log(log, result):
    """(passed, failed, skipped) for one test program's log and .trs result."""
    p = f = s = 0
    found = False
    for m in CHECK.finditer(log):
        n, fl, er = map(int, m.groups())
        p += n - fl - er
        f += fl + er
        found = True
    ran = RAN.findall(log)
    if ran:
        found = True
        n = sum(int(x) for x in ran)
        bad = skip = 0
        for m in UFAIL.finditer(log):
            d = kv(m.group(1))
            bad += d.get("failures", 0) + d.get("errors", 0) + d.get("unexpected successes", 0)
            skip += d.get("skipped", 0)
        for m in UOK.finditer(log):
            skip += kv(m.group(1)).get("skipped", 0)
        p += n - bad - skip
        f += bad
        s += skip
    if not found:
        m = None
        for m in PLAIN.finditer(log):
            pass
        if m:
            found = True
            p += int(m.group(1))
            f += int(m.group(2))
            s += int(m.group(3) or 0)
    if not found:
        if result in ("PASS", "XFAIL"):
            p += 1
        elif result == "SKIP":
            s += 1
        else:
            f += 1
    elif result in ("FAIL", "ERROR", "XPASS") and f == 0:
        f += 1
    return p, f, s


def summarize(builddir):
    tp = tf = ts = 0
    failed = []
    for root, dirs, files in os.walk(builddir):
        # distcheck's tree is counted by its own step
        dirs[:] = [d for d in dirs if not d.startswith("partner-relay-milter-")]
        for name in sorted(files):
            if not name.endswith(".trs"):
                continue
            trs = os.path.join(root, name)
            with open(trs, errors="replace") as fh:
                m = re.search(r"^:test-result: (\S+)", fh.read(), re.M)
            result = m.group(1) if m else "ERROR"
            logpath = trs[:-4] + ".log"
            try:
                with open(logpath, errors="replace") as fh:
                    log = fh.read()
            except OSError:
                log = ""
            p, f, s = count_log(log, result)
            tp, tf, ts = tp + p, tf + f, ts + s
            if f:
                failed.append(os.path.relpath(logpath, builddir))
    return tp, tf, ts, failed


def main(argv):
    dirs, extras = [], []
    it = iter(argv)
    for a in it:
        if a == "--extra":
            extras.append(next(it))
        else:
            d, _, st = a.partition("=")
            dirs.append((d, int(st or 0)))
    P = F = S = 0
    for d, status in dirs:
        if not os.path.isdir(d):
            print("%s: not built" % d)
            F += 1
            continue
        p, f, s, failed = summarize(d)
        if status and not f:
            f = 1
            failed.append("make check exited %d outside the counted tests: see its output"
                          % status)
        print("%s: %d passed, %d failed, %d skipped%s"
              % (d, p, f, s, (" (" + ", ".join(failed) + ")") if failed else ""))
        P, F, S = P + p, F + f, S + s
    for e in extras:
        name, _, res = e.partition("=")
        print("%s: %s" % (name, res))
        if res == "pass":
            P += 1
        else:
            F += 1
    print("%d passed, %d failed, %d skipped" % (P, F, S))
    return 1 if F else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
