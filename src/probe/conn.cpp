// conn.cpp - a bounded SMTP client connection (see conn.hpp).
//
// Non-blocking socket throughout: connect, reads and writes wait in poll(2)
// with the time left before the operation's deadline, and OpenSSL's
// WANT_READ/WANT_WRITE are handled the same way, so a silent or slow server
// costs at most one timeout per operation.
#include "probe/conn.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "probe/probe.hpp"

namespace prm::probe {
namespace {

struct AddrFree { void operator()(addrinfo* p) const { freeaddrinfo(p); } };

// The numeric address of AI as text.
std::string address_text(const addrinfo* ai) {
    char addr[INET6_ADDRSTRLEN] = "?";
    const void* a = ai->ai_family == AF_INET6
                        ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr)
                        : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr);
    inet_ntop(ai->ai_family, a, addr, sizeof addr);
    return addr;
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
}

Fd::~Fd() {
    if (fd_ >= 0) ::close(fd_);
}

std::string Reply::summary() const {
    return std::to_string(code) + " " + (lines.empty() ? "" : lines[0]);
}

// The most recent OpenSSL error as text (the queue is emptied).
std::string ssl_error_text() {
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0) last = e;
    if (last == 0) return "connection closed";
    char buf[256];
    ERR_error_string_n(last, buf, sizeof buf);
    return buf;
}

// True when HOST is an IPv4 or IPv6 literal (no SNI, IP certificate check).
bool ip_literal(const std::string& host) {
    unsigned char tmp[16];
    return inet_pton(AF_INET, host.c_str(), tmp) == 1 || inet_pton(AF_INET6, host.c_str(), tmp) == 1;
}

// Wait until the socket is ready for EVENTS or UNTIL has passed.
bool Conn::wait(short events, Clock::time_point until, std::string& err) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
        if (left <= 0) {
            err = "timed out after " + std::to_string(timeout_) + " s";
            return false;
        }
        pollfd p{fd_.get(), events, 0};
        int n = ::poll(&p, 1, static_cast<int>(left));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) {
            err = std::string("poll: ") + std::strerror(errno);
            return false;
        }
    }
}

// After an SSL call returned RC: wait for what OpenSSL wants, or fail.
bool Conn::ssl_wait(int rc, Clock::time_point until, std::string& err) {
    int e = SSL_get_error(ssl_.get(), rc);
    if (e == SSL_ERROR_WANT_READ) return wait(POLLIN, until, err);
    if (e == SSL_ERROR_WANT_WRITE) return wait(POLLOUT, until, err);
    if (e == SSL_ERROR_ZERO_RETURN) {
        err = "connection closed by the server";
    } else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        err = errno ? std::string(std::strerror(errno)) : "connection closed by the server";
    } else {
        err = ssl_error_text();
    }
    return false;
}

// One connect attempt to AI with a non-blocking socket and poll.
bool Conn::try_address(const addrinfo* ai, std::string& err) {
    Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd.get() < 0) {
        err = std::string("socket: ") + std::strerror(errno);
        return false;
    }
    fd_ = std::move(fd);
    if (::connect(fd_.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            err = std::strerror(errno);
            return false;
        }
        if (!wait(POLLOUT, deadline(), err)) return false;
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) soerr = errno;
        if (soerr != 0) {
            err = std::strerror(soerr);
            return false;
        }
    }
    return true;
}

// Resolve HOST and connect to the first address that answers.
bool Conn::connect(const std::string& host, int port, std::string& detail) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (rc != 0) {
        detail = "cannot resolve " + host + ": " + gai_strerror(rc);
        return false;
    }
    std::unique_ptr<addrinfo, AddrFree> list(res);

    // Try at most a few addresses: each costs up to one timeout.
    std::string tried;
    int n = 0;
    for (const addrinfo* ai = list.get(); ai != nullptr && n < 8; ai = ai->ai_next, ++n) {
        std::string addr = address_text(ai);
        std::string err;
        if (try_address(ai, err)) {
            detail = "connected to " + addr + " port " + std::to_string(port);
            return true;
        }
        tried += (tried.empty() ? "" : "; ") + addr + " port " + std::to_string(port) + ": " + err;
    }
    fd_ = Fd();
    detail = tried.empty() ? "no address for " + host : tried;
    return false;
}

