#pragma once

// The process_* families of the Prometheus client conventions (process_cpu_seconds_total,
// process_resident_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds) and popgate_event_loop_busy_seconds_total{loop}, built from plain
// numbers at scrape time. prometheus-cpp has no process collector; reading /proc and libuv is
// the proxy's part (proxy/server/process_metrics.hpp), parsing and shaping the families is this.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

namespace popgate::metrics {

// The fields of /proc/self/stat that the families need (proc(5)), in their own units.
struct ProcStat {
  std::uint64_t utime_ticks = 0;     // field 14, clock ticks
  std::uint64_t stime_ticks = 0;     // field 15
  std::uint64_t starttime_ticks = 0; // field 22, ticks after boot
  std::uint64_t rss_pages = 0;       // field 24
};

// Parses /proc/self/stat. The command name (field 2) is in parentheses and may itself hold
// spaces and parentheses, so fields are counted from the last ')'. nullopt on anything else.
std::optional<ProcStat> parse_proc_stat(std::string_view text);
// The "btime" line of /proc/stat: boot time in Unix seconds.
std::optional<std::uint64_t> parse_boot_time(std::string_view text);

struct ProcessStats {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double start_time_seconds = 0;
};

ProcessStats process_stats(const ProcStat& stat, std::uint64_t boot_time, long ticks_per_second,
                           long page_size, std::size_t open_fds, std::uint64_t max_fds);

std::vector<prometheus::MetricFamily> process_families(const ProcessStats& stats);

struct LoopBusy {
  std::string loop; // "main", "worker-0", ...
  double seconds = 0;
};
prometheus::MetricFamily loop_busy_family(const std::vector<LoopBusy>& loops);

} // namespace popgate::metrics
