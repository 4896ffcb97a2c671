#pragma once

// Client side of the codec: splitting the byte stream into lines, and parsing one line into a
// Command. Neither knows the session state; Conversation combines them with it.
//
// Line splitting follows nginx's ngx_mail_pop3_parse_command: a line ends at LF; a line longer
// than the limit is reported once and then skipped up to its LF ("skip till LF"), so one bad
// line costs the client one -ERR and nothing else.

#include "base/result.hpp"
#include "proxy/pop3/command.hpp"
#include "proxy/pop3/errors.hpp"
#include "proxy/pop3/input_buffer.hpp"

#include <cstddef>
#include <string_view>
#include <variant>

namespace popgate::pop3 {

class LineSplitter {
public:
  struct NoLine {}; // more bytes needed; the unfinished line has been retained
  struct Line {     // a complete line, LF included; a view into the fed bytes
    std::string_view raw;
  };
  struct TooLong {}; // max_line_length octets without LF; the rest up to LF will be skipped
  using Event = std::variant<NoLine, Line, TooLong>;

  explicit LineSplitter(std::size_t max_line_length) : max_line_length_(max_line_length) {}

  void feed(std::string_view bytes) { input_.feed(bytes); }
  Event next();

  // Unconsumed bytes (pipelined lines not pulled yet, or an unfinished line).
  [[nodiscard]] std::size_t buffered() const { return input_.size(); }
  // Copies unconsumed bytes out of the caller's buffer (see InputBuffer).
  void retain() { input_.retain(); }
  // Drops everything unconsumed and any pending skip; returns the number of bytes dropped.
  std::size_t discard();

private:
  std::size_t max_line_length_;
  bool skipping_ = false;
  InputBuffer input_;
};

// Parses one complete line (as returned by LineSplitter, LF included) against the grammar of
// RFC 1939 §3-7, RFC 2449 §5, RFC 2595 §4 and RFC 5034 §4, without regard to state.
// The Command's views point into `raw`.
Result<Command, Error> parse_command(std::string_view raw);

// True when `args` are valid for `verb` (arity and grammar).
bool arguments_valid(Verb verb, std::string_view args);

// Checks one client line sent during an AUTH exchange (RFC 5034 §4): base64, possibly empty, or
// "*" to cancel. Returns the response text without CRLF.
Result<std::string_view, Error> parse_sasl_line(std::string_view raw);

} // namespace popgate::pop3
