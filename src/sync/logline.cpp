// logline.cpp - key=value log lines (see logline.hpp).
//
// Thread safety: pure. Limits: see logline.hpp.
#include "sync/logline.hpp"

#include <cstdio>

namespace prm {
namespace {

// A byte that may stand unquoted in a value.
bool plain(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("._-@/:+,=%").find(c) != std::string_view::npos;
}

}  // namespace

// Bare when every byte is plain and V is not empty; else quoted.
std::string kv_value(std::string_view v) {
    bool cut = v.size() > kMaxLogValue;
    if (cut) v = v.substr(0, kMaxLogValue);
    bool bare = !v.empty() && !cut;
    for (char c : v) bare = bare && plain(c);
    if (bare) return std::string(v);
    std::string out = "\"";
    for (char c : v) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 32 || u == 127) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + (cut ? "...\"" : "\"");
}

// Append " KEY=VALUE".
KvLine& KvLine::add(std::string_view key, std::string_view value) {
    if (!line_.empty()) line_ += ' ';
    line_.append(key);
    line_ += '=';
    line_ += kv_value(value);
    return *this;
}

}  // namespace prm
