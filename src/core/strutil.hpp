// strutil.hpp - the few string helpers the core modules share.
//
// ASCII only on purpose: header names, host names, ids and list syntax are
// ASCII; nothing here depends on the locale. Pure, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace prm {

// ASCII lower case (ids, host names and header names compare case-insensitively).
inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Space, tab, CR or LF: what separates list items and folds header lines.
inline bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Split a comma or whitespace separated list (continuation lines included),
// dropping empty items.
inline std::vector<std::string> split_list(std::string_view v) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : v) {
        if (c == ',' || is_blank(c)) {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

}  // namespace prm
