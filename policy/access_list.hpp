#pragma once

// [policy.access]: which client addresses may open a session at all. Decided once per
// connection, before the TLS handshake, so a denied address costs no handshake CPU.
// Deny wins over allow; an empty allow list means everyone (SPEC section 3).

#include "base/address.hpp"

#include <vector>

namespace popgate::policy {

class AccessList {
public:
  AccessList() = default;
  AccessList(std::vector<Cidr> allow, std::vector<Cidr> deny)
      : allow_(std::move(allow)), deny_(std::move(deny)) {}

  [[nodiscard]] bool permits(const Address& client) const {
    for (const auto& c : deny_) {
      if (c.contains(client)) {
        return false;
      }
    }
    if (allow_.empty()) {
      return true;
    }
    for (const auto& c : allow_) {
      if (c.contains(client)) {
        return true;
      }
    }
    return false;
  }

private:
  std::vector<Cidr> allow_;
  std::vector<Cidr> deny_;
};

} // namespace popgate::policy
