// main.cpp - partner-relay-tables(8): write the Postfix tables for the partners.
//
//   partner-relay-tables -c FILE [-o DIR] [--check] [--no-postmap]
//
// Reads the main configuration and the partner table it names (the same
// load_snapshot() the milter uses), then either reports every partner's
// status (--check) or writes sasl_passwd and tls_policy into DIR and runs
// postmap on them atomically (tables.hpp), and prints the postconf lines
// that hook the recipe into Postfix. Exit codes are documented in the
// manual and in kUsage below. Never prints a password.
//
// Thread safety: single-threaded. Limits: those of load_snapshot().
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "core/snapshot.hpp"
#include "tables/grace.hpp"
#include "tables/sendmail_maps.hpp"
#include "tables/tables.hpp"

namespace {

// Exit codes (sysexits.h values where one fits).
constexpr int kExitOk = 0;
constexpr int kExitInactive = 1;      // --check: a partner is inactive or broken
constexpr int kExitUsage = 64;        // EX_USAGE
constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: postmap/postconf failed
constexpr int kExitCantCreate = 73;   // EX_CANTCREAT: cannot write DIR
constexpr int kExitConfig = 78;       // EX_CONFIG: bad main config, unreadable table

constexpr const char* kDefaultDir = "/etc/postfix/partner-relay";
constexpr const char* kDefaultSendmailDir = "/etc/mail/partner-relay";

constexpr const char* kUsage =
    "usage: partner-relay-tables [-c FILE] [-o DIR] [--check] [--no-postmap] [--grace TIME]\n"
    "       partner-relay-tables --mta sendmail [-c FILE] [-o DIR] [--makemap PATH]\n"
    "           [--sendmail-cf FILE]\n"
    "  -c FILE        main configuration (default " PRM_CONFDIR "/partner-relay-milter.conf)\n"
    "  -o DIR         output directory (default /etc/postfix/partner-relay)\n"
    "  --check        report every partner's status; write nothing\n"
    "  --no-postmap   write the table sources only (tests)\n"
    "  --grace TIME   keep removed partners' credentials and TLS policy this long\n"
    "                 (default maximal_queue_lifetime; Sendmail 5d; 0: drop now)\n"
    "  --mta sendmail write the Sendmail maps (default DIR /etc/mail/partner-relay)\n"
    "  --makemap PATH the makemap program; --sendmail-cf FILE: makemap -C FILE\n"
    "exit: 0 ok, 1 a partner is inactive (--check), 64 usage, 69 postmap or\n"
    "      postconf failed, 73 cannot write DIR, 78 configuration error\n";

struct Options {
    std::string config = prm::kDefaultConfigPath;
    std::string dir = kDefaultDir;
    bool check = false;
    bool postmap = true;
    bool dir_given = false;
    std::string mta = "postfix";
    std::string makemap = "makemap";
    std::string sendmail_cf;
    long grace = -1;  // seconds; -1: the MTA's queue lifetime
};

// Parse argv into OPT; false (after a message) on a usage error.
bool parse_args(int argc, char** argv, Options& opt, bool& help) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "-c" || a == "-o") && i + 1 < argc) {
            (a == "-c" ? opt.config : opt.dir) = argv[++i];
            opt.dir_given = opt.dir_given || a == "-o";
        } else if ((a == "--mta" || a == "--makemap" || a == "--sendmail-cf") && i + 1 < argc) {
            (a == "--mta" ? opt.mta : a == "--makemap" ? opt.makemap : opt.sendmail_cf) = argv[++i];
        } else if (a == "--grace" && i + 1 < argc) {
            opt.grace = prm::postfix_duration(argv[++i]);
            if (opt.grace < 0) {
                std::fprintf(stderr, "partner-relay-tables: --grace: want seconds or a Postfix "
                             "duration such as 5d, got %s\n", argv[i]);
                return false;
            }
        } else if (a == "--check") {
            opt.check = true;
        } else if (a == "--no-postmap") {
            opt.postmap = false;
        } else if (a == "-h" || a == "--help") {
            help = true;
        } else {
            std::fprintf(stderr, "partner-relay-tables: %s: %s\n",
                         a == "-c" || a == "-o" || a == "--grace" ? "missing argument to"
                                                                 : "unknown argument",
                         a.c_str());
            return false;
        }
    }
    if (opt.mta != "postfix" && opt.mta != "sendmail") {
        std::fprintf(stderr, "partner-relay-tables: --mta: want postfix or sendmail, got %s\n",
                     opt.mta.c_str());
        return false;
    }
    if (opt.mta == "sendmail" && !opt.dir_given) opt.dir = kDefaultSendmailDir;
    if (opt.dir.empty() || opt.config.empty()) {
        std::fprintf(stderr, "partner-relay-tables: empty -c or -o argument\n");
        return false;
    }
    return true;
}

