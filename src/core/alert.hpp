// alert.hpp - the per-partner fallback-rate alert over a sliding window.
//
// What: FallbackAlert is fed, per partner, how many messages were routed to
// the partner relay and how many of them came back through the fallback
// listener, with a timestamp. evaluate() computes, for each partner, the
// fallback rate = fallbacks / partner-routed messages within the last
// `window` seconds and returns the lines to log:
//   - a warning when the rate reaches the threshold with at least
//     min_messages partner-routed messages in the window; repeated at most
//     once per window while the rate stays there;
//   - one recovery line when an alerting partner's rate falls below the
//     threshold again (or its window empties).
// Partner-routed messages are decided at the first milter pass and their
// fallbacks at the second, so both are counted by partner; a fallback whose
// routing fell before the window still counts (the rate is capped at 100%).
//
// Contract: pure; the caller injects the time (seconds of a monotonic
// clock), so tests drive it without sleeping. Partner labels "other" and
// "none" (folded ids, see counters.hpp) are ignored. rate_percent = 0
// disables the alert: add() and evaluate() then do nothing.
//
// AlertFeed adapts the counters' running totals (counters.hpp) to it.
//
// Thread safety: none; one thread (the daemon's signal thread) owns it.
//
// Limits: the window is kept in at most about 60 buckets per partner
// (bucket width = window / 60, at least 1 s), so the effective window is
// between `window` and `window` + one bucket. Memory: one small deque per
// partner seen in the window, bounded by the partner table.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/counters.hpp"

namespace prm {

struct AlertSettings {
    int rate_percent = 20;  // 0: disabled
    int min_messages = 10;  // partner-routed messages in the window
    int window = 900;       // seconds
};

struct AlertEvent {
    enum class Kind { failing, recovered };
    Kind kind = Kind::failing;
    std::string partner;
    std::uint64_t routed = 0;     // partner-routed messages in the window
    std::uint64_t fallbacks = 0;  // fallbacks in the window
    int rate_percent = 0;         // fallbacks / routed, rounded down, capped at 100
    AlertSettings settings;

    // "fallback-alert partner=acme status=failing rate=60% fallbacks=6
    // routed=10 window=900s threshold=20% min_messages=10".
    std::string line() const;
};

class FallbackAlert {
public:
    explicit FallbackAlert(AlertSettings s = {});

    // Change the settings (reload); a new window width restarts the
    // history, but alerting partners stay alerting until they recover.
    void configure(const AlertSettings& s);
    const AlertSettings& settings() const { return settings_; }

    // Record ROUTED partner-routed messages and FALLBACKS fallbacks of
    // PARTNER at time NOW (seconds).
    void add(std::string_view partner, std::uint64_t routed, std::uint64_t fallbacks,
             std::int64_t now);

    // The warnings and recoveries due at NOW, partners in name order.
    std::vector<AlertEvent> evaluate(std::int64_t now);

    // True while PARTNER is alerting.
    bool alerting(std::string_view partner) const;

private:
    struct Bucket {
        std::int64_t start = 0;
        std::uint64_t routed = 0, fallbacks = 0;
    };
    struct State {
        std::deque<Bucket> buckets;
        bool alerting = false;
        std::int64_t last_warning = 0;
    };

    std::int64_t bucket_width() const;
    AlertEvent measure(const std::string& partner, State& st, std::int64_t now) const;

    AlertSettings settings_;
    std::map<std::string, State, std::less<>> partners_;
};

// What the daemon runs once a second: turns the counters' running totals
// into per-tick increments for a FallbackAlert under the current settings.
class AlertFeed {
public:
    // Feed the increments since the last call and evaluate at NOW.
    std::vector<AlertEvent> tick(const std::map<std::string, PartnerTotals>& totals,
                                 const AlertSettings& settings, std::int64_t now);
    const FallbackAlert& alert() const { return alert_; }

private:
    FallbackAlert alert_;
    std::map<std::string, PartnerTotals> last_;
};

}  // namespace prm
