// diag.cpp - render configuration diagnostics as "file:line: [section] key: message".
//
// Contract: empty parts are left out so that a whole-file problem reads
// "file: message" and a problem without a key reads "file:12: [acme] message".
// Thread safety: pure.
#include "core/diag.hpp"

namespace prm {

// Render one diagnostic on one line.
std::string Diag::str() const {
    std::string out = file;
    if (line > 0) out += (out.empty() ? "line " : ":") + std::to_string(line);
    if (!out.empty()) out += ": ";
    if (!section.empty()) out += "[" + section + "] ";
    if (!key.empty()) out += key + ": ";
    out += message;
    return out;
}

}  // namespace prm
