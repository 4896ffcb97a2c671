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

const Cidr kBlock = *Cidr::parse("198.51.100.0/24");

TEST(BanStoreKeys, NameOnlyTheAddressUnderThePrefix) {
  Keys keys("popgate:");
  EXPECT_EQ(keys.failures(kV4), "popgate:failures:198.51.100.7");
  EXPECT_EQ(keys.ban(Cidr{kV4}), "popgate:ban:198.51.100.7");
  EXPECT_EQ(keys.ban(Cidr{kV6}), "popgate:ban:2001:db8::7");
  EXPECT_EQ(keys.ban(kBlock), "popgate:ban:198.51.100.0/24");
  EXPECT_EQ(keys.channel(), "popgate:bans");
  EXPECT_EQ(keys.ban_pattern(), "popgate:ban:*");
}

TEST(BanStoreKeys, GlobCharactersInThePrefixAreEscapedForScan) {
  EXPECT_EQ(Keys("gw[1]*?\\:").ban_pattern(), "gw\\[1\\]\\*\\?\\\\:ban:*");
}

TEST(BanStoreKeys, BanKeysGiveBackTheirAddressOrBlock) {
  Keys keys("popgate:");
  EXPECT_EQ(keys.banned_block("popgate:ban:198.51.100.7"), Cidr{kV4});
  EXPECT_EQ(keys.banned_block("popgate:ban:2001:db8::7"), Cidr{kV6});
  EXPECT_EQ(keys.banned_block("popgate:ban:198.51.100.0/24"), kBlock);
  EXPECT_FALSE(keys.banned_block("popgate:failures:198.51.100.7"));
  EXPECT_FALSE(keys.banned_block("other:ban:198.51.100.7"));
  EXPECT_FALSE(keys.banned_block("popgate:ban:not-an-address"));
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
  Command own = share_ban(keys, {BanOrigin::Failures, Cidr{kV4}, minutes(30)});
  ASSERT_EQ(own.size(), 9u);
  EXPECT_EQ(own[3], "p:ban:198.51.100.7");
  EXPECT_EQ(own[4], "failures");
  EXPECT_EQ(own[5], "1800000");
  EXPECT_EQ(own[6], "NX");
  EXPECT_EQ(own[8], "ban 198.51.100.7 1800000");
  Command manual = share_ban(keys, {BanOrigin::Manual, Cidr{kV6}, minutes(1)});
  EXPECT_EQ(manual[4], "manual");
  EXPECT_EQ(manual[6], "replace");
  EXPECT_EQ(manual[8], "manual 2001:db8::7 60000");
}

TEST(BanStoreCommands, AManualBanOfABlockUntilUnbanHasNoExpiry) {
  Command c = share_ban(Keys("p:"), {BanOrigin::Manual, kBlock, std::nullopt});
  ASSERT_EQ(c.size(), 9u);
  EXPECT_EQ(c[3], "p:ban:198.51.100.0/24");
  EXPECT_EQ(c[5], "0") << "the script sets no PX for 0";
  EXPECT_NE(c[1].find("ARGV[2] ~= '0'"), std::string::npos);
  EXPECT_EQ(c[8], "manual 198.51.100.0/24 forever");
}

TEST(BanStoreCommands, LiftBanDeletesBothKeysAndAnnounces) {
  Command c = lift_ban(Keys("p:"), Cidr{kV4});
  ASSERT_EQ(c.size(), 7u);
  EXPECT_EQ(c[2], "2");
  EXPECT_EQ(c[3], "p:ban:198.51.100.7");
  EXPECT_EQ(c[4], "p:failures:198.51.100.7");
  EXPECT_EQ(c[5], "p:bans");
  EXPECT_EQ(c[6], "unban 198.51.100.7");
}

TEST(BanStoreCommands, LiftingABlockDeletesItsKeyOnly) {
  Command c = lift_ban(Keys("p:"), kBlock);
  EXPECT_EQ(
      c, (Command{"EVAL", c[1], "1", "p:ban:198.51.100.0/24", "p:bans", "unban 198.51.100.0/24"}));
}

TEST(BanStoreCommands, LoadingAndHealthCommands) {
  Keys keys("p:");
  EXPECT_EQ(subscribe(keys), (Command{"SUBSCRIBE", "p:bans"}));
  EXPECT_EQ(scan_bans(keys, "0"), (Command{"SCAN", "0", "MATCH", "p:ban:*", "COUNT", "500"}));
  Command read = read_ban("p:ban:198.51.100.7");
  ASSERT_EQ(read.size(), 4u);
  EXPECT_NE(read[1].find("PTTL"), std::string::npos);
  EXPECT_EQ(read[3], "p:ban:198.51.100.7");
  EXPECT_EQ(ping(), (Command{"PING"}));
}

