// test_oauth_partners.cpp - suite_oauth_partners: auth = oauth2 partner keys.
//
// What could break: an oauth2 partner routing with a key missing (all or
// nothing), a password or oauth_* key of the wrong kind accepted, a token
// URL that is not https or smuggles user info, a tenant that cannot do the
// client-credentials grant, an implicit-TLS port or tls = encrypt accepted,
// the route header naming the wrong transport, the client secret leaking
// into any text, and the token URL host escaping the host guard.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core/hostguard.hpp"
#include "core/snapshot.hpp"  // before helpers.hpp: check.h must come after <ios>
#include "helpers.hpp"
#include "suites.hpp"

using namespace prm;
using prm::test::config_ok;
using prm::test::partners_from;

namespace {

void expect_eq(const std::string& got, const std::string& want, const char* what) {
    ck_assert_msg(got == want, "%s: got '%s', want '%s'", what, got.c_str(), want.c_str());
}

// A complete oauth2 partner "m365" with its tenant.
const char* kM365 =
    "[m365]\nauth = oauth2\nhost = smtp.office365.com\nport = 587\n"
    "username = relay@contoso.example\nsender = news@contoso.example\n"
    "oauth_client_id = 11111111-2222-3333-4444-555555555555\n"
    "oauth_client_secret = Cl1ent~Secret.Value\noauth_tenant = contoso.onmicrosoft.com\n";

// kM365 with the line of KEY replaced by REPLACEMENT ("" drops it).
std::string m365_with(const std::string& key, const std::string& replacement) {
    std::string out, text = kM365;
    std::size_t pos = 0;
    bool done = false;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        bool hit = line.rfind(key + " =", 0) == 0;
        done = done || hit;
        out += hit ? replacement : line + "\n";
    }
    return done ? out : out + replacement;
}

// The single partner of TEXT.
Partner one(const std::string& text, const Config& cfg = config_ok()) {
    PartnerTable t = partners_from(text, cfg);
    ck_assert_msg(t.partners.size() == 1, "partners: got %zu, want 1", t.partners.size());
    return t.partners[0];
}

// Fail unless P is inactive with a problem at KEY whose text holds WANT.
void expect_problem(const Partner& p, const std::string& key, const std::string& want,
                    const std::string& what) {
    ck_assert_msg(!p.active, "%s: got active, want inactive (%s)", what.c_str(), want.c_str());
    bool found = false;
    for (const Diag& d : p.problems)
        found = found || (d.key == key && d.line > 0 && d.message.find(want) != std::string::npos);
    ck_assert_msg(found, "%s: got reason '%s', want a problem at %s with '%s'", what.c_str(),
                  p.reason.c_str(), key.c_str(), want.c_str());
}

}  // namespace

START_TEST(complete_tenant_partner_is_active) {
    Config cfg = config_ok();
    Partner p = one(kM365, cfg);
    ck_assert_msg(p.active, "got inactive: %s", p.reason.c_str());
    ck_assert_msg(p.auth == AuthKind::oauth2, "auth: got password, want oauth2");
    expect_eq(p.oauth_token_url,
              "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
              "token URL from the tenant");
    expect_eq(p.oauth_scope, "https://outlook.office365.com/.default", "default scope");
    expect_eq(p.oauth_client_id, "11111111-2222-3333-4444-555555555555", "client id");
    expect_eq(p.route_value(cfg), "partner-oauth:[smtp.office365.com]:587", "route value");
    expect_eq(tls_level_name(p.tls), "secure", "tls without a tls key");
    expect_eq(p.password, "", "password");
    Config renamed = config_ok("partner_oauth_transport = m365-oauth\n");
    expect_eq(one(kM365, renamed).route_value(renamed), "m365-oauth:[smtp.office365.com]:587",
              "route value with partner_oauth_transport");
}
END_TEST

START_TEST(token_url_and_scope) {
    Partner p = one(m365_with("oauth_tenant", "oauth_token_url = https://Login.Example:8443/t/token?x=1\n"
                                              "oauth_scope = https://mail.google.com/ openid\n"));
    ck_assert_msg(p.active, "got inactive: %s", p.reason.c_str());
    expect_eq(p.oauth_token_url, "https://Login.Example:8443/t/token?x=1", "token URL");
    expect_eq(p.oauth_token_host, "Login.Example", "token host");
    expect_eq(p.oauth_tenant, "", "tenant");
    expect_eq(p.oauth_scope, "https://mail.google.com/ openid", "scope");
}
END_TEST

START_TEST(each_missing_key_deactivates) {
    // All or nothing: each missing key alone makes the partner inactive.
    for (const char* key : {"oauth_client_id", "oauth_client_secret", "username", "sender", "host"}) {
        Partner p = one(m365_with(key, ""));
        expect_problem(p, key, std::string("missing ") + key, key);
    }
    expect_problem(one(m365_with("port", "")), "port", "missing port", "port");
    expect_problem(one(m365_with("oauth_tenant", "")), "oauth_tenant",
                   "missing oauth_tenant (or oauth_token_url)", "no endpoint");
    expect_problem(one(m365_with("oauth_client_secret", "oauth_client_secret =\n")),
                   "oauth_client_secret", "missing oauth_client_secret", "empty secret");
}
END_TEST

