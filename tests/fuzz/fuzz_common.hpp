// fuzz_common.hpp - checks shared by the libFuzzer targets of tests/fuzz.
//
// check() aborts (libFuzzer reports a crash) naming the target, taken from
// the program's name (fuzz-bin/NAME), and the broken invariant. The others
// are the hand-written predicates of issue 7's invariants that more than
// one target asserts. Header-only: fuzz.sh compiles each target on its own.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/partners.hpp"

namespace fuzz {

// Abort with a message naming the target and the broken invariant.
inline void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "%s: invariant broken: %s\n", program_invocation_short_name, what);
    std::abort();
}

// True when every CR and LF in S is part of a fold: CRLF or LF, then WSP.
inline bool only_folding(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r' && (i + 1 >= s.size() || s[i + 1] != '\n')) return false;
        if (s[i] == '\n' && (i + 1 >= s.size() || (s[i + 1] != ' ' && s[i + 1] != '\t')))
            return false;
    }
    return true;
}

// True when S is non-empty and made of [A-Za-z0-9.-] only.
inline bool host_chars(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-'))
            return false;
    return true;
}

// The route header value check of issue 7, written out by hand (no regex
// library): V is TRANSPORT ":[" HOST "]:" 1-5 digits, with HOST and the
// port those of partner P.
inline bool route_ok(const std::string& v, const prm::Partner& p) {
    std::string t;
    // An oauth2 partner goes through partner-oauth only, a password partner never.
    bool oauth = p.auth == prm::AuthKind::oauth2;
    for (const char* name : {"partner-smtps:[", "partner-oauth:[", "partner:["})
        if (v.rfind(name, 0) == 0) {
            t = name;
            break;
        }
    if (t.empty() || (t == "partner-oauth:[") != oauth) return false;
    std::size_t close = v.find("]:", t.size());
    if (close == std::string::npos) return false;
    std::string host = v.substr(t.size(), close - t.size());
    std::string port = v.substr(close + 2);
    if (!host_chars(host) || port.empty() || port.size() > 5) return false;
    for (char c : port)
        if (c < '0' || c > '9') return false;
    return host == p.host && p.port && port == std::to_string(*p.port);
}

}  // namespace fuzz
