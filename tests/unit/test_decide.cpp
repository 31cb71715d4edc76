// test_decide.cpp - suite_decide: the routing decision and its edit list.
//
// Every decision made here goes through run(), which also checks the
// invariants that must hold for any message: no edit ever changes a route
// header (only deletions), deletions come first and in descending index
// order per name, the category tag is added exactly once, and the log line
// never contains the partner password.
#include <algorithm>
#include <string>
#include <vector>

#include "core/decide.hpp"
#include "core/rfc5322.hpp"
// check.h defines a macro "fail": include it after the standard headers.
#include "helpers.hpp"
#include "suites.hpp"

using namespace prm;

namespace {

// The partner table used by most tests: acme (all categories), narrow
// (two categories), sleepy (no password: inactive), shop (matched by
// envelope sender domain), smtps (implicit TLS port).
const std::string kPartners =
    std::string(test::kAcme) +
    "[narrow]\nhost = relay.narrow.example\nport = 587\nusername = n\npassword = narrow-secret\n"
    "sender = mail@narrow.example\ncategories = aml-alert, finance-report\n"
    "[sleepy]\nhost = relay.sleepy.example\nport = 587\nusername = s\nsender = s@sleepy.example\n"
    "[shop]\nhost = relay.shop.example\nport = 2587\nusername = shop\npassword = shop-secret\n"
    "sender = orders@shop.example\nmatch_senders = @shop.example\n"
    "[smtps]\nhost = relay.smtps.example\nport = 465\nusername = t\npassword = smtps-secret\n"
    "sender = t@smtps.example\n";

const char* const kSecrets[] = {"acme-secret", "narrow-secret", "shop-secret", "smtps-secret"};

const char* const kEligible[] = {
    "verification-link", "verification-url", "kyb-info-request", "kyb-expiration-extension",
    "custom", "verification-result", "aml-alert", "expiration-reminder", "webhook-failure",
    "finance-report", "admin-notification"};

// The message facts of a trusted local app submission with HEADERS.
MessageFacts facts(std::vector<Header> headers, std::string mail_from = "<app@platform.example>") {
    MessageFacts m;
    m.queue_id = "4XyZ1";
    m.client_addr = "127.0.0.1";
    m.daemon_name = "smtpd";
    m.mail_from = std::move(mail_from);
    m.rcpts = {"<jane@client.example>"};
    m.headers = std::move(headers);
    return m;
}

// Headers of an app message for partner PARTNER and category CATEGORY.
std::vector<Header> app_headers(const std::string& partner, const std::string& category) {
    std::vector<Header> h = {{"From", "\"Acme Team\" <app@platform.example>"},
                             {"To", "jane@client.example"},
                             {"Subject", "hello"}};
    if (!partner.empty()) h.push_back({"X-Partner-Id", partner});
    if (!category.empty()) h.push_back({"X-Email-Category", category});
    return h;
}

// The edits of D as describe() lines, one per line.
std::string lines(const Decision& d) {
    std::string out;
    for (const Edit& e : d.edits) out += describe(e) + "\n";
    return out;
}

// Check the invariants every decision must keep (see the file comment).
void check_invariants(const Snapshot& snap, const Decision& d) {
    const Config& cfg = snap.config;
    bool adding = false;
    std::string last_name;
    int last_index = 0, tags = 0;
    for (const Edit& e : d.edits) {
        ck_assert_msg(!(e.op == Edit::Op::change_header && header_name_equal(e.name, cfg.route_header)),
                      "got change of route header %s, want only deletions", e.name.c_str());
        if (e.op == Edit::Op::delete_header) {
            ck_assert_msg(!adding, "got deletion %s after an addition, want deletions first",
                          describe(e).c_str());
            if (header_name_equal(e.name, last_name))
                ck_assert_msg(e.index < last_index, "got %s after index %d, want descending",
                              describe(e).c_str(), last_index);
            last_name = e.name;
            last_index = e.index;
        } else {
            adding = true;
        }
        if (e.op == Edit::Op::add_header && header_name_equal(e.name, cfg.category_header)) ++tags;
    }
    // A refused message (reject, tempfail) gets no edit at all.
    int want_tags = d.verdict == Decision::Verdict::accept ? 1 : 0;
    ck_assert_msg(tags == want_tags, "got %d category tags, want %d", tags, want_tags);
    if (d.verdict != Decision::Verdict::accept)
        ck_assert_msg(d.edits.empty(), "got %zu edits on a refused message, want none", d.edits.size());
    std::string log = d.log_line("QID");
    for (const char* s : kSecrets)
        ck_assert_msg(log.find(s) == std::string::npos, "got password in log line: %s", log.c_str());
    ck_assert_msg(log.find('\n') == std::string::npos, "got a newline in log line %s", log.c_str());
}

// Decide and check the invariants.
Decision run(const Snapshot& snap, const MessageFacts& m) {
    Decision d = decide(snap, m);
    check_invariants(snap, d);
    return d;
}

// Assert route and reason.
void expect_route(const Decision& d, Route route, const std::string& reason, const char* what) {
    ck_assert_msg(d.route == route && d.reason == reason, "%s: got route=%s reason=%s, want %s %s",
                  what, route_name(d.route), d.reason.c_str(), route_name(route), reason.c_str());
}

// The first edit of D with operation OP on header NAME ("" for the
// envelope), or a null pointer.
const Edit* find_edit(const Decision& d, Edit::Op op, const std::string& name) {
    for (const Edit& e : d.edits)
        if (e.op == op && header_name_equal(e.name, name)) return &e;
    return nullptr;
}

// Assert the exact edit list.
void expect_edits(const Decision& d, const std::string& want, const char* what) {
    std::string got = lines(d);
    ck_assert_msg(got == want, "%s: got edits\n%s\nwant\n%s", what, got.c_str(), want.c_str());
}

}  // namespace

