// test_docs.cpp - the manual documents exactly what the code accepts.
//
// Every key of config_keys() must have its own ".It Cm KEY" entry in
// partner-relay-milter.conf(5), under the right section, and every category
// of the built-in registry must appear in its table; a key documented in the
// page but unknown to the code fails too, so the two cannot drift apart.
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "core/categories.hpp"
#include "core/config.hpp"
#include "core/partners.hpp"
#include "suites.hpp"

namespace {

// The text of man/partner-relay-milter.conf.5.in.
std::string conf_page() {
    std::ifstream in(std::string(PRM_TOP_SRCDIR) + "/man/partner-relay-milter.conf.5.in");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// ".It Cm KEY No = ..." entries of the section list ".Ss [SECTION]", in order.
std::set<std::string> documented_keys(const std::string& page, const std::string& section) {
    std::set<std::string> keys;
    std::istringstream in(page);
    std::string line, current;
    while (std::getline(in, line)) {
        if (line.rfind(".Ss ", 0) == 0 || line.rfind(".Sh ", 0) == 0) current = line.substr(4);
        if (current.find("[" + section + "]") == std::string::npos) continue;
        if (line.rfind(".It Cm ", 0) != 0) continue;
        std::string rest = line.substr(7);
        keys.insert(rest.substr(0, rest.find(' ')));
    }
    return keys;
}

}  // namespace

START_TEST(every_config_key_documented) {
    std::string page = conf_page();
    ck_assert_msg(!page.empty(), "got an empty page, want man/partner-relay-milter.conf.5.in");
    for (const char* section : {"milter", "headers", "oauth", "sync"}) {
        std::set<std::string> doc = documented_keys(page, section);
        std::set<std::string> code;
        for (const prm::KeyInfo& k : prm::config_keys())
            if (std::string(k.section) == section) code.insert(k.name);
        for (const std::string& k : code)
            ck_assert_msg(doc.count(k), "[%s] %s: got no '.It Cm %s' in conf(5), want one", section,
                          k.c_str(), k.c_str());
        for (const std::string& k : doc)
            ck_assert_msg(code.count(k), "[%s] %s: documented in conf(5) but not a key of the code",
                          section, k.c_str());
    }
}
END_TEST

START_TEST(every_partner_key_documented) {
    // The keys of THE PARTNER TABLE section, both ways.
    std::string page = conf_page();
    std::set<std::string> doc;
    std::istringstream in(page);
    std::string line, current;
    int depth = 0;  // .Bl nesting: only the section's own list names keys
    while (std::getline(in, line)) {
        if (line.rfind(".Sh ", 0) == 0) current = line.substr(4), depth = 0;
        if (line.rfind(".Bl ", 0) == 0) depth++;
        if (line.rfind(".El", 0) == 0) depth--;
        if (current != "THE PARTNER TABLE" || depth != 1 || line.rfind(".It Cm ", 0) != 0) continue;
        std::string rest = line.substr(7);
        doc.insert(rest.substr(0, rest.find(' ')));
    }
    std::set<std::string> code(prm::partner_keys().begin(), prm::partner_keys().end());
    for (const std::string& k : code)
        ck_assert_msg(doc.count(k), "partner key %s: got no '.It Cm %s' under THE PARTNER TABLE",
                      k.c_str(), k.c_str());
    for (const std::string& k : doc)
        ck_assert_msg(code.count(k), "partner key %s: documented but not a key of the code",
                      k.c_str());
}
END_TEST

START_TEST(every_default_category_documented) {
    std::string page = conf_page();
    const prm::CategoryRegistry reg = prm::CategoryRegistry::defaults();
    for (const prm::Category& c : reg.all()) {
        std::string want = ".It Li " + c.id + " Ta " +
                           (c.eligibility == prm::Eligibility::eligible ? "eligible" : "global");
        ck_assert_msg(page.find(want) != std::string::npos, "got no '%s' row in conf(5)",
                      want.c_str());
    }
}
END_TEST

Suite* suite_docs() {
    Suite* s = suite_create("docs");
    TCase* tc = tcase_create("manual");
    tcase_add_test(tc, every_config_key_documented);
    tcase_add_test(tc, every_default_category_documented);
    tcase_add_test(tc, every_partner_key_documented);
    suite_add_tcase(s, tc);
    return s;
}
