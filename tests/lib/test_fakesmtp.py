#!/usr/bin/python3
"""test_fakesmtp.py - self-test of fakesmtp.py, spool.py and mkcerts.sh.

Run: /usr/bin/python3 tests/lib/test_fakesmtp.py
Drives real fakesmtp.py processes on 127.0.0.1 (kernel-chosen ports) with
smtplib.  Prints "N passed, N failed" (test cases) last and exits non-zero
on any failure.  Hermetic: everything lives in one temporary directory.
"""

import base64
import json
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spool  # noqa: E402

TOP = None
CERTS = None

MESSAGE = (
    "From: Partner Sender\r\n"
    "\t<news@partner.example>\r\n"
    "To: someone@dest.example\r\n"
    "Subject: hello\r\n"
    "X-Test: one\r\n"
    "\r\n"
    ".a line that starts with a dot\r\n"
    "..two dots\r\n"
    "last line\r\n"
)


def setUpModule():
    global TOP, CERTS
    TOP = tempfile.mkdtemp(prefix="test-fakesmtp-")
    CERTS = spool.make_certs(os.path.join(TOP, "certs"))


def tearDownModule():
    shutil.rmtree(TOP, ignore_errors=True)


def client_context():
    """A verifying TLS client context trusting the test CA."""
    return ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))


class Base(unittest.TestCase):
    """Per-test spool directory; servers are stopped at the end."""

    def setUp(self):
        self.spool = tempfile.mkdtemp(prefix="spool-", dir=TOP)

    def start(self, name="fake", *extra, **kw):
        """Start a server; return its port."""
        if kw.get("tls", "none") != "none" or kw.pop("certs", False):
            kw.setdefault("cert", os.path.join(CERTS, "server.pem"))
            kw.setdefault("key", os.path.join(CERTS, "server.key"))
        kw.setdefault("max_seconds", 60)
        p, port = spool.start_server(self.spool, name, *extra, **kw)
        self.addCleanup(spool.stop_server, p)
        self.proc = p
        return port

    def smtp(self, port, host="127.0.0.1", timeout=5):
        """An smtplib client, closed at the end of the test."""
        s = smtplib.SMTP(host, port, timeout=timeout)
        self.addCleanup(s.close)
        return s

    def messages(self, n=1):
        """Wait until N messages are in the spool and return them."""
        spool.wait_for(lambda: len(spool.read_messages(self.spool)) >= n, 5)
        return spool.read_messages(self.spool)


