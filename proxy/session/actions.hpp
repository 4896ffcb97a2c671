#pragma once

// What the session core asks its runtime to do. The core never touches a socket, a TLS engine,
// a metric or the log: after each event the adapter takes these actions, in order, and carries
// them out. Order matters: "+OK Begin TLS negotiation" must be written in plaintext before
// StartTls, and the last reply before Finish.

#include "base/address.hpp"
#include "base/duration.hpp"
#include "proxy/pop3/command.hpp"
#include "proxy/session/close_reason.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace popgate::session {

// Plaintext for the client: the adapter encrypts it when the session is under TLS.
struct ToClient {
  std::string bytes;
};

// Bytes for the backend connection, as they are.
struct ToBackend {
  std::string bytes;
};

// Connect to config.backends[backend]: its servers in order (SPEC: tried in order on connect
// failure). The adapter answers with backend_connected() or backend_unavailable().
struct Connect {
  std::size_t backend = 0;
  // destination = "original": this one address (the one the client dialled, on the backend's
  // destination_port) instead of the servers; backend_connected() then gets server 0.
  std::optional<Endpoint> destination;
  // source = "client": connect from this address (the client's own, port chosen by the
  // kernel) instead of the gateway's.
  std::optional<Address> source;
};

// Start a TLS server engine on the client connection and feed it `ciphertext` first (bytes that
// arrived behind a PROXY header). From now on the adapter feeds client bytes to the engine and
// its events to the core.
struct StartTls {
  std::string ciphertext;
};

// End the session cleanly: write what is queued, end TLS with close_notify, shut the socket
// down, then close. The backend connection is closed at once, without QUIT (RFC 1939 §6).
struct Finish {
  CloseReason reason = CloseReason::Quit;
};

// End the session now: close both connections without writing anything more. Used where a
// clean end would mislead, e.g. a backend that died mid-message (no "." and no close_notify).
struct Abort {
  CloseReason reason = CloseReason::ClientError;
};

// What the core counts. The adapter maps each onto the runtime's metric handles.
enum class Counter : std::uint8_t {
  Command,                // label: pop3::Verb
  Auth,                   // label: 1 success, 0 failure
  PolicyDecision,         // label: rule index; detail: policy::Action; dry: dry run
  StarttlsOk,             // an STLS handshake completed
  StarttlsFailed,         // an STLS handshake failed
  StarttlsRefused,        // STLS refused (under TLS already, or out of state)
  PlaintextAuthRefused,   // USER/PASS/APOP/AUTH before STLS
  StarttlsDiscardedBytes, // amount: bytes pipelined after STLS and dropped
  Rejected,               // label: Refusal
  BackendError,           // label: BackendFailure
  Bans,                   // label: bans now active; amount: 1 when this failure began one
};

// Why a connection was refused before its session started.
// DestinationNotAllowed: a transparent session's original destination is outside the backend's
// destinations_allowed (refused when the backend is chosen, after the TLS handshake).
enum class Refusal : std::uint8_t {
  AccessDenied,
  Banned,
  PerIpLimit,
  ProxyProtocol,
  DestinationNotAllowed
};

// Why a backend failed a session (the adapter counts connect attempts itself).
enum class BackendFailure : std::uint8_t {
  ConnectFailed,
  ConnectTimeout,
  BadGreeting,
  GreetingTimeout,
  ProtocolError,
  ClosedMidResponse,
};

struct Count {
  Counter counter = Counter::Command;
  std::size_t label = 0;
  std::uint64_t amount = 1;
  std::uint8_t detail = 0;
  bool dry = false;
};

struct LogField {
  std::string_view key; // a literal
  std::string value;    // quoted peer text is sanitized by the logger, not here
};

enum class Level : std::uint8_t { Debug, Info, Warn };

struct Log {
  Level level = Level::Info;
  std::string_view event; // a literal: "policy", "backend", "starttls", ...
  std::string_view message;
  std::vector<LogField> fields;
  // A line any peer can cause at will (a failed handshake): the adapter writes a sample.
  bool rate_limited = false;
};

using Action = std::variant<ToClient, ToBackend, Connect, StartTls, Finish, Abort, Count, Log>;

} // namespace popgate::session
