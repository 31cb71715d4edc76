// glue.cpp - libmilter callbacks: collect facts, call the core, apply edits.
//
// The only file of the project that includes <libmilter/mfapi.h>. Each
// callback is a few lines: fetch the Connection (NULL-tolerant), convert the
// C arguments, and run the body through guarded(), which catches every
// exception and maps it to the snapshot's on_error action. No policy lives
// here: decisions are made by finish_message() (daemon.cpp) over prm::decide().
//
// Negotiation: actions ADDHDRS|CHGHDRS|CHGFROM (+SETSYMLIST to ask for the
// macros); with [milter] mta = sendmail also DELRCPT|ADDRCPT_PAR, and RCPT
// is not skipped (the recipient rewrite needs each RCPT and its NOTIFY and
// ORCPT, sendmail_rewrite.hpp); the MTA is asked to skip HELO, RCPT, DATA, unknown commands, EOH
// and the body, and not to wait for replies to CONNECT, MAIL, RCPT and headers when
// it offers that: only end of message answers. Errors in a step that cannot
// answer mark the message failed, and end of message answers on_error.
//
// Macros: {daemon_name} {client_addr} at CONNECT, i {auth_authen}
// {daemon_name} at MAIL, i at end of message. Each may be missing: client
// address falls back to the CONNECT address, the queue id to NOQUEUE.
//
// Thread safety: a Connection belongs to one libmilter thread at a time.
#include "milter/glue.hpp"

#include <arpa/inet.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "core/logging.hpp"
#include "milter/asuser.hpp"
#include "milter/daemon.hpp"

namespace prm {

namespace {

GlueEnv* g_env = nullptr;
std::atomic<bool> g_warned_actions{false};

constexpr unsigned long kWantActions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGFROM;
// RCPT is skipped too: the decision never reads recipients (it routes on
// the sender, the client and the headers), and not seeing one RCPT packet
// a recipient saves about 15% of the daemon's CPU per message
// (tests/bench/BENCHMARKS.md). An MTA that cannot skip it still calls
// envrcpt_cb, which only collects.
constexpr unsigned long kWantSkips = SMFIP_NOHELO | SMFIP_NORCPT | SMFIP_NODATA | SMFIP_NOUNKNOWN |
                                     SMFIP_NOEOH | SMFIP_NOBODY;
constexpr unsigned long kWantNoReply = SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_HDR;
constexpr unsigned long kSendmailActions = SMFIF_DELRCPT | SMFIF_ADDRCPT_PAR;
constexpr std::size_t kMaxRcpts = 10000;

// Per-connection state, owned through smfi_setpriv.
struct Connection {
    unsigned long pflags = 0;  // negotiated protocol flags
    std::string conn_addr;     // address from the CONNECT step
    bool local = false;        // non-SMTP submission (see connect_cb)
    bool unknown_family = false;  // CONNECT gave no address

    bool in_message = false;
    bool failed = false;  // a step failed: end of message answers on_error
    bool refuse = false;  // MAIL arrived while stopping
    std::shared_ptr<const Snapshot> snap;
    MessageFacts msg;

