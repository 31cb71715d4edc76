// hostguard.cpp - deactivate partners whose relay host is a non-public address.
//
// See hostguard.hpp for the contract. Address classes follow the IANA
// special-purpose registries (RFC 6890 and successors), restricted to what
// can never be a partner's relay on the Internet.
#include "core/hostguard.hpp"
#include "core/strutil.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

namespace prm {

namespace {

// The kind of an IPv4 address given as 4 bytes, or "".
std::string kind_v4(const unsigned char* a) {
    if (a[0] == 0) return "unspecified";
    if (a[0] == 127) return "loopback";
    if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168))
        return "private";
    if (a[0] == 100 && (a[1] & 0xc0) == 64) return "shared";
    if (a[0] == 169 && a[1] == 254) return "link-local";
    if ((a[0] & 0xf0) == 224) return "multicast";
    if ((a[0] & 0xf0) == 240) return "reserved";
    return "";
}

// The kind of an IPv6 address given as 16 bytes, or "".
std::string kind_v6(const unsigned char* a) {
    static const unsigned char zero[16] = {};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a, zero, 16) == 0) return "unspecified";
    if (std::memcmp(a, zero, 15) == 0 && a[15] == 1) return "loopback";
    if (std::memcmp(a, mapped, 12) == 0) return kind_v4(a + 12);
    if ((a[0] & 0xfe) == 0xfc) return "private";  // fc00::/7 unique local
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return "link-local";
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return "private";  // fec0::/10 site-local
    if (a[0] == 0xff) return "multicast";
    return "";
}

// Whether ADDR lies in one of the allowed networks.
bool allowed(const Config& cfg, const std::string& addr) {
    for (const Network& n : cfg.allowed_private_relays)
        if (n.contains(addr)) return true;
    return false;
}

// "a private address" / "an unspecified address".
std::string article(const std::string& kind) {
    bool vowel =
        kind[0] == 'a' || kind[0] == 'e' || kind[0] == 'i' || kind[0] == 'o' || kind[0] == 'u';
    return (vowel ? "an " : "a ") + kind + " address";
}


// What one host name resolved to, cached for the load.
struct Lookup {
    bool checked = false;  // false: past the lookup bound
    bool ok = false;
    std::vector<std::string> addrs;
    std::string err;
};

using Clock = std::chrono::steady_clock;

// Answers of the system resolver kept across loads (reloads), with expiry.
class ProcessCache {
public:
    // The unexpired answer for HOST into L; false when there is none.
    bool find(const std::string& host, Lookup& l) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = map_.find(host);
        if (it == map_.end() || Clock::now() >= it->second.expires) return false;
        l = it->second.lookup;
        return true;
    }
    // Remember L for HOST (failures for a shorter time).
    void put(const std::string& host, const Lookup& l) {
        std::lock_guard<std::mutex> lock(mu_);
        int ttl = l.ok ? kResolveCacheTtl : kResolveFailTtl;
        map_[host] = Entry{l, Clock::now() + std::chrono::seconds(ttl)};
    }

private:
    struct Entry {
        Lookup lookup;
        Clock::time_point expires;
    };
    std::mutex mu_;
    std::unordered_map<std::string, Entry> map_;
};

ProcessCache& process_cache() {
    static ProcessCache cache;
    return cache;
}

// The bounded resolution of every host name of one load; answers from
// SHARED (when given) cost nothing against the bound.
class Lookups {
public:
    Lookups(const HostResolver& r, ProcessCache* shared)
        : resolve_(r), shared_(shared), start_(Clock::now()) {}

    const Lookup& get(const std::string& host) {
        auto it = cache_.find(host);
        if (it != cache_.end()) return it->second;
        Lookup l;
        if (shared_ && shared_->find(host, l)) return cache_.emplace(host, std::move(l)).first->second;
        if (resolved_ < kMaxHostLookups &&
            Clock::now() - start_ < std::chrono::seconds(kHostLookupBudget)) {
            l.checked = true;
            l.ok = resolve_(host, l.addrs, l.err);
            ++resolved_;
            if (shared_) shared_->put(host, l);
        } else {
            ++skipped_;
        }
        return cache_.emplace(host, std::move(l)).first->second;
    }
    std::size_t skipped() const { return skipped_; }

private:
    const HostResolver& resolve_;
    ProcessCache* shared_;
    Clock::time_point start_;
    std::map<std::string, Lookup> cache_;
    std::size_t resolved_ = 0;
    std::size_t skipped_ = 0;
};

// The line of P's KEY when known (host, oauth_token_url), else its section line.
int key_line(const Partner& p, const char* key) {
    int line = std::string_view(key) == "host"              ? p.host_line
               : std::string_view(key) == "oauth_token_url" ? p.oauth_token_url_line
                                                            : 0;
    return line > 0 ? line : p.line;
}