class Delivery(Base):

    def test_plain_delivery_recorded(self):
        port = self.start("globalrelay")
        s = self.smtp(port)
        s.ehlo("client.example")
        self.assertNotIn("starttls", s.esmtp_features)
        self.assertNotIn("auth", s.esmtp_features)
        refused = s.sendmail("bounce@platform.example",
                             ["a@dest.example", "b@dest.example"], MESSAGE,
                             mail_options=["BODY=8BITMIME", "SIZE=300"])
        self.assertEqual(refused, {})
        s.quit()
        [m] = self.messages()
        self.assertEqual(m["server"], "globalrelay")
        self.assertEqual(m["mail_from"], "bounce@platform.example")
        self.assertEqual(m["rcpts"], ["a@dest.example", "b@dest.example"])
        self.assertEqual(m["from_header"],
                         "Partner Sender\t<news@partner.example>")
        self.assertEqual(m["subject"], "hello")
        self.assertEqual(m["headers"], [
            ["From", "Partner Sender\t<news@partner.example>"],
            ["To", "someone@dest.example"], ["Subject", "hello"],
            ["X-Test", "one"]])
        self.assertIsNone(m["auth_user"])
        self.assertFalse(m["tls"])
        self.assertIsNone(m["tls_version"])
        self.assertIsNone(m["sni"])
        self.assertEqual(m["helo"], "client.example")
        self.assertEqual(m["client"], "127.0.0.1")
        self.assertEqual(m["data"], MESSAGE.replace("\r\n", "\n"))
        self.assertTrue(m["_file"].startswith("globalrelay-"))
        self.assertEqual(len(spool.read_connections(self.spool)), 1)

    def test_helo_rset_noop_and_order(self):
        port = self.start()
        s = self.smtp(port)
        self.assertEqual(s.mail("x@y")[0], 503)       # before HELO
        self.assertEqual(s.helo("old.example")[0], 250)
        self.assertEqual(s.noop()[0], 250)
        self.assertEqual(s.rcpt("a@b")[0], 503)       # before MAIL
        self.assertEqual(s.mail("x@y")[0], 250)
        self.assertEqual(s.rcpt("a@b")[0], 250)
        self.assertEqual(s.rset()[0], 250)
        self.assertEqual(s.docmd("DATA")[0], 503)     # RSET forgot MAIL
        self.assertEqual(s.docmd("BOGUS")[0], 500)
        self.assertEqual(s.mail("<>")[0], 250)         # null sender
        self.assertEqual(s.rcpt("a@b")[0], 250)
        # Raw DATA to check dot-unstuffing on the wire.
        self.assertEqual(s.docmd("DATA")[0], 354)
        s.send(b"Subject: x\r\n\r\n..one\r\n...two\r\n.\r\n")
        self.assertEqual(s.getreply()[0], 250)
        [m] = self.messages()
        self.assertEqual(m["data"], "Subject: x\n\n.one\n..two\n")
        self.assertEqual(m["mail_from"], "")
        self.assertEqual(m["helo"], "old.example")

    def test_limits(self):
        port = self.start("lim", "--max-size", "2000")
        s = self.smtp(port)
        s.ehlo()
        self.assertEqual(s.docmd("NOOP " + "x" * 5000)[0], 500)
        self.assertEqual(s.noop()[0], 250)             # session survives
        self.assertEqual(s.mail("a@b", ["SIZE=5000"])[0], 552)
        self.assertEqual(s.mail("a@b")[0], 250)
        self.assertEqual(s.rcpt("c@d")[0], 250)
        self.assertEqual(s.data("Subject: big\r\n\r\n" + "y" * 3000)[0], 552)
        self.assertEqual(s.noop()[0], 250)
        self.assertEqual(spool.read_messages(self.spool), [])

    def test_idle_timeout(self):
        port = self.start("idle", "--idle-timeout", "0.5")
        c = socket.create_connection(("127.0.0.1", port), 5)
        self.addCleanup(c.close)
        self.assertTrue(c.recv(100).startswith(b"220 "))
        self.assertTrue(c.recv(100).startswith(b"421 4.4.2 "))
        self.assertEqual(c.recv(100), b"")

    def test_concurrent_connections(self):
        port = self.start()
        socks = []
        try:
            for _ in range(120):
                socks.append(socket.create_connection(("127.0.0.1", port), 5))
            greetings = [c.recv(100) for c in socks]
        finally:
            for c in socks:
                c.close()
        self.assertTrue(all(g.startswith(b"220 ") for g in greetings))


