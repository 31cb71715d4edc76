-- abort.lua - an abort in the middle of a message: its state is dropped,
-- the next message on the connection is decided on its own headers only.
dofile(srcdir .. "/common.lua")
local conn = open_conn("app.internal", "10.1.2.3")
mt.macro(conn, SMFIC_MAIL, "i", "L6a")
must(mt.mailfrom(conn, "<app@platform.example>"), "mailfrom")
rcpt(conn, "<jane@client.example>")
must(mt.header(conn, "X-Partner-Id", "acme"), "header")
must(mt.header(conn, "X-Email-Category", "aml-alert"), "header")
must(mt.abort(conn), "abort")
send_message(conn, {"i", "L6b"}, "<app@platform.example>",
             {{"From", "App <app@platform.example>"}, {"X-Email-Category", "custom"}})
check(not mt.eom_check(conn, MT_HDRADD, ROUTE), "after abort: no route (no partner header now)")
check(mt.eom_check(conn, MT_HDRADD, "X-Email-Category", "custom"), "after abort: the new message's tag")
check(log_has("L6b: category=custom partner=- route=global reason=no-partner"), "after abort: logged no-partner")
check(not log_has("L6a:", 1), "the aborted message is not logged as decided")
mt.disconnect(conn)
finish()
