#!/usr/bin/python3
"""test_tables.py - partner-relay-tables(8) and the static recipe tables.

Runs the built partner-relay-tables against partner tables written here,
with a scratch Postfix configuration directory (MAIL_CONFIG) holding a
master.cf made from contrib/postfix/master.cf.fragment, and checks the
written tables with `postmap -q`, their modes, the exit codes, --check,
the warnings, that no password is ever printed, and that the printed
postconf lines build the same master.cf services as the shipped fragment.
Also checks contrib/postfix's regexp tables (route rule, reply filter,
header strip) with `postmap -q`. Needs Postfix's tools, not root.
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prmtest  # noqa: E402

TABLES = prmtest.program("partner-relay-tables")
GAMMA_FP = "6B:86:B2:73:FF:34:FC:E1:9D:6B:80:4E:FF:5A:3F:57:47:AD:A4:EA:A2:2F:1D:49:C0:1E:52:DD:B7:87:5B:4B"
SECRETS = ["acme-secret-1", "beta-secret-2", "gamma-secret-3", "imp-secret-4",
           "m365-client-s3cret-5"]
# An OAuth2 partner on the same relay host as acme and beta.
OAUTH_PARTNER = """
[contoso]
auth = oauth2
host = relay.shared.example
port = 587
username = box@contoso.example
sender = notify@contoso.example
oauth_tenant = contoso.onmicrosoft.com
oauth_client_id = 11111111-2222-3333-4444-555555555555
oauth_client_secret = m365-client-s3cret-5
"""
PARTNERS = """\
[acme]
host = relay.shared.example
port = 587
username = acme-user
password = acme-secret-1
sender = news@acme.example
tls = encrypt

[beta]
host = relay.shared.example
port = 587
username = beta-user
password = beta-secret-2
sender = info@beta.example
tls = secure

[gamma]
host = 127.0.0.1
port = 2525
username = gamma-user
password = gamma-secret-3
sender = g@gamma.example
tls_fingerprint = 6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b

[imp]
host = smtps.imp.example
port = 465
username = imp-user
password = imp-secret-4
sender = hello@imp.example

