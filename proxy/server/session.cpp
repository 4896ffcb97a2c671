#include "proxy/server/session.hpp"

#include "proxy/server/log.hpp"
#include "proxy/server/socket_address.hpp"
#include "proxy/server/worker.hpp"

#include <algorithm>

namespace popgate::proxy {
namespace {

// Per direction: enough to keep a TLS record pipeline busy, small enough that 20,000 sessions
// stay cheap. A queue may overshoot by one read (kReadBufferSize) before reading stops.
constexpr std::size_t kHighWater = 256 * 1024;
constexpr Millis kDrainTimeout = std::chrono::seconds(10);
// RFC 2449 §4 caps response lines at 512 octets; real servers send longer SASL challenges,
// so the codec allows this much before it calls a backend line garbage.
constexpr std::size_t kMaxResponseLine = 8192;

template <typename T> uv_handle_t* as_handle(T* h) { return reinterpret_cast<uv_handle_t*>(h); }
template <typename T> uv_stream_t* as_stream(T* h) { return reinterpret_cast<uv_stream_t*>(h); }

} // namespace

void Session::accept(Worker& worker, uv_stream_t* server, std::size_t listener_index) {
  auto* s = new Session(worker, listener_index);
  if (uv_accept(server, as_stream(&s->client_)) != 0) {
    s->close(CloseReason::ClientError);
    return;
  }
  s->start();
}

Session::Session(Worker& worker, std::size_t listener_index)
    : worker_(worker), runtime_(worker.runtime()),
      listener_(runtime_->config->listeners[listener_index]),
      backend_config_(runtime_->config->find_backend(listener_.backend)),
      listener_index_(listener_index), to_client_(kHighWater), to_backend_(kHighWater),
      conv_(pop3::Options{runtime_->config->policy.max_line_length, kMaxResponseLine}) {
  uv_tcp_init(worker_.loop(), &client_);
  client_.data = this;
  uv_timer_init(worker_.loop(), &timer_);
  timer_.data = this;
  open_handles_ = 2;
  started_ms_ = uv_now(worker_.loop());
  last_activity_ms_ = started_ms_;
  worker_.add(this);
}

Session::~Session() { worker_.remove(this); }

void Session::start() {
  uv_tcp_nodelay(&client_, 1);
  worker_.metrics().listener(listener_index_).connections.Increment();
  auto peer = peer_of(&client_);
  if (!peer) {
    close(CloseReason::ClientError);
    return;
  }
  if (!listener_.proxy_protocol) {
    start_after_proxy_header(*peer);
    return;
  }
  // Behind a load balancer: the real client address comes in a PROXY header, accepted only
  // from the balancers in proxy_trusted (anyone else could claim any address).
  client_address_ = peer->address.to_string();
  bool trusted = std::any_of(listener_.proxy_trusted.begin(), listener_.proxy_trusted.end(),
                             [&](const Cidr& c) { return c.contains(peer->address); });
  if (!trusted) {
    refuse(metrics::RejectReason::ProxyProtocol, "PROXY header from an untrusted address");
    return;
  }
  proxy_header_ = std::make_unique<proxy_protocol::ProxyHeaderParser>();
  phase_ = Phase::ProxyHeader;
  arm_timer(runtime_->config->policy.auth_timeout);
  update_client_reading();
}

void Session::proxy_header_bytes(std::string_view data) {
  auto status = proxy_header_->feed(data);
  if (status == proxy_protocol::ProxyHeaderParser::Status::NeedData) {
    return;
  }
  if (status == proxy_protocol::ProxyHeaderParser::Status::Invalid) {
    refuse(metrics::RejectReason::ProxyProtocol, proxy_header_->error());
    return;
  }
  uv_timer_stop(&timer_);
  auto peer = peer_of(&client_);
  proxied_ = proxy_header_->addresses();
  if (proxied_) {
    peer = PeerAddress{proxied_->source, proxied_->source_port};
  }
  std::string rest(proxy_header_->rest());
  proxy_header_.reset();
  if (!peer) {
    close(CloseReason::ClientError);
    return;
  }
  start_after_proxy_header(*peer);
  if (!rest.empty() && phase_ != Phase::Closed) {
    client_stream(rest); // what the client sent right behind the header
  }
}

void Session::start_after_proxy_header(const PeerAddress& client) {
  if (!admit(client)) {
    return;
  }
  admitted_ = true;
  worker_.metrics().listener(listener_index_).sessions_active.Increment();
  routed_ = may_route();
  if (listener_.mode == ListenerMode::Implicit) {
    tls_ = std::make_unique<tls::Engine>(runtime_->tls);
    phase_ = Phase::Handshake;
    handshake_started_ms_ = uv_now(worker_.loop());
    arm_timer(runtime_->config->policy.auth_timeout);
    update_client_reading();
  } else {
    begin_session();
  }
}

void Session::begin_session() {
  if (!routed_) {
    connect_backend(*backend_config_);
    return;
  }
  // The backend is not known yet: greet the client ourselves (no APOP timestamp, as with
  // hide_backend_banner) and connect once a command needs the backend.
  phase_ = Phase::Relaying;
  send_to_client("+OK POP3 ready\r\n");
  arm_timer(std::min(runtime_->config->policy.idle_timeout, runtime_->config->policy.auth_timeout));
  update_client_reading();
}

// Access lists and per-address limits are decided before any TLS work, so a refused client
// costs no handshake. The connection is closed without a word: there is no TLS yet to say
// one in, and a plaintext "-ERR" on port 995 would only confuse the client.
bool Session::admit(const PeerAddress& client) {
  client_port_ = client.port;
  client_address_ = client.address.is_v4()
                        ? client.address.to_string() + ":" + std::to_string(client.port)
                        : "[" + client.address.to_string() + "]:" + std::to_string(client.port);
  if (!runtime_->access.permits(client.address)) {
    refuse(metrics::RejectReason::AccessDenied);
  } else if (worker_.bans().banned(client.address, Millis(uv_now(worker_.loop())))) {
    refuse(metrics::RejectReason::Banned);
  } else if (!worker_.per_ip().try_acquire(client.address,
                                           runtime_->config->policy.max_sessions_per_ip)) {
    refuse(metrics::RejectReason::PerIpLimit);
  } else {
    client_ip_ = client.address;
    return true;
  }
  return false;
}

void Session::refuse(metrics::RejectReason reason, std::string_view detail) {
  worker_.metrics().rejected(reason).Increment();
  log::info("reject", "connection refused",
            {log::field("client", client_address_), log::field("listener", listener_.name),
             log::field("reason", metrics::to_string(reason)), log::field("detail", detail)});
  close(CloseReason::PolicyClose);
}

// ---- client side ----------------------------------------------------------------------------

void Session::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  // One read buffer per loop, not per session: read_cb runs right after alloc_cb, and every
  // byte is consumed (fed to TLS, forwarded or copied) before it returns. An idle session
  // therefore holds no read buffer at all.
  auto* self = static_cast<Session*>(handle->data);
  *buf = self->worker_.read_buffer();
}

