#include "policy/access_list.hpp"

#include <array>
#include <gtest/gtest.h>

namespace popgate::policy {
namespace {

std::vector<Cidr> cidrs(std::initializer_list<std::string_view> texts) {
  std::vector<Cidr> out;
  for (auto t : texts) {
    out.push_back(*Cidr::parse(t));
  }
  return out;
}

struct Case {
  std::string_view name;
  std::vector<Cidr> allow;
  std::vector<Cidr> deny;
  std::string_view client;
  bool permitted;
};

class AccessListTest : public testing::TestWithParam<Case> {};

TEST_P(AccessListTest, Decides) {
  const auto& c = GetParam();
  AccessList list(c.allow, c.deny);
  EXPECT_EQ(list.permits(*Address::parse(c.client)), c.permitted);
}

const auto kCases = std::to_array<Case>({
    {"empty_lists_permit_everyone", {}, {}, "203.0.113.9", true},
    {"an_allow_list_admits_its_members", cidrs({"192.0.2.0/24"}), {}, "192.0.2.77", true},
    {"an_allow_list_shuts_out_the_rest", cidrs({"192.0.2.0/24"}), {}, "192.0.3.1", false},
    {"deny_wins_over_allow", cidrs({"192.0.2.0/24"}), cidrs({"192.0.2.77"}), "192.0.2.77", false},
    {"deny_alone_blocks_only_its_block", {}, cidrs({"198.51.100.0/24"}), "198.51.100.200", false},
    {"deny_alone_leaves_others_in", {}, cidrs({"198.51.100.0/24"}), "198.51.101.1", true},
    {"ipv6_blocks_match_ipv6_clients", cidrs({"2001:db8::/32"}), {}, "2001:db8:1::5", true},
    {"a_v4_rule_matches_a_v4_mapped_client", cidrs({"10.0.0.0/8"}), {}, "::ffff:10.1.2.3", true},
    {"a_v4_rule_does_not_match_other_v6", cidrs({"10.0.0.0/8"}), {}, "2001:db8::1", false},
});

INSTANTIATE_TEST_SUITE_P(Cases, AccessListTest, testing::ValuesIn(kCases),
                         [](const auto& p) { return std::string(p.param.name); });

} // namespace
} // namespace popgate::policy
