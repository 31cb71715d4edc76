// partners_oauth.cpp - the auth key and the OAuth2 keys of a partner.
//
// What: `auth = password` (the default) or `auth = oauth2`. An oauth2
// partner logs in with SASL XOAUTH2 and a token of the client-credentials
// grant that partner-relay-tokend(8) fetches: it needs oauth_client_id,
// oauth_client_secret, and oauth_tenant (a Microsoft Entra tenant; token URL
// https://login.microsoftonline.com/TENANT/oauth2/v2.0/token) or
// oauth_token_url (any https token endpoint), and may set oauth_scope
// (default https://outlook.office365.com/.default). All or nothing, as for
// passwords: a missing or bad key makes the partner inactive with the reason.
// Keys of the other kind are errors for the partner (a password on an
// oauth2 partner, oauth_* on a password partner): a half-migrated entry must
// not route with credentials nobody meant.
//
// Two more rules for oauth2 partners: the port must not be an implicit-TLS
// port (the partner-oauth transport speaks STARTTLS, as Microsoft 365 on 587
// does), and tls = encrypt is refused (a bearer token goes only over a
// verified connection; partner_tls.hpp picks the default level).
//
// Contract: the client secret is validated but never copied into any text.
// The token URL's host is checked against private addresses by the host
// guard (hostguard.cpp), like the relay host.
//
// Thread safety: pure functions.
#include <algorithm>
#include <string>

#include "core/partners_build.hpp"
#include "core/strutil.hpp"

namespace prm {
namespace {

constexpr std::size_t kMaxOAuthValue = 1024;  // client id, secret, scope, URL
constexpr const char* kOAuthKeys[] = {"oauth_client_id", "oauth_client_secret", "oauth_tenant",
                                      "oauth_token_url", "oauth_scope"};

// Printable ASCII from FIRST to '~' (no control character, no DEL).
bool printable(std::string_view v, char first) {
    return std::all_of(v.begin(), v.end(), [first](char c) { return c >= first && c <= '~'; });
}

// A tenant id (GUID) or domain: 1-253 characters of A-Za-z0-9.-
bool valid_tenant(std::string_view t) {
    if (t.empty() || t.size() > 253) return false;
    return std::all_of(t.begin(), t.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-';
    });
}

// The host of an https URL, or "" with WHY set. Accepted: https://HOST[:PORT]/PATH
// with HOST a DNS name or IPv4 address, no user info, no fragment, a path of
// URL characters.
std::string token_url_host(std::string_view url, std::string& why) {
    const std::string_view scheme = "https://";
    if (url.size() > kMaxOAuthValue) return why = "longer than 1024 bytes", "";
    if (url.size() < scheme.size() || ascii_lower(url.substr(0, scheme.size())) != scheme)
        return why = "must start with https:// (a token is a credential: never plain http)", "";
    std::string_view rest = url.substr(scheme.size());
    std::size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (authority.find('@') != std::string_view::npos)
        return why = "must not hold a user name or password", "";
    if (!authority.empty() && authority[0] == '[')
        return why = "host must be a DNS name or an IPv4 address (no IPv6 literal)", "";
    std::string host(authority.substr(0, authority.find(':')));
    if (authority.find(':') != std::string_view::npos) {
        std::string_view port = authority.substr(authority.find(':') + 1);
        bool digits = !port.empty() && port.size() <= 5 &&
                      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits || std::stol(std::string(port)) < 1 || std::stol(std::string(port)) > 65535)
            return why = "has a bad port (expected 1-65535)", "";
    }
    if (!valid_relay_host(host))
        return why = "host must be a DNS name or an IPv4 address", "";
    if (path.empty() || path.find('#') != std::string_view::npos || !printable(path, '!') ||
        path.find_first_of("\"<>\\^`{|}") != std::string_view::npos)
        return why = "needs a path of URL characters (e.g. /TENANT/oauth2/v2.0/token), no '#'", "";
    return host;
}

// The token endpoint: from oauth_tenant or oauth_token_url, exactly one.
void check_endpoint(Builder& b) {
    const IniEntry* tenant = b.optional("oauth_tenant");
    const IniEntry* url = b.optional("oauth_token_url");
    if (tenant && url) {
        const IniEntry* later = tenant->line > url->line ? tenant : url;
        b.problem(later->line, later->key,
                  "give oauth_tenant or oauth_token_url, not both");
        return;
    }
    if (!tenant && !url) {
        b.problem(b.p.line, "oauth_tenant", "missing oauth_tenant (or oauth_token_url)");
        return;
    }
    if (tenant) {
        std::string t = ascii_lower(tenant->value);
        if (!valid_tenant(tenant->value))
            b.problem(tenant->line, "oauth_tenant",
                      "oauth_tenant must be the tenant id (a GUID) or one of its domains, "
                      "e.g. contoso.onmicrosoft.com");
        else if (t == "common" || t == "organizations" || t == "consumers")
            b.problem(tenant->line, "oauth_tenant",
                      "oauth_tenant '" + tenant->value +
                          "' does not work with the client-credentials grant: give the "
                          "partner's own tenant id or domain");
        else {
            b.p.oauth_tenant = tenant->value;
            b.p.oauth_token_url = entra_token_url(tenant->value);
            b.p.oauth_token_host = "login.microsoftonline.com";
        }
        return;
    }
    std::string why;
    std::string host = token_url_host(url->value, why);
    if (host.empty()) {
        b.problem(url->line, "oauth_token_url", "oauth_token_url " + why);
        return;
    }
    b.p.oauth_token_url = url->value;
    b.p.oauth_token_url_line = url->line;
    b.p.oauth_token_host = host;
}

