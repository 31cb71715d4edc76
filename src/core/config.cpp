// config.cpp - validate the main configuration into an immutable Config.
//
// What: one table (kKeys) names every fixed key of [milter] and [headers]
// (the [oauth] keys have their own table in config_oauth.cpp)
// with its type, default, reloadability, summary, a setter that validates a
// raw value and a getter that renders the effective one. The same table
// drives the parser, config_keys() (man page test) and dump_config() (-n).
// The free-form sections [categories], [classify] and [fallback_senders]
// are handled after it, [categories] first whatever its place in the file,
// because rules and overrides must name known categories.
//
// Contract: every problem a user can cause becomes a Diag naming file,
// line, section and key; nothing throws for bad input. Unknown sections,
// unknown keys and duplicate keys (except in [classify], where repetition
// is the point) are errors. A Config is returned only when there is no error.
//
// Thread safety: pure functions; the key table is immutable.
#include "core/config.hpp"
#include "core/config_keys.hpp"
#include "core/dsn.hpp"
#include "core/strutil.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "core/ini.hpp"
#include "core/logging.hpp"
#include "core/rfc5322.hpp"

namespace prm {

// ---- small value parsers shared with the other key tables (config_keys.hpp)

namespace keys {

// A whole decimal number in [LO, HI]; no sign, no spaces, bounded length.
bool parse_int(const std::string& v, long lo, long hi, int& out) {
    if (v.empty() || v.size() > 9) return false;
    long n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + (c - '0');
    }
    if (n < lo || n > hi) return false;
    out = static_cast<int>(n);
    return true;
}

// yes/no, true/false, 1/0 (case-insensitive).
bool parse_bool(const std::string& v, bool& out) {
    std::string l = ascii_lower(v);
    if (l == "yes" || l == "true" || l == "1") return out = true, true;
    if (l == "no" || l == "false" || l == "0") return out = false, true;
    return false;
}

// The longest single-word value: -n prints "key = value" and the longest key
// with " = " takes 26 bytes, so every dumped line stays within what the INI
// reader accepts and reads back (fuzz finding H: a 190-byte token was
// accepted, but its dump line was too long to load again).
constexpr std::size_t kMaxTokenLength = kMaxIniLine - 32;

// A single word: no whitespace, no control characters, at most kMaxTokenLength.
// A leading ';' is refused: -n prints "key = value", where " ;" starts an
// inline comment, so the value would not read back (fuzz finding G).
bool valid_token(std::string_view v) {
    if (v.empty() || v.size() > kMaxTokenLength || v[0] == ';') return false;
    return std::none_of(v.begin(), v.end(),
                        [](char c) { return static_cast<unsigned char>(c) <= 32 || c == 127; });
}

// An octal file mode of 3 or 4 digits, at most 0777 (no setuid, setgid or
// sticky bit: they mean nothing on a socket).
bool parse_mode(const std::string& v, unsigned& out) {
    if (v.size() < 3 || v.size() > 4) return false;
    unsigned n = 0;
    for (char c : v) {
        if (c < '0' || c > '7') return false;
        n = n * 8 + static_cast<unsigned>(c - '0');
    }
    if (n > 0777) return false;
    out = n;
    return true;
}

// "0660".
std::string mode_text(unsigned m) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", m & 0777u);
    return buf;
}

}  // namespace keys

namespace {

using namespace keys;

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out;
}



// A header name we write or look for: printable ASCII except ':', at most 64.
bool valid_header_name(std::string_view v) {
    if (v.empty() || v.size() > 64 || v[0] == ';') return false;  // see valid_token
    return std::all_of(v.begin(), v.end(), [](char c) { return c >= 33 && c <= 126 && c != ':'; });
}

