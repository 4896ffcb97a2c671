// Loading valid configs: every value round-trips, omitted keys take SPEC section 3's defaults,
// paths resolve against the config's folder, the shipped examples load; plus the errors that are
// about the file as a whole (syntax, missing sections, several errors at once, unreadable file).

#include "proxy/config/config_loader.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#ifndef POPGATE_SOURCE_DIR
#error "POPGATE_SOURCE_DIR must name the source tree, to find conf/"
#endif

namespace popgate::proxy {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

std::string dump(const ConfigResult& result) {
  std::string out;
  if (!result.has_value()) {
    for (const auto& e : result.error()) {
      out += e.to_string() + "\n";
    }
  }
  return out;
}

constexpr std::string_view kFull = R"(
[server]
workers = 4
max_connections = 500
shutdown_grace = "5s"
user = "popgate"
group = "mail"
log_format = "json"
log_level = "debug"

[tls]
min_version = "1.3"
ciphersuites = ["TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256"]
session_tickets = false
ticket_lifetime = "2h"
client_ca = "ca/clients.pem"

[[tls.certificate]]
cert = "certs/a.pem"
key = "/secret/a.key"
server_names = ["pop.example.com", "mail.example.com"]

[[tls.certificate]]
cert = "b.pem"
key = "b.key"

[[listener]]
name = "pop3s"
bind = "[::]:995"
mode = "implicit"
backend = "legacy"
proxy_protocol = true
proxy_trusted = ["10.0.0.0/8", "2001:db8::/32"]

[[listener]]
bind = "0.0.0.0:110"
mode = "starttls"
backend = "new"

[[backend]]
name = "legacy"
servers = ["192.0.2.10:110", "[2001:db8::10]:110"]
connect_timeout = "2s"
greeting_timeout = "3s"
forward_client = "xclient"
check_interval = "30s"

[[backend]]
name = "new"
servers = ["192.0.2.11:110"]
forward_client = "proxy-v2"
check_interval = "0"

[policy]
require_tls_for_auth = false
idle_timeout = "5m"
auth_timeout = "30s"
max_line_length = 2048
max_auth_failures = 5
max_sessions_per_ip = 7
hide_backend_banner = true

[policy.ban]
failures = 20
window = "1h"
duration = "1d"
redis = "[2001:db8::6]:6380"
redis_prefix = "mail-gw:"
exempt = ["198.51.100.7", "2001:db8:1::/48"]

[policy.access]
allow = ["192.0.2.0/24"]
deny = ["192.0.2.66"]

[[policy.rule]]
name = "archive-read-only"
commands = ["DELE"]
users = ["archive-*"]
clients = ["198.51.100.0/24"]
listeners = ["pop3s"]
tls = true
action = "deny"
reply = "-ERR [SYS/PERM] deletion is disabled here"
dry_run = true

[[policy.rule]]
users = ["migrated-*"]
tls = false
action = "route"
backend = "new"

[metrics]
bind = "[::1]:9110"
path = "/m"

[admin]
socket = "/run/popgate/admin.sock"
mode = "0600"
group = "popadm"
)";

