// config_oauth.cpp - the [oauth] section: settings of partner-relay-tokend(8).
//
// What: the key table of [oauth] (socket, its mode and group, user, pid
// file, CA bundle, timeouts, refresh timing, fetch concurrency, reply bound,
// metrics file), in
// the same form as config.cpp's table, so -n, the man page test and the
// parser treat it like [milter]; and the one check across keys: the
// socket's name must not be a master.cf service name.
//
// Contract: every value is validated here; the milter and the tables tool
// read the section too (one main config for every program) and ignore it.
//
// Thread safety: immutable tables, pure functions.
#include <sys/un.h>

#include <string>

#include "core/config_keys.hpp"
#include "core/ini.hpp"

namespace prm {
namespace keys {
namespace {

#define O(field) [](const Config& c) { return std::string(c.oauth.field); }
#define ON(field) [](const Config& c) { return std::to_string(c.oauth.field); }

// An absolute path that fits a UNIX socket address.
bool valid_socket_path(const std::string& v) {
    return !v.empty() && v[0] == '/' && valid_token(v) && v.size() < sizeof(sockaddr_un{}.sun_path);
}

// An absolute path or empty (meaning "none").
bool valid_optional_path(const std::string& v) { return v.empty() || (v[0] == '/' && valid_token(v)); }

const std::vector<KeyDef> kOAuthKeys = {
    {{"oauth", "socket", "path", PRM_QUEUEDIR "/private/partner-relay-tokens", false,
      "the socketmap listener Postfix's smtp(8) asks for tokens, below the Postfix queue "
      "directory (socketmap:unix:private/NAME)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute path of at most 107 bytes";
         return valid_socket_path(v) && (c.oauth.socket = v, true);
     },
     O(socket)},
    {{"oauth", "socket_mode", "mode", "0660", false, "octal mode of the socketmap socket"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an octal mode from 000 to 0777, e.g. 0660";
         return parse_mode(v, c.oauth.socket_mode);
     },
     [](const Config& c) { return mode_text(c.oauth.socket_mode); }},
    {{"oauth", "socket_group", "string", "postfix", false,
      "group of the socketmap socket (Postfix's smtp(8) must be in it); empty: the broker "
      "user's group"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a group name";
         return (v.empty() || valid_token(v)) && (c.oauth.socket_group = v, true);
     },
     O(socket_group)},
    {{"oauth", "user", "string", "", false,
      "user the broker runs as after start-up; empty: do not change"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a user name";
         return (v.empty() || valid_token(v)) && (c.oauth.user = v, true);
     },
     O(user)},
    {{"oauth", "pidfile", "path", "", false, "the broker's pid file; empty: none"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute file name";
         return valid_optional_path(v) && (c.oauth.pidfile = v, true);
     },
     O(pidfile)},
    {{"oauth", "cafile", "path", "", true,
      "CA bundle that token endpoint certificates are verified against; empty: the system "
      "store"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute file name";
         return valid_optional_path(v) && (c.oauth.cafile = v, true);
     },
     O(cafile)},
    {{"oauth", "connect_timeout", "seconds", "10", true,
      "bound on connecting to a token endpoint (TCP and TLS)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number of seconds from 1 to 120";
         return parse_int(v, 1, 120, c.oauth.connect_timeout);
     },
     ON(connect_timeout)},
    {{"oauth", "timeout", "seconds", "30", true, "bound on one whole token request"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number of seconds from 1 to 300";
         return parse_int(v, 1, 300, c.oauth.timeout);
     },
     ON(timeout)},
    {{"oauth", "refresh_margin", "seconds", "1800", true,
      "a token is refreshed this long before it expires, or at half its life if that is "
      "earlier"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number of seconds from 60 to 86400";
         return parse_int(v, 60, 86400, c.oauth.refresh_margin);
     },
     ON(refresh_margin)},
    {{"oauth", "expiry_safety", "seconds", "600", true,
      "a token is no longer handed out this long before it expires (at most a quarter of its "
      "life)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number of seconds from 0 to 3600";
         return parse_int(v, 0, 3600, c.oauth.expiry_safety);
     },
     ON(expiry_safety)},
    {{"oauth", "retry_max", "seconds", "300", true,
      "longest pause between two failed fetches for one application (exponential backoff)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number of seconds from 5 to 3600";
         return parse_int(v, 5, 3600, c.oauth.retry_max);
     },
     ON(retry_max)},
    {{"oauth", "fetch_concurrency", "number", "32", false,
      "token fetches running at once (threads); retries of failing applications take at "
      "most half of them"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number from 2 to 256";
         return parse_int(v, 2, 256, c.oauth.fetch_concurrency);
     },
     ON(fetch_concurrency)},
    {{"oauth", "max_response_size", "bytes", "65536", true,
      "largest token endpoint reply read; a longer one is a failed fetch"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number of bytes from 4096 to 1048576";
         return parse_int(v, 4096, 1048576, c.oauth.max_response_size);
     },
     ON(max_response_size)},
    {{"oauth", "stats_file", "path", "", true,
      "file the broker's metrics are written to (Prometheus text format); empty: none"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute file name";
         return valid_optional_path(v) && (c.oauth.stats_file = v, true);
     },
     O(stats_file)},
    {{"oauth", "stats_interval", "seconds", "60", true, "how often the broker's stats_file is rewritten"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number of seconds from 1 to 86400";
         return parse_int(v, 1, 86400, c.oauth.stats_interval);
     },
     ON(stats_interval)},
};

#undef O
#undef ON

// Postfix's stock master.cf services: a socket of that name in private/
// would replace the service's own socket.
const char* const kStockServices[] = {
    "smtp",    "smtpd",    "submission", "submissions", "smtps",  "pickup", "cleanup",
    "qmgr",    "tlsmgr",   "rewrite",    "bounce",      "defer",  "trace",  "verify",
    "flush",   "proxymap", "proxywrite", "relay",       "showq",  "error",  "retry",
    "discard", "local",    "virtual",    "lmtp",        "anvil",  "scache", "postlog",
    "maildrop", "uucp",    "ifmail",     "bsmtp",       "scalemail-backend", "mailman",
    "dnsblog", "tlsproxy", "postscreen"};

}  // namespace

const std::vector<KeyDef>& oauth_key_defs() { return kOAuthKeys; }

// The socket's file name must differ from every master.cf service Postfix
// or this product defines: Postfix connects private/NAME for service NAME,
// so a broker socket of that name hijacks (or is hijacked by) the service.
void check_oauth_section(const IniFile& ini, const Config& cfg, Diags& errors) {
    const std::string& path = cfg.oauth.socket;
    std::string name = path.substr(path.rfind('/') + 1);
    bool clash = name == cfg.partner_transport || name == cfg.partner_smtps_transport ||
                 name == cfg.partner_oauth_transport;
    for (const char* s : kStockServices) clash = clash || name == s;
    if (!clash) return;
    int line = 0;
    for (const IniEntry& e : ini.entries)
        if (e.section == "oauth" && e.key == "socket") line = e.line;
    errors.push_back(Diag{ini.path, line, "oauth", "socket",
                          "socket name '" + name +
                              "' is a master.cf service name: Postfix would connect the "
                              "service there (choose e.g. partner-relay-tokens)"});
}

}  // namespace keys
}  // namespace prm
