// grace.cpp - the grace period of removed partners' entries (see grace.hpp).
#include "tables/grace.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace prm {

// Append what PREVIOUS had and the fresh tables lack, within GRACE.
TablesGrace keep_removed(std::vector<GraceTable>& tables,
                         const std::map<std::string, std::vector<TableEntry>>& previous,
                         const RemovedSince& since, std::time_t now, long grace) {
    TablesGrace res;
    for (GraceTable& t : tables) {
        auto prev = previous.find(t.name);
        if (prev == previous.end()) continue;
        std::set<std::string> have;
        for (const TableEntry& e : *t.entries) have.insert(e.key);
        for (const TableEntry& e : prev->second) {
            if (have.count(e.key)) continue;
            auto s = since.find({t.name, e.key});
            std::time_t gone = s == since.end() ? now : s->second;
            if (now - gone >= grace) {
                res.expired++;
                continue;
            }
            have.insert(e.key);
            t.entries->push_back(e);
            res.removed[{t.name, e.key}] = gone;
            res.until = std::max(res.until, static_cast<std::time_t>(gone + grace));
            res.kept++;
        }
    }
    return res;
}

// "key<TAB>value" lines of PATH, comments and blank lines skipped.
std::vector<TableEntry> read_table_source(const std::string& path) {
    std::vector<TableEntry> out;
    int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return out;
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    std::string text;
    char buf[8192];
    ssize_t n;
    while (regular && (n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    close(fd);
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::size_t tab = line.find('\t');
        if (line.empty() || line[0] == '#' || tab == std::string::npos || tab == 0) continue;
        out.push_back({line.substr(0, tab), line.substr(tab + 1)});
    }
    std::fill(text.begin(), text.end(), '\0');
    return out;
}

// DIR/removed: "table<TAB>key<TAB>time" lines.
RemovedSince read_removed(const std::string& dir) {
    RemovedSince out;
    std::ifstream in(dir + "/removed");
    std::string line;
    while (std::getline(in, line)) {
        std::size_t a = line.find('\t'), b = line.rfind('\t');
        if (line.empty() || line[0] == '#' || a == std::string::npos || b == a) continue;
        std::string t = line.substr(b + 1);
        if (t.empty() || t.size() > 12 || t.find_first_not_of("0123456789") != std::string::npos) continue;
        out[{line.substr(0, a), line.substr(a + 1, b - a - 1)}] = static_cast<std::time_t>(std::stoll(t));
    }
    return out;
}

// Write DIR/removed through a temporary file and a rename.
std::string write_removed(const std::string& dir, const RemovedSince& removed) {
    std::string path = dir + "/removed", tmp = path + ".tmp." + std::to_string(getpid());
    std::string text =
        "# Entries of removed partners kept for the grace period, since when (written by\n"
        "# partner-relay-tables(8); no credentials here)\n";
    for (const auto& [k, t] : removed)
        text += k.first + "\t" + k.second + "\t" + std::to_string(static_cast<long long>(t)) + "\n";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return tmp + ": " + std::strerror(errno);
    bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = fsync(fd) == 0 && ok;
    close(fd);
    if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
        std::string err = path + ": " + std::strerror(errno);
        unlink(tmp.c_str());
        return err;
    }
    return {};
}

// A Postfix duration in seconds; -1 if not one.
long postfix_duration(std::string v) {
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    if (v.empty()) return -1;
    long unit = 1;
    switch (v.back()) {
        case 's': v.pop_back(); break;
        case 'm': unit = 60; v.pop_back(); break;
        case 'h': unit = 3600; v.pop_back(); break;
        case 'd': unit = 86400; v.pop_back(); break;
        case 'w': unit = 604800; v.pop_back(); break;
        default: break;
    }
    if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) return -1;
    return std::stol(v) * unit;
}

// maximal_queue_lifetime from postconf, else 5 days.
long postfix_queue_lifetime() {
    long v = postfix_duration(postconf_value("maximal_queue_lifetime"));
    return v >= 0 ? v : 5 * 86400;
}

}  // namespace prm
