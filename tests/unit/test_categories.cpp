// test_categories.cpp - suite_categories: registry, ids, classification rules.
//
// What could break: the built-in eligible set (product rule 4), site
// overrides, "unclassified" becoming eligible, rules losing their order or
// kind, regex dialect (extended, case-insensitive) and the input bound.
#include <string>

#include "core/categories.hpp"
#include "helpers.hpp"
#include "suites.hpp"

using namespace prm;

namespace {

void expect_eq(const std::string& got, const std::string& want, const char* what) {
    ck_assert_msg(got == want, "%s: got '%s', want '%s'", what, got.c_str(), want.c_str());
}
void expect_eq(long got, long want, const char* what) {
    ck_assert_msg(got == want, "%s: got %ld, want %ld", what, got, want);
}

const char* const kEligible[] = {"verification-link",
                                 "verification-url",
                                 "kyb-info-request",
                                 "kyb-expiration-extension",
                                 "custom",
                                 "verification-result",
                                 "aml-alert",
                                 "expiration-reminder",
                                 "webhook-failure",
                                 "finance-report",
                                 "admin-notification"};

// Compile a rule or fail the test with the reason.
std::shared_ptr<const ClassifyRule> rule(const std::string& spec) {
    std::string err;
    auto r = ClassifyRule::compile("custom", spec, err);
    ck_assert_msg(r != nullptr, "rule '%s' rejected: %s", spec.c_str(), err.c_str());
    return r;
}

}  // namespace

START_TEST(default_registry_is_the_eleven_plus_unclassified) {
    CategoryRegistry r = CategoryRegistry::defaults();
    expect_eq(static_cast<long>(r.all().size()), 12, "categories in the default registry");
    for (const char* id : kEligible) {
        ck_assert_msg(r.eligible(id), "%s: got not eligible, want eligible", id);
        ck_assert_msg(!r.find(id)->description.empty(), "%s: got no description, want one", id);
    }
    ck_assert_msg(r.known(kUnclassified), "unclassified: got unknown, want known");
    ck_assert_msg(!r.eligible(kUnclassified), "unclassified: got eligible, want global");
    ck_assert_msg(!r.known("account-security"), "account-security: got known, want unknown");
}
END_TEST

START_TEST(site_adds_a_category_and_flips_eligibility) {
    CategoryRegistry r = CategoryRegistry::defaults();
    ck_assert_msg(r.set("billing", Eligibility::global), "set billing: got false, want true");
    ck_assert_msg(r.known("billing") && !r.eligible("billing"), "billing: want known and global");
    ck_assert_msg(r.set("aml-alert", Eligibility::global), "set aml-alert: got false, want true");
    ck_assert_msg(!r.eligible("aml-alert"), "aml-alert after override: got eligible, want global");
    ck_assert_msg(r.set("billing", Eligibility::eligible), "re-set billing: got false");
    ck_assert_msg(r.eligible("billing"), "billing after flip: got global, want eligible");
    expect_eq(static_cast<long>(r.all().size()), 13, "size after one addition");
}
END_TEST

START_TEST(unclassified_cannot_be_eligible) {
    CategoryRegistry r = CategoryRegistry::defaults();
    ck_assert_msg(!r.set(std::string(kUnclassified), Eligibility::eligible),
                  "got true, want false");
    ck_assert_msg(!r.eligible(kUnclassified), "unclassified: got eligible, want global");
    ck_assert_msg(!r.set("Bad Id", Eligibility::global), "invalid id: got true, want false");
}
END_TEST

START_TEST(category_id_syntax) {
    struct Row {
        std::string id;
        bool ok;
    } rows[] = {{"aml-alert", true},
                {"a.b_c-1", true},
                {std::string(64, 'a'), true},
                {"", false},
                {std::string(65, 'a'), false},
                {"AML", false},
                {"a b", false},
                {"a:b", false},
                {"é", false}};
    for (const auto& r : rows)
        ck_assert_msg(valid_category_id(r.id) == r.ok, "valid_category_id('%s'): got %d, want %d",
                      r.id.c_str(), !r.ok, r.ok);
}
END_TEST

