// probe.cpp - the dialogue of partner-relay-probe: one step after another.
//
// What: Session walks connect, (implicit TLS), greeting, EHLO, STARTTLS,
// certificate, EHLO, AUTH, the optional test message and QUIT over a Conn
// (conn.hpp), recording each step in a ProbeResult (probe.hpp).
//
// Contract: see probe.hpp. Credentials leave this process only in auth(),
// which refuses to run unless TLS is established (and, for an oauth2
// partner, the client secret in the token request, over verified https);
// the strings that carry them are wiped after use and listed as secrets, so
// that an echo of them in a server reply is redacted before it reaches a
// detail.
//
// Thread safety: no shared state. Limits: probe.hpp and conn.hpp.
#include "probe/probe.hpp"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "core/rfc5322.hpp"
#include "probe/cert.hpp"
#include "probe/conn.hpp"
#include "probe/oauth.hpp"

namespace prm::probe {
namespace {

struct X509Free { void operator()(X509* p) const { X509_free(p); } };

// Base64 of S (no line breaks).
std::string base64(std::string_view s) {
    std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
}

// Decode base64 S (a server's challenge); "" when it is not base64.
std::string unbase64(const std::string& s) {
    std::string out(s.size() / 4 * 3 + 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
    if (n < 0) return {};
    out.resize(static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '\0') out.pop_back();  // the padding's bytes
    return out;
}

// Overwrite a string that held a secret before it is freed.
void wipe(std::string& s) {
    if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
    s.clear();
}

// Wipes a string holding a secret when the scope ends.
struct Wiper {
    std::string& s;
    ~Wiper() { wipe(s); }
};

// The local host name for EHLO, or "localhost" when it is unusable.
std::string local_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
    for (const char* p = buf; *p; ++p)
        if (!std::isalnum(static_cast<unsigned char>(*p)) && *p != '.' && *p != '-') return "localhost";
    return buf;
}

// SMTP-escape the body: CRLF line ends and dot-stuffing (RFC 5321 4.5.2).
std::string smtp_data(std::string_view text) {
    std::string out;
    bool bol = true;
    for (char c : text) {
        if (bol && c == '.') out += '.';
        if (c == '\n') out += '\r';
        out += c;
        bol = c == '\n';
    }
    if (!bol) out += "\r\n";
    return out + ".\r\n";
}

// The dialogue with one partner relay.
class Session {
public:
    Session(const Partner& p, const OAuthConfig& oc, const ProbeOptions& o, ProbeResult& r)
        : p_(p), oauth_(oc), opts_(o), r_(r), conn_(o.timeout) {
        secrets_ = {p.password, base64(p.password), p.oauth_client_secret};
    }
    ~Session() {
        for (auto& s : secrets_) wipe(s);
        wipe(token_);
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void run();

private:
    std::string clean(std::string_view s) const { return sanitize(s, secrets_); }
    bool fail(const char* step, const std::string& detail, ExitCode code);
    bool command(const char* step, const std::string& line, Reply& reply, ExitCode code);
    bool make_ctx();
    bool handshake(const char* step);
    bool certificate();
    bool greeting();
    bool ehlo(const char* step, Ehlo& e);
    bool starttls(const Ehlo& e);
    bool auth(const Ehlo& e);
    bool auth_plain();
    bool auth_login();
    bool token_step();
    bool auth_oauth(const Ehlo& e);
    bool auth_xoauth2();
    void send_test();
    void quit();

    const Partner& p_;
    const OAuthConfig& oauth_;
    const ProbeOptions& opts_;
    ProbeResult& r_;
    Conn conn_;
    SslCtxPtr ctx_;
    std::vector<std::string> secrets_;
    std::string token_;  // the access token of an oauth2 partner (wiped)
    bool greeted_ = false;
    bool authenticated_ = false;
};

// Record a failing step; returns false so callers can `return fail(...)`.
bool Session::fail(const char* step, const std::string& detail, ExitCode code) {
    r_.add(step, StepStatus::fail, detail, code);
    return false;
}

// Send LINE (with CRLF) and read the reply; I/O errors fail STEP with CODE.
bool Session::command(const char* step, const std::string& line, Reply& reply, ExitCode code) {
    std::string err;
    if (!conn_.write(line + "\r\n", err) || !conn_.read_reply(reply, err))
        return fail(step, clean(err), code);
    return true;
}

// The client TLS context: trust anchors from --cafile or the system store.
bool Session::make_ctx() {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx_) return fail("tls", "cannot create a TLS context: " + ssl_error_text(), ExitCode::internal);
    // Verification runs during the handshake but never aborts it: the
    // certificate step decides, by the partner's tls level, what a failure means.
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_NONE, nullptr);
    int ok = opts_.cafile.empty()
                 ? SSL_CTX_set_default_verify_paths(ctx_.get())
                 : SSL_CTX_load_verify_locations(ctx_.get(), opts_.cafile.c_str(), nullptr);
    if (ok != 1) {
        std::string where = opts_.cafile.empty() ? "the system CA store" : opts_.cafile;
        return fail("config", "cannot load " + where + ": " + ssl_error_text(), ExitCode::config);
    }
    return true;
}

// The TLS handshake (implicit TLS, or after STARTTLS), then the certificate.
bool Session::handshake(const char* step) {
    std::string err;
    if (!conn_.start_tls(ctx_.get(), p_.host, err)) {
        std::string hint = r_.tls_mode == "implicit" ? " (is this a STARTTLS port? try --starttls)" : "";
        return fail(step, "TLS handshake failed: " + clean(err) + hint, ExitCode::tls);
    }
    r_.tls_version = SSL_get_version(conn_.ssl());
    r_.tls_cipher = SSL_get_cipher_name(conn_.ssl());
    r_.add(step, StepStatus::ok, r_.tls_version + " " + r_.tls_cipher);
    return certificate();
}

// Report the server certificate; under verify/secure/fingerprint a
// failure stops here (no credentials are sent), under encrypt it warns.
bool Session::certificate() {
    CertInfo& c = r_.cert;
    c.checked_name = p_.host;
    std::unique_ptr<X509, X509Free> cert(SSL_get1_peer_certificate(conn_.ssl()));
    if (cert) {
        read_cert(cert.get(), c, [this](std::string_view s) { return clean(s); });
        long v = SSL_get_verify_result(conn_.ssl());
        c.verified = v == X509_V_OK;
        if (!c.verified) c.verify_error = X509_verify_cert_error_string(v);
        if (p_.tls == TlsLevel::fingerprint) {
            // Postfix's fingerprint level: the digest decides, not the chain.
            c.checked_name = "tls_fingerprint";
            c.verified = std::find(p_.tls_fingerprints.begin(), p_.tls_fingerprints.end(), c.sha256) !=
                         p_.tls_fingerprints.end();
            c.verify_error = c.verified ? "" : "SHA-256 fingerprint " + c.sha256 + " is not in tls_fingerprint";
        }
    } else {
        c.verify_error = "the server sent no certificate";
    }
    std::string names;
    for (const auto& n : c.names) names += (names.empty() ? "" : ", ") + n;
    std::string what = c.present ? "names " + (names.empty() ? "(none; CN " + c.common_name + ")" : names) +
                                       "; subject " + c.subject + "; issuer " + c.issuer + "; expires " +
                                       c.not_after + " (" + std::to_string(c.days_left) + " days)"
                                 : "no certificate";
    if (c.present && c.expires_soon) {
        std::string w = c.days_left < 0 ? "the relay certificate expired on " + c.not_after
                                         : "the relay certificate expires in " + std::to_string(c.days_left) +
                                               " days (" + c.not_after + ")";
        r_.warnings.push_back(w);
    }
    if (c.verified) {
        r_.add("certificate", c.expires_soon ? StepStatus::warn : StepStatus::ok,
               "verified for " + c.checked_name + "; " + what);
        return true;
    }
    std::string why = "NOT verified for " + c.checked_name + " (" + c.verify_error + "); " + what;
    if (p_.tls == TlsLevel::encrypt) {
        r_.add("certificate", StepStatus::warn, why + "; tls = encrypt does not require it");
        return true;
    }
    return fail("certificate", why + "; tls = " + tls_level_name(p_.tls) + " requires it", ExitCode::certificate);
}

// Read the greeting: 220 expected.
bool Session::greeting() {
    Reply reply;
    std::string err;
    if (!conn_.read_reply(reply, err)) {
        std::string hint = r_.tls_mode == "starttls" && err.rfind("timed out", 0) == 0
                               ? " (is this an implicit TLS port? try --implicit-tls)"
                               : "";
        return fail("greeting", "no greeting: " + clean(err) + hint, ExitCode::greeting);
    }
    greeted_ = true;
    if (reply.code != 220) return fail("greeting", clean(reply.summary()), ExitCode::greeting);
    r_.add("greeting", StepStatus::ok, clean(reply.summary()));
    return true;
}

// EHLO, recording what the server offers.
bool Session::ehlo(const char* step, Ehlo& e) {
    std::string name = opts_.helo_name.empty() ? local_name() : opts_.helo_name;
    Reply reply;
    if (!command(step, "EHLO " + name, reply, ExitCode::greeting)) return false;
    if (reply.code != 250) return fail(step, "EHLO refused: " + clean(reply.summary()), ExitCode::greeting);
    e = parse_ehlo(reply);
    std::string offers = e.starttls ? "STARTTLS" : "no STARTTLS";
    if (e.auth) {
        offers += ", AUTH";
        for (const auto& m : e.mechs) offers += " " + clean(m);
    } else {
        offers += ", no AUTH";
    }
    r_.add(step, StepStatus::ok, offers);
    return true;
}

// STARTTLS (RFC 3207): required; nothing may be pipelined behind the 220.
bool Session::starttls(const Ehlo& e) {
    if (!e.starttls) return fail("starttls", "the server does not offer STARTTLS", ExitCode::tls);
    Reply reply;
    if (!command("starttls", "STARTTLS", reply, ExitCode::tls)) return false;
    if (reply.code != 220) return fail("starttls", "STARTTLS refused: " + clean(reply.summary()), ExitCode::tls);
    // Bytes after the 220 came in clear and would be read as if protected
    // (the STARTTLS injection attack): refuse to go on.
    if (conn_.has_buffered())
        return fail("starttls", "the server sent data after its STARTTLS reply", ExitCode::tls);
    return handshake("starttls");
}

// AUTH with the partner's credentials, only ever over TLS.
bool Session::auth(const Ehlo& e) {
    if (!conn_.tls())  // the dialogue never gets here in clear; keep it so
        return fail("auth", "refusing to send credentials: TLS is not established", ExitCode::auth);
    if (p_.auth == AuthKind::oauth2) return auth_oauth(e);
    if (p_.username.empty() || p_.password.empty()) {
        r_.auth_result = "skipped";
        r_.add("auth", StepStatus::skip, "the entry has no username or password");
        return true;
    }
    if (!e.auth) return fail("auth", "the server does not offer AUTH", ExitCode::auth);
    auto offered = [&](const char* m) { return std::find(e.mechs.begin(), e.mechs.end(), m) != e.mechs.end(); };
    std::string mech = opts_.auth_mechanism;
    if (mech.empty()) mech = offered("PLAIN") ? "PLAIN" : offered("LOGIN") ? "LOGIN" : "";
    if (mech.empty() || !offered(mech.c_str())) {
        std::string list;
        for (const auto& m : e.mechs) list += " " + clean(m);
        std::string want = mech.empty() ? "PLAIN or LOGIN" : mech;
        return fail("auth", "no usable mechanism: want " + want + ", server offers" + list, ExitCode::auth);
    }
    r_.auth_mechanism = mech;
    r_.auth_user = clean(p_.username);
    r_.auth_result = "failed";
    if (!(mech == "PLAIN" ? auth_plain() : auth_login())) return false;
    r_.auth_result = "ok";
    authenticated_ = true;
    r_.add("auth", StepStatus::ok, mech + " accepted for user " + r_.auth_user);
    return true;
}

// AUTH PLAIN with an initial response (RFC 4616).
bool Session::auth_plain() {
    std::string payload = std::string(1, '\0') + p_.username + '\0' + p_.password;
    std::string line = "AUTH PLAIN " + base64(payload);
    secrets_.push_back(base64(payload));
    wipe(payload);
    Reply reply;
    bool io = command("auth", line, reply, ExitCode::auth);
    wipe(line);
    if (!io) return false;
    if (reply.code != 235) return fail("auth", "PLAIN rejected: " + clean(reply.summary()), ExitCode::auth);
    return true;
}

// AUTH LOGIN: user name and password each answer a 334 challenge.
bool Session::auth_login() {
    Reply reply;
    if (!command("auth", "AUTH LOGIN", reply, ExitCode::auth)) return false;
    if (reply.code != 334) return fail("auth", "LOGIN refused: " + clean(reply.summary()), ExitCode::auth);
    if (!command("auth", base64(p_.username), reply, ExitCode::auth)) return false;
    if (reply.code != 334) return fail("auth", "LOGIN user name refused: " + clean(reply.summary()), ExitCode::auth);
    std::string line = base64(p_.password);
    bool io = command("auth", line, reply, ExitCode::auth);
    wipe(line);
    if (!io) return false;
    if (reply.code != 235) return fail("auth", "LOGIN rejected: " + clean(reply.summary()), ExitCode::auth);
    return true;
}

// The token of an oauth2 partner, fetched as the broker fetches it.
bool Session::token_step() {
    std::string missing;
    for (const auto& [key, v] : {std::pair{"oauth_client_id", &p_.oauth_client_id},
                                 {"oauth_client_secret", &p_.oauth_client_secret},
                                 {"oauth_tenant or oauth_token_url", &p_.oauth_token_url}})
        if (v->empty()) missing += (missing.empty() ? "" : ", ") + std::string(key);
    if (!missing.empty()) {
        r_.add("token", StepStatus::skip, "not fetched: the entry has no " + missing);
        return true;
    }
    TokenInfo& t = r_.token = opts_.tokens ? opts_.tokens->fetch(p_, oauth_, opts_.timeout, token_)
                                           : fetch_partner_token(p_, oauth_, opts_.timeout, token_);
    t.description = clean(t.description);
    t.endpoint = clean(t.endpoint);
    // Another partner's request answered for this one too (--all).
    std::string shared = t.fetched_for.empty() || t.fetched_for == p_.id
                             ? "" : " (the answer to partner " + t.fetched_for + "'s request: same application)";
    if (!t.ok) {
        r_.diagnosis = t.diagnosis;
        std::string d = t.http_status ? "HTTP " + std::to_string(t.http_status) + " " : "";
        d += t.error + (t.code.empty() ? "" : " " + t.code) + " from " + clean(p_.oauth_token_host);
        return fail("token", d + (t.description.empty() ? "" : ": " + t.description) + shared, ExitCode::auth);
    }
    secrets_.push_back(token_);
    std::string d = "token from " + clean(p_.oauth_token_host) + ", expires in " + std::to_string(t.expires_in) + " s";
    std::string roles;
    for (const auto& role : t.roles) roles += (roles.empty() ? "" : " ") + clean(role);
    if (t.jwt) d += ", roles: " + (roles.empty() ? "none" : roles);
    d += shared;
    // Microsoft 365 refuses a token without the SMTP.SendAsApp role: say so
    // before the relay's bare 535 does.
    bool m365 = p_.oauth_scope == kDefaultOAuthScope;
    if (t.jwt && m365 && std::find(t.roles.begin(), t.roles.end(), "SMTP.SendAsApp") == t.roles.end()) {
        r_.warnings.push_back("the token has no SMTP.SendAsApp role: the partner's admin grants that application "
                              "permission (Office 365 Exchange Online) and admin consent");
        r_.add("token", StepStatus::warn, d);
    } else {
        r_.add("token", StepStatus::ok, d);
    }
    return true;
}

// AUTH XOAUTH2 for an oauth2 partner (no password mechanism, ever).
bool Session::auth_oauth(const Ehlo& e) {
    if (p_.username.empty() || token_.empty()) {
        r_.auth_result = "skipped";
        r_.add("auth", StepStatus::skip, p_.username.empty() ? "the entry has no username (the mailbox)" : "no token");
        return true;
    }
    if (!e.auth || std::find(e.mechs.begin(), e.mechs.end(), "XOAUTH2") == e.mechs.end()) {
        std::string list;
        for (const auto& m : e.mechs) list += " " + clean(m);
        r_.diagnosis = {"the relay does not offer XOAUTH2 (it offers" + (list.empty() ? " no AUTH" : list) + ")",
                        "an oauth2 partner needs a relay that takes XOAUTH2, such as smtp.office365.com port 587: "
                        "check host and port, or use auth = password for this relay"};
        return fail("auth", "the server does not offer XOAUTH2; it offers" + (list.empty() ? " no AUTH" : list),
                    ExitCode::auth);
    }
    r_.auth_mechanism = "XOAUTH2";
    r_.auth_user = clean(p_.username);
    r_.auth_result = "failed";
    if (!auth_xoauth2()) return false;
    r_.auth_result = "ok";
    authenticated_ = true;
    r_.add("auth", StepStatus::ok, "XOAUTH2 (" + r_.auth_form + ") accepted for user " + r_.auth_user);
    return true;
}

// base64(user=U ^A auth=Bearer T ^A ^A), with AUTH when the command fits in
// 512 bytes, else after the server's "334 " (Postfix does the same); a JSON
// error challenge gets the empty response, and the final reply decides.
bool Session::auth_xoauth2() {
    std::string payload = "user=" + p_.username + "\x01" "auth=Bearer " + token_ + "\x01\x01";
    std::string b64 = base64(payload);
    wipe(payload);
    secrets_.push_back(b64);
    std::string line = "AUTH XOAUTH2 " + b64;
    Wiper w1{b64}, w2{line};
    bool two_step = line.size() + 2 > 512;
    r_.auth_form = two_step ? "two-step" : "one-step";
    Reply reply;
    if (!command("auth", two_step ? "AUTH XOAUTH2" : line, reply, ExitCode::auth)) return false;
    if (two_step && reply.code == 334 && !command("auth", b64, reply, ExitCode::auth)) return false;
    std::string challenge;
    if (reply.code == 334) {
        challenge = "error challenge " + clean(unbase64(reply.lines.empty() ? "" : reply.lines[0])) + ", then ";
        if (!command("auth", "", reply, ExitCode::auth)) return false;
    }
    if (reply.code == 235) return true;
    std::string said = clean(reply.summary());
    r_.diagnosis = diagnose_xoauth2(reply.code, said, p_);
    return fail("auth", "XOAUTH2 rejected: " + challenge + said, ExitCode::auth);
}

// The test message: partner sender as envelope sender and From.
void Session::send_test() {
    if (opts_.send_test.empty()) return;
    if (p_.sender.empty()) return r_.add("send", StepStatus::skip, "the entry has no sender");
    if (!authenticated_) return r_.add("send", StepStatus::skip, "not sent: not authenticated");
    if (!valid_addr_spec(opts_.send_test))
        return (void)fail("send", "invalid recipient address", ExitCode::send);

    unsigned char rnd[8] = {};
    RAND_bytes(rnd, sizeof rnd);
    char id[17];
    for (int i = 0; i < 8; ++i) std::snprintf(id + 2 * i, 3, "%02x", rnd[i]);
    std::string domain = p_.sender.substr(p_.sender.rfind('@') + 1);
    std::string msgid = "<" + std::string(id) + ".probe@" + domain + ">";
    char date[64];
    std::time_t now = std::time(nullptr);
    struct tm tm {};
    gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);

