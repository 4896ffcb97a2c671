#pragma once

// popgate's Prometheus metrics: one registry, every family created here with its help text, and
// small handle structs that the proxy keeps so that counting on the hot path is one atomic
// operation.
//
// Threading contract
// - The Metrics object is created once at startup, before any event loop, and outlives them all.
//   Loops share it by reference.
// - Every child whose labels are fixed for the process (listeners, the reason enums, the command
//   verbs) is created in the constructor. The accessors
//   that take an index or an enum are lock-free and return references that stay valid for the
//   life of the Metrics object. prometheus::Counter and prometheus::Gauge update an atomic, so
//   any thread may count through them; prometheus::Histogram::Observe takes a short per-child
//   lock, which is why histograms are only observed once per session, handshake or connect,
//   never per relayed chunk.
// - Backends' and rules' handles belong to a loaded config: backend(name, servers) and
//   rule(name) hand one out and count it in; release() counts it out. A server's backend_up
//   series appears with its first result (set_server_up), never before. A series no handed-out
//   handle uses any more (a server or rule that a reload removed, once the last session on the
//   old config has ended) is dropped from the output. These and set_certificates() take a
//   mutex: call them when a config is loaded, reloaded or retired, never per command.
//
// Label cardinality (SPEC section 4): no label ever carries a user name, a client address or a
// verb the client made up. Unknown verbs count as "OTHER".

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "metrics/label_values.hpp"

namespace popgate::metrics {

// The bounded label sets known when the config is loaded.
struct Labels {
  std::vector<std::string> listeners; // [[listener]] name, in order
  std::string version;                // build_info labels
  std::string mbedtls;
  std::string libuv;
};

// One certificate's notAfter, for certificate_expiry_timestamp_seconds{name}.
struct CertificateExpiry {
  std::string name; // the certificate's configured name (e.g. its first server name)
  std::chrono::sys_seconds not_after;
};

struct ListenerMetrics {
  prometheus::Counter& connections;            // connections_total: every accepted TCP connection
  prometheus::Gauge& sessions_active;          // sessions_active: +1 on accept, -1 on close
  prometheus::Histogram& session_duration;     // session_duration_seconds, observed on close
  prometheus::Counter& handshakes_ok;          // tls_handshakes_total{result="success"}
  prometheus::Counter& plaintext_auth_refused; // plaintext_auth_refused_total
  // tls_handshakes_total{result="failure",reason}, indexed by HandshakeFailure.
  std::array<prometheus::Counter*, kHandshakeFailureCount> handshakes_failed{};

  prometheus::Counter& handshake_failed(HandshakeFailure reason) {
    return *handshakes_failed[static_cast<std::size_t>(reason)];
  }
};

struct BackendMetrics {
  BackendMetrics(prometheus::Histogram& connect, std::size_t servers)
      : connect_duration(connect), up(servers) {}

  prometheus::Histogram& connect_duration;                       // backend_connect_duration_seconds
  std::array<prometheus::Counter*, kBackendErrorCount> errors{}; // indexed by BackendError
  // backend_up, indexed like the backend's servers list. nullptr until the first result for
  // that server (a check or a session's connect): a server nobody has tried yet has no series,
  // rather than a 0 that would read as "down". Set through Metrics::set_server_up().
  std::vector<std::atomic<prometheus::Gauge*>> up;

  prometheus::Counter& error(BackendError e) { return *errors[static_cast<std::size_t>(e)]; }
};

struct RuleMetrics {
  std::array<prometheus::Counter*, kPolicyActionCount> enforced; // indexed by PolicyAction
  std::array<prometheus::Counter*, kPolicyActionCount> dry_run;  // "dry_run_<action>"

  prometheus::Counter& decision(PolicyAction action, bool is_dry_run = false) {
    auto i = static_cast<std::size_t>(action);
    return is_dry_run ? *dry_run[i] : *enforced[i];
  }
};

class Metrics {
public:
  explicit Metrics(const Labels& labels);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;
  ~Metrics();

  // Index into Labels::listeners given to the constructor. Precondition: index < its size.
  // Lock-free.
  ListenerMetrics& listener(std::size_t index) { return *listeners_[index]; }

  // A handle for this backend with this server list (found or made), counted in. Handles with
  // the same backend name share its error and connect series; the same server shares its
  // backend_up series. Valid until release(). Takes a mutex.
  BackendMetrics& backend(std::string_view name, const std::vector<std::string>& servers);
  // The same for one [[policy.rule]] by name.
  RuleMetrics& rule(std::string_view name);
  // backend_up{backend,server} of the handle's server `server` (< its servers' size): creates
  // the series at the first result, then is one atomic store. Any thread.
  void set_server_up(BackendMetrics& handle, std::size_t server, bool up);
  // Counts a handle out; at the last release, the series only it used are dropped.
  void release(const BackendMetrics& handle);
  void release(const RuleMetrics& handle);

