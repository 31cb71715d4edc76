"""smtest.py - a private Debian Sendmail 8.17, fake relays and the milter.

What it is: the harness of the Sendmail tests.  Sendmail comes from
getsendmail.sh (apt-get download + dpkg -x into the build tree, nothing
installed).  An Instance builds in one temporary directory (mode 0700):
fake relays (tests/lib/fakesmtp.py) on 127.0.0.1, the milter's config with
[milter] mta = sendmail, the maps written by the real
`partner-relay-tables --mta sendmail` (makemap from the unpacked package),
and a sendmail.cf built with m4 from a test .mc plus the SHIPPED
contrib/sendmail/partner-relay.m4, then runs `sendmail -bD` on loopback
ports, with its own queue, pid file, status, aliases, host status,
service switch and hosts file.  Sendmail runs in a private mount namespace
whose /etc/hosts names this machine with a qualified name (an unqualified
one makes Sendmail sleep 60 s at start); the host's files are not touched.

Contract: require() exits 77 with the reason when this cannot run; an
Instance is closed at exit (Sendmail and the milter stopped by pid, relays
stopped, directory removed unless PRM_KEEP=1).  Every wait is bounded.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))
import prmtest  # noqa: E402
from prmtest import Partner, spool, program, run, free_port  # noqa: E402,F401

FRAGMENT = os.path.join(SRCDIR, "contrib", "sendmail", "partner-relay.m4")
FALLBACK_SENDER = prmtest.FALLBACK_SENDER
GLOBAL_USER, GLOBAL_PASS = prmtest.GLOBAL_USER, prmtest.GLOBAL_PASS
GLOBAL_ADDR = "127.0.0.5"  # the global relay: its own address, its own AuthInfo
SKIP = 77


def cache_dir():
    """The download cache in the build tree (reused between runs)."""
    return os.path.join(prmtest.builddir(), "tests", "sendmail", "cache")


def require():
    """Exit 77 with the reason unless Sendmail can be fetched and run; return its root."""
    if os.geteuid() != 0:
        print("SKIP: not root (a private Sendmail needs root)", flush=True)
        sys.exit(SKIP)
    if not shutil.which("unshare"):
        print("SKIP: unshare(1) missing (util-linux)", flush=True)
        sys.exit(SKIP)
    p = subprocess.run(["sh", os.path.join(HERE, "getsendmail.sh"), cache_dir()],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=300)
    if p.returncode != 0:
        print(p.stderr.strip() or "SKIP: getsendmail.sh failed", flush=True)
        sys.exit(SKIP if p.returncode == SKIP else 1)
    return p.stdout.strip()


TEST_MC = """divert(-1)
divert(0)dnl
include(`{cf}/m4/cf.m4')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `mta.test.invalid')dnl
define(`QUEUE_DIR', `{d}/mqueue')dnl
define(`confPID_FILE', `{d}/sendmail.pid')dnl
define(`STATUS_FILE', `{d}/sendmail.st')dnl
define(`HELP_FILE', `{d}/helpfile')dnl
define(`ALIAS_FILE', `{d}/aliases')dnl
define(`confHOST_STATUS_DIRECTORY', `{d}/hoststat')dnl
define(`confSERVICE_SWITCH_FILE', `{d}/service.switch')dnl
define(`confHOSTS_FILE', `{d}/hosts')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl
define(`confCACERT', `{d}/certs/ca.pem')dnl
define(`confCACERT_PATH', `{d}/certs')dnl
define(`confTO_QUEUEWARN', `4h')dnl
define(`SMART_HOST', `relay:[{g}]')dnl
define(`RELAY_MAILER_ARGS', `TCP $h {gport}')dnl
FEATURE(`no_default_msa')dnl
FEATURE(`nocanonify')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`access_db', `hash -T<TMPF> -o {d}/access')dnl
FEATURE(`authinfo', `hash -o {d}/authinfo')dnl
DAEMON_OPTIONS(`Family=inet, Name=MTA, Addr=127.0.0.1, Port={port}')dnl
MAILER(`local')dnl
MAILER(`smtp')dnl
define(`PRM_MAPDIR', `{d}/maps')dnl
define(`PRM_MILTER_SOCKET', `inet:{mport}@127.0.0.1')dnl
define(`PRM_PORTS', `{ports}')dnl
include(`{fragment}')dnl
"""


class Instance(prmtest.MilterHost):
    """Sendmail + fake relays + milter in one temporary directory (the
    directory, relay, milter and mail helpers: prmtest.MilterHost)."""

    SMTP_PORT = "smtp"
    UNTRUSTED_ADDR = "127.0.0.3"  # the access map lets it relay
    LEAK_FILES = ("milter.log", "sendmail.log")
    LEAK_SUBDIR = "sendmail"

    def __init__(self, name, root):
        self.name, self.root = name, root
        self.cfdir = os.path.join(root, "usr", "share", "sendmail", "cf")
        self.sendmail = os.path.join(root, "usr", "libexec", "sendmail", "sendmail")
        self.makemap = os.path.join(root, "usr", "libexec", "sendmail", "makemap")
        self.dir = tempfile.mkdtemp(prefix="prm-sm-%s-" % name)
        for sub in ("mqueue", "hoststat", "maps", "certs", "relays"):
            os.makedirs(self.path(sub), mode=0o700)
        self.spool_dir = self.path("relays")
        os.chmod(self.spool_dir, 0o755)
        self.ports = {"smtp": free_port(), "milter": free_port()}
        self.relays, self.partners = {}, []
        self.extra_ports = []  # mailer ports for partners added later (reload)
        self.host_names = []  # (address, name) lines of the private hosts file
        self.milter_proc = self.sm_proc = None
        atexit_register(self.close)
        spool.make_certs(self.path("certs"))
        self.add_relay("global", users={GLOBAL_USER: GLOBAL_PASS}, host=GLOBAL_ADDR)

    # -- relays and partners --------------------------------------------------

    def add_relay(self, name, users=None, fault=None, host="127.0.0.1", tls="starttls",
                  cert="server", port=0):
        """Start fake relay NAME (STARTTLS, AUTH required after TLS) with the
        mkcerts.sh pair CERT (server: localhost and 127.0.0.1; wrong:
        wrong.example only), on HOST:PORT (0: a free port; another relay's
        port on another address shares that port's partner mailer: a
        Sendmail has at most 25 mailers)."""
        fault_file = self.path("relays", ".%s.fault" % name)
        p, port = spool.start_server(
            self.spool_dir, name, "--idle-timeout", "20", tls=tls,
            cert=self.path("certs", cert + ".pem"), key=self.path("certs", cert + ".key"),
            auth=["%s:%s" % kv for kv in (users or {}).items()], require_auth=True,
            fault_file=fault_file, max_seconds=900, host=host, port=port)
        relay = prmtest.Relay(name, port, p, dict(users or {}), tls, fault_file)
        relay.host = host
        if fault:
            relay.set_fault(fault)
        self.relays[name] = relay
        return relay

    def next_addr(self):
        """A loopback address of its own for the next relay: Sendmail keeps
        host status per host, so relays sharing 127.0.0.1 would share it."""
        self._next = getattr(self, "_next", 9) + 1
        return "127.0.0.%d" % self._next

    def named_cert(self, name):
        """A certificate for DNS:NAME signed by the test CA (certs/NAME.pem);
        returns the pair's name for add_relay(cert=...)."""
        c = self.path("certs")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", "%s/%s.key" % (c, name),
                        "-subj", "/CN=" + name, "-out", "%s/%s.csr" % (c, name)],
                       check=True, capture_output=True, timeout=30)
        with open("%s/%s.ext" % (c, name), "w", encoding="ascii") as f:
            f.write("basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
                    "subjectAltName=DNS:%s\n" % name)
        subprocess.run(["openssl", "x509", "-req", "-in", "%s/%s.csr" % (c, name), "-CA",
                        c + "/ca.pem", "-CAkey", c + "/ca.key", "-set_serial", "0x5e11d",
                        "-days", "30", "-extfile", "%s/%s.ext" % (c, name),
                        "-out", "%s/%s.pem" % (c, name)], check=True, capture_output=True,
                       timeout=30)
        return name

    def add_partner(self, partner, relay=None, name=None, cert="server", port=0):
        """Add PARTNER with its own relay, or on RELAY (shared host and port).

        NAME gives the relay a host name (in the private hosts file) and
        the partner the default tls level, secure (VERIFY:112+CN); without
        it the relay is an IP literal, which wants tls = encrypt.
        """
        if relay is None:
            relay = self.add_relay(partner.id, users={partner.username: partner.password},
                                   host=self.next_addr(), cert=cert, port=port)
        partner.relay, partner.port = relay.name, relay.port
        if name:
            partner.host = name
            self.host_names.append((relay.host, name))
        else:
            partner.host = relay.host
            partner.tls = partner.tls or "encrypt"
        self.partners.append(partner)
        return partner

    # -- configuration --------------------------------------------------------

    def write_milter_config(self):
        """milter.conf (mta = sendmail) and partners.conf."""
        self._write("milter.conf", (
            "[milter]\nsocket = inet:%d@127.0.0.1\npartners = %s\nmta = sendmail\n"
            "trusted_networks = 127.0.0.1/32\nfallback_sender = %s\nuser = %s\n"
            "log_level = debug\nallowed_private_relays = 127.0.0.0/8, ::1/128\n"
            "relay_cafile = %s\ntables_dir = %s\n"
            % (self.ports["milter"], self.path("partners.conf"), FALLBACK_SENDER,
               prmtest.MILTER_USER, self.path("certs", "ca.pem"), self.path("maps"))))
        path = self._write("partners.conf", "".join(p.ini() + "\n" for p in self.partners), 0o600)
        import pwd
        pw = pwd.getpwnam(prmtest.MILTER_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)

    def run_tables(self):
        """partner-relay-tables --mta sendmail into maps/; returns its output."""
        r = run([program("partner-relay-tables"), "-c", self.path("milter.conf"), "--mta",
                 "sendmail", "-o", self.path("maps"), "--makemap", self.makemap,
                 "--sendmail-cf", self.path("sendmail.cf")], check=False)
        if r.returncode != 0:
            raise RuntimeError("partner-relay-tables --mta sendmail failed:\n" + r.stdout)
        return r.stdout

    def write_sendmail_config(self):
        """sendmail.cf from the test .mc and the shipped fragment; the files it names."""
        ports = sorted({p.port for p in self.partners} | set(self.extra_ports)) or [free_port()]
        mc = TEST_MC.format(cf=self.cfdir, d=self.dir, g=GLOBAL_ADDR,
                            gport=self.relays["global"].port, port=self.ports["smtp"],
                            mport=self.ports["milter"], ports=", ".join(map(str, ports)),
                            fragment=FRAGMENT)
        self._write("sendmail.mc", mc)
        cf = run(["m4", self.path("sendmail.mc")]).stdout
        self._write("sendmail.cf", cf)
        self._write("service.switch", "hosts files\n")
        # The first name of a line is what Sendmail canonicalises to.
        self._write("hosts", "127.0.0.1 localhost\n127.0.0.1 %s.test.invalid %s\n"
                    % (os.uname().nodename, os.uname().nodename)
                    + "".join("%s %s\n" % an for an in self.host_names))
        for f in ("aliases", "helpfile", "sendmail.st"):
            self._write(f, "")
        self._write("authinfo", 'AuthInfo:[%s]\t"U:%s" "P:%s" "M:PLAIN LOGIN"\n'
                    % (GLOBAL_ADDR, GLOBAL_USER, GLOBAL_PASS), 0o600)
        # The untrusted test client (127.0.0.3) may relay, as an app host would.
        self._write("access", "Connect:127.0.0.3\tRELAY\n")
        for f in ("access", "authinfo"):
            self._makemap(f)

    def _makemap(self, rel):
        """makemap hash REL < REL."""
        with open(self.path(rel), "rb") as src:
            p = subprocess.run([self.makemap, "-C", self.path("sendmail.cf"), "hash",
                                self.path(rel)], stdin=src, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
        if p.returncode != 0:
            raise RuntimeError("makemap %s: %s" % (rel, p.stdout.decode(errors="replace")))

    def in_ns(self, *args):
        """The command ARGS inside the private mount namespace."""
        script = 'mount --bind "$1" /etc/hosts && shift && exec "$@"'
        return ["unshare", "-m", "sh", "-c", script, "sh", self.path("hosts")] + list(args)

    def sm(self, *args, timeout=60):
        """Run sendmail -C our cf ARGS (in the namespace); the result."""
        return run(self.in_ns(self.sendmail, "-C", self.path("sendmail.cf"), *args),
                   check=False, timeout=timeout)

    # -- processes ------------------------------------------------------------

    def start(self, milter=True):
        """Write everything, start the milter and Sendmail."""
        self.write_milter_config()
        self.write_sendmail_config()
        self.tables_output = self.run_tables()
        if milter:
            self.start_milter()
        log = open(self.path("sendmail.log"), "ab")
        self.sm_proc = subprocess.Popen(
            self.in_ns(self.sendmail, "-C", self.path("sendmail.cf"), "-bD", "-q30s",
                       "-X", self.path("traffic.log")),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        if not spool.wait_for(lambda: self._listening(self.ports["smtp"]), 30, 0.1):
            raise RuntimeError("sendmail did not listen:\n" + self.read("sendmail.log"))
        return self

    def reload(self):
        """partners.conf rewritten from self.partners, the maps first
        (partner-relay-tables --mta sendmail), then SIGUSR1 to the milter;
        True once the milter logged its next configuration generation."""
        gen = self.read("milter.log").count("reloaded configuration generation")
        # The milter reads its files again as [milter] user: let it reach them
        # (search only; partners.conf stays 0600 and its own).
        # maps/ too: the milter checks maps/published (0640, its group).
        os.chmod(self.dir, 0o711)
        os.chmod(self.path("maps"), 0o711)
        self.write_milter_config()
        self.tables_output = self.run_tables()
        self.milter_proc.send_signal(signal.SIGUSR1)
        want = "reloaded configuration generation %d" % (gen + 2)
        return bool(spool.wait_for(lambda: want in self.read("milter.log"), 20, 0.05))

    def map_text(self, name):
        """The source text of map NAME (routes, authinfo, tls) as written."""
        return self.read(os.path.join("maps", name))

    def close(self):
        """Stop what we started (by pid) and remove the directory."""
        if self.sm_proc is not None:
            spool.stop_server(self.sm_proc, timeout=15)
            self.sm_proc = None
        self.close_common()

    def leak_secrets(self):
        """What must never appear in milter.log or sendmail.log (copied out
        by close_common). traffic.log (-X) is the transcript of what the
        relays were sent (AUTH in base64), like the relays' records: not
        checked."""
        secrets = {p.password for p in self.partners if p.password} | {GLOBAL_PASS}
        for r in self.relays.values():
            secrets |= {pw for pw in r.users.values() if pw}
        return secrets

    # -- mail -----------------------------------------------------------------

    def queue_files(self):
        """Queue control files left in the private queue."""
        return [f for f in os.listdir(self.path("mqueue")) if f.startswith("qf")]

    def wait_settled(self, tokens, timeout=90):
        """Until each token arrived and the queue is empty; True when so."""
        return super().wait_settled(tokens, timeout)

    def diagnostics(self):
        """Logs for a failed assertion."""
        # The transcript holds every AUTH credential the client sent (base64):
        # those lines are blanked before it goes into a test log.
        traffic = re.sub(r"(?m)^(\d+ >>> )(AUTH \S+ \S+|AUTH \S+ =|(?![A-Z]+$)[A-Za-z0-9+/]{4,}=*)$",
                         r"\1[credential redacted]", self.read("traffic.log"))
        return "--- traffic (tail)\n%s\n--- sendmail.log\n%s\n--- milter.log (tail)\n%s" % (
            traffic[-3000:], self.read("sendmail.log")[-2000:],
            self.read("milter.log")[-2000:])


def atexit_register(fn):
    """Register FN at interpreter exit."""
    import atexit
    atexit.register(fn)
