// test_hostguard.cpp - suite_hostguard: partner hosts in private address space.
//
// What could break: an address class missed or a public address flagged,
// the allowlist not applied (or applied to the wrong family), a name
// resolving to one private address among public ones slipping through, an
// unresolvable name switching a partner off, a host looked up twice, the
// reason not naming host, address and key. The resolver is injected.
#include <map>
#include <string>
#include <vector>

#include "core/hostguard.hpp"
#include "core/snapshot.hpp"  // before helpers.hpp: check.h must come after <ios>
#include "helpers.hpp"
#include "suites.hpp"

using namespace prm;

namespace {

void expect_eq(const std::string& got, const std::string& want, const char* what) {
    ck_assert_msg(got == want, "%s: got '%s', want '%s'", what, got.c_str(), want.c_str());
}

// A complete partner section on HOST.
std::string partner(const std::string& id, const std::string& host) {
    return "[" + id + "]\nhost = " + host + "\nport = 587\nusername = u-" + id +
           "\npassword = pw\nsender = m@" + id + ".example\n" +
           // An IP-literal host needs tls_fingerprint or an explicit encrypt (issue 12).
           "tls = encrypt\n";
}

// A fake resolver over a fixed map; counts its calls.
struct FakeDns {
    std::map<std::string, std::vector<std::string>> names;
    int calls = 0;
    HostResolver fn() {
        return [this](const std::string& h, std::vector<std::string>& a, std::string& err) {
            ++calls;
            auto it = names.find(h);
            if (it == names.end()) return err = "Name or service not known", false;
            a = it->second;
            return true;
        };
    }
};

}  // namespace

START_TEST(address_kinds) {
    struct Row {
        const char* addr;
        const char* kind;
    } rows[] = {
        {"127.0.0.1", "loopback"},
        {"127.255.0.9", "loopback"},
        {"10.0.0.5", "private"},
        {"172.16.0.1", "private"},
        {"172.31.255.1", "private"},
        {"172.32.0.1", ""},
        {"192.168.1.1", "private"},
        {"192.169.1.1", ""},
        {"100.64.0.1", "shared"},
        {"100.128.0.1", ""},
        {"169.254.10.1", "link-local"},
        {"0.0.0.0", "unspecified"},
        {"224.0.0.1", "multicast"},
        {"255.255.255.255", "reserved"},
        {"8.8.8.8", ""},
        {"93.184.216.34", ""},
        {"::", "unspecified"},
        {"::1", "loopback"},
        {"fe80::1", "link-local"},
        {"fd00::5", "private"},
        {"fc00::1", "private"},
        {"ff02::1", "multicast"},
        {"::ffff:10.1.2.3", "private"},
        {"::ffff:8.8.8.8", ""},
        {"2001:db8::1", ""},
        {"2a00:1450::1", ""},
        {"relay.example", ""},
        {"", ""},
    };
    for (const auto& r : rows) expect_eq(special_address_kind(r.addr), r.kind, r.addr);
}
END_TEST

START_TEST(literal_private_host_makes_partner_inactive) {
    Config cfg = test::config_ok();
    PartnerTable t =
        test::partners_from(partner("acme", "10.0.0.5") + partner("pub", "8.8.8.8"), cfg);
    Diags w;
    FakeDns dns;
    guard_partner_hosts(t, cfg, w, dns.fn());
    const Partner* acme = t.find("acme");
    ck_assert_msg(acme && !acme->active, "acme: got active, want inactive");
    expect_eq(acme->reason, "host 10.0.0.5 is a private address (not in allowed_private_relays)",
              "reason");
    ck_assert_msg(acme->problems.size() == 1 && acme->problems[0].key == "host",
                  "acme problems: got %zu, want one with key host", acme->problems.size());
    // The problem points at the host = line (2), not the [acme] line (1).
    expect_eq(std::to_string(acme->problems[0].line), "2", "problem line");
    ck_assert_msg(t.find("pub")->active, "pub (8.8.8.8): got inactive (%s)",
                  t.find("pub")->reason.c_str());
    ck_assert_msg(dns.calls == 0, "resolver calls for IP literals: got %d, want 0", dns.calls);
    ck_assert_msg(w.empty(), "warnings: got %zu, want 0", w.size());
    expect_eq(std::to_string(t.active_count()), "1", "active partners");
}
END_TEST

START_TEST(allowlist_keeps_partner_active) {
    Config cfg = test::config_ok("allowed_private_relays = 127.0.0.0/8\n");
    PartnerTable t = test::partners_from(
        partner("lo", "127.0.0.1") + partner("ten", "10.1.1.1") + partner("name", "mx.lo.test"),
        cfg);
    Diags w;
    FakeDns dns;
    dns.names["mx.lo.test"] = {"127.0.0.2"};
    guard_partner_hosts(t, cfg, w, dns.fn());
    ck_assert_msg(t.find("lo")->active, "lo: got inactive (%s)", t.find("lo")->reason.c_str());
    ck_assert_msg(t.find("name")->active, "name: got inactive (%s)",
                  t.find("name")->reason.c_str());
    ck_assert_msg(!t.find("ten")->active, "ten (10.1.1.1, not allowed): got active");
}
END_TEST

