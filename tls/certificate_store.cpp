#include "tls/certificate_store.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tls/mbedtls_compat.hpp"
#include "tls/mbedtls_error.hpp"

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>

namespace popgate::tls {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

Result<std::string, std::string> read_file(const std::string& path) {
  if (path.empty()) {
    return unexpected(std::string("no file given; set the path in [[tls.certificate]]"));
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return unexpected("cannot read " + path + ": " +
                      (err != 0 ? std::strerror(err) : "cannot open file") +
                      "; check the path and that popgate may read it");
  }
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}

bool is_pem(const std::string& data) { return data.find("-----BEGIN ") != std::string::npos; }

// mbedTLS parses PEM only from a NUL-terminated buffer whose length counts the NUL, and DER
// only from the exact bytes.
std::size_t parse_length(const std::string& data) {
  return is_pem(data) ? data.size() + 1 : data.size();
}

const unsigned char* bytes(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.c_str());
}

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::int64_t unix_seconds(const mbedtls_x509_time& t) {
  const std::int64_t days =
      days_from_civil(t.year, static_cast<unsigned>(t.mon), static_cast<unsigned>(t.day));
  return days * 86400 + std::int64_t{t.hour} * 3600 + std::int64_t{t.min} * 60 + t.sec;
}

// RFC 5280 §4.2.1.6: dNSName entries of subjectAltName, kept raw by mbedTLS in both 2.28 and
// 3.6 with their context-specific tag.
std::vector<std::string> san_dns_names(const mbedtls_x509_crt& crt) {
  std::vector<std::string> names;
  constexpr int kDnsTag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME;
  for (const mbedtls_x509_sequence* san = &crt.subject_alt_names; san != nullptr; san = san->next) {
    if (san->buf.tag == kDnsTag && san->buf.len > 0) {
      names.push_back(
          lower(std::string_view(reinterpret_cast<const char*>(san->buf.p), san->buf.len)));
    }
  }
  return names;
}

std::string subject_cn(const mbedtls_x509_crt& crt) {
  constexpr std::string_view kCnOid = MBEDTLS_OID_AT_CN;
  for (const mbedtls_x509_name* rdn = &crt.subject; rdn != nullptr; rdn = rdn->next) {
    const std::string_view oid(reinterpret_cast<const char*>(rdn->oid.p), rdn->oid.len);
    if (rdn->oid.p != nullptr && oid == kCnOid) {
      return {reinterpret_cast<const char*>(rdn->val.p), rdn->val.len};
    }
  }
  return {};
}

