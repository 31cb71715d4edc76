-- route_partner.lua - a trusted (by network) acme message of an eligible
-- category: every milter action of the partner route.
dofile(srcdir .. "/common.lua")
local conn = open_conn("app.internal", "10.1.2.3")
send_message(conn, {"i", "L1"}, "<app@platform.example>",
             acme_headers("aml-alert", {{ROUTE, "partner:[203.0.113.9]:25"}}))
check(mt.eom_check(conn, MT_HDRDELETE, ROUTE), "incoming route header deleted")
check(not mt.eom_check(conn, MT_HDRCHANGE, ROUTE, ACME_ROUTE),
      "incoming route header never changed into a route (deleted, then added)")
check(mt.eom_check(conn, MT_HDRADD, ROUTE, ACME_ROUTE), "route header added: " .. ACME_ROUTE)
check(mt.getheader(conn, ROUTE, 0) == ACME_ROUTE, "route header value via getheader")
check(mt.eom_check(conn, MT_HDRADD, "X-Email-Category", "aml-alert"), "category tag added")
check(mt.eom_check(conn, MT_HDRCHANGE, "From", "App Notifications <news@acme.example>"),
      "From changed to the partner sender, display name kept")
check(log_has("L1: category=aml-alert partner=acme route=partner reason=partner-relay trusted=yes"),
      "one log line with queue id, category, partner, route, reason")
mt.disconnect(conn)
finish()