// A Postfix master.cf service name as we allow it: [a-z0-9-], 1-64.
bool valid_service(std::string_view v) {
    if (v.empty() || v.size() > 64) return false;
    return std::all_of(v.begin(), v.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

// libmilter socket syntax: local:/path, unix:/path, inet:PORT[@HOST], inet6:PORT[@HOST].
bool valid_socket(std::string_view v) {
    if (!valid_token(v)) return false;
    for (std::string_view p : {"local:", "unix:"})
        if (v.substr(0, p.size()) == p) return v.size() > p.size() && v[p.size()] == '/';
    for (std::string_view p : {"inet:", "inet6:"}) {
        if (v.substr(0, p.size()) != p) continue;
        std::string_view rest = v.substr(p.size());
        std::string port(rest.substr(0, rest.find('@')));
        int n = 0;
        bool host_ok = rest.find('@') == std::string_view::npos || rest.size() > rest.find('@') + 1;
        return parse_int(port, 1, 65535, n) && host_ok;
    }
    return false;
}

// A CIDR list into NETS; false with E set on the first bad item.
bool parse_networks(const std::string& v, std::vector<Network>& nets, std::string& e) {
    std::vector<Network> out;
    for (const auto& item : split_list(v)) {
        auto n = Network::parse(item);
        if (!n) {
            e = "IPv4 or IPv6 networks in CIDR form, e.g. 10.0.0.0/8, 2001:db8::/32 ('" + item +
                "' is not one)";
            return false;
        }
        out.push_back(*n);
    }
    nets = std::move(out);
    return true;
}

// A CIDR list as "a, b".
std::string networks_text(const std::vector<Network>& nets) {
    std::vector<std::string> t;
    for (const auto& n : nets) t.push_back(n.text);
    return join(t);
}


// ---- log levels ------------------------------------------------------------

const char* const kLevelNames[] = {"err", "warning", "notice", "info", "debug"};  // 3..7

bool parse_level(const std::string& v, int& out) {
    if (parse_int(v, 3, 7, out)) return true;
    for (int i = 0; i < 5; i++)
        if (ascii_lower(v) == kLevelNames[i]) return out = i + 3, true;
    return false;
}

std::string level_name(int l) { return l >= 3 && l <= 7 ? kLevelNames[l - 3] : std::to_string(l); }


// ---- [sync] value helpers ------------------------------------------------------

// One line of free text (a DSN, an SQL query): no control characters, and
// nothing the INI reader would cut as a comment, so -n reads back.
bool valid_text(std::string_view v) {
    if (v.empty() || v.size() > kMaxTokenLength || v[0] == ';') return false;
    for (std::size_t i = 0; i < v.size(); i++) {
        auto u = static_cast<unsigned char>(v[i]);
        if (u < 32 || u == 127) return false;
        if (v[i] == ';' && (v[i - 1] == ' ' || v[i - 1] == '\t')) return false;
    }
    return v.front() != ' ' && v.back() != ' ';
}

// A duration: seconds, or a number with s, m, h, d or w (Postfix's units).
bool parse_duration(const std::string& v, int& out) {
    if (v.empty()) return false;
    long unit = 1;
    std::string n = v;
    switch (v.back()) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 604800; break;
        default: unit = 0;
    }
    if (unit) n.pop_back();
    int x = 0;
    if (!parse_int(n, 0, 100 * 86400, x) || static_cast<long>(x) * (unit ? unit : 1) > 100L * 86400)
        return false;
    out = static_cast<int>(x * (unit ? unit : 1));
    return true;
}

// A DSN for -n: every password hidden (core/dsn.hpp).
std::string dsn_text(const std::string& dsn) { return redact_dsn(dsn); }

// An empty or absolute file name.
bool optional_path(const std::string& v) { return v.empty() || (v[0] == '/' && valid_token(v)); }

// ---- the key table ----------------------------------------------------------

#define S(field) [](const Config& c) { return std::string(c.field); }

const KeyDef kKeys[] = {
    {{"milter", "socket", "socket", "local:" PRM_RUNDIR "/milter.sock", false,
      "where the milter listens: local:/path, inet:PORT@HOST or inet6:PORT@HOST"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "local:/path, unix:/path, inet:PORT[@HOST] or inet6:PORT[@HOST]";
         return valid_socket(v) && (c.socket = socket_with_host(v), true);
     },
     S(socket)},
    {{"milter", "socket_mode", "mode", "0660", false,
      "octal mode of a UNIX socket (the -m option overrides it)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an octal mode from 000 to 0777, e.g. 0660";
         return parse_mode(v, c.socket_mode);
     },
     [](const Config& c) { return mode_text(c.socket_mode); }},
    {{"milter", "partners", "path", PRM_CONFDIR "/partners.conf", true,
      "the partner table; a relative path is taken from the directory of this file"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a file name";
         return !v.empty() && v.find('\n') == std::string::npos && (c.partners = v, true);
     },
     S(partners)},
    {{"milter", "trusted_networks", "list", "127.0.0.0/8, ::1/128", true,
      "client networks (CIDR, comma or space separated) whose control headers are trusted"},
     [](Config& c, const std::string& v, std::string& e) {
         return parse_networks(v, c.trusted_networks, e);
     },
     [](const Config& c) { return networks_text(c.trusted_networks); }},
    {{"milter", "trust_authenticated", "bool", "yes", true,
      "whether SASL-authenticated clients are trusted submitters"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "yes, no, true, false, 1 or 0";
         return parse_bool(v, c.trust_authenticated);
     },
     [](const Config& c) { return std::string(c.trust_authenticated ? "yes" : "no"); }},
    {{"milter", "fallback_daemon_name", "string", "FALLBACK", true,
      "the {daemon_name} of the loopback fallback listener"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "one word without spaces";
         return valid_token(v) && (c.fallback_daemon_name = v, true);
     },
     S(fallback_daemon_name)},
    {{"milter", "fallback_sender", "address", "", true,
      "REQUIRED: the platform's own sender address, restored on the fallback path"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an address like noreply@example.com";
         return valid_addr_spec(v) && (c.fallback_sender = normalize_address(v), true);
     },
     S(fallback_sender)},
    {{"milter", "user", "string", "", false, "user to run as after start-up; empty: do not change"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a user name";
         return (v.empty() || valid_token(v)) && (c.user = v, true);
     },
     S(user)},
    {{"milter", "pidfile", "path", "", false, "pid file to write; empty: none"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute file name";
         return (v.empty() || (v[0] == '/' && valid_token(v))) && (c.pidfile = v, true);
     },
     S(pidfile)},
    {{"milter", "tables_dir", "path", "/etc/postfix/partner-relay", true,
      "directory partner-relay-tables writes (its published stamp); a partner is routed only "
      "once its credentials are published there; empty: no check"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute directory name, or empty";
         c.tables_dir_given = true;
         return (v.empty() || (v[0] == '/' && valid_token(v))) && (c.tables_dir = v, true);
     },
     S(tables_dir)},
    {{"milter", "log_level", "level", "info", false,
      "most verbose syslog priority logged: err, warning, notice, info, debug (or 3-7)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "err, warning, notice, info, debug or a number from 3 to 7";
         return parse_level(v, c.log_level);
     },
     [](const Config& c) { return level_name(c.log_level); }},
    {{"milter", "log_facility", "facility", "mail", false, "syslog facility"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a syslog facility name such as mail, daemon or local0";
         return syslog_facility(v) >= 0 && (c.log_facility = ascii_lower(v), true);
     },
     S(log_facility)},
    {{"milter", "mode", "enum", "enforce", true,
      "enforce: apply decisions; shadow: only tag messages and log what would be done"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "enforce or shadow";
         if (v == "enforce") return c.mode = Mode::enforce, true;
         if (v == "shadow") return c.mode = Mode::shadow, true;
         return false;
     },
     [](const Config& c) { return std::string(c.mode == Mode::enforce ? "enforce" : "shadow"); }},
    {{"milter", "mta", "enum", "postfix", true,
      "the MTA: postfix (route header) or sendmail (recipient rewrite to the pseudo domain)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "postfix or sendmail";
         if (v == "postfix") return c.mta = Mta::postfix, true;
         if (v == "sendmail") return c.mta = Mta::sendmail, true;
         return false;
     },
     [](const Config& c) { return std::string(c.mta == Mta::postfix ? "postfix" : "sendmail"); }},
    {{"milter", "postfix_user", "string", "postfix", false,
      "the user Postfix's daemons run as (mail_owner); at start and in -n the milter warns "
      "when that user could not connect to its UNIX socket; empty: no check"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a user name";
         return (v.empty() || valid_token(v)) && (c.postfix_user = v, true);
     },
     S(postfix_user)},
    {{"milter", "on_error", "enum", "accept", true,
      "what the MTA is told when the milter fails internally: accept or tempfail"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "accept or tempfail";
         return (v == "accept" || v == "tempfail") && (c.on_error = v, true);
     },
     S(on_error)},
    {{"milter", "partner_transport", "service", "partner", true,
      "master.cf service for STARTTLS partner relays"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a Postfix service name of a-z, 0-9 and '-'";
         return valid_service(v) && (c.partner_transport = v, true);
     },
     S(partner_transport)},
    {{"milter", "partner_smtps_transport", "service", "partner-smtps", true,
      "master.cf service for implicit-TLS partner relays"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a Postfix service name of a-z, 0-9 and '-'";
         return valid_service(v) && (c.partner_smtps_transport = v, true);
     },
     S(partner_smtps_transport)},
    {{"milter", "partner_oauth_transport", "service", "partner-oauth", true,
      "master.cf service for OAuth2 (XOAUTH2) partner relays"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a Postfix service name of a-z, 0-9 and '-'";
         return valid_service(v) && (c.partner_oauth_transport = v, true);
     },
     S(partner_oauth_transport)},
    {{"milter", "implicit_tls_ports", "list", "465, 2465", true,
      "partner ports that speak TLS from the first byte (use the smtps transport)"},
     [](Config& c, const std::string& v, std::string& e) {
         std::vector<int> ports;
         for (const auto& item : split_list(v)) {
             int p = 0;
             if (!parse_int(item, 1, 65535, p)) {
                 e = "port numbers from 1 to 65535 ('" + item + "' is not one)";
                 return false;
             }
             ports.push_back(p);
         }
         c.implicit_tls_ports = std::move(ports);
         return true;
     },
     [](const Config& c) {
         std::vector<std::string> t;
         for (int p : c.implicit_tls_ports) t.push_back(std::to_string(p));
         return join(t);
     }},
    {{"milter", "stats_file", "path", "", true,
      "file the counters are written to (Prometheus text format); empty: none"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute file name";
         return (v.empty() || (v[0] == '/' && valid_token(v))) && (c.stats_file = v, true);
     },
     S(stats_file)},
    {{"milter", "stats_interval", "seconds", "60", true, "how often stats_file is rewritten"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number of seconds from 1 to 86400";
         return parse_int(v, 1, 86400, c.stats_interval);
     },
     [](const Config& c) { return std::to_string(c.stats_interval); }},
    {{"milter", "fallback_alert_rate", "percent", "20", true,
      "fallback rate (fallbacks per partner-routed message) that raises a partner's alert; "
      "0: no alert"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a percentage from 0 to 100 (0 disables the alert)";
         std::string n = !v.empty() && v.back() == '%' ? v.substr(0, v.size() - 1) : v;
         return parse_int(n, 0, 100, c.fallback_alert_rate);
     },
     [](const Config& c) { return std::to_string(c.fallback_alert_rate); }},
    {{"milter", "fallback_alert_min_messages", "number", "10", true,
      "partner-routed messages a partner needs in the window before its alert can fire"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number from 1 to 1000000";
         return parse_int(v, 1, 1000000, c.fallback_alert_min_messages);
     },
     [](const Config& c) { return std::to_string(c.fallback_alert_min_messages); }},
    {{"milter", "fallback_alert_window", "seconds", "900", true,
      "sliding window of the fallback alert; also the least time between two warnings"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number of seconds from 10 to 604800";
         return parse_int(v, 10, 604800, c.fallback_alert_window);
     },
     [](const Config& c) { return std::to_string(c.fallback_alert_window); }},
    {{"milter", "allowed_private_relays", "list", "", true,
      "networks (CIDR) a partner host may be or resolve to although they are loopback, "
      "private, link-local or unspecified"},
     [](Config& c, const std::string& v, std::string& e) {
         return parse_networks(v, c.allowed_private_relays, e);
     },
     [](const Config& c) { return networks_text(c.allowed_private_relays); }},
    {{"milter", "relay_cafile", "path", "", true,
      "CA bundle partner relays are verified against (probe, smtp_tls_CAfile of the partner "
      "transports); empty: the system store"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute file name";
         return (v.empty() || (v[0] == '/' && valid_token(v))) && (c.relay_cafile = v, true);
     },
     S(relay_cafile)},
    {{"milter", "partners_permissions", "enum", "strict", true,
      "strict: refuse a partner table others can read or write, or owned by anyone but root "
      "or the milter's user; warn: only warn"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "strict or warn";
         if (v == "strict") return c.partners_permissions_warn = false, true;
         if (v == "warn") return c.partners_permissions_warn = true, true;
         return false;
     },
     [](const Config& c) { return std::string(c.partners_permissions_warn ? "warn" : "strict"); }},
    {{"milter", "allow_core_dumps", "bool", "no", false,
      "debugging only: let the daemon dump core (the dump holds the partner passwords)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "yes, no, true, false, 1 or 0";
         return parse_bool(v, c.allow_core_dumps);
     },
     [](const Config& c) { return std::string(c.allow_core_dumps ? "yes" : "no"); }},
    {{"headers", "partner", "header", "X-Partner-Id", true,
      "header naming the partner (trusted submitters only)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a header name (printable ASCII without ':', at most 64)";
         return valid_header_name(v) && (c.partner_header = v, true);
     },
     S(partner_header)},
    {{"headers", "category", "header", "X-Email-Category", true,
      "header naming the category; also the tag the milter writes"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a header name (printable ASCII without ':', at most 64)";
         return valid_header_name(v) && (c.category_header = v, true);
     },
     S(category_header)},
    {{"headers", "route", "header", "X-Partner-Relay-Route", true,
      "header the milter adds for milter_header_checks to route on"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a header name (printable ASCII without ':', at most 64)";
         return valid_header_name(v) && (c.route_header = v, true);
     },
     S(route_header)},
    {{"headers", "strip_partner", "bool", "yes", true,
      "delete every copy of the partner header once decided (the tenant id stays inside)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "yes, no, true, false, 1 or 0";
         return parse_bool(v, c.strip_partner);
     },
     [](const Config& c) { return std::string(c.strip_partner ? "yes" : "no"); }},
    {{"sync", "dsn", "dsn", "", true,
      "partner-relay-sync: the libpq connection string of the partner database; "
      "a password is never printed"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a libpq connection string on one line, e.g. host=db1,db2 dbname=platform";
         return (v.empty() || valid_text(v)) && (c.sync_dsn = v, true);
     },
     [](const Config& c) { return dsn_text(c.sync_dsn); }},
    {{"sync", "interval", "seconds", "5", true,
      "partner-relay-sync: seconds between two polls of the version row"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a number of seconds from 1 to 3600";
         return parse_int(v, 1, 3600, c.sync_interval);
     },
     [](const Config& c) { return std::to_string(c.sync_interval); }},
    {{"sync", "max_drop", "percent", "50", true,
      "partner-relay-sync: refuse a snapshot that deactivates more than this share of the "
      "active partners (--force overrides)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a percentage from 0 to 100";
         std::string n = !v.empty() && v.back() == '%' ? v.substr(0, v.size() - 1) : v;
         return parse_int(n, 0, 100, c.sync_max_drop);
     },
     [](const Config& c) { return std::to_string(c.sync_max_drop); }},
    {{"sync", "query", "sql", "", true,
      "partner-relay-sync: the SELECT that returns the partner rows; empty: "
      "SELECT * FROM partner_relay.partners"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "one SQL statement on one line";
         return (v.empty() || valid_text(v)) && (c.sync_query = v, true);
     },
     S(sync_query)},
    {{"sync", "grace", "duration", "", true,
      "partner-relay-sync: how long a removed partner keeps its SASL and TLS entries; "
      "empty: Postfix's maximal_queue_lifetime"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "a duration such as 3600, 90m, 12h or 5d (at most 100d)";
         if (v.empty()) return c.sync_grace = -1, true;
         return parse_duration(v, c.sync_grace);
     },
     [](const Config& c) { return c.sync_grace < 0 ? std::string() : std::to_string(c.sync_grace); }},
    {{"sync", "milter_pidfile", "path", "", true,
      "partner-relay-sync: pid file of the milter to send SIGUSR1; empty: [milter] pidfile"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute file name";
         return optional_path(v) && (c.sync_milter_pidfile = v, true);
     },
     S(sync_milter_pidfile)},
    {{"sync", "tokend_pidfile", "path", "", true,
      "partner-relay-sync: pid file of the token broker to send SIGUSR1; empty: none"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute file name";
         return optional_path(v) && (c.sync_tokend_pidfile = v, true);
     },
     S(sync_tokend_pidfile)},
    {{"sync", "state_dir", "path", PRM_STATEDIR "/sync", true,
      "partner-relay-sync: directory of its state (applied version, grace entries; 0700)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute directory name";
         return !v.empty() && optional_path(v) && (c.sync_state_dir = v, true);
     },
     S(sync_state_dir)},
    {{"sync", "stats_file", "path", "", true,
      "partner-relay-sync: metrics file (Prometheus text format); empty: none"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute file name";
         return optional_path(v) && (c.sync_stats_file = v, true);
     },
     S(sync_stats_file)},
    {{"sync", "host", "string", "", true,
      "partner-relay-sync: this host's name in partner_relay.host_applied; empty: the host name"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "one word without spaces";
         return (v.empty() || valid_token(v)) && (c.sync_host = v, true);
     },
     S(sync_host)},
    {{"sync", "tables_dir", "path", "/etc/postfix/partner-relay", true,
      "partner-relay-sync: where it writes the Postfix tables (as partner-relay-tables -o)"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "an absolute directory name";
         return !v.empty() && optional_path(v) && (c.sync_tables_dir = v, true);
     },
     S(sync_tables_dir)},
    {{"sync", "record_applied", "bool", "yes", true,
      "partner-relay-sync: record the applied version in partner_relay.host_applied"},
     [](Config& c, const std::string& v, std::string& e) {
         e = "yes, no, true, false, 1 or 0";
         return parse_bool(v, c.sync_record_applied);
     },
     [](const Config& c) { return std::string(c.sync_record_applied ? "yes" : "no"); }},
};

#undef S

// Every fixed key: this file's table, then the tables of other sections.
const std::vector<const KeyDef*>& all_keys() {
    static const std::vector<const KeyDef*> all = [] {
        std::vector<const KeyDef*> v;
        for (const KeyDef& k : kKeys) v.push_back(&k);
        for (const KeyDef& k : oauth_key_defs()) v.push_back(&k);
        return v;
    }();
    return all;
}

const KeyDef* find_key(std::string_view section, std::string_view name) {
    for (const KeyDef* k : all_keys())
        if (section == k->info.section && name == k->info.name) return k;
    return nullptr;
}

// Sections whose keys are all in a key table.
bool fixed_section(std::string_view s) {
    return s == "milter" || s == "headers" || s == "oauth" || s == "sync";
}

const char* const kSections[] = {"milter",   "headers",          "categories",
                                 "classify", "fallback_senders", "oauth", "sync"};

bool known_section(std::string_view s) {
    return std::find(std::begin(kSections), std::end(kSections), s) != std::end(kSections);
}

}  // namespace

