// fetch.cpp - the client-credentials grant over libcurl (fetch.hpp).
#include "oauth/fetch.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "core/partners.hpp"

namespace prm::oauth {
namespace {

// A longer expires_in counts as this (no access token lives longer than a
// day; an absurd value would otherwise stop the refreshes).
constexpr long kMaxExpiresIn = 86400;

struct Sink {
    std::string body;
    long limit = 0;
    bool overflow = false;
};

// libcurl write callback: keep at most LIMIT bytes, abort beyond.
size_t on_data(char* p, size_t size, size_t n, void* userdata) {
    auto* s = static_cast<Sink*>(userdata);
    size_t len = size * n;
    if (static_cast<long>(s->body.size() + len) > s->limit) {
        s->overflow = true;
        return 0;
    }
    s->body.append(p, len);
    return len;
}

// K=urlencode(V).
std::string form_field(CURL* c, const char* k, const std::string& v) {
    char* e = curl_easy_escape(c, v.data(), static_cast<int>(v.size()));
    std::string out = std::string(k) + "=" + (e ? e : "");
    curl_free(e);
    return out;
}

// A provider code such as AADSTS7000215 found in TEXT, or empty.
// (A scan, not std::regex: g++ 12 warns inside <regex> under the sanitizers.)
std::string provider_code(const std::string& text) {
    static const std::string prefix = "AADSTS";
    for (std::size_t at = text.find(prefix); at != std::string::npos;
         at = text.find(prefix, at + 1)) {
        std::size_t end = at + prefix.size();
        while (end < text.size() && end - at - prefix.size() < 10 &&
               text[end] >= '0' && text[end] <= '9')
            ++end;
        if (end > at + prefix.size()) return text.substr(at, end - at);
    }
    return {};
}

// Keep only a short word of [A-Za-z0-9_.-] (the error field is untrusted).
std::string word(const std::string& v) {
    std::string out;
    for (char ch : v.substr(0, 64))
        out += (isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-') ? ch : '?';
    return out;
}

// Replace each SECRET (when not empty) in V by "[secret]".
void cut(std::string& v, const std::string& secret) {
    if (secret.empty()) return;
    for (size_t at; (at = v.find(secret)) != std::string::npos;) v.replace(at, secret.size(), "[secret]");
}

// Printable ASCII of V, at most 300 bytes, SECRET (when given) cut out.
std::string printable(std::string v, const std::string& secret = {}) {
    cut(v, secret);
    std::string out;
    for (char ch : v) {
        if (out.size() >= 300) break;
        out += (ch >= 0x20 && ch < 0x7f) ? ch : ' ';
    }
    return out;
}

// Wipe a string's bytes before it is freed.
void wipe(std::string& s) {
    volatile char* p = s.data();
    for (size_t i = 0; i < s.size(); i++) p[i] = 0;
    s.clear();
}

// expires_in as seconds: a number (a fraction rounded down) or a string of
// digits (some endpoints quote it); 0 when missing or of another form.
long expires_in_of(const nlohmann::json& j) {
    if (!j.contains("expires_in")) return 0;
    const nlohmann::json& v = j["expires_in"];
    if (v.is_number_unsigned()) {
        unsigned long long u = v.get<unsigned long long>();
        return u > static_cast<unsigned long long>(kMaxExpiresIn) ? kMaxExpiresIn : static_cast<long>(u);
    }
    if (v.is_number_integer()) return 0;  // negative
    if (v.is_number_float()) {
        double d = v.get<double>();
        return d >= 1 ? static_cast<long>(std::min<double>(d, kMaxExpiresIn)) : 0;
    }
    if (!v.is_string()) return 0;
    const std::string& t = v.get_ref<const std::string&>();
    if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos) return 0;
    return std::stol(t);
}

}  // namespace

// Parse a reply: 200 with access_token and expires_in, else the error.
FetchResult parse_token_reply(long http_status, const std::string& body) {
    FetchResult r;
    r.http_status = http_status;
    nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        r.error = http_status == 200 ? "reply_not_json" : "http_" + std::to_string(http_status);
        return r;
    }
    if (j.contains("error") && j["error"].is_string()) r.error = word(j["error"].get<std::string>());
    if (j.contains("error_description") && j["error_description"].is_string()) {
        r.code = provider_code(j["error_description"].get<std::string>());
        r.description = printable(j["error_description"].get<std::string>());
    }
    if (j.contains("error_codes") && j["error_codes"].is_array() && !j["error_codes"].empty() &&
        j["error_codes"][0].is_number_integer() && r.code.empty())
        r.code = "AADSTS" + std::to_string(j["error_codes"][0].get<long>());
    if (http_status != 200) {
        if (r.error.empty()) r.error = "http_" + std::to_string(http_status);
        return r;
    }
    if (!j.contains("access_token") || !j["access_token"].is_string() ||
        j["access_token"].get<std::string>().empty())
        return r.error = "no_access_token", r;
    long exp = expires_in_of(j);
    if (exp <= 0) return r.error = "no_expires_in", r;
    r.access_token = j["access_token"].get<std::string>();
    r.expires_in = std::min(exp, kMaxExpiresIn);
    r.ok = true;
    r.error.clear();
    return r;
}