void Session::on_client_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Session*>(stream->data);
  if (nread > 0) {
    self->client_bytes(std::string_view(buf->base, static_cast<std::size_t>(nread)));
  } else if (nread == UV_EOF) {
    self->client_eof();
  } else if (nread < 0) {
    self->close(CloseReason::ClientError);
  }
  // nread == 0 is EAGAIN, not EOF (docs/src/stream.rst).
}

void Session::client_bytes(std::string_view data) {
  bytes_from_client_ += data.size();
  worker_.metrics().bytes(metrics::Direction::ClientIn).Increment(static_cast<double>(data.size()));
  last_activity_ms_ = uv_now(worker_.loop());
  if (proxy_header_) {
    proxy_header_bytes(data);
  } else {
    client_stream(data);
  }
}

void Session::client_stream(std::string_view data) {
  if (tls_) {
    tls_->feed(data);
    drive_tls();
  } else {
    client_plaintext(data);
  }
}

void Session::drive_tls() {
  while (phase_ != Phase::Closed && phase_ != Phase::Draining) {
    auto event = tls_->next();
    if (std::holds_alternative<tls::NeedData>(event)) {
      break;
    }
    if (auto* done = std::get_if<tls::HandshakeDone>(&event)) {
      tls_version_ = done->version;
      tls_cipher_ = done->cipher;
      tls_resumed_ = done->resumed;
      auto& m = worker_.metrics();
      m.listener(listener_index_).handshakes_ok.Increment();
      auto elapsed = static_cast<double>(uv_now(worker_.loop()) - handshake_started_ms_) / 1000.0;
      m.tls_handshake_duration().Observe(elapsed);
      if (done->resumed) {
        m.tls_resumed().Increment();
      }
      if (starttls_handshake_) {
        starttls_handshake_ = false;
        m.starttls(metrics::StarttlsResult::Ok).Increment();
      }
      conv_.set_tls_active(); // from now on STLS is refused (RFC 2595 §4: TLS is active)
      if (phase_ == Phase::Handshake) {
        uv_timer_stop(&timer_);
        begin_session();
      }
    } else if (auto* pt = std::get_if<tls::Plaintext>(&event)) {
      client_plaintext(pt->data);
    } else if (std::holds_alternative<tls::PeerClosed>(event)) {
      client_eof();
    } else if (auto* failed = std::get_if<tls::Failed>(&event)) {
      if (!tls_->handshake_done()) {
        worker_.metrics().listener(listener_index_).handshakes_failed.Increment();
        if (starttls_handshake_) {
          worker_.metrics().starttls(metrics::StarttlsResult::Failed).Increment();
        }
        log::debug("tls", "handshake failed",
                   {log::field("client", client_address_), log::field("error", failed->message)});
      }
      flush_tls_output(); // a fatal alert, if mbedTLS queued one
      close(CloseReason::TlsError);
      return;
    }
  }
  flush_tls_output();
}

