#pragma once

// The ban list shared by every worker: policy::BanList behind a mutex. It is consulted once
// per new connection and written once per failed login, never on the relay path.

#include "policy/ban_list.hpp"

#include <mutex>

namespace popgate::policy {

class SharedBans {
public:
  void configure(BanSettings settings) {
    std::lock_guard lock(mutex_);
    bans_.set_settings(settings);
  }
  bool banned(const Address& client, Millis now) {
    std::lock_guard lock(mutex_);
    return bans_.banned(client, now);
  }
  // Returns true when this failure starts a ban; `active` receives the bans now in force.
  bool record_failure(const Address& client, Millis now, std::size_t& active) {
    std::lock_guard lock(mutex_);
    bool started = bans_.record_failure(client, now);
    active = bans_.active(now);
    return started;
  }

private:
  std::mutex mutex_;
  BanList bans_;
};

} // namespace popgate::policy
