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
//  - the process is made non-dumpable with a core size limit of 0 (it holds
//    every partner password) unless allow_core_dumps = yes;
//  - after the drop the process forks: the parent is a small supervisor
//    (the pid in the pid file, systemd's main pid) that owns SIGTERM/SIGHUP
//    and forwards SIGUSR1/SIGUSR2/SIGINT; the child runs libmilter. Why:
//    Debian's libmilter is built with its worker pool, whose poll thread
//    quits at libmilter's stop, so a session waiting for its next command
//    would never be served again: a stop sent straight to libmilter cannot
//    let messages in flight finish, and sigwaiting SIGTERM next to
//    libmilter's own signal thread would race it;
//  - in the child, every signal is blocked in every thread before any thread
//    starts; one thread sigwaits USR1 (build a new snapshot and swap it in; a
//    failed reload keeps the old one and logs why) and USR2 (log the
//    counters), writes cfg.stats_file every cfg.stats_interval seconds,
//    feeds the fallback alert once a second (alert.hpp) and watches the
//    supervisor's stop pipe;
//  - SIGTERM/SIGHUP to the supervisor: new messages are answered tempfail,
//    messages in flight (MAIL FROM seen, end of message not yet) may finish
//    for up to -d seconds, then libmilter is stopped and both exit 0. A
//    SIGTERM sent to the child itself stops libmilter at once.
//
// Thread safety: the reload thread is the only writer of the snapshot
// holder; callbacks read it atomically.
#include "milter/daemon.hpp"

#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include "core/alert.hpp"
#include "core/logging.hpp"
#include "core/msgfile.hpp"
#include "core/pidfile.hpp"
#include "core/published.hpp"
#include "milter/glue.hpp"
#include "milter/reach.hpp"

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
    struct passwd pw {
    }, *res = nullptr;
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
    if (ra.uid != 0 && setuid(0) == 0)
        return (err = "setuid(0) still succeeds after the drop", false);
    return true;
}

// Keep the partner passwords out of core files and away from other
// processes of the same user (non-dumpable: no ptrace, /proc/PID owned by
// root), unless ALLOW (allow_core_dumps, debugging). Called before and
// again after the privilege drop: setuid() resets the dumpable flag to the
// system's suid_dumpable, which may be 1 or 2.
bool protect_memory(bool allow, std::string& err) {
    if (allow) {
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);  // undo setuid()'s reset; best effort
        return true;
    }
    struct rlimit none {
        0, 0
    };
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return (err = "setrlimit(RLIMIT_CORE): " + std::string(std::strerror(errno)), false);
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return (err = "prctl(PR_SET_DUMPABLE): " + std::string(std::strerror(errno)), false);
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

