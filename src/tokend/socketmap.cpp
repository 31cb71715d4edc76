// socketmap.cpp - bounded netstring reader and reply writer (socketmap.hpp).
#include "tokend/socketmap.hpp"

namespace prm {

// Keep the bytes; parsing happens in next().
void SocketmapReader::feed(std::string_view bytes) {
    if (failed()) return;
    buf_.append(bytes);
}

// One "LEN:NAME KEY," off the front of the buffer.
std::optional<SocketmapRequest> SocketmapReader::next() {
    if (failed()) return std::nullopt;
    std::size_t colon = buf_.find(':');
    std::size_t digits = colon == std::string::npos ? buf_.size() : colon;
    for (std::size_t i = 0; i < digits; i++)
        if (buf_[i] < '0' || buf_[i] > '9') return error_ = "netstring length is not a number", std::nullopt;
    if (digits > 6) return error_ = "netstring length too long", std::nullopt;
    if (colon == std::string::npos) return std::nullopt;  // length still arriving
    if (colon == 0) return error_ = "netstring without a length", std::nullopt;
    std::size_t len = std::stoul(buf_.substr(0, colon));
    if (len > kMaxSocketmapRequest) return error_ = "request too long", std::nullopt;
    if (buf_.size() < colon + 1 + len + 1) return std::nullopt;  // payload still arriving
    if (buf_[colon + 1 + len] != ',') return error_ = "netstring without its ','", std::nullopt;

    std::string payload = buf_.substr(colon + 1, len);
    buf_.erase(0, colon + 1 + len + 1);
    std::size_t space = payload.find(' ');
    if (space == std::string::npos || space == 0)
        return error_ = "request is not 'NAME KEY'", std::nullopt;
    return SocketmapRequest{payload.substr(0, space), payload.substr(space + 1)};
}

// "LEN:STATUS DATA,".
std::string format_socketmap_reply(std::string_view status, std::string_view data) {
    std::string payload(status);
    if (!data.empty()) payload += " " + std::string(data);
    if (payload.size() > kMaxSocketmapReply) payload = "TEMP reply too long";
    return std::to_string(payload.size()) + ":" + payload + ",";
}

}  // namespace prm
