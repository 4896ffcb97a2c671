#pragma once

// The fixed label values of popgate's metric families. Every label popgate exports has a bounded
// set of values (SPEC section 4: never a user name or client address), so each open-ended input
// is mapped onto one of these enums before it reaches a metric. The strings returned by the
// to_string() functions are part of the contract: alert rules and dashboards select on them.

#include <array>
#include <cstddef>
#include <string_view>

namespace popgate::metrics {

// bytes_total{direction}: which leg of the relay the bytes crossed, seen from popgate.
enum class Direction { ClientIn, ClientOut, BackendIn, BackendOut };
inline constexpr std::size_t kDirectionCount = 4;

// rejected_connections_total{reason}: why a connection was closed before a session began.
enum class RejectReason {
  MaxConnections,        // [server] max_connections reached across all listeners
  PerIpLimit,            // [policy] max_sessions_per_ip reached for this client address
  AccessDenied,          // [policy.access] deny or not in allow
  Banned,                // [policy.ban] the client address is banned
  ProxyProtocol,         // missing, malformed or untrusted PROXY protocol header
  ShuttingDown,          // SIGTERM/SIGINT received: no new sessions during the grace period
  DestinationNotAllowed, // transparent mode: the address the client dialled is not allowed
};
inline constexpr std::size_t kRejectReasonCount = 7;

// accept_errors_total{reason}: why accept(2) on a listening socket failed. popgate goes on
// serving; the connection that could not be accepted is lost.
enum class AcceptError {
  FdLimit,       // EMFILE: the process's descriptor limit (RLIMIT_NOFILE) is reached
  SystemFdLimit, // ENFILE: the system-wide file table is full
  OutOfMemory,   // ENOMEM, ENOBUFS: the kernel had no memory for the socket
  Other,         // anything else (EPERM from a firewall, EPROTO, ...)
};
inline constexpr std::size_t kAcceptErrorCount = 4;

// backend_errors_total{backend,reason}: what went wrong talking to a backend server.
enum class BackendError {
  ConnectFailed,     // TCP connect refused or unreachable
  ConnectTimeout,    // connect_timeout elapsed
  GreetingTimeout,   // greeting_timeout elapsed before "+OK"
  BadGreeting,       // the first line was not an RFC 1939 "+OK" greeting
  ClosedMidResponse, // the backend closed while a response was still being relayed
  ProtocolError,     // anything else that breaks RFC 1939 framing
};
inline constexpr std::size_t kBackendErrorCount = 6;

// tls_handshakes_total{listener,result="failure",reason}: why a client TLS handshake failed.
// The first six come from the TLS engine (tls/failure_reason.hpp), the next two from the
// session: the handshake deadline passed, or the client closed (or reset) the connection after
// it had started the handshake. A connection closed before sending a byte is not a handshake.
enum class HandshakeFailure {
  ProtocolVersion,   // no TLS version in common
  NoSharedCipher,    // no cipher suite, group or signature algorithm in common
  BadCertificate,    // a certificate was refused, by either side
  UnexpectedMessage, // handshake messages out of order
  DecodeError,       // not TLS (plaintext on an implicit TLS port, a scanner) or malformed
  PeerAlert,         // the client aborted with some other alert
  Timeout,           // auth_timeout passed before the handshake finished
  Eof,               // the client went away mid-handshake
  Other,
};
inline constexpr std::size_t kHandshakeFailureCount = 9;

// starttls_total{result}: outcome of an STLS command (RFC 2595 section 4).
enum class StarttlsResult {
  Ok,      // "+OK" sent and the TLS handshake completed
  Failed,  // "+OK" sent but the TLS handshake failed
  Refused, // answered "-ERR": already under TLS, wrong state, or no certificate
};
inline constexpr std::size_t kStarttlsResultCount = 3;

// policy_decisions_total{rule,action}: the action a [[policy.rule]] took. A rule in dry_run mode
// counts what it would have done under "dry_run_<action>", so an admin can watch a new rule
// before enforcing it without mixing its numbers with enforced ones.
enum class PolicyAction { Allow, Deny, Close, Route };
inline constexpr std::size_t kPolicyActionCount = 4;

// commands_total{command}: the POP3 verbs of RFC 1939, RFC 2449 (CAPA), RFC 2595 (STLS) and
// RFC 5034 (AUTH). Anything else is counted as "OTHER" so a client sending random verbs cannot
// grow the label set.
inline constexpr std::array<std::string_view, 15> kCommandVerbs = {
    "USER", "PASS", "APOP", "AUTH", "STLS", "CAPA", "QUIT", "STAT",
    "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP",  "UIDL"};
inline constexpr std::string_view kOtherCommand = "OTHER";

std::string_view to_string(Direction direction);
std::string_view to_string(RejectReason reason);
std::string_view to_string(BackendError error);
std::string_view to_string(AcceptError error);
std::string_view to_string(StarttlsResult result);
std::string_view to_string(HandshakeFailure reason);
std::string_view to_string(PolicyAction action);
// The action label value of a dry-run decision, e.g. "dry_run_deny".
std::string_view to_dry_run_string(PolicyAction action);

// Index of `verb` in kCommandVerbs, compared case-insensitively (RFC 1939 section 3: keywords
// are case-insensitive), or kCommandVerbs.size() for "OTHER". Never allocates.
std::size_t command_index(std::string_view verb);

} // namespace popgate::metrics