// Write the pid file (pidfile.hpp: never through a planted link or FIFO).
bool write_pidfile(const std::string& path, std::string& err) {
    return path.empty() || write_pid_file(path, static_cast<long>(getpid()), err);
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

// Give the memory freed by a load back to the kernel. Why: parsing a large
// partner table allocates far more than the snapshot keeps (the INI text and
// entries), and a reload frees a whole snapshot; glibc keeps such holes in
// the heap, so RSS would stay at the peak (100 000 partners: 77 MB instead of
// about 55 MB, see tests/bench/BENCHMARKS.md).
void release_free_memory() { malloc_trim(0); }

// Publish SNAP's gauges.
void publish_info(Counters& counters, const Snapshot& snap) {
    std::size_t active = snap.partners.active_count();
    std::size_t waiting = waiting_count(snap.partners);
    counters.set_snapshot_info(snap.generation, active - waiting,
                               snap.partners.partners.size() - active, waiting);
    counters.set_shadow_mode(snap.config.mode == Mode::shadow);
}

// ", N of them waiting for partner-relay-tables", or "".
std::string waiting_note(const PartnerTable& t) {
    std::size_t n = waiting_count(t);
    return n ? ", " + std::to_string(n) + " of them waiting for partner-relay-tables" : "";
}

// Settings a reload cannot change: warn when they differ.
void warn_not_reloadable(const Config& old, const Config& now) {
    auto warn = [](const char* key) {
        logger().log(Level::warning, std::string("NOQUEUE: reload: [milter] ") + key +
                                         " changed; it takes effect at the next restart");
    };
    if (old.socket != now.socket) warn("socket");
    if (old.socket_mode != now.socket_mode) warn("socket_mode");
    if (old.user != now.user) warn("user");
    if (old.pidfile != now.pidfile) warn("pidfile");
    if (old.log_facility != now.log_facility) warn("log_facility");
    if (old.log_level != now.log_level) warn("log_level");
    if (old.allow_core_dumps != now.allow_core_dumps) warn("allow_core_dumps");
}

// Wait until no message is in flight, at most SECONDS.
void drain(const Counters& counters, int seconds) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    long n = counters.in_flight();
    logger().log(Level::notice, "NOQUEUE: stopping: new messages are deferred; waiting for " +
                                    std::to_string(n) + " message(s) in flight");
    while (counters.in_flight() > 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (counters.in_flight() > 0)
        logger().log(Level::warning, "NOQUEUE: stopping with " +
                                         std::to_string(counters.in_flight()) +
                                         " message(s) still in flight");
}

// What the signal thread works with.
struct SignalEnv {
    std::string config_path;
    SnapshotHolder* holder = nullptr;
    Counters* counters = nullptr;
    std::atomic<bool>* stopping = nullptr;
    int stop_fd = -1;  // readable (byte or EOF) when the supervisor asks to stop
    int drain_seconds = 30;
};

// The SIGUSR1/SIGUSR2 thread, the graceful stop and the stats file timer.
class SignalThread {
public:
    explicit SignalThread(SignalEnv env) : env_(std::move(env)) {}

    void start() {
        thread_ = std::thread([this] { loop(); });
    }

    // Stop the loop and join it.
    void stop() {
        if (!thread_.joinable()) return;
        stop_.store(true);
        pthread_kill(thread_.native_handle(), SIGUSR2);
        thread_.join();
    }

    // Build a new snapshot and swap it in; keep the old one on failure.
    void reload() {
        auto cur = env_.holder->get();
        SnapshotResult r =
            load_snapshot(env_.config_path, cur ? cur->generation + 1 : 1, true, cur.get());
        if (!r.snapshot) {
            log_diags(r.errors, Level::err);
            logger().log(Level::err, "NOQUEUE: reload failed: keeping configuration generation " +
                                         std::to_string(cur ? cur->generation : 0));
            env_.counters->count_reload(false);
            return;
        }
        if (cur) warn_not_reloadable(cur->config, r.snapshot->config);
        env_.holder->set(r.snapshot);
        cur.reset();  // the old snapshot dies here unless a message still holds it
        release_free_memory();
        log_diags(r.warnings, Level::warning);
        env_.counters->count_reload(true);
        publish_info(*env_.counters, *r.snapshot);
        logger().log(Level::notice,
                     "NOQUEUE: reloaded configuration generation " +
                         std::to_string(r.snapshot->generation) + ": " +
                         std::to_string(r.snapshot->partners.active_count()) + " of " +
                         std::to_string(r.snapshot->partners.partners.size()) + " partners active" +
                         waiting_note(r.snapshot->partners));
    }

    // Log the counters, one line per sample.
    void dump() {
        std::istringstream in(env_.counters->render());
        for (std::string line; std::getline(in, line);)
            if (!line.empty() && line[0] != '#') logger().log(Level::info, "stats: " + line);
    }

private:
    // Wait for signals; poll the stop pipe and the stats timer between them.
    void loop() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigaddset(&set, SIGUSR2);
        auto next = std::chrono::steady_clock::now();
        auto next_alert = next;
        while (!stop_.load()) {
            timespec ts{0, 100 * 1000 * 1000};
            int sig = sigtimedwait(&set, nullptr, &ts);
            if (stop_.load()) break;
            if (sig == SIGUSR1) reload();
            if (sig == SIGUSR2) dump();
            if (!stopping_ && stop_requested()) graceful_stop();
            if (std::chrono::steady_clock::now() >= next_alert) {
                check_alerts();
                next_alert = std::chrono::steady_clock::now() + std::chrono::seconds(1);
            }
            // stats_file and stats_interval are reloadable: read them from
            // the snapshot in use each time.
            auto snap = env_.holder->get();
            if (snap && !snap->config.stats_file.empty() &&
                std::chrono::steady_clock::now() >= next) {
                write_stats(snap->config.stats_file);
                int every = snap->config.stats_interval > 0 ? snap->config.stats_interval : 60;
                next = std::chrono::steady_clock::now() + std::chrono::seconds(every);
            }
        }
        auto snap = env_.holder->get();
        if (snap && !snap->config.stats_file.empty()) write_stats(snap->config.stats_file);
    }

    // True when the supervisor wrote to (or closed) the stop pipe.
    bool stop_requested() const {
        if (env_.stop_fd < 0) return false;
        pollfd p{env_.stop_fd, POLLIN, 0};
        return poll(&p, 1, 0) > 0;
    }

    // Defer new messages, let those in flight finish, then stop libmilter.
    void graceful_stop() {
        stopping_ = true;
        env_.stopping->store(true);
        drain(*env_.counters, env_.drain_seconds);
        glue_stop();
    }

    // Feed the fallback alert the counters' per-partner totals and log its
    // lines (once a second: the per-message path never sees the alert).
    void check_alerts() {
        auto snap = env_.holder->get();
        if (!snap) return;
        const Config& c = snap->config;
        AlertSettings s{c.fallback_alert_rate, c.fallback_alert_min_messages,
                        c.fallback_alert_window};
        auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
        for (const AlertEvent& ev : alerts_.tick(env_.counters->partner_totals(), s, now)) {
            bool failing = ev.kind == AlertEvent::Kind::failing;
            logger().log(failing ? Level::warning : Level::notice, "NOQUEUE: " + ev.line());
            env_.counters->set_alerting(ev.partner, failing);
        }
    }

    // Write the metrics file; log failures.
    void write_stats(const std::string& path) {
        std::string err;
        if (!write_atomically(path, env_.counters->render(), err))
            logger().log(Level::warning, "NOQUEUE: stats file: " + err);
    }

    SignalEnv env_;
    AlertFeed alerts_;
    bool stopping_ = false;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// Close every descriptor above stderr except KEEP (the supervisor must not
// hold the listening socket open, or the kernel would keep queueing
// connections after the milter stopped).
void close_all_but(int keep) {
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = 3; fd < max; ++fd)
        if (fd != keep) close(fd);
}

