// The shared ban store's connection state machine: one log line per outage, one on recovery,
// backoff that doubles to a cap and starts over once the store is back.

#include "proxy/ban_store/link.hpp"

#include <gtest/gtest.h>
#include <vector>

namespace popgate::ban_store {
namespace {

using State = Link::State;

void bring_up(Link& link) {
  link.connected();
  link.synced();
  ASSERT_TRUE(link.ready());
}

TEST(BanStoreLink, StartsConnectingAndIsReadyOnlyOnceSynced) {
  Link link;
  EXPECT_EQ(link.state(), State::Off);
  EXPECT_TRUE(link.start().connect);
  EXPECT_EQ(link.state(), State::Connecting);
  link.connected();
  EXPECT_EQ(link.state(), State::Syncing);
  EXPECT_FALSE(link.ready()) << "failures wait until the store's bans are loaded";
  Link::Step step = link.synced();
  EXPECT_TRUE(link.ready());
  EXPECT_FALSE(step.log_recovery) << "no outage was logged, so there is nothing to recover from";
}

TEST(BanStoreLink, AnOutageIsLoggedOnceAndItsRecoveryOnce) {
  Link link;
  link.start();
  bring_up(link);
  Link::Step first = link.failed();
  EXPECT_TRUE(first.log_outage);
  EXPECT_EQ(link.state(), State::Down);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(link.retry().connect);
    EXPECT_FALSE(link.failed().log_outage) << "retry " << i << " fails within the same outage";
  }
  link.retry();
  link.connected();
  EXPECT_TRUE(link.synced().log_recovery);
  EXPECT_TRUE(link.failed().log_outage) << "the next failure is a new outage";
}

TEST(BanStoreLink, AFailedFirstAttemptIsAnOutageToo) {
  Link link;
  link.start();
  EXPECT_TRUE(link.failed().log_outage);
  link.retry();
  link.connected();
  EXPECT_TRUE(link.synced().log_recovery);
}

TEST(BanStoreLink, BackoffDoublesToItsCapAndStartsOverWhenReady) {
  Link link;
  link.start();
  std::vector<Millis> waits;
  for (int i = 0; i < 6; ++i) {
    waits.push_back(link.failed().retry_in);
    link.retry();
  }
  EXPECT_EQ(waits, (std::vector<Millis>{Millis{200}, Millis{400}, Millis{800}, Millis{1600},
                                        Link::kMaxRetry, Link::kMaxRetry}));
  bring_up(link);
  EXPECT_EQ(link.failed().retry_in, Link::kFirstRetry);
}

TEST(BanStoreLink, OneFailureSeenByBothConnectionsCountsOnce) {
  Link link;
  link.start();
  bring_up(link);
  EXPECT_TRUE(link.failed().log_outage);
  Link::Step again = link.failed();
  EXPECT_FALSE(again.log_outage);
  EXPECT_EQ(again.retry_in, Millis{0}) << "no second retry timer";
}

TEST(BanStoreLink, StoppedLinkIgnoresLateEvents) {
  Link link;
  link.start();
  link.stop();
  EXPECT_EQ(link.failed().retry_in, Millis{0});
  EXPECT_FALSE(link.retry().connect);
  link.connected();
  link.synced();
  EXPECT_EQ(link.state(), State::Off);
}

} // namespace
} // namespace popgate::ban_store
