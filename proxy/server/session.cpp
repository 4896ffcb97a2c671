#include "proxy/server/session.hpp"

#include "proxy/server/session_id.hpp"
#include "proxy/server/session_log.hpp"
#include "proxy/server/socket_address.hpp"
#include "proxy/server/transparent_socket.hpp"

#include <unistd.h>

namespace popgate::proxy {
namespace {

using session::CloseReason;

// Per direction: enough to keep a TLS record pipeline busy, small enough that 20,000 sessions
// stay cheap. A queue may overshoot by one read (the loop's read buffer) before reading stops.
constexpr std::size_t kHighWater = std::size_t{256} * 1024;
// Less than this written since the last trim fits in pages the record buffers keep anyway.
constexpr std::uint64_t kTrimAfter = std::uint64_t{16} * 1024;

template <typename T> uv_handle_t* as_handle(T* h) { return reinterpret_cast<uv_handle_t*>(h); }
template <typename T> uv_stream_t* as_stream(T* h) { return reinterpret_cast<uv_stream_t*>(h); }

session::Peer to_peer(const PeerAddress& a) { return {a.address, a.port}; }

} // namespace

void Session::accept(SessionContext& context, std::shared_ptr<const Runtime> runtime, int fd,
                     std::size_t listener_index) {
  auto* s = new Session(context, std::move(runtime), listener_index);
  if (uv_tcp_open(&s->client_, fd) != 0) {
    ::close(fd);
    s->close(CloseReason::ClientError);
    return;
  }
  s->start();
}

Session::Session(SessionContext& context, std::shared_ptr<const Runtime> runtime,
                 std::size_t listener_index)
    : context_(context), runtime_(std::move(runtime)), listener_index_(listener_index),
      core_(*runtime_->config, runtime_->access, runtime_->rules, listener_index,
            session::Shared{*context.bans, *context.per_ip}, next_session_id()),
      to_client_(*this, runtime_->metrics->all->bytes(metrics::Direction::ClientOut), kHighWater),
      to_backend_(*this, runtime_->metrics->all->bytes(metrics::Direction::BackendOut),
                  kHighWater) {
  uv_tcp_init(context_.loop, &client_);
  client_.data = this;
  uv_timer_init(context_.loop, &timer_);
  timer_.data = this;
  open_handles_ = 2;
  started_ms_ = uv_now(context_.loop);
  context_.add(this);
}

Session::~Session() {
  context_.remove(this);
  context_.on_session_freed();
}

void Session::start() {
  uv_tcp_nodelay(&client_, 1);
  runtime_->metrics->listeners[listener_index_]->connections.Increment();
  auto peer = peer_of(&client_);
  auto local = local_of(&client_);
  if (!peer || !local) {
    close(CloseReason::ClientError);
    return;
  }
  if (runtime_->config->listeners[listener_index_].transparent) {
    // Redirected by the firewall: the address the client dialled, not the one it reached.
    uv_os_fd_t fd{};
    uv_fileno(as_handle(&client_), &fd);
    if (auto original = original_destination(fd)) {
      local = PeerAddress{original->address, original->port};
    }
  }
  core_.start(now(), to_peer(*peer), to_peer(*local));
  if (core_.record().admitted) {
    runtime_->metrics->listeners[listener_index_]->sessions_active.Increment();
  }
  run();
}

// ---- events ---------------------------------------------------------------------------------

void Session::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto& b = *static_cast<Session*>(handle->data)->context_.read_buffer;
  *buf = uv_buf_init(b.data(), static_cast<unsigned>(b.size()));
}

