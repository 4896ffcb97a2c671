#pragma once

// Why a session ended: the one value every close path records, for the session's log line and
// for metrics. "Clean" reasons let pending output drain and end TLS with close_notify; the
// others drop the connection at once.

#include <string_view>

namespace popgate::session {

enum class CloseReason {
  Quit,               // client QUIT, backend answered and closed
  ClientClosed,       // client went away (EOF) without QUIT: backend closed without QUIT
  ClientError,        // read/write error on the client socket
  TlsError,           // handshake or record failure
  HandshakeTimeout,   // no TLS handshake within the authorization time
  AuthTimeout,        // authorization not finished in time
  IdleTimeout,        // RFC 1939 autologout
  BackendUnavailable, // no server of the backend accepted or greeted
  BackendClosed,      // backend closed between responses
  BackendDiedMidResponse,
  BackendError,      // read/write error or garbage from the backend
  ProtocolViolation, // client kept sending invalid commands
  TooManyAuthFailures,
  PolicyClose,           // a rule with action "close"
  DestinationNotAllowed, // transparent mode: the dialled address is not in destinations_allowed
  Shutdown,              // popgate is stopping
  AdminKick,             // an administrator ended it (popgate ctl kick)
};

inline std::string_view to_string(CloseReason r) {
  switch (r) {
  case CloseReason::Quit:
    return "quit";
  case CloseReason::ClientClosed:
    return "client_closed";
  case CloseReason::ClientError:
    return "client_error";
  case CloseReason::TlsError:
    return "tls_error";
  case CloseReason::HandshakeTimeout:
    return "handshake_timeout";
  case CloseReason::AuthTimeout:
    return "auth_timeout";
  case CloseReason::IdleTimeout:
    return "idle_timeout";
  case CloseReason::BackendUnavailable:
    return "backend_unavailable";
  case CloseReason::BackendClosed:
    return "backend_closed";
  case CloseReason::BackendDiedMidResponse:
    return "backend_died_mid_response";
  case CloseReason::BackendError:
    return "backend_error";
  case CloseReason::ProtocolViolation:
    return "protocol_violation";
  case CloseReason::TooManyAuthFailures:
    return "too_many_auth_failures";
  case CloseReason::PolicyClose:
    return "policy_close";
  case CloseReason::DestinationNotAllowed:
    return "destination_not_allowed";
  case CloseReason::Shutdown:
    return "shutdown";
  case CloseReason::AdminKick:
    return "admin_kick";
  }
  return "unknown";
}

} // namespace popgate::session
