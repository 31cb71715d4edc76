"""spool.py - helpers for tests that drive fakesmtp.py servers.

What it is: read what the fake relays recorded, poll for it with a bound,
and start/stop fakesmtp.py processes on 127.0.0.1 with a kernel-chosen port.

Contract:
  read_messages(spool_dir, server=None) -> [dict]  accepted messages, oldest
      first (by their "time", then file name); optionally one server's only.
  read_auth_events(spool_dir, server=None) -> [dict]  AUTH attempts in order.
  read_connections(spool_dir, server=None) -> [dict]  accepted connections.
  wait_for(predicate, timeout=10, interval=0.05) -> the first truthy value
      of predicate(), or its last (falsy) value once timeout has passed.
  start_server(spool_dir, name="fake", *extra_args, ..., ready_timeout=10)
      -> (Popen, port); raises RuntimeError (with the server's log) if the
      server does not become ready in time.
  stop_server(p, timeout=5) -> exit status; SIGTERM, then SIGKILL.
  socketmap_lookup(sock_path, key, name="xoauth2", timeout=10) -> the reply
      payload ("OK ...", "TEMP ...") of one socketmap request, as smtp(8)
      sends it (to fakesocketmap.py or partner-relay-tokend); "ERROR ..."
      when the socket fails or the reply is not a netstring.

Standard library only.  Safe to import from any test (no side effects).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FAKESMTP = os.path.join(HERE, "fakesmtp.py")
MKCERTS = os.path.join(HERE, "mkcerts.sh")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def _read_jsonl(path, server):
    """Records of a jsonl file (missing file = none), optionally filtered."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    records = [json.loads(l) for l in lines if l.strip()]
    return [r for r in records if server is None or r.get("server") == server]


def read_messages(spool_dir, server=None):
    """Accepted messages in SPOOL_DIR, oldest first."""
    out = []
    for fname in os.listdir(spool_dir):
        if fname.startswith(".") or not fname.endswith(".json"):
            continue
        try:
            with open(os.path.join(spool_dir, fname), encoding="utf-8") as f:
                msg = json.load(f)
        except FileNotFoundError:
            continue
        if server is None or msg.get("server") == server:
            msg["_file"] = fname
            out.append(msg)
    out.sort(key=lambda m: (m.get("time", 0), m["_file"]))
    return out


def read_auth_events(spool_dir, server=None):
    """AUTH attempts recorded in SPOOL_DIR/auth-events.jsonl, in order."""
    return _read_jsonl(os.path.join(spool_dir, "auth-events.jsonl"), server)


def read_connections(spool_dir, server=None):
    """Connections recorded in SPOOL_DIR/connections.jsonl, in order."""
    return _read_jsonl(os.path.join(spool_dir, "connections.jsonl"), server)


def wait_for(predicate, timeout=10, interval=0.05):
    """Poll PREDICATE until it is truthy or TIMEOUT seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def make_certs(directory):
    """Run mkcerts.sh DIRECTORY (idempotent); return DIRECTORY."""
    subprocess.run(["sh", MKCERTS, directory], check=True)
    return directory


def start_server(spool_dir, name="fake", *extra_args, tls="none", cert=None,
                 key=None, auth=(), require_auth=False,
                 advertise_auth_before_tls=False, fault=None, fault_file=None,
                 max_seconds=600, host="127.0.0.1", log_file=None,
                 ready_timeout=10, xoauth2=(), xoauth2_file=None, mechs=None, port=0):
    """Launch fakesmtp.py on HOST:PORT (0: any free one); return (Popen, port) once ready.

    EXTRA_ARGS are passed through verbatim.  The server's stderr goes to
    LOG_FILE (default SPOOL_DIR/NAME.log).  The server exits by itself
    after MAX_SECONDS even if the test never stops it.
    """
    ready_dir = tempfile.mkdtemp(prefix="fakesmtp-ready-")
    ready = os.path.join(ready_dir, "port")
    listen = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
    cmd = [PYTHON, FAKESMTP, "--listen", listen, "--name", name,
           "--spool", spool_dir, "--tls", tls, "--ready-file", ready,
           "--max-seconds", str(max_seconds)]
    if cert:
        cmd += ["--cert", cert]
    if key:
        cmd += ["--key", key]
    for a in auth:
        cmd += ["--auth", a]
    if require_auth:
        cmd.append("--require-auth")
    if advertise_auth_before_tls:
        cmd.append("--advertise-auth-before-tls")
    if fault:
        cmd += ["--fault", fault]
    if fault_file:
        cmd += ["--fault-file", fault_file]
    for t in xoauth2:
        cmd += ["--xoauth2", t]
    if xoauth2_file:
        cmd += ["--xoauth2-file", xoauth2_file]
    if mechs:
        cmd += ["--mechs", mechs]
    cmd += list(extra_args)
    log_file = log_file or os.path.join(spool_dir, name + ".log")
    with open(log_file, "ab") as log:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                             stdout=log, stderr=log)
    try:
        port = wait_for(lambda: _ready_port(ready) or p.poll() is not None,
                        ready_timeout, 0.02)
        if port is True or not port:
            stop_server(p)
            with open(log_file, encoding="utf-8", errors="replace") as f:
                tail = f.read()[-2000:]
            raise RuntimeError("fakesmtp %s did not become ready (exit %s):\n%s"
                               % (name, p.returncode, tail))
        return p, port
    finally:
        shutil.rmtree(ready_dir, ignore_errors=True)


def _ready_port(path):
    """The port written in a ready file, or None if not there yet."""
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def stop_server(p, timeout=5):
    """SIGTERM the server, SIGKILL it if it lingers; return its exit status."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


def socketmap_lookup(sock_path, key, name="xoauth2", timeout=10):
    """One socketmap request (netstring "NAME KEY"); the reply's payload,
    or "ERROR ..." (see the header)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        req = ("%s %s" % (name, key)).encode()
        s.sendall(b"%d:%s," % (len(req), req))
        buf = b""
        while b":" not in buf or len(buf) < buf.index(b":") + 2 + int(buf.split(b":")[0]):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    except (OSError, ValueError) as e:
        return "ERROR %s" % e
    finally:
        s.close()
    n, _, rest = buf.partition(b":")
    if not n.isdigit() or rest[int(n):int(n) + 1] != b",":
        return "ERROR not a netstring: %r" % buf[:40]
    return rest[:int(n)].decode()
