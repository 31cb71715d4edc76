#!/usr/bin/env python3
"""bench_tokend.py - partner-relay-tokend(8): socketmap latency, token fetches.

What: the real partner-relay-tokend in the foreground, fetching from
tests/lib/faketoken.py over HTTPS (test CA of tests/lib/mkcerts.sh), in one
temporary directory, no root and no Postfix needed. Two parts:

  lookup latency  10 000 oauth2 partners sharing 3 applications, tokens of
                  2 KB (a Microsoft 365 token is 1-3 KB), all cached; the
                  load client tests/bench/socketmapload speaks Postfix's
                  socketmap protocol (netstring "xoauth2 SENDER", one
                  request at a time per connection, connections kept
                  open, as smtp(8) does) over 1, 4 and 16 connections,
                  keys cycling over the 10 000 senders. Printed: lookups/s,
                  p50/p99/max round trip, the broker's CPU per lookup, RSS.
  token fetches   10 000 partners over APPS distinct applications (token
                  URL, client id, scope: the broker's cache key), tokens
                  that live LIFE seconds (time scaled down from Microsoft's
                  3599 s; refresh_margin 1800 is then above the life, so
                  the broker refreshes at half life, as it does at 3599 s
                  where 3599 - 1800 is also about half), counted over a
                  window of 2 x LIFE once every application has its first
                  token: from the endpoint's request log and from the
                  broker's metrics (fetches_total). Printed: the mean
                  interval between two fetches of one application (from
                  the endpoint's log, every application, the whole run:
                  a count over a window would be quantised, since every
                  application starts at the same moment) as a fraction of
                  the life, and the
                  fetches per hour that gives at a 3599 s life for 3, 100,
                  1 000 and 10 000 applications. Partners do not matter,
                  applications do; the start (one fetch per application at
                  once) is timed too.

Contract: figures only, no timing is asserted (make bench is not a test).
Everything listens on 127.0.0.1 or a UNIX socket in the temporary
directory, and is stopped at exit. The secrets and tokens are test values.
Usage: bench_tokend.py BUILDDIR [--quick]
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
QUICK = "--quick" in sys.argv
HERE = os.path.dirname(os.path.abspath(__file__))
TESTLIB = os.path.join(os.path.dirname(HERE), "lib")
TOKEND = os.path.join(BUILD, "src", "partner-relay-tokend")
LOAD = os.path.join(BUILD, "tests", "bench", "socketmapload")
PARTNERS = 10000
SENDER = "news@p%d.example"
PROD_LIFE = 3599          # Microsoft's expires_in
LIFE = 20 if QUICK else 40
APPS = 200 if QUICK else 1000
LOOKUPS = 4000 if QUICK else 20000


def wait_for(pred, seconds, step=0.1):
    """Poll PRED until true or SECONDS pass; its last value."""
    end = time.monotonic() + seconds
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def cpu_s(pid):
    """utime+stime of PID in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    """VmRSS of PID in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Bench:
    """The temporary directory, one endpoint and one broker at a time."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="prm-bench-tokend-")
        self.pki = os.path.join(self.dir, "pki")
        subprocess.run(["sh", os.path.join(TESTLIB, "mkcerts.sh"), self.pki], check=True,
                       stdout=subprocess.DEVNULL)
        self.sock = os.path.join(self.dir, "tokens.sock")
        self.conf = os.path.join(self.dir, "prm.conf")
        self.partners = os.path.join(self.dir, "partners.conf")
        self.stats = os.path.join(self.dir, "tokend.prom")
        self.reqlog = os.path.join(self.dir, "requests.jsonl")
        self.endpoint = self.broker = None

    def start(self, apps, life, token_bytes):
        """Endpoint with APPS clients, PARTNERS partners over them, broker."""
        self.stop()
        for f in (self.reqlog, self.stats):
            if os.path.exists(f):
                os.unlink(f)
        ready = os.path.join(self.dir, "port")
        if os.path.exists(ready):
            os.unlink(ready)
        args = [sys.executable, os.path.join(TESTLIB, "faketoken.py"),
                "--cert", os.path.join(self.pki, "server.pem"),
                "--key", os.path.join(self.pki, "server.key"), "--expires-in", str(life),
                "--token-bytes", str(token_bytes), "--log", self.reqlog, "--ready-file", ready,
                "--max-seconds", "900"]
        for a in range(apps):
            args += ["--client", "app-%d:app-%d-s3cret+&=value" % (a, a)]
        self.endpoint = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        port = int(wait_for(lambda: os.path.exists(ready) and open(ready).read(), 20))
        out = []
        for i in range(PARTNERS):
            a = i % apps
            out.append("[p%05d]\nauth = oauth2\nhost = smtp.office365.com\nport = 587\n"
                       "username = relay@p%d.example\nsender = %s\noauth_client_id = app-%d\n"
                       "oauth_client_secret = app-%d-s3cret+&=value\n"
                       "oauth_token_url = https://127.0.0.1:%d/tenant-%d/oauth2/v2.0/token\n"
                       % (i, i, SENDER % i, a, a, port, a))
        with open(self.partners, "w") as f:
            f.write("".join(out))
        os.chmod(self.partners, 0o600)
        with open(self.conf, "w") as f:
            f.write("[milter]\nfallback_sender = noreply@platform.example\npartners = %s\n"
                    "allowed_private_relays = 127.0.0.0/8\nlog_level = notice\n"
                    "[oauth]\nsocket = %s\nsocket_group =\ncafile = %s\nconnect_timeout = 5\n"
                    "timeout = 10\nstats_file = %s\nstats_interval = 1\n"
                    % (self.partners, self.sock, os.path.join(self.pki, "ca.pem"), self.stats))
        self.log = open(os.path.join(self.dir, "tokend.log"), "ab")
        self.t_start = time.monotonic()
        self.broker = subprocess.Popen([TOKEND, "-f", "-c", self.conf], stdin=subprocess.DEVNULL,
                                       stdout=self.log, stderr=self.log)
        if not wait_for(lambda: os.path.exists(self.sock) or self.broker.poll() is not None, 60):
            raise RuntimeError("partner-relay-tokend did not start")

    def metrics(self):
        """The broker's stats_file as {name: float}."""
        vals = {}
        try:
            with open(self.stats) as f:
                for line in f:
                    if line.strip() and not line.startswith("#"):
                        k, v = line.rsplit(" ", 1)
                        vals[k] = float(v)
        except (OSError, ValueError):
            pass
        return vals

    def fetches(self):
        """The endpoint's good replies: [(time, client_id)]."""
        try:
            with open(self.reqlog) as f:
                return [(r["time"], r["client_id"]) for r in map(json.loads, f) if r.get("ok")]
        except (OSError, ValueError):
            return []

    def fetch_times(self):
        """Times of the endpoint's good replies."""
        return [t for t, _ in self.fetches()]

    def stop(self):
        """Stop the broker and the endpoint."""
        for p in (self.broker, self.endpoint):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.broker = self.endpoint = None