// Loads one spec into `out`, appending any problems to `errors`.
void load_one(const CertificateSpec& spec, std::size_t index, RandomFunction rng, void* rng_state,
              LoadedCertificate& out, std::vector<LoadError>& errors) {
  const auto fail = [&](std::string field, std::string message) {
    errors.push_back(LoadError{index, std::move(field), std::move(message)});
  };

  bool have_cert = false;
  if (auto pem = read_file(spec.cert_path); !pem) {
    fail("cert", pem.error());
  } else if (pem->empty()) {
    fail("cert", spec.cert_path + " is empty; it must hold a PEM certificate chain");
  } else {
    const int rc = mbedtls_x509_crt_parse(&out.chain, bytes(*pem), parse_length(*pem));
    if (rc < 0) {
      fail("cert", "cannot parse " + spec.cert_path +
                       " as a PEM certificate chain: " + mbedtls_error_text(rc));
    } else if (rc > 0) {
      fail("cert", std::to_string(rc) + " certificate(s) in " + spec.cert_path +
                       " could not be parsed; fix or remove them");
    } else {
      have_cert = true;
    }
  }

  bool have_key = false;
  if (auto pem = read_file(spec.key_path); !pem) {
    fail("key", pem.error());
  } else {
#if POPGATE_MBEDTLS_3
    const int rc =
        mbedtls_pk_parse_key(&out.key, bytes(*pem), parse_length(*pem), nullptr, 0, rng, rng_state);
#else
    const int rc = mbedtls_pk_parse_key(&out.key, bytes(*pem), parse_length(*pem), nullptr, 0);
#endif
    if (rc == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
      fail("key", spec.key_path + " is encrypted; give popgate an unencrypted key "
                                  "(openssl pkey -in KEY -out PLAIN) readable only by its user");
    } else if (rc != 0) {
      fail("key",
           "cannot parse " + spec.key_path + " as a PEM private key: " + mbedtls_error_text(rc));
    } else {
      have_key = true;
    }
  }
#if !POPGATE_MBEDTLS_3
  (void)rng;
  (void)rng_state;
#endif

  if (have_cert && have_key) {
#if POPGATE_MBEDTLS_3
    const int rc = mbedtls_pk_check_pair(&out.chain.pk, &out.key, rng, rng_state);
#else
    const int rc = mbedtls_pk_check_pair(&out.chain.pk, &out.key);
#endif
    if (rc != 0) {
      fail("key", "the key in " + spec.key_path + " does not match the certificate in " +
                      spec.cert_path + " (" + mbedtls_error_text(rc) +
                      "); install the key issued with this certificate");
    }
  }

  if (!spec.server_names.empty()) {
    for (const std::string& name : spec.server_names) {
      if (name.empty() || name == "*" || name.find('*', 1) != std::string::npos ||
          (name[0] == '*' && !name.starts_with("*."))) {
        fail("server_names",
             "server name \"" + name + R"(" is not a host name or a "*.domain" wildcard)");
      }
      out.names.push_back(lower(name));
    }
  } else if (have_cert) {
    out.names = san_dns_names(out.chain);
    if (out.names.empty()) {
      const std::string cn = subject_cn(out.chain);
      if (!cn.empty()) {
        out.names.push_back(lower(cn));
      }
    }
  }

  if (have_cert) {
    out.info.name = out.names.empty() ? subject_cn(out.chain) : out.names.front();
    out.info.not_after = unix_seconds(out.chain.valid_to);
  }
}

} // namespace

LoadedCertificate::LoadedCertificate() {
  mbedtls_x509_crt_init(&chain);
  mbedtls_pk_init(&key);
}

LoadedCertificate::~LoadedCertificate() {
  mbedtls_pk_free(&key);
  mbedtls_x509_crt_free(&chain);
}

bool server_name_matches(std::string_view pattern, std::string_view name) {
  if (!pattern.starts_with("*.")) {
    return pattern == name;
  }
  const std::size_t dot = name.find('.');
  return dot != std::string_view::npos && dot > 0 && name.substr(dot) == pattern.substr(1);
}

Result<CertificateStore, std::vector<LoadError>>
CertificateStore::load(const std::vector<CertificateSpec>& specs, RandomFunction rng,
                       void* rng_state) {
  std::vector<LoadError> errors;
  if (specs.empty()) {
    errors.push_back(LoadError{LoadError::kNoCertificate, "certificates",
                               "no certificate configured; add a [[tls.certificate]] with "
                               "cert and key"});
    return unexpected(std::move(errors));
  }
  CertificateStore store;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    auto cert = std::make_unique<LoadedCertificate>();
    load_one(specs[i], i, rng, rng_state, *cert, errors);
    store.certificates_.push_back(std::move(cert));
  }
  if (!errors.empty()) {
    return unexpected(std::move(errors));
  }
  return store;
}

const LoadedCertificate* CertificateStore::find(std::string_view server_name) const {
  const std::string name = lower(server_name);
  for (const auto& cert : certificates_) {
    for (const std::string& pattern : cert->names) {
      if (pattern == name) {
        return cert.get();
      }
    }
  }
  for (const auto& cert : certificates_) {
    for (const std::string& pattern : cert->names) {
      if (pattern.starts_with("*.") && server_name_matches(pattern, name)) {
        return cert.get();
      }
    }
  }
  return nullptr;
}

std::vector<CertificateInfo> CertificateStore::infos() const {
  std::vector<CertificateInfo> out;
  out.reserve(certificates_.size());
  for (const auto& cert : certificates_) {
    out.push_back(cert->info);
  }
  return out;
}

} // namespace popgate::tls
