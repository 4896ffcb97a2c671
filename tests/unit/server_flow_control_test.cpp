#include "proxy/server/flow_control.hpp"

#include <gtest/gtest.h>

#include <array>

#include <vector>

namespace popgate::proxy {
namespace {

using Action = FlowControl::Action;

struct Step {
  bool queue; // true: queued(n), false: written(n)
  std::size_t n;
  Action expected;
};

struct Case {
  std::string_view name;
  std::vector<Step> steps;
};

class FlowControlTest : public testing::TestWithParam<Case> {};

TEST_P(FlowControlTest, FollowsHighAndLowWater) {
  FlowControl fc(100);
  for (std::size_t i = 0; i < GetParam().steps.size(); ++i) {
    const auto& s = GetParam().steps[i];
    auto got = s.queue ? fc.queued(s.n) : fc.written(s.n);
    EXPECT_EQ(got, s.expected) << "step " << i;
  }
}

const auto kCases = std::to_array<Case>({
    {"staying_at_the_high_water_mark_does_not_pause", {{true, 100, Action::None}}},
    {"crossing_the_high_water_mark_pauses_once",
     {{true, 60, Action::None}, {true, 41, Action::Pause}, {true, 500, Action::None}}},
    {"draining_above_low_water_keeps_the_pause",
     {{true, 150, Action::Pause}, {false, 99, Action::None}, {false, 1, Action::Resume}}},
    {"resume_happens_at_half_the_high_mark",
     {{true, 101, Action::Pause}, {false, 50, Action::None}, {false, 1, Action::Resume}}},
    {"pausing_again_after_a_resume",
     {{true, 101, Action::Pause},
      {false, 101, Action::Resume},
      {true, 100, Action::None},
      {true, 1, Action::Pause}}},
    {"writes_without_a_pause_never_resume",
     {{true, 10, Action::None}, {false, 10, Action::None}, {false, 5, Action::None}}},
});

INSTANTIATE_TEST_SUITE_P(Cases, FlowControlTest, testing::ValuesIn(kCases),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(FlowControl, CountsPausesAndNeverGoesNegative) {
  FlowControl fc(10);
  fc.queued(11);
  fc.written(100);
  EXPECT_EQ(fc.queued(), 0u);
  EXPECT_FALSE(fc.paused());
  fc.queued(11);
  EXPECT_EQ(fc.pauses(), 2u);
}

} // namespace
} // namespace popgate::proxy