// Print one diagnostic line per entry of DIAGS with a PREFIX.
void print_diags(const prm::Diags& diags, const char* prefix) {
    for (const auto& d : diags) std::fprintf(stderr, "partner-relay-tables: %s%s\n", prefix, d.str().c_str());
}

// --check: print every partner's status; 1 when any is not active.
int run_check(const prm::Snapshot& snap) {
    std::fputs(prm::check_report(snap).c_str(), stdout);
    std::size_t active = snap.partners.active_count();
    std::size_t total = snap.partners.partners.size();
    std::printf("%zu of %zu partners active\n", active, total);
    return active == total ? kExitOk : kExitInactive;
}

// Keep for the grace period what the previous run wrote into DIR and
// TABLES no longer have (grace.hpp); say so on stderr. The state file is
// written by finish_grace() once the new tables are in place.
prm::TablesGrace apply_grace(const std::string& dir, std::vector<prm::GraceTable> tables, long grace) {
    std::map<std::string, std::vector<prm::TableEntry>> previous;
    for (const auto& t : tables) previous[t.name] = prm::read_table_source(dir + "/" + t.name);
    prm::TablesGrace g = prm::keep_removed(tables, previous, prm::read_removed(dir), std::time(nullptr), grace);
    if (g.kept) {
        char when[32] = "?";
        std::tm tm{};
        if (localtime_r(&g.until, &tm)) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        std::fprintf(stderr, "partner-relay-tables: %zu %s of removed partners (or former senders) "
                     "kept until %s, for mail already queued for them (--grace 0 drops them now)\n",
                     g.kept, g.kept == 1 ? "entry" : "entries", when);
    }
    return g;
}

// After the tables are in place: remember since when the kept entries are gone.
void finish_grace(const std::string& dir, const prm::TablesGrace& g) {
    if (g.removed.empty()) {
        unlink((dir + "/removed").c_str());  // nothing kept: no state
        return;
    }
    std::string err = prm::write_removed(dir, g.removed);
    if (!err.empty())
        std::fprintf(stderr, "partner-relay-tables: warning: %s: the grace period of removed "
                     "partners' entries restarts at the next run\n", err.c_str());
}

// --mta sendmail: write the Sendmail maps into OPT.dir and print the hook lines.
int run_write_sendmail(const prm::Snapshot& snap, const Options& opt) {
    if (snap.config.mta != prm::Mta::sendmail)
        std::fprintf(stderr, "partner-relay-tables: warning: %s does not say [milter] mta = "
                     "sendmail: the milter will not rewrite recipients\n", snap.config.path.c_str());
    prm::SendmailMaps m = prm::build_sendmail_maps(snap);
    for (const auto& w : m.warnings) std::fprintf(stderr, "partner-relay-tables: warning: %s\n", w.c_str());
    // Timeout.queuereturn's default: how long mail may wait in the queue.
    prm::TablesGrace g = apply_grace(opt.dir, {{"authinfo", &m.authinfo}, {"tls", &m.tls}},
                                     opt.grace >= 0 ? opt.grace : 5 * 86400);
    std::string err = prm::install_sendmail_maps(opt.dir, m, opt.makemap, opt.sendmail_cf);
    if (!err.empty()) {
        std::fprintf(stderr, "partner-relay-tables: %s\n", err.c_str());
        return err.find("makemap") != std::string::npos ? kExitUnavailable : kExitCantCreate;
    }
    finish_grace(opt.dir, g);
    std::printf("wrote %s/routes (%zu entries), %s/authinfo (%zu) and %s/tls (%zu), makemap hash\n",
                opt.dir.c_str(), m.routes.size(), opt.dir.c_str(), m.authinfo.size(), opt.dir.c_str(),
                m.tls.size());
    std::fputs(prm::sendmail_hook_lines(snap.config, opt.dir, m).c_str(), stdout);
    return kExitOk;
}

