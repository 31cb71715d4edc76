// rfc5322.cpp - RFC 5322 address lists, From rewriting, envelope addresses.
//
// What: a two-stage parser for header address lists. The lexer turns the
// raw value into tokens (atoms, quoted strings, domain literals, specials),
// dropping whitespace, folding and comments but keeping each token's byte
// range in the raw value. The parser walks the tokens with the RFC 5322
// grammar (plus the obsolete forms mail still uses: obs-phrase with dots,
// obs-local-part, obs-route, CFWS between addr-spec tokens).
//
// Contract: a value is either parsed exactly or rejected with a reason;
// there is no "best effort" guess. The cases that broke OpenDMARC's parser
// are errors or are reported faithfully: several mailboxes are all
// returned (the caller refuses the message, CVE-2019-16378), an
// unbalanced "<" or ">" is an error, "a@", "@b" and "a" are errors.
// rewrite_from() replaces only the addr-spec byte range of the single
// mailbox, so display names, encoded words, comments and folding stay byte
// for byte, and it re-parses its own result before returning it.
//
// Angle-less mailboxes ("a@b (Name)") stay angle-less after a rewrite. The
// new address passes valid_addr_spec(): it starts with atext or '"' and
// ends with a letter, digit or ']', and the bytes around the replaced range
// are what delimited the old addr-spec (start or end of value, whitespace,
// folding, a comment, ','). So the tokens of the result are the tokens of
// the original with the address swapped: a comment next to it stays a
// comment, and no display name appears or disappears. Adding angle brackets
// would instead turn a "(Name)" comment into text before a name-addr that
// some readers show as the name; keeping the form keeps the meaning. The
// re-parse check enforces this at run time and the fuzzer checks it.
//
// Thread safety: pure functions, no shared state.
// Limits: kMaxHeaderValue bytes, kMaxMailboxes mailboxes, comments nested
// at most kMaxCommentDepth deep (iterative, no recursion), addresses within
// kMaxLocalPart / kMaxAddressLength. 8-bit bytes (UTF-8, RFC 6532) are
// accepted in display names and comments, never in an address.
#include "core/rfc5322.hpp"

#include <algorithm>
#include <stdexcept>

