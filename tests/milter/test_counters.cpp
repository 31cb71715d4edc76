// test_counters.cpp - Check suite for core/counters: label folding, the
// cardinality bound, the Prometheus text rendering, thread safety (also
// when threads create the same series at once), the per-partner totals the
// fallback alert reads and the shadow/alert gauges.
//
// Lives in tests/milter (the counters belong to the daemon's task); uses the
// unit fixtures read-only to build snapshots from INI text.
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/counters.hpp"
#include "core/decide.hpp"
#include "unit/runner.hpp"   // first: <fstream> before check.h's "fail" macro
#include "unit/helpers.hpp"  // includes <check.h> after the standard headers

using namespace prm;

namespace {

// Count the lines of TEXT that start with PREFIX.
int lines_with(const std::string& text, const std::string& prefix) {
    int n = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        if (text.compare(pos, prefix.size(), prefix) == 0) ++n;
        pos = end + 1;
    }
    return n;
}

Decision decision(const std::string& cat, const std::string& partner, Route r,
                  const std::string& reason) {
    Decision d;
    d.category = cat;
    d.partner = partner;
    d.route = r;
    d.reason = reason;
    return d;
}

}  // namespace

START_TEST(test_render_one_message) {
    Counters c;
    c.count_message(MessageLabels{"aml-alert", "acme", "partner", "partner-relay"}, false);
    c.count_message(MessageLabels{"aml-alert", "acme", "partner", "partner-relay"}, false);
    std::string out = c.render();
    std::string want =
        "partner_relay_messages_total{category=\"aml-alert\",partner=\"acme\",route=\"partner\","
        "reason=\"partner-relay\"} 2\n";
    ck_assert_msg(out.find(want) != std::string::npos, "got:\n%s\nwant a line:\n%s", out.c_str(),
                  want.c_str());
    ck_assert_msg(out.find("# TYPE partner_relay_messages_total counter\n") != std::string::npos,
                  "got:\n%s\nwant a TYPE counter line", out.c_str());
    ck_assert_msg(c.messages_total() == 2, "got %llu messages, want 2",
                  (unsigned long long)c.messages_total());
}
END_TEST

START_TEST(test_render_families_when_empty) {
    Counters c;
    std::string out = c.render();
    for (const char* want :
         {"partner_relay_reloads_total{result=\"ok\"} 0\n",
          "partner_relay_reloads_total{result=\"failed\"} 0\n",
          "# TYPE partner_relay_errors_total counter\n", "partner_relay_messages_in_flight 0\n",
          "partner_relay_config_generation 0\n"})
        ck_assert_msg(out.find(want) != std::string::npos, "got:\n%s\nwant:\n%s", out.c_str(),
                      want);
    ck_assert_msg(lines_with(out, "partner_relay_messages_total{") == 0,
                  "got message series in an empty render");
}
END_TEST

START_TEST(test_reloads_errors_fallbacks_gauges) {
    Counters c;
    c.count_reload(true);
    c.count_reload(true);
    c.count_reload(false);
    c.count_error("exception");
    c.count_error("bad label\n");
    c.count_message(MessageLabels{"aml-alert", "acme", "global", "fallback"}, true);
    c.set_snapshot_info(7, 3, 2);
    c.message_started();
    std::string out = c.render();
    for (const char* want :
         {"partner_relay_reloads_total{result=\"ok\"} 2\n",
          "partner_relay_reloads_total{result=\"failed\"} 1\n",
          "partner_relay_errors_total{kind=\"exception\"} 1\n",
          "partner_relay_errors_total{kind=\"other\"} 1\n",
          "partner_relay_fallback_messages_total{partner=\"acme\"} 1\n",
          "partner_relay_config_generation 7\n", "partner_relay_partners{status=\"active\"} 3\n",
          "partner_relay_partners{status=\"inactive\"} 2\n",
          "partner_relay_messages_in_flight 1\n"})
        ck_assert_msg(out.find(want) != std::string::npos, "got:\n%s\nwant:\n%s", out.c_str(),
                      want);
    c.message_finished();
    ck_assert_msg(c.in_flight() == 0, "got %ld in flight, want 0", c.in_flight());
}
END_TEST