class TlsAuth(Base):

    def start_partner(self, **kw):
        return self.start("partner", tls="starttls", auth=["alice:s3cret"],
                          require_auth=True, **kw)

    def tls_session(self, port, host="localhost"):
        s = self.smtp(port, host=host)
        s.ehlo()
        self.assertIn("starttls", s.esmtp_features)
        self.assertNotIn("auth", s.esmtp_features)
        s.starttls(context=client_context())
        s.ehlo()
        self.assertIn("auth", s.esmtp_features)
        self.assertIn("PLAIN", s.esmtp_features["auth"])
        self.assertIn("LOGIN", s.esmtp_features["auth"])
        return s

    def check_recorded(self, mech, sni="localhost"):
        [m] = self.messages()
        self.assertEqual(m["auth_user"], "alice")
        self.assertTrue(m["tls"])
        self.assertTrue(m["tls_version"].startswith("TLSv1."))
        self.assertEqual(m["sni"], sni)
        [e] = spool.read_auth_events(self.spool)
        self.assertEqual(e, dict(e, server="partner", user="alice",
                                 password="s3cret", ok=True, tls=True,
                                 mech=mech))

    def test_starttls_auth_plain_initial_response(self):
        port = self.start_partner()
        s = self.tls_session(port)
        s.user, s.password = "alice", "s3cret"
        s.auth("PLAIN", s.auth_plain)
        s.sendmail("p@partner.example", ["r@dest.example"], MESSAGE)
        self.check_recorded("PLAIN")

    def test_starttls_auth_plain_without_initial_response(self):
        port = self.start_partner()
        s = self.tls_session(port)
        s.user, s.password = "alice", "s3cret"
        s.auth("PLAIN", s.auth_plain, initial_response_ok=False)
        s.sendmail("p@partner.example", ["r@dest.example"], MESSAGE)
        self.check_recorded("PLAIN")

    def test_starttls_auth_login(self):
        port = self.start_partner()
        s = self.tls_session(port)
        s.user, s.password = "alice", "s3cret"
        s.auth("LOGIN", s.auth_login)   # username as initial response
        s.sendmail("p@partner.example", ["r@dest.example"], MESSAGE)
        self.check_recorded("LOGIN")

    def test_auth_login_without_initial_response_no_sni_by_ip(self):
        port = self.start_partner()
        s = self.smtp(port)
        s.ehlo()
        ctx = client_context()
        ctx.check_hostname = False      # certificate is for localhost too
        s.starttls(context=ctx)
        s.ehlo()
        self.assertEqual(s.docmd("AUTH LOGIN")[0], 334)
        self.assertEqual(s.docmd("YWxpY2U=")[0], 334)          # alice
        self.assertEqual(s.docmd("czNjcmV0")[0], 235)          # s3cret
        s.sendmail("p@partner.example", ["r@dest.example"], MESSAGE)
        self.check_recorded("LOGIN", sni=None)

    def test_implicit_tls(self):
        port = self.start("smtps", tls="implicit", auth=["alice:s3cret"])
        s = smtplib.SMTP_SSL("localhost", port, timeout=5,
                             context=client_context())
        self.addCleanup(s.close)
        s.ehlo()
        self.assertNotIn("starttls", s.esmtp_features)
        self.assertIn("auth", s.esmtp_features)
        s.login("alice", "s3cret")
        s.sendmail("p@partner.example", ["r@dest.example"], MESSAGE)
        [m] = self.messages()
        self.assertTrue(m["tls"])
        self.assertEqual(m["sni"], "localhost")
        self.assertEqual(m["auth_user"], "alice")

    def test_require_auth_rejects_mail_without_auth(self):
        port = self.start_partner()
        s = self.tls_session(port)
        self.assertEqual(s.mail("p@partner.example"),
                         (530, b"5.7.0 Authentication required"))
        self.assertEqual(spool.read_messages(self.spool), [])

    def test_auth_not_offered_in_clear_and_cleartext_attempt_recorded(self):
        port = self.start_partner()
        s = self.smtp(port)
        s.ehlo()
        self.assertNotIn("auth", s.esmtp_features)
        # A client that sends credentials anyway is caught in the event log.
        code, _ = s.docmd("AUTH PLAIN AGFsaWNlAHMzY3JldA==")   # alice/s3cret
        self.assertEqual(code, 538)
        [e] = spool.read_auth_events(self.spool)
        self.assertEqual((e["user"], e["password"], e["ok"], e["tls"]),
                         ("alice", "s3cret", False, False))

    def test_advertise_auth_before_tls(self):
        port = self.start("legacy", tls="starttls", auth=["alice:s3cret"],
                          advertise_auth_before_tls=True)
        s = self.smtp(port)
        s.ehlo()
        self.assertIn("auth", s.esmtp_features)
        self.assertIn("starttls", s.esmtp_features)
        s.login("alice", "s3cret")
        [e] = spool.read_auth_events(self.spool)
        self.assertEqual((e["server"], e["ok"], e["tls"]), ("legacy", True, False))

    def test_wrong_credentials_recorded(self):
        port = self.start_partner()
        s = self.tls_session(port)
        with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
            s.login("alice", "wrong")
        self.assertEqual(cm.exception.smtp_code, 535)
        self.assertEqual(cm.exception.smtp_error,
                         b"5.7.8 Authentication credentials invalid")
        # smtplib.login tries PLAIN, then LOGIN: one event per attempt.
        events = spool.read_auth_events(self.spool)
        self.assertEqual([(e["mech"], e["user"], e["password"], e["ok"])
                          for e in events],
                         [("PLAIN", "alice", "wrong", False),
                          ("LOGIN", "alice", "wrong", False)])


