#include "proxy/server/log.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <fmt/format.h>

namespace popgate::proxy::log {
namespace {

std::atomic<LogFormat> g_format{LogFormat::Text};
std::atomic<LogLevel> g_level{LogLevel::Info};
std::mutex g_mutex;

std::string_view level_name(LogLevel level) {
  switch (level) {
  case LogLevel::Debug:
    return "debug";
  case LogLevel::Info:
    return "info";
  case LogLevel::Warn:
    return "warn";
  case LogLevel::Error:
    return "error";
  }
  return "info";
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf.data(), ms.count());
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else {
      out += c; // values are sanitized: no control characters remain
    }
  }
  out += '"';
}

bool needs_quotes(std::string_view s) {
  return s.empty() || s.find_first_of(" \"=") != std::string_view::npos;
}

} // namespace

void configure(LogFormat format, LogLevel level) {
  g_format = format;
  g_level = level;
}

bool enabled(LogLevel level) { return level >= g_level.load(std::memory_order_relaxed); }

std::string sanitize(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max) + 3);
  for (char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  return out;
}

void write(LogLevel level, std::string_view event, std::string_view message,
           std::span<const Field> fields) {
  if (!enabled(level)) {
    return;
  }
  std::string line;
  if (g_format.load(std::memory_order_relaxed) == LogFormat::Json) {
    line = fmt::format(R"({{"ts":"{}","level":"{}","event":)", timestamp(), level_name(level));
    append_json_string(line, event);
    line += ",\"msg\":";
    append_json_string(line, sanitize(message, 1000));
    for (const auto& f : fields) {
      line += ',';
      append_json_string(line, f.key);
      line += ':';
      if (f.quoted) {
        append_json_string(line, sanitize(f.value));
      } else {
        line += f.value;
      }
    }
    line += "}\n";
  } else {
    line =
        fmt::format("{} {} {}: {}", timestamp(), level_name(level), event, sanitize(message, 1000));
    for (const auto& f : fields) {
      auto value = sanitize(f.value);
      if (needs_quotes(value)) {
        std::string quoted = "\"";
        for (char c : value) {
          if (c == '"') {
            quoted += '\\';
          }
          quoted += c;
        }
        value = quoted + "\"";
      }
      line += fmt::format(" {}={}", f.key, value);
    }
    line += '\n';
  }
  std::lock_guard lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

} // namespace popgate::proxy::log
