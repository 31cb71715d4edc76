// test_actions.cpp - suite_actions: applying edits, the message file reader
// used by `-t`, and a replay of the sample messages in contrib/examples.
//
// The replay reads the samples from the source tree: $srcdir (set by the
// automake test harness) or, when run by hand, the directory of this file.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/actions.hpp"
#include "core/decide.hpp"
#include "core/msgfile.hpp"
// check.h defines a macro "fail": include it after the standard headers.
#include "helpers.hpp"
#include "suites.hpp"
#include "tempdir.hpp"

using namespace prm;

namespace {

// A RecordingActions whose FAIL_AT-th call (1-based) fails.
struct FailingActions : RecordingActions {
    int fail_at = 0;
    int calls = 0;
    std::string last_delete_value = "unset";

    bool step() { return ++calls != fail_at; }
    bool add_header(const std::string& n, const std::string& v) override {
        return step() && RecordingActions::add_header(n, v);
    }
    bool change_header(const std::string& n, int i, const std::string* v) override {
        if (!v) last_delete_value = "null";
        return step() && RecordingActions::change_header(n, i, v);
    }
    bool change_sender(const std::string& a, const std::string& args) override {
        return step() && RecordingActions::change_sender(a, args);
    }
};

// One edit of each kind, in decision order.
std::vector<Edit> sample_edits() {
    std::vector<Edit> v(5);
    v[0] = {Edit::Op::delete_header, "X-Partner-Relay-Route", 2, "", ""};
    v[1] = {Edit::Op::delete_header, "X-Partner-Relay-Route", 1, "", ""};
    v[2] = {Edit::Op::add_header, "X-Email-Category", 0, "custom", ""};
    v[3] = {Edit::Op::change_header, "From", 1, "A <news@acme.example>", ""};
    v[4] = {Edit::Op::change_sender, "", 0, "news@acme.example", ""};
    return v;
}

// Write TEXT to a new temporary file and return its path.
std::string temp_file(const std::string& text) {
    std::string path = test::temp_base() + "/prm-msgfile-XXXXXX";
    int fd = mkstemp(path.data());
    ck_assert_msg(fd >= 0, "got mkstemp failure, want a temporary file");
    ck_assert_msg(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()),
                  "got short write to %s", path.c_str());
    close(fd);
    return path;
}

// Parse TEXT with the message file reader, failing the test on error.
MessageFacts parse_ok(const std::string& text) {
    MessageFacts m;
    std::string err;
    ck_assert_msg(parse_message_text(text, m, err), "got error '%s', want headers", err.c_str());
    return m;
}

// Directory of the sample messages.
std::string samples_dir() {
    const char* env = std::getenv("srcdir");
    std::string base = env ? env : std::string(__FILE__).substr(0, std::string(__FILE__).rfind('/'));
    return base + "/../../contrib/examples/messages/";
}

}  // namespace

START_TEST(apply_edits_in_order) {
    RecordingActions rec;
    std::string failed = "x";
    auto edits = sample_edits();
    ck_assert_msg(apply_edits(edits, rec, failed), "got failure '%s', want success", failed.c_str());
    ck_assert_msg(failed.empty(), "got failed='%s', want empty", failed.c_str());
    ck_assert_msg(rec.lines.size() == edits.size(), "got %zu lines, want %zu", rec.lines.size(),
                  edits.size());
    for (std::size_t i = 0; i < edits.size(); ++i)
        ck_assert_msg(rec.lines[i] == describe(edits[i]), "line %zu: got %s, want %s", i,
                      rec.lines[i].c_str(), describe(edits[i]).c_str());
    ck_assert_msg(rec.lines[0] == "delete X-Partner-Relay-Route[2]", "got %s", rec.lines[0].c_str());
    ck_assert_msg(rec.lines[4] == "envelope-from <news@acme.example>", "got %s", rec.lines[4].c_str());
}
END_TEST

START_TEST(apply_edits_stops_at_first_failure) {
    auto edits = sample_edits();
    for (int at = 1; at <= static_cast<int>(edits.size()); ++at) {
        FailingActions mta;
        mta.fail_at = at;
        std::string failed;
        bool ok = apply_edits(edits, mta, failed);
        ck_assert_msg(!ok, "fail at %d: got success, want failure", at);
        ck_assert_msg(mta.calls == at, "fail at %d: got %d calls, want %d", at, mta.calls, at);
        ck_assert_msg(failed == describe(edits[at - 1]), "fail at %d: got failed='%s', want '%s'", at,
                      failed.c_str(), describe(edits[at - 1]).c_str());
    }
    FailingActions mta;
    std::string failed;
    apply_edits(edits, mta, failed);
    ck_assert_msg(mta.last_delete_value == "null", "got delete value %s, want a null pointer",
                  mta.last_delete_value.c_str());
}
END_TEST

