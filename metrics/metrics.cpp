#include "metrics/metrics.hpp"

#include <algorithm>
#include <sstream>

#include <prometheus/text_serializer.h>

namespace popgate::metrics {

const prometheus::Histogram::BucketBoundaries kTlsHandshakeBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};
const prometheus::Histogram::BucketBoundaries kBackendConnectBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0};
const prometheus::Histogram::BucketBoundaries kSessionDurationBuckets = {
    0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 14400};

namespace {

template <typename Builder>
auto& build(Builder builder, prometheus::Registry& registry, const char* name, const char* help) {
  return builder.Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& registry, const char* name,
                                                 const char* help) {
  return build(prometheus::BuildCounter(), registry, name, help);
}

prometheus::Family<prometheus::Gauge>& gauge(prometheus::Registry& registry, const char* name,
                                             const char* help) {
  return build(prometheus::BuildGauge(), registry, name, help);
}

prometheus::Family<prometheus::Histogram>& histogram(prometheus::Registry& registry,
                                                     const char* name, const char* help) {
  return build(prometheus::BuildHistogram(), registry, name, help);
}

std::string str(std::string_view v) { return std::string(v); }

} // namespace

Metrics::Metrics(const Labels& labels)
    : registry_(std::make_shared<prometheus::Registry>()),
      connections_family_(counter(*registry_, "popgate_connections_total",
                                  "TCP connections accepted, per listener.")),
      sessions_active_family_(
          gauge(*registry_, "popgate_sessions_active", "Client sessions open now, per listener.")),
      session_duration_family_(histogram(*registry_, "popgate_session_duration_seconds",
                                         "Client session lifetime from accept to close.")),
      tls_handshakes_family_(counter(*registry_, "popgate_tls_handshakes_total",
                                     "TLS handshakes with clients by result (success, failure) "
                                     "and, for failures, reason; implicit TLS and STLS alike.")),
      tls_handshake_duration_family_(histogram(*registry_, "popgate_tls_handshake_duration_seconds",
                                               "Time to complete a successful TLS handshake.")),
      tls_resumed_family_(counter(*registry_, "popgate_tls_sessions_resumed_total",
                                  "TLS handshakes that resumed a session (ticket or cache).")),
      tls_sessions_family_(counter(*registry_, "popgate_tls_sessions_total",
                                   "Completed client TLS handshakes by negotiated version and "
                                   "cipher suite (mbedTLS names).")),
      starttls_family_(counter(*registry_, "popgate_starttls_total",
                               "STLS commands by result (ok, failed, refused); RFC 2595.")),
      plaintext_auth_refused_family_(counter(*registry_, "popgate_plaintext_auth_refused_total",
                                             "USER/PASS/APOP/AUTH refused before STLS because "
                                             "require_tls_for_auth is set.")),
      starttls_discarded_family_(
          counter(*registry_, "popgate_starttls_discarded_bytes_total",
                  "Plaintext bytes pipelined after STLS and discarded (CVE-2011-0411 class).")),
      commands_family_(
          counter(*registry_, "popgate_commands_total",
                  "POP3 commands from clients by verb; unknown verbs count as OTHER.")),
      auth_family_(counter(*registry_, "popgate_auth_total",
                           "Authentication attempts relayed to backends by result (ok, failed).")),
      policy_family_(counter(*registry_, "popgate_policy_decisions_total",
                             "Policy rule matches by rule and action; dry-run rules count as "
                             "dry_run_<action>.")),
      bans_active_family_(gauge(*registry_, "popgate_bans_active",
                                "Client addresses banned now for repeated auth failures.")),
      bans_total_family_(counter(*registry_, "popgate_bans_total",
                                 "Client addresses banned for repeated auth failures.")),
      ban_store_errors_family_(counter(*registry_, "popgate_ban_store_errors_total",
                                       "Failed or timed-out exchanges with the shared ban store "
                                       "([policy.ban] redis); bans go on locally meanwhile.")),
      rejected_family_(counter(*registry_, "popgate_rejected_connections_total",
                               "Connections closed before a session began, by reason.")),
      bytes_family_(counter(*registry_, "popgate_bytes_total",
                            "Bytes relayed by direction (client_in, client_out, backend_in, "
                            "backend_out); client bytes are TLS plaintext.")),
      backend_connect_family_(histogram(*registry_, "popgate_backend_connect_duration_seconds",
                                        "Time to open a TCP connection to a backend server.")),
      backend_errors_family_(counter(*registry_, "popgate_backend_errors_total",
                                     "Backend failures by backend and reason.")),
      backend_up_family_(gauge(*registry_, "popgate_backend_up",
                               "1 if the last connection attempt to this backend server "
                               "succeeded, 0 if it failed.")),
      config_reloads_family_(counter(*registry_, "popgate_config_reloads_total",
                                     "Configuration reloads (SIGHUP, certificate file change) "
                                     "by result.")),
      certificate_expiry_family_(gauge(*registry_, "popgate_certificate_expiry_timestamp_seconds",
                                       "notAfter of each served certificate, in Unix seconds.")),
      build_info_family_(gauge(*registry_, "popgate_build_info",
                               "Always 1; labels carry the popgate, mbedTLS and libuv versions.")),
      max_connections_family_(gauge(*registry_, "popgate_max_connections",
                                    "Configured [server] max_connections across all listeners.")),
      accept_errors_family_(counter(*registry_, "popgate_accept_errors_total",
                                    "accept(2) failures on listening sockets by reason; "
                                    "fd_limit means RLIMIT_NOFILE is too low.")),
      last_reload_successful_family_(
          gauge(*registry_, "popgate_config_last_reload_successful",
                "1 if the last configuration load (start, SIGHUP, certificate change) was "
                "applied, 0 if it was refused.")),
      last_reload_success_time_family_(
          gauge(*registry_, "popgate_config_last_reload_success_timestamp_seconds",
                "When the configuration was last loaded successfully, in Unix seconds.")),
      admin_commands_family_(counter(*registry_, "popgate_admin_commands_total",
                                     "Commands on the admin socket (popgate ctl) by command.")) {
  for (const auto& name : labels.listeners) {
    prometheus::Labels l{{"listener", name}};
    prometheus::Labels ok{{"listener", name}, {"result", "success"}};
    auto listener = std::make_unique<ListenerMetrics>(
        ListenerMetrics{connections_family_.Add(l), sessions_active_family_.Add(l),
                        session_duration_family_.Add(l, kSessionDurationBuckets),
                        tls_handshakes_family_.Add(ok), plaintext_auth_refused_family_.Add(l)});
    for (std::size_t i = 0; i < kHandshakeFailureCount; ++i) {
      listener->handshakes_failed[i] = &tls_handshakes_family_.Add(
          {{"listener", name},
           {"result", "failure"},
           {"reason", str(to_string(static_cast<HandshakeFailure>(i)))}});
    }
    listeners_.push_back(std::move(listener));
  }

  for (std::size_t i = 0; i < kCommandVerbs.size(); ++i) {
    commands_[i] = &commands_family_.Add({{"command", str(kCommandVerbs[i])}});
  }
  commands_[kCommandVerbs.size()] = &commands_family_.Add({{"command", str(kOtherCommand)}});
  for (std::size_t i = 0; i < kDirectionCount; ++i) {
    bytes_[i] = &bytes_family_.Add({{"direction", str(to_string(static_cast<Direction>(i)))}});
  }
  for (std::size_t i = 0; i < kStarttlsResultCount; ++i) {
    starttls_[i] =
        &starttls_family_.Add({{"result", str(to_string(static_cast<StarttlsResult>(i)))}});
  }
  for (std::size_t i = 0; i < kRejectReasonCount; ++i) {
    rejected_[i] =
        &rejected_family_.Add({{"reason", str(to_string(static_cast<RejectReason>(i)))}});
  }
  auth_ok_ = &auth_family_.Add({{"result", "success"}});
  auth_failed_ = &auth_family_.Add({{"result", "failure"}});
  reload_ok_ = &config_reloads_family_.Add({{"result", "success"}});
  reload_failed_ = &config_reloads_family_.Add({{"result", "failure"}});
  tls_handshake_duration_ = &tls_handshake_duration_family_.Add({}, kTlsHandshakeBuckets);
  tls_resumed_ = &tls_resumed_family_.Add({});
  starttls_discarded_bytes_ = &starttls_discarded_family_.Add({});
  bans_active_ = &bans_active_family_.Add({});
  bans_total_ = &bans_total_family_.Add({});
  ban_store_errors_ = &ban_store_errors_family_.Add({});
  max_connections_ = &max_connections_family_.Add({});
  for (std::size_t i = 0; i < kAcceptErrorCount; ++i) {
    accept_errors_[i] =
        &accept_errors_family_.Add({{"reason", str(to_string(static_cast<AcceptError>(i)))}});
  }
  last_reload_successful_ = &last_reload_successful_family_.Add({});
  last_reload_success_time_ = &last_reload_success_time_family_.Add({});
  record_reload(true, std::chrono::system_clock::now());
  build_info_family_
      .Add({{"version", labels.version}, {"mbedtls", labels.mbedtls}, {"libuv", labels.libuv}})
      .Set(1);
}