void Session::on_client_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Session*>(stream->data);
  if (nread == 0) {
    return; // EAGAIN, not EOF (docs/src/stream.rst)
  }
  if (nread < 0 && self->tls_fed_ && self->tls_ && !self->tls_->handshake_done()) {
    // The client started a handshake and went away: typically one that dislikes popgate's
    // certificate and closes without an alert.
    self->count_handshake_failure(metrics::HandshakeFailure::Eof);
  }
  if (nread == UV_EOF) {
    self->core_.client_eof(self->now());
  } else if (nread < 0) {
    self->close(CloseReason::ClientError);
    return;
  } else {
    std::string_view data(buf->base, static_cast<std::size_t>(nread));
    self->bytes_from_client_ += data.size();
    self->runtime_->metrics->all->bytes(metrics::Direction::ClientIn)
        .Increment(static_cast<double>(data.size()));
    if (self->tls_) {
      self->core_.client_progress(self->now());
      self->tls_fed_ = true;
      self->tls_->feed(data);
      self->drive_tls();
    } else {
      self->core_.client_data(self->now(), data);
    }
  }
  self->run();
}

// Feeds the engine's events to the core until the engine needs more ciphertext, then writes
// what the engine has to send: handshake records, or the fatal alert mbedTLS queued on a
// failure, which goes out before the core's Abort closes the socket (uv_write tries at once).
void Session::drive_tls() {
  const auto& m = *runtime_->metrics;
  while (!core_.ended()) {
    auto event = tls_->next();
    if (std::holds_alternative<tls::NeedData>(event)) {
      break;
    }
    if (auto* done = std::get_if<tls::HandshakeDone>(&event)) {
      auto elapsed = uv_now(context_.loop) - handshake_started_ms_;
      handshake_counted_ = true;
      m.handshake_done(listener_index_, static_cast<double>(elapsed) / 1000.0, *done);
      core_.tls_established(now(), done->version, done->cipher, done->resumed, done->sni);
    } else if (auto* pt = std::get_if<tls::Plaintext>(&event)) {
      core_.client_plaintext(now(), pt->data);
    } else if (std::holds_alternative<tls::PeerClosed>(event)) {
      core_.client_eof(now());
    } else if (auto* failed = std::get_if<tls::Failed>(&event)) {
      if (!tls_->handshake_done()) {
        count_handshake_failure(handshake_failure(failed->reason));
      }
      core_.tls_failed(now(), failed->message, tls::to_string(failed->reason));
    }
  }
  if (tls_->has_output()) {
    write(&client_, tls_->take_output());
  }
}

void Session::on_backend_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Session*>(stream->data);
  if (nread == 0) {
    return;
  }
  if (nread == UV_EOF) {
    self->core_.backend_eof(self->now());
  } else if (nread < 0) {
    self->core_.backend_error(self->now(), uv_strerror(static_cast<int>(nread)));
  } else {
    std::string_view data(buf->base, static_cast<std::size_t>(nread));
    self->runtime_->metrics->all->bytes(metrics::Direction::BackendIn)
        .Increment(static_cast<double>(data.size()));
    self->core_.backend_data(self->now(), data);
  }
  self->run();
}

void Session::connect(const session::Connect& to) {
  auto backend = to.backend;
  const auto& config = runtime_->config->backends[backend];
  const auto* m = runtime_->metrics.get();
  connector_ = BackendConnector::start(
      context_.loop, to.destination ? std::vector<Endpoint>{*to.destination} : config.servers,
      to.source, config.connect_timeout,
      [m, backend](std::size_t server, Millis elapsed, bool ok) {
        m->connect_attempt(backend, server, elapsed, ok);
      },
      [this](const ConnectOutcome& outcome) {
        connector_ = nullptr;
        backend_connected(outcome);
      },
      // A dialled destination (transparent mode) is not one of the servers an admin can disable.
      to.destination ? std::vector<bool>{} : context_.servers->disabled(config));
}

void Session::backend_connected(const ConnectOutcome& outcome) {
  if (outcome.handle == nullptr) {
    core_.backend_unavailable(now(), outcome.server, outcome.timed_out, outcome.error);
  } else {
    backend_ = outcome.handle;
    backend_->data = this;
    ++open_handles_;
    uv_tcp_nodelay(backend_, 1);
    core_.backend_connected(now(), outcome.server);
  }
  run();
}

void Session::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<Session*>(timer->data);
  self->core_.timer(self->now());
  self->run();
}

void Session::shutdown() {
  core_.shutdown(now());
  run();
}

void Session::kick() {
  core_.kick(now());
  run();
}