namespace prm {
namespace {

constexpr int kMaxCommentDepth = 16;

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_8bit(char c) { return static_cast<unsigned char>(c) >= 0x80; }
bool is_ctl(char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
}
bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
// RFC 5322 atext, ASCII only.
bool is_atext(char c) {
    return is_alnum(c) ||
           (c != '\0' && std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos);
}
// Domain literal content: IPv4, "IPv6:..." and tagged literals only need
// these; '<', '>', '"' and the like would make "[...]" ambiguous to readers
// that do not parse literals (found by fuzz_envelope: "a@[>@Y]").
bool literal_char(char c) { return is_alnum(c) || c == '.' || c == ':' || c == '-'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// One lexical token with its byte range in the raw value.
struct Tok {
    enum Kind { atom, quoted, literal, special } kind = atom;
    char ch = 0;                     // the character of a special
    std::size_t begin = 0, end = 0;  // raw bytes [begin, end)
    std::string text;                // atom, unescaped quoted content, literal as written
};

// Splits a raw header value into tokens; comments and FWS are dropped.
class Lexer {
public:
    Lexer(std::string_view v, std::string& err) : v_(v), err_(err) {}
    bool run(std::vector<Tok>& out);

private:
    bool fold(std::size_t& i);
    bool quoted_pair(std::size_t& i, std::string* out);
    bool comment(std::size_t& i);
    bool quoted(std::size_t& i, Tok& t);
    bool literal(std::size_t& i, Tok& t);
    bool fail(const char* msg, std::size_t at) {
        err_ = std::string(msg) + " at byte " + std::to_string(at);
        return false;
    }

    std::string_view v_;
    std::string& err_;
};

// Step over a line break at I; only CRLF or LF followed by WSP is folding.
bool Lexer::fold(std::size_t& i) {
    std::size_t j = i;
    if (v_[j] == '\r') {
        if (j + 1 >= v_.size() || v_[j + 1] != '\n') return fail("bare CR", i);
        ++j;
    }
    ++j;
    if (j >= v_.size() || !is_wsp(v_[j])) return fail("line break not followed by whitespace", i);
    i = j;
    return true;
}

// Step over a backslash pair at I, appending the escaped byte to OUT.
bool Lexer::quoted_pair(std::size_t& i, std::string* out) {
    if (i + 1 >= v_.size()) return fail("backslash at end of value", i);
    char d = v_[i + 1];
    if (d == '\0' || d == '\r' || d == '\n') return fail("bad backslash escape", i);
    if (out) out->push_back(d);
    i += 2;
    return true;
}

// Skip a comment at I, nested at most kMaxCommentDepth deep, iteratively.
bool Lexer::comment(std::size_t& i) {
    std::size_t start = i;
    int depth = 0;
    while (i < v_.size()) {
        char c = v_[i];
        if (c == '\0') return fail("NUL byte", i);
        if (c == '(') {
            if (++depth > kMaxCommentDepth) return fail("comments nested too deeply", i);
            ++i;
        } else if (c == ')') {
            ++i;
            if (--depth == 0) return true;
        } else if (c == '\\') {
            if (!quoted_pair(i, nullptr)) return false;
        } else if (c == '\r' || c == '\n') {
            if (!fold(i)) return false;
        } else {
            ++i;  // ctext, 8-bit text, obsolete controls
        }
    }
    return fail("unterminated comment", start);
}

// Read a quoted string at I; T.text gets the content unescaped and unfolded.
bool Lexer::quoted(std::size_t& i, Tok& t) {
    std::size_t start = i++;
    t.kind = Tok::quoted;
    while (i < v_.size()) {
        char c = v_[i];
        if (c == '\0') return fail("NUL byte", i);
        if (c == '"') {
            ++i;
            return true;
        }
        if (c == '\\') {
            if (!quoted_pair(i, &t.text)) return false;
        } else if (c == '\r' || c == '\n') {
            if (!fold(i)) return false;  // the line break goes, the WSP stays
        } else {
            t.text.push_back(c);
            ++i;
        }
    }
    return fail("unterminated quoted string", start);
}

// Read a domain literal at I: "[" printable ASCII without []\ or spaces "]".
bool Lexer::literal(std::size_t& i, Tok& t) {
    std::size_t start = i++;
    t.kind = Tok::literal;
    for (; i < v_.size(); ++i) {
        char c = v_[i];
        if (c == ']') {
            ++i;
            t.text.assign(v_.substr(start, i - start));
            return true;
        }
        if (!literal_char(c))
            return fail(c == '\0' ? "NUL byte" : "bad character in domain literal", i);
    }
    return fail("unterminated domain literal", start);
}

// Tokenize the whole value.
bool Lexer::run(std::vector<Tok>& out) {
    std::size_t i = 0;
    while (i < v_.size()) {
        char c = v_[i];
        if (is_wsp(c) || c == '\r' || c == '\n' || c == '(') {
            if (!(is_wsp(c) ? (++i, true) : c == '(' ? comment(i) : fold(i))) return false;
            continue;
        }
        Tok t;
        t.begin = i;
        if (c == '"') {
            if (!quoted(i, t)) return false;
        } else if (c == '[') {
            if (!literal(i, t)) return false;
        } else if (is_atext(c) || is_8bit(c)) {
            while (i < v_.size() && (is_atext(v_[i]) || is_8bit(v_[i]))) ++i;
            t.text.assign(v_.substr(t.begin, i - t.begin));
        } else if (std::string_view("<>:;@,.").find(c) != std::string_view::npos && c != '\0') {
            t.kind = Tok::special;
            t.ch = c;
            ++i;
        } else {
            return fail(c == '\0'   ? "NUL byte"
                        : c == ')'  ? "unbalanced ')'"
                        : c == ']'  ? "unbalanced ']'"
                        : c == '\\' ? "backslash outside a quoted string"
                                    : "control character",
                        i);
        }
        t.end = i;
        out.push_back(std::move(t));
    }
    return true;
}

// The address-list grammar over the tokens.
class Parser {
public:
    Parser(std::string_view v, const std::vector<Tok>& t, std::string& err)
        : v_(v), toks_(t), err_(err) {}
    bool list(AddressList& out);

private:
    bool at(char c) const { return special_at(pos_, c); }
    bool special_at(std::size_t k, char c) const {
        return k < toks_.size() && toks_[k].kind == Tok::special && toks_[k].ch == c;
    }
    bool is_word(std::size_t k) const {
        return k < toks_.size() && (toks_[k].kind == Tok::atom || toks_[k].kind == Tok::quoted);
    }
    std::size_t phrase_end(std::size_t k) const {
        while (is_word(k) || special_at(k, '.')) ++k;
        return k;
    }
    bool address(AddressList& out);
    bool group(AddressList& out, std::size_t name_begin, std::size_t colon);
    bool mailbox(AddressList& out, bool in_group);
    bool angle_addr(Mailbox& mb);
    bool route();
    bool addr_spec(Mailbox& mb);
    bool local_part(std::string& local);
    bool domain(std::string& dom, std::size_t& last);
    bool fail(const char* msg) {
        std::size_t at = pos_ < toks_.size() ? toks_[pos_].begin : v_.size();
        err_ = std::string(msg) + " at byte " + std::to_string(at);
        return false;
    }

    std::string_view v_;
    const std::vector<Tok>& toks_;
    std::string& err_;
    std::size_t pos_ = 0;
};

// address-list = address *("," address); empty elements are errors.
bool Parser::list(AddressList& out) {
    if (toks_.empty()) return fail("empty address list");
    for (;;) {
        if (!address(out)) return false;
        if (pos_ == toks_.size()) return true;
        if (!at(',')) return fail(at('>') ? "unbalanced '>'" : "expected ',' after address");
        ++pos_;
        if (pos_ == toks_.size() || at(',')) return fail("empty element in address list");
    }
}

// address = mailbox / group; a phrase followed by ':' starts a group.
bool Parser::address(AddressList& out) {
    std::size_t pe = phrase_end(pos_);
    if (pe > pos_ && special_at(pe, ':')) return group(out, pos_, pe);
    return mailbox(out, false);
}

// group = display-name ":" [mailbox *("," mailbox)] ";" (no nesting).
bool Parser::group(AddressList& out, std::size_t name_begin, std::size_t colon) {
    pos_ = name_begin;
    if (!is_word(name_begin)) return fail("group name must start with a word");
    ++out.groups;
    pos_ = colon + 1;
    if (at(';')) {
        ++pos_;
        return true;
    }
    for (;;) {
        if (pos_ == toks_.size()) return fail("group not terminated with ';'");
        if (at(',') || at(';')) return fail("empty element in group");
        std::size_t pe = phrase_end(pos_);
        if (pe > pos_ && special_at(pe, ':')) return fail("nested group");
        if (!mailbox(out, true)) return false;
        if (at(';')) {
            ++pos_;
            return true;
        }
        if (pos_ == toks_.size()) return fail("group not terminated with ';'");
        if (!at(',')) return fail("expected ',' or ';' in group");
        ++pos_;
    }
}

// mailbox = name-addr / addr-spec, appended to OUT within kMaxMailboxes.
bool Parser::mailbox(AddressList& out, bool in_group) {
    Mailbox mb;
    mb.in_group = in_group;
    std::size_t start = pos_, pe = phrase_end(pos_);
    if (special_at(pe, '<')) {
        if (pe > start) {
            if (!is_word(start)) return fail("display name must start with a word");
            mb.display.assign(
                v_.substr(toks_[start].begin, toks_[pe - 1].end - toks_[start].begin));
        }
        pos_ = pe;
        if (!angle_addr(mb)) return false;
    } else if (special_at(pe, '@')) {
        if (!addr_spec(mb)) return false;
    } else {
        pos_ = pe;
        if (pe == start) return fail(at('>') ? "unbalanced '>'" : "expected an address");
        return fail(pe == toks_.size() ? "address without '@'" : "expected '@' or '<' after name");
    }
    if (out.mailboxes.size() >= kMaxMailboxes) return fail("too many mailboxes");
    out.mailboxes.push_back(std::move(mb));
    return true;
}

// angle-addr = "<" [obs-route] addr-spec ">"; a route is part of the range.
bool Parser::angle_addr(Mailbox& mb) {
    ++pos_;  // '<'
    std::size_t content = pos_;
    bool routed = false;
    if (at('@') || at(',')) {
        if (!route()) return false;
        routed = true;
    }
    if (at('>')) return fail("empty address in '<>'");
    if (!addr_spec(mb)) return false;
    if (!at('>'))
        return fail(pos_ == toks_.size() ? "unbalanced '<': missing '>'"
                                         : "unexpected text before '>'");
    ++pos_;
    mb.angle = true;
    if (routed) mb.addr_begin = toks_[content].begin;
    return true;
}

// obs-route = *(",") "@" domain *("," ["@" domain]) ":"; dropped, not kept.
bool Parser::route() {
    while (at(',')) ++pos_;
    if (!at('@')) return fail("bad source route");
    for (;;) {
        if (at('@')) {
            ++pos_;
            std::string d;
            std::size_t last = 0;
            if (!domain(d, last)) return false;
        }
        if (at(':')) {
            ++pos_;
            return true;
        }
        if (!at(',')) return fail("bad source route");
        ++pos_;
    }
}

// local-part = word *("." word), an address part: no controls, no 8-bit.
bool Parser::local_part(std::string& local) {
    std::size_t first = pos_;
    for (;;) {
        // An empty quoted word ("" or "".a) would leave address() without
        // a local part or with a stray dot (found by fuzz_from: ""@x).
        if (!is_word(pos_) || toks_[pos_].text.empty())
            return fail(pos_ == first ? "empty local part" : "bad local part");
        local += toks_[pos_].text;
        ++pos_;
        if (!at('.')) break;
        local += '.';
        ++pos_;
    }
    for (char c : local)
        if (is_ctl(c) || is_8bit(c)) return fail("control or 8-bit byte in local part");
    if (local.size() > kMaxLocalPart) return fail("local part too long");
    return true;
}

// domain = domain-literal / atom *("." atom), ASCII only; LAST = last token.
bool Parser::domain(std::string& dom, std::size_t& last) {
    if (pos_ < toks_.size() && toks_[pos_].kind == Tok::literal) {
        dom = toks_[pos_].text;
        last = pos_++;
        return true;
    }
    for (;;) {
        if (pos_ >= toks_.size() || toks_[pos_].kind != Tok::atom)
            return fail(dom.empty() ? "missing domain" : "bad domain");
        for (char c : toks_[pos_].text)
            if (is_8bit(c)) return fail("8-bit byte in domain");
        dom += toks_[pos_].text;
        last = pos_++;
        if (!at('.')) return true;
        dom += '.';
        ++pos_;
    }
}

// addr-spec = local-part "@" domain; records its raw byte range.
bool Parser::addr_spec(Mailbox& mb) {
    std::size_t first = pos_, last = 0;
    std::string local;
    if (!local_part(local)) return false;
    if (!at('@')) return fail("missing '@' in address");
    ++pos_;
    if (!domain(mb.domain, last)) return false;
    if (local.size() + 1 + mb.domain.size() > kMaxAddressLength) return fail("address too long");
    mb.local = std::move(local);
    mb.addr_begin = toks_[first].begin;
    mb.addr_end = toks_[last].end;
    return true;
}

// A dot-atom: atext runs separated by single dots, no dot at either end.
bool dot_atom_ok(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '.' ? s[i + 1] == '.' : !is_atext(s[i])) return false;
    }
    return true;
}

// A quoted local part at S[0]; printable ASCII, no space, no <>[],; sets END.
bool strict_quoted_ok(std::string_view s, std::size_t& end) {
    for (std::size_t i = 1; i < s.size(); ++i) {
        char c = s[i];
        if (c == '"') {
            end = i + 1;
            return i > 1;
        }
        if (c == '\\') {
            if (i + 1 >= s.size() || (s[i + 1] != '"' && s[i + 1] != '\\')) return false;
            ++i;
        } else if (c == ' ' || is_ctl(c) || is_8bit(c) ||
                   std::string_view("<>[],").find(c) != std::string_view::npos) {
            return false;
        }
    }
    return false;
}

// A DNS name: LDH labels of 1-63 bytes, no hyphen at a label's ends.
bool dns_domain_ok(std::string_view d) {
    if (d.empty() || d.size() > 253) return false;
    std::size_t start = 0;
    for (;;) {
        std::size_t dot = d.find('.', start);
        std::string_view label = d.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label)
            if (!is_alnum(c) && c != '-') return false;
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

// "[a.b.c.d]" with decimal octets 0-255 and no leading zeros.
bool ipv4_literal_ok(std::string_view d) {
    if (d.size() < 9 || d.front() != '[' || d.back() != ']') return false;
    std::size_t i = 1;
    for (int octet = 0; octet < 4; ++octet) {
        std::size_t j = i;
        int v = 0;
        while (j + 1 < d.size() && j - i < 3 && d[j] >= '0' && d[j] <= '9')
            v = v * 10 + (d[j++] - '0');
        if (j == i || v > 255 || (d[i] == '0' && j - i > 1)) return false;
        if (d[j] != (octet == 3 ? ']' : '.')) return false;
        i = j + 1;
    }
    return i == d.size();
}

// An envelope mailbox: dot-atom or quoted local part, optional "@" domain
// (dot-atom or domain literal), ASCII only. Unqualified "user" is allowed
// because Postfix accepts it from local submission.
bool envelope_mailbox_ok(std::string_view a, std::string& err) {
    std::size_t i = 0;
    bool quoted = !a.empty() && a[0] == '"';
    if (quoted) {
        for (i = 1; i < a.size() && a[i] != '"'; ++i) {
            if (a[i] == '\\') ++i;
            if (i >= a.size() || is_ctl(a[i])) return err = "bad quoted local part", false;
        }
        if (i >= a.size()) return err = "unterminated quoted local part", false;
        if (i == 1) return err = "empty local part", false;
        ++i;
    } else {
        i = a.find('@');
        if (i == std::string_view::npos) i = a.size();
        if (!dot_atom_ok(a.substr(0, i)))
            return err = i == 0 ? "empty local part" : "bad local part", false;
    }
    if (i > kMaxLocalPart + (quoted ? 2 : 0)) return err = "local part too long", false;
    if (i == a.size()) return true;
    if (a[i] != '@') return err = "bad local part", false;
    std::string_view d = a.substr(i + 1);
    bool lit = d.size() > 2 && d.front() == '[' && d.back() == ']';
    if (lit) {
        for (char c : d.substr(1, d.size() - 2))
            if (!literal_char(c)) lit = false;
        if (!lit) return err = "bad domain literal", false;
        return true;
    }
    if (!dot_atom_ok(d)) return err = d.empty() ? "missing domain" : "bad domain", false;
    return true;
}

// Index of the '>' closing the '<' at I, skipping quoted strings; npos when
// missing; sets NESTED when another '<' comes first.
std::size_t find_close(std::string_view s, std::size_t i, bool& nested) {
    bool q = false;
    for (std::size_t j = i + 1; j < s.size(); ++j) {
        char c = s[j];
        if (q) {
            if (c == '\\')
                ++j;
            else if (c == '"')
                q = false;
        } else if (c == '"') {
            q = true;
        } else if (c == '<') {
            nested = true;
            return std::string_view::npos;
        } else if (c == '>') {
            return j;
        }
    }
    return std::string_view::npos;
}

}  // namespace

std::optional<AddressList> parse_address_list(std::string_view value, std::string& err) {
    if (value.size() > kMaxHeaderValue) {
        err = "header value too long";
        return std::nullopt;
    }
    std::vector<Tok> toks;
    if (!Lexer(value, err).run(toks)) return std::nullopt;
    AddressList out;
    if (!Parser(value, toks, err).list(out)) return std::nullopt;
    return out;
}

std::optional<std::string> rewrite_from(std::string_view raw, std::string_view new_addr,
                                        std::string& err) {
    if (!valid_addr_spec(new_addr)) {
        err = "new address is not a valid addr-spec";
        return std::nullopt;
    }
    auto list = parse_address_list(raw, err);
    if (!list) return std::nullopt;
    if (list->groups != 0 || list->mailboxes.size() != 1) {
        err = list->groups != 0 ? "From uses group syntax" : "From has more than one mailbox";
        return std::nullopt;
    }
    const Mailbox& mb = list->mailboxes.front();
    std::string out;
    out.reserve(raw.size() + new_addr.size());
    out.append(raw.substr(0, mb.addr_begin)).append(new_addr).append(raw.substr(mb.addr_end));
    if (out.size() > kMaxHeaderValue) {
        err = "rewritten header value too long";
        return std::nullopt;
    }

    // Can't happen: the result must parse to the same shape with the new
    // address. Thrown, not returned: it is a bug, caught at the callback
    // boundary, and it makes the fuzzer stop loudly.
    std::string e1, e2;
    auto want = parse_address_list(new_addr, e1);
    auto got = parse_address_list(out, e2);
    if (!want || !got || got->groups != 0 || got->mailboxes.size() != 1 ||
        got->mailboxes[0].address() != want->mailboxes.at(0).address() ||
        got->mailboxes[0].angle != mb.angle || got->mailboxes[0].display != mb.display)
        throw std::logic_error("rewrite_from: rewritten From does not parse back");
    return out;
}

bool valid_addr_spec(std::string_view s) {
    if (s.empty() || s.size() > kMaxAddressLength) return false;
    std::size_t at = 0;
    if (s[0] == '"') {
        if (!strict_quoted_ok(s, at)) return false;
    } else {
        at = s.find('@');
        if (at == std::string_view::npos || !dot_atom_ok(s.substr(0, at))) return false;
    }
    if (at > kMaxLocalPart + (s[0] == '"' ? 2 : 0) || at >= s.size() || s[at] != '@') return false;
    std::string_view dom = s.substr(at + 1);
    return dns_domain_ok(dom) || ipv4_literal_ok(dom);
}

std::string unfold(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        // Drop only a line break that is followed by whitespace (a fold).
        if (c == '\r' && i + 2 < value.size() && value[i + 1] == '\n' && is_wsp(value[i + 2])) {
            ++i;
            continue;
        }
        if (c == '\n' && i + 1 < value.size() && is_wsp(value[i + 1])) continue;
        out.push_back(c);
    }
    return out;
}

