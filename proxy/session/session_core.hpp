#pragma once

// One POP3 gateway session, sans-IO: the client's connection, the backend's, and every decision
// between them, as a state machine that takes events and returns actions (actions.hpp). No
// sockets, no TLS engine, no clock, no metrics: `now` comes with each event, and what to count
// or log comes out as plain values. The libuv Session (proxy/server/session.hpp) feeds it and
// carries its actions out.
//
// Theory of operation
// -------------------
// Phases, in order; every transition is in session_core.cpp:
//   ProxyHeader  listener.proxy_protocol: a PROXY v1/v2 header is read first, only from a
//                proxy_trusted address (deadline: auth_timeout). Its source is the client.
//   (admission)  access lists, bans and max_sessions_per_ip decide before any TLS work, so a
//                refused client costs no handshake; it is closed without a word.
//   Handshake    implicit listeners: StartTls, then the TLS handshake (deadline: auth_timeout).
//   Connecting   Connect to the listener's backend; its servers are tried in order. With
//                destination = "original" the one address the client dialled instead, if it
//                is in destinations_allowed; with source = "client" from the client's address.
//   Greeting     the backend's first line (deadline: greeting_timeout). With forward_client =
//                "xclient", CAPA and XCLIENT ADDR= PORT= go first (client_commands.cpp).
//   Relaying     commands checked and forwarded, responses paired and relayed.
//   Ending       Finish was issued: the adapter drains and closes (deadline: kDrainTimeout).
//   Closed       Abort was issued, or the drain ended.
// A listener with route rules greets the client itself and connects once a command needs the
// backend (the route rule may choose it): such a session is Relaying while its backend is still
// Connecting or Greeting, and client commands wait in backend_queue_ meanwhile.
//
// One concern, one place:
//   client_commands.cpp    each client command: grammar (pop3::Conversation), STLS, plaintext
//                          auth refusal, [[policy.rule]], routing; local replies via Pipeline.
//   backend_responses.cpp  each backend event: greeting, XCLIENT, CAPA capture and rewrite,
//                          authentication outcomes and bans, the end of each response.
//   session_core.cpp       phases, admission, PROXY headers, TLS events, ends.
//   timers.cpp             every deadline: PROXY header, handshake, greeting, authorization,
//                          idle (RFC 1939 autologout), drain.
//
// Bounds (SPEC §4, memory per session): the pipeline (pipeline.hpp), pipelined client bytes in
// the codec (kMaxClientBuffered, then wants_client_read() is false), commands waiting for a
// routed backend (kMaxBackendQueue), bytes before the greeting (4 x max_line_length) and a
// captured CAPA list (kMaxCapa). Relayed bytes are not held here at all: the adapter stops
// reading the backend while the client's write queue is above its high-water mark.

#include "base/address.hpp"
#include "base/duration.hpp"
#include "policy/access_list.hpp"
#include "policy/ip_limiter.hpp"
#include "policy/rule_set.hpp"
#include "policy/shared_bans.hpp"
#include "proxy/config/config.hpp"
#include "proxy/pop3/capa_rewriter.hpp"
#include "proxy/pop3/conversation.hpp"
#include "proxy/proxy_protocol/proxy_header.hpp"
#include "proxy/session/actions.hpp"
#include "proxy/session/pipeline.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace popgate::session {

struct Peer {
  Address address;
  std::uint16_t port = 0;
};

// What sessions on every loop share: thread-safe policy state.
struct Shared {
  policy::SharedBans& bans;
  policy::IpLimiter& per_ip;
};

// What the session's log line reports, kept as the session goes.
struct Record {
  std::string id;       // the session id (proxy/server/session_id.hpp): on every line, in XCLIENT
  std::string client;   // "192.0.2.1:5555" or "[2001:db8::1]:5555"
  std::string local;    // the address the client reached (under PROXY: the header's destination)
  std::string balancer; // under PROXY: the balancer's own address; "" without PROXY
  std::string user;     // the name claimed last (see pop3::Conversation::user())
  std::string auth;     // how the login succeeded: "USER", "APOP" or the SASL mechanism; "" = none
  unsigned auth_failures = 0;
  std::string tls_version;
  std::string tls_cipher;
  bool tls_resumed = false;
  std::string sni;
  std::optional<Millis> handshake; // StartTls to the finished handshake
  std::string backend;
  std::string server;
  std::optional<Millis> connect; // Connect to the connected socket, over every server tried
  unsigned servers_tried = 0;
  std::string_view source = "gateway"; // the backend's source: "gateway" | "client"
  std::uint64_t commands = 0;
  // RFC 1939 messages retrieved (and their bytes as relayed) and marked deleted (RSET unmarks:
  // they are committed only if the session ends with QUIT, end=quit).
  std::uint64_t retr = 0;
  std::uint64_t retr_bytes = 0;
  std::uint64_t dele = 0;
  CloseReason reason = CloseReason::ClientClosed;
  bool admitted = false; // false: refused at the door, logged then
};

