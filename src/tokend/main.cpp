// main.cpp - partner-relay-tokend(8): the OAuth2 token broker for Postfix.
//
// What: reads the main config and the partner table through the core (as
// the milter does); keeps one client-credentials token per application of
// the active oauth2 partners (cache.hpp) and serves them to Postfix's
// smtp(8) over socketmap (server.hpp, map name xoauth2). Options: -c FILE
// (main config), -f (foreground, log to stderr too), -n (check the config,
// print the oauth2 partners and exit), -V, -h.
//
// Order at start: load the snapshot; create the socket (as root, with
// mode and group); daemonize unless -f; pid file; drop to [oauth] user;
// block the signals, start the workers and the listener; then the main
// thread waits for signals: SIGUSR1 reloads config and partner table (a
// failed reload keeps the old one), SIGTERM/SIGINT stop; every
// [oauth] stats_interval seconds the metrics file is rewritten.
//
// Contract: exit 0 on a clean stop or a good -n, 1 on a config error, 2 on
// a usage error, 3 on a start-up failure. No secret or token is printed or
// logged; the process is not dumpable (tokens live in its memory).
// Thread safety: main thread only; the Broker and Server own their threads.
#include <curl/curl.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <set>
#include <string>

#include "core/logging.hpp"
#include "core/pidfile.hpp"
#include "core/snapshot.hpp"
#include "tokend/cache.hpp"
#include "tokend/server.hpp"

#ifndef PRM_VERSION
#define PRM_VERSION "unknown"
#endif