START_TEST(msgfile_lf_crlf_and_folding) {
    const char* rows[] = {"Subject: hi\nFrom: \"A\"\n\t<a@b.example>\nTo:  x@y\n\nbody\nX-Not: header\n",
                          "Subject: hi\r\nFrom: \"A\"\r\n\t<a@b.example>\r\nTo:  x@y\r\n\r\nbody\r\n"};
    for (const char* text : rows) {
        MessageFacts m = parse_ok(text);
        ck_assert_msg(m.headers.size() == 3, "got %zu headers, want 3", m.headers.size());
        ck_assert_msg(m.headers[1].name == "From" && m.headers[1].value == "\"A\"\n\t<a@b.example>",
                      "got From value '%s', want folded with \\n", m.headers[1].value.c_str());
        ck_assert_msg(m.headers[2].value == " x@y", "got To value '%s', want one space eaten",
                      m.headers[2].value.c_str());
    }
}
END_TEST

START_TEST(msgfile_label_rules) {
    MessageFacts m = parse_ok("From alice Thu Nov 26 09:00:00 2026\nSubject :\tTabbed\nX-A:v\n"
                              "not a header line\nX-B: after\n");
    ck_assert_msg(m.headers.size() == 2, "got %zu headers, want 2 (mbox line skipped, stop at body)",
                  m.headers.size());
    ck_assert_msg(m.headers[0].name == "Subject" && m.headers[0].value == "\tTabbed",
                  "got '%s'='%s', want 'Subject'='\\tTabbed'", m.headers[0].name.c_str(),
                  m.headers[0].value.c_str());
    ck_assert_msg(m.headers[1].value == "v", "got '%s', want 'v'", m.headers[1].value.c_str());
}
END_TEST

START_TEST(msgfile_bounds) {
    std::string many;
    for (std::size_t i = 0; i <= kMaxHeaders; ++i) many += "X-N: " + std::to_string(i) + "\n";
    MessageFacts m = parse_ok(many);
    ck_assert_msg(m.headers.size() == kMaxHeaders && m.headers_truncated,
                  "got %zu headers truncated=%d, want %zu and 1", m.headers.size(), m.headers_truncated,
                  kMaxHeaders);
    m = parse_ok("X-Long: " + std::string(kMaxFileHeaderValue + 100, 'a') + "\n\tmore\nX-Next: 1\n");
    ck_assert_msg(m.headers[0].value.size() == kMaxFileHeaderValue && m.headers.size() == 2,
                  "got value of %zu bytes and %zu headers, want %zu and 2", m.headers[0].value.size(),
                  m.headers.size(), kMaxFileHeaderValue);
    ck_assert_msg(!m.headers_truncated, "got headers_truncated for a long value, want false");
}
END_TEST

START_TEST(msgfile_errors) {
    MessageFacts m;
    std::string err;
    ck_assert_msg(!read_message_file("/nonexistent/prm.eml", m, err) &&
                      err.find("/nonexistent/prm.eml: cannot open") == 0,
                  "got '%s', want a cannot-open error naming the file", err.c_str());
    for (const char* text : {"", "\nbody only\n", "just text\n", " continuation first\n"}) {
        std::string path = temp_file(text);
        err.clear();
        bool ok = read_message_file(path, m, err);
        std::remove(path.c_str());
        ck_assert_msg(!ok && err == path + ": no header found", "text '%s': got ok=%d err='%s', want no header",
                      text, ok, err.c_str());
    }
    std::string path = temp_file("Subject: x\nFrom: A <a@b.example>\n\nbody\n");
    bool ok = read_message_file(path, m, err);
    std::remove(path.c_str());
    ck_assert_msg(ok && m.headers.size() == 2, "got ok=%d headers=%zu, want 1 and 2", ok, m.headers.size());
}
END_TEST

