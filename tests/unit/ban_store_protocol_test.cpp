// The shared ban store's key names, commands and announcements ([policy.ban] redis).

#include "proxy/ban_store/protocol.hpp"

#include "case_name.hpp"

#include <array>
#include <gtest/gtest.h>
#include <ostream>
#include <string>

namespace popgate::ban_store {
namespace {

using std::chrono::minutes;

const Address kV4 = *Address::parse("198.51.100.7");
const Address kV6 = *Address::parse("2001:db8::7");

TEST(BanStoreKeys, NameOnlyTheAddressUnderThePrefix) {
  Keys keys("popgate:");
  EXPECT_EQ(keys.failures(kV4), "popgate:failures:198.51.100.7");
  EXPECT_EQ(keys.ban(kV4), "popgate:ban:198.51.100.7");
  EXPECT_EQ(keys.ban(kV6), "popgate:ban:2001:db8::7");
  EXPECT_EQ(keys.channel(), "popgate:bans");
  EXPECT_EQ(keys.ban_pattern(), "popgate:ban:*");
}

TEST(BanStoreKeys, GlobCharactersInThePrefixAreEscapedForScan) {
  EXPECT_EQ(Keys("gw[1]*?\\:").ban_pattern(), "gw\\[1\\]\\*\\?\\\\:ban:*");
}

TEST(BanStoreKeys, BanKeysGiveBackTheirAddress) {
  Keys keys("popgate:");
  EXPECT_EQ(keys.banned_address("popgate:ban:198.51.100.7"), kV4);
  EXPECT_EQ(keys.banned_address("popgate:ban:2001:db8::7"), kV6);
  EXPECT_FALSE(keys.banned_address("popgate:failures:198.51.100.7"));
  EXPECT_FALSE(keys.banned_address("other:ban:198.51.100.7"));
  EXPECT_FALSE(keys.banned_address("popgate:ban:not-an-address"));
}

TEST(BanStoreCommands, CountFailureIsOneScriptWithKeysAndSettings) {
  Keys keys("p:");
  Command c = count_failure(keys, kV4, {3, minutes(10), minutes(30)});
  ASSERT_EQ(c.size(), 10u);
  EXPECT_EQ(c[0], "EVAL");
  EXPECT_NE(c[1].find("INCR"), std::string::npos);
  EXPECT_NE(c[1].find("PEXPIRE"), std::string::npos);
  EXPECT_NE(c[1].find("'NX'"), std::string::npos) << "a ban in force is not begun again";
  EXPECT_EQ(c[2], "2");
  EXPECT_EQ(c[3], "p:failures:198.51.100.7");
  EXPECT_EQ(c[4], "p:ban:198.51.100.7");
  EXPECT_EQ(c[5], "600000");
  EXPECT_EQ(c[6], "3");
  EXPECT_EQ(c[7], "1800000");
  EXPECT_EQ(c[8], "p:bans");
  EXPECT_EQ(c[9], "ban 198.51.100.7 1800000");
}

TEST(BanStoreCommands, ShareBanKeepsABanInForceUnlessManual) {
  Keys keys("p:");
  Command own = share_ban(keys, kV4, minutes(30), BanOrigin::Failures);
  ASSERT_EQ(own.size(), 9u);
  EXPECT_EQ(own[3], "p:ban:198.51.100.7");
  EXPECT_EQ(own[4], "failures");
  EXPECT_EQ(own[5], "1800000");
  EXPECT_EQ(own[6], "NX");
  EXPECT_EQ(own[8], "ban 198.51.100.7 1800000");
  Command manual = share_ban(keys, kV6, minutes(1), BanOrigin::Manual);
  EXPECT_EQ(manual[4], "manual");
  EXPECT_EQ(manual[6], "replace");
  EXPECT_EQ(manual[8], "ban 2001:db8::7 60000");
}

TEST(BanStoreCommands, LiftBanDeletesBothKeysAndAnnounces) {
  Command c = lift_ban(Keys("p:"), kV4);
  ASSERT_EQ(c.size(), 7u);
  EXPECT_EQ(c[2], "2");
  EXPECT_EQ(c[3], "p:ban:198.51.100.7");
  EXPECT_EQ(c[4], "p:failures:198.51.100.7");
  EXPECT_EQ(c[5], "p:bans");
  EXPECT_EQ(c[6], "unban 198.51.100.7");
}

TEST(BanStoreCommands, LoadingAndHealthCommands) {
  Keys keys("p:");
  EXPECT_EQ(subscribe(keys), (Command{"SUBSCRIBE", "p:bans"}));
  EXPECT_EQ(scan_bans(keys, "0"), (Command{"SCAN", "0", "MATCH", "p:ban:*", "COUNT", "500"}));
  EXPECT_EQ(time_left("p:ban:198.51.100.7"), (Command{"PTTL", "p:ban:198.51.100.7"}));
  EXPECT_EQ(ping(), (Command{"PING"}));
}

struct MessageCase {
  std::string_view name;
  std::string_view text;
  bool valid;
  Announcement::Kind kind;
  std::string_view client;
  long long ms;
};

std::ostream& operator<<(std::ostream& os, const MessageCase& c) { return os << c.name; }

const auto kMessages = std::to_array<MessageCase>({
    {"a v4 ban", "ban 198.51.100.7 1800000", true, Announcement::Kind::Ban, "198.51.100.7",
     1800000},
    {"a v6 ban", "ban 2001:db8::7 60000", true, Announcement::Kind::Ban, "2001:db8::7", 60000},
    {"an unban", "unban 198.51.100.7", true, Announcement::Kind::Unban, "198.51.100.7", 0},
    {"a ban without a duration", "ban 198.51.100.7", false, {}, "", 0},
    {"a ban of zero milliseconds", "ban 198.51.100.7 0", false, {}, "", 0},
    {"a negative duration", "ban 198.51.100.7 -5", false, {}, "", 0},
    {"a duration with a unit", "ban 198.51.100.7 30m", false, {}, "", 0},
    {"a host name instead of an address", "ban mail.example 1000", false, {}, "", 0},
    {"an unknown verb", "kick 198.51.100.7", false, {}, "", 0},
    {"trailing text after an unban", "unban 198.51.100.7 x", false, {}, "", 0},
    {"an empty message", "", false, {}, "", 0},
});

class BanStoreMessage : public testing::TestWithParam<MessageCase> {};

TEST_P(BanStoreMessage, ParsesOrIsIgnored) {
  const MessageCase& c = GetParam();
  auto a = parse_message(c.text);
  ASSERT_EQ(a.has_value(), c.valid);
  if (!c.valid) {
    return;
  }
  EXPECT_EQ(a->kind, c.kind);
  EXPECT_EQ(a->client, *Address::parse(c.client));
  EXPECT_EQ(a->duration.count(), c.ms);
  EXPECT_EQ(to_message(*a), c.text) << "what is parsed is what replicas send";
}

INSTANTIATE_TEST_SUITE_P(Announcements, BanStoreMessage, testing::ValuesIn(kMessages),
                         test::CaseName());

} // namespace
} // namespace popgate::ban_store
