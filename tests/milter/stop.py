"""stop.py - SIGTERM with a message in flight.

After SIGTERM the daemon answers new messages with a temporary failure,
lets the message that started before the signal finish with its edits,
then stops accepting and exits (the harness checks status 0 and the
'stopped' line)."""

import os
import signal
import socket
import time

import milterclient as mc
from prmtest import PID, SOCKET, acme_mods, check, done, equal, partner_headers, trusted_session, wait_log

# MAIL is answered (no SMFIP_NR_MAIL offered): the message is surely in
# flight in the daemon before the SIGTERM, not still in the socket buffer.
c = trusted_session(offer=(6, 0x1FF, 0x1FFFFF & ~mc.SMFIP_NR_MAIL))
c.macro(mc.SMFIC_MAIL, {"i": "S1"})
check(c.mail("<app@platform.example>") == "continue", "MAIL answered before SIGTERM")
c.rcpt("<jane@client.example>")
for n, v in partner_headers():
    c.header(n, v)

os.kill(PID, signal.SIGTERM)
check(wait_log("stopping: new messages are deferred; waiting for 1 message(s) in flight"),
      "SIGTERM: stop announced with one message in flight")

# A new message while stopping is deferred, never routed half-way.
late = trusted_session()
reply, mods = mc.message(late, mail_macros={"i": "S2"}, headers=partner_headers())
equal((reply, mods), ("tempfail", []), "message started after SIGTERM: tempfail, no edits")
late.quit()

reply, mods = c.eom()
equal(mods, acme_mods(), "message in flight at SIGTERM finishes with its edits")
c.quit()


def accepting():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(SOCKET)
        return True
    except OSError:
        return False
    finally:
        s.close()


end = time.monotonic() + 20
while accepting() and time.monotonic() < end:
    time.sleep(0.1)
check(not accepting(), "after the drain the socket no longer accepts")
done()
