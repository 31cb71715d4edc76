// partners_build.hpp - one partner section while it is validated (internal).
//
// What: the state partners.cpp and partners_oauth.cpp share while they
// check one [partner] section: its entries by key, and problem() to record
// a Diag naming file, line, partner and key. Only those two files use it.
//
// Contract: a problem's text never holds a password or client secret.
// Thread safety: one Builder per section, used by one thread.
#pragma once

#include <map>
#include <string>

#include "core/config.hpp"
#include "core/ini.hpp"
#include "core/partners.hpp"

namespace prm {

struct Builder {
    const std::string& file;
    Partner& p;
    std::map<std::string, const IniEntry*> seen;  // key -> entry

    // Record a problem of this partner at LINE, KEY.
    void problem(int line, const std::string& key, const std::string& msg) {
        p.problems.push_back(Diag{file, line, p.id, key, msg});
    }
    // The value of KEY, or nullptr when absent (or empty) after reporting it.
    const IniEntry* required(const char* key) {
        auto it = seen.find(key);
        if (it == seen.end() || it->second->value.empty()) {
            problem(it == seen.end() ? p.line : it->second->line, key,
                    std::string("missing ") + key);
            return nullptr;
        }
        return it->second;
    }
    // The entry of KEY, or nullptr when absent.
    const IniEntry* optional(const char* key) {
        auto it = seen.find(key);
        return it == seen.end() ? nullptr : it->second;
    }
};

// A DNS host name or an IPv4 dotted quad (partners.cpp).
bool valid_relay_host(const std::string& h);

// auth = password|oauth2 into B.p.auth (partners_oauth.cpp); before check_relay.
void read_auth_kind(Builder& b);
// The oauth_* keys of an oauth2 partner, and the keys that do not fit its
// kind (a password on an oauth2 partner, oauth_* on a password partner).
void check_oauth(Builder& b, const Config& cfg);

}  // namespace prm
