#!/usr/bin/python3
"""test_oauth_wiring.py - OAuth2 partners through the real Postfix, SASL side.

What: a private Postfix built from contrib/postfix (partner-oauth transport,
mechanism filters, the Microsoft 365 caps), the built XOAUTH2 plugin loaded
through SASL_PATH, a fake Microsoft 365 relay that offers PLAIN LOGIN
XOAUTH2 and is shared by an OAuth2 partner and a password partner, and a
stand-in socketmap server that tells Postfix exactly which token to use
(tests/lib/fakesocketmap.py): this test is about what Postfix and the
plugin do with each answer and with each SMTP fault.  test_oauth_tokend.py
runs the same chain with the real partner-relay-tokend fetching from
tests/lib/faketoken.py (endpoint failing before any token, broker
restarted by PID, token expiring while queued).

Checks, each message by its own token in the Subject, exactly once:
  - the OAuth2 partner's eligible mail reaches its relay over verified TLS,
    authenticated with XOAUTH2 as the mailbox with the token the broker
    gave, two-step (a 2 KB token makes Postfix send AUTH XOAUTH2 alone);
  - the password partner on the same relay host logs in with its password
    (PLAIN/LOGIN), never as XOAUTH2; neither credential reaches another
    server;
  - 535 after XOAUTH2, the JSON error challenge (answered with the empty
    response), a relay that does not offer XOAUTH2, a broker answering
    TEMP, a broker that is down: the global relay, with the platform From;
  - a token that expires while the mail is queued: delivered with the new
    token once the broker has it;
  - the broker restarted while mail flows: each message exactly once.
Root only (exit 77 otherwise).  About 60 s.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prmtest  # noqa: E402
import oauthtest  # noqa: E402

TOKEN1 = "eyJ0eXAiOiJKV1QiLCJub25jZSI6IjEifQ." + "A1" * 1000 + ".sig1"
TOKEN2 = "eyJ0eXAiOiJKV1QiLCJub25jZSI6IjIifQ." + "B2" * 1000 + ".sig2"


class OAuthWiring(oauthtest.OAuthChecks, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        inst = cls.inst = prmtest.Instance("oauthwire")
        cls.m365 = oauthtest.add_m365_relay(inst, "m365")
        cls.contoso = oauthtest.oauth_partner("contoso", cls.m365)
        inst.add_partner(cls.contoso)
        # A password partner on the very same relay host and port.
        cls.acme = prmtest.Partner("acme", relay="m365", host="localhost")
        inst.add_partner(cls.acme)
        cls.m365 = inst.relays["m365"]            # restarted with acme's login
        cls.broker = oauthtest.StandInBroker(inst)
        cls.broker.set_token(cls.contoso.sender, cls.contoso.username, TOKEN1)
        oauthtest.accept_token(inst, cls.m365, cls.contoso.username, TOKEN1)
        inst.start()
        cls.broker.start()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()
        cls.inst.close()

    def setUp(self):
        self.m365.set_fault("none")
        self.broker.set_mode("ok")

    def no_leaks(self):
        self.assertFalse(self.inst.leaked_passwords([self.acme]))
        for e in self.inst.auth_events():
            if e["server"] != "m365":
                self.assertNotIn(e.get("token"), (TOKEN1, TOKEN2), e["server"])
            if e["mech"] == "XOAUTH2":
                self.assertNotEqual(e.get("token"), self.acme.password,
                                    "a password went out as a bearer token")

    def test_1_oauth_partner_with_the_token(self):
        t0 = time.time()
        tok = self.send(self.contoso)
        self.settle([tok])
        m = self.at_partner(tok, self.contoso)
        self.assertEqual(m["auth_mech"], "XOAUTH2")
        [e] = self.xoauth2_events(t0)
        self.assertEqual((e["user"], e["token"], e["ok"], e["tls"]),
                         (self.contoso.username, TOKEN1, True, True))
        self.assertEqual(e["form"], "two-step")     # 2 KB token: AUTH alone, then 334
        self.assertEqual(m["sni"], "localhost")
        keys = {l["key"] for l in self.broker.lookups()}
        self.assertIn(self.contoso.sender, keys)
        self.no_leaks()

    def test_2_password_partner_same_relay_logs_in_with_password(self):
        t0 = time.time()
        toks = [self.send(self.acme), self.send(self.contoso)]
        self.settle(toks)
        m = self.at_partner(toks[0], self.acme)
        self.assertIn(m["auth_mech"], ("PLAIN", "LOGIN"))
        self.assertEqual(self.at_partner(toks[1], self.contoso)["auth_mech"], "XOAUTH2")
        acme_events = [e for e in self.inst.auth_events()
                       if e["time"] >= t0 and e["user"] == self.acme.username]
        self.assertTrue(acme_events)
        self.assertEqual({e["mech"] for e in acme_events} - {"PLAIN", "LOGIN"}, set())
        self.no_leaks()

    def fault_goes_global(self, fault=None, mode=None):
        if fault:
            self.m365.set_fault(fault)
        if mode:
            self.broker.set_mode(mode)
        t0 = time.time()
        tok = self.send(self.contoso)
        self.settle([tok])
        self.at_global(tok)
        self.assertEqual([m for m in self.inst.arrivals(tok) if m["server"] == "m365"], [])
        self.no_leaks()
        return self.xoauth2_events(t0)

    def test_3_535_after_xoauth2_goes_global(self):
        events = self.fault_goes_global(fault="xoauth2fail")
        self.assertTrue(events and not any(e["ok"] for e in events))

    def test_4_json_error_challenge_answered_empty(self):
        events = self.fault_goes_global(fault="xoauth2json")
        self.assertTrue(events)
        for e in events:
            self.assertEqual((e["challenge"], e["answer"], e["ok"]), (True, "", False))
        # The maillog shows the server's reply, never the token.
        self.assertNotIn(TOKEN1, self.inst.maillog())

    def test_5_relay_without_xoauth2_goes_global(self):
        events = self.fault_goes_global(fault="noxoauth2")
        self.assertEqual(events, [])

    def test_6_broker_temp_goes_global(self):
        t0 = time.time()
        self.fault_goes_global(mode="temp")
        self.assertEqual(self.xoauth2_events(t0), [])

    def test_7_broker_down_goes_global(self):
        self.broker.stop()
        try:
            t0 = time.time()
            self.fault_goes_global()
            self.assertEqual(self.xoauth2_events(t0), [])
        finally:
            self.broker.start()

    def test_8_token_expires_while_queued(self):
        # Hold partner-oauth mail in the queue (defer_transports), let the
        # token expire (the relay now takes only TOKEN2, the broker has it),
        # then release: the queued mail goes out with the new token.
        inst = self.inst
        with oauthtest.partner_oauth_deferred(inst):
            tok = self.send(self.contoso)
            self.assertTrue(prmtest.spool.wait_for(
                lambda: "(deferred transport)" in inst.maillog(), 30, 0.2),
                inst.diagnostics())
            self.assertEqual(inst.arrivals(tok), [])
            oauthtest.accept_token(self.inst, self.m365, self.contoso.username, TOKEN2)   # TOKEN1 expired
            self.broker.set_token(self.contoso.sender, self.contoso.username, TOKEN2)
        t0 = time.time()
        oauthtest.flush_queue(inst)
        self.settle([tok])
        self.at_partner(tok, self.contoso)
        self.assertEqual([e["token"] for e in self.xoauth2_events(t0)], [TOKEN2])

    def test_9_broker_restarted_while_mail_flows(self):
        # Mail keeps coming while the broker stops and starts again: every
        # message arrives exactly once, at the partner with the token or
        # at the global relay with the platform From; none is lost.
        toks = []
        for i in range(6):
            if i == 2:
                self.broker.stop()
            if i == 4:
                self.broker.start()
            toks.append(self.send(self.contoso))
            time.sleep(0.5)
        self.settle(toks, timeout=120)
        where = {}
        for tok in toks:
            [m] = self.inst.arrivals(tok)
            where[tok] = m["server"]
            if m["server"] == "m365":
                self.at_partner(tok, self.contoso)
            else:
                self.at_global(tok)
        self.assertIn("m365", where.values())
        self.no_leaks()


if __name__ == "__main__":
    oauthtest.main()
