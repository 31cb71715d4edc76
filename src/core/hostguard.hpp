// hostguard.hpp - partner hosts must not point into the platform's own network.
//
// What: a partner relay host that is, or resolves to, a loopback, private,
// shared (carrier-grade NAT), link-local, multicast, reserved or unspecified
// address makes the partner inactive, unless that address lies in the main
// config's allowed_private_relays. Why: the partner table is often filled
// from what tenants type in; without the guard a tenant could make the
// platform's Postfix connect (with that tenant's credentials and mail) to
// an internal service. The check runs where the partner table becomes a
// snapshot (snapshot.cpp), so -n, partner-relay-tables --check, the probe
// and the daemon all see the same status and reason.
//
// Contract: IP literals are classified directly; each distinct host name of
// a partner that is otherwise active is resolved once per load (every
// address counts: Postfix may try any of them). A name that does not resolve keeps its partner
// active with a warning: Postfix would fail to connect and fall back to the global relay, and a
// transient DNS failure at reload must not switch a partner off. Lookups are bounded: at most
// kMaxHostLookups names and about kHostLookupBudget seconds per load (a lookup already started runs
// to the resolver's own timeout); names past the bound are not checked, with one warning saying how
// many.
//
// Limits: a check at load time. DNS can change later (Postfix resolves
// again at delivery); egress filtering on the relay host is the complete
// answer, this guard catches configuration mistakes and hostile entries.
//
// Thread safety: guard_partner_hosts() modifies only the table it is given;
// the default resolver is getaddrinfo(3), which is thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/diag.hpp"
#include "core/partners.hpp"

namespace prm {

inline constexpr std::size_t kMaxHostLookups = 1000;
inline constexpr int kHostLookupBudget = 10;  // seconds per load

// Resolve HOST into textual addresses; false with ERR set when it fails.
using HostResolver =
    std::function<bool(const std::string& host, std::vector<std::string>& addrs, std::string& err)>;

// The system resolver (getaddrinfo, any family, stream sockets).
bool system_resolve(const std::string& host, std::vector<std::string>& addrs, std::string& err);

// The kind of a non-public address ("loopback", "private", "shared",
// "link-local", "multicast", "reserved", "unspecified"), or "" when ADDR is
// a public address or not an IP literal.
std::string special_address_kind(std::string_view addr);

// Deactivate every partner of T whose host is or resolves to a special
// address outside CFG.allowed_private_relays (the problem is added to the
// partner, with file, line and key "host"); add lookup failures and the
// budget warning to WARNINGS.
void guard_partner_hosts(PartnerTable& t, const Config& cfg, Diags& warnings,
                         const HostResolver& resolve);

// The same with the system resolver behind a process-wide cache (answers
// kept kResolveCacheTtl seconds, failures kResolveFailTtl): a reload of a
// large table does not resolve every name again, and cached names do not
// count against the per-load bound, so names skipped at one load are
// checked at the next. Thread-safe.
inline constexpr int kResolveCacheTtl = 600;
inline constexpr int kResolveFailTtl = 60;
void guard_partner_hosts(PartnerTable& t, const Config& cfg, Diags& warnings);

}  // namespace prm
