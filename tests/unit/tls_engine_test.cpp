// The server Engine against an mbedTLS client over in-memory buffers.

#include "tls/engine.hpp"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "tls_test_client.hpp"
#include "tls_test_pki.hpp"

namespace popgate::tls {
namespace {

using testing::CertParams;
using testing::ClientOptions;
using testing::KeyKind;
using testing::ServerLog;
using testing::TempDir;
using testing::TestClient;
using testing::TestSession;

// gcc 12 warns on designated initializers that leave members out, so options are built here.
CertParams cert_params(std::string cn, std::vector<std::string> dns = {},
                       KeyKind key = KeyKind::EcdsaP256) {
  CertParams params;
  params.cn = std::move(cn);
  params.dns = std::move(dns);
  params.key = key;
  return params;
}

ClientOptions with_sni(std::string name) {
  ClientOptions options;
  options.server_name = std::move(name);
  return options;
}

ClientOptions with_suite(int suite) {
  ClientOptions options;
  options.ciphersuites = {suite};
  return options;
}

ClientOptions with_cert(const testing::TestCert& cert) {
  ClientOptions options;
  options.cert_pem = cert.cert_pem;
  options.key_pem = cert.key_pem;
  return options;
}

ClientOptions resuming(const TestSession& session) {
  ClientOptions options;
  options.resume = &session.session;
  return options;
}

ClientOptions only_tls11() {
  ClientOptions options;
  options.only_tls11 = true;
  return options;
}

CertParams ca_params() {
  CertParams params = cert_params("popgate test CA");
  params.is_ca = true;
  return params;
}

CertParams issued_by(std::string cn, const testing::TestCert& issuer) {
  CertParams params = cert_params(std::move(cn));
  params.issuer = &issuer;
  return params;
}

// Certificates shared by the tests in this file: made once, written per test.
struct Pki {
  testing::TestCert ecdsa =
      testing::make_cert(cert_params("pop.example.com", {"pop.example.com", "pop3.example.com"}));
  testing::TestCert rsa =
      testing::make_cert(cert_params("mail.example.org", {"mail.example.org"}, KeyKind::Rsa2048));
  testing::TestCert wildcard =
      testing::make_cert(cert_params("wildcard.example.net", {"*.example.net"}));
  testing::TestCert ca = testing::make_cert(ca_params());
};

const Pki& pki() {
  static const Pki instance;
  return instance;
}

CertificateSpec write_spec(const TempDir& dir, const std::string& stem,
                           const testing::TestCert& cert) {
  return CertificateSpec{
      dir.write(stem + ".crt", cert.cert_pem), dir.write(stem + ".key", cert.key_pem), {}};
}

// ECDSA default, then RSA, then a wildcard certificate.
ServerOptions three_certificates(const TempDir& dir) {
  ServerOptions options;
  options.certificates = {write_spec(dir, "ecdsa", pki().ecdsa), write_spec(dir, "rsa", pki().rsa),
                          write_spec(dir, "wildcard", pki().wildcard)};
  return options;
}

std::shared_ptr<const ServerContext> make_context(const ServerOptions& options) {
  auto context = ServerContext::create(options);
  if (!context) {
    for (const LoadError& e : context.error()) {
      ADD_FAILURE() << "certificate " << e.certificate << " " << e.field << ": " << e.message;
    }
    return nullptr;
  }
  return context.value();
}

// One connection: a server Engine on `context` and a client with `options`, joined over memory.
struct Connection {
  Connection(std::shared_ptr<const ServerContext> context, const ClientOptions& options)
      : server(std::move(context)), client(options) {}

  // Moves bytes both ways until both sides stall; `chunk` limits each feed to the server.
  void pump(std::size_t chunk = std::string::npos) { testing::pump(client, server, log, chunk); }

  // Saves the session for resumption. TLS 1.3 (RFC 8446 §4.6.1) sends the ticket after the
  // handshake, and mbedTLS 3.6's server only once there is application traffic: exchange one
  // command first so the client has received it. Harmless under TLS 1.2.
  void save_session(TestSession& out) {
    client.write("NOOP\r\n");
    pump();
    client.save_session(out);
  }

