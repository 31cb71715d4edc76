#!/usr/bin/python3
"""test_probe_oauth.py - partner-relay-probe(8) on auth = oauth2 partners.

What it is: the make check driver for the probe's OAuth2 part.  Starts the
fake token endpoint tests/lib/faketoken.py over HTTPS (test CA of
tests/lib/mkcerts.sh, verified through [oauth] cafile) and fakesmtp.py
relays that take XOAUTH2, all on 127.0.0.1 with kernel-chosen ports, and
runs the real probe: a good token and AUTH XOAUTH2 (two-step for a long
token, one-step for a short one) and --send-test delivered with that token;
each refusal of the token endpoint (wrong secret, wrong client id, unknown
tenant, consent missing, no service principal, expired secret,
unauthorized_client, a 503, not JSON, a 2 MB reply, a 404, refused, hanging, untrusted
certificate, a reply echoing the secret) with its diagnosis and no
connection to the relay; a relay without XOAUTH2; 535 after XOAUTH2
(directly, with Microsoft's "SMTP AUTH disabled" wording, and after the
JSON error challenge, answered with the empty response); a JWT without the
SMTP.SendAsApp role; an entry without its secret (no request at all);
--json and --all.  The
last case checks that no output held the client secret or a token.

Environment: PROBE, TESTLIB as for test_probe.py (whose Env it reuses).
Every server is stopped at the end; each probe run is bounded by --timeout
and a subprocess timeout.  Output: PASS/FAIL per case with "got X, want
Y", then "N passed, N failed"; exit status 1 on any failure.
"""

import base64
import json
import os
import secrets as rnd
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_probe as tp  # noqa: E402  (Env, expect, ...; its TESTLIB path too)
import spool  # noqa: E402

OK, AUTH = tp.OK, tp.AUTH
USER = "relay@acme.example"   # the mailbox (user=)
SENDER = "news@acme.example"
CLIENT_ID = "probe-app-1"
# + & = must reach the endpoint URL-encoded (faketoken compares exactly).
CLIENT_SECRET = "Pr0be+client&s3cret=value"
WRONG_SECRET = "Wr0ng+client&s3cret=value"
URLENC = [s.replace("+", "%2B").replace("&", "%26").replace("=", "%3D")
          for s in (CLIENT_SECRET, WRONG_SECRET)]


def b64url(obj):
    """base64url of OBJ as compact JSON, unpadded (a JWT part)."""
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt(roles, n):
    """A JWT-shaped token whose signature part is a faketoken-style token."""
    head = b64url({"typ": "JWT", "alg": "none"})
    body = b64url({"aud": "https://outlook.office365.com", "roles": roles})
    return "%s.%s.fake-token-jwt-%d-%s" % (head, body, n, rnd.token_hex(16))


# A token like Entra's (1.5-3 KB): Postfix sends it two-step, so does the probe.
LONG_TOKEN = "fake-token-probe.%s-1-%s" % ("A" * 1800, rnd.token_hex(16))
JWT_ROLE = jwt(["SMTP.SendAsApp"], 2)
JWT_NOROLE = jwt([], 3)
TOKENS = [LONG_TOKEN, JWT_ROLE, JWT_NOROLE]


