// diag.hpp - diagnostics that name the file, the line and the key.
//
// Every configuration problem a user can cause is reported as a Diag, never
// thrown: "FILE:LINE: [SECTION] KEY: MESSAGE". Line 0 means "the whole file".
#pragma once

#include <string>
#include <vector>

namespace prm {

struct Diag {
    std::string file;
    int line = 0;
    std::string section;  // INI section, may be empty
    std::string key;      // INI key, may be empty
    std::string message;

    // Render as "file:line: [section] key: message".
    std::string str() const;
};

using Diags = std::vector<Diag>;

}  // namespace prm
