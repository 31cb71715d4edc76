// partner_tls.cpp - the TLS level of a partner relay (see partner_tls.hpp).
//
// The rules, in order: tls_fingerprint given -> `fingerprint` (any host;
// tls may be absent or say fingerprint); tls given -> that level, except
// that an IP-literal host cannot be name-checked (verify/secure) and
// `fingerprint` needs digests; nothing given -> `secure` for a DNS name,
// and an IP-literal host is refused with a reason saying what to write.
//
// Thread safety: pure. Limits: the INI line length (ini.hpp) bounds the
// list: two digests without colons fit on one line, enough for a rollover.
#include "core/partner_tls.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <string>

#include "core/partners.hpp"
#include "core/strutil.hpp"

namespace prm {

// "AA:BB:..." from 64 hex digits, colons between byte pairs optional.
std::optional<std::string> normalize_fingerprint(std::string_view text) {
    std::string hex;
    for (std::size_t i = 0; i < text.size(); i++) {
        char c = text[i];
        if (c == ':') {
            // Only between two complete bytes: "AA:BB", never "A:AB" or "::".
            if (hex.empty() || hex.size() % 2 != 0 || i + 1 == text.size() || text[i + 1] == ':')
                return std::nullopt;
            continue;
        }
        bool digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!digit || hex.size() >= 64) return std::nullopt;
        hex += static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
    }
    if (hex.size() != 64) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) out += (i ? ":" : "") + hex.substr(i, 2);
    return out;
}

bool is_ip_literal_host(std::string_view host) {
    unsigned char buf[16];
    std::string h(host);
    return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

namespace {

// The level named V, or nullopt.
std::optional<TlsLevel> parse_level(const std::string& v) {
    if (v == "secure") return TlsLevel::secure;
    if (v == "verify") return TlsLevel::verify;
    if (v == "encrypt") return TlsLevel::encrypt;
    if (v == "fingerprint") return TlsLevel::fingerprint;
    return std::nullopt;
}

// Parse the tls_fingerprint list into P; false after reporting a problem.
bool parse_fingerprints(Partner& p, const TlsKeys& k, std::vector<TlsProblem>& out) {
    std::string list = *k.fingerprint;
    for (char& c : list)
        if (c == '|') c = ',';  // Postfix's own separator in match=
    std::vector<std::string> items = split_list(list);
    if (items.empty()) {
        out.push_back({"tls_fingerprint", "empty list (remove the key, or give the SHA-256 "
                                          "fingerprint of the relay certificate)",
                       k.fingerprint_line});
        return false;
    }
    bool ok = true;
    for (const std::string& item : items) {
        std::optional<std::string> fp = normalize_fingerprint(item);
        if (!fp) {
            out.push_back({"tls_fingerprint",
                           "'" + item.substr(0, 120) +
                               "' is not a SHA-256 fingerprint (64 hex digits, colons optional; "
                               "openssl x509 -noout -fingerprint -sha256 prints it)",
                           k.fingerprint_line});
            ok = false;
        } else if (std::find(p.tls_fingerprints.begin(), p.tls_fingerprints.end(), *fp) ==
                   p.tls_fingerprints.end()) {
            p.tls_fingerprints.push_back(*fp);
        }
    }
    return ok;
}

}  // namespace

// Decide P's TLS level from its keys and host (rules in the file header).
void choose_tls(Partner& p, const TlsKeys& k, std::vector<TlsProblem>& out) {
    std::optional<TlsLevel> given;
    if (k.tls) {
        p.tls_explicit = true;
        given = parse_level(*k.tls);
        if (!given) {
            out.push_back({"tls",
                           "unknown tls level '" + *k.tls +
                               "' (expected secure, verify, fingerprint or encrypt)",
                           k.tls_line});
            return;
        }
    }
    bool ip = !p.host.empty() && is_ip_literal_host(p.host);

    if (k.fingerprint) {
        p.tls = TlsLevel::fingerprint;
        if (given && *given != TlsLevel::fingerprint)
            out.push_back({"tls",
                           std::string("tls = ") + tls_level_name(*given) +
                               " contradicts tls_fingerprint (write tls = fingerprint, or "
                               "remove one of the keys)",
                           k.tls_line});
        parse_fingerprints(p, k, out);
        return;
    }
    if (given) {
        p.tls = *given;
        if (*given == TlsLevel::fingerprint)
            out.push_back({"tls", "tls = fingerprint needs tls_fingerprint (the SHA-256 "
                                  "fingerprint of the relay certificate)",
                           k.tls_line});
        else if (ip && *given != TlsLevel::encrypt)
            out.push_back({"tls",
                           std::string("tls = ") + tls_level_name(*given) +
                               " cannot verify the address " + p.host +
                               ": Postfix matches certificates by DNS name only; use the "
                               "relay's host name, or tls_fingerprint",
                           k.tls_line});
        return;
    }
    p.tls = TlsLevel::secure;
    if (ip)
        out.push_back({"tls_fingerprint",
                       "the relay " + p.host +
                           " is an IP address, whose certificate cannot be verified by name: "
                           "set tls_fingerprint (SHA-256 of the relay certificate), use the "
                           "relay's host name, or write tls = encrypt to accept any certificate",
                       k.section_line});
}

std::string unverified_warning(const Partner& p) {
    if (p.tls != TlsLevel::encrypt) return {};
    return "partner " + p.id + ": tls = encrypt: credentials go to an unverified server (any " +
           "certificate is accepted at " + p.nexthop() +
           "); use tls = secure with the relay's host name, or tls_fingerprint";
}

}  // namespace prm
