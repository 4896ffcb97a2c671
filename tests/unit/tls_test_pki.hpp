#pragma once

// Test-time PKI for the TLS unit tests: keys and X.509 certificates made with mbedTLS's own
// writers, and a per-test temporary directory to put them in. Nothing is checked into the tree.

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tls/mbedtls_compat.hpp"

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include <gtest/gtest.h>

namespace popgate::tls::testing {

// One DRBG for all test-side randomness (keys, the client engine).
class TestRandom {
public:
  static TestRandom& get() {
    static TestRandom instance;
    return instance;
  }
  static int generate(void* self, unsigned char* out, std::size_t length) {
    return mbedtls_ctr_drbg_random(&static_cast<TestRandom*>(self)->drbg_, out, length);
  }
  void* state() { return this; }

private:
  TestRandom() {
#if POPGATE_MBEDTLS_3
    // Key generation and parsing may go through PSA in 3.x.
    if (psa_crypto_init() != PSA_SUCCESS) {
      throw std::runtime_error("psa_crypto_init failed");
    }
#endif
    mbedtls_entropy_init(&entropy_);
    mbedtls_ctr_drbg_init(&drbg_);
    if (mbedtls_ctr_drbg_seed(&drbg_, mbedtls_entropy_func, &entropy_, nullptr, 0) != 0) {
      throw std::runtime_error("cannot seed the test DRBG");
    }
  }
  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
};

inline void check(int rc, const char* what) {
  if (rc < 0) {
    throw std::runtime_error(std::string(what) + " failed: " + std::to_string(rc));
  }
}

// RAII wrapper so early exits free the key.
struct PkKey {
  PkKey() { mbedtls_pk_init(&pk); }
  ~PkKey() { mbedtls_pk_free(&pk); }
  PkKey(const PkKey&) = delete;
  PkKey& operator=(const PkKey&) = delete;

  void parse(const std::string& pem) {
    const auto* data = reinterpret_cast<const unsigned char*>(pem.c_str());
#if POPGATE_MBEDTLS_3
    check(mbedtls_pk_parse_key(&pk, data, pem.size() + 1, nullptr, 0, TestRandom::generate,
                               TestRandom::get().state()),
          "mbedtls_pk_parse_key");
#else
    check(mbedtls_pk_parse_key(&pk, data, pem.size() + 1, nullptr, 0), "mbedtls_pk_parse_key");
#endif
  }
  mbedtls_pk_context pk;
};

enum class KeyKind { EcdsaP256, Rsa2048 };

// SEC1 (EC) or PKCS#1 (RSA) PEM.
inline std::string generate_key_pem(KeyKind kind) {
  PkKey key;
  TestRandom& rng = TestRandom::get();
  if (kind == KeyKind::EcdsaP256) {
    check(mbedtls_pk_setup(&key.pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), "pk_setup");
    check(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key.pk), TestRandom::generate,
                              rng.state()),
          "mbedtls_ecp_gen_key");
  } else {
    check(mbedtls_pk_setup(&key.pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), "pk_setup");
    check(
        mbedtls_rsa_gen_key(mbedtls_pk_rsa(key.pk), TestRandom::generate, rng.state(), 2048, 65537),
        "mbedtls_rsa_gen_key");
  }
  std::array<unsigned char, 8192> pem{};
  check(mbedtls_pk_write_key_pem(&key.pk, pem.data(), pem.size()), "mbedtls_pk_write_key_pem");
  return {reinterpret_cast<const char*>(pem.data())};
}

// RSA key generation costs a second or more; every test shares one RSA key per process.
inline const std::string& shared_rsa_key_pem() {
  static const std::string pem = generate_key_pem(KeyKind::Rsa2048);
  return pem;
}

struct TestCert {
  std::string cert_pem;
  std::string key_pem;
  std::string subject; // "CN=..."
};

struct CertParams {
  KeyKind key = KeyKind::EcdsaP256;
  std::string cn = "pop.example.com";
  std::vector<std::string> dns;     // subjectAltName dNSName entries
  const TestCert* issuer = nullptr; // nullptr = self-signed
  bool is_ca = false;
  std::string not_before = "20200101000000";
  std::string not_after = "20991231235959";
};

// DER TLV with a short or long-form length (RFC 5280 uses X.690 DER).
inline std::string der(unsigned char tag, const std::string& value) {
  std::string out(1, static_cast<char>(tag));
  const std::size_t n = value.size();
  if (n < 0x80) {
    out.push_back(static_cast<char>(n));
  } else if (n < 0x100) {
    out.push_back('\x81');
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back('\x82');
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xff));
  }
  return out + value;
}