TEST(BanStoreLoading, StoredBansAreReadBackWithTheirOriginAndTimeLeft) {
  auto failures = stored_ban(Cidr{kV4}, "failures", 5000);
  ASSERT_TRUE(failures);
  EXPECT_EQ(failures->origin, BanOrigin::Failures);
  EXPECT_EQ(failures->duration, Millis{5000});
  auto endless = stored_ban(kBlock, "manual", -1);
  ASSERT_TRUE(endless);
  EXPECT_EQ(endless->origin, BanOrigin::Manual);
  EXPECT_EQ(endless->block, kBlock);
  EXPECT_FALSE(endless->duration);
  EXPECT_FALSE(stored_ban(Cidr{kV4}, "manual", -2)) << "gone between SCAN and the read";
  EXPECT_FALSE(stored_ban(Cidr{kV4}, "failures", -1)) << "an automatic ban always ends";
  EXPECT_FALSE(stored_ban(kBlock, "failures", 5000)) << "automatic bans are of one address";
  EXPECT_FALSE(stored_ban(Cidr{kV4}, "something else", 5000));
}

struct MessageCase {
  std::string_view name;
  std::string_view text;
  bool valid;
  Announcement::Kind kind;
  BanOrigin origin;
  std::string_view block;
  long long ms; // 0: until unban
};

std::ostream& operator<<(std::ostream& os, const MessageCase& c) { return os << c.name; }

constexpr auto kBan = Announcement::Kind::Ban;
constexpr auto kUnban = Announcement::Kind::Unban;
constexpr auto kFailures = BanOrigin::Failures;
constexpr auto kManual = BanOrigin::Manual;

const auto kMessages = std::to_array<MessageCase>({
    {"a v4 ban", "ban 198.51.100.7 1800000", true, kBan, kFailures, "198.51.100.7", 1800000},
    {"a v6 ban", "ban 2001:db8::7 60000", true, kBan, kFailures, "2001:db8::7", 60000},
    {"an unban", "unban 198.51.100.7", true, kUnban, kManual, "198.51.100.7", 0},
    {"a manual ban of a block", "manual 198.51.100.0/24 60000", true, kBan, kManual,
     "198.51.100.0/24", 60000},
    {"a manual ban until unban", "manual 2001:db8::/32 forever", true, kBan, kManual,
     "2001:db8::/32", 0},
    {"an unban of a block", "unban 198.51.100.0/24", true, kUnban, kManual, "198.51.100.0/24", 0},
    {"an automatic ban of a block", "ban 198.51.100.0/24 1000", false, {}, {}, "", 0},
    {"an automatic ban without end", "ban 198.51.100.7 forever", false, {}, {}, "", 0},
    {"a block with host bits set is masked", "manual 198.51.100.7/24 1000", true, kBan, kManual,
     "198.51.100.0/24", 1000},
    {"a ban without a duration", "ban 198.51.100.7", false, {}, {}, "", 0},
    {"a ban of zero milliseconds", "ban 198.51.100.7 0", false, {}, {}, "", 0},
    {"a negative duration", "ban 198.51.100.7 -5", false, {}, {}, "", 0},
    {"a duration with a unit", "ban 198.51.100.7 30m", false, {}, {}, "", 0},
    {"a host name instead of an address", "ban mail.example 1000", false, {}, {}, "", 0},
    {"a prefix too long", "manual 198.51.100.0/33 1000", false, {}, {}, "", 0},
    {"an unknown verb", "kick 198.51.100.7", false, {}, {}, "", 0},
    {"trailing text after an unban", "unban 198.51.100.7 x", false, {}, {}, "", 0},
    {"an empty message", "", false, {}, {}, "", 0},
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
  EXPECT_EQ(a->ban.block, *Cidr::parse(c.block));
  if (c.kind == kBan) {
    EXPECT_EQ(a->ban.origin, c.origin);
    EXPECT_EQ(a->ban.duration.value_or(Millis{0}).count(), c.ms);
  }
  if (c.text.find(c.block) != std::string_view::npos) {
    EXPECT_EQ(to_message(*a), c.text) << "what is parsed is what replicas send";
  }
  auto again = parse_message(to_message(*a));
  ASSERT_TRUE(again) << "what is parsed is what replicas send: " << to_message(*a);
  EXPECT_EQ(to_message(*again), to_message(*a));
}

INSTANTIATE_TEST_SUITE_P(Announcements, BanStoreMessage, testing::ValuesIn(kMessages),
                         test::CaseName());

} // namespace
} // namespace popgate::ban_store