    std::string text = "From: <" + p_.sender + ">\nTo: <" + opts_.send_test + ">\nSubject: partner-relay-probe test message for partner " +
                       p_.id + "\nDate: " + date + "\nMessage-ID: " + msgid +
                       "\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n"
                       "Auto-Submitted: auto-generated\n\n"
                       "This is a test message sent by partner-relay-probe(8) through the\n"
                       "custom SMTP relay of partner " + p_.id + " (" + p_.host + " port " +
                       std::to_string(*p_.port) + ").\nNo action is needed.\n";
    Reply reply;
    const std::pair<std::string, int> cmds[] = {{"MAIL FROM:<" + p_.sender + ">", 250},
                                                {"RCPT TO:<" + opts_.send_test + ">", 250},
                                                {"DATA", 354}};
    for (const auto& [cmd, want] : cmds) {
        if (!command("send", cmd, reply, ExitCode::send)) return;
        bool ok = reply.code == want || (want == 250 && reply.code == 251);
        if (!ok) return (void)fail("send", cmd.substr(0, 4) + " refused: " + clean(reply.summary()), ExitCode::send);
    }
    std::string err;
    if (!conn_.write(smtp_data(text), err) || !conn_.read_reply(reply, err))
        return (void)fail("send", clean(err), ExitCode::send);
    if (reply.code != 250) return (void)fail("send", "message refused: " + clean(reply.summary()), ExitCode::send);
    r_.message_id = msgid;
    r_.add("send", StepStatus::ok, "accepted for " + opts_.send_test + " (" + msgid + "): " + clean(reply.summary()));
}

