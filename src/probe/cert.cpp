// cert.cpp - the certificate facts of partner-relay-probe (cert.hpp).
#include "probe/cert.hpp"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <vector>

namespace prm::probe {
namespace {

struct BioFree { void operator()(BIO* p) const { BIO_free(p); } };

// One X509 name in RFC 2253 form.
std::string name_text(const X509_NAME* name) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "?";
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : "";
}

// An ASN1 time as ISO 8601 UTC.
std::string time_text(const ASN1_TIME* t) {
    struct tm tm {};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return "?";
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// "AA:BB:..." of BYTES.
std::string hex_colons(const unsigned char* bytes, unsigned n) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned i = 0; i < n; i++) {
        if (i) out += ':';
        out += hex[bytes[i] >> 4];
        out += hex[bytes[i] & 15];
    }
    return out;
}

// The subjectAltName DNS names and IP addresses of CERT (at most 50).
std::vector<std::string> alt_names(X509* cert) {
    std::vector<std::string> out;
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (names == nullptr) return out;
    for (int i = 0; i < sk_GENERAL_NAME_num(names) && out.size() < 50; i++) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS) {
            const unsigned char* d = ASN1_STRING_get0_data(g->d.dNSName);
            out.emplace_back(reinterpret_cast<const char*>(d), static_cast<std::size_t>(ASN1_STRING_length(g->d.dNSName)));
        } else if (g->type == GEN_IPADD) {
            const unsigned char* d = ASN1_STRING_get0_data(g->d.iPAddress);
            int n = ASN1_STRING_length(g->d.iPAddress);
            char buf[INET6_ADDRSTRLEN] = {};
            if ((n == 4 || n == 16) && inet_ntop(n == 4 ? AF_INET : AF_INET6, d, buf, sizeof buf)) out.emplace_back(buf);
        }
    }
    GENERAL_NAMES_free(names);
    return out;
}

// The subject's common name, or "".
std::string common_name(X509* cert) {
    X509_NAME* subj = X509_get_subject_name(cert);
    int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    if (i < 0) return {};
    const ASN1_STRING* d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(d)), static_cast<std::size_t>(ASN1_STRING_length(d)));
}

}  // namespace

// Fill C's facts (names, issuer, expiry, fingerprint) from CERT; CLEAN sanitises server text.
void read_cert(X509* cert, CertInfo& c, const std::function<std::string(std::string_view)>& clean) {
    c.present = true;
    c.subject = clean(name_text(X509_get_subject_name(cert)));
    c.issuer = clean(name_text(X509_get_issuer_name(cert)));
    c.not_after = time_text(X509_get0_notAfter(cert));
    c.common_name = clean(common_name(cert));
    for (const std::string& n : alt_names(cert)) c.names.push_back(clean(n));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) == 1) c.sha256 = hex_colons(md, n);
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert)) == 1) {
        c.days_left = days == 0 && secs < 0 ? -1 : days;  // expired today: -1, not 0
        c.expires_soon = c.days_left < kExpiryWarnDays;
    }
}


}  // namespace prm::probe
