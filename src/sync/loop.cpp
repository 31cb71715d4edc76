// loop.cpp - one sync round, the daemon loop and the metrics (see loop.hpp).
//
// Thread safety: single-threaded; the signal handlers only set flags and
// write one byte to a pipe that poll(2) watches. Limits: see loop.hpp.
#include "sync/loop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <set>

#include "core/logging.hpp"
#include "core/partners.hpp"
#include "core/published.hpp"
#include "core/dsn.hpp"
#include "sync/logline.hpp"
#include "sync/publish.hpp"
#include "sync/rows.hpp"

namespace prm {
namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_reload = 0;
int g_wake[2] = {-1, -1};

// SIGTERM/SIGINT stop, SIGUSR1 reloads the configuration; both wake poll(2).
extern "C" void on_signal(int sig) {
    int saved = errno;
    if (sig == SIGUSR1)
        g_reload = 1;
    else
        g_stop = 1;
    if (g_wake[1] >= 0) {
        char c = 1;
        (void)!::write(g_wake[1], &c, 1);
    }
    errno = saved;
}

// Empty the wake-up pipe.
void drain_wake() {
    char buf[64];
    while (g_wake[0] >= 0 && ::read(g_wake[0], buf, sizeof buf) > 0) {
    }
}

// Install the handlers and the non-blocking self-pipe.
void install_signals() {
    if (::pipe2(g_wake, O_NONBLOCK | O_CLOEXEC) != 0) g_wake[0] = g_wake[1] = -1;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int s : {SIGTERM, SIGINT, SIGUSR1}) sigaction(s, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}

// The active partner ids of the partner file at PATH (empty when none).
std::set<std::string> local_active(const Config& cfg) {
    std::set<std::string> ids;
    struct stat sb {};
    if (::stat(cfg.partners.c_str(), &sb) != 0) return ids;
    PartnerTable t = load_partners(cfg.partners, cfg);
    for (const Partner& p : t.partners)
        if (p.active) ids.insert(p.id);
    return ids;
}

}  // namespace

// Read the state file once (applied version and published entries).
void Syncer::load_state() {
    if (state_loaded_) return;
    state_loaded_ = true;
    std::string err;
    if (!read_state(cfg_, applied_, kept_, err)) {
        applied_ = -1;
        kept_.clear();
    }
}

// Log the database's reachability once per change.
void Syncer::db_state(bool up, const std::string& err) {
    int now = up ? 1 : 0;
    if (now != db_up_) {
        if (up)
            logger().log(Level::notice, KvLine("database-reachable"));
        else
            logger().log(Level::warning,
                         KvLine("database-unreachable")
                             .add("error", err)
                             .add("effect", "nothing changes on this host until it is back; mail "
                                            "flows on the last applied version"));
    }
    db_up_ = now;
    last_err_ = err;
}

// Connect and LISTEN (a refused LISTEN only means polling).
bool Syncer::connect() {
    std::string err;
    if (!db_.connect(cfg_.sync_dsn, err)) {
        db_state(false, err);
        return false;
    }
    db_state(true, "");
    if (!db_.listen(err))
        logger().log(Level::info, KvLine("listen-refused").add("error", err).add("mode", "polling"));
    return true;
}

