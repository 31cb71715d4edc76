#!/usr/bin/python3
"""test_oauth_tokend.py - OAuth2 partners end to end with the real token broker.

What: one private Postfix built from contrib/postfix (the partner-oauth
transport, the built XOAUTH2 plugin through SASL_PATH), the milter, the
REAL partner-relay-tokend started by the test on the socket the
partner-oauth transport reads (its [oauth] section in the instance's main
config, dropping root to the milter's user), tests/lib/faketoken.py as the
token endpoint over HTTPS with the instance's test CA, and a fake
Microsoft 365 relay offering PLAIN LOGIN XOAUTH2 over STARTTLS that takes
exactly the tokens the endpoint issued and has not been told are expired
(oauthtest.RelaySync).  A password partner shares the relay host and port.
(test_oauth_wiring.py covers the SMTP faults with a stand-in broker.)

Checks, each message by its own token in the Subject, exactly once:
  1. the endpoint refuses (400 invalid_client, AADSTS7000215) before any
     token: the broker logs the failure with the partner and the code,
     answers TEMP, and Postfix, taking TEMP from smtp_sasl_password_maps
     as a lookup error, hands the message in the same attempt (no deferral)
     to the partner-oauth fallback relay: the global relay, platform From;
  2. once the endpoint works: the oauth2 partner's eligible mail reaches
     its relay over TLS, partner From, AUTH XOAUTH2 as the mailbox with
     exactly the token faketoken issued; the password partner on the same
     relay logs in with PLAIN/LOGIN, never XOAUTH2;
  3. the broker restarted by PID while mail flows: every message exactly
     once (at the partner with an issued token, or at the global relay with
     the platform From), some of them at the partner after the restart;
  4. a token that expires while the message waits in the queue: released
     after the broker refreshed, it goes out with the new token (the relay
     refuses the old one).
No secret or token in the broker's log, Postfix's or the milter's.
Root only (exit 77 otherwise).  About 45 s.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prmtest  # noqa: E402
import oauthtest  # noqa: E402


class OAuthTokend(oauthtest.OAuthChecks, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        inst = cls.inst = prmtest.Instance("oauthtokend")
        cls.m365 = oauthtest.add_m365_relay(inst, "m365")
        cid, secret = "contoso-client-id", "contoso-client-s3cret-value"
        cls.endpoint = oauthtest.TokenEndpoint(inst, [(cid, secret)])
        cls.endpoint.set_fault("invalid_client")
        cls.contoso = oauthtest.oauth_partner("contoso", cls.m365,
                                              token_url=cls.endpoint.url("contoso-tenant"))
        inst.add_partner(cls.contoso)
        cls.acme = prmtest.Partner("acme", relay="m365", host="localhost")
        inst.add_partner(cls.acme)
        cls.m365 = inst.relays["m365"]            # restarted with acme's login
        cls.sync = oauthtest.RelaySync(inst, cls.m365, cls.endpoint, cls.contoso.username, cid)
        cls.client_id = cid
        cls.tokend = oauthtest.Tokend(inst)
        inst.start()
        cls.tokend.start()

    @classmethod
    def tearDownClass(cls):
        cls.tokend.stop()
        cls.sync.stop()
        cls.endpoint.stop()
        try:
            cls.secrets_not_logged()
        finally:
            cls.inst.close()

    @classmethod
    def secrets_not_logged(cls):
        cls.endpoint.requests()                   # every issued token into extra_secrets
        secrets = set(cls.inst.extra_secrets) | {cls.contoso.oauth["oauth_client_secret"],
                                                 cls.acme.password}
        for rel in ("tokend.log", "maillog", "milter.log"):
            text = cls.inst.read(rel)
            bad = [s for s in secrets if s in text]
            if bad:
                raise AssertionError("%s holds a secret or token" % rel)

    # -- helpers --------------------------------------------------------------

    def diagnostics(self):
        return self.inst.diagnostics() + "\n--- tokend.log (tail)\n" + self.tokend.log()[-2000:]

    def issued(self):
        return [t for t, _ in self.endpoint.issued(self.client_id)]

    def lines_of(self, tok):
        """Postfix's log lines of TOK's first queue file."""
        ids = self.inst.queue_ids(tok)
        self.assertTrue(ids, self.diagnostics())
        return [l for l in self.inst.maillog().splitlines() if ": %s: " % ids[0] in l]

    def no_leaks(self):
        self.assertFalse(self.inst.leaked_passwords([self.acme]))
        issued = set(self.issued())
        for e in self.inst.auth_events():
            if e["mech"] == "XOAUTH2":
                self.assertEqual(e["server"], "m365", "a token went to " + e["server"])
                self.assertIn(e.get("token"), issued, "a token faketoken never issued")

    # -- tests ----------------------------------------------------------------

    def test_1_endpoint_refuses_before_any_token(self):
        self.assertTrue(prmtest.spool.wait_for(
            lambda: "code=AADSTS7000215" in self.tokend.log(), 20, 0.1), self.diagnostics())
        line = [l for l in self.tokend.log().splitlines() if "AADSTS7000215" in l][0]
        for want in ("token fetch failed", "partner=contoso", "endpoint=127.0.0.1",
                     "status=400", "error=invalid_client", "serving=none"):
            self.assertIn(want, line)
        t0 = time.time()
        tok = self.send(self.contoso)
        self.settle([tok])
        self.at_global(tok)
        self.assertEqual(self.xoauth2_events(t0), [])
        # What Postfix does with TEMP from smtp_sasl_password_maps: a lookup
        # error; with smtp_fallback_relay (the loopback fallback listener)
        # it moves on to it in the same delivery attempt, never deferring
        # and never sending to the partner without AUTH.
        lines = self.lines_of(tok)
        self.assertIn("socketmap server temporary error: no valid token", self.inst.maillog())
        self.assertTrue([l for l in lines if "smtp_sasl_password_maps lookup error" in l],
                        "\n".join(lines))
        sent = [l for l in lines if "postfix/partner-oauth/smtp" in l and "status=sent" in l]
        self.assertEqual(len(sent), 1, "\n".join(lines))
        self.assertIn("127.0.0.1[127.0.0.1]:%d" % self.inst.ports["fb"], sent[0])
        self.assertEqual([l for l in lines if "status=deferred" in l], [], "\n".join(lines))
        self.assertEqual(self.issued(), [])
        self.no_leaks()

    def test_2_oauth_and_password_partner_on_one_relay(self):
        self.endpoint.set_fault("none")
        self.assertTrue(prmtest.spool.wait_for(
            lambda: "token fetched partner=contoso" in self.tokend.log(), 20, 0.1),
            self.diagnostics())
        [token] = self.issued()
        t0 = time.time()
        toks = [self.send(self.contoso), self.send(self.acme)]
        self.settle(toks)
        m = self.at_partner(toks[0], self.contoso)
        self.assertEqual(m["auth_mech"], "XOAUTH2")
        [e] = [e for e in self.xoauth2_events(t0) if e["ok"]]
        self.assertEqual((e["user"], e["token"], e["tls"]), (self.contoso.username, token, True))
        m = self.at_partner(toks[1], self.acme)
        self.assertIn(m["auth_mech"], ("PLAIN", "LOGIN"))
        acme = [e for e in self.inst.auth_events()
                if e["time"] >= t0 and e["user"] == self.acme.username]
        self.assertTrue(acme)
        self.assertEqual({e["mech"] for e in acme} - {"PLAIN", "LOGIN"}, set())
        self.no_leaks()

    def test_3_tokend_restarted_while_mail_flows(self):
        # Mail keeps coming while the broker is stopped (SIGTERM to its PID)
        # and started again; the restarted broker fetches a new token at
        # once (12 s tokens from now on: test_4 needs a refresh soon).
        self.endpoint.set_fault("short")
        maillog_errors = lambda: self.inst.maillog().count("smtp_sasl_password_maps lookup error")
        fetched = lambda: self.tokend.log().count("token fetched partner=contoso")
        old_pid, n_fetched = self.tokend.pid, fetched()
        toks = [self.send(self.contoso), self.send(self.contoso)]
        self.assertEqual(self.tokend.stop(), 0)
        n_errors = maillog_errors()
        toks += [self.send(self.contoso), self.send(self.contoso)]
        # Until Postfix has asked the stopped broker at least once.
        self.assertTrue(prmtest.spool.wait_for(lambda: maillog_errors() > n_errors, 30, 0.1),
                        self.diagnostics())
        toks.append(self.send(self.contoso))
        self.tokend.start()
        self.assertNotEqual(self.tokend.pid, old_pid)
        toks.append(self.send(self.contoso))
        self.assertTrue(prmtest.spool.wait_for(lambda: fetched() > n_fetched, 20, 0.1),
                        self.diagnostics())
        time.sleep(0.2)                           # RelaySync polls every 50 ms
        toks += [self.send(self.contoso), self.send(self.contoso)]
        self.settle(toks, timeout=120)
        where = []
        for tok in toks:
            arrivals = self.inst.arrivals(tok)
            self.assertEqual(len(arrivals), 1, "%s: %s" % (tok, [m["server"] for m in arrivals]))
            where.append(arrivals[0]["server"])
            if where[-1] == "m365":
                self.at_partner(tok, self.contoso)
            else:
                self.at_global(tok)
        self.assertIn("global", where[:5], where)     # asked while the broker was down
        self.assertEqual(where[-2:], ["m365", "m365"], where)
        self.no_leaks()

    def test_4_token_expires_while_queued(self):
        inst = self.inst
        with oauthtest.partner_oauth_deferred(inst):
            tok = self.send(self.contoso)
            self.assertTrue(prmtest.spool.wait_for(
                lambda: "(deferred transport)" in inst.maillog(), 30, 0.2), self.diagnostics())
            queued_with = self.issued()[-1]     # the broker's token while it waits
            # The broker refreshes the 12 s token at about half its life;
            # the new one lives long.
            self.endpoint.set_fault("none")
            self.assertTrue(prmtest.spool.wait_for(
                lambda: self.endpoint.issued(self.client_id)[-1][1] == "none", 20, 0.1),
                self.diagnostics())
            new = self.issued()[-1]
            self.assertNotEqual(new, queued_with)
            self.sync.expire_all_but(new)       # the relay refuses every older token
            self.assertEqual(inst.arrivals(tok), [])
        t0 = time.time()
        oauthtest.flush_queue(inst)
        self.settle([tok])
        self.at_partner(tok, self.contoso)
        self.assertEqual([(e["token"], e["ok"]) for e in self.xoauth2_events(t0)], [(new, True)])
        self.no_leaks()


if __name__ == "__main__":
    oauthtest.main()
