// counters.cpp - bounded, sharded counters rendered as Prometheus text.
//
// See counters.hpp for the contract. The per-message path only touches
// atomics in lock-free series tables (series.hpp); render() copies them into
// sorted maps so the output is stable (the same counts always render to the
// same bytes, which the tests use).
#include "core/counters.hpp"

#include "core/decide.hpp"
#include "core/snapshot.hpp"

namespace prm {

namespace {

constexpr std::size_t kMaxLabelLength = 64;

// A label for an id that must be in a known set: KNOWN, empty -> "none".
std::string known_or_other(std::string_view v, bool known) {
    if (v.empty()) return std::string(kNoneLabel);
    return known ? std::string(v) : std::string(kOtherLabel);
}

// Append "# HELP" and "# TYPE" lines for one metric family.
void family(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

// Append one sample line: NAME{LABELS} VALUE.
void sample(std::string& out, const char* name, const std::string& labels, std::uint64_t v) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    out += std::to_string(v);
    out += '\n';
}

// One label pair k="escaped v".
std::string pair(const char* k, std::string_view v) {
    return std::string(k) + "=\"" + escape_label(v) + "\"";
}

}  // namespace

// Keep V when it is a short word of [A-Za-z0-9._:-], else "other".
std::string vocabulary_label(std::string_view v) {
    if (v.empty()) return std::string(kNoneLabel);
    if (v.size() > kMaxLabelLength) return std::string(kOtherLabel);
    for (char c : v) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok) return std::string(kOtherLabel);
    }
    return std::string(v);
}

// Escape backslash, double quote and newline as the exposition format wants.
std::string escape_label(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

// Fold the decision's labels: only table partners, only registry categories.
MessageLabels bounded_labels(const Snapshot& snap, const Decision& d) {
    MessageLabels l;
    l.category = known_or_other(d.category, snap.config.categories.known(d.category));
    l.partner = known_or_other(d.partner, snap.partners.find(d.partner) != nullptr);
    l.route = route_name(d.route);
    l.reason = vocabulary_label(d.reason);
    l.shadow = d.shadow;
    return l;
}

Counters::Counters()
    : messages_(kMaxSeries),
      fallbacks_(kMaxPartnerSeries),
      routed_(kMaxPartnerSeries),
      errors_(kMaxErrorSeries) {}

// Count one message; partner-routed ones (enforce mode) also by partner.
void Counters::count_message(const MessageLabels& l, bool fallback) {
    messages_.add({l.category, l.partner, l.route, l.reason});
    if (fallback) fallbacks_.add({l.partner});
    if (!fallback && !l.shadow && l.route == "partner") routed_.add({l.partner});
}

// Count a reload attempt.
void Counters::count_reload(bool ok) {
    (ok ? reloads_ok_ : reloads_failed_).fetch_add(1, std::memory_order_relaxed);
}

// Count an internal error; KIND is folded like a reason.
void Counters::count_error(std::string_view kind) { errors_.add({vocabulary_label(kind)}); }

// Remember PARTNER's alert state for the gauge.
void Counters::set_alerting(const std::string& partner, bool on) {
    std::lock_guard<std::mutex> lock(alert_mu_);
    if (on || alerting_.count(partner)) alerting_[partner] = on;
}

// Publish the snapshot gauges.
void Counters::set_snapshot_info(std::uint64_t generation, std::size_t active,
                                 std::size_t inactive, std::size_t waiting) {
    waiting_.store(waiting, std::memory_order_relaxed);
    generation_.store(generation, std::memory_order_relaxed);
    active_.store(active, std::memory_order_relaxed);
    inactive_.store(inactive, std::memory_order_relaxed);
}

// Sum of every message series.
std::uint64_t Counters::messages_total() const {
    std::uint64_t n = 0;
    messages_.for_each([&](const auto&, std::uint64_t v) { n += v; });
    return n;
}

// Partner-routed and fallback totals by partner label.
std::map<std::string, PartnerTotals> Counters::partner_totals() const {
    std::map<std::string, PartnerTotals> out;
    routed_.for_each([&](const auto& k, std::uint64_t v) { out[k[0]].routed += v; });
    fallbacks_.for_each([&](const auto& k, std::uint64_t v) { out[k[0]].fallbacks += v; });
    return out;
}

// Copy a one-label table into a sorted map (the overflow "other" merges).
template <class Table>
std::map<std::string, std::uint64_t> sorted(const Table& t) {
    std::map<std::string, std::uint64_t> out;
    t.for_each([&](const auto& k, std::uint64_t v) { out[k[0]] += v; });
    return out;
}

// Render all families, series sorted by label values.
std::string Counters::render() const {
    std::map<std::array<std::string, 4>, std::uint64_t> messages;
    messages_.for_each([&](const auto& k, std::uint64_t v) { messages[k] += v; });

    std::string out;
    family(out, "partner_relay_messages_total", "counter",
           "Messages decided, by category, partner, route and reason.");
    for (const auto& [k, v] : messages) {
        std::string labels = pair("category", k[0]) + "," + pair("partner", k[1]) + "," +
                             pair("route", k[2]) + "," + pair("reason", k[3]);
        sample(out, "partner_relay_messages_total", labels, v);
    }
    family(out, "partner_relay_fallback_messages_total", "counter",
           "Messages seen on the fallback listener (partner relay failed), by partner.");
    for (const auto& [k, v] : sorted(fallbacks_))
        sample(out, "partner_relay_fallback_messages_total", pair("partner", k), v);

    family(out, "partner_relay_reloads_total", "counter", "Configuration reloads, by result.");
    sample(out, "partner_relay_reloads_total", pair("result", "ok"), reloads_ok_.load());
    sample(out, "partner_relay_reloads_total", pair("result", "failed"), reloads_failed_.load());

    family(out, "partner_relay_errors_total", "counter", "Internal errors, by kind.");
    for (const auto& [k, v] : sorted(errors_))
        sample(out, "partner_relay_errors_total", pair("kind", k), v);
    render_gauges(out);
    return out;
}

// Append the gauge families.
void Counters::render_gauges(std::string& out) const {
    family(out, "partner_relay_config_generation", "gauge",
           "Generation of the configuration in use.");
    sample(out, "partner_relay_config_generation", "", generation_.load());
    family(out, "partner_relay_partners", "gauge", "Partners in the table, by status.");
    sample(out, "partner_relay_partners", pair("status", "active"), active_.load());
    sample(out, "partner_relay_partners", pair("status", "inactive"), inactive_.load());
    sample(out, "partner_relay_partners", pair("status", "waiting"), waiting_.load());
    family(out, "partner_relay_shadow_mode", "gauge",
           "1 when mode = shadow: decisions are logged and counted, nothing is routed.");
    sample(out, "partner_relay_shadow_mode", "", shadow_mode_.load() ? 1 : 0);
    family(out, "partner_relay_fallback_alert", "gauge",
           "1 while a partner's fallback rate is over the alert threshold.");
    {
        std::lock_guard<std::mutex> lock(alert_mu_);
        for (const auto& [k, on] : alerting_)
            sample(out, "partner_relay_fallback_alert", pair("partner", k), on ? 1 : 0);
    }
    family(out, "partner_relay_messages_in_flight", "gauge",
           "Messages between MAIL FROM and end of message.");
    long f = in_flight_.load();
    sample(out, "partner_relay_messages_in_flight", "", f < 0 ? 0 : static_cast<std::uint64_t>(f));
}

}  // namespace prm
