// check.cpp - partner-relay-sync --check and --status (see loop.hpp).
//
// --check reads the database snapshot and the local partner file and prints
// what applying it would change, partner by partner, naming the keys that
// differ and never their values. --status prints the fleet view from
// partner_relay.host_applied.
//
// Thread safety: single-threaded. Limits: those of the snapshot read.
#include <sys/stat.h>

#include <cstdio>
#include <map>

#include "core/ini.hpp"
#include "core/logging.hpp"
#include "sync/loop.hpp"
#include "sync/publish.hpp"
#include "sync/rows.hpp"

namespace prm {
namespace {

using Sections = std::map<std::string, std::map<std::string, std::string>>;

// Every section of INI as id -> key -> value (first copy of an id wins).
Sections sections_of(const IniFile& ini) {
    Sections out;
    std::map<int, std::string> start;  // line -> section name
    for (const IniSection& s : ini.sections) {
        start[s.line] = s.name;
        out.emplace(s.name, std::map<std::string, std::string>{});
    }
    for (const IniEntry& e : ini.entries) out[e.section].emplace(e.key, e.value);
    return out;
}

// The keys whose values differ between A and B, as "k1, k2".
std::string changed_keys(const std::map<std::string, std::string>& a,
                         const std::map<std::string, std::string>& b) {
    std::string out;
    auto add = [&](const std::string& k) { out += (out.empty() ? "" : ", ") + k; };
    for (const auto& [k, v] : a) {
        auto it = b.find(k);
        if (it == b.end() || it->second != v) add(k);
    }
    for (const auto& [k, v] : b)
        if (!a.count(k)) add(k);
    return out;
}

}  // namespace

// Compare the database with this host's partner file; 1 when they differ.
int Syncer::check() {
    std::string err;
    if (!db_.connect(cfg_.sync_dsn, err)) {
        std::fprintf(stderr, "partner-relay-sync: database unreachable: %s\n", err.c_str());
        return kSyncUnavailable;
    }
    RowSet rows;
    if (!db_.snapshot(cfg_.sync_query.empty() ? kDefaultQuery : cfg_.sync_query, rows, err)) {
        std::fprintf(stderr, "partner-relay-sync: reading the snapshot: %s\n", err.c_str());
        return kSyncUnavailable;
    }
    BuiltPartners built = build_partners(rows, cfg_);
    if (!built.ok) {
        std::fprintf(stderr, "partner-relay-sync: version %lld unusable: %s\n",
                     static_cast<long long>(rows.version), built.error.c_str());
        return kSyncDiffers;
    }
    load_state();
    struct stat sb {};
    Sections local;
    if (::stat(cfg_.partners.c_str(), &sb) == 0) local = sections_of(read_ini(cfg_.partners));
    Sections remote = sections_of(parse_ini_text("database", built.file_text));

    int diffs = 0;
    std::printf("database version %lld, applied here %lld\n", static_cast<long long>(rows.version),
                static_cast<long long>(applied_));
    for (const std::string& r : built.rejected) std::printf("! %s\n", r.c_str());
    for (const Partner& p : built.table.partners) {
        if (!p.active) {
            std::printf("! %s: inactive: %s%s\n", p.id.c_str(), p.reason.c_str(),
                        local.count(p.id) ? " (would stop routing)" : "");
            diffs += local.count(p.id) ? 1 : 0;
            continue;
        }
        auto it = local.find(p.id);
        if (it == local.end()) {
            std::printf("+ %s: new, would be routed\n", p.id.c_str());
            diffs++;
        } else if (std::string k = changed_keys(it->second, remote[p.id]); !k.empty()) {
            std::printf("~ %s: changed: %s\n", p.id.c_str(), k.c_str());
            diffs++;
        }
    }
    for (const auto& [id, _] : local)
        if (!remote.count(id) && !built.table.find(id)) {
            std::printf("- %s: removed, would stop routing (SASL entry kept for the grace period)\n",
                        id.c_str());
            diffs++;
        }
    std::printf("%d difference%s\n", diffs, diffs == 1 ? "" : "s");
    return diffs ? kSyncDiffers : kSyncOk;
}

// The fleet view: every host's applied version against the current one.
int Syncer::status() {
    std::string err;
    if (!db_.connect(cfg_.sync_dsn, err)) {
        std::fprintf(stderr, "partner-relay-sync: database unreachable: %s\n", err.c_str());
        return kSyncUnavailable;
    }
    auto v = db_.version(err);
    std::vector<HostApplied> hosts;
    if (!v || !db_.host_status(hosts, err)) {
        std::fprintf(stderr, "partner-relay-sync: %s\n", err.c_str());
        return kSyncUnavailable;
    }
    std::printf("current version %lld\n", static_cast<long long>(*v));
    int behind = 0;
    for (const HostApplied& h : hosts) {
        bool current = h.version == *v;
        behind += current ? 0 : 1;
        std::printf("%s version %lld applied %s %s\n", h.host.c_str(),
                    static_cast<long long>(h.version), h.applied_at.c_str(),
                    current ? "current" : ("behind by " + std::to_string(*v - h.version)).c_str());
    }
    std::printf("%zu host%s, %d behind\n", hosts.size(), hosts.size() == 1 ? "" : "s", behind);
    return behind ? kSyncDiffers : kSyncOk;
}

}  // namespace prm