// The supervisor: forward USR1/USR2/INT to the milter, turn TERM/HUP into a
// graceful stop request on STOP_FD, and exit with the milter's status.
int supervise(pid_t child, int stop_fd) {
    sigset_t set = daemon_signals();
    sigaddset(&set, SIGCHLD);
    bool asked = false;
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGUSR1 || sig == SIGUSR2 || sig == SIGINT) kill(child, sig);
        if ((sig == SIGTERM || sig == SIGHUP) && !asked) {
            asked = true;
            if (write(stop_fd, "s", 1) != 1) kill(child, SIGTERM);
        }
        if (sig != SIGCHLD) continue;
        int st = 0;
        pid_t r = waitpid(child, &st, WNOHANG);
        if (r == child) return WIFEXITED(st) ? WEXITSTATUS(st) : kExitRuntime;
    }
}

// Report a start-up failure on stderr (unless the foreground logger already
// writes there) and in the log; returns the runtime exit status.
int startup_error(const std::string& err, bool foreground) {
    if (!foreground) std::cerr << kIdent << ": " << err << "\n";
    logger().log(Level::err, "NOQUEUE: cannot start: " + err);
    return kExitRuntime;
}

// The socket the daemon would create under OPTS and CFG (-n): the socket
// mode (-m or socket_mode), owned by the user it runs as (-u or user, else
// the current one).
SocketPlan planned_socket(const Options& opts, const Config& cfg) {
    RunAs ra;
    std::string err;
    resolve_user(opts.user.empty() ? cfg.user : opts.user, ra, err);
    SocketPlan plan;
    plan.mode = opts.socket_mode >= 0 ? static_cast<unsigned>(opts.socket_mode) : cfg.socket_mode;
    plan.uid = ra.change ? static_cast<long>(ra.uid) : static_cast<long>(geteuid());
    plan.gid = ra.change ? static_cast<long>(ra.gid) : static_cast<long>(getegid());
    return plan;
}

