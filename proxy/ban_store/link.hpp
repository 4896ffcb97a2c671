#pragma once

// The connection to the shared ban store as a state machine, sans-IO: the adapter reports what
// happened (connected, synced, failed) and gets back what to do (connect, log, wait). No clock:
// the adapter runs the retry timer for the delay it is given.
//
// Theory of operation
// -------------------
//   Off         no store configured; start() leaves it.
//   Connecting  the adapter opens its connections (a resolve, a connect, SUBSCRIBE).
//   Syncing     subscribed: announcements arrive from now on, so loading the bans in force now
//               (SCAN + PTTL) misses none; local bans are shared once with them.
//   Ready       failures and bans go to the store as they happen.
//   Down        the last attempt or connection failed; retry() after `retry_in`.
// Any failure goes to Down. The first failure after Ready (or of the first attempt) is an
// outage: it is logged once, however many retries fail after it; the next synced() logs the
// recovery. Retries back off from kFirstRetry, doubling up to kMaxRetry, and start again from
// kFirstRetry once the store is Ready. Meanwhile bans stay local (policy/shared_bans.hpp).

#include "base/duration.hpp"

#include <cstdint>

namespace popgate::ban_store {

class Link {
public:
  static constexpr Millis kFirstRetry{200};
  static constexpr Millis kMaxRetry{2000};

  enum class State : std::uint8_t { Off, Connecting, Syncing, Ready, Down };

  struct Step {
    bool connect = false;      // open the connections now
    bool log_outage = false;   // the first failure of an outage: log it (once)
    bool log_recovery = false; // ready after a logged outage
    Millis retry_in{0};        // with Down: call retry() after this long
  };

  Step start();
  Step connected(); // connections open and subscribed
  Step synced();    // the store's bans are loaded
  Step failed();    // a connect, a command or the connection failed or timed out
  Step retry();
  void stop(); // back to Off (no store configured, or shutdown)

  [[nodiscard]] State state() const { return state_; }
  [[nodiscard]] bool ready() const { return state_ == State::Ready; }

private:
  State state_ = State::Off;
  bool in_outage_ = false;
  Millis backoff_ = kFirstRetry;
};

} // namespace popgate::ban_store
