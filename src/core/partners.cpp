// partners.cpp - load and validate the partner table; O(1) lookups.
//
// What: every INI section is a partner. Each partner is validated on its
// own and ends up active ("ok") or inactive with every problem found, each
// also kept as a Diag naming file:line and key (DESIGN.md rules 1-3: there
// is no partial configuration). Checks that involve two partners (same id,
// same sender, same match_senders entry) come after, and deactivate both
// sides of a sender clash, since the SASL table is keyed by sender and
// could not tell them apart.
//
// Contract: a broken partner never stops the others; only an unreadable
// (or oversized) file, or one others can read or a stranger owns (unless
// partners_permissions = warn), is a table-level error. The password is validated but
// never copied into a Diag, a reason or any other text.
//
// Thread safety: a loaded table is immutable. Limits: the file size bound of
// ini.hpp; 100 000 partners load in well under a second (hash maps only).
#include "core/partners.hpp"
#include "core/strutil.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <map>
#include <unordered_map>

#include "core/ini.hpp"
#include "core/partner_tls.hpp"
#include "core/partners_build.hpp"
#include "core/rfc5322.hpp"

namespace prm {
namespace {

const char* const kPartnerKeys[] = {
    "host",         "port",           "username",        "password",        "sender",
    "categories",   "tls",            "tls_fingerprint", "match_senders",   "auth",
    "oauth_client_id", "oauth_client_secret", "oauth_tenant", "oauth_token_url", "oauth_scope"};

// Characters that would break a Postfix lookup table line, a "[host]:port"
// next hop or the SASL "user:password" value.
bool has_forbidden(std::string_view v) {
    return std::any_of(v.begin(), v.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u < 32 || u == 127 || c == ' ' || c == ',' || c == '[' || c == ']' || c == ':';
    });
}

// A DNS host name (letters, digits, '-'; labels 1-63; total <= 253) or an
// IPv4 dotted quad. A name whose last label is numeric is a mistyped IPv4.
bool valid_host(const std::string& h) {
    unsigned char buf[4];
    if (inet_pton(AF_INET, h.c_str(), buf) == 1) return true;
    if (h.empty() || h.size() > 253) return false;
    std::size_t start = 0;
    bool last_numeric = false;
    while (start <= h.size()) {
        std::size_t dot = h.find('.', start);
        std::string_view label =
            std::string_view(h).substr(start, dot == std::string::npos ? h.npos : dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        bool ok = std::all_of(label.begin(), label.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-';
        });
        if (!ok) return false;
        last_numeric =
            std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return !last_numeric;
}

// A whole number 0-65535, nothing else (inih has already trimmed spaces).
std::optional<std::uint16_t> parse_port(const std::string& v) {
    if (v.empty() || v.size() > 5) return std::nullopt;
    long n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    if (n > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(n);
}

}  // namespace

// A DNS host name or an IPv4 dotted quad (partners_build.hpp).
bool valid_relay_host(const std::string& h) { return valid_host(h); }

namespace {

// "user@domain" or "@domain", normalized; empty when malformed.
std::string normalize_match(const std::string& m) {
    if (!m.empty() && m[0] == '@')
        return valid_addr_spec("postmaster" + m) ? "@" + ascii_lower(m.substr(1)) : "";
    return valid_addr_spec(m) ? normalize_address(m) : "";
}

// Collect the section's entries, reporting unknown and duplicate keys.
void collect(Builder& b, const std::vector<const IniEntry*>& entries) {
    for (const IniEntry* e : entries) {
        if (std::find(std::begin(kPartnerKeys), std::end(kPartnerKeys), e->key) ==
            std::end(kPartnerKeys)) {
            std::string list;
            for (const char* k : kPartnerKeys) list += (list.empty() ? "" : ", ") + std::string(k);
            b.problem(e->line, e->key, "unknown key (expected one of " + list + ")");
            continue;
        }
        auto [it, fresh] = b.seen.emplace(e->key, e);
        if (!fresh)
            b.problem(e->line, e->key,
                      "duplicate key (first set on line " + std::to_string(it->second->line) + ")");
    }
}

// The four credentials of rule 1 and the sender of rule 2.
void check_relay(Builder& b) {
    if (const IniEntry* e = b.required("host")) {
        if (has_forbidden(e->value))
            b.problem(e->line, "host",
                      "host contains a forbidden character (space, comma, bracket, ':' or a "
                      "control character)");
        else if (!valid_host(e->value))
            b.problem(e->line, "host", "host must be a DNS name or an IPv4 address");
        else
            b.p.host = e->value, b.p.host_line = e->line;
    }
    if (const IniEntry* e = b.optional("port"); e == nullptr) {
        b.problem(b.p.line, "port", "missing port");
    } else if (b.p.port_line = e->line; !(b.p.port = parse_port(e->value))) {
        b.problem(e->line, "port",
                  "port must be a whole number from 0 to 65535 (got '" + e->value + "')");
    }
    if (const IniEntry* e = b.required("username")) {
        if (has_forbidden(e->value))
            b.problem(e->line, "username",
                      "username contains a forbidden character (space, comma, bracket, ':' or a "
                      "control character)");
        else
            b.p.username = e->value;
    }
    if (b.p.auth == AuthKind::oauth2) {
        // An oauth2 partner has no password: check_oauth() says so if one is there.
    } else if (const IniEntry* e = b.required("password")) {
        // Never echo the value: only say what is wrong with it.
        if (e->value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos)
            b.problem(e->line, "password",
                      "password contains a line break or NUL (indented next line?)");
        else
            b.p.password = e->value;
    }
    if (const IniEntry* e = b.required("sender")) {
        if (has_forbidden(e->value))
            b.problem(e->line, "sender",
                      "sender contains a forbidden character (space, comma, bracket, ':' or a "
                      "control character)");
        else if (!valid_addr_spec(e->value))
            b.problem(
                e->line, "sender",
                "malformed sender '" + e->value + "': expected an address like news@example.com");
        else if (e->value[0] == '#' || e->value[0] == '"')
            // '#' starts a comment line in sasl_passwd; Postfix looks a quoted
            // local part up unquoted: either way the mail would leave without AUTH.
            b.problem(e->line, "sender",
                      std::string("sender '") + e->value + "' " +
                          (e->value[0] == '#' ? "starts with '#' (a comment line in sasl_passwd)"
                                              : "has a quoted local part") +
                          ": Postfix's sender-dependent SASL lookup would never find it");
        else
            b.p.sender = normalize_address(e->value);
    }
}

// The optional keys: categories, tls, tls_fingerprint, match_senders.
void check_options(Builder& b, const Config& cfg) {
    if (const IniEntry* e = b.optional("categories")) {
        b.p.narrowed = true;
        std::vector<std::string> cats = split_list(e->value);
        if (cats.empty())
            b.problem(e->line, "categories",
                      "empty list (remove the key to take every eligible category)");
        for (const std::string& c : cats) {
            if (!cfg.categories.known(c))
                b.problem(e->line, "categories", "unknown category '" + c + "'");
            else if (!cfg.categories.eligible(c))
                b.problem(e->line, "categories",
                          "category '" + c + "' is not eligible for partner relays");
            else
                b.p.categories.push_back(c);
        }
    }
    // The certificate check (partner_tls.cpp); needs the host checked above.
    TlsKeys keys;
    keys.section_line = b.p.line;
    if (const IniEntry* e = b.optional("tls")) keys.tls = &e->value, keys.tls_line = e->line;
    if (const IniEntry* e = b.optional("tls_fingerprint"))
        keys.fingerprint = &e->value, keys.fingerprint_line = e->line;
    std::vector<TlsProblem> tls_problems;
    choose_tls(b.p, keys, tls_problems);
    for (const TlsProblem& t : tls_problems) b.problem(t.line, t.key, t.message);
    if (const IniEntry* e = b.optional("match_senders")) {
        for (const std::string& m : split_list(e->value)) {
            std::string n = normalize_match(m);
            if (n.empty())
                b.problem(e->line, "match_senders",
                          "malformed entry '" + m + "' (expected user@domain or @domain)");
            else
                b.p.match_senders.push_back(n);
        }
    }
}

// Checks across partners: duplicate ids, shared senders, shared match entries.
void check_clashes(PartnerTable& t) {
    std::unordered_map<std::string, std::size_t> ids, senders, matches;
    ids.reserve(t.partners.size());
    senders.reserve(t.partners.size());
    auto clash = [&](std::size_t a, std::size_t b, const std::string& key,
                     const std::string& what) {
        Partner& pa = t.partners[a];
        Partner& pb = t.partners[b];
        pa.problems.push_back(Diag{t.path, pa.line, pa.id, key,
                                   what + " is also used by partner " + pb.id + " (line " +
                                       std::to_string(pb.line) + ")"});
        pb.problems.push_back(Diag{t.path, pb.line, pb.id, key,
                                   what + " is also used by partner " + pa.id + " (line " +
                                       std::to_string(pa.line) + ")"});
    };
    for (std::size_t i = 0; i < t.partners.size(); i++) {
        Partner& p = t.partners[i];
        auto [it, fresh] = ids.emplace(p.id, i);
        if (!fresh) {
            p.problems.push_back(Diag{t.path, p.line, p.id, "",
                                      "duplicate partner id (first defined on line " +
                                          std::to_string(t.partners[it->second].line) + ")"});
            continue;  // the second copy takes no part in the other checks
        }
        if (!p.sender.empty()) {
            // Postfix folds lookup keys to lower case: the SASL table could
            // not tell News@x from news@x apart.
            auto [s, sfresh] = senders.emplace(ascii_lower(p.sender), i);
            if (!sfresh) clash(s->second, i, "sender", "sender " + p.sender);
        }
        for (const std::string& m : p.match_senders) {
            auto [mi, mfresh] = matches.emplace(m, i);
            if (!mfresh && mi->second != i)
                clash(mi->second, i, "match_senders", "match_senders entry " + m);
        }
    }
}

// Hand each entry and syntax error of INI to the partner section it sits in
// (by line: sections with the same name are different partners). What lies
// before the first section is only a warning: it belongs to no partner.
std::vector<std::vector<const IniEntry*>> distribute(const IniFile& ini, PartnerTable& t) {
    std::vector<std::vector<const IniEntry*>> entries(t.partners.size());
    auto owner = [&](int line) -> long {
        auto it = std::upper_bound(ini.sections.begin(), ini.sections.end(), line,
                                   [](int l, const IniSection& s) { return l < s.line; });
        return static_cast<long>(it - ini.sections.begin()) - 1;
    };
    for (const IniEntry& e : ini.entries) {
        long o = owner(e.line);
        if (o < 0)
            t.warnings.push_back(Diag{t.path, e.line, "", e.key,
                                      "setting outside of any [partner] section is ignored"});
        else
            entries[static_cast<std::size_t>(o)].push_back(&e);
    }
    for (const Diag& d : ini.errors) {
        long o = d.line > 0 ? owner(d.line) : -1;
        if (d.line == 0)
            t.errors.push_back(d);
        else if (o < 0)
            t.warnings.push_back(d);
        else
            t.partners[static_cast<std::size_t>(o)].problems.push_back(
                Diag{d.file, d.line, t.partners[static_cast<std::size_t>(o)].id, d.key, d.message});
    }
    return entries;
}

}  // namespace

const char* tls_level_name(TlsLevel t) {
    switch (t) {
        case TlsLevel::encrypt:
            return "encrypt";
        case TlsLevel::verify:
            return "verify";
        case TlsLevel::secure:
            return "secure";
        case TlsLevel::fingerprint:
            return "fingerprint";
    }
    return "encrypt";
}

// 1-64 characters of a-z0-9._- (ids appear in headers, logs and file names).
bool valid_partner_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    });
}

