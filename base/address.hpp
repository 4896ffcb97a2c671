#pragma once

// Socket addresses and CIDR blocks as plain values, parsed from config text. No IO: the
// proxy turns an Endpoint into a sockaddr, policy matches a client Address against Cidrs.

#include <arpa/inet.h>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace popgate {

// An IPv4 or IPv6 address. IPv4 is kept as an IPv4-mapped IPv6 address (::ffff:a.b.c.d) so that
// one comparison serves both families and a dual-stack listener's mapped clients match v4 rules.
struct Address {
  std::array<std::uint8_t, 16> bytes{};

  [[nodiscard]] bool is_v4() const {
    static constexpr std::array<std::uint8_t, 12> kMapped = {0, 0, 0, 0, 0,    0,
                                                             0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes.data(), kMapped.data(), kMapped.size()) == 0;
  }

  static std::optional<Address> parse(std::string_view text) {
    std::string s(text);
    Address a;
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
      a.bytes[10] = 0xff;
      a.bytes[11] = 0xff;
      std::memcpy(&a.bytes[12], &v4, 4);
      return a;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
      std::memcpy(a.bytes.data(), &v6, 16);
      return a;
    }
    return std::nullopt;
  }

  [[nodiscard]] std::string to_string() const {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    if (is_v4()) {
      inet_ntop(AF_INET, &bytes[12], buf.data(), buf.size());
    } else {
      inet_ntop(AF_INET6, bytes.data(), buf.data(), buf.size());
    }
    return buf.data();
  }

  bool operator==(const Address&) const = default;
};

// "host:port" with a numeric host; IPv6 hosts in brackets: "[::1]:995".
struct Endpoint {
  std::string host; // without brackets
  std::uint16_t port = 0;

  static std::optional<Endpoint> parse(std::string_view text) {
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
      auto close = text.find(']');
      if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
        return std::nullopt;
      }
      host = text.substr(1, close - 1);
      port = text.substr(close + 2);
      if (host.find(':') == std::string_view::npos) {
        return std::nullopt;
      }
    } else {
      auto colon = text.rfind(':');
      if (colon == std::string_view::npos) {
        return std::nullopt;
      }
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (host.find(':') != std::string_view::npos) {
        return std::nullopt; // an IPv6 host needs brackets
      }
    }
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || port.empty() || value > 65535) {
      return std::nullopt;
    }
    if (!Address::parse(host)) {
      return std::nullopt;
    }
    return Endpoint{std::string(host), static_cast<std::uint16_t>(value)};
  }

  [[nodiscard]] bool is_v6() const { return host.find(':') != std::string::npos; }

  [[nodiscard]] std::string to_string() const {
    return (is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
};

// "192.0.2.0/24", "2001:db8::/32", or a bare address (a /32 or /128).
struct Cidr {
  Address base;
  unsigned prefix = 128; // in the IPv6 (mapped) space

  static std::optional<Cidr> parse(std::string_view text) {
    auto slash = text.find('/');
    auto addr = Address::parse(text.substr(0, slash));
    if (!addr) {
      return std::nullopt;
    }
    unsigned max = addr->is_v4() ? 32 : 128;
    unsigned bits = max;
    if (slash != std::string_view::npos) {
      auto p = text.substr(slash + 1);
      auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), bits);
      if (ec != std::errc{} || end != p.data() + p.size() || p.empty() || bits > max) {
        return std::nullopt;
      }
    }
    Cidr c{*addr, addr->is_v4() ? bits + 96 : bits};
    c.base = c.masked(c.base);
    return c;
  }

  [[nodiscard]] Address masked(const Address& a) const {
    Address m = a;
    for (unsigned i = 0; i < 16; ++i) {
      unsigned keep = prefix > i * 8 ? prefix - i * 8 : 0;
      if (keep < 8) {
        m.bytes[i] = static_cast<std::uint8_t>(m.bytes[i] & (0xff00u >> keep));
      }
    }
    return m;
  }

  [[nodiscard]] bool contains(const Address& a) const { return masked(a) == base; }

  // As written in a config: "192.0.2.0/24", and a single address without its prefix.
  [[nodiscard]] std::string to_string() const {
    unsigned bits = base.is_v4() ? prefix - 96 : prefix;
    bool single = base.is_v4() ? bits == 32 : bits == 128;
    return single ? base.to_string() : base.to_string() + "/" + std::to_string(bits);
  }

  bool operator==(const Cidr&) const = default;
};

} // namespace popgate
