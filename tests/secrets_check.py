#!/usr/bin/python3
"""secrets_check.py - no test password in any output of the test suite.

What: run last by `make check` (top-level check-local, after every
subdirectory's tests). It collects the passwords the suite's fixtures use
(partner tables, harness defaults, unit fixtures: see PASSWORD_SOURCES and
GENERATED) and searches every *.log and *.trs file of the build tree (the
output of every test program: the milter's -n/-t output, protocol tests,
probe runs, integration runs; the integration harness copies any instance
log that held a password to tests/integration/leaked-*.log before removing
its directory, and the Sendmail harness tests/sendmail/smtest.py does the
same to tests/sendmail/leaked-*.log) plus every instance directory kept
with PRM_KEEP=1 or after a failure (the milter's own log, Postfix's
maillog, Sendmail's sendmail.log and partner-relay-tokend's tokend.log;
not the fake relays' records, the fake token endpoint's request log nor
Sendmail's -X transcript traffic.log, which legitimately hold what a
partner relay received or a token endpoint issued).
Each password is also searched URL-encoded (a client secret travels
form-encoded to a token endpoint: an echo of the request body would show
it so) and inside base64 (an SMTP transcript shows AUTH PLAIN, AUTH LOGIN
and XOAUTH2 credentials so: every base64 run of 12 or more characters in
an output is decoded and searched too). It fails naming each file and which password it holds.

Not scanned: tests/fuzz (inputs, not outputs of the programs) and this
script's own log.

Usage: secrets_check.py SRCDIR BUILDDIR. Exit 0 clean, 1 leak, 2 usage.
Standard library only.
"""

import base64
import binascii
import glob
import os
import re
import sys
import urllib.parse

# Fixture files whose "password = VALUE" lines (INI) and password=... /
# "password": ... literals (Python) name the test passwords.
PASSWORD_SOURCES = [
    "tests/milter/partners.conf.in",
    "contrib/examples/partners.conf",
    "tests/unit/helpers.hpp",
    "tests/unit/test_partners.cpp",
    "tests/integration/*.py",
    "tests/probe/*.py",
    "tests/tokend/*.py",  # the fake token endpoint's client secrets
    "tests/milter/*.py",
    "tests/sendmail/*.py",
    "tests/bench/*.py",
    "contrib/demo/*.py",
]
# Passwords the harness builds at run time: regular expressions.
GENERATED = [r"\b[a-z0-9][a-z0-9._-]*-secret-pw\b",  # prmtest.Partner default
             r"\bfiller-\d{5}-pw\b",                  # test_faults_load.py
             r"\b[a-z0-9][a-z0-9._-]*-client-s3cret-value\b",  # oauthtest.oauth_partner
             # The bearer tokens of tests/sasl and test_oauth_wiring.py (any
             # part of them: their JWT-like head is unique to the fixtures).
             r"eyJ0eXAiOiJKV1QiLCJ(?:ub25jZSI6I|hbGciOiJSUzI1NiJ9)",
             r"eyJ0eXAiOiJKV1QifQ\.",               # tests/lib/test_fakesmtp.py
             # Access tokens issued by tests/lib/faketoken.py (fresh, padded
             # by --token-bytes, or inside a probe test's JWT), also cut
             # short after 8 characters of their random part.
             r"fake-token-[A-Za-z0-9._-]+-\d+-[0-9a-f]{8}"]
MIN_LEN = 8  # shorter values ("pw", "p") would match ordinary text

INI_RE = re.compile(r"^\s*password\s*=\s*(\S+)\s*$", re.M)
LITERAL_RE = re.compile(
    r"""(?:password|PASS|_PW|secret)\w*["']?\s*[:=]\s*["']([^"'\s]{%d,})["']""" % MIN_LEN,
    re.I)
CPP_RE = re.compile(r"password = ([A-Za-z0-9!%%$#_.-]{%d,})\\n" % MIN_LEN)
SECRET_RE = re.compile(r"""["']([^"'\s]*s[e3]cr[e3]t[^"'\s]*)["']""", re.I)


