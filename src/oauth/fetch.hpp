// fetch.hpp - one OAuth2 client-credentials token request (libcurl, nlohmann-json).
//
// What: POST grant_type=client_credentials, client_id, client_secret and
// scope (each URL-encoded) to an https token URL, verify the endpoint's
// certificate (CA bundle or the system store), parse access_token and
// expires_in (a number, or a string of digits; more than 86400 s counts as
// 86400). On failure it says why in words fit for a log line: the HTTP
// status, the OAuth `error` field and the provider's code (AADSTS...), never
// the secret, the request body or a token. Shared by partner-relay-tokend(8)
// and partner-relay-probe(8), so the probe fetches exactly as the broker does.
//
// Contract: bounded: connect_timeout and timeout seconds, a reply body of at
// most max_response_size bytes (a longer one fails the fetch); only https.
// Thread safety: fetch_token may run on several threads at once (each call
// owns its curl handle); curl_global_init must have run first.
#pragma once

#include <string>

namespace prm {
struct Partner;
struct OAuthConfig;
}  // namespace prm

namespace prm::oauth {

struct FetchRequest {
    std::string token_url;
    std::string client_id;
    std::string client_secret;  // never logged
    std::string scope;
    std::string cafile;         // empty: the system store
    int connect_timeout = 10;
    int timeout = 30;
    long max_response_size = 65536;
    std::string user_agent = "partner-relay-tokend";
};

struct FetchResult {
    bool ok = false;
    std::string access_token;  // never logged
    long expires_in = 0;       // seconds
    long http_status = 0;
    std::string error;         // the OAuth error field, or a local reason ("timeout", ...)
    std::string code;          // provider code such as AADSTS7000215, or empty
    // The endpoint's error_description, or libcurl's message, printable
    // ASCII, at most 300 bytes, the secret cut out (the probe shows it; the
    // broker does not log it).
    std::string description;
};

// The request for a partner's application under the [oauth] settings.
FetchRequest request_for(const Partner& p, const OAuthConfig& o);

// One token request.
FetchResult fetch_token(const FetchRequest& req);

// Parse a token endpoint's reply body (exposed for tests).
FetchResult parse_token_reply(long http_status, const std::string& body);

}  // namespace prm::oauth
