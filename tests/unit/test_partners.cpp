// test_partners.cpp - suite_partners: the partner table, snapshots, examples.
//
// What could break: product rules 1-3 (all four credentials, a sender, a
// valid port), injection through host/username/sender, a broken partner
// taking others down, lookups, the password leaking into any text, the
// file-mode warning, scale, and the shipped example files drifting.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "core/partners.hpp"
#include "core/snapshot.hpp"
#include "helpers.hpp"
#include "suites.hpp"
#include "tempdir.hpp"

#ifndef PRM_TOP_SRCDIR
#define PRM_TOP_SRCDIR "../.."
#endif

using namespace prm;
using prm::test::config_ok;
using prm::test::kAcme;
using prm::test::partners_from;
using prm::test::TempDir;

namespace {

void expect_eq(const std::string& got, const std::string& want, const char* what) {
    ck_assert_msg(got == want, "%s: got '%s', want '%s'", what, got.c_str(), want.c_str());
}
void expect_eq(long got, long want, const char* what) {
    ck_assert_msg(got == want, "%s: got %ld, want %ld", what, got, want);
}

// kAcme with the line starting with KEY replaced by REPLACEMENT ("" drops it).
std::string acme_with(const std::string& key, const std::string& replacement) {
    std::string out, text = kAcme;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        out += line.rfind(key + " =", 0) == 0 ? replacement : line + "\n";
    }
    return out;
}

// The single partner of TEXT (validated against the default config).
Partner one(const std::string& text) {
    PartnerTable t = partners_from(text, config_ok());
    ck_assert_msg(t.partners.size() == 1, "partners: got %zu, want 1", t.partners.size());
    return t.partners[0];
}

// Fail unless P is inactive with a reason containing WANT.
void expect_inactive(const Partner& p, const std::string& want, const std::string& what) {
    ck_assert_msg(!p.active, "%s: got active, want inactive (%s)", what.c_str(), want.c_str());
    ck_assert_msg(p.reason.find(want) != std::string::npos, "%s: got reason '%s', want '%s'",
                  what.c_str(), p.reason.c_str(), want.c_str());
    ck_assert_msg(!p.problems.empty() && p.problems[0].line > 0, "%s: problem without a line",
                  what.c_str());
}

// The main config of the snapshot-warning tests, up to "partners = ";
// tables_dir empty: no published-stamp check, whatever the host has.
const std::string kWarnConfig =
    "[milter]\nfallback_sender = noreply@platform.example\n"
    "allowed_private_relays = 127.0.0.0/8\ntables_dir =\npartners = ";

}  // namespace

START_TEST(complete_partner_is_active) {
    Partner p = one(acme_with("sender", "sender = News@ACME.Example\n"));
    ck_assert_msg(p.active, "got inactive: %s", p.reason.c_str());
    expect_eq(p.reason, "ok", "reason");
    expect_eq(p.sender, "News@acme.example", "sender with lower-cased domain");
    expect_eq(p.nexthop(), "[127.0.0.1]:2525", "nexthop");
    expect_eq(p.route_value(config_ok()), "partner:[127.0.0.1]:2525", "route value");
    ck_assert_msg(p.tls == TlsLevel::fingerprint, "tls: got %s, want fingerprint",
                  tls_level_name(p.tls));
}
END_TEST

START_TEST(each_missing_credential_deactivates) {
    for (const char* key : {"host", "port", "username", "password"}) {
        Partner p = one(acme_with(key, ""));
        expect_inactive(p, std::string("missing ") + key, key);
        expect_eq(p.problems[0].key, key, "problem key");
        Partner empty = one(acme_with(key, std::string(key) + " =\n"));
        ck_assert_msg(!empty.active, "%s empty: got active", key);
    }
}
END_TEST

START_TEST(missing_or_malformed_sender_deactivates) {
    expect_inactive(one(acme_with("sender", "")), "missing sender", "no sender");
    for (const char* bad :
         {"news", "news@", "@acme.example", "news@@acme.example", "news@acme..example"})
        expect_inactive(one(acme_with("sender", std::string("sender = ") + bad + "\n")), "sender",
                        bad);
}
END_TEST

// Issue 17 finding 4: senders Postfix's sender-dependent SASL lookup never
// matches ('#' starts a comment line in sasl_passwd; a quoted local part is
// not the form Postfix looks up) are refused, not reported active.
START_TEST(sender_postfix_cannot_look_up_deactivates) {
    for (const char* bad : {"#news@acme.example", "\"news\"@acme.example",
                            "\"a.b\"@acme.example"}) {
        Partner p = one(acme_with("sender", std::string("sender = ") + bad + "\n"));
        expect_inactive(p, "Postfix", bad);
        expect_eq(p.problems[0].key, "sender", "problem key");
    }
    // '#' inside the local part is not a comment: still a valid, active sender.
    Partner ok = one(acme_with("sender", "sender = news#1@acme.example\n"));
    ck_assert_msg(ok.active, "news#1@acme.example: got inactive (%s)", ok.reason.c_str());
}
END_TEST

