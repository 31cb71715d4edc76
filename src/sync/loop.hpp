// loop.hpp - partner-relay-sync's modes: one sync, the daemon loop, --check, --status.
//
// What: a Syncer holds the loaded main configuration, the applied state of
// this host (state file) and one database connection. step() does one
// round: read the version row; when it differs from the applied one, read
// the snapshot, validate it (rows.hpp), apply the drop guard (plan.hpp) and
// publish (publish.hpp), then record the version in host_applied. run()
// repeats that every [sync] interval seconds or on a NOTIFY, reconnecting
// with backoff while the database is unreachable (then nothing changes on
// this host), and writes the metrics file after each round.
//
// Contract: log lines are key=value (logline.hpp); never a partner value
// (passwords, client secrets) nor the DSN password; one log
// line per state change of the database (reachable / unreachable), one per
// applied or refused version.
//
// Thread safety: single-threaded; signals only set flags and wake poll(2).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "sync/dbproc.hpp"
#include "sync/pg.hpp"
#include "sync/plan.hpp"

namespace prm {

// Exit codes (sysexits.h values where one fits).
inline constexpr int kSyncOk = 0;
inline constexpr int kSyncDiffers = 1;      // --check: a difference; --once: refused
inline constexpr int kSyncUsage = 64;
inline constexpr int kSyncUnavailable = 69;  // the database cannot be reached or read
inline constexpr int kSyncCantCreate = 73;   // cannot publish (tables, partner file)
inline constexpr int kSyncConfig = 78;

class Syncer {
public:
    Syncer(Config cfg, bool force) : cfg_(std::move(cfg)), force_(force) {}

    // Run the database side as the milter's user (dbproc.hpp); false with ERR.
    bool separate(std::string& err) { return db_.separate(cfg_.user, err); }

    int once();    // --once
    int check();   // --check
    int status();  // --status
    int run(const std::string& config_path);  // the daemon loop (until SIGTERM)

private:
    enum class Outcome { unchanged, applied, refused, db_error, publish_error };

    Outcome step();
    bool connect();
    void db_state(bool up, const std::string& err);
    void write_metrics();
    void load_state();
    void cold_start();

    Config cfg_;
    bool force_ = false;
    Db db_;
    bool state_loaded_ = false;
    std::int64_t applied_ = -1;        // version applied on this host (-1: none)
    std::vector<KeptEntry> kept_;      // what was published last
    int db_up_ = -1;                   // -1 unknown, 0 down, 1 up
    std::string last_err_;
    std::int64_t refused_version_ = -1;  // refused or unusable version, logged once
    bool refused_ = false;
    std::time_t last_success_ = 0;
    std::size_t active_ = 0, grace_ = 0;
};

}  // namespace prm
