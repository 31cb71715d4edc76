// fuzz_config.cc - libFuzzer target: the main configuration parser.
//
// Feeds the input as the text of partner-relay-milter.conf through the same
// path as the daemon: parse_ini_text() (our line reader around inih) and
// load_config_ini() (the key table and its validators).
// Invariants checked (abort on violation, which libFuzzer reports):
//  - a result holds a Config exactly when it has no error, and every error
//    has a message and names the file;
//  - an accepted config has a fallback sender that is a valid address,
//    header names without ':' or control characters, service names of
//    [a-z0-9-], ports 1-65535 and log levels 3-7;
//  - dump_config() of an accepted config (what -n prints) loads again
//    without error and dumps to the same text (a fixed point), so -n never
//    shows a setting that would not be read back the same way.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/ini.hpp"
#include "core/rfc5322.hpp"
#include "fuzz_common.hpp"

namespace {

using fuzz::check;

// True when NAME is a header name the milter may write.
bool header_name_ok(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name)
        if (c < 33 || c > 126 || c == ':') return false;
    return true;
}

// True when NAME is a master.cf service name as config.cpp allows it.
bool service_ok(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    return true;
}

// Invariants of a configuration that was accepted.
void check_config(const prm::Config& cfg) {
    check(prm::valid_addr_spec(cfg.fallback_sender), "fallback_sender is an address");
    for (const auto& [cat, sender] : cfg.fallback_senders)
        check(prm::valid_addr_spec(sender), "fallback_senders values are addresses");
    check(header_name_ok(cfg.partner_header) && header_name_ok(cfg.category_header) &&
              header_name_ok(cfg.route_header),
          "header names are printable without ':'");
    check(service_ok(cfg.partner_transport) && service_ok(cfg.partner_smtps_transport),
          "transport names are [a-z0-9-]");
    for (int p : cfg.implicit_tls_ports) check(p >= 1 && p <= 65535, "implicit TLS port range");
    check(cfg.log_level >= 3 && cfg.log_level <= 7, "log level range");
    check(cfg.stats_interval >= 1, "stats interval positive");
}

// DUMP without its first line (a comment naming the file it was read from).
std::string body(const std::string& dump) {
    std::size_t nl = dump.find('\n');
    return nl == std::string::npos ? dump : dump.substr(nl + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    prm::ConfigResult r = prm::load_config_ini(prm::parse_ini_text("fuzz.conf", text));
    check(r.config.has_value() == r.errors.empty(), "config present exactly when no error");
    for (const prm::Diag& d : r.errors)
        check(!d.message.empty() && d.file == "fuzz.conf", "an error names the file and why");
    if (!r.config) return 0;
    check_config(*r.config);

    // What -n prints must read back to the same settings.
    std::string dump = prm::dump_config(*r.config);
    prm::ConfigResult again = prm::load_config_ini(prm::parse_ini_text("dump.conf", dump));
    if (!again.config) {
        for (const prm::Diag& d : again.errors) std::fprintf(stderr, "  %s\n", d.str().c_str());
        check(false, "the dump of an accepted config loads again");
    }
    check(body(prm::dump_config(*again.config)) == body(dump), "dump is a fixed point");
    return 0;
}
