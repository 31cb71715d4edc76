// config.hpp - the main configuration, an immutable validated value.
//
// inih fills raw entries (ini.hpp); load_config() validates them against one
// table of keys (config_keys()) and builds a Config, or returns the list of
// errors, each naming file, line and key. Unknown sections and keys are
// errors. The same key table drives `-n` output and the man page test.
//
// Thread safety: a Config is never modified after load_config() returns.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/categories.hpp"
#include "core/diag.hpp"

namespace prm {

#ifndef PRM_CONFDIR
#define PRM_CONFDIR "/etc/partner-relay-milter"
#endif
#ifndef PRM_STATEDIR
#define PRM_STATEDIR "/var/lib/partner-relay-milter"
#endif
#ifndef PRM_RUNDIR
#define PRM_RUNDIR "/run/partner-relay-milter"
#endif

inline constexpr const char* kDefaultConfigPath = PRM_CONFDIR "/partner-relay-milter.conf";

// An IPv4 or IPv6 network in CIDR form.
struct Network {
    bool v6 = false;
    std::uint8_t addr[16] = {};
    int prefix = 0;
    std::string text;

    // Parse "a.b.c.d[/n]" or "x:y::z[/n]"; returns nullopt when malformed.
    static std::optional<Network> parse(std::string_view s);
    // True when ADDR (textual IPv4/IPv6, "IPv6:" prefix and brackets
    // tolerated, as MTAs send {client_addr}) lies inside this network.
    bool contains(std::string_view addr) const;
};

enum class Mode { enforce, shadow };
enum class Mta { postfix, sendmail };

#ifndef PRM_QUEUEDIR
#define PRM_QUEUEDIR "/var/spool/postfix"
#endif

// [oauth]: the token broker partner-relay-tokend(8). The socket lies below
// Postfix's queue directory so that smtp(8) reaches it chrooted or not as
// socketmap:unix:private/NAME; NAME must not be a master.cf service name.
struct OAuthConfig {
    std::string socket = PRM_QUEUEDIR "/private/partner-relay-tokens";
    unsigned socket_mode = 0660;
    std::string socket_group = "postfix";  // empty: the broker user's group
    std::string user;                      // empty: do not change user
    std::string pidfile;
    std::string cafile;                    // empty: the system CA store
    int connect_timeout = 10;              // seconds, TCP + TLS handshake
    int timeout = 30;                      // seconds, the whole token request
    int refresh_margin = 1800;             // refresh this long before expiry (or at half life)
    int expiry_safety = 600;               // stop serving a token this long before it expires
    int retry_max = 300;                   // longest pause between failed fetches (backoff cap)
    int max_response_size = 65536;         // bytes of a token endpoint's reply
    int fetch_concurrency = 32;            // fetching threads (half at most for retries)
    std::string stats_file;                // empty: no metrics file
    int stats_interval = 60;
};

// One documented key of the main configuration.
struct KeyInfo {
    const char* section;
    const char* name;
    const char* type;         // "string", "path", "bool", "list", "address", ...
    const char* default_value;
    bool reloadable;
    const char* summary;
};

// The table of every fixed key (sections categories, classify and
// fallback_senders take free-form keys and are documented separately).
const std::vector<KeyInfo>& config_keys();

// The tables tool's default output directories (partner-relay-tables -o).
inline constexpr const char* kDefaultTablesDir = "/etc/postfix/partner-relay";
inline constexpr const char* kDefaultSendmailTablesDir = "/etc/mail/partner-relay";

struct Config {
    std::string path;  // where it was read from

