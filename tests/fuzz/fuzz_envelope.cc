// fuzz_envelope.cc - libFuzzer target: SMTP envelope addresses.
//
// Feeds the input to parse_envelope() and normalize_address(). Invariants
// (abort on violation): a parsed address is bounded, has no NUL, CR, LF or
// 8-bit byte; the null sender is exactly "<>"-empty; "<" + address + ">"
// parses back to the same address; normalize_address() keeps the size and
// the local part, is idempotent, and its result still parses.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/rfc5322.hpp"
#include "fuzz_common.hpp"

namespace {

using fuzz::check;

// Invariants of normalize_address on any input.
void check_normalize(std::string_view a) {
    std::string n = prm::normalize_address(a);
    check(n.size() == a.size(), "normalize keeps the size");
    check(prm::normalize_address(n) == n, "normalize is idempotent");
    for (std::size_t i = 0; i < a.size(); ++i)
        check(n[i] == a[i] || (a[i] >= 'A' && a[i] <= 'Z' && n[i] == a[i] - 'A' + 'a'),
              "normalize only lower-cases ASCII letters");
}

// Invariants of a parsed envelope address.
void check_address(const prm::EnvelopeAddress& e) {
    if (e.null_sender) {
        check(e.address.empty(), "null sender has no address");
        return;
    }
    const std::string& a = e.address;
    check(!a.empty() && a.size() <= prm::kMaxAddressLength, "address bounded");
    for (char c : a)
        check(c != '\0' && c != '\r' && c != '\n' && static_cast<unsigned char>(c) < 0x80,
              "no NUL, CR, LF or 8-bit byte");
    check(a.front() != '<' && a.back() != '>', "no angle brackets");

    std::string err;
    auto back = prm::parse_envelope("<" + a + ">", err);
    check(back && !back->null_sender && back->address == a, "round trip through <...>");

    std::string n = prm::normalize_address(a);
    // The local part (before the first '@' of an unquoted one) is untouched.
    std::size_t at = a.find('@');
    if (at != std::string::npos && a.front() != '"')
        check(n.compare(0, at, a, 0, at) == 0, "local part kept");
    auto nback = prm::parse_envelope(n, err);
    check(nback && nback->address == n, "normalized address still parses");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string err;
    auto env = prm::parse_envelope(in, err);
    if (env)
        check_address(*env);
    else
        check(!err.empty(), "an error has a reason");
    check_normalize(in);
    return 0;
}
