#pragma once

// What can go wrong in a POP3 conversation, on either side. Every value here is caused by the
// network (a client or a backend sending something the RFCs do not allow), so each is an event
// the proxy answers or acts on, never an assertion.
//
// Client errors are recoverable: the proxy answers "-ERR " + describe(error) + CRLF, the line
// never reaches the backend, and the session goes on (until too many arrive in a row, see
// Conversation::kMaxConsecutiveInvalid). Server errors are fatal: the pairing of responses with
// commands is lost, so the proxy closes both connections.

#include <cstdint>
#include <string_view>

namespace popgate::pop3 {

enum class Error : std::uint8_t {
  // Client side.
  LineTooLong,     // more than Options::max_line_length octets before LF (CRLF included)
  NulByte,         // a NUL octet anywhere in the line
  BareLf,          // the line ends in LF without CR (RFC 1939 §3: lines end in CRLF)
  BadVerb,         // empty line, or a keyword that is not 1-16 ASCII letters
  UnknownVerb,     // well-formed keyword that popgate does not relay
  WrongState,      // known verb, but not valid in the current state (RFC 1939 §3)
  BadArguments,    // arity or grammar of the arguments is wrong for the verb
  TlsActive,       // STLS on a session that is already under TLS (RFC 2595 §4)
  BadSaslResponse, // an AUTH continuation answer that is not base64 or "*" (RFC 5034 §4)
  // Server side.
  ServerGarbage,      // neither "+OK" nor "-ERR" (nor "+ " during AUTH) where a status is due
  ServerLineTooLong,  // a status or continuation line over Options::max_response_line
  UnsolicitedResponse // a response with no outstanding command to pair it with
};

// Returns true for the errors that only the backend can cause.
constexpr bool is_server_error(Error e) {
  return e == Error::ServerGarbage || e == Error::ServerLineTooLong ||
         e == Error::UnsolicitedResponse;
}

// Human-readable reason. For client errors it is the text the proxy sends after "-ERR "; it never
// quotes the offending line, so nothing the client sent (a password) can be echoed or logged.
constexpr std::string_view describe(Error e) {
  switch (e) {
  case Error::LineTooLong:
    return "Line too long";
  case Error::NulByte:
    return "NUL byte in command";
  case Error::BareLf:
    return "Command line must end with CRLF";
  case Error::BadVerb:
    return "Malformed command";
  case Error::UnknownVerb:
    return "Unknown command";
  case Error::WrongState:
    return "Command not valid in this state";
  case Error::BadArguments:
    return "Invalid arguments";
  case Error::TlsActive:
    return "TLS is already active";
  case Error::BadSaslResponse:
    return "Malformed AUTH response";
  case Error::ServerGarbage:
    return "backend sent a line that is not a POP3 status";
  case Error::ServerLineTooLong:
    return "backend sent an over-long status line";
  case Error::UnsolicitedResponse:
    return "backend sent a response to no command";
  }
  return "Unknown error";
}

// Short stable identifier for logs and tests, e.g. "bare_lf".
constexpr std::string_view error_name(Error e) {
  switch (e) {
  case Error::LineTooLong:
    return "line_too_long";
  case Error::NulByte:
    return "nul_byte";
  case Error::BareLf:
    return "bare_lf";
  case Error::BadVerb:
    return "bad_verb";
  case Error::UnknownVerb:
    return "unknown_verb";
  case Error::WrongState:
    return "wrong_state";
  case Error::BadArguments:
    return "bad_arguments";
  case Error::TlsActive:
    return "tls_active";
  case Error::BadSaslResponse:
    return "bad_sasl_response";
  case Error::ServerGarbage:
    return "server_garbage";
  case Error::ServerLineTooLong:
    return "server_line_too_long";
  case Error::UnsolicitedResponse:
    return "unsolicited_response";
  }
  return "unknown";
}

} // namespace popgate::pop3