START_TEST(eligible_categories_use_partner_relay) {
    auto snap = test::snapshot_from(kPartners);
    for (const char* cat : kEligible) {
        Decision d = run(*snap, facts(app_headers("acme", cat)));
        expect_route(d, Route::partner, "partner-relay", cat);
        ck_assert_msg(d.category == cat && d.partner == "acme", "got category=%s partner=%s, want %s acme",
                      d.category.c_str(), d.partner.c_str(), cat);
        std::string want = "delete X-Partner-Id[1]\ndelete X-Email-Category[1]\n"
                           "add X-Email-Category: " + std::string(cat) +
                           "\nadd X-Partner-Relay-Route: partner:[127.0.0.1]:2525\n"
                           "change From[1]: \"Acme Team\" <news@acme.example>\n"
                           "envelope-from <news@acme.example>\n";
        expect_edits(d, want, cat);
    }
}
END_TEST

START_TEST(implicit_tls_partner_uses_smtps_transport) {
    auto snap = test::snapshot_from(kPartners);
    Decision d = run(*snap, facts(app_headers("smtps", "custom")));
    expect_route(d, Route::partner, "partner-relay", "smtps");
    const Edit* route = find_edit(d, Edit::Op::add_header, "X-Partner-Relay-Route");
    ck_assert_msg(route && route->value == "partner-smtps:[relay.smtps.example]:465",
                  "got route edit %s, want partner-smtps:[relay.smtps.example]:465",
                  route ? describe(*route).c_str() : "(none)");
}
END_TEST

START_TEST(global_and_unclassified_categories_go_global) {
    auto snap = test::snapshot_from(kPartners, "[categories]\naccount-security = global\n");
    const char* rows[] = {"account-security", "unclassified"};
    for (const char* cat : rows) {
        Decision d = run(*snap, facts(app_headers("acme", cat)));
        expect_route(d, Route::global, "category-not-eligible", cat);
        ck_assert_msg(d.category == cat, "got category %s, want %s", d.category.c_str(), cat);
        expect_edits(d, "delete X-Partner-Id[1]\ndelete X-Email-Category[1]\nadd X-Email-Category: " +
                            std::string(cat) + "\n", cat);
    }
}
END_TEST

START_TEST(category_header_trimmed_and_case_insensitive) {
    auto snap = test::snapshot_from(kPartners);
    Decision d = run(*snap, facts(app_headers("acme", "  AML-Alert \t")));
    ck_assert_msg(d.category == "aml-alert", "got category '%s', want aml-alert", d.category.c_str());
    expect_route(d, Route::partner, "partner-relay", "mixed case");
}
END_TEST

START_TEST(unknown_category_header_falls_to_rules) {
    auto snap = test::snapshot_from(kPartners, "[classify]\nfinance-report = header:Subject:^monthly\n");
    auto h = app_headers("acme", "no-such-category");
    h[2].value = "Monthly statement";
    Decision d = run(*snap, facts(h));
    ck_assert_msg(d.category == "finance-report", "got category %s, want finance-report (rule)",
                  d.category.c_str());
    h[2].value = "hello";
    d = run(*snap, facts(h));
    ck_assert_msg(d.category == "unclassified", "got category %s, want unclassified", d.category.c_str());
    expect_route(d, Route::global, "category-not-eligible", "no rule matched");
}
END_TEST

START_TEST(rule_by_header_first_match_wins) {
    auto snap = test::snapshot_from(kPartners,
                                    "[classify]\naml-alert = header:X-Kind:alert\n"
                                    "custom = header:X-Kind:.*\n");
    auto h = app_headers("acme", "");
    h.push_back({"X-Kind", "note"});
    h.push_back({"x-kind", "aml alert"});  // a later copy of the same header is tested too
    Decision d = run(*snap, facts(h));
    ck_assert_msg(d.category == "aml-alert", "got category %s, want aml-alert (first rule, 2nd copy)",
                  d.category.c_str());
    h.pop_back();
    d = run(*snap, facts(h));
    ck_assert_msg(d.category == "custom", "got category %s, want custom (second rule)", d.category.c_str());
}
END_TEST

START_TEST(rule_by_envelope_sender) {
    auto snap = test::snapshot_from(kPartners, "[classify]\nwebhook-failure = sender:^hooks@\n");
    Decision d = run(*snap, facts(app_headers("acme", ""), "<hooks@platform.example>"));
    ck_assert_msg(d.category == "webhook-failure", "got category %s, want webhook-failure",
                  d.category.c_str());
    expect_route(d, Route::partner, "partner-relay", "sender rule");
    d = run(*snap, facts(app_headers("acme", ""), "<app@platform.example>"));
    ck_assert_msg(d.category == "unclassified", "got category %s, want unclassified", d.category.c_str());
}
END_TEST

START_TEST(partner_narrowing_opts_out) {
    auto snap = test::snapshot_from(kPartners);
    Decision d = run(*snap, facts(app_headers("narrow", "custom")));
    expect_route(d, Route::global, "category-opted-out", "narrow/custom");
    ck_assert_msg(d.partner == "narrow", "got partner %s, want narrow", d.partner.c_str());
    d = run(*snap, facts(app_headers("narrow", "aml-alert")));
    expect_route(d, Route::partner, "partner-relay", "narrow/aml-alert");
}
END_TEST

