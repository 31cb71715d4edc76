// msgfile.cpp - message file reader for `-t` and replay tests.
//
// See msgfile.hpp for the contract; in short it reproduces what Postfix's
// milter client sends for each header (name, value without the one space
// after the colon, folded lines joined by "\n"), with the same kind of
// bounds. It reads only the start of the file and never the body.
//
// Thread safety: no shared state.
#include "core/msgfile.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/rfc5322.hpp"

namespace prm {

namespace {

// Length of the header name when LINE starts a header ("name:" with
// optional blanks before the colon), else 0. Names are printable ASCII
// without ':' (RFC 5322 ftext), like Postfix's is_header().
std::size_t header_label(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size()) {
        unsigned char c = static_cast<unsigned char>(line[i]);
        if (c == ':' || c == ' ' || c == '\t') break;
        if (c < 0x21 || c > 0x7e) return 0;
        ++i;
    }
    std::size_t len = i;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (len == 0 || i >= line.size() || line[i] != ':') return 0;
    return len;
}

// Append TEXT to VALUE without letting VALUE grow past the per-header bound.
void append_bounded(std::string& value, std::string_view text) {
    if (value.size() >= kMaxFileHeaderValue) return;
    value.append(text.substr(0, kMaxFileHeaderValue - value.size()));
}

// Split off the next line of TEXT at POS (without its LF and the CR of a
// CRLF). EOF_CUT is set when the last line had no LF.
std::string_view next_line(std::string_view text, std::size_t& pos, bool& eof_cut) {
    std::size_t nl = text.find('\n', pos);
    eof_cut = nl == std::string_view::npos;
    std::size_t end = eof_cut ? text.size() : nl;
    std::string_view line = text.substr(pos, end - pos);
    pos = eof_cut ? text.size() : nl + 1;
    if (!eof_cut && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

}  // namespace

// Parse the header section of TEXT into MSG.
bool parse_message_text(std::string_view text, MessageFacts& msg, std::string& err) {
    msg.headers.clear();
    msg.headers_truncated = false;
    std::size_t pos = 0;
    bool eof_cut = false, ended = false, first = true;

    while (pos < text.size()) {
        std::string_view line = next_line(text, pos, eof_cut);
        // An mbox separator is not a header; skip it like MUAs do ("From :"
        // with a blank before the colon is an obsolete-syntax header).
        if (first && line.substr(0, 5) == "From " && header_label(line) == 0) {
            first = false;
            continue;
        }
        first = false;
        if (line.empty()) {
            ended = true;
            break;
        }

        // A continuation belongs to the header before it, joined by "\n".
        if (line.front() == ' ' || line.front() == '\t') {
            if (msg.headers.empty()) break;  // body text: no header before it
            append_bounded(msg.headers.back().value, "\n");
            append_bounded(msg.headers.back().value, line);
            continue;
        }

        std::size_t len = header_label(line);
        if (len == 0) {
            ended = true;  // first body line: the header section is over
            break;
        }
        if (msg.headers.size() >= kMaxHeaders) {
            msg.headers_truncated = true;
            return true;
        }
        std::string_view value = line.substr(line.find(':', len) + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        Header h;
        h.name = std::string(line.substr(0, len));
        append_bounded(h.value, value);
        msg.headers.push_back(std::move(h));
    }

    if (msg.headers.empty()) {
        err = "no header found";
        return false;
    }
    // The caller read only a prefix of a bigger file and the section went on.
    if (!ended && text.size() >= kMaxMessageFileRead) msg.headers_truncated = true;
    return true;
}

// Read at most kMaxMessageFileRead bytes of PATH and parse its headers.
bool read_message_file(const std::string& path, MessageFacts& msg, std::string& err) {
    std::unique_ptr<FILE, int (*)(FILE*)> fp(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!fp) {
        err = path + ": cannot open: " + std::strerror(errno);
        return false;
    }
    std::string text;
    char buf[64 * 1024];
    while (text.size() < kMaxMessageFileRead) {
        std::size_t want = std::min(sizeof buf, kMaxMessageFileRead - text.size());
        std::size_t got = std::fread(buf, 1, want, fp.get());
        text.append(buf, got);
        if (got < want) break;
    }
    if (std::ferror(fp.get())) {
        err = path + ": read error";
        return false;
    }
    std::string why;
    if (!parse_message_text(text, msg, why)) {
        err = path + ": " + why;
        return false;
    }
    return true;
}

// A MAIL FROM argument derived from Return-Path or a single-mailbox From.
std::string envelope_from_headers(const MessageFacts& msg) {
    const Header* from = nullptr;
    int froms = 0;
    for (const Header& h : msg.headers) {
        if (header_name_equal(h.name, "Return-Path")) {
            std::string v = unfold(h.value);
            std::size_t b = v.find_first_not_of(" \t"), e = v.find_last_not_of(" \t");
            if (b == std::string::npos) return "<>";
            v = v.substr(b, e - b + 1);
            return v.front() == '<' ? v : "<" + v + ">";
        }
        if (header_name_equal(h.name, "From")) {
            from = &h;
            ++froms;
        }
    }
    if (froms != 1) return "";
    std::string err;
    auto list = parse_address_list(from->value, err);
    if (!list || list->mailboxes.size() != 1 || list->groups != 0) return "";
    // Use the addr-spec as written: address() drops the quotes of a quoted
    // local part ("john doe"@x), which would change the address.
    const Mailbox& m = list->mailboxes.front();
    std::string raw = unfold(std::string_view(from->value).substr(m.addr_begin, m.addr_end - m.addr_begin));
    if (raw.find_first_of("()") != std::string::npos) raw = m.address();  // comments inside
    return "<" + raw + ">";
}

}  // namespace prm
