#!/usr/bin/env python3
"""bench_e2e.py - Postfix end to end: what the milter takes from throughput.

What: one private Postfix instance built by the integration harness
(tests/integration/prmtest.py, imported, not copied) with the shipped
contrib/postfix recipe, where every relay is an smtp-sink (no TLS, no AUTH:
the benchmark measures Postfix and the milter, not TLS). Four submission
listeners differ only in smtpd_milters:

  none         no milter (the ceiling)
  prm-unix     partner-relay-milter over a UNIX socket
  prm-inet     partner-relay-milter over inet:127.0.0.1
  noop-unix    the no-op libmilter milter (tests/bench/noop_milter), the
               protocol floor: it answers every step

Load: smtp-source sessions with 3 KB messages and 3 recipients each, a mix
of 70% trusted mail for one of 4 partners (eligible category), 15% trusted
mail with a global category, 15% from an untrusted client (over ::1, which
is outside the milter's trusted_networks). A run ends when smtp-source has
finished and the queue is empty. Runs alternate none/variant pairs
(A B A B); each variant's ratio is the median over the pairs of its
msgs/s divided by the no-milter msgs/s of the same pair.

Printed: msgs/s per run, the median ratio per variant, the milter's CPU
ms per message (utime+stime from /proc of the libmilter process), the
machine's CPU ms per message (/proc/stat), and a routing check (how many
deliveries went to partner sinks vs the global sink, from the maillog).

Contract: needs root and Postfix (else prints SKIP and exits 0: make bench
is not a test). Figures only, no timing is asserted. Everything runs on
loopback in a temporary directory and is stopped at exit.
Usage: bench_e2e.py BUILDDIR [--quick]
"""

import os
import pwd
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
QUICK = "--quick" in sys.argv
os.environ.setdefault("PRM_BUILDDIR", BUILD)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import prmtest  # noqa: E402
import spool    # noqa: E402  (tests/lib, put on sys.path by prmtest)

MSGS = 200 if QUICK else 800       # messages per run
PAIRS = 3                          # A B pairs per variant (median of 3)
SESSIONS = 20
PARTNERS = 4                       # partners with their own sink
NOOP = os.path.join(BUILD, "tests", "bench", "noop_milter")
PRM = prmtest.program("partner-relay-milter")
PRM_SOCK = os.path.join("prm-run", "prm.sock")   # inside the instance directory


