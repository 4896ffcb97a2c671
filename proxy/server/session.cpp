#include "proxy/server/session.hpp"

#include "proxy/server/log.hpp"
#include "proxy/server/socket_address.hpp"

namespace popgate::proxy {
namespace {

using session::CloseReason;

// Per direction: enough to keep a TLS record pipeline busy, small enough that 20,000 sessions
// stay cheap. A queue may overshoot by one read (the loop's read buffer) before reading stops.
constexpr std::size_t kHighWater = 256 * 1024;

template <typename T> uv_handle_t* as_handle(T* h) { return reinterpret_cast<uv_handle_t*>(h); }
template <typename T> uv_stream_t* as_stream(T* h) { return reinterpret_cast<uv_stream_t*>(h); }

session::Peer to_peer(const PeerAddress& a) { return {a.address, a.port}; }

// A write owns its bytes until the write callback: request and buffer in one allocation
// (libuv docs/code/tcp-echo-server).
struct WriteRequest {
  uv_write_t req{};
  std::string data;
  bool to_client = false;
};

} // namespace

void Session::accept(SessionContext& context, std::shared_ptr<const Runtime> runtime,
                     uv_stream_t* server, std::size_t listener_index) {
  auto* s = new Session(context, std::move(runtime), listener_index);
  if (uv_accept(server, as_stream(&s->client_)) != 0) {
    s->close(CloseReason::ClientError);
    return;
  }
  s->start();
}

Session::Session(SessionContext& context, std::shared_ptr<const Runtime> runtime,
                 std::size_t listener_index)
    : context_(context), runtime_(std::move(runtime)), listener_index_(listener_index),
      core_(*runtime_->config, runtime_->access, runtime_->rules, listener_index,
            session::Shared{*context.bans, *context.per_ip}),
      to_client_(kHighWater), to_backend_(kHighWater) {
  uv_tcp_init(context_.loop, &client_);
  client_.data = this;
  uv_timer_init(context_.loop, &timer_);
  timer_.data = this;
  open_handles_ = 2;
  started_ms_ = uv_now(context_.loop);
  next = context_.head;
  if (next != nullptr) {
    next->prev = this;
  }
  context_.head = this;
  ++context_.count;
}

Session::~Session() {
  if (prev != nullptr) {
    prev->next = next;
  } else {
    context_.head = next;
  }
  if (next != nullptr) {
    next->prev = prev;
  }
  --context_.count;
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
      self->tls_->feed(data);
      self->drive_tls();
    } else {
      self->core_.client_data(self->now(), data);
    }
  }
  self->run();
}

void Session::drive_tls() {
  while (tls_ && !closed_ && !draining_ && !core_.ended()) {
    auto event = tls_->next();
    if (std::holds_alternative<tls::NeedData>(event)) {
      break;
    }
    tls_event(event);
  }
  if (tls_ && tls_->has_output() && !closed_) {
    write(&client_, tls_->take_output()); // handshake records, or a fatal alert
  }
}

