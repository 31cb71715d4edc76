// test_config.cpp - suite_config: the main configuration and its key table.
//
// What could break: a default drifting from the documented table, a typed
// key accepting garbage, errors losing their line or key, the CIDR matcher,
// the relative partner path, and the -n dump no longer reading back.
#include <cstdlib>
#include <string>

#include "core/config.hpp"
#include "core/ini.hpp"
#include "helpers.hpp"
#include "suites.hpp"

using namespace prm;
using prm::test::config_from;
using prm::test::config_ok;

namespace {

void expect_eq(const std::string& got, const std::string& want, const char* what) {
    ck_assert_msg(got == want, "%s: got '%s', want '%s'", what, got.c_str(), want.c_str());
}
void expect_eq(long got, long want, const char* what) {
    ck_assert_msg(got == want, "%s: got %ld, want %ld", what, got, want);
}

std::string errors_of(const ConfigResult& r) {
    std::string s;
    for (const auto& d : r.errors) s += d.str() + "\n";
    return s;
}

// The line "KEY = VALUE" of SECTION in DUMP, or "" when absent.
std::string dumped(const std::string& dump, const std::string& section, const std::string& key) {
    std::size_t at = dump.find("[" + section + "]\n");
    if (at == std::string::npos) return "";
    std::size_t end = dump.find("\n[", at + 1);
    std::string body = dump.substr(at, end == std::string::npos ? std::string::npos : end - at);
    std::size_t k = body.find("\n" + key + " = ");
    if (k == std::string::npos) return "";
    std::size_t v = k + key.size() + 4;
    return body.substr(v, body.find('\n', v) - v);
}

}  // namespace

START_TEST(every_key_default) {
    Config c = config_ok();
    expect_eq(c.socket, "local:" PRM_RUNDIR "/milter.sock", "socket");
    expect_eq(static_cast<long>(c.socket_mode), 0660, "socket_mode");
    expect_eq(c.partners, PRM_CONFDIR "/partners.conf", "partners");
    expect_eq(static_cast<long>(c.trusted_networks.size()), 2, "trusted_networks");
    expect_eq(c.trusted_networks[0].text + " " + c.trusted_networks[1].text, "127.0.0.0/8 ::1/128",
              "trusted_networks");
    ck_assert_msg(c.trust_authenticated, "trust_authenticated: got no, want yes");
    expect_eq(c.fallback_daemon_name, "FALLBACK", "fallback_daemon_name");
    expect_eq(c.user + c.pidfile + c.stats_file, "", "user, pidfile, stats_file");
    expect_eq(c.log_level, 6, "log_level");
    expect_eq(c.log_facility, "mail", "log_facility");
    expect_eq(c.postfix_user, "postfix", "postfix_user");
    ck_assert_msg(c.mode == Mode::enforce, "mode: got shadow, want enforce");
    expect_eq(c.on_error, "accept", "on_error");
    expect_eq(c.partner_transport + " " + c.partner_smtps_transport, "partner partner-smtps",
              "transports");
    expect_eq(static_cast<long>(c.implicit_tls_ports.size()), 2, "implicit_tls_ports");
    expect_eq(c.implicit_tls_ports[0] * 10000 + c.implicit_tls_ports[1], 465 * 10000 + 2465,
              "ports");
    expect_eq(c.stats_interval, 60, "stats_interval");
    expect_eq(c.partner_oauth_transport, "partner-oauth", "partner_oauth_transport");
    expect_eq(c.oauth.socket, "/var/spool/postfix/private/partner-relay-tokens", "oauth.socket");
    expect_eq(static_cast<long>(c.oauth.socket_mode), 0660, "oauth.socket_mode");
    expect_eq(c.oauth.socket_group, "postfix", "oauth.socket_group");
    expect_eq(c.oauth.user + c.oauth.pidfile + c.oauth.cafile + c.oauth.stats_file, "",
              "oauth user, pidfile, cafile, stats_file");
    expect_eq(c.oauth.connect_timeout * 1000 + c.oauth.timeout, 10030, "oauth timeouts");
    expect_eq(c.oauth.refresh_margin * 1000 + c.oauth.expiry_safety, 1800600,
              "oauth refresh_margin, expiry_safety");
    expect_eq(c.oauth.retry_max, 300, "oauth.retry_max");
    expect_eq(c.oauth.max_response_size, 65536, "oauth.max_response_size");
    expect_eq(c.oauth.fetch_concurrency, 32, "oauth.fetch_concurrency");
    expect_eq(c.partner_header + " " + c.category_header + " " + c.route_header,
              "X-Partner-Id X-Email-Category X-Partner-Relay-Route", "headers");
}
END_TEST

