#pragma once

// What popgate knows about each backend server's health, by backend name and server address:
// the state that popgate_backend_up exports, where it came from, and the last active check
// (backend_checker.hpp). The admin socket's `show servers` reads snapshot().
//
// Threading: the checker writes from the main loop, sessions' connects from the workers, the
// admin socket reads on the main loop; every call takes one short mutex (at most once per check
// and once per backend connect, never per command).

#include "base/duration.hpp"
#include "proxy/config/config.hpp"

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace popgate::proxy {

enum class ServerState {
  Unknown, // no check has finished and no session has tried the server yet
  Up,      // the last result (check or session connect) succeeded
  Down,    // the last result failed
};

// "unknown", "up", "down".
std::string_view to_string(ServerState state);

struct CheckResult {
  bool ok = false;
  std::chrono::system_clock::time_point at; // when it finished
  Millis duration{0};                       // connect to verdict
  std::string error;                        // why it failed ("" when ok), for people
};

struct ServerHealth {
  std::string backend; // [[backend]] name
  std::string server;  // "host:port" as Endpoint::to_string() writes it
  ServerState state = ServerState::Unknown;
  std::chrono::system_clock::time_point changed_at; // when state last changed (epoch: never)
  bool checked = false;                             // [[backend]] check_interval is not "0"
  std::optional<CheckResult> last_check;            // empty until the first check finished
};

class ServerHealthTable {
public:
  // The servers of `config`, in config order; state and last check are kept for a server that
  // was there before, a server the config dropped is forgotten. Call on load and reload.
  void configure(const Config& config);

  // Both return the state before the result, so the caller can log a change once.
  ServerState record_check(const std::string& backend, const std::string& server,
                           CheckResult result);
  ServerState record_connect(const std::string& backend, const std::string& server, bool ok);

  [[nodiscard]] std::vector<ServerHealth> snapshot() const;

private:
  ServerHealth* find(const std::string& backend, const std::string& server);
  static ServerState update(ServerHealth& health, bool ok,
                            std::chrono::system_clock::time_point at);

  mutable std::mutex mutex_;
  std::vector<ServerHealth> servers_;
};

} // namespace popgate::proxy