START_TEST(inactive_and_unknown_partners_go_global) {
    auto snap = test::snapshot_from(kPartners);
    Decision d = run(*snap, facts(app_headers("sleepy", "custom")));
    expect_route(d, Route::global, "inactive-partner", "sleepy");
    ck_assert_msg(d.partner == "sleepy", "got partner %s, want sleepy", d.partner.c_str());
    d = run(*snap, facts(app_headers("nobody", "custom")));
    expect_route(d, Route::global, "unknown-partner", "nobody");
    d = run(*snap, facts(app_headers("bad id/\x01", "custom")));
    expect_route(d, Route::global, "unknown-partner", "malformed id");
    ck_assert_msg(d.partner.empty(), "got partner '%s' for a malformed id, want empty", d.partner.c_str());
}
END_TEST

START_TEST(partner_by_match_senders) {
    auto snap = test::snapshot_from(kPartners);
    Decision d = run(*snap, facts(app_headers("", "custom"), "<billing@shop.example>"));
    expect_route(d, Route::partner, "partner-relay", "match_senders");
    ck_assert_msg(d.partner == "shop", "got partner %s, want shop", d.partner.c_str());
    d = run(*snap, facts(app_headers("", "custom"), "<app@platform.example>"));
    expect_route(d, Route::global, "no-partner", "no header, no mapping");
}
END_TEST

START_TEST(conflicting_partner_headers_go_global) {
    auto snap = test::snapshot_from(kPartners);
    auto h = app_headers("acme", "custom");
    h.push_back({"x-partner-id", "ACME "});  // same id: no conflict
    expect_route(run(*snap, facts(h)), Route::partner, "partner-relay", "agreeing copies");
    h.push_back({"X-Partner-Id", "shop"});
    Decision d = run(*snap, facts(h));
    expect_route(d, Route::global, "conflicting-partner-headers", "disagreeing copies");
}
END_TEST

START_TEST(untrusted_control_headers_deleted_and_ignored) {
    auto snap = test::snapshot_from(kPartners);
    std::vector<Header> h = {{"X-Partner-Relay-Route", "partner:[evil.example]:25"},
                             {"From", "App <app@platform.example>"},
                             {"X-Partner-Id", "acme"},
                             {"x-email-category", "custom"},
                             {"X-PARTNER-RELAY-ROUTE", "partner:[evil.example]:26"},
                             {"X-Partner-Id", "acme"},
                             {"X-Email-Category", "aml-alert"}};
    MessageFacts m = facts(h);
    m.client_addr = "192.0.2.7";
    Decision d = run(*snap, m);
    expect_route(d, Route::global, "untrusted-submitter", "untrusted");
    ck_assert_msg(!d.trusted && d.partner.empty() && d.category == "unclassified",
                  "got trusted=%d partner=%s category=%s, want 0, empty, unclassified", d.trusted,
                  d.partner.c_str(), d.category.c_str());
    expect_edits(d,
                 "delete X-Partner-Relay-Route[2]\ndelete X-Partner-Relay-Route[1]\n"
                 "delete X-Partner-Id[2]\ndelete X-Partner-Id[1]\n"
                 "delete X-Email-Category[2]\ndelete X-Email-Category[1]\n"
                 "add X-Email-Category: unclassified\n",
                 "untrusted");
}
END_TEST

START_TEST(trust_sources) {
    struct Row {
        const char* what;
        const char* extra;
        const char* addr;
        const char* login;
        bool local;
        bool want;
    } rows[] = {
        {"loopback v4", "", "127.0.0.1", "", false, true},
        {"network v4", "trusted_networks = 10.1.0.0/16\n", "10.1.2.3", "", false, true},
        {"outside v4", "trusted_networks = 10.1.0.0/16\n", "10.2.0.1", "", false, false},
        {"network v6", "trusted_networks = 2001:db8::/32\n", "IPv6:2001:db8::25", "", false, true},
        {"outside v6", "trusted_networks = 2001:db8::/32\n", "2001:db9::1", "", false, false},
        {"sasl", "", "198.51.100.1", "app-user", false, true},
        {"sasl disabled", "trust_authenticated = no\n", "198.51.100.1", "app-user", false, false},
        {"local", "", "", "", true, true},
        {"nothing", "", "198.51.100.1", "", false, false},
    };
    for (const Row& r : rows) {
        auto snap = test::snapshot_from(kPartners, r.extra);
        MessageFacts m = facts(app_headers("acme", "custom"));
        m.client_addr = r.addr;
        m.auth_login = r.login;
        m.local_submission = r.local;
        Decision d = run(*snap, m);
        ck_assert_msg(d.trusted == r.want, "%s: got trusted=%d, want %d", r.what, d.trusted, r.want);
        expect_route(d, r.want ? Route::partner : Route::global,
                     r.want ? "partner-relay" : "untrusted-submitter", r.what);
    }
}
END_TEST

// Issue 17 finding 7: a CONNECT without an address (unknown family) is
// local submission on Sendmail only. On Postfix it is an smtpd on a UNIX
// socket whose {client_addr} is the placeholder 127.0.0.1: trusted_networks
// does not apply, SASL (when allowed) does.
START_TEST(unknown_family_trust) {
    struct Row {
        const char* what;
        const char* extra;
        const char* addr;
        const char* login;
        bool want;
    } rows[] = {
        {"postfix unix smtpd, placeholder loopback", "", "127.0.0.1", "", false},
        {"postfix unix smtpd, no address", "", "", "", false},
        {"postfix unix smtpd, trusted 0.0.0.0/0", "trusted_networks = 0.0.0.0/0, ::/0\n", "127.0.0.1", "", false},
        {"postfix unix smtpd, sasl", "", "127.0.0.1", "app-user", true},
        {"postfix unix smtpd, sasl not trusted", "trust_authenticated = no\n", "127.0.0.1", "app-user", false},
        {"sendmail local submission", "mta = sendmail\n", "", "", true},
    };
    for (const Row& r : rows) {
        auto snap = test::snapshot_from(kPartners, r.extra);
        MessageFacts m = facts(app_headers("acme", "custom"));
        m.client_addr = r.addr;
        m.auth_login = r.login;
        m.unknown_family = true;
        Decision d = run(*snap, m);
        ck_assert_msg(d.trusted == r.want, "%s: got trusted=%d, want %d", r.what, d.trusted, r.want);
        if (!r.want) expect_route(d, Route::global, "untrusted-submitter", r.what);
    }
}
END_TEST

