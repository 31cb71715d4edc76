"""test_sendmail_recipe.py - the shipped fragment on Debian's stock sendmail.mc.

Takes Debian's own /usr/share/sendmail/cf/debian/sendmail.mc from the
unpacked sendmail-cf (getsendmail.sh), appends what README "Setting it up
with Sendmail, step by step" says to append (PRM_PORTS and the include of
contrib/sendmail/partner-relay.m4), builds sendmail.cf with m4 from a
private copy of the cf tree, points every /etc/mail, /var/lib/sendmail and
/run/sendmail path of the result into the test directory, and checks with
`sendmail -bt` and the cf text that the recipe works on Debian's setup:
pseudo recipients route to the partner mailer with the loopback fallback,
an unknown partner to the fallback only, typed pseudo recipients are
refused in every form, the sender-keyed AuthInfo comes first, and the
fallback listeners and mailers carry the flags the notes require.
Exit 77 (SKIP) with the reason when not root or Sendmail cannot be fetched.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import smtest

failures = []


def check(ok, what):
    """Record and print one result."""
    print(("ok: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        failures.append(what)


def main():
    root = smtest.require()
    d = tempfile.mkdtemp(prefix="prm-sm-recipe-")
    try:
        cfsrc = os.path.join(root, "usr", "share", "sendmail", "cf")
        cf = os.path.join(d, "cf")
        shutil.copytree(cfsrc, cf)
        # Debian's m4 files name their own tree absolutely: point them at the copy.
        for dirpath, _, files in os.walk(cf):
            for f in files:
                p = os.path.join(dirpath, f)
                with open(p, encoding="utf-8", errors="surrogateescape") as fh:
                    t = fh.read()
                if "/usr/share/sendmail/cf" in t:
                    with open(p, "w", encoding="utf-8", errors="surrogateescape") as fh:
                        fh.write(t.replace("/usr/share/sendmail/cf", cf))
        with open(os.path.join(cf, "debian", "sendmail.mc"), encoding="utf-8") as f:
            stock = f.read()
        check("MAILER(`smtp')" in stock, "Debian's sendmail.mc ends with the smtp mailer")
        # The host's local m4 hooks (/etc/mail/m4) are left out: never read /etc/mail.
        stock = "\n".join(l for l in stock.splitlines() if "/etc/mail/m4/" not in l) + "\n"
        mc = stock + "define(`PRM_PORTS', `587, 2587')dnl\ninclude(`%s')dnl\n" % smtest.FRAGMENT
        p = subprocess.run(["m4", "-"], input=mc, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        check(p.returncode == 0, "m4 builds the cf: %s" % p.stderr.strip()[:500])
        text = p.stdout
        for old in ("/etc/mail", "/var/lib/sendmail", "/var/run/sendmail", "/run/sendmail"):
            text = text.replace(old, os.path.join(d, old.strip("/").replace("/", "_")))
        check("/etc/mail" not in text, "the cf names no path of the host's /etc/mail")
        cfpath = os.path.join(d, "sendmail.cf")
        with open(cfpath, "w", encoding="utf-8") as f:
            f.write(text)

        # The pieces the notes require, as Sendmail will read them.
        fb = re.findall(r"^O DaemonPortOptions=.*Name=FALLBACK.*$", text, re.M)
        check(len(fb) == 2 and all("Addr=127.0.0.2" in l and "M=AES" in l and
                                   "InputMailFilters=partnerrelayfb" in l for l in fb),
              "one fallback listener per port, no AUTH/STARTTLS/ETRN, its own filter: %r" % fb)
        for port in ("587", "2587"):
            m = re.search(r"^Mptnr%s,.*\n(\t.*\n)*" % port, text, re.M)
            blk = m.group(0) if m else ""
            check("F=mDFMuXak" in blk and "m=1" in blk and "A=TCP $h %s" % port in blk,
                  "mailer ptnr%s has F=k, m=1 and its port" % port)
        check(re.search(r"^Xpartnerrelay, S=local:/run/partner-relay-milter/milter\.sock, T=", text, re.M)
              is not None and "Xpartnerrelayfb, S=" in text and ", F=T, T=" in text,
              "main listener filter without F=, fallback filter with F=T")
        first_auth = text.find("\nSauthinfo")
        check(first_auth >= 0 and "ptnauth" in text[first_auth:first_auth + 200],
              "the sender-keyed authinfo rules come first")

        # Sendmail itself, in test mode (it writes nothing).
        mapdir = os.path.join(d, "etc_mail", "partner-relay")
        os.makedirs(mapdir)
        makemap = os.path.join(root, "usr", "libexec", "sendmail", "makemap")
        with open(os.path.join(mapdir, "routes"), "w") as f:
            f.write("acme\tptnr587:[smtp.acme.example]\n")
        with open(os.path.join(mapdir, "routes")) as src:
            subprocess.run([makemap, "-C", cfpath, "hash", os.path.join(mapdir, "routes")],
                           stdin=src, check=True, timeout=30, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        sm = os.path.join(root, "usr", "libexec", "sendmail", "sendmail")
        bt = ("3,0 bob@example.com.acme.PTNRELAY\n3,0 bob@example.com.gone.PTNRELAY\n"
              "Local_check_rcpt <\"bob@x.acme.PTNRELAY\"@here.example>\n"
              "Local_check_rcpt <bob@x.acme.ptnrelay.>\nLocal_check_rcpt <bob@example.com>\n")
        # A qualified name for this machine in a private /etc/hosts (mount
        # namespace): with an unqualified one Sendmail sleeps 60 s at start.
        hosts = os.path.join(d, "hosts")
        with open(hosts, "w") as f:
            f.write("127.0.0.1 %s.test.invalid %s localhost\n" % ((os.uname().nodename,) * 2))
        ns = ["unshare", "-m", "sh", "-c", 'mount --bind "$1" /etc/hosts && shift && exec "$@"',
              "sh", hosts]
        r = subprocess.run(ns + [sm, "-C", cfpath, "-bt"], input=bt, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        out = r.stdout
        want = ("parse            returns: $# ptnr587 $@ [ smtp . acme . example ] : "
                "[ 127 . 0 . 0 . 2 ] $: bob < @ example . com . >")
        check(want in out, "a pseudo recipient routes to the partner, then the fallback")
        check("parse            returns: $# ptnr587 $@ [ 127 . 0 . 0 . 2 ] $: bob < @ example . com . >"
              in out, "an unknown partner goes to the fallback only")
        refusals = re.findall(r"Local_check_rcpt returns: (.*)", out)
        check(len(refusals) == 3 and all("550 5.1.1" in x for x in refusals[:2])
              and "error" not in refusals[2],
              "typed pseudo recipients refused (quoted and trailing-dot forms), others not: %r"
              % refusals)
    finally:
        if os.environ.get("PRM_KEEP") != "1":
            shutil.rmtree(d, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
