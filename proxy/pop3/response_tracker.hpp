#pragma once

// Server side of the codec: the backend's byte stream, cut into the greeting, one response per
// forwarded command in order (RFC 2449 §6.6, PIPELINING), and the bodies of multi-line
// responses, streamed without being buffered.
//
// Which "+OK" starts a multi-line response depends on the command (RFC 1939 §5-7, RFC 2449 §5):
// CAPA, LIST and UIDL without argument, RETR, TOP, and AUTH without argument (the mechanism
// listing that Outlook asks for and Dovecot answers). "-ERR" is always one line. A body ends at
// a line that is exactly "." (RFC 1939 §3); a line starting ".." or ".x" is data.
//
// Bounds: a status or continuation line may be up to max_response_line octets, LF included;
// longer is ServerLineTooLong. RFC 2449 §4 limits responses to 512 octets, but greetings and
// SASL challenges of real servers are longer, hence a separate, larger default. Body lines have
// no bound: they are never buffered.

#include "proxy/pop3/events.hpp"
#include "proxy/pop3/input_buffer.hpp"

#include <cstddef>
#include <deque>
#include <string_view>

namespace popgate::pop3 {

class ResponseTracker {
public:
  explicit ResponseTracker(std::size_t max_response_line) : max_line_(max_response_line) {}

  // See InputBuffer for what the caller must keep alive.
  // After a ServerError, fed bytes are ignored.
  void feed(std::string_view bytes) {
    if (phase_ != Phase::Failed) {
      input_.feed(bytes);
    }
  }

  // A command went to the backend: its response is now expected after those already expected.
  void expect(Verb verb, bool has_args) { pending_.push_back({verb, has_args}); }

  // Returns Greeting, Status (auth always None here), Body, BodyEnd, Continuation, ServerError
  // or NeedData. After a ServerError every later call returns the same error, and no fed byte
  // is referenced any more.
  ServerEvent next();

  [[nodiscard]] std::size_t outstanding() const { return pending_.size(); }
  [[nodiscard]] bool greeted() const { return phase_ != Phase::Greeting; }
  // True between a multi-line Status and its BodyEnd.
  [[nodiscard]] bool in_body() const { return phase_ == Phase::Body; }
  // Whether the command answered by the last Status had arguments: tells "AUTH" (mechanism
  // listing) from "AUTH mech" (an exchange).
  [[nodiscard]] bool last_status_had_args() const { return last_had_args_; }

private:
  enum class Phase { Greeting, Status, Body, Failed };
  struct Pending {
    Verb verb;
    bool has_args;
  };

  ServerEvent next_line_event();
  ServerEvent next_body_event();
  ServerEvent fail(Error error);

  std::size_t max_line_;
  Phase phase_ = Phase::Greeting;
  Error failure_ = Error::ServerGarbage;
  bool line_start_ = true; // in a body: the next byte starts a line
  bool last_had_args_ = false;
  std::deque<Pending> pending_;
  InputBuffer input_;
};

// Parses the code of "+OK [CODE] text" / "-ERR [CODE] text"; `text` starts after the status
// keyword. Exposed for the tests.
ResponseCode parse_response_code(std::string_view text);

// True when a "+OK" to this command is followed by a body.
bool has_multiline_ok(Verb verb, bool has_args);

} // namespace popgate::pop3
