// milterload.cpp - milter-protocol load client: drives a milter like Postfix.
//
// What: opens N concurrent connections to a milter (UNIX or TCP socket),
// negotiates as Postfix 3.x does (protocol version 6, every action, every
// step and no-reply flag offered), sends CONNECT once per connection and
// then many messages per connection: MAIL, 3 RCPT, DATA, 10 headers, EOH,
// a body and end of message, each with the macros Postfix would send. It
// honours what the filter negotiated: skipped steps are not sent, no-reply
// steps are not waited for, so a milter that negotiates well costs one
// round trip per message. Like Postfix (milter8 over a VSTREAM), it buffers
// its output and writes it before each read or when 4 KiB are queued, and
// does not set TCP_NODELAY (--nodelay to compare).
//
// Message mix (by message number): 8 in 10 trusted with an eligible
// category and a partner id spread over --partners ids, 1 in 10 with a
// global category, 1 in 10 from an untrusted client ({client_addr} at MAIL).
// --per-conn K opens a new connection every K messages (Postfix opens one
// per SMTP session), so that connection set-up is measured too.
//
// Output: one line of key=value figures: messages, msgs/s, latency p50/p99
// and max (from the first packet of a message to the final end-of-message
// reply), the milter's RSS (--rss-pid) with the connections open and idle
// and its peak under load (--rate paces the load to a total message rate,
// like an MTA that is not saturated), the number of SIGUSR1 reloads sent
// (--reload-pid/--reload-ms), errors and tempfails. Exit 1 when any
// connection failed; figures are never compared with targets here.
//
// Thread safety: one thread per connection, results merged after join.
// Limits: every read has a 10 s timeout; replies over 1 MiB are refused.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kActions = 0x1ff;     // every SMFIF_ action
constexpr std::uint32_t kProtocol = 0x1fffff;  // every SMFIP_ flag Postfix 3.x offers
enum : std::uint32_t {
    NOCONNECT = 0x1, NOHELO = 0x2, NOMAIL = 0x4, NORCPT = 0x8, NOBODY = 0x10, NOHDRS = 0x20,
    NOEOH = 0x40, NR_HDR = 0x80, NODATA = 0x200, NR_CONN = 0x1000, NR_HELO = 0x2000,
    NR_MAIL = 0x4000, NR_RCPT = 0x8000, NR_DATA = 0x10000, NR_EOH = 0x40000, NR_BODY = 0x80000,
};

struct Options {
    std::string socket;  // unix:/path, local:/path, inet:port@host
    int conns = 1;
    int messages = 200;    // per connection
    double seconds = 0;    // when > 0: stop after this long instead
    int partners = 10;
    int body = 3072;
    bool nodelay = false;
    pid_t rss_pid = 0;
    pid_t reload_pid = 0;
    int reload_ms = 0;
    double rate = 0;  // when > 0: total messages per second, paced per connection
    int per_conn = 0;  // when > 0: reconnect after this many messages
};

// Per-connection results.
struct Result {
    std::vector<double> lat_ms;
    long tempfail = 0;
    std::string error;
};

// Open a stream socket to SPEC; -1 with ERR on failure.
int open_socket(const std::string& spec, bool nodelay, std::string& err) {
    auto pos = spec.find(':');
    std::string kind = spec.substr(0, pos), rest = pos == std::string::npos ? "" : spec.substr(pos + 1);
    if (kind == "unix" || kind == "local") {
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::snprintf(sun.sun_path, sizeof sun.sun_path, "%s", rest.c_str());
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0) return fd;
        err = rest + ": " + std::strerror(errno);
        if (fd >= 0) close(fd);
        return -1;
    }
    auto at = rest.find('@');
    std::string port = rest.substr(0, at), host = at == std::string::npos ? "127.0.0.1" : rest.substr(at + 1);
    addrinfo hints{}, *ai = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &ai) != 0 || !ai) return err = "bad address " + spec, -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    freeaddrinfo(ai);
    if (!ok) {
        err = spec + ": " + std::strerror(errno);
        if (fd >= 0) close(fd);
        return -1;
    }
    int one = 1;
    if (nodelay) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

