#!/usr/bin/python3
"""test_sync.py - issue 13: two MTA hosts follow one PostgreSQL partner table.

What it checks, against a real private PostgreSQL (tests/lib/pgtmp.py:
initdb in the test directory, run as nobody, UNIX socket only) holding
contrib/postgresql/schema.sql, and two real private Postfix instances
(prmtest.Instance "host A" and "host B"), each with its own milter and its
own partner-relay-sync daemon (interval 2 s; host A reads through its own
[sync] query, host B through the default one):
  - cold start: no database and no partner file: --once exits 69 and leaves
    an empty partner file (0600) that the milter accepts;
  - both hosts converge on the same version (--status: both current), the
    partner file is 0600 and owned by the milter's user, and partner mail
    from either host reaches the partner relay with AUTH as that partner;
  - a committed change routes mail within interval + 2 s;
  - every bad row (missing field, bad port, host refused by the guard, CR,
    LF or a comma injected, a 100 kB value, two partners with one sender, a
    bad id) deactivates only that partner, with a reason and without its
    value in the log; mail for it goes global; a NUL cannot even be stored;
  - a password changed while mail flows: nothing lost, later mail logs in
    with the new credentials;
  - the database stopped while mail flows: mail still routed, one
    "unreachable" log line, metrics say down; back up: a change applies;
  - the connection dropped in the middle of a read: nothing applied, the
    next read applies the whole snapshot;
  - a partner deleted with mail queued for it: its routing is gone, its
    SASL entry kept (grace), the queued mail leaves with AUTH;
  - more than max_drop of the partners deleted: refused on both hosts
    (files unchanged, metrics), --check shows the difference, --status the
    hosts behind, --once --force applies it on one host;
  - --check names changed keys (never values);
  - the daemon stays root, its database side runs in a child as the
    milter's user; a killed child is replaced and the next change applies;
  - without [sync] grace, removed partners' SASL entries last Postfix's
    maximal_queue_lifetime; the token broker (a real partner-relay-tokend
    on host B) reloads on every publication;
  - the role logs in with scram-sha-256: host A with the password in its
    DSN, host B through a libpq service file (PGSERVICEFILE) naming a
    passfile readable only by the milter's user and a host list whose
    first entry is down;
  - every sync log line is key=value; no partner password and no DSN
    password (host A's DSN has one) in any log or output, -n included,
    even for a DSN libpq cannot parse.

Time: about 50 s. Exit 77 (skip) unless root with Postfix and PostgreSQL.
"""

import collections
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import prmtest  # noqa: E402
from prmtest import Partner  # noqa: E402

sys.path.insert(0, os.path.join(prmtest.SRCDIR, "tests", "lib"))
import pgtmp  # noqa: E402
import spool  # noqa: E402

INTERVAL = 2
# The sync's role logs in with a password (scram-sha-256 in pg_hba.conf):
# host A has it in its DSN (it must never reach a log or an output), host
# B in a libpq passfile owned by the milter's user (the database side runs
# as that user), with a host list whose first entry is down.
DSN_PW = "dsn-conn-secret-pw"
APP = "app@platform.example"
SCHEMA = os.path.join(prmtest.SRCDIR, "contrib", "postgresql", "schema.sql")
GATE_SQL = """
CREATE SCHEMA partner_relay_test;
CREATE TABLE partner_relay_test.slow (id text PRIMARY KEY);
CREATE FUNCTION partner_relay_test.gate(pid text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM partner_relay_test.slow s WHERE s.id = pid) THEN
        PERFORM pg_sleep(30);
    END IF;
    RETURN true;
END; $$;
GRANT USAGE ON SCHEMA partner_relay_test TO partner_relay_sync;
GRANT SELECT ON partner_relay_test.slow TO partner_relay_sync;
ALTER ROLE partner_relay_sync LOGIN PASSWORD '%s';
SELECT pg_reload_conf();
""" % DSN_PW
GATE_QUERY = "SELECT * FROM partner_relay.partners WHERE partner_relay_test.gate(id)"
PG = None
HOSTS = {}    # "a"/"b" -> Instance
SYNCS = {}    # "a"/"b" -> Popen; "tokend" -> host B's token broker
P = {}        # partner id -> Partner (relays in host A)
TMP = None


