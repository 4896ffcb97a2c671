#pragma once

// A POP3 conversation as a gateway sees it: the client's byte stream, the backend's byte
// stream, and the session state that ties them together. Sans-IO: bytes in, events out; no
// sockets, no clock, no callbacks. The proxy drives one Conversation per session.
//
// Theory of operation
// -------------------
// Client side. feed_client() bytes, then pull next_client() until NeedData. Each complete line
// becomes one event:
//   Command      a valid command for the current state: forward `raw` to the backend and call
//                command_forwarded(), or answer it yourself and call command_answered_locally().
//                Do one of the two before pulling the next client event: PASS is only valid
//                after USER was forwarded, and pipelined lines after an authentication command
//                are parsed only once its outcome is known.
//   SaslResponse one line of an AUTH exchange, after the backend's Continuation: forward `raw`.
//                The codec counts it as forwarded.
//   Invalid      answer "-ERR " + describe(error) + CRLF; the line never reaches the backend.
//                If close_advised, close the session after the answer.
// next_client() also returns NeedData while it waits for the backend (client_waiting()): after
// PASS, APOP or AUTH was forwarded (until the outcome, or a Continuation), and after STLS was
// answered +OK (until discard_client_input()). Pipelined bytes stay buffered meanwhile; stop
// reading the client when client_buffered() passes your high-water mark.
//
// Server side. feed_server() bytes, then pull next_server() until NeedData. The first line is
// the Greeting. Then each forwarded command gets exactly one Status, in order (RFC 2449 §6.6);
// a multi-line "+OK" is followed by Body events and one BodyEnd; an AUTH exchange may have
// Continuation events before its Status. A Status that ends an authentication carries its
// AuthResult, and the state has already moved (Transaction on success). ServerError is fatal.
//
// State (RFC 1939 §3):
//   Authorization --USER/PASS, APOP or AUTH +OK--> Transaction
//   Authorization --AUTH mech forwarded--> AuthExchange --+OK--> Transaction
//                                                        --"-ERR"--> Authorization
//   any --QUIT forwarded or answered--> Update (every later command is WrongState)
//
// Ownership. Each side follows InputBuffer's rule: the codec reads fed bytes in place, so the
// caller keeps them unchanged until that side returns NeedData (or until a later feed on that
// side returns). Views in an event are valid until the next next_*() or feed_*() call on the
// same side. So the proxy may stop pulling mid-body when the client is slow (backpressure) and
// resume later, as long as it keeps the buffer it last fed. Only unfinished lines (and, while
// the client side waits, the pipelined lines after it) are copied. Memory is bounded by
// max_line_length and max_response_line, plus whatever the caller feeds while the client side
// waits.

#include "proxy/pop3/command.hpp"
#include "proxy/pop3/command_parser.hpp"
#include "proxy/pop3/errors.hpp"
#include "proxy/pop3/events.hpp"
#include "proxy/pop3/response_tracker.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace popgate::pop3 {

struct Options {
  // A client command line, CRLF included (SPEC [policy] max_line_length). RFC 1939 §3 allows
  // 255 octets; RFC 2449 §4 raises it, and real clients send long AUTH lines. Minimum 16.
  std::size_t max_line_length = 1024;
  // A backend status, greeting or continuation line, LF included. See response_tracker.hpp.
  std::size_t max_response_line = 8192;
};

class Conversation {
public:
  // After this many Invalid events in a row (no valid line between them), close_advised is set.
  static constexpr unsigned kMaxConsecutiveInvalid = 10;

  explicit Conversation(Options options = {});

  // ---- client side ----
  void feed_client(std::string_view bytes);
  ClientEvent next_client();

  // The proxy sent this command to the backend; a response is now outstanding.
  void command_forwarded(const Command& command);
  // For commands the proxy composes itself (e.g. CAPA to learn the backend's capabilities):
  // a response is expected; its events come back through next_server() like any other.
  void command_forwarded(Verb verb, std::string_view args);
  // The proxy answered this command itself (CAPA before TLS, STLS, a policy refusal); ok is
  // whether it answered +OK. No response from the backend is expected.
  void command_answered_locally(const Command& command, bool ok);

  // RFC 2595 §4, CVE-2011-0411: after answering STLS with +OK, drop every client byte that was
  // received after the STLS line in plaintext. Returns how many were dropped. Until this is
  // called, next_client() returns NeedData.
  std::size_t discard_client_input();
  // The client session is now under TLS: STLS becomes invalid (Error::TlsActive).
  void set_tls_active() { tls_active_ = true; }

  // ---- server side ----
  void feed_server(std::string_view bytes);
  ServerEvent next_server();

  // ---- observers ----
  [[nodiscard]] State state() const { return state_; }
  // The user name the client claimed last (USER, APOP, AUTH PLAIN authcid, AUTH LOGIN), empty
  // if none yet. Claimed, not verified: it is authenticated once state() is Transaction.
  [[nodiscard]] std::string_view user() const { return user_; }
  [[nodiscard]] unsigned auth_failures() const { return auth_failures_; }
  [[nodiscard]] unsigned consecutive_invalid() const { return consecutive_invalid_; }
  [[nodiscard]] bool tls_active() const { return tls_active_; }
  // next_client() will not parse more lines before the backend answers (see above).
  [[nodiscard]] bool client_waiting() const;
  [[nodiscard]] std::size_t client_buffered() const { return lines_.buffered(); }
  // Responses still expected from the backend.
  [[nodiscard]] std::size_t outstanding() const { return tracker_.outstanding(); }
  // A multi-line body is being relayed: if the backend dies now, close the client without
  // sending "." (SPEC §4: never show a truncated message as complete).
  [[nodiscard]] bool response_in_progress() const { return tracker_.in_body(); }
  [[nodiscard]] bool greeted() const { return tracker_.greeted(); }

private:
  enum class Mechanism { None, Plain, Login, Other };

  ClientEvent next_command(std::string_view raw);
  ClientEvent next_sasl_response(std::string_view raw);
  ClientEvent invalid(Error error, bool force_close = false, Verb verb = Verb::Unknown);
  void claim_user_from_auth(std::string_view response);
  void auth_finished(Status& status);

  Options options_;
  LineSplitter lines_;
  ResponseTracker tracker_;
  State state_ = State::Authorization;
  Mechanism mechanism_ = Mechanism::None;
  unsigned sasl_responses_ = 0; // client lines sent in the current AUTH exchange
  bool user_accepted_ = false;  // USER forwarded and not refused: PASS is valid
  bool auth_pending_ = false;   // PASS or APOP forwarded, outcome not seen yet
  bool sasl_line_due_ = false;  // a Continuation arrived; the client's answer is due
  bool sasl_cancelled_ = false;
  bool stls_discard_due_ = false;
  bool tls_active_ = false;
  unsigned auth_failures_ = 0;
  unsigned consecutive_invalid_ = 0;
  std::string user_;
};

} // namespace popgate::pop3