// One round: version, snapshot, validation, drop guard, publication.
Syncer::Outcome Syncer::step() {
    load_state();
    std::string err;
    auto v = db_.version(err);
    if (!v) {
        db_.close();
        db_state(false, err);
        return Outcome::db_error;
    }
    struct stat sb {};
    bool have_file = ::stat(cfg_.partners.c_str(), &sb) == 0;
    // No published stamp (tables written before the stamp existed, i.e. an
    // upgrade, or a stamp removed): publish again, or the milter would keep
    // every partner waiting for the tables until the database changes.
    bool have_stamp = cfg_.tables_dir.empty() ||
                      ::stat((cfg_.sync_tables_dir + "/" + kStampName).c_str(), &sb) == 0;
    if (*v == applied_ && have_file && have_stamp)
        return last_success_ = std::time(nullptr), Outcome::unchanged;
    if (*v == refused_version_ && !force_) return Outcome::refused;

    RowSet rows;
    if (!db_.snapshot(cfg_.sync_query.empty() ? kDefaultQuery : cfg_.sync_query, rows, err)) {
        db_.close();
        db_state(false, "reading the snapshot: " + err);
        return Outcome::db_error;
    }
    BuiltPartners built = build_partners(rows, cfg_);
    bool log_it = rows.version != refused_version_;
    if (!built.ok) {
        if (log_it)
            logger().log(Level::err, KvLine("refused")
                                         .num("version", rows.version)
                                         .add("reason", built.error)
                                         .add("effect", "nothing changed"));
        refused_version_ = rows.version;
        refused_ = true;
        return Outcome::refused;
    }
    std::set<std::string> after;
    for (const Partner& p : built.table.partners)
        if (p.active) after.insert(p.id);
    DropCheck dc = drop_check(local_active(cfg_), after, cfg_.sync_max_drop);
    if (dc.refused && !force_) {
        if (log_it)
            logger().log(Level::err, KvLine("refused")
                                         .num("version", rows.version)
                                         .add("reason", "max_drop")
                                         .num("active", static_cast<long long>(dc.before))
                                         .num("dropped", static_cast<long long>(dc.dropped))
                                         .num("max_drop", cfg_.sync_max_drop)
                                         .add("effect", "nothing changed; --force applies it"));
        refused_version_ = rows.version;
        refused_ = true;
        return Outcome::refused;
    }

    for (const std::string& r : built.rejected)
        logger().log(Level::warning, KvLine("row-ignored").add("reason", r));
    for (const Diag& d : built.warnings) logger().log(Level::warning, KvLine("warning").add("reason", d.message));
    for (const Partner& p : built.table.partners)
        if (!p.active)
            logger().log(Level::warning, KvLine("partner-inactive").add("partner", p.id).add("reason", p.reason));

    PublishResult pr = publish(cfg_, built, rows.version, kept_, std::time(nullptr));
    if (!pr.ok) {
        logger().log(Level::err, KvLine("publish-failed").num("version", rows.version).add("error", pr.error));
        return Outcome::publish_error;
    }
    for (const std::string& n : pr.notes) logger().log(Level::warning, KvLine("reload-failed").add("error", n));
    applied_ = rows.version;
    kept_ = pr.state;
    refused_version_ = -1;
    refused_ = false;
    active_ = after.size();
    grace_ = pr.kept;
    last_success_ = std::time(nullptr);
    logger().log(Level::notice, KvLine("applied")
                                    .num("version", applied_)
                                    .num("partners", static_cast<long long>(built.table.partners.size()))
                                    .num("active", static_cast<long long>(after.size()))
                                    .num("sasl", static_cast<long long>(pr.sasl))
                                    .num("grace_kept", static_cast<long long>(pr.kept))
                                    .num("grace_expired", static_cast<long long>(pr.expired))
                                    .flag("forced", dc.refused));
    if (cfg_.sync_record_applied) {
        char host[256] = {};
        std::string name = cfg_.sync_host;
        if (name.empty() && ::gethostname(host, sizeof host - 1) == 0) name = host;
        if (!db_.record_applied(name, applied_, err))
            logger().log(Level::info, KvLine("host-applied-failed").add("host", name).add("error", err));
    }
    return Outcome::applied;
}

