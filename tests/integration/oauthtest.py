"""oauthtest.py - OAuth2 partners for the integration harness (prmtest.py).

What it is: the pieces an OAuth2 (auth = oauth2) partner needs around a
prmtest.Instance: a fake Microsoft 365 relay (tests/lib/fakesmtp.py with
XOAUTH2 and a token file it re-reads at every AUTH), the partner table
entry, and a token broker serving Postfix's socketmap on the socket the
partner-oauth transport reads (<queue>/private/partner-relay-tokens).

Contract:
  - add_m365_relay(inst, name) starts a relay offering PLAIN LOGIN XOAUTH2
    over STARTTLS (certificate for localhost); accept_token(inst, relay,
    user, token) makes the relay take TOKEN for USER from the next AUTH
    on, and forget every token it took before (the old one has expired).
  - oauth_partner(pid, relay, ...) is a prmtest.Partner with auth = oauth2,
    host localhost (verified TLS needs a name), the relay's port.
  - StandInBroker(inst) is tests/lib/fakesocketmap.py on that socket:
    set_token(sender, user, token), set_mode("ok"|"temp"|"hang"), start(),
    stop(), lookups() (what Postfix asked, never a token).
  - TokenEndpoint(inst, clients) is tests/lib/faketoken.py over HTTPS
    with the instance's test CA (certificate for localhost, 127.0.0.1):
    url(path), set_fault(mode), requests(), issued(client_id) (the
    tokens it gave, in order, with the fault mode of each request),
    stop().  CLIENTS: partners whose client id and secret it knows.
    EXTRA_ARGS go to faketoken.py (e.g. --token-bytes 2048, --expires-in).
  - Tokend(inst, **oauth) is the real partner-relay-tokend on that same
    socket, with the instance's main config (an [oauth] section added to
    inst.config_extra: call it before inst.start()): start() (waits for
    the socket), stop() (SIGTERM to its PID), pid, log(); wait_token(sender)
    waits until it answers OK for SENDER and returns (username, token);
    with metrics=True it writes its stats_file every second and metrics()
    reads it ({name: value}).
  - lookup(socket_path, key) is one socketmap request, as smtp(8) sends it.
  - RelaySync(inst, relay, endpoint, user) keeps the relay's token file
    equal to every token the endpoint issued for USER's client that the
    test has not declared expired (expire_all_but(token)), polling in a
    thread, as Microsoft 365 accepts any unexpired token.
  - OAuthChecks is a mixin for unittest cases on one Instance (cls.inst):
    send(partner) in an eligible category, settle(tokens), at_partner(),
    at_global(), xoauth2_events(since); failures print diagnostics().
  - partner_oauth_deferred(inst) holds partner-oauth mail in the queue
    (defer_transports) while its block runs; flush_queue(inst) then
    releases it (postqueue -f).
  - main() runs the calling test file's unittest cases (SKIP 77 unless
    root and Postfix) and prints "N passed, N failed" last.
  - Every token handed out is added to inst.extra_secrets, so a token in
    Postfix's, the milter's or the broker's log is caught like a password.

Thread safety: none; one Instance per test process.  Standard library only.
"""

import contextlib
import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import unittest

import prmtest

LIB = os.path.join(prmtest.SRCDIR, "tests", "lib")
sys.path.insert(0, LIB)
import spool  # noqa: E402

TOKENS_SOCKET = os.path.join("private", "partner-relay-tokens")


def add_m365_relay(inst, name, users=None, mechs="PLAIN,LOGIN,XOAUTH2"):
    """A fake Microsoft 365 relay: STARTTLS, PLAIN LOGIN XOAUTH2."""
    tokens = inst.path("relays", ".%s.tokens" % name)
    open(tokens, "w").close()
    relay = inst.add_relay(name, tls="starttls", users=users or {},
                           xoauth2_file=tokens, mechs=mechs)

    return relay


