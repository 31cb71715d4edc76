// tables.cpp - build and install the Postfix lookup tables (see tables.hpp).
//
// The pure part (building, rendering, parsing postconf output) comes first;
// then the parts that run Postfix tools and touch the file system. Child
// processes get an argv vector, never a shell, so no table content can be
// interpreted as a command.
//
// Thread safety: single-threaded tool. Limits: tool output read up to 4 MiB.
#include "tables/tables.hpp"
#include "tables/stamp.hpp"

#include "core/partner_tls.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

namespace prm {

namespace {

constexpr std::size_t kMaxToolOutput = 4 * 1024 * 1024;

// Higher is stricter: encrypt < verify < secure < fingerprint.
int strictness(TlsLevel t) {
    switch (t) {
        case TlsLevel::encrypt: return 0;
        case TlsLevel::verify: return 1;
        case TlsLevel::secure: return 2;
        case TlsLevel::fingerprint: return 3;
    }
    return 0;
}

// True for a dotted-quad IPv4 literal (SNI and name matching make no sense).
bool is_ipv4_literal(const std::string& host) {
    if (host.empty()) return false;
    for (char c : host)
        if (!(c == '.' || (c >= '0' && c <= '9'))) return false;
    return true;
}

// A postmap key or value must not contain whitespace or line breaks.
bool has_space(std::string_view s) {
    for (char c : s)
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
    return false;
}

// Trim blanks at both ends.
std::string trim(std::string_view s) {
    std::size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return {};
    std::size_t e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

// The SASL entry of an active partner, or a warning why it has none.
bool sasl_entry(const Partner& p, TableEntry& out, std::string& why) {
    // Never a password line for an oauth2 partner: its token comes from
    // partner-relay-tokend over socketmap, not from sasl_passwd.
    if (p.auth == AuthKind::oauth2) {
        why = "auth = oauth2: credentials come from partner-relay-tokend (socketmap), not sasl_passwd";
        return false;
    }
    // Postfix splits "username:password" at the first colon.
    if (p.username.find(':') != std::string::npos) {
        why = "username contains ':', which Postfix cannot store";
        return false;
    }
    if (has_space(p.sender) || p.sender.empty()) {
        why = "sender contains blanks, which a Postfix table key cannot hold";
        return false;
    }
    if (p.password.find_first_of("\r\n") != std::string::npos) {
        why = "password contains a line break";
        return false;
    }
    out = {p.sender, p.username + ":" + p.password};
    return true;
}

}  // namespace

// The recipe's fallback hops when master.cf cannot be read.
std::vector<FallbackHop> default_fallback_hops() {
    return {{"[127.0.0.1]:10027", false}, {"[127.0.0.1]:10465", true}};
}

// Fallback hops from `postconf -P` output lines "svc/type/param = value".
std::vector<FallbackHop> parse_fallback_hops(std::string_view text, std::string_view daemon_name) {
    struct Svc {
        bool fallback = false;
        bool wrapper = false;
    };
    std::map<std::string, Svc> services;  // ordered: stable output
    std::istringstream in{std::string(text)};
    std::string line;
    while (std::getline(in, line)) {
        std::size_t eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string lhs = trim(std::string_view(line).substr(0, eq));
        std::string value = trim(std::string_view(line).substr(eq + 1));
        std::size_t s1 = lhs.find('/');
        std::size_t s2 = s1 == std::string::npos ? s1 : lhs.find('/', s1 + 1);
        if (s2 == std::string::npos || lhs.compare(s1 + 1, s2 - s1 - 1, "inet") != 0) continue;
        std::string svc = lhs.substr(0, s1);
        std::string param = lhs.substr(s2 + 1);
        if (param == "milter_macro_daemon_name" && value == daemon_name) services[svc].fallback = true;
        if (param == "smtpd_tls_wrappermode" && value == "yes") services[svc].wrapper = true;
    }

    std::vector<FallbackHop> hops;
    for (const auto& [svc, info] : services) {
        if (!info.fallback) continue;
        // "127.0.0.1:10027", "localhost:10027" or a bare "10027".
        std::size_t colon = svc.rfind(':');
        std::string host = colon == std::string::npos ? "127.0.0.1" : svc.substr(0, colon);
        std::string port = colon == std::string::npos ? svc : svc.substr(colon + 1);
        if (host == "localhost") host = "127.0.0.1";
        if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) continue;
        hops.push_back({"[" + host + "]:" + port, info.wrapper});
    }
    return hops;
}

// The TLS policy value for a next hop HOST at LEVEL (FINGERPRINTS: the
// SHA-256 digests of the fingerprint level, "|"-separated in match=).
std::string tls_policy_value(const std::string& host, TlsLevel level,
                             const std::vector<std::string>& fingerprints) {
    std::string v = tls_level_name(level);
    if (level == TlsLevel::fingerprint) {
        std::string m;
        for (const std::string& f : fingerprints) m += (m.empty() ? "" : "|") + f;
        v += " match=" + m;
        return is_ipv4_literal(host) ? v : v + " servername=" + host;
    }
    if (is_ipv4_literal(host)) return v;  // no SNI for an address (RFC 6066)
    if (level != TlsLevel::encrypt) v += " match=" + host;
    return v + " servername=" + host;
}

// Build both tables from SNAP (pure).
PostfixTables build_tables(const Snapshot& snap, const std::vector<FallbackHop>& hops) {
    PostfixTables t;
    t.milter_user = snap.config.user;
    struct Hop {
        const Partner* first;
        TlsLevel level;
        const Partner* level_from;  // whose fingerprints the entry carries
    };
    std::map<std::string, std::size_t> hop_index;  // nexthop -> t.tls_policy slot
    std::vector<Hop> hop_info;
    std::map<std::string, std::string> sender_owner;

    for (const Partner& p : snap.partners.partners) {
        if (!p.active) continue;
        // An OAuth2 partner's credentials come from partner-relay-tokend
        // (socketmap), never from sasl_passwd; its TLS policy is here.
        bool oauth = p.auth == AuthKind::oauth2;
        TableEntry e;
        std::string why;
        if (!oauth && !sasl_entry(p, e, why)) {
            t.warnings.push_back("partner " + p.id + ": no SASL entry: " + why);
            continue;
        }
        auto [it, fresh] = sender_owner.emplace(p.sender, p.id);
        if (!fresh) {
            t.warnings.push_back("partner " + p.id + ": sender " + p.sender +
                                 " is already used by partner " + it->second +
                                 "; Postfix can only log in as one of them, keeping " + it->second);
            continue;
        }
        if (!oauth) {
            t.sasl.push_back(std::move(e));
            t.sasl_partner.push_back(p.id);
        }
        // Every partner whose entries are written here is published (the
        // milter routes only those): keep this after all of its entries.
        t.published.push_back({p.id, credential_material(p)});

        std::string hop = p.nexthop();
        auto h = hop_index.find(hop);
        if (h == hop_index.end()) {
            hop_index.emplace(hop, t.tls_policy.size());
            hop_info.push_back({&p, p.tls, &p});
            t.tls_policy.push_back({hop, tls_policy_value(p.host, p.tls, p.tls_fingerprints)});
            continue;
        }
        // A shared relay has one policy entry: the strictest level wins.
        Hop& shared = hop_info[h->second];
        if (p.tls != shared.level) {
            bool stricter = strictness(p.tls) > strictness(shared.level);
            TlsLevel strict = stricter ? p.tls : shared.level;
            t.warnings.push_back("partners " + shared.first->id + " and " + p.id + " share " + hop +
                                 " with different tls levels; using " + tls_level_name(strict));
            shared.level = strict;
            if (stricter) shared.level_from = &p;
            t.tls_policy[h->second].value =
                tls_policy_value(p.host, strict, shared.level_from->tls_fingerprints);
        }
    }

    for (const FallbackHop& fb : hops) {
        if (hop_index.count(fb.nexthop)) {
            t.warnings.push_back("fallback listener " + fb.nexthop +
                                 " is also a partner relay; leaving its partner TLS policy");
            continue;
        }
        // The plain listener offers no STARTTLS; wrapper mode needs encrypt.
        t.tls_policy.push_back({fb.nexthop, fb.implicit_tls ? "encrypt" : "none"});
    }
    return t;
}

// Render ENTRIES as a postmap source file with a header comment.
std::string render_table(const std::vector<TableEntry>& entries, std::string_view what) {
    std::string out = "# ";
    out += what;
    out += "\n# Written by partner-relay-tables(8); edit the partner table, not this file.\n";
    for (const auto& e : entries) out += e.key + "\t" + e.value + "\n";
    return out;
}

// Per-partner status lines for --check.
std::string check_report(const Snapshot& snap) {
    std::string out;
    for (const Partner& p : snap.partners.partners) {
        if (p.active) {
            out += p.id + ": active " + p.route_value(snap.config) + " tls=" + tls_level_name(p.tls) +
                   " sender=" + p.sender;
            // The token endpoint's host, never the client id or secret.
            if (p.auth == AuthKind::oauth2) out += " auth=oauth2 token_host=" + p.oauth_token_host;
            out += "\n";
            if (p.tls == TlsLevel::encrypt) out += "  warning: " + unverified_warning(p) + "\n";
            if (p.waiting) out += "  waiting for partner-relay-tables: " + p.wait_reason + "\n";
            continue;
        }
        out += p.id + ": inactive: " + (p.reason.empty() ? "unknown reason" : p.reason) + "\n";
        for (const Diag& d : p.problems) out += "  " + d.str() + "\n";
    }
    if (snap.partners.partners.empty()) out += "no partners in " + snap.partners.path + "\n";
    return out;
}

// Warning text when PATH is readable by group or others, else "".
std::string mode_warning(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return {};
    if ((st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)) == 0) return {};
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return path + ": mode " + mode +
           " lets group or others read it, and it holds partner passwords: chmod 600 it";
}