// The Prometheus text file, written atomically (0644: no secret in it).
void Syncer::write_metrics() {
    if (cfg_.sync_stats_file.empty()) return;
    std::string t;
    auto gauge = [&](const char* name, const char* help, long long v) {
        t += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name +
             " " + std::to_string(v) + "\n";
    };
    gauge("partner_relay_sync_last_success_timestamp_seconds",
          "Unix time of the last round that reached the database and left this host current",
          static_cast<long long>(last_success_));
    gauge("partner_relay_sync_applied_version", "partner table version applied on this host",
          static_cast<long long>(applied_));
    gauge("partner_relay_sync_database_up", "1 when the last round reached the database",
          db_up_ == 1 ? 1 : 0);
    gauge("partner_relay_sync_refused", "1 when the newest version was refused (max_drop, unusable)",
          refused_ ? 1 : 0);
    gauge("partner_relay_sync_partners_active", "active partners in the applied version",
          static_cast<long long>(active_));
    gauge("partner_relay_sync_grace_entries", "SASL and TLS entries kept for removed partners",
          static_cast<long long>(grace_));
    std::string err;
    if (!write_file_atomic(cfg_.sync_stats_file, t, 0644, "", err))
        logger().log(Level::warning, KvLine("stats-file-failed").add("error", err));
}

// No database and no partner file: write an empty one so the milter runs
// without partners (everything through the global relay), as it always did.
void Syncer::cold_start() {
    struct stat sb {};
    if (::stat(cfg_.partners.c_str(), &sb) == 0) return;
    std::string err;
    if (write_file_atomic(cfg_.partners,
                          "# partners.conf: no partner yet (partner-relay-sync could not reach "
                          "the database at its first start)\n",
                          0600, cfg_.user, err))
        logger().log(Level::warning,
                     KvLine("cold-start")
                         .add("file", cfg_.partners)
                         .add("effect", "no partner file and no database: wrote an empty partner "
                                        "file; all mail uses the global relay"));
    else
        logger().log(Level::err, KvLine("cold-start-failed").add("error", err));
}

// --once: connect, one round; the exit code says what happened.
int Syncer::once() {
    if (!connect()) {
        cold_start();
        write_metrics();
        return kSyncUnavailable;
    }
    Outcome o = step();
    write_metrics();
    switch (o) {
        case Outcome::unchanged:
        case Outcome::applied:
            return kSyncOk;
        case Outcome::refused:
            return kSyncDiffers;
        case Outcome::db_error:
            return kSyncUnavailable;
        case Outcome::publish_error:
            return kSyncCantCreate;
    }
    return kSyncCantCreate;
}

// The daemon loop: rounds every interval or on NOTIFY, backoff while down.
int Syncer::run(const std::string& config_path) {
    install_signals();
    logger().log(Level::notice, KvLine("starting")
                                    .add("version", PRM_VERSION)
                                    .num("interval", cfg_.sync_interval)
                                    .add("dsn", redact_dsn(cfg_.sync_dsn)));
    int backoff = cfg_.sync_interval;
    bool first = true;
    while (!g_stop) {
        if (g_reload) {
            g_reload = 0;
            ConfigResult cr = load_config(config_path);
            if (cr.config) {
                cfg_ = std::move(*cr.config);
                logger().log(Level::notice, KvLine("config-reloaded").add("dsn", redact_dsn(cfg_.sync_dsn)));
                refused_version_ = -1;
            } else {
                for (const Diag& d : cr.errors)
                    logger().log(Level::err, KvLine("config-reload-failed")
                                                 .add("error", d.str())
                                                 .add("effect", "the old configuration stays"));
            }
        }
        if (!db_.connected() && !connect()) {
            if (first) cold_start();
            first = false;
            write_metrics();
            struct pollfd pf = {g_wake[0], POLLIN, 0};
            ::poll(&pf, 1, backoff * 1000);
            drain_wake();
            backoff = next_backoff(backoff, cfg_.sync_interval);
            continue;
        }
        first = false;
        backoff = cfg_.sync_interval;
        Outcome o = step();
        write_metrics();
        if (o == Outcome::db_error) {  // reconnect after a pause, never in a tight loop
            struct pollfd pf = {g_wake[0], POLLIN, 0};
            ::poll(&pf, 1, backoff * 1000);
            drain_wake();
            continue;
        }
        db_.wait_notify(cfg_.sync_interval * 1000, g_wake[0]);
        drain_wake();
    }
    logger().log(Level::notice, KvLine("stopping"));
    return kSyncOk;
}

}  // namespace prm
