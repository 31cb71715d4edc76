// cache.hpp - the token cache of partner-relay-tokend(8) and its refreshers.
//
// What: one entry per application (token URL, client id, scope), shared by
// every active oauth2 partner that names it; a route per partner sender
// (lower-cased) to its username and application. Worker threads fetch what
// is due: the first token at once, the next one refresh_margin before
// expiry (or at half life, if earlier) minus up to 10 % jitter, at least 1 s; after a
// failure again after 1, 2, 4 ... seconds up to retry_max, with jitter.
// Single flight: an application is fetched by one worker at a time.
// Independence: [oauth] fetch_concurrency workers; a retry of a failing
// application (its last fetch failed) takes a worker only while fewer than
// half of them run such retries, and a due first fetch or refresh goes
// before a due retry: hanging or failing endpoints, however many, leave
// half the workers to the others. A
// is handed out until expiry_safety (at most a quarter of its life) before
// it expires, whatever the endpoint does meanwhile.
//
// Contract: lookup() answers from memory only (it never waits on a fetch):
// the socketmap reply "OK username:token" or "TEMP reason", never
// NOTFOUND. Nothing logged holds a secret or a token.
// Thread safety: every public member may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/snapshot.hpp"
#include "tokend/fetch.hpp"

namespace prm::tokend {

struct App {
    FetchRequest req;             // what a fetch sends (the secret of the first partner)
    std::string partner;          // first partner naming it (log lines)
    std::string host;             // token endpoint host (log lines)
    std::size_t partners = 0;     // how many partners share it
    std::string token;            // empty: none yet
    double obtained = 0, expires = 0, usable_until = 0;  // monotonic seconds
    double next_attempt = 0;      // when a worker should fetch
    int failures_in_row = 0;
    bool fetching = false;
    bool retry_slot = false;      // this fetch counts against the retry cap
};

struct Route {
    std::string partner;
    std::string username;
    std::string app;  // key into the app map
};

struct Stats {
    std::uint64_t fetches = 0, failures = 0, lookups_ok = 0, lookups_temp = 0;
    std::size_t apps = 0, valid_tokens = 0, routes = 0;
    double max_token_age = 0;  // seconds, over the valid tokens
};

class Broker {
public:
    Broker();
    ~Broker();
    Broker(const Broker&) = delete;
    Broker& operator=(const Broker&) = delete;

    // Take the active oauth2 partners of SNAP, waiting ones included
    // (inactive ones are neither fetched nor served; tokens of applications still
    // named are kept; new applications are fetched at once).
    void load(const Snapshot& snap);
    // The socketmap reply payload for map NAME and KEY.
    std::string lookup(const std::string& name, const std::string& key);
    Stats stats();
    // Start WORKERS fetching threads (signals blocked by the caller first);
    // at most half of them (at least one) run retries of failing applications.
    void start(int workers);
    void stop();

private:
    void worker();
    std::shared_ptr<App> take_due(double& wait);
    void finish(const std::shared_ptr<App>& app, const FetchResult& r, double started);
    double jitter(double span);

    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::map<std::string, std::shared_ptr<App>> apps_;
    std::unordered_map<std::string, Route> routes_;
    int refresh_margin_ = 1800, expiry_safety_ = 600, retry_max_ = 300;
    int retry_cap_ = 1, retries_running_ = 0;
    Stats counts_;
    std::mt19937_64 rng_;
    std::vector<std::thread> threads_;
};

// Monotonic seconds.
double now_seconds();

}  // namespace prm::tokend
