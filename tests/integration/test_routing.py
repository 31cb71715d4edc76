#!/usr/bin/python3
"""test_routing.py - end-to-end routing through a real private Postfix.

Scenarios (DESIGN.md rules 1-4, trust, implicit TLS), one Postfix instance
for the whole file, every message submitted first and checked once the
queue has settled:
  1. every eligible category of a complete partner -> that partner's relay,
     partner From and envelope sender, partner credentials, TLS;
  2. a global category and an unclassified message -> global relay,
     original From;
  3. a partner missing each one of host, port, username, password, sender
     -> global;
  4. a partner that narrowed its categories (verification-link, aml-alert):
     those two -> the partner, another eligible category -> global with
     reason category-opted-out in the milter's log line;
  5. two partners on one relay host:port with different credentials ->
     each authenticates as itself;
  6. an untrusted submitter forging X-Partner-Id, X-Email-Category and the
     route header -> global, forged headers gone;
  7. no relay ever receives X-Partner-Id (strip_partner), every message
     carries one X-Email-Category;
  8. a partner on an implicit-TLS port -> partner-smtps, its relay, TLS;
     a partner with tls = secure on a DNS name -> verified TLS, with SNI.
And for all of them: no partner password was ever shown to another server.
Exit 77 (skip) unless root with Postfix installed.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prmtest  # noqa: E402
from prmtest import Partner, header_values, display_name  # noqa: E402

ELIGIBLE = ["verification-link", "verification-url", "kyb-info-request",
            "kyb-expiration-extension", "custom", "verification-result",
            "aml-alert", "expiration-reminder", "webhook-failure",
            "finance-report", "admin-notification"]
NARROWED = ["verification-link", "aml-alert"]
APP = "app@platform.example"
INST = None
SENT = {}  # name -> token
P = {}     # partner id -> Partner


def setUpModule():
    """Start the instance, submit every scenario's messages, wait once."""
    global INST
    prmtest.require_root_and_postfix()
    INST = prmtest.Instance("routing", config_extra="[categories]\naccount-security = global\n")
    P["acme"] = INST.add_partner(Partner("acme"))
    P["s1"] = INST.add_partner(Partner("s1", relay="shared"))
    P["s2"] = INST.add_partner(Partner("s2", relay="shared"))
    P["imp"] = INST.add_partner(Partner("imp"), tls="implicit")
    # Certificate verification and SNI: a DNS name that the test CA signed.
    P["sec"] = INST.add_partner(Partner("sec", host="localhost", tls="secure"))
    P["narrow"] = INST.add_partner(Partner("narrow",
                                           categories="verification-link, aml-alert"))
    # Incomplete partners all point at one relay that must never see mail.
    for field in ("host", "port", "username", "password", "sender"):
        P["no" + field] = INST.add_partner(Partner("no" + field, relay="incomplete",
                                                   omit=[field]))
    INST.start()

    send = INST.send
    for cat in ELIGIBLE:
        SENT["acme/" + cat] = send([("X-Partner-Id", "acme"), ("X-Email-Category", cat)])
    SENT["global-cat"] = send([("X-Partner-Id", "acme"),
                               ("X-Email-Category", "account-security")])
    SENT["unclassified"] = send([("X-Partner-Id", "acme")])
    for field in ("host", "port", "username", "password", "sender"):
        SENT["no" + field] = send([("X-Partner-Id", "no" + field),
                                   ("X-Email-Category", "custom")])
    for cat in NARROWED + ["custom"]:
        SENT["narrow/" + cat] = send([("X-Partner-Id", "narrow"), ("X-Email-Category", cat)])
    SENT["s1"] = send([("X-Partner-Id", "s1"), ("X-Email-Category", "custom")])
    SENT["s2"] = send([("X-Partner-Id", "s2"), ("X-Email-Category", "aml-alert")])
    SENT["forged"] = send([("X-Partner-Id", "acme"), ("X-Email-Category", "custom"),
                           ("X-Partner-Relay-Route",
                            "partner:[%s]:%d" % (P["acme"].host, P["acme"].port))],
                          untrusted=True)
    SENT["sec"] = send([("X-Partner-Id", "sec"), ("X-Email-Category", "aml-alert")])
    SENT["imp"] = send([("X-Partner-Id", "imp"), ("X-Email-Category", "finance-report")])
    INST.settled = INST.wait_settled(list(SENT.values()), timeout=60)


def tearDownModule():
    if INST is not None:
        INST.close()