// Which CONNECT is Postfix cleanup's non-SMTP emulation.
START_TEST(non_smtp_connect_rows) {
    struct Row {
        const char* name;
        const char* addr;
        unsigned port;
        bool want;
    } rows[] = {
        {"localhost", "127.0.0.1", 0, true},   {"localhost", "::1", 0, true},
        {"localhost", "127.0.0.1", 25, false}, {"localhost", "10.0.0.1", 0, false},
        {"app.example", "127.0.0.1", 0, false}, {"", "127.0.0.1", 0, false},
        {"localhost", "", 0, false},
    };
    for (const Row& r : rows)
        ck_assert_msg(non_smtp_connect(r.name, r.addr, r.port) == r.want, "%s %s %u: want %d", r.name,
                      r.addr, r.port, r.want);
}
END_TEST

// A message as it comes back from the partner transport to the fallback
// listener: partner From and sender, our tag, maybe a stale route header.
static MessageFacts fallback_facts(const std::string& category) {
    MessageFacts m = facts({{"From", "\"Acme Team\" <news@acme.example>"},
                            {"X-Partner-Id", "acme"},
                            {"X-Email-Category", category},
                            {"X-Partner-Relay-Route", "partner:[127.0.0.1]:2525"}},
                           "<news@acme.example>");
    m.daemon_name = "FALLBACK";
    return m;
}

START_TEST(fallback_restores_platform_sender) {
    auto snap = test::snapshot_from(kPartners);
    Decision d = run(*snap, fallback_facts("custom"));
    expect_route(d, Route::global, "fallback", "fallback");
    ck_assert_msg(d.fallback && d.partner == "acme" && d.category == "custom" && d.note.empty(),
                  "got fallback=%d partner=%s category=%s note=%s, want 1 acme custom ''", d.fallback,
                  d.partner.c_str(), d.category.c_str(), d.note.c_str());
    expect_edits(d,
                 "delete X-Partner-Relay-Route[1]\ndelete X-Partner-Id[1]\n"
                 "delete X-Email-Category[1]\nadd X-Email-Category: custom\n"
                 "change From[1]: \"Acme Team\" <noreply@platform.example>\n"
                 "envelope-from <noreply@platform.example>\n",
                 "fallback");
    std::string log = d.log_line("QID");
    ck_assert_msg(log.find(" fallback=yes") != std::string::npos, "got log %s, want fallback=yes",
                  log.c_str());
}
END_TEST

START_TEST(fallback_per_category_sender_and_unknown_category) {
    auto snap = test::snapshot_from(kPartners, "[fallback_senders]\naml-alert = aml@platform.example\n");
    Decision d = run(*snap, fallback_facts("aml-alert"));
    ck_assert_msg(d.edits.back().value == "aml@platform.example", "got %s, want aml@platform.example",
                  describe(d.edits.back()).c_str());
    d = run(*snap, fallback_facts("not-a-category"));
    ck_assert_msg(d.category == "unclassified", "got category %s, want unclassified", d.category.c_str());
    ck_assert_msg(d.edits.back().value == "noreply@platform.example", "got %s, want noreply@",
                  describe(d.edits.back()).c_str());
}
END_TEST

START_TEST(fallback_without_rewritable_from_still_changes_sender) {
    auto snap = test::snapshot_from(kPartners);
    MessageFacts m = fallback_facts("custom");
    m.headers.push_back({"From", "other@acme.example"});
    Decision d = run(*snap, m);
    ck_assert_msg(d.note == "from-not-rewritten", "got note '%s', want from-not-rewritten", d.note.c_str());
    ck_assert_msg(describe(d.edits.back()) == "envelope-from <noreply@platform.example>",
                  "got last edit %s, want the envelope change", describe(d.edits.back()).c_str());
    ck_assert_msg(d.log_line("Q").find(" note=from-not-rewritten") != std::string::npos,
                  "got log %s, want note=from-not-rewritten", d.log_line("Q").c_str());
}
END_TEST

START_TEST(fallback_never_routes_even_untrusted_or_shadow) {
    for (const char* extra : {"", "mode = shadow\n"}) {
        auto snap = test::snapshot_from(kPartners, extra);
        MessageFacts m = fallback_facts("verification-link");
        m.client_addr = "192.0.2.1";
        Decision d = run(*snap, m);
        expect_route(d, Route::global, "fallback", extra);
        bool envelope = !d.edits.empty() && d.edits.back().op == Edit::Op::change_sender;
        ck_assert_msg(envelope, "mode '%s': got no envelope change on the fallback listener", extra);
        for (const Edit& e : d.edits)
            ck_assert_msg(!(e.op == Edit::Op::add_header && e.name == "X-Partner-Relay-Route"),
                          "got a route header added on the fallback listener");
    }
}
END_TEST

