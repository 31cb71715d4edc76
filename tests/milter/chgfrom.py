"""chgfrom.py - the exact modifications of a partner-routed message,
including the envelope-sender change (SMFIR_CHGFROM) that miltertest cannot
observe, and the same over the global and fallback routes."""

import milterclient as mc
from prmtest import (acme_mods, check, done, equal, partner_headers, tag_mods, trusted_session,
                     untrusted_session, wait_log)

# Partner route: forged route headers (two copies) deleted highest index
# first, the tag re-added, route header added, From and sender changed.
c = trusted_session()
equal(c.actions, mc.SMFIF_ADDHDRS | mc.SMFIF_CHGHDRS | mc.SMFIF_CHGFROM | mc.SMFIF_SETSYMLIST,
      "negotiated actions")
want_proto = (mc.SMFIP_NOHELO | mc.SMFIP_NORCPT | mc.SMFIP_NODATA | mc.SMFIP_NOUNKNOWN | mc.SMFIP_NOEOH | mc.SMFIP_NOBODY
              | mc.SMFIP_NR_CONN | mc.SMFIP_NR_MAIL | mc.SMFIP_NR_RCPT | mc.SMFIP_NR_HDR)
equal(c.protocol, want_proto, "negotiated protocol steps (only end of message answers)")
equal(c.symlists.get(0), ["{daemon_name}", "{client_addr}"], "CONNECT macros asked for")
equal(c.symlists.get(2), ["i", "{auth_authen}", "{daemon_name}"], "MAIL macros asked for")
equal(c.symlists.get(5), ["i"], "end-of-message macros asked for")

hdrs = partner_headers(extra=[("X-Partner-Relay-Route", "partner:[203.0.113.9]:25"),
                              ("X-Partner-Relay-Route", "partner:[203.0.113.10]:25")])
reply, mods = mc.message(c, mail_macros={"i": "4AbC1"}, headers=hdrs)
equal(reply, "continue", "partner route: final reply")
equal(mods, acme_mods(route_copies=2), "partner route: exact modifications")
check(wait_log("4AbC1: category=aml-alert partner=acme route=partner reason=partner-relay"),
      "partner route: one log line with the queue id")

# Global (category not eligible): tag only, sender untouched.
reply, mods = mc.message(c, mail_macros={"i": "4AbC2"},
                         headers=partner_headers(category="account-security"))
equal(mods, tag_mods("account-security"),
      "global category: only the tag, no CHGFROM")
c.quit()

# Untrusted client: every control header deleted, tag from rules, global.
c = untrusted_session()
reply, mods = mc.message(c, mail_macros={"i": "4AbC3"},
                         headers=partner_headers(extra=[("X-Partner-Relay-Route", "partner:[6.6.6.6]:25")]))
names = [m[2] for m in mods if m[0] == "chgheader"]
equal(sorted(names), ["X-Email-Category", "X-Partner-Id", "X-Partner-Relay-Route"],
      "untrusted: every control header deleted")
check(not any(m[0] == "chgfrom" for m in mods), "untrusted: no CHGFROM", mods, "no chgfrom")
check(not any(m[0] == "addheader" and m[1] == "X-Partner-Relay-Route" for m in mods),
      "untrusted: no route header added", mods, "no route")
check(wait_log("4AbC3: category=unclassified partner=- route=global reason=untrusted-submitter"),
      "untrusted: logged global with the reason")
c.quit()

# Fallback listener: sender and From restored to the platform, no route.
c = trusted_session(daemon_name="FALLBACK")
reply, mods = mc.message(c, mail_macros={"i": "4AbC4", "{daemon_name}": "FALLBACK"},
                         sender="<news@acme.example>",
                         headers=[("From", "App Notifications <news@acme.example>"),
                                  ("X-Email-Category", "aml-alert"),
                                  ("X-Partner-Relay-Route", "partner:[127.0.0.1]:2525")])
check(("chgfrom", "<noreply@platform.example>", "") in mods, "fallback: envelope sender restored",
      mods, "chgfrom <noreply@platform.example>")
check(("chgheader", 1, "From", "App Notifications <noreply@platform.example>") in mods,
      "fallback: From restored, display name kept", mods, "From change")
check(("chgheader", 1, "X-Partner-Relay-Route", "") in mods, "fallback: route header removed", mods, "delete")
check(not any(m[0] == "addheader" and m[1] == "X-Partner-Relay-Route" for m in mods),
      "fallback: no route added", mods, "no route")
c.quit()
done()
