// dbproc.cpp - the unprivileged database process of partner-relay-sync (see dbproc.hpp).
//
// Wire format, both ways: one op byte, then fields: u32 little-endian
// numbers, i64 as text, strings as u32 length + bytes, an optional string as
// a flag byte (0 NULL, 1 present) then the string. An answer starts with
// its op byte again, ok (0/1), connected (0/1) and the error string.
// Requests: 'C' dsn | 'X' (close) | 'L' | 'W' timeout_ms | 'V' | 'S' query
// | 'R' host version | 'H'. A '!' from the parent cancels a running 'W'
// (the child's wait returns at once and answers the 'W'); it is never
// answered itself.
//
// Thread safety: one Db per thread. Limits: see dbproc.hpp.
#include "sync/dbproc.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

namespace prm {
namespace {

constexpr std::uint32_t kMaxCells = 64u << 20;  // values of one snapshot answer

// ---- the wire --------------------------------------------------------------

struct Out {
    int fd;
    std::string buf;
    bool ok = true;
    void flush() {
        std::size_t done = 0;
        while (ok && done < buf.size()) {
            ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) ok = false;
            else done += static_cast<std::size_t>(n);
        }
        buf.clear();
    }
    void byte(char c) { buf += c, spill(); }
    void u32(std::uint32_t v) {
        for (int i = 0; i < 4; i++) buf += static_cast<char>((v >> (8 * i)) & 0xff);
    }
    void str(const std::string& s) { u32(static_cast<std::uint32_t>(s.size())), buf += s, spill(); }
    void opt(const std::optional<std::string>& s) { s ? (byte(1), str(*s)) : byte(0); }
    void spill() {
        if (buf.size() >= 65536) flush();
    }
};

struct In {
    int fd;
    std::size_t budget = kMaxWire;  // bytes this message may still take
    char buf[65536];
    std::size_t pos = 0, len = 0;
    bool ok = true;
    bool fill() {
        while (ok && pos == len) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return ok = false;
            pos = 0, len = static_cast<std::size_t>(n);
        }
        return ok;
    }
    char byte() {
        if (!fill() || budget == 0) return ok = false, 0;
        budget--;
        return buf[pos++];
    }
    std::uint32_t u32() {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; i++) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(byte())) << (8 * i);
        return v;
    }
    std::string str() {
        std::uint32_t n = u32();
        std::string s;
        if (!ok || n > budget) return ok = false, s;
        budget -= n;
        s.reserve(n);
        while (ok && s.size() < n && fill()) {
            std::size_t take = std::min<std::size_t>(n - s.size(), len - pos);
            s.append(buf + pos, take);
            pos += take;
        }
        return s;
    }
    std::optional<std::string> opt() {
        char f = byte();
        if (f == 0) return std::nullopt;
        if (f != 1) return ok = false, std::nullopt;
        return str();
    }
};

// ---- the child -------------------------------------------------------------

// Answer header: op, ok, connected, error.
void answer(Out& o, char op, bool ok, const PgConn& pg, const std::string& err) {
    o.byte(op);
    o.byte(ok ? 1 : 0);
    o.byte(pg.connected() ? 1 : 0);
    o.str(ok ? std::string() : err);
}

// Serve requests on FD until the parent goes away.
[[noreturn]] void serve(int fd) {
    PgConn pg;
    In in{fd};
    Out out{fd};
    for (;;) {
        in.budget = kMaxWire;
        char op = in.byte();
        if (!in.ok) _exit(0);
        std::string err;
        bool ok = false;
        switch (op) {
            case '!': continue;  // a cancel that came after its wait ended
            case 'C': { std::string dsn = in.str(); if (!in.ok) _exit(1); ok = pg.connect(dsn, err); break; }
            case 'X': pg.close(); ok = true; break;
            case 'L': ok = pg.listen(err); break;
            case 'W': { int t = static_cast<int>(in.u32()); ok = pg.wait_notify(t, fd); break; }
            case 'V': {
                auto v = pg.version(err);
                answer(out, op, v.has_value(), pg, err);
                out.str(v ? std::to_string(*v) : "");
                out.flush();
                continue;
            }
            case 'S': {
                std::string q = in.str();
                RowSet rs;
                ok = in.ok && pg.snapshot(q, rs, err);
                answer(out, op, ok, pg, err);
                if (ok) {
                    out.str(std::to_string(rs.version));
                    out.u32(static_cast<std::uint32_t>(rs.columns.size()));
                    for (const std::string& c : rs.columns) out.str(c);
                    out.u32(static_cast<std::uint32_t>(rs.rows.size()));
                    for (const auto& row : rs.rows)
                        for (const auto& v : row) out.opt(v);
                }
                out.flush();
                continue;
            }
            case 'R': {
                std::string host = in.str(), v = in.str();
                ok = in.ok && pg.record_applied(host, std::strtoll(v.c_str(), nullptr, 10), err);
                break;
            }
            case 'H': {
                std::vector<HostApplied> hs;
                ok = pg.host_status(hs, err);
                answer(out, op, ok, pg, err);
                out.u32(static_cast<std::uint32_t>(ok ? hs.size() : 0));
                for (const HostApplied& h : hs)
                    if (ok) out.str(h.host), out.str(std::to_string(h.version)), out.str(h.applied_at);
                out.flush();
                continue;
            }
            default: _exit(1);
        }
        answer(out, op, ok, pg, err);
        out.flush();
        if (!out.ok) _exit(0);
    }
}