// ---- Network ------------------------------------------------------------------

// Parse "a.b.c.d[/n]" or "x:y::z[/n]".
std::optional<Network> Network::parse(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    if (s.empty() || s.size() > 64) return std::nullopt;

    Network n;
    n.text = std::string(s);
    std::size_t slash = s.find('/');
    std::string host(s.substr(0, slash));
    n.v6 = host.find(':') != std::string::npos;
    int max = n.v6 ? 128 : 32;
    if (inet_pton(n.v6 ? AF_INET6 : AF_INET, host.c_str(), n.addr) != 1) return std::nullopt;
    n.prefix = max;
    if (slash != std::string_view::npos &&
        !parse_int(std::string(s.substr(slash + 1)), 0, max, n.prefix))
        return std::nullopt;
    return n;
}

// True when the textual address ADDR is inside this network.
bool Network::contains(std::string_view a) const {
    // MTAs write {client_addr} as "1.2.3.4", "IPv6:2001:db8::1", "[::1]" ...
    if (a.size() >= 5 && ascii_lower(a.substr(0, 5)) == "ipv6:") a.remove_prefix(5);
    if (a.size() >= 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
    a = a.substr(0, a.find('%'));  // drop an IPv6 zone id
    if (a.empty() || a.size() > 64) return false;

    std::string host(a);
    std::uint8_t buf[16] = {};
    const std::uint8_t* bytes = buf;
    bool is6 = host.find(':') != std::string::npos;
    if (inet_pton(is6 ? AF_INET6 : AF_INET, host.c_str(), buf) != 1) return false;
    if (is6 && !v6) {
        // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is that IPv4 client.
        static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(buf, mapped, 12) != 0) return false;
        bytes = buf + 12;
    } else if (is6 != v6) {
        return false;
    }

    int full = prefix / 8, bits = prefix % 8;
    if (std::memcmp(bytes, addr, static_cast<std::size_t>(full)) != 0) return false;
    if (bits == 0) return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
    return (bytes[full] & mask) == (addr[full] & mask);
}

