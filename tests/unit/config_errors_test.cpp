// Every kind of config error is reported at the right FILE:LINE:COL with a message that says what
// to write instead. Each case is a snippet placed at the top of an otherwise valid config, so its
// line numbers are the snippet's own, and it must produce exactly one error.

#include "proxy/config/config_loader.hpp"

#include "case_name.hpp"

#include <array>
#include <gtest/gtest.h>

#include <cctype>
#include <ostream>

#include <string>
#include <string_view>

namespace popgate::proxy {
namespace {

// A minimal valid config; starts with a table header so that snippet keys never run into it.
constexpr std::string_view kBase = R"(
[[backend]]
name = "legacy"
servers = ["127.0.0.1:110"]

[[listener]]
name = "base"
bind = "127.0.0.1:10995"
mode = "implicit"
backend = "legacy"

[[tls.certificate]]
cert = "cert.pem"
key = "key.pem"
)";

struct Case {
  std::string_view name;
  std::string_view toml;
  std::uint32_t line;
  std::uint32_t column;
  std::string_view message_fragment;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

const auto kCases = std::to_array<Case>({
    // Unknown keys.
    {"an unknown listener key suggests the closest known one", R"([[listener]]
bnd = "127.0.0.1:1"
bind = "127.0.0.1:2"
mode = "implicit"
backend = "legacy")",
     2, 1, "unknown key 'bnd' in [[listener]]; did you mean 'bind'?"},
    {"an unknown top-level key is named at the top level", R"(listners = [])", 1, 1,
     "unknown key 'listners' at the top level; did you mean 'listener'?"},
    {"an unknown key in a sub-table is found", R"([policy.ban]
failure = 5)",
     2, 1, "unknown key 'failure' in [policy.ban]; did you mean 'failures'?"},
    {"an unknown key far from any known one gets no suggestion", R"([metrics]
colour = "blue")",
     2, 1, "unknown key 'colour' in [metrics]"},

    {"control characters in an unknown key are escaped", R"("x\ty" = 1)", 1, 1,
     "unknown key 'x\\x09y' at the top level"},

