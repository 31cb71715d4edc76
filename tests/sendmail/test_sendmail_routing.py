"""test_sendmail_routing.py - partner routes on a real Debian Sendmail 8.17.

One private Sendmail (smtest.py: fetched with apt-get download, unpacked,
the cf built from a test .mc and the shipped contrib/sendmail/partner-relay.m4,
maps from partner-relay-tables --mta sendmail), fake relays and the milter
with [milter] mta = sendmail. Every message is checked where it landed:
server, envelope sender, From, recipients exactly as written with their
DSN parameters, AUTH identity, TLS. Exit 77 (SKIP) with the reason when
not root or when Sendmail cannot be fetched.
"""

import email.utils
import smtplib
import sys

import smtest
from smtest import Partner, FALLBACK_SENDER, GLOBAL_USER

APP = "app@platform.example"
MISSING = ("host", "port", "username", "password", "sender")
NARROWED = ["verification-link", "aml-alert"]
failures = []


def check(ok, what, inst=None):
    """Record a failure (with the logs when INST is given)."""
    if not ok:
        failures.append(what)
        print("FAIL: " + what, flush=True)
        if inst is not None:
            print(inst.diagnostics(), flush=True)
    else:
        print("ok: " + what, flush=True)


def arrival(inst, tok, server, mail_from, from_addr, auth_user, rcpts=None, tls=True):
    """Problems with TOKEN's single arrival, or []."""
    got = inst.arrivals(tok)
    if len(got) != 1:
        return ["%s: %d arrivals at %s, want 1 at %s" % (tok, len(got), [m["server"] for m in got], server)]
    m, out = got[0], []
    have = {"server": m["server"], "envelope sender": m["mail_from"],
            "From": email.utils.parseaddr(m.get("from_header") or "")[1],
            "AUTH": m["auth_user"], "TLS": m["tls"]}
    want = {"server": server, "envelope sender": mail_from, "From": from_addr,
            "AUTH": auth_user, "TLS": tls}
    if rcpts is not None:  # Sendmail may reorder them
        have["rcpts"], want["rcpts"] = sorted(m["rcpts"]), sorted(rcpts)
    for k in want:
        if have[k] != want[k]:
            out.append("%s: %s: got %r, want %r" % (tok, k, have[k], want[k]))
    return out


def reload_stream(inst, old, newrelay):
    """A stream of messages for "old" and "new" while "old" leaves the
    partner table and "new" joins it (maps first, then SIGUSR1): none
    lost, each at a place its partner's state allowed, old's relay never
    reached without old's login; after the reload, only the new routes."""
    import threading
    stream, stop, errors = [], threading.Event(), []

    def sender():
        i = 0
        while not stop.is_set() and i < 60:
            pid = ("old", "new")[i % 2]
            try:
                stream.append((pid, inst.send([("X-Partner-Id", pid),
                                               ("X-Email-Category", "custom")]),
                               phase[0]))
            except (OSError, smtplib.SMTPException) as e:
                errors.append(repr(e))
            i += 1
    phase = ["before"]
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    smtest.spool.wait_for(lambda: len(stream) >= 12, 60, 0.05)
    phase[0] = "during"
    inst.partners.remove(old)
    new = inst.add_partner(Partner("new", username="new-user", password="new-secret-pw"),
                           newrelay)
    reloaded = inst.reload()
    phase[0] = "after"
    n = len(stream)
    smtest.spool.wait_for(lambda: len(stream) >= n + 12, 60, 0.05)
    stop.set()
    th.join(90)
    check(reloaded and not errors, "reload: the milter logged its new generation; "
          "every submission accepted %r" % errors[:3])
    check("old" not in inst.map_text("routes") and "new" in inst.map_text("routes"),
          "reload: the routes map names new and no longer old")
    ok = inst.wait_settled([t for _, t, _ in stream], 120)
    check(ok, "reload: every message of the stream delivered, queue empty",
          None if ok else inst)
    places = {"old": [("old", old.sender, old.sender, old.username)],
              "new": [("global", APP, APP, GLOBAL_USER)]}
    after = {"old": [("global", APP, APP, GLOBAL_USER)],
             "new": [("new", new.sender, new.sender, "new-user")]}
    bad = []
    for pid, tok, ph in stream:
        allowed = after[pid] if ph == "after" else (
            places[pid] + after[pid] + [("global", FALLBACK_SENDER, FALLBACK_SENDER, GLOBAL_USER)])
        if not any(not arrival(inst, tok, *a) for a in allowed):
            got = [(m["server"], m["mail_from"], m["auth_user"]) for m in inst.arrivals(tok)]
            bad.append((pid, ph, tok, got))
    check(not bad, "reload: %d messages, each once at an allowed place %r" % (len(stream), bad))
    check(any(ph == "after" for _, _, ph in stream) and any(ph == "before" for _, _, ph in stream),
          "reload: the stream ran before and after the reload")
    noauth = [m["subject"] for m in inst.arrivals() if m["server"] == "old"
              and m["auth_user"] != old.username]
    noauth += [ev for ev in smtest.spool.read_auth_events(inst.spool_dir, "old")
               if ev.get("user") not in (None, old.username)]
    check(not noauth, "reload: old's relay never got mail without old's login %r" % noauth)