START_TEST(msgfile_envelope_hint) {
    struct Row {
        const char* text;
        const char* want;
    } rows[] = {
        {"Return-Path: <b@x.example>\nFrom: A <a@x.example>\n", "<b@x.example>"},
        {"Return-Path: <>\n", "<>"},
        {"From: \"A, B\" <a@x.example>\n", "<a@x.example>"},
        {"From: a@x.example\nFrom: b@x.example\n", ""},
        {"From: T: a@x.example;\n", ""},
        // A quoted local part keeps its quotes (regression: they were dropped).
        {"From: J <\"john doe\"@x.example>\n", "<\"john doe\"@x.example>"},
    };
    for (const Row& r : rows) {
        std::string got = envelope_from_headers(parse_ok(r.text));
        ck_assert_msg(got == r.want, "%s: got '%s', want '%s'", r.text, got.c_str(), r.want);
    }
}
END_TEST

START_TEST(samples_replay) {
    auto snap = test::snapshot_from(test::kAcme, "[categories]\naccount-security = global\n");
    const char* eligible[] = {"verification-link", "verification-url", "kyb-info-request",
                              "kyb-expiration-extension", "custom", "verification-result",
                              "aml-alert", "expiration-reminder", "webhook-failure",
                              "finance-report", "admin-notification"};
    auto load = [&](const std::string& name) {
        MessageFacts m;
        std::string err;
        ck_assert_msg(read_message_file(samples_dir() + name, m, err), "got error %s", err.c_str());
        m.client_addr = "127.0.0.1";
        m.mail_from = envelope_from_headers(m);
        return m;
    };
    for (const char* cat : eligible) {
        MessageFacts m = load(std::string(cat) + ".eml");
        Decision d = decide(*snap, m);
        ck_assert_msg(d.route == Route::partner && d.category == cat && d.partner == "acme",
                      "%s: got %s, want partner route", cat, d.log_line("Q").c_str());
        // The From change keeps every byte but the address.
        std::string from, addr = m.mail_from.substr(1, m.mail_from.size() - 2);
        for (const Header& h : m.headers)
            if (h.name == "From") from = h.value;
        from.replace(from.find(addr), addr.size(), "news@acme.example");
        const Edit* change = nullptr;
        for (const Edit& e : d.edits)
            if (e.op == Edit::Op::change_header && e.name == "From") change = &e;
        ck_assert_msg(change && change->value == from, "%s: got %s, want From value %s", cat,
                      change ? describe(*change).c_str() : "(none)", from.c_str());
    }
    for (const char* name : {"account-security", "unclassified"}) {
        Decision d = decide(*snap, load(std::string(name) + ".eml"));
        ck_assert_msg(d.route == Route::global && d.category == name && d.reason == "category-not-eligible",
                      "%s: got %s, want global category-not-eligible", name, d.log_line("Q").c_str());
    }
    MessageFacts forged = load("forged.eml");
    Decision d = decide(*snap, forged);
    // Both partner headers are deleted too (strip_partner), as for untrusted.
    ck_assert_msg(d.reason == "conflicting-partner-headers" && d.edits.size() == 8,
                  "forged trusted: got %s with %zu edits, want conflicting-partner-headers, 8 edits",
                  d.log_line("Q").c_str(), d.edits.size());
    forged.client_addr = "192.0.2.66";
    d = decide(*snap, forged);
    ck_assert_msg(d.reason == "untrusted-submitter" && d.edits.size() == 8,
                  "forged untrusted: got %s with %zu edits, want untrusted-submitter, 8 edits",
                  d.log_line("Q").c_str(), d.edits.size());
}
END_TEST

START_TEST(describe_escapes_controls) {
    Edit e;
    e.op = Edit::Op::change_header;
    e.name = "From";
    e.index = 1;
    e.value = "\"A\"\r\n\t<a@b>\x01";
    std::string got = describe(e);
    ck_assert_msg(got == "change From[1]: \"A\"\\r\\n\\t<a@b>\\x01", "got %s", got.c_str());
    e.op = Edit::Op::change_sender;
    e.value = "a@b";
    e.args = "SIZE=10";
    got = describe(e);
    ck_assert_msg(got == "envelope-from <a@b> SIZE=10", "got %s, want envelope-from <a@b> SIZE=10",
                  got.c_str());
}
END_TEST

