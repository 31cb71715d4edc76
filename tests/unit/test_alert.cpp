// test_alert.cpp - suite_alert: the per-partner fallback-rate alert.
//
// What could break: a warning below the minimum volume or the threshold,
// a warning repeated more than once per window, a missing or repeated
// recovery line, old messages never leaving the window, folded labels
// alerting, a disabled alert still talking, and a reload losing the state.
// The clock is injected: every test runs in no time.
#include <map>
#include <string>
#include <vector>

#include "core/alert.hpp"
#include "core/snapshot.hpp"  // before helpers.hpp: check.h must come after <ios>
#include "helpers.hpp"
#include "suites.hpp"

using namespace prm;

namespace {

AlertSettings settings(int rate, int min, int window) {
    AlertSettings s;
    s.rate_percent = rate;
    s.min_messages = min;
    s.window = window;
    return s;
}

// The lines of EVENTS, one per line, for readable failure messages.
std::string lines(const std::vector<AlertEvent>& events) {
    std::string s;
    for (const auto& e : events) s += e.line() + "\n";
    return s;
}

void expect_lines(const std::vector<AlertEvent>& got, const std::string& want, const char* when) {
    std::string g = lines(got);
    ck_assert_msg(g == want, "%s: got\n%s\nwant\n%s", when, g.c_str(), want.c_str());
}

}  // namespace

START_TEST(warns_once_at_threshold_with_enough_messages) {
    FallbackAlert a(settings(20, 10, 900));
    a.add("acme", 9, 9, 100);
    expect_lines(a.evaluate(100), "", "9 routed, below min_messages 10");
    a.add("acme", 1, 0, 101);
    expect_lines(a.evaluate(101),
                 "fallback-alert partner=acme status=failing rate=90% fallbacks=9 routed=10 "
                 "window=900s threshold=20% min_messages=10\n",
                 "10 routed, 9 fell back");
    ck_assert_msg(a.alerting("acme"), "alerting(acme): got false, want true");
    a.add("acme", 5, 5, 200);
    expect_lines(a.evaluate(200), "", "still failing within the same window");
}
END_TEST

START_TEST(below_threshold_never_warns) {
    FallbackAlert a(settings(20, 10, 900));
    a.add("acme", 100, 19, 10);
    expect_lines(a.evaluate(10), "", "19% < 20%");
    a.add("acme", 0, 1, 11);
    expect_lines(a.evaluate(11),
                 "fallback-alert partner=acme status=failing rate=20% fallbacks=20 routed=100 "
                 "window=900s threshold=20% min_messages=10\n",
                 "exactly 20%");
}
END_TEST

START_TEST(recovers_once_when_rate_drops) {
    FallbackAlert a(settings(50, 4, 60));
    a.add("acme", 4, 4, 0);
    ck_assert_msg(a.evaluate(0).size() == 1, "want a warning at t=0");
    a.add("acme", 6, 0, 10);  // 4 of 10 = 40% < 50%
    expect_lines(a.evaluate(10),
                 "fallback-alert partner=acme status=recovered rate=40% fallbacks=4 routed=10 "
                 "window=60s threshold=50% min_messages=4\n",
                 "rate fell to 40%");
    ck_assert_msg(!a.alerting("acme"), "alerting(acme): got true, want false");
    expect_lines(a.evaluate(11), "", "no second recovery line");
}
END_TEST

START_TEST(failures_leave_the_window) {
    // Window 60 s: 1 s buckets. The failures at t=0 are gone at t=61.
    FallbackAlert a(settings(20, 2, 60));
    a.add("acme", 2, 2, 0);
    ck_assert_msg(a.evaluate(0).size() == 1, "want a warning at t=0");
    expect_lines(a.evaluate(59), "", "t=59: still in the window, no repeat");
    auto ev = a.evaluate(61);
    ck_assert_msg(ev.size() == 1 && ev[0].kind == AlertEvent::Kind::recovered && ev[0].routed == 0,
                  "t=61: got\n%s\nwant one recovery with routed=0", lines(ev).c_str());
}
END_TEST

START_TEST(repeats_once_per_window_while_failing) {
    FallbackAlert a(settings(20, 2, 60));
    int warnings = 0;
    for (int t = 0; t <= 130; ++t) {
        a.add("acme", 1, 1, t);
        for (const auto& e : a.evaluate(t)) {
            ck_assert_msg(e.kind == AlertEvent::Kind::failing, "t=%d: got %s", t, e.line().c_str());
            ++warnings;
        }
    }
    // t=1 (2 routed reached), t=61, t=121.
    ck_assert_msg(warnings == 3, "warnings over 130 s of failing: got %d, want 3", warnings);
}
END_TEST

START_TEST(fallbacks_without_routed_do_not_warn_but_hold) {
    // Fallbacks of messages routed before the window: rate capped at 100%,
    // too few routed messages to warn, but an alerting partner stays so.
    FallbackAlert a(settings(20, 3, 60));
    a.add("acme", 3, 3, 0);
    ck_assert_msg(a.evaluate(0).size() == 1, "want a warning at t=0");
    a.add("acme", 0, 2, 70);
    expect_lines(a.evaluate(70), "", "t=70: 0 routed, 2 fallbacks");
    ck_assert_msg(a.alerting("acme"), "t=70: alerting(acme): got false, want true");
    FallbackAlert b(settings(20, 3, 60));
    b.add("globex", 0, 5, 0);
    expect_lines(b.evaluate(0), "", "only fallbacks, nothing routed");
}
END_TEST

