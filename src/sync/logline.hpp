// logline.hpp - the key=value log lines of partner-relay-sync.
//
// What: every line the sync logs is "event=NAME key=value ...", like the
// milter's "queueid: key=value" lines, so that one grep or one log parser
// reads both. A value that is a plain token (letters, digits and
// . _ - @ / : + , = %) is written as is; anything else goes in double
// quotes with '"' and '\' escaped and every control byte as \xNN, so a
// line is always one line; values longer than kMaxLogValue are cut ("...").
//
// Contract: callers pass decisions and diagnostics, never a partner value
// or a DSN password (pg.cpp scrubs libpq's messages before they get here).
//
// Thread safety: a KvLine is a plain value. Limits: kMaxLogValue per value.
#pragma once

#include <string>
#include <string_view>

namespace prm {

inline constexpr std::size_t kMaxLogValue = 512;

// V as a log value: a bare token, or quoted and escaped.
std::string kv_value(std::string_view v);

// One "event=NAME k=v ..." line.
class KvLine {
public:
    explicit KvLine(std::string_view event) { add("event", event); }
    KvLine& add(std::string_view key, std::string_view value);
    KvLine& num(std::string_view key, long long value) { return add(key, std::to_string(value)); }
    KvLine& flag(std::string_view key, bool value) { return add(key, value ? "yes" : "no"); }
    const std::string& str() const { return line_; }
    operator std::string_view() const { return line_; }  // NOLINT: logger().log(level, line)

private:
    std::string line_;
};

}  // namespace prm
