#!/usr/bin/env python3
"""bench_milter.py - milter-only and scale benchmarks of partner-relay-milter.

What: drives the real daemon (partner-relay-milter -f) directly with the
project's milter-protocol load client (milterload), without Postfix:

  milter:  10 000 partners; over a UNIX socket and over inet (127.0.0.1),
           N = 1, 8, 64, 256 concurrent connections, many messages each:
           msgs/s, latency p50/p99/max, RSS idle and under load, and
           "8x1": 8 connections with a new connection per message (as
           Postfix opens one per SMTP session); the same for the no-op
           libmilter milter (the protocol floor).
  scale:   partner tables of 10, 10 000 and 100 000 partners: time from
           start to a listening socket, RSS idle and under 256 busy
           connections, SIGUSR1 reload time (signal to the daemon's
           "reloaded" log line) while 64 connections send 1000 msgs/s in
           all, and the message latency p99/max during those reloads.

Contract: prints figures, never asserts a timing; exits 1 only when a
process fails to start or the load client reports failed connections.
Everything listens on 127.0.0.1 or in a private temporary directory and
is stopped at exit. Usage: bench_milter.py BUILDDIR [--quick]
Standard library only.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
QUICK = "--quick" in sys.argv
PRM = os.path.join(BUILD, "src", "partner-relay-milter")
LOAD = os.path.join(BUILD, "tests", "bench", "milterload")
NOOP = os.path.join(BUILD, "tests", "bench", "noop_milter")
SECS = "1" if QUICK else "2"
PROCS = []
RELOAD_RATE = 1000  # msgs/s during the reloads: more than Postfix here manages


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tables(d, n, sock):
    """Main config and a table of N partners in D; return the config path.

    Hosts are IP literals: host names would add a DNS lookup per distinct
    name to every load and reload (the private-address guard).
    """
    parts = os.path.join(d, "partners.conf")
    tmp = parts + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        for i in range(n):
            f.write("[p%d]\nhost = 203.0.113.%d\nport = %d\n"
                    "username = user%d\npassword = secret-%d\n"
                    "sender = mail@p%d.example\n\n"
                    % (i, 1 + i % 97, 465 if i % 10 == 0 else 587, i, i, i))
    os.chmod(tmp, 0o600)
    os.replace(tmp, parts)
    conf = os.path.join(d, "bench.conf")
    with open(conf, "w", encoding="ascii") as f:
        f.write("[milter]\nsocket = %s\npartners = %s\n"
                "trusted_networks = 127.0.0.1/32\n"
                "fallback_sender = noreply@platform.example\n"
                "tables_dir =\n" % (sock, parts))
    return conf


def can_connect(sock):
    """Does something accept on SOCK (unix:/path or inet:port@host)?"""
    try:
        if sock.startswith("unix:"):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(1)
            s.connect(sock[5:])
        else:
            port, host = sock[5:].split("@")
            s = socket.create_connection((host, int(port)), timeout=1)
        s.close()
        return True
    except OSError:
        return False


def wait_for(pred, timeout, step=0.01):
    """Poll PRED until true or TIMEOUT seconds; return its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Daemon:
    """One milter process (ours or the no-op), its log and its pids."""

    def __init__(self, d, sock, conf=None):
        self.sock, self.log = sock, os.path.join(d, "milter-%d.log" % len(PROCS))
        if sock.startswith("unix:") and os.path.exists(sock[5:]):
            os.unlink(sock[5:])
        cmd = [PRM, "-f", "-R", "-d", "2", "-c", conf] if conf else [NOOP, sock]
        t0 = time.monotonic()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        PROCS.append(self.proc)
        if not wait_for(lambda: self.proc.poll() is not None or can_connect(sock), 60):
            raise RuntimeError("milter did not listen on %s" % sock)
        if self.proc.poll() is not None:
            raise RuntimeError("milter exited:\n" + self.read_log()[-2000:])
        self.start_s = time.monotonic() - t0
        # partner-relay-milter runs libmilter in a child of its supervisor.
        self.pid = self.proc.pid
        kids = "/proc/%d/task/%d/children" % (self.pid, self.pid)
        if conf and wait_for(lambda: open(kids).read().strip() != "", 5):
            self.pid = int(open(kids).read().split()[0])

    def read_log(self):
        """The daemon's stderr so far."""
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def rss_kib(self):
        """VmRSS of the libmilter process in KiB."""
        with open("/proc/%d/status" % self.pid) as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def cpu_s(self):
        """User + system CPU seconds of the libmilter process so far."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def load(sock, conns, partners, extra=(), secs=SECS):
    """Run milterload; return its key=value figures as a dict."""
    cmd = [LOAD, "-s", sock, "-n", str(conns), "-T", secs,
           "--partners", str(partners)] + list(extra)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    fig = dict(kv.split("=", 1) for kv in p.stdout.split() if "=" in kv)
    if p.returncode != 0:
        print("  milterload failed: " + p.stdout.strip(), flush=True)
        fig["failed"] = "1"
    return fig


def milter_only(d):
    """Throughput and latency over N connections, ours and the floor."""
    print("\n== milter only (10000 partners; load client milterload, %s s per run)" % SECS)
    print("%-26s %5s %9s %8s %8s %8s %9s %9s %8s" % (
        "milter/socket", "conns", "msgs/s", "p50_ms", "p99_ms", "max_ms",
        "rss_idle", "rss_load", "cpu_us"))
    bad = 0
    for name in ("partner-relay-milter", "noop-milter"):
        for kind in ("unix", "inet"):
            sock = ("unix:" + os.path.join(d, "m.sock") if kind == "unix"
                    else "inet:%d@127.0.0.1" % free_port())
            conf = write_tables(d, 10000, sock) if name != "noop-milter" else None
            m = Daemon(d, sock, conf)
            idle = m.rss_kib()
            for n in (1, 8, 64, 256, "8x1"):
                # "8x1": 8 connections, a new one for every message (as
                # Postfix does per SMTP session).
                c0 = m.cpu_s()
                extra = ["--per-conn", "1"] if n == "8x1" else []
                f = load(sock, 8 if n == "8x1" else n, 10000, ["--rss-pid", str(m.pid)] + extra)
                msgs = int(f.get("msgs", 0)) or 1
                cpu_us = (m.cpu_s() - c0) * 1e6 / msgs
                bad += "failed" in f
                print("%-26s %5s %9s %8s %8s %8s %8dK %8sK %8.0f" % (
                    name + "/" + kind, n, f.get("msgs_per_s"), f.get("p50_ms"),
                    f.get("p99_ms"), f.get("max_ms"), idle, f.get("rss_load_kib"),
                    cpu_us), flush=True)
            m.stop()
    return bad


def reload_times(m, count):
    """Send COUNT SIGUSR1 reloads; return each reload's seconds.

    A reload ends when the daemon logs "reloaded configuration generation";
    only the part of the log written since the signal is read.
    """
    times = []
    with open(m.log, "rb") as log:
        for _ in range(count):
            log.seek(0, os.SEEK_END)
            seen = b""
            t0 = time.monotonic()
            os.kill(m.pid, signal.SIGUSR1)

            def done():
                nonlocal seen
                seen = seen[-200:] + log.read()
                return b"reloaded configuration generation" in seen
            ok = wait_for(done, 30, 0.002)
            times.append(time.monotonic() - t0 if ok else float("nan"))
            time.sleep(0.3)
    return times


def scale(d):
    """Start, RSS and reload figures for 10, 10 000 and 100 000 partners."""
    print("\n== scale (reload = SIGUSR1 to the 'reloaded' log line, while 64 connections "
          "send %d msgs/s in all)" % RELOAD_RATE)
    print("%-9s %8s %9s %10s %11s %10s %11s %12s" % (
        "partners", "start_s", "rss_idle", "rss_256busy", "msgs/s@256",
        "reload_s", "p99_ms@rl", "max_ms@rl"))
    bad = 0
    for n in (10, 10000, 100000):
        sock = "unix:" + os.path.join(d, "s.sock")
        conf = write_tables(d, n, sock)
        m = Daemon(d, sock, conf)
        idle = m.rss_kib()
        busy = load(sock, 256, n, ["--rss-pid", str(m.pid)])
        # Reloads while traffic flows: the load client runs in the background.
        bg = subprocess.Popen([LOAD, "-s", sock, "-n", "64", "-T", "4" if not QUICK else "2",
                               "--rate", str(RELOAD_RATE), "--partners", str(n)],
                              stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        rl = reload_times(m, 3 if not QUICK else 1)
        out = bg.communicate(timeout=120)[0]
        f = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
        bad += "failed" in busy or bg.returncode != 0
        print("%-9d %8.2f %8dK %10sK %11s %10s %11s %12s" % (
            n, m.start_s, idle, busy.get("rss_load_kib"), busy.get("msgs_per_s"),
            "/".join("%.2f" % t for t in rl), f.get("p99_ms"), f.get("max_ms")),
            flush=True)
        m.stop()
    return bad


def main():
    """Run both parts in a private directory."""
    for prog in (PRM, LOAD, NOOP):
        if not os.access(prog, os.X_OK):
            print("missing %s: run make first" % prog)
            return 1
    with tempfile.TemporaryDirectory(prefix="prm-bench-") as d:
        try:
            bad = milter_only(d) + scale(d)
        finally:
            for p in PROCS:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
