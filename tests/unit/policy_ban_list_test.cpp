#include "policy/ban_list.hpp"

#include <gtest/gtest.h>

namespace popgate::policy {
namespace {

using std::chrono::minutes;

const Address kClient = *Address::parse("198.51.100.7");
const Address kOther = *Address::parse("198.51.100.8");

TEST(BanList, BansAfterEnoughFailuresWithinTheWindow) {
  BanList bans({3, minutes(10), minutes(30)});
  Millis t{1'000'000};
  EXPECT_FALSE(bans.record_failure(kClient, t));
  EXPECT_FALSE(bans.record_failure(kClient, t + minutes(1)));
  EXPECT_TRUE(bans.record_failure(kClient, t + minutes(2)));
  EXPECT_TRUE(bans.banned(kClient, t + minutes(2)));
  EXPECT_FALSE(bans.banned(kOther, t + minutes(2)));
  EXPECT_EQ(bans.active(t + minutes(3)), 1u);
}

TEST(BanList, FailuresOutsideTheWindowDoNotAddUp) {
  BanList bans({3, minutes(10), minutes(30)});
  Millis t{0};
  bans.record_failure(kClient, t);
  bans.record_failure(kClient, t + minutes(6));
  EXPECT_FALSE(bans.record_failure(kClient, t + minutes(11))); // the first one has expired
  EXPECT_TRUE(bans.record_failure(kClient, t + minutes(12)));
}

TEST(BanList, BanExpiresAfterItsDurationAndIsForgotten) {
  BanList bans({1, minutes(10), minutes(30)});
  Millis t{5000};
  EXPECT_TRUE(bans.record_failure(kClient, t));
  EXPECT_TRUE(bans.banned(kClient, t + minutes(29)));
  EXPECT_FALSE(bans.banned(kClient, t + minutes(30)));
  EXPECT_EQ(bans.active(t + minutes(41)), 0u);
}

TEST(BanList, FailuresDuringABanDoNotExtendIt) {
  BanList bans({1, minutes(10), minutes(30)});
  Millis t{0};
  bans.record_failure(kClient, t);
  EXPECT_FALSE(bans.record_failure(kClient, t + minutes(20)));
  EXPECT_FALSE(bans.banned(kClient, t + minutes(30)));
}

} // namespace
} // namespace popgate::policy