void Session::send_to_client(std::string_view plaintext) {
  if (phase_ == Phase::Closed) {
    return;
  }
  if (tls_) {
    auto written = tls_->write(plaintext);
    if (!written) {
      close(CloseReason::TlsError);
      return;
    }
    flush_tls_output();
  } else {
    write(&client_, std::string(plaintext));
  }
}

void Session::flush_tls_output() {
  if (tls_ && tls_->has_output() && phase_ != Phase::Closed) {
    write(&client_, tls_->take_output());
  }
}

void Session::update_client_reading() {
  // Pipelined lines wait in the codec while it waits for the backend: bounded too.
  bool want =
      (phase_ == Phase::ProxyHeader || phase_ == Phase::Handshake || phase_ == Phase::Relaying) &&
      !to_backend_.paused() && conv_.client_buffered() < kHighWater;
  if (want && !client_reading_) {
    uv_read_start(as_stream(&client_), on_alloc, on_client_read);
  } else if (!want && client_reading_) {
    uv_read_stop(as_stream(&client_));
  }
  client_reading_ = want;
}

// ---- backend side ---------------------------------------------------------------------------

void Session::connect_backend(const BackendConfig& backend) {
  backend_config_ = &backend;
  backend_state_ = Backend::Connecting;
  if (!routed_) {
    phase_ = Phase::Connecting;
    update_client_reading();
  }
  std::size_t backend_index = worker_.backend_index(backend.name);
  connector_ = BackendConnector::start(
      worker_.loop(), backend.servers, backend.connect_timeout,
      [this, backend_index](std::size_t server, Millis elapsed, bool ok) {
        auto& bm = worker_.metrics().backend(backend_index);
        if (ok) {
          bm.connect_duration.Observe(static_cast<double>(elapsed.count()) / 1000.0);
        }
        bm.server_up(server).Set(ok ? 1 : 0);
      },
      [this](ConnectOutcome outcome) {
        connector_ = nullptr;
        backend_connected(std::move(outcome));
      });
}

