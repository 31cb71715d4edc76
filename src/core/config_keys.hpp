// config_keys.hpp - the key tables of the main configuration (internal).
//
// What: the type of one row of a key table (its documentation, a setter
// that validates a raw value, a getter that renders the effective one) and
// the small value parsers the tables share. config.cpp holds the [milter]
// and [headers] table; each further section that belongs to one program
// keeps its table in its own file (config_oauth.cpp: [oauth]), so adding a
// program's keys does not grow config.cpp.
//
// Contract: setters never throw; on a bad value they return false and set
// EXPECTED to what would have been accepted. Only the core includes this.
//
// Thread safety: the tables are immutable.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"

namespace prm::keys {

using Setter = bool (*)(Config&, const std::string& value, std::string& expected);
using Getter = std::string (*)(const Config&);

struct KeyDef {
    KeyInfo info;
    Setter set;
    Getter get;
};

// A whole decimal number in [LO, HI]; no sign, no spaces, bounded length.
bool parse_int(const std::string& v, long lo, long hi, int& out);
// yes/no, true/false, 1/0.
bool parse_bool(const std::string& v, bool& out);
// One word: no whitespace or control character, bounded, no leading ';'.
bool valid_token(std::string_view v);
// An octal mode of 3 or 4 digits, at most 0777.
bool parse_mode(const std::string& v, unsigned& out);
std::string mode_text(unsigned m);

// The [oauth] table (config_oauth.cpp).
const std::vector<KeyDef>& oauth_key_defs();
// Checks across [oauth] keys and the transports (socket name clashes).
void check_oauth_section(const struct IniFile& ini, const Config& cfg, Diags& errors);

}  // namespace prm::keys