TEST(ConfigLoader, FullConfigRoundTripsEveryValue) {
  auto result = load_config_text(kFull, "/etc/popgate/popgate.toml");
  ASSERT_TRUE(result.has_value()) << dump(result);
  const Config& c = result.value();
  EXPECT_EQ(c.path, "/etc/popgate/popgate.toml");

  EXPECT_EQ(c.server.workers, 4u);
  EXPECT_EQ(c.server.max_connections, 500u);
  EXPECT_EQ(c.server.shutdown_grace, seconds(5));
  EXPECT_EQ(c.server.user, "popgate");
  EXPECT_EQ(c.server.group, "mail");
  EXPECT_EQ(c.server.log_format, LogFormat::Json);
  EXPECT_EQ(c.server.log_level, LogLevel::Debug);

  EXPECT_EQ(c.tls.min_version, "1.3");
  EXPECT_EQ(c.tls.min_version_pos.line, 12u);
  EXPECT_EQ(c.tls.min_version_pos.column, 15u);
  ASSERT_EQ(c.tls.ciphersuites.size(), 1u);
  EXPECT_EQ(c.tls.ciphersuites[0], "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256");
  EXPECT_EQ(c.tls.ciphersuites_pos.line, 13u);
  EXPECT_EQ(c.tls.ciphersuites_pos.column, 16u);
  EXPECT_FALSE(c.tls.session_tickets);
  EXPECT_EQ(c.tls.ticket_lifetime, hours(2));
  EXPECT_EQ(c.tls.client_ca, "/etc/popgate/ca/clients.pem");
  EXPECT_EQ(c.tls.client_ca_pos.line, 16u);
  EXPECT_EQ(c.tls.client_ca_pos.column, 13u);
  ASSERT_EQ(c.tls.certificates.size(), 2u);
  EXPECT_EQ(c.tls.certificates[0].cert, "/etc/popgate/certs/a.pem");
  EXPECT_EQ(c.tls.certificates[0].key, "/secret/a.key");
  EXPECT_EQ(c.tls.certificates[0].cert_pos.line, 19u);
  EXPECT_EQ(c.tls.certificates[0].cert_pos.column, 8u);
  EXPECT_EQ(c.tls.certificates[0].key_pos.line, 20u);
  EXPECT_EQ(c.tls.certificates[0].key_pos.column, 7u);
  EXPECT_EQ(c.tls.certificates[0].server_names,
            (std::vector<std::string>{"pop.example.com", "mail.example.com"}));
  EXPECT_EQ(c.tls.certificates[1].cert, "/etc/popgate/b.pem");
  EXPECT_EQ(c.tls.certificates[1].key, "/etc/popgate/b.key");
  EXPECT_TRUE(c.tls.certificates[1].server_names.empty());

  ASSERT_EQ(c.listeners.size(), 2u);
  const ListenerConfig& l0 = c.listeners[0];
  EXPECT_EQ(l0.name, "pop3s");
  EXPECT_EQ(l0.bind.host, "::");
  EXPECT_EQ(l0.bind.port, 995);
  EXPECT_EQ(l0.bind_pos.line, 29u);
  EXPECT_EQ(l0.bind_pos.column, 8u);
  EXPECT_EQ(l0.mode, ListenerMode::Implicit);
  EXPECT_EQ(l0.backend, "legacy");
  EXPECT_TRUE(l0.proxy_protocol);
  ASSERT_EQ(l0.proxy_trusted.size(), 2u);
  EXPECT_TRUE(l0.proxy_trusted[0].contains(*Address::parse("10.1.2.3")));
  EXPECT_TRUE(l0.proxy_trusted[1].contains(*Address::parse("2001:db8::1")));
  const ListenerConfig& l1 = c.listeners[1];
  EXPECT_EQ(l1.name, "0.0.0.0:110"); // unnamed: its address
  EXPECT_EQ(l1.mode, ListenerMode::StartTls);
  EXPECT_EQ(l1.backend, "new");
  EXPECT_FALSE(l1.proxy_protocol);

  ASSERT_EQ(c.backends.size(), 2u);
  const BackendConfig& b0 = c.backends[0];
  EXPECT_EQ(b0.name, "legacy");
  ASSERT_EQ(b0.servers.size(), 2u);
  EXPECT_EQ(b0.servers[0].to_string(), "192.0.2.10:110");
  EXPECT_EQ(b0.servers[1].to_string(), "[2001:db8::10]:110");
  EXPECT_EQ(b0.connect_timeout, seconds(2));
  EXPECT_EQ(b0.greeting_timeout, seconds(3));
  EXPECT_EQ(b0.forward_client, ForwardClient::Xclient);
  EXPECT_EQ(c.backends[1].forward_client, ForwardClient::ProxyV2);
  EXPECT_EQ(b0.check_interval, seconds(30));
  EXPECT_EQ(c.backends[1].check_interval, milliseconds(0)); // "0": checks off
  EXPECT_EQ(c.find_backend("new"), &c.backends[1]);

  const PolicyConfig& p = c.policy;
  EXPECT_FALSE(p.require_tls_for_auth);
  EXPECT_EQ(p.idle_timeout, minutes(5));
  EXPECT_EQ(p.auth_timeout, seconds(30));
  EXPECT_EQ(p.max_line_length, 2048u);
  EXPECT_EQ(p.max_auth_failures, 5u);
  EXPECT_EQ(p.max_sessions_per_ip, 7u);
  EXPECT_TRUE(p.hide_backend_banner);
  EXPECT_EQ(p.ban.failures, 20u);
  EXPECT_EQ(p.ban.window, hours(1));
  EXPECT_EQ(p.ban.duration, hours(24));
  ASSERT_TRUE(p.ban.redis.has_value());
  EXPECT_EQ(p.ban.redis->host, "2001:db8::6");
  EXPECT_EQ(p.ban.redis->port, 6380);
  EXPECT_EQ(p.ban.redis_prefix, "mail-gw:");
  ASSERT_EQ(p.ban.exempt.size(), 2u);
  EXPECT_TRUE(p.ban.exempt[0].contains(*Address::parse("198.51.100.7")));
  EXPECT_FALSE(p.ban.exempt[0].contains(*Address::parse("198.51.100.8")));
  EXPECT_TRUE(p.ban.exempt[1].contains(*Address::parse("2001:db8:1:ff::1")));
  ASSERT_EQ(p.access.allow.size(), 1u);
  EXPECT_TRUE(p.access.allow[0].contains(*Address::parse("192.0.2.200")));
  ASSERT_EQ(p.access.deny.size(), 1u);
  EXPECT_TRUE(p.access.deny[0].contains(*Address::parse("192.0.2.66")));
  EXPECT_FALSE(p.access.deny[0].contains(*Address::parse("192.0.2.67")));

  ASSERT_EQ(p.rules.size(), 2u);
  const policy::Rule& r0 = p.rules[0];
  EXPECT_EQ(r0.name, "archive-read-only");
  EXPECT_EQ(r0.commands, std::vector<std::string>{"DELE"});
  EXPECT_EQ(r0.users, std::vector<std::string>{"archive-*"});
  ASSERT_EQ(r0.clients.size(), 1u);
  EXPECT_EQ(r0.listeners, std::vector<std::string>{"pop3s"});
  EXPECT_EQ(r0.tls, std::optional<bool>(true));
  EXPECT_EQ(r0.action, policy::Action::Deny);
  EXPECT_EQ(r0.reply, "-ERR [SYS/PERM] deletion is disabled here");
  EXPECT_TRUE(r0.dry_run);
  const policy::Rule& r1 = p.rules[1];
  EXPECT_EQ(r1.name, "rule-2"); // unnamed: its position
  EXPECT_EQ(r1.tls, std::optional<bool>(false));
  EXPECT_EQ(r1.action, policy::Action::Route);
  EXPECT_EQ(r1.backend, "new");
  EXPECT_FALSE(r1.dry_run);

  EXPECT_EQ(c.metrics.bind, "[::1]:9110");
  EXPECT_EQ(c.metrics.path, "/m");
  EXPECT_EQ(c.admin.socket, "/run/popgate/admin.sock");
  EXPECT_EQ(c.admin.mode, 0600u);
  EXPECT_EQ(c.admin.group, "popadm");
}

