#pragma once

// The metric handles one Runtime's sessions count through, built when that config is loaded or
// reloaded. Sessions keep the Runtime they started with, and so the handles that match its
// listeners, backends, servers and rules: a reload that adds servers cannot make an old session
// index past the end of a new list, or the other way round. Counting is then one atomic add
// through a pointer: no name lookup and no mutex per command.

#include "metrics/metrics.hpp"
#include "proxy/config/config.hpp"
#include "proxy/pop3/command.hpp"
#include "proxy/server/server_health.hpp"
#include "proxy/session/actions.hpp"
#include "tls/engine.hpp"

#include <array>
#include <memory>
#include <vector>

namespace popgate::proxy {

// The metric label for a handshake failure the TLS engine reported.
metrics::HandshakeFailure handshake_failure(tls::FailureReason reason);

struct RuntimeMetrics {
  RuntimeMetrics() = default;
  RuntimeMetrics(const RuntimeMetrics&) = delete;
  RuntimeMetrics& operator=(const RuntimeMetrics&) = delete;
  // Counts this config's backend and rule handles out: the series of servers and rules that no
  // live config has any more are dropped (metrics.hpp).
  ~RuntimeMetrics();

  metrics::Metrics* all = nullptr;
  std::vector<metrics::ListenerMetrics*> listeners; // by config listener index
  std::vector<metrics::BackendMetrics*> backends;   // by config backend index, its servers
  std::vector<metrics::RuleMetrics*> rules;         // by config rule index
  std::array<prometheus::Counter*, pop3::kVerbCount> commands{}; // by pop3::Verb
  // Where connect results go besides backend_up (nullptr: nowhere), and the names they are
  // filed under: by config backend index, then server index.
  ServerHealthTable* health = nullptr;
  std::vector<std::string> backend_names;
  std::vector<std::vector<std::string>> server_names;

  // Takes Metrics' mutex: call at load and reload only. `health` must outlive the result.
  static std::shared_ptr<const RuntimeMetrics> build(metrics::Metrics& all, const Config& config,
                                                     ServerHealthTable* health = nullptr);

  // What the adapter counts itself: the TLS engine's and the connector's outcomes.
  void handshake_done(std::size_t listener, double seconds, const tls::HandshakeDone& done) const;
  void handshake_failed(std::size_t listener, metrics::HandshakeFailure reason) const;
  // A session's TCP connect to a server: sets backend_up and the health table's state.
  void connect_attempt(std::size_t backend, std::size_t server, Millis elapsed, bool ok) const;

  // One of the session core's counts, for a session on this listener and backend.
  void count(const session::Count& c, std::size_t listener, std::size_t backend) const;
};

} // namespace popgate::proxy