// Re-wraps a SEC1 or PKCS#1 key as an unencrypted PKCS#8 PrivateKeyInfo (RFC 5208 §5), the
// "BEGIN PRIVATE KEY" form openssl and most ACME clients write.
inline std::string to_pkcs8_pem(const std::string& key_pem) {
  PkKey key;
  key.parse(key_pem);
  std::array<unsigned char, 4096> buffer{};
  const int written = mbedtls_pk_write_key_der(&key.pk, buffer.data(), buffer.size());
  check(written, "mbedtls_pk_write_key_der");
  // mbedtls_pk_write_key_der writes at the end of the buffer.
  const std::string inner(reinterpret_cast<const char*>(buffer.data() + buffer.size() -
                                                        static_cast<std::size_t>(written)),
                          static_cast<std::size_t>(written));
  std::string algorithm;
  if (mbedtls_pk_get_type(&key.pk) == MBEDTLS_PK_RSA) {
    algorithm = der(MBEDTLS_ASN1_OID, MBEDTLS_OID_PKCS1_RSA) + std::string("\x05\x00", 2);
  } else {
    algorithm = der(MBEDTLS_ASN1_OID, MBEDTLS_OID_EC_ALG_UNRESTRICTED) +
                der(MBEDTLS_ASN1_OID, MBEDTLS_OID_EC_GRP_SECP256R1);
  }
  const std::string info =
      der(MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE,
          std::string("\x02\x01\x00", 3) +
              der(MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE, algorithm) +
              der(MBEDTLS_ASN1_OCTET_STRING, inner));
  std::array<unsigned char, 8192> b64{};
  std::size_t length = 0;
  check(mbedtls_base64_encode(b64.data(), b64.size(), &length,
                              reinterpret_cast<const unsigned char*>(info.data()), info.size()),
        "mbedtls_base64_encode");
  std::string pem = "-----BEGIN PRIVATE KEY-----\n";
  for (std::size_t at = 0; at < length; at += 64) {
    pem.append(reinterpret_cast<const char*>(b64.data()) + at,
               std::min<std::size_t>(64, length - at));
    pem += "\n";
  }
  return pem + "-----END PRIVATE KEY-----\n";
}

inline TestCert make_cert(const CertParams& params) {
  TestCert result;
  result.key_pem =
      params.key == KeyKind::Rsa2048 ? shared_rsa_key_pem() : generate_key_pem(KeyKind::EcdsaP256);
  result.subject = "CN=" + params.cn;

  PkKey subject_key;
  subject_key.parse(result.key_pem);
  PkKey issuer_key;
  if (params.issuer != nullptr) {
    issuer_key.parse(params.issuer->key_pem);
  }

  mbedtls_x509write_cert crt;
  mbedtls_x509write_crt_init(&crt);
  struct Cleanup {
    mbedtls_x509write_cert* c;
    ~Cleanup() { mbedtls_x509write_crt_free(c); }
  } cleanup{&crt};

  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt, &subject_key.pk);
  mbedtls_x509write_crt_set_issuer_key(&crt, params.issuer ? &issuer_key.pk : &subject_key.pk);
  check(mbedtls_x509write_crt_set_subject_name(&crt, result.subject.c_str()), "subject");
  check(mbedtls_x509write_crt_set_issuer_name(&crt, params.issuer ? params.issuer->subject.c_str()
                                                                  : result.subject.c_str()),
        "issuer");
  static unsigned serial_counter = 1;
  const unsigned serial = serial_counter++;
#if POPGATE_MBEDTLS_3
  std::array<unsigned char, 4> raw = {
      static_cast<unsigned char>(serial >> 24), static_cast<unsigned char>(serial >> 16),
      static_cast<unsigned char>(serial >> 8), static_cast<unsigned char>(serial)};
  check(mbedtls_x509write_crt_set_serial_raw(&crt, raw.data(), raw.size()), "serial");
#else
  mbedtls_mpi mpi;
  mbedtls_mpi_init(&mpi);
  check(mbedtls_mpi_lset(&mpi, static_cast<mbedtls_mpi_sint>(serial)), "serial");
  const int serial_rc = mbedtls_x509write_crt_set_serial(&crt, &mpi);
  mbedtls_mpi_free(&mpi);
  check(serial_rc, "serial");
#endif
  check(
      mbedtls_x509write_crt_set_validity(&crt, params.not_before.c_str(), params.not_after.c_str()),
      "validity");
  check(mbedtls_x509write_crt_set_basic_constraints(&crt, params.is_ca ? 1 : 0, -1),
        "basic constraints");
  if (!params.dns.empty()) {
    // RFC 5280 §4.2.1.6: SEQUENCE OF GeneralName, dNSName is [2] IMPLICIT IA5String.
    std::string names;
    for (const std::string& name : params.dns) {
      names += der(MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME, name);
    }
    const std::string san = der(MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE, names);
    check(mbedtls_x509write_crt_set_extension(
              &crt, MBEDTLS_OID_SUBJECT_ALT_NAME, sizeof(MBEDTLS_OID_SUBJECT_ALT_NAME) - 1, 0,
              reinterpret_cast<const unsigned char*>(san.data()), san.size()),
          "subjectAltName");
  }
  std::array<unsigned char, 8192> pem{};
  check(mbedtls_x509write_crt_pem(&crt, pem.data(), pem.size(), TestRandom::generate,
                                  TestRandom::get().state()),
        "mbedtls_x509write_crt_pem");
  result.cert_pem = reinterpret_cast<const char*>(pem.data());
  return result;
}

// A fresh directory per test, removed when the test ends.
class TempDir {
public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "popgate-tls-";
    name += info != nullptr ? info->name() : "test";
    for (char& c : name) {
      if (c == '/') {
        c = '_';
      }
    }
    std::string templ = (std::filesystem::temp_directory_path() / (name + "-XXXXXX")).string();
    if (mkdtemp(templ.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed for " + templ);
    }
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // NOLINTNEXTLINE(modernize-use-nodiscard): called for its effect; the path is a convenience
  std::string write(const std::string& file, const std::string& content) const {
    const std::filesystem::path p = path_ / file;
    std::ofstream out(p, std::ios::binary);
    out << content;
    return p.string();
  }
  [[nodiscard]] std::string path(const std::string& file) const { return (path_ / file).string(); }

private:
  std::filesystem::path path_;
};

} // namespace popgate::tls::testing