// Every key a partner section may hold.
const std::vector<std::string>& partner_keys() {
    static const std::vector<std::string> keys(std::begin(kPartnerKeys), std::end(kPartnerKeys));
    return keys;
}

bool Partner::implicit_tls(const Config& cfg) const {
    return port && std::find(cfg.implicit_tls_ports.begin(), cfg.implicit_tls_ports.end(), *port) !=
                       cfg.implicit_tls_ports.end();
}

const std::string& Partner::transport(const Config& cfg) const {
    if (auth == AuthKind::oauth2) return cfg.partner_oauth_transport;
    return implicit_tls(cfg) ? cfg.partner_smtps_transport : cfg.partner_transport;
}

std::string Partner::nexthop() const {
    return "[" + host + "]:" + (port ? std::to_string(*port) : "?");
}

std::string Partner::route_value(const Config& cfg) const {
    return transport(cfg) + ":" + nexthop();
}

// Globally eligible and, when the partner narrowed its list, on it.
bool Partner::takes(const Config& cfg, std::string_view category) const {
    if (!cfg.categories.eligible(category)) return false;
    return !narrowed ||
           std::find(categories.begin(), categories.end(), category) != categories.end();
}

const Partner* PartnerTable::find(std::string_view id) const {
    auto it = by_id_.find(std::string(id));
    return it == by_id_.end() ? nullptr : &partners[it->second];
}

