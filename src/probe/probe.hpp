// probe.hpp - partner-relay-probe: test one partner relay the way Postfix will.
//
// What: connect to a partner's host:port, read the greeting, EHLO, STARTTLS
// (or implicit TLS), check the certificate, EHLO again, AUTH with the
// partner's credentials, optionally send a test message, QUIT. For an
// auth = oauth2 partner a token step comes first (a client-credentials
// token fetched as partner-relay-tokend fetches it, oauth.hpp) and AUTH is
// XOAUTH2 with that token; a failure of either carries a Diagnosis (what
// is wrong, what to fix). Every step
// is recorded (name, status, detail) in a ProbeResult, which main.cpp
// renders as text, as a JSON object or as one row of the --all table.
//
// Contract:
//   - Credentials are sent only over an established TLS session; the
//     password, the client secret and the token never appear in a
//     ProbeResult (server replies are sanitised and any echo of a secret
//     is redacted).
//   - The first failing step decides the exit code (ExitCode below); the
//     steps after it are not run (QUIT is still sent when possible).
//   - An inactive partner is still probed when it has a host and a port, so
//     an admin can test a relay before completing the entry; the steps that
//     need the missing fields are skipped and the result is at best
//     ExitCode::config ("works, but the entry is incomplete").
//   - A partner the host guard deactivated (its host is or resolves to a
//     private address) is not connected to, so no credentials go there,
//     unless ProbeOptions::force: the result is ExitCode::config.
//
// Thread safety: run_probe() shares nothing between calls except
// OpenSSL's own (thread-safe in OpenSSL 3) global state.
//
// Limits: each network operation (connect, one reply, one write, the TLS
// handshake) is bounded by ProbeOptions::timeout; one reply line by
// kMaxReplyLine bytes, one reply by kMaxReplyLines lines, a whole session
// by kMaxSessionBytes bytes read. Name resolution uses getaddrinfo(3) and
// is bounded by the resolver's own timeouts.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/partners.hpp"
#include "core/snapshot.hpp"
#include "probe/oauth.hpp"

namespace prm::probe {

inline constexpr std::size_t kMaxReplyLine = 4096;
inline constexpr std::size_t kMaxReplyLines = 100;
inline constexpr std::size_t kMaxSessionBytes = 1024 * 1024;
inline constexpr std::size_t kMaxDetail = 300;  // characters kept of a server reply

// Exit codes, in the order of the dialogue; --all exits with the highest.
enum class ExitCode : int {
    ok = 0,
    internal = 1,   // out of memory, OpenSSL could not be initialised
    usage = 2,      // bad command line
    config = 3,     // bad config, unknown partner, incomplete partner entry
    connect = 4,    // name resolution, connection refused, connect timeout
    greeting = 5,   // no/negative greeting, EHLO refused, connection lost
    tls = 6,        // STARTTLS not offered or refused, handshake failed
    certificate = 7,  // chain, name or fingerprint does not verify (tls = verify|secure|fingerprint)
    auth = 8,       // AUTH not offered, no usable mechanism, rejected; no OAuth2 token
    send = 9,       // the test message was not accepted
};

// "ok", "config", ... (the names used in the table and in JSON).
const char* exit_name(ExitCode c);

enum class TlsMode { automatic, starttls, implicit };

struct ProbeOptions {
    std::string send_test;   // recipient of a test message; empty: none
    std::string cafile;      // trust anchors; empty: the system CA store
    int timeout = 30;        // seconds per network operation
    TlsMode tls_mode = TlsMode::automatic;
    std::string auth_mechanism;  // "PLAIN", "LOGIN" or empty (as offered)
    std::string helo_name;   // EHLO argument; empty: the system host name
    bool force = false;      // probe a partner the host guard deactivated
    TokenCache* tokens = nullptr;  // --all: one token request per application
};

enum class StepStatus { ok, warn, fail, skip };
const char* status_name(StepStatus s);

struct Step {
    std::string name;    // config, token, connect, tls, greeting, ehlo, starttls,
                         // certificate, ehlo-tls, auth, send, quit
    StepStatus status = StepStatus::ok;
    std::string detail;  // sanitised, never a secret
};

// Days before expiry from which the probe warns (cron: --all --json).
inline constexpr int kExpiryWarnDays = 14;

struct CertInfo {
    bool present = false;
    std::string subject, issuer, not_after;  // RFC 2253 names, ISO 8601 time
    std::vector<std::string> names;  // subjectAltName DNS names and IP addresses
    std::string common_name;     // subject CN ("" when none)
    std::string sha256;          // SHA-256 fingerprint "AA:BB:..." (tls_fingerprint form)
    long days_left = 0;          // whole days until notAfter (negative: expired)
    bool expires_soon = false;   // expired, or expires within kExpiryWarnDays
    bool verified = false;       // chain and name (or the fingerprint) verified
    std::string verify_error;    // why not, when !verified
    std::string checked_name;    // host name or IP the certificate was checked for
};

struct ProbeResult {
    std::string partner;
    std::string host;
    int port = -1;               // -1: no port in the entry
    std::string tls_level;       // encrypt|verify|secure
    std::string tls_mode;        // starttls|implicit
    bool active = false;
    std::string inactive_reason;

    std::vector<Step> steps;
    std::string tls_version, tls_cipher;
    CertInfo cert;
    std::string auth_kind = "password";  // password|oauth2 (the entry's auth)
    TokenInfo token;             // the token step (oauth2 partners)
    std::string auth_mechanism;  // the one used
    std::string auth_form;       // XOAUTH2: one-step|two-step
    std::string auth_user;
    std::string auth_result = "not attempted";  // ok|failed|skipped|not attempted
    std::string message_id;      // of the test message, when sent
    Diagnosis diagnosis;         // of the failure, when the probe knows one
    std::vector<std::string> warnings;  // unverified relay, certificate expiring
    ExitCode exit = ExitCode::ok;

    // Record a step; a failing step also sets the exit code (first wins).
    void add(std::string name, StepStatus st, std::string detail, ExitCode on_fail = ExitCode::ok);
    // True once a step has failed.
    bool failed() const;
};

// Probe PARTNER (from SNAP) with OPTS. Never throws for anything the
// network or the configuration can cause.
ProbeResult run_probe(const Snapshot& snap, const Partner& partner, const ProbeOptions& opts);

// A result for a partner id that could not be probed at all (unknown id).
ProbeResult config_failure(const std::string& partner, const std::string& why);

// Render as human-readable lines (one per step).
std::string render_text(const ProbeResult& r);
// Render as one JSON object (no trailing newline).
std::string render_json(const ProbeResult& r);
// Render the --all table: header plus one row per result.
std::string render_table(const std::vector<ProbeResult>& results);

// Escape S as the inside of a JSON string (RFC 8259): quotes, backslash,
// control characters; bytes >= 0x80 are passed through when they form
// valid UTF-8 and replaced by U+FFFD otherwise.
std::string json_escape(std::string_view s);

// Make server text printable: control characters become '?', the result is
// cut to MAX characters, and every occurrence of each SECRETS entry (empty
// ones ignored) becomes "[redacted]".
std::string sanitize(std::string_view text, const std::vector<std::string>& secrets,
                     std::size_t max = kMaxDetail);

}  // namespace prm::probe
