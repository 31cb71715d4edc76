// server.cpp - the socketmap listener (server.hpp).
#include "tokend/server.hpp"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "core/logging.hpp"
#include "tokend/socketmap.hpp"

namespace prm::tokend {
namespace {

// Remove a stale socket at PATH: only a socket nobody listens on (a broker
// that stopped after its privilege drop could not remove it), never a live
// one (another broker) or another kind of file.
bool clear_stale(const std::string& path, std::string& err) {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) return errno == ENOENT || (err = path + ": " + std::strerror(errno), false);
    if (!S_ISSOCK(st.st_mode)) return err = path + ": exists and is not a socket", false;
    sockaddr_un sa{};
    if (path.size() >= sizeof sa.sun_path) return err = path + ": socket path too long", false;
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return err = std::string("socket: ") + std::strerror(errno), false;
    bool live = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    close(fd);
    if (live) return err = path + ": another process is listening on this socket", false;
    if (unlink(path.c_str()) != 0) return err = path + ": " + std::strerror(errno), false;
    logger().log(Level::info, "removed the stale socket " + path);
    return true;
}

// Write all of BUF to FD.
bool write_all(int fd, const std::string& buf) {
    size_t off = 0;
    while (off < buf.size()) {
        ssize_t n = send(fd, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

}  // namespace

// Create the listening socket with its mode and group.
bool Server::open(const OAuthConfig& cfg, std::string& err) {
    path_ = cfg.socket;
    if (!clear_stale(path_, err)) return false;
    gid_t gid = static_cast<gid_t>(-1);
    if (!cfg.socket_group.empty()) {
        struct group* g = getgrnam(cfg.socket_group.c_str());
        if (!g) return err = "socket_group: unknown group " + cfg.socket_group, false;
        gid = g->gr_gid;
    }
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return err = std::string("socket: ") + std::strerror(errno), false;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path_.c_str(), path_.size() + 1);
    gid_t saved = getegid();
    bool as_root = geteuid() == 0 && gid != static_cast<gid_t>(-1);
    if (as_root && setegid(gid) != 0) return err = std::string("setegid: ") + std::strerror(errno), false;
    mode_t old = umask(static_cast<mode_t>(~cfg.socket_mode & 0777));
    int rc = bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int e = errno;
    umask(old);
    if (as_root && setegid(saved) != 0) abort();  // cannot happen for root
    if (rc != 0) return err = path_ + ": bind: " + std::strerror(e), false;
    if (!as_root && gid != static_cast<gid_t>(-1) && gid != getegid() &&
        chown(path_.c_str(), static_cast<uid_t>(-1), gid) != 0)
        return err = path_ + ": chgrp " + cfg.socket_group + ": " + std::strerror(errno), false;
    if (listen(fd_, 128) != 0) return err = std::string("listen: ") + std::strerror(errno), false;
    return true;
}

// Start the accepting thread.
void Server::start() { acceptor_ = std::thread([this] { accept_loop(); }); }

// Stop accepting, let the connections see the flag, remove the socket.
void Server::stop() {
    stopping_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    for (int i = 0; i < 50 && active_ > 0; i++) usleep(50000);
    if (fd_ >= 0) {
        close(fd_);
        fd_ = -1;
        if (unlink(path_.c_str()) != 0 && errno != ENOENT)
            logger().log(Level::info, "cannot remove " + path_ + " (" + std::strerror(errno) +
                                          "): the next start replaces it");
    }
}

// Accept connections until stop(), one detached thread each.
void Server::accept_loop() {
    while (!stopping_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0) continue;
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        if (active_ >= kMaxConnections) {
            logger().log(Level::warning, "socketmap: too many connections, closing one");
            close(c);
            continue;
        }
        active_++;
        std::thread([this, c] { serve(c); active_--; }).detach();
    }
}

// Read requests off one connection and answer each.
void Server::serve(int fd) {
    SocketmapReader reader;
    char buf[4096];
    int idle = 0;
    while (!stopping_ && idle < kIdleSeconds * 5) {
        pollfd p{fd, POLLIN, 0};
        int rc = poll(&p, 1, 200);
        if (rc == 0) {
            idle++;
            continue;
        }
        if (rc < 0 && errno == EINTR) continue;
        ssize_t n = rc > 0 ? read(fd, buf, sizeof buf) : -1;
        if (n <= 0) break;
        idle = 0;
        reader.feed(std::string_view(buf, static_cast<size_t>(n)));
        bool ok = true;
        while (auto req = reader.next()) {
            std::string reply = broker_.lookup(req->name, req->key);
            std::size_t sp = reply.find(' ');
            ok = write_all(fd, format_socketmap_reply(reply.substr(0, sp),
                                                      sp == std::string::npos ? "" : reply.substr(sp + 1)));
            if (!ok) break;
        }
        if (!ok) break;
        if (reader.failed()) {
            logger().log(Level::warning, "socketmap: protocol error: " + reader.error());
            break;
        }
    }
    close(fd);
}

}  // namespace prm::tokend
