#pragma once

// The PROXY protocol (HAProxy, "proxy-protocol.txt", versions 1 and 2), both ways, sans-IO:
//  - ProxyHeaderParser reads the header an L4 load balancer puts in front of a connection, so
//    that logs, access lists, limits and bans see the real client address;
//  - write_proxy_header() makes the header popgate sends to a backend (forward_client).
//
// The parser is fed the first bytes of a connection and says when it has a whole header; the
// bytes after it belong to the session (a TLS ClientHello, a POP3 command) and are handed
// back. It keeps at most kMaxHeader bytes: a v1 line is at most 107 octets, a v2 header 16
// octets plus its addresses and TLVs.

#include "base/address.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace popgate::proxy_protocol {

struct ProxiedAddresses {
  Address source;
  std::uint16_t source_port = 0;
  Address destination;
  std::uint16_t destination_port = 0;
};

class ProxyHeaderParser {
public:
  static constexpr std::size_t kMaxHeader = 16 + 2048;

  enum class Status { NeedData, Done, Invalid };

  // Appends bytes; returns Done once a whole header has been read (then `rest()` holds what
  // followed it), Invalid if the bytes are not a PROXY header.
  Status feed(std::string_view bytes);

  // The addresses the header carried; empty for "PROXY UNKNOWN" and v2 LOCAL (health checks
  // from the balancer itself), where the connection's own addresses stand.
  [[nodiscard]] const std::optional<ProxiedAddresses>& addresses() const { return addresses_; }
  [[nodiscard]] std::string_view rest() const {
    return std::string_view(buffer_).substr(consumed_);
  }
  // Why the header was refused, for the log.
  [[nodiscard]] std::string_view error() const { return error_; }

private:
  Status parse_v1();
  Status parse_v2();
  Status fail(std::string_view why);

  std::string buffer_;
  std::size_t consumed_ = 0;
  std::optional<ProxiedAddresses> addresses_;
  std::string error_;
};

enum class ProxyVersion { V1, V2 };

// The header that tells a backend who the client is (SPEC: forward_client = "proxy-v1" |
// "proxy-v2"). Both addresses must be of one family; a v4-mapped pair is sent as TCP4.
std::string write_proxy_header(ProxyVersion version, const ProxiedAddresses& addresses);

// The header of a connection popgate makes on its own behalf, a health check: v1
// "PROXY UNKNOWN" (section 2.1 of the PROXY protocol spec), v2 the LOCAL command with no
// addresses (section 2.2). Both tell the backend to use the connection's real endpoints.
std::string write_local_proxy_header(ProxyVersion version);

} // namespace popgate::proxy_protocol