// QUIT, best effort: a problem here is a warning, never a failure.
void Session::quit() {
    if (!greeted_ || !conn_.connected()) return;
    Reply reply;
    std::string err;
    if (!conn_.write("QUIT\r\n", err) || !conn_.read_reply(reply, err))
        return r_.add("quit", StepStatus::warn, clean(err));
    r_.add("quit", reply.code == 221 ? StepStatus::ok : StepStatus::warn, clean(reply.summary()));
}

// The whole dialogue; stops at the first failing step.
void Session::run() {
    if (!make_ctx()) return;
    if (p_.auth == AuthKind::oauth2 && !token_step()) return;
    std::string detail;
    if (!conn_.connect(p_.host, *p_.port, detail)) return (void)fail("connect", detail, ExitCode::connect);
    r_.add("connect", StepStatus::ok, detail);

    bool implicit = r_.tls_mode == "implicit";
    if (implicit && !handshake("tls")) return;
    if (!greeting()) return quit();
    Ehlo e;
    if (!ehlo("ehlo", e)) return quit();
    if (!implicit && (!starttls(e) || !ehlo("ehlo-tls", e))) return quit();
    if (auth(e)) send_test();
    quit();
}

}  // namespace

const char* exit_name(ExitCode c) {
    switch (c) {
        case ExitCode::ok: return "ok";
        case ExitCode::internal: return "internal";
        case ExitCode::usage: return "usage";
        case ExitCode::config: return "config";
        case ExitCode::connect: return "connect";
        case ExitCode::greeting: return "greeting";
        case ExitCode::tls: return "tls";
        case ExitCode::certificate: return "certificate";
        case ExitCode::auth: return "auth";
        case ExitCode::send: return "send";
    }
    return "?";
}

