#!/usr/bin/env python3
"""bench_sync.py - partner-relay-sync with 100 000 partners in a real PostgreSQL.

What: a private PostgreSQL 15 (tests/lib/pgtmp.py: initdb in a temporary
directory, run as nobody, UNIX socket only, pg_stat_statements loaded)
holding contrib/postgresql/schema.sql and N partners (100 000; 10 000 with
--quick: IPv4 relays in 127/8, tls = encrypt, so the host guard needs no
DNS), one partner-relay-milter (as the milter's user nobody, on a loopback
socket; it loads the published partner file on SIGUSR1) and the sync as in
production: root for publishing, its database side in a child as nobody.
Printed:

  1. full sync: `partner-relay-sync --once` from nothing (no state, no
     partner file, no tables): wall seconds and peak RSS (wait4() of the
     sync: the largest of its processes, postmap included);
  2. commit to routing: the daemon running, ROUNDS single-row UPDATEs
     (a changed password), each timed from psql's return (the commit is
     acknowledged) to (a) the new version in the sync's state file (tables
     and partner file published, in that order, before it) and (b) the
     milter's "reloaded configuration generation" log line, i.e. the
     moment the milter routes by the change; then the peak RSS (VmHWM) of
     the daemon and of its database child after those full re-reads, and
     the milter's own reload time (SIGUSR1 with the table unchanged), the
     part of (b) that is not the sync's;
  3. database load while nothing changes: statements of the sync's role
     per minute (pg_stat_statements, IDLE seconds with the daemon idle).

It does not send mail through Postfix: (2b) is the moment a message would
be routed by the change (the milter decides from the table it reloaded);
tests/integration/test_sync.py checks the mail itself.

Contract: needs root and the PostgreSQL server (else SKIP, exit 0).
Figures only, no timing is asserted. One temporary directory; every
process is stopped by pid at exit. Usage: bench_sync.py BUILDDIR [--quick]
"""

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))
import pgtmp  # noqa: E402

QUICK = "--quick" in sys.argv
N = 10000 if QUICK else 100000
ROUNDS = 3 if QUICK else 5
IDLE = 15 if QUICK else 60
INTERVAL = 5  # the default
USER = "nobody"