class OAuthEnv(tp.Env):
    """test_probe's Env plus three token endpoints (one per fixed token)."""

    def __init__(self):
        super().__init__()
        self.fault = os.path.join(self.dir, "token-fault")
        self.set_fault("none")
        self.endpoints = {}
        for name, token in (("long", LONG_TOKEN), ("jwt", JWT_ROLE), ("norole", JWT_NOROLE)):
            self.endpoints[name] = self.token_endpoint(name, token)

    def token_endpoint(self, name, token):
        """Start faketoken.py issuing TOKEN; return (port, request log)."""
        ready = os.path.join(self.dir, "token-%s.port" % name)
        log = os.path.join(self.dir, "token-%s.jsonl" % name)
        args = [sys.executable, os.path.join(tp.TESTLIB, "faketoken.py"),
                "--cert", os.path.join(self.pki, "server.pem"),
                "--key", os.path.join(self.pki, "server.key"),
                "--client", "%s:%s" % (CLIENT_ID, CLIENT_SECRET), "--fixed-token", token,
                "--log", log, "--ready-file", ready, "--hang-seconds", "20",
                "--max-seconds", "300"]
        if name == "long":
            args += ["--fault-file", self.fault]
        # Its stderr (a client hanging up on the 2 MB reply is a traceback
        # there) stays in the scratch directory.
        with open(os.path.join(self.dir, "token-%s.err" % name), "ab") as errlog:
            p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stderr=errlog)
        self.servers.append(p)
        port = spool.wait_for(lambda: os.path.exists(ready) and open(ready).read(), 20)
        if not port:
            raise RuntimeError("faketoken %s did not become ready" % name)
        return int(port), log

    def set_fault(self, mode):
        """The fault of the "long" endpoint from its next request on."""
        with open(self.fault + ".tmp", "w") as f:
            f.write(mode)
        os.rename(self.fault + ".tmp", self.fault)

    def requests(self, name):
        """The request log of endpoint NAME."""
        try:
            with open(self.endpoints[name][1]) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def relay(self, name, **kw):
        """A STARTTLS fakesmtp that takes XOAUTH2 for USER with each token."""
        # The file form: one user may have several good tokens (--xoauth2 keeps one).
        good = os.path.join(self.dir, "xoauth2-good")
        if not os.path.exists(good):
            with open(good, "w") as f:
                f.write("".join("%s %s\n" % (USER, t) for t in (LONG_TOKEN, JWT_ROLE)))
        kw.setdefault("xoauth2_file", good)
        kw.setdefault("mechs", "PLAIN,LOGIN,XOAUTH2")
        return self.server(name, tls="starttls", **kw)

    def oauth_config(self, port, endpoint="long", token_url=None, cafile=True, **extra):
        """A main config and a table with partner acme (oauth2) on relay PORT."""
        token_url = token_url or "https://127.0.0.1:%d/acme-tenant/oauth2/v2.0/token" \
            % self.endpoints[endpoint][0]
        keys = {"auth": "oauth2", "host": "localhost", "port": port, "username": USER,
                "sender": SENDER, "oauth_client_id": CLIENT_ID,
                "oauth_client_secret": CLIENT_SECRET, "oauth_token_url": token_url}
        keys.update(extra)
        main = "[oauth]\nconnect_timeout = 5\ntimeout = 10\n"
        if cafile:
            main += "cafile = %s/ca.pem\n" % self.pki
        return self.config({"acme": keys}, main_extra=main)

    def run(self, conf, *args, timeout=60):
        """Probe acme with the test CA for the relay."""
        return self.probe("-c", conf, "acme", "--cafile", self.pki + "/ca.pem", *args,
                          timeout=timeout)


def token_failure(env, rc, out, err, code, words):
    """A token step that failed with CODE (or None) and a diagnosis with WORDS."""
    tp.expect_exit(rc, AUTH, out, err)
    doc = json.loads(out)
    t = doc["token"]
    expect_eq(t["ok"], False, "token.ok")
    expect_eq(t["code"], code, "token.code")
    expect_eq(t["expires_in"], None, "token.expires_in")
    d = doc["diagnosis"]
    tp.expect(d and all(w in d["problem"] + " " + d["fix"] for w in words), "diagnosis", d, words)
    names = [s["name"] for s in doc["steps"]]
    expect_eq(names, ["config", "token"], "steps (nothing after the token)")
    return doc


def expect_eq(got, want, what):
    tp.expect(got == want, what, got, want)


# --------------------------------------------------------------------------
# Cases.

