// dsn.cpp - hiding the password of a libpq connection string (see dsn.hpp).
//
// How: one pass finds the byte ranges of every password value; redaction
// and dsn_secrets() both use those ranges. The key = value grammar follows
// libpq's conninfo_parse(): blanks separate pairs, blanks may surround '=',
// a value is either single-quoted (backslash escapes anything) or runs to
// the next blank (backslash escapes too).
//
// Thread safety: pure. Limits: none.
#include "core/dsn.hpp"

#include <cctype>
#include <utility>

namespace prm {
namespace {

using Range = std::pair<std::size_t, std::size_t>;  // [begin, end)

bool blank(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Ranges of the password values of the key = value form; an unparsable
// rest becomes one range to the end.
std::vector<Range> keyword_ranges(const std::string& s) {
    std::vector<Range> out;
    std::size_t i = 0, n = s.size();
    while (i < n) {
        while (i < n && blank(s[i])) i++;
        if (i >= n) break;
        std::size_t k = i;
        while (i < n && s[i] != '=' && !blank(s[i])) i++;
        std::string key = s.substr(k, i - k);
        while (i < n && blank(s[i])) i++;
        if (i >= n || s[i] != '=') return out.push_back({k, n}), out;  // libpq: missing "="
        i++;
        while (i < n && blank(s[i])) i++;
        std::size_t v = i;
        if (i < n && s[i] == '\'') {
            for (i++; i < n && s[i] != '\''; i++)
                if (s[i] == '\\' && i + 1 < n) i++;
            if (i >= n) return out.push_back({v, n}), out;  // unterminated quote
            i++;
        } else {
            for (; i < n && !blank(s[i]); i++)
                if (s[i] == '\\' && i + 1 < n) i++;
        }
        if (key == "password") out.push_back({v, i});
    }
    return out;
}

// Ranges of the passwords of a postgresql:// URI starting at AFTER (past "://").
std::vector<Range> uri_ranges(const std::string& s, std::size_t after) {
    std::vector<Range> out;
    std::size_t n = s.size(), i = after;
    while (i < n && s[i] != '@' && s[i] != '/' && s[i] != '?') i++;
    if (i < n && s[i] == '@') {  // user info: user[:password]
        std::size_t colon = s.find(':', after);
        if (colon != std::string::npos && colon < i) out.push_back({colon + 1, i});
    }
    std::size_t q = s.find('?', after);
    while (q != std::string::npos && q < n) {
        std::size_t start = q + 1, end = s.find('&', start);
        if (end == std::string::npos) end = n;
        if (s.compare(start, 9, "password=") == 0) out.push_back({start + 9, end});
        q = end < n ? end : std::string::npos;
    }
    return out;
}

// Every password range of DSN.
std::vector<Range> ranges(const std::string& dsn) {
    for (const char* scheme : {"postgresql://", "postgres://"}) {
        std::string p = scheme;
        if (dsn.compare(0, p.size(), p) == 0) return uri_ranges(dsn, p.size());
    }
    return keyword_ranges(dsn);
}

}  // namespace

// Replace each range, last first so the earlier offsets stay valid.
std::string redact_dsn(const std::string& dsn) {
    std::string out = dsn;
    std::vector<Range> r = ranges(dsn);
    for (auto it = r.rbegin(); it != r.rend(); ++it) out.replace(it->first, it->second - it->first, "(hidden)");
    return out;
}

// The raw text of every password range (empty ones left out).
std::vector<std::string> dsn_secrets(const std::string& dsn) {
    std::vector<std::string> out;
    for (const Range& r : ranges(dsn))
        if (r.second > r.first) out.push_back(dsn.substr(r.first, r.second - r.first));
    return out;
}

// Replace every occurrence of every long enough secret.
std::string scrub_secrets(std::string text, const std::vector<std::string>& secrets,
                          std::size_t min_len) {
    for (const std::string& s : secrets) {
        if (s.size() < min_len || s.empty()) continue;
        for (std::size_t at = text.find(s); at != std::string::npos; at = text.find(s, at + 8))
            text.replace(at, s.size(), "(hidden)");
    }
    return text;
}

}  // namespace prm