START_TEST(header_rule_matches_named_header_case_insensitively) {
    auto r = rule("header:Subject:^\\[AML\\] (alert|hit)");
    ck_assert_msg(r->kind() == ClassifyRule::Kind::header, "kind: got sender, want header");
    expect_eq(r->header(), "Subject", "header");
    ck_assert_msg(r->matches("[aml] ALERT on client 7"), "case-insensitive match failed");
    ck_assert_msg(!r->matches("Re: [AML] alert"), "anchored pattern matched mid-text");
}
END_TEST

START_TEST(sender_rule_matches_address) {
    auto r = rule("sender:^billing@platform\\.example$");
    ck_assert_msg(r->kind() == ClassifyRule::Kind::sender, "kind: got header, want sender");
    ck_assert_msg(r->matches("Billing@Platform.example"), "sender match failed");
    ck_assert_msg(!r->matches("billing@platform.example.evil"), "anchor ignored");
}
END_TEST

START_TEST(bad_rules_are_rejected_with_a_reason) {
    const char* specs[] = {
        "header:Subject:([unclosed", "subject:foo", "header:Subject", "header::x", "sender:",
        "header:Bad Name:x"};
    for (const char* spec : specs) {
        std::string err;
        auto r = ClassifyRule::compile("custom", spec, err);
        ck_assert_msg(r == nullptr, "'%s': got accepted, want rejected", spec);
        ck_assert_msg(!err.empty(), "'%s': got no reason", spec);
    }
}
END_TEST

START_TEST(fuzz_stacked_repetitions_refused) {
    // Fuzz finding F (fuzz_config): glibc's regcomp expands "X+" to "XX*",
    // so 20 stacked '+' took 700 MB and 22 exhausted 1 GB: one config line
    // could make the daemon (and -n) run out of memory.
    const std::string too_much[] = {"header:Subject:Fo" + std::string(22, '+') + "r",
                                    "sender:(((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)",
                                    "sender:a{101}{100}", "sender:(x{200}){200}",
                                    "sender:[a-z]{1000}{20}"};
    for (const std::string& spec : too_much) {
        std::string err;
        auto r = ClassifyRule::compile("custom", spec, err);
        ck_assert_msg(r == nullptr, "'%s': got accepted, want rejected", spec.c_str());
        ck_assert_msg(err.find("too complex") != std::string::npos,
                      "'%s': got reason '%s', want 'too complex'", spec.c_str(), err.c_str());
    }
    // Ordinary expressions, repetitions included, still compile.
    for (const char* spec : {"header:Subject:^\\[AML\\]", "sender:^[a-z0-9._-]{1,64}@x\\.example$",
                             "sender:^(billing|finance)+@", "header:X-Tag:a{2,50}b?c*",
                             "sender:[]a{}]+x", "sender:\\{\\+\\+\\}"})
        rule(spec);
}
END_TEST

START_TEST(fuzz_stacked_star_refused) {
    // Fuzz finding I (fuzz_config): "/*****+++++" kept the atom estimate
    // small ('*' does not copy its atom) but glibc's regcomp built epsilon
    // closures of more than 2 GB. Any repetition right after another is
    // undefined in POSIX EREs and is now refused.
    for (const char* spec : {"header:local:/*****+++++ere", "sender:a*+", "sender:a+*", "sender:a?*",
                             "sender:a{2}*", "sender:(ab)*?"}) {
        std::string err;
        auto r = ClassifyRule::compile("custom", spec, err);
        ck_assert_msg(r == nullptr, "'%s': got accepted, want rejected", spec);
        ck_assert_msg(err.find("too complex") != std::string::npos,
                      "'%s': got reason '%s', want 'too complex'", spec, err.c_str());
    }
    for (const char* spec : {"sender:a*b+c?", "sender:(a*)(b+)", "sender:[*+]+", "sender:a\\*+"})
        rule(spec);
}
END_TEST

