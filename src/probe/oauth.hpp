// oauth.hpp - partner-relay-probe's OAuth2 part: the token step and the diagnoses.
//
// What: for an auth = oauth2 partner the probe first fetches a token with
// the client-credentials grant, through the same code and the same request
// as partner-relay-tokend(8) (oauth/fetch.hpp, request_for), verified with
// [oauth] cafile; then it presents the token with AUTH XOAUTH2 (probe.cpp).
// This module turns what the token endpoint or the relay said into two
// plain lines: what is wrong, and what to change (Diagnosis). Microsoft
// Entra's codes (AADSTS...) come first, then the OAuth2 error field of any
// provider, then what went wrong locally (refused, timeout, TLS, not JSON).
//
// Contract: nothing here holds or returns the client secret or the token
// except TokenStep::token, which only probe.cpp reads, to put it on the
// wire; every text is built from the fetch's sanitised fields (the secret
// is cut out of the endpoint's reply before it is parsed, oauth/fetch.cpp).
// Thread safety: pure functions, except fetch_partner_token (network).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/partners.hpp"
#include "oauth/fetch.hpp"

namespace prm::probe {

// What is wrong and the one line saying what to fix.
struct Diagnosis {
    std::string what;
    std::string fix;
};

// The token step's facts, as --json shows them (never the token).
struct TokenInfo {
    bool attempted = false;
    bool ok = false;
    std::string endpoint;      // the token URL (no secret in it)
    long http_status = 0;      // 0: no HTTP reply
    std::string error;         // OAuth error field or local reason
    std::string code;          // AADSTS..., or empty
    std::string description;   // the endpoint's error_description or libcurl's message
    long expires_in = 0;       // seconds, when ok
    std::vector<std::string> roles;  // the token's roles claim, when it is a readable JWT
    bool jwt = false;          // the token is a JWT whose payload could be read
    std::string fetched_for;   // the partner whose request gave it (TokenCache)
    Diagnosis diagnosis;       // when !ok
};

// The diagnosis of a failed token request for partner P.
Diagnosis diagnose_token(const oauth::FetchResult& r, const Partner& p, const OAuthConfig& o);

// The diagnosis of a relay's refusal (REPLY, sanitised "CODE text") of
// AUTH XOAUTH2 with a token the endpoint issued, for partner P.
Diagnosis diagnose_xoauth2(int code, const std::string& reply, const Partner& p);

// The roles claim of TOKEN when it is a JWT (JWT set); the payload is
// decoded in memory only and nothing of it but the roles is kept.
std::vector<std::string> jwt_roles(const std::string& token, bool& jwt);

// The token request of partner P under [oauth] O, bounded by the probe's
// TIMEOUT (seconds) as well; TOKEN receives the access token on success.
TokenInfo fetch_partner_token(const Partner& p, const OAuthConfig& o, int timeout, std::string& token);

// One token request per application in a run over several partners
// (--all): partners with the same token URL, client id, scope and secret
// share the answer, good or bad, as the broker shares one token per
// application. The tokens are wiped when the cache is destroyed.
// Thread safety: one thread.
class TokenCache {
public:
    TokenCache() = default;
    TokenCache(const TokenCache&) = delete;
    TokenCache& operator=(const TokenCache&) = delete;
    ~TokenCache();
    // fetch_partner_token(), or the answer of an earlier partner's request.
    TokenInfo fetch(const Partner& p, const OAuthConfig& o, int timeout, std::string& token);

private:
    std::map<std::string, std::pair<TokenInfo, std::string>> apps_;  // key: URL, id, scope, SHA-256(secret)
};

}  // namespace prm::probe