// Issue 17 finding 5: the fallback listener restores only mail whose
// envelope sender is a partner's sender (active or not: mail queued before a
// partner was deactivated is still restored); anything else is tempfailed
// with no edit (a removed partner's queued mail is deferred, never bounced).
START_TEST(fallback_only_partner_senders) {
    struct Row {
        const char* what;
        const char* sender;
        const char* partner;  // nullptr: refused
    } rows[] = {
        {"active partner", "<news@acme.example>", "acme"},
        {"active partner, domain case", "<news@ACME.example>", "acme"},
        {"inactive partner (grace)", "<s@sleepy.example>", "sleepy"},
        {"platform sender", "<app@platform.example>", nullptr},
        {"match_senders domain is no sender", "<other@shop.example>", nullptr},
        {"null sender", "<>", nullptr},
        {"broken sender", "<not an address", nullptr},
        {"removed partner", "<gone@removed.example>", nullptr},
    };
    auto snap = test::snapshot_from(kPartners);
    for (const Row& r : rows) {
        MessageFacts m = fallback_facts("custom");
        m.mail_from = r.sender;
        m.client_addr = "127.0.0.1";
        Decision d = run(*snap, m);
        ck_assert_msg(d.fallback && d.route == Route::global, "%s: got fallback=%d route=%s", r.what,
                      d.fallback, route_name(d.route));
        if (r.partner) {
            ck_assert_msg(d.verdict == Decision::Verdict::accept && d.reason == "fallback" &&
                              d.partner == r.partner && !d.edits.empty() &&
                              describe(d.edits.back()) == "envelope-from <noreply@platform.example>",
                          "%s: got verdict %d reason %s partner %s", r.what, static_cast<int>(d.verdict),
                          d.reason.c_str(), d.partner.c_str());
        } else {
            ck_assert_msg(d.verdict == Decision::Verdict::tempfail && d.edits.empty() &&
                              d.reason == "fallback-not-partner-sender" && d.reply_code == "451" &&
                              d.reply_xcode == "4.7.1" && d.partner.empty() &&
                              d.log_line("Q").find(" action=tempfail") != std::string::npos,
                          "%s: got verdict %d, %zu edits, reason %s, reply %s %s, log %s", r.what,
                          static_cast<int>(d.verdict), d.edits.size(), d.reason.c_str(),
                          d.reply_code.c_str(), d.reply_xcode.c_str(), d.log_line("Q").c_str());
        }
    }
}
END_TEST

START_TEST(route_header_never_changed) {
    auto snap = test::snapshot_from(kPartners);
    auto shadow = test::snapshot_from(kPartners, "mode = shadow\n");
    std::vector<Header> forged = {{"X-Partner-Relay-Route", "partner:[evil]:25"},
                                  {"From", "A <a@platform.example>"},
                                  {"X-Partner-Id", "acme"},
                                  {"X-Email-Category", "custom"},
                                  {"x-partner-relay-route", "partner:[evil]:26"}};
    std::vector<MessageFacts> table = {facts(forged), facts(app_headers("acme", "custom")),
                                       facts(app_headers("narrow", "custom")), fallback_facts("custom")};
    table.push_back(facts(forged));
    table.back().client_addr = "203.0.113.5";
    int checked = 0;
    for (const Snapshot* s : {snap.get(), shadow.get()})
        for (const MessageFacts& m : table) {
            Decision d = run(*s, m);  // run() asserts: no change of a route header
            int deletes = 0;
            for (const Edit& e : d.edits)
                if (e.op == Edit::Op::delete_header && header_name_equal(e.name, "X-Partner-Relay-Route"))
                    ++deletes;
            int want = static_cast<int>(std::count_if(m.headers.begin(), m.headers.end(), [](const Header& h) {
                return header_name_equal(h.name, "X-Partner-Relay-Route");
            }));
            ck_assert_msg(deletes == want, "got %d route deletions, want %d", deletes, want);
            ++checked;
        }
    ck_assert_msg(checked == 10, "got %d decisions, want 10", checked);
}
END_TEST

START_TEST(from_rewrite_keeps_display_name) {
    struct Row {
        const char* from;
        const char* want;
    } rows[] = {
        {"\"Doe, Jane (Acme)\" <app@platform.example>", "\"Doe, Jane (Acme)\" <news@acme.example>"},
        {"=?UTF-8?Q?Acme_V=C3=A9rification?= <app@platform.example>",
         "=?UTF-8?Q?Acme_V=C3=A9rification?= <news@acme.example>"},
        {"\"Acme Team\"\n\t<app@platform.example>", "\"Acme Team\"\n\t<news@acme.example>"},
        {"app@platform.example (Acme)", "news@acme.example (Acme)"},
    };
    auto snap = test::snapshot_from(kPartners);
    for (const Row& r : rows) {
        auto h = app_headers("acme", "custom");
        h[0].value = r.from;
        Decision d = run(*snap, facts(h));
        expect_route(d, Route::partner, "partner-relay", r.from);
        const Edit* e = find_edit(d, Edit::Op::change_header, "From");
        ck_assert_msg(e && e->index == 1 && e->value == r.want, "got %s, want change From[1]: %s",
                      e ? describe(*e).c_str() : "(none)", r.want);
    }
}
END_TEST

START_TEST(from_not_single_mailbox_goes_global) {
    struct Row {
        const char* what;
        std::vector<Header> froms;
    } rows[] = {
        {"no From", {}},
        {"two From", {{"From", "a@platform.example"}, {"from", "b@platform.example"}}},
        {"group", {{"From", "Team: a@platform.example;"}}},
        {"two mailboxes", {{"From", "a@platform.example, b@platform.example"}}},
        {"garbage", {{"From", "<<<"}}},
    };
    auto snap = test::snapshot_from(kPartners);
    for (const Row& r : rows) {
        std::vector<Header> h = {{"X-Partner-Id", "acme"}, {"X-Email-Category", "custom"}};
        h.insert(h.end(), r.froms.begin(), r.froms.end());
        Decision d = run(*snap, facts(h));
        expect_route(d, Route::global, "from-not-single-mailbox", r.what);
    }
}
END_TEST

