#!/usr/bin/python3
"""test_demo.py - the demo (README command 1) keeps working.

Runs contrib/demo/demo.sh against this build tree, as `contrib/run.sh demo`
does, and checks its exit status (0: every message where the rules say),
its summary line, and that the table has exactly one row per partner and
category with the route the rules give (acme complete, nopass and nosender
inactive, down falling back because its relay refuses connections, badcert
falling back because its relay's certificate does not verify under the
default tls level, secure; contoso, auth = oauth2, its eligible mail at its
own relay), each with the From address, the AUTH mechanism (XOAUTH2 for
contoso's partner mail, a password mechanism everywhere else) and the TLS
session the rules give (partner mail over a session Postfix verified
against the demo CA of relay_cafile) and marked ok, that badcert's relay
never received an AUTH command, that no relay saw the X-Partner-Id header,
that contoso's token took one fetch from the endpoint and every XOAUTH2
login at its relay used it (none elsewhere), and that no password, client
secret or token was printed. Also: demo.sh refuses a build tree without
the programs (exit 2). About 15 s.
Exit 77 (skip) unless root with Postfix installed.
"""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prmtest  # noqa: E402

DEMO_SH = os.path.join(prmtest.SRCDIR, "contrib", "demo", "demo.sh")
ELIGIBLE = ["verification-link", "verification-url", "kyb-info-request",
            "kyb-expiration-extension", "custom", "verification-result",
            "aml-alert", "expiration-reminder", "webhook-failure",
            "finance-report", "admin-notification"]
OTHER = ["account-security", "unclassified"]
PARTNERS = ["acme", "nopass", "nosender", "down", "badcert", "contoso"]
# Partners whose eligible mail lands at their own relay, and the AUTH
# mechanism it must carry there.
OWN_RELAY = {"acme": ("PLAIN", "LOGIN"), "contoso": ("XOAUTH2",)}
# Why a partner's eligible mail falls back, as Postfix logs it.
CAUSE = {"down": "Connection refused", "badcert": "hostname mismatch"}
COLUMNS = 11  # category ... fallback cause, ok


def want_route(partner, category):
    """The expected-route cell the product rules give."""
    if category in OTHER or partner in ("nopass", "nosender"):
        return "global"
    return "partner" if partner in OWN_RELAY else "partner>fallback"


def want_from(partner, route):
    """The From address the relay must see for ROUTE."""
    return {"partner": "mail@%s.example" % partner, "global": "app@platform.example",
            "partner>fallback": prmtest.FALLBACK_SENDER}[route]


def want_auth(partner, route):
    """(AUTH user, mechanisms) the landing relay must have seen."""
    if route == "partner":
        user = "box@contoso.example" if partner == "contoso" else partner + "-user"
        return user, OWN_RELAY[partner]
    return prmtest.GLOBAL_USER, ("PLAIN", "LOGIN")


def cells_of(line):
    """The cells of a table line (columns are two or more spaces apart)."""
    return re.split(r" {2,}", line.strip())


class Demo(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        prmtest.require_root_and_postfix()
        env = dict(os.environ)
        env.pop("PRM_KEEP", None)
        cls.proc = subprocess.run(["sh", DEMO_SH, prmtest.builddir()], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=180)
        cls.out = cls.proc.stdout

    def test_exit_status_and_summary(self):
        self.assertEqual(self.proc.returncode, 0, "demo exit: got %d, want 0\n%s"
                         % (self.proc.returncode, self.out))
        n = len(PARTNERS) * (len(ELIGIBLE) + len(OTHER))
        want = "demo: %d messages, %d where expected" % (n, n)
        self.assertIn(want, self.out, "summary: want %r in\n%s" % (want, self.out))

    def test_table_has_every_row(self):
        rows = {}
        for line in self.out.splitlines():
            cells = cells_of(line)
            if len(cells) == COLUMNS and cells[1] in PARTNERS:
                rows.setdefault((cells[1], cells[0]), []).append(cells)
        for p in PARTNERS:
            for c in ELIGIBLE + OTHER:
                with self.subTest(partner=p, category=c):
                    got = rows.get((p, c), [])
                    self.assertEqual(len(got), 1, "rows for %s/%s: got %d, want 1"
                                     % (p, c, len(got)))
                    cells = got[0]
                    self.assertEqual(cells[2], want_route(p, c), "expected route: got %r, "
                                     "want %r" % (cells[2], want_route(p, c)))
                    route = want_route(p, c)
                    landed = p if route == "partner" else "global"
                    self.assertEqual(cells[3], landed, "landed at: got %r, want %r"
                                     % (cells[3], landed))
                    self.assertEqual(cells[4], want_from(p, route), "From seen: got %r, want %r"
                                     % (cells[4], want_from(p, route)))
                    user, mechs = want_auth(p, route)
                    self.assertEqual(cells[5], user, "AUTH user: %r" % cells)
                    self.assertIn(cells[6], mechs, "AUTH mechanism: %r" % cells)
                    # TLS at relay: every landing over TLS; a partner's
                    # relay only over a session Postfix verified.
                    self.assertRegex(cells[7], r"^TLSv1\.[23] ", "TLS at relay: %r" % cells)
                    if route == "partner":
                        self.assertEqual(cells[7].split()[1], "verified",
                                         "TLS to the partner relay: %r" % cells)
                    if route == "partner>fallback":
                        self.assertIn(CAUSE[p], cells[9], "fallback cause: %r" % cells)
                    self.assertEqual(cells[10], "ok", "row: got %r, want it ok" % cells)
        self.assertEqual(len(rows), len(PARTNERS) * (len(ELIGIBLE) + len(OTHER)),
                         "table rows: got %d distinct" % len(rows))

    def test_unverified_relay_saw_no_auth(self):
        want = "demo: AUTH commands badcert's relay received: 0 "
        self.assertIn(want, self.out, "want %r in\n%s" % (want, self.out))

    def test_tenant_header_reached_no_relay(self):
        want = "demo: messages that reached a relay with X-Partner-Id: 0 "
        self.assertIn(want, self.out, "want %r in\n%s" % (want, self.out))

    def test_oauth_partner_one_fetch_its_token(self):
        want = "demo: contoso: token endpoint requests 1, fetches by partner-relay-tokend 1 "
        self.assertIn(want, self.out, "want %r in\n%s" % (want, self.out))
        # One login per SMTP session (Postfix may reuse one for several
        # messages): at least one, each with the endpoint's token.
        m = re.search(r"demo: contoso: XOAUTH2 logins at its relay (\d+), with the "
                      r"endpoint's token (\d+); XOAUTH2 at any other relay (\d+)", self.out)
        self.assertTrue(m, "no XOAUTH2 summary in\n%s" % self.out)
        logins, good, elsewhere = map(int, m.groups())
        self.assertGreaterEqual(logins, 1)
        self.assertEqual((good, elsewhere), (logins, 0), m.group(0))

    def test_no_password_printed(self):
        leaked = re.findall(r"\S+-secret-pw|platform-global-secret|\S+-s3cret-value"
                            r"|fake-token-\S+", self.out)
        self.assertEqual(leaked, [], "the demo printed passwords: %r" % leaked)

    def test_refuses_missing_build(self):
        p = subprocess.run(["sh", DEMO_SH, "/nonexistent-build"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, "exit: got %d, want 2\n%s" % (p.returncode, p.stdout))
        self.assertIn("is missing", p.stdout)


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
