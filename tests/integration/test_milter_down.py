#!/usr/bin/python3
"""test_milter_down.py - scenario 9: the milter stopped, no mail lost.

With the milter stopped, milter_default_action = accept (main.cf.fragment)
must let every message through the global relay, unchanged, even a
partner-eligible one, and even one whose submitter wrote the route header
(milter_header_checks ignores submitted headers); once the milter is back,
partner routing resumes.
One Postfix instance. Exit 77 (skip) unless root with Postfix installed.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prmtest  # noqa: E402
from prmtest import Partner  # noqa: E402

APP = "app@platform.example"
INST = None
ACME = None


def setUpModule():
    global INST, ACME
    prmtest.require_root_and_postfix()
    INST = prmtest.Instance("milterdown")
    ACME = INST.add_partner(Partner("acme"))
    INST.start()


def tearDownModule():
    if INST is not None:
        INST.close()


class MilterDown(unittest.TestCase):

    def fail_with(self, problems):
        """Fail with PROBLEMS and the logs, unless there are none."""
        if problems:
            self.fail("\n".join(problems) + "\n" + INST.diagnostics())

    def test_milter_down_then_back(self):
        # Stopped: partner-eligible and plain mail both go global, as sent.
        INST.stop_milter()
        down = [INST.send([("X-Partner-Id", "acme"), ("X-Email-Category", c)])
                for c in ("custom", "verification-link", "finance-report")]
        down.append(INST.send([]))
        # A submitted route header must not route: milter_header_checks
        # only sees headers that a milter added (and here none runs).
        down.append(INST.send([("X-Partner-Relay-Route",
                                "partner:[%s]:%d" % (ACME.host, ACME.port))]))
        settled = INST.wait_settled(down, timeout=30)
        self.assertTrue(settled, "not settled with the milter down: queue %s\n%s"
                        % (INST.queue_files(), INST.diagnostics()))
        for tok in down:
            # Without the milter nobody removes the submitted route header.
            self.fail_with(INST.check_arrival(tok, "global", APP, APP, prmtest.GLOBAL_USER,
                                              route_header_ok=tok == down[-1],
                                              partner_header_ok=True))
        for tok in down:
            tags = prmtest.header_values(INST.arrivals(tok)[0], "X-Partner-Id")
            self.assertEqual(tags, ["acme"] if tok in down[:3] else [],
                             "X-Partner-Id untouched without the milter: got %r" % tags)

        # Back: the same kind of message is routed to the partner again
        # (proves the instance could route, so the part above means something).
        INST.start_milter()
        tok = INST.send([("X-Partner-Id", "acme"), ("X-Email-Category", "custom")])
        self.assertTrue(INST.wait_settled([tok], timeout=30),
                        "not settled after restart\n" + INST.diagnostics())
        self.fail_with(INST.check_arrival(tok, ACME.relay, ACME.sender, ACME.sender,
                                          ACME.username))
        self.assertEqual(INST.leaked_passwords([ACME]), [])


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
