// pg.hpp - the sync's only contact with PostgreSQL (libpq).
//
// What: connect with a libpq connection string (host lists, sslmode,
// passfile: all libpq's own), read the version row, read every partner row
// together with the version in one REPEATABLE READ READ ONLY transaction,
// LISTEN partner_relay as a wake-up hint, record and list the applied
// versions of the fleet (partner_relay.host_applied).
//
// Contract: every result is a plain value or an error text; no libpq type
// leaves pg.cpp. A failed or interrupted read returns false and no rows, so
// a half snapshot can never be applied. Error texts come from libpq and the
// server: they never contain the connection string's password.
//
// Thread safety: one PgConn per thread. Limits: rows are read one at a time
// (libpq single-row mode), so memory is the rows plus one row in flight.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace prm {

// The rows of one snapshot: column names and text values (nullopt = NULL).
struct RowSet {
    std::int64_t version = 0;
    std::vector<std::string> columns;
    std::vector<std::vector<std::optional<std::string>>> rows;
};

// One row of partner_relay.host_applied.
struct HostApplied {
    std::string host;
    std::int64_t version = 0;
    std::string applied_at;  // as the server prints it
};

class PgConn {
public:
    PgConn();
    ~PgConn();
    PgConn(const PgConn&) = delete;
    PgConn& operator=(const PgConn&) = delete;

    // Connect with DSN (a connect_timeout of 10 s unless DSN names one).
    bool connect(const std::string& dsn, std::string& err);
    bool connected() const;
    void close();

    // LISTEN partner_relay; false on a hot standby (LISTEN is refused there).
    bool listen(std::string& err);
    // Wait up to TIMEOUT_MS for a notification; true when one came. Also
    // returns (false) when the connection broke: check connected().
    bool wait_notify(int timeout_ms, int wake_fd);
    // The current value of partner_relay.version.
    std::optional<std::int64_t> version(std::string& err);
    // Run QUERY and read partner_relay.version in one REPEATABLE READ snapshot.
    bool snapshot(const std::string& query, RowSet& out, std::string& err);
    // Upsert this HOST's row in partner_relay.host_applied.
    bool record_applied(const std::string& host, std::int64_t version, std::string& err);
    // Every row of partner_relay.host_applied, by host.
    bool host_status(std::vector<HostApplied>& out, std::string& err);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Whether DSN parses as a libpq connection string; ERR (never quoting a
// piece of DSN) when not.
bool check_dsn(const std::string& dsn, std::string& err);

// The query used when [sync] query is empty.
inline constexpr const char* kDefaultQuery = "SELECT * FROM partner_relay.partners";

}  // namespace prm
