#!/usr/bin/python3
"""test_waiting.py - a partner is routed only once partner-relay-tables ran
(issue 14 point 5).

What it checks, against a real private Postfix (prmtest.Instance), the real
milter and the real partner-relay-tables:
  - Partner "late" is added to partners.conf and the milter reloaded
    WITHOUT running partner-relay-tables (the forgotten step). The reload
    logs "1 active partner waits for partner-relay-tables: late", `-n`
    reports it (status line and summary), the metrics file counts it
    (partner_relay_partners{status="waiting"} 1), and its mail goes to the
    global relay unchanged (platform From, the global login), with the
    milter's reason waiting-for-tables; the late relay sees no connection
    and no AUTH. The partner published at start keeps being routed.
  - Then partner-relay-tables runs and the milter is reloaded: late's mail
    reaches late's relay as late (its From and envelope sender, its login).
  - A password change without partner-relay-tables makes the partner wait
    again (credentials changed since the stamp was written).

Time: about 8 s. Exit 77 (skip) unless root with Postfix installed.
"""

import os
import pwd
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prmtest  # noqa: E402
from prmtest import Partner  # noqa: E402

APP = "app@platform.example"
INST = None
P = {}


def setUpModule():
    global INST
    prmtest.require_root_and_postfix()
    INST = prmtest.Instance("stamp")
    stats_dir = INST.path("stats")
    os.makedirs(stats_dir)
    pw = pwd.getpwnam(prmtest.MILTER_USER)
    os.chown(stats_dir, pw.pw_uid, pw.pw_gid)
    INST.config_extra = "stats_file = %s\nstats_interval = 1\n" % os.path.join(stats_dir, "m.prom")
    P["early"] = INST.add_partner(Partner("early"))
    INST.start()


def tearDownModule():
    if INST is not None:
        INST.close()


def reload_to(generation):
    """Reload the milter and wait for its generation line; the line."""
    INST.reload_milter()
    want = "reloaded configuration generation %d" % generation
    ok = prmtest.spool.wait_for(lambda: want in INST.read("milter.log"), 15, 0.05)
    if not ok:
        raise AssertionError("no %r in milter.log\n%s" % (want, INST.diagnostics()))
    return [ln for ln in INST.read("milter.log").splitlines() if want in ln][-1]


def check_n():
    """partner-relay-milter -n output (stdout + stderr)."""
    r = subprocess.run([prmtest.program("partner-relay-milter"), "-n", "-c",
                        INST.path("milter.conf")], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def metric_waiting():
    """The waiting gauge from the metrics file, or None."""
    try:
        with open(INST.path("stats", "m.prom"), encoding="utf-8") as f:
            for line in f:
                if line.startswith('partner_relay_partners{status="waiting"}'):
                    return int(float(line.split()[-1]))
    except OSError:
        return None
    return None


def send_for(pid):
    return INST.send([("X-Partner-Id", pid), ("X-Email-Category", "custom")])


class Waiting(unittest.TestCase):

    def test_forgotten_tables_then_published(self):
        # The forgotten step: partners.conf changes, the tables do not.
        P["late"] = INST.add_partner(Partner("late"))
        INST.write_milter_config()
        line = reload_to(2)
        self.assertIn("1 of them waiting for partner-relay-tables", line)
        log = INST.read("milter.log")
        self.assertIn("1 active partner waits for partner-relay-tables: late", log)

        rc, out = check_n()
        self.assertEqual(rc, 0, out)
        self.assertIn("late: active, waiting for partner-relay-tables", out)
        self.assertIn("early: active\n", out)
        self.assertIn("2 of 2 partners active, 1 of them waiting", out)
        self.assertTrue(prmtest.spool.wait_for(lambda: metric_waiting() == 1, 10, 0.2),
                        "metrics: waiting gauge %r, want 1" % metric_waiting())

        t_late, t_early = send_for("late"), send_for("early")
        self.assertTrue(INST.wait_settled([t_late, t_early], timeout=60), INST.diagnostics())
        problems = INST.check_arrival(t_late, "global", APP, APP, prmtest.GLOBAL_USER)
        problems += INST.check_arrival(t_early, "early", P["early"].sender, P["early"].sender,
                                       P["early"].username)
        self.assertEqual(problems, [], "\n".join(problems) + "\n" + INST.diagnostics())
        lines = INST.milter_lines(t_late)
        self.assertTrue(lines and all("route=global reason=waiting-for-tables" in ln
                                      for ln in lines), lines)
        self.assertEqual([e for e in INST.auth_events() if e.get("server") == "late"], [])

        # The step done: tables written, milter reloaded: late is routed.
        INST.update_partners()
        line = reload_to(3)
        self.assertNotIn("waiting for", line)
        rc, out = check_n()
        self.assertIn("late: active\n", out)
        self.assertNotIn("waiting for", out)
        self.assertTrue(prmtest.spool.wait_for(lambda: metric_waiting() == 0, 10, 0.2),
                        "metrics: waiting gauge %r, want 0" % metric_waiting())
        t2 = send_for("late")
        self.assertTrue(INST.wait_settled([t2], timeout=60), INST.diagnostics())
        problems = INST.check_arrival(t2, "late", P["late"].sender, P["late"].sender,
                                      P["late"].username)
        self.assertEqual(problems, [], "\n".join(problems) + "\n" + INST.diagnostics())

        # A password change without the tables tool: waiting again.
        P["late"].password = "late-new-secret-pw"
        INST.write_milter_config()
        reload_to(4)
        rc, out = check_n()
        self.assertIn("late: active, waiting for partner-relay-tables: credentials changed", out)
        secrets = [p.password for p in INST.partners]
        for s in secrets:
            self.assertNotIn(s, out)
            self.assertNotIn(s, INST.read(os.path.join("tables", "published")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
