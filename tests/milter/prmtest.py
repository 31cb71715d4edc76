"""prmtest.py - shared helpers of the Python protocol tests.

TAP-style checks ("ok N - what" / "not ok N - what: got X, want Y"), the
harness's environment (socket, directory, daemon pid), and the expected
modification lists of the test configuration (test.conf.in,
partners.conf.in). Every wait is bounded.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import milterclient as mc  # noqa: E402

SOCKET = os.environ.get("PRM_SOCKET", "")
DIR = os.environ.get("PRM_DIR", "")
PID = int(os.environ.get("PRM_PID", "0"))
LOG = os.path.join(DIR, "daemon.log")

ACME_ROUTE = "partner:[127.0.0.1]:2525"
FROM = "App Notifications <app@platform.example>"

_count = 0
_failed = 0


def check(ok, what, got=None, want=None):
    """Record one check; print TAP."""
    global _count, _failed
    _count += 1
    if ok:
        print("ok %d - %s" % (_count, what))
    else:
        _failed += 1
        print("not ok %d - %s: got %r, want %r" % (_count, what, got, want))
    sys.stdout.flush()
    return ok


def equal(got, want, what):
    return check(got == want, what, got, want)


def done():
    """Print the plan and exit with the result."""
    print("1..%d" % _count)
    sys.exit(1 if _failed or _count == 0 else 0)


def log_text():
    with open(LOG, encoding="utf-8", errors="replace") as f:
        return f.read()


def wait_log(needle, count=1, timeout=10.0):
    """Wait until NEEDLE appears COUNT times in the daemon log (bounded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log_text().count(needle) >= count:
            return True
        time.sleep(0.05)
    return False


def partner_headers(partner="acme", category="aml-alert", extra=()):
    return [("From", FROM), ("To", "Jane <jane@client.example>"), ("Subject", "Alert"),
            ("X-Partner-Id", partner), ("X-Email-Category", category)] + list(extra)


def acme_mods(category="aml-alert", route_copies=0, category_copies=1):
    """The exact modifications of a trusted acme message (decide.cpp order)."""
    mods = [("chgheader", i, "X-Partner-Relay-Route", "") for i in range(route_copies, 0, -1)]
    mods += [("chgheader", 1, "X-Partner-Id", "")]  # [headers] strip_partner = yes
    mods += [("chgheader", i, "X-Email-Category", "") for i in range(category_copies, 0, -1)]
    mods += [("addheader", "X-Email-Category", category),
             ("addheader", "X-Partner-Relay-Route", ACME_ROUTE),
             ("chgheader", 1, "From", "App Notifications <news@acme.example>"),
             ("chgfrom", "<news@acme.example>", "")]
    return mods


def tag_mods(category):
    """A trusted message that goes global: the partner header deleted
    (strip_partner), the category tag replaced, nothing else."""
    return [("chgheader", 1, "X-Partner-Id", ""), ("chgheader", 1, "X-Email-Category", ""),
            ("addheader", "X-Email-Category", category)]


def trusted_session(offer=mc.POSTFIX_V6, daemon_name="ORIGINATING"):
    return mc.session(SOCKET, "app.internal", "10.1.2.3", offer,
                      {"{daemon_name}": daemon_name, "{client_addr}": "10.1.2.3"})


def untrusted_session(offer=mc.POSTFIX_V6):
    return mc.session(SOCKET, "mx.attacker.example", "192.0.2.66", offer,
                      {"{daemon_name}": "ORIGINATING", "{client_addr}": "192.0.2.66"})