class XOAuth2(Base):
    """XOAUTH2: one-step and two-step forms, long lines, the error challenge."""

    TOKEN = "eyJ0eXAiOiJKV1QifQ." + "x" * 3100      # a long (3 KB) real token

    def start_oauth(self, *extra, **kw):
        kw.setdefault("xoauth2", ["box@partner.example:" + self.TOKEN])
        return self.start("m365", *extra, tls="starttls", **kw)

    def session(self, port):
        s = self.smtp(port, host="localhost")
        s.ehlo()
        s.starttls(context=client_context())
        s.ehlo()
        return s

    @staticmethod
    def blob(user, token):
        raw = "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)
        return base64.b64encode(raw.encode()).decode()

    def test_offered_with_tokens_only(self):
        s = self.session(self.start_oauth())
        self.assertEqual(s.esmtp_features["auth"].split(),
                         ["PLAIN", "LOGIN", "XOAUTH2"])
        s2 = self.session(self.start("plain", tls="starttls",
                                     auth=["alice:s3cret"]))
        self.assertNotIn("XOAUTH2", s2.esmtp_features["auth"])
        self.assertEqual(s2.docmd("AUTH XOAUTH2 " + self.blob("a", "b"))[0], 504)

    def test_one_step_long_line_and_message_record(self):
        s = self.session(self.start_oauth())
        line = "AUTH XOAUTH2 " + self.blob("box@partner.example", self.TOKEN)
        self.assertGreater(len(line), 4096)          # beyond MAX_LINE
        self.assertEqual(s.docmd(line)[0], 235)
        s.sendmail("p@partner.example", ["r@dest.example"], MESSAGE)
        [m] = self.messages()
        self.assertEqual((m["auth_user"], m["auth_mech"]),
                         ("box@partner.example", "XOAUTH2"))
        [e] = spool.read_auth_events(self.spool)
        self.assertEqual(e, dict(e, mech="XOAUTH2", user="box@partner.example",
                                 token=self.TOKEN, password=None, ok=True,
                                 form="one-step", challenge=False, tls=True))
        self.assertEqual(e["line_len"], len(line) - len("AUTH XOAUTH2 "))

    def test_two_step(self):
        s = self.session(self.start_oauth())
        self.assertEqual(s.docmd("AUTH XOAUTH2"), (334, b""))
        self.assertEqual(s.docmd(self.blob("box@partner.example", self.TOKEN))[0], 235)
        [e] = spool.read_auth_events(self.spool)
        self.assertEqual((e["form"], e["ok"]), ("two-step", True))

    def test_bad_token_json_challenge_then_535(self):
        s = self.session(self.start_oauth())
        code, text = s.docmd("AUTH XOAUTH2 " + self.blob("box@partner.example", "stale"))
        self.assertEqual(code, 334)
        err = json.loads(base64.b64decode(text))
        self.assertEqual(err, {"status": "401", "schemes": "bearer",
                               "scope": "https://outlook.office365.com/.default"})
        self.assertEqual(s.docmd("")[0], 535)         # the empty response
        self.assertEqual(s.mail("p@partner.example")[0], 250)  # no require_auth
        [e] = spool.read_auth_events(self.spool)
        self.assertEqual((e["ok"], e["token"], e["challenge"], e["answer"]),
                         (False, "stale", True, ""))

    def test_wrong_user_for_token_and_token_file(self):
        tokens = os.path.join(self.spool, "tokens")
        port = self.start_oauth(xoauth2=[], xoauth2_file=tokens)
        s = self.session(port)
        self.assertEqual(s.docmd("AUTH XOAUTH2 " + self.blob("box@partner.example", "t1"))[0], 334)
        self.assertEqual(s.docmd("*")[0], 535)
        with open(tokens, "w") as f:                  # re-read at each attempt
            f.write("box@partner.example t1\n")
        s = self.session(port)
        self.assertEqual(s.docmd("AUTH XOAUTH2 " + self.blob("other@partner.example", "t1"))[0], 334)
        self.assertEqual(s.docmd("")[0], 535)
        s = self.session(port)
        self.assertEqual(s.docmd("AUTH XOAUTH2 " + self.blob("box@partner.example", "t1"))[0], 235)
        self.assertEqual([(e["user"], e["ok"], e["answer"])
                          for e in spool.read_auth_events(self.spool)],
                         [("box@partner.example", False, "*"),
                          ("other@partner.example", False, ""),
                          ("box@partner.example", True, None)])

    def test_malformed_and_mechs_flag(self):
        s = self.session(self.start_oauth("--mechs", "LOGIN,XOAUTH2"))
        self.assertEqual(s.esmtp_features["auth"].split(), ["LOGIN", "XOAUTH2"])
        bad = base64.b64encode(b"user=x\x01auth=Basic y\x01\x01").decode()
        self.assertEqual(s.docmd("AUTH XOAUTH2 " + bad)[0], 501)
        self.assertEqual(s.docmd("AUTH PLAIN AGFsaWNlAHMzY3JldA==")[0], 504)
        self.assertEqual(s.docmd("NOOP " + "x" * 5000)[0], 500)  # limit kept

    def test_faults(self):
        fault_file = os.path.join(self.spool, "fault")
        port = self.start_oauth(fault_file=fault_file)
        good = "AUTH XOAUTH2 " + self.blob("box@partner.example", self.TOKEN)
        for mode, want in (("noxoauth2", 504), ("xoauth2fail", 535),
                           ("xoauth2json", 334), ("auth535", 334), ("none", 235)):
            with self.subTest(mode=mode):
                with open(fault_file, "w") as f:
                    f.write(mode + "\n")
                s = self.session(port)
                self.assertEqual("XOAUTH2" in s.esmtp_features["auth"],
                                 mode != "noxoauth2")
                self.assertEqual(s.docmd(good)[0], want)
                if want == 334:
                    self.assertEqual(s.docmd("")[0], 535)


