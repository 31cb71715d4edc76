// reach.hpp - can the MTA's user connect to the milter's UNIX socket?
//
// What: the pure decision behind the start-up warning and the -n report
// "postfix cannot connect to the milter socket" (issue 14 point 4): given
// the facts of the socket file and of every directory above it, and the
// uid and gids the MTA's daemons run with, say what denies them. Connecting
// to a UNIX socket needs search (x) on every directory of its path and
// write (w) on the socket itself, checked the kernel's way: the owner's
// bits if the uid owns the file, else the group's bits if one of the gids
// is the file's group, else the others' bits; uid 0 passes everything.
// The facts are gathered by src/milter/reach.cpp (stat); this file never
// touches the file system, so the unit tests feed it synthetic stat data.
//
// Contract: problems come back as whole sentences naming the path, its
// mode and owner, and the user; an empty list means reachable. A directory
// or socket that does not exist is a problem too.
//
// Limits: POSIX ACLs, SELinux/AppArmor and a chroot are not modelled (a
// chrooted smtpd reaches only sockets below its queue directory: README
// step 2); the directories are the ones of the canonical path.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

namespace prm {

// The stat facts of one path.
struct PathFacts {
    std::string path;
    bool exists = true;
    unsigned mode = 0;  // permission bits (07777)
    long uid = 0;
    long gid = 0;
};

// Who connects: Postfix's daemons run as mail_owner with only its primary
// group (Postfix's set_ugid() calls setgroups(1, &gid)).
struct Connector {
    std::string name;
    long uid = 0;
    std::vector<long> gids;
};

// The permission class bits (07, as rwx) that WHO gets on F.
unsigned access_bits(const PathFacts& f, const Connector& who);

// What keeps WHO from connecting to SOCK through DIRS (root first, the
// socket's own directory last); empty when WHO can connect.
std::vector<std::string> reach_problems(const std::vector<PathFacts>& dirs, const PathFacts& sock,
                                        const Connector& who);

// The directories above the absolute path PATH, root first ("/a/b/s" gives
// "/", "/a", "/a/b"); empty for a relative path.
std::vector<std::string> parent_dirs(const std::string& path);

// The file name of a UNIX milter socket spec (local:/p, unix:/p, /p); ""
// for inet and inet6 sockets.
std::string unix_socket_path(const std::string& spec);

}  // namespace prm