START_TEST(null_sender_goes_global) {
    auto snap = test::snapshot_from(kPartners);
    Decision d = run(*snap, facts(app_headers("acme", "custom"), "<>"));
    expect_route(d, Route::global, "null-sender", "<>");
}
END_TEST

START_TEST(too_many_headers_goes_global) {
    auto snap = test::snapshot_from(kPartners);
    MessageFacts m = facts(app_headers("acme", "custom"));
    m.headers_truncated = true;
    Decision d = run(*snap, m);
    expect_route(d, Route::global, "too-many-headers", "truncated");
    ck_assert_msg(d.verdict == Decision::Verdict::accept && !d.edits.empty(),
                  "trusted truncated: got verdict %d with %zu edits, want accept with edits",
                  static_cast<int>(d.verdict), d.edits.size());
}
END_TEST

// Issue 17 finding 8: headers past kMaxHeaders are never seen (nor their
// forged control headers deleted): an untrusted client's such message is
// rejected, a trusted submitter's never (rows: trust x truncated).
START_TEST(too_many_headers_untrusted_rejected) {
    struct Row {
        const char* what;
        const char* addr;
        bool truncated;
        Decision::Verdict want;
    } rows[] = {
        {"untrusted truncated", "198.51.100.1", true, Decision::Verdict::reject},
        {"untrusted complete", "198.51.100.1", false, Decision::Verdict::accept},
        {"trusted truncated", "127.0.0.1", true, Decision::Verdict::accept},
        {"trusted complete", "127.0.0.1", false, Decision::Verdict::accept},
    };
    auto snap = test::snapshot_from(kPartners);
    for (const Row& r : rows) {
        MessageFacts m = facts(app_headers("acme", "custom"));
        m.client_addr = r.addr;
        m.headers_truncated = r.truncated;
        Decision d = run(*snap, m);
        ck_assert_msg(d.verdict == r.want, "%s: got verdict %d, want %d", r.what,
                      static_cast<int>(d.verdict), static_cast<int>(r.want));
        if (r.want != Decision::Verdict::reject) continue;
        ck_assert_msg(d.edits.empty() && d.reason == "too-many-headers" && d.reply_code == "550" &&
                          d.reply_xcode == "5.7.1" && d.log_line("Q").find(" action=reject") != std::string::npos,
                      "%s: got %zu edits reason=%s reply=%s %s log=%s", r.what, d.edits.size(),
                      d.reason.c_str(), d.reply_code.c_str(), d.reply_xcode.c_str(), d.log_line("Q").c_str());
    }
}
END_TEST

START_TEST(shadow_mode_decides_but_only_tags) {
    auto snap = test::snapshot_from(kPartners, "mode = shadow\n");
    auto h = app_headers("acme", "aml-alert");
    h.insert(h.begin(), {"X-Partner-Relay-Route", "partner:[evil]:25"});
    Decision d = run(*snap, facts(h));
    expect_route(d, Route::partner, "partner-relay", "shadow");
    ck_assert_msg(d.shadow, "got shadow=false, want true");
    expect_edits(d,
                 "delete X-Partner-Relay-Route[1]\ndelete X-Partner-Id[1]\n"
                 "delete X-Email-Category[1]\nadd X-Email-Category: aml-alert\n",
                 "shadow");
    std::string log = d.log_line("Q1");
    ck_assert_msg(log == "Q1: category=aml-alert partner=acme route=partner reason=partner-relay "
                         "trusted=yes mode=shadow",
                  "got %s", log.c_str());
}
END_TEST

START_TEST(log_line_fields) {
    auto snap = test::snapshot_from(kPartners);
    Decision d = run(*snap, facts(app_headers("acme", "finance-report")));
    std::string got = d.log_line("4XyZ1");
    std::string want = "4XyZ1: category=finance-report partner=acme route=partner reason=partner-relay trusted=yes";
    ck_assert_msg(got == want, "got %s, want %s", got.c_str(), want.c_str());
    MessageFacts m = facts(app_headers("", "custom"));
    m.client_addr = "192.0.2.1";
    got = run(*snap, m).log_line("");
    want = "NOQUEUE: category=unclassified partner=- route=global reason=untrusted-submitter trusted=no";
    ck_assert_msg(got == want, "got %s, want %s", got.c_str(), want.c_str());
}
END_TEST

START_TEST(trusted_partner_header_stripped_and_edits_exact) {
    auto snap = test::snapshot_from(kPartners);
    std::vector<Header> h = {{"x-partner-relay-route", "partner:[evil]:25"},
                             {"from", "Acme <app@platform.example>"},
                             {"X-Partner-Id", "ACME"},
                             {"X-Email-Category", "bogus"},
                             {"X-Email-Category", "kyb-info-request"}};
    Decision d = run(*snap, facts(h));
    expect_route(d, Route::partner, "partner-relay", "exact");
    expect_edits(d,
                 "delete X-Partner-Relay-Route[1]\ndelete X-Partner-Id[1]\n"
                 "delete X-Email-Category[2]\n"
                 "delete X-Email-Category[1]\nadd X-Email-Category: kyb-info-request\n"
                 "add X-Partner-Relay-Route: partner:[127.0.0.1]:2525\n"
                 "change From[1]: Acme <news@acme.example>\nenvelope-from <news@acme.example>\n",
                 "exact");
}
END_TEST