admin::SessionRow Session::snapshot() const {
  auto r = core_.record();
  admin::SessionRow row;
  row.id = core_.id();
  row.client = r.client;
  row.listener = runtime_->config->listeners[listener_index_].name;
  row.user = r.user;
  row.tls = r.tls_version;
  row.backend = r.backend;
  row.server = r.server;
  row.state = closed_ ? "closed" : std::string(core_.state());
  row.age_s = static_cast<std::int64_t>((uv_now(context_.loop) - started_ms_) / 1000);
  row.bytes_in = bytes_from_client_;
  row.bytes_out = to_client_.total();
  return row;
}

// ---- actions --------------------------------------------------------------------------------

void Session::run() {
  if (running_) {
    return; // the run() further up the stack takes what was just queued
  }
  running_ = true;
  while (core_.has_action() && !closed_) {
    auto action = core_.take_action();
    execute(action);
  }
  running_ = false;
  if (!closed_) {
    update_reading();
    update_timer();
  }
}

void Session::execute(session::Action& action) {
  if (auto* client = std::get_if<session::ToClient>(&action)) {
    send_to_client(client->bytes);
  } else if (auto* backend = std::get_if<session::ToBackend>(&action)) {
    write(backend_, std::move(backend->bytes));
  } else if (auto* connect_to = std::get_if<session::Connect>(&action)) {
    connect(*connect_to);
  } else if (auto* start = std::get_if<session::StartTls>(&action)) {
    start_tls(start->ciphertext);
  } else if (auto* end = std::get_if<session::Finish>(&action)) {
    reason_ = end->reason;
    finish();
  } else if (auto* abort = std::get_if<session::Abort>(&action)) {
    if (abort->reason == CloseReason::HandshakeTimeout) {
      count_handshake_failure(metrics::HandshakeFailure::Timeout);
    }
    close(abort->reason);
  } else if (auto* count = std::get_if<session::Count>(&action)) {
    runtime_->metrics->count(*count, listener_index_, core_.backend_index());
  } else if (auto* entry = std::get_if<session::Log>(&action)) {
    write_core_log(*entry, context_.peer_caused_lines, now());
  }
}

void Session::start_tls(std::string_view ciphertext) {
  tls_ = std::make_unique<tls::Engine>(runtime_->tls);
  handshake_started_ms_ = uv_now(context_.loop);
  if (!ciphertext.empty()) {
    tls_fed_ = true;
    tls_->feed(ciphertext);
    drive_tls();
  }
}

// Once per handshake, whichever of the engine, the deadline or the socket notices first.
void Session::count_handshake_failure(metrics::HandshakeFailure reason) {
  if (!handshake_counted_) {
    handshake_counted_ = true;
    runtime_->metrics->handshake_failed(listener_index_, reason);
  }
}

void Session::send_to_client(std::string_view plaintext) {
  if (!tls_) {
    write(&client_, std::string(plaintext));
    return;
  }
  if (!tls_->write(plaintext)) {
    close(CloseReason::TlsError);
    return;
  }
  write(&client_, tls_->take_output());
}

void Session::write(uv_tcp_t* to, std::string bytes) {
  if (bytes.empty() || closed_ || to == nullptr) {
    return;
  }
  bool to_client = to == &client_;
  if (!(to_client ? to_client_ : to_backend_).write(as_stream(to), std::move(bytes))) {
    close(to_client ? CloseReason::ClientError : CloseReason::BackendError);
  }
}

void Session::written(WriteQueue& queue, bool resumed) {
  if (closed_) {
    return;
  }
  if (&queue == &to_client_) {
    core_.client_progress(now());
    // A response is flushed and none is coming: give back the record-buffer pages a large one
    // touched (tls/engine.hpp), so a session idle after a RETR costs what an idle one does.
    auto sent = to_client_.total();
    if (tls_ && to_client_.queued() == 0 && !core_.awaiting_backend() &&
        sent - trimmed_at_ > kTrimAfter) {
      tls_->trim();
      trimmed_at_ = sent;
    }
  }
  if (resumed) {
    update_reading();
  }
}