std::optional<EnvelopeAddress> parse_envelope(std::string_view arg, std::string& err) {
    auto fail = [&err](const char* m) -> std::optional<EnvelopeAddress> {
        err = m;
        return std::nullopt;
    };
    if (arg.size() > kMaxHeaderValue) return fail("envelope argument too long");
    for (char c : arg) {
        if (c == '\0' || c == '\r' || c == '\n')
            return fail("control character in envelope address");
        if (is_8bit(c)) return fail("8-bit byte in envelope address");
    }
    std::size_t i = 0;
    while (i < arg.size() && is_wsp(arg[i])) ++i;

    std::string_view addr;
    if (i < arg.size() && arg[i] == '<') {
        bool nested = false;
        std::size_t close = find_close(arg, i, nested);
        if (nested) return fail("nested '<' in envelope address");
        if (close == std::string_view::npos) return fail("unbalanced '<': missing '>'");
        if (close + 1 < arg.size() && !is_wsp(arg[close + 1]))
            return fail("unexpected text after '>'");
        addr = arg.substr(i + 1, close - i - 1);
        if (addr.empty()) return EnvelopeAddress{"", true};
        if (addr[0] == '@') {
            // Source route "@r1,@r2:": dropped, as RFC 5321 says to.
            std::size_t colon = addr.find(':');
            if (colon == std::string_view::npos) return fail("bad source route");
            for (char c : addr.substr(0, colon))
                if (!is_alnum(c) && std::string_view("-.@,[]").find(c) == std::string_view::npos)
                    return fail("bad source route");
            addr = addr.substr(colon + 1);
        }
    } else {
        // No brackets: the address runs to the first whitespace outside quotes.
        std::size_t j = i;
        for (bool q = false; j < arg.size() && (q || !is_wsp(arg[j])); ++j) {
            if (q && arg[j] == '\\')
                ++j;
            else if (arg[j] == '"')
                q = !q;
        }
        addr = arg.substr(i, std::min(j, arg.size()) - i);
        if (addr.empty()) return fail("empty envelope address");
    }
    if (addr.size() > kMaxAddressLength) return fail("envelope address too long");
    if (!envelope_mailbox_ok(addr, err)) return std::nullopt;
    return EnvelopeAddress{std::string(addr), false};
}

std::string normalize_address(std::string_view addr) {
    std::string out(addr);
    std::size_t i = 0;
    // Skip a quoted local part: it may itself contain '@'.
    if (!out.empty() && out[0] == '"') {
        for (i = 1; i < out.size() && out[i] != '"'; ++i)
            if (out[i] == '\\') ++i;
    }
    std::size_t at = out.find('@', std::min(i, out.size()));
    if (at == std::string::npos) return out;
    for (std::size_t k = at + 1; k < out.size(); ++k) out[k] = lower(out[k]);
    return out;
}

bool header_name_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

}  // namespace prm