START_TEST(port_range_and_syntax) {
    for (const char* bad : {"-1", "65536", "abc", "", "25x", "2 5", "99999999"})
        expect_inactive(one(acme_with("port", std::string("port = ") + bad + "\n")),
                        "port must be a whole number", std::string("port '") + bad + "'");
    for (int good : {0, 25, 465, 65535}) {
        Partner p = one(acme_with("port", "port = " + std::to_string(good) + "\n"));
        ck_assert_msg(p.active, "port %d: got inactive (%s), want active", good, p.reason.c_str());
        expect_eq(p.port.value_or(1), good, "port value");
    }
    ck_assert_msg(one(acme_with("port", "port =   587  \n")).active,
                  "port with spaces around: got inactive");
}
END_TEST

// kAcme on a DNS host name, without tls_fingerprint, plus EXTRA lines.
std::string dns_acme(const std::string& extra = "") {
    std::string out, text = acme_with("tls_fingerprint", "");
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        out += line.rfind("host =", 0) == 0 ? "host = smtp.acme.example\n" : line + "\n";
    }
    return out + extra;
}

START_TEST(tls_levels) {
    // Issue 12: the level of a DNS-named relay, as written (or the default).
    struct Row {
        const char* value;
        bool ok;
        TlsLevel want;
    } rows[] = {{"encrypt", true, TlsLevel::encrypt}, {"verify", true, TlsLevel::verify},
                {"secure", true, TlsLevel::secure},   {"none", false, TlsLevel::secure},
                {"may", false, TlsLevel::secure},     {"Secure", false, TlsLevel::secure},
                {"fingerprint", false, TlsLevel::fingerprint}};
    for (const auto& r : rows) {
        Partner p = one(dns_acme(std::string("tls = ") + r.value + "\n"));
        ck_assert_msg(p.active == r.ok, "tls '%s': got active=%d, want %d (%s)", r.value, p.active,
                      r.ok, p.reason.c_str());
        ck_assert_msg(p.tls_explicit, "tls '%s': tls_explicit not set", r.value);
        if (r.ok)
            expect_eq(tls_level_name(p.tls), tls_level_name(r.want), "tls level");
        else if (std::string(r.value) == "fingerprint")
            expect_inactive(p, "tls = fingerprint needs tls_fingerprint", r.value);
        else
            expect_inactive(p, "unknown tls level", r.value);
    }
}
END_TEST

START_TEST(tls_default_is_secure_for_a_dns_name) {
    Partner p = one(dns_acme());
    ck_assert_msg(p.active, "got inactive: %s", p.reason.c_str());
    expect_eq(tls_level_name(p.tls), "secure", "default tls of a DNS host");
    ck_assert_msg(!p.tls_explicit, "tls_explicit set without a tls key");
}
END_TEST

START_TEST(tls_ip_literal_needs_fingerprint_or_explicit_encrypt) {
    // No tls key, no fingerprint: inactive, and the reason says what to write.
    Partner bare = one(acme_with("tls_fingerprint", ""));
    expect_inactive(bare, "is an IP address", "IP host, no tls keys");
    expect_inactive(bare, "tls_fingerprint", "IP host, no tls keys");
    expect_eq(bare.problems[0].key, "tls_fingerprint", "problem key");
    // Name checks cannot work on an address.
    for (const char* level : {"secure", "verify"})
        expect_inactive(one(acme_with("tls_fingerprint", std::string("tls = ") + level + "\n")),
                        "cannot verify the address 127.0.0.1", level);
    // Written explicitly, encrypt is taken (and warned about elsewhere).
    Partner enc = one(acme_with("tls_fingerprint", "tls = encrypt\n"));
    ck_assert_msg(enc.active, "explicit encrypt on an IP: got inactive (%s)", enc.reason.c_str());
    expect_eq(tls_level_name(enc.tls), "encrypt", "explicit encrypt");
    // The fixture's fingerprint: the fingerprint level.
    Partner fp = one(kAcme);
    ck_assert_msg(fp.active, "fingerprint on an IP: got inactive (%s)", fp.reason.c_str());
    expect_eq(tls_level_name(fp.tls), "fingerprint", "tls with tls_fingerprint");
    expect_eq(static_cast<long>(fp.tls_fingerprints.size()), 1, "fingerprints");
    expect_eq(fp.tls_fingerprints[0], prm::test::kAcmeFingerprint, "normalized fingerprint");
    Partner both = one(std::string(kAcme) + "tls = fingerprint\n");
    ck_assert_msg(both.active, "tls = fingerprint with digests: got inactive (%s)", both.reason.c_str());
    expect_inactive(one(std::string(kAcme) + "tls = secure\n"), "contradicts tls_fingerprint",
                    "secure + fingerprint");
}
END_TEST

