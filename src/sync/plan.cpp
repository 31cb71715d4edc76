// plan.cpp - drop guard, grace period and state file (see plan.hpp).
//
// Thread safety: pure. Limits: see plan.hpp.
#include "sync/plan.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace prm {

// More than MAX_DROP percent of the active partners gone: refuse.
DropCheck drop_check(const std::set<std::string>& before, const std::set<std::string>& after,
                     int max_drop) {
    DropCheck d;
    d.before = before.size();
    for (const std::string& id : before)
        if (!after.count(id)) d.dropped++;
    if (d.before == 0 || d.dropped * 100 <= static_cast<std::size_t>(max_drop) * d.before) return d;
    d.refused = true;
    d.message = "the new snapshot would deactivate " + std::to_string(d.dropped) + " of " +
                std::to_string(d.before) + " active partners (more than max_drop = " +
                std::to_string(max_drop) + "%); refused, nothing changed (run with --force to apply it)";
    return d;
}

namespace {

// Append the entries of one table that FRESH lacks and are still in grace.
void keep_table(const char* name, const std::vector<TableEntry>& fresh,
                std::vector<TableEntry>& out, const std::vector<KeptEntry>& previous,
                std::time_t now, long grace, GraceResult& res) {
    std::map<std::string, bool> have;
    for (const TableEntry& e : fresh) {
        have[e.key] = true;
        res.state.push_back(KeptEntry{name, e, 0});
    }
    for (const KeptEntry& k : previous) {
        if (k.table != name || have.count(k.entry.key)) continue;
        std::time_t since = k.removed_at ? k.removed_at : now;
        if (now - since >= grace) {
            res.expired++;
            continue;
        }
        have[k.entry.key] = true;
        out.push_back(k.entry);
        res.state.push_back(KeptEntry{name, k.entry, since});
        res.kept++;
    }
}

}  // namespace

// FRESH wins for every key it has; what it lost stays for GRACE seconds.
GraceResult with_grace(const PostfixTables& fresh, const std::vector<KeptEntry>& previous,
                       std::time_t now, long grace) {
    GraceResult res;
    res.tables = fresh;
    keep_table("sasl", fresh.sasl, res.tables.sasl, previous, now, grace, res);
    keep_table("tls", fresh.tls_policy, res.tables.tls_policy, previous, now, grace, res);
    return res;
}

// Double, capped at max(INTERVAL, min(60, 6 * INTERVAL)).
int next_backoff(int backoff, int interval) {
    int cap = std::max(interval, std::min(60, 6 * interval));
    return std::max(interval, std::min(backoff * 2, cap));
}

// "partner-relay-sync state 1", "version N", then table<TAB>key<TAB>value<TAB>removed_at.
std::string render_state(std::int64_t version, const std::vector<KeptEntry>& state) {
    std::string out = "partner-relay-sync state 1\nversion " + std::to_string(version) + "\n";
    for (const KeptEntry& k : state)
        out += k.table + "\t" + k.entry.key + "\t" + k.entry.value + "\t" +
               std::to_string(static_cast<long long>(k.removed_at)) + "\n";
    return out;
}

// The inverse of render_state().
bool parse_state(const std::string& text, std::int64_t& version, std::vector<KeptEntry>& state) {
    std::istringstream in(text);
    std::string line;
    if (!std::getline(in, line) || line != "partner-relay-sync state 1") return false;
    if (!std::getline(in, line) || line.rfind("version ", 0) != 0) return false;
    version = std::stoll(line.substr(8));
    state.clear();
    while (std::getline(in, line)) {
        std::size_t a = line.find('\t'), b = line.find('\t', a + 1), c = line.rfind('\t');
        if (a == std::string::npos || b == std::string::npos || c == b) return false;
        KeptEntry k;
        k.table = line.substr(0, a);
        k.entry.key = line.substr(a + 1, b - a - 1);
        k.entry.value = line.substr(b + 1, c - b - 1);
        k.removed_at = static_cast<std::time_t>(std::stoll(line.substr(c + 1)));
        if (k.table != "sasl" && k.table != "tls") return false;
        state.push_back(std::move(k));
    }
    return true;
}

}  // namespace prm
