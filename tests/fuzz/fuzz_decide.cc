// fuzz_decide.cc - libFuzzer target: the whole decision for one message.
//
// Input, split structurally:
//   byte 0         connection facts: bits 0-1 client address (127.0.0.1,
//                  192.0.2.9, none, ::1), bit 2 local submission, bit 3 a
//                  SASL login, bit 4 the fallback daemon name, bit 5 the
//                  shadow-mode snapshot;
//   line 1         the MAIL FROM argument;
//   line 2         one recipient;
//   the rest       a header section as msgfile.cpp reads it ("Name: value",
//                  folded lines, stops at the first empty line).
// The snapshot is fixed: the built-in category registry plus a classify
// rule and a fallback sender override; partners acme (127.0.0.1:2525, tls =
// encrypt as an IP-literal relay must say without tls_fingerprint,
// match_senders @acme.example), initech (implicit TLS, narrowed), globex
// (inactive: no password) and edge (a hyphenated host).
// Invariants checked (abort on violation, which libFuzzer reports):
//  - a message from an untrusted client (no trusted address, no local
//    submission, no SASL login) or on the fallback listener is never
//    routed: route global and no route header added;
//  - an untrusted message on a submission listener gets every copy of the partner, category and
//    route headers deleted (no spoofed control header survives);
//  - at most one route header is added; exactly one when the route is
//    partner (enforce mode); its value matches
//    ^(partner|partner-smtps):\[[A-Za-z0-9.-]+\]:[0-9]{1,5}$ with host and
//    port of the decided partner, which is known and active;
//  - a rewritten From parses to exactly one mailbox whose address is the
//    partner sender (partner route) or the fallback sender (fallback), with
//    no NUL and CR/LF only as folding; the envelope sender edit names the
//    same address;
//  - every header value the milter writes has no NUL and no CR/LF that could
//    start a new header; the log line is one line;
//  - a refused message (Decision::verdict) has no edit, and is either an
//    untrusted client's with truncated headers or on the fallback listener.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "core/decide.hpp"
#include "core/ini.hpp"
#include "core/msgfile.hpp"
#include "core/rfc5322.hpp"
#include "fuzz_common.hpp"

