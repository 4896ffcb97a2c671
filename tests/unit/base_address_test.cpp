#include "base/address.hpp"
#include "base/duration.hpp"

#include <array>
#include <gtest/gtest.h>

namespace popgate {
namespace {

// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): fields in the order the table reads
struct EndpointCase {
  std::string_view name;
  std::string_view text;
  bool valid;
  std::string_view host;
  std::uint16_t port;
};

class EndpointTest : public testing::TestWithParam<EndpointCase> {};

TEST_P(EndpointTest, Parses) {
  const auto& c = GetParam();
  auto ep = Endpoint::parse(c.text);
  ASSERT_EQ(ep.has_value(), c.valid);
  if (c.valid) {
    EXPECT_EQ(ep->host, c.host);
    EXPECT_EQ(ep->port, c.port);
    EXPECT_EQ(ep->to_string(), c.text);
  }
}

const auto kEndpoints = std::to_array<EndpointCase>({
    {"ipv4_with_port", "127.0.0.1:995", true, "127.0.0.1", 995},
    {"ipv6_in_brackets", "[::1]:110", true, "::1", 110},
    {"ipv6_wildcard", "[::]:995", true, "::", 995},
    {"ipv6_without_brackets_is_refused", "::1:110", false, "", 0},
    {"port_out_of_range_is_refused", "1.2.3.4:99999", false, "", 0},
    {"missing_port_is_refused", "1.2.3.4", false, "", 0},
    {"host_names_are_refused", "mail.example.com:110", false, "", 0},
    {"empty_port_is_refused", "1.2.3.4:", false, "", 0},
});

INSTANTIATE_TEST_SUITE_P(Cases, EndpointTest, testing::ValuesIn(kEndpoints),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(Cidr, MasksHostBitsAndMatches) {
  auto c = Cidr::parse("192.0.2.99/24");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(*Address::parse("192.0.2.1")));
  EXPECT_FALSE(c->contains(*Address::parse("192.0.3.1")));
  EXPECT_FALSE(Cidr::parse("192.0.2.0/33"));
  EXPECT_FALSE(Cidr::parse("2001:db8::/129"));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains(*Address::parse("8.8.8.8")));
}

TEST(Cidr, PrintsAsWrittenWithHostBitsMasked) {
  EXPECT_EQ(Cidr::parse("192.0.2.99/24")->to_string(), "192.0.2.0/24");
  EXPECT_EQ(Cidr::parse("192.0.2.99")->to_string(), "192.0.2.99");
  EXPECT_EQ(Cidr::parse("192.0.2.99/32")->to_string(), "192.0.2.99");
  EXPECT_EQ(Cidr::parse("2001:db8::1/32")->to_string(), "2001:db8::/32");
  EXPECT_EQ(Cidr::parse("2001:db8::1")->to_string(), "2001:db8::1");
  EXPECT_EQ(*Cidr::parse("192.0.2.1/24"), *Cidr::parse("192.0.2.200/24"));
}

TEST(Duration, ParsesOneUnit) {
  EXPECT_EQ(parse_duration("30s"), Millis(30000));
  EXPECT_EQ(parse_duration("10m"), Millis(600000));
  EXPECT_EQ(parse_duration("1h"), Millis(3600000));
  EXPECT_EQ(parse_duration("250ms"), Millis(250));
  EXPECT_EQ(parse_duration("0"), Millis(0));
  EXPECT_FALSE(parse_duration("30"));
  EXPECT_FALSE(parse_duration("30x"));
  EXPECT_FALSE(parse_duration("1m30s"));
  EXPECT_FALSE(parse_duration("-5s"));
  EXPECT_FALSE(parse_duration(""));
}

} // namespace
} // namespace popgate