// Exact address first, then "@domain" (domain case-insensitive).
const Partner* PartnerTable::by_envelope_sender(std::string_view addr) const {
    if (addr.empty() || by_match_.empty()) return nullptr;
    std::string a = normalize_address(addr);
    if (auto it = by_match_.find(a); it != by_match_.end()) return &partners[it->second];
    std::size_t at = a.rfind('@');
    if (at == std::string::npos) return nullptr;
    auto it = by_match_.find(ascii_lower(std::string_view(a).substr(at)));
    return it == by_match_.end() ? nullptr : &partners[it->second];
}

// The first partner, in file order, whose sender is ADDR (O(1); used on the
// fallback listener to name the partner whose relay failed).
const Partner* PartnerTable::by_sender(std::string_view addr) const {
    if (addr.empty()) return nullptr;
    auto it = by_sender_.find(normalize_address(addr));
    return it == by_sender_.end() ? nullptr : &partners[it->second];
}

std::size_t PartnerTable::active_count() const {
    return static_cast<std::size_t>(
        std::count_if(partners.begin(), partners.end(), [](const Partner& p) { return p.active; }));
}

// Build the hash maps: first id wins; an entry two partners claim maps to none.
void PartnerTable::index() {
    by_id_.clear();
    by_match_.clear();
    by_sender_.clear();
    by_id_.reserve(partners.size());
    by_sender_.reserve(partners.size());
    std::unordered_map<std::string, bool> ambiguous;
    for (std::size_t i = 0; i < partners.size(); i++) {
        const Partner& p = partners[i];
        if (!by_id_.emplace(p.id, i).second) continue;  // duplicate id: not reachable
        if (!p.sender.empty()) by_sender_.emplace(normalize_address(p.sender), i);
        for (const std::string& m : p.match_senders) {
            auto [it, fresh] = by_match_.emplace(m, i);
            if (!fresh && it->second != i) ambiguous[m] = true;
        }
    }
    for (const auto& [m, _] : ambiguous) by_match_.erase(m);
}

