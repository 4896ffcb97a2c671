#pragma once

// Log lines to stderr, as text or JSON lines (`[server] log_format`). One writer for the whole
// process: every worker thread logs through here, and a mutex keeps lines whole. Logging is
// rare by design (one line per session end, per policy decision, per backend failure), so the
// lock is never on the relay path.
//
// Callers pass fields as (key, value) pairs; values are escaped here (log_format.hpp: logfmt or
// JSON, UTF-8 kept, control characters escaped, long values cut), because they may quote what a
// peer sent. Never pass a password or SASL payload: nothing here can tell one from a user name.
//
// Under systemd with stderr connected to the journal (JOURNAL_STREAM names stderr), each line
// starts with its syslog priority ("<6>") and carries no timestamp of popgate's.

#include "proxy/config/config.hpp"
#include "proxy/server/log_format.hpp"

#include <array>
#include <cstdio>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace popgate::proxy::log {

inline Field field(std::string_view key, std::string_view value) {
  return {key, std::string(value), true};
}
inline Field number(std::string_view key, long long value) {
  return {key, std::to_string(value), false};
}
inline Field number(std::string_view key, double value) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.3f", value);
  return {key, buf.data(), false};
}

// Also looks at whether stderr is the journal (JOURNAL_STREAM).
void configure(LogFormat format, LogLevel level);
bool enabled(LogLevel level);

// `event` names what happened ("session", "backend_error", "reload"), `message` is for humans.
void write(LogLevel level, std::string_view event, std::string_view message,
           std::span<const Field> fields);
inline void write(LogLevel level, std::string_view event, std::string_view message,
                  std::initializer_list<Field> fields = {}) {
  write(level, event, message, std::span<const Field>(fields.begin(), fields.size()));
}

inline void debug(std::string_view event, std::string_view message,
                  std::initializer_list<Field> fields = {}) {
  if (enabled(LogLevel::Debug)) {
    write(LogLevel::Debug, event, message, fields);
  }
}
inline void info(std::string_view event, std::string_view message,
                 std::initializer_list<Field> fields = {}) {
  write(LogLevel::Info, event, message, fields);
}
inline void warn(std::string_view event, std::string_view message,
                 std::initializer_list<Field> fields = {}) {
  write(LogLevel::Warn, event, message, fields);
}
inline void error(std::string_view event, std::string_view message,
                  std::initializer_list<Field> fields = {}) {
  write(LogLevel::Error, event, message, fields);
}

} // namespace popgate::proxy::log
