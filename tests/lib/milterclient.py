"""milterclient.py - the MTA side of the milter wire protocol, for tests.

What: a small, strict client that speaks the Sendmail milter protocol
(versions 2 and 6) to a filter over a UNIX or TCP socket, the way Postfix's
milter8 client and Sendmail do: option negotiation (with the macro lists the
filter asks for), MACRO, CONNECT, HELO, MAIL, RCPT, DATA, HEADER, EOH, BODY,
BODYEOB, ABORT and QUIT, honouring the steps the filter negotiated away
(SMFIP_NO*: not sent) and the no-reply steps (SMFIP_NR_*: no reply read).
At end of message it collects every modification (ADDHEADER, INSHEADER,
CHGHEADER, CHGFROM, ADDRCPT, DELRCPT, ...) up to the final reply, which
miltertest cannot show for CHGFROM.

Contract: every read has a timeout (default 10 s); a protocol violation or
an unexpected reply raises MilterError. Loopback/UNIX sockets only in tests.
Limits: packets over 1 MiB are refused. Python 3 standard library only.
"""

import socket
import struct

# Commands (MTA -> filter).
SMFIC_ABORT, SMFIC_BODY, SMFIC_CONNECT, SMFIC_MACRO = b"A", b"B", b"C", b"D"
SMFIC_BODYEOB, SMFIC_HELO, SMFIC_HEADER, SMFIC_MAIL = b"E", b"H", b"L", b"M"
SMFIC_EOH, SMFIC_OPTNEG, SMFIC_QUIT, SMFIC_RCPT = b"N", b"O", b"Q", b"R"
SMFIC_DATA, SMFIC_UNKNOWN = b"T", b"U"

# Replies (filter -> MTA).
REPLY_NAMES = {
    b"a": "accept", b"c": "continue", b"d": "discard", b"r": "reject",
    b"t": "tempfail", b"y": "replycode", b"s": "skip", b"p": "progress",
    b"h": "addheader", b"i": "insheader", b"m": "chgheader", b"e": "chgfrom",
    b"+": "addrcpt", b"2": "addrcpt_par", b"-": "delrcpt", b"b": "replbody",
    b"q": "quarantine", b"O": "optneg", b"f": "connfail", b"4": "shutdown",
}
FINAL = {"accept", "continue", "discard", "reject", "tempfail", "replycode"}

# Actions and protocol flags (libmilter mfapi.h / mfdef.h).
SMFIF_ADDHDRS, SMFIF_CHGBODY, SMFIF_ADDRCPT, SMFIF_DELRCPT = 0x01, 0x02, 0x04, 0x08
SMFIF_CHGHDRS, SMFIF_QUARANTINE, SMFIF_CHGFROM = 0x10, 0x20, 0x40
SMFIF_ADDRCPT_PAR, SMFIF_SETSYMLIST = 0x80, 0x100
SMFIP_NOCONNECT, SMFIP_NOHELO, SMFIP_NOMAIL, SMFIP_NORCPT = 0x1, 0x2, 0x4, 0x8
SMFIP_NOBODY, SMFIP_NOHDRS, SMFIP_NOEOH, SMFIP_NR_HDR = 0x10, 0x20, 0x40, 0x80
SMFIP_NOUNKNOWN, SMFIP_NODATA, SMFIP_SKIP, SMFIP_RCPT_REJ = 0x100, 0x200, 0x400, 0x800
SMFIP_NR_CONN, SMFIP_NR_HELO, SMFIP_NR_MAIL, SMFIP_NR_RCPT = 0x1000, 0x2000, 0x4000, 0x8000
SMFIP_NR_DATA, SMFIP_NR_UNKN, SMFIP_NR_EOH, SMFIP_NR_BODY = 0x10000, 0x20000, 0x40000, 0x80000
SMFIP_HDR_LEADSPC = 0x100000

