#pragma once

// What the admin socket's commands do (proxy/admin/admin_request.hpp lists them). Runs on the
// main loop; sessions live on the worker loops, so `show sessions`, `show servers` and the kicks
// go to every worker through Worker::visit_sessions and come back through a LoopInbox: no
// session is touched off its own thread. Bans go through policy::SharedBans and server
// switches through ServerControl, both shared and thread-safe, and both kept across reloads.
// Manual bans and unbans go through RedisBanStore (on this same loop), which applies them here
// and, with [policy.ban] redis, shares them with the other replicas.
//
// Every command is counted (popgate_admin_commands_total{command}); every one that changes
// something is logged with its arguments and outcome.

#include "metrics/metrics.hpp"
#include "policy/shared_bans.hpp"
#include "proxy/admin/admin_reply.hpp"
#include "proxy/admin/admin_request.hpp"
#include "proxy/server/admin_server.hpp"
#include "proxy/server/loop_inbox.hpp"
#include "proxy/server/redis_ban_store.hpp"
#include "proxy/server/runtime.hpp"
#include "proxy/server/server_control.hpp"
#include "proxy/server/server_health.hpp"
#include "proxy/server/worker.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace popgate::proxy {

// What `show info` reports about the gateway itself; the gateway keeps it up to date.
struct GatewayStatus {
  std::string config_path;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::uint64_t generation = 1;   // +1 per successful reload
  std::string last_reload;        // UTC time; "" = never
  std::string last_reload_result; // "applied", "refused (...)", as the reload summed it up

  void reloaded(bool ok, std::string result);
};

class AdminCommands {
public:
  struct Parts {
    uv_loop_t* loop = nullptr;
    const std::vector<std::unique_ptr<Worker>>* workers = nullptr;
    const std::shared_ptr<const Runtime>* runtime = nullptr; // the current one
    policy::SharedBans* bans = nullptr;
    ServerControl* servers = nullptr;
    const ServerHealthTable* health = nullptr;
    metrics::Metrics* metrics = nullptr;
    const GatewayStatus* status = nullptr;
    const std::unique_ptr<RedisBanStore>* ban_store = nullptr; // made after the admin socket
  };

  explicit AdminCommands(Parts parts);
  Result<void, std::string> listen(const AdminConfig& config);
  void close();

private:
  using Done = std::function<void(admin::Reply)>;
  void handle(std::string_view line, const AdminServer::Reply& reply);
  void run(const admin::Request& request, const Done& done);
  [[nodiscard]] admin::Reply show_info() const;
  [[nodiscard]] admin::Reply show_bans() const;
  [[nodiscard]] admin::Reply ban(const admin::Request& request) const;
  [[nodiscard]] admin::Reply unban(const admin::Request& request) const;
  [[nodiscard]] admin::Reply switch_server(const admin::Request& request) const;
  void show_servers(const Done& done);
  void kick(const admin::Request& request, const Done& done);

  // Runs `visit` on every worker's loop with its sessions, then `done` on the main loop with
  // what they all returned.
  void gather(const std::function<std::vector<admin::SessionRow>(SessionContext&)>& visit,
              std::function<void(std::vector<admin::SessionRow>)> done);
  [[nodiscard]] Millis now() const;
  [[nodiscard]] RedisBanStore& store() const;

  Parts parts_;
  LoopInbox inbox_;
  AdminServer server_;
};

} // namespace popgate::proxy