// One milter session, speaking the MTA side.
class Session {
public:
    explicit Session(int fd) : fd_(fd) {}
    ~Session() { if (fd_ >= 0) close(fd_); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    std::uint32_t pflags = 0;

    // Queue one packet (length, command, payload). Like Postfix's VSTREAM,
    // output is buffered and written when 4 KiB are queued or before a read.
    bool send(char cmd, const std::string& data = "") {
        std::uint32_t len = htonl(static_cast<std::uint32_t>(data.size() + 1));
        out_.append(reinterpret_cast<const char*>(&len), 4);
        out_ += cmd;
        out_ += data;
        return out_.size() < 4096 || flush();
    }

    // Write the queued packets.
    bool flush() {
        for (std::size_t off = 0; off < out_.size();) {
            ssize_t n = write(fd_, out_.data() + off, out_.size() - off);
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
        }
        out_.clear();
        return true;
    }

    // Read one reply packet into CMD/DATA; false on timeout, EOF or size.
    bool recv(char& cmd, std::string& data) {
        char hdr[4];
        if (!read_full(hdr, 4)) return false;
        std::uint32_t len;
        std::memcpy(&len, hdr, 4);
        len = ntohl(len);
        if (len == 0 || len > (1u << 20)) return false;
        std::string buf(len, '\0');
        if (!read_full(buf.data(), len)) return false;
        cmd = buf[0];
        data.assign(buf, 1);
        return true;
    }

    // Read replies up to a final one (skipping progress and modifications).
    bool final_reply(char& cmd) {
        std::string data;
        for (int i = 0; i < 10000; ++i) {
            if (!recv(cmd, data)) return false;
            if (std::strchr("acdrty", cmd)) return true;
        }
        return false;
    }

    // Send a step unless skipped (SKIP flag); read its reply unless NR.
    bool step(char cmd, const std::string& data, std::uint32_t skip, std::uint32_t noreply, char& got) {
        got = 'c';
        if (pflags & skip) return true;
        if (!send(cmd, data)) return false;
        if (pflags & noreply) return true;
        return final_reply(got);
    }

private:
    bool read_full(char* p, std::size_t n) {
        if (!out_.empty() && !flush()) return false;
        while (n > 0) {
            pollfd pfd{fd_, POLLIN, 0};
            if (poll(&pfd, 1, 10000) != 1) return false;
            ssize_t r = read(fd_, p, n);
            if (r <= 0) return false;
            p += r;
            n -= static_cast<std::size_t>(r);
        }
        return true;
    }
    int fd_;
    std::string out_;
};

// NUL-terminated concatenation of PARTS.
std::string z(std::initializer_list<std::string> parts) {
    std::string s;
    for (const auto& p : parts) s += p, s += '\0';
    return s;
}

// A big-endian 32-bit value as 4 bytes.
std::string be32(std::uint32_t v) {
    v = htonl(v);
    return std::string(reinterpret_cast<const char*>(&v), 4);
}

// Negotiate and send CONNECT (and HELO if wanted) for connection CONN_NO.
bool open_session(Session& s, int conn_no, std::string& err) {
    if (!s.send('O', be32(6) + be32(kActions) + be32(kProtocol))) return err = "write optneg", false;
    char cmd;
    std::string data;
    if (!s.recv(cmd, data) || cmd != 'O' || data.size() < 12) return err = "no optneg reply", false;
    std::uint32_t v;
    std::memcpy(&v, data.data() + 8, 4);
    s.pflags = ntohl(v);
    std::uint16_t port = htons(static_cast<std::uint16_t>(40000 + conn_no % 20000));
    std::string addr = "127.0.0.1";
    s.send('D', "C" + z({"j", "mta.bench.example", "{daemon_name}", "smtpd", "{client_addr}", addr}));
    char got;
    std::string c = z({"localhost"}) + "4" + std::string(reinterpret_cast<char*>(&port), 2) + z({addr});
    if (!s.step('C', c, NOCONNECT, NR_CONN, got)) return err = "connect step", false;
    s.send('D', "H" + z({"{tls_version}", ""}));
    if (!s.step('H', z({"app.platform.example"}), NOHELO, NR_HELO, got)) return err = "helo step", false;
    return true;
}

// The headers of message SEQ (KIND 0 partner, 1 global, 2 untrusted).
std::vector<std::pair<std::string, std::string>> headers_for(int kind, int seq, int partners) {
    return {
        {"Received", "from app.platform.example (localhost [127.0.0.1]) by mta.bench.example (Postfix)"},
        {"From", "\"Platform App\" <app@platform.example>"},
        {"To", "a@dest.example, b@dest.example, c@dest.example"},
        {"Subject", "Your verification link " + std::to_string(seq)},
        {"Date", "Thu, 26 Nov 2026 07:00:00 +0000"},
        {"Message-ID", "<" + std::to_string(seq) + "@platform.example>"},
        {"MIME-Version", "1.0"},
        {"Content-Type", "text/plain; charset=utf-8"},
        {"X-Partner-Id", "p" + std::to_string((static_cast<long>(seq) * 7919) % partners)},
        {"X-Email-Category", kind == 1 ? "account-security" : "verification-link"},
    };
}

// Send one message; RESULT gets the final reply code ('t' counts tempfail).
bool one_message(Session& s, int seq, const Options& o, const std::string& body, char& result) {
    int kind = seq % 10 == 8 ? 1 : seq % 10 == 9 ? 2 : 0;
    std::string qid = "4B" + std::to_string(1000000 + seq);
    char got;
    std::string client = kind == 2 ? "192.0.2.7" : "127.0.0.1";
    s.send('D', "M" + z({"i", qid, "{daemon_name}", "smtpd", "{client_addr}", client}));
    if (!s.step('M', z({"<app@platform.example>", "SIZE=3500"}), NOMAIL, NR_MAIL, got)) return false;
    for (const char* r : {"<a@dest.example>", "<b@dest.example>", "<c@dest.example>"})
        if (!s.step('R', z({r}), NORCPT, NR_RCPT, got)) return false;
    if (!s.step('T', "", NODATA, NR_DATA, got)) return false;
    for (const auto& [n, v] : headers_for(kind, seq, o.partners))
        if (!s.step('L', z({n, v}), NOHDRS, NR_HDR, got)) return false;
    if (!s.step('N', "", NOEOH, NR_EOH, got)) return false;
    if (!s.step('B', body, NOBODY, NR_BODY, got)) return false;
    s.send('D', "E" + z({"i", qid}));
    if (!s.send('E')) return false;
    return s.final_reply(result);
}

// The worker of connection CONN_NO.
void worker(int conn_no, const Options& o, std::latch& ready, std::atomic<bool>& go,
            Clock::time_point& deadline, Result& res) {
    std::string err;
    auto connect_session = [&](std::unique_ptr<Session>& s) {
        int fd = open_socket(o.socket, o.nodelay, err);
        s = std::make_unique<Session>(fd);
        return fd >= 0 && open_session(*s, conn_no, err);
    };
    std::unique_ptr<Session> s;
    bool ok = connect_session(s);
    ready.count_down();
    while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!ok) return void(res.error = err);
    std::string body(static_cast<std::size_t>(o.body), 'x');
    for (std::size_t i = 64; i < body.size(); i += 66) body[i - 1] = '\r', body[i] = '\n';
    // With --rate, connection CONN_NO sends at start + (m + CONN_NO/conns) * gap.
    auto start = Clock::now();
    double gap = o.rate > 0 ? o.conns / o.rate : 0;
    for (int m = 0; o.seconds > 0 ? Clock::now() < deadline : m < o.messages; ++m) {
        if (gap > 0)
            std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                                      gap * (m + static_cast<double>(conn_no) / o.conns))));
        auto t0 = Clock::now();
        // --per-conn: a new milter connection every K messages, as Postfix
        // opens one per SMTP session (its cost counts in the latency).
        if (o.per_conn > 0 && m > 0 && m % o.per_conn == 0) {
            s->send('Q');
            s->flush();
            if (!connect_session(s)) return void(res.error = err);
        }
        char r = 0;
        if (!one_message(*s, conn_no * 1000003 + m, o, body, r)) return void(res.error = "message failed");
        res.lat_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (r == 't') ++res.tempfail;
    }
    s->send('Q');
    s->flush();
}

