#pragma once

// One client connection and its backend connection: the unit every part of popgate meets in.
//
// Theory of operation
//   Handshake   implicit listeners: TLS first (deadline: policy.auth_timeout).
//   Connecting  the backend's servers are tried in order (BackendConnector).
//   Greeting    the backend's first line is read (deadline: backend.greeting_timeout) and relayed
//               as is, so APOP's timestamp reaches the client.
//   Relaying    bytes flow both ways; the client side is inspected command by command.
//   Draining    a clean end: pending output is written, TLS ends with close_notify, then the
//               socket is shut down (bounded by kDrainTimeout).
//   Closed      every handle is closing; the object is freed in the last close callback.
//
// Ownership: the Session owns the client uv_tcp_t, the backend uv_tcp_t (heap, handed over by
// the connector), one timer, the TLS engine and the POP3 conversation. handle.data points back
// here. Memory is freed only in the last close callback, never inside a read callback (libuv,
// docs/src/handle.rst). Every end goes through close(), which is idempotent.
//
// Backpressure: each direction has a FlowControl. When the client's outgoing queue passes the
// high-water mark the backend is not read until it drains below half of it, and the other way
// round, so a slow reader fetching a 100 MiB message holds at most ~high-water + one read.

#include "metrics/label_values.hpp"
#include "proxy/server/backend_connector.hpp"
#include "proxy/session/close_reason.hpp"
#include "proxy/server/flow_control.hpp"
#include "proxy/pop3/capa_rewriter.hpp"
#include "proxy/pop3/conversation.hpp"
#include "proxy/proxy_protocol/proxy_header.hpp"
#include "proxy/session/reply_order.hpp"
#include "proxy/server/runtime.hpp"
#include "proxy/server/socket_address.hpp"
#include "tls/engine.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <uv.h>

namespace popgate::proxy {

class Worker;

class Session {
public:
  // Takes the accepted connection from `server`. On failure the session closes itself.
  static void accept(Worker& worker, uv_stream_t* server, std::size_t listener_index);

  void close(CloseReason reason);
  void shutdown(); // popgate is stopping: end the session now

  Session* next = nullptr; // the worker's intrusive list of live sessions
  Session* prev = nullptr;

private:
  enum class Phase { ProxyHeader, Handshake, Connecting, Greeting, Relaying, Draining, Closed };
  enum class Backend { None, Connecting, Greeting, Ready };

  Session(Worker& worker, std::size_t listener_index);
  ~Session();
  void start();
  void start_after_proxy_header(const PeerAddress& client);
  void proxy_header_bytes(std::string_view data);
  bool admit(const PeerAddress& client);
  void refuse(metrics::RejectReason reason, std::string_view detail = {});

  // client side
  static void on_client_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void client_bytes(std::string_view data);  // counts, then PROXY header or client_stream
  void client_stream(std::string_view data); // TLS records or plaintext POP3
  void drive_tls();
  void client_plaintext(std::string_view data);

  // POP3 (session_pop3.cpp): commands checked and forwarded, responses paired and relayed.
  void pump_client();
  void handle_command(const pop3::Command& command);
  void answer_locally(std::string text, LocalReply::Then then = LocalReply::Then::Continue,
                      CloseReason reason = CloseReason::ProtocolViolation);
  void apply(const LocalReply& reply);
  void start_tls_after_stls();
  void pump_server();
  void on_greeting(const pop3::Greeting& greeting);
  void greeting_done(std::string_view line);
  void send_xclient();
  void xclient_status(const pop3::Status& status);
  void xclient_capa(std::string_view body);
  void on_status(const pop3::Status& status);
  void response_complete();
  pop3::CapaOptions capa_options() const;
  bool plaintext_auth_refused(const pop3::Command& command) const;
  bool refused_by_policy(const pop3::Command& command);
  bool answered_before_backend(const pop3::Command& command);
  bool may_route() const;
  void auth_failed();
  void backend_eof();
  // Counts a backend failure under `reason` and logs it with the backend, server and `detail`.
  void backend_failed(metrics::BackendError reason, std::string_view detail);
  void client_eof();
  void send_to_client(std::string_view plaintext);
  void flush_tls_output();
  void update_client_reading();

