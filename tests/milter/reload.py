"""reload.py - SIGUSR1 between two messages on one open connection.

Message 1 routes through acme; the partner table is then rewritten (acme
loses its password) and SIGUSR1 sent; message 2 on the same connection must
see the new snapshot (global, inactive-partner). A broken main config is then
reloaded: the reload fails, the old snapshot stays (message 3 as message 2),
and the log says why. A message in flight across a reload keeps the
snapshot it started with (MAIL before the reload, end of message after)."""

import os
import signal

import milterclient as mc
from prmtest import (DIR, PID, acme_mods, check, done, equal, partner_headers, tag_mods, trusted_session,
                     wait_log)

PARTNERS = os.path.join(DIR, "partners.conf")
CONF = os.path.join(DIR, "test.conf")


def rewrite(path, old, new):
    with open(path) as f:
        text = f.read()
    if old not in text:
        raise SystemExit("fixture changed: %r not in %s" % (old, path))
    with open(path + ".new", "w") as f:
        f.write(text.replace(old, new))
    os.chmod(path + ".new", 0o600)
    os.rename(path + ".new", path)


c = trusted_session()
reply, mods = mc.message(c, mail_macros={"i": "R1"}, headers=partner_headers())
equal(mods, acme_mods(), "before reload: acme routes")

# A message that starts before the reload and ends after it. MAIL must be
# answered (no SMFIP_NR_MAIL offered) so that the daemon has surely taken
# its snapshot before the SIGUSR1; with no-reply MAIL the daemon could read
# it after the reload under load, and the test would race (seen in CI-like
# runs on a loaded machine).
c2 = trusted_session(offer=(6, 0x1FF, 0x1FFFFF & ~mc.SMFIP_NR_MAIL))
c2.macro(mc.SMFIC_MAIL, {"i": "R2"})
check(c2.mail("<app@platform.example>") == "continue", "MAIL answered before the reload")
c2.rcpt("<jane@client.example>")
for n, v in partner_headers():
    c2.header(n, v)

rewrite(PARTNERS, "password = S3cret-Canary-acme\n", "")
os.kill(PID, signal.SIGUSR1)
check(wait_log("reloaded configuration generation 2"), "reload logged with the new generation")

reply, mods = c2.eom()
equal(mods, acme_mods(), "in flight across the reload: keeps the snapshot it started with")
c2.quit()

reply, mods = mc.message(c, mail_macros={"i": "R3"}, headers=partner_headers())
equal(mods, tag_mods("aml-alert"),
      "after reload, same connection: acme inactive, tag only")
check(wait_log("R3: category=aml-alert partner=acme route=global reason=inactive-partner"),
      "after reload: logged inactive-partner")

# A broken main config: the reload fails and the old snapshot stays.
rewrite(CONF, "[milter]\n", "[milter]\nno_such_key = 1\n")
os.kill(PID, signal.SIGUSR1)
check(wait_log("reload failed: keeping configuration generation 2"), "failed reload logged")
check(wait_log("no_such_key"), "failed reload names the bad key")
reply, mods = mc.message(c, mail_macros={"i": "R4"}, headers=partner_headers())
equal(mods, tag_mods("aml-alert"),
      "after a failed reload: old snapshot still in use")

# Fix both and reload again: acme back.
rewrite(CONF, "no_such_key = 1\n", "")
rewrite(PARTNERS, "sender = news@acme.example\n", "sender = news@acme.example\npassword = S3cret-Canary-acme\n")
os.kill(PID, signal.SIGUSR1)
check(wait_log("reloaded configuration generation 3"), "second good reload")
reply, mods = mc.message(c, mail_macros={"i": "R5"}, headers=partner_headers())
equal(mods, acme_mods(), "after the fix: acme routes again")
c.quit()

# SIGUSR2 logs the counters, reloads included.
os.kill(PID, signal.SIGUSR2)
check(wait_log('stats: partner_relay_reloads_total{result="failed"} 1'), "SIGUSR2: failed reloads counted")
check(wait_log('stats: partner_relay_reloads_total{result="ok"} 2'), "SIGUSR2: good reloads counted")
done()
