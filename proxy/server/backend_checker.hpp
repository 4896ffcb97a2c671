#pragma once

// Active backend checks ([[backend]] check_interval, SPEC section 5), run on the main loop: one
// timer per server of every backend with a non-zero interval; each tick starts a CheckProbe
// (connect, "+OK" greeting, QUIT) unless the previous one is still running. The verdict sets
// popgate_backend_up through the Runtime's metric handles and goes into the ServerHealthTable,
// so a standby server that no session tries still reads up or down, within one interval of
// start. A state change is logged once; a server that stays down is not logged every interval.
//
// Reloads: configure() with the new Runtime closes every old timer, cancels probes in flight and
// starts the new config's checks at once. Backends without a server list (nothing to check) are
// skipped.

#include "proxy/server/runtime.hpp"
#include "proxy/server/server_health.hpp"
#include "proxy/session/backend_check.hpp"

#include <memory>
#include <string>
#include <uv.h>
#include <vector>

namespace popgate::proxy {

class CheckProbe;

class BackendChecker {
public:
  BackendChecker(uv_loop_t* loop, ServerHealthTable& health);
  ~BackendChecker();
  BackendChecker(const BackendChecker&) = delete;
  BackendChecker& operator=(const BackendChecker&) = delete;

  // Starts the checks of `runtime` (which must carry metrics), replacing any earlier ones.
  void configure(const std::shared_ptr<const Runtime>& runtime);
  // Closes every handle; the loop can then end. configure() must not be called afterwards.
  void stop();

private:
  struct Target {
    BackendChecker* checker = nullptr;
    std::shared_ptr<const Runtime> runtime; // the config this check belongs to
    std::size_t backend = 0;
    std::size_t server = 0;
    std::string backend_name;
    std::string server_name;
    uv_timer_t timer{};
    CheckProbe* probe = nullptr; // the check in flight
  };

  static void on_tick(uv_timer_t* timer);
  void run_check(Target& target);
  void record(Target& target, const session::CheckVerdict& verdict, Millis elapsed);
  void close_targets();

  uv_loop_t* loop_;
  ServerHealthTable& health_;
  std::vector<Target*> targets_; // heap: each is freed in its timer's close callback
};

} // namespace popgate::proxy
