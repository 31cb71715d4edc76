// fetch.hpp - the broker's names for the shared token fetch (oauth/fetch.hpp).
//
// What: partner-relay-tokend's code says tokend::fetch_token; the fetch
// itself lives in libprmoauth (src/oauth), shared with partner-relay-probe.
// Contract and thread safety: those of oauth/fetch.hpp.
#pragma once

#include "oauth/fetch.hpp"

namespace prm::tokend {
using oauth::FetchRequest;
using oauth::FetchResult;
using oauth::fetch_token;
using oauth::parse_token_reply;
using oauth::request_for;
}  // namespace prm::tokend
