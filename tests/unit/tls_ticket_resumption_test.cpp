// Session resumption across ServerContexts: two replicas reading the same ticket_key_file, a
// rotated file, and a reload without a file. Each case runs under TLS 1.2 and, where the build
// has it, TLS 1.3.

#include "tls/engine.hpp"
#include "tls/ticket_keys.hpp"

#include <gtest/gtest.h>

#include "tls_test_client.hpp"
#include "tls_test_pki.hpp"

namespace popgate::tls {
namespace {

using testing::ClientOptions;
using testing::ServerLog;
using testing::TempDir;
using testing::TestClient;
using testing::TestSession;

const testing::TestCert& certificate() {
  static const testing::TestCert cert = [] {
    testing::CertParams params;
    params.cn = "pop.example.com";
    params.dns = {"pop.example.com"};
    return testing::make_cert(params);
  }();
  return cert;
}

std::string new_key() {
  auto line = TicketKeys::new_key_line();
  EXPECT_TRUE(line) << line.error();
  return line ? *line + "\n" : std::string();
}

enum class Version { Tls12, Tls13 };

class TicketResumption : public ::testing::TestWithParam<Version> {
protected:
  void SetUp() override {
    if (GetParam() == Version::Tls13 && !ServerContext::tls13_available()) {
      GTEST_SKIP() << "this mbedTLS build has no TLS 1.3";
    }
  }

  // One replica's [tls]: the same certificate everywhere, TLS 1.2 pinned by offering only
  // TLS 1.2 suites.
  ServerOptions options(const std::string& ticket_key_file = "") {
    ServerOptions o;
    o.certificates.push_back(CertificateSpec{dir_.write("pop.crt", certificate().cert_pem),
                                             dir_.write("pop.key", certificate().key_pem),
                                             {}});
    if (GetParam() == Version::Tls12) {
      o.ciphersuites = {"TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"};
    }
    o.ticket_key_file = ticket_key_file;
    return o;
  }

  std::shared_ptr<const ServerContext> context(const ServerOptions& o,
                                               const ServerContext* replaces = nullptr) {
    auto created = ServerContext::create(o, replaces);
    if (!created) {
      for (const LoadError& e : created.error()) {
        ADD_FAILURE() << e.field << ": " << e.message;
      }
      return nullptr;
    }
    return created.value();
  }

  // A full handshake on `server`; the client keeps the ticket it got.
  void first_session(const std::shared_ptr<const ServerContext>& server, TestSession& out) {
    Engine engine(server);
    TestClient client(ClientOptions{});
    ServerLog log;
    testing::pump(client, engine, log);
    ASSERT_TRUE(client.handshake_done) << client.error;
    EXPECT_FALSE(log.resumed);
    EXPECT_EQ(log.version, GetParam() == Version::Tls12 ? "TLSv1.2" : "TLSv1.3");
    // TLS 1.3 sends the ticket after the handshake, once there is traffic (RFC 8446 §4.6.1).
    client.write("NOOP\r\n");
    testing::pump(client, engine, log);
    client.save_session(out);
  }

  // Whether a client offering `session` resumes on `server`; the session works either way.
  bool resumes(const std::shared_ptr<const ServerContext>& server, const TestSession& session) {
    Engine engine(server);
    ClientOptions o;
    o.resume = &session.session;
    TestClient client(o);
    ServerLog log;
    testing::pump(client, engine, log);
    EXPECT_FALSE(log.failed) << log.failed->message;
    EXPECT_TRUE(client.handshake_done) << client.error;
    client.write("NOOP\r\n");
    testing::pump(client, engine, log);
    EXPECT_EQ(log.plaintext, "NOOP\r\n");
    return log.resumed;
  }

  TempDir dir_;
};

TEST_P(TicketResumption, ATicketFromReplicaAResumesOnReplicaB) {
  const std::string file = dir_.write("tickets.key", new_key());
  auto a = context(options(file));
  auto b = context(options(file));
  ASSERT_TRUE(a && b);
  TestSession session;
  first_session(a, session);
  EXPECT_TRUE(resumes(b, session));
}

TEST_P(TicketResumption, ReplicasWithDifferentKeysDoFullHandshakes) {
  auto a = context(options(dir_.write("a.key", new_key())));
  auto b = context(options(dir_.write("b.key", new_key())));
  ASSERT_TRUE(a && b);
  TestSession session;
  first_session(a, session);
  EXPECT_FALSE(resumes(b, session));
}

TEST_P(TicketResumption, RotatingTheFileKeepsOldTicketsAndSealsWithTheNewKey) {
  const std::string old_key = new_key();
  const std::string added_key = new_key();
  const std::string file = dir_.write("tickets.key", old_key);
  auto before = context(options(file));
  ASSERT_TRUE(before);
  TestSession old_session;
  first_session(before, old_session);

  dir_.write("tickets.key", old_key + added_key); // append the new key, then reload
  auto after = context(options(file), before.get());
  ASSERT_TRUE(after);
  EXPECT_TRUE(resumes(after, old_session));

  // New tickets are sealed with the added key: a replica holding only that key opens them.
  TestSession new_session;
  first_session(after, new_session);
  auto only_new = context(options(dir_.write("new-only.key", added_key)));
  ASSERT_TRUE(only_new);
  EXPECT_TRUE(resumes(only_new, new_session));
  EXPECT_FALSE(resumes(only_new, old_session));
}

TEST_P(TicketResumption, WithoutAFileTheGeneratedKeySurvivesAReload) {
  auto before = context(options());
  ASSERT_TRUE(before);
  TestSession session;
  first_session(before, session);
  auto reloaded = context(options(), before.get());
  ASSERT_TRUE(reloaded);
  EXPECT_TRUE(resumes(reloaded, session));
  // A process started afresh has a key of its own.
  auto restarted = context(options());
  ASSERT_TRUE(restarted);
  EXPECT_FALSE(resumes(restarted, session));
}

TEST_P(TicketResumption, ABadKeyFileIsALoadErrorNamingTheLine) {
  auto created = ServerContext::create(options(dir_.write("bad.key", new_key() + "not-a-key\n")));
  ASSERT_FALSE(created);
  ASSERT_EQ(created.error().size(), 1U);
  EXPECT_EQ(created.error()[0].field, "ticket_key_file");
  EXPECT_NE(created.error()[0].message.find("bad.key: line 2"), std::string::npos)
      << created.error()[0].message;

  auto missing = ServerContext::create(options(dir_.path("absent.key")));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error()[0].message.find("No such file"), std::string::npos)
      << missing.error()[0].message;
}

INSTANTIATE_TEST_SUITE_P(Versions, TicketResumption,
                         ::testing::Values(Version::Tls12, Version::Tls13), [](const auto& p) {
                           return p.param == Version::Tls12 ? "Tls12" : "Tls13";
                         });

} // namespace
} // namespace popgate::tls