    // Forget the message; keep the connection facts.
    void end_message() {
        if (in_message && g_env && g_env->counters) g_env->counters->message_finished();
        in_message = failed = refuse = false;
        snap.reset();
        msg = MessageFacts{};
    }
    ~Connection() { end_message(); }
};

// The Connection of CTX, or null.
Connection* conn_of(SMFICTX* ctx) { return static_cast<Connection*>(smfi_getpriv(ctx)); }

// The Connection of CTX, created when missing (NULL-tolerant callbacks).
Connection* conn_or_new(SMFICTX* ctx) {
    Connection* c = conn_of(ctx);
    if (c) return c;
    auto fresh = std::make_unique<Connection>();
    if (smfi_setpriv(ctx, fresh.get()) != MI_SUCCESS) return nullptr;
    return fresh.release();
}

// A macro's value, or "" when the MTA did not send it.
std::string macro(SMFICTX* ctx, const char* name) {
    const char* v = smfi_getsymval(ctx, const_cast<char*>(name));
    return v ? std::string(v) : std::string();
}

// The snapshot the message uses, else the current one.
std::shared_ptr<const Snapshot> snapshot_for(const Connection* c) {
    if (c && c->snap) return c->snap;
    return g_env && g_env->holder ? g_env->holder->get() : nullptr;
}

// The configured failure action as a milter status.
sfsistat on_error_status(const Connection* c) {
    auto snap = snapshot_for(c);
    if (snap && snap->config.on_error == "tempfail") return SMFIS_TEMPFAIL;
    return SMFIS_ACCEPT;
}

// CONTINUE, or NOREPLY when the MTA agreed not to wait for this step.
sfsistat go_on(const Connection* c, unsigned long nr_flag) {
    return (c && (c->pflags & nr_flag)) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

// Log and count an internal failure; must not throw.
void report_failure(const Connection* c, const char* step, const char* what) noexcept {
    try {
        std::string qid = c && !c->msg.queue_id.empty() ? c->msg.queue_id : "NOQUEUE";
        logger().log(Level::err, qid + ": internal error at " + step + ": " + what);
        if (g_env && g_env->counters) g_env->counters->count_error("exception");
    } catch (...) {
        // Nothing more can be done without risking another throw.
    }
}

// Run BODY; any exception becomes on_error (or a failed mark when the step
// cannot answer, NR_FLAG negotiated; 0 for steps that always answer).
template <class Body>
sfsistat guarded(SMFICTX* ctx, const char* step, unsigned long nr_flag, Body&& body) noexcept {
    const char* what = "unknown exception";
    try {
        return body();
    } catch (const std::exception& e) {
        what = e.what();
    } catch (...) {
    }
    Connection* c = conn_of(ctx);
    report_failure(c, step, what);
    if (c && nr_flag && (c->pflags & nr_flag)) {
        c->failed = true;
        return SMFIS_NOREPLY;
    }
    return on_error_status(c);
}

// MtaActions over libmilter's end-of-message modification calls.
class MilterActions : public MtaActions {
public:
    explicit MilterActions(SMFICTX* ctx) : ctx_(ctx) {}
    bool add_header(const std::string& name, const std::string& value) override {
        return smfi_addheader(ctx_, cs(name), cs(value)) == MI_SUCCESS;
    }
    bool change_header(const std::string& name, int index, const std::string* value) override {
        return smfi_chgheader(ctx_, cs(name), index, value ? cs(*value) : nullptr) == MI_SUCCESS;
    }
    bool change_sender(const std::string& address, const std::string& args) override {
        // Sendmail parses the argument like MAIL FROM, so keep the brackets;
        // Postfix accepts both and warns about non-empty ESMTP arguments.
        std::string a = !address.empty() && address.front() == '<' ? address : "<" + address + ">";
        return smfi_chgfrom(ctx_, cs(a), args.empty() ? nullptr : cs(args)) == MI_SUCCESS;
    }
    bool delete_rcpt(const std::string& rcpt) override {
        return smfi_delrcpt(ctx_, cs(rcpt)) == MI_SUCCESS;
    }
    bool add_rcpt(const std::string& rcpt, const std::string& args) override {
        return smfi_addrcpt_par(ctx_, cs(rcpt), args.empty() ? nullptr : cs(args)) == MI_SUCCESS;
    }

private:
    static char* cs(const std::string& s) { return const_cast<char*>(s.c_str()); }
    SMFICTX* ctx_;
};

// Textual address of SA and its port; "" for non-IP families.
std::string address_text(const struct sockaddr* sa, unsigned& port) {
    char buf[INET6_ADDRSTRLEN] = {};
    port = 0;
    if (!sa) return "";
    if (sa->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        port = ntohs(in->sin_port);
        return inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf) ? buf : "";
    }
    if (sa->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        port = ntohs(in6->sin6_port);
        return inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf) ? buf : "";
    }
    return "";
}

// Refresh the message facts from macros that may arrive late (EOM).
void refresh_macros(SMFICTX* ctx, Connection* c) {
    std::string qid = macro(ctx, "i");
    if (!qid.empty()) c->msg.queue_id = qid;
    std::string dn = macro(ctx, "{daemon_name}");
    if (!dn.empty()) c->msg.daemon_name = dn;
    std::string auth = macro(ctx, "{auth_authen}");
    if (!auth.empty()) c->msg.auth_login = auth;
    std::string addr = macro(ctx, "{client_addr}");
    if (!addr.empty()) c->msg.client_addr = addr;
}

// Answer a refusal the core decided: its reply, then REJECT or TEMPFAIL.
sfsistat refusal(SMFICTX* ctx, const Decision& d) {
    bool reject = d.verdict == Decision::Verdict::reject;
    std::string text = d.reply_text;  // smfi_setreply treats '%' specially
    std::replace(text.begin(), text.end(), '%', ' ');
    smfi_setreply(ctx, const_cast<char*>(d.reply_code.c_str()), const_cast<char*>(d.reply_xcode.c_str()),
                  const_cast<char*>(text.c_str()));
    return reject ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

// --- callbacks ------------------------------------------------------------

// Negotiate actions, skipped steps, no-reply steps and the macro lists.
sfsistat negotiate_cb(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long,
                      unsigned long, unsigned long* pf0, unsigned long* pf1, unsigned long* pf2,
                      unsigned long* pf3) {
    return guarded(ctx, "negotiate", 0, [&] {
        Connection* c = conn_or_new(ctx);
        auto snap = snapshot_for(nullptr);
        bool sendmail = snap && snap->config.mta == Mta::sendmail;
        unsigned long actions = kWantActions | (sendmail ? kSendmailActions : 0);
        unsigned long skips = sendmail ? (kWantSkips & ~SMFIP_NORCPT) : kWantSkips;
        *pf0 = (actions | SMFIF_SETSYMLIST) & f0;
        *pf1 = (skips | kWantNoReply) & f1;
        *pf2 = *pf3 = 0;
        if (c) c->pflags = *pf1;
        if ((f0 & actions) != actions && !g_warned_actions.exchange(true))
            logger().log(Level::warning,
                         "NOQUEUE: the MTA does not offer add/change header, change sender "
                         "(and on Sendmail delete/add recipient) actions: partner routing "
                         "edits will fail");
        if (f0 & SMFIF_SETSYMLIST) {
            smfi_setsymlist(ctx, SMFIM_CONNECT, const_cast<char*>("{daemon_name} {client_addr}"));
            smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char*>("i {auth_authen} {daemon_name}"));
            smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char*>("i"));
        }
        return SMFIS_CONTINUE;
    });
}