void Session::tls_event(tls::Event& event) {
  auto& lm = *runtime_->metrics->listeners[listener_index_];
  if (auto* done = std::get_if<tls::HandshakeDone>(&event)) {
    lm.handshakes_ok.Increment();
    auto elapsed = static_cast<double>(uv_now(context_.loop) - handshake_started_ms_) / 1000.0;
    runtime_->metrics->all->tls_handshake_duration().Observe(elapsed);
    if (done->resumed) {
      runtime_->metrics->all->tls_resumed().Increment();
    }
    core_.tls_established(now(), done->version, done->cipher, done->resumed);
  } else if (auto* pt = std::get_if<tls::Plaintext>(&event)) {
    core_.client_plaintext(now(), pt->data);
  } else if (std::holds_alternative<tls::PeerClosed>(event)) {
    core_.client_eof(now());
  } else if (auto* failed = std::get_if<tls::Failed>(&event)) {
    if (!tls_->handshake_done()) {
      lm.handshakes_failed.Increment();
    }
    // The fatal alert mbedTLS queued goes out before the close: uv_write tries at once.
    if (tls_->has_output()) {
      write(&client_, tls_->take_output());
    }
    core_.tls_failed(now(), failed->message);
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

void Session::connect(std::size_t backend) {
  const auto& config = runtime_->config->backends[backend];
  const auto* bm = runtime_->metrics->backends[backend];
  connector_ = BackendConnector::start(
      context_.loop, config.servers, config.connect_timeout,
      [bm](std::size_t server, Millis elapsed, bool ok) {
        if (ok) {
          bm->connect_duration.Observe(static_cast<double>(elapsed.count()) / 1000.0);
        }
        bm->up[server]->Set(ok ? 1 : 0);
      },
      [this](ConnectOutcome outcome) {
        connector_ = nullptr;
        backend_connected(std::move(outcome));
      });
}

void Session::backend_connected(ConnectOutcome outcome) {
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
    connect(connect_to->backend);
  } else if (auto* start = std::get_if<session::StartTls>(&action)) {
    start_tls(start->ciphertext);
  } else if (auto* end = std::get_if<session::Finish>(&action)) {
    reason_ = end->reason;
    finish();
  } else if (auto* abort = std::get_if<session::Abort>(&action)) {
    if (abort->reason == CloseReason::HandshakeTimeout) {
      runtime_->metrics->listeners[listener_index_]->handshakes_failed.Increment();
    }
    close(abort->reason);
  } else if (auto* count = std::get_if<session::Count>(&action)) {
    runtime_->metrics->count(*count, listener_index_, core_.backend_index());
  } else if (auto* entry = std::get_if<session::Log>(&action)) {
    log(*entry);
  }
}

void Session::start_tls(std::string_view ciphertext) {
  tls_ = std::make_unique<tls::Engine>(runtime_->tls);
  handshake_started_ms_ = uv_now(context_.loop);
  if (!ciphertext.empty()) {
    tls_->feed(ciphertext);
    drive_tls();
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
  auto* w = new WriteRequest;
  w->data = std::move(bytes);
  w->to_client = to == &client_;
  w->req.data = this;
  auto n = w->data.size();
  auto& m = *runtime_->metrics->all;
  if (w->to_client) {
    bytes_to_client_ += n;
    m.bytes(metrics::Direction::ClientOut).Increment(static_cast<double>(n));
    to_client_.queued(n);
  } else {
    m.bytes(metrics::Direction::BackendOut).Increment(static_cast<double>(n));
    to_backend_.queued(n);
  }
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(n));
  if (uv_write(&w->req, as_stream(to), &buf, 1, on_write) != 0) {
    // Not queued: no callback will come.
    bool to_client = w->to_client;
    delete w;
    close(to_client ? CloseReason::ClientError : CloseReason::BackendError);
  }
}

void Session::on_write(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteRequest*>(req);
  auto* self = static_cast<Session*>(req->data);
  auto n = w->data.size();
  bool to_client = w->to_client;
  delete w;
  if (status == UV_ECANCELED || self->closed_) {
    return; // the session is closing
  }
  if (status < 0) {
    self->close(to_client ? CloseReason::ClientError : CloseReason::BackendError);
    return;
  }
  auto resumed = to_client ? self->to_client_.written(n) : self->to_backend_.written(n);
  if (to_client) {
    self->core_.client_progress(self->now());
  }
  if (resumed == FlowControl::Action::Resume) {
    self->update_reading();
  }
}

// Reading follows the core (its phase and bounds) and the other side's write queue.
void Session::update_reading() {
  bool client = !draining_ && core_.wants_client_read() && !to_backend_.paused();
  if (client != client_reading_) {
    if (client) {
      uv_read_start(as_stream(&client_), on_alloc, on_client_read);
    } else {
      uv_read_stop(as_stream(&client_));
    }
    client_reading_ = client;
  }
  bool backend =
      backend_ != nullptr && !draining_ && core_.wants_backend_read() && !to_client_.paused();
  if (backend_ != nullptr && backend != backend_reading_) {
    if (backend) {
      uv_read_start(as_stream(backend_), on_alloc, on_backend_read);
    } else {
      uv_read_stop(as_stream(backend_));
    }
    backend_reading_ = backend;
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
  if (connector_ != nullptr) {
    connector_->cancel();
    connector_ = nullptr;
  }
  if (backend_ != nullptr) {
    // Closing without QUIT: RFC 1939 §6, the backend enters no UPDATE state, so no DELE
    // issued in this session is committed unless the client itself said QUIT.
    close_handle(as_handle(backend_));
    backend_ = nullptr;
  }
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
  if (connector_ != nullptr) {
    connector_->cancel();
    connector_ = nullptr;
  }
  log_end();
  close_handle(as_handle(&client_));
  close_handle(as_handle(&timer_));
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

// ---- logs -----------------------------------------------------------------------------------

void Session::log(session::Log& entry) {
  static constexpr LogLevel kLevels[] = {LogLevel::Debug, LogLevel::Info, LogLevel::Warn};
  auto level = kLevels[static_cast<std::size_t>(entry.level)];
  if (!log::enabled(level)) {
    return;
  }
  std::uint64_t suppressed = 0;
  if (entry.rate_limited && !context_.peer_caused_lines.admit(now(), suppressed)) {
    return;
  }
  std::vector<log::Field> fields;
  fields.reserve(entry.fields.size() + 1);
  for (auto& f : entry.fields) {
    fields.push_back(log::field(f.key, f.value));
  }
  if (suppressed > 0) {
    fields.push_back(log::number("suppressed_before", static_cast<long long>(suppressed)));
  }
  log::write(level, entry.event, entry.message, fields);
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
  log::info("session", "session ended",
            {log::field("client", record.client),
             log::field("listener", runtime_->config->listeners[listener_index_].name),
             log::field("user", record.user), log::field("tls", record.tls_version),
             log::field("cipher", record.tls_cipher),
             log::field("resumed", record.tls_resumed ? "yes" : "no"),
             log::field("backend", record.backend), log::field("server", record.server),
             log::number("duration_s", duration),
             log::number("bytes_in", static_cast<long long>(bytes_from_client_)),
             log::number("bytes_out", static_cast<long long>(bytes_to_client_)),
             log::number("commands", static_cast<long long>(record.commands)),
             log::field("end", to_string(reason_))});
}

} // namespace popgate::proxy
