// alert.cpp - the per-partner fallback-rate alert (see alert.hpp).
//
// Each partner keeps a deque of time buckets (oldest first). add() adds to
// the newest bucket or opens one; evaluate() drops buckets that left the
// window, sums the rest and applies the warning/recovery rules. A partner
// whose window is empty and that is not alerting is forgotten, so memory
// follows the partners with recent partner-routed mail.
#include "core/alert.hpp"

#include <algorithm>

namespace prm {

namespace {

// Folded labels (counters.hpp) name no partner: never alert on them.
bool ignored(std::string_view partner) {
    return partner.empty() || partner == "other" || partner == "none";
}

}  // namespace

// "fallback-alert partner=... status=... rate=...%...".
std::string AlertEvent::line() const {
    std::string s = "fallback-alert partner=" + partner;
    s += kind == Kind::failing ? " status=failing" : " status=recovered";
    s += " rate=" + std::to_string(rate_percent) + "%";
    s += " fallbacks=" + std::to_string(fallbacks) + " routed=" + std::to_string(routed);
    s += " window=" + std::to_string(settings.window) + "s";
    s += " threshold=" + std::to_string(settings.rate_percent) + "%";
    s += " min_messages=" + std::to_string(settings.min_messages);
    return s;
}

FallbackAlert::FallbackAlert(AlertSettings s) : settings_(s) {}

// New settings; a changed bucket width makes old buckets meaningless.
void FallbackAlert::configure(const AlertSettings& s) {
    bool new_width = s.window != settings_.window;
    settings_ = s;
    if (!new_width) return;
    for (auto& [id, st] : partners_) st.buckets.clear();
}

// About 60 buckets per window, at least one second wide.
std::int64_t FallbackAlert::bucket_width() const {
    return std::max<std::int64_t>(1, settings_.window / 60);
}

// Add to the bucket NOW falls in (the newest one, or a new one).
void FallbackAlert::add(std::string_view partner, std::uint64_t routed, std::uint64_t fallbacks,
                        std::int64_t now) {
    if (settings_.rate_percent <= 0 || ignored(partner) || (routed == 0 && fallbacks == 0)) return;
    auto it = partners_.find(partner);
    if (it == partners_.end()) it = partners_.emplace(std::string(partner), State{}).first;
    std::deque<Bucket>& b = it->second.buckets;
    std::int64_t w = bucket_width();
    std::int64_t start = now - ((now % w) + w) % w;  // floor, also for negative times
    // Time never runs backwards here (monotonic clock); a late sample is
    // simply added to the newest bucket.
    if (b.empty() || b.back().start < start) b.push_back(Bucket{start, 0, 0});
    b.back().routed += routed;
    b.back().fallbacks += fallbacks;
}

// Drop ST's buckets that ended before the window and measure the rest.
AlertEvent FallbackAlert::measure(const std::string& partner, State& st, std::int64_t now) const {
    std::int64_t w = bucket_width();
    while (!st.buckets.empty() && st.buckets.front().start + w <= now - settings_.window)
        st.buckets.pop_front();
    AlertEvent ev;
    ev.partner = partner;
    ev.settings = settings_;
    for (const Bucket& b : st.buckets) {
        ev.routed += b.routed;
        ev.fallbacks += b.fallbacks;
    }
    if (ev.routed == 0)
        ev.rate_percent = ev.fallbacks > 0 ? 100 : 0;
    else
        ev.rate_percent =
            static_cast<int>(std::min<std::uint64_t>(100, ev.fallbacks * 100 / ev.routed));
    return ev;
}

// Apply the rules of alert.hpp to every partner.
std::vector<AlertEvent> FallbackAlert::evaluate(std::int64_t now) {
    std::vector<AlertEvent> out;
    if (settings_.rate_percent <= 0) return out;
    for (auto it = partners_.begin(); it != partners_.end();) {
        State& st = it->second;
        AlertEvent ev = measure(it->first, st, now);
        // Exact comparison in integers: fallbacks/routed >= rate/100.
        bool at_rate =
            ev.fallbacks * 100 >= static_cast<std::uint64_t>(settings_.rate_percent) * ev.routed &&
            ev.fallbacks > 0;
        bool failing = at_rate && ev.routed >= static_cast<std::uint64_t>(settings_.min_messages);
        if (failing && (!st.alerting || now - st.last_warning >= settings_.window)) {
            st.alerting = true;
            st.last_warning = now;
            ev.kind = AlertEvent::Kind::failing;
            out.push_back(ev);
        } else if (st.alerting && !at_rate) {
            st.alerting = false;
            ev.kind = AlertEvent::Kind::recovered;
            out.push_back(ev);
        }
        if (!st.alerting && st.buckets.empty())
            it = partners_.erase(it);
        else
            ++it;
    }
    return out;
}

// True while PARTNER is alerting.
bool FallbackAlert::alerting(std::string_view partner) const {
    auto it = partners_.find(partner);
    return it != partners_.end() && it->second.alerting;
}

// Increments since the previous tick, then the rules.
std::vector<AlertEvent> AlertFeed::tick(const std::map<std::string, PartnerTotals>& totals,
                                        const AlertSettings& s, std::int64_t now) {
    const AlertSettings& cur = alert_.settings();
    if (s.rate_percent != cur.rate_percent || s.min_messages != cur.min_messages ||
        s.window != cur.window)
        alert_.configure(s);
    for (const auto& [partner, t] : totals) {
        PartnerTotals& prev = last_[partner];
        // Counters only grow; guard anyway so a wrap can never add 2^64.
        std::uint64_t r = t.routed >= prev.routed ? t.routed - prev.routed : 0;
        std::uint64_t f = t.fallbacks >= prev.fallbacks ? t.fallbacks - prev.fallbacks : 0;
        alert_.add(partner, r, f, now);
        prev = t;
    }
    return alert_.evaluate(now);
}

}  // namespace prm