// Remember the client address; detect local (non-SMTP) submission.
sfsistat connect_cb(SMFICTX* ctx, char* hostname, struct sockaddr* hostaddr) {
    return guarded(ctx, "connect", SMFIP_NR_CONN, [&] {
        Connection* c = conn_or_new(ctx);
        if (!c) return on_error_status(nullptr);
        unsigned port = 0;
        c->conn_addr = address_text(hostaddr, port);
        // What counts as local submission is the core's decision (decide.hpp).
        c->unknown_family = hostaddr == nullptr;
        c->local = !c->unknown_family && non_smtp_connect(hostname ? hostname : "", c->conn_addr, port);
        return go_on(c, SMFIP_NR_CONN);
    });
}

// Start a message: capture the snapshot and the envelope sender.
sfsistat envfrom_cb(SMFICTX* ctx, char** argv) {
    return guarded(ctx, "mail", SMFIP_NR_MAIL, [&] {
        Connection* c = conn_or_new(ctx);
        if (!c) return on_error_status(nullptr);
        c->end_message();
        c->snap = g_env && g_env->holder ? g_env->holder->get() : nullptr;
        c->in_message = true;
        if (g_env && g_env->counters) g_env->counters->message_started();
        c->refuse = g_env && g_env->stopping && g_env->stopping->load();
        c->msg.local_submission = c->local;
        c->msg.unknown_family = c->unknown_family;
        c->msg.client_addr = c->conn_addr;
        if (argv && argv[0]) {
            c->msg.mail_from = argv[0];
            for (char** a = argv + 1; *a; ++a) c->msg.mail_args.emplace_back(*a);
        }
        refresh_macros(ctx, c);
        return go_on(c, SMFIP_NR_MAIL);
    });
}

