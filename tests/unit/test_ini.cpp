// test_ini.cpp - suite_ini: the INI reader (ini.cpp) and Diag rendering.
//
// What could break: line numbers drifting from the file, empty sections
// lost, lines longer than inih's buffer split into bogus keys, inline
// comments and continuation lines handled differently than documented.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/ini.hpp"
#include "tempdir.hpp"  // first: <fstream> before check.h's "fail" macro
#include "suites.hpp"

using namespace prm;

namespace {

// Fail with "WHAT: got X, want Y" unless GOT == WANT.
void expect_eq(const std::string& got, const std::string& want, const char* what) {
    ck_assert_msg(got == want, "%s: got '%s', want '%s'", what, got.c_str(), want.c_str());
}
void expect_eq(long got, long want, const char* what) {
    ck_assert_msg(got == want, "%s: got %ld, want %ld", what, got, want);
}

// All errors of F, one per line, for failure messages.
std::string all_errors(const IniFile& f) {
    std::string s;
    for (const auto& d : f.errors) s += d.str() + "\n";
    return s;
}

}  // namespace

START_TEST(entries_keep_order_section_and_line) {
    IniFile f = parse_ini_text("t.conf",
                               "; comment\n[milter]\nsocket = inet:1@h\n\n[headers]\nroute=X-R\n");
    ck_assert_msg(f.errors.empty(), "unexpected errors: %s", all_errors(f).c_str());
    expect_eq(static_cast<long>(f.entries.size()), 2, "entries");
    expect_eq(f.entries[0].section, "milter", "first section");
    expect_eq(f.entries[0].key, "socket", "first key");
    expect_eq(f.entries[0].value, "inet:1@h", "first value");
    expect_eq(f.entries[0].line, 3, "first line");
    expect_eq(f.entries[1].section, "headers", "second section");
    expect_eq(f.entries[1].line, 6, "second line");
}
END_TEST

START_TEST(empty_sections_are_recorded) {
    IniFile f = parse_ini_text("t.conf", "[a]\n[b]\nk = v\n[c]\n");
    expect_eq(static_cast<long>(f.sections.size()), 3, "sections");
    expect_eq(f.sections[0].name + f.sections[2].name, "ac", "empty section names");
    expect_eq(f.sections[2].line, 4, "line of [c]");
}
END_TEST

START_TEST(long_section_name_kept_whole) {
    // inih truncates section names to 49 bytes; partner ids may be 64.
    std::string id(64, 'p');
    IniFile f = parse_ini_text("t.conf", "[" + id + "]\nk = v\n");
    expect_eq(f.sections.at(0).name, id, "section name");
    expect_eq(f.entries.at(0).section, id, "entry section");
}
END_TEST

START_TEST(over_long_line_is_an_error_naming_it) {
    std::string text = "[s]\na = 1\nb = " + std::string(300, 'x') + "\nc = 3\n";
    IniFile f = parse_ini_text("t.conf", text);
    expect_eq(static_cast<long>(f.errors.size()), 1, "errors");
    expect_eq(f.errors[0].line, 3, "error line");
    ck_assert_msg(f.errors[0].message.find("bytes") != std::string::npos, "message: got '%s'",
                  f.errors[0].message.c_str());
    // Nothing of the long line leaks in as a key; the next line keeps its number.
    expect_eq(static_cast<long>(f.entries.size()), 2, "entries");
    expect_eq(f.entries[1].key, "c", "key after the long line");
    expect_eq(f.entries[1].line, 4, "line after the long line");
}
END_TEST