// Validate an already parsed INI file.
PartnerTable load_partners_ini(const IniFile& ini, const Config& cfg) {
    PartnerTable t;
    t.path = ini.path;
    t.partners.reserve(ini.sections.size());
    for (const IniSection& s : ini.sections) {
        Partner p;
        p.id = s.name;
        p.line = s.line;
        t.partners.push_back(std::move(p));
    }

    std::vector<std::vector<const IniEntry*>> entries = distribute(ini, t);
    for (std::size_t i = 0; i < t.partners.size(); i++) {
        Partner& p = t.partners[i];
        if (!valid_partner_id(p.id))
            p.problems.push_back(
                Diag{t.path, p.line, p.id, "",
                     "invalid partner id (expected 1-64 characters of a-z, 0-9, '.', '_', '-')"});
        Builder b{t.path, p, {}};
        collect(b, entries[i]);
        read_auth_kind(b);
        check_relay(b);
        check_options(b, cfg);
        check_oauth(b, cfg);
    }
    check_clashes(t);
    // Sendmail 8.17.1 has no client-side implicit TLS (the mailer flag for
    // it is a compile-time FFR of 8.17.2 and later).
    if (cfg.mta == Mta::sendmail)
        for (Partner& p : t.partners)
            if (p.implicit_tls(cfg))
                p.problems.push_back(Diag{t.path, p.line, p.id, "port",
                                          "implicit TLS (port " + std::to_string(*p.port) +
                                              ") is not supported on Sendmail 8.17: use the "
                                              "relay's STARTTLS port"});

    for (Partner& p : t.partners) {
        p.active = p.problems.empty();
        p.reason = p.active ? "ok" : "";
        for (const Diag& d : p.problems) {
            p.reason += (p.reason.empty() ? "" : "; ") + d.message;
            t.warnings.push_back(d);
        }
    }
    t.index();
    return t;
}

