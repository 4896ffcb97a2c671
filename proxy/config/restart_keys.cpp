#include "proxy/config/restart_keys.hpp"

#include <array>
#include <cstdio>

namespace popgate::proxy {
namespace {

void compare(std::vector<RestartKey>& out, const char* key, const std::string& running,
             const std::string& wanted) {
  if (running != wanted) {
    out.push_back({key, running, wanted});
  }
}

// As written in the file: "0660".
std::string octal_mode(unsigned mode) {
  std::array<char, 8> text{};
  std::snprintf(text.data(), text.size(), "%04o", mode);
  return text.data();
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
  compare(changed, "[admin] socket", running.admin.socket, next.admin.socket);
  compare(changed, "[admin] mode", octal_mode(running.admin.mode), octal_mode(next.admin.mode));
  compare(changed, "[admin] group", running.admin.group, next.admin.group);
  return changed;
}

Config with_running_start_keys(const Config& running, Config next) {
  next.server.workers = running.server.workers;
  next.server.user = running.server.user;
  next.server.group = running.server.group;
  next.metrics = running.metrics;
  next.admin = running.admin;
  return next;
}

} // namespace popgate::proxy
