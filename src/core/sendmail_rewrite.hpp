// sendmail_rewrite.hpp - the recipient rewrite that routes partner mail on
// Sendmail ([milter] mta = sendmail): pure, no libmilter.
//
// Sendmail routes recipients at RCPT time and a milter cannot set macros,
// so a partner-routed message has each recipient replaced by a pseudo-domain
// address naming the partner: <bob@example.com> becomes
// <bob@example.com.acme.PTNRELAY>. The LOCAL_RULE_0 rule of
// contrib/sendmail/partner-relay.m4 turns it back into bob@example.com on the
// partner's mailer, so the partner relay sees the original RCPT TO. NOTIFY
// and ORCPT are kept (ORCPT added when the client sent none); every other
// RCPT parameter is dropped, since Sendmail 8.17 silently loses a message
// whose added recipient carries one. A pseudo-domain recipient that a client
// typed (any form, quoted local parts included) is deleted: only the milter
// may create one.
//
// Thread safety: functions only; no state. Limits: addresses are bounded by
// the MTA (Sendmail: 256 bytes); parsing here is linear.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/decide.hpp"
#include "core/partners.hpp"

namespace prm {

// The pseudo top-level label (also in partner-relay.m4 and the tables tool).
inline constexpr std::string_view kPseudoLabel = "PTNRELAY";

// True when ADDR names the pseudo label as a whole word anywhere
// (case-insensitive): "x.PTNRELAY", "\"a@b.c.ptnrelay\"@here", "a@b.ptnrelay.".
bool names_pseudo_domain(std::string_view addr);

// The map key of partner ID in a pseudo address: '.' becomes '=' so the
// key stays one Sendmail token.
std::string pseudo_partner_key(std::string_view id);

// The pseudo address "<local@domain.KEY.PTNRELAY>" for RCPT ("<local@domain>",
// brackets optional), or nullopt when RCPT has no domain, a source route or
// a domain literal.
std::optional<std::string> pseudo_address(std::string_view rcpt, std::string_view partner_id);

// The parameters to add the pseudo recipient with: the client's NOTIFY and
// ORCPT as given, ORCPT=rfc822;<original, xtext> when it sent none.
std::string pseudo_rcpt_args(std::string_view rcpt, const std::vector<std::string>& args);

// True when every recipient of MSG that is not a typed pseudo address can be
// rewritten (and there is at least one).
bool sendmail_rcpts_routable(const MessageFacts& msg);

// Append a recipient deletion for every pseudo-domain recipient of MSG.
void delete_pseudo_rcpts(const MessageFacts& msg, std::vector<Edit>& edits);

// Append, for every other recipient, its deletion and the pseudo recipient
// for PARTNER (call only when sendmail_rcpts_routable(MSG)).
void rewrite_rcpts(const MessageFacts& msg, const Partner& partner, std::vector<Edit>& edits);

}  // namespace prm