// Collect a recipient (bounded).
sfsistat envrcpt_cb(SMFICTX* ctx, char** argv) {
    return guarded(ctx, "rcpt", SMFIP_NR_RCPT, [&] {
        Connection* c = conn_of(ctx);
        if (c && argv && argv[0] && c->msg.rcpts.size() < kMaxRcpts) {
            c->msg.rcpts.emplace_back(argv[0]);
            std::vector<std::string> args;
            for (char** a = argv + 1; *a; ++a) args.emplace_back(*a);
            c->msg.rcpt_args.push_back(std::move(args));
        } else if (c && argv && argv[0] && c->msg.rcpts.size() == kMaxRcpts) {
            // One empty entry past the bound: no recipient rewrite is possible.
            c->msg.rcpts.emplace_back();
            c->msg.rcpt_args.emplace_back();
        }
        return go_on(c, SMFIP_NR_RCPT);
    });
}

// Collect a header, at most kMaxHeaders of them.
sfsistat header_cb(SMFICTX* ctx, char* name, char* value) {
    return guarded(ctx, "header", SMFIP_NR_HDR, [&] {
        Connection* c = conn_of(ctx);
        if (c && name) {
            if (c->msg.headers.size() < kMaxHeaders)
                c->msg.headers.push_back(Header{name, value ? value : ""});
            else
                c->msg.headers_truncated = true;
        }
        return go_on(c, SMFIP_NR_HDR);
    });
}

// End of message: decide, apply every edit, log, count.
sfsistat eom_cb(SMFICTX* ctx) {
    return guarded(ctx, "eom", 0, [&] {
        Connection* c = conn_of(ctx);
        if (!c) return on_error_status(nullptr);
        sfsistat st = SMFIS_CONTINUE;
        auto snap = snapshot_for(c);
        refresh_macros(ctx, c);
        if (c->refuse) {
            logger().log(Level::notice,
                         (c->msg.queue_id.empty() ? std::string("NOQUEUE") : c->msg.queue_id) +
                             ": shutting down: message deferred");
            st = SMFIS_TEMPFAIL;
        } else if (c->failed || !snap) {
            st = on_error_status(c);
        } else {
            MilterActions mta(ctx);
            MessageOutcome out =
                finish_message(*snap, c->msg, mta, g_env ? g_env->counters : nullptr);
            if (!out.applied) st = on_error_status(c);
            else if (out.decision.verdict != Decision::Verdict::accept) st = refusal(ctx, out.decision);
        }
        c->end_message();
        return st;
    });
}

// Abort: forget the message, keep the connection.
sfsistat abort_cb(SMFICTX* ctx) {
    return guarded(ctx, "abort", 0, [&] {
        if (Connection* c = conn_of(ctx)) c->end_message();
        return SMFIS_CONTINUE;
    });
}

// Close: free the connection (may come alone or with a NULL private pointer).
sfsistat close_cb(SMFICTX* ctx) {
    return guarded(ctx, "close", 0, [&] {
        std::unique_ptr<Connection> c(conn_of(ctx));
        smfi_setpriv(ctx, nullptr);
        return SMFIS_CONTINUE;
    });
}

// The UNIX socket path of SPEC, or "" for inet sockets.
std::string unix_path(const std::string& spec) {
    for (const char* p : {"local:", "unix:"})
        if (spec.rfind(p, 0) == 0) return spec.substr(std::strlen(p));
    if (!spec.empty() && spec.front() == '/') return spec;
    return "";
}

// Check PATH: absent or a stale socket is fine; a live one or a non-socket is not.
bool check_stale_socket(const std::string& path, std::string& err) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0)
        return errno == ENOENT || (err = path + ": " + std::strerror(errno), false);
    if (!S_ISSOCK(st.st_mode)) {
        err = path + ": exists and is not a socket; not removing it";
        return false;
    }
    sockaddr_un sun{};
    if (path.size() >= sizeof sun.sun_path) {
        err = path + ": socket path too long";
        return false;
    }
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size());
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return (err = std::string("socket: ") + std::strerror(errno), false);
    bool live = connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0;
    close(fd);
    if (live) err = path + ": another process is listening on this socket";
    return !live;
}

