// Which changed keys a reload cannot apply (README "Reloading"), and that the loaded config is
// set back to the running values for them.

#include "proxy/config/restart_keys.hpp"

#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <string_view>

namespace popgate::proxy {
namespace {

struct Case {
  std::string_view name;
  std::function<void(Config&)> change;
  std::string_view key; // "" = the change applies without a restart
  std::string_view running, wanted;
};

class RestartKeysTest : public testing::TestWithParam<Case> {};

Config running_config() {
  Config c;
  c.server.workers = 2;
  c.server.user = "popgate";
  c.metrics.bind = "127.0.0.1:9110";
  return c;
}

TEST_P(RestartKeysTest, AreNamedAndKeepTheirRunningValue) {
  const auto& c = GetParam();
  Config running = running_config();
  Config next = running;
  c.change(next);
  auto changed = keys_needing_restart(running, next);
  if (c.key.empty()) {
    EXPECT_TRUE(changed.empty()) << changed.front().key;
    return;
  }
  ASSERT_EQ(changed.size(), 1U);
  EXPECT_EQ(changed[0].key, c.key);
  EXPECT_EQ(changed[0].running, c.running);
  EXPECT_EQ(changed[0].wanted, c.wanted);
  EXPECT_TRUE(keys_needing_restart(running, with_running_start_keys(running, next)).empty());
}

const auto kCases = std::to_array<Case>({
    {"workers", [](Config& c) { c.server.workers = 4; }, "[server] workers", "2", "4"},
    {"user", [](Config& c) { c.server.user = "mail"; }, "[server] user", "popgate", "mail"},
    {"group", [](Config& c) { c.server.group = "ssl-cert"; }, "[server] group", "", "ssl-cert"},
    {"metrics_bind", [](Config& c) { c.metrics.bind = ""; }, "[metrics] bind", "127.0.0.1:9110",
     ""},
    {"metrics_path", [](Config& c) { c.metrics.path = "/m"; }, "[metrics] path", "/metrics", "/m"},
    {"admin_socket", [](Config& c) { c.admin.socket = "/run/popgate/admin.sock"; },
     "[admin] socket", "", "/run/popgate/admin.sock"},
    {"admin_mode", [](Config& c) { c.admin.mode = 0600; }, "[admin] mode", "0660", "0600"},
    {"admin_group", [](Config& c) { c.admin.group = "popadm"; }, "[admin] group", "", "popadm"},
    {"max_connections_applies", [](Config& c) { c.server.max_connections = 10; }, "", "", ""},
    {"log_level_applies", [](Config& c) { c.server.log_level = LogLevel::Debug; }, "", "", ""},
    {"shutdown_grace_applies", [](Config& c) { c.server.shutdown_grace = Millis(1); }, "", "", ""},
});

INSTANTIATE_TEST_SUITE_P(Keys, RestartKeysTest, testing::ValuesIn(kCases),
                         [](const auto& test) { return std::string(test.param.name); });

TEST(RestartKeys, KeepingRunningValuesLeavesTheRestOfTheNewConfig) {
  Config running = running_config();
  Config next = running;
  next.server.workers = 8;
  next.server.max_connections = 77;
  next.policy.idle_timeout = std::chrono::minutes(15);
  Config kept = with_running_start_keys(running, next);
  EXPECT_EQ(kept.server.workers, 2U);
  EXPECT_EQ(kept.server.max_connections, 77U);
  EXPECT_EQ(kept.policy.idle_timeout, std::chrono::minutes(15));
}

} // namespace
} // namespace popgate::proxy
