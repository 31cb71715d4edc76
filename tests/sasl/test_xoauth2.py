#!/usr/bin/python3
"""test_xoauth2.py - the XOAUTH2 SASL plugin driven through libsasl2's client API.

What: loads the built src/libprmxoauth2.so the way Postfix's smtp(8) does:
libsasl2 (ctypes) with the plugin directory set to a temporary copy, the
three callbacks Postfix registers (SASL_CB_USER and SASL_CB_AUTHNAME as
getsimple, SASL_CB_PASS as getsecret), its security properties, then
sasl_client_start/sasl_client_step.  Checks the exact bytes the plugin
produces, the error challenge, the two-step form, bounds and bad input, and
runs it end to end against tests/lib/fakesmtp.py over verified STARTTLS in
the one-step and two-step forms and against the JSON error challenge.

Exit 77 (SKIP) with the reason when libsasl2 or the plugin is missing.
Prints "N passed, N failed" last.  Hermetic: one temporary directory.
"""

import base64
import ctypes
import ctypes.util
import json
import os
import shutil
import socket
import ssl
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "lib"))
import spool  # noqa: E402

BUILDDIR = (os.environ.get("PRM_BUILDDIR") or os.environ.get("abs_top_builddir")
            or SRCDIR)
PLUGIN = os.path.join(BUILDDIR, "src", "libprmxoauth2.so")

# sasl.h
SASL_OK, SASL_CONTINUE, SASL_FAIL, SASL_NOMECH = 0, 1, -1, -4
SASL_BADPROT, SASL_BADPARAM = -5, -7
SASL_CB_LIST_END, SASL_CB_USER, SASL_CB_AUTHNAME, SASL_CB_PASS = 0, 0x4001, 0x4002, 0x4004
SASL_PATH_TYPE_PLUGIN, SASL_SEC_PROPS = 0, 101
SEC_NOPLAINTEXT, SEC_NOANONYMOUS = 0x0001, 0x0010

GETSIMPLE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                             ctypes.POINTER(ctypes.c_char_p),
                             ctypes.POINTER(ctypes.c_uint))
GETSECRET = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                             ctypes.c_int, ctypes.POINTER(ctypes.c_void_p))


class Callback(ctypes.Structure):
    _fields_ = [("id", ctypes.c_ulong), ("proc", ctypes.c_void_p),
                ("context", ctypes.c_void_p)]


class SecProps(ctypes.Structure):
    _fields_ = [("min_ssf", ctypes.c_uint), ("max_ssf", ctypes.c_uint),
                ("maxbufsize", ctypes.c_uint), ("security_flags", ctypes.c_uint),
                ("property_names", ctypes.c_void_p),
                ("property_values", ctypes.c_void_p)]


LIB = None
TOP = None
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + "T" * 2100 + ".sig"


def setUpModule():
    """libsasl2 with only our plugin in its plugin path."""
    global LIB, TOP
    TOP = tempfile.mkdtemp(prefix="test-xoauth2-")
    # Runs even when the rest of this setup fails (tearDownModule would not).
    unittest.addModuleCleanup(shutil.rmtree, TOP, ignore_errors=True)
    plugdir = os.path.join(TOP, "plugins")
    os.mkdir(plugdir)
    shutil.copy(PLUGIN, plugdir)
    LIB = ctypes.CDLL(ctypes.util.find_library("sasl2") or "libsasl2.so.2")
    LIB.sasl_errdetail.restype = ctypes.c_char_p
    LIB.sasl_set_path.argtypes = [ctypes.c_int, ctypes.c_char_p]
    assert LIB.sasl_set_path(SASL_PATH_TYPE_PLUGIN, plugdir.encode()) == SASL_OK
    assert LIB.sasl_client_init(None) == SASL_OK
    spool.make_certs(os.path.join(TOP, "certs"))