// Load the first snapshot for the daemon, reporting errors on stderr.
std::shared_ptr<const Snapshot> first_snapshot(const std::string& path, Diags& warnings) {
    SnapshotResult r = load_snapshot(path, 1);
    if (!r.snapshot) {
        print_diags(r.errors, "error");
        return nullptr;
    }
    warnings = std::move(r.warnings);
    return r.snapshot;
}

}  // namespace

// Decide, apply, log, count: the one per-message path.
MessageOutcome finish_message(const Snapshot& snap, const MessageFacts& msg, MtaActions& mta,
                              Counters* counters) {
    MessageOutcome out;
    out.decision = decide(snap, msg);
    // A refused message gets no edit (the decision lists none).
    out.applied = out.decision.verdict != Decision::Verdict::accept ||
                  apply_edits(out.decision.edits, mta, out.failed);
    std::string qid = msg.queue_id.empty() ? std::string("NOQUEUE") : msg.queue_id;
    logger().log(Level::info, out.decision.log_line(qid));
    if (!out.applied)
        logger().log(Level::err,
                     out.decision.log_line(qid) + " error=edit-failed edit=" + out.failed);
    if (counters) {
        counters->count_message(bounded_labels(snap, out.decision), out.decision.fallback);
        if (!out.applied) counters->count_error("edit-failed");
    }
    return out;
}

// -n: every error, every partner's status; exit 1 on a main config error.
// With -q only the errors (the unit's ExecStartPre: the daemon that starts
// next logs every warning, and the journal would show each one twice).
int run_check(const Options& opts) {
    SnapshotResult r = load_snapshot(opts.config_path, 1);
    if (!r.snapshot) {
        print_diags(r.errors, "error");
        return kExitConfig;
    }
    if (opts.quiet) return kExitOk;
    print_diags(r.warnings, "warning");
    const Config& cfg = r.snapshot->config;
    std::string socket = opts.socket.empty() ? cfg.socket : socket_with_host(opts.socket);
    print_diags(socket_reach_warnings(cfg, socket, planned_socket(opts, cfg)), "warning");
    const PartnerTable& t = r.snapshot->partners;
    for (const Partner& p : t.partners) {
        if (p.active && p.waiting)
            std::cout << p.id << ": active, waiting for partner-relay-tables: " << p.wait_reason
                      << "\n";
        else if (p.active)
            std::cout << p.id << ": active\n";
        else
            std::cout << p.id << ": inactive: " << p.reason << "\n";
        // Every problem, not only the first: the admin fixes them in one go.
        for (const Diag& d : p.problems) std::cout << "  " << d.str() << "\n";
    }
    std::size_t waiting = waiting_count(t);
    std::cout << opts.config_path << ": OK; partner table " << t.path << ": " << t.active_count()
              << " of " << t.partners.size() << " partners active";
    if (waiting) std::cout << ", " << waiting << " of them waiting for partner-relay-tables";
    std::cout << "\n";
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
    for (const auto& rc : opts.test_rcpts) {  // "ADDR [PARAM...]"
        std::istringstream words(rc);
        std::string addr, arg;
        words >> addr;
        msg.rcpts.push_back(bracketed(addr));
        msg.rcpt_args.emplace_back();
        while (words >> arg) msg.rcpt_args.back().push_back(arg);
    }

    RecordingActions rec;
    MessageOutcome out = finish_message(*r.snapshot, msg, rec, nullptr);
    std::cout << out.decision.log_line("NOQUEUE") << "\n";
    for (const Edit& e : out.decision.edits) std::cout << describe(e) << "\n";
    if (out.decision.verdict != Decision::Verdict::accept)
        std::cout << "reply " << out.decision.reply_code << " " << out.decision.reply_xcode << " "
                  << out.decision.reply_text << "\n";
    return out.applied ? kExitOk : kExitRuntime;
}

