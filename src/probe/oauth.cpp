// oauth.cpp - the token step of partner-relay-probe and its diagnoses (oauth.hpp).
#include "probe/oauth.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/sha256.hpp"

namespace prm::probe {
namespace {

// One row of the Entra table: a code, what it means, what to change.
struct EntraCode {
    const char* code;
    const char* what;
    const char* fix;
};

// Microsoft Entra's codes for the client-credentials grant (the
// reference-error-codes page of learn.microsoft.com and what the token
// endpoint is documented to answer). A tenant or client id is quoted by
// the caller; the table holds only fixed text.
constexpr EntraCode kEntra[] = {
    {"AADSTS7000215", "wrong client secret",
     "set oauth_client_secret to the secret's Value (not its Secret ID) from the app registration's "
     "Certificates & secrets, or create a new secret there"},
    {"AADSTS7000222", "the client secret has expired",
     "the partner's admin creates a new client secret in the app registration; put its Value in "
     "oauth_client_secret"},
    {"AADSTS90002", "unknown tenant",
     "check oauth_tenant: the Directory (tenant) ID of the partner's Entra tenant, or one of its domains "
     "such as contoso.onmicrosoft.com"},
    {"AADSTS900023", "the tenant is neither a tenant ID nor a domain",
     "check oauth_tenant: the Directory (tenant) ID, or a domain such as contoso.onmicrosoft.com"},
    {"AADSTS700016", "the application is not in this tenant",
     "check oauth_client_id (the Application (client) ID) and that oauth_tenant is the tenant where "
     "the app is registered"},
    {"AADSTS7000229", "the application has no service principal in the tenant (consent missing)",
     "the partner's admin grants admin consent for the app (API permissions, Grant admin consent), "
     "which creates its enterprise application"},
    {"AADSTS65001", "consent missing: no administrator consented to the application",
     "the partner's admin adds Office 365 Exchange Online, application permission SMTP.SendAsApp, "
     "and clicks Grant admin consent"},
    {"AADSTS500011", "the resource of the scope is not in the tenant",
     "leave oauth_scope unset (https://outlook.office365.com/.default); the tenant needs Exchange Online"},
    {"AADSTS70011", "the scope is not valid",
     "leave oauth_scope unset (https://outlook.office365.com/.default); a client-credentials scope ends in /.default"},
    {"AADSTS1002012", "the scope is not valid",
     "leave oauth_scope unset (https://outlook.office365.com/.default); a client-credentials scope ends in /.default"},
    {"AADSTS53003", "Conditional Access blocked the token request",
     "the partner's admin exempts the app's service principal from the Conditional Access policy "
     "(or allows this host's address)"},
    {"AADSTS7000218", "the request carried no client secret", "set oauth_client_secret"},
};

// The diagnosis from the OAuth2 error field (RFC 6749 5.2), any provider.
Diagnosis by_oauth_error(const std::string& e) {
    if (e == "invalid_client")
        return {"the endpoint refused the client credentials (invalid_client)",
                "check oauth_client_id and oauth_client_secret"};
    if (e == "unauthorized_client")
        return {"the application may not use the client-credentials grant (unauthorized_client): "
                "consent or permission missing",
                "the partner's admin grants the application permission (SMTP.SendAsApp) and admin consent"};
    if (e == "invalid_grant")
        return {"the endpoint refused the grant (invalid_grant): consent or permission missing",
                "the partner's admin grants the application permission and admin consent"};
    if (e == "invalid_scope")
        return {"the endpoint refused the scope (invalid_scope)",
                "check oauth_scope (default https://outlook.office365.com/.default)"};
    if (e == "invalid_request" || e == "unsupported_grant_type")
        return {"the endpoint refused the request (" + e + ")",
                "check oauth_token_url or oauth_tenant: it must be the provider's token endpoint"};
    return {};
}

// The diagnosis of a local failure: no usable HTTP reply.
Diagnosis by_local_error(const oauth::FetchResult& r, const Partner& p, const OAuthConfig& o) {
    const std::string& e = r.error;
    const std::string host = p.oauth_token_host;
    if (e == "connect_refused" || e == "curl_7")
        return {"the token endpoint " + host + " cannot be reached (connection refused or no route)",
                "check the host and port of the token URL and that this host may open HTTPS connections to it"};
    if (e == "curl_6")
        return {"the token endpoint's host name " + host + " does not resolve",
                "check the token URL (oauth_tenant or oauth_token_url) and this host's DNS"};
    if (e == "timeout" || e == "curl_28")
        return {"the token endpoint " + host + " did not answer in time",
                "check the network path to it (firewall, proxy); [oauth] timeout is " + std::to_string(o.timeout) + " s"};
    if (e == "tls_verify_failed" || e == "curl_60")
        return {"the token endpoint's certificate does not verify",
                "check [oauth] cafile (now " + (o.cafile.empty() ? std::string("the system store") : o.cafile) +
                    ") and that the token URL names the endpoint's real host; a TLS-inspecting proxy needs its CA there"};
    if (e == "curl_77")
        return {"the CA bundle cannot be read", "check [oauth] cafile (" + o.cafile + ")"};
    if (e == "curl_35" || e == "curl_58" || e == "curl_59" || e == "curl_83" || e == "curl_90" || e == "curl_91" ||
        e == "curl_98" || e == "curl_16" || e == "curl_56")
        return {"the TLS connection to the token endpoint failed",
                "check that the token URL is https on a TLS port of the provider (no proxy or captive portal in between)"};
    if (e == "reply_not_json" || e == "no_access_token" || e == "no_expires_in")
        return {"the endpoint's answer is not an OAuth2 token reply (" + e + ")",
                "check the token URL: it must be the provider's client-credentials token endpoint, not a web page or a proxy"};
    if (e == "reply_too_large")
        return {"the endpoint's answer is larger than [oauth] max_response_size (" +
                    std::to_string(o.max_response_size) + " bytes)",
                "check the token URL; raise max_response_size only if the provider's replies are that large"};
    // An HTTP error whose body names no OAuth2 error we know (or none).
    bool http_error = e.rfind("http_", 0) == 0 || (r.http_status != 0 && r.http_status != 200);
    if (http_error && r.http_status >= 500)
        return {"the token endpoint failed (HTTP " + std::to_string(r.http_status) + ")",
                "try again later; the broker keeps using a valid token meanwhile and retries"};
    if (http_error)
        return {"the endpoint answered HTTP " + std::to_string(r.http_status) + " without an OAuth2 error it knows",
                "check the token URL (oauth_tenant or oauth_token_url): it is not a token endpoint"};
    return {"the token request failed (" + e + ")", "see the description; check the token URL and [oauth]"};
}

// Decode base64url (no padding needed); false on a bad character.
bool base64url(const std::string& in, std::string& out) {
    unsigned acc = 0;
    int bits = 0;
    for (char c : in) {
        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
              : c >= '0' && c <= '9' ? c - '0' + 52 : c == '-' || c == '+' ? 62 : c == '_' || c == '/' ? 63
              : c == '=' ? -2 : -1;
        if (v == -2) break;
        if (v < 0) return false;
        acc = (acc << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return true;
}

}  // namespace

// Entra's code first, then the OAuth2 error, then the local reason.
Diagnosis diagnose_token(const oauth::FetchResult& r, const Partner& p, const OAuthConfig& o) {
    for (const auto& row : kEntra)
        if (r.code == row.code) return {std::string(row.what) + " (" + row.code + ")", row.fix};
    if (!r.code.empty() || !r.error.empty()) {
        Diagnosis d = by_oauth_error(r.error);
        if (!d.what.empty()) {
            if (!r.code.empty()) d.what += " [" + r.code + "]";
            return d;
        }
    }
    return by_local_error(r, p, o);
}

// A relay's refusal of a token the endpoint issued.
Diagnosis diagnose_xoauth2(int code, const std::string& reply, const Partner& p) {
    const std::string mbox = p.username;
    if (reply.find("SmtpClientAuthentication is disabled") != std::string::npos)
        return {"SMTP AUTH is disabled for the mailbox " + mbox + " or the whole tenant (" + reply + ")",
                "the partner's admin enables Authenticated SMTP for the mailbox (Set-CASMailbox -Identity " + mbox +
                    " -SmtpClientAuthenticationDisabled $false) and checks the tenant setting (Set-TransportConfig)"};
    if (code == 535)
        return {"the relay refused the token for " + mbox +
                    ": the application's service principal has no permission on that mailbox, or SMTP AUTH is "
                    "disabled for it (" + reply + ")",
                "the partner's admin runs New-ServicePrincipal and Add-MailboxPermission -Identity " + mbox +
                    " -User <enterprise app object id> -AccessRights FullAccess, checks SMTP.SendAsApp with admin "
                    "consent and Authenticated SMTP for the mailbox; changes take up to about 2 hours"};
    if (code >= 400 && code < 500)
        return {"the relay deferred the login (" + reply + ")", "try again later"};
    return {"the relay refused AUTH XOAUTH2 (" + reply + ")",
            "check username (the mailbox, sent as user=) and that the host is the partner's Microsoft 365 relay"};
}

// The roles claim of a JWT access token (Entra issues JWTs for Exchange).
std::vector<std::string> jwt_roles(const std::string& token, bool& jwt) {
    jwt = false;
    std::vector<std::string> roles;
    auto a = token.find('.');
    auto b = a == std::string::npos ? a : token.find('.', a + 1);
    if (b == std::string::npos || token.find('.', b + 1) != std::string::npos) return roles;
    std::string payload;
    if (!base64url(token.substr(a + 1, b - a - 1), payload)) return roles;
    nlohmann::json j = nlohmann::json::parse(payload, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return roles;
    jwt = true;
    if (j.contains("roles") && j["roles"].is_array())
        for (const auto& r : j["roles"])
            if (r.is_string() && roles.size() < 20) roles.push_back(r.get<std::string>().substr(0, 64));
    std::fill(payload.begin(), payload.end(), '\0');
    return roles;
}

// One token request exactly as the broker makes it (its timeouts capped).
TokenInfo fetch_partner_token(const Partner& p, const OAuthConfig& o, int timeout, std::string& token) {
    TokenInfo t;
    t.attempted = true;
    t.endpoint = p.oauth_token_url;
    oauth::FetchRequest req = oauth::request_for(p, o);
    req.connect_timeout = std::min(req.connect_timeout, timeout);
    req.timeout = std::min(req.timeout, timeout);
    req.user_agent = "partner-relay-probe";
    oauth::FetchResult r = oauth::fetch_token(req);
    std::fill(req.client_secret.begin(), req.client_secret.end(), '\0');
    t.ok = r.ok;
    t.http_status = r.http_status;
    t.error = r.error;
    t.code = r.code;
    t.description = r.description;
    t.expires_in = r.expires_in;
    if (r.ok) {
        token = std::move(r.access_token);
        t.roles = jwt_roles(token, t.jwt);
    } else {
        t.diagnosis = diagnose_token(r, p, o);
    }
    std::fill(r.access_token.begin(), r.access_token.end(), '\0');
    return t;
}

// Wipe the cached tokens.
TokenCache::~TokenCache() {
    for (auto& [key, entry] : apps_) std::fill(entry.second.begin(), entry.second.end(), '\0');
}

// The first request of an application, or its remembered answer.
TokenInfo TokenCache::fetch(const Partner& p, const OAuthConfig& o, int timeout, std::string& token) {
    std::string key = p.oauth_token_url + '\n' + p.oauth_client_id + '\n' + p.oauth_scope + '\n' +
                      sha256_hex(p.oauth_client_secret);
    auto it = apps_.find(key);
    if (it == apps_.end()) {
        std::string t;
        TokenInfo info = fetch_partner_token(p, o, timeout, t);
        info.fetched_for = p.id;
        it = apps_.emplace(key, std::make_pair(std::move(info), std::move(t))).first;
    }
    token = it->second.second;
    return it->second.first;
}

}  // namespace prm::probe
