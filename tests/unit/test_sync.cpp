// test_sync.cpp - partner-relay-sync's pure parts, row by row.
//
// build_partners(): database rows -> the core's validation -> the partner
// file (every fault of issue 13 that a row can carry, including the NUL
// that PostgreSQL itself cannot store). drop_check(), with_grace() and the
// state file of plan.hpp with explicit times. Own runner (sync_tests), so
// the core's unit_tests do not link the sync.
#include <cstdlib>
#include <string>

#include "core/config.hpp"
#include "core/dsn.hpp"
#include "core/ini.hpp"
#include "sync/logline.hpp"
#include "sync/plan.hpp"
#include "sync/rows.hpp"

#include "runner.hpp"  // last: check.h defines a fail() macro

using namespace prm;

namespace {

const std::vector<std::string> kCols = {"id", "host", "port", "username", "password", "sender", "tls",
                                        "enabled"};

Config test_config() {
    ConfigResult r = load_config_ini(parse_ini_text(
        "t.conf", "[milter]\nfallback_sender = noreply@platform.example\n"
                  "allowed_private_relays = 127.0.0.0/8\n"));
    ck_assert_msg(r.config.has_value(), "test config rejected");
    return *r.config;
}

using Row = std::vector<std::optional<std::string>>;

// A complete row for ID; the tests then spoil one value.
Row good(const std::string& id) {
    return {id, std::string("127.0.0.1"), std::string("2525"), id + "-user",
            id + "-pw-XYZ", "mail@" + id + ".example", std::string("encrypt"), std::string("t")};
}

BuiltPartners build(const std::vector<Row>& rows, std::vector<std::string> cols = kCols) {
    RowSet rs;
    rs.columns = std::move(cols);
    rs.rows = rows;
    HostResolver none = [](const std::string&, std::vector<std::string>&, std::string& err) {
        err = "no DNS in unit tests";
        return false;
    };
    return build_partners(rs, test_config(), &none);
}

const Partner& partner(const BuiltPartners& b, const char* id) {
    const Partner* p = b.table.find(id);
    ck_assert_msg(p != nullptr, "partner %s: got none, want one", id);
    return *p;
}

// PARTNER inactive, its reason containing WANT and not its password.
void expect_inactive(const BuiltPartners& b, const char* id, const char* want, const std::string& pw) {
    const Partner& p = partner(b, id);
    ck_assert_msg(!p.active, "%s: got active, want inactive", id);
    ck_assert_msg(p.reason.find(want) != std::string::npos, "%s: got reason '%s', want '%s' in it", id,
                  p.reason.c_str(), want);
    ck_assert_msg(pw.empty() || p.reason.find(pw) == std::string::npos, "%s: reason echoes the password", id);
    ck_assert_msg(b.file_text.find("[" + std::string(id) + "]") == std::string::npos,
                  "%s: inactive partner written to the partner file", id);
}

}  // namespace

START_TEST(good_row_is_active_and_written) {
    BuiltPartners b = build({good("acme")});
    ck_assert_msg(b.ok, "got error '%s'", b.error.c_str());
    ck_assert_msg(partner(b, "acme").active, "acme: got inactive (%s)", partner(b, "acme").reason.c_str());
    // The file reads back to the same active partner.
    PartnerTable again = load_partners_ini(parse_ini_text("p", b.file_text), test_config());
    ck_assert_msg(again.active_count() == 1 && again.partners[0].password == "acme-pw-XYZ",
                  "partner file does not read back: %s", b.file_text.c_str());
}
END_TEST

START_TEST(control_characters_deactivate) {
    const char* keys[] = {"password", "username", "sender", "host"};
    const std::size_t cols[] = {4, 3, 5, 1};
    const std::vector<std::string> bads = {"\n[evil]\nhost = x", "\r", std::string("a\0b", 3), "\t"};
    for (std::size_t k = 0; k < 4; k++)
        for (const std::string& bad : bads) {
            Row r = good("acme");
            r[cols[k]] = *r[cols[k]] + bad;
            BuiltPartners b = build({r, good("beta")});
            expect_inactive(b, "acme", ("column " + std::string(keys[k]) + " holds a control character").c_str(),
                            "acme-pw-XYZ");
            ck_assert_msg(partner(b, "beta").active, "beta: got inactive, want active (one bad row only)");
            ck_assert_msg(b.file_text.find("evil") == std::string::npos, "injected text reached the file");
        }
}
END_TEST