def sync_conf_extra(inst, name, query):
    """[milter] pidfile and the [sync] section for host NAME."""
    tokend = ("tokend_pidfile = %s\n[oauth]\nsocket = %s\nsocket_group =\npidfile = %s\n"
              % (inst.path("tokend.pid"), inst.path("tokens.sock"), inst.path("tokend.pid"))
              if name == "b" else "")
    return ("pidfile = %s\n[sync]\ndsn = %s\ninterval = %d\nstate_dir = %s\n"
            "tables_dir = %s\nstats_file = %s\nhost = %s\n%s%s" % (
                inst.path("milter.pid"),
                PG.dsn(user="partner_relay_sync") + " password=" + DSN_PW if name == "a" else
                "service=partner_relay",
                INTERVAL,
                inst.path("sync-state"), inst.path("tables"), inst.path("sync.prom"),
                name, "query = %s\n" % query if query else "", tokend))


def sync_env(inst):
    """INST's environment plus its libpq service file (host B uses one)."""
    return dict(inst.env(), PGSERVICEFILE=inst.path("pg_service.conf"))


def sync_cmd(inst, *args):
    """Run partner-relay-sync once for INST; the CompletedProcess."""
    return subprocess.run([prmtest.program("partner-relay-sync"), "-c", inst.path("milter.conf")]
                          + list(args), env=sync_env(inst), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=120)


