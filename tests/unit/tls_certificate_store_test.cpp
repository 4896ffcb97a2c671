// SNI name matching (RFC 6066 §3 with RFC 6125 §6.4.3 wildcards).

#include "tls/certificate_store.hpp"

#include <array>
#include <gtest/gtest.h>

namespace popgate::tls {
namespace {

struct MatchCase {
  std::string_view name;
  std::string_view pattern;
  std::string_view host;
  bool matches;
};

const auto kMatchCases = std::to_array<MatchCase>({
    {"ExactNameMatches", "pop.example.com", "pop.example.com", true},
    {"OtherNameDoesNotMatch", "pop.example.com", "mail.example.com", false},
    {"WildcardMatchesOneLabel", "*.example.com", "pop.example.com", true},
    {"WildcardDoesNotMatchTheBareDomain", "*.example.com", "example.com", false},
    {"WildcardDoesNotMatchTwoLabels", "*.example.com", "a.pop.example.com", false},
    {"WildcardDoesNotMatchAnEmptyLabel", "*.example.com", ".example.com", false},
    {"WildcardDoesNotMatchASuffixTrick", "*.example.com", "popexample.com", false},
    {"WildcardDoesNotMatchAnotherDomain", "*.example.com", "pop.example.org", false},
    {"EmptyHostMatchesNothing", "*.example.com", "", false},
});

class TlsServerNameMatch : public ::testing::TestWithParam<MatchCase> {};

TEST_P(TlsServerNameMatch, FollowsOneLabelWildcards) {
  const MatchCase& c = GetParam();
  EXPECT_EQ(server_name_matches(c.pattern, c.host), c.matches);
}

INSTANTIATE_TEST_SUITE_P(Cases, TlsServerNameMatch, ::testing::ValuesIn(kMatchCases),
                         [](const auto& p) { return std::string(p.param.name); });

} // namespace
} // namespace popgate::tls
