// partner_tls.hpp - how a partner relay's certificate is checked (issue 12).
//
// What: the partner keys tls and tls_fingerprint decide the Postfix TLS
// level of a partner's next hop. The safe default: a DNS host name gets
// `secure` (chain and name verified, SNI sent); an IP-literal host cannot
// be name-checked by Postfix, so it needs tls_fingerprint (Postfix's
// `fingerprint` level: the SHA-256 digest of the relay certificate must
// match) or an explicit `tls = encrypt`. `encrypt` (no check at all) is
// used only when the entry says so, and every tool warns about it, since
// the partner's credentials then go to whatever answers.
//
// Contract: choose_tls() is pure; it never sees the password. A problem it
// reports makes the partner inactive (partners.cpp). Fingerprints are
// normalized to upper-case, colon-separated hex, as Postfix prints them.
//
// Thread safety: pure functions. Limits: the list is one INI line (the
// line bound of ini.hpp): two digests without colons fit, as a
// certificate rollover needs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace prm {

struct Partner;

// "AA:BB:..." (32 bytes) from a SHA-256 digest in hex, with or without
// colons, any case; nullopt when it is not one.
std::optional<std::string> normalize_fingerprint(std::string_view text);

// True for a dotted-quad IPv4 literal (valid_host admits no IPv6 literal).
bool is_ip_literal_host(std::string_view host);

// One problem found with the TLS keys: the key it concerns and the message.
struct TlsProblem {
    std::string key;
    std::string message;
    int line = 0;
};

// The raw TLS keys of one entry (null when absent) and its host.
struct TlsKeys {
    const std::string* tls = nullptr;
    int tls_line = 0;
    const std::string* fingerprint = nullptr;
    int fingerprint_line = 0;
    int section_line = 0;
};

// Set P.tls, P.tls_explicit and P.tls_fingerprints from KEYS and P.host;
// append every problem to OUT.
void choose_tls(Partner& p, const TlsKeys& keys, std::vector<TlsProblem>& out);

// The warning for a partner whose relay is not verified (tls = encrypt),
// or "" when its relay is verified.
std::string unverified_warning(const Partner& p);

}  // namespace prm