// In the child: every descriptor but KEEP and 0-2 closed, then USER's ids.
[[noreturn]] void child_main(int keep, uid_t uid, gid_t gid, const std::string& user) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGHUP}) std::signal(s, SIG_DFL);
    std::signal(SIGPIPE, SIG_IGN);
    for (int fd = 3; fd < 1024; fd++)
        if (fd != keep) ::close(fd);
    if (setgid(gid) != 0 || initgroups(user.c_str(), gid) != 0 || setuid(uid) != 0) _exit(2);
    if (uid != 0 && setuid(0) == 0) _exit(2);
    if (::chdir("/") != 0) _exit(2);
    prctl(PR_SET_DUMPABLE, 0);  // the DSN's password is in its memory
    serve(keep);
}

}  // namespace

struct Db::Impl {
    PgConn local;  // used when not separated
    bool separated = false;
    std::string user;
    uid_t uid = 0;
    gid_t gid = 0;
    pid_t pid = 0;
    int fd = -1;
    bool conn = false;  // the child's last word on its connection

    // Fork the child when there is none.
    bool spawn(std::string& err) {
        if (pid > 0) return true;
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            return err = std::string("database process: socketpair: ") + std::strerror(errno), false;
        pid_t p = ::fork();
        if (p < 0) {
            ::close(sv[0]), ::close(sv[1]);
            return err = std::string("database process: fork: ") + std::strerror(errno), false;
        }
        if (p == 0) {
            ::close(sv[0]);
            ::fcntl(sv[1], F_SETFD, 0);
            child_main(sv[1], uid, gid, user);
        }
        ::close(sv[1]);
        pid = p, fd = sv[0], conn = false;
        return true;
    }
    // The child misbehaved or died: kill and reap it; the next connect
    // forks again. True when it had exited with 2 (it could not drop).
    bool kill_child() {
        if (fd >= 0) ::close(fd);
        int st = 0;
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &st, 0);
        }
        fd = -1, pid = 0, conn = false;
        return WIFEXITED(st) && WEXITSTATUS(st) == 2;
    }
    // Read an answer's header for OP; false with ERR (and the child gone) when broken.
    bool header(In& in, char op, bool& ok, std::string& err) {
        char got = in.byte();
        ok = in.byte() == 1;
        conn = in.byte() == 1;
        std::string e = in.str();
        if (!in.ok || got != op) {
            err = kill_child() ? "database process: cannot become user " + user +
                                     " (setgid, initgroups or setuid failed: CAP_SETUID/CAP_SETGID?)"
                               : "database process: no answer (it died or sent garbage); it is "
                                 "started again";
            return false;
        }
        if (!ok) err = e;
        return true;
    }
    // Send OUT's buffer; false when the child is gone.
    bool send(Out& o, std::string& err) {
        o.flush();
        if (o.ok) return true;
        kill_child();
        return err = "database process: gone; it is started again", false;
    }
    // One request with no payload in the answer.
    bool simple(Out& o, char op, std::string& err) {
        if (!send(o, err)) return false;
        In in{fd};
        bool ok = false;
        return header(in, op, ok, err) && ok;
    }
};

Db::Db() : impl_(std::make_unique<Impl>()) {}
Db::~Db() { impl_->kill_child(); }

// Remember USER; the child is forked at the first connect().
bool Db::separate(const std::string& user, std::string& err) {
    if (user.empty() || geteuid() != 0) return true;
    struct passwd* pw = getpwnam(user.c_str());
    if (!pw) return err = "unknown user: " + user, false;
    impl_->separated = true;
    impl_->user = user, impl_->uid = pw->pw_uid, impl_->gid = pw->pw_gid;
    return impl_->spawn(err);
}

pid_t Db::child_pid() const { return impl_->pid; }

bool Db::connect(const std::string& dsn, std::string& err) {
    if (!impl_->separated) return impl_->local.connect(dsn, err);
    if (!impl_->spawn(err)) return false;
    Out o{impl_->fd};
    o.byte('C');
    o.str(dsn);
    return impl_->simple(o, 'C', err);
}

bool Db::connected() const { return impl_->separated ? impl_->pid > 0 && impl_->conn : impl_->local.connected(); }

