#include "proxy/config/restart_keys.hpp"

namespace popgate::proxy {
namespace {

void compare(std::vector<RestartKey>& out, const char* key, const std::string& running,
             const std::string& wanted) {
  if (running != wanted) {
    out.push_back({key, running, wanted});
  }
}

} // namespace

std::vector<RestartKey> keys_needing_restart(const Config& running, const Config& next) {
  std::vector<RestartKey> changed;
  compare(changed, "[server] workers", std::to_string(running.server.workers),
          std::to_string(next.server.workers));
  compare(changed, "[server] user", running.server.user, next.server.user);
  compare(changed, "[server] group", running.server.group, next.server.group);
  compare(changed, "[metrics] bind", running.metrics.bind, next.metrics.bind);
  compare(changed, "[metrics] path", running.metrics.path, next.metrics.path);
  return changed;
}

Config with_running_start_keys(const Config& running, Config next) {
  next.server.workers = running.server.workers;
  next.server.user = running.server.user;
  next.server.group = running.server.group;
  next.metrics = running.metrics;
  return next;
}

} // namespace popgate::proxy
