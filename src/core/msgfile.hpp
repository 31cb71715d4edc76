// msgfile.hpp - read a message file into headers the way an MTA hands them
// to a milter; used by `partner-relay-milter -t` and the replay tests.
//
// Contract (mirrors Postfix's milter8 client, checked against its source):
//  - lines end in LF or CRLF; the CR of a CRLF is dropped, a bare CR is kept;
//  - a leading mbox "From " line is skipped;
//  - the header section ends at the first empty line, or at the first line
//    that is neither a header ("name:" with optional blanks before the
//    colon) nor a continuation line (starts with space or tab); the rest of
//    the file is the body and is not read further;
//  - the name loses any blanks before the colon; the value loses exactly one
//    space (not a tab) after the colon, as Sendmail and Postfix send it;
//  - a folded header keeps its continuation lines joined by "\n", each with
//    its leading whitespace, as Postfix sends multi-line headers to milters;
//  - a header value longer than kMaxFileHeaderValue bytes is cut there and
//    the excess discarded (Postfix header_size_limit, default 102400); the
//    core's own parsers apply their tighter bounds (rfc5322 kMaxHeaderValue);
//  - at most kMaxHeaders headers are kept; one more sets headers_truncated,
//    as the daemon does for a message with too many headers;
//  - at most kMaxMessageFileRead bytes of the file are read; a header
//    section that does not end before that sets headers_truncated.
// Errors (returned, never thrown): the file cannot be opened or read, or it
// holds no header at all.
//
// Thread safety: pure functions apart from reading the named file.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/decide.hpp"

namespace prm {

inline constexpr std::size_t kMaxFileHeaderValue = 102400;
inline constexpr std::size_t kMaxMessageFileRead = 16 * 1024 * 1024;

// Parse the header section of TEXT into MSG.headers and
// MSG.headers_truncated (other fields untouched). False with ERR set when
// TEXT holds no header.
bool parse_message_text(std::string_view text, MessageFacts& msg, std::string& err);

// Read the message file at PATH into MSG as parse_message_text does. False
// with ERR ("PATH: reason") when the file cannot be read or has no header.
bool read_message_file(const std::string& path, MessageFacts& msg, std::string& err);

// A MAIL FROM argument for an offline decision when none is given: the
// Return-Path header if present ("<...>" as written, "<>" included), else
// "<address>" of a From header holding exactly one mailbox, else "".
std::string envelope_from_headers(const MessageFacts& msg);

}  // namespace prm
