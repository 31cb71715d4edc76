// conn.hpp - a bounded SMTP client connection for partner-relay-probe.
//
// What: a TCP connection (getaddrinfo, non-blocking connect + poll) that can
// be switched to TLS (OpenSSL, SNI for host names, certificate name or IP
// check armed for the handshake), with reply and line readers.
//
// Contract: every operation (connect to one address, one whole reply, one
// write, the handshake) ends within the timeout given to the constructor;
// failures are returned as false plus a human-readable reason, never thrown.
// A reply line is at most kMaxReplyLine bytes, a reply kMaxReplyLines
// lines, and the whole connection reads at most kMaxSessionBytes bytes.
//
// Thread safety: one Conn per thread. Writes use MSG_NOSIGNAL on the plain
// socket; the program ignores SIGPIPE for the writes OpenSSL makes.
#pragma once

#include <netdb.h>
#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace prm::probe {

struct SslCtxFree { void operator()(SSL_CTX* p) const { SSL_CTX_free(p); } };
struct SslFree { void operator()(SSL* p) const { SSL_free(p); } };
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// Owns a file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Fd& operator=(Fd&& o) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd();
    int get() const { return fd_; }

private:
    int fd_ = -1;
};

// One SMTP reply: the code and the text of each line (after "NNN-"/"NNN ").
struct Reply {
    int code = 0;
    std::vector<std::string> lines;

    // The first line as "CODE text" (for details; sanitise before printing).
    std::string summary() const;
};

// What an EHLO reply offers.
struct Ehlo {
    bool starttls = false;
    bool auth = false;
    std::vector<std::string> mechs;  // upper case, in the server's order
};

// Parse the extension lines of an EHLO reply (its first line is the greeting).
Ehlo parse_ehlo(const Reply& r);

// The most recent OpenSSL error as text (the error queue is emptied).
std::string ssl_error_text();

// True when HOST is an IPv4 or IPv6 literal (no SNI, IP certificate check).
bool ip_literal(const std::string& host);

class Conn {
public:
    explicit Conn(int timeout_seconds) : timeout_(timeout_seconds) {}

    // Resolve HOST, connect to the first address that answers (at most 8
    // tried). DETAIL says where it connected, or why every address failed.
    bool connect(const std::string& host, int port, std::string& detail);
    // TLS handshake as a client. Verification results are kept in the SSL
    // session (SSL_get_verify_result) rather than failing the handshake.
    bool start_tls(SSL_CTX* ctx, const std::string& host, std::string& err);
    bool write(std::string_view data, std::string& err);
    bool read_reply(Reply& r, std::string& err);
    // Bytes received but not consumed (must be none when STARTTLS begins).
    bool has_buffered() const { return !buf_.empty(); }
    SSL* ssl() const { return ssl_.get(); }
    bool tls() const { return ssl_ != nullptr; }
    bool connected() const { return fd_.get() >= 0; }

private:
    using Clock = std::chrono::steady_clock;
    Clock::time_point deadline() const { return Clock::now() + std::chrono::seconds(timeout_); }
    bool wait(short events, Clock::time_point until, std::string& err);
    bool ssl_wait(int rc, Clock::time_point until, std::string& err);
    bool fill(Clock::time_point until, std::string& err);
    bool read_line(std::string& line, Clock::time_point until, std::string& err);
    bool try_address(const addrinfo* ai, std::string& err);

    int timeout_;
    Fd fd_;
    std::unique_ptr<SSL, SslFree> ssl_;
    std::string buf_;
    std::size_t total_ = 0;
};

}  // namespace prm::probe