// ---- Config ---------------------------------------------------------------------

const std::vector<KeyInfo>& config_keys() {
    static const std::vector<KeyInfo> keys = [] {
        std::vector<KeyInfo> v;
        for (const KeyDef* k : all_keys()) v.push_back(k->info);
        return v;
    }();
    return keys;
}

// ---- validation -------------------------------------------------------------------

namespace {

// The state of one validation run: the parsed file and what is being built.
struct Loader {
    const IniFile& ini;
    ConfigResult& res;
    Config& cfg;
    std::vector<bool> skip;  // entries already reported (duplicates, bad sections)

    void error(const IniEntry& e, const std::string& msg) {
        res.errors.push_back(Diag{ini.path, e.line, e.section, e.key, msg});
    }
    // Reject a value continued on the next line where one word is expected.
    bool single_line(const IniEntry& e) {
        if (e.value.find('\n') == std::string::npos) return true;
        error(e, "a value continued on an indented next line is only allowed for lists");
        return false;
    }
};

// Report unknown sections, keys outside sections and duplicate keys.
void check_structure(Loader& L) {
    for (const IniSection& s : L.ini.sections)
        if (!known_section(s.name))
            L.res.errors.push_back(Diag{L.ini.path, s.line, s.name, "",
                                        "unknown section (expected milter, headers, categories, "
                                        "classify, fallback_senders, oauth or sync)"});
    std::map<std::pair<std::string, std::string>, int> first;
    const auto& entries = L.ini.entries;
    L.skip.assign(entries.size(), false);
    for (std::size_t i = 0; i < entries.size(); i++) {
        const IniEntry& e = entries[i];
        if (e.section.empty()) {
            L.error(e, "setting outside of any [section]");
            L.skip[i] = true;
        } else if (!known_section(e.section)) {
            L.skip[i] = true;  // the section itself is already reported
        } else if (e.section != "classify") {
            auto [it, fresh] = first.emplace(std::make_pair(e.section, e.key), e.line);
            if (!fresh) {
                L.error(e, "duplicate key (first set on line " + std::to_string(it->second) + ")");
                L.skip[i] = true;
            }
        }
    }
}

// [categories]: id = eligible|global.
void apply_categories(Loader& L) {
    for (std::size_t i = 0; i < L.ini.entries.size(); i++) {
        const IniEntry& e = L.ini.entries[i];
        if (L.skip[i] || e.section != "categories") continue;
        if (!valid_category_id(e.key)) {
            L.error(e, "invalid category id (expected 1-64 characters of a-z, 0-9, '.', '_', '-')");
        } else if (e.value != "eligible" && e.value != "global") {
            L.error(e, "bad value '" + e.value + "': expected eligible or global");
        } else if (!L.cfg.categories.set(e.key, e.value == "eligible" ? Eligibility::eligible
                                                                      : Eligibility::global)) {
            L.error(e, std::string(kUnclassified) + " is always global");
        }
    }
}

// [milter] and [headers]: the fixed keys of the table.
void apply_fixed(Loader& L, bool& have_fallback_sender) {
    for (std::size_t i = 0; i < L.ini.entries.size(); i++) {
        const IniEntry& e = L.ini.entries[i];
        if (L.skip[i] || !fixed_section(e.section)) continue;
        const KeyDef* k = find_key(e.section, e.key);
        if (!k) {
            L.error(e, "unknown key");
            continue;
        }
        if (std::string_view(k->info.type) != "list" && !L.single_line(e)) continue;
        if (e.key == "fallback_sender") have_fallback_sender = true;  // bad or not, it is there
        std::string expected;
        if (!k->set(L.cfg, e.value, expected))
            L.error(e, "bad value '" + e.value + "': expected " + expected);
    }
}

// [classify] (repeatable, in order) and [fallback_senders], once the
// registry is complete.
void apply_rules(Loader& L) {
    for (std::size_t i = 0; i < L.ini.entries.size(); i++) {
        const IniEntry& e = L.ini.entries[i];
        if (L.skip[i] || (e.section != "classify" && e.section != "fallback_senders")) continue;
        if (!L.single_line(e)) continue;
        if (!L.cfg.categories.known(e.key)) {
            L.error(e, "unknown category (add it to [categories] first)");
            continue;
        }
        if (e.section == "fallback_senders") {
            if (!valid_addr_spec(e.value))
                L.error(
                    e, "bad value '" + e.value + "': expected an address like noreply@example.com");
            else
                L.cfg.fallback_senders[e.key] = normalize_address(e.value);
            continue;
        }
        std::string err;
        auto rule = ClassifyRule::compile(e.key, e.value, err);
        if (!rule)
            L.error(e, err);
        else
            L.cfg.rules.push_back(std::move(rule));
    }
}

// The three header names must differ: each one means something else.
void check_headers(Loader& L) {
    struct H {
        const char* key;
        const std::string* value;
        int line;
    };
    H hs[3] = {{"partner", &L.cfg.partner_header, 0},
               {"category", &L.cfg.category_header, 0},
               {"route", &L.cfg.route_header, 0}};
    for (const IniEntry& e : L.ini.entries)
        for (H& h : hs)
            if (e.section == "headers" && e.key == h.key) h.line = e.line;
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++) {
            if (ascii_lower(*hs[a].value) != ascii_lower(*hs[b].value)) continue;
            const H& later = hs[a].line > hs[b].line ? hs[a] : hs[b];
            const H& other = &later == &hs[a] ? hs[b] : hs[a];
            L.res.errors.push_back(Diag{L.ini.path, later.line, "headers", later.key,
                                        "must differ from the " + std::string(other.key) +
                                            " header (" + *other.value + ")"});
        }
}