def case_good_two_step_send_test(env):
    port, sp = env.relay("good", require_auth=True)
    conf = env.oauth_config(port)
    before = len(env.requests("long"))
    rc, out, err = env.run(conf, "--send-test", "ops@example.org", "--json")
    tp.expect_exit(rc, OK, out, err)
    doc = json.loads(out)
    expect_eq(doc["auth"], {"kind": "oauth2", "result": "ok", "mechanism": "XOAUTH2",
                            "form": "two-step", "user": USER}, "auth")
    t = doc["token"]
    expect_eq((t["ok"], t["expires_in"], t["error"], t["code"], t["jwt"]), (True, 3599, None, None, False),
              "token ok/expires_in/error/code/jwt")
    tp.expect(t["endpoint"].endswith("/acme-tenant/oauth2/v2.0/token"), "token.endpoint", t["endpoint"], "the URL")
    expect_eq(doc["diagnosis"], None, "diagnosis")
    names = [s["name"] for s in doc["steps"]]
    want = ["config", "token", "connect", "greeting", "ehlo", "starttls", "certificate", "ehlo-tls",
            "auth", "send", "quit"]
    expect_eq(names, want, "steps")
    # The endpoint saw one good request of our client, URL-encoded secret and all.
    reqs = env.requests("long")[before:]
    tp.expect(len(reqs) == 1 and reqs[0]["ok"] and reqs[0]["client_id"] == CLIENT_ID,
              "token requests", reqs, "one good request by " + CLIENT_ID)
    ev = spool.read_auth_events(sp)
    tp.expect(len(ev) == 1 and ev[0]["ok"] and ev[0]["tls"] and ev[0]["mech"] == "XOAUTH2"
              and ev[0]["user"] == USER and ev[0]["token"] == LONG_TOKEN and ev[0]["form"] == "two-step",
              "auth events", [{k: v for k, v in e.items() if k != "token"} for e in ev],
              "one good two-step XOAUTH2 over TLS with the issued token")
    msgs = spool.wait_for(lambda: spool.read_messages(sp), timeout=5)
    tp.expect(len(msgs) == 1, "messages", len(msgs), 1)
    m = msgs[0]
    expect_eq((m["auth_user"], m["auth_mech"], m["mail_from"], m["rcpts"], m["tls"]),
              (USER, "XOAUTH2", SENDER, ["ops@example.org"], True), "the test message")
    expect_eq(doc["message_id"], m["headers"] and dict(m["headers"]).get("Message-ID"), "message_id")


def case_one_step_jwt_roles(env):
    port, sp = env.relay("jwt")
    conf = env.oauth_config(port, endpoint="jwt")
    rc, out, err = env.run(conf)
    tp.expect_exit(rc, OK, out, err)
    tp.expect("roles: SMTP.SendAsApp" in out, "token line", out, "roles: SMTP.SendAsApp")
    tp.expect("XOAUTH2 (one-step) accepted for user " + USER in out, "auth line", out, "one-step accepted")
    tp.expect("auth = oauth2" in out.splitlines()[0], "header line", out.splitlines()[0], "auth = oauth2")
    ev = spool.read_auth_events(sp)
    tp.expect(len(ev) == 1 and ev[0]["ok"] and ev[0]["form"] == "one-step" and ev[0]["token"] == JWT_ROLE,
              "auth events", len(ev), "one good one-step XOAUTH2 with the JWT")
    rc, out, err = env.run(conf, "--json")
    doc = json.loads(out)
    expect_eq((doc["token"]["jwt"], doc["token"]["roles"]), (True, ["SMTP.SendAsApp"]), "token.jwt/roles")


def case_jwt_without_role_then_challenge_535(env):
    # The relay does not know the token: JSON error challenge, empty answer, 535 5.7.3.
    port, sp = env.relay("norole")
    conf = env.oauth_config(port, endpoint="norole")
    rc, out, err = env.run(conf)
    tp.expect_exit(rc, AUTH, out, err)
    tp.expect("warning: the token has no SMTP.SendAsApp role" in out, "role warning", out, "the warning")
    tp.expect("error challenge" in out and "535 5.7.3" in out, "auth step", out, "challenge, then 535 5.7.3")
    tp.expect("problem: the relay refused the token for " + USER in out, "problem line", out, "refused the token")
    tp.expect("fix: " in out and "Add-MailboxPermission -Identity " + USER in out, "fix line", out,
              "Add-MailboxPermission")
    ev = spool.read_auth_events(sp)
    tp.expect(len(ev) == 1 and not ev[0]["ok"] and ev[0]["challenge"] and ev[0]["answer"] == "",
              "auth events", ev and {k: ev[0][k] for k in ("ok", "challenge", "answer")},
              "challenge answered with the empty response")