// TLS handshake on the connected socket: SNI for names, name/IP check set.
bool Conn::start_tls(SSL_CTX* ctx, const std::string& host, std::string& err) {
    ssl_.reset(SSL_new(ctx));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_.get()) != 1) {
        err = "cannot create the TLS session: " + ssl_error_text();
        return false;
    }
    // The chain is verified during the handshake and the verdict kept for
    // the certificate step; the name check is part of that verification.
    if (ip_literal(host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl_.get(), host.c_str());
        SSL_set_hostflags(ssl_.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        SSL_set1_host(ssl_.get(), host.c_str());
    }
    auto until = deadline();
    for (;;) {
        ERR_clear_error();
        int rc = SSL_connect(ssl_.get());
        if (rc == 1) return true;
        if (!ssl_wait(rc, until, err)) return false;
    }
}

// Write all of DATA before the deadline.
bool Conn::write(std::string_view data, std::string& err) {
    auto until = deadline();
    std::size_t off = 0;
    while (off < data.size()) {
        if (ssl_) {
            ERR_clear_error();
            int n = SSL_write(ssl_.get(), data.data() + off, static_cast<int>(data.size() - off));
            if (n > 0) off += static_cast<std::size_t>(n);
            else if (!ssl_wait(n, until, err)) return false;
            continue;
        }
        ssize_t n = ::send(fd_.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += static_cast<std::size_t>(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait(POLLOUT, until, err)) return false;
        } else if (n < 0 && errno != EINTR) {
            err = std::strerror(errno);
            return false;
        }
    }
    return true;
}

// Read more bytes into the buffer (at least one, or an error).
bool Conn::fill(Clock::time_point until, std::string& err) {
    char tmp[4096];
    for (;;) {
        ssize_t n;
        if (ssl_) {
            ERR_clear_error();
            int rc = SSL_read(ssl_.get(), tmp, sizeof tmp);
            if (rc <= 0) {
                if (!ssl_wait(rc, until, err)) return false;
                continue;
            }
            n = rc;
        } else {
            n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
            if (n == 0) {
                err = "connection closed by the server";
                return false;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    if (!wait(POLLIN, until, err)) return false;
                } else if (errno != EINTR) {
                    err = std::strerror(errno);
                    return false;
                }
                continue;
            }
        }
        total_ += static_cast<std::size_t>(n);
        if (total_ > kMaxSessionBytes) {
            err = "server sent more than " + std::to_string(kMaxSessionBytes) + " bytes";
            return false;
        }
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
    }
}

// One line without its CR LF, at most kMaxReplyLine bytes.
bool Conn::read_line(std::string& line, Clock::time_point until, std::string& err) {
    for (;;) {
        auto nl = buf_.find('\n');
        if (nl != std::string::npos && nl < kMaxReplyLine) {
            line.assign(buf_, 0, nl);
            buf_.erase(0, nl + 1);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return true;
        }
        if (buf_.size() >= kMaxReplyLine) {
            err = "reply line longer than " + std::to_string(kMaxReplyLine) + " bytes";
            return false;
        }
        if (!fill(until, err)) return false;
    }
}

// One (possibly multi-line) reply; the whole reply under one deadline.
bool Conn::read_reply(Reply& r, std::string& err) {
    auto until = deadline();
    r = Reply{};
    std::string line;
    for (std::size_t i = 0; i < kMaxReplyLines; ++i) {
        if (!read_line(line, until, err)) return false;
        bool digits = line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
                      std::isdigit(static_cast<unsigned char>(line[1])) &&
                      std::isdigit(static_cast<unsigned char>(line[2]));
        char sep = line.size() > 3 ? line[3] : ' ';
        if (!digits || (sep != ' ' && sep != '-')) {
            err = "malformed reply line";
            return false;
        }
        int code = std::stoi(line.substr(0, 3));
        if (i > 0 && code != r.code) {
            err = "reply code changed inside a multi-line reply";
            return false;
        }
        r.code = code;
        r.lines.push_back(line.size() > 4 ? line.substr(4) : "");
        if (sep == ' ') return true;
    }
    err = "reply longer than " + std::to_string(kMaxReplyLines) + " lines";
    return false;
}

// Parse the extension lines of an EHLO reply (the first line is the greeting).
Ehlo parse_ehlo(const Reply& r) {
    Ehlo e;
    for (std::size_t i = 1; i < r.lines.size(); ++i) {
        std::string l = r.lines[i];
        for (auto& c : l) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (l == "STARTTLS") e.starttls = true;
        // "AUTH=" is the pre-RFC 4954 form some servers still send.
        if (l.rfind("AUTH ", 0) == 0 || l.rfind("AUTH=", 0) == 0) {
            e.auth = true;
            std::size_t p = 5;
            while (p < l.size()) {
                auto q = l.find(' ', p);
                if (q == std::string::npos) q = l.size();
                if (q > p) e.mechs.push_back(l.substr(p, q - p));
                p = q + 1;
            }
        }
    }
    return e;
}

}  // namespace prm::probe
