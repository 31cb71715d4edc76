#!/usr/bin/python3
"""test_tokend_pool.py - partner-relay-tokend(8): hanging endpoints starve no one;
start over a stale socket and pid file; inactive and waiting partners.

One fake HTTPS token endpoint (tests/lib/faketoken.py, test CA), one broker
with fetch_concurrency = 8 (so at most 4 retries of failing applications at
once) and timeout = 4; every hanging partner has its own application (token
URL /f/hangN/..., whose fault file says "hang"); the good ones sort after
them (/f/zgood...), so a worker pool taken in table order would reach them
last.
  1. Start over a stale socket (nobody listens) and a stale pid file: both
     replaced; a second broker on the same socket fails (exit 3) and leaves
     the live socket alone.
  2. -n: an oauth2 partner with a password is inactive, the others wait for
     partner-relay-tables (tables_dir without a stamp).
  3. 6 hanging partners + 1 good one at start: the good one is served before
     the first hanging fetch gives up (4 fixed workers would have made it
     wait for one).
  4. 8 more hanging partners by SIGUSR1 (14 in all, more than the workers):
     once every one has failed, the endpoint never sees more than 4 hanging
     requests at once (retries take at most half the workers), and a good
     partner added by SIGUSR1 is served within a few seconds, well before
     the hanging fetches' 4 s timeouts would free a worker in table order.
  5. The inactive partner's endpoint was never asked; the waiting partners
     are fetched and served; no secret or token in the log.
  6. As root only (else said and skipped): a broker that dropped to nobody
     cannot remove its socket and pid file from a directory only root may
     write (as Postfix's private/); it says so, and the next start replaces
     both.
Environment: TOKEND, TESTLIB (as test_tokend.py). About 25 s.
"""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_tokend import BrokerEnv, TOKEND, check, lookup, run, wait_for  # noqa: E402

SECRET = "pool-s3cret+&=/value"  # test value only
CLIENT = "pool-app"
TIMEOUT = 4       # [oauth] timeout: a hanging fetch is given up after it
WORKERS = 8       # [oauth] fetch_concurrency


class Env(BrokerEnv):
    """Temporary directory, endpoint, broker (log and stop: BrokerEnv)."""

    def __init__(self):
        self.make_dir("prm-tokend-pool-")
        self.faults = os.path.join(self.dir, "faults")
        os.mkdir(self.faults)
        self.start_endpoint("--fault-dir", self.faults, "--client", "%s:%s" % (CLIENT, SECRET),
                            "--hang-seconds", "30")
        self.sock = os.path.join(self.dir, "tokens.sock")
        self.pidfile = os.path.join(self.dir, "tokend.pid")
        self.errlog = os.path.join(self.dir, "tokend.log")
        self.partners = os.path.join(self.dir, "partners.conf")
        tables = os.path.join(self.dir, "tables")  # no stamp: every partner waits
        os.mkdir(tables)
        self.conf = os.path.join(self.dir, "prm.conf")
        with open(self.conf, "w") as f:
            f.write("[milter]\nfallback_sender = noreply@platform.example\npartners = %s\n"
                    "allowed_private_relays = 127.0.0.0/8\ntables_dir = %s\n"
                    "[oauth]\nsocket = %s\nsocket_group =\npidfile = %s\ncafile = %s\n"
                    "connect_timeout = 2\ntimeout = %d\nrefresh_margin = 60\nretry_max = 5\n"
                    "fetch_concurrency = %d\n"
                    % (self.partners, tables, self.sock, self.pidfile,
                       os.path.join(self.pki, "ca.pem"), TIMEOUT, WORKERS))
        self.broker = None

    @staticmethod
    def read(path):
        with open(path, errors="replace") as f:
            return f.read()

    def write_partners(self, names):
        """One partner (and application) per name; 'off' has a password: inactive."""
        out = []
        for name in names:
            out.append("[%s]\nauth = oauth2\nhost = localhost\nport = 587\n"
                       "username = box@%s.example\nsender = mail@%s.example\n"
                       "oauth_client_id = %s\noauth_client_secret = %s\n"
                       "oauth_token_url = https://127.0.0.1:%d/f/%s/oauth2/v2.0/token\n"
                       % (name, name, name, CLIENT, SECRET, self.port, name))
            if name == "off":
                out.append("password = not-for-oauth2\n")
            if name.startswith("hang"):
                with open(os.path.join(self.faults, name), "w") as f:
                    f.write("hang")
        with open(self.partners + ".tmp", "w") as f:
            f.write("".join(out))
        os.chmod(self.partners + ".tmp", 0o600)
        os.rename(self.partners + ".tmp", self.partners)

    def start(self, log=None):
        """A broker in the foreground appending to LOG (self.errlog); the process."""
        err = open(log or self.errlog, "a")
        p = subprocess.Popen([TOKEND, "-f", "-c", self.conf], stdout=err, stderr=subprocess.STDOUT)
        err.close()
        return p

    def failed(self, name):
        return self.log().count("token fetch failed partner=%s " % name)