void Session::write_failed(WriteQueue& queue) {
  close(&queue == &to_client_ ? CloseReason::ClientError : CloseReason::BackendError);
}

// Reading follows the core (its phase and bounds) and the other side's write queue.
void Session::update_reading() {
  auto set = [](uv_tcp_t* tcp, bool want, bool& reading, uv_read_cb on_read) {
    if (want != reading) {
      want ? uv_read_start(as_stream(tcp), on_alloc, on_read) : uv_read_stop(as_stream(tcp));
      reading = want;
    }
  };
  set(&client_, !draining_ && core_.wants_client_read() && !to_backend_.paused(), client_reading_,
      on_client_read);
  if (backend_ != nullptr) {
    set(backend_, !draining_ && core_.wants_backend_read() && !to_client_.paused(),
        backend_reading_, on_backend_read);
  }
}

void Session::update_timer() {
  auto due = core_.deadline();
  if (!due) {
    uv_timer_stop(&timer_);
    return;
  }
  auto at = static_cast<std::uint64_t>(due->count());
  auto current = uv_now(context_.loop);
  uv_timer_start(&timer_, on_timer, at > current ? at - current : 0, 0);
}

// ---- ends -----------------------------------------------------------------------------------

void Session::finish() {
  if (draining_ || closed_) {
    return;
  }
  draining_ = true;
  drop_backend();
  if (tls_ && tls_->handshake_done()) {
    tls_->close();
    write(&client_, tls_->take_output());
  }
  // The shutdown request completes after every queued write has been flushed; the core's
  // drain deadline bounds it.
  shutdown_req_.data = this;
  if (uv_shutdown(&shutdown_req_, as_stream(&client_), on_shutdown) != 0) {
    close(reason_);
  }
}

void Session::on_shutdown(uv_shutdown_t* req, int) {
  auto* self = static_cast<Session*>(req->data);
  self->close(self->reason_);
}

void Session::close(CloseReason reason) {
  if (closed_) {
    return;
  }
  if (!draining_) {
    reason_ = reason;
  }
  closed_ = true;
  log_end();
  drop_backend();
  close_handle(as_handle(&client_));
  close_handle(as_handle(&timer_));
}

// Closing without QUIT: RFC 1939 §6, the backend enters no UPDATE state, so no DELE issued in
// this session is committed unless the client itself said QUIT.
void Session::drop_backend() {
  if (connector_ != nullptr) {
    connector_->cancel();
    connector_ = nullptr;
  }
  if (backend_ != nullptr) {
    close_handle(as_handle(backend_));
    backend_ = nullptr;
  }
}

void Session::close_handle(uv_handle_t* handle) {
  if (!uv_is_closing(handle)) {
    uv_close(handle, on_closed);
  }
}

void Session::on_closed(uv_handle_t* handle) {
  auto* self = static_cast<Session*>(handle->data);
  if (handle != as_handle(&self->client_) && handle != as_handle(&self->timer_)) {
    delete reinterpret_cast<uv_tcp_t*>(handle); // the backend socket, handed over by the connector
  }
  if (--self->open_handles_ == 0) {
    delete self;
  }
}

void Session::log_end() {
  auto record = core_.record();
  if (!record.admitted) {
    return; // refused at the door: counted and logged then
  }
  auto& lm = *runtime_->metrics->listeners[listener_index_];
  lm.sessions_active.Decrement();
  auto duration = static_cast<double>(uv_now(context_.loop) - started_ms_) / 1000.0;
  lm.session_duration.Observe(duration);
  // A TCP probe (a balancer's or monitor's check): connected and went away without a byte.
  // It is counted above and in connections_total; a line each would bury the real sessions.
  // One that popgate ended (backend down, shutdown) is still logged.
  bool went_away = reason_ == CloseReason::ClientClosed || reason_ == CloseReason::ClientError;
  if (bytes_from_client_ == 0 && went_away && !runtime_->config->server.log_empty_sessions) {
    return;
  }
  log_session_end(record, runtime_->config->listeners[listener_index_].name, duration,
                  {bytes_from_client_, to_client_.total()}, reason_);
}

} // namespace popgate::proxy
