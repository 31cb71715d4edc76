#!/usr/bin/python3
"""test_verified_tls.py - credentials only to a verified relay (issue 12).

What it checks, against the real Postfix with the private test CA of
tests/lib/mkcerts.sh trusted only through [milter] relay_cafile (which the
harness carries into the partner transports as smtp_tls_CAfile):
  - a partner without a tls key (default secure) whose relay presents a
    good certificate for its name gets its mail, authenticated as itself;
  - the same default with a certificate for another name, an expired one
    and a self-signed one: the message falls back to the global relay with
    the platform's From and envelope sender, and that relay never sees an
    AUTH command (its auth-events.jsonl stays empty: no password sent);
  - an IP-literal relay pinned with tls_fingerprint (Postfix's fingerprint
    level): the right digest delivers, a wrong one falls back, no AUTH;
  - an IP-literal relay without tls_fingerprint or tls: inactive, with the
    reason in `partner-relay-milter -n`; its mail goes global unchanged;
  - an explicit tls = encrypt still works with a self-signed certificate,
    and -n and the daemon's log warn that its credentials go to an
    unverified server.
One Postfix instance, about 20 s. Exit 77 (skip) unless root with Postfix.
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prmtest  # noqa: E402
from prmtest import Partner  # noqa: E402

FB = prmtest.FALLBACK_SENDER
APP = "app@platform.example"
INST = None
SENT = {}
P = {}
# Partners whose relay must fail verification, and the certificate it shows.
REFUSED = {"wrongname": "wrong", "expired": "expired", "selfsigned": "selfsigned"}
# Postfix's reason for each (smtp_tls_loglevel 1): it failed for the right cause.
WHY = {"wrongname": "hostname mismatch", "expired": "certificate has expired",
       "selfsigned": "self-signed certificate"}
UNVERIFIED = "credentials go to an unverified server"


def fingerprint(name):
    """SHA-256 fingerprint of the instance's certificate NAME (openssl's form)."""
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                          INST.path("certs", name + ".pem")], capture_output=True,
                         text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


def setUpModule():
    global INST
    prmtest.require_root_and_postfix()
    INST = prmtest.Instance("verified-tls")
    P["good"] = INST.add_partner(Partner("good"))
    for pid, cert in REFUSED.items():
        P[pid] = INST.add_partner(Partner(pid), cert=cert)
    P["fp"] = INST.add_partner(Partner("fp", host="127.0.0.1",
                                       tls_fingerprint=fingerprint("server")))
    P["fpbad"] = INST.add_partner(Partner("fpbad", host="127.0.0.1",
                                          tls_fingerprint=fingerprint("wrong")))
    P["ipbare"] = INST.add_partner(Partner("ipbare", host="127.0.0.1"))
    P["enc"] = INST.add_partner(Partner("enc", tls="encrypt"), cert="selfsigned")
    INST.start()
    for pid in P:
        SENT[pid] = INST.send([("X-Partner-Id", pid), ("X-Email-Category", "custom")])
    INST.settled = INST.wait_settled(list(SENT.values()), 60)


def tearDownModule():
    if INST is not None:
        INST.close()


class VerifiedTls(unittest.TestCase):

    def expect(self, problems):
        if problems:
            self.fail("\n".join(problems) + "\n" + INST.diagnostics())

    def auth_at(self, pid):
        """AUTH attempts the relay of partner PID saw."""
        return [e for e in INST.auth_events() if e.get("server") == P[pid].relay]

    def test_0_settled(self):
        self.assertTrue(INST.settled, "queue did not settle: %s\n%s"
                        % (INST.queue_files(), INST.diagnostics()))

    def test_good_certificate_goes_to_partner(self):
        p = P["good"]
        self.expect(INST.check_arrival(SENT["good"], "good", p.sender, p.sender, p.username))
        policy = INST.read("tables/tls_policy")
        self.assertIn("[localhost]:%d\tsecure match=localhost servername=localhost" % p.port,
                      policy, "default tls policy of a DNS-named relay")

    def test_unverifiable_certificate_falls_back_without_auth(self):
        for pid, cert in REFUSED.items():
            with self.subTest(partner=pid, certificate=cert):
                self.expect(INST.check_arrival(SENT[pid], "global", FB, FB, prmtest.GLOBAL_USER))
                self.assertEqual(self.auth_at(pid), [],
                                 "%s's relay (%s certificate) was sent AUTH" % (pid, cert))
                lines = [l for l in INST.maillog().splitlines()
                         if "verification failed for localhost[127.0.0.1]:%d" % P[pid].port in l]
                self.assertTrue(lines and WHY[pid] in lines[0],
                                "certificate failure of %s: got %r, want %r\n%s"
                                % (pid, lines, WHY[pid], INST.diagnostics()))

    def test_fingerprint_pins_an_ip_literal_relay(self):
        p = P["fp"]
        self.expect(INST.check_arrival(SENT["fp"], "fp", p.sender, p.sender, p.username))
        self.expect(INST.check_arrival(SENT["fpbad"], "global", FB, FB, prmtest.GLOBAL_USER))
        self.assertEqual(self.auth_at("fpbad"), [], "a relay with the wrong digest was sent AUTH")
        policy = INST.read("tables/tls_policy")
        self.assertIn("[127.0.0.1]:%d\tfingerprint match=%s" % (p.port, fingerprint("server")),
                      policy)

    def test_ip_literal_without_fingerprint_is_inactive(self):
        # Never routed: global, with the sender's own From, no partner AUTH.
        self.expect(INST.check_arrival(SENT["ipbare"], "global", APP, APP, prmtest.GLOBAL_USER))
        self.assertEqual(self.auth_at("ipbare"), [])
        r = prmtest.run([prmtest.program("partner-relay-milter"), "-n", "-c",
                         INST.path("milter.conf")], check=False)
        self.assertIn("partner ipbare inactive: the relay 127.0.0.1 is an IP address", r.stdout)
        self.assertIn("set tls_fingerprint", r.stdout)

    def test_explicit_encrypt_accepts_self_signed_with_warning(self):
        p = P["enc"]
        self.expect(INST.check_arrival(SENT["enc"], "enc", p.sender, p.sender, p.username))
        r = prmtest.run([prmtest.program("partner-relay-milter"), "-n", "-c",
                         INST.path("milter.conf")], check=False)
        self.assertIn("partner enc: tls = encrypt: " + UNVERIFIED, r.stdout)
        for pid in ("good", "fp"):
            self.assertNotIn("partner %s: tls" % pid, r.stdout)
        self.assertIn("partner enc: tls = encrypt: " + UNVERIFIED, INST.read("milter.log"))
        check = INST.run_tables("--check")
        self.assertIn("partner enc: tls = encrypt: " + UNVERIFIED, check.stdout)

    def test_no_password_shown_to_another_server(self):
        self.assertEqual(INST.leaked_passwords(list(P.values())), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
