// decide.hpp - the routing decision for one message: pure, no libmilter.
//
// Input: connection facts (client address, SASL login, daemon name), the
// envelope and the headers. Output: category, partner, route, reason, and
// the exact list of edits for the MTA. DESIGN.md "Deciding" is the contract.
//
// Thread safety: decide() only reads the snapshot; call it from any thread.
#pragma once

#include <string>
#include <vector>

#include "core/snapshot.hpp"

namespace prm {

inline constexpr std::size_t kMaxHeaders = 1000;  // headers looked at per message

struct Header {
    std::string name;
    std::string value;  // as the MTA sent it, possibly folded
};

struct MessageFacts {
    std::string queue_id;     // macro i; empty before known
    std::string client_addr;  // {client_addr}; empty when the MTA sent none
    std::string auth_login;   // {auth_authen}; empty when not authenticated
    std::string daemon_name;  // {daemon_name}
    bool local_submission = false;  // non-SMTP (sendmail/pickup) submission
    // CONNECT named no address (libmilter's hostaddr NULL: family unknown).
    // Postfix sends that for an smtpd on a UNIX socket (its {client_addr}
    // is then a placeholder 127.0.0.1); Sendmail for local (-bs) submission.
    bool unknown_family = false;
    std::string mail_from;          // MAIL FROM argument, e.g. "<a@b>"
    std::vector<std::string> mail_args;  // ESMTP parameters of MAIL FROM
    std::vector<std::string> rcpts;
    std::vector<std::vector<std::string>> rcpt_args;  // ESMTP parameters, parallel to rcpts
    std::vector<Header> headers;    // in order, at most kMaxHeaders
    bool headers_truncated = false;  // more than kMaxHeaders were sent
};

enum class Route { partner, global };
const char* route_name(Route r);

struct Edit {
    enum class Op { add_header, delete_header, change_header, change_sender, delete_rcpt, add_rcpt };
    Op op = Op::add_header;
    std::string name;   // header name (header ops)
    int index = 0;      // 1-based occurrence among headers of that name
    std::string value;  // header value, new envelope sender, or recipient (rcpt ops)
    std::string args;   // ESMTP args for change_sender and add_rcpt (may be empty)
};

// Render one edit as a stable, readable line ("add X-Email-Category: aml-alert").
std::string describe(const Edit& e);

struct Decision {
    std::string category;
    std::string partner;  // partner id considered, empty if none
    Route route = Route::global;
    std::string reason;   // bounded vocabulary, see decide.cpp
    bool trusted = false;
    bool fallback = false;  // decided on the fallback listener
    bool shadow = false;    // mode = shadow: edits limited to the tag
    std::string note;       // bounded token, e.g. "from-not-rewritten"; may be empty
    std::vector<Edit> edits;

    // What end of message answers. accept: the edits apply. reject or
    // tempfail: no edit, the MTA is answered with reply_code, reply_xcode
    // and reply_text (plain ASCII). Never chosen for a trusted submitter.
    enum class Verdict { accept, reject, tempfail };
    Verdict verdict = Verdict::accept;
    std::string reply_code;   // "550"
    std::string reply_xcode;  // "5.7.1"
    std::string reply_text;

    // "QUEUEID: category=... partner=... route=... reason=..." (no secret).
    std::string log_line(const std::string& queue_id) const;
};

// Whether a CONNECT is an MTA's emulation of non-SMTP (sendmail(1),
// pickup) submission: Postfix's cleanup presents it as client "localhost",
// IPv4 or IPv6 loopback, port 0 (no SMTP client has source port 0).
bool non_smtp_connect(const std::string& hostname, const std::string& addr, unsigned port);

// Decide for one message.
Decision decide(const Snapshot& snap, const MessageFacts& msg);

}  // namespace prm
