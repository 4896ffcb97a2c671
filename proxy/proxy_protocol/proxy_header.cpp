#include "proxy/proxy_protocol/proxy_header.hpp"

#include <arpa/inet.h>
#include <array>
#include <charconv>
#include <cstring>

namespace popgate::proxy_protocol {
namespace {

// proxy-protocol.txt §2.2: the v2 signature, chosen so that no v1 header or other protocol's
// first bytes can match it.
constexpr std::array<std::uint8_t, 12> kV2Signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t kV1Max = 107; // §2.1: the longest v1 line, CRLF included
constexpr std::string_view kV1Prefix = "PROXY ";

std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty() || v > 65535 ||
      (s.size() > 1 && s[0] == '0')) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(v);
}

std::string_view next_field(std::string_view& line) {
  auto space = line.find(' ');
  auto field = line.substr(0, space);
  line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  return field;
}

std::uint16_t read_u16(const std::string& b, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(b[at]) << 8) |
                                    static_cast<unsigned char>(b[at + 1]));
}

} // namespace

ProxyHeaderParser::Status ProxyHeaderParser::fail(std::string_view why) {
  error_ = why;
  return Status::Invalid;
}

ProxyHeaderParser::Status ProxyHeaderParser::feed(std::string_view bytes) {
  // Bounded: the caller stops feeding once the header is Done or Invalid, and both are decided
  // by kMaxHeader bytes, so this holds at most kMaxHeader plus one read.
  buffer_.append(bytes);
  // Which version? Decide as soon as the first bytes can tell.
  std::size_t n = std::min(buffer_.size(), kV2Signature.size());
  if (std::memcmp(buffer_.data(), kV2Signature.data(), n) == 0) {
    return n < kV2Signature.size() ? Status::NeedData : parse_v2();
  }
  n = std::min(buffer_.size(), kV1Prefix.size());
  if (buffer_.compare(0, n, kV1Prefix.substr(0, n)) == 0) {
    return n < kV1Prefix.size() ? Status::NeedData : parse_v1();
  }
  return fail("not a PROXY protocol header");
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v1() {
  auto eol = buffer_.find("\r\n");
  if (eol == std::string::npos) {
    return buffer_.size() >= kV1Max ? fail("PROXY v1 line too long") : Status::NeedData;
  }
  if (eol + 2 > kV1Max) {
    return fail("PROXY v1 line too long");
  }
  consumed_ = eol + 2;
  std::string_view line =
      std::string_view(buffer_).substr(kV1Prefix.size(), eol - kV1Prefix.size());
  auto family = next_field(line);
  if (family == "UNKNOWN") {
    return Status::Done; // §2.1: the receiver must ignore the rest of the line
  }
  if (family != "TCP4" && family != "TCP6") {
    return fail("PROXY v1: unknown protocol family");
  }
  auto src = Address::parse(next_field(line));
  auto dst = Address::parse(next_field(line));
  auto sport = parse_port(next_field(line));
  auto dport = parse_port(next_field(line));
  if (!src || !dst || !sport || !dport || !line.empty() || src->is_v4() != (family == "TCP4") ||
      dst->is_v4() != (family == "TCP4")) {
    return fail("PROXY v1: malformed addresses");
  }
  addresses_ = ProxiedAddresses{*src, *sport, *dst, *dport};
  return Status::Done;
}

ProxyHeaderParser::Status ProxyHeaderParser::parse_v2() {
  if (buffer_.size() < 16) {
    return Status::NeedData;
  }
  auto ver_cmd = static_cast<unsigned char>(buffer_[12]);
  auto family = static_cast<unsigned char>(buffer_[13]);
  std::size_t length = read_u16(buffer_, 14);
  if ((ver_cmd & 0xF0) != 0x20) {
    return fail("PROXY v2: unknown version");
  }
  if (16 + length > kMaxHeader) {
    return fail("PROXY v2 header too long");
  }
  if (buffer_.size() < 16 + length) {
    return Status::NeedData;
  }
  consumed_ = 16 + length;
  unsigned command = ver_cmd & 0x0F;
  if (command == 0x0) {
    return Status::Done; // LOCAL: the balancer's own connection (e.g. a health check)
  }
  if (command != 0x1) {
    return fail("PROXY v2: unknown command");
  }
  const char* p = buffer_.data() + 16;
  ProxiedAddresses a;
  if (family == 0x11) { // TCP over IPv4: 4 + 4 + 2 + 2
    if (length < 12) {
      return fail("PROXY v2: short IPv4 block");
    }
    a.source.bytes[10] = a.source.bytes[11] = 0xff;
    a.destination.bytes[10] = a.destination.bytes[11] = 0xff;
    std::memcpy(&a.source.bytes[12], p, 4);
    std::memcpy(&a.destination.bytes[12], p + 4, 4);
    a.source_port = read_u16(buffer_, 16 + 8);
    a.destination_port = read_u16(buffer_, 16 + 10);
  } else if (family == 0x21) { // TCP over IPv6: 16 + 16 + 2 + 2
    if (length < 36) {
      return fail("PROXY v2: short IPv6 block");
    }
    std::memcpy(a.source.bytes.data(), p, 16);
    std::memcpy(a.destination.bytes.data(), p + 16, 16);
    a.source_port = read_u16(buffer_, 16 + 32);
    a.destination_port = read_u16(buffer_, 16 + 34);
  } else {
    return Status::Done; // UNSPEC, UDP or UNIX: keep the connection's own addresses (§2.2)
  }
  addresses_ = a;
  return Status::Done;
}

std::string write_proxy_header(ProxyVersion version, const ProxiedAddresses& a) {
  bool v4 = a.source.is_v4() && a.destination.is_v4();
  if (version == ProxyVersion::V1) {
    return std::string("PROXY ") + (v4 ? "TCP4 " : "TCP6 ") + a.source.to_string() + " " +
           a.destination.to_string() + " " + std::to_string(a.source_port) + " " +
           std::to_string(a.destination_port) + "\r\n";
  }
  std::string out(reinterpret_cast<const char*>(kV2Signature.data()), kV2Signature.size());
  out += static_cast<char>(0x21); // version 2, PROXY
  out += static_cast<char>(v4 ? 0x11 : 0x21);
  std::uint16_t length = v4 ? 12 : 36;
  out += static_cast<char>(length >> 8);
  out += static_cast<char>(length & 0xff);
  auto put = [&out](const Address& addr, bool as_v4) {
    out.append(reinterpret_cast<const char*>(addr.bytes.data()) + (as_v4 ? 12 : 0), as_v4 ? 4 : 16);
  };
  put(a.source, v4);
  put(a.destination, v4);
  for (std::uint16_t port : {a.source_port, a.destination_port}) {
    out += static_cast<char>(port >> 8);
    out += static_cast<char>(port & 0xff);
  }
  return out;
}

std::string write_local_proxy_header(ProxyVersion version) {
  if (version == ProxyVersion::V1) {
    return "PROXY UNKNOWN\r\n";
  }
  // Signature, version 2 with command LOCAL (0x20), AF_UNSPEC (0x00), no address bytes.
  static constexpr std::string_view kLocal{"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16};
  return std::string(kLocal);
}

} // namespace popgate::proxy_protocol
