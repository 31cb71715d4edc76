// pidfile.hpp - pid files written and read by root next to an unprivileged user.
//
// What: the daemons (the milter, partner-relay-tokend) write their pid file
// as root before they drop privileges, often in a directory the target
// user can write (systemd's RuntimeDirectory, /run/partner-relay-milter);
// partner-relay-sync, as root, reads it to send SIGUSR1. Both by path, so
// the user could plant a symlink or a hard link there (the race of issue 17
// finding 1), or write any pid into a file it owns.
//
// Contract:
//  - write_pid_file() never opens an existing file: it creates a fresh
//    temporary file (O_CREAT | O_EXCL | O_NOFOLLOW, after removing a
//    leftover name, never its target) and renames it over PATH, which
//    replaces a symlink or hard link planted there instead of writing
//    through it; mode 0644.
//  - read_trusted_pid() opens PATH with O_NOFOLLOW, wants a regular file
//    that only its owner can write and a pid above 1, and accepts the pid
//    only when the file belongs to root or the process runs as the file's
//    owner (/proc/PID/status): a file the user could write never names
//    someone else's process; and the process must be one of ours (its
//    /proc/PID/comm starts with "partner-relay-"), so a stale pid file
//    whose pid was reused by another daemon does not get it a SIGUSR1.
//
// Thread safety: plain system calls; no shared state.
#pragma once

#include <string>

namespace prm {

// Write PID as "PID\n" to PATH, never through an existing file.
bool write_pid_file(const std::string& path, long pid, std::string& err);

// Whether a pid file owned by FILE_UID may name a process of PROC_UID.
bool pid_owner_trusted(long file_uid, long proc_uid);

// The real uid of process PID from /proc; -1 when there is no such process.
long process_uid(long pid);

// The command name of process PID (/proc/PID/comm, at most 15 bytes); "".
std::string process_name(long pid);

// Read PATH's pid for signalling (see the contract); ERR says why not.
bool read_trusted_pid(const std::string& path, long& pid, std::string& err);

}  // namespace prm
