#!/usr/bin/python3
"""test_probe.py - partner-relay-probe(8) against fake relays on loopback.

What it is: the make check driver for the probe.  Starts fakesmtp.py
servers (tests/lib) on 127.0.0.1 with kernel-chosen ports, writes a main
configuration and a partner table per case, runs the probe and checks its
exit code, its output and what the servers recorded (auth-events.jsonl,
spooled messages).  Each case prints PASS or FAIL with "got X, want Y";
the last line is "N passed, N failed"; exit status 1 on any failure.

Environment: PROBE (the binary; default ../../src/partner-relay-probe from
the current directory), TESTLIB (tests/lib; default next to this file).
Every server is stopped at the end, even after a failure; each probe run
is bounded by --timeout and by a subprocess timeout.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TESTLIB = os.environ.get("TESTLIB") or os.path.join(HERE, "..", "lib")
sys.path.insert(0, TESTLIB)
import spool  # noqa: E402  (tests/lib/spool.py)

PROBE = os.environ.get("PROBE") or os.path.abspath(
    os.path.join("..", "..", "src", "partner-relay-probe"))

# Exit codes documented in partner-relay-probe(8).
OK, USAGE, CONFIG, CONNECT, GREETING, TLS, CERT, AUTH, SEND = 0, 2, 3, 4, 5, 6, 7, 8, 9

PASSWORD = "Pr0be-s3cret-pw"
WRONG_PASSWORD = "Wr0ng-s3cret-pw"
OTHER_PASSWORD = "0ther-s3cret-pw"
SECRETS = [PASSWORD, WRONG_PASSWORD, OTHER_PASSWORD]
SECRETS += [base64.b64encode(s.encode()).decode() for s in list(SECRETS)]
SECRETS += [base64.b64encode(("\0acme-user\0" + s).encode()).decode()
            for s in (PASSWORD, WRONG_PASSWORD, OTHER_PASSWORD)]
USER = "acme-user"
# The host's configuration: a test run reads none of it.
HOST_PATHS = ["/etc/postfix", "/etc/mail", "/etc/partner-relay-milter"]
SENDER = "news@acme.example"


class Env:
    """A scratch directory, the test PKI and the servers started so far."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="probe-test-")
        self.pki = spool.make_certs(os.path.join(self.dir, "pki"))
        self.servers = []
        self.outputs = []  # every stdout/stderr the probe printed
        self.n = 0

    def server(self, name, **kw):
        """Start a fakesmtp server with its own spool; return (port, spool)."""
        sp = os.path.join(self.dir, "spool-" + name)
        os.makedirs(sp, exist_ok=True)
        if kw.get("tls", "none") != "none":
            which = kw.pop("cert_name", "server")
            kw.setdefault("cert", os.path.join(self.pki, which + ".pem"))
            kw.setdefault("key", os.path.join(self.pki, which + ".key"))
        kw.setdefault("auth", ["%s:%s" % (USER, PASSWORD)])
        p, port = spool.start_server(sp, name, max_seconds=300, **kw)
        self.servers.append(p)
        return port, sp

    def config(self, partners, implicit_ports=None, main_extra="",
               allowed="127.0.0.0/8, ::1/128"):
        """Write a main config and partner table; return the config path.

        PARTNERS maps an id to a dict of keys; None values are left out.
        """
        self.n += 1
        d = os.path.join(self.dir, "conf%d" % self.n)
        os.makedirs(d)
        ptable = os.path.join(d, "partners.conf")
        lines = []
        for pid, keys in partners.items():
            lines.append("[%s]" % pid)
            lines += ["%s = %s" % (k, v) for k, v in keys.items() if v is not None]
            lines.append("")
        fd = os.open(ptable, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines))
        main = os.path.join(d, "partner-relay-milter.conf")
        # The fake relays are on loopback: allow it (partner host guard).
        # tables_dir empty: no published-stamp check, so the probe never
        # reads the host's /etc/postfix/partner-relay/published.
        text = ("[milter]\nfallback_sender = noreply@platform.example\n"
                "partners = %s\nallowed_private_relays = %s\ntables_dir =\n" % (ptable, allowed))
        if implicit_ports is not None:
            text += "implicit_tls_ports = %s\n" % ", ".join(map(str, implicit_ports))
        text += main_extra
        with open(main, "w") as f:
            f.write(text)
        return main

    def probe(self, *args, timeout=60):
        """Run the probe; return (exit code, stdout, stderr)."""
        p = subprocess.run([PROBE] + list(args), capture_output=True, text=True,
                           timeout=timeout, errors="replace")
        self.outputs.append(p.stdout + p.stderr)
        return p.returncode, p.stdout, p.stderr

    def close(self):
        """Stop every server and remove the scratch directory."""
        for p in self.servers:
            spool.stop_server(p)
        shutil.rmtree(self.dir, ignore_errors=True)


