// cache.cpp - the token cache and its refresh workers (cache.hpp).
#include "tokend/cache.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>

#include "core/logging.hpp"

namespace prm::tokend {
namespace {

// Lower-case ASCII copy.
std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// The cache key of a partner's application.
std::string app_key(const Partner& p) {
    return p.oauth_token_url + '\n' + p.oauth_client_id + '\n' + p.oauth_scope;
}

}  // namespace

// Monotonic seconds.
double now_seconds() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

Broker::Broker() : rng_(std::random_device{}()) {}

// Start the workers.
void Broker::start(int workers) {
    {
        std::lock_guard lk(mu_);
        retry_cap_ = std::max(1, workers / 2);
    }
    for (int i = 0; i < workers; i++) threads_.emplace_back([this] { worker(); });
}

Broker::~Broker() { stop(); }

// Stop and join the workers (a running fetch ends within its timeout).
void Broker::stop() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

// Uniform in [0, SPAN) (mu_ held).
double Broker::jitter(double span) {
    if (span <= 0) return 0;
    return std::uniform_real_distribution<double>(0, span)(rng_);
}

// Rebuild routes and applications from SNAP.
void Broker::load(const Snapshot& snap) {
    const OAuthConfig& o = snap.config.oauth;
    std::map<std::string, std::shared_ptr<App>> apps;
    std::unordered_map<std::string, Route> routes;
    std::lock_guard lk(mu_);
    for (const Partner& p : snap.partners.partners) {
        if (!p.active || p.auth != AuthKind::oauth2) continue;
        std::string key = app_key(p);
        auto& app = apps[key];
        if (!app) {
            auto old = apps_.find(key);
            app = old != apps_.end() ? old->second : std::make_shared<App>();
            app->req = request_for(p, o);  // secret and settings may have changed
            app->partner = p.id;
            app->host = p.oauth_token_host;
            app->partners = 0;
        }
        app->partners++;
        routes.emplace(lower(p.sender), Route{p.id, p.username, key});
    }
    apps_ = std::move(apps);
    routes_ = std::move(routes);
    refresh_margin_ = o.refresh_margin;
    expiry_safety_ = o.expiry_safety;
    retry_max_ = o.retry_max;
    cv_.notify_all();
}

// Answer one socketmap request from the cache.
std::string Broker::lookup(const std::string& name, const std::string& key) {
    std::lock_guard lk(mu_);
    std::string reply;
    auto r = routes_.find(lower(key));
    if (name != "xoauth2") reply = "TEMP unknown map";
    else if (r == routes_.end()) reply = "TEMP no oauth2 partner for this key";
    else {
        auto a = apps_.find(r->second.app);
        if (a == apps_.end() || a->second->token.empty() || now_seconds() >= a->second->usable_until)
            reply = "TEMP no valid token";
        else
            reply = "OK " + r->second.username + ":" + a->second->token;
    }
    (reply[0] == 'O' ? counts_.lookups_ok : counts_.lookups_temp)++;
    return reply;
}

// The next due application, marked as fetching; null with WAIT set when none.
// A due first fetch or refresh goes first; a due retry of a failing
// application only while fewer than retry_cap_ retries run (mu_ held).
std::shared_ptr<App> Broker::take_due(double& wait) {
    double now = now_seconds();
    wait = 60;
    std::shared_ptr<App> retry;
    for (auto& [key, app] : apps_) {
        if (app->fetching) continue;
        if (app->next_attempt > now) {
            wait = std::min(wait, app->next_attempt - now);
            continue;
        }
        if (app->failures_in_row == 0) {
            app->fetching = true;
            return app;
        }
        if (!retry && retries_running_ < retry_cap_) retry = app;
    }
    if (retry) {
        retry->fetching = retry->retry_slot = true;
        retries_running_++;
    }
    return retry;
}

// A worker: fetch what is due, sleep until the next one or a change.
void Broker::worker() {
    std::unique_lock lk(mu_);
    while (!stopping_) {
        double wait = 0;
        std::shared_ptr<App> app = take_due(wait);
        if (!app) {
            cv_.wait_for(lk, std::chrono::duration<double>(std::max(wait, 0.05)));
            continue;
        }
        FetchRequest req = app->req;
        lk.unlock();
        double started = now_seconds();
        FetchResult r = fetch_token(req);
        lk.lock();
        finish(app, r, started);
    }
}

// Record a fetch's outcome, schedule the next one, log it (mu_ held).
void Broker::finish(const std::shared_ptr<App>& app, const FetchResult& r, double started) {
    app->fetching = false;
    if (app->retry_slot) {
        app->retry_slot = false;
        retries_running_--;
        cv_.notify_one();  // a retry waiting for the cap may go now
    }
    if (r.ok) {
        double life = static_cast<double>(r.expires_in);
        double refresh = life - refresh_margin_;  // or at half life, if earlier
        if (refresh <= 0 || refresh > life / 2) refresh = life / 2;
        refresh = std::max(refresh - jitter(refresh * 0.1), 1.0);
        app->token = r.access_token;
        app->obtained = started;
        app->expires = started + life;
        app->usable_until = app->expires - std::min<double>(expiry_safety_, life / 4);
        app->next_attempt = started + refresh;
        app->failures_in_row = 0;
        counts_.fetches++;
        logger().log(Level::info, "token fetched partner=" + app->partner + " endpoint=" + app->host +
                                      " expires_in=" + std::to_string(r.expires_in) +
                                      " partners=" + std::to_string(app->partners) +
                                      " refresh_in=" + std::to_string(static_cast<long>(refresh)));
        return;
    }
    counts_.failures++;
    double backoff = std::min<double>(retry_max_, std::ldexp(1.0, std::min(app->failures_in_row, 20)));
    app->failures_in_row++;
    backoff = std::max(1.0, backoff - jitter(backoff * 0.2));
    app->next_attempt = now_seconds() + backoff;
    bool still = !app->token.empty() && now_seconds() < app->usable_until;
    logger().log(Level::warning,
                 "token fetch failed partner=" + app->partner + " endpoint=" + app->host +
                     " status=" + std::to_string(r.http_status) + " error=" + r.error +
                     " code=" + (r.code.empty() ? "-" : r.code) + " retry_in=" +
                     std::to_string(static_cast<long>(backoff)) +
                     (still ? " serving=cached" : " serving=none"));
}

// Counters and gauges for the metrics file.
Stats Broker::stats() {
    std::lock_guard lk(mu_);
    Stats s = counts_;
    double now = now_seconds();
    s.apps = apps_.size();
    s.routes = routes_.size();
    for (auto& [key, app] : apps_) {
        if (app->token.empty() || now >= app->usable_until) continue;
        s.valid_tokens++;
        s.max_token_age = std::max(s.max_token_age, now - app->obtained);
    }
    return s;
}

}  // namespace prm::tokend