  Engine server;
  TestClient client;
  ServerLog log;
};

// Most tests need only a context serving three_certificates().
class WithThreeCertificates : public ::testing::Test {
protected:
  TempDir dir_;
  std::shared_ptr<const ServerContext> context_ = make_context(three_certificates(dir_));
};

class TlsEngine : public WithThreeCertificates {};

TEST_F(TlsEngine, FullHandshakeWithDefaultsNegotiatesEcdheAead) {
  ASSERT_TRUE(context_);
  Connection c(context_, ClientOptions{});
  EXPECT_FALSE(c.server.handshake_done());
  c.pump();
  ASSERT_FALSE(c.log.failed) << c.log.failed->message;
  EXPECT_EQ(c.client.error, 0);
  EXPECT_TRUE(c.client.handshake_done);
  EXPECT_TRUE(c.server.handshake_done());
  EXPECT_EQ(c.log.handshakes, 1);
  EXPECT_EQ(c.log.version, ServerContext::tls13_available() ? "TLSv1.3" : "TLSv1.2");
  // The server's preference wins: ChaCha20-Poly1305 first (tls/ciphersuites.cpp).
  EXPECT_NE(c.log.cipher.find("CHACHA20-POLY1305"), std::string::npos) << c.log.cipher;
  EXPECT_FALSE(c.log.resumed);
  EXPECT_EQ(c.log.sni, "");
  EXPECT_EQ(c.client.peer_subject(), "CN=pop.example.com");
}

TEST_F(TlsEngine, DataFlowsBothWaysIncludingOneMebibyteInOneWrite) {
  ASSERT_TRUE(context_);
  Connection c(context_, ClientOptions{});
  c.pump();
  ASSERT_TRUE(c.server.handshake_done());

  c.client.write("USER alice\r\n");
  c.pump();
  EXPECT_EQ(c.log.plaintext, "USER alice\r\n");

  ASSERT_TRUE(c.server.write("+OK\r\n").has_value());
  c.pump();
  EXPECT_EQ(c.client.received, "+OK\r\n");

  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>('a' + i % 26);
  }
  c.client.received.clear();
  ASSERT_TRUE(c.server.write(big).has_value());
  c.pump();
  EXPECT_EQ(c.client.received.size(), big.size());
  EXPECT_TRUE(c.client.received == big);

