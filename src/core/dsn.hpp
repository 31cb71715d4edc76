// dsn.hpp - a libpq connection string without its password, for output.
//
// What: redact_dsn() returns a DSN with every password replaced by
// "(hidden)": the value of a "password" keyword in the key = value form
// (blanks around '=', single-quoted values with backslash escapes, as libpq
// parses them) and the password of a postgresql:// or postgres:// URI (in
// its user info or as a "password" query parameter). Anything it cannot
// parse is hidden from that point on, so a malformed DSN never shows a
// password either. dsn_secrets() returns those password texts as they are
// written in the DSN (for scrubbing error messages that quote a piece of
// it).
//
// Contract: pure; no libpq (the core links without it). Never throws for
// any input.
//
// Thread safety: pure functions. Limits: none beyond the string's length.
#pragma once

#include <string>
#include <vector>

namespace prm {

// DSN with its passwords shown as "(hidden)".
std::string redact_dsn(const std::string& dsn);

// The password texts of DSN as written (raw, not unquoted or decoded).
std::vector<std::string> dsn_secrets(const std::string& dsn);

// TEXT with every SECRET of at least MIN_LEN bytes replaced by "(hidden)".
std::string scrub_secrets(std::string text, const std::vector<std::string>& secrets,
                          std::size_t min_len = 1);

}  // namespace prm