// The request for a partner's application under the [oauth] settings.
FetchRequest request_for(const Partner& p, const OAuthConfig& o) {
    FetchRequest r;
    r.token_url = p.oauth_token_url;
    r.client_id = p.oauth_client_id;
    r.client_secret = p.oauth_client_secret;
    r.scope = p.oauth_scope;
    r.cafile = o.cafile;
    r.connect_timeout = o.connect_timeout;
    r.timeout = o.timeout;
    r.max_response_size = o.max_response_size;
    return r;
}

// One POST to the token URL.
FetchResult fetch_token(const FetchRequest& req) {
    FetchResult r;
    std::unique_ptr<CURL, void (*)(CURL*)> c(curl_easy_init(), curl_easy_cleanup);
    if (!c) return r.error = "curl_init", r;
    if (req.token_url.rfind("https://", 0) != 0) return r.error = "not_https", r;
    std::string body = form_field(c.get(), "grant_type", "client_credentials") + "&" +
                       form_field(c.get(), "client_id", req.client_id) + "&" +
                       form_field(c.get(), "client_secret", req.client_secret) + "&" +
                       form_field(c.get(), "scope", req.scope);
    Sink sink;
    sink.limit = req.max_response_size;
    CURL* h = c.get();
    curl_easy_setopt(h, CURLOPT_URL, req.token_url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, static_cast<long>(req.connect_timeout));
    curl_easy_setopt(h, CURLOPT_TIMEOUT, static_cast<long>(req.timeout));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!req.cafile.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, req.cafile.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_USERAGENT, req.user_agent.c_str());
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(h);
    wipe(body);
    if (sink.overflow) return wipe(sink.body), r.error = "reply_too_large", r;
    if (rc != CURLE_OK) {
        r.error = rc == CURLE_OPERATION_TIMEDOUT ? "timeout"
                  : rc == CURLE_COULDNT_CONNECT  ? "connect_refused"
                  : rc == CURLE_PEER_FAILED_VERIFICATION ? "tls_verify_failed"
                                                         : "curl_" + std::to_string(rc);
        r.description = printable(errbuf[0] ? errbuf : curl_easy_strerror(rc), req.client_secret);
        return wipe(sink.body), r;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    // An endpoint that echoes the request must not carry the secret into
    // the description: cut it out of the body before parsing.
    cut(sink.body, req.client_secret);
    cut(sink.body, form_field(h, "s", req.client_secret).substr(2));
    r = parse_token_reply(status, sink.body);
    wipe(sink.body);
    return r;
}

}  // namespace prm::oauth
