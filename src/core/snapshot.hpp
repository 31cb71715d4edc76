// snapshot.hpp - the immutable configuration snapshot and its publisher.
//
// A Snapshot holds the main config and the partner table loaded together.
// It is published through std::atomic<std::shared_ptr<const Snapshot>>: a
// reload builds a whole new snapshot and swaps it in; a message keeps the
// snapshot it started with until its end. A failed reload keeps the old one.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>

#include "core/config.hpp"
#include "core/partners.hpp"

namespace prm {

struct Snapshot {
    Config config;
    PartnerTable partners;
    std::uint64_t generation = 0;
    // Normalized senders of partners that earlier snapshots of this process
    // had and this one has not: the fallback listener still restores their
    // queued mail (a partner removed while its mail waits in the queue).
    // Null when there are none. Bounded by the senders the tables ever held.
    std::shared_ptr<const std::unordered_set<std::string>> former_senders;
};

struct SnapshotResult {
    std::shared_ptr<const Snapshot> snapshot;  // null when errors is not empty
    Diags errors;    // main config errors, unreadable partner table
    Diags warnings;  // inactive partners, insecure modes
};

// Load the main config at PATH and the partner table it names. With
// CHECK_PUBLISHED, active partners the published stamp does not cover are
// marked waiting (published.hpp); the tables tool writing them passes false.
// PREVIOUS (the snapshot being replaced at a reload) hands its partners'
// senders on as former_senders.
SnapshotResult load_snapshot(const std::string& config_path, std::uint64_t generation = 0,
                             bool check_published = true, const Snapshot* previous = nullptr);

class SnapshotHolder {
public:
    std::shared_ptr<const Snapshot> get() const { return current_.load(std::memory_order_acquire); }
    void set(std::shared_ptr<const Snapshot> s) { current_.store(std::move(s), std::memory_order_release); }

private:
    std::atomic<std::shared_ptr<const Snapshot>> current_;
};

}  // namespace prm