// The guard's problem for HOST of partner P (WHAT: "host" or "token URL
// host", KEY the partner-table key), or "" when the host passes.
std::string host_problem(const Partner& p, const std::string& host, const char* what,
                         const char* key, const Config& cfg, Lookups& lookups,
                         const std::string& file, Diags& warnings) {
    std::string name = std::string(what) + " " + host;
    unsigned char buf[16];
    if (inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1) {
        std::string kind = special_address_kind(host);
        if (kind.empty() || allowed(cfg, host)) return "";
        return name + " is " + article(kind) + " (not in allowed_private_relays)";
    }
    // Names cost a lookup: only for partners that would otherwise route.
    if (!p.active) return "";
    const Lookup& l = lookups.get(ascii_lower(host));
    if (!l.checked) return "";
    if (!l.ok) {
        warnings.push_back(Diag{file, key_line(p, key), p.id, key,
                                name + " does not resolve (" + l.err +
                                    "); not checked against private addresses"});
        return "";
    }
    for (const std::string& a : l.addrs) {
        std::string k = special_address_kind(a);
        if (!k.empty() && !allowed(cfg, a))
            return name + " resolves to " + a + ", " + article(k) +
                   " (not in allowed_private_relays)";
    }
    return "";
}

// Make P inactive for WHY (a problem at KEY).
void deactivate(PartnerTable& t, Partner& p, const char* key, const std::string& why) {
    Diag d{t.path, key_line(p, key), p.id, key, why};
    p.problems.push_back(d);
    t.warnings.push_back(d);
    p.reason = p.active ? why : p.reason + "; " + why;
    p.active = false;
    p.host_guarded = true;
}

}  // namespace

// getaddrinfo(3): every stream address of HOST, in textual form.
bool system_resolve(const std::string& host, std::vector<std::string>& addrs, std::string& err) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
        err = gai_strerror(rc);
        return false;
    }
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        const void* src = nullptr;
        if (ai->ai_family == AF_INET)
            src = &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr;
        else if (ai->ai_family == AF_INET6)
            src = &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr;
        if (src && inet_ntop(ai->ai_family, src, text, sizeof text)) addrs.emplace_back(text);
    }
    freeaddrinfo(res);
    if (addrs.empty()) err = "no IPv4 or IPv6 address";
    return !addrs.empty();
}

// Classify a textual IPv4 or IPv6 address.
std::string special_address_kind(std::string_view addr) {
    if (addr.empty() || addr.size() >= INET6_ADDRSTRLEN) return "";
    std::string s(addr);
    unsigned char buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) return kind_v4(buf);
    if (inet_pton(AF_INET6, s.c_str(), buf) == 1) return kind_v6(buf);
    return "";
}

namespace {

// Apply the guard to every partner with a valid host.
void guard_with(PartnerTable& t, const Config& cfg, Diags& warnings, const HostResolver& resolve,
                ProcessCache* shared) {
    Lookups lookups(resolve, shared);
    for (Partner& p : t.partners) {
        if (p.host.empty()) continue;  // missing or invalid: already a problem
        std::string why = host_problem(p, p.host, "host", "host", cfg, lookups, t.path, warnings);
        if (!why.empty()) deactivate(t, p, "host", why);
        // The token endpoint gets the client secret: same guard. A tenant's
        // endpoint is Microsoft's fixed public host, not worth a lookup.
        if (p.auth != AuthKind::oauth2 || p.oauth_token_host.empty() || !p.oauth_tenant.empty())
            continue;
        why = host_problem(p, p.oauth_token_host, "token URL host", "oauth_token_url", cfg, lookups,
                           t.path, warnings);
        if (!why.empty()) deactivate(t, p, "oauth_token_url", why);
    }
    if (lookups.skipped() > 0)
        warnings.push_back(Diag{t.path, 0, "", "",
                                std::to_string(lookups.skipped()) +
                                    " partner host name(s) not checked against private "
                                    "addresses: lookup bound reached (" +
                                    std::to_string(kMaxHostLookups) + " names, " +
                                    std::to_string(kHostLookupBudget) + " s)"});
}

}  // namespace

// With the given resolver, no cache across loads (tests).
void guard_partner_hosts(PartnerTable& t, const Config& cfg, Diags& warnings,
                         const HostResolver& resolve) {
    guard_with(t, cfg, warnings, resolve, nullptr);
}

// With the system resolver and the process-wide cache.
void guard_partner_hosts(PartnerTable& t, const Config& cfg, Diags& warnings) {
    guard_with(t, cfg, warnings, system_resolve, &process_cache());
}

}  // namespace prm