  // Lock-free, never allocates: unknown verbs map to "OTHER".
  prometheus::Counter& command(std::string_view verb) { return *commands_[command_index(verb)]; }
  prometheus::Counter& bytes(Direction d) { return *bytes_[static_cast<std::size_t>(d)]; }
  prometheus::Counter& auth(bool ok) { return ok ? *auth_ok_ : *auth_failed_; }
  prometheus::Counter& starttls(StarttlsResult r) {
    return *starttls_[static_cast<std::size_t>(r)];
  }
  prometheus::Counter& rejected(RejectReason r) { return *rejected_[static_cast<std::size_t>(r)]; }
  prometheus::Counter& config_reload(bool ok) { return ok ? *reload_ok_ : *reload_failed_; }
  prometheus::Histogram& tls_handshake_duration() { return *tls_handshake_duration_; }
  prometheus::Counter& tls_resumed() { return *tls_resumed_; }
  // tls_sessions_total{version,cipher}: one per completed handshake, so an admin can see who
  // still needs TLS 1.2 or an old suite. The values are mbedTLS's static names of what was
  // negotiated, so only configured suites occur; past kMaxTlsSessionSeries pairs (a safety
  // net, never reached with a sane suite list) the rest count as version="other",
  // cipher="other". Takes a mutex: once per handshake, which costs far more.
  prometheus::Counter& tls_session(std::string_view version, std::string_view cipher);
  static constexpr std::size_t kMaxTlsSessionSeries = 64;
  prometheus::Counter& starttls_discarded_bytes() { return *starttls_discarded_bytes_; }
  prometheus::Gauge& bans_active() { return *bans_active_; }
  prometheus::Counter& bans_total() { return *bans_total_; }
  // popgate_ban_store_errors_total: failed or timed-out exchanges with the shared ban store
  // ([policy.ban] redis); bans go on locally meanwhile.
  prometheus::Counter& ban_store_errors() { return *ban_store_errors_; }
  // popgate_max_connections: [server] max_connections, set at load and on reload. Not in the
  // SPEC's list because it is configuration, not behaviour; exported so that alert rules can
  // compare sessions_active with it (conf/prometheus/alerts.yml, PopgateNearMaxConnections).
  prometheus::Gauge& max_connections() { return *max_connections_; }
  prometheus::Counter& accept_errors(AcceptError e) {
    return *accept_errors_[static_cast<std::size_t>(e)];
  }
  // config_last_reload_successful and config_last_reload_success_timestamp_seconds, named as
  // Prometheus names its own: the start counts as a successful load. Lock-free.
  void record_reload(bool ok, std::chrono::system_clock::time_point now);
  // popgate_admin_commands_total{command}: admin socket commands by name ("ban", "kick_user",
  // "show_sessions"; "invalid" for a line that is no command). The caller keeps the names
  // bounded. Takes the family's mutex: admin commands are rare.
  prometheus::Counter& admin_command(std::string_view command) {
    return admin_commands_family_.Add({{"command", std::string(command)}});
  }

  // Replaces the whole certificate_expiry_timestamp_seconds label set: certificates dropped
  // from the config disappear from the output. Takes a mutex; call on load and reload.
  void set_certificates(const std::vector<CertificateExpiry>& certificates);

  // Families computed at scrape time (process_*, event loop busy time): each collector is
  // called by serialize(), on the scraping thread. Add them before the first scrape; they must
  // stay callable for as long as anyone scrapes.
  using Collector = std::function<std::vector<prometheus::MetricFamily>()>;
  void add_collector(Collector collector);

  // The Prometheus text exposition format 0.0.4 of every family.
  [[nodiscard]] std::string serialize() const;
  [[nodiscard]] const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

private:
  BackendMetrics& add_backend(const std::string& name, const std::vector<std::string>& servers);
  RuleMetrics& add_rule(const std::string& name);
  // The backend_up gauge a live handle has for this backend's server, or nullptr.
  prometheus::Gauge* find_server_up(const std::string& name, const std::string& server);

  std::shared_ptr<prometheus::Registry> registry_;

