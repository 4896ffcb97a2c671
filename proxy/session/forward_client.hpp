#pragma once

// forward_client = "proxy-v1" | "proxy-v2": the PROXY header version a backend wants first on
// every connection, sessions' and health checks' alike; nullopt for none and for XCLIENT.

#include "proxy/config/config.hpp"
#include "proxy/proxy_protocol/proxy_header.hpp"

#include <optional>

namespace popgate::session {

inline std::optional<proxy_protocol::ProxyVersion> proxy_header_version(proxy::ForwardClient how) {
  switch (how) {
  case proxy::ForwardClient::ProxyV1:
    return proxy_protocol::ProxyVersion::V1;
  case proxy::ForwardClient::ProxyV2:
    return proxy_protocol::ProxyVersion::V2;
  case proxy::ForwardClient::None:
  case proxy::ForwardClient::Xclient:
    return std::nullopt;
  }
  return std::nullopt;
}

} // namespace popgate::session
