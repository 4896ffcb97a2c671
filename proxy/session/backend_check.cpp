#include "proxy/session/backend_check.hpp"

#include "proxy/session/forward_client.hpp"

#include <utility>
#include <variant>

namespace popgate::session {

BackendCheck::BackendCheck(Millis greeting_timeout, std::size_t max_line,
                           proxy::ForwardClient forward_client)
    : timeout_(greeting_timeout), responses_(max_line) {
  if (auto version = proxy_header_version(forward_client)) {
    preamble_ = proxy_protocol::write_local_proxy_header(*version);
  }
}

void BackendCheck::connected(Millis now) {
  if (phase_ != Phase::Connecting) {
    return;
  }
  phase_ = Phase::Greeting;
  deadline_ = now + timeout_;
  output_ = std::exchange(preamble_, std::string());
}

void BackendCheck::connect_failed(bool timed_out, std::string_view error) {
  if (phase_ != Phase::Connecting) {
    return;
  }
  down(timed_out ? BackendFailure::ConnectTimeout : BackendFailure::ConnectFailed,
       "connect failed: " + std::string(error));
}

void BackendCheck::data(std::string_view bytes) {
  if (phase_ == Phase::Greeting) {
    responses_.feed(bytes);
    read_greeting();
    return;
  }
  if (phase_ == Phase::Quitting) {
    // Not fed to the tracker: it may still hold views into an earlier feed's bytes, which only
    // a next() that nobody makes would read. Whatever answers QUIT ("+OK" or not) ends the check:
    // the verdict came from the greeting.
    phase_ = Phase::Done;
  }
}

void BackendCheck::read_greeting() {
  auto event = responses_.next();
  if (std::holds_alternative<pop3::NeedData>(event)) {
    return;
  }
  if (const auto* greeting = std::get_if<pop3::Greeting>(&event)) {
    if (!greeting->ok) {
      // RFC 1939 §4 allows only "+OK" as a greeting; "-ERR" is a server refusing sessions
      // (Dovecot when it is over its process limit, for one).
      down(BackendFailure::BadGreeting, "the server greeted with -ERR");
      return;
    }
    verdict_ = CheckVerdict{true, BackendFailure::ConnectFailed, ""};
    output_ += "QUIT\r\n";
    phase_ = Phase::Quitting; // QUIT's reply gets what is left of the same deadline
    return;
  }
  const auto* error = std::get_if<pop3::ServerError>(&event);
  down(BackendFailure::BadGreeting,
       std::string("bad greeting: ") +
           std::string(
               pop3::describe(error != nullptr ? error->error : pop3::Error::ServerGarbage)));
}

void BackendCheck::eof() {
  if (phase_ == Phase::Greeting) {
    down(BackendFailure::BadGreeting, "the server closed the connection before its greeting");
  } else if (phase_ == Phase::Quitting) {
    phase_ = Phase::Done;
  }
}

void BackendCheck::timer(Millis now) {
  if (now < deadline_) {
    return;
  }
  if (phase_ == Phase::Greeting) {
    down(BackendFailure::GreetingTimeout, "no greeting within greeting_timeout");
  } else if (phase_ == Phase::Quitting) {
    phase_ = Phase::Done;
  }
}

std::string BackendCheck::take_output() { return std::exchange(output_, std::string()); }

void BackendCheck::down(BackendFailure failure, std::string detail) {
  phase_ = Phase::Done;
  output_.clear();
  verdict_ = CheckVerdict{false, failure, std::move(detail)};
}

} // namespace popgate::session
