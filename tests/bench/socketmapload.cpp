// socketmapload.cpp - socketmap load client: asks a socketmap server like
// Postfix's smtp(8) asks partner-relay-tokend(8).
//
// What: opens CONNS connections to a UNIX socket and keeps each open for
// many lookups, as Postfix's socketmap client does (one request at a time
// per connection: netstring "NAME KEY", wait for the netstring reply).
// LOOKUPS requests in all, spread over the connections; the keys cycle over
// KEYS senders made from FORMAT (one %d, replaced by 0 .. KEYS-1), each
// connection starting at another offset. Every round trip (write of the
// request to the end of the reply) is timed.
//
// Output: one line of key=value figures: lookups, lookups/s, latency
// p50/p99/max in microseconds, how many replies began with "OK " and how
// many did not (TEMP, anything else), and the longest reply. Exit 1 when a
// connection failed (connect, read, a reply that is not a netstring);
// figures are never compared with targets here.
//
// Usage: socketmapload SOCKET CONNS LOOKUPS FORMAT KEYS [NAME]
//        (NAME defaults to xoauth2, the partner-oauth transport's map)
// Thread safety: one thread per connection, results merged after join.
// Limits: every read has a 10 s timeout; a reply over 1 MiB is refused.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Result {
    std::vector<double> us;  // round trips, microseconds
    long ok = 0, other = 0;
    std::size_t longest = 0;
    bool failed = false;
    std::string error;
};

// Connect to the UNIX socket PATH; -1 on failure.
int connect_unix(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) return ::close(fd), -1;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return ::close(fd), -1;
    return fd;
}

// Write all of DATA; false on error.
bool write_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

// Read one netstring reply into OUT (BUF keeps what follows); false on error.
bool read_netstring(int fd, std::string& buf, std::string& out) {
    for (;;) {
        std::size_t colon = buf.find(':');
        if (colon != std::string::npos) {
            if (colon == 0 || colon > 7) return false;
            std::size_t len = std::strtoul(buf.c_str(), nullptr, 10);
            if (len > (1u << 20)) return false;
            if (buf.size() >= colon + 1 + len + 1) {
                if (buf[colon + 1 + len] != ',') return false;
                out = buf.substr(colon + 1, len);
                buf.erase(0, colon + 2 + len);
                return true;
            }
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10000) != 1) return false;
        char chunk[65536];
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n <= 0) return false;
        buf.append(chunk, static_cast<std::size_t>(n));
    }
}

// One connection: COUNT lookups of keys FIRST, FIRST+1, ... (mod KEYS).
void run_conn(const std::string& path, long count, long first, long keys, const std::string& fmt,
              const std::string& name, Result& r) {
    int fd = connect_unix(path);
    if (fd < 0) {
        r.failed = true, r.error = "connect: " + std::string(std::strerror(errno));
        return;
    }
    r.us.reserve(static_cast<std::size_t>(count));
    std::string buf, reply;
    char key[512];
    for (long i = 0; i < count; i++) {
        std::snprintf(key, sizeof key, fmt.c_str(), static_cast<int>((first + i) % keys));
        std::string req = name + " " + key;
        std::string wire = std::to_string(req.size()) + ":" + req + ",";
        auto t0 = Clock::now();
        if (!write_all(fd, wire) || !read_netstring(fd, buf, reply)) {
            r.failed = true, r.error = "lookup " + std::to_string(i) + " failed";
            break;
        }
        r.us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        (reply.compare(0, 3, "OK ") == 0 ? r.ok : r.other)++;
        r.longest = std::max(r.longest, reply.size());
    }
    ::close(fd);
}

// Percentile P (0-1) of sorted V.
double pct(const std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 6 || argc > 7) {
        std::fprintf(stderr, "usage: socketmapload SOCKET CONNS LOOKUPS FORMAT KEYS [NAME]\n");
        return 2;
    }
    std::string path = argv[1], fmt = argv[4], name = argc == 7 ? argv[6] : "xoauth2";
    int conns = std::atoi(argv[2]);
    long lookups = std::atol(argv[3]), keys = std::atol(argv[5]);
    if (conns < 1 || lookups < conns || keys < 1 || fmt.find("%d") == std::string::npos) {
        std::fprintf(stderr, "socketmapload: CONNS >= 1, LOOKUPS >= CONNS, KEYS >= 1, FORMAT with %%d\n");
        return 2;
    }
    std::vector<Result> res(static_cast<std::size_t>(conns));
    std::vector<std::thread> threads;
    auto t0 = Clock::now();
    for (int c = 0; c < conns; c++)
        threads.emplace_back(run_conn, path, lookups / conns, c * (keys / conns + 1), keys, fmt, name,
                             std::ref(res[static_cast<std::size_t>(c)]));
    for (auto& t : threads) t.join();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<double> all;
    long ok = 0, other = 0;
    std::size_t longest = 0;
    int failed = 0;
    for (auto& r : res) {
        all.insert(all.end(), r.us.begin(), r.us.end());
        ok += r.ok, other += r.other, longest = std::max(longest, r.longest);
        if (r.failed) failed++, std::fprintf(stderr, "socketmapload: %s\n", r.error.c_str());
    }
    std::sort(all.begin(), all.end());
    std::printf("conns=%d lookups=%zu secs=%.2f lookups_per_s=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f "
                "ok=%ld other=%ld longest_reply=%zu failed_conns=%d\n",
                conns, all.size(), secs, static_cast<double>(all.size()) / secs, pct(all, 0.50),
                pct(all, 0.99), all.empty() ? 0.0 : all.back(), ok, other, longest, failed);
    return failed ? 1 : 0;
}