  prometheus::Family<prometheus::Counter>& connections_family_;
  prometheus::Family<prometheus::Gauge>& sessions_active_family_;
  prometheus::Family<prometheus::Histogram>& session_duration_family_;
  prometheus::Family<prometheus::Counter>& tls_handshakes_family_;
  prometheus::Family<prometheus::Histogram>& tls_handshake_duration_family_;
  prometheus::Family<prometheus::Counter>& tls_resumed_family_;
  prometheus::Family<prometheus::Counter>& tls_sessions_family_;
  prometheus::Family<prometheus::Counter>& starttls_family_;
  prometheus::Family<prometheus::Counter>& plaintext_auth_refused_family_;
  prometheus::Family<prometheus::Counter>& starttls_discarded_family_;
  prometheus::Family<prometheus::Counter>& commands_family_;
  prometheus::Family<prometheus::Counter>& auth_family_;
  prometheus::Family<prometheus::Counter>& policy_family_;
  prometheus::Family<prometheus::Gauge>& bans_active_family_;
  prometheus::Family<prometheus::Counter>& bans_total_family_;
  prometheus::Family<prometheus::Counter>& ban_store_errors_family_;
  prometheus::Family<prometheus::Counter>& rejected_family_;
  prometheus::Family<prometheus::Counter>& bytes_family_;
  prometheus::Family<prometheus::Histogram>& backend_connect_family_;
  prometheus::Family<prometheus::Counter>& backend_errors_family_;
  prometheus::Family<prometheus::Gauge>& backend_up_family_;
  prometheus::Family<prometheus::Counter>& config_reloads_family_;
  prometheus::Family<prometheus::Gauge>& certificate_expiry_family_;
  prometheus::Family<prometheus::Gauge>& build_info_family_;
  prometheus::Family<prometheus::Gauge>& max_connections_family_;
  prometheus::Family<prometheus::Counter>& accept_errors_family_;
  prometheus::Family<prometheus::Gauge>& last_reload_successful_family_;
  prometheus::Family<prometheus::Gauge>& last_reload_success_time_family_;
  prometheus::Family<prometheus::Counter>& admin_commands_family_;

  // Fixed after construction: read without a lock.
  std::vector<std::unique_ptr<ListenerMetrics>> listeners_;
  std::array<prometheus::Counter*, kCommandVerbs.size() + 1> commands_{};
  std::array<prometheus::Counter*, kDirectionCount> bytes_{};
  std::array<prometheus::Counter*, kStarttlsResultCount> starttls_{};
  std::array<prometheus::Counter*, kRejectReasonCount> rejected_{};
  prometheus::Counter* auth_ok_ = nullptr;
  prometheus::Counter* auth_failed_ = nullptr;
  prometheus::Counter* reload_ok_ = nullptr;
  prometheus::Counter* reload_failed_ = nullptr;
  prometheus::Histogram* tls_handshake_duration_ = nullptr;
  prometheus::Counter* tls_resumed_ = nullptr;
  prometheus::Counter* starttls_discarded_bytes_ = nullptr;
  prometheus::Gauge* bans_active_ = nullptr;
  prometheus::Counter* bans_total_ = nullptr;
  prometheus::Counter* ban_store_errors_ = nullptr;
  prometheus::Gauge* max_connections_ = nullptr;
  std::array<prometheus::Counter*, kAcceptErrorCount> accept_errors_{};
  prometheus::Gauge* last_reload_successful_ = nullptr;
  prometheus::Gauge* last_reload_success_time_ = nullptr;

  // Guards the two lists (whose elements never move) and the certificate children.
  mutable std::mutex mutex_;
  struct NamedBackend {
    std::string name;
    std::vector<std::string> servers;
    std::unique_ptr<BackendMetrics> metrics;
    unsigned users = 0;
  };
  struct NamedRule {
    std::string name;
    std::unique_ptr<RuleMetrics> metrics;
    unsigned users = 0;
  };
  std::list<NamedBackend> backends_;
  std::list<NamedRule> rules_;
  std::vector<prometheus::Gauge*> certificates_;
  struct TlsSession {
    std::string version;
    std::string cipher;
    prometheus::Counter* counter;
  };
  std::vector<TlsSession> tls_sessions_;
  std::vector<Collector> collectors_;
};

// Histogram buckets, in seconds, chosen for what each histogram measures.
// A TLS handshake on loopback or a LAN takes well under a millisecond of network time plus one
// ECDHE computation; a second means something is badly wrong.
extern const prometheus::Histogram::BucketBoundaries kTlsHandshakeBuckets;
// A backend connect is sub-millisecond on the same host and bounded by connect_timeout (5s by
// default) elsewhere.
extern const prometheus::Histogram::BucketBoundaries kBackendConnectBuckets;
// A POP3 session ranges from a 100 ms poll that finds nothing to a slow client downloading a
// large mailbox for hours.
extern const prometheus::Histogram::BucketBoundaries kSessionDurationBuckets;

} // namespace popgate::metrics
