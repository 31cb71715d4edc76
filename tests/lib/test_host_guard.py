#!/usr/bin/python3
"""test_host_guard.py - tests/host_guard.py catches every kind of change.

Points the guard (PRM_GUARD_ROOTS) at a scratch tree in a temporary
directory, takes a snapshot, and checks that compare passes on the same
tree and fails, naming the path, after each change a stray test could make:
content, mode, a new file, a removed file, a symlink retargeted, a watched
tree created. Runs in well under a second; standard library only.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

GUARD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "host_guard.py")


class HostGuard(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="prm-guard-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.etc = os.path.join(self.dir, "etc-postfix")
        os.makedirs(os.path.join(self.etc, "partner-relay"))
        self.file("main.cf", "relayhost = [relay.example]\n")
        self.file("partner-relay/sasl_passwd", "x y:z\n", 0o600)
        os.symlink("main.cf", os.path.join(self.etc, "link"))
        self.absent = os.path.join(self.dir, "etc-mail")
        self.snap = os.path.join(self.dir, "snapshot")
        self.env = dict(os.environ, PRM_GUARD_ROOTS="%s:%s" % (self.etc, self.absent))

    def file(self, rel, text, mode=0o644):
        path = os.path.join(self.etc, rel)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def guard(self, *args):
        p = subprocess.run([sys.executable, GUARD] + list(args), env=self.env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        return p.returncode, p.stdout

    def assert_caught(self, what, path):
        rc, out = self.guard("compare", self.snap)
        self.assertEqual(rc, 1, "%s: got exit %d, want 1\n%s" % (what, rc, out))
        self.assertIn("FAIL: a test changed the host: " + path, out, what)

    def test_unchanged_passes(self):
        self.assertEqual(self.guard("snapshot", self.snap)[0], 0)
        rc, out = self.guard("compare", self.snap)
        self.assertEqual(rc, 0, "unchanged tree: got %d\n%s" % (rc, out))
        self.assertNotIn("FAIL", out)

    def test_each_change_is_caught(self):
        changes = [
            ("content", "partner-relay/sasl_passwd",
             lambda: self.file("partner-relay/sasl_passwd", "x y:other\n", 0o600)),
            ("mode", "main.cf", lambda: os.chmod(os.path.join(self.etc, "main.cf"), 0o600)),
            ("new file", "partner-relay/tls_policy",
             lambda: self.file("partner-relay/tls_policy", "[a]:25 encrypt\n")),
            ("removed file", "partner-relay/sasl_passwd",
             lambda: os.unlink(os.path.join(self.etc, "partner-relay", "sasl_passwd"))),
            ("symlink target", "link", lambda: (os.unlink(os.path.join(self.etc, "link")),
                                                os.symlink("other", os.path.join(self.etc, "link")))),
        ]
        for what, rel, change in changes:
            with self.subTest(what):
                self.assertEqual(self.guard("snapshot", self.snap)[0], 0)
                change()
                self.assert_caught(what, os.path.join(self.etc, rel))

    def test_created_tree_is_caught(self):
        self.assertEqual(self.guard("snapshot", self.snap)[0], 0)
        os.makedirs(self.absent)
        self.assert_caught("created tree", self.absent)

    def test_missing_snapshot_is_a_hard_error(self):
        rc, out = self.guard("compare", os.path.join(self.dir, "none"))
        self.assertEqual(rc, 99, "no snapshot: got %d, want 99\n%s" % (rc, out))
        self.assertEqual(self.guard("bogus", self.snap)[0], 2, "usage error")


if __name__ == "__main__":
    unittest.main()
