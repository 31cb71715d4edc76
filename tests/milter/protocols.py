"""protocols.py - the daemon under Postfix's and Sendmail's milter protocol
versions: Postfix (v6, no-reply steps), Sendmail 8.14+ (v6) and Sendmail
before 8.14 (v2: no negotiation of steps, every command answered, no
CHGFROM offered). Also a connection with an unknown address family (on
Postfix an smtpd on a UNIX socket: untrusted; Sendmail's local submission is
a unit row in test_decide.cpp) and one without any macros."""

import os
import signal

import milterclient as mc
from prmtest import (PID, SOCKET, acme_mods, check, done, equal, partner_headers, tag_mods,
                     trusted_session, wait_log)

CONF = os.environ["PRM_CONF"]

for label, offer in (("postfix-v6", mc.POSTFIX_V6), ("sendmail-v6", mc.SENDMAIL_V6)):
    c = trusted_session(offer)
    equal(c.version, 6, label + ": protocol version")
    reply, mods = mc.message(c, mail_macros={"i": "P-" + label}, headers=partner_headers())
    equal(mods, acme_mods(), label + ": partner route modifications")
    c.quit()

# Sendmail v2: steps are all sent and each one is answered 'continue'.
c = mc.MilterClient(SOCKET)
c.negotiate(mc.SENDMAIL_V2)
equal(c.version, 2, "sendmail-v2: protocol version")
equal(c.protocol & (mc.SMFIP_NR_HDR | mc.SMFIP_NR_CONN), 0, "sendmail-v2: no no-reply steps")
equal(c.connect("app.internal", "10.1.2.3", 41000), "continue", "sendmail-v2: CONNECT answered")
equal(c.helo("app.internal") in ("continue", "skipped"), True, "sendmail-v2: HELO answered or skipped")
c.macro(mc.SMFIC_MAIL, {"i": "P-v2"})
equal(c.mail("<app@platform.example>"), "continue", "sendmail-v2: MAIL answered")
equal(c.rcpt("<jane@client.example>"), "skipped", "sendmail-v2: RCPT negotiated away (v2 offers it)")
for n, v in partner_headers(category="account-security"):
    equal(c.header(n, v), "continue", "sendmail-v2: header %s answered" % n)
reply, mods = c.eom()
equal((reply, mods), ("continue", tag_mods("account-security")),
      "sendmail-v2: tag-only message edits")
# A partner route needs CHGFROM, which v2 does not offer: the edit fails and
# on_error (accept) answers; the failure is logged.
c.macro(mc.SMFIC_MAIL, {"i": "P-v2b"})
c.mail("<app@platform.example>")
c.rcpt("<jane@client.example>")
for n, v in partner_headers():
    c.header(n, v)
reply, mods = c.eom()
equal(reply, "accept", "sendmail-v2: partner route without CHGFROM -> on_error accept")
check(wait_log("P-v2b: category=aml-alert partner=acme route=partner reason=partner-relay trusted=yes error=edit-failed"),
      "sendmail-v2: failed edit logged")
c.quit()

# An MTA that cannot skip RCPT (and wants its replies): each RCPT is
# answered 'continue', the routing is the same.
c = trusted_session(offer=(6, 0x1FF, 0x1FFFFF & ~(mc.SMFIP_NORCPT | mc.SMFIP_NR_RCPT)))
equal(c.protocol & (mc.SMFIP_NORCPT | mc.SMFIP_NR_RCPT), 0, "no RCPT skip offered: none negotiated")
c.macro(mc.SMFIC_MAIL, {"i": "P-rcpt"})
c.mail("<app@platform.example>")
equal([c.rcpt("<jane@client.example>"), c.rcpt("<joe@client.example>")], ["continue", "continue"],
      "no RCPT skip offered: each RCPT answered continue")
for n, v in partner_headers():
    c.header(n, v)
reply, mods = c.eom()
equal(mods, acme_mods(), "no RCPT skip offered: partner route modifications")
c.quit()

# No macros at all, client address from CONNECT: trusted network 10.1/16.
c = mc.MilterClient(SOCKET)
c.negotiate(mc.POSTFIX_V6)
c.connect("app.internal", "10.1.9.9", 42000)
reply, mods = mc.message(c, headers=partner_headers())
equal(mods, acme_mods(), "no macros: client address taken from CONNECT, trusted")
check(wait_log("NOQUEUE: category=aml-alert partner=acme route=partner"), "no queue id: logged as NOQUEUE")
c.quit()

# Issue 17 finding 7: on Postfix (this config: mta = postfix) a CONNECT with
# an unknown family is an smtpd on a UNIX socket, whose {client_addr} is the
# placeholder 127.0.0.1: not local submission, and not the trusted loopback
# network either (127.0.0.0/8 is trusted here), so control headers go.
c = mc.MilterClient(SOCKET)
c.negotiate(mc.POSTFIX_V6)
c.macro(mc.SMFIC_CONNECT, {"{daemon_name}": "ORIGINATING", "{client_addr}": "127.0.0.1"})
c.connect("localhost", None, 0)
reply, mods = mc.message(c, mail_macros={"i": "P-unixsmtpd", "{client_addr}": "127.0.0.1"},
                         headers=partner_headers())
c.quit()
check(("chgheader", 1, "X-Partner-Id", "") in mods and not any(m[0] == "chgfrom" for m in mods),
      "Postfix smtpd on a UNIX socket (family U, {client_addr} 127.0.0.1): untrusted",
      mods, "partner header removed, no chgfrom")
check(wait_log("P-unixsmtpd: category=unclassified partner=- route=global reason=untrusted-submitter trusted=no"),
      "Postfix smtpd on a UNIX socket: logged untrusted")

# Local submission must be trusted as such, not only because 127.0.0.1 is
# in trusted_networks: reload without loopback in trusted_networks first.
with open(CONF) as f:
    text = f.read()
with open(CONF + ".new", "w") as f:
    f.write(text.replace("trusted_networks = 127.0.0.0/8, ::1/128, 10.1.0.0/16",
                         "trusted_networks = 10.1.0.0/16"))
os.rename(CONF + ".new", CONF)
os.kill(PID, signal.SIGUSR1)
check(wait_log("reloaded configuration generation 2"), "reloaded without loopback in trusted_networks")


def local_message(hostname, addr, port, qid, offer=mc.POSTFIX_V6):
    c = mc.MilterClient(SOCKET)
    c.negotiate(offer)
    c.macro(mc.SMFIC_CONNECT, {"{daemon_name}": "ORIGINATING"})
    c.connect(hostname, addr, port)
    reply, mods = mc.message(c, mail_macros={"i": qid}, headers=partner_headers())
    c.quit()
    return mods


# Postfix non_smtpd_milters: "localhost", 127.0.0.1, port 0.
equal(local_message("localhost", "127.0.0.1", 0, "P-local"), acme_mods(),
      "local submission (localhost, 127.0.0.1, port 0): trusted")
# An SMTP client on loopback (real source port) is not local submission.
mods = local_message("localhost", "127.0.0.1", 43210, "P-loop")
check(("chgheader", 1, "X-Partner-Id", "") in mods and not any(m[0] == "chgfrom" for m in mods),
      "SMTP client on 127.0.0.1 with a source port: untrusted without loopback in trusted_networks",
      mods, "partner header removed, no chgfrom")
done()