// Write the tables into OPT.dir and print the hook lines.
int run_write(const prm::Snapshot& snap, const Options& opt) {
    // The fallback listeners as configured in master.cf, else the recipe's.
    std::vector<prm::FallbackHop> hops =
        prm::parse_fallback_hops(prm::postconf_master_params(), snap.config.fallback_daemon_name);
    if (hops.empty()) {
        std::fprintf(stderr,
                     "partner-relay-tables: warning: no fallback listener with "
                     "milter_macro_daemon_name=%s in master.cf (postconf -P); using the "
                     "recipe's [127.0.0.1]:10027 and [127.0.0.1]:10465\n",
                     snap.config.fallback_daemon_name.c_str());
        hops = prm::default_fallback_hops();
    }

    prm::PostfixTables t = prm::build_tables(snap, hops);
    for (const auto& w : t.warnings) std::fprintf(stderr, "partner-relay-tables: warning: %s\n", w.c_str());

    std::string dbtype;
    if (opt.postmap) {
        dbtype = prm::default_database_type();
        if (dbtype.empty()) {
            std::fprintf(stderr,
                         "partner-relay-tables: cannot run postconf to learn "
                         "default_database_type (is Postfix installed and main.cf readable?)\n");
            return kExitUnavailable;
        }
    }
    prm::TablesGrace g = apply_grace(opt.dir, {{"sasl_passwd", &t.sasl}, {"tls_policy", &t.tls_policy}},
                                     opt.grace >= 0 ? opt.grace : prm::postfix_queue_lifetime());
    prm::InstallResult r = prm::install_tables(opt.dir, t, dbtype, opt.postmap);
    if (!r.ok) {
        std::fprintf(stderr, "partner-relay-tables: %s\n", r.error.c_str());
        return r.postmap_failed ? kExitUnavailable : kExitCantCreate;
    }
    finish_grace(opt.dir, g);
    std::printf("wrote %s/sasl_passwd (%zu entries) and %s/tls_policy (%zu entries)%s%s\n",
                opt.dir.c_str(), t.sasl.size(), opt.dir.c_str(), t.tls_policy.size(),
                opt.postmap ? ", postmap type " : " (no postmap)", dbtype.c_str());
    std::fputs(prm::hook_lines(snap.config, opt.dir, hops, prm::postfix_queue_directory()).c_str(), stdout);
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    bool help = false;
    if (!parse_args(argc, argv, opt, help)) {
        std::fputs(kUsage, stderr);
        return kExitUsage;
    }
    if (help) {
        std::fputs(kUsage, stdout);
        return kExitOk;
    }

    // Writing publishes the partners: no waiting check (it would warn about
    // exactly the partners this run publishes); --check reports it.
    prm::SnapshotResult loaded = prm::load_snapshot(opt.config, 0, opt.check);
    if (!loaded.snapshot) {
        print_diags(loaded.errors, "");
        return kExitConfig;
    }
    const prm::Snapshot& snap = *loaded.snapshot;
    print_diags(loaded.warnings, "warning: ");
    // The partner table holds passwords: say so loudly when others can read it.
    std::string mode = prm::mode_warning(snap.partners.path);
    bool core_warned = false;
    for (const auto& w : loaded.warnings)
        if (w.str().find("mode") != std::string::npos && w.file == snap.partners.path) core_warned = true;
    if (!mode.empty() && !core_warned) std::fprintf(stderr, "partner-relay-tables: warning: %s\n", mode.c_str());

    if (opt.check) return run_check(snap);
    return opt.mta == "sendmail" ? run_write_sendmail(snap, opt) : run_write(snap, opt);
}
