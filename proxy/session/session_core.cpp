// The session core's phases: start, PROXY header, admission, TLS events, backend connection,
// timeouts and ends. See the theory of operation in session_core.hpp.

#include "proxy/session/session_core.hpp"

#include "proxy/session/forward_client.hpp"

#include <algorithm>
#include <array>

namespace popgate::session {
namespace {

std::string host_port(const Address& address, std::uint16_t port) {
  return Endpoint{address.to_string(), port}.to_string();
}

} // namespace

SessionCore::SessionCore(const proxy::Config& config, const policy::AccessList& access,
                         const policy::RuleSet& rules, std::size_t listener, Shared shared,
                         std::string id)
    : config_(config), access_(access), rules_(rules), listener_(config.listeners[listener]),
      shared_(shared), backend_(static_cast<std::size_t>(config.find_backend(listener_.backend) -
                                                         config.backends.data())),
      conv_(pop3::Options{config.policy.max_line_length, kMaxResponseLine}) {
  record_.id = std::move(id);
  record_.backend = config_.backends[backend_].name;
}

SessionCore::~SessionCore() {
  if (client_) {
    shared_.per_ip.release(client_->address);
  }
}

Action SessionCore::take_action() {
  Action a = std::move(actions_.front());
  actions_.pop_front();
  return a;
}

// ---- start, PROXY header, admission ------------------------------------------------------------

void SessionCore::start(Millis now, const Peer& peer, const Peer& local) {
  now_ = now;
  started_ = now;
  last_activity_ = now;
  peer_ = peer;
  local_ = local;
  record_.client = host_port(peer.address, peer.port);
  record_.local = host_port(local.address, local.port);
  if (!listener_.proxy_protocol) {
    admit(peer);
    return;
  }
  // Behind a load balancer: the real client address comes in a PROXY header, accepted only
  // from the balancers in proxy_trusted (anyone else could claim any address).
  bool trusted = std::any_of(listener_.proxy_trusted.begin(), listener_.proxy_trusted.end(),
                             [&](const Cidr& c) { return c.contains(peer.address); });
  if (!trusted) {
    refuse(Refusal::ProxyProtocol, "PROXY header from an untrusted address");
    return;
  }
  record_.balancer = record_.client;
  proxy_header_ = std::make_unique<proxy_protocol::ProxyHeaderParser>();
  phase_ = Phase::ProxyHeader;
  phase_deadline_ = now + config_.policy.auth_timeout;
}

void SessionCore::client_data(Millis now, std::string_view bytes) {
  now_ = last_activity_ = now;
  if (proxy_header_) {
    proxy_header_bytes(bytes);
  } else {
    client_plaintext(now, bytes);
  }
}

void SessionCore::proxy_header_bytes(std::string_view bytes) {
  using Status = proxy_protocol::ProxyHeaderParser::Status;
  auto status = proxy_header_->feed(bytes);
  if (status == Status::NeedData) {
    return;
  }
  if (status == Status::Invalid) {
    refuse(Refusal::ProxyProtocol, proxy_header_->error());
    return;
  }
  // PROXY "LOCAL" (v2) or "UNKNOWN" (v1) carry no addresses: the balancer's own connection.
  Peer client = peer_;
  if (auto proxied = proxy_header_->addresses()) {
    client = Peer{proxied->source, proxied->source_port};
    local_ = Peer{proxied->destination, proxied->destination_port};
    record_.local = host_port(local_.address, local_.port);
  }
  std::string rest(proxy_header_->rest());
  proxy_header_.reset();
  record_.client = host_port(client.address, client.port);
  admit(client);
  if (rest.empty() || ended()) {
    return;
  }
  // What the client sent right behind the header.
  if (phase_ == Phase::Handshake) {
    std::get<StartTls>(actions_.back()).ciphertext = std::move(rest);
  } else {
    client_plaintext(now_, rest);
  }
}

// Access lists and per-address limits are decided before any TLS work, so a refused client
// costs no handshake. The connection is closed without a word: there is no TLS yet to say one
// in, and a plaintext "-ERR" on port 995 would only confuse the client.
void SessionCore::admit(const Peer& client) {
  if (!access_.permits(client.address)) {
    refuse(Refusal::AccessDenied, {});
    return;
  }
  if (shared_.bans.banned(client.address, now_)) {
    refuse(Refusal::Banned, {});
    return;
  }
  if (!shared_.per_ip.try_acquire(client.address, config_.policy.max_sessions_per_ip)) {
    refuse(Refusal::PerIpLimit, {});
    return;
  }
  client_ = client;
  record_.admitted = true;
  routed_ = may_route();
  if (listener_.mode == proxy::ListenerMode::Implicit) {
    phase_ = Phase::Handshake;
    phase_deadline_ = now_ + config_.policy.auth_timeout;
    tls_ = true;
    conv_.set_tls_active(); // RFC 2595 §4: STLS is refused under TLS
    start_tls();
    return;
  }
  begin_session();
}

void SessionCore::refuse(Refusal why, std::string_view detail) {
  static constexpr std::array<std::string_view, 4> kNames = {"access_denied", "banned",
                                                             "per_ip_limit", "proxy_protocol"};
  count(Counter::Rejected, static_cast<std::size_t>(why));
  // A banned or denied address can reconnect at will: a sample of these lines, every one counted.
  log(Level::Info, "reject", "connection refused",
      {{"client", record_.client},
       {"listener", listener_.name},
       {"reason", std::string(kNames[static_cast<std::size_t>(why)])},
       {"detail", std::string(detail)}},
      true);
  abort(CloseReason::PolicyClose);
}

// ---- TLS -----------------------------------------------------------------------------------

void SessionCore::start_tls() {
  tls_started_ = now_;
  actions_.emplace_back(StartTls{});
}

void SessionCore::tls_established(Millis now, std::string_view version, std::string_view cipher,
                                  bool resumed, std::string_view sni) {
  now_ = last_activity_ = now;
  record_.tls_version = version;
  record_.tls_cipher = cipher;
  record_.tls_resumed = resumed;
  record_.sni = sni;
  record_.handshake = now - tls_started_;
  if (starttls_handshake_) {
    starttls_handshake_ = false;
    count(Counter::StarttlsOk);
  }
  if (phase_ == Phase::Handshake) {
    begin_session();
  }
}

void SessionCore::tls_failed(Millis now, std::string_view error, std::string_view reason) {
  now_ = now;
  if (record_.tls_version.empty()) {
    if (starttls_handshake_) {
      count(Counter::StarttlsFailed);
    }
    // mbedTLS's reason ("bad client hello message", "no cipher suite in common") is what an
    // admin needs to tell a scanner from a client too old for popgate's TLS settings.
    log(Level::Info, "tls", "handshake failed",
        {{"client", record_.client},
         {"reason", std::string(reason)},
         {"error", std::string(error)}},
        true);
  }
  abort(CloseReason::TlsError);
}

// ---- the backend connection ----------------------------------------------------------------

void SessionCore::begin_session() {
  if (!routed_) {
    phase_ = Phase::Connecting;
    connect(backend_);
    return;
  }
  // The backend is not known yet: greet the client ourselves (no APOP timestamp, as with
  // hide_backend_banner) and connect once a command needs the backend.
  phase_ = Phase::Relaying;
  to_client("+OK POP3 ready\r\n");
}

void SessionCore::connect(std::size_t backend) {
  const auto& b = config_.backends[backend];
  backend_ = backend;
  backend_state_ = Backend::Connecting;
  connect_started_ = now_;
  record_.backend = b.name;
  record_.source = b.source == proxy::BackendSource::Client ? "client" : "gateway";
  Connect c;
  c.backend = backend;
  destination_.reset();
  if (b.destination == proxy::BackendDestination::Original && !resolve_destination(b, c)) {
    return;
  }
  if (b.source == proxy::BackendSource::Client && client_) {
    // The PROXY header's source when there was one: the real client, not the balancer.
    c.source = client_->address;
  }
  actions_.emplace_back(std::move(c));
}

// destination = "original": the address the client dialled, on destination_port (0: the port
// it dialled, so 995 -> 995 unless e.g. 110 is set), only inside destinations_allowed, so that no
// client can make popgate connect wherever it likes.
bool SessionCore::resolve_destination(const proxy::BackendConfig& backend, Connect& connect) {
  std::uint16_t port = backend.destination_port != 0 ? backend.destination_port : local_.port;
  Endpoint to{local_.address.to_string(), port};
  record_.server = to.to_string();
  bool allowed =
      std::any_of(backend.destinations_allowed.begin(), backend.destinations_allowed.end(),
                  [&](const Cidr& c) { return c.contains(local_.address); });
  if (!allowed) {
    count(Counter::Rejected, static_cast<std::size_t>(Refusal::DestinationNotAllowed));
    log(Level::Info, "reject", "connection refused",
        {{"client", record_.client},
         {"listener", listener_.name},
         {"reason", "destination_not_allowed"},
         {"destination", record_.local},
         {"backend", backend.name}},
        true);
    fail_to_client("-ERR [SYS/TEMP] no mail service at this address, try again later\r\n",
                   CloseReason::DestinationNotAllowed);
    return false;
  }
  destination_ = to;
  connect.destination = std::move(to);
  return true;
}

std::string SessionCore::server_name(std::size_t server) const {
  if (destination_) {
    return destination_->to_string();
  }
  return config_.backends[backend_].servers[server].to_string();
}

void SessionCore::backend_connected(Millis now, std::size_t server) {
  now_ = now;
  const auto& backend = config_.backends[backend_];
  record_.server = server_name(server);
  record_.servers_tried = static_cast<unsigned>(server + 1); // tried in order
  record_.connect = now - connect_started_;
  backend_state_ = Backend::Greeting;
  if (auto version = proxy_header_version(backend.forward_client); version && client_) {
    // forward_client = "proxy-v1" | "proxy-v2": the PROXY header goes first on the backend
    // connection, so the backend (Dovecot's haproxy_trusted_networks, for one) logs, limits
    // and authenticates by the real client address rather than popgate's.
    proxy_protocol::ProxiedAddresses a;
    a.source = client_->address;
    a.source_port = client_->port;
    a.destination = local_.address;
    a.destination_port = local_.port;
    // Directly: for a routed session to_backend() would queue it behind the commands.
    actions_.emplace_back(ToBackend{proxy_protocol::write_proxy_header(*version, a)});
  }
  if (routed_) {
    greeting_deadline_ = now + backend.greeting_timeout;
  } else {
    phase_ = Phase::Greeting;
    phase_deadline_ = now + backend.greeting_timeout;
  }
}

void SessionCore::backend_unavailable(Millis now, std::size_t server, bool timed_out,
                                      std::string_view error) {
  now_ = now;
  record_.server = server_name(server);
  record_.servers_tried = static_cast<unsigned>(server + 1);
  backend_failed(timed_out ? BackendFailure::ConnectTimeout : BackendFailure::ConnectFailed,
                 "no server accepted the connection: " + std::string(error));
  fail_to_client("-ERR [SYS/TEMP] mail server unavailable, try again later\r\n",
                 CloseReason::BackendUnavailable);
}

void SessionCore::backend_failed(BackendFailure why, std::string_view detail) {
  static constexpr std::array<std::string_view, 6> kNames = {
      "connect_failed",   "connect_timeout", "bad_greeting",
      "greeting_timeout", "protocol_error",  "closed_mid_response"};
  count(Counter::BackendError, static_cast<std::size_t>(why));
  log(Level::Warn, "backend", "backend failure",
      {{"backend", record_.backend},
       {"server", record_.server},
       {"reason", std::string(kNames[static_cast<std::size_t>(why)])},
       {"detail", std::string(detail)},
       {"client", record_.client}});
}

void SessionCore::backend_eof(Millis now) {
  now_ = now;
  if (ended()) {
    return;
  }
  if (backend_state_ == Backend::Greeting) {
    backend_failed(BackendFailure::BadGreeting, "closed before its greeting");
    fail_to_client("-ERR [SYS/TEMP] mail server closed the connection, try again later\r\n",
                   CloseReason::BackendUnavailable);
    return;
  }
  if (conv_.state() == pop3::State::Update && !conv_.response_in_progress()) {
    finish(CloseReason::Quit); // QUIT answered; the backend closed as RFC 1939 §6 says
    return;
  }
  if (conv_.response_in_progress() || conv_.outstanding() > 0) {
    // The backend died mid-response: close at once, without "." and without close_notify, so
    // no client can take a truncated message for a complete one.
    backend_failed(BackendFailure::ClosedMidResponse, "closed mid-response");
    abort(CloseReason::BackendDiedMidResponse);
    return;
  }
  finish(CloseReason::BackendClosed);
}

void SessionCore::backend_error(Millis now, std::string_view error) {
  now_ = now;
  if (ended()) {
    return;
  }
  if (backend_state_ == Backend::Greeting) {
    backend_failed(BackendFailure::BadGreeting, error);
    fail_to_client("-ERR [SYS/TEMP] mail server closed the connection, try again later\r\n",
                   CloseReason::BackendUnavailable);
    return;
  }
  backend_failed(BackendFailure::ProtocolError, error);
  abort(CloseReason::BackendError);
}

void SessionCore::client_eof(Millis now) {
  now_ = now;
  if (ended()) {
    return;
  }
  if (conv_.state() == pop3::State::Update && backend_state_ == Backend::Ready) {
    // QUIT was sent: let the backend finish its UPDATE and answer; its close ends the session.
    client_eof_ = true;
    return;
  }
  // No QUIT: close the backend without one, so no DELE is committed (RFC 1939 §6).
  abort(CloseReason::ClientClosed);
}

// ---- ends ----------------------------------------------------------------------------------

void SessionCore::fail_to_client(std::string_view line, CloseReason reason) {
  if (ended()) {
    return;
  }
  if ((tls_ && record_.tls_version.empty()) || conv_.response_in_progress()) {
    // No TLS to speak in yet, or in the middle of a multi-line response, where any line we
    // added would read as part of the message: just close, without the terminating ".".
    abort(reason);
    return;
  }
  to_client(line);
  finish(reason);
}

void SessionCore::finish(CloseReason reason) {
  if (ended()) {
    return;
  }
  record_.reason = reason;
  phase_ = Phase::Ending;
  phase_deadline_ = now_ + kDrainTimeout;
  actions_.emplace_back(Finish{reason});
}

void SessionCore::abort(CloseReason reason) {
  if (phase_ == Phase::Closed) {
    return;
  }
  if (phase_ != Phase::Ending) {
    record_.reason = reason;
  }
  phase_ = Phase::Closed;
  actions_.emplace_back(Abort{record_.reason});
}

void SessionCore::shutdown(Millis now) {
  now_ = now;
  if (phase_ == Phase::Relaying || phase_ == Phase::Greeting) {
    fail_to_client("-ERR [SYS/TEMP] server shutting down, try again later\r\n",
                   CloseReason::Shutdown);
  } else {
    abort(CloseReason::Shutdown);
  }
}

void SessionCore::kick(Millis now) {
  now_ = now;
  if (phase_ == Phase::ProxyHeader) {
    abort(CloseReason::AdminKick); // nothing has been said to this peer yet
    return;
  }
  // Mid-response or before TLS is up, fail_to_client closes without a word: a line added
  // inside a message would read as part of it.
  fail_to_client(kKickedReply, CloseReason::AdminKick);
}

std::string_view SessionCore::state() const {
  switch (phase_) {
  case Phase::ProxyHeader:
    return "proxy_header";
  case Phase::Handshake:
    return "handshake";
  case Phase::Connecting:
    return "connecting";
  case Phase::Greeting:
    return "greeting";
  case Phase::Relaying:
    switch (conv_.state()) {
    case pop3::State::Authorization:
    case pop3::State::AuthExchange:
      return "authorization";
    case pop3::State::Transaction:
      return "transaction";
    case pop3::State::Update:
      return "update";
    }
    return "relaying";
  case Phase::Ending:
    return "ending";
  case Phase::Closed:
    return "closed";
  }
  return "closed";
}

// ---- reading -------------------------------------------------------------------------------

bool SessionCore::wants_client_read() const {
  if (client_eof_) {
    return false;
  }
  switch (phase_) {
  case Phase::ProxyHeader:
  case Phase::Handshake:
    return true;
  case Phase::Relaying:
    // Pipelined lines wait in the codec while the pipeline is full or the codec waits for the
    // backend: stop reading once that is as much as a client can have in flight.
    return !pipeline_.full() && conv_.client_buffered() < kMaxClientBuffered;
  case Phase::Connecting:
  case Phase::Greeting:
    // A client that talks before the greeting has been relayed is read once; what it sent
    // waits (bounded) until the session is Relaying.
    return early_client_.empty();
  case Phase::Ending:
  case Phase::Closed:
    return false;
  }
  return false;
}

bool SessionCore::wants_backend_read() const {
  return (backend_state_ == Backend::Greeting || backend_state_ == Backend::Ready) &&
         (phase_ == Phase::Greeting || phase_ == Phase::Relaying);
}

// ---- output --------------------------------------------------------------------------------

void SessionCore::to_client(std::string_view bytes) {
  if (bytes.empty() || ended()) {
    return;
  }
  // Consecutive writes (a RETR body arriving in many events) become one action.
  if (!actions_.empty()) {
    if (auto* last = std::get_if<ToClient>(&actions_.back())) {
      last->bytes.append(bytes);
      return;
    }
  }
  actions_.emplace_back(ToClient{std::string(bytes)});
}

void SessionCore::to_backend(std::string_view bytes) {
  if (bytes.empty() || ended()) {
    return;
  }
  if (routed_ && backend_state_ != Backend::Ready) {
    // A routed session's backend is not ready yet: keep the commands for it, bounded like any
    // other queue towards the backend.
    backend_queue_.append(bytes);
    if (backend_queue_.size() > kMaxBackendQueue) {
      abort(CloseReason::ProtocolViolation);
    }
    return;
  }
  actions_.emplace_back(ToBackend{std::string(bytes)});
}

void SessionCore::count(Counter counter, std::size_t label, std::uint64_t amount) {
  actions_.emplace_back(Count{counter, label, amount});
}

void SessionCore::log(Level level, std::string_view event, std::string_view message,
                      std::vector<LogField> fields, bool rate_limited) {
  fields.insert(fields.begin(), LogField{"session", record_.id});
  actions_.emplace_back(Log{level, event, message, std::move(fields), rate_limited});
}

} // namespace popgate::session
