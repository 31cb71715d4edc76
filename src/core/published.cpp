// published.cpp - the published-credentials stamp: material, parse, check.
//
// See published.hpp for the contract and the file format.
#include "core/published.hpp"

#include "core/sha256.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace prm {

namespace {

constexpr std::size_t kMaxStampLine = 200;
constexpr std::size_t kMaxStampBytes = std::size_t(64) << 20;

// Append "<length>:<value>;" to OUT (unambiguous field encoding).
void field(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += '=';
    out += std::to_string(value.size());
    out += ':';
    out += value;
    out += ';';
}

// True when S is non-empty and all lower-case hex digits.
bool is_hex(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

}  // namespace

// Every field Postfix's login for P depends on, in a fixed order.
std::string credential_material(const Partner& p) {
    std::string m;
    field(m, "v", "1");
    field(m, "id", p.id);
    field(m, "host", p.host);
    field(m, "port", p.port ? std::to_string(*p.port) : std::string());
    field(m, "username", p.username);
    field(m, "password", p.password);
    field(m, "sender", p.sender);
    field(m, "tls", tls_level_name(p.tls));
    std::string fps;
    for (const std::string& f : p.tls_fingerprints) fps += f + ",";
    field(m, "tls_fingerprint", fps);
    // auth = oauth2: what partner-relay-tokend and the oauth transport use.
    if (p.auth != AuthKind::password) {
        field(m, "auth", auth_kind_name(p.auth));
        field(m, "oauth_client_id", p.oauth_client_id);
        field(m, "oauth_client_secret", p.oauth_client_secret);
        field(m, "oauth_token_url", p.oauth_token_url);
        field(m, "oauth_scope", p.oauth_scope);
    }
    return m;
}

// sha256(salt ":" material) in hex.
std::string stamp_digest(std::string_view salt, const Partner& p) {
    std::string m = credential_material(p);
    std::string d = stamp_digest_material(salt, m);
    volatile char* v = m.data();
    for (std::size_t i = 0; i < m.size(); ++i) v[i] = 0;
    return d;
}

// sha256(salt ":" MATERIAL) in hex.
std::string stamp_digest_material(std::string_view salt, std::string_view material) {
    std::string in(salt);
    in += ':';
    in += material;
    std::string d = sha256_hex(in);
    // The material held the password: leave no copy in freed memory.
    volatile char* v = in.data();
    for (std::size_t i = 0; i < in.size(); ++i) v[i] = 0;
    return d;
}

// One "salt HEX" line and "id HEX" lines; anything else is ignored.
Stamp parse_stamp(std::string_view text) {
    Stamp s;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        if (line.empty() || line[0] == '#' || line.size() > kMaxStampLine) continue;
        std::size_t sp = line.find(' ');
        if (sp == std::string_view::npos) continue;
        std::string_view key = line.substr(0, sp), value = line.substr(sp + 1);
        if (!is_hex(value)) continue;
        if (key == "salt") {
            if (s.salt.empty() && value.size() >= 16) s.salt = std::string(value);
        } else if (value.size() == 64 && valid_partner_id(key)) {
            s.digests.emplace(std::string(key), std::string(value));
        }
    }
    s.ok = !s.salt.empty();
    if (!s.ok) s.error = "no salt line (not written by partner-relay-tables)";
    return s;
}

// Read PATH whole (bounded) and parse it.
Stamp read_stamp(const std::string& path) {
    Stamp s;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        s.error = errno == ENOENT ? "does not exist (partner-relay-tables has not run)"
                                  : std::string(std::strerror(errno));
        return s;
    }
    std::string text;
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0 && text.size() < kMaxStampBytes)
        text.append(buf, static_cast<std::size_t>(n));
    int err = errno;
    close(fd);
    if (n < 0) {
        s.error = std::strerror(err);
        return s;
    }
    return parse_stamp(text);
}

// The file text: a header comment, the salt, one line per entry.
std::string render_stamp(std::string_view salt,
                         const std::vector<std::pair<std::string, std::string>>& entries) {
    std::string out =
        "# Written by partner-relay-tables after the Postfix tables were installed.\n"
        "# One line per published partner: salted SHA-256 of its credential fields\n"
        "# (no secret in clear). partner-relay-milter routes only partners listed here.\n";
    out += "salt ";
    out += salt;
    out += '\n';
    for (const auto& [id, digest] : entries) out += id + " " + digest + "\n";
    return out;
}

// TABLES_DIR/published, or the Sendmail default for mta = sendmail.
std::string stamp_path(const Config& cfg) {
    std::string dir = cfg.tables_dir;
    if (!cfg.tables_dir_given && cfg.mta == Mta::sendmail) dir = kDefaultSendmailTablesDir;
    if (dir.empty()) return "";
    return dir + "/" + kStampName;
}

// Missing line, or a line for other credentials.
std::string unpublished_reason(const Stamp& stamp, const std::string& path, const Partner& p) {
    if (!stamp.ok) return path + " " + stamp.error;
    auto it = stamp.digests.find(p.id);
    if (it == stamp.digests.end()) return "not in " + path + " (added since partner-relay-tables ran)";
    if (it->second != stamp_digest(stamp.salt, p))
        return "credentials changed since partner-relay-tables wrote " + path;
    return "";
}

// Flag the active partners the stamp does not cover; one summary warning.
void mark_waiting(PartnerTable& t, const Config& cfg, Diags& warnings) {
    std::string path = stamp_path(cfg);
    if (path.empty()) return;
    bool any_active = false;
    for (const Partner& p : t.partners) any_active = any_active || p.active;
    if (!any_active) return;
    Stamp stamp = read_stamp(path);
    std::string names;
    std::size_t n = 0;
    for (Partner& p : t.partners) {
        if (!p.active) continue;
        p.wait_reason = unpublished_reason(stamp, path, p);
        p.waiting = !p.wait_reason.empty();
        if (!p.waiting) continue;
        ++n;
        if (n <= 20) names += (names.empty() ? "" : ", ") + p.id;
    }
    if (n == 0) return;
    if (n > 20) names += ", ...";
    std::string what = n == 1 ? " active partner waits" : " active partners wait";
    warnings.push_back(Diag{path, 0, "", "",
                            std::to_string(n) + what + " for partner-relay-tables: " + names +
                                (stamp.ok ? "" : " (" + stamp.error + ")") +
                                "; their mail goes to the global relay until the tables are "
                                "written and the milter reloaded"});
}

// Count the waiting partners.
std::size_t waiting_count(const PartnerTable& t) {
    std::size_t n = 0;
    for (const Partner& p : t.partners) n += p.waiting ? 1 : 0;
    return n;
}

}  // namespace prm
