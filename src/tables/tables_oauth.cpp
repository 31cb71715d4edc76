// tables_oauth.cpp - the Postfix lines of the partner-oauth transport.
//
// What: the master.cf -o settings of the transport that OAuth2 partners
// (auth = oauth2) are routed to, and the main.cf lines that go with it.
// They mirror contrib/postfix/master.cf.fragment and main.cf.fragment
// (tests/integration/test_tables.py checks that the printed lines build the
// same configuration as the fragments).
//
// Contract: pure functions of the configuration and the queue directory.
// The transport asks partner-relay-tokend(8) through socketmap for
// "username:token" by envelope sender. Postfix connects to
// socketmap:unix:PATH at lookup time relative to the queue directory, so a
// socket below it (private/NAME) works for a chrooted smtp(8) as well; an
// absolute path outside it works only unchrooted. The socket's NAME must
// not be a master.cf service name (partner-relay-tokend(8), BUGS).
//
// Thread safety: pure. Limits: none.
#include <string>
#include <vector>

#include "tables/tables.hpp"

namespace prm {

namespace {

constexpr const char* kDefaultQueueDir = "/var/spool/postfix";

// Microsoft 365: 3 concurrent connections and 30 messages a minute per
// mailbox. Postfix caps per transport and next hop: concurrency 3, and one
// delivery every 2 seconds (which also means one at a time).
constexpr const char* kOAuthConcurrency = "3";
constexpr const char* kOAuthRateDelay = "2s";

}  // namespace

// socketmap:unix:private/NAME:xoauth2 (or the absolute path) for [oauth] socket.
std::string oauth_password_map(const Config& cfg, const std::string& queue_dir) {
    std::string q = queue_dir.empty() ? kDefaultQueueDir : queue_dir;
    while (q.size() > 1 && q.back() == '/') q.pop_back();
    std::string path = cfg.oauth.socket;
    if (path.size() > q.size() + 1 && path.compare(0, q.size(), q) == 0 && path[q.size()] == '/')
        path = path.substr(q.size() + 1);
    return "socketmap:unix:" + path + ":xoauth2";
}

// The -o settings of the partner-oauth transport.
std::vector<std::string> oauth_transport_params(const Config& cfg, const std::string& dir,
                                                const std::string& fallback,
                                                const std::string& queue_dir) {
    std::vector<std::string> v = {
        "syslog_name=postfix/" + cfg.partner_oauth_transport,
        "smtp_sasl_auth_enable=yes",
        "smtp_sasl_password_maps=" + oauth_password_map(cfg, queue_dir),
        "smtp_sender_dependent_authentication=yes",
        // Only XOAUTH2; a plaintext mechanism, so noanonymous alone.
        "smtp_sasl_mechanism_filter=xoauth2",
        "smtp_sasl_security_options=noanonymous",
        "smtp_sasl_tls_security_options=noanonymous",
        "smtp_sasl_auth_soft_bounce=yes",
        // A bearer token goes only to a verified server.
        "smtp_tls_security_level=secure",
        "smtp_tls_policy_maps=${default_database_type}:" + dir + "/tls_policy",
        "smtp_tls_fingerprint_digest=sha256"};
    // [milter] relay_cafile, as on the password transports: the only CA
    // bundle relays are verified against, else the system store.
    if (cfg.relay_cafile.empty()) {
        v.push_back("smtp_tls_CApath=/etc/ssl/certs");
    } else {
        v.push_back("smtp_tls_CAfile=" + cfg.relay_cafile);
        v.push_back("smtp_tls_CApath=");
    }
    for (std::string rest : {std::string("smtp_connect_timeout=5s"), std::string("smtp_helo_timeout=10s"),
                             "smtp_header_checks=regexp:" + dir + "/smtp_header_checks",
                             "smtp_reply_filter=regexp:" + dir + "/smtp_reply_filter",
                             "smtp_fallback_relay=" + fallback})
        v.push_back(std::move(rest));
    return v;
}

// postconf -e line: XOAUTH2 off for the site's own transports, M365 caps.
std::string oauth_main_lines(const Config& cfg) {
    const std::string& t = cfg.partner_oauth_transport;
    return "# main.cf: no password as an XOAUTH2 token elsewhere; Microsoft 365 caps "
           "(per next hop)\n"
           "postconf -e 'smtp_sasl_mechanism_filter = !xoauth2, static:rest' '" +
           t + "_destination_concurrency_limit = " + kOAuthConcurrency + "' '" + t +
           "_destination_rate_delay = " + kOAuthRateDelay + "'\n";
}

}  // namespace prm