START_TEST(test_bounded_labels_fold) {
    auto snap = test::snapshot_from(test::kAcme);
    MessageLabels l =
        bounded_labels(*snap, decision("aml-alert", "acme", Route::partner, "partner-relay"));
    ck_assert_msg(l.category == "aml-alert" && l.partner == "acme" && l.route == "partner" &&
                      l.reason == "partner-relay",
                  "got %s/%s/%s/%s, want aml-alert/acme/partner/partner-relay", l.category.c_str(),
                  l.partner.c_str(), l.route.c_str(), l.reason.c_str());
    l = bounded_labels(*snap, decision("made-up", "evil-corp", Route::global, "x y\"z"));
    ck_assert_msg(l.category == "other" && l.partner == "other" && l.reason == "other",
                  "got %s/%s/%s, want other/other/other", l.category.c_str(), l.partner.c_str(),
                  l.reason.c_str());
    l = bounded_labels(*snap, decision("unclassified", "", Route::global, "no-partner"));
    ck_assert_msg(l.category == "unclassified" && l.partner == "none" && l.route == "global",
                  "got %s/%s/%s, want unclassified/none/global", l.category.c_str(),
                  l.partner.c_str(), l.route.c_str());
}
END_TEST

START_TEST(test_vocabulary_and_escape) {
    ck_assert_msg(vocabulary_label("category-not-eligible") == "category-not-eligible", "got %s",
                  vocabulary_label("category-not-eligible").c_str());
    ck_assert_msg(vocabulary_label(std::string(65, 'a')) == "other", "a 65-byte label was kept");
    ck_assert_msg(vocabulary_label("") == "none", "got %s, want none",
                  vocabulary_label("").c_str());
    std::string e = escape_label("a\\b\"c\nd");
    ck_assert_msg(e == "a\\\\b\\\"c\\nd", "got %s, want a\\\\b\\\"c\\nd", e.c_str());
}
END_TEST

START_TEST(test_cardinality_bound) {
    Counters c;
    for (std::size_t i = 0; i < kMaxSeries + 10; ++i)
        c.count_message(MessageLabels{"c" + std::to_string(i), "p", "global", "r"}, false);
    std::string out = c.render();
    int series = lines_with(out, "partner_relay_messages_total{");
    ck_assert_msg(series == static_cast<int>(kMaxSeries) + 1, "got %d series, want %zu", series,
                  kMaxSeries + 1);
    std::string want =
        "partner_relay_messages_total{category=\"other\",partner=\"other\",route=\"other\","
        "reason=\"other\"} 10\n";
    ck_assert_msg(out.find(want) != std::string::npos, "no folded series with 10 messages");
    ck_assert_msg(c.messages_total() == kMaxSeries + 10, "got %llu, want %zu",
                  (unsigned long long)c.messages_total(), kMaxSeries + 10);
}
END_TEST

START_TEST(test_threads_add_up) {
    Counters c;
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t)
        ts.emplace_back([&c] {
            for (int i = 0; i < 1000; ++i)
                c.count_message(MessageLabels{"custom", "acme", "partner", "r"}, false);
        });
    for (auto& t : ts) t.join();
    std::string out = c.render();
    std::string want =
        "partner_relay_messages_total{category=\"custom\",partner=\"acme\",route=\"partner\","
        "reason=\"r\"} 8000\n";
    ck_assert_msg(out.find(want) != std::string::npos, "got:\n%s\nwant the shards merged into 8000",
                  out.c_str());
}
END_TEST

