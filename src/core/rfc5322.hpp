// rfc5322.hpp - header and address parsing: the security core.
//
// Parses what a submitter controls: From header values (display names,
// quoted strings, RFC 2047 encoded words, comments, folding, angle-less
// addresses, group syntax) and SMTP envelope addresses ("<a@b>" plus ESMTP
// parameters). Everything takes std::string_view, is bounded, and returns a
// value or an error string; nothing throws on bad input.
//
// Rewriting a From header replaces only the addr-spec of its single mailbox
// and keeps every other byte (display name, comments, folding), so the
// result never gains a CR, LF or NUL that was not already there, and never
// contains one next to the new address.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace prm {

inline constexpr std::size_t kMaxAddressLength = 254;  // RFC 5321 path limit
inline constexpr std::size_t kMaxLocalPart = 64;
inline constexpr std::size_t kMaxHeaderValue = 16 * 1024;  // one header, bytes
inline constexpr std::size_t kMaxMailboxes = 100;          // per address list

struct Mailbox {
    std::string display;  // display name as written (raw, may be encoded)
    std::string local;    // local part, quotes removed
    std::string domain;
    bool angle = false;   // written as <addr-spec>
    bool in_group = false;
    // Byte range of the addr-spec inside the raw value (without the angle
    // brackets when present).
    std::size_t addr_begin = 0, addr_end = 0;

    std::string address() const { return local + "@" + domain; }
};

struct AddressList {
    std::vector<Mailbox> mailboxes;
    int groups = 0;
};

// Parse an address list header value (From, To, ...). Returns nullopt and
// sets ERR when the value is not a valid address list or exceeds the bounds.
std::optional<AddressList> parse_address_list(std::string_view value, std::string& err);

// Replace the address of the single mailbox in the From value RAW with
// NEW_ADDR, keeping the display name, comments and folding. An angle-less
// address ("a@b (Name)") stays angle-less. Fails (nullopt + ERR) unless the
// value holds exactly one mailbox outside any group, or NEW_ADDR is not a
// valid addr-spec.
std::optional<std::string> rewrite_from(std::string_view raw, std::string_view new_addr,
                                        std::string& err);

// True when S is a plain addr-spec "local@domain" acceptable as a partner or
// fallback sender: dot-atom local part (or quoted without controls), DNS
// domain or IPv4 literal, within the length limits, no whitespace, no CR/LF,
// no NUL, no brackets, no commas.
bool valid_addr_spec(std::string_view s);

// Remove folding (CRLF or LF followed by whitespace) from a header value.
std::string unfold(std::string_view value);

struct EnvelopeAddress {
    std::string address;  // without angle brackets; empty for the null sender
    bool null_sender = false;
};

// Parse the MAIL FROM / RCPT TO argument as a milter receives it: "<a@b>",
// "a@b", "<>", optionally followed by ESMTP parameters (ignored here; the
// milter receives them as separate arguments). Source routes are dropped.
std::optional<EnvelopeAddress> parse_envelope(std::string_view arg, std::string& err);

// Lower-case the domain part of an address (local parts are case-sensitive).
std::string normalize_address(std::string_view addr);

// Case-insensitive ASCII comparison of header names.
bool header_name_equal(std::string_view a, std::string_view b);

}  // namespace prm
