-- fallback.lua - on the fallback listener ({daemon_name} = FALLBACK) the
-- milter restores the platform From, removes the route header and adds no
-- route (the envelope sender change is checked by chgfrom.py).
dofile(srcdir .. "/common.lua")
local conn = open_conn("localhost.fallback", "127.0.0.1", "FALLBACK")
send_message(conn, {"i", "L4", "{daemon_name}", "FALLBACK"}, "<news@acme.example>",
             {{"From", "App Notifications <news@acme.example>"}, {"X-Email-Category", "aml-alert"},
              {ROUTE, ACME_ROUTE}})
check(mt.eom_check(conn, MT_HDRCHANGE, "From", "App Notifications <noreply@platform.example>"),
      "From restored to the fallback sender")
check(mt.eom_check(conn, MT_HDRDELETE, ROUTE), "route header removed")
check(not mt.eom_check(conn, MT_HDRADD, ROUTE), "no route header added")
check(log_has("L4: category=aml-alert partner=acme route=global reason=fallback trusted=yes fallback=yes"),
      "logged as fallback")
mt.disconnect(conn)
finish()