START_TEST(table_defaults_match_the_dump) {
    // The documented default of every key is what a bare config yields.
    Config c = config_ok();
    std::string dump = dump_config(c);
    expect_eq(static_cast<long>(config_keys().size()), 60, "keys in the table");
    for (const KeyInfo& k : config_keys()) {
        if (std::string(k.name) == "fallback_sender") continue;  // required, no default
        expect_eq(dumped(dump, k.section, k.name), k.default_value, k.name);
        ck_assert_msg(*k.summary && *k.type, "%s: got no summary or type", k.name);
    }
}
END_TEST

START_TEST(reloadable_flags) {
    // What a reload cannot change (the daemon warns about these); the man
    // page marks each key the same way.
    std::string fixed;
    for (const KeyInfo& k : config_keys())
        if (!k.reloadable)
            fixed += std::string(fixed.empty() ? "" : " ") +
                     (std::string(k.section) == "milter" ? "" : std::string(k.section) + ".") +
                     k.name;
    expect_eq(fixed,
              "socket socket_mode user pidfile log_level log_facility postfix_user allow_core_dumps "
              "oauth.socket oauth.socket_mode oauth.socket_group oauth.user oauth.pidfile "
              "oauth.fetch_concurrency",
              "keys not reloadable");
}
END_TEST

