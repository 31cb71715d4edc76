// decide.cpp - the routing decision for one message (DESIGN.md "Deciding").
//
// Contract: decide() maps a snapshot and the facts of one message to a
// Decision: category, partner, route, reason and the exact edit list. It is
// pure: no I/O, no libmilter, no clock, no global state.
//
// Edits, always in this order:
//   1. deletions, per header name in descending index order, so every index
//      stays valid whether the MTA renumbers after a deletion (Sendmail) or
//      not (Postfix): every copy of the route header, every copy of the
//      partner header when the submitter is untrusted or [headers]
//      strip_partner is on (the default: the tenant id stays inside),
//      every copy of the category header;
//   2. "add <category header>: <final category>" (every message);
//   3. partner route (enforce mode only): add the route header, change
//      From[1] to the rewritten value, change the envelope sender.
// An incoming route header is never *changed*: Postfix's milter_header_checks
// matches a header a milter changes just like one it adds, so a forged one
// must be deleted. The fallback listener never routes: it restores the
// platform's From and envelope sender instead of adding a route.
//
// Reasons (bounded vocabulary, used in logs and counters): partner-relay,
// untrusted-submitter, fallback, fallback-not-partner-sender,
// conflicting-partner-headers, no-partner, unknown-partner, inactive-partner,
// waiting-for-tables, category-not-eligible,
// category-opted-out, null-sender, bad-envelope-sender,
// from-not-single-mailbox, too-many-headers, rcpt-not-rewritable (Sendmail).
//
// Refusals (Decision::verdict, no edits): an untrusted client's message with
// more headers than kMaxHeaders is rejected (too-many-headers); on the
// fallback listener a message whose envelope sender is no partner's sender
// (active or not) is tempfailed (fallback-not-partner-sender).
//
// On Sendmail ([milter] mta = sendmail) the partner route is the recipient
// rewrite of sendmail_rewrite.cpp instead of the route header, and typed
// pseudo-domain recipients are deleted on every listener.
//
// Thread safety: reads the snapshot only. Limits: at most kMaxHeaders
// headers are seen (MessageFacts); address parsing is bounded by rfc5322.
#include "core/decide.hpp"
#include "core/strutil.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string_view>

#include "core/rfc5322.hpp"
#include "core/sendmail_rewrite.hpp"