class Faults(Base):

    def fault_server(self):
        self.fault_file = os.path.join(self.spool, "fault")
        return self.start("faulty", tls="starttls", auth=["alice:s3cret"],
                          advertise_auth_before_tls=True,
                          fault_file=self.fault_file)

    def set_fault(self, mode):
        with open(self.fault_file + ".tmp", "w") as f:
            f.write(mode + "\n")
        os.replace(self.fault_file + ".tmp", self.fault_file)

    def attempt(self, port, mode):
        """Run one session against fault MODE; return the failing code."""
        try:
            s = self.smtp(port, timeout=5)
        except smtplib.SMTPConnectError as e:
            return e.smtp_code
        s.ehlo()
        if mode == "auth535":
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                s.login("alice", "s3cret")
            return cm.exception.smtp_code
        if mode == "nostarttls":
            self.assertNotIn("starttls", s.esmtp_features)
            return s.docmd("STARTTLS")[0]
        if mode == "badtls":
            self.assertIn("starttls", s.esmtp_features)
            with self.assertRaises((ssl.SSLError, OSError,
                                    smtplib.SMTPServerDisconnected)):
                s.starttls(context=client_context())
            return "tls-failed"
        code = s.mail("p@partner.example")[0]
        if code != 250:
            return code
        code = s.rcpt("r@dest.example")[0]
        if code != 250:
            return code
        return s.data(MESSAGE)[0]

    def test_every_fault_mode(self):
        port = self.fault_server()
        expected = {
            "greet421": 421, "greet554": 554, "mail451": 451, "mail530": 530,
            "rcpt451": 451, "rcpt550": 550, "data451": 451, "data554": 554,
            "auth535": 535, "nostarttls": 502, "badtls": "tls-failed",
        }
        for mode, want in expected.items():
            with self.subTest(mode=mode):
                self.set_fault(mode)
                self.assertEqual(self.attempt(port, mode), want)
        self.assertEqual(spool.read_messages(self.spool), [])
        faults = [c["fault"] for c in spool.read_connections(self.spool)]
        self.assertEqual(faults, list(expected))

    def test_fault_flag_and_silent(self):
        port = self.start("mute", fault="silent")
        t0 = time.monotonic()
        with self.assertRaises((socket.timeout, smtplib.SMTPServerDisconnected)):
            smtplib.SMTP("127.0.0.1", port, timeout=1)
        self.assertLess(time.monotonic() - t0, 3)

    def test_fault_file_switch_between_connections(self):
        port = self.fault_server()
        self.set_fault("rcpt550")
        self.assertEqual(self.attempt(port, "rcpt550"), 550)
        self.set_fault("")                       # empty file: no fault
        self.assertEqual(self.attempt(port, "none"), 250)
        self.set_fault("data451")
        self.assertEqual(self.attempt(port, "data451"), 451)
        os.unlink(self.fault_file)               # missing file: no fault
        self.assertEqual(self.attempt(port, "none"), 250)
        self.assertEqual(len(self.messages(2)), 2)


