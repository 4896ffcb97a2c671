#include "metrics/process_stats.hpp"

#include <array>
#include <charconv>

namespace popgate::metrics {
namespace {

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{name, help, type, {metric}};
}

// The next space-separated field at `at`, advancing past it.
std::optional<std::uint64_t> next_number(std::string_view text, std::size_t& at) {
  while (at < text.size() && text[at] == ' ') {
    ++at;
  }
  std::uint64_t value = 0;
  const char* first = text.data() + at;
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{}) {
    // Fields that are not unsigned (state, signed ones) are skipped as words.
    while (at < text.size() && text[at] != ' ') {
      ++at;
    }
    return std::nullopt;
  }
  at += static_cast<std::size_t>(end - first);
  return value;
}

} // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) {
    return std::nullopt;
  }
  // Field 3 (state) starts after ") ".
  std::size_t at = close + 1;
  ProcStat stat;
  std::array<bool, 4> seen{};
  for (int field = 3; field <= 24 && at < text.size(); ++field) {
    auto value = next_number(text, at);
    switch (field) {
    case 14:
      seen[0] = value.has_value();
      stat.utime_ticks = value.value_or(0);
      break;
    case 15:
      seen[1] = value.has_value();
      stat.stime_ticks = value.value_or(0);
      break;
    case 22:
      seen[2] = value.has_value();
      stat.starttime_ticks = value.value_or(0);
      break;
    case 24:
      seen[3] = value.has_value();
      stat.rss_pages = value.value_or(0);
      break;
    default:
      break;
    }
  }
  if (!(seen[0] && seen[1] && seen[2] && seen[3])) {
    return std::nullopt;
  }
  return stat;
}

std::optional<std::uint64_t> parse_boot_time(std::string_view text) {
  constexpr std::string_view kKey = "btime ";
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = text.find('\n', at);
    const auto line = text.substr(at, end == std::string_view::npos ? end : end - at);
    if (line.substr(0, kKey.size()) == kKey) {
      std::size_t pos = kKey.size();
      return next_number(line, pos);
    }
    if (end == std::string_view::npos) {
      break;
    }
    at = end + 1;
  }
  return std::nullopt;
}

ProcessStats process_stats(const ProcStat& stat, std::uint64_t boot_time, long ticks_per_second,
                           long page_size, std::size_t open_fds, std::uint64_t max_fds) {
  const auto ticks = static_cast<double>(ticks_per_second > 0 ? ticks_per_second : 100);
  ProcessStats s;
  s.cpu_seconds = static_cast<double>(stat.utime_ticks + stat.stime_ticks) / ticks;
  s.resident_bytes = static_cast<double>(stat.rss_pages) * static_cast<double>(page_size);
  s.open_fds = static_cast<double>(open_fds);
  s.max_fds = static_cast<double>(max_fds);
  s.start_time_seconds =
      static_cast<double>(boot_time) + static_cast<double>(stat.starttime_ticks) / ticks;
  return s;
}

std::vector<prometheus::MetricFamily> process_families(const ProcessStats& stats) {
  using prometheus::MetricType;
  return {
      family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             MetricType::Counter, stats.cpu_seconds),
      family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
             stats.resident_bytes),
      family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
             stats.open_fds),
      family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
             stats.max_fds),
      family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
             MetricType::Gauge, stats.start_time_seconds),
  };
}

prometheus::MetricFamily loop_busy_family(const std::vector<LoopBusy>& loops) {
  prometheus::MetricFamily f{"popgate_event_loop_busy_seconds_total",
                             "Time each libuv event loop spent running callbacks rather than "
                             "waiting for events; near 1 s per second means a saturated loop.",
                             prometheus::MetricType::Counter,
                             {}};
  for (const auto& l : loops) {
    prometheus::ClientMetric metric;
    metric.label = {{"loop", l.loop}};
    metric.counter.value = l.seconds;
    f.metric.push_back(std::move(metric));
  }
  return f;
}

} // namespace popgate::metrics
