#include "proxy/proxy_protocol/proxy_header.hpp"

#include <array>
#include <gtest/gtest.h>

#include <vector>

namespace popgate::proxy_protocol {
namespace {

using Status = ProxyHeaderParser::Status;

std::string v2_ipv4(std::uint8_t command = 0x21) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(command);
  h += static_cast<char>(0x11);
  h += std::string("\x00\x0c", 2);
  h += std::string("\xc0\x00\x02\x07", 4); // 192.0.2.7
  h += std::string("\xc6\x33\x64\x01", 4); // 198.51.100.1
  h += std::string("\xd4\x31", 2);         // 54321
  h += std::string("\x03\xe3", 2);         // 995
  return h;
}

// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): fields in the order the table reads
struct Case {
  std::string_view name;
  std::string header;
  Status status;
  std::string_view source; // "" = no addresses carried
  std::uint16_t source_port;
};

class ProxyHeaderTest : public testing::TestWithParam<Case> {};

// Feeds the header followed by session bytes, whole and one byte at a time: the result, the
// addresses and the bytes handed back must not depend on how the bytes arrived.
TEST_P(ProxyHeaderTest, ParsesWholeAndByteByByte) {
  const auto& c = GetParam();
  const std::string input = c.header + "\x16\x03\x01 client hello";
  for (std::size_t step : {input.size(), std::size_t{1}}) {
    ProxyHeaderParser parser;
    Status status = Status::NeedData;
    std::size_t at = 0;
    while (status == Status::NeedData && at < input.size()) {
      // An exact-size heap copy, so ASan catches a read past what was fed.
      std::vector<char> chunk(input.begin() + static_cast<long>(at),
                              input.begin() + static_cast<long>(std::min(at + step, input.size())));
      status = parser.feed(std::string_view(chunk.data(), chunk.size()));
      at += chunk.size();
    }
    ASSERT_EQ(status, c.status) << "step " << step << ": " << parser.error();
    if (status != Status::Done) {
      continue;
    }
    EXPECT_EQ(std::string(parser.rest()) + input.substr(at),
              std::string("\x16\x03\x01 client hello"));
    if (c.source.empty()) {
      EXPECT_FALSE(parser.addresses());
    } else {
      ASSERT_TRUE(parser.addresses());
      EXPECT_EQ(parser.addresses()->source, *Address::parse(c.source));
      EXPECT_EQ(parser.addresses()->source_port, c.source_port);
    }
  }
}

const auto kCases = std::to_array<Case>({
    {"v1_tcp4", "PROXY TCP4 192.0.2.7 198.51.100.1 54321 995\r\n", Status::Done, "192.0.2.7",
     54321},
    {"v1_tcp6", "PROXY TCP6 2001:db8::7 2001:db8::1 4000 110\r\n", Status::Done, "2001:db8::7",
     4000},
    {"v1_unknown_keeps_the_connection_address", "PROXY UNKNOWN\r\n", Status::Done, "", 0},
    {"v1_family_must_match_the_addresses", "PROXY TCP4 2001:db8::7 192.0.2.1 1 2\r\n",
     Status::Invalid, "", 0},
    {"v1_port_out_of_range", "PROXY TCP4 192.0.2.7 198.51.100.1 65536 995\r\n", Status::Invalid, "",
     0},
    {"v1_missing_field", "PROXY TCP4 192.0.2.7 198.51.100.1 54321\r\n", Status::Invalid, "", 0},
    {"v1_line_too_long", "PROXY TCP4 " + std::string(120, '1') + "\r\n", Status::Invalid, "", 0},
    {"v2_tcp4", v2_ipv4(), Status::Done, "192.0.2.7", 54321},
    {"v2_local_keeps_the_connection_address", v2_ipv4(0x20), Status::Done, "", 0},
    {"v2_unknown_command", v2_ipv4(0x22), Status::Invalid, "", 0},
    {"a_tls_client_hello_is_not_a_header", std::string("\x16\x03\x01\x02\x00", 5), Status::Invalid,
     "", 0},
    {"a_pop3_command_is_not_a_header", "USER alice\r\n", Status::Invalid, "", 0},
});

INSTANTIATE_TEST_SUITE_P(Cases, ProxyHeaderTest, testing::ValuesIn(kCases),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(ProxyHeader, WrittenHeadersParseBack) {
  ProxiedAddresses a{*Address::parse("192.0.2.7"), 54321, *Address::parse("198.51.100.1"), 110};
  EXPECT_EQ(write_proxy_header(ProxyVersion::V1, a),
            "PROXY TCP4 192.0.2.7 198.51.100.1 54321 110\r\n");
  for (auto version : {ProxyVersion::V1, ProxyVersion::V2}) {
    ProxyHeaderParser parser;
    ASSERT_EQ(parser.feed(write_proxy_header(version, a)), Status::Done);
    EXPECT_EQ(parser.addresses()->source, a.source);
    EXPECT_EQ(parser.addresses()->destination_port, 110);
    EXPECT_TRUE(parser.rest().empty());
  }
  ProxiedAddresses six{*Address::parse("2001:db8::7"), 1, *Address::parse("2001:db8::1"), 2};
  ProxyHeaderParser parser;
  ASSERT_EQ(parser.feed(write_proxy_header(ProxyVersion::V2, six)), Status::Done);
  EXPECT_EQ(parser.addresses()->source, six.source);
}

TEST(ProxyHeader, LocalHeadersOfHealthChecksAreTheSpecsBytes) {
  EXPECT_EQ(write_local_proxy_header(ProxyVersion::V1), "PROXY UNKNOWN\r\n");
  const std::string v2 = write_local_proxy_header(ProxyVersion::V2);
  ASSERT_EQ(v2.size(), 16u);
  EXPECT_EQ(v2.substr(0, 12), std::string("\r\n\r\n\0\r\nQUIT\n", 12));
  EXPECT_EQ(v2[12], '\x20');                        // version 2, command LOCAL
  EXPECT_EQ(v2[13], '\x00');                        // AF_UNSPEC
  EXPECT_EQ(v2.substr(14), std::string("\0\0", 2)); // no address block
  for (auto version : {ProxyVersion::V1, ProxyVersion::V2}) {
    ProxyHeaderParser parser;
    EXPECT_EQ(parser.feed(write_local_proxy_header(version)), Status::Done);
    EXPECT_TRUE(parser.rest().empty());
  }
}

} // namespace
} // namespace popgate::proxy_protocol
