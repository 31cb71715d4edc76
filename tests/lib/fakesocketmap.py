#!/usr/bin/python3
"""fakesocketmap.py - a stand-in Postfix socketmap server for SASL tokens.

What it is: a tiny server of Postfix's socketmap protocol (socketmap_table(5):
netstrings "NAME KEY" -> "OK VALUE" | "NOTFOUND " | "TEMP reason") on a
UNIX socket, answering from a JSON file {key: value} that is re-read at
every request.  It stands in for partner-relay-tokend(8) where a test needs
to control exactly what Postfix is told (a given token, TEMP, NOTFOUND, a
hang); the integration tests of the OAuth2 wiring run the real tokend.

Contract:
  - --socket PATH is created mode 0666 (the test directory is private);
    --table FILE holds {key: "username:token"}; a key missing from it gets
    TEMP (like the real broker), unless --notfound-for-unknown.
  - --mode-file FILE (re-read per request): "ok" (default), "temp" (TEMP
    for every key), "hang" (never answer), "close" (close the connection).
  - Every request is one JSON line in --log FILE: name, key, answer kind
    ("OK", "TEMP", ...), never the value (it holds a token).
  - SIGTERM/SIGINT: exit 0 and remove the socket; --max-seconds bounds the
    run.

Limits: netstrings of at most 100000 bytes (Postfix's own default
socketmap_max_reply_size); 60 s idle per connection.
Thread safety: one thread per connection; the log append is locked.
Standard library only.
"""

import argparse
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time

MAX_NETSTRING = 100000
_lock = threading.Lock()


def read_netstring(f):
    """One netstring from file F as bytes; None at EOF; ValueError if bad."""
    digits = b""
    while True:
        c = f.read(1)
        if not c:
            return None if not digits else _bad("EOF in length")
        if c == b":":
            break
        if not c.isdigit() or len(digits) > 6:
            _bad("bad length")
        digits += c
    n = int(digits)
    if n > MAX_NETSTRING:
        _bad("too long")
    data = f.read(n)
    if len(data) != n or f.read(1) != b",":
        _bad("bad netstring")
    return data


def _bad(why):
    raise ValueError(why)


def netstring(data):
    """DATA (bytes) as a netstring."""
    return b"%d:%s," % (len(data), data)


class Handler(socketserver.StreamRequestHandler):
    """One Postfix connection: any number of requests."""

    def handle(self):
        self.request.settimeout(60)
        cfg = self.server.cfg
        try:
            while True:
                req = read_netstring(self.rfile)
                if req is None:
                    return
                name, _, key = req.decode("utf-8", "replace").partition(" ")
                mode = read_text(cfg.mode_file) or "ok"
                if mode == "hang":
                    log(cfg, name, key, "HANG")
                    time.sleep(3600)
                    return
                if mode == "close":
                    log(cfg, name, key, "CLOSE")
                    return
                kind, reply = self.answer(cfg, key, mode)
                log(cfg, name, key, kind)
                self.wfile.write(netstring(reply))
                self.wfile.flush()
        except (ValueError, OSError):
            return

    @staticmethod
    def answer(cfg, key, mode):
        """(kind, reply bytes) for KEY under MODE."""
        if mode == "temp":
            return "TEMP", b"TEMP no token (fault)"
        try:
            with open(cfg.table, encoding="utf-8") as f:
                table = json.load(f)
        except (OSError, ValueError):
            table = {}
        value = table.get(key)
        if value is not None:
            return "OK", b"OK " + value.encode("utf-8")
        if cfg.notfound_for_unknown:
            return "NOTFOUND", b"NOTFOUND "
        return "TEMP", b"TEMP unknown sender"


def read_text(path):
    """The stripped content of PATH, or '' when missing or PATH is None."""
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def log(cfg, name, key, kind):
    """One JSON line per request (never the value)."""
    if not cfg.log:
        return
    line = json.dumps({"name": name, "key": key, "answer": kind,
                       "time": time.time()}) + "\n"
    with _lock, open(cfg.log, "a", encoding="utf-8") as f:
        f.write(line)


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False


def main(argv):
    p = argparse.ArgumentParser(description="stand-in socketmap server")
    p.add_argument("--socket", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--mode-file")
    p.add_argument("--log")
    p.add_argument("--notfound-for-unknown", action="store_true")
    p.add_argument("--max-seconds", type=float, default=900)
    cfg = p.parse_args(argv)
    try:
        os.unlink(cfg.socket)
    except FileNotFoundError:
        pass
    server = Server(cfg.socket, Handler)
    server.cfg = cfg
    os.chmod(cfg.socket, 0o666)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    print("fakesocketmap: listening on %s" % cfg.socket, file=sys.stderr, flush=True)
    stop.wait(cfg.max_seconds)
    server.shutdown()
    server.server_close()
    try:
        os.unlink(cfg.socket)
    except FileNotFoundError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
