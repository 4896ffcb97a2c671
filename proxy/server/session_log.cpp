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

void log_session_end(const session::Record& record, std::string_view listener, double duration_s,
                     ClientBytes bytes, session::CloseReason reason) {
  log::info("session", "session ended",
            {log::field("client", record.client), log::field("listener", listener),
             log::field("user", record.user), log::field("tls", record.tls_version),
             log::field("cipher", record.tls_cipher),
             log::field("resumed", record.tls_resumed ? "yes" : "no"),
             log::field("backend", record.backend), log::field("server", record.server),
             log::number("duration_s", duration_s),
             log::number("bytes_in", static_cast<long long>(bytes.in)),
             log::number("bytes_out", static_cast<long long>(bytes.out)),
             log::number("commands", static_cast<long long>(record.commands)),
             log::field("end", to_string(reason))});
}

} // namespace popgate::proxy