def case_535_after_xoauth2(env):
    port, sp = env.relay("x535", fault="xoauth2fail")
    conf = env.oauth_config(port)
    rc, out, err = env.run(conf, "--json")
    tp.expect_exit(rc, AUTH, out, err)
    doc = json.loads(out)
    expect_eq(doc["token"]["ok"], True, "token.ok")
    expect_eq(doc["auth"]["result"], "failed", "auth.result")
    st = tp.step(doc, "auth")
    tp.expect(st["status"] == "fail" and "535 5.7.139" in st["detail"], "auth step", st, "fail with 535 5.7.139")
    d = doc["diagnosis"]
    tp.expect(d and "no permission on that mailbox, or SMTP AUTH is disabled" in d["problem"]
              and "SMTP.SendAsApp" in d["fix"], "diagnosis", d, "mailbox permission / SMTP AUTH")
    ev = spool.read_auth_events(sp)
    tp.expect(len(ev) == 1 and not ev[0]["ok"] and ev[0]["token"] == LONG_TOKEN, "auth events",
              len(ev), "one refused XOAUTH2 with the issued token")


def case_smtp_auth_disabled(env):
    # Microsoft's 535 5.7.139 for a mailbox without SMTP AUTH: that, not the permission.
    port, _ = env.relay("noauth", fault="smtpauthdisabled")
    conf = env.oauth_config(port)
    rc, out, err = env.run(conf, "--json")
    tp.expect_exit(rc, AUTH, out, err)
    d = json.loads(out)["diagnosis"]
    tp.expect(d and d["problem"].startswith("SMTP AUTH is disabled for the mailbox " + USER)
              and "Set-CASMailbox -Identity " + USER in d["fix"], "diagnosis", d, "SMTP AUTH disabled")


def case_incomplete_entry_no_token_request(env):
    # No secret: inactive, the token step skipped, no request, no AUTH.
    port, sp = env.relay("nosecret")
    conf = env.oauth_config(port, oauth_client_secret=None)
    before = len(env.requests("long"))
    rc, out, err = env.run(conf, "--json")
    tp.expect_exit(rc, tp.CONFIG, out, err)
    doc = json.loads(out)
    st = tp.step(doc, "token")
    tp.expect(st and st["status"] == "skip" and "oauth_client_secret" in st["detail"], "token step", st,
              "skipped: no oauth_client_secret")
    expect_eq((doc["token"], doc["auth"]["result"]), (None, "skipped"), "token/auth.result")
    expect_eq(env.requests("long")[before:], [], "token requests")
    expect_eq(spool.read_auth_events(sp), [], "auth events")


def case_relay_without_xoauth2(env):
    port, sp = env.relay("nox", fault="noxoauth2")
    conf = env.oauth_config(port)
    rc, out, err = env.run(conf, "--json")
    tp.expect_exit(rc, AUTH, out, err)
    doc = json.loads(out)
    d = doc["diagnosis"]
    tp.expect(d and "does not offer XOAUTH2 (it offers PLAIN LOGIN)" in d["problem"]
              and "smtp.office365.com" in d["fix"], "diagnosis", d, "no XOAUTH2")
    expect_eq(spool.read_auth_events(sp), [], "auth events (no password mechanism tried)")


def case_wrong_secret(env):
    port, sp = env.relay("badsecret")
    conf = env.oauth_config(port, oauth_client_secret=WRONG_SECRET)
    rc, out, err = env.run(conf, "--json")
    doc = token_failure(env, rc, out, err, "AADSTS7000215", ["wrong client secret", "oauth_client_secret"])
    expect_eq((doc["token"]["http_status"], doc["token"]["error"]), (400, "invalid_client"), "status/error")
    tp.expect("Invalid client secret" in doc["token"]["description"], "description",
              doc["token"]["description"], "Entra's text")
    expect_eq(spool.read_connections(sp), [], "connections to the relay")
    rc, out, err = env.run(conf)
    tp.expect("problem: wrong client secret (AADSTS7000215)" in out and "\nfix: set oauth_client_secret" in out,
              "text diagnosis", out, "problem: and fix: lines")


def case_wrong_client_id(env):
    port, _ = env.relay("badid")
    conf = env.oauth_config(port, oauth_client_id="no-such-app")
    rc, out, err = env.run(conf, "--json")
    token_failure(env, rc, out, err, "AADSTS700016", ["not in this tenant", "oauth_client_id"])


