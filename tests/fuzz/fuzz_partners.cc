// fuzz_partners.cc - libFuzzer target: the partner table parser.
//
// Feeds the input as the text of partners.conf through parse_ini_text()
// (inih) and load_partners_ini(), validated against a fixed main config.
// Invariants checked (abort on violation, which libFuzzer reports):
//  - a partner is active exactly when it has no problem, and its reason is
//    "ok" exactly then; every problem names the file and a line;
//  - an active partner has all four credentials and a sender (rules 1-2),
//    where an auth = oauth2 partner has a client id, a client secret, an
//    https token URL and a scope instead of a password (and no password),
//    a host that is a DNS name or IPv4 address of [A-Za-z0-9.-], a username
//    and sender with no CR, LF, NUL, space, comma, bracket or ':', a password
//    without CR/LF/NUL, and a route value that matches
//    ^(partner|partner-smtps|partner-oauth):\[[A-Za-z0-9.-]+\]:[0-9]{1,5}$
//    built from its own host and port (partner-oauth exactly for oauth2);
//  - no reason, problem, warning or error depends on a password or a client
//    secret: loading the same table with every password and every
//    oauth_client_secret changed in every character (also on indented
//    lines, which continue the value above) gives the same
//    texts, byte for byte, so no part of a password is ever shown
//    (a differential check; it replaced a search for "marked" passwords in
//    the texts, which took texts echoed by design for leaks: findings J-N);
//  - lookups by id find the first partner of that id.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/ini.hpp"
#include "core/partners.hpp"
#include "core/rfc5322.hpp"
#include "core/strutil.hpp"
#include "fuzz_common.hpp"

namespace {

using fuzz::check;
using fuzz::host_chars;
using fuzz::route_ok;

// The main config every input is validated against (defaults).
const prm::Config& config() {
    static const prm::Config cfg = [] {
        prm::ConfigResult r = prm::load_config_ini(prm::parse_ini_text(
            "fuzz.conf", "[milter]\nfallback_sender = noreply@platform.example\n"));
        if (!r.config) std::abort();
        return *r.config;
    }();
    return cfg;
}

// True when S has none of the characters that could inject into a table line.
bool no_injection(std::string_view s) {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 32 || u == 127 || c == ' ' || c == ',' || c == '[' || c == ']' || c == ':')
            return false;
    }
    return true;
}

// Invariants of one partner.
void check_partner(const prm::Partner& p) {
    check(p.active == p.problems.empty(), "active exactly when no problem");
    check(p.active == (p.reason == "ok"), "reason ok exactly when active");
    for (const prm::Diag& d : p.problems)
        check(d.file == "partners.conf" && d.line > 0 && !d.message.empty(),
              "a problem names file, line and why");
    if (!p.active) return;
    check(p.port.has_value() && !p.username.empty() && !p.sender.empty(),
          "active partner has host, port, username and a sender");
    if (p.auth == prm::AuthKind::oauth2) {
        check(p.password.empty() && !p.oauth_client_id.empty() && !p.oauth_client_secret.empty() &&
                  !p.oauth_scope.empty() && prm::ascii_lower(p.oauth_token_url).rfind("https://", 0) == 0 &&
                  host_chars(p.oauth_token_host),
              "active oauth2 partner: client id, secret, scope, https token URL, no password");
        check(p.oauth_client_secret.find_first_of(std::string("\r\n\0", 3)) == std::string::npos,
              "client secret has no CR, LF or NUL");
        check(p.tls != prm::TlsLevel::encrypt && !p.implicit_tls(config()),
              "oauth2 partner: verified TLS, STARTTLS port");
    } else {
        check(!p.password.empty() && p.oauth_client_secret.empty() && p.oauth_client_id.empty(),
              "active password partner has a password and no oauth keys");
    }
    check(host_chars(p.host), "active host is [A-Za-z0-9.-]");
    check(no_injection(p.username) && no_injection(p.sender), "username and sender are clean");
    check(p.password.find_first_of(std::string("\r\n\0", 3)) == std::string::npos,
          "password has no CR, LF or NUL");
    check(prm::valid_addr_spec(p.sender), "sender is an address");
    check(route_ok(p.route_value(config()), p), "route value matches the table");
}

// Every text the loader produced about the table.
std::string all_text(const prm::PartnerTable& t) {
    std::string all;
    for (const prm::Partner& p : t.partners) {
        all += p.reason + "\n";
        for (const prm::Diag& d : p.problems) all += d.str() + "\n";
    }
    for (const prm::Diag& d : t.warnings) all += d.str() + "\n";
    for (const prm::Diag& d : t.errors) all += d.str() + "\n";
    return all;
}

// True for inih's whitespace (its isspace()).
bool ini_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// TEXT with the value of every "password =" and "oauth_client_secret ="
// (or ':') line changed in every
// character, indented lines included: an indented password line continues
// the value above it (issue 17 finding 2: "port = 587" then "  password =
// ..." showed the password in the port's error), so it must be covered too.
// Whitespace, ';' (it may start a comment), CR, LF and NUL are kept, so
// lines, comments and the loader's one check on a password's content (no
// CR/LF/NUL) see the same thing: the loader's texts must not change at all.
std::string other_passwords(std::string text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::size_t i = pos;
        while (i < end && ini_space(text[i])) i++;
        std::size_t klen = text.compare(i, 8, "password") == 0 && i + 8 <= end ? 8
                           : text.compare(i, 19, "oauth_client_secret") == 0 && i + 19 <= end ? 19
                                                                                              : 0;
        if (klen > 0) {
            i += klen;
            while (i < end && ini_space(text[i])) i++;
            if (i < end && (text[i] == '=' || text[i] == ':'))
                for (std::size_t j = i + 1; j < end; j++) {
                    char& c = text[j];
                    if (!ini_space(c) && c != ';' && c != '\0') c = c == 'Q' ? 'R' : 'Q';
                }
        }
        pos = end + 1;
    }
    return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    prm::IniFile ini = prm::parse_ini_text("partners.conf", text);
    prm::PartnerTable t = prm::load_partners_ini(ini, config());
    check(t.partners.size() == ini.sections.size(), "one partner per section");
    for (const prm::Partner& p : t.partners) {
        check_partner(p);
        const prm::Partner* f = t.find(p.id);
        check(f != nullptr, "every id is found");
        check(f->line <= p.line, "find() returns the first partner of an id");
    }

    std::string all = all_text(t);
    std::string other = all_text(prm::load_partners_ini(
        prm::parse_ini_text("partners.conf", other_passwords(text)), config()));
    if (other != all) {
        std::fprintf(stderr, "with the passwords:\n%s\nwith other passwords:\n%s", all.c_str(),
                     other.c_str());
        check(false, "no message depends on a password (so none shows one)");
    }
    return 0;
}