START_TEST(tls_fingerprint_validation) {
    const std::string hex = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";
    const std::string norm = prm::test::kAcmeFingerprint;
    struct Row {
        std::string value;
        bool ok;
        long count;
    } rows[] = {
        {norm, true, 1},
        {hex, true, 1},  // no colons, lower case
        {hex + ", " + hex, true, 1},  // duplicates folded
        {hex + "|" + std::string(64, 'A'), true, 2},  // Postfix's own separator
        {hex + " " + std::string(64, 'f'), true, 2},
        {hex.substr(0, 62), false, 0},  // 31 bytes
        {hex + "00", false, 0},         // 33 bytes (SHA-1 would be 20)
        {hex.substr(0, 40), false, 0},
        {"6B:86:B2:73:FF:34:FC:E1:9D:6B:80:4E:FF:5A:3F:57:47:AD:A4:EA:A2:2F:1D:49:C0:1E:52:DD:B7:87:5B:4", false, 0},
        {std::string("G") + hex.substr(1), false, 0},
        {":" + hex, false, 0},
        {"6B::86" + hex.substr(4), false, 0},
        {"", false, 0},
    };
    for (const auto& r : rows) {
        Partner p = one(acme_with("tls_fingerprint", "tls_fingerprint = " + r.value + "\n"));
        ck_assert_msg(p.active == r.ok, "tls_fingerprint '%s': got active=%d, want %d (%s)",
                      r.value.c_str(), p.active, r.ok, p.reason.c_str());
        if (r.ok) {
            expect_eq(static_cast<long>(p.tls_fingerprints.size()), r.count, "fingerprint count");
            expect_eq(p.tls_fingerprints[0], norm, "first fingerprint normalized");
        } else {
            expect_inactive(p, "", r.value);
            ck_assert_msg(p.problems[0].key == "tls_fingerprint", "'%s': problem key '%s'",
                          r.value.c_str(), p.problems[0].key.c_str());
        }
    }
    // A continuation line is refused by the INI reader (issue 17): the
    // partner is inactive, never half-pinned.
    expect_inactive(one(acme_with("tls_fingerprint", "tls_fingerprint = " + hex + ",\n  " +
                                                         std::string(64, 'f') + "\n")),
                    "", "fingerprints on a continuation line");
}
END_TEST

START_TEST(port_zero_is_warned_about_in_the_snapshot) {
    // Port 0 keeps the partner active (a number 0-65535) but can only fail:
    // -n, --check and the daemon print the snapshot's warnings.
    auto warned = [](const std::string& port) {
        TempDir tmp("prm-port");
        std::string path = tmp.file("partners.conf",
                                    "[acme]\nhost = 127.0.0.1\nport = " + port +
                                        "\nusername = u\npassword = pw-port-zero\n"
                                        "sender = a@acme.example\ntls = encrypt\n");
        SnapshotResult r = load_snapshot(tmp.file("m.conf", kWarnConfig + path + "\n", 0644));
        ck_assert_msg(r.snapshot != nullptr, "snapshot failed to load");
        ck_assert_msg(r.snapshot->partners.active_count() == 1, "port %s: partner not active",
                      port.c_str());
        std::string all;
        for (const Diag& d : r.warnings) all += d.str() + "\n";
        return all;
    };
    std::string zero = warned("0");
    // The warning points at the port = line (3), not the [acme] line (1).
    ck_assert_msg(zero.find(":3: port: ") != std::string::npos &&
                      zero.find("partner acme: port 0: no relay listens there") != std::string::npos,
                  "port 0: no warning with the port line in:\n%s", zero.c_str());
    std::string ok = warned("587");
    ck_assert_msg(ok.find("port 0") == std::string::npos, "port 587: got\n%s", ok.c_str());
}
END_TEST

