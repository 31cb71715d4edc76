// sha256.hpp - SHA-256 (FIPS 180-4) for the published-credentials stamp.
//
// What: a small self-contained SHA-256 so the pure core needs no crypto
// library. Used only to fingerprint a partner's credential-relevant fields
// (published.hpp); not for anything where speed matters.
//
// Thread safety: pure functions. Limits: inputs up to 2^61 bytes.
#pragma once

#include <string>
#include <string_view>

namespace prm {

// The SHA-256 digest of DATA as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);

}  // namespace prm