def collect(srcdir):
    """The set of literal test passwords found in the fixtures."""
    found = set()
    for pattern in PASSWORD_SOURCES:
        for path in glob.glob(os.path.join(srcdir, pattern)):
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for rx in (INI_RE, LITERAL_RE, CPP_RE, SECRET_RE):
                for m in rx.finditer(text):
                    v = m.group(1).strip("\"'")
                    # Only password-like values: long enough, not a format
                    # string, not a plain word (a user name such as
                    # "platform" would match ordinary text).
                    # Nor a key or fault name ("oauth_client_secret",
                    # "secret_expired") or the redaction mark "[secret]":
                    # logs rightly name those.
                    if (len(v) >= MIN_LEN and not set(v) & set("%{}\\|")
                            and not v.isalpha()
                            and not re.fullmatch(r"\[?[A-Za-z_]+\]?", v)):
                        found.add(v)
    return found


def outputs(builddir):
    """Every file to scan: test logs of the build tree and kept instances."""
    files = []
    for root, dirs, names in os.walk(builddir):
        rel = os.path.relpath(root, builddir)
        if rel.split(os.sep)[0] == "tests" and "fuzz" in rel.split(os.sep)[1:2]:
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if d not in (".git", "fuzz-corpus", "fuzz-artifacts")]
        for n in names:
            if (n.endswith(".log") or n.endswith(".trs")) and n not in ("secrets_check.log", "secrets_check.trs"):
                files.append(os.path.join(root, n))
    kept = set()
    for path in list(files):
        with open(path, encoding="utf-8", errors="replace") as f:
            kept.update(re.findall(r"^kept (/\S+)$", f.read(), re.M))
    for d in sorted(kept):
        for n in ("milter.log", "maillog", "sendmail.log", "tokend.log", "sync.log"):
            if os.path.isfile(os.path.join(d, n)):
                files.append(os.path.join(d, n))
    return files


B64_RE = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{12,}={0,2}")


def decoded_base64(text):
    """What the base64 runs of TEXT decode to, one line each (NULs and the
    XOAUTH2 ^A separators as spaces), for the same search."""
    out = []
    for m in B64_RE.finditer(text):
        run = m.group(0)
        for cut in (run, run.rstrip("=")):
            try:
                raw = base64.b64decode(cut + "=" * (-len(cut) % 4), validate=True)
                break
            except (binascii.Error, ValueError):
                raw = None
        if raw:
            out.append(raw.decode("latin-1").replace("\0", " ").replace("\x01", " "))
    return "\n".join(out)


def main(argv):
    if len(argv) == 1 and os.environ.get("PRM_SRCDIR") and os.environ.get("PRM_BUILDDIR"):
        argv = [argv[0], os.environ["PRM_SRCDIR"], os.environ["PRM_BUILDDIR"]]
    if len(argv) != 3:
        print("usage: secrets_check.py SRCDIR BUILDDIR", file=sys.stderr)
        return 2
    srcdir, builddir = argv[1], argv[2]
    passwords = collect(srcdir)
    if len(passwords) < 5:
        print("FAIL: only %d test passwords found in the fixtures (%s): the "
              "patterns need updating" % (len(passwords), sorted(passwords)))
        return 1
    passwords |= {urllib.parse.quote(p, safe="") for p in passwords}
    generated = [re.compile(g) for g in GENERATED]
    files = outputs(builddir)
    leaks = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for form, body in (("", text), (" (base64)", decoded_base64(text))):
            for p in sorted(passwords):
                if p in body:
                    leaks.append("%s: holds test password %r%s" % (path, p, form))
            for g in generated:
                m = g.search(body)
                if m:
                    leaks.append("%s: holds generated test password %r%s"
                                 % (path, m.group(0), form))
    print("secrets check: %d test passwords (+%d generated patterns), %d output files"
          % (len(passwords), len(generated), len(files)))
    for line in leaks:
        print("FAIL: " + line)
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
