// logging.cpp - syslog, stderr and capturing loggers; the process-wide logger.
//
// Contract: every logger drops lines above its level and replaces control
// characters (CR, LF, ...) by '?', so a value that came from the network can
// never forge a second log line. Callers never pass credentials.
//
// Thread safety: all loggers may be called from any thread. logger() hands
// out a plain reference, so set_logger() keeps every logger it replaces
// alive until exit (they are few: one per start and per reload at most),
// which makes a reference taken before a swap safe to keep using.
#include "core/logging.hpp"

#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace prm {
namespace {

const char* level_name(Level l) {
    switch (l) {
        case Level::err:
            return "error";
        case Level::warning:
            return "warning";
        case Level::notice:
            return "notice";
        case Level::info:
            return "info";
        case Level::debug:
            return "debug";
    }
    return "info";
}

// The line with control characters neutralized (no log forging).
std::string clean(std::string_view line) {
    std::string out(line);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 32 || c == 127) c = '?';
    return out;
}

// Write "level: line\n" to stderr in one write(2) so threads do not interleave.
void write_stderr(Level level, std::string_view line) {
    std::string out = std::string(level_name(level)) + ": " + clean(line) + "\n";
    std::size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::write(STDERR_FILENO, out.data() + done, out.size() - done);
        if (n <= 0) return;  // nowhere left to complain to
        done += static_cast<std::size_t>(n);
    }
}

class StderrLogger : public Logger {
public:
    explicit StderrLogger(int max_level) : max_(max_level) {}
    void log(Level level, std::string_view line) override {
        if (static_cast<int>(level) <= max_) write_stderr(level, line);
    }

private:
    int max_;
};

class SyslogLogger : public Logger {
public:
    // openlog(3) keeps the ident pointer: ident_ lives as long as the logger,
    // and replaced loggers are never destroyed (see set_logger).
    SyslogLogger(std::string ident, int facility, int max_level, bool also_stderr)
        : ident_(std::move(ident)), max_(max_level), stderr_(also_stderr) {
        openlog(ident_.c_str(), LOG_PID | LOG_NDELAY, facility);
    }
    void log(Level level, std::string_view line) override {
        if (static_cast<int>(level) > max_) return;
        syslog(static_cast<int>(level), "%s", clean(line).c_str());
        if (stderr_) write_stderr(level, line);
    }

private:
    std::string ident_;
    int max_;
    bool stderr_;
};

struct Facility {
    const char* name;
    int value;
};

const Facility kFacilities[] = {
    {"auth", LOG_AUTH},     {"authpriv", LOG_AUTHPRIV}, {"cron", LOG_CRON},
    {"daemon", LOG_DAEMON}, {"ftp", LOG_FTP},           {"lpr", LOG_LPR},
    {"mail", LOG_MAIL},     {"news", LOG_NEWS},         {"syslog", LOG_SYSLOG},
    {"user", LOG_USER},     {"uucp", LOG_UUCP},         {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},     {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},     {"local6", LOG_LOCAL6},
    {"local7", LOG_LOCAL7},
};

// The current logger and every one it replaced (kept alive, see above).
struct Registry {
    std::mutex mu;
    std::shared_ptr<Logger> current = std::make_shared<StderrLogger>(static_cast<int>(Level::info));
    std::vector<std::shared_ptr<Logger>> retired;
};

Registry& registry() {
    static Registry r;
    return r;
}

}  // namespace

// Parse a syslog facility name (case-insensitive); -1 when unknown.
int syslog_facility(std::string_view name) {
    std::string l(name);
    for (char& c : l)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    for (const Facility& f : kFacilities)
        if (l == f.name) return f.value;
    return -1;
}

std::shared_ptr<Logger> make_syslog_logger(const std::string& ident, const std::string& facility,
                                           int max_level, bool also_stderr) {
    int f = syslog_facility(facility);
    return std::make_shared<SyslogLogger>(ident, f < 0 ? LOG_MAIL : f, max_level,
                                          also_stderr && !stderr_is_journal());
}

// JOURNAL_STREAM is "DEVICE:INODE" in decimal; compare with fstat(2).
bool stderr_is_journal() {
    const char* v = std::getenv("JOURNAL_STREAM");
    if (!v || !*v) return false;
    unsigned long long dev = 0, ino = 0;
    char extra = 0;
    if (std::sscanf(v, "%llu:%llu%c", &dev, &ino, &extra) != 2) return false;
    struct stat st {};
    if (fstat(STDERR_FILENO, &st) != 0) return false;
    return static_cast<unsigned long long>(st.st_dev) == dev &&
           static_cast<unsigned long long>(st.st_ino) == ino;
}

std::shared_ptr<Logger> make_stderr_logger(int max_level) {
    return std::make_shared<StderrLogger>(max_level);
}

// Capture lines as "level: text" so tests can check both.
void CaptureLogger::log(Level level, std::string_view line) {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(std::string(level_name(level)) + ": " + clean(line));
}

std::vector<std::string> CaptureLogger::lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
}

Logger& logger() {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    return *r.current;
}

// Install L as the process-wide logger (null: back to stderr at info).
void set_logger(std::shared_ptr<Logger> l) {
    if (!l) l = make_stderr_logger(static_cast<int>(Level::info));
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    r.retired.push_back(std::move(r.current));
    r.current = std::move(l);
}

}  // namespace prm