class SessionCore {
public:
  static constexpr Millis kDrainTimeout = std::chrono::seconds(10);
  static constexpr std::size_t kMaxClientBuffered = std::size_t{64} * 1024;
  static constexpr std::size_t kMaxBackendQueue = std::size_t{64} * 1024;
  static constexpr std::size_t kMaxCapa = std::size_t{64} * 1024;
  // RFC 2449 §4 caps response lines at 512 octets; real servers send longer SASL challenges,
  // so the codec allows this much before it calls a backend line garbage.
  static constexpr std::size_t kMaxResponseLine = 8192;

  // The references must outlive the core (the adapter keeps the Runtime that holds them).
  // `id` names the session in every line it logs and in XCLIENT SESSION=.
  SessionCore(const proxy::Config& config, const policy::AccessList& access,
              const policy::RuleSet& rules, std::size_t listener, Shared shared, std::string id);
  ~SessionCore();
  SessionCore(const SessionCore&) = delete;
  SessionCore& operator=(const SessionCore&) = delete;

  // ---- events ----
  // The connection was accepted: `peer` is its remote end, `local` the address it reached. On a
  // transparent listener `local` is the original destination, the address the client dialled
  // (read by the adapter with SO_ORIGINAL_DST after a REDIRECT; under TPROXY the socket's own).
  void start(Millis now, const Peer& peer, const Peer& local);
  // Bytes off the client socket while no TLS engine runs (PROXY header, plaintext POP3).
  void client_data(Millis now, std::string_view bytes);
  // From the TLS engine the adapter started on StartTls.
  void tls_established(Millis now, std::string_view version, std::string_view cipher, bool resumed,
                       std::string_view sni = {});
  // `reason` is the bounded failure reason ("protocol_version", ...; tls/failure_reason.hpp),
  // logged beside mbedTLS's own text.
  void tls_failed(Millis now, std::string_view error, std::string_view reason = "other");
  void client_plaintext(Millis now, std::string_view bytes);
  void client_eof(Millis now);
  // A write to the client completed: it is reading, so it is not idle.
  void client_progress(Millis now) { now_ = last_activity_ = now; }
  // Answers to Connect: `server` indexes the backend's servers (0 for a Connect.destination).
  void backend_connected(Millis now, std::size_t server);
  void backend_unavailable(Millis now, std::size_t server, bool timed_out, std::string_view error);
  void backend_data(Millis now, std::string_view bytes);
  void backend_eof(Millis now);
  void backend_error(Millis now, std::string_view error);
  // deadline() has passed (or any time: early calls do nothing).
  void timer(Millis now);
  // popgate is stopping: end the session now.
  void shutdown(Millis now);
  // An administrator ends the session (popgate ctl kick): the client gets kKickedReply where a
  // line can still be said, the backend is closed without QUIT, so no DELE is committed.
  void kick(Millis now);
  static constexpr std::string_view kKickedReply =
      "-ERR [SYS/TEMP] session ended by the administrator\r\n";

  // ---- actions, in order ----
  [[nodiscard]] bool has_action() const { return !actions_.empty(); }
  Action take_action();

  // ---- observers ----
  [[nodiscard]] bool wants_client_read() const;
  [[nodiscard]] bool wants_backend_read() const;
  // When timer() must be called next; nullopt once the session has ended.
  [[nodiscard]] std::optional<Millis> deadline() const;
  [[nodiscard]] bool ended() const { return phase_ == Phase::Ending || phase_ == Phase::Closed; }
  [[nodiscard]] bool tls() const { return tls_; }
  // A forwarded command still waits for (the rest of) its response.
  [[nodiscard]] bool awaiting_backend() const { return conv_.outstanding() > 0; }
  [[nodiscard]] Record record() const {
    Record r = record_;
    r.user = conv_.user();
    r.auth_failures = conv_.auth_failures();
    return r;
  }
  [[nodiscard]] std::size_t backend_index() const { return backend_; }
  [[nodiscard]] const std::string& id() const { return record_.id; }
  // Where the session is, for `popgate ctl show sessions`: "proxy_header", "handshake",
  // "connecting", "greeting", "authorization", "transaction", "update", "ending", "closed".
  [[nodiscard]] std::string_view state() const;

private:
  enum class Phase { ProxyHeader, Handshake, Connecting, Greeting, Relaying, Ending, Closed };
  enum class Backend { None, Connecting, Greeting, Ready };
  enum class Xclient { Off, AwaitCapa, AwaitReply, Done };