TEST(ConfigLoader, OmittedKeysTakeTheSpecDefaults) {
  auto result = load_config_text(R"(
[[tls.certificate]]
cert = "cert.pem"
key = "key.pem"
[[listener]]
bind = "0.0.0.0:995"
mode = "implicit"
backend = "127.0.0.1:110"
[[backend]]
servers = ["127.0.0.1:110"]
[[policy.rule]]
)",
                                 "popgate.toml");
  ASSERT_TRUE(result.has_value()) << dump(result);
  const Config& c = result.value();
  EXPECT_EQ(c.server.workers, 0u);
  EXPECT_EQ(c.server.max_connections, 20000u);
  EXPECT_EQ(c.server.shutdown_grace, seconds(30));
  EXPECT_EQ(c.server.user, "");
  EXPECT_EQ(c.server.group, "");
  EXPECT_EQ(c.server.log_format, LogFormat::Text);
  EXPECT_EQ(c.server.log_level, LogLevel::Info);

  EXPECT_EQ(c.tls.min_version, "1.2");
  EXPECT_EQ(c.tls.min_version_pos.line, 0u); // not written
  EXPECT_TRUE(c.tls.ciphersuites.empty());
  EXPECT_TRUE(c.tls.session_tickets);
  EXPECT_EQ(c.tls.ticket_lifetime, hours(1));
  EXPECT_EQ(c.tls.client_ca, "");
  ASSERT_EQ(c.tls.certificates.size(), 1u);
  EXPECT_EQ(c.tls.certificates[0].cert, "cert.pem"); // no folder in the config path
  EXPECT_TRUE(c.tls.certificates[0].server_names.empty());

  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].name, "0.0.0.0:995");
  EXPECT_FALSE(c.listeners[0].proxy_protocol);
  EXPECT_TRUE(c.listeners[0].proxy_trusted.empty());
  EXPECT_FALSE(c.listeners[0].transparent);

  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].name, "127.0.0.1:110"); // unnamed: its first server
  EXPECT_EQ(c.backends[0].connect_timeout, seconds(5));
  EXPECT_EQ(c.backends[0].greeting_timeout, seconds(10));
  EXPECT_EQ(c.backends[0].forward_client, ForwardClient::None);
  EXPECT_EQ(c.backends[0].source, BackendSource::Gateway);
  EXPECT_EQ(c.backends[0].destination, BackendDestination::Servers);
  EXPECT_EQ(c.backends[0].destination_port, 0);
  EXPECT_TRUE(c.backends[0].destinations_allowed.empty());
  EXPECT_EQ(c.backends[0].check_interval, seconds(10));

  EXPECT_TRUE(c.policy.require_tls_for_auth);
  EXPECT_EQ(c.policy.idle_timeout, minutes(10));
  EXPECT_EQ(c.policy.auth_timeout, seconds(60));
  EXPECT_EQ(c.policy.max_line_length, 1024u);
  EXPECT_EQ(c.policy.max_auth_failures, 3u);
  EXPECT_EQ(c.policy.max_sessions_per_ip, 50u);
  EXPECT_FALSE(c.policy.hide_backend_banner);
  EXPECT_EQ(c.policy.ban.failures, 10u);
  EXPECT_EQ(c.policy.ban.window, minutes(10));
  EXPECT_EQ(c.policy.ban.duration, minutes(30));
  EXPECT_FALSE(c.policy.ban.redis.has_value());
  EXPECT_EQ(c.policy.ban.redis_prefix, "popgate:");
  EXPECT_TRUE(c.policy.access.allow.empty());
  EXPECT_TRUE(c.policy.access.deny.empty());
  ASSERT_EQ(c.policy.rules.size(), 1u);
  const policy::Rule& r = c.policy.rules[0];
  EXPECT_EQ(r.name, "rule-1");
  EXPECT_TRUE(r.commands.empty());
  EXPECT_FALSE(r.tls.has_value());
  EXPECT_EQ(r.action, policy::Action::Allow);
  EXPECT_FALSE(r.dry_run);

  EXPECT_EQ(c.metrics.bind, "127.0.0.1:9110");
  EXPECT_EQ(c.metrics.path, "/metrics");
  EXPECT_TRUE(c.policy.ban.exempt.empty());
  EXPECT_EQ(c.admin.socket, ""); // off unless asked for
  EXPECT_EQ(c.admin.mode, 0660u);
  EXPECT_EQ(c.admin.group, "");
}