START_TEST(values_that_do_not_read_back) {
    for (const char* pw : {" lead-XYZ", "trail-XYZ ", "a ;comment-XYZ"}) {
        Row r = good("acme");
        r[4] = std::string(pw);
        expect_inactive(build({r}), "acme", "would not read back unchanged", pw);
    }
    Row r = good("acme");
    r[4] = std::string(100000, 'h');
    expect_inactive(build({r}), "acme", "column password is 100000 bytes long", std::string(100000, 'h'));
}
END_TEST

START_TEST(core_rules_apply) {
    Row port = good("p1"), comma = good("p2"), missing = good("p3"), dup1 = good("d1"), dup2 = good("d2");
    port[2] = std::string("70000");
    comma[1] = std::string("127.0.0.1,evil.example");
    missing[4] = std::nullopt;
    dup1[5] = std::string("same@dup.example");
    dup2[5] = std::string("same@dup.example");
    BuiltPartners b = build({port, comma, missing, dup1, dup2, good("ok")});
    expect_inactive(b, "p1", "port must be", "");
    expect_inactive(b, "p2", "host contains a forbidden character", "p2-pw-XYZ");
    expect_inactive(b, "p3", "missing password", "");
    expect_inactive(b, "d1", "also used by partner d2", "d1-pw-XYZ");
    expect_inactive(b, "d2", "also used by partner d1", "d2-pw-XYZ");
    ck_assert_msg(partner(b, "ok").active, "ok: got inactive");
}
END_TEST

START_TEST(disabled_bad_id_and_unknown_columns) {
    Row off = good("off"), badid = good("Bad Id");
    off[7] = std::string("f");
    BuiltPartners b = build({off, badid, good("ok")});
    ck_assert_msg(b.table.find("off") == nullptr, "disabled row: got a partner, want none");
    ck_assert_msg(b.rejected.size() == 1 && b.rejected[0].find("'Bad Id'") != std::string::npos,
                  "bad id: got %zu rejections", b.rejected.size());
    // A column that is no partner key: NULL is harmless, a value deactivates.
    std::vector<std::string> cols = kCols;
    cols.push_back("notes");
    Row n1 = good("n1"), n2 = good("n2");
    n1.push_back(std::nullopt);
    n2.push_back(std::string("hello"));
    BuiltPartners c = build({n1, n2}, cols);
    ck_assert_msg(partner(c, "n1").active, "n1 (NULL notes): got inactive (%s)", partner(c, "n1").reason.c_str());
    expect_inactive(c, "n2", "unknown key", "");
    std::vector<std::string> noid = {"name", "host"};
    BuiltPartners d = build({{std::string("x"), std::string("h")}}, noid);
    ck_assert_msg(!d.ok && d.error.find("no id column") != std::string::npos, "no id: got ok");
}
END_TEST

START_TEST(drop_guard) {
    std::set<std::string> four = {"a", "b", "c", "d"};
    ck_assert_msg(!drop_check(four, {"a", "b"}, 50).refused, "2 of 4 at 50%%: got refused");
    DropCheck d = drop_check(four, {"a"}, 50);
    ck_assert_msg(d.refused && d.dropped == 3 && d.message.find("3 of 4") != std::string::npos,
                  "3 of 4 at 50%%: got '%s'", d.message.c_str());
    ck_assert_msg(!drop_check({}, {}, 0).refused, "empty before: got refused");
    ck_assert_msg(drop_check(four, {"a", "b", "c"}, 0).refused, "1 of 4 at 0%%: got not refused");
    ck_assert_msg(!drop_check(four, {}, 100).refused, "all at 100%%: got refused");
}
END_TEST

