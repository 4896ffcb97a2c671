// The server health table behind `show servers`: results from checks and sessions set the state
// and report the one before (so a change is logged once), and a reload keeps what it kept and
// forgets what it removed.

#include "proxy/server/server_health.hpp"

#include <gtest/gtest.h>

namespace popgate::proxy {
namespace {

Config config_with(const std::vector<std::string>& servers,
                   Millis interval = std::chrono::seconds(10)) {
  Config c;
  BackendConfig b;
  b.name = "legacy";
  for (const auto& s : servers) {
    b.servers.push_back(*Endpoint::parse(s));
  }
  b.check_interval = interval;
  c.backends.push_back(b);
  return c;
}

CheckResult result(bool ok, std::string error = "") {
  return CheckResult{ok, std::chrono::system_clock::now(), Millis(3), std::move(error)};
}

TEST(ServerHealth, StartsUnknownAndReportsTheStateBeforeEachResult) {
  ServerHealthTable table;
  table.configure(config_with({"192.0.2.10:110", "192.0.2.11:110"}));
  auto servers = table.snapshot();
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[1].server, "192.0.2.11:110");
  EXPECT_EQ(servers[1].state, ServerState::Unknown);
  EXPECT_TRUE(servers[1].checked);
  EXPECT_FALSE(servers[1].last_check.has_value());

  EXPECT_EQ(table.record_check("legacy", "192.0.2.11:110", result(true)), ServerState::Unknown);
  EXPECT_EQ(table.record_check("legacy", "192.0.2.11:110", result(true)), ServerState::Up);
  EXPECT_EQ(table.record_connect("legacy", "192.0.2.11:110", false), ServerState::Up);
  EXPECT_EQ(table.record_check("legacy", "192.0.2.11:110", result(false, "refused")),
            ServerState::Down);
  servers = table.snapshot();
  EXPECT_EQ(servers[1].state, ServerState::Down);
  ASSERT_TRUE(servers[1].last_check.has_value());
  EXPECT_EQ(servers[1].last_check->error, "refused");
  EXPECT_EQ(to_string(servers[1].state), "down");
  EXPECT_EQ(servers[0].state, ServerState::Unknown);
}

TEST(ServerHealth, AReloadKeepsKeptServersAndForgetsRemovedOnes) {
  ServerHealthTable table;
  table.configure(config_with({"192.0.2.10:110", "192.0.2.11:110"}));
  table.record_check("legacy", "192.0.2.10:110", result(true));
  table.record_check("legacy", "192.0.2.11:110", result(false, "timed out"));
  table.configure(config_with({"192.0.2.10:110", "192.0.2.12:110"}, Millis(0)));
  auto servers = table.snapshot();
  ASSERT_EQ(servers.size(), 2u);
  EXPECT_EQ(servers[0].state, ServerState::Up);
  EXPECT_FALSE(servers[0].checked);
  EXPECT_FALSE(servers[0].last_check.has_value()) << "checks are off now";
  EXPECT_EQ(servers[1].server, "192.0.2.12:110");
  EXPECT_EQ(servers[1].state, ServerState::Unknown);
  // A late result for the removed server changes nothing.
  EXPECT_EQ(table.record_check("legacy", "192.0.2.11:110", result(true)), ServerState::Unknown);
  EXPECT_EQ(table.snapshot().size(), 2u);
}

} // namespace
} // namespace popgate::proxy
