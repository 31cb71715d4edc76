#!/usr/bin/python3
"""test_tokend.py - partner-relay-tokend(8) against a fake HTTPS token endpoint.

Starts tests/lib/faketoken.py (test CA of tests/lib/mkcerts.sh) and the real
partner-relay-tokend in the foreground on a private socketmap socket, all
in one temporary directory, and asks it with a small socketmap client:
  1. before the first fetch succeeds (endpoint 503): TEMP, a failure line;
  2. 1000 oauth2 partners sharing 3 applications: 3 fetches, not 1000;
     "OK username:token" with the token the endpoint issued; the secrets
     (holding + & = /) arrive URL-encoded and intact (else 400);
  3. an unknown sender, another map name: TEMP (never NOTFOUND);
  4. SIGUSR1 after adding a partner with a 4th application: served;
  5. the endpoint fails (503) after a good fetch: still OK with the cached
     token until it expires, then TEMP;
  6. 400 invalid_client: a log line with AADSTS7000215, no secret;
  7. tiny expires_in: refetched again and again;
  8. the metrics file, the socket mode; no secret or token in the log.
Environment: TOKEND (the binary), TESTLIB (tests/lib). Root not needed.
"""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

TESTLIB = os.environ.get("TESTLIB") or os.path.join(os.path.dirname(__file__), "..", "lib")
sys.path.insert(0, TESTLIB)
import spool  # noqa: E402  (tests/lib/spool.py)
TOKEND = os.environ.get("TOKEND", "")
SCOPE = "https://outlook.office365.com/.default"
# Test values only.
SECRETS = {"app-one": "one-s3cret+&=/value", "app-two": "two-s3cret=&+more",
           "app-three": "three-s3cret/+/&x", "app-four": "four-s3cret+late=&"}
FAILURES = []


def check(cond, what):
    """Record one assertion."""
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def wait_for(pred, seconds, step=0.1):
    """Poll PRED until true or SECONDS pass; its last value."""
    end = time.monotonic() + seconds
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def lookup(sock_path, key, name="xoauth2"):
    """One socketmap request; the reply payload ("OK ...", "TEMP ...");
    a reply that is not a netstring is a failure."""
    reply = spool.socketmap_lookup(sock_path, key, name)
    if reply.startswith("ERROR not a netstring"):
        check(False, "reply is a netstring: " + reply)
    return reply


class BrokerEnv:
    """What the broker tests' environments share: the temporary directory
    with the test PKI, the broker process (self.conf, self.errlog) and
    stopping it and the endpoint (self.endpoint) by pid."""

    def make_dir(self, prefix):
        """A fresh directory PREFIX* with the test CA and certificates in pki/."""
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.pki = os.path.join(self.dir, "pki")
        subprocess.run(["sh", os.path.join(TESTLIB, "mkcerts.sh"), self.pki], check=True,
                       stdout=subprocess.DEVNULL)

    def start_endpoint(self, *args):
        """tests/lib/faketoken.py on the test PKI with ARGS, its request log
        in self.reqlog; its port in self.port once it is ready."""
        self.reqlog = os.path.join(self.dir, "requests.jsonl")
        ready = os.path.join(self.dir, "port")
        self.endpoint = subprocess.Popen(
            [sys.executable, os.path.join(TESTLIB, "faketoken.py"),
             "--cert", os.path.join(self.pki, "server.pem"),
             "--key", os.path.join(self.pki, "server.key"), "--log", self.reqlog,
             "--ready-file", ready, "--max-seconds", "120"] + list(args))
        self.port = int(wait_for(lambda: os.path.exists(ready) and open(ready).read(), 20))

    def requests(self):
        """The endpoint's request log, one dict a request (no secrets)."""
        try:
            with open(self.reqlog) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def start(self):
        """The broker in the foreground, its output in self.errlog."""
        self.err = open(self.errlog, "w")
        self.broker = subprocess.Popen([TOKEND, "-f", "-c", self.conf], stdout=self.err,
                                       stderr=subprocess.STDOUT)

    def log(self):
        """What the broker printed so far."""
        with open(self.errlog, errors="replace") as f:
            return f.read()

    def stop(self):
        """SIGTERM to the broker and the endpoint; SIGKILL after 10 s."""
        for p in (self.broker, self.endpoint):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