START_TEST(fuzz_trailing_carriage_returns_fit_inih_buffer) {
    // Fuzz finding E (fuzz_partners): a short line followed by thousands of
    // CRs was copied whole into inih's 200-byte stack buffer (the CRs were
    // not counted against the limit): a stack overflow, SIGSEGV.
    for (std::size_t n : {1u, 3u, 198u, 199u, 200u, 5000u}) {
        std::string text = "[a]\nk = v" + std::string(n, '\r') + "\nx = y\r\r\n";
        IniFile f = parse_ini_text("t.conf", text);
        ck_assert_msg(f.errors.empty(), "%zu CRs: unexpected errors: %s", n, all_errors(f).c_str());
        expect_eq(static_cast<long>(f.entries.size()), 2, "entries");
        expect_eq(f.entries.at(0).value, "v", "value before the CRs");
        expect_eq(f.entries.at(1).key + "=" + f.entries.at(1).value, "x=y", "next entry");
        expect_eq(f.entries.at(1).line, 3, "line of the next entry");
    }
}
END_TEST

START_TEST(line_at_the_limit_is_accepted) {
    // 197 bytes of text fit inih's 200-byte buffer with "\r\n" and NUL.
    std::string value(197 - 4, 'v');
    IniFile f = parse_ini_text("t.conf", "[s]\nk = " + value + "\r\n");
    ck_assert_msg(f.errors.empty(), "unexpected errors: %s", all_errors(f).c_str());
    expect_eq(f.entries.at(0).value, value, "value at the limit");
    f = parse_ini_text("t.conf", "[s]\nk = " + value + "v\n");
    expect_eq(static_cast<long>(f.errors.size()), 1, "errors one byte over the limit");
}
END_TEST

START_TEST(long_section_header_starts_its_section) {
    std::string name(250, 'n');
    IniFile f = parse_ini_text("t.conf", "[a]\nk = 1\n[" + name + "]\nk = 2\n");
    expect_eq(static_cast<long>(f.errors.size()), 1, "errors");
    expect_eq(f.entries.at(1).section, name, "section of the key after it");
}
END_TEST

START_TEST(inline_comment_needs_whitespace) {
    IniFile f = parse_ini_text("t.conf", "[s]\na = one ; comment\nb = two;three\n");
    expect_eq(f.entries.at(0).value, "one", "value before ' ;'");
    expect_eq(f.entries.at(1).value, "two;three", "value with ';' not after whitespace");
}
END_TEST

START_TEST(continuation_line_is_refused_never_joined) {
    // Issue 17 finding 2: "port = 587" then an indented "password = ..."
    // line joined the password into the port's value, which the port's
    // error echoed. Now the indented line is an error on the key's line
    // with a fixed text; the value keeps its first line only.
    IniFile f = parse_ini_text("t.conf", "[s]\nport = 587\n  password = S3cret\nnext = c\n");
    expect_eq(static_cast<long>(f.errors.size()), 1, "errors");
    expect_eq(f.errors[0].str(), "t.conf:2: [s] port: port value continues on line 3: an indented line?",
              "error");
    expect_eq(static_cast<long>(f.entries.size()), 2, "entries");
    expect_eq(f.entries[0].value, "587", "value not joined");
    expect_eq(f.entries[1].line, 4, "line of the next key");
    f = parse_ini_text("t.conf", "[s]\nlist = a,\n  b\n\tc\n");
    expect_eq(static_cast<long>(f.errors.size()), 2, "errors for two indented lines");
    expect_eq(f.errors[1].message, "list value continues on line 4: an indented line?", "second");
}
END_TEST

START_TEST(every_syntax_error_is_reported) {
    IniFile f = parse_ini_text("t.conf", "[s]\nno equals sign\n[broken\nok = 1\n= value\n");
    expect_eq(static_cast<long>(f.errors.size()), 3, "errors");
    expect_eq(f.errors[0].line, 2, "missing '=' line");
    expect_eq(f.errors[1].line, 3, "missing ']' line");
    expect_eq(f.errors[2].line, 5, "missing key line");
    expect_eq(f.errors[0].section, "s", "section of the error");
    expect_eq(static_cast<long>(f.entries.size()), 1, "entries kept around the errors");
}
END_TEST

START_TEST(text_after_section_header_is_an_error) {
    IniFile f = parse_ini_text("t.conf", "[a] junk\n[b] ; fine\n");
    expect_eq(static_cast<long>(f.errors.size()), 1, "errors");
    expect_eq(f.errors[0].line, 1, "error line");
}
END_TEST

