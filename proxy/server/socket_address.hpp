#pragma once

// Conversions between the config's Endpoint/Address values and the BSD socket structs libuv
// wants. Numeric hosts only: popgate never resolves names at run time (a DNS outage must not
// take the gateway down with it).

#include "base/address.hpp"

#include <cstring>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>
#include <uv.h>

namespace popgate::proxy {

inline bool to_sockaddr(const Endpoint& ep, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  if (ep.is_v6()) {
    return uv_ip6_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in6*>(&out)) == 0;
  }
  return uv_ip4_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in*>(&out)) == 0;
}

struct PeerAddress {
  Address address;
  std::uint16_t port = 0;
};

inline std::optional<PeerAddress> from_sockaddr(const sockaddr_storage& in) {
  PeerAddress p;
  if (in.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&in);
    p.address.bytes[10] = 0xff;
    p.address.bytes[11] = 0xff;
    std::memcpy(&p.address.bytes[12], &v4->sin_addr, 4);
    p.port = ntohs(v4->sin_port);
    return p;
  }
  if (in.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&in);
    std::memcpy(p.address.bytes.data(), &v6->sin6_addr, 16);
    p.port = ntohs(v6->sin6_port);
    return p;
  }
  return std::nullopt;
}

inline std::optional<PeerAddress> local_of(const uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return std::nullopt;
  }
  return from_sockaddr(ss);
}

inline std::optional<PeerAddress> peer_of(const uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return std::nullopt;
  }
  return from_sockaddr(ss);
}

} // namespace popgate::proxy
