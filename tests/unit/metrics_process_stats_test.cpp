// /proc/self/stat and /proc/stat parsing, and the process_* and loop families built from them.

#include "metrics/process_stats.hpp"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace popgate::metrics {
namespace {

// A real line from proc(5)'s layout, with a command name that holds ") (" to trip a parser
// that splits at the first ')'.
constexpr std::string_view kStat =
    "4242 (pop gate) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 3 0 987654 "
    "123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

TEST(ProcessStats, ParsesTheFieldsAfterTheLastParenthesis) {
  auto stat = parse_proc_stat(kStat);
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->utime_ticks, 250u);
  EXPECT_EQ(stat->stime_ticks, 75u);
  EXPECT_EQ(stat->starttime_ticks, 987654u);
  EXPECT_EQ(stat->rss_pages, 2048u);
}

TEST(ProcessStats, RefusesTruncatedOrForeignText) {
  EXPECT_FALSE(parse_proc_stat("").has_value());
  EXPECT_FALSE(parse_proc_stat("4242 (popgate) S 1 2 3").has_value());
  EXPECT_FALSE(parse_proc_stat("no parenthesis at all").has_value());
}

TEST(ProcessStats, FindsBtimeAmongTheLinesOfProcStat) {
  EXPECT_EQ(parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1764547200\nprocesses 9\n"),
            std::optional<std::uint64_t>(1764547200));
  EXPECT_FALSE(parse_boot_time("cpu 1 2 3\n").has_value());
}

TEST(ProcessStats, ConvertsTicksAndPagesToSecondsAndBytes) {
  auto s = process_stats(*parse_proc_stat(kStat), 1764547200, 100, 4096, 12, 1024);
  EXPECT_DOUBLE_EQ(s.cpu_seconds, 3.25);
  EXPECT_DOUBLE_EQ(s.resident_bytes, 2048.0 * 4096);
  EXPECT_DOUBLE_EQ(s.open_fds, 12);
  EXPECT_DOUBLE_EQ(s.max_fds, 1024);
  EXPECT_DOUBLE_EQ(s.start_time_seconds, 1764547200 + 9876.54);
}

TEST(ProcessStats, FamiliesUseThePrometheusClientNames) {
  ProcessStats s{3.25, 8192, 12, 1024, 1764547200.5};
  auto families = process_families(s);
  families.push_back(loop_busy_family({{"main", 0.5}, {"worker-0", 1.25}}));
  const std::string text = prometheus::TextSerializer().Serialize(families);
  for (std::string_view line : {
           "# TYPE process_cpu_seconds_total counter\n",
           "process_cpu_seconds_total 3.25\n",
           "process_resident_memory_bytes 8192\n",
           "process_open_fds 12\n",
           "process_max_fds 1024\n",
           "# TYPE process_start_time_seconds gauge\n",
           "# TYPE popgate_event_loop_busy_seconds_total counter\n",
           "popgate_event_loop_busy_seconds_total{loop=\"worker-0\"} 1.25\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "in:\n" << text;
  }
}

} // namespace
} // namespace popgate::metrics
