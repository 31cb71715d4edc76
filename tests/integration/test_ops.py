#!/usr/bin/python3
"""test_ops.py - operations: metrics file, fallback alert, host guard, shadow mode.

One private Postfix (prmtest.Instance) with partners "good" (working
relay), "flaky" (relay greeting 421, so its mail falls back), "idle" (no
password: inactive); the milter writes its stats file every second and
raises the fallback alert at 50% of at least 3 partner-routed messages in
60 s. The steps run in order on the same instance:

  1. a known set of messages (partner route, category not eligible,
     untrusted submitter, no partner, inactive partner, 3 fallbacks);
     the stats file, parsed with Prometheus' own text parser
     (prometheus_client.parser), shows exactly those figures;
  2. the alert: one warning naming flaky, the rate and the window in the
     milter's log; the partner_relay_fallback_alert gauge is 1;
  3. flaky's relay is repaired, 4 more messages reach it: one recovery line;
  4. a failed then a good reload: partner_relay_reloads_total ok/failed;
  5. host guard: without allowed_private_relays the loopback partner is
     inactive in -n, partner-relay-tables --check and the probe, and its
     mail goes through the global relay with reason inactive-partner;
  6. shadow mode: the partner decision is logged with mode=shadow, but the
     message reaches the global relay with its original From and envelope
     sender, without a route header.
Exit 77 (skip) unless root with Postfix installed, or without
python3-prometheus-client.
"""

import json
import os
import pwd
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prmtest  # noqa: E402
from prmtest import Partner  # noqa: E402

APP = "app@platform.example"
INST = None
P = {}
SENT = {}


def setUpModule():
    global INST
    prmtest.require_root_and_postfix()
    try:
        import prometheus_client.parser  # noqa: F401
    except ImportError:
        print("SKIP: python3-prometheus-client is not installed", flush=True)
        sys.exit(prmtest.SKIP)
    INST = prmtest.Instance("ops")
    stats_dir = INST.path("stats")
    os.makedirs(stats_dir)
    pw = pwd.getpwnam(prmtest.MILTER_USER)
    os.chown(stats_dir, pw.pw_uid, pw.pw_gid)  # the milter runs as nobody
    INST.base_extra = ("stats_file = %s\nstats_interval = 1\nfallback_alert_rate = 50%%\n"
                       "fallback_alert_min_messages = 3\nfallback_alert_window = 60\n"
                       % os.path.join(stats_dir, "milter.prom"))
    INST.config_extra = INST.base_extra
    P["good"] = INST.add_partner(Partner("good"))
    P["flaky"] = INST.add_partner(Partner("flaky"), fault="greet421")
    P["idle"] = INST.add_partner(Partner("idle", omit=("password",)))
    INST.start()


def tearDownModule():
    if INST is not None:
        INST.close()


def send(key, partner, category, **kw):
    """Submit one message with the control headers given (None: left out)."""
    headers = []
    if partner:
        headers.append(("X-Partner-Id", partner))
    if category:
        headers.append(("X-Email-Category", category))
    SENT[key] = INST.send(headers, sender=APP, **kw)
    return SENT[key]


def metrics():
    """The stats file parsed by prometheus_client: {(name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families
    text = INST.read("stats/milter.prom")
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def series(name, **labels):
    """Key of one sample for metrics()."""
    return (name, tuple(sorted(labels.items())))


def total(m, name):
    """Sum of every sample of NAME."""
    return sum(v for (n, _), v in m.items() if n == name)


def milter_log_has(text, timeout=10):
    """Wait (bounded) until TEXT is in the milter's log."""
    return prmtest.spool.wait_for(lambda: text in INST.read("milter.log"), timeout, 0.2)


