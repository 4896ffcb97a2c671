#pragma once

// Loads the configured certificate chains and keys, and picks one by SNI (RFC 6066 §3).
//
// Validation at load: the files must be readable PEM, the key unencrypted, and the key must be
// the certificate's (mbedtls_pk_check_pair). An expired or not-yet-valid certificate still
// loads, deliberately: an admin may be mid-renewal, and refusing to start would take POP3S down
// for everyone. Its end of validity is exported in CertificateInfo::not_after for alerting.

#include <memory>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "tls/options.hpp"

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

namespace popgate::tls {

// One loaded certificate. Its address is stable for the store's lifetime: the SSL config and
// every handshake point at `chain` and `key`.
struct LoadedCertificate {
  LoadedCertificate();
  ~LoadedCertificate();
  LoadedCertificate(const LoadedCertificate&) = delete;
  LoadedCertificate& operator=(const LoadedCertificate&) = delete;

  // mbedTLS takes these by non-const pointer but only reads them during a handshake (RSA
  // blinding state has its own mutex under MBEDTLS_THREADING_C), so one store serves every
  // thread.
  mutable mbedtls_x509_crt chain;
  mutable mbedtls_pk_context key;
  std::vector<std::string> names; // lower case; may start with "*."
  CertificateInfo info;
};

using RandomFunction = int (*)(void*, unsigned char*, std::size_t);

class CertificateStore {
public:
  // Loads every spec; on failure returns one LoadError per problem found, each carrying the
  // index of its spec. The RNG is needed by mbedTLS 3.x to parse and check keys.
  static Result<CertificateStore, std::vector<LoadError>>
  load(const std::vector<CertificateSpec>& specs, RandomFunction rng, void* rng_state);

  // The certificate for a ClientHello server_name, compared case-insensitively; an exact name
  // wins over a wildcard. nullptr when nothing matches (the caller keeps the default).
  [[nodiscard]] const LoadedCertificate* find(std::string_view server_name) const;

  [[nodiscard]] const LoadedCertificate& default_certificate() const {
    return *certificates_.front();
  }
  [[nodiscard]] std::vector<CertificateInfo> infos() const;

private:
  std::vector<std::unique_ptr<LoadedCertificate>> certificates_;
};

// RFC 6125 §6.4.3, restricted as browsers do: "*" only as the whole left-most label, matching
// exactly one non-empty label. Both arguments must already be lower case.
bool server_name_matches(std::string_view pattern, std::string_view name);

} // namespace popgate::tls
