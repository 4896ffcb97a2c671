#include "proxy/config/config.hpp"

#include <charconv>

namespace popgate::proxy {
namespace {

constexpr std::string_view kUnixScheme = "unix:";

// A DNS name as resolvers take it (letters, digits, '-', '.'; '_' for service-style names) or
// a dotted IPv4 address; anything else is a typo worth reporting at load time.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.front() == '-') {
    return false;
  }
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) {
      return false;
    }
  }
  return true;
}

} // namespace

std::optional<RedisAddress> RedisAddress::parse(std::string_view text) {
  RedisAddress a;
  if (text.substr(0, kUnixScheme.size()) == kUnixScheme) {
    a.unix_path = std::string(text.substr(kUnixScheme.size()));
    // sockaddr_un holds 108 bytes with the terminating NUL.
    if (a.unix_path.size() < 2 || a.unix_path.front() != '/' || a.unix_path.size() > 107 ||
        a.unix_path.find('\0') != std::string::npos) {
      return std::nullopt;
    }
    return a;
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  unsigned value = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return std::nullopt;
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    auto v6 = Address::parse(host);
    if (!v6 || v6->is_v4()) {
      return std::nullopt;
    }
  } else if (!is_host_name(host)) {
    return std::nullopt;
  }
  a.host = std::string(host);
  a.port = static_cast<std::uint16_t>(value);
  return a;
}

std::string RedisAddress::to_string() const {
  if (!unix_path.empty()) {
    return std::string(kUnixScheme) + unix_path;
  }
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

} // namespace popgate::proxy