START_TEST(tls_encrypt_is_warned_about_in_the_snapshot) {
    // -n, --check and the probe print the snapshot's warnings: an explicit
    // encrypt must be among them, a verified level must not.
    auto warned = [](const std::string& partners) {
        TempDir tmp("prm-tls");
        std::string path = tmp.file("partners.conf", partners);
        SnapshotResult r = load_snapshot(tmp.file("m.conf", kWarnConfig + path + "\n", 0644));
        ck_assert_msg(r.snapshot != nullptr, "snapshot failed to load");
        std::string all;
        for (const Diag& d : r.warnings) all += d.str() + "\n";
        return all;
    };
    std::string enc = warned(acme_with("tls_fingerprint", "tls = encrypt\n"));
    ck_assert_msg(enc.find("partner acme: tls = encrypt: credentials go to an unverified server") !=
                      std::string::npos,
                  "explicit encrypt: no unverified-server warning in:\n%s", enc.c_str());
    ck_assert_msg(enc.find(":1: ") != std::string::npos, "warning without the partner's line:\n%s",
                  enc.c_str());
    std::string fp = warned(kAcme);
    ck_assert_msg(fp.find("unverified") == std::string::npos, "fingerprint partner warned:\n%s",
                  fp.c_str());
    std::string inactive = warned("[acme]\nhost = 127.0.0.1\nport = 25\ntls = encrypt\n");
    ck_assert_msg(inactive.find("unverified") == std::string::npos,
                  "inactive partner warned as unverified:\n%s", inactive.c_str());
}
END_TEST

START_TEST(category_narrowing) {
    Config cfg = config_ok();
    Partner p = one(std::string(kAcme) + "categories = aml-alert, custom\n");
    ck_assert_msg(p.active && p.narrowed, "narrowed partner: got inactive or not narrowed");
    ck_assert_msg(p.takes(cfg, "aml-alert"), "takes aml-alert: got false");
    ck_assert_msg(!p.takes(cfg, "finance-report"),
                  "takes finance-report: got true, want false (opted out)");
    ck_assert_msg(!p.takes(cfg, "unclassified"), "takes unclassified: got true");
    expect_inactive(one(std::string(kAcme) + "categories = aml-alert, no-such\n"),
                    "unknown category 'no-such'", "unknown category");
    expect_inactive(one(std::string(kAcme) + "categories = unclassified\n"), "not eligible",
                    "global category");
    Partner all = one(kAcme);
    ck_assert_msg(all.takes(cfg, "finance-report") && !all.narrowed,
                  "un-narrowed partner: want every eligible");
}
END_TEST

START_TEST(invalid_and_duplicate_ids) {
    for (const char* id : {"ACME", "a b", "acme!", ""}) {
        std::string text = acme_with("x", "");
        text.replace(0, text.find(']') + 1, std::string("[") + id + "]");
        expect_inactive(one(text), "invalid partner id", id);
    }
    PartnerTable t = partners_from(
        std::string(kAcme) + acme_with("sender", "sender = other@acme.example\n"), config_ok());
    ck_assert_msg(t.partners[0].active, "first acme: got inactive (%s)",
                  t.partners[0].reason.c_str());
    expect_inactive(t.partners[1], "duplicate partner id (first defined on line 1)", "second acme");
    ck_assert_msg(t.find("acme") == &t.partners[0], "find(acme): want the first one");
}
END_TEST

START_TEST(shared_sender_deactivates_both) {
    std::string globex =
        "[globex]\nhost = mx.globex.example\nport = 587\nusername = g\npassword = p\n"
        "sender = NEWS@acme.example\n";
    PartnerTable t = partners_from(std::string(kAcme) + globex, config_ok());
    expect_inactive(t.partners[0], "also used by partner globex", "acme");
    expect_inactive(t.partners[1], "also used by partner acme", "globex");
}
END_TEST

START_TEST(host_and_username_injection) {
    struct Row {
        const char* key;
        const char* line;
    } rows[] = {
        {"host", "host = mx.acme.example\n  smtp.evil.example\n"},  // LF via continuation
        {"host", "host = mx.acme.example\rx\n"},                    // CR inside the line
        {"host", "host = mx acme.example\n"},
        {"host", "host = mx.acme.example,evil.example\n"},
        {"host", "host = [mx.acme.example]\n"},
        {"host", "host = mx.acme.example:25\n"},
        {"host", "host = mx_acme.example\n"},
        {"host", "host = -mx.acme.example\n"},
        {"host", "host = 1.2.3.256\n"},
        {"username", "username = user:x\n"},
        {"username", "username = us er\n"},
        {"username", "username = user,x\n"},
        {"password", "password = secret\n  more\n"},
        {"sender", "sender = a@b.example, c@d.example\n"},
    };
    for (const auto& r : rows) {
        Partner p = one(acme_with(r.key, r.line));
        ck_assert_msg(!p.active, "'%s': got active, want inactive", r.line);
        ck_assert_msg(p.reason.find(r.key) != std::string::npos,
                      "'%s': reason '%s' does not name %s", r.line, p.reason.c_str(), r.key);
    }
    for (const char* host : {"mx.acme.example", "MX-1.acme.example", "localhost", "192.0.2.10"})
        ck_assert_msg(one(acme_with("host", std::string("host = ") + host + "\n")).active,
                      "host %s rejected", host);
}
END_TEST