    // [milter]
    std::string socket = "local:" PRM_RUNDIR "/milter.sock";
    unsigned socket_mode = 0660;            // mode of a UNIX socket (-m overrides)
    std::string partners = PRM_CONFDIR "/partners.conf";
    std::vector<Network> trusted_networks;  // default 127.0.0.0/8, ::1/128
    bool trust_authenticated = true;        // SASL-authenticated clients are trusted
    std::string fallback_daemon_name = "FALLBACK";
    std::string fallback_sender;            // required
    std::string user;                       // empty: do not change user
    std::string pidfile;                    // empty: no pid file
    int log_level = 6;                      // syslog priority threshold (LOG_INFO)
    std::string log_facility = "mail";
    Mode mode = Mode::enforce;
    Mta mta = Mta::postfix;                 // how partner routes are expressed
    std::string postfix_user = "postfix";   // mail_owner, for the socket reach check; empty: none
    std::string on_error = "accept";        // accept|tempfail when the milter fails internally
    std::string partner_transport = "partner";
    std::string partner_smtps_transport = "partner-smtps";
    std::string partner_oauth_transport = "partner-oauth";  // auth = oauth2 partners
    std::vector<int> implicit_tls_ports = {465, 2465};
    std::string stats_file;                 // empty: no metrics file
    int stats_interval = 60;                // seconds
    int fallback_alert_rate = 20;           // percent; 0: no fallback alert
    int fallback_alert_min_messages = 10;   // partner-routed messages in the window
    int fallback_alert_window = 900;        // seconds
    std::vector<Network> allowed_private_relays;  // partner hosts allowed in private space
    std::string relay_cafile;               // CA bundle for partner relays; empty: system store
    bool partners_permissions_warn = false;  // partners_permissions = warn (else strict)
    std::string tables_dir = kDefaultTablesDir;  // where the published stamp is; empty: no check
    bool tables_dir_given = false;          // the file has the key (else mta picks the default)
    bool allow_core_dumps = false;          // debug only: the core holds partner passwords

    // [oauth]: partner-relay-tokend(8), the OAuth2 token broker.
    OAuthConfig oauth;

    // [sync] (read by partner-relay-sync only; config_sync.cpp)
    std::string sync_dsn;                   // libpq connection string; empty: not configured
    int sync_interval = 5;                  // seconds between polls of the version row
    int sync_max_drop = 50;                 // percent of active partners one snapshot may drop
    std::string sync_query;                 // empty: SELECT * FROM partner_relay.partners
    int sync_grace = -1;                    // seconds; -1: Postfix's maximal_queue_lifetime
    std::string sync_milter_pidfile;        // empty: [milter] pidfile
    std::string sync_tokend_pidfile;        // empty: no token broker to signal
    std::string sync_state_dir = PRM_STATEDIR "/sync";
    std::string sync_stats_file;            // empty: no metrics file
    std::string sync_host;                  // empty: the host name (gethostname)
    std::string sync_tables_dir = "/etc/postfix/partner-relay";
    bool sync_record_applied = true;        // write partner_relay.host_applied

    // [headers]
    std::string partner_header = "X-Partner-Id";
    std::string category_header = "X-Email-Category";
    std::string route_header = "X-Partner-Relay-Route";
    bool strip_partner = true;  // delete the partner header before the message leaves

    // [categories], with the built-in defaults applied first.
    CategoryRegistry categories = CategoryRegistry::defaults();
    // [classify], in file order.
    ClassifyRules rules;
    // [fallback_senders]: category -> fallback sender override.
    std::map<std::string, std::string, std::less<>> fallback_senders;

    // The fallback sender for CATEGORY (override, else fallback_sender).
    const std::string& fallback_sender_for(std::string_view category) const;
};

struct ConfigResult {
    std::optional<Config> config;  // set only when errors is empty
    Diags errors;
    Diags warnings;
};

// Read and validate the main configuration at PATH.
ConfigResult load_config(const std::string& path);

// Validate an already parsed INI file (tests, fuzzing).
ConfigResult load_config_ini(const struct IniFile& ini);

// Render every effective setting as INI text (for -n), never a secret.
std::string dump_config(const Config& cfg);

// SPEC with a loopback host added to an inet:PORT or inet6:PORT that names
// none (127.0.0.1, ::1): what the daemon binds and the tables tool prints.
std::string socket_with_host(const std::string& spec);

}  // namespace prm
