// helpers.hpp - fixtures shared by the unit suites.
//
// Build configs and partner tables from INI text in memory, the same way the
// daemon builds them from files, so tests exercise the real validation.
#pragma once

#include <check.h>

#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/ini.hpp"
#include "core/partners.hpp"
#include "core/snapshot.hpp"

namespace prm::test {

// A main config with fallback_sender set, plus EXTRA appended (INI text).
inline ConfigResult config_from(const std::string& extra = "") {
    std::string text = "[milter]\nfallback_sender = noreply@platform.example\n" + extra;
    return load_config_ini(parse_ini_text("test.conf", text));
}

// The config above, failing the test if it does not validate.
inline Config config_ok(const std::string& extra = "") {
    ConfigResult r = config_from(extra);
    if (!r.config) {
        std::string all;
        for (const auto& d : r.errors) all += d.str() + "\n";
        ck_abort_msg("test config rejected:\n%s", all.c_str());
    }
    return *r.config;
}

// A partner table from INI text, validated against CFG.
inline PartnerTable partners_from(const std::string& text, const Config& cfg) {
    return load_partners_ini(parse_ini_text("partners.conf", text), cfg);
}

// A whole snapshot from config extras and partner text.
inline std::shared_ptr<Snapshot> snapshot_from(const std::string& partners_text,
                                               const std::string& config_extra = "") {
    auto s = std::make_shared<Snapshot>();
    s->config = config_ok(config_extra);
    s->partners = partners_from(partners_text, s->config);
    return s;
}

// A SHA-256 certificate fingerprint (any 32 bytes will do for the core).
inline const char* kAcmeFingerprint =
    "6B:86:B2:73:FF:34:FC:E1:9D:6B:80:4E:FF:5A:3F:57:47:AD:A4:EA:A2:2F:1D:49:C0:1E:52:DD:B7:87:5B:4B";

// One complete, active partner "acme" on 127.0.0.1:2525; an IP-literal
// host, so it names its relay certificate by fingerprint (issue 12).
inline const char* kAcme =
    "[acme]\nhost = 127.0.0.1\nport = 2525\nusername = acme-user\n"
    "password = acme-secret\nsender = news@acme.example\n"
    "tls_fingerprint = 6B:86:B2:73:FF:34:FC:E1:9D:6B:80:4E:FF:5A:3F:57:47:AD:A4:EA:A2:2F:1D:49:C0:1E:52:DD:B7:87:5B:4B\n";

}  // namespace prm::test