void Session::backend_connected(ConnectOutcome outcome) {
  const auto& server = backend_config_->servers[outcome.server];
  backend_server_ = server.to_string();
  if (outcome.handle == nullptr) {
    backend_failed(outcome.timed_out ? metrics::BackendError::ConnectTimeout
                                     : metrics::BackendError::ConnectFailed,
                   "no server accepted the connection: " + outcome.error);
    fail_to_client("-ERR [SYS/TEMP] mail server unavailable, try again later\r\n",
                   CloseReason::BackendUnavailable);
    return;
  }
  backend_ = outcome.handle;
  backend_->data = this;
  ++open_handles_;
  uv_tcp_nodelay(backend_, 1);
  forward_client_address();
  backend_state_ = Backend::Greeting;
  if (routed_) {
    // The session timer keeps watching idle and auth time; it also checks this deadline.
    greeting_deadline_ms_ = uv_now(worker_.loop()) +
                            static_cast<std::uint64_t>(backend_config_->greeting_timeout.count());
    arm_timer(backend_config_->greeting_timeout);
  } else {
    phase_ = Phase::Greeting;
    arm_timer(backend_config_->greeting_timeout);
  }
  update_backend_reading();
}

// forward_client = "proxy-v1" | "proxy-v2": the PROXY header goes first on the backend
// connection, so the backend (Dovecot's haproxy_trusted_networks, for one) logs, limits and
// authenticates by the real client address rather than popgate's.
void Session::forward_client_address() {
  auto how = backend_config_->forward_client;
  if ((how != ForwardClient::ProxyV1 && how != ForwardClient::ProxyV2) || !client_ip_) {
    return;
  }
  proxy_protocol::ProxiedAddresses a;
  a.source = *client_ip_;
  a.source_port = client_port_;
  if (proxied_) {
    a.destination = proxied_->destination;
    a.destination_port = proxied_->destination_port;
  } else if (auto local = local_of(&client_)) {
    a.destination = local->address;
    a.destination_port = local->port;
  }
  write(backend_, proxy_protocol::write_proxy_header(how == ForwardClient::ProxyV1
                                                         ? proxy_protocol::ProxyVersion::V1
                                                         : proxy_protocol::ProxyVersion::V2,
                                                     a));
}

void Session::backend_failed(metrics::BackendError reason, std::string_view detail) {
  worker_.metrics().backend(worker_.backend_index(backend_config_->name)).error(reason).Increment();
  log::warn("backend", "backend failure",
            {log::field("backend", backend_config_->name), log::field("server", backend_server_),
             log::field("reason", metrics::to_string(reason)), log::field("detail", detail),
             log::field("client", client_address_)});
}

void Session::on_backend_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Session*>(stream->data);
  if (nread > 0) {
    self->backend_bytes(std::string_view(buf->base, static_cast<std::size_t>(nread)));
    return;
  }
  if (nread == 0) {
    return;
  }
  if (self->backend_state_ == Backend::Greeting) {
    self->backend_failed(metrics::BackendError::BadGreeting, "closed before its greeting");
    self->fail_to_client("-ERR [SYS/TEMP] mail server closed the connection, try again later\r\n",
                         CloseReason::BackendUnavailable);
    return;
  }
  if (nread == UV_EOF) {
    self->backend_eof();
  } else {
    self->backend_failed(metrics::BackendError::ProtocolError,
                         uv_strerror(static_cast<int>(nread)));
    self->close(CloseReason::BackendError);
  }
}

void Session::send_to_backend(std::string_view bytes) {
  if (phase_ == Phase::Closed) {
    return;
  }
  if (backend_state_ != Backend::Ready) {
    // A routed session's backend is still connecting: keep the commands for it, bounded like
    // any other queue towards the backend.
    pending_backend_.append(bytes);
    if (pending_backend_.size() > kHighWater) {
      close(CloseReason::ProtocolViolation);
    }
    return;
  }
  write(backend_, std::string(bytes));
}