START_TEST(injection_each_key_and_character) {
    // Issue 7 item 2: CR, LF, NUL, space, comma and brackets in host,
    // username and sender each make the partner inactive, naming the key.
    struct Key {
        const char* key;
        const char* good;
    } keys[] = {
        {"host", "mx.acme.example"}, {"username", "acme-user"}, {"sender", "news@acme.example"}};
    const std::string bad[] = {
        std::string("\r"), std::string("\n"), std::string(1, '\0'), " ", ",", "[", "]", "\t"};
    for (const Key& k : keys) {
        std::string good = k.good;
        for (const std::string& c : bad) {
            // In the middle of the value (a trailing blank would be trimmed).
            std::string value = good.substr(0, 2) + c + good.substr(2);
            std::string text = acme_with(k.key, std::string(k.key) + " = " + value + "\n");
            Partner p = one(text);
            char what[64];
            std::snprintf(what, sizeof what, "%s with byte 0x%02x", k.key,
                          static_cast<unsigned>(static_cast<unsigned char>(c[0])));
            expect_inactive(p, "", what);
            // A bare LF ends the line: the rest is a syntax error of the
            // next line, which deactivates the partner just the same.
            if (c == "\n") continue;
            bool named = false;
            for (const Diag& d : p.problems) named = named || d.key == k.key;
            ck_assert_msg(named, "%s: no problem names the key (reason '%s')", what,
                          p.reason.c_str());
        }
    }
    // A continuation line (LF inside the value) for each key.
    for (const Key& k : keys) {
        Partner p = one(acme_with(k.key, std::string(k.key) + " = " + k.good + "\n  evil\n"));
        ck_assert_msg(!p.active, "%s with a continuation line: got active", k.key);
    }
}
END_TEST

START_TEST(host_is_dns_name_or_ip_literal_only) {
    const char* bad[] = {"2001:db8::1",        "[192.0.2.1]",      "192.0.2.1/24",
                         "mx.acme.example.",   "mx..acme.example", "*.acme.example",
                         "mx.acme.example;rm", "a_b.example",      "1.2.3",
                         "999.1.1.1",          "mx.acme.123",      "xn--\xc3\xa9.example"};
    for (const char* h : bad) {
        Partner p = one(acme_with("host", std::string("host = ") + h + "\n"));
        ck_assert_msg(!p.active, "host '%s': got active, want inactive", h);
        ck_assert_msg(!p.problems.empty() && p.problems[0].key == "host",
                      "host '%s': got problem key '%s', want host", h,
                      p.problems.empty() ? "" : p.problems[0].key.c_str());
    }
    for (const char* h : {"192.0.2.1", "mx-1.acme.example", "xn--bcher-kva.example", "localhost"})
        ck_assert_msg(one(acme_with("host", std::string("host = ") + h + "\n")).active,
                      "host '%s': got inactive, want active", h);
}
END_TEST

START_TEST(password_never_in_any_text) {
    const std::string secret = "S3cr3t-pass-w0rd";
    std::string text = "[a]\nhost = bad host\nport = x\nusername = u:1\npassword = " + secret +
                       "\nsender = bad\nbogus = 1\n[b]\npassword = " + secret + "\n  " + secret +
                       "\n";
    PartnerTable t = partners_from(text, config_ok());
    std::string all;
    for (const auto& p : t.partners) {
        all += p.reason;
        for (const auto& d : p.problems) all += d.str();
    }
    for (const auto& d : t.warnings) all += d.str();
    ck_assert_msg(all.find(secret) == std::string::npos, "password found in: %s", all.c_str());
    ck_assert_msg(!t.partners[0].active && !t.partners[1].active,
                  "both partners should be inactive");
}
END_TEST