TEST(ConfigLoader, ShortIdleTimeoutIsAcceptedWhenSetExplicitly) {
  auto result = load_config_text(R"(
[policy]
idle_timeout = "30s"
[metrics]
bind = ""
[[tls.certificate]]
cert = "c"
key = "k"
[[listener]]
bind = "127.0.0.1:1"
mode = "starttls"
backend = "b"
[[backend]]
name = "b"
servers = ["127.0.0.1:2"]
)",
                                 "x.toml");
  ASSERT_TRUE(result.has_value()) << dump(result);
  EXPECT_EQ(result->policy.idle_timeout, seconds(30));
  EXPECT_EQ(result->metrics.bind, ""); // off
}

TEST(ConfigLoader, TransparentModeKeysLoad) {
  auto result = load_config_text(R"(
[[tls.certificate]]
cert = "c"
key = "k"
[[listener]]
name = "intercept"
bind = "0.0.0.0:10995"
mode = "implicit"
backend = "subnet"
transparent = true
[[backend]]
name = "subnet"
source = "client"
destination = "original"
destination_port = 110
destinations_allowed = ["192.0.2.0/24", "2001:db8::/32"]
[[backend]]
name = "fixed"
servers = ["192.0.2.1:110"]
source = "client"
)",
                                 "t.toml");
  ASSERT_TRUE(result.has_value()) << dump(result);
  const Config& c = result.value();
  EXPECT_TRUE(c.listeners[0].transparent);
  EXPECT_EQ(c.listeners[0].transparent_pos.line, 10u);
  const BackendConfig& subnet = c.backends[0];
  EXPECT_EQ(subnet.source, BackendSource::Client);
  EXPECT_EQ(subnet.source_pos.line, 13u);
  EXPECT_EQ(subnet.destination, BackendDestination::Original);
  EXPECT_EQ(subnet.destination_port, 110);
  EXPECT_TRUE(subnet.servers.empty());
  ASSERT_EQ(subnet.destinations_allowed.size(), 2u);
  EXPECT_TRUE(subnet.destinations_allowed[0].contains(*Address::parse("192.0.2.7")));
  EXPECT_TRUE(subnet.destinations_allowed[1].contains(*Address::parse("2001:db8::110")));
  EXPECT_EQ(c.backends[1].source, BackendSource::Client);
  EXPECT_EQ(c.backends[1].destination, BackendDestination::Servers);
}