// Set TCP_NODELAY on libmilter's listening TCP socket(s). Why: libmilter
// writes each modification and the final reply with its own write(); with
// Nagle on, the reply after a header edit waits for the MTA's delayed ACK
// (about 40 ms a message over loopback; benchmarked in tests/bench). It does
// not expose the descriptor, so find the listening stream sockets of the
// inet families among ours; Linux copies TCP_NODELAY to accepted sockets.
// Returns how many sockets were set.
int set_listener_nodelay() {
    int done = 0;
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 4096) max = 4096;
    for (int fd = 3; fd < max; ++fd) {
        int listening = 0, type = 0, one = 1;
        socklen_t len = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
        len = sizeof type;
        sockaddr_storage ss{};
        socklen_t slen = sizeof ss;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &slen) != 0) continue;
        if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) continue;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) ++done;
    }
    return done;
}

struct smfiDesc make_desc() {
    struct smfiDesc d {};
    d.xxfi_name = const_cast<char*>("partner-relay-milter");
    d.xxfi_version = SMFI_VERSION;
    d.xxfi_flags = kWantActions | kSendmailActions;
    d.xxfi_connect = connect_cb;
    d.xxfi_envfrom = envfrom_cb;
    d.xxfi_envrcpt = envrcpt_cb;
    d.xxfi_header = header_cb;
    d.xxfi_eom = eom_cb;
    d.xxfi_abort = abort_cb;
    d.xxfi_close = close_cb;
    d.xxfi_negotiate = negotiate_cb;
    return d;
}

}  // namespace

// Install the shared environment.
void glue_set_env(GlueEnv* env) { g_env = env; }

// Register, check for a stale socket and open it with its mode and owner.
// Started as root with a user, a UNIX socket is created as that user (see
// milter/asuser.hpp): never a chmod or chown by path after the bind, which
// a symlink renamed over the fresh socket would redirect (issue 17).
bool glue_open(const std::string& socket, const SocketPerms& perms, std::string& err) {
    struct smfiDesc desc = make_desc();
    if (smfi_register(desc) != MI_SUCCESS) return (err = "smfi_register failed", false);
    std::string path = unix_path(socket);
    EffectiveUser as_user;
    bool switched = !path.empty() && geteuid() == 0 && perms.uid > 0;
    if (switched && !as_user.enter(static_cast<uid_t>(perms.uid), static_cast<gid_t>(perms.gid), err))
        return false;
    if (!path.empty() && !check_stale_socket(path, err)) return false;
    if (smfi_setconn(const_cast<char*>(socket.c_str())) != MI_SUCCESS)
        return (err = socket + ": invalid milter socket", false);

    // The umask makes the socket born with the wanted mode (no window).
    mode_t old = umask(static_cast<mode_t>(~perms.mode & 0777));
    int rc = smfi_opensocket(true);
    umask(old);
    if (rc != MI_SUCCESS && switched)
        return (err = socket + ": cannot open the milter socket as the milter's user (its "
                               "directory must be writable by that user)",
                false);
    if (rc != MI_SUCCESS) return (err = socket + ": cannot open the milter socket", false);
    if (path.empty() && set_listener_nodelay() == 0)
        logger().log(Level::warning, "NOQUEUE: " + socket + ": could not set TCP_NODELAY: replies may wait "
                                                            "for delayed ACKs");
    return true;
}

// Run libmilter's loop.
bool glue_run() { return smfi_main() == MI_SUCCESS; }

// Stop accepting.
void glue_stop() { smfi_stop(); }

// libmilter's version.
std::string glue_version() {
    unsigned maj = 0, min = 0, pl = 0;
    smfi_version(&maj, &min, &pl);
    return "libmilter " + std::to_string(maj) + "." + std::to_string(min) + "." +
           std::to_string(pl);
}

// Remove a UNIX socket file at exit (only if it is a socket).
void glue_remove_socket(const std::string& socket) {
    std::string path = unix_path(socket);
    struct stat st {};
    if (!path.empty() && lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path.c_str());
}

}  // namespace prm
