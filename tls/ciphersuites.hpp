#pragma once

// Turning the configured cipher suite names into mbedTLS suite ids, and the built-in list.
//
// popgate only offers forward-secret AEAD suites: ECDHE key exchange (RFC 8422) with AES-GCM
// (RFC 5289), AES-CCM (RFC 7251) or ChaCha20-Poly1305 (RFC 7905), and the TLS 1.3 suites
// (RFC 8446 §B.4) where the build has TLS 1.3. CBC suites are refused: they are the ones that
// Lucky Thirteen and POODLE-style padding oracles attack, and RFC 9325 §4.2 recommends AEAD only.

#include <string>
#include <vector>

#include "base/result.hpp"

namespace popgate::tls {

struct SuiteList {
  std::vector<int> ids; // terminated by 0, as mbedtls_ssl_conf_ciphersuites() wants
  bool has_tls12 = false;
  bool has_tls13 = false;
};

// Names may be mbedTLS's ("TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256") or IANA's
// ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"), in any case.
// Empty `names` gives the built-in list. The error is a message for LoadError::message.
Result<SuiteList, std::string> resolve_ciphersuites(const std::vector<std::string>& names);

} // namespace popgate::tls