// A relative partner table path is relative to the main config's directory.
void resolve_partners(Config& cfg) {
    if (cfg.partners.empty() || cfg.partners[0] == '/') return;
    std::size_t slash = cfg.path.rfind('/');
    if (slash != std::string::npos) cfg.partners = cfg.path.substr(0, slash + 1) + cfg.partners;
}

}  // namespace

// Validate an already parsed INI file.
ConfigResult load_config_ini(const IniFile& ini) {
    ConfigResult res;
    res.errors = ini.errors;
    Config cfg;
    cfg.path = ini.path;
    std::string ignored;
    for (const KeyDef* k : all_keys())  // the table's defaults are the defaults
        if (*k->info.default_value) k->set(cfg, k->info.default_value, ignored);

    Loader L{ini, res, cfg, {}};
    check_structure(L);
    apply_categories(L);
    bool have_fallback_sender = false;
    apply_fixed(L, have_fallback_sender);
    apply_rules(L);
    check_headers(L);
    check_oauth_section(ini, cfg, res.errors);
    if (!have_fallback_sender)
        res.errors.push_back(
            Diag{ini.path, 0, "milter", "fallback_sender",
                 "required setting is missing (the platform's own sender address)"});
    resolve_partners(cfg);

    std::stable_sort(res.errors.begin(), res.errors.end(), [](const Diag& a, const Diag& b) {
        return (a.line == 0 ? 1 << 30 : a.line) < (b.line == 0 ? 1 << 30 : b.line);
    });
    if (res.errors.empty()) res.config = std::move(cfg);
    return res;
}

