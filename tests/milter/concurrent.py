"""concurrent.py - 50 concurrent connections with mixed decisions.

Each connection sends two messages whose expected modifications depend on
its index (partner route, untrusted, fallback, global category, SASL
trusted); every decision must be right and every queue id logged once.
Also checks that the counters (stats file) add up."""

import os
import threading
import time

import milterclient as mc
from prmtest import DIR, SOCKET, acme_mods, check, done, log_text, partner_headers, tag_mods, wait_log

N = 50
TAG = [("chgheader", 1, "X-Email-Category", ""), ("addheader", "X-Email-Category", "aml-alert")]


def kind_of(i):
    return ["partner", "untrusted", "fallback", "global", "sasl"][i % 5]


def run_one(i, results):
    kind = kind_of(i)
    try:
        if kind in ("untrusted", "sasl"):
            addr = "198.51.100.%d" % (i + 1)
        else:
            addr = "10.1.0.%d" % (i + 1)
        dn = "FALLBACK" if kind == "fallback" else "ORIGINATING"
        c = mc.session(SOCKET, "h%d.example" % i, addr, mc.POSTFIX_V6,
                       {"{daemon_name}": dn, "{client_addr}": addr}, port=30000 + i)
        got = []
        for m in range(2):
            macros = {"i": "C%02dM%d" % (i, m), "{daemon_name}": dn}
            if kind == "sasl":
                macros["{auth_authen}"] = "app-%d" % i
            sender = "<news@acme.example>" if kind == "fallback" else "<app@platform.example>"
            category = "account-security" if kind == "global" else "aml-alert"
            got.append(mc.message(c, mail_macros=macros, headers=partner_headers(category=category),
                                  sender=sender))
        c.quit()
        results[i] = got
    except Exception as e:  # reported as a failed check below
        results[i] = e


results = [None] * N
threads = [threading.Thread(target=run_one, args=(i, results)) for i in range(N)]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
check(not any(t.is_alive() for t in threads), "all 50 clients finished within 60 s")

for i, got in enumerate(results):
    kind = kind_of(i)
    if isinstance(got, Exception) or got is None:
        check(False, "connection %d (%s)" % (i, kind), got, "two replies")
        continue
    for m, (reply, mods) in enumerate(got):
        what = "connection %d message %d (%s)" % (i, m, kind)
        if kind in ("partner", "sasl"):
            ok = reply == "continue" and mods == acme_mods()
        elif kind == "untrusted":
            ok = reply == "continue" and not any(x[0] == "chgfrom" for x in mods) and \
                ("chgheader", 1, "X-Partner-Id", "") in mods
        elif kind == "fallback":
            ok = reply == "continue" and ("chgfrom", "<noreply@platform.example>", "") in mods
        else:
            ok = reply == "continue" and mods == tag_mods("account-security")
        check(ok, what, (reply, mods), kind)

check(wait_log("C49M1:"), "last message logged")
text = log_text()
for i in range(N):
    for m in range(2):
        qid = "C%02dM%d:" % (i, m)
        if text.count(qid) != 1:
            check(False, "queue id %s logged once" % qid, text.count(qid), 1)
check(True, "every queue id checked")

# The stats file (rewritten every second) adds up: 10 connections of each
# kind, two messages each.
want = [
    'partner_relay_messages_total{category="aml-alert",partner="acme",route="partner",reason="partner-relay"} 40',
    'partner_relay_messages_total{category="unclassified",partner="none",route="global",'
    'reason="untrusted-submitter"} 20',
    'partner_relay_messages_total{category="aml-alert",partner="acme",route="global",reason="fallback"} 20',
    'partner_relay_messages_total{category="account-security",partner="acme",route="global",'
    'reason="category-not-eligible"} 20',
    'partner_relay_fallback_messages_total{partner="acme"} 20',
    'partner_relay_messages_in_flight 0',
]
stats = os.path.join(DIR, "stats.prom")
text = ""
end = time.monotonic() + 10
while time.monotonic() < end:
    try:
        with open(stats) as f:
            text = f.read()
    except OSError:
        text = ""
    if all(w + "\n" in text for w in want):
        break
    time.sleep(0.1)
for w in want:
    check(w + "\n" in text, "stats file: " + w, text, w)
done()
