#include "proxy/server/log.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace popgate::proxy::log {
namespace {

std::atomic<LogFormat> g_format{LogFormat::Text};
std::atomic<LogLevel> g_level{LogLevel::Info};
std::atomic<bool> g_journal{false};
std::mutex g_mutex;

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

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (stream == nullptr || fstat(STDERR_FILENO, &st) != 0) {
    return false;
  }
  return is_journal_stream(stream, static_cast<std::uint64_t>(st.st_dev),
                           static_cast<std::uint64_t>(st.st_ino));
}

} // namespace

void configure(LogFormat format, LogLevel level) {
  g_format = format;
  g_level = level;
  g_journal = stderr_is_journal();
}

bool enabled(LogLevel level) { return level >= g_level.load(std::memory_order_relaxed); }

void write(LogLevel level, std::string_view event, std::string_view message,
           std::span<const Field> fields) {
  if (!enabled(level)) {
    return;
  }
  LineStyle style{g_format.load(std::memory_order_relaxed),
                  g_journal.load(std::memory_order_relaxed)};
  auto line = format_line(style, style.journal ? std::string() : timestamp(), level, event, message,
                          fields);
  std::lock_guard lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

} // namespace popgate::proxy::log
