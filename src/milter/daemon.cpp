// daemon.cpp - the daemon's modes and lifecycle, and the one message path.
//
// What: -n (check), -t (offline decision), and the daemon: snapshot, socket,
// daemonize, pid file, privilege drop, signal thread, libmilter, drain.
//
// Lifecycle contract:
//  - the main configuration must load, or the daemon does not start (1);
//  - the socket is opened as root, then privileges are dropped in Postfix's
//    order (resolve user, setgid, initgroups, setuid, check setuid(0) fails);
//    running as root without a user is refused unless -R;
//  - SIGUSR1/SIGUSR2 (and libmilter's SIGHUP/SIGTERM/SIGINT) are blocked in
//    every thread before any thread starts; one thread sigwaits USR1 (build a
//    new snapshot and swap it in; a failed reload keeps the old one and logs
//    why) and USR2 (log the counters), and writes cfg.stats_file every
//    cfg.stats_interval seconds; libmilter's own thread takes the others;
//  - SIGTERM: libmilter stops accepting; messages already started may finish
//    (new MAILs are answered tempfail) for up to -d seconds; then exit 0.
//
// Thread safety: the reload thread is the only writer of the snapshot
// holder; callbacks read it atomically.
#include "milter/daemon.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include "core/logging.hpp"
#include "core/msgfile.hpp"
#include "milter/glue.hpp"

namespace prm {

namespace {

const char* const kIdent = "partner-relay-milter";

// "<addr>" for an address given without brackets.
std::string bracketed(const std::string& a) {
    if (!a.empty() && a.front() == '<') return a;
    return "<" + a + ">";
}

// Print every diagnostic of DS to stderr.
void print_diags(const Diags& ds, const char* kind) {
    for (const auto& d : ds) std::cerr << kIdent << ": " << kind << ": " << d.str() << "\n";
}

// Log every diagnostic of DS at LEVEL.
void log_diags(const Diags& ds, Level level) {
    for (const auto& d : ds) logger().log(level, "NOQUEUE: " + d.str());
}

// The user the daemon runs as.
struct RunAs {
    bool change = false;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string name;
};

// Resolve NAME to its uid and primary gid.
bool resolve_user(const std::string& name, RunAs& ra, std::string& err) {
    if (name.empty()) return true;
    struct passwd pw {}, *res = nullptr;
    std::vector<char> buf(16384);
    if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || !res) {
        err = "unknown user: " + name;
        return false;
    }
    ra.change = true;
    ra.uid = pw.pw_uid;
    ra.gid = pw.pw_gid;
    ra.name = name;
    return true;
}

// Drop to RA in Postfix's order and prove that root cannot come back.
bool drop_privileges(const RunAs& ra, std::string& err) {
    if (!ra.change) return true;
    if (geteuid() != 0) {
        if (geteuid() == ra.uid) return true;
        err = "not root: cannot change to user " + ra.name;
        return false;
    }
    if (setgid(ra.gid) != 0) return (err = "setgid: " + std::string(std::strerror(errno)), false);
    if (initgroups(ra.name.c_str(), ra.gid) != 0)
        return (err = "initgroups: " + std::string(std::strerror(errno)), false);
    if (setuid(ra.uid) != 0) return (err = "setuid: " + std::string(std::strerror(errno)), false);
    if (ra.uid != 0 && setuid(0) == 0) return (err = "setuid(0) still succeeds after the drop", false);
    return true;
}

// Detach from the terminal: fork, setsid, fork, chdir /, stdio to /dev/null.
bool daemonize(std::string& err) {
    pid_t pid = fork();
    if (pid < 0) return (err = "fork: " + std::string(std::strerror(errno)), false);
    if (pid > 0) _exit(0);
    if (setsid() < 0) return (err = "setsid: " + std::string(std::strerror(errno)), false);
    pid = fork();
    if (pid < 0) return (err = "fork: " + std::string(std::strerror(errno)), false);
    if (pid > 0) _exit(0);
    if (chdir("/") != 0) return (err = "chdir /: " + std::string(std::strerror(errno)), false);
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0) return (err = "/dev/null: " + std::string(std::strerror(errno)), false);
    for (int i = 0; i < 3; ++i) dup2(fd, i);
    if (fd > 2) close(fd);
    return true;
}

// Write the pid file (not following a symlink).
bool write_pidfile(const std::string& path, std::string& err) {
    if (path.empty()) return true;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return (err = path + ": " + std::strerror(errno), false);
    std::string text = std::to_string(getpid()) + "\n";
    bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    close(fd);
    if (!ok) err = path + ": short write";
    return ok;
}

// Write TEXT to PATH atomically (temporary file in the same directory, rename).
bool write_atomically(const std::string& path, const std::string& text, std::string& err) {
    std::string tmp = path + ".tmp";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return (err = tmp + ": " + std::strerror(errno), false);
    bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp.c_str(), path.c_str()) == 0) return true;
    err = path + ": " + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
}

// The signals the daemon's threads must never take asynchronously.
sigset_t daemon_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, s);
    return set;
}