const char* status_name(StepStatus s) {
    switch (s) {
        case StepStatus::ok: return "ok";
        case StepStatus::warn: return "warn";
        case StepStatus::fail: return "fail";
        case StepStatus::skip: return "skip";
    }
    return "?";
}

void ProbeResult::add(std::string name, StepStatus st, std::string detail, ExitCode on_fail) {
    if (st == StepStatus::fail && !failed()) exit = on_fail;
    steps.push_back(Step{std::move(name), st, std::move(detail)});
}

bool ProbeResult::failed() const {
    return std::any_of(steps.begin(), steps.end(), [](const Step& s) { return s.status == StepStatus::fail; });
}

ProbeResult config_failure(const std::string& partner, const std::string& why) {
    ProbeResult r;
    r.partner = partner;
    r.add("config", StepStatus::fail, why, ExitCode::config);
    return r;
}

ProbeResult run_probe(const Snapshot& snap, const Partner& p, const ProbeOptions& opts) {
    ProbeResult r;
    r.partner = p.id;
    r.host = p.host;
    r.port = p.port ? *p.port : -1;
    r.tls_level = tls_level_name(p.tls);
    bool implicit = opts.tls_mode == TlsMode::automatic ? p.port && p.implicit_tls(snap.config)
                                                        : opts.tls_mode == TlsMode::implicit;
    r.tls_mode = implicit ? "implicit" : "starttls";
    r.active = p.active;
    if (!p.active) r.inactive_reason = p.reason;
    r.auth_kind = auth_kind_name(p.auth);

    // Without host and port there is nothing to probe; an entry that lacks
    // only credentials or sender is probed as far as it goes.
    if (p.host.empty() || !p.port) {
        r.add("config", StepStatus::fail,
              "partner " + p.id + " is inactive (" + p.reason + "): host and port are needed to probe it",
              ExitCode::config);
        return r;
    }
    // The guard's reason is a private address: no connection, no AUTH there.
    if (p.host_guarded && !opts.force) {
        r.add("config", StepStatus::fail,
              "partner " + p.id + " is inactive (" + p.reason +
                  "): not connecting to a host the guard refused (--force to probe it anyway)",
              ExitCode::config);
        return r;
    }
    // tls = encrypt, as the entry asks: said once more where it matters.
    if (p.tls == TlsLevel::encrypt)
        r.warnings.push_back("tls = encrypt: credentials go to an unverified server (any certificate is accepted)");
    if (p.active) r.add("config", StepStatus::ok, "partner " + p.id + " is active");
    else r.add("config", StepStatus::warn, "partner " + p.id + " is inactive (" + p.reason + "); probing anyway");

    Session(p, snap.config.oauth, opts, r).run();
    if (!r.failed() && !p.active) r.exit = ExitCode::config;
    return r;
}

}  // namespace prm::probe