def most_at_once(starts, span):
    """The most request starts that fall within any SPAN seconds."""
    starts = sorted(starts)
    best, j = 0, 0
    for i, t in enumerate(starts):
        while starts[j] < t - span:
            j += 1
        best = max(best, i - j + 1)
    return best


def start_over_leftovers(env):
    """1: a stale socket and pid file are replaced; a live socket is not."""
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(env.sock)  # closed without unlink: what a dropped broker leaves
    stale.close()
    with open(env.pidfile, "w") as f:
        f.write("999999\n")
    env.broker = env.start()
    check(wait_for(lambda: lookup(env.sock, "nobody@x.example").startswith("TEMP"), 20),
          "started over a stale socket: it answers")
    check("removed the stale socket" in env.log(), "the stale socket's removal is logged")
    check(wait_for(lambda: env.read(env.pidfile).strip() == str(env.broker.pid), 5),
          "the stale pid file replaced by the broker's pid")
    second_log = os.path.join(env.dir, "second.log")
    second = env.start(second_log)
    try:
        rc = second.wait(20)
    except subprocess.TimeoutExpired:
        second.kill()
        rc = second.wait()
    check(rc == 3 and "another process is listening" in env.read(second_log),
          "a second broker on a live socket: exit 3 (%s)" % rc)
    check(lookup(env.sock, "nobody@x.example").startswith("TEMP"), "the live socket still answers")
    check(env.read(env.pidfile).strip() == str(env.broker.pid), "the pid file still names the first")


def dropped_leftovers(env):
    """6: after the drop to nobody, the socket and pid file stay; replaced at the next start."""
    try:
        import pwd
        pwd.getpwnam("nobody")
    except (ImportError, KeyError):
        print("skip: part 6 needs the user nobody")
        return
    if os.geteuid() != 0:
        print("skip: part 6 (a broker dropping privileges) needs root")
        return
    private = os.path.join(env.dir, "private")  # root's, mode 0755: nobody cannot write it
    os.mkdir(private, 0o755)
    sock, pidfile = os.path.join(private, "tokens.sock"), os.path.join(private, "tokend.pid")
    env.write_partners(["off"])  # no fetch to wait for at the stops
    with open(env.conf) as f:
        text = f.read()
    with open(env.conf, "w") as f:
        f.write(text.replace(env.sock, sock).replace(env.pidfile, pidfile) + "user = nobody\n")
    for round_ in (1, 2):
        broker = env.start()
        check(wait_for(lambda: lookup(sock, "nobody@x.example").startswith("TEMP")
                       and env.read(pidfile).strip() == str(broker.pid), 20),
              "as nobody, start %d: the socket answers, the pid file names it" % round_)
        broker.send_signal(signal.SIGTERM)
        check(broker.wait(20) == 0, "as nobody, start %d: clean exit" % round_)
        check(os.path.exists(sock) and os.path.exists(pidfile)
              and env.log().count("cannot remove %s" % sock) == round_,
              "as nobody, start %d: socket and pid file stay, and the log says so" % round_)


