#include "proxy/server/session_log.hpp"

#include "proxy/server/log.hpp"

#include <array>
#include <vector>

namespace popgate::proxy {

void write_core_log(const session::Log& entry, LogRateLimit& limit, Millis now) {
  static constexpr std::array kLevels = {LogLevel::Debug, LogLevel::Info, LogLevel::Warn};
  auto level = kLevels[static_cast<std::size_t>(entry.level)];
  if (!log::enabled(level)) {
    return;
  }
  std::uint64_t suppressed = 0;
  if (entry.rate_limited && !limit.admit(now, suppressed)) {
    return;
  }
  std::vector<log::Field> fields;
  fields.reserve(entry.fields.size() + 1);
  for (const auto& f : entry.fields) {
    fields.push_back(log::field(f.key, f.value));
  }
  if (suppressed > 0) {
    fields.push_back(log::number("suppressed_before", static_cast<long long>(suppressed)));
  }
  log::write(level, entry.event, entry.message, fields);
}

namespace {

long long ms(Millis m) { return static_cast<long long>(m.count()); }
long long n(std::uint64_t v) { return static_cast<long long>(v); }

} // namespace

// Always: session, client, local, listener, user, tls, cipher, resumed, backend, server,
// source, servers_tried, duration_s, bytes_in, bytes_out, commands, auth_failures, retr,
// retr_bytes, dele, end. Only where they apply: balancer (PROXY), auth (a login succeeded), sni,
// handshake_ms (TLS), connect_ms (a backend connection was made). README: "Log fields".
void log_session_end(const session::Record& record, std::string_view listener, double duration_s,
                     ClientBytes bytes, session::CloseReason reason) {
  std::vector<log::Field> f;
  f.reserve(26);
  auto optional = [&](std::string_view key, std::string_view value) {
    if (!value.empty()) {
      f.push_back(log::field(key, value));
    }
  };
  f.push_back(log::field("session", record.id));
  f.push_back(log::field("client", record.client));
  f.push_back(log::field("local", record.local));
  optional("balancer", record.balancer);
  f.push_back(log::field("listener", listener));
  f.push_back(log::field("user", record.user));
  optional("auth", record.auth);
  f.push_back(log::number("auth_failures", static_cast<long long>(record.auth_failures)));
  f.push_back(log::field("tls", record.tls_version));
  f.push_back(log::field("cipher", record.tls_cipher));
  f.push_back(log::field("resumed", record.tls_resumed ? "yes" : "no"));
  optional("sni", record.sni);
  if (record.handshake) {
    f.push_back(log::number("handshake_ms", ms(*record.handshake)));
  }
  f.push_back(log::field("backend", record.backend));
  f.push_back(log::field("server", record.server));
  f.push_back(log::field("source", record.source));
  f.push_back(log::number("servers_tried", static_cast<long long>(record.servers_tried)));
  if (record.connect) {
    f.push_back(log::number("connect_ms", ms(*record.connect)));
  }
  f.push_back(log::number("duration_s", duration_s));
  f.push_back(log::number("bytes_in", n(bytes.in)));
  f.push_back(log::number("bytes_out", n(bytes.out)));
  f.push_back(log::number("commands", n(record.commands)));
  f.push_back(log::number("retr", n(record.retr)));
  f.push_back(log::number("retr_bytes", n(record.retr_bytes)));
  f.push_back(log::number("dele", n(record.dele)));
  f.push_back(log::field("end", to_string(reason)));
  log::write(LogLevel::Info, "session", "session ended", f);
}

} // namespace popgate::proxy
