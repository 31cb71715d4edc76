#!/usr/bin/python3
"""test_reload.py - scenario 10: a live partner change under a steady stream.

What it checks, against a real private Postfix (prmtest.Instance):
  - While a sender thread submits STREAM_N messages at a steady pace (mixed
    partners and categories), the operator's change procedure runs: a
    partner is added and another made inactive in partners.conf, the
    tables are regenerated with partner-relay-tables, the milter is
    reloaded (SIGUSR1, waiting for its "reloaded configuration generation
    2" line) and Postfix is reloaded (`postfix reload`).
  - Nothing is lost or duplicated: every Message-ID arrives exactly once,
    and the relays saw no message that was not sent.
  - Messages submitted after the reload completed follow the new routing
    (the added partner's mail reaches its relay as that partner, with its
    credentials; the deactivated partner's mail goes global, unchanged);
    messages submitted before it began follow the old routing. A message
    of the deactivated partner that was still queued when its SASL entry
    disappeared may instead fall back (global relay, platform From): the
    tables must be written before the milter reloads (so that a newly
    active partner never goes out without AUTH), which leaves this window
    for a partner being switched off. Messages submitted during the change
    may follow either routing.
  - Loop guard: with a partner relay that fails at its greeting, each
    message costs that relay exactly one connection (connections.jsonl) and
    arrives exactly once at the global relay, through cleanup-fb: the
    fallback listener never routes it back to the partner, although the
    category tag and the partner From are still in the message.

Time: about 25 s (the stream lasts STREAM_N * PACE seconds).
Exit 77 (skip) unless root with Postfix installed.
"""

import email.utils
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prmtest  # noqa: E402
from prmtest import Partner, header_values  # noqa: E402

APP = "app@platform.example"
FB = prmtest.FALLBACK_SENDER
STREAM_N = 150        # messages in the stream
PACE = 0.1            # seconds between submissions
RELOAD_AT = 50        # start the change after this many submissions
LOOP_N = 3            # messages through the failing partner (loop guard)
KINDS = ("stay", "gone", "new", "global")
CATEGORIES = ("verification-link", "custom", "aml-alert", "finance-report",
              "webhook-failure")
INST = None
P = {}
STREAM = []           # dicts: kind, token, t_start, t_end, error
LOOP = []             # tokens through the failing partner
MARK = {}             # "change_start", "change_done" (time.time())


def setUpModule():
    """Start the instance, run the stream with the change in the middle."""
    global INST
    prmtest.require_root_and_postfix()
    INST = prmtest.Instance("reload")
    P["stay"] = INST.add_partner(Partner("stay"))
    P["gone"] = INST.add_partner(Partner("gone"))
    P["flaky"] = INST.add_partner(Partner("flaky"), fault="greet421")
    INST.start()
    # The partner to add gets its relay now; partners.conf learns about it
    # only in change(), so until then its mail is from an unknown partner.
    P["new"] = INST.add_partner(Partner("new"))

    for _ in range(LOOP_N):
        LOOP.append(INST.send([("X-Partner-Id", "flaky"), ("X-Email-Category", "custom")]))
    sender = threading.Thread(target=stream, daemon=True)
    sender.start()
    prmtest.spool.wait_for(lambda: len(STREAM) >= RELOAD_AT, 30, 0.05)
    change()
    sender.join(STREAM_N * PACE + 60)
    tokens = [s["token"] for s in STREAM if s["token"]] + LOOP
    INST.settled = not sender.is_alive() and INST.wait_settled(tokens, timeout=60)


def tearDownModule():
    if INST is not None:
        INST.close()


