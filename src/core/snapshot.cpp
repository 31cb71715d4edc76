// snapshot.cpp - load the main config and the partner table as one snapshot.
//
// Contract: a main-config error or an unreadable partner table fails the
// load (the daemon then keeps its previous snapshot); an inactive partner
// only adds one warning naming it, its line and every reason, so an admin
// sees each broken partner once per load; an active partner with tls =
// encrypt adds one warning (credentials to an unverified server); active
// partners whose credentials are not published yet add one warning.
//
// Thread safety: load_snapshot() is pure apart from reading files; the
// SnapshotHolder in the header publishes results atomically.
#include "core/snapshot.hpp"

#include "core/hostguard.hpp"
#include "core/partner_tls.hpp"
#include "core/published.hpp"
#include "core/rfc5322.hpp"

namespace prm {

// Load the main config at CONFIG_PATH and the partner table it names.
// The senders PREV knew (its partners' and its own former ones) that NEXT's
// table no longer has.
static void remember_senders(Snapshot& next, const Snapshot& prev) {
    auto set = std::make_shared<std::unordered_set<std::string>>();
    auto keep = [&](const std::string& s) {
        if (!s.empty() && !next.partners.by_sender(s)) set->insert(s);
    };
    if (prev.former_senders)
        for (const std::string& s : *prev.former_senders) keep(s);
    for (const Partner& p : prev.partners.partners) keep(normalize_address(p.sender));
    if (!set->empty()) next.former_senders = std::move(set);
}

SnapshotResult load_snapshot(const std::string& config_path, std::uint64_t generation,
                             bool check_published, const Snapshot* previous) {
    SnapshotResult res;
    ConfigResult cr = load_config(config_path);
    res.warnings = cr.warnings;
    if (!cr.config) {
        res.errors = cr.errors;
        return res;
    }

    auto snap = std::make_shared<Snapshot>();
    snap->config = std::move(*cr.config);
    snap->partners = load_partners(snap->config.partners, snap->config);
    snap->generation = generation;
    if (!snap->partners.errors.empty()) {
        res.errors = snap->partners.errors;
        return res;
    }
    // Relay hosts in private address space: see hostguard.hpp.
    guard_partner_hosts(snap->partners, snap->config, res.warnings);
    if (previous) remember_senders(*snap, *previous);

    // File-level warnings (mode, stray lines) as they are; per-partner
    // problems folded into one line per inactive partner.
    for (const Diag& d : snap->partners.warnings)
        if (d.section.empty()) res.warnings.push_back(d);
    for (const Partner& p : snap->partners.partners)
        if (!p.active)
            res.warnings.push_back(Diag{snap->partners.path, p.line, "", "",
                                        "partner " + p.id + " inactive: " + p.reason});
    // An active partner whose relay is not verified (tls = encrypt, as its
    // entry asks) is worth one warning per load: -n, --check and the probe
    // print it, the daemon logs it.
    for (const Partner& p : snap->partners.partners)
        if (p.active && p.tls == TlsLevel::encrypt)
            res.warnings.push_back(
                Diag{snap->partners.path, p.line, "", "tls", unverified_warning(p)});
    // Port 0 is a valid number (rule 3) but no relay listens there: such a
    // partner is active and every message of it can only fall back.
    for (const Partner& p : snap->partners.partners)
        if (p.active && p.port && *p.port == 0)
            res.warnings.push_back(Diag{snap->partners.path, p.port_line > 0 ? p.port_line : p.line,
                                        "", "port",
                                        "partner " + p.id + ": port 0: no relay listens there, "
                                        "every message routed to it falls back to the global relay"});
    // Credentials not yet in the Postfix tables: routed globally until
    // partner-relay-tables runs (one warning naming them).
    if (check_published) mark_waiting(snap->partners, snap->config, res.warnings);
    res.snapshot = std::move(snap);
    return res;
}

}  // namespace prm
