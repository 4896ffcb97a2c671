// The session core's clock: one deadline per phase, computed from `now` as the events gave it
// (ngtcp2's handle_expiry shape), and what happens when each one passes. The adapter arms one
// timer for deadline() after every event and calls timer() when it fires.

#include "proxy/session/session_core.hpp"

#include <algorithm>

namespace popgate::session {

std::optional<Millis> SessionCore::deadline() const {
  switch (phase_) {
  case Phase::ProxyHeader:
  case Phase::Handshake:
  case Phase::Greeting:
  case Phase::Ending:
    return phase_deadline_;
  case Phase::Relaying: {
    const auto& policy = config_.policy;
    Millis at = last_activity_ + policy.idle_timeout;
    auto state = conv_.state();
    if (state == pop3::State::Authorization || state == pop3::State::AuthExchange) {
      at = std::min(at, started_ + policy.auth_timeout);
    }
    if (backend_state_ == Backend::Greeting) {
      at = std::min(at, greeting_deadline_);
    }
    return at;
  }
  case Phase::Connecting: // the connector has its own connect_timeout per server
  case Phase::Closed:
    return std::nullopt;
  }
  return std::nullopt;
}

void SessionCore::timer(Millis now) {
  now_ = now;
  auto due = deadline();
  if (!due || now < *due) {
    return;
  }
  switch (phase_) {
  case Phase::ProxyHeader:
    refuse(Refusal::ProxyProtocol, "no PROXY header in time");
    return;
  case Phase::Handshake:
    // Rate-limited like every failed handshake: a port scanner can cause these at will.
    log(Level::Info, "tls", "handshake failed",
        {{"client", record_.client}, {"error", "no TLS handshake in time"}}, true);
    abort(CloseReason::HandshakeTimeout);
    return;
  case Phase::Greeting:
    backend_failed(BackendFailure::GreetingTimeout, "no greeting in time");
    fail_to_client("-ERR [SYS/TEMP] mail server did not answer, try again later\r\n",
                   CloseReason::BackendUnavailable);
    return;
  case Phase::Relaying:
    relay_timer();
    return;
  case Phase::Ending:
    abort(record_.reason);
    return;
  case Phase::Connecting:
  case Phase::Closed:
    return;
  }
}

void SessionCore::relay_timer() {
  Millis now = now_;
  const auto& policy = config_.policy;
  if (backend_state_ == Backend::Greeting && now >= greeting_deadline_) {
    backend_failed(BackendFailure::GreetingTimeout, "no greeting in time");
    fail_to_client("-ERR [SYS/TEMP] mail server did not answer, try again later\r\n",
                   CloseReason::BackendUnavailable);
    return;
  }
  auto state = conv_.state();
  bool authorizing = state == pop3::State::Authorization || state == pop3::State::AuthExchange;
  if (authorizing && now >= started_ + policy.auth_timeout) {
    fail_to_client("-ERR [SYS/TEMP] authentication took too long\r\n", CloseReason::AuthTimeout);
    return;
  }
  if (now >= last_activity_ + policy.idle_timeout) {
    // RFC 1939 §3: an autologout timer of at least 10 minutes; the session ends without
    // entering UPDATE.
    fail_to_client("-ERR autologout: idle for too long\r\n", CloseReason::IdleTimeout);
  }
}

} // namespace popgate::session
