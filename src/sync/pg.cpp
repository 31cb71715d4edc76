// pg.cpp - libpq boundary of partner-relay-sync (see pg.hpp).
//
// Contract: the only file of the project that includes <libpq-fe.h>. Every
// statement is sent with PQexec or PQsendQuery; values are never spliced
// into SQL text except through PQexecParams parameters.
//
// Thread safety: one PgConn per thread. Limits: see pg.hpp.
#include "sync/pg.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cstdlib>

#include "core/dsn.hpp"

namespace prm {

struct PgConn::Impl {
    PGconn* conn = nullptr;
    std::vector<std::string> secrets;  // the DSN's passwords, raw and decoded
};

namespace {

// libpq's message on one line, without the trailing newline.
std::string one_line(const char* msg) {
    std::string s = msg ? msg : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    for (char& c : s)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    return s.empty() ? "unknown libpq error" : s;
}

// Every password of DSN: as written (core/dsn.hpp) and as libpq decodes it.
std::vector<std::string> secrets_of(const std::string& dsn, bool& parses, std::string& parse_err) {
    std::vector<std::string> out = dsn_secrets(dsn);
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
    parses = opts != nullptr;
    if (err) {
        parse_err = err;
        PQfreemem(err);
    }
    for (PQconninfoOption* o = opts; o && o->keyword; o++)
        if (o->val && std::string(o->keyword) == "password" && *o->val) out.push_back(o->val);
    if (opts) PQconninfoFree(opts);
    return out;
}

// MSG with every "quoted" piece hidden: libpq quotes the part of a DSN it
// cannot parse, which may be a password.
std::string hide_quoted(const std::string& msg) {
    std::string out;
    bool in = false;
    for (char c : msg) {
        if (c == '"') {
            out += in ? "(hidden)\"" : "\"";
            in = !in;
        } else if (!in) {
            out += c;
        }
    }
    return out;
}

// Owns one PGresult.
struct Result {
    PGresult* r;
    explicit Result(PGresult* res) : r(res) {}
    ~Result() { PQclear(r); }
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    bool ok(ExecStatusType want = PGRES_COMMAND_OK) const { return r && PQresultStatus(r) == want; }
};

// Drain any results left after an aborted single-row read.
void drain(PGconn* c) {
    while (PGresult* r = PQgetResult(c)) PQclear(r);
}

// Server notices (and libpq's own, such as a FATAL before a disconnect)
// would go to stderr raw; the errors that matter come back as results.
void ignore_notice(void*, const char*) {}

// Run SQL expecting no rows; false with ERR set otherwise.
bool exec(PGconn* c, const char* sql, std::string& err) {
    Result r(PQexec(c, sql));
    if (r.ok()) return true;
    err = one_line(PQerrorMessage(c));
    return false;
}

}  // namespace

// Scrubs ERR of the DSN's passwords when the public method that made it
// returns (error texts come from libpq and may quote the DSN).
struct ErrScrub {
    const std::vector<std::string>& secrets;
    std::string& err;
    ~ErrScrub() { err = scrub_secrets(err, secrets); }
};

PgConn::PgConn() : impl_(std::make_unique<Impl>()) {}
PgConn::~PgConn() { close(); }

// Connect: our defaults first, the operator's DSN last so that it wins.
bool PgConn::connect(const std::string& dsn, std::string& err) {
    close();
    bool parses = false;
    std::string parse_err;
    impl_->secrets = secrets_of(dsn, parses, parse_err);
    ErrScrub scrub{impl_->secrets, err};
    if (!parses) {  // libpq quotes the piece it cannot parse: hide it
        err = "not a valid libpq connection string: " + hide_quoted(one_line(parse_err.c_str()));
        return false;
    }
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* vals[] = {"10", "partner-relay-sync", dsn.c_str(), nullptr};
    impl_->conn = PQconnectdbParams(keys, vals, 1);
    if (impl_->conn && PQstatus(impl_->conn) == CONNECTION_OK) {
        PQsetNoticeProcessor(impl_->conn, ignore_notice, nullptr);
        return true;
    }
    err = one_line(impl_->conn ? PQerrorMessage(impl_->conn) : "out of memory");
    close();
    return false;
}

bool PgConn::connected() const { return impl_->conn && PQstatus(impl_->conn) == CONNECTION_OK; }

void PgConn::close() {
    if (impl_->conn) PQfinish(impl_->conn);
    impl_->conn = nullptr;
}

// LISTEN is a hint only; a standby refuses it and we then just poll.
bool PgConn::listen(std::string& err) {
    ErrScrub scrub{impl_->secrets, err};
    if (!connected()) return err = "not connected", false;
    return exec(impl_->conn, "LISTEN partner_relay", err);
}

// poll(2) the connection socket and WAKE_FD; consume every notification.
bool PgConn::wait_notify(int timeout_ms, int wake_fd) {
    if (!connected()) return false;
    struct pollfd fds[2] = {{PQsocket(impl_->conn), POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, timeout_ms);
    if (n <= 0 || !(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) return false;
    if (!PQconsumeInput(impl_->conn)) {
        close();  // the server went away: the caller reconnects
        return false;
    }
    bool got = false;
    while (PGnotify* nt = PQnotifies(impl_->conn)) {
        got = true;
        PQfreemem(nt);
    }
    return got;
}

// SELECT version FROM partner_relay.version.
std::optional<std::int64_t> PgConn::version(std::string& err) {
    ErrScrub scrub{impl_->secrets, err};
    if (!connected()) return err = "not connected", std::nullopt;
    Result r(PQexec(impl_->conn, "SELECT version FROM partner_relay.version"));
    if (!r.ok(PGRES_TUPLES_OK)) {
        err = one_line(PQerrorMessage(impl_->conn));
        return std::nullopt;
    }
    if (PQntuples(r.r) != 1 || PQgetisnull(r.r, 0, 0)) {
        err = "partner_relay.version must hold exactly one row (load contrib/postgresql/schema.sql)";
        return std::nullopt;
    }
    return std::strtoll(PQgetvalue(r.r, 0, 0), nullptr, 10);
}

namespace {

// Read QUERY's rows one by one into OUT (libpq single-row mode).
bool read_rows(PGconn* c, const std::string& query, RowSet& out, std::string& err) {
    if (!PQsendQuery(c, query.c_str()) || !PQsetSingleRowMode(c)) {
        err = one_line(PQerrorMessage(c));
        drain(c);
        return false;
    }
    bool ok = true;
    while (PGresult* raw = PQgetResult(c)) {
        Result r(raw);
        ExecStatusType st = PQresultStatus(raw);
        if (st == PGRES_SINGLE_TUPLE) {
            if (out.columns.empty())
                for (int i = 0; i < PQnfields(raw); i++) out.columns.push_back(PQfname(raw, i));
            std::vector<std::optional<std::string>> row;
            row.reserve(out.columns.size());
            for (int i = 0; i < PQnfields(raw); i++) {
                if (PQgetisnull(raw, 0, i))
                    row.emplace_back(std::nullopt);
                else
                    row.emplace_back(std::string(PQgetvalue(raw, 0, i),
                                                 static_cast<std::size_t>(PQgetlength(raw, 0, i))));
            }
            out.rows.push_back(std::move(row));
        } else if (st == PGRES_TUPLES_OK) {
            if (out.columns.empty())  // no rows: still learn the columns
                for (int i = 0; i < PQnfields(raw); i++) out.columns.push_back(PQfname(raw, i));
        } else if (ok) {
            ok = false;
            err = one_line(PQerrorMessage(c));
        }
    }
    if (ok && PQstatus(c) != CONNECTION_OK) {
        ok = false;
        err = one_line(PQerrorMessage(c));
    }
    return ok;
}

}  // namespace

// One consistent snapshot: the version and the rows from the same transaction.
bool PgConn::snapshot(const std::string& query, RowSet& out, std::string& err) {
    ErrScrub scrub{impl_->secrets, err};
    out = RowSet{};
    if (!connected()) return err = "not connected", false;
    PGconn* c = impl_->conn;
    if (!exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err)) return false;
    auto v = version(err);
    bool ok = v.has_value() && read_rows(c, query, out, err);
    std::string ignored;
    if (connected()) exec(c, ok ? "COMMIT" : "ROLLBACK", ok ? err : ignored);
    if (ok && !connected()) ok = false;
    if (!ok) {
        out = RowSet{};
        if (!connected()) close();
        return false;
    }
    out.version = *v;
    return true;
}

// PQconninfoParse() only; the message with its quoted pieces hidden.
bool check_dsn(const std::string& dsn, std::string& err) {
    bool parses = false;
    std::string parse_err;
    std::vector<std::string> secrets = secrets_of(dsn, parses, parse_err);
    if (!parses) err = scrub_secrets(hide_quoted(one_line(parse_err.c_str())), secrets);
    return parses;
}

// INSERT ... ON CONFLICT UPDATE of this host's row.
bool PgConn::record_applied(const std::string& host, std::int64_t version, std::string& err) {
    ErrScrub scrub{impl_->secrets, err};
    if (!connected()) return err = "not connected", false;
    std::string v = std::to_string(version);
    const char* params[] = {host.c_str(), v.c_str()};
    Result r(PQexecParams(impl_->conn,
                          "INSERT INTO partner_relay.host_applied (host, version, applied_at) "
                          "VALUES ($1, $2, now()) ON CONFLICT (host) DO UPDATE SET "
                          "version = EXCLUDED.version, applied_at = EXCLUDED.applied_at",
                          2, nullptr, params, nullptr, nullptr, 0));
    if (r.ok()) return true;
    err = one_line(PQerrorMessage(impl_->conn));
    return false;
}

// SELECT every host's applied version.
bool PgConn::host_status(std::vector<HostApplied>& out, std::string& err) {
    ErrScrub scrub{impl_->secrets, err};
    out.clear();
    if (!connected()) return err = "not connected", false;
    Result r(PQexec(impl_->conn,
                    "SELECT host, version, to_char(applied_at AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM partner_relay.host_applied ORDER BY host"));
    if (!r.ok(PGRES_TUPLES_OK)) {
        err = one_line(PQerrorMessage(impl_->conn));
        return false;
    }
    for (int i = 0; i < PQntuples(r.r); i++)
        out.push_back(HostApplied{PQgetvalue(r.r, i, 0), std::strtoll(PQgetvalue(r.r, i, 1), nullptr, 10),
                                  PQgetvalue(r.r, i, 2)});
    return true;
}

}  // namespace prm