TEST(ConfigLoader, RelativePathsResolveAgainstTheConfigFolder) {
  auto result = load_config_text(R"(
[tls]
client_ca = "../ca.pem"
[[tls.certificate]]
cert = "sub/./cert.pem"
key = "/abs/key.pem"
[[listener]]
bind = "127.0.0.1:1"
mode = "implicit"
backend = "b"
[[backend]]
name = "b"
servers = ["127.0.0.1:2"]
)",
                                 "conf/popgate/popgate.toml");
  ASSERT_TRUE(result.has_value()) << dump(result);
  EXPECT_EQ(result->tls.client_ca, "conf/ca.pem");
  EXPECT_EQ(result->tls.certificates[0].cert, "conf/popgate/sub/cert.pem");
  EXPECT_EQ(result->tls.certificates[0].key, "/abs/key.pem");
}

TEST(ConfigLoader, MissingSectionsAreReportedAtTheTop) {
  auto result = load_config_text("[server]\nworkers = 1\n", "empty.toml");
  ASSERT_FALSE(result.has_value());
  const auto& errors = result.error();
  ASSERT_EQ(errors.size(), 3u) << dump(result);
  for (const auto& e : errors) {
    EXPECT_EQ(e.line, 1u);
    EXPECT_EQ(e.column, 1u);
  }
  EXPECT_NE(errors[0].message.find("no [[backend]] configured"), std::string::npos);
  EXPECT_NE(errors[1].message.find("no [[listener]] configured"), std::string::npos);
  EXPECT_NE(errors[2].message.find("no [[tls.certificate]] configured"), std::string::npos);
}

TEST(ConfigLoader, EmptyArraysAndATlsTableWithoutCertificatesAreReportedWhereWritten) {
  auto result = load_config_text(R"(listener = []
backend = []
[tls]
min_version = "1.2"
)",
                                 "e.toml");
  ASSERT_FALSE(result.has_value());
  const auto& errors = result.error();
  ASSERT_EQ(errors.size(), 3u) << dump(result);
  EXPECT_EQ(errors[0].to_string().substr(0, 13), "e.toml:1:12: ");
  EXPECT_NE(errors[0].message.find("no [[listener]]"), std::string::npos);
  EXPECT_EQ(errors[1].to_string().substr(0, 12), "e.toml:2:11:");
  EXPECT_NE(errors[1].message.find("no [[backend]]"), std::string::npos);
  EXPECT_EQ(errors[2].to_string().substr(0, 11), "e.toml:3:1:");
  EXPECT_NE(errors[2].message.find("no [[tls.certificate]]"), std::string::npos);
}

TEST(ConfigLoader, SingleBracketCertificateTableIsRefused) {
  auto result = load_config_text(R"([tls.certificate]
cert = "a.pem"
key = "a.key"
[[listener]]
bind = "127.0.0.1:1"
mode = "implicit"
backend = "b"
[[backend]]
name = "b"
servers = ["127.0.0.1:2"]
)",
                                 "t.toml");
  ASSERT_FALSE(result.has_value());
  ASSERT_EQ(result.error().size(), 1u) << dump(result);
  EXPECT_EQ(result.error()[0].to_string(),
            "t.toml:1:1: tls.certificate: expected an array of tables [[tls.certificate]], got a "
            "table");
}

TEST(ConfigLoader, SeveralErrorsAreReportedTogetherInFileOrder) {
  auto result = load_config_text(R"([server]
workers = -1
log_level = "loud"
[[tls.certificate]]
cert = "c"
[[listener]]
bnd = "127.0.0.1:1"
mode = "implicit"
backend = "missing"
[[backend]]
name = "b"
servers = ["127.0.0.1:99999"]
[policy]
idle_timeout = "10 minutes"
)",
                                 "many.toml");
  ASSERT_FALSE(result.has_value());
  std::vector<std::string> got;
  for (const auto& e : result.error()) {
    got.push_back(e.file + ":" + std::to_string(e.line) + ":" + std::to_string(e.column));
  }
  std::vector<std::string> want = {
      "many.toml:2:11",  // workers out of range
      "many.toml:3:13",  // log_level
      "many.toml:4:1",   // certificate without key
      "many.toml:6:1",   // listener without bind
      "many.toml:7:1",   // unknown key bnd
      "many.toml:9:11",  // unknown backend
      "many.toml:12:12", // bad port
      "many.toml:14:16", // bad duration
  };
  EXPECT_EQ(got, want) << dump(result);
}