START_TEST(rule_input_is_bounded) {
    auto r = rule("sender:needle");
    std::string text(16 * 1024, 'x');
    ck_assert_msg(!r->matches(text + "needle"), "match beyond 16 KiB: got true, want false");
    text.replace(100, 6, "needle");
    ck_assert_msg(r->matches(text), "match inside 16 KiB: got false, want true");
    // A long input does not crash the matcher (std::regex would recurse).
    auto star = rule("sender:^(a|b)*c$");
    ck_assert_msg(!star->matches(std::string(1 << 20, 'a')), "long input: got match");
}
END_TEST

START_TEST(classify_rules_keep_file_order_and_kinds) {
    Config c = prm::test::config_ok(
        "[classify]\naml-alert = header:Subject:AML\nfinance-report = sender:^finance@\n"
        "aml-alert = sender:^aml@\n");
    expect_eq(static_cast<long>(c.rules.size()), 3, "rules");
    expect_eq(c.rules[0]->category() + "," + c.rules[1]->category() + "," + c.rules[2]->category(),
              "aml-alert,finance-report,aml-alert", "rule order");
    ck_assert_msg(c.rules[1]->kind() == ClassifyRule::Kind::sender, "rule 2 kind: want sender");
}
END_TEST

START_TEST(classify_may_precede_categories_in_the_file) {
    Config c = prm::test::config_ok(
        "[classify]\nbilling = sender:^billing@\n[categories]\nbilling = global\n");
    expect_eq(static_cast<long>(c.rules.size()), 1, "rules");
    ck_assert_msg(c.categories.known("billing"), "billing: got unknown, want known");
}
END_TEST

START_TEST(classify_bad_regex_names_the_line) {
    ConfigResult r = prm::test::config_from(
        "[classify]\ncustom = header:Subject:ok\ncustom = header:Subject:(\n");
    expect_eq(static_cast<long>(r.errors.size()), 1, "errors");
    expect_eq(r.errors[0].line, 5, "line");
    expect_eq(r.errors[0].key, "custom", "key");
}
END_TEST

START_TEST(classify_unknown_category_is_an_error) {
    ConfigResult r = prm::test::config_from("[classify]\nno-such = sender:x\n");
    expect_eq(static_cast<long>(r.errors.size()), 1, "errors");
    expect_eq(r.errors[0].line, 4, "line");
}
END_TEST

START_TEST(categories_section_validation) {
    struct Row {
        const char* text;
        long errors;
    } rows[] = {
        {"billing = global\n", 0},        {"billing = eligible\n", 0},
        {"billing = maybe\n", 1},         {"Billing = global\n", 1},
        {"unclassified = eligible\n", 1}, {"aml-alert = global\naml-alert = eligible\n", 1},
    };
    for (const auto& row : rows) {
        ConfigResult r = prm::test::config_from(std::string("[categories]\n") + row.text);
        ck_assert_msg(static_cast<long>(r.errors.size()) == row.errors,
                      "'%s': got %zu errors, want %ld", row.text, r.errors.size(), row.errors);
    }
}
END_TEST

Suite* suite_categories() {
    Suite* s = suite_create("categories");
    TCase* tc = tcase_create("categories");
    tcase_add_test(tc, default_registry_is_the_eleven_plus_unclassified);
    tcase_add_test(tc, site_adds_a_category_and_flips_eligibility);
    tcase_add_test(tc, unclassified_cannot_be_eligible);
    tcase_add_test(tc, category_id_syntax);
    tcase_add_test(tc, header_rule_matches_named_header_case_insensitively);
    tcase_add_test(tc, sender_rule_matches_address);
    tcase_add_test(tc, bad_rules_are_rejected_with_a_reason);
    tcase_add_test(tc, rule_input_is_bounded);
    tcase_add_test(tc, fuzz_stacked_repetitions_refused);
    tcase_add_test(tc, fuzz_stacked_star_refused);
    tcase_add_test(tc, classify_rules_keep_file_order_and_kinds);
    tcase_add_test(tc, classify_may_precede_categories_in_the_file);
    tcase_add_test(tc, classify_bad_regex_names_the_line);
    tcase_add_test(tc, classify_unknown_category_is_an_error);
    tcase_add_test(tc, categories_section_validation);
    suite_add_tcase(s, tc);
    return s;
}