class Process(Base):

    def run_fakesmtp(self, *args):
        return subprocess.run([spool.PYTHON, spool.FAKESMTP] + list(args),
                              capture_output=True, text=True, timeout=10)

    def test_refuses_non_loopback(self):
        for listen in ("0.0.0.0:0", "192.0.2.1:0", "[::]:0", "example.org:0"):
            with self.subTest(listen=listen):
                r = self.run_fakesmtp("--listen", listen, "--name", "x",
                                      "--spool", self.spool)
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("--listen", r.stderr)

    def test_sigterm_with_open_connection(self):
        port = self.start()
        c = socket.create_connection(("127.0.0.1", port), 5)
        self.addCleanup(c.close)
        c.recv(100)
        t0 = time.monotonic()
        self.assertEqual(spool.stop_server(self.proc), 0)
        self.assertLess(time.monotonic() - t0, 2)

    def test_max_seconds(self):
        port = self.start("brief", max_seconds=0.5)
        self.assertGreater(port, 0)
        self.assertEqual(self.proc.wait(5), 0)

    def test_ready_file_and_fixed_port(self):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        fixed = probe.getsockname()[1]
        probe.close()
        ready = os.path.join(self.spool, "ready")
        p = subprocess.Popen([spool.PYTHON, spool.FAKESMTP, "--listen",
                              "127.0.0.1:%d" % fixed, "--name", "fixed",
                              "--spool", self.spool, "--ready-file", ready,
                              "--max-seconds", "30"],
                             stderr=subprocess.DEVNULL)
        self.addCleanup(spool.stop_server, p)
        self.assertTrue(spool.wait_for(lambda: os.path.exists(ready), 5))
        with open(ready) as f:
            self.assertEqual(f.read().strip(), str(fixed))
        s = self.smtp(fixed)
        self.assertEqual(s.noop()[0], 250)


def _test_id(test):
    """The test case behind a result entry (subtests report their parent)."""
    return getattr(test, "test_case", test).id()


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(
        sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = {_test_id(t) for t, _ in result.failures + result.errors}
    failed |= {_test_id(t) for t in result.unexpectedSuccesses}
    # Errors in setUpModule/setUpClass come as holders, not test cases;
    # they count as failures but do not reduce the number of cases run.
    holders = {_test_id(t) for t, _ in result.errors
               if isinstance(t, unittest.suite._ErrorHolder)}
    passed = result.testsRun - len(failed - holders) - len(result.skipped)
    print("%d passed, %d failed" % (passed, len(failed)))
    return 0 if result.wasSuccessful() and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
