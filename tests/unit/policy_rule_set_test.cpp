#include "policy/glob.hpp"
#include "policy/rule_set.hpp"

#include <array>
#include <gtest/gtest.h>

namespace popgate::policy {
namespace {

struct GlobCase {
  std::string_view name, pattern, text;
  bool match;
};

class GlobTest : public testing::TestWithParam<GlobCase> {};

TEST_P(GlobTest, Matches) {
  EXPECT_EQ(glob_match(GetParam().pattern, GetParam().text), GetParam().match);
}

const auto kGlobs = std::to_array<GlobCase>({
    {"a_literal_matches_itself", "alice", "alice", true},
    {"case_does_not_matter", "Archive-*", "archive-2019", true},
    {"a_star_matches_a_suffix", "archive-*", "archive-", true},
    {"a_star_needs_the_prefix", "archive-*", "archiv", false},
    {"a_question_mark_is_one_character", "?ob", "bob", true},
    {"a_question_mark_is_not_zero_characters", "?ob", "ob", false},
    {"a_star_in_the_middle_backtracks", "a*b*c", "axxbyybzc", true},
    {"a_lone_star_matches_the_empty_user", "*", "", true},
    {"an_empty_pattern_matches_only_empty", "", "x", false},
    {"a_long_hostile_name_stays_linear", "*a*a*a*a*a*b",
     std::string_view("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), false},
});

INSTANTIATE_TEST_SUITE_P(Cases, GlobTest, testing::ValuesIn(kGlobs),
                         [](const auto& p) { return std::string(p.param.name); });

Rule rule(std::string name, Action action) {
  Rule r;
  r.name = std::move(name);
  r.action = action;
  return r;
}

Subject subject(std::string_view command, std::string_view user,
                std::string_view client = "192.0.2.1", std::string_view listener = "pop3s",
                bool tls = true) {
  return Subject{command, user, *Address::parse(client), listener, tls};
}

TEST(RuleSet, NoRulesAllowEverything) {
  RuleSet rules;
  auto d = rules.decide(subject("DELE", "alice"));
  EXPECT_FALSE(d.matched());
  EXPECT_EQ(d.enforced(), Action::Allow);
}

TEST(RuleSet, FirstMatchDecidesAndEveryConditionMustHold) {
  auto read_only = rule("archive-read-only", Action::Deny);
  read_only.commands = {"DELE"};
  read_only.users = {"archive-*"};
  auto lan_only = rule("lan-only", Action::Close);
  lan_only.clients = {*Cidr::parse("10.0.0.0/8")};
  lan_only.listeners = {"pop3"};
  RuleSet rules({read_only, lan_only, rule("catch-all", Action::Allow)});

  EXPECT_EQ(rules.decide(subject("DELE", "archive-2020")).rule, 0u);
  EXPECT_EQ(rules.decide(subject("RETR", "archive-2020")).rule, 2u); // verb differs
  EXPECT_EQ(rules.decide(subject("DELE", "alice")).rule, 2u);        // user differs
  EXPECT_EQ(rules.decide(subject("STAT", "x", "10.1.1.1", "pop3")).rule, 1u);
  EXPECT_EQ(rules.decide(subject("STAT", "x", "10.1.1.1", "pop3s")).rule, 2u);
}

TEST(RuleSet, TlsConditionSelectsPlaintextOrTlsSessions) {
  auto plaintext = rule("no-plaintext-top", Action::Deny);
  plaintext.tls = false;
  RuleSet rules({plaintext});
  EXPECT_TRUE(rules.decide(subject("TOP", "a", "192.0.2.1", "pop3", false)).matched());
  EXPECT_FALSE(rules.decide(subject("TOP", "a", "192.0.2.1", "pop3", true)).matched());
}

TEST(RuleSet, DryRunMatchesButIsEnforcedAsAllow) {
  auto r = rule("try-me", Action::Close);
  r.dry_run = true;
  RuleSet rules({r});
  auto d = rules.decide(subject("QUIT", "bob"));
  EXPECT_TRUE(d.matched());
  EXPECT_TRUE(d.dry_run);
  EXPECT_EQ(d.action, Action::Close);
  EXPECT_EQ(d.enforced(), Action::Allow);
}

} // namespace
} // namespace popgate::policy