[delta]
host = relay.delta.example
port = 587
username = delta-user
sender = d@delta.example
"""


class Tables(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not shutil.which("postmap", path="/usr/sbin:/usr/bin"):
            raise unittest.SkipTest("postmap missing (Debian package postfix)")
        if not os.access(TABLES, os.X_OK):
            raise unittest.SkipTest("%s not built" % TABLES)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="prm-tables-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.etc = self.mkdir("etc")
        self.out = os.path.join(self.dir, "out")
        self.write("etc/main.cf", "compatibility_level = 3.6\nmyhostname = mta.example\n")
        master = self.fragment("master.cf.fragment").replace(
            "127.0.0.1]:10027", "127.0.0.1]:12027").replace(
            "127.0.0.1:10027", "127.0.0.1:12027").replace(
            "127.0.0.1]:10465", "127.0.0.1]:12465").replace(
            "127.0.0.1:10465", "127.0.0.1:12465")
        self.write("etc/master.cf", master)
        self.conf = self.write("milter.conf",
                               "[milter]\npartners = %s\nfallback_sender = nr@platform.example\n"
                               "socket = inet:8895@127.0.0.1\n"
                               "allowed_private_relays = 127.0.0.0/8\n"
                               % os.path.join(self.dir, "partners.conf"))
        self.partners = self.write("partners.conf", PARTNERS, 0o600)

    # -- helpers ----------------------------------------------------------------

    def mkdir(self, rel):
        path = os.path.join(self.dir, rel)
        os.makedirs(path, exist_ok=True)
        return path

    def write(self, rel, text, mode=0o644):
        path = os.path.join(self.dir, rel)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    @staticmethod
    def fragment(name):
        with open(os.path.join(prmtest.CONTRIB, name), encoding="utf-8") as f:
            return f.read()

    def env(self, etc=None):
        e = dict(os.environ)
        e["MAIL_CONFIG"] = etc or self.etc
        e["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
        return e

    def tables(self, *args, etc=None):
        """Run partner-relay-tables; return (status, stdout, stderr)."""
        p = subprocess.run([TABLES] + list(args), env=self.env(etc), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        for secret in SECRETS:
            self.assertNotIn(secret, p.stdout + p.stderr, "a password was printed")
        return p.returncode, p.stdout, p.stderr

    def query(self, key, table, dbtype="hash"):
        """postmap -q KEY TYPE:TABLE; None when not found."""
        p = subprocess.run(["postmap", "-q", key, "%s:%s" % (dbtype, table)],
                           env=self.env(), text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        return p.stdout.strip() if p.returncode == 0 else None

    def mode(self, path):
        return stat.S_IMODE(os.stat(path).st_mode)

    # -- partner-relay-tables ---------------------------------------------------

    def test_writes_sasl_and_tls_policy(self):
        rc, out, err = self.tables("-c", self.conf, "-o", self.out)
        self.assertEqual(rc, 0, "exit: got %d, want 0\n%s" % (rc, err))
        sasl = os.path.join(self.out, "sasl_passwd")
        tls = os.path.join(self.out, "tls_policy")
        want_sasl = {"news@acme.example": "acme-user:acme-secret-1",
                     "info@beta.example": "beta-user:beta-secret-2",
                     "g@gamma.example": "gamma-user:gamma-secret-3",
                     "hello@imp.example": "imp-user:imp-secret-4",
                     "d@delta.example": None}
        for key, want in want_sasl.items():
            got = self.query(key, sasl)
            self.assertEqual(got, want, "sasl_passwd[%s]: got %r, want %r" % (key, got, want))
        want_tls = {
            "[relay.shared.example]:587":
                "secure match=relay.shared.example servername=relay.shared.example",
            # An IP literal pinned by its certificate (issue 12).
            "[127.0.0.1]:2525": "fingerprint match=%s" % GAMMA_FP,
            # The default for a DNS name: chain and name verified, SNI.
            "[smtps.imp.example]:465":
                "secure match=smtps.imp.example servername=smtps.imp.example",
            "[relay.delta.example]:587": None,
            "[127.0.0.1]:12027": "none",
            "[127.0.0.1]:12465": "encrypt",
        }
        for key, want in want_tls.items():
            got = self.query(key, tls)
            self.assertEqual(got, want, "tls_policy[%s]: got %r, want %r" % (key, got, want))
        for path, want in ((sasl, 0o600), (sasl + ".db", 0o600), (tls, 0o644),
                           (tls + ".db", 0o644)):
            self.assertEqual(self.mode(path), want, "%s mode: got %o, want %o"
                             % (path, self.mode(path), want))
        self.assertIn("share [relay.shared.example]:587 with different tls levels; using secure", err)
        leftovers = [f for f in os.listdir(self.out) if f.startswith(".")]
        self.assertEqual(leftovers, [], "temporary files left: %r" % leftovers)
        self.assertIn("postconf -e 'smtpd_milters = inet:127.0.0.1:8895'", out)

    def test_sender_postfix_cannot_look_up_is_refused(self):
        """Issue 17 finding 4: a '#' sender (a comment line in sasl_passwd) or a
        quoted local part (not the form Postfix looks up) is refused, named in
        --check, and gets no sasl_passwd line; the others are still found by
        `postmap -q` (which partner-relay-tables now checks itself)."""
        extra = ('\n[hashy]\nhost = relay.hashy.example\nport = 587\nusername = h-user\n'
                 'password = hashy-secret-5\nsender = #news@hashy.example\n'
                 '\n[quoted]\nhost = relay.quoted.example\nport = 587\nusername = q-user\n'
                 'password = quoted-secret-6\nsender = "news"@quoted.example\n')
        self.write("partners.conf", PARTNERS + extra, 0o600)
        rc, out, err = self.tables("-c", self.conf, "--check")
        for pid in ("hashy", "quoted"):
            line = [l for l in (out + err).splitlines() if l.startswith(pid + ":")]
            self.assertTrue(line and "inactive" in line[0] and "Postfix" in line[0],
                            "%s not refused: %r\n%s%s" % (pid, line, out, err))
        rc, out, err = self.tables("-c", self.conf, "-o", self.out)
        self.assertEqual(rc, 0, "exit: got %d, want 0\n%s" % (rc, err))
        for secret in ("hashy-secret-5", "quoted-secret-6"):
            self.assertNotIn(secret, out + err, "a password was printed")
        with open(os.path.join(self.out, "sasl_passwd"), encoding="utf-8") as f:
            src = f.read()
        self.assertNotIn("hashy", src, "the '#' sender was written to sasl_passwd")
        self.assertNotIn("quoted", src, "the quoted sender was written to sasl_passwd")
        sasl = os.path.join(self.out, "sasl_passwd")
        self.assertEqual(self.query("news@acme.example", sasl), "acme-user:acme-secret-1")

    def test_lmdb_database_type(self):
        self.write("etc/main.cf", "compatibility_level = 3.6\nmyhostname = mta.example\ndefault_database_type = lmdb\n")
        rc, out, err = self.tables("-c", self.conf, "-o", self.out)
        self.assertEqual(rc, 0, "exit: got %d, want 0\n%s" % (rc, err))
        sasl = os.path.join(self.out, "sasl_passwd")
        self.assertTrue(os.path.exists(sasl + ".lmdb"), "no sasl_passwd.lmdb: %r"
                        % os.listdir(self.out))
        self.assertFalse(os.path.exists(sasl + ".db"), "hash database written for lmdb")
        got = self.query("news@acme.example", sasl, "lmdb")
        self.assertEqual(got, "acme-user:acme-secret-1")
        self.assertEqual(self.mode(sasl + ".lmdb"), 0o600)

    def test_rewrite_replaces_tables(self):
        self.assertEqual(self.tables("-c", self.conf, "-o", self.out)[0], 0)
        self.write("partners.conf", PARTNERS.replace("news@acme.example", "new@acme.example"), 0o600)
        self.assertEqual(self.tables("-c", self.conf, "-o", self.out)[0], 0)
        sasl = os.path.join(self.out, "sasl_passwd")
        self.assertEqual(self.query("new@acme.example", sasl), "acme-user:acme-secret-1")
        self.assertEqual([f for f in os.listdir(self.out) if f.startswith(".")], [])
        # Mail queued under the former sender still leaves with AUTH: its
        # entry stays for the grace period; --grace 0 drops it.
        self.assertEqual(self.query("news@acme.example", sasl), "acme-user:acme-secret-1",
                         "the former sender lost its entry at once")
        rc, out, err = self.tables("-c", self.conf, "-o", self.out, "--grace", "0")
        self.assertEqual(rc, 0, err)
        self.assertIsNone(self.query("news@acme.example", sasl), "old sender still in table")
        self.assertFalse(os.path.exists(os.path.join(self.out, "removed")))

    def test_removed_partner_kept_for_the_grace_period(self):
        """A partner removed from the table stops being published (the stamp)
        at once, but its SASL and TLS policy entries stay until the grace
        period ends, counted from the first run without it."""
        self.assertEqual(self.tables("-c", self.conf, "-o", self.out)[0], 0)
        cut = PARTNERS[:PARTNERS.index("[beta]")] + PARTNERS[PARTNERS.index("[gamma]"):]
        self.write("partners.conf", cut, 0o600)
        sasl = os.path.join(self.out, "sasl_passwd")
        tls = os.path.join(self.out, "tls_policy")
        rc, out, err = self.tables("-c", self.conf, "-o", self.out, "--grace", "1h")
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"1 entry of removed partners \(or former senders\) kept until ")
        self.assertNotIn("beta-secret-2", out + err)
        self.assertEqual(self.query("info@beta.example", sasl), "beta-user:beta-secret-2")
        with open(os.path.join(self.out, "published"), encoding="utf-8") as f:
            self.assertNotIn("beta", f.read(), "a removed partner is still published")
        with open(os.path.join(self.out, "removed"), encoding="utf-8") as f:
            state = f.read()
        self.assertIn("sasl_passwd\tinfo@beta.example\t", state)
        self.assertNotIn("beta-secret-2", state)
        self.assertEqual(self.mode(os.path.join(self.out, "removed")), 0o600)
        # The shared host's policy is acme's (still there); beta had no own one.
        self.assertIsNotNone(self.query("[relay.shared.example]:587", tls))
        # The period counts from the first run without the partner.
        with open(os.path.join(self.out, "removed"), "w", encoding="utf-8") as f:
            f.write(state.replace(state.split("\t")[-1], "1\n"))
        rc, out, err = self.tables("-c", self.conf, "-o", self.out, "--grace", "1h")
        self.assertEqual(rc, 0, err)
        self.assertIsNone(self.query("info@beta.example", sasl), "kept past the grace period")

    def test_no_postmap(self):
        rc, out, err = self.tables("-c", self.conf, "-o", self.out, "--no-postmap")
        self.assertEqual(rc, 0, err)
        # The sources and the published stamp (the databases are the site's step).
        self.assertEqual(sorted(os.listdir(self.out)), ["published", "sasl_passwd", "tls_policy"])

    def test_check_reports_each_partner(self):
        rc, out, err = self.tables("-c", self.conf, "--check")
        self.assertEqual(rc, 1, "exit with an inactive partner: got %d, want 1" % rc)
        self.assertIn("acme: active partner:[relay.shared.example]:587 tls=encrypt", out)
        # An explicit encrypt is warned about, on stdout and stderr (issue 12).
        self.assertIn("warning: partner acme: tls = encrypt: credentials go to an unverified "
                      "server", out)
        self.assertIn("partner acme: tls = encrypt: credentials go to an unverified server", err)
        self.assertNotIn("partner imp: tls", out + err, "a verified partner warned about")
        self.assertIn("imp: active partner-smtps:[smtps.imp.example]:465 tls=secure", out)
        self.assertIn("gamma: active partner:[127.0.0.1]:2525 tls=fingerprint", out)
        self.assertIn("imp: active partner-smtps:[smtps.imp.example]:465", out)
        self.assertIn("delta: inactive: missing password", out)
        self.assertFalse(os.path.exists(self.out), "--check wrote the output directory")
        self.write("partners.conf", PARTNERS.split("[delta]")[0], 0o600)
        rc, out, err = self.tables("-c", self.conf, "--check")
        self.assertEqual(rc, 0, "exit with all active: got %d, want 0\n%s" % (rc, out))
        self.assertIn("4 of 4 partners active", out)

    def test_oauth2_partner_tls_policy_but_no_sasl_entry(self):
        self.write("partners.conf", PARTNERS + OAUTH_PARTNER, 0o600)
        rc, out, err = self.tables("-c", self.conf, "-o", self.out)
        self.assertEqual(rc, 0, err)
        sasl = os.path.join(self.out, "sasl_passwd")
        tls = os.path.join(self.out, "tls_policy")
        # Its token comes from partner-relay-tokend, never from sasl_passwd.
        self.assertIsNone(self.query("notify@contoso.example", sasl))
        self.assertEqual(self.query("news@acme.example", sasl), "acme-user:acme-secret-1")
        self.assertEqual(self.query("[relay.shared.example]:587", tls),
                         "secure match=relay.shared.example servername=relay.shared.example")
        with open(sasl, encoding="utf-8") as f:
            self.assertNotIn("contoso", f.read())
        self.assertIn("smtp_sasl_password_maps=socketmap:unix:private/"
                      "partner-relay-tokens:xoauth2", out)
        rc, out, err = self.tables("-c", self.conf, "--check")
        self.assertIn("contoso: active partner-oauth:[relay.shared.example]:587 tls=secure "
                      "sender=notify@contoso.example auth=oauth2 "
                      "token_host=login.microsoftonline.com", out)
        self.assertNotIn("11111111-2222", out + err)

    def test_oauth2_partner_with_a_password_is_inactive(self):
        self.write("partners.conf", PARTNERS + OAUTH_PARTNER + "password = oops-pw-123\n", 0o600)
        rc, out, err = self.tables("-c", self.conf, "--check")
        self.assertEqual(rc, 1)
        self.assertIn("contoso: inactive", out)
        self.assertNotIn("oops-pw-123", out + err)

    def test_mode_warning(self):
        os.chmod(self.partners, 0o640)
        rc, out, err = self.tables("-c", self.conf, "--check")
        self.assertIn("chmod 600", err, "no warning for a group-readable table")
        self.assertEqual(err.count("chmod 600"), 1, "warned more than once:\n" + err)
        os.chmod(self.partners, 0o600)
        rc, out, err = self.tables("-c", self.conf, "--check")
        self.assertNotIn("chmod 600", err, "warning for a 0600 table")

    def test_exit_codes(self):
        self.assertEqual(self.tables("--bogus")[0], 64, "usage error")
        self.assertEqual(self.tables("-c")[0], 64, "missing argument")
        self.assertEqual(self.tables("-c", os.path.join(self.dir, "missing.conf"))[0], 78,
                         "missing main config")
        self.assertEqual(self.tables("-c", self.conf, "-o",
                                     os.path.join(self.dir, "no", "such", "dir"))[0], 73,
                         "unwritable output directory")
        empty = self.mkdir("empty-etc")  # no main.cf: postconf and postmap fail
        rc, out, err = self.tables("-c", self.conf, "-o", self.out, etc=empty)
        self.assertEqual(rc, 69, "postmap unusable: got %d, want 69\n%s" % (rc, err))
        self.assertFalse(os.path.exists(os.path.join(self.out, "sasl_passwd")),
                         "a table was installed although postmap failed")

    def test_printed_postconf_lines_match_the_fragment(self):
        # Tests never write outside their temporary directory (README command
        # 2 may run on a production MTA): the tables go to self.out, and the
        # printed lines, which name that directory, are compared after
        # putting the recipe's default directory in its place.
        rc, out, err = self.tables("-c", self.conf, "-o", self.out,
                                   "--no-postmap", etc=self.mkdir("noetc"))
        # Note: noetc has no master.cf, so the recipe's default ports are used.
        self.assertEqual(rc, 0, err)
        applied = self.mkdir("applied")
        self.write("applied/main.cf", "compatibility_level = 3.6\nmyhostname = mta.example\n")
        self.write("applied/master.cf", "")
        lines = [l for l in out.splitlines() if l.startswith("postconf ")]
        self.assertGreaterEqual(len(lines), 6, "too few postconf lines:\n" + out)
        named = [l for l in lines if self.out in l]
        self.assertGreaterEqual(len(named), 2, "the printed lines do not name -o %s:\n%s"
                                % (self.out, out))
        self.assertFalse([l for l in lines if prmtest.RECIPE_DIR in l],
                         "a printed line names the default directory, not -o:\n" + out)
        lines = [l.replace(self.out, prmtest.RECIPE_DIR) for l in lines]
        p = subprocess.run(["sh", "-e", "-c", "\n".join(lines)], env=self.env(applied),
                           text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(p.returncode, 0, p.stdout)
        shipped = self.mkdir("shipped")
        self.write("shipped/main.cf", "compatibility_level = 3.6\nmyhostname = mta.example\n" + self.fragment(
            "main.cf.fragment").replace(prmtest.RECIPE_SOCKET, "inet:127.0.0.1:8895"))
        self.write("shipped/master.cf", self.fragment("master.cf.fragment"))
        for flag in ("-M", "-P", "-n"):
            got = self.postconf(applied, flag)
            want = self.postconf(shipped, flag)
            self.assertEqual(got, want, "postconf %s differs between the printed lines "
                             "and contrib/postfix" % flag)

    def test_relay_cafile_carried_to_partner_transports(self):
        # Issue 12: [milter] relay_cafile becomes smtp_tls_CAfile (and an
        # empty CApath) on both partner transports; unset, the system store.
        def lines(extra):
            with open(self.conf, "a", encoding="utf-8") as f:
                f.write(extra)
            rc, out, err = self.tables("-c", self.conf, "-o", self.out, "--no-postmap")
            self.assertEqual(rc, 0, err)
            return {l.split("/", 1)[0].split("'")[1]: l for l in out.splitlines()
                    if l.startswith("postconf -M")}
        plain = lines("")
        for svc in ("partner", "partner-smtps"):
            self.assertIn("-o smtp_tls_CApath=/etc/ssl/certs", plain[svc])
            self.assertNotIn("smtp_tls_CAfile", plain[svc])
            self.assertIn("-o smtp_tls_fingerprint_digest=sha256", plain[svc])
        ca = lines("relay_cafile = /srv/pki/partner-ca.pem\n")
        for svc in ("partner", "partner-smtps"):
            self.assertIn("-o smtp_tls_CAfile=/srv/pki/partner-ca.pem -o smtp_tls_CApath= ",
                          ca[svc])
        self.assertNotIn("CAfile", ca["cleanup-fb"] + ca["127.0.0.1:12027"])

    def postconf(self, etc, flag):
        """Sorted `postconf FLAG` lines of config directory ETC."""
        p = subprocess.run(["postconf", flag], env=self.env(etc), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 0, p.stderr)
        return sorted(" ".join(l.split()) for l in p.stdout.splitlines()
                      if not l.startswith("config_directory"))

    # -- contrib/postfix regexp tables -------------------------------------------

    def recipe_query(self, table, key):
        return self.query(key, os.path.join(prmtest.CONTRIB, table), "regexp")

    def test_route_rule(self):
        h = "X-Partner-Relay-Route: "
        cases = [
            (h + "partner:[relay.acme.example]:587", "FILTER partner:[relay.acme.example]:587"),
            (h + "partner-smtps:[127.0.0.1]:465", "FILTER partner-smtps:[127.0.0.1]:465"),
            (h + "partner-oauth:[smtp.office365.com]:587",
             "FILTER partner-oauth:[smtp.office365.com]:587"),
            (h + "partner-oauthx:[smtp.office365.com]:587", None),
            ("x-partner-relay-route: partner:[a.example]:25", "FILTER partner:[a.example]:25"),
            (h + "smtp:[evil.example]:25", None),
            (h + "partner:[a.example]:25, partner:[b.example]:25", None),
            (h + "partner:[a.example]:25 partner:[b.example]:25", None),
            (h + "partner:[a.example]:123456", None),
            (h + "partner:a.example:25", None),
            (h + "partner:[a/b]:25", None),
            ("X-Partner-Relay-Route-X: partner:[a.example]:25", None),
        ]
        for key, want in cases:
            with self.subTest(header=key):
                got = self.recipe_query("milter_header_checks", key)
                self.assertEqual(got, want, "got %r, want %r" % (got, want))

    def test_reply_filter(self):
        cases = [
            ("550 5.1.1 Recipient rejected", "450 4.1.1 Recipient rejected"),
            ("554-5.7.1 first line", "454-4.7.1 first line"),
            ("535 5.7.8 Authentication failed", "435 4.7.8 Authentication failed"),
            ("554 No SMTP service here", "454 No SMTP service here"),
            ("550 5.1.1 <x@y>: rejected [partner-relay-fallback]", None),
            ("451 4.3.0 try later", None),
            ("250 2.0.0 Ok", None),
        ]
        for key, want in cases:
            with self.subTest(reply=key):
                got = self.recipe_query("smtp_reply_filter", key)
                self.assertEqual(got, want, "got %r, want %r" % (got, want))

    def test_header_strip(self):
        got = self.recipe_query("smtp_header_checks", "X-Partner-Relay-Route: partner:[a]:1")
        self.assertEqual(got, "IGNORE")
        got = self.recipe_query("smtp_header_checks", "X-Partner-Id: acme")
        self.assertIsNone(got, "X-Partner-Id: got %r, want no match" % got)


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    if r.testsRun and len(r.skipped) == r.testsRun:
        sys.exit(prmtest.SKIP)
    sys.exit(0 if r.wasSuccessful() else 1)