START_TEST(bad_value_for_each_typed_key) {
    static const std::string long_name(65, 'X');
    static const std::string long_path = "/" + std::string(120, 'x');  // > sun_path
    struct Row {
        const char* section;
        const char* key;
        const char* value;
    } rows[] = {
        {"milter", "socket", "tcp:25"},
        {"milter", "socket", "inet:99999@localhost"},
        {"milter", "socket", "local:relative"},
        {"milter", "socket_mode", "0888"},
        {"milter", "socket_mode", "01777"},
        {"milter", "socket_mode", "66"},
        {"milter", "socket_mode", "rw-rw-rw-"},
        {"milter", "socket_mode", "0o666"},
        {"milter", "trusted_networks", "10.0.0.0/33"},
        {"milter", "trusted_networks", "bogus"},
        {"milter", "trust_authenticated", "maybe"},
        {"milter", "fallback_daemon_name", "two words"},
        {"milter", "pidfile", "relative.pid"},
        {"milter", "log_level", "loud"},
        {"milter", "log_level", "8"},
        {"milter", "log_facility", "nope"},
        {"milter", "mode", "dry-run"},
        {"milter", "on_error", "reject"},
        {"milter", "partner_transport", "Partner"},
        {"milter", "partner_smtps_transport", "a_b"},
        {"milter", "implicit_tls_ports", "465, 0"},
        {"milter", "implicit_tls_ports", "smtps"},
        {"milter", "stats_file", "stats.prom"},
        {"milter", "stats_interval", "0"},
        {"milter", "stats_interval", "86401"},
        {"milter", "partners_permissions", "lax"},
        {"milter", "allow_core_dumps", "sometimes"},
        {"milter", "fallback_alert_rate", "101"},
        {"milter", "fallback_alert_rate", "20 %"},
        {"milter", "fallback_alert_min_messages", "0"},
        {"milter", "fallback_alert_window", "9"},
        {"milter", "allowed_private_relays", "127.0.0.0/8, localhost"},
        {"milter", "user", "a b"},
        {"milter", "partners", ""},
        {"headers", "partner", "X-Bad:Name"},
        {"headers", "category", ""},
        {"headers", "route", long_name.c_str()},
        {"milter", "partner_oauth_transport", "partner_oauth"},
        {"oauth", "socket", "private/partner-relay-tokens"},
        {"oauth", "socket", long_path.c_str()},
        {"oauth", "socket_mode", "0999"},
        {"oauth", "socket_group", "two words"},
        {"oauth", "user", "a b"},
        {"oauth", "pidfile", "tokend.pid"},
        {"oauth", "cafile", "ca.pem"},
        {"oauth", "connect_timeout", "0"},
        {"oauth", "connect_timeout", "121"},
        {"oauth", "timeout", "301"},
        {"oauth", "refresh_margin", "59"},
        {"oauth", "expiry_safety", "3601"},
        {"oauth", "retry_max", "4"},
        {"oauth", "max_response_size", "100"},
        {"oauth", "fetch_concurrency", "1"},
        {"oauth", "fetch_concurrency", "257"},
        {"oauth", "max_response_size", "2000000"},
        {"oauth", "stats_file", "relative.prom"},
        {"oauth", "stats_interval", "0"},
    };
    for (const auto& row : rows) {
        std::string text =
            std::string("[") + row.section + "]\n" + row.key + " = " + row.value + "\n";
        ConfigResult r = config_from(text);
        ck_assert_msg(r.errors.size() == 1, "%s = '%s': got %zu errors, want 1:\n%s", row.key,
                      row.value, r.errors.size(), errors_of(r).c_str());
        expect_eq(r.errors[0].key, row.key, "error key");
        expect_eq(r.errors[0].line, 4, "error line");
        ck_assert_msg(r.errors[0].message.find("expected") != std::string::npos,
                      "%s: message does not say what is expected: '%s'", row.key,
                      r.errors[0].message.c_str());
        ck_assert_msg(!r.config, "%s: got a config despite the error", row.key);
    }
}
END_TEST

START_TEST(oauth_socket_must_not_be_a_service_name) {
    // Postfix connects private/NAME for master.cf service NAME: a broker
    // socket of that name would replace the service (seen on Postfix 3.7).
    for (const char* name : {"partner-oauth", "partner", "smtp", "relay"}) {
        ConfigResult r =
            config_from(std::string("[oauth]\nsocket = /var/spool/postfix/private/") + name + "\n");
        ck_assert_msg(r.errors.size() == 1 && !r.config, "socket %s: got %zu errors, want 1", name,
                      r.errors.size());
        expect_eq(r.errors[0].key + " " + std::to_string(r.errors[0].line), "socket 4",
                  "error key and line");
    }
    ConfigResult moved = config_from(
        "partner_oauth_transport = m365\n[oauth]\nsocket = /var/spool/postfix/private/m365\n");
    ck_assert_msg(!moved.config, "socket named like a renamed transport: got accepted");
    Config c = config_ok("[oauth]\nsocket = /srv/pf/private/tokens\ncafile = /etc/ssl/ca.pem\n"
                         "timeout = 5\nsocket_group =\n");
    expect_eq(c.oauth.socket + " " + c.oauth.cafile, "/srv/pf/private/tokens /etc/ssl/ca.pem",
              "oauth socket, cafile");
    expect_eq(c.oauth.timeout, 5, "oauth.timeout");
    expect_eq(c.oauth.socket_group, "", "empty socket_group");
}
END_TEST

