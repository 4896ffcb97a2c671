#pragma once

// Why a TLS handshake failed, in a small fixed set an admin can act on and a metric label can
// carry (popgate_tls_handshakes_total{reason}): mbedTLS has dozens of error codes, and 2.28 and
// 3.6 name the same failure differently. The proxy maps this onto metrics' own enum, and adds
// the two reasons only it can see (the handshake deadline, the client closing mid-handshake).

#include <string_view>

namespace popgate::tls {

enum class FailureReason {
  ProtocolVersion,   // no TLS version in common: a TLS 1.0/1.1 client, or 1.2 under "1.3"
  NoSharedCipher,    // no cipher suite (or group, or signature algorithm) in common
  BadCertificate,    // a certificate was refused: the client's (client_ca), or ours by the client
  UnexpectedMessage, // a handshake message out of order
  DecodeError,       // not TLS at all (plaintext on an implicit port, a scanner), or malformed
  PeerAlert,         // the client aborted with an alert that says nothing more specific
  Other,             // anything else (internal errors, resource limits)
};

// "protocol_version", "no_shared_cipher", "bad_certificate", "unexpected_message",
// "decode_error", "peer_alert", "other".
std::string_view to_string(FailureReason reason);

// `code` is the mbedTLS error the handshake returned; `peer_alert` is the description of the
// fatal alert the client sent (RFC 8446 §6) when code is MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE,
// else -1.
FailureReason classify_failure(int code, int peer_alert);

} // namespace popgate::tls