class Env(BrokerEnv):
    """The temporary directory, the endpoint and the broker."""

    def __init__(self):
        self.make_dir("prm-tokend-")
        self.fault = os.path.join(self.dir, "fault")
        self.set_fault("server_error")
        args = ["--fault-file", self.fault, "--hang-seconds", "20"]
        for cid, sec in SECRETS.items():
            args += ["--client", "%s:%s" % (cid, sec)]
        self.start_endpoint(*args)
        self.sock = os.path.join(self.dir, "tokens.sock")
        self.partners = os.path.join(self.dir, "partners.conf")
        self.conf = os.path.join(self.dir, "prm.conf")
        self.stats = os.path.join(self.dir, "tokend.prom")
        self.errlog = os.path.join(self.dir, "tokend.log")
        with open(self.conf, "w") as f:
            # tables_dir empty: the broker never reads the host's published stamp.
            f.write("[milter]\nfallback_sender = noreply@platform.example\npartners = %s\n"
                    "allowed_private_relays = 127.0.0.0/8\ntables_dir =\n"
                    "[oauth]\nsocket = %s\nsocket_group =\ncafile = %s\nconnect_timeout = 2\n"
                    "timeout = 3\nrefresh_margin = 60\nexpiry_safety = 0\nretry_max = 5\n"
                    "stats_file = %s\nstats_interval = 1\n"
                    % (self.partners, self.sock, os.path.join(self.pki, "ca.pem"), self.stats))
        self.broker = None

    def set_fault(self, mode):
        with open(self.fault + ".tmp", "w") as f:
            f.write(mode)
        os.rename(self.fault + ".tmp", self.fault)

    def write_partners(self, n, extra=""):
        """N partners over 3 applications, plus EXTRA."""
        apps = ["app-one", "app-two", "app-three"]
        out = []
        for i in range(n):
            cid = apps[i % 3]
            out.append("[p%04d]\nauth = oauth2\nhost = smtp.office365.com\nport = 587\n"
                       "username = relay%d@p%d.example\nsender = news@p%d.example\n"
                       "oauth_client_id = %s\noauth_client_secret = %s\n"
                       "oauth_token_url = https://127.0.0.1:%d/t%d/oauth2/v2.0/token\n"
                       % (i, i, i, i, cid, SECRETS[cid], self.port, i % 3))
        with open(self.partners + ".tmp", "w") as f:
            f.write("".join(out) + extra)
        os.chmod(self.partners + ".tmp", 0o600)
        os.rename(self.partners + ".tmp", self.partners)

    def issued(self, cid):
        return [r["token"] for r in self.requests() if r["ok"] and r["client_id"] == cid]

