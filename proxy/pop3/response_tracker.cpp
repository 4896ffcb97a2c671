#include "proxy/pop3/response_tracker.hpp"

#include "base/ascii.hpp"

#include <algorithm>
#include <cstring>

namespace popgate::pop3 {
namespace {

// A status keyword must be followed by a space or the end of the line.
bool keyword_ends(std::string_view line, std::size_t at) {
  return at == line.size() || line[at] == ' ' || line[at] == '\r' || line[at] == '\n';
}

enum class LineKind { Ok, Err, Continuation, Garbage };

LineKind classify(std::string_view line) {
  if (ascii::starts_with_ignore_case(line, "+OK") && keyword_ends(line, 3)) {
    return LineKind::Ok;
  }
  if (ascii::starts_with_ignore_case(line, "-ERR") && keyword_ends(line, 4)) {
    return LineKind::Err;
  }
  // RFC 5034 §4: a continuation is "+" SP [base64] CRLF; accept "+" CRLF too.
  if (!line.empty() && line[0] == '+' && keyword_ends(line, 1)) {
    return LineKind::Continuation;
  }
  return LineKind::Garbage;
}

} // namespace

std::string_view response_code_name(ResponseCode code) {
  switch (code) {
  case ResponseCode::None:
    return "none";
  case ResponseCode::Auth:
    return "AUTH";
  case ResponseCode::SysTemp:
    return "SYS/TEMP";
  case ResponseCode::SysPerm:
    return "SYS/PERM";
  case ResponseCode::InUse:
    return "IN-USE";
  case ResponseCode::LoginDelay:
    return "LOGIN-DELAY";
  case ResponseCode::Other:
    return "other";
  }
  return "other";
}

ResponseCode parse_response_code(std::string_view text) {
  // RFC 2449 §8: resp-code = "[" resp-level *("/" resp-level) "]", right after the SP.
  if (text.empty() || text.front() != ' ') {
    return ResponseCode::None;
  }
  text.remove_prefix(1);
  if (text.empty() || text.front() != '[') {
    return ResponseCode::None;
  }
  const std::size_t close = text.find(']');
  if (close == std::string_view::npos) {
    return ResponseCode::None;
  }
  const std::string_view code = text.substr(1, close - 1);
  if (ascii::equals_ignore_case(code, "AUTH")) {
    return ResponseCode::Auth;
  }
  if (ascii::equals_ignore_case(code, "SYS/TEMP")) {
    return ResponseCode::SysTemp;
  }
  if (ascii::equals_ignore_case(code, "SYS/PERM")) {
    return ResponseCode::SysPerm;
  }
  if (ascii::equals_ignore_case(code, "IN-USE")) {
    return ResponseCode::InUse;
  }
  if (ascii::equals_ignore_case(code, "LOGIN-DELAY")) {
    return ResponseCode::LoginDelay;
  }
  return ResponseCode::Other;
}

bool has_multiline_ok(Verb verb, bool has_args) {
  switch (verb) {
  case Verb::Capa: // RFC 2449 §5
  case Verb::Retr: // RFC 1939 §7
  case Verb::Top:  // RFC 1939 §7
    return true;
  case Verb::List: // RFC 1939 §5: a scan listing when no message number is given
  case Verb::Uidl: // RFC 1939 §7: likewise
  case Verb::Auth: // AUTH alone lists mechanisms; AUTH mech ends with a one-line +OK
    return !has_args;
  default:
    return false;
  }
}

ServerEvent ResponseTracker::fail(Error error) {
  phase_ = Phase::Failed;
  failure_ = error;
  input_.clear(); // nothing after a protocol error is relayed; the caller may free its buffer
  return ServerError{error};
}

ServerEvent ResponseTracker::next() {
  switch (phase_) {
  case Phase::Failed:
    return ServerError{failure_};
  case Phase::Body:
    return next_body_event();
  case Phase::Greeting:
  case Phase::Status:
    return next_line_event();
  }
  return fail(Error::ServerGarbage);
}

ServerEvent ResponseTracker::next_line_event() {
  const std::string_view in = input_.view();
  if (in.empty()) {
    input_.retain();
    return NeedData{};
  }
  if (phase_ == Phase::Status && pending_.empty()) {
    return fail(Error::UnsolicitedResponse);
  }
  const std::size_t window = std::min(in.size(), max_line_);
  const void* lf = std::memchr(in.data(), '\n', window);
  if (lf == nullptr) {
    if (in.size() >= max_line_) {
      return fail(Error::ServerLineTooLong);
    }
    input_.retain();
    return NeedData{};
  }
  const auto length = static_cast<std::size_t>(static_cast<const char*>(lf) - in.data()) + 1;
  const std::string_view line = in.substr(0, length);
  const LineKind kind = classify(line);
  const std::size_t keyword = kind == LineKind::Ok ? 3 : 4;

  if (phase_ == Phase::Greeting) {
    if (kind != LineKind::Ok && kind != LineKind::Err) {
      return fail(Error::ServerGarbage);
    }
    input_.consume(length);
    phase_ = Phase::Status;
    return Greeting{line, kind == LineKind::Ok, parse_response_code(line.substr(keyword))};
  }

  const Pending front = pending_.front();
  const bool in_auth_exchange = front.verb == Verb::Auth && front.has_args;
  if (kind == LineKind::Continuation && in_auth_exchange) {
    // RFC 5034 §4: the exchange goes on; the command stays outstanding.
    input_.consume(length);
    return Continuation{line};
  }
  if (kind != LineKind::Ok && kind != LineKind::Err) {
    return fail(Error::ServerGarbage);
  }
  input_.consume(length);
  pending_.pop_front();
  last_had_args_ = front.has_args;
  Status status;
  status.for_verb = front.verb;
  status.ok = kind == LineKind::Ok;
  status.multiline = status.ok && has_multiline_ok(front.verb, front.has_args);
  status.code = parse_response_code(line.substr(keyword));
  status.raw = line;
  if (status.multiline) {
    phase_ = Phase::Body;
    line_start_ = true;
  }
  return status;
}

ServerEvent ResponseTracker::next_body_event() {
  const std::string_view in = input_.view();
  std::size_t pos = 0;
  bool line_start = line_start_;
  while (pos < in.size()) {
    if (line_start && in[pos] == '.') {
      // RFC 1939 §3: "." CRLF ends the body; any other line starting with "." is stuffed data.
      std::size_t terminator = 0;
      if (pos + 1 >= in.size()) {
        break; // cannot tell yet
      }
      if (in[pos + 1] == '\n') {
        terminator = 2;
      } else if (in[pos + 1] == '\r') {
        if (pos + 2 >= in.size()) {
          break;
        }
        terminator = in[pos + 2] == '\n' ? 3 : 0;
      }
      if (terminator != 0) {
        if (pos > 0) {
          break; // hand out the data before the terminator first
        }
        input_.consume(terminator);
        phase_ = Phase::Status;
        line_start_ = true;
        return BodyEnd{in.substr(0, terminator)};
      }
    }
    const void* lf = std::memchr(in.data() + pos, '\n', in.size() - pos);
    if (lf == nullptr) {
      pos = in.size();
      line_start = false;
      break;
    }
    pos = static_cast<std::size_t>(static_cast<const char*>(lf) - in.data()) + 1;
    line_start = true;
  }
  if (pos == 0) {
    input_.retain(); // at most ".\r" of a possible terminator
    return NeedData{};
  }
  input_.consume(pos);
  line_start_ = line_start;
  return Body{in.substr(0, pos)};
}

} // namespace popgate::pop3
