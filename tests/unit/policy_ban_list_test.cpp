#include "policy/ban_list.hpp"
#include "policy/shared_bans.hpp"

#include <gtest/gtest.h>

namespace popgate::policy {
namespace {

using std::chrono::minutes;

const Address kClient = *Address::parse("198.51.100.7");
const Address kOther = *Address::parse("198.51.100.8");

TEST(BanList, BansAfterEnoughFailuresWithinTheWindow) {
  BanList bans({3, minutes(10), minutes(30), {}});
  Millis t{1'000'000};
  EXPECT_FALSE(bans.record_failure(kClient, t));
  EXPECT_FALSE(bans.record_failure(kClient, t + minutes(1)));
  EXPECT_TRUE(bans.record_failure(kClient, t + minutes(2)));
  EXPECT_TRUE(bans.banned(kClient, t + minutes(2)));
  EXPECT_FALSE(bans.banned(kOther, t + minutes(2)));
  EXPECT_EQ(bans.active(t + minutes(3)), 1u);
}

TEST(BanList, FailuresOutsideTheWindowDoNotAddUp) {
  BanList bans({3, minutes(10), minutes(30), {}});
  Millis t{0};
  bans.record_failure(kClient, t);
  bans.record_failure(kClient, t + minutes(6));
  EXPECT_FALSE(bans.record_failure(kClient, t + minutes(11))); // the first one has expired
  EXPECT_TRUE(bans.record_failure(kClient, t + minutes(12)));
}

TEST(BanList, BanExpiresAfterItsDurationAndIsForgotten) {
  BanList bans({1, minutes(10), minutes(30), {}});
  Millis t{5000};
  EXPECT_TRUE(bans.record_failure(kClient, t));
  EXPECT_TRUE(bans.banned(kClient, t + minutes(29)));
  EXPECT_FALSE(bans.banned(kClient, t + minutes(30)));
  EXPECT_EQ(bans.active(t + minutes(41)), 0u);
}

TEST(BanList, FailuresDuringABanDoNotExtendIt) {
  BanList bans({1, minutes(10), minutes(30), {}});
  Millis t{0};
  bans.record_failure(kClient, t);
  EXPECT_FALSE(bans.record_failure(kClient, t + minutes(20)));
  EXPECT_FALSE(bans.banned(kClient, t + minutes(30)));
}

TEST(BanList, BanFromElsewhereHoldsForItsDurationAndResetsTheCount) {
  BanList bans({2, minutes(10), minutes(30), {}});
  Millis t{0};
  bans.record_failure(kClient, t);
  bans.ban(kClient, t, minutes(5));
  EXPECT_TRUE(bans.banned(kClient, t + minutes(4)));
  EXPECT_FALSE(bans.banned(kClient, t + minutes(5)));
  EXPECT_FALSE(bans.record_failure(kClient, t + minutes(6))) << "the earlier failure was reset";
  auto listed = bans.list(t + minutes(1));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].block, Cidr{kClient});
  EXPECT_FALSE(listed[0].manual);
  EXPECT_EQ(listed[0].until, t + minutes(5));
  EXPECT_TRUE(bans.list(t + minutes(5)).empty());
}

TEST(BanList, UnbanLiftsTheBanAndForgetsFailures) {
  BanList bans({2, minutes(10), minutes(30), {}});
  Millis t{0};
  bans.record_failure(kClient, t);
  EXPECT_TRUE(bans.record_failure(kClient, t));
  EXPECT_EQ(bans.unban(Cidr{kClient}, t), 1u);
  EXPECT_FALSE(bans.banned(kClient, t));
  EXPECT_FALSE(bans.record_failure(kClient, t)) << "counting starts again from zero";
  EXPECT_EQ(bans.active(t), 0u);
}

TEST(SharedBans, QueuesFailuresForTheStoreOnlyWhileSharingAndWakesOnce) {
  SharedBans shared;
  shared.configure({2, minutes(10), minutes(30), {}});
  std::size_t active = 0;
  std::size_t dropped = 0;
  shared.record_failure(kClient, Millis{0}, active);
  EXPECT_TRUE(shared.take_failures(dropped).empty()) << "no store: nothing is queued";

  int wakes = 0;
  shared.share([&wakes] { ++wakes; });
  shared.record_failure(kOther, Millis{0}, active);
  shared.record_failure(kOther, Millis{0}, active);
  EXPECT_EQ(wakes, 1) << "woken when the queue stops being empty, not per failure";
  auto queued = shared.take_failures(dropped);
  ASSERT_EQ(queued.size(), 2u);
  EXPECT_FALSE(queued[0].began_ban);
  EXPECT_TRUE(queued[1].began_ban) << "the second failure began the local ban";
  EXPECT_EQ(active, 1u);
  shared.record_failure(kClient, Millis{0}, active);
  EXPECT_EQ(wakes, 2);

  shared.share({});
  shared.record_failure(kClient, Millis{1}, active);
  EXPECT_TRUE(shared.take_failures(dropped).empty());
}

TEST(SharedBans, QueueIsBoundedAndCountsWhatItDrops) {
  SharedBans shared;
  shared.configure({1'000'000, minutes(10), minutes(30), {}});
  shared.share([] {});
  std::size_t active = 0;
  for (std::size_t i = 0; i < SharedBans::kMaxQueued + 3; ++i) {
    shared.record_failure(kClient, Millis{0}, active);
  }
  std::size_t dropped = 0;
  EXPECT_EQ(shared.take_failures(dropped).size(), SharedBans::kMaxQueued);
  EXPECT_EQ(dropped, 3u);
  EXPECT_TRUE(shared.take_failures(dropped).empty());
  EXPECT_EQ(dropped, 0u);
}