  c.log.plaintext.clear();
  c.client.write(big);
  c.pump();
  EXPECT_EQ(c.log.plaintext.size(), big.size());
  EXPECT_TRUE(c.log.plaintext == big);
  EXPECT_FALSE(c.log.failed);
}

TEST_F(TlsEngine, UnreadInputStaysBufferedUntilTheCallerAsks) {
  ASSERT_TRUE(context_);
  Connection c(context_, ClientOptions{});
  c.pump();
  ASSERT_TRUE(c.server.handshake_done());

  // Three records fed at once, then read later: nothing is lost while next() is not called.
  c.client.write("CAPA\r\n");
  c.client.write("STAT\r\n");
  c.client.write("QUIT\r\n");
  c.server.feed(c.client.take_output());
  testing::drain(c.server, c.log);
  EXPECT_EQ(c.log.plaintext, "CAPA\r\nSTAT\r\nQUIT\r\n");
}

struct SniCase {
  std::string_view name;
  std::string server_name;
  std::string expected_subject;
};

class TlsEngineSni : public WithThreeCertificates, public ::testing::WithParamInterface<SniCase> {};

TEST_P(TlsEngineSni, SelectsTheCertificate) {
  const SniCase& sni = GetParam();
  ASSERT_TRUE(context_);
  Connection c(context_, with_sni(sni.server_name));
  c.pump();
  ASSERT_FALSE(c.log.failed) << c.log.failed->message;
  ASSERT_TRUE(c.client.handshake_done) << c.client.error;
  EXPECT_EQ(c.client.peer_subject(), sni.expected_subject);
  std::string lowered = sni.server_name;
  for (char& ch : lowered) {
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  EXPECT_EQ(c.log.sni, lowered);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TlsEngineSni,
    ::testing::Values(
        SniCase{"NoServerNameGetsTheDefault", "", "CN=pop.example.com"},
        SniCase{"ExactNameOfTheDefault", "pop3.example.com", "CN=pop.example.com"},
        SniCase{"ExactNameOfTheRsaCertificate", "mail.example.org", "CN=mail.example.org"},
        SniCase{"NamesCompareCaseInsensitively", "MAIL.Example.ORG", "CN=mail.example.org"},
        SniCase{"WildcardMatchesOneLabel", "pop.example.net", "CN=wildcard.example.net"},
        SniCase{"WildcardDoesNotMatchTwoLabels", "a.pop.example.net", "CN=pop.example.com"},
        SniCase{"UnknownNameGetsTheDefault", "unknown.test", "CN=pop.example.com"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST_F(TlsEngine, SecondConnectionResumesWithATicket) {
  ASSERT_TRUE(context_);
  TestSession session;
  {
    Connection first(context_, ClientOptions{});
    first.pump();
    ASSERT_TRUE(first.client.handshake_done);
    EXPECT_FALSE(first.log.resumed);
    first.save_session(session);
  }
  Connection c(context_, resuming(session));
  c.pump();
  ASSERT_FALSE(c.log.failed) << c.log.failed->message;
  ASSERT_TRUE(c.client.handshake_done);
  EXPECT_TRUE(c.log.resumed);

  c.client.write("NOOP\r\n");
  c.pump();
  EXPECT_EQ(c.log.plaintext, "NOOP\r\n");
}

TEST_F(TlsEngine, TicketReusedUnderANameWithAnotherKeyTypeFallsBackToAFullHandshake) {
  ASSERT_TRUE(context_);
  if (ServerContext::tls13_available()) {
    // mbedTLS 3.6's client refuses to offer a ticket under another server name (its
    // hostname check, MBEDTLS_ERR_SSL_BAD_INPUT_DATA), so the case cannot arise from it; and
    // TLS 1.3 resumption uses no certificate at all.
    GTEST_SKIP() << "TLS 1.2 with mbedTLS 2.28 only";
  }
  TestSession session;
  {
    Connection first(context_, with_sni("mail.example.org")); // RSA certificate, ECDHE-RSA suite
    first.pump();
    ASSERT_TRUE(first.client.handshake_done);
    first.save_session(session);
  }
  ClientOptions options = resuming(session);
  options.server_name = "pop.example.com"; // ECDSA certificate
  Connection c(context_, options);
  c.pump();
  ASSERT_FALSE(c.log.failed) << c.log.failed->message;
  ASSERT_TRUE(c.client.handshake_done) << c.client.error;
  EXPECT_EQ(c.client.peer_subject(), "CN=pop.example.com");
  if (c.log.version == "TLSv1.2") {
    EXPECT_FALSE(c.log.resumed);
  }
}

TEST_F(TlsEngine, NoResumptionWhenTicketsAreOff) {
  ServerOptions options = three_certificates(dir_);
  options.session_tickets = false;
  auto context = make_context(options);
  ASSERT_TRUE(context);
  TestSession session;
  {
    Connection first(context, ClientOptions{});
    first.pump();
    ASSERT_TRUE(first.client.handshake_done);
    first.save_session(session);
  }
  Connection c(context, resuming(session));
  c.pump();
  ASSERT_TRUE(c.client.handshake_done);
  EXPECT_FALSE(c.log.resumed);
}

TEST_F(TlsEngine, ClientCloseNotifyIsReportedOnce) {
  ASSERT_TRUE(context_);
  Connection c(context_, ClientOptions{});
  c.pump();
  ASSERT_TRUE(c.server.handshake_done());
  c.client.write("QUIT\r\n");
  c.client.close_notify();
  c.pump();
  EXPECT_EQ(c.log.plaintext, "QUIT\r\n");
  EXPECT_EQ(c.log.peer_closed, 1);
  EXPECT_TRUE(std::holds_alternative<NeedData>(c.server.next()));
  c.server.close();
  c.pump();
  EXPECT_TRUE(c.client.peer_closed);
}

TEST_F(TlsEngine, ServerCloseNotifyReachesTheClient) {
  ASSERT_TRUE(context_);
  Connection c(context_, ClientOptions{});
  c.pump();
  ASSERT_TRUE(c.server.write("+OK bye\r\n").has_value());
  c.server.close();
  c.server.close(); // idempotent
  c.pump();
  EXPECT_EQ(c.client.received, "+OK bye\r\n");
  EXPECT_TRUE(c.client.peer_closed);
  EXPECT_EQ(c.client.error, 0);
}

TEST_F(TlsEngine, FeedingTheHandshakeOneByteAtATimeWorks) {
  ASSERT_TRUE(context_);
  Connection c(context_, with_sni("mail.example.org"));
  c.pump(1);
  ASSERT_FALSE(c.log.failed) << c.log.failed->message;
  ASSERT_TRUE(c.client.handshake_done);
  EXPECT_EQ(c.log.handshakes, 1);
  EXPECT_EQ(c.client.peer_subject(), "CN=mail.example.org");
  c.client.write("LIST\r\n");
  c.pump(1);
  EXPECT_EQ(c.log.plaintext, "LIST\r\n");
}

struct RefusalCase {
  std::string_view name;
  ClientOptions client;
};

class TlsEngineRefuses : public WithThreeCertificates,
                         public ::testing::WithParamInterface<RefusalCase> {};

TEST_P(TlsEngineRefuses, TheHandshake) {
  ASSERT_TRUE(context_);
#if POPGATE_MBEDTLS_3
  if (GetParam().client.only_tls11) {
    GTEST_SKIP() << "mbedTLS 3.x cannot offer TLS 1.1";
  }
#endif
  Connection c(context_, GetParam().client);
  c.pump();
  ASSERT_TRUE(c.log.failed);
  EXPECT_LT(c.log.failed->code, 0);
  EXPECT_NE(c.log.failed->message.find("TLS handshake failed"), std::string::npos);
  EXPECT_FALSE(c.server.handshake_done());
  EXPECT_FALSE(c.client.handshake_done);
  EXPECT_NE(c.client.error, 0); // the client got an alert, not silence
  // Failed is sticky, and write refuses too.
  EXPECT_TRUE(std::holds_alternative<Failed>(c.server.next()));
  EXPECT_FALSE(c.server.write("x").has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TlsEngineRefuses,
    ::testing::Values(RefusalCase{"ClientOfferingOnlyTls11", only_tls11()},
                      RefusalCase{"ClientOfferingOnlyCbcSuite",
                                  with_suite(MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256)},
                      RefusalCase{"ClientOfferingOnlyStaticRsaGcm",
                                  with_suite(MBEDTLS_TLS_RSA_WITH_AES_128_GCM_SHA256)}),
    [](const auto& p) { return std::string(p.param.name); });

TEST_F(TlsEngine, GarbageFromTheClientFails) {
  ASSERT_TRUE(context_);
  Engine server(context_);
  server.feed("USER alice\r\n"); // plaintext POP3 on the TLS port
  const Event event = server.next();
  ASSERT_TRUE(std::holds_alternative<Failed>(event));
  EXPECT_FALSE(std::get<Failed>(event).message.empty());
}

TEST_F(TlsEngine, WriteBeforeTheHandshakeIsRefusedWithoutFailing) {
  ASSERT_TRUE(context_);
  Connection c(context_, ClientOptions{});
  EXPECT_FALSE(c.server.write("+OK\r\n").has_value());
  c.pump();
  EXPECT_TRUE(c.client.handshake_done);
}

class TlsEngineClientCa : public ::testing::Test {
protected:
  std::shared_ptr<const ServerContext> context_with_client_ca(const TempDir& dir) {
    ServerOptions options = three_certificates(dir);
    options.client_ca = dir.write("ca.crt", pki().ca.cert_pem);
    return make_context(options);
  }
};

TEST_F(TlsEngineClientCa, ClientWithoutCertificateIsRefused) {
  TempDir dir;
  auto context = context_with_client_ca(dir);
  ASSERT_TRUE(context);
  Connection c(context, ClientOptions{});
  c.pump();
  EXPECT_TRUE(c.log.failed);
  EXPECT_FALSE(c.server.handshake_done());
}

TEST_F(TlsEngineClientCa, ClientWithCertificateFromTheCaIsAccepted) {
  TempDir dir;
  auto context = context_with_client_ca(dir);
  ASSERT_TRUE(context);
  const testing::TestCert user = testing::make_cert(issued_by("alice", pki().ca));
  Connection c(context, with_cert(user));
  c.pump();
  ASSERT_FALSE(c.log.failed) << c.log.failed->message;
  EXPECT_TRUE(c.server.handshake_done());
}

TEST_F(TlsEngineClientCa, ClientWithSelfSignedCertificateIsRefused) {
  TempDir dir;
  auto context = context_with_client_ca(dir);
  ASSERT_TRUE(context);
  const testing::TestCert mallory = testing::make_cert(cert_params("mallory"));
  Connection c(context, with_cert(mallory));
  c.pump();
  EXPECT_TRUE(c.log.failed);
}

TEST_F(TlsEngine, OneContextServesEnginesOnSeveralThreads) {
  ASSERT_TRUE(context_);
  (void)pki(); // build the shared certificates before the threads start
  std::atomic<int> completed{0};
  std::atomic<int> resumed{0};
  const auto worker = [&] {
    TestSession session;
    for (int i = 0; i < 4; ++i) {
      ClientOptions options = resuming(session);
      if (i == 0) {
        options.resume = nullptr;
      }
      options.server_name = "mail.example.org"; // clients resume under the same name
      Connection c(context_, options);
      c.pump();
      if (c.server.handshake_done() && c.client.handshake_done) {
        ++completed;
        resumed += c.log.resumed ? 1 : 0;
      }
      if (i == 0) {
        c.save_session(session);
      }
    }
  };
  std::thread a(worker);
  std::thread b(worker);
  a.join();
  b.join();
  EXPECT_EQ(completed.load(), 8);
  EXPECT_EQ(resumed.load(), 6);
}

TEST_F(TlsEngine, EnginesOutliveAReplacedContext) {
  ASSERT_TRUE(context_);
  Engine server(context_);
  context_.reset(); // a reload dropped the old context; the connection keeps it alive
  TestClient client(ClientOptions{});
  ServerLog log;
  testing::pump(client, server, log);
  EXPECT_TRUE(server.handshake_done());
}

} // namespace
} // namespace popgate::tls
