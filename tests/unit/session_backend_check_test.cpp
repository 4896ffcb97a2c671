// A backend check decides up or down from the server's greeting, answers "+OK" with QUIT, and
// ends on QUIT's reply, EOF or its deadline, whichever way the bytes arrive.

#include "proxy/session/backend_check.hpp"

#include <array>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace popgate::session {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kTimeout{1000};
constexpr std::size_t kMaxLine = 64;

enum class End { None, Eof, Timer }; // what follows the server's bytes

struct Case {
  std::string_view name;
  std::string_view server; // bytes the server sends after the connect
  std::string_view reply;  // what it sends once QUIT went out
  End then;
  bool up;
  std::optional<BackendFailure> failure; // when down
  bool sends_quit;
  bool done;
};

// The bytes at the end of an exact-size heap buffer, so ASan sees any read past them.
void feed_exact(BackendCheck& check, std::string_view bytes) {
  const std::vector<char> buffer(bytes.begin(), bytes.end());
  check.data(std::string_view(buffer.data(), buffer.size()));
}

class BackendCheckTest : public ::testing::TestWithParam<std::tuple<Case, bool>> {};

TEST_P(BackendCheckTest, DecidesFromTheGreeting) {
  const auto& [c, byte_at_a_time] = GetParam();
  BackendCheck check(kTimeout, kMaxLine);
  check.connected(milliseconds(100));
  EXPECT_EQ(check.deadline(), milliseconds(1100));
  std::string sent;
  if (byte_at_a_time) {
    for (char ch : c.server) {
      feed_exact(check, std::string_view(&ch, 1));
      sent += check.take_output();
    }
  } else if (!c.server.empty()) {
    feed_exact(check, c.server);
    sent += check.take_output();
  }
  if (!c.reply.empty()) {
    feed_exact(check, c.reply);
  }
  if (c.then == End::Eof) {
    check.eof();
  } else if (c.then == End::Timer) {
    check.timer(milliseconds(1099)); // not yet due: nothing changes
    check.timer(milliseconds(1100));
  }
  EXPECT_EQ(sent, c.sends_quit ? "QUIT\r\n" : "");
  EXPECT_EQ(check.done(), c.done);
  ASSERT_TRUE(check.verdict().has_value());
  EXPECT_EQ(check.verdict()->up, c.up);
  if (c.failure) {
    EXPECT_EQ(check.verdict()->failure, *c.failure);
    EXPECT_FALSE(check.verdict()->detail.empty());
  }
}

const std::string kOverlong = "+OK " + std::string(100, 'x');

const auto kCases = std::to_array<Case>({
    {"OkGreetingThenOkToQuitIsUpAndDone", "+OK Dovecot ready.\r\n", "+OK Logging out\r\n",
     End::None, true, std::nullopt, true, true},
    {"OkGreetingAloneIsUpAndWaitsForQuitsReply", "+OK ready\r\n", "", End::None, true, std::nullopt,
     true, false},
    {"OkGreetingThenEofIsUp", "+OK ready\r\n", "", End::Eof, true, std::nullopt, true, true},
    {"OkGreetingAndNoReplyToQuitIsStillUp", "+OK ready\r\n", "", End::Timer, true, std::nullopt,
     true, true},
    {"BareLfGreetingIsUp", "+OK ready\n", "", End::Eof, true, std::nullopt, true, true},
    {"ErrGreetingIsDown", "-ERR [SYS/TEMP] too many connections\r\n", "", End::None, false,
     BackendFailure::BadGreeting, false, true},
    {"GarbageGreetingIsDown", "HTTP/1.1 400 Bad Request\r\n", "", End::None, false,
     BackendFailure::BadGreeting, false, true},
    {"OverlongGreetingIsDown", kOverlong, "", End::None, false, BackendFailure::BadGreeting, false,
     true},
    {"EofBeforeTheGreetingIsDown", "+OK half a li", "", End::Eof, false,
     BackendFailure::BadGreeting, false, true},
    {"SilentServerTimesOut", "", "", End::Timer, false, BackendFailure::GreetingTimeout, false,
     true},
    {"HalfAGreetingTimesOut", "+OK rea", "", End::Timer, false, BackendFailure::GreetingTimeout,
     false, true},
});

INSTANTIATE_TEST_SUITE_P(Greetings, BackendCheckTest,
                         ::testing::Combine(::testing::ValuesIn(kCases), ::testing::Bool()),
                         [](const auto& test) {
                           return std::string(std::get<0>(test.param).name) +
                                  (std::get<1>(test.param) ? "ByteAtATime" : "Whole");
                         });

TEST(BackendCheck, AFailedConnectIsDownWithItsReason) {
  BackendCheck refused(kTimeout, kMaxLine);
  refused.connect_failed(false, "connection refused");
  ASSERT_TRUE(refused.done());
  EXPECT_FALSE(refused.verdict()->up);
  EXPECT_EQ(refused.verdict()->failure, BackendFailure::ConnectFailed);
  EXPECT_NE(refused.verdict()->detail.find("connection refused"), std::string::npos);

  BackendCheck slow(kTimeout, kMaxLine);
  slow.connect_failed(true, "timed out");
  EXPECT_EQ(slow.verdict()->failure, BackendFailure::ConnectTimeout);
}

TEST(BackendCheck, NoVerdictBeforeTheGreetingAndNothingAfterDone) {
  BackendCheck check(kTimeout, kMaxLine);
  EXPECT_FALSE(check.verdict().has_value());
  check.connected(milliseconds(0));
  check.data("+OK");
  EXPECT_FALSE(check.verdict().has_value());
  EXPECT_FALSE(check.done());
  check.data(" hi\r\n-ERR late garbage\r\n");
  EXPECT_TRUE(check.verdict()->up);
  EXPECT_EQ(check.take_output(), "QUIT\r\n");
  check.data("more\r\n");
  check.eof();
  EXPECT_TRUE(check.done());
  EXPECT_TRUE(check.verdict()->up);
  EXPECT_EQ(check.take_output(), "");
}

TEST(BackendCheck, APreambleGoesOutFirstOnceConnected) {
  BackendCheck check(kTimeout, kMaxLine, proxy::ForwardClient::ProxyV1);
  EXPECT_EQ(check.take_output(), "") << "nothing before the connect";
  check.connected(milliseconds(0));
  EXPECT_EQ(check.take_output(), "PROXY UNKNOWN\r\n");
  check.data("+OK ready\r\n");
  EXPECT_EQ(check.take_output(), "QUIT\r\n");
  EXPECT_TRUE(check.verdict()->up);
}

} // namespace
} // namespace popgate::session