class Client:
    """One sasl_conn_t with Postfix's callbacks and security options."""

    def __init__(self, user, token, flags=SEC_NOANONYMOUS, authname=True):
        self.user = None if user is None else user.encode()
        self.secret = None
        token = token.encode() if isinstance(token, str) else token
        if token is not None:
            # sasl_secret_t: unsigned long len; unsigned char data[];
            self.secret = ctypes.create_string_buffer(
                ctypes.sizeof(ctypes.c_ulong) + len(token) + 1)
            ctypes.c_ulong.from_buffer(self.secret).value = len(token)
            ctypes.memmove(ctypes.addressof(self.secret) + ctypes.sizeof(ctypes.c_ulong),
                           token, len(token))
        self.pass_calls = 0
        self._simple = GETSIMPLE(self._get_user)
        self._secret = GETSECRET(self._get_secret)
        ids = ([SASL_CB_USER, SASL_CB_AUTHNAME] if authname else [SASL_CB_USER])
        cbs = [(i, ctypes.cast(self._simple, ctypes.c_void_p)) for i in ids]
        cbs.append((SASL_CB_PASS, ctypes.cast(self._secret, ctypes.c_void_p)))
        self.cbs = (Callback * (len(cbs) + 1))(
            *[Callback(i, p, None) for i, p in cbs], Callback(SASL_CB_LIST_END, None, None))
        self.conn = ctypes.c_void_p()
        r = LIB.sasl_client_new(b"smtp", b"localhost", None, None, self.cbs, 0,
                                ctypes.byref(self.conn))
        assert r == SASL_OK, r
        props = SecProps(0, 0, 0, flags, None, None)
        assert LIB.sasl_setprop(self.conn, SASL_SEC_PROPS, ctypes.byref(props)) == SASL_OK

    def _get_user(self, ctx, cb_id, result, length):
        if self.user is None:
            return SASL_FAIL
        result[0] = self.user
        if length:
            length[0] = len(self.user)
        return SASL_OK

    def _get_secret(self, conn, ctx, cb_id, psecret):
        self.pass_calls += 1
        if not conn or cb_id != SASL_CB_PASS or self.secret is None:
            return SASL_BADPARAM                    # what Postfix answers
        psecret[0] = ctypes.addressof(self.secret)
        return SASL_OK

    def start(self, mechs=b"XOAUTH2"):
        """sasl_client_start -> (result, output bytes, mechanism)."""
        out, outlen, mech = ctypes.c_char_p(), ctypes.c_uint(), ctypes.c_char_p()
        r = LIB.sasl_client_start(self.conn, mechs, None, ctypes.byref(out),
                                  ctypes.byref(outlen), ctypes.byref(mech))
        return r, ctypes.string_at(out, outlen.value) if out else None, mech.value

    def step(self, serverin):
        """sasl_client_step -> (result, output bytes)."""
        out, outlen = ctypes.c_char_p(), ctypes.c_uint()
        r = LIB.sasl_client_step(self.conn, serverin, len(serverin), None,
                                 ctypes.byref(out), ctypes.byref(outlen))
        return r, ctypes.string_at(out, outlen.value) if out else None

    def error(self):
        return LIB.sasl_errdetail(self.conn).decode()

    def close(self):
        LIB.sasl_dispose(ctypes.byref(self.conn))


def wire(user, token):
    return b"user=%s\x01auth=Bearer %s\x01\x01" % (user.encode(), token.encode())


class Api(unittest.TestCase):
    """The plugin seen through libsasl2, as Postfix sees it."""

    def client(self, *a, **kw):
        c = Client(*a, **kw)
        self.addCleanup(c.close)
        return c

    def test_initial_response_bytes(self):
        c = self.client("box@partner.example", TOKEN)
        r, out, mech = c.start(b"PLAIN LOGIN XOAUTH2")
        self.assertEqual((r, mech), (SASL_CONTINUE, b"XOAUTH2"))
        self.assertEqual(out, wire("box@partner.example", TOKEN))
        self.assertEqual(c.pass_calls, 1)           # via getsecret

    def test_user_from_sasl_cb_user_when_no_authname(self):
        c = self.client("box@partner.example", "tok", authname=False)
        self.assertEqual(c.start()[1], wire("box@partner.example", "tok"))

    def test_error_challenge_gets_empty_response_then_done(self):
        c = self.client("box@partner.example", TOKEN)
        c.start()
        challenge = b'{"status":"401","schemes":"bearer","scope":"https://outlook.office365.com/.default"}'
        self.assertEqual(c.step(challenge), (SASL_OK, b""))
        # Done: a further challenge is refused, never answered with the token.
        r, out = c.step(b"again")
        self.assertEqual(r, SASL_FAIL)
        self.assertFalse(out)

    def test_empty_challenge_resends_credentials_once(self):
        c = self.client("box@partner.example", TOKEN)
        c.start()
        self.assertEqual(c.step(b""), (SASL_CONTINUE, wire("box@partner.example", TOKEN)))
        r, out = c.step(b"")
        self.assertEqual(r, SASL_BADPROT)
        self.assertIn("unexpected server challenge", c.error())

    def test_bad_input_refused(self):
        rows = [("ctl in token", "box@x", "ab\x01cd", "control character"),
                ("newline in token", "box@x", "ab\ncd", "control character"),
                ("token too long", "box@x", "t" * 16385, "longer than 16384"),
                ("empty token", "box@x", "", "empty"),
                ("no token", "box@x", None, "gave no token"),
                ("ctl in user", "bo\x01x@x", "tok", "user name"),
                ("no user", None, "tok", "no user name")]
        for name, user, token, why in rows:
            with self.subTest(name):
                c = self.client(user, token)
                r, out, _ = c.start()
                self.assertEqual(r, SASL_BADPARAM, name)
                self.assertIn(why, c.error())
                self.assertNotIn("tok", c.error().replace("token", ""))

    def test_largest_token_accepted(self):
        c = self.client("box@x", "t" * 16384)
        self.assertEqual(c.start()[0], SASL_CONTINUE)

    def test_plaintext_declared(self):
        # Postfix's default noplaintext finds no worthy mechanism: the
        # partner-oauth transport must say noanonymous only.
        c = self.client("box@x", "tok", flags=SEC_NOANONYMOUS | SEC_NOPLAINTEXT)
        self.assertEqual(c.start()[0], SASL_NOMECH)


