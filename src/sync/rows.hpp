// rows.hpp - database rows to a validated partner table and partner file.
//
// What: every column of a row but id and enabled is a partner-table key
// (NULL = the key is absent), so a new partner key needs only a new column.
// The rows are written as the partner file the milter reads, parsed back
// with the core's INI reader and validated by the core's own
// load_partners_ini() and host guard: a partner is active here exactly when
// it would be active in the milter. A value the file could not carry back
// unchanged (CR, LF, NUL or any control character, a line too long for the
// reader, leading or trailing blanks, an inline comment) deactivates that
// partner with a reason that names the column, never the value.
//
// Contract: pure apart from the host guard's DNS lookups (a resolver can be
// passed for tests). Disabled rows (enabled = false) are left out as if
// deleted. The partner file holds the active partners only.
//
// Thread safety: pure functions. Limits: those of the INI reader
// (kMaxIniBytes for the whole file, kMaxIniLine per line).
#pragma once

#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/hostguard.hpp"
#include "core/partners.hpp"
#include "sync/pg.hpp"

namespace prm {

struct BuiltPartners {
    bool ok = false;            // false: the rows as a whole are unusable (error)
    std::string error;          // why, e.g. no id column
    PartnerTable table;         // every enabled row with a valid id, validated
    std::vector<std::string> rejected;  // rows not even a partner (bad id), why
    std::string file_text;      // the partner file: active partners only
    Diags warnings;             // host guard warnings
};

// Build and validate ROWS against CFG (RESOLVE: the host guard's resolver,
// null for the system's).
BuiltPartners build_partners(const RowSet& rows, const Config& cfg,
                             const HostResolver* resolve = nullptr);

// ID with anything unprintable shown as \xNN, for log lines.
std::string printable(const std::string& id);

}  // namespace prm
