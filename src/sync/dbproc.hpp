// dbproc.hpp - the database side of partner-relay-sync in its own unprivileged process.
//
// What: a Db offers the PgConn operations the sync needs. Started by root
// with a user name, it forks a child that drops to that user (setgid,
// initgroups, setuid; root cannot come back) and runs the only PgConn of the
// sync: libpq, TLS and the server's bytes are handled without privileges.
// The root parent keeps only what needs root (publish.hpp: the root-owned
// Postfix tables, the partner file chowned to the milter's user, the
// signals) and talks to the child over a socketpair with length-prefixed
// requests and answers. Without a user, or when not root, the same Db runs
// the PgConn in-process (nothing to drop).
//
// Contract: the child's answers are data, never trusted: every length is
// bounded (kMaxWire), a malformed answer or a dead child is a database error
// ("database process: ..."), the child is killed and forked again at the
// next connect(). Rows go on to the same validation as before (rows.hpp).
// The child dies with the parent (PR_SET_PDEATHSIG).
//
// Thread safety: one Db per thread. Limits: one request at a time; a value
// or a row set over kMaxWire is refused.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sync/pg.hpp"

namespace prm {

inline constexpr std::size_t kMaxWire = std::size_t(1) << 30;  // bytes of one answer

class Db {
public:
    Db();
    ~Db();
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;

    // Run the database side as USER from now on (when root and USER is
    // set); false with ERR when USER is unknown or the fork fails.
    bool separate(const std::string& user, std::string& err);
    // The pid of the database process (0: in-process).
    pid_t child_pid() const;

    bool connect(const std::string& dsn, std::string& err);
    bool connected() const;
    void close();
    bool listen(std::string& err);
    bool wait_notify(int timeout_ms, int wake_fd);
    std::optional<std::int64_t> version(std::string& err);
    bool snapshot(const std::string& query, RowSet& out, std::string& err);
    bool record_applied(const std::string& host, std::int64_t version, std::string& err);
    bool host_status(std::vector<HostApplied>& out, std::string& err);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace prm