START_TEST(nul_byte_is_an_error) {
    std::string text = "[s]\nk = a";
    text += '\0';
    text += "b\nz = 1\n";
    IniFile f = parse_ini_text("t.conf", text);
    expect_eq(static_cast<long>(f.errors.size()), 1, "errors");
    expect_eq(f.errors[0].line, 2, "error line");
    expect_eq(f.entries.at(0).key, "z", "following key still read");
}
END_TEST

START_TEST(bom_and_crlf_are_accepted) {
    IniFile f = parse_ini_text("t.conf", "\xEF\xBB\xBF[s]\r\nk = v\r\n");
    ck_assert_msg(f.errors.empty(), "unexpected errors: %s", all_errors(f).c_str());
    expect_eq(f.sections.at(0).name, "s", "section after BOM");
    expect_eq(f.entries.at(0).value, "v", "value without CR");
}
END_TEST

START_TEST(unreadable_file_gives_line_zero_error) {
    IniFile f = read_ini("/nonexistent/prm-test.conf");
    expect_eq(static_cast<long>(f.errors.size()), 1, "errors");
    expect_eq(f.errors[0].line, 0, "line");
    ck_assert_msg(f.errors[0].str().find("/nonexistent/prm-test.conf: cannot read") == 0,
                  "got '%s'", f.errors[0].str().c_str());
}
END_TEST

START_TEST(read_ini_reads_a_real_file) {
    std::string path = test::temp_base() + "/prm-ini-XXXXXX";
    int fd = mkstemp(path.data());
    ck_assert_msg(fd >= 0, "mkstemp failed");
    std::string text = "[x]\nk = v\n";
    ck_assert_msg(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()),
                  "write");
    close(fd);
    IniFile f = read_ini(path);
    unlink(path.c_str());
    ck_assert_msg(f.errors.empty(), "unexpected errors: %s", all_errors(f).c_str());
    expect_eq(f.path, path, "path");
    expect_eq(f.entries.at(0).value, "v", "value");
}
END_TEST

START_TEST(diag_rendering) {
    struct Row {
        Diag d;
        const char* want;
    } rows[] = {
        {{"f.conf", 12, "milter", "socket", "bad"}, "f.conf:12: [milter] socket: bad"},
        {{"f.conf", 0, "", "", "cannot read"}, "f.conf: cannot read"},
        {{"f.conf", 3, "", "", "syntax"}, "f.conf:3: syntax"},
        {{"f.conf", 0, "milter", "fallback_sender", "missing"},
         "f.conf: [milter] fallback_sender: missing"},
        {{"f.conf", 7, "acme", "", "invalid id"}, "f.conf:7: [acme] invalid id"},
    };
    for (const auto& r : rows) expect_eq(r.d.str(), r.want, "Diag::str");
}
END_TEST

Suite* suite_ini() {
    Suite* s = suite_create("ini");
    TCase* tc = tcase_create("ini");
    tcase_add_test(tc, entries_keep_order_section_and_line);
    tcase_add_test(tc, empty_sections_are_recorded);
    tcase_add_test(tc, long_section_name_kept_whole);
    tcase_add_test(tc, over_long_line_is_an_error_naming_it);
    tcase_add_test(tc, line_at_the_limit_is_accepted);
    tcase_add_test(tc, fuzz_trailing_carriage_returns_fit_inih_buffer);
    tcase_add_test(tc, long_section_header_starts_its_section);
    tcase_add_test(tc, inline_comment_needs_whitespace);
    tcase_add_test(tc, continuation_line_is_refused_never_joined);
    tcase_add_test(tc, every_syntax_error_is_reported);
    tcase_add_test(tc, text_after_section_header_is_an_error);
    tcase_add_test(tc, nul_byte_is_an_error);
    tcase_add_test(tc, bom_and_crlf_are_accepted);
    tcase_add_test(tc, unreadable_file_gives_line_zero_error);
    tcase_add_test(tc, read_ini_reads_a_real_file);
    tcase_add_test(tc, diag_rendering);
    suite_add_tcase(s, tc);
    return s;
}