TEST(ConfigLoader, SyntaxErrorReportsTheParsersPosition) {
  auto result = load_config_text("[server]\nworkers = 1\nlog_level = \"info\n", "bad.toml");
  ASSERT_FALSE(result.has_value());
  ASSERT_EQ(result.error().size(), 1u) << dump(result);
  const ConfigError& e = result.error()[0];
  EXPECT_EQ(e.file, "bad.toml");
  EXPECT_EQ(e.line, 3u) << e.to_string();
  EXPECT_GT(e.column, 1u) << e.to_string();
  EXPECT_FALSE(e.message.empty());
}

TEST(ConfigLoader, RedefinedKeyIsASyntaxError) {
  auto result = load_config_text("[server]\nworkers = 1\nworkers = 2\n", "dup.toml");
  ASSERT_FALSE(result.has_value());
  ASSERT_EQ(result.error().size(), 1u) << dump(result);
  EXPECT_EQ(result.error()[0].line, 3u) << dump(result);
}

TEST(ConfigLoader, MissingFileIsOneErrorAtTheTop) {
  auto result = load_config("/nonexistent/popgate.toml");
  ASSERT_FALSE(result.has_value());
  ASSERT_EQ(result.error().size(), 1u);
  EXPECT_EQ(result.error()[0].to_string(),
            "/nonexistent/popgate.toml:1:1: cannot read: No such file or directory");
}

TEST(ConfigLoader, DirectoryIsOneErrorAtTheTop) {
  auto result = load_config(POPGATE_SOURCE_DIR "/conf");
  ASSERT_FALSE(result.has_value());
  ASSERT_EQ(result.error().size(), 1u);
  EXPECT_NE(result.error()[0].to_string().find(":1:1: cannot read: Is a directory"),
            std::string::npos)
      << result.error()[0].to_string();
}

TEST(ConfigLoader, ProductionExampleLoads) {
  auto result = load_config(POPGATE_SOURCE_DIR "/conf/popgate.toml");
  ASSERT_TRUE(result.has_value()) << dump(result);
  const Config& c = result.value();
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].bind.port, 995);
  EXPECT_EQ(c.listeners[0].mode, ListenerMode::Implicit);
  EXPECT_EQ(c.listeners[1].bind.port, 110);
  EXPECT_EQ(c.listeners[1].mode, ListenerMode::StartTls);
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].servers[0].to_string(), "192.0.2.10:110");
  ASSERT_EQ(c.policy.rules.size(), 1u);
  EXPECT_EQ(c.policy.rules[0].name, "archive-read-only");
  EXPECT_EQ(c.policy.rules[0].action, policy::Action::Deny);
  EXPECT_EQ(c.metrics.bind, "127.0.0.1:9110");
  ASSERT_EQ(c.tls.certificates.size(), 1u);
  EXPECT_EQ(c.tls.certificates[0].cert.rfind("/etc/popgate/", 0), 0u);
}

TEST(ConfigLoader, DemoConfigLoads) {
  auto result = load_config(POPGATE_SOURCE_DIR "/conf/demo.toml");
  ASSERT_TRUE(result.has_value()) << dump(result);
  const Config& c = result.value();
  EXPECT_EQ(c.server.workers, 1u);
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].name, "pop3s");
  EXPECT_EQ(c.listeners[0].bind.to_string(), "127.0.0.1:10995");
  EXPECT_EQ(c.listeners[1].name, "pop3");
  EXPECT_EQ(c.listeners[1].bind.to_string(), "127.0.0.1:10110");
  EXPECT_EQ(c.listeners[1].mode, ListenerMode::StartTls);
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].name, "dovecot");
  EXPECT_EQ(c.backends[0].servers[0].to_string(), "127.0.0.1:10111");
  EXPECT_EQ(c.metrics.bind, "127.0.0.1:19110");
  EXPECT_EQ(c.tls.certificates[0].cert, POPGATE_SOURCE_DIR "/conf/cert.pem");
  EXPECT_EQ(c.tls.certificates[0].key, POPGATE_SOURCE_DIR "/conf/key.pem");
}

} // namespace
} // namespace popgate::proxy