ENDPOINT_FAULTS = [
    ("unknown_tenant", "AADSTS90002", ["unknown tenant", "oauth_tenant"]),
    ("no_consent", "AADSTS65001", ["consent missing", "SMTP.SendAsApp", "Grant admin consent"]),
    ("no_service_principal", "AADSTS7000229", ["no service principal", "admin consent"]),
    ("secret_expired", "AADSTS7000222", ["expired", "new client secret"]),
    ("unauthorized_client", None, ["unauthorized_client", "consent"]),
    ("invalid_client", "AADSTS7000215", ["wrong client secret"]),
    ("server_error", None, ["HTTP 503", "try again later"]),
    ("notjson", None, ["not an OAuth2 token reply", "token URL"]),
    ("noexpiry", None, ["not an OAuth2 token reply (no_expires_in)"]),
    ("huge", None, ["larger than [oauth] max_response_size (65536 bytes)"]),
]


def case_endpoint_faults(env):
    port, sp = env.relay("faults")
    conf = env.oauth_config(port)
    try:
        for fault, code, words in ENDPOINT_FAULTS:
            env.set_fault(fault)
            rc, out, err = env.run(conf, "--json")
            try:
                token_failure(env, rc, out, err, code, words)
            except AssertionError as e:
                raise AssertionError("fault %s: %s" % (fault, e))
    finally:
        env.set_fault("none")
    expect_eq(spool.read_connections(sp), [], "connections to the relay")


def case_echoed_secret_redacted(env):
    port, _ = env.relay("echo")
    conf = env.oauth_config(port)
    env.set_fault("echo_secret")
    try:
        rc, out, err = env.run(conf, "--json")
    finally:
        env.set_fault("none")
    doc = token_failure(env, rc, out, err, None, ["invalid_request", "oauth_token_url"])
    tp.expect("[secret]" in doc["token"]["description"], "description", doc["token"]["description"],
              "the secret cut out")


def case_endpoint_refused(env):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    port, _ = env.relay("refused")
    conf = env.oauth_config(port, token_url="https://127.0.0.1:%d/t/oauth2/v2.0/token" % closed)
    rc, out, err = env.run(conf, "--json")
    doc = token_failure(env, rc, out, err, None, ["cannot be reached", "127.0.0.1"])
    expect_eq((doc["token"]["error"], doc["token"]["http_status"]), ("connect_refused", None), "error/status")


def case_endpoint_hangs(env):
    port, _ = env.relay("hang")
    conf = env.oauth_config(port)
    env.set_fault("hang")
    t0 = time.monotonic()
    try:
        rc, out, err = env.run(conf, "--json", "--timeout", "2")
    finally:
        env.set_fault("none")
    took = time.monotonic() - t0
    token_failure(env, rc, out, err, None, ["did not answer in time"])
    tp.expect(took < 15, "time taken", took, "bounded by --timeout")


def case_not_a_token_url(env):
    # A path the endpoint does not serve: HTTP 404 with a JSON error nobody defines.
    port, _ = env.relay("notoken")
    conf = env.oauth_config(port, token_url="https://127.0.0.1:%d/acme-tenant/oauth2/v2.0/nowhere"
                            % env.endpoints["long"][0])
    rc, out, err = env.run(conf, "--json")
    doc = token_failure(env, rc, out, err, None, ["HTTP 404", "it is not a token endpoint"])
    expect_eq(doc["token"]["http_status"], 404, "token.http_status")


def case_endpoint_untrusted(env):
    # No [oauth] cafile: the system store does not know the test CA.
    port, _ = env.relay("untrusted")
    conf = env.oauth_config(port, cafile=False)
    rc, out, err = env.run(conf, "--json")
    doc = token_failure(env, rc, out, err, None, ["certificate does not verify", "[oauth] cafile"])
    expect_eq(doc["token"]["error"], "tls_verify_failed", "token.error")