START_TEST(recording_actions_lines) {
    RecordingActions rec;
    std::string v = "x\ty";
    bool ok = rec.add_header("X-A", "1") && rec.change_header("X-B", 3, &v) &&
              rec.change_header("X-C", 2, nullptr) && rec.change_sender("a@b.example", "");
    std::string got;
    for (const auto& l : rec.lines) got += l + "|";
    std::string want = "add X-A: 1|change X-B[3]: x\\ty|delete X-C[2]|envelope-from <a@b.example>|";
    ck_assert_msg(ok && got == want, "got %s, want %s", got.c_str(), want.c_str());
}
END_TEST

START_TEST(apply_no_edits) {
    FailingActions mta;
    mta.fail_at = 1;
    std::string failed = "stale";
    ck_assert_msg(apply_edits({}, mta, failed) && mta.calls == 0 && failed.empty(),
                  "got calls=%d failed='%s', want 0 calls and success", mta.calls, failed.c_str());
}
END_TEST

START_TEST(msgfile_line_ends_and_names) {
    MessageFacts m = parse_ok("X-A: a\rb\r\nX-B\t: tab before colon\nX-\x01: bad name\nX-C: c\n");
    ck_assert_msg(m.headers.size() == 2, "got %zu headers, want 2 (stop at a bad name)", m.headers.size());
    ck_assert_msg(m.headers[0].value == "a\rb", "got '%s', want the bare CR kept", m.headers[0].value.c_str());
    ck_assert_msg(m.headers[1].name == "X-B", "got name '%s', want X-B", m.headers[1].name.c_str());
    m = parse_ok("From : obsolete@x.example\nSubject: no body, no final newline");
    ck_assert_msg(m.headers.size() == 2 && m.headers[0].name == "From" &&
                      m.headers[1].value == "no body, no final newline",
                  "got %zu headers, first '%s', want From and the unterminated Subject",
                  m.headers.size(), m.headers.empty() ? "" : m.headers[0].name.c_str());
}
END_TEST

START_TEST(samples_all_well_formed) {
    const char* names[] = {"verification-link", "verification-url", "kyb-info-request",
                           "kyb-expiration-extension", "custom", "verification-result",
                           "aml-alert", "expiration-reminder", "webhook-failure",
                           "finance-report", "admin-notification", "account-security",
                           "unclassified", "forged"};
    for (const char* n : names) {
        MessageFacts m;
        std::string err;
        ck_assert_msg(read_message_file(samples_dir() + n + ".eml", m, err), "%s: got %s", n, err.c_str());
        int partner = 0, from = 0;
        for (const Header& h : m.headers) {
            partner += h.name == "X-Partner-Id" && h.value == "acme";
            from += h.name == "From" && h.value.find('<') != std::string::npos && h.value[0] != '<';
        }
        ck_assert_msg(partner >= 1 && from == 1, "%s: got %d acme headers and %d named From, want >=1 and 1",
                      n, partner, from);
    }
}
END_TEST

START_TEST(msgfile_crlf_file) {
    std::string path = temp_file("From: \"A, B\" <a@b.example>\r\nX-Partner-Id: acme\r\n\r\nbody\r\n");
    MessageFacts m;
    std::string err;
    bool ok = read_message_file(path, m, err);
    std::remove(path.c_str());
    ck_assert_msg(ok && m.headers.size() == 2 && m.headers[0].value == "\"A, B\" <a@b.example>" &&
                      m.headers[1].value == "acme",
                  "got ok=%d %zu headers, want CR-free values", ok, m.headers.size());
}
END_TEST

Suite* suite_actions() {
    Suite* s = suite_create("actions");
    TCase* tc = tcase_create("apply");
    tcase_add_test(tc, apply_edits_in_order);
    tcase_add_test(tc, apply_edits_stops_at_first_failure);
    tcase_add_test(tc, apply_no_edits);
    tcase_add_test(tc, recording_actions_lines);
    tcase_add_test(tc, describe_escapes_controls);
    suite_add_tcase(s, tc);
    TCase* mf = tcase_create("msgfile");
    tcase_add_test(mf, msgfile_lf_crlf_and_folding);
    tcase_add_test(mf, msgfile_label_rules);
    tcase_add_test(mf, msgfile_bounds);
    tcase_add_test(mf, msgfile_errors);
    tcase_add_test(mf, msgfile_envelope_hint);
    tcase_add_test(mf, msgfile_line_ends_and_names);
    tcase_add_test(mf, msgfile_crlf_file);
    tcase_add_test(mf, samples_all_well_formed);
    tcase_add_test(mf, samples_replay);
    suite_add_tcase(s, mf);
    return s;
}
