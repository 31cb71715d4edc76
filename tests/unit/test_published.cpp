// test_published.cpp - the published-credentials stamp (issue 14 point 5).
//
// Rows: SHA-256 against the FIPS 180-4 examples; the stamp parser; a
// partner whose stamp line matches routes, one missing from the stamp, one
// whose password changed since the stamp was written, and every partner
// when the stamp file is missing, wait (reason waiting-for-tables in
// decide()); tables_dir empty turns the check off; the writer
// (src/tables/stamp.cpp) round-trips, is mode 0640 and holds no password.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <check.h>

#include "core/decide.hpp"
#include "core/published.hpp"
#include "core/sha256.hpp"
#include "helpers.hpp"
#include "suites.hpp"
#include "tables/stamp.hpp"
#include "tempdir.hpp"

using namespace prm;

namespace {

// Assert GOT == WANT with both in the message.
void expect_eq(const std::string& got, const std::string& want, const char* what) {
    ck_assert_msg(got == want, "%s: got '%s', want '%s'", what, got.c_str(), want.c_str());
}

const char* kTwo =
    "[acme]\nhost = relay.acme.example\nport = 587\nusername = acme-user\n"
    "password = acme-secret\nsender = news@acme.example\n\n"
    "[beta]\nhost = relay.beta.example\nport = 587\nusername = beta-user\n"
    "password = beta-secret\nsender = news@beta.example\n";

// A snapshot of PARTNERS with tables_dir = DIR, marked against its stamp.
std::shared_ptr<Snapshot> marked(const std::string& partners, const std::string& dir,
                                 Diags& warnings) {
    auto s = test::snapshot_from(partners, "tables_dir = " + dir + "\n");
    mark_waiting(s->partners, s->config, warnings);
    return s;
}

// Publish every active partner of PARTNERS into DIR, as the tables tool does.
void publish(const std::string& partners, const std::string& dir) {
    auto s = test::snapshot_from(partners);
    std::vector<PublishedPartner> pub;
    for (const Partner& p : s->partners.partners)
        if (p.active) pub.push_back({p.id, credential_material(p)});
    expect_eq(write_stamp(dir, pub, ""), "", "write_stamp");
}

// Decide a message of PARTNER in category custom.
Decision decide_for(const Snapshot& snap, const std::string& partner) {
    MessageFacts m;
    m.queue_id = "Q1";
    m.client_addr = "127.0.0.1";
    m.daemon_name = "smtpd";
    m.mail_from = "<app@platform.example>";
    m.rcpts = {"<jane@client.example>"};
    m.headers = {{"From", "\"Acme\" <app@platform.example>"},
                 {"X-Partner-Id", partner},
                 {"X-Email-Category", "custom"}};
    return decide(snap, m);
}

}  // namespace

START_TEST(sha256_known_answers) {
    expect_eq(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
              "empty");
    expect_eq(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
              "abc");
    expect_eq(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "two blocks");
    expect_eq(sha256_hex(std::string(1000000, 'a')),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "a million a");
}
END_TEST

START_TEST(stamp_parse) {
    std::string digest(64, 'a');
    Stamp s = parse_stamp("# comment\nsalt 00112233445566778899aabbccddeeff\nacme " + digest +
                          "\nBAD-ID " + digest + "\nbeta short\nbeta\n\ngamma " + digest);
    ck_assert(s.ok);
    expect_eq(s.salt, "00112233445566778899aabbccddeeff", "salt");
    ck_assert_uint_eq(s.digests.size(), 2);
    ck_assert(s.digests.count("acme") && s.digests.count("gamma"));
    Stamp none = parse_stamp("acme " + digest + "\n");
    ck_assert_msg(!none.ok, "a stamp without a salt line is not a stamp");
}
END_TEST

START_TEST(published_partners_route) {
    test::TempDir tmp("prm-published");
    const std::string& dir = tmp.path();
    publish(kTwo, dir);
    Diags w;
    auto s = marked(kTwo, dir, w);
    ck_assert_msg(w.empty(), "no waiting warning: %s", w.empty() ? "" : w[0].str().c_str());
    ck_assert_uint_eq(waiting_count(s->partners), 0);
    Decision d = decide_for(*s, "acme");
    ck_assert_msg(d.route == Route::partner, "published partner routed, got %s", d.reason.c_str());
}
END_TEST

