-- untrusted.lua - forged control headers from an untrusted client are all
-- removed and the message goes global, tagged by the rules (unclassified).
dofile(srcdir .. "/common.lua")
local conn = open_conn("mx.attacker.example", "192.0.2.66")
send_message(conn, {"i", "L2"}, "<app@platform.example>",
             acme_headers("aml-alert", {{ROUTE, "partner:[6.6.6.6]:25"}}))
check(mt.eom_check(conn, MT_HDRDELETE, ROUTE), "forged route header deleted")
check(mt.eom_check(conn, MT_HDRDELETE, "X-Partner-Id"), "forged partner header deleted")
check(mt.eom_check(conn, MT_HDRDELETE, "X-Email-Category"), "forged category header deleted")
check(not mt.eom_check(conn, MT_HDRADD, ROUTE), "no route header added")
check(not mt.eom_check(conn, MT_HDRCHANGE, "From"), "From untouched")
check(mt.eom_check(conn, MT_HDRADD, "X-Email-Category", "unclassified"), "tagged unclassified")
check(log_has("L2: category=unclassified partner=- route=global reason=untrusted-submitter trusted=no"),
      "logged global, untrusted-submitter")
mt.disconnect(conn)
finish()