  // session_core.cpp (and timers.cpp)
  void proxy_header_bytes(std::string_view bytes);
  void admit(const Peer& client);
  void refuse(Refusal why, std::string_view detail);
  void begin_session();
  void connect(std::size_t backend);
  bool resolve_destination(const proxy::BackendConfig& backend, Connect& connect);
  [[nodiscard]] std::string server_name(std::size_t server) const;
  void backend_failed(BackendFailure why, std::string_view detail);
  void fail_to_client(std::string_view line, CloseReason reason);
  void finish(CloseReason reason);
  void abort(CloseReason reason);
  void relay_timer();
  void to_client(std::string_view bytes);
  void to_backend(std::string_view bytes);
  void count(Counter counter, std::size_t label = 0, std::uint64_t amount = 1);
  // Every line of the session's starts with its id.
  void log(Level level, std::string_view event, std::string_view message,
           std::vector<LogField> fields, bool rate_limited = false);

  // client_commands.cpp
  void pump_client();
  void handle_command(const pop3::Command& command);
  [[nodiscard]] bool plaintext_auth_refused(const pop3::Command& command) const;
  bool refused_by_policy(const pop3::Command& command);
  bool answered_before_backend(const pop3::Command& command);
  [[nodiscard]] bool may_route() const;
  void answer_locally(std::string text, LocalReply::Then then = LocalReply::Then::Continue,
                      CloseReason reason = CloseReason::ProtocolViolation);
  void apply(const LocalReply& reply);
  void start_tls_after_stls();
  void start_tls();
  void note_auth_attempt(const pop3::Command& command);

  // backend_responses.cpp
  void pump_server();
  void on_greeting(const pop3::Greeting& greeting);
  void greeting_done(std::string_view line);
  void send_xclient();
  void xclient_capa(std::string_view body);
  void xclient_status(const pop3::Status& status);
  void on_status(const pop3::Status& status);
  void on_body_end(const pop3::BodyEnd& end);
  void response_complete();
  void auth_failed();
  void tally(const pop3::Status& status);
  [[nodiscard]] pop3::CapaOptions capa_options() const;

  const proxy::Config& config_;
  const policy::AccessList& access_;
  const policy::RuleSet& rules_;
  const proxy::ListenerConfig& listener_;
  Shared shared_;
  std::size_t backend_; // index into config_.backends: the listener's, or a route rule's

  Phase phase_ = Phase::ProxyHeader;
  Backend backend_state_ = Backend::None;
  Xclient xclient_ = Xclient::Off;
  bool routed_ = false;             // greeted by popgate; the backend is chosen by a command
  bool tls_ = false;                // the client connection is under TLS (or STLS answered)
  bool starttls_handshake_ = false; // STLS answered, handshake under way
  bool close_after_response_ = false;
  bool capturing_capa_ = false;
  bool client_eof_ = false;    // the client half-closed after QUIT; nothing more to read
  bool counting_retr_ = false; // a RETR body is being relayed: its bytes go to record_.retr_bytes

  pop3::Conversation conv_;
  Pipeline pipeline_;
  std::deque<Action> actions_;
  std::unique_ptr<proxy_protocol::ProxyHeaderParser> proxy_header_;
  std::optional<Peer> client_; // set once counted against max_sessions_per_ip
  Peer peer_;                  // the connection's remote end
  Peer local_;                 // the address it reached (or the PROXY header's destination)
  std::optional<Endpoint> destination_; // destination = "original": where Connect went
  std::string early_client_;            // plaintext that arrived before the greeting was relayed
  std::string backend_queue_;           // commands for a routed backend that is not ready yet
  std::string held_greeting_;           // the backend's greeting while XCLIENT goes first
  std::string capa_body_;

  Millis now_{0}; // of the event being handled
  Millis started_{0};
  Millis last_activity_{0};
  Millis phase_deadline_{0};    // ProxyHeader, Handshake, Greeting, Ending
  Millis greeting_deadline_{0}; // a routed session's backend greeting
  Millis tls_started_{0};
  Millis connect_started_{0};
  std::string auth_attempt_; // the mechanism of the login in flight, for record_.auth
  Record record_;
};

} // namespace popgate::session