# What the MTAs offer. Postfix 3.x (milter_protocol = 6) and Sendmail 8.14+
# offer every action and step flag up to HDR_LEADSPC; Sendmail before 8.14
# speaks version 2 with the old actions and NO* steps only.
POSTFIX_V6 = (6, 0x1FF, 0x1FFFFF)
SENDMAIL_V6 = (6, 0x1FF, 0x1FFFFF)
SENDMAIL_V2 = (2, 0x3F, 0x7F)

# Macro stages as SMFIM_* numbers -> the command letter they ride with.
STAGES = {0: SMFIC_CONNECT, 1: SMFIC_HELO, 2: SMFIC_MAIL, 3: SMFIC_RCPT,
          4: SMFIC_DATA, 5: SMFIC_BODYEOB, 6: SMFIC_EOH}

MAX_PACKET = 1 << 20


class MilterError(Exception):
    """A protocol violation, a timeout or an unexpected reply."""


def _z(*parts):
    """NUL-terminate every part and join them."""
    return b"".join(p.encode() + b"\0" if isinstance(p, str) else p + b"\0" for p in parts)


class MilterClient:
    """One MTA-side milter connection."""

    def __init__(self, address, timeout=10.0):
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.version = 0
        self.actions = 0
        self.protocol = 0
        self.symlists = {}

    # --- framing -------------------------------------------------------
    def send(self, cmd, data=b""):
        """Send one packet: 4-byte length, command byte, data."""
        self.sock.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def _read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise MilterError("connection closed by the filter")
            buf += chunk
        return buf

    def read(self):
        """Read one packet; returns (command byte, data)."""
        (n,) = struct.unpack(">I", self._read_exact(4))
        if n < 1 or n > MAX_PACKET:
            raise MilterError("bad packet length %d" % n)
        data = self._read_exact(n)
        return data[:1], data[1:]

    # --- negotiation ----------------------------------------------------
    def negotiate(self, offer=POSTFIX_V6):
        """Offer (version, actions, protocol); keep what the filter chose."""
        version, actions, protocol = offer
        self.send(SMFIC_OPTNEG, struct.pack(">III", version, actions, protocol))
        cmd, data = self.read()
        if cmd != b"O" or len(data) < 12:
            raise MilterError("bad OPTNEG reply %r" % cmd)
        self.version, self.actions, self.protocol = struct.unpack(">III", data[:12])
        if self.actions & ~actions or self.protocol & ~protocol:
            raise MilterError("filter chose flags that were not offered: actions %#x protocol %#x"
                              % (self.actions, self.protocol))
        rest = data[12:]
        while len(rest) >= 4:
            (stage,) = struct.unpack(">I", rest[:4])
            text, _, rest = rest[4:].partition(b"\0")
            self.symlists[stage] = text.decode().split()
        return self

    def has(self, flag):
        """True when the negotiated protocol includes FLAG."""
        return bool(self.protocol & flag)

    # --- commands --------------------------------------------------------
    def _step(self, cmd, data, skip_flag, nr_flag):
        """Send a step unless skipped; read its reply unless no-reply."""
        if skip_flag and self.has(skip_flag):
            return "skipped"
        self.send(cmd, data)
        if nr_flag and self.has(nr_flag):
            return None
        return self._final()

    def _final(self):
        cmd, data = self.read()
        name = REPLY_NAMES.get(cmd, repr(cmd))
        if name not in FINAL and name != "skip":
            raise MilterError("unexpected reply %s outside end of message" % name)
        return name

    def macro(self, stage_cmd, macros):
        """Send macros for the step STAGE_CMD (only those the filter asked for,
        as Postfix does, when it sent a list for that stage)."""
        stage = [k for k, v in STAGES.items() if v == stage_cmd]
        wanted = self.symlists.get(stage[0]) if stage else None
        items = [(k, v) for k, v in macros.items() if wanted is None or k in wanted]
        self.send(SMFIC_MACRO, stage_cmd + b"".join(_z(k, v) for k, v in items))

    def connect(self, hostname, addr, port=25, family=None):
        """CONNECT with an IPv4/IPv6 address (or family "U" with addr None)."""
        if addr is None:
            data = _z(hostname) + b"U"
        else:
            fam = family or (b"6" if ":" in addr else b"4")
            data = _z(hostname) + fam + struct.pack(">H", port) + _z(addr)
        return self._step(SMFIC_CONNECT, data, SMFIP_NOCONNECT, SMFIP_NR_CONN)

    def helo(self, name):
        return self._step(SMFIC_HELO, _z(name), SMFIP_NOHELO, SMFIP_NR_HELO)

    def mail(self, *args):
        return self._step(SMFIC_MAIL, _z(*args), SMFIP_NOMAIL, SMFIP_NR_MAIL)

    def rcpt(self, *args):
        return self._step(SMFIC_RCPT, _z(*args), SMFIP_NORCPT, SMFIP_NR_RCPT)

    def data(self):
        return self._step(SMFIC_DATA, b"", SMFIP_NODATA, SMFIP_NR_DATA)

    def header(self, name, value):
        if self.has(SMFIP_HDR_LEADSPC):
            value = " " + value
        return self._step(SMFIC_HEADER, _z(name, value), SMFIP_NOHDRS, SMFIP_NR_HDR)

    def eoh(self):
        return self._step(SMFIC_EOH, b"", SMFIP_NOEOH, SMFIP_NR_EOH)

    def body(self, chunk):
        return self._step(SMFIC_BODY, chunk, SMFIP_NOBODY, SMFIP_NR_BODY)

    def eom(self, chunk=b""):
        """BODYEOB: returns (final reply, [modifications])."""
        self.send(SMFIC_BODYEOB, chunk)
        mods = []
        while True:
            cmd, data = self.read()
            name = REPLY_NAMES.get(cmd, repr(cmd))
            if name in FINAL:
                self.reply_text = data.rstrip(b"\0").decode(errors="replace")  # replycode's text
                return name, mods
            mods.append(_parse_mod(name, data))

    def abort(self):
        self.send(SMFIC_ABORT)

    def quit(self):
        try:
            self.send(SMFIC_QUIT)
        finally:
            self.sock.close()

    close = quit


