// reach.cpp - warn when Postfix could not connect to the milter's socket.
//
// Contract: reach.hpp. The decision is core/reach.cpp; this file only
// looks things up (getpwnam_r, realpath, stat, lstat).
#include "milter/reach.hpp"

#include <pwd.h>
#include <sys/stat.h>

#include <cstdlib>
#include <vector>

#include "core/reach.hpp"

namespace prm {

namespace {

// The stat(2) facts of PATH (following symlinks: a directory's target).
PathFacts facts_of(const std::string& path, bool follow) {
    PathFacts f;
    f.path = path;
    struct stat st {};
    int rc = follow ? stat(path.c_str(), &st) : lstat(path.c_str(), &st);
    if (rc != 0) {
        f.exists = false;
        return f;
    }
    f.mode = st.st_mode & 07777;
    f.uid = static_cast<long>(st.st_uid);
    f.gid = static_cast<long>(st.st_gid);
    return f;
}

// PATH with its directory resolved (symlinks, "..") when it exists, so that
// the directories judged are the ones the kernel walks.
std::string canonical_socket_path(const std::string& path) {
    std::size_t slash = path.rfind('/');
    std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    char* real = realpath(dir.c_str(), nullptr);
    if (!real) return path;
    std::string out(real);
    std::free(real);
    return (out == "/" ? "" : out) + path.substr(slash);
}

// Look up NAME; false when there is no such user.
bool lookup_user(const std::string& name, Connector& who) {
    struct passwd pw {
    }, *res = nullptr;
    std::vector<char> buf(16384);
    if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || !res) return false;
    // Postfix's daemons keep only mail_owner's primary group: set_ugid()
    // calls setgroups(1, &gid), so supplementary groups never count.
    who = Connector{name, static_cast<long>(pw.pw_uid), {static_cast<long>(pw.pw_gid)}};
    return true;
}

}  // namespace

// The problems of core/reach.hpp as [milter] socket warnings.
Diags socket_reach_warnings(const Config& cfg, const std::string& socket,
                            const std::optional<SocketPlan>& predicted) {
    Diags out;
    std::string path = unix_socket_path(socket);
    if (cfg.mta != Mta::postfix || cfg.postfix_user.empty() || path.empty() || path[0] != '/')
        return out;
    auto warn = [&](const std::string& m) {
        out.push_back(Diag{cfg.path, 0, "milter", "socket", m});
    };
    Connector who;
    if (!lookup_user(cfg.postfix_user, who)) {
        warn("postfix_user " + cfg.postfix_user +
             " does not exist: not checked whether Postfix can connect to " + path);
        return out;
    }
    std::string real = canonical_socket_path(path);
    std::vector<PathFacts> dirs;
    for (const std::string& d : parent_dirs(real)) dirs.push_back(facts_of(d, true));
    PathFacts sock = facts_of(real, false);
    if (predicted) sock = PathFacts{real, true, predicted->mode, predicted->uid, predicted->gid};
    for (const std::string& p : reach_problems(dirs, sock, who))
        warn("Postfix cannot connect to the milter: " + p +
             "; its mail would pass without the milter, all of it through the global relay "
             "(README step 2: socket_mode 0666 in a directory of mode 0750, group postfix)");
    return out;
}

}  // namespace prm