// Read and validate the main configuration at PATH.
ConfigResult load_config(const std::string& path) {
    IniFile ini = read_ini(path);
    for (const Diag& d : ini.errors)
        if (d.line == 0) {  // unreadable: nothing else to say
            ConfigResult res;
            res.errors = ini.errors;
            return res;
        }
    return load_config_ini(ini);
}

// Render every effective setting as INI text.
std::string dump_config(const Config& cfg) {
    std::string out = "# effective configuration read from " + cfg.path + "\n";
    const char* section = "";
    for (const KeyDef* kp : all_keys()) {
        const KeyDef& k = *kp;
        if (std::strcmp(section, k.info.section) != 0) {
            section = k.info.section;
            out += std::string(out.size() > 0 && out.back() == '\n' ? "\n" : "") + "[" + section +
                   "]\n";
        }
        out += std::string(k.info.name) + " = " + k.get(cfg) + "\n";
    }
    out += "\n[categories]\n";
    for (const Category& c : cfg.categories.all()) {
        if (!c.description.empty()) out += "# " + c.description + "\n";
        out +=
            c.id + " = " + (c.eligibility == Eligibility::eligible ? "eligible" : "global") + "\n";
    }
    out += "\n[classify]\n";
    for (const auto& r : cfg.rules) out += r->category() + " = " + r->spec() + "\n";
    out += "\n[fallback_senders]\n";
    for (const auto& [cat, addr] : cfg.fallback_senders) out += cat + " = " + addr + "\n";
    return out;
}

// The fallback sender for CATEGORY (override, else fallback_sender).
const std::string& Config::fallback_sender_for(std::string_view category) const {
    auto it = fallback_senders.find(category);
    return it != fallback_senders.end() ? it->second : fallback_sender;
}

// SPEC with the loopback host when an inet socket names none (issue 17
// finding 6): libmilter binds "inet:PORT" to every address, where anyone
// reaching the port could read each partner's relay, port and sender back
// through the milter protocol.
std::string socket_with_host(const std::string& spec) {
    for (const char* p : {"inet:", "inet6:"}) {
        std::string_view pre(p);
        if (spec.compare(0, pre.size(), pre) != 0) continue;
        if (spec.find('@') != std::string::npos) return spec;
        return spec + (pre == "inet:" ? "@127.0.0.1" : "@::1");
    }
    return spec;
}

}  // namespace prm
