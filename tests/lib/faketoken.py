#!/usr/bin/python3
"""faketoken.py - a fake OAuth2 token endpoint over HTTPS (client credentials).

What it is: one HTTPS server per process standing in for
login.microsoftonline.com or any OAuth2 token endpoint, for the
partner-relay-tokend and integration tests.  It serves POST to any path
ending in /token, with the certificate and key given (the test CA of
tests/lib/mkcerts.sh: server.pem is for localhost and 127.0.0.1).

Contract:
  - Loopback only: refuses to bind anything but 127.0.0.0/8 or ::1.
  - A client is --client ID:SECRET[:SCOPE] (repeatable; SCOPE defaults to
    https://outlook.office365.com/.default).  A request is good when its
    form body (application/x-www-form-urlencoded, decoded as a form) has
    grant_type=client_credentials, a known client_id, that client's secret
    exactly (so a secret not URL-encoded by the client, holding + & % or =,
    fails) and the client's scope.  A good request gets 200
    {"token_type":"Bearer","expires_in":N,"access_token":T} with
    T = "fake-token-<client>-<counter>-<random hex>" and N = --expires-in;
    --token-bytes L pads T with "." and "A" to L characters (a Microsoft 365
    token is 1-3 KB).
  - A bad request gets 400 {"error":"invalid_client" | "invalid_request" |
    "invalid_scope" | "unsupported_grant_type", "error_description":
    "AADSTS7000215: Invalid client secret provided ..."} as Entra does.
  - Every request is one JSON line in --log: time, path, client_id, ok,
    status, fault, token (the token issued, or null).  The secret is never
    written.  --ready-file receives the port (atomically) once listening.
  - Faults (--fault, or the content of --fault-file re-read per request;
    a path holding a segment /f/NAME/ takes its mode from the file NAME in
    --fault-dir instead, "none" while that file is missing):
    none; invalid_client (400 with AADSTS7000215); server_error (503
    HTML); http500 (500 JSON temporarily_unavailable, AADSTS50049);
    bad_gateway (502 HTML); notjson (200 with an HTML body); hang (read
    the request, never answer until the client gives up or --hang-seconds
    pass); tiny (expires_in 4); short (expires_in 12); huge (200 with a
    --huge-mb MB body, default 2, written in 64 KB pieces until the client
    stops reading); noexpiry (200 without expires_in); and Entra's refusals, as
    its token endpoint words them (ENTRA_FAULTS): unknown_tenant (400
    AADSTS90002), no_consent (400 invalid_grant AADSTS65001),
    no_service_principal (401 invalid_client AADSTS7000229), secret_expired
    (401 invalid_client AADSTS7000222), unauthorized_client (400, no AADSTS
    code: any provider), echo_secret (400 whose error_description repeats
    the client_secret received: a client must not show it).
  - --fixed-token T: every good request gets T instead of a fresh token
    (a test can give the same T to a fake relay beforehand).
  - SIGTERM/SIGINT: exit promptly, status 0; --max-seconds bounds the life.
These secrets and tokens are test values only.
"""
import argparse
import http.server
import json
import os
import secrets
import signal
import ssl
import sys
import threading
import time
import urllib.parse

DEFAULT_SCOPE = "https://outlook.office365.com/.default"
AADSTS_BAD_SECRET = ("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent "
                     "in the request is the client secret value, not the client secret ID.")


# fault -> (HTTP status, error, error_description); "%s" is the secret received.
ENTRA_FAULTS = {
    "unknown_tenant": (400, "invalid_request",
                       "AADSTS90002: Tenant 'contoso.example' not found. Check to make sure you "
                       "have the correct tenant ID and are signing into the correct cloud."),
    "no_consent": (400, "invalid_grant",
                   "AADSTS65001: The user or administrator has not consented to use the "
                   "application with ID '11111111-1111-1111-1111-111111111111'."),
    "no_service_principal": (401, "invalid_client",
                             "AADSTS7000229: The client application 11111111-1111-1111-1111-"
                             "111111111111 is missing service principal in the tenant."),
    "secret_expired": (401, "invalid_client",
                       "AADSTS7000222: The provided client secret keys for app are expired."),
    "unauthorized_client": (400, "unauthorized_client",
                            "The client is not authorized to use this authorization grant type."),
    "echo_secret": (400, "invalid_request", "Bad request: client_secret %s is malformed"),
}