def lookup_part(b):
    """10 000 partners, 3 applications, 2 KB tokens: socketmap latency."""
    print("\n== socketmap lookups through partner-relay-tokend (%d partners, 3 applications, "
          "2 KB tokens, all cached)" % PARTNERS)
    b.start(3, PROD_LIFE, 2048)
    if not wait_for(lambda: b.metrics().get("partner_relay_tokend_valid_tokens") == 3, 60):
        raise RuntimeError("no 3 valid tokens: %r" % b.metrics())
    print("start to 3 valid tokens: %.2f s; token endpoint requests: %d; broker RSS %d KiB"
          % (time.monotonic() - b.t_start, len(b.fetch_times()), rss_kb(b.broker.pid)))
    print("%6s %9s %11s %8s %8s %8s %10s %6s %6s" % ("conns", "lookups", "lookups/s", "p50_us",
                                                    "p99_us", "max_us", "cpu_us/lk", "ok", "temp"))
    for conns, n in ((1, LOOKUPS // 4), (4, LOOKUPS), (16, LOOKUPS)):
        c0 = cpu_s(b.broker.pid)
        r = subprocess.run([LOAD, b.sock, str(conns), str(n), SENDER, str(PARTNERS)],
                           stdout=subprocess.PIPE, text=True, timeout=600)
        cpu = (cpu_s(b.broker.pid) - c0) * 1e6 / n
        f = dict(kv.split("=", 1) for kv in r.stdout.split())
        print("%6s %9s %11s %8s %8s %8s %10.1f %6s %6s" % (
            conns, f["lookups"], f["lookups_per_s"], f["p50_us"], f["p99_us"], f["max_us"], cpu,
            f["ok"], f["other"]), flush=True)
    print("broker RSS after the lookups: %d KiB; fetches_total %d"
          % (rss_kb(b.broker.pid), b.metrics().get("partner_relay_tokend_fetches_total", -1)))


def fetch_part(b):
    """10 000 partners over APPS applications, tokens living LIFE s."""
    print("\n== token fetches (%d partners over %d applications, expires_in %d s scaled from "
          "%d s, default refresh_margin)" % (PARTNERS, APPS, LIFE, PROD_LIFE))
    b.start(APPS, LIFE, 0)
    if not wait_for(lambda: b.metrics().get("partner_relay_tokend_valid_tokens") == APPS, 180, 0.2):
        raise RuntimeError("not every application got a token: %r" % b.metrics())
    t_all = time.monotonic() - b.t_start
    first = len(b.fetch_times())
    print("start to %d valid tokens: %.1f s (%d fetches, %.0f fetches/s at start)"
          % (APPS, t_all, first, first / t_all))
    m0 = b.metrics().get("partner_relay_tokend_fetches_total", 0)
    w0 = time.time()
    window = 2 * LIFE
    time.sleep(window)
    w1 = time.time()
    time.sleep(1.5)  # the stats file is rewritten every second
    m1 = b.metrics()
    log = b.fetches()
    got = [t for t, _ in log if w0 <= t < w1]
    fails = m1.get("partner_relay_tokend_failures_total", 0)
    delta = m1.get("partner_relay_tokend_fetches_total", 0) - m0
    print("window %d s: endpoint served %d tokens, broker counted %d fetches (%d failures); "
          "%.2f per application" % (window, len(got), delta, fails, len(got) / APPS))
    times = {}
    for t, cid in log:
        times.setdefault(cid, []).append(t)
    gaps = [b2 - a2 for ts in times.values() for a2, b2 in zip(sorted(ts), sorted(ts)[1:])]
    interval = sum(gaps) / len(gaps)
    print("interval between two fetches of one application: mean %.2f s = %.3f of the token's "
          "life (min %.3f, max %.3f; %d intervals)" % (interval, interval / LIFE, min(gaps) / LIFE,
                                                      max(gaps) / LIFE, len(gaps)))
    hourly = 3600 / (interval / LIFE * PROD_LIFE)
    print("at expires_in %d: %.2f fetches per application per hour" % (PROD_LIFE, hourly))
    print("%14s %16s" % ("applications", "fetches/hour"))
    for apps in (3, 100, 1000, 10000):
        print("%14d %16.0f" % (apps, apps * hourly))
    print("(10 000 partners on 3 shared applications: the 3 row; each partner its own "
          "Microsoft 365 tenant, hence its own token URL: the 10 000 row)")


def main():
    """Run both parts; print the figures."""
    for prog in (TOKEND, LOAD):
        if not os.access(prog, os.X_OK):
            print("\n== partner-relay-tokend: SKIP (%s not built)" % prog)
            return 0
    b = Bench()
    try:
        lookup_part(b)
        fetch_part(b)
    finally:
        b.stop()
        shutil.rmtree(b.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main())
