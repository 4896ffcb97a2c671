#include "metrics/label_values.hpp"

#include "base/ascii.hpp"

namespace popgate::metrics {

std::string_view to_string(Direction direction) {
  switch (direction) {
  case Direction::ClientIn:
    return "client_in";
  case Direction::ClientOut:
    return "client_out";
  case Direction::BackendIn:
    return "backend_in";
  case Direction::BackendOut:
    return "backend_out";
  }
  return "unknown";
}

std::string_view to_string(RejectReason reason) {
  switch (reason) {
  case RejectReason::MaxConnections:
    return "max_connections";
  case RejectReason::PerIpLimit:
    return "per_ip_limit";
  case RejectReason::AccessDenied:
    return "access_denied";
  case RejectReason::Banned:
    return "banned";
  case RejectReason::ProxyProtocol:
    return "proxy_protocol";
  case RejectReason::ShuttingDown:
    return "shutting_down";
  case RejectReason::DestinationNotAllowed:
    return "destination_not_allowed";
  }
  return "unknown";
}

std::string_view to_string(BackendError error) {
  switch (error) {
  case BackendError::ConnectFailed:
    return "connect_failed";
  case BackendError::ConnectTimeout:
    return "connect_timeout";
  case BackendError::GreetingTimeout:
    return "greeting_timeout";
  case BackendError::BadGreeting:
    return "bad_greeting";
  case BackendError::ClosedMidResponse:
    return "closed_mid_response";
  case BackendError::ProtocolError:
    return "protocol_error";
  }
  return "unknown";
}

std::string_view to_string(AcceptError error) {
  switch (error) {
  case AcceptError::FdLimit:
    return "fd_limit";
  case AcceptError::SystemFdLimit:
    return "system_fd_limit";
  case AcceptError::OutOfMemory:
    return "out_of_memory";
  case AcceptError::Other:
    return "other";
  }
  return "unknown";
}

std::string_view to_string(StarttlsResult result) {
  switch (result) {
  case StarttlsResult::Ok:
    return "success";
  case StarttlsResult::Failed:
    return "failure";
  case StarttlsResult::Refused:
    return "refused";
  }
  return "unknown";
}

std::string_view to_string(HandshakeFailure reason) {
  switch (reason) {
  case HandshakeFailure::ProtocolVersion:
    return "protocol_version";
  case HandshakeFailure::NoSharedCipher:
    return "no_shared_cipher";
  case HandshakeFailure::BadCertificate:
    return "bad_certificate";
  case HandshakeFailure::UnexpectedMessage:
    return "unexpected_message";
  case HandshakeFailure::DecodeError:
    return "decode_error";
  case HandshakeFailure::PeerAlert:
    return "peer_alert";
  case HandshakeFailure::Timeout:
    return "timeout";
  case HandshakeFailure::Eof:
    return "eof";
  case HandshakeFailure::Other:
    return "other";
  }
  return "other";
}

std::string_view to_string(PolicyAction action) {
  switch (action) {
  case PolicyAction::Allow:
    return "allow";
  case PolicyAction::Deny:
    return "deny";
  case PolicyAction::Close:
    return "close";
  case PolicyAction::Route:
    return "route";
  }
  return "unknown";
}

std::string_view to_dry_run_string(PolicyAction action) {
  switch (action) {
  case PolicyAction::Allow:
    return "dry_run_allow";
  case PolicyAction::Deny:
    return "dry_run_deny";
  case PolicyAction::Close:
    return "dry_run_close";
  case PolicyAction::Route:
    return "dry_run_route";
  }
  return "unknown";
}

std::size_t command_index(std::string_view verb) {
  for (std::size_t i = 0; i < kCommandVerbs.size(); ++i) {
    if (ascii::equals_ignore_case(verb, kCommandVerbs[i])) {
      return i;
    }
  }
  return kCommandVerbs.size();
}

} // namespace popgate::metrics