def _parse_mod(name, data):
    """Turn one modification packet into a tuple."""
    parts = data.split(b"\0")
    if name == "addheader":
        return ("addheader", parts[0].decode(), parts[1].decode())
    if name in ("chgheader", "insheader"):
        (idx,) = struct.unpack(">I", data[:4])
        p = data[4:].split(b"\0")
        return (name, idx, p[0].decode(), p[1].decode())
    if name == "chgfrom":
        args = parts[1].decode() if len(parts) > 2 and parts[1] else ""
        return ("chgfrom", parts[0].decode(), args)
    if name in ("addrcpt", "delrcpt", "addrcpt_par"):
        return (name, parts[0].decode())
    if name == "progress":
        return ("progress",)
    raise MilterError("unexpected modification %s" % name)


def message(client, connect_macros=None, mail_macros=None, eom_macros=None,
            sender="<app@platform.example>", rcpts=("<jane@client.example>",),
            headers=(), mail_args=()):
    """Send one message on an already connected client; returns (reply, mods)."""
    if mail_macros:
        client.macro(SMFIC_MAIL, mail_macros)
    r = client.mail(sender, *mail_args)
    if r not in (None, "continue", "skipped"):
        return r, []
    for rc in rcpts:
        client.rcpt(rc)
    client.data()
    for name, value in headers:
        client.header(name, value)
    client.eoh()
    client.body(b"Hello.\r\n")
    if eom_macros:
        client.macro(SMFIC_BODYEOB, eom_macros)
    return client.eom()


def session(address, hostname, addr, offer=POSTFIX_V6, connect_macros=None, port=40000):
    """Open, negotiate and CONNECT; returns the client."""
    c = MilterClient(address)
    c.negotiate(offer)
    if connect_macros:
        c.macro(SMFIC_CONNECT, connect_macros)
    c.connect(hostname, addr, port)
    return c