// Client id, client secret and scope.
void check_client(Builder& b) {
    if (const IniEntry* e = b.required("oauth_client_id")) {
        if (e->value.size() > kMaxOAuthValue || !printable(e->value, '!'))
            b.problem(e->line, "oauth_client_id",
                      "oauth_client_id must be printable ASCII without spaces, at most 1024 bytes");
        else
            b.p.oauth_client_id = e->value;
    }
    if (const IniEntry* e = b.required("oauth_client_secret")) {
        // Never echo the value: only say what is wrong with it.
        if (e->value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos)
            b.problem(e->line, "oauth_client_secret",
                      "oauth_client_secret contains a line break or NUL (indented next line?)");
        else if (e->value.size() > kMaxOAuthValue)
            b.problem(e->line, "oauth_client_secret",
                      "oauth_client_secret is longer than 1024 bytes");
        else
            b.p.oauth_client_secret = e->value;
    }
    b.p.oauth_scope = kDefaultOAuthScope;
    if (const IniEntry* e = b.optional("oauth_scope")) {
        if (e->value.empty() || e->value.size() > kMaxOAuthValue || !printable(e->value, ' '))
            b.problem(e->line, "oauth_scope",
                      "oauth_scope must be printable ASCII (scopes separated by spaces), 1-1024 "
                      "bytes");
        else
            b.p.oauth_scope = e->value;
    }
}

// The transport and TLS rules of an oauth2 partner.
void check_transport(Builder& b, const Config& cfg) {
    if (b.p.port && std::find(cfg.implicit_tls_ports.begin(), cfg.implicit_tls_ports.end(),
                              *b.p.port) != cfg.implicit_tls_ports.end()) {
        const IniEntry* e = b.optional("port");
        b.problem(e ? e->line : b.p.line, "port",
                  "port " + std::to_string(*b.p.port) +
                      " is an implicit-TLS port (implicit_tls_ports), which auth = oauth2 does "
                      "not support: the partner-oauth transport uses STARTTLS (Microsoft 365: "
                      "port 587)");
    }
    if (const IniEntry* e = b.optional("tls"); e && e->value == "encrypt")
        b.problem(e->line, "tls",
                  "tls = encrypt would send the bearer token over an unverified connection: "
                  "use secure, verify or tls_fingerprint with auth = oauth2");
}

}  // namespace

const char* auth_kind_name(AuthKind a) { return a == AuthKind::oauth2 ? "oauth2" : "password"; }

// https://login.microsoftonline.com/TENANT/oauth2/v2.0/token
std::string entra_token_url(std::string_view tenant) {
    return "https://login.microsoftonline.com/" + std::string(tenant) + "/oauth2/v2.0/token";
}

// auth = password|oauth2 (absent: password).
void read_auth_kind(Builder& b) {
    const IniEntry* e = b.optional("auth");
    if (!e) return;
    if (e->value == "oauth2")
        b.p.auth = AuthKind::oauth2;
    else if (e->value != "password")
        b.problem(e->line, "auth",
                  "unknown auth '" + e->value + "' (expected password or oauth2)");
}

// Everything auth-specific after the common keys are read.
void check_oauth(Builder& b, const Config& cfg) {
    if (b.p.auth == AuthKind::password) {
        for (const char* k : kOAuthKeys)
            if (const IniEntry* e = b.optional(k))
                b.problem(e->line, k,
                          std::string(k) + " is only used with auth = oauth2 (this partner has "
                                           "auth = password)");
        return;
    }
    if (const IniEntry* e = b.optional("password"))
        b.problem(e->line, "password",
                  "password is not used with auth = oauth2: remove it (the partner logs in with "
                  "a token that partner-relay-tokend fetches)");
    if (cfg.mta == Mta::sendmail)
        b.problem(b.optional("auth")->line, "auth",
                  "auth = oauth2 works with Postfix only (mta = sendmail has no XOAUTH2 "
                  "transport)");
    check_endpoint(b);
    check_client(b);
    check_transport(b, cfg);
}

}  // namespace prm
