// ini.hpp - read an INI file with inih, keeping file, line and order.
//
// inih (Debian libinih) is built without line numbers in its handler; we feed
// it through ini_parse_stream with our own line reader, which counts lines,
// sees section headers (also empty sections, which inih does not report) and
// reports lines longer than inih's 200-byte buffer instead of letting them be
// split silently. The result is a flat, ordered list of entries.
//
// Thread safety: pure function. Limits: file size bounded (kMaxIniBytes).
#pragma once

#include <string>
#include <vector>

#include "core/diag.hpp"

namespace prm {

inline constexpr std::size_t kMaxIniBytes = 64 * 1024 * 1024;
// The longest line inih reads whole (its 200-byte buffer, less room for
// CR, LF and NUL); longer lines are errors (ini.cpp checks it against INI_MAX_LINE).
inline constexpr std::size_t kMaxIniLine = 197;

struct IniEntry {
    std::string section;
    std::string key;
    std::string value;
    int line = 0;
};

struct IniSection {
    std::string name;
    int line = 0;
};

struct IniFile {
    std::string path;
    std::vector<IniSection> sections;  // in file order, duplicates kept
    std::vector<IniEntry> entries;     // in file order
    Diags errors;                      // syntax errors, unreadable file
};

// Parse PATH. An unreadable file gives one error with line 0.
IniFile read_ini(const std::string& path);

// Parse the file open on FD (from its current offset; PATH names it in
// messages), so that a caller that checked the descriptor with fstat()
// reads the very file it checked. FD stays open.
IniFile read_ini_fd(int fd, const std::string& path);

// Parse TEXT as if it were the file NAME (tests, fuzzing, embedded defaults).
IniFile parse_ini_text(const std::string& name, const std::string& text);

}  // namespace prm
