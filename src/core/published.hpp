// published.hpp - which partners' credentials Postfix has been given.
//
// What: partner-relay-tables (and partner-relay-sync, through the same
// install code) writes a stamp file, TABLES_DIR/published, after the
// tables are swapped in: one line per partner it published, with a salted
// SHA-256 over that partner's credential-relevant fields. The milter reads
// it at every load and marks each active partner whose line is missing or
// differs as waiting: it is not routed (global, reason waiting-for-tables)
// until the tables are written again. Without it a partner added to the
// table and reloaded without the tables tool would be routed, sent without
// AUTH, refused and fall back, silently, for every message.
//
// Stamp format (text, '#' comments):
//   salt <32 hex digits>
//   <partner id> <64 hex digits: sha256(salt, credential_material(p))>
// No secret is in the file in clear; the salt keeps equal passwords of two
// partners (or two hosts) from having equal lines.
//
// Contract: pure apart from read_stamp() reading one file. A missing or
// unreadable stamp marks every active partner waiting (one warning).
// [milter] tables_dir empty turns the check off.
//
// Thread safety: pure functions on values the caller owns.
// Limits: the stamp is read whole; lines over 200 characters are ignored.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/diag.hpp"
#include "core/partners.hpp"

namespace prm {

inline constexpr const char* kStampName = "published";

// The fields of P that decide whether Postfix can log in for it (host, port,
// username, password, sender, tls, tls_fingerprint; for auth = oauth2 also
// the auth kind, oauth_client_id, oauth_client_secret, oauth_token_url and
// oauth_scope), length-prefixed so no two different partners give the same
// text. Holds secrets: never print it, only hash it. A password partner's
// text has no auth field, so stamps written before auth existed still match.
std::string credential_material(const Partner& p);

// The stamp line value for P under SALT (hex).
std::string stamp_digest(std::string_view salt, const Partner& p);
// The same from P's credential_material() (the writer keeps only that).
std::string stamp_digest_material(std::string_view salt, std::string_view material);

// A partner the tables tool published, as the stamp writer needs it.
struct PublishedPartner {
    std::string id;
    std::string material;  // credential_material(): holds the password
};

struct Stamp {
    bool ok = false;       // the file was read and has a salt line
    std::string error;     // why not, when !ok
    std::string salt;
    std::unordered_map<std::string, std::string> digests;  // id -> hex
};

// Parse the text of a stamp file.
Stamp parse_stamp(std::string_view text);

// Read and parse the stamp at PATH.
Stamp read_stamp(const std::string& path);

// The stamp text for ENTRIES (id, digest) under SALT.
std::string render_stamp(std::string_view salt,
                         const std::vector<std::pair<std::string, std::string>>& entries);

// Where the milter of CFG looks for the stamp ("" when the check is off).
std::string stamp_path(const Config& cfg);

// Why P is not published according to STAMP, or "" when it is.
std::string unpublished_reason(const Stamp& stamp, const std::string& path, const Partner& p);

// Mark every active partner of T that STAMP does not cover as waiting, and
// add one warning naming them. No-op when CFG's tables_dir is empty.
void mark_waiting(PartnerTable& t, const Config& cfg, Diags& warnings);

// Number of waiting partners of T.
std::size_t waiting_count(const PartnerTable& t);

}  // namespace prm