// The file suffix postmap gives a database of TYPE, or "".
std::string db_suffix(std::string_view type) {
    if (type == "hash" || type == "btree") return ".db";
    if (type == "lmdb") return ".lmdb";
    if (type == "cdb") return ".cdb";
    return {};
}

// ---------------------------------------------------------------------------
// Running Postfix tools.

namespace {

// Find NAME in PATH, then in /usr/sbin and /usr/local/sbin ("" if absent).
std::string find_tool(const std::string& name) {
    std::string dirs;
    if (const char* p = std::getenv("PATH")) dirs = p;
    dirs += ":/usr/sbin:/usr/local/sbin:/sbin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        std::size_t end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        std::string dir = dirs.substr(start, end - start);
        if (!dir.empty()) {
            std::string path = dir + "/" + name;
            if (access(path.c_str(), X_OK) == 0) return path;
        }
        start = end + 1;
    }
    return {};
}

// Closes a file descriptor when it goes out of scope.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

struct ToolRun {
    int status = -1;  // exit status, -1 when it could not run or was killed
    std::string out;  // standard output (when captured)
};

// What run_tool keeps of a line of captured output.
enum class Keep { all, key_only };

// Run TOOL ARGS...; capture stdout when CAPTURE; drop stderr when QUIET.
// STDIN_PATH, when given, is the child's standard input. KEEP key_only
// keeps of each output line only what precedes its first TAB (postmap -q
// prints "key<TAB>value": the value, a password, is never stored).
ToolRun run_tool(const std::string& tool, const std::vector<std::string>& args, bool capture,
                 bool quiet, const std::string& stdin_path = {}, Keep keep = Keep::all) {
    ToolRun r;
    std::string path = find_tool(tool);
    if (path.empty()) return r;
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(tool.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);

    int pipefd[2] = {-1, -1};
    if (capture && pipe(pipefd) != 0) return r;
    Fd rd{pipefd[0]}, wr{pipefd[1]};
    Fd in{stdin_path.empty() ? -1 : open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
    if (!stdin_path.empty() && in.fd < 0) return r;
    pid_t pid = fork();
    if (pid < 0) return r;
    if (pid == 0) {
        // Child: only async-signal-safe calls until exec.
        if (in.fd >= 0) dup2(in.fd, STDIN_FILENO);
        if (capture) dup2(wr.fd, STDOUT_FILENO);
        if (quiet) {
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0) dup2(null, STDERR_FILENO);
        }
        if (capture) {
            close(rd.fd);
            close(wr.fd);
        }
        execv(path.c_str(), argv.data());
        _exit(127);
    }
    if (capture) {
        close(wr.fd);
        wr.fd = -1;
        char buf[8192];
        ssize_t n;
        bool in_value = false;  // Keep::key_only: between a TAB and the line's end
        while ((n = read(rd.fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
            for (ssize_t i = 0; i < n && r.out.size() < kMaxToolOutput; ++i) {
                char c = buf[i];
                if (keep == Keep::key_only && c == '\t') in_value = true;
                if (c == '\n') in_value = false;
                if (!in_value) r.out.push_back(c);
            }
        }
        std::fill(std::begin(buf), std::end(buf), '\0');
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

// Write TEXT to a new file PATH with MODE (exclusive create, fsync).
bool write_new_file(const std::string& path, const std::string& text, mode_t mode, std::string& err) {
    Fd f{open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)};
    if (f.fd < 0) {
        err = path + ": " + std::strerror(errno);
        return false;
    }
    // The umask may have dropped bits we want; it never adds any.
    if (fchmod(f.fd, mode) != 0) {
        err = path + ": chmod: " + std::strerror(errno);
        return false;
    }
    std::size_t off = 0;
    while (off < text.size()) {
        ssize_t n = write(f.fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            err = path + ": write: " + std::strerror(errno);
            return false;
        }
        off += static_cast<std::size_t>(n);
    }
    if (fsync(f.fd) != 0) {
        err = path + ": fsync: " + std::strerror(errno);
        return false;
    }
    return true;
}

// One table being installed: its temporary and final names.
struct Staged {
    std::string tmp_src, final_src, tmp_db, final_db;
    mode_t mode;
};

// Remove every temporary file of STAGED (after a failure).
void unstage(const std::vector<Staged>& staged) {
    for (const auto& s : staged) {
        unlink(s.tmp_src.c_str());
        if (!s.tmp_db.empty()) unlink(s.tmp_db.c_str());
    }
}

}  // namespace

// Run `postconf -h default_database_type` (then `postconf -dh`).
std::string default_database_type() {
    for (const char* flags : {"-h", "-dh"}) {
        ToolRun r = run_tool("postconf", {flags, "default_database_type"}, true, true);
        std::string v = trim(r.out);
        if (r.status == 0 && !v.empty()) return v;
    }
    return {};
}

// Run `postconf -P`; the output, or "" when it fails.
std::string postconf_master_params() {
    ToolRun r = run_tool("postconf", {"-P"}, true, true);
    return r.status == 0 ? r.out : std::string();
}

namespace {

// Write the table sources of T under temporary names in DIR; fills STAGED.
bool stage_tables(const std::string& dir, const PostfixTables& t, const std::string& suffix,
                  std::vector<Staged>& staged, std::string& err) {
    std::string pid = std::to_string(getpid());
    const std::pair<const char*, const std::vector<TableEntry>*> tables[] = {{"sasl_passwd", &t.sasl},
                                                                            {"tls_policy", &t.tls_policy}};
    for (const auto& [name, entries] : tables) {
        Staged s;
        s.mode = std::strcmp(name, "sasl_passwd") == 0 ? 0600 : 0644;
        s.final_src = dir + "/" + name;
        s.tmp_src = dir + "/." + name + "." + pid + ".tmp";
        if (!suffix.empty()) {
            s.final_db = s.final_src + suffix;
            s.tmp_db = s.tmp_src + suffix;
        }
        staged.push_back(s);
        const char* what = s.mode == 0600 ? "sasl_passwd: partner sender -> username:password"
                                          : "tls_policy: partner relay next hop -> TLS policy";
        if (!write_new_file(s.tmp_src, render_table(*entries, what), s.mode, err)) return false;
    }
    return true;
}

// postmap every staged source with DBTYPE and give the database its mode.
bool postmap_staged(const std::vector<Staged>& staged, const std::string& dbtype, std::string& err) {
    for (const Staged& s : staged) {
        ToolRun r = run_tool("postmap", {dbtype + ":" + s.tmp_src}, false, false);
        if (r.status != 0) {
            err = r.status == -1 && find_tool("postmap").empty()
                      ? "postmap not found (Debian package postfix)"
                      : "postmap " + dbtype + ":" + s.tmp_src + " failed (status " +
                            std::to_string(r.status) + ")";
            return false;
        }
        // postmap copies the source's owner, not necessarily its mode.
        if (chmod(s.tmp_db.c_str(), s.mode) != 0) {
            err = s.tmp_db + ": chmod: " + std::strerror(errno);
            return false;
        }
    }
    return true;
}

// After postmap: `postmap -q` must find every partner's sender key in the
// staged sasl_passwd, or the partner's mail would leave without AUTH. One
// `postmap -q -` run answers all keys (one run per key took over a minute
// for 10 000 partners); only the keys it prints are kept, never a value.
bool verify_sasl_keys(const Staged& sasl, const PostfixTables& t, const std::string& dbtype,
                      std::string& err) {
    if (t.sasl.empty()) return true;
    std::string keys_path = sasl.tmp_src + ".keys";
    std::string keys;
    for (const auto& e : t.sasl) keys += e.key + "\n";
    unlink(keys_path.c_str());
    if (!write_new_file(keys_path, keys, 0600, err)) return false;
    ToolRun r = run_tool("postmap", {"-q", "-", dbtype + ":" + sasl.tmp_src}, true, true, keys_path,
                         Keep::key_only);
    unlink(keys_path.c_str());
    std::set<std::string> found;
    std::size_t start = 0;
    while (start < r.out.size()) {
        std::size_t end = r.out.find('\n', start);
        if (end == std::string::npos) end = r.out.size();
        if (end > start) found.insert(r.out.substr(start, end - start));
        start = end + 1;
    }
    for (std::size_t i = 0; i < t.sasl.size(); ++i) {
        if (found.count(t.sasl[i].key)) continue;
        std::string id = i < t.sasl_partner.size() ? t.sasl_partner[i] : std::string("?");
        err = "partner " + id + ": sender key " + t.sasl[i].key +
              " is not found by `postmap -q` in sasl_passwd (Postfix would send its mail without "
              "AUTH); nothing installed";
        return false;
    }
    return true;
}

// Rename the staged databases (what Postfix reads), then the sources.
bool commit_staged(const std::vector<Staged>& staged, std::string& err) {
    for (const Staged& s : staged) {
        if (!s.tmp_db.empty() && rename(s.tmp_db.c_str(), s.final_db.c_str()) != 0) {
            err = s.final_db + ": rename: " + std::strerror(errno);
            return false;
        }
    }
    for (const Staged& s : staged) {
        if (rename(s.tmp_src.c_str(), s.final_src.c_str()) != 0) {
            err = s.final_src + ": rename: " + std::strerror(errno);
            return false;
        }
    }
    return true;
}

}  // namespace

// Write both tables into DIR atomically, postmapping them first.
InstallResult install_tables(const std::string& dir, const PostfixTables& t, const std::string& dbtype,
                             bool postmap) {
    InstallResult res;
    std::string suffix = postmap ? db_suffix(dbtype) : std::string();
    if (postmap && suffix.empty()) {
        res.postmap_failed = true;
        res.error = "database type \"" + dbtype + "\" is not supported (use hash, btree, lmdb or cdb)";
        return res;
    }
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        res.error = dir + ": " + std::strerror(errno);
        return res;
    }

    // Both tables are built before either is switched: a failure installs
    // nothing and leaves the previous tables in place.
    std::vector<Staged> staged;
    if (!stage_tables(dir, t, suffix, staged, res.error)) {
        unstage(staged);
        return res;
    }
    if (postmap && (!postmap_staged(staged, dbtype, res.error) ||
                    !verify_sasl_keys(staged.front(), t, dbtype, res.error))) {
        res.postmap_failed = true;
        unstage(staged);
        return res;
    }
    if (!commit_staged(staged, res.error)) {
        unstage(staged);
        return res;
    }
    // Only now that Postfix reads the new tables: the milter may route them.
    std::string err = write_stamp(dir, t.published, t.milter_user);
    if (!err.empty()) {
        res.error = "tables installed, but the published stamp was not written "
                    "(the milter keeps new partners waiting): " + err;
        return res;
    }
    res.ok = true;
    return res;
}

// ---------------------------------------------------------------------------
// The lines that hook the recipe into Postfix (mirror contrib/postfix/).

// libmilter socket syntax in Postfix syntax.
std::string postfix_milter_socket(const std::string& socket) {
    auto starts = [&](const char* p) { return socket.rfind(p, 0) == 0; };
    if (starts("local:")) return "unix:" + socket.substr(6);
    if (starts("unix:")) return socket;
    for (const char* inet : {"inet:", "inet6:"}) {
        if (!starts(inet)) continue;
        std::string rest = socket.substr(std::strlen(inet));
        std::size_t at = rest.find('@');
        if (at == std::string::npos) return "inet:127.0.0.1:" + rest;
        std::string host = rest.substr(at + 1);
        if (host.find(':') != std::string::npos) host = "[" + host + "]";
        return "inet:" + host + ":" + rest.substr(0, at);
    }
    return socket;
}

// A UNIX socket below QUEUE_DIR relative to it (chrooted daemons).
std::string postfix_milter_socket(const std::string& socket, const std::string& queue_dir) {
    std::string s = postfix_milter_socket(socket);
    std::string q = queue_dir;
    while (q.size() > 1 && q.back() == '/') q.pop_back();
    if (q.empty() || q[0] != '/' || s.rfind("unix:", 0) != 0) return s;
    std::string path = s.substr(5);
    if (path.size() > q.size() + 1 && path.compare(0, q.size(), q) == 0 && path[q.size()] == '/')
        return "unix:" + path.substr(q.size() + 1);
    return s;
}

// Run `postconf -h queue_directory`; "" when it fails.
std::string postconf_value(const std::string& name) {
    ToolRun r = run_tool("postconf", {"-h", name}, true, true);
    return r.status == 0 ? trim(r.out) : std::string();
}

std::string postfix_queue_directory() {
    ToolRun r = run_tool("postconf", {"-h", "queue_directory"}, true, true);
    return r.status == 0 ? trim(r.out) : std::string();
}

namespace {

// The -o settings of a partner transport (wrapper: partner-smtps).
std::vector<std::string> transport_params(const std::string& name, const std::string& dir,
                                          const std::string& fallback, bool wrapper,
                                          const std::string& cafile) {
    std::vector<std::string> v = {"syslog_name=postfix/" + name};
    if (wrapper) v.push_back("smtp_tls_wrappermode=yes");
    const char* common[] = {"smtp_sasl_auth_enable=yes",
                            "smtp_sasl_password_maps=${default_database_type}:DIR/sasl_passwd",
                            "smtp_sender_dependent_authentication=yes",
                            "smtp_sasl_security_options=noanonymous",
                            "smtp_sasl_tls_security_options=noanonymous",
                            "smtp_sasl_mechanism_filter=!xoauth2,static:rest",
                            "smtp_sasl_auth_soft_bounce=yes",
                            "smtp_tls_security_level=encrypt",
                            "smtp_tls_policy_maps=${default_database_type}:DIR/tls_policy",
                            "smtp_tls_fingerprint_digest=sha256",
                            "smtp_connect_timeout=5s",
                            "smtp_helo_timeout=10s",
                            "smtp_header_checks=regexp:DIR/smtp_header_checks",
                            "smtp_reply_filter=regexp:DIR/smtp_reply_filter"};
    for (std::string c : common) {
        std::size_t at = c.find("DIR/");
        if (at != std::string::npos) c.replace(at, 3, dir);
        v.push_back(c);
        if (c.rfind("smtp_tls_fingerprint_digest=", 0) != 0) continue;
        // [milter] relay_cafile: the CA bundle partner relays are verified
        // against, and nothing else; unset, the system store (Postfix's own
        // default trusts no CA at all: tls_append_default_CA = no).
        if (cafile.empty()) {
            v.push_back("smtp_tls_CApath=/etc/ssl/certs");
        } else {
            v.push_back("smtp_tls_CAfile=" + cafile);
            v.push_back("smtp_tls_CApath=");
        }
    }
    v.push_back("smtp_fallback_relay=" + fallback);
    return v;
}

// The -o settings of a loopback fallback listener.
std::vector<std::string> listener_params(const Config& cfg, bool wrapper) {
    std::vector<std::string> v = {
        std::string("syslog_name=postfix/partner-fallback") + (wrapper ? "-smtps" : ""),
        "milter_macro_daemon_name=" + cfg.fallback_daemon_name,
        "milter_default_action=tempfail",
        "cleanup_service_name=cleanup-fb",
        "smtpd_sasl_auth_enable=no"};
    if (wrapper) {
        v.push_back("smtpd_tls_wrappermode=yes");
        v.push_back("smtpd_tls_security_level=encrypt");
    } else {
        v.push_back("smtpd_tls_security_level=none");
    }
    for (const char* c : {"mynetworks=127.0.0.0/8", "smtpd_client_restrictions=permit_mynetworks,reject",
                          "smtpd_helo_restrictions=", "smtpd_sender_restrictions=",
                          "smtpd_relay_restrictions=permit_mynetworks,reject",
                          "smtpd_recipient_restrictions=permit_mynetworks,reject",
                          "smtpd_reject_footer=\\c [partner-relay-fallback]"})
        v.push_back(c);
    return v;
}

// One "postconf -M 'svc/type = svc type ... -o p=v ...'" line (postconf -P
// refuses values with blanks; -M takes them as "-o { p = v }").
void add_service(std::string& out, const std::string& svc, const std::string& type,
                 const std::string& line, const std::vector<std::string>& params) {
    out += "postconf -M '" + svc + "/" + type + " = " + line;
    for (const auto& p : params)
        out += p.find(' ') == std::string::npos ? " -o " + p : " -o { " + p + " }";
    out += "'\n";
}

}  // namespace

// The postconf lines that hook the recipe into Postfix.
std::string hook_lines(const Config& cfg, const std::string& dir, const std::vector<FallbackHop>& hops,
                       const std::string& queue_dir) {
    std::string plain = "[127.0.0.1]:10027", wrapped = "[127.0.0.1]:10465";
    for (const auto& h : hops) (h.implicit_tls ? wrapped : plain) = h.nexthop;
    // "[127.0.0.1]:10027" -> the master.cf service name "127.0.0.1:10027".
    auto service = [](const std::string& hop) {
        std::string s = hop;
        if (!s.empty() && s[0] == '[') {
            std::size_t close = s.find(']');
            if (close != std::string::npos) s = s.substr(1, close - 1) + s.substr(close + 1);
        }
        return s;
    };

    std::string out = "# main.cf: the milter first, before any DKIM signer\n";
    out += "postconf -e 'smtpd_milters = " + postfix_milter_socket(cfg.socket, queue_dir) +
           "' 'non_smtpd_milters = $smtpd_milters' 'milter_default_action = accept' "
           "'milter_protocol = 6' 'milter_header_checks = regexp:" + dir + "/milter_header_checks'\n";
    out += oauth_main_lines(cfg);
    out += "# master.cf: partner transports, loopback fallback listeners, cleanup-fb\n";
    add_service(out, cfg.partner_transport, "unix", cfg.partner_transport + " unix - - n - - smtp",
                transport_params(cfg.partner_transport, dir, plain, false, cfg.relay_cafile));
    add_service(out, cfg.partner_smtps_transport, "unix",
                cfg.partner_smtps_transport + " unix - - n - - smtp",
                transport_params(cfg.partner_smtps_transport, dir, wrapped, true, cfg.relay_cafile));
    add_service(out, cfg.partner_oauth_transport, "unix",
                cfg.partner_oauth_transport + " unix - - n - - smtp",
                oauth_transport_params(cfg, dir, plain, queue_dir));
    add_service(out, service(plain), "inet", service(plain) + " inet n - n - - smtpd",
                listener_params(cfg, false));
    add_service(out, service(wrapped), "inet", service(wrapped) + " inet n - n - - smtpd",
                listener_params(cfg, true));
    add_service(out, "cleanup-fb", "unix", "cleanup-fb unix n - n - 0 cleanup",
                {"syslog_name=postfix/cleanup-fb", "milter_header_checks="});
    out += "# and copy milter_header_checks, smtp_header_checks and smtp_reply_filter\n"
           "# from contrib/postfix/ into " + dir + ", then: postfix reload\n";
    return out;
}

}  // namespace prm