START_TEST(partner_added_after_the_tables_waits) {
    test::TempDir tmp("prm-published");
    const std::string& dir = tmp.path();
    publish("[acme]\nhost = relay.acme.example\nport = 587\nusername = acme-user\n"
            "password = acme-secret\nsender = news@acme.example\n", dir);
    Diags w;
    auto s = marked(kTwo, dir, w);
    ck_assert(!s->partners.find("acme")->waiting);
    const Partner* beta = s->partners.find("beta");
    ck_assert(beta->active && beta->waiting);
    ck_assert_msg(beta->wait_reason.find("not in") != std::string::npos, "%s", beta->wait_reason.c_str());
    ck_assert_uint_eq(w.size(), 1);
    ck_assert_msg(w[0].message.find("1 active partner waits for partner-relay-tables: beta") == 0,
                  "got %s", w[0].message.c_str());
    Decision d = decide_for(*s, "beta");
    ck_assert_msg(d.route == Route::global && d.reason == "waiting-for-tables", "got %s %s",
                  route_name(d.route), d.reason.c_str());
}
END_TEST

START_TEST(password_change_waits_until_published) {
    test::TempDir tmp("prm-published");
    const std::string& dir = tmp.path();
    publish(kTwo, dir);
    std::string changed = kTwo;
    changed.replace(changed.find("acme-secret"), 11, "acme-newpass");
    Diags w;
    auto s = marked(changed, dir, w);
    const Partner* acme = s->partners.find("acme");
    ck_assert(acme->waiting && !s->partners.find("beta")->waiting);
    ck_assert_msg(acme->wait_reason.find("changed") != std::string::npos, "%s", acme->wait_reason.c_str());
    // Publishing the new password ends the wait.
    publish(changed, dir);
    Diags w2;
    auto s2 = marked(changed, dir, w2);
    ck_assert_uint_eq(waiting_count(s2->partners), 0);
}
END_TEST

START_TEST(missing_stamp_all_wait) {
    test::TempDir tmp("prm-published");
    const std::string& dir = tmp.path();
    Diags w;
    auto s = marked(kTwo, dir, w);
    ck_assert_uint_eq(waiting_count(s->partners), 2);
    ck_assert_uint_eq(w.size(), 1);
    ck_assert_msg(w[0].message.find("2 active partners wait for partner-relay-tables: acme, beta") == 0 &&
                      w[0].message.find("does not exist") != std::string::npos,
                  "got %s", w[0].message.c_str());
    // tables_dir empty: no check at all.
    auto off = test::snapshot_from(kTwo, "tables_dir =\n");
    Diags w2;
    mark_waiting(off->partners, off->config, w2);
    ck_assert(w2.empty() && waiting_count(off->partners) == 0);
}
END_TEST

START_TEST(stamp_file_mode_and_no_secret) {
    test::TempDir tmp("prm-published");
    const std::string& dir = tmp.path();
    publish(kTwo, dir);
    struct stat st {};
    ck_assert_int_eq(stat((dir + "/published").c_str(), &st), 0);
    ck_assert_msg((st.st_mode & 07777) == 0640, "mode %o", st.st_mode & 07777);
    std::ifstream f(dir + "/published");
    std::stringstream text;
    text << f.rdbuf();
    ck_assert(text.str().find("acme-secret") == std::string::npos);
    ck_assert(text.str().find("acme-user") == std::string::npos);
    // A new salt per write: the same partners give different lines.
    std::string first = text.str();
    publish(kTwo, dir);
    std::ifstream g(dir + "/published");
    std::stringstream again;
    again << g.rdbuf();
    ck_assert(first != again.str());
}
END_TEST

Suite* suite_published() {
    Suite* s = suite_create("published");
    TCase* tc = tcase_create("stamp");
    tcase_add_test(tc, sha256_known_answers);
    tcase_add_test(tc, stamp_parse);
    tcase_add_test(tc, published_partners_route);
    tcase_add_test(tc, partner_added_after_the_tables_waits);
    tcase_add_test(tc, password_change_waits_until_published);
    tcase_add_test(tc, missing_stamp_all_wait);
    tcase_add_test(tc, stamp_file_mode_and_no_secret);
    suite_add_tcase(s, tc);
    return s;
}
