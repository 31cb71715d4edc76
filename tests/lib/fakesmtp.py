#!/usr/bin/python3
"""fakesmtp.py - a fake ESMTP relay for the integration and probe tests.

What it is: one SMTP server per process that stands in for a partner relay
or for the platform's global relay.  It speaks enough ESMTP for Postfix's
smtp(8) client, swaks, smtplib and partner-relay-probe: EHLO/HELO, STARTTLS
or implicit TLS, AUTH PLAIN, LOGIN and XOAUTH2, MAIL/RCPT/DATA, RSET, NOOP,
QUIT.

Contract:
  - Loopback only: refuses to bind anything but 127.0.0.0/8 or ::1.
  - Every accepted message becomes one JSON file in the spool directory,
    written to a hidden temporary name and then linked into place as
    <NAME>-<timestamp>-<counter>.json (never a half-written file).
  - Every AUTH attempt, good or bad, is one line in <spool>/auth-events.jsonl;
    every accepted connection is one line in <spool>/connections.jsonl.
  - A fault mode (--fault, or the content of --fault-file re-read at each new
    connection) makes the server misbehave in one well-defined way.  A
    faulted message is never recorded as accepted.
  - --ready-file receives the port number (atomically) once the socket
    listens; --max-seconds makes the process exit by itself; SIGTERM and
    SIGINT make it exit promptly with status 0.

Message record (JSON object): server, mail_from ("" for <>), mail_params
(ESMTP parameters, accepted and ignored), rcpts, rcpt_params (each
RCPT's ESMTP parameters, e.g. NOTIFY and ORCPT: DSN is offered), from_header and subject
(first such header, raw and unfolded, or null), headers ([[name, value]...]
in order, unfolded), auth_user (null if none), auth_mech, tls, tls_version (null in
clear), sni (null if none sent), helo, client, client_port, time (epoch
seconds) and data (the whole unstuffed message, CRLF turned into LF).

Auth event (one JSON line): server, user, password, ok, tls, mech, client,
time.  Credentials sent with AUTH where AUTH was not offered (in clear, or
with --no-auth) are recorded too, with ok false: that is how the tests see
a password shown to the wrong server.  XOAUTH2 events have password null
and also: token (the bearer token received), form ("one-step": with the
AUTH command, "two-step": after a "334 "), line_len (length of the base64
line that carried it), challenge (true when the JSON error challenge was
sent) and answer (the client's reply to it: "" is the correct empty
response, "*" a cancel, null when none was read).  The message record's
auth_mech names the mechanism that authenticated the session.

XOAUTH2 (RFC-less; Microsoft's and Google's documented form): the client
sends base64("user=" U ^A "auth=Bearer " T ^A ^A), with AUTH or after an
empty "334 ".  A token is good when --xoauth2 USER:TOKEN names it, or when
the --xoauth2-file (re-read at every attempt; lines "USER TOKEN") does.  A
bad one gets the JSON error challenge 334 base64({"status":"401",
"schemes":"bearer","scope":...}); whatever the client answers, 535 5.7.3
follows.  XOAUTH2 is offered when --xoauth2 or --xoauth2-file is given;
--mechs sets the advertised list explicitly.

Faults: none, silent (never greet, hold the connection), greet421, greet450,
greet554, mail451, mail530, rcpt451, rcpt550, data451 and data554 (after
the dot), auth535 (every AUTH fails), nostarttls (not offered, 502),
badtls (220 to STARTTLS, then garbage and close; with --tls implicit,
garbage at accept), noxoauth2 (XOAUTH2 neither offered nor accepted: 504),
xoauth2json (every XOAUTH2 token gets the JSON error challenge, then 535)
and xoauth2fail (every XOAUTH2 attempt gets 535 5.7.139 at once, no
challenge), smtpauthdisabled (the same with Microsoft's wording for a
mailbox whose SMTP AUTH is off: "SmtpClientAuthentication is disabled").  With --fault-file the file decides at each new
connection and --fault is ignored; an empty or missing file means none.

Limits (every network input is bounded): command lines 4096 bytes (500
reply), AUTH lines and SASL responses 20480 bytes (a 3 KB bearer token is
about 4 KB of base64), message size --max-size bytes (552 reply), 1000 recipients per
message, --idle-timeout seconds of silence per read (421 and close), TLS
handshake under the same timeout.

Thread safety: one thread per connection (socketserver.ThreadingTCPServer);
the only shared mutable state is the spool counter and the jsonl files,
both under a lock (the jsonl appends also under flock(2), so several server
processes may share one spool directory).

Standard library only; written for Debian's /usr/bin/python3 (3.11).
"""

