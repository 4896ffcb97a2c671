#include "proxy/server/runtime_metrics.hpp"

#include "policy/rule_set.hpp"

namespace popgate::proxy {
namespace {

metrics::PolicyAction metric_action(policy::Action action) {
  switch (action) {
  case policy::Action::Allow:
    return metrics::PolicyAction::Allow;
  case policy::Action::Deny:
    return metrics::PolicyAction::Deny;
  case policy::Action::Close:
    return metrics::PolicyAction::Close;
  case policy::Action::Route:
    return metrics::PolicyAction::Route;
  }
  return metrics::PolicyAction::Allow;
}

metrics::RejectReason reject_reason(session::Refusal r) {
  switch (r) {
  case session::Refusal::AccessDenied:
    return metrics::RejectReason::AccessDenied;
  case session::Refusal::Banned:
    return metrics::RejectReason::Banned;
  case session::Refusal::PerIpLimit:
    return metrics::RejectReason::PerIpLimit;
  case session::Refusal::ProxyProtocol:
    return metrics::RejectReason::ProxyProtocol;
  case session::Refusal::DestinationNotAllowed:
    return metrics::RejectReason::DestinationNotAllowed;
  }
  return metrics::RejectReason::AccessDenied;
}

metrics::BackendError backend_error(session::BackendFailure f) {
  switch (f) {
  case session::BackendFailure::ConnectFailed:
    return metrics::BackendError::ConnectFailed;
  case session::BackendFailure::ConnectTimeout:
    return metrics::BackendError::ConnectTimeout;
  case session::BackendFailure::BadGreeting:
    return metrics::BackendError::BadGreeting;
  case session::BackendFailure::GreetingTimeout:
    return metrics::BackendError::GreetingTimeout;
  case session::BackendFailure::ProtocolError:
    return metrics::BackendError::ProtocolError;
  case session::BackendFailure::ClosedMidResponse:
    return metrics::BackendError::ClosedMidResponse;
  }
  return metrics::BackendError::ProtocolError;
}

} // namespace

std::shared_ptr<const RuntimeMetrics>
RuntimeMetrics::build(metrics::Metrics& all, const Config& config, ServerHealthTable* health) {
  auto built = std::make_shared<RuntimeMetrics>();
  auto& m = *built;
  m.all = &all;
  m.health = health;
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    m.listeners.push_back(&all.listener(i)); // listeners cannot change on reload
  }
  for (const auto& b : config.backends) {
    std::vector<std::string> servers;
    for (const auto& s : b.servers) {
      servers.push_back(s.to_string());
    }
    m.backends.push_back(&all.backend(b.name, servers));
    m.backend_names.push_back(b.name);
    m.server_names.push_back(std::move(servers));
  }
  for (const auto& r : config.policy.rules) {
    m.rules.push_back(&all.rule(r.name));
  }
  for (std::size_t v = 0; v < pop3::kVerbCount; ++v) {
    m.commands[v] = &all.command(pop3::verb_name(static_cast<pop3::Verb>(v)));
  }
  return built;
}

RuntimeMetrics::~RuntimeMetrics() {
  for (const auto* b : backends) {
    all->release(*b);
  }
  for (const auto* r : rules) {
    all->release(*r);
  }
}

metrics::HandshakeFailure handshake_failure(tls::FailureReason reason) {
  switch (reason) {
  case tls::FailureReason::ProtocolVersion:
    return metrics::HandshakeFailure::ProtocolVersion;
  case tls::FailureReason::NoSharedCipher:
    return metrics::HandshakeFailure::NoSharedCipher;
  case tls::FailureReason::BadCertificate:
    return metrics::HandshakeFailure::BadCertificate;
  case tls::FailureReason::UnexpectedMessage:
    return metrics::HandshakeFailure::UnexpectedMessage;
  case tls::FailureReason::DecodeError:
    return metrics::HandshakeFailure::DecodeError;
  case tls::FailureReason::PeerAlert:
    return metrics::HandshakeFailure::PeerAlert;
  case tls::FailureReason::Other:
    return metrics::HandshakeFailure::Other;
  }
  return metrics::HandshakeFailure::Other;
}

void RuntimeMetrics::handshake_done(std::size_t listener, double seconds,
                                    const tls::HandshakeDone& done) const {
  listeners[listener]->handshakes_ok.Increment();
  all->tls_handshake_duration().Observe(seconds);
  all->tls_session(done.version, done.cipher).Increment();
  if (done.resumed) {
    all->tls_resumed().Increment();
  }
}

void RuntimeMetrics::handshake_failed(std::size_t listener,
                                      metrics::HandshakeFailure reason) const {
  listeners[listener]->handshake_failed(reason).Increment();
}

void RuntimeMetrics::connect_attempt(std::size_t backend, std::size_t server, Millis elapsed,
                                     bool ok) const {
  if (ok) {
    backends[backend]->connect_duration.Observe(static_cast<double>(elapsed.count()) / 1000.0);
  }
  // A destination = "original" backend has no servers list: no backend_up series, no health.
  if (server >= server_names[backend].size()) {
    return;
  }
  all->set_server_up(*backends[backend], server, ok);
  if (health != nullptr) {
    health->record_connect(backend_names[backend], server_names[backend][server], ok);
  }
}

void RuntimeMetrics::count(const session::Count& c, std::size_t listener,
                           std::size_t backend) const {
  using session::Counter;
  auto amount = static_cast<double>(c.amount);
  switch (c.counter) {
  case Counter::Command:
    commands[c.label]->Increment();
    return;
  case Counter::Auth:
    all->auth(c.label == 1).Increment();
    return;
  case Counter::PolicyDecision:
    rules[c.label]
        ->decision(metric_action(static_cast<policy::Action>(c.detail)), c.dry)
        .Increment();
    return;
  case Counter::StarttlsOk:
    all->starttls(metrics::StarttlsResult::Ok).Increment();
    return;
  case Counter::StarttlsFailed:
    all->starttls(metrics::StarttlsResult::Failed).Increment();
    return;
  case Counter::StarttlsRefused:
    all->starttls(metrics::StarttlsResult::Refused).Increment();
    return;
  case Counter::PlaintextAuthRefused:
    listeners[listener]->plaintext_auth_refused.Increment();
    return;
  case Counter::StarttlsDiscardedBytes:
    all->starttls_discarded_bytes().Increment(amount);
    return;
  case Counter::Rejected:
    all->rejected(reject_reason(static_cast<session::Refusal>(c.label))).Increment();
    return;
  case Counter::BackendError:
    backends[backend]
        ->error(backend_error(static_cast<session::BackendFailure>(c.label)))
        .Increment();
    return;
  case Counter::Bans:
    if (c.amount > 0) {
      all->bans_total().Increment();
    }
    all->bans_active().Set(static_cast<double>(c.label));
    return;
  }
}

} // namespace popgate::proxy
