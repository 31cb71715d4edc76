// tables.hpp - build and install the Postfix lookup tables for the partners.
//
// What: from a loaded Snapshot, build the two tables the partner transports
// read (contrib/postfix/master.cf.fragment):
//   sasl_passwd  partner sender address -> "username:password" (active
//                partners only), read by smtp_sasl_password_maps with
//                smtp_sender_dependent_authentication = yes;
//   tls_policy   "[host]:port" -> level (secure|verify|encrypt, or
//                fingerprint with match= digests; never lower) with
//                servername= for SNI, one entry per next hop (partners
//                sharing a relay get the strictest level), plus the loopback
//                fallback hops (plain: none; implicit TLS: encrypt).
// Then install them atomically: write temporary sources in the output
// directory, postmap them, rename the databases and then the sources into
// place, so Postfix never opens a half-written table.
//
// Contract: build_tables() is pure. install_tables() and the postconf
// helpers run Postfix tools (postmap, postconf) found in PATH or /usr/sbin;
// they honour MAIL_CONFIG like the tools themselves. Nothing here ever
// prints or logs a password: warnings name the partner, file and line only.
//
// OAuth2 partners (auth = oauth2) get a TLS policy entry but no sasl_passwd
// entry: Postfix's partner-oauth transport asks partner-relay-tokend(8)
// for their tokens through socketmap (tables_oauth.cpp).
//
// Thread safety: none needed (a one-shot command line tool).
// Limits: database types hash, btree, lmdb and cdb (the ones whose file
// names postmap derives with a single suffix).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/diag.hpp"
#include "core/published.hpp"
#include "core/snapshot.hpp"

namespace prm {

// One "key value" line of a postmap source file.
struct TableEntry {
    std::string key;
    std::string value;
};

// A loopback fallback listener the partner transports may hand mail to.
struct FallbackHop {
    std::string nexthop;        // "[127.0.0.1]:10027"
    bool implicit_tls = false;  // smtpd_tls_wrappermode=yes
};

struct PostfixTables {
    std::vector<TableEntry> sasl;        // sender -> user:password
    std::vector<std::string> sasl_partner;  // the partner id of each sasl entry
    std::vector<TableEntry> tls_policy;  // [host]:port -> policy
    std::vector<std::string> warnings;   // for stderr, never a secret
    std::vector<PublishedPartner> published;  // the partners with a SASL entry (the stamp)
    std::string milter_user;             // [milter] user: the stamp's group
};

// The recipe's fallback hops when master.cf cannot be read.
std::vector<FallbackHop> default_fallback_hops();

// Fallback hops from `postconf -P` output: inet services whose
// milter_macro_daemon_name is DAEMON_NAME (the config's fallback name).
std::vector<FallbackHop> parse_fallback_hops(std::string_view postconf_p,
                                             std::string_view daemon_name);

// The TLS policy value for a next hop HOST at level LEVEL; FINGERPRINTS
// are the match= digests of the fingerprint level.
std::string tls_policy_value(const std::string& host, TlsLevel level,
                             const std::vector<std::string>& fingerprints = {});

// Build both tables from SNAP (pure).
PostfixTables build_tables(const Snapshot& snap, const std::vector<FallbackHop>& hops);

// Render ENTRIES as a postmap source file with a header comment.
std::string render_table(const std::vector<TableEntry>& entries, std::string_view what);

// Per-partner status lines for --check ("id: active ..." / "id: inactive: why").
std::string check_report(const Snapshot& snap);

// Warning text when PATH is readable by group or others, else "".
std::string mode_warning(const std::string& path);

// Run `postconf -h default_database_type` (then `postconf -dh`); "" if both fail.
std::string default_database_type();

// Run `postconf -P`; the output, or "" when it fails.
std::string postconf_master_params();

// The file suffix postmap gives a database of TYPE (".db", ".lmdb", ".cdb"),
// or "" when TYPE is not supported.
std::string db_suffix(std::string_view type);

// Outcome of install_tables(): ok, or the step that failed and why.
struct InstallResult {
    bool ok = false;
    bool postmap_failed = false;  // postmap missing or failing (else: I/O)
    std::string error;
};

// Write sasl_passwd (0600) and tls_policy (0644) into DIR atomically; run
// postmap with DBTYPE unless POSTMAP is false; then the published stamp
// (tables/stamp.hpp) naming T.published.
InstallResult install_tables(const std::string& dir, const PostfixTables& t,
                             const std::string& dbtype, bool postmap);

// The `postconf -e` / `postconf -M` / `postconf -P` lines that hook the
// recipe into Postfix, with DIR and the milter socket of CFG.
// QUEUE_DIR (Postfix's queue_directory, may be empty) makes a UNIX socket
// below it relative, as a chrooted smtpd needs (postfix_milter_socket).
std::string hook_lines(const Config& cfg, const std::string& dir,
                       const std::vector<FallbackHop>& hops,
                       const std::string& queue_dir = std::string());

// libmilter socket syntax ("local:/p", "inet:port@host") in Postfix syntax.
std::string postfix_milter_socket(const std::string& socket);

// The same, but a UNIX socket below QUEUE_DIR is named relative to it:
// Postfix daemons run with the queue directory as working directory
// (chrooted or not), and a chrooted smtpd or cleanup (Debian's default)
// cannot reach an absolute path. Empty QUEUE_DIR: as above.
std::string postfix_milter_socket(const std::string& socket, const std::string& queue_dir);

// Run `postconf -h queue_directory`; "" when it fails.
std::string postfix_queue_directory();

// `postconf -h NAME`, trimmed; "" when postconf fails.
std::string postconf_value(const std::string& name);

// The -o settings of the partner-oauth transport (tables_oauth.cpp): XOAUTH2
// only, tokens from the [oauth] socket (relative to QUEUE_DIR), verified
// TLS, FALLBACK as smtp_fallback_relay.
std::vector<std::string> oauth_transport_params(const Config& cfg, const std::string& dir,
                                                const std::string& fallback,
                                                const std::string& queue_dir);

// The socketmap table partner-oauth reads: socketmap:unix:private/NAME:xoauth2
// when [oauth] socket lies below QUEUE_DIR (default /var/spool/postfix).
std::string oauth_password_map(const Config& cfg, const std::string& queue_dir);

// The main.cf postconf line: the global XOAUTH2 exclusion and the
// Microsoft 365 caps of the partner-oauth transport.
std::string oauth_main_lines(const Config& cfg);

}  // namespace prm