START_TEST(indented_password_line_never_echoed) {
    // Issue 17 finding 2: an indented "password =" line under port,
    // categories, tls or match_senders was joined to that value and
    // echoed by its validator, password included.
    const std::string secret = "S3cr3t-pass-w0rd";
    for (const char* key : {"port = 587", "categories = custom", "tls = verify",
                            "match_senders = @acme.example"}) {
        std::string text = std::string("[acme]\nhost = smtp.acme.example\n") + key +
                           "\n  password = " + secret + "\nusername = u\nsender = n@acme.example\n";
        PartnerTable t = partners_from(text, config_ok());
        const Partner& p = t.partners.at(0);
        std::string all = p.reason;
        for (const auto& d : p.problems) all += d.str();
        for (const auto& d : t.warnings) all += d.str();
        ck_assert_msg(!p.active, "%s: got active, want inactive", key);
        ck_assert_msg(all.find(secret) == std::string::npos, "%s: password found in: %s", key,
                      all.c_str());
        ck_assert_msg(p.reason.find("value continues on line 4: an indented line?") !=
                          std::string::npos,
                      "%s: reason '%s'", key, p.reason.c_str());
    }
}
END_TEST

START_TEST(one_broken_partner_does_not_stop_others) {
    std::string text =
        std::string(kAcme) + "[broken]\nhost = x\nport = nope\n[bad line\n" +
        "[initech]\nhost = smtp.initech.example\nport = 465\nusername = i\npassword = p\n"
        "sender = mail@initech.example\nmatch_senders = @initech.example\n";
    PartnerTable t = partners_from(text, config_ok());
    expect_eq(static_cast<long>(t.partners.size()), 3, "partners");
    expect_eq(static_cast<long>(t.active_count()), 2, "active partners");
    ck_assert_msg(t.errors.empty(), "table-level errors: got %zu, want 0", t.errors.size());
    expect_inactive(t.partners[1], "section header without a closing", "broken");
    const Partner* i = t.find("initech");
    ck_assert_msg(i && i->active, "initech: want active");
    expect_eq(i->transport(config_ok()), "partner-smtps", "transport for 465");
}
END_TEST

START_TEST(lookup_by_envelope_sender) {
    std::string text = std::string(kAcme) + "match_senders = @acme.example, ceo@globex.example\n" +
                       "[globex]\nhost = mx.globex.example\nport = 25\nusername = g\npassword = p\n"
                       "sender = news@globex.example\nmatch_senders = @globex.example\n";
    PartnerTable t = partners_from(text, config_ok());
    struct Row {
        const char* addr;
        const char* want;
    } rows[] = {{"ceo@globex.example", "acme"},
                {"CEO@globex.example", "globex"},
                {"x@GLOBEX.Example", "globex"},
                {"anyone@acme.example", "acme"},
                {"a@sub.acme.example", ""},
                {"nobody@example.org", ""},
                {"", ""}};
    for (const auto& r : rows) {
        const Partner* p = t.by_envelope_sender(r.addr);
        expect_eq(p ? p->id : "", r.want, r.addr);
    }
}
END_TEST

START_TEST(match_senders_conflicts_and_syntax) {
    std::string text = std::string(kAcme) + "match_senders = @shared.example\n" +
                       "[globex]\nhost = mx.globex.example\nport = 25\nusername = g\npassword = p\n"
                       "sender = news@globex.example\nmatch_senders = @SHARED.example\n";
    PartnerTable t = partners_from(text, config_ok());
    expect_inactive(t.partners[0], "also used by partner globex", "acme");
    expect_inactive(t.partners[1], "also used by partner acme", "globex");
    ck_assert_msg(t.by_envelope_sender("x@shared.example") == nullptr,
                  "ambiguous entry: got a partner");
    expect_inactive(one(std::string(kAcme) + "match_senders = @, a@\n"), "malformed entry",
                    "bad entries");
}
END_TEST

START_TEST(unknown_key_deactivates) {
    Partner p = one(std::string(kAcme) + "pasword = typo\n");
    expect_inactive(p, "unknown key", "typo");
    expect_eq(p.problems[0].key, "pasword", "key");
    expect_eq(p.problems[0].line, 8, "line");
}
END_TEST

START_TEST(file_mode_warning) {
    // Group-readable (root:milter 0640) only warns; 0600 is silent.
    Config cfg = config_ok();
    TempDir tmp("prm-mode");
    std::string group = tmp.file("group.conf", kAcme, 0640);
    std::string closed = tmp.file("closed.conf", kAcme, 0600);
    PartnerTable a = load_partners(group, cfg), b = load_partners(closed, cfg);
    expect_eq(static_cast<long>(a.errors.size()), 0, "errors at 0640");
    expect_eq(static_cast<long>(a.warnings.size()), 1, "warnings at 0640");
    ck_assert_msg(a.warnings[0].str().find(group) != std::string::npos &&
                      a.warnings[0].message.find("0640") != std::string::npos,
                  "warning should name path and mode: '%s'", a.warnings[0].str().c_str());
    expect_eq(static_cast<long>(b.warnings.size()), 0, "warnings at 0600");
    ck_assert_msg(b.partners.size() == 1 && b.partners[0].active, "partner from file: want active");
    PartnerTable missing = load_partners("/nonexistent/partners.conf", cfg);
    expect_eq(static_cast<long>(missing.errors.size()), 1, "errors for a missing table");
}
END_TEST