def main():
    root = smtest.require()
    inst = smtest.Instance("routing", root)
    acme = inst.add_partner(Partner("acme"))
    # The shared relay also carries "narrow" (its own login) and is named
    # by the five incomplete partners (each missing one field).
    shared_users = {"beta-user": "beta-secret-pw", "gamma-user": "gamma-secret-pw",
                    "narrow-user": "narrow-secret-pw"}
    shared_users.update({"no%s-user" % f: "no%s-secret-pw" % f for f in MISSING})
    shared = inst.add_relay("shared", users=shared_users, host=inst.next_addr())
    beta = inst.add_partner(Partner("beta", username="beta-user", password="beta-secret-pw"), shared)
    gamma = inst.add_partner(Partner("gamma", username="gamma-user", password="gamma-secret-pw"), shared)
    # Verified TLS (tls = secure, the default for a name: VERIFY:112+CN):
    # a relay with a certificate for its name, and one whose certificate
    # (from the same trusted CA) names another host.
    named = inst.add_partner(Partner("named"), name="relay.test.invalid",
                             cert=inst.named_cert("relay.test.invalid"))
    wrongcert = inst.add_partner(Partner("wrongcert"), name="wrongcert.test.invalid", cert="wrong")
    faults = {}
    for pid, fault in (("refused", None), ("rcpt451", "rcpt451"),
                       ("greet421", "greet421"), ("nostarttls", "nostarttls"),
                       ("badtls", "badtls"), ("mail451", "mail451"), ("data451", "data451"),
                       ("rcpt550", "rcpt550"), ("auth535", "auth535")):
        p = Partner(pid)
        inst.add_partner(p)
        if fault:
            inst.relays[pid].set_fault(fault)
        faults[pid] = p
    # New relays on the greet421 relay's port (their own addresses): one
    # partner mailer per port, and Sendmail allows 25 mailers in all.
    port = inst.relays["greet421"].port
    for pid in ("greet450", "silent"):
        faults[pid] = inst.add_partner(Partner(pid), port=port)
        inst.relays[pid].set_fault(pid)
    # "refused": stop its relay, so the port refuses connections.
    smtest.spool.stop_server(inst.relays["refused"].proc)
    # Each missing field makes a partner inactive (one relay for all five).
    incomplete = {f: inst.add_partner(Partner("no" + f, omit=[f]), shared) for f in MISSING}
    # Narrowed categories: opted out of everything else.
    narrow = inst.add_partner(Partner("narrow", categories=", ".join(NARROWED)), shared)
    # Reload under a stream: "old" is removed, "new" added (its relay and
    # mailer port exist from the start; the partner table names it later).
    old = inst.add_partner(Partner("old"), port=port)
    newrelay = inst.add_relay("new", users={"new-user": "new-secret-pw"}, host=inst.next_addr(),
                              port=port)
    inst.start()
    cf = inst.read("sendmail.cf")
    check("O Timeout.initial=10s" in cf and "O Timeout.connect=5s" in cf,
          "the fragment's short outbound timeouts are in sendmail.cf")
    tables_missing = [(f, n) for f, p in incomplete.items() for n in ("routes", "authinfo", "tls")
                      for word in (p.id, p.username, p.password, p.sender)
                      if word in inst.map_text(n)]
    check(all(inst.map_text(n) for n in ("routes", "authinfo")) and not tables_missing,
          "partner-relay-tables --mta sendmail: no entry for an incomplete partner %r"
          % tables_missing)

    # 1. A complete partner's eligible mail: its relay, login, TLS, sender,
    # the recipients exactly as written, NOTIFY kept, ORCPT kept or added.
    hdr = lambda pid, cat: [("X-Partner-Id", pid), ("X-Email-Category", cat)]
    t1 = inst.send(hdr("acme", "verification-link"), rcpts=("Bob@Example.COM", "c.d@dest.example"),
                   rcpt_options=("NOTIFY=SUCCESS,FAILURE",))
    t2 = inst.send(hdr("acme", "finance-report"), rcpts=("ann@dest.example",))
    tw = inst.send(hdr("wrongcert", "custom"))
    tn = inst.send(hdr("named", "custom"), rcpts=("Zoe@Dest.Example",))
    # 2. Global and unclassified: the global relay with the platform login.
    t3 = inst.send(hdr("acme", "account-security"))
    t4 = inst.send([])
    # 3. Two partners on one relay host, each with its own login.
    t5 = inst.send(hdr("beta", "custom"))
    t6 = inst.send(hdr("gamma", "custom"))
    # 4. Relay faults: back through the global relay with the platform From.
    tf = {pid: inst.send(hdr(pid, "custom")) for pid in ("refused", "rcpt451",
                                                         "greet421", "greet450", "silent",
                                                         "nostarttls", "badtls",
                                                         "mail451", "data451")}
    # 5. Untrusted forgery: control headers ignored, typed pseudo recipients refused.
    t7 = inst.send(hdr("acme", "custom") + [("X-Partner-Relay-Route", "ptnr25:[127.0.0.1]")],
                   untrusted=True)
    refused = {}
    for form in ('"bob@x.acme.PTNRELAY"@mta.test.invalid', "bob@x.acme.ptnrelay",
                 "bob%x.acme.PtnRelay@mta.test.invalid"):
        try:
            inst.send([], rcpts=("ok@dest.example", form), untrusted=True)
            refused.update(inst.last_refused)
        except smtplib.SMTPRecipientsRefused as e:
            refused.update(e.recipients)
        except smtplib.SMTPException as e:
            refused[form] = str(e)
    tm = {f: inst.send(hdr("no" + f, "custom")) for f in MISSING}
    tnar = {c: inst.send(hdr("narrow", c)) for c in NARROWED + ["custom"]}
    settled = inst.wait_settled(list(tm.values()) + list(tnar.values()) + [tn, tw, t1, t2, t3, t4, t5, t6, t7] + list(tf.values()), 120)
    check(settled, "every message delivered and the queue empty", None if settled else inst)

    p = arrival(inst, t1, "acme", acme.sender, acme.sender, acme.username,
                rcpts=["Bob@Example.COM", "c.d@dest.example"])
    m = (inst.arrivals(t1) or [{}])[0]
    # smtplib gives every recipient the same options; ORCPT is added.
    want_params = {"Bob@Example.COM": ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Bob@Example.COM"],
                   "c.d@dest.example": ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;c.d@dest.example"]}
    got_params = dict(zip(m.get("rcpts", []), m.get("rcpt_params", [])))
    if got_params != want_params:
        p.append("RCPT parameters: got %r, want %r" % (got_params, want_params))
    check(not p, "partner route: relay, login, TLS, sender, recipients, NOTIFY/ORCPT %s" % p)
    pn = arrival(inst, tn, "named", named.sender, named.sender, named.username,
                 rcpts=["Zoe@Dest.Example"])
    check(not pn, "tls = secure: verified certificate and name, the partner's login %s" % pn)
    pw = arrival(inst, tw, "global", FALLBACK_SENDER, FALLBACK_SENDER, GLOBAL_USER)
    wrong_auth = smtest.spool.read_auth_events(inst.spool_dir, "wrongcert")
    check(not pw and not wrong_auth,
          "certificate for another name: fallback, and that relay never saw AUTH %s %r"
          % (pw, wrong_auth))
    check(not arrival(inst, t2, "acme", acme.sender, acme.sender, acme.username,
                      rcpts=["ann@dest.example"]), "second eligible category via acme")
    for t, what in ((t3, "global category"), (t4, "unclassified")):
        check(not arrival(inst, t, "global", APP, APP, GLOBAL_USER), what + " goes global")
    check(not arrival(inst, t5, "shared", beta.sender, beta.sender, "beta-user"),
          "shared relay host: beta logs in as beta")
    check(not arrival(inst, t6, "shared", gamma.sender, gamma.sender, "gamma-user"),
          "shared relay host: gamma logs in as gamma")
    for pid, t in tf.items():
        pr = arrival(inst, t, "global", FALLBACK_SENDER, FALLBACK_SENDER, GLOBAL_USER)
        check(not pr, "relay fault %s: fallback through the global relay %s" % (pid, pr))
    for f, t in tm.items():
        pr = arrival(inst, t, "global", APP, APP, GLOBAL_USER)
        check(not pr, "missing %s: partner inactive, mail global with the platform From %s"
              % (f, pr))
    at_inc = [m["subject"] for m in inst.arrivals() if m["server"] == "shared"
              and any(t in (m.get("subject") or "") for t in tm.values())]
    inc_auth = [ev for ev in smtest.spool.read_auth_events(inst.spool_dir, "shared")
                if (ev.get("user") or "").startswith("no")]
    check(not at_inc and not inc_auth,
          "the incomplete partners' relay never got their mail nor their AUTH %r %r"
          % (at_inc, inc_auth))
    for c in NARROWED:
        check(not arrival(inst, tnar[c], "shared", narrow.sender, narrow.sender,
                          narrow.username), "narrowed partner: %s via its relay" % c)
    check(not arrival(inst, tnar["custom"], "global", APP, APP, GLOBAL_USER),
          "narrowed partner: an opted-out category goes global")
    check(not arrival(inst, t7, "global", APP, APP, GLOBAL_USER),
          "untrusted client: partner and route headers ignored")
    typed = [r for r in refused if "ptnrelay" in r.lower()]
    check(len(typed) == 3 and all(refused[r][0] == 550 for r in typed),
          "typed pseudo-domain recipients refused with 550 in every form: %r" % refused)
    pseudo_seen = [m for m in inst.arrivals() for r in m["rcpts"] if "ptnrelay" in r.lower()]
    check(not pseudo_seen, "no relay ever saw a pseudo-domain recipient")

    # 6. A partner's 5xx at RCPT bounces (no fallback): the DSN goes to the
    # partner's sender through the global relay, and shows the pseudo address.
    t8 = inst.send(hdr("rcpt550", "custom"))
    bounced = smtest.spool.wait_for(
        lambda: [m for m in inst.arrivals() if m["server"] == "global"
                 and m["rcpts"] == [faults["rcpt550"].sender] and m["mail_from"] == ""], 60, 0.2)
    check(bool(bounced) and not inst.arrivals(t8),
          "partner 5xx: bounce to the partner sender, not a fallback")
    check(bool(bounced) and "PTNRELAY" in bounced[0]["data"],
          "the bounce text shows the pseudo-domain address")

    # AUTH 535: Sendmail carries on without AUTH; the relay refuses MAIL
    # (530, permanent), so the message bounces instead of falling back.
    t10 = inst.send(hdr("auth535", "custom"))
    bounced = smtest.spool.wait_for(
        lambda: [m for m in inst.arrivals() if m["server"] == "global"
                 and m["rcpts"] == [faults["auth535"].sender] and m["mail_from"] == ""], 60, 0.2)
    check(bool(bounced) and not inst.arrivals(t10),
          "AUTH 535 then 530 at MAIL: a bounce to the partner sender, not a fallback")

    # 7. No partner password offered to any other server.
    leaks = [ev for ev in smtest.spool.read_auth_events(inst.spool_dir)
             for pp in inst.partners + [old] if ev.get("password") == pp.password
             and ev.get("server") != pp.relay]
    check(not leaks, "no partner password offered to another server: %r" % leaks)

    # 8. Partners added and removed under a stream, with a reload.
    reload_stream(inst, old, newrelay)

    # 9. The milter down: everything global, none lost.
    inst.stop_milter()
    t9 = inst.send(hdr("acme", "custom"))
    ok = inst.wait_settled([t9], 60)
    check(ok and not arrival(inst, t9, "global", APP, APP, GLOBAL_USER),
          "milter down: accepted and delivered globally", None if ok else inst)

    inst.close()
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
