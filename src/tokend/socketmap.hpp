// socketmap.hpp - Postfix's socketmap protocol: bounded netstring codec.
//
// What: a request is the netstring "LEN:NAME KEY," (socketmap_table(5));
// a reply is "LEN:STATUS DATA," with STATUS one of OK, NOTFOUND, TEMP,
// TIMEOUT, PERM. SocketmapReader takes bytes as they arrive and yields
// whole requests; format_reply() builds a reply. The token broker answers
// OK or TEMP only: NOTFOUND on smtp_sasl_password_maps would make Postfix
// send without AUTH (POSTFIX-FINDINGS.md, "XOAUTH2 and socketmap").
//
// Contract: every input is bounded: a request longer than kMaxSocketmapRequest, a
// length with more than 6 digits, a missing ':' or ',' or a request without
// a space is a protocol error, after which the reader stays failed (the
// connection must be closed). Replies are at most kMaxSocketmapReply bytes of
// netstring payload (Postfix's own limit is 100000).
//
// Thread safety: a reader belongs to one connection; format_reply is pure.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace prm {

inline constexpr std::size_t kMaxSocketmapRequest = 10000;  // payload bytes
inline constexpr std::size_t kMaxSocketmapReply = 100000;   // payload bytes (Postfix's limit)

struct SocketmapRequest {
    std::string name;  // the map name after socketmap:...: ("xoauth2")
    std::string key;   // the lookup key (Postfix folds it to lower case)
};

class SocketmapReader {
public:
    // Append bytes read from the connection.
    void feed(std::string_view bytes);
    // The next complete request, or nullopt when more bytes are needed or
    // the stream is broken (failed() then says why).
    std::optional<SocketmapRequest> next();
    bool failed() const { return !error_.empty(); }
    const std::string& error() const { return error_; }

private:
    std::string buf_;
    std::string error_;
};

// "LEN:STATUS DATA," (or "LEN:STATUS," when DATA is empty); a payload over
// kMaxSocketmapReply becomes "TEMP reply too long".
std::string format_socketmap_reply(std::string_view status, std::string_view data);

}  // namespace prm
