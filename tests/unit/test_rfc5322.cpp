// test_rfc5322.cpp - table-driven tests of the RFC 5322 parser and rewriter.
//
// One named row per corner case; each row runs as its own Check test
// (loop tests), so a failure names the row and prints "got X, want Y".
// Rows marked "fuzz:" are regressions found by tests/fuzz.
#include <check.h>

#include <string>
#include <string_view>

#include "core/rfc5322.hpp"
#include "suites.hpp"

using namespace std::literals;
using prm::AddressList;

namespace {

// ---- parse_address_list ----------------------------------------------------

struct ParseRow {
    const char* name;
    std::string_view in;
    bool ok;
    int count;            // mailboxes (ok rows)
    int groups;           // groups (ok rows)
    const char* addrs;    // every address() joined by "|"; on error: reason substring
    const char* display;  // display of the first mailbox
    bool angle;           // angle of the first mailbox
};

// clang-format off
const ParseRow kParse[] = {
    {"angle_simple", "Alice <alice@example.com>", true, 1, 0, "alice@example.com", "Alice", true},
    {"bare_addr", "alice@example.com", true, 1, 0, "alice@example.com", "", false},
    {"bare_addr_comment_after", "alice@example.com (Alice)", true, 1, 0, "alice@example.com", "", false},
    {"bare_addr_comment_before", "(Alice) alice@example.com", true, 1, 0, "alice@example.com", "", false},
    {"angle_only", "<a@x.example>", true, 1, 0, "a@x.example", "", true},
    {"comment_only_display", "(Alice) <a@x.example>", true, 1, 0, "a@x.example", "", true},
    {"leading_trailing_ws", "  Alice <a@x.example> \t ", true, 1, 0, "a@x.example", "Alice", true},
    {"multiword_display", "Alice B. Carol <a@x.example>", true, 1, 0, "a@x.example", "Alice B. Carol", true},
    {"obs_phrase_dot", "John Q. Public <jqp@x.example>", true, 1, 0, "jqp@x.example", "John Q. Public", true},
    {"quoted_display_comma", "\"Doe, John\" <j@x.example>", true, 1, 0, "j@x.example", "\"Doe, John\"", true},
    {"quoted_display_escaped_quote", "\"A \\\"B\\\" C\" <a@x.example>", true, 1, 0, "a@x.example", "\"A \\\"B\\\" C\"", true},
    {"quoted_display_angle_inside", "\"<evil@attacker.example>\" <a@x.example>", true, 1, 0, "a@x.example", "\"<evil@attacker.example>\"", true},
    {"quoted_display_at_inside", "\"evil@attacker.example\" <a@x.example>", true, 1, 0, "a@x.example", "\"evil@attacker.example\"", true},
    {"quoted_display_gt_inside", "\"a>b\" <a@x.example>", true, 1, 0, "a@x.example", "\"a>b\"", true},
    {"quoted_display_parens_inside", "\"(not a comment)\" <a@x.example>", true, 1, 0, "a@x.example", "\"(not a comment)\"", true},
    {"encoded_word_b", "=?UTF-8?B?w4lyaWM=?= <e@x.example>", true, 1, 0, "e@x.example", "=?UTF-8?B?w4lyaWM=?=", true},
    {"encoded_word_q_and_atom", "=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>", true, 1, 0, "PIRARD@vm1.ulg.ac.be", "=?ISO-8859-1?Q?Andr=E9?= Pirard", true},
    {"encoded_word_comma_unencoded", "=?UTF-8?Q?Doe,_J?= <j@x.example>", false, 0, 0, "expected '@' or '<'", "", false},
    {"utf8_atom_display", "\xc3\x9cnic\xc3\xb6" "de <u@x.example>", true, 1, 0, "u@x.example", "\xc3\x9cnic\xc3\xb6" "de", true},
    {"utf8_quoted_display", "\"J\xc3\xb6rg, M\xc3\xbcller\" <j@x.example>", true, 1, 0, "j@x.example", "\"J\xc3\xb6rg, M\xc3\xbcller\"", true},
    {"comment_nested", "Al (the (great) one) <a@x.example>", true, 1, 0, "a@x.example", "Al", true},
    {"comment_escaped_paren", "Al (a \\) b \\( c) <a@x.example>", true, 1, 0, "a@x.example", "Al", true},
    {"comment_between_words", "Al (x) Bo <a@x.example>", true, 1, 0, "a@x.example", "Al (x) Bo", true},
    {"comments_inside_angle", "<(c)a@x.example(d)>", true, 1, 0, "a@x.example", "", true},
    {"comment_after_angle", "A <a@x.example> (trailing)", true, 1, 0, "a@x.example", "A", true},
    {"fold_crlf_before_angle", "Alice\r\n <a@x.example>", true, 1, 0, "a@x.example", "Alice", true},
    {"fold_lf_tab_before_angle", "Alice\n\t<a@x.example>", true, 1, 0, "a@x.example", "Alice", true},
    {"fold_between_words", "Alice\r\n Bob <a@x.example>", true, 1, 0, "a@x.example", "Alice\r\n Bob", true},
    {"fold_inside_quoted", "\"Ali\r\n ce\" <a@x.example>", true, 1, 0, "a@x.example", "\"Ali\r\n ce\"", true},
    {"fold_inside_comment", "A (x\r\n y) <a@x.example>", true, 1, 0, "a@x.example", "A", true},
    {"fold_inside_angle", "A <\r\n a@x.example\r\n >", true, 1, 0, "a@x.example", "A", true},
    {"fold_inside_addr_spec", "<a\r\n @x.example>", true, 1, 0, "a@x.example", "", true},
    {"fold_before_comma", "a@x.example\r\n , b@y.example", true, 2, 0, "a@x.example|b@y.example", "", false},
    {"spaces_inside_angle", "A < a@x.example >", true, 1, 0, "a@x.example", "A", true},
    {"dotted_local", "first.last@x.example", true, 1, 0, "first.last@x.example", "", false},
    {"quoted_local_bare", "\"john doe\"@x.example", true, 1, 0, "john doe@x.example", "", false},
    {"quoted_local_angle", "John <\"j d\"@x.example>", true, 1, 0, "j d@x.example", "John", true},
    {"quoted_local_escaped", "\"a\\\"b\"@x.example", true, 1, 0, "a\"b@x.example", "", false},
    {"quoted_local_with_at", "\"a@b\"@x.example", true, 1, 0, "a@b@x.example", "", false},
    {"domain_literal", "a@[192.0.2.1]", true, 1, 0, "a@[192.0.2.1]", "", false},
    {"domain_literal_angle", "A <a@[IPv6:2001:db8::1]>", true, 1, 0, "a@[IPv6:2001:db8::1]", "A", true},
    {"route_addr", "<@r1.example,@r2.example:a@x.example>", true, 1, 0, "a@x.example", "", true},
    {"route_addr_display", "A <@r1.example:a@x.example>", true, 1, 0, "a@x.example", "A", true},
    {"group_two", "Team: a@x.example, B <b@y.example>;", true, 2, 1, "a@x.example|b@y.example", "", false},
    {"group_empty", "undisclosed-recipients:;", true, 0, 1, "", "", false},
    {"group_empty_spaces", "undisclosed-recipients: ;", true, 0, 1, "", "", false},
    {"group_then_mailbox", "T: a@x.example;, b@y.example", true, 2, 1, "a@x.example|b@y.example", "", false},
    {"cve_2019_16378_two_bare", "a@x.example, b@y.example", true, 2, 0, "a@x.example|b@y.example", "", false},
    {"two_name_addrs", "A <a@x.example>, B <b@y.example>", true, 2, 0, "a@x.example|b@y.example", "A", true},
    {"case_kept", "A <Joe@X.Example>", true, 1, 0, "Joe@X.Example", "A", true},
    // errors
    {"empty", "", false, 0, 0, "empty address list", "", false},
    {"whitespace_only", "  \t ", false, 0, 0, "empty address list", "", false},
    {"comment_only", "(nobody)", false, 0, 0, "empty address list", "", false},
    {"unbalanced_lt", "A <a@x.example", false, 0, 0, "missing '>'", "", false},
    {"unbalanced_gt_bare", "a@x.example>", false, 0, 0, "unbalanced '>'", "", false},
    {"unbalanced_gt_double", "A <a@x.example>> b@evil.example", false, 0, 0, "unbalanced '>'", "", false},
    {"gt_before_angle", "A > <a@x.example>", false, 0, 0, "expected '@' or '<'", "", false},
    {"double_lt", "A <<a@x.example>>", false, 0, 0, "empty local part", "", false},
    {"lt_inside_angle", "<a@x.example<b@y.example>>", false, 0, 0, "unexpected text before '>'", "", false},
    {"empty_angle", "A <>", false, 0, 0, "empty address", "", false},
    {"unterminated_quote", "\"A <a@x.example>", false, 0, 0, "unterminated quoted string", "", false},
    {"unbalanced_lparen", "A (x <a@x.example>", false, 0, 0, "unterminated comment", "", false},
    {"unbalanced_rparen", "A x) <a@x.example>", false, 0, 0, "unbalanced ')'", "", false},
    {"unbalanced_rbracket", "a@x.example]", false, 0, 0, "unbalanced ']'", "", false},
    {"nul_in_display", "A\0B <a@x.example>"sv, false, 0, 0, "NUL", "", false},
    {"nul_in_quoted", "\"A\0B\" <a@x.example>"sv, false, 0, 0, "NUL", "", false},
    {"nul_in_comment", "A (x\0y) <a@x.example>"sv, false, 0, 0, "NUL", "", false},
    {"nul_in_address", "<a@x\0.example>"sv, false, 0, 0, "NUL", "", false},
    {"missing_domain", "a@", false, 0, 0, "missing domain", "", false},
    {"missing_domain_angle", "A <a@>", false, 0, 0, "missing domain", "", false},
    {"missing_local", "@b.example", false, 0, 0, "empty local part", "", false},
    {"missing_local_angle", "A <@b.example>", false, 0, 0, "bad source route", "", false},
    {"local_only", "a", false, 0, 0, "address without '@'", "", false},
    {"local_only_angle", "<a>", false, 0, 0, "missing '@'", "", false},
    {"name_without_addr", "Alice", false, 0, 0, "address without '@'", "", false},
    {"bare_cr", "A\r<a@x.example>", false, 0, 0, "bare CR", "", false},
    {"crlf_without_wsp", "A\r\n<a@x.example>", false, 0, 0, "not followed by whitespace", "", false},
    {"lf_without_wsp", "A\nBcc: x@y.example", false, 0, 0, "not followed by whitespace", "", false},
    {"trailing_crlf", "a@x.example\r\n", false, 0, 0, "not followed by whitespace", "", false},
    {"crlf_in_quoted_no_wsp", "\"A\r\nB\" <a@x.example>", false, 0, 0, "not followed by whitespace", "", false},
    {"8bit_local", "j\xc3\xb6rg@x.example", false, 0, 0, "8-bit", "", false},
    {"8bit_quoted_local", "\"j\xc3\xb6rg\"@x.example", false, 0, 0, "8-bit", "", false},
    {"8bit_domain", "j@ex\xc3\xa4mple.com", false, 0, 0, "8-bit", "", false},
    {"display_at_unquoted", "a@b.example <c@d.example>", false, 0, 0, "expected ','", "", false},
    {"addr_then_addr", "a@x.example b@y.example", false, 0, 0, "expected ','", "", false},
    {"angle_then_text", "<a@x.example> junk", false, 0, 0, "expected ','", "", false},
    {"trailing_comma", "a@x.example,", false, 0, 0, "empty element", "", false},
    {"double_comma", "a@x.example,,b@y.example", false, 0, 0, "empty element", "", false},
    {"leading_comma", ",a@x.example", false, 0, 0, "expected an address", "", false},
    {"nested_group", "A: B: c@d.example;;", false, 0, 0, "nested group", "", false},
    {"group_unterminated", "A: a@x.example", false, 0, 0, "not terminated", "", false},
    {"group_no_name", ": a@x.example;", false, 0, 0, "expected an address", "", false},
    {"group_empty_element", "A: ,a@x.example;", false, 0, 0, "empty element in group", "", false},
    {"backslash_outside_quotes", "A\\ <a@x.example>", false, 0, 0, "backslash", "", false},
    {"domain_trailing_dot", "a@x.example.", false, 0, 0, "bad domain", "", false},
    {"local_double_dot", "a..b@x.example", false, 0, 0, "bad local part", "", false},
    {"local_leading_dot", ".a@x.example", false, 0, 0, "empty local part", "", false},
    {"display_starts_with_dot", ". A <a@x.example>", false, 0, 0, "must start with a word", "", false},
    {"literal_unterminated", "a@[192.0.2.1", false, 0, 0, "unterminated domain literal", "", false},
    {"literal_with_space", "a@[192.0.2.1 ]", false, 0, 0, "bad character in domain literal", "", false},
    {"literal_then_atom", "a@[192.0.2.1].com", false, 0, 0, "expected ','", "", false},
    {"literal_with_gt", "A <a@[192.0.2.1>]>", false, 0, 0, "bad character in domain literal", "", false},
    {"control_char", "A\x01 <a@x.example>", false, 0, 0, "control character", "", false},
    {"fuzz_empty_quoted_local", "\"\"@'", false, 0, 0, "empty local part", "", false},
    {"empty_quoted_word_in_local", "\"\".a@x.example", false, 0, 0, "empty local part", "", false},
    {"quoted_pair_at_end", "\"A\\", false, 0, 0, "backslash at end", "", false},
    {"route_without_colon", "<@r1.example a@x.example>", false, 0, 0, "bad source route", "", false},
};
// clang-format on

// Join every mailbox address of L with "|".
std::string joined(const AddressList& l) {
    std::string s;
    for (const auto& m : l.mailboxes) s += (s.empty() ? "" : "|") + m.address();
    return s;
}

START_TEST(parse_rows) {
    const ParseRow& r = kParse[_i];
    std::string err;
    auto got = prm::parse_address_list(r.in, err);
    if (!r.ok) {
        ck_assert_msg(!got, "%s: got success (%s), want error containing '%s'", r.name,
                      joined(*got).c_str(), r.addrs);
        ck_assert_msg(err.find(r.addrs) != std::string::npos, "%s: got error '%s', want '%s'",
                      r.name, err.c_str(), r.addrs);
        return;
    }
    ck_assert_msg(got.has_value(), "%s: got error '%s', want success", r.name, err.c_str());
    ck_assert_msg(static_cast<int>(got->mailboxes.size()) == r.count,
                  "%s: got %zu mailboxes, want %d", r.name, got->mailboxes.size(), r.count);
    ck_assert_msg(got->groups == r.groups, "%s: got %d groups, want %d", r.name, got->groups,
                  r.groups);
    ck_assert_msg(joined(*got) == r.addrs, "%s: got addresses '%s', want '%s'", r.name,
                  joined(*got).c_str(), r.addrs);
    if (got->mailboxes.empty()) return;
    const auto& m = got->mailboxes[0];
    ck_assert_msg(m.display == r.display, "%s: got display '%s', want '%s'", r.name,
                  m.display.c_str(), r.display);
    ck_assert_msg(m.angle == r.angle, "%s: got angle %d, want %d", r.name, m.angle, r.angle);
    // The recorded range must hold exactly the written addr-spec.
    std::string_view span = r.in.substr(m.addr_begin, m.addr_end - m.addr_begin);
    ck_assert_msg(!span.empty() && span.find('<') == span.npos && span.find('>') == span.npos,
                  "%s: got addr range '%.*s', want the addr-spec only", r.name,
                  static_cast<int>(span.size()), span.data());
}
END_TEST

// ---- rewrite_from --------------------------------------------------------

constexpr const char* kNew = "partner@relay.example";

struct RewriteRow {
    const char* name;
    std::string_view in;
    const char* new_addr;
    const char* want;  // nullptr: error
    const char* err;   // substring of the error when want is nullptr
};

// clang-format off
const RewriteRow kRewrite[] = {
    {"angle_simple", "Alice <alice@example.com>", kNew, "Alice <partner@relay.example>", ""},
    {"angle_only", "<a@x.example>", kNew, "<partner@relay.example>", ""},
    {"bare_stays_bare", "alice@example.com", kNew, "partner@relay.example", ""},
    {"bare_comment_after", "alice@example.com (Alice)", kNew, "partner@relay.example (Alice)", ""},
    {"bare_comment_before", "(Alice) alice@example.com", kNew, "(Alice) partner@relay.example", ""},
    {"bare_comment_adjacent", "alice@example.com(Alice)", kNew, "partner@relay.example(Alice)", ""},
    {"comment_only_display", "(Alice) <a@x.example>", kNew, "(Alice) <partner@relay.example>", ""},
    {"encoded_word_kept", "=?UTF-8?B?w4lyaWM=?= <e@x.example>", kNew, "=?UTF-8?B?w4lyaWM=?= <partner@relay.example>", ""},
    {"quoted_display_angle_inside", "\"<evil@a.example>\" <a@x.example>", kNew, "\"<evil@a.example>\" <partner@relay.example>", ""},
    {"quoted_display_comma", "\"Doe, John\" <j@x.example>", kNew, "\"Doe, John\" <partner@relay.example>", ""},
    {"utf8_display", "J\xc3\xb6rg <j@x.example>", kNew, "J\xc3\xb6rg <partner@relay.example>", ""},
    {"folded_crlf", "Very Long Name\r\n <a@x.example>", kNew, "Very Long Name\r\n <partner@relay.example>", ""},
    {"folded_lf", "Very Long Name\n\t<a@x.example>", kNew, "Very Long Name\n\t<partner@relay.example>", ""},
    {"folded_inside_addr_removed", "A <a\r\n @x.example>", kNew, "A <partner@relay.example>", ""},
    {"folded_inside_angle_kept", "A <\r\n a@x.example\r\n >", kNew, "A <\r\n partner@relay.example\r\n >", ""},
    {"comments_inside_angle", "A <(c)a@x.example(d)>", kNew, "A <(c)partner@relay.example(d)>", ""},
    {"spaces_inside_angle", "A < a@x.example >", kNew, "A < partner@relay.example >", ""},
    {"route_replaced_whole", "A <@r1.example,@r2.example:a@x.example>", kNew, "A <partner@relay.example>", ""},
    {"quoted_local_original", "\"john doe\"@x.example (J)", kNew, "partner@relay.example (J)", ""},
    {"literal_original", "A <a@[192.0.2.1]>", kNew, "A <partner@relay.example>", ""},
    {"whitespace_kept", " Alice <a@x.example>  ", kNew, " Alice <partner@relay.example>  ", ""},
    {"trailing_comment_kept", "A <a@x.example> (x (y))", kNew, "A <partner@relay.example> (x (y))", ""},
    {"new_quoted_local", "A <a@x.example>", "\"p..q\"@relay.example", "A <\"p..q\"@relay.example>", ""},
    {"new_quoted_local_bare", "a@x.example (A)", "\"p..q\"@relay.example", "\"p..q\"@relay.example (A)", ""},
    {"new_ipv4_literal", "A <a@x.example>", "p@[192.0.2.7]", "A <p@[192.0.2.7]>", ""},
    {"longer_domain_case_kept", "A <a@x.example>", "News@Relay.Example", "A <News@Relay.Example>", ""},
    // errors
    {"two_mailboxes", "a@x.example, b@y.example", kNew, nullptr, "more than one mailbox"},
    {"two_name_addrs", "A <a@x.example>, B <b@y.example>", kNew, nullptr, "more than one mailbox"},
    {"group_one_member", "T: a@x.example;", kNew, nullptr, "group"},
    {"group_empty", "undisclosed-recipients:;", kNew, nullptr, "group"},
    {"group_plus_mailbox", "T:;, a@x.example", kNew, nullptr, "group"},
    {"unbalanced_lt", "A <a@x.example", kNew, nullptr, "missing '>'"},
    {"unbalanced_gt", "A <a@x.example>>", kNew, nullptr, "unbalanced '>'"},
    {"empty_value", "", kNew, nullptr, "empty"},
    {"nul_value", "A <a@x.exa\0mple>"sv, kNew, nullptr, "NUL"},
    {"new_addr_space", "A <a@x.example>", "bad address@relay.example", nullptr, "not a valid addr-spec"},
    {"new_addr_crlf_injection", "A <a@x.example>", "p@relay.example>\r\nBcc: v@victim.example", nullptr, "not a valid addr-spec"},
    {"new_addr_lf", "A <a@x.example>", "p@relay.example\n x", nullptr, "not a valid addr-spec"},
    {"new_addr_gt", "A <a@x.example>", "p@relay.example>", nullptr, "not a valid addr-spec"},
    {"new_addr_empty", "A <a@x.example>", "", nullptr, "not a valid addr-spec"},
    {"new_addr_two", "A <a@x.example>", "p@relay.example,q@relay.example", nullptr, "not a valid addr-spec"},
};
// clang-format on

START_TEST(rewrite_rows) {
    const RewriteRow& r = kRewrite[_i];
    std::string err;
    auto got = prm::rewrite_from(r.in, r.new_addr, err);
    if (!r.want) {
        ck_assert_msg(!got, "%s: got '%s', want error containing '%s'", r.name, got->c_str(),
                      r.err);
        ck_assert_msg(err.find(r.err) != std::string::npos, "%s: got error '%s', want '%s'", r.name,
                      err.c_str(), r.err);
        return;
    }
    ck_assert_msg(got.has_value(), "%s: got error '%s', want '%s'", r.name, err.c_str(), r.want);
    ck_assert_msg(*got == r.want, "%s: got '%s', want '%s'", r.name, got->c_str(), r.want);
}
END_TEST

// ---- valid_addr_spec -----------------------------------------------------

struct SpecRow {
    const char* name;
    std::string in;
    bool want;
};

const std::string kLocal64(64, 'a');
const std::string kLocal65(65, 'a');
// 254 and 255 bytes: "a" * 64 + "@" + labels of 63.
const std::string kDom189 =
    std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(61, 'd');
const std::string kAddr254 = kLocal64 + "@" + kDom189;
const std::string kAddr255 = kLocal64 + "@" + kDom189 + "d";

// clang-format off
const SpecRow kSpec[] = {
    {"simple", "a@b.example", true},
    {"dotted_local", "first.last@b.example", true},
    {"atext_specials", "a+tag!#$%&'*/=?^_`{|}~-@b.example", true},
    {"single_label_domain", "postmaster@localhost", true},
    {"hyphen_domain", "a@my-host.example", true},
    {"ipv4_literal", "a@[192.0.2.1]", true},
    {"ipv4_literal_zero", "a@[0.0.0.0]", true},
    {"quoted_local", "\"a..b\"@b.example", true},
    {"quoted_local_escaped_quote", "\"a\\\"b\"@b.example", true},
    {"local_64", kLocal64 + "@b.example", true},
    {"address_254", kAddr254, true},
    {"empty", "", false},
    {"no_at", "ab.example", false},
    {"empty_local", "@b.example", false},
    {"empty_domain", "a@", false},
    {"double_at", "a@@b.example", false},
    {"two_ats", "a@b@c.example", false},
    {"local_65", kLocal65 + "@b.example", false},
    {"address_255", kAddr255, false},
    {"cr", "a@b.exam\rple", false},
    {"lf", "a@b.example\n", false},
    {"crlf_local", "a\r\n@b.example", false},
    {"nul", "a@b.exa\0mple"s, false},
    {"space", "a b@b.example", false},
    {"tab", "a\t@b.example", false},
    {"leading_space", " a@b.example", false},
    {"comma", "a,b@b.example", false},
    {"lt", "<a@b.example>", false},
    {"gt", "a@b.example>", false},
    {"brackets_local", "a[1]@b.example", false},
    {"paren", "a(x)@b.example", false},
    {"trailing_dot_domain", "a@b.example.", false},
    {"leading_dot_domain", "a@.b.example", false},
    {"double_dot_domain", "a@b..example", false},
    {"trailing_dot_local", "a.@b.example", false},
    {"leading_dot_local", ".a@b.example", false},
    {"double_dot_local", "a..b@b.example", false},
    {"hyphen_label_start", "a@-b.example", false},
    {"underscore_domain", "a@b_c.example", false},
    {"label_64", "a@" + std::string(64, 'x') + ".example", false},
    {"ipv6_literal", "a@[IPv6:2001:db8::1]", false},
    {"ipv4_octet_256", "a@[192.0.2.256]", false},
    {"ipv4_three_octets", "a@[192.0.2]", false},
    {"ipv4_leading_zero", "a@[192.0.02.1]", false},
    {"ipv4_five_octets", "a@[1.2.3.4.5]", false},
    {"quoted_with_space", "\"a b\"@b.example", false},
    {"quoted_unterminated", "\"ab@b.example", false},
    {"quoted_empty", "\"\"@b.example", false},
    {"8bit_local", "j\xc3\xb6rg@b.example", false},
    {"8bit_domain", "a@b\xc3\xa4.example", false},
};
// clang-format on

START_TEST(spec_rows) {
    const SpecRow& r = kSpec[_i];
    bool got = prm::valid_addr_spec(r.in);
    ck_assert_msg(got == r.want, "%s: got %d, want %d for '%.*s'", r.name, got, r.want,
                  static_cast<int>(r.in.size()), r.in.data());
}
END_TEST

// ---- parse_envelope ------------------------------------------------------

struct EnvRow {
    const char* name;
    std::string in;
    bool ok;
    const char* want;  // address, or error substring
    bool null_sender;
};

// clang-format off
const EnvRow kEnv[] = {
    {"angle", "<a@b.example>", true, "a@b.example", false},
    {"bare", "a@b.example", true, "a@b.example", false},
    {"null_sender", "<>", true, "", true},
    {"null_sender_spaces", "  <>  ", true, "", true},
    {"leading_space", " <a@b.example>", true, "a@b.example", false},
    {"trailing_space", "<a@b.example> ", true, "a@b.example", false},
    {"esmtp_params", "<a@b.example> SIZE=1000 BODY=8BITMIME", true, "a@b.example", false},
    {"bare_with_params", "a@b.example SIZE=1", true, "a@b.example", false},
    {"source_route_dropped", "<@r1.example,@r2.example:a@b.example>", true, "a@b.example", false},
    {"quoted_local", "<\"john doe\"@b.example>", true, "\"john doe\"@b.example", false},
    {"quoted_local_gt_inside", "<\"a>b\"@b.example>", true, "\"a>b\"@b.example", false},
    {"quoted_local_bare", "\"john doe\"@b.example", true, "\"john doe\"@b.example", false},
    {"domain_literal", "<a@[192.0.2.1]>", true, "a@[192.0.2.1]", false},
    {"case_kept", "<Joe@B.Example>", true, "Joe@B.Example", false},
    {"unqualified", "<postmaster>", true, "postmaster", false},
    {"unbalanced_lt", "<a@b.example", false, "missing '>'", false},
    {"unbalanced_gt", "a@b.example>", false, "bad domain", false},
    {"double_gt", "<a@b.example>>", false, "unexpected text after '>'", false},
    {"nested_lt", "<<a@b.example>>", false, "nested '<'", false},
    {"text_after_gt", "<a@b.example>x", false, "unexpected text after '>'", false},
    {"cr", "<a@b.example>\r", false, "control character", false},
    {"lf", "<a@b.example\n>", false, "control character", false},
    {"nul", "<a@b.ex\0ample>"s, false, "control character", false},
    {"8bit", "<j\xc3\xb6rg@b.example>", false, "8-bit", false},
    {"empty", "", false, "empty", false},
    {"spaces_only", "   ", false, "empty", false},
    {"missing_domain", "<a@>", false, "missing domain", false},
    {"missing_local", "<@b.example>", false, "bad source route", false},
    {"bad_route", "<@r1.ex ample:a@b.example>", false, "bad source route", false},
    {"space_in_angle", "<a b@b.example>", false, "bad local part", false},
    {"fuzz_literal_with_gt", "a@[>@Y]", false, "bad domain literal", false},
    {"literal_with_underscore", "<a@[a_b]>", false, "bad domain literal", false},
    {"empty_quoted_local", "<\"\"@b.example>", false, "empty local part", false},
    {"too_long", "<" + std::string(250, 'a') + "@b.example>", false, "too long", false},
};
// clang-format on

START_TEST(env_rows) {
    const EnvRow& r = kEnv[_i];
    std::string err;
    auto got = prm::parse_envelope(r.in, err);
    if (!r.ok) {
        ck_assert_msg(!got, "%s: got '%s', want error containing '%s'", r.name,
                      got->address.c_str(), r.want);
        ck_assert_msg(err.find(r.want) != std::string::npos, "%s: got error '%s', want '%s'",
                      r.name, err.c_str(), r.want);
        return;
    }
    ck_assert_msg(got.has_value(), "%s: got error '%s', want '%s'", r.name, err.c_str(), r.want);
    ck_assert_msg(got->address == r.want, "%s: got '%s', want '%s'", r.name, got->address.c_str(),
                  r.want);
    ck_assert_msg(got->null_sender == r.null_sender, "%s: got null_sender %d, want %d", r.name,
                  got->null_sender, r.null_sender);
}
END_TEST

// ---- unfold, normalize_address, header_name_equal ------------------------

struct TextRow {
    const char* name;
    std::string_view in;
    const char* want;
};

const TextRow kUnfold[] = {
    {"plain", "a b", "a b"},
    {"crlf_space", "a\r\n b", "a b"},
    {"crlf_tab", "a\r\n\tb", "a\tb"},
    {"lf_space", "a\n b", "a b"},
    {"two_folds", "a\r\n b\n\tc", "a b\tc"},
    {"crlf_no_wsp_kept", "a\r\nb", "a\r\nb"},
    {"trailing_crlf_kept", "a\r\n", "a\r\n"},
    {"empty", "", ""},
};

const TextRow kNormalize[] = {
    {"domain_lowered", "Joe@EXAMPLE.Com", "Joe@example.com"},
    {"local_kept", "JOE@x.example", "JOE@x.example"},
    {"quoted_at_local", "\"A@B\"@X.EXAMPLE", "\"A@B\"@x.example"},
    {"no_at", "PostMaster", "PostMaster"},
    {"empty", "", ""},
};

START_TEST(unfold_rows) {
    const TextRow& r = kUnfold[_i];
    std::string got = prm::unfold(r.in);
    ck_assert_msg(got == r.want, "%s: got '%s', want '%s'", r.name, got.c_str(), r.want);
}
END_TEST

START_TEST(normalize_rows) {
    const TextRow& r = kNormalize[_i];
    std::string got = prm::normalize_address(r.in);
    ck_assert_msg(got == r.want, "%s: got '%s', want '%s'", r.name, got.c_str(), r.want);
}
END_TEST

START_TEST(header_names) {
    ck_assert_msg(prm::header_name_equal("From", "fROM"), "From/fROM: got false, want true");
    ck_assert_msg(!prm::header_name_equal("From", "Fro"), "From/Fro: got true, want false");
    ck_assert_msg(!prm::header_name_equal("X-A", "X_A"), "X-A/X_A: got true, want false");
}
END_TEST

// ---- bounds --------------------------------------------------------------

// Parse S, returning the error (empty on success).
std::string parse_err(const std::string& s) {
    std::string err;
    auto got = prm::parse_address_list(s, err);
    return got ? "" : err;
}

START_TEST(comment_depth_limit) {
    std::string ok16 = std::string(16, '(') + std::string(16, ')') + "a@x.example";
    std::string bad17 = std::string(17, '(') + std::string(17, ')') + "a@x.example";
    ck_assert_msg(parse_err(ok16).empty(), "depth 16: got '%s', want success",
                  parse_err(ok16).c_str());
    ck_assert_msg(parse_err(bad17).find("nested too deeply") != std::string::npos,
                  "depth 17: got '%s', want 'nested too deeply'", parse_err(bad17).c_str());
}
END_TEST

START_TEST(value_length_limit) {
    std::string name(prm::kMaxHeaderValue - 14, 'n');
    std::string fits = name + " <a@x.example>";  // exactly kMaxHeaderValue
    ck_assert_msg(fits.size() == prm::kMaxHeaderValue, "got %zu bytes", fits.size());
    ck_assert_msg(parse_err(fits).empty(), "max size: got '%s', want success",
                  parse_err(fits).c_str());
    ck_assert_msg(parse_err(fits + " ").find("too long") != std::string::npos,
                  "max+1: got '%s', want 'too long'", parse_err(fits + " ").c_str());
}
END_TEST

START_TEST(mailbox_count_limit) {
    std::string list = "a@x.example";
    for (std::size_t i = 1; i < prm::kMaxMailboxes; ++i) list += ",a@x.example";
    std::string err;
    auto got = prm::parse_address_list(list, err);
    ck_assert_msg(got && got->mailboxes.size() == prm::kMaxMailboxes,
                  "100: got '%s', want 100 mailboxes", err.c_str());
    ck_assert_msg(parse_err(list + ",a@x.example").find("too many mailboxes") != std::string::npos,
                  "101: got '%s', want 'too many mailboxes'",
                  parse_err(list + ",a@x.example").c_str());
}
END_TEST

START_TEST(local_part_limit) {
    std::string ok = std::string(64, 'l') + "@x.example", bad = std::string(65, 'l') + "@x.example";
    ck_assert_msg(parse_err(ok).empty(), "64: got '%s', want success", parse_err(ok).c_str());
    ck_assert_msg(parse_err(bad).find("local part too long") != std::string::npos,
                  "65: got '%s', want 'local part too long'", parse_err(bad).c_str());
}
END_TEST

// Add the loop test FN over N rows to S as its own test case NAME.
void add_rows(Suite* s, const char* name, const TTest* fn, int n) {
    TCase* tc = tcase_create(name);
    tcase_add_loop_test(tc, fn, 0, n);
    suite_add_tcase(s, tc);
}

template <typename T, std::size_t N>
constexpr int rows(const T (&)[N]) {
    return static_cast<int>(N);
}

}  // namespace

Suite* suite_rfc5322() {
    Suite* s = suite_create("rfc5322");
    add_rows(s, "parse_address_list", parse_rows, rows(kParse));
    add_rows(s, "rewrite_from", rewrite_rows, rows(kRewrite));
    add_rows(s, "valid_addr_spec", spec_rows, rows(kSpec));
    add_rows(s, "parse_envelope", env_rows, rows(kEnv));
    add_rows(s, "unfold", unfold_rows, rows(kUnfold));
    add_rows(s, "normalize_address", normalize_rows, rows(kNormalize));
    TCase* tc = tcase_create("bounds");
    tcase_add_test(tc, header_names);
    tcase_add_test(tc, comment_depth_limit);
    tcase_add_test(tc, value_length_limit);
    tcase_add_test(tc, mailbox_count_limit);
    tcase_add_test(tc, local_part_limit);
    suite_add_tcase(s, tc);
    return s;
}
