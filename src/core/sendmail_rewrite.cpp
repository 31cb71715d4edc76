// sendmail_rewrite.cpp - recipient rewrite for partner routes on Sendmail.
//
// Contract: see sendmail_rewrite.hpp. The edits use Edit::Op::delete_rcpt
// (value = the recipient exactly as the MTA reported it, which
// smfi_delrcpt must match) and Edit::Op::add_rcpt (value = the pseudo
// address, args = its ESMTP parameters). The guard in partner-relay.m4
// (a regex map on the same label) rejects typed pseudo recipients at RCPT;
// delete_pseudo_rcpts() is the milter's own second line.
//
// Thread safety: pure functions. Limits: linear in the address length.
#include "core/sendmail_rewrite.hpp"

#include <cstdio>

#include "core/rfc5322.hpp"

namespace prm {

namespace {

// A character that may continue a DNS label (so "PTNRELAYX" is no match).
bool label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// RCPT without its angle brackets.
std::string_view unbracket(std::string_view s) {
    if (s.size() >= 2 && s.front() == '<' && s.back() == '>') return s.substr(1, s.size() - 2);
    return s;
}

// A dot-atom domain: letters, digits, '-', '.', '_' (no literal, no empty label).
bool plain_domain(std::string_view d) {
    if (d.empty() || d.front() == '.' || d.find("..") != std::string_view::npos) return false;
    for (char c : d)
        if (!label_char(c) && c != '.' && c != '_') return false;
    return true;
}

// The keyword of an ESMTP parameter ("NOTIFY" of "notify=never"), upper-cased.
std::string keyword(std::string_view arg) {
    std::string k(arg.substr(0, arg.find('=')));
    for (char& c : k)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return k;
}

// RFC 3461 xtext: '+', '=' and bytes outside 33..126 as +HH.
std::string xtext(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c < 33 || c > 126 || c == '+' || c == '=') {
            char buf[4];
            std::snprintf(buf, sizeof buf, "+%02X", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

// Split RCPT into local part and domain at the last '@'; false when unfit.
bool split_rcpt(std::string_view rcpt, std::string_view& local, std::string_view& domain) {
    std::string_view a = unbracket(rcpt);
    std::size_t at = a.rfind('@');
    if (at == std::string_view::npos || at == 0 || a.front() == '@') return false;
    local = a.substr(0, at);
    domain = a.substr(at + 1);
    if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    return plain_domain(domain);
}

// Build a recipient edit.
Edit rcpt_edit(Edit::Op op, std::string value, std::string args) {
    Edit e;
    e.op = op;
    e.value = std::move(value);
    e.args = std::move(args);
    return e;
}

}  // namespace

// Whole-word, case-insensitive search for the pseudo label.
bool names_pseudo_domain(std::string_view addr) {
    const std::size_t n = kPseudoLabel.size();
    for (std::size_t i = 0; i + n <= addr.size(); ++i) {
        if (!header_name_equal(addr.substr(i, n), kPseudoLabel)) continue;
        bool start_ok = i == 0 || !label_char(addr[i - 1]);
        bool end_ok = i + n == addr.size() || !label_char(addr[i + n]);
        if (start_ok && end_ok) return true;
    }
    return false;
}

// Partner id as one Sendmail token.
std::string pseudo_partner_key(std::string_view id) {
    std::string k(id);
    for (char& c : k)
        if (c == '.') c = '=';
    return k;
}

// "<local@domain.KEY.PTNRELAY>" or nullopt.
std::optional<std::string> pseudo_address(std::string_view rcpt, std::string_view partner_id) {
    std::string_view local, domain;
    if (!split_rcpt(rcpt, local, domain)) return std::nullopt;
    return "<" + std::string(local) + "@" + std::string(domain) + "." +
           pseudo_partner_key(partner_id) + "." + std::string(kPseudoLabel) + ">";
}

// NOTIFY and ORCPT as given; ORCPT of the original when absent.
std::string pseudo_rcpt_args(std::string_view rcpt, const std::vector<std::string>& args) {
    std::string out;
    bool orcpt = false;
    for (const std::string& a : args) {
        std::string k = keyword(a);
        if (k != "NOTIFY" && k != "ORCPT") continue;
        orcpt = orcpt || k == "ORCPT";
        out += (out.empty() ? "" : " ") + a;
    }
    if (!orcpt) out += std::string(out.empty() ? "" : " ") + "ORCPT=rfc822;" + xtext(unbracket(rcpt));
    return out;
}

// Every non-pseudo recipient has a rewritable form.
bool sendmail_rcpts_routable(const MessageFacts& msg) {
    std::size_t n = 0;
    for (const std::string& r : msg.rcpts) {
        if (names_pseudo_domain(r)) continue;
        std::string_view l, d;
        if (!split_rcpt(r, l, d)) return false;
        ++n;
    }
    return n > 0;
}

// Deletions of typed pseudo recipients.
void delete_pseudo_rcpts(const MessageFacts& msg, std::vector<Edit>& edits) {
    for (const std::string& r : msg.rcpts)
        if (names_pseudo_domain(r)) edits.push_back(rcpt_edit(Edit::Op::delete_rcpt, r, ""));
}

// Delete each recipient and add its pseudo address with NOTIFY/ORCPT.
void rewrite_rcpts(const MessageFacts& msg, const Partner& partner, std::vector<Edit>& edits) {
    static const std::vector<std::string> kNone;
    for (std::size_t i = 0; i < msg.rcpts.size(); ++i) {
        const std::string& r = msg.rcpts[i];
        if (names_pseudo_domain(r)) continue;
        auto pseudo = pseudo_address(r, partner.id);
        if (!pseudo) continue;  // excluded by sendmail_rcpts_routable()
        const auto& args = i < msg.rcpt_args.size() ? msg.rcpt_args[i] : kNone;
        edits.push_back(rcpt_edit(Edit::Op::delete_rcpt, r, ""));
        edits.push_back(rcpt_edit(Edit::Op::add_rcpt, *pseudo, pseudo_rcpt_args(r, args)));
    }
}

}  // namespace prm