START_TEST(keys_of_the_other_kind_are_errors) {
    expect_problem(one(std::string(kM365) + "password = pw\n"), "password",
                   "password is not used with auth = oauth2", "password on oauth2");
    std::string pw = "[acme]\nhost = 127.0.0.1\nport = 2525\nusername = u\npassword = pw\n"
                     "sender = news@acme.example\ntls = encrypt\n";
    for (const char* key : {"oauth_client_id", "oauth_client_secret", "oauth_tenant",
                            "oauth_token_url", "oauth_scope"}) {
        Partner p = one(pw + key + " = x\n");
        expect_problem(p, key, "only used with auth = oauth2", key);
    }
    Partner explicit_pw = one(pw + "auth = password\n");
    ck_assert_msg(explicit_pw.active && explicit_pw.auth == AuthKind::password,
                  "auth = password: got inactive or oauth2 (%s)", explicit_pw.reason.c_str());
    expect_problem(one(pw + "auth = oauth\n"), "auth", "expected password or oauth2", "bad auth");
    expect_problem(one(m365_with("oauth_tenant", "oauth_tenant = t.example\noauth_token_url = "
                                                 "https://idp.example/token\n")),
                   "oauth_token_url", "not both", "tenant and URL");
}
END_TEST

START_TEST(bad_token_urls) {
    struct Row {
        const char* url;
        const char* want;
    } rows[] = {
        {"http://idp.example/token", "must start with https://"},
        {"https://idp.example", "needs a path"},
        {"https://user:pw@idp.example/token", "user name or password"},
        {"https://idp.example:0/token", "bad port"},
        {"https://idp.example:99999/token", "bad port"},
        {"https://idp.example:/token", "bad port"},
        {"https://idp_x.example/token", "DNS name or an IPv4 address"},
        {"https://[::1]/token", "DNS name or an IPv4 address"},
        {"https://idp.example/token#frag", "needs a path"},
        {"https://idp.example/to ken", "needs a path"},
        {"https://idp.example/to|ken", "needs a path"},
        {"ftp://idp.example/token", "must start with https://"},
    };
    for (const Row& r : rows)
        expect_problem(one(m365_with("oauth_tenant", std::string("oauth_token_url = ") + r.url + "\n")),
                       "oauth_token_url", r.want, r.url);
}
END_TEST

START_TEST(bad_tenants_client_ids_and_scopes) {
    for (const char* t : {"common", "Organizations", "consumers"})
        expect_problem(one(m365_with("oauth_tenant", std::string("oauth_tenant = ") + t + "\n")),
                       "oauth_tenant", "does not work with the client-credentials grant", t);
    for (const char* t : {"a/b", "contoso.example?x", "t%2f"})
        expect_problem(one(m365_with("oauth_tenant", std::string("oauth_tenant = ") + t + "\n")),
                       "oauth_tenant", "tenant id (a GUID) or one of its domains", t);
    expect_problem(one(m365_with("oauth_client_id", "oauth_client_id = two words\n")),
                   "oauth_client_id", "printable ASCII without spaces", "client id with space");
    expect_problem(one(m365_with("oauth_client_id", "oauth_client_id = id\n  more\n")),
                   "oauth_client_id", "continues on line", "client id on two lines");
    expect_problem(one(std::string(kM365) + "oauth_scope = a\tb\n"), "oauth_scope",
                   "printable ASCII", "scope with a tab");
}
END_TEST

START_TEST(implicit_tls_port_and_encrypt_refused) {
    expect_problem(one(m365_with("port", "port = 465\n")), "port", "implicit-TLS port",
                   "port 465");
    Config cfg = config_ok("implicit_tls_ports = 587\n");
    expect_problem(one(kM365, cfg), "port", "does not support", "587 made implicit");
    expect_problem(one(std::string(kM365) + "tls = encrypt\n"), "tls", "unverified connection",
                   "tls = encrypt");
    Partner v = one(std::string(kM365) + "tls = verify\n");
    ck_assert_msg(v.active && v.tls == TlsLevel::verify, "tls = verify: got inactive or other (%s)",
                  v.reason.c_str());
}
END_TEST

