// logging.hpp - a small logging interface: syslog in the daemon, capture in tests.
//
// Lines are "queueid: key=value ..." for messages. Nothing that reaches a
// Logger may contain a credential: callers pass decisions and diagnostics,
// never a Partner's password.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace prm {

enum class Level { err = 3, warning = 4, notice = 5, info = 6, debug = 7 };

class Logger {
public:
    virtual ~Logger() = default;
    virtual void log(Level level, std::string_view line) = 0;
};

// Writes to syslog(3) with the given facility name ("mail", "local0", ...),
// and to stderr too when ALSO_STDERR, unless stderr is the systemd journal
// (stderr_is_journal()): there syslog lands in the journal already, and the
// copy would show every line twice. Drops lines above MAX_LEVEL.
std::shared_ptr<Logger> make_syslog_logger(const std::string& ident, const std::string& facility,
                                           int max_level, bool also_stderr);
std::shared_ptr<Logger> make_stderr_logger(int max_level);

// True when stderr is the journal stream systemd connected (JOURNAL_STREAM
// names its device and inode, systemd.exec(5)); false when the variable is
// absent or stderr was redirected elsewhere (a child of such a service).
bool stderr_is_journal();

// Parse a syslog facility name; -1 when unknown.
int syslog_facility(std::string_view name);

class CaptureLogger : public Logger {
public:
    void log(Level level, std::string_view line) override;
    std::vector<std::string> lines() const;

private:
    mutable std::mutex mu_;
    std::vector<std::string> lines_;
};

// The process-wide logger (default: stderr at info).
Logger& logger();
void set_logger(std::shared_ptr<Logger> l);

}  // namespace prm
