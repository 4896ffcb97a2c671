// The pipeline keeps popgate's own replies behind the backend responses queued before them,
// and says when it is full.

#include "proxy/session/pipeline.hpp"

#include <gtest/gtest.h>

namespace popgate::session {
namespace {

LocalReply reply(std::string text) { return LocalReply{std::move(text)}; }

TEST(Pipeline, ALocalReplyWithNothingOutstandingGoesAtOnce) {
  Pipeline p;
  auto r = reply("-ERR x\r\n");
  EXPECT_TRUE(p.local(r));
  EXPECT_TRUE(p.empty());
}

TEST(Pipeline, LocalRepliesWaitForTheResponsesQueuedBeforeThem) {
  Pipeline p;
  p.forwarded();
  auto a = reply("-ERR a\r\n");
  EXPECT_FALSE(p.local(a));
  p.forwarded();
  auto b = reply("-ERR b\r\n");
  EXPECT_FALSE(p.local(b));
  auto due = p.backend_done();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].text, "-ERR a\r\n");
  due = p.backend_done();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].text, "-ERR b\r\n");
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.local_bytes(), 0u);
}

TEST(Pipeline, IsFullAtItsDepthOrItsBytes) {
  Pipeline deep;
  for (std::size_t i = 0; i < Pipeline::kMaxDepth; ++i) {
    EXPECT_FALSE(deep.full());
    deep.forwarded();
  }
  EXPECT_TRUE(deep.full());

  Pipeline wide;
  wide.forwarded();
  auto big = reply(std::string(Pipeline::kMaxLocalBytes, 'x'));
  wide.local(big);
  EXPECT_TRUE(wide.full());
  wide.backend_done();
  EXPECT_FALSE(wide.full());
}

} // namespace
} // namespace popgate::session