void Db::close() {
    if (!impl_->separated) return impl_->local.close();
    if (impl_->pid <= 0) return;
    Out o{impl_->fd};
    o.byte('X');
    std::string err;
    impl_->simple(o, 'X', err);
}

bool Db::listen(std::string& err) {
    if (!impl_->separated) return impl_->local.listen(err);
    if (impl_->pid <= 0) return err = "not connected", false;
    Out o{impl_->fd};
    o.byte('L');
    return impl_->simple(o, 'L', err);
}

// The child waits on the database; WAKE_FD (a signal) cancels its wait.
bool Db::wait_notify(int timeout_ms, int wake_fd) {
    if (!impl_->separated) return impl_->local.wait_notify(timeout_ms, wake_fd);
    if (impl_->pid <= 0) return false;
    std::string err;
    Out o{impl_->fd};
    o.byte('W');
    o.u32(static_cast<std::uint32_t>(timeout_ms));
    if (!impl_->send(o, err)) return false;
    struct pollfd fds[2] = {{impl_->fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, timeout_ms + 5000);
    if (n > 0 && !(fds[0].revents & POLLIN) && (fds[1].revents & POLLIN)) {
        Out c{impl_->fd};
        c.byte('!');
        if (!impl_->send(c, err)) return false;
    } else if (n <= 0) {  // the child did not come back from its wait: replace it
        impl_->kill_child();
        return false;
    }
    In in{impl_->fd};
    bool ok = false;
    return impl_->header(in, 'W', ok, err) && ok;
}

std::optional<std::int64_t> Db::version(std::string& err) {
    if (!impl_->separated) return impl_->local.version(err);
    if (impl_->pid <= 0) return err = "not connected", std::nullopt;
    Out o{impl_->fd};
    o.byte('V');
    if (!impl_->send(o, err)) return std::nullopt;
    In in{impl_->fd};
    bool ok = false;
    if (!impl_->header(in, 'V', ok, err)) return std::nullopt;
    std::string v = in.str();
    if (!in.ok) return impl_->kill_child(), err = "database process: broken answer", std::nullopt;
    if (!ok) return std::nullopt;
    return std::strtoll(v.c_str(), nullptr, 10);
}

// The rows come as data from the child: bounded, then validated as always.
bool Db::snapshot(const std::string& query, RowSet& out, std::string& err) {
    if (!impl_->separated) return impl_->local.snapshot(query, out, err);
    out = RowSet{};
    if (impl_->pid <= 0) return err = "not connected", false;
    Out o{impl_->fd};
    o.byte('S');
    o.str(query);
    if (!impl_->send(o, err)) return false;
    In in{impl_->fd};
    bool ok = false;
    if (!impl_->header(in, 'S', ok, err)) return false;
    if (!ok) return false;
    out.version = std::strtoll(in.str().c_str(), nullptr, 10);
    std::uint32_t ncol = in.u32();
    for (std::uint32_t i = 0; in.ok && i < ncol && i < 4096; i++) out.columns.push_back(in.str());
    std::uint32_t nrow = in.ok && ncol < 4096 ? in.u32() : 0;
    if (ncol && nrow > kMaxCells / ncol) in.ok = false;  // bounded memory, whatever the child says
    for (std::uint32_t r = 0; in.ok && r < nrow; r++) {
        std::vector<std::optional<std::string>> row;
        row.reserve(ncol);
        for (std::uint32_t c = 0; in.ok && c < ncol; c++) row.push_back(in.opt());
        out.rows.push_back(std::move(row));
    }
    if (in.ok && ncol < 4096) return true;
    out = RowSet{};
    impl_->kill_child();
    return err = "database process: broken snapshot answer; it is started again", false;
}

bool Db::record_applied(const std::string& host, std::int64_t version, std::string& err) {
    if (!impl_->separated) return impl_->local.record_applied(host, version, err);
    if (impl_->pid <= 0) return err = "not connected", false;
    Out o{impl_->fd};
    o.byte('R');
    o.str(host);
    o.str(std::to_string(version));
    return impl_->simple(o, 'R', err);
}

bool Db::host_status(std::vector<HostApplied>& out, std::string& err) {
    if (!impl_->separated) return impl_->local.host_status(out, err);
    out.clear();
    if (impl_->pid <= 0) return err = "not connected", false;
    Out o{impl_->fd};
    o.byte('H');
    if (!impl_->send(o, err)) return false;
    In in{impl_->fd};
    bool ok = false;
    if (!impl_->header(in, 'H', ok, err)) return false;
    std::uint32_t n = in.u32();
    for (std::uint32_t i = 0; in.ok && i < n; i++) {
        HostApplied h;
        h.host = in.str();
        h.version = std::strtoll(in.str().c_str(), nullptr, 10);
        h.applied_at = in.str();
        out.push_back(std::move(h));
    }
    if (!in.ok) return impl_->kill_child(), err = "database process: broken answer", false;
    return ok;
}

}  // namespace prm