def accept_token(inst, relay, user, token, keep_old=False):
    """From the next AUTH on, RELAY takes TOKEN for USER (and no token it
    took before, unless KEEP_OLD: the old one has expired)."""
    path = relay.xoauth2_file
    lines = []
    if keep_old:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    lines.append("%s %s" % (user, token))
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    inst.extra_secrets.add(token)


def oauth_partner(pid, relay, username=None, token_url=None, **kw):
    """An auth = oauth2 partner on RELAY (a prmtest.Relay)."""
    oauth = {"oauth_client_id": "%s-client-id" % pid,
             "oauth_client_secret": "%s-client-s3cret-value" % pid,
             "oauth_token_url": token_url or "https://127.0.0.1:9/%s/oauth2/v2.0/token" % pid}
    return prmtest.Partner(pid, relay=relay.name, host="localhost", port=relay.port,
                           username=username or "box@%s.example" % pid,
                           auth="oauth2", oauth=oauth, **kw)


class StandInBroker:
    """tests/lib/fakesocketmap.py on the partner-oauth transport's socket."""

    def __init__(self, inst):
        self.inst = inst
        self.proc = None
        self.table = inst.path("broker-table.json")
        self.mode_file = inst.path("broker-mode")
        self.log = inst.path("broker-lookups.jsonl")
        self.tokens = {}
        self._write()

    def socket(self):
        return self.inst.path("spool", TOKENS_SOCKET)

    def _write(self):
        tmp = self.table + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.tokens, f)
        os.replace(tmp, self.table)

    def set_token(self, sender, user, token):
        """Answer OK USER:TOKEN for SENDER from now on."""
        self.tokens[sender] = "%s:%s" % (user, token)
        self.inst.extra_secrets.add(token)
        self._write()

    def set_mode(self, mode):
        with open(self.mode_file, "w", encoding="ascii") as f:
            f.write(mode + "\n")

    def start(self):
        os.makedirs(os.path.dirname(self.socket()), exist_ok=True)
        log = open(self.inst.path("broker.log"), "ab")
        self.proc = subprocess.Popen(
            [spool.PYTHON, os.path.join(LIB, "fakesocketmap.py"), "--socket", self.socket(),
             "--table", self.table, "--mode-file", self.mode_file, "--log", self.log,
             "--max-seconds", "900"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        if not spool.wait_for(lambda: os.path.exists(self.socket()), 10, 0.05):
            raise RuntimeError("stand-in broker did not listen")

    def stop(self):
        if self.proc is not None:
            spool.stop_server(self.proc)
            self.proc = None

    def lookups(self):
        try:
            with open(self.log, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []


class TokenEndpoint:
    """tests/lib/faketoken.py for the instance (HTTPS, the test CA)."""

    def __init__(self, inst, clients, extra_args=()):
        self.inst = inst
        self.fault_file = inst.path("token-fault")
        self.reqlog = inst.path("token-requests.jsonl")
        self.set_fault("none")
        ready = inst.path("token-port")
        args = [spool.PYTHON, os.path.join(LIB, "faketoken.py"),
                "--cert", inst.path("certs", "server.pem"),
                "--key", inst.path("certs", "server.key"),
                "--fault-file", self.fault_file, "--log", self.reqlog,
                "--ready-file", ready, "--hang-seconds", "20", "--max-seconds", "900"]
        args += list(extra_args)
        for cid, secret in clients:
            args += ["--client", "%s:%s" % (cid, secret)]
        log = open(inst.path("faketoken.log"), "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        port = spool.wait_for(lambda: inst.read("token-port").strip(), 20, 0.05)
        if not port:
            self.stop()
            raise RuntimeError("faketoken.py did not listen:\n" + inst.read("faketoken.log"))
        self.port = int(port)

    def url(self, path):
        """The token URL for PATH (e.g. the tenant)."""
        return "https://127.0.0.1:%d/%s/oauth2/v2.0/token" % (self.port, path)

    def set_fault(self, mode):
        """The endpoint's behaviour from its next request on."""
        with open(self.fault_file + ".tmp", "w", encoding="ascii") as f:
            f.write(mode + "\n")
        os.replace(self.fault_file + ".tmp", self.fault_file)

    def requests(self):
        """Every request logged (never a secret; tokens issued)."""
        try:
            with open(self.reqlog, encoding="utf-8") as f:
                recs = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        for r in recs:
            if r.get("token"):
                self.inst.extra_secrets.add(r["token"])
        return recs

    def issued(self, client_id):
        """[(token, fault)] issued to CLIENT_ID, oldest first."""
        return [(r["token"], r["fault"]) for r in self.requests()
                if r["ok"] and r["client_id"] == client_id]

    def stop(self):
        """Stop it; every token it issued is then in inst.extra_secrets."""
        if self.proc is not None:
            spool.stop_server(self.proc)
            self.proc = None
        self.requests()


class Tokend:
    """The real partner-relay-tokend(8) on the partner-oauth socket."""

    def __init__(self, inst, metrics=False, **oauth):
        self.inst = inst
        self.proc = None
        self.stats = None
        if metrics:
            # Written after the drop to user: a directory that user owns.
            rundir = inst.path("tokend")
            os.makedirs(rundir, exist_ok=True)
            pw = pwd.getpwnam(prmtest.MILTER_USER)
            os.chown(rundir, pw.pw_uid, pw.pw_gid)
            self.stats = os.path.join(rundir, "tokend.prom")
            oauth.setdefault("stats_file", self.stats)
            oauth.setdefault("stats_interval", "1")
        settings = {"socket": self.socket(), "socket_group": "postfix", "socket_mode": "0660",
                    "user": prmtest.MILTER_USER, "pidfile": inst.path("tokend.pid"),
                    "cafile": inst.path("certs", "ca.pem"), "connect_timeout": "2",
                    "timeout": "3", "retry_max": "5", "refresh_margin": "60"}
        settings.update(oauth)
        inst.config_extra += "[oauth]\n" + "".join(
            "%s = %s\n" % kv for kv in sorted(settings.items()))

    def socket(self):
        return self.inst.path("spool", TOKENS_SOCKET)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def log(self):
        return self.inst.read("tokend.log")

    def wait_token(self, sender, timeout=30):
        """Wait until the broker answers OK for SENDER; (username, token)."""
        got = [None]

        def ok():
            got[0] = lookup(self.socket(), sender)
            return got[0].startswith("OK ")
        if not spool.wait_for(ok, timeout, 0.1):
            raise RuntimeError("no token for %s: %s\n%s" % (sender, got[0], self.log()[-2000:]))
        user, _, token = got[0][3:].partition(":")
        self.inst.extra_secrets.add(token)
        return user, token

    def metrics(self):
        """The stats_file (metrics=True) as {name: value}; {} before the first."""
        vals = {}
        try:
            with open(self.stats, encoding="utf-8") as f:
                for line in f:
                    if line.strip() and not line.startswith("#"):
                        k, _, v = line.rpartition(" ")
                        vals[k] = float(v)
        except (OSError, TypeError, ValueError):
            pass
        return vals

    def start(self):
        """Start it in the foreground (log: tokend.log); wait for its socket."""
        n = self.log().count(" started socket=")
        log = open(self.inst.path("tokend.log"), "ab")
        self.proc = subprocess.Popen(
            [prmtest.program("partner-relay-tokend"), "-f", "-c", self.inst.path("milter.conf")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        if not spool.wait_for(lambda: self.proc.poll() is not None
                              or self.log().count(" started socket=") > n, 15, 0.05) \
                or self.proc.poll() is not None:
            raise RuntimeError("partner-relay-tokend did not start:\n" + self.log()[-3000:])

    def stop(self):
        """SIGTERM to its PID; wait (bounded) for it to exit."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(5)
        self.proc = None
        return rc


class RelaySync:
    """Keep RELAY taking every unexpired token ENDPOINT issued for a client."""

    def __init__(self, inst, relay, endpoint, user, client_id):
        self.inst, self.relay, self.endpoint = inst, relay, endpoint
        self.user, self.client_id = user, client_id
        self.expired = set()
        self.written = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def expire_all_but(self, token):
        """Every token issued so far but TOKEN has expired (relay refuses it)."""
        with self.lock:
            self.expired = {t for t, _ in self.endpoint.issued(self.client_id)} - {token}
            self._sync()

    def _sync(self):
        good = [t for t, _ in self.endpoint.issued(self.client_id) if t not in self.expired]
        if good != self.written:
            lines = "".join("%s %s\n" % (self.user, t) for t in good)
            tmp = self.relay.xoauth2_file + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(lines)
            os.replace(tmp, self.relay.xoauth2_file)
            self.written = good

    def _run(self):
        while not self.stopping.wait(0.05):
            with self.lock:
                self._sync()

    def stop(self):
        self.stopping.set()
        self.thread.join(5)


def lookup(sock_path, key, name="xoauth2", timeout=10):
    """One socketmap request, as smtp(8) sends it (spool.socketmap_lookup)."""
    return spool.socketmap_lookup(sock_path, key, name, timeout)


# A category every partner of these tests takes (X-Email-Category).
ELIGIBLE = [("X-Email-Category", "verification-link")]


class OAuthChecks:
    """Assertions of the OAuth2 test cases on self.inst (a mixin)."""

    def diagnostics(self):
        """What a failed assertion prints."""
        return self.inst.diagnostics()

    def send(self, partner):
        """One message for PARTNER in an eligible category; its token."""
        return self.inst.send([("X-Partner-Id", partner.id)] + ELIGIBLE)

    def settle(self, tokens, timeout=90):
        """Fail unless every message of TOKENS arrived and the queue emptied."""
        self.assertTrue(self.inst.wait_settled(tokens, timeout),
                        "not settled:\n" + self.diagnostics())

    def at_partner(self, tok, partner):
        """Fail unless TOK arrived once at PARTNER's relay with its sender
        and login; the arrival."""
        problems = self.inst.check_arrival(tok, partner.relay, partner.sender,
                                           partner.sender, partner.username)
        self.assertFalse(problems, "\n".join(problems) + "\n" + self.diagnostics())
        return self.inst.arrivals(tok)[0]

    def at_global(self, tok):
        """Fail unless TOK arrived once at the global relay, platform From."""
        problems = self.inst.check_arrival(tok, "global", prmtest.FALLBACK_SENDER,
                                           prmtest.FALLBACK_SENDER, prmtest.GLOBAL_USER)
        self.assertFalse(problems, "\n".join(problems) + "\n" + self.diagnostics())

    def xoauth2_events(self, since):
        """The XOAUTH2 logins any relay saw since SINCE (time.time())."""
        return [e for e in self.inst.auth_events()
                if e["mech"] == "XOAUTH2" and e["time"] >= since]


@contextlib.contextmanager
def partner_oauth_deferred(inst):
    """Postfix holds partner-oauth mail (defer_transports) inside the block;
    lifted after it, even on failure.  Call flush_queue() next."""
    prmtest.run(["postconf", "-c", inst.path("etc"), "-e",
                 "defer_transports = partner-oauth"], env=inst.env())
    prmtest.run(["postfix", "-c", inst.path("etc"), "reload"], env=inst.env())
    try:
        yield
    finally:
        prmtest.run(["postconf", "-c", inst.path("etc"), "-e", "defer_transports ="],
                    env=inst.env())
        prmtest.run(["postfix", "-c", inst.path("etc"), "reload"], env=inst.env())


def flush_queue(inst):
    """postqueue -f: postconf(5) says a defer_transports message waits for
    "sendmail -q or equivalent" (seen waiting past 90 s under load)."""
    inst.flush_until_empty()


def main():
    """Run the unittest cases of the __main__ module (exit 77 unless root
    and Postfix); "N passed, N failed" last; exit 1 on any failure."""
    prmtest.require_root_and_postfix()
    r = unittest.main(module="__main__", exit=False, verbosity=2).result
    failed = len(r.failures) + len(r.errors)
    print("%d passed, %d failed" % (r.testsRun - failed - len(r.skipped), failed))
    sys.exit(0 if r.wasSuccessful() else 1)