START_TEST(partners_are_independent_and_sorted) {
    FallbackAlert a(settings(20, 1, 60));
    a.add("zeta", 1, 1, 5);
    a.add("acme", 1, 1, 5);
    a.add("mid", 10, 0, 5);
    auto ev = a.evaluate(5);
    ck_assert_msg(ev.size() == 2 && ev[0].partner == "acme" && ev[1].partner == "zeta",
                  "got\n%s\nwant acme then zeta", lines(ev).c_str());
}
END_TEST

START_TEST(folded_labels_and_disabled_alert_are_silent) {
    FallbackAlert a(settings(20, 1, 60));
    a.add("other", 5, 5, 0);
    a.add("none", 5, 5, 0);
    expect_lines(a.evaluate(0), "", "folded labels");
    FallbackAlert off(settings(0, 1, 60));
    off.add("acme", 5, 5, 0);
    expect_lines(off.evaluate(0), "", "rate 0 disables");
}
END_TEST

START_TEST(reconfigure_keeps_alerting_state) {
    FallbackAlert a(settings(20, 1, 60));
    a.add("acme", 1, 1, 0);
    ck_assert_msg(a.evaluate(0).size() == 1, "want a warning at t=0");
    a.configure(settings(20, 1, 120));  // new window: history restarts
    auto ev = a.evaluate(1);
    ck_assert_msg(ev.size() == 1 && ev[0].kind == AlertEvent::Kind::recovered,
                  "after a new window: got\n%s\nwant one recovery (empty window)",
                  lines(ev).c_str());
    FallbackAlert b(settings(20, 1, 60));
    b.add("acme", 1, 1, 0);
    b.evaluate(0);
    b.configure(settings(30, 1, 60));  // same window: history kept
    b.add("acme", 0, 0, 1);
    expect_lines(b.evaluate(1), "", "same window, still failing, no repeat");
    ck_assert_msg(b.alerting("acme"), "alerting(acme): got false, want true");
}
END_TEST

START_TEST(large_window_uses_coarse_buckets) {
    // Window 900 s: 15 s buckets; a message at t=0 is still counted at
    // t=900 (its bucket ends at 15 > 0: one window after the first
    // warning, so it is repeated) and gone at t=915.
    FallbackAlert a(settings(20, 1, 900));
    a.add("acme", 1, 1, 0);
    ck_assert_msg(a.evaluate(0).size() == 1, "want a warning at t=0");
    expect_lines(a.evaluate(899), "", "t=899: inside the window, no repeat yet");
    auto again = a.evaluate(900);
    ck_assert_msg(again.size() == 1 && again[0].kind == AlertEvent::Kind::failing,
                  "t=900: got\n%s\nwant one repeated warning (bucket still inside)",
                  lines(again).c_str());
    auto ev = a.evaluate(915);
    ck_assert_msg(ev.size() == 1 && ev[0].kind == AlertEvent::Kind::recovered,
                  "t=915: got\n%s\nwant a recovery", lines(ev).c_str());
}
END_TEST

START_TEST(feed_turns_totals_into_increments) {
    AlertFeed f;
    AlertSettings s = settings(50, 2, 60);
    std::map<std::string, PartnerTotals> totals;
    totals["acme"] = PartnerTotals{10, 0};
    expect_lines(f.tick(totals, s, 0), "", "10 routed, no fallback");
    totals["acme"] = PartnerTotals{12, 2};  // +2 routed, +2 fallbacks: 2 of 12 = 16%
    expect_lines(f.tick(totals, s, 1), "", "2 of 12");
    totals["acme"] = PartnerTotals{12, 8};  // 8 of 12 = 66%
    auto ev = f.tick(totals, s, 2);
    ck_assert_msg(ev.size() == 1 && ev[0].fallbacks == 8 && ev[0].routed == 12,
                  "got\n%s\nwant one warning with 8 of 12", lines(ev).c_str());
    // The settings of the tick apply: rate 70% is not reached, recovery.
    ev = f.tick(totals, settings(70, 2, 60), 3);
    ck_assert_msg(ev.size() == 1 && ev[0].kind == AlertEvent::Kind::recovered,
                  "after raising the threshold: got\n%s\nwant a recovery", lines(ev).c_str());
}
END_TEST

Suite* suite_alert() {
    Suite* s = suite_create("alert");
    TCase* tc = tcase_create("alert");
    tcase_add_test(tc, warns_once_at_threshold_with_enough_messages);
    tcase_add_test(tc, below_threshold_never_warns);
    tcase_add_test(tc, recovers_once_when_rate_drops);
    tcase_add_test(tc, failures_leave_the_window);
    tcase_add_test(tc, repeats_once_per_window_while_failing);
    tcase_add_test(tc, fallbacks_without_routed_do_not_warn_but_hold);
    tcase_add_test(tc, partners_are_independent_and_sorted);
    tcase_add_test(tc, folded_labels_and_disabled_alert_are_silent);
    tcase_add_test(tc, reconfigure_keeps_alerting_state);
    tcase_add_test(tc, large_window_uses_coarse_buckets);
    tcase_add_test(tc, feed_turns_totals_into_increments);
    suite_add_tcase(s, tc);
    return s;
}
