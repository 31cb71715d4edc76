// partners.hpp - the partner table: who may relay through their own SMTP.
//
// One INI section per partner id ([acme]) with host, port, username,
// password, sender and the optional categories, tls, tls_fingerprint and
// match_senders (TLS rules: partner_tls.hpp); or, for auth = oauth2, the
// oauth_* keys instead of the password (partners_oauth.cpp).
// Every partner gets a status: active, or inactive with the reason (rules
// 1-3 of DESIGN.md). A broken partner never stops the others from loading;
// only an unreadable file fails the whole table.
//
// Thread safety: immutable after load. Lookups are O(1) hash lookups so the
// cost per message does not grow with the number of partners.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config.hpp"
#include "core/diag.hpp"

namespace prm {

// Postfix's TLS security levels a partner relay may use (never lower).
enum class TlsLevel { encrypt, verify, secure, fingerprint };
const char* tls_level_name(TlsLevel t);

// How a partner logs in to its relay: SASL with a password, or SASL
// XOAUTH2 with a token of the client-credentials grant (partner-relay-tokend).
enum class AuthKind { password, oauth2 };
const char* auth_kind_name(AuthKind a);

inline constexpr const char* kDefaultOAuthScope = "https://outlook.office365.com/.default";

// The token URL of a Microsoft Entra tenant (its id or one of its domains).
std::string entra_token_url(std::string_view tenant);

struct Partner {
    std::string id;
    int line = 0;  // line of the [id] section header
    int host_line = 0;  // line of its host key (0: none)
    int oauth_token_url_line = 0;  // line of its oauth_token_url key (0: none)
    int port_line = 0;  // line of its port key (0: none)

    std::string host;                  // DNS name or IPv4 literal
    std::optional<std::uint16_t> port;
    std::string username;
    std::string password;              // never logged, never printed
    std::string sender;                // addr-spec, lower-cased domain
    std::vector<std::string> categories;  // narrowing; empty = all eligible
    bool narrowed = false;
    TlsLevel tls = TlsLevel::secure;   // partner_tls.hpp: secure unless told
    bool tls_explicit = false;            // the entry has a tls key
    std::vector<std::string> tls_fingerprints;  // SHA-256, "AA:BB:..." (fingerprint level)
    std::vector<std::string> match_senders;  // "user@dom" or "@dom"

    // auth = oauth2 (all empty for password partners).
    AuthKind auth = AuthKind::password;
    std::string oauth_client_id;
    std::string oauth_client_secret;  // never logged, never printed
    std::string oauth_tenant;         // empty when oauth_token_url was given
    std::string oauth_token_url;      // given, or derived from oauth_tenant
    std::string oauth_token_host;     // host part of oauth_token_url
    std::string oauth_scope;          // default kDefaultOAuthScope

    bool active = false;
    std::string reason;  // why inactive; "ok" when active
    Diags problems;      // each problem with file:line:key
    // Active, but its credentials are not (or not as now) in the Postfix
    // tables: not routed until partner-relay-tables runs (published.hpp).
    bool waiting = false;
    std::string wait_reason;
    bool host_guarded = false;  // deactivated by the host guard (hostguard.hpp)

    // True when the port means implicit TLS (config implicit_tls_ports).
    bool implicit_tls(const Config& cfg) const;
    // "partner", "partner-smtps" or, for auth = oauth2, "partner-oauth"
    // (the configured transport names).
    const std::string& transport(const Config& cfg) const;
    // "[host]:port", the Postfix next hop (TLS policy and SASL lookups).
    std::string nexthop() const;
    // "transport:[host]:port", the route header value.
    std::string route_value(const Config& cfg) const;
    // Eligible for CATEGORY: globally eligible and not narrowed away.
    bool takes(const Config& cfg, std::string_view category) const;
};

class PartnerTable {
public:
    std::string path;
    std::vector<Partner> partners;  // in file order
    Diags errors;    // file-level errors (unreadable, syntax)
    Diags warnings;  // per-partner problems, insecure file mode

    const Partner* find(std::string_view id) const;
    // The partner whose match_senders list names ADDR (exact address first,
    // then "@domain").
    const Partner* by_envelope_sender(std::string_view addr) const;
    std::size_t active_count() const;
    // The first partner (file order) whose sender is ADDR (normalized as
    // normalize_address does); used on the fallback listener for accounting.
    // Defined in partners_lookup.cpp.
    const Partner* by_sender(std::string_view addr) const;

    void index();  // build the lookup maps after partners is filled

private:
    std::unordered_map<std::string, std::size_t> by_id_;
    std::unordered_map<std::string, std::size_t> by_match_;
    std::unordered_map<std::string, std::size_t> by_sender_;  // normalized sender
};

// A partner id is 1-64 characters of a-z0-9._-.
bool valid_partner_id(std::string_view id);

// Every key a partner section may hold (the man page test reads it).
const std::vector<std::string>& partner_keys();

// Read the partner table at PATH. The file holds passwords: one that others
// can read or write, or owned by someone other than root, the milter's
// user or the running user, is refused (an error in errors) unless
// cfg.partners_permissions_warn, which turns that into a warning; a table
// its group can read only warns.
PartnerTable load_partners(const std::string& path, const Config& cfg);

// Validate an already parsed INI file (tests, fuzzing).
PartnerTable load_partners_ini(const struct IniFile& ini, const Config& cfg);

}  // namespace prm
