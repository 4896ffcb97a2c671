#pragma once

// One active health check of one backend server ([[backend]] check_interval, SPEC section 5),
// sans-IO: the adapter opens the TCP connection and tells the check how that went, feeds it what
// the server sends, writes take_output() to the socket, and closes once done().
//
// Theory of operation. A check goes Connecting -> Greeting -> Quitting -> Done.
//   Connecting  connected() starts the greeting deadline; connect_failed() ends the check (down).
//   Greeting    the first line decides (RFC 1939 §4): "+OK" means up, and the check answers with
//               QUIT so the server ends the session cleanly instead of logging a dropped
//               connection; "-ERR", garbage, an over-long line, EOF or the deadline mean down.
//   Quitting    the verdict is known; the server's reply to QUIT or its EOF ends the check, and
//               so does the deadline (a server that never answers QUIT is still up: it greeted).
// The verdict is fixed once reached; later events only move the check to Done.
//
// Time is an argument: every event takes `now`, deadline() says when timer() is due.

#include "base/duration.hpp"
#include "proxy/config/config.hpp"
#include "proxy/pop3/response_tracker.hpp"
#include "proxy/session/actions.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace popgate::session {

struct CheckVerdict {
  bool up = false;
  BackendFailure failure = BackendFailure::ConnectFailed; // when !up
  std::string detail; // why it is down, for the log: no peer text beyond a sanitized hint
};

class BackendCheck {
public:
  // `greeting_timeout` bounds both the wait for the greeting and the wait for QUIT's reply.
  // `max_line` bounds the greeting line (pop3::ResponseTracker).
  // `forward_client` "proxy-v1"/"proxy-v2": the PROXY header such a backend requires on every
  // connection goes out first once connected, a LOCAL one (the check is popgate's own).
  BackendCheck(Millis greeting_timeout, std::size_t max_line,
               proxy::ForwardClient forward_client = proxy::ForwardClient::None);

  void connected(Millis now);
  void connect_failed(bool timed_out, std::string_view error);
  // The view need not outlive the call.
  void data(std::string_view bytes);
  void eof();
  void timer(Millis now);

  // Bytes to write to the server (QUIT once greeted); empty when there is nothing to send.
  std::string take_output();
  [[nodiscard]] bool done() const { return phase_ == Phase::Done; }
  // Set once decided (always set when done()).
  [[nodiscard]] const std::optional<CheckVerdict>& verdict() const { return verdict_; }
  // When timer() must be called; only meaningful in Greeting and Quitting.
  [[nodiscard]] Millis deadline() const { return deadline_; }

private:
  enum class Phase { Connecting, Greeting, Quitting, Done };

  void down(BackendFailure failure, std::string detail);
  void read_greeting();

  Millis timeout_;
  Phase phase_ = Phase::Connecting;
  Millis deadline_{0};
  pop3::ResponseTracker responses_; // drained to NeedData in each data(): it copies what it keeps
  std::string output_;
  std::string preamble_;
  std::optional<CheckVerdict> verdict_;
};

} // namespace popgate::session
