// test_sendmail.cpp - suite_sendmail: the recipient rewrite that routes
// partner mail on Sendmail ([milter] mta = sendmail), row by row.
#include <string>
#include <vector>

#include "core/actions.hpp"
#include "core/decide.hpp"
#include "core/sendmail_rewrite.hpp"
// check.h defines a macro "fail": include it after the standard headers.
#include "helpers.hpp"
#include "suites.hpp"

using namespace prm;

namespace {

const std::string kPartners =
    std::string(test::kAcme) +
    "[dot.co]\nhost = 127.0.0.1\nport = 2526\nusername = d\npassword = dot-secret\n"
    "sender = mail@dot.example\ntls = encrypt\n"  // IP-literal relays: explicit (issue 12)
    "[smtps]\nhost = 127.0.0.1\nport = 465\nusername = t\npassword = smtps-secret\n"
    "sender = t@smtps.example\ntls = encrypt\n";

// A trusted app message for PARTNER, category custom, to RCPTS.
MessageFacts facts(const std::string& partner, std::vector<std::string> rcpts,
                   std::vector<std::vector<std::string>> args = {}) {
    MessageFacts m;
    m.queue_id = "Q1";
    m.client_addr = "127.0.0.1";
    m.daemon_name = "MTA";
    m.mail_from = "<app@platform.example>";
    m.rcpts = std::move(rcpts);
    m.rcpt_args = std::move(args);
    m.headers = {{"From", "App <app@platform.example>"}, {"X-Partner-Id", partner},
                 {"X-Email-Category", "custom"}};
    return m;
}

// The edit list as describe() lines.
std::string lines(const Decision& d) {
    std::string out;
    for (const Edit& e : d.edits) out += describe(e) + "\n";
    return out;
}

}  // namespace

START_TEST(partner_route_rewrites_recipients_not_route_header) {
    auto snap = test::snapshot_from(kPartners, "mta = sendmail\n");
    Decision d = decide(*snap, facts("acme", {"<Bob@Example.COM>", "<c@d.example>"},
                                     {{"NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;bob@example.com"}, {}}));
    ck_assert_msg(d.route == Route::partner, "got route %s reason %s, want partner",
                  route_name(d.route), d.reason.c_str());
    std::string want =
        "delete X-Partner-Id[1]\n"  // [headers] strip_partner = yes
        "delete X-Email-Category[1]\nadd X-Email-Category: custom\n"
        "change From[1]: App <news@acme.example>\nenvelope-from <news@acme.example>\n"
        "delete-rcpt <Bob@Example.COM>\n"
        "add-rcpt <Bob@Example.COM.acme.PTNRELAY> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.com\n"
        "delete-rcpt <c@d.example>\nadd-rcpt <c@d.example.acme.PTNRELAY> ORCPT=rfc822;c@d.example\n";
    ck_assert_msg(lines(d) == want, "got edits\n%s\nwant\n%s", lines(d).c_str(), want.c_str());
}
END_TEST

START_TEST(postfix_mode_keeps_route_header_and_recipients) {
    auto snap = test::snapshot_from(kPartners);
    Decision d = decide(*snap, facts("acme", {"<bob@example.com>"}));
    std::string got = lines(d);
    ck_assert_msg(got.find("add X-Partner-Relay-Route:") != std::string::npos &&
                      got.find("rcpt") == std::string::npos,
                  "got edits\n%s\nwant a route header and no recipient edit", got.c_str());
}
END_TEST

START_TEST(only_notify_and_orcpt_are_kept) {
    // Sendmail 8.17 loses the whole message when an added recipient carries
    // any other parameter (SENDMAIL-NOTES.md, prototype point 3).
    std::string got = pseudo_rcpt_args("<a+b=c@x.example>", {"XFOO=1", "notify=never", "RRVS=2030-01-01"});
    std::string want = "notify=never ORCPT=rfc822;a+2Bb+3Dc@x.example";
    ck_assert_msg(got == want, "got '%s', want '%s'", got.c_str(), want.c_str());
}
END_TEST

START_TEST(pseudo_address_forms) {
    struct Row {
        const char* rcpt;
        const char* id;
        const char* want;  // "" = not rewritable
    } rows[] = {
        {"<bob@example.com>", "acme", "<bob@example.com.acme.PTNRELAY>"},
        {"bob@example.com.", "acme", "<bob@example.com.acme.PTNRELAY>"},
        {"<\"b ob\"@example.com>", "acme", "<\"b ob\"@example.com.acme.PTNRELAY>"},
        {"<bob@example.com>", "dot.co", "<bob@example.com.dot=co.PTNRELAY>"},
        {"<postmaster>", "acme", ""},
        {"<@relay.example:bob@example.com>", "acme", ""},
        {"<bob@[192.0.2.1]>", "acme", ""},
        {"<bob@>", "acme", ""},
    };
    for (const Row& r : rows) {
        auto got = pseudo_address(r.rcpt, r.id);
        std::string g = got ? *got : "";
        ck_assert_msg(g == r.want, "%s: got '%s', want '%s'", r.rcpt, g.c_str(), r.want);
    }
}
END_TEST

