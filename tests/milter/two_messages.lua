-- two_messages.lua - two messages with different decisions on one
-- connection: the second must not inherit anything from the first.
dofile(srcdir .. "/common.lua")
local conn = open_conn("app.internal", "10.1.2.3")
send_message(conn, {"i", "L5a"}, "<app@platform.example>", acme_headers("finance-report"))
check(mt.eom_check(conn, MT_HDRADD, ROUTE, ACME_ROUTE), "message 1: partner route")
send_message(conn, {"i", "L5b"}, "<app@platform.example>", acme_headers("account-security"))
check(not mt.eom_check(conn, MT_HDRADD, ROUTE), "message 2: no route (category global)")
check(not mt.eom_check(conn, MT_HDRCHANGE, "From"), "message 2: From untouched")
check(mt.eom_check(conn, MT_HDRADD, "X-Email-Category", "account-security"), "message 2: its own tag")
check(log_has("L5b: category=account-security partner=acme route=global reason=category-not-eligible"),
      "message 2 logged with its own reason")
mt.disconnect(conn)
finish()