Metrics::~Metrics() = default;

BackendMetrics& Metrics::add_backend(const std::string& name,
                                     const std::vector<std::string>& servers) {
  auto handle = std::make_unique<BackendMetrics>(
      backend_connect_family_.Add({{"backend", name}}, kBackendConnectBuckets), servers.size());
  for (std::size_t i = 0; i < kBackendErrorCount; ++i) {
    handle->errors[i] = &backend_errors_family_.Add(
        {{"backend", name}, {"reason", str(to_string(static_cast<BackendError>(i)))}});
  }
  // A server that a reload kept keeps its series and value: share the gauge an older handle
  // made for it.
  for (std::size_t s = 0; s < servers.size(); ++s) {
    handle->up[s] = find_server_up(name, servers[s]);
  }
  backends_.push_back(NamedBackend{name, servers, std::move(handle)});
  return *backends_.back().metrics;
}

prometheus::Gauge* Metrics::find_server_up(const std::string& name, const std::string& server) {
  for (const auto& b : backends_) {
    if (b.name != name) {
      continue;
    }
    for (std::size_t s = 0; s < b.servers.size(); ++s) {
      if (auto* gauge = b.metrics->up[s].load(); b.servers[s] == server && gauge != nullptr) {
        return gauge;
      }
    }
  }
  return nullptr;
}