class BenchInstance(prmtest.Instance):
    """The harness's instance with smtp-sink relays and 4 listeners.

    A subclass with PARTNER_TLS_AUTH = True keeps the partner transports'
    TLS and AUTH as the recipe has them (bench_oauth.py: real relays)."""

    PARTNER_TLS_AUTH = False

    def add_relay(self, name, tls="none", users=None, **_harness_options):
        """An smtp-sink on 127.0.0.1 instead of the fake relay (no TLS).

        The harness's other relay options (TLS, AUTH, faults, certificates)
        do not apply to a sink and are ignored.
        """
        port = prmtest.free_port()
        p = subprocess.Popen(["smtp-sink", "-u", "nobody", "127.0.0.1:%d" % port, "256"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not spool.wait_for(lambda: self._listening(port), 10, 0.05):
            raise RuntimeError("smtp-sink did not listen on %d" % port)
        relay = prmtest.Relay(name, port, p, dict(users or {}), "none", "/dev/null")
        self.relays[name] = relay
        return relay

    def write_milter_config(self):
        """The harness's config at the production log level (info)."""
        super().write_milter_config()
        path = self.path("milter.conf")
        with open(path, encoding="utf-8") as f:
            text = f.read().replace("log_level = debug", "log_level = info")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def write_postfix_config(self):
        """The recipe, then: no TLS/AUTH to the sinks, 4 submission listeners."""
        super().write_postfix_config()
        pc = lambda *a: prmtest.run(["postconf"] + list(a), env=self.env())  # noqa: E731
        pc("-e", "smtp_tls_security_level=none", "smtp_sasl_auth_enable=no",
           "inet_protocols=all", "mynetworks=127.0.0.0/8 [::1]/128",
           # No-milter mail all goes to one next hop, partner mail to five:
           # start every destination at full concurrency so that the
           # delivery topology does not decide the comparison.
           "default_destination_concurrency_limit=40",
           "initial_destination_concurrency=40",
           # A client-name lookup of ::1 goes to DNS; an unreachable
           # resolver then stalls random sessions for 5 s.
           "smtpd_peername_lookup=no", "smtp_host_lookup=native")
        for svc in () if self.PARTNER_TLS_AUTH else ("partner", "partner-smtps"):
            for kv in ("smtp_tls_security_level=none", "smtp_sasl_auth_enable=no",
                       "smtp_tls_wrappermode=no", "smtp_tls_policy_maps=",
                       "smtp_reply_filter="):
                pc("-P", "%s/unix/%s" % (svc, kv))
        self.listeners = {}
        lines = []
        for name, milter in (("none", ""), ("prm-unix", "unix:" + self.path(PRM_SOCK)),
                             ("prm-inet", "inet:127.0.0.1:%d" % self.ports["milter"]),
                             ("noop-unix", "unix:" + self.path("noop.sock"))):
            port = prmtest.free_port()
            self.listeners[name] = port
            for host in ("127.0.0.1", "[::1]"):
                lines.append("%s:%d inet n - n - - smtpd\n  -o smtpd_milters=%s\n"
                             % (host, port, milter))
        with open(self.path("etc", "master.cf"), "a", encoding="utf-8") as f:
            f.write("# --- bench listeners\n" + "".join(lines))

    def start_extra_milters(self):
        """A second partner-relay-milter on a UNIX socket, and the no-op."""
        # The milter opens its UNIX socket as its user: a directory it owns.
        os.makedirs(os.path.dirname(self.path(PRM_SOCK)), exist_ok=True)
        pw = pwd.getpwnam(prmtest.MILTER_USER)
        os.chown(os.path.dirname(self.path(PRM_SOCK)), pw.pw_uid, pw.pw_gid)
        log = open(self.path("milter-unix.log"), "ab")
        self.prm_unix = subprocess.Popen(
            [PRM, "-f", "-c", self.path("milter.conf"), "-p", "unix:" + self.path(PRM_SOCK),
             "-m", "0666"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.noop = subprocess.Popen([NOOP, "unix:" + self.path("noop.sock")],
                                     stdout=log, stderr=log)
        log.close()
        for sock in (PRM_SOCK, "noop.sock"):
            if not spool.wait_for(lambda: os.path.exists(self.path(sock)), 15, 0.05):
                raise RuntimeError("%s did not appear:\n%s" % (sock, self.read("milter-unix.log")))

    def stop_extra_milters(self):
        """Stop what start_extra_milters started."""
        for p in (getattr(self, "prm_unix", None), getattr(self, "noop", None)):
            if p is not None:
                spool.stop_server(p, timeout=10)


def milter_pid(proc):
    """The libmilter process: the supervisor's child, else PROC itself."""
    try:
        with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
            kids = f.read().split()
        return int(kids[0]) if kids else proc.pid
    except OSError:
        return proc.pid


def cpu_s(pid):
    """utime+stime of PID in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s():
    """Busy CPU seconds of the whole machine (all but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def message_files(d, partners=None):
    """One message file per kind; KIND -> path (partner kinds first, in the
    order of PARTNERS, default p0 .. p3; then global, untrusted). About 3 KB each."""
    body = "".join("line %04d of the notification body, padded to a typical width....\r\n" % i
                   for i in range(38))
    files = {}
    partners = partners or ["p%d" % i for i in range(PARTNERS)]
    kinds = [(p, p, "verification-link") for p in partners]
    kinds += [("global", partners[0], "account-security"),
              ("untrusted", partners[0], "verification-link")]
    for kind, partner, cat in kinds:
        path = os.path.join(d, "msg-%s.txt" % kind)
        with open(path, "w", encoding="ascii", newline="") as f:
            f.write("From: \"Platform App\" <app@platform.example>\r\nTo: user@dest.example\r\n"
                    "Subject: Your verification link\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\nX-Partner-Id: %s\r\n"
                    "X-Email-Category: %s\r\n\r\n%s" % (partner, cat, body))
        files[kind] = path
    return files


def load_plan(files, port):
    """smtp-source commands for one run: (kind, sessions, messages, host)."""
    parts = [k for k in files if k not in ("global", "untrusted")]
    plan = [(k, 3 if i < 2 else 4, 0.7 * MSGS / len(parts), "127.0.0.1") for i, k in enumerate(parts)]
    plan += [("global", 3, 0.15 * MSGS, "127.0.0.1"), ("untrusted", 3, 0.15 * MSGS, "[::1]")]
    return [["smtp-source", "-s", str(s), "-m", str(int(m)), "-r", "3", "-t", "rcpt@dest.example",
             "-f", "app@platform.example", "-F", files[k], "-M", "app.platform.example",
             "%s:%d" % (host, port)] for k, s, m, host in plan]


def one_run(inst, files, variant, pid):
    """Send one run's mail through VARIANT; return (msgs/s, milter cpu ms/msg, machine ms/msg)."""
    c0 = cpu_s(pid) if pid else 0.0
    b0 = machine_busy_s()
    t0 = time.monotonic()
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for cmd in load_plan(files, inst.listeners[variant])]
    for p in procs:
        err = p.communicate(timeout=600)[1]
        if p.returncode != 0:
            raise RuntimeError("smtp-source failed: %s" % err.decode(errors="replace")[-500:])
    if not spool.wait_for(lambda: not inst.queue_files(), 300, 0.05):
        raise RuntimeError("queue did not drain:\n" + inst.maillog()[-3000:])
    secs = time.monotonic() - t0
    cpu = (cpu_s(pid) - c0) * 1000 / MSGS if pid else 0.0
    return MSGS / secs, cpu, (machine_busy_s() - b0) * 1000 / MSGS


def routing_check(inst):
    """Deliveries per sink from the maillog: 'partner N global M other K'."""
    ports = {r.port: ("global" if name == "global" else "partner") for name, r in inst.relays.items()}
    count = {"partner": 0, "global": 0, "other": 0}
    for m in re.finditer(r"relay=[^ ]*\[127\.0\.0\.1\]:(\d+),.* status=sent", inst.maillog()):
        count[ports.get(int(m.group(1)), "other")] += 1
    return count


def main():
    """Run the pairs and print the figures."""
    if os.geteuid() != 0 or not os.path.exists("/usr/sbin/smtp-source"):
        print("\n== end to end: SKIP (needs root and Postfix with smtp-source)")
        return 0
    print("\n== end to end (Postfix + smtp-source -> smtp-sink; %d msgs/run, %d sessions, "
          "3 KB, 3 rcpts; 70%% partner, 15%% global, 15%% untrusted)" % (MSGS, SESSIONS))
    inst = BenchInstance("bench")
    try:
        for i in range(PARTNERS):
            inst.add_partner(prmtest.Partner("p%d" % i))
        inst.start()
        inst.start_extra_milters()
        with tempfile.TemporaryDirectory(prefix="prm-e2e-") as d:
            files = message_files(d)
            pids = {"none": None, "prm-unix": milter_pid(inst.prm_unix),
                    "prm-inet": milter_pid(inst.milter_proc), "noop-unix": inst.noop.pid}
            one_run(inst, files, "none", None)  # warm up Postfix's processes
            report(run_pairs(inst, files, pids))
        print("routing check (deliveries by sink, all runs): %s" % routing_check(inst))
    finally:
        inst.stop_extra_milters()
        inst.close()
    return 0


def run_pairs(inst, files, pids):
    """A B A B: each variant paired with a fresh no-milter run."""
    res = {v: [] for v in ("prm-unix", "prm-inet", "noop-unix")}
    print("%-10s %-5s %9s %9s %13s %12s" % ("variant", "pair", "msgs/s", "none/s", "milter_cpu_ms", "machine_ms"))
    for k in range(PAIRS):
        for v in res:
            base = one_run(inst, files, "none", None)
            got = one_run(inst, files, v, pids[v])
            res[v].append((got[0] / base[0], got[1], got[2], got[0], base[2]))
            print("%-10s %-5d %9.0f %9.0f %13.2f %12.2f" % (v, k + 1, got[0], base[0], got[1], got[2]),
                  flush=True)
    return res


def report(res):
    """Median ratio and CPU per variant."""
    print("%-10s %18s %22s %22s" % ("variant", "ratio_to_none(med)", "milter_cpu_ms/msg(med)",
                                    "machine_ms/msg(med)"))
    for v, rows in res.items():
        print("%-10s %18.2f %22.2f %22.2f" % (v, statistics.median(r[0] for r in rows),
                                              statistics.median(r[1] for r in rows),
                                              statistics.median(r[2] for r in rows)))
    print("no milter: machine %.2f ms/msg (median)" %
          statistics.median(r[4] for rows in res.values() for r in rows))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main())