// Publish SNAP's gauges.
void publish_info(Counters& counters, const Snapshot& snap) {
    std::size_t active = snap.partners.active_count();
    counters.set_snapshot_info(snap.generation, active, snap.partners.partners.size() - active);
}

// Settings a reload cannot change: warn when they differ.
void warn_not_reloadable(const Config& old, const Config& now) {
    auto warn = [](const char* key) {
        logger().log(Level::warning, std::string("NOQUEUE: reload: [milter] ") + key +
                                         " changed; it takes effect at the next restart");
    };
    if (old.socket != now.socket) warn("socket");
    if (old.user != now.user) warn("user");
    if (old.pidfile != now.pidfile) warn("pidfile");
    if (old.log_facility != now.log_facility) warn("log_facility");
    if (old.log_level != now.log_level) warn("log_level");
}

// The SIGUSR1/SIGUSR2 thread and the stats file timer.
class SignalThread {
public:
    SignalThread(std::string config_path, SnapshotHolder& holder, Counters& counters)
        : path_(std::move(config_path)), holder_(holder), counters_(counters) {}

    void start() { thread_ = std::thread([this] { loop(); }); }

    // Stop the loop and join it.
    void stop() {
        if (!thread_.joinable()) return;
        stop_.store(true);
        pthread_kill(thread_.native_handle(), SIGUSR2);
        thread_.join();
    }

    // Build a new snapshot and swap it in; keep the old one on failure.
    void reload() {
        auto cur = holder_.get();
        SnapshotResult r = load_snapshot(path_, cur ? cur->generation + 1 : 1);
        if (!r.snapshot) {
            log_diags(r.errors, Level::err);
            logger().log(Level::err, "NOQUEUE: reload failed: keeping configuration generation " +
                                         std::to_string(cur ? cur->generation : 0));
            counters_.count_reload(false);
            return;
        }
        if (cur) warn_not_reloadable(cur->config, r.snapshot->config);
        holder_.set(r.snapshot);
        log_diags(r.warnings, Level::warning);
        counters_.count_reload(true);
        publish_info(counters_, *r.snapshot);
        logger().log(Level::notice, "NOQUEUE: reloaded configuration generation " +
                                        std::to_string(r.snapshot->generation) + ": " +
                                        std::to_string(r.snapshot->partners.active_count()) + " of " +
                                        std::to_string(r.snapshot->partners.partners.size()) +
                                        " partners active");
    }

    // Log the counters, one line per sample.
    void dump() {
        std::istringstream in(counters_.render());
        for (std::string line; std::getline(in, line);)
            if (!line.empty() && line[0] != '#') logger().log(Level::info, "stats: " + line);
    }

private:
    // Wait for signals, with a timeout for the stats file.
    void loop() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigaddset(&set, SIGUSR2);
        auto next = std::chrono::steady_clock::now();
        while (!stop_.load()) {
            auto snap = holder_.get();
            int interval = snap && snap->config.stats_interval > 0 ? snap->config.stats_interval : 60;
            timespec ts{1, 0};
            int sig = sigtimedwait(&set, nullptr, &ts);
            if (stop_.load()) break;
            if (sig == SIGUSR1) reload();
            if (sig == SIGUSR2) dump();
            if (snap && !snap->config.stats_file.empty() && std::chrono::steady_clock::now() >= next) {
                write_stats(snap->config.stats_file);
                next = std::chrono::steady_clock::now() + std::chrono::seconds(interval);
            }
        }
    }

    // Write the metrics file; log failures.
    void write_stats(const std::string& path) {
        std::string err;
        if (!write_atomically(path, counters_.render(), err))
            logger().log(Level::warning, "NOQUEUE: stats file: " + err);
    }

    std::string path_;
    SnapshotHolder& holder_;
    Counters& counters_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// Wait until no message is in flight, at most SECONDS.
void drain(const Counters& counters, int seconds) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    long n = counters.in_flight();
    if (n > 0) logger().log(Level::notice, "NOQUEUE: waiting for " + std::to_string(n) + " message(s) in flight");
    while (counters.in_flight() > 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (counters.in_flight() > 0)
        logger().log(Level::warning, "NOQUEUE: exiting with " + std::to_string(counters.in_flight()) +
                                         " message(s) still in flight");
}

// Load the first snapshot for the daemon, reporting errors on stderr too.
std::shared_ptr<const Snapshot> first_snapshot(const std::string& path) {
    SnapshotResult r = load_snapshot(path, 1);
    if (!r.snapshot) {
        print_diags(r.errors, "error");
        return nullptr;
    }
    log_diags(r.warnings, Level::warning);
    return r.snapshot;
}

}  // namespace

// Decide, apply, log, count: the one per-message path.
MessageOutcome finish_message(const Snapshot& snap, const MessageFacts& msg, MtaActions& mta,
                              Counters* counters) {
    MessageOutcome out;
    out.decision = decide(snap, msg);
    out.applied = apply_edits(out.decision.edits, mta, out.failed);
    std::string qid = msg.queue_id.empty() ? std::string("NOQUEUE") : msg.queue_id;
    logger().log(Level::info, out.decision.log_line(qid));
    if (!out.applied) logger().log(Level::err, out.decision.log_line(qid) + " error=edit-failed edit=" + out.failed);
    if (counters) {
        counters->count_message(bounded_labels(snap, out.decision), out.decision.fallback);
        if (!out.applied) counters->count_error("edit-failed");
    }
    return out;
}

