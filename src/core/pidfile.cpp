// pidfile.cpp - pid files written and read by root next to an unprivileged user.
//
// Contract: pidfile.hpp. Limits: a pid file is at most 64 bytes; a stale
// pid file whose pid was reused by another process of ours is trusted.
#include "core/pidfile.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace prm {

// Temporary name, exclusive create, rename over PATH.
bool write_pid_file(const std::string& path, long pid, std::string& err) {
    std::string tmp = path + ".new";
    // A leftover (or planted) name goes; unlink removes a symlink or a hard
    // link itself, never what it points at.
    if (unlink(tmp.c_str()) != 0 && errno != ENOENT)
        return err = tmp + ": " + std::strerror(errno), false;
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return err = tmp + ": " + std::strerror(errno), false;
    std::string text = std::to_string(pid) + "\n";
    bool ok = fchmod(fd, 0644) == 0 &&
              write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp.c_str(), path.c_str()) == 0) return true;
    err = path + ": " + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
}

// Root's files are trusted; anyone else's only for their own processes.
bool pid_owner_trusted(long file_uid, long proc_uid) {
    return proc_uid >= 0 && (file_uid == 0 || file_uid == proc_uid);
}

// The "Uid:" line of /proc/PID/status (real uid first).
long process_uid(long pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("Uid:", 0) != 0) continue;
        std::istringstream words(line.substr(4));
        long uid = -1;
        return words >> uid ? uid : -1;
    }
    return -1;
}

// The first line of /proc/PID/comm.
std::string process_name(long pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(in, name);
    return name;
}

// O_NOFOLLOW, fstat, bounded read, owner check.
bool read_trusted_pid(const std::string& path, long& pid, std::string& err) {
    int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return err = path + ": " + std::strerror(errno), false;
    struct stat st {};
    char buf[65] = {};
    ssize_t n = -1;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    if (regular) n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (!regular) return err = path + ": not a regular file", false;
    if (st.st_mode & 022) return err = path + ": writable by group or others: not trusted", false;
    char* end = nullptr;
    pid = n > 0 ? std::strtol(buf, &end, 10) : 0;
    if (pid <= 1 || !end || (*end != '\n' && *end != '\0'))
        return err = path + ": no pid in it", false;
    long uid = process_uid(pid);
    if (uid < 0) return err = path + ": pid " + std::to_string(pid) + ": no such process", false;
    if (!pid_owner_trusted(static_cast<long>(st.st_uid), uid))
        return err = path + ": pid " + std::to_string(pid) + " runs as uid " +
                     std::to_string(uid) + ", not as the file's owner (uid " +
                     std::to_string(st.st_uid) + "): not signalled",
               false;
    std::string name = process_name(pid);
    if (name.rfind("partner-relay-", 0) != 0)
        return err = path + ": pid " + std::to_string(pid) + " is " +
                     (name.empty() ? std::string("gone") : "'" + name + "'") +
                     ", not a partner-relay program: stale pid file, not signalled",
               false;
    return true;
}

}  // namespace prm
