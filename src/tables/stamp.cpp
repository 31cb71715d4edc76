// stamp.cpp - write DIR/published atomically (see stamp.hpp).
#include "tables/stamp.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace prm {

namespace {

// 16 random bytes as 32 hex digits; "" when the kernel gives none.
std::string random_salt() {
    unsigned char b[16];
    std::size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return "";
        got += static_cast<std::size_t>(n);
    }
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (unsigned char c : b) {
        s += hex[c >> 4];
        s += hex[c & 0xf];
    }
    return s;
}

// Write all of TEXT to FD; false on a short write.
bool write_all(int fd, const std::string& text) {
    std::size_t off = 0;
    while (off < text.size()) {
        ssize_t n = write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

// Salt, render, write to a temporary file, give the milter's group read, rename.
std::string write_stamp(const std::string& dir, const std::vector<PublishedPartner>& partners,
                        const std::string& group_user) {
    std::string path = dir + "/" + kStampName;
    std::string salt = random_salt();
    if (salt.empty()) return path + ": getrandom: " + std::strerror(errno);
    std::vector<std::pair<std::string, std::string>> lines;
    lines.reserve(partners.size());
    for (const PublishedPartner& p : partners)
        lines.emplace_back(p.id, stamp_digest_material(salt, p.material));
    std::string text = render_stamp(salt, lines);

    std::string tmp = path + ".tmp." + std::to_string(getpid());
    unlink(tmp.c_str());
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) return tmp + ": " + std::strerror(errno);
    std::string err;
    if (fchmod(fd, 0640) != 0) err = std::strerror(errno);
    if (err.empty() && geteuid() == 0 && !group_user.empty()) {
        if (const passwd* pw = getpwnam(group_user.c_str()))
            if (fchown(fd, 0, pw->pw_gid) != 0) err = std::strerror(errno);
    }
    if (err.empty() && !write_all(fd, text)) err = std::strerror(errno);
    if (err.empty() && fsync(fd) != 0) err = std::strerror(errno);
    if (close(fd) != 0 && err.empty()) err = std::strerror(errno);
    if (err.empty() && rename(tmp.c_str(), path.c_str()) != 0) err = std::strerror(errno);
    if (!err.empty()) {
        unlink(tmp.c_str());
        return tmp + ": " + err;
    }
    return "";
}

}  // namespace prm