class Ops(unittest.TestCase):

    def fail_with_logs(self, msg):
        self.fail(msg + "\n" + INST.diagnostics())

    def test_1_metrics_after_known_messages(self):
        for i in range(2):
            send("good%d" % i, "good", "custom")
        send("noteligible", "good", "account-security")
        send("untrusted", "good", "custom", untrusted=True)
        send("nopartner", None, "custom")
        send("inactive", "idle", "custom")
        for i in range(3):
            send("flaky%d" % i, "flaky", "custom")
        if not INST.wait_settled(list(SENT.values()), 60):
            self.fail_with_logs("queue did not settle: %s" % INST.queue_files())
        for i in range(3):
            problems = INST.check_arrival(SENT["flaky%d" % i], "global", prmtest.FALLBACK_SENDER,
                                          prmtest.FALLBACK_SENDER, prmtest.GLOBAL_USER)
            if problems:
                self.fail_with_logs("\n".join(problems))

        # 9 submissions + 3 fallback-listener decisions.
        ok = prmtest.spool.wait_for(
            lambda: INST.read("stats/milter.prom") and
            total(metrics(), "partner_relay_messages_total") == 12, 10, 0.2)
        m = metrics()
        if not ok:
            self.fail_with_logs("messages_total: got %s, want 12\n%s" % (
                total(m, "partner_relay_messages_total"), INST.read("stats/milter.prom")))
        msg = "partner_relay_messages_total"
        want = {
            series(msg, category="custom", partner="good", route="partner",
                   reason="partner-relay"): 2,
            # account-security is not in the built-in registry: unclassified.
            series(msg, category="unclassified", partner="good", route="global",
                   reason="category-not-eligible"): 1,
            series(msg, category="unclassified", partner="none", route="global",
                   reason="untrusted-submitter"): 1,
            series(msg, category="custom", partner="none", route="global",
                   reason="no-partner"): 1,
            series(msg, category="custom", partner="idle", route="global",
                   reason="inactive-partner"): 1,
            series(msg, category="custom", partner="flaky", route="partner",
                   reason="partner-relay"): 3,
            series(msg, category="custom", partner="flaky", route="global",
                   reason="fallback"): 3,
            series("partner_relay_fallback_messages_total", partner="flaky"): 3,
            series("partner_relay_partners", status="active"): 2,
            series("partner_relay_partners", status="inactive"): 1,
            series("partner_relay_shadow_mode"): 0,
            series("partner_relay_reloads_total", result="ok"): 0,
        }
        for key, value in want.items():
            with self.subTest(series=key):
                self.assertEqual(m.get(key), value, "%s: got %r, want %r\n%s" % (
                    key, m.get(key), value, INST.read("stats/milter.prom")))
        self.assertEqual(total(m, "partner_relay_errors_total"), 0, "errors counted")

    def test_2_alert_warns_once_for_the_failing_partner(self):
        line = "fallback-alert partner=flaky status=failing"
        if not milter_log_has(line):
            self.fail_with_logs("no %r in the milter log" % line)
        log = INST.read("milter.log")
        warn = [x for x in log.splitlines() if line in x]
        self.assertEqual(len(warn), 1, "warnings: got %d, want 1:\n%s" % (len(warn), warn))
        for part in ("window=60s", "threshold=50%", "rate=", "routed=", "fallbacks="):
            self.assertIn(part, warn[0], "alert line: got %r, want %r in it" % (warn[0], part))
        self.assertNotIn("fallback-alert partner=good", log, "good partner alerted")
        ok = prmtest.spool.wait_for(lambda: metrics().get(
            series("partner_relay_fallback_alert", partner="flaky")) == 1, 5, 0.2)
        self.assertTrue(ok, "partner_relay_fallback_alert{partner=flaky}: got %r, want 1"
                        % metrics().get(series("partner_relay_fallback_alert", partner="flaky")))

    def test_3_alert_recovers_once(self):
        INST.relays["flaky"].set_fault("none")
        line = "fallback-alert partner=flaky status=recovered"
        # 3 of 7 (43%) is under 50%: 4 good messages recover the partner.
        # The first one after the repair may still fall back (a delivery
        # already under way): then send another round, at most 3 rounds.
        for rnd in range(3):
            tokens = [send("fixed%d.%d" % (rnd, i), "flaky", "custom") for i in range(4)]
            if not INST.wait_settled(tokens, 60):
                self.fail_with_logs("queue did not settle")
            if milter_log_has(line, 3):
                break
        at_flaky = [t for k, t in SENT.items() if k.startswith("fixed")
                    and [m["server"] for m in INST.arrivals(t)] == ["flaky"]]
        self.assertGreaterEqual(len(at_flaky), 3, "messages at the repaired relay: got %d"
                                % len(at_flaky))
        if not milter_log_has(line):
            self.fail_with_logs("no %r in the milter log" % line)
        n = INST.read("milter.log").count(line)
        self.assertEqual(n, 1, "recovery lines: got %d, want 1" % n)
        ok = prmtest.spool.wait_for(lambda: metrics().get(
            series("partner_relay_fallback_alert", partner="flaky")) == 0, 5, 0.2)
        self.assertTrue(ok, "partner_relay_fallback_alert{partner=flaky} after recovery: "
                        "got %r, want 0"
                        % metrics().get(series("partner_relay_fallback_alert", partner="flaky")))

    def test_4_reload_counters(self):
        good = INST.read("milter.conf")
        with open(INST.path("milter.conf"), "a", encoding="utf-8") as f:
            f.write("no_such_key = 1\n")
        INST.reload_milter()
        if not milter_log_has("reload failed"):
            self.fail_with_logs("no failed reload logged")
        with open(INST.path("milter.conf"), "w", encoding="utf-8") as f:
            f.write(good)
        INST.reload_milter()
        if not milter_log_has("reloaded configuration generation 2"):
            self.fail_with_logs("no reload to generation 2 logged")
        ok = prmtest.spool.wait_for(lambda: metrics().get(
            series("partner_relay_reloads_total", result="ok")) == 1, 5, 0.2)
        m = metrics()
        self.assertTrue(ok, "reloads ok: got %r, want 1"
                        % m.get(series("partner_relay_reloads_total", result="ok")))
        self.assertEqual(m.get(series("partner_relay_reloads_total", result="failed")), 1)
        self.assertEqual(m.get(series("partner_relay_config_generation")), 2)

    def test_5_host_guard(self):
        # The guard names the address the host resolved to (the harness's
        # partners are on "localhost", verified by the test CA).
        host = P["good"].host
        reason = ("host %s is a loopback address (not in allowed_private_relays)" % host
                  if host[:1].isdigit() else
                  "host %s resolves to 127.0.0.1, a loopback address "
                  "(not in allowed_private_relays)" % host)
        INST.allowed_private_relays = ""
        INST.write_milter_config()
        conf = INST.path("milter.conf")
        r = prmtest.run([prmtest.program("partner-relay-milter"), "-n", "-c", conf], check=False)
        self.assertEqual(r.returncode, 0, "-n exit: got %d\n%s" % (r.returncode, r.stdout))
        self.assertIn("good: inactive: " + reason, r.stdout, "-n output")
        r = INST.run_tables("--check")
        self.assertEqual(r.returncode, 1, "tables --check exit: got %d, want 1" % r.returncode)
        self.assertIn(reason, r.stdout, "tables --check output")
        r = prmtest.run([prmtest.program("partner-relay-probe"), "-c", conf, "good", "--json",
                         "--cafile", INST.path("certs", "ca.pem")], check=False)
        doc = json.loads(r.stdout[r.stdout.index("{"):])
        self.assertFalse(doc.get("active"), "probe: got active, want inactive")
        self.assertEqual(doc.get("inactive_reason"), reason, "probe inactive_reason")

        # End to end: tables first, then the milter; its mail goes global.
        INST.update_partners()
        INST.reload_milter()
        if not milter_log_has("reloaded configuration generation 3"):
            self.fail_with_logs("no reload to generation 3")
        tok = send("guarded", "good", "custom")
        if not INST.wait_settled([tok], 30):
            self.fail_with_logs("queue did not settle")
        problems = INST.check_arrival(tok, "global", APP, APP, prmtest.GLOBAL_USER)
        if problems:
            self.fail_with_logs("\n".join(problems))
        lines = INST.milter_lines(tok)
        self.assertTrue(lines and "partner=good route=global reason=inactive-partner" in lines[0],
                        "milter line: got %r" % lines)

    def test_6_shadow_mode(self):
        INST.allowed_private_relays = "127.0.0.0/8, ::1/128"
        INST.config_extra = INST.base_extra + "mode = shadow\n"
        INST.update_partners()
        INST.reload_milter()
        if not milter_log_has("reloaded configuration generation 4"):
            self.fail_with_logs("no reload to generation 4")
        toks = [send("shadow%d" % i, "good", "custom") for i in range(2)]
        if not INST.wait_settled(toks, 30):
            self.fail_with_logs("queue did not settle")
        for tok in toks:
            problems = INST.check_arrival(tok, "global", APP, APP, prmtest.GLOBAL_USER)
            if problems:
                self.fail_with_logs("\n".join(problems))
            m = INST.arrivals(tok)[0]
            self.assertEqual(prmtest.header_values(m, "X-Email-Category"), ["custom"],
                             "category tag in shadow mode")
            lines = INST.milter_lines(tok)
            self.assertTrue(len(lines) == 1 and
                            "partner=good route=partner reason=partner-relay" in lines[0] and
                            "mode=shadow" in lines[0],
                            "milter line: got %r, want the partner decision with mode=shadow"
                            % lines)
        ok = prmtest.spool.wait_for(
            lambda: metrics().get(series("partner_relay_shadow_mode")) == 1, 5, 0.2)
        self.assertTrue(ok, "partner_relay_shadow_mode: got %r, want 1"
                        % metrics().get(series("partner_relay_shadow_mode")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
