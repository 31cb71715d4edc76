// series.hpp - a lock-free, insert-only table of labelled 64-bit counters.
//
// What: SeriesTable<K> maps a key of K label values to a counter. add() is
// lock-free on the message path: it hashes the key, probes an open-
// addressing array of slots, and increments the slot's atomic counter. A
// slot is claimed once, by a compare-and-swap of its hash tag; its key is
// then published through an atomic pointer. A thread that finds a tag equal
// to its own hash whose key is not yet published waits for it (a few string
// copies by the claiming thread: only the very first message of a series
// can meet this). Slots are never removed.
//
// Contract: at most MAX_SERIES distinct keys; past that (or when the probe
// finds no room, which the 2x capacity makes impossible in practice) a new
// key is counted in one overflow series whose labels are all "other". The
// bound may be exceeded by at most the number of threads racing on it.
//
// Thread safety: add() and for_each() from any thread, concurrently.
// for_each() sees every published series with a value at least as large as
// the adds that happened before it started.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace prm {

template <std::size_t K>
class SeriesTable {
public:
    using Key = std::array<std::string, K>;

    explicit SeriesTable(std::size_t max_series) : max_(max_series) {
        std::size_t cap = 16;
        while (cap < 2 * max_series) cap *= 2;
        mask_ = cap - 1;
        slots_ = std::make_unique<Slot[]>(cap);
        overflow_key_.fill("other");
    }
    ~SeriesTable() {
        for (std::size_t i = 0; i <= mask_; ++i) delete slots_[i].key.load();
    }
    SeriesTable(const SeriesTable&) = delete;
    SeriesTable& operator=(const SeriesTable&) = delete;

    // Add N to the series KEY (or to the overflow series, see above).
    void add(const Key& key, std::uint64_t n = 1) {
        std::uint64_t h = hash(key);
        for (std::size_t probe = 0, i = h & mask_; probe <= mask_; ++probe, i = (i + 1) & mask_) {
            Slot& s = slots_[i];
            std::uint64_t tag = s.tag.load(std::memory_order_acquire);
            if (tag == 0) {
                if (used_.load(std::memory_order_relaxed) >= max_) break;
                if (s.tag.compare_exchange_strong(tag, h, std::memory_order_acq_rel)) {
                    used_.fetch_add(1, std::memory_order_relaxed);
                    s.count.fetch_add(n, std::memory_order_relaxed);
                    s.key.store(new Key(key), std::memory_order_release);
                    return;
                }
                // Lost the race: TAG now holds the winner's hash.
            }
            if (tag != h) continue;
            const Key* k = s.key.load(std::memory_order_acquire);
            while (!k) {  // claimed, key not yet published
                std::this_thread::yield();
                k = s.key.load(std::memory_order_acquire);
            }
            if (*k == key) {
                s.count.fetch_add(n, std::memory_order_relaxed);
                return;
            }
        }
        overflow_.fetch_add(n, std::memory_order_relaxed);
    }

    // Call F(key, value) for every published series, overflow last.
    template <class F>
    void for_each(F&& f) const {
        for (std::size_t i = 0; i <= mask_; ++i) {
            const Key* k = slots_[i].key.load(std::memory_order_acquire);
            if (k) f(*k, slots_[i].count.load(std::memory_order_relaxed));
        }
        std::uint64_t o = overflow_.load(std::memory_order_relaxed);
        if (o > 0) f(overflow_key_, o);
    }

private:
    struct Slot {
        std::atomic<std::uint64_t> tag{0};  // hash of the key; 0: free
        std::atomic<const Key*> key{nullptr};
        std::atomic<std::uint64_t> count{0};
    };

    // FNV-1a over the labels with a separator; never 0 (0 marks a free slot).
    static std::uint64_t hash(const Key& key) {
        std::uint64_t h = 1469598103934665603ull;
        for (const std::string& part : key) {
            for (unsigned char c : part) h = (h ^ c) * 1099511628211ull;
            h = (h ^ 0xffu) * 1099511628211ull;
        }
        return h == 0 ? 1 : h;
    }

    std::size_t max_;
    std::size_t mask_ = 0;
    std::unique_ptr<Slot[]> slots_;
    std::atomic<std::size_t> used_{0};
    std::atomic<std::uint64_t> overflow_{0};
    Key overflow_key_;
};

}  // namespace prm
