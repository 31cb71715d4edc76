"""maillog.py - what Postfix's log says about each delivery, for the demo.

What it is: a reader of a private Postfix instance's maillog_file (with
smtp_tls_loglevel = 1) that the demo (demo.py) uses to show, per landed
message, how the TLS session to the relay was authenticated, and, for a
message that fell back, why the partner relay was not used.

Contract: parse(TEXT) returns {queue id: Delivery} for every smtp(8)
delivery line ("QUEUEID: to=<...>, relay=HOST[ADDR]:PORT, ..., status=S").
Delivery.relay is "HOST[ADDR]:PORT"; Delivery.tls is Postfix's own word
for the session that carried it ("Verified", "Trusted", "Untrusted",
"Anonymous") or None when it was not over TLS; Delivery.cause is the
problem that smtp(8) process logged for another relay just before this
delivery ("Connection refused", "hostname mismatch", ...), or, for a
delivery over a cached session (conn_use > 1) that smtp(8) opened when
that relay failed, the cause it logged then with " (cached session)"
appended; None when there was none.
Both are matched by smtp(8) process: one process delivers one message at
a time and logs its TLS session and connection problems before the
delivery line, so interleaved processes do not mix. A cached session
(which scache(8) may hand to another process) takes the trust word and
the cause last logged for its relay by any process.

Limits: Postfix 3.x log wording (Debian 12's 3.7). Thread safety: none
needed (pure function). Standard library only.
"""

import re

_PORT = re.compile(r":(\d+)(?::|,|$)")
_PROC = re.compile(r"postfix/(\S+)\[(\d+)\]: (.*)$")
_TLS = re.compile(r"^(Verified|Trusted|Untrusted|Anonymous) TLS connection "
                  r"established to (\S+): (\S+)")
_DELIVERY = re.compile(r"^([0-9A-F]{6,}): to=<[^>]*>, relay=([^,]+), "
                       r"(?:conn_use=(\d+), )?.*status=(\w+)")
# Problems with a relay that make smtp(8) try the next one (the fallback).
_PROBLEMS = [
    re.compile(r"^connect to \S+: (.+)$"),
    re.compile(r"^(?:server )?certificate verification failed for \S+: "
               r"(?:num=\d+:)?(.+)$"),
    re.compile(r"^(?:[0-9A-F]{6,}: )?(Server certificate not (?:verified|trusted))"),
    re.compile(r"^(?:[0-9A-F]{6,}: )?lost connection with \S+ (.+)$"),
]


class Delivery:
    """One delivery attempt's line: relay, status, TLS trust, prior problem."""

    def __init__(self, relay, status, tls, version, cause):
        self.relay, self.status = relay, status
        self.tls, self.version, self.cause = tls, version, cause


def _problem(msg):
    """(short cause, relay port or None) when MSG is a relay problem line."""
    for rx in _PROBLEMS:
        m = rx.match(msg)
        if m:
            port = _PORT.search(msg)
            return m.group(1).strip(), port.group(1) if port else None
    return None, None


def _cached_cause(by_port, relay):
    """The cause logged when the cached session behind RELAY was opened."""
    port = _PORT.search(relay)
    cause = by_port.get(port.group(1)) if port else None
    return cause + " (cached session)" if cause else None


def parse(text):
    """{queue id: Delivery} from maillog TEXT (see the header)."""
    sessions = {}   # (service, pid) -> {relay: (trust, version)}
    any_session = {}  # relay -> (trust, version) of its last session, any process
    problems = {}   # (service, pid) -> first problem since its last delivery
    by_port = {}    # port -> last problem logged with that relay, any process
    out = {}
    for line in text.splitlines():
        m = _PROC.search(line)
        if not m:
            continue
        key, msg = (m.group(1), m.group(2)), m.group(3)
        t = _TLS.match(msg)
        if t:
            sessions.setdefault(key, {})[t.group(2)] = (t.group(1), t.group(3))
            any_session[t.group(2)] = (t.group(1), t.group(3))
            continue
        d = _DELIVERY.match(msg)
        if d:
            qid, relay, conn_use, status = d.groups()
            cached = conn_use is not None and int(conn_use) > 1
            # A cached session may have been opened by another smtp(8)
            # process (scache(8) shares them).
            trust, version = sessions.get(key, {}).get(relay) or \
                (any_session.get(relay) if cached else None) or (None, None)
            cause = problems.pop(key, None)
            if cause is None and cached:
                cause = _cached_cause(by_port, relay)
            out[qid] = Delivery(relay, status, trust, version, cause)
            continue
        cause, port = _problem(msg)
        if cause and key not in problems:
            problems[key] = cause
            if port:
                by_port[port] = cause
    return out