def write_atomic(path, text):
    """Write TEXT to PATH through a temporary name."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class State:
    """Clients, counters and the log, shared by the handler threads."""

    def __init__(self, args):
        self.args = args
        self.clients = {}
        for c in args.client:
            parts = c.split(":", 2)
            if len(parts) < 2:
                raise SystemExit("--client ID:SECRET[:SCOPE]")
            self.clients[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else DEFAULT_SCOPE)
        self.lock = threading.Lock()
        self.counter = 0

    def fault(self, path=""):
        """The current fault mode (for a request to PATH)."""
        parts = path.split("?")[0].split("/")
        if self.args.fault_dir and "f" in parts[:-1]:
            name = parts[parts.index("f") + 1]
            if not name.replace("-", "").replace("_", "").isalnum():
                return "none"
            try:
                with open(os.path.join(self.args.fault_dir, name)) as f:
                    return f.read().strip() or "none"
            except OSError:
                return "none"
        if self.args.fault_file:
            try:
                with open(self.args.fault_file) as f:
                    return f.read().strip() or "none"
            except OSError:
                return "none"
        return self.args.fault

    def log(self, rec):
        """Append one JSON line to the request log."""
        if not self.args.log:
            return
        with self.lock, open(self.args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    """POST .../token with the client-credentials grant."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):  # quiet: the JSON log is the record
        pass

    def reply(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def huge(self, size):
        """200 with a SIZE-byte JSON body, written piece by piece."""
        head, tail = b'{"access_token":"', b'","expires_in":3599}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        piece = b"x" * 65536
        left = size - len(head) - len(tail)
        try:
            self.wfile.write(head)
            while left > 0:
                self.wfile.write(piece[:left])
                left -= len(piece)
            self.wfile.write(tail)
        except OSError:  # the client stopped reading: what a bounded one does
            pass
        self.close_connection = True

    def check(self, form):
        """None when FORM is a good request, else (error, description)."""
        st = self.server.state
        if form.get("grant_type") != ["client_credentials"]:
            return ("unsupported_grant_type", "AADSTS70003: grant type not supported")
        cid = (form.get("client_id") or [""])[0]
        if cid not in st.clients:
            return ("unauthorized_client", "AADSTS700016: Application not found in the directory")
        secret, scope = st.clients[cid]
        if form.get("client_secret") != [secret]:
            return ("invalid_client", AADSTS_BAD_SECRET)
        if form.get("scope") != [scope]:
            return ("invalid_scope", "AADSTS70011: The provided value for scope is not valid")
        return None

    def do_POST(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(n, 65536)).decode("ascii", "replace")
        form = urllib.parse.parse_qs(raw, keep_blank_values=True)
        cid = (form.get("client_id") or [None])[0]
        fault = st.fault(self.path)
        rec = {"time": time.time(), "path": self.path, "client_id": cid, "fault": fault,
               "token": None, "ok": False}
        if not self.path.endswith("/token"):
            rec["status"] = 404
            st.log(rec)
            return self.reply(404, '{"error":"not_found"}')
        if fault == "hang":
            rec["status"] = 0
            st.log(rec)
            time.sleep(self.server.state.args.hang_seconds)
            self.close_connection = True
            return None
        if fault in ENTRA_FAULTS:
            status, err, desc = ENTRA_FAULTS[fault]
            if "%s" in desc:
                desc = desc % (form.get("client_secret") or [""])[0]
            body = {"error": err, "error_description": desc}
            if desc.startswith("AADSTS"):
                body["error_codes"] = [int(desc[6:].split(":")[0])]
            rec["status"] = status
            st.log(rec)
            return self.reply(status, json.dumps(body))
        bad = self.check(form)
        if fault == "invalid_client":
            bad = ("invalid_client", AADSTS_BAD_SECRET)
        if bad:
            rec["status"] = 400
            st.log(rec)
            return self.reply(400, json.dumps({"error": bad[0], "error_description": bad[1],
                                               "error_codes": [int(bad[1][6:].split(":")[0])]}))
        if fault == "server_error":
            rec["status"] = 503
            st.log(rec)
            return self.reply(503, "<html>Service Unavailable</html>", "text/html")
        if fault == "http500":
            rec["status"] = 500
            st.log(rec)
            return self.reply(500, json.dumps({
                "error": "temporarily_unavailable", "error_codes": [50049],
                "error_description": "AADSTS50049: Unknown or invalid instance."}))
        if fault == "bad_gateway":
            rec["status"] = 502
            st.log(rec)
            return self.reply(502, "<html>502 Bad Gateway</html>", "text/html")
        if fault == "notjson":
            rec["status"] = 200
            st.log(rec)
            return self.reply(200, "<html>not json</html>", "text/html")
        if fault == "huge":
            rec["status"] = 200
            st.log(rec)
            return self.huge(st.args.huge_mb << 20)
        with st.lock:
            st.counter += 1
            token = st.args.fixed_token or "fake-token-%s-%d-%s" % (cid, st.counter, secrets.token_hex(16))
        if len(token) < st.args.token_bytes:
            token += "." + "A" * (st.args.token_bytes - len(token) - 1)
        body = {"token_type": "Bearer", "access_token": token, "ext_expires_in": 3599}
        if fault != "noexpiry":
            body["expires_in"] = {"tiny": 4, "short": 12}.get(fault, st.args.expires_in)
        rec.update(status=200, ok=True, token=token)
        st.log(rec)
        return self.reply(200, json.dumps(body))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--client", action="append", default=[])
    ap.add_argument("--expires-in", type=int, default=3599)
    ap.add_argument("--token-bytes", type=int, default=0)
    ap.add_argument("--fault", default="none")
    ap.add_argument("--fixed-token")
    ap.add_argument("--fault-file")
    ap.add_argument("--fault-dir")
    ap.add_argument("--hang-seconds", type=float, default=60)
    ap.add_argument("--huge-mb", type=int, default=2)
    ap.add_argument("--log")
    ap.add_argument("--ready-file")
    ap.add_argument("--max-seconds", type=float, default=600)
    args = ap.parse_args(argv)
    if not (args.listen.startswith("127.") or args.listen == "::1"):
        raise SystemExit("faketoken.py: loopback only")
    srv = Server((args.listen, args.port), Handler)
    srv.state = State(args)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    signal.signal(signal.SIGINT, lambda *a: os._exit(0))
    threading.Timer(args.max_seconds, lambda: os._exit(0)).start()
    if args.ready_file:
        write_atomic(args.ready_file, str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
