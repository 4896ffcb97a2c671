// base64 (RFC 4648 §4) and user extraction for SASL PLAIN (RFC 4616) and LOGIN.

#include "proxy/pop3/sasl.hpp"

#include <array>
#include <gtest/gtest.h>

#include <string>

namespace popgate::pop3 {
namespace {

using namespace std::string_view_literals;

// Test names are the cases' names, which read as sentences.
template <typename T> std::string case_name(const testing::TestParamInfo<T>& param_info) {
  return std::string(param_info.param.name);
}

struct Base64Case {
  std::string_view name;
  std::string_view encoded;
  bool valid;
  std::string_view decoded;
};

class Base64 : public testing::TestWithParam<Base64Case> {};

TEST_P(Base64, DecodesCanonicalText) {
  const auto& c = GetParam();
  EXPECT_EQ(is_base64(c.encoded), c.valid);
  const auto d = base64_decode(c.encoded);
  ASSERT_EQ(d.has_value(), c.valid);
  if (d) {
    EXPECT_EQ(*d, c.decoded);
  }
}

const auto kBase64Cases = std::to_array<Base64Case>({
    {"Empty", "", true, ""},
    {"NoPadding", "YWJj", true, "abc"},
    {"OnePad", "YWI=", true, "ab"},
    {"TwoPads", "YQ==", true, "a"},
    {"NulsInside", "AGFsaWNlAHNlY3JldA==", true, "\0alice\0secret"sv},
    {"WrongLength", "YWJ", false, ""},
    {"ThreePads", "Y===", false, ""},
    {"PadInTheMiddle", "YQ==YWJj", false, ""},
    {"OnlyPadding", "====", false, ""},
    {"Whitespace", "YW Jj", false, ""},
    {"UrlAlphabet", "YW-_", false, ""},
});

INSTANTIATE_TEST_SUITE_P(Pop3, Base64, testing::ValuesIn(kBase64Cases),
                         case_name<Base64::ParamType>);

struct UserCase {
  std::string_view name;
  std::string_view response;
  std::string_view plain_user; // "" = nullopt
  std::string_view login_user;
};

class SaslUser : public testing::TestWithParam<UserCase> {};

TEST_P(SaslUser, ExtractsTheAuthenticationIdentity) {
  const auto& c = GetParam();
  EXPECT_EQ(plain_authcid(c.response).value_or(""), c.plain_user);
  EXPECT_EQ(login_user(c.response).value_or(""), c.login_user);
}

const auto kUserCases = std::to_array<UserCase>({
    // "\0alice\0secret"
    {"PlainWithoutAuthzid", "AGFsaWNlAHNlY3JldA==", "alice", ""},
    // "admin\0bob\0pw": the authzid is ignored, the authcid is who logs in
    {"PlainWithAuthzid", "YWRtaW4AYm9iAHB3", "bob", ""},
    // "\0\0pw": empty authcid
    {"PlainWithEmptyAuthcid", "AABwdw==", "", ""},
    // "alice": no NULs
    {"PlainWithoutSeparators", "YWxpY2U=", "", "alice"},
    {"NotBase64", "alice", "", ""},
});

INSTANTIATE_TEST_SUITE_P(Pop3, SaslUser, testing::ValuesIn(kUserCases),
                         case_name<SaslUser::ParamType>);

TEST(Pop3Sasl, MechanismNamesFollowRfc4422) {
  EXPECT_TRUE(is_mechanism_name("PLAIN"));
  EXPECT_TRUE(is_mechanism_name("DIGEST-MD5"));
  EXPECT_TRUE(is_mechanism_name("SCRAM-SHA-256"));
  EXPECT_TRUE(is_mechanism_name("x_oauth2"));
  EXPECT_FALSE(is_mechanism_name(""));
  EXPECT_FALSE(is_mechanism_name("ABCDEFGHIJKLMNOPQRSTU"));
  EXPECT_FALSE(is_mechanism_name("PL@IN"));
}

TEST(Pop3Sasl, SecureClearEmptiesTheString) {
  std::string secret = "hunter2";
  secure_clear(secret);
  EXPECT_TRUE(secret.empty());
}

} // namespace
} // namespace popgate::pop3