START_TEST(typed_pseudo_recipients_are_found_in_every_form) {
    const char* yes[] = {"<bob@example.com.acme.PTNRELAY>", "<bob@example.com.acme.ptnrelay.>",
                         "<\"bob@example.com.acme.PTNRELAY\"@mta.test>",
                         "<bob%example.com.acme.PtnRelay@mta.test>", "<@x.acme.PTNRELAY:bob@y>",
                         "<acme.PTNRELAY!bob@mta.test>", "<bob@example.com.acme.PTNRELAY\\>"};
    const char* no[] = {"<bob@example.com>", "<ptnrelayx@example.com>", "<bob@my-ptnrelay.example>",
                        "<bob@xptnrelay.example>"};
    for (const char* a : yes) ck_assert_msg(names_pseudo_domain(a), "%s: got no match, want one", a);
    for (const char* a : no) ck_assert_msg(!names_pseudo_domain(a), "%s: got a match, want none", a);
}
END_TEST

START_TEST(typed_pseudo_recipients_deleted_on_every_listener) {
    auto snap = test::snapshot_from(kPartners, "mta = sendmail\n");
    // Untrusted client: control headers removed, pseudo recipient deleted.
    MessageFacts m = facts("acme", {"<\"x@y.acme.PTNRELAY\"@mta.test>", "<ok@dest.example>"});
    m.client_addr = "192.0.2.7";
    Decision d = decide(*snap, m);
    std::string got = lines(d);
    ck_assert_msg(d.route == Route::global &&
                      got.find("delete-rcpt <\"x@y.acme.PTNRELAY\"@mta.test>\n") != std::string::npos &&
                      got.find("ok@dest") == std::string::npos,
                  "untrusted: got route %s edits\n%s", route_name(d.route), got.c_str());
    // Trusted partner message: the typed one is deleted, never rewritten.
    d = decide(*snap, facts("acme", {"<a@b.acme.PTNRELAY>", "<ok@dest.example>"}));
    got = lines(d);
    ck_assert_msg(d.route == Route::partner &&
                      got.find("delete-rcpt <a@b.acme.PTNRELAY>\n") != std::string::npos &&
                      got.find("add-rcpt <a@b.acme.PTNRELAY.") == std::string::npos &&
                      got.find("add-rcpt <ok@dest.example.acme.PTNRELAY>") != std::string::npos,
                  "trusted: got edits\n%s", got.c_str());
    // Fallback listener: deleted too, and no rewrite.
    m = facts("acme", {"<a@b.acme.PTNRELAY>", "<ok@dest.example>"});
    m.daemon_name = "FALLBACK";
    m.mail_from = "<news@acme.example>";
    d = decide(*snap, m);
    got = lines(d);
    ck_assert_msg(d.fallback && got.find("delete-rcpt <a@b.acme.PTNRELAY>\n") != std::string::npos &&
                      got.find("add-rcpt") == std::string::npos &&
                      got.find("envelope-from <noreply@platform.example>") != std::string::npos,
                  "fallback: got edits\n%s", got.c_str());
}
END_TEST

START_TEST(unrewritable_recipient_sends_message_global) {
    auto snap = test::snapshot_from(kPartners, "mta = sendmail\n");
    Decision d = decide(*snap, facts("acme", {"<bob@example.com>", "<bob@[192.0.2.1]>"}));
    ck_assert_msg(d.route == Route::global && d.reason == "rcpt-not-rewritable",
                  "got route %s reason %s, want global rcpt-not-rewritable", route_name(d.route),
                  d.reason.c_str());
    ck_assert_msg(lines(d).find("envelope-from") == std::string::npos, "got edits\n%s",
                  lines(d).c_str());
}
END_TEST

START_TEST(implicit_tls_partner_inactive_on_sendmail_only) {
    auto sm = test::snapshot_from(kPartners, "mta = sendmail\n");
    const Partner* p = sm->partners.find("smtps");
    ck_assert_msg(p && !p->active && p->reason.find("implicit TLS") != std::string::npos,
                  "sendmail: got %s, want inactive (implicit TLS)", p ? p->reason.c_str() : "none");
    auto pf = test::snapshot_from(kPartners);
    p = pf->partners.find("smtps");
    ck_assert_msg(p && p->active, "postfix: got %s, want active", p ? p->reason.c_str() : "none");
}
END_TEST

START_TEST(recording_actions_record_recipient_edits) {
    RecordingActions rec;
    std::string failed;
    std::vector<Edit> edits(2);
    edits[0].op = Edit::Op::delete_rcpt;
    edits[0].value = "<a@b>";
    edits[1].op = Edit::Op::add_rcpt;
    edits[1].value = "<a@b.x.PTNRELAY>";
    edits[1].args = "ORCPT=rfc822;a@b";
    ck_assert(apply_edits(edits, rec, failed));
    ck_assert_msg(rec.lines.size() == 2 && rec.lines[1] == "add-rcpt <a@b.x.PTNRELAY> ORCPT=rfc822;a@b",
                  "got %zu lines", rec.lines.size());
}
END_TEST

// The suite.
Suite* suite_sendmail() {
    Suite* s = suite_create("sendmail");
    TCase* tc = tcase_create("rewrite");
    tcase_add_test(tc, partner_route_rewrites_recipients_not_route_header);
    tcase_add_test(tc, postfix_mode_keeps_route_header_and_recipients);
    tcase_add_test(tc, only_notify_and_orcpt_are_kept);
    tcase_add_test(tc, pseudo_address_forms);
    tcase_add_test(tc, typed_pseudo_recipients_are_found_in_every_form);
    tcase_add_test(tc, typed_pseudo_recipients_deleted_on_every_listener);
    tcase_add_test(tc, unrewritable_recipient_sends_message_global);
    tcase_add_test(tc, implicit_tls_partner_inactive_on_sendmail_only);
    tcase_add_test(tc, recording_actions_record_recipient_edits);
    suite_add_tcase(s, tc);
    return s;
}