START_TEST(name_with_one_private_address_is_refused) {
    Config cfg = test::config_ok("allowed_private_relays = ::1/128\n");
    PartnerTable t = test::partners_from(partner("acme", "Relay.Acme.Example") +
                                             partner("beta", "relay.acme.example") +
                                             partner("six", "v6.example"),
                                         cfg);
    Diags w;
    FakeDns dns;
    dns.names["relay.acme.example"] = {"93.184.216.34", "192.168.0.7"};
    dns.names["v6.example"] = {"::1", "fe80::2"};
    guard_partner_hosts(t, cfg, w, dns.fn());
    expect_eq(t.find("acme")->reason,
              "host Relay.Acme.Example resolves to 192.168.0.7, a private address (not in "
              "allowed_private_relays)",
              "acme reason");
    ck_assert_msg(!t.find("beta")->active, "beta: got active, want inactive");
    expect_eq(t.find("six")->reason,
              "host v6.example resolves to fe80::2, a link-local address (not in "
              "allowed_private_relays)",
              "six reason (::1 allowed, fe80::2 not)");
    ck_assert_msg(dns.calls == 2, "lookups: got %d, want 2 (one per distinct name)", dns.calls);
}
END_TEST

START_TEST(unresolvable_name_stays_active_with_warning) {
    Config cfg = test::config_ok();
    PartnerTable t = test::partners_from(partner("acme", "nowhere.invalid"), cfg);
    Diags w;
    FakeDns dns;
    guard_partner_hosts(t, cfg, w, dns.fn());
    ck_assert_msg(t.find("acme")->active, "acme: got inactive (%s), want active",
                  t.find("acme")->reason.c_str());
    ck_assert_msg(w.size() == 1, "warnings: got %zu, want 1", w.size());
    expect_eq(w[0].message,
              "host nowhere.invalid does not resolve (Name or service not known); not checked "
              "against private addresses",
              "warning");
    expect_eq(w[0].key, "host", "warning key");
}
END_TEST

START_TEST(inactive_partner_keeps_its_reasons_and_is_not_looked_up) {
    Config cfg = test::config_ok();
    std::string text =
        "[acme]\nhost = 10.0.0.5\nport = 587\nusername = u\nsender = m@a.example\ntls = encrypt\n"
        "[beta]\nhost = some.name\nport = 587\nusername = u\nsender = m@b.example\n";
    PartnerTable t = test::partners_from(text, cfg);
    Diags w;
    FakeDns dns;
    guard_partner_hosts(t, cfg, w, dns.fn());
    expect_eq(t.find("acme")->reason,
              "missing password; host 10.0.0.5 is a private address (not in "
              "allowed_private_relays)",
              "acme reason");
    ck_assert_msg(dns.calls == 0, "lookups for inactive partners: got %d, want 0", dns.calls);
}
END_TEST

START_TEST(system_resolver_reads_ip_literals) {
    // getaddrinfo on a numeric host needs no DNS: the real resolver is wired.
    std::vector<std::string> a;
    std::string err;
    ck_assert_msg(system_resolve("127.0.0.1", a, err), "127.0.0.1: got failure (%s)", err.c_str());
    ck_assert_msg(!a.empty() && a[0] == "127.0.0.1", "got '%s', want 127.0.0.1",
                  a.empty() ? "" : a[0].c_str());
}
END_TEST

START_TEST(cached_system_resolver_guards_across_loads) {
    // The default overload: the system resolver behind the process-wide
    // cache. "localhost" resolves from /etc/hosts, no DNS needed; the second
    // load is served from the cache and must give the same verdict, and the
    // allowlist still applies to a cached answer.
    for (int load = 1; load <= 2; ++load) {
        Config cfg = test::config_ok();
        PartnerTable t = test::partners_from(partner("acme", "localhost"), cfg);
        Diags w;
        guard_partner_hosts(t, cfg, w);
        ck_assert_msg(!t.find("acme")->active, "load %d: got active, want inactive (loopback)", load);
        ck_assert_msg(t.find("acme")->reason.find("a loopback address") != std::string::npos,
                      "load %d: got reason '%s', want a loopback address", load,
                      t.find("acme")->reason.c_str());
    }
    Config cfg = test::config_ok("allowed_private_relays = 127.0.0.0/8, ::1/128\n");
    PartnerTable t = test::partners_from(partner("acme", "localhost"), cfg);
    Diags w;
    guard_partner_hosts(t, cfg, w);
    ck_assert_msg(t.find("acme")->active, "allowlisted: got inactive (%s), want active",
                  t.find("acme")->reason.c_str());
}
END_TEST

Suite* suite_hostguard() {
    Suite* s = suite_create("hostguard");
    TCase* tc = tcase_create("hostguard");
    tcase_add_test(tc, address_kinds);
    tcase_add_test(tc, literal_private_host_makes_partner_inactive);
    tcase_add_test(tc, allowlist_keeps_partner_active);
    tcase_add_test(tc, name_with_one_private_address_is_refused);
    tcase_add_test(tc, unresolvable_name_stays_active_with_warning);
    tcase_add_test(tc, inactive_partner_keeps_its_reasons_and_is_not_looked_up);
    tcase_add_test(tc, system_resolver_reads_ip_literals);
    tcase_add_test(tc, cached_system_resolver_guards_across_loads);
    suite_add_tcase(s, tc);
    return s;
}