START_TEST(good_values_are_applied) {
    Config c = config_ok(
        "socket = inet:8891@127.0.0.1\ntrusted_networks = 10.0.0.0/8 192.168.1.0/24,2001:db8::/32\n"
        "trust_authenticated = false\nlog_level = debug\nlog_facility = LOCAL3\nmode = shadow\n"
        "on_error = tempfail\nimplicit_tls_ports = 465\nstats_interval = 86400\npidfile = "
        "/run/x.pid\nsocket_mode = 0666\n"
        "[headers]\nroute = X-Route\n");
    expect_eq(c.socket, "inet:8891@127.0.0.1", "socket");
    expect_eq(static_cast<long>(c.socket_mode), 0666, "socket_mode");
    expect_eq(static_cast<long>(config_ok("socket_mode = 600\n").socket_mode), 0600,
              "socket_mode of three digits");
    expect_eq(static_cast<long>(config_ok("socket_mode = 0000\n").socket_mode), 0,
              "socket_mode 0000");
    expect_eq(static_cast<long>(c.trusted_networks.size()), 3, "networks");
    ck_assert_msg(!c.trust_authenticated, "trust_authenticated: got yes, want no");
    expect_eq(c.log_level, 7, "log_level");
    expect_eq(c.log_facility, "local3", "log_facility");
    ck_assert_msg(c.mode == Mode::shadow, "mode: got enforce, want shadow");
    expect_eq(c.on_error, "tempfail", "on_error");
    expect_eq(static_cast<long>(c.implicit_tls_ports.size()), 1, "implicit_tls_ports");
    expect_eq(c.stats_interval, 86400, "stats_interval");
    expect_eq(c.route_header, "X-Route", "route header");
    expect_eq(config_ok("log_level = 4\n").log_level, 4, "numeric log_level");
}
END_TEST

START_TEST(unknown_key_carries_line_and_key) {
    ConfigResult r = config_from("socket = inet:1@h\nsokcet = inet:2@h\n");
    expect_eq(static_cast<long>(r.errors.size()), 1, "errors");
    expect_eq(r.errors[0].line, 4, "line");
    expect_eq(r.errors[0].key, "sokcet", "key");
    expect_eq(r.errors[0].str(), "test.conf:4: [milter] sokcet: unknown key", "rendered");
}
END_TEST

START_TEST(unknown_section_carries_line) {
    ConfigResult r = config_from("[partners]\nacme = x\n");
    expect_eq(static_cast<long>(r.errors.size()), 1, "errors (keys inside are not reported again)");
    expect_eq(r.errors[0].line, 3, "line");
    expect_eq(r.errors[0].section, "partners", "section");
}
END_TEST

START_TEST(duplicate_key_names_both_lines) {
    ConfigResult r =
        config_from("log_level = info\n[headers]\nroute = A\n[milter]\nlog_level = debug\n");
    expect_eq(static_cast<long>(r.errors.size()), 1, "errors");
    expect_eq(r.errors[0].line, 7, "line of the second copy");
    expect_eq(r.errors[0].key, "log_level", "key");
    ck_assert_msg(r.errors[0].message.find("line 3") != std::string::npos,
                  "got '%s', want the first line", r.errors[0].message.c_str());
}
END_TEST

START_TEST(missing_fallback_sender) {
    ConfigResult r = load_config_ini(parse_ini_text("m.conf", "[milter]\nmode = shadow\n"));
    expect_eq(static_cast<long>(r.errors.size()), 1, "errors");
    expect_eq(r.errors[0].line, 0, "line");
    expect_eq(r.errors[0].key, "fallback_sender", "key");
    ConfigResult bad =
        load_config_ini(parse_ini_text("m.conf", "[milter]\nfallback_sender = not an address\n"));
    expect_eq(static_cast<long>(bad.errors.size()), 1, "errors for a malformed sender");
    expect_eq(bad.errors[0].line, 2, "line of the malformed sender");
}
END_TEST

