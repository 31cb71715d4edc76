#!/usr/bin/env python3
"""bench_oauth.py - Postfix end to end: OAuth2 partners against password ones.

What: the machinery of bench_e2e.py (imported, not copied: its instance,
message files, load plan, runs and CPU figures) with partner relays that
authenticate: four fake relays (tests/lib/fakesmtp.py, STARTTLS with the
test CA, PLAIN LOGIN XOAUTH2, as Microsoft 365 offers) and six partners on
them: pw0 .. pw3 with passwords (the partner transport, verified TLS, AUTH
PLAIN) and oa2, oa3 with auth = oauth2 on the relays of pw2 and pw3 (the
partner-oauth transport: verified TLS, AUTH XOAUTH2 with a 2 KB bearer
token from the real partner-relay-tokend, which fetched it from
tests/lib/faketoken.py over HTTPS and serves it over socketmap; the
relays take only the tokens the endpoint issued). The global relay is an
smtp-sink, as in bench_e2e.py. Two mixes, same sessions, same relays:

  password   70% of the mail for pw0 pw1 pw2 pw3 (all on passwords)
  half       70% for pw0 pw1 oa2 oa3 (half the partners on oauth2)

plus 15% global category and 15% untrusted, through partner-relay-milter
over a UNIX socket. Runs alternate password/half (A B A B, 5 pairs, 3
with --quick); the ratio is the median over the pairs of half msgs/s /
password msgs/s (the goal: at least 0.95). The partner-oauth transport's Microsoft 365 caps
(3 connections and a 2 s rate delay per destination, main.cf.fragment)
are lifted to the password transport's for the run: they are the
provider's limits, not the cost of OAuth2.

Printed: msgs/s per run, the median ratio, the milter's CPU per message,
the broker's CPU per message and its lookups, the token endpoint's
requests (2 applications: 2 fetches), and a check of where the partner
mail landed and with which mechanism (from the relays' records).

Contract: needs root and Postfix (else SKIP, exit 0). Figures only, no
timing is asserted. Loopback and one temporary directory; everything is
stopped at exit. Usage: bench_oauth.py BUILDDIR [--quick]
"""

import collections
import os
import signal
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_e2e  # noqa: E402  (puts tests/integration on sys.path)
from bench_e2e import prmtest  # noqa: E402
import oauthtest  # noqa: E402

PAIRS = 3 if bench_e2e.QUICK else 5
RELAYS = ["r0", "r1", "r2", "r3"]
MIXES = {"password": ["pw0", "pw1", "pw2", "pw3"], "half": ["pw0", "pw1", "oa2", "oa3"]}


class OAuthBenchInstance(bench_e2e.BenchInstance):
    """bench_e2e's instance; partner relays are real fake relays with TLS+AUTH."""

    PARTNER_TLS_AUTH = True

    def add_relay(self, name, tls="starttls", users=None, **options):
        """The global relay stays an smtp-sink; the others authenticate."""
        if name == "global":
            return bench_e2e.BenchInstance.add_relay(self, name)
        return prmtest.Instance.add_relay(self, name, tls=tls, users=users, **options)

    def write_postfix_config(self):
        """bench_e2e's, with the partner-oauth caps at the password transport's."""
        super().write_postfix_config()
        prmtest.run(["postconf", "-e", "partner-oauth_destination_concurrency_limit=40",
                     "partner-oauth_destination_rate_delay=0s"], env=self.env())
        # The relays listen on 127.0.0.1 only; "localhost" (verified TLS
        # needs a name) also resolves to ::1, which bench_e2e enables.
        for svc in ("partner", "partner-smtps", "partner-oauth"):
            prmtest.run(["postconf", "-P", "%s/unix/inet_protocols=ipv4" % svc], env=self.env())


CLIENTS = [("oa2-client-id", "oa2-client-s3cret-value"), ("oa3-client-id", "oa3-client-s3cret-value")]


def setup(inst):
    """Relays, partners, the token endpoint (2 KB tokens) and the broker's
    [oauth] section; returns ({pid: Partner}, endpoint, broker)."""
    endpoint = oauthtest.TokenEndpoint(inst, CLIENTS, extra_args=("--token-bytes", "2048"))
    broker = oauthtest.Tokend(inst, metrics=True)
    partners = {}
    for i, r in enumerate(RELAYS):
        relay = oauthtest.add_m365_relay(inst, r)
        partners["pw%d" % i] = inst.add_partner(prmtest.Partner("pw%d" % i, relay=r))
        if i >= 2:
            pid = "oa%d" % i
            p = oauthtest.oauth_partner(pid, inst.relays[r], token_url=endpoint.url(pid))
            partners[pid] = inst.add_partner(p)
    return partners, endpoint, broker