START_TEST(client_secret_never_in_any_text) {
    // A broken partner with every kind of problem, its secret distinctive.
    const std::string secret = "Zq8~uniqueSecretValue";
    std::string text = "[a]\nauth = oauth2\nhost = bad host\nport = 465\nusername = u:1\n"
                       "sender = bad\npassword = " + secret + "\noauth_client_secret = " + secret +
                       "\noauth_token_url = http://" + secret + "/\noauth_scope = \t\n" +
                       "[b]\nauth = oauth2\noauth_client_secret = " + secret + "\n  " + secret +
                       "\n[c]\nhost = 127.0.0.1\nport = 25\nusername = u\npassword = p\n"
                       "sender = c@c.example\noauth_client_secret = " + secret + "\n";
    PartnerTable t = partners_from(text, config_ok());
    std::string all;
    for (const auto& p : t.partners) {
        all += p.reason;
        for (const auto& d : p.problems) all += d.str();
    }
    for (const auto& d : t.warnings) all += d.str();
    std::size_t at = all.find(secret);
    ck_assert_msg(at == std::string::npos, "client secret found in: ...%s...",
                  all.substr(at > 150 ? at - 150 : 0, 300).c_str());
    ck_assert_msg(all.find("oauth_client_secret value continues on line") != std::string::npos,
                  "b: got no continuation problem");
    ck_assert_msg(t.active_count() == 0, "active partners: got %zu, want 0", t.active_count());
}
END_TEST

START_TEST(token_host_goes_through_the_guard) {
    Config cfg = config_ok();
    std::string text = m365_with("oauth_tenant", "oauth_token_url = https://10.1.2.3/token\n");
    text += "[byname]\nauth = oauth2\nhost = 8.8.8.8\nport = 587\nusername = u\n"
            "tls_fingerprint = " + std::string(64, 'a') + "\n"
            "sender = b@b.example\noauth_client_id = c\noauth_client_secret = s\n"
            "oauth_token_url = https://idp.internal.example/token\n";
    text += std::string(kM365).replace(1, 4, "tenant") + "";
    // "tenant" reuses kM365's sender: give it its own.
    std::size_t at = text.rfind("news@contoso.example");
    text.replace(at, 20, "tenant@contoso.example");
    PartnerTable t = partners_from(text, cfg);
    int calls = 0;
    HostResolver dns = [&calls](const std::string& h, std::vector<std::string>& a, std::string&) {
        ++calls;
        a = {h == "idp.internal.example" ? "192.168.7.7" : "40.0.0.1"};
        return true;
    };
    Diags w;
    guard_partner_hosts(t, cfg, w, dns);
    const Partner* lit = t.find("m365");
    ck_assert_msg(lit && !lit->active, "token URL on 10.1.2.3: got active");
    expect_eq(lit->reason, "token URL host 10.1.2.3 is a private address (not in allowed_private_relays)",
              "reason");
    expect_eq(lit->problems.back().key, "oauth_token_url", "problem key");
    // The problem points at the oauth_token_url = line, not the section line.
    auto line_of = [&text](const std::string& needle) {
        std::size_t at = text.find(needle);
        return std::to_string(1 + std::count(text.begin(), text.begin() + at, '\n'));
    };
    expect_eq(std::to_string(lit->problems.back().line),
              line_of("oauth_token_url = https://10.1.2.3"), "problem line");
    const Partner* named = t.find("byname");
    ck_assert_msg(named && !named->active &&
                      named->reason.find("token URL host idp.internal.example resolves to "
                                         "192.168.7.7") != std::string::npos,
                  "token host resolving private: got '%s'", named ? named->reason.c_str() : "none");
    expect_eq(std::to_string(named->problems.back().line),
              line_of("oauth_token_url = https://idp.internal"), "byname problem line");
    const Partner* tenant = t.find("tenant");
    ck_assert_msg(tenant && tenant->active, "tenant partner: got inactive (%s)",
                  tenant ? tenant->reason.c_str() : "none");
    // smtp.office365.com (relay host) and idp.internal.example; never the
    // fixed Microsoft login host of a tenant.
    ck_assert_msg(calls == 2, "resolver calls: got %d, want 2", calls);

    Config allowed = config_ok("allowed_private_relays = 10.0.0.0/8\n");
    PartnerTable t2 = partners_from(
        m365_with("oauth_tenant", "oauth_token_url = https://10.1.2.3/token\n"), allowed);
    guard_partner_hosts(t2, allowed, w, dns);
    ck_assert_msg(t2.partners[0].active, "allowed token host: got inactive (%s)",
                  t2.partners[0].reason.c_str());
}
END_TEST

Suite* suite_oauth_partners() {
    Suite* s = suite_create("oauth_partners");
    TCase* tc = tcase_create("keys");
    tcase_add_test(tc, complete_tenant_partner_is_active);
    tcase_add_test(tc, token_url_and_scope);
    tcase_add_test(tc, each_missing_key_deactivates);
    tcase_add_test(tc, keys_of_the_other_kind_are_errors);
    tcase_add_test(tc, bad_token_urls);
    tcase_add_test(tc, bad_tenants_client_ids_and_scopes);
    tcase_add_test(tc, implicit_tls_port_and_encrypt_refused);
    tcase_add_test(tc, client_secret_never_in_any_text);
    tcase_add_test(tc, token_host_goes_through_the_guard);
    suite_add_tcase(s, tc);
    return s;
}