namespace {

// The uid of user NAME, or -1 when NAME is empty or unknown.
long uid_of(const std::string& name) {
    if (name.empty()) return -1;
    struct passwd pw {
    }, *res = nullptr;
    std::vector<char> buf(16384);
    if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || !res) return -1;
    return static_cast<long>(pw.pw_uid);
}

// Why the table at PATH (stat SB) must not be trusted with passwords, or ""
// when its mode and owner are fine. Allowed owners: root, the configured
// milter user, and the user running this program (the daemon after its
// privilege drop, or an admin's own test setup).
std::string permission_problem(const std::string& path, const struct stat& sb, const Config& cfg) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(sb.st_mode & 07777));
    std::string facts = std::string("mode ") + mode + ", owner uid " + std::to_string(sb.st_uid);
    if ((sb.st_mode & (S_IROTH | S_IWOTH)) != 0)
        return "partner table " + path + " (" + facts +
               ") can be read or changed by others although it holds passwords: chmod 600 it";
    long milter_uid = uid_of(cfg.user);
    if (sb.st_uid != 0 && sb.st_uid != geteuid() && static_cast<long>(sb.st_uid) != milter_uid)
        return "partner table " + path + " (" + facts + ") is owned by neither root nor the " +
               "milter's user" + (cfg.user.empty() ? "" : " (" + cfg.user + ")") +
               ": chown it to one of them";
    return "";
}

}  // namespace

// Read the partner table at PATH, after checking who can read or change it:
// a table others can read, or owned by a stranger, is refused (an error, so
// no partner loads) unless [milter] partners_permissions = warn; a table
// its group can read only warns.
PartnerTable load_partners(const std::string& path, const Config& cfg) {
    // One open, checked with fstat() and read from (issue 17 finding 3): a
    // stat() of the path and a second open let whoever can write a
    // directory on the path show the check one file and the reader another.
    // O_NOFOLLOW: the table itself must not be a symlink.
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        PartnerTable t;
        t.path = path;
        std::string why = errno == ELOOP ? "is a symbolic link (not followed)" : std::strerror(errno);
        t.errors.push_back(Diag{path, 0, "", "", "cannot read: " + why});
        return t;
    }
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat sb {};
    std::string refused;
    if (::fstat(fd, &sb) == 0) refused = permission_problem(path, sb, cfg);
    if (!refused.empty() && !cfg.partners_permissions_warn) {
        PartnerTable t;
        t.path = path;
        t.errors.push_back(
            Diag{path, 0, "", "", refused + " (or set [milter] partners_permissions = warn)"});
        return t;
    }

    IniFile ini = read_ini_fd(fd, path);
    for (const Diag& d : ini.errors)
        if (d.line == 0) {
            PartnerTable t;
            t.path = path;
            t.errors = ini.errors;
            return t;
        }
    PartnerTable t = load_partners_ini(ini, cfg);
    if (!refused.empty()) {
        t.warnings.push_back(Diag{path, 0, "", "", refused});
    } else if ((sb.st_mode & (S_IRGRP | S_IWGRP)) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(sb.st_mode & 07777));
        t.warnings.push_back(Diag{path, 0, "", "",
                                  std::string("readable by group or others (mode ") + mode +
                                      ") although it holds passwords; chmod 600 it"});
    }
    return t;
}

}  // namespace prm
