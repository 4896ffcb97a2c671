// Loading [tls] options: what ServerContext::create accepts, and the LoadError it gives for
// each kind of mistake an admin makes.

#include "tls/server_context.hpp"

#include <array>
#include <gtest/gtest.h>

#include "tls_test_pki.hpp"

namespace popgate::tls {
namespace {

using testing::CertParams;
using testing::KeyKind;
using testing::TempDir;

struct Files {
  testing::TestCert ecdsa;
  testing::TestCert rsa;
  testing::TestCert other;
};

const Files& files() {
  static const Files instance = [] {
    Files f;
    CertParams ecdsa;
    ecdsa.cn = "pop.example.com";
    ecdsa.dns = {"pop.example.com", "POP3.Example.com"};
    f.ecdsa = testing::make_cert(ecdsa);
    CertParams rsa;
    rsa.key = KeyKind::Rsa2048;
    rsa.cn = "mail.example.org"; // no SAN: the CN names it
    f.rsa = testing::make_cert(rsa);
    CertParams other;
    other.cn = "other.example.com";
    f.other = testing::make_cert(other);
    return f;
  }();
  return instance;
}

// A valid default certificate, plus a second one that each case breaks in its own way.
struct LoadCase {
  std::string_view name;
  // Fills the second spec (index 1) and may alter the options.
  void (*setup)(const TempDir&, ServerOptions&, CertificateSpec&);
  std::size_t certificate;
  std::string_view field;
  std::string_view message_part;
};

ServerOptions valid_options(const TempDir& dir) {
  ServerOptions options;
  options.certificates.push_back(CertificateSpec{
      dir.write("a.crt", files().ecdsa.cert_pem), dir.write("a.key", files().ecdsa.key_pem), {}});
  return options;
}

void good_rsa(const TempDir& dir, CertificateSpec& spec) {
  spec.cert_path = dir.write("b.crt", files().rsa.cert_pem);
  spec.key_path = dir.write("b.key", files().rsa.key_pem);
}

const auto kLoadCases = std::to_array<LoadCase>({
    {"MissingCertificateFile",
     [](const TempDir& dir, ServerOptions&, CertificateSpec& spec) {
       good_rsa(dir, spec);
       spec.cert_path = dir.path("absent.crt");
     },
     1, "cert", "No such file"},
    {"MissingKeyFile",
     [](const TempDir& dir, ServerOptions&, CertificateSpec& spec) {
       good_rsa(dir, spec);
       spec.key_path = dir.path("absent.key");
     },
     1, "key", "No such file"},
    {"GarbagePemCertificate",
     [](const TempDir& dir, ServerOptions&, CertificateSpec& spec) {
       good_rsa(dir, spec);
       spec.cert_path = dir.write("bad.crt", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n"
                                             "-----END CERTIFICATE-----\n");
     },
     1, "cert", "cannot parse"},
    {"NotPemAtAllCertificate",
     [](const TempDir& dir, ServerOptions&, CertificateSpec& spec) {
       good_rsa(dir, spec);
       spec.cert_path = dir.write("bad.crt", "hello, I am not a certificate\n");
     },
     1, "cert", "cannot parse"},
    {"EmptyCertificateFile",
     [](const TempDir& dir, ServerOptions&, CertificateSpec& spec) {
       good_rsa(dir, spec);
       spec.cert_path = dir.write("empty.crt", "");
     },
     1, "cert", "empty"},
    {"GarbagePemKey",
     [](const TempDir& dir, ServerOptions&, CertificateSpec& spec) {
       good_rsa(dir, spec);
       spec.key_path = dir.write("bad.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                            "-----END PRIVATE KEY-----\n");
     },
     1, "key", "cannot parse"},
    {"KeyOfAnotherCertificate",
     [](const TempDir& dir, ServerOptions&, CertificateSpec& spec) {
       spec.cert_path = dir.write("b.crt", files().other.cert_pem);
       spec.key_path = dir.write("b.key", files().ecdsa.key_pem);
     },
     1, "key", "does not match"},
    {"RsaKeyForAnEcdsaCertificate",
     [](const TempDir& dir, ServerOptions&, CertificateSpec& spec) {
       spec.cert_path = dir.write("b.crt", files().other.cert_pem);
       spec.key_path = dir.write("b.key", files().rsa.key_pem);
     },
     1, "key", "does not match"},
    {"BadServerName",
     [](const TempDir& dir, ServerOptions&, CertificateSpec& spec) {
       good_rsa(dir, spec);
       spec.server_names = {"mail.*.org"};
     },
     1, "server_names", "wildcard"},
    {"NonAeadSuiteInOptions",
     [](const TempDir& dir, ServerOptions& options, CertificateSpec& spec) {
       good_rsa(dir, spec);
       options.ciphersuites = {"TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA256"};
     },
     LoadError::kNoCertificate, "ciphersuites", "not ECDHE with an AEAD"},
    {"UnknownSuiteInOptions",
     [](const TempDir& dir, ServerOptions& options, CertificateSpec& spec) {
       good_rsa(dir, spec);
       options.ciphersuites = {"TLS_ECDHE_RSA_WITH_ROT13"};
     },
     LoadError::kNoCertificate, "ciphersuites", "unknown cipher suite"},
    {"MinVersionTls11",
     [](const TempDir& dir, ServerOptions& options, CertificateSpec& spec) {
       good_rsa(dir, spec);
       options.min_version = "1.1";
     },
     LoadError::kNoCertificate, "min_version", R"("1.2" or "1.3")"},
    {"MissingClientCa",
     [](const TempDir& dir, ServerOptions& options, CertificateSpec& spec) {
       good_rsa(dir, spec);
       options.client_ca = dir.path("absent-ca.pem");
     },
     LoadError::kNoCertificate, "client_ca", "cannot load client CA"},
    {"TicketLifetimeOverSevenDays",
     [](const TempDir& dir, ServerOptions& options, CertificateSpec& spec) {
       good_rsa(dir, spec);
       options.ticket_lifetime = std::chrono::hours(24 * 8);
     },
     LoadError::kNoCertificate, "ticket_lifetime", "7 days"},
});

class TlsServerContextLoad : public ::testing::TestWithParam<LoadCase> {};

TEST_P(TlsServerContextLoad, ReportsIndexFieldAndMessage) {
  const LoadCase& c = GetParam();
  TempDir dir;
  ServerOptions options = valid_options(dir);
  options.certificates.emplace_back();
  c.setup(dir, options, options.certificates.back());
  auto result = ServerContext::create(options);
  ASSERT_FALSE(result.has_value());
  ASSERT_EQ(result.error().size(), 1u) << result.error().front().message;
  const LoadError& error = result.error().front();
  EXPECT_EQ(error.certificate, c.certificate);
  EXPECT_EQ(error.field, c.field);
  EXPECT_NE(error.message.find(c.message_part), std::string::npos) << error.message;
}

INSTANTIATE_TEST_SUITE_P(Cases, TlsServerContextLoad, ::testing::ValuesIn(kLoadCases),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(TlsServerContext, LoadsEcdsaAndRsaAndReportsNamesAndExpiry) {
  TempDir dir;
  ServerOptions options = valid_options(dir);
  options.certificates.push_back(CertificateSpec{
      dir.write("b.crt", files().rsa.cert_pem), dir.write("b.key", files().rsa.key_pem), {}});
  auto result = ServerContext::create(options);
  ASSERT_TRUE(result.has_value()) << result.error().front().message;
  const auto& infos = result.value()->certificates();
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_EQ(infos[0].name, "pop.example.com");  // first SAN
  EXPECT_EQ(infos[1].name, "mail.example.org"); // CN when there is no SAN
  // make_cert's default validity ends 2099-12-31 23:59:59 UTC.
  EXPECT_EQ(infos[0].not_after, 4102444799);
}

TEST(TlsServerContext, ExpiredCertificateStillLoads) {
  TempDir dir;
  CertParams params;
  params.cn = "expired.example.com";
  params.not_before = "20190101000000";
  params.not_after = "20200601000000";
  const testing::TestCert expired = testing::make_cert(params);
  ServerOptions options;
  options.certificates.push_back(CertificateSpec{
      dir.write("e.crt", expired.cert_pem), dir.write("e.key", expired.key_pem), {"Pop.Example"}});
  auto result = ServerContext::create(options);
  ASSERT_TRUE(result.has_value()) << result.error().front().message;
  EXPECT_EQ(result.value()->certificates()[0].name, "pop.example");   // configured, lower case
  EXPECT_EQ(result.value()->certificates()[0].not_after, 1590969600); // 2020-06-01T00:00:00Z
}

TEST(TlsServerContext, LoadsPkcs8KeysForEcdsaAndRsa) {
  TempDir dir;
  ServerOptions options;
  options.certificates.push_back(
      CertificateSpec{dir.write("a.crt", files().ecdsa.cert_pem),
                      dir.write("a.key", testing::to_pkcs8_pem(files().ecdsa.key_pem)),
                      {}});
  options.certificates.push_back(
      CertificateSpec{dir.write("b.crt", files().rsa.cert_pem),
                      dir.write("b.key", testing::to_pkcs8_pem(files().rsa.key_pem)),
                      {}});
  auto result = ServerContext::create(options);
  ASSERT_TRUE(result.has_value()) << result.error().front().message;
}

TEST(TlsServerContext, EncryptedKeyIsRefusedWithAHint) {
  TempDir dir;
  ServerOptions options;
  options.certificates.push_back(CertificateSpec{
      dir.write("a.crt", files().ecdsa.cert_pem),
      dir.write("a.key", "-----BEGIN EC PRIVATE KEY-----\n"
                         "Proc-Type: 4,ENCRYPTED\n"
                         "DEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF\n"
                         "\n"
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                         "-----END EC PRIVATE KEY-----\n"),
      {}});
  auto result = ServerContext::create(options);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().front().certificate, 0u);
  EXPECT_EQ(result.error().front().field, "key");
  EXPECT_NE(result.error().front().message.find("encrypted"), std::string::npos)
      << result.error().front().message;
}

TEST(TlsServerContext, NoCertificateIsAnError) {
  auto result = ServerContext::create(ServerOptions{});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().front().field, "certificates");
  EXPECT_EQ(result.error().front().certificate, LoadError::kNoCertificate);
}

TEST(TlsServerContext, ReportsEveryErrorNotOnlyTheFirst) {
  TempDir dir;
  ServerOptions options;
  options.min_version = "1.0";
  options.certificates.push_back(
      CertificateSpec{dir.path("absent.crt"), dir.path("absent.key"), {}});
  auto result = ServerContext::create(options);
  ASSERT_FALSE(result.has_value());
  std::vector<std::string> fields;
  for (const LoadError& e : result.error()) {
    fields.push_back(e.field);
  }
  EXPECT_EQ(fields, (std::vector<std::string>{"min_version", "cert", "key"}));
}

TEST(TlsServerContext, MinVersion13DependsOnTheBuild) {
  TempDir dir;
  ServerOptions options = valid_options(dir);
  options.min_version = "1.3";
  auto result = ServerContext::create(options);
  if (ServerContext::tls13_available()) {
    EXPECT_TRUE(result.has_value());
  } else {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().front().field, "min_version");
    EXPECT_NE(result.error().front().message.find("TLS 1.3"), std::string::npos);
  }
}

TEST(TlsServerContext, LibraryVersionNamesMbedtls) {
  EXPECT_EQ(ServerContext::library_version().rfind("mbedTLS ", 0), 0u);
#if !POPGATE_MBEDTLS_3
  EXPECT_FALSE(ServerContext::tls13_available());
#endif
}

} // namespace
} // namespace popgate::tls