void Session::update_backend_reading() {
  if (backend_ == nullptr) {
    return;
  }
  bool want = (backend_state_ == Backend::Greeting || backend_state_ == Backend::Ready) &&
              (phase_ == Phase::Greeting || phase_ == Phase::Relaying) && !to_client_.paused();
  if (want && !backend_reading_) {
    uv_read_start(as_stream(backend_), on_alloc, on_backend_read);
  } else if (!want && backend_reading_) {
    uv_read_stop(as_stream(backend_));
  }
  backend_reading_ = want;
}

// ---- writes ---------------------------------------------------------------------------------

namespace {
// A write owns its bytes until the write callback: request and buffer in one allocation
// (libuv docs/code/tcp-echo-server).
struct WriteRequest {
  uv_write_t req{};
  std::string data;
  bool to_client = false;
};
} // namespace

void Session::write(uv_tcp_t* to, std::string bytes) {
  if (bytes.empty()) {
    return;
  }
  auto* w = new WriteRequest;
  w->data = std::move(bytes);
  w->to_client = to == &client_;
  w->req.data = this;
  auto n = w->data.size();
  auto& m = worker_.metrics();
  if (w->to_client) {
    bytes_to_client_ += n;
    m.bytes(metrics::Direction::ClientOut).Increment(static_cast<double>(n));
    if (to_client_.queued(n) == FlowControl::Action::Pause) {
      update_backend_reading();
    }
  } else {
    bytes_to_backend_ += n;
    m.bytes(metrics::Direction::BackendOut).Increment(static_cast<double>(n));
    if (to_backend_.queued(n) == FlowControl::Action::Pause) {
      update_client_reading();
    }
  }
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(n));
  int rc = uv_write(&w->req, as_stream(to), &buf, 1, on_write);
  if (rc != 0) {
    // Not queued: no callback will come.
    delete w;
    close(to == &client_ ? CloseReason::ClientError : CloseReason::BackendError);
  }
}

void Session::on_write(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteRequest*>(req);
  auto* self = static_cast<Session*>(req->data);
  auto n = w->data.size();
  bool to_client = w->to_client;
  delete w;
  if (status == UV_ECANCELED) {
    return; // the session is closing
  }
  if (status < 0) {
    self->close(to_client ? CloseReason::ClientError : CloseReason::BackendError);
    return;
  }
  if (to_client) {
    self->last_activity_ms_ = uv_now(self->worker_.loop());
    if (self->to_client_.written(n) == FlowControl::Action::Resume) {
      self->update_backend_reading();
    }
  } else if (self->to_backend_.written(n) == FlowControl::Action::Resume) {
    self->update_client_reading();
  }
}

// ---- ends -----------------------------------------------------------------------------------

void Session::fail_to_client(std::string_view line, CloseReason reason) {
  if (phase_ == Phase::Closed || phase_ == Phase::Draining) {
    return;
  }
  if ((tls_ && !tls_->handshake_done()) || conv_.response_in_progress()) {
    // No TLS to speak in yet, or in the middle of a multi-line response, where any line we
    // added would read as part of the message: just close, without the terminating ".".
    close(reason);
    return;
  }
  send_to_client(line);
  finish(reason);
}

void Session::finish(CloseReason reason) {
  if (phase_ == Phase::Closed || phase_ == Phase::Draining) {
    return;
  }
  reason_ = reason;
  phase_ = Phase::Draining;
  update_client_reading();
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
    flush_tls_output();
  }
  arm_timer(kDrainTimeout);
  // The shutdown request completes after every queued write has been flushed.
  shutdown_req_.data = this;
  if (uv_shutdown(&shutdown_req_, as_stream(&client_), on_shutdown) != 0) {
    close(reason);
  }
}

void Session::on_shutdown(uv_shutdown_t* req, int) {
  auto* self = static_cast<Session*>(req->data);
  self->close(self->reason_);
}

void Session::shutdown() {
  if (phase_ == Phase::Relaying || phase_ == Phase::Greeting) {
    fail_to_client("-ERR [SYS/TEMP] server shutting down, try again later\r\n",
                   CloseReason::Shutdown);
  } else {
    close(CloseReason::Shutdown);
  }
}

