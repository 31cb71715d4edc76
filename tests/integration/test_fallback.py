#!/usr/bin/python3
"""test_fallback.py - partner relay failures fall back to the global relay.

Fault scenarios: the partner relay refuses the connection, answers AUTH
with 535, rejects the recipient with 550 (turned into 450 by
smtp_reply_filter), greets with 421 or 554, fails MAIL or DATA, offers no
STARTTLS, breaks the TLS handshake or never greets; and an implicit-TLS
partner that refuses or breaks TLS falls back through the implicit-TLS
listener. Each message must
reach the global relay exactly once, with the platform's fallback sender as
From address and envelope sender (display name kept), authenticated as the
platform, and no partner password may reach any other server. And the
reply filter's scope: when the fallback listener itself rejects (5xx with
its "[partner-relay-fallback]" footer) the rejection stays permanent, so the
message bounces instead of being retried forever. And the fallback
listeners take only partner mail: a local client sending there directly with
a sender that is no partner's is refused 451 (issue 17 finding 5).
Exit 77 (skip) unless root with Postfix installed.
"""

import os
import smtplib
import ssl
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prmtest  # noqa: E402
from prmtest import Partner, display_name  # noqa: E402

FB = prmtest.FALLBACK_SENDER
# fakesmtp.py faults that must fall back within one delivery attempt;
# "silent" also proves the recipe's short smtp_helo_timeout (10 s, not 300).
FAULTS = ("greet421", "greet554", "mail451", "data451", "data554", "nostarttls",
          "badtls", "silent")
INST = None
SENT = {}
P = {}


def setUpModule():
    global INST
    prmtest.require_root_and_postfix()
    INST = prmtest.Instance("fallback")
    P["refused"] = INST.add_partner(Partner("refused"), no_relay=True)
    P["auth"] = INST.add_partner(Partner("auth"), fault="auth535")
    P["rcpt"] = INST.add_partner(Partner("rcpt"), fault="rcpt550")
    # Test-only: the fallback listeners reject one recipient with a 5xx.
    reject = INST._write("etc/fb_reject", "/^reject-me@/ REJECT test rejection\n", 0o644)
    INST.fallback_overrides.append(
        "smtpd_recipient_restrictions=check_recipient_access,regexp:%s,"
        "permit_mynetworks,reject" % reject)
    # More partner failures, each on its own relay, all at once.
    for fault in FAULTS:
        P[fault] = INST.add_partner(Partner(fault), fault=fault)
    P["imp-refused"] = INST.add_partner(Partner("imp-refused"), no_relay=True)
    INST.extra_implicit_ports.add(P["imp-refused"].port)
    # tls = secure and a certificate for another name: verification fails.
    P["wrongcert"] = INST.add_partner(Partner("wrongcert", host="localhost", tls="secure"),
                                      cert="wrong")
    P["imp-badtls"] = INST.add_partner(Partner("imp-badtls"), tls="implicit", fault="badtls")
    INST.start()
    for pid in ("refused", "auth", "rcpt", "wrongcert") + FAULTS + ("imp-refused", "imp-badtls"):
        SENT[pid] = INST.send([("X-Partner-Id", pid), ("X-Email-Category", "custom")])
    SENT["reject"] = INST.send([("X-Partner-Id", "rcpt"), ("X-Email-Category", "custom")],
                               rcpts=("reject-me@dest.example",))
    INST.settled = INST.wait_settled([t for k, t in SENT.items() if k != "reject"], 60) \
        and INST.wait_settled([], 30)


def tearDownModule():
    if INST is not None:
        INST.close()


