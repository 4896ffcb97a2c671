// Handshake failures map onto a small fixed set of reasons, from mbedTLS's error code (2.28's
// and 3.6's names alike) or from the client's own alert; real failed handshakes through an
// Engine get the reason an admin would expect.

#include "tls/failure_reason.hpp"

#include <array>
#include <string>
#include <variant>

#include <gtest/gtest.h>

#include "tls/engine.hpp"
#include "tls/mbedtls_compat.hpp"
#include "tls_test_pki.hpp"

#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>

namespace popgate::tls {
namespace {

struct CodeCase {
  std::string_view name;
  int code;
  int alert;
  FailureReason expected;
};

class FailureReasonTest : public ::testing::TestWithParam<CodeCase> {};

TEST_P(FailureReasonTest, MapsToTheDocumentedReason) {
  EXPECT_EQ(to_string(classify_failure(GetParam().code, GetParam().alert)),
            to_string(GetParam().expected));
}

const auto kCodes = std::to_array<CodeCase>({
#if POPGATE_MBEDTLS_3
  {"BadProtocolVersion", MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION, -1, FailureReason::ProtocolVersion},
      {"HandshakeFailureIsNoSharedCipher", MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE, -1,
       FailureReason::NoSharedCipher},
      {"BadCertificate", MBEDTLS_ERR_SSL_BAD_CERTIFICATE, -1, FailureReason::BadCertificate},
      {"DecodeError", MBEDTLS_ERR_SSL_DECODE_ERROR, -1, FailureReason::DecodeError},
      {"IllegalParameter", MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER, -1, FailureReason::DecodeError},
#else
  {"BadHsProtocolVersion", MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION, -1,
   FailureReason::ProtocolVersion},
      {"NoCipherChosen", MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN, -1, FailureReason::NoSharedCipher},
      {"NoUsableCiphersuite", MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE, -1,
       FailureReason::NoSharedCipher},
      {"BadHsCertificate", MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE, -1, FailureReason::BadCertificate},
      {"BadHsClientHello", MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO, -1, FailureReason::DecodeError},
#endif
      {"NoClientCertificate", MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE, -1,
       FailureReason::BadCertificate},
      {"ClientCertificateNotTrusted", MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, -1,
       FailureReason::BadCertificate},
      {"InvalidRecordIsDecodeError", MBEDTLS_ERR_SSL_INVALID_RECORD, -1,
       FailureReason::DecodeError},
      {"UnexpectedMessage", MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE, -1,
       FailureReason::UnexpectedMessage},
      {"AllocFailedIsOther", MBEDTLS_ERR_SSL_ALLOC_FAILED, -1, FailureReason::Other},
      {"ClientDistrustsOurCa", MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE,
       MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA, FailureReason::BadCertificate},
      {"ClientSaysCertificateExpired", MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE,
       MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED, FailureReason::BadCertificate},
      {"ClientSaysProtocolVersion", MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE,
       MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION, FailureReason::ProtocolVersion},
      {"ClientSaysInsufficientSecurity", MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE,
       MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY, FailureReason::NoSharedCipher},
      {"ClientSaysInternalError", MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE,
       MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR, FailureReason::PeerAlert},
      {"AlertWithoutItsDescription", MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE, -1,
       FailureReason::PeerAlert},
});

INSTANTIATE_TEST_SUITE_P(Codes, FailureReasonTest, ::testing::ValuesIn(kCodes),
                         [](const auto& test) { return std::string(test.param.name); });

TEST(FailureReason, LabelsAreTheDocumentedStrings) {
  EXPECT_EQ(to_string(FailureReason::ProtocolVersion), "protocol_version");
  EXPECT_EQ(to_string(FailureReason::NoSharedCipher), "no_shared_cipher");
  EXPECT_EQ(to_string(FailureReason::BadCertificate), "bad_certificate");
  EXPECT_EQ(to_string(FailureReason::UnexpectedMessage), "unexpected_message");
  EXPECT_EQ(to_string(FailureReason::DecodeError), "decode_error");
  EXPECT_EQ(to_string(FailureReason::PeerAlert), "peer_alert");
  EXPECT_EQ(to_string(FailureReason::Other), "other");
}

// ---- through a real Engine ------------------------------------------------------------------

std::string u8(std::size_t v) { return {static_cast<char>(v & 0xff)}; }
std::string u16(std::size_t v) { return u8(v >> 8) + u8(v); }
std::string record(unsigned type, const std::string& body) {
  return u8(type) + u16(0x0301) + u16(body.size()) + body;
}

// A TLS 1.0 ClientHello (RFC 2246 §7.4.1.2): version 3.1, one ECDHE-GCM suite, no extensions.
std::string tls10_hello() {
  std::string body =
      u16(0x0301) + std::string(32, '\x5a') + u8(0) + u16(2) + u16(0xc02b) + u8(1) + u8(0);
  std::string message = u8(1) + u8(0) + u16(body.size()) + body;
  return record(22, message);
}

Failed fail_with(std::string_view input) {
  static const testing::TestCert cert = testing::make_cert(testing::CertParams{});
  testing::TempDir dir;
  ServerOptions options;
  options.certificates = {
      CertificateSpec{dir.write("c.crt", cert.cert_pem), dir.write("c.key", cert.key_pem), {}}};
  auto context = ServerContext::create(options);
  EXPECT_TRUE(context);
  Engine engine(context.value());
  engine.feed(input);
  Event event = engine.next();
  EXPECT_TRUE(std::holds_alternative<Failed>(event));
  return std::holds_alternative<Failed>(event) ? std::get<Failed>(event) : Failed{};
}

TEST(FailureReason, PlaintextOnTheTlsPortIsADecodeError) {
  EXPECT_EQ(fail_with("USER alice\r\nPASS secret\r\n").reason, FailureReason::DecodeError);
}

TEST(FailureReason, ATls10OnlyClientIsProtocolVersion) {
  EXPECT_EQ(fail_with(tls10_hello()).reason, FailureReason::ProtocolVersion);
}

// mbedTLS 3.6 reads an alert as the first record as the alert it is; 2.28 expects a ClientHello
// there and calls anything else a bad ClientHello (an alert after its flight, as real clients
// send one, is read as an alert by both).
TEST(FailureReason, AClientAbortingWithUnknownCaIsBadCertificate) {
  EXPECT_EQ(fail_with(record(21, u8(2) + u8(MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA))).reason,
            POPGATE_MBEDTLS_3 ? FailureReason::BadCertificate : FailureReason::DecodeError);
}

} // namespace
} // namespace popgate::tls
