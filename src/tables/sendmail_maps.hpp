// sendmail_maps.hpp - the Sendmail maps for partner routes
// (partner-relay-tables --mta sendmail; contrib/sendmail/partner-relay.m4).
//
// What: from a loaded Snapshot, build the three maps the m4 fragment reads:
//   routes    partner key (sendmail_rewrite.hpp) -> "ptnrPORT:[host]"
//   authinfo  "AuthInfo:SERVER:sender" -> "U:login" "P:password" "M:PLAIN LOGIN"
//             (mode 0600; read by the sender-keyed authinfo ruleset)
//   tls       SERVER -> the TLS_Srv requirement (secure VERIFY:112+CN,
//             verify VERIFY:112, encrypt ENCR:112; the strictest when
//             partners share a host)
// SERVER is Sendmail's {server_name}: the host name, or "[a.b.c.d]" for an
// address. Active partners only: an inactive partner gets no entry, so its
// pseudo recipients (queued before) go to the fallback.
// install_sendmail_maps() writes each source next to its place, runs
// makemap hash on it, and renames the database, then the source, into place.
//
// Contract: build_sendmail_maps() is pure; nothing here prints a password.
// Thread safety: none needed (a one-shot tool).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/snapshot.hpp"
#include "tables/tables.hpp"

namespace prm {

struct SendmailMaps {
    std::vector<TableEntry> routes;
    std::vector<TableEntry> authinfo;
    std::vector<TableEntry> tls;
    std::set<int> ports;                // partner ports: one PARTNER_RELAY_PORT each
    std::vector<std::string> warnings;  // never a secret
    std::vector<PublishedPartner> published;  // partners with entries (the stamp)
    std::string milter_user;            // [milter] user: the stamp's group
};

// Build the maps from SNAP (pure).
SendmailMaps build_sendmail_maps(const Snapshot& snap);

// Write the maps into DIR atomically with MAKEMAP (a path or a name found
// in PATH, /usr/sbin, /usr/libexec/sendmail); SENDMAIL_CF, when not empty,
// is passed as makemap -C. Returns "" on success, else the error.
std::string install_sendmail_maps(const std::string& dir, const SendmailMaps& m,
                                  const std::string& makemap, const std::string& sendmail_cf);

// The sendmail.mc lines to add and the config line the milter needs.
std::string sendmail_hook_lines(const Config& cfg, const std::string& dir, const SendmailMaps& m);

}  // namespace prm
