#include "proxy/session/reply_order.hpp"

#include <gtest/gtest.h>

namespace popgate::proxy {
namespace {

TEST(ReplyOrder, LocalReplyGoesOutAtOnceWhenNothingIsOutstanding) {
  ReplyOrder order;
  EXPECT_TRUE(order.local({"-ERR nope\r\n"}));
  EXPECT_FALSE(order.waiting());
}

TEST(ReplyOrder, LocalReplyWaitsBehindAForwardedCommand) {
  ReplyOrder order;
  order.forwarded(); // RETR 1
  EXPECT_FALSE(order.local({"-ERR Unknown command\r\n"}));
  order.forwarded(); // STAT after the bad line
  auto due = order.backend_done();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].text, "-ERR Unknown command\r\n");
  EXPECT_TRUE(order.waiting()); // STAT still outstanding
  EXPECT_TRUE(order.backend_done().empty());
  EXPECT_FALSE(order.waiting());
}

TEST(ReplyOrder, ConsecutiveLocalRepliesComeOutTogetherInOrder) {
  ReplyOrder order;
  order.forwarded();
  order.local({"one\r\n"});
  order.local({"two\r\n", LocalReply::Then::StartTls});
  auto due = order.backend_done();
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].text, "one\r\n");
  EXPECT_EQ(due[1].then, LocalReply::Then::StartTls);
}

} // namespace
} // namespace popgate::proxy
