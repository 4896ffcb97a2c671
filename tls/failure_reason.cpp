#include "tls/failure_reason.hpp"

#include "tls/mbedtls_compat.hpp"

#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>

namespace popgate::tls {
namespace {

// What the client's own fatal alert says (RFC 8446 §6.2, RFC 5246 §7.2.2).
FailureReason classify_alert(int alert) {
  switch (alert) {
  case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION:
    return FailureReason::ProtocolVersion;
  case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE:
  case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY:
    return FailureReason::NoSharedCipher;
  // The client does not trust popgate's certificate: expired, wrong name, unknown issuer.
  case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
  case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT:
  case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED:
  case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED:
  case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN:
  case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
    return FailureReason::BadCertificate;
  case MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE:
    return FailureReason::UnexpectedMessage;
  case MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR:
  case MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER:
    return FailureReason::DecodeError;
  default:
    return FailureReason::PeerAlert;
  }
}

} // namespace

std::string_view to_string(FailureReason reason) {
  switch (reason) {
  case FailureReason::ProtocolVersion:
    return "protocol_version";
  case FailureReason::NoSharedCipher:
    return "no_shared_cipher";
  case FailureReason::BadCertificate:
    return "bad_certificate";
  case FailureReason::UnexpectedMessage:
    return "unexpected_message";
  case FailureReason::DecodeError:
    return "decode_error";
  case FailureReason::PeerAlert:
    return "peer_alert";
  case FailureReason::Other:
    return "other";
  }
  return "other";
}

// The codes differ between 2.28 and 3.6 (3.x merged the per-message BAD_HS_* codes into
// DECODE_ERROR, HANDSHAKE_FAILURE and friends), hence a case per code that exists.
FailureReason classify_failure(int code, int peer_alert) {
  switch (code) {
  case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
    return classify_alert(peer_alert);
#if defined(MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION)
  case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION:
#endif
#if defined(MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION)
  case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
#endif
    return FailureReason::ProtocolVersion;
#if defined(MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN)
  case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
#endif
#if defined(MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE)
  case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
#endif
#if defined(MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE)
  case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
#endif
    return FailureReason::NoSharedCipher;
#if defined(MBEDTLS_ERR_SSL_BAD_CERTIFICATE)
  case MBEDTLS_ERR_SSL_BAD_CERTIFICATE:
#endif
#if defined(MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE)
  case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE:
#endif
  case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
#if defined(MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED)
  case MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED:
#endif
  case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
    return FailureReason::BadCertificate;
  case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
  case MBEDTLS_ERR_SSL_UNEXPECTED_RECORD:
    return FailureReason::UnexpectedMessage;
  case MBEDTLS_ERR_SSL_INVALID_RECORD:
#if defined(MBEDTLS_ERR_SSL_DECODE_ERROR)
  case MBEDTLS_ERR_SSL_DECODE_ERROR:
#endif
#if defined(MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER)
  case MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER:
#endif
#if defined(MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO)
  case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO:
#endif
#if defined(MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE)
  case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE:
#endif
    return FailureReason::DecodeError;
  default:
    return FailureReason::Other;
  }
}

} // namespace popgate::tls
