#!/usr/bin/python3
"""test_demo.py - the demo (README command 1) keeps working.

Runs contrib/demo/demo.sh against this build tree, as `contrib/run.sh demo`
does, and checks its exit status (0: every message where the rules say),
its summary line, and that the table has exactly one row per partner and
category with the route the rules give (acme complete, nopass and nosender
inactive, down falling back), each marked ok. Also: demo.sh refuses a
build tree without the programs (exit 2). About 12 s.
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
PARTNERS = ["acme", "nopass", "nosender", "down"]


def want_route(partner, category):
    """The expected-route cell the product rules give."""
    if category in OTHER or partner in ("nopass", "nosender"):
        return "global"
    return "partner" if partner == "acme" else "partner>fallback"


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
            cells = line.split()
            if len(cells) == 8 and cells[1] in PARTNERS:
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
                    landed = "acme" if want_route(p, c) == "partner" else "global"
                    self.assertEqual(cells[3], landed, "landed at: got %r, want %r"
                                     % (cells[3], landed))
                    self.assertEqual(cells[7], "ok", "row: got %r, want it ok" % cells)
        self.assertEqual(len(rows), len(PARTNERS) * (len(ELIGIBLE) + len(OTHER)),
                         "table rows: got %d distinct" % len(rows))

    def test_no_password_printed(self):
        leaked = re.findall(r"\S+-secret-pw|platform-global-secret", self.out)
        self.assertEqual(leaked, [], "the demo printed passwords: %r" % leaked)

    def test_refuses_missing_build(self):
        p = subprocess.run(["sh", DEMO_SH, "/nonexistent-build"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, "exit: got %d, want 2\n%s" % (p.returncode, p.stdout))
        self.assertIn("is missing", p.stdout)


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