def trust_tokens(inst, endpoint, broker, partners):
    """Wait for the broker's tokens; the relays take what the endpoint issued."""
    for pid in ("oa2", "oa3"):
        broker.wait_token(partners[pid].sender)
        p = partners[pid]
        for token, _ in endpoint.issued(p.oauth["oauth_client_id"]):
            oauthtest.accept_token(inst, inst.relays[p.relay], p.username, token, keep_old=True)


def landing_check(inst):
    """(From sender domain, relay, mechanism) -> count over every arrival."""
    count = collections.Counter()
    for m in inst.arrivals():
        if m["server"] in RELAYS:
            count[(m.get("mail_from", "?").split("@")[-1], m["server"], m.get("auth_mech"))] += 1
    return dict(sorted(count.items()))


def run_pairs(inst, files, pid, broker):
    """A B A B; rows of (ratio, milter cpu, broker cpu per half-run msg)."""
    rows = []
    print("%-9s %-5s %9s %13s %15s %12s" % ("mix", "pair", "msgs/s", "milter_cpu_ms",
                                             "tokend_cpu_ms", "machine_ms"))
    for k in range(PAIRS):
        got = {}
        for mix in ("password", "half"):
            b0 = bench_e2e.cpu_s(broker.proc.pid)
            got[mix] = bench_e2e.one_run(inst, files[mix], mix, pid)
            tcpu = (bench_e2e.cpu_s(broker.proc.pid) - b0) * 1000 / bench_e2e.MSGS
            print("%-9s %-5d %9.0f %13.2f %15.3f %12.2f" % (mix, k + 1, got[mix][0], got[mix][1],
                                                             tcpu, got[mix][2]), flush=True)
            got[mix] += (tcpu,)
        rows.append((got["half"][0] / got["password"][0], got))
    return rows


def main():
    """Set up, warm up, run the pairs, print the figures."""
    if os.geteuid() != 0 or not os.path.exists("/usr/sbin/smtp-source"):
        print("\n== end to end, OAuth2: SKIP (needs root and Postfix with smtp-source)")
        return 0
    print("\n== end to end, OAuth2 (Postfix + smtp-source -> TLS+AUTH relays; %d msgs/run; "
          "70%% partner: all password vs half oauth2; 15%% global, 15%% untrusted)"
          % bench_e2e.MSGS)
    inst = OAuthBenchInstance("bench-oauth")
    endpoint = broker = None
    try:
        partners, endpoint, broker = setup(inst)
        inst.start()
        inst.start_extra_milters()
        broker.start()
        trust_tokens(inst, endpoint, broker, partners)
        # Both mixes go in through the same listener (the milter over UNIX).
        inst.listeners = {m: inst.listeners["prm-unix"] for m in MIXES}
        with tempfile.TemporaryDirectory(prefix="prm-oauth-") as d:
            files = {}
            for mix, pids in MIXES.items():
                os.makedirs(os.path.join(d, mix))
                files[mix] = bench_e2e.message_files(os.path.join(d, mix), pids)
            pid = bench_e2e.milter_pid(inst.prm_unix)
            bench_e2e.one_run(inst, files["half"], "half", None)  # warm up
            rows = run_pairs(inst, files, pid, broker)
        report(rows, endpoint, broker, inst)
    finally:
        for helper in (broker, endpoint):
            if helper is not None:
                helper.stop()
        inst.stop_extra_milters()
        inst.close()
    return 0


def report(rows, endpoint, broker, inst):
    """The median ratio and the checks."""
    print("ratio half/password (median of %d pairs): %.2f  (pairs: %s)"
          % (len(rows), statistics.median(r[0] for r in rows),
             " ".join("%.2f" % r[0] for r in rows)))
    for mix in ("password", "half"):
        print("%-9s median msgs/s %.0f, milter %.2f ms/msg, tokend %.3f ms/msg" % (
            mix, statistics.median(r[1][mix][0] for r in rows),
            statistics.median(r[1][mix][1] for r in rows),
            statistics.median(r[1][mix][3] for r in rows)))
    m = broker.metrics()
    issued = len([r for r in endpoint.requests() if r["ok"]])
    print("token endpoint requests: %d (2 applications); broker: fetches %d, lookups ok %d, "
          "temp %d" % (issued, m.get("partner_relay_tokend_fetches_total", -1),
                       m.get("partner_relay_tokend_lookups_ok_total", -1),
                       m.get("partner_relay_tokend_lookups_temp_total", -1)))
    print("routing check (deliveries by sink, all runs): %s" % bench_e2e.routing_check(inst))
    print("landing check ((sender domain, relay, mechanism): messages):")
    for k, v in landing_check(inst).items():
        print("  %-40s %d" % (k, v))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main())