void Session::close(CloseReason reason) {
  if (phase_ == Phase::Closed) {
    return;
  }
  if (phase_ != Phase::Draining) {
    reason_ = reason;
  }
  phase_ = Phase::Closed;
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

// ---- timers ---------------------------------------------------------------------------------

void Session::arm_timer(Millis after) {
  uv_timer_start(&timer_, on_timer, static_cast<std::uint64_t>(after.count()), 0);
}

void Session::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<Session*>(timer->data);
  auto now = uv_now(self->worker_.loop());
  switch (self->phase_) {
  case Phase::ProxyHeader:
    self->refuse(metrics::RejectReason::ProxyProtocol, "no PROXY header in time");
    return;
  case Phase::Handshake:
    self->worker_.metrics().listener(self->listener_index_).handshakes_failed.Increment();
    self->close(CloseReason::HandshakeTimeout);
    return;
  case Phase::Greeting: {
    self->backend_failed(metrics::BackendError::GreetingTimeout, "no greeting in time");
    self->fail_to_client("-ERR [SYS/TEMP] mail server did not answer, try again later\r\n",
                         CloseReason::BackendUnavailable);
    return;
  }
  case Phase::Relaying: {
    if (self->backend_state_ == Backend::Greeting && now >= self->greeting_deadline_ms_) {
      self->backend_failed(metrics::BackendError::GreetingTimeout, "no greeting in time");
      self->fail_to_client("-ERR [SYS/TEMP] mail server did not answer, try again later\r\n",
                           CloseReason::BackendUnavailable);
      return;
    }
    const auto& policy = self->runtime_->config->policy;
    auto idle = static_cast<std::uint64_t>(policy.idle_timeout.count());
    auto since = now - self->last_activity_ms_;
    std::uint64_t wake = since < idle ? idle - since : 0;
    auto state = self->conv_.state();
    if (state == pop3::State::Authorization || state == pop3::State::AuthExchange) {
      auto limit = static_cast<std::uint64_t>(policy.auth_timeout.count());
      auto age = now - self->started_ms_;
      if (age >= limit) {
        self->fail_to_client("-ERR [SYS/TEMP] authentication took too long\r\n",
                             CloseReason::AuthTimeout);
        return;
      }
      wake = std::min(wake, limit - age);
    }
    if (self->backend_state_ == Backend::Greeting) {
      wake = std::min(wake, self->greeting_deadline_ms_ - now);
    }
    if (wake > 0) {
      self->arm_timer(Millis(static_cast<long long>(wake)));
      return;
    }
    // RFC 1939 §3: an autologout timer of at least 10 minutes; the session ends without
    // entering UPDATE.
    self->fail_to_client("-ERR autologout: idle for too long\r\n", CloseReason::IdleTimeout);
    return;
  }
  case Phase::Draining:
    self->close(self->reason_);
    return;
  case Phase::Connecting:
  case Phase::Closed:
    return;
  }
}

void Session::log_end() {
  if (client_ip_) {
    worker_.per_ip().release(*client_ip_);
  }
  if (!admitted_) {
    return; // refused at the door: counted and logged in admit()
  }
  auto& m = worker_.metrics();
  auto& lm = m.listener(listener_index_);
  lm.sessions_active.Decrement();
  auto duration = static_cast<double>(uv_now(worker_.loop()) - started_ms_) / 1000.0;
  lm.session_duration.Observe(duration);
  log::info("session", "session ended",
            {log::field("client", client_address_), log::field("listener", listener_.name),
             log::field("user", conv_.user()), log::field("tls", tls_version_),
             log::field("cipher", tls_cipher_), log::field("resumed", tls_resumed_ ? "yes" : "no"),
             log::field("backend", backend_config_->name), log::field("server", backend_server_),
             log::number("duration_s", duration),
             log::number("bytes_in", static_cast<long long>(bytes_from_client_)),
             log::number("bytes_out", static_cast<long long>(bytes_to_client_)),
             log::number("commands", static_cast<long long>(commands_)),
             log::field("end", to_string(reason_))});
}

} // namespace popgate::proxy