START_TEST(strip_partner_no_keeps_the_trusted_partner_header) {
    // [headers] strip_partner = no: the trusted header stays (partner and
    // global routes, and the fallback listener); untrusted copies still go.
    auto snap = test::snapshot_from(kPartners, "[headers]\nstrip_partner = no\n");
    Decision d = run(*snap, facts(app_headers("acme", "custom")));
    expect_route(d, Route::partner, "partner-relay", "keep");
    ck_assert_msg(!find_edit(d, Edit::Op::delete_header, "X-Partner-Id"),
                  "strip_partner = no: got %s", lines(d).c_str());
    d = run(*snap, facts(app_headers("acme", "unclassified")));
    ck_assert_msg(d.route == Route::global && !find_edit(d, Edit::Op::delete_header, "X-Partner-Id"),
                  "strip_partner = no, global: got %s", lines(d).c_str());
    d = run(*snap, fallback_facts("custom"));
    ck_assert_msg(!find_edit(d, Edit::Op::delete_header, "X-Partner-Id"),
                  "strip_partner = no, fallback: got %s", lines(d).c_str());
    MessageFacts m = facts(app_headers("acme", "custom"));
    m.client_addr = "192.0.2.9";
    d = run(*snap, m);
    ck_assert_msg(find_edit(d, Edit::Op::delete_header, "X-Partner-Id"),
                  "strip_partner = no, untrusted: got %s, want the header deleted", lines(d).c_str());
}
END_TEST

START_TEST(untrusted_message_classified_by_rules_only) {
    auto snap = test::snapshot_from(kPartners, "[classify]\naml-alert = header:Subject:alert\n");
    auto h = app_headers("acme", "finance-report");
    h[2].value = "AML alert";
    MessageFacts m = facts(h);
    m.client_addr = "192.0.2.9";
    Decision d = run(*snap, m);
    ck_assert_msg(d.category == "aml-alert", "got category %s, want aml-alert (header ignored)",
                  d.category.c_str());
    expect_route(d, Route::global, "untrusted-submitter", "untrusted rules");
}
END_TEST

START_TEST(global_category_beats_narrowing) {
    auto snap = test::snapshot_from(kPartners, "[categories]\naccount-security = global\n");
    Decision d = run(*snap, facts(app_headers("narrow", "account-security")));
    expect_route(d, Route::global, "category-not-eligible", "narrow/account-security");
}
END_TEST

START_TEST(empty_partner_header_falls_to_match_senders) {
    auto snap = test::snapshot_from(kPartners);
    Decision d = run(*snap, facts(app_headers(" ", "custom"), "<a@SHOP.example>"));
    expect_route(d, Route::partner, "partner-relay", "empty header");
    ck_assert_msg(d.partner == "shop", "got partner %s, want shop", d.partner.c_str());
    d = run(*snap, facts(app_headers("", "custom"), "<>"));
    expect_route(d, Route::global, "no-partner", "null sender without header");
}
END_TEST

START_TEST(bad_envelope_sender_goes_global) {
    auto snap = test::snapshot_from(kPartners);
    Decision d = run(*snap, facts(app_headers("acme", "custom"), ""));
    expect_route(d, Route::global, "bad-envelope-sender", "empty MAIL FROM");
}
END_TEST

START_TEST(fallback_daemon_name_exact) {
    auto snap = test::snapshot_from(kPartners);
    for (const char* name : {"fallback", "FALLBACK2", ""}) {
        MessageFacts m = fallback_facts("custom");
        m.daemon_name = name;
        Decision d = run(*snap, m);
        ck_assert_msg(!d.fallback, "daemon '%s': got fallback, want a submission decision", name);
    }
    auto custom = test::snapshot_from(kPartners, "fallback_daemon_name = RETRY\n");
    MessageFacts m = fallback_facts("custom");
    m.daemon_name = "RETRY";
    ck_assert_msg(run(*custom, m).fallback, "got no fallback for the configured name RETRY");
}
END_TEST

START_TEST(fallback_partner_accounting_and_header_stripped) {
    auto snap = test::snapshot_from(kPartners);
    MessageFacts m = fallback_facts("custom");
    m.mail_from = "<stranger@elsewhere.example>";
    Decision d = run(*snap, m);
    // An unknown sender is refused (issue 17 finding 5), naming nobody.
    ck_assert_msg(d.partner.empty() && d.verdict == Decision::Verdict::tempfail,
                  "got partner %s verdict %d for an unknown sender, want none, tempfail", d.partner.c_str(),
                  static_cast<int>(d.verdict));
    // A partner's sender: named for accounting, its header stripped.
    d = run(*snap, fallback_facts("custom"));
    ck_assert_msg(d.partner == "acme" && find_edit(d, Edit::Op::delete_header, "X-Partner-Id"),
                  "got partner %s, edits %s, want acme and the partner header deleted (strip_partner)",
                  d.partner.c_str(), lines(d).c_str());
}
END_TEST

START_TEST(configured_header_names) {
    auto snap = test::snapshot_from(kPartners,
                                    "[headers]\npartner = X-Tenant\ncategory = X-Kind\nroute = X-Hop\n");
    std::vector<Header> h = {{"From", "A <a@platform.example>"}, {"X-Tenant", "acme"},
                             {"X-Kind", "custom"}, {"X-Hop", "partner:[evil]:25"}};
    Decision d = run(*snap, facts(h));
    expect_route(d, Route::partner, "partner-relay", "custom names");
    expect_edits(d,
                 "delete X-Hop[1]\ndelete X-Tenant[1]\ndelete X-Kind[1]\nadd X-Kind: custom\n"
                 "add X-Hop: partner:[127.0.0.1]:2525\nchange From[1]: A <news@acme.example>\n"
                 "envelope-from <news@acme.example>\n",
                 "custom names");
}
END_TEST