namespace prm {

namespace {

constexpr std::string_view kNoteFromNotRewritten = "from-not-rewritten";
constexpr std::string_view kNoteNoFallbackSender = "no-fallback-sender";

// Strip folding whitespace (space, tab, CR, LF) from both ends.
std::string trim(std::string_view s) {
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && ws(s.front())) s.remove_prefix(1);
    while (!s.empty() && ws(s.back())) s.remove_suffix(1);
    return std::string(s);
}


// Every header called NAME (case-insensitive), in message order.
std::vector<const Header*> headers_named(const MessageFacts& msg, std::string_view name) {
    std::vector<const Header*> out;
    for (const Header& h : msg.headers)
        if (header_name_equal(h.name, name)) out.push_back(&h);
    return out;
}

// Append deletions of every copy of NAME, highest index first.
void delete_all(const MessageFacts& msg, const std::string& name, std::vector<Edit>& edits) {
    int n = static_cast<int>(headers_named(msg, name).size());
    for (int i = n; i >= 1; --i) {
        Edit e;
        e.op = Edit::Op::delete_header;
        e.name = name;
        e.index = i;
        edits.push_back(std::move(e));
    }
}

// Append deletions for each name in NAMES, skipping names already handled
// (two configured header names could differ only in case).
void delete_names(const MessageFacts& msg, const std::vector<std::string>& names,
                  std::vector<Edit>& edits) {
    std::vector<std::string> done;
    for (const std::string& name : names) {
        bool seen = std::any_of(done.begin(), done.end(),
                                [&](const std::string& d) { return header_name_equal(d, name); });
        if (seen || name.empty()) continue;
        done.push_back(name);
        delete_all(msg, name, edits);
    }
}

// The control headers to delete: route and category, and the partner
// header when WITH_PARTNER (untrusted, or strip_partner on).
std::vector<std::string> control_headers(const Config& cfg, bool with_partner) {
    if (with_partner) return {cfg.route_header, cfg.partner_header, cfg.category_header};
    return {cfg.route_header, cfg.category_header};
}

// Build a header edit.
Edit make_edit(Edit::Op op, const std::string& name, int index, std::string value) {
    Edit e;
    e.op = op;
    e.name = name;
    e.index = index;
    e.value = std::move(value);
    return e;
}

// Build an envelope sender change (args empty: no ESMTP parameters).
Edit sender_edit(const std::string& address) {
    Edit e;
    e.op = Edit::Op::change_sender;
    e.value = address;
    return e;
}

// Trusted: local submission, a trusted network, or (if allowed) SASL auth.
// An unknown address family is local submission on Sendmail only; on
// Postfix it is an smtpd on a UNIX socket, whose {client_addr} is a
// placeholder: such a client is trusted through SASL only (issue 17).
bool is_trusted(const Config& cfg, const MessageFacts& msg) {
    if (msg.local_submission) return true;
    if (msg.unknown_family && cfg.mta == Mta::sendmail) return true;
    if (!msg.client_addr.empty() && !msg.unknown_family)
        for (const Network& n : cfg.trusted_networks)
            if (n.contains(msg.client_addr)) return true;
    return cfg.trust_authenticated && !msg.auth_login.empty();
}

// The known category named by a category header value, or "" when none.
// FIRST_ONLY looks at the first copy only (fallback listener); otherwise
// the first copy naming a known category wins.
std::string category_from_header(const Config& cfg, const MessageFacts& msg, bool first_only) {
    for (const Header* h : headers_named(msg, cfg.category_header)) {
        std::string id = ascii_lower(trim(h->value));
        if (valid_category_id(id) && cfg.categories.known(id)) return id;
        if (first_only) break;
    }
    return "";
}

// The first classification rule that matches, or "unclassified".
// Header rules see every header of their name, unfolded so that folding
// cannot hide a match; sender rules see the envelope address.
std::string classify(const Config& cfg, const MessageFacts& msg, std::string_view env_addr) {
    for (const auto& rule : cfg.rules) {
        if (!rule || !cfg.categories.known(rule->category())) continue;
        if (rule->kind() == ClassifyRule::Kind::sender) {
            if (rule->matches(env_addr)) return rule->category();
            continue;
        }
        for (const Header* h : headers_named(msg, rule->header()))
            if (rule->matches(unfold(h->value))) return rule->category();
    }
    return std::string(kUnclassified);
}

// Parse MAIL FROM; nullopt when unparseable (an empty or broken argument).
std::optional<EnvelopeAddress> envelope_of(const MessageFacts& msg) {
    std::string err;
    return parse_envelope(msg.mail_from, err);
}

// The rewritten From value, or nullopt unless there is exactly one From
// header holding exactly one mailbox outside a group.
std::optional<std::string> rewritten_from(const MessageFacts& msg, std::string_view addr) {
    auto froms = headers_named(msg, "From");
    if (froms.size() != 1) return std::nullopt;
    std::string err;
    return rewrite_from(froms.front()->value, addr, err);
}

// The category tag (incoming copies are deleted by the caller first).
void tag_category(const Config& cfg, const std::string& category, std::vector<Edit>& edits) {
    edits.push_back(make_edit(Edit::Op::add_header, cfg.category_header, 0, category));
}

// Decide on the fallback listener: restore the platform's From and sender.
Decision decide_fallback(const Snapshot& snap, const MessageFacts& msg) {
    const Config& cfg = snap.config;
    Decision d;
    d.fallback = true;
    d.trusted = is_trusted(cfg, msg);
    d.route = Route::global;
    d.reason = "fallback";
    d.category = category_from_header(cfg, msg, true);
    if (d.category.empty()) d.category = std::string(kUnclassified);

    // Everything legitimate here came through a partner transport, with the
    // envelope sender we set: a partner's sender. Any other sender is some
    // local process using the listener to send as the platform: refused
    // (issue 17). Any partner of the table counts, active or not, so mail
    // queued before a partner was deactivated is still restored. The reply
    // is temporary: a sender no longer in the table (a partner removed, or
    // its sender changed, with mail still queued) is deferred, never
    // bounced, and 4xx stays 4xx through the partner transport's
    // smtp_reply_filter.
    // A partner removed at a reload while its mail was queued: its sender
    // is among the snapshot's former senders (kept for the process's life).
    const Partner* p = nullptr;
    bool former = false;
    if (auto env = envelope_of(msg); env && !env->null_sender) {
        std::string addr = normalize_address(env->address);
        p = snap.partners.by_sender(addr);
        former = !p && snap.former_senders && snap.former_senders->count(addr);
    }
    if (!p && !former) {
        d.reason = "fallback-not-partner-sender";
        d.verdict = Decision::Verdict::tempfail;
        d.reply_code = "451";
        d.reply_xcode = "4.7.1";
        d.reply_text = "the fallback listener takes only mail from a partner sender";
        return d;
    }
    if (p) d.partner = p->id;

    delete_names(msg, control_headers(cfg, cfg.strip_partner), d.edits);
    if (cfg.mta == Mta::sendmail) delete_pseudo_rcpts(msg, d.edits);
    tag_category(cfg, d.category, d.edits);

    const std::string& sender = cfg.fallback_sender_for(d.category);
    if (!valid_addr_spec(sender)) {
        d.note = std::string(kNoteNoFallbackSender);
        return d;
    }
    if (auto from = rewritten_from(msg, sender))
        d.edits.push_back(make_edit(Edit::Op::change_header, "From", 1, std::move(*from)));
    else
        d.note = std::string(kNoteFromNotRewritten);
    d.edits.push_back(sender_edit(sender));
    return d;
}

// What the trusted partner header names: "" when absent, or the lower-cased
// id; CONFLICT when copies disagree.
std::string partner_from_header(const Config& cfg, const MessageFacts& msg, bool& conflict) {
    conflict = false;
    std::string first;
    bool have = false;
    for (const Header* h : headers_named(msg, cfg.partner_header)) {
        std::string v = ascii_lower(trim(h->value));
        if (v.empty()) continue;  // an empty copy names nobody
        if (!have) {
            first = v;
            have = true;
        } else if (v != first) {
            conflict = true;
        }
    }
    return first;
}

// Which partner a trusted message belongs to, and why not when none is
// usable. Returns the partner only when every check passes; D gets the
// partner id (when valid) and the reason either way.
const Partner* choose_partner(const Snapshot& snap, const MessageFacts& msg,
                              const std::optional<EnvelopeAddress>& env, Decision& d) {
    const Config& cfg = snap.config;
    bool conflict = false;
    std::string id = partner_from_header(cfg, msg, conflict);
    if (conflict) {
        d.reason = "conflicting-partner-headers";
        return nullptr;
    }
    const Partner* p = nullptr;
    if (!id.empty()) {
        // An id that is not even well-formed is simply unknown; it is never
        // copied into the decision, which feeds the log line.
        if (!valid_partner_id(id)) {
            d.reason = "unknown-partner";
            return nullptr;
        }
        d.partner = id;
        p = snap.partners.find(id);
        if (!p) {
            d.reason = "unknown-partner";
            return nullptr;
        }
    } else if (env && !env->null_sender) {
        p = snap.partners.by_envelope_sender(normalize_address(env->address));
    }
    if (!p) {
        d.reason = "no-partner";
        return nullptr;
    }
    d.partner = p->id;
    if (!p->active) {
        d.reason = "inactive-partner";
        return nullptr;
    }
    if (p->waiting) {  // credentials not in the Postfix tables yet
        d.reason = "waiting-for-tables";
        return nullptr;
    }
    return p;
}

// The checks after the partner is known; true when the partner route holds.
bool partner_route_ok(const Config& cfg, const Partner& p, const MessageFacts& msg,
                      const std::optional<EnvelopeAddress>& env, bool from_ok, Decision& d) {
    if (!cfg.categories.eligible(d.category)) {
        d.reason = "category-not-eligible";
    } else if (!p.takes(cfg, d.category)) {
        d.reason = "category-opted-out";
    } else if (env && env->null_sender) {
        d.reason = "null-sender";
    } else if (!env) {
        d.reason = "bad-envelope-sender";
    } else if (!from_ok) {
        d.reason = "from-not-single-mailbox";
    } else if (msg.headers_truncated) {
        d.reason = "too-many-headers";
    } else {
        d.reason = "partner-relay";
        return true;
    }
    return false;
}

// Decide on a submission listener.
Decision decide_submission(const Snapshot& snap, const MessageFacts& msg) {
    const Config& cfg = snap.config;
    Decision d;
    d.trusted = is_trusted(cfg, msg);
    d.shadow = cfg.mode == Mode::shadow;
    d.route = Route::global;
    auto env = envelope_of(msg);

    if (d.trusted) d.category = category_from_header(cfg, msg, false);
    if (d.category.empty()) d.category = classify(cfg, msg, env ? env->address : "");

    // Headers past kMaxHeaders are never seen, so their forged control
    // headers could not be deleted: refuse such a message from an untrusted
    // client (issue 17). Reject, not tempfail: the same message would be
    // refused on every retry, and the client's MTA bounces it to its sender
    // at once instead of after days. Trusted submitters are never refused.
    if (!d.trusted && msg.headers_truncated) {
        d.reason = "too-many-headers";
        d.verdict = Decision::Verdict::reject;
        d.reply_code = "550";
        d.reply_xcode = "5.7.1";
        d.reply_text = "message has more than " + std::to_string(kMaxHeaders) +
                       " header fields; not accepted from an untrusted client";
        return d;
    }

    const Partner* p = nullptr;
    std::optional<std::string> from;
    if (!d.trusted) {
        d.reason = "untrusted-submitter";
    } else if ((p = choose_partner(snap, msg, env, d)) != nullptr) {
        from = rewritten_from(msg, p->sender);
        if (!partner_route_ok(cfg, *p, msg, env, from.has_value(), d)) p = nullptr;
    }
    if (p && cfg.mta == Mta::sendmail && !sendmail_rcpts_routable(msg)) {
        d.reason = "rcpt-not-rewritable";
        p = nullptr;
    }
    if (p) d.route = Route::partner;

    // Untrusted control headers are removed; a trusted partner header stays
    // only when strip_partner = no (it names the platform's tenant).
    delete_names(msg, control_headers(cfg, !d.trusted || cfg.strip_partner), d.edits);
    if (cfg.mta == Mta::sendmail) delete_pseudo_rcpts(msg, d.edits);
    tag_category(cfg, d.category, d.edits);

    if (p && !d.shadow) {
        if (cfg.mta == Mta::postfix)
            d.edits.push_back(make_edit(Edit::Op::add_header, cfg.route_header, 0, p->route_value(cfg)));
        d.edits.push_back(make_edit(Edit::Op::change_header, "From", 1, std::move(*from)));
        d.edits.push_back(sender_edit(p->sender));
        if (cfg.mta == Mta::sendmail) rewrite_rcpts(msg, *p, d.edits);
    }
    return d;
}

// Render S for a log field: "-" when empty, anything outside a safe token
// alphabet replaced by '?', at most 64 bytes. Ids are validated upstream;
// this is the last guard that keeps a log line one line of plain tokens.
std::string token(std::string_view s) {
    if (s.empty()) return "-";
    std::string out;
    for (char c : s.substr(0, 64)) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '@';
        out += ok ? c : '?';
    }
    return out;
}

