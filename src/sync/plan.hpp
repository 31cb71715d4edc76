// plan.hpp - the sync's pure decisions: the drop guard and the grace period.
//
// What:
//   drop_check()  refuses a snapshot that would deactivate more than
//                 max_drop percent of the partners active in the applied
//                 state (a mass DELETE by mistake, an emptied view);
//   with_grace()  keeps, for a grace period, the SASL and TLS policy
//                 entries that a new snapshot no longer has, so mail queued
//                 for a removed partner still leaves with AUTH and TLS while
//                 the partner file has already stopped routing to it;
//   next_backoff() the pause between two connection attempts;
//   the state file: the entries last published with the time each one left
//                 the snapshot ("key<TAB>value<TAB>removed_at" lines, 0600).
//
// Contract: pure functions of explicit inputs and time; nothing here logs or
// prints a value (the values are credentials).
//
// Thread safety: pure. Limits: none beyond memory.
#pragma once

#include <cstdint>
#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "tables/tables.hpp"

namespace prm {

struct DropCheck {
    bool refused = false;
    std::size_t before = 0;   // active partners in the applied state
    std::size_t dropped = 0;  // of those, not active in the new snapshot
    std::string message;      // for the log, when refused
};

// Refuse when more than MAX_DROP percent of BEFORE are not in AFTER.
DropCheck drop_check(const std::set<std::string>& before, const std::set<std::string>& after,
                     int max_drop);

// One table entry as published, and since when it is only kept (0: live).
struct KeptEntry {
    std::string table;  // "sasl" or "tls"
    TableEntry entry;
    std::time_t removed_at = 0;
};

struct GraceResult {
    PostfixTables tables;         // FRESH plus the entries still in grace
    std::vector<KeptEntry> state; // what to remember for next time
    std::size_t kept = 0;         // entries kept only for the grace period
    std::size_t expired = 0;      // entries dropped now (grace over)
};

// Merge FRESH with the PREVIOUS state at time NOW with GRACE seconds.
GraceResult with_grace(const PostfixTables& fresh, const std::vector<KeptEntry>& previous,
                       std::time_t now, long grace);

// The pause after BACKOFF seconds of waiting for an unreachable database:
// doubled each time, from INTERVAL up to six intervals, at most 60 s (but
// never less than INTERVAL).
int next_backoff(int backoff, int interval);

// The state file text, and back (false when TEXT is not one).
std::string render_state(std::int64_t version, const std::vector<KeptEntry>& state);
bool parse_state(const std::string& text, std::int64_t& version, std::vector<KeptEntry>& state);

}  // namespace prm