  // backend side
  void begin_session(); // after the TLS handshake (implicit) or at once (starttls)
  void connect_backend(const BackendConfig& backend);
  void backend_connected(ConnectOutcome outcome);
  void forward_client_address();
  static void on_backend_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void backend_bytes(std::string_view data);
  void send_to_backend(std::string_view bytes);
  void update_backend_reading();

  // both
  void write(uv_tcp_t* to, std::string bytes);
  static void on_write(uv_write_t* req, int status);
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  void fail_to_client(std::string_view line, CloseReason reason);
  void finish(CloseReason reason); // clean end: drain, close_notify, shutdown
  static void on_shutdown(uv_shutdown_t* req, int status);
  void arm_timer(Millis after);
  static void on_timer(uv_timer_t* timer);
  void close_handle(uv_handle_t* handle);
  static void on_closed(uv_handle_t* handle);
  void log_end();

  Worker& worker_;
  std::shared_ptr<const Runtime> runtime_;
  const ListenerConfig& listener_;
  const BackendConfig* backend_config_; // the listener's, or the one a route rule chose
  std::size_t listener_index_;

  uv_tcp_t client_{};
  uv_tcp_t* backend_ = nullptr;
  uv_timer_t timer_{};
  uv_shutdown_t shutdown_req_{};
  BackendConnector* connector_ = nullptr;
  std::unique_ptr<tls::Engine> tls_;
  int open_handles_ = 0;

  Phase phase_ = Phase::Handshake;
  Backend backend_state_ = Backend::None;
  // Route rules may pick the backend from the first command (SPEC: "route", before auth).
  // Such sessions get popgate's own greeting and connect when a command needs the backend;
  // what the client sends meanwhile waits in pending_backend_.
  bool routed_ = false;
  // forward_client = "xclient": before the greeting reaches the client, popgate asks the
  // backend (CAPA, unless the greeting says [XCLIENT]) and sends XCLIENT ADDR= PORT=.
  enum class Xclient { Off, AwaitCapa, AwaitReply, Done };
  Xclient xclient_ = Xclient::Off;
  std::string held_greeting_;
  std::string pending_backend_;
  std::uint64_t greeting_deadline_ms_ = 0;
  CloseReason reason_ = CloseReason::ClientClosed;
  FlowControl to_client_;
  FlowControl to_backend_;
  bool client_reading_ = false;
  bool backend_reading_ = false;
  std::string early_client_; // client bytes that arrived before the backend was ready
  pop3::Conversation conv_;
  ReplyOrder replies_;
  std::string capa_body_; // the backend's CAPA list, collected to be rewritten
  bool capturing_capa_ = false;
  bool starttls_handshake_ = false; // STLS answered, handshake under way
  bool close_after_response_ = false;
  std::uint64_t commands_ = 0;

  // For the session's log line.
  std::optional<Address> client_ip_; // set once counted against max_sessions_per_ip
  std::uint16_t client_port_ = 0;
  std::unique_ptr<proxy_protocol::ProxyHeaderParser> proxy_header_; // while a PROXY header is awaited
  std::optional<proxy_protocol::ProxiedAddresses> proxied_;         // what that header said
  bool admitted_ = false;
  std::string client_address_;
  std::string backend_server_;
  std::string tls_version_;
  std::string tls_cipher_;
  std::uint64_t started_ms_ = 0;
  std::uint64_t handshake_started_ms_ = 0;
  std::uint64_t last_activity_ms_ = 0;
  std::uint64_t bytes_from_client_ = 0;
  std::uint64_t bytes_to_client_ = 0;
  std::uint64_t bytes_from_backend_ = 0;
  std::uint64_t bytes_to_backend_ = 0;
  bool tls_resumed_ = false;
};

} // namespace popgate::proxy
