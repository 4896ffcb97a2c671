#pragma once

// The typed configuration, as SPEC section 3 lays it out. Loaded once (and again on reload) by
// config_loader; afterwards shared read-only between event loops as shared_ptr<const Config>.
// Every field carries the contract's default, so a default-constructed Config plus one listener,
// one backend and one certificate is a valid configuration.

#include "base/address.hpp"
#include "base/duration.hpp"
#include "policy/rule_set.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace popgate::proxy {

enum class LogFormat { Text, Json };
enum class LogLevel { Debug, Info, Warn, Error };
enum class ListenerMode { Implicit, StartTls };
enum class ForwardClient { None, Xclient, ProxyV1, ProxyV2 };
// Transparent mode (README "Transparent mode"): which address a backend connection comes from,
// and where it goes.
enum class BackendSource { Gateway, Client };
enum class BackendDestination { Servers, Original };

// Where a value was written in the config file (1-based; 0:0 = not written, a default). Checks
// made after loading, such as reading a certificate, report FILE:LINE:COL from these.
struct SourcePos {
  std::uint32_t line = 0;
  std::uint32_t column = 0;
};

struct ServerConfig {
  unsigned workers = 0; // 0 = one per CPU
  unsigned max_connections = 20000;
  Millis shutdown_grace = std::chrono::seconds(30);
  // After SIGTERM, keep accepting this long while /healthz says 503, so a balancer (or a
  // Kubernetes endpoint update) stops sending before the listeners close.
  Millis drain_delay = std::chrono::seconds(0);
  std::string user;
  std::string group;
  LogFormat log_format = LogFormat::Text;
  LogLevel log_level = LogLevel::Info;
  // A connection that closes before sending a byte (a balancer's or monitor's TCP probe) is
  // counted but gets no "session ended" line unless this is set.
  bool log_empty_sessions = false;
};

struct CertificateConfig {
  std::string cert; // resolved against the config file's folder
  std::string key;
  std::vector<std::string> server_names; // empty = the names in the certificate
  SourcePos cert_pos;
  SourcePos key_pos;
};

struct TlsConfig {
  std::string min_version = "1.2";
  std::vector<std::string> ciphersuites; // empty = built-in ECDHE + AEAD list
  bool session_tickets = true;
  Millis ticket_lifetime = std::chrono::hours(1);
  std::string client_ca;
  std::string ticket_key_file; // "" = keys made in the process; resolved like certificates
  std::vector<CertificateConfig> certificates;
  SourcePos ticket_key_file_pos;
  SourcePos client_ca_pos;
  SourcePos min_version_pos;
  SourcePos ciphersuites_pos;
};

struct ListenerConfig {
  std::string name;
  Endpoint bind;
  ListenerMode mode = ListenerMode::Implicit;
  std::string backend;
  bool proxy_protocol = false;
  std::vector<Cidr> proxy_trusted;
  // Connections redirected here by the firewall (REDIRECT or TPROXY) keep the address the
  // client dialled: the original destination.
  bool transparent = false;
  SourcePos bind_pos;        // for "cannot bind" errors
  SourcePos transparent_pos; // for "needs CAP_NET_ADMIN" warnings
};

struct BackendConfig {
  std::string name;
  std::vector<Endpoint> servers;
  Millis connect_timeout = std::chrono::seconds(5);
  Millis greeting_timeout = std::chrono::seconds(10);
  ForwardClient forward_client = ForwardClient::None;
  BackendSource source = BackendSource::Gateway;
  BackendDestination destination = BackendDestination::Servers;
  std::uint16_t destination_port = 0; // with Original: 0 = the port the client dialled
  std::vector<Cidr> destinations_allowed;
  SourcePos source_pos; // for "needs CAP_NET_ADMIN" errors
  // Active health check of each server (connect, "+OK" greeting, QUIT) this often; 0 = off.
  Millis check_interval = std::chrono::seconds(10);
};

// [policy.ban] redis: the Redis server through which replicas share failures and bans.
struct RedisAddress {
  std::string host; // a name or a numeric address (IPv6 without brackets); "" with unix_path
  std::uint16_t port = 0;
  std::string unix_path; // "unix:/run/redis/redis.sock" -> "/run/redis/redis.sock"

  // "host:port", "[v6]:port" or "unix:/absolute/path"; nullopt for anything else.
  static std::optional<RedisAddress> parse(std::string_view text);
  [[nodiscard]] std::string to_string() const;
};

struct BanConfig {
  unsigned failures = 10;
  Millis window = std::chrono::minutes(10);
  Millis duration = std::chrono::minutes(30);
  std::optional<RedisAddress> redis; // nullopt: failures and bans stay in this process
  std::string redis_prefix = "popgate:";
  std::vector<Cidr> exempt; // failures from here are counted but never ban
};

struct AccessConfig {
  std::vector<Cidr> allow;
  std::vector<Cidr> deny;
};

struct PolicyConfig {
  bool require_tls_for_auth = true;
  Millis idle_timeout = std::chrono::minutes(10);
  Millis auth_timeout = std::chrono::seconds(60);
  unsigned max_line_length = 1024;
  unsigned max_auth_failures = 3;
  unsigned max_sessions_per_ip = 50;
  bool hide_backend_banner = false;
  BanConfig ban;
  AccessConfig access;
  std::vector<policy::Rule> rules; // [[policy.rule]], in order
};

struct MetricsConfig {
  std::string bind = "127.0.0.1:9110"; // "" = off
  std::string path = "/metrics";
};

// [admin]: the Unix socket `popgate ctl` talks to. Read at startup only (a reload keeps it).
struct AdminConfig {
  std::string socket; // "" = off; otherwise an absolute path
  unsigned mode = 0660;
  std::string group; // "" = the process's group
};

struct Config {
  std::string path; // the file this was loaded from
  ServerConfig server;
  TlsConfig tls;
  std::vector<ListenerConfig> listeners;
  std::vector<BackendConfig> backends;
  PolicyConfig policy;
  MetricsConfig metrics;
  AdminConfig admin;

  [[nodiscard]] const BackendConfig* find_backend(std::string_view name) const {
    for (const auto& b : backends) {
      if (b.name == name) {
        return &b;
      }
    }
    return nullptr;
  }
};

} // namespace popgate::proxy