START_TEST(fallback_sender_is_normalized_and_overridable) {
    Config c = config_ok("[fallback_senders]\nfinance-report = Finance@Platform.EXAMPLE\n");
    expect_eq(c.fallback_sender_for("finance-report"), "Finance@platform.example", "override");
    expect_eq(c.fallback_sender_for("aml-alert"), "noreply@platform.example", "default");
    ConfigResult r = config_from("[fallback_senders]\nno-such = a@b.example\ncustom = bad\n");
    expect_eq(static_cast<long>(r.errors.size()), 2, "errors: unknown category, bad address");
}
END_TEST

START_TEST(header_names_must_differ) {
    ConfigResult r = config_from("[headers]\nroute = x-partner-id\n");
    expect_eq(static_cast<long>(r.errors.size()), 1, "errors");
    expect_eq(r.errors[0].key, "route", "key");
    expect_eq(r.errors[0].line, 4, "line");
}
END_TEST

START_TEST(setting_outside_a_section) {
    ConfigResult r = load_config_ini(
        parse_ini_text("m.conf", "stray = 1\n[milter]\nfallback_sender = a@b.example\n"));
    expect_eq(static_cast<long>(r.errors.size()), 1, "errors");
    expect_eq(r.errors[0].line, 1, "line");
}
END_TEST

START_TEST(multi_line_values_are_refused) {
    // Issue 17 finding 2: lists too, with the key and both lines named.
    ConfigResult r = config_from("trusted_networks = 10.0.0.0/8,\n  192.168.0.0/16\n");
    ck_assert_msg(!r.config.has_value(), "a continued list was accepted");
    ck_assert_msg(errors_of(r).find("trusted_networks: trusted_networks value continues on line") != std::string::npos,
                  "got '%s'", errors_of(r).c_str());
    ck_assert_msg(errors_of(r).find("192.168") == std::string::npos, "the value was echoed: '%s'",
                  errors_of(r).c_str());
    r = config_from("socket = inet:1@h\n  inet:2@h\n");
    expect_eq(static_cast<long>(r.errors.size()), 1, "errors for a continued socket");
}
END_TEST

START_TEST(inet_socket_without_host_is_loopback) {
    // Issue 17 finding 6: libmilter binds inet:PORT to every address.
    expect_eq(config_ok("socket = inet:8891\n").socket, "inet:8891@127.0.0.1", "inet");
    expect_eq(config_ok("socket = inet6:8891\n").socket, "inet6:8891@::1", "inet6");
    expect_eq(config_ok("socket = inet:8891@0.0.0.0\n").socket, "inet:8891@0.0.0.0",
              "an explicit host is kept");
    expect_eq(prm::socket_with_host("local:/run/m.sock"), "local:/run/m.sock", "local");
}
END_TEST

START_TEST(relative_partner_path_follows_config_dir) {
    ConfigResult r = load_config_ini(parse_ini_text(
        "/etc/prm/main.conf", "[milter]\nfallback_sender = a@b.example\npartners = p.conf\n"));
    ck_assert_msg(r.config.has_value(), "rejected: %s", errors_of(r).c_str());
    expect_eq(r.config->partners, "/etc/prm/p.conf", "resolved path");
    r = load_config_ini(parse_ini_text(
        "/etc/prm/main.conf", "[milter]\nfallback_sender = a@b.example\npartners = /srv/p.conf\n"));
    expect_eq(r.config->partners, "/srv/p.conf", "absolute path kept");
}
END_TEST

