"""pgtmp.py - a private PostgreSQL 15 server in a temporary directory.

What it is: a library the sync tests import.  Server(dir) runs initdb in
DIR/data, starts postgres listening on a UNIX socket in DIR/sock only
(listen_addresses = '', so no TCP port at all), and gives psql() and
dsn() helpers.  As root, the server runs as an unprivileged user (nobody):
PostgreSQL refuses to run as root, and the data directory is owned by that
user inside the test directory.  stop() stops it (pg_ctl stop -m fast, then
SIGKILL of the postmaster by its pid) and is registered at exit.

Contract:
  - find_bindir() returns Debian's /usr/lib/postgresql/15/bin (or the
    newest installed), or None: callers exit 77 with the reason then.
  - Every wait is bounded; nothing is written outside DIR.
  - kill_connections() ends every client session (a "dropped connection"
    fault); stop()/start() simulate a database outage.

Standard library only (Debian's /usr/bin/python3).
"""

import atexit
import glob
import os
import pwd
import shutil
import signal
import subprocess
import time

PG_USER = "nobody"


def find_bindir():
    """Debian's PostgreSQL server binaries, newest first; None if absent."""
    for d in ["/usr/lib/postgresql/15/bin"] + sorted(
            glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "postgres")):
            return d
    return None


class Server:
    """One private PostgreSQL server; see the module header."""

    def __init__(self, base):
        self.bindir = find_bindir()
        self.base = base
        self.data = os.path.join(base, "data")
        self.sock = os.path.join(base, "sock")
        self.log = os.path.join(base, "postgres.log")
        self.port = 5432  # only names the socket file: no TCP listener
        self.running = False
        self.as_root = os.geteuid() == 0
        os.makedirs(self.sock, exist_ok=True)
        os.makedirs(self.data, exist_ok=True)
        os.chmod(self.data, 0o700)
        if self.as_root:
            os.chmod(base, 0o755)
            pw = pwd.getpwnam(PG_USER)
            for p in (self.data, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            open(self.log, "a").close()
            os.chown(self.log, pw.pw_uid, pw.pw_gid)
        self.superuser = "postgres"
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U",
                   self.superuser, "-A", "trust", "--no-sync", "-E", "UTF8",
                   "--locale=C"], timeout=120)
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            f.write("listen_addresses = ''\nunix_socket_directories = '%s'\n"
                    "port = %d\nfsync = off\nmax_connections = 40\n"
                    "shared_buffers = 16MB\n" % (self.sock, self.port))
        atexit.register(self.stop)

    def _run(self, cmd, timeout=60, check=True):
        """Run CMD as the server's user; return the CompletedProcess."""
        if self.as_root:
            cmd = ["runuser", "-u", PG_USER, "--"] + cmd
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, text=True, timeout=timeout,
                           cwd=self.base)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s" % (cmd, p.returncode, p.stdout))
        return p

    def start(self):
        """Start the server; wait (bounded) until it accepts connections."""
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l",
                   self.log, "-w", "-t", "60", "start"], timeout=90)
        self.running = True
        return self

    def stop(self):
        """Stop the server (fast shutdown, then SIGKILL by pid)."""
        if not self.running:
            return
        p = self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data,
                       "-m", "fast", "-w", "-t", "30", "stop"], timeout=45, check=False)
        if p.returncode != 0:
            pid = self.postmaster_pid()
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.running = False

    def postmaster_pid(self):
        """The postmaster's pid from postmaster.pid, or None."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def dsn(self, user=None, db="postgres"):
        """A libpq connection string for the socket directory."""
        return "host=%s port=%d dbname=%s user=%s" % (
            self.sock, self.port, db, user or self.superuser)

    def psql(self, sql, user=None, check=True):
        """Run SQL with psql (ON_ERROR_STOP); return its output."""
        cmd = [os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t",
               "-v", "ON_ERROR_STOP=1", "-d", self.dsn(user), "-c", sql]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, text=True, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError("psql failed (%d): %s\n%s" % (p.returncode, sql[:200], p.stdout))
        return p.stdout

    def psql_file(self, path):
        """Load an SQL file (ON_ERROR_STOP)."""
        cmd = [os.path.join(self.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
               "-d", self.dsn(), "-f", path]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("psql -f %s failed:\n%s" % (path, p.stdout))
        return p.stdout

    def kill_connections(self, application_name="partner-relay-sync"):
        """End every session of APPLICATION_NAME (a dropped connection)."""
        return self.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE application_name = '%s'" % application_name)

    def remove(self):
        """Stop and delete the directory."""
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def wait_for(pred, timeout, step=0.1):
    """Poll PRED until true or TIMEOUT seconds; return its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)