def program(builddir, name):
    return os.path.join(builddir, "src", name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def applied_version(state):
    m = re.search(r"(?m)^version (\d+)$", read(state))
    return int(m.group(1)) if m else -1


def hwm_kb(pid):
    m = re.search(r"(?m)^VmHWM:\s+(\d+) kB", read("/proc/%d/status" % pid))
    return int(m.group(1)) if m else -1


def child_of(pid):
    kids = read("/proc/%d/task/%d/children" % (pid, pid)).split()
    return int(kids[0]) if kids else None


def load_partners(pg, n):
    """N partners in one INSERT ... SELECT (one version bump)."""
    pg.psql("INSERT INTO partner_relay.partners (id, host, port, username, password, sender, tls) "
            "SELECT 'p' || lpad(i::text, 6, '0'), "
            "'127.' || (i / 62500) || '.' || (i / 250 %% 250) || '.' || (i %% 250 + 1), 587, "
            "'relay' || i || '@p' || i || '.example', 'pw-' || md5(i::text), "
            "'news@p' || i || '.example', 'encrypt' FROM generate_series(1, %d) AS i" % n)


def main():
    if len(sys.argv) < 2:
        print("usage: bench_sync.py BUILDDIR [--quick]", file=sys.stderr)
        return 2
    builddir = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0 or pgtmp.find_bindir() is None:
        print("SKIP bench_sync: needs root and the PostgreSQL server (package postgresql)")
        return 0
    tmp = tempfile.mkdtemp(prefix="prm-bench-sync-")
    os.chmod(tmp, 0o755)  # the server and the database child run as nobody
    procs = []
    pg = None
    try:
        pg = pgtmp.Server(os.path.join(tmp, "pg"))
        with open(os.path.join(pg.data, "postgresql.auto.conf"), "a") as f:
            f.write("shared_preload_libraries = 'pg_stat_statements'\n"
                    "pg_stat_statements.track_utility = on\n")
        pg.start()
        pg.psql_file(os.path.join(SRCDIR, "contrib", "postgresql", "schema.sql"))
        pg.psql("CREATE EXTENSION pg_stat_statements")
        pg.psql("ALTER ROLE partner_relay_sync LOGIN")
        t = time.monotonic()
        load_partners(pg, N)
        print("== partner-relay-sync, %d partners (PostgreSQL %s)" % (
            N, pg.psql("SHOW server_version").strip()))
        print("loaded %d rows in %.1f s" % (N, time.monotonic() - t))

        d = lambda *p: os.path.join(tmp, *p)  # noqa: E731
        os.makedirs(d("tables"))
        # A private Postfix configuration for postconf and postmap (the
        # host's /etc/postfix is neither needed nor touched).
        os.makedirs(d("etc"))
        with open(d("etc", "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        shutil.copyfile("/usr/share/postfix/master.cf.dist", d("etc", "master.cf"))
        env = dict(os.environ, MAIL_CONFIG=d("etc"))
        port = free_port()
        conf = d("prm.conf")
        with open(conf, "w") as f:
            f.write("[milter]\nsocket = inet:%d@127.0.0.1\npartners = %s\nuser = %s\n"
                    "fallback_sender = noreply@platform.example\n"
                    "allowed_private_relays = 127.0.0.0/8\ntables_dir = %s\npidfile = %s\n"
                    "[sync]\ndsn = %s\ninterval = %d\nstate_dir = %s\ntables_dir = %s\n"
                    "host = bench\nstats_file = %s\n"
                    % (port, d("partners.conf"), USER, d("tables"), d("milter.pid"),
                       pg.dsn(user="partner_relay_sync"), INTERVAL, d("state"), d("tables"),
                       d("sync.prom")))
        sync = program(builddir, "partner-relay-sync")

        # 1. A full sync from nothing.
        log = open(d("once.log"), "w")
        t = time.monotonic()
        p = subprocess.Popen([sync, "-c", conf, "--once"], stdout=log, stderr=log, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        took = time.monotonic() - t
        log.close()
        m = re.search(r"event=applied .*", read(d("once.log")))
        print("full sync (--once, nothing before): %.1f s wall, %.1f s CPU, peak RSS %.0f MiB "
              "(exit %d)" % (took, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0,
                             os.waitstatus_to_exitcode(status)))
        print("  %s" % (m.group(0) if m else "no applied line: " + read(d("once.log"))[-500:]))

        # The milter, then the sync daemon (nothing to do: same version).
        mlog = open(d("milter.log"), "w")
        procs.append(subprocess.Popen([program(builddir, "partner-relay-milter"), "-f", "-c", conf],
                                      stdout=mlog, stderr=mlog))
        pgtmp.wait_for(lambda: "starting" in read(d("milter.log")), 120, 0.2)
        slog = open(d("sync.log"), "w")
        daemon = subprocess.Popen([sync, "-f", "-c", conf], stdout=slog, stderr=slog, env=env)
        procs.append(daemon)
        pgtmp.wait_for(lambda: "event=database-reachable" in read(d("sync.log")), 30, 0.1)

        # 2. Commit to published, and to the milter's reload.
        to_applied, to_reload = [], []
        for r in range(ROUNDS):
            gens = read(d("milter.log")).count("reloaded configuration generation")
            pg.psql("UPDATE partner_relay.partners SET password = 'pw-round-%d' "
                    "WHERE id = 'p000001'" % r)
            t = time.monotonic()
            v = int(pg.psql("SELECT version FROM partner_relay.version").strip())
            ok = pgtmp.wait_for(lambda: applied_version(d("state", "state")) == v, 120, 0.02)
            ta = time.monotonic() - t
            ok = ok and pgtmp.wait_for(
                lambda: read(d("milter.log")).count("reloaded configuration generation") > gens,
                120, 0.02)
            tr = time.monotonic() - t
            if not ok:
                print("round %d: not applied or not reloaded within 120 s\n%s" % (r, read(d("sync.log"))[-1500:]))
                break
            to_applied.append(ta)
            to_reload.append(tr)
            print("change %d: commit -> published %.2f s, -> milter reloaded %.2f s" % (r, ta, tr))
        if to_applied:
            print("commit -> published: median %.2f s, max %.2f s; -> milter routes by it: "
                  "median %.2f s, max %.2f s (%d changes, interval %d s, NOTIFY wakes the sync)"
                  % (statistics.median(to_applied), max(to_applied),
                     statistics.median(to_reload), max(to_reload), len(to_applied), INTERVAL))
        # The milter's own share: a reload with nothing changed.
        alone = []
        for _ in range(3):
            gens = read(d("milter.log")).count("reloaded configuration generation")
            t = time.monotonic()
            os.kill(int(read(d("milter.pid")).strip()), signal.SIGUSR1)
            if pgtmp.wait_for(lambda: read(d("milter.log")).count(
                    "reloaded configuration generation") > gens, 120, 0.02):
                alone.append(time.monotonic() - t)
        if alone:
            print("milter reload alone (SIGUSR1, same table): median %.2f s (%s)"
                  % (statistics.median(alone), " ".join("%.2f" % x for x in alone)))
        kid = child_of(daemon.pid)
        print("daemon peak RSS after %d full re-reads: %.0f MiB (root, publishing), database "
              "child %.0f MiB (as %s)" % (len(to_applied), hwm_kb(daemon.pid) / 1024.0,
                                          (hwm_kb(kid) if kid else -1) / 1024.0, USER))
        m = re.findall(r"reloaded configuration generation \d+: .*", read(d("milter.log")))
        print("  milter: %s" % (m[-1] if m else "no reload line"))

        # 3. The database load of one idle host.
        pg.psql("SELECT pg_stat_statements_reset()")
        time.sleep(IDLE)
        rows = pg.psql("SELECT s.calls, regexp_replace(s.query, '\\s+', ' ', 'g') "
                       "FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
                       "WHERE r.rolname = 'partner_relay_sync' ORDER BY s.calls DESC")
        calls = 0
        lines = []
        for line in rows.splitlines():
            if "|" in line:
                c, q = line.split("|", 1)
                calls += int(c)
                lines.append("  %5s  %s" % (c, q[:90]))
        print("idle database load: %d statements in %d s = %.1f per minute per host "
              "(interval %d s, one connection, LISTEN open)" % (calls, IDLE, calls * 60.0 / IDLE,
                                                                 INTERVAL))
        print("\n".join(lines))
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
        if pg:
            pg.stop()
        if os.environ.get("PRM_KEEP") == "1":
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
