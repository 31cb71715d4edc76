// fuzz_from.cc - libFuzzer target: From header parsing and rewriting.
//
// Feeds the input as a raw From value to parse_address_list() and to
// rewrite_from() with a fixed partner sender (one of three, chosen by the
// input size, so plain, quoted-local and literal senders are all covered).
// Invariants checked (abort on violation, which libFuzzer reports):
//  - a parsed list stays within the bounds and each addr range is sane;
//  - a successful rewrite holds exactly one mailbox outside any group whose
//    address() is the sender; it differs from the input only in the
//    replaced range; it has no NUL and every CR/LF is folding (CRLF or LF
//    followed by whitespace); rewriting it again changes nothing.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/rfc5322.hpp"
#include "fuzz_common.hpp"

namespace {

using fuzz::check;
using fuzz::only_folding;

// The fixed partner senders and the address() each must parse to.
struct Sender {
    const char* addr;
    const char* parsed;
};
constexpr Sender kSenders[] = {
    {"partner.news@relay-1.example", "partner.news@relay-1.example"},
    {"\"p..q\"@relay.example", "p..q@relay.example"},
    {"p@[192.0.2.7]", "p@[192.0.2.7]"},
};

// Invariants of a successful parse of IN.
void check_list(std::string_view in, const prm::AddressList& l) {
    check(l.mailboxes.size() <= prm::kMaxMailboxes, "mailbox count bound");
    check(in.size() <= prm::kMaxHeaderValue, "value length bound");
    for (const auto& m : l.mailboxes) {
        check(m.addr_begin < m.addr_end && m.addr_end <= in.size(), "addr range inside value");
        check(!m.local.empty() && !m.domain.empty(), "local and domain present");
        check(m.local.size() <= prm::kMaxLocalPart, "local part bound");
        check(m.address().size() <= prm::kMaxAddressLength, "address bound");
        for (char c : m.address())
            check(c != '\0' && c != '\r' && c != '\n' && static_cast<unsigned char>(c) < 0x80,
                  "address has no NUL, CR, LF or 8-bit byte");
    }
}

// Invariants of a successful rewrite of IN into OUT with sender S.
void check_rewrite(std::string_view in, const std::string& out, const Sender& s) {
    std::string err;
    auto orig = prm::parse_address_list(in, err);
    check(orig && orig->mailboxes.size() == 1 && orig->groups == 0, "rewrite only single mailbox");
    const auto& m = orig->mailboxes[0];
    std::string_view addr(s.addr);
    check(out.size() == in.size() - (m.addr_end - m.addr_begin) + addr.size(), "size");
    check(out.compare(0, m.addr_begin, in.substr(0, m.addr_begin)) == 0, "prefix kept");
    check(out.compare(m.addr_begin, addr.size(), addr) == 0, "new address in place");
    check(std::string_view(out).substr(m.addr_begin + addr.size()) == in.substr(m.addr_end),
          "suffix kept");
    check(out.find('\0') == std::string::npos, "no NUL");
    check(only_folding(out), "CR/LF only as folding");

    auto again = prm::parse_address_list(out, err);
    check(again.has_value(), "result parses");
    check(again->mailboxes.size() == 1 && again->groups == 0, "result has one mailbox");
    check(!again->mailboxes[0].in_group, "result mailbox outside a group");
    check(again->mailboxes[0].address() == s.parsed, "result address is the sender");
    check(again->mailboxes[0].angle == m.angle, "angle form kept");
    check(again->mailboxes[0].display == m.display, "display name kept");

    auto twice = prm::rewrite_from(out, s.addr, err);
    check(twice && *twice == out, "rewrite is idempotent");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string err;
    auto list = prm::parse_address_list(in, err);
    if (list)
        check_list(in, *list);
    else
        check(!err.empty(), "an error has a reason");

    const Sender& s = kSenders[size % 3];
    auto out = prm::rewrite_from(in, s.addr, err);
    if (out) check_rewrite(in, *out, s);

    // unfold never grows a value and leaves no fold behind.
    std::string u = prm::unfold(in);
    check(u.size() <= in.size(), "unfold does not grow");
    if (list)
        check(u.find("\n ") == std::string::npos && u.find("\n\t") == std::string::npos,
              "unfold removes every fold of a valid value");
    return 0;
}