START_TEST(network_parse_and_contains) {
    struct Row {
        const char* net;
        const char* addr;
        bool in;
    } rows[] = {
        {"127.0.0.0/8", "127.1.2.3", true},
        {"127.0.0.0/8", "128.0.0.1", false},
        {"10.1.2.3", "10.1.2.3", true},
        {"10.1.2.3", "10.1.2.4", false},
        {"192.168.0.0/23", "192.168.1.255", true},
        {"192.168.0.0/23", "192.168.2.0", false},
        {"0.0.0.0/0", "8.8.8.8", true},
        {"::1/128", "::1", true},
        {"::1/128", "IPv6:::1", true},
        {"::1/128", "[::1]", true},
        {"2001:db8::/32", "IPv6:2001:DB8:0:1::5", true},
        {"2001:db8::/32", "2001:db9::1", false},
        {"10.0.0.0/8", "::ffff:10.9.8.7", true},
        {"10.0.0.0/8", "IPv6:::1", false},
        {"::1/128", "127.0.0.1", false},
        {"10.0.0.0/8", "", false},
        {"10.0.0.0/8", "garbage", false},
        {"fe80::/10", "fe80::1%eth0", true},
    };
    for (const auto& row : rows) {
        auto n = Network::parse(row.net);
        ck_assert_msg(n.has_value(), "parse('%s') failed", row.net);
        ck_assert_msg(n->contains(row.addr) == row.in, "%s contains '%s': got %d, want %d", row.net,
                      row.addr, !row.in, row.in);
    }
    for (const char* bad :
         {"10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/", "10.0.0.0/-1", "x", ""})
        ck_assert_msg(!Network::parse(bad), "parse('%s'): got accepted, want rejected", bad);
}
END_TEST

START_TEST(dump_reads_back_the_same) {
    Config c = config_ok(
        "trusted_networks = 10.0.0.0/8\nmode = shadow\nsocket_mode = 640\n"
        "[categories]\nbilling = eligible\n"
        "[classify]\nbilling = sender:^billing@\n[fallback_senders]\nbilling = "
        "bill@platform.example\n");
    std::string dump = dump_config(c);
    ConfigResult again = load_config_ini(parse_ini_text("dump.conf", dump));
    ck_assert_msg(again.config.has_value(), "dump does not load:\n%s\n%s", errors_of(again).c_str(),
                  dump.c_str());
    std::string dump2 = dump_config(*again.config);
    expect_eq(dump2.substr(dump2.find('\n')), dump.substr(dump.find('\n')), "second dump");
    expect_eq(dumped(dump, "classify", "billing"), "sender:^billing@", "rule in the dump");
    expect_eq(dumped(dump, "milter", "socket_mode"), "0640", "socket_mode in the dump");
}
END_TEST

START_TEST(unreadable_config_file) {
    ConfigResult r = load_config("/nonexistent/prm.conf");
    expect_eq(static_cast<long>(r.errors.size()), 1, "errors");
    expect_eq(r.errors[0].line, 0, "line");
    ck_assert_msg(!r.config, "got a config");
}
END_TEST

START_TEST(fallback_alert_and_private_relay_keys) {
    Config d = config_ok();
    expect_eq(d.fallback_alert_rate * 1000000L + d.fallback_alert_min_messages * 10000L +
                  d.fallback_alert_window,
              20L * 1000000 + 10 * 10000 + 900, "alert defaults (rate, min, window)");
    expect_eq(static_cast<long>(d.allowed_private_relays.size()), 0, "allowed_private_relays");
    Config c = config_ok(
        "fallback_alert_rate = 35%\nfallback_alert_min_messages = 3\nfallback_alert_window = 60\n"
        "allowed_private_relays = 127.0.0.0/8, fd00::/8\n");
    expect_eq(c.fallback_alert_rate, 35, "rate with a percent sign");
    expect_eq(c.fallback_alert_min_messages, 3, "min messages");
    expect_eq(c.fallback_alert_window, 60, "window");
    expect_eq(static_cast<long>(c.allowed_private_relays.size()), 2, "allowed networks");
    ck_assert_msg(c.allowed_private_relays[0].contains("127.0.0.1"),
                  "127.0.0.0/8 does not contain 127.0.0.1");
    expect_eq(config_ok("fallback_alert_rate = 0\n").fallback_alert_rate, 0, "rate 0 (off)");
}
END_TEST

