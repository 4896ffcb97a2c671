// The text exposition must satisfy Prometheus' own linter, `promtool check metrics`, with every
// family populated: that is what a scraper and the dashboard will read.

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "metrics/metrics.hpp"

namespace popgate::metrics {
namespace {

constexpr const char* kPromtool = "/usr/bin/promtool";

TEST(MetricsPromtoolTest, ExpositionPassesPromtoolCheckMetrics) {
  if (access(kPromtool, X_OK) != 0) {
    GTEST_SKIP() << kPromtool << " not installed";
  }
  Labels labels;
  labels.listeners = {"pop3s", "pop3"};
  labels.version = "0.1.0";
  labels.mbedtls = "2.28.3";
  labels.libuv = "1.44.2";
  Metrics metrics(labels);
  metrics.set_certificates(
      {{"pop.example.com", std::chrono::sys_seconds{std::chrono::seconds{1767225600}}}});
  metrics.listener(0).session_duration.Observe(12.5);
  metrics.backend("legacy", {"127.0.0.1:110", "[::1]:110"}).connect_duration.Observe(0.0007);
  metrics.rule("archive-read-only").decision(PolicyAction::Deny).Increment();
  metrics.tls_handshake_duration().Observe(0.004);
  metrics.bytes(Direction::ClientIn).Increment(100);

  std::string path = ::testing::TempDir() + "popgate_metrics_XXXXXX";
  int fd = mkstemp(path.data());
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path, std::ios::binary);
    out << metrics.serialize();
  }
  std::string command = std::string(kPromtool) + " check metrics < '" + path + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe) != nullptr) {
    output += buf.data();
  }
  int status = pclose(pipe);
  std::remove(path.c_str());
  EXPECT_EQ(status, 0) << output;
}

} // namespace
} // namespace popgate::metrics
