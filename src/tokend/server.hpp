// server.hpp - the socketmap listener of partner-relay-tokend(8).
//
// What: a UNIX stream socket at [oauth] socket, created with [oauth]
// socket_mode (through the umask, at bind time) and socket_group (as root:
// through the effective gid at bind time, never a chown by path); one thread
// per connection reads socketmap requests (Postfix keeps a connection open
// for many lookups) and answers each from the Broker.
//
// A socket left at that path is replaced when nobody listens on it (a
// broker that dropped privileges cannot remove its socket from Postfix's
// root-owned private/ directory at stop); a live one or a file that is not
// a socket fails the start.
// Contract: at most kMaxConnections at once (beyond: closed at once, Postfix
// sees a lookup error and defers); an idle connection is closed after
// kIdleSeconds; a protocol error closes the connection. stop() closes the
// listener, ends every connection within about a second and removes the
// socket file.
// Thread safety: start/stop from one thread; connections run on their own.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "core/config.hpp"
#include "tokend/cache.hpp"

namespace prm::tokend {

inline constexpr int kMaxConnections = 512;
inline constexpr int kIdleSeconds = 300;

class Server {
public:
    explicit Server(Broker& broker) : broker_(broker) {}
    ~Server() { stop(); }
    // Create and bind the socket (before the privilege drop). False with ERR.
    bool open(const OAuthConfig& cfg, std::string& err);
    // Start accepting.
    void start();
    void stop();

private:
    void accept_loop();
    void serve(int fd);

    Broker& broker_;
    std::string path_;
    int fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::atomic<int> active_{0};
    std::thread acceptor_;
};

}  // namespace prm::tokend
