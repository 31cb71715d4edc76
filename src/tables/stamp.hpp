// stamp.hpp - write the published-credentials stamp after the tables.
//
// What: once install_tables() (Postfix) or install_sendmail_maps()
// (Sendmail) has swapped the new tables in, write DIR/published
// (format: core/published.hpp) naming the partners just published, so the
// milter routes exactly those. partner-relay-sync publishes through the
// same install functions and so writes the same stamp.
//
// Contract: atomic (temporary file, fsync, rename); a fresh random salt per
// write; mode 0640, and when run as root, group = the primary group of the
// milter's [milter] user, so the milter reads it after dropping root
// (others cannot: the salted digests of weak passwords could be guessed
// offline). Never writes a secret in clear.
//
// Thread safety: none needed (one-shot tools).
#pragma once

#include <string>
#include <vector>

#include "core/published.hpp"

namespace prm {

// Write DIR/published for PARTNERS; GROUP_USER is the milter's user (may be
// empty). Returns "" or the error ("file: why").
std::string write_stamp(const std::string& dir, const std::vector<PublishedPartner>& partners,
                        const std::string& group_user);

}  // namespace prm