START_TEST(test_partner_totals_for_the_alert) {
    Counters c;
    c.count_message(MessageLabels{"custom", "acme", "partner", "partner-relay"}, false);
    c.count_message(MessageLabels{"custom", "acme", "partner", "partner-relay"}, false);
    c.count_message(MessageLabels{"custom", "acme", "partner", "partner-relay", true}, false);
    c.count_message(MessageLabels{"custom", "acme", "global", "fallback"}, true);
    c.count_message(MessageLabels{"custom", "beta", "global", "inactive-partner"}, false);
    auto t = c.partner_totals();
    ck_assert_msg(t["acme"].routed == 2 && t["acme"].fallbacks == 1,
                  "acme: got routed %llu fallbacks %llu, want 2 and 1 (shadow not routed)",
                  (unsigned long long)t["acme"].routed, (unsigned long long)t["acme"].fallbacks);
    ck_assert_msg(t.count("beta") == 0, "beta (global route): got a totals entry, want none");
}
END_TEST

START_TEST(test_shadow_and_alert_gauges) {
    Counters c;
    std::string out = c.render();
    ck_assert_msg(out.find("partner_relay_shadow_mode 0\n") != std::string::npos, "got:\n%s",
                  out.c_str());
    ck_assert_msg(lines_with(out, "partner_relay_fallback_alert{") == 0,
                  "got alert series before any alert");
    c.set_shadow_mode(true);
    c.set_alerting("beta", false);  // never alerted: not listed
    c.set_alerting("acme", true);
    out = c.render();
    for (const char* want : {"partner_relay_shadow_mode 1\n",
                             "partner_relay_fallback_alert{partner=\"acme\"} 1\n",
                             "# TYPE partner_relay_fallback_alert gauge\n"})
        ck_assert_msg(out.find(want) != std::string::npos, "got:\n%s\nwant:\n%s", out.c_str(),
                      want);
    ck_assert_msg(out.find("partner=\"beta\"") == std::string::npos, "beta listed:\n%s",
                  out.c_str());
    c.set_alerting("acme", false);
    out = c.render();
    ck_assert_msg(out.find("partner_relay_fallback_alert{partner=\"acme\"} 0\n") !=
                      std::string::npos,
                  "after recovery got:\n%s", out.c_str());
}
END_TEST

START_TEST(test_threads_create_series_concurrently) {
    // Every thread creates the same 300 series at the same time: each
    // series must exist once, with every increment.
    Counters c;
    std::vector<std::thread> ts;
    for (int t = 0; t < 8; ++t)
        ts.emplace_back([&c] {
            for (int round = 0; round < 5; ++round)
                for (int i = 0; i < 300; ++i)
                    c.count_message(
                        MessageLabels{"custom", "p" + std::to_string(i), "partner", "r"}, false);
        });
    for (auto& t : ts) t.join();
    std::string out = c.render();
    int series = lines_with(out, "partner_relay_messages_total{");
    ck_assert_msg(series == 300, "got %d series, want 300", series);
    ck_assert_msg(c.messages_total() == 8 * 5 * 300, "got %llu messages, want 12000",
                  (unsigned long long)c.messages_total());
    auto totals = c.partner_totals();
    ck_assert_msg(totals.size() == 300 && totals["p7"].routed == 40,
                  "got %zu partners, p7 routed %llu; want 300 and 40", totals.size(),
                  (unsigned long long)totals["p7"].routed);
}
END_TEST

int main() {
    Suite* s = suite_create("counters");
    TCase* tc = tcase_create("counters");
    tcase_add_test(tc, test_render_one_message);
    tcase_add_test(tc, test_render_families_when_empty);
    tcase_add_test(tc, test_reloads_errors_fallbacks_gauges);
    tcase_add_test(tc, test_bounded_labels_fold);
    tcase_add_test(tc, test_vocabulary_and_escape);
    tcase_add_test(tc, test_cardinality_bound);
    tcase_add_test(tc, test_threads_add_up);
    tcase_add_test(tc, test_partner_totals_for_the_alert);
    tcase_add_test(tc, test_shadow_and_alert_gauges);
    tcase_add_test(tc, test_threads_create_series_concurrently);
    suite_add_tcase(s, tc);
    return prm::test::run_suites({s});
}