START_TEST(ipv6_loopback_trusted_by_default) {
    auto snap = test::snapshot_from(kPartners);
    MessageFacts m = facts(app_headers("acme", "custom"));
    m.client_addr = "::1";
    ck_assert_msg(run(*snap, m).trusted, "got untrusted ::1, want trusted by the default networks");
}
END_TEST

START_TEST(log_line_sanitizes_queue_id) {
    auto snap = test::snapshot_from(kPartners);
    std::string got = run(*snap, facts(app_headers("acme", "custom"))).log_line("AB C\n");
    ck_assert_msg(got.rfind("AB?C?: category=custom ", 0) == 0, "got %s, want AB?C? prefix", got.c_str());
}
END_TEST

START_TEST(trusted_category_header_beats_rules) {
    auto snap = test::snapshot_from(kPartners, "[classify]\ncustom = header:Subject:.\n");
    Decision d = run(*snap, facts(app_headers("acme", "unclassified")));
    ck_assert_msg(d.category == "unclassified", "got %s, want unclassified (header first)", d.category.c_str());
}
END_TEST

START_TEST(resent_from_is_not_from) {
    auto snap = test::snapshot_from(kPartners);
    auto h = app_headers("acme", "custom");
    h.push_back({"Resent-From", "b@platform.example"});
    expect_route(run(*snap, facts(h)), Route::partner, "partner-relay", "Resent-From");
}
END_TEST

START_TEST(fallback_keeps_angle_less_from_form) {
    auto snap = test::snapshot_from(kPartners);
    MessageFacts m = fallback_facts("custom");
    m.headers[0].value = "news@acme.example (Acme Team)";
    Decision d = run(*snap, m);
    const Edit* e = find_edit(d, Edit::Op::change_header, "From");
    ck_assert_msg(e && describe(*e) == "change From[1]: noreply@platform.example (Acme Team)",
                  "got %s, want the comment kept", lines(d).c_str());
}
END_TEST

START_TEST(later_rule_matches_after_a_miss) {
    // A rule that matches nothing never hides a later matching rule.
    auto snap = test::snapshot_from(kPartners, "[classify]\naml-alert = sender:^nobody@\n"
                                               "expiration-reminder = header:To:client\n");
    Decision d = run(*snap, facts(app_headers("acme", "")));
    ck_assert_msg(d.category == "expiration-reminder", "got %s, want expiration-reminder",
                  d.category.c_str());
    expect_route(d, Route::partner, "partner-relay", "second rule");
}
END_TEST

Suite* suite_decide() {
    Suite* s = suite_create("decide");
    TCase* tc = tcase_create("decide");
    tcase_add_test(tc, eligible_categories_use_partner_relay);
    tcase_add_test(tc, unknown_family_trust);
    tcase_add_test(tc, fallback_only_partner_senders);
    tcase_add_test(tc, too_many_headers_untrusted_rejected);
    tcase_add_test(tc, non_smtp_connect_rows);
    tcase_add_test(tc, implicit_tls_partner_uses_smtps_transport);
    tcase_add_test(tc, global_and_unclassified_categories_go_global);
    tcase_add_test(tc, category_header_trimmed_and_case_insensitive);
    tcase_add_test(tc, unknown_category_header_falls_to_rules);
    tcase_add_test(tc, rule_by_header_first_match_wins);
    tcase_add_test(tc, rule_by_envelope_sender);
    tcase_add_test(tc, partner_narrowing_opts_out);
    tcase_add_test(tc, inactive_and_unknown_partners_go_global);
    tcase_add_test(tc, partner_by_match_senders);
    tcase_add_test(tc, conflicting_partner_headers_go_global);
    tcase_add_test(tc, untrusted_control_headers_deleted_and_ignored);
    tcase_add_test(tc, trust_sources);
    tcase_add_test(tc, fallback_restores_platform_sender);
    tcase_add_test(tc, fallback_per_category_sender_and_unknown_category);
    tcase_add_test(tc, fallback_without_rewritable_from_still_changes_sender);
    tcase_add_test(tc, fallback_never_routes_even_untrusted_or_shadow);
    tcase_add_test(tc, route_header_never_changed);
    tcase_add_test(tc, from_rewrite_keeps_display_name);
    tcase_add_test(tc, from_not_single_mailbox_goes_global);
    tcase_add_test(tc, null_sender_goes_global);
    tcase_add_test(tc, too_many_headers_goes_global);
    tcase_add_test(tc, shadow_mode_decides_but_only_tags);
    tcase_add_test(tc, log_line_fields);
    tcase_add_test(tc, trusted_partner_header_stripped_and_edits_exact);
    tcase_add_test(tc, strip_partner_no_keeps_the_trusted_partner_header);
    tcase_add_test(tc, untrusted_message_classified_by_rules_only);
    tcase_add_test(tc, global_category_beats_narrowing);
    tcase_add_test(tc, empty_partner_header_falls_to_match_senders);
    tcase_add_test(tc, bad_envelope_sender_goes_global);
    tcase_add_test(tc, fallback_daemon_name_exact);
    tcase_add_test(tc, fallback_partner_accounting_and_header_stripped);
    tcase_add_test(tc, configured_header_names);
    tcase_add_test(tc, ipv6_loopback_trusted_by_default);
    tcase_add_test(tc, log_line_sanitizes_queue_id);
    tcase_add_test(tc, trusted_category_header_beats_rules);
    tcase_add_test(tc, resent_from_is_not_from);
    tcase_add_test(tc, fallback_keeps_angle_less_from_form);
    tcase_add_test(tc, later_rule_matches_after_a_miss);
    suite_add_tcase(s, tc);
    return s;
}
