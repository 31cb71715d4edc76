"""prmtest.py - end-to-end harness: a private Postfix, fake relays, the milter.

What it is: a library the integration tests import.  An Instance builds, in
one temporary directory, everything a message needs to travel the real path
of DESIGN.md: fake SMTP relays (tests/lib/fakesmtp.py; one global relay with
AUTH, partner relays with STARTTLS or implicit TLS and per-server
credentials), the milter's configuration and partner table, the Postfix
tables (by running the real partner-relay-tables), a private Postfix
instance whose main.cf and master.cf are generated FROM contrib/postfix/
(paths and ports substituted, so the tests check the shipped recipe), and
the milter daemon.  Tests then inject mail over SMTP and assert on what the
fake relays recorded.

Contract:
  - require_root_and_postfix() exits 77 (Automake SKIP) with the reason
    when not root or when Postfix is missing; call it first.
  - Instance(...).start() brings everything up; close() (also on context
    exit and at interpreter exit) stops Postfix (stop, then abort), the
    milter and the relays, and removes the directory unless PRM_KEEP=1.
  - Everything listens on 127.0.0.1 only, on ports the kernel picked;
    every wait is bounded.
  - The build directory comes from the Automake environment
    (abs_top_builddir), or PRM_BUILDDIR when run by hand.

Typical use (one Instance per test file, reused across messages):

    prmtest.require_root_and_postfix()
    inst = prmtest.Instance("mytest")              # + the global relay
    acme = inst.add_partner(prmtest.Partner("acme"))  # + relay "acme"
    inst.start()
    tok = inst.send([("X-Partner-Id", "acme"), ("X-Email-Category", "custom")])
    assert inst.wait_settled([tok])
    assert not inst.check_arrival(tok, "acme", acme.sender, acme.sender,
                                  acme.username)
    inst.relays["acme"].set_fault("greet421")      # next connections fail
    inst.update_partners(); inst.reload_milter()   # tables first, then milter

Choices:
  - No set-gid tools: mail is injected by SMTP (smtplib), the queue is read
    by listing the queue directories (we are root), so the default
    /etc/postfix/main.cf is neither needed nor touched.
  - The milter listens on inet:127.0.0.1:PORT, so that Postfix processes
    (user postfix) can reach it while the milter runs as root.
  - Trusted submitters connect from 127.0.0.1; untrusted ones bind their
    client socket to 127.0.0.2 (the milter's trusted_networks is
    127.0.0.1/32, Postfix's mynetworks is 127.0.0.0/8, so both relay).

Thread safety: none; one Instance per test process.
Standard library only (Debian's /usr/bin/python3).
"""

import atexit
import email.utils
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))
import spool  # noqa: E402  (tests/lib/spool.py)

sys.path.insert(0, HERE)
from postfixconf import base_main_cf, base_master_cf  # noqa: E402
# builddir() and program() are part of this module's interface too.
from milterhost import MilterHost, builddir, program  # noqa: E402,F401

CONTRIB = os.path.join(SRCDIR, "contrib", "postfix")
RECIPE_DIR = "/etc/postfix/partner-relay"
RECIPE_SOCKET = "unix:partner-relay-milter/milter.sock"
RECIPE_FB_PORT, RECIPE_FBS_PORT = "10027", "10465"
FALLBACK_SENDER = "noreply@platform.example"
GLOBAL_USER, GLOBAL_PASS = "platform", "platform-global-secret"
SKIP = 77
MILTER_USER = "nobody"


def require_root_and_postfix():
    """Exit 77 (Automake SKIP) with the reason unless we can run Postfix."""
    why = None
    if os.geteuid() != 0:
        why = "not root (a private Postfix instance needs root)"
    elif not shutil.which("postfix", path="/usr/sbin:/usr/bin:/sbin:/bin"):
        why = "Postfix is not installed (Debian package postfix)"
    elif not os.path.isdir("/usr/lib/postfix/sbin"):
        why = "Postfix daemon directory /usr/lib/postfix/sbin missing"
    if why:
        print("SKIP: " + why, flush=True)
        sys.exit(SKIP)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, env=None, check=True, timeout=60):
    """Run CMD, capture output; raise with the output when CHECK fails."""
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout,
                       stdin=subprocess.DEVNULL, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s" % (" ".join(cmd), p.returncode,
                                                  p.stdout))
    return p


