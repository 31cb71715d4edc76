// main.cpp - partner-relay-sync(8): the partner table from PostgreSQL, per MTA host.
//
//   partner-relay-sync [-c FILE] [-f] [-n] [--once] [--check] [--status] [--force] [-V]
//
// Reads the main configuration (its [sync] section says where the database
// is), then runs one of the modes of loop.hpp. Exit codes are in kUsage and
// in the manual. Never prints a partner value.
//
// Thread safety: single-threaded. Limits: those of the modes.
#include <cstdio>
#include <string>

#include "core/config.hpp"
#include "core/logging.hpp"
#include "sync/loop.hpp"
#include "sync/pg.hpp"

namespace {

constexpr const char* kUsage =
    "usage: partner-relay-sync [-c FILE] [-f] [-n] [--once] [--check] [--status] [--force] [-V]\n"
    "  -c FILE     main configuration (default " PRM_CONFDIR "/partner-relay-milter.conf)\n"
    "  -f          log to stderr as well as to syslog (the loop runs in the foreground)\n"
    "  -n          check the configuration and exit\n"
    "  --once      sync once and exit (cron, tests)\n"
    "  --check     print what the database would change on this host; change nothing\n"
    "  --status    print which version every host applied\n"
    "  --force     apply a snapshot although it drops more than max_drop\n"
    "  -V          print the version and exit\n"
    "exit: 0 ok, 1 refused (--once) or a difference (--check, --status), 64 usage,\n"
    "      69 database unreachable, 73 cannot publish, 78 configuration error\n";

struct Options {
    std::string config = prm::kDefaultConfigPath;
    bool foreground = false, check_config = false, once = false, check = false, status = false,
         force = false, version = false, help = false;
};

// Parse argv into OPT; false (after a message) on a usage error.
bool parse_args(int argc, char** argv, Options& opt) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-c" && i + 1 < argc) opt.config = argv[++i];
        else if (a == "-f") opt.foreground = true;
        else if (a == "-n") opt.check_config = true;
        else if (a == "--once") opt.once = true;
        else if (a == "--check") opt.check = true;
        else if (a == "--status") opt.status = true;
        else if (a == "--force") opt.force = true;
        else if (a == "-V") opt.version = true;
        else if (a == "-h" || a == "--help") opt.help = true;
        else {
            std::fprintf(stderr, "partner-relay-sync: %s: %s\n",
                         a == "-c" ? "missing argument to" : "unknown argument", a.c_str());
            return false;
        }
    }
    if (opt.once + opt.check + opt.status > 1) {
        std::fprintf(stderr, "partner-relay-sync: --once, --check and --status exclude each other\n");
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    Options opt;
    if (!parse_args(argc, argv, opt)) {
        std::fputs(kUsage, stderr);
        return prm::kSyncUsage;
    }
    if (opt.help) return std::fputs(kUsage, stdout), prm::kSyncOk;
    if (opt.version) return std::printf("partner-relay-sync %s\n", PRM_VERSION), prm::kSyncOk;

    prm::ConfigResult cr = prm::load_config(opt.config);
    for (const auto& w : cr.warnings) std::fprintf(stderr, "partner-relay-sync: warning: %s\n", w.str().c_str());
    if (!cr.config) {
        for (const auto& d : cr.errors) std::fprintf(stderr, "partner-relay-sync: %s\n", d.str().c_str());
        return prm::kSyncConfig;
    }
    prm::Config cfg = std::move(*cr.config);
    if (cfg.sync_dsn.empty()) {
        std::fprintf(stderr, "partner-relay-sync: %s: [sync] dsn is not set\n", opt.config.c_str());
        return prm::kSyncConfig;
    }
    if (std::string err; !prm::check_dsn(cfg.sync_dsn, err)) {
        std::fprintf(stderr, "partner-relay-sync: %s: [sync] dsn: not a valid libpq connection string: %s\n",
                     opt.config.c_str(), err.c_str());
        return prm::kSyncConfig;
    }
    if (opt.check_config) return std::printf("%s: configuration ok\n", opt.config.c_str()), prm::kSyncOk;

    bool daemon = !(opt.once || opt.check || opt.status);
    if (daemon || opt.once)
        prm::set_logger(prm::make_syslog_logger("partner-relay-sync", cfg.log_facility, cfg.log_level,
                                                opt.foreground || opt.once));
    else
        prm::set_logger(prm::make_stderr_logger(cfg.log_level));

    prm::Syncer s(cfg, opt.force);
    if (std::string err; !s.separate(err)) {
        std::fprintf(stderr, "partner-relay-sync: %s: [milter] user: %s\n", opt.config.c_str(), err.c_str());
        return prm::kSyncConfig;
    }
    if (opt.once) return s.once();
    if (opt.check) return s.check();
    if (opt.status) return s.status();
    return s.run(opt.config);
}