class Fallback(unittest.TestCase):

    def expect_fallback(self, key):
        problems = INST.check_arrival(SENT[key], "global", FB, FB, prmtest.GLOBAL_USER)
        if problems:
            self.fail("\n".join(problems) + "\n" + INST.diagnostics())
        m = INST.arrivals(SENT[key])[0]
        self.assertEqual(display_name(m), "Platform App",
                         "display name: got %r, want 'Platform App'" % display_name(m))

    def test_0_settled(self):
        self.assertTrue(INST.settled, "queue did not settle: %s\n%s"
                        % (INST.queue_files(), INST.diagnostics()))

    def test_connection_refused(self):
        self.expect_fallback("refused")

    def test_auth_535(self):
        self.expect_fallback("auth")
        tried = [e for e in INST.auth_events() if e["server"] == "auth"]
        self.assertTrue(tried and not any(e["ok"] for e in tried),
                        "partner relay AUTH attempts: got %r, want failed ones" % tried)

    def test_other_partner_failures(self):
        for fault in FAULTS:
            with self.subTest(fault=fault):
                self.expect_fallback(fault)

    def test_implicit_tls_partner_falls_back_through_its_listener(self):
        for key in ("imp-refused", "imp-badtls"):
            with self.subTest(partner=key):
                self.expect_fallback(key)
        self.assertIn("partner-fallback-smtps/smtpd", INST.maillog(),
                      "the implicit-TLS fallback listener took no mail")

    def test_certificate_mismatch_falls_back(self):
        self.expect_fallback("wrongcert")
        seen = [m for m in INST.arrivals() if m["server"] == "wrongcert"]
        self.assertEqual(seen, [], "mail delivered to a relay with the wrong certificate")
        # Fell back for the right reason (not, say, a failed name lookup).
        self.assertIn("Server certificate not verified", INST.maillog())

    def test_rcpt_550_falls_back(self):
        self.expect_fallback("rcpt")
        self.assertIn('replacing server reply "550 5.1.1', INST.maillog())

    def test_fallback_rejection_stays_permanent(self):
        delivered = [m for m in INST.arrivals(SENT["reject"]) if m["mail_from"] != ""]
        self.assertEqual(delivered, [], "rejected message was delivered: %r"
                         % [m["server"] for m in delivered])
        bounces = [m for m in INST.arrivals() if m["mail_from"] == ""
                   and SENT["reject"] in m["data"]]
        self.assertEqual(len(bounces), 1, "bounces for the rejected message: got %d, want 1\n%s"
                         % (len(bounces), INST.diagnostics()))
        self.assertEqual(bounces[0]["server"], "global")

    def test_fallback_listeners_offer_no_auth(self):
        ctx = ssl.create_default_context(cafile=INST.path("certs", "ca.pem"))
        for port, wrapped in ((INST.ports["fb"], False), (INST.ports["fbs"], True)):
            with self.subTest(port=port, implicit_tls=wrapped):
                if wrapped:
                    s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=10, context=ctx)
                else:
                    s = smtplib.SMTP("127.0.0.1", port, timeout=10)
                with s:
                    code, _ = s.ehlo("probe.example")
                    self.assertEqual(code, 250, "EHLO: got %d, want 250" % code)
                    self.assertFalse(s.has_extn("auth"), "fallback listener offers AUTH: %r"
                                     % s.esmtp_features.get("auth"))

    def test_direct_non_partner_sender_refused(self):
        """Issue 17 finding 5: a local client sending straight to a fallback
        listener with a sender that is no partner's is refused (451 4.7.1
        at end of data, nothing delivered); partner mail that falls back
        (the other tests) is still restored."""
        for port in (INST.ports["fb"],):
            token = "direct%d" % port
            text = ("From: Someone <app@platform.example>\r\nTo: someone@dest.example\r\n"
                    "Subject: test %s\r\n\r\nHello.\r\n" % token)
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                with self.assertRaises(smtplib.SMTPDataError) as cm:
                    s.sendmail("app@platform.example", ["someone@dest.example"], text.encode())
            self.assertEqual(cm.exception.smtp_code, 451, "reply: %r" % (cm.exception.args,))
            self.assertIn(b"4.7.1", cm.exception.smtp_error)
            self.assertEqual(INST.arrivals(token), [], "a non-partner sender's mail was delivered")
        self.assertIn("reason=fallback-not-partner-sender",
                      INST.read("milter.log"))

    def test_no_password_shown_to_another_server(self):
        leaks = INST.leaked_passwords(list(P.values()))
        self.assertEqual(leaks, [], "\n".join(leaks))


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
