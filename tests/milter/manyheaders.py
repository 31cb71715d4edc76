"""manyheaders.py - issue 17 finding 8: the daemon sees at most 1000 headers
(kMaxHeaders), so forged control headers after the 1000th could never be
deleted. An untrusted client's message with more is rejected (550 5.7.1,
no modification); exactly 1000 is accepted and cleaned; a trusted
submitter's message with more is never refused (tagged, global route)."""

import milterclient as mc
from prmtest import check, done, equal, partner_headers, trusted_session, untrusted_session, wait_log


def headers(total):
    """partner_headers() padded with filler headers to TOTAL, then a forged
    route header past the end."""
    base = partner_headers()
    filler = [("X-Filler", "f%d" % i) for i in range(total - len(base))]
    return base + filler


# Untrusted, 1001 headers (the 1001st a forged route header): rejected.
c = untrusted_session()
reply, mods = mc.message(c, mail_macros={"i": "H-1001"},
                         headers=headers(1000) + [("X-Partner-Relay-Route", "partner:[192.0.2.66]:25")])
equal((reply, mods), ("replycode", []), "untrusted, 1001 headers: rejected without modifications")
check(c.reply_text.startswith("550 5.7.1 ") and "1000 header fields" in c.reply_text,
      "untrusted, 1001 headers: the reply", c.reply_text, "550 5.7.1 ... 1000 header fields ...")
check(wait_log("H-1001: category=unclassified partner=- route=global reason=too-many-headers trusted=no action=reject"),
      "untrusted, 1001 headers: logged as a rejection")
# The connection goes on: the next message (1000 headers) is accepted and cleaned.
reply, mods = mc.message(c, mail_macros={"i": "H-1000"}, headers=headers(1000))
equal(reply in ("continue", "accept"), True, "untrusted, exactly 1000 headers: accepted")
check(("chgheader", 1, "X-Partner-Id", "") in mods and not any(m[0] == "chgfrom" for m in mods),
      "untrusted, exactly 1000 headers: control headers deleted, no route", mods)
c.quit()

# Trusted submitter, 1001 headers: never refused, routed global with the tag.
c = trusted_session()
reply, mods = mc.message(c, mail_macros={"i": "H-T1001"}, headers=headers(1001))
equal(reply in ("continue", "accept"), True, "trusted, 1001 headers: accepted")
check(("addheader", "X-Email-Category", "aml-alert") in mods and not any(m[0] == "chgfrom" for m in mods),
      "trusted, 1001 headers: tagged, not routed to the partner", mods)
check(wait_log("H-T1001: category=aml-alert partner=acme route=global reason=too-many-headers trusted=yes"),
      "trusted, 1001 headers: logged global too-many-headers")
c.quit()
done()