class Wire(unittest.TestCase):
    """The plugin's output on a real SMTP session with fakesmtp.py."""

    @classmethod
    def setUpClass(cls):
        cls.spool = tempfile.mkdtemp(prefix="spool-", dir=TOP)
        certs = os.path.join(TOP, "certs")
        cls.proc, cls.port = spool.start_server(
            cls.spool, "m365", tls="starttls", cert=os.path.join(certs, "server.pem"),
            key=os.path.join(certs, "server.key"), max_seconds=120,
            xoauth2=["box@partner.example:" + TOKEN], mechs="LOGIN,XOAUTH2")
        cls.ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))

    @classmethod
    def tearDownClass(cls):
        spool.stop_server(cls.proc)

    def session(self):
        """A verified STARTTLS session after EHLO; returns (file, sock)."""
        raw = socket.create_connection(("127.0.0.1", self.port), 10)
        f = raw.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220"))
        self.cmd(raw, f, b"EHLO client.example")
        self.assertEqual(self.cmd(raw, f, b"STARTTLS")[0], 220)
        tls = self.ctx.wrap_socket(raw, server_hostname="localhost")
        f = tls.makefile("rb")
        self.addCleanup(tls.close)
        lines = self.cmd(tls, f, b"EHLO client.example")[1]
        self.assertIn(b"AUTH LOGIN XOAUTH2", lines)
        return tls, f

    @staticmethod
    def cmd(sock, f, line):
        """Send LINE; return (code, all reply text)."""
        sock.sendall(line + b"\r\n")
        text = b""
        while True:
            r = f.readline()
            text += r
            if r[3:4] != b"-":
                return int(r[:3]), text

    def events(self):
        return spool.read_auth_events(self.spool)

    def test_one_step(self):
        c = Client("box@partner.example", TOKEN)
        self.addCleanup(c.close)
        sock, f = self.session()
        r, out, _ = c.start(b"LOGIN XOAUTH2")
        code, _ = self.cmd(sock, f, b"AUTH XOAUTH2 " + base64.b64encode(out))
        self.assertEqual(code, 235)
        e = self.events()[-1]
        self.assertEqual((e["user"], e["token"], e["ok"], e["form"]),
                         ("box@partner.example", TOKEN, True, "one-step"))
        self.assertGreater(e["line_len"], 2800)

    def test_two_step(self):
        c = Client("box@partner.example", TOKEN)
        self.addCleanup(c.close)
        sock, f = self.session()
        c.start(b"XOAUTH2")
        code, text = self.cmd(sock, f, b"AUTH XOAUTH2")
        self.assertEqual((code, text.strip()), (334, b"334"))
        r, out = c.step(b"")                         # the empty 334
        self.assertEqual(r, SASL_CONTINUE)
        self.assertEqual(self.cmd(sock, f, base64.b64encode(out))[0], 235)
        self.assertEqual(self.events()[-1]["form"], "two-step")

    def test_error_challenge_ends_with_535(self):
        c = Client("box@partner.example", "expired-token")
        self.addCleanup(c.close)
        sock, f = self.session()
        _, out, _ = c.start(b"XOAUTH2")
        code, text = self.cmd(sock, f, b"AUTH XOAUTH2 " + base64.b64encode(out))
        self.assertEqual(code, 334)
        challenge = base64.b64decode(text[4:].strip())
        self.assertEqual(json.loads(challenge)["status"], "401")
        r, answer = c.step(challenge)
        self.assertEqual((r, answer), (SASL_OK, b""))
        self.assertEqual(self.cmd(sock, f, answer)[0], 535)
        e = self.events()[-1]
        self.assertEqual((e["ok"], e["challenge"], e["answer"]), (False, True, ""))


def main():
    why = None
    if not os.path.exists(PLUGIN):
        why = "%s not built" % PLUGIN
    elif not (ctypes.util.find_library("sasl2") or os.path.exists("/usr/lib/x86_64-linux-gnu/libsasl2.so.2")):
        why = "libsasl2 not installed (Debian package libsasl2-2)"
    if why:
        print("SKIP: " + why)
        return 77
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