START_TEST(grace_keeps_then_expires) {
    PostfixTables fresh1;
    fresh1.sasl = {{"a@x", "ua:pa"}, {"b@x", "ub:pb"}};
    fresh1.tls_policy = {{"[h]:25", "encrypt"}};
    GraceResult g1 = with_grace(fresh1, {}, 1000, 100);
    ck_assert_msg(g1.kept == 0 && g1.tables.sasl.size() == 2, "first: kept %zu", g1.kept);

    PostfixTables fresh2;
    fresh2.sasl = {{"a@x", "ua:new"}};
    GraceResult g2 = with_grace(fresh2, g1.state, 1010, 100);
    ck_assert_msg(g2.tables.sasl.size() == 2 && g2.kept == 2, "b and the TLS entry kept: got %zu sasl, %zu kept",
                  g2.tables.sasl.size(), g2.kept);
    ck_assert_msg(g2.tables.sasl[0].value == "ua:new", "changed password: got '%s'", g2.tables.sasl[0].value.c_str());
    ck_assert_msg(g2.tables.tls_policy.size() == 1, "TLS entry of the removed hop kept");

    GraceResult g3 = with_grace(fresh2, g2.state, 1109, 100);  // 99 s after removal
    ck_assert_msg(g3.kept == 2, "within grace: got %zu kept", g3.kept);
    GraceResult g4 = with_grace(fresh2, g3.state, 1110, 100);  // 100 s: over
    ck_assert_msg(g4.kept == 0 && g4.expired == 2 && g4.tables.sasl.size() == 1,
                  "after grace: got %zu kept, %zu expired", g4.kept, g4.expired);
}
END_TEST

START_TEST(state_round_trip) {
    std::vector<KeptEntry> st = {{"sasl", {"a@x", "u:p w"}, 0}, {"tls", {"[h]:25", "secure servername=h"}, 77}};
    std::int64_t v = 0;
    std::vector<KeptEntry> back;
    ck_assert_msg(parse_state(render_state(42, st), v, back), "state does not parse");
    ck_assert_msg(v == 42 && back.size() == 2 && back[1].removed_at == 77 && back[0].entry.value == "u:p w",
                  "state round trip lost data");
    ck_assert_msg(!parse_state("garbage\n", v, back), "garbage: got parsed");
}
END_TEST

START_TEST(sync_config_keys) {
    ConfigResult r = load_config_ini(parse_ini_text(
        "t.conf", "[milter]\nfallback_sender = noreply@platform.example\n[sync]\n"
                  "dsn = host=db1,db2 user=s password=dsn-XYZ-pw sslmode=verify-full\n"
                  "grace = 5d\ninterval = 2\nmax_drop = 30%\n"));
    ck_assert_msg(r.config.has_value(), "sync config rejected");
    ck_assert_msg(r.config->sync_grace == 432000 && r.config->sync_interval == 2 &&
                      r.config->sync_max_drop == 30,
                  "got grace %d interval %d max_drop %d", r.config->sync_grace, r.config->sync_interval,
                  r.config->sync_max_drop);
    std::string dump = dump_config(*r.config);
    ck_assert_msg(dump.find("dsn-XYZ-pw") == std::string::npos, "-n shows the DSN password");
    ck_assert_msg(dump.find("password=(hidden) sslmode=verify-full") != std::string::npos,
                  "got no hidden password in: %s", dump.c_str());
    ConfigResult uri = load_config_ini(parse_ini_text(
        "t.conf", "[milter]\nfallback_sender = noreply@platform.example\n[sync]\n"
                  "dsn = postgresql://sync:uri-XYZ-pw@db1/platform\n"));
    ck_assert_msg(uri.config && dump_config(*uri.config).find("uri-XYZ-pw") == std::string::npos,
                  "-n shows the URI password");
    for (const char* bad : {"state_dir =", "interval = 0", "grace = 5y", "max_drop = 101",
                            "tables_dir = relative"}) {
        ConfigResult b = load_config_ini(parse_ini_text(
            "t.conf", std::string("[milter]\nfallback_sender = noreply@platform.example\n[sync]\n") +
                          bad + "\n"));
        ck_assert_msg(!b.config && !b.errors.empty() && b.errors[0].line == 4,
                      "'%s': got accepted or no line", bad);
    }
}
END_TEST