void Metrics::set_server_up(BackendMetrics& handle, std::size_t server, bool up) {
  auto* gauge = handle.up[server].load(std::memory_order_acquire);
  if (gauge == nullptr) {
    std::lock_guard lock(mutex_);
    gauge = handle.up[server].load();
    auto it = std::find_if(backends_.begin(), backends_.end(),
                           [&](const NamedBackend& b) { return b.metrics.get() == &handle; });
    if (gauge == nullptr && it != backends_.end()) {
      const std::string& address = it->servers[server];
      gauge = &backend_up_family_.Add({{"backend", it->name}, {"server", address}});
      // Every live handle with this server shares the series, so none drops it while another
      // still reports it (release()).
      for (auto& b : backends_) {
        for (std::size_t s = 0; s < b.servers.size(); ++s) {
          if (b.name == it->name && b.servers[s] == address) {
            b.metrics->up[s].store(gauge, std::memory_order_release);
          }
        }
      }
    }
    if (gauge == nullptr) {
      return; // a handle already released: nothing reports through it any more
    }
  }
  gauge->Set(up ? 1 : 0);
}

RuleMetrics& Metrics::add_rule(const std::string& name) {
  auto handle = std::make_unique<RuleMetrics>();
  for (std::size_t i = 0; i < kPolicyActionCount; ++i) {
    auto action = static_cast<PolicyAction>(i);
    handle->enforced[i] = &policy_family_.Add({{"rule", name}, {"action", str(to_string(action))}});
    handle->dry_run[i] =
        &policy_family_.Add({{"rule", name}, {"action", str(to_dry_run_string(action))}});
  }
  rules_.push_back(NamedRule{name, std::move(handle)});
  return *rules_.back().metrics;
}