TEST(SharedBans, BansFromTheStoreAreSeenByAdmission) {
  SharedBans shared;
  std::size_t active = 0;
  shared.ban(kClient, Millis{0}, minutes(30), active);
  EXPECT_EQ(active, 1u);
  EXPECT_TRUE(shared.banned(kClient, minutes(29)));
  std::size_t lifted = 0;
  EXPECT_EQ(shared.unban_block(Cidr{kClient}, minutes(1), lifted), 0u);
  EXPECT_EQ(lifted, 1u);
  EXPECT_FALSE(shared.banned(kClient, minutes(1)));
}

TEST(BanList, ExemptAddressesAreNeverBannedAutomatically) {
  BanList bans({1, minutes(10), minutes(30), {*Cidr::parse("198.51.100.0/29")}});
  Millis t{0};
  EXPECT_TRUE(bans.exempt(kClient));
  EXPECT_FALSE(bans.record_failure(kClient, t));
  EXPECT_FALSE(bans.record_failure(kClient, t + minutes(1)));
  EXPECT_FALSE(bans.banned(kClient, t + minutes(1)));
  EXPECT_FALSE(bans.exempt(kOther));
  EXPECT_TRUE(bans.record_failure(kOther, t)); // next to the block, not in it
}

TEST(SharedBans, ExemptFailuresAreNotQueuedForTheStore) {
  SharedBans shared;
  shared.configure({1, minutes(10), minutes(30), {*Cidr::parse("198.51.100.0/29")}});
  shared.share([] {});
  std::size_t active = 0;
  std::size_t dropped = 0;
  EXPECT_FALSE(shared.record_failure(kClient, Millis{0}, active));
  EXPECT_TRUE(shared.take_failures(dropped).empty());
  EXPECT_TRUE(shared.record_failure(kOther, Millis{0}, active));
  EXPECT_EQ(shared.take_failures(dropped).size(), 1u);
}

TEST(BanList, ManualBanCoversABlockUntilLifted) {
  BanList bans;
  Millis t{0};
  auto block = *Cidr::parse("198.51.100.0/24");
  bans.ban(block, std::nullopt);
  EXPECT_TRUE(bans.banned(kClient, t + minutes(60 * 24 * 365)));
  EXPECT_FALSE(bans.banned(*Address::parse("198.51.101.1"), t));
  EXPECT_EQ(bans.active(t), 1u);
  ASSERT_EQ(bans.list(t).size(), 1u);
  EXPECT_TRUE(bans.list(t)[0].manual);
  EXPECT_FALSE(bans.list(t)[0].until.has_value());
  EXPECT_EQ(bans.unban(block, t), 1u);
  EXPECT_FALSE(bans.banned(kClient, t));
  EXPECT_EQ(bans.active(t), 0u);
}

TEST(BanList, ManualBanWithADurationExpires) {
  BanList bans;
  Millis t{1000};
  bans.ban(*Cidr::parse("198.51.100.7"), t + minutes(5));
  EXPECT_TRUE(bans.banned(kClient, t + minutes(4)));
  EXPECT_FALSE(bans.banned(kClient, t + minutes(5)));
  EXPECT_EQ(bans.active(t + minutes(5)), 0u);
  EXPECT_TRUE(bans.list(t + minutes(5)).empty());
}

TEST(BanList, ManualBanAppliesToAnExemptAddress) {
  BanList bans({1, minutes(10), minutes(30), {*Cidr::parse("198.51.100.0/24")}});
  bans.ban(*Cidr::parse("198.51.100.7"), std::nullopt);
  EXPECT_TRUE(bans.banned(kClient, Millis{0}));
}

TEST(BanList, UnbanOfABlockLiftsTheAutomaticBansInsideIt) {
  BanList bans({1, minutes(10), minutes(30), {}});
  Millis t{0};
  bans.record_failure(kClient, t);
  bans.record_failure(kOther, t);
  bans.record_failure(*Address::parse("203.0.113.9"), t);
  EXPECT_EQ(bans.list(t).size(), 3u);
  EXPECT_EQ(bans.unban(*Cidr::parse("198.51.100.0/24"), t), 2u);
  EXPECT_FALSE(bans.banned(kClient, t));
  EXPECT_FALSE(bans.banned(kOther, t));
  EXPECT_TRUE(bans.banned(*Address::parse("203.0.113.9"), t));
  EXPECT_EQ(bans.unban(*Cidr::parse("198.51.100.0/24"), t), 0u);
}

TEST(BanList, ReloadedSettingsKeepTheBansInForce) {
  BanList bans({1, minutes(10), minutes(30), {}});
  Millis t{0};
  bans.record_failure(kClient, t);
  bans.ban(*Cidr::parse("203.0.113.0/24"), std::nullopt);
  bans.set_settings({5, minutes(1), minutes(1), {}});
  EXPECT_TRUE(bans.banned(kClient, t + minutes(2)));
  EXPECT_TRUE(bans.banned(*Address::parse("203.0.113.1"), t + minutes(2)));
}

} // namespace
} // namespace popgate::policy