def partner(port, host="localhost", tls="verify", password=PASSWORD, **extra):
    """The keys of a complete partner entry."""
    keys = {"host": host, "port": port, "username": USER, "password": password,
            "sender": SENDER, "tls": tls}
    keys.update(extra)
    return keys


def expect(cond, what, got, want):
    """Raise AssertionError with a 'got X, want Y' message unless COND."""
    if not cond:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def expect_exit(rc, want, out, err):
    """The exit code check every case starts with."""
    if rc != want:
        raise AssertionError("exit code: got %d, want %d\nstdout:\n%s\nstderr:\n%s"
                             % (rc, want, out, err))


def step(doc, name):
    """The step NAME of a JSON result (or None)."""
    for s in doc["steps"]:
        if s["name"] == name:
            return s
    return None


# --------------------------------------------------------------------------
# Cases.  Each takes the Env and raises AssertionError on failure.

def case_starttls_verify_ok(env):
    port, sp = env.server("ok", tls="starttls")
    conf = env.config({"acme": partner(port)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem")
    expect_exit(rc, OK, out, err)
    expect("result: ok (exit 0)" in out, "summary line", out.splitlines()[-1:], "result: ok (exit 0)")
    ev = spool.read_auth_events(sp)
    expect(len(ev) == 1 and ev[0]["ok"] and ev[0]["tls"] and ev[0]["mech"] == "PLAIN",
           "auth events", ev, "one successful PLAIN over TLS")


def case_wrong_password(env):
    port, sp = env.server("wrongpw", tls="starttls")
    conf = env.config({"acme": partner(port, password=WRONG_PASSWORD)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem")
    expect_exit(rc, AUTH, out, err)
    ev = spool.read_auth_events(sp)
    expect(len(ev) == 1 and not ev[0]["ok"], "auth events", ev, "one failed attempt")


def case_auth535_fault(env):
    port, _ = env.server("a535", tls="starttls", fault="auth535")
    conf = env.config({"acme": partner(port)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem")
    expect_exit(rc, AUTH, out, err)
    expect("535" in out, "reply shown", out, "the 535 reply")


def case_no_starttls_no_credentials(env):
    port, sp = env.server("nostls", tls="starttls", fault="nostarttls",
                          advertise_auth_before_tls=True)
    conf = env.config({"acme": partner(port, tls="encrypt")})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem")
    expect_exit(rc, TLS, out, err)
    expect("does not offer STARTTLS" in out, "reason", out, "does not offer STARTTLS")
    ev = spool.read_auth_events(sp)
    expect(ev == [], "auth events at a server without TLS", ev, [])


def case_badtls(env):
    port, sp = env.server("badtls", tls="starttls", fault="badtls")
    conf = env.config({"acme": partner(port)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--timeout", "5")
    expect_exit(rc, TLS, out, err)
    expect(spool.read_auth_events(sp) == [], "auth events", spool.read_auth_events(sp), [])


def fingerprint(env, name):
    """The SHA-256 fingerprint of PKI certificate NAME, as openssl prints it."""
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                          os.path.join(env.pki, name + ".pem")], capture_output=True,
                         text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


def case_implicit_by_config(env):
    # An IP-literal relay pinned by tls_fingerprint (issue 12).
    port, sp = env.server("implicit", tls="implicit")
    conf = env.config({"acme": partner(port, host="127.0.0.1", tls=None,
                                       tls_fingerprint=fingerprint(env, "server"))},
                      implicit_ports=[465, port])
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    expect_exit(rc, OK, out, err)
    doc = json.loads(out)
    expect(doc["tls_mode"] == "implicit", "tls_mode", doc["tls_mode"], "implicit")
    expect(doc["tls_level"] == "fingerprint", "tls_level", doc["tls_level"], "fingerprint")
    expect(doc["certificate"]["verified"] and doc["certificate"]["checked_name"] == "tls_fingerprint",
           "certificate", doc["certificate"], "verified by tls_fingerprint")
    ev = spool.read_auth_events(sp)
    expect(len(ev) == 1 and ev[0]["ok"] and ev[0]["tls"], "auth events", ev, "one ok over TLS")


def case_implicit_by_flag(env):
    port, _ = env.server("implicit2", tls="implicit")
    conf = env.config({"acme": partner(port)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--implicit-tls")
    expect_exit(rc, OK, out, err)
    expect("implicit TLS" in out, "mode line", out.splitlines()[0], "... implicit TLS")


def case_starttls_flag_on_implicit_port(env):
    port, _ = env.server("implicit3", tls="implicit")
    conf = env.config({"acme": partner(port)})
    t0 = time.monotonic()
    rc, out, err = env.probe("-c", conf, "acme", "--starttls", "--timeout", "2")
    expect_exit(rc, GREETING, out, err)
    expect(time.monotonic() - t0 < 20, "time taken", time.monotonic() - t0, "< 20 s")
    expect("--implicit-tls" in out, "hint", out, "a hint to try --implicit-tls")


def case_closed_port(env):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf = env.config({"acme": partner(port)})
    rc, out, err = env.probe("-c", conf, "acme", "--timeout", "5")
    expect_exit(rc, CONNECT, out, err)
    expect("refused" in out.lower(), "reason", out, "connection refused")


def case_wrong_cert_secure(env):
    port, sp = env.server("wrongcert", tls="starttls", cert_name="wrong")
    conf = env.config({"acme": partner(port, tls="secure")})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    expect_exit(rc, CERT, out, err)
    doc = json.loads(out)
    expect(doc["certificate"]["verified"] is False, "verified", doc["certificate"]["verified"], False)
    expect("wrong.example" in doc["certificate"]["subject"], "subject",
           doc["certificate"]["subject"], "CN=wrong.example")
    expect(spool.read_auth_events(sp) == [], "auth events after a bad certificate",
           spool.read_auth_events(sp), [])


def case_wrong_cert_encrypt(env):
    port, sp = env.server("wrongcert2", tls="starttls", cert_name="wrong")
    conf = env.config({"acme": partner(port, tls="encrypt")})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    expect_exit(rc, OK, out, err)
    doc = json.loads(out)
    st = step(doc, "certificate")
    expect(st and st["status"] == "warn", "certificate step", st, "status warn")
    expect(doc["auth"]["result"] == "ok", "auth result", doc["auth"]["result"], "ok")


def case_untrusted_ca_verify(env):
    # Without --cafile the system store does not know the test CA.
    port, _ = env.server("noca", tls="starttls")
    conf = env.config({"acme": partner(port, tls="verify")})
    rc, out, err = env.probe("-c", conf, "acme")
    expect_exit(rc, CERT, out, err)


def case_unreadable_cafile(env):
    port, sp = env.server("cafile", tls="starttls")
    conf = env.config({"acme": partner(port)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.dir + "/no-such-ca.pem")
    expect_exit(rc, CONFIG, out, err)
    expect(spool.read_connections(sp) == [], "connections", spool.read_connections(sp), [])


def case_json_fields(env):
    port, _ = env.server("json", tls="starttls")
    conf = env.config({"acme": partner(port)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    expect_exit(rc, OK, out, err)
    doc = json.loads(out)
    for key in ("partner", "host", "port", "steps", "tls", "certificate", "auth", "exit_code"):
        expect(key in doc, "key %s" % key, sorted(doc), key)
    expect(doc["exit_code"] == 0 and doc["result"] == "ok", "exit_code/result",
           (doc["exit_code"], doc["result"]), (0, "ok"))
    names = [s["name"] for s in doc["steps"]]
    want = ["config", "connect", "greeting", "ehlo", "starttls", "certificate", "ehlo-tls", "auth", "quit"]
    expect(names == want, "step names", names, want)
    expect(all(s["status"] == "ok" for s in doc["steps"]), "step statuses",
           [s["status"] for s in doc["steps"]], "all ok")
    expect(doc["tls"]["version"] in ("TLSv1.2", "TLSv1.3"), "tls.version", doc["tls"]["version"], "TLSv1.2/3")
    expect(bool(doc["tls"]["cipher"]), "tls.cipher", doc["tls"]["cipher"], "a cipher name")
    c = doc["certificate"]
    expect(c["subject"] == "CN=localhost" and "test CA" in c["issuer"] and c["verified"] is True
           and c["notAfter"].endswith("Z"), "certificate", c, "CN=localhost by the test CA, verified")
    want = {"kind": "password", "result": "ok", "mechanism": "PLAIN", "form": None, "user": USER}
    expect(doc["auth"] == want, "auth", doc["auth"], want)


def case_json_failure(env):
    conf = env.config({"acme": partner(1)})
    rc, out, err = env.probe("-c", conf, "nosuch", "--json")
    expect_exit(rc, CONFIG, out, err)
    doc = json.loads(out)
    expect(doc["exit_code"] == CONFIG and step(doc, "config")["status"] == "fail",
           "json for an unknown partner", doc, "exit_code 3, config step failed")


def case_send_test(env):
    port, sp = env.server("send", tls="starttls", require_auth=True)
    conf = env.config({"acme": partner(port)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem",
                             "--send-test", "ops@example.org")
    expect_exit(rc, OK, out, err)
    msgs = spool.wait_for(lambda: spool.read_messages(sp), timeout=5)
    expect(len(msgs) == 1, "messages spooled", len(msgs), 1)
    m = msgs[0]
    expect(m["mail_from"] == SENDER, "envelope sender", m["mail_from"], SENDER)
    expect(m["rcpts"] == ["ops@example.org"], "recipients", m["rcpts"], ["ops@example.org"])
    expect(m["from_header"] == "<%s>" % SENDER, "From", m["from_header"], "<%s>" % SENDER)
    expect("probe" in (m["subject"] or "").lower(), "Subject", m["subject"], "mentions the probe")
    names = [h[0].lower() for h in m["headers"]]
    expect("date" in names and "message-id" in names, "headers", names, "Date and Message-ID")
    expect(m["auth_user"] == USER and m["tls"], "auth/tls of the message",
           (m["auth_user"], m["tls"]), (USER, True))
    expect(m["sni"] == "localhost", "SNI sent for a host name", m["sni"], "localhost")


def case_send_refused(env):
    port, _ = env.server("rcpt550", tls="starttls", fault="rcpt550")
    conf = env.config({"acme": partner(port)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem",
                             "--send-test", "ops@example.org")
    expect_exit(rc, SEND, out, err)


def case_auth_login(env):
    port, sp = env.server("login", tls="starttls")
    conf = env.config({"acme": partner(port)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem",
                             "--auth-mechanism", "LOGIN")
    expect_exit(rc, OK, out, err)
    ev = spool.read_auth_events(sp)
    expect(len(ev) == 1 and ev[0]["mech"] == "LOGIN" and ev[0]["ok"], "auth events", ev, "one ok LOGIN")


def case_greet421(env):
    port, _ = env.server("g421", tls="starttls", fault="greet421")
    conf = env.config({"acme": partner(port)})
    rc, out, err = env.probe("-c", conf, "acme")
    expect_exit(rc, GREETING, out, err)
    expect("421" in out, "reply shown", out, "the 421 greeting")


def case_silent_timeout(env):
    port, _ = env.server("silent", tls="starttls", fault="silent")
    conf = env.config({"acme": partner(port)})
    t0 = time.monotonic()
    rc, out, err = env.probe("-c", conf, "acme", "--timeout", "2")
    took = time.monotonic() - t0
    expect_exit(rc, GREETING, out, err)
    expect(took < 15, "time taken with --timeout 2", round(took, 1), "< 15 s")


def case_unknown_partner(env):
    conf = env.config({"acme": partner(1)})
    rc, out, err = env.probe("-c", conf, "nosuch")
    expect_exit(rc, CONFIG, out, err)
    expect("unknown partner nosuch" in out + err, "message", out + err, "unknown partner nosuch")


def case_inactive_partner_probed(env):
    # No password: inactive, but host and port exist, so the relay is
    # probed up to AUTH, which is skipped; the result is the config code.
    port, sp = env.server("inactive", tls="starttls")
    conf = env.config({"acme": partner(port, password=None)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    expect_exit(rc, CONFIG, out, err)
    doc = json.loads(out)
    expect(doc["active"] is False and doc["inactive_reason"], "active/reason",
           (doc["active"], doc["inactive_reason"]), (False, "a reason"))
    expect(step(doc, "certificate")["status"] == "ok", "certificate step", step(doc, "certificate"), "ok")
    expect(step(doc, "auth")["status"] == "skip", "auth step", step(doc, "auth"), "skip")
    expect(spool.read_auth_events(sp) == [], "auth events", spool.read_auth_events(sp), [])


def case_guarded_partner_not_contacted(env):
    # Issue 17 finding 9: loopback outside allowed_private_relays, so the
    # host guard deactivates the partner: the probe must not connect (and so
    # not send AUTH) unless --force.
    port, sp = env.server("guarded", tls="starttls")
    conf = env.config({"acme": partner(port, host="127.0.0.1", tls="encrypt")},
                      allowed="10.0.0.0/8")
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json",
                             "--timeout", "10")
    expect_exit(rc, CONFIG, out, err)
    doc = json.loads(out)
    expect(doc["active"] is False and "allowed_private_relays" in doc["inactive_reason"],
           "active/reason", (doc["active"], doc["inactive_reason"]), (False, "the guard's reason"))
    expect("--force" in step(doc, "config")["detail"], "config step", step(doc, "config"), "names --force")
    expect(step(doc, "connect") is None, "connect step", step(doc, "connect"), None)
    expect(spool.read_connections(sp) == [], "connections", spool.read_connections(sp), [])
    expect(spool.read_auth_events(sp) == [], "auth events", spool.read_auth_events(sp), [])
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json",
                             "--timeout", "10", "--force")
    expect_exit(rc, CONFIG, out, err)
    ev = spool.read_auth_events(sp)
    expect(len(ev) == 1 and ev[0]["ok"] and ev[0]["tls"], "auth events with --force", ev,
           "one ok over TLS")


def case_inactive_no_port(env):
    conf = env.config({"acme": partner(None)})
    rc, out, err = env.probe("-c", conf, "acme")
    expect_exit(rc, CONFIG, out, err)


def case_bad_main_config(env):
    conf = env.config({"acme": partner(1)})
    with open(conf, "a") as f:
        f.write("no_such_key = 1\n")
    rc, out, err = env.probe("-c", conf, "acme")
    expect_exit(rc, CONFIG, out, err)
    expect("no_such_key" in err, "diagnostic", err, "names no_such_key")


def case_usage(env):
    for args in ([], ["--timeout", "0", "acme"], ["--starttls", "--implicit-tls", "acme"],
                 ["--all", "acme"], ["--send-test", "not an address", "acme"], ["--bogus"]):
        rc, out, err = env.probe(*args)
        expect(rc == USAGE, "exit code for %r" % (args,), rc, USAGE)


def case_all_table(env):
    port, _ = env.server("all-ok", tls="starttls")
    port2, _ = env.server("all-bad", tls="starttls", auth=["%s:%s" % (USER, OTHER_PASSWORD)])
    # Senders must differ: partners sharing one are all made inactive.
    conf = env.config({"alpha": partner(port, sender="a@alpha.example"),
                       "beta": partner(port2, sender="b@beta.example"),
                       "gamma": partner(port, password=None, sender="c@gamma.example")})
    rc, out, err = env.probe("-c", conf, "--all", "--cafile", env.pki + "/ca.pem")
    expect_exit(rc, AUTH, out, err)
    table = out.split("\n\n")[0]  # the notes on failures follow a blank line
    rows = {l.split()[0]: l.split() for l in table.splitlines() if l.strip()}
    expect("beta: auth:" in out, "note on beta's failure", out, "beta: auth: ...")
    expect(rows.get("ID", [])[:6] == ["ID", "HOST:PORT", "TLS", "CERT", "AUTH", "RESULT"],
           "table header", rows.get("ID"), "ID HOST:PORT TLS CERT AUTH RESULT")
    expect(rows.get("alpha", [""])[-2:] == ["ok/PLAIN", "ok"], "alpha row", rows.get("alpha"), "... ok/PLAIN ok")
    expect(all(len(r) == 6 for r in rows.values()), "6 cells per row", rows, "6 each")
    expect(rows.get("beta", [""])[-1] == "auth", "beta row", rows.get("beta"), "... auth")
    expect(rows.get("gamma", [""])[-1] == "inactive", "gamma row", rows.get("gamma"), "... inactive")
    rc, out, err = env.probe("-c", conf, "--all", "--cafile", env.pki + "/ca.pem", "--json")
    doc = json.loads(out)
    expect(rc == AUTH and doc["exit_code"] == AUTH and len(doc["partners"]) == 3,
           "--all --json", (rc, doc["exit_code"], len(doc["partners"])), (AUTH, AUTH, 3))


def case_fingerprint_mismatch(env):
    # A relay whose certificate is not the pinned one never sees AUTH.
    port, sp = env.server("fp-bad", tls="starttls")
    conf = env.config({"acme": partner(port, host="127.0.0.1", tls=None,
                                       tls_fingerprint=fingerprint(env, "wrong"))})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    expect_exit(rc, CERT, out, err)
    doc = json.loads(out)
    c = doc["certificate"]
    expect(c["verified"] is False and "is not in tls_fingerprint" in c["verify_error"],
           "certificate", c, "not verified: fingerprint not in tls_fingerprint")
    expect(c["sha256_fingerprint"] == fingerprint(env, "server"), "sha256_fingerprint",
           c["sha256_fingerprint"], fingerprint(env, "server"))
    expect(spool.read_auth_events(sp) == [], "auth events", spool.read_auth_events(sp), [])


def case_certificate_fields(env):
    # Names (SAN DNS and IP, CN), issuer, expiry, fingerprint (issue 12).
    port, sp = env.server("fields", tls="starttls")
    conf = env.config({"acme": partner(port, tls=None)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    expect_exit(rc, OK, out, err)
    doc = json.loads(out)
    c = doc["certificate"]
    expect(doc["tls_level"] == "secure", "default tls_level", doc["tls_level"], "secure")
    expect(c["names"] == ["localhost", "127.0.0.1"], "names", c["names"], ["localhost", "127.0.0.1"])
    expect(c["common_name"] == "localhost", "common_name", c["common_name"], "localhost")
    expect(c["issuer"] == "CN=partner-relay-milter test CA", "issuer", c["issuer"], "the test CA")
    expect(3600 <= c["days_left"] <= 3650 and c["expires_soon"] is False, "expiry",
           (c["days_left"], c["expires_soon"]), "about 3650 days, not soon")
    expect(c["sha256_fingerprint"] == fingerprint(env, "server"), "sha256_fingerprint",
           c["sha256_fingerprint"], fingerprint(env, "server"))
    expect(doc["warnings"] == [], "warnings", doc["warnings"], [])
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem")
    expect("names localhost, 127.0.0.1; subject CN=localhost; issuer CN=partner-relay-milter "
           "test CA; expires " in out, "certificate line", out, "names, subject, issuer, expires")


def case_expires_soon_warns(env):
    # A certificate that expires within 14 days: verified, but warned about.
    port, sp = env.server("soon", tls="starttls", cert_name="soon")
    conf = env.config({"acme": partner(port, tls=None)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    expect_exit(rc, OK, out, err)
    doc = json.loads(out)
    c = doc["certificate"]
    expect(c["verified"] and c["expires_soon"] and c["days_left"] in (4, 5), "certificate",
           c, "verified, expires_soon, 4-5 days left")
    expect(step(doc, "certificate")["status"] == "warn", "certificate step",
           step(doc, "certificate"), "warn")
    expect(any("expires in" in w for w in doc["warnings"]), "warnings", doc["warnings"],
           "the relay certificate expires in N days")
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem")
    expect("warning: the relay certificate expires in" in out, "text warning", out,
           "warning: the relay certificate expires in ...")
    # The fleet view from cron: --all --json carries the same fields.
    port2, _ = env.server("far", tls="starttls")
    conf = env.config({"soon": partner(port, tls=None, sender="a@soon.example"),
                       "far": partner(port2, tls=None, sender="b@far.example")})
    rc, out, err = env.probe("-c", conf, "--all", "--cafile", env.pki + "/ca.pem", "--json")
    doc = json.loads(out)
    got = {p["partner"]: p["certificate"]["expires_soon"] for p in doc["partners"]}
    expect(rc == OK and got == {"soon": True, "far": False}, "--all --json expires_soon",
           (rc, got), (OK, {"soon": True, "far": False}))


def case_expired_refused(env):
    port, sp = env.server("expired", tls="starttls", cert_name="expired")
    conf = env.config({"acme": partner(port, tls=None)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    expect_exit(rc, CERT, out, err)
    c = json.loads(out)["certificate"]
    expect(c["verify_error"] == "certificate has expired" and c["days_left"] < 0 and c["expires_soon"],
           "certificate", c, "expired, negative days_left")
    expect(spool.read_auth_events(sp) == [], "auth events", spool.read_auth_events(sp), [])


def case_encrypt_warns_unverified(env):
    # An explicit encrypt still works with a self-signed certificate, with the warning.
    port, sp = env.server("selfsigned", tls="starttls", cert_name="selfsigned")
    conf = env.config({"acme": partner(port, tls="encrypt")})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    expect_exit(rc, OK, out, err)
    doc = json.loads(out)
    expect(any("credentials go to an unverified server" in w for w in doc["warnings"]),
           "warnings", doc["warnings"], "credentials go to an unverified server")
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem")
    expect("partner acme: tls = encrypt: credentials go to an unverified server" in err,
           "stderr warning", err, "partner acme: tls = encrypt: credentials go to ...")
    conf = env.config({"acme": partner(port, tls=None)})
    rc, out, err = env.probe("-c", conf, "acme", "--cafile", env.pki + "/ca.pem", "--json")
    expect_exit(rc, CERT, out, err)


def case_relay_cafile_from_config(env):
    # [milter] relay_cafile is the probe's trust store unless --cafile.
    port, sp = env.server("relaycafile", tls="starttls")
    conf = env.config({"acme": partner(port, tls=None)},
                      main_extra="relay_cafile = %s/ca.pem\n" % env.pki)
    rc, out, err = env.probe("-c", conf, "acme", "--json")
    expect_exit(rc, OK, out, err)
    expect(json.loads(out)["certificate"]["verified"], "verified with relay_cafile", out, True)
    conf = env.config({"acme": partner(port, tls=None)})
    rc, out, err = env.probe("-c", conf, "acme", "--json")
    expect_exit(rc, CERT, out, err)


def case_manual_documents_cli(env):
    # Every option in --help and every exit status has its entry in the page.
    page = os.path.join(TESTLIB, "..", "..", "man", "partner-relay-probe.8.in")
    with open(page, encoding="utf-8") as f:
        text = f.read()
    rc, out, err = env.probe("--help")
    expect(rc == 0, "--help exit code", rc, 0)
    import re
    opts = sorted(set(re.findall(r"--([a-z][a-z-]+)", out)))
    expect(len(opts) >= 9, "long options in --help", opts, ">= 9")
    for o in opts:
        expect(".It Fl \\-" + o in text, "OPTIONS entry for --" + o, "missing", ".It Fl \\-" + o)
    for code in range(10):
        expect("\n.It %d\n" % code in text, "EXIT STATUS entry", "missing", ".It %d" % code)
    for code in re.findall(r"(\d+) [a-z]+", out.split("exit status:")[1]):
        expect(int(code) < 10, "exit code in --help", code, "0-9")


CASES = [case_starttls_verify_ok, case_wrong_password, case_auth535_fault,
         case_no_starttls_no_credentials, case_badtls, case_implicit_by_config,
         case_implicit_by_flag, case_starttls_flag_on_implicit_port, case_closed_port,
         case_wrong_cert_secure, case_wrong_cert_encrypt, case_untrusted_ca_verify, case_unreadable_cafile,
         case_json_fields, case_json_failure, case_send_test, case_send_refused,
         case_auth_login, case_greet421, case_silent_timeout, case_unknown_partner,
         case_inactive_partner_probed, case_guarded_partner_not_contacted, case_inactive_no_port, case_bad_main_config,
         case_usage, case_all_table, case_fingerprint_mismatch, case_certificate_fields,
         case_expires_soon_warns, case_expired_refused, case_encrypt_warns_unverified,
         case_relay_cafile_from_config, case_manual_documents_cli]


def case_password_never_printed(env):
    """Runs last: no output of any earlier run contains a secret, nor a
    path of the host's configuration (a result must not depend on it)."""
    expect(len(env.outputs) >= len(CASES), "runs recorded", len(env.outputs), ">= %d" % len(CASES))
    for out in env.outputs:
        for s in SECRETS:
            expect(s not in out, "a secret in the output", out, "no %s..." % s[:3])
        expect_host_free(out)


def expect_host_free(out):
    """Fail when OUT names a host path the probe must not have read."""
    for host in HOST_PATHS:
        expect(host not in out, "a host path in the output", out, "no %s" % host)


def main():
    return run_cases(Env, CASES + [case_password_never_printed])


def run_cases(make_env, cases):
    """Run CASES (functions case_NAME(env)) against one make_env(); print
    PASS or FAIL per case and "N passed, N failed"; the exit status."""
    if not os.access(PROBE, os.X_OK):
        print("FAIL: probe binary %s not found (set PROBE)" % PROBE)
        print("0 passed, 1 failed")
        return 1
    env = make_env()
    passed = failed = 0
    try:
        for case in cases:
            name = case.__name__[5:]
            try:
                case(env)
                passed += 1
                print("PASS: %s" % name)
            except Exception as e:  # a broken case must not stop the others
                failed += 1
                detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
                print("FAIL: %s: %s" % (name, detail))
            sys.stdout.flush()
    finally:
        env.close()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