class Routing(unittest.TestCase):
    """Each test checks the arrivals of the messages its scenario sent."""

    def expect(self, key, server, mail_from, from_addr, auth_user):
        """Assert one correct arrival of SENT[KEY]; return the message."""
        problems = INST.check_arrival(SENT[key], server, mail_from, from_addr, auth_user)
        if problems:
            self.fail("\n".join(problems) + "\n" + INST.diagnostics())
        return INST.arrivals(SENT[key])[0]

    def expect_global(self, key):
        """SENT[KEY] left through the global relay, unchanged sender."""
        return self.expect(key, "global", APP, APP, prmtest.GLOBAL_USER)

    def expect_partner(self, key, p):
        """SENT[KEY] left through partner P's relay as P."""
        m = self.expect(key, p.relay, p.sender, p.sender, p.username)
        self.assertEqual(display_name(m), "Platform App",
                         "display name: got %r, want 'Platform App'" % display_name(m))
        return m

    def test_0_settled(self):
        self.assertTrue(INST.settled, "queue did not settle within 60 s: queue %s\n%s"
                        % (INST.queue_files(), INST.diagnostics()))

    def test_1_every_eligible_category_goes_to_partner(self):
        for cat in ELIGIBLE:
            with self.subTest(category=cat):
                m = self.expect_partner("acme/" + cat, P["acme"])
                tags = header_values(m, "X-Email-Category")
                self.assertEqual(tags, [cat], "category tag: got %r, want [%r]" % (tags, cat))

    def test_2_global_category_and_unclassified_go_global(self):
        for key in ("global-cat", "unclassified"):
            with self.subTest(message=key):
                self.expect_global(key)
        tags = header_values(INST.arrivals(SENT["unclassified"])[0], "X-Email-Category")
        self.assertEqual(tags, ["unclassified"], "tag: got %r, want ['unclassified']" % tags)

    def test_3_incomplete_partner_goes_global(self):
        for field in ("host", "port", "username", "password", "sender"):
            with self.subTest(missing=field):
                self.expect_global("no" + field)
        seen = INST.arrivals()
        wrong = [m["subject"] for m in seen if m["server"] == "incomplete"]
        self.assertEqual(wrong, [], "incomplete partners' relay got mail: %r" % wrong)

    def test_4_narrowed_partner_opts_out_of_other_categories(self):
        for cat in NARROWED:
            with self.subTest(category=cat):
                self.expect_partner("narrow/" + cat, P["narrow"])
        m = self.expect_global("narrow/custom")
        tags = header_values(m, "X-Email-Category")
        self.assertEqual(tags, ["custom"], "category tag: got %r, want ['custom']" % tags)
        lines = INST.milter_lines(SENT["narrow/custom"])
        want = "category=custom partner=narrow route=global reason=category-opted-out"
        self.assertTrue(len(lines) == 1 and want in lines[0],
                        "milter log: got %r, want one line with %r\n%s"
                        % (lines, want, INST.diagnostics()))
        lines = INST.milter_lines(SENT["narrow/aml-alert"])
        want = "category=aml-alert partner=narrow route=partner reason=partner-relay"
        self.assertTrue(len(lines) == 1 and want in lines[0],
                        "milter log: got %r, want one line with %r" % (lines, want))

    def test_5_shared_relay_each_partner_authenticates_as_itself(self):
        self.expect_partner("s1", P["s1"])
        self.expect_partner("s2", P["s2"])

    def test_6_untrusted_forgery_goes_global_and_headers_are_removed(self):
        m = self.expect_global("forged")
        for name in ("X-Partner-Id", "X-Partner-Relay-Route"):
            vals = header_values(m, name)
            self.assertEqual(vals, [], "%s: got %r, want none" % (name, vals))
        cats = header_values(m, "X-Email-Category")
        self.assertNotIn("custom", cats, "forged category survived: got %r" % cats)

    def test_7_partner_header_never_leaves(self):
        # [headers] strip_partner (default yes): the tenant id reaches no
        # relay (partner, global, or the ones that must see nothing), while
        # every message keeps exactly one category tag.
        arrivals = INST.arrivals()
        self.assertGreaterEqual(len(arrivals), len(SENT), "fewer arrivals than messages")
        for m in arrivals:
            self.assertEqual(header_values(m, "X-Partner-Id"), [],
                             "X-Partner-Id reached %s" % m["server"])
            self.assertEqual(len(header_values(m, "X-Email-Category")), 1,
                             "category tags at %s: got %r, want one"
                             % (m["server"], header_values(m, "X-Email-Category")))

    def test_8_implicit_tls_partner(self):
        m = self.expect_partner("imp", P["imp"])
        self.assertTrue(m["tls_version"], "TLS version: got %r, want a version" % m["tls_version"])
        self.assertIn("partner-smtps/smtp", INST.maillog(),
                      "maillog shows no delivery by the partner-smtps transport")

    def test_8b_secure_partner_verified_with_sni(self):
        m = self.expect_partner("sec", P["sec"])
        self.assertEqual(m["sni"], "localhost", "SNI: got %r, want 'localhost'" % m["sni"])
        self.assertIn("Verified TLS connection established to localhost", INST.maillog(),
                      "maillog shows no verified TLS connection to localhost")

    def test_9_no_password_shown_to_another_server(self):
        leaks = INST.leaked_passwords(list(P.values()))
        self.assertEqual(leaks, [], "\n".join(leaks))
        glob = [e for e in INST.auth_events() if e["server"] == "global"]
        bad = [e["user"] for e in glob if e["user"] != prmtest.GLOBAL_USER]
        self.assertEqual(bad, [], "global relay saw AUTH as %r, want only %r"
                         % (bad, prmtest.GLOBAL_USER))


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