def scenario(env):
    hang = ["hang%02d" % i for i in range(6)]
    env.write_partners(hang + ["zgood1", "off"])
    n = subprocess.run([TOKEND, "-n", "-c", env.conf], capture_output=True, text=True, timeout=30)
    check(n.returncode == 0 and "off: inactive" in n.stdout, "-n: the partner with a password is inactive")
    check("zgood1: active" in n.stdout and "waiting for partner-relay-tables" in n.stdout,
          "-n: an unpublished partner is active and waiting")
    t0 = time.monotonic()
    start_over_leftovers(env)
    # 3. The good partner does not wait for the hanging ones.
    ok = wait_for(lambda: lookup(env.sock, "mail@zgood1.example").startswith("OK"), 20)
    gave_up = sum(env.failed(h) for h in hang)
    check(ok and gave_up == 0, "zgood1 served before any hanging fetch gave up (%d had, %.1f s)"
          % (gave_up, time.monotonic() - t0))
    check(wait_for(lambda: all(env.failed(h) for h in hang), 20), "every hanging fetch timed out")
    # 4. More hanging applications than workers.
    hang += ["hang%02d" % i for i in range(6, 14)]
    env.write_partners(hang + ["zgood1", "off"])
    env.broker.send_signal(signal.SIGUSR1)
    check(wait_for(lambda: all(env.failed(h) for h in hang), 30),
          "all 14 hanging applications failed once: %s" % [h for h in hang if not env.failed(h)])
    since = time.time()
    time.sleep(2 * TIMEOUT + 1)  # retries only from here: watch them for two rounds
    starts = [r["time"] for r in env.requests() if r["fault"] == "hang" and since <= r["time"]]
    peak = most_at_once(starts, TIMEOUT - 1)
    check(len(starts) >= WORKERS // 2 and peak <= WORKERS // 2,
          "retries of failing applications: at most %d at once (%d in %d s, peak %d)"
          % (WORKERS // 2, len(starts), 2 * TIMEOUT + 1, peak))
    env.write_partners(hang + ["zgood1", "zgood2", "off"])
    t1 = time.monotonic()
    env.broker.send_signal(signal.SIGUSR1)
    check(wait_for(lambda: lookup(env.sock, "mail@zgood2.example").startswith("OK"), 20)
          and time.monotonic() - t1 < TIMEOUT - 1,
          "zgood2 added while 14 endpoints hang: served in %.1f s" % (time.monotonic() - t1))
    # 5. Inactive partners cost no fetch; waiting ones are served.
    reqs = env.requests()
    check(not [r for r in reqs if "/f/off/" in r["path"]], "the inactive partner's endpoint never asked")
    check("zgood1" in env.log() and "for partner-relay-tables" in env.log()
          and lookup(env.sock, "mail@zgood1.example").startswith("OK"),
          "a partner waiting for partner-relay-tables is served")
    check(lookup(env.sock, "mail@off.example").startswith("TEMP"), "the inactive partner: TEMP")
    env.broker.send_signal(signal.SIGTERM)
    check(env.broker.wait(20) == 0, "SIGTERM: clean exit")
    check(not os.path.exists(env.sock) and not os.path.exists(env.pidfile),
          "socket and pid file removed at stop (a directory the broker may write)")
    text = env.log()
    leaked = [s for s in [SECRET] + [r["token"] for r in reqs if r["token"]] if s in text]
    check(not leaked, "no secret or token in the broker's log")
    dropped_leftovers(env)


def main():
    return run(Env, scenario, 30)


if __name__ == "__main__":
    sys.exit(main())
