// CAPA rewriting (RFC 2449 §5, RFC 2595 §4, SPEC §4 "CAPA from the backend is rewritten").

#include "proxy/pop3/capa_rewriter.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace popgate::pop3 {
namespace {

template <typename T> std::string case_name(const testing::TestParamInfo<T>& param_info) {
  return std::string(param_info.param.name);
}

constexpr std::string_view kBackend = "TOP\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\nRESP-CODES\r\n"
                                      "PIPELINING\r\nUIDL\r\nSTLS\r\n";
constexpr std::array<std::string_view, 2> kPlainOnly = {"plain", "XOAUTH2"};

struct CapaCase {
  std::string_view name;
  std::string_view body;
  CapaOptions options;
  std::string_view expected_lines; // between the status line and ".\r\n"
};

class RewriteCapa : public testing::TestWithParam<CapaCase> {};

TEST_P(RewriteCapa, ProducesTheGatewaysCapabilities) {
  const std::string out = rewrite_capa(GetParam().body, GetParam().options);
  EXPECT_EQ(out,
            "+OK Capability list follows\r\n" + std::string(GetParam().expected_lines) + ".\r\n");
}

const auto kCapaCases = std::to_array<CapaCase>({
    {"TlsSessionLosesStls",
     kBackend,
     {.tls_active = true},
     "TOP\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\nRESP-CODES\r\nPIPELINING\r\nUIDL\r\n"},
    {"PlaintextStarttlsSessionKeepsOneStls",
     kBackend,
     {.offer_stls = true},
     "TOP\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\nRESP-CODES\r\nPIPELINING\r\nUIDL\r\nSTLS\r\n"},
    {"StlsIsAddedWhenTheBackendLacksIt",
     "TOP\r\nUSER\r\n",
     {.offer_stls = true},
     "TOP\r\nUSER\r\nSTLS\r\n"},
    {"BackendStlsIsRemovedWhenNotOffered", "STLS\r\nTOP\r\n", {}, "TOP\r\n"},
    {"BeforeTlsUserAndSaslAreHidden",
     kBackend,
     {.offer_stls = true, .hide_user_and_sasl = true},
     "TOP\r\nRESP-CODES\r\nPIPELINING\r\nUIDL\r\nSTLS\r\n"},
    {"PipeliningCanBeDropped", "PIPELINING\r\nTOP\r\n", {.keep_pipelining = false}, "TOP\r\n"},
    {"SaslListIsFilteredCaseInsensitively",
     kBackend,
     {.tls_active = true, .sasl_allowed = kPlainOnly},
     "TOP\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\nPIPELINING\r\nUIDL\r\n"},
    {"SaslLineWithNoAllowedMechanismIsDropped",
     "SASL CRAM-MD5\r\nTOP\r\n",
     {.sasl_allowed = kPlainOnly},
     "TOP\r\n"},
    {"CapabilityNamesAreCaseInsensitive",
     "stls\r\nuser\r\n",
     {.tls_active = true, .hide_user_and_sasl = true},
     ""},
    {"BareLfLinesAreNormalised", "TOP\nUIDL\n", {}, "TOP\r\nUIDL\r\n"},
    {"EmptyLinesAreDropped", "\r\nTOP\r\n", {}, "TOP\r\n"},
    {"ArgumentsAreKept",
     "EXPIRE 31\r\nLOGIN-DELAY 900\r\nIMPLEMENTATION x\r\n",
     {},
     "EXPIRE 31\r\nLOGIN-DELAY 900\r\nIMPLEMENTATION x\r\n"},
    {"EmptyCapaStillEndsWithDot", "", {}, ""},
});

INSTANTIATE_TEST_SUITE_P(Pop3, RewriteCapa, testing::ValuesIn(kCapaCases), case_name<CapaCase>);

} // namespace
} // namespace popgate::pop3
