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
  - Every token handed out is added to inst.extra_secrets, so a token in
    Postfix's or the milter's log is caught like a password.

Thread safety: none; one Instance per test process.  Standard library only.
"""

import json
import os
import subprocess
import sys

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