def scenario(env):
    env.write_partners(1000)
    env.start()
    check(wait_for(lambda: os.path.exists(env.sock), 20), "socket created")
    check(stat.S_IMODE(os.stat(env.sock).st_mode) == 0o660, "socket mode 0660")
    # 1. Before the first good fetch: TEMP and a failure line per application.
    check(wait_for(lambda: env.log().count("token fetch failed") >= 3, 20), "3 failure lines (503)")
    check(lookup(env.sock, "news@p0.example").startswith("TEMP"), "TEMP before the first fetch")
    check("status=503" in env.log() and "endpoint=127.0.0.1" in env.log(), "failure names status, endpoint")
    # 2. 1000 partners, 3 applications: 3 fetches.
    env.set_fault("none")
    check(wait_for(lambda: all(lookup(env.sock, "news@p%d.example" % i).startswith("OK")
                               for i in (0, 1, 2)), 30), "OK for each application")
    time.sleep(1.5)
    good = [r for r in env.requests() if r["ok"]]
    check(len(good) == 3, "3 good fetches for 1000 partners (got %d)" % len(good))
    for i in (0, 1, 2, 999, 500):
        cid = ["app-one", "app-two", "app-three"][i % 3]
        want = "OK relay%d@p%d.example:%s" % (i, i, env.issued(cid)[-1])
        check(lookup(env.sock, "News@P%d.Example" % i) == want, "p%d: OK username:token of %s" % (i, cid))
    # 3. Unknown sender, other map: TEMP.
    check(lookup(env.sock, "nobody@unknown.example").startswith("TEMP"), "unknown sender: TEMP")
    check(lookup(env.sock, "news@p0.example", "sasl").startswith("TEMP"), "other map name: TEMP")
    check(lookup(env.sock, "[smtp.office365.com]:587").startswith("TEMP"), "next hop key: TEMP")
    # 4. Reload adds a partner with a 4th application (short-lived tokens).
    env.set_fault("short")
    env.write_partners(1000, "[late]\nauth = oauth2\nhost = smtp.office365.com\nport = 587\n"
                       "username = late@late.example\nsender = mail@late.example\n"
                       "oauth_client_id = app-four\noauth_client_secret = %s\n"
                       "oauth_token_url = https://127.0.0.1:%d/late/oauth2/v2.0/token\n"
                       % (SECRETS["app-four"], env.port))
    check(lookup(env.sock, "mail@late.example").startswith("TEMP"), "late: TEMP before the reload")
    env.broker.send_signal(signal.SIGUSR1)
    check(wait_for(lambda: lookup(env.sock, "mail@late.example").startswith("OK"), 20), "late: OK after SIGUSR1")
    t_fetch = time.monotonic()
    token = env.issued("app-four")[-1]
    # 5. The endpoint fails after that good fetch: the cached token is
    # served until it expires (12 s, expiry_safety 0), then TEMP.
    env.set_fault("server_error")
    check(wait_for(lambda: env.log().count("serving=cached") >= 1, 15), "refresh failed while cached")
    if time.monotonic() - t_fetch < 11:
        check(lookup(env.sock, "mail@late.example") == "OK late@late.example:" + token,
              "endpoint down: still OK with the cached token")
    check(wait_for(lambda: lookup(env.sock, "mail@late.example").startswith("TEMP"), 15),
          "TEMP once the cached token expired")
    check(lookup(env.sock, "news@p0.example").startswith("OK"), "other applications unaffected")
    # 6. 400 invalid_client: the provider's code in the log, no secret.
    env.set_fault("invalid_client")
    check(wait_for(lambda: "code=AADSTS7000215" in env.log(), 15), "log line with AADSTS7000215")
    line = [x for x in env.log().splitlines() if "AADSTS7000215" in x][-1]
    check("partner=late" in line and "error=invalid_client" in line and "status=400" in line,
          "failure line: partner, error, status")
    # 7. Tiny expires_in: fetched again and again.
    n = len(env.issued("app-four"))
    env.set_fault("tiny")
    check(wait_for(lambda: len(env.issued("app-four")) >= n + 3, 20), "tiny expires_in: refetched")
    # 8. Metrics and secrets.
    prom = wait_for(lambda: os.path.exists(env.stats) and open(env.stats).read(), 5) or ""
    vals = dict(l.split(" ", 1) for l in prom.splitlines() if l and not l.startswith("#"))
    check(int(vals.get("partner_relay_tokend_fetches_total", "0")) >= 6, "fetches_total counted")
    check(int(vals.get("partner_relay_tokend_failures_total", "0")) >= 4, "failures_total counted")
    check("partner_relay_tokend_token_age_seconds" in vals and "# TYPE partner_relay_tokend_fetches_total counter" in prom,
          "token age gauge, Prometheus format")
    env.broker.send_signal(signal.SIGTERM)
    check(env.broker.wait(15) == 0, "SIGTERM: clean exit")
    check(not os.path.exists(env.sock), "socket removed at stop")
    text = env.log()
    leaked = [s for s in SECRETS.values() if s in text] + [t for r in env.requests()
                                                          if r["token"] for t in [r["token"]] if t in text]
    check(not leaked, "no secret or token in the broker's log")


def main():
    return run(Env, scenario, 20)


def run(make_env, scenario_fn, tail):
    """SKIP (77) without the broker; else scenario_fn(make_env()), then
    stop it all; on a failure keep the directory and print the broker's
    last TAIL log lines. The exit status."""
    if not TOKEND or not os.access(TOKEND, os.X_OK):
        print("SKIP: TOKEND not built")
        return 77
    env = make_env()
    try:
        scenario_fn(env)
    finally:
        env.stop()
        if FAILURES:
            print("kept %s" % env.dir)
            sys.stdout.write("".join("  " + l + "\n" for l in env.log().splitlines()[-tail:]))
        else:
            shutil.rmtree(env.dir, ignore_errors=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
