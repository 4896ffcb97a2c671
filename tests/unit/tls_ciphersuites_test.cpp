// Cipher suite names from the config to mbedTLS ids: only ECDHE + AEAD (and TLS 1.3) pass.

#include "tls/ciphersuites.hpp"

#include <array>

#include <gtest/gtest.h>

#include "tls/mbedtls_compat.hpp"

#include <mbedtls/ssl.h>

namespace popgate::tls {
namespace {

struct SuiteCase {
  std::string_view name;
  std::string suite;
  int expected_id; // 0 = refused
};

// The TLS 1.3 name is accepted only where this mbedTLS build speaks TLS 1.3.
#if POPGATE_HAVE_TLS13
const SuiteCase kTls13Case = {"Tls13IanaNameIsAccepted", "TLS_AES_128_GCM_SHA256",
                              MBEDTLS_TLS1_3_AES_128_GCM_SHA256};
#else
const SuiteCase kTls13Case = {"Tls13NameIsRefusedWithoutTls13", "TLS_AES_128_GCM_SHA256", 0};
#endif

const auto kSuiteCases = std::to_array<SuiteCase>({
    {"MbedtlsNameIsAccepted", "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256",
     MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
    {"IanaNameIsAccepted", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
     MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
    {"LowerCaseIsAccepted", "tls_ecdhe_ecdsa_with_chacha20_poly1305_sha256",
     MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
    {"CcmIsAead", "TLS-ECDHE-ECDSA-WITH-AES-128-CCM", MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM},
    {"CbcIsRefused", "TLS-ECDHE-RSA-WITH-AES-128-CBC-SHA256", 0},
    {"CbcSha1IsRefused", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0},
    {"StaticRsaGcmIsRefused", "TLS-RSA-WITH-AES-128-GCM-SHA256", 0},
    {"DheIsRefused", "TLS-DHE-RSA-WITH-AES-128-GCM-SHA256", 0},
    {"Ccm8IsRefused", "TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8", 0},
    {"PskIsRefused", "TLS-ECDHE-PSK-WITH-AES-128-CBC-SHA256", 0},
    {"UnknownNameIsRefused", "TLS-ECDHE-RSA-WITH-ROT13", 0},
    kTls13Case,
});

class TlsCiphersuites : public ::testing::TestWithParam<SuiteCase> {};

TEST_P(TlsCiphersuites, ResolvesOrRefuses) {
  const SuiteCase& c = GetParam();
  auto result = resolve_ciphersuites({c.suite});
  if (c.expected_id == 0) {
    ASSERT_FALSE(result.has_value());
    EXPECT_NE(result.error().find(c.suite), std::string::npos) << result.error();
    return;
  }
  ASSERT_TRUE(result.has_value()) << result.error();
  EXPECT_EQ(result->ids, (std::vector<int>{c.expected_id, 0}));
}

INSTANTIATE_TEST_SUITE_P(Cases, TlsCiphersuites, ::testing::ValuesIn(kSuiteCases),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(TlsCiphersuitesDefault, IsOnlyEcdheAeadAndZeroTerminated) {
  auto result = resolve_ciphersuites({});
  ASSERT_TRUE(result.has_value()) << result.error();
  const std::vector<int>& ids = result->ids;
  ASSERT_GE(ids.size(), 7u);
  EXPECT_EQ(ids.back(), 0);
  EXPECT_TRUE(result->has_tls12);
  EXPECT_EQ(result->has_tls13, POPGATE_HAVE_TLS13 != 0);
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
    const std::string name = mbedtls_ssl_get_ciphersuite_name(ids[i]);
    const bool tls13 = name.rfind("TLS1-3-", 0) == 0;
    const bool ecdhe =
        name.rfind("TLS-ECDHE-ECDSA-WITH-", 0) == 0 || name.rfind("TLS-ECDHE-RSA-WITH-", 0) == 0;
    EXPECT_TRUE(tls13 || ecdhe) << name;
    EXPECT_TRUE(name.find("GCM") != std::string::npos ||
                name.find("CHACHA20-POLY1305") != std::string::npos)
        << name;
  }
}

TEST(TlsCiphersuitesDefault, DuplicatesCollapse) {
  auto result = resolve_ciphersuites(
      {"TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"});
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->ids.size(), 2u);
}

} // namespace
} // namespace popgate::tls