START_TEST(table_readable_by_others_refused) {
    TempDir tmp("prm-mode");
    for (mode_t mode : {0644, 0604, 0602, 0666}) {
        std::string path = tmp.file("partners.conf", kAcme, mode);
        PartnerTable t = load_partners(path, config_ok());
        char want[8];
        std::snprintf(want, sizeof want, "%04o", static_cast<unsigned>(mode));
        expect_eq(static_cast<long>(t.errors.size()), 1, want);
        ck_assert_msg(t.errors[0].str().find(path) != std::string::npos &&
                          t.errors[0].message.find(want) != std::string::npos,
                      "error should name path and mode %s: '%s'", want, t.errors[0].str().c_str());
        expect_eq(static_cast<long>(t.partners.size()), 0, "partners loaded from a refused table");
    }
}
END_TEST

START_TEST(table_permissions_warn_setting) {
    TempDir tmp("prm-mode");
    std::string path = tmp.file("partners.conf", kAcme, 0644);
    PartnerTable t = load_partners(path, config_ok("partners_permissions = warn\n"));
    expect_eq(static_cast<long>(t.errors.size()), 0, "errors with partners_permissions = warn");
    expect_eq(static_cast<long>(t.warnings.size()), 1, "warnings with partners_permissions = warn");
    ck_assert_msg(t.warnings[0].str().find(path) != std::string::npos &&
                      t.warnings[0].message.find("0644") != std::string::npos,
                  "warning should name path and mode: '%s'", t.warnings[0].str().c_str());
    ck_assert_msg(t.partners.size() == 1 && t.partners[0].active, "partner: want active");
}
END_TEST

START_TEST(table_owned_by_stranger_refused) {
    if (geteuid() != 0) return;  // only root can give a file away
    struct passwd* nobody = getpwnam("nobody");
    ck_assert_msg(nobody != nullptr, "no user nobody");
    TempDir tmp("prm-owner");
    std::string path = tmp.file("partners.conf", kAcme, 0600);
    ck_assert_msg(chown(path.c_str(), nobody->pw_uid, nobody->pw_gid) == 0, "chown failed");
    PartnerTable stranger = load_partners(path, config_ok());
    PartnerTable own = load_partners(path, config_ok("user = nobody\n"));
    expect_eq(static_cast<long>(stranger.errors.size()), 1, "errors for a stranger's table");
    ck_assert_msg(
        stranger.errors[0].message.find("owned by neither root nor") != std::string::npos &&
            stranger.errors[0].str().find(path) != std::string::npos &&
            stranger.errors[0].message.find("0600") != std::string::npos,
        "error should name path, mode and owner: '%s'", stranger.errors[0].str().c_str());
    expect_eq(static_cast<long>(own.errors.size()), 0, "errors when owned by the milter's user");
    ck_assert_msg(own.partners.size() == 1 && own.partners[0].active, "partner: want active");
}
END_TEST

START_TEST(hundred_thousand_partners_load) {
    std::string text;
    text.reserve(100000 * 150);
    for (int i = 0; i < 100000; i++) {
        std::string id = "p" + std::to_string(i);
        text += "[" + id + "]\nhost = mx" + std::to_string(i % 500) +
                ".example.com\nport = 587\nusername = " + id + "\npassword = pw\nsender = news@" +
                id + ".example\nmatch_senders = @" + id + ".example\n";
    }
    PartnerTable t = partners_from(text, config_ok());
    expect_eq(static_cast<long>(t.partners.size()), 100000, "partners");
    expect_eq(static_cast<long>(t.active_count()), 100000, "active partners");
    const Partner* p = t.find("p99999");
    expect_eq(p ? p->sender : "", "news@p99999.example", "last partner's sender");
    p = t.by_envelope_sender("x@p4242.example");
    expect_eq(p ? p->id : "", "p4242", "lookup by domain");
}
END_TEST

