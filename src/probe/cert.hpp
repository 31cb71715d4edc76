// cert.hpp - what partner-relay-probe reports of a relay's certificate.
//
// What: read_cert() fills a CertInfo (probe.hpp) from the server
// certificate: subject, issuer, subjectAltName names, CN, notAfter, the
// SHA-256 fingerprint in tls_fingerprint form, the days left. Verification
// is the caller's (probe.cpp: chain and name, or the fingerprint).
// Contract: every text taken from the certificate goes through CLEAN (the
// probe's sanitiser). Limits: at most 50 subjectAltName entries.
// Thread safety: pure functions.
#pragma once

#include <openssl/x509.h>

#include <functional>
#include <string>
#include <string_view>

#include "probe/probe.hpp"

namespace prm::probe {

// Fill C's facts (names, issuer, expiry, fingerprint) from CERT; CLEAN sanitises server text.
void read_cert(X509* cert, CertInfo& c, const std::function<std::string(std::string_view)>& clean);

}  // namespace prm::probe