namespace prm::tokend {
namespace {

constexpr const char* kIdent = "partner-relay-tokend";

struct Options {
    std::string config_path = kDefaultConfigPath;
    bool foreground = false, check = false, version = false;
};

// The usage text.
const char* usage() {
    return "usage: partner-relay-tokend [-c FILE] [-f]\n"
           "       partner-relay-tokend [-c FILE] -n\n"
           "       partner-relay-tokend -V\n";
}

// Parse the command line; 0, or 2 with ERR set.
int parse(int argc, char** argv, Options& o, std::string& err) {
    opterr = 0;
    int c;
    while ((c = getopt(argc, argv, ":c:fnVh")) != -1) {
        switch (c) {
            case 'c': o.config_path = optarg; break;
            case 'f': o.foreground = true; break;
            case 'n': o.check = true; break;
            case 'V': o.version = true; break;
            case 'h': return err = "", 2;
            case ':': return err = std::string("option needs an argument: ") + argv[optind - 1], 2;
            default: return err = std::string("unknown option: ") + argv[optind - 1], 2;
        }
    }
    if (optind < argc) return err = std::string("unexpected argument: ") + argv[optind], 2;
    return 0;
}

// Print diagnostics to stderr.
void print_diags(const Diags& ds, const char* what) {
    for (const Diag& d : ds) std::cerr << kIdent << ": " << what << ": " << d.str() << "\n";
}

// -n: the config, the oauth2 partners and their applications (no secret).
int run_check(const Options& o) {
    SnapshotResult r = load_snapshot(o.config_path, 1);
    print_diags(r.errors, "error");
    if (!r.snapshot) return 1;
    std::set<std::string> apps;
    std::size_t active = 0, total = 0;
    for (const Partner& p : r.snapshot->partners.partners) {
        if (p.auth != AuthKind::oauth2) continue;
        total++;
        if (!p.active) {
            std::cout << p.id << ": inactive: " << p.reason << "\n";
            continue;
        }
        active++;
        apps.insert(p.oauth_token_url + '\n' + p.oauth_client_id + '\n' + p.oauth_scope);
        std::cout << p.id << ": active: sender " << p.sender << " user " << p.username
                  << " endpoint " << p.oauth_token_host << " client " << p.oauth_client_id
                  << (p.waiting ? " (waiting for partner-relay-tables: fetched and served all the same)" : "")
                  << "\n";
    }
    const OAuthConfig& oc = r.snapshot->config.oauth;
    std::cout << o.config_path << ": OK; socket " << oc.socket << "; " << active << " of " << total
              << " oauth2 partners active, " << apps.size() << " applications\n";
    return 0;
}

// Not dumpable: no core file, no ptrace by the same user (tokens in memory).
void protect_memory() { prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }

// Become NAME (setgid, initgroups, setuid; root must not come back).
bool drop_to(const std::string& name, std::string& err) {
    if (name.empty()) return true;
    struct passwd* pw = getpwnam(name.c_str());
    if (!pw) return err = "unknown user: " + name, false;
    if (geteuid() != 0) return geteuid() == pw->pw_uid || (err = "not root: cannot become " + name, false);
    if (setgid(pw->pw_gid) != 0 || initgroups(name.c_str(), pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
        return err = "cannot become " + name + ": " + std::strerror(errno), false;
    if (pw->pw_uid != 0 && setuid(0) == 0) return err = "setuid(0) still succeeds after the drop", false;
    return true;
}

// Fork into the background, new session.
bool daemonize(std::string& err) {
    pid_t p = fork();
    if (p < 0) return err = std::string("fork: ") + std::strerror(errno), false;
    if (p > 0) _exit(0);
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
        if (fd > 2) close(fd);
    }
    return true;
}

// Write TEXT to PATH atomically (temporary file, rename).
bool write_atomically(const std::string& path, const std::string& text) {
    std::string tmp = path + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp.c_str(), path.c_str()) == 0) return true;
    unlink(tmp.c_str());
    return false;
}

// One metric family in the Prometheus text format.
void family(std::string& out, const char* name, const char* type, const char* help, double v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name +
           " " + std::to_string(static_cast<long long>(v)) + "\n";
}

// The metrics file text.
std::string metrics(Broker& b) {
    Stats s = b.stats();
    std::string out;
    family(out, "partner_relay_tokend_fetches_total", "counter", "Successful token fetches.", s.fetches);
    family(out, "partner_relay_tokend_failures_total", "counter", "Failed token fetches.", s.failures);
    family(out, "partner_relay_tokend_lookups_ok_total", "counter", "Socketmap lookups answered OK.",
           s.lookups_ok);
    family(out, "partner_relay_tokend_lookups_temp_total", "counter",
           "Socketmap lookups answered TEMP.", s.lookups_temp);
    family(out, "partner_relay_tokend_applications", "gauge", "Applications (token URL, client id, scope).",
           s.apps);
    family(out, "partner_relay_tokend_valid_tokens", "gauge", "Applications holding a usable token.",
           s.valid_tokens);
    family(out, "partner_relay_tokend_token_age_seconds", "gauge", "Age of the oldest usable token.",
           s.max_token_age);
    return out;
}

// Load the snapshot, logging what is wrong; null on errors.
std::shared_ptr<const Snapshot> load(const std::string& path, std::uint64_t gen) {
    SnapshotResult r = load_snapshot(path, gen);
    for (const Diag& d : r.errors) logger().log(Level::err, "config: " + d.str());
    for (const Diag& d : r.warnings) logger().log(Level::warning, "config: " + d.str());
    return r.snapshot;
}

// Wait for signals; reload, write metrics, return on SIGTERM/SIGINT.
void signal_loop(const Options& o, std::shared_ptr<const Snapshot> snap, Broker& broker, sigset_t set) {
    std::uint64_t gen = 1;
    for (;;) {
        const OAuthConfig& oc = snap->config.oauth;
        if (!oc.stats_file.empty() && !write_atomically(oc.stats_file, metrics(broker)))
            logger().log(Level::warning, "cannot write " + oc.stats_file);
        timespec ts{oc.stats_file.empty() ? 3600 : oc.stats_interval, 0};
        int sig = sigtimedwait(&set, nullptr, &ts);
        if (sig == SIGTERM || sig == SIGINT) return;
        if (sig != SIGUSR1) continue;
        auto next = load(o.config_path, ++gen);
        if (!next) {
            logger().log(Level::err, "reload failed: keeping the previous configuration");
            continue;
        }
        if (next->config.oauth.socket != oc.socket)
            logger().log(Level::warning, "reload: [oauth] socket changes only at restart");
        if (next->config.oauth.fetch_concurrency != oc.fetch_concurrency)
            logger().log(Level::warning, "reload: [oauth] fetch_concurrency changes only at restart");
        broker.load(*next);
        snap = next;
        logger().log(Level::notice, "reloaded");
    }
}

// The daemon.
int run_daemon(const Options& o) {
    set_logger(make_stderr_logger(static_cast<int>(Level::info)));
    auto snap = load(o.config_path, 1);
    if (!snap) return 1;
    const Config& cfg = snap->config;
    set_logger(make_syslog_logger(kIdent, cfg.log_facility, cfg.log_level, o.foreground));
    protect_memory();
    std::string err;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return logger().log(Level::err, "curl init failed"), 3;
    Broker broker;  // its threads start after the drop, below
    Server srv(broker);
    if (!srv.open(cfg.oauth, err)) return logger().log(Level::err, err), 3;
    if (!o.foreground && !daemonize(err)) return logger().log(Level::err, err), 3;
    if (!cfg.oauth.pidfile.empty() && !write_pid_file(cfg.oauth.pidfile, getpid(), err))
        return logger().log(Level::err, "cannot write the pid file: " + err), 3;
    if (!drop_to(cfg.oauth.user, err)) return logger().log(Level::err, err), 3;
    protect_memory();  // setuid() resets the dumpable flag
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGUSR1, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    broker.load(*snap);
    broker.start(cfg.oauth.fetch_concurrency);
    srv.start();
    logger().log(Level::notice, "started socket=" + cfg.oauth.socket);
    signal_loop(o, snap, broker, set);
    srv.stop();
    broker.stop();
    if (!cfg.oauth.pidfile.empty() && unlink(cfg.oauth.pidfile.c_str()) != 0 && errno != ENOENT)
        logger().log(Level::info, "cannot remove " + cfg.oauth.pidfile + " (" + std::strerror(errno) +
                                      "): the next start replaces it");
    logger().log(Level::notice, "stopped");
    return 0;
}

}  // namespace
}  // namespace prm::tokend

int main(int argc, char** argv) {
    prm::tokend::Options o;
    std::string err;
    if (prm::tokend::parse(argc, argv, o, err) != 0) {
        if (!err.empty()) std::cerr << "partner-relay-tokend: " << err << "\n";
        std::cerr << prm::tokend::usage();
        return 2;
    }
    if (o.version) return std::cout << "partner-relay-tokend " << PRM_VERSION << "\n", 0;
    if (o.check) return prm::tokend::run_check(o);
    return prm::tokend::run_daemon(o);
}
