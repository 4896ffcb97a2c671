#include "proxy/server/server_health.hpp"

#include <algorithm>
#include <utility>

namespace popgate::proxy {

std::string_view to_string(ServerState state) {
  switch (state) {
  case ServerState::Unknown:
    return "unknown";
  case ServerState::Up:
    return "up";
  case ServerState::Down:
    return "down";
  }
  return "unknown";
}

void ServerHealthTable::configure(const Config& config) {
  std::lock_guard lock(mutex_);
  std::vector<ServerHealth> next;
  for (const auto& backend : config.backends) {
    for (const auto& endpoint : backend.servers) {
      std::string server = endpoint.to_string();
      ServerHealth health;
      if (auto* known = find(backend.name, server); known != nullptr) {
        health = std::move(*known);
      } else {
        health.backend = backend.name;
        health.server = std::move(server);
      }
      health.checked = backend.check_interval.count() > 0;
      if (!health.checked) {
        health.last_check.reset(); // an old check result would look current in `show servers`
      }
      next.push_back(std::move(health));
    }
  }
  servers_ = std::move(next);
}

ServerHealth* ServerHealthTable::find(const std::string& backend, const std::string& server) {
  auto it = std::find_if(servers_.begin(), servers_.end(), [&](const ServerHealth& h) {
    return h.backend == backend && h.server == server;
  });
  return it == servers_.end() ? nullptr : &*it;
}

ServerState ServerHealthTable::update(ServerHealth& health, bool ok,
                                      std::chrono::system_clock::time_point at) {
  const ServerState before = health.state;
  health.state = ok ? ServerState::Up : ServerState::Down;
  if (health.state != before) {
    health.changed_at = at;
  }
  return before;
}

ServerState ServerHealthTable::record_check(const std::string& backend, const std::string& server,
                                            CheckResult result) {
  std::lock_guard lock(mutex_);
  auto* health = find(backend, server);
  if (health == nullptr) {
    return ServerState::Unknown; // a reload removed it while the check ran
  }
  const ServerState before = update(*health, result.ok, result.at);
  health->last_check = std::move(result);
  return before;
}

ServerState ServerHealthTable::record_connect(const std::string& backend, const std::string& server,
                                              bool ok) {
  std::lock_guard lock(mutex_);
  auto* health = find(backend, server);
  if (health == nullptr) {
    return ServerState::Unknown; // a session on a config that no longer has this server
  }
  return update(*health, ok, std::chrono::system_clock::now());
}

std::vector<ServerHealth> ServerHealthTable::snapshot() const {
  std::lock_guard lock(mutex_);
  return servers_;
}

} // namespace popgate::proxy