    // Wrong types.
    {"a string where an integer belongs is a type error at the value", R"([server]
workers = "4")",
     2, 11, "server.workers: expected an integer, got a string"},
    {"a float min_version is a type error", R"([tls]
min_version = 1.3)",
     2, 15, "tls.min_version: expected a string, got a floating-point number"},
    {"a bare number as a duration asks for a unit", R"([policy]
idle_timeout = 600)",
     2, 16, "policy.idle_timeout: expected a duration string such as \"30s\""},
    {"a non-string in a string array is reported at the element", R"([[policy.rule]]
users = ["archive-*", 7])",
     2, 23, "policy.rule.users: expected an array of strings, found an integer"},
    {"log_empty_sessions must be a boolean", R"([server]
log_empty_sessions = "yes")",
     2, 22, "expected true or false, got a string"},
    {"a boolean written as a string is a type error", R"([policy]
hide_backend_banner = "yes")",
     2, 23, "expected true or false, got a string"},
    {"[[server]] is not a table", R"([[server]]
workers = 1)",
     1, 1, "server: expected a table [server], got an array"},

    // Ranges.
    {"too many workers are out of range", R"([server]
workers = 300)",
     2, 11, "server.workers: 300 is out of range; use 0 to 256"},
    {"a negative count is out of range", R"([policy]
max_auth_failures = -1)",
     2, 21, "policy.max_auth_failures: -1 is out of range; use 1 to 1000"},
    {"max_line_length below 512 is refused", R"([policy]
max_line_length = 255)",
     2, 19, "policy.max_line_length: 255 is out of range; use 512 to 65536"},
    {"max_line_length above 65536 is refused", R"([policy]
max_line_length = 70000)",
     2, 19, "use 512 to 65536"},

    // Durations.
    {"an unknown duration unit is refused", R"([server]
shutdown_grace = "30x")",
     2, 18, "server.shutdown_grace: \"30x\" is not a duration"},
    {"a zero timeout is refused where it makes no sense", R"([policy]
auth_timeout = "0")",
     2, 16, "policy.auth_timeout: must be greater than 0"},
    {"a zero connect timeout is refused", R"([[backend]]
name = "b2"
servers = ["127.0.0.1:111"]
connect_timeout = "0s")",
     4, 19, "backend.connect_timeout: must be greater than 0"},

    // [policy.ban] shared store.
    {"a Redis address without a port is refused", R"([policy.ban]
redis = "localhost")",
     2, 9, "policy.ban.redis: \"localhost\" is not a Redis address"},
    {"a Redis unix socket needs an absolute path", R"([policy.ban]
redis = "unix:redis.sock")",
     2, 9, R"(write "" (bans per process), "host:port" or "unix:/absolute/path")"},
    {"an IPv6 Redis address needs brackets", R"([policy.ban]
redis = "::1:6379")",
     2, 9, "policy.ban.redis: \"::1:6379\" is not a Redis address"},
    {"a Redis prefix with a space is refused", R"([policy.ban]
redis_prefix = "pop gate:")",
     2, 16, "policy.ban.redis_prefix: \"pop gate:\" must be at most 64 printable characters"},

    // Addresses and CIDRs.
    {"a port above 65535 is not an address", R"([[listener]]
bind = "1.2.3.4:99999"
mode = "implicit"
backend = "legacy")",
     2, 8, "listener.bind: \"1.2.3.4:99999\" is not an address"},
    {"an IPv6 server without brackets is not an address", R"([[backend]]
name = "v6"
servers = ["127.0.0.1:110", "::1:110"])",
     3, 29, "backend.servers: \"::1:110\" is not an address"},
    {"a host name is not an address", R"([metrics]
bind = "localhost:9110")",
     2, 8, "metrics.bind: \"localhost:9110\" is not an address"},
    {"a prefix longer than 32 bits is not an IPv4 CIDR", R"([policy.access]
deny = ["10.0.0.0/33"])",
     2, 9, "policy.access.deny: \"10.0.0.0/33\" is not a CIDR block"},

    // Enumerations name the allowed values.
    {"an unknown listener mode names the modes", R"([[listener]]
bind = "127.0.0.1:2"
mode = "tls"
backend = "legacy")",
     3, 8, R"(listener.mode: "tls" is not one of "implicit", "starttls")"},
    {"an unknown forward_client names the choices", R"([[backend]]
name = "b2"
servers = ["127.0.0.1:111"]
forward_client = "proxy")",
     4, 18, R"("proxy" is not one of "none", "xclient", "proxy-v1", "proxy-v2")"},
    {"an unknown rule action names the actions", R"([[policy.rule]]
action = "reject")",
     2, 10, R"("reject" is not one of "allow", "deny", "close", "route")"},
    {"an unknown log format names the formats", R"([server]
log_format = "xml")",
     2, 14, R"(server.log_format: "xml" is not one of "text", "json")"},
    {"an unknown log level names the levels", R"([server]
log_level = "trace")",
     2, 13, R"("trace" is not one of "debug", "info", "warn", "error")"},
    {"TLS 1.1 is not a choice", R"([tls]
min_version = "1.1")",
     2, 15, R"(tls.min_version: "1.1" is not one of "1.2", "1.3")"},

    // Required keys.
    {"a listener without bind is reported at its table", R"([[listener]]
mode = "implicit"
backend = "legacy")",
     1, 1, "missing required key 'bind' in [[listener]]"},
    {"a listener without mode is reported at its table", R"(
[[listener]]
bind = "127.0.0.1:2"
backend = "legacy")",
     2, 1, "missing required key 'mode' in [[listener]]"},
    {"a listener without backend is reported at its table", R"([[listener]]
bind = "127.0.0.1:2"
mode = "starttls")",
     1, 1, "missing required key 'backend' in [[listener]]"},
    {"a backend without servers is reported at its table", R"([[backend]]
name = "b2")",
     1, 1, "missing required key 'servers' in [[backend]]"},
    {"a backend with no servers is refused", R"([[backend]]
name = "b2"
servers = [])",
     3, 11, "backend.servers: needs at least one"},
    {"a certificate without key is reported at its table", R"([[tls.certificate]]
cert = "a.pem")",
     1, 1, "missing required key 'key' in [[tls.certificate]]"},
    {"a certificate without cert is reported at its table", R"([[tls.certificate]]
key = "a.key")",
     1, 1, "missing required key 'cert' in [[tls.certificate]]"},
    {"an empty certificate path is refused", R"([[tls.certificate]]
cert = ""
key = "a.key")",
     2, 8, "tls.certificate.cert: must not be empty"},

    // References and duplicates.
    {"a listener naming an unknown backend is refused", R"([[listener]]
bind = "127.0.0.1:2"
mode = "implicit"
backend = "nope")",
     4, 11, R"(listener.backend: no [[backend]] named "nope"; known: "legacy")"},
    {"a route rule naming an unknown backend is refused", R"([[policy.rule]]
action = "route"
backend = "nope")",
     3, 11, "policy.rule.backend: no [[backend]] named \"nope\""},
    {"a rule naming an unknown listener is refused", R"([[policy.rule]]
listeners = ["base", "pop3x"]
action = "deny")",
     2, 22, "policy.rule.listeners: no [[listener]] named \"pop3x\""},
    {"a duplicate listener name is reported at the second", R"([[listener]]
name = "dup"
bind = "127.0.0.1:2"
mode = "implicit"
backend = "legacy"
[[listener]]
name = "dup"
bind = "127.0.0.1:3"
mode = "implicit"
backend = "legacy")",
     7, 8, "duplicate listener name \"dup\""},
    {"a duplicate bind address is reported at the second", R"([[listener]]
name = "one"
bind = "127.0.0.1:2"
mode = "implicit"
backend = "legacy"
[[listener]]
name = "two"
bind = "127.0.0.1:2"
mode = "starttls"
backend = "legacy")",
     8, 8, "listener.bind: 127.0.0.1:2 is already used by listener \"one\""},
    {"a duplicate backend name is reported at the second", R"([[backend]]
name = "b2"
servers = ["127.0.0.1:111"]
[[backend]]
name = "b2"
servers = ["127.0.0.1:112"])",
     5, 8, "duplicate backend name \"b2\""},
    {"a duplicate rule name is reported at the second", R"([[policy.rule]]
name = "r"
[[policy.rule]]
name = "r")",
     4, 8, "duplicate rule name \"r\""},

    // Rules.
    {"route without backend is refused at the action", R"([[policy.rule]]
action = "route")",
     2, 10, R"(policy.rule: action "route" needs backend = "NAME")"},
    {"a backend on a deny rule is refused", R"([[policy.rule]]
action = "deny"
backend = "legacy")",
     3, 11, "policy.rule.backend: only used with action = \"route\""},
    {"a lower-case verb is refused with its upper-case spelling", R"([[policy.rule]]
commands = ["DELE", "retr"])",
     2, 21, R"(policy.rule.commands: "retr" must be upper case: "RETR")"},
    {"a verb with a space is not a verb", R"([[policy.rule]]
commands = ["DE LE"])",
     2, 13, "\"DE LE\" is not a POP3 command verb"},
    {"a reply must be a negative status", R"([[policy.rule]]
action = "deny"
reply = "+OK fine")",
     3, 9, "policy.rule.reply: must be one line starting with \"-ERR\""},
    {"a reply must be one line", R"([[policy.rule]]
action = "deny"
reply = "-ERR no\r\n+OK")",
     3, 9, "must be one line"},

    // Listeners.
    {"proxy_protocol needs trusted peers", R"([[listener]]
bind = "127.0.0.1:2"
mode = "implicit"
backend = "legacy"
proxy_protocol = true)",
     5, 18, "listener.proxy_protocol: needs proxy_trusted"},

    // Transparent mode.
    {"destination original needs destinations_allowed", R"([[backend]]
name = "subnet"
destination = "original")",
     3, 15, R"(backend.destination: "original" needs destinations_allowed)"},
    {"an empty destinations_allowed is pointed at", R"([[backend]]
name = "subnet"
destination = "original"
destinations_allowed = [])",
     4, 24, R"(backend.destination: "original" needs destinations_allowed)"},
    {"servers and destination original exclude each other", R"([[backend]]
name = "subnet"
destination = "original"
destinations_allowed = ["192.0.2.0/24"]
servers = ["192.0.2.1:110"])",
     5, 11, R"(backend.servers: not used with destination = "original")"},
    {"destination original needs a name", R"([[backend]]
destination = "original"
destinations_allowed = ["192.0.2.0/24"])",
     1, 1, R"(backend.name: required with destination = "original")"},
    {"destinations_allowed needs destination original", R"([[backend]]
name = "fixed"
servers = ["192.0.2.1:110"]
destinations_allowed = ["192.0.2.0/24"])",
     4, 24, R"(backend.destinations_allowed: only used with destination = "original")"},
    {"destination_port needs destination original", R"([[backend]]
name = "fixed"
servers = ["192.0.2.1:110"]
destination_port = 110)",
     4, 20, R"(backend.destination_port: only used with destination = "original")"},
    {"destination_port is a port", R"([[backend]]
name = "subnet"
destination = "original"
destinations_allowed = ["192.0.2.0/24"]
destination_port = 70000)",
     5, 20, "backend.destination_port"},
    {"a destination is servers or original", R"([[backend]]
name = "fixed"
servers = ["192.0.2.1:110"]
destination = "dialled")",
     4, 15, R"(backend.destination: "dialled" is not one of "servers", "original")"},
    {"a source is gateway or client", R"([[backend]]
name = "fixed"
servers = ["192.0.2.1:110"]
source = "clientip")",
     4, 10, R"(backend.source: "clientip" is not one of "gateway", "client")"},
    {"a transparent listener takes no PROXY header", R"([[listener]]
bind = "127.0.0.1:2"
mode = "implicit"
backend = "legacy"
proxy_protocol = true
proxy_trusted = ["192.0.2.0/24"]
transparent = true)",
     7, 15, "listener.transparent: cannot be combined with proxy_protocol = true"},
    {"destination original needs a transparent listener", R"([[backend]]
name = "subnet"
destination = "original"
destinations_allowed = ["192.0.2.0/24"]
[[listener]]
bind = "127.0.0.1:2"
mode = "implicit"
backend = "subnet")",
     8, 11, R"(listener.backend: "subnet" has destination = "original", which needs transparent)"},

    // Metrics.
    {"a metrics path must start with a slash", R"([metrics]
path = "metrics")",
     2, 8, R"(metrics.path: "metrics" must be a URL path starting with "/")"},

    // Admin socket and ban exemptions.
    {"a relative admin socket path is refused", R"([admin]
socket = "admin.sock")",
     2, 10, R"(admin.socket: "admin.sock" must be an absolute path)"},
    {"an admin socket path too long for sockaddr_un is refused", R"([admin]
socket = "/run/popgate/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789.sock")",
     2, 10, "must be an absolute path of at most 107 bytes"},
    {"an admin mode must be octal", R"([admin]
mode = "rw-rw----")",
     2, 8, R"(admin.mode: "rw-rw----" is not a file mode)"},
    {"an admin mode beyond permission bits is refused", R"([admin]
mode = "4770")",
     2, 8, R"(admin.mode: "4770" is not a file mode)"},
    {"a ban exemption must be a CIDR", R"([policy.ban]
exempt = ["webmail.example.com"])",
     2, 11, "policy.ban.exempt"},
});