BackendMetrics& Metrics::backend(std::string_view name, const std::vector<std::string>& servers) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(backends_.begin(), backends_.end(), [&](const NamedBackend& b) {
    return b.name == name && b.servers == servers;
  });
  // Family::Add returns the existing child for labels it already has, so a new handle shares
  // the series of an earlier one with the same backend name or server.
  if (it == backends_.end()) {
    add_backend(std::string(name), servers);
    it = std::prev(backends_.end());
  }
  ++it->users;
  return *it->metrics;
}

RuleMetrics& Metrics::rule(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(rules_.begin(), rules_.end(),
                         [&](const NamedRule& r) { return r.name == name; });
  if (it == rules_.end()) {
    add_rule(std::string(name));
    it = std::prev(rules_.end());
  }
  ++it->users;
  return *it->metrics;
}

void Metrics::release(const BackendMetrics& handle) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(backends_.begin(), backends_.end(),
                         [&](const NamedBackend& b) { return b.metrics.get() == &handle; });
  if (it == backends_.end() || --it->users > 0) {
    return;
  }
  // Drop each backend_up series no other handle has; a backend's own series (errors, connect
  // time) stay: backend names cannot change without a restart.
  for (const auto& slot : it->metrics->up) {
    auto* gauge = slot.load();
    bool shared = std::any_of(backends_.begin(), backends_.end(), [&](const NamedBackend& b) {
      return &b != &*it && std::any_of(b.metrics->up.begin(), b.metrics->up.end(),
                                       [gauge](const auto& other) { return other == gauge; });
    });
    if (gauge != nullptr && !shared) {
      backend_up_family_.Remove(gauge);
    }
  }
  backends_.erase(it);
}

void Metrics::release(const RuleMetrics& handle) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(rules_.begin(), rules_.end(),
                         [&](const NamedRule& r) { return r.metrics.get() == &handle; });
  if (it == rules_.end() || --it->users > 0) {
    return;
  }
  // One entry per rule name: nobody else has these series.
  for (std::size_t i = 0; i < kPolicyActionCount; ++i) {
    policy_family_.Remove(it->metrics->enforced[i]);
    policy_family_.Remove(it->metrics->dry_run[i]);
  }
  rules_.erase(it);
}

prometheus::Counter& Metrics::tls_session(std::string_view version, std::string_view cipher) {
  std::lock_guard lock(mutex_);
  if (tls_sessions_.size() >= kMaxTlsSessionSeries) {
    version = "other";
    cipher = "other";
  }
  auto it = std::find_if(tls_sessions_.begin(), tls_sessions_.end(), [&](const TlsSession& t) {
    return t.version == version && t.cipher == cipher;
  });
  if (it == tls_sessions_.end()) {
    auto* child = &tls_sessions_family_.Add({{"version", str(version)}, {"cipher", str(cipher)}});
    tls_sessions_.push_back(TlsSession{str(version), str(cipher), child});
    return *child;
  }
  return *it->counter;
}

void Metrics::set_certificates(const std::vector<CertificateExpiry>& certificates) {
  std::lock_guard lock(mutex_);
  for (auto* child : certificates_) {
    certificate_expiry_family_.Remove(child);
  }
  certificates_.clear();
  for (const auto& cert : certificates) {
    auto& child = certificate_expiry_family_.Add({{"name", cert.name}});
    child.Set(static_cast<double>(cert.not_after.time_since_epoch().count()));
    // Two certificates with the same name share one child; remove it only once.
    if (std::find(certificates_.begin(), certificates_.end(), &child) == certificates_.end()) {
      certificates_.push_back(&child);
    }
  }
}

void Metrics::add_collector(Collector collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

void Metrics::record_reload(bool ok, std::chrono::system_clock::time_point now) {
  last_reload_successful_->Set(ok ? 1 : 0);
  if (ok) {
    last_reload_success_time_->Set(std::chrono::duration<double>(now.time_since_epoch()).count());
  }
}

std::string Metrics::serialize() const {
  auto families = registry_->Collect();
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(mutex_);
    collectors = collectors_;
  }
  for (const auto& collect : collectors) {
    auto more = collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  prometheus::TextSerializer serializer;
  return serializer.Serialize(families);
}

} // namespace popgate::metrics
