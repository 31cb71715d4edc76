// counters.cpp - bounded, sharded counters rendered as Prometheus text.
//
// See counters.hpp for the contract. The per-message path locks one of
// kCounterShards mutexes picked by a hash of the calling thread's id;
// render() merges the shards into sorted maps so the output is stable
// (the same counts always render to the same bytes, which the tests use).
#include "core/counters.hpp"

#include <functional>
#include <thread>

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
    return l;
}

// The shard of the calling thread.
Counters::Shard& Counters::my_shard() {
    std::size_t h = std::hash<std::thread::id>()(std::this_thread::get_id());
    return shards_[h % kCounterShards];
}

// Count one message, folding new series past the cardinality bound.
void Counters::count_message(const MessageLabels& l, bool fallback) {
    Shard& s = my_shard();
    std::lock_guard<std::mutex> lock(s.mu);
    Key key{l.category, l.partner, l.route, l.reason};
    auto it = s.messages.find(key);
    if (it == s.messages.end()) {
        // A new series: past the bound every label becomes "other".
        if (s.messages.size() >= kMaxSeries) {
            std::string o(kOtherLabel);
            key = Key{o, o, o, o};
        }
        it = s.messages.emplace(std::move(key), 0).first;
    }
    ++it->second;
    if (fallback) {
        // Fallback partners come from the same folded label set.
        if (s.fallbacks.size() < kMaxSeries || s.fallbacks.count(l.partner))
            ++s.fallbacks[l.partner];
        else
            ++s.fallbacks[std::string(kOtherLabel)];
    }
}

// Count a reload attempt.
void Counters::count_reload(bool ok) {
    (ok ? reloads_ok_ : reloads_failed_).fetch_add(1, std::memory_order_relaxed);
}

// Count an internal error; KIND is folded like a reason.
void Counters::count_error(std::string_view kind) {
    std::string k = vocabulary_label(kind);
    std::lock_guard<std::mutex> lock(err_mu_);
    if (errors_.size() >= 64 && !errors_.count(k)) k = std::string(kOtherLabel);
    ++errors_[k];
}

// Publish the snapshot gauges.
void Counters::set_snapshot_info(std::uint64_t generation, std::size_t active,
                                 std::size_t inactive) {
    generation_.store(generation, std::memory_order_relaxed);
    active_.store(active, std::memory_order_relaxed);
    inactive_.store(inactive, std::memory_order_relaxed);
}

// Sum of every message series.
std::uint64_t Counters::messages_total() const {
    std::uint64_t n = 0;
    for (const Shard& s : shards_) {
        std::lock_guard<std::mutex> lock(s.mu);
        for (const auto& [k, v] : s.messages) n += v;
    }
    return n;
}

// Render all families, series sorted by label values.
std::string Counters::render() const {
    std::map<Key, std::uint64_t> messages;
    std::map<std::string, std::uint64_t> fallbacks;
    for (const Shard& s : shards_) {
        std::lock_guard<std::mutex> lock(s.mu);
        for (const auto& [k, v] : s.messages) messages[k] += v;
        for (const auto& [k, v] : s.fallbacks) fallbacks[k] += v;
    }

    std::string out;
    family(out, "partner_relay_messages_total", "counter",
           "Messages decided, by category, partner, route and reason.");
    for (const auto& [k, v] : messages) {
        std::string labels = pair("category", std::get<0>(k)) + "," +
                             pair("partner", std::get<1>(k)) + "," + pair("route", std::get<2>(k)) +
                             "," + pair("reason", std::get<3>(k));
        sample(out, "partner_relay_messages_total", labels, v);
    }
    family(out, "partner_relay_fallback_messages_total", "counter",
           "Messages seen on the fallback listener, by partner.");
    for (const auto& [k, v] : fallbacks)
        sample(out, "partner_relay_fallback_messages_total", pair("partner", k), v);

    family(out, "partner_relay_reloads_total", "counter", "Configuration reloads, by result.");
    sample(out, "partner_relay_reloads_total", pair("result", "ok"), reloads_ok_.load());
    sample(out, "partner_relay_reloads_total", pair("result", "failed"), reloads_failed_.load());

    family(out, "partner_relay_errors_total", "counter", "Internal errors, by kind.");
    {
        std::lock_guard<std::mutex> lock(err_mu_);
        for (const auto& [k, v] : errors_)
            sample(out, "partner_relay_errors_total", pair("kind", k), v);
    }

    family(out, "partner_relay_config_generation", "gauge",
           "Generation of the configuration in use.");
    sample(out, "partner_relay_config_generation", "", generation_.load());
    family(out, "partner_relay_partners", "gauge", "Partners in the table, by status.");
    sample(out, "partner_relay_partners", pair("status", "active"), active_.load());
    sample(out, "partner_relay_partners", pair("status", "inactive"), inactive_.load());
    family(out, "partner_relay_messages_in_flight", "gauge",
           "Messages between MAIL FROM and end of message.");
    long f = in_flight_.load();
    sample(out, "partner_relay_messages_in_flight", "", f < 0 ? 0 : static_cast<std::uint64_t>(f));
    return out;
}

}  // namespace prm