// Escape control characters (CR, LF, TAB, others, DEL) for a one-line view.
std::string escape(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

}  // namespace

// The name of a route for logs.
const char* route_name(Route r) { return r == Route::partner ? "partner" : "global"; }

// One edit as a stable line, control characters escaped.
std::string describe(const Edit& e) {
    switch (e.op) {
    case Edit::Op::add_header:
        return "add " + escape(e.name) + ": " + escape(e.value);
    case Edit::Op::delete_header:
        return "delete " + escape(e.name) + "[" + std::to_string(e.index) + "]";
    case Edit::Op::change_header:
        return "change " + escape(e.name) + "[" + std::to_string(e.index) + "]: " + escape(e.value);
    case Edit::Op::change_sender:
        return "envelope-from <" + escape(e.value) + ">" + (e.args.empty() ? "" : " " + escape(e.args));
    case Edit::Op::delete_rcpt:
        return "delete-rcpt " + escape(e.value);
    case Edit::Op::add_rcpt:
        return "add-rcpt " + escape(e.value) + (e.args.empty() ? "" : " " + escape(e.args));
    }
    return "unknown-edit";
}

// The one summary line per message; bounded tokens only, never a secret.
std::string Decision::log_line(const std::string& queue_id) const {
    std::string line = (queue_id.empty() ? std::string("NOQUEUE") : token(queue_id)) + ":";
    line += " category=" + token(category);
    line += " partner=" + token(partner);
    line += std::string(" route=") + route_name(route);
    line += " reason=" + token(reason);
    line += std::string(" trusted=") + (trusted ? "yes" : "no");
    if (shadow) line += " mode=shadow";
    if (fallback) line += " fallback=yes";
    if (!note.empty()) line += " note=" + token(note);
    if (verdict == Verdict::reject) line += " action=reject";
    if (verdict == Verdict::tempfail) line += " action=tempfail";
    return line;
}

// Postfix cleanup's non-SMTP CONNECT: "localhost", loopback, port 0.
bool non_smtp_connect(const std::string& hostname, const std::string& addr, unsigned port) {
    return hostname == "localhost" && (addr == "127.0.0.1" || addr == "::1") && port == 0;
}

// Decide for one message: the fallback listener first, then submission.
Decision decide(const Snapshot& snap, const MessageFacts& msg) {
    const Config& cfg = snap.config;
    if (!cfg.fallback_daemon_name.empty() && msg.daemon_name == cfg.fallback_daemon_name)
        return decide_fallback(snap, msg);
    return decide_submission(snap, msg);
}

}  // namespace prm