class Relay:
    """One fake relay process: its name, port, credentials and fault file."""

    def __init__(self, name, port, proc, users, tls, fault_file):
        self.name, self.port, self.proc = name, port, proc
        self.users, self.tls, self.fault_file = users, tls, fault_file

    def set_fault(self, fault):
        """Make the relay misbehave from its next connection on ("none")."""
        tmp = self.fault_file + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(fault + "\n")
        os.replace(tmp, self.fault_file)


class Partner:
    """One partner table entry; a field set to None is left out.

    AUTH = "oauth2" makes an OAuth2 partner: no password, the oauth_* keys
    from OAUTH (a dict: oauth_client_id, oauth_client_secret,
    oauth_token_url or oauth_tenant, oauth_scope) instead (oauthtest.py).
    """

    def __init__(self, pid, relay=None, host="localhost", port=None,
                 username=None, password=None, sender=None, tls=None,
                 categories=None, omit=(), tls_fingerprint=None, auth=None, oauth=None):
        self.id, self.relay, self.host, self.port = pid, relay, host, port
        self.username = username if username is not None else pid + "-user"
        self.auth, self.oauth = auth, dict(oauth or {})
        if auth == "oauth2":
            self.password = password
        else:
            self.password = password if password is not None else pid + "-secret-pw"
        self.sender = sender if sender is not None else "mail@%s.example" % pid
        self.tls, self.categories, self.omit = tls, categories, set(omit)
        self.tls_fingerprint = tls_fingerprint

    def ini(self):
        """This partner as an INI section."""
        fields = [("host", self.host), ("port", self.port),
                  ("username", self.username), ("password", self.password),
                  ("sender", self.sender), ("tls", self.tls),
                  ("tls_fingerprint", self.tls_fingerprint),
                  ("categories", self.categories), ("auth", self.auth)]
        fields += sorted(self.oauth.items())
        lines = ["[%s]" % self.id]
        for k, v in fields:
            if v is not None and k not in self.omit:
                lines.append("%s = %s" % (k, v))
        return "\n".join(lines) + "\n"


