#pragma once

// Plain structs in and out of the TLS core: what the proxy fills in from [tls] in the config
// (SPEC section 3), and what loading it can report.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace popgate::tls {

// One [[tls.certificate]] entry.
struct CertificateSpec {
  std::string cert_path; // PEM: the leaf first, then any intermediates
  std::string key_path;  // PEM: PKCS#8, SEC1 (EC) or PKCS#1 (RSA); must not be encrypted
  // Names this certificate answers for in SNI (RFC 6066 §3). Empty = the certificate's
  // subjectAltName DNS names, or its subject CN when it has none. "*.example.com" matches
  // exactly one label ("a.example.com", not "example.com" nor "a.b.example.com").
  std::vector<std::string> server_names;
};

struct ServerOptions {
  std::string min_version = "1.2";       // "1.2" | "1.3"
  std::vector<std::string> ciphersuites; // mbedTLS or IANA names; empty = ECDHE + AEAD built-ins
  bool session_tickets = true;           // RFC 5077 (TLS 1.2) / RFC 8446 §4.6.1 (TLS 1.3)
  std::chrono::seconds ticket_lifetime{3600};
  // Ticket keys shared by replicas (format in tls/ticket_keys.hpp); "" = keys made in the
  // process, kept across reloads (ServerContext::create's `replaces`).
  std::string ticket_key_file;
  std::string client_ca; // PEM bundle; non-empty = require and verify client certificates
  std::vector<CertificateSpec> certificates; // at least one; the first is the default
};

// What went wrong while building a ServerContext. Loading reports every error it finds, not
// only the first, so `popgate --check` can list them all.
struct LoadError {
  static constexpr std::size_t kNoCertificate = std::numeric_limits<std::size_t>::max();
  std::size_t certificate = kNoCertificate; // index into ServerOptions::certificates
  std::string field;   // "cert", "key", "server_names", "client_ca", "ciphersuites",
                       // "min_version", "ticket_lifetime", "ticket_key_file",
                       // "certificates" or "library"
  std::string message; // what failed and what to do; quotes mbedtls_strerror text
};

// For the certificate_expiry_timestamp_seconds{name} metric and startup logs.
struct CertificateInfo {
  std::string name;       // first server name, or the subject CN
  std::int64_t not_after; // end of validity, unix seconds (UTC)
};

} // namespace popgate::tls