// The milter process: the signal thread, then libmilter until it stops.
static int run_milter(const std::string& socket, SignalEnv env) {
    SignalThread signals(std::move(env));
    signals.start();
    bool clean = glue_run();
    signals.stop();
    signals.dump();
    glue_remove_socket(socket);
    logger().log(Level::notice,
                 clean ? "NOQUEUE: stopped" : "NOQUEUE: stopped after a libmilter failure");
    return clean ? kExitOk : kExitRuntime;
}

// The daemon: see the file comment for the order of the steps.
int run_daemon(const Options& opts) {
    Diags warnings;
    auto snap = first_snapshot(opts.config_path, warnings);
    if (!snap) return kExitConfig;
    const Config& cfg = snap->config;
    set_logger(make_syslog_logger(kIdent, cfg.log_facility, cfg.log_level, opts.foreground));
    log_diags(warnings, Level::warning);  // inactive partners: once per load

    std::string err;
    if (!protect_memory(cfg.allow_core_dumps, err)) return startup_error(err, opts.foreground);
    RunAs ra;
    std::string user = opts.user.empty() ? cfg.user : opts.user;
    if (!resolve_user(user, ra, err)) return startup_error(err, opts.foreground);
    if (geteuid() == 0 && (!ra.change || ra.uid == 0) && !opts.allow_root)
        return startup_error("refusing to run as root: set [milter] user, or -u USER (or -R)",
                             opts.foreground);

    // Shared with libmilter's threads for the life of the process: never
    // destroyed, so no worker can see them die at exit.
    static auto* holder = new SnapshotHolder;
    static auto* counters = new Counters;
    static auto* stopping = new std::atomic<bool>(false);
    static auto* env = new GlueEnv{holder, counters, stopping};
    holder->set(snap);
    publish_info(*counters, *snap);
    release_free_memory();
    glue_set_env(env);

    std::string socket = opts.socket.empty() ? cfg.socket : socket_with_host(opts.socket);
    unsigned mode = opts.socket_mode >= 0 ? static_cast<unsigned>(opts.socket_mode) : cfg.socket_mode;
    SocketPerms perms{mode, ra.change ? static_cast<long>(ra.uid) : -1,
                      ra.change ? static_cast<long>(ra.gid) : -1};
    if (!glue_open(socket, perms, err)) return startup_error(err, opts.foreground);
    log_diags(socket_reach_warnings(cfg, socket, std::nullopt), Level::warning);
    if (!opts.foreground && !daemonize(err)) return startup_error(err, opts.foreground);
    if (!write_pidfile(cfg.pidfile, err)) return startup_error(err, opts.foreground);
    if (!drop_privileges(ra, err)) return startup_error(err, opts.foreground);
    if (!protect_memory(cfg.allow_core_dumps, err)) return startup_error(err, opts.foreground);

    // Before any thread or child exists: everyone inherits this mask.
    sigset_t set = daemon_signals();
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return startup_error(std::string("pipe: ") + std::strerror(errno), opts.foreground);
    pid_t child = fork();
    if (child < 0)
        return startup_error(std::string("fork: ") + std::strerror(errno), opts.foreground);
    if (child > 0) {
        close_all_but(pipefd[1]);
        int rc = supervise(child, pipefd[1]);
        if (!cfg.pidfile.empty()) unlink(cfg.pidfile.c_str());
        return rc;
    }
    close(pipefd[1]);
    logger().log(Level::notice,
                 "NOQUEUE: starting " + glue_version() + " on " + socket +
                     ", configuration generation " + std::to_string(snap->generation) + ", " +
                     std::to_string(snap->partners.active_count()) + " partners active");
    SignalEnv senv{opts.config_path, holder, counters, stopping, pipefd[0], opts.drain_seconds};
    // From here the holder alone owns the snapshot: a local reference would
    // pin generation 1 for the life of the process, doubling the memory of
    // a large partner table after the first reload. cfg dangles from here.
    snap.reset();
    return run_milter(socket, std::move(senv));
}

}  // namespace prm