class Instance(MilterHost):
    """A private Postfix + fake relays + milter in one temporary directory."""

    LEAK_FILES = ("milter.log", "maillog", "tokend.log")

    def __init__(self, name, milter=True, config_extra=""):
        self.name = name
        self.want_milter = milter
        self.config_extra = config_extra
        # Every fake relay is on loopback, which the partner host guard
        # refuses unless allowed; "localhost" may also resolve to ::1.
        self.allowed_private_relays = "127.0.0.0/8, ::1/128"
        # Partner relays present certificates of the private test CA
        # (tests/lib/mkcerts.sh) for "localhost": trusted through
        # [milter] relay_cafile, as a site with a private CA would.
        self.relay_cafile = None  # set below, once the directory exists
        self.relays = {}
        self.partners = []
        self.fallback_overrides = []  # "param=value" for both fallback listeners
        self.main_overrides = []      # "param = value" lines after the recipe
        self.extra_secrets = set()    # more secrets for _keep_leaks (tokens...)
        self.extra_implicit_ports = set()  # more implicit_tls_ports (no_relay)
        self.milter_proc = None
        self.postfix_up = False
        self.dir = tempfile.mkdtemp(prefix="prm-%s-" % name)
        os.chmod(self.dir, 0o755)  # Postfix daemons (user postfix) traverse it
        for sub in ("etc", "tables", "spool", "certs", "relays"):
            os.makedirs(self.path(sub), exist_ok=True)
        self.spool_dir = self.path("relays")
        self.ports = {k: free_port() for k in ("smtpd", "fb", "fbs", "milter")}
        atexit.register(self.close)
        spool.make_certs(self.path("certs"))
        self.relay_cafile = self.path("certs", "ca.pem")
        self.add_relay("global", tls="starttls",
                       users={GLOBAL_USER: GLOBAL_PASS}, require_auth=True)

    # -- paths and environment ------------------------------------------------

    def env(self):
        """Environment for Postfix tools: MAIL_CONFIG = our config dir."""
        e = dict(os.environ)
        e["MAIL_CONFIG"] = self.path("etc")
        e["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
        return e

    # -- relays and partners --------------------------------------------------

    def add_relay(self, name, tls="starttls", users=None, require_auth=True,
                  fault=None, cert="server", xoauth2_file=None, mechs=None):
        """Start a fake relay NAME on 127.0.0.1; return its Relay.

        CERT names the mkcerts.sh pair: "server" (localhost, 127.0.0.1) or
        "wrong" (wrong.example only).
        """
        users = users or {}
        fault_file = self.path("relays", ".%s.fault" % name)
        extra = ("--idle-timeout", "20")
        p, port = spool.start_server(
            self.spool_dir, name, *extra, tls=tls,
            cert=self.path("certs", cert + ".pem"),
            key=self.path("certs", cert + ".key"),
            auth=["%s:%s" % kv for kv in users.items()],
            require_auth=require_auth, fault_file=fault_file, max_seconds=900,
            xoauth2_file=xoauth2_file, mechs=mechs)
        relay = Relay(name, port, p, dict(users), tls, fault_file)
        relay.cert, relay.xoauth2_file, relay.mechs = cert, xoauth2_file, mechs
        if fault:
            relay.set_fault(fault)
        self.relays[name] = relay
        return relay

    def add_partner(self, partner, tls="starttls", fault=None, no_relay=False,
                    cert="server"):
        """Add PARTNER; start its relay (named after it unless given).

        FAULT starts a new relay in that fault mode; NO_RELAY starts none
        (PARTNER.port should then be a port nothing listens on).
        """
        rname = partner.relay or partner.id
        if no_relay:
            partner.relay = rname
            partner.port = partner.port or free_port()
            self.partners.append(partner)
            return partner
        relay = self.relays.get(rname)
        if relay is None:
            relay = self.add_relay(rname, tls=tls, fault=fault, cert=cert,
                                   users={partner.username: partner.password})
        elif partner.username not in relay.users:
            # A shared relay: restart it knowing every partner's login.
            self._restart_relay(relay, partner)
            relay = self.relays[rname]
        partner.relay = rname
        if partner.port is None:
            partner.port = relay.port
        self.partners.append(partner)
        return partner

    def _restart_relay(self, relay, partner):
        """Restart RELAY on the same port with PARTNER's login added."""
        spool.stop_server(relay.proc)
        users = dict(relay.users)
        users[partner.username] = partner.password
        extra = ("--idle-timeout", "20", "--listen", "127.0.0.1:%d" % relay.port)
        p, port = spool.start_server(
            self.spool_dir, relay.name, *extra, tls=relay.tls,
            cert=self.path("certs", relay.cert + ".pem"),
            key=self.path("certs", relay.cert + ".key"),
            auth=["%s:%s" % kv for kv in users.items()], require_auth=True,
            fault_file=relay.fault_file, max_seconds=900,
            xoauth2_file=getattr(relay, "xoauth2_file", None),
            mechs=getattr(relay, "mechs", None))
        if port != relay.port:
            raise RuntimeError("relay %s moved from port %d to %d"
                               % (relay.name, relay.port, port))
        new = Relay(relay.name, port, p, users, relay.tls, relay.fault_file)
        new.cert = relay.cert
        new.xoauth2_file = getattr(relay, "xoauth2_file", None)
        new.mechs = getattr(relay, "mechs", None)
        self.relays[relay.name] = new

    # -- configuration --------------------------------------------------------

    def milter_socket(self):
        """The milter socket in libmilter syntax."""
        return "inet:%d@127.0.0.1" % self.ports["milter"]

    def write_milter_config(self):
        """Write milter.conf and partners.conf (mode 0600)."""
        implicit = sorted({465, 2465} | self.extra_implicit_ports |
                          {p.port for p in self.partners
                                         if p.relay in self.relays
                                         and self.relays[p.relay].tls == "implicit"
                                         and isinstance(p.port, int)})
        conf = ("[milter]\nsocket = %s\npartners = %s\n"
                "trusted_networks = 127.0.0.1/32\nfallback_sender = %s\nuser = %s\n"
                "implicit_tls_ports = %s\nlog_level = debug\n"
                "allowed_private_relays = %s\nrelay_cafile = %s\n"
                "tables_dir = %s\n%s" % (
                    self.milter_socket(), self.path("partners.conf"),
                    FALLBACK_SENDER, MILTER_USER, ", ".join(map(str, implicit)),
                    self.allowed_private_relays, self.relay_cafile,
                    self.path("tables"), self.config_extra))
        self._write("milter.conf", conf, 0o644)
        path = self._write("partners.conf",
                           "".join(p.ini() + "\n" for p in self.partners), 0o600)
        # The milter drops root for MILTER_USER; it must still read the
        # table on reload, as on a real host (owner = the milter's user).
        pw = pwd.getpwnam(MILTER_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)

    def recipe(self, fname):
        """A contrib/postfix file with the instance's paths and ports."""
        with open(os.path.join(CONTRIB, fname), encoding="utf-8") as f:
            text = f.read()
        subs = [(RECIPE_DIR, self.path("tables")),
                (RECIPE_SOCKET, "inet:127.0.0.1:%d" % self.ports["milter"]),
                ("127.0.0.1:" + RECIPE_FB_PORT, "127.0.0.1:%d" % self.ports["fb"]),
                ("127.0.0.1:" + RECIPE_FBS_PORT, "127.0.0.1:%d" % self.ports["fbs"]),
                ("[127.0.0.1]:" + RECIPE_FB_PORT, "[127.0.0.1]:%d" % self.ports["fb"]),
                ("[127.0.0.1]:" + RECIPE_FBS_PORT, "[127.0.0.1]:%d" % self.ports["fbs"])]
        must = {"main.cf.fragment": (RECIPE_DIR, RECIPE_SOCKET),
                "master.cf.fragment": tuple([RECIPE_DIR] + [o for o, _ in subs[2:]])}
        for old in must.get(fname, ()):
            if old not in text:
                raise RuntimeError("contrib/postfix/%s no longer contains %r: "
                                   "update the harness" % (fname, old))
        for old, new in subs:
            text = text.replace(old, new)
        return text

    def write_postfix_config(self):
        """Generate main.cf and master.cf from base settings + the recipe."""
        main = base_main_cf(self) + "\n# --- contrib/postfix/main.cf.fragment\n" \
            + self.recipe("main.cf.fragment") + self.sasl_path_lines() \
            + "".join(line + "\n" for line in self.main_overrides)
        master = base_master_cf(self) + "\n# --- contrib/postfix/master.cf.fragment\n" \
            + self.recipe("master.cf.fragment")
        self._write("etc/main.cf", main, 0o644)
        self._write("etc/master.cf", master, 0o644)
        # [milter] relay_cafile, carried into the partner transports as
        # contrib/postfix/master.cf.fragment says (and as the lines
        # partner-relay-tables prints do): the only CA they trust.
        if self.relay_cafile:
            for svc in ("partner", "partner-smtps", "partner-oauth"):
                run(["postconf", "-P", "%s/unix/smtp_tls_CAfile=%s" % (svc, self.relay_cafile),
                     "%s/unix/smtp_tls_CApath=" % svc], env=self.env())
        # Test-only changes to the fallback listeners (e.g. a rejection to
        # provoke), applied with postconf -P on top of the recipe.
        for param in self.fallback_overrides:
            for port in (self.ports["fb"], self.ports["fbs"]):
                run(["postconf", "-P", "127.0.0.1:%d/inet/%s" % (port, param)],
                    env=self.env())
        g = self.relays["global"]
        self._write("etc/global_sasl", "[127.0.0.1]:%d %s:%s\n"
                    % (g.port, GLOBAL_USER, GLOBAL_PASS), 0o600)
        for f in ("milter_header_checks", "smtp_header_checks",
                  "smtp_reply_filter"):
            self._write(os.path.join("tables", f), self.recipe(f), 0o644)

    def sasl_path_lines(self):
        """import_environment with SASL_PATH: our built XOAUTH2 plugin first
        (a copy in the instance), then the system's plugins (PLAIN, LOGIN).
        Postfix applies import_environment at start, not at reload."""
        plugdir = self.path("sasl2")
        os.makedirs(plugdir, exist_ok=True)
        built = program("libprmxoauth2.so")
        if os.path.exists(built):
            shutil.copy(built, plugdir)
        system = "/usr/lib/x86_64-linux-gnu/sasl2"
        r = run(["pkg-config", "--variable=libdir", "libsasl2"], check=False)
        if r.returncode == 0 and r.stdout.strip():
            system = os.path.join(r.stdout.strip(), "sasl2")
        return ("# --- test: Cyrus loads the built XOAUTH2 plugin\n"
                "import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ "
                "LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME SASL_PATH=%s:%s\n"
                % (plugdir, system))

    def run_tables(self, *extra):
        """Run partner-relay-tables for this instance; return the result."""
        cmd = [program("partner-relay-tables"), "-c", self.path("milter.conf"),
               "-o", self.path("tables")] + list(extra)
        return run(cmd, env=self.env(), check=False)

    # -- processes ------------------------------------------------------------

    def start(self):
        """Write every configuration and start the milter and Postfix."""
        self.write_milter_config()
        self.write_postfix_config()
        r = self.run_tables()
        if r.returncode != 0:
            raise RuntimeError("partner-relay-tables failed (%d):\n%s"
                               % (r.returncode, r.stdout))
        self.tables_output = r.stdout
        if self.want_milter:
            self.start_milter()
        run(["postfix", "-c", self.path("etc"), "start"], env=self.env())
        self.postfix_up = True
        ok = spool.wait_for(lambda: self._listening(self.ports["smtpd"]), 20, 0.1)
        if not ok:
            raise RuntimeError("Postfix did not listen:\n" + self.maillog()[-3000:])
        return self

    def _master_alive(self):
        """Is the instance's master(8) process (per its pid file) running?"""
        try:
            with open(self.path("spool", "pid", "master.pid"), encoding="ascii") as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            return True
        except (OSError, ValueError):
            return False

    def update_partners(self):
        """Rewrite partners.conf from self.partners and rerun the tables tool
        (before reload_milter(), as an operator must)."""
        self.write_milter_config()
        r = self.run_tables()
        if r.returncode != 0:
            raise RuntimeError("partner-relay-tables failed (%d):\n%s"
                               % (r.returncode, r.stdout))

    def reload_milter(self):
        """Send SIGUSR1 (reload) to the milter."""
        if self.milter_proc is None:
            raise RuntimeError("the milter is not running")
        self.milter_proc.send_signal(signal.SIGUSR1)

    def maillog(self):
        """Postfix's log (maillog_file)."""
        return self.read("maillog")

    def close(self):
        """Stop everything we started and remove the directory."""
        if self.postfix_up:
            e = self.env()
            if run(["postfix", "-c", self.path("etc"), "stop"], env=e,
                   check=False, timeout=30).returncode != 0:
                run(["postfix", "-c", self.path("etc"), "abort"], env=e,
                    check=False, timeout=30)
            # master exits asynchronously: wait (bounded) until it is gone.
            spool.wait_for(lambda: not self._master_alive(), 10, 0.1)
            self.postfix_up = False
        self.close_common()

    def leak_secrets(self):
        """What must never appear in milter.log, maillog or the token
        broker's log (oauthtest.Tokend): passwords, client secrets, tokens."""
        return ({p.password for p in self.partners if p.password} | {GLOBAL_PASS}
                | {p.oauth.get("oauth_client_secret") for p in self.partners
                   if p.oauth.get("oauth_client_secret")} | set(self.extra_secrets))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- mail -----------------------------------------------------------------

    def auth_events(self):
        """Every AUTH attempt any fake relay saw."""
        return spool.read_auth_events(self.spool_dir)

    def queue_files(self):
        """Queue files still in Postfix's queue (maildrop..hold)."""
        out = []
        for q in ("maildrop", "incoming", "active", "deferred", "hold"):
            for root, _, files in os.walk(self.path("spool", q)):
                out.extend(os.path.join(root, f) for f in files)
        return out

    def flush_until_empty(self, timeout=60):
        """postqueue -f until the queue is empty (True) or TIMEOUT s pass.
        After defer_transports is lifted, one flush was seen to be lost
        (sent while qmgr restarted after the reload; the message then sat
        in the deferred queue for over 90 s): so it is repeated."""
        end = time.time() + timeout
        while True:
            run(["postqueue", "-c", self.path("etc"), "-f"], env=self.env(), check=False)
            if spool.wait_for(lambda: not self.queue_files(), min(3, max(0.1, end - time.time())), 0.1):
                return True
            if time.time() >= end:
                return False

    def queue_ids(self, token):
        """Postfix queue ids that carried TOKEN's Message-ID (cleanup log)."""
        want = "message-id=<%s@prm-test>" % token
        return [line.split(": ")[1] for line in self.maillog().splitlines()
                if line.endswith(want) and line.count(": ") >= 2]

    def milter_lines(self, token):
        """The milter's summary lines for every queue file of TOKEN."""
        ids = set(self.queue_ids(token))
        out = []
        for line in self.read("milter.log").splitlines():
            # "info: QUEUEID: category=... partner=... route=... reason=..."
            parts = line.split(": ", 2)
            if len(parts) == 3 and parts[1] in ids:
                out.append(line)
        return out

    def diagnostics(self):
        """Logs to print when an assertion fails."""
        return ("--- maillog (tail)\n%s\n--- milter.log (tail)\n%s" % (
            self.maillog()[-4000:], self.read("milter.log")[-2000:]))

    # -- assertions -----------------------------------------------------------

    def check_arrival(self, token, server, mail_from, from_addr, auth_user,
                      tls=True, route_header_ok=False, partner_header_ok=False):
        """Problems ("got X, want Y") with the delivery of TOKEN, or [].

        Exactly one arrival, at SERVER, with envelope sender MAIL_FROM, a
        From header whose address is FROM_ADDR, AUTH as AUTH_USER, TLS as
        given, no internal route header unless ROUTE_HEADER_OK, and no
        X-Partner-Id (the milter strips it: [headers] strip_partner) unless
        PARTNER_HEADER_OK.
        """
        got = self.arrivals(token)
        if len(got) != 1:
            where = [m["server"] for m in got]
            return ["%s: got %d arrivals %s, want 1 at %s" % (token, len(got), where, server)]
        m = got[0]
        problems = []
        addr = email.utils.parseaddr(m.get("from_header") or "")[1]
        for what, have, want in (("server", m["server"], server),
                                 ("envelope sender", m["mail_from"], mail_from),
                                 ("From address", addr, from_addr),
                                 ("AUTH identity", m["auth_user"], auth_user),
                                 ("TLS", m["tls"], tls)):
            if have != want:
                problems.append("%s: %s: got %r, want %r" % (token, what, have, want))
        if header_values(m, "X-Partner-Relay-Route") and not route_header_ok:
            problems.append("%s: route header reached %s" % (token, m["server"]))
        if header_values(m, "X-Partner-Id") and not partner_header_ok:
            problems.append("%s: X-Partner-Id reached %s" % (token, m["server"]))
        return problems

    def leaked_passwords(self, partners):
        """AUTH attempts that showed a partner's password to another server."""
        leaks = []
        for ev in self.auth_events():
            for p in partners:
                if ev.get("password") == p.password and ev.get("server") != p.relay:
                    leaks.append("partner %s's password was sent to %s (user %r)"
                                 % (p.id, ev.get("server"), ev.get("user")))
        return leaks


def header_values(msg, name):
    """Values of every header NAME (any case) of a recorded message."""
    return [v for n, v in msg.get("headers", []) if n.lower() == name.lower()]


def display_name(msg):
    """The display name of a recorded message's From header."""
    return email.utils.parseaddr(msg.get("from_header") or "")[0]