START_TEST(fuzz_leading_semicolon_value_refused) {
    // Fuzz finding G (fuzz_config): "fallback_daemon_name =;FALLBACK" was
    // accepted, but -n prints "fallback_daemon_name = ;FALLBACK", which
    // reads back as an empty value (" ;" starts an inline comment).
    for (const char* line :
         {"fallback_daemon_name =;FALLBACK\n", "user =;nobody\n", "[headers]\nroute =;X-Route\n"}) {
        ConfigResult r = config_from(line);
        ck_assert_msg(!r.config.has_value(), "'%s': got accepted, want an error", line);
    }
    ConfigResult ok = config_from("fallback_daemon_name = FALL;BACK\n");
    ck_assert_msg(ok.config.has_value(), "';' inside a value: got an error, want accepted");
    ConfigResult again = load_config_ini(parse_ini_text("dump.conf", dump_config(*ok.config)));
    ck_assert_msg(again.config && again.config->fallback_daemon_name == "FALL;BACK",
                  "dump of FALL;BACK does not read back");
}
END_TEST

START_TEST(fuzz_long_token_dump_reads_back) {
    // Fuzz finding H (fuzz_config): a 190-byte fallback_daemon_name was
    // accepted (the input line fit the INI reader's 197 bytes), but -n's
    // "fallback_daemon_name = VALUE" line did not, so the dump did not load
    // again. Single-word values are now at most 165 bytes.
    std::string longest(165, 'F'), too_long(166, 'F');
    ConfigResult bad = config_from("fallback_daemon_name =" + too_long + "\n");
    ck_assert_msg(!bad.config.has_value(), "166-byte token: got accepted, want an error");
    for (const std::string& key : {std::string("fallback_daemon_name"), std::string("user")}) {
        ConfigResult ok = config_from(key + " =" + longest + "\n");
        ck_assert_msg(ok.config.has_value(), "%s of 165 bytes: got an error, want accepted",
                      key.c_str());
        ConfigResult again = load_config_ini(parse_ini_text("dump.conf", dump_config(*ok.config)));
        ck_assert_msg(again.config.has_value(), "%s of 165 bytes: got a dump that does not load",
                      key.c_str());
    }
}
END_TEST

Suite* suite_config() {
    Suite* s = suite_create("config");
    TCase* tc = tcase_create("config");
    tcase_add_test(tc, every_key_default);
    tcase_add_test(tc, table_defaults_match_the_dump);
    tcase_add_test(tc, reloadable_flags);
    tcase_add_test(tc, bad_value_for_each_typed_key);
    tcase_add_test(tc, good_values_are_applied);
    tcase_add_test(tc, unknown_key_carries_line_and_key);
    tcase_add_test(tc, unknown_section_carries_line);
    tcase_add_test(tc, duplicate_key_names_both_lines);
    tcase_add_test(tc, missing_fallback_sender);
    tcase_add_test(tc, fallback_sender_is_normalized_and_overridable);
    tcase_add_test(tc, header_names_must_differ);
    tcase_add_test(tc, setting_outside_a_section);
    tcase_add_test(tc, multi_line_values_are_refused);
    tcase_add_test(tc, inet_socket_without_host_is_loopback);
    tcase_add_test(tc, relative_partner_path_follows_config_dir);
    tcase_add_test(tc, network_parse_and_contains);
    tcase_add_test(tc, dump_reads_back_the_same);
    tcase_add_test(tc, unreadable_config_file);
    tcase_add_test(tc, fallback_alert_and_private_relay_keys);
    tcase_add_test(tc, fuzz_leading_semicolon_value_refused);
    tcase_add_test(tc, fuzz_long_token_dump_reads_back);
    tcase_add_test(tc, oauth_socket_must_not_be_a_service_name);
    suite_add_tcase(s, tc);
    return s;
}
