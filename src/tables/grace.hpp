// grace.hpp - partner-relay-tables keeps a removed partner's credentials
// and TLS policy for a grace period.
//
// What: mail accepted for a partner before it left the partner table (or
// changed its sender) may still be in the queue, already routed to the
// partner's relay. Without its SASL (Postfix) or AuthInfo (Sendmail) entry
// it would reach that relay without AUTH (a 530 and a bounce), and without
// its TLS policy entry a password could go out unverified. So every entry
// the previous run wrote and this run no longer has is kept for GRACE
// seconds (default: Postfix's maximal_queue_lifetime, Sendmail's 5 days of
// Timeout.queuereturn; --grace 0 drops them at once). Routing stops at once:
// the milter's partner table and the Sendmail routes map are not kept.
//
// Contract: the previous entries come from the table sources in DIR that
// this tool wrote; DIR/removed remembers since when each kept entry has
// been gone ("table<TAB>key<TAB>unix time" lines, mode 0600, no values).
// keep_removed() is pure; read/write do the file work. Nothing here prints
// a value (they are credentials).
//
// Thread safety: none needed (a one-shot tool). Limits: memory.
#pragma once

#include <ctime>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tables/tables.hpp"

namespace prm {

// One table for the grace merge: its file name in DIR and its fresh entries.
struct GraceTable {
    std::string name;                  // "sasl_passwd", "authinfo", "tls", ...
    std::vector<TableEntry>* entries;  // fresh; kept entries are appended
};

// Since when each kept entry has been gone: (table, key) -> unix time.
using RemovedSince = std::map<std::pair<std::string, std::string>, std::time_t>;

struct TablesGrace {
    std::size_t kept = 0, expired = 0;
    std::time_t until = 0;  // when the last kept entry expires (0: none kept)
    RemovedSince removed;   // what DIR/removed must say now
};

// Append to each fresh table what PREVIOUS (by table name) had and it
// lacks, while NOW - since < GRACE; pure.
TablesGrace keep_removed(std::vector<GraceTable>& tables,
                          const std::map<std::string, std::vector<TableEntry>>& previous,
                          const RemovedSince& since, std::time_t now, long grace);

// The entries of a table source this tool wrote ("key<TAB>value" lines
// after "#" comments); empty when PATH is missing or unreadable.
std::vector<TableEntry> read_table_source(const std::string& path);

// DIR/removed as written by write_removed(); empty when missing.
RemovedSince read_removed(const std::string& dir);

// Write DIR/removed atomically (0600); "" or the error.
std::string write_removed(const std::string& dir, const RemovedSince& removed);

// A Postfix duration ("5d", "3600s", "12h", "3600") in seconds; -1 if not one.
long postfix_duration(std::string v);

// `postconf -h maximal_queue_lifetime` in seconds, else 5 days.
long postfix_queue_lifetime();

}  // namespace prm
