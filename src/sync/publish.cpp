// publish.cpp - the publication steps of partner-relay-sync (see publish.hpp).
//
// Thread safety: none needed. Limits: see publish.hpp.
#include "sync/publish.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/pidfile.hpp"
#include "core/snapshot.hpp"
#include "tables/grace.hpp"
#include "tables/tables.hpp"

namespace prm {
namespace {

// The directory part of PATH ("." when none).
std::string dir_of(const std::string& path) {
    std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// write(2) all of TEXT to FD.
bool write_all(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

// The text of `header lines + BUILT.file_text` for the partner file.
std::string partner_file(const BuiltPartners& built, std::int64_t version) {
    return "# partners.conf written by partner-relay-sync from the partner database,\n"
           "# version " + std::to_string(version) + ". Do not edit: the next change is\n"
           "# written over it. Inactive rows are left out (partner-relay-sync --check).\n\n" +
           built.file_text;
}

}  // namespace

// Temporary file next to PATH, fsync, rename, fsync of the directory.
bool write_file_atomic(const std::string& path, const std::string& text, unsigned mode,
                       const std::string& user, std::string& err) {
    std::string tmp = path + ".tmp." + std::to_string(getpid());
    ::unlink(tmp.c_str());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) return err = tmp + ": " + std::strerror(errno), false;
    bool ok = ::fchmod(fd, mode) == 0;
    if (ok && !user.empty() && geteuid() == 0) {
        struct passwd* pw = getpwnam(user.c_str());
        ok = pw && ::fchown(fd, pw->pw_uid, pw->pw_gid) == 0;
        if (!pw) errno = ENOENT;
    }
    ok = ok && write_all(fd, text) && ::fsync(fd) == 0;
    int saved = errno;
    ok = (::close(fd) == 0) && ok;
    if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) ok = false, saved = errno;
    if (!ok) {
        ::unlink(tmp.c_str());
        err = path + ": " + std::strerror(saved ? saved : EIO);
        return false;
    }
    int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return true;
}

// Read a pid from PIDFILE and send it SIGUSR1. As root: the pid must be
// one the file's owner may name (pidfile.hpp), or the milter's user could
// have root signal any process (SIGUSR1 ends most of them).
bool signal_pidfile(const std::string& pidfile, std::string& err) {
    long pid = 0;
    if (!read_trusted_pid(pidfile, pid, err)) return false;
    if (::kill(static_cast<pid_t>(pid), SIGUSR1) != 0)
        return err = pidfile + ": pid " + std::to_string(pid) + ": " + std::strerror(errno), false;
    return true;
}

// [sync] grace, else `postconf -h maximal_queue_lifetime`, else 5 days.
long grace_seconds(const Config& cfg) {
    if (cfg.sync_grace >= 0) return cfg.sync_grace;
    long out = 5 * 86400;
    FILE* p = ::popen("PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH postconf -h maximal_queue_lifetime 2>/dev/null", "r");
    if (!p) return out;
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, p)) {
        long v = postfix_duration(buf);
        if (v >= 0) out = v;
    }
    ::pclose(p);
    return out;
}

std::string state_path(const Config& cfg) { return cfg.sync_state_dir + "/state"; }

// Read the state file; false with ERR when missing or broken.
bool read_state(const Config& cfg, std::int64_t& version, std::vector<KeptEntry>& state,
                std::string& err) {
    std::ifstream in(state_path(cfg));
    if (!in) return err = state_path(cfg) + ": " + std::strerror(errno), false;
    std::stringstream ss;
    ss << in.rdbuf();
    bool ok = false;
    try {
        ok = parse_state(ss.str(), version, state);
    } catch (const std::exception&) {
        ok = false;
    }
    if (!ok) err = state_path(cfg) + ": not a partner-relay-sync state file";
    return ok;
}

// Tables, partner file, state, signals: in this order (see publish.hpp).
PublishResult publish(const Config& cfg, const BuiltPartners& built, std::int64_t version,
                      const std::vector<KeptEntry>& previous, std::time_t now) {
    PublishResult res;
    Snapshot snap;
    snap.config = cfg;
    snap.partners = built.table;
    std::vector<FallbackHop> hops = parse_fallback_hops(postconf_master_params(), cfg.fallback_daemon_name);
    if (hops.empty()) hops = default_fallback_hops();
    GraceResult g = with_grace(build_tables(snap, hops), previous, now, grace_seconds(cfg));

    // 1. Credentials and TLS policy first.
    std::string dbtype = default_database_type();
    if (dbtype.empty()) return res.error = "cannot run postconf to learn default_database_type", res;
    InstallResult ir = install_tables(cfg.sync_tables_dir, g.tables, dbtype, true);
    if (!ir.ok) return res.error = "tables: " + ir.error, res;

    // 2. Then the routing: the partner file the milter reads.
    if (!write_file_atomic(cfg.partners, partner_file(built, version), 0600, cfg.user, res.error))
        return res;

    // 3. What we published, for the grace period and the next start.
    if (::mkdir(cfg.sync_state_dir.c_str(), 0700) != 0 && errno != EEXIST)
        return res.error = cfg.sync_state_dir + ": " + std::strerror(errno), res;
    if (!write_file_atomic(state_path(cfg), render_state(version, g.state), 0600, "", res.error))
        return res;

    // 4. Reload the milter and the token broker.
    std::string milter_pid = cfg.sync_milter_pidfile.empty() ? cfg.pidfile : cfg.sync_milter_pidfile;
    for (const std::string& pf : {milter_pid, cfg.sync_tokend_pidfile}) {
        std::string err;
        if (!pf.empty() && !signal_pidfile(pf, err)) res.notes.push_back(err);
    }
    res.ok = true;
    res.state = std::move(g.state);
    res.sasl = g.tables.sasl.size();
    res.tls = g.tables.tls_policy.size();
    res.kept = g.kept;
    res.expired = g.expired;
    return res;
}

}  // namespace prm
