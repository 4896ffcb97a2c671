#pragma once

// Which backend servers an administrator took out of rotation (`popgate ctl disable server`).
// Keyed by backend name and the server as the config writes it, so the switch survives a reload
// (a server a reload removes is simply not listed; one a later reload brings back is disabled
// still). Health is another matter: server_health.hpp. Thread-safe; consulted once per backend
// connection, never on the relay path.

#include "proxy/config/config.hpp"

#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace popgate::proxy {

class ServerControl {
public:
  void set_disabled(const std::string& backend, const std::string& server, bool disabled) {
    std::lock_guard lock(mutex_);
    if (disabled) {
      disabled_.insert({backend, server});
    } else {
      disabled_.erase({backend, server});
    }
  }
  [[nodiscard]] bool is_disabled(const std::string& backend, const std::string& server) const {
    std::lock_guard lock(mutex_);
    return disabled_.count({backend, server}) > 0;
  }
  // By index into backend.servers: the ones new sessions must not use.
  [[nodiscard]] std::vector<bool> disabled(const BackendConfig& backend) const {
    std::lock_guard lock(mutex_);
    std::vector<bool> out;
    out.reserve(backend.servers.size());
    for (const auto& s : backend.servers) {
      out.push_back(disabled_.count({backend.name, s.to_string()}) > 0);
    }
    return out;
  }

private:
  mutable std::mutex mutex_;
  std::set<std::pair<std::string, std::string>> disabled_;
};

} // namespace popgate::proxy