// VmRSS of PID in KiB (0 when unreadable).
long rss_kib(pid_t pid) {
    if (pid <= 0) return 0;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    return 0;
}

// Parse the command line; false on a usage error.
bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "-s") o.socket = val();
        else if (a == "-n") o.conns = std::atoi(val());
        else if (a == "-m") o.messages = std::atoi(val());
        else if (a == "-T") o.seconds = std::atof(val());
        else if (a == "--partners") o.partners = std::max(1, std::atoi(val()));
        else if (a == "--body") o.body = std::atoi(val());
        else if (a == "--nodelay") o.nodelay = true;
        else if (a == "--rate") o.rate = std::atof(val());
        else if (a == "--per-conn") o.per_conn = std::atoi(val());
        else if (a == "--rss-pid") o.rss_pid = std::atoi(val());
        else if (a == "--reload-pid") o.reload_pid = std::atoi(val());
        else if (a == "--reload-ms") o.reload_ms = std::atoi(val());
        else return false;
    }
    return !o.socket.empty() && o.conns > 0 && o.conns <= 4096;
}

// Percentile P (0-1) of sorted V.
double pct(const std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        std::fprintf(stderr, "usage: milterload -s SOCKET [-n CONNS] [-m MSGS | -T SECONDS] [--partners N] "
                             "[--body BYTES] [--nodelay] [--rate MSGS_PER_S] [--per-conn K] [--rss-pid PID]\n"
                             "       [--reload-pid PID --reload-ms MS]\n");
        return 2;
    }
    std::vector<Result> res(static_cast<std::size_t>(o.conns));
    std::latch ready(o.conns);
    std::atomic<bool> go{false};
    Clock::time_point deadline;
    std::vector<std::thread> threads;
    for (int i = 0; i < o.conns; ++i)
        threads.emplace_back(worker, i, std::cref(o), std::ref(ready), std::ref(go), std::ref(deadline),
                             std::ref(res[static_cast<std::size_t>(i)]));
    ready.wait();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    long rss_idle = rss_kib(o.rss_pid), rss_peak = rss_idle;
    auto t0 = Clock::now();
    deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
    go.store(true);

    // Sample RSS and send reloads while the workers run.
    std::atomic<int> running{o.conns};
    std::thread watcher([&] {
        int reloads = 0;
        auto next_reload = Clock::now() + std::chrono::milliseconds(o.reload_ms);
        while (running.load() > 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            rss_peak = std::max(rss_peak, rss_kib(o.rss_pid));
            if (o.reload_pid > 0 && o.reload_ms > 0 && Clock::now() >= next_reload) {
                kill(o.reload_pid, SIGUSR1);
                ++reloads;
                next_reload = Clock::now() + std::chrono::milliseconds(o.reload_ms);
            }
        }
        std::printf("reloads=%d ", reloads);
    });
    for (auto& t : threads) t.join(), running.fetch_sub(1);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    watcher.join();

    std::vector<double> all;
    long tempfail = 0, failed = 0;
    std::string first_err;
    for (const auto& r : res) {
        all.insert(all.end(), r.lat_ms.begin(), r.lat_ms.end());
        tempfail += r.tempfail;
        if (!r.error.empty() && failed++ == 0) first_err = r.error;
    }
    std::sort(all.begin(), all.end());
    std::printf("conns=%d msgs=%zu secs=%.2f msgs_per_s=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.1f "
                "rss_idle_kib=%ld rss_load_kib=%ld tempfail=%ld failed_conns=%ld%s%s\n",
                o.conns, all.size(), secs, static_cast<double>(all.size()) / secs, pct(all, 0.5), pct(all, 0.99),
                all.empty() ? 0.0 : all.back(), rss_idle, rss_peak, tempfail, failed,
                first_err.empty() ? "" : " error=", first_err.c_str());
    return failed ? 1 : 0;
}