def case_json_fields(env):
    port, _ = env.relay("json")
    conf = env.oauth_config(port)
    rc, out, err = env.run(conf, "--json")
    tp.expect_exit(rc, OK, out, err)
    doc = json.loads(out)
    for key in ("partner", "steps", "auth", "token", "diagnosis", "certificate", "result", "exit_code"):
        tp.expect(key in doc, "key " + key, sorted(doc), key)
    want = ["ok", "endpoint", "http_status", "error", "code", "description", "expires_in", "jwt", "roles"]
    expect_eq(sorted(doc["token"]), sorted(want), "token keys")
    expect_eq(doc["token"]["http_status"], 200, "token.http_status")
    # A password partner has no token object and auth.kind password.
    port2, _ = env.server("jsonpw", tls="starttls")
    conf = env.config({"acme": tp.partner(port2)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    doc = json.loads(out)
    expect_eq((doc["token"], doc["auth"]["kind"], doc["diagnosis"]), (None, "password", None),
              "password partner token/kind/diagnosis")


def case_all_table(env):
    # Two partners of one application share one token request; a third with
    # another secret gets its own request and its own diagnosis.
    port, sp = env.relay("all")
    url = "https://127.0.0.1:%d/acme-tenant/oauth2/v2.0/token" % env.endpoints["long"][0]

    def entry(n, secret):
        return {"auth": "oauth2", "host": "localhost", "port": port, "username": USER,
                "sender": "news@%s.example" % n, "oauth_client_id": CLIENT_ID,
                "oauth_client_secret": secret, "oauth_token_url": url}
    conf = env.config({"acme": entry("acme", CLIENT_SECRET), "beta": entry("beta", CLIENT_SECRET),
                       "gamma": entry("gamma", WRONG_SECRET)},
                      main_extra="[oauth]\ncafile = %s/ca.pem\n" % env.pki)
    before = len(env.requests("long"))
    rc, out, err = env.probe("-c", conf, "--all", "--cafile", env.pki + "/ca.pem")
    tp.expect_exit(rc, AUTH, out, err)
    rows = {line.split()[0]: line for line in out.splitlines() if line[:5] in ("acme ", "beta ", "gamma")}
    tp.expect("ok/XOAUTH2" in rows.get("acme", "") and "ok/XOAUTH2" in rows.get("beta", ""),
              "table rows", rows, "acme and beta ok/XOAUTH2")
    tp.expect(rows.get("gamma", "").split()[-1] == "auth", "gamma row", rows.get("gamma"), "RESULT auth")
    tp.expect("gamma: fix: set oauth_client_secret" in out, "gamma's fix", out, "the fix line")
    reqs = env.requests("long")[before:]
    expect_eq(sorted(r["ok"] for r in reqs), [False, True], "token requests (ok flags)")
    ev = spool.read_auth_events(sp)
    tp.expect(len(ev) == 2 and all(e["ok"] and e["token"] == LONG_TOKEN for e in ev), "auth events",
              len(ev), "acme and beta, each with the shared token")
    rc, out, err = env.probe("-c", conf, "--all", "--json", "--cafile", env.pki + "/ca.pem")
    beta = [d for d in json.loads(out)["partners"] if d["partner"] == "beta"][0]
    tp.expect("partner acme's request" in tp.step(beta, "token")["detail"], "beta's token step",
              tp.step(beta, "token"), "the answer to partner acme's request")


CASES = [case_good_two_step_send_test, case_one_step_jwt_roles, case_jwt_without_role_then_challenge_535,
         case_535_after_xoauth2, case_smtp_auth_disabled, case_incomplete_entry_no_token_request,
         case_relay_without_xoauth2, case_wrong_secret, case_wrong_client_id,
         case_endpoint_faults, case_echoed_secret_redacted, case_endpoint_refused, case_endpoint_hangs,
         case_not_a_token_url, case_endpoint_untrusted, case_json_fields, case_all_table]


def case_no_secret_or_token_printed(env):
    """Runs last: no output of any earlier run holds a secret or a token,
    nor a path of the host's configuration."""
    tp.expect(len(env.outputs) >= len(CASES), "runs recorded", len(env.outputs), ">= %d" % len(CASES))
    leaks = [CLIENT_SECRET, WRONG_SECRET] + URLENC + TOKENS + [t.rsplit(".", 1)[-1] for t in TOKENS]
    for i, out in enumerate(env.outputs):
        for k, s in enumerate(leaks):
            # Name the run and the kind of value, never the value itself.
            tp.expect(s not in out, "secret/token #%d in the output of run #%d" % (k, i), "present", "absent")
        tp.expect_host_free(out)


def main():
    return tp.run_cases(OAuthEnv, CASES + [case_no_secret_or_token_printed])


if __name__ == "__main__":
    sys.exit(main())
