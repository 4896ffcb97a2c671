// [policy.ban] redis: which spellings name a Redis server, and how each is read back.

#include "proxy/config/config.hpp"

#include "case_name.hpp"

#include <array>
#include <gtest/gtest.h>
#include <ostream>
#include <string>
#include <string_view>

namespace popgate::proxy {
namespace {

struct Case {
  std::string_view name;
  std::string_view text;
  bool valid;
  std::string_view host;
  std::uint16_t port;
  std::string_view unix_path;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

const auto kCases = std::to_array<Case>({
    {"a numeric IPv4 address and port", "127.0.0.1:6379", true, "127.0.0.1", 6379, ""},
    {"a host name and port", "redis.mail.example:6380", true, "redis.mail.example", 6380, ""},
    {"an IPv6 address in brackets", "[2001:db8::6]:6379", true, "2001:db8::6", 6379, ""},
    {"a unix socket path", "unix:/run/redis/redis.sock", true, "", 0, "/run/redis/redis.sock"},
    {"no port", "redis", false, "", 0, ""},
    {"port zero", "redis:0", false, "", 0, ""},
    {"a port above 65535", "redis:65536", false, "", 0, ""},
    {"a port with trailing text", "redis:6379x", false, "", 0, ""},
    {"an empty host", ":6379", false, "", 0, ""},
    {"IPv6 without brackets", "2001:db8::6:6379", false, "", 0, ""},
    {"IPv4 in brackets", "[192.0.2.1]:6379", false, "", 0, ""},
    {"a host with a slash", "redis/0:6379", false, "", 0, ""},
    {"a relative unix path", "unix:redis.sock", false, "", 0, ""},
});

class RedisAddressParse : public testing::TestWithParam<Case> {};

TEST_P(RedisAddressParse, ReadsOrRefuses) {
  const Case& c = GetParam();
  auto a = RedisAddress::parse(c.text);
  ASSERT_EQ(a.has_value(), c.valid);
  if (!c.valid) {
    return;
  }
  EXPECT_EQ(a->host, c.host);
  EXPECT_EQ(a->port, c.port);
  EXPECT_EQ(a->unix_path, c.unix_path);
  EXPECT_EQ(a->to_string(), c.text) << "to_string() gives back what was written";
}

INSTANTIATE_TEST_SUITE_P(Spellings, RedisAddressParse, testing::ValuesIn(kCases), test::CaseName());

TEST(RedisAddress, UnixPathLongerThanSockaddrUnHoldsIsRefused) {
  EXPECT_TRUE(RedisAddress::parse("unix:/" + std::string(106, 'x')).has_value());
  EXPECT_FALSE(RedisAddress::parse("unix:/" + std::string(107, 'x')).has_value());
}

} // namespace
} // namespace popgate::proxy