def message_for(i):
    """(kind, headers) of the Ith stream message."""
    kind = KINDS[i % len(KINDS)]
    if kind == "global":
        return kind, [("X-Partner-Id", "stay")]  # unclassified: always global
    return kind, [("X-Partner-Id", kind),
                  ("X-Email-Category", CATEGORIES[(i // len(KINDS)) % len(CATEGORIES)])]


def stream():
    """Submit STREAM_N messages, one every PACE seconds (sender thread)."""
    t0 = time.monotonic()
    for i in range(STREAM_N):
        delay = t0 + i * PACE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        kind, headers = message_for(i)
        rec = {"kind": kind, "token": None, "error": None, "t_start": time.time()}
        try:
            rec["token"] = INST.send(headers)
        except Exception as e:  # noqa: BLE001  (recorded, reported by the test)
            rec["error"] = "%s: %s" % (type(e).__name__, e)
        rec["t_end"] = time.time()
        STREAM.append(rec)


def change():
    """The operator's procedure: partners.conf, tables, milter, Postfix."""
    MARK["change_start"] = time.time()
    P["gone"].omit = {"password"}          # incomplete: inactive
    INST.update_partners()                 # writes partners.conf + tables
    INST.reload_milter()
    ok = prmtest.spool.wait_for(
        lambda: "reloaded configuration generation 2" in INST.read("milter.log"), 10, 0.05)
    MARK["milter_reloaded"] = bool(ok)
    prmtest.run(["postfix", "-c", INST.path("etc"), "reload"], env=INST.env())
    MARK["change_done"] = time.time()


def route_of(kind, new):
    """(server, envelope sender, From address, AUTH user) for KIND."""
    g = ("global", APP, APP, prmtest.GLOBAL_USER)
    if kind == "global" or (kind == "gone" and new) or (kind == "new" and not new):
        return g
    p = P[kind]
    return (p.relay, p.sender, p.sender, p.username)


class Reload(unittest.TestCase):

    def test_0_settled(self):
        self.assertTrue(INST.settled, "stream did not settle: queue %s\n%s"
                        % (INST.queue_files(), INST.diagnostics()))
        self.assertTrue(MARK.get("milter_reloaded"),
                        "milter did not log its reload\n" + INST.diagnostics())
        self.assertEqual(len(STREAM), STREAM_N,
                         "stream: got %d submissions, want %d" % (len(STREAM), STREAM_N))
        errors = [s["error"] for s in STREAM if s["error"]]
        self.assertEqual(errors, [], "submissions failed during the change: %r" % errors)

    def test_1_every_message_exactly_once(self):
        sent = {"<%s@prm-test>" % s["token"] for s in STREAM if s["token"]}
        sent |= {"<%s@prm-test>" % t for t in LOOP}
        seen = {}
        for m in INST.arrivals():
            for mid in header_values(m, "Message-ID") or ["(none)"]:
                seen[mid] = seen.get(mid, 0) + 1
        lost = sorted(sent - set(seen))
        dup = sorted(mid for mid, n in seen.items() if n > 1)
        extra = sorted(set(seen) - sent)
        self.assertEqual(lost, [], "lost: got no arrival for %r" % lost)
        self.assertEqual(dup, [], "duplicated: got several arrivals of %r" % dup)
        self.assertEqual(extra, [], "unexpected messages at the relays: %r" % extra)

    def check_route(self, rec, allowed):
        """Problems unless REC's single arrival matches one of ALLOWED."""
        got = INST.arrivals(rec["token"])
        if len(got) != 1:
            return ["%s (%s): got %d arrivals, want 1" % (rec["token"], rec["kind"], len(got))]
        m = got[0]
        have = (m["server"], m["mail_from"],
                email.utils.parseaddr(m.get("from_header") or "")[1], m["auth_user"])
        if have in allowed:
            return []
        return ["%s (%s): got %r, want one of %r" % (rec["token"], rec["kind"], have, allowed)]

    def test_2_before_old_routing_after_new_routing(self):
        start, done = MARK["change_start"], MARK["change_done"]
        counts = {}
        problems = []
        for rec in STREAM:
            if not rec["token"]:
                continue
            if rec["t_end"] < start:
                phase, allowed = "before", [route_of(rec["kind"], False)]
                got = INST.arrivals(rec["token"])
                if rec["kind"] == "gone" and got and got[0]["time"] > start:
                    allowed.append(("global", FB, FB, prmtest.GLOBAL_USER))
            elif rec["t_start"] > done:
                phase, allowed = "after", [route_of(rec["kind"], True)]
            else:
                phase = "during"
                allowed = [route_of(rec["kind"], False), route_of(rec["kind"], True)]
                if rec["kind"] == "gone":
                    allowed.append(("global", FB, FB, prmtest.GLOBAL_USER))
            counts[(phase, rec["kind"])] = counts.get((phase, rec["kind"]), 0) + 1
            problems += ["%s: %s" % (phase, p) for p in self.check_route(rec, allowed)]
        if problems:
            self.fail("\n".join(problems) + "\n" + INST.diagnostics())
        # Enough messages on each side of the change for this to mean something.
        for phase in ("before", "after"):
            for kind in KINDS:
                n = counts.get((phase, kind), 0)
                self.assertGreaterEqual(n, 3, "%s/%s: got %d messages, want >= 3 (counts %r)"
                                        % (phase, kind, n, counts))

    def test_3_added_partner_authenticated_as_itself(self):
        new = P["new"]
        ok = [e for e in INST.auth_events() if e["server"] == new.relay and e["ok"]]
        users = {e["user"] for e in ok}
        self.assertEqual(users, {new.username}, "AUTH at the new partner's relay: got %r, "
                         "want only %r" % (users, new.username))
        self.assertEqual(INST.leaked_passwords(list(P.values())), [])

    def test_4_loop_guard_one_partner_attempt_per_message(self):
        conns = prmtest.spool.read_connections(INST.spool_dir, "flaky")
        self.assertEqual(len(conns), LOOP_N, "connections to the failing partner relay: "
                         "got %d, want %d (one per message)\n%s"
                         % (len(conns), LOOP_N, INST.diagnostics()))
        for tok in LOOP:
            problems = INST.check_arrival(tok, "global", FB, FB, prmtest.GLOBAL_USER)
            self.assertEqual(problems, [], "\n".join(problems))
            # The fallback copy went through the listener's own cleanup.
            ids = INST.queue_ids(tok)
            self.assertEqual(len(ids), 2, "queue files of %s: got %r, want 2 "
                             "(submission, fallback)" % (tok, ids))
            cleanup_fb = [l for l in INST.maillog().splitlines()
                          if "postfix/cleanup-fb/" in l and ids[-1] + ": message-id" in l]
            self.assertEqual(len(cleanup_fb), 1, "cleanup-fb lines for %s: got %r, want 1"
                             % (ids[-1], cleanup_fb))


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