START_TEST(snapshot_loads_and_warns_per_inactive_partner) {
    TempDir tmp("prm-snapshot");
    std::string ptab = tmp.file("partners.conf", std::string(kAcme) +
                                                     "[globex]\nhost = mx.globex.example\nport = 25\n"
                                                     "username = g\nsender = n@globex.example\n");
    std::string conf =
        tmp.file("m.conf", "[milter]\nfallback_sender = noreply@platform.example\npartners = " + ptab +
                               "\nallowed_private_relays = 127.0.0.0/8\n"  // acme is on 127.0.0.1
                               "tables_dir =\n",  // no published-stamp check (test_published.cpp)
                 0644);
    SnapshotResult r = load_snapshot(conf, 7);
    ck_assert_msg(r.snapshot != nullptr, "snapshot: got null (%zu errors)", r.errors.size());
    expect_eq(static_cast<long>(r.snapshot->generation), 7, "generation");
    expect_eq(static_cast<long>(r.warnings.size()), 1, "warnings");
    expect_eq(r.warnings[0].message, "partner globex inactive: missing password", "warning");
    expect_eq(r.warnings[0].line, 8, "warning line");

    unlink(ptab.c_str());  // an unreadable table fails the load (old snapshot kept)
    r = load_snapshot(conf, 8);
    ck_assert_msg(r.snapshot == nullptr && r.errors.size() == 1,
                  "missing table: want one error, no snapshot");
    unlink(conf.c_str());
    r = load_snapshot(conf, 9);
    ck_assert_msg(r.snapshot == nullptr && !r.errors.empty(), "missing config: want an error");
}
END_TEST

START_TEST(example_files_load) {
    std::string dir = PRM_TOP_SRCDIR "/contrib/examples/";
    ConfigResult cr = load_config(dir + "partner-relay-milter.conf");
    std::string errs;
    for (const auto& d : cr.errors) errs += d.str() + "\n";
    ck_assert_msg(cr.config.has_value(), "example config rejected:\n%s", errs.c_str());
    // A private copy: the shipped file is 0644 (or read-only in distcheck).
    std::ifstream in(dir + "partners.conf");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    TempDir tmp("prm-example");
    PartnerTable t = load_partners(tmp.file("partners.conf", text), *cr.config);
    expect_eq(static_cast<long>(t.partners.size()), 3, "example partners");
    const Partner* acme = t.find("acme");
    const Partner* globex = t.find("globex");
    const Partner* initech = t.find("initech");
    ck_assert_msg(acme && globex && initech, "want acme, globex and initech");
    ck_assert_msg(acme->active, "acme: got inactive (%s)", acme->reason.c_str());
    expect_eq(globex->reason, "missing password", "globex reason");
    expect_eq(initech->reason, "missing sender", "initech reason");
}
END_TEST

Suite* suite_partners() {
    Suite* s = suite_create("partners");
    TCase* tc = tcase_create("partners");
    tcase_set_timeout(tc, 30);  // the 100 000-partner table under valgrind/sanitizers
    tcase_add_test(tc, complete_partner_is_active);
    tcase_add_test(tc, each_missing_credential_deactivates);
    tcase_add_test(tc, missing_or_malformed_sender_deactivates);
    tcase_add_test(tc, sender_postfix_cannot_look_up_deactivates);
    tcase_add_test(tc, port_range_and_syntax);
    tcase_add_test(tc, tls_levels);
    tcase_add_test(tc, port_zero_is_warned_about_in_the_snapshot);
    tcase_add_test(tc, tls_default_is_secure_for_a_dns_name);
    tcase_add_test(tc, tls_ip_literal_needs_fingerprint_or_explicit_encrypt);
    tcase_add_test(tc, tls_fingerprint_validation);
    tcase_add_test(tc, tls_encrypt_is_warned_about_in_the_snapshot);
    tcase_add_test(tc, category_narrowing);
    tcase_add_test(tc, invalid_and_duplicate_ids);
    tcase_add_test(tc, shared_sender_deactivates_both);
    tcase_add_test(tc, host_and_username_injection);
    tcase_add_test(tc, injection_each_key_and_character);
    tcase_add_test(tc, host_is_dns_name_or_ip_literal_only);
    tcase_add_test(tc, password_never_in_any_text);
    tcase_add_test(tc, indented_password_line_never_echoed);
    tcase_add_test(tc, one_broken_partner_does_not_stop_others);
    tcase_add_test(tc, lookup_by_envelope_sender);
    tcase_add_test(tc, match_senders_conflicts_and_syntax);
    tcase_add_test(tc, unknown_key_deactivates);
    tcase_add_test(tc, file_mode_warning);
    tcase_add_test(tc, table_readable_by_others_refused);
    tcase_add_test(tc, table_permissions_warn_setting);
    tcase_add_test(tc, table_owned_by_stranger_refused);
    tcase_add_test(tc, hundred_thousand_partners_load);
    tcase_add_test(tc, snapshot_loads_and_warns_per_inactive_partner);
    tcase_add_test(tc, example_files_load);
    suite_add_tcase(s, tc);
    return s;
}
