// reach.cpp - can the MTA's user connect to the milter's UNIX socket?
//
// Contract and limits: reach.hpp. Thread safety: pure.
#include "core/reach.hpp"

#include <algorithm>
#include <cstdio>

namespace prm {

namespace {

// "0750".
std::string octal(unsigned mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
    return buf;
}

// "mode 0750, owner 999:113".
std::string describe(const PathFacts& f) {
    return "mode " + octal(f.mode) + ", owner " + std::to_string(f.uid) + ":" +
           std::to_string(f.gid);
}

// "postfix (uid 107, gid 113)".
std::string describe(const Connector& who) {
    std::string out = who.name + " (uid " + std::to_string(who.uid) + ", gid";
    for (std::size_t i = 0; i < who.gids.size(); ++i)
        out += (i ? "," : " ") + std::to_string(who.gids[i]);
    return out + ")";
}

}  // namespace

// The owner's, the group's or the others' bits, as the kernel picks them.
unsigned access_bits(const PathFacts& f, const Connector& who) {
    if (who.uid == 0) return 07;
    if (who.uid == f.uid) return (f.mode >> 6) & 07;
    if (std::find(who.gids.begin(), who.gids.end(), f.gid) != who.gids.end())
        return (f.mode >> 3) & 07;
    return f.mode & 07;
}

// Every directory that denies search, then the socket's own problem.
std::vector<std::string> reach_problems(const std::vector<PathFacts>& dirs, const PathFacts& sock,
                                        const Connector& who) {
    std::vector<std::string> out;
    const std::string user = describe(who);
    for (const PathFacts& d : dirs) {
        if (!d.exists) {
            out.push_back("directory " + d.path + " does not exist");
            return out;  // nothing below it can be judged
        }
        if (!(access_bits(d, who) & 01))
            out.push_back("user " + user + " cannot search directory " + d.path + " (" +
                          describe(d) + ")");
    }
    if (!sock.exists)
        out.push_back("socket " + sock.path + " does not exist");
    else if (!(access_bits(sock, who) & 02))
        out.push_back("user " + user + " cannot write to socket " + sock.path + " (" +
                      describe(sock) + "): connecting needs write permission");
    return out;
}

// The lexical parents of an absolute path, root first.
std::vector<std::string> parent_dirs(const std::string& path) {
    std::vector<std::string> out;
    if (path.empty() || path.front() != '/') return out;
    out.emplace_back("/");
    for (std::size_t i = 1; i < path.size(); ++i) {
        if (path[i] != '/') continue;
        std::string dir = path.substr(0, i);
        if (dir != out.back() && dir.back() != '/') out.push_back(dir);
    }
    return out;
}

// local:/p, unix:/p or /p; "" otherwise.
std::string unix_socket_path(const std::string& spec) {
    for (const char* p : {"local:", "unix:"}) {
        std::string prefix(p);
        if (spec.rfind(prefix, 0) == 0) return spec.substr(prefix.size());
    }
    if (!spec.empty() && spec.front() == '/') return spec;
    return "";
}

}  // namespace prm