namespace {

using fuzz::check;
using fuzz::only_folding;
using fuzz::route_ok;

const char* const kConfig =
    "[milter]\nfallback_sender = noreply@platform.example\n"
    "trusted_networks = 127.0.0.0/8, ::1/128\n%s"
    "[categories]\naccount-security = global\n"
    "[classify]\naml-alert = header:Subject:^\\[AML\\]\n"
    "[fallback_senders]\nfinance-report = finance@platform.example\n";

const char* const kPartners =
    "[acme]\nhost = 127.0.0.1\nport = 2525\nusername = acme-user\npassword = pw-acme\n"
    "sender = news@acme.example\nmatch_senders = @acme.example\ntls = encrypt\n"
    "[initech]\nhost = smtp.initech.example\nport = 465\nusername = i\npassword = pw-i\n"
    "sender = mail@initech.example\ncategories = aml-alert, finance-report\n"
    "[globex]\nhost = smtp.globex.example\nport = 587\nusername = g\n"
    "sender = hello@globex.example\nmatch_senders = @globex.example\n"
    "[edge]\nhost = relay-1.edge-mail.example\nport = 2587\nusername = e\npassword = pw-e\n"
    "sender = Out@Edge.Example\n";

// The fixed snapshot, in enforce (SHADOW false) or shadow mode.
const prm::Snapshot& snapshot(bool shadow) {
    auto build = [](bool sh) {
        auto s = std::make_unique<prm::Snapshot>();
        char text[1024];
        std::snprintf(text, sizeof text, kConfig, sh ? "mode = shadow\n" : "");
        prm::ConfigResult r = prm::load_config_ini(prm::parse_ini_text("fuzz.conf", text));
        if (!r.config) std::abort();
        s->config = *r.config;
        s->partners =
            prm::load_partners_ini(prm::parse_ini_text("partners.conf", kPartners), s->config);
        if (s->partners.active_count() != 3) std::abort();
        return s;
    };
    static const auto enforce = build(false);
    static const auto shadowed = build(true);
    return shadow ? *shadowed : *enforce;
}

// Take the next line (without its LF) from IN.
std::string next_line(std::string_view& in) {
    std::size_t nl = in.find('\n');
    std::string line(in.substr(0, nl));
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    return line;
}

// Build the message facts from the structured input.
prm::MessageFacts facts(std::uint8_t flags, std::string_view rest) {
    static const char* const kClients[] = {"127.0.0.1", "192.0.2.9", "", "::1"};
    prm::MessageFacts m;
    m.queue_id = "FUZZ1";
    m.client_addr = kClients[flags & 3];
    m.local_submission = (flags & 4) != 0;
    if (flags & 8) m.auth_login = "app";
    m.daemon_name = (flags & 16) ? "FALLBACK" : "ORIGINATING";
    m.mail_from = next_line(rest);
    m.rcpts.push_back(next_line(rest));
    std::string err;
    prm::parse_message_text(rest, m, err);  // no header at all is a valid case too
    return m;
}

// How many headers of MSG are called NAME.
int count_named(const prm::MessageFacts& msg, const std::string& name) {
    int n = 0;
    for (const prm::Header& h : msg.headers) n += prm::header_name_equal(h.name, name);
    return n;
}

// Invariants of a From or envelope rewrite to SENDER.
void check_rewrites(const prm::Decision& d, const std::string& sender) {
    for (const prm::Edit& e : d.edits) {
        if (e.op == prm::Edit::Op::change_sender)
            check(e.value == sender, "envelope sender is the expected sender");
        if (e.op != prm::Edit::Op::change_header || !prm::header_name_equal(e.name, "From"))
            continue;
        std::string err;
        auto l = prm::parse_address_list(e.value, err);
        check(l && l->mailboxes.size() == 1 && l->groups == 0, "rewritten From: one mailbox");
        check(prm::normalize_address(l->mailboxes[0].address()) == prm::normalize_address(sender),
              "rewritten From carries exactly the sender");
    }
}

// Invariants of decision D for MSG on snapshot S.
void check_decision(const prm::Snapshot& s, const prm::MessageFacts& msg, const prm::Decision& d,
                    bool untrusted) {
    const prm::Config& cfg = s.config;
    int routes = 0, deleted_partner = 0, deleted_category = 0, deleted_route = 0;
    for (const prm::Edit& e : d.edits) {
        check(e.value.find('\0') == std::string::npos && only_folding(e.value),
              "an edit value has no NUL and no CR/LF except folding");
        bool del = e.op == prm::Edit::Op::delete_header;
        if (e.op == prm::Edit::Op::add_header && prm::header_name_equal(e.name, cfg.route_header))
            routes++;
        deleted_partner += del && prm::header_name_equal(e.name, cfg.partner_header);
        deleted_category += del && prm::header_name_equal(e.name, cfg.category_header);
        deleted_route += del && prm::header_name_equal(e.name, cfg.route_header);
    }
    check(d.log_line("FUZZ1").find_first_of("\r\n") == std::string::npos, "log line is one line");
    if (d.verdict != prm::Decision::Verdict::accept) {
        // Refused: an untrusted client's truncated headers, or a non-partner
        // sender on the fallback listener; never a trusted submission.
        check(d.edits.empty() && d.route == prm::Route::global, "a refused message gets no edit");
        check(d.fallback || (!d.trusted && msg.headers_truncated), "only the refusals of decide.cpp");
        return;
    }
    check(routes <= 1, "at most one route header");
    if (untrusted || d.fallback)
        check(d.route == prm::Route::global && routes == 0, "never routed");
    if (untrusted && !d.fallback) {
        // (The fallback listener is loopback-only and fed by the partner
        // transport: it drops the route and category headers, nothing more.)
        check(deleted_partner == count_named(msg, cfg.partner_header) &&
                  deleted_category == count_named(msg, cfg.category_header) &&
                  deleted_route == count_named(msg, cfg.route_header),
              "every untrusted control header is deleted");
    }
    if (cfg.strip_partner)
        check(deleted_partner == count_named(msg, cfg.partner_header),
              "strip_partner: every partner header is deleted");
    if (d.route == prm::Route::partner) {
        const prm::Partner* p = s.partners.find(d.partner);
        check(p && p->active && d.trusted && !d.fallback, "partner route: known active partner");
        check(routes == (cfg.mode == prm::Mode::shadow ? 0 : 1), "one route header in enforce");
        for (const prm::Edit& e : d.edits)
            if (e.op == prm::Edit::Op::add_header &&
                prm::header_name_equal(e.name, cfg.route_header))
                check(route_ok(e.value, *p), "route value from the partner table");
        check_rewrites(d, p->sender);
    } else {
        check(routes == 0, "no route header on the global route");
        if (d.fallback)
            check_rewrites(d, cfg.fallback_sender_for(d.category));
        else
            for (const prm::Edit& e : d.edits)
                check(e.op != prm::Edit::Op::change_sender &&
                          !(e.op == prm::Edit::Op::change_header &&
                            prm::header_name_equal(e.name, "From")),
                      "global route on submission: From and sender untouched");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto flags = static_cast<std::uint8_t>(in[0]);
    const prm::Snapshot& s = snapshot((flags & 32) != 0);
    prm::MessageFacts msg = facts(flags, in.substr(1));
    bool untrusted = (flags & 3) != 0 && (flags & 3) != 3 && !(flags & 4) && !(flags & 8);
    prm::Decision d = prm::decide(s, msg);
    check_decision(s, msg, d, untrusted);
    return 0;
}