// -n: every error, every partner's status; exit 1 on a main config error.
int run_check(const Options& opts) {
    SnapshotResult r = load_snapshot(opts.config_path, 1);
    if (!r.snapshot) {
        print_diags(r.errors, "error");
        return kExitConfig;
    }
    print_diags(r.warnings, "warning");
    const PartnerTable& t = r.snapshot->partners;
    for (const Partner& p : t.partners) {
        if (p.active)
            std::cout << p.id << ": active\n";
        else
            std::cout << p.id << ": inactive: " << p.reason << "\n";
    }
    std::cout << opts.config_path << ": OK; partner table " << t.path << ": " << t.active_count() << " of "
              << t.partners.size() << " partners active\n";
    return kExitOk;
}

// -t MSGFILE: the daemon's message path over a recording MTA.
int run_test(const Options& opts) {
    set_logger(make_stderr_logger(static_cast<int>(Level::warning)));
    SnapshotResult r = load_snapshot(opts.config_path, 1);
    if (!r.snapshot) {
        print_diags(r.errors, "error");
        return kExitConfig;
    }
    MessageFacts msg;
    std::string err;
    if (!read_message_file(opts.test_file, msg, err)) {
        std::cerr << kIdent << ": " << err << "\n";
        return kExitUsage;
    }
    msg.mail_from = opts.test_from.empty() ? envelope_from_headers(msg) : bracketed(opts.test_from);
    msg.local_submission = opts.test_local;
    msg.client_addr = opts.test_client;
    msg.auth_login = opts.test_auth;
    msg.daemon_name = opts.test_daemon;
    for (const auto& rc : opts.test_rcpts) msg.rcpts.push_back(bracketed(rc));

    RecordingActions rec;
    MessageOutcome out = finish_message(*r.snapshot, msg, rec, nullptr);
    std::cout << out.decision.log_line("NOQUEUE") << "\n";
    for (const Edit& e : out.decision.edits) std::cout << describe(e) << "\n";
    return out.applied ? kExitOk : kExitRuntime;
}

// The daemon: see the file comment for the order of the steps.
int run_daemon(const Options& opts) {
    auto snap = first_snapshot(opts.config_path);
    if (!snap) return kExitConfig;
    const Config& cfg = snap->config;
    set_logger(make_syslog_logger(kIdent, cfg.log_facility, cfg.log_level, opts.foreground));

    std::string err;
    RunAs ra;
    std::string user = opts.user.empty() ? cfg.user : opts.user;
    if (!resolve_user(user, ra, err)) return std::cerr << kIdent << ": " << err << "\n", kExitRuntime;
    if (geteuid() == 0 && (!ra.change || ra.uid == 0) && !opts.allow_root) {
        std::cerr << kIdent << ": refusing to run as root: set [milter] user, or -u USER (or -R)\n";
        return kExitRuntime;
    }

    static SnapshotHolder holder;
    static Counters counters;
    static std::atomic<bool> stopping{false};
    static GlueEnv env;
    holder.set(snap);
    publish_info(counters, *snap);
    env = GlueEnv{&holder, &counters, &stopping};
    glue_set_env(&env);

    std::string socket = opts.socket.empty() ? cfg.socket : opts.socket;
    SocketPerms perms{opts.socket_mode, ra.change ? static_cast<long>(ra.uid) : -1,
                      ra.change ? static_cast<long>(ra.gid) : -1};
    if (!glue_open(socket, perms, err)) return std::cerr << kIdent << ": " << err << "\n", kExitRuntime;
    if (!opts.foreground && !daemonize(err)) return logger().log(Level::err, "NOQUEUE: " + err), kExitRuntime;
    if (!write_pidfile(cfg.pidfile, err)) return logger().log(Level::err, "NOQUEUE: " + err), kExitRuntime;
    if (!drop_privileges(ra, err)) return logger().log(Level::err, "NOQUEUE: " + err), kExitRuntime;

    // Before any thread exists: every thread inherits this mask.
    sigset_t set = daemon_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    SignalThread signals(opts.config_path, holder, counters);
    signals.start();

    logger().log(Level::notice, "NOQUEUE: starting " + glue_version() + " on " + socket + ", configuration generation " +
                                    std::to_string(snap->generation) + ", " +
                                    std::to_string(snap->partners.active_count()) + " partners active");
    bool clean = glue_run();
    stopping.store(true);
    drain(counters, opts.drain_seconds);
    signals.stop();
    signals.dump();
    if (!cfg.pidfile.empty()) unlink(cfg.pidfile.c_str());
    glue_remove_socket(socket);
    logger().log(Level::notice, clean ? "NOQUEUE: stopped" : "NOQUEUE: stopped after a libmilter failure");
    return clean ? kExitOk : kExitRuntime;
}

}  // namespace prm
