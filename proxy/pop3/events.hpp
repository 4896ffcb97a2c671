#pragma once

// The events a Conversation hands out. Every string_view in them points into bytes fed to the
// codec (or into its own copy of an unfinished line) and is valid until the next call to
// next_*() or feed_*() on the same side, whichever comes first. Copy what must live longer.

#include "proxy/pop3/command.hpp"
#include "proxy/pop3/errors.hpp"

#include <cstdint>
#include <string_view>
#include <variant>

namespace popgate::pop3 {

// No event can be produced from what has been fed: feed more bytes (or, on the client side,
// wait for the backend: see Conversation::client_waiting()). All fed bytes that are still
// needed have been copied: the caller may reuse its buffer.
struct NeedData {};

// ---- client side ----

// One line of an AUTH exchange (RFC 5034 §4), sent in answer to a Continuation: forward `raw`.
// `cancel` is true for "*", which aborts the exchange; the backend then answers -ERR.
struct SaslResponse {
  std::string_view raw;
  bool cancel = false;
};

// A line the proxy must not forward: answer "-ERR " + describe(error) + CRLF instead.
// close_advised: the client sent Conversation::kMaxConsecutiveInvalid bad lines in a row, or the
// line broke an AUTH exchange (which cannot be resumed); close the session after answering.
struct Invalid {
  Error error = Error::BadVerb;
  bool close_advised = false;
  Verb verb = Verb::Unknown; // a known verb refused for its state or arguments, for counting
};

using ClientEvent = std::variant<NeedData, Command, SaslResponse, Invalid>;

// ---- server side ----

// RFC 2449 §8 and RFC 3206: the bracketed code at the start of a status text.
enum class ResponseCode : std::uint8_t {
  None,       // no "[...]"
  Auth,       // [AUTH]: the credentials were wrong (RFC 3206 §4)
  SysTemp,    // [SYS/TEMP]: a temporary system problem (RFC 3206 §5)
  SysPerm,    // [SYS/PERM]: a permanent system problem (RFC 3206 §5)
  InUse,      // [IN-USE]: the maildrop is locked (RFC 2449 §8.1.1)
  LoginDelay, // [LOGIN-DELAY]: logged in too recently (RFC 2449 §8.1.2)
  Other       // any other code, e.g. [UTF8] or vendor extensions
};

std::string_view response_code_name(ResponseCode code);

// The outcome of an authentication command (USER/PASS, APOP, AUTH), set on its Status.
enum class AuthResult : std::uint8_t {
  None,     // the Status is not the end of an authentication
  Success,  // state is now Transaction
  Failure,  // counted in Conversation::auth_failures()
  Cancelled // the client cancelled an AUTH exchange with "*"; not counted as a failure
};

// The backend's first line (RFC 1939 §4). ok is false for a "-ERR" greeting: the backend
// refuses the session.
struct Greeting {
  std::string_view line; // incl. CRLF
  bool ok = false;
  ResponseCode code = ResponseCode::None;
};

// "+OK ..." or "-ERR ..." answering the oldest outstanding command.
struct Status {
  Verb for_verb = Verb::Unknown;
  bool ok = false;
  bool multiline = false; // Body events and a BodyEnd follow
  ResponseCode code = ResponseCode::None;
  AuthResult auth = AuthResult::None;
  std::string_view raw; // the status line incl. CRLF
};

// A run of body bytes of a multi-line response, dot-stuffing left intact (RFC 1939 §3): forward
// as is. A body arrives as any number of these, at most one per feed.
struct Body {
  std::string_view bytes;
};

// The terminating "." line of a multi-line response; raw is ".\r\n" (or ".\n" from a backend
// that ends lines with bare LF).
struct BodyEnd {
  std::string_view raw;
};

// An AUTH challenge, "+ base64" (RFC 5034 §4): forward it; the client answers with one line.
struct Continuation {
  std::string_view raw;
};

// The backend broke the protocol. Fatal: close both connections (without sending the client a
// terminating "." if a body was in progress).
struct ServerError {
  Error error = Error::ServerGarbage;
};

using ServerEvent =
    std::variant<NeedData, Greeting, Status, Body, BodyEnd, Continuation, ServerError>;

} // namespace popgate::pop3
