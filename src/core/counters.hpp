// counters.hpp - message, fallback, reload and error counters of the daemon.
//
// What: counts every decided message by category x partner x route x reason,
// fallback-listener messages by partner, partner-routed messages by partner
// (enforce mode only: the fallback alert's denominator), reloads (ok/failed)
// and internal errors by kind, and renders them in the Prometheus text
// exposition format (version 0.0.4): partner_relay_messages_total{category=
// ...,partner=...,route=...,reason=...} and friends (see render()). It also
// tracks the number of messages in flight, which the daemon waits on at
// shutdown, and two gauges the signal thread sets: shadow mode and the
// partners whose fallback alert is on.
//
// Contract: label values are bounded. bounded_labels() keeps a partner label
// only when the partner is in the snapshot's table and a category only when
// the registry knows it; anything else folds into "other". Reasons are kept
// when they look like a vocabulary word (short, [A-Za-z0-9._:-]). Past
// kMaxSeries distinct message series (kMaxPartnerSeries per partner family),
// new series fold into one all-"other" series, so a hostile input can never
// grow memory without bound.
//
// Thread safety: every member function may be called from any thread. The
// per-message path (count_message, count_error, message_started/finished)
// is lock-free: atomic counters in insert-only tables (series.hpp). Only
// the alert gauge, set by the signal thread, takes a mutex.
//
// Limits: counters are 64-bit and never reset while the process lives (a
// reload keeps them: Prometheus counters must be monotonic).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "core/series.hpp"

namespace prm {

struct Snapshot;
struct Decision;

inline constexpr std::size_t kMaxSeries = 8192;          // message series
inline constexpr std::size_t kMaxPartnerSeries = 16384;  // per-partner series
inline constexpr std::size_t kMaxErrorSeries = 64;
inline constexpr std::string_view kOtherLabel = "other";
inline constexpr std::string_view kNoneLabel = "none";

// The four labels of one message, already folded to the bounded vocabulary.
struct MessageLabels {
    std::string category;
    std::string partner;
    std::string route;
    std::string reason;
    bool shadow = false;  // decided in shadow mode (nothing was routed)
};

// Per-partner totals since start, for the fallback alert.
struct PartnerTotals {
    std::uint64_t routed = 0;     // partner-routed messages (enforce mode)
    std::uint64_t fallbacks = 0;  // messages on the fallback listener
};

// Fold DECISION's labels for counting under SNAP (see the file comment).
MessageLabels bounded_labels(const Snapshot& snap, const Decision& decision);

// Keep V as a label when it is a short vocabulary word, else "other".
std::string vocabulary_label(std::string_view v);

// Escape a label value for the text exposition format (\\, \", \n).
std::string escape_label(std::string_view v);

class Counters {
public:
    Counters();

    // Count one decided message; FALLBACK when decided on the fallback listener.
    void count_message(const MessageLabels& labels, bool fallback);
    // Count one reload attempt.
    void count_reload(bool ok);
    // Count one internal error of KIND (a fixed word chosen by the caller).
    void count_error(std::string_view kind);
    // Record the published snapshot's generation and partner counts (gauges).
    // ACTIVE counts routed partners; WAITING the active ones whose
    // credentials are not published yet (published.hpp).
    void set_snapshot_info(std::uint64_t generation, std::size_t active, std::size_t inactive,
                           std::size_t waiting = 0);
    // Whether the snapshot in use is in shadow mode (gauge).
    void set_shadow_mode(bool on) { shadow_mode_.store(on, std::memory_order_relaxed); }
    // Whether PARTNER's fallback alert is on (gauge; a partner once set stays listed).
    void set_alerting(const std::string& partner, bool on);

    // Messages between MAIL FROM and end of message or abort.
    void message_started() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
    void message_finished() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
    long in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

    // Total messages counted so far (all series).
    std::uint64_t messages_total() const;
    // Partner-routed and fallback totals by partner label.
    std::map<std::string, PartnerTotals> partner_totals() const;
    // Render everything in the Prometheus text exposition format.
    std::string render() const;

private:
    void render_gauges(std::string& out) const;

    SeriesTable<4> messages_;   // category, partner, route, reason
    SeriesTable<1> fallbacks_;  // partner
    SeriesTable<1> routed_;     // partner
    SeriesTable<1> errors_;     // kind
    std::atomic<std::uint64_t> reloads_ok_{0}, reloads_failed_{0};
    std::atomic<std::uint64_t> generation_{0}, active_{0}, inactive_{0}, waiting_{0};
    std::atomic<bool> shadow_mode_{false};
    std::atomic<long> in_flight_{0};
    mutable std::mutex alert_mu_;
    std::map<std::string, bool> alerting_;
};

}  // namespace prm
