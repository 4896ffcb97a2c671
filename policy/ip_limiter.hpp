#pragma once

// [policy] max_sessions_per_ip across every worker: one small map under a mutex, touched once
// when a session starts and once when it ends, never on the relay path.

#include "base/address.hpp"

#include <map>
#include <mutex>

namespace popgate::policy {

class IpLimiter {
public:
  // Counts the session in and returns true, or returns false when `limit` is reached.
  bool try_acquire(const Address& client, unsigned limit) {
    std::lock_guard lock(mutex_);
    auto& n = counts_[client.bytes];
    if (limit != 0 && n >= limit) {
      if (n == 0) {
        counts_.erase(client.bytes);
      }
      return false;
    }
    ++n;
    return true;
  }

  void release(const Address& client) {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(client.bytes);
    if (it != counts_.end() && --it->second == 0) {
      counts_.erase(it);
    }
  }

private:
  std::mutex mutex_;
  std::map<std::array<std::uint8_t, 16>, unsigned> counts_;
};

} // namespace popgate::policy