// Every password form of a libpq DSN is hidden; nothing else is touched.
START_TEST(dsn_password_hidden) {
    struct Case {
        const char* dsn;
        const char* secret;
        const char* want;
    } cases[] = {
        {"host=db1,db2 user=s password=kv-XYZ-pw sslmode=verify-full", "kv-XYZ-pw",
         "host=db1,db2 user=s password=(hidden) sslmode=verify-full"},
        {"host=db password = 'sp ace\\' XYZ' dbname=p", "XYZ", "host=db password = (hidden) dbname=p"},
        {"password=a\\ bXYZ host=db", "bXYZ", "password=(hidden) host=db"},
        {"host=db password secretXYZ99", "secretXYZ99", "host=db (hidden)"},
        {"host=db password='unterminatedXYZ", "unterminatedXYZ", "host=db password=(hidden)"},
        {"postgresql://u:p%zzXYZ@h1,h2/db?sslmode=verify-full", "p%zzXYZ",
         "postgresql://u:(hidden)@h1,h2/db?sslmode=verify-full"},
        {"postgres://u@h/db?sslmode=require&password=qXYZ&x=1", "qXYZ",
         "postgres://u@h/db?sslmode=require&password=(hidden)&x=1"},
        {"host=db user=nopw", nullptr, "host=db user=nopw"},
    };
    for (const Case& c : cases) {
        std::string got = redact_dsn(c.dsn);
        ck_assert_msg(got == c.want, "redact_dsn(%s): got '%s', want '%s'", c.dsn, got.c_str(), c.want);
        std::vector<std::string> sec = dsn_secrets(c.dsn);
        if (!c.secret) {
            ck_assert_msg(sec.empty(), "%s: got %zu secrets, want none", c.dsn, sec.size());
            continue;
        }
        ck_assert_msg(!sec.empty(), "%s: got no secret", c.dsn);
        std::string msg = std::string("invalid token: \"") + sec[0] + "\"";
        ck_assert_msg(scrub_secrets(msg, sec).find(c.secret) == std::string::npos,
                      "%s: scrubbed message still holds %s", c.dsn, c.secret);
    }
    ck_assert_msg(scrub_secrets("a e e", {"e"}) == "a (hidden) (hidden)", "one-byte secret: got '%s'",
                  scrub_secrets("a e e", {"e"}).c_str());
}
END_TEST

// Log values: bare tokens as they are, the rest quoted on one line.
START_TEST(log_values) {
    const char* cases[][2] = {{"acme-1.example", "acme-1.example"},
                              {"", "\"\""},
                              {"a b", "\"a b\""},
                              {"say \"x\\y\"\r\n", "\"say \\\"x\\\\y\\\"\\x0d\\x0a\""}};
    for (const auto& c : cases) {
        std::string got = kv_value(c[0]);
        ck_assert_msg(got == c[1], "kv_value(%s): got %s, want %s", c[0], got.c_str(), c[1]);
    }
    std::string cut = kv_value(std::string(2000, 'a'));
    ck_assert_msg(cut.size() == kMaxLogValue + 5 && cut.substr(cut.size() - 4) == "...\"",
                  "long value: got %zu bytes", cut.size());
    std::string line = KvLine("applied").num("version", 7).flag("forced", false).add("why", "x y").str();
    ck_assert_msg(line == "event=applied version=7 forced=no why=\"x y\"", "got %s", line.c_str());
}
END_TEST

// The reconnect pause doubles from the interval up to its cap.
START_TEST(backoff_doubles_to_cap) {
    struct {
        int backoff, interval, want;
    } cases[] = {{5, 5, 10}, {10, 5, 20}, {20, 5, 30}, {30, 5, 30}, {2, 2, 4}, {8, 2, 12},
                 {12, 2, 12}, {30, 30, 60}, {60, 30, 60}, {600, 600, 600}, {1, 1, 2}, {4, 1, 6}};
    for (const auto& c : cases) {
        int got = next_backoff(c.backoff, c.interval);
        ck_assert_msg(got == c.want, "next_backoff(%d, %d): got %d, want %d", c.backoff, c.interval, got,
                      c.want);
    }
}
END_TEST

int main() {
    Suite* s = suite_create("sync");
    TCase* tc = tcase_create("sync");
    tcase_add_test(tc, good_row_is_active_and_written);
    tcase_add_test(tc, control_characters_deactivate);
    tcase_add_test(tc, values_that_do_not_read_back);
    tcase_add_test(tc, core_rules_apply);
    tcase_add_test(tc, disabled_bad_id_and_unknown_columns);
    tcase_add_test(tc, drop_guard);
    tcase_add_test(tc, grace_keeps_then_expires);
    tcase_add_test(tc, state_round_trip);
    tcase_add_test(tc, sync_config_keys);
    tcase_add_test(tc, dsn_password_hidden);
    tcase_add_test(tc, log_values);
    tcase_add_test(tc, backoff_doubles_to_cap);
    suite_add_tcase(s, tc);
    return prm::test::run_suites({s});
}
