-- common.lua - helpers of the miltertest protocol scripts.
--
-- Loaded with dofile(srcdir .. "/common.lua"); the harness defines the
-- globals socket, dir and srcdir with -D. Checks print TAP lines; finish()
-- raises an error (miltertest exits non-zero) when any check failed.
-- miltertest traps (POSTFIX-FINDINGS.md): negotiate and test options before
-- steps that may be negotiated away, set MAIL-stage macros after CONNECT,
-- keep header values short.

local count, failed = 0, 0

-- Record one check.
function check(ok, what)
  count = count + 1
  if ok then
    mt.echo("ok " .. count .. " - " .. what)
  else
    failed = failed + 1
    mt.echo("not ok " .. count .. " - " .. what)
  end
end

-- Print the plan; fail the script when a check failed.
function finish()
  mt.echo("1.." .. count)
  if failed > 0 or count == 0 then error(failed .. " check(s) failed") end
end

-- Fail at once when a miltertest call returned an error string.
function must(err, what)
  if err ~= nil then error(what .. ": " .. tostring(err)) end
end

-- Connect, negotiate, check the negotiated steps, send CONNECT.
function open_conn(host, ip, daemon_name)
  local conn = mt.connect(socket, 40, 0.25)
  if conn == nil then error("cannot connect to " .. socket) end
  must(mt.negotiate(conn, nil, nil, nil), "negotiate")
  check(mt.test_action(conn, SMFIF_ADDHDRS) and mt.test_action(conn, SMFIF_CHGHDRS)
        and mt.test_action(conn, SMFIF_CHGFROM), "actions: add/change headers, change sender")
  check(not mt.test_action(conn, SMFIF_CHGBODY) and not mt.test_action(conn, SMFIF_ADDRCPT)
        and not mt.test_action(conn, SMFIF_DELRCPT) and not mt.test_action(conn, SMFIF_QUARANTINE),
        "no action beyond those used")
  check(mt.test_option(conn, SMFIP_NOHELO) and mt.test_option(conn, SMFIP_NORCPT)
        and mt.test_option(conn, SMFIP_NOBODY) and mt.test_option(conn, SMFIP_NOEOH)
        and mt.test_option(conn, SMFIP_NODATA) and mt.test_option(conn, SMFIP_NOUNKNOWN),
        "steps skipped: HELO, RCPT, DATA, unknown, EOH, body")
  check(mt.test_option(conn, SMFIP_NR_CONN) and mt.test_option(conn, SMFIP_NR_MAIL)
        and mt.test_option(conn, SMFIP_NR_RCPT) and mt.test_option(conn, SMFIP_NR_HDR),
        "no replies to CONNECT, MAIL, RCPT, headers")
  check(not mt.test_option(conn, SMFIP_NOHDRS) and not mt.test_option(conn, SMFIP_NOMAIL),
        "headers and MAIL are still sent")
  mt.macro(conn, SMFIC_CONNECT, "{daemon_name}", daemon_name or "ORIGINATING", "{client_addr}", ip)
  must(mt.conninfo(conn, host, ip), "conninfo")
  return conn
end

-- Send RCPT unless it was negotiated away (the daemon asks to skip it;
-- miltertest refuses to send a skipped step).
function rcpt(conn, addr)
  if not mt.test_option(conn, SMFIP_NORCPT) then must(mt.rcptto(conn, addr), "rcptto") end
end

-- Send one message (MAIL macros as a flat list) and end it.
function send_message(conn, mail_macros, from, headers)
  mt.macro(conn, SMFIC_MAIL, table.unpack(mail_macros))
  must(mt.mailfrom(conn, from), "mailfrom")
  rcpt(conn, "<jane@client.example>")
  for _, h in ipairs(headers) do must(mt.header(conn, h[1], h[2]), "header " .. h[1]) end
  must(mt.eom(conn), "eom")
  check(mt.getreply(conn) == SMFIR_CONTINUE, "end of message answered continue")
end

-- The headers of an acme message of CATEGORY, plus EXTRA ones.
function acme_headers(category, extra)
  local h = {{"From", "App Notifications <app@platform.example>"}, {"To", "jane@client.example"},
             {"Subject", "Alert"}, {"X-Partner-Id", "acme"}, {"X-Email-Category", category}}
  for _, e in ipairs(extra or {}) do table.insert(h, e) end
  return h
end

-- Wait (bounded, 10 s; TRIES x 0.1 s) until the daemon log contains NEEDLE.
function log_has(needle, tries)
  for _ = 1, tries or 100 do
    local f = io.open(dir .. "/daemon.log", "r")
    if f then
      local text = f:read("a")
      f:close()
      if string.find(text, needle, 1, true) then return true end
    end
    mt.sleep(0.1)
  end
  return false
end

ROUTE = "X-Partner-Relay-Route"
ACME_ROUTE = "partner:[127.0.0.1]:2525"
