#!/usr/bin/python3
"""host_guard.py - the test suite leaves the host's mail configuration alone.

What: `make check` may run on a production mail server (README, command 2),
so no test may write outside its own temporary directories. This guard
records the state of the host's mail configuration before the whole suite
and fails after it on any difference:

    /etc/postfix  /etc/partner-relay-milter  /etc/mail  (whole trees)
    /etc/aliases  /etc/aliases.db                        (single files)

State of each entry: type, mode, owner, group, and the SHA-256 of a regular
file's content (or a symlink's target); a file the guard cannot read is
recorded as unreadable. Times are not compared (a read or a touch is not a
change an operator would care about); a missing tree is recorded as missing,
so creating it is a difference too.

Contract:
  host_guard.py snapshot FILE   write the state to FILE (top-level Makefile:
                                before the first subdirectory's tests)
  host_guard.py compare FILE    compare the state now with FILE (a counted
                                top-level test, run after every subdirectory)
  host_guard.py                 compare, FILE from $PRM_BUILDDIR (as a test)
Exit status: 0 unchanged (or snapshot written), 1 changed (each difference
is printed), 99 no snapshot to compare with (hard error: `make check` always
takes one first), 2 usage. PRM_GUARD_ROOTS (colon-separated) replaces the
watched paths (for the guard's own test). Standard library only; read-only
on the watched paths.
"""

import hashlib
import json
import os
import stat
import sys

ROOTS = ["/etc/postfix", "/etc/partner-relay-milter", "/etc/mail",
         "/etc/aliases", "/etc/aliases.db"]
SNAPSHOT = "tests/host-guard.snapshot"  # relative to the build tree
MAX_ENTRIES = 200000  # bound on the walk (a mail config tree is far smaller)


def roots():
    """The watched paths: ROOTS, or $PRM_GUARD_ROOTS for the guard's own test."""
    env = os.environ.get("PRM_GUARD_ROOTS")
    return [r for r in env.split(":") if r] if env else ROOTS


def describe(path):
    """One entry's state as a string: type, mode, owner and content digest."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return "unstatable:%s" % e.errno
    head = "%o %d:%d" % (st.st_mode, st.st_uid, st.st_gid)
    if stat.S_ISLNK(st.st_mode):
        return head + " link " + os.readlink(path)
    if not stat.S_ISREG(st.st_mode):
        return head  # directory, socket, fifo, device: mode and owner only
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                h.update(chunk)
    except OSError as e:
        return head + " unreadable:%s" % e.errno
    return head + " size %d sha256 %s" % (st.st_size, h.hexdigest())


def state():
    """Map path -> describe(path) for every watched path and what is below it."""
    out = {}
    for root in roots():
        out[root] = describe(root)
        if not os.path.isdir(root) or os.path.islink(root):
            continue
        for top, dirs, names in os.walk(root, followlinks=False):
            dirs.sort()
            for n in sorted(dirs + names):
                p = os.path.join(top, n)
                out[p] = describe(p)
                if len(out) > MAX_ENTRIES:
                    raise SystemExit("host_guard: more than %d entries under %s"
                                     % (MAX_ENTRIES, root))
    return out


def differences(before, after):
    """Human-readable lines, one per path whose state changed."""
    lines = []
    for p in sorted(set(before) | set(after)):
        b, a = before.get(p, "absent"), after.get(p, "absent")
        if b != a:
            lines.append("%s: was %s, now %s" % (p, b, a))
    return lines


def default_file():
    """The snapshot of this build tree ($PRM_BUILDDIR), or None."""
    build = os.environ.get("PRM_BUILDDIR")
    return os.path.join(build, SNAPSHOT) if build else None


def main(argv):
    if len(argv) == 1:
        argv = [argv[0], "compare", default_file() or ""]
    if len(argv) != 3 or argv[1] not in ("snapshot", "compare") or not argv[2]:
        print("usage: host_guard.py snapshot|compare FILE", file=sys.stderr)
        return 2
    cmd, path = argv[1], argv[2]
    if cmd == "snapshot":
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"roots": roots(), "state": state()}, f, indent=0, sort_keys=True)
        os.replace(tmp, path)
        print("host guard: snapshot of %s in %s" % (" ".join(roots()), path))
        return 0
    try:
        with open(path, encoding="utf-8") as f:
            before = json.load(f)
    except (OSError, ValueError) as e:
        print("ERROR: no usable snapshot %s (%s): run the whole `make check`, "
              "which takes it before the first test" % (path, e))
        return 99
    if before.get("roots") != roots():
        print("ERROR: snapshot %s watched %s, now %s" % (path, before.get("roots"), roots()))
        return 99
    diff = differences(before["state"], state())
    print("host guard: %d entries under %s compared with %s"
          % (len(before["state"]), " ".join(roots()), path))
    for line in diff:
        print("FAIL: a test changed the host: " + line)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
