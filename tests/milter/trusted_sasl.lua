-- trusted_sasl.lua - a client outside the trusted networks that
-- authenticated with SASL ({auth_authen}) is trusted: partner route.
dofile(srcdir .. "/common.lua")
local conn = open_conn("laptop.example", "198.51.100.20")
send_message(conn, {"i", "L3", "{auth_authen}", "app-sender"}, "<app@platform.example>",
             acme_headers("verification-link"))
check(mt.eom_check(conn, MT_HDRADD, ROUTE, ACME_ROUTE), "SASL-authenticated: route header added")
check(mt.eom_check(conn, MT_HDRCHANGE, "From", "App Notifications <news@acme.example>"), "From changed")
check(log_has("L3: category=verification-link partner=acme route=partner reason=partner-relay trusted=yes"),
      "logged partner route")
-- The same client without the login, on the same connection: untrusted.
send_message(conn, {"i", "L3b"}, "<app@platform.example>", acme_headers("verification-link"))
check(not mt.eom_check(conn, MT_HDRADD, ROUTE), "without SASL login: no route")
check(mt.eom_check(conn, MT_HDRDELETE, "X-Partner-Id"), "without SASL login: partner header removed")
mt.disconnect(conn)
finish()
