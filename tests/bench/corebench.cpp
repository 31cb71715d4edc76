// corebench.cpp - micro-benchmark of the pure core: load and decide at scale.
//
// What: for partner tables of N partners (default 10, 10000, 100000) it
// writes a main config and a partner table into a temporary directory,
// times load_snapshot() (median of 3), reports the heap the snapshot holds,
// and times decide() per message over a realistic mix of messages (80%
// trusted with an eligible category and a random partner, 10% trusted with
// a global category, 10% from an untrusted client), plus decide() followed
// by apply_edits() into a recording MTA and the log line (the daemon's
// whole per-message path without libmilter).
//
// Contract: prints one line per table size; figures only, never asserts a
// timing (exit 1 only when a load fails). Usage: corebench [N...]
//
// Thread safety: single-threaded. Limits: the memory figure is the heap
// the snapshot holds (mallinfo2), not counting allocator slack.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/actions.hpp"
#include "core/decide.hpp"
#include "core/snapshot.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Heap bytes in use, in KiB (RSS would hide reuse of freed blocks).
long rss_kib() { return static_cast<long>(mallinfo2().uordblks / 1024); }

// Write the main config and a table of N partners under DIR; return the
// config path. Hosts are IP literals (TEST-NET-3): a host name would cost a
// DNS lookup per distinct name at load (the private-address guard), which
// measures the resolver, not the milter (see BENCHMARKS.md).
std::string write_tables(const std::string& dir, int n) {
    std::string conf = dir + "/bench.conf", parts = dir + "/partners.conf";
    std::ofstream c(conf);
    c << "[milter]\nsocket = local:" << dir << "/milter.sock\npartners = " << parts
      << "\ntrusted_networks = 127.0.0.1/32\nfallback_sender = noreply@platform.example\n";
    std::ofstream p(parts);
    for (int i = 0; i < n; ++i)
        p << "[p" << i << "]\nhost = 203.0.113." << (1 + i % 97) << "\nport = "
          << (i % 10 == 0 ? 465 : 587) << "\nusername = user" << i << "\npassword = secret-" << i
          << "\nsender = mail@p" << i << ".example\n\n";
    std::filesystem::permissions(parts, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return conf;
}

// A message as Postfix hands it over; KIND 0 partner, 1 global, 2 untrusted.
prm::MessageFacts make_message(int kind, int partner, int seq) {
    prm::MessageFacts m;
    m.queue_id = "4Q" + std::to_string(100000 + seq);
    m.client_addr = kind == 2 ? "192.0.2.7" : "127.0.0.1";
    m.daemon_name = "smtpd";
    m.mail_from = "<app@platform.example>";
    m.rcpts = {"<a@dest.example>", "<b@dest.example>", "<c@dest.example>"};
    m.headers = {
        {"Received", "from app.platform.example (localhost [127.0.0.1]) by mta.example (Postfix)"},
        {"From", "\"Platform App\" <app@platform.example>"},
        {"To", "a@dest.example, b@dest.example, c@dest.example"},
        {"Subject", "Your verification link " + std::to_string(seq)},
        {"Date", "Thu, 26 Nov 2026 07:00:00 +0000"},
        {"Message-ID", "<" + std::to_string(seq) + "@platform.example>"},
        {"MIME-Version", "1.0"},
        {"Content-Type", "text/plain; charset=utf-8"},
        {"X-Partner-Id", "p" + std::to_string(partner)},
        {"X-Email-Category", kind == 1 ? "account-security" : "verification-link"},
    };
    return m;
}

// The partner index for message I (spread over the whole table).
int partner_for(int i, int n) { return static_cast<int>((static_cast<long>(i) * 7919) % n); }

struct Figures {
    double load_ms = 0, rss_mib = 0, decide_us = 0, path_us = 0;
    std::size_t active = 0;
};

// Median of three loads; keeps the last snapshot in OUT.
bool time_load(const std::string& conf, std::shared_ptr<const prm::Snapshot>& out, Figures& f) {
    std::vector<double> ms;
    long before = rss_kib();
    for (int r = 0; r < 3; ++r) {
        out.reset();
        if (r == 2) before = rss_kib();
        auto t0 = Clock::now();
        prm::SnapshotResult res = prm::load_snapshot(conf, 1);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!res.snapshot) {
            for (const auto& d : res.errors) std::fprintf(stderr, "corebench: %s\n", d.str().c_str());
            return false;
        }
        out = res.snapshot;
    }
    std::sort(ms.begin(), ms.end());
    f.load_ms = ms[1];
    f.rss_mib = static_cast<double>(rss_kib() - before) / 1024.0;
    f.active = out->partners.active_count();
    return true;
}

// Microseconds per message of decide() (WITH_PATH: + edits + log line).
double time_decide(const prm::Snapshot& snap, const std::vector<prm::MessageFacts>& msgs, bool with_path) {
    const int rounds = with_path ? 100000 : 200000;
    std::size_t sink = 0;
    auto t0 = Clock::now();
    for (int i = 0; i < rounds; ++i) {
        const prm::MessageFacts& m = msgs[static_cast<std::size_t>(i) % msgs.size()];
        prm::Decision d = prm::decide(snap, m);
        sink += d.edits.size();
        if (with_path) {
            prm::RecordingActions rec;
            std::string failed;
            sink += prm::apply_edits(d.edits, rec, failed) ? rec.lines.size() : 0;
            sink += d.log_line(m.queue_id).size();
        }
    }
    double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / rounds;
    if (sink == 0) std::fprintf(stderr, "corebench: no edits at all?\n");
    return us;
}

// Build the message mix for a table of N partners.
std::vector<prm::MessageFacts> message_mix(int n) {
    std::vector<prm::MessageFacts> msgs;
    for (int i = 0; i < 1000; ++i) {
        int kind = i % 10 == 8 ? 1 : i % 10 == 9 ? 2 : 0;
        msgs.push_back(make_message(kind, partner_for(i, n), i));
    }
    return msgs;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<int> sizes;
    for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
    if (sizes.empty()) sizes = {10, 10000, 100000};

    char tmpl[] = "/tmp/prm-corebench-XXXXXX";
    if (!mkdtemp(tmpl)) return std::perror("mkdtemp"), 1;
    std::string dir = tmpl;

    std::printf("%-10s %9s %8s %9s %11s %13s\n", "partners", "active", "load_ms", "heap_MiB", "decide_us",
                "decide+path_us");
    int rc = 0;
    for (int n : sizes) {
        std::string conf = write_tables(dir, n);
        std::shared_ptr<const prm::Snapshot> snap;
        Figures f;
        if (!time_load(conf, snap, f)) {
            rc = 1;
            continue;
        }
        auto msgs = message_mix(n);
        time_decide(*snap, msgs, false);  // warm caches
        f.decide_us = time_decide(*snap, msgs, false);
        f.path_us = time_decide(*snap, msgs, true);
        std::printf("%-10d %9zu %8.1f %9.1f %11.2f %13.2f\n", n, f.active, f.load_ms, f.rss_mib, f.decide_us,
                    f.path_us);
        std::fflush(stdout);
    }
    std::filesystem::remove_all(dir);
    return rc;
}
