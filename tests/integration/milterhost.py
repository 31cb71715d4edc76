"""milterhost.py - what the Postfix and the Sendmail test instances share.

What it is: the base class of prmtest.Instance (a private Postfix) and
smtest.Instance (a private Sendmail): one temporary directory holding the
milter's configuration and log, fake relays recording into one spool, and
the milter daemon listening on inet:127.0.0.1:PORT.

Contract for a subclass: it sets self.dir, self.name, self.spool_dir,
self.relays (name -> prmtest.Relay), self.partners, self.milter_proc (None)
and self.ports["milter"] and the class attributes below, writes
milter.conf, and defines queue_files() (the MTA's queue), leak_secrets()
and close() (which stops its MTA, then calls close_common()).  Every wait
is bounded; processes are stopped by pid (spool.stop_server).

Thread safety: none; one instance per test process.
Standard library only (Debian's /usr/bin/python3).
"""

import email.utils
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))
import spool  # noqa: E402  (tests/lib/spool.py)


def builddir():
    """The top build directory (PRM_BUILDDIR, Automake env, else srcdir)."""
    return (os.environ.get("PRM_BUILDDIR") or os.environ.get("abs_top_builddir")
            or SRCDIR)


def program(name):
    """Path of one of our built programs (src/NAME in the build tree)."""
    return os.path.join(builddir(), "src", name)


def listening(port):
    """Does something accept TCP on 127.0.0.1:PORT?"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class MilterHost:
    """An MTA instance's directory, fake relays and milter (see header)."""

    SMTP_PORT = "smtpd"           # the self.ports key of the MTA's listener
    UNTRUSTED_ADDR = "127.0.0.2"  # source address of an untrusted submitter
    LEAK_FILES = ("milter.log",)  # logs copied out when they hold a secret
    LEAK_SUBDIR = "integration"   # where under tests/ in the build tree

    # -- files ----------------------------------------------------------------

    def path(self, *parts):
        """A path inside the instance directory."""
        return os.path.join(self.dir, *parts)

    def _write(self, rel, text, mode=0o644):
        """Write TEXT to a file inside the instance with MODE; its path."""
        path = self.path(rel)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def read(self, rel):
        """Contents of a file in the instance ('' if missing)."""
        try:
            with open(self.path(rel), encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # -- the milter -----------------------------------------------------------

    @staticmethod
    def _listening(port):
        """Does something accept TCP on 127.0.0.1:PORT?"""
        return listening(port)

    def start_milter(self, *args, ready=None):
        """Start partner-relay-milter in the foreground with ARGS; wait
        (15 s at most) until READY() (default: its inet port accepts)."""
        ready = ready or (lambda: listening(self.ports["milter"]))
        log = open(self.path("milter.log"), "ab")
        self.milter_proc = subprocess.Popen(
            [program("partner-relay-milter"), "-f", "-c", self.path("milter.conf")] + list(args),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        up = spool.wait_for(lambda: self.milter_proc.poll() is not None or ready(), 15, 0.05)
        if not up or self.milter_proc.poll() is not None:
            raise RuntimeError("milter did not start:\n" + self.read("milter.log")[-3000:])

    def stop_milter(self):
        """Stop the milter (SIGTERM, then SIGKILL after 10 s)."""
        if self.milter_proc is not None:
            spool.stop_server(self.milter_proc, timeout=10)
            self.milter_proc = None

    # -- stopping -------------------------------------------------------------

    def close_common(self):
        """Stop the milter and the relays by pid, keep logs that leaked a
        secret, remove the directory unless PRM_KEEP=1 (after the MTA)."""
        self.stop_milter()
        if self.dir:
            self._keep_leaks()
        for r in self.relays.values():
            spool.stop_server(r.proc)
        self.relays = {}
        if self.dir and os.environ.get("PRM_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self.dir:
            print("kept %s" % self.dir, file=sys.stderr)
        self.dir = None

    def _keep_leaks(self):
        """Copy each of LEAK_FILES that holds one of leak_secrets() to the
        build tree (tests/LEAK_SUBDIR/leaked-NAME-FILE.log), so that
        tests/secrets_check.py, run last by make check, fails on it
        although this directory is removed."""
        secrets = {s for s in self.leak_secrets() if s}
        for rel in self.LEAK_FILES:
            text = self.read(rel)
            if any(s in text for s in secrets):
                out = os.path.join(builddir(), "tests", self.LEAK_SUBDIR,
                                   "leaked-%s-%s.log" % (self.name, rel.replace(".", "-")))
                shutil.copyfile(self.path(rel), out)
                print("a password appeared in %s: copied to %s" % (rel, out), file=sys.stderr)

    # -- mail -----------------------------------------------------------------

    def send(self, headers, sender="app@platform.example", rcpts=("someone@dest.example",),
             untrusted=False, body="Hello.\n", rcpt_options=()):
        """Submit one message by SMTP; return its unique token.

        HEADERS is a list of (name, value); From, To, Subject, Date and
        Message-ID are added when missing.  The Subject carries the token.
        Recipients refused while others were taken: self.last_refused,
        {rcpt: (code, text)}.
        """
        token = uuid.uuid4().hex[:12]
        names = {n.lower() for n, _ in headers}
        hdrs = list(headers)
        if "from" not in names:
            hdrs.append(("From", "Platform App <%s>" % sender))
        if "to" not in names:
            hdrs.append(("To", rcpts[0]))
        hdrs += [("Subject", "test " + token), ("Date", email.utils.formatdate()),
                 ("Message-ID", "<%s@prm-test>" % token)]
        text = "".join("%s: %s\r\n" % hv for hv in hdrs) + "\r\n" + body.replace("\n", "\r\n")
        src = (self.UNTRUSTED_ADDR if untrusted else "127.0.0.1", 0)
        with smtplib.SMTP("127.0.0.1", self.ports[self.SMTP_PORT], timeout=60,
                          source_address=src) as s:
            self.last_refused = s.sendmail(sender, list(rcpts), text.encode("utf-8"),
                                           rcpt_options=list(rcpt_options))
        return token

    def arrivals(self, token=None):
        """Messages the fake relays accepted (those with TOKEN in Subject)."""
        msgs = spool.read_messages(self.spool_dir)
        if token is None:
            return msgs
        return [m for m in msgs if token in (m.get("subject") or "")]

    def wait_settled(self, tokens, timeout=60):
        """Wait until each token arrived somewhere and queue_files() is
        empty; True when settled, False after TIMEOUT seconds."""
        def done():
            got = {t for m in self.arrivals() for t in tokens
                   if t in (m.get("subject") or "")}
            return len(got) == len(set(tokens)) and not self.queue_files()
        return bool(spool.wait_for(done, timeout, 0.2))
