#pragma once

// One client connection and its backend connection over libuv: a thin adapter around the
// sans-IO session::SessionCore, which makes every decision. The adapter owns the handles, the
// TLS engine and the write queues; it feeds the core events (bytes, EOFs, connects, TLS events,
// timer expiry, each with `now`) and carries out the actions the core returns, in order.
//
// Ownership: the Session owns the client uv_tcp_t, the backend uv_tcp_t (heap, handed over by
// the connector), one timer and the TLS engine; handle.data points back here. Memory is freed
// only in the last close callback, never inside a read callback (libuv, docs/src/handle.rst).
// Every end goes through close(), which is idempotent.
//
// Backpressure: each direction has a FlowControl. When the client's write queue passes the
// high-water mark the backend is not read until it drains below half of it, and the other way
// round, so a slow reader fetching a 100 MiB message holds at most high-water + one read. The
// core adds its own bounds (pipeline, pipelined bytes): wants_client_read().

#include "proxy/admin/admin_reply.hpp"
#include "proxy/server/backend_connector.hpp"
#include "proxy/server/runtime.hpp"
#include "proxy/server/session_list.hpp"
#include "proxy/server/write_queue.hpp"
#include "proxy/session/session_core.hpp"
#include "tls/engine.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <uv.h>

namespace popgate::proxy {

class Session final : public SessionLink, private WriteQueue::Owner {
public:
  // Takes over `fd`, a connection just accepted (non-blocking). On failure the session closes
  // itself.
  static void accept(SessionContext& context, std::shared_ptr<const Runtime> runtime, int fd,
                     std::size_t listener_index);

  void shutdown(); // popgate is stopping: end the session now
  void kick();     // an administrator ends it (SessionCore::kick)

  [[nodiscard]] const std::string& id() const { return core_.id(); }
  [[nodiscard]] bool ended() const { return closed_ || core_.ended(); }
  [[nodiscard]] session::Record record() const { return core_.record(); }
  // For `popgate ctl show sessions`. Loop thread only, like everything here.
  [[nodiscard]] admin::SessionRow snapshot() const;

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

private:
  Session(SessionContext& context, std::shared_ptr<const Runtime> runtime,
          std::size_t listener_index);
  ~Session();
  void start();
  [[nodiscard]] Millis now() const { return Millis(uv_now(context_.loop)); }

  // events
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_client_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_backend_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void written(WriteQueue& queue, bool resumed) override;
  void write_failed(WriteQueue& queue) override;
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_timer(uv_timer_t* timer);
  static void on_closed(uv_handle_t* handle);
  void drive_tls();
  void count_handshake_failure(metrics::HandshakeFailure reason);
  void backend_connected(const ConnectOutcome& outcome);

  // actions
  void run(); // takes the core's actions until none are left, then reading and the timer
  void execute(session::Action& action);
  void start_tls(std::string_view ciphertext);
  void connect(const session::Connect& to);
  void send_to_client(std::string_view plaintext);
  void write(uv_tcp_t* to, std::string bytes);
  void finish();
  void close(session::CloseReason reason);
  void drop_backend();
  void close_handle(uv_handle_t* handle);
  void update_reading();
  void update_timer();
  void log_end();

  SessionContext& context_;
  std::shared_ptr<const Runtime> runtime_;
  std::size_t listener_index_;
  session::SessionCore core_;

  uv_tcp_t client_{};
  uv_tcp_t* backend_ = nullptr;
  uv_timer_t timer_{};
  uv_shutdown_t shutdown_req_{};
  BackendConnector* connector_ = nullptr;
  std::unique_ptr<tls::Engine> tls_;
  int open_handles_ = 0;
  bool running_ = false;  // run() is on the stack: actions queued meanwhile are its to take
  bool closed_ = false;   // close() ran: handles are closing
  bool draining_ = false; // Finish: writes flushing, then shutdown
  bool client_reading_ = false;
  bool backend_reading_ = false;
  bool tls_fed_ = false;           // the client sent TLS bytes: a handshake has begun
  bool handshake_counted_ = false; // tls_handshakes_total has this handshake already
  WriteQueue to_client_;
  WriteQueue to_backend_;

  session::CloseReason reason_ = session::CloseReason::ClientClosed;
  std::uint64_t started_ms_ = 0;
  std::uint64_t handshake_started_ms_ = 0;
  std::uint64_t bytes_from_client_ = 0;
  std::uint64_t trimmed_at_ = 0; // to_client_.total() at the last tls_->trim()
};

} // namespace popgate::proxy
