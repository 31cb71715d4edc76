// sendmail_maps.cpp - build and install the Sendmail partner maps.
//
// Contract: see sendmail_maps.hpp. A map is installed by writing
// NAME.tmp.PID (the source), running "makemap hash NAME.tmp.PID <
// NAME.tmp.PID" (which writes NAME.tmp.PID.db), then renaming the database
// over NAME.db and the source over NAME: Sendmail opens either the old or
// the new database, never a half-written one. The three maps are built
// before any is switched. A password holding a character the authinfo
// syntax cannot carry (a double quote, a control character) leaves that
// partner without entries, with a warning naming the partner only.
//
// Thread safety: none needed. Limits: Berkeley DB hash maps only (Debian's
// makemap); one entry per partner and server.
#include "tables/sendmail_maps.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include "core/sendmail_rewrite.hpp"
#include "tables/stamp.hpp"
#include "core/strutil.hpp"

namespace prm {

namespace {

// An IPv4 literal such as 192.0.2.1.
bool ipv4(const std::string& h) {
    int dots = 0;
    for (char c : h) {
        if (c == '.') ++dots;
        else if (c < '0' || c > '9') return false;
    }
    return dots == 3;
}

// Sendmail's {server_name} for a partner host.
std::string server_name(const std::string& host) {
    return ipv4(host) ? "[" + host + "]" : ascii_lower(host);
}

// The TLS_Srv requirement for LEVEL.
std::string tls_requirement(TlsLevel level) {
    switch (level) {
    case TlsLevel::secure:
        return "VERIFY:112+CN";
    case TlsLevel::verify:
        return "VERIFY:112";
    case TlsLevel::encrypt:
        return "ENCR:112";
    case TlsLevel::fingerprint:
        // Sendmail's TLS_Srv cannot pin a certificate digest: require the
        // strictest check it has, so credentials never go unverified (a
        // relay known only by address then fails verification and falls back).
        return "VERIFY:112+CN";
    }
    return "VERIFY:112+CN";
}

// How strict a level is (encrypt < verify < secure).
int strictness(TlsLevel l) { return l == TlsLevel::encrypt ? 0 : l == TlsLevel::verify ? 1 : 2; }

// True when S fits inside a quoted authinfo field.
bool authinfo_safe(const std::string& s) {
    for (unsigned char c : s)
        if (c == '"' || c < 0x20 || c == 0x7f) return false;
    return true;
}

// Where makemap is: NAME itself when it holds a '/', else the first hit.
std::string find_makemap(const std::string& name) {
    if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
    std::string path = getenv("PATH") ? getenv("PATH") : "";
    path += ":/usr/sbin:/usr/libexec/sendmail:/usr/bin";
    std::size_t at = 0;
    while (at <= path.size()) {
        std::size_t end = path.find(':', at);
        if (end == std::string::npos) end = path.size();
        std::string dir = path.substr(at, end - at);
        std::string full = (dir.empty() ? "." : dir) + "/" + name;
        if (access(full.c_str(), X_OK) == 0) return full;
        at = end + 1;
    }
    return "";
}

// Run makemap hash SRC < SRC; true on exit 0.
bool run_makemap(const std::string& tool, const std::string& cf, const std::string& src) {
    std::vector<std::string> args = {tool};
    if (!cf.empty()) args.insert(args.end(), {"-C", cf});
    args.insert(args.end(), {"hash", src});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        int in = open(src.c_str(), O_RDONLY);
        if (in < 0 || dup2(in, STDIN_FILENO) < 0) _exit(127);
        execv(argv[0], argv.data());
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

struct Staged {
    std::string name, tmp;
};

// Write one map source (mode MODE) to TMP.
bool write_source(const std::string& tmp, const std::vector<TableEntry>& e, const char* what,
                  mode_t mode) {
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_EXCL, mode);
    if (fd < 0) return false;
    close(fd);
    std::ofstream out(tmp, std::ios::trunc);
    out << "# " << what << " (written by partner-relay-tables --mta sendmail; do not edit)\n";
    for (const TableEntry& t : e) out << t.key << "\t" << t.value << "\n";
    out.close();
    return static_cast<bool>(out);
}

}  // namespace

// Build routes, authinfo and tls from the active partners.
SendmailMaps build_sendmail_maps(const Snapshot& snap) {
    SendmailMaps m;
    m.milter_user = snap.config.user;
    std::map<std::string, std::pair<std::size_t, TlsLevel>> tls_at;  // server -> slot, level
    for (const Partner& p : snap.partners.partners) {
        if (!p.active || !p.port) continue;
        if (!authinfo_safe(p.username) || !authinfo_safe(p.password)) {
            m.warnings.push_back("partner " + p.id +
                                 ": username or password holds a double quote or control "
                                 "character, which Sendmail's authinfo cannot carry: no entries");
            continue;
        }
        std::string server = server_name(p.host);
        m.ports.insert(*p.port);
        m.routes.push_back({pseudo_partner_key(p.id),
                            "ptnr" + std::to_string(*p.port) + ":[" + p.host + "]"});
        m.authinfo.push_back({"AuthInfo:" + server + ":" + p.sender,
                              "\"U:" + p.username + "\" \"P:" + p.password + "\" \"M:PLAIN LOGIN\""});
        m.published.push_back({p.id, credential_material(p)});
        auto it = tls_at.find(server);
        if (it == tls_at.end()) {
            tls_at[server] = {m.tls.size(), p.tls};
            m.tls.push_back({server, tls_requirement(p.tls)});
        } else if (strictness(p.tls) > strictness(it->second.second)) {
            it->second.second = p.tls;
            m.tls[it->second.first].value = tls_requirement(p.tls);
        }
    }
    return m;
}

// Stage all three maps, makemap them, then switch them into place.
std::string install_sendmail_maps(const std::string& dir, const SendmailMaps& m,
                                  const std::string& makemap, const std::string& sendmail_cf) {
    std::string tool = find_makemap(makemap);
    if (tool.empty()) return makemap + ": makemap not found (Debian package sendmail-bin)";
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return dir + ": " + std::strerror(errno);
    const struct {
        const char* name;
        const std::vector<TableEntry>* entries;
        mode_t mode;
    } maps[] = {{"routes", &m.routes, 0644}, {"authinfo", &m.authinfo, 0600}, {"tls", &m.tls, 0644}};
    std::vector<Staged> staged;
    std::string err;
    for (const auto& x : maps) {
        Staged s{dir + "/" + x.name, dir + "/" + x.name + ".tmp." + std::to_string(getpid())};
        staged.push_back(s);
        if (!write_source(s.tmp, *x.entries, x.name, x.mode)) {
            err = s.tmp + ": " + std::strerror(errno);
            break;
        }
        if (!run_makemap(tool, sendmail_cf, s.tmp)) {
            err = tool + " hash " + s.tmp + " failed";
            break;
        }
    }
    for (const Staged& s : staged) {
        if (!err.empty()) break;
        if (rename((s.tmp + ".db").c_str(), (s.name + ".db").c_str()) != 0 ||
            rename(s.tmp.c_str(), s.name.c_str()) != 0)
            err = s.name + ": " + std::strerror(errno);
    }
    if (!err.empty()) {
        for (const Staged& s : staged) {
            unlink(s.tmp.c_str());
            unlink((s.tmp + ".db").c_str());
        }
        return err;
    }
    // The maps are in place: the milter may route these partners now.
    err = write_stamp(dir, m.published, m.milter_user);
    if (!err.empty()) return "maps installed, but the published stamp was not written: " + err;
    return err;
}

// What to add to sendmail.mc and the milter's config.
std::string sendmail_hook_lines(const Config& cfg, const std::string& dir, const SendmailMaps& m) {
    std::string out = "# partner-relay-milter.conf, [milter]:\n";
    out += "mta = sendmail\n";
    out += "# sendmail.mc, at the end (after the mailer lines), then rebuild sendmail.cf:\n";
    out += "define(`PRM_MAPDIR', `" + dir + "')dnl\n";
    out += "define(`PRM_MILTER_SOCKET', `" + cfg.socket + "')dnl\n";
    out += "define(`PRM_FALLBACK_NAME', `" + cfg.fallback_daemon_name + "')dnl\n";
    std::string ports;
    for (int port : m.ports) ports += (ports.empty() ? "" : ", ") + std::to_string(port);
    out += "define(`PRM_PORTS', `" + (ports.empty() ? std::string("587") : ports) + "')dnl\n";
    out += "include(`" + dir + "/partner-relay.m4')dnl\n";
    out += "# (partner-relay.m4 is contrib/sendmail/partner-relay.m4; copy it there)\n";
    return out;
}

}  // namespace prm