class ConfigErrorTest : public testing::TestWithParam<Case> {};

TEST_P(ConfigErrorTest, ReportsOneErrorAtItsPosition) {
  const Case& c = GetParam();
  std::string text = std::string(c.toml) + "\n" + std::string(kBase);
  auto result = load_config_text(text, "test.toml");
  ASSERT_FALSE(result.has_value()) << text;
  const auto& errors = result.error();
  ASSERT_EQ(errors.size(), 1u) << errors.front().to_string() << "\n"
                               << (errors.size() > 1 ? errors[1].to_string() : "");
  const ConfigError& e = errors.front();
  EXPECT_EQ(e.file, "test.toml");
  EXPECT_EQ(e.line, c.line) << e.to_string();
  EXPECT_EQ(e.column, c.column) << e.to_string();
  EXPECT_NE(e.message.find(c.message_fragment), std::string::npos) << e.to_string();
  EXPECT_EQ(e.to_string().rfind(
                "test.toml:" + std::to_string(c.line) + ":" + std::to_string(c.column) + ": ", 0),
            0u);
}

INSTANTIATE_TEST_SUITE_P(Config, ConfigErrorTest, testing::ValuesIn(kCases), test::CaseName());

// The base really is valid, or every case above would be testing the wrong thing.
TEST(ConfigErrorBase, BaseIsValid) {
  auto result = load_config_text(kBase, "test.toml");
  ASSERT_TRUE(result.has_value()) << result.error().front().to_string();
}

} // namespace
} // namespace popgate::proxy
