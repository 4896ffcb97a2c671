#include "proxy/config/config_loader.hpp"

#include "proxy/config/config_reader.hpp"

#include "base/ascii.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>

namespace popgate::proxy {

using config_detail::Diagnostics;
using config_detail::pos_of;
using config_detail::quote;
using config_detail::TableReader;

std::string ConfigError::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

// RFC 2449 §4 allows 255 octets per command, but RFC 5034 AUTH initial responses and long
// user names in the wild go past that; 512 leaves headroom while still bounding each session's
// command buffer. 64 KiB is far beyond any real command and keeps memory per session small.
constexpr unsigned kMinLineLength = 512;
constexpr unsigned kMaxLineLength = 65536;
constexpr unsigned kMaxWorkers = 256;

// A POP3 keyword: RFC 1939 uses 3-4 letters, extensions such as XCLIENT a few more.
constexpr std::size_t kMaxVerbLength = 16;

struct Context {
  Diagnostics& diag;
  std::filesystem::path base; // the config file's folder

  [[nodiscard]] std::string resolve(const std::string& path) const {
    std::filesystem::path p(path);
    if (path.empty() || p.is_absolute() || base.empty()) {
      return path;
    }
    return (base / p).lexically_normal().string();
  }
};

template <typename F> void each_table(const toml::array* array, F&& f) {
  if (array == nullptr) {
    return;
  }
  for (const toml::node& element : *array) {
    if (const toml::table* table = element.as_table()) {
      f(*table);
    }
  }
}

// `at`: the value to point at, or the table when the value was not written.
SourcePos at_or(const toml::node* node, const TableReader& r) {
  return node != nullptr ? pos_of(*node) : r.pos();
}

void not_empty(TableReader& r, const toml::node* node, std::string_view key) {
  if (node != nullptr && node->as_string()->get().empty()) {
    r.diag().add(*node, r.name(key) + ": must not be empty");
  }
}

// An array of tables that must hold at least one entry, such as [[listener]].
const toml::array* required_array(TableReader& root, std::string_view key, std::string_view hint) {
  const toml::node* present = root.take(key);
  const toml::array* array = root.table_array(key);
  if (present == nullptr || (array != nullptr && array->empty())) {
    SourcePos at = present != nullptr ? pos_of(*present) : SourcePos{1, 1};
    root.diag().add(at, "no [[" + root.name(key) +
                            "]] configured; at least one is required, e.g. " + std::string(hint));
  }
  return array;
}

void read_server(const toml::table& table, Context& ctx, ServerConfig& s) {
  TableReader r(table, "server", false, ctx.diag);
  r.count("workers", s.workers, 0, kMaxWorkers, "0 = one per CPU");
  r.count("max_connections", s.max_connections, 1, 10'000'000);
  r.duration("shutdown_grace", s.shutdown_grace, true);
  r.duration("drain_delay", s.drain_delay, true);
  r.text("user", s.user);
  r.text("group", s.group);
  r.choice("log_format", s.log_format, {{"text", LogFormat::Text}, {"json", LogFormat::Json}});
  r.choice("log_level", s.log_level,
           {{"debug", LogLevel::Debug},
            {"info", LogLevel::Info},
            {"warn", LogLevel::Warn},
            {"error", LogLevel::Error}});
  r.flag("log_empty_sessions", s.log_empty_sessions);
  r.finish();
}

// destination = "original": the address each client dialled, limited to destinations_allowed,
// replaces the servers list (README "Transparent mode").
void read_destination(TableReader& r, const toml::node* destination, const toml::node* servers,
                      BackendConfig& b) {
  unsigned port = 0;
  const toml::node* port_node =
      r.count("destination_port", port, 0, 65535, "0 = the port the client dialled");
  b.destination_port = static_cast<std::uint16_t>(port);
  const toml::node* allowed = r.cidrs("destinations_allowed", b.destinations_allowed);
  if (b.destination != BackendDestination::Original) {
    for (auto [node, key] :
         {std::pair{port_node, "destination_port"}, std::pair{allowed, "destinations_allowed"}}) {
      if (node != nullptr) {
        r.diag().add(*node, r.name(key) + ": only used with destination = \"original\"");
      }
    }
    return;
  }
  if (servers != nullptr) {
    r.diag().add(*servers, "backend.servers: not used with destination = \"original\", which "
                           "connects to the address each client dialled; remove one of the two");
  }
  if (b.destinations_allowed.empty()) {
    // Without a list, any client could make popgate connect anywhere (an open relay).
    r.diag().add(allowed != nullptr ? *allowed : *destination,
                 "backend.destination: \"original\" needs destinations_allowed, the CIDRs of the "
                 "POP3 servers popgate may connect to, e.g. [\"192.0.2.0/24\"]");
  }
}

void read_backends(TableReader& root, Config& config) {
  Diagnostics& diag = root.diag();
  const toml::array* array =
      required_array(root, "backend", R"([[backend]] name = "legacy" servers = ["127.0.0.1:110"])");
  each_table(array, [&](const toml::table& table) {
    TableReader r(table, "backend", true, diag);
    BackendConfig b;
    const toml::node* name = r.text("name", b.name);
    not_empty(r, name, "name");
    const toml::node* destination = r.choice(
        "destination", b.destination,
        {{"servers", BackendDestination::Servers}, {"original", BackendDestination::Original}});
    bool original = b.destination == BackendDestination::Original;
    const toml::node* servers = r.endpoints("servers", b.servers);
    if (!original) {
      r.require("servers");
    }
    if (servers && b.servers.empty() && !original) {
      diag.add(*servers, "backend.servers: needs at least one \"host:port\"");
    }
    r.duration("connect_timeout", b.connect_timeout, false);
    r.duration("greeting_timeout", b.greeting_timeout, false);
    r.duration("check_interval", b.check_interval, true);
    r.choice("forward_client", b.forward_client,
             {{"none", ForwardClient::None},
              {"xclient", ForwardClient::Xclient},
              {"proxy-v1", ForwardClient::ProxyV1},
              {"proxy-v2", ForwardClient::ProxyV2}});
    if (const toml::node* source =
            r.choice("source", b.source,
                     {{"gateway", BackendSource::Gateway}, {"client", BackendSource::Client}})) {
      b.source_pos = pos_of(*source);
    }
    read_destination(r, destination, servers, b);
    r.finish();
    if (name == nullptr && b.destination == BackendDestination::Original) {
      diag.add(r.pos(), R"(backend.name: required with destination = "original")");
    }
    if (name == nullptr && !b.servers.empty()) {
      b.name = b.servers.front().to_string(); // unnamed: known by its first server
    }
    if (!b.name.empty() && config.find_backend(b.name) != nullptr) {
      diag.add(at_or(name, r), "duplicate backend name " + quote(b.name));
    }
    config.backends.push_back(std::move(b));
  });
}

// Reports a name that does not match any [[backend]]; silent when no backend loaded at all, as
// that has been reported already.
void check_backend_ref(TableReader& r, const toml::node* node, std::string_view key,
                       const std::string& name, const Config& config) {
  if (node == nullptr || name.empty() || config.backends.empty() ||
      config.find_backend(name) != nullptr) {
    return;
  }
  std::string known;
  for (const auto& b : config.backends) {
    known += (known.empty() ? "" : ", ") + quote(b.name);
  }
  r.diag().add(*node, r.name(key) + ": no [[backend]] named " + quote(name) + "; known: " + known);
}

// A transparent listener learns the client's destination from the firewall; a PROXY header
// would claim another one. A backend with destination = "original" needs that destination.
void check_transparent(TableReader& r, const toml::node* transparent,
                       const toml::node* backend_node, ListenerConfig& l, const Config& config) {
  if (transparent != nullptr) {
    l.transparent_pos = pos_of(*transparent);
  }
  if (transparent != nullptr && l.transparent && l.proxy_protocol) {
    r.diag().add(*transparent,
                 "listener.transparent: cannot be combined with proxy_protocol = true; a "
                 "transparent listener takes connections the firewall redirects, not a balancer's");
  }
  const BackendConfig* backend = config.find_backend(l.backend);
  if (!l.transparent && backend != nullptr && backend_node != nullptr &&
      backend->destination == BackendDestination::Original) {
    r.diag().add(*backend_node, r.name("backend") + ": " + quote(backend->name) +
                                    " has destination = \"original\", which needs "
                                    "transparent = true on this listener");
  }
}

void read_listeners(TableReader& root, Config& config) {
  Diagnostics& diag = root.diag();
  const toml::array* array =
      required_array(root, "listener",
                     R"([[listener]] bind = "0.0.0.0:995" mode = "implicit" backend = "legacy")");
  each_table(array, [&](const toml::table& table) {
    TableReader r(table, "listener", true, diag);
    ListenerConfig l;
    const toml::node* name = r.text("name", l.name);
    not_empty(r, name, "name");
    r.require("bind");
    const toml::node* bind = r.endpoint("bind", l.bind);
    if (bind != nullptr) {
      l.bind_pos = pos_of(*bind);
    }
    r.require("mode");
    r.choice("mode", l.mode,
             {{"implicit", ListenerMode::Implicit}, {"starttls", ListenerMode::StartTls}});
    r.require("backend");
    const toml::node* backend = r.text("backend", l.backend);
    check_backend_ref(r, backend, "backend", l.backend, config);
    const toml::node* proxy_protocol = r.flag("proxy_protocol", l.proxy_protocol);
    r.cidrs("proxy_trusted", l.proxy_trusted);
    const toml::node* transparent = r.flag("transparent", l.transparent);
    r.finish();
    check_transparent(r, transparent, backend, l, config);
    if (l.proxy_protocol && l.proxy_trusted.empty() && proxy_protocol != nullptr) {
      // Trusting every peer would let any client forge its address past bans and access lists.
      diag.add(*proxy_protocol, "listener.proxy_protocol: needs proxy_trusted, the CIDRs of the "
                                "load balancers allowed to send a PROXY header");
    }
    if (name == nullptr && bind != nullptr) {
      l.name = l.bind.to_string(); // unnamed: known by its address
    }
    for (const auto& other : config.listeners) {
      if (!l.name.empty() && other.name == l.name) {
        diag.add(at_or(name, r), "duplicate listener name " + quote(l.name));
      }
      if (bind != nullptr && other.bind_pos.line != 0 &&
          other.bind.to_string() == l.bind.to_string()) {
        diag.add(*bind, "listener.bind: " + l.bind.to_string() + " is already used by listener " +
                            quote(other.name));
      }
    }
    config.listeners.push_back(std::move(l));
  });
}

void read_certificate(const toml::table& table, Context& ctx, CertificateConfig& c) {
  TableReader r(table, "tls.certificate", true, ctx.diag);
  r.require("cert");
  if (const toml::node* cert = r.text("cert", c.cert)) {
    not_empty(r, cert, "cert");
    c.cert = ctx.resolve(c.cert);
    c.cert_pos = pos_of(*cert);
  }
  r.require("key");
  if (const toml::node* key = r.text("key", c.key)) {
    not_empty(r, key, "key");
    c.key = ctx.resolve(c.key);
    c.key_pos = pos_of(*key);
  }
  r.texts("server_names", c.server_names);
  r.finish();
}

void read_tls(TableReader& root, Context& ctx, TlsConfig& t) {
  const toml::node* present = root.take("tls");
  const toml::table* table = root.sub_table("tls");
  if (present == nullptr) {
    ctx.diag.add({1, 1}, "no [[tls.certificate]] configured; at least one is required, e.g. "
                         "[[tls.certificate]] cert = \"cert.pem\" key = \"key.pem\"");
    return;
  }
  if (table == nullptr) {
    return; // wrong type, reported
  }
  TableReader r(*table, "tls", false, ctx.diag);
  std::string_view min_version = "1.2";
  if (const toml::node* n =
          r.choice("min_version", min_version, {{"1.2", "1.2"}, {"1.3", "1.3"}})) {
    t.min_version = std::string(min_version);
    t.min_version_pos = pos_of(*n);
  }
  if (const toml::node* n = r.texts("ciphersuites", t.ciphersuites)) {
    t.ciphersuites_pos = pos_of(*n);
  }
  r.flag("session_tickets", t.session_tickets);
  r.duration("ticket_lifetime", t.ticket_lifetime, false);
  if (const toml::node* n = r.text("client_ca", t.client_ca)) {
    t.client_ca = ctx.resolve(t.client_ca);
    t.client_ca_pos = pos_of(*n);
  }
  if (const toml::node* n = r.text("ticket_key_file", t.ticket_key_file)) {
    if (!t.ticket_key_file.empty()) {
      t.ticket_key_file = ctx.resolve(t.ticket_key_file);
    }
    t.ticket_key_file_pos = pos_of(*n);
  }
  const toml::node* certificates = r.take("certificate");
  const toml::array* array = r.table_array("certificate");
  if (certificates == nullptr || (array != nullptr && array->empty())) {
    ctx.diag.add(certificates != nullptr ? pos_of(*certificates) : r.pos(),
                 "no [[tls.certificate]] configured; at least one is required, e.g. "
                 "[[tls.certificate]] cert = \"cert.pem\" key = \"key.pem\"");
  }
  each_table(array, [&](const toml::table& element) {
    read_certificate(element, ctx, t.certificates.emplace_back());
  });
  r.finish();
}

// RFC 1939 §3: keywords are case-insensitive, but the policy matches the upper-case form the
// codec produces, so the config must spell them that way.
void check_verbs(TableReader& r, const toml::node* node, const std::vector<std::string>& verbs) {
  if (node == nullptr) {
    return;
  }
  const toml::array& elements = *node->as_array();
  for (std::size_t i = 0; i < verbs.size(); ++i) {
    const std::string& verb = verbs[i];
    bool letters = !verb.empty() && verb.size() <= kMaxVerbLength;
    bool upper = true;
    std::string fixed;
    for (char c : verb) {
      letters = letters && std::isalpha(static_cast<unsigned char>(c)) != 0;
      upper = upper && std::isupper(static_cast<unsigned char>(c)) != 0;
      fixed += ascii::upper(c);
    }
    if (!letters) {
      r.diag().add(*elements.get(i), r.name("commands") + ": " + quote(verb) +
                                         " is not a POP3 command verb such as \"DELE\"");
    } else if (!upper) {
      r.diag().add(*elements.get(i), r.name("commands") + ": " + quote(verb) +
                                         " must be upper case: " + quote(fixed));
    }
  }
}

void read_rule(const toml::table& table, std::size_t index, Config& config, Diagnostics& diag) {
  TableReader r(table, "policy.rule", true, diag);
  policy::Rule rule;
  const toml::node* name = r.text("name", rule.name);
  not_empty(r, name, "name");
  if (name == nullptr) {
    rule.name = "rule-" + std::to_string(index + 1);
  }
  check_verbs(r, r.texts("commands", rule.commands), rule.commands);
  r.texts("users", rule.users);
  r.cidrs("clients", rule.clients);
  if (const toml::node* listeners = r.texts("listeners", rule.listeners)) {
    for (std::size_t i = 0; i < rule.listeners.size(); ++i) {
      bool found = false;
      for (const auto& l : config.listeners) {
        found = found || l.name == rule.listeners[i];
      }
      if (!found && !config.listeners.empty()) {
        diag.add(*listeners->as_array()->get(i),
                 r.name("listeners") + ": no [[listener]] named " + quote(rule.listeners[i]));
      }
    }
  }
  bool tls = false;
  if (r.flag("tls", tls)) {
    rule.tls = tls;
  }
  const toml::node* action = r.choice("action", rule.action,
                                      {{"allow", policy::Action::Allow},
                                       {"deny", policy::Action::Deny},
                                       {"close", policy::Action::Close},
                                       {"route", policy::Action::Route}});
  const toml::node* backend = r.text("backend", rule.backend);
  check_backend_ref(r, backend, "backend", rule.backend, config);
  if (const toml::node* reply = r.text("reply", rule.reply)) {
    // The reply goes to the client verbatim: one line, a negative status (RFC 1939 §3).
    if (rule.reply.rfind("-ERR", 0) != 0 ||
        rule.reply.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      diag.add(*reply, r.name("reply") + ": must be one line starting with \"-ERR\"");
    }
  }
  r.flag("dry_run", rule.dry_run);
  r.finish();
  if (rule.action == policy::Action::Route && rule.backend.empty() && backend == nullptr) {
    diag.add(at_or(action, r), R"(policy.rule: action "route" needs backend = "NAME")");
  }
  if (rule.action != policy::Action::Route && backend != nullptr) {
    diag.add(*backend, "policy.rule.backend: only used with action = \"route\"");
  }
  for (const auto& other : config.policy.rules) {
    if (name != nullptr && other.name == rule.name) {
      diag.add(*name, "duplicate rule name " + quote(rule.name));
    }
  }
  config.policy.rules.push_back(std::move(rule));
}

// [policy.ban] redis, redis_prefix: the store replicas share failures and bans through.
void read_ban_store(TableReader& b, BanConfig& ban) {
  std::string redis;
  if (const toml::node* node = b.text("redis", redis); node != nullptr && !redis.empty()) {
    ban.redis = RedisAddress::parse(redis);
    if (!ban.redis) {
      b.diag().add(*node, "policy.ban.redis: " + quote(redis) +
                              " is not a Redis address; write \"\" (bans per process), "
                              "\"host:port\" or \"unix:/absolute/path\": \"127.0.0.1:6379\", "
                              "\"[::1]:6379\", \"redis:6379\", \"unix:/run/redis/redis.sock\"");
    }
  }
  if (const toml::node* node = b.text("redis_prefix", ban.redis_prefix)) {
    // Keys are "<prefix>ban:<address>": printable, no spaces, so redis-cli shows them as they are.
    bool printable = ban.redis_prefix.size() <= 64 &&
                     std::all_of(ban.redis_prefix.begin(), ban.redis_prefix.end(),
                                 [](char c) { return c > ' ' && c < 0x7f; });
    if (!printable) {
      b.diag().add(*node, "policy.ban.redis_prefix: " + quote(ban.redis_prefix) +
                              " must be at most 64 printable characters without spaces, "
                              "such as \"popgate:\"");
      ban.redis_prefix = "popgate:";
    }
  }
}

void read_policy(const toml::table& table, Config& config, Diagnostics& diag) {
  PolicyConfig& p = config.policy;
  TableReader r(table, "policy", false, diag);
  r.flag("require_tls_for_auth", p.require_tls_for_auth);
  // RFC 1939 §3 asks for at least 10 minutes; a shorter value is the admin's explicit choice.
  r.duration("idle_timeout", p.idle_timeout, false);
  r.duration("auth_timeout", p.auth_timeout, false);
  r.count("max_line_length", p.max_line_length, kMinLineLength, kMaxLineLength,
          "CRLF included; RFC 2449 commands need 255, SASL responses more");
  r.count("max_auth_failures", p.max_auth_failures, 1, 1000);
  r.count("max_sessions_per_ip", p.max_sessions_per_ip, 1, 1'000'000);
  r.flag("hide_backend_banner", p.hide_backend_banner);
  if (const toml::table* ban = r.sub_table("ban")) {
    TableReader b(*ban, "policy.ban", false, diag);
    b.count("failures", p.ban.failures, 1, 1'000'000);
    b.duration("window", p.ban.window, false);
    b.duration("duration", p.ban.duration, false);
    b.cidrs("exempt", p.ban.exempt);
    read_ban_store(b, p.ban);
    b.finish();
  }
  if (const toml::table* access = r.sub_table("access")) {
    TableReader a(*access, "policy.access", false, diag);
    a.cidrs("allow", p.access.allow);
    a.cidrs("deny", p.access.deny);
    a.finish();
  }
  std::size_t index = 0;
  each_table(r.table_array("rule"),
             [&](const toml::table& rule) { read_rule(rule, index++, config, diag); });
  r.finish();
}

void read_metrics(const toml::table& table, Diagnostics& diag, MetricsConfig& m) {
  TableReader r(table, "metrics", false, diag);
  if (const toml::node* bind = r.text("bind", m.bind); bind && !m.bind.empty()) {
    if (!Endpoint::parse(m.bind)) {
      diag.add(*bind, "metrics.bind: " + quote(m.bind) +
                          " is not an address; write \"\" (off) or a numeric host and a port, "
                          "IPv6 in brackets: \"127.0.0.1:9110\", \"[::1]:9110\"");
    }
  }
  if (const toml::node* path = r.text("path", m.path)) {
    if (m.path.empty() || m.path.front() != '/' ||
        m.path.find_first_of(" \t\r\n?#") != std::string::npos) {
      diag.add(*path, "metrics.path: " + quote(m.path) +
                          R"( must be a URL path starting with "/", such as "/metrics")");
    }
  }
  r.finish();
}

// The socket's path must fit sockaddr_un (108 bytes with its NUL) and not depend on the
// directory popgate happens to start in.
constexpr std::size_t kMaxSocketPath = 107;

void read_admin(const toml::table& table, Diagnostics& diag, AdminConfig& a) {
  TableReader r(table, "admin", false, diag);
  if (const toml::node* socket = r.text("socket", a.socket); socket && !a.socket.empty()) {
    if (a.socket.front() != '/' || a.socket.size() > kMaxSocketPath) {
      diag.add(*socket, "admin.socket: " + quote(a.socket) +
                            " must be an absolute path of at most 107 bytes, such as "
                            "\"/run/popgate/admin.sock\" (\"\" = off)");
    }
  }
  std::string mode;
  if (const toml::node* node = r.text("mode", mode)) {
    bool octal = mode.size() >= 3 && mode.size() <= 4 &&
                 mode.find_first_not_of("01234567") == std::string::npos;
    unsigned value = octal ? static_cast<unsigned>(std::stoul(mode, nullptr, 8)) : 0;
    if (!octal || value > 0777) {
      diag.add(*node, "admin.mode: " + quote(mode) +
                          " is not a file mode; write octal permission bits, such as \"0660\"");
    } else {
      a.mode = value;
    }
  }
  r.text("group", a.group);
  r.finish();
}

Config build(const toml::table& root_table, const std::string& path, Diagnostics& diag) {
  Config config;
  config.path = path;
  Context ctx{diag, std::filesystem::path(path).parent_path()};
  TableReader root(root_table, "", false, diag);
  if (const toml::table* server = root.sub_table("server")) {
    read_server(*server, ctx, config.server);
  }
  // Backends first: listeners and rules refer to them by name.
  read_backends(root, config);
  read_listeners(root, config);
  read_tls(root, ctx, config.tls);
  if (const toml::table* policy = root.sub_table("policy")) {
    read_policy(*policy, config, diag);
  }
  if (const toml::table* metrics = root.sub_table("metrics")) {
    read_metrics(*metrics, diag, config.metrics);
  }
  if (const toml::table* admin = root.sub_table("admin")) {
    read_admin(*admin, diag, config.admin);
  }
  root.finish();
  return config;
}

} // namespace

ConfigResult load_config_text(std::string_view text, const std::string& path_for_messages) {
  Diagnostics diag(path_for_messages);
  try {
    toml::table root = toml::parse(text, std::string_view(path_for_messages));
    Config config = build(root, path_for_messages, diag);
    if (diag.empty()) {
      return config;
    }
  } catch (const toml::parse_error& e) {
    // toml++ stops at the first syntax error, so this is the only error reported.
    diag.add(pos_of(e.source()), std::string(e.description()));
  } catch (const std::exception& e) {
    diag.add({1, 1}, std::string("cannot load: ") + e.what());
  }
  return unexpected(diag.take_sorted());
}

ConfigResult load_config(const std::string& path) {
  auto fail = [&](int error) {
    return ConfigResult(unexpected(std::vector<ConfigError>{
        ConfigError{path, 1, 1, std::string("cannot read: ") + std::strerror(error)}}));
  };
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return fail(errno);
  }
  std::string text;
  std::array<char, 8192> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) {
    text.append(buffer.data(), n);
  }
  int error = std::ferror(file) != 0 ? errno : 0;
  std::fclose(file);
  if (error != 0) {
    return fail(error);
  }
  return load_config_text(text, path);
}

} // namespace popgate::proxy