def start_sync(name):
    """Start host NAME's sync daemon (foreground, log in sync.log)."""
    inst = HOSTS[name]
    log = open(inst.path("sync.log"), "ab")
    SYNCS[name] = subprocess.Popen(
        [prmtest.program("partner-relay-sync"), "-f", "-c", inst.path("milter.conf")],
        env=sync_env(inst), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()


def reloads(name):
    """How many times host NAME's milter reloaded."""
    return HOSTS[name].read("milter.log").count("reloaded configuration generation")


def db_version():
    return int(PG.psql("SELECT version FROM partner_relay.version").strip())


def applied(name):
    """The version host NAME's state file says it applied (-1: none)."""
    text = HOSTS[name].read("sync-state/state")
    m = re.search(r"^version (\d+)$", text, re.M)
    return int(m.group(1)) if m else -1


def wait_applied(names, version, timeout=30):
    return pgtmp.wait_for(lambda: all(applied(n) == version for n in names), timeout, 0.05)


def sections(name):
    """Partner ids in host NAME's partner file."""
    return re.findall(r"^\[([^\]]*)\]$", HOSTS[name].read("partners.conf"), re.M)


def metrics(name):
    """Host NAME's sync metrics as a dict (a missing one reads as -1)."""
    out = {}
    for line in HOSTS[name].read("sync.prom").splitlines():
        if line and not line.startswith("#"):
            k, v = line.split()
            out[k] = int(v)
    return collections.defaultdict(lambda: -1, out)


def arrivals(token):
    """Arrivals of TOKEN at any relay of either host."""
    out = []
    for inst in HOSTS.values():
        out += [m for m in spool.read_messages(inst.spool_dir)
                if token in (m.get("subject") or "")]
    return out


def wait_arrived(tokens, timeout=60):
    def done():
        return all(arrivals(t) for t in tokens) and not any(
            i.queue_files() for i in HOSTS.values())
    return pgtmp.wait_for(done, timeout, 0.2)


def send(host, partner, category="custom"):
    return HOSTS[host].send([("X-Partner-Id", partner), ("X-Email-Category", category)],
                            sender=APP)


def where(token):
    """(server, mail_from, auth_user, tls) of TOKEN's single arrival, or the list."""
    got = arrivals(token)
    if len(got) != 1:
        return [m["server"] for m in got]
    m = got[0]
    return (m["server"], m["mail_from"], m["auth_user"], m["tls"])


def insert(pid, **cols):
    """INSERT one partner row; values are SQL literals already."""
    keys = ["id"] + list(cols)
    vals = ["'%s'" % pid] + [cols[k] for k in cols]
    PG.psql("INSERT INTO partner_relay.partners (%s) VALUES (%s)" % (", ".join(keys), ", ".join(vals)))


def insert_partner(p):
    insert(p.id, host="'%s'" % p.host, port=str(p.port), username="'%s'" % p.username,
           password="'%s'" % p.password, sender="'%s'" % p.sender)


def setUpModule():
    prmtest.require_root_and_postfix()
    if pgtmp.find_bindir() is None:
        print("SKIP: PostgreSQL server not installed (Debian package postgresql)", flush=True)
        sys.exit(prmtest.SKIP)
    try:
        set_up()
    except BaseException:
        tearDownModule()  # unittest does not call it when setUpModule fails
        raise


def set_up():
    """PostgreSQL, the schema, both hosts and their syncs."""
    global PG, TMP
    TMP = tempfile.mkdtemp(prefix="prm-sync-pg-")
    os.chmod(TMP, 0o755)  # the server runs as nobody below it
    PG = pgtmp.Server(os.path.join(TMP, "pg")).start()
    PG.psql_file(SCHEMA)
    PG.psql_file(SCHEMA)  # idempotent
    hba = os.path.join(PG.data, "pg_hba.conf")
    with open(hba) as f:
        rules = f.read()
    with open(hba, "w") as f:  # before the trust lines: the first match wins
        f.write("local all partner_relay_sync scram-sha-256\n" + rules)
    PG.psql(GATE_SQL)
    for name in ("a", "b"):
        inst = prmtest.Instance("sync-" + name)
        inst.config_extra = sync_conf_extra(inst, name, GATE_QUERY if name == "a" else "")
        if name == "b":  # the partner relays run in host A, with A's test CA
            inst.relay_cafile = HOSTS["a"].relay_cafile
        HOSTS[name] = inst.start()
        if name == "b":  # a libpq service file: a DSN too long for one config line
            with open(inst.path("pg_service.conf"), "w") as f:
                f.write("[partner_relay]\nhost=%s/no-replica,%s\nport=%d\ndbname=postgres\n"
                        "user=partner_relay_sync\npassfile=%s\n"
                        % (TMP, PG.sock, PG.port, inst.path("pgpass")))
            with open(inst.path("pgpass"), "w") as f:
                f.write("*:*:*:partner_relay_sync:%s\n" % DSN_PW)
            os.chmod(inst.path("pgpass"), 0o600)
            pw = pwd.getpwnam(prmtest.MILTER_USER)
            os.chown(inst.path("pgpass"), pw.pw_uid, pw.pw_gid)
    a = HOSTS["a"]
    for pid in ("acme", "beta", "gamma", "delta", "echo"):
        P[pid] = a.add_partner(Partner(pid))
    for pid in ("acme", "beta", "gamma", "delta"):
        insert_partner(P[pid])
    HOSTS["b"].partners = list(a.partners)
    b = HOSTS["b"]
    log = open(b.path("tokend.log"), "ab")
    SYNCS["tokend"] = subprocess.Popen(
        [prmtest.program("partner-relay-tokend"), "-f", "-c", b.path("milter.conf")], env=b.env(),
        stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()
    for name in HOSTS:
        start_sync(name)


def tearDownModule():
    for name, proc in SYNCS.items():
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    leaks = []
    for name, inst in HOSTS.items():  # SIGTERM cancelled the database child's wait
        if "event=stopping" not in inst.read("sync.log"):
            leaks.append("host %s: the sync did not log event=stopping" % name)
    secrets = {p.password for p in P.values()} | {"acme2-secret-pw", "beta-huge-secret-pw", DSN_PW}
    for name, inst in HOSTS.items():
        text = inst.read("sync.log")
        for s in secrets:
            if s in text:
                leaks.append("%s sync.log holds a password" % name)
                shutil.copyfile(inst.path("sync.log"), os.path.join(
                    prmtest.builddir(), "tests", "integration", "leaked-sync-%s.log" % name))
        inst.close()
    if PG:
        PG.stop()
    if TMP and os.environ.get("PRM_KEEP") != "1":
        shutil.rmtree(TMP, ignore_errors=True)
    if leaks:
        raise AssertionError("; ".join(leaks))


class SyncTest(unittest.TestCase):
    def diag(self):
        return "\n".join("--- host %s sync.log\n%s\n%s" % (n, i.read("sync.log")[-3000:],
                                                          i.diagnostics()[-2000:])
                         for n, i in HOSTS.items())

    def test_00_cold_start_without_database(self):
        d = tempfile.mkdtemp(prefix="prm-sync-cold-")
        try:
            conf = os.path.join(d, "m.conf")
            with open(conf, "w") as f:
                f.write("[milter]\npartners = %s/partners.conf\nfallback_sender = %s\n"
                        "[sync]\ndsn = host=%s/nowhere dbname=x connect_timeout=2\n"
                        "state_dir = %s/state\n" % (d, prmtest.FALLBACK_SENDER, d, d))
            r = subprocess.run([prmtest.program("partner-relay-sync"), "-c", conf, "--once"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 69, r.stdout)
            self.assertIn("event=database-unreachable", r.stdout)
            st = os.stat(os.path.join(d, "partners.conf"))
            self.assertEqual(st.st_mode & 0o777, 0o600)
            m = subprocess.run([prmtest.program("partner-relay-milter"), "-n", "-c", conf],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.assertEqual(m.returncode, 0, "milter -n on the cold-start file: " + m.stdout)
            self.check_dsn_never_shown(d, conf)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def check_dsn_never_shown(self, d, conf):
        """A DSN password (quoted with blanks, or in a URI libpq cannot
        parse) is shown by neither -n nor a failed sync."""
        with open(conf) as f:
            text = f.read()
        for dsn, rc in (("host=%s/nowhere dbname=x password = 'dsn quoted-secret-pw' "
                         "connect_timeout=2" % d, 69),
                        ("postgresql://u:p%zzdsn-uri-secret-pw@localhost/x", 78)):
            with open(conf, "w") as f:
                f.write(re.sub(r"(?m)^dsn = .*$", lambda _: "dsn = " + dsn, text))
            outs = []
            for prog, args in (("partner-relay-milter", ["-n"]), ("partner-relay-sync", ["-n"]),
                               ("partner-relay-sync", ["--once"])):
                r = subprocess.run([prmtest.program(prog), "-c", conf] + args,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   timeout=60)
                outs.append(r.stdout)
                self.assertNotIn("secret-pw", r.stdout, "%s %s shows the DSN password" % (prog, args))
                if prog == "partner-relay-sync" and args == ["--once"]:
                    self.assertEqual(r.returncode, rc, r.stdout)
            if rc == 78:  # the error still says what is wrong
                self.assertIn("[sync] dsn: not a valid libpq connection string", outs[1])

    def test_01_hosts_converge_and_route(self):
        # The role needs its password (host B got it from the passfile).
        r = subprocess.run([os.path.join(PG.bindir, "psql"), "-X", "-w", "-A", "-t", "-d",
                            PG.dsn(user="partner_relay_sync"), "-c", "SELECT 'logged' || 'in'"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           stdin=subprocess.DEVNULL, timeout=30,
                           env=dict(os.environ, PGPASSFILE="/nonexistent"))
        self.assertNotIn("loggedin", r.stdout)
        self.assertIn("password", r.stdout)
        v = db_version()
        self.assertTrue(wait_applied("ab", v), "got %s, want both at %d\n%s"
                        % ({n: applied(n) for n in "ab"}, v, self.diag()))
        for n in "ab":
            self.assertEqual(sorted(sections(n)), ["acme", "beta", "delta", "gamma"])
            st = os.stat(HOSTS[n].path("partners.conf"))
            self.assertEqual(st.st_mode & 0o777, 0o600)
            self.assertEqual(st.st_uid, pwd.getpwnam(prmtest.MILTER_USER).pw_uid)
            self.assertTrue(pgtmp.wait_for(  # written right after the state file
                lambda: metrics(n).get("partner_relay_sync_applied_version") == v, 10), n)
            self.assertEqual(metrics(n)["partner_relay_sync_database_up"], 1)
        st = sync_cmd(HOSTS["a"], "--status")
        self.assertEqual(st.returncode, 0, st.stdout)
        self.assertRegex(st.stdout, r"(?m)^a version %d applied \S+ current$" % v)
        self.assertRegex(st.stdout, r"(?m)^b version %d applied \S+ current$" % v)
        ck = sync_cmd(HOSTS["b"], "--check")
        self.assertEqual(ck.returncode, 0, ck.stdout)
        # The milters reload on SIGUSR1 from the sync; wait for the reload.
        for n in "ab":
            self.assertTrue(pgtmp.wait_for(lambda: reloads(n) >= 1, 15),
                            HOSTS[n].read("milter.log")[-2000:])
        toks = {n: send(n, "acme") for n in "ab"}
        self.assertTrue(wait_arrived(toks.values()), self.diag())
        acme = P["acme"]
        for n, t in toks.items():
            self.assertEqual(where(t), ("acme", acme.sender, acme.username, True), n)

    def test_02_change_routes_within_interval(self):
        e = P["echo"]
        seen = {n: reloads(n) for n in "ab"}
        t0 = time.monotonic()
        insert_partner(e)
        v = db_version()
        # Routing follows once the sync applied it and the milter reloaded
        # (asynchronous, on the sync's SIGUSR1): both within interval + 2 s.
        self.assertTrue(pgtmp.wait_for(
            lambda: all(applied(n) == v and reloads(n) > seen[n] for n in "ab"), INTERVAL + 2, 0.05),
            "not applied and reloaded within %d s\n%s" % (INTERVAL + 2, self.diag()))
        print("commit to applied and reloaded on both hosts: %.2f s" % (time.monotonic() - t0),
              flush=True)
        tok = send("b", "echo")
        print("commit to first message routed: %.2f s" % (time.monotonic() - t0), flush=True)
        self.assertTrue(wait_arrived([tok]), self.diag())
        self.assertEqual(where(tok), ("echo", e.sender, e.username, True))

    def test_02b_missing_stamp_is_published_again(self):
        # (Before test_03: later tests leave a refused version behind.)
        # An upgraded host: the tables are there but not the published
        # stamp, and the database's version has not changed. Without the
        # stamp the milter keeps every partner waiting (global), so the
        # sync must publish again without waiting for a database change.
        stamp = HOSTS["a"].path("tables", "published")
        self.assertTrue(os.path.exists(stamp), "host a has no stamp to start with")
        seen = reloads("a")
        os.unlink(stamp)
        self.assertTrue(pgtmp.wait_for(lambda: os.path.exists(stamp) and reloads("a") > seen,
                                       INTERVAL + 5, 0.05),
                        "stamp not written again within %d s\n%s" % (INTERVAL + 5, self.diag()))
        r = prmtest.run([prmtest.program("partner-relay-milter"), "-n", "-c",
                         HOSTS["a"].path("milter.conf")], check=False)
        self.assertNotIn("waiting for partner-relay-tables", r.stdout)

    def test_03_bad_rows_deactivate_only_that_partner(self):
        with self.assertRaises(RuntimeError):  # a NUL cannot even be stored
            insert("bad-nul", host="'localhost'", port="25", username="'u'",
                   password="E'pw\\000x'", sender="'m@nul.example'")
        rows = {
            "bad-missing": dict(host="'localhost'", port="25", username="'u'",
                                sender="'m@missing.example'"),
            "bad-port": dict(host="'localhost'", port="70000", username="'u'",
                             password="'bad-port-secret-pw'", sender="'m@port.example'"),
            "bad-guard": dict(host="'10.1.2.3'", port="587", username="'u'",
                              password="'bad-guard-secret-pw'", sender="'m@guard.example'"),
            "bad-cr": dict(host="'localhost'", port="25", username="'u'",
                           password="E'bad-cr-secret-pw\\rX'", sender="'m@cr.example'"),
            "bad-lf": dict(host="'localhost'", port="25", username="E'u\\n[evil]\\nhost = x'",
                           password="'bad-lf-secret-pw'", sender="'m@lf.example'"),
            "bad-comma": dict(host="'127.0.0.1,evil.example'", port="25", username="'u'",
                              password="'bad-comma-secret-pw'", sender="'m@comma.example'"),
            "bad-huge": dict(host="'localhost'", port="25", username="'u'",
                             password="'beta-huge-secret-pw' || repeat('h', 100000)",
                             sender="'m@huge.example'"),
            "dup-1": dict(host="'localhost'", port="25", username="'u1'",
                          password="'dup-1-secret-pw'", sender="'same@dup.example'"),
            "dup-2": dict(host="'localhost'", port="25", username="'u2'",
                          password="'dup-2-secret-pw'", sender="'Same@dup.example'"),
            "Bad Id": dict(host="'localhost'", port="25", username="'u'",
                           password="'bad-id-secret-pw'", sender="'m@id.example'"),
        }
        for pid, cols in rows.items():
            insert(pid, **cols)
        v = db_version()
        self.assertTrue(wait_applied("ab", v), self.diag())
        want = ["acme", "beta", "delta", "echo", "gamma"]
        for n in "ab":
            self.assertEqual(sorted(sections(n)), want, n)
            self.assertNotIn("evil", HOSTS[n].read("partners.conf"))
        log = HOSTS["b"].read("sync.log")
        for pid, why in (("bad-missing", "missing password"), ("bad-port", "port must be"),
                         ("bad-guard", "10.1.2.3"),
                         ("bad-cr", "column password holds a control character"),
                         ("bad-lf", "column username holds a control character"),
                         ("bad-comma", "host contains a forbidden character"),
                         ("bad-huge", "column password is 100019 bytes long"),
                         ("dup-1", "is also used by partner dup-2"),
                         ("dup-2", "is also used by partner dup-1")):
            self.assertRegex(log, r'event=partner-inactive partner=%s reason="[^\n]*%s'
                             % (re.escape(pid), re.escape(why)))
        self.assertIn("row with id 'Bad Id' ignored", log)
        ck = sync_cmd(HOSTS["a"], "--check")
        self.assertEqual(ck.returncode, 0, ck.stdout)  # inactive rows: no difference
        self.assertIn("! bad-cr: inactive", ck.stdout)
        tok = send("a", "bad-cr")
        self.assertTrue(wait_arrived([tok]), self.diag())
        self.assertEqual(where(tok), ("global", APP, prmtest.GLOBAL_USER, True))
        PG.psql("DELETE FROM partner_relay.partners WHERE id LIKE 'bad%' OR id LIKE 'dup%' "
                "OR id = 'Bad Id'")
        self.assertTrue(wait_applied("ab", db_version()), self.diag())

    def test_04_password_change_while_mail_flows(self):
        a = HOSTS["a"]
        new = Partner("acme", username="acme-user2", password="acme2-secret-pw")
        a._restart_relay(a.relays["acme"], new)  # the relay knows both logins now
        before = [send("a", "acme") for _ in range(3)]
        PG.psql("UPDATE partner_relay.partners SET username = 'acme-user2', "
                "password = 'acme2-secret-pw' WHERE id = 'acme'")
        v = db_version()
        during = [send(h, "acme") for h in "abab"]
        self.assertTrue(wait_applied("ab", v), self.diag())
        time.sleep(1)
        after = [send(h, "acme") for h in "abab"]
        self.assertTrue(wait_arrived(before + during + after), self.diag())
        for t in before + during:
            w = where(t)
            self.assertIn(w[:3], [("acme", P["acme"].sender, "acme-user"),
                                  ("acme", P["acme"].sender, "acme-user2")], t)
        for t in after:
            self.assertEqual(where(t), ("acme", P["acme"].sender, "acme-user2", True), t)
        P["acme"].username, P["acme"].password = new.username, new.password

    def test_05_database_outage(self):
        marks = {n: len(HOSTS[n].read("sync.log")) for n in "ab"}
        last = {n: metrics(n)["partner_relay_sync_last_success_timestamp_seconds"] for n in "ab"}
        PG.stop()
        try:
            toks = [send(h, "acme") for h in "ab"]
            self.assertTrue(wait_arrived(toks), self.diag())
            for t in toks:
                self.assertEqual(where(t)[:3], ("acme", P["acme"].sender, "acme-user2"))
            for n in "ab":
                self.assertTrue(pgtmp.wait_for(
                    lambda: metrics(n)["partner_relay_sync_database_up"] == 0, 30), self.diag())
            time.sleep(3 * INTERVAL)
            for n in "ab":
                new = HOSTS[n].read("sync.log")[marks[n]:]
                self.assertEqual(new.count("event=database-unreachable"), 1, new)
                self.assertLessEqual(
                    metrics(n)["partner_relay_sync_last_success_timestamp_seconds"],
                    last[n] + 3 * INTERVAL)
                self.assertEqual(sorted(sections(n)), ["acme", "beta", "delta", "echo", "gamma"])
        finally:
            PG.start()
        self.assertTrue(pgtmp.wait_for(lambda: all(
            "event=database-reachable" in HOSTS[n].read("sync.log")[marks[n]:] for n in "ab"), 90),
            self.diag())
        PG.psql("UPDATE partner_relay.partners SET categories = 'custom' WHERE id = 'gamma'")
        self.assertTrue(wait_applied("ab", db_version()), self.diag())

    def test_06_connection_dropped_mid_read(self):
        PG.psql("INSERT INTO partner_relay_test.slow VALUES ('delta')")
        insert("golf", host="'localhost'", port="25", username="'g'",
               password="'golf-secret-pw'", sender="'m@golf.example'")
        v = db_version()
        sleeping = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                    "AND query LIKE '%gate%'")
        self.assertTrue(pgtmp.wait_for(lambda: PG.psql(sleeping).strip() == "1", 20),
                        self.diag())
        self.assertTrue(wait_applied("b", v), self.diag())  # host B is not held up
        before = HOSTS["a"].read("partners.conf")
        PG.psql("DELETE FROM partner_relay_test.slow")
        PG.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE wait_event = 'PgSleep' AND query LIKE '%gate%'")
        time.sleep(0.5)
        self.assertEqual(HOSTS["a"].read("partners.conf"), before, "half a snapshot applied")
        self.assertNotEqual(applied("a"), v)
        self.assertTrue(wait_applied("a", v), self.diag())
        self.assertIn("golf", sections("a"))

    def test_07_deleted_partner_with_queued_mail(self):
        b = HOSTS["b"]
        beta = P["beta"]
        prmtest.run(["postconf", "-e", "defer_transports = partner"], env=b.env())
        prmtest.run(["postfix", "-c", b.path("etc"), "reload"], env=b.env())
        time.sleep(1)
        tok = send("b", "beta")
        self.assertTrue(pgtmp.wait_for(lambda: b.queue_files() and b.queue_ids(tok), 30),
                        self.diag())
        PG.psql("DELETE FROM partner_relay.partners WHERE id = 'beta'")
        self.assertTrue(wait_applied("ab", db_version()), self.diag())
        self.assertNotIn("beta", sections("b"))
        self.assertIn(beta.sender, b.read("tables/sasl_passwd"), "SASL entry kept for the grace")
        self.assertTrue(pgtmp.wait_for(  # metrics follow the state file
            lambda: metrics("b")["partner_relay_sync_grace_entries"] >= 1, 10),
            "got %d grace entries, want beta's SASL entry at least"
            % metrics("b")["partner_relay_sync_grace_entries"])
        prmtest.run(["postconf", "-e", "defer_transports ="], env=b.env())
        prmtest.run(["postfix", "-c", b.path("etc"), "reload"], env=b.env())
        b.flush_until_empty(90)
        self.assertTrue(wait_arrived([tok], 30), self.diag())
        self.assertIn(where(tok)[:3], [("beta", beta.sender, beta.username),
                                       ("global", prmtest.FALLBACK_SENDER, prmtest.GLOBAL_USER)])

    def test_08_mass_delete_refused(self):
        active = sorted(sections("a"))
        files = {n: HOSTS[n].read("partners.conf") for n in "ab"}
        applied_before = {n: applied(n) for n in "ab"}
        PG.psql("DELETE FROM partner_relay.partners WHERE id IN ('gamma', 'delta', 'echo', 'golf')")
        v = db_version()
        for n in "ab":
            self.assertTrue(pgtmp.wait_for(
                lambda: metrics(n)["partner_relay_sync_refused"] == 1, 20), self.diag())
            self.assertIn("event=refused version=%d reason=max_drop active=%d dropped=4 max_drop=50"
                          % (v, len(active)), HOSTS[n].read("sync.log"))
            self.assertEqual(HOSTS[n].read("partners.conf"), files[n])
            self.assertEqual(applied(n), applied_before[n])
        PG.psql("UPDATE partner_relay.partners SET categories = 'custom,aml-alert' WHERE id = 'acme'")
        v = db_version()  # still refused: it drops as many
        self.assertTrue(pgtmp.wait_for(lambda: "event=refused version=%d " % v in
                                       HOSTS["a"].read("sync.log"), 20), self.diag())
        ck = sync_cmd(HOSTS["a"], "--check")
        self.assertEqual(ck.returncode, 1, ck.stdout)
        self.assertIn("- gamma: removed", ck.stdout)
        self.assertIn("~ acme: changed: categories\n", ck.stdout)
        self.assertNotIn("custom,aml-alert", ck.stdout)  # key names, never values
        once = sync_cmd(HOSTS["b"], "--once")
        self.assertEqual(once.returncode, 1, once.stdout)
        forced = sync_cmd(HOSTS["b"], "--once", "--force")
        self.assertEqual(forced.returncode, 0, forced.stdout)
        self.assertEqual(sorted(sections("b")), ["acme"])
        st = sync_cmd(HOSTS["a"], "--status")
        self.assertEqual(st.returncode, 1, st.stdout)
        self.assertRegex(st.stdout, r"(?m)^a version \d+ applied \S+ behind by \d+$")
        self.assertRegex(st.stdout, r"(?m)^b version %d applied \S+ current$" % v)


    def test_10_database_side_unprivileged(self):
        """The daemon stays root (it publishes); its database side runs in a
        child as the milter's user; a killed child is replaced."""
        def child(pid):
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = [int(k) for k in f.read().split()]
            self.assertEqual(len(kids), 1, "sync %d: got children %s, want one" % (pid, kids))
            return kids[0]

        def uid(pid):
            with open("/proc/%d/status" % pid) as f:
                return int(re.search(r"(?m)^Uid:\s+(\d+)\s+(\d+)\s+(\d+)", f.read()).group(1, 2, 3)[1])
        nobody = pwd.getpwnam(prmtest.MILTER_USER).pw_uid
        parent = SYNCS["b"].pid
        self.assertEqual(uid(parent), 0)
        kid = child(parent)
        self.assertEqual(uid(kid), nobody)
        fds = sorted(int(f) for f in os.listdir("/proc/%d/fd" % kid))
        self.assertLessEqual(len([f for f in fds if f > 2]), 2, "child fds %s: socket + db only" % fds)
        os.kill(kid, signal.SIGKILL)
        PG.psql("UPDATE partner_relay.partners SET categories = 'custom' WHERE id = 'acme'")
        self.assertTrue(wait_applied("b", db_version()), self.diag())
        new = child(parent)
        self.assertNotEqual(new, kid)
        self.assertEqual(uid(new), nobody)

    def test_11_grace_follows_maximal_queue_lifetime(self):
        """With no [sync] grace, the SASL entries of removed partners stay
        for Postfix's maximal_queue_lifetime: set to 1s, they expire at the
        next publication; the token broker reloads with the milter."""
        b = HOSTS["b"]
        self.assertIn(P["beta"].sender, b.read("tables/sasl_passwd"))
        tokend_reloads = b.read("tokend.log").count("reloaded")
        old = prmtest.run(["postconf", "-h", "maximal_queue_lifetime"], env=b.env()).stdout.strip()
        prmtest.run(["postconf", "-e", "maximal_queue_lifetime = 1s"], env=b.env())
        try:
            time.sleep(1.1)
            PG.psql("UPDATE partner_relay.partners SET categories = 'custom,aml-alert' WHERE id = 'acme'")
            self.assertTrue(wait_applied("b", db_version()), self.diag())
        finally:
            prmtest.run(["postconf", "-e", "maximal_queue_lifetime = " + old], env=b.env())
        self.assertNotIn(P["beta"].sender, b.read("tables/sasl_passwd"))
        self.assertIn(P["acme"].sender, b.read("tables/sasl_passwd"))
        self.assertRegex(b.read("sync.log"), r"event=applied version=%d .* grace_kept=0 "
                                             r"grace_expired=[1-9]" % db_version())
        self.assertTrue(pgtmp.wait_for(
            lambda: b.read("tokend.log").count("reloaded") > tokend_reloads, 10),
            "the token broker did not reload:\n" + b.read("tokend.log")[-2000:])

    def test_12_log_lines_are_key_value(self):
        line_re = re.compile(r'^(?:error|warning|notice|info|debug): event=[a-z-]+'
                             r'(?: [a-z_]+=(?:[^\s"]+|"(?:[^"\\]|\\.)*"))*$')
        for n in "ab":
            lines = [l for l in HOSTS[n].read("sync.log").splitlines() if l.strip()]
            self.assertGreater(len(lines), 5, n)
            bad = [l for l in lines if not line_re.match(l)]
            self.assertEqual(bad, [], "host %s: lines not key=value" % n)
        # SIGUSR1 while the daemon waits (its database child is in the
        # wait): the configuration is read again, the dsn logged redacted.
        SYNCS["a"].send_signal(signal.SIGUSR1)
        self.assertTrue(pgtmp.wait_for(lambda: "event=config-reloaded" in HOSTS["a"].read("sync.log"),
                                       15), self.diag())
        log = HOSTS["a"].read("sync.log")
        self.assertRegex(log, r'event=config-reloaded dsn=".*password=\(hidden\)"')
        self.assertNotIn(DSN_PW, log)
        self.assertRegex(log, r'(?m)event=starting .*dsn="host=\S+ port=\d+ dbname=postgres '
                              r'user=partner_relay_sync password=\(hidden\)"$')


if __name__ == "__main__":
    unittest.main(verbosity=2)