import argparse
import base64
import binascii
import fcntl
import ipaddress
import json
import os
import re
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time

FAULTS = (
    "none", "silent", "greet421", "greet450", "greet554", "mail451", "mail530",
    "rcpt451", "rcpt550", "data451", "data554", "auth535", "nostarttls",
    "badtls", "noxoauth2", "xoauth2json", "xoauth2fail", "smtpauthdisabled",
)
MAX_LINE = 4096
MAX_AUTH_LINE = 20480
XOAUTH2_SCOPE = "https://outlook.office365.com/.default"
MAX_RCPTS = 1000
DATA_CHUNK = 65536
GARBAGE = b"\x00\xffTHIS IS NOT A TLS SERVER HELLO\r\n" * 4

_spool_lock = threading.Lock()
_counter = 0
_tls_local = threading.local()


class ClientGone(Exception):
    """The client closed the connection or went idle too long."""


# ---------------------------------------------------------------------------
# Spool writing.

def _append_jsonl(path, record):
    """Append one JSON line to PATH under a thread lock and flock(2)."""
    line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    with _spool_lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
        finally:
            os.close(fd)


def _write_message(spool, name, record):
    """Write RECORD as <NAME>-<timestamp>-<counter>.json, atomically."""
    global _counter
    body = json.dumps(record, indent=1, sort_keys=True).encode("utf-8")
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(record["time"]))
    stamp += ".%06d" % int((record["time"] % 1) * 1e6)
    tmp = os.path.join(spool, ".tmp-%s-%d-%d" % (name, os.getpid(),
                                                  threading.get_ident()))
    with open(tmp, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    try:
        # link() never clobbers: bump the counter if the name is taken.
        while True:
            with _spool_lock:
                _counter += 1
                final = os.path.join(spool, "%s-%s-%d.json" % (name, stamp,
                                                                _counter))
            try:
                os.link(tmp, final)
                return final
            except FileExistsError:
                continue
    finally:
        os.unlink(tmp)


def parse_headers(text):
    """Return [[name, value], ...] from the header section, unfolded."""
    headers = []
    for line in text.split("\n"):
        if line == "":
            break
        if line[0] in " \t" and headers:
            # RFC 5322 unfolding: drop the line break, keep the whitespace.
            headers[-1][1] += line
            continue
        if ":" not in line:
            break
        hname, value = line.split(":", 1)
        headers.append([hname.strip(), value])
    return [[n, v.strip()] for n, v in headers]


def _first(headers, hname):
    """Value of the first header called HNAME (any case), or None."""
    for n, v in headers:
        if n.lower() == hname.lower():
            return v
    return None


# ---------------------------------------------------------------------------
# The SMTP session.

class Session(socketserver.BaseRequestHandler):
    """One SMTP connection: a line reader plus a command state machine."""

    def setup(self):
        """Per-connection state; configuration comes from the server."""
        self.cfg = self.server.cfg
        self.conn = self.request
        self.buf = b""
        self.tls = False
        self.sni = None
        self.helo = None
        self.auth_user = None
        self.auth_mech = None
        self.fault = self.server.current_fault()
        self.client = self.client_address[0]
        self.client_port = self.client_address[1]
        self._reset_transaction()

    def _reset_transaction(self):
        """Forget MAIL/RCPT state (RSET, HELO, end of DATA)."""
        self.mail_from = None
        self.mail_params = []
        self.rcpts = []
        self.rcpt_params = []

    # -- I/O ---------------------------------------------------------------

    def reply(self, text):
        """Send one (possibly multi-line, \\n-separated) reply."""
        self.conn.sendall(text.replace("\n", "\r\n").encode("utf-8") + b"\r\n")

    def _fill(self):
        """Read more bytes into the buffer; ClientGone on EOF or idle."""
        try:
            data = self.conn.recv(DATA_CHUNK)
        except socket.timeout:
            try:
                self.reply("421 4.4.2 %s Idle timeout, closing" % self.cfg.name)
            except OSError:
                pass
            raise ClientGone("idle timeout")
        if not data:
            raise ClientGone("eof")
        self.buf += data

    def readline(self, limit):
        """Return bytes up to and including \\n, or LIMIT bytes without it."""
        while True:
            i = self.buf.find(b"\n", 0, limit)
            if i >= 0:
                line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return line
            if len(self.buf) >= limit:
                line, self.buf = self.buf[:limit], self.buf[limit:]
                return line
            self._fill()

    def read_command(self, limit=MAX_LINE):
        """Return one command line as str, or None if it was too long."""
        line = self.readline(limit + 1)
        if line.endswith(b"\n"):
            return line.rstrip(b"\r\n").decode("utf-8", "replace")
        # Too long: swallow the rest of the line, then say so.
        while not line.endswith(b"\n"):
            line = self.readline(limit)
        return None

    # -- TLS -----------------------------------------------------------------

    def start_tls(self):
        """Wrap the connection in TLS as a server; False if that failed."""
        _tls_local.sni = None
        try:
            self.conn = self.server.ssl_context.wrap_socket(
                self.conn, server_side=True)
        except (ssl.SSLError, OSError):
            return False
        self.tls = True
        self.sni = _tls_local.sni
        return True

    def tls_version(self):
        """The negotiated TLS protocol name, or None in clear."""
        return self.conn.version() if self.tls else None

    # -- driver --------------------------------------------------------------

    def handle(self):
        """Run the session; never let a client error escape as a traceback."""
        self.conn.settimeout(self.cfg.idle_timeout)
        self.server.log_connection(self)
        try:
            self._run()
        except (ClientGone, ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            try:
                self.conn.close()
            except OSError:
                pass

    def _run(self):
        """Greeting (or its fault), then the command loop."""
        fault = self.fault
        if fault == "silent":
            return self._hold_silently()
        if self.cfg.tls == "implicit":
            if fault == "badtls":
                self.conn.sendall(GARBAGE)
                return
            if not self.start_tls():
                return
        if fault == "greet421":
            self.reply("421 4.3.2 %s Service not available (fault)" % self.cfg.name)
            return
        if fault == "greet450":
            self.reply("450 4.3.2 %s Try again later (fault)" % self.cfg.name)
            return
        if fault == "greet554":
            self.reply("554 5.3.2 %s No SMTP service here (fault)" % self.cfg.name)
            return self._refuse_all()
        self.reply("220 %s ESMTP fakesmtp" % self.cfg.name)
        while True:
            # AUTH lines may carry a long initial response (a bearer token).
            line = self.read_command(MAX_AUTH_LINE)
            if line is None or (len(line) > MAX_LINE
                                and line[:5].upper() != "AUTH "):
                self.reply("500 5.5.2 Line too long")
                continue
            verb, _, arg = line.partition(" ")
            handler = None
            if verb.isalpha():
                handler = getattr(self, "cmd_" + verb.upper(), None)
            if handler is None:
                self.reply("500 5.5.2 Command not recognized")
                continue
            if handler(arg.strip()) is False:
                return

    def _hold_silently(self):
        """Fault 'silent': never greet, read and drop until the client leaves."""
        self.conn.settimeout(1.0)
        while not self.server.stopping.is_set():
            try:
                if not self.conn.recv(DATA_CHUNK):
                    return
            except socket.timeout:
                continue

    def _refuse_all(self):
        """After a 554 greeting: 503 to everything but QUIT (RFC 5321 3.1)."""
        while True:
            line = self.read_command()
            if line is not None and line.upper() == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            self.reply("503 5.5.1 No SMTP service here")

    # -- commands (return False to close the connection) -------------------

    def offers_starttls(self):
        """Is STARTTLS in the EHLO reply right now?"""
        if self.tls or self.cfg.tls == "implicit" or self.fault == "nostarttls":
            return False
        return self.cfg.tls == "starttls" or self.fault == "badtls"

    def offers_auth(self):
        """Is AUTH in the EHLO reply right now?"""
        if self.cfg.no_auth:
            return False
        return self.tls or self.cfg.advertise_auth_before_tls

    def mechs(self):
        """The SASL mechanisms offered in this session (fault included)."""
        mechs = list(self.cfg.mechs)
        if self.fault == "noxoauth2" and "XOAUTH2" in mechs:
            mechs.remove("XOAUTH2")
        return mechs

    def cmd_EHLO(self, arg):
        if not arg:
            return self.reply("501 5.5.4 Syntax: EHLO hostname")
        self.helo = arg
        self._reset_transaction()
        lines = ["%s greets %s" % (self.cfg.name, arg), "PIPELINING",
                 "SIZE %d" % self.cfg.max_size, "8BITMIME",
                 "ENHANCEDSTATUSCODES", "DSN"]
        if self.offers_starttls():
            lines.append("STARTTLS")
        if self.offers_auth():
            lines.append("AUTH " + " ".join(self.mechs()))
        lines.append("HELP")
        self.reply("\n".join("250-" + l for l in lines[:-1]) + "\n250 " + lines[-1])

    def cmd_HELO(self, arg):
        if not arg:
            return self.reply("501 5.5.4 Syntax: HELO hostname")
        self.helo = arg
        self._reset_transaction()
        self.reply("250 %s" % self.cfg.name)

    def cmd_STARTTLS(self, arg):
        if arg:
            return self.reply("501 5.5.4 Syntax: STARTTLS")
        if self.tls:
            return self.reply("503 5.5.1 TLS already active")
        if not self.offers_starttls():
            return self.reply("502 5.5.1 STARTTLS not available")
        self.reply("220 2.0.0 Ready to start TLS")
        if self.fault == "badtls":
            self.conn.sendall(GARBAGE)
            return False
        # RFC 3207: discard anything pipelined in clear, forget the session.
        self.buf = b""
        if not self.start_tls():
            return False
        self.helo = None
        self.auth_user = None
        self.auth_mech = None
        self._reset_transaction()

    def cmd_AUTH(self, arg):
        parts = arg.split()
        if not parts:
            return self.reply("501 5.5.4 Syntax: AUTH mechanism")
        mech = parts[0].upper()
        initial = parts[1] if len(parts) > 1 else None
        if len(parts) > 2:
            return self.reply("501 5.5.4 Syntax: AUTH mechanism [initial-response]")
        if self.helo is None:
            return self.reply("503 5.5.1 Send EHLO first")
        if self.auth_user is not None:
            return self.reply("503 5.5.1 Already authenticated")
        if self.mail_from is not None:
            return self.reply("503 5.5.1 AUTH not allowed during a mail transaction")
        if mech not in ("PLAIN", "LOGIN", "XOAUTH2") or mech not in self.mechs():
            return self.reply("504 5.5.4 Unrecognized authentication mechanism")
        if not self.offers_auth():
            # Record whatever credentials came in clear anyway: the tests
            # look for passwords shown to a server that should not see them.
            if initial is not None and mech == "PLAIN":
                creds = self._decode_plain(initial)
                if creds:
                    self._auth_event(mech, creds[0], creds[1], False)
            if self.cfg.no_auth:
                return self.reply("502 5.5.1 AUTH not supported")
            return self.reply("538 5.7.11 Encryption required for requested "
                              "authentication mechanism")
        if mech == "PLAIN":
            return self._auth_plain(initial)
        if mech == "XOAUTH2":
            return self._auth_xoauth2(initial)
        return self._auth_login(initial)

    def _challenge(self, prompt):
        """Send a 334 challenge; return the response, or None if cancelled."""
        self.reply("334 " + prompt)
        line = self.read_command(MAX_AUTH_LINE)
        if line is None:
            self.reply("500 5.5.6 Authentication exchange line too long")
            return None
        if line.strip() == "*":
            self.reply("501 5.0.0 Authentication cancelled")
            return None
        return line.strip()

    @staticmethod
    def _b64(text):
        """Decode base64 TEXT to str, or None if it is not base64."""
        try:
            return base64.b64decode(text, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None

    def _decode_plain(self, text):
        """authzid NUL authcid NUL passwd -> (authcid, passwd), or None."""
        decoded = self._b64(text)
        if decoded is None or decoded.count("\0") != 2:
            return None
        _, user, password = decoded.split("\0")
        return user, password

    def _auth_plain(self, initial):
        """AUTH PLAIN with or without an initial response."""
        if initial is None or initial == "=":
            initial = self._challenge("")
            if initial is None:
                return
        creds = self._decode_plain(initial)
        if creds is None:
            return self.reply("501 5.5.2 Cannot decode AUTH PLAIN response")
        self._auth_finish("PLAIN", *creds)

    def _auth_login(self, initial):
        """AUTH LOGIN, optionally with the username as initial response."""
        if initial is None:
            initial = self._challenge("VXNlcm5hbWU6")
            if initial is None:
                return
        user = self._b64(initial)
        if user is None:
            return self.reply("501 5.5.2 Cannot decode AUTH LOGIN response")
        answer = self._challenge("UGFzc3dvcmQ6")
        if answer is None:
            return
        password = self._b64(answer)
        if password is None:
            return self.reply("501 5.5.2 Cannot decode AUTH LOGIN response")
        self._auth_finish("LOGIN", user, password)

    @staticmethod
    def _decode_xoauth2(text):
        """base64 'user=U^Aauth=Bearer T^A^A' -> (user, token), or None."""
        try:
            raw = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        if not raw.endswith("\x01\x01"):
            return None
        fields = raw[:-2].split("\x01")
        if len(fields) != 2 or not fields[0].startswith("user=") \
                or not fields[1].startswith("auth=Bearer "):
            return None
        return fields[0][5:], fields[1][12:]

    def _xoauth2_ok(self, user, token):
        """Is TOKEN good for USER (--xoauth2, or the file read now)?"""
        if self.fault in ("xoauth2json", "xoauth2fail", "smtpauthdisabled", "auth535") or not token:
            return False
        if self.cfg.tokens.get(user) == token:
            return True
        if self.cfg.xoauth2_file:
            try:
                with open(self.cfg.xoauth2_file, encoding="utf-8") as f:
                    for line in f:
                        parts = line.split()
                        if len(parts) == 2 and parts == [user, token]:
                            return True
            except FileNotFoundError:
                pass
        return False

    def _auth_xoauth2(self, initial):
        """AUTH XOAUTH2, one-step (initial response) or two-step (334)."""
        form = "one-step"
        if initial is None:
            form = "two-step"
            initial = self._challenge("")
            if initial is None:
                return
        creds = self._decode_xoauth2(initial)
        if creds is None:
            return self.reply("501 5.5.2 Cannot decode AUTH XOAUTH2 response")
        user, token = creds
        event = {"token": token, "form": form, "line_len": len(initial),
                 "challenge": False, "answer": None}
        if self._xoauth2_ok(user, token):
            self._auth_event("XOAUTH2", user, None, True, event)
            self.auth_user, self.auth_mech = user, "XOAUTH2"
            return self.reply("235 2.7.0 Authentication successful")
        if self.fault == "smtpauthdisabled":
            self._auth_event("XOAUTH2", user, None, False, event)
            return self.reply("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication "
                              "is disabled for the Mailbox.")
        if self.fault == "xoauth2fail":
            self._auth_event("XOAUTH2", user, None, False, event)
            return self.reply("535 5.7.139 Authentication unsuccessful, the "
                              "request did not meet the criteria (fault)")
        # The documented error challenge; the client must answer it (an
        # empty line), and only then comes the final reply.
        err = json.dumps({"status": "401", "schemes": "bearer",
                          "scope": XOAUTH2_SCOPE}, separators=(",", ":"))
        self.reply("334 " + base64.b64encode(err.encode()).decode())
        line = self.read_command(MAX_AUTH_LINE)
        event.update(challenge=True, answer=None if line is None else line.strip())
        self._auth_event("XOAUTH2", user, None, False, event)
        self.reply("535 5.7.3 Authentication unsuccessful")

    def _auth_finish(self, mech, user, password):
        """Check the credentials, record the attempt, reply 235 or 535."""
        ok = (self.fault != "auth535" and user in self.cfg.users
              and self.cfg.users[user] == password)
        self._auth_event(mech, user, password, ok)
        if ok:
            self.auth_user, self.auth_mech = user, mech
            self.reply("235 2.7.0 Authentication successful")
        else:
            self.reply("535 5.7.8 Authentication credentials invalid")

    def _auth_event(self, mech, user, password, ok, extra=None):
        """One line in auth-events.jsonl."""
        record = {
            "server": self.cfg.name, "user": user, "password": password,
            "ok": ok, "tls": self.tls, "mech": mech, "client": self.client,
            "time": time.time(),
        }
        record.update(extra or {})
        _append_jsonl(os.path.join(self.cfg.spool, "auth-events.jsonl"), record)

    _PATH_RE = re.compile(r"^\s*(<[^<>]*>|[^\s<>]+)(.*)$")

    def _parse_path(self, arg, keyword):
        """'FROM:<addr> PARAMS' -> (addr, [params]) or None on syntax error."""
        if arg[:len(keyword)].upper() != keyword:
            return None
        m = self._PATH_RE.match(arg[len(keyword):])
        if not m:
            return None
        addr = m.group(1)
        if addr.startswith("<"):
            addr = addr[1:-1]
        return addr, m.group(2).split()

    def cmd_MAIL(self, arg):
        if self.helo is None:
            return self.reply("503 5.5.1 Send HELO/EHLO first")
        if self.mail_from is not None:
            return self.reply("503 5.5.1 Nested MAIL command")
        parsed = self._parse_path(arg, "FROM:")
        if parsed is None:
            return self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
        if self.fault == "mail530" or (self.cfg.require_auth
                                       and self.auth_user is None):
            return self.reply("530 5.7.0 Authentication required")
        if self.fault == "mail451":
            return self.reply("451 4.3.0 Temporary failure at MAIL (fault)")
        addr, params = parsed
        for p in params:
            key, _, value = p.partition("=")
            if key.upper() == "SIZE" and value.isdigit() \
                    and int(value) > self.cfg.max_size:
                return self.reply("552 5.3.4 Message size exceeds fixed limit")
        self.mail_from, self.mail_params = addr, params
        self.reply("250 2.1.0 Ok")

    def cmd_RCPT(self, arg):
        if self.mail_from is None:
            return self.reply("503 5.5.1 Need MAIL command")
        parsed = self._parse_path(arg, "TO:")
        if parsed is None or parsed[0] == "":
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
        if self.fault == "rcpt451":
            return self.reply("451 4.3.0 Temporary failure at RCPT (fault)")
        if self.fault == "rcpt550":
            return self.reply("550 5.1.1 Recipient rejected (fault)")
        if len(self.rcpts) >= MAX_RCPTS:
            return self.reply("452 4.5.3 Too many recipients")
        self.rcpts.append(parsed[0])
        self.rcpt_params.append(parsed[1])
        self.reply("250 2.1.5 Ok")

    def cmd_DATA(self, arg):
        if arg:
            return self.reply("501 5.5.4 Syntax: DATA")
        if self.mail_from is None:
            return self.reply("503 5.5.1 Need MAIL command")
        if not self.rcpts:
            return self.reply("554 5.5.1 No valid recipients")
        self.reply("354 End data with <CR><LF>.<CR><LF>")
        data, too_big = self._read_data()
        if too_big:
            self._reset_transaction()
            return self.reply("552 5.3.4 Message size exceeds fixed limit")
        if self.fault == "data451":
            self._reset_transaction()
            return self.reply("451 4.3.0 Temporary failure after DATA (fault)")
        if self.fault == "data554":
            self._reset_transaction()
            return self.reply("554 5.6.0 Transaction failed after DATA (fault)")
        path = self._record(data)
        self._reset_transaction()
        self.reply("250 2.0.0 Ok: queued as %s" % os.path.basename(path)[:-5])

    def _read_data(self):
        """Read to the lone dot, unstuffing; return (bytes, too_big)."""
        chunks, size, too_big, at_line_start = [], 0, False, True
        while True:
            line = self.readline(DATA_CHUNK)
            if at_line_start:
                if line in (b".\r\n", b".\n"):
                    break
                if line.startswith(b"."):
                    line = line[1:]
            at_line_start = line.endswith(b"\n")
            size += len(line)
            if size > self.cfg.max_size:
                too_big = True
                chunks = []
            if not too_big:
                chunks.append(line)
        return b"".join(chunks), too_big

    def _record(self, data):
        """Write the accepted message to the spool; return its path."""
        text = data.decode("utf-8", "replace").replace("\r\n", "\n")
        headers = parse_headers(text)
        return _write_message(self.cfg.spool, self.cfg.name, {
            "server": self.cfg.name, "mail_from": self.mail_from,
            "mail_params": self.mail_params, "rcpts": list(self.rcpts),
            "rcpt_params": [list(p) for p in self.rcpt_params],
            "from_header": _first(headers, "From"),
            "subject": _first(headers, "Subject"), "headers": headers,
            "auth_user": self.auth_user, "auth_mech": self.auth_mech,
            "tls": self.tls,
            "tls_version": self.tls_version(), "sni": self.sni,
            "helo": self.helo, "client": self.client,
            "client_port": self.client_port, "time": time.time(),
            "data": text,
        })

    def cmd_RSET(self, arg):
        self._reset_transaction()
        self.reply("250 2.0.0 Ok")

    def cmd_NOOP(self, arg):
        self.reply("250 2.0.0 Ok")

    def cmd_VRFY(self, arg):
        self.reply("252 2.0.0 Cannot VRFY, send some mail")

    def cmd_HELP(self, arg):
        self.reply("214 2.0.0 fakesmtp: see tests/lib/fakesmtp.py")

    def cmd_QUIT(self, arg):
        self.reply("221 2.0.0 Bye")
        return False


# ---------------------------------------------------------------------------
# The server.

class Server(socketserver.ThreadingTCPServer):
    """Threaded listener holding the configuration and the TLS context."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, cfg, host, port, family):
        self.address_family = family
        self.cfg = cfg
        self.stopping = threading.Event()
        self.ssl_context = None
        if cfg.tls != "none":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cfg.cert, cfg.key)
            ctx.sni_callback = _remember_sni
            self.ssl_context = ctx
        super().__init__((host, port), Session)

    def current_fault(self):
        """--fault, or the fault file's content read now (empty/missing=none)."""
        if self.cfg.fault_file is None:
            return self.cfg.fault
        try:
            with open(self.cfg.fault_file, encoding="utf-8") as f:
                fault = f.read().strip() or "none"
        except FileNotFoundError:
            return "none"
        if fault not in FAULTS:
            log(self.cfg, "unknown fault %r in %s, using none" %
                (fault, self.cfg.fault_file))
            return "none"
        return fault

    def log_connection(self, session):
        """One line in connections.jsonl per accepted connection."""
        _append_jsonl(os.path.join(self.cfg.spool, "connections.jsonl"), {
            "server": self.cfg.name, "client": session.client,
            "client_port": session.client_port, "fault": session.fault,
            "time": time.time(),
        })


def _remember_sni(sslobj, server_name, ctx):
    """SNI callback: the handshake runs in the session's own thread."""
    _tls_local.sni = server_name


def log(cfg, msg):
    """One diagnostic line on stderr."""
    print("fakesmtp[%s]: %s" % (cfg.name, msg), file=sys.stderr, flush=True)


def parse_listen(value):
    """'HOST:PORT' or '[::1]:PORT' -> (host, port, family), loopback only."""
    m = re.match(r"^\[([^\]]+)\]:(\d+)$", value) or \
        re.match(r"^([^:]+):(\d+)$", value) or \
        re.match(r"^(.*):(\d+)$", value)
    if not m:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % value)
    host, port = m.group(1), int(m.group(2))
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError("HOST must be a loopback IP, got %r" % host)
    if ip.version == 4 and ip in ipaddress.ip_network("127.0.0.0/8"):
        family = socket.AF_INET
    elif ip.version == 6 and ip == ipaddress.ip_address("::1"):
        family = socket.AF_INET6
    else:
        raise argparse.ArgumentTypeError(
            "refusing to listen on %s: only 127.0.0.0/8 or ::1" % host)
    if port > 65535:
        raise argparse.ArgumentTypeError("bad port %d" % port)
    return host, port, family


def parse_args(argv):
    """Command line -> namespace (with .users as a dict)."""
    p = argparse.ArgumentParser(description="Fake SMTP relay for tests "
                                            "(loopback only).")
    p.add_argument("--listen", required=True, type=parse_listen,
                   metavar="HOST:PORT")
    p.add_argument("--name", required=True)
    p.add_argument("--spool", required=True, metavar="DIR")
    p.add_argument("--tls", choices=("none", "starttls", "implicit"),
                   default="none")
    p.add_argument("--cert", metavar="FILE")
    p.add_argument("--key", metavar="FILE")
    p.add_argument("--auth", action="append", default=[], metavar="USER:PASS")
    p.add_argument("--xoauth2", action="append", default=[],
                   metavar="USER:TOKEN", help="a good XOAUTH2 bearer token")
    p.add_argument("--xoauth2-file", metavar="FILE",
                   help="good XOAUTH2 tokens, 'USER TOKEN' lines, re-read "
                        "at every attempt")
    p.add_argument("--mechs", metavar="LIST",
                   help="SASL mechanisms to offer, comma separated (default "
                        "PLAIN,LOGIN, plus XOAUTH2 with --xoauth2*)")
    p.add_argument("--require-auth", action="store_true")
    p.add_argument("--advertise-auth-before-tls", action="store_true")
    p.add_argument("--no-auth", action="store_true",
                   help="never advertise AUTH, answer 502 to it")
    p.add_argument("--fault", choices=FAULTS, default="none")
    p.add_argument("--fault-file", metavar="FILE")
    p.add_argument("--ready-file", metavar="FILE")
    p.add_argument("--max-seconds", type=float, default=3600)
    p.add_argument("--idle-timeout", type=float, default=60)
    p.add_argument("--max-size", type=int, default=10 * 1024 * 1024)
    cfg = p.parse_args(argv)
    if not re.match(r"^[A-Za-z0-9._-]+$", cfg.name):
        p.error("--name must match [A-Za-z0-9._-]+")
    if cfg.tls != "none" and not (cfg.cert and cfg.key):
        p.error("--tls %s needs --cert and --key" % cfg.tls)
    cfg.users = {}
    for item in cfg.auth:
        user, sep, password = item.partition(":")
        if not sep or not user:
            p.error("--auth wants USER:PASS, got %r" % item)
        cfg.users[user] = password
    cfg.tokens = {}
    for item in cfg.xoauth2:
        user, sep, token = item.partition(":")
        if not sep or not user or not token:
            p.error("--xoauth2 wants USER:TOKEN, got %r" % item)
        cfg.tokens[user] = token
    if cfg.mechs:
        cfg.mechs = [m.strip().upper() for m in cfg.mechs.split(",") if m.strip()]
        bad = set(cfg.mechs) - {"PLAIN", "LOGIN", "XOAUTH2"}
        if bad or not cfg.mechs:
            p.error("--mechs: only PLAIN, LOGIN, XOAUTH2, got %r" % sorted(bad))
    else:
        cfg.mechs = ["PLAIN", "LOGIN"]
        if cfg.tokens or cfg.xoauth2_file:
            cfg.mechs.append("XOAUTH2")
    if not os.path.isdir(cfg.spool):
        p.error("--spool %s is not a directory" % cfg.spool)
    return cfg


def write_ready(path, port):
    """Write PORT to PATH atomically (temporary name, then rename)."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv):
    cfg = parse_args(argv)
    host, port, family = cfg.listen
    try:
        server = Server(cfg, host, port, family)
    except (OSError, ssl.SSLError) as e:
        log(cfg, "cannot listen on %s:%d: %s" % (host, port, e))
        return 1
    port = server.server_address[1]

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    if cfg.ready_file:
        write_ready(cfg.ready_file, port)
    log(cfg, "listening on %s port %d (tls=%s fault=%s%s)" % (
        host, port, cfg.tls, cfg.fault,
        " fault-file=" + cfg.fault_file if cfg.fault_file else ""))

    # Wait for a signal or the deadline; Event.wait wakes up for handlers.
    if not stop.wait(cfg.max_seconds):
        log(cfg, "--max-seconds %g reached, exiting" % cfg.max_seconds)
    server.stopping.set()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
